//! Log-format strings (HAProxy's `log.c` format parser and line builder):
//! literal text, `%[sample,conv,...]` expressions and the `%ci`-style log
//! variables with their `%{+Q,+X,+E,+M}` flags.
//!
//! Owns compiling a format at start-up and rendering it: over a
//! [`sample::Ctx`] for rule arguments (`set-header` values, `return
//! lf-string`: samples only), or over a [`LogInfo`] snapshot of a stream
//! for log lines and unique ids. It must not send anything (that is
//! `log`) nor look into streams (the caller builds the snapshot).

use crate::sample::{parse_expr, Ctx, Dir, Expr};
use std::net::SocketAddr;

/// Node options (HAProxy's LOG_OPT_*).
pub const OPT_HEXA: u8 = 0x01;
pub const OPT_MANDATORY: u8 = 0x02;
pub const OPT_QUOTE: u8 = 0x04;
pub const OPT_HTTP: u8 = 0x20;
pub const OPT_ESC: u8 = 0x40;

/// The log variables (`%ci`, `%Tt`, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Var {
    BytesOut,
    CookieCli,
    CookieSrv,
    Hostname,
    UniqueId,
    Status,
    DateGmt,
    Ta,
    Tc,
    Th,
    Ti,
    DateLocal,
    Tq,
    Tr,
    TR,
    Td,
    Ts,
    Tt,
    Tu,
    Tw,
    BytesIn,
    ActConn,
    Backend,
    BeConn,
    BeSrcIp,
    BeSrcPort,
    BeQueue,
    CliIp,
    CliPort,
    Frontend,
    FeConn,
    FeIp,
    FePort,
    FrontendXprt,
    HdrReq,
    HdrReqList,
    HdrRes,
    HdrResList,
    HttpMethod,
    HttpPath,
    HttpPathOnly,
    HttpQuery,
    HttpUri,
    HttpVersion,
    LogCount,
    Ms,
    Pid,
    Request,
    Retries,
    ReqCounter,
    Server,
    SrvConn,
    SrvIp,
    SrvPort,
    SrvQueue,
    SslCipher,
    SslVersion,
    Date,
    ReqDate,
    ReqDateGmt,
    ReqDateLocal,
    TermState,
    TermStateCk,
}

/// Name, variable, HTTP-only.
const VARS: &[(&str, Var, bool)] = &[
    ("B", Var::BytesOut, false),
    ("CC", Var::CookieCli, true),
    ("CS", Var::CookieSrv, true),
    ("H", Var::Hostname, false),
    ("ID", Var::UniqueId, false),
    ("ST", Var::Status, false),
    ("T", Var::DateGmt, false),
    ("Ta", Var::Ta, true),
    ("Tc", Var::Tc, false),
    ("Th", Var::Th, false),
    ("Ti", Var::Ti, true),
    ("Tl", Var::DateLocal, false),
    ("Tq", Var::Tq, true),
    ("Tr", Var::Tr, true),
    ("TR", Var::TR, true),
    ("Td", Var::Td, false),
    ("Ts", Var::Ts, false),
    ("Tt", Var::Tt, false),
    ("Tu", Var::Tu, false),
    ("Tw", Var::Tw, false),
    ("U", Var::BytesIn, false),
    ("ac", Var::ActConn, false),
    ("b", Var::Backend, false),
    ("bc", Var::BeConn, false),
    ("bi", Var::BeSrcIp, false),
    ("bp", Var::BeSrcPort, false),
    ("bq", Var::BeQueue, false),
    ("ci", Var::CliIp, false),
    ("cp", Var::CliPort, false),
    ("f", Var::Frontend, false),
    ("fc", Var::FeConn, false),
    ("fi", Var::FeIp, false),
    ("fp", Var::FePort, false),
    ("ft", Var::FrontendXprt, false),
    ("hr", Var::HdrReq, false),
    ("hrl", Var::HdrReqList, false),
    ("hs", Var::HdrRes, false),
    ("hsl", Var::HdrResList, false),
    ("HM", Var::HttpMethod, true),
    ("HP", Var::HttpPath, true),
    ("HPO", Var::HttpPathOnly, true),
    ("HQ", Var::HttpQuery, true),
    ("HU", Var::HttpUri, true),
    ("HV", Var::HttpVersion, true),
    ("lc", Var::LogCount, false),
    ("ms", Var::Ms, false),
    ("pid", Var::Pid, false),
    ("r", Var::Request, true),
    ("rc", Var::Retries, false),
    ("rt", Var::ReqCounter, false),
    ("s", Var::Server, false),
    ("sc", Var::SrvConn, false),
    ("si", Var::SrvIp, false),
    ("sp", Var::SrvPort, false),
    ("sq", Var::SrvQueue, false),
    ("sslc", Var::SslCipher, false),
    ("sslv", Var::SslVersion, false),
    ("t", Var::Date, false),
    ("tr", Var::ReqDate, true),
    ("trg", Var::ReqDateGmt, true),
    ("trl", Var::ReqDateLocal, true),
    ("ts", Var::TermState, false),
    ("tsc", Var::TermStateCk, false),
];

#[derive(Clone, Debug, PartialEq)]
enum Node {
    Lit(Vec<u8>),
    /// A run of spaces in a format that merges them.
    Sep,
    /// A sample in a rule argument (printed raw, nothing when missing).
    Smp(Expr),
    /// A sample in a log line or unique id, with its options.
    LSmp(Expr, u8),
    Var(Var, u8),
}

/// A compiled log-format string.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct LogFmt {
    nodes: Vec<Node>,
}

/// What a log line may need from the stream beyond the basics, so the
/// stream records it only when asked (HAProxy's LW_* flags).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Needs {
    /// Counts bytes to the end (%B, timers): logged at the end unless
    /// `option logasap`.
    pub bytes: bool,
    /// The frontend address (%fi, %fp): fetched before the socket closes.
    pub fe_addr: bool,
    /// The server connection's source address (%bi, %bp).
    pub be_src: bool,
    /// The request line (%r, %HM, ...).
    pub req_line: bool,
    /// A request counter (%rt).
    pub counter: bool,
    /// Any sample expression.
    pub samples: bool,
}

