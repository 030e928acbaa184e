//! Logging (HAProxy's `log.c` senders and `strm_log`): the `log` targets
//! of each proxy (UDP, unix datagram sockets, file descriptors), the
//! syslog headers of every `format`, sampling, levels, and the decision
//! of when a stream's transaction is logged and with which level.
//!
//! Owns the per-stream log bookkeeping ([`StrmLogs`], timers and counts
//! the stream fills in as it goes) and the per-thread sockets and line
//! buffer. Sending never blocks: datagram sockets are non-blocking and a
//! full socket drops the line and counts it (`DroppedLogs`), as HAProxy.
//! It must not change what goes on the wire for traffic, nor render
//! formats itself (`logfmt` does).

use crate::logfmt::{LogFmt, LogInfo, Needs, ParseOpts};
use crate::runtime::ProxyRt;
use crate::sample::Expr;
use crate::sock::RawAddr;
use crate::stream::{Env, Stream};
use config::model::{Config, LogTarget, Mode, Proxy};
use std::cell::RefCell;
use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;

/// Lines dropped because a log socket was full (`show info` DroppedLogs).
pub static DROPPED: AtomicU64 = AtomicU64::new(0);

/// Syslog levels.
pub const LOG_ERR: u8 = 3;
pub const LOG_INFO: u8 = 6;

const FACILITIES: &[&str] = &[
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "auth2", "ftp", "ntp", "audit",
    "alert", "cron2", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
];
const LEVELS: &[&str] = &["emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"];

/// Syslog header formats (`log ... format <fmt>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// No `format` given: RFC3164 when a hostname is sent, else the
    /// local form (RFC3164 without hostname).
    Unspec,
    Local,
    Rfc3164,
    Rfc5424,
    Priority,
    Short,
    Timed,
    Iso,
    Raw,
}

enum Dest {
    Inet(RawAddr),
    Unix(RawAddr),
    Fd(RawFd),
}

/// `sample <ranges>:<size>` state.
#[derive(Debug)]
struct Sampler {
    /// Sorted inclusive ranges of 1-based indexes, with each range's own
    /// position.
    ranges: Vec<(u32, u32, u32)>,
    size: u32,
    cur_rg: usize,
    cur_idx: u32,
}

impl Sampler {
    /// Whether the next line falls in the sampled ranges.
    fn next(&mut self) -> bool {
        let (lo, hi, pos) = self.ranges[self.cur_rg];
        let i = self.cur_idx + 1;
        let hit = i >= lo && i <= hi;
        if hit {
            let np = (pos + 1) % (hi - lo + 1);
            self.ranges[self.cur_rg].2 = np;
            if np == 0 {
                self.cur_rg = (self.cur_rg + 1) % self.ranges.len();
            }
        }
        self.cur_idx = (self.cur_idx + 1) % self.size;
        hit
    }
}

/// One `log` target.
pub struct Target {
    dest: Dest,
    maxlen: usize,
    format: Format,
    facility: u8,
    level: u8,
    minlevel: u8,
    sample: Option<Mutex<Sampler>>,
    /// Serialises writes to a shared file descriptor.
    fd_lock: Mutex<()>,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Target({:?}, facility {}, level {})",
            self.format, self.facility, self.level
        )
    }
}

fn parse_ranges(spec: &str) -> Result<Sampler, String> {
    let (rgs, size) = spec.split_once(':').ok_or("Missing sample size")?;
    let mut ranges: Vec<(u32, u32, u32)> = Vec::new();
    let mut max_high = 0;
    for r in rgs.split(',') {
        let (lo, hi) = match r.split_once('-') {
            Some((a, b)) => (a, b),
            None => (r, r),
        };
        let lo: u32 = lo.parse().map_err(|_| format!("wrong sample range '{r}'"))?;
        let hi: u32 = hi.parse().map_err(|_| format!("wrong sample range '{r}'"))?;
        if lo == 0 || hi < lo {
            return Err(format!("wrong sample range '{r}'"));
        }
        if ranges.iter().any(|&(a, b, _)| lo <= b && hi >= a) {
            return Err(format!("ranges are overlapping: '{r}'"));
        }
        max_high = max_high.max(hi);
        ranges.push((lo, hi, 0));
    }
    if ranges.is_empty() {
        return Err("no sampling ranges given".into());
    }
    let size: u32 = match size.parse() {
        Ok(n) if n > 0 => n,
        _ => return Err(format!("wrong sample size '{size}' for sample range '{rgs}'")),
    };
    if size < max_high {
        return Err(format!(
            "sample size {size} should be greater or equal to {max_high} the maximum of the high ranges limits"
        ));
    }
    ranges.sort();
    Ok(Sampler {
        ranges,
        size,
        cur_rg: 0,
        cur_idx: 0,
    })
}

