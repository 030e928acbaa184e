//! HTTP/1 transactions on a stream (HAProxy's H1 mux plus the HTTP
//! analyzers of `proto_http.c`/`http_ana.c`, for HTTP/1 on both sides).
//!
//! Per request: wait for the head (with `timeout http-request`, then 408),
//! parse it with the `http` crate (errors get HAProxy's status and page),
//! pick the backend and a server (or an idle connection to reuse), emit the
//! rewritten head, then forward the body in place: the body decoder only
//! classifies bytes, which go from the input buffer to the socket without a
//! copy. The response is handled the same way. When both messages are done
//! the server connection is parked for reuse or closed, and the client
//! connection waits for the next request or is closed; while it waits
//! idle, its transaction is back in a per-thread pool (`park`). A rule list that
//! waits for the body (`wait-for-body`, `option http-buffer-request`)
//! pauses with the head kept unconsumed and resumes at the same rule.
//!
//! This module owns HTTP transaction state and policy (keep-alive, reuse,
//! local replies). It must not parse bytes itself (the `http` crate does)
//! nor do socket I/O beyond what `Stream` offers.

use super::{End, Env, SrvPhase, Stream, Term};
use crate::capture::Captures;
use crate::counters::inc;
use crate::http_act::{self, Verdict};
use crate::http_reply::Reply;
use crate::idle::IdleConn;
use crate::runtime::ProxyRt;
use crate::sample::{Ctx, Dir, Edit, Info, Line, Vars};
use crate::worker::{token, Msg, Worker, K_IDLE, K_SRV_SIDE};
use config::model::{HttpConnMode, HttpReuse};
use http::{BodyDecoder, BodyEvent, BodyFraming, ConnMode, Flags, Header, Method, OutSide, ParseOptions};
use reactor::task::ETERNITY;
use reactor::Cx;
use std::os::fd::RawFd;
use std::sync::atomic::Ordering::Relaxed;

/// Where a message is.
#[derive(Clone, Copy, Debug)]
enum Msg1 {
    /// Not expected yet (response before a server is connected).
    Idle,
    /// Waiting for / parsing the head.
    Head,
    Body(BodyDecoder),
    Done,
    /// Raw bytes both ways after an upgrade or a CONNECT.
    Tunnel,
}

/// One HTTP transaction's state, reset between keep-alive requests.
pub struct Txn {
    /// Deadline for what the transaction waits on that the sides' timers
    /// do not cover: the request head, or the lingering close.
    pub exp: u64,
    req: Msg1,
    res: Msg1,
    hdrs: Vec<Header>,
    meth: Method,
    req_ver11: bool,
    /// The client connection may carry another request after this one.
    cli_keepalive: bool,
    /// The server connection may be reused after this response.
    srv_keepalive: bool,
    /// The response was produced by us (error page, monitor).
    local: bool,
    /// When the current request head started to arrive.
    head_start: u64,
    /// Lingering close: output sent and shut, draining input until EOF.
    closing: bool,
    hash: Option<u32>,
    status: u16,
    /// Server connection kept by this stream only (`http-reuse never`).
    private: Option<(usize, usize)>,
    /// Requests already sent on the current server connection.
    conn_reused: u32,
    /// Response bytes sent to the client when the current head was queued:
    /// while unchanged, nothing of this response has left yet.
    res_mark: u64,
    /// Same for the request toward the server.
    req_mark: u64,
    /// The request head is parsed but the server is not asked for yet: the
    /// buffered body is examined first (a client that already left, or
    /// `option http-buffer-request`).
    pending_connect: bool,
    /// The request asked for a protocol upgrade (a 101 is acceptable).
    req_upgrade: bool,
    /// Chunked bodies are re-encoded (through the output buffer) instead of
    /// forwarded in place, as HAProxy normalises them.
    req_chunked: bool,
    res_chunked: bool,
    /// HTTP rules state (variables, pending edits); allocated only for
    /// streams whose proxies have rules.
    rs: Option<Box<RuleState>>,
    /// L7 retries are possible for this request (`retry-on` names more
    /// than `conn-failure`; HAProxy's TX_L7_RETRY).
    l7_armed: bool,
    /// The request as first sent to the server (HAProxy's `l7_buffer`),
    /// kept to send it again on an L7 retry. Only a request entirely
    /// received before its first byte left can be kept.
    l7_buf: Option<crate::buffer::Buf>,
    /// Capture slots' values (frontends declaring captures only), from
    /// the thread's pool; kept until the next request so the transaction's
    /// log line can print them.
    caps: Option<Captures>,
    /// Analysis paused by `wait-for-body` or `option http-buffer-request`:
    /// the head stays unconsumed in the input buffer (its spans, the header
    /// index and the rules' edits stay valid) until the rules resume.
    wait: Option<Box<Wait>>,
    /// `100 Continue` was sent for the current request.
    sent_100: bool,
    /// A tarpitted request's reply, sent when `exp` comes.
    tarpit: Option<Box<Verdict>>,
    /// The client timed out in the middle of its body (HAProxy's request
    /// in HTTP_MSG_ERROR): nothing more is read from it, the response is
    /// still awaited and delivered, then the connection closes.
    req_aborted: bool,
    /// Cookie persistence flags, dates and cookie captures of the
    /// transaction (see `cookie`).
    pub ck: crate::cookie::CkTxn,
    /// A local response body larger than a buffer (the stats page), fed
    /// to the output buffer as it drains.
    pending_out: Option<Box<PendingOut>>,
}

/// Bytes of a local response still to be sent, and how many already went.
struct PendingOut {
    data: Vec<u8>,
    off: usize,
}

/// The head whose analysis is paused.
#[derive(Clone, Copy)]
enum Paused {
    Req(http::RequestHead),
    Res(http::ResponseHead),
}

/// Where and until when a message's analysis waits for its body.
#[derive(Clone, Copy)]
struct Wait {
    head: Paused,
    /// Rule list (numbered by `request_rules`/`response_rules`; request
    /// step 0 is `option http-buffer-request`) and rule to resume at.
    step: u8,
    rule: usize,
    /// The wait's own deadline, fixed when it started (ETERNITY: none).
    until: u64,
}

/// What HTTP rules keep on a stream: variables (`sess` ones live across
/// keep-alive requests), the edits of the message being analysed, and the
/// request's method and URI for response-side fetches.
#[derive(Default)]
struct RuleState {
    vars: Vars,
    edit: Edit,
    req_meth: Vec<u8>,
    req_uri: Vec<u8>,
}

impl Txn {
    fn new() -> Txn {
        Txn {
            exp: ETERNITY,
            req: Msg1::Head,
            res: Msg1::Idle,
            hdrs: Vec::new(),
            meth: Method::Get,
            req_ver11: true,
            cli_keepalive: false,
            srv_keepalive: false,
            local: false,
            head_start: ETERNITY,
            closing: false,
            hash: None,
            status: 0,
            private: None,
            conn_reused: 0,
            res_mark: 0,
            req_mark: 0,
            pending_connect: false,
            req_upgrade: false,
            req_chunked: false,
            res_chunked: false,
            rs: None,
            l7_armed: false,
            l7_buf: None,
            caps: None,
            wait: None,
            sent_100: false,
            req_aborted: false,
            tarpit: None,
            ck: Default::default(),
            pending_out: None,
        }
    }

    /// The request capture slots of the current transaction, in
    /// declaration order (None: nothing captured in that slot), for the
    /// logs' `%hr`. Empty when the frontend declares no capture.
    pub fn captures_req(&self) -> impl Iterator<Item = Option<&[u8]>> {
        self.caps.iter().flat_map(|c| c.req_slots())
    }

    /// The response capture slots, for `%hs`.
    pub fn captures_res(&self) -> impl Iterator<Item = Option<&[u8]>> {
        self.caps.iter().flat_map(|c| c.res_slots())
    }
}

/// States compare by kind: a decoder's progress is not part of equality.
impl PartialEq for Msg1 {
    fn eq(&self, other: &Msg1) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other)
    }
}

thread_local! {
    /// Header indexes not in use by a transaction of this thread. An index
    /// (101 slots, ~2 KB) is needed only while a head is parsed and
    /// forwarded; idle keep-alive clients give theirs back, so they cost
    /// no index, and busy ones reuse one without allocating.
    static HDR_POOL: std::cell::RefCell<Vec<Vec<Header>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Makes sure the transaction holds a header index.
fn hdrs_take(t: &mut Txn) {
    if t.hdrs.capacity() == 0 {
        t.hdrs = HDR_POOL
            .with(|p| p.borrow_mut().pop())
            .unwrap_or_else(|| Vec::with_capacity(101));
    }
}

/// Gives the transaction's header index back to the thread's free list.
fn hdrs_give(t: &mut Txn) {
    let mut v = std::mem::take(&mut t.hdrs);
    if v.capacity() > 0 {
        v.clear();
        HDR_POOL.with(|p| {
            let mut p = p.borrow_mut();
            if p.len() < 4096 {
                p.push(v);
            }
        });
    }
}

thread_local! {
    /// Transactions not in use by a stream of this thread, in their fresh
    /// state. A keep-alive client gives its transaction back while it is
    /// idle between requests (HAProxy frees the stream then and keeps only
    /// the session and the H1 connection), and takes one again when the
    /// next request's bytes arrive: idle clients cost no transaction and
    /// busy ones never allocate one. Boxed: the boxes move between the
    /// streams and the pool as they are, never reallocated.
    #[allow(clippy::vec_box)]
    static TXN_POOL: std::cell::RefCell<Vec<Box<Txn>>> = const { std::cell::RefCell::new(Vec::new()) };
    /// Rule states (cleared) given back with their transactions.
    #[allow(clippy::vec_box)]
    static RS_POOL: std::cell::RefCell<Vec<Box<RuleState>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// At most this many free transactions (and rule states) are kept per
/// thread; the pool holds what was busy at once, not what is idle.
const TXN_POOL_MAX: usize = 4096;

fn txn_take() -> Box<Txn> {
    TXN_POOL
        .with(|p| p.borrow_mut().pop())
        .unwrap_or_else(|| Box::new(Txn::new()))
}

fn rs_take() -> Box<RuleState> {
    RS_POOL.with(|p| p.borrow_mut().pop()).unwrap_or_default()
}

fn txn(s: &mut Stream) -> &mut Txn {
    s.http.get_or_insert_with(txn_take)
}

/// Gives an idle keep-alive client's transaction back to the thread's
/// pool when nothing of it spans requests: the stream keeps the request
/// count and, in `cli.exp`, the keep-alive deadline. A transaction that
/// holds what must survive (a private `http-reuse never` connection,
/// `sess` variables, a paused or pending analysis, a pipelined request)
/// stays.
fn park(s: &mut Stream, pool: &mut crate::buffer::Pool) {
    let Some(t) = s.http.as_deref() else { return };
    let idle = s.req_count > 0
        && t.req == Msg1::Head
        && t.res == Msg1::Idle
        && t.head_start == ETERNITY
        && !t.closing
        && !t.pending_connect
        && t.private.is_none()
        && t.wait.is_none()
        && t.tarpit.is_none()
        && t.rs.as_ref().is_none_or(|r| !r.vars.has_sess())
        && s.phase == SrvPhase::None
        && !s.sv.is_open()
        && s.req.in_len() == 0
        && s.req.drained()
        && s.res.in_len() == 0
        && s.res.drained()
        && s.logs.as_deref().is_none_or(|l| !l.pending);
    if !idle {
        return;
    }
    let mut t = s.http.take().unwrap();
    s.cli.exp = t.exp;
    hdrs_give(&mut t);
    if let Some(mut rs) = t.rs.take() {
        rs.vars.new_txn();
        rs.edit.clear();
        rs.req_meth.clear();
        rs.req_uri.clear();
        RS_POOL.with(|p| {
            let mut p = p.borrow_mut();
            if p.len() < TXN_POOL_MAX {
                p.push(rs);
            }
        });
    }
    if let Some(c) = t.caps.take() {
        Captures::give(c);
    }
    if let Some(b) = t.l7_buf.take() {
        pool.put(b);
    }
    // The cookie state's buffers are cleared, not freed, between requests.
    let mut ck = std::mem::take(&mut t.ck);
    ck.reset();
    *t = Txn::new();
    t.ck = ck;
    TXN_POOL.with(|p| {
        let mut p = p.borrow_mut();
        if p.len() < TXN_POOL_MAX {
            p.push(t);
        }
    });
}

/// The connection mode both proxies agree on (HAProxy: the most
/// restrictive of the frontend's and backend's options wins).
fn conn_mode(env: &Env, s: &Stream) -> HttpConnMode {
    let fe = &env.rt.proxies[s.fe].cfg.options;
    let be = s.be.map(|b| &env.rt.proxies[b].cfg.options);
    let modes = [Some(fe), be].into_iter().flatten().map(|o| o.http_conn_mode);
    let mut m = HttpConnMode::KeepAlive;
    for x in modes {
        m = match (m, x) {
            (_, HttpConnMode::Close) | (HttpConnMode::Close, _) => HttpConnMode::Close,
            (_, HttpConnMode::ServerClose) | (HttpConnMode::ServerClose, _) => HttpConnMode::ServerClose,
            _ => HttpConnMode::KeepAlive,
        };
    }
    m
}

fn parse_opts(env: &Env, px: &ProxyRt, response: bool) -> ParseOptions {
    let g = &env.rt.cfg.global;
    let o = &px.cfg.options;
    ParseOptions {
        accept_invalid: if response {
            o.accept_invalid_http_response
        } else {
            o.accept_invalid_http_request
        },
        max_headers: g.tune_http_maxhdr as usize,
        max_head_len: (g.tune_bufsize.saturating_sub(g.tune_maxrewrite)) as usize,
        accept_payload_with_any_method: false,
    }
}

/// A client connection idle between two requests: a transaction ended,
/// the next one has not started (not a byte of it), and no server side is
/// in use. HAProxy's H1 layer (`H1C_F_WAIT_NEXT_REQ`) closes exactly these
/// at soft stop; a connection still waiting for its first request is not
/// one of them.
pub fn idle_between_requests(s: &Stream) -> bool {
    if !matches!(s.mode, super::Mode::Http)
        || s.req_count == 0
        || s.phase != SrvPhase::None
        || s.sv.is_open()
        || s.req.in_len() > 0
    {
        return false;
    }
    // A transaction given back to the pool (see `park`) was idle.
    s.http
        .as_deref()
        .is_none_or(|t| t.req == Msg1::Head && t.res == Msg1::Idle && t.head_start == ETERNITY)
}

pub fn want_read_cli(s: &Stream) -> bool {
    match &s.http {
        None => true,
        Some(t) if t.closing => true,
        Some(t) => matches!(t.req, Msg1::Head | Msg1::Body(_) | Msg1::Tunnel) && !t.local,
    }
}

pub fn want_read_srv(s: &Stream) -> bool {
    match &s.http {
        None => false,
        Some(t) => matches!(t.res, Msg1::Head | Msg1::Body(_) | Msg1::Tunnel) && !t.local,
    }
}

pub fn hash_key(s: &Stream, _env: &Env, be: &ProxyRt) -> crate::lb::HashKey {
    match &be.cfg.balance {
        config::model::Balance::Source => s.src.map(|a| crate::lb::hash_source(&a.ip())),
        _ => s.http.as_ref().and_then(|t| t.hash),
    }
}

/// Computes the request's LB hash while its head is still in the buffer.
fn request_hash(buf: &[u8], uri: &[u8], hdrs: &[Header], be: &ProxyRt) -> Option<u32> {
    use config::model::Balance;
    let f = |k: &[u8]| {
        let h = match be.cfg.hash_type.function.as_deref() {
            Some("djb2") => crate::lb::hash_djb2(k),
            Some("wt6") => crate::lb::hash_wt6(k),
            Some("crc32") => crate::lb::hash_crc32(k),
            _ => crate::lb::hash_sdbm(k),
        };
        if be.cfg.hash_type.avalanche {
            crate::lb::full_hash(h)
        } else {
            h
        }
    };
    match &be.cfg.balance {
        Balance::Uri {
            len,
            depth,
            whole,
            path_only,
        } => {
            let mut u = uri;
            if let Some(p) = uri
                .iter()
                .position(|&c| c == b'/')
                .filter(|_| uri.first() != Some(&b'/'))
            {
                // absolute-form: hash from the path
                let after_scheme = uri.windows(3).position(|w| w == b"://").map(|i| i + 3).unwrap_or(0);
                u = uri[after_scheme..]
                    .iter()
                    .position(|&c| c == b'/')
                    .map_or(&[][..], |i| &uri[after_scheme + i..]);
                let _ = p;
            }
            if !whole || *path_only {
                if let Some(q) = u.iter().position(|&c| c == b'?') {
                    u = &u[..q];
                }
            }
            if let Some(d) = depth {
                let mut slashes = 0;
                let mut end = u.len();
                for (i, &c) in u.iter().enumerate() {
                    if c == b'/' {
                        slashes += 1;
                        if slashes > *d {
                            end = i;
                            break;
                        }
                    }
                }
                u = &u[..end];
            }
            if let Some(l) = len {
                u = &u[..u.len().min(*l as usize)];
            }
            Some(f(u))
        }
        Balance::UrlParam { name, .. } => {
            let q = uri.iter().position(|&c| c == b'?')?;
            uri[q + 1..].split(|&c| c == b'&').find_map(|kv| {
                let (k, v) = match kv.iter().position(|&c| c == b'=') {
                    Some(e) => (&kv[..e], &kv[e + 1..]),
                    None => (kv, &kv[kv.len()..]),
                };
                (k == name.as_bytes()).then(|| f(v))
            })
        }
        Balance::Hdr { name, use_domain_only } => hdrs.iter().find_map(|h| {
            http::eq_ignore_case(h.name.get(buf), name.as_bytes()).then(|| {
                let v = h.value.get(buf);
                if *use_domain_only {
                    // The domain name before the TLD, as HAProxy does.
                    let parts: Vec<&[u8]> = v.split(|&c| c == b'.').collect();
                    let d = if parts.len() >= 2 { parts[parts.len() - 2] } else { v };
                    f(d)
                } else {
                    f(v)
                }
            })
        }),
        _ => None,
    }
}

/// The proxies' own message for `code`: the backend's, else the
/// frontend's (HAProxy's `http_error_message`).
fn proxy_reply<'r>(rt: &'r crate::runtime::Runtime, s: &Stream, code: u16) -> Option<&'r Reply> {
    [s.be, Some(s.fe)]
        .into_iter()
        .flatten()
        .find_map(|px| rt.proxies[px].replies.get(code))
}