/// How a format string is compiled: log lines merge spaces and print "-"
/// for missing values; unique ids encode samples as HTTP does.
#[derive(Clone, Copy, Debug)]
pub struct ParseOpts {
    pub http_mode: bool,
    pub options: u8,
    pub merge_spaces: bool,
}

impl ParseOpts {
    pub fn log(http_mode: bool) -> ParseOpts {
        ParseOpts {
            http_mode,
            options: OPT_MANDATORY,
            merge_spaces: true,
        }
    }
    pub fn unique_id(http_mode: bool) -> ParseOpts {
        ParseOpts {
            http_mode,
            options: OPT_HTTP,
            merge_spaces: true,
        }
    }
}

/// Everything a log line can print, captured from a stream when the line
/// is built. Times are milliseconds relative to `accept`, -1 when the
/// event did not happen (HAProxy's `strm_logs`).
#[derive(Clone, Debug, Default)]
pub struct LogInfo<'a> {
    pub fe_name: &'a str,
    pub be_name: &'a str,
    /// `<NOSRV>` when none.
    pub srv_name: &'a str,
    pub src: Option<SocketAddr>,
    pub dst: Option<SocketAddr>,
    pub be_src: Option<SocketAddr>,
    pub srv_addr: Option<SocketAddr>,
    /// Listener id, printed as the port of unix sockets.
    pub listener_id: u32,
    /// Wall clock of the accept (or of the end of the previous request
    /// on a keep-alive connection), microseconds since the epoch.
    pub accept_us: i64,
    pub t_handshake: i64,
    pub t_idle: i64,
    pub t_request: i64,
    pub t_queue: i64,
    pub t_connect: i64,
    pub t_data: i64,
    pub t_close: i64,
    pub status: i64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// Bytes are counted to the end (no `option logasap`): otherwise
    /// sizes and totals get a '+' prefix.
    pub final_bytes: bool,
    pub be_http: bool,
    /// Termination flags, 0 for '-'.
    pub term: (u8, u8),
    /// Persistence cookie flags (`%tsc` third and fourth), 0 for '-'.
    pub ck: (u8, u8),
    /// `capture cookie` of the request and of the response (`%CC`/`%CS`).
    pub cli_cookie: Option<&'a [u8]>,
    pub srv_cookie: Option<&'a [u8]>,
    pub actconn: u64,
    pub feconn: u64,
    pub beconn: u64,
    pub srvconn: u64,
    pub retries: i64,
    pub redispatched: bool,
    pub srv_queue: i64,
    pub be_queue: i64,
    /// The captured request line ("METHOD URI VERSION").
    pub uri: Option<&'a [u8]>,
    /// Captured header values (`capture request/response header`).
    pub req_caps: &'a [Option<&'a [u8]>],
    pub res_caps: &'a [Option<&'a [u8]>],
    pub uniq_id: u64,
    pub log_count: u64,
    pub pid: u32,
    pub hostname: &'a str,
    pub unique_id: &'a [u8],
    /// The client connection is TLS (`%ft` gets a '~'), with its
    /// negotiated version and cipher (`%sslv`, `%sslc`).
    pub fe_ssl: bool,
    pub ssl_ver: Option<&'static str>,
    pub ssl_cipher: Option<&'static str>,
}

fn find_var(name: &str) -> Option<(Var, bool)> {
    VARS.iter().find(|(n, _, _)| *n == name).map(|&(_, v, h)| (v, h))
}

/// Applies `+X,-Q,...` to `opts` (unknown flags are ignored, as HAProxy).
fn apply_flags(args: &str, opts: &mut u8) {
    for a in args.split(',') {
        let (add, name) = match a.as_bytes().first() {
            Some(b'+') => (true, &a[1..]),
            Some(b'-') => (false, &a[1..]),
            _ => continue,
        };
        let bit = match name {
            "M" => OPT_MANDATORY,
            "Q" => OPT_QUOTE,
            "X" => OPT_HEXA,
            "E" => OPT_ESC,
            _ => continue,
        };
        if add {
            *opts |= bit;
        } else {
            *opts &= !bit;
        }
    }
}

/// End of a sample expression starting at `s[0]`: the first ']' outside
/// parentheses and quotes.
fn expr_end(s: &[u8]) -> Option<usize> {
    let (mut depth, mut q) = (0i32, None::<u8>);
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        match q {
            Some(qc) if c == qc => q = None,
            Some(_) if c == b'\\' => i += 1,
            Some(_) => {}
            None => match c {
                b'"' | b'\'' => q = Some(c),
                b'\\' => i += 1,
                b'(' => depth += 1,
                b')' => depth -= 1,
                b']' if depth <= 0 => return Some(i),
                _ => {}
            },
        }
        i += 1;
    }
    None
}

