//! Socket address strings as HAProxy writes them (`bind`, `server`, `stats
//! socket`, `dispatch`, `log`): `:port`, `ip:port`, `[v6]:port`, `*:port`,
//! `ipv4@`/`ipv6@`, port ranges, `unix@path` and `/path`, `abns@name`,
//! `fd@N`. Owns syntax and name resolution only; sockets are opened by
//! `proxy`, never here.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, ToSocketAddrs};

/// Ports attached to an IP address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ports {
    /// No port given (server: use the client's destination port).
    None,
    /// One port, or a `lo-hi` range (bind only); `lo == hi` for one port.
    Range(u16, u16),
    /// `+N`/`-N` (server only): offset from the client's destination port.
    Offset(i32),
}

/// A parsed address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Addr {
    /// IPv4/IPv6. `host` keeps the name when it was resolved from a name
    /// (None for literals and wildcards). `unresolved` is set when the
    /// name did not resolve and resolution failures are tolerated (-dr).
    Inet {
        ip: IpAddr,
        ports: Ports,
        host: Option<String>,
        unresolved: bool,
    },
    /// Unix stream socket path.
    Unix(String),
    /// Linux abstract namespace socket name.
    Abns(String),
    /// Already-open file descriptor inherited from the parent.
    Fd(i32),
}

/// What the address is for: changes what is accepted, like HAProxy's flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddrUse {
    /// bind: port required (except unix/abns/fd), ranges allowed.
    Bind,
    /// server/dispatch: port optional, offsets allowed, ranges refused.
    Server,
    /// stats socket: like bind but a single port.
    Stats,
}

/// Why an address was refused; `Display` gives HAProxy's text (without the
/// leading "'keyword' : ").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddrError {
    InvalidAddress {
        host: String,
        whole: String,
    },
    InvalidPort(String),
    /// A port starting with an unexpected character: (char, port, whole).
    BadPortChar(char, String, String),
    MissingPort(String),
    PortRange(String),
    PortOffset(String),
    BadFd(String),
    Unsupported(String),
    /// The address was only environment variables, all unset.
    EmptyAfterEnv(String),
}

impl std::fmt::Display for AddrError {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            AddrError::InvalidAddress { host, whole } => {
                write!(f, "invalid address: '{host}' in '{whole}'")
            }
            AddrError::InvalidPort(p) => write!(f, "invalid port '{p}'"),
            AddrError::BadPortChar(c, p, s) => {
                write!(f, "invalid character '{c}' in port number '{p}' in '{s}'")
            }
            AddrError::MissingPort(a) => write!(f, "missing port specification in '{a}'"),
            AddrError::PortRange(a) => write!(f, "port range not allowed here: '{a}'"),
            AddrError::PortOffset(a) => write!(f, "port offset not allowed here: '{a}'"),
            AddrError::BadFd(a) => {
                writeln!(f, "file descriptor '{a}' is not a valid integer in '{a}'")
            }
            AddrError::Unsupported(a) => write!(f, "address family of '{a}' is not supported yet"),
            AddrError::EmptyAfterEnv(a) => {
                write!(f, "'{a}' resolves to an empty address (environment variable missing?)")
            }
        }
    }
}

/// Server ports are read like C strtol: leading digits, rest ignored
/// (HAProxy accepts `host:8080/path`).
fn parse_server_port(p: &str) -> Result<u16, AddrError> {
    let digits: String = p.chars().take_while(|c| c.is_ascii_digit()).collect();
    match digits.parse::<u32>() {
        Ok(v) if (1..=65535).contains(&v) => Ok(v as u16),
        _ => Err(AddrError::InvalidPort(p.to_string())),
    }
}

fn parse_port(p: &str) -> Result<u16, AddrError> {
    match p.parse::<u32>() {
        Ok(v) if (1..=65535).contains(&v) && p.bytes().all(|c| c.is_ascii_digit()) => Ok(v as u16),
        _ => Err(AddrError::InvalidPort(p.to_string())),
    }
}

/// Resolves a host name (IPv4 preferred unless `v6`). `None` when it does
/// not resolve.
pub fn resolve(host: &str, want: Option<bool>) -> Option<IpAddr> {
    let addrs: Vec<IpAddr> = (host, 0u16).to_socket_addrs().ok()?.map(|a| a.ip()).collect();
    match want {
        Some(true) => addrs.iter().find(|a| a.is_ipv6()).copied(),
        Some(false) => addrs.iter().find(|a| a.is_ipv4()).copied(),
        None => addrs.iter().find(|a| a.is_ipv4()).or(addrs.first()).copied(),
    }
}

