//! Run-time DNS resolution of server addresses (HAProxy 2.6 resolvers.c's
//! run-time side and the server callbacks of server.c): one resolution per
//! (section, name, family preference) shared by the servers asking for it,
//! re-run every `timeout resolve`, retried every `timeout retry` up to
//! `resolve_retries` with the A/AAAA fallback, answers kept for `hold
//! obsolete`, errors tolerated for the matching `hold` period before the
//! server enters resolution maintenance (RMAINT). SRV records fill the
//! servers of a `server-template` (address from the additional records or
//! a resolution of the target, port and weight from the record).
//!
//! Everything runs on thread 0's event loop: one connected non-blocking
//! UDP socket per name server registered with the poller, one timer per
//! section. The counters `show resolvers` prints are shared atomics. This
//! module must not parse DNS bytes (that is `dns.rs`) nor touch streams:
//! it changes a server's address, port, weight and RMAINT bit, and asks
//! every thread to drop idle connections to an address that changed.

use crate::dns::{self, Data};
use crate::runtime::{Runtime, ServerRt, Target, ADM_MAINT, ADM_RMAINT};
use crate::worker::{token, Msg, K_DNS};
use reactor::{Cx, Events, TimerId};
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Counters of one name server (`show resolvers`).
#[derive(Default)]
pub struct NsStats {
    pub sent: AtomicU64,
    pub snd_error: AtomicU64,
    pub valid: AtomicU64,
    pub update: AtomicU64,
    pub cname: AtomicU64,
    pub cname_error: AtomicU64,
    pub any_err: AtomicU64,
    pub nx: AtomicU64,
    pub timeout: AtomicU64,
    pub refused: AtomicU64,
    pub other: AtomicU64,
    pub invalid: AtomicU64,
    pub too_big: AtomicU64,
    pub truncated: AtomicU64,
    pub outdated: AtomicU64,
}

/// A `resolvers` section at run time.
pub struct ResolversRt {
    pub cfg: config::model::Resolvers,
    pub ns: Vec<NsStats>,
}

impl ResolversRt {
    pub fn new(cfg: &config::model::Resolvers) -> ResolversRt {
        ResolversRt {
            ns: cfg.nameservers.iter().map(|_| NsStats::default()).collect(),
            cfg: cfg.clone(),
        }
    }
}

/// `show resolvers [section]`.
pub fn show(rt: &Runtime, only: &str) -> String {
    let mut s = String::new();
    if rt.resolvers.is_empty() {
        return "No resolvers found\n".into();
    }
    if !only.is_empty() && !rt.resolvers.iter().any(|r| r.cfg.name == only) {
        return "Can't find that resolvers section\n".into();
    }
    for r in rt.resolvers.iter().filter(|r| only.is_empty() || r.cfg.name == only) {
        let _ = writeln!(s, "Resolvers section {}", r.cfg.name);
        for (ns, c) in r.cfg.nameservers.iter().zip(&r.ns) {
            let _ = writeln!(s, " nameserver {}:", ns.name);
            for (k, v) in [
                ("sent", &c.sent),
                ("snd_error", &c.snd_error),
                ("valid", &c.valid),
                ("update", &c.update),
                ("cname", &c.cname),
                ("cname_error", &c.cname_error),
                ("any_err", &c.any_err),
                ("nx", &c.nx),
                ("timeout", &c.timeout),
                ("refused", &c.refused),
                ("other", &c.other),
                ("invalid", &c.invalid),
                ("too_big", &c.too_big),
                ("truncated", &c.truncated),
                ("outdated", &c.outdated),
            ] {
                let _ = writeln!(s, "  {:<13}{}", format!("{k}:"), v.load(Relaxed));
            }
        }
    }
    s
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Status {
    None,
    Valid,
    Nx,
    Timeout,
    Refused,
    Other,
}

/// What a response said, as HAProxy classifies it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Resp {
    Valid,
    Invalid,
    Nx,
    Refused,
    AncountZero,
    Truncated,
    Error,
}

/// A cached answer and when a response last carried it.
struct Item {
    data: Data,
    /// Additional-record address of an SRV target.
    ar: Option<IpAddr>,
    seen_ms: u64,
}

struct Resolution {
    sect: usize,
    name: String,
    srv: bool,
    prefer: u16,
    qtype: u16,
    id: u16,
    running: bool,
    try_left: u32,
    nb_queries: u32,
    nb_responses: u32,
    last_query: u64,
    last_resolution: Option<u64>,
    last_valid: u64,
    status: Status,
    /// Servers asking (backend, server) for A/AAAA; for SRV the servers
    /// of the template.
    reqs: Vec<(usize, usize)>,
    items: Vec<Item>,
}

