//! Samples (HAProxy's `sample.c`/`http_fetch.c` subset): typed values,
//! sample fetches over one HTTP message being analysed, converters, and
//! the `fetch(args),conv(args),...` expression syntax, compiled once at
//! start-up.
//!
//! Owns the evaluation context ([`Ctx`]), variables ([`Vars`]) and the
//! pending edits of a message ([`Edit`]: headers added by rules, a new
//! start line). It must not decide what rules do (that is `http_act`) nor
//! write to sockets; it reads the parsed head through spans into the
//! caller's buffer, so a fetch costs no copy until a value is produced.

use http::{eq_ignore_case, Header, Span};
use std::net::IpAddr;
use std::sync::Mutex;

/// A sample value. Strings are owned: samples only exist when rules run.
#[derive(Clone, Debug, PartialEq)]
pub enum Smp {
    Bool(bool),
    Int(i64),
    Str(Vec<u8>),
    Bin(Vec<u8>),
    Ip(IpAddr),
}

impl Smp {
    /// Textual form, as log-format and set-header print it.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        use std::io::Write;
        match self {
            Smp::Bool(b) => out.push(if *b { b'1' } else { b'0' }),
            Smp::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Smp::Str(s) | Smp::Bin(s) => out.extend_from_slice(s),
            Smp::Ip(ip) => {
                let _ = write!(out, "{ip}");
            }
        }
    }
    pub fn into_bytes(self) -> Vec<u8> {
        match self {
            Smp::Str(s) | Smp::Bin(s) => s,
            o => {
                let mut v = Vec::new();
                o.write_to(&mut v);
                v
            }
        }
    }
    /// Integer cast (HAProxy's c_str2int takes the leading digits).
    pub fn to_int(&self) -> Option<i64> {
        match self {
            Smp::Bool(b) => Some(*b as i64),
            Smp::Int(i) => Some(*i),
            Smp::Str(s) | Smp::Bin(s) => parse_int_prefix(s),
            Smp::Ip(IpAddr::V4(a)) => Some(u32::from(*a) as i64),
            Smp::Ip(_) => None,
        }
    }
    pub fn to_bool(&self) -> bool {
        match self {
            Smp::Bool(b) => *b,
            Smp::Int(i) => *i != 0,
            Smp::Str(s) | Smp::Bin(s) => parse_int_prefix(s).is_some_and(|i| i != 0),
            Smp::Ip(_) => true,
        }
    }
    pub fn to_ip(&self) -> Option<IpAddr> {
        match self {
            Smp::Ip(ip) => Some(*ip),
            Smp::Str(s) => std::str::from_utf8(s).ok()?.trim().parse().ok(),
            Smp::Int(i) => Some(IpAddr::V4((*i as u32).into())),
            _ => None,
        }
    }
}

fn parse_int_prefix(s: &[u8]) -> Option<i64> {
    let (neg, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let n = digits.iter().take_while(|c| c.is_ascii_digit()).count();
    if n == 0 {
        return None;
    }
    let mut v: i64 = 0;
    for &c in &digits[..n] {
        v = v.saturating_mul(10).saturating_add((c - b'0') as i64);
    }
    Some(if neg { -v } else { v })
}

/// Which message rules of a list look at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    Req,
    Res,
}

/// Variable scopes (`proc` is process-wide, the others per stream).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Proc,
    Sess,
    Txn,
    Req,
    Res,
}

/// A variable reference `scope.name`, parsed from `set-var(...)`/`var(...)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VarRef {
    pub scope: Scope,
    pub name: Box<str>,
}

impl VarRef {
    pub fn parse(s: &str) -> Result<VarRef, String> {
        let (sc, name) = s
            .split_once('.')
            .ok_or_else(|| format!("invalid variable name '{s}'. A variable name must be start by its scope. The scope can be 'proc', 'sess', 'txn', 'req', 'res' or 'check'"))?;
        let scope = match sc {
            "proc" => Scope::Proc,
            "sess" => Scope::Sess,
            "txn" => Scope::Txn,
            "req" => Scope::Req,
            "res" => Scope::Res,
            _ => return Err(format!("invalid variable scope in '{s}'")),
        };
        if name.is_empty()
            || !name
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'.')
        {
            return Err(format!("invalid variable name '{s}'"));
        }
        Ok(VarRef {
            scope,
            name: name.into(),
        })
    }
}

static PROC_VARS: Mutex<Vec<(Box<str>, Smp)>> = Mutex::new(Vec::new());

impl Smp {
    /// HAProxy's type name (`smp_to_type`), as `get var` prints it.
    pub fn type_name(&self) -> &'static str {
        match self {
            Smp::Bool(_) => "bool",
            Smp::Int(_) => "sint",
            Smp::Str(_) => "str",
            Smp::Bin(_) => "bin",
            Smp::Ip(IpAddr::V4(_)) => "ipv4",
            Smp::Ip(IpAddr::V6(_)) => "ipv6",
        }
    }
}

/// A process-wide variable by its full name (`proc.x`), for the CLI.
pub fn proc_var(name: &str) -> Option<Smp> {
    let r = VarRef::parse(name).ok().filter(|r| r.scope == Scope::Proc)?;
    Vars::default().get(&r)
}

/// A stream's variables. `sess` survives keep-alive requests; the others
/// are cleared by [`Vars::new_txn`].
#[derive(Default, Debug)]
pub struct Vars {
    sess: Vec<(Box<str>, Smp)>,
    txn: Vec<(Box<str>, Smp)>,
    req: Vec<(Box<str>, Smp)>,
    res: Vec<(Box<str>, Smp)>,
}

impl Vars {
    fn list(&mut self, s: Scope) -> &mut Vec<(Box<str>, Smp)> {
        match s {
            Scope::Sess => &mut self.sess,
            Scope::Txn => &mut self.txn,
            Scope::Req => &mut self.req,
            Scope::Res | Scope::Proc => &mut self.res,
        }
    }
    pub fn get(&mut self, v: &VarRef) -> Option<Smp> {
        if v.scope == Scope::Proc {
            let g = PROC_VARS.lock().unwrap_or_else(|e| e.into_inner());
            return g.iter().find(|(n, _)| *n == v.name).map(|(_, s)| s.clone());
        }
        self.list(v.scope)
            .iter()
            .find(|(n, _)| *n == v.name)
            .map(|(_, s)| s.clone())
    }
    pub fn set(&mut self, v: &VarRef, val: Smp) {
        fn put(l: &mut Vec<(Box<str>, Smp)>, name: &str, val: Smp) {
            match l.iter_mut().find(|(n, _)| &**n == name) {
                Some(e) => e.1 = val,
                None => l.push((name.into(), val)),
            }
        }
        if v.scope == Scope::Proc {
            let mut g = PROC_VARS.lock().unwrap_or_else(|e| e.into_inner());
            put(&mut g, &v.name, val);
            return;
        }
        put(self.list(v.scope), &v.name, val);
    }
    pub fn unset(&mut self, v: &VarRef) {
        if v.scope == Scope::Proc {
            PROC_VARS
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .retain(|(n, _)| *n != v.name);
            return;
        }
        self.list(v.scope).retain(|(n, _)| *n != v.name);
    }
    /// Some `sess` variable is set (it must outlive the transaction).
    pub fn has_sess(&self) -> bool {
        !self.sess.is_empty()
    }
    /// A new transaction on the same session.
    pub fn new_txn(&mut self) {
        self.txn.clear();
        self.req.clear();
        self.res.clear();
    }
}

/// What rules changed in a message, applied when it is serialised.
#[derive(Debug)]
pub struct Edit {
    /// Headers added by rules (after the parsed ones), names as given;
    /// one reusable arena, so adding costs no allocation once warm.
    pub added: http::AddedHdrs,
    /// Scratch for rendering a value before it is added, and for a head
    /// whose start line is rewritten (kept for their capacity, like `added`).
    pub tmp: Vec<u8>,
    pub tmp2: Vec<u8>,
    pub method: Option<Vec<u8>>,
    pub uri: Option<Vec<u8>>,
    pub status: Option<u16>,
    pub reason: Option<Vec<u8>>,
    /// A `wait-for-body` rule took over an `Expect: 100-continue`: the
    /// stream answers `100 Continue` itself (not an edit of the message).
    pub continue_100: bool,
    /// A `tcp-request connection expect-proxy layer4` rule ran.
    pub expect_proxy: bool,
    /// Bytes the message may still grow by in its buffer (set by the
    /// stream before the rules run; unlimited by default), what rewrites
    /// took of it so far, `strict-mode off`, and the rewrites that did
    /// not fit since the stream last counted them.
    pub room: i64,
    pub grown: i64,
    pub soft_rw: bool,
    pub rw_failed: u32,
}

impl Default for Edit {
    fn default() -> Edit {
        Edit {
            added: http::AddedHdrs::new(),
            tmp: Vec::new(),
            tmp2: Vec::new(),
            method: None,
            uri: None,
            status: None,
            reason: None,
            continue_100: false,
            expect_proxy: false,
            room: i64::MAX,
            grown: 0,
            soft_rw: false,
            rw_failed: 0,
        }
    }
}

impl Edit {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty()
            && self.method.is_none()
            && self.uri.is_none()
            && self.status.is_none()
            && self.reason.is_none()
    }
    pub fn clear(&mut self) {
        self.added.clear();
        self.method = None;
        self.uri = None;
        self.status = None;
        self.continue_100 = false;
        self.reason = None;
        // The next message starts strict, with its own room.
        self.room = i64::MAX;
        self.grown = 0;
        self.soft_rw = false;
    }
}

/// The start line of the message in `Ctx::buf`.
#[derive(Clone, Copy, Debug)]
pub enum Line {
    Req { method: Span, uri: Span, version: Span },
    Res { status: u16, reason: Span, version: Span },
}

/// Stream facts fetches may ask for.
#[derive(Clone, Copy, Debug, Default)]
pub struct Info<'a> {
    pub fe_name: &'a str,
    pub be_name: &'a str,
    pub srv_name: &'a str,
    pub fe_id: u32,
    pub be_id: Option<u32>,
    pub srv_id: Option<u32>,
    /// The listener's explicit name (`bind ... name`).
    pub so_name: Option<&'a str>,
    /// The last rule that gave a final verdict on this stream (file,
    /// line): `last_rule_file`/`last_rule_line`.
    pub last_rule: Option<(&'static str, u32)>,
    pub src: Option<std::net::SocketAddr>,
    pub dst: Option<std::net::SocketAddr>,
    pub first_req: bool,
    /// The stream's unique id (`unique-id-format`), empty when none.
    pub unique_id: &'a [u8],
    /// The client connection's PROXY protocol state, if it expected one.
    pub pp: Option<&'a crate::stream::proxy_hs::Pp>,
    /// The client connection's TLS layer (`ssl_fc*` fetches).
    pub tls: Option<&'a crate::ssl_sock::Tls>,
    /// The connection's tracked stick counters (`track-sc*`).
    pub stk: Option<&'a crate::stick_table::StkCtrs>,
}

/// What is buffered of the body of the message under analysis (its head
/// not forwarded yet): `req.body`/`res.body` read it and `wait-for-body`
/// decides on it.
#[derive(Clone, Copy, Debug, Default)]
pub struct BodyView<'a> {
    /// Body bytes as received after the head (chunk framing included
    /// when `chunked`), at most the declared length.
    pub raw: &'a [u8],
    pub chunked: bool,
    /// Payload bytes received.
    pub len: u64,
    /// The whole body is there, or the message has none.
    pub complete: bool,
    /// The buffer takes no more before something is forwarded.
    pub full: bool,
    /// Nothing more will come (the sender closed or failed).
    pub closed: bool,
    /// An HTTP/1.1 request with a body and `Expect: 100-continue`.
    pub expect_100: bool,
}

impl BodyView<'_> {
    /// The payload received so far, without chunk framing.
    pub fn payload(&self) -> Vec<u8> {
        if !self.chunked {
            return self.raw.to_vec();
        }
        let mut out = Vec::with_capacity(self.len as usize);
        let mut dec = http::BodyDecoder::new(http::BodyFraming::Chunked, false);
        let mut at = 0;
        while let Ok(ev) = dec.decode(&self.raw[at..]) {
            match ev {
                http::BodyEvent::Data(n) => {
                    out.extend_from_slice(&self.raw[at..at + n]);
                    at += n;
                }
                http::BodyEvent::ChunkSize { len: n, .. } | http::BodyEvent::ChunkEnd(n) => at += n,
                _ => break,
            }
        }
        out
    }
}

/// One message under analysis plus the stream state rules read and write.
pub struct Ctx<'a> {
    pub dir: Dir,
    pub buf: &'a [u8],
    pub hdrs: &'a mut Vec<Header>,
    pub line: Line,
    pub edit: &'a mut Edit,
    pub vars: &'a mut Vars,
    /// The request's method and URI as forwarded (response side).
    pub req_meth: &'a [u8],
    pub req_uri: &'a [u8],
    pub info: Info<'a>,
    /// The transaction's captures (frontends declaring capture slots).
    pub caps: Option<&'a mut crate::capture::Captures>,
    /// The message's buffered body (empty outside HTTP analysis).
    pub body: BodyView<'a>,
}

