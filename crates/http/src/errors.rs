//! HAProxy 2.6's built-in replies (the `http_err_msgs` table as it appears
//! on the wire) and validation of user `errorfile` contents.
//!
//! Owns the exact bytes of the default error pages in both wire forms HAProxy
//! produces, and the errorfile acceptance rules. It must not read files (the
//! caller passes the contents) nor decide which status to send.
//!
//! Two forms exist because HAProxy sends them through two paths: errors the
//! H1 layer detects itself (unparsable request, 422, 413...) go out as the
//! raw table text, mixed-case names and all; replies produced by the stream
//! (deny, 502/503/504, monitor) go through HTX and the H1 output, which
//! lower-cases names and moves `connection: close` after the others.

use crate::head::{parse_response, BodyFraming, Method, ParseOptions, Status};

struct Page {
    code: u16,
    reason: &'static str,
    text: &'static str,
    close: bool,
}

const PAGES: &[Page] = &[
    Page {
        code: 200,
        reason: "OK",
        text: "Service ready.",
        close: false,
    },
    Page {
        code: 400,
        reason: "Bad request",
        text: "Your browser sent an invalid request.",
        close: true,
    },
    Page {
        code: 401,
        reason: "Unauthorized",
        text: "You need a valid user and password to access this content.",
        close: false,
    },
    Page {
        code: 403,
        reason: "Forbidden",
        text: "Request forbidden by administrative rules.",
        close: false,
    },
    Page {
        code: 404,
        reason: "Not Found",
        text: "The resource could not be found.",
        close: false,
    },
    Page {
        code: 405,
        reason: "Method Not Allowed",
        text: "A request was made of a resource using a request method not supported by that resource",
        close: false,
    },
    Page {
        code: 407,
        reason: "Unauthorized",
        text: "You need a valid user and password to access this content.",
        close: false,
    },
    Page {
        code: 408,
        reason: "Request Time-out",
        text: "Your browser didn't send a complete request in time.",
        close: true,
    },
    Page {
        code: 410,
        reason: "Gone",
        text: "The resource is no longer available and will not be available again.",
        close: false,
    },
    Page {
        code: 413,
        reason: "Payload Too Large",
        text: "The request entity exceeds the maximum allowed.",
        close: false,
    },
    Page {
        code: 421,
        reason: "Misdirected Request",
        text: "Request sent to a non-authoritative server.",
        close: false,
    },
    Page {
        code: 422,
        reason: "Unprocessable Content",
        text: "The server cannot process the contained instructions.",
        close: false,
    },
    Page {
        code: 425,
        reason: "Too Early",
        text: "Your browser sent early data.",
        close: false,
    },
    Page {
        code: 429,
        reason: "Too Many Requests",
        text: "You have sent too many requests in a given amount of time.",
        close: false,
    },
    Page {
        code: 500,
        reason: "Internal Server Error",
        text: "An internal server error occurred.",
        close: false,
    },
    Page {
        code: 501,
        reason: "Not Implemented",
        // The leading '.' is in HAProxy's own text.
        text: ".The server does not support the functionality required to fulfill the request.",
        close: false,
    },
    Page {
        code: 502,
        reason: "Bad Gateway",
        text: "The server returned an invalid or incomplete response.",
        close: false,
    },
    Page {
        code: 503,
        reason: "Service Unavailable",
        text: "No server is available to handle this request.",
        close: false,
    },
    Page {
        code: 504,
        reason: "Gateway Time-out",
        text: "The server didn't respond in time.",
        close: false,
    },
];

fn page(code: u16) -> Option<&'static Page> {
    PAGES.iter().find(|p| p.code == code)
}

/// Statuses with a built-in page.
pub fn builtin_codes() -> impl Iterator<Item = u16> {
    PAGES.iter().map(|p| p.code)
}

struct Out<'a> {
    buf: &'a mut [u8],
    n: usize,
}