fn dest_of(t: &str) -> Result<Dest, String> {
    let t = match t {
        "stdout" => "fd@1",
        "stderr" => "fd@2",
        t => t,
    };
    if let Some(n) = t.strip_prefix("fd@") {
        return n
            .parse::<RawFd>()
            .ok()
            .filter(|n| *n >= 0)
            .map(Dest::Fd)
            .ok_or_else(|| format!("invalid file descriptor '{n}'"));
    }
    for pfx in [
        "ring@",
        "tcp@",
        "tcp4@",
        "tcp6@",
        "sockpair@",
        "uxst@",
        "quic4@",
        "quic6@",
    ] {
        if t.starts_with(pfx) {
            return Err(format!(
                "log target '{t}' is not supported yet by rhaproxy (only UDP, unix datagram sockets, stdout/stderr and fd@)"
            ));
        }
    }
    if let Some(p) = t.strip_prefix("unix@").or(t.strip_prefix("uxdg@")) {
        return RawAddr::from_unix(p, false).map(Dest::Unix).map_err(|e| e.to_string());
    }
    if let Some(p) = t.strip_prefix("abns@") {
        return RawAddr::from_unix(p, true).map(Dest::Unix).map_err(|e| e.to_string());
    }
    if t.starts_with('/') {
        return RawAddr::from_unix(t, false).map(Dest::Unix).map_err(|e| e.to_string());
    }
    let (inet, v6_only) = if let Some(p) = t.strip_prefix("udp4@") {
        (p, Some(false))
    } else if let Some(p) = t.strip_prefix("udp6@") {
        (p, Some(true))
    } else {
        (t.strip_prefix("udp@").unwrap_or(t), None)
    };
    let a = config::addr::parse_addr(inet, config::addr::AddrUse::Server, false).map_err(|e| e.to_string())?;
    match a {
        config::addr::Addr::Inet { ip, ports, .. } => {
            let port = match ports {
                config::addr::Ports::Range(p, _) => p,
                _ => 514,
            };
            let ip = match (v6_only, ip) {
                (Some(true), std::net::IpAddr::V4(v4)) => std::net::IpAddr::V6(v4.to_ipv6_mapped()),
                (_, ip) => ip,
            };
            Ok(Dest::Inet(RawAddr::from_inet(&SocketAddr::new(ip, port))))
        }
        config::addr::Addr::Unix(p) => RawAddr::from_unix(&p, false).map(Dest::Unix).map_err(|e| e.to_string()),
        config::addr::Addr::Abns(p) => RawAddr::from_unix(&p, true).map(Dest::Unix).map_err(|e| e.to_string()),
        config::addr::Addr::Fd(n) => Ok(Dest::Fd(n)),
    }
}

impl Target {
    /// Compiles the words after `log` (target first).
    pub fn parse(words: &[String]) -> Result<Target, String> {
        let arg = |i: usize| words.get(i).map(|s| s.as_str()).unwrap_or("");
        let dest = dest_of(arg(0))?;
        let mut i = 1;
        let mut maxlen = 1024;
        if arg(i) == "len" {
            let n: i64 = arg(i + 1).parse().unwrap_or(0);
            if !(80..=65535).contains(&n) {
                return Err(format!(
                    "invalid log length '{}', must be between 80 and 65535",
                    arg(i + 1)
                ));
            }
            maxlen = n as usize;
            i += 2;
        }
        let mut format = Format::Unspec;
        if arg(i) == "format" {
            format = match arg(i + 1) {
                "local" => Format::Local,
                "rfc3164" => Format::Rfc3164,
                "rfc5424" => Format::Rfc5424,
                "priority" => Format::Priority,
                "short" => Format::Short,
                "timed" => Format::Timed,
                "iso" => Format::Iso,
                "raw" => Format::Raw,
                f => return Err(format!("unknown log format '{f}'")),
            };
            i += 2;
        }
        let mut sample = None;
        if arg(i) == "sample" {
            sample = Some(Mutex::new(parse_ranges(arg(i + 1))?));
            i += 2;
        }
        let facility = FACILITIES
            .iter()
            .position(|f| *f == arg(i))
            .ok_or_else(|| format!("unknown log facility '{}'", arg(i)))? as u8;
        i += 1;
        let mut level = 7;
        if !arg(i).is_empty() {
            level = LEVELS
                .iter()
                .position(|l| *l == arg(i))
                .ok_or_else(|| format!("unknown optional log level '{}'", arg(i)))? as u8;
            i += 1;
        }
        let mut minlevel = 0;
        if !arg(i).is_empty() {
            minlevel = LEVELS
                .iter()
                .position(|l| *l == arg(i))
                .ok_or_else(|| format!("unknown optional minimum log level '{}'", arg(i)))?
                as u8;
            i += 1;
        }
        if !arg(i).is_empty() {
            return Err(format!("cannot handle unexpected argument '{}'", arg(i)));
        }
        Ok(Target {
            dest,
            maxlen,
            format,
            facility,
            level,
            minlevel,
            sample,
            fd_lock: Mutex::new(()),
        })
    }
}

/// Compiles the `log` lines of a section, `log global` pulling in the
/// global ones.
pub fn targets(lines: &[LogTarget], global: &[LogTarget]) -> Result<Vec<Target>, String> {
    let mut out = Vec::new();
    for l in lines {
        let list: Vec<&LogTarget> = if l.target == "global" {
            global.iter().collect()
        } else {
            vec![l]
        };
        for g in list {
            out.push(Target::parse(&g.words).map_err(|e| format!("parsing [{}] : log : {e}", l.loc))?);
        }
    }
    Ok(out)
}

/// A proxy's logging setup, compiled once.
#[derive(Default)]
pub struct ProxyLog {
    pub targets: Vec<Target>,
    /// The log-format (from `option httplog/tcplog` or `log-format`);
    /// None without one: only the "Connect from" line is sent at accept.
    pub fmt: Option<LogFmt>,
    pub needs: Needs,
    pub tag: Vec<u8>,
    pub send_hostname: Option<Vec<u8>>,
    pub dontlognull: bool,
    pub dontlog_normal: bool,
    pub separate_errors: bool,
    pub logasap: bool,
    /// Lines sent (%lc).
    pub count: AtomicU64,
    pub uid_fmt: Option<LogFmt>,
    pub uid_needs: Needs,
    pub uid_hdr: Option<Vec<u8>>,
}

pub const HTTPLOG: &str =
    "%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS %tsc %ac/%fc/%bc/%sc/%rc %sq/%bq %hr %hs %{+Q}r";
pub const HTTPLOG_CLF: &str = "%{+Q}o %{-Q}ci - - [%trg] %r %ST %B \"\" \"\" %cp %ms %ft %b %s %TR %Tw %Tc %Tr %Ta %tsc %ac %fc %bc %sc %rc %sq %bq %CC %CS %hrl %hsl";
pub const TCPLOG: &str = "%ci:%cp [%t] %ft %b/%s %Tw/%Tc/%Tt %B %ts %ac/%fc/%bc/%sc/%rc %sq/%bq";

/// The program name HAProxy tags lines with by default.
fn progname() -> String {
    std::env::args()
        .next()
        .and_then(|a| a.rsplit('/').next().map(str::to_string))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "haproxy".into())
}

