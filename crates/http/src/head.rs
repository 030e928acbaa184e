//! HTTP/1 message head parsing (request line / status line + header block)
//! with HAProxy 2.6's acceptance rules.
//!
//! Owns: the byte-level grammar, the per-header semantic checks
//! (Content-Length, Transfer-Encoding, Connection, Upgrade, Host) and the
//! post-parse checks HAProxy's H1 mux applies before a message is accepted
//! (version format, HTTP/0.9, authority, websocket key, unsupported codings).
//! It never allocates: headers are spans into the caller's buffer, stored in
//! the caller's reusable `Vec`. It must not touch I/O, body bytes, or decide
//! connection policy (that is the proxy's); it only reports flags.
//!
//! State machine notes are in `LIFECYCLE.md` next to this file.

use crate::chars::{eq_ignore_case, is_crlf, is_lws, is_spht, is_token, is_ver, list_items};

/// A byte range of the caller's buffer. `u32` keeps [`Header`] at 20 bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Span {
    pub off: u32,
    pub len: u32,
}

impl Span {
    #[inline]
    fn new(start: usize, end: usize) -> Span {
        Span {
            off: start as u32,
            len: (end - start) as u32,
        }
    }
    /// The bytes this span designates in `buf` (the buffer that was parsed).
    #[inline]
    pub fn get<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        &buf[self.off as usize..(self.off + self.len) as usize]
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    pub fn end(&self) -> usize {
        (self.off + self.len) as usize
    }
}

/// Headers the codec itself interprets; computed once so later stages do
/// not compare names again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderKind {
    Other,
    Host,
    ContentLength,
    TransferEncoding,
    Connection,
    Upgrade,
    Expect,
    SecWebSocketKey,
    SecWebSocketAccept,
}

/// One header field. `folded` means the value spans obs-fold line breaks:
/// its CR and LF bytes must be read as spaces (HAProxy rewrites them so).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub name: Span,
    pub value: Span,
    pub kind: HeaderKind,
    pub folded: bool,
}

/// Parser settings, one per proxy side.
#[derive(Clone, Copy, Debug)]
pub struct ParseOptions {
    /// `option accept-invalid-http-request` / `-response`.
    pub accept_invalid: bool,
    /// `tune.http.maxhdr`: header slots, including the end-of-headers marker
    /// HAProxy counts, so 101 allows 100 header lines.
    pub max_headers: usize,
    /// Largest head the input buffer can hold (`tune.bufsize` minus
    /// `tune.maxrewrite`); an incomplete head at least this long is an error.
    pub max_head_len: usize,
    /// Global `h1-accept-payload-with-any-method`.
    pub accept_payload_with_any_method: bool,
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions {
            accept_invalid: false,
            max_headers: 101,
            max_head_len: 16384 - 1024,
            accept_payload_with_any_method: false,
        }
    }
}

/// Methods HAProxy distinguishes (`find_http_meth`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Options,
    Get,
    Head,
    Post,
    Put,
    Delete,
    Trace,
    Connect,
    Other,
}

impl Method {
    pub fn from_bytes(m: &[u8]) -> Method {
        match m {
            b"GET" => Method::Get,
            b"HEAD" => Method::Head,
            b"POST" => Method::Post,
            b"PUT" => Method::Put,
            b"DELETE" => Method::Delete,
            b"OPTIONS" => Method::Options,
            b"TRACE" => Method::Trace,
            b"CONNECT" => Method::Connect,
            _ => Method::Other,
        }
    }
}

/// How the message body is delimited, as decided after the head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyFraming {
    /// No body bytes follow the head.
    None,
    /// Exactly this many bytes (never 0: that is `None`).
    Length(u64),
    Chunked,
    /// Responses only: the body ends when the server closes.
    UntilClose,
    /// Responses only (101, 2xx to CONNECT): after the head, raw bytes in
    /// both directions until either side closes.
    Tunnel,
}

/// Message flags (a small bit set, HAProxy's `H1_MF_*` subset that matters
/// to forwarding).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flags(pub u32);

impl Flags {
    pub const VER_11: u32 = 1 << 0;
    pub const CONN_CLOSE: u32 = 1 << 1;
    pub const CONN_KEEPALIVE: u32 = 1 << 2;
    pub const CONN_UPGRADE: u32 = 1 << 3;
    pub const UPGRADE_WEBSOCKET: u32 = 1 << 4;
    pub const XFER_ENC: u32 = 1 << 5;
    pub const CHUNKED: u32 = 1 << 6;
    pub const CLEN: u32 = 1 << 7;
    /// Both Content-Length and Transfer-Encoding were present: the CL
    /// headers were dropped and the connection must close after this
    /// transaction.
    pub const FORCE_CLOSE: u32 = 1 << 8;
    pub const EXPECT_100: u32 = 1 << 9;
    pub const HAS_AUTHORITY: u32 = 1 << 10;
    pub const HAS_SCHEME: u32 = 1 << 11;
    /// Request was HTTP/0.9 and is handled as HTTP/1.0 (only with
    /// accept-invalid-http-request).
    pub const HTTP09: u32 = 1 << 12;
    pub const UPGRADE_HDR: u32 = 1 << 13;
    /// CONNECT whose Host carried a default port: forward Host without it.
    pub const HOST_STRIP_PORT: u32 = 1 << 14;
    const TE_OTHER: u32 = 1 << 15;
    /// A `chunked` coding was seen at all (twice is an error).
    const TE_CHUNKED_SEEN: u32 = 1 << 16;
    /// Content-Length and Transfer-Encoding were both present: the CL
    /// headers were dropped. HAProxy 2.6 then closes the client connection
    /// after a request, without telling the server.
    pub const CL_TE_BOTH: u32 = 1 << 17;

    #[inline]
    pub fn has(self, f: u32) -> bool {
        self.0 & f != 0
    }
    #[inline]
    fn set(&mut self, f: u32) {
        self.0 |= f;
    }
    #[inline]
    fn clear(&mut self, f: u32) {
        self.0 &= !f;
    }
}

/// A parsed request head. All spans index the buffer that was parsed.
#[derive(Clone, Copy, Debug)]
pub struct RequestHead {
    /// Bytes of the head including leading empty lines and the final CRLF:
    /// the body starts at this offset.
    pub len: usize,
    pub method: Span,
    pub meth: Method,
    pub uri: Span,
    /// Empty for HTTP/0.9 (then `Flags::HTTP09` is set).
    pub version: Span,
    pub flags: Flags,
    pub body: BodyFraming,
    /// Index in the header list of the (first) Host header.
    pub host: Option<usize>,
    /// First tolerated protocol violation (accept-invalid mode), for
    /// `show errors`.
    pub warn_pos: Option<usize>,
}