/// Per-server resolution state (thread 0 only).
#[derive(Default, Clone)]
struct SrvDns {
    /// The A/AAAA resolution this server uses.
    res: Option<usize>,
    /// The SRV resolution whose slot this server is.
    srvrq: Option<usize>,
    hostname: Option<String>,
    /// The answer the current address comes from (still in the cache).
    ip_rec: Option<IpAddr>,
    /// Filled from an SRV record's additional section: no own resolution.
    from_ar: bool,
    /// (target, port) of the SRV record this slot holds.
    srv_key: Option<(String, u16)>,
    /// The server's section, for a later `set server fqdn`.
    sect: Option<usize>,
}

/// A name server's socket: UDP (connected once at start) or TCP
/// (`tcp@`, connected when a query is queued, queries and answers framed
/// by a 2-byte length, reopened after the server closes it).
struct Ns {
    fd: RawFd,
    tcp: bool,
    addr: SocketAddr,
    connecting: bool,
    out: Vec<u8>,
    inb: Vec<u8>,
}

/// The resolvers of the process, run by thread 0.
#[derive(Default)]
pub struct Runner {
    socks: Vec<Vec<Ns>>,
    timers: Vec<TimerId>,
    res: Vec<Resolution>,
    srv: Vec<Vec<SrvDns>>,
    next_id: u16,
    buf: Vec<u8>,
}

const NOTICE: u8 = 5;

fn pid() -> u32 {
    std::process::id()
}

fn family_type(prefer: Option<&str>) -> u16 {
    // HAProxy prefers IPv6 unless told otherwise.
    if prefer == Some("ipv4") {
        dns::T_A
    } else {
        dns::T_AAAA
    }
}

fn ip_in_net(ip: &IpAddr, net: &(IpAddr, u8)) -> bool {
    match (ip, net.0) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let m = if net.1 == 0 { 0 } else { u32::MAX << (32 - net.1 as u32) };
            u32::from(*a) & m == u32::from(n) & m
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let m = if net.1 == 0 {
                0
            } else {
                u128::MAX << (128 - net.1 as u32)
            };
            u128::from(*a) & m == u128::from(n) & m
        }
        _ => false,
    }
}

/// The current IP of a server (None when unset or not an IP target).
fn cur_ip(sv: &ServerRt) -> Option<IpAddr> {
    match &*sv.target.lock().unwrap_or_else(|e| e.into_inner()) {
        Target::Inet(a) | Target::InetPortOffset(a, _) if !a.ip().is_unspecified() => Some(a.ip()),
        _ => None,
    }
}

impl Runner {
    /// Opens the name server sockets and resolutions (thread 0, at start).
    pub fn start(&mut self, cx: &mut Cx<'_, Msg>, rt: &Runtime) {
        self.buf = vec![0u8; 65536];
        self.next_id = (pid() as u16).wrapping_mul(31).wrapping_add(cx.now() as u16);
        for (si, r) in rt.resolvers.iter().enumerate() {
            // A section no server names (such as the implicit `default`)
            // opens no socket and runs no timer.
            let used = rt.proxies.iter().filter(|p| p.is_backend && !p.cfg.disabled).any(|p| {
                p.servers
                    .iter()
                    .any(|s| s.cfg.resolvers.as_deref() == Some(r.cfg.name.as_str()))
            });
            let mut fds = Vec::new();
            for (ni, ns) in r.cfg.nameservers.iter().enumerate() {
                let mut s = Ns {
                    fd: -1,
                    tcp: ns.tcp,
                    addr: ns.addr,
                    connecting: false,
                    out: Vec::new(),
                    inb: Vec::new(),
                };
                if ns.tcp || !used {
                    fds.push(s);
                    continue;
                }
                s.fd = open_udp(&ns.addr).map_or(-1, |fd| {
                    cx.fd_insert(fd, token(K_DNS, si as u32, ni as u32));
                    cx.want_recv(fd);
                    fd
                });
                let failed = s.fd < 0;
                fds.push(s);
                if failed {
                    eprintln!(
                        "{:<11}({}) : resolvers '{}': can't create socket for nameserver '{}'.",
                        "[ALERT]",
                        pid(),
                        r.cfg.name,
                        ns.name
                    );
                }
            }
            self.socks.push(fds);
            self.timers.push(cx.timer_create(token(K_DNS, si as u32, u32::MAX)));
        }
        for (bi, px) in rt.proxies.iter().enumerate() {
            let mut v = vec![SrvDns::default(); px.servers.len()];
            if !px.is_backend || px.cfg.disabled {
                self.srv.push(v);
                continue;
            }
            for (i, sv) in px.servers.iter().enumerate() {
                let Some(sect) = sv
                    .cfg
                    .resolvers
                    .as_deref()
                    .and_then(|n| rt.resolvers.iter().position(|r| r.cfg.name == n))
                else {
                    continue;
                };
                v[i].sect = Some(sect);
                if let Some(rec) = sv.cfg.srv_record.as_deref() {
                    let r = self.resolution(sect, rec, true, dns::T_SRV);
                    self.res[r].reqs.push((bi, i));
                    v[i].srvrq = Some(r);
                } else if let Some(h) = config::resolvers::server_hostname(&sv.cfg) {
                    let r = self.resolution(sect, h, false, family_type(sv.cfg.resolve_prefer.as_deref()));
                    self.res[r].reqs.push((bi, i));
                    v[i].res = Some(r);
                    v[i].hostname = Some(h.to_string());
                }
            }
            self.srv.push(v);
        }
        let now = cx.now();
        for si in 0..self.timers.len() {
            self.process(cx, rt, si, now);
        }
    }

