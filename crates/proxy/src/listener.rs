//! Listening sockets (HAProxy's `listener.c`, `sock_inet.c`, `sock_unix.c`):
//! opening each `bind` address (and each `stats socket`) with its options,
//! adopting inherited `fd@N` sockets, and the description of each listener
//! the threads share.
//!
//! Every listener FD is polled by all threads with `EPOLLEXCLUSIVE`, so one
//! thread wakes per incoming burst; it accepts a batch and spreads the
//! connections over threads (see `worker.rs`). This module opens and
//! describes sockets; it must not accept or run streams.

use crate::cli::getsocks::{self, OldSock};
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
    /// Threads that accept on this listener (`bind ... thread`), bit N =
    /// thread N+1.
    pub thread_mask: u64,
    /// Threads that stopped polling this listener at a connection limit
    /// (bit N = thread N). Whoever frees a slot resumes them: a paused
    /// thread may have no connection of its own whose end would wake it.
    pub paused_on: std::sync::atomic::AtomicU64,
    /// Rotating candidates for spreading accepted connections over threads.
    pub spread: reactor::AcceptSpread,
    /// `bind ... interface`, passed along by `_getsocks`.
    pub iface: Option<String>,
    /// `bind ... accept-proxy`: connections start with a PROXY header.
    pub accept_proxy: bool,
    /// Closed by the soft stop (the FD number may be reused since).
    pub closed: std::sync::atomic::AtomicBool,
    /// `bind ... ssl`: the TLS context its connections start with.
    pub tls: Option<std::sync::Arc<rustls::ServerConfig>>,
    /// A connected UNIX socket (the master's `sockpair@`), not a listening
    /// one: each connection arrives as an FD passed over it, and its end
    /// means the master is gone.
    pub sockpair: bool,
}

/// Whether `fd` is a connected (not listening) UNIX stream socket: what the
/// master gives its worker to pass it CLI connections.
fn is_sockpair(fd: RawFd) -> bool {
    let get = |opt| {
        let mut v: i32 = 0;
        let mut len = std::mem::size_of::<i32>() as libc::socklen_t;
        // SAFETY: v and len are live and sized for an int option.
        let r = unsafe {
            libc::getsockopt(
                fd,
                libc::SOL_SOCKET,
                opt,
                &mut v as *mut i32 as *mut libc::c_void,
                &mut len,
            )
        };
        (r == 0).then_some(v)
    };
    get(libc::SO_ACCEPTCONN) == Some(0)
        && get(libc::SO_TYPE) == Some(libc::SOCK_STREAM)
        && get(libc::SO_DOMAIN) == Some(libc::AF_UNIX)
}

/// What binding one socket produced: HAProxy reports warnings and goes on,
/// and an alert stops the start-up once every listener was tried.
#[derive(Default)]
struct Msgs {
    warn: Vec<String>,
    alert: Option<String>,
    /// The alert is a UNIX socket step: HAProxy ends it with the address
    /// in brackets instead of "for [ip:port]".
    unix: bool,
}

/// Prepares a socket for a foreign address as HAProxy's
/// `sock_inet*_make_foreign`: IP(V6)_TRANSPARENT needs CAP_NET_ADMIN; without
/// it IP_FREEBIND still lets the bind succeed.
fn make_foreign(fd: RawFd, v4: bool) -> bool {
    let (lvl, opt) = if v4 {
        (libc::IPPROTO_IP, libc::IP_TRANSPARENT)
    } else {
        (libc::IPPROTO_IPV6, libc::IPV6_TRANSPARENT)
    };
    sock::setsockopt_int(fd, lvl, opt, 1).is_ok()
        || sock::setsockopt_int(fd, libc::IPPROTO_IP, libc::IP_FREEBIND, 1).is_ok()
}

