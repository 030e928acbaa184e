//! Head serialisation for forwarding: re-emits a parsed head the way
//! HAProxy 2.6's H1 output does after its HTX round trip.
//!
//! Owns the output form: single spaces in the start line, lower-case header
//! names, values trimmed and obs-folds flattened, `close`/`keep-alive`
//! tokens removed from `Connection`, the `connection:` header HAProxy adds
//! for the chosen connection mode, X-Forwarded-For insertion, and
//! default-port normalisation of absolute-form targets and Host. It writes
//! into a caller buffer and fails with [`NeedsRoom`] rather than
//! allocating. It must not choose the connection mode (the proxy does) nor
//! frame bodies (see `body`).

use crate::added::AddedHdrs;
use crate::chars::{connection_value, eq_ignore_case, is_lws, list_items};
use crate::head::{Flags, Header, HeaderKind, RequestHead, ResponseHead, Span};

/// The head did not fit in the output buffer (HAProxy answers 400 or 502
/// when its rewrite reserve is exhausted).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NeedsRoom;

/// What the connection on the emitting side does after this message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnMode {
    KeepAlive,
    Close,
}

/// `option forwardfor [header <name>] [if-none]`; `except` is the proxy's
/// decision (pass None).
#[derive(Clone, Copy, Debug)]
pub struct ForwardFor<'a> {
    /// Header name as it should appear (HAProxy emits it lower-case).
    pub header: &'a [u8],
    /// The client address, already formatted.
    pub value: &'a [u8],
    pub if_none: bool,
}

/// Emitting-side settings for one message.
#[derive(Clone, Copy, Debug)]
pub struct OutSide<'a> {
    pub conn: ConnMode,
    /// For responses: whether the request was HTTP/1.1 (a 1.0 client needs
    /// an explicit keep-alive).
    pub req_ver11: bool,
    pub forward_for: Option<ForwardFor<'a>>,
    /// `option originalto`: (header name, formatted address), written
    /// after X-Forwarded-For as HAProxy appends it.
    pub original_to: Option<(&'a [u8], &'a [u8])>,
    /// Headers added by rules: after the parsed ones, before the
    /// X-Forwarded-For and connection headers, where HAProxy's output has
    /// them (names lower-cased like every other).
    pub added: &'a AddedHdrs,
}

struct W<'a> {
    out: &'a mut [u8],
    n: usize,
}

impl W<'_> {
    #[inline]
    fn put(&mut self, b: &[u8]) -> Result<(), NeedsRoom> {
        let end = self.n + b.len();
        self.out.get_mut(self.n..end).ok_or(NeedsRoom)?.copy_from_slice(b);
        self.n = end;
        Ok(())
    }
    fn put_lower(&mut self, b: &[u8]) -> Result<(), NeedsRoom> {
        let end = self.n + b.len();
        let dst = self.out.get_mut(self.n..end).ok_or(NeedsRoom)?;
        for (d, s) in dst.iter_mut().zip(b) {
            *d = s.to_ascii_lowercase();
        }
        self.n = end;
        Ok(())
    }
    /// Obs-fold line breaks read as spaces, as HAProxy rewrites them.
    fn put_value(&mut self, b: &[u8], folded: bool) -> Result<(), NeedsRoom> {
        if !folded {
            return self.put(b);
        }
        let end = self.n + b.len();
        let dst = self.out.get_mut(self.n..end).ok_or(NeedsRoom)?;
        for (d, &s) in dst.iter_mut().zip(b) {
            *d = if s == b'\r' || s == b'\n' { b' ' } else { s };
        }
        self.n = end;
        Ok(())
    }
}

