//! The `resolvers` section (HAProxy 2.6 resolvers.c's configuration side)
//! and what follows from it once every file is read: servers naming a
//! section that does not exist, HAProxy's implicit `default` section built
//! from /etc/resolv.conf, and the `init-addr` decision of each server with a
//! host name (resolved by libc, started in resolution maintenance, or given
//! its fallback address), with HAProxy's warnings and alerts.
//!
//! It owns parsing and these start-up decisions only; asking name servers
//! at run time belongs to the proxy crate (`resolvers.rs`, `dns.rs`).

use crate::model::{InitAddr, Loc, Nameserver, Resolvers, Server};
use crate::parser::{invalid_char, Parser};
use crate::units::{atol, parse_time_ms, TimeError};
use std::net::{IpAddr, SocketAddr};

/// HAProxy's limits for `accepted_payload_size`: a DNS header and the
/// largest UDP message.
const DNS_HEADER_SIZE: i64 = 12;
const DNS_MAX_UDP_MESSAGE: i64 = 65535;

/// Parses `ip[:port]` with an explicit port, or a host name resolved now
/// (HAProxy resolves name server names at parse time).
fn sockaddr(s: &str) -> Result<SocketAddr, String> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(a);
    }
    let (host, port) = match s.rfind(':') {
        Some(p) if !s[..p].contains(':') || s.starts_with('[') => (&s[..p], &s[p + 1..]),
        _ => return Err(format!("missing port specification in '{s}'")),
    };
    if port.is_empty() {
        return Err(format!("missing port specification in '{s}'"));
    }
    let Ok(port) = port.parse::<u16>() else {
        return Err(format!("invalid port '{port}'"));
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    use std::net::ToSocketAddrs;
    match (host, port).to_socket_addrs().ok().and_then(|mut i| i.next()) {
        Some(a) => Ok(a),
        None => Err(format!("invalid address: '{host}' in '{s}'")),
    }
}

/// The name servers listed in /etc/resolv.conf (port 53), named by their
/// address as HAProxy names them; warnings for lines it skips.
pub fn resolv_conf(text: &str, existing: &[Nameserver]) -> (Vec<Nameserver>, Vec<String>) {
    let mut out: Vec<Nameserver> = Vec::new();
    let mut warns = Vec::new();
    for (i, l) in text.lines().enumerate() {
        let n = i + 1;
        let Some(rest) = l.strip_prefix("nameserver") else {
            continue;
        };
        if !rest.is_empty() && !rest.starts_with([' ', '\t', '\r']) {
            continue;
        }
        let Some(addr) = rest.split_ascii_whitespace().next() else {
            warns.push(format!(
                "parsing [/etc/resolv.conf:{n}] : nameserver line is missing address."
            ));
            continue;
        };
        if let Some(d) = existing.iter().chain(out.iter()).find(|o| o.name == addr) {
            warns.push(format!("Parsing [/etc/resolv.conf:{n}] : generated name for /etc/resolv.conf nameserver '{addr}' conflicts with another nameserver (declared at {}:{}), it appears to be a duplicate and will be excluded.", d.loc.file, d.loc.line));
            continue;
        }
        let Ok(ip) = addr.parse::<IpAddr>() else {
            warns.push(format!("parsing [/etc/resolv.conf:{n}] : address '{addr}' could not be recognized, nameserver will be excluded."));
            continue;
        };
        out.push(Nameserver {
            name: addr.to_string(),
            addr: SocketAddr::new(ip, 53),
            tcp: false,
            loc: Loc {
                file: "/etc/resolv.conf".into(),
                line: n,
            },
        });
    }
    (out, warns)
}

