//! httpterm as a user sees it: every URL letter, the quirks, the flags, and
//! curl interop. Byte-for-byte where the original's output is fixed.
//! Needs `cargo build -p httpterm -p h1load` first.

use rhaproxy_tests::{bin, free_port, wait_listening, Proc, TempDir};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(3);

fn filler(n: usize) -> Vec<u8> {
    (0..n)
        .map(|i| {
            if i % 50 == 49 {
                b'\n'
            } else if i % 10 == 0 {
                b'.'
            } else {
                b'0' + (i % 10) as u8
            }
        })
        .collect()
}

struct Term {
    _p: Proc,
    addr: SocketAddr,
}

fn httpterm(extra: &[&str]) -> Term {
    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut c = Command::new(bin("httpterm"));
    c.args(["-t", "1", "-L", &addr.to_string()])
        .args(extra)
        .stdout(Stdio::null());
    let p = Proc::spawn(c, "httpterm");
    assert!(wait_listening(addr, T), "httpterm did not listen");
    Term { _p: p, addr }
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&addr, T).unwrap();
    s.set_read_timeout(Some(T)).unwrap();
    s
}

/// Reads one response: header block, then a body delimited by
/// Content-length, chunked encoding, or the close.
fn read_resp(s: &mut TcpStream, head_req: bool) -> (String, Vec<u8>) {
    let mut buf = Vec::new();
    let mut b = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        match s.read(&mut b) {
            Ok(1) => buf.push(b[0]),
            _ => panic!("incomplete header: {:?}", String::from_utf8_lossy(&buf)),
        }
    }
    let head = String::from_utf8(buf).unwrap();
    let lower = head.to_ascii_lowercase();
    let mut body = Vec::new();
    if head_req {
    } else if lower.contains("transfer-encoding: chunked") {
        while !body.ends_with(b"0\r\n\r\n") {
            s.read_exact(&mut b).expect("chunked body");
            body.push(b[0]);
        }
    } else if let Some(i) = lower.find("content-length: ") {
        let n: usize = lower[i + 16..].split("\r\n").next().unwrap().parse().unwrap();
        body.resize(n, 0);
        s.read_exact(&mut body).expect("body");
    } else {
        s.read_to_end(&mut body).unwrap();
    }
    (head, body)
}

fn req(addr: SocketAddr, raw: &str) -> (String, Vec<u8>) {
    let mut s = connect(addr);
    s.write_all(raw.as_bytes()).unwrap();
    read_resp(&mut s, raw.starts_with("HEAD"))
}

fn closed(s: &mut TcpStream) -> bool {
    let mut b = [0u8; 16];
    matches!(s.read(&mut b), Ok(0))
}

#[test]
fn s_size_exact_bytes_http10() {
    let t = httpterm(&[]);
    let (h, b) = req(t.addr, "GET /?s=60 HTTP/1.0\r\n\r\n");
    assert_eq!(h, "HTTP/1.0 200\r\nContent-length: 60\r\n\r\n");
    assert_eq!(b, filler(60));
    let (h, b) = req(t.addr, "GET /?s=19k HTTP/1.0\r\n\r\n");
    assert_eq!(h, "HTTP/1.0 200\r\nContent-length: 19456\r\n\r\n");
    assert_eq!(b, filler(19456));
    let (h, b) = req(t.addr, "GET / HTTP/1.0\r\n\r\n");
    assert_eq!((h.as_str(), b.len()), ("HTTP/1.0 200\r\nContent-length: 0\r\n\r\n", 0));
}

#[test]
fn keepalive_11_default_and_pipelining() {
    let t = httpterm(&[]);
    let mut s = connect(t.addr);
    s.write_all(b"GET /?s=1k HTTP/1.1\r\nHost: x\r\n\r\nGET /?s=3 HTTP/1.1\r\n\r\n")
        .unwrap();
    let (h, b) = read_resp(&mut s, false);
    assert_eq!(h, "HTTP/1.1 200\r\nContent-length: 1024\r\n\r\n");
    assert_eq!(b, filler(1024));
    let (h, b) = read_resp(&mut s, false);
    assert_eq!(h, "HTTP/1.1 200\r\nContent-length: 3\r\n\r\n");
    assert_eq!(b, b".12");
    s.write_all(b"GET /?s=2 HTTP/1.1\r\nConnection: close\r\n\r\n").unwrap();
    let (h, _) = read_resp(&mut s, false);
    assert_eq!(h, "HTTP/1.1 200\r\nConnection: close\r\nContent-length: 2\r\n\r\n");
    assert!(closed(&mut s));
}