/// A generated reply rendered outside of the rules: fetches see no
/// message (the request is gone), as after HAProxy's analysers.
fn render_detached(rt: &crate::runtime::Runtime, s: &mut Stream, rep: &Reply) -> Vec<u8> {
    let mut inf = info(rt, s, s.req_count == 1);
    inf.tls = s.cli_tls.as_deref();
    inf.pp = s.pp.as_deref();
    inf.stk = Some(&s.stk);
    let mut hdrs = Vec::new();
    let mut edit = Edit::default();
    let mut vars = Vars::default();
    let (vars, caps) = match s.http.as_deref_mut() {
        Some(Txn { rs, caps, .. }) => (rs.as_mut().map_or(&mut vars, |r| &mut r.vars), caps.as_mut()),
        None => (&mut vars, None),
    };
    let mut cx = Ctx {
        dir: Dir::Res,
        buf: b"",
        hdrs: &mut hdrs,
        line: Line::Res {
            status: rep.status(),
            reason: Default::default(),
            version: Default::default(),
        },
        edit: &mut edit,
        vars,
        req_meth: b"",
        req_uri: b"",
        info: inf,
        caps,
        body: Default::default(),
    };
    let mut out = Vec::with_capacity(128);
    rep.render(&mut cx, &mut out);
    out
}

/// Replaces whatever response was in progress by a local one and arranges
/// for the client connection to close after it.
pub fn local_error(s: &mut Stream, env: &mut Env, code: u16) {
    reply(s, env, code, false)
}

fn reply(s: &mut Stream, env: &mut Env, code: u16, h1: bool) {
    // Errors the H1 layer detects itself always get the built-in page.
    let rt = env.rt;
    match proxy_reply(rt, s, code).filter(|_| !h1) {
        Some(Reply::Msg(_, m)) => reply_with(s, env, code, false, Some((&m.bytes, m.closes))),
        Some(rep @ Reply::Gen { .. }) => {
            let bytes = render_detached(rt, s, rep);
            reply_with(s, env, code, false, Some((&bytes, false)))
        }
        _ => reply_with(s, env, code, h1, None),
    }
}

/// A local reply: `custom` bytes (a rule's or the proxies' response, and
/// whether the connection closes after it) or HAProxy's built-in page.
/// Empty custom bytes mean closing without a word.
fn reply_with(s: &mut Stream, env: &mut Env, code: u16, h1: bool, custom: Option<(&[u8], bool)>) {
    // Drop the server side: a local reply ends the transaction with it.
    if s.sv.is_open() {
        s.close_srv(env, false);
    }
    if let Some(b) = s.res.ibuf.as_mut() {
        b.clear();
    }
    s.res.fwd = 0;
    let mut tmp = [0u8; 4096];
    let (bytes, closes) = match custom {
        Some(c) => c,
        None => {
            let n = if h1 {
                http::builtin_error(code, &mut tmp)
            } else {
                http::builtin_error_htx(code, &mut tmp)
            };
            (&tmp[..n.unwrap_or(0)], http::errors::builtin_error_closes(code))
        }
    };
    // A broken or unfinished request leaves the connection in an unknown
    // state; otherwise the client may go on when HAProxy's page allows it.
    let t = txn(s);
    if h1 || closes || !matches!(t.req, Msg1::Done) || t.req_aborted {
        t.cli_keepalive = false;
    }
    let (keep, req_ver11) = (t.cli_keepalive, t.req_ver11);
    // http-after-response rules apply to our replies too (not to the H1
    // layer's own errors, as in HAProxy).
    let edited = if h1 { None } else { after_rules_local(s, env, bytes) };
    let out = edited.as_deref().unwrap_or(bytes);
    if let (true, Some(l)) = (h1, s.logs.as_deref_mut()) {
        // The H1 layer's own errors are logged with no byte sent.
        l.out_mark = s.res.total + out.len() as u64;
    }
    let framed = if h1 || out.is_empty() {
        None
    } else {
        conn_header(out, keep, req_ver11)
    };
    let ob = s.res.obuf(env.pool);
    ob.clear();
    ob.put(framed.as_deref().unwrap_or(out));
    let fe = &env.rt.proxies[s.fe];
    fe.fe_counters.response(code);
    if let Some(be) = s.be {
        env.rt.proxies[be].be_counters.response(code);
        inc(&env.rt.proxies[be].be_counters.cum_req);
    }
    // A local reply is a transaction to log, even without a request.
    if let Some(l) = s.logs.as_deref_mut() {
        l.pending = true;
    }
    let t = txn(s);
    t.local = true;
    t.wait = None;
    t.tarpit = None;
    t.pending_connect = false;
    t.status = code;
    t.res = Msg1::Done;
    t.req = Msg1::Done;
    // Unread request bytes are discarded; never forwarded.
    s.req.fwd = 0;
    if let Some(b) = s.req.obuf.as_mut() {
        b.clear();
    }
    if s.phase != SrvPhase::Queued {
        s.phase = SrvPhase::Done;
    }
}

/// Gives a local reply the connection header HAProxy's H1 output adds
/// for what happens next to the client connection: `connection: close`
/// on an HTTP/1.1 reply before closing, `keep-alive` when an HTTP/1.0
/// client is kept. None: the bytes are not a response head (sent as is).
fn conn_header(bytes: &[u8], keep: bool, req_ver11: bool) -> Option<Vec<u8>> {
    let mut hdrs = Vec::with_capacity(16);
    let opts = ParseOptions {
        accept_invalid: true,
        max_headers: 101,
        max_head_len: bytes.len(),
        accept_payload_with_any_method: false,
    };
    let head = match http::parse_response(bytes, &mut hdrs, &opts, Method::Get) {
        Ok(http::Status::Complete(h)) => h,
        _ => return None,
    };
    let side = OutSide {
        added: &http::NO_ADDED,
        conn: if keep { ConnMode::KeepAlive } else { ConnMode::Close },
        req_ver11,
        forward_for: None,
        original_to: None,
    };
    let mut out = vec![0u8; head.len + 64];
    let n = http::write_response_head(bytes, &head, &hdrs, &side, &mut out).ok()?;
    out.truncate(n);
    out.extend_from_slice(&bytes[head.len..]);
    Some(out)
}

// ---------------- HTTP rules (see http_act) ----------------
// Rules read the parsed head through spans and record their changes in the
// stream's `RuleState::edit`; the changes are applied to the serialised
// head (`http_act::apply_edit`). Nothing here runs for proxies without
// rules.

fn info<'a>(rt: &'a crate::runtime::Runtime, s: &Stream, first_req: bool) -> Info<'a> {
    let be = s.be.map(|b| &rt.proxies[b]);
    Info {
        fe_name: &rt.proxies[s.fe].name,
        be_name: be.map_or("", |b| b.name.as_str()),
        srv_name: match (be, s.srv) {
            (Some(b), Some(i)) => b.servers[i].name.as_str(),
            _ => "",
        },
        fe_id: rt.proxies[s.fe].id,
        be_id: be.map(|b| b.id),
        srv_id: match (be, s.srv) {
            (Some(b), Some(i)) => Some(b.servers[i].id),
            _ => None,
        },
        so_name: rt.so_names.get(s.lidx).and_then(|n| n.as_deref()),
        last_rule: s.last_rule,
        src: s.src,
        dst: s.dst,
        first_req,
        unique_id: b"",
        pp: None,
        tls: None,
        stk: None,
    }
}

/// Builds the sample context of the request under analysis (its head
/// parsed from `data`) and runs `f` over it; the request line as the
/// rules left it is kept for the response side.
fn with_req_cx<R>(
    s: &mut Stream,
    env: &Env,
    data: &[u8],
    head: &http::RequestHead,
    body: crate::sample::BodyView<'_>,
    f: impl FnOnce(&mut Ctx<'_>) -> R,
) -> R {
    let rt = env.rt;
    s.ensure_dst();
    let mut inf = info(rt, s, s.req_count == 1);
    inf.tls = s.cli_tls.as_deref();
    inf.pp = s.pp.as_deref();
    inf.stk = Some(&s.stk);
    if let Some(l) = s.logs.as_deref().filter(|l| l.has_uid) {
        inf.unique_id = &l.uid;
    }
    let t: &mut Txn = s.http.as_mut().unwrap();
    let rs = t.rs.get_or_insert_with(rs_take);
    let RuleState {
        vars,
        edit,
        req_meth,
        req_uri,
    } = &mut **rs;
    let mut cx = Ctx {
        dir: Dir::Req,
        buf: data,
        hdrs: &mut t.hdrs,
        line: Line::Req {
            method: head.method,
            uri: head.uri,
            version: head.version,
        },
        edit,
        vars,
        req_meth: b"",
        req_uri: b"",
        info: inf,
        caps: t.caps.as_mut(),
        body,
    };
    // What the request may still grow by in its buffer (see
    // `http_act::charge`).
    cx.edit.room = rt.cfg.global.tune_bufsize as i64 - data.len() as i64;
    let r = f(&mut cx);
    if cx.edit.rw_failed > 0 {
        let n = std::mem::take(&mut cx.edit.rw_failed) as u64;
        count_rw_failed(rt, s.fe, s.be, s.srv, n);
    }
    // Response-side fetches (capture.req.uri, method) see the request as
    // forwarded.
    // Copied into the pooled rule state's own vectors (no allocation once
    // they have grown to the request line's size).
    req_meth.clear();
    req_meth.extend_from_slice(cx.method());
    req_uri.clear();
    req_uri.extend_from_slice(cx.uri());
    s.last_rule = cx.info.last_rule;
    let (src, dst) = (cx.info.src, cx.info.dst);
    if src != s.src || dst != s.dst {
        // set-src/set-dst: this transaction's view only.
        if s.conn_addrs.is_none() {
            s.conn_addrs = Some(Box::new([s.src, s.dst]));
        }
        s.src = src;
        s.dst = dst;
    }
    r
}

/// Runs one proxy's request rules: the frontend's (`back` false, with
/// the tcp-request session rules that wait for the first request) or,
/// once the backend is chosen, the backend's; or resumes them where a
/// `wait-for-body` paused them (`resume`: list, rule). The lists are
/// numbered: 1 tcp-request session, then per part `2 + 3n` tcp-request
/// content, `3 + 3n` http-request and `4 + 3n` redirect.
fn request_rules(
    s: &mut Stream,
    env: &Env,
    data: &[u8],
    head: &http::RequestHead,
    back: bool,
    resume: Option<(u8, usize)>,
    body: crate::sample::BodyView<'_>,
) -> Verdict {
    let rt = env.rt;
    let fe_i = s.fe;
    let be_i = s.be.unwrap_or(fe_i);
    let p = if back { be_i } else { fe_i };
    with_req_cx(s, env, data, head, body, |cx| {
        let fe_rules = &rt.proxies[fe_i].rules;
        let mut v = Verdict::Continue;
        if !back && fe_rules.sess_at_request && cx.info.first_req {
            v = run_step(&fe_rules.tcp_sess, 1, resume, cx);
        }
        let r = &rt.proxies[p].rules;
        let step = if back { 5 } else { 2 };
        if v == Verdict::Continue {
            v = run_step(&r.tcp_req, step, resume, cx);
        }
        if v == Verdict::Continue {
            v = run_step(&r.req, step + 1, resume, cx);
            if v == Verdict::Continue && resume.is_none_or(|(st, _)| st <= step + 1) {
                v = r.restrict_hdr_names(cx);
            }
            if v == Verdict::Continue {
                v = run_step(&r.redirects, step + 2, resume, cx);
            }
            let replies: &[usize] = if back { &[be_i, fe_i] } else { &[fe_i] };
            v = resolve_reply(rt, replies, v, cx);
        }
        if let Verdict::Deny { tarpit, .. } = &mut v {
            // A denial is a client error for the tracked counters.
            if let Some(stk) = cx.info.stk {
                stk.on_status(400);
            }
            // The backend counts denials of its own rules only (the
            // frontend's run before it is assigned, as in HAProxy).
            inc(&rt.proxies[fe_i].fe_counters.denied_req);
            if back {
                inc(&rt.proxies[be_i].be_counters.denied_req);
            }
            if let Some(ms) = tarpit.as_mut() {
                // The proxy's `timeout tarpit`, else a backend's connect
                // timeout (HAProxy's historical default), else none.
                let to = &rt.proxies[p].cfg.timeouts;
                let cap_be = rt.proxies[p].cfg.cap.backend;
                *ms = to.tarpit.or(to.connect.filter(|_| cap_be)).unwrap_or(0);
            }
        }
        v
    })
}

/// Runs one part of the request rules (see [`request_rules`]) and acts on
/// a final verdict: pause, reject or local reply. None: go on.
fn req_rules_part(
    s: &mut Stream,
    env: &mut Env,
    buf: &mut crate::buffer::Buf,
    head: &http::RequestHead,
    back: bool,
    resume: Option<(u8, usize)>,
    prev: &Option<Wait>,
) -> Option<Result<bool, End>> {
    let data = buf.data();
    let bv = match req_body_view(s, data, head, buf.len()) {
        Ok(v) => v,
        Err(code) => return Some(Ok(body_error(s, env, code))),
    };
    let v = request_rules(s, env, data, head, back, resume, bv);
    let sent = expect_100(s, env, head, data, false);
    if let Verdict::Wait { step, rule, time } = v {
        return Some(pause_req(s, env, *head, *prev, (step, rule), time).map(|p| p || sent));
    }
    if v == Verdict::Reject {
        return Some(Err(rules_reject(s, env)));
    }
    if v == Verdict::BadReq {
        // HAProxy's return_bad_req: the proxies' 400 page, a request error.
        inc(&env.rt.proxies[s.fe].fe_counters.failed_req);
        s.term = Term { who: b'P', when: b'R' };
        reply(s, env, 400, false);
        return Some(Ok(true));
    }
    if v == Verdict::RwFail {
        // HAProxy's return_int_err after a failed rewrite (the action set
        // SF_ERR_PRXCOND): 500, an internal error.
        let be = s.be.filter(|_| back);
        count_internal(s, env, be, None);
        s.term = Term { who: b'P', when: b'R' };
        reply(s, env, 500, false);
        return Some(Ok(true));
    }
    if v == Verdict::Continue {
        return None;
    }
    let f = head.flags;
    let cli_ka = client_keepalive(env, s, f) && !f.has(Flags::CL_TE_BOTH);
    if v == Verdict::Service {
        let px = if back { s.be.unwrap_or(s.fe) } else { s.fe };
        promex_request(s, env, buf, head, px, cli_ka);
        return Some(Ok(true));
    }
    rules_reply(s, env, buf, head, cli_ka, v);
    Some(Ok(true))
}

/// The backend's persistence and `use-server` rules, once it is chosen:
/// a matching rule pins the request to its server (HAProxy's
/// `SF_DIRECT|SF_ASSIGNED`), unless that server is down and nothing
/// forces persistence.
fn server_rules(
    s: &mut Stream,
    env: &Env,
    data: &[u8],
    head: &http::RequestHead,
    body: crate::sample::BodyView<'_>,
    be_i: usize,
) {
    let be = &env.rt.proxies[be_i];
    let sr = &be.srv_rules;
    let mut persist = crate::switching::Persist::None;
    let srv = with_req_cx(s, env, data, head, body, |cx| {
        persist = sr.persist(cx);
        let force = persist == crate::switching::Persist::Force;
        sr.select(
            cx,
            force || be.cfg.options.persist,
            |name| {
                be.servers
                    .iter()
                    .position(|sv| !sv.is_deleted() && sv.name.as_bytes() == name)
            },
            |i| !be.servers[i].up.load(Relaxed) || be.servers[i].in_maint(),
        )
    });
    s.forced_srv = srv;
    let ck = &mut s.http.as_mut().unwrap().ck;
    ck.ignore = persist == crate::switching::Persist::Ignore;
    ck.force = persist == crate::switching::Persist::Force;
}

/// The backend's request-side `stick` rules: a `match` pins the request
/// to the stored server unless one is chosen already (and that server is
/// usable, or persistence is forced), `store-request` keys wait for the
/// response.
fn stick_rules(
    s: &mut Stream,
    env: &Env,
    data: &[u8],
    head: &http::RequestHead,
    body: crate::sample::BodyView<'_>,
    be_i: usize,
) {
    let be = &env.rt.proxies[be_i];
    let assigned = s.forced_srv.is_some();
    let mut store = std::mem::take(&mut s.stick_store);
    let id = with_req_cx(s, env, data, head, body, |cx| {
        http_act::stick_request(&be.rules.stick_req, cx, assigned, &mut store)
    });
    s.stick_store = store;
    if let Some(i) = id.and_then(|id| super::stick_server(be, id, s.http.as_ref().is_some_and(|t| t.ck.force))) {
        s.forced_srv = Some(i);
    }
}

/// Stores the server that answered under the queued stick keys.
fn store_server(s: &mut Stream, env: &Env) {
    super::stick_store(s, env.rt);
}

/// Cookie persistence and `capture cookie` over the request's `Cookie`
/// headers (HAProxy's `http_manage_client_side_cookies()`, after the
/// `use-server` rules): edits the headers in place (they only shrink),
/// drops emptied ones, and pins the request to the server the cookie
/// names (`SF_DIRECT`).
fn cookie_request(s: &mut Stream, env: &Env, buf: &mut crate::buffer::Buf, be_i: usize) {
    let be = &env.rt.proxies[be_i];
    let fe = &env.rt.proxies[s.fe];
    let rq = crate::cookie::ReqSide {
        opts: be.cookie.as_ref(),
        capture: fe.caps.cookie.as_ref().map(|(n, l)| (&n[..], *l)),
        skip: s.forced_srv.is_some() || s.http.as_ref().is_some_and(|t| t.ck.ignore),
        now: wall_secs(),
    };
    let find = |v: &[u8], from: usize| {
        (from..be.servers.len()).find_map(|i| {
            let sv = &be.servers[i];
            (!sv.is_deleted() && sv.cfg.cookie.as_deref().is_some_and(|c| c.as_bytes() == v))
                .then(|| (i, !sv.up.load(Relaxed) || sv.in_maint()))
        })
    };
    let t = s.http.as_mut().unwrap();
    if be.cfg.options.persist {
        t.ck.force = true;
    }
    let mut chosen = None;
    let data = buf.data_mut();
    let mut i = 0;
    while i < t.hdrs.len() {
        let h = t.hdrs[i];
        if !http::eq_ignore_case(h.name.get(data), b"cookie") {
            i += 1;
            continue;
        }
        let (off, len) = (h.value.off as usize, h.value.len as usize);
        let (n, srv) = crate::cookie::request_header(&mut data[off..off + len], &rq, &mut t.ck, &find);
        chosen = chosen.or(srv);
        if n == 0 && len > 0 {
            t.hdrs.remove(i);
            continue;
        }
        t.hdrs[i].value.len = n as u32;
        i += 1;
    }
    if let Some(rs) = t.rs.as_mut() {
        let mut j = 0;
        while j < rs.edit.added.len() {
            if !http::eq_ignore_case(rs.edit.added.get(j).0, b"cookie") {
                j += 1;
                continue;
            }
            let (len, n, srv) = rs.edit.added.with_value_mut(j, |v| {
                let (n, srv) = crate::cookie::request_header(v, &rq, &mut t.ck, &find);
                (v.len(), n, srv)
            });
            chosen = chosen.or(srv);
            if n == 0 && len > 0 {
                rs.edit.added.remove(j);
                continue;
            }
            rs.edit.added.truncate_value(j, n);
            j += 1;
        }
    }
    if chosen.is_some() {
        s.forced_srv = chosen;
    }
}

/// Wall clock in seconds, as HAProxy's `date.tv_sec` for cookie dates.
fn wall_secs() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as u32)
}

