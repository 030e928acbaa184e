//! Thin, non-blocking socket system calls (HAProxy's `sock.c`,
//! `sock_inet.c`, `raw_sock.c`): create, bind, listen, accept, connect,
//! recv, send, shutdown. Results are plain `io::Result`s; `WouldBlock` means
//! "ask the poller".
//!
//! This module owns no state and never closes an FD registered in the FD
//! table (the reactor's `fd_delete` does, so the generation is bumped).

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::RawFd;

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn cvt_size(r: libc::ssize_t) -> io::Result<usize> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r as usize)
    }
}

/// A socket address in the kernel's layout.
#[derive(Clone, Copy)]
pub struct RawAddr {
    pub storage: libc::sockaddr_storage,
    pub len: libc::socklen_t,
}

impl RawAddr {
    pub fn from_inet(a: &SocketAddr) -> RawAddr {
        // SAFETY: sockaddr_storage is plain data; zero is a valid value.
        let mut storage: libc::sockaddr_storage = unsafe { zeroed() };
        let len = match a {
            SocketAddr::V4(v4) => {
                // SAFETY: sockaddr_storage is large and aligned enough for sockaddr_in.
                let sin = unsafe { &mut *(&mut storage as *mut _ as *mut libc::sockaddr_in) };
                sin.sin_family = libc::AF_INET as libc::sa_family_t;
                sin.sin_port = v4.port().to_be();
                sin.sin_addr.s_addr = u32::from_ne_bytes(v4.ip().octets());
                size_of::<libc::sockaddr_in>()
            }
            SocketAddr::V6(v6) => {
                // SAFETY: sockaddr_storage is large and aligned enough for sockaddr_in6.
                let sin6 = unsafe { &mut *(&mut storage as *mut _ as *mut libc::sockaddr_in6) };
                sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
                sin6.sin6_port = v6.port().to_be();
                sin6.sin6_addr.s6_addr = v6.ip().octets();
                sin6.sin6_scope_id = v6.scope_id();
                size_of::<libc::sockaddr_in6>()
            }
        };
        RawAddr {
            storage,
            len: len as libc::socklen_t,
        }
    }

    /// A unix path, or an abstract name when `abstract_ns`.
    pub fn from_unix(path: &str, abstract_ns: bool) -> io::Result<RawAddr> {
        // SAFETY: plain data.
        let mut storage: libc::sockaddr_storage = unsafe { zeroed() };
        // SAFETY: sockaddr_storage is large and aligned enough for sockaddr_un.
        let sun = unsafe { &mut *(&mut storage as *mut _ as *mut libc::sockaddr_un) };
        sun.sun_family = libc::AF_UNIX as libc::sa_family_t;
        let bytes = path.as_bytes();
        let off = usize::from(abstract_ns);
        if bytes.len() + off >= sun.sun_path.len() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "unix socket path too long"));
        }
        for (i, b) in bytes.iter().enumerate() {
            sun.sun_path[i + off] = *b as libc::c_char;
        }
        let base = size_of::<libc::sa_family_t>();
        let len = if abstract_ns {
            base + 1 + bytes.len()
        } else {
            base + bytes.len() + 1
        };
        Ok(RawAddr {
            storage,
            len: len as libc::socklen_t,
        })
    }

    pub fn family(&self) -> i32 {
        self.storage.ss_family as i32
    }

    /// Converts back to an inet address when it is one.
    pub fn to_inet(&self) -> Option<SocketAddr> {
        match self.storage.ss_family as i32 {
            libc::AF_INET => {
                // SAFETY: the family says the storage holds a sockaddr_in.
                let sin = unsafe { &*(&self.storage as *const _ as *const libc::sockaddr_in) };
                let ip = Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
                Some(SocketAddr::V4(SocketAddrV4::new(ip, u16::from_be(sin.sin_port))))
            }
            libc::AF_INET6 => {
                // SAFETY: the family says the storage holds a sockaddr_in6.
                let sin6 = unsafe { &*(&self.storage as *const _ as *const libc::sockaddr_in6) };
                let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
                Some(SocketAddr::V6(SocketAddrV6::new(
                    ip,
                    u16::from_be(sin6.sin6_port),
                    sin6.sin6_flowinfo,
                    sin6.sin6_scope_id,
                )))
            }
            _ => None,
        }
    }
}