/// This host's name (%H, `log-send-hostname` without argument).
pub fn hostname() -> &'static str {
    static H: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    H.get_or_init(|| {
        let mut b = [0u8; 256];
        // SAFETY: the buffer is live and its length is passed.
        let r = unsafe { libc::gethostname(b.as_mut_ptr() as *mut libc::c_char, b.len()) };
        if r != 0 {
            return String::new();
        }
        let n = b.iter().position(|&c| c == 0).unwrap_or(b.len());
        String::from_utf8_lossy(&b[..n]).into_owned()
    })
}

impl ProxyLog {
    /// Compiles a proxy's log setup. Errors name file:line.
    pub fn build(cfg: &Config, p: &Proxy) -> Result<ProxyLog, String> {
        let g = &cfg.global;
        let http = p.mode == Mode::Http;
        let mut pl = ProxyLog {
            tag: p
                .log_tag
                .clone()
                .or(g.log_tag.clone())
                .unwrap_or_else(progname)
                .into_bytes(),
            send_hostname: g.log_send_hostname.as_ref().map(|h| {
                if h.is_empty() {
                    hostname().as_bytes().to_vec()
                } else {
                    h.as_bytes().to_vec()
                }
            }),
            dontlognull: p.options.dontlognull,
            dontlog_normal: p.options.dontlog_normal,
            separate_errors: p.options.log_separate_errors,
            logasap: p.options.logasap,
            uid_hdr: p.unique_id_header.as_ref().map(|h| h.as_bytes().to_vec()),
            ..ProxyLog::default()
        };
        if let Some(u) = &p.unique_id_format {
            let loc = p.unique_id_format_loc.as_ref().unwrap_or(&p.loc);
            let f = LogFmt::parse_log(u, ParseOpts::unique_id(http))
                .map_err(|e| format!("Parsing [{loc}]: failed to parse unique-id : {e}."))?;
            pl.uid_needs = f.needs();
            pl.uid_fmt = Some(f);
        }
        if p.no_log {
            return Ok(pl);
        }
        // Backends log too: server state changes and health checks.
        pl.targets = targets(&p.logs, &g.logs)?;
        if !p.cap.frontend {
            return Ok(pl);
        }
        let fmt_str = match (&p.log_format, p.options.httplog, p.options.tcplog) {
            (Some(f), _, _) => Some(f.as_str()),
            (None, Some(clf), _) if http => Some(if clf { HTTPLOG_CLF } else { HTTPLOG }),
            (None, Some(_), _) | (None, None, true) => Some(TCPLOG),
            _ => None,
        };
        if let Some(f) = fmt_str {
            let loc = p.log_format_loc.as_ref().unwrap_or(&p.loc);
            let f = LogFmt::parse_log(f, ParseOpts::log(http))
                .map_err(|e| format!("Parsing [{loc}]: failed to parse log-format : {e}."))?;
            pl.needs = f.needs();
            if pl.logasap {
                pl.needs.bytes = false;
            }
            pl.fmt = Some(f);
        }
        Ok(pl)
    }

    /// Whether streams of this frontend produce log lines.
    #[inline]
    pub fn enabled(&self) -> bool {
        self.fmt.is_some() && !self.targets.is_empty()
    }

    /// The request line must be kept (for the log line or the unique id).
    pub fn wants_uri(&self) -> bool {
        (self.enabled() && (self.needs.req_line || self.needs.samples)) || self.uid_needs.req_line
    }

    /// Requests are numbered (%rt).
    pub fn wants_counter(&self) -> bool {
        (self.enabled() && self.needs.counter) || self.uid_needs.counter
    }
}

// ---------------- sending ----------------

/// This thread's sockets and buffers: created on first use, reused for
/// every line.
struct Tl {
    inet4: RawFd,
    inet6: RawFd,
    unix: RawFd,
    hdr: Vec<u8>,
    line: Vec<u8>,
    tmp: Vec<u8>,
    /// "Mon dd HH:MM:SS " of `legacy_sec`.
    legacy: [u8; 16],
    legacy_sec: i64,
}

impl Drop for Tl {
    fn drop(&mut self) {
        for fd in [self.inet4, self.inet6, self.unix] {
            if fd >= 0 {
                crate::sock::close_raw(fd);
            }
        }
    }
}

thread_local! {
    static TL: RefCell<Tl> = RefCell::new(Tl {
        inet4: -1,
        inet6: -1,
        unix: -1,
        hdr: Vec::with_capacity(128),
        line: Vec::with_capacity(1024),
        tmp: Vec::new(),
        legacy: [0; 16],
        legacy_sec: i64::MIN,
    });
}

fn wall_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

fn push_num(out: &mut Vec<u8>, v: u64) {
    use std::io::Write;
    let _ = write!(out, "{v}");
}

