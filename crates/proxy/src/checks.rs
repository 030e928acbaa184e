//! Health checks (HAProxy 2.6's `check.c` / `tcpcheck.c`): the default
//! layer-4 connect check, `option httpchk` with `http-check send|expect`,
//! and `option tcp-check` with `tcp-check connect|send|send-binary|expect`.
//!
//! Each checked server belongs to one thread (its position among checked
//! servers modulo the thread count), which runs the check's timer and its
//! non-blocking connection on the reactor. A result moves the server's
//! health counter as HAProxy does (`rise`/`fall`), and crossing a limit
//! marks the server DOWN or UP: the LB follows the `up` flag, queued
//! streams are redistributed (`option redispatch`) or grabbed from the
//! backend queue, and the state change is reported on stderr and to the
//! proxy's log targets with HAProxy's texts.
//!
//! This module owns the check rules, the check connections and the
//! servers' check state. It must not touch streams (it only hands queue
//! slots through `Msg::Dequeued`) nor the LB internals.

use crate::queue::Pending;
use crate::regex::Regex;
use crate::runtime::{ProxyRt, Runtime, ServerRt, Target};
use crate::worker::{token, Msg, K_CHECK};
use config::model::{Proxy, RawLine};
use reactor::{Cx, Events, TimerId};
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;

/// HAProxy's `HCHK_STATUS_*`, with their numeric values (as printed by
/// `show servers state`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Unknown = 0,
    Ini = 1,
    SockErr = 5,
    L4Ok = 6,
    L4Tout = 7,
    L4Con = 8,
    L6Ok = 9,
    L6Tout = 10,
    L6Rsp = 11,
    L7Tout = 12,
    L7Rsp = 13,
    L7Ok = 15,
    L7Sts = 17,
    ProcErr = 18,
    ProcTout = 19,
    ProcOk = 20,
}

impl Status {
    /// Short name (`check_status` column).
    pub fn info(self) -> &'static str {
        match self {
            Status::Unknown => "UNK",
            Status::Ini => "INI",
            Status::SockErr => "SOCKERR",
            Status::L4Ok => "L4OK",
            Status::L4Tout => "L4TOUT",
            Status::L4Con => "L4CON",
            Status::L6Ok => "L6OK",
            Status::L6Tout => "L6TOUT",
            Status::L6Rsp => "L6RSP",
            Status::L7Tout => "L7TOUT",
            Status::L7Rsp => "L7RSP",
            Status::L7Ok => "L7OK",
            Status::L7Sts => "L7STS",
            Status::ProcErr => "PROCERR",
            Status::ProcTout => "PROCTOUT",
            Status::ProcOk => "PROCOK",
        }
    }
    /// Long description (`check_desc`, the "reason" of state changes).
    pub fn desc(self) -> &'static str {
        match self {
            Status::Unknown => "Unknown",
            Status::Ini => "Initializing",
            Status::SockErr => "Socket error",
            Status::L4Ok => "Layer4 check passed",
            Status::L4Tout => "Layer4 timeout",
            Status::L4Con => "Layer4 connection problem",
            Status::L6Ok => "Layer6 check passed",
            Status::L6Tout => "Layer6 timeout",
            Status::L6Rsp => "Layer6 invalid response",
            Status::L7Tout => "Layer7 timeout",
            Status::L7Rsp => "Layer7 invalid response",
            Status::L7Ok => "Layer7 check passed",
            Status::L7Sts => "Layer7 wrong status",
            Status::ProcErr => "External check error",
            Status::ProcTout => "External check timeout",
            Status::ProcOk => "External check passed",
        }
    }
    fn passed(self) -> bool {
        matches!(self, Status::L4Ok | Status::L6Ok | Status::L7Ok | Status::ProcOk)
    }
    /// A status name of `ok-status`/`error-status`/`tout-status`.
    fn by_name(n: &str) -> Option<Status> {
        [
            Status::L4Ok,
            Status::L4Tout,
            Status::L4Con,
            Status::L6Ok,
            Status::L6Tout,
            Status::L6Rsp,
            Status::L7Tout,
            Status::L7Rsp,
            Status::L7Ok,
            Status::L7Sts,
        ]
        .into_iter()
        .find(|s| s.info() == n)
    }
    /// `CHK_RES_*`: 0 unknown, 2 failed, 3 passed.
    pub fn result(self) -> u32 {
        match self {
            Status::Unknown | Status::Ini => 0,
            s if s.passed() => 3,
            _ => 2,
        }
    }
    /// Layer-7 statuses carry an HTTP code.
    fn has_code(self) -> bool {
        (self as u32) > 14
    }
}

/// The last check's report, for stats and state-change messages.
#[derive(Clone, Debug)]
pub struct Report {
    pub status: Status,
    pub code: u32,
    /// Milliseconds, -1 before any check.
    pub duration: i64,
    pub desc: String,
}

/// A server's check state, shared with the stats dumps.
pub struct CheckState {
    /// `check` is set on the server (HAProxy's CHK_ST_CONFIGURED|ENABLED).
    pub enabled: bool,
    /// 0..rise+fall-1; the server counts as healthy from `rise` on.
    pub health: AtomicU32,
    pub in_progress: AtomicBool,
    pub report: Mutex<Report>,
    pub failed: AtomicU64,
    pub down_trans: AtomicU64,
    /// Seconds spent DOWN before the current state.
    pub down_time: AtomicU64,
}

