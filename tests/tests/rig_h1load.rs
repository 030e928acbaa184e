//! h1load as a user sees it: what it sends, what it counts and prints for
//! each flag, against our httpterm, a scripted local server, and through
//! real HAProxy 2.6 when installed. Needs `cargo build -p httpterm -p h1load`.

use rhaproxy_tests::{bin, cli, free_port, real_haproxy, run, wait_listening, wait_unix, Proc, TempDir};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(10);

fn httpterm() -> (Proc, SocketAddr) {
    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut c = Command::new(bin("httpterm"));
    c.args(["-t", "1", "-L", &addr.to_string()]).stdout(Stdio::null());
    let p = Proc::spawn(c, "httpterm");
    assert!(wait_listening(addr, Duration::from_secs(3)));
    (p, addr)
}

fn h1load(args: &[&str]) -> Output {
    let mut c = Command::new(bin("h1load"));
    c.args(args);
    run(c, T)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The last data line's whitespace-separated columns.
fn last_cols(o: &Output) -> Vec<String> {
    let s = stdout(o);
    let line = s
        .lines()
        .rev()
        .find(|l| !l.starts_with('#'))
        .unwrap_or_else(|| panic!("no data line: {s}"));
    line.split_whitespace().map(str::to_string).collect()
}

fn col(o: &Output, i: usize) -> u64 {
    last_cols(o)[i].parse().unwrap()
}

// Column indexes in every mode: time conns tot_conn tot_req tot_bytes err.
const CONNS: usize = 1;
const TOT_CONN: usize = 2;
const TOT_REQ: usize = 3;
const TOT_BYTES: usize = 4;
const ERR: usize = 5;

/// "HTTP/1.1 200\r\nContent-length: 1024\r\n\r\n" + 1024 bytes.
const KA_1K: u64 = 14 + 22 + 2 + 1024;
/// The same with "Connection: close\r\n".
const CL_1K: u64 = KA_1K + 19;

#[test]
fn n_total_requests_and_bytes_keepalive() {
    let (_t, a) = httpterm();
    let url = format!("0:{}/?s=1k", a.port());
    let o = h1load(&["-t", "2", "-c", "4", "-n", "1000", &url]);
    assert!(o.status.success());
    assert_eq!(col(&o, TOT_REQ), 1000);
    assert_eq!(col(&o, ERR), 0);
    assert_eq!(col(&o, CONNS), 0);
    // Only the very last request asks the server to close.
    assert_eq!(col(&o, TOT_BYTES), 999 * KA_1K + CL_1K);
    assert!(col(&o, TOT_CONN) >= 4);
}

#[test]
fn r_requests_per_connection() {
    let (_t, a) = httpterm();
    let url = format!("http://127.0.0.1:{}/?s=1k", a.port());
    let o = h1load(&["-c", "2", "-n", "100", "-r", "1", &url]);
    assert_eq!((col(&o, TOT_REQ), col(&o, ERR)), (100, 0));
    // With two connections in flight, the second may already be opening
    // when the first completes the 100th request (as with the original).
    let conns = col(&o, TOT_CONN);
    assert!((100..=101).contains(&conns), "tot_conn {conns}");
    assert_eq!(col(&o, TOT_BYTES), 100 * CL_1K);
    let o = h1load(&["-c", "1", "-n", "100", "-r", "10", &url]);
    assert_eq!((col(&o, TOT_REQ), col(&o, TOT_CONN)), (100, 10));
    assert_eq!(col(&o, TOT_BYTES), 90 * KA_1K + 10 * CL_1K);
}

#[test]
fn seed_url_server_closes_half_without_errors() {
    let (_t, a) = httpterm();
    let url = format!("0:{}/?s=19k/C=2r", a.port());
    let o = h1load(&["-e", "-t", "2", "-c", "8", "-n", "400", &url]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!((col(&o, TOT_REQ), col(&o, ERR)), (400, 0));
    let conns = col(&o, TOT_CONN);
    assert!(conns > 100 && conns < 350, "about half the responses close: {conns}");
}

#[test]
fn output_headers_per_mode() {
    let (_t, a) = httpterm();
    let url = format!("0:{}/", a.port());
    let cases: [(&[&str], &str); 4] = [
        (
            &[],
            "#     time conns tot_conn  tot_req      tot_bytes    err  cps  rps  bps   ttfb",
        ),
        (
            &["-l"],
            "#     time conns tot_conn  tot_req      tot_bytes    err  cps  rps  Bps  bps   ttfb   ttlb",
        ),
        (
            &["-ll"],
            "#_____time conns tot_conn  tot_req      tot_bytes    err thr cps rps Bps bps ttfb(us) ttlb(us)",
        ),
        (
            &["-S"],
            "#     time conns tot_conn  tot_req      tot_bytes    err  cps  rps  bps   ttfb 1xx 2xx 3xx 4xx 5xx",
        ),
    ];
    for (flags, hdr) in cases {
        let mut args: Vec<&str> = flags.to_vec();
        args.extend(["-n", "10", &url]);
        let o = h1load(&args);
        let s = stdout(&o);
        assert_eq!(s.lines().next(), Some(hdr), "{flags:?}");
        let n = last_cols(&o).len();
        let want = match flags.first().copied() {
            None => 10,
            Some("-l") => 12,
            Some("-ll") => 13,
            _ => 15,
        };
        assert_eq!(n, want, "{flags:?}: {s}");
        // Fixed-width leading columns, trailing space like the original.
        let line = s.lines().last().unwrap();
        assert!(line.ends_with(' '), "{line:?}");
        assert_eq!(&line[..10].trim_start(), &last_cols(&o)[0]);
    }
}

#[test]
fn big_s_status_classes() {
    let (_t, a) = httpterm();
    let o = h1load(&["-S", "-n", "20", &format!("0:{}/?r=404", a.port())]);
    let c = last_cols(&o);
    assert_eq!(&c[10..], ["0", "0", "0", "20", "0"]);
}

#[test]
fn ll_raw_numbers_and_o_overhead() {
    let (_t, a) = httpterm();
    let url = format!("0:{}/?s=1k", a.port());
    let o = h1load(&["-ll", "-n", "200", "-c", "2", &url]);
    let c = last_cols(&o);
    assert_eq!(c[6], "100", "throttle column");
    let (rps, bps): (f64, f64) = (c[8].parse().unwrap(), c[9].parse().unwrap());
    let per_req = bps / rps;
    assert!((per_req - KA_1K as f64).abs() < 1.0, "{per_req}");
    // -O 100/1: 100 extra bytes per payload byte.
    let o = h1load(&["-ll", "-O", "100/1", "-n", "200", "-c", "2", &url]);
    let c = last_cols(&o);
    let per_req = c[9].parse::<f64>().unwrap() / c[8].parse::<f64>().unwrap();
    assert!((per_req - 101.0 * KA_1K as f64).abs() < 200.0, "{per_req}");
}

/// A one-shot server that records the request bytes and answers them.
fn scripted(answer: &'static [u8]) -> (SocketAddr, std::thread::JoinHandle<Vec<u8>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let a = l.local_addr().unwrap();
    let h = std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let mut got = Vec::new();
        let mut b = [0u8; 4096];
        while !got.windows(4).any(|w| w == b"\r\n\r\n") {
            match s.read(&mut b) {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&b[..n]),
            }
        }
        let _ = s.write_all(answer);
        got
    });
    (a, h)
}