impl Parser {
    /// A `resolvers <name>` header. Returns false when HAProxy aborts.
    pub(crate) fn resolvers_header(&mut self, w: &[String], loc: Loc) -> bool {
        let (file, line) = (loc.file.clone(), loc.line);
        let Some(name) = w.get(1).filter(|n| !n.is_empty()) else {
            self.diags
                .alert(format!("parsing [{file}:{line}] : missing name for resolvers section."));
            self.diags.abort = true;
            return false;
        };
        if let Some(c) = invalid_char(name) {
            self.diags.alert(format!(
                "parsing [{file}:{line}] : character '{c}' is not permitted in 'resolvers' name '{name}'."
            ));
            self.diags.abort = true;
            return false;
        }
        if let Some(prev) = self.cfg.resolvers.iter().find(|r| &r.name == name) {
            // HAProxy then also fails to create the section and reports
            // it as an allocation failure.
            self.diags.alert(format!(
                "Parsing [{file}:{line}]: resolvers '{name}' has same name as another resolvers (declared at {}:{}).",
                prev.loc.file, prev.loc.line
            ));
            self.diags.alert(format!("parsing [{file}:{line}] : out of memory."));
            self.diags.abort = true;
            return false;
        }
        self.cfg.resolvers.push(Resolvers::new(name, loc));
        true
    }

