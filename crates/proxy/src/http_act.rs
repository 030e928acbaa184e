//! HTTP rules (HAProxy's `http_act.c`/`http_rules.c` subset): the
//! `http-request`, `http-response` and `http-after-response` lines of a
//! proxy compiled at start-up into [`ProxyRules`], and their evaluation
//! over a [`sample::Ctx`]. Also the `tcp-request`/`tcp-response` rules
//! (`tcp_rules.c` subset: accept, reject and variables) as HTTP-mode
//! proxies run them, before the HTTP rules of the same proxy.
//!
//! Owns the action grammar, the start-up refusals for what is not
//! implemented (an unsupported word is an alert naming file:line, never
//! ignored), and the bytes of the local replies rules produce (`return`,
//! `redirect`). It must not touch sockets or stream state: the stream
//! (`stream/http.rs`) runs the rules, applies the [`Edit`]s when it
//! serialises, and sends replies.

use crate::acl::{AclSet, Cond};
use crate::http_reply::{Reply, ReplyError};
use crate::logfmt::LogFmt;
use crate::sample::{parse_expr, Ctx, Dir, Expr, VarRef};
use config::model::{HttpErrors, Proxy, RawLine};

/// How `del-header` compares names (always case-insensitively).
#[derive(Clone, Debug, PartialEq)]
enum NameMatch {
    Str,
    Beg,
    End,
    Sub,
    Reg(crate::regex::Regex),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RedirKind {
    Location,
    Prefix,
    Scheme,
}

/// A redirect (`http-request redirect` or the `redirect` keyword, whose
/// target is plain text): HAProxy's `redirect_rule`.
#[derive(Debug)]
struct Redirect {
    kind: RedirKind,
    /// None: a `prefix /`, which adds nothing before the path.
    fmt: Option<LogFmt>,
    code: u16,
    drop_query: bool,
    append_slash: bool,
    /// A `location` rendering empty skips the rule.
    ignore_empty: bool,
    /// `set-cookie`/`clear-cookie`: the Set-Cookie value.
    cookie: Option<Vec<u8>>,
}

/// Parses the words after `redirect` up to the condition (HAProxy's
/// `http_parse_redirect_rule()`); `use_fmt`: the target is a log-format
/// (http-request rules) rather than text (the `redirect` keyword).
fn parse_redirect(args: &[String], use_fmt: bool, dir: Dir) -> Result<Redirect, String> {
    let mut kind = None;
    let mut dest = "";
    let mut r = Redirect {
        kind: RedirKind::Location,
        fmt: None,
        code: 302,
        drop_query: false,
        append_slash: false,
        ignore_empty: false,
        cookie: None,
    };
    let mut i = 0;
    while let Some(w) = args.get(i).map(|s| s.as_str()) {
        let val = |i: usize| match args.get(i + 1) {
            Some(v) if !v.is_empty() => Ok(v.as_str()),
            _ => Err(format!("missing argument for '{w}'")),
        };
        match w {
            "location" | "prefix" | "scheme" => {
                dest = val(i)?;
                kind = Some(match w {
                    "location" => RedirKind::Location,
                    "prefix" => RedirKind::Prefix,
                    _ => RedirKind::Scheme,
                });
                i += 1;
            }
            "set-cookie" | "clear-cookie" => {
                let mut c = val(i)?.as_bytes().to_vec();
                c.extend_from_slice(if w == "set-cookie" {
                    b"; path=/;"
                } else {
                    b"; path=/; Max-Age=0;"
                });
                r.cookie = Some(c);
                i += 1;
            }
            "code" => {
                let v = val(i)?;
                // atol(): leading digits, 0 when none.
                let n: u32 = v
                    .bytes()
                    .take_while(|c| c.is_ascii_digit())
                    .fold(0u32, |a, c| a.saturating_mul(10).saturating_add((c - b'0') as u32));
                if !matches!(n, 301..=303 | 307 | 308) {
                    return Err(format!(
                        "'code': unsupported HTTP code '{v}' (must be one of 301, 302, 303, 307 or 308)"
                    ));
                }
                r.code = n as u16;
                i += 1;
            }
            "drop-query" => r.drop_query = true,
            "append-slash" => r.append_slash = true,
            "ignore-empty" => r.ignore_empty = true,
            _ => {
                return Err(format!(
                    "expects 'code', 'prefix', 'location', 'scheme', 'set-cookie', 'clear-cookie', 'drop-query', 'ignore-empty' or 'append-slash' (was '{w}')"
                ))
            }
        }
        i += 1;
    }
    r.kind = kind.ok_or("redirection type expected ('prefix', 'location', or 'scheme')")?;
    r.fmt = if r.kind == RedirKind::Prefix && dest == "/" {
        None
    } else if use_fmt {
        Some(LogFmt::parse(dest, dir)?)
    } else {
        Some(LogFmt::text(dest.as_bytes()))
    };
    if !use_fmt {
        // Only log-format targets can render empty.
        r.ignore_empty = false;
    }
    Ok(r)
}

impl Redirect {
    /// The response, or None when an empty location is to be ignored.
    fn render(&self, cx: &mut Ctx<'_>) -> Option<Vec<u8>> {
        let mut loc = Vec::with_capacity(64);
        if let Some(f) = &self.fmt {
            f.render(cx, &mut loc);
        }
        if self.kind != RedirKind::Location {
            let uri = cx.uri();
            let mut path = crate::sample::uri_pathq(uri);
            if uri == b"*" || !path.starts_with(b"/") {
                path = b"/";
            }
            if self.drop_query {
                if let Some(q) = path.iter().position(|&c| c == b'?') {
                    path = &path[..q];
                }
            }
            let path = path.to_vec();
            if self.kind == RedirKind::Scheme {
                let host = cx.header_values(b"host", true).first().map(|h| h.to_vec());
                loc.extend_from_slice(b"://");
                loc.extend_from_slice(&host.unwrap_or_default());
            }
            loc.extend_from_slice(&path);
            if self.append_slash && loc.last().is_some_and(|&c| c != b'/') {
                loc.push(b'/');
            }
        } else if loc.is_empty() && self.ignore_empty {
            return None;
        }
        let code = self.code;
        let mut o = format!("HTTP/1.1 {code} {}\r\n", reason(code)).into_bytes();
        // The connection header (close when the body is not read) is the
        // stream's business (`conn_header`).
        o.extend_from_slice(b"content-length: 0\r\nlocation: ");
        o.extend_from_slice(&loc);
        o.extend_from_slice(b"\r\n");
        if matches!(code, 302 | 303 | 307) {
            o.extend_from_slice(b"cache-control: no-cache\r\n");
        }
        if let Some(c) = &self.cookie {
            o.extend_from_slice(b"set-cookie: ");
            o.extend_from_slice(c);
            o.extend_from_slice(b"\r\n");
        }
        o.extend_from_slice(b"\r\n");
        Some(o)
    }
}

#[derive(Debug)]
enum Action {
    SetHeader {
        name: Vec<u8>,
        fmt: LogFmt,
        add: bool,
    },
    DelHeader {
        name: Vec<u8>,
        how: NameMatch,
    },
    /// replace-header (whole values) / replace-value (each comma-separated
    /// element): a matching value becomes the format with `\N` expanded.
    ReplaceHdr {
        name: Vec<u8>,
        re: crate::regex::Regex,
        fmt: LogFmt,
        full: bool,
    },
    /// set-map / del-map / add-acl / del-acl on a shared pattern file.
    PatEdit {
        r: std::sync::Arc<crate::map::PatRef>,
        op: PatOp,
        key: LogFmt,
        value: Option<LogFmt>,
    },
    SetVar(VarRef, Expr),
    SetVarFmt(VarRef, LogFmt),
    /// tcp rules: stop this list, go on.
    Accept,
    /// tcp rules: close the connection without a response.
    Reject,
    UnsetVar(VarRef),
    /// `capture <sample> len <n>|id <n>`: into a capture slot of this
    /// direction (`len` slots were numbered by `capture::Layout`).
    Capture {
        expr: Expr,
        res: bool,
        idx: usize,
    },
    /// `return`, `deny`, `tarpit` (final: the reply replaces the message).
    Reply(Box<Reply>, Final),
    Allow,
    Redirect(Box<Redirect>),
    SetPath(LogFmt),
    SetPathQ(LogFmt),
    SetQuery(LogFmt),
    SetUri(LogFmt),
    SetMethod(LogFmt),
    /// replace-path/replace-pathq/replace-uri: (which, regex, format).
    Replace(UriPart, crate::regex::Regex, LogFmt),
    SetStatus {
        code: u16,
        reason: Option<Vec<u8>>,
    },
    /// `wait-for-body time <ms> [at-least <bytes>]` (0 ms: no limit of
    /// its own; 0 bytes: the whole body).
    WaitForBody {
        time: u32,
        at_least: u64,
    },
    NormalizeUri(crate::uri_normalizer::Normalizer),
    /// set-src/set-dst/set-src-port/set-dst-port: the stream's view of
    /// the client connection's addresses (the connection's own, from
    /// tcp-request connection rules).
    SetAddr(AddrPart, Expr),
    /// `auth [realm <r>]`: the 401 asking for credentials; holds the
    /// `WWW-Authenticate` value (the realm defaults to the proxy's name).
    Auth(Box<[u8]>),
    /// `use-service prometheus-exporter`: the exporter answers.
    UseService,
    /// `tcp-request connection expect-proxy layer4`: the connection must
    /// start with a PROXY header, as with `accept-proxy` on its bind.
    ExpectProxy,
    /// `strict-mode on|off` (true: on): whether a rewrite that does not
    /// fit fails the message.
    StrictMode(bool),
    /// `track-scN <key> [table <t>]`: at the session level (tcp-request
    /// connection/session) or the stream's; `http`: count the request
    /// (HTTP rules and HTTP-mode content rules), `status`: the response's
    /// errors (http-response).
    Track {
        n: usize,
        key: Expr,
        table: crate::stick_table::TableRef,
        session: bool,
        http: bool,
        status: bool,
    },
    /// `sc-inc-gpc0(N)`, `sc-inc-gpc1(N)`, `sc-inc-gpc(I,N)`.
    IncGpc(usize, crate::stick_table::Gpc),
    /// `sc-set-gpt0(N) <expr>` / `sc-set-gpt(I,N) <expr>`: (counter,
    /// array index or None for gpt0, value).
    SetGpt(usize, Option<u8>, Expr),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AddrPart {
    Src,
    Dst,
    SrcPort,
    DstPort,
}

/// Which final action produced a reply: denials are counted (and a
/// tarpit delays its reply), a `return` is not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Final {
    Return,
    Deny,
    Tarpit,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PatOp {
    SetMap,
    DelMap,
    AddAcl,
    DelAcl,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum UriPart {
    Path,
    PathQ,
    Uri,
}

#[derive(Debug)]
pub struct Rule {
    act: Action,
    cond: Option<Cond>,
    /// Where the rule was declared, for `last_rule_file`/`last_rule_line`
    /// (None: the `redirect` keyword, which HAProxy does not report).
    loc: Option<(&'static str, u32)>,
}

/// Configuration file names, kept for the process's life: a rule's
/// location is then a plain copy for the stream that records it.
fn intern_file(name: &str) -> &'static str {
    static FILES: std::sync::Mutex<Vec<&'static str>> = std::sync::Mutex::new(Vec::new());
    let mut f = FILES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(n) = f.iter().find(|n| **n == name) {
        return n;
    }
    // One small allocation per configuration file, never freed.
    let n: &'static str = Box::leak(name.to_string().into_boxed_str());
    f.push(n);
    n
}

/// A proxy's compiled HTTP rules, and its tcp rules.
#[derive(Debug, Default)]
pub struct ProxyRules {
    pub req: Vec<Rule>,
    pub res: Vec<Rule>,
    pub after: Vec<Rule>,
    /// `tcp-request connection`, run at accept (layer-4 fetches only).
    pub tcp_conn: Vec<Rule>,
    /// `tcp-request session`: at accept too, unless they set variables,
    /// then when the first request is analysed (`sess_at_request`).
    pub tcp_sess: Vec<Rule>,
    pub sess_at_request: bool,
    /// `tcp-request content` / `tcp-response content` (HTTP mode: before
    /// the http-request / http-response rules of the same proxy).
    pub tcp_req: Vec<Rule>,
    pub tcp_res: Vec<Rule>,
    /// The proxy's `redirect` lines, after its http-request rules.
    pub redirects: Vec<Rule>,
    /// `option http-restrict-req-hdr-names`, applied between the two.
    pub restrict: config::model::RestrictHdrNames,
    /// `stick match|on|store-request` (request side, in order) and
    /// `stick store-response` rules of a backend.
    pub stick_req: Vec<StickRule>,
    pub stick_res: Vec<StickRule>,
}

/// One `stick` rule (HAProxy's `sticking_rule`).
#[derive(Debug)]
pub struct StickRule {
    matches: bool,
    stores: bool,
    expr: Expr,
    pub table: std::sync::Arc<crate::stick_table::Table>,
    cond: Option<Cond>,
}

/// What a stream keeps to store once its server is known: (table, key).
pub type StickStore = Vec<(std::sync::Arc<crate::stick_table::Table>, Vec<u8>)>;

/// Runs the request-side stick rules (HAProxy's
/// `process_sticking_rules`): returns the server id a `match` found
/// (unless `assigned`: a server is already chosen), and queues the
/// `store-request` keys, the first per table only.
pub fn stick_request(rules: &[StickRule], cx: &mut Ctx<'_>, assigned: bool, store: &mut StickStore) -> Option<u32> {
    let mut found = None;
    for r in rules {
        if r.stores && store.iter().any(|(t, _)| std::sync::Arc::ptr_eq(t, &r.table)) {
            continue;
        }
        if r.cond.as_ref().is_some_and(|c| !c.eval(cx)) {
            continue;
        }
        let Some(key) = r.expr.eval(cx).and_then(|v| r.table.key_of(&v)) else {
            continue;
        };
        if r.matches {
            if let Some(e) = r.table.lookup(&key) {
                if !assigned && found.is_none() {
                    found = r
                        .table
                        .read(&e, config::stick_table::DataType::ServerId, 0)
                        .map(|v| v as u32);
                }
                r.table.touch(&e);
            }
        }
        if r.stores {
            store.push((r.table.clone(), key));
        }
    }
    found
}

/// Queues the `store-response` keys (one per table beyond what the
/// request stored, as HAProxy).
pub fn stick_response(rules: &[StickRule], cx: &mut Ctx<'_>, store: &mut StickStore) {
    let nbreq = store.len();
    for r in rules {
        if store[nbreq..].iter().any(|(t, _)| std::sync::Arc::ptr_eq(t, &r.table)) {
            continue;
        }
        if r.cond.as_ref().is_some_and(|c| !c.eval(cx)) {
            continue;
        }
        if let Some(key) = r.expr.eval(cx).and_then(|v| r.table.key_of(&v)) {
            store.push((r.table.clone(), key));
        }
    }
}

/// Stores the server (its id and name) under every queued key (HAProxy's
/// `process_store_rules`), unless the server is `non-stick`.
pub fn stick_store(store: &mut StickStore, srv_id: u32, srv_name: &str, non_stick: bool) {
    for (t, key) in store.drain(..) {
        if non_stick {
            continue;
        }
        if let Some(e) = t.get_or_create(&key) {
            t.set(&e, config::stick_table::DataType::ServerId, 0, srv_id as u64);
            t.set_server_key(&e, srv_name);
        }
    }
}

/// Compiles a `stick` line (texts of HAProxy's `cfg_parse_listen`).
fn compile_stick(p: &Proxy, l: &RawLine, acls: &AclSet) -> Result<(bool, StickRule), String> {
    let w = &l.words;
    let arg = |i: usize| w.get(i).map(|s| s.as_str()).unwrap_or("");
    let loc = &l.loc;
    let (matches, stores, res, name) = match arg(1) {
        "match" => (true, false, false, " match"),
        "on" => (true, true, false, " on"),
        "store-request" => (false, true, false, " store-request"),
        "store-response" => (false, true, true, " store-response"),
        _ => {
            return Err(format!(
                "parsing [{loc}] : '{}' expects 'on', 'match', or 'store-request'.",
                w[0]
            ))
        }
    };
    if arg(2).is_empty() {
        return Err(format!("parsing [{loc}] : '{}{name}' expects a fetch method.", w[0]));
    }
    let dir = if res { Dir::Res } else { Dir::Req };
    let expr = parse_expr(arg(2), dir).map_err(|e| format!("parsing [{loc}] : '{}{name}' : {e}", w[0]))?;
    let mut i = 3;
    let mut tname = None;
    if arg(i) == "table" {
        tname = Some(arg(i + 1).to_string());
        i += 2;
    }
    let cond = if arg(i) == "if" || arg(i) == "unless" {
        Some(Cond::parse(&w[i..], acls, dir).map_err(|e| {
            format!(
                "parsing [{loc}] : '{}': error detected while parsing sticking condition : {e}.",
                w[0]
            )
        })?)
    } else if !arg(i).is_empty() {
        return Err(format!("parsing [{loc}] : '{}': unknown keyword '{}'.", w[0], arg(i)));
    } else {
        None
    };
    let tn = tname.clone().unwrap_or_else(|| p.name.clone());
    let table = crate::stick_table::find(&tn)
        .ok_or_else(|| format!("Proxy '{}': unable to find stick-table '{tn}'.", p.name))?;
    Ok((
        res,
        StickRule {
            matches,
            stores,
            expr,
            table,
            cond,
        },
    ))
}

impl ProxyRules {
    /// No rule on the request path (tcp content or http-request).
    pub fn is_empty(&self) -> bool {
        self.req.is_empty()
            && self.res.is_empty()
            && self.after.is_empty()
            && self.tcp_req.is_empty()
            && self.redirects.is_empty()
            && (!self.sess_at_request || self.tcp_sess.is_empty())
    }

    /// Something runs on the request path (tcp-request content, the
    /// session rules waiting for the request, http-request, redirect).
    pub fn has_req(&self) -> bool {
        !(self.req.is_empty()
            && self.tcp_req.is_empty()
            && self.redirects.is_empty()
            && self.restrict == config::model::RestrictHdrNames::Preserve
            && (!self.sess_at_request || self.tcp_sess.is_empty()))
    }

    /// `option http-restrict-req-hdr-names` over the request (HAProxy's
    /// `http_req_restrict_header_names()`): a header whose name holds
    /// anything but letters, digits and '-' is removed, or the request
    /// denied with a 403.
    pub fn restrict_hdr_names(&self, cx: &mut Ctx<'_>) -> Verdict {
        use config::model::RestrictHdrNames as R;
        let bad = |n: &[u8]| n.iter().any(|&c| !c.is_ascii_alphanumeric() && c != b'-');
        match self.restrict {
            R::Preserve => {}
            R::Delete => cx.del_headers(bad),
            R::Reject => {
                let mut found = false;
                cx.each_header(|n, _| found |= bad(n));
                if found {
                    return Verdict::Deny {
                        reply: Box::new(Verdict::Error(403)),
                        tarpit: None,
                    };
                }
            }
        }
        Verdict::Continue
    }

    /// Compiles a proxy's ACLs and rules. Errors are alert texts.
    pub fn build(p: &Proxy, sections: &[HttpErrors], caps: &crate::capture::Layout) -> Result<ProxyRules, String> {
        let acls = AclSet::build(&p.acls)?;
        let mut r = ProxyRules {
            restrict: p.options.restrict_req_hdr_names,
            ..Default::default()
        };
        for l in p
            .http_request
            .iter()
            .chain(&p.http_response)
            .chain(&p.http_after_response)
            .chain(&p.tcp_request)
            .chain(&p.tcp_response)
        {
            let Some((kind, rule)) = compile_line(p, false, l, &acls, sections, caps)? else {
                continue;
            };
            if kind == Kind::TcpSess
                && matches!(
                    rule.act,
                    Action::SetVar(..) | Action::SetVarFmt(..) | Action::UnsetVar(_)
                )
            {
                r.sess_at_request = true;
            }
            match kind {
                Kind::Req => r.req.push(rule),
                Kind::Res => r.res.push(rule),
                Kind::After => r.after.push(rule),
                Kind::TcpL4 => r.tcp_conn.push(rule),
                Kind::TcpSess => r.tcp_sess.push(rule),
                Kind::TcpReq => r.tcp_req.push(rule),
                Kind::TcpRes => r.tcp_res.push(rule),
            }
        }
        for l in &p.redirects {
            r.redirects.push(compile_redirect_kw(p, l, &acls)?);
        }
        if p.cap.backend {
            for l in &p.sticks {
                let (res, rule) = compile_stick(p, l, &acls)?;
                if res {
                    r.stick_res.push(rule);
                } else {
                    r.stick_req.push(rule);
                }
            }
        }
        Ok(r)
    }
}

/// A `redirect` line (the proxy keyword: a plain-text target).
pub(crate) fn compile_redirect_kw(p: &Proxy, l: &RawLine, acls: &AclSet) -> Result<Rule, String> {
    let err = |e: String| {
        format!(
            "parsing [{}] : error detected in {} while parsing redirect rule : {e}.",
            l.loc,
            px_desc(p, false)
        )
    };
    let args = &l.words[1..];
    let cpos = args
        .iter()
        .position(|w| w == "if" || w == "unless")
        .unwrap_or(args.len());
    let rd = parse_redirect(&args[..cpos], false, Dir::Req).map_err(err)?;
    let cond = match cpos < args.len() {
        true => Some(Cond::parse(&args[cpos..], acls, Dir::Req).map_err(|e| err(format!("error in condition: {e}")))?),
        false => None,
    };
    Ok(Rule {
        act: Action::Redirect(Box::new(rd)),
        cond,
        loc: None,
    })
}

/// HAProxy's name for a proxy in messages (`proxy_type_str`):
/// "frontend 'fe'", "backend 'be'", "proxy 'li'" (listen), "defaults 'd'".
fn px_desc(p: &Proxy, is_def: bool) -> String {
    let t = if is_def {
        "defaults"
    } else {
        match (p.cap.frontend, p.cap.backend) {
            (true, false) => "frontend",
            (false, true) => "backend",
            _ => "proxy",
        }
    };
    format!("{t} '{}'", p.name)
}

/// Compiles one rule line of `p` (http-request/-response/-after-response,
/// tcp-request/-response); None for lines that are settings
/// (`inspect-delay`).
fn compile_line(
    p: &Proxy,
    is_def: bool,
    l: &RawLine,
    acls: &AclSet,
    sections: &[HttpErrors],
    caps: &crate::capture::Layout,
) -> Result<Option<(Kind, Rule)>, String> {
    let kw = l.words[0].as_str();
    let kind = match kw {
        "http-request" => Kind::Req,
        "http-response" => Kind::Res,
        "http-after-response" => Kind::After,
        _ => {
            let http = p.mode == config::model::Mode::Http;
            let res = kw == "tcp-response";
            let sub = l.words.get(1).map(|s| s.as_str()).unwrap_or("");
            let refuse = |what: &str| format!("parsing [{}] : '{kw} {what}' is not supported yet by rhaproxy", l.loc);
            if sub == "inspect-delay" {
                // The whole HTTP head is there before rules run; in TCP
                // mode, content rules (refused below) would need it.
                return Ok(None);
            }
            let kind = match (res, sub) {
                (false, "connection") => Kind::TcpL4,
                (false, "session") => Kind::TcpSess,
                (false, "content") if http => Kind::TcpReq,
                (true, "content") if http => Kind::TcpRes,
                (_, "content") => return Err(refuse("content' in TCP mode, 'tcp-request content")),
                _ => return Err(refuse(sub)),
            };
            // Compiled as "<kw> <sub>" followed by the action words.
            let mut words = vec![format!("{kw} {sub}")];
            words.extend(l.words[2.min(l.words.len())..].iter().cloned());
            let rl = RawLine {
                words,
                loc: l.loc.clone(),
            };
            let rule = compile(&rl, kind, acls, p, is_def, sections, caps)?;
            if kind == Kind::TcpSess
                && !http
                && matches!(
                    rule.act,
                    Action::SetVar(..) | Action::SetVarFmt(..) | Action::UnsetVar(_)
                )
            {
                return Err(refuse("session set-var' in TCP mode, 'tcp-request session"));
            }
            return Ok(Some((kind, rule)));
        }
    };
    Ok(Some((kind, compile(l, kind, acls, p, is_def, sections, caps)?)))
}

/// An error text that only says rhaproxy lacks something HAProxy has
/// (start-up refuses it; `-c` accepts it as HAProxy would).
pub fn is_unsupported(msg: &str) -> bool {
    msg.contains("not supported yet")
}

/// [`config::LoadOptions::rule_check`]: compiles an `acl` or rule line
/// while the configuration is read, as HAProxy does, with HAProxy's texts.
/// What rhaproxy does not implement passes here (start-up refuses it).
pub fn check_rule_line(p: &Proxy, is_def: bool, l: &RawLine) -> Result<(), config::RuleErr> {
    let kw = l.words[0].as_str();
    let fail = |text: String, abort: bool| {
        if is_unsupported(&text) {
            Ok(())
        } else {
            Err(config::RuleErr { text, abort })
        }
    };
    if matches!(
        kw,
        "use_backend" | "use-server" | "force-persist" | "ignore-persist" | "redirect"
    ) {
        // Their conditions (and a redirect's words) fail as HAProxy's
        // parser does; names are resolved once every proxy is known.
        let acls = AclSet::build_lenient(&p.acls, &l.words);
        return match crate::switching::check_line(p, l, &acls) {
            Err(e) => fail(e, false),
            Ok(()) => Ok(()),
        };
    }
    if kw == "acl" {
        return match AclSet::build(std::slice::from_ref(l)) {
            Err(e) => fail(e, false),
            Ok(_) => Ok(()),
        };
    }
    let http = kw.starts_with("http-");
    if http {
        let act = l.words.get(1).map(|s| s.as_str()).unwrap_or("");
        if let Some(list) = haproxy_actions(kw) {
            let known = list.split(", ").any(|k| {
                let k = k.trim_matches('\'');
                match k.strip_suffix("(*)") {
                    Some(pfx) => act.starts_with(pfx),
                    None => act == k,
                }
            });
            if !known {
                return Err(config::RuleErr {
                    text: format!("parsing [{}]: '{kw}' expects {list}, but got '{act}'.", l.loc),
                    abort: true,
                });
            }
        }
    }
    // Only the ACLs this line names; their own lines were checked when
    // read, so one that does not compile here is something rhaproxy lacks.
    let acls = AclSet::build_lenient(&p.acls, &l.words);
    // Capture slots are numbered over the whole frontend (a defaults
    // section lends its rules to frontends): start-up checks them.
    let caps = match crate::capture::Layout::build(p) {
        Ok(c) if !is_def => c,
        _ if l.words.get(1).is_some_and(|a| a == "capture") => return Ok(()),
        _ => Default::default(),
    };
    match crate::stick_table::with_proxy(&p.name, || compile_line(p, is_def, l, &acls, &[], &caps)) {
        // References to http-errors sections are resolved after parsing
        // (as HAProxy does); start-up reports those.
        Err(e) if e.starts_with("Proxy '") => Ok(()),
        Err(e) => fail(e, http),
        Ok(_) => Ok(()),
    }
}

/// The actions HAProxy 2.6 knows after each rule keyword, as its "expects"
/// message lists them.
fn haproxy_actions(kw: &str) -> Option<&'static str> {
    Some(match kw {
        "http-request" => "'wait-for-handshake', 'ot-group', 'set-log-level', 'set-nice', 'use-service', 'sc-inc-gpc(*)', 'sc-inc-gpc0(*)', 'sc-inc-gpc1(*)', 'sc-set-gpt(*)', 'sc-set-gpt0(*)', 'send-spoe-group', 'do-resolve(*)', 'cache-use', 'add-acl(*)', 'add-header', 'allow', 'auth', 'capture', 'del-acl(*)', 'del-header', 'del-map(*)', 'deny', 'disable-l7-retry', 'early-hint', 'normalize-uri', 'redirect', 'reject', 'replace-header', 'replace-path', 'replace-pathq', 'replace-uri', 'replace-value', 'return', 'set-header', 'set-map(*)', 'set-method', 'set-path', 'set-pathq', 'set-query', 'set-uri', 'strict-mode', 'tarpit', 'track-sc(*)', 'set-timeout', 'wait-for-body', 'set-var-fmt(*)', 'set-var(*)', 'unset-var(*)', 'set-dst', 'set-dst-port', 'set-mark', 'set-src', 'set-src-port', 'set-tos', 'silent-drop', 'set-priority-class', 'set-priority-offset'",
        "http-response" => "'ot-group', 'set-log-level', 'set-nice', 'sc-inc-gpc(*)', 'sc-inc-gpc0(*)', 'sc-inc-gpc1(*)', 'sc-set-gpt(*)', 'sc-set-gpt0(*)', 'send-spoe-group', 'cache-store', 'add-acl(*)', 'add-header', 'allow', 'capture', 'del-acl(*)', 'del-header', 'del-map(*)', 'deny', 'redirect', 'replace-header', 'replace-value', 'return', 'set-header', 'set-map(*)', 'set-status', 'strict-mode', 'track-sc(*)', 'wait-for-body', 'set-var-fmt(*)', 'set-var(*)', 'unset-var(*)', 'set-mark', 'set-tos', 'silent-drop'",
        "http-after-response" => "'ot-group', 'add-header', 'allow', 'capture', 'del-header', 'replace-header', 'replace-value', 'set-header', 'set-status', 'strict-mode', 'set-var-fmt(*)', 'set-var(*)', 'unset-var(*)'",
        _ => return None,
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Req,
    Res,
    After,
    /// tcp-request connection (accept/reject only)
    TcpL4,
    TcpSess,
    TcpReq,
    TcpRes,
}

impl Kind {
    fn tcp(self) -> bool {
        matches!(self, Kind::TcpL4 | Kind::TcpSess | Kind::TcpReq | Kind::TcpRes)
    }
}

fn compile(
    l: &RawLine,
    kind: Kind,
    acls: &AclSet,
    p: &Proxy,
    is_def: bool,
    sections: &[HttpErrors],
    caps: &crate::capture::Layout,
) -> Result<Rule, String> {
    let px = px_desc(p, is_def);
    let kw = l.words[0].as_str();
    let act = l.words.get(1).map(|s| s.as_str()).unwrap_or("");
    let dir = if matches!(kind, Kind::Req | Kind::TcpL4 | Kind::TcpSess | Kind::TcpReq) {
        Dir::Req
    } else {
        Dir::Res
    };
    let unsupported = || {
        format!(
            "parsing [{}] : '{kw} {}' is not supported yet by rhaproxy",
            l.loc,
            act.split('(').next().unwrap_or(act)
        )
    };
    // tcp rules take accept, reject, the stick counter actions and the
    // variable actions only (and connection rules no variables: there is
    // no stream yet).
    if kind.tcp() {
        let var = act.starts_with("set-var(") || act.starts_with("set-var-fmt(") || act.starts_with("unset-var(");
        let addr = matches!(act, "set-src" | "set-dst" | "set-src-port" | "set-dst-port")
            && matches!(kind, Kind::TcpL4 | Kind::TcpReq);
        let expect = act == "expect-proxy" && kind == Kind::TcpL4;
        if act == "expect-proxy" && !expect {
            return Err(format!(
                "parsing [{}] : 'expect-proxy layer4' is not allowed in '{kw}' rules in {}",
                l.loc,
                px_desc(p, is_def)
            ));
        }
        let stk = act.starts_with("track-sc") || act.starts_with("sc-inc-gpc") || act.starts_with("sc-set-gpt");
        if !(act == "accept" || act == "reject" || addr || expect || stk || (var && kind != Kind::TcpL4)) {
            return Err(unsupported());
        }
    }
    let err = |e: String| {
        if kind.tcp() {
            format!("parsing [{}] : {e}", l.loc)
        } else {
            format!(
                "parsing [{}] : error detected in {px} while parsing '{kw} {act}' rule : {e}.",
                l.loc
            )
        }
    };
    let cond_err = |e: String| {
        format!(
            "parsing [{}] : error detected while parsing an '{kw} {act}' condition : {e}.",
            l.loc
        )
    };
    // The condition starts at the first `if`/`unless`.
    let cpos = l.words[2.min(l.words.len())..]
        .iter()
        .position(|w| w == "if" || w == "unless")
        .map(|p| p + 2)
        .unwrap_or(l.words.len());
    let args = &l.words[2.min(cpos)..cpos];
    let cond = if cpos < l.words.len() {
        Some(Cond::parse(&l.words[cpos..], acls, dir).map_err(cond_err)?)
    } else {
        None
    };
    let arg = |i: usize| -> Result<&str, String> {
        args.get(i)
            .map(|s| s.as_str())
            .ok_or_else(|| err(format!("expects at least {} arguments", i + 1)))
    };
    let lf = |s: &str| LogFmt::parse(s, dir).map_err(err);
    let only = |n: usize| -> Result<(), String> {
        if args.len() > n {
            Err(err(format!("unexpected argument '{}'", args[n])))
        } else {
            Ok(())
        }
    };
    let a = match act {
        "set-header" | "add-header" => {
            only(2)?;
            Action::SetHeader {
                name: arg(0)?.as_bytes().to_vec(),
                fmt: lf(arg(1)?)?,
                add: act == "add-header",
            }
        }
        "del-header" => {
            let how = match args.get(1).map(|s| s.as_str()) {
                None => NameMatch::Str,
                Some("-m") => match args.get(2).map(|s| s.as_str()) {
                    Some("str") => NameMatch::Str,
                    Some("beg") => NameMatch::Beg,
                    Some("end") => NameMatch::End,
                    Some("sub") => NameMatch::Sub,
                    Some("reg") => NameMatch::Reg(crate::regex::Regex::new(arg(0)?, true).map_err(err)?),
                    _ => return Err(unsupported()),
                },
                Some(o) => return Err(err(format!("unexpected argument '{o}'"))),
            };
            only(3)?;
            Action::DelHeader {
                name: arg(0)?.to_ascii_lowercase().into_bytes(),
                how,
            }
        }
        "replace-header" | "replace-value" => {
            if args.len() != 3 {
                return Err(err("expects exactly 3 arguments".into()));
            }
            let re = crate::regex::Regex::new(&args[1], false).map_err(err)?;
            Action::ReplaceHdr {
                name: args[0].as_bytes().to_vec(),
                re,
                fmt: lf(&args[2])?,
                full: act == "replace-header",
            }
        }
        a if !kind.tcp()
            && kind != Kind::After
            && ["set-map(", "del-map(", "add-acl(", "del-acl("]
                .iter()
                .any(|p| a.starts_with(p))
            && a.ends_with(')') =>
        {
            let op = match &a[..8] {
                "set-map(" => PatOp::SetMap,
                "del-map(" => PatOp::DelMap,
                "add-acl(" => PatOp::AddAcl,
                _ => PatOp::DelAcl,
            };
            let file = &a[8..a.len() - 1];
            let n = if op == PatOp::SetMap { 2 } else { 1 };
            if args.len() != n {
                let what = if n == 2 {
                    "exactly 2 arguments"
                } else {
                    "exactly 1 argument"
                };
                return Err(err(format!("expects {what}")));
            }
            let is_map = matches!(op, PatOp::SetMap | PatOp::DelMap);
            Action::PatEdit {
                r: crate::map::ref_or_new(file, is_map),
                op,
                key: lf(&args[0])?,
                value: if n == 2 { Some(lf(&args[1])?) } else { None },
            }
        }
        a if a.starts_with("set-var(") && a.ends_with(')') => {
            only(1)?;
            let v = VarRef::parse(&a[8..a.len() - 1]).map_err(err)?;
            Action::SetVar(v, parse_expr(arg(0)?, dir).map_err(err)?)
        }
        a if a.starts_with("set-var-fmt(") && a.ends_with(')') => {
            only(1)?;
            let v = VarRef::parse(&a[12..a.len() - 1]).map_err(err)?;
            Action::SetVarFmt(v, lf(arg(0)?)?)
        }
        a if a.starts_with("track-sc") && kind != Kind::After => {
            let n = match a.strip_prefix("track-sc").and_then(|d| d.parse::<usize>().ok()) {
                Some(n) if n < crate::stick_table::MAX_SESS_STKCTR => n,
                _ => {
                    return Err(err(format!(
                        "invalid stick table tracker index '{}', must be between 0 and {}",
                        &a[8..],
                        crate::stick_table::MAX_SESS_STKCTR - 1
                    )))
                }
            };
            let key = parse_expr(arg(0)?, dir).map_err(|e| err(format!("{a}: {e}")))?;
            let tname = match args.get(1).map(|s| s.as_str()) {
                None => None,
                Some("table") => Some(arg(2)?),
                Some(o) => return Err(err(format!("{a}: unexpected argument '{o}'"))),
            };
            only(if tname.is_some() { 3 } else { 1 })?;
            let table = crate::stick_table::resolve(tname).map_err(|e| err(format!("{a}: {e}")))?;
            let http = p.mode == config::model::Mode::Http && matches!(kind, Kind::Req | Kind::Res | Kind::TcpReq);
            Action::Track {
                n,
                key,
                table,
                session: matches!(kind, Kind::TcpL4 | Kind::TcpSess),
                http,
                status: kind == Kind::Res,
            }
        }
        a if (a.starts_with("sc-inc-gpc") || a.starts_with("sc-set-gpt")) && kind != Kind::After => {
            // name(args): sc-inc-gpc0(N), sc-inc-gpc(I,N), sc-set-gpt0(N)
            let (name, inner) = match a.split_once('(') {
                Some((nm, rest)) if rest.ends_with(')') => (nm, &rest[..rest.len() - 1]),
                _ => (a, ""),
            };
            let nums: Vec<&str> = if inner.is_empty() {
                Vec::new()
            } else {
                inner.split(',').collect()
            };
            let num = |s: &str, max: usize| -> Result<usize, String> {
                match s.trim().parse::<usize>() {
                    Ok(v) if v < max => Ok(v),
                    _ => Err(err(format!(
                        "invalid stick table track ID '{s}'. The max allowed ID is {}",
                        max - 1
                    ))),
                }
            };
            let sc_max = crate::stick_table::MAX_SESS_STKCTR;
            let arr = config::stick_table::MAX_ARRAY as usize;
            let (idx, n) = match (name, nums.as_slice()) {
                ("sc-inc-gpc0" | "sc-inc-gpc1" | "sc-set-gpt0", [n]) => (None, num(n, sc_max)?),
                ("sc-inc-gpc" | "sc-set-gpt", [i, n]) => (Some(num(i, arr)? as u8), num(n, sc_max)?),
                ("sc-inc-gpc0" | "sc-inc-gpc1" | "sc-inc-gpc" | "sc-set-gpt0" | "sc-set-gpt", _) => {
                    return Err(err(format!("missing or invalid stick table track ID in '{a}'")))
                }
                _ => return Err(unsupported()),
            };
            if name.starts_with("sc-inc-gpc") {
                only(0)?;
                let g = match (name, idx) {
                    ("sc-inc-gpc0", _) => crate::stick_table::Gpc::Legacy(0),
                    ("sc-inc-gpc1", _) => crate::stick_table::Gpc::Legacy(1),
                    (_, i) => crate::stick_table::Gpc::Array(i.unwrap_or(0)),
                };
                Action::IncGpc(n, g)
            } else {
                only(1)?;
                let v = arg(0)?;
                let e = match v.parse::<i64>() {
                    Ok(i) => Expr {
                        fetch: crate::sample::Fetch::Const(crate::sample::Smp::Int(i)),
                        convs: Vec::new(),
                    },
                    Err(_) => parse_expr(v, dir).map_err(err)?,
                };
                Action::SetGpt(n, idx, e)
            }
        }
        "accept" if kind.tcp() => {
            only(0)?;
            Action::Accept
        }
        "reject" if kind.tcp() => {
            only(0)?;
            Action::Reject
        }
        a if a.starts_with("unset-var(") && a.ends_with(')') => {
            only(0)?;
            Action::UnsetVar(VarRef::parse(&a[10..a.len() - 1]).map_err(err)?)
        }
        "allow" => {
            only(0)?;
            Action::Allow
        }
        "capture" if kind != Kind::After => {
            if args.len() < 3 {
                return Err(err(if kind == Kind::Req {
                    "expects <expression> [ 'len' <length> | id <idx> ]".into()
                } else {
                    "expects <expression> id <idx>".into()
                }));
            }
            let expr = parse_expr(arg(0)?, dir).map_err(err)?;
            let res = kind == Kind::Res;
            let idx = match arg(1)? {
                "len" if !res => caps.rule_slot(&l.loc).ok_or_else(|| err("length must be > 0".into()))?,
                "id" => {
                    let id: usize = arg(2)?
                        .parse()
                        .map_err(|_| err(format!("cannot parse id '{}'", args[2])))?;
                    let declared = if res { caps.res.len() } else { caps.req.len() };
                    // Slots live in frontends: a backend's ids are checked
                    // against the frontend at run time (ignored if absent).
                    if p.cap.frontend && id >= declared {
                        return Err(format!(
                            "parsing [{}] : error detected in {px} while parsing '{kw} capture' rule : unable to find capture id '{id}' referenced by {kw} capture rule.",
                            l.loc
                        ));
                    }
                    id
                }
                o if res => return Err(err(format!("expects 'id', found '{o}'"))),
                _ => return Err(err("expects 'len or 'id'".into())),
            };
            only(3)?;
            Action::Capture { expr, res, idx }
        }
        "deny" | "return" | "tarpit" if kind != Kind::After && (act != "tarpit" || kind == Kind::Req) => {
            let default_status = match (act, kind) {
                ("return", _) => 200,
                ("tarpit", _) => 500,
                (_, Kind::Req) => 403,
                _ => 502,
            };
            // `deny` alone or with only `deny_status` keeps the proxies'
            // error messages (default-errorfiles); otherwise it is a full
            // reply where `deny_status` means `status`.
            let mut words: Vec<String> = args.to_vec();
            if act != "return" {
                match args.first().map(|s| s.as_str()) {
                    None => words = vec!["default-errorfiles".into()],
                    Some("deny_status") if args.len() <= 2 => {
                        words = vec![
                            "status".into(),
                            args.get(1).cloned().unwrap_or_default(),
                            "default-errorfiles".into(),
                        ];
                    }
                    Some("deny_status") => words[0] = "status".into(),
                    _ => {}
                }
            }
            let parsed = Reply::parse(&words, default_status, dir, sections).map_err(|e| match e {
                ReplyError::Parse(m) => err(m),
                ReplyError::Check(m) => format!("Proxy '{}': {m}.", p.name),
            })?;
            if let Some(w) = words.get(parsed.used) {
                return Err(format!(
                    "parsing [{}]: '{kw} {act}' expects either 'if' or 'unless' followed by a condition but found '{w}'.",
                    l.loc
                ));
            }
            let fin = match act {
                "return" => Final::Return,
                "deny" => Final::Deny,
                _ => Final::Tarpit,
            };
            Action::Reply(Box::new(parsed.reply), fin)
        }
        "auth" if kind == Kind::Req => {
            let mut i = 0;
            let mut realm = p.name.as_str();
            if args.first().is_some_and(|a| a == "realm") {
                realm = match args.get(1) {
                    Some(r) if !r.is_empty() => r,
                    _ => return Err(err("missing realm value.\n".into())),
                };
                i = 2;
            }
            if let Some(w) = args.get(i) {
                return Err(format!(
                    "parsing [{}]: '{kw} {act}' expects either 'if' or 'unless' followed by a condition but found '{w}'.",
                    l.loc
                ));
            }
            // Written as is between the quotes, as HAProxy does.
            Action::Auth(format!("Basic realm=\"{realm}\"").into_bytes().into())
        }
        "use-service" if kind == Kind::Req => {
            match args.first().map(|a| a.as_str()) {
                Some("prometheus-exporter") => {}
                Some(name) => return Err(err(format!("'{name}' unknown service name."))),
                None => return Err(err("expects a service name.".into())),
            }
            if let Some(w) = args.get(1) {
                return Err(format!(
                    "parsing [{}]: '{kw} {act}' expects either 'if' or 'unless' followed by a condition but found '{w}'.",
                    l.loc
                ));
            }
            Action::UseService
        }
        "redirect" if matches!(kind, Kind::Req | Kind::Res) => {
            let rd = parse_redirect(args, true, dir).map_err(err)?;
            if kind == Kind::Res && rd.kind != RedirKind::Location {
                return Err(err("response only supports redirect type 'location'".into()));
            }
            Action::Redirect(Box::new(rd))
        }
        "set-path" | "set-pathq" | "set-query" | "set-uri" | "set-method" if kind == Kind::Req => {
            only(1)?;
            let f = lf(arg(0)?)?;
            match act {
                "set-path" => Action::SetPath(f),
                "set-pathq" => Action::SetPathQ(f),
                "set-query" => Action::SetQuery(f),
                "set-uri" => Action::SetUri(f),
                _ => Action::SetMethod(f),
            }
        }
        "replace-path" | "replace-pathq" | "replace-uri" if kind == Kind::Req => {
            only(2)?;
            let part = match act {
                "replace-path" => UriPart::Path,
                "replace-pathq" => UriPart::PathQ,
                _ => UriPart::Uri,
            };
            let re = crate::regex::Regex::new(arg(0)?, false).map_err(err)?;
            Action::Replace(part, re, lf(arg(1)?)?)
        }
        "set-status" if kind != Kind::Req => {
            let code = parse_status(arg(0)?).map_err(err)?;
            let reason = match args.get(1).map(|s| s.as_str()) {
                None => None,
                Some("reason") => Some(arg(2)?.as_bytes().to_vec()),
                Some(o) => return Err(err(format!("unexpected argument '{o}'"))),
            };
            only(3)?;
            Action::SetStatus { code, reason }
        }
        "wait-for-body" if matches!(kind, Kind::Req | Kind::Res) => {
            let usage = || err("expects time <time> [ at-least <bytes> ]".into());
            let (mut time, mut at_least, mut i) = (None, 0, 0);
            while let Some(w) = args.get(i).map(|s| s.as_str()) {
                let v = match args.get(i + 1) {
                    Some(v) if w == "time" || w == "at-least" => v.as_str(),
                    None if w == "time" || w == "at-least" => return Err(err(format!("missing argument for '{w}'"))),
                    _ => break,
                };
                if w == "time" {
                    use config::units::TimeError as T;
                    time = Some(config::units::parse_time_ms(v).map_err(|e| {
                        err(match e {
                            T::Overflow => "time overflow (maximum value is 2147483647 ms or ~24.8 days)".into(),
                            T::Underflow => "time underflow (minimum non-null value is 1 ms)".into(),
                            T::BadChar(c) => format!("unexpected character '{c}'"),
                            T::Empty => "unexpected character ''".into(),
                        })
                    })?);
                } else {
                    at_least = config::units::parse_size(v).map_err(|c| err(format!("unexpected character '{c}'")))?;
                }
                i += 2;
            }
            let time = time.ok_or_else(usage)?;
            if let Some(w) = args.get(i) {
                return Err(format!(
                    "parsing [{}]: '{kw} {act}' expects either 'if' or 'unless' followed by a condition but found '{w}'.",
                    l.loc
                ));
            }
            Action::WaitForBody { time, at_least }
        }
        "strict-mode" if !kind.tcp() => {
            let on = match args.first().map(|s| s.to_ascii_lowercase()) {
                None => return Err(err("expects exactly 1 arguments".into())),
                Some(w) if w == "on" => true,
                Some(w) if w == "off" => false,
                Some(_) => {
                    return Err(err(format!(
                        "Unexpected value '{}'. Only 'on' and 'off' are supported",
                        args[0]
                    )))
                }
            };
            if let Some(w) = args.get(1) {
                return Err(format!(
                    "parsing [{}]: '{kw} {act}' expects either 'if' or 'unless' followed by a condition but found '{w}'.",
                    l.loc
                ));
            }
            Action::StrictMode(on)
        }
        "normalize-uri" if kind == Kind::Req => {
            let (n, used) = crate::uri_normalizer::Normalizer::parse(args, cond.is_some()).map_err(err)?;
            if let Some(w) = args.get(used) {
                return Err(format!(
                    "parsing [{}]: '{kw} {act}' expects either 'if' or 'unless' followed by a condition but found '{w}'.",
                    l.loc
                ));
            }
            Action::NormalizeUri(n)
        }
        "expect-proxy" if kind == Kind::TcpL4 => {
            let w = args.first().map_or("", |s| s.as_str());
            if w != "layer4" {
                return Err(err(format!("'{kw} {act}' only supports 'layer4' in {px} (got '{w}')")));
            }
            only(1)?;
            Action::ExpectProxy
        }
        "set-src" | "set-dst" | "set-src-port" | "set-dst-port"
            if matches!(kind, Kind::Req | Kind::TcpL4 | Kind::TcpReq) =>
        {
            only(1)?;
            let part = match act {
                "set-src" => AddrPart::Src,
                "set-dst" => AddrPart::Dst,
                "set-src-port" => AddrPart::SrcPort,
                _ => AddrPart::DstPort,
            };
            Action::SetAddr(part, parse_expr(arg(0)?, dir).map_err(err)?)
        }
        _ => return Err(unsupported()),
    };
    Ok(Rule {
        act: a,
        cond,
        loc: Some((intern_file(&l.loc.file), l.loc.line as u32)),
    })
}

/// The `auth` action's reply: `msg` (the proxies' 401 as it goes on the
/// wire) without its `WWW-Authenticate` headers and with `value` in a new
/// one after the others, as HAProxy edits the message it generated.
pub fn with_www_authenticate(msg: &[u8], value: &[u8]) -> Vec<u8> {
    let Some(end) = msg.windows(4).position(|w| w == b"\r\n\r\n") else {
        return msg.to_vec();
    };
    let mut out = Vec::with_capacity(msg.len() + value.len() + 24);
    let mut first = true;
    for line in msg[..end + 2].split_inclusive(|&c| c == b'\n') {
        let name = line.split(|&c| c == b':').next().unwrap_or(b"");
        if !first && name.eq_ignore_ascii_case(b"www-authenticate") {
            continue;
        }
        first = false;
        out.extend_from_slice(line);
    }
    out.extend_from_slice(b"www-authenticate: ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&msg[end + 2..]);
    out
}

fn parse_status(s: &str) -> Result<u16, String> {
    match s.parse::<u16>() {
        Ok(c) if (100..=999).contains(&c) => Ok(c),
        _ => Err(format!("invalid status code '{s}'")),
    }
}

/// HAProxy's reason phrases (`http_get_reason`).
pub fn reason(code: u16) -> &'static str {
    match code {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        205 => "Reset Content",
        206 => "Partial Content",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        305 => "Use Proxy",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Request Entity Too Large",
        414 => "Request-URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Requested range unsatisfiable",
        417 => "Expectation failed",
        418 => "I'm a teapot",
        421 => "Misdirected Request",
        422 => "Unprocessable Content",
        425 => "Too Early",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        c if c < 200 => "Informational",
        c if c < 300 => "Success",
        c if c < 400 => "Redirection",
        c if c < 500 => "Client Error",
        _ => "Server Error",
    }
}

/// What a rule list decided.
#[derive(Debug, PartialEq)]
pub enum Verdict {
    /// Go on (next list, then forward).
    Continue,
    /// `deny`: the proxy's error reply for this status.
    Error(u16),
    /// `return`/`redirect`: this complete response instead.
    Reply(u16, Vec<u8>),
    /// HAProxy's built-in page for this status (the proxies have none).
    Builtin(u16),
    /// An error file (`errorfile`/`errorfiles` options): sent as is.
    Msg(u16, std::sync::Arc<crate::http_reply::ErrMsg>),
    /// tcp `reject`: close the connection, no response.
    Reject,
    /// `auth`: the proxies' 401 message with this `WWW-Authenticate`
    /// value in place of any the message had.
    Auth(Box<[u8]>),
    /// `use-service prometheus-exporter`: the exporter takes the request.
    Service,
    /// `deny`/`tarpit`: a denial (counted) answered with `reply`; a
    /// tarpit holds the reply back for the given ms (`run` leaves 0; the
    /// caller knows the proxy's `timeout tarpit`).
    Deny { reply: Box<Verdict>, tarpit: Option<u32> },
    /// The rule found the request invalid (HAProxy's ACT_RET_INV): 400,
    /// counted as a request error, the connection closed.
    BadReq,
    /// A rewrite did not fit in the buffer under `strict-mode on`
    /// (HAProxy's ACT_RET_ERR): 500, counted as an internal error.
    RwFail,
    /// `wait-for-body`: rule `rule` of list `step` (the caller's
    /// numbering; `run` leaves 0) waits for more of the body, at most
    /// `time` ms from the first pause. The list resumes at that rule.
    Wait { step: u8, rule: usize, time: u32 },
}

fn header_matches(name: &[u8], pat: &[u8], how: &NameMatch) -> bool {
    if let NameMatch::Reg(r) = how {
        return r.is_match(name);
    }
    // `pat` is lower-case: compare ignoring case instead of lower-casing
    // a copy of every header name.
    let n = name;
    let eq = |x: &[u8], y: &[u8]| x.eq_ignore_ascii_case(y);
    match how {
        NameMatch::Reg(_) => false,
        NameMatch::Str => eq(n, pat),
        NameMatch::Beg => n.len() >= pat.len() && eq(&n[..pat.len()], pat),
        NameMatch::End => n.len() >= pat.len() && eq(&n[n.len() - pat.len()..], pat),
        NameMatch::Sub => pat.is_empty() || n.windows(pat.len()).any(|w| eq(w, pat)),
    }
}

/// replace-value: each comma-separated element (outside quotes) of `v`
/// that `re` matches becomes `fmt` expanded; separators are kept. None
/// when nothing matched.
fn replace_values(v: &[u8], re: &crate::regex::Regex, fmt: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(v.len() + fmt.len());
    let mut changed = false;
    let mut start = 0;
    let mut quoted = false;
    let mut emit = |seg: &[u8], out: &mut Vec<u8>| {
        let b = seg.iter().position(|c| !c.is_ascii_whitespace()).unwrap_or(seg.len());
        let e = seg.iter().rposition(|c| !c.is_ascii_whitespace()).map_or(b, |e| e + 1);
        out.extend_from_slice(&seg[..b]);
        match re.replace(&seg[b..e], fmt) {
            Some(n) => {
                changed = true;
                out.extend_from_slice(&n);
            }
            None => out.extend_from_slice(&seg[b..e]),
        }
        out.extend_from_slice(&seg[e..]);
    };
    for (i, &c) in v.iter().enumerate() {
        if c == b'"' {
            quoted = !quoted;
        } else if c == b',' && !quoted {
            emit(&v[start..i], &mut out);
            out.push(b',');
            start = i + 1;
        }
    }
    emit(&v[start..], &mut out);
    changed.then_some(out)
}

/// Replaces the part of the request target `part` designates.
fn rewrite_uri(uri: &[u8], path: Option<&[u8]>, query: Option<&[u8]>) -> Vec<u8> {
    let p = crate::sample::uri_path(uri);
    let pstart = p.as_ptr() as usize - uri.as_ptr() as usize;
    let pend = pstart + p.len();
    let mut o = uri[..pstart].to_vec();
    o.extend_from_slice(path.unwrap_or(p));
    match query {
        Some([]) => {}
        Some(q) => {
            o.push(b'?');
            o.extend_from_slice(q);
        }
        None => o.extend_from_slice(&uri[pend..]),
    }
    o
}

/// Applies a set-src/-dst/-port value (HAProxy's `tcp_action_req_set_*`):
/// an address keeps the old port; a port on a connection without an
/// address gives it 0.0.0.0; a value that does not convert, or a
/// connection without addresses for set-src/set-dst (a UNIX socket),
/// changes nothing.
fn set_addr(info: &mut crate::sample::Info<'_>, part: AddrPart, v: &crate::sample::Smp) {
    use std::net::{IpAddr, Ipv4Addr, SocketAddr};
    let slot = match part {
        AddrPart::Src | AddrPart::SrcPort => &mut info.src,
        AddrPart::Dst | AddrPart::DstPort => &mut info.dst,
    };
    match part {
        AddrPart::Src | AddrPart::Dst => {
            if let (Some(a), Some(ip)) = (slot.as_mut(), v.to_ip()) {
                *a = SocketAddr::new(ip, a.port());
            }
        }
        AddrPart::SrcPort | AddrPart::DstPort => {
            if let Some(p) = v.to_int() {
                // htons() of the integer: its low 16 bits.
                let p = p as u16;
                match slot.as_mut() {
                    Some(a) => a.set_port(p),
                    None => *slot = Some(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), p)),
                }
            }
        }
    }
}

/// What a header takes in HAProxy's HTX message: its name and value plus
/// the 8 bytes of its block.
fn hdr_cost(n: &[u8], v: &[u8]) -> i64 {
    (n.len() + v.len() + 8) as i64
}

/// What the headers matching `pred` take (see [`hdr_cost`]).
fn hdrs_cost(cx: &Ctx<'_>, mut pred: impl FnMut(&[u8]) -> bool) -> i64 {
    let mut c = 0;
    cx.each_header(|n, v| {
        if pred(n) {
            c += hdr_cost(n, v);
        }
    });
    c
}

/// Charges a rewrite that grows the message by `cost` bytes against the
/// room the buffer has left (`Edit::room`, set by the stream: the buffer
/// size less what the message holds in it, so at least `tune.maxrewrite`
/// once the receive limit filled it). Ok(true): go on with the rewrite;
/// Ok(false): it does not fit and `strict-mode off` cancels it alone;
/// Err: it does not fit and fails the message. Either failure is counted
/// (`failed_rewrites`). This is HAProxy's rule that a rewrite must fit in
/// the HTX buffer, measured on rhaproxy's own buffer.
fn charge(cx: &mut Ctx<'_>, cost: i64) -> Result<bool, Verdict> {
    let e = &mut *cx.edit;
    if cost <= 0 || e.grown.saturating_add(cost) <= e.room {
        e.grown += cost;
        return Ok(true);
    }
    e.rw_failed += 1;
    if e.soft_rw {
        Ok(false)
    } else {
        Err(Verdict::RwFail)
    }
}

/// Runs one proxy's rule list. `allow` ends this list only.
pub fn run(rules: &[Rule], cx: &mut Ctx<'_>) -> Verdict {
    run_at(rules, None, cx)
}

/// Runs a rule list, or resumes it at the rule that paused it (whose
/// condition is not evaluated again, as in HAProxy).
pub fn run_at(rules: &[Rule], resume: Option<usize>, cx: &mut Ctx<'_>) -> Verdict {
    let mut at = None;
    let v = run_list(rules, resume, cx, &mut at);
    // The rule that ended the list with a final verdict (allow and accept
    // included; a pause is not one) is the stream's last rule.
    if let Some(loc) = at.and_then(|i| rules[i].loc) {
        if !matches!(v, Verdict::Wait { .. }) {
            cx.info.last_rule = Some(loc);
        }
    }
    v
}

/// [`run_at`]'s loop; `at` ends as the index of the rule that stopped
/// the list, None when the list ran to its end.
fn run_list(rules: &[Rule], resume: Option<usize>, cx: &mut Ctx<'_>, at: &mut Option<usize>) -> Verdict {
    let from = resume.unwrap_or(0);
    for (i, r) in rules.iter().enumerate().skip(from) {
        let resumed = resume == Some(i);
        if let Some(c) = r.cond.as_ref().filter(|_| !resumed) {
            if !c.eval(cx) {
                continue;
            }
        }
        *at = Some(i);
        match &r.act {
            Action::SetHeader { name, fmt, add } => {
                // Rendered into the transaction's scratch: no allocation
                // per request once the scratch and the arena are warm.
                let mut v = std::mem::take(&mut cx.edit.tmp);
                v.clear();
                fmt.render(cx, &mut v);
                let mut cost = hdr_cost(name, &v);
                if !*add {
                    cost -= hdrs_cost(cx, |n| http::eq_ignore_case(n, name));
                }
                let charged = charge(cx, cost);
                if let Ok(true) = charged {
                    if !*add {
                        cx.del_headers(|n| http::eq_ignore_case(n, name));
                    }
                    cx.edit.added.push_lower(name, &v);
                }
                cx.edit.tmp = v;
                match charged {
                    Err(verdict) => return verdict,
                    Ok(false) => continue,
                    Ok(true) => {}
                }
            }
            Action::DelHeader { name, how } => {
                let freed = hdrs_cost(cx, |n| header_matches(n, name, how));
                cx.edit.grown -= freed;
                cx.del_headers(|n| header_matches(n, name, how))
            }
            Action::StrictMode(on) => cx.edit.soft_rw = !*on,
            Action::ReplaceHdr { name, re, fmt, full } => {
                let mut f = Vec::new();
                fmt.render(cx, &mut f);
                let mut changed = false;
                let mut vals: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
                cx.each_header(|n, v| {
                    if !http::eq_ignore_case(n, name) {
                        return;
                    }
                    let nv = if *full {
                        re.replace(v, &f)
                    } else {
                        replace_values(v, re, &f)
                    };
                    changed |= nv.is_some();
                    vals.push((n.to_vec(), nv.unwrap_or_else(|| v.to_vec())));
                });
                if changed {
                    let cost = vals.iter().map(|(n, v)| hdr_cost(n, v)).sum::<i64>()
                        - hdrs_cost(cx, |n| http::eq_ignore_case(n, name));
                    match charge(cx, cost) {
                        Err(v) => return v,
                        Ok(false) => continue,
                        Ok(true) => {}
                    }
                    // Rewritten occurrences move after the other headers,
                    // in their order (the codec re-serialises the head).
                    cx.del_headers(|n| http::eq_ignore_case(n, name));
                    for (n, v) in &vals {
                        cx.edit.added.push(n, v);
                    }
                }
            }
            Action::PatEdit { r, op, key, value } => {
                let mut k = Vec::new();
                key.render(cx, &mut k);
                match op {
                    PatOp::SetMap => {
                        let mut v = Vec::new();
                        if let Some(f) = value {
                            f.render(cx, &mut v);
                        }
                        // A value a map user cannot parse leaves the map as is.
                        let _ = r.set(&k, &v);
                    }
                    PatOp::AddAcl => {
                        if !r.contains(&k) {
                            let _ = r.add(&k, b"");
                        }
                    }
                    PatOp::DelMap | PatOp::DelAcl => {
                        r.del(&k);
                    }
                }
            }
            Action::SetVar(v, e) => {
                if let Some(x) = e.eval(cx) {
                    cx.vars.set(v, x);
                }
            }
            Action::SetVarFmt(v, f) => {
                let mut out = Vec::new();
                f.render(cx, &mut out);
                cx.vars.set(v, crate::sample::Smp::Str(out));
            }
            Action::UnsetVar(v) => cx.vars.unset(v),
            Action::Capture { expr, res, idx } => {
                if let Some(v) = expr.eval(cx) {
                    let mut b = Vec::new();
                    v.write_to(&mut b);
                    if let Some(c) = cx.caps.as_deref_mut() {
                        c.set(*res, *idx, &b);
                    }
                }
            }
            Action::Allow | Action::Accept => return Verdict::Continue,
            Action::Reject => return Verdict::Reject,
            Action::Track {
                n,
                key,
                table,
                session,
                http,
                status,
            } => {
                let (Some(stk), Some(t)) = (cx.info.stk, table.as_ref()) else {
                    continue;
                };
                let Some(k) = key.eval(cx).and_then(|v| t.key_of(&v)) else {
                    continue;
                };
                if let Some(tr) = stk.track(*n, *session, t, &k) {
                    use config::stick_table::DataType as D;
                    if *http {
                        t.count(&tr.entry, D::HttpReqCnt, D::HttpReqRate, 1);
                    }
                    if *status {
                        match cx.status() {
                            Some(400..=499) => t.count(&tr.entry, D::HttpErrCnt, D::HttpErrRate, 1),
                            Some(c @ 500..=599) if c != 501 && c != 505 => {
                                t.count(&tr.entry, D::HttpFailCnt, D::HttpFailRate, 1)
                            }
                            _ => {}
                        }
                    }
                }
            }
            Action::IncGpc(n, g) => {
                if let Some(tr) = cx.info.stk.and_then(|s| s.get(*n)) {
                    tr.table.inc_gpc(&tr.entry, *g);
                }
            }
            Action::SetGpt(n, idx, e) => {
                if let Some(tr) = cx.info.stk.and_then(|s| s.get(*n)) {
                    if let Some(v) = e.eval(cx).and_then(|v| v.to_int()) {
                        use config::stick_table::DataType as D;
                        let ok = match idx {
                            None => {
                                tr.table.set(&tr.entry, D::Gpt0, 0, v as u64)
                                    || tr.table.set(&tr.entry, D::Gpt, 0, v as u64)
                            }
                            Some(i) => tr.table.set(&tr.entry, D::Gpt, *i as usize, v as u64),
                        };
                        let _ = ok;
                    }
                }
            }
            Action::Reply(rep, fin) => {
                let v = match &**rep {
                    Reply::Default(code) => Verdict::Error(*code),
                    Reply::Msg(code, m) => Verdict::Msg(*code, m.clone()),
                    gen => {
                        let mut bytes = Vec::with_capacity(128);
                        gen.render(cx, &mut bytes);
                        Verdict::Reply(gen.status(), bytes)
                    }
                };
                return match fin {
                    Final::Return => v,
                    Final::Deny => Verdict::Deny {
                        reply: Box::new(v),
                        tarpit: None,
                    },
                    Final::Tarpit => Verdict::Deny {
                        reply: Box::new(v),
                        tarpit: Some(0),
                    },
                };
            }
            Action::Auth(v) => return Verdict::Auth(v.clone()),
            Action::UseService => return Verdict::Service,
            Action::Redirect(rd) => {
                if let Some(o) = rd.render(cx) {
                    return Verdict::Reply(rd.code, o);
                }
            }
            Action::SetPath(f) | Action::SetPathQ(f) | Action::SetQuery(f) | Action::SetUri(f) => {
                let mut v = Vec::new();
                f.render(cx, &mut v);
                let uri = cx.uri();
                let new = match &r.act {
                    Action::SetPath(_) => rewrite_uri(uri, Some(&v), None),
                    Action::SetQuery(_) => rewrite_uri(uri, None, Some(&v)),
                    Action::SetPathQ(_) => {
                        let (p, q) = match v.iter().position(|&c| c == b'?') {
                            Some(i) => (v[..i].to_vec(), v[i + 1..].to_vec()),
                            None => (v.clone(), Vec::new()),
                        };
                        rewrite_uri(uri, Some(&p), Some(&q))
                    }
                    _ => v,
                };
                match charge(cx, new.len() as i64 - uri.len() as i64) {
                    Err(v) => return v,
                    Ok(false) => continue,
                    Ok(true) => {}
                }
                cx.edit.uri = Some(new);
            }
            Action::Replace(part, re, f) => {
                let mut fmt = Vec::new();
                f.render(cx, &mut fmt);
                let uri = cx.uri();
                let subject = match part {
                    UriPart::Path => crate::sample::uri_path(uri),
                    UriPart::PathQ => crate::sample::uri_pathq(uri),
                    UriPart::Uri => uri,
                };
                if let Some(new) = re.replace(subject, &fmt) {
                    let u = match part {
                        UriPart::Path => rewrite_uri(uri, Some(&new), None),
                        UriPart::PathQ => {
                            let (p, q) = match new.iter().position(|&c| c == b'?') {
                                Some(i) => (new[..i].to_vec(), new[i + 1..].to_vec()),
                                None => (new.clone(), Vec::new()),
                            };
                            rewrite_uri(uri, Some(&p), Some(&q))
                        }
                        UriPart::Uri => new,
                    };
                    match charge(cx, u.len() as i64 - uri.len() as i64) {
                        Err(v) => return v,
                        Ok(false) => continue,
                        Ok(true) => {}
                    }
                    cx.edit.uri = Some(u);
                }
            }
            Action::NormalizeUri(n) => match crate::uri_normalizer::normalize(cx.uri(), *n) {
                Ok(Some(u)) => match charge(cx, u.len() as i64 - cx.uri().len() as i64) {
                    Err(v) => return v,
                    Ok(false) => continue,
                    Ok(true) => cx.edit.uri = Some(u),
                },
                Ok(None) => {}
                Err(crate::uri_normalizer::Invalid) => return Verdict::BadReq,
            },
            Action::ExpectProxy => cx.edit.expect_proxy = true,
            Action::SetAddr(part, e) => {
                if let Some(v) = e.eval(cx) {
                    set_addr(&mut cx.info, *part, &v);
                }
            }
            Action::SetMethod(f) => {
                let mut v = Vec::new();
                f.render(cx, &mut v);
                match charge(cx, v.len() as i64 - cx.method().len() as i64) {
                    Err(v) => return v,
                    Ok(false) => continue,
                    Ok(true) => {}
                }
                cx.edit.method = Some(v);
            }
            Action::SetStatus { code, reason: rsn } => {
                cx.edit.status = Some(*code);
                cx.edit.reason = rsn.clone();
            }
            Action::WaitForBody { time, at_least } => {
                let b = cx.body;
                if b.expect_100 && !resumed {
                    // The client is told to send its body now; the server
                    // will not see the expectation.
                    cx.edit.continue_100 = true;
                    cx.del_headers(|n| http::eq_ignore_case(n, b"expect"));
                }
                let enough = b.complete || b.full || b.closed || (*at_least > 0 && b.len >= *at_least);
                if !enough {
                    return Verdict::Wait {
                        step: 0,
                        rule: i,
                        time: *time,
                    };
                }
            }
        }
    }
    *at = None;
    Verdict::Continue
}

/// Runs layer-4 rules (tcp-request connection/session) over a connection
/// that has no stream yet: None when one of them rejects it, else whether
/// an `expect-proxy layer4` rule ran. The addresses in `info` are the
/// connection's, as set-src/set-dst rules leave them.
pub fn run_l4(rules: &[Rule], info: &mut crate::sample::Info<'_>) -> Option<bool> {
    with_l4_cx(*info, |cx| {
        let ok = run(rules, cx) != Verdict::Reject;
        info.src = cx.info.src;
        info.dst = cx.info.dst;
        ok.then_some(cx.edit.expect_proxy)
    })
}

/// Runs `f` over a sample context that knows the connection only (no
/// HTTP message, no variables kept): layer-4 rules, and the switching
/// rules of TCP-mode streams.
pub fn with_l4_cx<R>(info: crate::sample::Info<'_>, f: impl FnOnce(&mut Ctx<'_>) -> R) -> R {
    let mut hdrs = Vec::new();
    let mut edit = crate::sample::Edit::default();
    let mut vars = crate::sample::Vars::default();
    let none = http::Span::default();
    let mut cx = Ctx {
        dir: Dir::Req,
        buf: b"",
        hdrs: &mut hdrs,
        line: crate::sample::Line::Req {
            method: none,
            uri: none,
            version: none,
        },
        edit: &mut edit,
        vars: &mut vars,
        req_meth: b"",
        req_uri: b"",
        info,
        caps: None,
        body: Default::default(),
    };
    f(&mut cx)
}

/// Sets a process-wide variable outside any stream: `global` set-var
/// lines at start-up and `set var` on the CLI. `fmt` chooses set-var-fmt.
/// Errors are HAProxy's texts without location.
pub fn set_proc_var(name: &str, fmt: bool, arg: &str) -> Result<(), String> {
    let v = VarRef::parse(name)?;
    let act = if fmt {
        Action::SetVarFmt(v, LogFmt::parse(arg, Dir::Req)?)
    } else {
        Action::SetVar(v, parse_expr(arg, Dir::Req)?)
    };
    run_l4(
        &[Rule {
            act,
            cond: None,
            loc: None,
        }],
        &mut crate::sample::Info::default(),
    );
    Ok(())
}

/// Runs the `global` section's set-var/set-var-fmt lines, in order.
pub fn global_set_vars(lines: &[RawLine]) -> Result<(), String> {
    for l in lines {
        let kw = l.words[0].as_str();
        let name = l.words.get(1).map(|s| s.as_str()).unwrap_or("");
        let r = VarRef::parse(name).and_then(|v| {
            if v.scope != crate::sample::Scope::Proc {
                return Err(format!("only 'proc' scope is supported for '{kw}' in 'global' section"));
            }
            set_proc_var(
                name,
                kw == "set-var-fmt",
                l.words.get(2).map(|s| s.as_str()).unwrap_or(""),
            )
        });
        r.map_err(|e| format!("parsing [{}] : '{kw}' : {e}.", l.loc))?;
    }
    Ok(())
}

/// Emits a head serialised by the codec with the rules' edits: a new
/// start line if one was set, then the added headers before the final
/// CRLF. `head` is the codec's output (ending in "\r\n\r\n").
pub fn apply_edit(head: &[u8], edit: &crate::sample::Edit, out: &mut Vec<u8>) {
    edit_head(head, edit, out, true)
}

/// Rewrites only the start line of a serialised head (set-method,
/// set-uri, set-status...): the serializer already placed the added
/// headers (`OutSide::added`).
pub fn apply_line(head: &[u8], edit: &crate::sample::Edit, out: &mut Vec<u8>) {
    edit_head(head, edit, out, false)
}

fn edit_head(head: &[u8], edit: &crate::sample::Edit, out: &mut Vec<u8>, with_added: bool) {
    let line_end = head.windows(2).position(|w| w == b"\r\n").unwrap_or(head.len());
    let line = &head[..line_end];
    let mut parts = line.splitn(3, |&c| c == b' ');
    let (a, b, c) = (
        parts.next().unwrap_or(b""),
        parts.next().unwrap_or(b""),
        parts.next().unwrap_or(b""),
    );
    if edit.method.is_some() || edit.uri.is_some() {
        out.extend_from_slice(edit.method.as_deref().unwrap_or(a));
        out.push(b' ');
        out.extend_from_slice(edit.uri.as_deref().unwrap_or(b));
        out.push(b' ');
        out.extend_from_slice(c);
    } else if let Some(code) = edit.status {
        out.extend_from_slice(a);
        // Into the caller's vector: no temporary string per response.
        let _ = std::io::Write::write_fmt(out, format_args!(" {code} "));
        match &edit.reason {
            Some(r) => out.extend_from_slice(r),
            None => out.extend_from_slice(reason(code).as_bytes()),
        }
    } else {
        out.extend_from_slice(line);
    }
    let body_at = head.len().saturating_sub(2);
    out.extend_from_slice(&head[line_end..body_at.max(line_end)]);
    if with_added {
        for (n, v) in edit.added.iter() {
            out.extend_from_slice(n);
            out.extend_from_slice(b": ");
            out.extend_from_slice(v);
            out.extend_from_slice(b"\r\n");
        }
    }
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::tests::with_req;

    fn rules(lines: &[&str]) -> Result<ProxyRules, String> {
        let mut p = Proxy {
            name: "px".into(),
            ..Proxy::default()
        };
        for l in lines {
            let words: Vec<String> = l.split_whitespace().map(String::from).collect();
            let rl = RawLine {
                words,
                loc: config::model::Loc {
                    file: "t.cfg".into(),
                    line: 3,
                },
            };
            match rl.words[0].as_str() {
                "acl" => p.acls.push(rl),
                "http-request" => p.http_request.push(rl),
                "http-response" => p.http_response.push(rl),
                _ => p.http_after_response.push(rl),
            }
        }
        ProxyRules::build(&p, &[], &Default::default())
    }

    const REQ: &[u8] = b"GET /a?b=1 HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nX-Beg: 2\r\nx-a: 3\r\n\r\n";

    fn run_req(lines: &[&str]) -> (Verdict, Vec<String>, Option<Vec<u8>>) {
        let r = rules(lines).unwrap();
        with_req(REQ, |cx| {
            let v = run(&r.req, cx);
            let mut hs = Vec::new();
            cx.each_header(|n, v| {
                hs.push(format!(
                    "{}: {}",
                    String::from_utf8_lossy(n),
                    String::from_utf8_lossy(v)
                ))
            });
            (v, hs, cx.edit.uri.clone())
        })
    }

    #[test]
    fn header_actions() {
        let (v, h, _) = run_req(&["http-request set-header x-a new%[req.hdr(x-a)] if { req.hdr(x-a) -m found }"]);
        assert_eq!(v, Verdict::Continue);
        assert_eq!(h, ["Host: h", "X-Beg: 2", "x-a: new3"]);
        let (_, h, _) = run_req(&["http-request add-header x-a 4"]);
        assert_eq!(h, ["Host: h", "X-A: 1", "X-Beg: 2", "x-a: 3", "x-a: 4"]);
        let (_, h, _) = run_req(&["http-request del-header x- -m beg"]);
        assert_eq!(h, ["Host: h"]);
        let (_, h, _) = run_req(&["http-request del-header X-A"]);
        assert_eq!(h, ["Host: h", "X-Beg: 2"]);
        let (_, h, _) = run_req(&["acl no path /nope", "http-request del-header x-a if no"]);
        assert_eq!(h.len(), 4);
    }

    #[test]
    fn verdicts_and_uri() {
        let (v, _, _) = run_req(&["http-request allow", "http-request deny"]);
        assert_eq!(v, Verdict::Continue);
        let (v, _, _) = run_req(&["http-request deny deny_status 429"]);
        assert_eq!(
            v,
            Verdict::Deny {
                reply: Box::new(Verdict::Error(429)),
                tarpit: None
            }
        );
        let (v, _, _) = run_req(&["http-request tarpit"]);
        assert_eq!(
            v,
            Verdict::Deny {
                reply: Box::new(Verdict::Error(500)),
                tarpit: Some(0)
            }
        );
        let (v, _, _) = run_req(&["http-request tarpit status 429 content-type text/plain string slow"]);
        assert!(matches!(v, Verdict::Deny { reply, tarpit: Some(0) } if matches!(*reply, Verdict::Reply(429, _))));
        let (v, _, _) =
            run_req(&["http-request return status 234 content-type text/plain lf-string p=%[path] hdr x-u %[url]"]);
        assert_eq!(
            v,
            Verdict::Reply(
                234,
                b"HTTP/1.1 234 Success\r\nx-u: /a?b=1\r\ncontent-length: 4\r\ncontent-type: text/plain\r\n\r\np=/a"
                    .to_vec()
            )
        );
        let (v, _, _) = run_req(&["http-request redirect prefix /p code 301"]);
        assert_eq!(
            v,
            Verdict::Reply(
                301,
                b"HTTP/1.1 301 Moved Permanently\r\ncontent-length: 0\r\nlocation: /p/a?b=1\r\n\r\n".to_vec()
            )
        );
        // Only 302, 303 and 307 say no-cache (HAProxy 2.6).
        let (v, _, _) = run_req(&["http-request redirect scheme https drop-query append-slash clear-cookie C"]);
        assert_eq!(
            v,
            Verdict::Reply(302, b"HTTP/1.1 302 Found\r\ncontent-length: 0\r\nlocation: https://h/a/\r\ncache-control: no-cache\r\nset-cookie: C; path=/; Max-Age=0;\r\n\r\n".to_vec())
        );
        let (v, _, _) = run_req(&["http-request redirect location %[req.hdr(nope)] ignore-empty"]);
        assert_eq!(v, Verdict::Continue);
        let (_, _, u) = run_req(&["http-request set-path /fe%[path]"]);
        assert_eq!(u.as_deref(), Some(&b"/fe/a?b=1"[..]));
        let (_, _, u) = run_req(&["http-request set-query x=2"]);
        assert_eq!(u.as_deref(), Some(&b"/a?x=2"[..]));
        let (_, _, u) = run_req(&["http-request set-pathq /z?%[query]"]);
        assert_eq!(u.as_deref(), Some(&b"/z?b=1"[..]));
    }

    #[test]
    fn normalize_uri_chains_and_fails_strict() {
        // Each normalizer sees the previous rules' target.
        let (v, _, u) = run_req(&[
            "http-request set-uri //x/./y/../%%7a?z=1&b=%%zz",
            "http-request normalize-uri path-merge-slashes",
            "http-request normalize-uri path-strip-dot",
            "http-request normalize-uri path-strip-dotdot full",
            "http-request normalize-uri percent-decode-unreserved",
            "http-request normalize-uri query-sort-by-name",
        ]);
        assert_eq!(v, Verdict::Continue);
        assert_eq!(u.as_deref(), Some(&b"/x/z?b=%zz&z=1"[..]));
        let (v, _, _) = run_req(&[
            "http-request set-uri /%%zz",
            "http-request normalize-uri percent-to-uppercase strict",
        ]);
        assert_eq!(v, Verdict::BadReq);
        let e = rules(&["http-request normalize-uri fragment-strip x"]).unwrap_err();
        assert_eq!(
            e,
            "parsing [t.cfg:3]: 'http-request normalize-uri' expects either 'if' or 'unless' followed by a condition but found 'x'."
        );
        let e = rules(&["http-request normalize-uri"]).unwrap_err();
        assert!(
            e.ends_with("while parsing 'http-request normalize-uri' rule : missing argument <normalizer>."),
            "{e}"
        );
    }

    #[test]
    fn rewrites_must_fit_unless_strict_mode_is_off() {
        let v60 = "x".repeat(60);
        let set = |h: &str| format!("http-request set-header {h} {v60}");
        // Each header takes 2 + 60 + 8 bytes: two fit in 150, not three.
        let r = rules(&[&set("h1"), &set("h2"), &set("h3")]).unwrap();
        with_req(REQ, |cx| {
            cx.edit.room = 150;
            assert_eq!(run(&r.req, cx), Verdict::RwFail);
            assert_eq!((cx.edit.added.len(), cx.edit.rw_failed), (2, 1));
        });
        // strict-mode off: the failing rewrite alone is cancelled.
        let off = rules(&["http-request strict-mode off", &set("h1"), &set("h2"), &set("h3")]).unwrap();
        with_req(REQ, |cx| {
            cx.edit.room = 150;
            assert_eq!(run(&off.req, cx), Verdict::Continue);
            assert_eq!((cx.edit.added.len(), cx.edit.rw_failed), (2, 1));
        });
        // Deleting frees room; replacing a header costs only the change.
        let del = rules(&[
            &set("h1"),
            &set("h2"),
            "http-request del-header h1",
            &set("h3"),
            &set("h3"),
        ])
        .unwrap();
        with_req(REQ, |cx| {
            cx.edit.room = 150;
            assert_eq!(run(&del.req, cx), Verdict::Continue);
        });
        assert!(rules(&["http-request strict-mode maybe"])
            .unwrap_err()
            .ends_with("Unexpected value 'maybe'. Only 'on' and 'off' are supported."));
    }

    #[test]
    fn final_rules_are_the_last_rule() {
        let r = rules(&[
            "http-request set-var(txn.a) str(1)",
            "http-request allow if { path /a }",
            "http-request deny",
        ])
        .unwrap();
        with_req(REQ, |cx| {
            assert_eq!(run(&r.req, cx), Verdict::Continue);
            // set-var is not final; the list ran to its end.
            assert_eq!(cx.info.last_rule, Some(("t.cfg", 3)));
        });
        let r = rules(&["http-request set-var(txn.a) str(1)"]).unwrap();
        with_req(REQ, |cx| {
            run(&r.req, cx);
            assert_eq!(cx.info.last_rule, None);
        });
        assert!(rules(&["http-response redirect location /x code 301"]).is_ok());
        assert!(rules(&["http-response redirect prefix /x"])
            .unwrap_err()
            .ends_with("response only supports redirect type 'location'."));
    }

    #[test]
    fn set_src_dst_follow_haproxy() {
        let r = rules(&[
            // No address (a UNIX socket): set-src alone changes nothing.
            "http-request set-src str(10.0.0.1)",
            "http-request set-var(txn.a) src",
            // A port gives the connection 0.0.0.0, then the address keeps it.
            "http-request set-src-port int(65537)",
            "http-request set-src str(::2)",
            "http-request set-dst-port str(80)",
            "http-request set-dst str(nope)",
        ])
        .unwrap();
        with_req(REQ, |cx| {
            assert_eq!(run(&r.req, cx), Verdict::Continue);
            assert!(cx.vars.get(&VarRef::parse("txn.a").unwrap()).is_none());
            assert_eq!(cx.info.src, Some("[::2]:1".parse().unwrap()));
            assert_eq!(cx.info.dst, Some("0.0.0.0:80".parse().unwrap()));
        });
        assert!(rules(&["http-response set-src src"]).is_err());
    }

    #[test]
    fn refusals_name_the_line() {
        let e = rules(&["http-request set-priority-class int(1)"]).unwrap_err();
        assert_eq!(
            e,
            "parsing [t.cfg:3] : 'http-request set-priority-class' is not supported yet by rhaproxy"
        );
        assert!(rules(&["http-response tarpit"]).is_err());
        let e = rules(&["http-request set-header x %[nope]"]).unwrap_err();
        assert!(e.contains("[t.cfg:3]") && e.contains("'nope'"), "{e}");
        let e = rules(&["http-request deny if nope"]).unwrap_err();
        assert!(e.contains("no such ACL"), "{e}");
        let e = rules(&["http-after-response deny"]).unwrap_err();
        assert!(e.contains("'http-after-response deny' is not supported"), "{e}");
        assert!(rules(&["http-response set-status 503 reason Busy"]).is_ok());
    }

    #[test]
    fn wait_for_body_pauses_and_resumes_at_its_rule() {
        let r = rules(&[
            "http-request set-var(txn.n) int(1)",
            "http-request wait-for-body time 1s at-least 4 if { path /nope }",
            "http-request wait-for-body time 100ms if { path_beg /a }",
            "http-request set-header x-b %[req.body]",
        ])
        .unwrap();
        assert!(matches!(r.req[2].act, Action::WaitForBody { time: 100, at_least: 0 }));
        let body = crate::sample::BodyView {
            raw: b"ab",
            len: 2,
            expect_100: true,
            ..Default::default()
        };
        let (v, again) = with_req(REQ, |cx| {
            cx.body = body;
            let v = run(&r.req, cx);
            // The Expect header is taken over by the rule, once.
            assert!(cx.edit.continue_100);
            // Resuming skips the condition and the rules before.
            cx.body.complete = true;
            cx.vars.unset(&VarRef::parse("txn.n").unwrap());
            let again = run_at(&r.req, Some(2), cx);
            let hdrs: Vec<Vec<u8>> = cx.edit.added.iter().map(|(_, v)| v.to_vec()).collect();
            assert_eq!(hdrs, [b"ab".to_vec()]);
            assert_eq!(cx.vars.get(&VarRef::parse("txn.n").unwrap()), None);
            (v, again)
        });
        assert_eq!(
            v,
            Verdict::Wait {
                step: 0,
                rule: 2,
                time: 100
            }
        );
        assert_eq!(again, Verdict::Continue);
        // at-least is enough with that many payload bytes.
        let r = rules(&["http-request wait-for-body time 1s at-least 2"]).unwrap();
        with_req(REQ, |cx| {
            cx.body = body;
            assert_eq!(run(&r.req, cx), Verdict::Continue);
            cx.body.len = 1;
            assert!(matches!(run(&r.req, cx), Verdict::Wait { .. }));
            cx.body.closed = true;
            assert_eq!(run(&r.req, cx), Verdict::Continue);
        });
        // HAProxy's parse errors.
        let e = |l: &str| rules(&[l]).unwrap_err();
        assert!(e("http-request wait-for-body").ends_with("expects time <time> [ at-least <bytes> ]."));
        assert!(e("http-request wait-for-body time").ends_with("missing argument for 'time'."));
        assert!(e("http-request wait-for-body time 1x").ends_with("unexpected character 'x'."));
        assert!(e("http-request wait-for-body at-least 1k").ends_with("expects time <time> [ at-least <bytes> ]."));
        assert!(e("http-request wait-for-body time 1s foo").contains("expects either 'if' or 'unless'"));
        assert!(e("http-after-response wait-for-body time 1s").contains("not supported"));
        assert!(rules(&["http-response wait-for-body time 1s at-least 1k if { status 200 }"]).is_ok());
    }

    #[test]
    fn replace_header_value_and_map_actions() {
        let (_, h, _) = run_req(&["http-request replace-value x-a ^(.)$ <\\1>"]);
        assert_eq!(h, ["Host: h", "X-Beg: 2", "X-A: <1>", "x-a: <3>"]);
        let (_, h, _) = run_req(&["http-request replace-header host (.*) \\1.example"]);
        assert_eq!(h, ["X-A: 1", "X-Beg: 2", "x-a: 3", "Host: h.example"]);
        let (_, h, _) = run_req(&["http-request replace-header host zzz y"]);
        assert_eq!(h[0], "Host: h", "no match, no change");
        let v = |s: &str| replace_values(s.as_bytes(), &crate::regex::Regex::new("^a", false).unwrap(), b"z");
        assert_eq!(v("a1, b, \"a,c\" ,a").as_deref(), Some(&b"z, b, \"a,c\" ,z"[..]));
        assert_eq!(v("b"), None);
        let e = rules(&["http-request replace-value x"]).unwrap_err();
        assert!(
            e.ends_with("while parsing 'http-request replace-value' rule : expects exactly 3 arguments."),
            "{e}"
        );

        let file = format!("/nonexistent-rhaproxy-{}.map", std::process::id());
        let r = rules(&[
            &format!("http-request set-map({file}) %[path] v%[req.hdr(x-a)]"),
            &format!("http-request set-header x-m %[path,map({file},none)]"),
            &format!("http-request add-acl({file}) k"),
        ])
        .unwrap();
        let hs = with_req(REQ, |cx| {
            run(&r.req, cx);
            cx.edit
                .added
                .iter()
                .map(|(n, v)| (n.to_vec(), v.to_vec()))
                .collect::<Vec<_>>()
        });
        assert_eq!(hs, [(b"x-m".to_vec(), b"v3".to_vec())]);
        // One reference per file name, whoever created it (as HAProxy).
        let m = crate::map::find_ref(&file, true).unwrap();
        assert_eq!(m.entries().len(), 2);
        assert!(m.contains(b"/a") && m.contains(b"k"));
        let e = rules(&[&format!("http-request set-map({file}) k")]).unwrap_err();
        assert!(e.ends_with("expects exactly 2 arguments."), "{e}");
    }

    #[test]
    fn parse_time_check_like_haproxy() {
        let p = Proxy {
            name: "fe".into(),
            mode: config::model::Mode::Http,
            cap: config::model::Cap {
                frontend: true,
                backend: false,
            },
            acls: vec![RawLine {
                words: ["acl", "lacks", "req.payload(0,1)", "x"].map(String::from).to_vec(),
                loc: Default::default(),
            }],
            ..Proxy::default()
        };
        let chk = |line: &str| {
            let l = RawLine {
                words: line.split_whitespace().map(String::from).collect(),
                loc: config::model::Loc {
                    file: "t.cfg".into(),
                    line: 7,
                },
            };
            check_rule_line(&p, false, &l)
        };
        let e = chk("http-request set-header x %[str(a),field(0,.)]").unwrap_err();
        assert!(e.abort);
        assert_eq!(e.text, "parsing [t.cfg:7] : error detected in frontend 'fe' while parsing 'http-request set-header' rule : failed to parse sample expression <str(a),field(0,.)]> : invalid args in converter 'field' : Unexpected value 0 for index.");
        let e = chk("http-request frob").unwrap_err();
        assert!(
            e.text
                .starts_with("parsing [t.cfg:7]: 'http-request' expects 'wait-for-handshake', ")
                && e.text.ends_with(" but got 'frob'.")
        );
        let e = chk("acl x nosuch y").unwrap_err();
        assert!(!e.abort);
        assert!(
            e.text.ends_with(
                "error detected while parsing ACL 'x' : unknown fetch method 'nosuch' in ACL expression 'nosuch'."
            ),
            "{}",
            e.text
        );
        assert!(chk("http-request deny if nope")
            .unwrap_err()
            .text
            .contains("no such ACL : 'nope'"));
        assert!(chk("tcp-request content set-var(txn.x) nosuch")
            .unwrap_err()
            .text
            .ends_with("] : unknown fetch method 'nosuch'"));
        // What HAProxy has and rhaproxy lacks passes here: start-up refuses it.
        assert!(chk("http-request tarpit").is_ok());
        assert!(chk("http-request set-header x %ci").is_ok());
        assert!(chk("http-request deny if lacks").is_ok());
        assert!(chk("http-request deny if WAIT_END").is_ok());
        assert!(chk("http-request set-var(txn.x) bool(true)").is_ok());
    }

    #[test]
    fn tcp_rules_compile_and_run() {
        let mut p = Proxy {
            name: "px".into(),
            mode: config::model::Mode::Http,
            ..Proxy::default()
        };
        let line = |w: &str| RawLine {
            words: w.split_whitespace().map(String::from).collect(),
            loc: config::model::Loc {
                file: "t.cfg".into(),
                line: 4,
            },
        };
        p.tcp_request = vec![
            line("tcp-request inspect-delay 5s"),
            line("tcp-request connection accept"),
            line("tcp-request session set-var(sess.a) int(1)"),
            line("tcp-request content set-var-fmt(txn.b) x%[path]"),
            line("tcp-request content reject if { path /r }"),
        ];
        let r = ProxyRules::build(&p, &[], &Default::default()).unwrap();
        assert_eq!((r.tcp_conn.len(), r.tcp_sess.len(), r.tcp_req.len()), (1, 1, 2));
        assert!(r.sess_at_request && !r.is_empty());
        let v = with_req(REQ, |cx| {
            let v = run(&r.tcp_req, cx);
            (v, cx.vars.get(&VarRef::parse("txn.b").unwrap()))
        });
        assert_eq!(v, (Verdict::Continue, Some(crate::sample::Smp::Str(b"x/a".to_vec()))));
        with_req(b"GET /r HTTP/1.1\r\n\r\n", |cx| {
            assert_eq!(run(&r.tcp_req, cx), Verdict::Reject)
        });
        // What is not implemented is refused, naming the line.
        p.tcp_request = vec![line("tcp-request content silent-drop")];
        let e = ProxyRules::build(&p, &[], &Default::default()).unwrap_err();
        assert!(
            e.contains("[t.cfg:4]") && e.contains("'tcp-request content silent-drop'"),
            "{e}"
        );
        p.tcp_request = vec![line("tcp-request connection set-var(sess.a) int(1)")];
        assert!(ProxyRules::build(&p, &[], &Default::default()).is_err());
        p.mode = config::model::Mode::Tcp;
        p.tcp_request = vec![line("tcp-request content accept")];
        assert!(ProxyRules::build(&p, &[], &Default::default())
            .unwrap_err()
            .contains("TCP mode"));
    }

    #[test]
    fn proc_vars_from_global_and_cli() {
        let l = |w: &[&str]| RawLine {
            words: w.iter().map(|s| s.to_string()).collect(),
            loc: Default::default(),
        };
        global_set_vars(&[
            l(&["set-var", "proc.t_int12", "int(12)"]),
            l(&["set-var", "proc.t_int5", "var(proc.t_none,60),div(proc.t_int12)"]),
            l(&["set-var-fmt", "proc.t_s", "v=%[var(proc.t_int5)]"]),
        ])
        .unwrap();
        assert_eq!(crate::sample::proc_var("proc.t_int5"), Some(crate::sample::Smp::Int(5)));
        assert_eq!(
            crate::sample::proc_var("proc.t_s"),
            Some(crate::sample::Smp::Str(b"v=5".to_vec()))
        );
        assert!(global_set_vars(&[l(&["set-var", "txn.x", "int(1)"])]).is_err());
        set_proc_var("proc.t_s", true, "%[var(proc.t_s),regsub(v,w)]").unwrap();
        assert_eq!(
            crate::sample::proc_var("proc.t_s"),
            Some(crate::sample::Smp::Str(b"w=5".to_vec()))
        );
    }

    #[test]
    fn edits_on_serialised_heads() {
        let mut e = crate::sample::Edit::default();
        e.added.push(b"x-b", b"2");
        let mut o = Vec::new();
        apply_edit(b"GET / HTTP/1.1\r\nhost: h\r\n\r\n", &e, &mut o);
        assert_eq!(o, b"GET / HTTP/1.1\r\nhost: h\r\nx-b: 2\r\n\r\n");
        e.uri = Some(b"/n".to_vec());
        o.clear();
        apply_edit(b"GET / HTTP/1.1\r\n\r\n", &e, &mut o);
        assert_eq!(o, b"GET /n HTTP/1.1\r\nx-b: 2\r\n\r\n");
        let e = crate::sample::Edit {
            status: Some(503),
            ..Default::default()
        };
        o.clear();
        apply_edit(b"HTTP/1.1 200 OK\r\na: b\r\n\r\n", &e, &mut o);
        assert_eq!(o, b"HTTP/1.1 503 Service Unavailable\r\na: b\r\n\r\n");
    }
}