impl Out<'_> {
    fn put(&mut self, b: &[u8]) -> Option<()> {
        let end = self.n.checked_add(b.len())?;
        self.buf.get_mut(self.n..end)?.copy_from_slice(b);
        self.n = end;
        Some(())
    }
    fn num(&mut self, mut v: usize) -> Option<()> {
        let mut tmp = [0u8; 20];
        let mut i = tmp.len();
        loop {
            i -= 1;
            tmp[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        self.put(&tmp[i..])
    }
}

fn write_page(p: &Page, htx: bool, out: &mut [u8]) -> Option<usize> {
    let mut o = Out { buf: out, n: 0 };
    // Body: "<html><body><h1>CODE REASON</h1>\nTEXT\n</body></html>\n"
    let body_len = 16 + 3 + 1 + p.reason.len() + 6 + p.text.len() + 1 + 15;
    o.put(b"HTTP/1.1 ")?;
    o.num(p.code as usize)?;
    o.put(b" ")?;
    o.put(p.reason.as_bytes())?;
    if htx {
        o.put(b"\r\ncontent-length: ")?;
        o.num(body_len)?;
        o.put(b"\r\ncache-control: no-cache\r\ncontent-type: text/html\r\n")?;
        if p.close {
            o.put(b"connection: close\r\n")?;
        }
    } else {
        o.put(b"\r\nContent-length: ")?;
        o.num(body_len)?;
        o.put(b"\r\nCache-Control: no-cache\r\n")?;
        if p.close {
            o.put(b"Connection: close\r\n")?;
        }
        o.put(b"Content-Type: text/html\r\n")?;
    }
    o.put(b"\r\n<html><body><h1>")?;
    o.num(p.code as usize)?;
    o.put(b" ")?;
    o.put(p.reason.as_bytes())?;
    o.put(b"</h1>\n")?;
    o.put(p.text.as_bytes())?;
    o.put(b"\n</body></html>\n")?;
    Some(o.n)
}

/// Writes the built-in page for `code` as the H1 layer sends it for errors
/// it detects itself (raw table text). Returns the length, or None for an
/// unknown code or a too small `out` (512 bytes always suffice).
pub fn builtin_error(code: u16, out: &mut [u8]) -> Option<usize> {
    write_page(page(code)?, false, out)
}

/// Writes the built-in page for `code` as the stream sends it (through HTX:
/// lower-case names, `connection: close` last when present).
pub fn builtin_error_htx(code: u16, out: &mut [u8]) -> Option<usize> {
    write_page(page(code)?, true, out)
}

/// Whether HAProxy closes the client connection after this built-in page.
pub fn builtin_error_closes(code: u16) -> bool {
    page(code).is_some_and(|p| p.close)
}

/// A validated `errorfile`: the head ends at `head_len`, the rest is body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ErrorFile {
    pub status: u16,
    pub head_len: usize,
}

/// Why HAProxy refuses an errorfile (its messages, for the config error).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ErrorFileError {
    /// "unable to parse headers (error offset: N)" (HAProxy 2.6.12's text).
    Unparsable(isize),
    InvalidVersion,
    InvalidStatus(u16),
    ChunkedNotSupported,
    PayloadNotExpected,
    LengthMismatch {
        got: usize,
        announced: u64,
    },
}

impl std::fmt::Display for ErrorFileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ErrorFileError::Unparsable(o) => write!(f, "unable to parse headers (error offset: {})", o),
            ErrorFileError::InvalidVersion => write!(f, "invalid http version"),
            ErrorFileError::InvalidStatus(s) => {
                write!(f, "invalid http status code for an error message ({})", s)
            }
            ErrorFileError::ChunkedNotSupported => write!(f, "chunk-encoded payload not supported"),
            ErrorFileError::PayloadNotExpected => write!(f, "message payload not expected"),
            ErrorFileError::LengthMismatch { got, announced } => write!(
                f,
                "payload size does not match the announced content-length ({} != {})",
                got, announced
            ),
        }
    }
}

