//! Keywords of `defaults`, `frontend`, `backend` and `listen` sections:
//! `bind` and `server` lines with their options, `option`, `timeout`,
//! `balance` and the rest, into `model::Proxy`. Owns per-keyword syntax and
//! HAProxy's messages for them; section switching is in `parser`.

use crate::addr::{Addr, AddrUse};
use crate::keywords;
use crate::model::*;
use crate::parser::{invalid_char, Kwm, Parser};
use crate::units::{atol, parse_time_ms, TimeError};

/// `bind` options parsed into `model::Bind` (others: "not supported yet").
pub(crate) const BIND_CARRIED: &[&str] = &[
    "name",
    "thread",
    "process",
    "interface",
    "mss",
    "user",
    "group",
    "level",
    "proto",
    "shards",
    "backlog",
    "maxconn",
    "id",
    "uid",
    "gid",
    "nice",
    "mode",
    "tcp-ut",
    "expose-fd",
    "v4v6",
    "v6only",
    "defer-accept",
    "tfo",
    "transparent",
    "accept-proxy",
    "ssl",
    "crt",
    "alpn",
    "ssl-min-ver",
    "ssl-max-ver",
    "ciphers",
    "ciphersuites",
    "no-sslv3",
    "no-tlsv10",
    "no-tlsv11",
    "no-tlsv12",
    "no-tlsv13",
    "no-tls-tickets",
    "force-tlsv12",
    "force-tlsv13",
    "prefer-client-ciphers",
    "strict-sni",
    "ca-file",
    "verify",
    "crt-list",
];

/// `server` options parsed into `model::Server` (others: "not supported yet").
pub(crate) const SERVER_CARRIED: &[&str] = &[
    "weight",
    "maxconn",
    "minconn",
    "maxqueue",
    "rise",
    "fall",
    "pool-max-conn",
    "pool-low-conn",
    "max-reuse",
    "id",
    "port",
    "error-limit",
    "inter",
    "fastinter",
    "downinter",
    "slowstart",
    "pool-purge-delay",
    "track",
    "cookie",
    "redir",
    "observe",
    "on-error",
    "on-marked-down",
    "on-marked-up",
    "init-addr",
    "resolvers",
    "resolve-prefer",
    "resolve-net",
    "resolve-opts",
    "proto",
    "addr",
    "source",
    "backup",
    "no-backup",
    "disabled",
    "enabled",
    "check",
    "no-check",
    "send-proxy",
    "no-send-proxy",
    "proxy-v2-options",
    "send-proxy-v2-ssl",
    "send-proxy-v2-ssl-cn",
    "no-send-proxy-v2-ssl",
    "no-send-proxy-v2-ssl-cn",
    "send-proxy-v2",
    "no-send-proxy-v2",
    "check-send-proxy",
    "no-check-send-proxy",
    "tfo",
    "no-tfo",
    "non-stick",
    "stick",
    "agent-check",
    "no-agent-check",
    "ssl",
    "no-ssl",
    "check-ssl",
    "no-check-ssl",
    "verify",
    "ca-file",
    "sni",
    "verifyhost",
    "no-verifyhost",
    "alpn",
    "ssl-min-ver",
    "ssl-max-ver",
    "ciphers",
    "ciphersuites",
    "no-sslv3",
    "no-tlsv10",
    "no-tlsv11",
    "no-tlsv12",
    "no-tlsv13",
    "no-tls-tickets",
    "force-tlsv12",
    "force-tlsv13",
    "ssl-reuse",
    "no-ssl-reuse",
    "crt",
    "check-sni",
];

const TIMEOUT_LIST: &str = "'client', 'server', 'connect', 'check', 'queue', 'http-keep-alive', 'http-request', 'tunnel', 'tarpit', 'client-fin' and 'server-fin'";

impl Parser {
    /// Runs the rule compiler on the line just appended to `p` (see
    /// [`crate::LoadOptions::rule_check`]).
    fn check_rule(&mut self, p: &Proxy, is_def: bool, l: &RawLine) {
        // HAProxy 2.6 marks these actions experimental (KWF_EXPERIMENTAL):
        // refused, and reading stops, unless the global section allows them.
        let act = l.words.get(1).map(|s| s.as_str()).unwrap_or("");
        if l.words[0] == "http-request" && act == "normalize-uri" && !self.cfg.global.expose_experimental_directives {
            self.diags.alert(format!(
                "parsing [{}] : '{act}' action is experimental, must be allowed via a global 'expose-experimental-directives'",
                l.loc
            ));
            self.diags.abort = true;
            return;
        }
        let Some(check) = self.opts.rule_check else { return };
        if let Err(e) = check(p, is_def, l) {
            self.diags.alert(e.text);
            if e.abort {
                self.diags.abort = true;
            }
        }
    }