#[test]
fn r_code_raw_digits() {
    let t = httpterm(&[]);
    let (h, _) = req(t.addr, "GET /?r=404 HTTP/1.0\r\n\r\n");
    assert_eq!(h, "HTTP/1.0 404\r\nContent-length: 0\r\n\r\n");
    let (h, _) = req(t.addr, "GET /?r=503&s=0x10 HTTP/1.1\r\nConnection: close\r\n\r\n");
    assert_eq!(h, "HTTP/1.1 503\r\nConnection: close\r\nContent-length: 16\r\n\r\n");
}

#[test]
fn c_cache_control() {
    let t = httpterm(&[]);
    let (h, _) = req(t.addr, "GET /?c=0 HTTP/1.0\r\n\r\n");
    assert_eq!(
        h,
        "HTTP/1.0 200\r\nContent-length: 0\r\nCache-Control: no-cache\r\n\r\n"
    );
    let (h, _) = req(t.addr, "GET /?c=1 HTTP/1.0\r\n\r\n");
    assert!(!h.contains("Cache-Control"));
}

#[test]
fn big_c_forces_close_and_c0_forces_keepalive() {
    let t = httpterm(&[]);
    // C=1 on HTTP/1.1, even when the client asks for keep-alive.
    let mut s = connect(t.addr);
    s.write_all(b"GET /?s=5/C=1 HTTP/1.1\r\nConnection: keep-alive\r\n\r\n")
        .unwrap();
    let (h, _) = read_resp(&mut s, false);
    assert_eq!(h, "HTTP/1.1 200\r\nConnection: close\r\nContent-length: 5\r\n\r\n");
    assert!(closed(&mut s));
    // C=0 on HTTP/1.0 without any Connection header: forced keep-alive.
    let mut s = connect(t.addr);
    s.write_all(b"GET /?s=5/C=0 HTTP/1.0\r\nConnection: close\r\n\r\n")
        .unwrap();
    let (h, _) = read_resp(&mut s, false);
    assert_eq!(h, "HTTP/1.0 200\r\nConnection: keep-alive\r\nContent-length: 5\r\n\r\n");
    s.write_all(b"GET /?s=1 HTTP/1.0\r\n\r\n").unwrap();
    let (h, _) = read_resp(&mut s, false);
    assert_eq!(h, "HTTP/1.0 200\r\nContent-length: 1\r\n\r\n");
    assert!(closed(&mut s));
}

#[test]
fn big_k_mirror_of_c() {
    let t = httpterm(&[]);
    let mut s = connect(t.addr);
    s.write_all(b"GET /?K=1 HTTP/1.0\r\n\r\n").unwrap();
    let (h, _) = read_resp(&mut s, false);
    assert_eq!(h, "HTTP/1.0 200\r\nConnection: keep-alive\r\nContent-length: 0\r\n\r\n");
    s.write_all(b"GET /?K=0 HTTP/1.1\r\n\r\n").unwrap();
    let (h, _) = read_resp(&mut s, false);
    assert_eq!(h, "HTTP/1.1 200\r\nConnection: close\r\nContent-length: 0\r\n\r\n");
    assert!(closed(&mut s));
}

#[test]
fn c_random_closes_about_half() {
    let t = httpterm(&[]);
    let mut s = connect(t.addr);
    let (mut ka, mut cl) = (0, 0);
    for _ in 0..200 {
        if s.write_all(b"GET /?s=1/C=2r HTTP/1.1\r\n\r\n").is_err() {
            s = connect(t.addr);
            s.write_all(b"GET /?s=1/C=2r HTTP/1.1\r\n\r\n").unwrap();
        }
        let (h, _) = read_resp(&mut s, false);
        if h.contains("Connection: close") {
            cl += 1;
            assert!(closed(&mut s));
            s = connect(t.addr);
        } else {
            ka += 1;
        }
    }
    assert!(ka > 50 && cl > 50, "ka={ka} close={cl}");
}

#[test]
fn t_delays_response() {
    let t = httpterm(&[]);
    let t0 = Instant::now();
    let (h, _) = req(t.addr, "GET /?t=300 HTTP/1.0\r\n\r\n");
    let el = t0.elapsed();
    assert!(h.starts_with("HTTP/1.0 200"));
    assert!(
        el >= Duration::from_millis(290) && el < Duration::from_secs(2),
        "{el:?}"
    );
}

