//! The typed configuration model `proxy` consumes. Plain data: every value
//! already checked, defaults already copied into each proxy (as HAProxy does
//! at parse time), and a `Loc` (file:line) on every item for runtime
//! messages. Owns no parsing and no behaviour; must not depend on sockets.

use crate::addr::Addr;
use std::net::IpAddr;

/// Where an item was declared.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Loc {
    pub file: String,
    pub line: usize,
}

impl std::fmt::Display for Loc {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// The whole parsed configuration.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub global: Global,
    /// Frontends, backends and listens in declaration order (defaults
    /// sections are not proxies and are not listed).
    pub proxies: Vec<Proxy>,
    /// `http-errors` sections.
    pub http_errors: Vec<HttpErrors>,
    /// `fcgi-app` sections: parsed and checked, never used (a backend's
    /// `use-fcgi-app` is refused).
    pub fcgi_apps: Vec<FcgiApp>,
    /// `userlist` sections, in declaration order.
    pub userlists: Vec<Userlist>,
    /// `resolvers` sections in declaration order, then HAProxy's implicit
    /// `default` one (from /etc/resolv.conf) unless one is declared.
    pub resolvers: Vec<Resolvers>,
    /// `peers` sections in declaration order.
    pub peers: Vec<crate::peers::Peers>,
    /// `program` sections (master-worker mode runs them).
    pub programs: Vec<Program>,
}

/// A `program` section: a command the master starts beside the worker.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Program {
    pub name: String,
    /// `command <cmd> [args...]`.
    pub command: Vec<String>,
    /// `user` / `group`, resolved when the configuration is read.
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    /// `option start-on-reload` (the default): a reload starts a new
    /// instance; `no option start-on-reload` keeps the running one.
    pub start_on_reload: bool,
    pub loc: Loc,
}

impl Config {
    pub fn userlist(&self, name: &str) -> Option<&Userlist> {
        self.userlists.iter().find(|u| u.name == name)
    }

    pub fn proxy(&self, name: &str) -> Option<&Proxy> {
        self.proxies.iter().find(|p| p.name == name)
    }

    /// HAProxy's start condition: some enabled proxy has a listener (a
    /// `bind` even in a backend counts, as does a stats socket).
    pub fn has_listener(&self) -> bool {
        self.proxies.iter().any(|p| !p.disabled && !p.binds.is_empty()) || !self.global.stats_sockets.is_empty()
    }
}

/// A `log` line (global or proxy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogTarget {
    /// Raw target as written: an address, `stdout`, `stderr`, `/dev/log`, `global`.
    pub target: String,
    pub words: Vec<String>,
    pub loc: Loc,
}

/// `stats socket` in `global`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsSocket {
    pub addr: Addr,
    /// "user" | "operator" | "admin" (HAProxy's default is "admin" for
    /// stats sockets since 1.x? no: default level is "operator").
    pub level: String,
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub user: Option<String>,
    pub group: Option<String>,
    pub expose_fd_listeners: bool,
    pub name: Option<String>,
    pub maxconn: Option<u32>,
    pub process: Option<String>,
    pub thread: Option<String>,
    pub loc: Loc,
}

/// `cpu-map` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuMap {
    pub threads: String,
    pub cpus: Vec<String>,
    pub loc: Loc,
}