impl LogFmt {
    /// A rule argument: literal text and `%[sample]` only.
    pub fn parse(s: &str, dir: Dir) -> Result<LogFmt, String> {
        let mut nodes = Vec::new();
        let mut lit = Vec::new();
        let b = s.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i] != b'%' {
                lit.push(b[i]);
                i += 1;
                continue;
            }
            match b.get(i + 1) {
                Some(b'%') => {
                    lit.push(b'%');
                    i += 2;
                }
                Some(b'[') => {
                    let end = expr_end(&b[i + 2..])
                        .ok_or_else(|| format!("missing ']' in log-format expression '{}'", &s[i..]))?
                        + i
                        + 2;
                    if !lit.is_empty() {
                        nodes.push(Node::Lit(std::mem::take(&mut lit)));
                    }
                    let e = parse_expr(&s[i + 2..end], dir)
                        .map_err(|e| format!("failed to parse sample expression <{}> : {e}", &s[i + 2..]))?;
                    nodes.push(Node::Smp(e));
                    i = end + 1;
                }
                _ => {
                    let var: String = s[i + 1..]
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '{' || *c == '}' || *c == '+')
                        .collect();
                    return Err(format!(
                        "log-format variable '%{var}' is not supported yet by rhaproxy in rule arguments (only %[sample] expressions)"
                    ));
                }
            }
        }
        if !lit.is_empty() {
            nodes.push(Node::Lit(lit));
        }
        Ok(LogFmt { nodes })
    }

    /// A `log-format`/`unique-id-format` string, with HAProxy's grammar
    /// and error texts.
    pub fn parse_log(s: &str, po: ParseOpts) -> Result<LogFmt, String> {
        let b = s.as_bytes();
        let mut nodes = Vec::new();
        let mut lit = Vec::new();
        let mut opts = po.options;
        let flush = |lit: &mut Vec<u8>, nodes: &mut Vec<Node>| {
            if !lit.is_empty() {
                nodes.push(Node::Lit(std::mem::take(lit)));
            }
        };
        let mut i = 0;
        while i < b.len() {
            let c = b[i];
            if c == b' ' && po.merge_spaces {
                flush(&mut lit, &mut nodes);
                nodes.push(Node::Sep);
                i += 1;
                continue;
            }
            if c != b'%' {
                lit.push(c);
                i += 1;
                continue;
            }
            // '%' starts a variable, an expression or an escaped '%'.
            let mut j = i + 1;
            let mut args: Option<&str> = None;
            match b.get(j) {
                None => return Err("truncated line after '%'".into()),
                Some(b'%') => {
                    lit.push(b'%');
                    i = j + 1;
                    continue;
                }
                Some(d) if d.is_ascii_digit() || *d == b' ' || *d == b'\t' => {
                    return Err(format!(
                        "unexpected variable name near '{}' at position {} line : '{s}'. Maybe you want to write a single '%', use the syntax '%%'",
                        *d as char, j
                    ));
                }
                Some(b'{') => {
                    let close = s[j + 1..].find('}').map(|p| p + j + 1);
                    let Some(close) = close else {
                        return Err(format!("truncated line after '{}'", &s[j + 1..]));
                    };
                    args = Some(&s[j + 1..close]);
                    j = close + 1;
                    match b.get(j) {
                        Some(b'[') => {}
                        Some(x) if x.is_ascii_alphanumeric() => {}
                        _ => {
                            return Err(format!(
                                "parse argument modifier without variable name near '%{{{}}}'",
                                args.unwrap_or("")
                            ))
                        }
                    }
                }
                Some(x) if x.is_ascii_alphabetic() || *x == b'[' => {}
                Some(_) => {
                    // HAProxy drops a '%' followed by anything else.
                    i = j;
                    continue;
                }
            }
            flush(&mut lit, &mut nodes);
            if b[j] == b'[' {
                let Some(end) = expr_end(&b[j + 1..]).map(|e| e + j + 1) else {
                    return Err(format!("missing ']' after '{}'", &s[j + 1..]));
                };
                let text = &s[j + 1..end];
                let e = parse_expr(text, Dir::Req)
                    .map_err(|e| format!("failed to parse sample expression <{text}> : {e}"))?;
                let mut o = opts;
                if let Some(a) = args {
                    apply_flags(a, &mut o);
                }
                nodes.push(Node::LSmp(e, o));
                i = end + 1;
                continue;
            }
            let vs = j;
            while j < b.len() && b[j].is_ascii_alphanumeric() {
                j += 1;
            }
            let name = &s[vs..j];
            let mut o = opts;
            if let Some(a) = args {
                apply_flags(a, &mut o);
            }
            if name == "o" {
                opts = o;
            } else {
                match find_var(name) {
                    Some((v, http)) => {
                        if http && !po.http_mode {
                            return Err(format!("format variable '{name}' is reserved for HTTP mode"));
                        }
                        nodes.push(Node::Var(v, o));
                    }
                    None => {
                        return Err(format!(
                        "no such format variable '{name}'. If you wanted to emit the '%' character verbatim, you need to use '%%'"
                    ))
                    }
                }
            }
            i = j;
        }
        flush(&mut lit, &mut nodes);
        Ok(LogFmt { nodes })
    }

    /// Appends the rendering to `out`; a missing sample prints nothing
    /// (HAProxy prints "-" only in logs, not in header values).
    pub fn render(&self, cx: &mut Ctx<'_>, out: &mut Vec<u8>) {
        for n in &self.nodes {
            match n {
                Node::Lit(l) => out.extend_from_slice(l),
                Node::Smp(e) | Node::LSmp(e, _) => {
                    match e.eval(cx) {
                        // Printed as a string: binary stops at a NUL.
                        Some(crate::sample::Smp::Bin(b)) => {
                            out.extend(b.iter().take_while(|&&c| c != 0));
                        }
                        Some(v) => v.write_to(out),
                        None => {}
                    }
                }
                Node::Sep | Node::Var(..) => {}
            }
        }
    }

    /// A format that is this text as is (no `%` interpretation).
    pub fn text(t: &[u8]) -> LogFmt {
        LogFmt {
            nodes: if t.is_empty() {
                Vec::new()
            } else {
                vec![Node::Lit(t.to_vec())]
            },
        }
    }

    /// The format is plain text (no sample to evaluate).
    pub fn literal(&self) -> Option<&[u8]> {
        match &self.nodes[..] {
            [] => Some(b""),
            [Node::Lit(l)] => Some(l),
            _ => None,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The sample expressions, in rendering order.
    pub fn samples(&self) -> impl Iterator<Item = &Expr> {
        self.nodes.iter().filter_map(|n| match n {
            Node::Smp(e) | Node::LSmp(e, _) => Some(e),
            _ => None,
        })
    }

    /// What rendering this format needs recorded.
    pub fn needs(&self) -> Needs {
        let mut n = Needs::default();
        for node in &self.nodes {
            match node {
                Node::LSmp(..) | Node::Smp(_) => n.samples = true,
                Node::Var(v, _) => match v {
                    Var::FeIp | Var::FePort => n.fe_addr = true,
                    Var::BeSrcIp | Var::BeSrcPort => n.be_src = true,
                    Var::ReqCounter => n.counter = true,
                    Var::Request
                    | Var::HttpMethod
                    | Var::HttpPath
                    | Var::HttpPathOnly
                    | Var::HttpQuery
                    | Var::HttpUri
                    | Var::HttpVersion => n.req_line = true,
                    Var::BytesOut
                    | Var::UniqueId
                    | Var::Ta
                    | Var::Tc
                    | Var::Th
                    | Var::Ti
                    | Var::Tq
                    | Var::Tr
                    | Var::TR
                    | Var::Td
                    | Var::Tt
                    | Var::Tu
                    | Var::Tw
                    | Var::BytesIn
                    | Var::ActConn
                    | Var::BeConn
                    | Var::BeQueue
                    | Var::FeConn
                    | Var::Retries
                    | Var::SrvConn
                    | Var::SrvQueue
                    | Var::TermState => n.bytes = true,
                    _ => {}
                },
                _ => {}
            }
        }
        n
    }

    /// Builds a log line (or unique id) into `out`, stopping at `max`
    /// bytes. `smp` evaluates a sample expression into its string form,
    /// false when it yields nothing.
    pub fn render_log(
        &self,
        li: &LogInfo<'_>,
        smp: &mut dyn FnMut(&Expr, &mut Vec<u8>) -> bool,
        max: usize,
        out: &mut Vec<u8>,
    ) {
        let start = out.len();
        let mut last_space = true;
        let mut tmp = Vec::new();
        for n in &self.nodes {
            match n {
                Node::Sep => {
                    if !last_space {
                        out.push(b' ');
                        last_space = true;
                    }
                }
                Node::Lit(l) => {
                    out.extend_from_slice(l);
                    last_space = false;
                }
                Node::Smp(e) => {
                    smp(e, out);
                    last_space = false;
                }
                Node::LSmp(e, o) => {
                    tmp.clear();
                    let found = smp(e, &mut tmp);
                    if o & OPT_HTTP != 0 {
                        encode(out, &tmp, b'%', is_http_enc, *o);
                    } else {
                        text(out, found.then_some(&tmp[..]), *o);
                    }
                    last_space = false;
                }
                Node::Var(v, o) => {
                    if render_var(*v, *o, li, out) {
                        last_space = false;
                    }
                }
            }
            if out.len() - start >= max {
                break;
            }
        }
        out.truncate(start + (out.len() - start).min(max));
    }
}

fn is_url_enc(c: u8) -> bool {
    !(32..127).contains(&c) || c == b'"' || c == b'#'
}
fn is_hdr_enc(c: u8) -> bool {
    is_url_enc(c) || c == b'{' || c == b'|' || c == b'}'
}
fn is_http_enc(c: u8) -> bool {
    c <= 0x08 || (0x0a..=0x1f).contains(&c) || c == 0x7f
}
fn is_rfc5424_esc(c: u8) -> bool {
    c == b'"' || c == b'\\' || c == b']'
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// Copies `s` encoding the characters `enc` selects as `<esc>XX`; with
/// +E, also backslash-escapes '"', '\' and ']'. A NUL ends the string.
fn encode(out: &mut Vec<u8>, s: &[u8], esc: u8, enc: fn(u8) -> bool, o: u8) {
    for &c in s {
        if c == 0 {
            break;
        }
        if enc(c) {
            out.extend_from_slice(&[esc, HEX[(c >> 4) as usize], HEX[(c & 15) as usize]]);
        } else if o & OPT_ESC != 0 && is_rfc5424_esc(c) {
            out.extend_from_slice(&[b'\\', c]);
        } else {
            out.push(c);
        }
    }
}

/// A text field (HAProxy's lf_text_len): quoted with +Q, escaped with
/// +E, "-" when missing and mandatory.
fn text(out: &mut Vec<u8>, s: Option<&[u8]>, o: u8) {
    if o & OPT_QUOTE != 0 {
        out.push(b'"');
    }
    match s.filter(|s| !s.is_empty()) {
        Some(s) => {
            let s = &s[..s.iter().position(|&c| c == 0).unwrap_or(s.len())];
            if o & OPT_ESC != 0 {
                for &c in s {
                    if is_rfc5424_esc(c) {
                        out.push(b'\\');
                    }
                    out.push(c);
                }
            } else {
                out.extend_from_slice(s);
            }
        }
        None => {
            if o & (OPT_QUOTE | OPT_MANDATORY) == OPT_MANDATORY {
                out.push(b'-');
            }
        }
    }
    if o & OPT_QUOTE != 0 {
        out.push(b'"');
    }
}

fn num(out: &mut Vec<u8>, v: i64) {
    out.extend_from_slice(itoa_buf(v).as_slice());
}

/// Small decimal formatting without going through `fmt`.
struct Digits {
    buf: [u8; 24],
    start: usize,
}
impl Digits {
    fn as_slice(&self) -> &[u8] {
        &self.buf[self.start..]
    }
}
fn itoa_buf(v: i64) -> Digits {
    let mut buf = [0u8; 24];
    let mut i = buf.len();
    let neg = v < 0;
    let mut u = v.unsigned_abs();
    loop {
        i -= 1;
        buf[i] = b'0' + (u % 10) as u8;
        u /= 10;
        if u == 0 {
            break;
        }
    }
    if neg {
        i -= 1;
        buf[i] = b'-';
    }
    Digits { buf, start: i }
}

fn hex_n(out: &mut Vec<u8>, v: u64, width: usize) {
    let mut digits = [0u8; 16];
    let mut n = 0;
    let mut u = v;
    loop {
        digits[n] = HEX[(u & 15) as usize];
        n += 1;
        u >>= 4;
        if u == 0 {
            break;
        }
    }
    for _ in n..width {
        out.push(b'0');
    }
    for k in (0..n).rev() {
        out.push(digits[k]);
    }
}

fn ip_field(out: &mut Vec<u8>, a: Option<SocketAddr>, o: u8) {
    match a {
        Some(a) if o & OPT_HEXA != 0 => match a.ip() {
            std::net::IpAddr::V4(v4) => {
                for b in v4.octets() {
                    hex_n(out, b as u64, 2);
                }
            }
            std::net::IpAddr::V6(v6) => {
                for b in v6.octets() {
                    hex_n(out, b as u64, 2);
                }
            }
        },
        Some(a) => {
            use std::io::Write;
            let mut b = [0u8; 48];
            let mut w = &mut b[..];
            let _ = write!(w, "{}", a.ip());
            let n = 48 - w.len();
            text(out, Some(&b[..n]), o);
        }
        None => text(out, None, o),
    }
}

fn port_field(out: &mut Vec<u8>, a: Option<SocketAddr>, o: u8) {
    match a {
        Some(a) if o & OPT_HEXA != 0 => hex_n(out, a.port() as u64, 4),
        Some(a) => num(out, a.port() as i64),
        None => text(out, None, o),
    }
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Broken-down time: (year, month 0-11, day, hour, min, sec, utc offset s).
pub type Tm = (i64, usize, u32, u32, u32, u32, i64);

/// UTC broken-down time of a Unix timestamp (civil-from-days).
pub fn gmtime(secs: i64) -> Tm {
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        y,
        (m - 1) as usize,
        d,
        (rem / 3600) as u32,
        (rem / 60 % 60) as u32,
        (rem % 60) as u32,
        0,
    )
}

/// Local broken-down time (the process's time zone, as HAProxy's logs).
pub fn localtime(secs: i64) -> Tm {
    let t = secs as libc::time_t;
    // SAFETY: `tm` is plain data; localtime_r writes it and reads `t`,
    // both live for the call; a null return leaves us on UTC.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&t, &mut tm).is_null() {
            return gmtime(secs);
        }
        (
            tm.tm_year as i64 + 1900,
            tm.tm_mon.clamp(0, 11) as usize,
            tm.tm_mday as u32,
            tm.tm_hour as u32,
            tm.tm_min as u32,
            tm.tm_sec as u32,
            tm.tm_gmtoff,
        )
    }
}