impl CheckState {
    pub fn new(cfg: &config::model::Server) -> CheckState {
        CheckState {
            enabled: cfg.check,
            // Servers start up, one failure away from DOWN (HAProxy).
            health: AtomicU32::new(cfg.rise),
            in_progress: AtomicBool::new(false),
            report: Mutex::new(Report {
                status: if cfg.check { Status::Ini } else { Status::Unknown },
                code: 0,
                duration: -1,
                desc: String::new(),
            }),
            failed: AtomicU64::new(0),
            down_trans: AtomicU64::new(0),
            down_time: AtomicU64::new(0),
        }
    }
    pub fn report(&self) -> Report {
        self.report.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

// ---------------------------------------------------------------------
// Rules

pub enum Match {
    /// Status code ranges (`status 200,300-399`).
    Status(Vec<(u32, u32)>),
    RStatus(Regex),
    /// Substring of the body (http) or of the received data (tcp).
    Str(Vec<u8>),
    RStr(Regex),
    /// A regex over the received data dumped as upper-case hex (`rbinary`).
    RBin(Regex),
}

/// A sample expression over the check's response buffer: the subset of
/// HAProxy's fetches and converters its protocol checks use
/// (`res.payload(<off>,<len>)` then `cut_crlf`, `ltrim(<chars>)`,
/// `rtrim(<chars>)`, `lower`, `upper`).
#[derive(Debug, Clone, PartialEq)]
pub struct ChkExpr {
    off: usize,
    /// 0: to the end of the data.
    len: usize,
    convs: Vec<Conv>,
}

#[derive(Debug, Clone, PartialEq)]
enum Conv {
    CutCrlf,
    Ltrim(Vec<u8>),
    Rtrim(Vec<u8>),
    Lower,
    Upper,
}

/// Splits "a(b),c" at top-level commas.
fn split_top(s: &str) -> Vec<&str> {
    let (mut out, mut depth, mut start, mut quote) = (Vec::new(), 0i32, 0, None);
    for (i, c) in s.char_indices() {
        match c {
            '\'' | '"' if quote == Some(c) => quote = None,
            '\'' | '"' if quote.is_none() => quote = Some(c),
            '(' if quote.is_none() => depth += 1,
            ')' if quote.is_none() => depth -= 1,
            ',' if quote.is_none() && depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

fn unquote(a: &str) -> String {
    let a = a.trim();
    let b = a.as_bytes();
    if b.len() >= 2 && (b[0] == b'\'' || b[0] == b'"') && b[b.len() - 1] == b[0] {
        a[1..a.len() - 1].to_string()
    } else {
        a.to_string()
    }
}

impl ChkExpr {
    pub fn parse(s: &str) -> Result<ChkExpr, String> {
        let parts = split_top(s.trim());
        let fetch = parts[0].trim();
        let args = fetch
            .strip_prefix("res.payload(")
            .and_then(|r| r.strip_suffix(')'))
            .ok_or_else(|| format!("sample fetch '{fetch}' is not supported in health checks yet (rhaproxy)"))?;
        let (o, l) = args
            .split_once(',')
            .ok_or_else(|| format!("'res.payload' expects <offset>,<length> in '{fetch}'"))?;
        let num = |v: &str| {
            v.trim()
                .parse::<usize>()
                .map_err(|_| format!("invalid number '{v}' in '{fetch}'"))
        };
        let mut e = ChkExpr {
            off: num(o)?,
            len: num(l)?,
            convs: Vec::new(),
        };
        for c in &parts[1..] {
            let c = c.trim();
            let (name, arg) = match c.split_once('(') {
                Some((n, a)) => (n, a.strip_suffix(')').map(unquote)),
                None => (c, None),
            };
            e.convs.push(match (name, arg) {
                ("cut_crlf", None) => Conv::CutCrlf,
                ("ltrim", Some(a)) => Conv::Ltrim(a.into_bytes()),
                ("rtrim", Some(a)) => Conv::Rtrim(a.into_bytes()),
                ("lower", None) => Conv::Lower,
                ("upper", None) => Conv::Upper,
                _ => {
                    return Err(format!(
                        "converter '{c}' is not supported in health checks yet (rhaproxy)"
                    ))
                }
            });
        }
        Ok(e)
    }

    /// The value over `data`, None when the payload is not there.
    fn eval(&self, data: &[u8]) -> Option<Vec<u8>> {
        if self.off > data.len() || (self.len > 0 && self.off + self.len > data.len()) {
            return None;
        }
        let end = if self.len == 0 { data.len() } else { self.off + self.len };
        let mut v = data[self.off..end].to_vec();
        for c in &self.convs {
            match c {
                Conv::CutCrlf => {
                    if let Some(p) = v.iter().position(|&b| b == b'\r' || b == b'\n') {
                        v.truncate(p);
                    }
                }
                Conv::Ltrim(set) => {
                    let n = v.iter().take_while(|b| set.contains(b)).count();
                    v.drain(..n);
                }
                Conv::Rtrim(set) => {
                    while v.last().is_some_and(|b| set.contains(b)) {
                        v.pop();
                    }
                }
                Conv::Lower => v.make_ascii_lowercase(),
                Conv::Upper => v.make_ascii_uppercase(),
            }
        }
        Some(v)
    }
}

/// A log-format string of `on-success`/`on-error`: text and `%[expr]`.
#[derive(Debug, Clone, PartialEq)]
pub struct ChkLf(Vec<LfPart>);

#[derive(Debug, Clone, PartialEq)]
enum LfPart {
    Lit(String),
    Expr(ChkExpr),
}

impl ChkLf {
    pub fn parse(s: &str) -> Result<ChkLf, String> {
        let mut parts = Vec::new();
        let mut rest = s;
        while let Some(p) = rest.find('%') {
            let after = &rest[p + 1..];
            if let Some(a) = after.strip_prefix('%') {
                parts.push(LfPart::Lit(format!("{}%", &rest[..p])));
                rest = a;
                continue;
            }
            let Some(inner) = after.strip_prefix('[') else {
                return Err(format!(
                    "log-format variable '%{}' is not supported in health checks yet (rhaproxy)",
                    after.chars().next().unwrap_or(' ')
                ));
            };
            let end = inner.find(']').ok_or_else(|| format!("missing ']' in '{s}'"))?;
            if p > 0 {
                parts.push(LfPart::Lit(rest[..p].to_string()));
            }
            parts.push(LfPart::Expr(ChkExpr::parse(&inner[..end])?));
            rest = &inner[end + 1..];
        }
        if !rest.is_empty() {
            parts.push(LfPart::Lit(rest.to_string()));
        }
        Ok(ChkLf(parts))
    }

    fn eval(&self, data: &[u8]) -> String {
        let mut out = String::new();
        for p in &self.0 {
            match p {
                LfPart::Lit(t) => out.push_str(t),
                LfPart::Expr(e) => match e.eval(data) {
                    Some(v) => out.push_str(&String::from_utf8_lossy(&v)),
                    None => out.push('-'),
                },
            }
        }
        out
    }
}

pub struct Expect {
    inverse: bool,
    what: Match,
    /// As written, for the tcp-check error message.
    text: String,
    kind: &'static str,
    /// -1: wait for a match until the end of the data.
    min_recv: i64,
    ok_status: Option<Status>,
    err_status: Option<Status>,
    tout_status: Option<Status>,
    on_success: Option<ChkLf>,
    on_error: Option<ChkLf>,
    status_code: Option<ChkExpr>,
    comment: Option<String>,
}

pub enum Step {
    /// `linger`: close gracefully instead of with a reset.
    Connect {
        port: Option<u16>,
        linger: bool,
    },
    Send(Vec<u8>),
    /// `option ssl-hello-chk`'s SSLv3 ClientHello, which carries the time
    /// it is sent.
    SendSslHello,
    Expect(Expect),
    /// A protocol's own response parser (HAProxy's `expect custom`),
    /// evaluated once `min_recv` bytes are there (or the peer closed).
    Custom {
        kind: Custom,
        min_recv: usize,
    },
}

/// The custom expect functions of HAProxy's protocol checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Custom {
    /// `tcpcheck_mysql_expect_iniths`: the server's handshake packet.
    MysqlInit,
    /// `tcpcheck_mysql_expect_ok`: the packet after the handshake.
    MysqlOk,
    /// `tcpcheck_ldap_expect_bindrsp`.
    LdapBind,
}

/// What a custom expect decided.
#[derive(Debug, PartialEq, Eq)]
enum CustomRes {
    Wait,
    Continue,
    Done(Status, u32, String),
}

/// `http-check send-state`: HAProxy's `httpchk_build_status_header()`
/// value for a server (its check state, address, names, node, weights,
/// sessions and queue).
fn server_state(rt: &Runtime, be: usize, srv: usize) -> String {
    let px = &rt.proxies[be];
    let sv = &px.servers[srv];
    let (rise, fall) = (sv.cfg.rise, sv.cfg.fall);
    let h = sv.chk.health.load(Relaxed);
    let mut out = if !sv.chk.enabled {
        "no check".to_string()
    } else if sv.up.load(Relaxed) {
        if h == rise + fall - 1 {
            "UP".to_string()
        } else {
            format!("UP {}/{fall}", h as i64 - rise as i64 + 1)
        }
    } else if h > 0 {
        format!("DOWN {h}/{rise}")
    } else {
        "DOWN".to_string()
    };
    let target = sv.target.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let (addr, port) = match target {
        Target::Inet(a) | Target::InetPortOffset(a, _) => (a.ip().to_string(), a.port().to_string()),
        Target::Unix(p) | Target::Abns(p) => (p, String::new()),
    };
    let node = rt.cfg.global.node.clone().unwrap_or_else(hostname);
    // The weights of the usable servers of the serving group (the active
    // ones, else the backups), as the LB sums them.
    let usable = |b: &ServerRt| b.usable() && b.uweight.load(Relaxed) > 0;
    let sum = |backup: bool| -> u32 {
        px.servers
            .iter()
            .filter(|b| b.cfg.backup == backup && usable(b))
            .map(|b| b.uweight.load(Relaxed))
            .sum()
    };
    let tot = match sum(false) {
        0 => sum(true),
        t => t,
    };
    let (pxq, svq) = {
        let q = px.queue.lock().unwrap_or_else(|e| e.into_inner());
        (q.backend.len(), q.srv_len(srv))
    };
    out.push_str(&format!(
        "; address={addr}; port={port}; name={}/{}; node={node}; weight={}/{tot}; scur={}/{}; qcur={svq}",
        px.name,
        sv.name,
        sv.uweight.load(Relaxed),
        sv.served.load(Relaxed),
        px.beconn.load(Relaxed) as i64 - pxq as i64,
    ));
    out
}

fn hostname() -> String {
    let mut b = [0u8; 256];
    // SAFETY: gethostname writes at most the given length into our
    // buffer; the result is read up to its first NUL (or the end).
    let r = unsafe { libc::gethostname(b.as_mut_ptr() as *mut libc::c_char, b.len()) };
    if r != 0 {
        return String::new();
    }
    c_str(&b)
}

/// HAProxy's SSLv3 CLIENT HELLO for `option ssl-hello-chk`: a handshake
/// record with the Unix time, a fixed 28-byte random, no session, 39
/// common cipher suites and NULL compression.
fn ssl_hello(now: std::time::SystemTime) -> Vec<u8> {
    let t = now
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as u32);
    let mut h = vec![0x16, 0x03, 0x00, 0x00, 0x79, 0x01, 0x00, 0x00, 0x75, 0x03, 0x00];
    h.extend_from_slice(&t.to_be_bytes());
    h.extend_from_slice(b"HAPROXYSSLCHK\nHAPROXYSSLCHK\n");
    h.extend_from_slice(&[0x00, 0x00, 0x4e]);
    for c in (0x01u16..=0x1b).chain(0x2f..=0x3a) {
        h.extend_from_slice(&c.to_be_bytes());
    }
    h.extend_from_slice(&[0x01, 0x00]);
    h
}

/// Text up to the first NUL (HAProxy hands these bytes on as C strings).
fn c_str(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

/// Runs a custom expect over the response so far (`last`: nothing more
/// will come; `is_last`: no rule follows).
fn eval_custom(kind: Custom, b: &[u8], last: bool, is_last: bool) -> CustomRes {
    let short = || {
        if last {
            CustomRes::Done(Status::L7Rsp, 0, String::new())
        } else {
            CustomRes::Wait
        }
    };
    let le = |o: usize, n: usize| -> usize {
        (0..n)
            .map(|k| (b.get(o + k).copied().unwrap_or(0) as usize) << (8 * k))
            .sum()
    };
    match kind {
        Custom::MysqlInit | Custom::MysqlOk => {
            // A packet: 3 bytes of length (little endian), 1 of sequence.
            let off = if kind == Custom::MysqlOk { 4 + le(0, 3) } else { 0 };
            if b.len() < off + 4 {
                return short();
            }
            let plen = le(off, 3);
            if b.len() < off + plen + 4 {
                return short();
            }
            if b.get(off + 4) == Some(&0xff) {
                // An error packet: its code, then its message.
                let desc = b.get(off + 7..).map(c_str).unwrap_or_default();
                return CustomRes::Done(Status::L7Sts, le(off + 5, 2) as u32, desc);
            }
            if !is_last {
                return CustomRes::Continue;
            }
            // The server version of the handshake, for information.
            CustomRes::Done(Status::L7Ok, 0, b.get(5..).map(c_str).unwrap_or_default())
        }
        Custom::LdapBind => {
            let bad = || CustomRes::Done(Status::L7Rsp, 0, "Not LDAPv3 protocol".into());
            let Some(&l0) = b.get(1) else { return short() };
            let (nbytes, msglen) = if l0 & 0x80 != 0 {
                let n = (l0 & 0x7f) as usize;
                if b.len() < 1 + n {
                    return short();
                }
                let be = |k: usize| (0..k).fold(0usize, |a, j| (a << 8) | b.get(2 + j).copied().unwrap_or(0) as usize);
                match n {
                    4 => (4, be(4)),
                    2 => (2, be(2)),
                    _ => return bad(),
                }
            } else {
                (0, l0 as usize)
            };
            if b.len() < 2 + nbytes + msglen {
                return short();
            }
            let mut p = 2 + nbytes;
            // messageID 1, then a bindResponse
            if b.get(p..p + 4) != Some(&[0x02, 0x01, 0x01, 0x61][..]) {
                return bad();
            }
            p += 4;
            let skip = match b.get(p) {
                Some(&x) if x & 0x80 != 0 => (x & 0x7f) as usize,
                _ => 0,
            };
            p += 1 + skip;
            // ldapResult: an ENUMERATION
            if b.get(p..p + 2) != Some(&[0x0a, 0x01][..]) {
                return bad();
            }
            match b.get(p + 2) {
                Some(0) => CustomRes::Done(Status::L7Ok, 0, "Success".into()),
                Some(&c) => CustomRes::Done(
                    Status::L7Sts,
                    c as u32,
                    "See RFC: http://tools.ietf.org/html/rfc4511#section-4.1.9".into(),
                ),
                None => bad(),
            }
        }
    }
}

/// What a backend's checks do.
pub enum Rules {
    /// Connect only.
    L4,
    Http {
        req: Vec<u8>,
        expects: Vec<Expect>,
        /// `http-check send-state`: where the X-Haproxy-Server-State
        /// header goes in `req` (after the configured headers).
        state_at: Option<usize>,
    },
    /// tcp-check steps; an implicit connect comes first unless the first
    /// step is a connect.
    Tcp {
        steps: Vec<Step>,
        /// A protocol check (redis, smtp, pgsql...): no generic
        /// "TCPCHK ..." / "(tcp-check)" info texts.
        proto: bool,
    },
    /// `option external-check`: a program whose exit status is the result.
    External(ExtCmd),
}

/// What an external check runs, and the proxy's part of its arguments
/// and environment (HAProxy's `prepare_external_check()`).
pub struct ExtCmd {
    cmd: String,
    path: String,
    px_name: String,
    px_id: u32,
    /// The first IPv4/IPv6/unix `bind` of the proxy (address, port), else
    /// "NOT_USED" twice; the environment gets "" for "NOT_USED".
    px_addr: String,
    px_port: String,
    /// HAPROXY_SERVER_PROTO: "tcp", or the server's `proto` ("h1" when
    /// none) in HTTP mode.
    http: bool,
}

impl ExtCmd {
    fn new(p: &Proxy) -> ExtCmd {
        use config::addr::{Addr, Ports};
        let first = p.binds.iter().find_map(|b| match &b.addr {
            Some(Addr::Inet { ip, ports, .. }) => {
                let port = match ports {
                    Ports::Range(lo, _) => *lo,
                    _ => 0,
                };
                Some((ip.to_string(), port.to_string()))
            }
            Some(Addr::Unix(path)) => Some((path.clone(), "NOT_USED".into())),
            Some(Addr::Abns(_)) => Some((String::new(), "NOT_USED".into())),
            _ => None,
        });
        let (px_addr, px_port) = first.unwrap_or_else(|| ("NOT_USED".into(), "NOT_USED".into()));
        ExtCmd {
            cmd: p.external_check_command.clone().unwrap_or_default(),
            path: p.external_check_path.clone().unwrap_or_default(),
            px_name: p.name.clone(),
            px_id: p.id,
            px_addr,
            px_port,
            http: p.mode == config::model::Mode::Http,
        }
    }
}

/// Running external checks: (pid, thread, backend, server). Spawning and
/// reaping hold the lock, so a child that ends before it is listed is
/// still found by the reaper (HAProxy blocks SIGCHLD around fork for the
/// same reason).
static EXT_PIDS: Mutex<Vec<(i32, usize, u32, u32)>> = Mutex::new(Vec::new());

/// SIGCHLD on the main thread's signalfd: reaps every ended child and
/// hands each external check's wait status to the thread running it.
/// Children no longer listed (killed after a timeout) are just reaped.
pub fn reap_children(send: impl Fn(usize, Msg)) {
    let mut g = EXT_PIDS.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let mut st: libc::c_int = 0;
        // SAFETY: waitpid only writes the status into the live local.
        let pid = unsafe { libc::waitpid(-1, &mut st, libc::WNOHANG) };
        if pid <= 0 {
            break;
        }
        if let Some(k) = g.iter().position(|e| e.0 == pid) {
            let (_, tid, be, srv) = g.swap_remove(k);
            send(
                tid,
                Msg::ExtCheckDone {
                    be,
                    srv,
                    pid,
                    status: st,
                },
            );
        }
    }
}

fn refuse(l: &RawLine, what: &str, px: &str) -> String {
    format!(
        "parsing [{}] : '{what}' in proxy '{px}' is not supported yet by rhaproxy: refusing to start rather than ignore it.",
        l.loc
    )
}

fn unescape(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 1 < b.len() {
            i += 1;
            match b[i] {
                b'r' => out.push(b'\r'),
                b'n' => out.push(b'\n'),
                b't' => out.push(b'\t'),
                c => out.push(c),
            }
        } else {
            out.push(b[i]);
        }
        i += 1;
    }
    out
}

fn parse_status_list(s: &str) -> Option<Vec<(u32, u32)>> {
    s.split(',')
        .map(|r| match r.split_once('-') {
            Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
            None => r.parse().ok().map(|v| (v, v)),
        })
        .collect()
}

/// `[options] [!]<match> <pattern> [options]` of an `http-check expect` /
/// `tcp-check expect` (HAProxy's `parse_tcpcheck_expect()`).
fn parse_expect(l: &RawLine, w: &[String], http: bool, px: &str) -> Result<Expect, String> {
    let kw = if http { "http-check expect" } else { "tcp-check expect" };
    let err = |m: String| format!("parsing [{}] : '{kw}' : {m}.", l.loc);
    let mut e = Expect {
        inverse: false,
        what: Match::Str(Vec::new()),
        text: String::new(),
        kind: "",
        min_recv: -1,
        ok_status: None,
        err_status: None,
        tout_status: None,
        on_success: None,
        on_error: None,
        status_code: None,
        comment: None,
    };
    let re = |p: &str| Regex::new(p, false).map_err(|x| format!("parsing [{}] : {x}", l.loc));
    let mut i = 0;
    let mut have = false;
    while i < w.len() {
        let mut tok = w[i].as_str();
        while let Some(t) = tok.strip_prefix('!') {
            e.inverse = !e.inverse;
            tok = t;
        }
        if tok.is_empty() {
            i += 1;
            continue;
        }
        let arg = w.get(i + 1).map(|s| s.as_str());
        let need = |what: &str| arg.ok_or_else(|| err(format!("'{tok}' expects {what} as argument")));
        let status_of = |what: &str| -> Result<Status, String> {
            let v = need("a status")?;
            Status::by_name(v).ok_or_else(|| err(format!("'{what}' : unsupported status '{v}'")))
        };
        match (tok, http) {
            ("min-recv", false) => {
                let v = need("an integer")?;
                e.min_recv = v.parse().map_err(|_| err(format!("invalid min-recv value '{v}'")))?;
            }
            ("comment", false) => e.comment = Some(need("a string")?.to_string()),
            ("ok-status", false) => e.ok_status = Some(status_of(tok)?),
            ("error-status", false) => e.err_status = Some(status_of(tok)?),
            ("tout-status", false) => e.tout_status = Some(status_of(tok)?),
            ("on-success", false) => e.on_success = Some(ChkLf::parse(need("a log-format string")?).map_err(err)?),
            ("on-error", false) => e.on_error = Some(ChkLf::parse(need("a log-format string")?).map_err(err)?),
            ("status-code", false) => e.status_code = Some(ChkExpr::parse(need("an expression")?).map_err(err)?),
            (m @ ("status" | "rstatus"), true)
            | (m @ ("string" | "rstring"), _)
            | (m @ ("binary" | "rbinary"), false) => {
                if have {
                    return Err(err(format!("only on pattern expected (got '{m}')")));
                }
                let pat = need("a pattern")?;
                e.what = match m {
                    "status" => Match::Status(parse_status_list(pat).ok_or_else(|| {
                        format!(
                            "parsing [{}] : 'http-check expect status' : invalid status code '{pat}'.",
                            l.loc
                        )
                    })?),
                    "rstatus" => Match::RStatus(re(pat)?),
                    "string" => Match::Str(pat.as_bytes().to_vec()),
                    "rstring" => Match::RStr(re(pat)?),
                    "binary" => Match::Str(parse_hex(pat).ok_or_else(|| {
                        format!(
                            "parsing [{}] : 'tcp-check expect binary' : invalid hex string '{pat}'.",
                            l.loc
                        )
                    })?),
                    _ => Match::RBin(re(pat)?),
                };
                e.kind = match m {
                    "string" => "string",
                    "rstring" => "regex",
                    "binary" => "binary",
                    "rbinary" => "binary regex",
                    _ => "status",
                };
                e.text = pat.to_string();
                have = true;
            }
            _ => return Err(refuse(l, &format!("{kw} {tok}"), px)),
        }
        i += 2;
    }
    if !have {
        return Err(err("expects a pattern".to_string()));
    }
    Ok(e)
}

fn parse_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

/// The HTTP check request: `option httpchk [<meth>] [<uri>] [<ver>]`
/// (a version may carry extra header lines after "\r\n", the pre-2.2
/// idiom), then `http-check send` overrides; header names go lower case.
/// The check request and the end of its configured headers.
fn http_request(p: &Proxy) -> Result<(Vec<u8>, usize), String> {
    let opt = p.options.httpchk.clone().unwrap_or_default();
    let (mut meth, mut uri, mut ver) = ("OPTIONS".to_string(), "/".to_string(), "HTTP/1.0".to_string());
    match opt.as_slice() {
        [] => {}
        [u] => uri = u.clone(),
        [m, u] => (meth, uri) = (m.clone(), u.clone()),
        [m, u, v, ..] => (meth, uri, ver) = (m.clone(), u.clone(), v.clone()),
    }
    let mut hdrs: Vec<(String, String)> = Vec::new();
    let v = String::from_utf8_lossy(&unescape(&ver)).to_string();
    let mut lines = v.split("\r\n");
    ver = lines.next().unwrap_or("").to_string();
    for h in lines.filter(|h| !h.is_empty()) {
        if let Some((n, val)) = h.split_once(':') {
            hdrs.push((n.trim().to_ascii_lowercase(), val.trim().to_string()));
        }
    }
    let mut body = Vec::new();
    let mut sends = 0;
    for l in &p.http_check {
        if l.words.get(1).map(|s| s.as_str()) != Some("send") {
            continue;
        }
        sends += 1;
        if sends > 1 {
            return Err(refuse(l, "http-check send (more than one)", &p.name));
        }
        let w = &l.words[2..];
        // Headers given here replace those of `option httpchk` (HAProxy
        // merges the rule into the option's request that way).
        if w.iter().any(|x| x == "hdr") {
            hdrs.clear();
        }
        let mut i = 0;
        while i < w.len() {
            let arg = |k: usize| {
                w.get(i + k).cloned().ok_or_else(|| {
                    format!(
                        "parsing [{}] : 'http-check send' : '{}' expects an argument.",
                        l.loc, w[i]
                    )
                })
            };
            match w[i].as_str() {
                "meth" => meth = arg(1)?,
                "uri" => uri = arg(1)?,
                "ver" => ver = arg(1)?,
                "hdr" => {
                    hdrs.push((arg(1)?.to_ascii_lowercase(), arg(2)?));
                    i += 1;
                }
                "body" => body = unescape(&arg(1)?),
                "comment" => {}
                other => return Err(refuse(l, &format!("http-check send {other}"), &p.name)),
            }
            i += 2;
        }
    }
    let mut req = format!("{meth} {uri} {ver}\r\n").into_bytes();
    for (n, v) in &hdrs {
        req.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
    }
    let hdrs_end = req.len();
    if !body.is_empty() {
        req.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
    }
    if ver.eq_ignore_ascii_case("HTTP/1.1") && !hdrs.iter().any(|(n, _)| n == "connection") {
        req.extend_from_slice(b"connection: close\r\n");
    }
    req.extend_from_slice(b"\r\n");
    req.extend_from_slice(&body);
    Ok((req, hdrs_end))
}

/// HAProxy keeps a proxy's `http-check`/`tcp-check` rules in a rule set
/// of its own: a proxy declaring some does not run those of its defaults
/// section (which it only uses when it declares none). The option-like
/// `http-check send-state`/`disable-on-404` are inherited either way.
fn own_check_rules(p: &Proxy) -> Proxy {
    let mut q = p.clone();
    let is_opt = |l: &RawLine| {
        matches!(
            l.words.get(1).map(|s| s.as_str()),
            Some("send-state" | "disable-on-404")
        )
    };
    let mine = |l: &RawLine| l.loc.file == p.loc.file && l.loc.line > p.loc.line;
    // `option httpchk` written in the proxy itself starts a new rule set
    // too (the defaults' `http-check send` rules are dropped).
    let own_opt = p.options.httpchk_loc.as_ref().is_some_and(|l| {
        mine(&RawLine {
            words: Vec::new(),
            loc: l.clone(),
        })
    });
    let own_http = q.http_check.iter().any(|l| !is_opt(l) && mine(l));
    for (k, v) in [&mut q.http_check, &mut q.tcp_check].into_iter().enumerate() {
        if (k == 0 && own_opt) || v.iter().any(|l| !is_opt(l) && mine(l)) {
            v.retain(|l| is_opt(l) || mine(l));
        }
    }
    // Own rules with an inherited `option httpchk`: the option's request
    // stayed in the defaults' rule set; HAProxy's defaults apply.
    if own_http && !own_opt && q.options.httpchk.is_some() {
        q.options.httpchk = Some(Vec::new());
    }
    q
}

/// Compiles a backend's check rules; errors name file:line. `None` when
/// no server of the backend is checked.
pub fn compile(p: &Proxy) -> Result<Option<Rules>, String> {
    if !p.servers.iter().any(|s| s.check) {
        return Ok(None);
    }
    let own = own_check_rules(p);
    let p = &own;
    let httpchk = p.options.httpchk.is_some();
    if httpchk && p.options.tcp_check {
        return Err(format!(
            "config : proxy '{}' : 'option httpchk' and 'option tcp-check' are exclusive.",
            p.name
        ));
    }
    if httpchk || (!p.options.tcp_check && !p.http_check.is_empty()) {
        let (req, hdrs_end) = http_request(p)?;
        let mut expects = Vec::new();
        let mut state_at = None;
        for l in &p.http_check {
            match l.words.get(1).map(|s| s.as_str()) {
                Some("send") | Some("comment") => {}
                Some("send-state") => state_at = Some(hdrs_end),
                Some("expect") => expects.push(parse_expect(l, &l.words[2..], true, &p.name)?),
                other => {
                    return Err(refuse(
                        l,
                        format!("http-check {}", other.unwrap_or("")).trim_end(),
                        &p.name,
                    ))
                }
            }
        }
        return Ok(Some(Rules::Http { req, expects, state_at }));
    }
    if let Some(o) = &p.options.other_check {
        if o.first().is_some_and(|w| w == "external-check") {
            return Ok(Some(Rules::External(ExtCmd::new(p))));
        }
        return protocol_rules(o).map(Some);
    }
    if p.options.tcp_check {
        let mut steps = Vec::new();
        for l in &p.tcp_check {
            let w = &l.words;
            match w.get(1).map(|s| s.as_str()) {
                Some("connect") => {
                    let (mut port, mut linger) = (None, false);
                    let mut k = 2;
                    while k < w.len() {
                        match w[k].as_str() {
                            "port" if k + 1 < w.len() => {
                                let v = &w[k + 1];
                                port = Some(v.parse().map_err(|_| {
                                    format!("parsing [{}] : 'tcp-check connect' : invalid port '{v}'.", l.loc)
                                })?);
                                k += 1;
                            }
                            "comment" if k + 1 < w.len() => k += 1,
                            "default" => {}
                            "linger" => linger = true,
                            other => return Err(refuse(l, &format!("tcp-check connect {other}"), &p.name)),
                        }
                        k += 1;
                    }
                    steps.push(Step::Connect { port, linger });
                }
                Some(kw @ ("send" | "send-binary")) if w.len() == 3 || (w.len() == 5 && w[3] == "comment") => steps
                    .push(Step::Send(if kw == "send" {
                        unescape(&w[2])
                    } else {
                        parse_hex(&w[2]).ok_or_else(|| {
                            format!("parsing [{}] : 'tcp-check send-binary' : invalid hex string.", l.loc)
                        })?
                    })),
                Some("expect") => steps.push(Step::Expect(parse_expect(l, &w[2..], false, &p.name)?)),
                Some("comment") => {}
                other => {
                    return Err(refuse(
                        l,
                        format!("tcp-check {}", other.unwrap_or("")).trim_end(),
                        &p.name,
                    ))
                }
            }
        }
        return Ok(Some(Rules::Tcp { steps, proto: false }));
    }
    if let Some(l) = p.tcp_check.first() {
        // tcp-check rules without `option tcp-check`: HAProxy ignores
        // them with a warning; be explicit instead.
        return Err(refuse(l, "tcp-check without 'option tcp-check'", &p.name));
    }
    Ok(Some(Rules::L4))
}

/// An expect rule of a protocol check.
#[allow(clippy::too_many_arguments)]
fn proto_expect(
    what: Match,
    kind: &'static str,
    min_recv: i64,
    err_status: Status,
    on_error: Option<&str>,
    on_success: Option<&str>,
    status_code: Option<&str>,
) -> Step {
    let lf = |s: &str| ChkLf::parse(s).expect("built-in check format");
    Step::Expect(Expect {
        inverse: false,
        what,
        text: String::new(),
        kind,
        min_recv,
        ok_status: None,
        err_status: Some(err_status),
        tout_status: None,
        on_success: on_success.map(lf),
        on_error: on_error.map(lf),
        status_code: status_code.map(|s| ChkExpr::parse(s).expect("built-in check expression")),
        comment: None,
    })
}

fn rx(p: &str) -> Regex {
    Regex::new(p, false).expect("built-in check regex")
}

/// The rule sets HAProxy 2.6.12 builds for `option redis-check`,
/// `option smtpchk [EHLO|HELO <domain>]` and `option pgsql-check user <u>`
/// (`o`: the option name and its arguments).
pub fn protocol_rules(o: &[String]) -> Result<Rules, String> {
    let arg = |i: usize| o.get(i).map(|s| s.as_str()).unwrap_or("");
    let steps = match arg(0) {
        "redis-check" => vec![
            Step::Send(b"*1\r\n$4\r\nPING\r\n".to_vec()),
            proto_expect(
                Match::Str(b"+PONG\r\n".to_vec()),
                "string",
                -1,
                Status::L7Sts,
                Some("%[res.payload(0,0),cut_crlf]"),
                Some("Redis server is ok"),
                None,
            ),
        ],
        "smtpchk" => {
            let cmd = if matches!(arg(1), "EHLO" | "HELO") && !arg(2).is_empty() {
                format!("{} {}", arg(1), arg(2))
            } else {
                "HELO localhost".to_string()
            };
            let tail = "%[res.payload(4,0),ltrim(' '),cut_crlf]";
            let code = Some("res.payload(0,3)");
            vec![
                Step::Connect {
                    port: None,
                    linger: true,
                },
                proto_expect(
                    Match::RStr(rx("^[0-9]{3}[ \r]")),
                    "regex",
                    4,
                    Status::L7Rsp,
                    Some("%[res.payload(0,0),cut_crlf]"),
                    None,
                    None,
                ),
                proto_expect(
                    Match::RStr(rx("^2[0-9]{2}[ \r]")),
                    "regex",
                    4,
                    Status::L7Sts,
                    Some(tail),
                    None,
                    code,
                ),
                Step::Send(format!("{cmd}\r\n").into_bytes()),
                proto_expect(
                    Match::RStr(rx("^(2[0-9]{2}-[^\r]*\r\n)*2[0-9]{2}[ \r]")),
                    "regex",
                    -1,
                    Status::L7Sts,
                    Some(tail),
                    Some(tail),
                    code,
                ),
                Step::Send(b"QUIT\r\n".to_vec()),
                proto_expect(
                    Match::RStr(rx("^2[0-9]{2}[- \r]")),
                    "regex",
                    4,
                    Status::L7Sts,
                    Some(tail),
                    Some(tail),
                    code,
                ),
            ]
        }
        "pgsql-check" => {
            if arg(1) != "user" || arg(2).is_empty() {
                return Err("'option pgsql-check' expects 'user <username>' as argument".into());
            }
            let user = arg(2).as_bytes();
            let mut req = ((15 + user.len()) as u32).to_be_bytes().to_vec();
            req.extend_from_slice(&[0, 3, 0, 0]);
            req.extend_from_slice(b"user\0");
            req.extend_from_slice(user);
            req.extend_from_slice(&[0, 0]);
            vec![
                Step::Connect {
                    port: None,
                    linger: true,
                },
                Step::Send(req),
                Step::Expect(Expect {
                    inverse: true,
                    ..match proto_expect(
                        Match::RStr(rx("^E")),
                        "regex",
                        5,
                        Status::L7Rsp,
                        Some("%[res.payload(6,0)]"),
                        None,
                        None,
                    ) {
                        Step::Expect(e) => e,
                        _ => unreachable!(),
                    }
                }),
                proto_expect(
                    Match::RBin(rx("^52000000(08|0A|0C)000000(00|02|03|04|05|06)")),
                    "binary regex",
                    9,
                    Status::L7Sts,
                    Some("PostgreSQL unknown error"),
                    Some("PostgreSQL server is ok"),
                    None,
                ),
            ]
        }
        "mysql-check" => {
            let connect = Step::Connect {
                port: None,
                linger: true,
            };
            let init = Step::Custom {
                kind: Custom::MysqlInit,
                min_recv: 0,
            };
            if arg(1) != "user" {
                // No user: the server's handshake is enough.
                vec![connect, init]
            } else {
                // A client authentication packet then COM_QUIT, sent at
                // once; >= 4.1 ("post-41", the default) or 4.0 form.
                let user = arg(2).as_bytes();
                let post41 = arg(3) != "pre-41";
                let len = user.len() + if post41 { 7 + 27 } else { 7 };
                let mut req = vec![len as u8, (len >> 8) as u8, (len >> 16) as u8, 1];
                if post41 {
                    req.extend_from_slice(&[0x00, 0x82, 0x00, 0x00, 0x00, 0x80, 0x00, 0x01, 0x21]);
                    req.extend_from_slice(&[0; 23]);
                } else {
                    req.extend_from_slice(&[0x00, 0x80, 0x00, 0x00, 0x01]);
                }
                req.extend_from_slice(user);
                req.extend_from_slice(&[0, 0, 0x01, 0x00, 0x00, 0x00, 0x01]);
                vec![
                    connect,
                    Step::Send(req),
                    init,
                    Step::Custom {
                        kind: Custom::MysqlOk,
                        min_recv: 0,
                    },
                ]
            }
        }
        "ssl-hello-chk" => vec![
            Step::SendSslHello,
            Step::Expect(Expect {
                ok_status: Some(Status::L6Ok),
                tout_status: Some(Status::L6Tout),
                ..match proto_expect(
                    Match::RBin(rx("^1[56]")),
                    "binary regex",
                    5,
                    Status::L6Rsp,
                    None,
                    None,
                    None,
                ) {
                    Step::Expect(e) => e,
                    _ => unreachable!(),
                }
            }),
        ],
        "ldap-check" => vec![
            // A simple bind request, anonymous, LDAPv3.
            Step::Send(vec![
                0x30, 0x0c, 0x02, 0x01, 0x01, 0x60, 0x07, 0x02, 0x01, 0x03, 0x04, 0x00, 0x80, 0x00,
            ]),
            proto_expect(
                Match::RBin(rx("^30")),
                "binary regex",
                14,
                Status::L7Rsp,
                Some("Not LDAPv3 protocol"),
                None,
                None,
            ),
            Step::Custom {
                kind: Custom::LdapBind,
                min_recv: 0,
            },
        ],
        other => return Err(format!("'option {other}' is not supported yet (rhaproxy)")),
    };
    Ok(Rules::Tcp { steps, proto: true })
}

/// Server keywords around checks that rhaproxy does not run: refused.
/// Whether a server's health checks start with a PROXY header (HAProxy's
/// `check.send_proxy`): `check-send-proxy`, or the server's own PROXY
/// options when checks go to its address and port.
fn check_sends_proxy(s: &config::model::Server) -> bool {
    s.check_send_proxy || (s.check_port.is_none() && s.check_addr.is_none() && s.pp_version().is_some())
}

/// The PROXY header of a check connection (HAProxy's `make_proxy_line()`
/// without a stream): v1 announces the check connection's own addresses,
/// v2 is a LOCAL header (the connection is ours) with the TLVs that do
/// not need a stream.
fn check_pp_line(s: &config::model::Server, fd: RawFd, out: &mut Vec<u8>) {
    use crate::proxy_protocol::SendProxy;
    match SendProxy::of_server(s).unwrap_or(SendProxy::V1) {
        SendProxy::V1 => {
            let src = crate::sock::local_addr(fd).ok().and_then(|a| a.to_inet());
            let dst = crate::sock::peer_addr(fd).ok().and_then(|a| a.to_inet());
            SendProxy::V1.encode(out, src, dst, None, None);
        }
        v2 => v2.encode(out, None, None, None, None),
    }
}

pub fn unsupported_server_kw(s: &config::model::Server) -> Option<&'static str> {
    if s.agent_check {
        Some("agent-check")
    } else if s.observe.is_some() {
        Some("observe")
    } else if s.on_error.is_some() {
        Some("on-error")
    } else {
        None
    }
}

// ---------------------------------------------------------------------
// State changes

fn pid() -> u32 {
    std::process::id()
}

/// Prints a state change as HAProxy's ha_warning()/ha_alert() do and
/// sends it to the proxy's log targets at `level`.
fn report_change(px: &ProxyRt, label: &str, level: u8, msg: &str) {
    eprintln!("{label:<11}({}) : {msg}", pid());
    crate::log::send_text(&px.log, level, msg.as_bytes());
}

/// Usable active and backup servers of a backend (HAProxy's srv_act and
/// srv_bck).
fn counts(px: &ProxyRt) -> (usize, usize) {
    let mut act = 0;
    let mut bck = 0;
    for s in px.servers.iter().filter(|s| !s.is_deleted()) {
        if s.usable() && s.uweight.load(Relaxed) > 0 {
            if s.cfg.backup {
                bck += 1
            } else {
                act += 1
            }
        }
    }
    (act, bck)
}

/// HAProxy's `srv_append_status()` tail for a state change.
fn append_status(msg: &mut String, rep: Option<&Report>, reason: Option<&str>) {
    if let Some(r) = rep {
        msg.push_str(", reason: ");
        msg.push_str(r.status.desc());
        if r.status.has_code() {
            // An external check killed by a signal reports -1.
            msg.push_str(&format!(", code: {}", r.code as i32));
        }
        if !r.desc.is_empty() {
            msg.push_str(", info: \"");
            for c in r.desc.chars() {
                if c == '"' || (c as u32) < 0x20 || c as u32 == 0x7f {
                    msg.push_str(&format!("#{:02X}", c as u32));
                } else {
                    msg.push(c);
                }
            }
            msg.push('"');
        }
        if r.duration >= 0 {
            msg.push_str(&format!(", check duration: {}ms", r.duration));
        }
    } else if let Some(r) = reason {
        msg.push_str(", ");
        msg.push_str(r);
    }
}

fn now_s(ms: u64) -> u64 {
    ms / 1000
}

/// Marks a server DOWN (HAProxy's `srv_set_stopped()` +
/// `srv_update_status()`): stops new traffic, redistributes its queue
/// with `option redispatch`, reports.
pub fn set_stopped(
    cx: &mut Cx<'_, Msg>,
    rt: &Runtime,
    be: usize,
    srv: usize,
    rep: Option<&Report>,
    reason: Option<&str>,
) {
    let px = &rt.proxies[be];
    let sv = &px.servers[srv];
    if sv.in_maint() || !sv.up.load(Relaxed) {
        return;
    }
    let (a0, b0) = counts(px);
    let was_stopping = sv.admin.load(Relaxed) & crate::runtime::ADM_DRAIN != 0;
    sv.up.store(false, Relaxed);
    shutdown_on_marked_down(cx, be, srv, sv);
    let now = reactor::now_ms();
    sv.last_change_ms.store(now, Relaxed);
    let xferred = if px.cfg.options.redispatch.is_some() {
        crate::backend::redistribute(rt, be, srv, |p| send_dequeued(cx, p, be))
    } else {
        0
    };
    let (act, bck) = counts(px);
    let qlen = srv_qlen(px, srv);
    let mut msg = server_label(px, sv);
    msg.push_str(" is DOWN");
    append_status(&mut msg, rep, reason);
    msg.push_str(". ");
    msg.push_str(&servers_left(act, bck, sv.served.load(Relaxed), xferred, qlen));
    report_change(px, "[WARNING]", if was_stopping { 5 } else { 1 }, &msg);
    if a0 + b0 > 0 && act + bck == 0 {
        set_backend_down(px, now);
    }
    sv.chk.down_trans.fetch_add(1, Relaxed);
}

/// `on-marked-down shutdown-sessions`: the server's streams end (on
/// every thread, termination cause 'D') as it goes down or into
/// maintenance.
fn shutdown_on_marked_down(cx: &mut Cx<'_, Msg>, be: usize, srv: usize, sv: &ServerRt) {
    if sv.cfg.on_marked_down.is_some() {
        for t in 0..cx.nbthread() {
            cx.send(t, Msg::KillServerStreams { be, srv, why: b'D' });
        }
    }
}

/// `on-marked-up shutdown-backup-sessions`: a non-backup server with a
/// weight coming up ends the streams of every backup server (cause 'U').
fn shutdown_on_marked_up(cx: &mut Cx<'_, Msg>, px: &ProxyRt, be: usize, sv: &ServerRt) {
    if sv.cfg.on_marked_up.is_none() || sv.cfg.backup || sv.uweight.load(Relaxed) == 0 {
        return;
    }
    for (bi, _) in px.servers.iter().enumerate().filter(|(_, b)| b.cfg.backup) {
        for t in 0..cx.nbthread() {
            cx.send(t, Msg::KillServerStreams { be, srv: bi, why: b'U' });
        }
    }
}

/// HAProxy's `set_backend_down()`: the alert quotes the name, the log
/// line (at emerg) does not.
fn set_backend_down(px: &ProxyRt, now: u64) {
    px.last_change_ms.store(now, Relaxed);
    let kind = match (px.is_frontend, px.is_backend) {
        (true, true) => "proxy",
        (true, false) => "frontend",
        _ => "backend",
    };
    eprintln!(
        "{:<11}({}) : {kind} '{}' has no server available!",
        "[ALERT]",
        pid(),
        px.name
    );
    let msg = format!("{kind} {} has no server available!", px.name);
    crate::log::send_text(&px.log, 0, msg.as_bytes());
}

/// "[Backup ]Server b/s", how HAProxy names a server in state reports.
fn server_label(px: &crate::runtime::ProxyRt, sv: &crate::runtime::ServerRt) -> String {
    format!(
        "{}Server {}/{}",
        if sv.cfg.backup { "Backup " } else { "" },
        px.name,
        sv.name
    )
}

/// Streams waiting in a server's own queue.
fn srv_qlen(px: &crate::runtime::ProxyRt, srv: usize) -> usize {
    px.queue.lock().unwrap_or_else(|e| e.into_inner()).srv_len(srv)
}

/// The tail of a going-down report: what is left to serve and what moved.
fn servers_left(act: usize, bck: usize, served: impl std::fmt::Display, xferred: usize, qlen: usize) -> String {
    format!(
        "{act} active and {bck} backup servers left.{} {served} sessions active, {xferred} requeued, {qlen} remaining in queue.",
        if bck > 0 && act == 0 { " Running on backup." } else { "" },
    )
}

/// An admin state change from the CLI (`disable server`, `set server
/// state`...): HAProxy's `srv_update_status()` for the maintenance bit,
/// with its reports. `old`/`new` are the admin bits around the change.
pub fn admin_changed(cx: &mut Cx<'_, Msg>, rt: &Runtime, be: usize, srv: usize, old: u32, new: u32) {
    admin_changed_cause(cx, rt, be, srv, old, new, None, None)
}

/// [`admin_changed`] with the cause of entering maintenance (resolution
/// maintenance gives one: "DNS NX status"...) and, when resolution
/// maintenance ends, the host name that resolves again.
#[allow(clippy::too_many_arguments)]
pub fn admin_changed_cause(
    cx: &mut Cx<'_, Msg>,
    rt: &Runtime,
    be: usize,
    srv: usize,
    old: u32,
    new: u32,
    cause: Option<&str>,
    resolved: Option<&str>,
) {
    use crate::runtime::{ADM_ANY_MAINT as ADM_MAINT, ADM_DRAIN};
    let px = &rt.proxies[be];
    let sv = &px.servers[srv];
    let now = reactor::now_ms();
    let name = server_label(px, sv);
    let because = cause.map(|c| format!(" ({c})")).unwrap_or_default();
    if old & ADM_MAINT == 0 && new & ADM_MAINT != 0 {
        if !sv.up.load(Relaxed) {
            report_change(
                px,
                "[WARNING]",
                5,
                &format!("{name} was DOWN and now enters maintenance{because}."),
            );
            return;
        }
        // Counted as if still usable before the change.
        let (act0, bck0) = counts(px);
        let before = act0 + bck0 + usize::from(sv.uweight.load(Relaxed) > 0 && old & ADM_DRAIN == 0);
        if sv.chk.enabled {
            sv.chk.health.store(0, Relaxed);
        }
        shutdown_on_marked_down(cx, be, srv, sv);
        let xferred = crate::backend::redistribute(rt, be, srv, |p| send_dequeued(cx, p, be));
        let (act, bck) = counts(px);
        let qlen = srv_qlen(px, srv);
        let msg = format!(
            "{name} is going DOWN for maintenance{because}. {}",
            servers_left(act, bck, sv.served.load(Relaxed), xferred, qlen)
        );
        report_change(px, "[WARNING]", if old & ADM_DRAIN != 0 { 5 } else { 1 }, &msg);
        if before > 0 && act + bck == 0 {
            set_backend_down(px, now);
        }
        sv.chk.down_trans.fetch_add(1, Relaxed);
    } else if old & ADM_MAINT != 0 && new & ADM_MAINT == 0 {
        let (a0, b0) = counts_without(px, srv);
        if sv.chk.enabled {
            // Starts OK but is checked at once (HAProxy).
            sv.chk.health.store(sv.cfg.rise, Relaxed);
            sv.up.store(true, Relaxed);
        }
        if sv.up.load(Relaxed) {
            shutdown_on_marked_up(cx, px, be, sv);
        }
        let state = format!(
            "{}/{}",
            if sv.up.load(Relaxed) { "UP" } else { "DOWN" },
            if new & ADM_DRAIN != 0 { "DRAIN" } else { "READY" }
        );
        let msg = match resolved {
            Some(h) => format!("{name} ('{h}') is {state} (resolves again)."),
            None => format!("{name} is {state} (leaving forced maintenance)."),
        };
        report_change(px, "[WARNING]", 5, &msg);
        let (act, bck) = counts(px);
        if a0 + b0 > 0 && act + bck == 0 {
            set_backend_down(px, now);
        } else if a0 + b0 == 0 && act + bck > 0 {
            px.last_change_ms.store(now, Relaxed);
        }
        crate::backend::grab_from_px(rt, be, srv, |p| send_dequeued(cx, p, be));
    }
}

/// `counts()` leaving one server out.
fn counts_without(px: &ProxyRt, srv: usize) -> (usize, usize) {
    let (mut act, mut bck) = counts(px);
    let sv = &px.servers[srv];
    if sv.usable() && sv.uweight.load(Relaxed) > 0 {
        if sv.cfg.backup {
            bck -= 1
        } else {
            act -= 1
        }
    }
    (act, bck)
}

/// Marks a server UP (HAProxy's `srv_set_running()`): counts the time it
/// was down, takes what waits in the backend queue, reports.
pub fn set_running(
    cx: &mut Cx<'_, Msg>,
    rt: &Runtime,
    be: usize,
    srv: usize,
    rep: Option<&Report>,
    reason: Option<&str>,
) {
    let px = &rt.proxies[be];
    let sv = &px.servers[srv];
    if sv.in_maint() || sv.up.load(Relaxed) {
        return;
    }
    let now = reactor::now_ms();
    let (a0, b0) = counts(px);
    if a0 + b0 == 0 {
        px.last_change_ms.store(now, Relaxed);
    }
    let last = sv.last_change_ms.load(Relaxed);
    sv.chk
        .down_time
        .fetch_add(now_s(now).saturating_sub(now_s(last)), Relaxed);
    sv.last_change_ms.store(now, Relaxed);
    sv.up.store(true, Relaxed);
    shutdown_on_marked_up(cx, px, be, sv);
    let xferred = crate::backend::grab_from_px(rt, be, srv, |p| send_dequeued(cx, p, be));
    let (act, bck) = counts(px);
    let qlen = srv_qlen(px, srv);
    let mut msg = server_label(px, sv);
    msg.push_str(" is UP");
    append_status(&mut msg, rep, reason);
    msg.push_str(&format!(
        ". {act} active and {bck} backup servers online.{} {xferred} sessions requeued, {qlen} total in queue.",
        if bck > 0 && act == 0 { " Running on backup." } else { "" },
    ));
    report_change(px, "[WARNING]", 5, &msg);
}

fn send_dequeued(cx: &mut Cx<'_, Msg>, p: (Pending, usize), be: usize) {
    let (p, srv) = p;
    cx.send(
        p.tid,
        Msg::Dequeued {
            token: p.token,
            be,
            srv,
        },
    );
}

/// `set server <b>/<s> health up|stopping|down` on a checked server:
/// the health counter jumps to its limit and the state follows.
pub fn set_health(cx: &mut Cx<'_, Msg>, rt: &Runtime, be: usize, srv: usize, up: bool, why: &str) {
    let sv = &rt.proxies[be].servers[srv];
    if up {
        sv.chk.health.store(sv.cfg.rise + sv.cfg.fall - 1, Relaxed);
        set_running(cx, rt, be, srv, None, Some(why));
    } else {
        sv.chk.health.store(0, Relaxed);
        set_stopped(cx, rt, be, srv, None, Some(why));
    }
}

/// The `status` column of a server (HAProxy's srv_hlt_st).
pub fn status_text(sv: &ServerRt) -> String {
    let adm = sv.admin.load(Relaxed);
    let (rise, fall) = (sv.cfg.rise, sv.cfg.fall);
    let h = sv.chk.health.load(Relaxed);
    if adm & crate::runtime::ADM_RMAINT != 0 {
        return "MAINT (resolution)".into();
    }
    if adm & crate::runtime::ADM_MAINT != 0 {
        return "MAINT".into();
    }
    if sv.up.load(Relaxed) {
        let going_down = sv.chk.enabled && h < rise + fall - 1;
        let drain = adm & crate::runtime::ADM_DRAIN != 0;
        match (drain, going_down) {
            (true, true) => format!("DRAIN {}/{}", h + 1 - rise.min(h + 1), fall),
            (true, false) => "DRAIN".into(),
            (false, true) => format!("UP {}/{}", h + 1 - rise.min(h + 1), fall),
            (false, false) if sv.chk.enabled => "UP".into(),
            _ => "no check".into(),
        }
    } else if sv.chk.enabled && h > 0 {
        format!("DOWN {h}/{rise}")
    } else {
        "DOWN".into()
    }
}

// ---------------------------------------------------------------------
// Running checks

struct Running {
    be: u32,
    srv: u32,
    timer: TimerId,
    fd: RawFd,
    connected: bool,
    start_ms: u64,
    out: Vec<u8>,
    inb: Vec<u8>,
    /// Next tcp-check step.
    step: usize,
    /// Connect step in progress (tcp-check), for error messages.
    cur: Option<usize>,
    eof: bool,
    /// The current connection closes gracefully (`tcp-check connect
    /// linger`).
    linger: bool,
    /// The running external check's process (0: none).
    pid: i32,
    /// The current connection starts with a PROXY header (the default
    /// connect of a server with `check-send-proxy`, or with `send-proxy*`
    /// and no check port or address of its own).
    pp: bool,
    /// TLS over the check connection (`check-ssl`, or `ssl` on a server
    /// checked on its own address): the rules run once its handshake is
    /// done (a PROXY header goes first, in clear).
    tls: Option<Box<crate::ssl_sock::Tls>>,
}

/// One thread's checks.
#[derive(Default)]
pub struct Runner {
    checks: Vec<Running>,
    rules: Vec<Option<std::rc::Rc<Rules>>>,
}

/// Largest response kept (HAProxy's tune.chksize default).
const CHK_BUF: usize = 16384;

fn getinter(sv: &ServerRt) -> u64 {
    let c = &sv.cfg;
    let h = sv.chk.health.load(Relaxed);
    if h == c.rise + c.fall - 1 {
        c.inter_ms as u64
    } else if !sv.up.load(Relaxed) && h == 0 {
        c.downinter_ms.unwrap_or(c.inter_ms) as u64
    } else {
        c.fastinter_ms.unwrap_or(c.inter_ms) as u64
    }
}

impl Runner {
    /// Starts this thread's share of the checks, spread over the smallest
    /// interval like HAProxy's `start_checks()`.
    pub fn start(&mut self, cx: &mut Cx<'_, Msg>, rt: &Runtime) {
        let mut all = Vec::new();
        let mut mininter = 0u64;
        for (bi, px) in rt.proxies.iter().enumerate() {
            if px.cfg.disabled || !px.is_backend {
                continue;
            }
            for (si, sv) in px.servers.iter().enumerate() {
                if sv.chk.enabled {
                    let i = getinter(sv);
                    if i >= 1000 && (mininter == 0 || i < mininter) {
                        mininter = i;
                    }
                    all.push((bi, si));
                }
            }
        }
        let nb = all.len() as u64;
        let (tid, nbt) = (cx.tid(), cx.nbthread());
        let now = cx.now();
        for (pos, &(bi, si)) in all.iter().enumerate() {
            if pos % nbt != tid {
                continue;
            }
            if self.rules.len() <= bi {
                self.rules.resize(bi + 1, None);
            }
            if self.rules[bi].is_none() {
                match compile(&rt.proxies[bi].cfg) {
                    Ok(Some(r)) => self.rules[bi] = Some(std::rc::Rc::new(r)),
                    // Refused at start-up already (support.rs).
                    _ => continue,
                }
            }
            let sv = &rt.proxies[bi].servers[si];
            let inter = mininter.max(getinter(sv));
            let timer = cx.timer_create(token(K_CHECK, bi as u32, si as u32));
            cx.timer_arm(timer, now + inter * pos as u64 / nb.max(1));
            self.checks.push(Running {
                be: bi as u32,
                srv: si as u32,
                timer,
                fd: -1,
                connected: false,
                start_ms: 0,
                out: Vec::new(),
                inb: Vec::new(),
                step: 0,
                cur: None,
                eof: false,
                linger: false,
                pid: 0,
                pp: false,
                tls: None,
            });
        }
    }