impl Ctx<'_> {
    pub fn method(&self) -> &[u8] {
        match (&self.edit.method, self.line) {
            (Some(m), Line::Req { .. }) => m,
            (_, Line::Req { method, .. }) => method.get(self.buf),
            _ => self.req_meth,
        }
    }
    pub fn uri(&self) -> &[u8] {
        match (&self.edit.uri, self.line) {
            (Some(u), Line::Req { .. }) => u,
            (_, Line::Req { uri, .. }) => uri.get(self.buf),
            _ => self.req_uri,
        }
    }
    pub fn status(&self) -> Option<u16> {
        match self.line {
            Line::Res { status, .. } => Some(self.edit.status.unwrap_or(status)),
            _ => None,
        }
    }
    /// Every header (name, value) in output order: parsed ones still
    /// present, then the ones rules added.
    pub fn each_header(&self, mut f: impl FnMut(&[u8], &[u8])) {
        for h in self.hdrs.iter() {
            f(h.name.get(self.buf), h.value.get(self.buf));
        }
        for (n, v) in self.edit.added.iter() {
            f(n, v);
        }
    }
    /// Values of header `name`, split on commas unless `full`.
    pub fn header_values(&self, name: &[u8], full: bool) -> Vec<&[u8]> {
        let mut out: Vec<&[u8]> = Vec::new();
        let parsed = self.hdrs.iter().map(|h| (h.name.get(self.buf), h.value.get(self.buf)));
        let added = self.edit.added.iter();
        for (n, v) in parsed.chain(added) {
            if !eq_ignore_case(n, name) {
                continue;
            }
            if full {
                out.push(trim(v));
            } else {
                split_values(v, &mut out);
            }
        }
        out
    }
    /// Whether `f` holds for a value of header `name` (split on commas
    /// unless `full`), parsed headers first, then added ones, as
    /// [`Ctx::header_values`] lists them but without collecting or copying.
    pub fn any_header_value(&self, name: &[u8], full: bool, f: &mut dyn FnMut(&[u8]) -> bool) -> bool {
        let parsed = self.hdrs.iter().map(|h| (h.name.get(self.buf), h.value.get(self.buf)));
        for (n, v) in parsed.chain(self.edit.added.iter()) {
            if !eq_ignore_case(n, name) {
                continue;
            }
            let hit = if full { f(trim(v)) } else { split_values_until(v, f) };
            if hit {
                return true;
            }
        }
        false
    }
    /// Removes every header whose name satisfies `pred`.
    pub fn del_headers(&mut self, mut pred: impl FnMut(&[u8]) -> bool) {
        let buf = self.buf;
        self.hdrs.retain(|h| !pred(h.name.get(buf)));
        self.edit.added.retain(|n, _| !pred(n));
    }
}

/// Splits a header value on the commas outside double quotes, each
/// element trimmed, as HAProxy's `http_find_header` walks values: an empty
/// value is one empty element, and so is what follows a trailing comma.
fn split_values<'a>(v: &'a [u8], out: &mut Vec<&'a [u8]>) {
    split_values_until(v, &mut |x| {
        out.push(x);
        false
    });
}

/// [`split_values`] without collecting: `f` sees each element in turn and
/// stops the walk by returning true (the result then).
fn split_values_until<'a>(v: &'a [u8], f: &mut dyn FnMut(&'a [u8]) -> bool) -> bool {
    let (mut start, mut quoted, mut esc) = (0, false, false);
    for (i, &c) in v.iter().enumerate() {
        if esc {
            esc = false;
        } else if quoted {
            match c {
                b'\\' => esc = true,
                b'"' => quoted = false,
                _ => {}
            }
        } else if c == b'"' {
            quoted = true;
        } else if c == b',' {
            if f(trim(&v[start..i])) {
                return true;
            }
            start = i + 1;
        }
    }
    f(trim(&v[start..]))
}

fn trim(v: &[u8]) -> &[u8] {
    let s = v.iter().position(|c| !c.is_ascii_whitespace()).unwrap_or(v.len());
    let e = v.iter().rposition(|c| !c.is_ascii_whitespace()).map_or(s, |e| e + 1);
    &v[s..e.max(s)]
}

/// A sample fetch.
#[derive(Clone, Debug, PartialEq)]
pub enum Fetch {
    /// `req.hdr`/`res.hdr`/`hdr` (split on commas) or `*.fhdr` (full);
    /// `occ` as HAProxy: 0 or absent = last for samples, negative from the end.
    Hdr {
        dir: Dir,
        name: Vec<u8>,
        occ: i32,
        full: bool,
    },
    HdrCnt {
        dir: Dir,
        name: Option<Vec<u8>>,
        full: bool,
    },
    Method,
    Path,
    PathQ,
    Query,
    Url,
    Base,
    ReqVer,
    ResVer,
    Status,
    FirstReq,
    /// `req.body`/`res.body` (`len`: `*.body_len`), from the message of
    /// that direction while it is analysed.
    Body {
        dir: Dir,
        len: bool,
    },
    /// `var(name[,default])`: the default is a string sample.
    Var(VarRef, Option<Vec<u8>>),
    Src,
    Dst,
    SrcPort,
    DstPort,
    Const(Smp),
    FeName,
    BeName,
    SrvName,
    /// `capture.req.hdr(n)` / `capture.res.hdr(n)`.
    Capture {
        res: bool,
        idx: usize,
    },
    /// `req.cook`/`res.cook` (and `cook_cnt`, `cook_val`): an empty
    /// name means any cookie.
    Cook {
        dir: Dir,
        name: Vec<u8>,
        what: CookWhat,
    },
    FeId,
    BeId,
    SrvId,
    SoName,
    LastRuleFile,
    LastRuleLine,
    /// `fc_rcvd_proxy`, `fc_pp_authority`, `fc_pp_unique_id`: what the
    /// client connection's PROXY header brought.
    RcvdProxy,
    /// `ssl_fc*` / `ssl_c_used`: the client connection's TLS layer.
    Ssl(SslFc),
    PpAuthority,
    PpUniqueId,
    Uuid,
    UrlParam {
        name: Vec<u8>,
    },
    UniqueId,
    /// `sc*_*`, `src_*`, `table_cnt`/`table_avl`: stick counters.
    Stk(Box<crate::stick_table::StkFetch>),
    /// `http_auth(<userlist>)`: Basic credentials valid in the userlist.
    HttpAuth(UlRef),
    /// `http_auth_group(<userlist>)`: the user name when the credentials
    /// are valid; its ACLs match the user's groups.
    HttpAuthGroup(UlRef),
    HttpAuthType,
    HttpAuthUser,
    HttpAuthPass,
    /// `http_auth_bearer([<header>])`.
    HttpAuthBearer(Option<Vec<u8>>),
}

/// A userlist argument; None only while `-c` compiles a line before the
/// userlists are known (start-up always resolves it).
#[derive(Clone, Debug)]
pub struct UlRef(pub Option<std::sync::Arc<crate::auth::Userlist>>);

impl PartialEq for UlRef {
    fn eq(&self, o: &UlRef) -> bool {
        match (&self.0, &o.0) {
            (Some(a), Some(b)) => std::sync::Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        }
    }
}

/// What an `ssl_fc*` fetch reads of the front TLS connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SslFc {
    /// `ssl_fc`: the connection is TLS.
    Used,
    Sni,
    HasSni,
    Protocol,
    Cipher,
    Alpn,
    /// `ssl_fc_use_keysize` / `ssl_fc_alg_keysize`.
    Keysize,
    /// `ssl_c_used`, `ssl_fc_has_crt`: the client sent a certificate.
    ClientCert,
    /// `ssl_c_verify`, `ssl_c_ca_err`, `ssl_c_err`: 0 (X509_V_OK), as a
    /// certificate that fails verification fails the handshake here
    /// (no `ca-ignore-err`/`crt-ignore-err`).
    VerifyErr,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CookWhat {
    Value,
    Count,
    Int,
}

/// A converter.
#[derive(Clone, Debug, PartialEq)]
pub enum Conv {
    /// `json_query(<path>[,"int"])`.
    JsonQuery {
        path: Vec<u8>,
        int: bool,
    },
    Lower,
    Upper,
    Length,
    Hex,
    Base64,
    Crc32(bool),
    Djb2(bool),
    Sdbm(bool),
    Wt6(bool),
    Field {
        idx: i64,
        delims: Vec<u8>,
        count: i64,
    },
    Word {
        idx: i64,
        delims: Vec<u8>,
        count: i64,
    },
    Bytes {
        off: i64,
        len: Option<i64>,
    },
    Arith(ArithOp, IntArg),
    Neg,
    Not,
    Bool,
    Odd,
    Even,
    Concat(Vec<u8>, Option<VarRef>, Vec<u8>),
    Ltrim(Vec<u8>),
    Rtrim(Vec<u8>),
    IpMask(u8),
    Iif(Vec<u8>, Vec<u8>),
    /// `url_dec([in_form])`: `+` is a space in a form, and after a `?`.
    UrlDec(bool),
    UrlEnc,
    AddItem(Vec<u8>, Option<VarRef>, Vec<u8>),
    Be2Dec {
        sep: Vec<u8>,
        chunk: usize,
        trunc: bool,
    },
    Be2Hex {
        sep: Vec<u8>,
        chunk: usize,
        trunc: bool,
    },
    Json(JsonIn),
    B64Dec,
    Ub64Enc,
    Ub64Dec,
    Sha1,
    Crc32c(bool),
    Xxh3(u64),
    Xxh32(u32),
    Xxh64(u64),
    Strcmp(VarRef),
    SecureMemcmp(VarRef),
    Regsub(crate::regex::Regex, Vec<u8>, bool),
    HexToInt,
    Cpl,
    Htonl,
    CutCrlf,
    /// `map*`: the shared map and the default value.
    Map(std::sync::Arc<crate::map::Expr>, Option<Smp>),
    /// `table_*` and `in_table`: the sample as a key of a stick table.
    Table(crate::stick_table::TableRef, crate::stick_table::StkWhat),
}

impl Conv {
    /// The converter's input type is a string (not binary).
    fn takes_str(&self) -> bool {
        matches!(
            self,
            Conv::Lower
                | Conv::Upper
                | Conv::Length
                | Conv::Field { .. }
                | Conv::Word { .. }
                | Conv::Concat(..)
                | Conv::AddItem(..)
                | Conv::Ltrim(_)
                | Conv::Rtrim(_)
                | Conv::UrlDec(_)
                | Conv::UrlEnc
                | Conv::Json(_)
                | Conv::JsonQuery { .. }
                | Conv::B64Dec
                | Conv::Ub64Dec
                | Conv::Strcmp(_)
                | Conv::Regsub(..)
                | Conv::HexToInt
                | Conv::CutCrlf
        )
    }
}

/// How `json` reads its input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JsonIn {
    Ascii,
    /// (skip invalid sequences instead of failing, only reject bad ranges
    /// and bad sequences: the `p` variants)
    Utf8 {
        skip: bool,
        partial: bool,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArithOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    And,
    Or,
    Xor,
}

/// An integer argument: a constant or a variable.
#[derive(Clone, Debug, PartialEq)]
pub enum IntArg {
    Const(i64),
    Var(VarRef),
}

/// `fetch,conv,...`.
#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    pub fetch: Fetch,
    pub convs: Vec<Conv>,
}

/// Splits `name(args)` at the start of `s`; returns (name, args, rest).
fn split_call(s: &str) -> Result<(&str, Vec<String>, &str), String> {
    let end = s.find(['(', ',']).unwrap_or(s.len());
    let name = &s[..end];
    if s[end..].starts_with('(') {
        // Arguments end at the matching ')', honouring quotes.
        let b = s.as_bytes();
        let mut i = end + 1;
        let mut args = Vec::new();
        // Bytes, not chars: splitting happens on ASCII only, so each
        // argument stays valid UTF-8.
        let mut cur: Vec<u8> = Vec::new();
        let text =
            |v: Vec<u8>| String::from_utf8(v).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
        let mut q: Option<u8> = None;
        loop {
            let Some(&c) = b.get(i) else {
                return Err(format!("missing closing ')' after arguments to '{name}'"));
            };
            match (q, c) {
                (Some(qc), _) if c == qc => q = None,
                (None, b'"' | b'\'') => q = Some(c),
                (_, b'\\') if b.get(i + 1).is_some() => {
                    cur.push(b[i + 1]);
                    i += 1;
                }
                (None, b',') => args.push(text(std::mem::take(&mut cur))),
                (None, b')') => {
                    args.push(text(cur));
                    break;
                }
                _ => cur.push(c),
            }
            i += 1;
        }
        if args.len() == 1 && args[0].is_empty() {
            args.clear();
        }
        Ok((name, args, &s[i + 1..]))
    } else {
        Ok((name, Vec::new(), &s[end..]))
    }
}

fn int_arg(a: Option<&String>, what: &str) -> Result<i64, String> {
    let a = a.ok_or_else(|| format!("missing argument for '{what}'"))?;
    a.trim()
        .parse()
        .map_err(|_| format!("invalid integer argument '{a}' for '{what}'"))
}

fn opt_var(a: Option<&String>) -> Result<Option<VarRef>, String> {
    match a.map(|s| s.as_str()) {
        None | Some("") => Ok(None),
        Some(s) => VarRef::parse(s).map(Some),
    }
}

