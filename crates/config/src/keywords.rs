//! Keyword tables: every keyword HAProxy 2.6 accepts in `global` and in
//! proxy sections, which of them rhaproxy carries into the model, and the
//! "did you mean" suggestion HAProxy prints for unknown words. Owns names
//! and lookup only; the parsing of each keyword is in `parser`.

/// Keywords registered by HAProxy 2.6 modules for `global`, in the order
/// its keyword dump lists them (the suggestion search scans them first).
pub const GLOBAL_REGISTERED: &[&str] = &[
    "ca-base",
    "close-spread-time",
    "crt-base",
    "default-path",
    "grace",
    "h1-accept-payload-with-any-method",
    "h1-case-adjust",
    "h1-case-adjust-file",
    "hard-stop-after",
    "httpclient.resolvers.id",
    "httpclient.resolvers.prefer",
    "httpclient.ssl.ca-file",
    "httpclient.ssl.verify",
    "issuers-chain-path",
    "lua-load",
    "lua-load-per-thread",
    "lua-prepend-path",
    "maxsslconn",
    "mworker-max-reloads",
    "nbthread",
    "no-memory-trimming",
    "pp2-never-send-local",
    "profiling.tasks",
    "set-var",
    "set-var-fmt",
    "ssl-default-bind-ciphers",
    "ssl-default-bind-ciphersuites",
    "ssl-default-bind-curves",
    "ssl-default-bind-options",
    "ssl-default-server-ciphers",
    "ssl-default-server-ciphersuites",
    "ssl-default-server-options",
    "ssl-dh-param-file",
    "ssl-load-extra-del-ext",
    "ssl-load-extra-files",
    "ssl-mode-async",
    "ssl-propquery",
    "ssl-provider",
    "ssl-provider-path",
    "ssl-skip-self-issued-ca",
    "stats",
    "thread-group",
    "thread-groups",
    "tune.fail-alloc",
    "tune.fd.edge-triggered",
    "tune.h2.header-table-size",
    "tune.h2.initial-window-size",
    "tune.h2.max-concurrent-streams",
    "tune.h2.max-frame-size",
    "tune.idle-pool.shared",
    "tune.listener.multi-queue",
    "tune.lua.forced-yield",
    "tune.lua.maxmem",
    "tune.lua.service-timeout",
    "tune.lua.session-timeout",
    "tune.lua.task-timeout",
    "tune.peers.max-updates-at-once",
    "tune.pool-high-fd-ratio",
    "tune.pool-low-fd-ratio",
    "tune.sched.low-latency",
    "tune.ssl.cachesize",
    "tune.ssl.capture-buffer-size",
    "tune.ssl.capture-cipherlist-size",
    "tune.ssl.default-dh-param",
    "tune.ssl.force-private-cache",
    "tune.ssl.hard-maxrecord",
    "tune.ssl.keylog",
    "tune.ssl.lifetime",
    "tune.ssl.maxrecord",
    "tune.ssl.ssl-ctx-cache-size",
    "tune.vars.check-max-size",
    "tune.vars.global-max-size",
    "tune.vars.proc-max-size",
    "tune.vars.reqres-max-size",
    "tune.vars.sess-max-size",
    "tune.vars.txn-max-size",
];

