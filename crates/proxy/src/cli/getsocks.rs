//! `_getsocks`: HAProxy 2.6's listening-socket transfer for seamless
//! reloads (`haproxy -x <socket>`), served on stats sockets declared with
//! `expose-fd listeners`.
//!
//! Wire format (what 2.6's `sock_get_old_sockets` expects): a native-endian
//! `int` with the number of sockets, then batches of at most 252 FDs, each
//! batch one `sendmsg` carrying the FDs as `SCM_RIGHTS` and, per FD, a
//! length-prefixed namespace name, a length-prefixed interface name and four
//! zero bytes; after a full batch the receiver acknowledges with an `int`.
//! The session's socket is made blocking (with 1 s timeouts) for the
//! exchange, as HAProxy does, and the session ends afterwards.
//!
//! The receiving side ([`fetch`], for `-x`) lives here too: it returns the
//! old process's sockets with what describes them, and `listener.rs` picks
//! among them instead of binding anew.
//!
//! This module owns only the exchange; it must not change listeners (the
//! sockets keep being served here until this process stops).

use crate::listener::Listener;
use std::io;
use std::os::fd::RawFd;

/// HAProxy's `MAX_SEND_FD`.
const MAX_SEND_FD: usize = 252;

/// The listening sockets we may hand over: those we bound ourselves (an
/// inherited `fd@` socket is not exported, as in HAProxy), by FD number.
pub fn exported(ls: &[Listener]) -> Vec<(RawFd, Option<&str>)> {
    let mut v: Vec<(RawFd, Option<&str>)> = ls
        .iter()
        .filter(|l| !l.inherited && !l.closed.load(std::sync::atomic::Ordering::Acquire))
        .map(|l| (l.fd, l.iface.as_deref()))
        .collect();
    v.sort_unstable_by_key(|x| x.0);
    v
}

/// HAProxy's `SOCK_XFER_OPT_*` bits, which the receiver compares with
/// what its own `bind` line asks for.
pub const OPT_FOREIGN: u32 = 1;
pub const OPT_V6ONLY: u32 = 2;
pub const OPT_DGRAM: u32 = 4;

fn getsockopt_int(fd: RawFd, level: i32, name: i32) -> i32 {
    let mut v: i32 = 0;
    let mut len = std::mem::size_of::<i32>() as libc::socklen_t;
    // SAFETY: v and len are live and sized for an int option.
    let r = unsafe { libc::getsockopt(fd, level, name, &mut v as *mut i32 as *mut libc::c_void, &mut len) };
    if r < 0 {
        0
    } else {
        v
    }
}

/// The transfer options of a socket, read from the socket itself.
fn sock_options(fd: RawFd) -> u32 {
    let mut o = 0;
    let Ok(a) = crate::sock::local_addr(fd) else {
        return 0;
    };
    match a.family() {
        libc::AF_INET
            if getsockopt_int(fd, libc::IPPROTO_IP, libc::IP_TRANSPARENT) != 0
                || getsockopt_int(fd, libc::IPPROTO_IP, libc::IP_FREEBIND) != 0 =>
        {
            o |= OPT_FOREIGN;
        }
        libc::AF_INET6 => {
            if getsockopt_int(fd, libc::IPPROTO_IPV6, libc::IPV6_TRANSPARENT) != 0
                || getsockopt_int(fd, libc::IPPROTO_IP, libc::IP_FREEBIND) != 0
            {
                o |= OPT_FOREIGN;
            }
            if getsockopt_int(fd, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY) != 0 {
                o |= OPT_V6ONLY;
            }
        }
        _ => {}
    }
    if getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_TYPE) == libc::SOCK_DGRAM {
        o |= OPT_DGRAM;
    }
    o
}

/// The per-FD descriptors of one batch: no namespace, the interface name
/// (truncated to IFNAMSIZ-1 like the kernel's names), the options.
fn describe(batch: &[(RawFd, Option<&str>)]) -> Vec<u8> {
    let mut buf = Vec::with_capacity(batch.len() * 8);
    for (fd, iface) in batch {
        buf.push(0);
        let name = iface.unwrap_or("").as_bytes();
        let name = &name[..name.len().min(libc::IFNAMSIZ - 1)];
        buf.push(name.len() as u8);
        buf.extend_from_slice(name);
        buf.extend_from_slice(&sock_options(*fd).to_ne_bytes());
    }
    buf
}

/// HAProxy's `ha_warning` line on stderr.
fn warn(what: &str) {
    eprintln!("{:<11}({}) : {what}", "[WARNING]", std::process::id());
}