/// Server-side cookies (HAProxy's `http_manage_server_side_cookies()` and
/// the Set-Cookie insertion of `http_process_res_common()`), between the
/// http-response and http-after-response rules: the server's own
/// persistence cookie is deleted or rewritten, `capture cookie` takes the
/// first match, and a Set-Cookie (plus `Cache-control: private` with
/// `nocache`) is added when the client must learn its server.
struct CookieRes<'a> {
    opts: Option<&'a config::cookie::CookieOpts>,
    capture: Option<(&'a [u8], usize)>,
    srv: Option<Option<&'a [u8]>>,
    direct: bool,
    status: u16,
}

fn cookie_response(cr: &CookieRes<'_>, cx: &mut Ctx<'_>, st: &mut crate::cookie::CkTxn) {
    use crate::cookie::SetCookie;
    if cr.status < 200 && cr.status != 101 {
        return;
    }
    let rs = crate::cookie::ResSide {
        opts: cr.opts,
        capture: cr.capture,
        srv: cr.srv,
        direct: cr.direct,
    };
    let buf = cx.buf;
    let mut i = 0;
    let mut moved: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    while i < cx.hdrs.len() {
        let h = cx.hdrs[i];
        if !http::eq_ignore_case(h.name.get(buf), b"set-cookie") {
            i += 1;
            continue;
        }
        match crate::cookie::response_header(h.value.get(buf), &rs, st) {
            SetCookie::Keep => i += 1,
            SetCookie::Remove => {
                cx.hdrs.remove(i);
            }
            SetCookie::Replace(v) => {
                // A longer value cannot stay in the input buffer: it moves
                // after the other headers (the codec re-serialises them).
                moved.push((h.name.get(buf).to_ascii_lowercase(), v));
                cx.hdrs.remove(i);
            }
        }
    }
    let mut j = 0;
    while j < cx.edit.added.len() {
        let (name, v) = cx.edit.added.get(j);
        if !http::eq_ignore_case(name, b"set-cookie") {
            j += 1;
            continue;
        }
        match crate::cookie::response_header(v, &rs, st) {
            SetCookie::Keep => j += 1,
            SetCookie::Remove => {
                cx.edit.added.remove(j);
            }
            SetCookie::Replace(nv) => {
                cx.edit.added.set_value(j, &nv);
                j += 1;
            }
        }
    }
    for (n, v) in &moved {
        cx.edit.added.push(n, v);
    }
    let (Some(o), Some(srv_ck)) = (cr.opts, cr.srv) else {
        return;
    };
    let mut v = std::mem::take(&mut cx.edit.tmp);
    v.clear();
    let inserted = crate::cookie::insert(o, st, srv_ck, cr.direct, wall_secs(), &mut v);
    if inserted {
        cx.edit.added.push(b"set-cookie", &v);
    }
    cx.edit.tmp = v;
    if !inserted {
        return;
    }
    if o.nocache {
        let pragma = cx.header_values(b"pragma", true).first().copied();
        let cc = cx.header_values(b"cache-control", false);
        let expires = !cx.header_values(b"expires", true).is_empty();
        let validator =
            !cx.header_values(b"etag", true).is_empty() || !cx.header_values(b"last-modified", true).is_empty();
        if crate::cookie::cacheable(st.meth_cacheable, cr.status, pragma, cc.into_iter(), expires, validator) {
            cx.edit.added.push(b"cache-control", b"private");
        }
    }
}

/// Runs rule list number `step`: skipped when the analysis resumes at a
/// later list, resumed at the paused rule when it is this one. A pause is
/// reported with this list's number.
fn run_step(rules: &[http_act::Rule], step: u8, resume: Option<(u8, usize)>, cx: &mut Ctx<'_>) -> Verdict {
    let at = match resume {
        Some((st, _)) if st > step => return Verdict::Continue,
        Some((st, rule)) if st == step => Some(rule),
        _ => None,
    };
    match http_act::run_at(rules, at, cx) {
        Verdict::Wait { rule, time, .. } => Verdict::Wait { step, rule, time },
        v => v,
    }
}

/// A rule asked for the proxies' message of a status: picks it from the
/// proxies the rule's stage knows (`pxs`, in order), rendering a generated
/// one (`http-error` with a log-format payload) now, while the rule's
/// message is still there to be fetched.
fn resolve_reply(rt: &crate::runtime::Runtime, pxs: &[usize], v: Verdict, cx: &mut Ctx<'_>) -> Verdict {
    if let Verdict::Deny { reply, tarpit } = v {
        return Verdict::Deny {
            reply: Box::new(resolve_reply(rt, pxs, *reply, cx)),
            tarpit,
        };
    }
    if let Verdict::Auth(value) = &v {
        let code = 401;
        let mut tmp = [0u8; 4096];
        let msg: Vec<u8> = match pxs.iter().find_map(|&p| rt.proxies[p].replies.get(code)) {
            Some(rep @ Reply::Gen { .. }) => {
                let mut bytes = Vec::with_capacity(128);
                rep.render(cx, &mut bytes);
                bytes
            }
            Some(Reply::Msg(_, m)) => m.bytes.clone(),
            _ => {
                let n = http::builtin_error_htx(code, &mut tmp).unwrap_or(0);
                tmp[..n].to_vec()
            }
        };
        return Verdict::Reply(code, http_act::with_www_authenticate(&msg, value));
    }
    let Verdict::Error(code) = v else { return v };
    match pxs.iter().find_map(|&p| rt.proxies[p].replies.get(code)) {
        Some(rep @ Reply::Gen { .. }) => {
            let mut bytes = Vec::with_capacity(128);
            rep.render(cx, &mut bytes);
            Verdict::Reply(code, bytes)
        }
        Some(Reply::Msg(_, m)) => Verdict::Msg(code, m.clone()),
        _ => Verdict::Builtin(code),
    }
}

/// Rewrites that did not fit (HAProxy's `failed_rewrites`, "wrew"): the
/// frontend, the backend once assigned, the server once chosen.
fn count_rw_failed(rt: &crate::runtime::Runtime, fe: usize, be: Option<usize>, srv: Option<usize>, n: u64) {
    use std::sync::atomic::Ordering::Relaxed;
    rt.proxies[fe].fe_counters.failed_rewrites.fetch_add(n, Relaxed);
    if let Some(b) = be {
        let b = &rt.proxies[b];
        b.be_counters.failed_rewrites.fetch_add(n, Relaxed);
        if let Some(sv) = srv.and_then(|i| b.servers.get(i)) {
            sv.counters.failed_rewrites.fetch_add(n, Relaxed);
        }
    }
}

/// HAProxy's `internal_errors` ("eint") of a failed message: the frontend,
/// the backend when given, its server when given.
fn count_internal(s: &Stream, env: &Env, be: Option<usize>, srv: Option<usize>) {
    inc(&env.rt.proxies[s.fe].fe_counters.internal_errors);
    if let Some(b) = be {
        let b = &env.rt.proxies[b];
        inc(&b.be_counters.internal_errors);
        if let Some(sv) = srv.and_then(|i| b.servers.get(i)) {
            inc(&sv.counters.internal_errors);
        }
    }
}

/// Sends the local reply rules decided.
fn send_verdict(s: &mut Stream, env: &mut Env, v: Verdict) {
    match v {
        Verdict::Reply(code, bytes) => reply_with(s, env, code, false, Some((&bytes, false))),
        Verdict::Msg(code, m) => reply_with(s, env, code, false, Some((&m.bytes, m.closes))),
        Verdict::Error(code) => reply(s, env, code, false),
        Verdict::Builtin(code) => reply_with(s, env, code, false, None),
        Verdict::Deny { reply, .. } => send_verdict(s, env, *reply),
        Verdict::Continue
        | Verdict::Reject
        | Verdict::BadReq
        | Verdict::RwFail
        | Verdict::Wait { .. }
        | Verdict::Auth(_)
        | Verdict::Service => {}
    }
}

/// Runs http-response (backend, then frontend) and http-after-response
/// rules over a response head parsed from `data`, or resumes them where a
/// `wait-for-body` paused them. Lists: per proxy `2n` tcp-response
/// content, `2n + 1` http-response.
fn response_rules(
    s: &mut Stream,
    env: &Env,
    data: &[u8],
    head: &http::ResponseHead,
    after_only: bool,
    resume: Option<(u8, usize)>,
    body: crate::sample::BodyView<'_>,
) -> Verdict {
    let rt = env.rt;
    let fe_i = s.fe;
    let be_i = s.be.unwrap_or(fe_i);
    let srv_i = s.srv;
    s.ensure_dst();
    let mut inf = info(rt, s, s.req_count == 1);
    inf.tls = s.cli_tls.as_deref();
    inf.pp = s.pp.as_deref();
    inf.stk = Some(&s.stk);
    if let Some(l) = s.logs.as_deref().filter(|l| l.has_uid) {
        inf.unique_id = &l.uid;
    }
    let be = &rt.proxies[be_i];
    let cr = CookieRes {
        opts: be.cookie.as_ref(),
        capture: rt.proxies[fe_i].caps.cookie.as_ref().map(|(n, l)| (&n[..], *l)),
        srv: s.srv.map(|i| be.servers[i].cfg.cookie.as_deref().map(str::as_bytes)),
        direct: s.forced_srv.is_some(),
        status: head.status,
    };
    let t: &mut Txn = s.http.as_mut().unwrap();
    let rs = t.rs.get_or_insert_with(rs_take);
    if resume.is_none() {
        rs.edit.clear();
    }
    let RuleState {
        vars,
        edit,
        req_meth,
        req_uri,
    } = &mut **rs;
    let mut cx = Ctx {
        dir: Dir::Res,
        buf: data,
        hdrs: &mut t.hdrs,
        line: Line::Res {
            status: head.status,
            reason: head.reason,
            version: head.version,
        },
        edit,
        vars,
        req_meth,
        req_uri,
        info: inf,
        caps: t.caps.as_mut(),
        body,
    };
    let order = if be_i != fe_i { &[be_i, fe_i][..] } else { &[fe_i][..] };
    if !after_only && resume.is_none() && !rt.proxies[be_i].rules.stick_res.is_empty() {
        http_act::stick_response(&rt.proxies[be_i].rules.stick_res, &mut cx, &mut s.stick_store);
    }
    if !after_only {
        // What the response may still grow by in its buffer (see
        // `http_act::charge`).
        cx.edit.room = rt.cfg.global.tune_bufsize as i64 - data.len() as i64;
        for (n, &p) in order.iter().enumerate() {
            let r = &rt.proxies[p].rules;
            let step = 2 * n as u8;
            let mut v = run_step(&r.tcp_res, step, resume, &mut cx);
            if v == Verdict::Continue {
                v = run_step(&r.res, step + 1, resume, &mut cx);
            }
            if cx.edit.rw_failed > 0 {
                let n = std::mem::take(&mut cx.edit.rw_failed) as u64;
                count_rw_failed(rt, fe_i, Some(be_i), srv_i, n);
            }
            if v != Verdict::Continue {
                let v = resolve_reply(rt, &[be_i, fe_i], v, &mut cx);
                s.last_rule = cx.info.last_rule;
                return v;
            }
        }
        s.last_rule = cx.info.last_rule;
        cx.edit.room = i64::MAX;
        if cr.opts.is_some() || cr.capture.is_some() {
            cookie_response(&cr, &mut cx, &mut t.ck);
        }
    }
    for &p in order {
        // http-after-response has no final verdicts (allow only stops
        // the list).
        let _ = http_act::run(&rt.proxies[p].rules.after, &mut cx);
    }
    Verdict::Continue
}

/// http-after-response over a local reply: parses our own bytes, runs
/// the rules, and re-emits head and body. None: no rules, send as is.
fn after_rules_local(s: &mut Stream, env: &Env, bytes: &[u8]) -> Option<Vec<u8>> {
    let be_i = s.be.unwrap_or(s.fe);
    if env.rt.proxies[s.fe].rules.after.is_empty() && env.rt.proxies[be_i].rules.after.is_empty() {
        return None;
    }
    let mut hdrs = Vec::with_capacity(16);
    let opts = ParseOptions {
        accept_invalid: true,
        max_headers: 101,
        max_head_len: bytes.len(),
        accept_payload_with_any_method: false,
    };
    let head = match http::parse_response(bytes, &mut hdrs, &opts, Method::Get) {
        Ok(http::Status::Complete(h)) => h,
        _ => return None,
    };
    let saved = std::mem::replace(&mut s.http.as_mut()?.hdrs, hdrs);
    response_rules(s, env, bytes, &head, true, None, Default::default());
    let t = s.http.as_mut()?;
    let hdrs = std::mem::replace(&mut t.hdrs, saved);
    let edit = &t.rs.as_ref()?.edit;
    // Our replies are already in output form: re-emit them verbatim.
    let mut plain = Vec::with_capacity(head.len);
    plain.extend_from_slice(head.version.get(bytes));
    plain.push(b' ');
    plain.extend_from_slice(head.status_span.get(bytes));
    plain.push(b' ');
    plain.extend_from_slice(head.reason.get(bytes));
    plain.extend_from_slice(b"\r\n");
    for h in &hdrs {
        plain.extend_from_slice(h.name.get(bytes));
        plain.extend_from_slice(b": ");
        plain.extend_from_slice(h.value.get(bytes));
        plain.extend_from_slice(b"\r\n");
    }
    plain.extend_from_slice(b"\r\n");
    let mut out = Vec::with_capacity(bytes.len() + 128);
    http_act::apply_edit(&plain, edit, &mut out);
    out.extend_from_slice(&bytes[head.len..]);
    Some(out)
}

/// A tcp-request rule rejected the request: the stream ends without a
/// response (the caller returns the End).
fn rules_reject(s: &mut Stream, env: &mut Env) -> End {
    inc(&env.rt.proxies[s.fe].fe_counters.denied_req);
    s.term = Term { who: b'P', when: b'R' };
    End
}

/// Whether the client connection may go on after this request, from the
/// agreed connection mode and the request's own headers.
fn client_keepalive(env: &Env, s: &Stream, f: Flags) -> bool {
    conn_mode(env, s) != HttpConnMode::Close
        && !f.has(Flags::FORCE_CLOSE)
        && ((f.has(Flags::VER_11) && !f.has(Flags::CONN_CLOSE))
            || (!f.has(Flags::VER_11) && f.has(Flags::CONN_KEEPALIVE)))
}

/// Sends the local reply an http-request rule decided. A body-less
/// request leaves the connection reusable, as in HAProxy; otherwise the
/// unread body makes `reply` close it.
fn rules_reply(
    s: &mut Stream,
    env: &mut Env,
    buf: &mut crate::buffer::Buf,
    head: &http::RequestHead,
    cli_ka: bool,
    v: Verdict,
) {
    let (v, deny, tarpit) = match v {
        Verdict::Deny { reply, tarpit } => (*reply, true, tarpit),
        v => (v, false, None),
    };
    let t = s.http.as_mut().unwrap();
    t.cli_keepalive = cli_ka;
    // A body already entirely here (none, or waited for) is consumed
    // with the head: the connection may go on.
    let after = &buf.data()[head.len..];
    let fr = if head.meth == Method::Connect {
        BodyFraming::None
    } else {
        head.body
    };
    let mut used = head.len;
    let scanned = scan_body(after, fr, false, false);
    let complete = matches!(scanned, Ok((_, _, true)));
    if let Ok((n, _, true)) = scanned {
        t.req = Msg1::Done;
        used += n;
    }
    buf.consume(used);
    if s.term.who == 0 {
        // A rule's own answer is local; a denial is the proxy's
        // condition, a tarpit's reply says so.
        let who = if matches!(v, Verdict::Reply(..)) && !deny {
            b'L'
        } else {
            b'P'
        };
        let when = if tarpit.is_some() { b'T' } else { b'R' };
        s.term = Term { who, when };
    }
    if let Some(ms) = tarpit.filter(|&ms| ms > 0) {
        // Tarpit: the request is dropped (never forwarded, nothing more
        // read) and the reply waits for the timeout.
        if !complete {
            t.cli_keepalive = false;
            buf.clear();
        }
        t.req = Msg1::Done;
        t.tarpit = Some(Box::new(v));
        t.exp = env.now() + ms as u64;
        return;
    }
    send_verdict(s, env, v);
}

