//! httpterm's per-thread event loop: one epoll instance per thread, its own
//! SO_REUSEPORT listening sockets, a slab of connections, a timer heap for
//! `t`/`P` delays and a coarse scan for idle timeouts.
//!
//! It owns sockets and connection state only; request-line semantics come
//! from `url.rs` and every response byte from `resp.rs`.

use crate::resp::{self, Patterns, Timing};
use crate::url::{self, Line, Params, XorShift, KA_ON};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

const RBUF: usize = 16384;
const CLIENT_TIMEOUT_MS: u64 = 10_000;
const LISTENER_BASE: u64 = u64::MAX - 1024;

pub struct Shared {
    pub patterns: Patterns,
    pub help: Vec<u8>,
    pub maxconn: i64,
    pub actconn: AtomicI64,
    pub debug: bool,
    pub sndbuf: i32,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    /// Reading (and first discarding `drain` leftover body bytes of the
    /// previous request) until a full header block is buffered.
    Headers,
    /// Consuming `body_left` bytes (or a chunked body) before responding.
    Body,
    /// `t=` delay before the response.
    Wait,
    Send,
    /// `P=` pause after the response.
    Pause,
}

/// Chunked request body drain, only as far as needed to find its end.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Chunk {
    Size(u64),
    SizeLine(u64),
    Data(u64),
    DataCr,
    Trailer(bool),
}

struct Conn {
    fd: i32,
    gen: u32,
    state: State,
    rbuf: Vec<u8>,
    rstart: usize,
    rend: usize,
    p: Params,
    body_left: u64,
    drain: u64,
    chunk: Option<Chunk>,
    out: Vec<u8>,
    out_off: usize,
    help: bool,
    body_total: u64,
    body_sent: u64,
    close_after: bool,
    reused: bool,
    /// 0 = none; for idle/read/write timeouts (checked coarsely).
    io_expire: u64,
    t0: u64,
    t_request: u64,
    req_bytes: u64,
    events: u32,
}

pub struct Worker {
    shared: Arc<Shared>,
    ep: i32,
    listeners: Vec<i32>,
    listening: bool,
    conns: Vec<Option<Conn>>,
    free: Vec<u32>,
    gens: Vec<u32>,
    timers: BinaryHeap<Reverse<(u64, u32, u32)>>,
    rng: XorShift,
    now: u64,
    last_scan: u64,
}

pub fn now_ms() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes into the timespec we own; CLOCK_MONOTONIC
    // is always available on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1000 + ts.tv_nsec as u64 / 1_000_000
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn close_fd(fd: i32) {
    // SAFETY: fd is a socket this worker opened or accepted and still owns;
    // every caller drops its record of the fd right after.
    unsafe { libc::close(fd) };
}

impl Worker {
    pub fn new(shared: Arc<Shared>, listeners: Vec<i32>, seed: u64) -> Worker {
        // SAFETY: plain syscall, result checked.
        let ep = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        assert!(ep >= 0, "epoll_create1 failed");
        let mut w = Worker {
            shared,
            ep,
            listeners,
            listening: false,
            conns: Vec::new(),
            free: Vec::new(),
            gens: Vec::new(),
            timers: BinaryHeap::new(),
            rng: XorShift(seed | 1),
            now: now_ms(),
            last_scan: 0,
        };
        w.set_listening(true);
        w
    }

    fn ctl(&self, op: i32, fd: i32, events: u32, data: u64) {
        let mut ev = libc::epoll_event { events, u64: data };
        // SAFETY: ep and fd are open descriptors owned by this worker; ev
        // lives across the call.
        unsafe { libc::epoll_ctl(self.ep, op, fd, &mut ev) };
    }

    fn set_listening(&mut self, on: bool) {
        if on == self.listening {
            return;
        }
        for (i, &fd) in self.listeners.iter().enumerate() {
            if on {
                self.ctl(libc::EPOLL_CTL_ADD, fd, libc::EPOLLIN as u32, LISTENER_BASE + i as u64);
            } else {
                self.ctl(libc::EPOLL_CTL_DEL, fd, 0, 0);
            }
        }
        self.listening = on;
    }

