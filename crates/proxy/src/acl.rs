//! ACLs and conditions (HAProxy's `acl.c`/`pattern.c` subset): named
//! `acl` lines, anonymous `{ ... }` ACLs, HAProxy's predefined ACLs, the
//! matching methods (`-m found|bool|int|str|beg|end|sub|dir|dom|len|ip`,
//! `-i`, the legacy `path_beg`-style suffixes) and `if|unless` conditions
//! with `!`, `||`/`or` and implicit AND.
//!
//! Owns compiling ACL words into matchers at start-up and evaluating them
//! over a [`sample::Ctx`]. It must not run actions (that is `http_act`).

use crate::sample::{parse_expr, Ctx, Dir, Expr, Smp};
use std::net::IpAddr;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatchKind {
    Found,
    Bool,
    Int,
    Str,
    Beg,
    End,
    Sub,
    Dir,
    Dom,
    Len,
    Ip,
    Reg,
    /// `http_auth_group`'s own method: the user's groups against the
    /// pattern group names (not selectable with `-m`).
    Auth,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum IntOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Clone, Debug, PartialEq)]
enum Pat {
    Bytes(Vec<u8>),
    /// Inclusive range, or one comparison.
    Range(i64, i64),
    Cmp(IntOp, i64),
    Net(IpAddr, u8),
    Re(crate::regex::Regex),
}

/// One ACL: a sample expression and the patterns its values are matched
/// against (any value matching any pattern is a match).
#[derive(Clone, Debug, PartialEq)]
pub struct Acl {
    expr: Expr,
    kind: MatchKind,
    icase: bool,
    pats: Vec<Pat>,
    /// `-f <file>` pattern files (shared with maps and `add-acl`).
    files: Vec<std::sync::Arc<crate::map::Expr>>,
}

/// Legacy `<fetch>_<method>` names HAProxy still accepts.
fn split_suffix(name: &str) -> Option<(&str, MatchKind)> {
    let (base, suf) = name.rsplit_once('_')?;
    let k = match suf {
        "beg" => MatchKind::Beg,
        "end" => MatchKind::End,
        "sub" => MatchKind::Sub,
        "dir" => MatchKind::Dir,
        "dom" => MatchKind::Dom,
        "len" => MatchKind::Len,
        "str" => MatchKind::Str,
        "ip" => MatchKind::Ip,
        "reg" => MatchKind::Reg,
        "found" => MatchKind::Found,
        "val" => MatchKind::Int,
        "cnt" => return None,
        _ => return None,
    };
    matches!(
        base,
        "path" | "url" | "hdr" | "base" | "req.hdr" | "res.hdr" | "shdr" | "cook" | "urlp"
    )
    .then_some((base, k))
}

fn parse_kind(m: &str) -> Result<MatchKind, String> {
    Ok(match m {
        "found" => MatchKind::Found,
        "bool" => MatchKind::Bool,
        "int" => MatchKind::Int,
        "str" => MatchKind::Str,
        "beg" => MatchKind::Beg,
        "end" => MatchKind::End,
        "sub" => MatchKind::Sub,
        "dir" => MatchKind::Dir,
        "dom" => MatchKind::Dom,
        "len" => MatchKind::Len,
        "ip" => MatchKind::Ip,
        "reg" => MatchKind::Reg,
        "bin" => return Err(format!("matching method '-m {m}' is not supported yet by rhaproxy")),
        _ => return Err(format!("unknown matching method '{m}' when parsing ACL expression")),
    })
}

