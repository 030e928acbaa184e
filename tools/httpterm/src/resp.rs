//! httpterm's response bytes: the header block built from the request's
//! parameters, the fixed help/408 pages, and the shared read-only body
//! patterns (50-byte filler lines, "1\r\n" chunk stream, random bytes).
//!
//! No I/O here; `server.rs` decides when to send and must take every byte it
//! sends from these functions so the wire format lives in one place.

use crate::url::{Params, KA_ON, KA_V11};
use std::io::Write;

pub const VERSION: &str = "1.7.10";
pub const DATE: &str = "2024/10/10";

/// Size of each pattern buffer; a send never takes more than this from one.
pub const PATTERN_LEN: usize = 65536;

pub struct Patterns {
    /// Byte i is '.' if i%10==0, '\n' if i%50==49, else the digit i%10.
    /// 50 extra bytes so that any start offset in 0..50 still leaves a
    /// full PATTERN_LEN slice.
    pub filler: Vec<u8>,
    /// "1\r\n" repeated, 3 extra bytes for the same reason.
    pub chunk: Vec<u8>,
    pub random: Vec<u8>,
}

impl Patterns {
    pub fn new(seed: u64) -> Patterns {
        let filler = (0..PATTERN_LEN + 50)
            .map(|i| {
                if i % 50 == 49 {
                    b'\n'
                } else if i % 10 == 0 {
                    b'.'
                } else {
                    b'0' + (i % 10) as u8
                }
            })
            .collect();
        let chunk = (0..PATTERN_LEN + 3).map(|i| b"1\r\n"[i % 3]).collect();
        let mut x = seed | 1;
        let random = (0..PATTERN_LEN)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect();
        Patterns { filler, chunk, random }
    }

    /// The next body bytes to send when `sent` of `total` are already out.
    /// Offsets are derived from `sent` so every response of a given size is
    /// byte-identical whatever the send boundaries were.
    pub fn body_slice(&self, p: &Params, total: u64, sent: u64) -> &[u8] {
        let left = total - sent;
        if p.chunked != 0 {
            if left > 5 {
                let off = (sent % 3) as usize;
                let n = ((left - 5) as usize).min(PATTERN_LEN);
                &self.chunk[off..off + n]
            } else {
                &b"0\r\n\r\n"[(5 - left) as usize..]
            }
        } else if p.random != 0 {
            let off = (sent % PATTERN_LEN as u64) as usize;
            let n = (left as usize).min(PATTERN_LEN - off);
            &self.random[off..off + n]
        } else {
            let off = (sent % 50) as usize;
            let n = (left as usize).min(PATTERN_LEN);
            &self.filler[off..off + n]
        }
    }
}

/// Timing facts only the event loop knows, for the `v` headers.
pub struct Timing {
    /// Bytes of this request read so far (headers and consumed body).
    pub req_bytes: u64,
    /// ms from accept (or end of the previous response) to end of headers.
    pub t_request: u64,
    /// ms from accept to the start of the response.
    pub t_queue: u64,
}

/// Appends the status line and headers for `p` (already defaulted: code,
/// cache, size >= 0) to `out`. Header order and spelling follow the
/// original exactly, including the lower-case "l" of `Content-length`.
pub fn build_headers(out: &mut Vec<u8>, p: &Params, tm: &Timing) {
    out.extend_from_slice(if p.ka & KA_V11 != 0 { b"HTTP/1.1 " } else { b"HTTP/1.0 " });
    // Three digits written raw, no reason phrase.
    let c = p.code;
    out.push(b'0' + (c / 100 % 10).unsigned_abs() as u8);
    out.push(b'0' + (c / 10 % 10).unsigned_abs() as u8);
    out.push(b'0' + (c % 10).unsigned_abs() as u8);
    out.extend_from_slice(b"\r\n");
    match p.ka & (KA_ON | KA_V11) {
        KA_ON => out.extend_from_slice(b"Connection: keep-alive\r\n"),
        KA_V11 => out.extend_from_slice(b"Connection: close\r\n"),
        _ => {}
    }
    if p.chunked != 0 {
        out.extend_from_slice(b"Transfer-Encoding: chunked\r\n");
    } else if p.bodylen != 0 || p.ka & KA_ON != 0 {
        let v = if p.bodylen > 0 { p.bodylen } else { p.size };
        let _ = write!(out, "Content-length: {v}\r\n");
    }
    if p.cache == 0 {
        out.extend_from_slice(b"Cache-Control: no-cache\r\n");
    }
    if p.etag != 0 {
        let _ = write!(out, "Etag: {:X}\r\n", p.etag);
    }
    if p.verbose != 0 {
        let _ = write!(
            out,
            "X-req: size={}, time={}\r\nX-rsp: id=dummy, code={}, cache={}{}, size={}, time={} ms ({} real)\r\n",
            tm.req_bytes,
            tm.t_request,
            p.code,
            (p.cache != 0) as u8,
            if p.chunked != 0 { ", chunked" } else { "" },
            p.size,
            p.time.max(0),
            tm.t_queue.saturating_sub(tm.t_request),
        );
    }
    out.extend_from_slice(b"\r\n");
}