    pub(crate) fn parse_proxy_kw(&mut self, p: &mut Proxy, is_def: bool, w: &[String], kwm: Kwm, loc: Loc) {
        let (file, line) = (loc.file.clone(), loc.line);
        let pfx = format!("parsing [{file}:{line}] :");
        let kw = w[0].as_str();
        let arg = |i: usize| w.get(i).map(|s| s.as_str()).unwrap_or("");
        let sect = if is_def {
            "defaults"
        } else if p.cap.frontend && p.cap.backend {
            "listen"
        } else if p.cap.frontend {
            "frontend"
        } else {
            "backend"
        };
        // keywords removed in 2.x that HAProxy explains
        if let Some(msg) = removed_keyword(kw) {
            self.diags.alert(format!("{pfx} {msg}"));
            return;
        }
        if !keywords::known(false, kw) {
            match keywords::suggest_proxy(kw) {
                Some(b) => self.diags.alert(format!(
                    "{pfx} unknown keyword '{kw}' in '{sect}' section; did you mean '{b}' maybe ?"
                )),
                None => self
                    .diags
                    .alert(format!("{pfx} unknown keyword '{kw}' in '{sect}' section")),
            }
            return;
        }
        // keywords a defaults section refuses
        let not_in_defaults = [
            "bind",
            "server",
            "server-template",
            "use_backend",
            "use-server",
            "acl",
            "id",
            "description",
            "dispatch",
            "monitor-net",
            "capture",
            "stick",
            "redirect",
            "force-persist",
            "ignore-persist",
            "http-send-name-header",
            "dynamic-cookie-key",
            "declare",
            "filter",
        ];
        if is_def && not_in_defaults.contains(&kw) {
            self.diags
                .alert(format!("{pfx} '{kw}' not allowed in 'defaults' section."));
            return;
        }
        if !keywords::carried(false, kw) {
            self.diags.alert(format!(
                "{pfx} '{kw}' is not supported yet in '{sect}' section (rhaproxy)."
            ));
            return;
        }
        // HAProxy warns about keywords outside their capability, then
        // parses them anyway (a `bind` in a backend still listens).
        let fe_only = [
            "bind",
            "monitor-uri",
            "max-session-srv-conns",
            "capture",
            "use_backend",
            "default_backend",
            "monitor",
            "maxconn",
            "backlog",
        ];
        let be_only = [
            "dynamic-cookie-key",
            "cookie",
            "load-server-state-from-file",
            "server-state-file-name",
            "retries",
            "http-send-name-header",
            "use-server",
            "ignore-persist",
            "stick",
            "http-reuse",
            "fullconn",
            "dispatch",
            "balance",
            "hash-type",
            "source",
        ];
        if !is_def && !p.cap.frontend && fe_only.contains(&kw) {
            self.diags.warning(format!(
                "{pfx} '{kw}' ignored because backend '{}' has no frontend capability.",
                p.name
            ));
        }
        if !is_def && !p.cap.backend && be_only.contains(&kw) {
            self.diags.warning(format!(
                "{pfx} '{kw}' ignored because frontend '{}' has no backend capability.",
                p.name
            ));
        }
        if !is_def && !p.cap.backend && (kw == "server" || kw == "default-server" || kw == "server-template") {
            self.diags.alert(format!(
                "[{file}:{line}] : {pfx} '{kw}' not allowed because frontend '{}' has no backend capability.",
                p.name
            ));
            return;
        }
        let raw = || RawLine {
            words: w.to_vec(),
            loc: loc.clone(),
        };
        match kw {
            "bind" => self.parse_bind(p, w, &loc, sect),
            "server" | "default-server" => self.parse_server(p, w, &loc, kw == "default-server", false),
            "server-template" => self.parse_server_template(p, w, &loc),
            "mode" => {
                if self.too_many_p(w, 1, &loc) {
                    return;
                }
                match arg(1) {
                    "http" => p.mode = Mode::Http,
                    "tcp" => p.mode = Mode::Tcp,
                    "health" => self.diags.alert(format!("{pfx} 'mode health' doesn't exist anymore. Please use 'http-request return status 200' instead.")),
                    m => self.diags.alert(format!("{pfx} unknown proxy mode '{m}'.")),
                }
            }
            "id" => {
                if arg(1).is_empty() {
                    self.diags.alert(format!("{pfx} '{kw}' expects an integer argument."));
                    return;
                }
                let v = atol(arg(1));
                if v <= 0 {
                    self.diags
                        .alert(format!("parsing [{file}:{line}]: custom id has to be > 0."));
                    return;
                }
                if let Some(o) = self
                    .cfg
                    .proxies
                    .iter()
                    .find(|o| o.id_explicit && o.id == v as u32 && o.name != p.name)
                {
                    self.diags.alert(format!(
                        "parsing [{file}:{line}]: proxy {} reuses same custom id as proxy {} (declared at {}).",
                        p.name, o.name, o.loc
                    ));
                    return;
                }
                p.id = v as u32;
                p.id_explicit = true;
            }
            "description" => p.description = Some(w[1..].join(" ")),
            "disabled" => p.disabled = true,
            "enabled" => p.disabled = false,
            "acl" => {
                if arg(1).is_empty() {
                    self.diags
                        .alert(format!("{pfx} 'acl' expects an ACL name and an ACL criterion."));
                } else if let Some(c) = invalid_char(arg(1)) {
                    self.diags.alert(format!(
                        "{pfx} character '{c}' is not permitted in acl name '{}'.",
                        arg(1)
                    ));
                } else if let Some(f) = missing_pattern_file(&w[2..]) {
                    self.diags.alert(format!(
                        "{pfx} error detected while parsing ACL '{}' : failed to open pattern file <{f}>.",
                        arg(1)
                    ));
                } else {
                    let l = raw();
                    p.acls.push(l.clone());
                    self.check_rule(p, is_def, &l);
                }
            }
            "cookie" => match crate::cookie::parse(w, &format!("{file}:{line}")) {
                Ok((_, warns)) => {
                    for t in warns {
                        self.diags.warning(t);
                    }
                    p.cookie = Some(raw());
                }
                Err(alerts) => {
                    for t in alerts {
                        self.diags.alert(t);
                    }
                }
            },
            "retries" => {
                if arg(1).is_empty() {
                    self.diags.alert(format!(
                        "{pfx} '{kw}' expects an integer argument (dispatch counts for one)."
                    ));
                    return;
                }
                p.retries = atol(arg(1)).max(0) as u32;
            }
            "http-request"
            | "http-response"
            | "http-after-response"
            | "tcp-request"
            | "tcp-response"
            | "http-check"
            | "tcp-check" => {
                if arg(1).is_empty() {
                    self.diags.alert(format!("{pfx} '{kw}' expects an action."));
                    return;
                }
                if is_def && p.name.is_empty() && !matches!(kw, "http-check" | "tcp-check") {
                    if kw.starts_with("tcp-") && arg(1) == "inspect-delay" {
                        self.diags.alert(format!(
                            "{pfx} {kw} inspect-delay is not allowed in anonymous 'defaults' sections"
                        ));
                    } else {
                        self.diags
                            .alert(format!("{pfx} '{kw}' not allowed in anonymous 'defaults' section."));
                    }
                    return;
                }
                if is_def {
                    if let Some(f) = srv_fetch_without_backend(&w[2..]) {
                        self.diags.alert(format!(
                            "parsing [{file}:{line}]: backend name must be set in arg 1 of sample fetch keyword '{f}' in {kw} expression in proxy '{}'.",
                            p.name
                        ));
                        return;
                    }
                }
                let v = match kw {
                    "http-request" => &mut p.http_request,
                    "http-response" => &mut p.http_response,
                    "http-after-response" => &mut p.http_after_response,
                    "tcp-request" => &mut p.tcp_request,
                    "tcp-response" => &mut p.tcp_response,
                    "http-check" => &mut p.http_check,
                    _ => &mut p.tcp_check,
                };
                let l = raw();
                v.push(l.clone());
                if !matches!(kw, "http-check" | "tcp-check") {
                    self.check_rule(p, is_def, &l);
                }
            }
            "external-check" => {
                let sub = arg(1);
                if sub.is_empty() {
                    self.diags
                        .alert(format!("{pfx} missing argument after 'external-check'.\n"));
                    return;
                }
                if sub != "command" && sub != "path" {
                    self.diags.alert(format!(
                        "{pfx} 'external-check' only supports 'command' and 'path'. but got '{sub}'."
                    ));
                    return;
                }
                if self.too_many_p(w, 2, &loc) {
                    return;
                }
                if arg(2).is_empty() {
                    self.diags.alert(format!("{pfx} missing argument after '{sub}'."));
                    return;
                }
                if sub == "command" {
                    p.external_check_command = Some(arg(2).to_string());
                } else {
                    p.external_check_path = Some(arg(2).to_string());
                }
            }
            "http-send-name-header" => {
                p.http_send_name_header = Some(if arg(1).is_empty() {
                    "X-Backend-Server".into()
                } else {
                    arg(1).into()
                })
            }
            "redirect" => {
                p.redirects.push(raw());
                self.check_rule(p, is_def, &raw());
            }
            "use-server" => {
                p.use_servers.push(raw());
                self.check_rule(p, is_def, &raw());
            }
            "force-persist" | "ignore-persist" => {
                p.persist_rules.push(raw());
                self.check_rule(p, is_def, &raw());
            }
            "stick-table" => {
                // A defaults section may declare one (for its rules'
                // track-sc); HAProxy checks the grammar as it reads it.
                match crate::stick_table::parse(w, false) {
                    Err(e) => {
                        self.diags.alert(format!("{pfx} {e}"));
                        return;
                    }
                    Ok((_, warns)) => {
                        for w in warns {
                            self.diags.warning(format!("parsing [{file}:{line}]: {w}"));
                        }
                    }
                }
                p.stick_table = Some(raw())
            }
            "stick" => p.sticks.push(raw()),
            "capture" | "declare" => p.captures.push(raw()),
            "compression" => p.compression.push(raw()),
            "source" => p.source = Some(raw()),
            "use_backend" => {
                if arg(1).is_empty() {
                    self.diags.alert(format!("{pfx} '{kw}' expects a backend name."));
                    return;
                }
                if w.len() > 2 && arg(2) != "if" && arg(2) != "unless" {
                    self.diags.alert(format!(
                        "{pfx} error detected while parsing switching rule : expects 'if' or 'unless' followed by a condition but found '{}'.",
                        arg(2)
                    ));
                    return;
                }
                if w.len() == 3 {
                    self.diags.alert(format!(
                        "{pfx} error detected while parsing switching rule : no condition after '{}'.",
                        arg(2)
                    ));
                    return;
                }
                p.use_backends.push(UseBackend {
                    backend: arg(1).into(),
                    cond: w[2..].to_vec(),
                    loc: loc.clone(),
                });
                self.check_rule(p, is_def, &raw());
            }
            "default_backend" => {
                if arg(1).is_empty() {
                    self.diags.alert(format!("{pfx} '{kw}' expects a backend name."));
                    return;
                }
                if self.too_many_p(w, 1, &loc) {
                    return;
                }
                p.default_backend = Some(arg(1).into());
            }
            "stats" => self.parse_proxy_stats(p, is_def, w, &loc),
            "option" => self.parse_option(p, w, kwm, &loc),
            "http-reuse" => {
                p.http_reuse = match arg(1) {
                    "never" => HttpReuse::Never,
                    "safe" => HttpReuse::Safe,
                    "aggressive" => HttpReuse::Aggressive,
                    "always" => HttpReuse::Always,
                    _ => {
                        self.diags.alert(format!(
                            "{pfx} '{kw}' only supports 'never', 'safe', 'aggressive', 'always'."
                        ));
                        return;
                    }
                };
                self.too_many_p(w, 1, &loc);
            }
            "maxconn" | "fullconn" | "backlog" => {
                if arg(1).is_empty() {
                    self.diags.alert(format!("{pfx} '{kw}' expects an integer argument."));
                    return;
                }
                if self.too_many_p(w, 1, &loc) {
                    return;
                }
                let v = Some(atol(arg(1)).max(0) as u32);
                match kw {
                    "maxconn" => p.maxconn = v,
                    "fullconn" => p.fullconn = v,
                    _ => p.backlog = v,
                }
            }
            "dispatch" => {
                if arg(1).is_empty() {
                    self.diags.alert(format!("{pfx} '{kw}' expects an address."));
                    return;
                }
                match self.addr(arg(1), AddrUse::Server, self.opts.ignore_unresolved) {
                    Ok(a) => p.dispatch = Some(a),
                    Err(e) => self.diags.alert(format!("{pfx} '{kw}' : {e}")),
                }
            }
            "balance" => self.parse_balance(p, w, &loc),
            "hash-type" => {
                match arg(1) {
                    "consistent" => p.hash_type.consistent = true,
                    "map-based" => p.hash_type.consistent = false,
                    _ => {
                        self.diags
                            .alert(format!("{pfx} '{kw}' only supports 'consistent' and 'map-based'."));
                        return;
                    }
                }
                match arg(2) {
                    "" => {}
                    "sdbm" | "djb2" | "wt6" | "crc32" => p.hash_type.function = Some(arg(2).into()),
                    _ => {
                        self.diags.alert(format!(
                            "{pfx} '{kw}' only supports 'sdbm', 'djb2', 'crc32', or 'wt6' hash functions."
                        ));
                        return;
                    }
                }
                match arg(3) {
                    "" => {}
                    "avalanche" => p.hash_type.avalanche = true,
                    _ => self.diags.alert(format!(
                        "{pfx} '{kw}' only supports 'avalanche' as a modifier for hash functions."
                    )),
                }
            }
            "unique-id-format" | "log-format" => {
                if arg(1).is_empty() {
                    self.diags.alert(format!("{pfx} {kw} expects an argument."));
                    return;
                }
                if w.len() > 2 {
                    self.diags.alert(format!(
                        "{pfx} {kw} expects only one argument, don't forget to escape spaces!"
                    ));
                    return;
                }
                // log-format, `option httplog` and `option tcplog` set
                // the same format in HAProxy: the last one wins.
                if kw == "log-format" {
                    p.log_format = Some(arg(1).into());
                    p.log_format_loc = Some(loc.clone());
                    p.options.httplog = None;
                    p.options.tcplog = false;
                } else {
                    p.unique_id_format = Some(arg(1).into());
                    p.unique_id_format_loc = Some(loc.clone());
                }
            }
            "unique-id-header" => {
                if arg(1).is_empty() {
                    self.diags.alert(format!("{pfx} {kw} expects an argument."));
                    return;
                }
                p.unique_id_header = Some(arg(1).into());
            }
            "log-tag" => {
                if arg(1).is_empty() {
                    self.diags
                        .alert(format!("{pfx} '{kw}' expects a tag for use in syslog."));
                    return;
                }
                p.log_tag = Some(arg(1).into());
            }
            "log" => {
                if kwm == Kwm::No {
                    p.logs.clear();
                    p.no_log = true;
                } else if let Some(l) = self.parse_log(w, &loc, false) {
                    p.logs.push(l);
                }
            }
            "monitor-uri" => {
                if arg(1).is_empty() {
                    self.diags.alert(format!("{pfx} '{kw}' expects an URI."));
                    return;
                }
                p.monitor_uri = Some(arg(1).into());
            }
            "timeout" | "clitimeout" | "srvtimeout" | "contimeout" => {
                if kw != "timeout" {
                    let new = match kw {
                        "clitimeout" => "timeout client",
                        "srvtimeout" => "timeout server",
                        _ => "timeout connect",
                    };
                    self.diags.alert(format!(
                        "{pfx} the '{kw}' directive is not supported anymore since HAProxy 2.1. Use '{new}'."
                    ));
                    return;
                }
                let which = arg(1);
                let slot = match which {
                    "client" => &mut p.timeouts.client,
                    "server" => &mut p.timeouts.server,
                    "connect" => &mut p.timeouts.connect,
                    "queue" => &mut p.timeouts.queue,
                    "http-request" => &mut p.timeouts.http_request,
                    "http-keep-alive" => &mut p.timeouts.http_keep_alive,
                    "tunnel" => &mut p.timeouts.tunnel,
                    "client-fin" => &mut p.timeouts.client_fin,
                    "server-fin" => &mut p.timeouts.server_fin,
                    "check" => &mut p.timeouts.check,
                    "tarpit" => &mut p.timeouts.tarpit,
                    old @ ("clitimeout" | "srvtimeout" | "contimeout") => {
                        let new = match old {
                            "clitimeout" => "timeout client",
                            "srvtimeout" => "timeout server",
                            _ => "timeout connect",
                        };
                        self.diags.alert(format!(
                            "{pfx} the '{old}' directive is not supported anymore since HAProxy 2.1. Use '{new}'."
                        ));
                        return;
                    }
                    _ => {
                        self.diags
                            .alert(format!("{pfx} 'timeout' supports {TIMEOUT_LIST} (got '{which}')"));
                        return;
                    }
                };
                let v = arg(2);
                let name = format!("timeout {which}");
                if v.is_empty() {
                    self.diags
                        .alert(format!("{pfx} '{name}' expects an integer value (in milliseconds)"));
                    return;
                }
                match parse_time_ms(v) {
                    Ok(ms) => *slot = Some(ms),
                    Err(TimeError::BadChar(c)) => self.diags.alert(format!("{pfx} unexpected character '{c}' in '{name}'")),
                    Err(TimeError::Overflow) => self.diags.alert(format!(
                        "{pfx} timer overflow in argument '{v}' to '{name}' (maximum value is 2147483647 ms or ~24.8 days)"
                    )),
                    Err(TimeError::Underflow) => self.diags.alert(format!(
                        "{pfx} timer underflow in argument '{v}' to '{name}' (minimum non-null value is 1 ms)"
                    )),
                    Err(TimeError::Empty) => {}
                }
                if w.len() > 3 {
                    self.diags.alert(format!(
                        "{pfx} '{name}' : unexpected extra argument '{}' after value '{v}'.",
                        arg(3)
                    ));
                }
            }
            "errorfile" => {
                if w.len() < 3 {
                    self.diags
                        .alert(format!("{pfx} {kw} : <code> and <file> are expected as arguments."));
                    return;
                }
                if let Some((code, content)) = self.read_errorfile(arg(1), arg(2), &file, line) {
                    p.errors.retain(|(c, _, _)| *c != code);
                    p.errors.push((
                        code,
                        ErrorMsg::File {
                            path: arg(2).into(),
                            content,
                        },
                        loc,
                    ));
                }
            }
            "errorloc" | "errorloc302" | "errorloc303" => {
                if w.len() < 3 {
                    self.diags
                        .alert(format!("{pfx} {kw} : <code> and <url> are expected as arguments."));
                    return;
                }
                let code = atol(arg(1)) as u16;
                let rc = if kw == "errorloc303" { 303 } else { 302 };
                p.errors.retain(|(c, _, _)| *c != code);
                p.errors.push((
                    code,
                    ErrorMsg::Location {
                        code: rc,
                        url: arg(2).into(),
                    },
                    loc,
                ));
            }
            "errorfiles" => {
                if arg(1).is_empty() {
                    self.diags.alert(format!("{pfx} {kw} : expects <name> as argument."));
                    return;
                }
                let name = arg(1).to_string();
                let codes: Vec<u16> = if w.len() > 2 {
                    w[2..].iter().map(|c| atol(c) as u16).collect()
                } else {
                    vec![0]
                };
                for c in codes {
                    p.errors
                        .push((c, ErrorMsg::Section { name: name.clone() }, loc.clone()));
                }
            }
            "http-error" => {
                // Only the status is needed here; the other options are
                // an http reply compiled (and checked) at start-up.
                let mut status = 0i64;
                let mut i = 1;
                while i < w.len() {
                    if w[i] == "status" {
                        status = atol(arg(i + 1));
                        if !(200..=599).contains(&status) {
                            self.diags
                                .alert(format!("{pfx} {kw} : Unexpected status code '{status}'"));
                            return;
                        }
                        i += 1;
                    }
                    i += 1;
                }
                if status == 0 {
                    self.diags
                        .alert(format!("{pfx} {kw} : expects at least a <status> as arguments.\n"));
                    return;
                }
                if !HTTP_ERR_CODES.contains(&(status as u16)) {
                    self.diags
                        .alert(format!("{pfx} {kw}: status code '{status}' not handled."));
                    return;
                }
                p.errors
                    .push((status as u16, ErrorMsg::Reply { words: w[1..].to_vec() }, loc));
            }
            "retry-on" => {
                use crate::model::*;
                if arg(1).is_empty() {
                    self.diags.alert(format!(
                        "{pfx} '{kw}' needs at least one keyword to specify when to retry"
                    ));
                    return;
                }
                if !p.cap.backend {
                    self.diags
                        .alert(format!("{pfx} '{kw}' only available in backend or listen section"));
                    return;
                }
                let mut bits = 0;
                for (i, r) in w[1..].iter().enumerate() {
                    bits |= match r.as_str() {
                        "conn-failure" => RE_CONN_FAILED,
                        "empty-response" => RE_DISCONNECTED,
                        "response-timeout" => RE_TIMEOUT,
                        "0rtt-rejected" => RE_EARLY_ERROR,
                        "junk-response" => RE_JUNK_REQUEST,
                        "all-retryable-errors" => {
                            RE_CONN_FAILED
                                | RE_DISCONNECTED
                                | RE_TIMEOUT
                                | RE_500
                                | RE_502
                                | RE_503
                                | RE_504
                                | RE_EARLY_ERROR
                                | RE_JUNK_REQUEST
                        }
                        "none" => {
                            if i != 0 || w.len() > 2 {
                                self.diags
                                    .alert(format!("{pfx} '{kw}' 'none' keyworld only usable alone"));
                                return;
                            }
                            0
                        }
                        c => match RE_STATUS.iter().find(|(n, _)| n.to_string() == c) {
                            Some((_, b)) => *b,
                            None => {
                                self.diags.alert(format!("{pfx} '{kw}': unknown keyword '{r}'"));
                                return;
                            }
                        },
                    };
                }
                p.retry_on = bits;
            }
            "hash-balance-factor" => {
                if arg(1).is_empty() {
                    self.diags.alert(format!("{pfx} '{kw}' expects an integer argument."));
                    return;
                }
                let v = atol(arg(1)).max(0) as u32;
                if v != 0 && v <= 100 {
                    self.diags.alert(format!("{pfx} '{kw}' must be 0 or greater than 100."));
                    return;
                }
                p.hash_balance_factor = v;
            }
            _ => self.diags.alert(format!(
                "{pfx} '{kw}' is not supported yet in '{sect}' section (rhaproxy)."
            )),
        }
    }