/// `YYYY-MM-DDTHH:MM:SS.uuuuuu+hh:mm` in local time.
fn iso_time(out: &mut Vec<u8>, us: i64) {
    use std::io::Write;
    let tm = crate::logfmt::localtime(us.div_euclid(1_000_000));
    let off = tm.6;
    let _ = write!(
        out,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}{}{:02}:{:02}",
        tm.0,
        tm.1 + 1,
        tm.2,
        tm.3,
        tm.4,
        tm.5,
        us.rem_euclid(1_000_000),
        if off < 0 { '-' } else { '+' },
        off.unsigned_abs() / 3600,
        off.unsigned_abs() / 60 % 60
    );
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Builds the syslog header of `format` (HAProxy's build_log_header).
#[allow(clippy::too_many_arguments)]
fn header(
    out: &mut Vec<u8>,
    legacy: &mut ([u8; 16], i64),
    format: Format,
    facility: u8,
    level: u8,
    host: Option<&[u8]>,
    tag: &[u8],
    pid: u32,
    now_us: i64,
) {
    let format = match format {
        Format::Unspec if host.is_some() => Format::Rfc3164,
        Format::Unspec => Format::Local,
        f => f,
    };
    let prio = match format {
        Format::Local | Format::Rfc3164 | Format::Rfc5424 | Format::Priority => {
            Some(facility as u64 * 8 + level as u64)
        }
        Format::Timed | Format::Short => Some(level as u64),
        _ => None,
    };
    if let Some(p) = prio {
        out.push(b'<');
        push_num(out, p);
        out.push(b'>');
    }
    match format {
        Format::Local | Format::Rfc3164 => {
            let sec = now_us.div_euclid(1_000_000);
            if legacy.1 != sec {
                use std::io::Write;
                let tm = crate::logfmt::localtime(sec);
                let mut w = &mut legacy.0[..];
                let _ = write!(w, "{} {:2} {:02}:{:02}:{:02} ", MONTHS[tm.1], tm.2, tm.3, tm.4, tm.5);
                legacy.1 = sec;
            }
            out.extend_from_slice(&legacy.0);
        }
        Format::Rfc5424 => {
            out.extend_from_slice(b"1 ");
            iso_time(out, now_us);
            out.push(b' ');
        }
        Format::Timed | Format::Iso => {
            iso_time(out, now_us);
            out.push(b' ');
        }
        _ => {}
    }
    match format {
        Format::Rfc3164 | Format::Local => {
            if format == Format::Rfc3164 {
                out.extend_from_slice(host.unwrap_or(b"localhost"));
                out.push(b' ');
            }
            if !tag.is_empty() {
                out.extend_from_slice(tag);
                out.push(b'[');
                push_num(out, pid as u64);
                out.extend_from_slice(b"]: ");
            }
        }
        Format::Rfc5424 => {
            for f in [host, Some(tag).filter(|t| !t.is_empty())] {
                out.extend_from_slice(f.unwrap_or(b"-"));
                out.push(b' ');
            }
            push_num(out, pid as u64);
            // No message id; the structured data is HAProxy's default "-".
            out.extend_from_slice(b" - - ");
        }
        _ => {}
    }
}

fn dgram_socket(slot: &mut RawFd, family: i32) -> Option<RawFd> {
    if *slot < 0 {
        let fd = crate::sock::socket(family, libc::SOCK_DGRAM).ok()?;
        // Nothing is ever read from it.
        let _ = crate::sock::setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, 0);
        *slot = fd;
    }
    Some(*slot)
}

/// Sends one message to one target (header, message cut to the target's
/// length, LF), never blocking.
#[allow(clippy::too_many_arguments)]
fn send_one(tl: &mut Tl, t: &Target, level: u8, tag: &[u8], host: Option<&[u8]>, pid: u32, msg: &[u8], now_us: i64) {
    let mut hdr = std::mem::take(&mut tl.hdr);
    hdr.clear();
    let mut legacy = (tl.legacy, tl.legacy_sec);
    header(
        &mut hdr,
        &mut legacy,
        t.format,
        t.facility,
        level,
        host,
        tag,
        pid,
        now_us,
    );
    (tl.legacy, tl.legacy_sec) = legacy;
    let hlen = hdr.len().min(t.maxlen);
    let mlen = msg.len().min(t.maxlen - hlen);
    let iov = [
        libc::iovec {
            iov_base: hdr.as_ptr() as *mut libc::c_void,
            iov_len: hlen,
        },
        libc::iovec {
            iov_base: msg.as_ptr() as *mut libc::c_void,
            iov_len: mlen,
        },
        libc::iovec {
            iov_base: b"\n".as_ptr() as *mut libc::c_void,
            iov_len: 1,
        },
    ];
    let r = match &t.dest {
        Dest::Inet(a) | Dest::Unix(a) => {
            let fd = match (&t.dest, a.family()) {
                (Dest::Unix(_), _) => dgram_socket(&mut tl.unix, libc::AF_UNIX),
                (_, libc::AF_INET6) => dgram_socket(&mut tl.inet6, libc::AF_INET6),
                _ => dgram_socket(&mut tl.inet4, libc::AF_INET),
            };
            match fd {
                Some(fd) => {
                    // SAFETY: plain data, then filled with pointers to the
                    // live iovecs and address for the duration of the call.
                    let mut m: libc::msghdr = unsafe { std::mem::zeroed() };
                    m.msg_iov = iov.as_ptr() as *mut libc::iovec;
                    m.msg_iovlen = 3;
                    m.msg_name = &a.storage as *const _ as *mut libc::c_void;
                    m.msg_namelen = a.len;
                    // SAFETY: `m` points to live buffers and address.
                    unsafe { libc::sendmsg(fd, &m, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL) }
                }
                None => -1,
            }
        }
        Dest::Fd(fd) => {
            let _g = t.fd_lock.lock().unwrap_or_else(|e| e.into_inner());
            let mut p = libc::pollfd {
                fd: *fd,
                events: libc::POLLOUT,
                revents: 0,
            };
            // SAFETY: one live pollfd, zero timeout: tells whether a write
            // of one line (below PIPE_BUF) would block, without waiting.
            let ready = unsafe { libc::poll(&mut p, 1, 0) } == 1 && p.revents & libc::POLLOUT != 0;
            if ready {
                // SAFETY: the iovecs point to live buffers.
                unsafe { libc::writev(*fd, iov.as_ptr(), 3) }
            } else {
                // SAFETY: sets errno so the drop is counted below.
                unsafe { *libc::__errno_location() = libc::EAGAIN };
                -1
            }
        }
    };
    if r < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::WouldBlock {
        DROPPED.fetch_add(1, Relaxed);
    }
    tl.hdr = hdr;
}

/// Sends `msg` to every target of `pl` accepting `level`.
fn send_all(tl: &mut Tl, pl: &ProxyLog, level: u8, msg: &[u8]) {
    let pid = std::process::id();
    let now = wall_us();
    for t in &pl.targets {
        if level > t.level {
            continue;
        }
        if let Some(s) = &t.sample {
            if !s.lock().unwrap_or_else(|e| e.into_inner()).next() {
                continue;
            }
        }
        send_one(
            tl,
            t,
            level.max(t.minlevel),
            &pl.tag,
            pl.send_hostname.as_deref(),
            pid,
            msg,
            now,
        );
    }
}

/// A free-form line (the "Connect from" log of proxies without format).
pub fn send_text(pl: &ProxyLog, level: u8, msg: &[u8]) {
    TL.with(|tl| send_all(&mut tl.borrow_mut(), pl, level, msg));
}