impl Acl {
    /// Compiles `fetch [flags] [patterns]` words (after `acl <name>` or
    /// inside `{ }`).
    pub fn parse(words: &[String], dir: Dir) -> Result<Acl, String> {
        let first = words.first().ok_or("missing fetch method in ACL")?;
        let (expr, mut kind) = match parse_expr(first, dir) {
            Ok(e) => {
                let k = e.default_match();
                (e, k)
            }
            Err(e) => {
                // `path_beg`, `hdr_sub(x)`, ...
                let name_end = first.find(['(', ',']).unwrap_or(first.len());
                let name = &first[..name_end];
                let r = match split_suffix(name) {
                    Some((base, k)) => parse_expr(&format!("{base}{}", &first[name_end..]), dir).map(|x| (x, k)),
                    None => Err(e),
                };
                // HAProxy's wording: the unknown keyword, or what is wrong
                // with a known one.
                r.map_err(|e| {
                    if e.starts_with("unknown fetch method") {
                        format!("unknown fetch method '{name}' in ACL expression '{name}'")
                    } else {
                        format!("ACL keyword '{name}' : {e}.")
                    }
                })?
            }
        };
        let mut icase = false;
        let mut i = 1;
        let mut file_names: Vec<&str> = Vec::new();
        let mut as_map = false;
        while let Some(w) = words.get(i) {
            match w.as_str() {
                "-i" => icase = true,
                "-n" => {}
                "-M" => as_map = true,
                "-f" => {
                    let f = words.get(i + 1).ok_or("missing filename in ACL expression")?;
                    file_names.push(f);
                    i += 1;
                }
                "-m" => {
                    if !file_names.is_empty() {
                        return Err(
                            "'-m' must only be specified before patterns and files in parsing ACL expression".into(),
                        );
                    }
                    let m = words.get(i + 1).ok_or("missing matching method after '-m'")?;
                    kind = parse_kind(m)?;
                    i += 1;
                }
                "--" => {
                    i += 1;
                    break;
                }
                f if f.starts_with('-') && f.len() == 2 => {
                    return Err(format!("ACL flag '{f}' is not supported yet by rhaproxy"));
                }
                _ => break,
            }
            i += 1;
        }
        let mut pats = Vec::new();
        let mut op = None;
        for w in &words[i..] {
            match kind {
                MatchKind::Int | MatchKind::Len => {
                    let o = match w.as_str() {
                        "eq" => Some(IntOp::Eq),
                        "ne" => Some(IntOp::Ne),
                        "lt" => Some(IntOp::Lt),
                        "le" => Some(IntOp::Le),
                        "gt" => Some(IntOp::Gt),
                        "ge" => Some(IntOp::Ge),
                        _ => None,
                    };
                    if o.is_some() {
                        op = o;
                        continue;
                    }
                    let bad = || format!("'{w}' is not a number");
                    let p = match (op, w.split_once(':')) {
                        (Some(o), _) => Pat::Cmp(o, w.parse().map_err(|_| bad())?),
                        (None, Some((a, b))) => Pat::Range(
                            if a.is_empty() {
                                i64::MIN
                            } else {
                                a.parse().map_err(|_| bad())?
                            },
                            if b.is_empty() {
                                i64::MAX
                            } else {
                                b.parse().map_err(|_| bad())?
                            },
                        ),
                        (None, None) => {
                            let v = w.parse().map_err(|_| bad())?;
                            Pat::Range(v, v)
                        }
                    };
                    pats.push(p);
                }
                MatchKind::Ip => {
                    let (a, bits) = match w.split_once('/') {
                        Some((a, b)) => (a, Some(b)),
                        None => (w.as_str(), None),
                    };
                    let ip: IpAddr = a
                        .parse()
                        .map_err(|_| format!("'{w}' is not a valid IPv4 or IPv6 address"))?;
                    let max = if ip.is_ipv4() { 32 } else { 128 };
                    let bits = match bits {
                        None => max,
                        Some(b) => match b.parse::<u8>() {
                            Ok(n) if n <= max => n,
                            _ => match b.parse::<std::net::Ipv4Addr>() {
                                Ok(m) => u32::from(m).count_ones() as u8,
                                Err(_) => return Err(format!("'{w}' is not a valid IPv4 or IPv6 address")),
                            },
                        },
                    };
                    pats.push(Pat::Net(ip, bits));
                }
                MatchKind::Reg => pats.push(Pat::Re(crate::regex::Regex::new(w, icase)?)),
                MatchKind::Bool | MatchKind::Found => {
                    return Err(format!("ACL pattern '{w}' given to a method that takes none"));
                }
                _ => pats.push(Pat::Bytes(if icase {
                    w.to_ascii_lowercase().into_bytes()
                } else {
                    w.as_bytes().to_vec()
                })),
            }
        }
        if let (MatchKind::Auth, crate::sample::Fetch::HttpAuthGroup(crate::sample::UlRef(Some(ul)))) =
            (kind, &expr.fetch)
        {
            // HAProxy's acl_find_targets(): groups are required and known.
            if pats.is_empty() {
                return Err("http_auth_group(): no groups specified".into());
            }
            for p in &pats {
                if let Pat::Bytes(g) = p {
                    if !ul.has_group(g) {
                        return Err(format!(
                            "http_auth_group(): invalid group '{}'",
                            String::from_utf8_lossy(g)
                        ));
                    }
                }
            }
        }
        let mut files = Vec::new();
        for f in file_names {
            if matches!(kind, MatchKind::Found | MatchKind::Bool) {
                return Err(format!("ACL pattern file '{f}' given to a method that takes none"));
            }
            let r = crate::map::load_ref(f, as_map)?;
            files.push(crate::map::new_expr(r, kind, icase, None, false)?);
        }
        Ok(Acl {
            expr,
            kind,
            icase,
            pats,
            files,
        })
    }