/// The help page (`/?`, `/?h`): HTTP/1.0, closes the connection.
pub fn help_page() -> Vec<u8> {
    let mut s = String::new();
    s.push_str("HTTP/1.0 200\r\nCache-Control: no-cache\r\nConnection: close\r\nContent-type: text/plain\r\n\r\n");
    s.push_str(&format!("HTTPTerm-{VERSION} - {DATE}\n"));
    s.push_str(
        "Each value is an integer (decimal, 0x hex or 0 octal) optionally followed by\n\
         k/m/g (x1024 each, cumulative) and/or r (random value below it).\n\
         Arguments after the '?' of the URI, delimited by any of [&?,;/]:\n\
         \x20- /? or /?h         this page.\n\
         \x20- /?s=<size>        body size in bytes, e.g. /?s=20k\n\
         \x20- /?r=<retcode>     HTTP status code, e.g. /?r=404\n\
         \x20- /?c=<cache>       <1: add Cache-Control: no-cache\n\
         \x20- /?C=<close>       >0: force close; 0: force keep-alive\n\
         \x20- /?K=<keep-alive>  >0: force keep-alive; 0: force close\n\
         \x20- /?b=<bodylen>     <0: real content-length; 0: none; >0: advertise this\n\
         \x20- /?B=<maxbody>     read at most this much request body before responding\n\
         \x20- /?t=<time>        wait this many ms before responding (t=5000r: 0..5s)\n\
         \x20- /?v=<verbose>     non-zero: add X-req and X-rsp headers\n\
         \x20- /?w=<time>        keep-alive idle time in ms for the next request\n\
         \x20- /?P=<time>        pause this many ms after responding\n\
         \x20- /?e=<enable>      >0: send an Etag derived from the request line\n\
         \x20- /?k=<enable>      >0: chunked transfer encoding, 1-byte chunks\n\
         \x20- /?S=<enable>      <1: no splice (accepted, splice is never used)\n\
         \x20- /?R=<enable>      >0: random body bytes\n\
         \x20- /?p=<size>        >0: send in pieces of at most this many bytes\n\
         Examples: GET /?s=20k&c=1&t=700&K=30r HTTP/1.0\n\
         \x20         GET /?r=500?s=0?c=0?t=1000 HTTP/1.0\n\n",
    );
    s.into_bytes()
}

/// Sent when a first request does not arrive within the client timeout.
pub const PAGE_408: &[u8] = b"HTTP/1.0 408 Request Time-out\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n<html><body><h1>408 Request Time-out</h1>\nNo complete request was received in time.\n</body></html>\n";

pub const CONTINUE_100: &[u8] = b"HTTP/1.1 100-continue\r\n\r\n";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::url::KA_FORCED;

    fn p() -> Params {
        let mut p = Params::new();
        p.code = 200;
        p.cache = 1;
        p.size = 0;
        p
    }
    const TM: Timing = Timing {
        req_bytes: 40,
        t_request: 0,
        t_queue: 0,
    };

    fn hdr(p: &Params) -> String {
        let mut v = Vec::new();
        build_headers(&mut v, p, &TM);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn keepalive_11() {
        let mut a = p();
        a.ka = KA_V11 | KA_ON;
        a.size = 1024;
        assert_eq!(hdr(&a), "HTTP/1.1 200\r\nContent-length: 1024\r\n\r\n");
    }

    #[test]
    fn close_11_and_10() {
        let mut a = p();
        a.ka = KA_V11 | KA_FORCED;
        a.size = 5;
        assert_eq!(
            hdr(&a),
            "HTTP/1.1 200\r\nConnection: close\r\nContent-length: 5\r\n\r\n"
        );
        a.ka = 0;
        a.bodylen = 0;
        assert_eq!(hdr(&a), "HTTP/1.0 200\r\n\r\n");
        a.ka = KA_ON;
        a.code = 404;
        a.cache = 0;
        a.etag = 0xABC;
        assert_eq!(
            hdr(&a),
            "HTTP/1.0 404\r\nConnection: keep-alive\r\nContent-length: 5\r\nCache-Control: no-cache\r\nEtag: ABC\r\n\r\n"
        );
    }

    #[test]
    fn verbose_headers() {
        let mut a = p();
        a.ka = KA_V11 | KA_ON;
        a.verbose = 1;
        a.chunked = 1;
        a.size = 11;
        assert_eq!(
            hdr(&a),
            "HTTP/1.1 200\r\nTransfer-Encoding: chunked\r\nX-req: size=40, time=0\r\nX-rsp: id=dummy, code=200, cache=1, chunked, size=11, time=0 ms (0 real)\r\n\r\n"
        );
    }

    #[test]
    fn bodies() {
        let pt = Patterns::new(1);
        let a = p();
        assert_eq!(
            &pt.body_slice(&a, 60, 0)[..60],
            b".123456789.123456789.123456789.123456789.12345678\n.123456789".as_slice()
        );
        assert_eq!(pt.body_slice(&a, 60, 55), b"56789");
        let mut c = p();
        c.chunked = 1;
        let total = 2 * 6 + 5;
        let mut body = Vec::new();
        while body.len() < total {
            body.extend_from_slice(pt.body_slice(&c, total as u64, body.len() as u64));
        }
        assert_eq!(body, b"1\r\n1\r\n1\r\n1\r\n0\r\n\r\n");
    }
}