/// A parsed response head.
#[derive(Clone, Copy, Debug)]
pub struct ResponseHead {
    pub len: usize,
    pub version: Span,
    pub status: u16,
    pub status_span: Span,
    pub reason: Span,
    pub flags: Flags,
    pub body: BodyFraming,
    pub warn_pos: Option<usize>,
}

impl ResponseHead {
    /// 1xx other than 101: another response head follows on the same
    /// stream.
    pub fn is_interim(&self) -> bool {
        (100..200).contains(&self.status) && self.status != 101
    }
}

/// Outcome of one parse call.
#[derive(Clone, Copy, Debug)]
pub enum Status<T> {
    Complete(T),
    /// Call again with more bytes (the same buffer, extended).
    Incomplete,
}

/// Why a head was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// A byte not allowed at that place of the grammar.
    InvalidByte,
    /// Version string not `HTTP/d.d` (strict mode).
    BadVersion,
    /// HTTP/0.9 request refused (strict mode, or not a GET with a URI).
    BadHttp09,
    EmptyHeaderName,
    TooManyHeaders,
    /// Head does not fit in the buffer.
    TooLarge,
    BadContentLength,
    BadTransferEncoding,
    /// A coding other than chunked (request → 422, response → 502).
    UnsupportedTransferCoding,
    HostMismatch,
    BadAuthority,
    MissingWebSocketKey,
    /// HTTP/1.0 GET/HEAD/DELETE with a body (→ 413).
    PayloadForbidden,
}

/// A refused head: what, where (offset in the buffer, HAProxy's
/// `err_pos`), and the status HAProxy answers with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub kind: ErrorKind,
    pub pos: usize,
    pub status: u16,
}

fn req_status(kind: ErrorKind) -> u16 {
    match kind {
        ErrorKind::UnsupportedTransferCoding => 422,
        ErrorKind::PayloadForbidden => 413,
        _ => 400,
    }
}

/// Semantic state gathered while walking headers.
struct Sem {
    flags: Flags,
    clen: u64,
    host: Option<usize>,
    ws_key: bool,
    ws_accept: bool,
    warn: Option<usize>,
}

impl Sem {
    fn new() -> Sem {
        Sem {
            flags: Flags(0),
            clen: 0,
            host: None,
            ws_key: false,
            ws_accept: false,
            warn: None,
        }
    }
}

/// Internal error carrying kind and position.
type PErr = (ErrorKind, usize);

/// Parses a request head from `buf` (all bytes received so far).
/// `headers` is cleared and filled; keep it between calls to avoid
/// allocating (reserve `opts.max_headers` once).
pub fn parse_request(
    buf: &[u8],
    headers: &mut Vec<Header>,
    opts: &ParseOptions,
) -> Result<Status<RequestHead>, ParseError> {
    headers.clear();
    let map = |(kind, pos): PErr| ParseError {
        kind,
        pos,
        status: req_status(kind),
    };
    match parse_request_inner(buf, headers, opts) {
        Ok(Some(h)) => Ok(Status::Complete(h)),
        Ok(None) if buf.len() >= opts.max_head_len => Err(ParseError {
            kind: ErrorKind::TooLarge,
            pos: buf.len(),
            status: 400,
        }),
        Ok(None) => Ok(Status::Incomplete),
        Err(e) => Err(map(e)),
    }
}

/// Parses a response head. `req_method` is the method of the request it
/// answers (HEAD and CONNECT change the framing).
pub fn parse_response(
    buf: &[u8],
    headers: &mut Vec<Header>,
    opts: &ParseOptions,
    req_method: Method,
) -> Result<Status<ResponseHead>, ParseError> {
    headers.clear();
    match parse_response_inner(buf, headers, opts, req_method) {
        Ok(Some(h)) => Ok(Status::Complete(h)),
        Ok(None) if buf.len() >= opts.max_head_len => Err(ParseError {
            kind: ErrorKind::TooLarge,
            pos: buf.len(),
            status: 502,
        }),
        Ok(None) => Ok(Status::Incomplete),
        Err((kind, pos)) => Err(ParseError { kind, pos, status: 502 }),
    }
}

/// Skips the empty lines HAProxy tolerates before a start line. Returns the
/// offset of the first start-line byte, or None when more data is needed.
fn skip_leading_crlf(buf: &[u8]) -> Result<Option<usize>, PErr> {
    let mut p = 0;
    loop {
        match buf.get(p) {
            None => return Ok(None),
            Some(&b) if is_token(b) => return Ok(Some(p)),
            Some(b'\n') => p += 1,
            Some(b'\r') => match buf.get(p + 1) {
                None => return Ok(None),
                Some(b'\n') => p += 2,
                Some(_) => return Err((ErrorKind::InvalidByte, p + 1)),
            },
            Some(_) => return Err((ErrorKind::InvalidByte, p)),
        }
    }
}

/// Consumes the end of a line at `p` (which holds CR or LF). Returns the
/// offset after the LF.
#[inline]
fn eat_eol(buf: &[u8], p: usize) -> Result<Option<usize>, PErr> {
    if buf[p] == b'\r' {
        match buf.get(p + 1) {
            None => Ok(None),
            Some(b'\n') => Ok(Some(p + 2)),
            Some(_) => Err((ErrorKind::InvalidByte, p + 1)),
        }
    } else {
        Ok(Some(p + 1))
    }
}

macro_rules! need {
    ($e:expr) => {
        match $e {
            Some(v) => v,
            None => return Ok(None),
        }
    };
}