    /// One line inside a `resolvers` section.
    pub(crate) fn parse_resolvers(&mut self, i: usize, w: &[String], loc: Loc) {
        let (file, line) = (loc.file.clone(), loc.line);
        let arg = |n: usize| w.get(n).map(|s| s.as_str()).unwrap_or("");
        let kw = arg(0);
        match kw {
            "nameserver" => {
                if arg(2).is_empty() {
                    self.diags.alert(format!(
                        "parsing [{file}:{line}] : 'nameserver' expects <name> and <addr>[:<port>] as arguments."
                    ));
                    return;
                }
                let name = arg(1);
                if let Some(c) = invalid_char(name) {
                    self.diags.alert(format!(
                        "parsing [{file}:{line}] : character '{c}' is not permitted in server name '{name}'."
                    ));
                    return;
                }
                if let Some(d) = self.cfg.resolvers[i].nameservers.iter().find(|n| n.name == name) {
                    self.diags.alert(format!(
                        "Parsing [{file}:{line}]: nameserver '{name}' has same name as another nameserver (declared at {}:{}).",
                        d.loc.file, d.loc.line
                    ));
                }
                let raw = arg(2);
                let (tcp, rest) = if let Some(r) = ["tcp@", "tcp4@", "tcp6@"].iter().find_map(|p| raw.strip_prefix(p)) {
                    (true, r)
                } else if let Some(r) = ["udp@", "udp4@", "udp6@"].iter().find_map(|p| raw.strip_prefix(p)) {
                    (false, r)
                } else if raw.contains('@') {
                    self.diags.alert(format!(
                        "parsing [{file}:{line}] : 'nameserver {name}' : only udp@ and tcp@ addresses are supported yet (rhaproxy)."
                    ));
                    return;
                } else {
                    (false, raw)
                };
                // `$VAR`/`${VAR}` expand as in any address (an unset one
                // leaves ":53", the wildcard, as HAProxy reads it).
                let expanded = match self.addr(rest, crate::addr::AddrUse::Stats, true) {
                    Ok(crate::addr::Addr::Inet {
                        ip,
                        ports: crate::addr::Ports::Range(p, _),
                        host: None,
                        ..
                    }) => Ok(SocketAddr::new(ip, p)),
                    _ => sockaddr(rest),
                };
                match expanded {
                    Ok(addr) => self.cfg.resolvers[i].nameservers.push(Nameserver {
                        name: name.to_string(),
                        addr,
                        tcp,
                        loc,
                    }),
                    Err(e) => self
                        .diags
                        .alert(format!("parsing [{file}:{line}] : 'nameserver {name}' : {e}")),
                }
            }
            "parse-resolv-conf" => {
                let text = match std::fs::read_to_string("/etc/resolv.conf") {
                    Ok(t) => t,
                    Err(_) => {
                        self.diags.alert(format!(
                            "parsing [{file}:{line}]: failed to open /etc/resolv.conf."
                        ));
                        return;
                    }
                };
                let (ns, warns) = resolv_conf(&text, &self.cfg.resolvers[i].nameservers);
                if !warns.is_empty() {
                    self.diags
                        .warning(format!("parsing [{file}:{line}]: {}", warns.join("\n        ")));
                }
                self.cfg.resolvers[i].nameservers.extend(ns);
            }
            "hold" => {
                if arg(2).is_empty() {
                    self.diags.alert(format!(
                        "parsing [{file}:{line}] : 'hold' expects an <event> and a <time> as arguments."
                    ));
                    self.diags
                        .alert("<event> can be either 'valid', 'nx', 'refused', 'timeout', or 'other'");
                    return;
                }
                let t = match parse_time_ms(arg(2)) {
                    Ok(t) => t,
                    Err(e) => {
                        self.diags.alert(self.resolv_time_err(e, arg(1), "hold", &loc));
                        return;
                    }
                };
                let r = &mut self.cfg.resolvers[i];
                match arg(1) {
                    "nx" => r.hold_nx = t,
                    "other" => r.hold_other = t,
                    "refused" => r.hold_refused = t,
                    "timeout" => r.hold_timeout = t,
                    "valid" => r.hold_valid = t,
                    "obsolete" => r.hold_obsolete = t,
                    ev => self.diags.alert(format!(
                        "parsing [{file}:{line}] : 'hold' unknown <event>: '{ev}', expects either 'nx', 'timeout', 'valid', 'obsolete' or 'other'."
                    )),
                }
            }
            "accepted_payload_size" => {
                if arg(1).is_empty() {
                    self.diags.alert(format!(
                        "parsing [{file}:{line}] : 'accepted_payload_size' expects <nb> as argument."
                    ));
                    return;
                }
                let n = atol(arg(1));
                if !(DNS_HEADER_SIZE..=DNS_MAX_UDP_MESSAGE).contains(&n) {
                    self.diags.alert(format!(
                        "parsing [{file}:{line}] : 'accepted_payload_size' must be between {DNS_HEADER_SIZE} and {DNS_MAX_UDP_MESSAGE} inclusive (was {}).",
                        arg(1)
                    ));
                    return;
                }
                self.cfg.resolvers[i].accepted_payload_size = n as u32;
            }
            "resolution_pool_size" => self.diags.alert(format!(
                "parsing [{file}:{line}] : 'resolution_pool_size' directive is not supported anymore (it never appeared in a stable release)."
            )),
            "resolve_retries" => {
                if arg(1).is_empty() {
                    self.diags.alert(format!(
                        "parsing [{file}:{line}] : 'resolve_retries' expects <nb> as argument."
                    ));
                    return;
                }
                self.cfg.resolvers[i].resolve_retries = atol(arg(1)).max(0) as u32;
            }
            "timeout" => {
                let what = arg(1);
                if what.is_empty() {
                    self.diags.alert(format!(
                        "parsing [{file}:{line}] : 'timeout' expects 'retry' or 'resolve' and <time> as arguments."
                    ));
                    return;
                }
                if what != "retry" && what != "resolve" {
                    self.diags.alert(format!(
                        "parsing [{file}:{line}] : 'timeout' expects 'retry' or 'resolve' and <time> as arguments got '{what}'."
                    ));
                    return;
                }
                if arg(2).is_empty() {
                    self.diags.alert(format!(
                        "parsing [{file}:{line}] : 'timeout {what}' expects <time> as argument."
                    ));
                    return;
                }
                let t = match parse_time_ms(arg(2)) {
                    Ok(t) => t,
                    Err(e) => {
                        let kw = format!("timeout {what}");
                        self.diags.alert(self.resolv_time_err(e, arg(2), &kw, &loc));
                        return;
                    }
                };
                if what == "retry" {
                    self.cfg.resolvers[i].timeout_retry = t;
                } else {
                    self.cfg.resolvers[i].timeout_resolve = t;
                }
            }
            _ => self.diags.alert(format!(
                "parsing [{file}:{line}] : unknown keyword '{kw}' in 'resolvers' section"
            )),
        }
    }

    fn resolv_time_err(&self, e: TimeError, arg: &str, kw: &str, loc: &Loc) -> String {
        let (file, line) = (&loc.file, loc.line);
        match e {
            TimeError::Overflow => format!("parsing [{file}:{line}]: timer overflow in argument <{arg}> to <{kw}>, maximum value is 2147483647 ms (~24.8 days)."),
            TimeError::Underflow => format!("parsing [{file}:{line}]: timer underflow in argument <{arg}> to <{kw}>, minimum non-null value is 1 ms."),
            TimeError::BadChar(c) => format!("parsing [{file}:{line}]: unexpected character '{c}' in argument to <{kw}>."),
            TimeError::Empty => format!("parsing [{file}:{line}]: unexpected character '' in argument to <{kw}>."),
        }
    }
}