/// The `global` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Global {
    /// `localpeer` (or `-L`): this process's name in `peers` sections.
    pub localpeer: Option<String>,
    pub nbthread: Option<u32>,
    pub maxconn: Option<u32>,
    /// `maxconnrate` / `maxsessrate`: per-process accept rates (per
    /// second, 0 = unlimited) enforced on the proxies' listeners.
    pub maxconnrate: u32,
    pub maxsessrate: u32,
    pub daemon: bool,
    pub master_worker: bool,
    /// `master-worker no-exit-on-failure`: a worker that fails does not
    /// take the others down.
    pub mworker_no_exit_on_failure: bool,
    pub quiet: bool,
    pub pidfile: Option<String>,
    pub chroot: Option<String>,
    pub user: Option<String>,
    pub group: Option<String>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub ulimit_n: Option<u32>,
    pub node: Option<String>,
    pub description: Option<String>,
    pub logs: Vec<LogTarget>,
    pub log_tag: Option<String>,
    pub log_send_hostname: Option<String>,
    pub stats_sockets: Vec<StatsSocket>,
    /// `stats timeout`, ms (HAProxy default 10s).
    pub stats_timeout_ms: u32,
    pub stats_maxconn: u32,
    /// Number of proxies declared before the first `stats socket|timeout|
    /// maxconn` line: where HAProxy's internal "GLOBAL" frontend sits in
    /// the proxy list. It takes a step of the automatic proxy numbering
    /// there (so the first proxy after it is #2), as in HAProxy.
    pub cli_fe_pos: Option<usize>,
    pub hard_stop_after_ms: Option<u32>,
    pub spread_checks: u32,
    pub cpu_maps: Vec<CpuMap>,
    pub tune_bufsize: u32,
    pub tune_maxrewrite: u32,
    pub tune_maxpollevents: u32,
    pub tune_maxaccept: i32,
    pub tune_runqueue_depth: u32,
    pub tune_idle_pool_shared: bool,
    pub tune_http_maxhdr: u32,
    pub busy_polling: bool,
    pub noepoll: bool,
    pub nosplice: bool,
    pub noreuseport: bool,
    pub nogetaddrinfo: bool,
    pub strict_limits: bool,
    pub zero_warning: bool,
    pub expose_experimental_directives: bool,
    pub insecure_fork_wanted: bool,
    /// `external-check`: external programs may run as health checks.
    pub external_check: bool,
    pub set_dumpable: bool,
    /// `setenv`/`presetenv`/`unsetenv`/`resetenv` were applied at parse
    /// time (they affect later `${VAR}`); kept for reference.
    pub env_ops: Vec<Vec<String>>,
    /// `set-var`/`set-var-fmt` lines (proc-scope variables set once at
    /// start-up, in order).
    pub set_vars: Vec<RawLine>,
    /// TLS settings of the `global` section (`crt-base`, `ssl-default-*`,
    /// `tune.ssl.*`).
    pub ssl: SslGlobal,
    pub loc: Loc,
}

/// A TLS protocol version rhaproxy's TLS library speaks (rustls has
/// neither SSLv3 nor TLSv1.0/1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVer {
    Tls12,
    Tls13,
}

/// TLS options shared by `bind` lines, `server` lines and the global
/// `ssl-default-*` defaults they start from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SslOpts {
    pub min_ver: Option<TlsVer>,
    pub max_ver: Option<TlsVer>,
    /// `no-tlsv12` / `no-tlsv13`.
    pub no_tls12: bool,
    pub no_tls13: bool,
    pub no_tls_tickets: bool,
    /// `prefer-client-ciphers`: the client's order of suites wins (the
    /// default is the server's, as HAProxy sets it).
    pub prefer_client_ciphers: bool,
    /// OpenSSL-style cipher list (TLSv1.2) and TLSv1.3 suites as written.
    pub ciphers: Option<String>,
    pub ciphersuites: Option<String>,
}

/// `global` TLS settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SslGlobal {
    pub crt_base: Option<String>,
    pub ca_base: Option<String>,
    pub bind: SslOpts,
    pub server: SslOpts,
    /// `ssl-server-verify none` (the default is `required`).
    pub server_verify_none: bool,
    /// `tune.ssl.cachesize` (sessions) and `tune.ssl.lifetime` (seconds).
    pub cachesize: u32,
    pub lifetime_s: u32,
}

impl Default for SslGlobal {
    fn default() -> Self {
        SslGlobal {
            crt_base: None,
            ca_base: None,
            bind: SslOpts::default(),
            server: SslOpts::default(),
            server_verify_none: false,
            cachesize: 20000,
            lifetime_s: 300,
        }
    }
}

/// Client-certificate verification of a `bind ... ssl` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Verify {
    #[default]
    None,
    Optional,
    Required,
}

/// The TLS part of a `bind` line (`ssl` and its options).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BindSsl {
    /// `crt` files, each resolved against `crt-base`; a directory stands
    /// for all the certificate files in it (expanded at parse time).
    pub crts: Vec<String>,
    /// SNI filters of each `crts` entry (from a `crt-list` line; empty:
    /// the certificate's own names). `!name` excludes a name.
    pub crt_filters: Vec<Vec<String>>,
    /// `alpn` protocols offered, in order (`h2` is dropped: no HTTP/2).
    pub alpn: Vec<String>,
    pub opts: SslOpts,
    pub verify: Verify,
    pub ca_file: Option<String>,
    pub strict_sni: bool,
}

