//! Listening sockets (HAProxy's `listener.c`, `sock_inet.c`, `sock_unix.c`):
//! opening each `bind` address (and each `stats socket`) with its options,
//! adopting inherited `fd@N` sockets, and the description of each listener
//! the threads share.
//!
//! Every listener FD is polled by all threads with `EPOLLEXCLUSIVE`, so one
//! thread wakes per incoming burst; it accepts a batch and spreads the
//! connections over threads (see `worker.rs`). This module opens and
//! describes sockets; it must not accept or run streams.

use crate::counters::Counters;
use crate::sock::{self, RawAddr};
use config::addr::{Addr, Ports};
use config::model::{Bind, Config};
use std::io;
use std::os::fd::RawFd;

/// What a listener feeds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A proxy's frontend (index into the runtime's proxies).
    Proxy(usize),
    /// A stats socket (index into `global.stats_sockets`).
    Cli(usize),
}

pub struct Listener {
    pub fd: RawFd,
    pub kind: Kind,
    /// `bind ... name` or a generated `sock-N`.
    pub name: String,
    /// The name was given (`so_name` has a sample only then).
    pub named: bool,
    pub addr_text: String,
    /// Inherited from the parent: keep the explicit epoll removal on close.
    pub inherited: bool,
    pub maxconn: u32,
    pub counters: Counters,
    pub id: u32,
    /// Rotating candidates for spreading accepted connections over threads.
    pub spread: reactor::AcceptSpread,
    /// `bind ... interface`, passed along by `_getsocks`.
    pub iface: Option<String>,
}

fn opts_err(what: &str, e: io::Error) -> String {
    format!("{what}: {e}")
}

/// Opens one inet socket for `bind`.
fn open_inet(ip: std::net::IpAddr, port: u16, b: Option<&Bind>, backlog: i32) -> io::Result<RawFd> {
    let sa = std::net::SocketAddr::new(ip, port);
    let family = if sa.is_ipv4() { libc::AF_INET } else { libc::AF_INET6 };
    let fd = sock::socket(family, libc::SOCK_STREAM)?;
    let setup = || -> io::Result<()> {
        sock::setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
        let _ = sock::setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_REUSEPORT, 1);
        if family == libc::AF_INET6 {
            let v6only = b.map(|b| b.v6only && !b.v4v6).unwrap_or(false);
            let _ = sock::setsockopt_int(fd, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, i32::from(v6only));
        }
        if let Some(b) = b {
            if b.defer_accept {
                let _ = sock::setsockopt_int(fd, libc::IPPROTO_TCP, libc::TCP_DEFER_ACCEPT, 1);
            }
            if b.tfo {
                let _ = sock::setsockopt_int(fd, libc::IPPROTO_TCP, libc::TCP_FASTOPEN, backlog.max(1));
            }
            if b.transparent {
                let lvl = if family == libc::AF_INET {
                    libc::IPPROTO_IP
                } else {
                    libc::IPPROTO_IPV6
                };
                let opt = if family == libc::AF_INET {
                    libc::IP_TRANSPARENT
                } else {
                    libc::IPV6_TRANSPARENT
                };
                sock::setsockopt_int(fd, lvl, opt, 1)?;
            }
            if let Some(ifname) = &b.interface {
                let name = std::ffi::CString::new(ifname.as_str()).map_err(|_| io::ErrorKind::InvalidInput)?;
                // SAFETY: the option value is a NUL-terminated string that
                // lives for the duration of the call.
                let r = unsafe {
                    libc::setsockopt(
                        fd,
                        libc::SOL_SOCKET,
                        libc::SO_BINDTODEVICE,
                        name.as_ptr() as *const libc::c_void,
                        name.as_bytes_with_nul().len() as libc::socklen_t,
                    )
                };
                if r < 0 {
                    return Err(io::Error::last_os_error());
                }
            }
        }
        sock::bind(fd, &RawAddr::from_inet(&sa))?;
        sock::listen(fd, backlog)
    };
    match setup() {
        Ok(()) => Ok(fd),
        Err(e) => {
            sock::close_raw(fd);
            Err(e)
        }
    }
}

/// Owner to give a UNIX socket file (`uid`/`gid`/`user`/`group`); `None`
/// leaves that id unchanged, as HAProxy's -1.
#[derive(Clone, Copy, Default)]
pub struct Owner {
    pub uid: Option<u32>,
    pub gid: Option<u32>,
}