#[test]
fn request_bytes_h_i_and_host() {
    let (a, h) = scripted(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    let o = h1load(&[
        "-n",
        "1",
        "-H",
        "X-A: 1",
        "-H",
        "X-B: 2",
        &format!("127.0.0.1:{}/p?x=1", a.port()),
    ]);
    assert_eq!(col(&o, TOT_REQ), 1);
    let req = String::from_utf8(h.join().unwrap()).unwrap();
    // The only (hence last) request of -n carries Connection: close.
    assert_eq!(
        req,
        "GET /p?x=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: 1\r\nX-B: 2\r\nConnection: close\r\n\r\n"
    );

    let (a, h) = scripted(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\n");
    let o = h1load(&[
        "-I",
        "-n",
        "1",
        "-H",
        "Host: example.org",
        &format!("http://127.0.0.1:{}", a.port()),
    ]);
    let req = String::from_utf8(h.join().unwrap()).unwrap();
    assert_eq!(req, "HEAD / HTTP/1.1\r\nHost: example.org\r\nConnection: close\r\n\r\n");
    assert_eq!((col(&o, TOT_REQ), col(&o, ERR)), (1, 0), "HEAD response has no body");
}

#[test]
fn i_head_counts_header_bytes_only() {
    let (_t, a) = httpterm();
    let o = h1load(&["-I", "-n", "10", &format!("0:{}/?s=1k", a.port())]);
    // HEAD ignores s: "HTTP/1.1 200\r\nContent-length: 0\r\n\r\n" = 35.
    assert_eq!(col(&o, TOT_BYTES), 9 * 35 + (35 + 19));
}

#[test]
fn e_stops_on_connection_error_with_status() {
    let port = free_port(); // nothing listens there
    let o = h1load(&["-e", "-c", "4", "-d", "5", &format!("127.0.0.1:{port}/")]);
    assert_eq!(o.status.code(), Some(1));
    assert!(col(&o, ERR) >= 1);
    // Without -e the errors are only counted, and -d bounds the run.
    let t0 = Instant::now();
    let o = h1load(&["-c", "2", "-d", "1", &format!("127.0.0.1:{port}/")]);
    assert!(o.status.success());
    assert!(col(&o, ERR) > 1);
    assert!(t0.elapsed() < Duration::from_secs(4));
}

#[test]
fn d_duration_bounded_and_lines_per_second() {
    let (_t, a) = httpterm();
    let t0 = Instant::now();
    let o = h1load(&["-d", "2", "-c", "4", "-t", "2", &format!("0:{}/?s=100", a.port())]);
    let el = t0.elapsed();
    assert!(el >= Duration::from_secs(2) && el < Duration::from_secs(4), "{el:?}");
    let s = stdout(&o);
    let data: Vec<&str> = s.lines().filter(|l| !l.starts_with('#')).collect();
    assert!(data.len() >= 2 && data.len() <= 4, "{s}");
    assert!(data[0].split_whitespace().next() == Some("1"), "{s}");
    assert_eq!(col(&o, ERR), 0);
}

#[test]
fn t_think_time_and_r_rate() {
    let (_t, a) = httpterm();
    let url = format!("0:{}/", a.port());
    let t0 = Instant::now();
    let o = h1load(&["-c", "1", "-n", "5", "-T", "100", &url]);
    assert_eq!(col(&o, TOT_REQ), 5);
    assert!(t0.elapsed() >= Duration::from_millis(380), "{:?}", t0.elapsed());
    let o = h1load(&["-c", "4", "-d", "1", "-R", "50", &url]);
    let n = col(&o, TOT_REQ);
    assert!((20..=80).contains(&n), "rate-capped requests: {n}");
}

#[test]
fn s_soft_start_throttles() {
    let (_t, a) = httpterm();
    let o = h1load(&["-ll", "-s", "3", "-d", "2", "-c", "10", &format!("0:{}/", a.port())]);
    let s = stdout(&o);
    let first = s.lines().find(|l| !l.starts_with('#')).unwrap();
    let thr: u32 = first.split_whitespace().nth(6).unwrap().parse().unwrap();
    assert!(thr < 100, "throttle after 1 s of a 3 s ramp: {thr}");
    assert!(first.split_whitespace().nth(1).unwrap().parse::<u32>().unwrap() < 10);
}

#[test]
fn w_timeout_on_silent_server() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let t0 = Instant::now();
    let o = h1load(&["-w", "300", "-n", "1", &format!("127.0.0.1:{port}/")]);
    drop(l);
    assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
    // A timed-out request is done but, like the original, not an error.
    assert_eq!((col(&o, TOT_REQ), col(&o, ERR)), (1, 0));
}

#[test]
fn p_percentiles_a_f_v() {
    let (_t, a) = httpterm();
    let url = format!("0:{}/?s=1k", a.port());
    let o = h1load(&["-P", "-F", "-v", "-n", "300", "-c", "3", &url]);
    let s = stdout(&o);
    assert!(
        s.contains("#pctl   tail   invtail   ttfbcnt ttfb(ms)   ttlbcnt ttlb(ms)\n"),
        "{s}"
    );
    let first = s.lines().skip_while(|l| !l.starts_with("#pctl")).nth(1).unwrap();
    assert!(first.starts_with("10      90     1       "), "{first:?}");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("GET /?s=1k HTTP/1.1"),
        "-v shows the request"
    );
    // -A: one request per connection, all ignored → no timing samples.
    let o = h1load(&["-A", "-ll", "-r", "1", "-n", "20", &url]);
    let c = last_cols(&o);
    assert_eq!((c[11].as_str(), c[12].as_str()), ("-", "-"));
}

