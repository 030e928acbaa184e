//! Replays the inputs captured from real HAProxy 2.6.12 (see
//! `tests/fixtures/README.md`) through the codec and checks that it reaches
//! the same verdict and, for forwarded heads, emits the same bytes.

use http::body::{BodyDecoder, BodyEvent};
use http::{
    builtin_error, builtin_error_htx, parse_request, parse_response, write_request_head, ConnMode, ForwardFor, Method,
    OutSide, ParseOptions, Status,
};

fn unescape(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' {
            match b[i + 1] {
                b'r' => out.push(b'\r'),
                b'n' => out.push(b'\n'),
                b't' => out.push(b'\t'),
                b'\\' => out.push(b'\\'),
                b'x' => {
                    out.push(u8::from_str_radix(&s[i + 2..i + 4], 16).unwrap());
                    i += 2;
                }
                c => panic!("bad escape {}", c as char),
            }
            i += 2;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

struct Row {
    name: String,
    input: Vec<u8>,
    status: String,
    origin: Vec<u8>,
    client: Vec<u8>,
}

fn load(file: &str) -> Vec<Row> {
    let path = format!("{}/tests/fixtures/{}", env!("CARGO_MANIFEST_DIR"), file);
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            Row {
                name: f[0].to_string(),
                input: unescape(f[1]),
                status: f[2].to_string(),
                origin: unescape(f[4]),
                client: unescape(f[5]),
            }
        })
        .collect()
}

/// The status HAProxy would answer with for a request, per the codec:
/// the parse error's status, a body framing error's, or "200" when the
/// whole request would be forwarded (the capture origin answers 200).
fn request_verdict(input: &[u8], accept_invalid: bool) -> String {
    let opts = ParseOptions {
        accept_invalid,
        ..Default::default()
    };
    let mut hdrs = Vec::with_capacity(opts.max_headers);
    let head = match parse_request(input, &mut hdrs, &opts) {
        Err(e) => return e.status.to_string(),
        Ok(Status::Incomplete) => return "incomplete".into(),
        Ok(Status::Complete(h)) => h,
    };
    let mut dec = BodyDecoder::new(head.body, false);
    let mut pos = head.len;
    loop {
        match dec.decode(&input[pos..]) {
            Err(e) => return e.status.to_string(),
            Ok(BodyEvent::Done) => return "200".into(),
            Ok(BodyEvent::NeedMore) => return "200".into(),
            Ok(BodyEvent::Data(n) | BodyEvent::ChunkEnd(n) | BodyEvent::Trailers(n)) => pos += n,
            Ok(BodyEvent::ChunkSize { len, .. }) => pos += len,
        }
    }
}

fn check_requests(file: &str, accept_invalid: bool) -> usize {
    let rows = load(file);
    let mut bad = Vec::new();
    for r in &rows {
        let got = request_verdict(&r.input, accept_invalid);
        if got != r.status {
            bad.push(format!("{}: haproxy {} codec {}", r.name, r.status, got));
        }
    }
    assert!(bad.is_empty(), "{} mismatches:\n{}", bad.len(), bad.join("\n"));
    rows.len()
}

#[test]
fn requests_strict_match_haproxy() {
    let n = check_requests("requests.tsv", false);
    assert!(n >= 40);
}

#[test]
fn requests_accept_invalid_match_haproxy() {
    check_requests("requests_accept_invalid.tsv", true);
}

fn response_verdict(resp: &[u8], accept_invalid: bool) -> String {
    let opts = ParseOptions {
        accept_invalid,
        ..Default::default()
    };
    let mut hdrs = Vec::new();
    match parse_response(resp, &mut hdrs, &opts, Method::Get) {
        Err(e) => e.status.to_string(),
        // The origin closed after sending: an incomplete head is a 502.
        Ok(Status::Incomplete) => "502".into(),
        Ok(Status::Complete(h)) => {
            // A framing error found before any body byte left means a 502
            // in place of the response; a short body is just truncated.
            let mut dec = BodyDecoder::new(h.body, true);
            let mut pos = h.len;
            loop {
                match dec.decode(&resp[pos..]) {
                    Err(e) => return e.status.to_string(),
                    Ok(BodyEvent::Done | BodyEvent::NeedMore) => return h.status.to_string(),
                    Ok(BodyEvent::Data(n) | BodyEvent::ChunkEnd(n) | BodyEvent::Trailers(n)) => pos += n,
                    Ok(BodyEvent::ChunkSize { len, .. }) => pos += len,
                }
            }
        }
    }
}

#[test]
fn responses_match_haproxy() {
    // The response bytes each case's origin sent are in capture/cases.py;
    // the request path names them, and the origin's answer is what the
    // client got whenever haproxy forwarded it. Rebuild them from the
    // client side where forwarded, else from the known broken inputs.
    let src = std::fs::read_to_string(format!("{}/tests/capture/cases.py", env!("CARGO_MANIFEST_DIR"))).unwrap();
    for (file, accept) in [("responses.tsv", false), ("responses_accept_invalid.tsv", true)] {
        let rows = load(file);
        assert!(rows.len() >= 15);
        let mut bad = Vec::new();
        for r in &rows {
            let resp = response_bytes(&src, &r.name);
            let got = response_verdict(&resp, accept);
            if got != r.status {
                bad.push(format!("{}: haproxy {} codec {}", r.name, r.status, got));
            }
        }
        assert!(
            bad.is_empty(),
            "{}: {} mismatches:\n{}",
            file,
            bad.len(),
            bad.join("\n")
        );
    }
}