/// Parses a sample expression. `dir` resolves direction-less fetches
/// (`hdr()` reads the request in http-request rules, the response in
/// response rules). Unknown names are errors naming them.
pub fn parse_expr(s: &str, dir: Dir) -> Result<Expr, String> {
    let (name, args, mut rest) = split_call(s)?;
    let a0 = args.first().cloned().unwrap_or_default();
    let hdr = |d: Dir, full: bool| -> Result<Fetch, String> {
        let occ = match args.get(1) {
            Some(o) => o.trim().parse().map_err(|_| {
                format!("fetch method '{name}' : failed to parse '{o}' as type 'integer' at position 2")
            })?,
            None => 0,
        };
        Ok(Fetch::Hdr {
            dir: d,
            name: a0.as_bytes().to_vec(),
            occ,
            full,
        })
    };
    let cnt = |d: Dir, full: bool| Fetch::HdrCnt {
        dir: d,
        name: (!a0.is_empty()).then(|| a0.as_bytes().to_vec()),
        full,
    };
    let fetch = match name {
        "req.hdr" => hdr(Dir::Req, false)?,
        "req.fhdr" => hdr(Dir::Req, true)?,
        "res.hdr" => hdr(Dir::Res, false)?,
        "res.fhdr" => hdr(Dir::Res, true)?,
        "hdr" => hdr(dir, false)?,
        "fhdr" => hdr(dir, true)?,
        "shdr" => hdr(Dir::Res, false)?,
        "req.hdr_cnt" => cnt(Dir::Req, false),
        "req.fhdr_cnt" => cnt(Dir::Req, true),
        "res.hdr_cnt" => cnt(Dir::Res, false),
        "res.fhdr_cnt" => cnt(Dir::Res, true),
        "hdr_cnt" => cnt(dir, false),
        "fhdr_cnt" => cnt(dir, true),
        "method" => Fetch::Method,
        "path" => Fetch::Path,
        "pathq" => Fetch::PathQ,
        "query" => Fetch::Query,
        "capture.req.hdr" | "capture.res.hdr" => Fetch::Capture {
            res: name == "capture.res.hdr",
            idx: int_arg(args.first(), name)?.max(0) as usize,
        },
        "url" | "capture.req.uri" => Fetch::Url,
        "capture.req.method" => Fetch::Method,
        "base" => Fetch::Base,
        "req.ver" | "req_ver" | "capture.req.ver" => Fetch::ReqVer,
        "res.ver" | "resp_ver" | "capture.res.ver" => Fetch::ResVer,
        "status" => Fetch::Status,
        "http_first_req" => Fetch::FirstReq,
        "req.body" | "res.body" | "req.body_len" | "res.body_len" => Fetch::Body {
            dir: if name.starts_with("res.") { Dir::Res } else { Dir::Req },
            len: name.ends_with("_len"),
        },
        "var" => Fetch::Var(VarRef::parse(&a0)?, args.get(1).map(|d| d.as_bytes().to_vec())),
        "src" => Fetch::Src,
        "dst" => Fetch::Dst,
        "src_port" => Fetch::SrcPort,
        "dst_port" => Fetch::DstPort,
        "str" => Fetch::Const(Smp::Str(a0.into_bytes())),
        "int" => Fetch::Const(Smp::Int(a0.trim().parse().map_err(|_| {
            format!("fetch method 'int' : failed to parse '{a0}' as type 'integer' at position 1")
        })?)),
        "bool" => Fetch::Const(Smp::Bool(match a0.as_str() {
            "1" => true,
            "0" => false,
            t if t.eq_ignore_ascii_case("true") => true,
            t if t.eq_ignore_ascii_case("false") => false,
            _ => return Err("invalid args in fetch method 'bool' : Expects 'true', 'false', '0' or '1'".into()),
        })),
        "always_true" => Fetch::Const(Smp::Bool(true)),
        "always_false" => Fetch::Const(Smp::Bool(false)),
        "ipv4" | "ipv6" => Fetch::Const(Smp::Ip(a0.parse().map_err(|_| format!("invalid IP address '{a0}'"))?)),
        "fe_name" => Fetch::FeName,
        "be_name" => Fetch::BeName,
        "srv_name" => Fetch::SrvName,
        "req.cook" | "cook" | "req.cook_cnt" | "cook_cnt" | "req.cook_val" | "cook_val" | "res.cook" | "scook"
        | "res.cook_cnt" | "scook_cnt" | "res.cook_val" | "scook_val" | "cookie" => {
            let d = match name {
                "cookie" => dir,
                n if n.starts_with("res.") || n.starts_with('s') => Dir::Res,
                _ => Dir::Req,
            };
            let what = if name.ends_with("_cnt") {
                CookWhat::Count
            } else if name.ends_with("_val") {
                CookWhat::Int
            } else {
                CookWhat::Value
            };
            Fetch::Cook {
                dir: d,
                name: a0.into_bytes(),
                what,
            }
        }
        "fe_id" => Fetch::FeId,
        "be_id" => Fetch::BeId,
        "srv_id" => Fetch::SrvId,
        "so_name" => Fetch::SoName,
        "last_rule_file" => Fetch::LastRuleFile,
        "last_rule_line" => Fetch::LastRuleLine,
        // `wait_end` (the WAIT_END ACL): true, since content rules only
        // run once their message head is all there (the final pass).
        "wait_end" => Fetch::Const(Smp::Bool(true)),
        "fc_rcvd_proxy" => Fetch::RcvdProxy,
        "ssl_fc" => Fetch::Ssl(SslFc::Used),
        "ssl_fc_sni" => Fetch::Ssl(SslFc::Sni),
        "ssl_fc_has_sni" => Fetch::Ssl(SslFc::HasSni),
        "ssl_fc_protocol" => Fetch::Ssl(SslFc::Protocol),
        "ssl_fc_cipher" => Fetch::Ssl(SslFc::Cipher),
        "ssl_fc_alpn" => Fetch::Ssl(SslFc::Alpn),
        "ssl_fc_use_keysize" | "ssl_fc_alg_keysize" => Fetch::Ssl(SslFc::Keysize),
        "ssl_c_used" | "ssl_fc_has_crt" => Fetch::Ssl(SslFc::ClientCert),
        "ssl_c_verify" | "ssl_c_ca_err" | "ssl_c_err" => Fetch::Ssl(SslFc::VerifyErr),
        "fc_pp_authority" => Fetch::PpAuthority,
        "fc_pp_unique_id" => Fetch::PpUniqueId,
        "uuid" => {
            match args.first().map(|x| x.trim()) {
                None | Some("") | Some("4") => {}
                Some(_) => return Err("fetch method 'uuid' : Unsupported UUID version".into()),
            }
            Fetch::Uuid
        }
        "bin" => Fetch::Const(Smp::Bin(
            hex_decode(a0.as_bytes()).ok_or_else(|| format!("invalid binary argument '{a0}' for 'bin'"))?,
        )),
        "urlp" | "url_param" => Fetch::UrlParam { name: a0.into_bytes() },
        "unique-id" => Fetch::UniqueId,
        "http_auth" | "http_auth_group" => {
            let ul = UlRef(crate::auth::find(&a0).map_err(|e| format!("fetch method '{name}' : {e}"))?);
            if name == "http_auth" {
                Fetch::HttpAuth(ul)
            } else {
                Fetch::HttpAuthGroup(ul)
            }
        }
        "http_auth_type" => Fetch::HttpAuthType,
        "http_auth_user" => Fetch::HttpAuthUser,
        "http_auth_pass" => Fetch::HttpAuthPass,
        "http_auth_bearer" => Fetch::HttpAuthBearer((!a0.is_empty()).then(|| a0.into_bytes())),
        _ if crate::stick_table::parse_fetch(name, &args).is_some() => {
            Fetch::Stk(Box::new(crate::stick_table::parse_fetch(name, &args).unwrap()?))
        }
        _ if is_haproxy_fetch(name) => return Err(format!("fetch method '{name}' is not supported yet by rhaproxy")),
        _ => return Err(format!("unknown fetch method '{name}'")),
    };
    let mut convs = Vec::new();
    while !rest.is_empty() {
        let r = rest
            .strip_prefix(',')
            .ok_or_else(|| format!("unexpected '{rest}' after '{name}'"))?;
        let (cname, cargs, r2) = split_call(r)?;
        rest = r2;
        convs.push(parse_conv(cname, &cargs)?);
    }
    Ok(Expr { fetch, convs })
}

fn parse_conv(name: &str, a: &[String]) -> Result<Conv, String> {
    let s = |i: usize| a.get(i).cloned().unwrap_or_default().into_bytes();
    let avalanche = || a.first().is_some_and(|x| x.trim() == "1");
    let int_or_var = |i: usize| -> Result<IntArg, String> {
        let x = a.get(i).ok_or_else(|| format!("missing argument for '{name}'"))?;
        match x.trim().parse() {
            Ok(v) => Ok(IntArg::Const(v)),
            Err(_) => VarRef::parse(x).map(IntArg::Var),
        }
    };
    let arith = |op: ArithOp| -> Result<Conv, String> { Ok(Conv::Arith(op, int_or_var(0)?)) };
    Ok(match name {
        "lower" => Conv::Lower,
        "upper" => Conv::Upper,
        "length" => Conv::Length,
        "hex" => Conv::Hex,
        "base64" => Conv::Base64,
        "crc32" => Conv::Crc32(avalanche()),
        "djb2" => Conv::Djb2(avalanche()),
        "sdbm" => Conv::Sdbm(avalanche()),
        "wt6" => Conv::Wt6(avalanche()),
        "field" | "word" => {
            let idx = int_arg(a.first(), name)?;
            let delims = s(1);
            if idx == 0 {
                return Err(format!("invalid args in converter '{name}' : Unexpected value 0 for index"));
            }
            if delims.is_empty() {
                return Err(format!("invalid args in converter '{name}' : Empty separators list"));
            }
            let count = match a.get(2) {
                Some(_) => int_arg(a.get(2), name)?,
                None => 1,
            };
            if name == "field" {
                Conv::Field { idx, delims, count }
            } else {
                Conv::Word { idx, delims, count }
            }
        }
        "bytes" => Conv::Bytes {
            off: int_arg(a.first(), name)?,
            len: match a.get(1) {
                Some(_) => Some(int_arg(a.get(1), name)?),
                None => None,
            },
        },
        "add" => arith(ArithOp::Add)?,
        "sub" => arith(ArithOp::Sub)?,
        "mul" => arith(ArithOp::Mul)?,
        "div" => arith(ArithOp::Div)?,
        "mod" => arith(ArithOp::Mod)?,
        "and" => arith(ArithOp::And)?,
        "or" => arith(ArithOp::Or)?,
        "xor" => arith(ArithOp::Xor)?,
        "neg" => Conv::Neg,
        "not" => Conv::Not,
        "bool" => Conv::Bool,
        "odd" => Conv::Odd,
        "even" => Conv::Even,
        "concat" => Conv::Concat(s(0), opt_var(a.get(1))?, s(2)),
        "add_item" => Conv::AddItem(s(0), opt_var(a.get(1))?, s(2)),
        "ltrim" => Conv::Ltrim(s(0)),
        "rtrim" => Conv::Rtrim(s(0)),
        "ipmask" => {
            let m = a.first().ok_or("missing mask for 'ipmask'")?;
            let bits = match m.parse::<u8>() {
                Ok(b) if b <= 32 => b,
                _ => match m.parse::<std::net::Ipv4Addr>() {
                    Ok(ip) => u32::from(ip).count_ones() as u8,
                    Err(_) => return Err(format!("invalid mask '{m}' for 'ipmask'")),
                },
            };
            Conv::IpMask(bits)
        }
        "iif" => Conv::Iif(s(0), s(1)),
        "url_dec" => Conv::UrlDec(match a.first() {
            Some(_) => int_arg(a.first(), name)? != 0,
            None => false,
        }),
        "url_enc" => match a.first().map(|x| x.as_str()) {
            None | Some("") | Some("query") => Conv::UrlEnc,
            Some(_) => {
                return Err("invalid args in converter 'url_enc' : Unexpected encode type. Allowed value is 'query'".into())
            }
        },
        "be2dec" | "be2hex" => {
            let sep = s(0);
            let chunk = match a.get(1) {
                Some(_) => int_arg(a.get(1), name)?,
                None => 0,
            };
            let trunc = match a.get(2) {
                Some(_) => int_arg(a.get(2), name)?,
                None => 0,
            };
            let bad = |m: String| format!("invalid args in converter '{name}' : {m}");
            if name == "be2dec" {
                if !(1..=8).contains(&chunk) {
                    return Err(bad(format!("chunk_size out of [1..8] range ({chunk})")));
                }
            } else if chunk <= 0 && (!sep.is_empty() || trunc != 0) {
                return Err(bad(format!("chunk_size needs to be positive ({chunk})")));
            }
            if trunc != 0 && trunc != 1 {
                return Err(bad(format!("Unsupported truncate value ({trunc})")));
            }
            let (chunk, trunc) = (chunk.max(0) as usize, trunc == 1);
            if name == "be2dec" {
                Conv::Be2Dec { sep, chunk, trunc }
            } else {
                Conv::Be2Hex { sep, chunk, trunc }
            }
        }
        "json" => Conv::Json(match a.first().map(|x| x.as_str()).unwrap_or("") {
            "" | "ascii" => JsonIn::Ascii,
            "utf8" => JsonIn::Utf8 { skip: false, partial: false },
            "utf8s" => JsonIn::Utf8 { skip: true, partial: false },
            "utf8p" => JsonIn::Utf8 { skip: false, partial: true },
            "utf8ps" => JsonIn::Utf8 { skip: true, partial: true },
            _ => return Err("invalid args in converter 'json' : Unexpected input code type. Allowed value are 'ascii', 'utf8', 'utf8s', 'utf8p' and 'utf8ps'".into()),
        }),
        "json_query" => {
            let bad = |m: &str| format!("invalid args in converter 'json_query' : {m}");
            let path = a.first().map(|p| p.as_bytes().to_vec()).unwrap_or_default();
            if path.is_empty() {
                return Err(bad("json_path must not be empty"));
            }
            let int = match a.get(1).map(|x| x.as_str()) {
                None | Some("") => false,
                Some("int") => true,
                Some(_) => return Err(bad("output_type only supports \"int\" as argument")),
            };
            Conv::JsonQuery { path, int }
        }
        "b64dec" => Conv::B64Dec,
        "hex2i" => Conv::HexToInt,
        "cpl" => Conv::Cpl,
        "htonl" => Conv::Htonl,
        "cut_crlf" => Conv::CutCrlf,
        "ub64enc" => Conv::Ub64Enc,
        "ub64dec" => Conv::Ub64Dec,
        "sha1" => Conv::Sha1,
        "crc32c" => Conv::Crc32c(avalanche()),
        "xxh3" | "xxh32" | "xxh64" => {
            let seed = match a.first() {
                Some(_) => int_arg(a.first(), name)?,
                None => 0,
            };
            match name {
                "xxh3" => Conv::Xxh3(seed as u64),
                "xxh32" => Conv::Xxh32(seed as u32),
                _ => Conv::Xxh64(seed as u64),
            }
        }
        "strcmp" | "secure_memcmp" => {
            let v = a.first().map(|x| x.as_str()).unwrap_or("");
            if v.is_empty() {
                return Err(format!("invalid args in converter '{name}' : missing variable name"));
            }
            let r = VarRef::parse(v).map_err(|_| {
                format!("invalid args in converter '{name}' : failed to register variable name '{v}'")
            })?;
            if name == "strcmp" {
                Conv::Strcmp(r)
            } else {
                Conv::SecureMemcmp(r)
            }
        }
        n if n == "map" || n.starts_with("map_") => parse_map_conv(n, a)?,
        n if crate::stick_table::parse_conv(n, a).is_some() => {
            let (t, w) = crate::stick_table::parse_conv(n, a).unwrap()?;
            Conv::Table(t, w)
        }
        "regsub" => {
            let re = a.first().ok_or("missing arguments (got 0/2) for converter 'regsub'")?;
            let sub = a
                .get(1)
                .ok_or("missing arguments (got 1/2) for converter 'regsub'")?;
            let (mut icase, mut global) = (false, false);
            for f in a.get(2).map(|x| x.as_str()).unwrap_or("").chars() {
                match f {
                    'i' => icase = true,
                    'g' => global = true,
                    _ => return Err(format!("invalid args in converter 'regsub' : invalid regex flag '{f}', only 'i' and 'g' are supported")),
                }
            }
            let re = crate::regex::Regex::new(re, icase)
                .map_err(|e| format!("invalid args in converter 'regsub' : {e}"))?;
            Conv::Regsub(re, sub.as_bytes().to_vec(), global)
        }
        _ if HAPROXY_CONVERTERS.split_ascii_whitespace().any(|n| n == name) => {
            return Err(format!("converter '{name}' is not supported yet by rhaproxy"))
        }
        _ => return Err(format!("unknown converter '{name}'")),
    })
}