fn pad2(out: &mut Vec<u8>, v: u32) {
    out.push(b'0' + (v / 10 % 10) as u8);
    out.push(b'0' + (v % 10) as u8);
}

/// `dd/Mon/yyyy:HH:MM:SS` then `.mmm` (ms Some) or ` +zzzz`.
fn date_field(out: &mut Vec<u8>, tm: Tm, ms: Option<u32>) {
    pad2(out, tm.2);
    out.push(b'/');
    out.extend_from_slice(MONTHS[tm.1].as_bytes());
    out.push(b'/');
    num(out, tm.0);
    out.push(b':');
    pad2(out, tm.3);
    out.push(b':');
    pad2(out, tm.4);
    out.push(b':');
    pad2(out, tm.5);
    match ms {
        Some(ms) => {
            out.push(b'.');
            out.push(b'0' + (ms / 100 % 10) as u8);
            pad2(out, ms % 100);
        }
        None => {
            let off = tm.6;
            out.push(b' ');
            out.push(if off < 0 { b'-' } else { b'+' });
            let a = off.unsigned_abs();
            pad2(out, (a / 3600) as u32);
            pad2(out, (a / 60 % 60) as u32);
        }
    }
}

/// HAProxy's `date2str_log` form (`dd/Mon/yyyy:HH:MM:SS.mmm`, local time)
/// of a wall-clock time in microseconds, for lines built outside a format.
pub fn log_date(out: &mut Vec<u8>, wall_us: i64) {
    let ms = (wall_us.rem_euclid(1_000_000) / 1000) as u32;
    date_field(out, localtime(wall_us.div_euclid(1_000_000)), Some(ms));
}