fn set_timeouts(fd: RawFd) {
    let tv = libc::timeval { tv_sec: 1, tv_usec: 0 };
    for opt in [libc::SO_RCVTIMEO, libc::SO_SNDTIMEO] {
        // SAFETY: the option value is a timeval that lives for the call.
        unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                opt,
                &tv as *const libc::timeval as *const libc::c_void,
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            );
        }
    }
}

fn send_all(fd: RawFd, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        match crate::sock::send(fd, data, false) {
            Ok(n) => data = &data[n..],
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// One `sendmsg` with `data` and `fds` as SCM_RIGHTS.
fn send_fds(fd: RawFd, data: &[u8], fds: &[RawFd]) -> io::Result<usize> {
    let space = {
        // SAFETY: CMSG_SPACE only computes a size.
        unsafe { libc::CMSG_SPACE(std::mem::size_of_val(fds) as u32) as usize }
    };
    // u64 elements keep the control buffer aligned for cmsghdr.
    let mut cbuf = vec![0u64; space.div_ceil(8)];
    let mut iov = libc::iovec {
        iov_base: data.as_ptr() as *mut libc::c_void,
        iov_len: data.len(),
    };
    // SAFETY: msghdr is plain data; all-zero is a valid empty header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr() as *mut libc::c_void;
    msg.msg_controllen = space as _;
    // SAFETY: the control buffer holds CMSG_SPACE(len of fds) bytes, so the
    // first header and its data (CMSG_LEN of the same size) fit in it; the
    // FDs are copied byte-wise (no alignment assumption on CMSG_DATA). The
    // iovec and control buffer outlive the sendmsg call.
    unsafe {
        let c = libc::CMSG_FIRSTHDR(&msg);
        (*c).cmsg_level = libc::SOL_SOCKET;
        (*c).cmsg_type = libc::SCM_RIGHTS;
        (*c).cmsg_len = libc::CMSG_LEN(std::mem::size_of_val(fds) as u32) as _;
        std::ptr::copy_nonoverlapping(
            fds.as_ptr() as *const u8,
            libc::CMSG_DATA(c),
            std::mem::size_of_val(fds),
        );
        loop {
            let r = libc::sendmsg(fd, &msg, libc::MSG_NOSIGNAL);
            if r >= 0 {
                return Ok(r as usize);
            }
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EINTR) {
                return Err(e);
            }
        }
    }
}

fn recv_ack(fd: RawFd) -> io::Result<()> {
    let mut b = [0u8; 4];
    loop {
        match crate::sock::recv(fd, &mut b) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(_) => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => {}
            Err(e) => return Err(e),
        }
    }
}

/// Runs the exchange on session socket `fd`: first `pending` (answers of
/// earlier commands on the same line, so the order on the wire holds),
/// then, when `allowed`, the count and the sockets. Failures are reported
/// as HAProxy's warnings; the caller ends the session in every case.
pub fn run(fd: RawFd, pending: &[u8], allowed: bool, ls: &[Listener]) {
    // SAFETY: fcntl on the session's own socket.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        warn("Couldn't get the flags for the unix socket");
        return;
    }
    // SAFETY: as above; only O_NONBLOCK changes.
    if unsafe { libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) } < 0 {
        warn("Cannot make the unix socket blocking");
        return;
    }
    set_timeouts(fd);
    let res = exchange(fd, pending, allowed, ls);
    if let Err(what) = res {
        warn(what);
    }
    // SAFETY: restores the flags read above on the same socket.
    unsafe {
        libc::fcntl(fd, libc::F_SETFL, flags);
    }
}

fn exchange(fd: RawFd, pending: &[u8], allowed: bool, ls: &[Listener]) -> Result<(), &'static str> {
    send_all(fd, pending).map_err(|_| "Failed to transfer sockets")?;
    if !allowed {
        return Ok(());
    }
    let socks = exported(ls);
    if socks.is_empty() {
        return Ok(());
    }
    send_all(fd, &(socks.len() as i32).to_ne_bytes()).map_err(|_| "Failed to send the number of sockets to send")?;
    let mut chunks = socks.chunks(MAX_SEND_FD).peekable();
    while let Some(batch) = chunks.next() {
        let data = describe(batch);
        let fds: Vec<RawFd> = batch.iter().map(|x| x.0).collect();
        match send_fds(fd, &data, &fds) {
            Ok(n) if n == data.len() => {}
            _ => return Err("Failed to transfer sockets"),
        }
        if batch.len() == MAX_SEND_FD && chunks.peek().is_some() {
            recv_ack(fd).map_err(|_| "Unexpected error while transferring sockets")?;
        }
    }
    Ok(())
}