/// Serialises a head into `ob` with `write`, then, if rules rewrote the
/// start line, re-emits it with the new line (through the transaction's
/// two scratch vectors, which keep their capacity from one request to the
/// next: no allocation once warm). False: it does not fit.
fn emit_head(
    ob: &mut crate::buffer::Buf,
    rs: &mut Option<Box<RuleState>>,
    write: impl FnOnce(&mut [u8], &http::AddedHdrs) -> Result<usize, http::NeedsRoom>,
) -> bool {
    let line_edit = |e: &crate::sample::Edit| e.method.is_some() || e.uri.is_some() || e.status.is_some();
    let Some(r) = rs.as_mut().filter(|r| line_edit(&r.edit)) else {
        // Added headers are written in place by the serializer.
        let added = rs.as_ref().map_or(&http::NO_ADDED, |r| &r.edit.added);
        return match write(ob.room(), added) {
            Ok(n) => {
                ob.produce(n);
                true
            }
            Err(_) => false,
        };
    };
    let e = &mut r.edit;
    let (mut tmp, mut out) = (std::mem::take(&mut e.tmp), std::mem::take(&mut e.tmp2));
    tmp.clear();
    tmp.resize(ob.free(), 0);
    out.clear();
    let ok = match write(&mut tmp, &e.added) {
        Ok(n) => {
            http_act::apply_line(&tmp[..n], e, &mut out);
            ob.put(&out)
        }
        Err(_) => false,
    };
    (e.tmp, e.tmp2) = (tmp, out);
    ok
}

/// The current server connection came from an idle list or was kept
/// from a previous request.
pub fn conn_was_reused(s: &Stream) -> bool {
    s.http.as_ref().is_some_and(|t| t.conn_reused > 0)
}

/// The server connection is going away: the next one starts fresh.
pub fn forget_conn(s: &mut Stream) {
    if let Some(t) = s.http.as_mut() {
        t.conn_reused = 0;
    }
}

/// Finds a server connection to reuse for this request. `pp`: the PROXY
/// header a new connection would start with; a connection that carried
/// one is private to its client, and serves again only a request that
/// would send the same header (HAProxy hashes the line into the
/// connection's reuse key).
pub fn try_reuse(s: &mut Stream, env: &mut Env, pp: Option<&[u8]>) -> Option<bool> {
    let (be_i, srv_i) = (s.be?, s.srv?);
    let be = &env.rt.proxies[be_i];
    let srv = &be.servers[srv_i];
    let same_pp = s.pp_out.as_ref().map(|p| &p.bytes[..]) == pp;
    let t = s.http.as_mut()?;
    // A private connection of this client (http-reuse never, or one kept
    // from the previous request) to the same server comes first.
    if let Some(p) = t.private.take() {
        if p == (be_i, srv_i) && !same_pp {
            s.pp_noreuse = true;
        }
        if p == (be_i, srv_i) && same_pp && !s.pp_noreuse && s.sv.is_open() && !s.sv.shut_r && !s.sv.err {
            t.conn_reused += 1;
            inc(&srv.counters.reuse);
            inc(&be.be_counters.reuse);
            s.phase = SrvPhase::Connected;
            on_connected(s, env);
            return Some(true);
        }
        if s.sv.is_open() {
            env.cx.fd_delete(s.sv.fd);
            s.sv = super::Side::none();
            if s.sv_tls.is_some() {
                s.sv_tls = None;
            }
        }
    }
    if pp.is_some() {
        return None;
    }
    // An idle connection carried no PROXY header.
    s.pp_out = None;
    let first = s.req_count <= 1;
    let accept: fn(&IdleConn) -> bool = match (be.cfg.http_reuse, first) {
        (HttpReuse::Never, _) => return None,
        (HttpReuse::Safe, true) => return None,
        (HttpReuse::Aggressive, true) => |c| c.reused > 0,
        _ => |_| true,
    };
    let tid = env.cx.tid();
    let (conn, stolen) = match srv.idle.take(tid, accept) {
        Some(c) => (c, false),
        // Another thread's connection only when sharing is on and the
        // server has at least `pool-low-conn` idle ones (below that,
        // each thread is meant to build its own; HAProxy also steals when
        // short of FDs, a limit rhaproxy does not track).
        None if !env.rt.cfg.global.tune_idle_pool_shared || srv.idle.total() < srv.cfg.pool_low_conn => return None,
        None => match srv.idle.steal(tid, accept) {
            Some((_, c)) => (c, true),
            None => return None,
        },
    };
    let tok = env.tok(K_SRV_SIDE);
    if stolen {
        env.cx.fd_takeover(conn.fd, tok);
    } else {
        reactor::fd::set_token(conn.fd, tok);
    }
    let t = s.http.as_mut().unwrap();
    t.conn_reused = conn.reused + 1;
    inc(&srv.counters.reuse);
    inc(&be.be_counters.reuse);
    // Not ready to read: the request is not even sent, so a recv now
    // would only return EAGAIN. The parked connection stayed polled for
    // reading, so a close or a response is still reported.
    // Idle connections are plain (TLS ones stay private to their client).
    if s.sv_tls.is_some() {
        s.sv_tls = None;
    }
    s.sv = super::Side {
        fd: conn.fd,
        ready_r: false,
        ready_w: true,
        ..super::Side::none()
    };
    s.phase = SrvPhase::Connected;
    on_connected(s, env);
    Some(true)
}

pub fn on_connected(s: &mut Stream, env: &mut Env) {
    // A reused connection is "connected" at once for the log timers.
    if s.tm.t_connect < 0 {
        let t = s.tm.since(env.now());
        if s.tm.t_queue < 0 {
            s.tm.t_queue = t;
        }
        s.tm.t_connect = t;
    }
    let t = txn(s);
    if t.res == Msg1::Idle {
        t.res = Msg1::Head;
    }
    s.res.read_limit = parse_opts(env, &env.rt.proxies[s.be.unwrap_or(s.fe)], true).max_head_len;
    s.touch_srv(env);
}

/// Decodes body bytes of one direction that are not yet cleared for
/// forwarding. Returns (progress, done, error status).
fn classify_body(dec: &mut BodyDecoder, ch: &mut super::Chan) -> (bool, bool, Option<u16>) {
    let Some(buf) = ch.ibuf.as_ref() else {
        return (false, dec.is_done(), None);
    };
    let mut progress = false;
    loop {
        let data = &buf.data()[ch.fwd..];
        match dec.decode(data) {
            Ok(BodyEvent::Data(n)) | Ok(BodyEvent::ChunkEnd(n)) | Ok(BodyEvent::Trailers(n)) => {
                ch.fwd += n;
                progress = true;
                if dec.is_done() {
                    return (progress, true, None);
                }
            }
            Ok(BodyEvent::ChunkSize { len, .. }) => {
                ch.fwd += len;
                progress = true;
            }
            Ok(BodyEvent::Done) => return (progress, true, None),
            Ok(BodyEvent::NeedMore) => return (progress, false, None),
            Err(e) => return (progress, false, Some(e.status)),
        }
    }
}

/// Re-encodes a chunked body into the channel's output buffer, as HAProxy
/// emits chunked messages after its internal round trip: one chunk per
/// block of payload available (upper-case hex size, CRLF, no extensions),
/// the last chunk, then the trailers with lower-case names. Framing bytes
/// are consumed from the input; payload is copied once. Stops while the
/// output buffer is full (it resumes once that drains). Returns (progress,
/// done, error status) like [`classify_body`].
fn rechunk_body(
    dec: &mut BodyDecoder,
    ch: &mut super::Chan,
    pool: &mut crate::buffer::Pool,
) -> (bool, bool, Option<u16>) {
    let Some(buf) = ch.ibuf.as_mut() else {
        return (false, dec.is_done(), None);
    };
    let ob = ch.obuf.get_or_insert_with(|| pool.get());
    let mut progress = false;
    loop {
        // Room for a size line (16 hex digits + CRLF) and the closing CRLF.
        let room = ob.free().saturating_sub(24);
        if room == 0 {
            return (progress, false, None);
        }
        let data = buf.data();
        let lim = data.len().min(room);
        match dec.decode(&data[..lim]) {
            Ok(BodyEvent::Data(n)) => {
                let mut line = [0u8; 20];
                let l = http::body::write_chunk_size(n as u64, &mut line).unwrap_or(0);
                ob.put(&line[..l]);
                ob.put(&data[..n]);
                ob.put(b"\r\n");
                buf.consume(n);
                progress = true;
            }
            Ok(BodyEvent::ChunkSize { len, .. }) | Ok(BodyEvent::ChunkEnd(len)) => {
                buf.consume(len);
                progress = true;
            }
            Ok(BodyEvent::Trailers(n)) => {
                if ob.free() < n + 8 {
                    // Cannot happen with a 24-byte margin and n <= room,
                    // but never write a partial trailer block.
                    return (progress, false, None);
                }
                ob.put(b"0\r\n");
                for line in data[..n].split(|&c| c == b'\n') {
                    let line = line.strip_suffix(b"\r").unwrap_or(line);
                    if line.is_empty() {
                        continue;
                    }
                    let colon = line.iter().position(|&c| c == b':').unwrap_or(line.len());
                    let mut lower = [0u8; 64];
                    for chunk in line[..colon].chunks(64) {
                        let m = chunk.len();
                        lower[..m].copy_from_slice(chunk);
                        lower[..m].make_ascii_lowercase();
                        ob.put(&lower[..m]);
                    }
                    ob.put(&line[colon..]);
                    ob.put(b"\r\n");
                }
                ob.put(b"\r\n");
                buf.consume(n);
                return (true, true, None);
            }
            Ok(BodyEvent::Done) => return (progress, true, None),
            Ok(BodyEvent::NeedMore) => return (progress, false, None),
            Err(e) => return (progress, false, Some(e.status)),
        }
    }
}

/// Runs the request and response analyzers. Ok(progress), or Err(End) when
/// the stream must end now.
pub fn analyze(s: &mut Stream, env: &mut Env) -> Result<bool, End> {
    let mut progress = false;
    if s.http.is_none() {
        if s.req_count > 0 {
            // An idle keep-alive client (see `park`): it needs a
            // transaction again only when the next request's bytes come.
            if s.req.in_len() == 0 {
                return if s.cli.shut_r || s.cli.err { Err(End) } else { Ok(false) };
            }
            s.http = Some(txn_take());
        } else {
            let mut t = txn_take();
            t.head_start = s.accept_ms;
            t.exp = head_deadline(env, s.fe, s.accept_ms);
            s.http = Some(t);
        }
    }
    if s.http.as_ref().unwrap().closing {
        // Lingering close: discard input until the client closes.
        if let Some(b) = s.req.ibuf.as_mut() {
            b.clear();
        }
        if s.cli.shut_r || s.cli.err {
            return Err(End);
        }
        return Ok(false);
    }

    // ---------------- request ----------------
    // The head and what is already buffered of the body are analysed in
    // one go, as HAProxy does before forwarding anything.
    loop {
        let req_state = s.http.as_ref().unwrap().req;
        match req_state {
            Msg1::Head => {
                if s.req.in_len() > 0 && s.req.fwd == 0 && s.req.drained() {
                    let p = request_head(s, env)?;
                    progress |= p;
                    if p && matches!(s.http.as_ref().unwrap().req, Msg1::Body(_)) {
                        continue;
                    }
                } else if s.cli.shut_r || s.cli.err {
                    if s.req.in_len() > 0 {
                        // Closed in the middle of a request head.
                        inc(&env.rt.proxies[s.fe].fe_counters.failed_req);
                        s.term = Term { who: b'C', when: b'R' };
                    } else if s.req_count == 0 && !env.rt.proxies[s.fe].cfg.options.http_ignore_probes {
                        // A connection closed before its first request:
                        // HAProxy's H1 layer counts and logs it as a 400
                        // (h1_handle_parsing_error), unless probes are
                        // ignored.
                        s.term = Term { who: b'C', when: b'R' };
                        if let Some(l) = s.logs.as_deref_mut() {
                            l.pending = true;
                        }
                        s.http.as_mut().unwrap().status = 400;
                        let fe = &env.rt.proxies[s.fe];
                        inc(&fe.fe_counters.failed_req);
                        fe.fe_counters.response(400);
                        count_request(s, env);
                        s.stk.on_status(400);
                    }
                    return Err(End);
                }
            }
            Msg1::Body(mut dec) => {
                let (p, done, err) = if s.http.as_ref().unwrap().req_chunked {
                    rechunk_body(&mut dec, &mut s.req, env.pool)
                } else {
                    classify_body(&mut dec, &mut s.req)
                };
                progress |= p;
                let t = s.http.as_mut().unwrap();
                if let Some(code) = err {
                    inc(&env.rt.proxies[s.fe].fe_counters.failed_req);
                    // Before anything left, the H1 layer refuses the
                    // request itself; afterwards the stream replies.
                    let h1 = s.req.total == t.req_mark && t.pending_connect;
                    reply(s, env, code, h1);
                    return Ok(true);
                }
                t.req = if done { Msg1::Done } else { Msg1::Body(dec) };
                if !done && (s.cli.shut_r || s.cli.err) && s.req.fwd == s.req.in_len() {
                    // The client went away in the middle of its body:
                    // still in the request phase if no server was asked.
                    let when = if s.phase == SrvPhase::None { b'R' } else { b'D' };
                    s.term = Term { who: b'C', when };
                    inc(&env.rt.proxies[s.fe].fe_counters.cli_aborts);
                    return Err(End);
                }
            }
            Msg1::Tunnel => {
                s.req.fwd = s.req.in_len();
            }
            Msg1::Idle | Msg1::Done => {}
        }
        break;
    }

    progress |= connect_when_ready(s, env)?;
    if client_abort(s, env)? {
        return Ok(true);
    }

    // ---------------- response ----------------
    loop {
        let res_state = s.http.as_ref().unwrap().res;
        match res_state {
            Msg1::Head => {
                if s.res.in_len() > 0 && s.res.fwd == 0 && s.res.drained() {
                    let p = response_head(s, env)?;
                    progress |= p;
                    if p && matches!(s.http.as_ref().unwrap().res, Msg1::Body(_) | Msg1::Head) && s.res.in_len() > 0 {
                        continue;
                    }
                } else if s.phase == SrvPhase::Connected && (s.sv.shut_r || s.sv.err) && s.res.in_len() == 0 {
                    // The server closed (or failed) without a response.
                    let t = s.http.as_ref().unwrap();
                    if conn_was_reused(s) && s.req.total == t.req_mark {
                        // A reused connection failed before any of the
                        // request left: a connection failure, retried at
                        // once (HAProxy's SC_ST_RDY error without
                        // CF_WROTE_DATA).
                        if !s.connect_failed(env, false) {
                            return Err(End);
                        }
                        return Ok(true);
                    }
                    if l7_retry(s, env, config::model::RE_DISCONNECTED) {
                        return Ok(true);
                    }
                    if s.req_count > 1 {
                        // A keep-alive request failed on a network error:
                        // close without a word so the client retries it
                        // (HAProxy's abort_keep_alive).
                        s.term = Term { who: b'S', when: b'H' };
                        return Err(End);
                    }
                    let be = s.be.unwrap();
                    let b = &env.rt.proxies[be];
                    inc(&b.be_counters.failed_resp);
                    if let Some(sv) = s.srv {
                        inc(&b.servers[sv].counters.failed_resp);
                    }
                    s.term = Term { who: b'S', when: b'H' };
                    reply(s, env, 502, false);
                    return Ok(true);
                }
            }
            Msg1::Body(mut dec) => {
                let (p, done, err) = if s.http.as_ref().unwrap().res_chunked {
                    rechunk_body(&mut dec, &mut s.res, env.pool)
                } else {
                    classify_body(&mut dec, &mut s.res)
                };
                progress |= p;
                let mut done = done;
                if err.is_some() {
                    if let Some(be) = s.be {
                        inc(&env.rt.proxies[be].be_counters.failed_resp);
                    }
                    if s.res.total == s.http.as_ref().unwrap().res_mark {
                        // Nothing of this response left yet: HAProxy had
                        // parsed the buffered body before forwarding, and
                        // answers 502 instead.
                        s.term = Term { who: b'P', when: b'H' };
                        reply(s, env, 502, false);
                        return Ok(true);
                    }
                    // Headers are already sent: abort the client connection.
                    s.term = Term { who: b'S', when: b'D' };
                    return Err(End);
                }
                if !done && (s.sv.shut_r || s.sv.err) && s.res.fwd == s.res.in_len() {
                    match dec.on_close() {
                        Ok(()) => done = true,
                        Err(_) => {
                            s.term = Term { who: b'S', when: b'D' };
                            if let Some(be) = s.be {
                                inc(&env.rt.proxies[be].be_counters.srv_aborts);
                            }
                            // Deliver what we have, then close the client.
                            let t = s.http.as_mut().unwrap();
                            t.res = Msg1::Done;
                            t.cli_keepalive = false;
                            t.srv_keepalive = false;
                            return Ok(true);
                        }
                    }
                }
                s.http.as_mut().unwrap().res = if done { Msg1::Done } else { Msg1::Body(dec) };
            }
            Msg1::Tunnel => {
                s.res.fwd = s.res.in_len();
                if (s.sv.shut_r && s.res.drained() && s.res.in_len() == 0)
                    || (s.cli.shut_r && s.req.drained() && s.req.in_len() == 0)
                {
                    return tunnel_shutdowns(s);
                }
            }
            Msg1::Idle | Msg1::Done => {}
        }
        break;
    }

    // A local body larger than a buffer goes out as the buffer drains.
    if s.http.as_ref().unwrap().pending_out.is_some() {
        progress |= pump_pending(s, env);
    }

    // ---------------- end of transaction ----------------
    let t = s.http.as_ref().unwrap();
    // Records still in the TLS layer are part of the response.
    if t.res == Msg1::Done
        && s.res.drained()
        && !super::tls_pending(&s.cli_tls)
        && (t.req == Msg1::Done || t.local)
        && t.pending_out.is_none()
    {
        end_txn(s, env)?;
        progress = true;
    }
    arm_side_timers(s, env);
    park(s, env.pool);
    Ok(progress)
}

