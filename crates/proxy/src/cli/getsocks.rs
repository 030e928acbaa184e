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
        .filter(|l| !l.inherited)
        .map(|l| (l.fd, l.iface.as_deref()))
        .collect();
    v.sort_unstable_by_key(|x| x.0);
    v
}

/// The per-FD descriptors of one batch: no namespace, the interface name
/// (truncated to IFNAMSIZ-1 like the kernel's names), four zero bytes.
fn describe(batch: &[(RawFd, Option<&str>)]) -> Vec<u8> {
    let mut buf = Vec::with_capacity(batch.len() * 8);
    for (_, iface) in batch {
        buf.push(0);
        let name = iface.unwrap_or("").as_bytes();
        let name = &name[..name.len().min(libc::IFNAMSIZ - 1)];
        buf.push(name.len() as u8);
        buf.extend_from_slice(name);
        buf.extend_from_slice(&[0, 0, 0, 0]);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptors_carry_interface_and_zero_options() {
        let d = describe(&[(3, None), (4, Some("lo"))]);
        assert_eq!(d, vec![0, 0, 0, 0, 0, 0, 0, 2, b'l', b'o', 0, 0, 0, 0]);
    }
}
