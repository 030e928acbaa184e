//! Server side end to end: maxconn queues served in order, `timeout queue`
//! giving 503, `show stat` queue counters, and the seed's experiment as a
//! bounded soak (nbthread 64, maxconn 4, http-reuse always, a server that
//! closes half of the time) with zero client errors.

use rhaproxy_tests::{bin, cli, free_port, spawn_rhaproxy, wait_listening, wait_unix, Proc, TempDir};
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
    std::thread::spawn(move || {
        for c in l.incoming().flatten() {
            let seen = s2.clone();
            std::thread::spawn(move || {
                let mut c = c;
                c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                let mut buf = Vec::new();
                let mut tmp = [0u8; 4096];
                loop {
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match c.read(&mut tmp) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&tmp[..n]),
                        }
                    }
                    let end = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
                    let head = String::from_utf8_lossy(&buf[..end]).to_string();
                    buf.drain(..end);
                    let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
                    seen.lock().unwrap().push(path);
                    std::thread::sleep(delay);
                    if c.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok").is_err() {
                        return;
                    }
                }
            });
        }
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
    let (origin, seen) = slow_origin(Duration::from_millis(150));
    let (_p, addr, sock) = start(&dir, &format!("    server s1 {origin} maxconn 1\n"));
    let n = 5;
    let mut hs = Vec::new();
    for i in 0..n {
        hs.push(std::thread::spawn(move || get(addr, &format!("/r{i}"))));
        // Stagger arrivals so the queue order is well defined.
        std::thread::sleep(Duration::from_millis(40));
    }
    // While they wait, the backend queue is visible in `show stat`.
    let qcur: u32 = stat(&sock, "p", "BACKEND", "qcur").parse().unwrap();
    assert!(qcur >= 1, "qcur {qcur}");
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
    let (origin, _seen) = slow_origin(Duration::from_millis(1500));
    let (_p, addr, _sock) = start(
        &dir,
        &format!("    timeout queue 200ms\n    server s1 {origin} maxconn 1\n"),
    );
    let first = std::thread::spawn(move || get(addr, "/slow"));
    std::thread::sleep(Duration::from_millis(100));
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