/// HAProxy 2.6 `global` keywords handled by its core parser.
pub const GLOBAL_COMMON: &[&str] = &[
    "global",
    "expose-experimental-directives",
    "daemon",
    "master-worker",
    "noepoll",
    "nokqueue",
    "noevports",
    "nopoll",
    "busy-polling",
    "set-dumpable",
    "h2-workaround-bogus-websocket-clients",
    "insecure-fork-wanted",
    "insecure-setuid-wanted",
    "nosplice",
    "nogetaddrinfo",
    "noreuseport",
    "quiet",
    "zero-warning",
    "tune.runqueue-depth",
    "tune.maxpollevents",
    "tune.maxaccept",
    "tune.chksize",
    "tune.recv_enough",
    "tune.buffers.limit",
    "tune.buffers.reserve",
    "tune.bufsize",
    "tune.maxrewrite",
    "tune.idletimer",
    "tune.rcvbuf.client",
    "tune.rcvbuf.server",
    "tune.sndbuf.client",
    "tune.sndbuf.server",
    "tune.pipesize",
    "tune.http.cookielen",
    "tune.http.logurilen",
    "tune.http.maxhdr",
    "tune.comp.maxlevel",
    "tune.pattern.cache-size",
    "cluster-secret",
    "uid",
    "gid",
    "external-check",
    "user",
    "group",
    "nbproc",
    "maxconn",
    "ssl-server-verify",
    "maxconnrate",
    "maxsessrate",
    "maxsslrate",
    "maxcomprate",
    "maxpipes",
    "maxzlibmem",
    "maxcompcpuusage",
    "fd-hard-limit",
    "ulimit-n",
    "chroot",
    "description",
    "node",
    "pidfile",
    "unix-bind",
    "log",
    "log-send-hostname",
    "server-state-base",
    "server-state-file",
    "log-tag",
    "spread-checks",
    "max-spread-checks",
    "cpu-map",
    "setenv",
    "presetenv",
    "unsetenv",
    "resetenv",
    "strict-limits",
    "localpeer",
    "numa-cpu-mapping",
];

/// Keywords registered by HAProxy 2.6 modules for proxy sections.
pub const PROXY_REGISTERED: &[&str] = &[
    "clitcpka-cnt",
    "clitcpka-idle",
    "clitcpka-intvl",
    "clitimeout",
    "compression",
    "contimeout",
    "declare",
    "errorfile",
    "errorfiles",
    "errorloc",
    "errorloc302",
    "errorloc303",
    "external-check",
    "filter",
    "http-check",
    "http-error",
    "max-keep-alive-queue",
    "rate-limit",
    "retry-on",
    "srvtcpka-cnt",
    "srvtcpka-idle",
    "srvtcpka-intvl",
    "srvtimeout",
    "tcp-check",
    "tcp-request",
    "tcp-response",
    "timeout",
    "use-fcgi-app",
];

/// HAProxy 2.6 proxy keywords handled by its core parser (including the
/// removed 1.x keywords it still recognises to explain their removal).
pub const PROXY_COMMON: &[&str] = &[
    "listen",
    "frontend",
    "backend",
    "defaults",
    "server",
    "default-server",
    "server-template",
    "bind",
    "monitor-net",
    "monitor-uri",
    "mode",
    "id",
    "description",
    "disabled",
    "enabled",
    "bind-process",
    "acl",
    "dynamic-cookie-key",
    "cookie",
    "email-alert",
    "persist",
    "appsession",
    "load-server-state-from-file",
    "server-state-file-name",
    "max-session-srv-conns",
    "capture",
    "retries",
    "http-request",
    "http-response",
    "http-after-response",
    "http-send-name-header",
    "block",
    "redirect",
    "use_backend",
    "use-server",
    "force-persist",
    "ignore-persist",
    "stick-table",
    "stick",
    "stats",
    "option",
    "default_backend",
    "redispatch",
    "redisp",
    "http-reuse",
    "monitor",
    "transparent",
    "maxconn",
    "backlog",
    "fullconn",
    "grace",
    "dispatch",
    "balance",
    "hash-type",
    "hash-balance-factor",
    "unique-id-format",
    "unique-id-header",
    "log-format",
    "log-format-sd",
    "error-log-format",
    "log-tag",
    "log",
    "source",
    "usesrc",
    "cliexp",
    "reqrep",
    "reqdel",
    "reqdeny",
    "reqpass",
    "reqallow",
    "reqtarpit",
    "reqirep",
    "reqidel",
    "reqideny",
    "reqipass",
    "reqiallow",
    "reqitarpit",
    "reqadd",
    "srvexp",
    "rsprep",
    "rspdel",
    "rspdeny",
    "rspirep",
    "rspidel",
    "rspideny",
    "rspadd",
];