    fn too_many_p(&mut self, w: &[String], n: usize, loc: &Loc) -> bool {
        if w.len() > n + 1 {
            self.diags.alert(format!(
                "parsing [{}:{}] : '{}' cannot handle unexpected argument '{}'.",
                loc.file,
                loc.line,
                w[0],
                w[n + 1]
            ));
            return true;
        }
        false
    }

    fn parse_balance(&mut self, p: &mut Proxy, w: &[String], loc: &Loc) {
        let pfx = format!("parsing [{}:{}] :", loc.file, loc.line);
        let a = w.get(1).map(|s| s.as_str()).unwrap_or("");
        let bad = "balance only supports 'roundrobin', 'static-rr', 'leastconn', 'source', 'uri', 'url_param', 'hdr(name)' and 'rdp-cookie(name)' options.";
        p.balance = match a {
            "" | "roundrobin" => Balance::RoundRobin,
            "static-rr" => Balance::StaticRr,
            "leastconn" => Balance::LeastConn,
            "first" => Balance::First,
            "source" => Balance::Source,
            "uri" => {
                let (mut len, mut depth, mut whole, mut path_only) = (None, None, false, false);
                let mut i = 2;
                while i < w.len() {
                    match w[i].as_str() {
                        "len" | "depth" => {
                            let v = w.get(i + 1).map(|s| atol(s)).unwrap_or(0);
                            if v <= 0 {
                                self.diags.alert(format!(
                                    "{pfx} uri {} expects a positive integer (got '{}').",
                                    w[i],
                                    w.get(i + 1).map_or("", |s| s)
                                ));
                                return;
                            }
                            if w[i] == "len" {
                                len = Some(v as u32)
                            } else {
                                depth = Some(v as u32)
                            }
                            i += 2;
                        }
                        "whole" => {
                            whole = true;
                            i += 1
                        }
                        "path-only" => {
                            path_only = true;
                            i += 1
                        }
                        o => {
                            self.diags.alert(format!("{pfx} 'balance uri' only accepts parameters 'len', 'depth', 'path-only', and 'whole' (got '{o}')."));
                            return;
                        }
                    }
                }
                Balance::Uri {
                    len,
                    depth,
                    whole,
                    path_only,
                }
            }
            "url_param" => {
                let Some(name) = w.get(2) else {
                    self.diags
                        .alert(format!("{pfx} 'balance url_param' requires an URL parameter name."));
                    return;
                };
                let check_post = if w.get(3).map(|s| s.as_str()) == Some("check_post") {
                    Some(w.get(4).map_or(0, |s| atol(s) as u32))
                } else {
                    None
                };
                Balance::UrlParam {
                    name: name.clone(),
                    check_post,
                }
            }
            a if a.starts_with("hdr(") => {
                let Some(name) = a
                    .strip_prefix("hdr(")
                    .and_then(|s| s.strip_suffix(')'))
                    .filter(|s| !s.is_empty())
                else {
                    self.diags
                        .alert(format!("{pfx} hdr requires an http header field name."));
                    return;
                };
                let use_domain_only = w.get(2).map(|s| s.as_str()) == Some("use_domain_only");
                Balance::Hdr {
                    name: name.to_string(),
                    use_domain_only,
                }
            }
            a if a == "random" || a.starts_with("random(") => {
                let draws = match a.strip_prefix("random(").and_then(|s| s.strip_suffix(')')) {
                    Some(n) => {
                        let v = atol(n);
                        if v < 1 {
                            self.diags.alert(format!("{pfx} random number of draws must be > 0."));
                            return;
                        }
                        v as u32
                    }
                    None => 2,
                };
                Balance::Random { draws }
            }
            a if a == "rdp-cookie" || a.starts_with("rdp-cookie(") => {
                let name = a
                    .strip_prefix("rdp-cookie(")
                    .and_then(|s| s.strip_suffix(')'))
                    .unwrap_or("mstshash");
                Balance::RdpCookie { name: name.to_string() }
            }
            _ => {
                self.diags.alert(format!("{pfx} {bad}"));
                return;
            }
        };
    }