    fn find(&self, be: u32, srv: u32) -> Option<usize> {
        self.checks.iter().position(|c| c.be == be && c.srv == srv)
    }

    pub fn on_timer(&mut self, cx: &mut Cx<'_, Msg>, rt: &Runtime, be: u32, srv: u32) {
        let Some(i) = self.find(be, srv) else { return };
        if self.checks[i].fd >= 0 {
            self.fail_conn(cx, rt, i, None, true);
        } else if self.checks[i].pid > 0 {
            // Not done in time: HAProxy says so on stderr, terminates the
            // program (reaped by the SIGCHLD handler) and fails the check.
            let pid = self.checks[i].pid;
            {
                let mut g = EXT_PIDS.lock().unwrap_or_else(|e| e.into_inner());
                g.retain(|e| e.0 != pid);
            }
            eprintln!("{:<11}({}) : kill {pid}", "[WARNING]", std::process::id());
            // SAFETY: kill has no pointer arguments; the pid is our child,
            // not reaped yet (reaping removes it from EXT_PIDS first, and
            // we held that lock while checking it was still listed... it
            // may have ended meanwhile, in which case it is a zombie until
            // reaped, and the signal is harmless).
            unsafe { libc::kill(pid, libc::SIGTERM) };
            self.checks[i].pid = 0;
            self.finish(cx, rt, i, Status::ProcTout, 0, String::new());
        } else {
            self.begin(cx, rt, i);
        }
    }