/// The core `global` words HAProxy offers as suggestions.
const GLOBAL_SUGGEST: &[&str] = &[
    "global",
    "daemon",
    "master-worker",
    "noepoll",
    "nokqueue",
    "noevports",
    "nopoll",
    "busy-polling",
    "set-dumpable",
    "insecure-fork-wanted",
    "insecure-setuid-wanted",
    "nosplice",
    "nogetaddrinfo",
    "noreuseport",
    "quiet",
    "zero-warning",
    "tune.runqueue-depth",
    "tune.maxpollevents",
    "tune.maxaccept",
    "tune.recv_enough",
    "tune.buffers.limit",
    "tune.buffers.reserve",
    "tune.bufsize",
    "tune.maxrewrite",
    "tune.idletimer",
    "tune.rcvbuf.client",
    "tune.rcvbuf.server",
    "tune.sndbuf.client",
    "tune.sndbuf.server",
    "tune.pipesize",
    "tune.http.cookielen",
    "tune.http.logurilen",
    "tune.http.maxhdr",
    "tune.comp.maxlevel",
    "tune.pattern.cache-size",
    "uid",
    "gid",
    "external-check",
    "user",
    "group",
    "nbproc",
    "maxconn",
    "ssl-server-verify",
    "maxconnrate",
    "maxsessrate",
    "maxsslrate",
    "maxcomprate",
    "maxpipes",
    "maxzlibmem",
    "maxcompcpuusage",
    "ulimit-n",
    "chroot",
    "description",
    "node",
    "pidfile",
    "unix-bind",
    "log",
    "log-send-hostname",
    "server-state-base",
    "server-state-file",
    "log-tag",
    "spread-checks",
    "max-spread-checks",
    "cpu-map",
    "setenv",
    "presetenv",
    "unsetenv",
    "resetenv",
    "strict-limits",
    "localpeer",
    "numa-cpu-mapping",
    "defaults",
    "listen",
    "frontend",
    "backend",
    "peers",
    "resolvers",
    "cluster-secret",
];

/// The core proxy words HAProxy offers as suggestions.
const PROXY_SUGGEST: &[&str] = &[
    "listen",
    "frontend",
    "backend",
    "defaults",
    "server",
    "default-server",
    "server-template",
    "bind",
    "monitor-net",
    "monitor-uri",
    "mode",
    "id",
    "description",
    "disabled",
    "enabled",
    "bind-process",
    "acl",
    "dynamic-cookie-key",
    "cookie",
    "email-alert",
    "persist",
    "appsession",
    "load-server-state-from-file",
    "server-state-file-name",
    "max-session-srv-conns",
    "capture",
    "retries",
    "http-request",
    "http-response",
    "http-after-response",
    "http-send-name-header",
    "block",
    "redirect",
    "use_backend",
    "use-server",
    "force-persist",
    "ignore-persist",
    "force-persist",
    "stick-table",
    "stick",
    "stats",
    "option",
    "default_backend",
    "http-reuse",
    "monitor",
    "transparent",
    "maxconn",
    "backlog",
    "fullconn",
    "dispatch",
    "balance",
    "hash-type",
    "hash-balance-factor",
    "unique-id-format",
    "unique-id-header",
    "log-format",
    "log-format-sd",
    "log-tag",
    "log",
    "source",
    "usesrc",
    "error-log-format",
];

/// Options with special parsing, offered as suggestions after the table ones.
pub const OPTION_SUGGEST_EXTRA: &[&str] = &[
    "httpclose",
    "http-server-close",
    "http-keep-alive",
    "redispatch",
    "httplog",
    "tcplog",
    "tcpka",
    "httpchk",
    "ssl-hello-chk",
    "smtpchk",
    "pgsql-check",
    "redis-check",
    "mysql-check",
    "ldap-check",
    "spop-check",
    "tcp-check",
    "external-check",
    "forwardfor",
    "original-to",
];