/// Renders one variable; false when it printed nothing that counts as a
/// field (captures with none configured).
fn render_var(v: Var, o: u8, li: &LogInfo<'_>, out: &mut Vec<u8>) -> bool {
    let plus = |out: &mut Vec<u8>| {
        if !li.final_bytes {
            out.push(b'+');
        }
    };
    let t_request = li.t_request;
    let idle_hs = if li.t_idle >= 0 { li.t_idle + li.t_handshake } else { 0 };
    let req_us = li.accept_us + idle_hs * 1000;
    let uri: &[u8] = li.uri.unwrap_or(b"<BADREQ>");
    match v {
        Var::CliIp => ip_field(out, li.src, o),
        Var::CliPort => match li.src {
            None if li.dst.is_none() && li.listener_id > 0 => num(out, li.listener_id as i64),
            a => port_field(out, a, o),
        },
        Var::FeIp => ip_field(out, li.dst, o),
        Var::FePort => port_field(out, li.dst, o),
        Var::BeSrcIp => ip_field(out, li.be_src, o),
        Var::BeSrcPort => port_field(out, li.be_src, o),
        Var::SrvIp => ip_field(out, li.srv_addr, o),
        Var::SrvPort => port_field(out, li.srv_addr, o),
        Var::Date => {
            let s = li.accept_us.div_euclid(1_000_000);
            date_field(
                out,
                localtime(s),
                Some((li.accept_us.rem_euclid(1_000_000) / 1000) as u32),
            );
        }
        Var::ReqDate => {
            let s = req_us.div_euclid(1_000_000);
            date_field(out, localtime(s), Some((req_us.rem_euclid(1_000_000) / 1000) as u32));
        }
        Var::DateGmt => date_field(out, gmtime(li.accept_us.div_euclid(1_000_000)), None),
        Var::ReqDateGmt => date_field(out, gmtime(req_us.div_euclid(1_000_000)), None),
        Var::DateLocal => date_field(out, localtime(li.accept_us.div_euclid(1_000_000)), None),
        Var::ReqDateLocal => date_field(out, localtime(req_us.div_euclid(1_000_000)), None),
        Var::Ts => {
            let s = li.accept_us.div_euclid(1_000_000);
            if o & OPT_HEXA != 0 {
                hex_n(out, s as u64, 4);
            } else {
                num(out, s);
            }
        }
        Var::Ms => {
            let ms = (li.accept_us.rem_euclid(1_000_000) / 1000) as u32;
            if o & OPT_HEXA != 0 {
                hex_n(out, ms as u64, 2);
            } else {
                out.push(b'0' + (ms / 100 % 10) as u8);
                pad2(out, ms % 100);
            }
        }
        Var::Frontend => text(out, Some(li.fe_name.as_bytes()), o),
        Var::FrontendXprt => {
            if o & OPT_QUOTE != 0 {
                out.push(b'"');
            }
            out.extend_from_slice(li.fe_name.as_bytes());
            if li.fe_ssl {
                out.push(b'~');
            }
            if o & OPT_QUOTE != 0 {
                out.push(b'"');
            }
        }
        Var::SslCipher => text(out, li.ssl_cipher.map(str::as_bytes), o),
        Var::SslVersion => text(out, li.ssl_ver.map(str::as_bytes), o),
        Var::Backend => text(out, Some(li.be_name.as_bytes()), o),
        Var::Server => text(out, Some(li.srv_name.as_bytes()), o),
        Var::Th => num(out, li.t_handshake),
        Var::Ti => num(out, li.t_idle),
        Var::TR => num(
            out,
            if t_request >= 0 {
                t_request - li.t_idle - li.t_handshake
            } else {
                -1
            },
        ),
        Var::Tq => num(out, t_request),
        Var::Tw => num(out, if li.t_queue >= 0 { li.t_queue - t_request } else { -1 }),
        Var::Tc => num(
            out,
            if li.t_connect >= 0 {
                li.t_connect - li.t_queue
            } else {
                -1
            },
        ),
        Var::Tr => num(out, if li.t_data >= 0 { li.t_data - li.t_connect } else { -1 }),
        Var::Td => {
            let v = if li.be_http {
                if li.t_data >= 0 {
                    li.t_close - li.t_data
                } else {
                    -1
                }
            } else if li.t_connect >= 0 {
                li.t_close - li.t_connect
            } else {
                -1
            };
            num(out, v)
        }
        Var::Ta => {
            plus(out);
            num(out, li.t_close - idle_hs)
        }
        Var::Tt => {
            plus(out);
            num(out, li.t_close)
        }
        Var::Tu => {
            plus(out);
            num(out, li.t_close - li.t_idle.max(0))
        }
        Var::Status => num(out, li.status),
        Var::BytesOut => {
            plus(out);
            num(out, li.bytes_out as i64)
        }
        Var::BytesIn => num(out, li.bytes_in as i64),
        Var::CookieCli => text(out, li.cli_cookie, o),
        Var::CookieSrv => text(out, li.srv_cookie, o),
        Var::TermState | Var::TermStateCk => {
            out.push(if li.term.0 == 0 { b'-' } else { li.term.0 });
            out.push(if li.term.1 == 0 { b'-' } else { li.term.1 });
            if v == Var::TermStateCk {
                out.push(if li.ck.0 == 0 { b'-' } else { li.ck.0 });
                out.push(if li.ck.1 == 0 { b'-' } else { li.ck.1 });
            }
        }
        Var::ActConn => num(out, li.actconn as i64),
        Var::FeConn => num(out, li.feconn as i64),
        Var::BeConn => num(out, li.beconn as i64),
        Var::SrvConn => num(out, li.srvconn as i64),
        Var::Retries => {
            if li.redispatched {
                out.push(b'+');
            }
            num(out, li.retries)
        }
        Var::SrvQueue => num(out, li.srv_queue),
        Var::BeQueue => num(out, li.be_queue),
        Var::HdrReq | Var::HdrRes => {
            let caps = if v == Var::HdrReq { li.req_caps } else { li.res_caps };
            if caps.is_empty() {
                return false;
            }
            if o & OPT_QUOTE != 0 {
                out.push(b'"');
            }
            out.push(b'{');
            for (k, c) in caps.iter().enumerate() {
                if k > 0 {
                    out.push(b'|');
                }
                if let Some(c) = c {
                    encode(out, c, b'#', is_hdr_enc, o);
                }
            }
            out.push(b'}');
            if o & OPT_QUOTE != 0 {
                out.push(b'"');
            }
        }
        Var::HdrReqList | Var::HdrResList => {
            let caps = if v == Var::HdrReqList { li.req_caps } else { li.res_caps };
            if caps.is_empty() {
                return false;
            }
            for (k, c) in caps.iter().enumerate() {
                if k > 0 {
                    out.push(b' ');
                }
                if o & OPT_QUOTE != 0 {
                    out.push(b'"');
                }
                match c {
                    Some(c) => encode(out, c, b'#', is_hdr_enc, o),
                    None if o & OPT_QUOTE == 0 => out.push(b'-'),
                    None => {}
                }
                if o & OPT_QUOTE != 0 {
                    out.push(b'"');
                }
            }
        }
        Var::Request => {
            if o & OPT_QUOTE != 0 {
                out.push(b'"');
            }
            encode(out, uri, b'#', is_url_enc, o);
            if o & OPT_QUOTE != 0 {
                out.push(b'"');
            }
        }
        Var::HttpPath | Var::HttpPathOnly | Var::HttpUri | Var::HttpQuery | Var::HttpMethod | Var::HttpVersion => {
            let part = uri_part(v, li.uri);
            if o & OPT_QUOTE != 0 {
                out.push(b'"');
            }
            encode(out, part, b'#', is_url_enc, o);
            if o & OPT_QUOTE != 0 {
                out.push(b'"');
            }
        }
        Var::ReqCounter => {
            if o & OPT_HEXA != 0 {
                hex_n(out, li.uniq_id & 0xffff_ffff, 4);
            } else {
                num(out, (li.uniq_id & 0xffff_ffff) as i64);
            }
        }
        Var::LogCount => {
            if o & OPT_HEXA != 0 {
                hex_n(out, li.log_count & 0xffff_ffff, 4);
            } else {
                num(out, (li.log_count & 0xffff_ffff) as i64);
            }
        }
        Var::Hostname => text(out, Some(li.hostname.as_bytes()), o),
        Var::Pid => {
            if o & OPT_HEXA != 0 {
                hex_n(out, li.pid as u64, 4);
            } else {
                num(out, li.pid as i64);
            }
        }
        Var::UniqueId => text(out, Some(li.unique_id), o),
    }
    true
}

