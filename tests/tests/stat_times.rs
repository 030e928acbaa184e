//! `show stat`'s time averages and maxima (qtime, ctime, rtime, ttime and
//! their `_max`) after traffic with known delays: an HTTP origin that
//! answers 200 ms after each request behind a `maxconn 1` server (so the
//! second of two concurrent requests waits 200 ms in the queue), and a TCP
//! origin that answers 150 ms after the client's data. The same checks run
//! against HAProxy 2.6 when /usr/sbin/haproxy is installed, so the ranges
//! are HAProxy's meaning of the fields, not ours.

use rhaproxy_tests::{bin, cli, free_port, real_haproxy, spawn_proxy, wait_listening, wait_unix, Proc, TempDir};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::time::Duration;

const T: Duration = Duration::from_secs(5);
const HTTP_DELAY: Duration = Duration::from_millis(200);
const TCP_DELAY: Duration = Duration::from_millis(150);
/// Upper bounds allow this much scheduling delay (a loaded 2-core CI).
const SLACK: u64 = 1000;

/// An origin that reads what it is sent, waits `delay`, answers, and
/// closes (HTTP: one request per connection).
fn origin(delay: Duration, answer: &'static [u8], end: &'static [u8]) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            std::thread::spawn(move || {
                let mut s = s;
                s.set_read_timeout(Some(T)).unwrap();
                let mut got = Vec::new();
                let mut b = [0u8; 4096];
                while !got.windows(end.len()).any(|w| w == end) {
                    match s.read(&mut b) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&b[..n]),
                    }
                }
                std::thread::sleep(delay);
                let _ = s.write_all(answer);
            });
        }
    });
    addr
}

/// Sends `req` and reads until the peer closes (bounded).
fn exchange(addr: SocketAddr, req: &[u8]) -> Vec<u8> {
    rhaproxy_tests::exchange(addr, req, T)
}

struct Side {
    _p: Proc,
    sock: PathBuf,
    http: SocketAddr,
    tcp: SocketAddr,
}

fn start(dir: &TempDir, prog: PathBuf, name: &str, http_origin: SocketAddr, tcp_origin: SocketAddr) -> Side {
    let sock = dir.path().join(format!("{name}.sock"));
    let (p1, p2) = (free_port(), free_port());
    let cfg = format!(
        "global\n    nbthread 1\n    stats socket {} level admin\n\n\
         defaults\n    timeout client 5s\n    timeout server 5s\n    timeout connect 1s\n    timeout queue 5s\n\n\
         frontend fe\n    mode http\n    bind 127.0.0.1:{p1}\n    default_backend be\n\n\
         backend be\n    mode http\n    server s1 {http_origin} maxconn 1\n\n\
         listen lt\n    mode tcp\n    bind 127.0.0.1:{p2}\n    server t1 {tcp_origin}\n",
        sock.display()
    );
    let path = dir.write(&format!("{name}.cfg"), &cfg);
    let p = spawn_proxy(&prog, &path, name);
    assert!(wait_unix(&sock, T), "{name}: stats socket not ready");
    let http: SocketAddr = format!("127.0.0.1:{p1}").parse().unwrap();
    let tcp: SocketAddr = format!("127.0.0.1:{p2}").parse().unwrap();
    // Not probed on the TCP side: a probe there would be a session of
    // its own, counted in the averages.
    assert!(wait_listening(http, T), "{name}: not listening");
    Side { _p: p, sock, http, tcp }
}

fn stat(s: &Side) -> HashMap<String, HashMap<String, String>> {
    let csv = cli(&s.sock, "show stat", T);
    let mut lines = csv.lines();
    let hdr: Vec<String> = lines
        .next()
        .unwrap()
        .trim_start_matches("# ")
        .split(',')
        .map(String::from)
        .collect();
    lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let row: HashMap<String, String> = hdr.iter().cloned().zip(l.split(',').map(String::from)).collect();
            (format!("{}/{}", row["pxname"], row["svname"]), row)
        })
        .collect()
}

fn num(rows: &HashMap<String, HashMap<String, String>>, row: &str, f: &str) -> u64 {
    let v = &rows[row][f];
    v.parse().unwrap_or_else(|_| panic!("{row} {f}={v:?}"))
}