    pub fn run(mut self) -> ! {
        let mut evs = vec![libc::epoll_event { events: 0, u64: 0 }; 256];
        loop {
            let mut timeout: i32 = 1000;
            if let Some(Reverse((t, _, _))) = self.timers.peek() {
                timeout = timeout.min(t.saturating_sub(self.now) as i32);
            }
            if !self.listening {
                timeout = timeout.min(50);
            }
            // SAFETY: evs has room for evs.len() events; ep is ours.
            let n = unsafe { libc::epoll_wait(self.ep, evs.as_mut_ptr(), evs.len() as i32, timeout) };
            self.now = now_ms();
            for ev in evs.iter().take(n.max(0) as usize) {
                let (data, events) = (ev.u64, ev.events);
                if data >= LISTENER_BASE {
                    self.accept((data - LISTENER_BASE) as usize);
                } else {
                    let idx = data as u32;
                    let gen = (data >> 32) as u32;
                    if self.gens.get(idx as usize) == Some(&gen) {
                        self.on_event(idx, events);
                    }
                }
            }
            self.fire_timers();
            if self.now >= self.last_scan + 100 {
                self.last_scan = self.now;
                self.scan_timeouts();
            }
            if !self.listening && self.shared.actconn.load(Ordering::Relaxed) < self.shared.maxconn {
                self.set_listening(true);
            }
        }
    }

    fn accept(&mut self, li: usize) {
        let lfd = self.listeners[li];
        for _ in 0..64 {
            if self.shared.actconn.load(Ordering::Relaxed) >= self.shared.maxconn {
                self.set_listening(false);
                return;
            }
            let mut sa: libc::sockaddr_storage = unsafe_zeroed_storage();
            let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            // SAFETY: sa/len describe a buffer large enough for any address.
            let fd = unsafe {
                libc::accept4(
                    lfd,
                    &mut sa as *mut _ as *mut libc::sockaddr,
                    &mut len,
                    libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                )
            };
            if fd < 0 {
                return;
            }
            self.shared.actconn.fetch_add(1, Ordering::Relaxed);
            let one: i32 = 1;
            // SAFETY: setsockopt on our new socket with a properly sized int.
            unsafe {
                libc::setsockopt(
                    fd,
                    libc::IPPROTO_TCP,
                    libc::TCP_NODELAY,
                    &one as *const _ as *const libc::c_void,
                    4,
                );
                if self.shared.sndbuf > 0 {
                    libc::setsockopt(
                        fd,
                        libc::SOL_SOCKET,
                        libc::SO_SNDBUF,
                        &self.shared.sndbuf as *const _ as *const libc::c_void,
                        4,
                    );
                }
            }
            if self.shared.debug {
                println!("{:08x}:dummy.accept({:04x})=", fd, lfd);
            }
            let idx = match self.free.pop() {
                Some(i) => i,
                None => {
                    self.conns.push(None);
                    self.gens.push(0);
                    (self.conns.len() - 1) as u32
                }
            };
            let gen = self.gens[idx as usize].wrapping_add(1);
            self.gens[idx as usize] = gen;
            // Reuse the buffers of the previous connection in this slot.
            let (rbuf, out) = match self.conns[idx as usize].take() {
                Some(c) => (c.rbuf, c.out),
                None => (vec![0u8; RBUF], Vec::with_capacity(512)),
            };
            let c = Conn {
                fd,
                gen,
                state: State::Headers,
                rbuf,
                rstart: 0,
                rend: 0,
                p: Params::new(),
                body_left: 0,
                drain: 0,
                chunk: None,
                out,
                out_off: 0,
                help: false,
                body_total: 0,
                body_sent: 0,
                close_after: false,
                reused: false,
                io_expire: self.now + CLIENT_TIMEOUT_MS,
                t0: self.now,
                t_request: 0,
                req_bytes: 0,
                events: libc::EPOLLIN as u32 | libc::EPOLLRDHUP as u32,
            };
            self.ctl(libc::EPOLL_CTL_ADD, fd, c.events, ((gen as u64) << 32) | idx as u64);
            self.conns[idx as usize] = Some(c);
            self.on_event(idx, libc::EPOLLIN as u32);
        }
    }

    fn fire_timers(&mut self) {
        while let Some(&Reverse((t, idx, gen))) = self.timers.peek() {
            if t > self.now {
                break;
            }
            self.timers.pop();
            if self.gens.get(idx as usize) != Some(&gen) {
                continue;
            }
            let st = match &self.conns[idx as usize] {
                Some(c) => c.state,
                None => continue,
            };
            match st {
                State::Wait => {
                    self.conn(idx).state = State::Send;
                    self.start_response(idx);
                    self.drive(idx);
                }
                State::Pause => {
                    self.finish_response(idx);
                }
                _ => {}
            }
        }
    }