impl Default for Global {
    fn default() -> Self {
        Global {
            localpeer: None,
            nbthread: None,
            maxconn: None,
            daemon: false,
            master_worker: false,
            mworker_no_exit_on_failure: false,
            quiet: false,
            pidfile: None,
            chroot: None,
            user: None,
            group: None,
            uid: None,
            gid: None,
            ulimit_n: None,
            node: None,
            description: None,
            logs: Vec::new(),
            log_tag: None,
            log_send_hostname: None,
            stats_sockets: Vec::new(),
            stats_timeout_ms: 10_000,
            maxconnrate: 0,
            maxsessrate: 0,
            stats_maxconn: 10,
            cli_fe_pos: None,
            hard_stop_after_ms: None,
            spread_checks: 0,
            cpu_maps: Vec::new(),
            tune_bufsize: 16384,
            tune_maxrewrite: 1024,
            tune_maxpollevents: 200,
            tune_maxaccept: 0,
            tune_runqueue_depth: 200,
            tune_idle_pool_shared: true,
            tune_http_maxhdr: 101,
            busy_polling: false,
            noepoll: false,
            nosplice: false,
            noreuseport: false,
            nogetaddrinfo: false,
            strict_limits: false,
            zero_warning: false,
            expose_experimental_directives: false,
            insecure_fork_wanted: false,
            external_check: false,
            set_dumpable: false,
            env_ops: Vec::new(),
            set_vars: Vec::new(),
            ssl: SslGlobal::default(),
            loc: Loc::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    #[default]
    Tcp,
    Http,
}

/// Capabilities: a listen has both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Cap {
    pub frontend: bool,
    pub backend: bool,
}

/// One `bind` line (one entry per comma-separated address).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Bind {
    pub addr: Option<Addr>,
    /// The address text as written (after variable expansion).
    pub raw: String,
    pub name: Option<String>,
    pub id: Option<u32>,
    pub backlog: Option<u32>,
    pub maxconn: Option<u32>,
    pub v4v6: bool,
    pub v6only: bool,
    pub thread: Option<String>,
    /// `thread [<group>/]<set>`: the group given (0 = none) and the threads
    /// of the set (bit N = thread N+1), ORed over repeated `thread` words.
    pub thread_group: u32,
    pub thread_mask: u64,
    pub process: Option<String>,
    pub interface: Option<String>,
    pub defer_accept: bool,
    pub tfo: bool,
    pub transparent: bool,
    pub accept_proxy: bool,
    pub mss: Option<String>,
    pub nice: Option<i32>,
    pub tcp_ut_ms: Option<u32>,
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub user: Option<String>,
    pub group: Option<String>,
    pub level: Option<String>,
    pub expose_fd_listeners: bool,
    pub proto: Option<String>,
    pub shards: Option<String>,
    /// `ssl` (with `crt` & co.): TLS on this listener.
    pub ssl: Option<Box<BindSsl>>,
    pub loc: Loc,
}

/// One `server` (or the `default-server` template).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Server {
    pub name: String,
    pub addr: Option<Addr>,
    /// Address text as written.
    pub raw_addr: String,
    pub id: Option<u32>,
    pub weight: u32,
    pub maxconn: u32,
    pub minconn: u32,
    pub maxqueue: u32,
    pub backup: bool,
    pub disabled: bool,
    pub check: bool,
    pub check_port: Option<u16>,
    pub check_addr: Option<String>,
    pub inter_ms: u32,
    pub fastinter_ms: Option<u32>,
    pub downinter_ms: Option<u32>,
    pub rise: u32,
    pub fall: u32,
    pub slowstart_ms: u32,
    pub pool_max_conn: i32,
    pub pool_low_conn: u32,
    pub pool_purge_delay_ms: u32,
    pub max_reuse: i32,
    pub track: Option<String>,
    pub send_proxy: bool,
    pub send_proxy_v2: bool,
    /// `proxy-v2-options` (and what `send-proxy-v2-ssl[-cn]` add).
    pub pp2: Pp2Opts,
    pub check_send_proxy: bool,
    pub cookie: Option<String>,
    pub redir: Option<String>,
    pub observe: Option<String>,
    pub on_error: Option<String>,
    pub on_marked_down: Option<String>,
    pub on_marked_up: Option<String>,
    pub error_limit: Option<u32>,
    pub init_addr: Option<String>,
    pub resolvers: Option<String>,
    pub resolve_prefer: Option<String>,
    /// `resolve-net`: preferred networks (address, prefix length).
    pub resolve_net: Vec<(IpAddr, u8)>,
    /// `resolve-opts allow-dup-ip` / `ignore-weight`.
    pub allow_dup_ip: bool,
    pub ignore_weight: bool,
    /// `init-addr` methods in order (empty: HAProxy's default).
    pub init_methods: Vec<InitAddr>,
    /// The server waits for DNS in resolution maintenance at start
    /// (decided after parsing from `init-addr`, as HAProxy's RMAINT).
    pub init_rmaint: bool,
    /// The `_service._proto.name` SRV record this server takes its
    /// address, port and weight from (`server-template`).
    pub srv_record: Option<String>,
    pub source: Option<String>,
    pub tfo: bool,
    pub proto: Option<String>,
    pub non_stick: bool,
    pub agent_check: bool,
    /// TLS toward the server (`ssl`, `check-ssl` and their options).
    pub ssl: ServerSsl,
    pub loc: Loc,
}

