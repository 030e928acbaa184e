//! HTTP replies (HAProxy's `struct http_reply`, `http_htx.c`): what
//! `http-request return|deny|tarpit`, `http-response deny` and the
//! `http-error` proxy keyword answer with, and each proxy's table of
//! error messages per status (`errorfile`, `errorloc*`, `errorfiles`,
//! `http-error`), all compiled at start-up.
//!
//! Owns the reply grammar (`status`, `content-type`, `default-errorfiles`,
//! `errorfile`, `errorfiles`, `file`, `lf-file`, `string`, `lf-string`,
//! `hdr`), the re-emission of error files in the form HAProxy sends them,
//! and the rendering of generated replies. It must not touch streams or
//! sockets: `stream/http.rs` decides when a reply is sent and sends it.

use crate::logfmt::LogFmt;
use crate::sample::{Ctx, Dir};
use config::model::{ErrorMsg, HttpErrors, Proxy, HTTP_ERR_CODES};
use http::{ConnMode, Flags, Method, OutSide, ParseOptions};
use std::sync::Arc;

/// An error message ready to send, as it goes on the wire. Empty bytes
/// mean "say nothing and close" (an empty errorfile such as /dev/null).
#[derive(Debug, PartialEq, Eq)]
pub struct ErrMsg {
    pub bytes: Vec<u8>,
    /// The file asked for `Connection: close`: the client connection ends.
    pub closes: bool,
}

/// The payload of a generated reply.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    None,
    /// `string`/`file`: sent as is.
    Raw(Vec<u8>),
    /// `lf-string`/`lf-file`: rendered per request.
    Lf(LogFmt),
}

/// A compiled http reply.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// `default-errorfiles` (and `deny` without a payload): whatever the
    /// proxies hold for this status, else HAProxy's built-in page.
    Default(u16),
    /// An error file (`errorfile`, an http-errors section, `errorloc`).
    Msg(u16, Arc<ErrMsg>),
    /// Built from its parts; without payload it is an empty response.
    Gen {
        status: u16,
        ctype: Option<Vec<u8>>,
        hdrs: Vec<(Vec<u8>, LogFmt)>,
        body: Body,
    },
}

/// Why a reply was refused: a parse error is reported against the rule
/// line; a check error (an unknown http-errors section) is reported the
/// way HAProxy reports it after parsing.
#[derive(Debug, PartialEq, Eq)]
pub enum ReplyError {
    Parse(String),
    Check(String),
}

/// A parsed reply and how many arguments it used.
pub struct Parsed {
    pub reply: Reply,
    pub used: usize,
    /// `errorfiles <name>` whose section has no message for the status
    /// (the reply is then an empty response; `http-error` keeps the
    /// proxy's previous message instead).
    pub missing_in_section: bool,
}

enum Kind {
    Empty,
    Errfiles(String),
    DefaultErr,
    ErrFile(Vec<u8>),
    Raw(Vec<u8>),
    Lf(String),
}

impl Reply {
    pub fn status(&self) -> u16 {
        match self {
            Reply::Default(s) | Reply::Msg(s, _) => *s,
            Reply::Gen { status, .. } => *status,
        }
    }