/// `map(<file>[,<default>])` and `map_<match>[_<out>]`: the match method
/// and output type come from the name (`map` is `map_str`).
fn parse_map_conv(name: &str, a: &[String]) -> Result<Conv, String> {
    use crate::acl::MatchKind as M;
    use crate::map::Out;
    let bad = |m: String| format!("invalid args in converter '{name}' : {m}");
    let rest = name.strip_prefix("map").unwrap_or("");
    let (input, out) = match rest.strip_prefix('_').unwrap_or("str").split_once('_') {
        Some((i, "int")) => (i.to_string(), Out::Int),
        Some((i, "ip")) => (i.to_string(), Out::Ip),
        Some((i, "str")) => (i.to_string(), Out::Str),
        Some(_) => return Err(format!("unknown converter '{name}'")),
        None => (rest.strip_prefix('_').unwrap_or("str").to_string(), Out::Str),
    };
    let (kind, regm) = match input.as_str() {
        "str" => (M::Str, false),
        "beg" => (M::Beg, false),
        "sub" => (M::Sub, false),
        "dir" => (M::Dir, false),
        "dom" => (M::Dom, false),
        "end" => (M::End, false),
        "reg" => (M::Reg, false),
        "regm" if out == Out::Str => (M::Reg, true),
        "int" => (M::Int, false),
        "ip" => (M::Ip, false),
        _ => return Err(format!("unknown converter '{name}'")),
    };
    if a.len() > 2 {
        return Err(format!(
            "invalid arg 3 in converter '{name}' : end of arguments expected"
        ));
    }
    let file = a.first().map(|s| s.as_str()).unwrap_or("");
    let r = crate::map::load_ref(file, true).map_err(bad)?;
    let default = match a.get(1) {
        None => None,
        Some(d) => Some(crate::map::parse_value(out, d.as_bytes()).map_err(bad)?),
    };
    let e = crate::map::new_expr(r, kind, false, Some(out), regm).map_err(bad)?;
    Ok(Conv::Map(e, default))
}

/// HAProxy 2.6 has a sample fetch of this name.
pub fn is_haproxy_fetch(name: &str) -> bool {
    HAPROXY_FETCHES.split_ascii_whitespace().any(|n| n == name)
}

/// Path part of a request target (absolute-form: after the authority).
pub fn uri_path(uri: &[u8]) -> &[u8] {
    let (scheme, auth) = http::head::split_target(uri);
    let p = if scheme.is_some() {
        let start = auth.as_ptr() as usize - uri.as_ptr() as usize + auth.len();
        &uri[start..]
    } else {
        uri
    };
    match p.iter().position(|&c| c == b'?') {
        Some(q) => &p[..q],
        None => p,
    }
}

pub fn uri_pathq(uri: &[u8]) -> &[u8] {
    let (scheme, auth) = http::head::split_target(uri);
    if scheme.is_some() {
        let start = auth.as_ptr() as usize - uri.as_ptr() as usize + auth.len();
        &uri[start..]
    } else {
        uri
    }
}

impl Fetch {
    /// Every value the fetch yields (ACLs match any of them).
    pub fn eval_all(&self, cx: &Ctx<'_>, out: &mut Vec<Smp>) {
        match self {
            Fetch::Hdr { dir, name, full, occ } if *occ == 0 => {
                if *dir == cx.dir {
                    out.extend(cx.header_values(name, *full).into_iter().map(|v| Smp::Str(v.to_vec())));
                }
            }
            Fetch::Cook {
                dir,
                name,
                what: CookWhat::Value,
            } => {
                let mut vals = Vec::new();
                cookies(cx, *dir, name, &mut vals);
                out.extend(vals.into_iter().map(|v| Smp::Str(v.to_vec())));
            }
            f => out.extend(f.eval(cx)),
        }
    }

    /// For the fetches that read the message where it lies (headers, start
    /// line): whether `f` holds for one of the values [`Fetch::eval_all`]
    /// would give, without building samples (no copy, no allocation: the
    /// common ACLs on `hdr`, `path`, `url`... run on every request). None
    /// for the other fetches.
    pub fn any_borrowed(&self, cx: &Ctx<'_>, f: &mut dyn FnMut(&[u8]) -> bool) -> Option<bool> {
        Some(match self {
            Fetch::Hdr { dir, name, full, occ } if *occ == 0 => *dir == cx.dir && cx.any_header_value(name, *full, f),
            Fetch::Method => f(cx.method()),
            Fetch::Path => {
                let p = uri_path(cx.uri());
                !p.is_empty() && f(p)
            }
            Fetch::PathQ => f(uri_pathq(cx.uri())),
            Fetch::Url => f(cx.uri()),
            Fetch::Query => {
                let u = cx.uri();
                u.iter().position(|&c| c == b'?').is_some_and(|q| f(&u[q + 1..]))
            }
            _ => return None,
        })
    }

    /// One value (headers: the last occurrence unless `occ` says).
    pub fn eval(&self, cx: &Ctx<'_>) -> Option<Smp> {
        let s = |b: &[u8]| Some(Smp::Str(b.to_vec()));
        match self {
            Fetch::Hdr { dir, name, occ, full } => {
                if *dir != cx.dir {
                    return None;
                }
                let v = cx.header_values(name, *full);
                let i = match *occ {
                    0 => v.len().checked_sub(1)?,
                    o if o < 0 => v.len().checked_sub((-o) as usize)?,
                    o => (o - 1) as usize,
                };
                v.get(i).map(|x| Smp::Str(x.to_vec()))
            }
            Fetch::HdrCnt { dir, name, full } => {
                if *dir != cx.dir {
                    return None;
                }
                let n = match name {
                    Some(n) => cx.header_values(n, *full).len(),
                    None => {
                        let mut c = 0;
                        cx.each_header(|_, _| c += 1);
                        c
                    }
                };
                Some(Smp::Int(n as i64))
            }
            Fetch::Method => s(cx.method()),
            Fetch::Path => {
                let p = uri_path(cx.uri());
                if p.is_empty() {
                    None
                } else {
                    s(p)
                }
            }
            Fetch::PathQ => s(uri_pathq(cx.uri())),
            Fetch::Query => {
                let u = cx.uri();
                let q = u.iter().position(|&c| c == b'?')?;
                s(&u[q + 1..])
            }
            Fetch::Url => s(cx.uri()),
            Fetch::Base => {
                let host = cx.header_values(b"host", true).first().map(|h| h.to_vec());
                let mut v = host.unwrap_or_default();
                v.extend_from_slice(uri_path(cx.uri()));
                Some(Smp::Str(v))
            }
            Fetch::ReqVer => match cx.line {
                Line::Req { version, .. } => {
                    let v = version.get(cx.buf);
                    s(v.strip_prefix(b"HTTP/").unwrap_or(v))
                }
                _ => None,
            },
            Fetch::ResVer => match cx.line {
                Line::Res { version, .. } => {
                    let v = version.get(cx.buf);
                    s(v.strip_prefix(b"HTTP/").unwrap_or(v))
                }
                _ => None,
            },
            Fetch::Status => cx.status().map(|c| Smp::Int(c as i64)),
            Fetch::FirstReq => Some(Smp::Bool(cx.info.first_req)),
            Fetch::Body { dir, len } if *dir == cx.dir => Some(match len {
                true => Smp::Int(cx.body.len as i64),
                false => Smp::Bin(cx.body.payload()),
            }),
            Fetch::Body { .. } => None,
            Fetch::Var(..) => None, // needs &mut Vars: see Expr::eval
            Fetch::Src => cx.info.src.map(|a| Smp::Ip(a.ip())),
            Fetch::Dst => cx.info.dst.map(|a| Smp::Ip(a.ip())),
            Fetch::SrcPort => cx.info.src.map(|a| Smp::Int(a.port() as i64)),
            Fetch::DstPort => cx.info.dst.map(|a| Smp::Int(a.port() as i64)),
            Fetch::Const(c) => Some(c.clone()),
            Fetch::FeName => s(cx.info.fe_name.as_bytes()),
            Fetch::BeName => (!cx.info.be_name.is_empty()).then(|| Smp::Str(cx.info.be_name.into())),
            Fetch::SrvName => (!cx.info.srv_name.is_empty()).then(|| Smp::Str(cx.info.srv_name.into())),
            Fetch::Capture { res, idx } => {
                let c = cx.caps.as_deref()?;
                let v = if *res { c.res(*idx) } else { c.req(*idx) };
                v.map(|b| Smp::Str(b.to_vec()))
            }
            Fetch::UniqueId => (!cx.info.unique_id.is_empty()).then(|| Smp::Str(cx.info.unique_id.to_vec())),
            Fetch::Cook { dir, name, what } => {
                let mut vals = Vec::new();
                cookies(cx, *dir, name, &mut vals);
                match what {
                    CookWhat::Count => (*dir == cx.dir).then_some(Smp::Int(vals.len() as i64)),
                    // The first one without a name, else the last.
                    _ => {
                        let v = if name.is_empty() { vals.first() } else { vals.last() }?;
                        if *what == CookWhat::Int {
                            return Some(Smp::Int(parse_int_prefix(v).unwrap_or(0)));
                        }
                        s(v)
                    }
                }
            }
            Fetch::FeId => Some(Smp::Int(cx.info.fe_id as i64)),
            Fetch::BeId => cx.info.be_id.map(|i| Smp::Int(i as i64)),
            Fetch::SrvId => cx.info.srv_id.map(|i| Smp::Int(i as i64)),
            Fetch::SoName => cx.info.so_name.map(|n| Smp::Str(n.into())),
            Fetch::LastRuleFile => cx.info.last_rule.map(|(f, _)| Smp::Str(f.into())),
            Fetch::LastRuleLine => cx.info.last_rule.map(|(_, l)| Smp::Int(l as i64)),
            Fetch::RcvdProxy => Some(Smp::Bool(cx.info.pp.is_some_and(|p| p.rcvd))),
            Fetch::Ssl(what) => {
                let t = cx.info.tls;
                let st = |v: Option<&[u8]>| v.map(|b| Smp::Str(b.to_vec()));
                match what {
                    SslFc::Used => Some(Smp::Bool(t.is_some())),
                    SslFc::Sni => st(t?.sni().map(str::as_bytes)),
                    SslFc::HasSni => Some(Smp::Bool(t?.sni().is_some())),
                    SslFc::Protocol => st(t?.protocol().map(str::as_bytes)),
                    SslFc::Cipher => st(t?.cipher().map(str::as_bytes)),
                    SslFc::Alpn => st(t?.alpn()),
                    SslFc::Keysize => t?.keysize().map(Smp::Int),
                    SslFc::ClientCert => t.map(|t| Smp::Bool(t.client_cert())),
                    SslFc::VerifyErr => t.map(|_| Smp::Int(0)),
                }
            }
            Fetch::PpAuthority | Fetch::PpUniqueId => {
                let t = cx.info.pp.and_then(|p| p.tlvs.as_deref())?;
                let v = if matches!(self, Fetch::PpAuthority) {
                    &t.authority
                } else {
                    &t.unique_id
                };
                v.as_deref().map(|v| Smp::Str(v.into()))
            }
            Fetch::Uuid => Some(Smp::Str(uuid4())),
            Fetch::HttpAuthBearer(Some(h)) => {
                // A named header: its first value, "Bearer" (exact case
                // insensitive scheme) then a non-empty token; otherwise an
                // empty string, as HAProxy returns.
                if cx.dir != Dir::Req {
                    return None;
                }
                let v = cx.header_values(&h.to_ascii_lowercase(), false).first().copied();
                let tok = v.and_then(|v| {
                    let sp = v.iter().position(|&c| c == b' ').unwrap_or(v.len());
                    let mut t = &v[sp..];
                    while let [b' ', r @ ..] = t {
                        t = r;
                    }
                    (v[..sp].eq_ignore_ascii_case(b"Bearer") && !t.is_empty()).then_some(t)
                });
                s(tok.unwrap_or(b""))
            }
            Fetch::HttpAuth(_)
            | Fetch::HttpAuthGroup(_)
            | Fetch::HttpAuthType
            | Fetch::HttpAuthUser
            | Fetch::HttpAuthPass
            | Fetch::HttpAuthBearer(None) => {
                use crate::auth::Credentials as C;
                if cx.dir != Dir::Req {
                    return None;
                }
                let v = cx.header_values(b"authorization", false).first().copied()?;
                let cred = crate::auth::parse_authorization(v)?;
                match (self, cred) {
                    (Fetch::HttpAuthType, C::Basic { .. }) => s(b"Basic"),
                    (Fetch::HttpAuthType, C::Bearer(_)) => s(b"Bearer"),
                    (Fetch::HttpAuthBearer(None), C::Bearer(t)) => Some(Smp::Str(t)),
                    (Fetch::HttpAuthUser, C::Basic { user, .. }) => Some(Smp::Str(user)),
                    (Fetch::HttpAuthPass, C::Basic { pass, .. }) => Some(Smp::Str(pass)),
                    (Fetch::HttpAuth(ul), C::Basic { user, pass }) => {
                        Some(Smp::Bool(ul.0.as_ref().is_some_and(|u| u.check(&user, &pass))))
                    }
                    (Fetch::HttpAuthGroup(ul), C::Basic { user, pass }) => {
                        ul.0.as_ref().filter(|u| u.check(&user, &pass))?;
                        Some(Smp::Str(user))
                    }
                    _ => None,
                }
            }
            Fetch::Stk(f) => crate::stick_table::eval_fetch(f, &cx.info),
            Fetch::UrlParam { name } => {
                let u = cx.uri();
                let q = u.iter().position(|&c| c == b'?')?;
                u[q + 1..].split(|&c| c == b'&' || c == b';').find_map(|kv| {
                    let e = kv.iter().position(|&c| c == b'=')?;
                    (kv[..e] == name[..]).then(|| Smp::Str(kv[e + 1..].to_vec()))
                })
            }
        }
    }
}