/// The TLVs `proxy-v2-options` asks for (HAProxy's SRV_PP_V2_* bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pp2Opts {
    pub ssl: bool,
    pub cert_cn: bool,
    pub cert_key: bool,
    pub cert_sig: bool,
    pub ssl_cipher: bool,
    pub authority: bool,
    pub crc32c: bool,
    pub unique_id: bool,
}

impl Pp2Opts {
    /// Parses a `proxy-v2-options` list; the error names the word
    /// HAProxy 2.6 refuses.
    pub fn parse(list: &str) -> Result<Pp2Opts, String> {
        let mut o = Pp2Opts::default();
        for w in list.split(',') {
            match w {
                "ssl" => o.ssl = true,
                "cert-cn" => (o.ssl, o.cert_cn) = (true, true),
                "cert-key" => (o.ssl, o.cert_key) = (true, true),
                "cert-sig" => (o.ssl, o.cert_sig) = (true, true),
                "ssl-cipher" => (o.ssl, o.ssl_cipher) = (true, true),
                "authority" => o.authority = true,
                "crc32c" => o.crc32c = true,
                "unique-id" => o.unique_id = true,
                _ => return Err(format!("'{w}' : proxy v2 option not implemented")),
            }
        }
        Ok(o)
    }

    pub fn any(&self) -> bool {
        *self != Pp2Opts::default()
    }
}

/// The TLS options of a `server` (or `default-server`) line.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServerSsl {
    /// `ssl`: traffic to the server is TLS.
    pub enabled: bool,
    /// `check-ssl`: health checks are TLS. As in HAProxy, `ssl` implies it
    /// when the check goes to the server itself (no `port`/`addr`).
    pub check_ssl: bool,
    /// `verify none|required` when written (None: `ssl-server-verify`).
    pub verify_required: Option<bool>,
    pub ca_file: Option<String>,
    /// `sni <expr>`: the sample expression as written.
    pub sni: Option<String>,
    pub verifyhost: Option<String>,
    pub alpn: Vec<String>,
    /// `no-ssl-reuse`: no session resumption.
    pub no_reuse: bool,
    /// `crt`: the client certificate (chain + key) shown to the server.
    pub crt: Option<String>,
    /// `check-sni <name>`: the SNI of TLS health checks.
    pub check_sni: Option<String>,
    pub opts: SslOpts,
}

impl Server {
    /// Whether connections to this server start with a PROXY header,
    /// and which version: HAProxy sends one whenever any PROXY option is
    /// set (its `pp_opts` is non-zero), in v2 only with `send-proxy-v2`
    /// (so `proxy-v2-options` alone sends a v1 line, as 2.6 does).
    pub fn pp_version(&self) -> Option<u8> {
        if self.send_proxy_v2 {
            Some(2)
        } else if self.send_proxy || self.pp2.any() {
            Some(1)
        } else {
            None
        }
    }

    /// HAProxy's `default-server` initial values.
    pub fn defaults() -> Server {
        Server {
            weight: 1,
            inter_ms: 2000,
            rise: 2,
            fall: 3,
            pool_max_conn: -1,
            pool_purge_delay_ms: 5000,
            max_reuse: -1,
            ..Server::default()
        }
    }
}

/// Timeouts in milliseconds; `None` = not set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Timeouts {
    pub client: Option<u32>,
    pub server: Option<u32>,
    pub connect: Option<u32>,
    pub queue: Option<u32>,
    pub http_request: Option<u32>,
    pub http_keep_alive: Option<u32>,
    pub tunnel: Option<u32>,
    pub client_fin: Option<u32>,
    pub server_fin: Option<u32>,
    pub check: Option<u32>,
    pub tarpit: Option<u32>,
}

/// HTTP connection mode options (mutually exclusive in HAProxy).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HttpConnMode {
    #[default]
    KeepAlive,
    ServerClose,
    Close,
}

/// `option forwardfor [except <net>] [header <name>] [if-none]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardFor {
    pub except: Option<Net>,
    pub header: String,
    pub if_none: bool,
}

/// `option originalto [except <net>] [header <name>]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginalTo {
    pub except: Option<Net>,
    pub header: String,
}