    fn resolution(&mut self, sect: usize, name: &str, srv: bool, prefer: u16) -> usize {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        if let Some(i) = self
            .res
            .iter()
            .position(|r| r.sect == sect && r.name == name && r.prefer == prefer && r.srv == srv)
        {
            return i;
        }
        self.res.push(Resolution {
            sect,
            name,
            srv,
            prefer,
            qtype: prefer,
            id: 0,
            running: false,
            try_left: 0,
            nb_queries: 0,
            nb_responses: 0,
            last_query: 0,
            last_resolution: None,
            last_valid: 0,
            status: Status::None,
            reqs: Vec::new(),
            items: Vec::new(),
        });
        self.res.len() - 1
    }

    /// `set server fqdn`: the server leaves its resolution for one of the
    /// new name (answered from the cache when that one is valid, else
    /// asked at once); its address stays until an answer comes.
    pub fn set_fqdn(&mut self, cx: &mut Cx<'_, Msg>, rt: &Runtime, be: usize, si: usize, fqdn: &str) {
        let Some(st) = self.srv.get(be).and_then(|v| v.get(si)) else {
            return;
        };
        let Some(sect) = st.sect else { return };
        let prefer = family_type(rt.proxies[be].servers[si].cfg.resolve_prefer.as_deref());
        if let Some(old) = st.res {
            self.res[old].reqs.retain(|x| *x != (be, si));
        }
        let r = self.resolution(sect, fqdn, false, prefer);
        self.res[r].reqs.push((be, si));
        let st = &mut self.srv[be][si];
        st.res = Some(r);
        st.hostname = Some(fqdn.to_string());
        st.ip_rec = None;
        let now = cx.now();
        if self.res[r].status == Status::Valid && !self.res[r].items.is_empty() {
            self.apply_ip(cx, rt, r, None, now);
        } else {
            if !self.res[r].running {
                self.res[r].last_resolution = None;
            }
            self.process(cx, rt, sect, now);
        }
    }

    pub fn on_timer(&mut self, cx: &mut Cx<'_, Msg>, rt: &Runtime, sect: u32) {
        let now = cx.now();
        self.process(cx, rt, sect as usize, now);
    }

    /// HAProxy's `process_resolvers()` for one section.
    fn process(&mut self, cx: &mut Cx<'_, Msg>, rt: &Runtime, si: usize, now: u64) {
        let Some(r) = rt.resolvers.get(si) else { return };
        let c = &r.cfg;
        for i in 0..self.res.len() {
            if self.res[i].sect != si || self.res[i].reqs.is_empty() {
                continue;
            }
            if self.res[i].running {
                if now < self.res[i].last_query + c.timeout_retry as u64 {
                    continue;
                }
                if self.res[i].try_left == 0 {
                    // 2.6 never counts these in `show resolvers`' timeout.
                    if self.res[i].nb_responses == 0 {
                        self.res[i].status = Status::Timeout;
                    }
                    self.report_error(cx, rt, i, now);
                    continue;
                }
                let res = &mut self.res[i];
                if res.nb_responses == 0 || res.prefer != res.qtype {
                    res.qtype = res.prefer;
                    res.try_left -= 1;
                } else if res.prefer == dns::T_A {
                    res.qtype = dns::T_AAAA;
                } else if res.prefer == dns::T_AAAA {
                    res.qtype = dns::T_A;
                } else {
                    res.try_left -= 1;
                }
                self.send(cx, rt, i, now);
            } else if self.res[i]
                .last_resolution
                .is_none_or(|l| now >= l + c.timeout_resolve as u64)
            {
                let res = &mut self.res[i];
                res.running = true;
                res.try_left = c.resolve_retries;
                res.qtype = res.prefer;
                self.send(cx, rt, i, now);
            }
        }
        self.arm(cx, rt, si, now);
    }

    fn arm(&mut self, cx: &mut Cx<'_, Msg>, rt: &Runtime, si: usize, now: u64) {
        let c = &rt.resolvers[si].cfg;
        if !self.res.iter().any(|r| r.sect == si && !r.reqs.is_empty()) {
            // Nothing to resolve: no wake-up (`set server fqdn` re-arms).
            cx.timer_disarm(self.timers[si]);
            return;
        }
        let mut next = now + c.timeout_resolve as u64;
        for res in self.res.iter().filter(|r| r.sect == si && !r.reqs.is_empty()) {
            let t = if res.running {
                res.last_query + c.timeout_retry as u64
            } else {
                res.last_resolution.map_or(now, |l| l + c.timeout_resolve as u64)
            };
            next = next.min(t);
        }
        cx.timer_arm(self.timers[si], next.max(now + 1));
    }