    /// Parses reply options from `args` (stopping at the first word that
    /// is not one), as HAProxy's `http_parse_http_reply`.
    pub fn parse(
        args: &[String],
        default_status: u16,
        dir: Dir,
        sections: &[HttpErrors],
    ) -> Result<Parsed, ReplyError> {
        let perr = |s: String| ReplyError::Parse(s);
        let mut status = default_status as i64;
        let mut ctype: Option<Vec<u8>> = None;
        let mut kind = Kind::Empty;
        let mut act_arg = "";
        let mut hdrs = Vec::new();
        let mut i = 0;
        let val = |i: usize| args.get(i).map(|s| s.as_str()).filter(|s| !s.is_empty());
        while i < args.len() {
            let w = args[i].as_str();
            let payload_kw = matches!(
                w,
                "errorfiles" | "default-errorfiles" | "errorfile" | "file" | "string" | "lf-file" | "lf-string"
            );
            if payload_kw {
                if !matches!(kind, Kind::Empty) {
                    return Err(perr(format!("unexpected '{w}' argument, '{act_arg}' already defined")));
                }
                act_arg = w;
            }
            match w {
                "status" => {
                    let v = val(i + 1).ok_or_else(|| perr(format!("'{w}' expects <status_code> as argument")))?;
                    status = config::units::atol(v);
                    if !(200..=599).contains(&status) {
                        return Err(perr(format!("Unexpected status code '{status}'")));
                    }
                    i += 2;
                }
                "content-type" => {
                    let v = val(i + 1).ok_or_else(|| perr(format!("'{w}' expects <ctype> as argument")))?;
                    ctype = Some(v.as_bytes().to_vec());
                    i += 2;
                }
                "errorfiles" => {
                    let v = val(i + 1).ok_or_else(|| perr(format!("'{w}' expects <name> as argument")))?;
                    kind = Kind::Errfiles(v.to_string());
                    i += 2;
                }
                "default-errorfiles" => {
                    kind = Kind::DefaultErr;
                    i += 1;
                }
                "errorfile" => {
                    let v = val(i + 1).ok_or_else(|| perr(format!("'{w}' expects <fmt> as argument")))?;
                    let raw = std::fs::read(v).map_err(|_| perr(format!("error opening file '{v}'.")))?;
                    if !raw.is_empty() {
                        http::errors::parse_errorfile(&raw).map_err(|e| perr(format!("'{v}': {e}")))?;
                    }
                    kind = Kind::ErrFile(raw);
                    i += 2;
                }
                "file" | "lf-file" => {
                    let v = val(i + 1).ok_or_else(|| perr(format!("'{w}' expects <file> as argument")))?;
                    let raw = std::fs::read(v).map_err(|_| perr(format!("error opening file '{v}'")))?;
                    kind = if w == "file" {
                        Kind::Raw(raw)
                    } else {
                        Kind::Lf(String::from_utf8_lossy(&raw).into_owned())
                    };
                    i += 2;
                }
                "string" | "lf-string" => {
                    let what = if w == "string" { "<str>" } else { "<fmt>" };
                    let v = val(i + 1).ok_or_else(|| perr(format!("'{w}' expects {what} as argument")))?;
                    kind = if w == "string" {
                        Kind::Raw(v.as_bytes().to_vec())
                    } else {
                        Kind::Lf(v.to_string())
                    };
                    i += 2;
                }
                "hdr" => {
                    let (Some(n), Some(v)) = (val(i + 1), val(i + 2)) else {
                        return Err(perr(format!("'{w}' expects <name> and <value> as arguments")));
                    };
                    i += 3;
                    if ["content-length", "transfer-encoding", "content-type"]
                        .iter()
                        .any(|h| n.eq_ignore_ascii_case(h))
                    {
                        // HAProxy warns and always ignores these.
                        continue;
                    }
                    let f = LogFmt::parse(v, dir).map_err(perr)?;
                    hdrs.push((n.to_ascii_lowercase().into_bytes(), f));
                }
                _ => break,
            }
        }
        let status = status as u16;
        let mut missing_in_section = false;
        let reply = match kind {
            Kind::Empty => Reply::Gen {
                status,
                ctype: None,
                hdrs,
                body: Body::None,
            },
            Kind::Errfiles(_) | Kind::DefaultErr if !HTTP_ERR_CODES.contains(&status) => {
                return Err(perr(format!(
                    "status code '{status}' not handled by default with '{act_arg}' argument."
                )))
            }
            Kind::DefaultErr => Reply::Default(status),
            Kind::ErrFile(raw) => Reply::Msg(status, Arc::new(prepare_errorfile(&raw).map_err(perr)?)),
            Kind::Errfiles(name) => {
                let sec = sections.iter().find(|s| s.name == name).ok_or_else(|| {
                    ReplyError::Check(format!(
                        "unknown http-errors section '{name}' referenced by an http reply "
                    ))
                })?;
                match section_msg(sec, status) {
                    Some(m) => Reply::Msg(status, m),
                    None => {
                        missing_in_section = true;
                        Reply::Gen {
                            status,
                            ctype: None,
                            hdrs: Vec::new(),
                            body: Body::None,
                        }
                    }
                }
            }
            Kind::Raw(obj) => {
                if (status == 204 || status == 304) && !obj.is_empty() {
                    return Err(perr(format!("No body expected for {status} responses")));
                }
                if ctype.is_none() && !obj.is_empty() {
                    return Err(perr(
                        "a content type must be defined when non-empty payload is configured".into(),
                    ));
                }
                Reply::Gen {
                    status,
                    ctype: ctype.filter(|_| !obj.is_empty()),
                    hdrs,
                    body: Body::Raw(obj),
                }
            }
            Kind::Lf(text) => {
                if status == 204 || status == 304 {
                    return Err(perr(format!("No body expected for {status} responses")));
                }
                if ctype.is_none() {
                    return Err(perr("a content type must be defined with a log-format payload".into()));
                }
                Reply::Gen {
                    status,
                    ctype,
                    hdrs,
                    body: Body::Lf(LogFmt::parse(&text, dir).map_err(perr)?),
                }
            }
        };
        Ok(Parsed {
            reply,
            used: i,
            missing_in_section,
        })
    }