/// An IPv4 or IPv6 network (`<address>[/mask]`), its address already
/// masked, as HAProxy keeps an `except` network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Net {
    pub ip: std::net::IpAddr,
    pub bits: u8,
}

impl Net {
    /// HAProxy's `str2net()` then `str62net()`: an IPv4 address (or a
    /// host name resolving to one) with an optional `/len` or dotted
    /// mask, else an IPv6 address with an optional `/len`.
    pub fn parse(s: &str) -> Option<Net> {
        use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
        let (a, m) = match s.split_once('/') {
            Some((a, m)) => (a, Some(m)),
            None => (s, None),
        };
        let v4 = a.parse::<Ipv4Addr>().ok().or_else(|| match a.contains(':') {
            true => None,
            false => match crate::addr::resolve(a, Some(false)) {
                Some(IpAddr::V4(v)) => Some(v),
                _ => None,
            },
        });
        if let Some(ip) = v4 {
            let bits = match m {
                None => Some(32),
                Some(m) if m.contains('.') => m.parse::<Ipv4Addr>().ok().and_then(|mask| {
                    let v = u32::from(mask);
                    // A contiguous mask only.
                    (v.leading_ones() + v.trailing_zeros() == 32).then_some(v.leading_ones() as u8)
                }),
                Some(m) => m.parse::<u8>().ok().filter(|&b| b <= 32),
            };
            if let Some(bits) = bits {
                return Some(Net::new(IpAddr::V4(ip), bits));
            }
        }
        let ip = a.parse::<Ipv6Addr>().ok()?;
        let bits = match m {
            None => 128,
            Some(m) => m.parse::<u8>().ok().filter(|&b| b <= 128)?,
        };
        Some(Net::new(IpAddr::V6(ip), bits))
    }

    fn new(ip: std::net::IpAddr, bits: u8) -> Net {
        use std::net::IpAddr;
        let ip = match ip {
            IpAddr::V4(v) => {
                let m = u32::MAX.checked_shl(32 - bits as u32).unwrap_or(0);
                IpAddr::V4((u32::from(v) & m).into())
            }
            IpAddr::V6(v) => {
                let m = u128::MAX.checked_shl(128 - bits as u32).unwrap_or(0);
                IpAddr::V6((u128::from(v) & m).into())
            }
        };
        Net { ip, bits }
    }

    /// Whether `ip` is in the network; an address of the other family
    /// never is (HAProxy's `ipcmp2net()`).
    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        use std::net::IpAddr;
        match (ip, self.ip) {
            (IpAddr::V4(a), IpAddr::V4(_)) => Net::new(IpAddr::V4(a), self.bits).ip == self.ip,
            (IpAddr::V6(a), IpAddr::V6(_)) => Net::new(IpAddr::V6(a), self.bits).ip == self.ip,
            _ => false,
        }
    }
}

/// `option http-restrict-req-hdr-names preserve|delete|reject`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RestrictHdrNames {
    #[default]
    Preserve,
    Delete,
    Reject,
}

/// Boolean `option`s plus the ones with arguments.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Options {
    pub http_conn_mode: HttpConnMode,
    /// True when an explicit connection-mode option was given.
    pub http_conn_mode_set: bool,
    pub forwardfor: Option<ForwardFor>,
    pub http_buffer_request: bool,
    pub accept_invalid_http_request: bool,
    pub accept_invalid_http_response: bool,
    /// `option redispatch [N]`: Some(interval) when enabled. The interval
    /// counts retries: N > 0 redispatches every N-th retry, N < 0 on the
    /// N-th retry before the last (-1, the default, is the last one), 0
    /// only when the server is down or the LB is not deterministic.
    pub redispatch: Option<i32>,
    pub abortonclose: bool,
    pub allbackups: bool,
    pub splice_auto: bool,
    pub splice_request: bool,
    pub splice_response: bool,
    pub tcplog: bool,
    /// `option httplog` (`clf` when Some(true)).
    pub httplog: Option<bool>,
    pub dontlognull: bool,
    pub dontlog_normal: bool,
    pub log_separate_errors: bool,
    pub log_health_checks: bool,
    pub logasap: bool,
    pub http_ignore_probes: bool,
    pub http_no_delay: bool,
    pub http_pretend_keepalive: bool,
    pub http_use_proxy_header: bool,
    pub prefer_last_server: bool,
    pub persist: bool,
    pub nolinger: bool,
    pub clitcpka: bool,
    pub srvtcpka: bool,
    pub tcpka: bool,
    pub contstats: bool,
    pub socket_stats: bool,
    pub tcp_smart_accept: bool,
    pub tcp_smart_connect: bool,
    pub independent_streams: bool,
    pub idle_close_on_response: bool,
    pub disable_h2_upgrade: bool,
    /// `option http-restrict-req-hdr-names`: what happens to request
    /// headers whose names hold other than letters, digits and '-'.
    pub restrict_req_hdr_names: RestrictHdrNames,
    pub checkcache: bool,
    pub transparent: bool,
    /// `option httpchk [<method> <uri> [<version>]]` words.
    pub httpchk: Option<Vec<String>>,
    /// Where `option httpchk` was written (a proxy's own one drops the
    /// `http-check` rules of its defaults section).
    pub httpchk_loc: Option<Loc>,
    pub tcp_check: bool,
    pub ssl_hello_chk: bool,
    /// Other health-check options kept raw (mysql-check, pgsql-check, ...).
    pub other_check: Option<Vec<String>>,
    pub originalto: Option<OriginalTo>,
}