    pub fn eval(&self, cx: &mut Ctx<'_>) -> bool {
        let bytes_kind = matches!(
            self.kind,
            MatchKind::Found
                | MatchKind::Str
                | MatchKind::Beg
                | MatchKind::End
                | MatchKind::Sub
                | MatchKind::Dir
                | MatchKind::Dom
                | MatchKind::Len
                | MatchKind::Reg
        );
        if bytes_kind && self.expr.convs.is_empty() && self.files.is_empty() {
            let found = self.kind == MatchKind::Found;
            let hit = self
                .expr
                .fetch
                .any_borrowed(cx, &mut |b| found || self.pats.iter().any(|p| self.match_bytes(b, p)));
            if let Some(hit) = hit {
                return hit;
            }
        }
        self.eval_samples(cx)
    }

    /// The general path: every value as a sample, converters applied.
    fn eval_samples(&self, cx: &mut Ctx<'_>) -> bool {
        let mut vals = Vec::new();
        self.expr.eval_all(cx, &mut vals);
        match self.kind {
            MatchKind::Found => !vals.is_empty(),
            MatchKind::Bool if self.pats.is_empty() => vals.iter().any(|v| v.to_bool()),
            MatchKind::Auth => {
                let crate::sample::Fetch::HttpAuthGroup(crate::sample::UlRef(Some(ul))) = &self.expr.fetch else {
                    return false;
                };
                vals.iter().any(|v| {
                    let user = bytes_of(v);
                    self.pats
                        .iter()
                        .any(|p| matches!(p, Pat::Bytes(g) if ul.in_group(&user, g)))
                })
            }
            _ => vals
                .iter()
                .any(|v| self.pats.iter().any(|p| self.match_one(v, p)) || self.files.iter().any(|f| f.matches(v))),
        }
    }

    fn match_one(&self, v: &Smp, p: &Pat) -> bool {
        let int_ok = |x: i64| int_matches(x, p);
        match self.kind {
            MatchKind::Int | MatchKind::Bool => v.to_int().is_some_and(int_ok),
            MatchKind::Len => int_ok(bytes_of(v).len() as i64),
            MatchKind::Ip => match (v.to_ip(), p) {
                (Some(ip), Pat::Net(n, bits)) => in_net(ip, *n, *bits),
                _ => false,
            },
            MatchKind::Found => true,
            _ => self.match_bytes(&bytes_of(v), p),
        }
    }