/// A client that goes away while its request waits for a server (HAProxy's
/// `back_may_abort_req()` and the abortonclose case of
/// `http_wait_for_response()`). A connection error always aborts a stream
/// still queued or connecting; a mere close (FIN) does only with `option
/// abortonclose`, which then also aborts the wait for the response head:
/// the server connection is dropped and a 400 goes to the half-closed
/// client. Without it the request is served and the response delivered.
fn client_abort(s: &mut Stream, env: &mut Env) -> Result<bool, End> {
    let Some(t) = s.http.as_ref() else { return Ok(false) };
    let Some(be_i) = s.be else { return Ok(false) };
    if t.req != Msg1::Done || t.local || t.closing {
        return Ok(false);
    }
    let closed = s.cli.shut_r || s.cli.rdhup;
    let aoc = env.rt.proxies[be_i].cfg.options.abortonclose;
    if !(s.cli.err || (closed && aoc)) {
        return Ok(false);
    }
    let fe = &env.rt.proxies[s.fe];
    let be = &env.rt.proxies[be_i];
    match s.phase {
        SrvPhase::Queued => {
            crate::backend::unqueue(be, env.cx.tid(), env.tok(crate::worker::K_WAKE));
            s.phase = SrvPhase::Done;
            s.queue_exp = ETERNITY;
            s.term = Term { who: b'C', when: b'Q' };
        }
        // A connect just issued is tried with the request at once, as
        // HAProxy sends right after connect(): on loopback that send finds
        // the connection established, and a client whose FIN came with its
        // request then gets the 400 below (CH), not a silent CC. Only a
        // connect still pending after that send waits to be aborted.
        SrvPhase::Connecting if !s.cli.err && s.sv.connecting && s.sv.ready_w && s.req.has_output() => {
            return Ok(false);
        }
        SrvPhase::Connecting | SrvPhase::Retry => {
            s.term = Term { who: b'C', when: b'C' };
        }
        SrvPhase::Connected if aoc && t.res == Msg1::Head && s.res.in_len() == 0 => {
            inc(&fe.fe_counters.cli_aborts);
            inc(&be.be_counters.cli_aborts);
            if let Some(sv) = s.srv {
                inc(&be.servers[sv].counters.cli_aborts);
            }
            s.term = Term { who: b'C', when: b'H' };
            reply(s, env, 400, false);
            let t = s.http.as_mut().unwrap();
            t.cli_keepalive = false;
            return Ok(true);
        }
        _ => return Ok(false),
    }
    Err(End)
}

/// Tunnel half-closes, as in TCP mode.
fn tunnel_shutdowns(s: &mut Stream) -> Result<bool, End> {
    if s.cli.shut_r
        && s.req.drained()
        && s.req.in_len() == 0
        && s.sv.is_open()
        && !s.sv.shut_w
        && !super::tls_pending(&s.sv_tls)
    {
        s.sv.shutw(&mut s.sv_tls);
    }
    if s.sv.shut_r && s.res.drained() && s.res.in_len() == 0 && !s.cli.shut_w && !super::tls_pending(&s.cli_tls) {
        s.cli.shutw(&mut s.cli_tls);
    }
    if s.cli.shut_r && s.sv.shut_r && s.cli.shut_w && s.sv.shut_w {
        return Err(End);
    }
    Ok(false)
}

fn head_deadline(env: &Env, fe: usize, start: u64) -> u64 {
    let t = &env.rt.proxies[fe].cfg.timeouts;
    t.http_request
        .or(t.client)
        .map_or(ETERNITY, |v| start.saturating_add(v as u64))
}

/// Parses and forwards a request head. Ok(progress). The input buffer is
/// taken out of the stream meanwhile, so the head's spans stay valid while
/// the stream is updated.
fn request_head(s: &mut Stream, env: &mut Env) -> Result<bool, End> {
    let mut ibuf = s.req.ibuf.take().expect("request bytes");
    let r = request_head_in(s, env, &mut ibuf);
    s.req.ibuf = Some(ibuf);
    r
}

fn request_head_in(s: &mut Stream, env: &mut Env, buf: &mut crate::buffer::Buf) -> Result<bool, End> {
    let fe_i = s.fe;
    // A paused analysis goes on with the head it kept: it is neither
    // parsed nor counted again.
    let t = s.http.as_mut().unwrap();
    let paused = match t.wait.as_deref().copied() {
        Some(
            w @ Wait {
                head: Paused::Req(h), ..
            },
        ) => {
            t.wait = None;
            Some((w, h))
        }
        _ => None,
    };
    let head = match paused {
        Some((_, h)) => h,
        None => match request_head_new(s, env, buf)? {
            Ok(h) => h,
            Err(progress) => return Ok(progress),
        },
    };
    let resume = paused.map(|(w, _)| (w.step, w.rule));
    let data = buf.data();
    let fe = &env.rt.proxies[fe_i];
    if fe.cfg.options.http_buffer_request && resume.is_none_or(|(st, _)| st == 0) {
        // HAProxy's http_wait_for_request_body, before any rule: under
        // the frontend's `timeout http-request` (and the client timeout).
        let bv = req_body_view(s, data, &head, buf.len());
        let bv = match bv {
            Ok(v) => v,
            Err(code) => return Ok(body_error(s, env, code)),
        };
        let sent = expect_100(s, env, &head, data, bv.expect_100);
        if !body_enough(&bv, 0) {
            let time = fe.cfg.timeouts.http_request.unwrap_or(0);
            return pause_req(s, env, head, paused.map(|(w, _)| w), (0, 0), time).map(|p| p || sent);
        }
    }
    let resume = resume.filter(|&(st, _)| st > 0);
    request_process(s, env, buf, head, resume, paused.map(|(w, _)| w))
}

/// What is buffered of a body behind its head: (bytes of it to show,
/// payload bytes, complete). Err: a chunked framing error's status.
fn scan_body(after: &[u8], fr: BodyFraming, response: bool, closed: bool) -> Result<(usize, u64, bool), u16> {
    match fr {
        BodyFraming::None | BodyFraming::Tunnel => Ok((0, 0, true)),
        BodyFraming::Length(n) => {
            let k = after.len().min(usize::try_from(n).unwrap_or(usize::MAX));
            Ok((k, k as u64, k as u64 == n))
        }
        BodyFraming::UntilClose => Ok((after.len(), after.len() as u64, closed)),
        BodyFraming::Chunked => {
            let mut dec = BodyDecoder::new(fr, response);
            let (mut at, mut len) = (0, 0u64);
            loop {
                match dec.decode(&after[at..]) {
                    Ok(BodyEvent::Data(n)) => {
                        at += n;
                        len += n as u64;
                    }
                    Ok(BodyEvent::ChunkSize { len: n, .. }) | Ok(BodyEvent::ChunkEnd(n)) => at += n,
                    Ok(BodyEvent::Trailers(n)) => return Ok((at + n, len, true)),
                    Ok(BodyEvent::Done) => return Ok((at, len, true)),
                    Ok(BodyEvent::NeedMore) => return Ok((at, len, false)),
                    Err(e) => return Err(e.status),
                }
                if dec.is_done() {
                    return Ok((at, len, true));
                }
            }
        }
    }
}

/// The request body buffered behind its (unconsumed) head, for
/// `req.body` and `wait-for-body`. `buf_len`: the input buffer's fill.
fn req_body_view<'a>(
    s: &Stream,
    data: &'a [u8],
    head: &http::RequestHead,
    buf_len: usize,
) -> Result<crate::sample::BodyView<'a>, u16> {
    let after = &data[head.len.min(data.len())..];
    let closed = s.cli.shut_r || s.cli.err;
    let fr = if head.meth == Method::Connect {
        BodyFraming::None
    } else {
        head.body
    };
    let (raw, len, complete) = scan_body(after, fr, false, closed)?;
    let t = s.http.as_ref().unwrap();
    let expect_100 = head.flags.has(Flags::VER_11)
        && matches!(fr, BodyFraming::Length(_) | BodyFraming::Chunked)
        && t.hdrs
            .iter()
            .find(|h| http::eq_ignore_case(h.name.get(data), b"expect"))
            .is_some_and(|h| http::eq_ignore_case(h.value.get(data), b"100-continue"));
    Ok(crate::sample::BodyView {
        raw: &after[..raw],
        chunked: fr == BodyFraming::Chunked,
        len,
        complete,
        full: buf_len >= s.req.read_limit,
        closed,
        expect_100,
    })
}

/// The response body buffered behind its head.
fn res_body_view<'a>(
    s: &Stream,
    data: &'a [u8],
    head: &http::ResponseHead,
    buf_len: usize,
) -> Result<crate::sample::BodyView<'a>, u16> {
    let after = &data[head.len.min(data.len())..];
    let closed = s.sv.shut_r || s.sv.err;
    let (raw, len, complete) = scan_body(after, head.body, true, closed)?;
    Ok(crate::sample::BodyView {
        raw: &after[..raw],
        chunked: head.body == BodyFraming::Chunked,
        len,
        complete,
        full: buf_len >= s.res.read_limit,
        closed,
        expect_100: false,
    })
}

/// Whether a wait for the body is over (HAProxy's
/// `http_wait_for_msg_body`): all of it, a full buffer, a sender that
/// closed, or `at_least` payload bytes (0: no such limit).
fn body_enough(b: &crate::sample::BodyView<'_>, at_least: u64) -> bool {
    b.complete || b.full || b.closed || (at_least > 0 && b.len >= at_least)
}

/// A framing error in a request body seen while waiting for it: the H1
/// layer refuses the request (nothing of it left yet). True: progress.
fn body_error(s: &mut Stream, env: &mut Env, code: u16) -> bool {
    inc(&env.rt.proxies[s.fe].fe_counters.failed_req);
    s.term = Term { who: b'P', when: b'R' };
    reply(s, env, code, true);
    true
}

/// Sends `100 Continue` once per request when its body is waited for and
/// the client expects it (HAProxy's `http_handle_expect_hdr`): `now` for
/// `option http-buffer-request` (which also drops the Expect header),
/// otherwise when a `wait-for-body` rule asked through its edit. True
/// when sent.
fn expect_100(s: &mut Stream, env: &mut Env, head: &http::RequestHead, data: &[u8], now: bool) -> bool {
    let t = s.http.as_mut().unwrap();
    let by_rule = t.rs.as_ref().is_some_and(|r| r.edit.continue_100);
    if t.sent_100 || !(now || by_rule) || head.meth == Method::Connect {
        return false;
    }
    if now {
        t.hdrs.retain(|h| !http::eq_ignore_case(h.name.get(data), b"expect"));
    }
    t.sent_100 = true;
    s.res.obuf(env.pool).put(b"HTTP/1.1 100 Continue\r\n\r\n");
    true
}

/// Pauses a request's analysis at `at` (list, rule) until more of its
/// body comes, keeping the head in the buffer; answers 408 instead when
/// the wait at this same place is over (`prev`: the pause just resumed).
fn pause_req(
    s: &mut Stream,
    env: &mut Env,
    head: http::RequestHead,
    prev: Option<Wait>,
    at: (u8, usize),
    time: u32,
) -> Result<bool, End> {
    pause(s, env, Paused::Req(head), prev, at, time)
}

fn pause(
    s: &mut Stream,
    env: &mut Env,
    head: Paused,
    prev: Option<Wait>,
    at: (u8, usize),
    time: u32,
) -> Result<bool, End> {
    let now = env.now();
    let until = match prev {
        Some(w) if (w.step, w.rule) == at => w.until,
        _ if time == 0 => ETERNITY,
        _ => now + time as u64,
    };
    let res = matches!(head, Paused::Res(_));
    if now >= until {
        wait_expired(s, env, res, true);
        return Ok(true);
    }
    // The sender's inactivity timeout also ends the wait (a read timeout
    // to HAProxy); the server side has its own timer.
    let idle = match res {
        false => s.timeout_client(env.rt).map_or(ETERNITY, |v| now + v),
        true => ETERNITY,
    };
    let t = s.http.as_mut().unwrap();
    // Boxed: waits are rare and a Wait is 112 bytes, which every
    // transaction (also idle keep-alive ones) would carry inline.
    t.wait = Some(Box::new(Wait {
        head,
        step: at.0,
        rule: at.1,
        until,
    }));
    t.exp = until.min(idle);
    Ok(false)
}

/// A wait for a body timed out: 408 to the client for a request, 504
/// for a response, with the proxies' error messages (HAProxy's
/// `abort_req`/`abort_res`). `own`: the wait's own time ran out, not
/// the client's inactivity timeout.
fn wait_expired(s: &mut Stream, env: &mut Env, res: bool, own: bool) {
    if let Some(t) = s.http.as_mut() {
        t.wait = None;
    }
    if res {
        s.term = Term { who: b's', when: b'D' };
        reply(s, env, 504, false);
    } else {
        inc(&env.rt.proxies[s.fe].fe_counters.failed_req);
        s.term = Term {
            who: b'c',
            when: if own { b'D' } else { b'R' },
        };
        reply(s, env, 408, false);
    }
}

/// Parses a new request head and does what is done once per request
/// (counting, captures, monitor-uri). Ok(Err(progress)) when the analysis
/// stops here.
fn request_head_new(
    s: &mut Stream,
    env: &mut Env,
    buf: &mut crate::buffer::Buf,
) -> Result<Result<http::RequestHead, bool>, End> {
    let fe_i = s.fe;
    let opts = parse_opts(env, &env.rt.proxies[fe_i], false);
    let mut t = s.http.take().unwrap();
    if t.head_start == ETERNITY {
        t.head_start = env.now();
        t.exp = head_deadline(env, fe_i, t.head_start);
    }
    if let Some(l) = s.logs.as_deref_mut() {
        l.pending = true;
        if l.t_idle < 0 {
            l.t_idle = s.tm.since(env.now());
        }
    }
    hdrs_take(&mut t);
    let parsed = http::parse_request(buf.data(), &mut t.hdrs, &opts);
    let head = match parsed {
        Ok(http::Status::Incomplete) => {
            s.http = Some(t);
            if s.cli.err {
                inc(&env.rt.proxies[fe_i].fe_counters.failed_req);
                s.term = Term { who: b'C', when: b'R' };
                return Err(End);
            }
            if s.cli.shut_r {
                // Half a head then a FIN: HAProxy answers 400.
                inc(&env.rt.proxies[fe_i].fe_counters.failed_req);
                s.term = Term { who: b'C', when: b'R' };
                count_request(s, env);
                s.stk.on_status(400);
                reply(s, env, 400, true);
                return Ok(Err(true));
            }
            return Ok(Err(false));
        }
        Err(e) => {
            s.http = Some(t);
            inc(&env.rt.proxies[fe_i].fe_counters.failed_req);
            s.term = Term { who: b'P', when: b'R' };
            count_request(s, env);
            s.stk.on_status(400);
            reply(s, env, e.status, true);
            return Ok(Err(true));
        }
        Ok(http::Status::Complete(h)) => h,
    };
    let mut head = head;
    http::normalize_target(buf.data_mut(), &mut head, &mut t.hdrs);
    s.req_count += 1;
    s.last_rule = None;
    if let Some(a) = s.conn_addrs.take() {
        // The previous transaction's set-src/set-dst end with it.
        [s.src, s.dst] = *a;
    }
    t.meth = head.meth;
    t.req_ver11 = head.flags.has(Flags::VER_11);
    t.local = false;
    t.status = 0;
    t.exp = ETERNITY;
    let data = buf.data();
    let lay = &env.rt.proxies[fe_i].caps;
    if !lay.is_empty() {
        // A new transaction: the previous one's captures are forgotten.
        let c = t.caps.get_or_insert_with(|| Captures::take(lay));
        c.clear();
        c.headers(lay, false, t.hdrs.iter().map(|h| (h.name.get(data), h.value.get(data))));
    }
    s.http = Some(t);
    count_request(s, env);
    let fe_log = &env.rt.proxies[fe_i].log;
    s.tm.t_request = s.tm.since(env.now());
    if let Some(l) = s.logs.as_deref_mut() {
        l.head_parsed = true;
        if fe_log.wants_uri() {
            l.capture_uri(head.method.get(data), head.uri.get(data), head.version.get(data));
        }
        if fe_log.wants_counter() {
            l.uniq_id = crate::log::next_req_id();
        }
    }
    if fe_log.uid_fmt.is_some() {
        unique_id(s, env, data, &head);
    }
    if fe_log.fmt.is_none() && !fe_log.targets.is_empty() {
        crate::log::connect_from(s, &env.rt.proxies[fe_i], 0);
    }

    // PRI belongs to the HTTP/2 preface: HAProxy's analyser refuses it as
    // a request. (HAProxy switches a connection opening with the whole
    // preface to its H2 mux; without HTTP/2 we answer as it does with
    // `option disable-h2-upgrade`: this 400, nothing sent to a server.)
    if head.method.get(data).eq_ignore_ascii_case(b"PRI") {
        inc(&env.rt.proxies[fe_i].fe_counters.failed_req);
        s.term = Term { who: b'P', when: b'R' };
        reply(s, env, 400, false);
        return Ok(Err(true));
    }

    // monitor-uri answers here, before any backend.
    let fe = &env.rt.proxies[fe_i];
    if let Some(mu) = &fe.cfg.monitor_uri {
        // A monitor-uri starting with '/' is compared with the path (and
        // query) of the request, also when it came in absolute form;
        // otherwise with the whole URI, as HAProxy does.
        let uri = head.uri.get(data);
        let cmp = if mu.starts_with('/') { uri_path(uri) } else { uri };
        if cmp == mu.as_bytes() {
            inc(&fe.fe_counters.intercepted);
            let f = head.flags;
            let ka = conn_mode(env, s) != HttpConnMode::Close
                && ((f.has(Flags::VER_11) && !f.has(Flags::CONN_CLOSE))
                    || (!f.has(Flags::VER_11) && f.has(Flags::CONN_KEEPALIVE)));
            let t = s.http.as_mut().unwrap();
            t.cli_keepalive = ka;
            let t = s.http.as_mut().unwrap();
            t.req = Msg1::Done;
            reply(s, env, 200, false);
            // Monitor requests are never logged.
            if let Some(l) = s.logs.as_deref_mut() {
                l.pending = false;
            }
            buf.consume(head.len);
            return Ok(Err(true));
        }
    }
    Ok(Ok(head))
}