/// Why opening a UNIX socket failed: HAProxy names the step.
fn unix_step_err(step: &'static str) -> impl Fn(io::Error) -> io::Error {
    move |e| io::Error::new(e.kind(), format!("{step} ({})", strerror(&e)))
}

/// C's strerror text of an I/O error (without Rust's "(os error N)").
fn strerror(e: &io::Error) -> String {
    let t = e.to_string();
    t[..t.find(" (os error").unwrap_or(t.len())].to_string()
}

fn open_unix(path: &str, abstract_ns: bool, backlog: i32, mode: Option<u32>, owner: Owner) -> io::Result<RawFd> {
    let fd = sock::socket(libc::AF_UNIX, libc::SOCK_STREAM)?;
    // Like HAProxy, a path socket is bound under a temporary name, given its
    // owner and mode, made listening, and only then renamed over the final
    // path: a client never finds the file before it accepts connections
    // (it would get ECONNREFUSED), and a stale file is replaced atomically.
    // When the temporary name would not fit in sun_path, bind in place.
    let tmp = format!("{path}.{}.tmp", std::process::id());
    let staged = !abstract_ns && tmp.len() < 108;
    let at = if staged { tmp.as_str() } else { path };
    if !abstract_ns {
        let _ = std::fs::remove_file(at);
    }
    let mut bound = false;
    let r = (|| {
        sock::bind(fd, &RawAddr::from_unix(at, abstract_ns)?).map_err(unix_step_err("cannot bind UNIX socket"))?;
        bound = true;
        if !abstract_ns {
            // Ownership first, then mode, like HAProxy: a mode that takes
            // away the owner's rights must not prevent the chown.
            if owner.uid.is_some() || owner.gid.is_some() {
                std::os::unix::fs::chown(at, owner.uid, owner.gid)
                    .map_err(unix_step_err("cannot change UNIX socket ownership"))?;
            }
            if let Some(m) = mode.filter(|&m| m != 0) {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(at, std::fs::Permissions::from_mode(m))
                    .map_err(unix_step_err("cannot change UNIX socket ownership"))?;
            }
        }
        sock::listen(fd, backlog).map_err(unix_step_err("cannot listen to UNIX socket"))?;
        if staged {
            std::fs::rename(at, path).map_err(unix_step_err("cannot switch final and temporary UNIX sockets"))?;
        }
        Ok(())
    })();
    match r {
        Ok(()) => Ok(fd),
        Err(e) => {
            sock::close_raw(fd);
            if bound && !abstract_ns {
                // Leave no socket file nobody listens on.
                let _ = std::fs::remove_file(at);
            }
            Err(e)
        }
    }
}

/// Adopts an inherited listening socket.
fn adopt_fd(n: i32) -> io::Result<RawFd> {
    // SAFETY: fcntl on a number we were told is ours; failure is reported.
    unsafe {
        let fl = libc::fcntl(n, libc::F_GETFL);
        if fl < 0 {
            return Err(io::Error::last_os_error());
        }
        libc::fcntl(n, libc::F_SETFL, fl | libc::O_NONBLOCK);
        libc::fcntl(n, libc::F_SETFD, libc::FD_CLOEXEC);
    }
    Ok(n)
}

/// Opens the sockets of one address; one per port of a range.
fn open_addr(
    addr: &Addr,
    b: Option<&Bind>,
    backlog: i32,
    mode: Option<u32>,
    owner: Owner,
) -> io::Result<Vec<(RawFd, bool)>> {
    match addr {
        Addr::Inet {
            ip,
            ports: Ports::Range(lo, hi),
            ..
        } => {
            let mut v = Vec::new();
            for p in *lo..=*hi {
                match open_inet(*ip, p, b, backlog) {
                    Ok(fd) => v.push((fd, false)),
                    Err(e) => {
                        for (fd, _) in v {
                            sock::close_raw(fd);
                        }
                        return Err(e);
                    }
                }
            }
            Ok(v)
        }
        Addr::Inet { .. } => Err(io::Error::new(io::ErrorKind::InvalidInput, "missing port")),
        Addr::Unix(p) => Ok(vec![(open_unix(p, false, backlog, mode, owner)?, false)]),
        Addr::Abns(p) => Ok(vec![(open_unix(p, true, backlog, mode, owner)?, false)]),
        Addr::Fd(n) => Ok(vec![(adopt_fd(*n)?, true)]),
    }
}