    /// The string methods (`-m str|beg|end|sub|dir|dom|len|reg`) on one
    /// value. Patterns of `-i` ACLs are stored lower-cased, so the value is
    /// compared ignoring case rather than copied lower-cased.
    fn match_bytes(&self, b: &[u8], p: &Pat) -> bool {
        if self.kind == MatchKind::Len {
            return int_matches(b.len() as i64, p);
        }
        if let Pat::Re(r) = p {
            return self.kind == MatchKind::Reg && r.is_match(b);
        }
        let Pat::Bytes(pat) = p else { return false };
        let eq = |x: &[u8], y: &[u8]| if self.icase { x.eq_ignore_ascii_case(y) } else { x == y };
        match self.kind {
            MatchKind::Str => eq(b, pat),
            MatchKind::Beg => b.len() >= pat.len() && eq(&b[..pat.len()], pat),
            MatchKind::End => b.len() >= pat.len() && eq(&b[b.len() - pat.len()..], pat),
            MatchKind::Sub => pat.is_empty() || b.windows(pat.len()).any(|w| eq(w, pat)),
            MatchKind::Dir | MatchKind::Dom => {
                let sep = if self.kind == MatchKind::Dir { b'/' } else { b'.' };
                if self.icase {
                    delimited(&b.to_ascii_lowercase(), pat, sep)
                } else {
                    delimited(b, pat, sep)
                }
            }
            _ => false,
        }
    }
}

/// An integer against a range or comparison pattern.
fn int_matches(x: i64, p: &Pat) -> bool {
    match *p {
        Pat::Range(lo, hi) => lo <= x && x <= hi,
        Pat::Cmp(o, y) => match o {
            IntOp::Eq => x == y,
            IntOp::Ne => x != y,
            IntOp::Lt => x < y,
            IntOp::Le => x <= y,
            IntOp::Gt => x > y,
            IntOp::Ge => x >= y,
        },
        _ => false,
    }
}

/// A sample's bytes: borrowed for strings and binaries, printed otherwise.
fn bytes_of(v: &Smp) -> std::borrow::Cow<'_, [u8]> {
    match v {
        Smp::Str(s) | Smp::Bin(s) => std::borrow::Cow::Borrowed(s),
        o => std::borrow::Cow::Owned(o.clone().into_bytes()),
    }
}

/// `-m dir`/`-m dom`: the pattern appears delimited by `sep` (or the ends).
pub(crate) fn delimited(b: &[u8], pat: &[u8], sep: u8) -> bool {
    let pat = trim_byte(pat, sep);
    if pat.is_empty() {
        return false;
    }
    b.split(|&c| c == sep || (sep == b'/' && c == b'?'))
        .collect::<Vec<_>>()
        .windows(pat.split(|&c| c == sep).count())
        .any(|w| w.iter().copied().eq(pat.split(|&c| c == sep)))
}

fn trim_byte(p: &[u8], c: u8) -> &[u8] {
    let s = p.iter().position(|&x| x != c).unwrap_or(p.len());
    let e = p.iter().rposition(|&x| x != c).map_or(s, |e| e + 1);
    &p[s..e.max(s)]
}

fn in_net(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) if net.is_ipv4() => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        _ => ip,
    };
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let m = if bits == 0 { 0 } else { u32::MAX << (32 - bits as u32) };
            u32::from(a) & m == u32::from(n) & m
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let m = if bits == 0 { 0 } else { u128::MAX << (128 - bits as u32) };
            u128::from(a) & m == u128::from(n) & m
        }
        _ => false,
    }
}

