//! The running configuration: proxies and servers as the threads use them,
//! built once from the parsed [`config::Config`] and shared read-only (plus
//! atomics and small locks for what changes at run time: counters, weights,
//! admin states, LB positions, queues, idle connections).
//!
//! This module owns the resolution of names (backends, servers) into
//! indexes and the translation of configured addresses into connectable
//! ones. It must not perform I/O.

use crate::counters::Counters;
use crate::lb::LbState;
use crate::queue::QueueSet;
use config::model::{Config, Mode, Proxy, Server};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

/// Where a server (or dispatch) connects to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// A fixed address.
    Inet(SocketAddr),
    /// The client's destination port plus an offset (`+N`/`-N`), or the
    /// same port when no port was given (offset 0).
    InetPortOffset(SocketAddr, i32),
    Unix(String),
    Abns(String),
}

impl Target {
    pub fn from_addr(a: &config::addr::Addr) -> Option<Target> {
        use config::addr::{Addr, Ports};
        match a {
            Addr::Inet { ip, ports, .. } => Some(match ports {
                Ports::Range(lo, _) => Target::Inet(SocketAddr::new(*ip, *lo)),
                Ports::None => Target::InetPortOffset(SocketAddr::new(*ip, 0), 0),
                Ports::Offset(o) => Target::InetPortOffset(SocketAddr::new(*ip, 0), *o),
            }),
            Addr::Unix(p) => Some(Target::Unix(p.clone())),
            Addr::Abns(p) => Some(Target::Abns(p.clone())),
            Addr::Fd(_) => None,
        }
    }

    /// The address to connect to for a client that reached `dst_port`.
    pub fn resolve(&self, dst_port: u16) -> Target {
        match self {
            Target::InetPortOffset(a, off) => {
                let p = (dst_port as i32 + off).clamp(0, 65535) as u16;
                Target::Inet(SocketAddr::new(a.ip(), p))
            }
            t => t.clone(),
        }
    }

    /// `addr` column of `show stat` / `show servers state`.
    pub fn display(&self) -> String {
        match self {
            Target::Inet(a) => a.to_string(),
            Target::InetPortOffset(a, 0) => a.ip().to_string(),
            Target::InetPortOffset(a, o) => format!("{}:{:+}", a.ip(), o),
            Target::Unix(p) => format!("unix@{p}"),
            Target::Abns(p) => format!("abns@{p}"),
        }
    }
}

/// Administrative state set from the CLI or config (`disabled`).
pub const ADM_MAINT: u32 = 1;
pub const ADM_DRAIN: u32 = 2;
/// Removed by `del server` (see `server.rs`): kept in maintenance, hidden.
pub const ADM_DELETED: u32 = 4;
/// Resolution maintenance (HAProxy's RMAINT): the server's name does not
/// resolve (`init-addr none`, DNS errors past their `hold`, no free
/// answer, an emptied `server-template` slot). Not cleared by `enable
/// server`: only a valid DNS answer clears it (`resolvers.rs`).
pub const ADM_RMAINT: u32 = 64;
/// Any maintenance.
pub const ADM_ANY_MAINT: u32 = ADM_MAINT | ADM_RMAINT;
/// The server's name was set at run time from an SRV record (HAProxy's
/// HMAINT flag): shown in `show servers state`, no effect on traffic.
pub const ADM_HMAINT: u32 = 128;