/// Two concurrent HTTP requests (the second queues behind the first) and
/// one TCP exchange; then the fields, then `clear counters`.
fn run(name: &str, prog: PathBuf) {
    let dir = TempDir::new(&format!("stat-times-{name}"));
    let ho = origin(
        HTTP_DELAY,
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
        b"\r\n\r\n",
    );
    let to = origin(TCP_DELAY, b"pong", b"ping");
    let s = start(&dir, prog, name, ho, to);
    // Let the readiness probes' connections end first.
    std::thread::sleep(Duration::from_millis(100));

    let rows = stat(&s);
    for f in [
        "qtime",
        "ctime",
        "rtime",
        "ttime",
        "qtime_max",
        "ctime_max",
        "rtime_max",
        "ttime_max",
    ] {
        assert_eq!(num(&rows, "be/s1", f), 0, "{name}: be/s1 {f} before traffic");
        assert_eq!(num(&rows, "be/BACKEND", f), 0, "{name}: be/BACKEND {f} before traffic");
    }

    let req: &[u8] = b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
    let a = s.http;
    let h: Vec<_> = (0..2).map(|_| std::thread::spawn(move || exchange(a, req))).collect();
    for r in h {
        let r = r.join().unwrap();
        assert!(
            r.starts_with(b"HTTP/1.1 200"),
            "{name}: {}",
            String::from_utf8_lossy(&r)
        );
    }
    assert_eq!(exchange(s.tcp, b"ping"), b"pong", "{name}: tcp");
    // The client saw the close; the stream ends (and counts) just after.
    std::thread::sleep(Duration::from_millis(100));

    let rows = stat(&s);
    let d = HTTP_DELAY.as_millis() as u64;
    let fields = [
        "qtime",
        "ctime",
        "rtime",
        "ttime",
        "qtime_max",
        "ctime_max",
        "rtime_max",
        "ttime_max",
    ];
    let show = |row: &str| fields.map(|f| format!("{f}={}", rows[row][f]));
    for row in ["be/s1", "be/BACKEND"] {
        let n = |f| num(&rows, row, f);
        let ctx = format!("{name}: {row} {:?}", show(row));
        assert_eq!(n("req_tot"), 2, "{ctx}");
        // Both requests waited ~d for their response; the second (sent at
        // about the same time) also waited most of d in the queue, and
        // lasted its queue time plus d. Averages are over the 2 requests.
        assert!((d - 5..=d + SLACK).contains(&n("rtime")), "rtime {ctx}");
        assert!((d - 5..=d + SLACK).contains(&n("rtime_max")), "rtime_max {ctx}");
        assert!((d * 3 / 4..=d + SLACK).contains(&n("qtime_max")), "qtime_max {ctx}");
        assert!(n("qtime").abs_diff(n("qtime_max") / 2) <= 2, "qtime {ctx}");
        assert!(n("ctime") <= 20 && n("ctime_max") <= 40, "ctime {ctx}");
        // The longest one is the queued one: its queue time plus its own
        // response time (at least d, at most the longest).
        let (q_max, r_max) = (n("qtime_max"), n("rtime_max"));
        assert!(
            (q_max + d - 5..=q_max + r_max + 25).contains(&n("ttime_max")),
            "ttime_max {ctx}"
        );
        let t_avg = n("qtime") + n("rtime") + n("ctime");
        assert!(n("ttime").abs_diff(t_avg) <= 25, "ttime {ctx}");
    }
    // TCP: no response phase (rtime 0), the session lasts the origin's delay.
    let t = TCP_DELAY.as_millis() as u64;
    for row in ["lt/t1", "lt/BACKEND"] {
        let n = |f| num(&rows, row, f);
        let ctx = format!("{name}: {row} {:?}", show(row));
        assert_eq!(n("qtime"), 0, "{ctx}");
        assert!(n("ctime") <= 20, "{ctx}");
        assert_eq!(n("rtime"), 0, "{ctx}");
        assert!((t - 5..=t + SLACK).contains(&n("ttime")), "{ctx}");
        assert_eq!(n("ttime_max"), n("ttime"), "{ctx}");
    }

    // `clear counters` resets the maxima only; `clear counters all` the
    // averages too.
    let before = stat(&s);
    assert_eq!(cli(&s.sock, "clear counters", T).trim(), "", "{name}");
    let rows = stat(&s);
    for f in ["qtime_max", "ctime_max", "rtime_max", "ttime_max"] {
        assert_eq!(num(&rows, "be/s1", f), 0, "{name}: {f} after clear counters");
    }
    for f in ["qtime", "rtime", "ttime"] {
        assert_eq!(
            num(&rows, "be/s1", f),
            num(&before, "be/s1", f),
            "{name}: {f} after clear counters"
        );
    }
    assert_eq!(cli(&s.sock, "clear counters all", T).trim(), "", "{name}");
    let rows = stat(&s);
    for f in ["qtime", "ctime", "rtime", "ttime"] {
        assert_eq!(num(&rows, "be/s1", f), 0, "{name}: {f} after clear counters all");
        assert_eq!(num(&rows, "lt/BACKEND", f), 0, "{name}: {f} after clear counters all");
    }
}

#[test]
fn time_averages_from_known_delays() {
    run("rhaproxy", bin("rhaproxy"));
}

#[test]
fn time_averages_from_known_delays_haproxy() {
    match real_haproxy() {
        Some(p) => run("haproxy", p),
        None => eprintln!("/usr/sbin/haproxy not installed: HAProxy side skipped"),
    }
}