    /// An external check's program ended (wait status `status`).
    pub fn on_ext_done(&mut self, cx: &mut Cx<'_, Msg>, rt: &Runtime, be: u32, srv: u32, pid: i32, status: i32) {
        let Some(i) = self.find(be, srv) else { return };
        if self.checks[i].pid != pid {
            return;
        }
        self.checks[i].pid = 0;
        let (st, code) = if libc::WIFEXITED(status) {
            let c = libc::WEXITSTATUS(status) as u32;
            (if c == 0 { Status::ProcOk } else { Status::ProcErr }, c)
        } else {
            (Status::ProcErr, u32::MAX)
        };
        self.finish(cx, rt, i, st, code, String::new());
    }

    /// Starts an external check's program: HAProxy's argv (command, proxy
    /// address and port, server address and port) and its environment
    /// only (PATH from `external-check path`, the HAPROXY_* variables).
    fn ext_start(&mut self, cx: &mut Cx<'_, Msg>, rt: &Runtime, i: usize, x: &ExtCmd) {
        use std::os::unix::process::CommandExt;
        let (be, srv) = (self.checks[i].be, self.checks[i].srv);
        let px = &rt.proxies[be as usize];
        let sv = &px.servers[srv as usize];
        let target = sv.target.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let (saddr, sport) = match target {
            Target::Inet(a) | Target::InetPortOffset(a, _) => (a.ip().to_string(), a.port().to_string()),
            Target::Unix(p) | Target::Abns(p) => (p, "NOT_USED".to_string()),
        };
        let env_val = |v: &str| if v == "NOT_USED" { String::new() } else { v.to_string() };
        let proto = if x.http {
            sv.cfg.proto.clone().unwrap_or_else(|| "h1".into())
        } else {
            "tcp".into()
        };
        let mut c = std::process::Command::new(&x.cmd);
        c.args([&x.px_addr, &x.px_port, &saddr, &sport])
            .env_clear()
            .env("PATH", &x.path)
            .env("HAPROXY_PROXY_NAME", &x.px_name)
            .env("HAPROXY_PROXY_ID", x.px_id.to_string())
            .env("HAPROXY_PROXY_ADDR", env_val(&x.px_addr))
            .env("HAPROXY_PROXY_PORT", env_val(&x.px_port))
            .env("HAPROXY_SERVER_NAME", &sv.name)
            .env("HAPROXY_SERVER_ID", sv.id.to_string())
            .env("HAPROXY_SERVER_ADDR", &saddr)
            .env("HAPROXY_SERVER_PORT", env_val(&sport))
            .env("HAPROXY_SERVER_MAXCONN", sv.cfg.maxconn.to_string())
            .env("HAPROXY_SERVER_CURCONN", sv.served.load(Relaxed).to_string())
            .env("HAPROXY_SERVER_SSL", "0")
            .env("HAPROXY_SERVER_PROTO", proto);
        // SAFETY: the closure runs in the forked child before exec and
        // only makes async-signal-safe system calls on its own stack data:
        // sigprocmask(2) with an empty set unblocks the signals every
        // thread here keeps blocked for the signalfd (the program must
        // die of the SIGTERM a timeout sends; HAProxy unblocks them too;
        // SIGPIPE stays ignored as in HAProxy's child), and close_range(2)
        // makes every descriptor from 3 up close at exec (HAProxy closes
        // them all) while the one std uses to report exec errors, already
        // close-on-exec, keeps working. Kernels without close_range fail
        // it harmlessly (our descriptors are close-on-exec already).
        unsafe {
            c.pre_exec(|| {
                let mut set: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut set);
                libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
                libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, libc::CLOSE_RANGE_CLOEXEC);
                Ok(())
            });
        }
        let now = cx.now();
        let t = &px.cfg.timeouts;
        let mut exp = now + sv.cfg.inter_ms as u64;
        if let (Some(_), Some(tc)) = (t.check, t.connect) {
            exp = exp.min(now + tc as u64);
        }
        let timer = self.checks[i].timer;
        cx.timer_arm(timer, exp);
        let mut g = EXT_PIDS.lock().unwrap_or_else(|e| e.into_inner());
        match c.spawn() {
            Ok(child) => {
                let pid = child.id() as i32;
                g.push((pid, cx.tid(), be, srv));
                self.checks[i].pid = pid;
            }
            Err(e) => {
                drop(g);
                // HAProxy's child reports this and exits with -1.
                eprintln!(
                    "{:<11}({}) : Failed to exec process for external health check: {}. Aborting.",
                    "[ALERT]",
                    std::process::id(),
                    strerror(&e)
                );
                self.finish(cx, rt, i, Status::ProcErr, 255, String::new());
            }
        }
    }

    pub fn on_io(&mut self, cx: &mut Cx<'_, Msg>, rt: &Runtime, be: u32, srv: u32, ev: Events) {
        let Some(i) = self.find(be, srv) else { return };
        if self.checks[i].fd < 0 {
            return;
        }
        let fd = self.checks[i].fd;
        if !self.checks[i].connected {
            if ev.0 & (Events::ERR | Events::HUP) != 0 || ev.writable() {
                match crate::sock::take_error(fd) {
                    Ok(None) if ev.0 & Events::ERR == 0 => {}
                    Ok(Some(e)) | Err(e) => return self.fail_conn(cx, rt, i, Some(e), false),
                    Ok(None) => return self.fail_conn(cx, rt, i, None, false),
                }
                self.on_connected(cx, rt, i);
            }
            return;
        }
        if ev.writable() {
            self.flush(cx, rt, i);
            if self.checks[i].fd < 0 {
                return;
            }
        }
        if self.checks[i].tls.is_some() && (ev.readable() || ev.0 & (Events::HUP | Events::ERR | Events::RDHUP) != 0) {
            return self.tls_read(cx, rt, i);
        }
        if ev.readable() || ev.0 & (Events::HUP | Events::ERR | Events::RDHUP) != 0 {
            let mut tmp = [0u8; 4096];
            loop {
                let c = &mut self.checks[i];
                match crate::sock::recv(fd, &mut tmp) {
                    Ok(0) => {
                        c.eof = true;
                        break;
                    }
                    Ok(n) => {
                        let room = CHK_BUF.saturating_sub(c.inb.len());
                        c.inb.extend_from_slice(&tmp[..n.min(room)]);
                        if c.inb.len() >= CHK_BUF {
                            c.eof = true;
                            break;
                        }
                    }
                    Err(e) if crate::sock::is_would_block(&e) => break,
                    Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
                    Err(_) => {
                        c.eof = true;
                        break;
                    }
                }
            }
            self.advance(cx, rt, i);
        }
    }

    /// Reads a TLS check connection: handshake first (then the rules
    /// run: `ok` is Layer6), then the response as for a plain one.
    fn tls_read(&mut self, cx: &mut Cx<'_, Msg>, rt: &Runtime, i: usize) {
        use crate::ssl_sock::Rx;
        let fd = self.checks[i].fd;
        let mut tmp = [0u8; 4096];
        let mut ready = true;
        loop {
            let c = &mut self.checks[i];
            let Some(t) = c.tls.as_deref_mut() else { return };
            let was_hs = t.handshaking();
            match t.recv(fd, &mut tmp, &mut ready) {
                Rx::Data(n) => {
                    let room = CHK_BUF.saturating_sub(c.inb.len());
                    c.inb.extend_from_slice(&tmp[..n.min(room)]);
                    if c.inb.len() >= CHK_BUF {
                        c.eof = true;
                        break;
                    }
                    if was_hs && !t.handshaking() {
                        self.run_rules(cx, rt, i, Status::L6Ok);
                        if self.checks[i].fd < 0 {
                            return;
                        }
                    }
                }
                Rx::Again => {
                    if t.pending() {
                        cx.want_send(fd);
                    }
                    if t.handshaking() {
                        return;
                    }
                    break;
                }
                Rx::Eof | Rx::Error if t.handshaking() => {
                    return self.finish(cx, rt, i, Status::L6Rsp, 0, "SSL handshake failure".into());
                }
                Rx::Eof | Rx::Error => {
                    c.eof = true;
                    break;
                }
            }
        }
        self.advance(cx, rt, i);
    }

    /// Starts a check: a connection to the check address.
    fn begin(&mut self, cx: &mut Cx<'_, Msg>, rt: &Runtime, i: usize) {
        let (be, srv) = (self.checks[i].be as usize, self.checks[i].srv as usize);
        let px = &rt.proxies[be];
        let sv = &px.servers[srv];
        let now = cx.now();
        if sv.in_maint() || sv.is_deleted() || rt.stopping.load(Relaxed) {
            // Paused: look again later.
            let t = self.checks[i].timer;
            cx.timer_arm(t, now + sv.cfg.inter_ms as u64);
            return;
        }
        let c = &mut self.checks[i];
        c.start_ms = now;
        c.connected = false;
        c.inb.clear();
        c.out.clear();
        c.eof = false;
        c.step = 0;
        c.cur = None;
        sv.chk.in_progress.store(true, Relaxed);
        let rules = self.rules[be].clone().expect("rules of a checked backend");
        if let Rules::External(x) = &*rules {
            return self.ext_start(cx, rt, i, x);
        }
        self.checks[i].linger = false;
        // HAProxy's implicit first connect (TCPCHK_OPT_DEFAULT_CONNECT)
        // is the one that sends the server's PROXY header.
        let mut default_connect = true;
        let port = match &*rules {
            Rules::Tcp { steps, .. } => match steps.first() {
                Some(Step::Connect { port, linger }) => {
                    self.checks[i].step = 1;
                    self.checks[i].cur = Some(0);
                    self.checks[i].linger = *linger;
                    default_connect = false;
                    *port
                }
                _ => None,
            },
            _ => None,
        };
        self.checks[i].pp = default_connect && check_sends_proxy(&sv.cfg);
        self.connect(cx, rt, i, port);
    }

    /// The TLS layer of a new check connection: `check-ssl`, or `ssl` when
    /// the check goes to the server's own address and port (HAProxy).
    fn check_tls(sv: &ServerRt, port: Option<u16>) -> Option<Box<crate::ssl_sock::Tls>> {
        let ctx = sv.tls.as_deref()?;
        let ssl = &sv.cfg.ssl;
        let own = port.is_none() && sv.cfg.check_port.is_none() && sv.cfg.check_addr.is_none();
        if !(ssl.check_ssl || (ssl.enabled && own)) {
            return None;
        }
        let ip = match Self::check_target(sv, port) {
            Some(Target::Inet(a)) => Some(a.ip()),
            _ => None,
        };
        // `check-sni` names the check's connection; else no SNI.
        let name = match ssl
            .check_sni
            .as_deref()
            .map(|n| rustls::pki_types::ServerName::try_from(n.to_ascii_lowercase()))
        {
            Some(Ok(n)) => n,
            _ => ctx.name(None, None, ip),
        };
        crate::ssl_sock::Tls::connect(ctx, name)
    }

    fn check_target(sv: &ServerRt, port: Option<u16>) -> Option<Target> {
        let base = sv.target.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let ip = match &sv.cfg.check_addr {
            Some(a) => a.parse::<std::net::IpAddr>().ok(),
            None => None,
        };
        let port = port.or(sv.cfg.check_port);
        match base {
            Target::Inet(a) => {
                let mut a = a;
                if let Some(ip) = ip {
                    a.set_ip(ip);
                }
                if let Some(p) = port {
                    a.set_port(p);
                }
                Some(Target::Inet(a))
            }
            Target::InetPortOffset(a, _) => {
                // No fixed port: only a `port` makes the check possible.
                let p = port?;
                Some(Target::Inet(std::net::SocketAddr::new(ip.unwrap_or(a.ip()), p)))
            }
            t => Some(t),
        }
    }

    fn connect(&mut self, cx: &mut Cx<'_, Msg>, rt: &Runtime, i: usize, port: Option<u16>) {
        let (be, srv) = (self.checks[i].be as usize, self.checks[i].srv as usize);
        let px = &rt.proxies[be];
        let sv = &px.servers[srv];
        let raw = match Self::check_target(sv, port) {
            Some(Target::Inet(a)) => Ok(crate::sock::RawAddr::from_inet(&a)),
            Some(Target::Unix(p)) => crate::sock::RawAddr::from_unix(&p, false),
            Some(Target::Abns(p)) => crate::sock::RawAddr::from_unix(&p, true),
            _ => {
                return self.finish(cx, rt, i, Status::SockErr, 0, String::new());
            }
        };
        let res = raw.and_then(|raw| {
            let fd = crate::sock::socket(raw.family(), libc::SOCK_STREAM)?;
            match crate::sock::connect(fd, &raw) {
                Ok(done) => Ok((fd, done)),
                Err(e) => {
                    crate::sock::close_raw(fd);
                    // connect() refusing at once: HAProxy's
                    // CO_ER_SOCK_ERR text with the errno.
                    Err(std::io::Error::other(format!(
                        "General socket error ({})",
                        strerror(&e)
                    )))
                }
            }
        });
        let now = cx.now();
        let t = &px.cfg.timeouts;
        let mut exp = now + sv.cfg.inter_ms as u64;
        if let (Some(_), Some(tc)) = (t.check, t.connect) {
            exp = exp.min(now + tc as u64);
        }
        let timer = self.checks[i].timer;
        cx.timer_arm(timer, exp);
        match res {
            Ok((fd, done)) => {
                cx.fd_insert(fd, token(K_CHECK, be as u32, srv as u32));
                self.checks[i].fd = fd;
                self.checks[i].tls = Self::check_tls(sv, port);
                if done {
                    self.on_connected(cx, rt, i);
                } else {
                    cx.want_send(fd);
                }
            }
            Err(e) => self.fail_conn(cx, rt, i, Some(e), false),
        }
    }

    fn on_connected(&mut self, cx: &mut Cx<'_, Msg>, rt: &Runtime, i: usize) {
        let (be, srv) = (self.checks[i].be as usize, self.checks[i].srv as usize);
        let fd = self.checks[i].fd;
        self.checks[i].connected = true;
        cx.stop_send(fd);
        cx.want_recv(fd);
        if let Some(tc) = rt.proxies[be].cfg.timeouts.check {
            let timer = self.checks[i].timer;
            cx.timer_arm(timer, cx.now() + tc as u64);
        }
        if self.checks[i].pp {
            // The PROXY header goes out before anything of the check, and
            // below TLS.
            let tls = self.checks[i].tls.take();
            let sv = &rt.proxies[be].servers[srv];
            let mut line = Vec::with_capacity(64);
            check_pp_line(&sv.cfg, fd, &mut line);
            self.checks[i].out = line;
            self.flush(cx, rt, i);
            if !self.checks[i].connected || self.checks[i].fd != fd {
                // The send failed and the check is over.
                return;
            }
            self.checks[i].tls = tls;
        }
        if let Some(t) = self.checks[i].tls.as_deref_mut() {
            // ClientHello out; the rules run when the handshake is done.
            match t.flush(fd) {
                Ok(()) => {}
                Err(e) if crate::sock::is_would_block(&e) => cx.want_send(fd),
                Err(e) => return self.fail_conn(cx, rt, i, Some(e), false),
            }
            return;
        }
        self.run_rules(cx, rt, i, Status::L4Ok);
    }

    /// The check's connection is usable (after its TLS handshake if any):
    /// a pure connect check ends with `ok`, others send or expect.
    fn run_rules(&mut self, cx: &mut Cx<'_, Msg>, rt: &Runtime, i: usize, ok: Status) {
        let be = self.checks[i].be as usize;
        let rules = self.rules[be].clone().expect("rules");
        match &*rules {
            Rules::L4 => self.finish(cx, rt, i, ok, 0, String::new()),
            Rules::Http { req, state_at, .. } => {
                let at = state_at.unwrap_or(req.len());
                let srv = self.checks[i].srv as usize;
                let out = &mut self.checks[i].out;
                out.extend_from_slice(&req[..at]);
                if state_at.is_some() {
                    out.extend_from_slice(b"x-haproxy-server-state: ");
                    out.extend_from_slice(server_state(rt, be, srv).as_bytes());
                    out.extend_from_slice(b"\r\n");
                }
                out.extend_from_slice(&req[at..]);
                self.flush(cx, rt, i);
            }
            Rules::Tcp { .. } => self.advance(cx, rt, i),
            // No connection: the program does the checking.
            Rules::External(_) => {}
        }
    }

    fn flush(&mut self, cx: &mut Cx<'_, Msg>, rt: &Runtime, i: usize) {
        let fd = self.checks[i].fd;
        let c = &mut self.checks[i];
        if let Some(t) = c.tls.as_deref_mut() {
            let mut ready = true;
            match t.send(fd, &c.out, &[], &mut ready) {
                Ok(n) => {
                    c.out.drain(..n);
                }
                Err(e) => return self.fail_conn(cx, rt, i, Some(e), false),
            }
            if !ready || t.pending() || (!c.out.is_empty() && !t.handshaking()) {
                cx.want_send(fd);
            } else {
                cx.stop_send(fd);
            }
            return;
        }
        while !self.checks[i].out.is_empty() {
            match crate::sock::send(fd, &self.checks[i].out, false) {
                Ok(n) => {
                    self.checks[i].out.drain(..n);
                }
                Err(e) if crate::sock::is_would_block(&e) => {
                    cx.want_send(fd);
                    return;
                }
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => {}
                Err(e) => return self.fail_conn(cx, rt, i, Some(e), false),
            }
        }
        cx.stop_send(fd);
    }

    /// Evaluates what was received (and runs the next tcp-check steps).
    fn advance(&mut self, cx: &mut Cx<'_, Msg>, rt: &Runtime, i: usize) {
        let be = self.checks[i].be as usize;
        let rules = self.rules[be].clone().expect("rules");
        match &*rules {
            Rules::L4 | Rules::External(_) => {}
            Rules::Http { expects, .. } => {
                if let Some((st, code, desc)) = eval_http(&self.checks[i].inb, self.checks[i].eof, expects) {
                    self.finish(cx, rt, i, st, code, desc);
                }
            }
            Rules::Tcp { steps, proto } => loop {
                let c = &mut self.checks[i];
                let Some(step) = steps.get(c.step) else {
                    // All rules passed: the result follows the last one
                    // (HAProxy's end of `tcpcheck_main()`).
                    return match c.cur.and_then(|k| steps.get(k)) {
                        Some(Step::Expect(e)) => {
                            let data = std::mem::take(&mut c.inb);
                            let desc = match &e.on_success {
                                Some(f) => f.eval(&data),
                                None if *proto => String::new(),
                                None => "(tcp-check)".into(),
                            };
                            let code = e.status_code.as_ref().map_or(0, |x| code_of(x, &data));
                            self.finish(cx, rt, i, e.ok_status.unwrap_or(Status::L7Ok), code, desc)
                        }
                        Some(Step::Connect { .. }) => self.finish(cx, rt, i, Status::L4Ok, 0, "(tcp-check)".into()),
                        // Only the implicit connect.
                        None if steps.is_empty() => self.finish(cx, rt, i, Status::L4Ok, 0, String::new()),
                        _ => self.finish(cx, rt, i, Status::L7Ok, 0, "(tcp-check)".into()),
                    };
                };
                c.cur = Some(c.step);
                match step {
                    Step::Connect { port, linger } => {
                        // A new connection for the following steps.
                        if c.fd >= 0 {
                            cx.fd_delete(c.fd);
                            c.fd = -1;
                        }
                        c.tls = None;
                        c.step += 1;
                        c.inb.clear();
                        c.eof = false;
                        c.connected = false;
                        c.linger = *linger;
                        return self.connect(cx, rt, i, *port);
                    }
                    Step::Send(d) => {
                        // A send starts a new response.
                        c.inb.clear();
                        c.out.extend_from_slice(d);
                        c.step += 1;
                        self.flush(cx, rt, i);
                        if self.checks[i].fd < 0 {
                            return;
                        }
                    }
                    Step::SendSslHello => {
                        c.inb.clear();
                        c.out.extend_from_slice(&ssl_hello(std::time::SystemTime::now()));
                        c.step += 1;
                        self.flush(cx, rt, i);
                        if self.checks[i].fd < 0 {
                            return;
                        }
                    }
                    Step::Custom { kind, min_recv } => {
                        let stepno = c.step + 1;
                        let last = c.eof || c.inb.len() >= CHK_BUF;
                        if c.inb.is_empty() && last {
                            let d = format!("TCPCHK got an empty response at step {stepno}");
                            return self.finish(cx, rt, i, Status::L7Rsp, 0, d);
                        }
                        if !last && (c.inb.is_empty() || c.inb.len() < *min_recv) {
                            return;
                        }
                        match eval_custom(*kind, &c.inb, last, c.step + 1 == steps.len()) {
                            CustomRes::Wait => return,
                            CustomRes::Continue => {
                                c.step += 1;
                                continue;
                            }
                            CustomRes::Done(st, code, desc) => return self.finish(cx, rt, i, st, code, desc),
                        }
                    }
                    Step::Expect(e) => {
                        let stepno = c.step + 1;
                        let (data, last) = (&c.inb, c.eof || c.inb.len() >= CHK_BUF);
                        if data.is_empty() && last {
                            let mut d = format!("TCPCHK got an empty response at step {stepno}");
                            if let Some(m) = &e.comment {
                                d.push_str(&format!(" comment: '{m}'"));
                            }
                            return self.finish(cx, rt, i, e.err_status.unwrap_or(Status::L7Rsp), 0, d);
                        }
                        if !last {
                            let short = match &e.what {
                                Match::Str(p) => data.len() < p.len(),
                                _ => false,
                            };
                            if data.is_empty() || short || (e.min_recv > 0 && (data.len() as i64) < e.min_recv) {
                                return;
                            }
                        }
                        let found = match &e.what {
                            Match::Str(p) => memmem(data, p),
                            Match::RStr(r) => r.is_match(data),
                            Match::RBin(r) => r.is_match(hex_upper(data).as_bytes()),
                            _ => false,
                        };
                        if !found && !last && e.min_recv == -1 {
                            // Absence is only known at the end.
                            return;
                        }
                        if found ^ e.inverse {
                            c.step += 1;
                            continue;
                        }
                        let mut desc = match &e.on_error {
                            Some(f) => f.eval(data),
                            None if *proto => String::new(),
                            None => format!(
                                "TCPCHK {} {} at step {stepno}",
                                if found {
                                    "matched unwanted content"
                                } else {
                                    "did not match content"
                                },
                                match e.kind {
                                    "string" => format!("'{}'", e.text),
                                    k => format!("({k})"),
                                }
                            ),
                        };
                        if let Some(m) = &e.comment {
                            desc.push_str(" comment: ");
                            desc.push_str(m);
                        }
                        let code = e.status_code.as_ref().map_or(0, |x| code_of(x, data));
                        return self.finish(cx, rt, i, e.err_status.unwrap_or(Status::L7Rsp), code, desc);
                    }
                }
            },
        }
    }

    /// A connection error or a timeout: HAProxy's `chk_report_conn_err()`.
    fn fail_conn(&mut self, cx: &mut Cx<'_, Msg>, rt: &Runtime, i: usize, err: Option<std::io::Error>, expired: bool) {
        let be = self.checks[i].be as usize;
        let connected = self.checks[i].connected;
        let mut desc = err.map(|e| strerror(&e)).unwrap_or_default();
        let rules = self.rules[be].clone().expect("rules");
        let mut tout = Status::L7Tout;
        if let Rules::Tcp { steps, proto } = &*rules {
            let cur = self.checks[i].cur.and_then(|k| Some((k, steps.get(k)?)));
            if let Some((_, Step::Expect(e))) = cur {
                tout = e.tout_status.unwrap_or(tout);
            }
            match cur {
                _ if *proto => {}
                None => desc.push_str(" at initial connection step of tcp-check"),
                Some((k, step)) => {
                    desc.push_str(&format!(" at step {} of tcp-check", k + 1));
                    match step {
                        Step::Connect { port: Some(p), .. } => desc.push_str(&format!(" (connect port {p})")),
                        Step::Connect { port: None, .. } => desc.push_str(" (connect)"),
                        Step::Send(_) | Step::SendSslHello => desc.push_str(" (send)"),
                        // Only protocol checks have them (no text above).
                        Step::Custom { .. } => desc.push_str(" (expect custom function)"),
                        Step::Expect(e) => {
                            match e.kind {
                                "string" => desc.push_str(&format!(" (expect string '{}')", e.text)),
                                "binary" => desc.push_str(&format!(" (expect binary '{}')", e.text)),
                                "binary regex" => desc.push_str(" (expect binary regex)"),
                                _ => desc.push_str(" (expect regex)"),
                            }
                            if let Some(m) = &e.comment {
                                desc.push_str(&format!(" comment: '{m}'"));
                            }
                        }
                    }
                }
            }
        }
        let hs = self.checks[i].tls.as_ref().is_some_and(|t| t.handshaking());
        let st = match (connected, expired) {
            (true, true) if hs => Status::L6Tout,
            (false, true) => Status::L4Tout,
            (false, false) => Status::L4Con,
            (true, true) => tout,
            (true, false) => Status::SockErr,
        };
        self.finish(cx, rt, i, st, 0, desc);
    }

    /// Ends a check: closes its connection, moves the health counter and
    /// the server state, schedules the next one.
    fn finish(&mut self, cx: &mut Cx<'_, Msg>, rt: &Runtime, i: usize, st: Status, code: u32, desc: String) {
        let c = &mut self.checks[i];
        if c.fd >= 0 {
            if !c.linger {
                crate::sock::set_nolinger(c.fd);
            }
            cx.fd_delete(c.fd);
            c.fd = -1;
        }
        c.tls = None;
        c.inb = Vec::new();
        c.out = Vec::new();
        let (be, srv) = (c.be as usize, c.srv as usize);
        let now = cx.now();
        let duration = now.saturating_sub(c.start_ms) as i64;
        let sv = &rt.proxies[be].servers[srv];
        let rep = Report {
            status: st,
            code,
            duration,
            desc,
        };
        let prev = std::mem::replace(
            &mut *sv.chk.report.lock().unwrap_or_else(|e| e.into_inner()),
            rep.clone(),
        );
        sv.chk.in_progress.store(false, Relaxed);
        let (rise, fall) = (sv.cfg.rise, sv.cfg.fall);
        let h = sv.chk.health.load(Relaxed);
        // Whether the health counter moved (HAProxy's `report`).
        let mut moved = false;
        if st.passed() {
            if h < rise + fall - 1 {
                let nh = if h + 1 >= rise { rise + fall - 1 } else { h + 1 };
                sv.chk.health.store(nh, Relaxed);
                moved = true;
            }
        } else if h > 0 {
            sv.chk.failed.fetch_add(1, Relaxed);
            let nh = if h - 1 < rise { 0 } else { h - 1 };
            sv.chk.health.store(nh, Relaxed);
            moved = true;
        }
        let px = &rt.proxies[be];
        if px.cfg.options.log_health_checks && (moved || prev.status != st) {
            let msg = health_log_line(sv, &px.name, &rep);
            report_change(px, "[WARNING]", 5, &msg);
        }
        // With `option log-health-checks` the result line already said
        // why: the state change goes without it, as in HAProxy.
        let why = (!px.cfg.options.log_health_checks).then_some(&rep);
        if st.passed() {
            if sv.chk.health.load(Relaxed) >= rise {
                set_running(cx, rt, be, srv, why, None);
            }
        } else {
            if sv.chk.health.load(Relaxed) == 0 {
                set_stopped(cx, rt, be, srv, why, None);
            }
        }
        let timer = self.checks[i].timer;
        cx.timer_arm(timer, now + getinter(sv).max(1));
    }
}