fn parse_request_inner(
    buf: &[u8],
    headers: &mut Vec<Header>,
    opts: &ParseOptions,
) -> Result<Option<RequestHead>, PErr> {
    let strict = !opts.accept_invalid;
    let mut sem = Sem::new();
    let start = need!(skip_leading_crlf(buf)?);
    let mut p = start;
    // method
    while p < buf.len() && is_token(buf[p]) {
        p += 1;
    }
    let c = *need!(buf.get(p));
    let method = Span::new(start, p);
    let meth = Method::from_bytes(method.get(buf));
    let uri;
    let mut version = Span::new(p, p);
    if is_spht(c) {
        while p < buf.len() && is_spht(buf[p]) {
            p += 1;
        }
        let c = *need!(buf.get(p));
        if is_crlf(c) {
            uri = Span::new(p, p);
        } else {
            let us = p;
            loop {
                let c = *need!(buf.get(p));
                if (0x21..=0x7e).contains(&c) && c != b'#' {
                    p += 1;
                } else if is_spht(c) || is_crlf(c) {
                    break;
                } else if c == b'#' || c >= 0x80 {
                    // 2.6.12 refuses fragments and 8-bit bytes unless told
                    // to accept invalid requests (then they are only noted).
                    if strict {
                        return Err((ErrorKind::InvalidByte, p));
                    }
                    sem.warn.get_or_insert(p);
                    p += 1;
                } else {
                    return Err((ErrorKind::InvalidByte, p));
                }
            }
            uri = Span::new(us, p);
            if is_spht(buf[p]) {
                while p < buf.len() && is_spht(buf[p]) {
                    p += 1;
                }
                let c = *need!(buf.get(p));
                if !is_crlf(c) {
                    let vs = p;
                    loop {
                        let c = *need!(buf.get(p));
                        if is_ver(c) {
                            p += 1;
                        } else if is_crlf(c) {
                            break;
                        } else {
                            return Err((ErrorKind::InvalidByte, p));
                        }
                    }
                    version = Span::new(vs, p);
                } else {
                    version = Span::new(p, p);
                }
            } else {
                version = Span::new(p, p);
            }
        }
    } else if is_crlf(c) {
        uri = Span::new(p, p);
    } else {
        return Err((ErrorKind::InvalidByte, p));
    }
    // `p` is on the CR/LF ending the request line.
    let vb = version.get(buf);
    if vb.len() == 8 && (vb[5] > b'1' || (vb[5] == b'1' && vb[7] >= b'1')) {
        sem.flags.set(Flags::VER_11);
    }
    let body_start;
    if version.is_empty() {
        // HTTP/0.9: no header block; the line end is the head end.
        if buf[p] == b'\r' {
            match buf.get(p + 1) {
                None => return Ok(None),
                Some(b'\n') => body_start = p + 2,
                Some(_) => return Err((ErrorKind::InvalidByte, p + 1)),
            }
        } else {
            body_start = p + 1;
        }
    } else {
        p = need!(eat_eol(buf, p)?);
        body_start = need!(parse_header_block(buf, p, headers, opts, &mut sem, Some(uri))?);
    }

    // Post-parse checks, in HAProxy's order: authority (parser end), framing
    // (parser end), version (h1_process_req_vsn), then the mux's checks.
    if !version.is_empty() {
        check_request_target(buf, meth, uri, headers, &mut sem, strict)?;
    }
    finish_framing(&mut sem, headers, false, body_start)?;
    if strict {
        if version.is_empty() {
            return Err((ErrorKind::BadVersion, version.off as usize));
        }
        if !(vb.len() == 8
            && vb.starts_with(b"HTTP/")
            && vb[5].is_ascii_digit()
            && vb[6] == b'.'
            && vb[7].is_ascii_digit())
        {
            return Err((ErrorKind::BadVersion, version.off as usize));
        }
    } else if version.is_empty() {
        if meth != Method::Get || uri.is_empty() {
            return Err((ErrorKind::BadHttp09, version.off as usize));
        }
        sem.flags.set(Flags::HTTP09);
    }

    let mut body = if sem.flags.has(Flags::CHUNKED) {
        BodyFraming::Chunked
    } else if sem.flags.has(Flags::CLEN) && sem.clen > 0 {
        BodyFraming::Length(sem.clen)
    } else {
        BodyFraming::None
    };
    if meth == Method::Connect {
        sem.flags.set(Flags::HAS_AUTHORITY);
        body = BodyFraming::None;
    } else {
        let u = uri.get(buf);
        if !u.is_empty() && u[0] != b'/' && u[0] != b'*' {
            sem.flags.set(Flags::HAS_AUTHORITY | Flags::HAS_SCHEME);
        }
    }
    // An Upgrade on a message with a body cannot switch protocols: HAProxy
    // forgets it.
    if sem.flags.has(Flags::CONN_UPGRADE) && body != BodyFraming::None {
        sem.flags.clear(Flags::CONN_UPGRADE | Flags::UPGRADE_WEBSOCKET);
    }
    if !opts.accept_payload_with_any_method
        && !sem.flags.has(Flags::VER_11)
        && body != BodyFraming::None
        && matches!(meth, Method::Get | Method::Head | Method::Delete)
    {
        return Err((ErrorKind::PayloadForbidden, body_start));
    }
    if sem.flags.has(Flags::TE_OTHER) {
        return Err((ErrorKind::UnsupportedTransferCoding, body_start));
    }
    if sem.flags.has(Flags::CONN_UPGRADE | Flags::UPGRADE_WEBSOCKET)
        && sem.flags.0 & (Flags::CONN_UPGRADE | Flags::UPGRADE_WEBSOCKET)
            == (Flags::CONN_UPGRADE | Flags::UPGRADE_WEBSOCKET)
        && !sem.ws_key
    {
        return Err((ErrorKind::MissingWebSocketKey, body_start));
    }
    if body_start > opts.max_head_len {
        return Err((ErrorKind::TooLarge, opts.max_head_len));
    }
    Ok(Some(RequestHead {
        len: body_start,
        method,
        meth,
        uri,
        version,
        flags: sem.flags,
        body,
        host: sem.host,
        warn_pos: sem.warn,
    }))
}