/// HAProxy's predefined ACLs, as the words they stand for.
fn predefined(name: &str) -> Option<&'static [&'static str]> {
    Some(match name {
        "TRUE" => &["always_true"],
        "FALSE" => &["always_false"],
        "HTTP" => &["always_true"],
        "HTTP_1.0" => &["req.ver", "1.0"],
        "HTTP_1.1" => &["req.ver", "1.1"],
        "HTTP_2.0" => &["req.ver", "2.0"],
        "HTTP_CONTENT" => &["req.hdr_val(content-length)", "gt", "0"],
        "HTTP_URL_ABS" => &["url_reg", "^[^/:]*://"],
        "HTTP_URL_SLASH" => &["url", "-m", "beg", "/"],
        "RDP_COOKIE" => &["req.rdp_cookie_cnt", "gt", "0"],
        "REQ_CONTENT" => &["req.len", "gt", "0"],
        "WAIT_END" => &["wait_end"],
        "HTTP_URL_STAR" => &["url", "*"],
        "LOCALHOST" => &["src", "127.0.0.1/8", "::1"],
        "METH_CONNECT" => &["method", "CONNECT"],
        "METH_DELETE" => &["method", "DELETE"],
        "METH_GET" => &["method", "GET", "HEAD"],
        "METH_HEAD" => &["method", "HEAD"],
        "METH_OPTIONS" => &["method", "OPTIONS"],
        "METH_POST" => &["method", "POST"],
        "METH_PUT" => &["method", "PUT"],
        "METH_TRACE" => &["method", "TRACE"],
        _ => return None,
    })
}

/// The named ACLs of one proxy (a name declared on several lines matches
/// when any of its lines does).
#[derive(Default, Debug)]
pub struct AclSet {
    named: Vec<(String, Vec<Acl>)>,
    /// Declared, but using what rhaproxy does not implement (lenient sets).
    lacking: Vec<String>,
}

impl AclSet {
    /// Compiles a proxy's `acl` lines; errors carry the line's location.
    pub fn build(lines: &[config::model::RawLine]) -> Result<AclSet, String> {
        let mut s = AclSet::default();
        for l in lines {
            let name = l.words.get(1).cloned().unwrap_or_default();
            // HAProxy decides the direction per use; request is the
            // common case and `hdr()` in response rules is rare in ACLs.
            let acl = Acl::parse(&l.words[2.min(l.words.len())..], Dir::Req)
                .map_err(|e| format!("parsing [{}] : error detected while parsing ACL '{name}' : {e}.", l.loc))?;
            match s.named.iter_mut().find(|(n, _)| *n == name) {
                Some((_, v)) => v.push(acl),
                None => s.named.push((name, vec![acl])),
            }
        }
        Ok(s)
    }
    /// The `acl` lines named in `words` (a rule being checked while the
    /// configuration is read). A line that does not compile (rhaproxy
    /// lacks something it uses: real errors were reported on the line
    /// itself) leaves a name conditions cannot use, refused as unsupported.
    pub fn build_lenient(lines: &[config::model::RawLine], words: &[String]) -> AclSet {
        let mut s = AclSet::default();
        for l in lines {
            let Some(name) = l.words.get(1) else { continue };
            if !words.iter().any(|w| w.trim_start_matches('!') == name) {
                continue;
            }
            match Acl::parse(&l.words[2.min(l.words.len())..], Dir::Req) {
                Ok(a) => match s.named.iter_mut().find(|(n, _)| n == name) {
                    Some((_, v)) => v.push(a),
                    None => s.named.push((name.clone(), vec![a])),
                },
                Err(_) => s.lacking.push(name.clone()),
            }
        }
        s
    }
    fn get(&self, name: &str) -> Option<Vec<Acl>> {
        if let Some((_, v)) = self.named.iter().find(|(n, _)| n == name) {
            return Some(v.clone());
        }
        let w: Vec<String> = predefined(name)?.iter().map(|s| s.to_string()).collect();
        // A predefined ACL over a fetch rhaproxy lacks is refused when used.
        Some(Acl::parse(&w, Dir::Req).map(|a| vec![a]).unwrap_or_default())
    }
}

/// `if|unless` followed by terms: OR of ANDs of possibly negated ACLs.
#[derive(Clone, Debug, PartialEq)]
pub struct Cond {
    unless: bool,
    ors: Vec<Vec<(bool, Vec<Acl>)>>,
}