/// A server at run time.
pub struct ServerRt {
    pub cfg: Server,
    pub name: String,
    pub id: u32,
    pub target: Mutex<Target>,
    /// The host name the address comes from (configured, or the target
    /// of the SRV record filling a `server-template` slot).
    pub fqdn: Mutex<Option<String>>,
    pub counters: Counters,
    /// Connections currently in use by streams (served).
    pub served: AtomicU32,
    /// Effective maxconn (0 = unlimited), changeable at run time.
    pub maxconn: AtomicU32,
    pub maxqueue: AtomicU32,
    /// Current user weight and the initial one.
    pub uweight: AtomicU32,
    pub iweight: u32,
    pub admin: AtomicU32,
    /// Operational state: up (no checks yet means up).
    pub up: AtomicBool,
    pub last_change_ms: AtomicU64,
    pub idle: crate::idle::IdleLists,
    /// Peak of connections in use since the last idle purge (HAProxy's
    /// `max_used_conns`) and the smoothed estimate of what the server
    /// needs (`est_need_conns`): together they bound how many connections
    /// are worth keeping idle (see `idle.rs`).
    pub max_used: AtomicU32,
    pub est_need: AtomicU32,
    /// A thread has a purge timer pending for this server's idle
    /// connections (HAProxy's server in the `idle_conn_srv` tree).
    pub purge_sched: AtomicBool,
    /// Health check state (see `checks.rs`).
    pub chk: crate::checks::CheckState,
    /// TLS context (`ssl` / `check-ssl`), None for plain servers.
    pub tls: Option<std::sync::Arc<crate::ssl_sock::SrvCtx>>,
}

impl ServerRt {
    /// A server as configured (or added by `add server`), up and enabled
    /// unless configured `disabled`.
    pub fn new(cfg: Server, id: u32, target: Target, nbthread: usize) -> ServerRt {
        ServerRt {
            name: cfg.name.clone(),
            id,
            target: Mutex::new(target),
            fqdn: Mutex::new(config::resolvers::server_hostname(&cfg).map(str::to_string)),
            counters: Counters::default(),
            served: AtomicU32::new(0),
            // A minconn above maxconn turns into the maxconn.
            maxconn: AtomicU32::new(cfg.maxconn.max(cfg.minconn)),
            maxqueue: AtomicU32::new(cfg.maxqueue),
            uweight: AtomicU32::new(cfg.weight),
            iweight: cfg.weight,
            admin: AtomicU32::new(
                if cfg.disabled { ADM_MAINT } else { 0 }
                    | if cfg.init_rmaint {
                        ADM_RMAINT | crate::server::ADM_HEALTH_ZERO
                    } else {
                        0
                    },
            ),
            up: AtomicBool::new(true),
            last_change_ms: AtomicU64::new(0),
            idle: crate::idle::IdleLists::new(nbthread),
            max_used: AtomicU32::new(0),
            est_need: AtomicU32::new(0),
            purge_sched: AtomicBool::new(false),
            chk: crate::checks::CheckState::new(&cfg),
            tls: None,
            cfg,
        }
    }

    /// The address is not known (a name not resolved yet): HAProxy shows
    /// no address for such a server.
    pub fn addr_unset(&self) -> bool {
        let t = self.target.lock().unwrap_or_else(|e| e.into_inner());
        matches!(&*t, Target::Inet(a) | Target::InetPortOffset(a, _) if a.ip().is_unspecified())
            && (self.cfg.srv_record.is_some() || config::resolvers::server_hostname(&self.cfg).is_some())
    }

    /// Removed by `del server`: no lookup or dump shows it any more.
    pub fn is_deleted(&self) -> bool {
        self.admin.load(Relaxed) & ADM_DELETED != 0
    }

    /// A server outside any runtime, for unit tests of LB and queues.
    #[cfg(test)]
    pub fn for_tests(cfg: Server, id: u32) -> ServerRt {
        ServerRt {
            name: cfg.name.clone(),
            id,
            target: Mutex::new(Target::Inet("127.0.0.1:1".parse().unwrap())),
            fqdn: Mutex::new(None),
            counters: Counters::default(),
            served: AtomicU32::new(0),
            maxconn: AtomicU32::new(cfg.maxconn),
            maxqueue: AtomicU32::new(cfg.maxqueue),
            uweight: AtomicU32::new(cfg.weight),
            iweight: cfg.weight,
            admin: AtomicU32::new(0),
            up: AtomicBool::new(true),
            last_change_ms: AtomicU64::new(0),
            idle: crate::idle::IdleLists::new(1),
            max_used: AtomicU32::new(0),
            est_need: AtomicU32::new(0),
            purge_sched: AtomicBool::new(false),
            chk: crate::checks::CheckState::new(&cfg),
            tls: None,
            cfg,
        }
    }