fn parse_response_inner(
    buf: &[u8],
    headers: &mut Vec<Header>,
    opts: &ParseOptions,
    req_method: Method,
) -> Result<Option<ResponseHead>, PErr> {
    let strict = !opts.accept_invalid;
    let mut sem = Sem::new();
    let start = need!(skip_leading_crlf(buf)?);
    let mut p = start;
    while p < buf.len() && is_ver(buf[p]) {
        p += 1;
    }
    let c = *need!(buf.get(p));
    if !is_spht(c) {
        return Err((ErrorKind::InvalidByte, p));
    }
    let version = Span::new(start, p);
    while p < buf.len() && is_spht(buf[p]) {
        p += 1;
    }
    let c = *need!(buf.get(p));
    if is_crlf(c) {
        return Err((ErrorKind::InvalidByte, p));
    }
    let cs = p;
    let mut status: u16 = 0;
    loop {
        let c = *need!(buf.get(p));
        if c.is_ascii_digit() {
            // HAProxy keeps the code in 16 bits and lets it wrap.
            status = status.wrapping_mul(10).wrapping_add((c - b'0') as u16);
            p += 1;
        } else if is_lws(c) {
            break;
        } else {
            return Err((ErrorKind::InvalidByte, p));
        }
    }
    let status_span = Span::new(cs, p);
    while p < buf.len() && is_spht(buf[p]) {
        p += 1;
    }
    let rs = p;
    while p < buf.len() && !is_crlf(buf[p]) {
        p += 1;
    }
    need!(buf.get(p));
    let reason = Span::new(rs, p);
    p = need!(eat_eol(buf, p)?);
    let body_start = need!(parse_header_block(buf, p, headers, opts, &mut sem, None)?);
    // The version is known from the status line: the framing epilogue
    // needs it (TE on HTTP/1.0 forces close, not on 1.1).
    let vb = version.get(buf);
    if vb.len() == 8 && (vb[5] > b'1' || (vb[5] == b'1' && vb[7] >= b'1')) {
        sem.flags.set(Flags::VER_11);
    }
    finish_framing(&mut sem, headers, true, body_start)?;

    if strict && !(vb.len() == 8 && vb[4] == b'/' && vb[5].is_ascii_digit() && vb[6] == b'.' && vb[7].is_ascii_digit())
    {
        return Err((ErrorKind::BadVersion, version.off as usize));
    }
    let body = if (req_method == Method::Connect && (200..300).contains(&status)) || status == 101 {
        BodyFraming::Tunnel
    } else if req_method == Method::Head || (100..200).contains(&status) || status == 204 || status == 304 {
        BodyFraming::None
    } else if sem.flags.has(Flags::CHUNKED) {
        BodyFraming::Chunked
    } else if sem.flags.has(Flags::CLEN) {
        if sem.clen == 0 {
            BodyFraming::None
        } else {
            BodyFraming::Length(sem.clen)
        }
    } else {
        BodyFraming::UntilClose
    };
    if sem.flags.has(Flags::TE_OTHER) {
        return Err((ErrorKind::UnsupportedTransferCoding, body_start));
    }
    if sem.flags.0 & (Flags::CONN_UPGRADE | Flags::UPGRADE_WEBSOCKET)
        == (Flags::CONN_UPGRADE | Flags::UPGRADE_WEBSOCKET)
        && !sem.ws_accept
    {
        return Err((ErrorKind::MissingWebSocketKey, body_start));
    }
    if body_start > opts.max_head_len {
        return Err((ErrorKind::TooLarge, opts.max_head_len));
    }
    Ok(Some(ResponseHead {
        len: body_start,
        version,
        status,
        status_span,
        reason,
        flags: sem.flags,
        body,
        warn_pos: sem.warn,
    }))
}

/// Walks the header lines starting at `p` (first byte after the start
/// line). Returns the offset just after the empty line.
fn parse_header_block(
    buf: &[u8],
    mut p: usize,
    headers: &mut Vec<Header>,
    opts: &ParseOptions,
    sem: &mut Sem,
    req_uri: Option<Span>,
) -> Result<Option<usize>, PErr> {
    let strict = !opts.accept_invalid;
    loop {
        let c = *need!(buf.get(p));
        if is_crlf(c) {
            let end = need!(eat_eol(buf, p)?);
            // HAProxy also counts the end-of-headers marker.
            if headers.len() >= opts.max_headers {
                return Err((ErrorKind::TooManyHeaders, p));
            }
            return Ok(Some(end));
        }
        let sol = p;
        loop {
            let c = *need!(buf.get(p));
            if is_token(c) {
                p += 1;
            } else if c == b':' {
                break;
            } else if strict || c == b'\n' {
                return Err((ErrorKind::InvalidByte, p));
            } else {
                sem.warn.get_or_insert(p);
                p += 1;
            }
        }
        if p == sol {
            return Err((ErrorKind::EmptyHeaderName, p));
        }
        let name = Span::new(sol, p);
        p += 1;
        // value: anything but CR/LF; obs-fold continues it.
        let mut sov = p;
        let mut folded = false;
        let eol;
        loop {
            while p < buf.len() && !is_crlf(buf[p]) {
                p += 1;
            }
            need!(buf.get(p));
            let line_end = p;
            p = need!(eat_eol(buf, p)?);
            let c = *need!(buf.get(p));
            if is_spht(c) {
                folded = true;
                continue;
            }
            eol = line_end;
            break;
        }
        while sov < eol && is_lws(buf[sov]) {
            sov += 1;
        }
        let mut e = eol;
        while e > sov + 1 && is_lws(buf[e - 1]) {
            e -= 1;
        }
        if e == sov + 1 && is_lws(buf[sov]) {
            e = sov;
        }
        let value = Span::new(sov, e.max(sov));
        if headers.len() >= opts.max_headers {
            return Err((ErrorKind::TooManyHeaders, sol));
        }
        let kind = classify(name.get(buf));
        if let Some(keep) = on_header(buf, kind, value, headers, sem, req_uri)? {
            headers.push(Header {
                name,
                value,
                kind: keep,
                folded,
            });
        }
    }
}

fn classify(n: &[u8]) -> HeaderKind {
    let k = match n.len() {
        4 => HeaderKind::Host,
        6 => HeaderKind::Expect,
        7 => HeaderKind::Upgrade,
        10 => HeaderKind::Connection,
        14 => HeaderKind::ContentLength,
        17 if n[0] | 0x20 == b't' => HeaderKind::TransferEncoding,
        17 => HeaderKind::SecWebSocketKey,
        20 => HeaderKind::SecWebSocketAccept,
        _ => return HeaderKind::Other,
    };
    let want: &[u8] = match k {
        HeaderKind::Host => b"host",
        HeaderKind::Expect => b"expect",
        HeaderKind::Upgrade => b"upgrade",
        HeaderKind::Connection => b"connection",
        HeaderKind::ContentLength => b"content-length",
        HeaderKind::TransferEncoding => b"transfer-encoding",
        HeaderKind::SecWebSocketKey => b"sec-websocket-key",
        HeaderKind::SecWebSocketAccept => b"sec-websocket-accept",
        HeaderKind::Other => b"",
    };
    if eq_ignore_case(n, want) {
        k
    } else {
        HeaderKind::Other
    }
}