/// The cookie values named `name` (any with an empty name) in the
/// `Cookie` (request) or `Set-Cookie` (response) headers of `dir`, walked
/// as HAProxy's `http_extract_cookie_value`: attributes starting with `$`
/// and cookies without `=` are skipped; a Set-Cookie only names its first
/// attribute.
fn cookies<'b>(cx: &'b Ctx<'_>, dir: Dir, name: &[u8], out: &mut Vec<&'b [u8]>) {
    if dir != cx.dir {
        return;
    }
    let hname: &[u8] = if dir == Dir::Req { b"cookie" } else { b"set-cookie" };
    let list = cx.dir == Dir::Req;
    let sp = |c: u8| c == b' ' || c == b'\t';
    for h in cx.header_values(hname, false) {
        if h.len() < name.len() + 1 {
            continue;
        }
        let end = h.len();
        let mut att = 0;
        while att + name.len() + 1 < end {
            while att < end && sp(h[att]) {
                att += 1;
            }
            let (mut eq, mut att_end) = (att, att);
            while eq < end {
                let c = h[eq];
                if c == b'=' || c == b';' || (list && c == b',') {
                    break;
                }
                eq += 1;
                if !sp(c) {
                    att_end = eq;
                }
            }
            let (vb, ve, next) = if eq < end && h[eq] == b'=' {
                let mut vb = eq + 1;
                while vb < end && sp(h[vb]) {
                    vb += 1;
                }
                let next = cookie_value_end(h, vb);
                let mut ve = next;
                while ve > vb && sp(h[ve - 1]) {
                    ve -= 1;
                }
                (vb, ve, next)
            } else {
                (eq, eq, eq)
            };
            let skip = h.get(att) == Some(&b'$') || eq == next;
            if !skip && (name.is_empty() || &h[att..att_end] == name) {
                out.push(&h[vb..ve]);
            } else if !skip && !list {
                break;
            }
            att = next + 1;
        }
    }
}

/// End of a cookie value: the first `;` or `,` outside double quotes.
pub(crate) fn cookie_value_end(h: &[u8], mut i: usize) -> usize {
    let (mut quoted, mut pair) = (false, false);
    while i < h.len() {
        let c = h[i];
        if pair {
            pair = false;
        } else if quoted {
            if c == b'\\' {
                pair = true;
            } else if c == b'"' {
                quoted = false;
            }
        } else if c == b'"' {
            quoted = true;
        } else if c == b',' || c == b';' {
            return i;
        }
        i += 1;
    }
    i
}

fn hex_decode(h: &[u8]) -> Option<Vec<u8>> {
    if h.len() & 1 != 0 {
        return None;
    }
    h.chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).ok()?, 16).ok())
        .collect()
}

/// A random version-4 UUID in its text form.
fn uuid4() -> Vec<u8> {
    let mut b = [0u8; 16];
    for c in b.chunks_mut(8) {
        c.copy_from_slice(&rand64().to_le_bytes());
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let mut o = Vec::with_capacity(36);
    for (i, x) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            o.push(b'-');
        }
        o.extend_from_slice(format!("{x:02x}").as_bytes());
    }
    o
}

/// A per-thread xorshift generator seeded from the clock, the thread and
/// a global counter: not cryptographic, as HAProxy's `rand` fetch.
pub fn rand64() -> u64 {
    use std::cell::Cell;
    use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
    static SEQ: AtomicU64 = AtomicU64::new(0x9E37_79B9_7F4A_7C15);
    thread_local! {
        static STATE: Cell<u64> = const { Cell::new(0) };
    }
    STATE.with(|st| {
        let mut x = st.get();
        if x == 0 {
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64);
            x = t ^ SEQ.fetch_add(0x9E37_79B9_7F4A_7C15, Relaxed) | 1;
        }
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        st.set(x);
        x
    })
}

fn hash_out(h: u32, avalanche: bool) -> Smp {
    Smp::Int(if avalanche { crate::lb::full_hash(h) } else { h } as i64)
}

/// Applies one converter; None drops the sample (as a failed conversion).
pub fn convert(c: &Conv, v: Smp, vars: &mut Vars) -> Option<Smp> {
    let bytes = |v: Smp| v.into_bytes();
    fn int_of(a: &IntArg, vars: &mut Vars) -> Option<i64> {
        match a {
            IntArg::Const(i) => Some(*i),
            IntArg::Var(r) => vars.get(r).and_then(|s| s.to_int()),
        }
    }
    // Converters reading a string see a binary sample up to its first NUL
    // (HAProxy's bin-to-str cast).
    let v = match v {
        Smp::Bin(mut b) if c.takes_str() => {
            if let Some(z) = b.iter().position(|&x| x == 0) {
                b.truncate(z);
            }
            Smp::Str(b)
        }
        v => v,
    };
    Some(match c {
        Conv::HexToInt => {
            let b = bytes(v);
            let mut n: i64 = 0;
            for &x in &b {
                let d = (x as char).to_digit(16)?;
                n = n.wrapping_shl(4) | d as i64;
            }
            Smp::Int(n)
        }
        Conv::Cpl => Smp::Int(!v.to_int()?),
        Conv::Htonl => Smp::Bin((v.to_int()? as u32).to_be_bytes().to_vec()),
        Conv::CutCrlf => {
            let mut b = bytes(v);
            if let Some(e) = b.iter().position(|&x| x == b'\r' || x == b'\n') {
                b.truncate(e);
            }
            Smp::Str(b)
        }
        Conv::Lower => Smp::Str(bytes(v).to_ascii_lowercase()),
        Conv::Upper => Smp::Str(bytes(v).to_ascii_uppercase()),
        Conv::Length => Smp::Int(bytes(v).len() as i64),
        Conv::Hex => {
            let b = bytes(v);
            let mut o = Vec::with_capacity(b.len() * 2);
            for x in b {
                o.extend_from_slice(format!("{x:02X}").as_bytes());
            }
            Smp::Str(o)
        }
        Conv::Base64 => Smp::Str(base64(&bytes(v))),
        Conv::Crc32(a) => hash_out(crate::lb::hash_crc32(&bytes(v)), *a),
        Conv::Djb2(a) => hash_out(crate::lb::hash_djb2(&bytes(v)), *a),
        Conv::Sdbm(a) => hash_out(crate::lb::hash_sdbm(&bytes(v)), *a),
        Conv::Wt6(a) => hash_out(crate::lb::hash_wt6(&bytes(v)), *a),
        Conv::Field { idx, delims, count } => Smp::Str(field(&bytes(v), *idx, delims, *count)?),
        Conv::Word { idx, delims, count } => Smp::Str(word(&bytes(v), *idx, delims, *count)),
        Conv::Bytes { off, len } => {
            let b = bytes(v);
            let off = (*off).max(0) as usize;
            if off >= b.len() {
                return None;
            }
            let end = match len {
                Some(l) => (off + (*l).max(0) as usize).min(b.len()),
                None => b.len(),
            };
            Smp::Bin(b[off..end].to_vec())
        }
        Conv::Arith(op, a) => {
            let x = v.to_int()?;
            let y = int_of(a, vars)?;
            Smp::Int(match op {
                ArithOp::Add => x.saturating_add(y),
                ArithOp::Sub => x.saturating_sub(y),
                ArithOp::Mul => x.saturating_mul(y),
                // HAProxy: division by zero yields the max value.
                ArithOp::Div => x.checked_div(y).unwrap_or(i64::MAX),
                ArithOp::Mod => x.checked_rem(y).unwrap_or(0),
                ArithOp::And => x & y,
                ArithOp::Or => x | y,
                ArithOp::Xor => x ^ y,
            })
        }
        Conv::Neg => Smp::Int(v.to_int()?.wrapping_neg()),
        Conv::Not => Smp::Bool(v.to_int()? == 0),
        Conv::Bool => Smp::Bool(v.to_int()? != 0),
        Conv::Odd => Smp::Bool(v.to_int()? & 1 == 1),
        Conv::Even => Smp::Bool(v.to_int()? & 1 == 0),
        Conv::Concat(pre, var, post) => {
            let mut b = bytes(v);
            b.extend_from_slice(pre);
            if let Some(r) = var {
                if let Some(x) = vars.get(r) {
                    x.write_to(&mut b);
                }
            }
            b.extend_from_slice(post);
            Smp::Str(b)
        }
        Conv::AddItem(delim, var, suffix) => {
            let mut b = bytes(v);
            let mut item = Vec::new();
            if let Some(r) = var {
                if let Some(x) = vars.get(r) {
                    x.write_to(&mut item);
                }
            }
            item.extend_from_slice(suffix);
            if !item.is_empty() {
                if !b.is_empty() {
                    b.extend_from_slice(delim);
                }
                b.extend_from_slice(&item);
            }
            Smp::Str(b)
        }
        Conv::Ltrim(set) => {
            let b = bytes(v);
            let s = b.iter().position(|c| !set.contains(c)).unwrap_or(b.len());
            Smp::Str(b[s..].to_vec())
        }
        Conv::Rtrim(set) => {
            let b = bytes(v);
            let e = b.iter().rposition(|c| !set.contains(c)).map_or(0, |e| e + 1);
            Smp::Str(b[..e].to_vec())
        }
        Conv::IpMask(bits) => match v.to_ip()? {
            IpAddr::V4(a) => {
                let m = if *bits == 0 { 0 } else { u32::MAX << (32 - *bits as u32) };
                Smp::Ip(IpAddr::V4((u32::from(a) & m).into()))
            }
            ip => Smp::Ip(ip),
        },
        Conv::Iif(t, f) => Smp::Str(if v.to_bool() { t.clone() } else { f.clone() }),
        Conv::UrlDec(form) => Smp::Str(url_dec(&bytes(v), *form)?),
        Conv::UrlEnc => Smp::Str(url_enc(&bytes(v))),
        Conv::Be2Dec { sep, chunk, trunc } => Smp::Str(be2(&bytes(v), sep, *chunk, *trunc, true)),
        Conv::Be2Hex { sep, chunk, trunc } => Smp::Str(be2(&bytes(v), sep, *chunk, *trunc, false)),
        Conv::Json(how) => Smp::Str(json_escape(&bytes(v), *how)?),
        Conv::JsonQuery { path, int } => crate::json_query::query(&bytes(v), path, *int)?,
        Conv::B64Dec => Smp::Bin(base64_dec(&bytes(v), false)?),
        Conv::Ub64Dec => Smp::Bin(base64_dec(&bytes(v), true)?),
        Conv::Ub64Enc => {
            let mut o = base64(&bytes(v));
            while o.last() == Some(&b'=') {
                o.pop();
            }
            for c in o.iter_mut() {
                match *c {
                    b'+' => *c = b'-',
                    b'/' => *c = b'_',
                    _ => {}
                }
            }
            Smp::Str(o)
        }
        Conv::Sha1 => Smp::Bin(crate::hash::sha1(&bytes(v)).to_vec()),
        Conv::Crc32c(a) => hash_out(crate::hash::crc32c(&bytes(v)), *a),
        Conv::Xxh3(seed) => Smp::Int(crate::hash::xxh3(&bytes(v), *seed) as i64),
        Conv::Xxh32(seed) => Smp::Int(crate::hash::xxh32(&bytes(v), *seed) as i64),
        Conv::Xxh64(seed) => Smp::Int(crate::hash::xxh64(&bytes(v), *seed) as i64),
        Conv::Strcmp(r) => {
            let a = bytes(v);
            let b = vars.get(r)?.into_bytes();
            // strncmp over the common length (stopping at a NUL), then
            // the shorter string is the smaller one.
            let m = a.len().min(b.len());
            let mut res = 0i64;
            for i in 0..m {
                if a[i] != b[i] {
                    res = a[i] as i64 - b[i] as i64;
                    break;
                }
                if a[i] == 0 {
                    break;
                }
            }
            if res == 0 && a.len() != b.len() {
                res = if a.len() < b.len() { -1 } else { 1 };
            }
            Smp::Int(res)
        }
        Conv::SecureMemcmp(r) => {
            let a = bytes(v);
            let b = vars.get(r)?.into_bytes();
            // Constant time over the common length: no early exit.
            let diff = a.iter().zip(&b).fold(0u8, |d, (x, y)| d | (x ^ y));
            Smp::Bool(a.len() == b.len() && diff == 0)
        }
        Conv::Regsub(re, sub, global) => Smp::Str(re.replace_all(&bytes(v), sub, *global)),
        Conv::Map(m, default) => return m.map(&v).or_else(|| default.clone()),
        Conv::Table(t, w) => return crate::stick_table::eval_conv(t, *w, &v),
    })
}

