//! Helpers shared by the reactor's integration tests: raw sockets, and a
//! scripted [`Handler`] whose behaviour each test injects as closures sent
//! through the mailbox. Owns nothing beyond the test's own FDs.

#![allow(dead_code)]

use reactor::{Cx, Events, Handler};
use std::os::fd::RawFd;
use std::sync::{Arc, Mutex};

/// A non-blocking AF_UNIX stream socketpair.
pub fn socketpair() -> (RawFd, RawFd) {
    let mut sv = [0 as RawFd; 2];
    // SAFETY: socketpair writes two ints into `sv`.
    let r = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
            sv.as_mut_ptr(),
        )
    };
    assert_eq!(r, 0, "socketpair: {}", std::io::Error::last_os_error());
    (sv[0], sv[1])
}

/// A fresh non-blocking TCP socket.
pub fn tcp_socket() -> RawFd {
    // SAFETY: plain socket(2).
    let fd = unsafe {
        libc::socket(
            libc::AF_INET,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    };
    assert!(fd >= 0);
    fd
}

pub fn write_byte(fd: RawFd) -> bool {
    let b = [b'x'];
    // SAFETY: one byte from a live buffer.
    unsafe { libc::write(fd, b.as_ptr() as *const libc::c_void, 1) == 1 }
}

/// Reads what is there; returns the byte count (0 at EOF, -1 on EAGAIN).
pub fn drain(fd: RawFd) -> isize {
    let mut buf = [0u8; 256];
    let mut total = 0isize;
    loop {
        // SAFETY: reading into a live buffer of the given size.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr() as *mut libc::c_void, buf.len()) };
        if n > 0 {
            total += n;
            continue;
        }
        if n == 0 {
            return total;
        }
        return if total > 0 { total } else { -1 };
    }
}

pub fn close(fd: RawFd) {
    // SAFETY: the caller owns `fd`.
    unsafe {
        libc::close(fd);
    }
}

/// Puts a brand-new socket at exactly `fd` (which must be free), so a test
/// can "reopen" a number deterministically even if lower numbers are free.
pub fn reopen_at(fd: RawFd) {
    let s = tcp_socket();
    if s != fd {
        // SAFETY: `fd` was just closed by the caller's thread and the test
        // binary serialises its tests, so nothing else can hold that number.
        let r = unsafe { libc::dup3(s, fd, libc::O_CLOEXEC) };
        assert_eq!(r, fd);
        close(s);
    }
}

/// Starts a non-blocking connect to a closed loopback port and waits until
/// it has failed, so that epoll reports ERR|HUP as soon as it is polled.
pub fn refused_socket() -> RawFd {
    // Bind a listener-less socket to get a free port, then close it.
    let probe = tcp_socket();
    let mut sa: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    sa.sin_family = libc::AF_INET as u16;
    sa.sin_addr.s_addr = u32::from_ne_bytes([127, 0, 0, 1]);
    sa.sin_port = 0;
    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: valid sockaddr pointers and lengths.
    unsafe {
        assert_eq!(libc::bind(probe, &sa as *const _ as *const libc::sockaddr, len), 0);
        let mut l = len;
        libc::getsockname(probe, &mut sa as *mut _ as *mut libc::sockaddr, &mut l);
    }
    close(probe);
    let fd = tcp_socket();
    // SAFETY: as above.
    let r = unsafe { libc::connect(fd, &sa as *const _ as *const libc::sockaddr, len) };
    assert!(r < 0);
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLOUT,
        revents: 0,
    };
    // SAFETY: one pollfd, bounded timeout.
    let n = unsafe { libc::poll(&mut p, 1, 5000) };
    assert_eq!(n, 1, "connect to a closed port did not fail within 5s");
    assert!(p.revents & (libc::POLLERR | libc::POLLHUP) != 0);
    fd
}

/// One delivered event, as seen by a handler.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seen {
    pub tid: usize,
    pub fd: RawFd,
    pub token: u64,
    pub ev: Events,
}

pub type Hook = Box<dyn FnMut(&mut Cx<'_, Msg>, RawFd, u64, Events) + Send>;
pub type Job = Box<dyn FnOnce(&mut Cx<'_, Msg>) + Send>;

/// Messages understood by [`Scripted`].
pub enum Msg {
    /// Run a closure on the thread's loop.
    Run(Job),
    /// Call this once, on the next delivered I/O event, before recording it.
    OnFirstIo(Hook),
    Exit,
}

/// A handler that records every event and runs injected closures.
pub struct Scripted {
    pub log: Arc<Mutex<Vec<Seen>>>,
    pub hook: Option<Hook>,
}

impl Handler for Scripted {
    type Msg = Msg;
    fn on_io(&mut self, cx: &mut Cx<'_, Msg>, fd: RawFd, token: u64, ev: Events) {
        self.log.lock().unwrap().push(Seen {
            tid: cx.tid(),
            fd,
            token,
            ev,
        });
        if let Some(mut h) = self.hook.take() {
            h(cx, fd, token, ev);
        }
    }
    fn on_timer(&mut self, _cx: &mut Cx<'_, Msg>, _token: u64) {}
    fn on_wake(&mut self, _cx: &mut Cx<'_, Msg>, _token: u64) {}
    fn on_msg(&mut self, cx: &mut Cx<'_, Msg>, msg: Msg) {
        match msg {
            Msg::Run(f) => f(cx),
            Msg::OnFirstIo(h) => self.hook = Some(h),
            Msg::Exit => cx.exit(),
        }
    }
}

/// Joins with a deadline: a hung loop fails the test instead of hanging it.
pub fn join_all(handles: Vec<std::thread::JoinHandle<()>>, secs: u64) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    for h in handles {
        while !h.is_finished() {
            assert!(
                std::time::Instant::now() < deadline,
                "reactor threads did not exit within {secs}s"
            );
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        h.join().expect("reactor thread panicked");
    }
}