    fn scan_timeouts(&mut self) {
        let now = self.now;
        for idx in 0..self.conns.len() as u32 {
            let (exp, st, reused) = match &self.conns[idx as usize] {
                Some(c) if c.fd >= 0 => (c.io_expire, c.state, c.reused),
                _ => continue,
            };
            if exp == 0 || exp > now {
                continue;
            }
            if st == State::Headers && !reused && self.conn(idx).rend == 0 {
                // First request never arrived: tell the client why.
                let fd = self.conn(idx).fd;
                // SAFETY: fd is open; a short write of this tiny page on a
                // fresh socket is acceptable since we close right after.
                unsafe {
                    libc::send(
                        fd,
                        resp::PAGE_408.as_ptr() as *const libc::c_void,
                        resp::PAGE_408.len(),
                        libc::MSG_NOSIGNAL,
                    )
                };
            }
            self.close(idx);
        }
    }

    fn conn(&mut self, idx: u32) -> &mut Conn {
        self.conns[idx as usize].as_mut().expect("live conn")
    }

    fn set_events(&mut self, idx: u32, events: u32) {
        let c = self.conns[idx as usize].as_mut().unwrap();
        if c.events != events {
            c.events = events;
            let (fd, data) = (c.fd, ((c.gen as u64) << 32) | idx as u64);
            self.ctl(libc::EPOLL_CTL_MOD, fd, events, data);
        }
    }

    fn close(&mut self, idx: u32) {
        let c = match self.conns[idx as usize].as_mut() {
            Some(c) if c.fd >= 0 => c,
            _ => return,
        };
        close_fd(c.fd);
        c.fd = -1;
        self.shared.actconn.fetch_sub(1, Ordering::Relaxed);
        // Bump the generation so stale epoll events and timers are ignored;
        // the Conn stays in its slot so its buffers are reused.
        self.gens[idx as usize] = self.gens[idx as usize].wrapping_add(1);
        self.free.push(idx);
    }

    fn on_event(&mut self, idx: u32, events: u32) {
        let st = self.conn(idx).state;
        if events & (libc::EPOLLERR as u32) != 0 {
            self.close(idx);
            return;
        }
        match st {
            State::Wait | State::Pause => {
                // Nothing to read now; a hang-up means the client is gone.
                if events & (libc::EPOLLHUP as u32 | libc::EPOLLRDHUP as u32) != 0 {
                    self.close(idx);
                }
            }
            _ => self.drive(idx),
        }
    }

    /// Reads into the connection buffer. Returns Ok(false) on EAGAIN,
    /// Err(()) on close or error.
    fn fill(&mut self, idx: u32) -> Result<bool, ()> {
        let c = self.conn(idx);
        if c.rstart == c.rend {
            c.rstart = 0;
            c.rend = 0;
        } else if c.rend == c.rbuf.len() && c.rstart > 0 {
            c.rbuf.copy_within(c.rstart..c.rend, 0);
            c.rend -= c.rstart;
            c.rstart = 0;
        }
        if c.rend == c.rbuf.len() {
            return Err(()); // header block larger than the buffer
        }
        let room = c.rbuf.len() - c.rend;
        // SAFETY: the destination is the unused tail of our own buffer.
        let n = unsafe { libc::recv(c.fd, c.rbuf.as_mut_ptr().add(c.rend) as *mut libc::c_void, room, 0) };
        if n > 0 {
            c.rend += n as usize;
            Ok(true)
        } else if n < 0 && (errno() == libc::EAGAIN || errno() == libc::EINTR) {
            Ok(false)
        } else {
            Err(())
        }
    }