/// Parses an `init-addr` value; the error is HAProxy's text after
/// "'init-addr' : ".
pub fn parse_init_addr(v: &str) -> Result<Vec<InitAddr>, String> {
    let mut out: Vec<InitAddr> = Vec::new();
    for m in v.split(',').filter(|m| !m.is_empty()) {
        let meth = match m {
            "libc" => InitAddr::Libc,
            "last" => InitAddr::Last,
            "none" => InitAddr::None,
            _ => match m.parse::<IpAddr>() {
                Ok(ip) => {
                    if out.iter().any(|x| matches!(x, InitAddr::Ip(_))) {
                        return Err(format!("initial address already specified, cannot add '{m}'."));
                    }
                    InitAddr::Ip(ip)
                }
                Err(_) => {
                    return Err(format!(
                        "unknown init-addr method '{m}', supported methods are 'libc', 'last', 'none'."
                    ))
                }
            },
        };
        let same = |x: &InitAddr| std::mem::discriminant(x) == std::mem::discriminant(&meth);
        if out.iter().any(same) {
            return Err(format!("too many init-addr methods when trying to add '{m}'"));
        }
        out.push(meth);
    }
    Ok(out)
}

/// Parses a `resolve-net` list of networks.
pub fn parse_resolve_net(v: &str) -> Result<Vec<(IpAddr, u8)>, String> {
    let mut out = Vec::new();
    for n in v.split(',').filter(|n| !n.is_empty()) {
        let (a, len) = n.split_once('/').unwrap_or((n, ""));
        let Ok(ip) = a.parse::<IpAddr>() else {
            return Err(format!("'resolve-net' invalid network '{n}'."));
        };
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let len = if len.is_empty() {
            max
        } else if let Ok(l) = len
            .parse::<u8>()
            .map_err(|_| ())
            .and_then(|l| if l <= max { Ok(l) } else { Err(()) })
        {
            l
        } else if let Ok(m) =
            len.parse::<std::net::Ipv4Addr>()
                .map_err(|_| ())
                .and_then(|m| if ip.is_ipv4() { Ok(m) } else { Err(()) })
        {
            u32::from(m).leading_ones() as u8
        } else {
            return Err(format!("'resolve-net' invalid network '{n}'."));
        };
        if out.len() >= 5 {
            return Err("'resolve-net' exceed 5 networks.".to_string());
        }
        out.push((ip, len));
    }
    Ok(out)
}

/// Whether a host name fits DNS's label format (HAProxy's
/// `resolv_str_to_dn_label()`): no empty label (a final dot aside), labels
/// of at most 63 bytes, 255 in all.
pub fn valid_dns_name(h: &str) -> bool {
    let h = h.strip_suffix('.').unwrap_or(h);
    !h.is_empty() && h.len() < 255 && h.split('.').all(|l| !l.is_empty() && l.len() <= 63)
}

/// The host name a server resolves (None for literal addresses).
pub fn server_hostname(s: &Server) -> Option<&str> {
    match &s.addr {
        Some(crate::addr::Addr::Inet { host: Some(h), .. }) => Some(h),
        _ => None,
    }
}

/// Post-parse: servers naming an unknown section (HAProxy's "dns runtime
/// resolver" post-parser), after adding the implicit `default` section.
pub(crate) fn check_servers(parser: &mut Parser) {
    if !parser.cfg.resolvers.iter().any(|r| r.name == "default") {
        let mut r = Resolvers::new(
            "default",
            Loc {
                file: "<internal>".into(),
                line: 0,
            },
        );
        if let Ok(t) = std::fs::read_to_string("/etc/resolv.conf") {
            r.nameservers = resolv_conf(&t, &[]).0;
        }
        parser.cfg.resolvers.push(r);
    }
    let cfg = &parser.cfg;
    let d = &mut parser.diags;
    for p in cfg.proxies.iter().filter(|p| p.cap.backend && !p.disabled) {
        let kind = match (p.cap.frontend, p.cap.backend) {
            (true, true) => "proxy",
            _ => "backend",
        };
        for s in &p.servers {
            if let Some(r) = s.resolvers.as_deref() {
                if !cfg.resolvers.iter().any(|x| x.name == r) {
                    d.alert(format!(
                        "{kind} '{}', server '{}': unable to find required resolvers '{r}'",
                        p.name, s.name
                    ));
                }
            }
        }
    }
}