/// The rest of a request head's analysis: backend, rules (from `resume`
/// when a `wait-for-body` paused them), then the head toward the server.
fn request_process(
    s: &mut Stream,
    env: &mut Env,
    buf: &mut crate::buffer::Buf,
    head: http::RequestHead,
    resume: Option<(u8, usize)>,
    prev: Option<Wait>,
) -> Result<bool, End> {
    let fe_i = s.fe;
    let fe = &env.rt.proxies[fe_i];
    if resume.is_none() {
        // A new transaction: the previous one's edits and txn variables
        // are forgotten.
        let t = s.http.as_mut().unwrap();
        if let Some(rs) = t.rs.as_mut() {
            rs.vars.new_txn();
            rs.edit.clear();
        }
        t.ck.reset();
        t.ck.meth_cacheable = matches!(head.meth, Method::Get | Method::Head | Method::Options | Method::Trace);
        t.ck.is_post = head.meth == Method::Post;
    }
    // HAProxy's order: the frontend's tcp-request content, http-request
    // and redirect rules, then the switching rules choose the backend,
    // then the backend's own rules (once for a listen). A pause resumes
    // in the part it stopped in: the backend is already known then.
    if let Some((STATS_STEP, _)) = resume {
        // A stats page POST waited for its body.
        let px = s.be.unwrap_or(fe_i);
        return stats_request(s, env, buf, &head, px, &prev).unwrap_or(Ok(true));
    }
    if s.be.is_none() {
        if fe.rules.has_req() {
            if let Some(r) = req_rules_part(s, env, buf, &head, false, resume, &prev) {
                return r;
            }
        }
        // The stats page takes its requests before any backend is chosen.
        if env.rt.proxies[fe_i].stats_page.is_some() {
            if let Some(r) = stats_request(s, env, buf, &head, fe_i, &prev) {
                return r;
            }
        }
        let data = buf.data();
        let fe = &env.rt.proxies[fe_i];
        let chosen = if fe.switching.trivial {
            fe.switching.first_static()
        } else {
            let bv = req_body_view(s, data, &head, buf.len()).unwrap_or_default();
            let sw = &fe.switching;
            with_req_cx(s, env, data, &head, bv, |cx| sw.select(&env.rt.cfg, cx))
        };
        let Some(be_i) = chosen.or(fe.default_backend) else {
            s.term = Term { who: b'P', when: b'R' };
            reply(s, env, 503, false);
            return Ok(true);
        };
        s.enter_backend(env, be_i);
    }
    let be_i = s.be.unwrap();
    if be_i != fe_i && env.rt.proxies[be_i].rules.has_req() {
        if let Some(r) = req_rules_part(s, env, buf, &head, true, resume, &prev) {
            return r;
        }
    }
    if be_i != fe_i && env.rt.proxies[be_i].stats_page.is_some() {
        if let Some(r) = stats_request(s, env, buf, &head, be_i, &prev) {
            return r;
        }
    }
    // HAProxy's order once the backend's rules are done: `use-server`
    // and the persistence rules, then the persistence cookie.
    if !env.rt.proxies[be_i].srv_rules.is_empty() {
        let data = buf.data();
        let bv = req_body_view(s, data, &head, buf.len()).unwrap_or_default();
        server_rules(s, env, data, &head, bv, be_i);
    }
    if env.rt.proxies[be_i].cookie.is_some() || env.rt.proxies[fe_i].caps.cookie.is_some() {
        cookie_request(s, env, buf, be_i);
    }
    // Then the stick rules (HAProxy's AN_REQ_STICKING_RULES).
    if !env.rt.proxies[be_i].rules.stick_req.is_empty() {
        let data = buf.data();
        let bv = req_body_view(s, data, &head, buf.len()).unwrap_or_default();
        stick_rules(s, env, data, &head, bv, be_i);
    }
    let data = buf.data();
    let mode = conn_mode(env, s);
    let f = head.flags;
    let cli_ka = mode != HttpConnMode::Close
        && !f.has(Flags::FORCE_CLOSE)
        && !f.has(Flags::CL_TE_BOTH)
        && ((f.has(Flags::VER_11) && !f.has(Flags::CONN_CLOSE))
            || (!f.has(Flags::VER_11) && f.has(Flags::CONN_KEEPALIVE)));
    let srv_conn = if mode == HttpConnMode::KeepAlive && !f.has(Flags::FORCE_CLOSE) {
        ConnMode::KeepAlive
    } else {
        ConnMode::Close
    };
    if let (Some(h), Some(l)) = (&env.rt.proxies[fe_i].log.uid_hdr, s.logs.as_deref()) {
        if l.has_uid {
            let t = s.http.as_mut().unwrap();
            let rs = t.rs.get_or_insert_with(rs_take);
            rs.edit.added.push(h, &l.uid);
        }
    }
    let be = &env.rt.proxies[be_i];
    let fe = &env.rt.proxies[fe_i];
    // X-Forwarded-For and X-Original-To (HAProxy's http_process_request
    // steps 9 and 10): on when the frontend or the backend asks, under the
    // backend's header name if it set one, skipped when the address is in
    // either proxy's `except` network.
    let (fo, bo) = (&fe.cfg.options, &be.cfg.options);
    let excepted = |ip: std::net::IpAddr, a: Option<&config::model::Net>, b: Option<&config::model::Net>| {
        a.is_some_and(|n| n.contains(ip)) || b.is_some_and(|n| n.contains(ip))
    };
    let mut ip_txt = [0u8; 64];
    let mut ip_len = 0;
    let ff = bo.forwardfor.as_ref().or(fo.forwardfor.as_ref());
    // `if-none` only when no proxy asks for the header unconditionally.
    let ff_always = [fo, bo]
        .iter()
        .any(|o| o.forwardfor.as_ref().is_some_and(|f| !f.if_none));
    if let (Some(_), Some(a)) = (ff, s.src) {
        let ip = match a.ip() {
            std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map(std::net::IpAddr::V4).unwrap_or(a.ip()),
            ip => ip,
        };
        let (fx, bx) = (fo.forwardfor.as_ref(), bo.forwardfor.as_ref());
        if !excepted(
            ip,
            fx.and_then(|f| f.except.as_ref()),
            bx.and_then(|f| f.except.as_ref()),
        ) {
            ip_len = fmt_ip(ip, &mut ip_txt);
        }
    }
    let mut ot_txt = [0u8; 64];
    let mut ot_len = 0;
    let ot = bo.originalto.as_ref().or(fo.originalto.as_ref());
    if ot.is_some() {
        s.ensure_dst();
    }
    if let (Some(_), Some(a)) = (ot, s.dst) {
        let (fx, bx) = (fo.originalto.as_ref(), bo.originalto.as_ref());
        if !excepted(
            a.ip(),
            fx.and_then(|f| f.except.as_ref()),
            bx.and_then(|f| f.except.as_ref()),
        ) {
            ot_len = fmt_ip(a.ip(), &mut ot_txt);
        }
    }
    let side = OutSide {
        added: &http::NO_ADDED,
        conn: srv_conn,
        req_ver11: f.has(Flags::VER_11),
        forward_for: ff.filter(|_| ip_len > 0).map(|_| http::ForwardFor {
            // The serializer lower-cases it as it writes.
            header: ff.map_or(&b""[..], |f| f.header.as_bytes()),
            value: &ip_txt[..ip_len],
            if_none: !ff_always,
        }),
        original_to: ot
            .filter(|_| ot_len > 0)
            .map(|o| (o.header.as_bytes(), &ot_txt[..ot_len])),
    };
    let t = s.http.as_mut().unwrap();
    t.hash = request_hash(data, head.uri.get(data), &t.hdrs, be);
    let ob = s.req.obuf.get_or_insert_with(|| env.pool.get());
    ob.clear();
    let written = emit_head(ob, &mut t.rs, |room, added| {
        http::write_request_head(data, &head, &t.hdrs, &OutSide { added, ..side }, room)
    });
    if let Some(rs) = t.rs.as_mut() {
        // The request's edits are applied; the response starts clean.
        rs.edit.clear();
    }
    match written {
        true => {}
        false => {
            ob.clear();
            inc(&env.rt.proxies[fe_i].fe_counters.failed_req);
            reply(s, env, 400, true);
            return Ok(true);
        }
    }
    let t = s.http.as_mut().unwrap();
    t.cli_keepalive = cli_ka;
    t.srv_keepalive = srv_conn == ConnMode::KeepAlive;
    buf.consume(head.len);
    s.req.read_limit = env.pool.size();
    t.req_chunked = head.body == BodyFraming::Chunked;
    t.req = match head.body {
        BodyFraming::None => Msg1::Done,
        BodyFraming::Tunnel => Msg1::Tunnel,
        fr => Msg1::Body(BodyDecoder::new(fr, false)),
    };
    if head.meth == Method::Connect {
        // The tunnel starts once the server accepts it (2xx).
        t.req = Msg1::Done;
    }
    t.req_upgrade = head.flags.has(Flags::CONN_UPGRADE) || head.flags.has(Flags::UPGRADE_HDR);
    t.req_mark = s.req.total;
    // The server is asked for once the buffered body has been looked at
    // (see `connect_when_ready`).
    t.pending_connect = true;
    Ok(true)
}

/// Connects (or reuses, or queues) for a parsed request once what is
/// buffered of its body allows it: a client that already left with an
/// incomplete body is dropped without bothering a server, and
/// `option http-buffer-request` waits for the whole body (or a full
/// buffer) under `timeout http-request`, as HAProxy does.
fn connect_when_ready(s: &mut Stream, env: &mut Env) -> Result<bool, End> {
    let room = s.req_room();
    let t = s.http.as_mut().unwrap();
    if !t.pending_connect {
        return Ok(false);
    }
    let body_pending = matches!(t.req, Msg1::Body(_));
    if body_pending && !s.cli.shut_r && s.cli.ready_r && room {
        // Drain what the socket holds (usually one EAGAIN) before asking
        // for a server: a client that already sent its FIN with a
        // truncated body is dropped without bothering a server.
        return Ok(false);
    }
    if body_pending && (s.cli.shut_r || s.cli.err) && s.req.fwd == s.req.in_len() {
        s.term = Term { who: b'C', when: b'R' };
        inc(&env.rt.proxies[s.fe].fe_counters.cli_aborts);
        return Err(End);
    }
    let fe = &env.rt.proxies[s.fe].cfg.options;
    let be = s.be.map(|b| &env.rt.proxies[b].cfg.options);
    let buffer_request = fe.http_buffer_request || be.is_some_and(|o| o.http_buffer_request);
    let full = s.req.in_len()
        >= env
            .pool
            .size()
            .saturating_sub(env.rt.cfg.global.tune_maxrewrite as usize);
    if buffer_request && body_pending && !full {
        if t.exp == ETERNITY {
            t.exp = head_deadline(env, s.fe, t.head_start);
        }
        return Ok(false);
    }
    t.pending_connect = false;
    t.exp = ETERNITY;
    if let Some(b) = t.l7_buf.take() {
        env.pool.put(b);
    }
    t.l7_armed =
        s.be.is_some_and(|b| env.rt.proxies[b].cfg.retry_on & !config::model::RE_CONN_FAILED != 0);
    s.tm.t_request = s.tm.since(env.now());
    if s.phase == SrvPhase::None || s.phase == SrvPhase::Done {
        s.phase = SrvPhase::None;
        let t = s.http.as_mut().unwrap();
        t.res = Msg1::Idle;
        if !s.assign_and_connect(env) {
            return Err(End);
        }
    }
    Ok(true)
}

/// The path (with query) of a request target: everything from the first
/// '/' after the authority for absolute-form targets, the target itself
/// otherwise.
pub fn uri_path(uri: &[u8]) -> &[u8] {
    if uri.first() == Some(&b'/') {
        return uri;
    }
    match uri.windows(3).position(|w| w == b"://") {
        Some(i) => {
            let rest = &uri[i + 3..];
            rest.iter()
                .position(|&c| c == b'/')
                .map_or(&rest[rest.len()..], |p| &rest[p..])
        }
        None => uri,
    }
}

/// The resume step of a stats page POST waiting for its body (beyond
/// the rules' steps).
const STATS_STEP: u8 = 100;

/// Moves what fits of a pending local body into the output buffer. True
/// on progress.
fn pump_pending(s: &mut Stream, env: &mut Env) -> bool {
    let t = s.http.as_mut().unwrap();
    let Some(p) = t.pending_out.as_mut() else { return false };
    if s.cli.shut_w || s.cli.err {
        // Nobody to send it to any more.
        t.pending_out = None;
        return true;
    }
    let ob = s.res.obuf(env.pool);
    let n = ob.free().min(p.data.len() - p.off);
    if n == 0 {
        return false;
    }
    ob.put(&p.data[p.off..p.off + n]);
    p.off += n;
    if p.off == p.data.len() {
        t.pending_out = None;
    }
    true
}

/// The stats page (HAProxy's `http_stats_check_uri` + `http_handle_stats`
/// and the applet's answer) for a request reaching proxy `px_i`: None when
/// the request is not for the page, else the request is answered here.
fn stats_request(
    s: &mut Stream,
    env: &mut Env,
    buf: &mut crate::buffer::Buf,
    head: &http::RequestHead,
    px_i: usize,
    prev: &Option<Wait>,
) -> Option<Result<bool, End>> {
    use crate::stats_page::{self as sp_mod, Access, Opts, St};
    let rt = env.rt;
    let sp = rt.proxies[px_i].stats_page.as_deref()?;
    let data = buf.data();
    let uri = head.uri.get(data);
    if !sp.matches(head.meth, uri) {
        return None;
    }
    let opts = Opts::parse(&sp.target(uri)[sp.uri.len()..], sp.refresh > 0);
    let resumed = prev.is_some_and(|w| w.step == STATS_STEP);
    let t = s.http.as_ref().unwrap();
    let authz: Option<Vec<u8>> = t
        .hdrs
        .iter()
        .find(|h| http::eq_ignore_case(h.name.get(data), b"authorization"))
        .map(|h| h.value.get(data).to_vec());
    let bv = req_body_view(s, data, head, buf.len()).unwrap_or_default();
    let (access, admin) = with_req_cx(s, env, data, head, bv, |cx| {
        (sp.access(cx, authz.as_deref()), sp.is_admin(cx))
    });
    let fe = &rt.proxies[s.fe];
    // HAProxy counts the interception when the frontend itself serves it.
    if !resumed && s.be.is_none() && !matches!(access, Access::Deny(_)) {
        inc(&fe.fe_counters.intercepted);
    }
    let f = head.flags;
    let cli_ka = client_keepalive(env, s, f) && !f.has(Flags::CL_TE_BOTH);
    match access {
        Access::Deny(code) => {
            inc(&fe.fe_counters.denied_req);
            if s.be.is_some() {
                inc(&rt.proxies[px_i].be_counters.denied_req);
            }
            let v = Verdict::Deny {
                reply: Box::new(Verdict::Error(code)),
                tarpit: None,
            };
            rules_reply(s, env, buf, head, cli_ka, v);
            return Some(Ok(true));
        }
        Access::Auth(realm) => {
            let bytes = unauthorized(rt, s, &realm);
            rules_reply(s, env, buf, head, cli_ka, Verdict::Reply(401, bytes));
            stats_bytes(s, env, px_i, head.len as u64, s.res.out_len() as u64);
            return Some(Ok(true));
        }
        Access::Allow => {}
    }
    let loc_of = |st: St| sp_mod::redirect_location(sp, &opts, st);
    if head.meth == Method::Post {
        let st = if !admin {
            St::Deny
        } else {
            let after = &buf.data()[head.len..];
            match scan_body(after, head.body, false, s.cli.shut_r) {
                Err(_) => St::Ival,
                Ok((_, _, true)) => {
                    let body = req_body_bytes(after, head.body);
                    match sp_mod::parse_form(rt, &body) {
                        Ok(form) => sp_mod::apply(env.cx, rt, &form),
                        Err(st) => st,
                    }
                }
                Ok(_) if buf.free() == 0 || buf.len() >= env.pool.size() - rt.cfg.global.tune_maxrewrite as usize => {
                    St::Excd
                }
                Ok(_) => {
                    // Wait for the rest of the form (HAProxy waits for the
                    // whole message before the applet reads it).
                    let data = buf.data();
                    let expects = req_body_view(s, data, head, buf.len()).is_ok_and(|b| b.expect_100);
                    let sent = expect_100(s, env, head, data, expects);
                    let time = rt.proxies[s.fe].cfg.timeouts.http_request.unwrap_or(0);
                    return Some(pause_req(s, env, *head, *prev, (STATS_STEP, 0), time).map(|p| p || sent));
                }
            }
        };
        let loc = loc_of(st);
        let bytes = format!(
            "HTTP/1.1 303 See Other\r\ncache-control: no-cache\r\ncontent-type: text/plain\r\ncontent-length: 0\r\nlocation: {loc}\r\n\r\n"
        );
        // A form left unread (denied, too large) closes the connection.
        rules_reply(s, env, buf, head, cli_ka, Verdict::Reply(303, bytes.into_bytes()));
        stats_bytes(s, env, px_i, head.len as u64, s.res.out_len() as u64);
        return Some(Ok(true));
    }
    let pc = sp_mod::PageCx {
        rt,
        listeners: env.listeners,
        px: px_i,
        nbthread: env.cx.nbthread(),
        now: env.now(),
        admin,
    };
    let body = sp_mod::body(sp, &opts, &pc);
    let mut h = String::with_capacity(160);
    h.push_str("HTTP/1.1 200 OK\r\ncache-control: no-cache\r\ncontent-type: ");
    h.push_str(sp_mod::content_type(opts.fmt));
    h.push_str("\r\n");
    if sp.refresh > 0 && !opts.norefresh {
        use std::fmt::Write as _;
        let _ = write!(h, "refresh: {}\r\n", sp.refresh);
    }
    send_local_page(s, env, buf, head, cli_ka, px_i, h, body);
    Some(Ok(true))
}