    /// Runs the connection's state machine as far as it can go without
    /// blocking.
    fn drive(&mut self, idx: u32) {
        loop {
            let st = self.conn(idx).state;
            match st {
                State::Headers => {
                    // Leftover body of the previous request goes first.
                    {
                        let c = self.conn(idx);
                        let avail = (c.rend - c.rstart) as u64;
                        let d = c.drain.min(avail);
                        c.drain -= d;
                        c.rstart += d as usize;
                    }
                    if self.conn(idx).drain == 0 && self.try_parse_headers(idx) {
                        continue;
                    }
                    match self.fill(idx) {
                        Ok(true) => continue,
                        Ok(false) => {
                            self.set_events(idx, libc::EPOLLIN as u32 | libc::EPOLLRDHUP as u32);
                            return;
                        }
                        Err(()) => {
                            self.close(idx);
                            return;
                        }
                    }
                }
                State::Body => {
                    if self.consume_body(idx) {
                        self.end_of_request(idx);
                        continue;
                    }
                    match self.fill(idx) {
                        Ok(true) => continue,
                        Ok(false) => {
                            self.set_events(idx, libc::EPOLLIN as u32 | libc::EPOLLRDHUP as u32);
                            return;
                        }
                        Err(()) => {
                            self.close(idx);
                            return;
                        }
                    }
                }
                State::Wait | State::Pause => return,
                State::Send => match self.send_some(idx) {
                    Ok(true) => {
                        let c = self.conn(idx);
                        if c.p.pause > 0 {
                            let (t, gen) = (c.p.pause as u64, c.gen);
                            c.state = State::Pause;
                            c.io_expire = 0;
                            self.timers.push(Reverse((self.now + t, idx, gen)));
                            self.set_events(idx, libc::EPOLLRDHUP as u32);
                            return;
                        }
                        if !self.finish_response(idx) {
                            return;
                        }
                    }
                    Ok(false) => {
                        self.conn(idx).io_expire = self.now + CLIENT_TIMEOUT_MS;
                        self.set_events(idx, libc::EPOLLOUT as u32);
                        return;
                    }
                    Err(()) => {
                        self.close(idx);
                        return;
                    }
                },
            }
        }
    }