// ---------------- streams ----------------

/// The timers of a stream's current transaction (the part of HAProxy's
/// `strm_logs` its `stream_update_time_stats` reads too): milliseconds
/// from `start`, -1 while the event has not happened. Every stream keeps
/// them, logging or not, because `show stat`'s qtime/ctime/rtime/ttime
/// averages come from them; setting one is a subtraction on the loop's
/// cached clock.
#[derive(Clone, Copy, Debug)]
pub struct TxnTimes {
    /// Start of the transaction (monotonic ms): the accept, or the end of
    /// the previous request on a keep-alive connection.
    pub start: u64,
    /// The request was fully received (`Tq` + idle).
    pub t_request: i64,
    /// Left the queue / a server was chosen.
    pub t_queue: i64,
    /// Connected to the server (or reused a connection).
    pub t_connect: i64,
    /// The response head arrived (HTTP).
    pub t_data: i64,
    /// Already added to the time averages (a transaction counts once).
    pub counted: bool,
}

impl TxnTimes {
    pub fn new(now: u64) -> TxnTimes {
        TxnTimes {
            start: now,
            t_request: -1,
            t_queue: -1,
            t_connect: -1,
            t_data: -1,
            counted: false,
        }
    }

    #[inline]
    pub fn since(&self, now: u64) -> i64 {
        now.saturating_sub(self.start) as i64
    }
}

/// What a stream records for its log line beyond its [`TxnTimes`]
/// (HAProxy's `strm_logs`).
#[derive(Debug)]
pub struct StrmLogs {
    /// A transaction has started and is not logged yet.
    pub pending: bool,
    /// Idle time before the request's first byte (ms from the
    /// transaction's start), -1 until then.
    pub t_idle: i64,
    /// Bytes received from the client in this transaction.
    pub bytes_in: u64,
    /// Bytes sent to the client before this transaction started.
    pub out_mark: u64,
    pub srv_queue: i64,
    pub be_queue: i64,
    pub redispatched: bool,
    /// The request was refused before reaching a backend (a body wait
    /// that timed out in the frontend): the frontend is logged as backend.
    pub no_be: bool,
    pub srv_addr: Option<SocketAddr>,
    pub be_src: Option<SocketAddr>,
    pub uniq_id: u64,
    /// The request line (`%r`), captured when the frontend logs it.
    pub uri: Vec<u8>,
    pub has_uri: bool,
    /// The request head was parsed. Before that, HAProxy's H1 layer logs
    /// the error for the session, with no stream: no captures (%hr/%hs).
    pub head_parsed: bool,
    /// The unique id, once generated.
    pub uid: Vec<u8>,
    pub has_uid: bool,
}

thread_local! {
    /// Log states of ended streams, reused by new ones (their buffers keep
    /// their capacity): logging frontends allocate nothing per stream.
    #[allow(clippy::vec_box)] // the boxes move in and out of streams
    static STRM_POOL: RefCell<Vec<Box<StrmLogs>>> = const { RefCell::new(Vec::new()) };
}

impl Default for StrmLogs {
    fn default() -> StrmLogs {
        StrmLogs::new()
    }
}

impl StrmLogs {
    /// A log state for a stream starting at `now`, from this thread's pool.
    pub fn take() -> Box<StrmLogs> {
        match STRM_POOL.with(|p| p.borrow_mut().pop()) {
            Some(mut b) => {
                let (mut uri, mut uid) = (std::mem::take(&mut b.uri), std::mem::take(&mut b.uid));
                uri.clear();
                uid.clear();
                *b = StrmLogs {
                    uri,
                    uid,
                    ..StrmLogs::new()
                };
                b
            }
            None => Box::new(StrmLogs::new()),
        }
    }

    /// Gives a stream's log state back to this thread's pool.
    pub fn give(b: Box<StrmLogs>) {
        STRM_POOL.with(|p| {
            let mut p = p.borrow_mut();
            if p.len() < 4096 {
                p.push(b);
            }
        });
    }

    pub fn new() -> StrmLogs {
        StrmLogs {
            pending: false,
            t_idle: -1,
            bytes_in: 0,
            out_mark: 0,
            srv_queue: 0,
            be_queue: 0,
            redispatched: false,
            no_be: false,
            srv_addr: None,
            be_src: None,
            uniq_id: 0,
            uri: Vec::new(),
            has_uri: false,
            head_parsed: false,
            uid: Vec::new(),
            has_uid: false,
        }
    }

    /// Starts the next transaction of a keep-alive connection.
    pub fn next_txn(&mut self, out_total: u64) {
        self.pending = false;
        self.t_idle = -1;
        self.bytes_in = 0;
        self.out_mark = out_total;
        self.srv_queue = 0;
        self.be_queue = 0;
        self.redispatched = false;
        self.no_be = false;
        self.has_uri = false;
        self.head_parsed = false;
        self.has_uid = false;
    }

    /// Captures the request line as HAProxy's `%r` shows it: method, URI
    /// and version separated by single spaces, cut at `tune.http.logurilen`.
    pub fn capture_uri(&mut self, method: &[u8], uri: &[u8], version: &[u8]) {
        const MAX: usize = 1023;
        self.uri.clear();
        for (k, part) in [method, uri, version].into_iter().enumerate() {
            if k > 0 && !part.is_empty() {
                self.uri.push(b' ');
            }
            self.uri.extend_from_slice(part);
        }
        self.uri.truncate(MAX);
        self.has_uri = true;
    }
}

fn lg_head_parsed(s: &Stream) -> bool {
    s.logs.as_deref().is_some_and(|l| l.head_parsed)
}

/// Request counter shared by all threads (%rt, HAProxy's global.req_count).
static REQ_COUNT: AtomicU64 = AtomicU64::new(0);

pub fn next_req_id() -> u64 {
    REQ_COUNT.fetch_add(1, Relaxed)
}