/// The `option log-health-checks` line of one check result (HAProxy's
/// `set_server_check_status()`), health counter already moved.
fn health_log_line(sv: &ServerRt, be: &str, rep: &Report) -> String {
    let (rise, fall) = (sv.cfg.rise, sv.cfg.fall);
    let h = sv.chk.health.load(Relaxed);
    let mut msg = format!(
        "Health check for {}server {be}/{} {}",
        if sv.cfg.backup { "backup " } else { "" },
        sv.name,
        if rep.status.passed() { "succeeded" } else { "failed" }
    );
    append_status(&mut msg, Some(rep), None);
    let (a, b, word) = if h >= rise {
        let w = if sv.uweight.load(Relaxed) > 0 { "UP" } else { "DRAIN" };
        (h - rise + 1, fall, w)
    } else {
        (h, rise, "DOWN")
    };
    msg.push_str(&format!(", status: {a}/{b} {word}."));
    msg
}

/// A `status-code` expression's value as an integer (0 when it is not
/// one, as a failed cast leaves HAProxy's code untouched at 0).
fn code_of(e: &ChkExpr, data: &[u8]) -> u32 {
    e.eval(data)
        .and_then(|v| std::str::from_utf8(&v).ok()?.trim().parse().ok())
        .unwrap_or(0)
}

