//! Server side end to end: maxconn queues served in order, `timeout queue`
//! giving 503, `show stat` queue counters, and the seed's experiment as a
//! bounded soak (nbthread 64, maxconn 4, http-reuse always, a server that
//! closes half of the time) with zero client errors.

use rhaproxy_tests::{
    bin, cli, free_port, http_origin, read_head, spawn_rhaproxy, wait_listening, wait_unix, Proc, TempDir,
};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// An origin answering each request after `delay`, recording the order in
/// which request paths arrived. Keep-alive, one request at a time.
fn slow_origin(delay: Duration) -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s2 = seen.clone();
    http_origin(l, move |head| {
        let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
        s2.lock().unwrap().push(path);
        std::thread::sleep(delay);
        Some(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok".to_vec())
    });
    (addr, seen)
}

fn start(dir: &TempDir, body: &str) -> (Proc, SocketAddr, std::path::PathBuf) {
    let port = free_port();
    let sock = dir.path().join("stats.sock");
    let cfg = format!(
        "global\n    stats socket {} level admin\ndefaults\n    mode http\n    timeout client 10s\n    timeout server 10s\n    timeout connect 2s\nlisten p\n    bind 127.0.0.1:{port}\n{body}",
        sock.display()
    );
    let p = spawn_rhaproxy(dir, "p.cfg", &cfg);
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    assert!(wait_unix(&sock, Duration::from_secs(5)), "stats socket");
    (p, addr, sock)
}