    fn send(&mut self, cx: &mut Cx<'_, Msg>, rt: &Runtime, i: usize, now: u64) {
        self.next_id = self.next_id.wrapping_add(1).max(1);
        let r = &rt.resolvers[self.res[i].sect];
        let res = &mut self.res[i];
        res.id = self.next_id;
        res.nb_queries = 0;
        res.nb_responses = 0;
        res.last_query = now;
        let payload = r.cfg.accepted_payload_size.min(65535) as u16;
        let Some(q) = dns::build_query(res.id, &res.name, res.qtype, payload) else {
            return;
        };
        let sect = res.sect;
        for ni in 0..self.socks[sect].len() {
            let ns = &mut self.socks[sect][ni];
            if ns.tcp {
                if ns.fd < 0 && !tcp_open(cx, ns, sect, ni) {
                    r.ns[ni].snd_error.fetch_add(1, Relaxed);
                    continue;
                }
                ns.out.extend_from_slice(&(q.len() as u16).to_be_bytes());
                ns.out.extend_from_slice(&q);
                if !ns.connecting {
                    cx.want_send(ns.fd);
                }
                r.ns[ni].sent.fetch_add(1, Relaxed);
                self.res[i].nb_queries += 1;
                continue;
            }
            if ns.fd < 0 {
                continue;
            }
            match crate::sock::send(ns.fd, &q, false) {
                Ok(_) => {
                    r.ns[ni].sent.fetch_add(1, Relaxed);
                    self.res[i].nb_queries += 1;
                }
                Err(_) => {
                    r.ns[ni].snd_error.fetch_add(1, Relaxed);
                }
            }
        }
    }

    /// Events on a TCP name server connection: finish connecting, flush
    /// queued queries, read framed answers.
    fn tcp_io(&mut self, cx: &mut Cx<'_, Msg>, rt: &Runtime, si: usize, ni: usize, ev: Events) {
        let mut frames = Vec::new();
        {
            let ns = &mut self.socks[si][ni];
            if ns.fd < 0 {
                return;
            }
            if ns.connecting {
                if !(ev.writable() || ev.error() || ev.hup()) {
                    return;
                }
                if !matches!(crate::sock::take_error(ns.fd), Ok(None)) {
                    tcp_close(cx, ns);
                    return;
                }
                ns.connecting = false;
                cx.want_recv(ns.fd);
            }
            while !ns.out.is_empty() {
                match crate::sock::send(ns.fd, &ns.out, false) {
                    Ok(n) => {
                        ns.out.drain(..n);
                    }
                    Err(e) if crate::sock::is_would_block(&e) => break,
                    Err(_) => {
                        tcp_close(cx, ns);
                        return;
                    }
                }
            }
            if ns.out.is_empty() {
                cx.stop_send(ns.fd);
            } else {
                cx.want_send(ns.fd);
            }
            let mut eof = false;
            loop {
                match crate::sock::recv(ns.fd, &mut self.buf) {
                    Ok(0) => {
                        eof = true;
                        break;
                    }
                    Ok(n) => ns.inb.extend_from_slice(&self.buf[..n]),
                    Err(e) if crate::sock::is_would_block(&e) => break,
                    Err(_) => {
                        eof = true;
                        break;
                    }
                }
            }
            while ns.inb.len() >= 2 {
                let len = u16::from_be_bytes([ns.inb[0], ns.inb[1]]) as usize;
                if ns.inb.len() < 2 + len {
                    break;
                }
                frames.push(ns.inb[2..2 + len].to_vec());
                ns.inb.drain(..2 + len);
            }
            if eof {
                tcp_close(cx, ns);
            }
        }
        for f in frames {
            let now = cx.now();
            self.response(cx, rt, si, ni, &f, now);
        }
    }

    /// Responses from name server `ni` of section `si`.
    pub fn on_io(&mut self, cx: &mut Cx<'_, Msg>, rt: &Runtime, si: u32, ni: u32, ev: Events) {
        let (si, ni) = (si as usize, ni as usize);
        let Some(ns) = self.socks.get(si).and_then(|v| v.get(ni)) else {
            return;
        };
        if ns.tcp {
            return self.tcp_io(cx, rt, si, ni, ev);
        }
        let fd = ns.fd;
        let mut buf = std::mem::take(&mut self.buf);
        // A pending ICMP error (refused port) is read once and skipped;
        // would-block ends the batch. The retry timer covers lost answers.
        let mut errors = 0;
        loop {
            let n = match crate::sock::recv(fd, &mut buf) {
                Ok(n) => n,
                Err(e) if crate::sock::is_would_block(&e) => break,
                Err(_) if errors < 4 => {
                    errors += 1;
                    continue;
                }
                Err(_) => break,
            };
            let now = cx.now();
            self.response(cx, rt, si, ni, &buf[..n], now);
        }
        self.buf = buf;
    }