/// Answers 200 with `h` (the status line and headers, without the blank
/// line) and `body` in chunks, as HAProxy's applets do; the body drains
/// through the pending output when larger than a buffer.
#[allow(clippy::too_many_arguments)]
fn send_local_page(
    s: &mut Stream,
    env: &mut Env,
    buf: &mut crate::buffer::Buf,
    head: &http::RequestHead,
    cli_ka: bool,
    px_i: usize,
    mut h: String,
    body: String,
) {
    let f = head.flags;
    let is_head = head.meth == Method::Head;
    let ver11 = f.has(Flags::VER_11);
    if !is_head && ver11 {
        h.push_str("transfer-encoding: chunked\r\n");
    }
    h.push_str("\r\n");
    rules_reply(s, env, buf, head, cli_ka, Verdict::Reply(200, h.into_bytes()));
    if !is_head && !ver11 {
        // An HTTP/1.0 client gets the chunked framing too, announced
        // after the connection header as HAProxy's H1 layer does.
        if let Some(ob) = s.res.obuf.as_mut() {
            let mut v = ob.data().to_vec();
            if v.ends_with(b"\r\n\r\n") {
                v.truncate(v.len() - 2);
                v.extend_from_slice(b"transfer-encoding: chunked\r\n\r\n");
                ob.clear();
                ob.put(&v);
            }
        }
    }
    stats_bytes(s, env, px_i, head.len as u64, s.res.out_len() as u64);
    if !is_head && s.http.as_ref().is_some_and(|t| t.status == 200) {
        let mut data = Vec::with_capacity(body.len() + 16);
        if !body.is_empty() {
            data.extend_from_slice(format!("{:X}\r\n", body.len()).as_bytes());
            data.extend_from_slice(body.as_bytes());
            data.extend_from_slice(b"\r\n");
        }
        data.extend_from_slice(b"0\r\n\r\n");
        stats_bytes(s, env, px_i, 0, data.len() as u64);
        s.http.as_mut().unwrap().pending_out = Some(Box::new(PendingOut { data, off: 0 }));
    }
}

/// The Prometheus exporter (`http-request use-service
/// prometheus-exporter`) answering a request that reached proxy `px_i`.
fn promex_request(
    s: &mut Stream,
    env: &mut Env,
    buf: &mut crate::buffer::Buf,
    head: &http::RequestHead,
    px_i: usize,
    cli_ka: bool,
) {
    if s.be.is_none() {
        inc(&env.rt.proxies[s.fe].fe_counters.intercepted);
    }
    let uri = head.uri.get(buf.data());
    let Ok(scopes) = crate::promex::parse_query(uri) else {
        // HAProxy's raw 400, the connection closed.
        rules_reply(s, env, buf, head, false, Verdict::Builtin(400));
        return;
    };
    let body = crate::promex::render(env.rt, env.listeners, env.cx.nbthread(), env.now(), &scopes);
    let h = String::from("HTTP/1.1 200 OK\r\ncache-control: no-cache\r\ncontent-type: text/plain; version=0.0.4\r\n");
    send_local_page(s, env, buf, head, cli_ka, px_i, h, body);
}

/// Counts a stats page exchange's bytes as HAProxy does: the frontend
/// counted the request as it came; the response goes to the frontend, and
/// both to the backend side of the proxy serving the page (HAProxy's
/// stream keeps that proxy as its backend).
fn stats_bytes(s: &Stream, env: &Env, px_i: usize, bytes_in: u64, bytes_out: u64) {
    use crate::counters::add;
    let rt = env.rt;
    add(&rt.proxies[s.fe].fe_counters.bytes_out, bytes_out);
    if s.be.is_none() {
        let be = &rt.proxies[px_i].be_counters;
        add(&be.bytes_in, bytes_in);
        add(&be.bytes_out, bytes_out);
        if bytes_in > 0 {
            // Its last session is this one, as HAProxy reports it.
            be.last_sess_ms.store(env.now(), Relaxed);
        }
    } else {
        add(&rt.proxies[px_i].be_counters.bytes_out, bytes_out);
    }
}

/// The payload of a complete buffered request body (chunked framing
/// removed).
fn req_body_bytes(after: &[u8], fr: BodyFraming) -> Vec<u8> {
    match fr {
        BodyFraming::Length(n) => after[..(n as usize).min(after.len())].to_vec(),
        BodyFraming::Chunked => {
            let mut out = Vec::new();
            let mut dec = BodyDecoder::new(BodyFraming::Chunked, false);
            let mut at = 0;
            loop {
                let used = match dec.decode(&after[at..]) {
                    Ok(BodyEvent::Data(n)) => {
                        out.extend_from_slice(&after[at..at + n]);
                        n
                    }
                    Ok(BodyEvent::ChunkSize { len, .. }) => len,
                    Ok(BodyEvent::ChunkEnd(n) | BodyEvent::Trailers(n)) => n,
                    _ => break,
                };
                at += used;
            }
            out
        }
        _ => Vec::new(),
    }
}

/// The 401 of a stats page `auth` rule: the proxies' 401 message (or the
/// built-in one) with the realm's `WWW-Authenticate`, as the `auth`
/// action builds it.
fn unauthorized(rt: &crate::runtime::Runtime, s: &mut Stream, realm: &str) -> Vec<u8> {
    let base: Vec<u8> = match proxy_reply(rt, s, 401) {
        Some(Reply::Msg(_, m)) => m.bytes.to_vec(),
        Some(rep @ Reply::Gen { .. }) => render_detached(rt, s, rep),
        _ => {
            let mut tmp = [0u8; 1024];
            let n = http::builtin_error_htx(401, &mut tmp).unwrap_or(0);
            tmp[..n].to_vec()
        }
    };
    http_act::with_www_authenticate(&base, format!("Basic realm=\"{realm}\"").as_bytes())
}

fn count_request(s: &Stream, env: &Env) {
    let now = env.now();
    // The tracked counters see a new HTTP request (HAProxy's
    // `stream_inc_http_req_ctr`, before the rules track more).
    s.stk.inc_http_req();
    env.rt.proxies[s.fe].fe_counters.request(now);
    env.rt.cum_req.fetch_add(1, Relaxed);
}

/// Parses and forwards a response head. Ok(progress). The input buffer is
/// taken out meanwhile, as for requests.
fn response_head(s: &mut Stream, env: &mut Env) -> Result<bool, End> {
    let mut ibuf = s.res.ibuf.take().expect("response bytes");
    let r = response_head_in(s, env, &mut ibuf);
    if s.http.as_ref().is_some_and(|t| t.local) {
        // A local reply replaced the response: drop the server's bytes.
        ibuf.clear();
    }
    s.res.ibuf = Some(ibuf);
    r
}

fn response_head_in(s: &mut Stream, env: &mut Env, buf: &mut crate::buffer::Buf) -> Result<bool, End> {
    let be_i = s.be.expect("response without backend");
    let opts = parse_opts(env, &env.rt.proxies[be_i], true);
    let mut t = s.http.take().unwrap();
    // A response whose rules wait for its body goes on with the head it
    // kept (already checked, captured and counted).
    let paused = match t.wait.as_deref().copied() {
        Some(
            w @ Wait {
                head: Paused::Res(h), ..
            },
        ) => {
            t.wait = None;
            Some((w, h))
        }
        _ => None,
    };
    hdrs_take(&mut t);
    let parsed = match paused {
        Some((_, h)) => Ok(http::Status::Complete(h)),
        None => http::parse_response(buf.data(), &mut t.hdrs, &opts, t.meth),
    };
    let head = match parsed {
        Ok(http::Status::Incomplete) => {
            s.http = Some(t);
            if s.sv.shut_r || s.sv.err {
                let b = &env.rt.proxies[be_i];
                inc(&b.be_counters.failed_resp);
                if let Some(sv) = s.srv {
                    inc(&b.servers[sv].counters.failed_resp);
                }
                // A truncated head is a bad response to HAProxy.
                if l7_retry(s, env, config::model::RE_JUNK_REQUEST) {
                    buf.clear();
                    return Ok(true);
                }
                s.term = Term { who: b'S', when: b'H' };
                reply(s, env, 502, false);
                return Ok(true);
            }
            return Ok(false);
        }
        Err(_) => {
            s.http = Some(t);
            let b = &env.rt.proxies[be_i];
            inc(&b.be_counters.failed_resp);
            if let Some(sv) = s.srv {
                inc(&b.servers[sv].counters.failed_resp);
            }
            if l7_retry(s, env, config::model::RE_JUNK_REQUEST) {
                buf.clear();
                return Ok(true);
            }
            s.term = Term { who: b'P', when: b'H' };
            reply(s, env, 502, false);
            return Ok(true);
        }
        Ok(http::Status::Complete(h)) => h,
    };
    if head.status == 101 && !t.req_upgrade && paused.is_none() {
        // Nobody asked to switch protocols.
        s.http = Some(t);
        let b = &env.rt.proxies[be_i];
        inc(&b.be_counters.failed_resp);
        s.term = Term { who: b'P', when: b'H' };
        reply(s, env, 502, false);
        return Ok(true);
    }
    if !head.is_interim() && t.l7_armed && paused.is_none() {
        if let Some((_, bit)) = config::model::RE_STATUS.iter().find(|(c, _)| *c == head.status) {
            s.http = Some(t);
            if l7_retry(s, env, *bit) {
                buf.clear();
                return Ok(true);
            }
            t = s.http.take().unwrap();
        }
    }
    let data = buf.data();
    let f = head.flags;
    let interim = head.is_interim();
    let upgrade = head.status == 101 || (t.meth == Method::Connect && (200..300).contains(&head.status));
    let close_delimited = head.body == BodyFraming::UntilClose;
    if let Some(c) = t.caps.as_mut().filter(|_| !interim && paused.is_none()) {
        let lay = &env.rt.proxies[s.fe].caps;
        c.headers(lay, true, t.hdrs.iter().map(|h| (h.name.get(data), h.value.get(data))));
    }
    if !interim && paused.is_none() {
        s.tm.t_data = s.tm.since(env.now());
        t.status = head.status;
        let srv_ka = t.srv_keepalive
            && !f.has(Flags::CONN_CLOSE)
            && !f.has(Flags::FORCE_CLOSE)
            && (f.has(Flags::VER_11) || f.has(Flags::CONN_KEEPALIVE))
            && !close_delimited
            && !upgrade;
        t.srv_keepalive = srv_ka;
        t.cli_keepalive = t.cli_keepalive && !close_delimited && !f.has(Flags::FORCE_CLOSE);
    }
    // http-response then http-after-response rules (rules engine hook):
    // the stream holds the transaction while they run.
    let be_rules = &env.rt.proxies[be_i].rules;
    let fe_rules = &env.rt.proxies[s.fe].rules;
    let has_res_rules = env.rt.proxies[be_i].cookie.is_some()
        || env.rt.proxies[s.fe].caps.cookie.is_some()
        || !be_rules.stick_res.is_empty()
        || !(be_rules.res.is_empty()
            && be_rules.after.is_empty()
            && be_rules.tcp_res.is_empty()
            && fe_rules.res.is_empty()
            && fe_rules.after.is_empty()
            && fe_rules.tcp_res.is_empty());
    if !interim && has_res_rules {
        s.http = Some(t);
        let bv = match res_body_view(s, data, &head, buf.len()) {
            Ok(v) => v,
            Err(code) => {
                inc(&env.rt.proxies[be_i].be_counters.failed_resp);
                s.term = Term { who: b'P', when: b'H' };
                reply(s, env, code, false);
                return Ok(true);
            }
        };
        let resume = paused.map(|(w, _)| (w.step, w.rule));
        let v = response_rules(s, env, data, &head, false, resume, bv);
        if let Verdict::Wait { step, rule, time } = v {
            return pause(s, env, Paused::Res(head), paused.map(|(w, _)| w), (step, rule), time);
        }
        if v == Verdict::RwFail {
            // HAProxy's return_int_err after a failed rewrite.
            count_internal(s, env, Some(be_i), s.srv);
            s.term = Term { who: b'P', when: b'H' };
            reply(s, env, 500, false);
            return Ok(true);
        }
        if v == Verdict::Reject {
            // tcp-response content reject: both sides closed, no reply.
            inc(&env.rt.proxies[be_i].be_counters.denied_resp);
            s.term = Term { who: b'P', when: b'H' };
            return Err(End);
        }
        if let Verdict::Deny { reply, .. } = v {
            let (fe, be) = (&env.rt.proxies[s.fe], &env.rt.proxies[be_i]);
            inc(&fe.fe_counters.denied_resp);
            inc(&be.be_counters.denied_resp);
            if let Some(sv) = s.srv {
                inc(&be.servers[sv].counters.denied_resp);
            }
            send_verdict(s, env, *reply);
            return Ok(true);
        }
        if v != Verdict::Continue {
            // `return` or `redirect`: a local response replaces the
            // server's (HAProxy's ACT_RET_ABRT, nothing counted), "LH".
            if s.term.who == 0 {
                s.term = Term { who: b'L', when: b'H' };
            }
            send_verdict(s, env, v);
            return Ok(true);
        }
        t = s.http.take().unwrap();
        if let Some(st) = t.rs.as_ref().and_then(|r| r.edit.status) {
            t.status = st;
        }
    }
    if !interim && !s.stick_store.is_empty() {
        store_server(s, env);
    }
    if !interim {
        // A server's 4xx counts as an error of the tracked counters, its
        // 5xx (but 501 and 505) as a failure.
        s.stk.on_status(head.status);
    }
    let side = OutSide {
        added: &http::NO_ADDED,
        conn: if t.cli_keepalive || upgrade {
            ConnMode::KeepAlive
        } else {
            ConnMode::Close
        },
        req_ver11: t.req_ver11,
        forward_for: None,
        original_to: None,
    };
    t.res_mark = s.res.total;
    let ob = s.res.obuf.get_or_insert_with(|| env.pool.get());
    let written = emit_head(ob, &mut t.rs, |room, added| {
        http::write_response_head(data, &head, &t.hdrs, &OutSide { added, ..side }, room)
    });
    match written {
        true => {}
        false => {
            s.http = Some(t);
            reply(s, env, 502, false);
            return Ok(true);
        }
    }
    let b = &env.rt.proxies[be_i];
    // The server counts every head it sent, interim ones included; the
    // frontend and backend count the transaction's final status (a 101
    // is one), as HAProxy does at the end of the transaction.
    if head.status >= 200 || head.status == 101 {
        env.rt.proxies[s.fe].fe_counters.response(head.status);
        b.be_counters.response(head.status);
        inc(&b.be_counters.cum_req);
    }
    if let Some(sv) = s.srv {
        b.servers[sv].counters.response(head.status);
        inc(&b.servers[sv].counters.cum_req);
    }
    buf.consume(head.len);
    // The head is out and its spans are gone with it: the index goes back
    // to the thread's free list now rather than at the end of the
    // transaction, so streams forwarding a body hold none and the free
    // list stays as small as the number of requests waiting for a
    // response head. The request's index served for the response: one
    // take and one give per transaction.
    hdrs_give(&mut t);
    s.res.read_limit = env.pool.size();
    if interim {
        t.res = Msg1::Head;
        s.res.read_limit = opts.max_head_len;
    } else if upgrade {
        t.res = Msg1::Tunnel;
        t.req = Msg1::Tunnel;
        t.srv_keepalive = false;
        t.cli_keepalive = false;
        s.req.fwd = s.req.in_len();
        // Tunnels use `timeout tunnel` when set.
        s.mode_tunnel();
    } else {
        t.res_chunked = head.body == BodyFraming::Chunked;
        t.res = match head.body {
            BodyFraming::None => Msg1::Done,
            BodyFraming::Tunnel => Msg1::Tunnel,
            fr => Msg1::Body(BodyDecoder::new(fr, true)),
        };
    }
    s.http = Some(t);
    if !interim && s.logs.as_ref().is_some_and(|l| l.pending) && env.rt.proxies[s.fe].log.logasap {
        crate::log::log_txn(s, env);
        if let Some(l) = s.logs.as_deref_mut() {
            l.pending = false;
        }
    }
    Ok(true)
}