fn write_headers(
    w: &mut W<'_>,
    buf: &[u8],
    headers: &[Header],
    skip_framing: bool,
    request: bool,
) -> Result<(), NeedsRoom> {
    for h in headers {
        let v = h.value.get(buf);
        match h.kind {
            HeaderKind::ContentLength | HeaderKind::TransferEncoding if skip_framing => continue,
            HeaderKind::Connection => {
                // Only the hop-by-hop tokens other than close/keep-alive
                // travel, in HAProxy's way (verbatim unless one was removed).
                let mut empty = true;
                connection_value(v, |_| empty = false);
                if empty {
                    continue;
                }
                w.put_lower(h.name.get(buf))?;
                w.put(b": ")?;
                let mut res = Ok(());
                connection_value(v, |p| {
                    if res.is_ok() {
                        res = w.put_value(p, h.folded);
                    }
                });
                res?;
                w.put(b"\r\n")?;
                continue;
            }
            // A request's TE only keeps a bare "trailers" (HAProxy drops
            // the codings and anything with parameters, reg-test
            // http_transfer_encoding); without it the header goes.
            HeaderKind::Other if request && eq_ignore_case(h.name.get(buf), b"te") => {
                if list_items(v).any(|t| eq_ignore_case(t, b"trailers")) {
                    w.put(b"te: trailers\r\n")?;
                }
                continue;
            }
            // A list of equal values ("3, 3") was validated by the parser:
            // emit the single value, as HAProxy does.
            HeaderKind::ContentLength => {
                w.put(b"content-length: ")?;
                let v = v.iter().position(|c| !is_lws(*c)).map_or(v, |i| &v[i..]);
                let end = v.iter().position(|c| !c.is_ascii_digit()).unwrap_or(v.len());
                w.put(&v[..end])?;
                w.put(b"\r\n")?;
                continue;
            }
            _ => {}
        }
        w.put_lower(h.name.get(buf))?;
        w.put(b": ")?;
        w.put_value(v, h.folded)?;
        w.put(b"\r\n")?;
    }
    Ok(())
}

fn write_added(w: &mut W<'_>, added: &AddedHdrs) -> Result<(), NeedsRoom> {
    for (n, v) in added.iter() {
        w.put_lower(n)?;
        w.put(b": ")?;
        w.put(v)?;
        w.put(b"\r\n")?;
    }
    Ok(())
}

fn write_xff(
    w: &mut W<'_>,
    buf: &[u8],
    headers: &[Header],
    added: &AddedHdrs,
    ff: &Option<ForwardFor<'_>>,
) -> Result<(), NeedsRoom> {
    if let Some(ff) = ff {
        let present = headers.iter().any(|h| eq_ignore_case(h.name.get(buf), ff.header))
            || added.iter().any(|(n, _)| eq_ignore_case(n, ff.header));
        if !(ff.if_none && present) {
            w.put_lower(ff.header)?;
            w.put(b": ")?;
            w.put(ff.value)?;
            w.put(b"\r\n")?;
        }
    }
    Ok(())
}

/// Serialises a request head parsed from `buf` into `out`; returns the
/// length written.
pub fn write_request_head(
    buf: &[u8],
    head: &RequestHead,
    headers: &[Header],
    side: &OutSide<'_>,
    out: &mut [u8],
) -> Result<usize, NeedsRoom> {
    let mut w = W { out, n: 0 };
    w.put(head.method.get(buf))?;
    w.put(b" ")?;
    // Default ports were already dropped from the target and Host by
    // `head::normalize_target`, where HAProxy does it (at parsing).
    w.put(head.uri.get(buf))?;
    w.put(b" ")?;
    let ver11 = head.flags.has(Flags::VER_11);
    if head.flags.has(Flags::HTTP09) {
        w.put(b"HTTP/1.0")?;
    } else if ver11 {
        // Anything above 1.1 (HTTP/1.2, HTTP/3.0 on an H1 line) goes out as
        // HTTP/1.1, the highest version HAProxy's H1 output speaks.
        w.put(b"HTTP/1.1")?;
    } else {
        w.put(head.version.get(buf))?;
    }
    w.put(b"\r\n")?;
    write_headers(&mut w, buf, headers, false, true)?;
    write_added(&mut w, side.added)?;
    write_xff(&mut w, buf, headers, side.added, &side.forward_for)?;
    if let Some((name, value)) = side.original_to {
        w.put_lower(name)?;
        w.put(b": ")?;
        w.put(value)?;
        w.put(b"\r\n")?;
    }
    match side.conn {
        ConnMode::Close if ver11 => w.put(b"connection: close\r\n")?,
        ConnMode::KeepAlive if !ver11 => w.put(b"connection: keep-alive\r\n")?,
        _ => {}
    }
    w.put(b"\r\n")?;
    Ok(w.n)
}