    /// Usable for new traffic: up and not in maintenance or drain.
    pub fn usable(&self) -> bool {
        self.up.load(Relaxed) && self.admin.load(Relaxed) & (ADM_ANY_MAINT | ADM_DRAIN) == 0
    }
    pub fn in_maint(&self) -> bool {
        self.admin.load(Relaxed) & ADM_ANY_MAINT != 0
    }
    /// Records that one more connection is in use (HAProxy's
    /// `srv_use_conn()`): the peak and the need estimate follow it up at
    /// once, and only the periodic purge brings them down. Plain loads and
    /// stores: an approximate maximum is enough, as in HAProxy.
    #[inline]
    pub fn note_used(&self) {
        let cur = self.served.load(Relaxed);
        if self.max_used.load(Relaxed) < cur {
            self.max_used.store(cur, Relaxed);
        }
        if self.est_need.load(Relaxed) < cur {
            self.est_need.store(cur, Relaxed);
        }
    }

    /// Whether a connection ending now on thread `tid` may be parked for
    /// reuse (HAProxy's `srv_add_to_idle_list()` test): idle connections
    /// are enabled (`pool-purge-delay` > 0, under `pool-max-conn`), and
    /// either this thread has nothing parked for the server yet, or the
    /// connections in use plus idle stay within what recent use needs
    /// plus `pool-low-conn`. `safe` is a connection that already carried
    /// more than one request. The ending stream still counts in `served`,
    /// as the connection still counts as used in HAProxy at this point.
    pub fn may_park(&self, tid: usize, safe: bool) -> bool {
        if self.cfg.pool_purge_delay_ms == 0 {
            return false;
        }
        let idle = self.idle.total();
        let max = self.cfg.pool_max_conn;
        if max >= 0 && idle >= max as u32 {
            return false;
        }
        let (thr_idle, thr_safe) = self.idle.thread_counts(tid);
        if thr_safe == 0 && (safe || thr_idle == 0) {
            return true;
        }
        let used = self.served.load(Relaxed);
        used + idle <= used.max(self.est_need.load(Relaxed)) + self.cfg.pool_low_conn
    }

    /// The `minconn` in effect: the configured one while it is below the
    /// configured maxconn (a dynamic limit), else the current maxconn
    /// (a static limit, which `set maxconn server` changes as a whole).
    pub fn minconn(&self) -> u32 {
        let m = self.cfg.minconn;
        if m == 0 || m >= self.cfg.maxconn {
            self.maxconn.load(Relaxed)
        } else {
            m
        }
    }
}

/// A frontend, backend or listen at run time.
pub struct ProxyRt {
    pub cfg: Proxy,
    pub idx: usize,
    pub name: String,
    pub id: u32,
    pub mode: Mode,
    pub is_frontend: bool,
    pub is_backend: bool,
    /// Configured servers, then those added by `add server` (a deleted one
    /// keeps its slot, see `server.rs`).
    pub servers: crate::server::ServerList,
    /// Index of the default backend (self for a listen without one).
    pub default_backend: Option<usize>,
    /// The backends `use_backend` rules name statically (for `fullconn`).
    pub use_backends: Vec<usize>,
    /// `use_backend` rules (frontends).
    pub switching: crate::switching::Switching,
    /// `use-server`, `force-persist` and `ignore-persist` rules (backends).
    pub srv_rules: crate::switching::ServerRules,
    /// The `cookie` persistence line of a backend, if any.
    pub cookie: Option<config::cookie::CookieOpts>,
    pub dispatch: Option<Target>,
    /// Frontend side counters (FRONTEND row).
    pub fe_counters: Counters,
    /// Backend side counters (BACKEND row).
    pub be_counters: Counters,
    pub lb: Mutex<LbState>,
    /// Streams waiting for a server slot (backend queue and per-server
    /// queues, under one lock so slot accounting and queueing agree).
    pub queue: Mutex<QueueSet>,
    /// Current frontend connections (feconn) and backend ones (beconn).
    pub feconn: AtomicU32,
    pub beconn: AtomicU32,
    pub fe_maxconn: AtomicU32,
    /// `fullconn`, explicit or HAProxy's default (a tenth of the maxconn
    /// of the frontends reaching this backend): where `minconn` servers
    /// reach their maxconn.
    pub fullconn: AtomicU32,
    pub last_change_ms: AtomicU64,
    /// Compiled http-request/http-response/http-after-response rules
    /// (empty lists cost nothing on the request path).
    pub rules: crate::http_act::ProxyRules,
    /// Capture slots of this proxy (used when it is the frontend).
    pub caps: crate::capture::Layout,
    /// Error messages of this proxy per status (errorfile, errorloc,
    /// errorfiles, http-error).
    pub replies: crate::http_reply::ProxyReplies,
    /// Log targets, format and options (empty when the proxy logs nothing).
    pub log: crate::log::ProxyLog,
    /// The statistics page this proxy serves (`stats enable`, `stats uri`).
    pub stats_page: Option<Box<crate::stats_page::StatsPage>>,
}