/// HAProxy's `dump_binary()` as `rbinary` sees the data.
fn hex_upper(d: &[u8]) -> String {
    d.iter().map(|b| format!("{b:02X}")).collect()
}

fn memmem(h: &[u8], n: &[u8]) -> bool {
    n.is_empty() || h.windows(n.len()).any(|w| w == n)
}

/// Text of an OS error without Rust's " (os error N)" suffix, as
/// strerror() prints it.
fn strerror(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(p) => s[..p].to_string(),
        None => s,
    }
}

/// Evaluates an HTTP check response; `None` while more is needed.
fn eval_http(data: &[u8], eof: bool, expects: &[Expect]) -> Option<(Status, u32, String)> {
    let Some(hend) = data.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4) else {
        return eof.then(|| (Status::L7Rsp, 0, String::new()));
    };
    let head = String::from_utf8_lossy(&data[..hend]).to_string();
    let line = head.lines().next().unwrap_or("");
    let mut parts = line.splitn(3, ' ');
    let (ver, code) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let reason = parts.next().unwrap_or("").to_string();
    let code: u32 = match (ver.starts_with("HTTP/"), code.parse()) {
        (true, Ok(c)) if code.len() == 3 => c,
        _ => return Some((Status::L7Rsp, 0, String::new())),
    };
    let needs_body = expects.iter().any(|e| matches!(e.what, Match::Str(_) | Match::RStr(_)));
    let body = &data[hend..];
    if needs_body && !eof {
        let clen = head.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim()
                .eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        });
        match clen {
            Some(n) if body.len() >= n => {}
            _ => return None,
        }
    }
    if expects.is_empty() {
        return Some(if (200..400).contains(&code) {
            (Status::L7Ok, code, String::new())
        } else {
            (Status::L7Sts, code, reason)
        });
    }
    for e in expects {
        let (hit, fail_st, fail_desc) = match &e.what {
            Match::Status(r) => (
                r.iter().any(|&(a, b)| (a..=b).contains(&code)),
                Status::L7Sts,
                reason.clone(),
            ),
            Match::RStatus(re) => (re.is_match(code.to_string().as_bytes()), Status::L7Sts, reason.clone()),
            // Not an http-check pattern (refused when parsing).
            Match::RBin(_) => (false, Status::L7Rsp, String::new()),
            Match::Str(s) => (
                memmem(body, s),
                Status::L7Rsp,
                if e.inverse {
                    "HTTP check matched unwanted content".into()
                } else {
                    "HTTP content check did not match".into()
                },
            ),
            Match::RStr(re) => (
                re.is_match(body),
                Status::L7Rsp,
                if e.inverse {
                    "HTTP check matched unwanted content".into()
                } else {
                    "HTTP content check did not match".into()
                },
            ),
        };
        let body_rule = matches!(e.what, Match::Str(_) | Match::RStr(_));
        if body_rule && body.is_empty() {
            return Some((
                Status::L7Rsp,
                code,
                "HTTP content check could not find a response body".into(),
            ));
        }
        if !(hit ^ e.inverse) {
            return Some((fail_st, code, fail_desc));
        }
    }
    Some((Status::L7Ok, code, String::new()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(kind: &str, pat: &str, inv: bool) -> Expect {
        let l = RawLine {
            words: vec![],
            loc: Default::default(),
        };
        let mut w = vec![];
        if inv {
            w.push("!".to_string());
        }
        w.push(kind.to_string());
        w.push(pat.to_string());
        parse_expect(&l, &w, true, "p").unwrap()
    }

    #[test]
    fn http_expectations() {
        let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello";
        let nf = b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n";
        assert_eq!(eval_http(ok, false, &[]), Some((Status::L7Ok, 200, String::new())));
        assert_eq!(
            eval_http(nf, false, &[]),
            Some((Status::L7Sts, 404, "Not Found".into()))
        );
        assert_eq!(eval_http(b"HTTP/1.1 200 OK\r\n", false, &[]), None);
        assert_eq!(eval_http(b"junk\r\n\r\n", false, &[]).unwrap().0, Status::L7Rsp);
        let e = [ex("status", "200-299,404", false)];
        assert_eq!(eval_http(nf, false, &e).unwrap().0, Status::L7Ok);
        let e = [ex("rstatus", "^5", true)];
        assert_eq!(eval_http(ok, false, &e).unwrap().0, Status::L7Ok);
        let e = [ex("string", "hell", false)];
        assert_eq!(eval_http(ok, false, &e).unwrap().0, Status::L7Ok);
        // A body rule waits for the whole body.
        assert_eq!(eval_http(&ok[..ok.len() - 2], false, &e), None);
        let e = [ex("string", "bye", false)];
        assert_eq!(
            eval_http(ok, false, &e),
            Some((Status::L7Rsp, 200, "HTTP content check did not match".into()))
        );
    }

    #[test]
    fn check_request_forms() {
        let mut p = Proxy::default();
        p.options.httpchk = Some(vec![]);
        assert_eq!(http_request(&p).unwrap().0, b"OPTIONS / HTTP/1.0\r\n\r\n");
        p.options.httpchk = Some(vec!["GET".into(), "/h".into(), "HTTP/1.1".into()]);
        assert_eq!(
            http_request(&p).unwrap().0,
            b"GET /h HTTP/1.1\r\nconnection: close\r\n\r\n"
        );
        p.options.httpchk = Some(vec!["HEAD".into(), "/".into(), "HTTP/1.1\\r\\nHost:\\ www".into()]);
        assert_eq!(
            http_request(&p).unwrap().0,
            b"HEAD / HTTP/1.1\r\nhost: www\r\nconnection: close\r\n\r\n"
        );
        p.options.httpchk = Some(vec!["HEAD".into(), "/x".into()]);
        p.http_check.push(RawLine {
            words: [
                "http-check",
                "send",
                "hdr",
                "Host",
                "www.x",
                "meth",
                "GET",
                "uri",
                "/y",
                "ver",
                "HTTP/1.1",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
            loc: Default::default(),
        });
        assert_eq!(
            http_request(&p).unwrap().0,
            b"GET /y HTTP/1.1\r\nhost: www.x\r\nconnection: close\r\n\r\n"
        );
    }

    #[test]
    fn check_log_formats() {
        let lf = ChkLf::parse("%[res.payload(4,0),ltrim(' '),cut_crlf]").unwrap();
        assert_eq!(lf.eval(b"250  smtp ok\r\n250 more\r\n"), "smtp ok");
        let lf = ChkLf::parse("got %[res.payload(0,3)] 100%%").unwrap();
        assert_eq!(lf.eval(b"421 later"), "got 421 100%");
        // A payload beyond the data is no sample: "-".
        assert_eq!(ChkLf::parse("%[res.payload(6,0)]").unwrap().eval(b"E"), "-");
        assert_eq!(code_of(&ChkExpr::parse("res.payload(0,3)").unwrap(), b"512 DNS"), 512);
        assert_eq!(code_of(&ChkExpr::parse("res.payload(0,3)").unwrap(), b"abc"), 0);
        assert!(ChkLf::parse("%[req.hdr(host)]").unwrap_err().contains("req.hdr(host)"));
        assert!(ChkLf::parse("%[res.payload(0,0),base64]").is_err());
        assert!(ChkLf::parse("%ci").is_err());
    }

    #[test]
    fn tcp_expect_options_anywhere() {
        let l = RawLine {
            words: vec![],
            loc: Default::default(),
        };
        let w: Vec<String> = ["min-recv", "5", "!rstring", "^error", "comment", "negative check"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let e = parse_expect(&l, &w, false, "p").unwrap();
        assert!(e.inverse);
        assert_eq!(e.min_recv, 5);
        assert_eq!(e.comment.as_deref(), Some("negative check"));
        let w: Vec<String> = [
            "rbinary",
            "^52",
            "error-status",
            "L7STS",
            "on-error",
            "x%[res.payload(0,1)]",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let e = parse_expect(&l, &w, false, "p").unwrap();
        assert_eq!(e.err_status, Some(Status::L7Sts));
        assert!(matches!(e.what, Match::RBin(_)));
        let bad: Vec<String> = ["string", "x", "error-status", "NOPE"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert!(parse_expect(&l, &bad, false, "p").err().unwrap().contains("NOPE"));
        // Options http-check does not run yet are refused there.
        let w: Vec<String> = ["status", "200", "min-recv", "3"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert!(parse_expect(&l, &w, true, "p")
            .err()
            .unwrap()
            .contains("not supported yet"));
        assert_eq!(hex_upper(b"R\0\x0a"), "52000A");
    }

    #[test]
    fn custom_expects() {
        use CustomRes::*;
        // record header + the 0x79 bytes it announces, time at offset 11
        let h = ssl_hello(std::time::UNIX_EPOCH + std::time::Duration::from_secs(0x01020304));
        assert_eq!(h.len(), 5 + 0x79);
        assert_eq!(&h[11..15], &[1, 2, 3, 4]);
        let hs = b"\x0d\x00\x00\x00\x0a5.7.1\x00abcdef";
        assert_eq!(eval_custom(Custom::MysqlInit, &hs[..8], false, true), Wait);
        assert_eq!(
            eval_custom(Custom::MysqlInit, &hs[..8], true, true),
            Done(Status::L7Rsp, 0, String::new())
        );
        assert_eq!(eval_custom(Custom::MysqlInit, hs, false, false), Continue);
        assert_eq!(
            eval_custom(Custom::MysqlInit, hs, false, true),
            Done(Status::L7Ok, 0, "5.7.1".into())
        );
        let mut b = hs.to_vec();
        b.extend_from_slice(b"\x07\x00\x00\x02\xff\x15\x04#2800");
        assert_eq!(
            eval_custom(Custom::MysqlOk, &b, false, true),
            Done(Status::L7Sts, 1045, "#2800".into())
        );
        let ok = [0x30, 0x0c, 2, 1, 1, 0x61, 7, 0x0a, 1, 0, 4, 0, 4, 0];
        assert_eq!(
            eval_custom(Custom::LdapBind, &ok, false, true),
            Done(Status::L7Ok, 0, "Success".into())
        );
        assert_eq!(eval_custom(Custom::LdapBind, &ok[..10], false, true), Wait);
        // a length on 3 bytes is refused
        let long = [0x30, 0x83, 0, 0, 12];
        assert_eq!(
            eval_custom(Custom::LdapBind, &long, true, true),
            Done(Status::L7Rsp, 0, "Not LDAPv3 protocol".into())
        );
    }

    #[test]
    fn protocol_rule_sets() {
        let o = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let Rules::Tcp { steps, proto } = protocol_rules(&o(&["pgsql-check", "user", "bob"])).unwrap() else {
            panic!()
        };
        assert!(proto);
        let Step::Send(req) = &steps[1] else { panic!() };
        assert_eq!(req, b"\0\0\0\x12\0\x03\0\0user\0bob\0\0");
        let Rules::Tcp { steps, .. } = protocol_rules(&o(&["smtpchk", "EHLO", "d.tld"])).unwrap() else {
            panic!()
        };
        let sends: Vec<&[u8]> = steps
            .iter()
            .filter_map(|s| match s {
                Step::Send(d) => Some(d.as_slice()),
                _ => None,
            })
            .collect();
        assert_eq!(sends, [b"EHLO d.tld\r\n".as_slice(), b"QUIT\r\n"]);
        assert!(matches!(
            steps[0],
            Step::Connect {
                port: None,
                linger: true
            }
        ));
        assert!(protocol_rules(&o(&["spop-check"])).is_err());
        let Ok(Rules::Tcp { steps, .. }) = protocol_rules(&o(&["mysql-check"])) else {
            panic!()
        };
        assert_eq!(steps.len(), 2);
    }

    #[test]
    fn state_change_text() {
        let r = Report {
            status: Status::L4Con,
            code: 0,
            duration: 0,
            desc: "Connection refused".into(),
        };
        let mut m = String::from("Server b/s is DOWN");
        append_status(&mut m, Some(&r), None);
        assert_eq!(
            m,
            "Server b/s is DOWN, reason: Layer4 connection problem, info: \"Connection refused\", check duration: 0ms"
        );
        let r = Report {
            status: Status::L7Sts,
            code: 404,
            duration: 3,
            desc: "Not Found".into(),
        };
        let mut m = String::new();
        append_status(&mut m, Some(&r), None);
        assert_eq!(
            m,
            ", reason: Layer7 wrong status, code: 404, info: \"Not Found\", check duration: 3ms"
        );
    }
}