    fn parse_proxy_stats(&mut self, p: &mut Proxy, is_def: bool, w: &[String], loc: &Loc) {
        let pfx = format!("parsing [{}:{}]", loc.file, loc.line);
        let a = |i: usize| w.get(i).map(|s| s.as_str()).unwrap_or("");
        if !is_def && p.stats.inherited {
            // The proxy's own settings replace the defaults' entirely.
            p.stats = StatsPage::default();
        }
        let desc = self.cfg.global.description.is_some();
        let s = &mut p.stats;
        match a(1) {
            "enable" => s.enabled = true,
            "uri" => {
                if a(2).is_empty() {
                    self.diags.alert(format!("{pfx} : 'uri' needs an URI prefix."));
                    return;
                }
                s.uri = Some(a(2).into());
                s.enabled = true;
            }
            "realm" => {
                if a(2).is_empty() {
                    self.diags.alert(format!("{pfx} : 'realm' needs an realm name."));
                    return;
                }
                s.realm = Some(a(2).into());
                s.enabled = true;
            }
            "auth" => {
                if a(2).is_empty() {
                    self.diags.alert(format!("{pfx} : 'auth' needs a user:password account."));
                    return;
                }
                // HAProxy ignores an account without ':' (it can never
                // match); keep it so the list is not empty.
                s.auth.push(a(2).into());
                s.enabled = true;
            }
            "refresh" => match crate::units::parse_time_s(a(2)) {
                Ok(v) => {
                    s.refresh_s = Some(v);
                    s.enabled = true;
                }
                Err(crate::units::TimeError::Overflow) => self.diags.alert(format!(
                    "{pfx}: timer overflow in argument <{}> to stats refresh interval, maximum value is 2147483647 s (~68 years).",
                    a(2)
                )),
                Err(crate::units::TimeError::Underflow) => {
                    // HAProxy rounds a sub-second refresh down to none.
                    s.refresh_s = Some(0);
                    s.enabled = true;
                }
                Err(crate::units::TimeError::BadChar(c)) => self.diags.alert(format!(
                    "{pfx}: unexpected character '{c}' in argument to stats refresh interval."
                )),
                Err(crate::units::TimeError::Empty) => {
                    s.refresh_s = Some(0);
                    s.enabled = true;
                }
            },
            "admin" => {
                if is_def {
                    self.diags.alert(format!("{pfx}: 'stats admin' not allowed in 'defaults' section."));
                    return;
                }
                if a(2) != "if" && a(2) != "unless" {
                    self.diags.alert(format!(
                        "{pfx} : 'stats admin' requires either 'if' or 'unless' followed by a condition."
                    ));
                    return;
                }
                s.admin.push(RawLine { words: w.to_vec(), loc: loc.clone() });
                s.enabled = true;
            }
            "hide-version" => {
                s.hide_version = true;
                s.enabled = true
            }
            "show-legends" => {
                s.show_legends = true;
                s.enabled = true
            }
            "show-node" => {
                let n = a(2);
                if !n.is_empty() && !n.bytes().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.')) {
                    self.diags.alert(format!(
                        "{pfx}: 'stats show-node' invalid node name - should be a stringwith digits(0-9), letters(A-Z, a-z), hyphen(-) or underscode(_)."
                    ));
                    return;
                }
                s.show_node = Some(n.into());
                s.enabled = true
            }
            "show-desc" => {
                if a(2).is_empty() && !desc {
                    self.diags.warning(format!(
                        "{pfx}: 'show-desc' requires a parameter or 'desc' to be set in the global section."
                    ));
                    return;
                }
                s.show_desc = Some(w[2..].join(" "));
                s.enabled = true
            }
            "scope" => {
                if a(2).is_empty() {
                    self.diags.alert(format!("{pfx} : 'scope' needs a proxy name."));
                    return;
                }
                s.scope.push(a(2).into());
                s.enabled = true
            }
            "http-request" => {
                if is_def {
                    self.diags.alert(format!("{pfx}: 'stats' not allowed in 'defaults' section."));
                    return;
                }
                s.http_request.push(RawLine { words: w.to_vec(), loc: loc.clone() });
                s.enabled = true
            }
            "show-modules" | "bind-process" => {
                self.diags.alert(format!("{pfx} : 'stats {}' is not supported yet (rhaproxy).", a(1)));
            }
            "socket" | "timeout" | "maxconn" => {
                self.diags.alert(format!("{pfx}: '{} {}' is only supported in 'global' section.", w[0], a(1)));
            }
            "" => self.diags.alert(format!(
                "{pfx}: missing keyword in 'stats', expects 'admin', 'uri', 'realm', 'auth', 'scope', 'enable', 'hide-version', 'show-node', 'show-desc' or 'show-legends'."
            )),
            o => self.diags.alert(format!(
                "{pfx}: unknown stats parameter '{o}', expects 'admin', 'uri', 'realm', 'auth', 'scope', 'enable', 'hide-version', 'show-node', 'show-desc' or 'show-legends'."
            )),
        }
    }

    fn parse_option(&mut self, p: &mut Proxy, w: &[String], kwm: Kwm, loc: &Loc) {
        let (file, line) = (&loc.file, loc.line);
        let pfx = format!("parsing [{file}:{line}] :");
        let name = w.get(1).map(|s| s.as_str()).unwrap_or("");
        if name.is_empty() {
            self.diags.alert(format!("{pfx} '{}' expects an option name.", w[0]));
            return;
        }
        let on = kwm != Kwm::No;
        let o = &mut p.options;
        if keywords::BOOL_OPTIONS.contains(&name) {
            if w.len() > 2 {
                self.diags.alert(format!(
                    "{pfx} 'option {name}' cannot handle unexpected argument '{}'.",
                    w[2]
                ));
                return;
            }
            let slot: &mut bool = match name {
                "abortonclose" => &mut o.abortonclose,
                "allbackups" => &mut o.allbackups,
                "checkcache" => &mut o.checkcache,
                "clitcpka" => &mut o.clitcpka,
                "contstats" => &mut o.contstats,
                "dontlognull" => &mut o.dontlognull,
                "http-buffer-request" => &mut o.http_buffer_request,
                "http-ignore-probes" => &mut o.http_ignore_probes,
                "idle-close-on-response" => &mut o.idle_close_on_response,
                "prefer-last-server" => &mut o.prefer_last_server,
                "logasap" => &mut o.logasap,
                "nolinger" => &mut o.nolinger,
                "persist" => &mut o.persist,
                "srvtcpka" => &mut o.srvtcpka,
                "transparent" => &mut o.transparent,
                "splice-request" => &mut o.splice_request,
                "splice-response" => &mut o.splice_response,
                "splice-auto" => &mut o.splice_auto,
                "accept-invalid-http-request" => &mut o.accept_invalid_http_request,
                "accept-invalid-http-response" => &mut o.accept_invalid_http_response,
                "dontlog-normal" => &mut o.dontlog_normal,
                "log-separate-errors" => &mut o.log_separate_errors,
                "log-health-checks" => &mut o.log_health_checks,
                "socket-stats" => &mut o.socket_stats,
                "tcp-smart-accept" => &mut o.tcp_smart_accept,
                "tcp-smart-connect" => &mut o.tcp_smart_connect,
                "independent-streams" => &mut o.independent_streams,
                "http-use-proxy-header" => &mut o.http_use_proxy_header,
                "http-pretend-keepalive" => &mut o.http_pretend_keepalive,
                "http-no-delay" => &mut o.http_no_delay,
                "disable-h2-upgrade" => &mut o.disable_h2_upgrade,
                _ => {
                    self.diags
                        .alert(format!("{pfx} 'option {name}' is not supported yet (rhaproxy)."));
                    return;
                }
            };
            *slot = on;
            return;
        }
        let no_neg = |pp: &mut Parser| -> bool {
            if kwm != Kwm::Std {
                pp.diags.alert(format!(
                    "parsing [{file}:{line}]: negation/default is not supported for option '{name}'."
                ));
                return true;
            }
            false
        };
        match name {
            "httpclose" | "http-server-close" | "http-keep-alive" => {
                if w.len() > 2 {
                    self.diags.alert(format!(
                        "{pfx} 'option {name}' cannot handle unexpected argument '{}'.",
                        w[2]
                    ));
                    return;
                }
                let m = match name {
                    "httpclose" => HttpConnMode::Close,
                    "http-server-close" => HttpConnMode::ServerClose,
                    _ => HttpConnMode::KeepAlive,
                };
                if on {
                    o.http_conn_mode = m;
                    o.http_conn_mode_set = true;
                } else if o.http_conn_mode == m {
                    o.http_conn_mode = HttpConnMode::KeepAlive;
                }
            }
            "redispatch" => {
                if kwm == Kwm::No {
                    o.redispatch = None;
                } else {
                    let n = w.get(2).map_or(-1, |v| atol(v) as i32);
                    o.redispatch = Some(n);
                }
            }
            "httplog" => {
                if no_neg(self) {
                    return;
                }
                match w.get(2).map(|s| s.as_str()) {
                    None => o.httplog = Some(false),
                    Some("clf") => o.httplog = Some(true),
                    Some(x) => {
                        self.diags.alert(format!(
                            "{pfx} 'option httplog' cannot handle unexpected argument '{x}'."
                        ));
                        return;
                    }
                }
                o.tcplog = false;
                p.log_format = None;
                p.log_format_loc = Some(loc.clone());
            }
            "httpslog" => {
                self.diags.alert(format!(
                    "{pfx} 'option httpslog' is not supported yet (rhaproxy)."
                ));
            }
            "tcplog" => {
                if no_neg(self) {
                    return;
                }
                if w.len() > 2 {
                    self.diags.alert(format!(
                        "{pfx} 'option {name}' cannot handle unexpected argument '{}'.",
                        w[2]
                    ));
                    return;
                }
                o.tcplog = true;
                o.httplog = None;
                p.log_format = None;
                p.log_format_loc = Some(loc.clone());
            }
            "tcpka" => {
                o.tcpka = on;
                o.clitcpka = on;
                o.srvtcpka = on;
            }
            "forwardfor" | "originalto" => {
                if no_neg(self) {
                    return;
                }
                let ff = name == "forwardfor";
                let mut except = None;
                let mut header = if ff { "X-Forwarded-For" } else { "X-Original-To" }.to_string();
                let mut if_none = false;
                let mut i = 2;
                while i < w.len() {
                    match w[i].as_str() {
                        "except" => {
                            let Some(net) = w.get(i + 1).filter(|v| !v.is_empty()).and_then(|v| Net::parse(v)) else {
                                self.diags.alert(format!(
                                    "{pfx} 'option {name} except' expects <address>[/mask] as argument."
                                ));
                                return;
                            };
                            except = Some(net);
                            i += 2;
                        }
                        "header" => {
                            let Some(v) = w.get(i + 1).filter(|v| !v.is_empty()) else {
                                self.diags.alert(format!(
                                    "{pfx} 'option {name} header' expects <header_name> as argument."
                                ));
                                return;
                            };
                            header = v.clone();
                            i += 2;
                        }
                        "if-none" if ff => {
                            if_none = true;
                            i += 1;
                        }
                        _ => {
                            self.diags.alert(if ff {
                                format!("{pfx} 'option forwardfor' only supports optional values: 'except', 'header' and 'if-none'.")
                            } else {
                                format!("{pfx} 'option originalto' only supports optional values: 'except' and 'header'.")
                            });
                            return;
                        }
                    }
                }
                if ff {
                    o.forwardfor = Some(ForwardFor {
                        except,
                        header,
                        if_none,
                    });
                } else {
                    o.originalto = Some(OriginalTo { except, header });
                }
            }
            "httpchk" => {
                if no_neg(self) {
                    return;
                }
                o.httpchk = Some(w[2..].to_vec());
                o.httpchk_loc = Some(loc.clone());
                // The last check option wins, as HAProxy's PR_O2_CHK_ANY.
                o.other_check = None;
            }
            "tcp-check" => {
                if no_neg(self) {
                    return;
                }
                o.tcp_check = true;
                o.other_check = None;
            }
            "smtpchk" | "pgsql-check" | "redis-check" | "mysql-check" | "ldap-check" | "ssl-hello-chk" => {
                if no_neg(self) {
                    return;
                }
                let max = match name {
                    "redis-check" | "ldap-check" | "ssl-hello-chk" => 0,
                    "mysql-check" => 3,
                    _ => 2,
                };
                if let Some(x) = w.get(2 + max) {
                    self.diags.alert(format!(
                        "{pfx} 'option {name}' cannot handle unexpected argument '{x}'."
                    ));
                    return;
                }
                if name == "pgsql-check" {
                    match (w.get(2).map(|s| s.as_str()), w.get(3)) {
                        (Some("user"), Some(_)) => {}
                        (Some(x), Some(_)) if x != "user" => {
                            self.diags.alert(format!(
                                "{pfx} 'option pgsql-check' only supports optional values: 'user'."
                            ));
                            return;
                        }
                        _ => {
                            self.diags.alert(format!(
                                "{pfx} 'option pgsql-check' expects 'user <username>' as argument."
                            ));
                            return;
                        }
                    }
                }
                if name == "mysql-check" && w.len() > 2 {
                    let err = if w[2] != "user" {
                        format!("{pfx} 'option mysql-check' only supports optional values: 'user' (got '{}').", w[2])
                    } else if w.get(3).is_none_or(|u| u.is_empty()) {
                        format!("{pfx} 'option mysql-check user' expects <username> as argument.")
                    } else {
                        match w.get(4).map(|s| s.as_str()) {
                            None | Some("post-41") | Some("pre-41") => String::new(),
                            Some(x) => format!("{pfx} keyword 'user' only supports 'post-41' and 'pre-41' (got '{x}')."),
                        }
                    };
                    if !err.is_empty() {
                        self.diags.alert(err);
                        return;
                    }
                }
                o.httpchk = None;
                o.tcp_check = false;
                o.other_check = Some(w[1..].to_vec());
            }
            "external-check" => {
                if no_neg(self) {
                    return;
                }
                if let Some(x) = w.get(2) {
                    self.diags.alert(format!(
                        "{pfx} 'option {name}' cannot handle unexpected argument '{x}'."
                    ));
                    return;
                }
                o.httpchk = None;
                o.tcp_check = false;
                o.other_check = Some(vec![name.to_string()]);
            }
            "spop-check" => {
                if no_neg(self) {
                    return;
                }
                self.diags.alert(format!(
                    "{pfx} 'option {name}' is not supported yet (rhaproxy)."
                ));
            }
            "forceclose" => self.diags.alert(format!("parsing [{file}:{line}]: option '{name}' is not supported any more since HAProxy 2.0, please just remove it, or use 'option httpclose' if absolutely needed.")),
            "http-tunnel" => self.diags.alert(format!("parsing [{file}:{line}]: option '{name}' is not supported any more since HAProxy 2.1, please just remove it, it shouldn't be needed.")),
            "http_proxy" => self.diags.alert(format!("parsing [{file}:{line}]: option '{name}' is not supported any more since HAProxy 2.5. This option stopped working in HAProxy 1.9 and usually had nasty side effects. It can be more reliably implemented with combinations of 'http-request set-dst' and 'http-request set-uri', and even 'http-request do-resolve' if DNS resolution is desired.")),
            "http-restrict-req-hdr-names" => {
                if no_neg(self) || self.too_many_p(w, 2, loc) {
                    return;
                }
                let arg = w.get(2).map(|s| s.as_str()).unwrap_or("");
                p.options.restrict_req_hdr_names = match arg {
                    "preserve" => RestrictHdrNames::Preserve,
                    "delete" => RestrictHdrNames::Delete,
                    "reject" => RestrictHdrNames::Reject,
                    "" => {
                        self.diags.alert(format!("{pfx} missing parameter. option '{name}' expects 'preserve', 'reject' or 'delete' option."));
                        return;
                    }
                    a => {
                        self.diags.alert(format!("{pfx} invalid parameter '{a}'. option '{name}' expects 'preserve', 'reject' or 'delete' option."));
                        return;
                    }
                };
            }
            "use-backend-name" => {
                if matches!(name, "http-tunnel" | "forceclose" | "http_proxy") {
                    self.diags.warning(format!("{pfx} the '{name}' option is deprecated and ignored. The HTTP keep-alive mode is used."));
                } else {
                    self.diags.alert(format!(
                        "{pfx} 'option {name}' is not supported yet (rhaproxy)."
                    ));
                }
            }
            _ => match keywords::suggest_option(name) {
                Some(b) => self.diags.alert(format!(
                    "{pfx} unknown option '{name}'; did you mean '{b}' maybe ?"
                )),
                None => self.diags.alert(format!("{pfx} unknown option '{name}'.")),
            },
        }
    }

    fn parse_bind(&mut self, p: &mut Proxy, w: &[String], loc: &Loc, sect: &str) {
        let pfx = format!("parsing [{}:{}] :", loc.file, loc.line);
        if w.len() < 2 || w[1].is_empty() {
            self.diags.alert(format!(
                "{pfx} 'bind' expects {{<path>|[addr1]:port1[-end1]}}{{,[addr]:port[-end]}}... as arguments."
            ));
            return;
        }
        let mut binds = Vec::new();
        for a in w[1].split(',') {
            match self.addr(a, AddrUse::Bind, false) {
                Ok(addr) => binds.push(Bind {
                    addr: Some(addr),
                    raw: a.to_string(),
                    loc: loc.clone(),
                    ..Bind::default()
                }),
                Err(e) => {
                    self.diags.alert(format!("{pfx} 'bind' : {e}"));
                    return;
                }
            }
        }
        for b in &binds {
            if let Some(Addr::Fd(fd)) = b.addr {
                if let Err(e) = check_socket_fd(fd) {
                    self.diags
                        .alert(format!("{pfx} 'bind' : cannot use file descriptor '{fd}' : {e}."));
                    return;
                }
            }
        }
        let mut opts = Bind::default();
        let mut ssl = BindSsl::default();
        let mut ssl_on = false;
        let mut i = 2;
        while i < w.len() {
            let k = w[i].as_str();
            let v = w.get(i + 1).map(|s| s.as_str());
            let need = |pp: &mut Parser| -> Option<String> {
                match v {
                    Some(x) if !x.is_empty() => Some(x.to_string()),
                    _ => {
                        pp.diags.alert(format!(
                            "{pfx} 'bind {}' in section '{sect}': '{k}' : missing value",
                            w[1]
                        ));
                        None
                    }
                }
            };
            match k {
                "name" | "thread" | "process" | "interface" | "mss" | "user" | "group" | "level" | "proto"
                | "shards" => {
                    let Some(x) = need(self) else { return };
                    match k {
                        "name" => opts.name = Some(x),
                        "thread" => {
                            // `[<group>/]<set>`, as HAProxy's bind_parse_thread.
                            let digits = x.bytes().take_while(|c| c.is_ascii_digit()).count();
                            let (group, set) = match x[digits..].strip_prefix('/') {
                                Some(rest) => {
                                    let g: i64 = x[..digits].parse().unwrap_or(0);
                                    if !(1..=crate::features::MAX_TGROUPS).contains(&g) {
                                        self.diags.alert(format!(
                                            "{pfx} 'bind {}' in section '{sect}' : '{x}' thread-group number must be between 1 and {} (was {g})",
                                            w[1],
                                            crate::features::MAX_TGROUPS
                                        ));
                                        return;
                                    }
                                    (g as u32, rest)
                                }
                                None => (0, x.as_str()),
                            };
                            if opts.thread_mask != 0 && opts.thread_group != group {
                                self.diags.alert(format!(
                                    "{pfx} 'bind {}' in section '{sect}' : '{x}' multiple thread-groups are not supported",
                                    w[1]
                                ));
                                return;
                            }
                            match parse_thread_set(set, crate::features::MAX_THREADS) {
                                Ok(m) => opts.thread_mask |= m,
                                Err(e) => {
                                    self.diags
                                        .alert(format!("{pfx} 'bind {}' in section '{sect}' : '{set}' : {e}", w[1]));
                                    return;
                                }
                            }
                            opts.thread_group = group;
                            opts.thread = Some(x)
                        }
                        "process" => {
                            // 2.6 runs one process: `<proc>[/<threads>]`,
                            // the thread part acting as `thread`, with
                            // HAProxy's deprecation warning.
                            let (proc_part, threads) = match x.split_once('/') {
                                Some((a, b)) => (a, Some(b)),
                                None => (x.as_str(), None),
                            };
                            if let Err(e) = parse_thread_set(proc_part, 1) {
                                self.diags
                                    .alert(format!("{pfx} 'bind {}' in section '{sect}' : 'process' : {e}", w[1]));
                                return;
                            }
                            let mut warn = format!(
                                "{pfx} 'bind {}' in section '{sect}' : 'process {x}' on 'bind' lines is deprecated and will be removed in 2.7.",
                                w[1]
                            );
                            if let Some(t) = threads {
                                match parse_thread_set(t, crate::features::MAX_THREADS) {
                                    Ok(m) => {
                                        opts.thread_mask |= m;
                                        opts.thread.get_or_insert_with(|| t.to_string());
                                    }
                                    Err(e) => {
                                        self.diags.alert(format!(
                                            "{pfx} 'bind {}' in section '{sect}' : 'process' : {e}",
                                            w[1]
                                        ));
                                        return;
                                    }
                                }
                                warn.push_str(&format!(" Please use 'thread {t}' instead."));
                            }
                            self.diags.warning(warn);
                            opts.process = Some(x)
                        }
                        "interface" => opts.interface = Some(x),
                        "mss" => opts.mss = Some(x),
                        "user" => opts.user = Some(x),
                        "group" => opts.group = Some(x),
                        "level" => opts.level = Some(x),
                        "proto" => {
                            // The multiplexers HAProxy 2.6 knows; which one
                            // is usable here is decided with the mode.
                            if !matches!(x.as_str(), "h1" | "h2" | "fcgi" | "none") {
                                self.diags.alert(format!(
                                    "{pfx} 'bind {}' in section '{sect}' : 'proto' :  unknown MUX protocol '{x}'",
                                    w[1]
                                ));
                                return;
                            }
                            opts.proto = Some(x)
                        }
                        "shards" => opts.shards = Some(x),
                        _ => {
                            self.diags.alert(format!(
                                "{pfx} 'bind {}' in section '{sect}': '{k}' is not supported yet (rhaproxy).",
                                w[1]
                            ));
                            return;
                        }
                    }
                    i += 2;
                }
                "backlog" | "maxconn" | "id" | "uid" | "gid" | "nice" | "mode" => {
                    let Some(x) = need(self) else { return };
                    let n = atol(&x);
                    match k {
                        "backlog" => opts.backlog = Some(n.max(0) as u32),
                        "maxconn" => opts.maxconn = Some(n.max(0) as u32),
                        "id" => {
                            if n <= 0 {
                                self.diags.alert(format!(
                                    "{pfx} 'bind {}' in section '{sect}': custom id has to be > 0",
                                    w[1]
                                ));
                                return;
                            }
                            opts.id = Some(n as u32)
                        }
                        "uid" => opts.uid = Some(n.max(0) as u32),
                        "gid" => opts.gid = Some(n.max(0) as u32),
                        "nice" => opts.nice = Some(n as i32),
                        _ => opts.mode = u32::from_str_radix(&x, 8).ok(),
                    }
                    i += 2;
                }
                "tcp-ut" => {
                    let Some(x) = need(self) else { return };
                    match parse_time_ms(&x) {
                        Ok(v) => opts.tcp_ut_ms = Some(v),
                        Err(_) => {
                            self.diags.alert(format!(
                                "{pfx} 'bind {}' in section '{sect}': '{k}' : invalid value '{x}'",
                                w[1]
                            ));
                            return;
                        }
                    }
                    i += 2;
                }
                "expose-fd" => {
                    if v != Some("listeners") {
                        self.diags.alert(format!(
                            "{pfx} 'bind {}' in section '{sect}': '{k}' : unsupported value",
                            w[1]
                        ));
                        return;
                    }
                    opts.expose_fd_listeners = true;
                    i += 2;
                }
                "v4v6" => {
                    opts.v4v6 = true;
                    i += 1
                }
                "v6only" => {
                    opts.v6only = true;
                    i += 1
                }
                "defer-accept" => {
                    opts.defer_accept = true;
                    i += 1
                }
                "tfo" => {
                    opts.tfo = true;
                    i += 1
                }
                "transparent" => {
                    opts.transparent = true;
                    i += 1
                }
                "accept-proxy" => {
                    opts.accept_proxy = true;
                    i += 1
                }
                "ssl" => {
                    ssl_on = true;
                    i += 1
                }
                "strict-sni" => {
                    ssl.strict_sni = true;
                    i += 1
                }
                "crt-list" => {
                    let Some(x) = need(self) else { return };
                    let bpfx = format!("{pfx} 'bind {}' in section '{sect}' : 'crt-list' :", w[1]);
                    let text = match std::fs::read_to_string(&x) {
                        Ok(t) => t,
                        Err(e) => {
                            self.diags
                                .alert(format!("{bpfx} cannot open file '{x}' : {}", crate::io_text(&e)));
                            return;
                        }
                    };
                    for (n, l) in text.lines().enumerate() {
                        let l = l.trim();
                        if l.is_empty() || l.starts_with('#') {
                            continue;
                        }
                        // <crtfile> [<ssl options>] [[!]<snifilter> ...]
                        let (path, rest) = l.split_once(char::is_whitespace).unwrap_or((l, ""));
                        let rest = rest.trim();
                        let filters = match rest.strip_prefix('[') {
                            Some(r) => {
                                let (opts, after) = r.split_once(']').unwrap_or((r, ""));
                                if !opts.trim().is_empty() {
                                    self.diags.alert(format!(
                                        "{bpfx} per-certificate options '[{}]' at line {} of '{x}' are not supported yet (rhaproxy).",
                                        opts.trim(),
                                        n + 1
                                    ));
                                    return;
                                }
                                after
                            }
                            None => rest,
                        };
                        let path = crate::ssl::with_base(self.cfg.global.ssl.crt_base.as_deref(), path);
                        if let Err(e) = crate::ssl::precheck_cert(&path) {
                            self.diags.alert(format!("{bpfx} {e}"));
                            return;
                        }
                        ssl.crts.push(path);
                        ssl.crt_filters
                            .push(filters.split_whitespace().map(|f| f.to_ascii_lowercase()).collect());
                    }
                    i += 2;
                }
                "crt" | "alpn" | "ciphers" | "ciphersuites" | "ca-file" | "verify" => {
                    let Some(x) = need(self) else { return };
                    let g = &self.cfg.global.ssl;
                    let bpfx = format!("{pfx} 'bind {}' in section '{sect}' :", w[1]);
                    match k {
                        "crt" => {
                            let path = crate::ssl::with_base(g.crt_base.as_deref(), &x);
                            let files = if std::fs::metadata(&path).is_ok_and(|m| m.is_dir()) {
                                match crate::ssl::dir_certs(&path) {
                                    Ok(f) => f,
                                    Err(e) => {
                                        self.diags.alert(format!(
                                            "{bpfx} unable to scan directory '{path}' : {}.",
                                            crate::io_text(&e)
                                        ));
                                        return;
                                    }
                                }
                            } else {
                                vec![path]
                            };
                            for f in files {
                                if let Err(e) = crate::ssl::precheck_cert(&f) {
                                    self.diags.alert(format!("{bpfx} {e}"));
                                    return;
                                }
                                ssl.crts.push(f);
                                ssl.crt_filters.push(Vec::new());
                            }
                        }
                        "alpn" => {
                            ssl.alpn.clear();
                            for proto in x.split(',').filter(|p| !p.is_empty()) {
                                if proto == "h2" {
                                    // No HTTP/2 here: offering only the
                                    // protocols we speak makes h2 clients
                                    // fall back to http/1.1 on the wire.
                                    self.diags.warning(format!(
                                        "{bpfx} 'alpn {x}' : 'h2' is not offered since rhaproxy does not speak HTTP/2 yet; clients negotiate http/1.1 (rhaproxy)."
                                    ));
                                    continue;
                                }
                                ssl.alpn.push(proto.to_string());
                            }
                        }
                        "ciphers" => ssl.opts.ciphers = Some(x),
                        "ciphersuites" => ssl.opts.ciphersuites = Some(x),
                        "ca-file" => {
                            let path = crate::ssl::with_base(g.ca_base.as_deref(), &x);
                            if let Err(e) = std::fs::metadata(&path) {
                                self.diags
                                    .alert(format!("Couldn't open the ca-file '{path}' ({}).", crate::io_text(&e)));
                                self.diags.alert(format!("{bpfx} 'ca-file' : unable to load {path}"));
                                return;
                            }
                            ssl.ca_file = Some(path)
                        }
                        _ => match x.as_str() {
                            "none" => ssl.verify = Verify::None,
                            "optional" => ssl.verify = Verify::Optional,
                            "required" => ssl.verify = Verify::Required,
                            _ => {
                                self.diags.alert(format!(
                                    "{bpfx} 'verify' : unknown verify method '{x}', only 'none', 'optional', and 'required' are supported"
                                ));
                                return;
                            }
                        },
                    }
                    i += 2;
                }
                "ssl-min-ver"
                | "ssl-max-ver"
                | "no-sslv3"
                | "no-tlsv10"
                | "no-tlsv11"
                | "no-tlsv12"
                | "no-tlsv13"
                | "no-tls-tickets"
                | "force-tlsv12"
                | "force-tlsv13"
                | "prefer-client-ciphers" => {
                    let stmt = format!("'bind {}' in section '{sect}'", w[1]);
                    match crate::ssl::apply_opt(&mut ssl.opts, k, v, &stmt) {
                        Ok(n) => i += n,
                        Err(e) => {
                            self.diags.alert(format!("{pfx} {e}"));
                            return;
                        }
                    }
                }
                _ if keywords::BIND_KWS.contains(&k) => {
                    self.diags.alert(format!(
                        "{pfx} 'bind {}' in section '{sect}': '{k}' is not supported yet (rhaproxy).",
                        w[1]
                    ));
                    return;
                }
                _ => {
                    match keywords::best_match(k, keywords::BIND_KWS.iter().copied()) {
                        Some(b) => self.diags.alert(format!(
                            "{pfx} 'bind {}' in section '{sect}': unknown keyword '{k}'; did you mean '{b}' maybe ?",
                            w[1]
                        )),
                        None => self.diags.alert(format!(
                            "{pfx} 'bind {}' in section '{sect}': unknown keyword '{k}'.",
                            w[1]
                        )),
                    }
                    return;
                }
            }
        }
        if ssl_on {
            if !self.finish_bind_ssl(&mut ssl, &p.name, &w[1], loc) {
                return;
            }
            opts.ssl = Some(Box::new(ssl));
        }
        for mut b in binds {
            let (addr, raw) = (b.addr.take(), std::mem::take(&mut b.raw));
            b = Bind {
                addr,
                raw,
                loc: loc.clone(),
                ..opts.clone()
            };
            p.binds.push(b);
        }
    }

    /// `server-template <prefix> <num | range> <fqdn>[:<port>] [params*]`:
    /// servers `<prefix>N` for each number of the range, all alike (an
    /// SRV fqdn `_service._proto.name` fills them from its records at run
    /// time).
    fn parse_server_template(&mut self, p: &mut Proxy, w: &[String], loc: &Loc) {
        let (file, line) = (&loc.file, loc.line);
        if w.len() < 4 || w[3].is_empty() {
            self.diags.alert(format!(
                "[{file}:{line}] : 'server-template' expects <prefix> <nb | range> <addr>[:<port>] as arguments."
            ));
            return;
        }
        if let Some(c) = invalid_char(&w[1]) {
            self.diags.alert(format!(
                "[{file}:{line}] : character '{c}' is not permitted in server-template prefix '{}'.",
                w[1]
            ));
            return;
        }
        // HAProxy's range reading: "N" is 1..N, "A-B" is A..B (atoi each).
        let (lo, hi) = match w[2].split_once('-') {
            Some((a, b)) => (atol(a), atol(b)),
            None => (1, atol(&w[2])),
        };
        if lo < 0 || hi < lo {
            self.diags.alert(format!(
                "[{file}:{line}] : Wrong server-template number or range arg '{}'.",
                w[2]
            ));
            return;
        }
        let mut words = vec!["server".to_string(), format!("{}{lo}", w[1])];
        words.extend(w[3..].iter().cloned());
        let before = p.servers.len();
        self.parse_server(p, &words, loc, false, true);
        if p.servers.len() == before {
            return;
        }
        let first = p.servers[before].clone();
        for n in lo + 1..=hi {
            let mut s = first.clone();
            s.name = format!("{}{n}", w[1]);
            p.servers.push(s);
        }
    }

    /// Completes a `bind ... ssl` from the global defaults and checks what
    /// HAProxy checks when it builds the TLS context (texts as HAProxy's).
    fn finish_bind_ssl(&mut self, ssl: &mut BindSsl, px: &str, addr: &str, loc: &Loc) -> bool {
        let g = &self.cfg.global.ssl.bind;
        let o = &mut ssl.opts;
        o.ciphers = o.ciphers.take().or(g.ciphers.clone());
        o.ciphersuites = o.ciphersuites.take().or(g.ciphersuites.clone());
        o.min_ver = o.min_ver.or(g.min_ver);
        o.max_ver = o.max_ver.or(g.max_ver);
        o.no_tls12 |= g.no_tls12;
        o.no_tls13 |= g.no_tls13;
        o.no_tls_tickets |= g.no_tls_tickets;
        o.prefer_client_ciphers |= g.prefer_client_ciphers;
        let at = format!("for bind '{addr}' at [{}:{}]", loc.file, loc.line);
        let mut ok = true;
        if let Some(c) = &o.ciphers {
            if let Err(why) = crate::ssl::tls12_suites(c) {
                self.diags.alert(format!(
                    "Proxy '{px}': unable to set SSL cipher list to '{c}' {at}. {why} (rhaproxy)."
                ));
                ok = false;
            }
        }
        if let Some(c) = &o.ciphersuites {
            if let Err(why) = crate::ssl::tls13_suites(c) {
                self.diags.alert(format!(
                    "Proxy '{px}': unable to set TLS 1.3 cipher suites to '{c}' {at}. {why} (rhaproxy)."
                ));
                ok = false;
            }
        }
        if ssl.crts.is_empty() {
            self.diags
                .alert(format!("Proxy '{px}': no SSL certificate specified {at} (use 'crt')."));
            ok = false;
        }
        if ssl.verify != Verify::None && ssl.ca_file.is_none() {
            self.diags.alert(format!(
                "Proxy '{px}': verify is enabled but no CA file specified {at}."
            ));
            ok = false;
        }
        ok
    }

    /// Completes a server's TLS options from the global defaults and checks
    /// what HAProxy checks when it prepares the server's TLS context.
    fn finish_server_ssl(&mut self, ssl: &mut ServerSsl, who: &str, loc: &Loc) -> bool {
        if !ssl.enabled && !ssl.check_ssl {
            return true;
        }
        let g = &self.cfg.global.ssl;
        let verify_none = !ssl.verify_required.unwrap_or(!g.server_verify_none);
        let d = &g.server;
        let o = &mut ssl.opts;
        o.ciphers = o.ciphers.take().or(d.ciphers.clone());
        o.ciphersuites = o.ciphersuites.take().or(d.ciphersuites.clone());
        o.min_ver = o.min_ver.or(d.min_ver);
        o.max_ver = o.max_ver.or(d.max_ver);
        o.no_tls12 |= d.no_tls12;
        o.no_tls13 |= d.no_tls13;
        o.no_tls_tickets |= d.no_tls_tickets;
        ssl.verify_required = Some(!verify_none);
        let at = format!("[{}:{}] : {who} :", loc.file, loc.line);
        if !verify_none && ssl.ca_file.is_none() {
            self.diags.alert(format!(
                "{at} verify is enabled by default but no CA file specified. If you're running on a LAN where you're certain to trust the server's certificate, please set an explicit 'verify none' statement on the 'server' line, or use 'ssl-server-verify none' in the global section to disable server-side verifications by default."
            ));
            return false;
        }
        if let Some(c) = &o.ciphers {
            if let Err(why) = crate::ssl::tls12_suites(c) {
                self.diags.alert(format!(
                    "{at} unable to set SSL cipher list to '{c}'. {why} (rhaproxy)."
                ));
                return false;
            }
        }
        if let Some(c) = &o.ciphersuites {
            if let Err(why) = crate::ssl::tls13_suites(c) {
                self.diags.alert(format!(
                    "{at} unable to set TLS 1.3 cipher suites to '{c}'. {why} (rhaproxy)."
                ));
                return false;
            }
        }
        true
    }

    fn parse_server(&mut self, p: &mut Proxy, w: &[String], loc: &Loc, is_default: bool, tmpl: bool) {
        let (file, line) = (&loc.file, loc.line);
        let mut s = p.default_server.clone();
        s.loc = loc.clone();
        let mut i = 1;
        let who;
        if !is_default {
            if w.len() < 3 {
                self.diags.alert(format!(
                    "[{file}:{line}] : 'server' expects <name> and <addr>[:<port>] as arguments."
                ));
                return;
            }
            s.name = w[1].clone();
            // A template's server has no name yet while its line is read.
            who = if tmpl {
                format!("'server {}/(null)'", p.name)
            } else {
                format!("'server {}/{}'", p.name, s.name)
            };
            if let Some(c) = invalid_char(&s.name) {
                self.diags.alert(format!(
                    "[{file}:{line}] : {who} : character '{c}' is not permitted in server name '{}'.",
                    s.name
                ));
                return;
            }
            if let Some(prev) = p.servers.iter().find(|o| o.name == s.name) {
                self.diags.alert(format!(
                    "parsing [{file}:{line}] : {} '{}', another server named '{}' was already defined at line {}, please use distinct names.",
                    if p.cap.frontend { "proxy" } else { "backend" },
                    p.name,
                    s.name,
                    prev.loc.line
                ));
                return;
            }
            s.raw_addr = w[2].clone();
            if tmpl && w[2].starts_with('_') {
                // An SRV record: never resolved by libc, its records give
                // address, port and weight at run time.
                let (name, port) = match w[2].rsplit_once(':') {
                    Some((n, p)) => (n, p.parse::<u16>().ok()),
                    None => (w[2].as_str(), None),
                };
                s.srv_record = Some(name.to_string());
                s.addr = Some(Addr::Inet {
                    ip: std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
                    ports: match port {
                        Some(p) => crate::addr::Ports::Range(p, p),
                        None => crate::addr::Ports::None,
                    },
                    host: None,
                    unresolved: true,
                });
                i = 3;
            } else {
                match self.addr(&w[2], AddrUse::Server, true) {
                    Ok(a) => {
                        // An unresolved name is reported after parsing by
                        // `resolvers::init_addrs`, per server and init-addr;
                        // a name DNS cannot carry is refused now, as HAProxy
                        // does when preparing its resolution.
                        if let Addr::Inet { host: Some(h), .. } = &a {
                            if !crate::resolvers::valid_dns_name(h) {
                                let id = if tmpl { "(null)" } else { s.name.as_str() };
                                self.diags.alert(format!(
                                    "[{file}:{line}] : {who} : Can't create DNS resolution for server '{id}'"
                                ));
                                return;
                            }
                        }
                        s.addr = Some(a);
                    }
                    Err(e) => {
                        self.diags.alert(format!("[{file}:{line}] : {who} : {e}"));
                        return;
                    }
                }
                i = 3;
            }
        } else {
            who = format!("'default-server {}'", p.name);
        }
        while i < w.len() {
            let k = w[i].as_str();
            let v = w.get(i + 1).map(|x| x.as_str()).unwrap_or("");
            let missing = |pp: &mut Parser| {
                pp.diags
                    .alert(format!("[{file}:{line}] : {who} : '{k}' expects an argument."))
            };
            let mut take = 2;
            match k {
                "weight" => {
                    // No check for a missing value: 2.6 reads it with atol
                    // (0), like maxconn/minconn/maxqueue below.
                    let n = atol(v);
                    if !(0..=256).contains(&n) {
                        self.diags.alert(format!(
                            "[{file}:{line}] : {who} : weight of server {} is not within 0 and 256 ({n})..",
                            s.name
                        ));
                        return;
                    }
                    s.weight = n as u32;
                }
                "maxconn" | "minconn" | "maxqueue" | "rise" | "fall" | "pool-max-conn" | "pool-low-conn"
                | "max-reuse" | "id" | "port" | "error-limit" => {
                    if v.is_empty() && !matches!(k, "maxconn" | "minconn" | "maxqueue") {
                        missing(self);
                        return;
                    }
                    let n = atol(v);
                    match k {
                        "maxconn" => s.maxconn = n.max(0) as u32,
                        "minconn" => s.minconn = n.max(0) as u32,
                        "maxqueue" => s.maxqueue = n.max(0) as u32,
                        "rise" | "fall" => {
                            if n <= 0 {
                                self.diags
                                    .alert(format!("[{file}:{line}] : {who} : '{k}' has to be > 0."));
                                return;
                            }
                            if k == "rise" {
                                s.rise = n as u32
                            } else {
                                s.fall = n as u32
                            }
                        }
                        "pool-max-conn" => {
                            if n < -1 {
                                self.diags
                                    .alert(format!("[{file}:{line}] : {who} : Invalid pool-max-conn value '{n}'."));
                                return;
                            }
                            s.pool_max_conn = n as i32
                        }
                        "pool-low-conn" => s.pool_low_conn = n.max(0) as u32,
                        "max-reuse" => s.max_reuse = n as i32,
                        "id" => {
                            if n <= 0 {
                                self.diags
                                    .alert(format!("[{file}:{line}] : {who} : 'id' : custom id has to be > 0."));
                                return;
                            }
                            s.id = Some(n as u32)
                        }
                        "port" => s.check_port = Some(n as u16),
                        _ => s.error_limit = Some(n.max(0) as u32),
                    }
                }
                "inter" | "fastinter" | "downinter" | "slowstart" | "pool-purge-delay" => {
                    if v.is_empty() {
                        missing(self);
                        return;
                    }
                    let ms = match parse_time_ms(v) {
                        Ok(ms) => ms,
                        Err(TimeError::BadChar(c)) => {
                            // HAProxy's inter parser names the wrong keyword here
                            let shown = if k == "inter" || k == "fastinter" || k == "downinter" {
                                "agent-inter"
                            } else {
                                k
                            };
                            self.diags.alert(format!("[{file}:{line}] : {who} : unexpected character '{c}' in '{shown}' argument of server {}..", s.name));
                            return;
                        }
                        Err(_) => {
                            self.diags
                                .alert(format!("[{file}:{line}] : {who} : invalid time value '{v}' for '{k}'."));
                            return;
                        }
                    };
                    if ms == 0 && k != "slowstart" && k != "pool-purge-delay" {
                        self.diags.alert(format!(
                            "[{file}:{line}] : {who} : server {} has an invalid '{k}' value of 0.",
                            s.name
                        ));
                        return;
                    }
                    match k {
                        "inter" => s.inter_ms = ms,
                        "fastinter" => s.fastinter_ms = Some(ms),
                        "downinter" => s.downinter_ms = Some(ms),
                        "slowstart" => s.slowstart_ms = ms,
                        _ => s.pool_purge_delay_ms = ms,
                    }
                }
                "track" | "cookie" | "redir" | "observe" | "on-error" | "on-marked-down" | "on-marked-up"
                | "resolvers" | "proto" | "addr" => {
                    if v.is_empty() {
                        missing(self);
                        return;
                    }
                    let want = match k {
                        "on-marked-down" => "shutdown-sessions",
                        "on-marked-up" => "shutdown-backup-sessions",
                        _ => v,
                    };
                    if v != want {
                        self.diags.alert(format!(
                            "[{file}:{line}] : {who} : '{k}' expects '{want}' but got '{v}'."
                        ));
                        return;
                    }
                    let x = Some(v.to_string());
                    match k {
                        "track" => s.track = x,
                        "cookie" => s.cookie = x,
                        "redir" => s.redir = x,
                        "observe" => s.observe = x,
                        "on-error" => s.on_error = x,
                        "on-marked-down" => s.on_marked_down = x,
                        "on-marked-up" => s.on_marked_up = x,
                        "resolvers" => s.resolvers = x,
                        "proto" => s.proto = x,
                        _ => s.check_addr = x,
                    }
                }
                "source" => {
                    if v.is_empty() {
                        missing(self);
                        return;
                    }
                    s.source = Some(v.to_string());
                }
                "proxy-v2-options" => match Pp2Opts::parse(v) {
                    // Options add up over repeated keywords.
                    Ok(o) => {
                        let p = &mut s.pp2;
                        p.ssl |= o.ssl;
                        p.cert_cn |= o.cert_cn;
                        p.cert_key |= o.cert_key;
                        p.cert_sig |= o.cert_sig;
                        p.ssl_cipher |= o.ssl_cipher;
                        p.authority |= o.authority;
                        p.crc32c |= o.crc32c;
                        p.unique_id |= o.unique_id;
                    }
                    Err(e) => {
                        self.diags.alert(format!("[{file}:{line}] : {who} : {e}."));
                        return;
                    }
                },
                "send-proxy-v2-ssl" | "send-proxy-v2-ssl-cn" | "no-send-proxy-v2-ssl" | "no-send-proxy-v2-ssl-cn" => {
                    take = 1;
                    let on = !k.starts_with("no-");
                    s.send_proxy_v2 = on;
                    s.pp2.ssl = on;
                    if k.ends_with("-cn") {
                        s.pp2.cert_cn = on;
                    }
                }
                "init-addr" | "resolve-prefer" | "resolve-net" | "resolve-opts" => {
                    let r = match k {
                        "init-addr" => crate::resolvers::parse_init_addr(v)
                            .map(|m| {
                                s.init_methods = m;
                                s.init_addr = Some(v.to_string());
                            })
                            .map_err(|e| format!("'{k}' : {e}")),
                        "resolve-prefer" => match v {
                            "ipv4" | "ipv6" => {
                                s.resolve_prefer = Some(v.to_string());
                                Ok(())
                            }
                            _ => Err(format!("'{k}' expects either ipv4 or ipv6 as argument.")),
                        },
                        "resolve-net" if v.is_empty() => Err(format!("'{k}' expects a list of networks.")),
                        "resolve-net" => crate::resolvers::parse_resolve_net(v).map(|n| s.resolve_net.extend(n)),
                        _ => {
                            let mut r = Ok(());
                            for o in v.split(',').filter(|o| !o.is_empty()) {
                                match o {
                                    "allow-dup-ip" => s.allow_dup_ip = true,
                                    "prevent-dup-ip" => s.allow_dup_ip = false,
                                    "ignore-weight" => s.ignore_weight = true,
                                    _ => {
                                        r = Err(format!("'{k}' : unknown resolve-opts option '{o}', supported methods are 'allow-dup-ip', 'ignore-weight', and 'prevent-dup-ip'."));
                                        break;
                                    }
                                }
                            }
                            r
                        }
                    };
                    if let Err(e) = r {
                        self.diags.alert(format!("[{file}:{line}] : {who} : {e}."));
                        return;
                    }
                }
                "backup"
                | "no-backup"
                | "disabled"
                | "enabled"
                | "check"
                | "no-check"
                | "send-proxy"
                | "no-send-proxy"
                | "send-proxy-v2"
                | "no-send-proxy-v2"
                | "check-send-proxy"
                | "no-check-send-proxy"
                | "tfo"
                | "no-tfo"
                | "non-stick"
                | "stick"
                | "agent-check"
                | "no-agent-check" => {
                    take = 1;
                    match k {
                        "backup" => s.backup = true,
                        "no-backup" => s.backup = false,
                        "disabled" => s.disabled = true,
                        "enabled" => s.disabled = false,
                        "check" => s.check = true,
                        "no-check" => s.check = false,
                        "send-proxy" => s.send_proxy = true,
                        "no-send-proxy" => s.send_proxy = false,
                        "send-proxy-v2" => s.send_proxy_v2 = true,
                        "no-send-proxy-v2" => s.send_proxy_v2 = false,
                        "check-send-proxy" => s.check_send_proxy = true,
                        "no-check-send-proxy" => s.check_send_proxy = false,
                        "tfo" => s.tfo = true,
                        "no-tfo" => s.tfo = false,
                        "non-stick" => s.non_stick = true,
                        "stick" => s.non_stick = false,
                        "agent-check" => s.agent_check = true,
                        _ => s.agent_check = false,
                    }
                }
                "ssl" | "no-ssl" | "check-ssl" | "no-check-ssl" | "no-verifyhost" | "ssl-reuse" | "no-ssl-reuse" => {
                    take = 1;
                    match k {
                        "ssl" => s.ssl.enabled = true,
                        "no-ssl" => s.ssl.enabled = false,
                        "check-ssl" => s.ssl.check_ssl = true,
                        "no-check-ssl" => s.ssl.check_ssl = false,
                        "no-verifyhost" => s.ssl.verifyhost = None,
                        "ssl-reuse" => s.ssl.no_reuse = false,
                        _ => s.ssl.no_reuse = true,
                    }
                }
                "verify" | "ca-file" | "sni" | "verifyhost" | "alpn" | "ciphers" | "ciphersuites" | "crt"
                | "check-sni" => {
                    if v.is_empty() {
                        missing(self);
                        return;
                    }
                    match k {
                        "verify" => match v {
                            "none" => s.ssl.verify_required = Some(false),
                            "required" => s.ssl.verify_required = Some(true),
                            _ => {
                                self.diags.alert(format!(
                                    "[{file}:{line}] : {who} : 'verify' : unknown verify method '{v}', only 'none' and 'required' are supported."
                                ));
                                return;
                            }
                        },
                        "ca-file" => {
                            let path = crate::ssl::with_base(self.cfg.global.ssl.ca_base.as_deref(), v);
                            if let Err(e) = std::fs::metadata(&path) {
                                self.diags.alert(format!(
                                    "[{file}:{line}] : {who} : Couldn't open the ca-file '{path}' ({}).",
                                    crate::io_text(&e)
                                ));
                                return;
                            }
                            s.ssl.ca_file = Some(path)
                        }
                        "sni" => s.ssl.sni = Some(v.to_string()),
                        "check-sni" => s.ssl.check_sni = Some(v.to_string()),
                        "crt" => {
                            let path = crate::ssl::with_base(self.cfg.global.ssl.crt_base.as_deref(), v);
                            if let Err(e) = crate::ssl::precheck_cert(&path) {
                                self.diags.alert(format!("[{file}:{line}] : {who} : {e}"));
                                return;
                            }
                            s.ssl.crt = Some(path)
                        }
                        "verifyhost" => s.ssl.verifyhost = Some(v.to_string()),
                        "alpn" => {
                            s.ssl.alpn.clear();
                            for proto in v.split(',').filter(|p| !p.is_empty()) {
                                if proto == "h2" {
                                    self.diags.warning(format!(
                                        "[{file}:{line}] : {who} : 'alpn {v}' : 'h2' is not offered since rhaproxy does not speak HTTP/2 yet (rhaproxy)."
                                    ));
                                    continue;
                                }
                                s.ssl.alpn.push(proto.to_string());
                            }
                        }
                        "ciphers" => s.ssl.opts.ciphers = Some(v.to_string()),
                        _ => s.ssl.opts.ciphersuites = Some(v.to_string()),
                    }
                }
                "ssl-min-ver" | "ssl-max-ver" | "no-sslv3" | "no-tlsv10" | "no-tlsv11" | "no-tlsv12" | "no-tlsv13"
                | "no-tls-tickets" | "force-tlsv12" | "force-tlsv13" => {
                    let vv = w.get(i + 1).map(|x| x.as_str());
                    match crate::ssl::apply_opt(&mut s.ssl.opts, k, vv, &who) {
                        Ok(n) => take = n,
                        Err(e) => {
                            self.diags.alert(format!("[{file}:{line}] : {e}"));
                            return;
                        }
                    }
                }
                _ if keywords::SERVER_KWS.contains(&k) => {
                    self.diags.alert(format!(
                        "[{file}:{line}] : {who} : '{k}' is not supported yet (rhaproxy)."
                    ));
                    return;
                }
                _ => {
                    match keywords::best_match(k, keywords::SERVER_KWS.iter().copied()) {
                        Some(b) => self.diags.alert(format!(
                            "[{file}:{line}] : {who} : unknown keyword '{k}'; did you mean '{b}' maybe ?"
                        )),
                        None => self
                            .diags
                            .alert(format!("[{file}:{line}] : {who} : unknown keyword '{k}'.")),
                    }
                    return;
                }
            }
            i += take;
        }
        if is_default {
            let name = std::mem::take(&mut p.default_server.name);
            p.default_server = Server { name, ..s };
        } else {
            if !self.finish_server_ssl(&mut s.ssl, &who, loc) {
                return;
            }
            p.servers.push(s);
        }
    }
}