/// Boolean options of HAProxy 2.6 (its two option tables, in order).
pub const BOOL_OPTIONS: &[&str] = &[
    "abortonclose",
    "allbackups",
    "checkcache",
    "clitcpka",
    "contstats",
    "dontlognull",
    "http-buffer-request",
    "http-ignore-probes",
    "idle-close-on-response",
    "prefer-last-server",
    "logasap",
    "nolinger",
    "persist",
    "srvtcpka",
    "transparent",
    "splice-request",
    "splice-response",
    "splice-auto",
    "accept-invalid-http-request",
    "accept-invalid-http-response",
    "dontlog-normal",
    "log-separate-errors",
    "log-health-checks",
    "socket-stats",
    "tcp-smart-accept",
    "tcp-smart-connect",
    "independent-streams",
    "http-use-proxy-header",
    "http-pretend-keepalive",
    "http-no-delay",
    "h1-case-adjust-bogus-client",
    "h1-case-adjust-bogus-server",
    "disable-h2-upgrade",
];

/// Server keywords of HAProxy 2.6 (registered, in dump order).
pub const SERVER_KWS: &[&str] = &[
    "addr",
    "agent-addr",
    "agent-check",
    "agent-inter",
    "agent-port",
    "agent-send",
    "allow-0rtt",
    "alpn",
    "backup",
    "ca-file",
    "check",
    "check-alpn",
    "check-proto",
    "check-send-proxy",
    "check-sni",
    "check-ssl",
    "check-via-socks4",
    "ciphers",
    "ciphersuites",
    "cookie",
    "crl-file",
    "crt",
    "disabled",
    "downinter",
    "enabled",
    "error-limit",
    "fall",
    "fastinter",
    "force-sslv3",
    "force-tlsv10",
    "force-tlsv11",
    "force-tlsv12",
    "force-tlsv13",
    "id",
    "init-addr",
    "inter",
    "log-proto",
    "max-reuse",
    "maxconn",
    "maxqueue",
    "minconn",
    "namespace",
    "no-agent-check",
    "no-backup",
    "no-check",
    "no-check-send-proxy",
    "no-check-ssl",
    "no-send-proxy",
    "no-send-proxy-v2",
    "no-send-proxy-v2-ssl",
    "no-send-proxy-v2-ssl-cn",
    "no-ssl",
    "no-ssl-reuse",
    "no-sslv3",
    "no-tfo",
    "no-tls-tickets",
    "no-tlsv10",
    "no-tlsv11",
    "no-tlsv12",
    "no-tlsv13",
    "non-stick",
    "npn",
    "observe",
    "on-error",
    "on-marked-down",
    "on-marked-up",
    "pool-low-conn",
    "pool-max-conn",
    "pool-purge-delay",
    "port",
    "proto",
    "proxy-v2-options",
    "redir",
    "resolve-net",
    "resolve-opts",
    "resolve-prefer",
    "resolvers",
    "rise",
    "send-proxy",
    "send-proxy-v2",
    "send-proxy-v2-ssl",
    "send-proxy-v2-ssl-cn",
    "slowstart",
    "sni",
    "socks4",
    "source",
    "ssl",
    "ssl-max-ver",
    "ssl-min-ver",
    "ssl-reuse",
    "stick",
    "tcp-ut",
    "tfo",
    "tls-tickets",
    "track",
    "usesrc",
    "verify",
    "verifyhost",
    "weight",
    "ws",
];

/// Bind keywords of HAProxy 2.6 (registered, in dump order; `ssl` ones too).
pub const BIND_KWS: &[&str] = &[
    "accept-netscaler-cip",
    "accept-proxy",
    "backlog",
    "defer-accept",
    "expose-fd",
    "gid",
    "group",
    "id",
    "interface",
    "level",
    "maxconn",
    "mode",
    "mss",
    "name",
    "namespace",
    "nice",
    "process",
    "proto",
    "severity-output",
    "shards",
    "tcp-ut",
    "tfo",
    "thread",
    "transparent",
    "uid",
    "user",
    "v4v6",
    "v6only",
    "allow-0rtt",
    "alpn",
    "ca-file",
    "ca-ignore-err",
    "ca-sign-file",
    "ca-sign-pass",
    "ca-verify-file",
    "ciphers",
    "ciphersuites",
    "crl-file",
    "crt",
    "crt-ignore-err",
    "crt-list",
    "curves",
    "ecdhe",
    "force-sslv3",
    "force-tlsv10",
    "force-tlsv11",
    "force-tlsv12",
    "force-tlsv13",
    "generate-certificates",
    "no-ca-names",
    "no-sslv3",
    "no-tls-tickets",
    "no-tlsv10",
    "no-tlsv11",
    "no-tlsv12",
    "no-tlsv13",
    "npn",
    "prefer-client-ciphers",
    "ssl-max-ver",
    "ssl-min-ver",
    "strict-sni",
    "tls-ticket-keys",
    "verify",
    "ssl",
];