/// Serialises a response head parsed from `buf` into `out`.
pub fn write_response_head(
    buf: &[u8],
    head: &ResponseHead,
    headers: &[Header],
    side: &OutSide<'_>,
    out: &mut [u8],
) -> Result<usize, NeedsRoom> {
    let mut w = W { out, n: 0 };
    w.put(head.version.get(buf))?;
    w.put(b" ")?;
    w.put(head.status_span.get(buf))?;
    w.put(b" ")?;
    w.put(head.reason.get(buf))?;
    w.put(b"\r\n")?;
    // 1xx and 204 never carry framing headers on output.
    let skip = head.status < 200 || head.status == 204;
    write_headers(&mut w, buf, headers, skip, false)?;
    write_added(&mut w, side.added)?;
    write_xff(&mut w, buf, headers, side.added, &side.forward_for)?;
    let ver11 = head.flags.has(Flags::VER_11);
    if !head.is_interim() {
        match side.conn {
            ConnMode::Close if ver11 => w.put(b"connection: close\r\n")?,
            ConnMode::KeepAlive if !ver11 || !side.req_ver11 => w.put(b"connection: keep-alive\r\n")?,
            _ => {}
        }
    }
    w.put(b"\r\n")?;
    Ok(w.n)
}

/// Span helper for callers building heads by hand in tests.
pub fn span(start: usize, len: usize) -> Span {
    Span {
        off: start as u32,
        len: len as u32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::head::{parse_request, parse_response, Method, ParseOptions, Status};

    /// Parses and normalises as the proxy does, then serialises.
    fn fwd_req(input: &[u8], side: OutSide<'_>) -> Vec<u8> {
        let mut h = Vec::new();
        let mut r = match parse_request(input, &mut h, &ParseOptions::default()).unwrap() {
            Status::Complete(r) => r,
            Status::Incomplete => panic!("incomplete"),
        };
        let mut input = input.to_vec();
        crate::head::normalize_target(&mut input, &mut r, &mut h);
        let mut out = [0u8; 4096];
        let n = write_request_head(&input, &r, &h, &side, &mut out).unwrap();
        out[..n].to_vec()
    }

    const KA: OutSide<'static> = OutSide {
        added: &crate::NO_ADDED,
        conn: ConnMode::KeepAlive,
        req_ver11: true,
        forward_for: None,
        original_to: None,
    };

    #[test]
    fn versions_above_11_and_cl_lists_are_normalised() {
        let o = fwd_req(b"GET / HTTP/1.2\r\nHost: a\r\n\r\n", KA);
        assert_eq!(o, b"GET / HTTP/1.1\r\nhost: a\r\n\r\n");
        let o = fwd_req(b"POST / HTTP/1.1\r\nContent-Length: 3, 3\r\n\r\n", KA);
        assert_eq!(o, b"POST / HTTP/1.1\r\ncontent-length: 3\r\n\r\n");
    }

    #[test]
    fn request_te_keeps_only_bare_trailers() {
        let o = fwd_req(b"GET / HTTP/1.1\r\nTE: trailers, gzip\r\n\r\n", KA);
        assert_eq!(o, b"GET / HTTP/1.1\r\nte: trailers\r\n\r\n");
        for v in [&b"gzip"[..], b"trailers;q=0.5"] {
            let mut m = b"GET / HTTP/1.1\r\nTE: ".to_vec();
            m.extend_from_slice(v);
            m.extend_from_slice(b"\r\n\r\n");
            assert_eq!(fwd_req(&m, KA), b"GET / HTTP/1.1\r\n\r\n", "{:?}", v);
        }
    }

    #[test]
    fn lowercases_and_single_spaces() {
        let o = fwd_req(b"GET  /  HTTP/1.1\r\nHOST: a\r\nX-Mixed: V  \r\n\r\n", KA);
        assert_eq!(o, b"GET / HTTP/1.1\r\nhost: a\r\nx-mixed: V\r\n\r\n");
    }

    #[test]
    fn connection_tokens_and_modes() {
        let o = fwd_req(b"GET / HTTP/1.1\r\nConnection: keep-alive, X-Foo\r\n\r\n", KA);
        assert_eq!(o, b"GET / HTTP/1.1\r\nconnection: X-Foo\r\n\r\n");
        let o = fwd_req(b"GET / HTTP/1.0\r\n\r\n", KA);
        assert_eq!(o, b"GET / HTTP/1.0\r\nconnection: keep-alive\r\n\r\n");
        let close = OutSide {
            added: &crate::NO_ADDED,
            conn: ConnMode::Close,
            ..KA
        };
        let o = fwd_req(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n", close);
        assert_eq!(o, b"GET / HTTP/1.1\r\nconnection: close\r\n\r\n");
    }

    #[test]
    fn absolute_default_port_and_fold() {
        let o = fwd_req(b"GET http://a:80/x HTTP/1.1\r\nHost: a:80\r\nX-A: b\r\n c\r\n\r\n", KA);
        assert_eq!(o, b"GET http://a/x HTTP/1.1\r\nhost: a\r\nx-a: b   c\r\n\r\n");
        let o = fwd_req(b"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", KA);
        assert_eq!(o, b"CONNECT a:443 HTTP/1.1\r\nhost: a\r\n\r\n");
        // What HAProxy 2.6.12 sends for these (checked on loopback): an
        // empty port goes too, userinfo stays in the target only, and a
        // target without port leaves Host alone.
        let o = fwd_req(b"GET http://a:/x HTTP/1.1\r\nHost: a\r\n\r\n", KA);
        assert_eq!(o, b"GET http://a/x HTTP/1.1\r\nhost: a\r\n\r\n");
        let o = fwd_req(b"GET http://u:p@a:80/x HTTP/1.1\r\nHost: a:80\r\n\r\n", KA);
        assert_eq!(o, b"GET http://u:p@a/x HTTP/1.1\r\nhost: a\r\n\r\n");
        let o = fwd_req(b"GET http://a/x HTTP/1.1\r\nHost: a:80\r\n\r\n", KA);
        assert_eq!(o, b"GET http://a/x HTTP/1.1\r\nhost: a:80\r\n\r\n");
        let o = fwd_req(b"GET HTTP://A:80 HTTP/1.1\r\nHost: a:80\r\n\r\n", KA);
        assert_eq!(o, b"GET HTTP://A HTTP/1.1\r\nhost: A\r\n\r\n");
        let o = fwd_req(b"GET https://a:80/x HTTP/1.1\r\nHost: a:80\r\n\r\n", KA);
        assert_eq!(o, b"GET https://a:80/x HTTP/1.1\r\nhost: a:80\r\n\r\n");
    }

    #[test]
    fn added_headers_before_xff_and_connection() {
        let mut added = AddedHdrs::new();
        added.push(b"X-Proto", b"https");
        let ff = ForwardFor {
            header: b"x-forwarded-for",
            value: b"127.0.0.1",
            if_none: false,
        };
        let side = OutSide {
            added: &added,
            forward_for: Some(ff),
            original_to: None,
            conn: ConnMode::Close,
            ..KA
        };
        // HAProxy 2.6.12's order: parsed, rule-added, X-Forwarded-For,
        // connection.
        let o = fwd_req(b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n", side);
        assert_eq!(
            o,
            b"GET /a HTTP/1.1\r\nhost: h\r\nx-proto: https\r\nx-forwarded-for: 127.0.0.1\r\nconnection: close\r\n\r\n"
        );
        // if-none sees a header a rule added.
        let mut added = AddedHdrs::new();
        added.push(b"x-forwarded-for", b"1.1.1.1");
        let side = OutSide {
            added: &added,
            forward_for: Some(ForwardFor { if_none: true, ..ff }),
            original_to: None,
            ..KA
        };
        let o = fwd_req(b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n", side);
        assert_eq!(o, b"GET /a HTTP/1.1\r\nhost: h\r\nx-forwarded-for: 1.1.1.1\r\n\r\n");
    }

    #[test]
    fn forwardfor() {
        let ff = ForwardFor {
            header: b"x-forwarded-for",
            value: b"127.0.0.1",
            if_none: false,
        };
        let o = fwd_req(
            b"GET / HTTP/1.1\r\nX-Forwarded-For: 1.2.3.4\r\n\r\n",
            OutSide {
                added: &crate::NO_ADDED,
                forward_for: Some(ff),
                original_to: None,
                ..KA
            },
        );
        assert_eq!(
            o,
            b"GET / HTTP/1.1\r\nx-forwarded-for: 1.2.3.4\r\nx-forwarded-for: 127.0.0.1\r\n\r\n"
        );
        let ff = ForwardFor { if_none: true, ..ff };
        let o = fwd_req(
            b"GET / HTTP/1.1\r\nX-Forwarded-For: 1.2.3.4\r\n\r\n",
            OutSide {
                added: &crate::NO_ADDED,
                forward_for: Some(ff),
                original_to: None,
                ..KA
            },
        );
        assert_eq!(o, b"GET / HTTP/1.1\r\nx-forwarded-for: 1.2.3.4\r\n\r\n");
    }

    #[test]
    fn needs_room() {
        let input = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
        let mut h = Vec::new();
        let Status::Complete(r) = parse_request(input, &mut h, &ParseOptions::default()).unwrap() else {
            panic!()
        };
        for len in 0..27 {
            let mut out = vec![0u8; len];
            assert_eq!(
                write_request_head(input, &r, &h, &KA, &mut out),
                Err(NeedsRoom),
                "{}",
                len
            );
        }
    }

    #[test]
    fn responses() {
        let rsp = |input: &[u8], m: Method, side: OutSide<'_>| {
            let mut h = Vec::new();
            let Status::Complete(r) = parse_response(input, &mut h, &ParseOptions::default(), m).unwrap() else {
                panic!()
            };
            let mut out = [0u8; 1024];
            let n = write_response_head(input, &r, &h, &side, &mut out).unwrap();
            out[..n].to_vec()
        };
        assert_eq!(
            rsp(b"HTTP/1.1 200\r\nContent-Length: 2\r\n\r\n", Method::Get, KA),
            b"HTTP/1.1 200 \r\ncontent-length: 2\r\n\r\n"
        );
        assert_eq!(
            rsp(b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n", Method::Get, KA),
            b"HTTP/1.1 204 No Content\r\n\r\n"
        );
        assert_eq!(
            rsp(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n", Method::Get, KA),
            b"HTTP/1.0 200 OK\r\ncontent-length: 2\r\nconnection: keep-alive\r\n\r\n"
        );
        let close = OutSide {
            added: &crate::NO_ADDED,
            conn: ConnMode::Close,
            ..KA
        };
        assert_eq!(
            rsp(b"HTTP/1.1 200 OK\r\n\r\n", Method::Get, close),
            b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n"
        );
    }
}