/// A new non-blocking, close-on-exec socket.
pub fn socket(family: i32, ty: i32) -> io::Result<RawFd> {
    // SAFETY: no pointers.
    cvt(unsafe { libc::socket(family, ty | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC, 0) })
}

pub fn setsockopt_int(fd: RawFd, level: i32, name: i32, val: i32) -> io::Result<()> {
    // SAFETY: the option value points to a live i32 of the given size.
    cvt(unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            &val as *const i32 as *const libc::c_void,
            size_of::<i32>() as libc::socklen_t,
        )
    })
    .map(|_| ())
}

pub fn bind(fd: RawFd, a: &RawAddr) -> io::Result<()> {
    // SAFETY: `a` holds a valid address of `a.len` bytes.
    cvt(unsafe { libc::bind(fd, &a.storage as *const _ as *const libc::sockaddr, a.len) }).map(|_| ())
}

pub fn listen(fd: RawFd, backlog: i32) -> io::Result<()> {
    // SAFETY: no pointers.
    cvt(unsafe { libc::listen(fd, backlog) }).map(|_| ())
}

/// Accepts one connection, non-blocking and close-on-exec.
pub fn accept(fd: RawFd) -> io::Result<(RawFd, RawAddr)> {
    // SAFETY: plain data.
    let mut storage: libc::sockaddr_storage = unsafe { zeroed() };
    let mut len = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: storage/len are valid for writing.
    let r = unsafe {
        libc::accept4(
            fd,
            &mut storage as *mut _ as *mut libc::sockaddr,
            &mut len,
            libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
        )
    };
    let nfd = cvt(r)?;
    Ok((nfd, RawAddr { storage, len }))
}

/// Starts a non-blocking connect; `Ok(true)` when already connected.
pub fn connect(fd: RawFd, a: &RawAddr) -> io::Result<bool> {
    // SAFETY: `a` holds a valid address.
    let r = unsafe { libc::connect(fd, &a.storage as *const _ as *const libc::sockaddr, a.len) };
    if r == 0 {
        return Ok(true);
    }
    let e = io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::EINPROGRESS) {
        Ok(false)
    } else {
        Err(e)
    }
}

/// The pending error of a socket (connect result).
pub fn take_error(fd: RawFd) -> io::Result<Option<io::Error>> {
    let mut val: i32 = 0;
    let mut len = size_of::<i32>() as libc::socklen_t;
    // SAFETY: val/len are valid for writing.
    cvt(unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ERROR,
            &mut val as *mut i32 as *mut libc::c_void,
            &mut len,
        )
    })?;
    Ok((val != 0).then(|| io::Error::from_raw_os_error(val)))
}

pub fn local_addr(fd: RawFd) -> io::Result<RawAddr> {
    // SAFETY: plain data.
    let mut storage: libc::sockaddr_storage = unsafe { zeroed() };
    let mut len = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: storage/len valid for writing.
    cvt(unsafe { libc::getsockname(fd, &mut storage as *mut _ as *mut libc::sockaddr, &mut len) })?;
    Ok(RawAddr { storage, len })
}

pub fn peer_addr(fd: RawFd) -> io::Result<RawAddr> {
    // SAFETY: plain data.
    let mut storage: libc::sockaddr_storage = unsafe { zeroed() };
    let mut len = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: storage/len valid for writing.
    cvt(unsafe { libc::getpeername(fd, &mut storage as *mut _ as *mut libc::sockaddr, &mut len) })?;
    Ok(RawAddr { storage, len })
}