/// `http-reuse` policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HttpReuse {
    Never,
    #[default]
    Safe,
    Aggressive,
    Always,
}

/// `balance` algorithm.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Balance {
    #[default]
    RoundRobin,
    StaticRr,
    LeastConn,
    First,
    Source,
    Uri {
        len: Option<u32>,
        depth: Option<u32>,
        whole: bool,
        path_only: bool,
    },
    UrlParam {
        name: String,
        check_post: Option<u32>,
    },
    Hdr {
        name: String,
        use_domain_only: bool,
    },
    Random {
        draws: u32,
    },
    RdpCookie {
        name: String,
    },
}

/// `hash-type <method> [<function> [<modifier>]]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HashType {
    pub consistent: bool,
    pub function: Option<String>,
    pub avalanche: bool,
}

/// `use_backend <name> [if|unless <cond>]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UseBackend {
    pub backend: String,
    /// Condition words including the leading `if`/`unless`; empty when
    /// unconditional. Evaluated by the ACL engine later.
    pub cond: Vec<String>,
    pub loc: Loc,
}

/// A rule or declaration kept as words for engines that come later
/// (`acl`, `http-request`, `tcp-request`, `stats auth`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawLine {
    pub words: Vec<String>,
    pub loc: Loc,
}

/// The statuses HAProxy 2.6 keeps an error message for (`http_err_codes`):
/// what `errorfile`, `http-error` and `default-errorfiles` accept.
pub const HTTP_ERR_CODES: [u16; 19] = [
    200, 400, 401, 403, 404, 405, 407, 408, 410, 413, 421, 422, 425, 429, 500, 501, 502, 503, 504,
];

/// `errorfile`/`errorloc*` per status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorMsg {
    /// File content (the full raw HTTP response), read at parse time.
    File { path: String, content: Vec<u8> },
    /// `errorloc302`/`errorloc303`: redirect location.
    Location { code: u16, url: String },
    /// `errorfiles <name> [code...]`: use an http-errors section.
    Section { name: String },
    /// `http-error status <code> ...`: an http reply whose options (the
    /// words after the keyword) are compiled by the proxy at start-up.
    Reply { words: Vec<String> },
}

/// Stats web page settings (`stats enable`, `stats uri`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StatsPage {
    pub enabled: bool,
    /// Copied from the defaults section: the proxy's first own `stats`
    /// line starts over from nothing (HAProxy detaches from the defaults'
    /// settings rather than adding to them).
    pub inherited: bool,
    pub uri: Option<String>,
    pub realm: Option<String>,
    pub auth: Vec<String>,
    /// `stats refresh`, in seconds (a unitless value is seconds).
    pub refresh_s: Option<u32>,
    pub admin: Vec<RawLine>,
    pub hide_version: bool,
    pub show_legends: bool,
    pub show_node: Option<String>,
    pub show_desc: Option<String>,
    pub scope: Vec<String>,
    pub http_request: Vec<RawLine>,
}

/// `retry-on` conditions (HAProxy's `PR_RE_*`).
pub const RE_CONN_FAILED: u32 = 1 << 0;
pub const RE_DISCONNECTED: u32 = 1 << 1;
pub const RE_TIMEOUT: u32 = 1 << 2;
pub const RE_401: u32 = 1 << 3;
pub const RE_403: u32 = 1 << 4;
pub const RE_404: u32 = 1 << 5;
pub const RE_408: u32 = 1 << 6;
pub const RE_425: u32 = 1 << 7;
pub const RE_500: u32 = 1 << 8;
pub const RE_501: u32 = 1 << 9;
pub const RE_502: u32 = 1 << 10;
pub const RE_503: u32 = 1 << 11;
pub const RE_504: u32 = 1 << 12;
pub const RE_EARLY_ERROR: u32 = 1 << 13;
pub const RE_JUNK_REQUEST: u32 = 1 << 14;
/// The status codes `retry-on` may name, with their bits.
pub const RE_STATUS: [(u16, u32); 10] = [
    (401, RE_401),
    (403, RE_403),
    (404, RE_404),
    (408, RE_408),
    (425, RE_425),
    (500, RE_500),
    (501, RE_501),
    (502, RE_502),
    (503, RE_503),
    (504, RE_504),
];