/// Process-wide state.
pub struct Runtime {
    pub cfg: Config,
    pub proxies: Vec<ProxyRt>,
    pub nbthread: usize,
    pub pid: u32,
    pub start_ms: u64,
    pub start_unix: u64,
    pub maxconn: AtomicU32,
    pub curr_conns: AtomicU32,
    /// (listener, thread) pairs paused at a connection limit, over all
    /// threads: lets a connection's end skip the resume scan when zero.
    pub paused_listeners: AtomicU32,
    pub cum_conns: AtomicU64,
    pub cum_req: AtomicU64,
    pub stopping: AtomicBool,
    /// The soft stop closed the frontends' listeners (done once).
    pub unbound: AtomicBool,
    pub conn_rate: crate::counters::FreqCtr,
    pub sess_rate: crate::counters::FreqCtr,
    pub max_conn_rate: AtomicU64,
    pub max_sess_rate: AtomicU64,
    /// Per-process rate limits (per second, 0 = none): `maxconnrate` /
    /// `maxsessrate` or `set rate-limit connections|sessions global`,
    /// enforced on the proxies' listeners (not on stats sockets, which
    /// HAProxy marks unlimited); and `set rate-limit http-compression`
    /// (bytes/s), kept for `show info` as a build without compression does.
    pub cps_lim: AtomicU64,
    pub sps_lim: AtomicU64,
    pub comp_rate_lim: AtomicU64,
    pub jobs: AtomicU32,
    pub listeners: AtomicU32,
    /// Explicit `bind ... name` of each listener (by index), for `so_name`.
    pub so_names: Vec<Option<String>>,
    /// `resolvers` sections (counters for `show resolvers`).
    pub resolvers: Vec<crate::resolvers::ResolversRt>,
    /// Stick tables, in declaration order (`show table`).
    pub tables: Vec<Arc<crate::stick_table::Table>>,
}

/// Tables that `stick` rules name store the server (id and name), as
/// HAProxy adds these data types to them.
fn stick_stores(cfg: &Config, name: &str, def: &mut config::stick_table::TableDef) {
    let named = |q: &Proxy| {
        q.cap.backend
            && !q.disabled
            && q.sticks.iter().any(|s| {
                let w = &s.words;
                match w.iter().position(|x| x == "table") {
                    Some(i) if i >= 3 => w.get(i + 1).is_some_and(|t| t == name),
                    _ => q.name == name,
                }
            })
    };
    if cfg.proxies.iter().any(named) {
        use config::stick_table::{DataType, Store};
        for dt in [DataType::ServerId, DataType::ServerKey] {
            if !def.stores(dt) {
                def.store.push(Store {
                    dt,
                    nelem: 1,
                    period: 0,
                });
            }
        }
    }
}