/// Receives into `buf`; `Ok(0)` is the peer's shutdown.
#[inline]
pub fn recv(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: buf is valid for writing buf.len() bytes.
    cvt_size(unsafe { libc::recv(fd, buf.as_mut_ptr() as *mut libc::c_void, buf.len(), 0) })
}

/// Reads into `buf` leaving the bytes in the socket (MSG_PEEK).
pub fn peek(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: buf is valid for writing buf.len() bytes.
    cvt_size(unsafe { libc::recv(fd, buf.as_mut_ptr() as *mut libc::c_void, buf.len(), libc::MSG_PEEK) })
}

/// Sends without SIGPIPE; `more` hints that more data follows (MSG_MORE).
#[inline]
pub fn send(fd: RawFd, buf: &[u8], more: bool) -> io::Result<usize> {
    let flags = libc::MSG_NOSIGNAL | if more { libc::MSG_MORE } else { 0 };
    // SAFETY: buf is valid for reading buf.len() bytes.
    cvt_size(unsafe { libc::send(fd, buf.as_ptr() as *const libc::c_void, buf.len(), flags) })
}

/// Sends two slices in one system call (a rewritten head and the body that
/// follows it in the input buffer), without SIGPIPE.
pub fn send2(fd: RawFd, a: &[u8], b: &[u8]) -> io::Result<usize> {
    if b.is_empty() {
        return send(fd, a, false);
    }
    if a.is_empty() {
        return send(fd, b, false);
    }
    let iov = [
        libc::iovec {
            iov_base: a.as_ptr() as *mut libc::c_void,
            iov_len: a.len(),
        },
        libc::iovec {
            iov_base: b.as_ptr() as *mut libc::c_void,
            iov_len: b.len(),
        },
    ];
    // SAFETY: plain data; the iovecs point to live slices for the call.
    let mut msg: libc::msghdr = unsafe { zeroed() };
    msg.msg_iov = iov.as_ptr() as *mut libc::iovec;
    msg.msg_iovlen = 2;
    // SAFETY: msg is fully initialised and its buffers outlive the call.
    cvt_size(unsafe { libc::sendmsg(fd, &msg, libc::MSG_NOSIGNAL) })
}

/// Sends several slices in one system call, without SIGPIPE (writev
/// would raise it on a reset connection).
pub fn sendv(fd: RawFd, bufs: &[std::io::IoSlice<'_>]) -> io::Result<usize> {
    // SAFETY: plain data.
    let mut msg: libc::msghdr = unsafe { zeroed() };
    // IoSlice is ABI-compatible with iovec on Unix (std guarantees it).
    msg.msg_iov = bufs.as_ptr() as *mut libc::iovec;
    msg.msg_iovlen = bufs.len().min(1024) as _;
    // SAFETY: msg points to live iovecs that outlive the call.
    cvt_size(unsafe { libc::sendmsg(fd, &msg, libc::MSG_NOSIGNAL) })
}

pub fn shutdown_write(fd: RawFd) {
    // SAFETY: no pointers; errors (ENOTCONN) are irrelevant here.
    unsafe {
        libc::shutdown(fd, libc::SHUT_WR);
    }
}

/// Makes the next close send a reset instead of a FIN (`option nolinger`,
/// and how HAProxy aborts a server connection it must not reuse).
pub fn set_nolinger(fd: RawFd) {
    let l = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: pointer to a live linger struct of the right size.
    unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            &l as *const _ as *const libc::c_void,
            size_of::<libc::linger>() as libc::socklen_t,
        );
    }
}

/// Closes an FD that was never inserted in the FD table.
pub fn close_raw(fd: RawFd) {
    // SAFETY: the caller owns `fd` and nothing else refers to it.
    unsafe {
        libc::close(fd);
    }
}

pub fn is_would_block(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock
}

/// Formats an IP the way HAProxy's logs and CLI do (IPv4-mapped IPv6 as
/// IPv4 is *not* done: HAProxy prints what the socket says).
pub fn ip_string(ip: &IpAddr) -> String {
    ip.to_string()
}