/// Applies one header's semantics. Returns the kind to store, or None when
/// HAProxy drops the header (repeated equal Content-Length or Host, a
/// Connection header holding only close/keep-alive).
fn on_header(
    buf: &[u8],
    kind: HeaderKind,
    value: Span,
    headers: &[Header],
    sem: &mut Sem,
    req_uri: Option<Span>,
) -> Result<Option<HeaderKind>, PErr> {
    let v = value.get(buf);
    match kind {
        HeaderKind::TransferEncoding => {
            sem.flags.set(Flags::XFER_ENC);
            for w in list_items(v) {
                sem.flags.clear(Flags::CHUNKED);
                if eq_ignore_case(w, b"chunked") {
                    if sem.flags.has(Flags::TE_CHUNKED_SEEN) {
                        return Err((ErrorKind::BadTransferEncoding, value.off as usize));
                    }
                    sem.flags.set((Flags::TE_CHUNKED_SEEN) | Flags::CHUNKED);
                } else {
                    if req_uri.is_some() && sem.flags.has(Flags::TE_CHUNKED_SEEN) {
                        return Err((ErrorKind::BadTransferEncoding, value.off as usize));
                    }
                    sem.flags.set(Flags::TE_OTHER);
                }
            }
        }
        HeaderKind::ContentLength => {
            let cl = parse_content_length(v, sem).ok_or((ErrorKind::BadContentLength, value.off as usize))?;
            let first = !sem.flags.has(Flags::CLEN);
            sem.flags.set(Flags::CLEN);
            sem.clen = cl;
            if !first {
                return Ok(None);
            }
        }
        HeaderKind::Connection => {
            for w in list_items(v) {
                if eq_ignore_case(w, b"keep-alive") {
                    sem.flags.set(Flags::CONN_KEEPALIVE);
                } else if eq_ignore_case(w, b"close") {
                    sem.flags.set(Flags::CONN_CLOSE);
                } else if eq_ignore_case(w, b"upgrade") {
                    sem.flags.set(Flags::CONN_UPGRADE);
                }
            }
            let mut empty = true;
            crate::chars::connection_value(v, |_| empty = false);
            if empty {
                return Ok(None);
            }
        }
        HeaderKind::Upgrade => {
            sem.flags.set(Flags::UPGRADE_HDR);
            sem.flags.clear(Flags::UPGRADE_WEBSOCKET);
            if list_items(v).any(|w| eq_ignore_case(w, b"websocket")) {
                sem.flags.set(Flags::UPGRADE_WEBSOCKET);
            }
        }
        HeaderKind::Expect if eq_ignore_case(v, b"100-continue") => {
            sem.flags.set(Flags::EXPECT_100);
        }
        HeaderKind::SecWebSocketKey if req_uri.is_some() && v.len() == 24 => {
            sem.ws_key = true;
        }
        HeaderKind::SecWebSocketAccept if req_uri.is_none() => {
            sem.ws_accept = true;
        }
        HeaderKind::Host if req_uri.is_some() => {
            if let Some(i) = sem.host {
                if !eq_ignore_case(v, headers[i].value.get(buf)) {
                    return Err((ErrorKind::HostMismatch, value.off as usize));
                }
                return Ok(None);
            }
            sem.host = Some(headers.len());
        }
        _ => {}
    }
    Ok(Some(kind))
}

/// HAProxy's Content-Length grammar: comma-separated decimal values, all
/// equal (also to earlier headers), no sign, no empty value, no overflow.
fn parse_content_length(v: &[u8], sem: &Sem) -> Option<u64> {
    let mut i = 0;
    let mut found: Option<u64> = None;
    if v.is_empty() {
        return None;
    }
    while i < v.len() {
        if is_lws(v[i]) {
            i += 1;
            continue;
        }
        let s = i;
        let mut cl: u64 = 0;
        while i < v.len() && v[i].is_ascii_digit() {
            cl = cl.checked_mul(10)?.checked_add((v[i] - b'0') as u64)?;
            i += 1;
        }
        if i == s {
            return None;
        }
        while i < v.len() && is_lws(v[i]) {
            i += 1;
        }
        if i < v.len() {
            if v[i] != b',' {
                return None;
            }
            i += 1;
            // A comma must introduce another value: "0," has an empty
            // element, which HAProxy refuses (reg-test h1_to_h1, c4h1).
            while i < v.len() && is_lws(v[i]) {
                i += 1;
            }
            if i == v.len() {
                return None;
            }
        }
        if sem.flags.has(Flags::CLEN) && cl != sem.clen {
            return None;
        }
        if let Some(f) = found {
            if f != cl {
                return None;
            }
        }
        found = Some(cl);
    }
    found
}

/// Framing decisions made at the end of the header block (HAProxy's parser
/// epilogue): TE beats CL, TE on HTTP/1.0 forces close, a request TE must
/// end in chunked.
fn finish_framing(sem: &mut Sem, headers: &mut Vec<Header>, resp: bool, end: usize) -> Result<(), PErr> {
    sem.flags.clear(Flags::TE_CHUNKED_SEEN);
    if !sem.flags.has(Flags::XFER_ENC) {
        return Ok(());
    }
    if sem.flags.has(Flags::CLEN) {
        // TE wins and the Content-Length headers go. The connection is not
        // forced to close toward the next hop (measured on 2.6.12); the
        // caller decides about the client side from CL_TE_BOTH.
        sem.flags.clear(Flags::CLEN);
        sem.flags.set(Flags::CL_TE_BOTH);
        sem.clen = 0;
        let host_before =
            |i: usize, hs: &[Header]| hs[..i].iter().filter(|h| h.kind == HeaderKind::ContentLength).count();
        if let Some(h) = sem.host {
            sem.host = Some(h - host_before(h, headers));
        }
        headers.retain(|h| h.kind != HeaderKind::ContentLength);
    }
    if !sem.flags.has(Flags::VER_11) {
        sem.flags.set(Flags::FORCE_CLOSE | Flags::CONN_CLOSE);
    }
    if !sem.flags.has(Flags::CHUNKED) && !resp {
        return Err((ErrorKind::BadTransferEncoding, end));
    }
    Ok(())
}

/// Splits a trailing `:digits` port off a host. `Some(b"")` for a bare ':'.
fn host_port(h: &[u8]) -> (&[u8], Option<&[u8]>) {
    let mut i = h.len();
    while i > 0 && h[i - 1].is_ascii_digit() {
        i -= 1;
    }
    if i > 0 && h[i - 1] == b':' {
        (&h[..i - 1], Some(&h[i..]))
    } else {
        (h, None)
    }
}