/// The stick tables the proxies declare (named after their proxy).
fn build_tables(cfg: &Config) -> Result<Vec<Arc<crate::stick_table::Table>>, String> {
    // (declaration place, table): HAProxy lists tables by declaration.
    let mut out: Vec<(config::model::Loc, Arc<crate::stick_table::Table>)> = Vec::new();
    for p in cfg.proxies.iter().filter(|p| !p.disabled) {
        let Some(l) = &p.stick_table else {
            continue;
        };
        let (mut def, _) =
            config::stick_table::parse(&l.words, false).map_err(|e| format!("parsing [{}] : {e}", l.loc))?;
        stick_stores(cfg, &p.name, &mut def);
        if let Some(pn) = &def.peers {
            if !cfg.peers.iter().any(|ps| &ps.name == pn) {
                return Err(format!("Proxy '{}': unable to find sync peers '{pn}'.", p.name));
            }
        }
        out.push((l.loc.clone(), Arc::new(crate::stick_table::Table::new(&p.name, def))));
    }
    // `table <name> ...` in peers sections (referenced by their own name).
    for ps in cfg.peers.iter().filter(|ps| !ps.disabled) {
        for l in &ps.tables {
            let (mut def, _) =
                config::stick_table::parse(&l.words, true).map_err(|e| format!("parsing [{}] : {e}", l.loc))?;
            stick_stores(cfg, &l.words[1], &mut def);
            out.push((
                l.loc.clone(),
                Arc::new(crate::stick_table::Table::new(&l.words[1], def)),
            ));
        }
    }
    // Files in the order they were read (first seen among the tables).
    let mut files: Vec<String> = Vec::new();
    for (loc, _) in &out {
        if !files.contains(&loc.file) {
            files.push(loc.file.clone());
        }
    }
    let proxy_files: Vec<&str> = cfg.proxies.iter().map(|p| p.loc.file.as_str()).collect();
    files.sort_by_key(|f| proxy_files.iter().position(|p| p == f).unwrap_or(usize::MAX));
    out.sort_by_key(|(loc, _)| (files.iter().position(|f| *f == loc.file), loc.line));
    Ok(out.into_iter().map(|(_, t)| t).collect())
}

/// HAProxy 2.6's global maxconn when none is configured: the FDs the
/// process may open (the larger of the soft and hard RLIMIT_NOFILE at
/// start), minus those the configuration reserves (10, one per listening
/// socket, the stats sockets' session limit, one per server check or agent
/// check, three per thread), two per connection (client and server side),
/// at least 100. No pipes are reserved: splicing is not built.
pub(crate) fn default_maxconn(cfg: &Config, nbthread: usize) -> u32 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit fills the struct we own.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
    }
    let as_int = |v: libc::rlim_t| -> i64 {
        if v == libc::RLIM_INFINITY {
            i32::MAX as i64
        } else {
            v.min(i32::MAX as libc::rlim_t) as i64
        }
    };
    let remain = as_int(lim.rlim_cur).max(as_int(lim.rlim_max));
    remain_to_maxconn(remain - reserved_fds(cfg) - 3 * nbthread as i64)
}

/// The FDs the configuration reserves before connections (HAProxy's
/// `global.maxsock` when the ideal maxconn is computed).
fn reserved_fds(cfg: &Config) -> i64 {
    use config::addr::{Addr, Ports};
    let mut n: i64 = 10;
    for p in &cfg.proxies {
        for b in &p.binds {
            n += match &b.addr {
                Some(Addr::Inet {
                    ports: Ports::Range(lo, hi),
                    ..
                }) => (*hi as i64 - *lo as i64 + 1).max(1),
                _ => 1,
            };
        }
        for s in &p.servers {
            n += i64::from(s.check) + i64::from(s.agent_check);
        }
    }
    if !cfg.global.stats_sockets.is_empty() {
        n += cfg.global.stats_sockets.len() as i64 + cfg.global.stats_maxconn as i64;
    }
    n
}

fn remain_to_maxconn(remain: i64) -> u32 {
    (remain / 2).clamp(100, u32::MAX as i64) as u32
}

impl Runtime {
    /// How long (ms) the proxies' listeners must wait before accepting
    /// again under the global connection and session rate limits, or None
    /// when a connection may be accepted now.
    pub fn accept_rate_wait(&self, now_ms: u64) -> Option<u64> {
        let c = self.conn_rate.wait_ms(self.cps_lim.load(Relaxed), now_ms);
        let s = self.sess_rate.wait_ms(self.sps_lim.load(Relaxed), now_ms);
        match (c, s) {
            (0, 0) => None,
            (c, s) => Some(c.max(s)),
        }
    }