/// Expands `$NAME` and `${NAME}` in an address string. HAProxy does this a
/// second time for every address (after the line tokenizer, which only
/// expands inside double quotes), so `bind :${PORT}` works unquoted. Names
/// are `[A-Za-z0-9_]*`; an unset variable expands to nothing; there are no
/// `${NAME-default}` forms here (the brace is only closed when it follows a
/// name), exactly like the address parser's expansion.
pub fn env_expand<'a>(s: &'a str, env: &dyn Fn(&str) -> Option<String>) -> std::borrow::Cow<'a, str> {
    if !s.contains('$') {
        return std::borrow::Cow::Borrowed(s);
    }
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'$' {
            let next = s[i..].find('$').map_or(b.len(), |k| i + k);
            out.push_str(&s[i..next]);
            i = next;
            continue;
        }
        let mut beg = i + 1;
        let braced = b.get(beg) == Some(&b'{');
        if braced {
            beg += 1;
        }
        let mut end = beg;
        while end < b.len() && (b[end].is_ascii_alphanumeric() || b[end] == b'_') {
            end += 1;
        }
        if let Some(v) = env(&s[beg..end]) {
            out.push_str(&v);
        }
        i = if braced && b.get(end) == Some(&b'}') {
            end + 1
        } else {
            end
        };
    }
    std::borrow::Cow::Owned(out)
}

/// Parses `s` after expanding environment variables from the process
/// environment (see [`parse_addr_env`]).
pub fn parse_addr(s: &str, usage: AddrUse, allow_unresolved: bool) -> Result<Addr, AddrError> {
    parse_addr_env(s, usage, allow_unresolved, &crate::tokenizer::process_env)
}