/// `field(idx,delims[,count])`: HAProxy's scan, delimiters kept as they
/// are inside a multi-field result; a field past the end is no sample.
fn field(b: &[u8], idx: i64, delims: &[u8], mut count: i64) -> Option<Vec<u8>> {
    let is_delim = |c: u8| delims.contains(&c);
    let n = b.len();
    if idx > 0 {
        let (mut fld, mut start) = (1, 0);
        for end in 0..n {
            if !is_delim(b[end]) {
                continue;
            }
            if fld == idx {
                if count == 1 {
                    return Some(b[start..end].to_vec());
                }
                if count > 1 {
                    count -= 1;
                }
            } else {
                start = end + 1;
                fld += 1;
            }
        }
        (fld == idx).then(|| b[start..].to_vec())
    } else {
        let (mut fld, mut end) = (-1, n);
        for start in (1..=n).rev() {
            if !is_delim(b[start - 1]) {
                continue;
            }
            if fld == idx {
                if count == 1 {
                    return Some(b[start..end].to_vec());
                }
                if count > 1 {
                    count -= 1;
                }
            } else {
                end = start - 1;
                fld -= 1;
            }
        }
        (fld == idx).then(|| b[..end].to_vec())
    }
}

/// `word(idx,delims[,count])`: like `field` but runs of delimiters count
/// as one; a word past the end is an empty string (not a missing sample).
fn word(b: &[u8], idx: i64, delims: &[u8], mut count: i64) -> Vec<u8> {
    let is_delim = |c: u8| delims.contains(&c);
    let n = b.len();
    let (mut w, mut inword) = (0i64, false);
    if idx > 0 {
        let mut start = 0;
        for end in 0..n {
            let sep = is_delim(b[end]);
            if !inword {
                if !sep {
                    if w != idx {
                        w += 1;
                        start = end;
                    }
                    inword = true;
                }
            } else if sep {
                if w == idx {
                    if count == 1 {
                        return b[start..end].to_vec();
                    }
                    if count > 1 {
                        count -= 1;
                    }
                }
                inword = false;
            }
        }
        if w != idx {
            return Vec::new();
        }
        b[start..].to_vec()
    } else {
        let mut end = n;
        for start in (1..=n).rev() {
            let sep = is_delim(b[start - 1]);
            if !inword {
                if !sep {
                    if w != idx {
                        w -= 1;
                        end = start;
                    }
                    inword = true;
                }
            } else if sep {
                if w == idx {
                    if count == 1 {
                        return b[start..end].to_vec();
                    }
                    if count > 1 {
                        count -= 1;
                    }
                }
                inword = false;
            }
        }
        if w != idx {
            return Vec::new();
        }
        b[..end].to_vec()
    }
}

/// HAProxy's `url_decode`: `%XX` sequences (a bad one fails), `+` as a
/// space in a form, and everything after a `?` is a form. Stops at a NUL
/// as the C string it decodes would.
fn url_dec(b: &[u8], mut form: bool) -> Option<Vec<u8>> {
    let hex = |c: Option<&u8>| c.and_then(|c| (*c as char).to_digit(16));
    let mut o = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() && b[i] != 0 {
        match b[i] {
            b'+' if form => o.push(b' '),
            b'%' => {
                let (h, l) = (hex(b.get(i + 1))?, hex(b.get(i + 2))?);
                o.push((h * 16 + l) as u8);
                i += 2;
            }
            c => {
                if c == b'?' {
                    form = true;
                }
                o.push(c);
            }
        }
        i += 1;
    }
    Some(o)
}

/// `url_enc(query)`: everything but RFC 3986's unreserved characters
/// becomes `%XX` (upper-case hex).
fn url_enc(b: &[u8]) -> Vec<u8> {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut o = Vec::with_capacity(b.len() * 3);
    for &c in b {
        if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~') {
            o.push(c);
        } else {
            o.extend_from_slice(&[b'%', HEX[(c >> 4) as usize], HEX[(c & 15) as usize]]);
        }
    }
    o
}

/// `be2dec`/`be2hex`: the input cut in big-endian chunks of `chunk` bytes
/// (0 for be2hex: the whole input), each printed in decimal or hex and
/// joined by `sep`; `trunc` drops a last, incomplete chunk.
fn be2(b: &[u8], sep: &[u8], chunk: usize, trunc: bool, dec: bool) -> Vec<u8> {
    use std::io::Write;
    let chunk = if chunk == 0 { b.len().max(1) } else { chunk };
    let mut o = Vec::new();
    for (i, c) in b.chunks(chunk).enumerate() {
        if trunc && c.len() < chunk {
            break;
        }
        if i > 0 {
            o.extend_from_slice(sep);
        }
        if dec {
            let n = c.iter().fold(0u64, |n, &x| n << 8 | x as u64);
            let _ = write!(o, "{n}");
        } else {
            for x in c {
                let _ = write!(o, "{x:02X}");
            }
        }
    }
    o
}

/// `json([input])`: escapes for a JSON string. In UTF-8 modes, invalid
/// input fails the conversion or (`s` variants) is skipped; code points
/// above U+FFFF are refused the same way.
fn json_escape(b: &[u8], how: JsonIn) -> Option<Vec<u8>> {
    use std::io::Write;
    let mut o = Vec::with_capacity(b.len() + 8);
    let mut i = 0;
    while i < b.len() {
        let c: u32 = match how {
            JsonIn::Ascii => {
                i += 1;
                b[i - 1] as u32
            }
            JsonIn::Utf8 { skip, partial } => {
                let (cp, len, err) = utf8_next(&b[i..]);
                i += len;
                let fatal = match err {
                    Utf8Err::None => false,
                    // The `p` variants only refuse invalid ranges and bad
                    // sequences (overlong and surrogate forms pass).
                    Utf8Err::Other => !partial,
                    Utf8Err::Hard => true,
                };
                if fatal || cp > 0xffff {
                    if skip {
                        continue;
                    }
                    return None;
                }
                cp
            }
        };
        match c {
            0x22 => o.extend_from_slice(b"\\\""),
            0x5c => o.extend_from_slice(b"\\\\"),
            0x2f => o.extend_from_slice(b"\\/"),
            0x08 => o.extend_from_slice(b"\\b"),
            0x0c => o.extend_from_slice(b"\\f"),
            0x0d => o.extend_from_slice(b"\\r"),
            0x0a => o.extend_from_slice(b"\\n"),
            0x09 => o.extend_from_slice(b"\\t"),
            0x20..=0x7e => o.push(c as u8),
            _ => {
                let _ = write!(o, "\\u{c:04x}");
            }
        }
    }
    Some(o)
}

#[derive(PartialEq)]
enum Utf8Err {
    None,
    /// overlong encoding or surrogate
    Other,
    /// bad sequence or out of range
    Hard,
}

/// One UTF-8 code point at the start of `b`: (value, bytes used, error),
/// as HAProxy's `utf8_next` classifies them.
fn utf8_next(b: &[u8]) -> (u32, usize, Utf8Err) {
    let c = b[0];
    let (need, init, min) = match c {
        0x00..=0x7f => return (c as u32, 1, Utf8Err::None),
        0xc0..=0xdf => (1, (c & 0x1f) as u32, 0x80),
        0xe0..=0xef => (2, (c & 0x0f) as u32, 0x800),
        0xf0..=0xf7 => (3, (c & 0x07) as u32, 0x10000),
        _ => return (0, 1, Utf8Err::Hard),
    };
    let mut cp = init;
    for k in 1..=need {
        match b.get(k) {
            Some(&x) if x & 0xc0 == 0x80 => cp = cp << 6 | (x & 0x3f) as u32,
            _ => return (0, k, Utf8Err::Hard),
        }
    }
    let err = if cp > 0x10ffff {
        Utf8Err::Hard
    } else if cp < min || (0xd800..=0xdfff).contains(&cp) {
        Utf8Err::Other
    } else {
        Utf8Err::None
    };
    (cp, need + 1, err)
}

/// Base64 (or base64url without padding) decoding; None on bad input.
fn base64_dec(b: &[u8], url: bool) -> Option<Vec<u8>> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' if !url => 62,
            b'/' if !url => 63,
            b'-' if url => 62,
            b'_' if url => 63,
            _ => return None,
        } as u32)
    };
    let mut data = b;
    if !url {
        if data.len() & 3 != 0 {
            return None;
        }
        let pad = data.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 {
            return None;
        }
        data = &data[..data.len() - pad];
    } else if data.len() % 4 == 1 {
        return None;
    }
    let mut o = Vec::with_capacity(data.len() * 3 / 4);
    for c in data.chunks(4) {
        let mut n = 0u32;
        for (k, &x) in c.iter().enumerate() {
            n |= val(x)? << (18 - 6 * k);
        }
        o.push((n >> 16) as u8);
        if c.len() > 2 {
            o.push((n >> 8) as u8);
        }
        if c.len() > 3 {
            o.push(n as u8);
        }
    }
    Some(o)
}

fn base64(b: &[u8]) -> Vec<u8> {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut o = Vec::with_capacity(b.len().div_ceil(3) * 4);
    for c in b.chunks(3) {
        let n = (c[0] as u32) << 16 | (*c.get(1).unwrap_or(&0) as u32) << 8 | *c.get(2).unwrap_or(&0) as u32;
        o.push(T[(n >> 18) as usize & 63]);
        o.push(T[(n >> 12) as usize & 63]);
        o.push(if c.len() > 1 { T[(n >> 6) as usize & 63] } else { b'=' });
        o.push(if c.len() > 2 { T[n as usize & 63] } else { b'=' });
    }
    o
}