    /// Builds the run-time view; errors are HAProxy-style alert texts.
    pub fn build(cfg: Config, nbthread: usize) -> Result<Runtime, String> {
        // Rules naming a userlist resolve it while they compile below.
        crate::auth::install(&cfg.userlists);
        let tables = build_tables(&cfg)?;
        crate::stick_table::install(tables.clone());
        let mut proxies = Vec::with_capacity(cfg.proxies.len());
        for (idx, p) in cfg.proxies.iter().enumerate() {
            let mut servers = Vec::with_capacity(p.servers.len());
            let mut next_id = 1;
            for s in &p.servers {
                let id = s.id.unwrap_or_else(|| {
                    while p.servers.iter().any(|o| o.id == Some(next_id)) {
                        next_id += 1;
                    }
                    let id = next_id;
                    next_id += 1;
                    id
                });
                let target = match s.addr.as_ref().and_then(Target::from_addr) {
                    Some(t) => t,
                    None => {
                        return Err(format!(
                            "parsing [{}] : server '{}' has no usable address.",
                            s.loc, s.name
                        ))
                    }
                };
                let mut sv = ServerRt::new(s.clone(), id, target, nbthread);
                sv.tls =
                    crate::ssl_sock::server_ctx(&s.ssl, &format!("[{}] : 'server {}/{}' :", s.loc, p.name, s.name))?;
                servers.push(sv);
            }
            let caps = if p.disabled {
                Default::default()
            } else {
                crate::capture::Layout::build(p)?
            };
            proxies.push(ProxyRt {
                cfg: p.clone(),
                idx,
                name: p.name.clone(),
                id: p.id,
                mode: p.mode,
                is_frontend: p.cap.frontend,
                is_backend: p.cap.backend,
                servers: crate::server::ServerList::new(
                    servers,
                    if p.cap.backend && crate::server::lb_is_dynamic(p) {
                        crate::server::DYN_RESERVE
                    } else {
                        0
                    },
                ),
                default_backend: None,
                use_backends: Vec::new(),
                switching: Default::default(),
                srv_rules: if p.disabled || !p.cap.backend {
                    Default::default()
                } else {
                    crate::switching::ServerRules::build(p)?
                },
                cookie: match (&p.cookie, p.mode) {
                    (Some(l), Mode::Http) if !p.disabled && p.cap.backend => Some(
                        config::cookie::parse(&l.words, &l.loc.to_string())
                            .map_err(|e| e.join("\n"))?
                            .0,
                    ),
                    _ => None,
                },
                dispatch: p.dispatch.as_ref().and_then(Target::from_addr),
                fe_counters: Counters::default(),
                be_counters: Counters::default(),
                lb: Mutex::new(LbState::default()),
                queue: Mutex::new(QueueSet::new(p.servers.len())),
                feconn: AtomicU32::new(0),
                beconn: AtomicU32::new(0),
                fe_maxconn: AtomicU32::new(p.maxconn.unwrap_or(0)),
                fullconn: AtomicU32::new(0),
                last_change_ms: AtomicU64::new(0),
                rules: if p.disabled {
                    Default::default()
                } else {
                    crate::stick_table::with_proxy(&p.name, || {
                        crate::http_act::ProxyRules::build(p, &cfg.http_errors, &caps)
                    })?
                },
                caps,
                replies: crate::http_reply::ProxyReplies::build(p, &cfg.http_errors)?,
                log: if p.disabled {
                    Default::default()
                } else {
                    crate::stick_table::with_proxy(&p.name, || crate::log::ProxyLog::build(&cfg, p))?
                },
                stats_page: crate::stats_page::StatsPage::build(p)?.map(Box::new),
            });
        }
        // Resolve backend names now that every proxy has an index.
        let find_be = |name: &str| cfg.proxies.iter().position(|p| p.name == name && p.cap.backend);
        for (i, p) in cfg.proxies.iter().enumerate() {
            if !p.cap.frontend {
                continue;
            }
            if !p.disabled {
                let sw = crate::switching::Switching::build(&cfg, i)?;
                proxies[i].use_backends = sw.static_targets().collect();
                proxies[i].switching = sw;
            }
            proxies[i].default_backend = match &p.default_backend {
                Some(name) => match find_be(name) {
                    Some(b) => Some(b),
                    None => {
                        return Err(format!(
                            "Proxy '{}': unable to find required default_backend: '{}'.",
                            p.name, name
                        ))
                    }
                },
                None if p.cap.backend => Some(i),
                None => None,
            };
        }
        for pr in &mut proxies {
            let mut lb = LbState::default();
            lb.init(&pr.cfg.balance, &pr.servers);
            lb.set_consistent(pr.cfg.hash_type.consistent);
            pr.lb = Mutex::new(lb);
        }
        let now = reactor::now_ms();
        let maxconn = cfg.global.maxconn.unwrap_or_else(|| default_maxconn(&cfg, nbthread));
        let rt = Runtime {
            proxies,
            nbthread,
            pid: std::process::id(),
            start_ms: now,
            start_unix: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            maxconn: AtomicU32::new(maxconn),
            curr_conns: AtomicU32::new(0),
            paused_listeners: AtomicU32::new(0),
            cum_conns: AtomicU64::new(0),
            cum_req: AtomicU64::new(0),
            stopping: AtomicBool::new(false),
            unbound: AtomicBool::new(false),
            conn_rate: Default::default(),
            sess_rate: Default::default(),
            max_conn_rate: AtomicU64::new(0),
            max_sess_rate: AtomicU64::new(0),
            cps_lim: AtomicU64::new(cfg.global.maxconnrate as u64),
            sps_lim: AtomicU64::new(cfg.global.maxsessrate as u64),
            comp_rate_lim: AtomicU64::new(0),
            jobs: AtomicU32::new(0),
            listeners: AtomicU32::new(0),
            so_names: Vec::new(),
            resolvers: cfg.resolvers.iter().map(crate::resolvers::ResolversRt::new).collect(),
            tables,
            cfg,
        };
        for be in rt.proxies.iter().filter(|p| p.is_backend) {
            be.fullconn
                .store(crate::stats::fullconn(&rt, be).min(u32::MAX as u64) as u32, Relaxed);
        }
        Ok(rt)
    }