    fn response(&mut self, cx: &mut Cx<'_, Msg>, rt: &Runtime, si: usize, ni: usize, b: &[u8], now: u64) {
        let r = &rt.resolvers[si];
        let st = &r.ns[ni];
        // Over TCP the length prefix allows up to 65535 bytes.
        if !self.socks[si][ni].tcp && b.len() > r.cfg.accepted_payload_size as usize {
            st.too_big.fetch_add(1, Relaxed);
            return;
        }
        let parsed = dns::parse_response(b);
        let id = match &parsed {
            Ok(p) => p.id,
            Err(_) if b.len() >= 2 => u16::from_be_bytes([b[0], b[1]]),
            Err(_) => {
                st.invalid.fetch_add(1, Relaxed);
                return;
            }
        };
        let Some(i) = self.res.iter().position(|x| x.sect == si && x.running && x.id == id) else {
            st.outdated.fetch_add(1, Relaxed);
            return;
        };
        self.res[i].nb_responses += 1;
        let kind = match &parsed {
            Err(_) => Resp::Invalid,
            Ok(p) if p.qname != self.res[i].name || p.qtype != self.res[i].qtype => Resp::Invalid,
            Ok(p) if p.truncated => Resp::Truncated,
            Ok(p) if p.rcode == dns::RCODE_NXDOMAIN => Resp::Nx,
            Ok(p) if p.rcode == dns::RCODE_REFUSED => Resp::Refused,
            Ok(p) if p.rcode != dns::RCODE_NOERROR => Resp::Error,
            Ok(p) if p.answers.is_empty() => Resp::AncountZero,
            Ok(p) => {
                let want = |d: &Data| match d {
                    Data::Ip(IpAddr::V4(_)) => self.res[i].qtype == dns::T_A,
                    Data::Ip(IpAddr::V6(_)) => self.res[i].qtype == dns::T_AAAA,
                    Data::Srv { .. } => self.res[i].srv,
                    _ => false,
                };
                if p.answers.iter().any(|a| want(&a.data)) {
                    Resp::Valid
                } else {
                    Resp::Error
                }
            }
        };
        let res = &mut self.res[i];
        match kind {
            Resp::Valid => {}
            Resp::Invalid => {
                res.status = Status::Other;
                st.invalid.fetch_add(1, Relaxed);
            }
            Resp::Nx => {
                res.status = Status::Nx;
                st.nx.fetch_add(1, Relaxed);
            }
            Resp::Refused => {
                res.status = Status::Refused;
                st.refused.fetch_add(1, Relaxed);
            }
            Resp::AncountZero => {
                res.status = Status::Other;
                st.any_err.fetch_add(1, Relaxed);
            }
            Resp::Truncated => {
                res.status = Status::Other;
                st.truncated.fetch_add(1, Relaxed);
            }
            Resp::Error => {
                res.status = Status::Other;
                st.other.fetch_add(1, Relaxed);
            }
        }
        if kind != Resp::Valid {
            if res.nb_responses < res.nb_queries {
                return;
            }
            if res.prefer != res.qtype {
                if res.try_left == 0 {
                    self.report_error(cx, rt, i, now);
                }
            } else if res.prefer == dns::T_A || res.prefer == dns::T_AAAA {
                res.qtype = if res.prefer == dns::T_A { dns::T_AAAA } else { dns::T_A };
                self.send(cx, rt, i, now);
            }
            return;
        }
        let Ok(p) = parsed else { return };
        res.status = Status::Valid;
        res.last_valid = now;
        st.valid.fetch_add(1, Relaxed);
        // Refresh the cache: carried answers are seen now; the others
        // go once older than `hold obsolete`.
        let obsolete = r.cfg.hold_obsolete as u64;
        for a in &p.answers {
            let data = match &a.data {
                Data::Ip(_) if !res.srv => a.data.clone(),
                Data::Srv { .. } if res.srv => a.data.clone(),
                _ => continue,
            };
            let ar = match &data {
                Data::Srv { target, .. } => p.additional.iter().find_map(|x| match &x.data {
                    Data::Ip(ip) if &x.name == target => Some(*ip),
                    _ => None,
                }),
                _ => None,
            };
            match res.items.iter_mut().find(|it| it.data == data) {
                Some(it) => {
                    it.seen_ms = now;
                    it.ar = ar;
                }
                None => res.items.push(Item { data, ar, seen_ms: now }),
            }
        }
        res.items.retain(|it| it.seen_ms == now || it.seen_ms + obsolete > now);
        if res.items.len() < p.answers.len() {
            // nothing else to do: duplicates collapse
        }
        res.running = false;
        res.last_resolution = Some(now);
        let label = format!("{}/{}", r.cfg.name, r.cfg.nameservers[ni].name);
        if self.res[i].srv {
            self.apply_srv(cx, rt, i, now);
        } else {
            self.apply_ip(cx, rt, i, Some(&label), now);
        }
        self.arm(cx, rt, si, now);
    }