fn is_spht(c: u8) -> bool {
    c == b' ' || c == b'\t'
}

/// The parts of a captured request line the `%H*` variables print.
fn uri_part(v: Var, uri: Option<&[u8]>) -> &[u8] {
    let bad: &[u8] = b"<BADREQ>";
    let Some(u) = uri else { return bad };
    let m_end = u.iter().position(|&c| is_spht(c)).unwrap_or(u.len());
    let mut t = m_end;
    while t < u.len() && is_spht(u[t]) {
        t += 1;
    }
    let spaces = t > m_end;
    let t_end = t + u[t..].iter().position(|&c| is_spht(c)).unwrap_or(u.len() - t);
    let target = &u[t..t_end];
    match v {
        Var::HttpMethod => {
            if m_end == u.len() {
                bad
            } else {
                &u[..m_end]
            }
        }
        Var::HttpUri if spaces => target,
        Var::HttpPath if spaces => {
            let e = target.iter().position(|&c| c == b'?').unwrap_or(target.len());
            &target[..e]
        }
        Var::HttpPathOnly if spaces => crate::sample::uri_path(target),
        Var::HttpQuery => {
            let q = u.iter().position(|&c| c == b'?').unwrap_or(u.len());
            let e = q + u[q..].iter().position(|&c| is_spht(c)).unwrap_or(u.len() - q);
            &u[q..e]
        }
        Var::HttpVersion if spaces => {
            let mut k = t_end;
            while k < u.len() && is_spht(u[k]) {
                k += 1;
            }
            if k == u.len() {
                b"HTTP/0.9"
            } else {
                &u[k..]
            }
        }
        _ => bad,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::tests::with_req;

    fn render(f: &str) -> String {
        let lf = LogFmt::parse(f, Dir::Req).unwrap();
        let mut out = Vec::new();
        with_req(b"GET /p?q=1 HTTP/1.1\r\nX-A: v\r\n\r\n", |cx| lf.render(cx, &mut out));
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn brackets_inside_converter_arguments() {
        // The expression ends at the first ']' outside the arguments.
        assert_eq!(
            render(r#"<%[str('{"a":[1,{"c":"x"}]}'),json_query('$.a[1].c')]>"#),
            "<x>"
        );
    }

    #[test]
    fn formats() {
        assert_eq!(render("plain"), "plain");
        assert_eq!(render("%[req.hdr(x-a)]"), "v");
        assert_eq!(render("a=%[req.hdr(x-a),upper] p=%[path]%%"), "a=V p=/p%");
        assert_eq!(render("<%[req.hdr(none)]>"), "<>");
        assert_eq!(render("/fe%[path]"), "/fe/p");
        assert_eq!(LogFmt::parse("x", Dir::Req).unwrap().literal(), Some(&b"x"[..]));
        assert!(LogFmt::parse("%ci", Dir::Req).unwrap_err().contains("%ci"));
        assert!(LogFmt::parse("%[path", Dir::Req).is_err());
        assert!(LogFmt::parse("%[nope]", Dir::Req).unwrap_err().contains("'nope'"));
    }

    fn li() -> LogInfo<'static> {
        static CAPS: [Option<&[u8]>; 0] = [];
        LogInfo {
            fe_name: "fe",
            be_name: "be",
            srv_name: "s1",
            src: Some("10.0.0.1:4000".parse().unwrap()),
            dst: Some("127.0.0.1:80".parse().unwrap()),
            be_src: Some("127.0.0.1:5555".parse().unwrap()),
            srv_addr: Some("[::1]:8080".parse().unwrap()),
            // 2021-03-04 05:06:07.089 UTC
            accept_us: 1_614_834_367_089_012,
            t_handshake: 0,
            t_idle: 2,
            t_request: 5,
            t_queue: 6,
            t_connect: 8,
            t_data: 20,
            t_close: 30,
            status: 200,
            bytes_in: 77,
            bytes_out: 1234,
            final_bytes: true,
            be_http: true,
            term: (b'C', b'D'),
            actconn: 3,
            feconn: 2,
            beconn: 1,
            srvconn: 0,
            retries: 1,
            uri: Some(b"GET /p/a?x=1 HTTP/1.1"),
            req_caps: &CAPS,
            res_caps: &CAPS,
            uniq_id: 255,
            log_count: 9,
            pid: 4242,
            hostname: "host",
            unique_id: b"UID",
            ..LogInfo::default()
        }
    }

    fn lf(f: &str, info: &LogInfo<'_>) -> String {
        let fmt = LogFmt::parse_log(f, ParseOpts::log(true)).unwrap();
        let mut out = Vec::new();
        fmt.render_log(info, &mut |_, _| false, 1024, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn log_variables() {
        let i = li();
        assert_eq!(
            lf("%ci:%cp %fi:%fp %bi:%bp %si:%sp", &i),
            "10.0.0.1:4000 127.0.0.1:80 127.0.0.1:5555 ::1:8080"
        );
        assert_eq!(lf("%{+X}ci:%{+X}cp", &i), "0A000001:0FA0");
        assert_eq!(
            lf("%f %ft %b %s %H %pid %{+X}pid %ID", &i),
            "fe fe be s1 host 4242 1092 UID"
        );
        assert_eq!(
            lf("%Th/%Ti/%TR/%Tq/%Tw/%Tc/%Tr/%Td/%Ta/%Tt/%Tu", &i),
            "0/2/3/5/1/2/12/10/28/30/28"
        );
        assert_eq!(
            lf("%ST %B %U %ts %tsc %ac/%fc/%bc/%sc/%rc %sq/%bq", &i),
            "200 1234 77 CD CD-- 3/2/1/0/1 0/0"
        );
        assert_eq!(
            lf("%rt %{+X}rt %lc %Ts %{+X}Ts %ms", &i),
            "255 00FF 9 1614834367 60406ABF 089"
        );
        assert_eq!(lf("%T", &i), "04/Mar/2021:05:06:07 +0000");
        assert_eq!(lf("%trg", &i), "04/Mar/2021:05:06:07 +0000");
        assert_eq!(
            lf("%r|%HM|%HU|%HP|%HPO|%HQ|%HV", &i),
            "GET /p/a?x=1 HTTP/1.1|GET|/p/a?x=1|/p/a|/p/a|?x=1|HTTP/1.1"
        );
        assert_eq!(
            lf("%{+Q}r %CC %CS %hr %hs %sslv", &i),
            "\"GET /p/a?x=1 HTTP/1.1\" - - -"
        );
        let t = lf("%t", &i);
        assert!(
            t.len() == "04/Mar/2021:05:06:07.089".len() && t.ends_with(".089") && t.contains("/2021:"),
            "{t}"
        );
        // Missing values.
        let none = LogInfo {
            src: None,
            uri: None,
            t_queue: -1,
            t_connect: -1,
            t_data: -1,
            t_request: -1,
            final_bytes: false,
            ..li()
        };
        assert_eq!(
            lf("%ci %{+Q}ci %r %HM %Tw/%Tc/%Tr %B %Tt", &none),
            "- \"\" <BADREQ> <BADREQ> -1/-1/-1 +1234 +30"
        );
        let redisp = LogInfo {
            redispatched: true,
            ..li()
        };
        assert_eq!(lf("%rc", &redisp), "+1");
    }

    #[test]
    fn log_escapes_and_spaces() {
        let i = LogInfo {
            uri: Some(b"GET /a\"b#c\x01 HTTP/1.1"),
            fe_name: "f\"e]",
            ..li()
        };
        assert_eq!(lf("%r", &i), "GET /a#22b#23c#01 HTTP/1.1");
        assert_eq!(lf("%{+E}f %f", &i), "f\\\"e\\] f\"e]");
        assert_eq!(lf("%{+Q}o %f %{-Q}b", &i), "\"f\"e]\" be");
        // Spaces are merged; fields printing nothing leave no double space.
        assert_eq!(lf("  a   %hr  %hs b ", &i), "a b ");
        assert_eq!(lf("100%% x%%", &i), "100% x%");
        let caps: [Option<&[u8]>; 2] = [Some(b"x|y"), None];
        let i = LogInfo {
            req_caps: &caps,
            ..li()
        };
        assert_eq!(lf("%hr %hrl %{+Q}hrl", &i), "{x#7Cy|} x#7Cy - \"x#7Cy\" \"\"");
    }

    #[test]
    fn log_format_errors() {
        let e = |f: &str, http: bool| LogFmt::parse_log(f, ParseOpts::log(http)).unwrap_err();
        assert_eq!(
            e("%zz", true),
            "no such format variable 'zz'. If you wanted to emit the '%' character verbatim, you need to use '%%'"
        );
        assert_eq!(e("%r", false), "format variable 'r' is reserved for HTTP mode");
        assert!(e("a %1", true).starts_with("unexpected variable name near '1' at position 3"));
        assert_eq!(
            e("%{+Q}", true),
            "parse argument modifier without variable name near '%{+Q}'"
        );
        assert!(e("%[src", true).starts_with("missing ']'"));
        assert!(e("%[nope]", true).contains("failed to parse sample expression <nope>"));
        assert_eq!(e("x%", true), "truncated line after '%'");
        let f = LogFmt::parse_log(super::super::log::HTTPLOG, ParseOpts::log(true)).unwrap();
        let n = f.needs();
        assert!(n.bytes && n.req_line && !n.fe_addr && !n.counter);
    }

    #[test]
    fn log_samples_and_truncation() {
        let f = LogFmt::parse_log("a=%[src] b=%{+Q}[str(x)] c=%[fe_name]", ParseOpts::log(true)).unwrap();
        let mut out = Vec::new();
        let mut n = 0;
        f.render_log(
            &li(),
            &mut |_, o| {
                n += 1;
                if n == 2 {
                    o.extend_from_slice(b"v");
                    true
                } else {
                    false
                }
            },
            1024,
            &mut out,
        );
        assert_eq!(out, b"a=- b=\"v\" c=-");
        let mut out = Vec::new();
        LogFmt::parse_log("%r", ParseOpts::log(true))
            .unwrap()
            .render_log(&li(), &mut |_, _| false, 5, &mut out);
        assert_eq!(out, b"GET /");
        // unique-id formats encode control characters as HTTP does.
        let u = LogFmt::parse_log("id-%[str(a)]", ParseOpts::unique_id(true)).unwrap();
        let mut out = Vec::new();
        u.render_log(
            &li(),
            &mut |_, o| {
                o.extend_from_slice(b"a\nb");
                true
            },
            128,
            &mut out,
        );
        assert_eq!(out, b"id-a%0Ab");
    }
}