/// Validates an errorfile's raw contents as HAProxy does when loading it:
/// a parsable response, 8-byte version, a final (or 101) status, no
/// chunking, and a body matching Content-Length. Configuration-time only;
/// it may allocate.
pub fn parse_errorfile(raw: &[u8]) -> Result<ErrorFile, ErrorFileError> {
    let mut hdrs = Vec::new();
    // Loading is lenient on the version format; it only checks the length.
    let opts = ParseOptions {
        accept_invalid: true,
        max_head_len: usize::MAX,
        ..Default::default()
    };
    let head = match parse_response(raw, &mut hdrs, &opts, Method::Get) {
        Ok(Status::Complete(h)) => h,
        Ok(Status::Incomplete) => return Err(ErrorFileError::Unparsable(-1)),
        Err(e) => return Err(ErrorFileError::Unparsable(e.pos as isize)),
    };
    if head.version.len != 8 {
        return Err(ErrorFileError::InvalidVersion);
    }
    let s = head.status;
    if s < 200 && (s == 100 || s >= 102) {
        return Err(ErrorFileError::InvalidStatus(s));
    }
    let rest = raw.len() - head.len;
    match head.body {
        BodyFraming::Chunked => Err(ErrorFileError::ChunkedNotSupported),
        BodyFraming::None if rest > 0 => Err(ErrorFileError::PayloadNotExpected),
        BodyFraming::Length(n) if n != rest as u64 => Err(ErrorFileError::LengthMismatch {
            got: rest,
            announced: n,
        }),
        _ => Ok(ErrorFile {
            status: s,
            head_len: head.len,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_400_exact() {
        let mut b = [0u8; 512];
        let n = builtin_error(400, &mut b).unwrap();
        assert_eq!(
            &b[..n],
            &b"HTTP/1.1 400 Bad request\r\nContent-length: 90\r\nCache-Control: no-cache\r\nConnection: close\r\nContent-Type: text/html\r\n\r\n<html><body><h1>400 Bad request</h1>\nYour browser sent an invalid request.\n</body></html>\n"[..]
        );
        assert!(builtin_error_closes(400) && builtin_error_closes(408) && !builtin_error_closes(502));
    }

    #[test]
    fn content_length_matches_body_for_all() {
        let mut b = [0u8; 512];
        for code in builtin_codes() {
            for htx in [false, true] {
                let n = if htx {
                    builtin_error_htx(code, &mut b)
                } else {
                    builtin_error(code, &mut b)
                }
                .unwrap();
                let f = parse_errorfile(&b[..n]).unwrap();
                assert_eq!(f.status, code);
            }
        }
        assert!(builtin_error(400, &mut b[..50]).is_none());
        assert!(builtin_error(499, &mut b).is_none());
    }

    #[test]
    fn errorfile_rules() {
        assert!(parse_errorfile(b"HTTP/1.0 503 x\r\nContent-Length: 2\r\n\r\nok").is_ok());
        assert!(parse_errorfile(b"HTTP/1.0 503 x\r\n\r\nanything").is_ok());
        assert_eq!(
            parse_errorfile(b"HTTP/1.0 503 x\r\nContent-Length: 3\r\n\r\nok"),
            Err(ErrorFileError::LengthMismatch { got: 2, announced: 3 })
        );
        assert_eq!(
            parse_errorfile(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
            Err(ErrorFileError::ChunkedNotSupported)
        );
        assert_eq!(
            parse_errorfile(b"HTTP/1.1 100 x\r\n\r\n"),
            Err(ErrorFileError::InvalidStatus(100))
        );
        assert_eq!(
            parse_errorfile(b"HTTP/1 200 x\r\n\r\n"),
            Err(ErrorFileError::InvalidVersion)
        );
        assert_eq!(
            parse_errorfile(b"HTTP/1.1 204 x\r\n\r\nx"),
            Err(ErrorFileError::PayloadNotExpected)
        );
        assert!(matches!(
            parse_errorfile(b"garbage"),
            Err(ErrorFileError::Unparsable(_))
        ));
    }
}