/// An inherited listener fd must be an open socket (HAProxy checks it at
/// parse time with getsockname).
fn check_socket_fd(fd: i32) -> Result<(), String> {
    // SAFETY: getsockname on an arbitrary fd number only reads kernel state
    // and writes into the local buffer sized by `len`.
    let rc = unsafe {
        let mut ss: libc::sockaddr_storage = std::mem::zeroed();
        let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        libc::getsockname(fd, &mut ss as *mut _ as *mut libc::sockaddr, &mut len)
    };
    if rc == 0 {
        return Ok(());
    }
    Err(crate::io_text(&std::io::Error::last_os_error()))
}

/// First `-f <file>` pattern file of an ACL that cannot be read.
fn missing_pattern_file(words: &[String]) -> Option<String> {
    let mut it = words.iter();
    while let Some(w) = it.next() {
        if w == "--" {
            break;
        }
        if w == "-f" {
            let f = it.next()?;
            if std::fs::File::open(f).is_err() {
                return Some(f.clone());
            }
        }
    }
    None
}

/// In a defaults section, server-argument sample fetches must name their
/// backend (`srv_conn(be/www)`): there is no current backend to default to.
fn srv_fetch_without_backend(words: &[String]) -> Option<&'static str> {
    const FETCHES: &[&str] = &[
        "srv_conn",
        "srv_conn_free",
        "srv_is_up",
        "srv_queue",
        "srv_sess_rate",
        "srv_iweight",
        "srv_uweight",
        "srv_weight",
    ];
    for w in words {
        for f in FETCHES {
            let pat = format!("{f}(");
            let mut rest = w.as_str();
            while let Some(pos) = rest.find(&pat) {
                let prev = if pos == 0 { b' ' } else { rest.as_bytes()[pos - 1] };
                let arg = &rest[pos + pat.len()..];
                let arg = &arg[..arg.find(')').unwrap_or(arg.len())];
                if !prev.is_ascii_alphanumeric() && prev != b'_' && !arg.contains('/') {
                    return Some(f);
                }
                rest = &rest[pos + pat.len()..];
            }
        }
    }
    None
}