    pub fn proxy_by_name(&self, name: &str) -> Option<&ProxyRt> {
        self.proxies.iter().find(|p| p.name == name)
    }

    /// `<backend>/<server>` lookup for CLI commands (ids as `#N` accepted).
    pub fn find_server(&self, spec: &str) -> Option<(&ProxyRt, &ServerRt)> {
        let (b, s) = spec.split_once('/')?;
        let px = self.proxies.iter().find(|p| {
            p.is_backend && (p.name == b || b.strip_prefix('#').and_then(|n| n.parse().ok()) == Some(p.id))
        })?;
        let sv = px.servers.iter().find(|sv| {
            !sv.is_deleted() && (sv.name == s || s.strip_prefix('#').and_then(|n| n.parse().ok()) == Some(sv.id))
        })?;
        Some((px, sv))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reserve 2.6 computes for this configuration: 10, five listening
    /// sockets (one bind, a 3-port range, the stats socket), the stats
    /// sockets' maxconn (10), one checked server. With RLIMIT_NOFILE 20000
    /// and 2 threads, 2.6.12 reports `Maxconn: 9984` on it.
    #[test]
    fn default_maxconn_follows_haproxy_2_6() {
        let text = "global\n    stats socket /tmp/rhaproxy-unit-m.sock level admin\ndefaults\n    mode http\n    timeout client 1s\n    timeout server 1s\n    timeout connect 1s\nfrontend f\n    bind 127.0.0.1:18260\n    bind 127.0.0.1:18261-18263\n    default_backend b\nbackend b\n    server s1 127.0.0.1:18262 check\n    server s2 127.0.0.1:18262\n";
        let l = config::load_str("m.cfg", text, &Default::default());
        assert!(!l.fatal, "{:?}", l.diags);
        assert_eq!(reserved_fds(&l.config), 26);
        assert_eq!(remain_to_maxconn(20000 - 26 - 3 * 2), 9984);
        // Too few FDs: HAProxy's floor of 100.
        assert_eq!(remain_to_maxconn(50), 100);
    }
}
