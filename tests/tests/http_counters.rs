//! HTTP counters of `show stat` after a known mix of HTTP traffic, against
//! what HAProxy 2.6.12 reports for the same configuration and bytes: per
//! frontend, backend and server, bytes in/out, sessions (cur/max/total),
//! requests, response classes (1xx..5xx, other), request/connection/
//! response errors, retries and redispatches, and the rates. The expected
//! values were captured from `/usr/sbin/haproxy`; when it is installed the
//! test runs it too and checks it still gives them. Routing by a literal
//! `use_backend` (ahead of `default_backend`) shows in the backends' rows.

use rhaproxy_tests::{bin, cli, free_port, real_haproxy, spawn_proxy, wait_listening, wait_unix, Proc, TempDir};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

const T: Duration = Duration::from_secs(5);

/// Reads one request (head, then a Content-Length or chunked body);
/// returns its path and whether it asked for 100-continue.
fn read_request(s: &mut TcpStream, pending: &mut Vec<u8>) -> Option<(String, bool)> {
    let mut b = [0u8; 16384];
    let head_end = loop {
        if let Some(p) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        let n = s.read(&mut b).ok().filter(|&n| n > 0)?;
        pending.extend_from_slice(&b[..n]);
    };
    let head = String::from_utf8_lossy(&pending[..head_end]).to_ascii_lowercase();
    pending.drain(..head_end);
    let path = head.split(' ').nth(1).unwrap_or("").to_string();
    let expect = head.contains("expect: 100-continue");
    if expect {
        s.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").ok()?;
    }
    let cl = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map(|v| v.trim().parse::<usize>().unwrap_or(0));
    let body_done = |p: &[u8]| match cl {
        Some(n) => p.len() >= n,
        // Chunked (one per connection here): up to the trailers' end.
        None if head.contains("transfer-encoding: chunked") => {
            p.ends_with(b"\r\n\r\n") && p.windows(3).any(|w| w == b"0\r\n")
        }
        None => true,
    };
    while !body_done(pending) {
        let n = s.read(&mut b).ok().filter(|&n| n > 0)?;
        pending.extend_from_slice(&b[..n]);
    }
    let used = match cl {
        Some(n) => n,
        None => pending.len(),
    };
    pending.drain(..used.min(pending.len()));
    Some((path, expect))
}

/// The origin: answers by path, keep-alive.
fn origin() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            std::thread::spawn(move || {
                let mut s = s;
                s.set_read_timeout(Some(T)).unwrap();
                let mut pending = Vec::new();
                while let Some((path, _)) = read_request(&mut s, &mut pending) {
                    let r: &[u8] = match path.as_str() {
                        "/nf" => b"HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nnf!",
                        "/redir" => b"HTTP/1.1 302 Found\r\nLocation: /x\r\nContent-Length: 0\r\n\r\n",
                        "/trailers" => {
                            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-Sum: 5\r\n\r\n"
                        }
                        "/weird" => b"HTTP/1.1 600 Weird\r\nContent-Length: 0\r\n\r\n",
                        "/garbage" => b"garbage\r\n\r\n",
                        "/slow" => {
                            std::thread::sleep(Duration::from_millis(1500));
                            return;
                        }
                        _ => b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
                    };
                    if s.write_all(r).is_err() || path == "/garbage" {
                        return;
                    }
                }
            });
        }
    });
    addr
}

/// Sends `req` on a new connection and reads until the proxy closes or
/// `quiet` passes without data.
fn exchange(addr: SocketAddr, req: &[u8], quiet: Duration) -> Vec<u8> {
    rhaproxy_tests::exchange_quiet(addr, req, quiet, T)
}

fn config(sock: &str, p1: u16, p2: u16, origin: SocketAddr, dead: u16) -> String {
    format!(
        "global\n    nbthread 1\n    stats socket {sock} level admin\n\n\
         defaults\n    mode http\n    timeout client 5s\n    timeout server 5s\n    timeout connect 1s\n\n\
         frontend fe1\n    bind 127.0.0.1:{p1}\n    timeout server 400ms\n    use_backend be1\n    default_backend be2\n\n\
         frontend fe2\n    bind 127.0.0.1:{p2}\n    default_backend be2\n\n\
         backend be1\n    timeout server 400ms\n    server s1 {origin}\n\n\
         backend be2\n    retries 2\n    option redispatch\n    server d1 127.0.0.1:{dead}\n    server d2 127.0.0.1:{dead}\n"
    )
}

struct Side {
    _p: Proc,
    sock: PathBuf,
    p1: SocketAddr,
    p2: SocketAddr,
}