/// HAProxy's `srv_init_addr()`: for every server of an enabled backend
/// with a host name (or an SRV record), tries the `init-addr` methods in
/// order. Returns the messages as (is_alert, text) in server order; sets
/// `init_rmaint` or the fallback address on the servers.
pub(crate) fn init_addrs(cfg: &mut crate::model::Config, ignore_unresolved: bool) -> Vec<(bool, String)> {
    let mut out = Vec::new();
    for p in cfg.proxies.iter_mut().filter(|p| p.cap.backend && !p.disabled) {
        let pname = p.name.clone();
        for s in p.servers.iter_mut() {
            let name = match (&s.srv_record, server_hostname(s)) {
                (Some(r), _) => r.clone(),
                (None, Some(h)) => h.to_string(),
                _ => continue,
            };
            let unresolved = matches!(&s.addr, Some(crate::addr::Addr::Inet { unresolved: true, .. }));
            let mut methods = s.init_methods.clone();
            if methods.is_empty() {
                methods = vec![InitAddr::Last, InitAddr::Libc];
                if s.resolvers.is_some() {
                    methods.push(InitAddr::None);
                }
            }
            if ignore_unresolved && !methods.contains(&InitAddr::None) {
                methods.push(InitAddr::None);
            }
            let ctx = format!("[{}:{}] : 'server {pname}/{}' : ", s.loc.file, s.loc.line, s.name);
            let mut failed = false;
            let mut done = false;
            for m in methods {
                match m {
                    // No server-state file is read: nothing to reuse.
                    InitAddr::Last => continue,
                    InitAddr::Libc => {
                        if s.srv_record.is_some() {
                            continue;
                        }
                        if !unresolved {
                            done = true;
                            break;
                        }
                        failed = true;
                    }
                    InitAddr::None => {
                        s.init_rmaint = true;
                        set_ip(s, None);
                        if failed {
                            out.push((
                                false,
                                format!("{ctx}could not resolve address '{name}', disabling server."),
                            ));
                        }
                        done = true;
                        break;
                    }
                    InitAddr::Ip(ip) => {
                        set_ip(s, Some(ip));
                        if failed {
                            out.push((
                                false,
                                format!("{ctx}could not resolve address '{name}', falling back to configured address."),
                            ));
                        }
                        done = true;
                        break;
                    }
                }
            }
            if !done {
                if failed {
                    out.push((true, format!("{ctx}could not resolve address '{name}'.")));
                } else {
                    out.push((true, format!("{ctx}no method found to resolve address '{name}'.")));
                }
            }
        }
    }
    out
}