/// Ends a transaction once the response is fully delivered: parks or
/// closes the server connection, then prepares for the next request or
/// closes the client.
fn end_txn(s: &mut Stream, env: &mut Env) -> Result<(), End> {
    if let Some(l) = s.logs.as_deref_mut().filter(|l| l.pending) {
        l.pending = false;
        if env.rt.proxies[s.fe].log.enabled() {
            crate::log::log_txn(s, env);
        }
    }
    s.update_time_stats(env);
    if s.stk.any() {
        // The transaction's tracked counters: its bytes, and the end of
        // what the content rules tracked for it.
        s.stk.sync_bytes(s.req.total, s.res.total);
        s.stk.stop_content();
    }
    let t = s.http.as_mut().unwrap();
    let reuse_ok = !t.local
        && t.srv_keepalive
        && t.req == Msg1::Done
        && s.sv.is_open()
        && !s.sv.shut_r
        && !s.sv.err
        && s.res.in_len() == 0
        && s.req.drained();
    let cli_ka = t.cli_keepalive && !s.cli.shut_r && !s.cli.err && t.req == Msg1::Done && !t.req_aborted;
    let (be, srv) = (s.be, s.srv);
    if let (Some(be_i), Some(srv_i)) = (be, srv) {
        let b = &env.rt.proxies[be_i];
        let sv = &b.servers[srv_i];
        let max_reuse = sv.cfg.max_reuse;
        let reused = t.conn_reused;
        let keep = reuse_ok && (max_reuse < 0 || reused < max_reuse as u32 + 1);
        let keep = keep && !(s.pp_noreuse && s.pp_out.is_some());
        // A TLS connection stays with its client (never in the shared idle
        // lists, which keep bare sockets).
        if keep && (b.cfg.http_reuse == HttpReuse::Never || s.pp_out.is_some() || s.sv_tls.is_some()) {
            if cli_ka {
                // Private: stays with this client for its next request.
                t.private = Some((be_i, srv_i));
                env.cx.stop_send(s.sv.fd);
            } else {
                close_clean_srv(s, env);
            }
        } else if keep && sv.may_park(env.cx.tid(), reused > 0) {
            let fd = s.sv.fd;
            reactor::fd::set_token(fd, token(K_IDLE, be_i as u32, srv_i as u32));
            env.cx.want_recv(fd);
            env.cx.stop_send(fd);
            sv.idle.push(
                env.cx.tid(),
                IdleConn {
                    fd,
                    reused,
                    since_ms: env.now(),
                    safe: reused > 0,
                },
            );
            crate::idle::parked(env.cx, be_i, srv_i, sv);
            s.sv = super::Side::none();
        } else if keep {
            close_clean_srv(s, env);
        } else if s.sv.is_open() {
            s.close_srv(env, false);
        }
        sv.counters.sess_end();
        if s.has_slot {
            s.has_slot = false;
            super::release_slot(env.cx, env.rt, be_i, srv_i);
        }
    } else if s.sv.is_open() {
        s.close_srv(env, false);
    }
    if let Some(be_i) = be {
        crate::backend::be_leave(&env.rt.proxies[be_i]);
    }
    s.be = None;
    s.srv = None;
    s.forced_srv = None;
    s.phase = SrvPhase::None;
    s.res.release_all(env.pool);
    if !s.sv.is_open() {
        s.sv = super::Side::none();
    }
    let t = s.http.as_mut().unwrap();
    if !cli_ka {
        // Close: if the whole request was read, a plain close cannot
        // destroy the response in flight; otherwise linger.
        if s.cli.is_open() && !s.cli.shut_w {
            s.cli.shutw(&mut s.cli_tls);
        }
        // An aborted request may still have body bytes on the way.
        if s.req.in_len() == 0 && (t.req == Msg1::Done || s.cli.shut_r) && !t.local && !t.req_aborted {
            return Err(End);
        }
        t.closing = true;
        let lt = env.rt.proxies[s.fe].cfg.timeouts.client.unwrap_or(1000).min(2000) as u64;
        t.exp = env.now() + lt;
        s.cli.exp = ETERNITY;
        return Ok(());
    }
    // Next request on this connection: an idle client holds no index.
    hdrs_give(t);
    if let Some(l) = s.logs.as_deref_mut() {
        l.next_txn(s.res.total);
    }
    s.tm = crate::log::TxnTimes::new(env.now());
    s.term = Term::default();
    t.req = Msg1::Head;
    t.res = Msg1::Idle;
    t.local = false;
    t.wait = None;
    t.sent_100 = false;
    t.tarpit = None;
    t.conn_reused = 0;
    t.head_start = ETERNITY;
    let ft = &env.rt.proxies[s.fe].cfg.timeouts;
    let ka = ft.http_keep_alive.or(ft.http_request).or(ft.client);
    t.exp = ka.map_or(ETERNITY, |v| env.now() + v as u64);
    let limit = (env
        .rt
        .cfg
        .global
        .tune_bufsize
        .saturating_sub(env.rt.cfg.global.tune_maxrewrite)) as usize;
    s.req.read_limit = limit;
    s.res.read_limit = limit;
    if s.req.in_len() > 0 {
        // A pipelined request is already here: its head timer starts now.
        t.head_start = env.now();
        t.exp = head_deadline(env, s.fe, t.head_start);
    }
    Ok(())
}

/// Closes a reusable server connection that is not kept (idle pool full
/// or above the recent need, client leaving under `http-reuse never`) the
/// way HAProxy does: with a reset (SO_LINGER 0). The connection is idle
/// and in a clean state, so nothing is lost, and neither side keeps a
/// FIN_WAIT/TIME_WAIT socket for it: in close mode (one request per client
/// connection) that is one per request.
/// The Host header of the request about to be sent (rewritten head in
/// the output buffer, else the head forwarded from the input buffer), for
/// `server ... sni req.hdr(host)`.
pub fn outgoing_host(s: &Stream) -> Option<&[u8]> {
    let head = match s.req.obuf.as_ref().filter(|b| !b.is_empty()) {
        Some(b) => b.data(),
        None => &s.req.ibuf.as_ref()?.data()[..s.req.fwd.min(s.req.in_len())],
    };
    let end = head.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(head.len());
    head[..end].split(|&c| c == b'\n').skip(1).find_map(|l| {
        let l = l.strip_suffix(b"\r").unwrap_or(l);
        let colon = l.iter().position(|&c| c == b':')?;
        l[..colon]
            .eq_ignore_ascii_case(b"host")
            .then(|| l[colon + 1..].trim_ascii())
    })
}

fn close_clean_srv(s: &mut Stream, env: &mut Env) {
    if s.sv.is_open() {
        crate::sock::set_nolinger(s.sv.fd);
    }
    s.close_srv(env, false);
}

/// Keeps each side's inactivity timer armed only while the stream waits
/// on that side, so a timeout cannot fire on a side with nothing to do.
fn arm_side_timers(s: &mut Stream, env: &Env) {
    let t = s.http.as_ref().unwrap();
    if t.closing {
        return;
    }
    let now = env.now();
    let waiting_cli = match t.req {
        Msg1::Head => false, // covered by the head deadline
        Msg1::Body(_) | Msg1::Tunnel => true,
        _ => false,
    } || s.res.has_output();
    if !waiting_cli {
        s.cli.exp = ETERNITY;
    } else if s.cli.exp == ETERNITY {
        s.cli.exp = s.timeout_client(env.rt).map_or(ETERNITY, |v| now + v);
    }
    if t.req == Msg1::Head {
        // Keep-alive wait or head in progress: only the head deadline.
        s.cli.exp = ETERNITY;
    }
    if s.sv.is_open() && !s.sv.connecting {
        let waiting_srv = matches!(t.res, Msg1::Head | Msg1::Body(_) | Msg1::Tunnel) || s.req.has_output();
        if !waiting_srv {
            s.sv.exp = ETERNITY;
        } else if s.sv.exp == ETERNITY {
            s.sv.exp = s.timeout_server(env.rt).map_or(ETERNITY, |v| now + v);
        }
    }
}

pub fn finished(s: &mut Stream, _env: &mut Env) -> bool {
    !s.cli.is_open()
}

pub fn on_timer(s: &mut Stream, env: &mut Env) -> bool {
    let now = env.now();
    let Some(t) = s.http.as_ref() else {
        // An idle keep-alive client closes silently at its deadline.
        return s.req_count > 0 && now < s.cli.exp;
    };
    if t.closing {
        return now < t.exp;
    }
    if t.tarpit.is_some() && now >= t.exp {
        let v = s.http.as_mut().unwrap().tarpit.take().unwrap();
        send_verdict(s, env, *v);
        return true;
    }
    if let Some(w) = t.wait.as_deref().copied().filter(|_| now >= t.exp) {
        wait_expired(s, env, matches!(w.head, Paused::Res(_)), now >= w.until);
        return true;
    }
    if t.pending_connect && now >= t.exp {
        s.term = Term { who: b'c', when: b'R' };
        // The body wait of the frontend timed out before any backend.
        if let Some(l) = s.logs.as_deref_mut() {
            l.no_be = true;
        }
        inc(&env.rt.proxies[s.fe].fe_counters.failed_req);
        reply(s, env, 408, false);
        return true;
    }
    if t.req == Msg1::Head && s.phase == SrvPhase::None && now >= t.exp {
        let probe = s.req.in_len() == 0 && env.rt.proxies[s.fe].cfg.options.http_ignore_probes;
        if s.req.in_len() > 0 || (s.req_count == 0 && !probe) {
            // 408, in the H1 layer's form, then close.
            s.term = Term { who: b'c', when: b'R' };
            inc(&env.rt.proxies[s.fe].fe_counters.failed_req);
            reply(s, env, 408, true);
            return true;
        }
        // Idle keep-alive connection: close silently.
        return false;
    }
    if s.sv.connecting && now >= s.sv.exp {
        return s.connect_failed(env, true);
    }
    if s.sv.is_open() && now >= s.sv.exp {
        let t = s.http.as_ref().unwrap();
        if t.res == Msg1::Head {
            if s.res.in_len() == 0 && l7_retry(s, env, config::model::RE_TIMEOUT) {
                return true;
            }
            s.term = Term { who: b's', when: b'H' };
            if let Some(be) = s.be {
                let b = &env.rt.proxies[be];
                inc(&b.be_counters.failed_resp);
                if let Some(sv) = s.srv {
                    inc(&b.servers[sv].counters.failed_resp);
                }
            }
            reply(s, env, 504, false);
            return true;
        }
        s.term = Term { who: b's', when: b'D' };
        if let Some(be) = s.be {
            inc(&env.rt.proxies[be].be_counters.srv_aborts);
        }
        return false;
    }
    if s.cli.is_open() && now >= s.cli.exp && body_timeout(s) {
        return true;
    }
    if s.cli.is_open() && now >= s.cli.exp {
        s.term = Term { who: b'c', when: b'D' };
        inc(&env.rt.proxies[s.fe].fe_counters.cli_aborts);
        return false;
    }
    true
}

/// `timeout client` while a request body is on its way to a server that
/// owes us a response: HAProxy's body forwarding stops in error without a
/// reply and without a termination flag, the client is no longer read,
/// and the server keeps its own timeout: its response (or the 504 of
/// `timeout server`) still reaches the client. HAProxy 2.6 then leaves
/// the client connection open with no timer at all (the stream never
/// ends); we close it once the response is out.
fn body_timeout(s: &mut Stream) -> bool {
    let t = s.http.as_mut().unwrap();
    let asked = matches!(
        s.phase,
        SrvPhase::Queued | SrvPhase::Connecting | SrvPhase::Retry | SrvPhase::Connected
    );
    if !matches!(t.req, Msg1::Body(_)) || t.local || !asked || s.res.has_output() {
        return false;
    }
    t.req = Msg1::Done;
    t.req_aborted = true;
    t.srv_keepalive = false;
    s.cli.exp = ETERNITY;
    true
}

/// Generates the stream's unique id from the frontend's
/// `unique-id-format`, over the request head just parsed.
fn unique_id(s: &mut Stream, env: &Env, data: &[u8], head: &http::RequestHead) {
    let rt = env.rt;
    let Some(fmt) = &rt.proxies[s.fe].log.uid_fmt else {
        return;
    };
    let Some(mut lg) = s.logs.take() else {
        return;
    };
    let lg_ref = &mut *lg;
    let mut uid = std::mem::take(&mut lg_ref.uid);
    s.ensure_dst();
    let fe = &rt.proxies[s.fe];
    let be = s.be.map(|b| &rt.proxies[b]);
    let now = env.now();
    let tls = s.cli_tls.as_deref();
    let li = crate::logfmt::LogInfo {
        fe_ssl: tls.is_some(),
        ssl_ver: tls.and_then(|t| t.protocol()),
        ssl_cipher: tls.and_then(|t| t.cipher()),
        fe_name: &fe.name,
        be_name: be.map_or(fe.name.as_str(), |b| b.name.as_str()),
        srv_name: "<NOSRV>",
        src: s.src,
        dst: s.dst,
        accept_us: crate::log::wall_of(s.tm.start, now),
        t_idle: lg_ref.t_idle,
        t_request: s.tm.t_request,
        t_queue: -1,
        t_connect: -1,
        t_data: -1,
        t_close: s.tm.since(now),
        status: -1,
        bytes_in: lg_ref.bytes_in,
        final_bytes: true,
        be_http: true,
        actconn: rt.curr_conns.load(Relaxed) as u64,
        feconn: fe.feconn.load(Relaxed) as u64,
        uri: lg_ref.has_uri.then_some(&lg_ref.uri[..]),
        uniq_id: lg_ref.uniq_id,
        log_count: fe.log.count.load(Relaxed),
        pid: rt.pid,
        hostname: crate::log::hostname(),
        ..Default::default()
    };
    let mut inf = info(rt, s, s.req_count == 1);
    inf.tls = s.cli_tls.as_deref();
    inf.pp = s.pp.as_deref();
    inf.stk = Some(&s.stk);
    let t: &mut Txn = s.http.as_mut().unwrap();
    let mut no_vars = Vars::default();
    let vars = match t.rs.as_mut() {
        Some(rs) => &mut rs.vars,
        None => &mut no_vars,
    };
    let mut edit = crate::sample::Edit::default();
    let mut cx = Ctx {
        dir: Dir::Req,
        buf: data,
        hdrs: &mut t.hdrs,
        line: Line::Req {
            method: head.method,
            uri: head.uri,
            version: head.version,
        },
        edit: &mut edit,
        vars,
        req_meth: b"",
        req_uri: b"",
        info: inf,
        caps: None,
        body: Default::default(),
    };
    crate::log::render_uid(
        fmt,
        &li,
        &mut |e, out| match e.eval(&mut cx) {
            Some(v) => {
                v.write_to(out);
                true
            }
            None => false,
        },
        &mut uid,
    );
    lg_ref.uid = uid;
    lg_ref.has_uid = true;
    s.logs = Some(lg);
}

/// The transaction's variables and captures, for samples evaluated in
/// log lines.
pub fn log_state(t: &mut Option<Box<Txn>>) -> (Option<&mut Vars>, Option<&mut Captures>) {
    match t.as_deref_mut() {
        Some(Txn { rs, caps, .. }) => (rs.as_mut().map(|r| &mut r.vars), caps.as_mut()),
        None => (None, None),
    }
}

impl Stream {
    /// The status of the current HTTP transaction (0 when none yet).
    pub fn http_status(&self) -> u16 {
        self.http.as_ref().map_or(0, |t| t.status)
    }
}

pub fn release(s: &mut Stream, env: &mut Env) {
    if let Some(t) = s.http.as_mut() {
        hdrs_give(t);
        t.private = None;
        if let Some(b) = t.l7_buf.take() {
            env.pool.put(b);
        }
        if let Some(c) = t.caps.take() {
            Captures::give(c);
        }
    }
}

/// Before the first bytes of a request leave for the server: keeps a
/// copy for L7 retries if the whole request is here, else gives up on L7
/// retries for it (HAProxy copies the output at the first send, and only
/// for a complete request).
pub fn before_send_srv(s: &mut Stream, env: &mut Env) {
    let Some(t) = s.http.as_mut() else { return };
    if !t.l7_armed || t.l7_buf.is_some() {
        return;
    }
    if t.req != Msg1::Done {
        t.l7_armed = false;
        return;
    }
    let mut b = env.pool.get();
    let out = s.req.obuf.as_ref().map_or(&[][..], |o| o.data());
    let body = s
        .req
        .ibuf
        .as_ref()
        .map_or(&[][..], |i| &i.data()[..s.req.fwd.min(i.len())]);
    if b.free() >= out.len() + body.len() {
        b.put(out);
        b.put(body);
        t.l7_buf = Some(b);
    } else {
        env.pool.put(b);
        t.l7_armed = false;
    }
}

/// An L7 retry (HAProxy's `do_l7_retry()`) if `retry-on` has `cond`, the
/// request was kept and retries are left: the server connection is
/// dropped, the request is put back as first sent, and the stream
/// reconnects to the same server or, per `option redispatch`, another
/// one. True when retrying (the caller stops handling the response).
fn l7_retry(s: &mut Stream, env: &mut Env, cond: u32) -> bool {
    let Some(be_i) = s.be else { return false };
    let be = &env.rt.proxies[be_i];
    let t = s.http.as_mut().unwrap();
    if !t.l7_armed || t.l7_buf.is_none() || be.cfg.retry_on & cond == 0 || s.retries_left == 0 || t.local {
        return false;
    }
    s.retries_left -= 1;
    if let Some(sv) = s.srv {
        inc(&be.servers[sv].counters.retries);
    }
    inc(&be.be_counters.retries);
    s.close_srv(env, false);
    let t = s.http.as_mut().unwrap();
    t.res = Msg1::Idle;
    t.status = 0;
    // Put the request back as it first left.
    if let Some(ib) = s.req.ibuf.as_mut() {
        ib.consume(s.req.fwd.min(ib.len()));
    }
    s.req.fwd = 0;
    let saved = t.l7_buf.as_ref().unwrap();
    let ob = s.req.obuf.get_or_insert_with(|| env.pool.get());
    ob.clear();
    ob.put(saved.data());
    t.req_mark = s.req.total;
    t.res_mark = s.res.total;
    s.phase = SrvPhase::None;
    s.choose_redispatch(env);
    let ok = if s.srv.is_none() {
        s.assign_and_connect(env)
    } else {
        s.retry_now(env)
    };
    if !ok {
        // TCP-only failure path; HTTP callers answer errors themselves.
        s.term = Term { who: b'S', when: b'C' };
    }
    true
}

/// An event on a parked idle server connection: the server closed it or
/// sent something unexpected. Drop it unless another thread took it.
pub fn idle_event(w: &mut Worker, cx: &mut Cx<'_, Msg>, fd: RawFd, tok: u64) {
    let (_, be, srv) = crate::worker::untoken(tok);
    let Some(px) = w.rt.proxies.get(be as usize) else {
        return;
    };
    let Some(sv) = px.servers.get(srv as usize) else { return };
    if sv.idle.remove(cx.tid(), fd).is_some() {
        cx.fd_delete(fd);
    }
}

/// Whether `ip` belongs to `net` ("a.b.c.d/len" or an address).
/// Formats an address into `buf` (no allocation); returns the length.
fn fmt_ip(ip: std::net::IpAddr, buf: &mut [u8; 64]) -> usize {
    use std::io::Write;
    let mut w = &mut buf[..];
    let _ = write!(w, "{ip}");
    64 - w.len()
}

#[cfg(test)]
mod tests {
    #[test]
    fn paths_of_targets() {
        use super::uri_path;
        assert_eq!(uri_path(b"/a?b"), b"/a?b");
        assert_eq!(uri_path(b"http://h.org/health"), b"/health");
        assert_eq!(uri_path(b"http://h.org"), b"");
        assert_eq!(uri_path(b"*"), b"*");
    }

    #[test]
    fn buffered_bodies_behind_a_head() {
        use super::scan_body;
        use http::BodyFraming as F;
        assert_eq!(scan_body(b"abc", F::Length(5), false, false), Ok((3, 3, false)));
        assert_eq!(scan_body(b"abcdeGET", F::Length(5), false, false), Ok((5, 5, true)));
        assert_eq!(
            scan_body(b"2\r\nab\r\n1\r\n", F::Chunked, false, false),
            Ok((10, 2, false))
        );
        assert_eq!(
            scan_body(b"2\r\nab\r\n0\r\n\r\nGET", F::Chunked, false, false),
            Ok((12, 2, true))
        );
        assert_eq!(scan_body(b"zz\r\n", F::Chunked, false, false), Err(400));
        assert_eq!(scan_body(b"abc", F::UntilClose, true, true), Ok((3, 3, true)));
        assert_eq!(scan_body(b"", F::None, false, false), Ok((0, 0, true)));
    }
}