    /// HAProxy's `snr_resolution_cb()` for each server of a valid A/AAAA
    /// resolution: keep an address still answered, else take the best
    /// scored answer (family, network, unused in the backend, current).
    fn apply_ip(&mut self, cx: &mut Cx<'_, Msg>, rt: &Runtime, i: usize, mut label: Option<&str>, now: u64) {
        let reqs = self.res[i].reqs.clone();
        for (be, si) in reqs {
            let px = &rt.proxies[be];
            let sv = &px.servers[si];
            let alive: Vec<IpAddr> = self.res[i]
                .items
                .iter()
                .filter_map(|it| match it.data {
                    Data::Ip(ip) => Some(ip),
                    _ => None,
                })
                .collect();
            let st = &self.srv[be][si];
            if st.ip_rec.is_some_and(|ip| alive.contains(&ip)) && cur_ip(sv) == st.ip_rec {
                self.srv_valid(cx, rt, be, si, false, now);
                label = None;
                continue;
            }
            self.srv[be][si].ip_rec = None;
            let prefer_v4 = self.res[i].prefer == dns::T_A;
            let current = cur_ip(sv);
            let mut best: Option<(i32, IpAddr)> = None;
            for ip in &alive {
                let mut score = 0;
                if ip.is_ipv4() == prefer_v4 {
                    score += 8;
                }
                if sv.cfg.resolve_net.iter().any(|n| ip_in_net(ip, n)) {
                    score += 4;
                }
                let used = self.srv[be]
                    .iter()
                    .enumerate()
                    .any(|(o, s)| o != si && s.res == Some(i) && s.ip_rec == Some(*ip));
                if used {
                    if !sv.cfg.allow_dup_ip {
                        continue;
                    }
                } else {
                    score += 2;
                }
                if current == Some(*ip) {
                    score += 1;
                }
                if best.is_none_or(|(b, _)| score > b) {
                    best = Some((score, *ip));
                }
            }
            match best {
                Some((_, ip)) => {
                    if let Some(l) = label {
                        rt.resolvers[self.res[i].sect]
                            .ns
                            .iter()
                            .zip(&rt.resolvers[self.res[i].sect].cfg.nameservers)
                            .find(|(_, n)| l.ends_with(&format!("/{}", n.name)))
                            .map(|(c, _)| c.update.fetch_add(1, Relaxed));
                    }
                    if current != Some(ip) {
                        set_addr(cx, rt, be, si, ip, None, label.unwrap_or("DNS cache"));
                    }
                    label = None;
                    self.srv[be][si].ip_rec = Some(ip);
                    self.srv_valid(cx, rt, be, si, false, now);
                }
                None => {
                    // All answers taken by other servers of the backend.
                    if set_rmaint(cx, rt, be, si, "No IP for server ") {
                        clear_addr(sv);
                    }
                }
            }
        }
    }

    /// A valid answer for a server: leave resolution maintenance.
    fn srv_valid(&mut self, cx: &mut Cx<'_, Msg>, rt: &Runtime, be: usize, si: usize, _srv: bool, _now: u64) {
        let px = &rt.proxies[be];
        let sv = &px.servers[si];
        if sv.admin.load(Relaxed) & ADM_RMAINT == 0 {
            return;
        }
        let host = self.srv[be][si].hostname.clone().unwrap_or_default();
        clear_rmaint(cx, rt, be, si, &host);
        if self.srv[be][si].srvrq.is_none() {
            let m = format!(
                "Server {}/{} administratively READY thanks to valid DNS answer",
                px.name, sv.name
            );
            eprintln!("{:<11}({}) : {m}.", "[WARNING]", pid());
            crate::log::send_text(&px.log, NOTICE, format!("{m}.").as_bytes());
        }
    }

    /// A resolution that failed for good this round: servers whose last
    /// valid answer is older than the status's `hold` enter RMAINT.
    fn report_error(&mut self, cx: &mut Cx<'_, Msg>, rt: &Runtime, i: usize, now: u64) {
        let c = &rt.resolvers[self.res[i].sect].cfg;
        let res = &mut self.res[i];
        res.running = false;
        res.last_resolution = Some(now);
        let (hold, cause) = match res.status {
            Status::Nx => (c.hold_nx, "DNS NX status"),
            Status::Timeout => (c.hold_timeout, "DNS timeout status"),
            Status::Refused => (c.hold_refused, "DNS refused status"),
            _ => (c.hold_other, "unspecified DNS error"),
        };
        let expired = now >= res.last_valid + hold as u64;
        if !expired {
            return;
        }
        res.items.clear();
        let srv = res.srv;
        for (be, si) in res.reqs.clone() {
            let sv = &rt.proxies[be].servers[si];
            if srv {
                self.release_slot(cx, rt, be, si);
                continue;
            }
            self.srv[be][si].ip_rec = None;
            if set_rmaint(cx, rt, be, si, cause) {
                clear_addr(sv);
            }
        }
    }