fn is_default_port(scheme: Option<&[u8]>, port: &[u8]) -> bool {
    if port.is_empty() {
        return true;
    }
    match scheme {
        None => port == b"443" || port == b"80",
        Some(s) => {
            (port == b"443" && eq_ignore_case(s, b"https://")) || (port == b"80" && eq_ignore_case(s, b"http://"))
        }
    }
}

/// Splits an absolute-form or authority-form target into its scheme
/// (including "://") and authority (userinfo removed).
pub fn split_target(u: &[u8]) -> (Option<&[u8]>, &[u8]) {
    let mut scheme = None;
    let mut rest = u;
    if let Some(i) = u.windows(3).position(|w| w == b"://") {
        let s = &u[..i];
        if !s.is_empty()
            && s[0].is_ascii_alphabetic()
            && s.iter()
                .all(|&b| b.is_ascii_alphanumeric() || b == b'+' || b == b'-' || b == b'.')
        {
            scheme = Some(&u[..i + 3]);
            rest = &u[i + 3..];
        }
    }
    // As HAProxy's URI parser: the authority runs to the first '/' (a '?'
    // right after it stays in the authority, where it is invalid).
    let end = rest.iter().position(|&b| b == b'/').unwrap_or(rest.len());
    let mut auth = &rest[..end];
    if let Some(at) = auth.iter().rposition(|&b| b == b'@') {
        auth = &auth[at + 1..];
    }
    (scheme, auth)
}

/// HAProxy's scheme-based normalisation (RFC 3986 §6.3.2), applied where
/// HAProxy applies it: right after parsing, so rules, captures, logs and the
/// server all see the result.
///
/// - absolute-form `http://` / `https://` target whose port is empty or the
///   scheme's default: the `:port` leaves the target and every Host value
///   becomes the target's host (userinfo excluded);
/// - CONNECT whose Host repeats a default port (80/443): the port leaves
///   the Host values (the target keeps it).
///
/// Everything removed only shortens the URI and Host values, so the work is
/// done in place in `buf`: the spans shrink and the bytes they no longer
/// cover are simply never emitted.
pub fn normalize_target(buf: &mut [u8], head: &mut RequestHead, headers: &mut [Header]) {
    if head.meth == Method::Connect {
        if !head.flags.has(Flags::HOST_STRIP_PORT) {
            return;
        }
        for h in headers.iter_mut().filter(|h| h.kind == HeaderKind::Host) {
            let (host, port) = host_port(h.value.get(buf));
            if matches!(port, Some(p) if p == b"80" || p == b"443") {
                h.value.len = host.len() as u32;
            }
        }
        return;
    }
    if !head.flags.has(Flags::HAS_SCHEME) {
        return;
    }
    let uri = head.uri.get(buf);
    let (Some(scheme), _) = split_target(uri) else { return };
    let auth_off = scheme.len();
    let auth_len = uri[auth_off..]
        .iter()
        .position(|&b| b == b'/')
        .unwrap_or(uri.len() - auth_off);
    let auth = &uri[auth_off..auth_off + auth_len];
    let (hostpart, port) = host_port(auth);
    let Some(port) = port else { return };
    if !port.is_empty() && !is_default_port(Some(scheme), port) {
        return;
    }
    let host_start = hostpart.iter().rposition(|&b| b == b'@').map_or(0, |i| i + 1);
    let host_len = hostpart.len() - host_start;
    let colon = auth_off + hostpart.len();
    let cut = auth.len() - hostpart.len();
    // The target without ":port" (the host part before it does not move).
    let u0 = head.uri.off as usize;
    let ulen = head.uri.len as usize;
    buf.copy_within(u0 + colon + cut..u0 + ulen, u0 + colon);
    head.uri.len -= cut as u32;
    let src = u0 + auth_off + host_start;
    for h in headers.iter_mut().filter(|h| h.kind == HeaderKind::Host) {
        // Only a mismatching Host tolerated by accept-invalid-http-request
        // can be shorter than the target's host: it is then left alone.
        if (h.value.len as usize) < host_len {
            continue;
        }
        let dst = h.value.off as usize;
        buf.copy_within(src..src + host_len, dst);
        h.value.len = host_len as u32;
    }
}

/// Request-target rules of the parser epilogue: '*' only for OPTIONS or an
/// unknown method, CONNECT needs host:port, an absolute URI's authority
/// must agree with Host (default ports aside).
fn check_request_target(
    buf: &[u8],
    meth: Method,
    uri: Span,
    headers: &[Header],
    sem: &mut Sem,
    strict: bool,
) -> Result<(), PErr> {
    let u = uri.get(buf);
    let at = uri.off as usize;
    let host = sem.host.map(|i| headers[i].value.get(buf));
    if u.first() == Some(&b'*') {
        if !matches!(meth, Method::Options | Method::Other) || u.len() != 1 {
            return Err((ErrorKind::BadAuthority, at));
        }
        return Ok(());
    }
    if u.first() == Some(&b'/') {
        if meth == Method::Connect {
            return Err((ErrorKind::BadAuthority, at));
        }
        return Ok(());
    }
    let (scheme, auth) = split_target(u);
    if auth.iter().any(|&b| !is_authority_char(b)) {
        if strict {
            return Err((ErrorKind::BadAuthority, at));
        }
        sem.warn.get_or_insert(at);
    }
    if scheme.is_none() {
        if meth != Method::Connect {
            return Err((ErrorKind::BadAuthority, at));
        }
        let (uhost, uport) = host_port(auth);
        let bad = |sem: &mut Sem, pos: usize| -> Result<(), PErr> {
            if strict {
                return Err((ErrorKind::BadAuthority, pos));
            }
            sem.warn.get_or_insert(pos);
            Ok(())
        };
        match uport {
            Some(p) if !p.is_empty() => {
                if let Some(h) = host {
                    let (hh, hp) = host_port(h);
                    match hp {
                        Some(hp) if !hp.is_empty() => {
                            if !eq_ignore_case(hh, uhost) || hp != p {
                                return bad(sem, at);
                            }
                            if is_default_port(None, p) {
                                sem.flags.set(Flags::HOST_STRIP_PORT);
                            }
                        }
                        _ => {
                            if !is_default_port(None, p) || !eq_ignore_case(hh, uhost) {
                                return bad(sem, at);
                            }
                        }
                    }
                }
            }
            _ => return bad(sem, at),
        }
        return Ok(());
    }
    if meth == Method::Connect {
        return Err((ErrorKind::BadAuthority, at));
    }
    if let (Some(h), false) = (host, auth.is_empty()) {
        if !eq_ignore_case(auth, h) && !authority_matches_with_default_port(scheme, auth, h) {
            let pos = headers[sem.host.unwrap_or(0)].value.off as usize;
            if strict {
                return Err((ErrorKind::HostMismatch, pos));
            }
            sem.warn.get_or_insert(pos);
        }
    }
    Ok(())
}