impl Expr {
    /// Evaluates the expression to one sample (None: not found).
    pub fn eval(&self, cx: &mut Ctx<'_>) -> Option<Smp> {
        let v = match &self.fetch {
            Fetch::Var(r, d) => cx.vars.get(r).or_else(|| d.clone().map(Smp::Str))?,
            f => f.eval(cx)?,
        };
        self.apply(v, cx.vars)
    }
    fn apply(&self, mut v: Smp, vars: &mut Vars) -> Option<Smp> {
        for c in &self.convs {
            v = convert(c, v, vars)?;
        }
        Some(v)
    }
    /// Every value (for ACLs): multi-valued fetches yield each one.
    pub fn eval_all(&self, cx: &mut Ctx<'_>, out: &mut Vec<Smp>) {
        match &self.fetch {
            Fetch::Var(r, d) => out.extend(cx.vars.get(r).or_else(|| d.clone().map(Smp::Str))),
            f => f.eval_all(cx, out),
        }
        if !self.convs.is_empty() {
            let vals = std::mem::take(out);
            for v in vals {
                if let Some(x) = self.apply(v, cx.vars) {
                    out.push(x);
                }
            }
        }
    }
    /// The match method an ACL uses for this fetch when none is given.
    pub fn default_match(&self) -> crate::acl::MatchKind {
        use crate::acl::MatchKind as M;
        if self.convs.is_empty() {
            return match self.fetch {
                Fetch::HdrCnt { .. }
                | Fetch::Status
                | Fetch::SrcPort
                | Fetch::DstPort
                | Fetch::FeId
                | Fetch::BeId
                | Fetch::SrvId
                | Fetch::Body { len: true, .. }
                | Fetch::Cook {
                    what: CookWhat::Count | CookWhat::Int,
                    ..
                } => M::Int,
                Fetch::FirstReq
                | Fetch::RcvdProxy
                | Fetch::HttpAuth(_)
                | Fetch::Ssl(SslFc::Used | SslFc::HasSni | SslFc::ClientCert) => M::Bool,
                Fetch::HttpAuthGroup(_) => M::Auth,
                Fetch::Ssl(SslFc::Keysize | SslFc::VerifyErr) => M::Int,
                Fetch::Stk(ref f)
                    if f.what == crate::stick_table::StkWhat::Tracked
                        && !matches!(
                            f.src,
                            crate::stick_table::StkSrc::Cnt(_) | crate::stick_table::StkSrc::Avl(_)
                        ) =>
                {
                    M::Bool
                }
                Fetch::Stk(_) => M::Int,
                Fetch::Src | Fetch::Dst => M::Ip,
                Fetch::Const(Smp::Bool(_)) => M::Bool,
                Fetch::Const(Smp::Int(_)) => M::Int,
                _ => M::Str,
            };
        }
        match self.convs.last() {
            Some(
                Conv::Length
                | Conv::Crc32(_)
                | Conv::Djb2(_)
                | Conv::Sdbm(_)
                | Conv::Wt6(_)
                | Conv::Arith(..)
                | Conv::Neg
                | Conv::Crc32c(_)
                | Conv::Xxh3(_)
                | Conv::Xxh32(_)
                | Conv::Xxh64(_)
                | Conv::Strcmp(_)
                | Conv::HexToInt
                | Conv::Cpl,
            ) => M::Int,
            Some(Conv::Not | Conv::Bool | Conv::Odd | Conv::Even | Conv::SecureMemcmp(_)) => M::Bool,
            Some(Conv::IpMask(_)) => M::Ip,
            Some(Conv::Table(_, crate::stick_table::StkWhat::InTable)) => M::Bool,
            Some(Conv::Table(..)) => M::Int,
            Some(Conv::Map(m, _)) => match m.out() {
                Some(crate::map::Out::Int) => M::Int,
                Some(crate::map::Out::Ip) => M::Ip,
                _ => M::Str,
            },
            _ => M::Str,
        }
    }
}

/// Every sample fetch name HAProxy 2.6 registers (`haproxy -dKsmp`, the
/// Debian build with OpenSSL and Lua): a name outside this list is
/// "unknown", one inside that rhaproxy lacks is "not supported yet".
const HAPROXY_FETCHES: &str = "\
    always_false always_true avg_queue base base32 base32+src baseq bc_dst bc_dst_port bc_err \
    bc_err_str bc_http_major bc_src bc_src_port be_conn be_conn_free be_id be_name \
    be_server_timeout be_sess_rate be_tunnel_timeout bin bool capture.req.hdr \
    capture.req.method capture.req.uri capture.req.ver capture.res.hdr capture.res.ver \
    connslots cook cook_cnt cook_val cookie cpu_calls cpu_ns_avg cpu_ns_tot \
    cur_server_timeout cur_tunnel_timeout date date_us distcc_body distcc_param dst dst_conn \
    dst_is_local dst_port env fc_dst fc_dst_is_local fc_dst_port fc_err fc_err_str fc_fackets \
    fc_http_major fc_lost fc_pp_authority fc_pp_unique_id fc_rcvd_proxy fc_reordering \
    fc_retrans fc_rtt fc_rttvar fc_sacked fc_src fc_src_is_local fc_src_port fc_unacked \
    fcgi.docroot fcgi.index fe_client_timeout fe_conn fe_defbe fe_id fe_name fe_req_rate \
    fe_sess_rate hdr hdr_cnt hdr_ip hdr_val hostname http_auth http_auth_bearer \
    http_auth_group http_auth_pass http_auth_type http_auth_user http_first_req int \
    internal.htx.data internal.htx.free internal.htx.free_data internal.htx.has_eom \
    internal.htx.nbblks internal.htx.size internal.htx.used internal.htx_blk.data \
    internal.htx_blk.hdrname internal.htx_blk.hdrval internal.htx_blk.size \
    internal.htx_blk.start_line internal.htx_blk.type internal.strm.is_htx ipv4 ipv6 \
    last_rule_file last_rule_line lat_ns_avg lat_ns_tot meth method nbproc nbsrv path pathq \
    payload payload_lv prio_class prio_offset proc query queue rand rdp_cookie rdp_cookie_cnt \
    rep_ssl_hello_type req.body req.body_len req.body_param req.body_size req.cook \
    req.cook_cnt req.cook_val req.fhdr req.fhdr_cnt req.hdr req.hdr_cnt req.hdr_ip \
    req.hdr_names req.hdr_val req.hdrs req.hdrs_bin req.len req.payload req.payload_lv \
    req.proto_http req.rdp_cookie req.rdp_cookie_cnt req.ssl_alpn req.ssl_ec_ext \
    req.ssl_hello_type req.ssl_sni req.ssl_st_ext req.ssl_ver req.ver req_len req_proto_http \
    req_ssl_hello_type req_ssl_sni req_ssl_ver req_ver res.body res.body_len res.body_size \
    res.cache_hit res.cache_name res.comp res.comp_algo res.cook res.cook_cnt res.cook_val \
    res.fhdr res.fhdr_cnt res.hdr res.hdr_cnt res.hdr_ip res.hdr_names res.hdr_val res.hdrs \
    res.hdrs_bin res.len res.payload res.payload_lv res.ssl_hello_type res.ver resp_ver \
    sc0_bytes_in_rate sc0_bytes_out_rate sc0_clr_gpc0 sc0_clr_gpc1 sc0_conn_cnt sc0_conn_cur \
    sc0_conn_rate sc0_get_gpc0 sc0_get_gpc1 sc0_get_gpt0 sc0_gpc0_rate sc0_gpc1_rate \
    sc0_http_err_cnt sc0_http_err_rate sc0_http_fail_cnt sc0_http_fail_rate sc0_http_req_cnt \
    sc0_http_req_rate sc0_inc_gpc0 sc0_inc_gpc1 sc0_kbytes_in sc0_kbytes_out sc0_sess_cnt \
    sc0_sess_rate sc0_tracked sc0_trackers sc1_bytes_in_rate sc1_bytes_out_rate sc1_clr_gpc \
    sc1_clr_gpc0 sc1_clr_gpc1 sc1_conn_cnt sc1_conn_cur sc1_conn_rate sc1_get_gpc0 \
    sc1_get_gpc1 sc1_get_gpt0 sc1_gpc0_rate sc1_gpc1_rate sc1_http_err_cnt sc1_http_err_rate \
    sc1_http_fail_cnt sc1_http_fail_rate sc1_http_req_cnt sc1_http_req_rate sc1_inc_gpc0 \
    sc1_inc_gpc1 sc1_kbytes_in sc1_kbytes_out sc1_sess_cnt sc1_sess_rate sc1_tracked \
    sc1_trackers sc2_bytes_in_rate sc2_bytes_out_rate sc2_clr_gpc0 sc2_clr_gpc1 sc2_conn_cnt \
    sc2_conn_cur sc2_conn_rate sc2_get_gpc0 sc2_get_gpc1 sc2_get_gpt0 sc2_gpc0_rate \
    sc2_gpc1_rate sc2_http_err_cnt sc2_http_err_rate sc2_http_fail_cnt sc2_http_fail_rate \
    sc2_http_req_cnt sc2_http_req_rate sc2_inc_gpc0 sc2_inc_gpc1 sc2_kbytes_in sc2_kbytes_out \
    sc2_sess_cnt sc2_sess_rate sc2_tracked sc2_trackers sc_bytes_in_rate sc_bytes_out_rate \
    sc_clr_gpc sc_clr_gpc0 sc_clr_gpc1 sc_conn_cnt sc_conn_cur sc_conn_rate sc_get_gpc \
    sc_get_gpc0 sc_get_gpc1 sc_get_gpt sc_get_gpt0 sc_gpc0_rate sc_gpc1_rate sc_gpc_rate \
    sc_http_err_cnt sc_http_err_rate sc_http_fail_cnt sc_http_fail_rate sc_http_req_cnt \
    sc_http_req_rate sc_inc_gpc sc_inc_gpc0 sc_inc_gpc1 sc_kbytes_in sc_kbytes_out \
    sc_sess_cnt sc_sess_rate sc_tracked sc_trackers scook scook_cnt scook_val shdr shdr_cnt \
    shdr_ip shdr_val so_id so_name src src_bytes_in_rate src_bytes_out_rate src_clr_gpc \
    src_clr_gpc0 src_clr_gpc1 src_conn_cnt src_conn_cur src_conn_rate src_get_gpc \
    src_get_gpc0 src_get_gpc1 src_get_gpt src_get_gpt0 src_gpc0_rate src_gpc1_rate \
    src_gpc_rate src_http_err_cnt src_http_err_rate src_http_fail_cnt src_http_fail_rate \
    src_http_req_cnt src_http_req_rate src_inc_gpc src_inc_gpc0 src_inc_gpc1 src_is_local \
    src_kbytes_in src_kbytes_out src_port src_sess_cnt src_sess_rate src_updt_conn_cnt \
    srv_conn srv_conn_free srv_id srv_is_up srv_iweight srv_name srv_queue srv_sess_rate \
    srv_uweight srv_weight ssl_bc ssl_bc_alg_keysize ssl_bc_alpn ssl_bc_cipher \
    ssl_bc_client_random ssl_bc_err ssl_bc_err_str ssl_bc_is_resumed ssl_bc_npn \
    ssl_bc_protocol ssl_bc_server_random ssl_bc_session_id ssl_bc_session_key \
    ssl_bc_unique_id ssl_bc_use_keysize ssl_c_ca_err ssl_c_ca_err_depth ssl_c_chain_der \
    ssl_c_der ssl_c_err ssl_c_i_dn ssl_c_key_alg ssl_c_notafter ssl_c_notbefore ssl_c_s_dn \
    ssl_c_serial ssl_c_sha1 ssl_c_sig_alg ssl_c_used ssl_c_verify ssl_c_version ssl_f_der \
    ssl_f_i_dn ssl_f_key_alg ssl_f_notafter ssl_f_notbefore ssl_f_s_dn ssl_f_serial \
    ssl_f_sha1 ssl_f_sig_alg ssl_f_version ssl_fc ssl_fc_alg_keysize ssl_fc_alpn \
    ssl_fc_cipher ssl_fc_cipherlist_bin ssl_fc_cipherlist_hex ssl_fc_cipherlist_str \
    ssl_fc_cipherlist_xxh ssl_fc_client_early_traffic_secret \
    ssl_fc_client_handshake_traffic_secret ssl_fc_client_random \
    ssl_fc_client_traffic_secret_0 ssl_fc_early_exporter_secret ssl_fc_ecformats_bin \
    ssl_fc_eclist_bin ssl_fc_err ssl_fc_err_str ssl_fc_exporter_secret ssl_fc_extlist_bin \
    ssl_fc_has_crt ssl_fc_has_early ssl_fc_has_sni ssl_fc_is_resumed ssl_fc_npn \
    ssl_fc_protocol ssl_fc_protocol_hello_id ssl_fc_server_handshake_traffic_secret \
    ssl_fc_server_random ssl_fc_server_traffic_secret_0 ssl_fc_session_id ssl_fc_session_key \
    ssl_fc_sni ssl_fc_unique_id ssl_fc_use_keysize ssl_s_chain_der ssl_s_der ssl_s_i_dn \
    ssl_s_key_alg ssl_s_notafter ssl_s_notbefore ssl_s_s_dn ssl_s_serial ssl_s_sha1 \
    ssl_s_sig_alg ssl_s_version status stopping str table_avl table_cnt thread unique-id url \
    url32 url32+src url_ip url_param url_port urlp urlp_val uuid var wait_end";