fn get(addr: SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

/// Field `name` of the `show stat` row (`px`, `sv`).
fn stat(sock: &std::path::Path, px: &str, sv: &str, name: &str) -> String {
    let out = cli(sock, "show stat", Duration::from_secs(5));
    let mut lines = out.lines();
    let hdr: Vec<&str> = lines.next().unwrap().trim_start_matches("# ").split(',').collect();
    let col = hdr
        .iter()
        .position(|h| *h == name)
        .unwrap_or_else(|| panic!("no column {name}"));
    for l in lines {
        let f: Vec<&str> = l.split(',').collect();
        if f.len() > col && f[0] == px && f[1] == sv {
            return f[col].to_string();
        }
    }
    panic!("no row {px}/{sv} in {out}")
}

#[test]
fn maxconn_one_serves_every_queued_request_in_order() {
    let dir = TempDir::new("queue-order");
    let (origin, seen) = slow_origin(Duration::from_millis(300));
    let (_p, addr, sock) = start(&dir, &format!("    server s1 {origin} maxconn 1\n"));
    let n = 5;
    let mut hs = Vec::new();
    for i in 0..n {
        hs.push(std::thread::spawn(move || get(addr, &format!("/r{i}"))));
        // Each request is in place (served, then queued behind the
        // previous ones) before the next one leaves, so the queue order is
        // the sending order however slowly the threads run. The queue is
        // visible in `show stat` meanwhile.
        if i == 0 {
            wait_until("/r0 at the server", Duration::from_secs(5), || {
                seen.lock().unwrap().len() == 1
            });
        } else {
            wait_until("the request in the queue", Duration::from_secs(5), || {
                stat(&sock, "p", "BACKEND", "qcur") == i.to_string()
            });
        }
    }
    for h in hs {
        let r = h.join().unwrap();
        assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    }
    let order = seen.lock().unwrap().clone();
    let want: Vec<String> = (0..n).map(|i| format!("/r{i}")).collect();
    assert_eq!(order, want, "served out of order");
    let qmax: u32 = stat(&sock, "p", "BACKEND", "qmax").parse().unwrap();
    assert!(qmax >= 3, "qmax {qmax}");
    assert_eq!(stat(&sock, "p", "BACKEND", "qcur"), "0");
    assert_eq!(stat(&sock, "p", "s1", "smax"), "1", "maxconn 1 exceeded");
}

#[test]
fn timeout_queue_gives_503() {
    let dir = TempDir::new("queue-tmo");
    let (origin, seen) = slow_origin(Duration::from_millis(1500));
    let (_p, addr, _sock) = start(
        &dir,
        &format!("    timeout queue 200ms\n    server s1 {origin} maxconn 1\n"),
    );
    let first = std::thread::spawn(move || get(addr, "/slow"));
    wait_until("/slow at the server", Duration::from_secs(5), || {
        seen.lock().unwrap().len() == 1
    });
    let t0 = Instant::now();
    let r = get(addr, "/queued");
    let el = t0.elapsed();
    assert!(r.starts_with("HTTP/1.1 503 Service Unavailable"), "{r}");
    assert!(
        el >= Duration::from_millis(150) && el < Duration::from_millis(1200),
        "503 after {el:?}"
    );
    assert!(first.join().unwrap().starts_with("HTTP/1.1 200"));
}

/// The seed's experiment, bounded: RHAPROXY_SOAK_SECS (default 60 in CI,
/// 15 otherwise; 600 for the long run).
#[test]
fn seed_soak_has_no_client_errors() {
    let secs: u64 = std::env::var("RHAPROXY_SOAK_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if std::env::var("CI").is_ok() { 60 } else { 15 });
    let dir = TempDir::new("seed-soak");
    let oport = free_port();
    let mut o = Command::new(bin("httpterm"));
    o.arg("-L").arg(format!("127.0.0.1:{oport}")).arg("-q");
    let _origin = Proc::spawn(o, "httpterm");
    let oaddr: SocketAddr = format!("127.0.0.1:{oport}").parse().unwrap();
    assert!(wait_listening(oaddr, Duration::from_secs(5)));
    let (_p, addr, sock) = start(
        &dir,
        &format!(
            "    http-reuse always\n    server s1 {oaddr} maxconn 4\nglobal\n    nbthread 64\n    stats timeout 1h\n"
        ),
    );
    let mut l = Command::new(bin("h1load"));
    l.args(["-e", "-t", "4", "-c", "256", "-r", "1", "-d", &secs.to_string()])
        .arg(format!("127.0.0.1:{}/?s=19k/C=2r", addr.port()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let out = Proc::spawn(l, "h1load").finish(Duration::from_secs(secs + 30));
    let text = String::from_utf8_lossy(&out.stdout);
    let last = text.lines().rfind(|l| !l.starts_with('#')).unwrap_or("").to_string();
    let f: Vec<&str> = last.split_whitespace().collect();
    assert!(
        out.status.success(),
        "h1load stopped on an error: {last}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tot_req: u64 = f[3].parse().unwrap();
    let err: u64 = f[5].parse().unwrap();
    assert_eq!(err, 0, "{last}");
    assert!(tot_req > 100, "{last}");
    let counters = cli(&sock, "debug counters", Duration::from_secs(5));
    assert!(counters.starts_with("Count     Type Location function(): \"condition\" [comment]"));
    assert_eq!(stat(&sock, "p", "s1", "smax"), "4", "maxconn 4 exceeded or unused");
    let act = cli(&sock, "show activity", Duration::from_secs(5));
    let tk = act
        .lines()
        .find(|l| l.starts_with("fd_takeover:"))
        .unwrap_or("")
        .to_string();
    eprintln!("seed soak {secs}s: {last}\n{tk}\n{counters}");
}

/// What a scripted origin does with its n-th request (from 0).
#[derive(Clone, Copy)]
enum Act {
    /// Answer with this status (keep-alive, empty body).
    Status(u16),
    /// Close the connection without answering.
    Close,
    /// Answer garbage, then close.
    Junk,
}

/// An origin that reads a request head, then acts as `script(n)` says,
/// counting requests over all connections.
fn scripted_origin(script: fn(usize) -> Act) -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s2 = seen.clone();
    std::thread::spawn(move || {
        for c in l.incoming().flatten() {
            let seen = s2.clone();
            std::thread::spawn(move || {
                let mut c = c;
                c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                let mut buf = Vec::new();
                while let Some(head) = read_head(&mut c, &mut buf) {
                    let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
                    let n = {
                        let mut s = seen.lock().unwrap();
                        s.push(path);
                        s.len() - 1
                    };
                    match script(n) {
                        Act::Status(st) => {
                            let r = format!("HTTP/1.1 {st} X\r\ncontent-length: 0\r\n\r\n");
                            if c.write_all(r.as_bytes()).is_err() {
                                return;
                            }
                        }
                        Act::Close => return,
                        Act::Junk => {
                            let _ = c.write_all(b"garbage\r\n\r\n");
                            return;
                        }
                    }
                }
            });
        }
    });
    (addr, seen)
}

fn status_of(r: &str) -> u16 {
    r.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
}

#[test]
fn maxqueue_overflow_on_a_hashed_server_gives_503() {
    // A hashed request is bound to its server: with `maxconn 1 maxqueue 1`
    // one is served, one waits, the third is refused at once (HAProxy's
    // SRV_STATUS_FULL: 503, econ counted on the server).
    let dir = TempDir::new("maxqueue");
    let (origin, seen) = slow_origin(Duration::from_millis(1000));
    let (_p, addr, sock) = start(
        &dir,
        &format!("    balance uri\n    server s1 {origin} maxconn 1 maxqueue 1\n"),
    );
    let a = std::thread::spawn(move || get(addr, "/k"));
    wait_until("the first request at the server", Duration::from_secs(5), || {
        seen.lock().unwrap().len() == 1
    });
    let b = std::thread::spawn(move || get(addr, "/k"));
    wait_until(
        "the second request waiting on the server",
        Duration::from_secs(5),
        || stat(&sock, "p", "s1", "qcur") == "1",
    );
    let t0 = Instant::now();
    let c = get(addr, "/k");
    assert_eq!(status_of(&c), 503, "{c}");
    assert!(t0.elapsed() < Duration::from_millis(400), "refused at once");
    assert_eq!(status_of(&a.join().unwrap()), 200);
    assert_eq!(status_of(&b.join().unwrap()), 200);
    assert_eq!(stat(&sock, "p", "s1", "econ"), "1");
    assert_eq!(stat(&sock, "p", "s1", "qlimit"), "1");
}

#[test]
fn maxqueue_does_not_limit_roundrobin_overflow() {
    // Round robin passes over full servers; the overflow waits in the
    // backend queue, which maxqueue does not bound: everyone is served.
    let dir = TempDir::new("maxqueue-rr");
    let (o1, _) = slow_origin(Duration::from_millis(500));
    let (o2, _) = slow_origin(Duration::from_millis(500));
    let (_p, addr, sock) = start(
        &dir,
        &format!("    server s1 {o1} maxconn 1 maxqueue 1\n    server s2 {o2} maxconn 1 maxqueue 1\n"),
    );
    let hs: Vec<_> = (0..6)
        .map(|i| std::thread::spawn(move || get(addr, &format!("/{i}"))))
        .collect();
    for h in hs {
        assert_eq!(status_of(&h.join().unwrap()), 200);
    }
    let qmax: u32 = stat(&sock, "p", "BACKEND", "qmax").parse().unwrap();
    assert!(qmax >= 2, "qmax {qmax}");
}

#[test]
fn minconn_and_fullconn_make_a_dynamic_limit() {
    // minconn 1, maxconn 4, fullconn 8: with 4 streams in the backend the
    // limit is max(1, 4 * 4 / 8) = 2, never 4.
    let dir = TempDir::new("minconn");
    let (origin, seen) = slow_origin(Duration::from_millis(800));
    let (_p, addr, sock) = start(
        &dir,
        &format!("    fullconn 8\n    server s1 {origin} minconn 1 maxconn 4\n"),
    );
    let hs: Vec<_> = (0..4)
        .map(|i| std::thread::spawn(move || get(addr, &format!("/{i}"))))
        .collect();
    // The first request is served alone (limit max(1, 1 * 4 / 8) = 1) and
    // the others queue; all four are in the backend when it ends.
    wait_until("three queued requests", Duration::from_secs(5), || {
        stat(&sock, "p", "BACKEND", "qcur") == "3"
    });
    for h in hs {
        assert_eq!(status_of(&h.join().unwrap()), 200);
    }
    assert_eq!(seen.lock().unwrap().len(), 4);
    assert_eq!(stat(&sock, "p", "s1", "smax"), "2", "dynamic maxconn");
}

#[test]
fn retry_on_status_retries_then_forwards_the_last_answer() {
    // Always 503: 1 try + `retries 3`, then the server's 503 goes out.
    // Like HAProxy 2.6, each L7 retry counts twice in wretr.
    let dir = TempDir::new("retry-503");
    let (origin, seen) = scripted_origin(|_| Act::Status(503));
    let (_p, addr, sock) = start(
        &dir,
        &format!("    retries 3\n    retry-on 503\n    server s1 {origin}\n"),
    );
    let r = get(addr, "/a");
    assert!(r.starts_with("HTTP/1.1 503 X"), "{r}");
    assert_eq!(seen.lock().unwrap().len(), 4);
    assert_eq!(stat(&sock, "p", "s1", "wretr"), "6");
    // 503 once, then 200: the client sees the 200.
    let dir = TempDir::new("retry-503-ok");
    let (origin, seen) = scripted_origin(|n| if n == 0 { Act::Status(503) } else { Act::Status(200) });
    let (_p, addr, _sock) = start(&dir, &format!("    retry-on 503 404\n    server s1 {origin}\n"));
    assert_eq!(status_of(&get(addr, "/a")), 200);
    assert_eq!(seen.lock().unwrap().len(), 2);
    // Without retry-on, the 503 is forwarded as is.
    let dir = TempDir::new("retry-none");
    let (origin, seen) = scripted_origin(|n| if n == 0 { Act::Status(503) } else { Act::Status(200) });
    let (_p, addr, _sock) = start(&dir, &format!("    server s1 {origin}\n"));
    assert_eq!(status_of(&get(addr, "/a")), 503);
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[test]
fn retry_on_empty_and_junk_responses() {
    for (kw, act) in [("empty-response", Act::Close), ("junk-response", Act::Junk)] {
        let dir = TempDir::new("retry-l7");
        let script: fn(usize) -> Act = match act {
            Act::Close => |n| if n == 0 { Act::Close } else { Act::Status(200) },
            _ => |n| if n == 0 { Act::Junk } else { Act::Status(200) },
        };
        let (origin, seen) = scripted_origin(script);
        let (_p, addr, _sock) = start(&dir, &format!("    retry-on {kw}\n    server s1 {origin}\n"));
        assert_eq!(status_of(&get(addr, "/a")), 200, "{kw}");
        assert_eq!(seen.lock().unwrap().len(), 2, "{kw}");
        // The default (conn-failure only) answers 502.
        let dir = TempDir::new("retry-l7-off");
        let (origin, seen) = scripted_origin(script);
        let (_p, addr, _sock) = start(&dir, &format!("    server s1 {origin}\n"));
        assert_eq!(status_of(&get(addr, "/a")), 502, "{kw} without retry-on");
        assert_eq!(seen.lock().unwrap().len(), 1);
    }
}

#[test]
fn retry_on_without_conn_failure_does_not_retry_connections() {
    let dir = TempDir::new("retry-noconn");
    let dead = free_port();
    let (_p, addr, sock) = start(
        &dir,
        &format!("    retries 3\n    retry-on 503\n    timeout connect 100ms\n    server s1 127.0.0.1:{dead}\n"),
    );
    let t0 = Instant::now();
    assert_eq!(status_of(&get(addr, "/")), 503);
    assert!(t0.elapsed() < Duration::from_millis(90), "no turn-around delay");
    assert_eq!(stat(&sock, "p", "s1", "wretr"), "0");
    assert_eq!(stat(&sock, "p", "s1", "econ"), "1");
}

#[test]
fn redispatch_moves_a_failed_connection_to_another_server() {
    // Round robin with two servers and `option redispatch`: a refused
    // connection is retried on the other server at once.
    let dir = TempDir::new("redispatch");
    let dead = free_port();
    let (origin, seen) = scripted_origin(|_| Act::Status(200));
    let (_p, addr, sock) = start(
        &dir,
        &format!("    option redispatch\n    server s1 127.0.0.1:{dead}\n    server s2 {origin}\n"),
    );
    for i in 0..4 {
        assert_eq!(status_of(&get(addr, &format!("/{i}"))), 200);
    }
    assert_eq!(seen.lock().unwrap().len(), 4);
    assert_eq!(stat(&sock, "p", "s1", "wredis"), "2");
    assert_eq!(stat(&sock, "p", "BACKEND", "econ"), "0");
}

/// A client that sends its request then closes its sending side.
fn get_half_closed(addr: SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nhost: x\r\n\r\n").unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

#[test]
fn abortonclose_drops_queued_half_closed_clients() {
    for aoc in [true, false] {
        let dir = TempDir::new("aoc");
        let (origin, seen) = slow_origin(Duration::from_millis(600));
        let opt = if aoc { "    option abortonclose\n" } else { "" };
        let (_p, addr, sock) = start(&dir, &format!("{opt}    server s1 {origin} maxconn 1\n"));
        let first = std::thread::spawn(move || get(addr, "/first"));
        wait_until("/first at the server", Duration::from_secs(5), || {
            seen.lock().unwrap().len() == 1
        });
        let r = get_half_closed(addr, "/queued");
        assert_eq!(status_of(&first.join().unwrap()), 200);
        if aoc {
            assert_eq!(r, "", "aborted without a response");
            assert_eq!(*seen.lock().unwrap(), ["/first"]);
        } else {
            assert_eq!(status_of(&r), 200, "served despite the close: {r}");
            assert_eq!(*seen.lock().unwrap(), ["/first", "/queued"]);
        }
        assert_eq!(stat(&sock, "p", "BACKEND", "qcur"), "0");
    }
}

#[test]
fn abortonclose_while_waiting_for_the_response_gives_400() {
    // As HAProxy 2.6: once the request went to the server, a client that
    // closes its sending side is answered 400 at once (CH), counted as a
    // client abort. The close is sent only after the server got the
    // request, so the outcome does not depend on when the proxy sees it.
    // (A close read together with the request gives the same on loopback,
    // where the connect completes at once, in HAProxy as here; a connect
    // still pending then is aborted without a response instead.)
    let dir = TempDir::new("aoc-wait");
    let (origin, seen) = slow_origin(Duration::from_millis(2000));
    let (_p, addr, sock) = start(&dir, &format!("    option abortonclose\n    server s1 {origin}\n"));
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET /x HTTP/1.1\r\nhost: x\r\n\r\n").unwrap();
    wait_until("the request at the server", Duration::from_secs(5), || {
        seen.lock().unwrap().len() == 1
    });
    let t0 = Instant::now();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let mut r = String::new();
    let _ = s.read_to_string(&mut r);
    assert_eq!(status_of(&r), 400, "{r}");
    assert!(t0.elapsed() < Duration::from_millis(1500), "answered before the server");
    assert_eq!(stat(&sock, "p", "s1", "cli_abrt"), "1");
    assert_eq!(stat(&sock, "p", "BACKEND", "cli_abrt"), "1");
}

#[test]
fn idle_connection_closed_by_the_server_is_dropped() {
    // The origin answers one request per connection, keeping it open
    // until the test says (once the connection is seen parked), then
    // closes: the parked connection must leave the idle list, and the next
    // request must use a fresh one and succeed.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let origin = l.local_addr().unwrap();
    let (close_tx, close_rx) = std::sync::mpsc::channel::<()>();
    let close_rx = Arc::new(Mutex::new(close_rx));
    std::thread::spawn(move || {
        for c in l.incoming().flatten() {
            let close_rx = close_rx.clone();
            std::thread::spawn(move || {
                let mut c = c;
                let mut buf = [0u8; 4096];
                if c.read(&mut buf).unwrap_or(0) == 0 {
                    return;
                }
                let _ = c.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
                let _ = close_rx.lock().unwrap().recv_timeout(Duration::from_secs(10));
            });
        }
    });
    let dir = TempDir::new("idle-closed");
    let (_p, addr, sock) = start(&dir, &format!("    http-reuse always\n    server s1 {origin}\n"));
    // A keep-alive client, so that the server connection is worth parking.
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c.write_all(b"GET /1 HTTP/1.1\r\nhost: x\r\n\r\n").unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && c.read(&mut b).unwrap_or(0) == 1 {
        head.push(b[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 200"));
    // Column 12 of `show servers conn` is idle_cur.
    let idle_cur = |sock: &std::path::Path| {
        let out = cli(sock, "show servers conn", Duration::from_secs(5));
        let row = out.lines().find(|l| l.starts_with("p/s1")).unwrap_or("").to_string();
        (row.split_whitespace().nth(12).unwrap_or("?").to_string(), out)
    };
    wait_until("the server connection parked", Duration::from_secs(5), || {
        idle_cur(&sock).0 == "1"
    });
    close_tx.send(()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let (n, out) = idle_cur(&sock);
        if n == "0" {
            break;
        }
        assert!(Instant::now() < deadline, "idle connection never dropped: {out}");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(status_of(&get(addr, "/2")), 200);
}

/// A keep-alive origin answering after `delay`, counting the connections
/// open right now and accepted in all.
fn counting_origin(
    delay: Duration,
) -> (
    SocketAddr,
    Arc<std::sync::atomic::AtomicUsize>,
    Arc<std::sync::atomic::AtomicUsize>,
) {
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let open = Arc::new(AtomicUsize::new(0));
    let total = Arc::new(AtomicUsize::new(0));
    let (o2, t2) = (open.clone(), total.clone());
    std::thread::spawn(move || {
        for c in l.incoming().flatten() {
            o2.fetch_add(1, SeqCst);
            t2.fetch_add(1, SeqCst);
            let open = o2.clone();
            std::thread::spawn(move || {
                let mut c = c;
                c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
                let mut buf = Vec::new();
                while read_head(&mut c, &mut buf).is_some() {
                    std::thread::sleep(delay);
                    if c.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok").is_err() {
                        break;
                    }
                }
                open.fetch_sub(1, SeqCst);
            });
        }
    });
    (addr, open, total)
}

/// `show servers conn` columns of server p/s1, by name.
fn servers_conn(sock: &std::path::Path, col: &str) -> u64 {
    let out = cli(sock, "show servers conn", Duration::from_secs(5));
    let hdr: Vec<&str> = out.lines().next().unwrap_or("").split_whitespace().collect();
    let row: Vec<&str> = out
        .lines()
        .find(|l| l.starts_with("p/s1"))
        .unwrap_or("")
        .split_whitespace()
        .collect();
    // The header starts with "#", which has no column of its own.
    let i = hdr.iter().position(|h| *h == col).unwrap_or_else(|| panic!("{out}")) - 1;
    row.get(i)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{col}: {out}"))
}

fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn idle_connections_are_purged_after_pool_purge_delay() {
    use std::sync::atomic::Ordering::SeqCst;
    let (origin, open, _) = counting_origin(Duration::from_millis(300));
    let dir = TempDir::new("idle-purge");
    let (_p, addr, sock) = start(
        &dir,
        &format!("    http-reuse always\n    server s1 {origin} pool-purge-delay 300ms\nglobal\n    nbthread 1\n"),
    );
    // Four requests at once: four server connections in use together,
    // which raises the need estimate to four, so all four are parked.
    let hs: Vec<_> = (0..4)
        .map(|i| std::thread::spawn(move || get(addr, &format!("/{i}"))))
        .collect();
    for h in hs {
        assert_eq!(status_of(&h.join().unwrap()), 200);
    }
    // The first two rounds only lower the estimate (4, then 2): nothing
    // is closed before the third one, 900 ms after parking.
    assert_eq!(servers_conn(&sock, "idle_cur"), 4, "parked connections");
    assert_eq!(open.load(SeqCst), 4);
    // Then half the excess goes each round, until nothing is left.
    wait_until(
        "the purge to close every idle connection",
        Duration::from_secs(5),
        || open.load(SeqCst) == 0,
    );
    assert_eq!(servers_conn(&sock, "idle_cur"), 0);
    assert_eq!(servers_conn(&sock, "need_est"), 0, "estimate decayed");
    // New traffic still works and parks again.
    assert_eq!(status_of(&get(addr, "/again")), 200);
    assert_eq!(servers_conn(&sock, "idle_cur"), 1);
}

#[test]
fn pool_purge_delay_zero_keeps_no_idle_connection() {
    let (origin, _, total) = counting_origin(Duration::ZERO);
    let dir = TempDir::new("idle-none");
    let (_p, addr, sock) = start(
        &dir,
        &format!("    http-reuse always\n    server s1 {origin} pool-purge-delay 0\n"),
    );
    for i in 0..3 {
        assert_eq!(status_of(&get(addr, &format!("/{i}"))), 200);
        assert_eq!(servers_conn(&sock, "idle_cur"), 0);
    }
    assert_eq!(
        total.load(std::sync::atomic::Ordering::SeqCst),
        3,
        "a new connection per request"
    );
}

/// `fd_takeover` total of `show activity`.
fn takeovers(sock: &std::path::Path) -> u64 {
    let act = cli(sock, "show activity", Duration::from_secs(5));
    let l = act
        .lines()
        .find(|l| l.starts_with("fd_takeover:"))
        .unwrap_or_else(|| panic!("{act}"));
    l.split_whitespace().nth(1).and_then(|v| v.parse().ok()).unwrap()
}

#[test]
fn pool_low_conn_keeps_threads_from_stealing() {
    // Two threads, one request per client connection, alternating
    // between a bind served by thread 1 and one served by thread 2 (so
    // both threads work whatever the load of the machine does to accept
    // spreading). Without pool-low-conn a thread takes the other's idle
    // connection; with it (above what is idle), each builds its own.
    for (low, want_steal) in [("", true), (" pool-low-conn 100", false)] {
        let (origin, _, total) = counting_origin(Duration::ZERO);
        let dir = TempDir::new("pool-low-conn");
        let (port1, port2) = (free_port(), free_port());
        let (_p, _, sock) = start(
            &dir,
            &format!(
                "    http-reuse always\n    bind 127.0.0.1:{port1} thread 1\n    bind 127.0.0.1:{port2} thread 2\n    server s1 {origin}{low}\nglobal\n    nbthread 2\n"
            ),
        );
        let on_thread = |p: u16| -> SocketAddr { format!("127.0.0.1:{p}").parse().unwrap() };
        for i in 0..20 {
            let to = on_thread(if i % 2 == 0 { port1 } else { port2 });
            assert_eq!(status_of(&get(to, &format!("/{i}"))), 200);
        }
        let tk = takeovers(&sock);
        let per_thr: Vec<u64> = {
            let out = cli(&sock, "show servers conn", Duration::from_secs(5));
            let row = out.lines().find(|l| l.starts_with("p/s1")).unwrap().to_string();
            row.split_whitespace().skip(13).map(|v| v.parse().unwrap()).collect()
        };
        let total = total.load(std::sync::atomic::Ordering::SeqCst);
        if want_steal {
            assert!(tk > 0, "no takeover without pool-low-conn ({total} connections)");
            assert!(total <= 2, "{total} connections despite sharing");
        } else {
            assert_eq!(tk, 0, "pool-low-conn 100 must keep threads from stealing");
            assert_eq!(total, 2, "one connection per thread");
            assert_eq!(per_thr, [1, 1], "each thread keeps its own");
        }
    }
}