/// Opens one inet socket for `bind`, setting its options in HAProxy's
/// order (`sock_inet_bind_receiver` then `tcp_bind_listener`). `None` when
/// an alert was recorded.
fn open_inet(
    ip: std::net::IpAddr,
    port: u16,
    b: Option<&Bind>,
    backlog: i32,
    m: &mut Msgs,
    pool: &mut Vec<OldSock>,
) -> Option<RawFd> {
    let sa = std::net::SocketAddr::new(ip, port);
    let v4 = sa.is_ipv4();
    let at = format!("for [{ip}:{port}]");
    let mut opts = 0;
    if b.is_some_and(|b| b.transparent) {
        opts |= getsocks::OPT_FOREIGN;
    }
    if !v4 && (b.is_some_and(|b| b.v6only) || (v6only_default() && !b.is_some_and(|b| b.v4v6))) {
        opts |= getsocks::OPT_V6ONLY;
    }
    let iface = b.and_then(|b| b.interface.as_deref()).unwrap_or("");
    if let Some(fd) = take_old(pool, opts, iface, |a| a.to_inet() == Some(sa)) {
        // The old process's socket: only the backlog may change.
        if sock::listen(fd, backlog).is_err() {
            m.alert = Some(format!("cannot listen to socket {at}"));
            sock::close_raw(fd);
            return None;
        }
        return Some(fd);
    }
    let fd = match sock::socket(if v4 { libc::AF_INET } else { libc::AF_INET6 }, libc::SOCK_STREAM) {
        Ok(fd) => fd,
        Err(e) => {
            m.alert = Some(format!("cannot create receiving socket ({}) {at}", strerror(&e)));
            return None;
        }
    };
    let fail = |m: &mut Msgs, text: String| {
        m.alert = Some(text);
        sock::close_raw(fd);
        None
    };
    if sock::setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1).is_err() {
        m.warn.push(format!("cannot do so_reuseaddr {at}"));
    }
    let _ = sock::setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_REUSEPORT, 1);
    let mut not_foreign = false;
    if let Some(b) = b {
        not_foreign = b.transparent && !make_foreign(fd, v4);
        if let Some(ifname) = &b.interface {
            let name = std::ffi::CString::new(ifname.as_str()).unwrap_or_default();
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
                let e = io::Error::last_os_error();
                m.warn.push(format!(
                    "cannot bind receiver to device '{ifname}' ({}) {at}",
                    strerror(&e)
                ));
            }
        }
    }
    if !v4 {
        // v6only wins over v4v6; neither keeps the system's default.
        let v6only = b.is_some_and(|b| b.v6only) || (v6only_default() && !b.is_some_and(|b| b.v4v6));
        let _ = sock::setsockopt_int(fd, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, i32::from(v6only));
    }
    if let Err(e) = sock::bind(fd, &RawAddr::from_inet(&sa)) {
        return fail(m, format!("cannot bind socket ({}) {at}", strerror(&e)));
    }
    if not_foreign {
        return fail(m, format!("cannot make receiving socket transparent {at}"));
    }
    if let Some(b) = b {
        let mut soft = Vec::new();
        if let Some(mss) = b.mss.as_deref().and_then(|v| v.parse::<i32>().ok()).filter(|v| *v > 0) {
            if sock::setsockopt_int(fd, libc::IPPROTO_TCP, libc::TCP_MAXSEG, mss).is_err() {
                soft.push(format!("cannot set MSS to {mss}"));
            }
        }
        if let Some(ut) = b.tcp_ut_ms.filter(|v| *v > 0) {
            if sock::setsockopt_int(fd, libc::IPPROTO_TCP, libc::TCP_USER_TIMEOUT, ut as i32).is_err() {
                soft.push("cannot set TCP User Timeout".to_string());
            }
        }
        // Deferred by up to one second: the kernel hands the connection
        // over when data arrives (or the delay ends).
        if b.defer_accept && sock::setsockopt_int(fd, libc::IPPROTO_TCP, libc::TCP_DEFER_ACCEPT, 1).is_err() {
            soft.push("cannot enable DEFER_ACCEPT".to_string());
        }
        // The Fast Open queue is as long as the backlog.
        if b.tfo && sock::setsockopt_int(fd, libc::IPPROTO_TCP, libc::TCP_FASTOPEN, backlog).is_err() {
            soft.push("cannot enable TCP_FASTOPEN".to_string());
        }
        if !soft.is_empty() {
            m.warn.push(format!("{} {at}", soft.join(", ")));
        }
    }
    if sock::listen(fd, backlog).is_err() {
        return fail(m, format!("cannot listen to socket {at}"));
    }
    Some(fd)
}