/// A frontend, backend or listen.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Proxy {
    pub name: String,
    pub cap: Cap,
    /// Numeric id: `id` keyword or auto-assigned like HAProxy (lowest free
    /// id from 1 in declaration order, after explicit ones are reserved).
    pub id: u32,
    pub id_explicit: bool,
    pub mode: Mode,
    pub disabled: bool,
    pub description: Option<String>,
    pub binds: Vec<Bind>,
    pub servers: Vec<Server>,
    /// The `default-server` template in effect at the end of the section.
    pub default_server: Server,
    pub default_backend: Option<String>,
    pub use_backends: Vec<UseBackend>,
    pub dispatch: Option<Addr>,
    pub timeouts: Timeouts,
    pub options: Options,
    pub http_reuse: HttpReuse,
    pub balance: Balance,
    pub hash_type: HashType,
    pub maxconn: Option<u32>,
    pub fullconn: Option<u32>,
    pub backlog: Option<u32>,
    pub retries: u32,
    /// `retry-on`: a set of `RE_*` bits (HAProxy's `retry_type`).
    pub retry_on: u32,
    /// `hash-balance-factor`: 0 (off) or above 100, a percentage of the
    /// average load a server may carry under consistent hashing.
    pub hash_balance_factor: u32,
    /// Error responses by status code, in declaration order.
    pub errors: Vec<(u16, ErrorMsg, Loc)>,
    pub stats: StatsPage,
    pub monitor_uri: Option<String>,
    pub logs: Vec<LogTarget>,
    /// `no log` was given.
    pub no_log: bool,
    pub log_format: Option<String>,
    /// Where the format in effect (`log-format` or `option httplog/tcplog`)
    /// was set, for start-up errors.
    pub log_format_loc: Option<Loc>,
    pub log_tag: Option<String>,
    pub unique_id_format: Option<String>,
    pub unique_id_format_loc: Option<Loc>,
    pub unique_id_header: Option<String>,
    pub acls: Vec<RawLine>,
    pub http_request: Vec<RawLine>,
    pub http_response: Vec<RawLine>,
    pub http_after_response: Vec<RawLine>,
    pub tcp_request: Vec<RawLine>,
    pub tcp_response: Vec<RawLine>,
    pub http_check: Vec<RawLine>,
    pub tcp_check: Vec<RawLine>,
    pub redirects: Vec<RawLine>,
    pub captures: Vec<RawLine>,
    pub cookie: Option<RawLine>,
    pub use_servers: Vec<RawLine>,
    /// `force-persist` / `ignore-persist` lines, in order.
    pub persist_rules: Vec<RawLine>,
    pub stick_table: Option<RawLine>,
    pub sticks: Vec<RawLine>,
    pub compression: Vec<RawLine>,
    pub http_send_name_header: Option<String>,
    /// `external-check command <cmd>` / `external-check path <path>`.
    pub external_check_command: Option<String>,
    pub external_check_path: Option<String>,
    pub source: Option<RawLine>,
    pub loc: Loc,
}

/// An `fcgi-app <name>` section, its lines kept as read.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FcgiApp {
    pub name: String,
    pub docroot: Option<String>,
    pub lines: Vec<RawLine>,
    pub loc: Loc,
}

/// An `http-errors <name>` section.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HttpErrors {
    pub name: String,
    pub files: Vec<(u16, String, Vec<u8>)>,
    pub loc: Loc,
}

/// A `userlist` section: its users and groups, membership resolved both
/// ways after parsing (a user's `groups` and a group's `users`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Userlist {
    pub name: String,
    pub users: Vec<User>,
    /// Group names in declaration order.
    pub groups: Vec<String>,
    /// Each group's `users` argument as written (comma-separated).
    pub group_members: Vec<Option<String>>,
    pub loc: Loc,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct User {
    pub name: String,
    /// `password` (a crypt(3) hash) or `insecure-password` (clear text);
    /// None when the line gave neither (the user never authenticates).
    pub pass: Option<String>,
    pub insecure: bool,
    /// Indices into [`Userlist::groups`] once resolved (post-parse).
    pub groups: Vec<usize>,
    /// As written: the comma-separated `groups` argument.
    pub group_names: Option<String>,
    pub loc: Loc,
}