/// Global keywords rhaproxy parses into the model. Every other keyword of
/// `GLOBAL_REGISTERED`/`GLOBAL_COMMON` is reported "not supported yet".
pub const GLOBAL_CARRIED: &[&str] = &[
    "daemon",
    "master-worker",
    "quiet",
    "zero-warning",
    "nbthread",
    "maxconn",
    "maxconnrate",
    "maxsessrate",
    "pidfile",
    "chroot",
    "user",
    "group",
    "uid",
    "gid",
    "ulimit-n",
    "node",
    "description",
    "log",
    "log-tag",
    "log-send-hostname",
    "stats",
    "hard-stop-after",
    "spread-checks",
    "cpu-map",
    "tune.bufsize",
    "tune.maxrewrite",
    "tune.maxpollevents",
    "tune.maxaccept",
    "tune.runqueue-depth",
    "tune.idle-pool.shared",
    "tune.http.maxhdr",
    "busy-polling",
    "noepoll",
    "nosplice",
    "noreuseport",
    "nogetaddrinfo",
    "strict-limits",
    "expose-experimental-directives",
    "insecure-fork-wanted",
    "set-dumpable",
    "setenv",
    "presetenv",
    "unsetenv",
    "resetenv",
    "set-var",
    "set-var-fmt",
    "nbproc",
    "default-path",
];

/// Proxy keywords rhaproxy parses into the model (rules are kept as words
/// for the engines that come later). Others are "not supported yet".
pub const PROXY_CARRIED: &[&str] = &[
    "bind",
    "server",
    "default-server",
    "mode",
    "id",
    "description",
    "disabled",
    "enabled",
    "acl",
    "cookie",
    "retries",
    "http-request",
    "http-response",
    "http-after-response",
    "http-send-name-header",
    "redirect",
    "use_backend",
    "use-server",
    "force-persist",
    "ignore-persist",
    "stick-table",
    "stick",
    "stats",
    "option",
    "default_backend",
    "http-reuse",
    "maxconn",
    "backlog",
    "fullconn",
    "dispatch",
    "balance",
    "hash-type",
    "unique-id-format",
    "unique-id-header",
    "log-format",
    "log-tag",
    "log",
    "monitor-uri",
    "capture",
    "source",
    "timeout",
    "clitimeout",
    "srvtimeout",
    "contimeout",
    "errorfile",
    "errorfiles",
    "errorloc",
    "errorloc302",
    "errorloc303",
    "http-error",
    "declare",
    "retry-on",
    "hash-balance-factor",
    "http-check",
    "tcp-check",
    "tcp-request",
    "tcp-response",
    "compression",
];

/// Whether rhaproxy carries a keyword of a section kind ("global" or proxy).
pub fn carried(global: bool, kw: &str) -> bool {
    if global {
        GLOBAL_CARRIED.contains(&kw)
    } else {
        PROXY_CARRIED.contains(&kw)
    }
}

/// Whether HAProxy 2.6 knows the keyword in that section kind.
pub fn known(global: bool, kw: &str) -> bool {
    if global {
        GLOBAL_REGISTERED.contains(&kw) || GLOBAL_COMMON.contains(&kw)
    } else {
        PROXY_REGISTERED.contains(&kw) || PROXY_COMMON.contains(&kw)
    }
}

/// A word's fingerprint as HAProxy computes it for suggestions: counts of
/// character-class transitions (letters individually, digits, others,
/// word start/end) plus the set of classes present.
fn fingerprint(word: &str) -> Vec<u8> {
    let mut fp = vec![0u8; 1024];
    let class = |c: u8| -> usize {
        match c.to_ascii_lowercase() {
            c @ b'a'..=b'z' => (c - b'a' + 1) as usize,
            b'0'..=b'9' => 27,
            _ => 28,
        }
    };
    let mut from = 28;
    for &c in word.as_bytes() {
        let to = class(c);
        fp[to] = 1;
        fp[32 * from + to] = fp[32 * from + to].wrapping_add(1);
        from = to;
    }
    fp[32 * from + 28] = fp[32 * from + 28].wrapping_add(1);
    fp
}