/// Opens every listener of the configuration. Errors are HAProxy's
/// start-up alert texts.
pub fn open_all(cfg: &Config) -> Result<Vec<Listener>, String> {
    let mut out = Vec::new();
    let global_maxconn = cfg.global.maxconn.unwrap_or(0);
    for (i, s) in cfg.global.stats_sockets.iter().enumerate() {
        let owner = Owner { uid: s.uid, gid: s.gid };
        let fds = open_addr(&s.addr, None, 10, s.mode, owner).map_err(|e| {
            let what = match s.addr {
                Addr::Unix(_) | Addr::Abns(_) => e.to_string(),
                _ => format!("cannot bind socket ({})", strerror(&e)),
            };
            protocols_failed(format!(
                "Binding [{}:{}] for frontend GLOBAL: {what} [{}]",
                s.loc.file,
                s.loc.line,
                addr_text(&s.addr)
            ))
        })?;
        for (fd, inherited) in fds {
            out.push(Listener {
                fd,
                kind: Kind::Cli(i),
                name: format!("sock-{}", i + 1),
                named: false,
                addr_text: addr_text(&s.addr),
                inherited,
                maxconn: s.maxconn.unwrap_or(cfg.global.stats_maxconn),
                counters: Counters::default(),
                id: i as u32 + 1,
                spread: reactor::AcceptSpread::new(),
                iface: None,
            });
        }
    }
    for (pi, p) in cfg.proxies.iter().enumerate() {
        if !p.cap.frontend || p.disabled {
            continue;
        }
        let mut n = 0;
        for b in &p.binds {
            let Some(addr) = &b.addr else { continue };
            let backlog = b
                .backlog
                .or(p.backlog)
                .or(b.maxconn)
                .or(p.maxconn)
                .unwrap_or(1024)
                .max(1) as i32;
            let fds = open_addr(addr, Some(b), backlog, b.mode, Owner::default()).map_err(|e| {
                if matches!(addr, Addr::Unix(_) | Addr::Abns(_)) {
                    // The UNIX steps carry HAProxy's own texts.
                    return protocols_failed(format!(
                        "Binding [{}:{}] for {} {}: {e} [{}]",
                        b.loc.file,
                        b.loc.line,
                        if p.cap.backend { "proxy" } else { "frontend" },
                        p.name,
                        b.raw
                    ));
                }
                format!(
                    "Starting {} {}: cannot bind socket ({}) [{}]",
                    if p.cap.backend { "proxy" } else { "frontend" },
                    p.name,
                    opts_err("bind", e),
                    b.raw
                )
            })?;
            for (fd, inherited) in fds {
                n += 1;
                out.push(Listener {
                    fd,
                    kind: Kind::Proxy(pi),
                    name: b.name.clone().unwrap_or_else(|| format!("sock-{n}")),
                    named: b.name.is_some(),
                    addr_text: b.raw.clone(),
                    inherited,
                    maxconn: b.maxconn.or(p.maxconn).unwrap_or(global_maxconn),
                    counters: Counters::default(),
                    id: b.id.unwrap_or(n),
                    spread: reactor::AcceptSpread::new(),
                    iface: b.interface.clone(),
                });
            }
        }
    }
    Ok(out)
}

/// A listener failure followed by HAProxy's closing line.
fn protocols_failed(msg: String) -> String {
    let argv0 = std::env::args().next().unwrap_or_else(|| "haproxy".into());
    format!("{msg}\n[{argv0}.main()] Some protocols failed to start their listeners! Exiting.")
}

fn addr_text(a: &Addr) -> String {
    match a {
        Addr::Inet {
            ip,
            ports: Ports::Range(lo, hi),
            ..
        } if lo == hi => std::net::SocketAddr::new(*ip, *lo).to_string(),
        Addr::Inet {
            ip,
            ports: Ports::Range(lo, hi),
            ..
        } => format!("{ip}:{lo}-{hi}"),
        Addr::Inet { ip, .. } => ip.to_string(),
        Addr::Unix(p) => p.clone(),
        Addr::Abns(p) => format!("abns@{p}"),
        Addr::Fd(n) => format!("fd@{n}"),
    }
}