#[test]
fn w_keepalive_idle_time() {
    let t = httpterm(&[]);
    let mut s = connect(t.addr);
    s.write_all(b"GET /?w=200 HTTP/1.1\r\n\r\n").unwrap();
    read_resp(&mut s, false);
    let t0 = Instant::now();
    assert!(closed(&mut s));
    let el = t0.elapsed();
    assert!(
        el >= Duration::from_millis(150) && el < Duration::from_millis(1500),
        "{el:?}"
    );
}

#[test]
fn big_p_pause_after_response() {
    let t = httpterm(&[]);
    let mut s = connect(t.addr);
    let t0 = Instant::now();
    s.write_all(b"GET /?P=300&s=10 HTTP/1.0\r\n\r\n").unwrap();
    let mut all = Vec::new();
    s.read_to_end(&mut all).unwrap();
    let el = t0.elapsed();
    assert!(all.ends_with(&filler(10)));
    assert!(
        el >= Duration::from_millis(290) && el < Duration::from_secs(2),
        "{el:?}"
    );
}

#[test]
fn k_chunked_one_byte_chunks() {
    let t = httpterm(&[]);
    let (h, b) = req(t.addr, "GET /?s=3&k=1 HTTP/1.1\r\nConnection: close\r\n\r\n");
    assert_eq!(
        h,
        "HTTP/1.1 200\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    assert_eq!(b, b"1\r\n1\r\n1\r\n1\r\n1\r\n1\r\n0\r\n\r\n");
    // Large: 6 bytes per data byte plus the terminator.
    let (_, b) = req(t.addr, "GET /?s=20k&k=1 HTTP/1.1\r\n\r\n");
    assert_eq!(b.len(), 20480 * 6 + 5);
}

#[test]
fn b_content_length_control() {
    let t = httpterm(&[]);
    // b=0 only removes the header when closing.
    let (h, b) = req(t.addr, "GET /?s=7&b=0 HTTP/1.0\r\n\r\n");
    assert_eq!(h, "HTTP/1.0 200\r\n\r\n");
    assert_eq!(b, filler(7));
    let (h, _) = req(t.addr, "GET /?s=7&b=0 HTTP/1.1\r\n\r\n");
    assert_eq!(h, "HTTP/1.1 200\r\nContent-length: 7\r\n\r\n");
    // b>0 advertises a (possibly false) value.
    let mut s = connect(t.addr);
    s.write_all(b"GET /?s=7&b=100 HTTP/1.0\r\n\r\n").unwrap();
    let mut all = Vec::new();
    s.read_to_end(&mut all).unwrap();
    assert_eq!(
        all,
        [b"HTTP/1.0 200\r\nContent-length: 100\r\n\r\n".as_slice(), &filler(7)].concat()
    );
}

#[test]
fn big_b_and_request_bodies_drained() {
    let t = httpterm(&[]);
    let mut s = connect(t.addr);
    // B=4: respond after 4 body bytes; the other 6 are discarded, then the
    // next request on the connection is served normally.
    s.write_all(b"POST /?s=2&B=4 HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123")
        .unwrap();
    let (h, _) = read_resp(&mut s, false);
    assert_eq!(h, "HTTP/1.1 200\r\nContent-length: 2\r\n\r\n");
    s.write_all(b"456789GET /?s=1 HTTP/1.1\r\n\r\n").unwrap();
    let (h, _) = read_resp(&mut s, false);
    assert_eq!(h, "HTTP/1.1 200\r\nContent-length: 1\r\n\r\n");
    // Chunked request body.
    s.write_all(
        b"POST /?s=3 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\nGET /?s=4 HTTP/1.1\r\n\r\n",
    )
    .unwrap();
    let (h, _) = read_resp(&mut s, false);
    assert_eq!(h, "HTTP/1.1 200\r\nContent-length: 3\r\n\r\n");
    let (h, _) = read_resp(&mut s, false);
    assert_eq!(h, "HTTP/1.1 200\r\nContent-length: 4\r\n\r\n");
    // No response before the whole Content-Length body arrived.
    s.write_all(b"POST /?s=1 HTTP/1.1\r\nContent-Length: 5\r\n\r\nab")
        .unwrap();
    s.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let mut b = [0u8; 1];
    assert!(s.read(&mut b).is_err(), "responded before the body");
    s.set_read_timeout(Some(T)).unwrap();
    s.write_all(b"cde").unwrap();
    let (h, _) = read_resp(&mut s, false);
    assert_eq!(h, "HTTP/1.1 200\r\nContent-length: 1\r\n\r\n");
}

#[test]
fn expect_100_continue() {
    let t = httpterm(&[]);
    let mut s = connect(t.addr);
    s.write_all(b"POST /?s=1 HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n")
        .unwrap();
    let mut b = [0u8; 25];
    s.read_exact(&mut b).unwrap();
    assert_eq!(&b, b"HTTP/1.1 100-continue\r\n\r\n");
    s.write_all(b"xy").unwrap();
    let (h, _) = read_resp(&mut s, false);
    assert_eq!(h, "HTTP/1.1 200\r\nContent-length: 1\r\n\r\n");
}

#[test]
fn e_etag() {
    let t = httpterm(&[]);
    let (h1, _) = req(t.addr, "GET /?e=1 HTTP/1.0\r\n\r\n");
    let (h2, _) = req(t.addr, "GET /?e=1 HTTP/1.0\r\n\r\n");
    assert_eq!(h1, h2);
    // Seed 1 plus the line's big-endian words from the URI, see url.rs.
    let mut h: u64 = 1;
    for w in [b"/?e=", b"1 HT", b"TP/1"] {
        h += u32::from_be_bytes(*w) as u64;
    }
    h += (b'.' as u64) << 16;
    h += (b'0' as u64) << 8;
    h = (h & 0xffff_ffff) + (h >> 32);
    h = (h & 0xffff_ffff) + (h >> 32);
    assert_eq!(h1, format!("HTTP/1.0 200\r\nContent-length: 0\r\nEtag: {h:X}\r\n\r\n"));
}

#[test]
fn big_s_r_p_body_sources() {
    let t = httpterm(&[]);
    let (_, b) = req(t.addr, "GET /?s=5000&S=0 HTTP/1.0\r\n\r\n");
    assert_eq!(b, filler(5000));
    let (h, b) = req(t.addr, "GET /?s=5000&R=1 HTTP/1.0\r\n\r\n");
    assert_eq!(h, "HTTP/1.0 200\r\nContent-length: 5000\r\n\r\n");
    assert_eq!(b.len(), 5000);
    assert_ne!(b, filler(5000));
    let (h, b) = req(t.addr, "GET /?s=3000&p=7 HTTP/1.0\r\n\r\n");
    assert_eq!(h, "HTTP/1.0 200\r\nContent-length: 3000\r\n\r\n");
    assert_eq!(b, filler(3000));
}

#[test]
fn v_verbose_headers() {
    let t = httpterm(&[]);
    let (h, _) = req(t.addr, "GET /?s=4&v=1&r=201 HTTP/1.0\r\n\r\n");
    let lines: Vec<&str> = h.split("\r\n").collect();
    assert_eq!(lines[0], "HTTP/1.0 201");
    assert_eq!(lines[1], "Content-length: 4");
    // The 32 bytes of the request line and the blank line.
    assert_eq!(lines[2], "X-req: size=32, time=0");
    assert!(
        lines[3].starts_with("X-rsp: id=dummy, code=201, cache=1, size=4, time=0 ms ("),
        "{}",
        lines[3]
    );
    assert!(lines[3].ends_with(" real)"));
}

#[test]
fn random_suffix_before_shift() {
    let t = httpterm(&[]);
    let mut seen = std::collections::HashSet::new();
    for _ in 0..40 {
        let (_, b) = req(t.addr, "GET /?s=4kr HTTP/1.0\r\n\r\n");
        assert_eq!(b.len() % 1024, 0);
        assert!(b.len() < 4096);
        seen.insert(b.len());
    }
    assert!(seen.len() >= 3, "{seen:?}");
}

#[test]
fn help_page_and_head() {
    let t = httpterm(&[]);
    for r in ["GET /? HTTP/1.1\r\n\r\n", "GET /?h HTTP/1.1\r\n\r\n"] {
        let (h, b) = req(t.addr, r);
        assert_eq!(
            h,
            "HTTP/1.0 200\r\nCache-Control: no-cache\r\nConnection: close\r\nContent-type: text/plain\r\n\r\n"
        );
        assert!(b.starts_with(b"HTTPTerm-1.7.10 - 2024/10/10\n"));
    }
    let (h, b) = req(t.addr, "HEAD /?s=100 HTTP/1.1\r\nConnection: close\r\n\r\n");
    assert_eq!(h, "HTTP/1.1 200\r\nConnection: close\r\nContent-length: 0\r\n\r\n");
    assert!(b.is_empty());
}

#[test]
fn flag_n_maxconn() {
    let t = httpterm(&["-n", "1"]);
    let mut a = connect(t.addr);
    a.write_all(b"GET /?s=1 HTTP/1.1\r\n\r\n").unwrap();
    read_resp(&mut a, false);
    let mut b = connect(t.addr); // queued in the backlog, not accepted
    b.write_all(b"GET /?s=1 HTTP/1.0\r\n\r\n").unwrap();
    b.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    let mut x = [0u8; 1];
    assert!(b.read(&mut x).is_err(), "second connection served despite -n 1");
    drop(a);
    b.set_read_timeout(Some(T)).unwrap();
    let (h, _) = read_resp(&mut b, false);
    assert!(h.starts_with("HTTP/1.0 200"));
}

#[test]
fn flag_repeated_l_and_quiet_db() {
    let p2 = free_port();
    let t = httpterm(&["-q", "-db", "-L", &format!("127.0.0.1:{p2}")]);
    let a2: SocketAddr = format!("127.0.0.1:{p2}").parse().unwrap();
    assert!(wait_listening(a2, T));
    assert_eq!(req(t.addr, "GET /?s=1 HTTP/1.0\r\n\r\n").1.len(), 1);
    assert_eq!(req(a2, "GET /?s=2 HTTP/1.0\r\n\r\n").1.len(), 2);
}

#[test]
fn flag_d_daemon_with_pidfile() {
    let dir = TempDir::new("httpterm-D");
    let pidf = dir.path().join("pid");
    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut c = Command::new(bin("httpterm"));
    c.args(["-D", "-t", "1", "-p", pidf.to_str().unwrap(), "-L", &addr.to_string()]);
    let st = rhaproxy_tests::run(c, T);
    assert!(st.status.success(), "parent should exit 0 after forking");
    assert!(wait_listening(addr, T));
    let pid: i32 = std::fs::read_to_string(&pidf).unwrap().trim().parse().unwrap();
    let ok = req(addr, "GET /?s=3 HTTP/1.0\r\n\r\n").1.len() == 3;
    // SAFETY: pid is the daemon this test started (read from its pidfile).
    unsafe { libc::kill(pid, libc::SIGKILL) };
    assert!(ok);
}

#[test]
fn flag_d_debug_prints_requests() {
    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut c = Command::new(bin("httpterm"));
    c.args(["-d", "-t", "1", "-L", &addr.to_string()])
        .stdout(Stdio::piped());
    let p = Proc::spawn(c, "httpterm");
    assert!(wait_listening(addr, T));
    req(addr, "GET /?s=1 HTTP/1.0\r\nX-Test: yes\r\n\r\n");
    p.signal(libc::SIGTERM);
    let out = p.finish(T);
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(s.contains("GET /?s=1 HTTP/1.0") && s.contains("X-Test: yes"), "{s}");
}

#[test]
fn bad_usage_and_version() {
    let out = rhaproxy_tests::run(Command::new(bin("httpterm")), T);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Usage"));
    let mut c = Command::new(bin("httpterm"));
    c.arg("-v");
    let out = rhaproxy_tests::run(c, T);
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("HTTPTerm version 1.7.10"));
}