/// Every converter name HAProxy 2.6 registers (`haproxy -dKcnv`).
const HAPROXY_CONVERTERS: &str = "\
    add add_item aes_gcm_dec and b64dec base64 be2dec be2hex bool bytes capture-req \
    capture-res concat cpl crc32 crc32c cut_crlf debug digest div djb2 even field \
    fix_is_valid fix_tag_value hex hex2i hmac host_only htonl http_date iif in_table ipmask \
    json json_query jwt_header_query jwt_payload_query jwt_verify language length lower ltime \
    ltrim map map_beg map_beg_int map_beg_ip map_dir map_dir_int map_dir_ip map_dom \
    map_dom_int map_dom_ip map_end map_end_int map_end_ip map_int map_int_int map_int_ip \
    map_ip map_ip_int map_ip_ip map_reg map_reg_int map_reg_ip map_regm map_str map_str_int \
    map_str_ip map_sub map_sub_int map_sub_ip mod mqtt_field_value mqtt_is_valid mul nbsrv \
    neg not odd or port_only protobuf regsub rtrim sdbm secure_memcmp set-var sha1 sha2 \
    srv_queue strcmp sub table_bytes_in_rate table_bytes_out_rate table_conn_cnt \
    table_conn_cur table_conn_rate table_expire table_gpc table_gpc0 table_gpc0_rate \
    table_gpc1 table_gpc1_rate table_gpc_rate table_gpt table_gpt0 table_http_err_cnt \
    table_http_err_rate table_http_fail_cnt table_http_fail_rate table_http_req_cnt \
    table_http_req_rate table_idle table_kbytes_in table_kbytes_out table_server_id \
    table_sess_cnt table_sess_rate table_trackers ub64dec ub64enc ungrpc unset-var upper \
    url_dec url_enc utime word wt6 xor xxh3 xxh32 xxh64";

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A request context over `raw` (a full head) for unit tests.
    pub fn with_req<R>(raw: &[u8], f: impl FnOnce(&mut Ctx<'_>) -> R) -> R {
        let mut hdrs = Vec::new();
        let opts = http::ParseOptions {
            accept_invalid: false,
            max_headers: 101,
            max_head_len: 16000,
            accept_payload_with_any_method: false,
        };
        let head = match http::parse_request(raw, &mut hdrs, &opts).unwrap() {
            http::Status::Complete(h) => h,
            _ => panic!("incomplete"),
        };
        let mut edit = Edit::default();
        let mut vars = Vars::default();
        let mut cx = Ctx {
            dir: Dir::Req,
            buf: raw,
            hdrs: &mut hdrs,
            line: Line::Req {
                method: head.method,
                uri: head.uri,
                version: head.version,
            },
            edit: &mut edit,
            vars: &mut vars,
            req_meth: b"",
            req_uri: b"",
            info: Info {
                fe_name: "fe",
                first_req: true,
                ..Info::default()
            },
            caps: None,
            body: BodyView {
                raw: &raw[head.len..],
                len: (raw.len() - head.len) as u64,
                ..BodyView::default()
            },
        };
        f(&mut cx)
    }

    fn ev(raw: &[u8], e: &str) -> Option<Smp> {
        let x = parse_expr(e, Dir::Req).unwrap();
        with_req(raw, |cx| x.eval(cx))
    }
    fn st(v: &str) -> Option<Smp> {
        Some(Smp::Str(v.as_bytes().to_vec()))
    }

    const REQ: &[u8] = b"GET /a/b?x=1&y=2 HTTP/1.1\r\nHost: h\r\nX-A: 1, 2\r\nx-a: 3\r\nCookie: a=1; b=2\r\n\r\n";

    #[test]
    fn fetches() {
        assert_eq!(ev(REQ, "req.hdr(x-a)"), st("3"));
        assert_eq!(ev(REQ, "req.hdr(x-a,1)"), st("1"));
        assert_eq!(ev(REQ, "req.hdr(x-a,-2)"), st("2"));
        assert_eq!(ev(REQ, "req.fhdr(x-a,1)"), st("1, 2"));
        assert_eq!(ev(REQ, "req.hdr_cnt(x-a)"), Some(Smp::Int(3)));
        assert_eq!(ev(REQ, "hdr(nope)"), None);
        assert_eq!(ev(REQ, "path"), st("/a/b"));
        assert_eq!(ev(REQ, "query"), st("x=1&y=2"));
        assert_eq!(ev(REQ, "url"), st("/a/b?x=1&y=2"));
        assert_eq!(ev(REQ, "base"), st("h/a/b"));
        assert_eq!(ev(REQ, "method"), st("GET"));
        assert_eq!(ev(REQ, "req.ver"), st("1.1"));
        assert_eq!(ev(REQ, "http_first_req"), Some(Smp::Bool(true)));
        assert_eq!(ev(REQ, "req.cook(b)"), st("2"));
        assert_eq!(ev(REQ, "urlp(y)"), st("2"));
        assert_eq!(ev(REQ, "str(abc)"), st("abc"));
        assert_eq!(ev(REQ, "fe_name"), st("fe"));
        assert_eq!(ev(b"GET http://h:80/p?q HTTP/1.1\r\nHost: h\r\n\r\n", "path"), st("/p"));
    }

    #[test]
    fn converters() {
        assert_eq!(ev(REQ, "str(AbC),lower"), st("abc"));
        assert_eq!(ev(REQ, "str(AbC),upper,length"), Some(Smp::Int(3)));
        assert_eq!(ev(REQ, "str(a.b.c),field(2,.)"), st("b"));
        assert_eq!(ev(REQ, "str(a.b.c),field(-1,.)"), st("c"));
        assert_eq!(ev(REQ, "str(a.b.c),field(2,.,0)"), st("b.c"));
        assert_eq!(ev(REQ, "str(..a..b),word(2,.)"), st("b"));
        assert_eq!(ev(REQ, "str(hi),hex"), st("6869"));
        assert_eq!(ev(REQ, "str(abcd),base64"), st("YWJjZA=="));
        assert_eq!(ev(REQ, "int(7),add(3),mul(2)"), Some(Smp::Int(20)));
        assert_eq!(ev(REQ, "int(7),div(0)"), Some(Smp::Int(i64::MAX)));
        assert_eq!(ev(REQ, "str(a%20b),url_dec"), st("a b"));
        assert_eq!(ev(REQ, "str(x),concat(<,,>)"), st("x<>"));
        assert_eq!(ev(REQ, "int(1),iif(yes,no)"), st("yes"));
        assert_eq!(
            ev(REQ, "str(10.1.2.3),ipmask(16)"),
            Some(Smp::Ip("10.1.0.0".parse().unwrap()))
        );
        // HAProxy's crc32 of "" is 0; of "a" 0xe8b7be43.
        assert_eq!(ev(REQ, "str(a),crc32"), Some(Smp::Int(0xe8b7be43)));
        assert!(parse_expr("nope", Dir::Req).unwrap_err().contains("'nope'"));
        assert!(parse_expr("str(x),nope", Dir::Req).unwrap_err().contains("'nope'"));
    }

    #[test]
    fn converters_exact_semantics() {
        // field: past the last field is no sample; word: an empty string.
        assert_eq!(ev(REQ, "str(/foo),field(3,/)"), None);
        assert_eq!(ev(REQ, "str(/foo/bar/baz),field(3,/)"), st("bar"));
        assert_eq!(ev(REQ, "str(a:b.c:d),field(2,:.,2)"), st("b.c"));
        assert_eq!(ev(REQ, "str(a:b.c:d),field(-2,:.,0)"), st("a:b.c"));
        assert_eq!(ev(REQ, "str(a  b),word(3, )"), st(""));
        assert_eq!(ev(REQ, "str(a  b  c),word(-2, ,2)"), st("a  b"));
        assert!(parse_expr("str(a),field(0,.)", Dir::Req)
            .unwrap_err()
            .contains("Unexpected value 0 for index"));
        // url_dec: '+' is a space after '?' or in a form.
        assert_eq!(ev(REQ, "str(/a+%20?b=c+d),url_dec"), st("/a+ ?b=c d"));
        assert_eq!(ev(REQ, "str(/a+b),url_dec(1)"), st("/a b"));
        assert_eq!(ev(REQ, "str(%zz),url_dec"), None);
        assert_eq!(ev(REQ, "str(a=b+c d~),url_enc"), st("a%3Db%2Bc%20d~"));
        assert!(parse_expr("str(a),url_enc(path)", Dir::Req).is_err());
        assert_eq!(ev(REQ, "str(0123456789),be2dec(-,3)"), st("3158322-3355701-3553080-57"));
        assert_eq!(
            ev(REQ, "str(0123456789),be2dec(::,3,1)"),
            st("3158322::3355701::3553080")
        );
        assert_eq!(ev(REQ, "str(0123),be2hex"), st("30313233"));
        assert_eq!(ev(REQ, "str(0123),be2hex(--,3)"), st("303132--33"));
        assert!(parse_expr("str(a),be2dec(:)", Dir::Req)
            .unwrap_err()
            .contains("chunk_size out of [1..8] range (0)"));
        assert_eq!(ev(REQ, "str(a/b\tc),json"), st("a\\/b\\tc"));
        assert_eq!(ev(REQ, "str(é),json(utf8)"), st("\\u00e9"));
        assert_eq!(ev(REQ, "str(Zm9vYg==),b64dec"), Some(Smp::Bin(b"foob".to_vec())));
        assert_eq!(ev(REQ, "str(Zm9vYg=),b64dec"), None);
        assert_eq!(ev(REQ, "str(FPucA9l_Etl-),ub64dec,hex"), st("14FB9C03D97F12D97E"));
        assert_eq!(ev(REQ, "bin(14fb9c03d97f12d97e),ub64enc"), st("FPucA9l_Etl-"));
        // A binary sample read as a string stops at its first NUL.
        assert_eq!(ev(REQ, "bin(610062),length"), Some(Smp::Int(1)));
        assert_eq!(ev(REQ, "bin(610062),bytes(0),hex"), st("610062"));
        assert_eq!(
            ev(REQ, "str(abc),sha1,hex"),
            st("A9993E364706816ABA3E25717850C26C9CD0D89D")
        );
        assert_eq!(ev(REQ, "str(ff),hex2i"), Some(Smp::Int(255)));
        assert_eq!(ev(REQ, "int(1),htonl,hex"), st("00000001"));
        assert_eq!(ev(REQ, "str(a\rb),cut_crlf"), st("a"));
        assert_eq!(ev(REQ, "str(is a),regsub(is a,is also a)"), st("is also a"));
        assert_eq!(ev(REQ, "str(aXbXc),regsub(X,-,g)"), st("a-b-c"));
        assert_eq!(ev(REQ, "str(aXbXc),regsub(x,-,i)"), st("a-bXc"));
    }

    #[test]
    fn map_converters() {
        let f = std::env::temp_dir().join(format!("rhaproxy-conv-{}.map", std::process::id()));
        std::fs::write(&f, "/a 1\n/a/b 2\n10.0.0.0/8 3\n").unwrap();
        let f = f.to_string_lossy().into_owned();
        assert_eq!(ev(REQ, &format!("path,map_beg({f})")), st("2"));
        assert_eq!(ev(REQ, &format!("path,map_beg_int({f})")), Some(Smp::Int(2)));
        assert_eq!(ev(REQ, &format!("str(/x),map({f},dflt)")), st("dflt"));
        assert_eq!(ev(REQ, &format!("str(/x),map({f})")), None);
        let e = parse_expr(&format!("path,map_ip({f})"), Dir::Req).unwrap_err();
        assert!(
            e.starts_with(
                "invalid args in converter 'map_ip' : '/a' is not a valid IPv4 or IPv6 address at line 1 of file '"
            ),
            "{e}"
        );
        let e = parse_expr("path,map_beg", Dir::Req).unwrap_err();
        assert_eq!(
            e,
            "invalid args in converter 'map_beg' : failed to open pattern file <>"
        );
        assert!(parse_expr("path,map_foo(x)", Dir::Req)
            .unwrap_err()
            .contains("unknown converter 'map_foo'"));
        let e = parse_expr(&format!("path,map_str_ip({f})"), Dir::Req).unwrap_err();
        assert!(e.contains("unable to parse '1' at line 1"), "{e}");
    }

    #[test]
    fn strcmp_and_cookies() {
        let x = parse_expr("str(abc),strcmp(txn.v)", Dir::Req).unwrap();
        let m = parse_expr("str(abc),secure_memcmp(txn.v)", Dir::Req).unwrap();
        let r = |v: &str| {
            with_req(REQ, |cx| {
                cx.vars.set(&VarRef::parse("txn.v").unwrap(), Smp::Str(v.into()));
                (x.eval(cx), m.eval(cx))
            })
        };
        assert_eq!(r("abc"), (Some(Smp::Int(0)), Some(Smp::Bool(true))));
        assert_eq!(r("abd"), (Some(Smp::Int(-1)), Some(Smp::Bool(false))));
        assert_eq!(r("ab"), (Some(Smp::Int(1)), Some(Smp::Bool(false))));
        assert!(parse_expr("str(a),strcmp()", Dir::Req)
            .unwrap_err()
            .contains("missing variable name"));
        const C: &[u8] = b"GET / HTTP/1.1\r\nCookie: a=1; $v=2; b = 22 ;c\r\nCookie: a=3, d=\"x;y\"\r\n\r\n";
        assert_eq!(ev(C, "req.cook_cnt()"), Some(Smp::Int(4)));
        assert_eq!(ev(C, "req.cook_cnt(a)"), Some(Smp::Int(2)));
        assert_eq!(ev(C, "req.cook(a)"), st("3"));
        assert_eq!(ev(C, "req.cook()"), st("1"));
        assert_eq!(ev(C, "req.cook(b)"), st("22"));
        assert_eq!(ev(C, "req.cook(d)"), st("\"x;y\""));
        assert_eq!(ev(C, "req.cook_val(b)"), Some(Smp::Int(22)));
        assert_eq!(ev(C, "req.cook(z)"), None);
        assert_eq!(ev(C, "res.cook(a)"), None);
    }

    #[test]
    fn header_values_like_haproxy() {
        const H: &[u8] = b"GET / HTTP/1.1\r\nX-E:\r\nX-L: a, \"b,c\" ,\r\n\r\n";
        assert_eq!(ev(H, "req.hdr(x-e)"), st(""));
        assert_eq!(ev(H, "req.hdr_cnt(x-l)"), Some(Smp::Int(3)));
        assert_eq!(ev(H, "req.hdr(x-l,2)"), st("\"b,c\""));
        assert_eq!(ev(H, "req.hdr(x-l,-1)"), st(""));
    }

    #[test]
    fn vars_scopes() {
        let mut v = Vars::default();
        let s = VarRef::parse("sess.a").unwrap();
        let t = VarRef::parse("txn.a").unwrap();
        v.set(&s, Smp::Int(1));
        v.set(&t, Smp::Int(2));
        v.new_txn();
        assert_eq!(v.get(&s), Some(Smp::Int(1)));
        assert_eq!(v.get(&t), None);
        v.unset(&s);
        assert_eq!(v.get(&s), None);
        assert!(VarRef::parse("foo").is_err());
        assert!(VarRef::parse("bad.x").is_err());
    }
}