/// A listening socket received from the old process.
#[derive(Clone)]
pub struct OldSock {
    pub fd: RawFd,
    pub addr: crate::sock::RawAddr,
    pub iface: String,
    pub options: u32,
}

impl std::fmt::Debug for OldSock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "OldSock(fd {}, iface {:?}, options {})",
            self.fd, self.iface, self.options
        )
    }
}

/// One `recvmsg`: data into `buf`, FDs appended to `fds`.
fn recv_fds(fd: RawFd, buf: &mut [u8], fds: &mut Vec<RawFd>) -> io::Result<usize> {
    let space = {
        // SAFETY: CMSG_SPACE only computes a size.
        unsafe { libc::CMSG_SPACE((MAX_SEND_FD * std::mem::size_of::<RawFd>()) as u32) as usize }
    };
    let mut cbuf = vec![0u64; space.div_ceil(8)];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr() as *mut libc::c_void,
        iov_len: buf.len(),
    };
    // SAFETY: msghdr is plain data; all-zero is a valid empty header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr() as *mut libc::c_void;
    msg.msg_controllen = space as _;
    let n = loop {
        // SAFETY: the iovec and control buffer are live and sized as
        // declared in `msg` for the call.
        let r = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_CMSG_CLOEXEC) };
        if r >= 0 {
            break r as usize;
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINTR) {
            return Err(e);
        }
    };
    // SAFETY: the kernel filled the control buffer up to msg_controllen;
    // CMSG_FIRSTHDR/NXTHDR stay within it and each SCM_RIGHTS payload holds
    // (cmsg_len - CMSG_LEN(0)) bytes of ints, read unaligned.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                let bytes = (*c).cmsg_len as usize - libc::CMSG_LEN(0) as usize;
                let p = libc::CMSG_DATA(c) as *const RawFd;
                for i in 0..bytes / std::mem::size_of::<RawFd>() {
                    fds.push(std::ptr::read_unaligned(p.add(i)));
                }
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    Ok(n)
}

/// Receives one FD passed over the master's socketpair (`Ok(None)`: the
/// other end closed). Non-blocking like the socket.
pub fn recv_fd(fd: RawFd) -> io::Result<Option<RawFd>> {
    let mut b = [0u8; 1];
    let mut fds = Vec::new();
    let n = recv_fds(fd, &mut b, &mut fds)?;
    if n == 0 && fds.is_empty() {
        return Ok(None);
    }
    let mut it = fds.into_iter();
    let first = it.next();
    for extra in it {
        crate::sock::close_raw(extra);
    }
    match first {
        Some(f) => {
            // SAFETY: fcntl on the FD we just received.
            unsafe {
                let fl = libc::fcntl(f, libc::F_GETFL);
                libc::fcntl(f, libc::F_SETFL, fl | libc::O_NONBLOCK);
            }
            Ok(Some(f))
        }
        None => Err(io::ErrorKind::WouldBlock.into()),
    }
}

/// Passes `what` over the connected UNIX socket `fd` (one byte of data),
/// as HAProxy's `send_fd_uxst`.
pub fn send_fd(fd: RawFd, what: RawFd) -> io::Result<()> {
    send_fds(fd, &[0], &[what]).map(|_| ())
}