/// The system's default for IPV6_V6ONLY (net.ipv6.bindv6only), read once.
fn v6only_default() -> bool {
    use std::sync::OnceLock;
    static V: OnceLock<bool> = OnceLock::new();
    *V.get_or_init(|| std::fs::read_to_string("/proc/sys/net/ipv6/bindv6only").is_ok_and(|s| s.trim() == "1"))
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

fn open_unix(
    path: &str,
    abstract_ns: bool,
    backlog: i32,
    mode: Option<u32>,
    owner: Owner,
    pool: &mut Vec<OldSock>,
) -> io::Result<RawFd> {
    if let Some(fd) = take_old(pool, 0, "", |a| unix_same(a, path, abstract_ns)) {
        sock::listen(fd, backlog).map_err(unix_step_err("cannot listen to UNIX socket"))?;
        return Ok(fd);
    }
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

/// Takes from the old process's sockets (`-x`) the one with the same
/// address, transfer options and interface, as HAProxy's
/// `sock_find_compatible_fd`; made non-blocking for our poller.
fn take_old(pool: &mut Vec<OldSock>, opts: u32, iface: &str, same: impl Fn(&RawAddr) -> bool) -> Option<RawFd> {
    let i = pool
        .iter()
        .position(|o| o.options == opts && o.iface == iface && same(&o.addr))?;
    let o = pool.swap_remove(i);
    adopt_fd(o.fd).ok()
}

/// The path of a UNIX socket address, and whether it is abstract.
fn unix_path(a: &RawAddr) -> Option<(Vec<u8>, bool)> {
    if a.family() != libc::AF_UNIX {
        return None;
    }
    // SAFETY: the family says the storage holds a sockaddr_un.
    let sun = unsafe { &*(&a.storage as *const _ as *const libc::sockaddr_un) };
    let base = std::mem::size_of::<libc::sa_family_t>();
    let n = (a.len as usize).saturating_sub(base).min(sun.sun_path.len());
    let raw: Vec<u8> = sun.sun_path[..n].iter().map(|c| *c as u8).collect();
    if raw.first() == Some(&0) && n > 0 {
        return Some((raw[1..].to_vec(), true));
    }
    let end = raw.iter().position(|c| *c == 0).unwrap_or(raw.len());
    Some((raw[..end].to_vec(), false))
}

/// Whether an old process's UNIX socket is the one for `path`: abstract
/// names compare as they are; a path socket was bound as
/// `<path>.<pid>.tmp` and renamed, so that suffix is ignored (HAProxy's
/// `sock_unix_addrcmp`).
fn unix_same(a: &RawAddr, path: &str, abstract_ns: bool) -> bool {
    let Some((got, abs)) = unix_path(a) else {
        return false;
    };
    if abs != abstract_ns {
        return false;
    }
    let want = path.as_bytes();
    if abs || got == want {
        return got == want;
    }
    let Some(rest) = got.strip_prefix(want).and_then(|r| r.strip_prefix(b".")) else {
        return false;
    };
    let Some(digits) = rest.strip_suffix(b".tmp") else {
        return false;
    };
    !digits.is_empty() && digits.iter().all(u8::is_ascii_digit)
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

/// Opens the sockets of one address; one per port of a range. `None` when
/// an alert was recorded in `m`.
fn open_addr(
    addr: &Addr,
    b: Option<&Bind>,
    backlog: i32,
    mode: Option<u32>,
    owner: Owner,
    m: &mut Msgs,
    pool: &mut Vec<OldSock>,
) -> Option<Vec<(RawFd, bool)>> {
    let unix_err = |m: &mut Msgs, e: io::Error| {
        // open_unix's errors already carry HAProxy's step text.
        m.alert = Some(e.to_string());
        m.unix = true;
        None
    };
    match addr {
        Addr::Inet {
            ip,
            ports: Ports::Range(lo, hi),
            ..
        } => {
            let mut v = Vec::new();
            for p in *lo..=*hi {
                match open_inet(*ip, p, b, backlog, m, pool) {
                    Some(fd) => v.push((fd, false)),
                    None => {
                        for (fd, _) in v {
                            sock::close_raw(fd);
                        }
                        return None;
                    }
                }
            }
            Some(v)
        }
        Addr::Inet { .. } => {
            m.alert = Some("missing port".to_string());
            None
        }
        Addr::Unix(p) => match open_unix(p, false, backlog, mode, owner, pool) {
            Ok(fd) => Some(vec![(fd, false)]),
            Err(e) => unix_err(m, e),
        },
        Addr::Abns(p) => match open_unix(p, true, backlog, mode, owner, pool) {
            Ok(fd) => Some(vec![(fd, false)]),
            Err(e) => unix_err(m, e),
        },
        Addr::Fd(n) => match adopt_fd(*n) {
            Ok(fd) => Some(vec![(fd, true)]),
            Err(e) => {
                m.alert = Some(format!("cannot use inherited fd {n} ({})", strerror(&e)));
                None
            }
        },
    }
}

/// HAProxy binds per protocol: TCP over IPv4, then IPv6, then UNIX
/// sockets; the order of its messages follows.
fn proto_rank(a: &Addr) -> u8 {
    match a {
        Addr::Inet { ip, .. } if ip.is_ipv4() => 0,
        Addr::Inet { .. } => 1,
        _ => 2,
    }
}

/// How many sockets an address opens (one per port of a range).
fn port_count(a: &Addr) -> u32 {
    match a {
        Addr::Inet {
            ports: Ports::Range(lo, hi),
            ..
        } => u32::from(hi.saturating_sub(*lo)) + 1,
        _ => 1,
    }
}

/// Messages of the binding phase, in HAProxy's order and words.
pub enum BindMsg {
    Warning(String),
    Alert(String),
}

/// Opens every listener of the configuration. On failure, every listener
/// was still tried and the messages say what failed (HAProxy's
/// `protocol_bind_all`); the caller prints them and stops. Sockets of
/// `pool` (the old process's, `-x`) are used instead of binding where they
/// match; the rest stays in `pool`.
pub fn open_all(cfg: &Config, nbthread: usize, pool: &mut Vec<OldSock>) -> (Vec<Listener>, Vec<BindMsg>, bool) {
    // Before any socket is opened: sizing the FD table takes a moment, and
    // nothing should listen partially meanwhile.
    let _ = reactor::fd::table();
    let global_maxconn = cfg
        .global
        .maxconn
        .unwrap_or_else(|| crate::runtime::default_maxconn(cfg, nbthread));
    let mut out: Vec<(u8, usize, Listener)> = Vec::new();
    let mut msgs: Vec<(u8, usize, Vec<BindMsg>)> = Vec::new();
    let mut failed = false;
    let mut order: usize;
    let mut report =
        |rank: u8, order: usize, who: String, label: &str, mut m: Msgs, msgs: &mut Vec<(u8, usize, Vec<BindMsg>)>| {
            if m.unix {
                m.alert = m.alert.map(|a| format!("{a} [{label}]"));
            }
            let mut v: Vec<BindMsg> = m
                .warn
                .into_iter()
                .map(|w| BindMsg::Warning(format!("Binding [{who}: {w}")))
                .collect();
            if let Some(a) = m.alert {
                v.push(BindMsg::Alert(format!("Binding [{who}: {a}")));
            }
            if !v.is_empty() {
                msgs.push((rank, order, v));
            }
        };
    // TCP over IPv4 first, then IPv6, then UNIX sockets, as HAProxy's
    // protocol list: a stats socket answering means the TCP listeners are
    // up. `order` and `n` count every entry in every pass so indexes and
    // generated names stay those of the configuration.
    for pass in 0..3u8 {
        order = 0;
        for (i, s) in cfg.global.stats_sockets.iter().enumerate() {
            order += 1;
            let rank = proto_rank(&s.addr);
            if rank != pass {
                continue;
            }
            let mut m = Msgs::default();
            let owner = Owner { uid: s.uid, gid: s.gid };
            let fds = open_addr(&s.addr, None, 10, s.mode, owner, &mut m, pool);
            failed |= fds.is_none();
            let label = addr_text(&s.addr);
            report(
                rank,
                order,
                format!("{}] for frontend GLOBAL", s.loc),
                &label,
                m,
                &mut msgs,
            );
            for (fd, inherited) in fds.unwrap_or_default() {
                out.push((
                    rank,
                    order,
                    Listener {
                        fd,
                        kind: Kind::Cli(i),
                        name: format!("sock-{}", i + 1),
                        named: false,
                        addr_text: addr_text(&s.addr),
                        inherited,
                        maxconn: s.maxconn.unwrap_or(cfg.global.stats_maxconn),
                        counters: Counters::default(),
                        id: i as u32 + 1,
                        thread_mask: u64::MAX,
                        paused_on: Default::default(),
                        spread: reactor::AcceptSpread::new(),
                        iface: None,
                        accept_proxy: false,
                        closed: Default::default(),
                        tls: None,
                        sockpair: inherited && is_sockpair(fd),
                    },
                ));
            }
        }
        for (pi, p) in cfg.proxies.iter().enumerate() {
            if !p.cap.frontend || p.disabled {
                continue;
            }
            let mut n = 0;
            for b in &p.binds {
                let Some(addr) = &b.addr else { continue };
                // HAProxy's listener_backlog(): the bind's, the frontend's,
                // the bind's maxconn, the frontend's (effective) maxconn.
                let backlog = b
                    .backlog
                    .or(p.backlog)
                    .or(b.maxconn)
                    .or(p.maxconn)
                    .unwrap_or(global_maxconn)
                    .clamp(1, i32::MAX as u32) as i32;
                order += 1;
                let rank = proto_rank(addr);
                if rank != pass {
                    n += port_count(addr);
                    continue;
                }
                let kind = if p.cap.backend { "proxy" } else { "frontend" };
                let tls = match &b.ssl {
                    None => None,
                    Some(ssl) => {
                        let sect = if p.cap.backend { "listen" } else { "frontend" };
                        let at = b.loc.to_string();
                        match crate::ssl_sock::bind_ctx(ssl, &cfg.global, &p.name, sect, &b.raw, &at) {
                            Ok(c) => Some(c),
                            Err(e) => {
                                msgs.push((rank, order, vec![BindMsg::Alert(e)]));
                                failed = true;
                                n += port_count(addr);
                                continue;
                            }
                        }
                    }
                };
                let mut m = Msgs::default();
                let fds = open_addr(addr, Some(b), backlog, b.mode, Owner::default(), &mut m, pool);
                failed |= fds.is_none();
                report(
                    rank,
                    order,
                    format!("{}] for {kind} {}", b.loc, p.name),
                    &b.raw,
                    m,
                    &mut msgs,
                );
                for (fd, inherited) in fds.unwrap_or_default() {
                    n += 1;
                    out.push((
                        rank,
                        order,
                        Listener {
                            fd,
                            kind: Kind::Proxy(pi),
                            name: b.name.clone().unwrap_or_else(|| format!("sock-{n}")),
                            named: b.name.is_some(),
                            addr_text: b.raw.clone(),
                            inherited,
                            maxconn: b.maxconn.unwrap_or(0),
                            counters: Counters::default(),
                            id: b.id.unwrap_or(n),
                            thread_mask: if b.thread.is_some() { b.thread_mask } else { u64::MAX },
                            paused_on: Default::default(),
                            spread: reactor::AcceptSpread::new(),
                            iface: b.interface.clone(),
                            accept_proxy: b.accept_proxy,
                            closed: Default::default(),
                            tls: tls.clone(),
                            sockpair: false,
                        },
                    ));
                }
            }
        }
    }
    let _ = &mut report;
    msgs.sort_by_key(|(r, o, _)| (*r, *o));
    let msgs = msgs.into_iter().flat_map(|(_, _, v)| v).collect();
    if failed {
        for (_, _, l) in out {
            if !l.inherited {
                sock::close_raw(l.fd);
            }
        }
        return (Vec::new(), msgs, true);
    }
    // Listener indexes stay in configuration order (stats, CLI).
    out.sort_by_key(|(_, o, _)| *o);
    (out.into_iter().map(|(_, _, l)| l).collect(), msgs, false)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_unix_sockets_match_without_their_pid_suffix() {
        let a = |p: &str| RawAddr::from_unix(p, false).unwrap();
        assert!(unix_same(&a("/run/s"), "/run/s", false));
        assert!(unix_same(&a("/run/s.1234.tmp"), "/run/s", false));
        assert!(!unix_same(&a("/run/s.12x4.tmp"), "/run/s", false));
        assert!(!unix_same(&a("/run/s2"), "/run/s", false));
        assert!(!unix_same(&a("/run/s"), "/run/s", true));
        let abs = RawAddr::from_unix("name", true).unwrap();
        assert!(unix_same(&abs, "name", true));
        assert!(!unix_same(&abs, "nam", true));
    }
}