    /// Empties a template slot (its SRV record went away).
    fn release_slot(&mut self, cx: &mut Cx<'_, Msg>, rt: &Runtime, be: usize, si: usize) {
        let sv = &rt.proxies[be].servers[si];
        let st = &mut self.srv[be][si];
        if let Some(r) = st.res.take() {
            self.res[r].reqs.retain(|x| *x != (be, si));
        }
        let st = &mut self.srv[be][si];
        st.hostname = None;
        st.ip_rec = None;
        st.from_ar = false;
        st.srv_key = None;
        *sv.fqdn.lock().unwrap_or_else(|e| e.into_inner()) = None;
        set_rmaint(cx, rt, be, si, "entry removed from SRV record");
        // The slot forgets the record's address and port (its weight and
        // HMAINT flag stay, as in HAProxy).
        *sv.target.lock().unwrap_or_else(|e| e.into_inner()) =
            Target::Inet(SocketAddr::new(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 0));
    }

    /// HAProxy's SRV handling: each record takes the slot that already
    /// holds it or the first free one; its port and weight go to the
    /// server, its address comes from the additional section or from a
    /// resolution of the target.
    fn apply_srv(&mut self, cx: &mut Cx<'_, Msg>, rt: &Runtime, i: usize, now: u64) {
        let reqs = self.res[i].reqs.clone();
        let sect = self.res[i].sect;
        let records: Vec<(String, u16, u16, Option<IpAddr>)> = self.res[i]
            .items
            .iter()
            .filter_map(|it| match &it.data {
                Data::Srv {
                    target, port, weight, ..
                } => Some((target.clone(), *port, *weight, it.ar)),
                _ => None,
            })
            .collect();
        // Slots whose record is gone are freed first.
        for &(be, si) in &reqs {
            if let Some(k) = self.srv[be][si].srv_key.clone() {
                if !records.iter().any(|r| r.0 == k.0 && r.1 == k.1) {
                    self.release_slot(cx, rt, be, si);
                }
            }
        }
        for (target, port, weight, ar) in records {
            let slot = reqs
                .iter()
                .find(|(be, si)| self.srv[*be][*si].srv_key.as_ref() == Some(&(target.clone(), port)))
                .or_else(|| reqs.iter().find(|(be, si)| self.srv[*be][*si].srv_key.is_none()))
                .copied();
            let Some((be, si)) = slot else { continue };
            let px = &rt.proxies[be];
            let sv = &px.servers[si];
            let fresh = self.srv[be][si].srv_key.is_none();
            self.srv[be][si].srv_key = Some((target.clone(), port));
            if fresh {
                self.srv[be][si].hostname = Some(target.clone());
                *sv.fqdn.lock().unwrap_or_else(|e| e.into_inner()) = Some(target.clone());
                sv.admin.fetch_or(crate::runtime::ADM_HMAINT, Relaxed);
            }
            // The port and weight come from the record.
            {
                let mut t = sv.target.lock().unwrap_or_else(|e| e.into_inner());
                let ip = match &*t {
                    Target::Inet(a) | Target::InetPortOffset(a, _) => a.ip(),
                    _ => IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
                };
                *t = Target::Inet(SocketAddr::new(ip, port));
            }
            if !sv.cfg.ignore_weight {
                let w = (weight as u32).div_ceil(256);
                sv.uweight.store(w, Relaxed);
            }
            match ar {
                Some(ip) => {
                    if let Some(r) = self.srv[be][si].res.take() {
                        self.res[r].reqs.retain(|x| *x != (be, si));
                    }
                    self.srv[be][si].from_ar = true;
                    if cur_ip(sv) != Some(ip) {
                        set_addr(cx, rt, be, si, ip, Some(port), "DNS additional record");
                    }
                    self.srv[be][si].ip_rec = Some(ip);
                    clear_rmaint(cx, rt, be, si, &target);
                }
                None => {
                    self.srv[be][si].from_ar = false;
                    if self.srv[be][si].res.is_none() {
                        let r = self.resolution(sect, &target, false, family_type(sv.cfg.resolve_prefer.as_deref()));
                        self.res[r].reqs.push((be, si));
                        self.srv[be][si].res = Some(r);
                        if self.res[r].status == Status::Valid {
                            self.apply_ip(cx, rt, r, None, now);
                        } else if !self.res[r].running {
                            self.res[r].last_resolution = None;
                        }
                    } else if cur_ip(sv).is_some() {
                        clear_rmaint(cx, rt, be, si, &target);
                    }
                }
            }
        }
    }
}

/// Starts a non-blocking connection to a TCP name server.
fn tcp_open(cx: &mut Cx<'_, Msg>, ns: &mut Ns, si: usize, ni: usize) -> bool {
    let fam = if ns.addr.is_ipv4() {
        libc::AF_INET
    } else {
        libc::AF_INET6
    };
    let Ok(fd) = crate::sock::socket(fam, libc::SOCK_STREAM) else {
        return false;
    };
    match crate::sock::connect(fd, &crate::sock::RawAddr::from_inet(&ns.addr)) {
        Ok(done) => {
            cx.fd_insert(fd, token(K_DNS, si as u32, ni as u32));
            ns.fd = fd;
            ns.connecting = !done;
            ns.out.clear();
            ns.inb.clear();
            cx.want_send(fd);
            if done {
                cx.want_recv(fd);
            }
            true
        }
        Err(_) => {
            crate::sock::close_raw(fd);
            false
        }
    }
}