fn distance(a: &[u8], b: &[u8]) -> usize {
    a.iter()
        .zip(b)
        .map(|(x, y)| (*x as i32 - *y as i32).unsigned_abs() as usize)
        .sum()
}

/// The closest candidate, or None when nothing is close enough (distance
/// above twice either word's length), as HAProxy decides.
pub fn best_match<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let w = fingerprint(word);
    let mut best: Option<(&str, usize)> = None;
    for c in candidates {
        let d = distance(&w, &fingerprint(c));
        if best.is_none_or(|(_, bd)| d < bd) {
            best = Some((c, d));
        }
    }
    let (c, d) = best?;
    if d > 2 * word.len() || d > 2 * c.len() {
        return None;
    }
    Some(c)
}

/// Suggestion for an unknown `global` keyword.
pub fn suggest_global(word: &str) -> Option<&'static str> {
    best_match(word, GLOBAL_REGISTERED.iter().chain(GLOBAL_SUGGEST).copied())
}

/// Suggestion for an unknown proxy keyword.
pub fn suggest_proxy(word: &str) -> Option<&'static str> {
    best_match(word, PROXY_REGISTERED.iter().chain(PROXY_SUGGEST).copied())
}

/// Suggestion for an unknown `option`.
pub fn suggest_option(word: &str) -> Option<&'static str> {
    best_match(word, BOOL_OPTIONS.iter().chain(OPTION_SUGGEST_EXTRA).copied())
}

/// The keyword status tables of docs/configuration.md, generated from the
/// tables above so the documentation cannot drift from the code.
pub fn markdown_tables() -> String {
    fn table(title: &str, all: &[&str], carried: &dyn Fn(&str) -> bool) -> String {
        let mut names: Vec<&str> = all.to_vec();
        names.sort_unstable();
        names.dedup();
        let yes: Vec<String> = names.iter().filter(|k| carried(k)).map(|k| format!("`{k}`")).collect();
        let no: Vec<String> = names.iter().filter(|k| !carried(k)).map(|k| format!("`{k}`")).collect();
        format!(
            "### {title}\n\nSupported ({}): {}\n\nRecognised, not supported yet ({}): {}\n\n",
            yes.len(),
            yes.join(", "),
            no.len(),
            no.join(", ")
        )
    }
    let global: Vec<&str> = GLOBAL_REGISTERED.iter().chain(GLOBAL_COMMON).copied().collect();
    let proxy: Vec<&str> = PROXY_REGISTERED.iter().chain(PROXY_COMMON).copied().collect();
    let mut s = String::new();
    s.push_str(&table("`global` section", &global, &|k| carried(true, k)));
    s.push_str(&table(
        "`defaults`, `frontend`, `backend`, `listen` sections",
        &proxy,
        &|k| carried(false, k),
    ));
    s.push_str(&table("`bind` options", BIND_KWS, &|k| {
        crate::proxy_kw::BIND_CARRIED.contains(&k)
    }));
    s.push_str(&table("`server` / `default-server` options", SERVER_KWS, &|k| {
        crate::proxy_kw::SERVER_CARRIED.contains(&k)
    }));
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn suggestions_match_haproxy() {
        assert_eq!(suggest_option("httplgo"), Some("httplog"));
        assert_eq!(suggest_global("foo"), None);
        assert_eq!(best_match("foo", SERVER_KWS.iter().copied()), Some("tfo"));
        assert_eq!(
            suggest_global("tune.lua.bool-sample-conversion"),
            Some("tune.lua.session-timeout")
        );
    }
    #[test]
    fn carried_are_known() {
        for k in GLOBAL_CARRIED {
            assert!(known(true, k), "{k}");
        }
        for k in PROXY_CARRIED {
            assert!(known(false, k), "{k}");
        }
    }
}