    /// Renders a generated reply (`Gen`) as HAProxy sends it: status line,
    /// the `hdr` headers with a non-empty value, content-length, then
    /// content-type when there is a payload. Other kinds render nothing.
    pub fn render(&self, cx: &mut Ctx<'_>, out: &mut Vec<u8>) {
        let Reply::Gen {
            status,
            ctype,
            hdrs,
            body,
        } = self
        else {
            return;
        };
        let status = *status;
        out.extend_from_slice(b"HTTP/1.1 ");
        out.extend_from_slice(status.to_string().as_bytes());
        out.push(b' ');
        out.extend_from_slice(crate::http_act::reason(status).as_bytes());
        out.extend_from_slice(b"\r\n");
        for (n, f) in hdrs {
            let start = out.len();
            out.extend_from_slice(n);
            out.extend_from_slice(b": ");
            let vstart = out.len();
            f.render(cx, out);
            if out.len() == vstart {
                out.truncate(start);
                continue;
            }
            out.extend_from_slice(b"\r\n");
        }
        // The payload goes after the head: render it aside first.
        let mut lf_body = Vec::new();
        let payload: &[u8] = match body {
            Body::None => b"",
            Body::Raw(b) => b,
            Body::Lf(f) => {
                f.render(cx, &mut lf_body);
                &lf_body
            }
        };
        if !(status < 200 || status == 204 || status == 304) {
            out.extend_from_slice(b"content-length: ");
            out.extend_from_slice(payload.len().to_string().as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        if let Some(t) = ctype.as_ref().filter(|_| !payload.is_empty()) {
            out.extend_from_slice(b"content-type: ");
            out.extend_from_slice(t);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(payload);
    }
}

/// Re-emits an error file the way HAProxy does after loading it into its
/// internal representation: header names lower-cased, `Connection`
/// dropped and re-added last as `connection: close` when the file asked
/// for it (the client connection then closes). An empty file is an empty
/// message.
pub fn prepare_errorfile(content: &[u8]) -> Result<ErrMsg, String> {
    if content.is_empty() {
        return Ok(ErrMsg {
            bytes: Vec::new(),
            closes: true,
        });
    }
    http::errors::parse_errorfile(content).map_err(|e| e.to_string())?;
    let mut hdrs = Vec::with_capacity(16);
    let opts = ParseOptions {
        accept_invalid: true,
        max_head_len: usize::MAX,
        ..ParseOptions::default()
    };
    let head = match http::parse_response(content, &mut hdrs, &opts, Method::Get) {
        Ok(http::Status::Complete(h)) => h,
        _ => return Err("unable to parse headers".into()),
    };
    let closes = head.flags.has(Flags::CONN_CLOSE);
    let side = OutSide {
        added: &http::NO_ADDED,
        conn: if closes { ConnMode::Close } else { ConnMode::KeepAlive },
        req_ver11: true,
        forward_for: None,
        original_to: None,
    };
    let mut out = vec![0u8; content.len() + 64];
    let n = http::write_response_head(content, &head, &hdrs, &side, &mut out)
        .map_err(|_| "error file too large".to_string())?;
    out.truncate(n);
    out.extend_from_slice(&content[head.len..]);
    Ok(ErrMsg { bytes: out, closes })
}

/// `errorloc302`/`errorloc303`: the redirect HAProxy builds, in its sent
/// form.
fn location_msg(code: u16, url: &str) -> ErrMsg {
    let reason = if code == 303 { "See Other" } else { "Found" };
    ErrMsg {
        bytes: format!(
            "HTTP/1.1 {code} {reason}\r\ncache-control: no-cache\r\ncontent-length: 0\r\nlocation: {url}\r\n\r\n"
        )
        .into_bytes(),
        closes: false,
    }
}

/// A section's message for `code`, if it declares one.
fn section_msg(sec: &HttpErrors, code: u16) -> Option<Arc<ErrMsg>> {
    let (_, _, content) = sec.files.iter().rev().find(|(c, _, _)| *c == code)?;
    prepare_errorfile(content).ok().map(Arc::new)
}

/// One proxy's own error messages per status (HAProxy's `px->replies`):
/// a status without an entry falls back to the other proxy of the stream,
/// then to the built-in page.
#[derive(Debug, Default)]
pub struct ProxyReplies {
    slots: Vec<(u16, Reply)>,
}

impl ProxyReplies {
    /// Applies a proxy's `errorfile`/`errorloc`/`errorfiles`/`http-error`
    /// directives in order (later ones win, as in HAProxy).
    pub fn build(p: &Proxy, sections: &[HttpErrors]) -> Result<ProxyReplies, String> {
        let mut r = ProxyReplies::default();
        for (code, m, loc) in &p.errors {
            match m {
                ErrorMsg::File { content, .. } => {
                    if let Ok(msg) = prepare_errorfile(content) {
                        r.set(*code, Some(Reply::Msg(*code, Arc::new(msg))));
                    }
                }
                ErrorMsg::Location { code: rc, url } => {
                    r.set(*code, Some(Reply::Msg(*code, Arc::new(location_msg(*rc, url)))));
                }
                ErrorMsg::Section { name } => {
                    let Some(sec) = sections.iter().find(|s| &s.name == name) else {
                        return Err(format!(
                            "proxy '{}': unknown http-errors section '{name}' (at {loc}).",
                            p.name
                        ));
                    };
                    let codes: Vec<u16> = if *code == 0 {
                        sec.files.iter().map(|(c, _, _)| *c).collect()
                    } else {
                        vec![*code]
                    };
                    for c in codes {
                        if let Some(msg) = section_msg(sec, c) {
                            r.set(c, Some(Reply::Msg(c, msg)));
                        }
                    }
                }
                ErrorMsg::Reply { words } => {
                    // Fetches of both directions are allowed here.
                    let parsed = Reply::parse(words, 0, Dir::Req, sections).map_err(|e| match e {
                        ReplyError::Parse(m) => format!("parsing [{loc}] : http-error : {m}"),
                        ReplyError::Check(m) => format!("Proxy '{}': {m}.", p.name),
                    })?;
                    if let Some(w) = words.get(parsed.used) {
                        return Err(format!("parsing [{loc}] : http-error : unknown keyword '{w}'."));
                    }
                    match parsed.reply {
                        _ if parsed.missing_in_section => {}
                        // For a proxy, relying on the defaults is having
                        // no message of its own.
                        Reply::Default(_) => r.set(*code, None),
                        rep => r.set(*code, Some(rep)),
                    }
                }
            }
        }
        Ok(r)
    }

    fn set(&mut self, code: u16, rep: Option<Reply>) {
        self.slots.retain(|(c, _)| *c != code);
        if let Some(rep) = rep {
            self.slots.push((code, rep));
        }
    }

    /// This proxy's own message for `code`.
    pub fn get(&self, code: u16) -> Option<&Reply> {
        self.slots.iter().find(|(c, _)| *c == code).map(|(_, r)| r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::tests::with_req;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    fn parse(s: &str) -> Result<Parsed, ReplyError> {
        let sec = HttpErrors {
            name: "e1".into(),
            files: vec![(
                404,
                "f".into(),
                b"HTTP/1.1 404 Not Found\r\nX-A: 1\r\nConnection: close\r\n\r\n".to_vec(),
            )],
            ..Default::default()
        };
        Reply::parse(&words(s), 403, Dir::Req, &[sec])
    }

    fn render(r: &Reply) -> String {
        let mut out = Vec::new();
        with_req(b"GET /p HTTP/1.1\r\nHost: h\r\n\r\n", |cx| r.render(cx, &mut out));
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn grammar_and_rendering() {
        // No payload: an empty response of the status.
        let p = parse("status 400 hdr x-e %[req.hdr(none)] hdr x-p %[path] if x").unwrap();
        assert_eq!(p.used, 8);
        assert_eq!(
            render(&p.reply),
            "HTTP/1.1 400 Bad Request\r\nx-p: /p\r\ncontent-length: 0\r\n\r\n"
        );
        let p = parse("content-type text/plain lf-string p=%[path] hdr Content-Length 3").unwrap();
        assert_eq!(
            render(&p.reply),
            "HTTP/1.1 403 Forbidden\r\ncontent-length: 4\r\ncontent-type: text/plain\r\n\r\np=/p"
        );
        assert_eq!(parse("default-errorfiles").unwrap().reply, Reply::Default(403));
        let p = parse("status 404 errorfiles e1").unwrap();
        match &p.reply {
            Reply::Msg(404, m) => {
                assert_eq!(
                    m.bytes,
                    b"HTTP/1.1 404 Not Found\r\nx-a: 1\r\nconnection: close\r\n\r\n"
                );
                assert!(m.closes);
            }
            r => panic!("{r:?}"),
        }
        let p = parse("status 405 errorfiles e1").unwrap();
        assert!(p.missing_in_section);
        assert_eq!(
            render(&p.reply),
            "HTTP/1.1 405 Method Not Allowed\r\ncontent-length: 0\r\n\r\n"
        );
    }

    #[test]
    fn haproxy_refusals() {
        let e = |s: &str| match parse(s) {
            Err(ReplyError::Parse(m)) | Err(ReplyError::Check(m)) => m,
            Ok(_) => panic!("{s} accepted"),
        };
        assert_eq!(e("status 600"), "Unexpected status code '600'");
        assert_eq!(
            e("string abc"),
            "a content type must be defined when non-empty payload is configured"
        );
        assert_eq!(
            e("content-type x lf-string abc errorfile /dev/null"),
            "unexpected 'errorfile' argument, 'lf-string' already defined"
        );
        assert_eq!(
            e("status 418 default-errorfiles"),
            "status code '418' not handled by default with 'default-errorfiles' argument."
        );
        assert_eq!(
            e("errorfiles nope"),
            "unknown http-errors section 'nope' referenced by an http reply "
        );
        assert_eq!(e("hdr x-a"), "'hdr' expects <name> and <value> as arguments");
        assert!(parse("status 418 content-type t string x").is_ok());
    }

    #[test]
    fn proxy_tables_follow_declaration_order() {
        let sec = HttpErrors {
            name: "e1".into(),
            files: vec![(404, "f".into(), b"HTTP/1.1 404 Not Found\r\n\r\n".to_vec())],
            ..Default::default()
        };
        let mut p = Proxy::default();
        let loc = config::model::Loc::default();
        let file = |b: &[u8]| ErrorMsg::File {
            path: "x".into(),
            content: b.to_vec(),
        };
        p.errors.push((400, file(b"HTTP/1.1 400 Bad\r\n\r\n"), loc.clone()));
        p.errors.push((
            400,
            ErrorMsg::Reply {
                words: words("status 400"),
            },
            loc.clone(),
        ));
        p.errors.push((403, file(b""), loc.clone()));
        p.errors.push((
            403,
            ErrorMsg::Reply {
                words: words("status 403 default-errorfiles"),
            },
            loc.clone(),
        ));
        p.errors.push((0, ErrorMsg::Section { name: "e1".into() }, loc.clone()));
        p.errors.push((
            404,
            ErrorMsg::Reply {
                words: words("status 404 errorfiles e1"),
            },
            loc.clone(),
        ));
        let r = ProxyReplies::build(&p, std::slice::from_ref(&sec)).unwrap();
        assert_eq!(
            render(r.get(400).unwrap()),
            "HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n"
        );
        assert!(r.get(403).is_none());
        assert!(matches!(r.get(404), Some(Reply::Msg(404, _))));
        p.errors.push((0, ErrorMsg::Section { name: "nope".into() }, loc));
        assert!(ProxyReplies::build(&p, &[sec])
            .unwrap_err()
            .contains("unknown http-errors section 'nope'"));
    }
}