fn authority_matches_with_default_port(scheme: Option<&[u8]>, auth: &[u8], host: &[u8]) -> bool {
    let (uh, up) = host_port(auth);
    let (hh, hp) = host_port(host);
    match (up, hp) {
        (None, None) => false,
        (Some(p), _) if !is_default_port(scheme, p) => false,
        (_, Some(p)) if !is_default_port(scheme, p) => false,
        _ => eq_ignore_case(uh, hh),
    }
}

/// Bytes HAProxy tolerates in an authority (RFC 3986 reg-name, IP-literal
/// brackets, port digits and ':').
fn is_authority_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:[]%".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(b: &[u8]) -> Result<Status<RequestHead>, ParseError> {
        let mut h = Vec::new();
        parse_request(b, &mut h, &ParseOptions::default())
    }
    fn req_ok(b: &[u8]) -> (RequestHead, Vec<Header>) {
        let mut h = Vec::new();
        match parse_request(b, &mut h, &ParseOptions::default()) {
            Ok(Status::Complete(r)) => (r, h),
            other => panic!("{:?}", other),
        }
    }
    fn req_err(b: &[u8]) -> ParseError {
        match req(b) {
            Err(e) => e,
            other => panic!("expected error, got {:?}", other),
        }
    }

    #[test]
    fn simple_get() {
        let b = b"GET /x HTTP/1.1\r\nHost: a\r\nX-Y:  v v  \r\n\r\nBODY";
        let (r, h) = req_ok(b);
        assert_eq!(r.len, b.len() - 4);
        assert_eq!(r.method.get(b), b"GET");
        assert_eq!(r.uri.get(b), b"/x");
        assert!(r.flags.has(Flags::VER_11));
        assert_eq!(h.len(), 2);
        assert_eq!(h[1].value.get(b), b"v v");
        assert_eq!(r.host, Some(0));
        assert_eq!(r.body, BodyFraming::None);
    }

    #[test]
    fn incomplete_at_every_prefix() {
        let b = b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n";
        for i in 0..b.len() {
            assert!(matches!(req(&b[..i]), Ok(Status::Incomplete)), "prefix {}", i);
        }
        let (r, _) = req_ok(b);
        assert_eq!(r.body, BodyFraming::Length(3));
    }

    #[test]
    fn bare_lf_and_leading_empty_lines() {
        let (r, _) = req_ok(b"\r\n\nGET / HTTP/1.1\nHost: a\n\n");
        assert_eq!(r.method.off, 3);
        assert_eq!(req_err(b"\r\rGET / HTTP/1.1\r\n\r\n").pos, 1);
    }

    #[test]
    fn uri_bytes() {
        assert_eq!(req_err(b"GET /a#b HTTP/1.1\r\n\r\n").pos, 6);
        assert_eq!(req_err(b"GET /\x01 HTTP/1.1\r\n\r\n").pos, 5);
        assert_eq!(req_err(b"GET /\xe9 HTTP/1.1\r\n\r\n").pos, 5);
        let mut h = Vec::new();
        let o = ParseOptions {
            accept_invalid: true,
            ..Default::default()
        };
        match parse_request(b"GET /a#\xe9 HTTP/1.1\r\n\r\n", &mut h, &o) {
            Ok(Status::Complete(r)) => assert_eq!(r.warn_pos, Some(6)),
            e => panic!("{:?}", e),
        }
    }

    #[test]
    fn versions() {
        assert_eq!(req_err(b"GET / HTTP/1\r\n\r\n").kind, ErrorKind::BadVersion);
        assert_eq!(req_err(b"GET / http/1.1\r\n\r\n").kind, ErrorKind::InvalidByte);
        assert_eq!(req_err(b"GET /\r\n").kind, ErrorKind::BadVersion);
        let (r, _) = req_ok(b"GET / HTTP/3.0\r\n\r\n");
        assert!(r.flags.has(Flags::VER_11));
        let mut h = Vec::new();
        let o = ParseOptions {
            accept_invalid: true,
            ..Default::default()
        };
        match parse_request(b"GET /\r\n", &mut h, &o) {
            Ok(Status::Complete(r)) => assert!(r.flags.has(Flags::HTTP09)),
            e => panic!("{:?}", e),
        }
        assert_eq!(
            parse_request(b"POST /\r\n", &mut h, &o).unwrap_err().kind,
            ErrorKind::BadHttp09
        );
    }

    #[test]
    fn header_names() {
        assert_eq!(req_err(b"GET / HTTP/1.1\r\nX-A : b\r\n\r\n").pos, 19);
        assert_eq!(
            req_err(b"GET / HTTP/1.1\r\n: b\r\n\r\n").kind,
            ErrorKind::EmptyHeaderName
        );
        assert_eq!(req_err(b"GET / HTTP/1.1\r\n Host: a\r\n\r\n").pos, 16);
    }

    #[test]
    fn obs_fold_is_kept_and_flagged() {
        let b = b"GET / HTTP/1.1\r\nX-A: b\r\n c\r\n\r\n";
        let (_, h) = req_ok(b);
        assert!(h[0].folded);
        assert_eq!(h[0].value.get(b), b"b\r\n c");
    }

    #[test]
    fn content_length_rules() {
        let b = b"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3, 3\r\n\r\n";
        let (r, h) = req_ok(b);
        assert_eq!(h.len(), 1);
        assert_eq!(r.body, BodyFraming::Length(3));
        for bad in [
            &b"3\r\nContent-Length: 4"[..],
            b"3, 4",
            b"-1",
            b"1a",
            b"",
            b"+3",
            b"0,",
            b"3, ",
            b"99999999999999999999999",
        ] {
            let mut m = b"POST / HTTP/1.1\r\nContent-Length: ".to_vec();
            m.extend_from_slice(bad);
            m.extend_from_slice(b"\r\n\r\n");
            assert_eq!(req_err(&m).kind, ErrorKind::BadContentLength, "{:?}", bad);
        }
    }

    #[test]
    fn transfer_encoding_rules() {
        let b = b"POST / HTTP/1.1\r\nContent-Length: 5\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
        let (r, h) = req_ok(b);
        assert_eq!(r.body, BodyFraming::Chunked);
        assert!(!r.flags.has(Flags::FORCE_CLOSE), "2.6.12 keeps CL+TE connections");
        assert_eq!(h.len(), 2);
        assert_eq!(r.host, Some(0));
        let te = |v: &[u8]| {
            let mut m = b"POST / HTTP/1.1\r\nTransfer-Encoding: ".to_vec();
            m.extend_from_slice(v);
            m.extend_from_slice(b"\r\n\r\n");
            req(&m)
        };
        assert_eq!(te(b"chunked, gzip").unwrap_err().status, 400);
        assert_eq!(te(b"chunked, chunked").unwrap_err().status, 400);
        assert_eq!(te(b"foo").unwrap_err().status, 400);
        assert_eq!(te(b"gzip, chunked").unwrap_err().status, 422);
        let (r, _) = req_ok(b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n");
        assert!(r.flags.has(Flags::FORCE_CLOSE));
    }

    #[test]
    fn host_rules() {
        assert_eq!(
            req_err(b"GET http://b/ HTTP/1.1\r\nHost: a\r\n\r\n").kind,
            ErrorKind::HostMismatch
        );
        req_ok(b"GET http://a:80/ HTTP/1.1\r\nHost: a\r\n\r\n");
        req_ok(b"GET https://a/ HTTP/1.1\r\nHost: a:443\r\n\r\n");
        assert_eq!(
            req_err(b"GET http://a:81/ HTTP/1.1\r\nHost: a\r\n\r\n").kind,
            ErrorKind::HostMismatch
        );
        assert_eq!(
            req_err(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n").kind,
            ErrorKind::HostMismatch
        );
        let (_, h) = req_ok(b"GET / HTTP/1.1\r\nHost: a\r\nHost: A\r\n\r\n");
        assert_eq!(h.len(), 1);
        assert_eq!(req_err(b"CONNECT a HTTP/1.1\r\n\r\n").kind, ErrorKind::BadAuthority);
        let (r, _) = req_ok(b"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n");
        assert!(r.flags.has(Flags::HOST_STRIP_PORT));
        assert_eq!(req_err(b"GET * HTTP/1.1\r\n\r\n").kind, ErrorKind::BadAuthority);
    }

    #[test]
    fn connection_and_upgrade() {
        let (r, h) = req_ok(b"GET / HTTP/1.1\r\nConnection: close, keep-alive\r\n\r\n");
        assert!(r.flags.has(Flags::CONN_CLOSE) && r.flags.has(Flags::CONN_KEEPALIVE));
        assert!(h.is_empty());
        let ws = b"GET / HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n";
        assert_eq!(req_err(ws).kind, ErrorKind::MissingWebSocketKey);
        let ok = b"GET / HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
        let (r, _) = req_ok(ok);
        assert!(r.flags.has(Flags::CONN_UPGRADE));
    }

    #[test]
    fn limits() {
        let mut m = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..100 {
            m.extend_from_slice(format!("X-{}: v\r\n", i).as_bytes());
        }
        m.extend_from_slice(b"\r\n");
        req_ok(&m);
        let mut m2 = m[..m.len() - 2].to_vec();
        m2.extend_from_slice(b"X-Last: v\r\n\r\n");
        assert_eq!(req_err(&m2).kind, ErrorKind::TooManyHeaders);
        let big = vec![b'a'; 20000];
        assert_eq!(req_err(&big).kind, ErrorKind::TooLarge);
    }

    #[test]
    fn http10_get_with_body_is_413() {
        let e = req_err(b"GET / HTTP/1.0\r\nContent-Length: 2\r\n\r\nab");
        assert_eq!(e.status, 413);
    }

    #[test]
    fn responses() {
        let mut h = Vec::new();
        let o = ParseOptions::default();
        let p = |b: &[u8], m: Method, h: &mut Vec<Header>| parse_response(b, h, &o, m);
        match p(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", Method::Get, &mut h) {
            Ok(Status::Complete(r)) => {
                assert_eq!(r.status, 200);
                assert_eq!(r.body, BodyFraming::Length(2));
            }
            e => panic!("{:?}", e),
        }
        match p(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n", Method::Head, &mut h) {
            Ok(Status::Complete(r)) => assert_eq!(r.body, BodyFraming::None),
            e => panic!("{:?}", e),
        }
        match p(b"HTTP/1.1 200\r\n\r\n", Method::Connect, &mut h) {
            Ok(Status::Complete(r)) => assert_eq!(r.body, BodyFraming::Tunnel),
            e => panic!("{:?}", e),
        }
        match p(b"HTTP/1.0 200 OK\r\n\r\n", Method::Get, &mut h) {
            Ok(Status::Complete(r)) => assert_eq!(r.body, BodyFraming::UntilClose),
            e => panic!("{:?}", e),
        }
        assert_eq!(
            p(b"HTTP/1.x 200 OK\r\n\r\n", Method::Get, &mut h).unwrap_err().status,
            502
        );
        assert_eq!(p(b"HTTP/1.1 2x0 OK\r\n\r\n", Method::Get, &mut h).unwrap_err().pos, 10);
        assert_eq!(
            p(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
                Method::Get,
                &mut h
            )
            .unwrap_err()
            .kind,
            ErrorKind::UnsupportedTransferCoding
        );
    }

    #[test]
    fn chunked_http11_response_stays_keepalive() {
        let mut h = Vec::new();
        let b = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
        let r = match parse_response(b, &mut h, &ParseOptions::default(), Method::Get).unwrap() {
            Status::Complete(r) => r,
            Status::Incomplete => panic!("incomplete"),
        };
        assert!(r.flags.has(Flags::VER_11));
        assert!(!r.flags.has(Flags::FORCE_CLOSE) && !r.flags.has(Flags::CONN_CLOSE));
        let b = b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
        let r = match parse_response(b, &mut h, &ParseOptions::default(), Method::Get).unwrap() {
            Status::Complete(r) => r,
            Status::Incomplete => panic!("incomplete"),
        };
        assert!(r.flags.has(Flags::FORCE_CLOSE));
    }
}