    /// Looks for a complete header block; on success parses it and moves to
    /// Body/Wait/Send. Returns whether it advanced.
    fn try_parse_headers(&mut self, idx: u32) -> bool {
        let now = self.now;
        let debug = self.shared.debug;
        let mut rng = XorShift(0);
        std::mem::swap(&mut rng, &mut self.rng);
        let c = self.conns[idx as usize].as_mut().unwrap();
        // Leading empty lines before a request are ignored.
        while c.rstart < c.rend && (c.rbuf[c.rstart] == b'\r' || c.rbuf[c.rstart] == b'\n') {
            c.rstart += 1;
        }
        let buf = &c.rbuf[c.rstart..c.rend];
        let end = match find_eoh(buf) {
            Some(e) => e,
            None => {
                std::mem::swap(&mut rng, &mut self.rng);
                return false;
            }
        };
        let mut p = Params::new();
        let mut lines = buf[..end]
            .split(|&b| b == b'\n')
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
        let first = lines.next().unwrap_or(b"");
        if debug {
            println!(
                "{:08x}:dummy.clireq[{:04x}:ffff]: {}",
                c.fd,
                c.fd,
                String::from_utf8_lossy(first)
            );
        }
        let kind = url::parse_request_line(first, &mut p, &mut rng);
        std::mem::swap(&mut rng, &mut self.rng);
        let mut cl: u64 = 0;
        let mut chunked = false;
        let mut expect = false;
        for h in lines {
            if h.is_empty() {
                break;
            }
            if debug {
                println!(
                    "{:08x}:dummy.clihdr[{:04x}:ffff]: {}",
                    c.fd,
                    c.fd,
                    String::from_utf8_lossy(h)
                );
            }
            let colon = match h.iter().position(|&b| b == b':') {
                Some(i) => i,
                None => continue,
            };
            let name = &h[..colon];
            let val = trim(&h[colon + 1..]);
            if name.eq_ignore_ascii_case(b"connection") {
                if p.ka & url::KA_FORCED == 0 {
                    match val.first().map(|b| b | 0x20) {
                        Some(b'c') => p.ka &= url::KA_V11,
                        Some(b'k') => p.ka = (p.ka & url::KA_V11) | KA_ON,
                        _ => {}
                    }
                }
            } else if name.eq_ignore_ascii_case(b"content-length") {
                cl = std::str::from_utf8(val).ok().and_then(|s| s.parse().ok()).unwrap_or(0);
            } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
                chunked = val.windows(7).any(|w| w.eq_ignore_ascii_case(b"chunked"));
            } else if name.eq_ignore_ascii_case(b"expect") {
                expect = true;
            }
        }
        c.rstart += end;
        c.req_bytes = end as u64;
        c.t_request = now - c.t0;
        if kind == Line::Help {
            c.help = true;
            c.p = p;
            c.close_after = true;
            c.state = State::Send;
            c.out.clear();
            c.out.extend_from_slice(&self.shared.help);
            c.out_off = 0;
            c.body_total = 0;
            c.body_sent = 0;
            return true;
        }
        if expect {
            // SAFETY: fd is open; the 25-byte interim response goes out
            // before anything else of this response.
            unsafe {
                libc::send(
                    c.fd,
                    resp::CONTINUE_100.as_ptr() as *const libc::c_void,
                    resp::CONTINUE_100.len(),
                    libc::MSG_NOSIGNAL,
                )
            };
        }
        if chunked {
            c.chunk = Some(Chunk::Size(0));
            c.body_left = 0;
            c.drain = 0;
        } else {
            c.chunk = None;
            let before = if p.maxbody >= 0 { cl.min(p.maxbody as u64) } else { cl };
            c.body_left = before;
            // What B= left unread is discarded before the next request.
            c.drain = cl - before;
        }
        c.p = p;
        c.help = false;
        c.state = State::Body;
        c.io_expire = now + CLIENT_TIMEOUT_MS;
        true
    }

    /// Consumes buffered body bytes; true once the part to read before
    /// responding is complete.
    fn consume_body(&mut self, idx: u32) -> bool {
        let c = self.conn(idx);
        if let Some(mut st) = c.chunk {
            while c.rstart < c.rend {
                let b = c.rbuf[c.rstart];
                match st {
                    Chunk::Data(n) => {
                        let take = n.min((c.rend - c.rstart) as u64);
                        c.rstart += take as usize;
                        c.req_bytes += take;
                        st = if n == take {
                            Chunk::DataCr
                        } else {
                            Chunk::Data(n - take)
                        };
                        continue;
                    }
                    Chunk::Size(v) => {
                        st = match (b as char).to_digit(16) {
                            Some(d) => Chunk::Size(v.saturating_mul(16) + d as u64),
                            None if b == b'\n' => size_done(v),
                            None => Chunk::SizeLine(v),
                        }
                    }
                    Chunk::SizeLine(v) => {
                        if b == b'\n' {
                            st = size_done(v)
                        }
                    }
                    Chunk::DataCr => {
                        if b == b'\n' {
                            st = Chunk::Size(0)
                        }
                    }
                    Chunk::Trailer(empty) => {
                        if b == b'\n' {
                            if empty {
                                c.rstart += 1;
                                c.req_bytes += 1;
                                c.chunk = None;
                                return true;
                            }
                            st = Chunk::Trailer(true);
                        } else if b != b'\r' {
                            st = Chunk::Trailer(false);
                        }
                    }
                }
                c.rstart += 1;
                c.req_bytes += 1;
            }
            c.chunk = Some(st);
            false
        } else {
            let take = c.body_left.min((c.rend - c.rstart) as u64);
            c.body_left -= take;
            c.rstart += take as usize;
            c.req_bytes += take;
            c.body_left == 0
        }
    }

    fn end_of_request(&mut self, idx: u32) {
        let now = self.now;
        let c = self.conn(idx);
        c.io_expire = 0;
        if c.p.time > 0 {
            let (t, gen) = (c.p.time as u64, c.gen);
            c.state = State::Wait;
            self.timers.push(Reverse((now + t, idx, gen)));
            self.set_events(idx, libc::EPOLLRDHUP as u32);
        } else {
            c.state = State::Send;
            self.start_response(idx);
        }
    }

    fn start_response(&mut self, idx: u32) {
        let now = self.now;
        let c = self.conns[idx as usize].as_mut().unwrap();
        let p = &mut c.p;
        if p.code < 0 {
            p.code = 200;
        }
        if p.cache < 0 {
            p.cache = 1;
        }
        if p.size < 0 {
            p.size = 0;
        }
        let tm = Timing {
            req_bytes: c.req_bytes,
            t_request: c.t_request,
            t_queue: now - c.t0,
        };
        c.out.clear();
        resp::build_headers(&mut c.out, p, &tm);
        c.out_off = 0;
        c.body_total = p.size as u64;
        c.body_sent = 0;
        c.close_after = p.ka & KA_ON == 0;
    }

    /// Sends as much as the socket takes. Ok(true) = response complete.
    fn send_some(&mut self, idx: u32) -> Result<bool, ()> {
        let shared = self.shared.clone();
        let rnd = self.rng_next();
        let c = self.conns[idx as usize].as_mut().unwrap();
        loop {
            let hdr = &c.out[c.out_off..];
            if hdr.is_empty() && c.body_sent >= c.body_total {
                return Ok(true);
            }
            let body: &[u8] = if c.body_sent < c.body_total {
                shared.patterns.body_slice(&c.p, c.body_total, c.body_sent)
            } else {
                &[]
            };
            let (mut h, mut b) = (hdr.len(), body.len());
            if c.p.pieces > 0 {
                // One piece per send, of random size up to p bytes.
                let max = if h > 0 { h } else { b };
                let mut n = max;
                if n as i64 > c.p.pieces {
                    n = ((c.p.pieces as u64 * (rnd & 0xffff) as u64) >> 16) as usize + 1;
                }
                if h > 0 {
                    h = n;
                    b = 0;
                } else {
                    b = n;
                }
            }
            let iov = [
                libc::iovec {
                    iov_base: hdr.as_ptr() as *mut libc::c_void,
                    iov_len: h,
                },
                libc::iovec {
                    iov_base: body.as_ptr() as *mut libc::c_void,
                    iov_len: b,
                },
            ];
            // SAFETY: both iovecs point into live buffers (our out vector and
            // the shared read-only patterns) for the duration of the call.
            let n = unsafe { libc::writev(c.fd, iov.as_ptr(), 2) };
            if n < 0 {
                let e = errno();
                if e == libc::EAGAIN || e == libc::EINTR {
                    return Ok(false);
                }
                return Err(());
            }
            let mut n = n as usize;
            let hn = n.min(h);
            c.out_off += hn;
            n -= hn;
            c.body_sent += n as u64;
            if c.p.pieces > 0 && (c.out_off < c.out.len() || c.body_sent < c.body_total) {
                // Let other connections run between pieces, like the original.
                return Ok(false);
            }
        }
    }

    fn rng_next(&mut self) -> u32 {
        use crate::url::Rand31;
        self.rng.next31()
    }

    /// After a complete response (and pause): next request or close.
    /// Returns whether the connection is still alive.
    fn finish_response(&mut self, idx: u32) -> bool {
        let now = self.now;
        let c = self.conn(idx);
        if c.close_after || c.fd < 0 {
            let fd = c.fd;
            if fd >= 0 {
                // SAFETY: fd is open; half-close then drain what the client
                // may still send so that close() does not turn into a reset
                // that would destroy the response in flight.
                unsafe {
                    libc::shutdown(fd, libc::SHUT_WR);
                    let mut junk = [0u8; 1024];
                    while libc::recv(
                        fd,
                        junk.as_mut_ptr() as *mut libc::c_void,
                        junk.len(),
                        libc::MSG_DONTWAIT,
                    ) > 0
                    {}
                }
            }
            self.close(idx);
            return false;
        }
        let wait = if c.p.ka_time >= 0 {
            c.p.ka_time as u64
        } else {
            CLIENT_TIMEOUT_MS
        };
        c.io_expire = if wait > 0 { now + wait } else { 0 };
        c.state = State::Headers;
        c.reused = true;
        c.t0 = now;
        c.help = false;
        self.set_events(idx, libc::EPOLLIN as u32 | libc::EPOLLRDHUP as u32);
        true
    }
}