/// Keywords HAProxy 2.6 still recognises only to say they were removed.
fn removed_keyword(kw: &str) -> Option<String> {
    let http_req = [
        "reqrep",
        "reqirep",
        "reqdel",
        "reqidel",
        "reqdeny",
        "reqideny",
        "reqpass",
        "reqipass",
        "reqallow",
        "reqiallow",
        "reqtarpit",
        "reqitarpit",
        "reqadd",
    ];
    let http_rsp = [
        "rsprep", "rspirep", "rspdel", "rspidel", "rspdeny", "rspideny", "rspadd",
    ];
    let alt = match kw {
        "reqrep" | "reqirep" => {
            "'http-request replace-path', 'http-request replace-uri' or 'http-request replace-header'"
        }
        "reqdel" | "reqidel" => "'http-request del-header'",
        "reqdeny" | "reqideny" => "'http-request deny'",
        "reqpass" | "reqipass" => "'http-request allow'",
        "reqallow" | "reqiallow" => "'http-request allow'",
        "reqtarpit" | "reqitarpit" => "'http-request tarpit'",
        "reqadd" => "'http-request add-header'",
        "rsprep" | "rspirep" => "'http-response replace-header'",
        "rspdel" | "rspidel" => "'http-response del-header'",
        "rspdeny" | "rspideny" => "'http-response deny'",
        "rspadd" => "'http-response add-header'",
        _ => "",
    };
    if http_req.contains(&kw) || http_rsp.contains(&kw) {
        return Some(format!(
            "The '{kw}' directive is not supported anymore since HAProxy 2.1. Use {alt} instead."
        ));
    }
    match kw {
        "grace" => Some(format!("the '{kw}' keyword is not supported any more since HAProxy version 2.5.")),
        "block" => Some("The 'block' directive is not supported anymore since HAProxy 2.1. Use 'http-request deny' which uses the exact same syntax.".into()),
        "redispatch" | "redisp" => Some(format!("keyword '{kw}' directive is not supported anymore since HAProxy 2.1. Use 'option redispatch'.")),
        _ => None,
    }
}