/// What the stream side supplies to build a line.
pub struct LineCtx<'a> {
    pub info: LogInfo<'a>,
    /// HAProxy's "error" condition: drives dontlog-normal and
    /// log-separate-errors.
    pub err: bool,
}

/// Builds and sends the log line of a transaction.
pub fn emit(pl: &ProxyLog, cx: &LineCtx<'_>, smp: &mut dyn FnMut(&Expr, &mut Vec<u8>) -> bool) {
    let Some(fmt) = &pl.fmt else { return };
    if !cx.err && pl.dontlog_normal {
        return;
    }
    let level = if cx.err && pl.separate_errors {
        LOG_ERR
    } else {
        LOG_INFO
    };
    let max = pl.targets.iter().map(|t| t.maxlen).max().unwrap_or(1024);
    TL.with(|tl| {
        let mut tl = tl.borrow_mut();
        let mut line = std::mem::take(&mut tl.line);
        line.clear();
        let mut info = cx.info.clone();
        info.log_count = pl.count.load(Relaxed);
        fmt.render_log(&info, smp, max, &mut line);
        if !line.is_empty() {
            pl.count.fetch_add(1, Relaxed);
            send_all(&mut tl, pl, level, &line);
        }
        tl.line = line;
    });
}

/// Renders a unique id into `out` (no length limit beyond HAProxy's 128).
pub fn render_uid(
    fmt: &LogFmt,
    info: &LogInfo<'_>,
    smp: &mut dyn FnMut(&Expr, &mut Vec<u8>) -> bool,
    out: &mut Vec<u8>,
) {
    out.clear();
    fmt.render_log(info, smp, 128, out);
}

/// A scratch buffer of this thread for sample values.
pub fn with_tmp<R>(f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
    TL.with(|tl| {
        let mut v = std::mem::take(&mut tl.borrow_mut().tmp);
        v.clear();
        let r = f(&mut v);
        tl.borrow_mut().tmp = v;
        r
    })
}

/// Wall clock (µs) of a monotonic instant `mono` in the past.
pub fn wall_of(mono: u64, now_mono: u64) -> i64 {
    wall_us() - now_mono.saturating_sub(mono) as i64 * 1000
}

// ---------------- stream hooks ----------------

/// A stream was accepted by a frontend with log targets: TCP streams
/// wait for their line; without a format, a TCP frontend sends HAProxy's
/// "Connect from" line now (HTTP ones with each request, see
/// [`connect_from`]).
pub fn on_accept(s: &mut Stream, fe: &ProxyRt, listener_id: u32) {
    let pl = &fe.log;
    if pl.enabled() || pl.uid_fmt.is_some() {
        let mut l = StrmLogs::take();
        if s.mode == Mode::Tcp && pl.enabled() {
            l.pending = true;
            if pl.needs.counter {
                l.uniq_id = next_req_id();
            }
        }
        s.logs = Some(l);
    }
    if s.mode == Mode::Tcp && pl.fmt.is_none() && !pl.targets.is_empty() {
        connect_from(s, fe, listener_id);
    }
}

/// The "Connect from" line of a frontend with log targets but no format.
pub fn connect_from(s: &mut Stream, fe: &ProxyRt, listener_id: u32) {
    use std::io::Write;
    let mode = if fe.mode == Mode::Http { "HTTP" } else { "TCP" };
    let mut line = Vec::with_capacity(128);
    match s.src {
        Some(src) => {
            s.ensure_dst();
            let _ = match s.dst {
                Some(d) => write!(
                    line,
                    "Connect from {}:{} to {}:{} ",
                    src.ip(),
                    src.port(),
                    d.ip(),
                    d.port()
                ),
                None => write!(
                    line,
                    "Connect from {}:{} to undetermined address:0 ",
                    src.ip(),
                    src.port()
                ),
            };
            let _ = write!(line, "({}/{mode})", fe.name);
        }
        None => {
            let _ = write!(line, "Connect to unix:{listener_id} ({}/{mode})", fe.name);
        }
    }
    send_text(&fe.log, LOG_INFO, &line);
}

/// The stream ends with a transaction not logged yet.
pub fn stream_end(s: &mut Stream, env: &mut Env) {
    let pl = &env.rt.proxies[s.fe].log;
    if let Some(l) = s.logs.as_deref_mut() {
        l.pending = false;
    }
    if pl.enabled() {
        log_txn(s, env);
    }
}