fn start(dir: &TempDir, prog: PathBuf, name: &str, origin: SocketAddr, dead: u16) -> Side {
    let sock = dir.path().join(format!("{name}.sock"));
    let (p1, p2) = (free_port(), free_port());
    let path = dir.write(
        &format!("{name}.cfg"),
        &config(&sock.display().to_string(), p1, p2, origin, dead),
    );
    let p = spawn_proxy(&prog, &path, name);
    assert!(wait_unix(&sock, T), "{name}: stats socket not ready");
    let a1: SocketAddr = format!("127.0.0.1:{p1}").parse().unwrap();
    let a2: SocketAddr = format!("127.0.0.1:{p2}").parse().unwrap();
    assert!(wait_listening(a1, T) && wait_listening(a2, T));
    Side {
        _p: p,
        sock,
        p1: a1,
        p2: a2,
    }
}

/// Plays the traffic, one connection after the other; returns what each
/// exchange received.
fn traffic(s: &Side) -> Vec<Vec<u8>> {
    // Each exchange starts once the proxy has ended the previous
    // connection (smax must count one at a time, as the traffic is meant):
    // the end of a connection on the client side does not say the proxy
    // has already released it, on a loaded box least of all.
    let settle = || {
        let t0 = std::time::Instant::now();
        while t0.elapsed() < Duration::from_secs(3) {
            let idle = stat(s)
                .iter()
                .filter(|r| r["svname"] == "FRONTEND" && r["pxname"] != "GLOBAL")
                .all(|r| r["scur"] == "0");
            if idle {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    let q = Duration::from_millis(300);
    let get = |p: &str| format!("GET {p} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").into_bytes();
    let steps: Vec<(SocketAddr, Vec<u8>, Duration)> = vec![
        (s.p1, get("/ok"), q),
        (s.p1, get("/nf"), q),
        (s.p1, get("/redir"), q),
        (
            s.p1,
            b"POST /trailers HTTP/1.1\r\nHost: a\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-Req: 1\r\n\r\n".to_vec(),
            q,
        ),
        (
            s.p1,
            b"POST /cont HTTP/1.1\r\nHost: a\r\nConnection: close\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\nbody".to_vec(),
            q,
        ),
        (s.p1, get("/weird"), q),
        (s.p1, get("/garbage"), q),
        (s.p1, b"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(), q),
        // Two requests on one connection.
        (
            s.p1,
            b"GET /ok HTTP/1.1\r\nHost: a\r\n\r\nGET /nf HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n".to_vec(),
            q,
        ),
        (s.p1, get("/slow"), Duration::from_secs(2)),
        (s.p2, get("/"), Duration::from_secs(4)),
    ];
    steps
        .into_iter()
        .map(|(a, req, wait)| {
            settle();
            exchange(a, &req, wait)
        })
        .collect()
}

fn stat(s: &Side) -> Vec<HashMap<String, String>> {
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
        .map(|l| hdr.iter().cloned().zip(l.split(',').map(String::from)).collect())
        .collect()
}

/// Compared exactly. Not here: `bin`/`bout` (HAProxy counts the size of
/// its internal HTX messages, rhaproxy the bytes on the wire: see
/// docs/feature-matrix.md) and the rates (each process's one-second
/// periods start at a different time; checked for bounds below).
const FIELDS: &[&str] = &[
    "scur",
    "smax",
    "stot",
    "dreq",
    "dresp",
    "ereq",
    "econ",
    "eresp",
    "wretr",
    "wredis",
    "hrsp_1xx",
    "hrsp_2xx",
    "hrsp_3xx",
    "hrsp_4xx",
    "hrsp_5xx",
    "hrsp_other",
    "req_tot",
    "cli_abrt",
    "srv_abrt",
    "lbtot",
    "conn_tot",
    "intercepted",
];

/// What HAProxy 2.6.12 reports after [`traffic`] (captured from
/// /usr/sbin/haproxy; the empty connection of the readiness probe counts
/// as a 400 request on each frontend, the 100 Continue on the server only).
const EXPECTED: &[&str] = &[
    "fe1/FRONTEND scur=0 smax=1 stot=11 dreq=0 dresp=0 ereq=2 econ= eresp= wretr= wredis= hrsp_1xx=0 hrsp_2xx=4 hrsp_3xx=1 hrsp_4xx=4 hrsp_5xx=2 hrsp_other=1 req_tot=12 cli_abrt= srv_abrt= lbtot= conn_tot=11 intercepted=0",
    "fe2/FRONTEND scur=0 smax=1 stot=2 dreq=0 dresp=0 ereq=1 econ= eresp= wretr= wredis= hrsp_1xx=0 hrsp_2xx=0 hrsp_3xx=0 hrsp_4xx=1 hrsp_5xx=1 hrsp_other=0 req_tot=2 cli_abrt= srv_abrt= lbtot= conn_tot=2 intercepted=0",
    "be1/s1 scur=0 smax=1 stot=10 dreq= dresp=0 ereq= econ=0 eresp=2 wretr=0 wredis=0 hrsp_1xx=1 hrsp_2xx=4 hrsp_3xx=1 hrsp_4xx=2 hrsp_5xx=0 hrsp_other=1 req_tot=9 cli_abrt=0 srv_abrt=0 lbtot=10 conn_tot= intercepted=",
    "be1/BACKEND scur=0 smax=1 stot=10 dreq=0 dresp=0 ereq= econ=0 eresp=2 wretr=0 wredis=0 hrsp_1xx=0 hrsp_2xx=4 hrsp_3xx=1 hrsp_4xx=2 hrsp_5xx=2 hrsp_other=1 req_tot=10 cli_abrt=0 srv_abrt=0 lbtot=10 conn_tot= intercepted=",
    "be2/d1 scur=0 smax=1 stot=2 dreq= dresp=0 ereq= econ=1 eresp=0 wretr=0 wredis=1 hrsp_1xx=0 hrsp_2xx=0 hrsp_3xx=0 hrsp_4xx=0 hrsp_5xx=0 hrsp_other=0 req_tot=0 cli_abrt=0 srv_abrt=0 lbtot=2 conn_tot= intercepted=",
    "be2/d2 scur=0 smax=1 stot=1 dreq= dresp=0 ereq= econ=0 eresp=0 wretr=0 wredis=1 hrsp_1xx=0 hrsp_2xx=0 hrsp_3xx=0 hrsp_4xx=0 hrsp_5xx=0 hrsp_other=0 req_tot=0 cli_abrt=0 srv_abrt=0 lbtot=1 conn_tot= intercepted=",
    "be2/BACKEND scur=0 smax=1 stot=1 dreq=0 dresp=0 ereq= econ=1 eresp=0 wretr=0 wredis=2 hrsp_1xx=0 hrsp_2xx=0 hrsp_3xx=0 hrsp_4xx=0 hrsp_5xx=1 hrsp_other=0 req_tot=1 cli_abrt=0 srv_abrt=0 lbtot=3 conn_tot= intercepted=",
];

fn table(rows: &[HashMap<String, String>]) -> Vec<String> {
    rows.iter()
        .map(|r| {
            let mut l = format!("{}/{}", r["pxname"], r["svname"]);
            for f in FIELDS {
                l.push_str(&format!(" {f}={}", r.get(*f).map_or("?", |v| v.as_str())));
            }
            l
        })
        .collect()
}

fn num(r: &HashMap<String, String>, f: &str) -> u64 {
    r[f].parse().unwrap_or_else(|_| panic!("{f}={:?}", r[f]))
}

/// Statuses of the exchanges, in order.
const STATUSES: &[&str] = &[
    "200", "404", "302", "200", "100", "600", "502", "400", "200", "504", "503",
];

fn check_statuses(who: &str, got: &[Vec<u8>]) {
    for (g, want) in got.iter().zip(STATUSES) {
        assert!(
            g.starts_with(format!("HTTP/1.1 {want} ").as_bytes()),
            "{who}: expected {want}: {}",
            String::from_utf8_lossy(g)
        );
    }
}

#[test]
fn http_counters_match_haproxy() {
    let dir = TempDir::new("http-counters");
    let o = origin();
    let dead = free_port();
    let ours = start(&dir, bin("rhaproxy"), "ours", o, dead);
    check_statuses("rhaproxy", &traffic(&ours));
    let rows = stat(&ours);
    let got = table(&rows);
    if let Some(h) = real_haproxy() {
        let theirs = start(&dir, h, "theirs", o, dead);
        check_statuses("haproxy", &traffic(&theirs));
        let exp = table(&stat(&theirs));
        assert_eq!(exp, EXPECTED, "HAProxy no longer gives the captured table");
    }
    for (g, e) in got.iter().zip(EXPECTED) {
        assert_eq!(g, e, "\n ours: {g}\n 2.6 : {e}");
    }
    assert_eq!(got.len(), EXPECTED.len());
    // Rates: within what the traffic allows.
    for r in &rows {
        let (px, sv) = (&r["pxname"], &r["svname"]);
        assert!(
            num(r, "rate_max") >= 1 && num(r, "rate_max") <= num(r, "stot"),
            "{px}/{sv} rate_max"
        );
        assert!(num(r, "rate") <= num(r, "rate_max"), "{px}/{sv} rate");
        if sv == "FRONTEND" {
            assert!(num(r, "req_rate_max") >= 1 && num(r, "req_rate_max") <= num(r, "req_tot"));
            assert!(num(r, "req_rate") <= num(r, "req_rate_max"));
            assert!(num(r, "conn_rate_max") >= 1 && num(r, "conn_rate_max") <= num(r, "conn_tot"));
        }
    }
}