/// Server keywords HAProxy 2.6 refuses on `add server` (not flagged as
/// usable by dynamic servers in its keyword tables).
const NOT_DYNAMIC: &[&str] = &[
    "cookie",
    "init-addr",
    "log-proto",
    "max-reuse",
    "namespace",
    "non-stick",
    "redir",
    "resolve-net",
    "resolve-opts",
    "resolve-prefer",
    "resolvers",
    "stick",
    "socks4",
    "tcp-ut",
    "no-check",
    "no-agent-check",
    "no-check-send-proxy",
    "no-check-ssl",
    "no-send-proxy-v2-ssl",
    "no-send-proxy-v2-ssl-cn",
    "no-ssl",
    "ssl-reuse",
];

/// Parses the words of an `add server <be>/<name> <addr> [kw...]` command
/// (`words` = `["server", name, addr, kw...]`) as HAProxy 2.6 does for a
/// dynamic server: no `default-server` inheritance, keywords that dynamic
/// servers cannot use refused. Errors are HAProxy's texts without the
/// file/line prefix a configuration error would carry.
pub fn parse_dynamic_server(px: &Proxy, words: &[String]) -> Result<Server, String> {
    if let Some(k) = words.iter().skip(3).find(|w| NOT_DYNAMIC.contains(&w.as_str())) {
        return Err(format!("'{k}' option is not accepted for dynamic server"));
    }
    if let Some(host) = words.get(2).and_then(|a| dynamic_hostname(a)) {
        // Resolving would block the thread serving the CLI, and HAProxy
        // keeps such servers unresolved (FQDN only) until resolvers act.
        return Err(format!(
            "'{host}' : host names are not supported yet for dynamic servers (rhaproxy); use an IP address."
        ));
    }
    let mut p = px.clone();
    p.servers.clear();
    // 2.6's dynamic servers start from the bare server defaults, which
    // keep no idle connections and purge at once (its `show servers conn`
    // prints idle_lim 0, purge_delay 0 for them).
    p.default_server = Server {
        pool_max_conn: 0,
        pool_purge_delay_ms: 0,
        ..Server::defaults()
    };
    let mut parser = Parser::new(crate::parser::LoadOptions {
        ignore_unresolved: true,
        ..Default::default()
    });
    let loc = Loc {
        file: String::new(),
        line: 0,
    };
    parser.parse_server(&mut p, words, &loc, false, false);
    if let Some(d) = parser.diags.list.iter().find(|d| d.level == crate::Level::Alert) {
        let mut t = d.text.as_str();
        t = t.strip_prefix("parsing ").unwrap_or(t);
        t = t.strip_prefix("[:0] : ").unwrap_or(t);
        let who = format!(
            "'server {}/{}' : ",
            px.name,
            words.get(1).map(|s| s.as_str()).unwrap_or("")
        );
        t = t.strip_prefix(who.as_str()).unwrap_or(t);
        return Err(t.to_string());
    }
    p.servers
        .pop()
        .ok_or_else(|| "'server' expects <name> and <addr>[:<port>] as arguments.".to_string())
}