/// Logs the current transaction of `s` now (end of an HTTP transaction,
/// `option logasap`, or the end of the stream).
pub fn log_txn(s: &mut Stream, env: &mut Env) {
    let rt = env.rt;
    let fe = &rt.proxies[s.fe];
    let pl = &fe.log;
    let now = env.now();
    let Some(bytes_in) = s.logs.as_deref().map(|l| l.bytes_in) else {
        return;
    };
    if pl.dontlognull && bytes_in == 0 {
        return;
    }
    if pl.needs.fe_addr {
        s.ensure_dst();
    }
    let no_be = s.logs.as_deref().is_some_and(|l| l.no_be);
    let be = s.be.filter(|_| !no_be).map(|b| &rt.proxies[b]);
    let srv = match (be, s.srv) {
        (Some(b), Some(i)) => Some(&b.servers[i]),
        _ => None,
    };
    let status = match (s.mode, s.http_status()) {
        (Mode::Tcp, _) => 0,
        (_, 0) => -1,
        (_, st) => st as i64,
    };
    let retries = match be {
        Some(b) if s.be.is_some() => b.cfg.retries as i64 - s.retries_left as i64,
        _ => 0,
    };
    let vals = match (&pl.fmt, pl.needs.samples) {
        (Some(f), true) => eval_samples(s, rt, f, status),
        _ => Vec::new(),
    };
    // Capture slots (%hr, %hs): the frontend's layout, filled by the
    // transaction when it got that far.
    let lay = &fe.caps;
    let mut req_caps: Vec<Option<&[u8]>> = Vec::new();
    let mut res_caps: Vec<Option<&[u8]>> = Vec::new();
    if !lay.is_empty() && (s.mode != Mode::Http || lg_head_parsed(s)) {
        req_caps = vec![None; lay.req.len()];
        res_caps = vec![None; lay.res.len()];
        if let Some(t) = s.http.as_deref() {
            for (d, v) in req_caps.iter_mut().zip(t.captures_req()) {
                *d = v;
            }
            for (d, v) in res_caps.iter_mut().zip(t.captures_res()) {
                *d = v;
            }
        }
    }
    let Some(lg) = s.logs.as_deref() else {
        return;
    };
    let tm = &s.tm;
    let t_close = if pl.logasap && s.mode == Mode::Http && tm.t_data >= 0 {
        tm.t_data
    } else if pl.logasap && s.mode == Mode::Tcp && tm.t_connect >= 0 {
        tm.t_connect
    } else {
        tm.since(now)
    };
    let err = lg.redispatched
        || !matches!(s.term.who, 0 | b'L')
        || (s.term.who == 0 && retries > 0)
        || (s.mode == Mode::Http && status >= 500);
    let tls = s.cli_tls.as_deref();
    let info = LogInfo {
        fe_ssl: tls.is_some(),
        ssl_ver: tls.and_then(|t| t.protocol()),
        ssl_cipher: tls.and_then(|t| t.cipher()),
        fe_name: &fe.name,
        be_name: be.map_or(fe.name.as_str(), |b| b.name.as_str()),
        srv_name: srv.map_or("<NOSRV>", |v| v.name.as_str()),
        src: s.src,
        dst: s.dst,
        be_src: lg.be_src,
        srv_addr: srv.and(lg.srv_addr),
        listener_id: 0,
        accept_us: wall_of(tm.start, now),
        t_handshake: 0,
        t_idle: lg.t_idle,
        t_request: tm.t_request,
        t_queue: tm.t_queue,
        t_connect: tm.t_connect,
        t_data: tm.t_data,
        t_close,
        status,
        bytes_in: lg.bytes_in,
        bytes_out: s.res.total.saturating_sub(lg.out_mark),
        final_bytes: pl.needs.bytes,
        be_http: be.map_or(fe.mode, |b| b.mode) == Mode::Http,
        term: (s.term.who, s.term.when),
        ck: match (s.http.as_deref(), be.and_then(|b| b.cookie.as_ref())) {
            (Some(t), Some(o)) if o.any_mode() => (t.ck.ck.log_char(), t.ck.sck.log_char()),
            _ => (0, 0),
        },
        cli_cookie: s.http.as_deref().and_then(|t| t.ck.cli_cookie()),
        srv_cookie: s.http.as_deref().and_then(|t| t.ck.srv_cookie()),
        actconn: rt.curr_conns.load(Relaxed) as u64,
        feconn: fe.feconn.load(Relaxed) as u64,
        // HAProxy logs once the stream has left its backend and server.
        beconn: be.map_or(0, |b| (b.beconn.load(Relaxed) as u64).saturating_sub(1)),
        srvconn: srv.map_or(0, |v| (v.served.load(Relaxed) as u64).saturating_sub(s.has_slot as u64)),
        retries,
        redispatched: lg.redispatched,
        srv_queue: lg.srv_queue,
        be_queue: lg.be_queue,
        uri: lg.has_uri.then_some(&lg.uri[..]),
        req_caps: &req_caps,
        res_caps: &res_caps,
        uniq_id: lg.uniq_id,
        log_count: 0,
        pid: rt.pid,
        hostname: hostname(),
        unique_id: if lg.has_uid { &lg.uid } else { b"" },
    };
    let cx = LineCtx { info, err };
    let mut vals = vals.into_iter();
    emit(pl, &cx, &mut |_, out| match vals.next().flatten() {
        Some(v) => {
            out.extend_from_slice(&v);
            true
        }
        None => false,
    });
}