fn size_done(v: u64) -> Chunk {
    if v == 0 {
        Chunk::Trailer(true)
    } else {
        Chunk::Data(v)
    }
}

fn trim(v: &[u8]) -> &[u8] {
    let s = v.iter().position(|&b| b != b' ' && b != b'\t').unwrap_or(v.len());
    let e = v.iter().rposition(|&b| b != b' ' && b != b'\t').map_or(s, |e| e + 1);
    &v[s..e.max(s)]
}

/// Offset just past the blank line ending the header block (CRLF or bare LF
/// line endings), if buffered.
fn find_eoh(buf: &[u8]) -> Option<usize> {
    let mut i = 0;
    while let Some(off) = buf[i..].iter().position(|&b| b == b'\n') {
        let nl = i + off;
        let next = nl + 1;
        if next < buf.len() && buf[next] == b'\n' {
            return Some(next + 1);
        }
        if next + 1 < buf.len() && buf[next] == b'\r' && buf[next + 1] == b'\n' {
            return Some(next + 2);
        }
        i = next;
    }
    None
}

fn unsafe_zeroed_storage() -> libc::sockaddr_storage {
    // SAFETY: sockaddr_storage is plain old data; all-zero is a valid value.
    unsafe { std::mem::zeroed() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eoh() {
        assert_eq!(find_eoh(b"GET / HTTP/1.1\r\nHost: a\r\n\r\nX"), Some(27));
        assert_eq!(find_eoh(b"GET / HTTP/1.0\n\n"), Some(16));
        assert_eq!(find_eoh(b"GET / HTTP/1.1\r\nHost: a\r\n"), None);
    }
}