fn curl() -> Option<()> {
    Command::new("curl")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .ok()
        .filter(|s| s.success())
        .map(|_| ())
}

#[test]
fn curl_interop_counts() {
    if curl().is_none() {
        eprintln!("curl not installed: skipped");
        return;
    }
    let t = httpterm(&[]);
    let u = format!("http://{}", t.addr);
    let mut c = Command::new("curl");
    c.args([
        "-s",
        "-w",
        "%{http_code} %{size_download} %{size_header} %{num_connects}\\n",
    ]);
    for q in ["s=19k", "s=1k&k=1", "s=0&r=204", "s=100k&p=10000"] {
        c.args(["-o", "/dev/null", &format!("{u}/?{q}")]);
    }
    let out = rhaproxy_tests::run(c, Duration::from_secs(10));
    let s = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = s.lines().collect();
    // Keep-alive: curl reuses one connection for all four.
    // Header sizes: status line 14, Content-length line, blank line 2.
    assert_eq!(
        lines,
        ["200 19456 39 1", "200 1024 44 0", "204 0 35 0", "200 102400 40 0"],
        "{s}"
    );
    // POST with a body (curl sends Expect: 100-continue above 1 MiB only,
    // so force it).
    let mut c = Command::new("curl");
    c.args([
        "-s",
        "-H",
        "Expect: 100-continue",
        "--data-binary",
        "0123456789",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code} %{size_download}",
    ]);
    c.arg(format!("{u}/?s=5"));
    let out = rhaproxy_tests::run(c, Duration::from_secs(10));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "200 5");
}