#[cfg(test)]
mod net_tests {
    use super::Net;

    #[test]
    fn except_networks_as_haproxy_reads_them() {
        let n = |s: &str| Net::parse(s).unwrap();
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        assert!(n("127.0.0.0/8").contains(ip("127.1.2.3")));
        assert!(!n("127.0.0.0/8").contains(ip("10.0.0.1")));
        assert!(n("10.0.0.1/25").contains(ip("10.0.0.127")));
        assert!(!n("10.0.0.1/25").contains(ip("10.0.0.128")));
        assert!(n("10.0.0.0/255.255.0.0").contains(ip("10.0.200.1")));
        assert!(n("::1").contains(ip("::1")) && !n("::1").contains(ip("::2")));
        assert!(n("2001:db8:1f89::/48").contains(ip("2001:db8:1f89::1")));
        assert!(!n("2001:db8:1f89::/48").contains(ip("2001:db8:1f90::1")));
        // Families never mix (ipcmp2net).
        assert!(!n("127.0.0.1").contains(ip("::ffff:127.0.0.1")));
        for bad in ["1.2.3.4/40", "::1/200", "", "10.0.0.0/255.0.255.0", "a.invalid"] {
            assert_eq!(Net::parse(bad), None, "{bad}");
        }
    }
}

#[cfg(test)]
mod pp_tests {
    #[test]
    fn proxy_options_as_haproxy_reads_them() {
        let srv = |opts: &str| {
            let l = crate::load_str(
                "pp.cfg",
                &format!("defaults\n    mode http\nbackend be\n    server s 127.0.0.1:80 {opts}\n"),
                &Default::default(),
            );
            (
                l.config.proxies.first().and_then(|p| p.servers.first().cloned()),
                l.diags,
            )
        };
        let (s, _) = srv("send-proxy-v2 proxy-v2-options cert-cn,crc32c proxy-v2-options unique-id");
        let s = s.unwrap();
        assert_eq!(s.pp_version(), Some(2));
        assert!(s.pp2.ssl && s.pp2.cert_cn && s.pp2.crc32c && s.pp2.unique_id && !s.pp2.authority);
        // Options alone send a v1 line (HAProxy 2.6's pp_opts).
        assert_eq!(srv("proxy-v2-options crc32c").0.unwrap().pp_version(), Some(1));
        // no-send-proxy-v2-ssl leaves cert-cn set: still a v1 line in 2.6.
        assert_eq!(
            srv("send-proxy-v2-ssl-cn no-send-proxy-v2-ssl").0.unwrap().pp_version(),
            Some(1)
        );
        assert_eq!(
            srv("send-proxy-v2-ssl-cn no-send-proxy-v2-ssl-cn")
                .0
                .unwrap()
                .pp_version(),
            None
        );
        let (_, d) = srv("send-proxy-v2 proxy-v2-options ssl,foo");
        assert!(
            d.iter().any(|d| d
                .text
                .ends_with("pp.cfg:4] : 'server be/s' : 'foo' : proxy v2 option not implemented.")),
            "{d:?}"
        );
    }
}

/// One `init-addr` method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitAddr {
    Last,
    Libc,
    None,
    Ip(IpAddr),
}

/// A `nameserver` of a `resolvers` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nameserver {
    pub name: String,
    pub addr: std::net::SocketAddr,
    /// `tcp@` (DNS over TCP) instead of UDP.
    pub tcp: bool,
    pub loc: Loc,
}

/// A `resolvers` section (times in milliseconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolvers {
    pub name: String,
    pub nameservers: Vec<Nameserver>,
    pub accepted_payload_size: u32,
    pub resolve_retries: u32,
    pub hold_nx: u32,
    pub hold_other: u32,
    pub hold_refused: u32,
    pub hold_timeout: u32,
    pub hold_valid: u32,
    pub hold_obsolete: u32,
    pub timeout_resolve: u32,
    pub timeout_retry: u32,
    pub loc: Loc,
}

impl Resolvers {
    /// A section with HAProxy 2.6's defaults.
    pub fn new(name: &str, loc: Loc) -> Resolvers {
        Resolvers {
            name: name.to_string(),
            nameservers: Vec::new(),
            accepted_payload_size: 512,
            resolve_retries: 3,
            hold_nx: 30000,
            hold_other: 30000,
            hold_refused: 30000,
            hold_timeout: 30000,
            hold_valid: 10000,
            hold_obsolete: 0,
            timeout_resolve: 1000,
            timeout_retry: 1000,
            loc,
        }
    }
}