/// Parses `s`. `allow_unresolved` (the `-dr` flag) turns resolution
/// failures of server names into an `unresolved` address instead of an error.
/// `env` resolves `$NAME` / `${NAME}` first (the configuration's view of the
/// environment, which `setenv` & co. change while parsing).
pub fn parse_addr_env(
    s: &str,
    usage: AddrUse,
    allow_unresolved: bool,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Addr, AddrError> {
    // Messages quote the address as written, parsing uses the expansion.
    let expanded = env_expand(s, env);
    if expanded.is_empty() {
        return Err(AddrError::EmptyAfterEnv(s.to_string()));
    }
    let mut rest: &str = &expanded;
    let mut family: Option<bool> = None; // Some(true) = v6
    if let Some(p) = rest.strip_prefix("unix@") {
        return Ok(Addr::Unix(p.to_string()));
    }
    if let Some(p) = rest.strip_prefix("abns@") {
        return Ok(Addr::Abns(p.to_string()));
    }
    if let Some(p) = rest.strip_prefix("fd@") {
        return match p.parse::<i32>() {
            Ok(n) if n >= 0 => Ok(Addr::Fd(n)),
            _ => Err(AddrError::BadFd(p.to_string())),
        };
    }
    for pfx in [
        "sockpair@",
        "udp@",
        "udp4@",
        "udp6@",
        "quic4@",
        "quic6@",
        "tcp@",
        "tcp4@",
        "tcp6@",
        "uxst@",
        "uxdg@",
    ] {
        if rest.starts_with(pfx) {
            return Err(AddrError::Unsupported(s.to_string()));
        }
    }
    if let Some(p) = rest.strip_prefix("ipv4@") {
        family = Some(false);
        rest = p;
    } else if let Some(p) = rest.strip_prefix("ipv6@") {
        family = Some(true);
        rest = p;
    } else if rest.starts_with('/') {
        return Ok(Addr::Unix(rest.to_string()));
    }
    // host part and port part: brackets for IPv6, otherwise the last colon
    let (host, port): (&str, Option<&str>) = if let Some(r) = rest.strip_prefix('[') {
        match r.find(']') {
            Some(e) => {
                let after = &r[e + 1..];
                (&r[..e], after.strip_prefix(':'))
            }
            None => {
                return Err(AddrError::InvalidAddress {
                    host: rest.to_string(),
                    whole: s.to_string(),
                })
            }
        }
    } else {
        match rest.rfind(':') {
            Some(c) => (&rest[..c], Some(&rest[c + 1..])),
            None => (rest, None),
        }
    };
    let ports = match port {
        None | Some("") => {
            if usage != AddrUse::Server {
                return Err(AddrError::MissingPort(s.to_string()));
            }
            Ports::None
        }
        Some(p) if !p.starts_with(|c: char| c.is_ascii_digit() || c == '+' || c == '-') => {
            return Err(AddrError::BadPortChar(
                p.chars().next().unwrap_or(' '),
                p.to_string(),
                s.to_string(),
            ));
        }
        Some(p) if p.starts_with('+') || p.starts_with('-') => {
            if usage != AddrUse::Server {
                return Err(AddrError::PortOffset(s.to_string()));
            }
            match p[1..].parse::<i32>() {
                Ok(v) if p[1..].bytes().all(|c| c.is_ascii_digit()) => {
                    Ports::Offset(if p.starts_with('-') { -v } else { v })
                }
                _ => return Err(AddrError::InvalidPort(p.to_string())),
            }
        }
        Some(p) => match p.split_once('-') {
            Some((a, b)) => {
                if usage != AddrUse::Bind {
                    return Err(AddrError::PortRange(s.to_string()));
                }
                let (lo, hi) = (parse_port(a)?, parse_port(b)?);
                if hi < lo {
                    return Err(AddrError::InvalidPort(p.to_string()));
                }
                Ports::Range(lo, hi)
            }
            None if usage == AddrUse::Server => {
                let v = parse_server_port(p)?;
                Ports::Range(v, v)
            }
            None => {
                let v = parse_port(p)?;
                Ports::Range(v, v)
            }
        },
    };
    let any = |v6: bool| {
        if v6 {
            IpAddr::V6(Ipv6Addr::UNSPECIFIED)
        } else {
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        }
    };
    if host.is_empty() || host == "*" {
        return Ok(Addr::Inet {
            ip: any(family == Some(true)),
            ports,
            host: None,
            unresolved: false,
        });
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(Addr::Inet {
            ip,
            ports,
            host: None,
            unresolved: false,
        });
    }
    // inet_aton accepts shortened dotted forms ("1.2.3" = 1.2.0.3)
    if let Some(ip) = inet_aton(host) {
        return Ok(Addr::Inet {
            ip: IpAddr::V4(ip),
            ports,
            host: None,
            unresolved: false,
        });
    }
    match resolve(host, family) {
        Some(ip) => Ok(Addr::Inet {
            ip,
            ports,
            host: Some(host.to_string()),
            unresolved: false,
        }),
        None if allow_unresolved && usage == AddrUse::Server => Ok(Addr::Inet {
            ip: any(false),
            ports,
            host: Some(host.to_string()),
            unresolved: true,
        }),
        None => Err(AddrError::InvalidAddress {
            host: host.to_string(),
            whole: s.to_string(),
        }),
    }
}

/// BSD inet_aton's short forms: a, a.b, a.b.c, a.b.c.d (decimal only).
fn inet_aton(s: &str) -> Option<Ipv4Addr> {
    let parts: Vec<&str> = s.split('.').collect();
    if parts.is_empty()
        || parts.len() > 4
        || parts
            .iter()
            .any(|p| p.is_empty() || !p.bytes().all(|c| c.is_ascii_digit()))
    {
        return None;
    }
    let nums: Vec<u64> = parts.iter().map(|p| p.parse().ok()).collect::<Option<_>>()?;
    let (last, head) = nums.split_last()?;
    if head.iter().any(|&n| n > 255) {
        return None;
    }
    let tail_bits = 8 * (4 - head.len() as u32);
    if *last >= 1u64 << tail_bits {
        return None;
    }
    let mut v: u32 = 0;
    for (i, n) in head.iter().enumerate() {
        v |= (*n as u32) << (24 - 8 * i);
    }
    Some(Ipv4Addr::from(v | *last as u32))
}

impl std::fmt::Display for Addr {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            Addr::Inet { ip, ports, .. } => {
                match ip {
                    IpAddr::V4(a) => write!(f, "{a}")?,
                    IpAddr::V6(a) => write!(f, "[{a}]")?,
                }
                match ports {
                    Ports::None => Ok(()),
                    Ports::Range(a, b) if a == b => write!(f, ":{a}"),
                    Ports::Range(a, b) => write!(f, ":{a}-{b}"),
                    Ports::Offset(o) => write!(f, ":{o:+}"),
                }
            }
            Addr::Unix(p) => write!(f, "unix@{p}"),
            Addr::Abns(p) => write!(f, "abns@{p}"),
            Addr::Fd(n) => write!(f, "fd@{n}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    fn b(s: &str) -> Result<Addr, AddrError> {
        parse_addr(s, AddrUse::Bind, false)
    }
    fn sv(s: &str) -> Result<Addr, AddrError> {
        parse_addr(s, AddrUse::Server, false)
    }

    #[test]
    fn inet_forms() {
        assert_eq!(b(":80").unwrap().to_string(), "0.0.0.0:80");
        assert_eq!(b("*:80").unwrap().to_string(), "0.0.0.0:80");
        assert_eq!(b("127.0.0.1:8080").unwrap().to_string(), "127.0.0.1:8080");
        assert_eq!(b("[::1]:443").unwrap().to_string(), "[::1]:443");
        assert_eq!(b("ipv6@:80").unwrap().to_string(), "[::]:80");
        assert_eq!(b("ipv4@0.0.0.0:80").unwrap().to_string(), "0.0.0.0:80");
        assert_eq!(b(":8000-8010").unwrap().to_string(), "0.0.0.0:8000-8010");
        assert_eq!(b("1.2.3:80").unwrap().to_string(), "1.2.0.3:80");
        assert_eq!(b("localhost:80").unwrap().to_string(), "127.0.0.1:80");
    }

    #[test]
    fn server_forms() {
        assert_eq!(sv("10.0.0.1").unwrap().to_string(), "10.0.0.1");
        assert_eq!(sv("10.0.0.1:+1").unwrap().to_string(), "10.0.0.1:+1");
        assert_eq!(sv("10.0.0.1:-1").unwrap().to_string(), "10.0.0.1:-1");
        assert!(matches!(sv("10.0.0.1:80-90"), Err(AddrError::PortRange(_))));
        assert!(matches!(
            parse_addr("nosuch.invalid:80", AddrUse::Server, true),
            Ok(Addr::Inet { unresolved: true, .. })
        ));
    }

    #[test]
    fn other_families_and_errors() {
        assert_eq!(b("/tmp/s").unwrap(), Addr::Unix("/tmp/s".into()));
        assert_eq!(b("unix@/tmp/s").unwrap(), Addr::Unix("/tmp/s".into()));
        assert_eq!(b("abns@x").unwrap(), Addr::Abns("x".into()));
        assert_eq!(b("fd@5").unwrap(), Addr::Fd(5));
        assert!(matches!(b("fd@x"), Err(AddrError::BadFd(_))));
        assert_eq!(b(":99999").unwrap_err().to_string(), "invalid port '99999'");
        assert!(matches!(b("1.2.3.4"), Err(AddrError::MissingPort(_))));
        assert_eq!(
            b("nosuch.invalid:80").unwrap_err().to_string(),
            "invalid address: 'nosuch.invalid' in 'nosuch.invalid:80'"
        );
    }

    #[test]
    fn environment_variables_expand_in_addresses() {
        let env = |n: &str| match n {
            "PORT" => Some("8080".to_string()),
            "HOST" => Some("127.0.0.1".to_string()),
            _ => None,
        };
        let p = |s: &str, u| parse_addr_env(s, u, false, &env);
        assert_eq!(
            p("${HOST}:${PORT}", AddrUse::Bind).unwrap().to_string(),
            "127.0.0.1:8080"
        );
        assert_eq!(p("$HOST:$PORT", AddrUse::Bind).unwrap().to_string(), "127.0.0.1:8080");
        assert_eq!(p(":${PORT}", AddrUse::Bind).unwrap().to_string(), "0.0.0.0:8080");
        // an unset variable expands to nothing; messages quote what was written
        assert_eq!(
            p("127.0.0.1:${NOPE}", AddrUse::Bind).unwrap_err().to_string(),
            "missing port specification in '127.0.0.1:${NOPE}'"
        );
        assert_eq!(p("10.0.0.1:${NOPE}", AddrUse::Server).unwrap().to_string(), "10.0.0.1");
        assert_eq!(
            p("${NOPE}", AddrUse::Server).unwrap_err().to_string(),
            "'${NOPE}' resolves to an empty address (environment variable missing?)"
        );
        assert_eq!(env_expand("a${PORT}b$PORT.c", &env), "a8080b8080.c");
        assert_eq!(env_expand("no vars", &env), "no vars");
    }
}