impl Cond {
    /// Parses `if ...`/`unless ...` words (the keyword included).
    pub fn parse(words: &[String], acls: &AclSet, dir: Dir) -> Result<Cond, String> {
        let unless = match words.first().map(|s| s.as_str()) {
            Some("if") => false,
            Some("unless") => true,
            _ => return Err("expects 'if' or 'unless'".into()),
        };
        let mut ors = vec![Vec::new()];
        let mut i = 1;
        while i < words.len() {
            let mut w = words[i].as_str();
            if w == "||" || w.eq_ignore_ascii_case("or") {
                if ors.last().is_some_and(|v| v.is_empty()) {
                    return Err("missing ACL before 'or'".into());
                }
                ors.push(Vec::new());
                i += 1;
                continue;
            }
            let mut neg = false;
            while let Some(r) = w.strip_prefix('!') {
                neg = !neg;
                w = r;
            }
            if w.is_empty() {
                // "!" as its own word
                i += 1;
                w = words.get(i).map(|s| s.as_str()).ok_or("missing ACL after '!'")?;
            }
            let term = if w == "{" {
                let end = words[i..]
                    .iter()
                    .position(|x| x == "}")
                    .ok_or("missing closing '}' in condition")?
                    + i;
                let a = Acl::parse(&words[i + 1..end], dir)?;
                i = end;
                vec![a]
            } else {
                match acls.get(w) {
                    Some(a) if a.is_empty() => {
                        return Err(format!("predefined ACL '{w}' is not supported yet by rhaproxy"))
                    }
                    Some(a) => a,
                    None if acls.lacking.iter().any(|n| n == w) => {
                        return Err(format!("ACL '{w}' uses what is not supported yet by rhaproxy"))
                    }
                    None => return Err(format!("no such ACL : '{w}'")),
                }
            };
            ors.last_mut().unwrap().push((neg, term));
            i += 1;
        }
        if ors.iter().any(|v| v.is_empty()) {
            return Err("missing ACL in condition".into());
        }
        Ok(Cond { unless, ors })
    }