fn recv_exact(fd: RawFd, buf: &mut [u8]) -> io::Result<()> {
    let mut got = 0;
    while got < buf.len() {
        match crate::sock::recv(fd, &mut buf[got..]) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => got += n,
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Parses one FD's descriptor at the start of `d`: (iface, options, size).
fn parse_desc(d: &[u8]) -> Option<(String, u32, usize)> {
    let ns = *d.first()? as usize;
    let il = *d.get(1 + ns)? as usize;
    let iface = d.get(2 + ns..2 + ns + il)?;
    let o = d.get(2 + ns + il..6 + ns + il)?;
    Some((
        String::from_utf8_lossy(iface).into_owned(),
        u32::from_ne_bytes([o[0], o[1], o[2], o[3]]),
        6 + ns + il,
    ))
}

/// A blocking UNIX stream socket connected to `path`; for
/// `sockpair@<fd>` (master-worker: the master's end of a worker's
/// socketpair), a new socketpair whose other end is passed to the worker,
/// which serves it as a CLI connection.
fn connect_old(path: &str) -> Result<RawFd, String> {
    let fail = || format!("Failed to connect to the old process socket '{path}'");
    if let Some(n) = path.strip_prefix("sockpair@") {
        let dst = n.parse::<RawFd>().map_err(|_| fail())?;
        let mut sv = [0; 2];
        // SAFETY: socketpair fills the two-int array.
        if unsafe {
            libc::socketpair(
                libc::AF_UNIX,
                libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
                0,
                sv.as_mut_ptr(),
            )
        } < 0
        {
            return Err("socketpair(): Cannot create socketpair. Giving up.".into());
        }
        let r = send_fd(dst, sv[0]);
        crate::sock::close_raw(sv[0]);
        if r.is_err() {
            crate::sock::close_raw(sv[1]);
            return Err("socketpair: cannot transfer socket.".into());
        }
        return Ok(sv[1]);
    }
    // SAFETY: plain socket(2) call.
    let fd = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(fail());
    }
    let addr = crate::sock::RawAddr::from_unix(path, false).map_err(|_| fail())?;
    // SAFETY: addr holds a valid sockaddr_un of addr.len bytes.
    let r = unsafe { libc::connect(fd, &addr.storage as *const _ as *const libc::sockaddr, addr.len) };
    if r < 0 {
        crate::sock::close_raw(fd);
        return Err(fail());
    }
    Ok(fd)
}

/// `-x <socket>`: asks the old process for its listening sockets. Errors
/// are HAProxy's warning texts; the caller adds the final alert.
pub fn fetch(path: &str) -> Result<Vec<OldSock>, String> {
    let fd = connect_old(path)?;
    set_timeouts(fd);
    let r = fetch_on(fd);
    crate::sock::close_raw(fd);
    r.map_err(|(e, fds)| {
        for f in fds {
            crate::sock::close_raw(f);
        }
        e
    })
}

type FetchErr = (String, Vec<RawFd>);

fn fetch_on(fd: RawFd) -> Result<Vec<OldSock>, FetchErr> {
    let e = |s: &str, fds: &Vec<RawFd>| (s.to_string(), fds.clone());
    let none = Vec::new();
    send_all(fd, b"_getsocks\n").map_err(|_| e("Failed to get the number of sockets to be transferred !", &none))?;
    let mut nb = [0u8; 4];
    recv_exact(fd, &mut nb).map_err(|_| e("Failed to get the number of sockets to be transferred !", &none))?;
    let total = i32::from_ne_bytes(nb).max(0) as usize;
    let mut fds: Vec<RawFd> = Vec::with_capacity(total);
    let mut desc: Vec<u8> = Vec::new();
    let mut parsed: Vec<(String, u32)> = Vec::with_capacity(total);
    let mut buf = vec![0u8; 64 * 1024];
    while parsed.len() < total {
        let before = fds.len();
        let n = recv_fds(fd, &mut buf, &mut fds).map_err(|_| e("Failed to transfer sockets", &fds))?;
        if n == 0 && fds.len() == before {
            break;
        }
        if fds.len() > total {
            return Err(e("Got to many sockets !", &fds));
        }
        desc.extend_from_slice(&buf[..n]);
        let mut off = 0;
        while parsed.len() < fds.len() {
            match parse_desc(&desc[off..]) {
                Some((iface, opts, used)) => {
                    parsed.push((iface, opts));
                    off += used;
                }
                None => break,
            }
        }
        desc.drain(..off);
        // A full batch waits for our acknowledgement before the next.
        if parsed.len() == fds.len() && fds.len().is_multiple_of(MAX_SEND_FD) && fds.len() < total {
            send_all(fd, &0i32.to_ne_bytes()).map_err(|_| e("Failed to transfer sockets", &fds))?;
        }
    }
    if parsed.len() != total || fds.len() != total {
        let msg = format!(
            "We didn't get the expected number of sockets (expecting {total} got {})",
            fds.len()
        );
        return Err((msg, fds));
    }
    let mut out = Vec::with_capacity(total);
    for (f, (iface, options)) in fds.iter().zip(parsed) {
        let addr = crate::sock::local_addr(*f).map_err(|_| e("Failed to get socket address", &fds))?;
        out.push(OldSock {
            fd: *f,
            addr,
            iface,
            options,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptors_carry_interface_and_zero_options() {
        let d = describe(&[(-1, None), (-1, Some("lo"))]);
        assert_eq!(d, vec![0, 0, 0, 0, 0, 0, 0, 2, b'l', b'o', 0, 0, 0, 0]);
    }
}