/// Sets a server's address to `ip` (None: unset, 0.0.0.0 with the name
/// kept) keeping its port and host name.
fn set_ip(s: &mut Server, ip: Option<IpAddr>) {
    if let Some(crate::addr::Addr::Inet { ip: a, unresolved, .. }) = &mut s.addr {
        match ip {
            Some(ip) => {
                *a = ip;
                *unresolved = false;
            }
            None => {
                *a = IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED);
                *unresolved = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_addr_methods() {
        assert_eq!(
            parse_init_addr("last,libc,none").unwrap(),
            vec![InitAddr::Last, InitAddr::Libc, InitAddr::None]
        );
        assert_eq!(
            parse_init_addr("10.0.0.1").unwrap(),
            vec![InitAddr::Ip("10.0.0.1".parse().unwrap())]
        );
        assert!(parse_init_addr("libc,libc").unwrap_err().starts_with("too many"));
        assert!(parse_init_addr("foo")
            .unwrap_err()
            .contains("unknown init-addr method 'foo'"));
    }

    #[test]
    fn resolve_net_lists() {
        assert_eq!(
            parse_resolve_net("10.0.0.0/8,fe80::/10").unwrap(),
            vec![("10.0.0.0".parse().unwrap(), 8), ("fe80::".parse().unwrap(), 10)]
        );
        assert_eq!(parse_resolve_net("10.0.0.0/255.255.0.0").unwrap()[0].1, 16);
        assert!(parse_resolve_net("1.2.3.4/40").is_err());
    }

    #[test]
    fn resolv_conf_names_servers_by_address() {
        let (ns, w) = resolv_conf(
            "# x\nnameserver 10.0.0.1\nnameserver\nnameserver bogus\nsearch x\nnameserver 10.0.0.1\n",
            &[],
        );
        assert_eq!(ns.len(), 1);
        assert_eq!(ns[0].name, "10.0.0.1");
        assert_eq!(ns[0].addr.port(), 53);
        assert_eq!(ns[0].loc.line, 2);
        assert_eq!(w.len(), 3, "{w:?}");
    }

    fn cfg_with(servers: Vec<Server>) -> crate::model::Config {
        let mut p = crate::model::Proxy {
            name: "be".into(),
            servers,
            ..Default::default()
        };
        p.cap.backend = true;
        crate::model::Config {
            proxies: vec![p],
            ..Default::default()
        }
    }

    fn unresolved(name: &str, methods: &str, resolvers: bool) -> Server {
        Server {
            name: name.into(),
            addr: Some(crate::addr::Addr::Inet {
                ip: "0.0.0.0".parse().unwrap(),
                ports: crate::addr::Ports::Range(80, 80),
                host: Some(format!("{name}.invalid")),
                unresolved: true,
            }),
            init_methods: parse_init_addr(methods).unwrap(),
            resolvers: resolvers.then(|| "dns".to_string()),
            loc: Loc {
                file: "f.cfg".into(),
                line: 3,
            },
            ..Server::defaults()
        }
    }

    #[test]
    fn init_addr_decisions_as_srv_init_addr() {
        let mut c = cfg_with(vec![
            unresolved("a", "", true),
            unresolved("b", "libc,10.0.0.1", false),
            unresolved("c", "none", false),
            unresolved("d", "", false),
            unresolved("e", "last", false),
        ]);
        let msgs = init_addrs(&mut c, false);
        let s = &c.proxies[0].servers;
        assert!(s[0].init_rmaint && !s[1].init_rmaint && s[2].init_rmaint && !s[3].init_rmaint);
        assert!(
            matches!(&s[1].addr, Some(crate::addr::Addr::Inet { ip, unresolved: false, .. }) if ip.to_string() == "10.0.0.1")
        );
        assert_eq!(
            msgs,
            vec![
                (false, "[f.cfg:3] : 'server be/a' : could not resolve address 'a.invalid', disabling server.".to_string()),
                (false, "[f.cfg:3] : 'server be/b' : could not resolve address 'b.invalid', falling back to configured address.".to_string()),
                (true, "[f.cfg:3] : 'server be/d' : could not resolve address 'd.invalid'.".to_string()),
                (true, "[f.cfg:3] : 'server be/e' : no method found to resolve address 'e.invalid'.".to_string()),
            ]
        );
        // -dr: every failure ends in maintenance with a warning.
        let mut c = cfg_with(vec![unresolved("d", "", false)]);
        let msgs = init_addrs(&mut c, true);
        assert!(c.proxies[0].servers[0].init_rmaint);
        assert_eq!(msgs.len(), 1);
        assert!(!msgs[0].0 && msgs[0].1.ends_with("disabling server."));
    }

    #[test]
    fn dns_names() {
        assert!(valid_dns_name("a.b.c") && valid_dns_name("a.b."));
        assert!(!valid_dns_name(".internal") && !valid_dns_name("a..b") && !valid_dns_name(&"x".repeat(64)));
    }

    #[test]
    fn name_server_addresses() {
        assert_eq!(sockaddr("127.0.0.1:53").unwrap().port(), 53);
        assert!(sockaddr("127.0.0.1").unwrap_err().contains("missing port"));
        assert_eq!(sockaddr("[::1]:5353").unwrap().port(), 5353);
    }
}