/// Extracts a response literal from cases.py (only the simple
/// `"name": b"..."` lines; generated ones are rebuilt here).
fn response_bytes(src: &str, name: &str) -> Vec<u8> {
    match name {
        "bad_too_many_headers" => {
            let mut v = b"HTTP/1.1 200 OK\r\n".to_vec();
            for i in 0..110 {
                v.extend_from_slice(format!("X-{}: v\r\n", i).as_bytes());
            }
            v.extend_from_slice(b"Content-Length: 2\r\n\r\nok");
            return v;
        }
        "bad_headers_too_large" => {
            let mut v = b"HTTP/1.1 200 OK\r\nX-Big: ".to_vec();
            v.extend(std::iter::repeat_n(b'a', 17000));
            v.extend_from_slice(b"\r\nContent-Length: 2\r\n\r\nok");
            return v;
        }
        _ => {}
    }
    let key = format!("    \"{}\": b\"", name);
    let line = src
        .lines()
        .find(|l| l.starts_with(&key))
        .unwrap_or_else(|| panic!("no case {}", name));
    let lit = &line[key.len()..line.rfind("\",").unwrap()];
    unescape(lit)
}

fn forwarded(file: &str, side: OutSide<'_>) {
    let rows = load(file);
    let mut bad = Vec::new();
    let mut checked = 0;
    for r in &rows {
        if r.origin.is_empty() {
            continue;
        }
        let mut hdrs = Vec::new();
        let Ok(Status::Complete(mut h)) = parse_request(&r.input, &mut hdrs, &ParseOptions::default()) else {
            bad.push(format!("{}: not parsed", r.name));
            continue;
        };
        // The proxy normalises the target right after parsing.
        let mut input = r.input.clone();
        http::normalize_target(&mut input, &mut h, &mut hdrs);
        let mut out = vec![0u8; 8192];
        let n = write_request_head(&input, &h, &hdrs, &side, &mut out).unwrap();
        let want = &r.origin[..r.origin.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4];
        if &out[..n] != want {
            bad.push(format!(
                "{}:\n  haproxy {}\n  codec   {}",
                r.name,
                String::from_utf8_lossy(want).escape_debug(),
                String::from_utf8_lossy(&out[..n]).escape_debug()
            ));
        }
        checked += 1;
    }
    assert!(checked > 10);
    assert!(
        bad.is_empty(),
        "{}: {} mismatches:\n{}",
        file,
        bad.len(),
        bad.join("\n")
    );
}

#[test]
fn forwarded_heads_match_haproxy_keepalive() {
    let ff = ForwardFor {
        header: b"x-forwarded-for",
        value: b"127.0.0.1",
        if_none: false,
    };
    forwarded(
        "forward.tsv",
        OutSide {
            added: &http::NO_ADDED,
            conn: ConnMode::KeepAlive,
            req_ver11: true,
            forward_for: Some(ff),
            original_to: None,
        },
    );
}

#[test]
fn forwarded_heads_match_haproxy_httpclose() {
    let ff = ForwardFor {
        header: b"X-Client",
        value: b"127.0.0.1",
        if_none: true,
    };
    forwarded(
        "forward_httpclose.tsv",
        OutSide {
            added: &http::NO_ADDED,
            conn: ConnMode::Close,
            req_ver11: true,
            forward_for: Some(ff),
            original_to: None,
        },
    );
}

#[test]
fn builtin_pages_match_haproxy() {
    let mut buf = [0u8; 512];
    for r in load("errors.tsv") {
        let code: u16 = r.status.parse().unwrap();
        let n = builtin_error_htx(code, &mut buf).unwrap();
        assert_eq!(
            &buf[..n],
            &r.client[..],
            "{}: {}",
            r.name,
            String::from_utf8_lossy(&buf[..n]).escape_debug()
        );
    }
    // Parser-level rejections go out as the raw table text.
    for r in load("requests.tsv") {
        if r.status == "400" || r.status == "422" {
            let n = builtin_error(r.status.parse().unwrap(), &mut buf).unwrap();
            assert_eq!(&buf[..n], &r.client[..], "{}", r.name);
        }
    }
}

/// Deterministic xorshift fuzzing: the parsers and the body decoder never
/// panic and never report a head longer than their input.
#[test]
fn never_panics_on_arbitrary_bytes() {
    let mut s: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    let alphabet = b"GET /HTP1.0\r\n :;,chunkedContent-Length0123456789abcdef\t#\x00\xff";
    let mut hdrs = Vec::with_capacity(101);
    let opts = [
        ParseOptions::default(),
        ParseOptions {
            accept_invalid: true,
            ..Default::default()
        },
    ];
    for _ in 0..20000 {
        let len = (next() % 120) as usize;
        let mut v: Vec<u8> = (0..len)
            .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
            .collect();
        if next() % 2 == 0 {
            v.splice(0..0, b"POST / HTTP/1.1\r\n".iter().copied());
        }
        for o in &opts {
            if let Ok(Status::Complete(h)) = parse_request(&v, &mut hdrs, o) {
                assert!(h.len <= v.len());
                let mut d = BodyDecoder::new(h.body, false);
                let mut p = h.len;
                while let Ok(ev) = d.decode(&v[p..]) {
                    match ev {
                        BodyEvent::Data(n) | BodyEvent::ChunkEnd(n) | BodyEvent::Trailers(n) => p += n,
                        BodyEvent::ChunkSize { len, .. } => p += len,
                        BodyEvent::Done | BodyEvent::NeedMore => break,
                    }
                    assert!(p <= v.len());
                }
            }
            if let Ok(Status::Complete(h)) = parse_response(&v, &mut hdrs, o, Method::Get) {
                assert!(h.len <= v.len());
            }
        }
    }
}