/// Evaluates the samples of a log format in order, before the line is
/// built (they need the transaction mutably, the line reads it).
fn eval_samples(s: &mut Stream, rt: &crate::runtime::Runtime, fmt: &LogFmt, status: i64) -> Vec<Option<Vec<u8>>> {
    let fe = &rt.proxies[s.fe];
    let Some(lg) = s.logs.take() else {
        return Vec::new();
    };
    let be = s.be.filter(|_| !lg.no_be).map(|b| &rt.proxies[b]);
    let srv = match (be, s.srv) {
        (Some(b), Some(i)) => Some(&b.servers[i]),
        _ => None,
    };
    let info = crate::sample::Info {
        fe_name: &fe.name,
        be_name: be.map_or("", |b| b.name.as_str()),
        srv_name: srv.map_or("", |v| v.name.as_str()),
        fe_id: fe.id,
        be_id: be.map(|b| b.id),
        srv_id: srv.map(|v| v.id),
        so_name: rt.so_names.get(s.lidx).and_then(|n| n.as_deref()),
        last_rule: s.last_rule,
        src: s.src,
        dst: s.dst,
        first_req: false,
        unique_id: if lg.has_uid { &lg.uid } else { b"" },
        pp: s.pp.as_deref(),
        tls: s.cli_tls.as_deref(),
        stk: Some(&s.stk),
    };
    let uri: &[u8] = if lg.has_uri { &lg.uri } else { b"" };
    let mut parts = uri.splitn(3, |&c| c == b' ');
    let (meth, target) = (parts.next().unwrap_or(b""), parts.next().unwrap_or(b""));
    let mut hdrs = Vec::new();
    let mut edit = crate::sample::Edit::default();
    let mut no_vars = crate::sample::Vars::default();
    let (vars, caps) = crate::stream::http::log_state(&mut s.http);
    let mut scx = crate::sample::Ctx {
        dir: crate::sample::Dir::Res,
        buf: b"",
        hdrs: &mut hdrs,
        line: crate::sample::Line::Res {
            status: status.max(0) as u16,
            reason: Default::default(),
            version: Default::default(),
        },
        edit: &mut edit,
        vars: vars.unwrap_or(&mut no_vars),
        req_meth: meth,
        req_uri: target,
        info,
        caps,
        body: Default::default(),
    };
    let vals = fmt
        .samples()
        .map(|e| {
            e.eval(&mut scx).map(|v| {
                let mut out = Vec::new();
                v.write_to(&mut out);
                out
            })
        })
        .collect();
    s.logs = Some(lg);
    vals
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn targets_parse() {
        let t = Target::parse(&w("127.0.0.1 local0")).unwrap();
        assert!(matches!(t.dest, Dest::Inet(ref a) if a.to_inet() == Some("127.0.0.1:514".parse().unwrap())));
        assert_eq!((t.facility, t.level, t.minlevel, t.maxlen), (16, 7, 0, 1024));
        let t = Target::parse(&w("udp@[::1]:5140 len 200 format rfc5424 local7 notice err")).unwrap();
        assert!(matches!(t.dest, Dest::Inet(ref a) if a.family() == libc::AF_INET6));
        assert_eq!(
            (t.facility, t.level, t.minlevel, t.maxlen, t.format),
            (23, 5, 3, 200, Format::Rfc5424)
        );
        assert!(matches!(Target::parse(&w("stdout user")).unwrap().dest, Dest::Fd(1)));
        assert!(matches!(
            Target::parse(&w("/dev/log daemon")).unwrap().dest,
            Dest::Unix(_)
        ));
        assert!(Target::parse(&w("ring@buf local0"))
            .unwrap_err()
            .contains("not supported yet"));
        assert!(Target::parse(&w("tcp@1.2.3.4:514 local0"))
            .unwrap_err()
            .contains("not supported yet"));
        assert_eq!(
            Target::parse(&w("1.2.3.4 len 20 local0")).unwrap_err(),
            "invalid log length '20', must be between 80 and 65535"
        );
        assert_eq!(
            Target::parse(&w("1.2.3.4 format x local0")).unwrap_err(),
            "unknown log format 'x'"
        );
        assert_eq!(
            Target::parse(&w("1.2.3.4 local9")).unwrap_err(),
            "unknown log facility 'local9'"
        );
        assert_eq!(
            Target::parse(&w("1.2.3.4 local0 info x")).unwrap_err(),
            "unknown optional minimum log level 'x'"
        );
    }

    #[test]
    fn sampling_follows_ranges() {
        let mut s = parse_ranges("1,3:5").unwrap();
        let hits: Vec<bool> = (0..10).map(|_| s.next()).collect();
        assert_eq!(hits, [true, false, true, false, false, true, false, true, false, false]);
        let mut s = parse_ranges("2-3:4").unwrap();
        let hits: Vec<bool> = (0..8).map(|_| s.next()).collect();
        assert_eq!(hits, [false, true, true, false, false, true, true, false]);
        assert!(parse_ranges("1,1:5").is_err());
        assert!(parse_ranges("1-6:5").unwrap_err().contains("greater or equal"));
        assert_eq!(parse_ranges("1").unwrap_err(), "Missing sample size");
    }

    fn hdr(format: Format, host: Option<&[u8]>) -> String {
        let mut out = Vec::new();
        let mut legacy = ([0u8; 16], i64::MIN);
        // 2021-03-04 05:06:07.089012 UTC
        let us = 1_614_834_367_089_012;
        header(&mut out, &mut legacy, format, 16, 6, host, b"haproxy", 42, us);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn headers_by_format() {
        // Local time depends on TZ: check the shape around it.
        let local = hdr(Format::Unspec, None);
        assert!(
            local.starts_with("<134>Mar  4 ") || local.starts_with("<134>Mar  5 ") || local.starts_with("<134>Mar  3 "),
            "{local}"
        );
        assert!(local.ends_with(" haproxy[42]: ") && local.len() == "<134>Mar  4 05:06:07 haproxy[42]: ".len());
        let h = hdr(Format::Unspec, Some(b"h1"));
        assert!(h.ends_with(":07 h1 haproxy[42]: "), "{h}");
        assert!(hdr(Format::Rfc3164, None).ends_with(":07 localhost haproxy[42]: "));
        let r = hdr(Format::Rfc5424, None);
        assert!(
            r.starts_with("<134>1 2021-03-0") && r.contains(":07.089012") && r.ends_with(" - haproxy 42 - - "),
            "{r}"
        );
        assert_eq!(hdr(Format::Raw, None), "");
        assert_eq!(hdr(Format::Priority, None), "<134>");
        assert_eq!(hdr(Format::Short, None), "<6>");
        let t = hdr(Format::Timed, None);
        assert!(t.starts_with("<6>2021-03-0") && t.ends_with(' '), "{t}");
        let i = hdr(Format::Iso, None);
        assert!(
            i.starts_with("2021-03-0") && i.len() == "2021-03-04T05:06:07.089012+00:00 ".len(),
            "{i}"
        );
    }

    #[test]
    fn lines_reach_a_udp_target_and_are_cut_to_len() {
        let rx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
        let port = rx.local_addr().unwrap().port();
        let pl = ProxyLog {
            targets: vec![
                Target::parse(&w(&format!("127.0.0.1:{port} format raw local0"))).unwrap(),
                Target::parse(&w(&format!("127.0.0.1:{port} len 80 format short local0 notice"))).unwrap(),
            ],
            tag: b"t".to_vec(),
            ..ProxyLog::default()
        };
        let long = "x".repeat(200);
        send_text(&pl, LOG_INFO, long.as_bytes());
        let mut b = [0u8; 2048];
        let n = rx.recv(&mut b).unwrap();
        assert_eq!(&b[..n], format!("{long}\n").as_bytes());
        // The second target only takes notice and above.
        send_text(&pl, 5, b"hello");
        let n = rx.recv(&mut b).unwrap();
        assert_eq!(&b[..n], b"hello\n");
        let n = rx.recv(&mut b).unwrap();
        assert_eq!(&b[..n], b"<5>hello\n");
        send_text(&pl, 5, long.as_bytes());
        let n = rx.recv(&mut b).unwrap();
        assert_eq!(n, 201);
        let n = rx.recv(&mut b).unwrap();
        // 80 bytes including the header, then the LF.
        assert_eq!(n, 81);
        assert!(b[..n].starts_with(b"<5>xxx") && b[n - 1] == b'\n');
    }
}