/// The host part of a server address when it is a name rather than an IP
/// literal (sockets paths and wildcard addresses are not names).
fn dynamic_hostname(a: &str) -> Option<String> {
    let a = a.strip_prefix("ipv4@").or_else(|| a.strip_prefix("ipv6@")).unwrap_or(a);
    if a.contains('@') || a.starts_with('/') {
        return None;
    }
    let host = match a.rfind(':') {
        // "::1" alone is an address; "x:port" carries a port.
        Some(_) if a.parse::<std::net::Ipv6Addr>().is_ok() => a,
        Some(i) => &a[..i],
        None => a,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() || host == "*" || host.parse::<std::net::IpAddr>().is_ok() {
        None
    } else {
        Some(host.to_string())
    }
}

/// A set of threads (or processes) as HAProxy's `parse_process_number`:
/// `all`, `odd`, `even`, `N` or `N-M` (`N-` runs to `max`), numbers from 1
/// to `max`. Bit N-1 stands for thread N.
pub(crate) fn parse_thread_set(arg: &str, max: u32) -> Result<u64, String> {
    let all = if max >= 64 { u64::MAX } else { (1u64 << max) - 1 };
    let m = match arg {
        "all" => u64::MAX,
        "odd" => u64::MAX / 3,
        "even" => (u64::MAX / 3) << 1,
        _ => {
            let mut dash = None;
            for (i, c) in arg.bytes().enumerate() {
                if c == b'-' && dash.is_none() {
                    dash = Some(i);
                } else if !c.is_ascii_digit() {
                    return Err(format!("'{arg}' is not a valid number/range."));
                }
            }
            // Leading digits only, like strtoul: "-3" reads as 0.
            let num = |s: &str| -> u64 {
                let d: String = s.chars().take_while(|c| c.is_ascii_digit()).collect();
                d.parse::<u64>().unwrap_or(u64::MAX)
            };
            let mut low = if arg.starts_with('-') { 0 } else { num(arg) };
            let mut high = match dash {
                Some(i) if i + 1 == arg.len() => u64::from(max),
                Some(i) => num(&arg[i + 1..]),
                None => low,
            };
            if high < low {
                std::mem::swap(&mut low, &mut high);
            }
            if low < 1 || low > u64::from(max) || high > u64::from(max) {
                return Err(format!(
                    "'{arg}' is not a valid number/range. It supports numbers from 1 to {max}."
                ));
            }
            (low..=high).fold(0u64, |m, t| m | 1u64 << (t - 1))
        }
    };
    Ok(m & all)
}

#[cfg(test)]
mod thread_set_tests {
    use super::parse_thread_set;

    #[test]
    fn sets_like_haproxy() {
        assert_eq!(parse_thread_set("all", 64), Ok(u64::MAX));
        assert_eq!(parse_thread_set("odd", 64).unwrap() & 0xf, 0b0101);
        assert_eq!(parse_thread_set("even", 64).unwrap() & 0xf, 0b1010);
        assert_eq!(parse_thread_set("2", 64), Ok(0b10));
        assert_eq!(parse_thread_set("2-3", 64), Ok(0b110));
        assert_eq!(parse_thread_set("3-2", 64), Ok(0b110));
        assert_eq!(parse_thread_set("63-", 64), Ok(0b11 << 62));
        assert!(parse_thread_set("0", 64)
            .unwrap_err()
            .ends_with("It supports numbers from 1 to 64."));
        assert_eq!(
            parse_thread_set("2,1", 64),
            Err("'2,1' is not a valid number/range.".into())
        );
        assert_eq!(
            parse_thread_set("x", 64),
            Err("'x' is not a valid number/range.".into())
        );
    }
}

#[cfg(test)]
mod experimental_tests {
    #[test]
    fn normalize_uri_needs_experimental_directives() {
        let rule =
            "defaults\n    mode http\nfrontend fe\n    bind :8080\n    http-request normalize-uri fragment-strip\n";
        let l = crate::load_str("exp.cfg", rule, &Default::default());
        assert!(l.fatal);
        assert!(
            l.diags.iter().any(|d| d.text.ends_with(
                "exp.cfg:5] : 'normalize-uri' action is experimental, must be allowed via a global 'expose-experimental-directives'"
            )),
            "{:?}",
            l.diags
        );
        let l = crate::load_str(
            "exp2.cfg",
            &format!("global\n    expose-experimental-directives\n{rule}"),
            &Default::default(),
        );
        assert!(!l.fatal, "{:?}", l.diags);
    }
}