#[test]
fn usage_errors() {
    let o = h1load(&["-t", "4", "-c", "2", "0:1/"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("Thread count must not exceed connection count"));
    let o = h1load(&["127.0.0.1?s=1"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("'?' found before a '/'"));
    let o = h1load(&["-h"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&o.stderr).starts_with("Usage:"));
}

#[test]
fn through_real_haproxy_counts_agree() {
    let Some(hap) = real_haproxy() else {
        eprintln!("/usr/sbin/haproxy absent: skipped");
        return;
    };
    let (_t, origin) = httpterm();
    let dir = TempDir::new("rig-hap");
    let sock = dir.path().join("stats.sock");
    let front = free_port();
    let cfg = dir.write(
        "h.cfg",
        &format!(
            "global\n    nbthread 2\n    stats socket {} level admin\ndefaults\n    mode http\n    timeout client 5s\n    timeout server 5s\n    timeout connect 5s\nlisten p\n    bind 127.0.0.1:{front}\n    http-reuse always\n    server s1 {origin} maxconn 4\n",
            sock.display()
        ),
    );
    let mut c = Command::new(hap);
    c.args(["-db", "-f", cfg.to_str().unwrap()]).stdout(Stdio::null());
    let _h = Proc::spawn(c, "haproxy");
    let fa: SocketAddr = format!("127.0.0.1:{front}").parse().unwrap();
    assert!(wait_listening(fa, Duration::from_secs(5)) && wait_unix(&sock, Duration::from_secs(5)));
    // What HAProxy sends for one keep-alive response, measured once.
    let one = h1load(&["-n", "1", "-r", "2", &format!("0:{front}/?s=1k")]);
    let close_size = col(&one, TOT_BYTES);
    let o = h1load(&[
        "-e",
        "-t",
        "2",
        "-c",
        "8",
        "-n",
        "500",
        "-r",
        "1",
        &format!("0:{front}/?s=1k"),
    ]);
    assert!(o.status.success());
    assert_eq!((col(&o, TOT_REQ), col(&o, ERR)), (500, 0));
    assert_eq!(col(&o, TOT_BYTES), 500 * close_size);
    let info = cli(&sock, "show info", Duration::from_secs(3));
    let cum: u64 = info
        .lines()
        .find_map(|l| l.strip_prefix("CumReq: "))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // 500 + the measuring request + the stats-socket sessions (HAProxy
    // counts those too).
    assert!((501..=504).contains(&cum), "CumReq {cum}");
    // The seed's URL through the proxy: server closes half, no errors.
    let o = h1load(&[
        "-e",
        "-t",
        "2",
        "-c",
        "16",
        "-n",
        "400",
        "-r",
        "1",
        &format!("0:{front}/?s=19k/C=2r"),
    ]);
    assert_eq!((col(&o, TOT_REQ), col(&o, ERR)), (400, 0));
}