/// Drops a TCP name server connection and what was queued on it (the
/// retry timer asks again on a new one).
fn tcp_close(cx: &mut Cx<'_, Msg>, ns: &mut Ns) {
    if ns.fd >= 0 {
        cx.fd_delete(ns.fd);
    }
    ns.fd = -1;
    ns.connecting = false;
    ns.out.clear();
    ns.inb.clear();
}

fn open_udp(a: &SocketAddr) -> Option<RawFd> {
    let fam = if a.is_ipv4() { libc::AF_INET } else { libc::AF_INET6 };
    let fd = crate::sock::socket(fam, libc::SOCK_DGRAM).ok()?;
    if crate::sock::connect(fd, &crate::sock::RawAddr::from_inet(a)).is_err() {
        crate::sock::close_raw(fd);
        return None;
    }
    Some(fd)
}

/// Sets a server's IP (and port for SRV slots), reports the change as
/// HAProxy's `srv_update_addr()` does, and has every thread drop its idle
/// connections to the old address.
fn set_addr(cx: &mut Cx<'_, Msg>, rt: &Runtime, be: usize, si: usize, ip: IpAddr, port: Option<u16>, by: &str) {
    let px = &rt.proxies[be];
    let sv = &px.servers[si];
    let old = {
        let mut t = sv.target.lock().unwrap_or_else(|e| e.into_inner());
        let (old, new) = match &*t {
            Target::Inet(a) => (a.ip(), Target::Inet(SocketAddr::new(ip, port.unwrap_or(a.port())))),
            Target::InetPortOffset(a, o) => (a.ip(), Target::InetPortOffset(SocketAddr::new(ip, 0), *o)),
            _ => return,
        };
        *t = new;
        old
    };
    let old = if old.is_unspecified() {
        "(none)".to_string()
    } else {
        old.to_string()
    };
    let m = format!("{}/{} changed its IP from {old} to {ip} by {by}", px.name, sv.name);
    eprintln!("{:<11}({}) : {m}.", "[WARNING]", pid());
    crate::log::send_text(&px.log, NOTICE, format!("{m}.").as_bytes());
    for t in 0..cx.nbthread() {
        cx.send(
            t,
            Msg::PurgeIdle {
                be,
                srv: si,
                n: usize::MAX,
            },
        );
    }
}

fn clear_addr(sv: &ServerRt) {
    let mut t = sv.target.lock().unwrap_or_else(|e| e.into_inner());
    let unset = IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED);
    *t = match &*t {
        Target::Inet(a) => Target::Inet(SocketAddr::new(unset, a.port())),
        Target::InetPortOffset(_, o) => Target::InetPortOffset(SocketAddr::new(unset, 0), *o),
        other => other.clone(),
    };
}

/// Enters resolution maintenance; false when already in it.
fn set_rmaint(cx: &mut Cx<'_, Msg>, rt: &Runtime, be: usize, si: usize, cause: &str) -> bool {
    let sv = &rt.proxies[be].servers[si];
    let old = sv.admin.load(Relaxed);
    if old & ADM_RMAINT != 0 {
        return false;
    }
    // Entering maintenance empties the health a check would count.
    let zero = if old & ADM_MAINT == 0 {
        crate::server::ADM_HEALTH_ZERO
    } else {
        0
    };
    sv.admin
        .store((old | ADM_RMAINT | zero) & !crate::server::ADM_HEALTH_FULL, Relaxed);
    sv.last_change_ms.store(reactor::now_ms(), Relaxed);
    crate::checks::admin_changed_cause(cx, rt, be, si, old, old | ADM_RMAINT, Some(cause), None);
    true
}

fn clear_rmaint(cx: &mut Cx<'_, Msg>, rt: &Runtime, be: usize, si: usize, host: &str) {
    let sv = &rt.proxies[be].servers[si];
    let old = sv.admin.fetch_and(!ADM_RMAINT, Relaxed);
    if old & ADM_RMAINT == 0 {
        return;
    }
    sv.last_change_ms.store(reactor::now_ms(), Relaxed);
    if old & ADM_MAINT == 0 {
        crate::checks::admin_changed_cause(cx, rt, be, si, old, old & !ADM_RMAINT, None, Some(host));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks() {
        assert!(ip_in_net(
            &"10.1.2.3".parse().unwrap(),
            &("10.0.0.0".parse().unwrap(), 8)
        ));
        assert!(!ip_in_net(
            &"11.1.2.3".parse().unwrap(),
            &("10.0.0.0".parse().unwrap(), 8)
        ));
        assert!(ip_in_net(&"fe80::1".parse().unwrap(), &("fe80::".parse().unwrap(), 10)));
        assert!(!ip_in_net(&"::1".parse().unwrap(), &("10.0.0.0".parse().unwrap(), 0)));
    }
}