    pub fn eval(&self, cx: &mut Ctx<'_>) -> bool {
        let r = self
            .ors
            .iter()
            .any(|and| and.iter().all(|(neg, a)| a.iter().any(|x| x.eval(cx)) != *neg));
        r != self.unless
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::tests::with_req;

    fn w(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }
    const REQ: &[u8] = b"GET /img/a.png?x=1 HTTP/1.1\r\nHost: www.Example.com\r\nX-N: 42\r\nX-L: a, b\r\n\r\n";

    fn cond(acl_lines: &[&str], c: &str) -> bool {
        let lines: Vec<config::model::RawLine> = acl_lines
            .iter()
            .map(|l| config::model::RawLine {
                words: w(l),
                loc: Default::default(),
            })
            .collect();
        let set = AclSet::build(&lines).unwrap();
        let c = Cond::parse(&w(c), &set, Dir::Req).unwrap();
        with_req(REQ, |cx| c.eval(cx))
    }

    #[test]
    fn matching_methods() {
        assert!(cond(&[], "if { req.hdr(x-n) -m found }"));
        assert!(!cond(&[], "if { req.hdr(x-none) -m found }"));
        assert!(cond(&[], "unless { req.hdr(x-none) -m found }"));
        assert!(cond(&[], "if { path /img/a.png }"));
        assert!(cond(&[], "if { path_beg /img/ }"));
        assert!(cond(&[], "if { path -m end .png }"));
        assert!(cond(&[], "if { path_sub a.p }"));
        assert!(cond(&[], "if { path_dir img }"));
        assert!(cond(&[], "if { hdr(host) -i www.example.com }"));
        assert!(!cond(&[], "if { hdr(host) www.example.com }"));
        assert!(cond(&[], "if { hdr_dom(host) -i example }"));
        assert!(cond(&[], "if { req.hdr(x-n) -m int gt 40 }"));
        assert!(cond(&[], "if { req.hdr(x-n) -m int 40:50 }"));
        assert!(!cond(&[], "if { req.hdr(x-n) -m int lt 40 }"));
        assert!(cond(&[], "if { req.hdr(x-l) b }"), "any comma-separated value");
        assert!(cond(&[], "if { req.hdr(x-l) -m len 1 }"));
        assert!(cond(&[], "if { http_first_req }"));
        assert!(cond(&[], "if METH_GET HTTP_1.1 TRUE"));
        assert!(!cond(&[], "if FALSE"));
    }

    /// The borrowed fast path (no sample built) answers as the general one.
    #[test]
    fn borrowed_path_agrees_with_samples() {
        let exprs = [
            "hdr(host) -i WWW.example.com",
            "hdr(host) www.example.com",
            "hdr_beg(host) -i WWW",
            "hdr_end(host) .COM",
            "hdr_end(host) -i .COM",
            "hdr_sub(host) -i AMPLE",
            "hdr_dom(host) -i EXAMPLE",
            "hdr_dir(host) -i www.example.com",
            "hdr_len(host) 15",
            "hdr_len(host) gt 3",
            "hdr_reg(host) ^w+\\.",
            "hdr(x-none) -m found",
            "req.hdr(x-n) -m found",
            "req.hdr(x-n) -m str 2",
            "req.fhdr(x-n) -m str 2",
            "path /img/a.png",
            "path_beg -i /IMG",
            "path_dir -i IMG",
            "path_len 10",
            "url_sub ?",
            "method GET",
            "method -i post",
            "query -m found",
        ];
        for e in exprs {
            let acl = Acl::parse(&w(e), Dir::Req).unwrap_or_else(|err| panic!("{e}: {err}"));
            crate::sample::tests::with_req(REQ, |cx| {
                assert_eq!(acl.eval(cx), acl.eval_samples(cx), "{e}");
            });
        }
    }

    #[test]
    fn pattern_files() {
        let f = std::env::temp_dir().join(format!("rhaproxy-acl-{}.lst", std::process::id()));
        std::fs::write(&f, "# hosts\nwww.example.com\n  other.org  \n").unwrap();
        let f = f.to_string_lossy().into_owned();
        assert!(cond(&[], &format!("if {{ hdr(host) -i -f {f} }}")));
        assert!(!cond(&[], &format!("if {{ hdr(host) -f {f} }}")), "case-sensitive");
        assert!(cond(&[], &format!("if {{ hdr(host) -m end -i -f {f} .com }}")));
        let e = Acl::parse(&w(&format!("path -f {f} -m beg")), Dir::Req).unwrap_err();
        assert_eq!(
            e,
            "'-m' must only be specified before patterns and files in parsing ACL expression"
        );
        assert!(Acl::parse(&w("path -f /nonexistent.lst"), Dir::Req)
            .unwrap_err()
            .contains("failed to open pattern file </nonexistent.lst>"));
    }

    #[test]
    fn conditions() {
        let acls = [
            "acl png path_end .png",
            "acl gif path_end .gif",
            "acl gif path_end .jpg",
        ];
        assert!(cond(&acls, "if png"));
        assert!(!cond(&acls, "if gif"));
        assert!(cond(&acls, "if gif || png"));
        assert!(cond(&acls, "if gif or png"));
        assert!(!cond(&acls, "if gif png"));
        assert!(cond(&acls, "if !gif png"));
        assert!(cond(&acls, "unless gif"));
        assert!(cond(&acls, "if ! gif { method GET }"));
        let set = AclSet::default();
        assert!(Cond::parse(&w("if nope"), &set, Dir::Req)
            .unwrap_err()
            .contains("'nope'"));
        assert!(Cond::parse(&w("if { path /x"), &set, Dir::Req).is_err());
        assert!(Cond::parse(&w("if { path -m foo x }"), &set, Dir::Req).is_err());
        assert!(cond(&[], "if { path -m reg ^/img/[a-z]+\\.png$ }"));
        assert!(cond(&[], "if { path_reg -i ^/IMG/ }"));
    }
}
