//! Load-balancing algorithms through real traffic: each origin answers
//! with its own name, a keep-alive client sends requests one after the
//! other, and the answers show where each request went. Weights must be
//! honoured (exactly for the deterministic algorithms), hashed keys must
//! stick to one server, and `first` must fill servers in id order.

use rhaproxy_tests::{free_port, spawn_rhaproxy, wait_listening, Proc, TempDir};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

/// Origins answering every request with their index ("0", "1", ...) as a
/// one-byte body, keep-alive.
fn origins(n: usize) -> Vec<SocketAddr> {
    (0..n)
        .map(|i| {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = l.local_addr().unwrap();
            std::thread::spawn(move || {
                for c in l.incoming().flatten() {
                    std::thread::spawn(move || {
                        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                        let mut r = BufReader::new(c.try_clone().unwrap());
                        let mut w = c;
                        loop {
                            let mut line = String::new();
                            // Skip the head: request line + headers.
                            loop {
                                line.clear();
                                match r.read_line(&mut line) {
                                    Ok(0) | Err(_) => return,
                                    Ok(_) if line == "\r\n" => break,
                                    Ok(_) => {}
                                }
                            }
                            let resp = format!("HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\n{i}");
                            if w.write_all(resp.as_bytes()).is_err() {
                                return;
                            }
                        }
                    });
                }
            });
            addr
        })
        .collect()
}

fn start(dir: &TempDir, be: &str, origins: &[SocketAddr], server_args: &[&str]) -> (Proc, SocketAddr) {
    let port = free_port();
    let mut cfg = format!(
        "defaults\n    mode http\n    timeout client 10s\n    timeout server 10s\n    timeout connect 2s\nlisten p\n    bind 127.0.0.1:{port}\n{be}"
    );
    for (i, o) in origins.iter().enumerate() {
        cfg.push_str(&format!("    server s{i} {o} {}\n", server_args.get(i).unwrap_or(&"")));
    }
    let p = spawn_rhaproxy(dir, "p.cfg", &cfg);
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    assert!(wait_listening(addr, Duration::from_secs(5)));
    (p, addr)
}

/// Sends requests on one keep-alive connection; returns the server index
/// that answered each.
fn send_all(addr: SocketAddr, reqs: impl Iterator<Item = String>) -> Vec<usize> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut out = Vec::new();
    for req in reqs {
        s.write_all(req.as_bytes()).unwrap();
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        assert!(line.starts_with("HTTP/1.1 200"), "{line}");
        let mut len = 0;
        loop {
            line.clear();
            r.read_line(&mut line).unwrap();
            if line == "\r\n" {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                len = v.trim().parse().unwrap();
            }
        }
        let mut body = vec![0u8; len];
        r.read_exact(&mut body).unwrap();
        out.push(String::from_utf8(body).unwrap().parse().unwrap());
    }
    out
}

fn get(path: &str, extra: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nhost: x\r\n{extra}\r\n")
}

fn counts(picks: &[usize], n: usize) -> Vec<usize> {
    let mut c = vec![0; n];
    for &p in picks {
        c[p] += 1;
    }
    c
}

const WEIGHTS: [&str; 3] = ["weight 1", "weight 2", "weight 3"];

#[test]
fn roundrobin_and_static_rr_follow_weights_exactly() {
    for algo in ["roundrobin", "static-rr"] {
        let dir = TempDir::new("lb-rr");
        let o = origins(3);
        let (_p, addr) = start(&dir, &format!("    balance {algo}\n"), &o, &WEIGHTS);
        let picks = send_all(addr, (0..600).map(|_| get("/", "")));
        assert_eq!(counts(&picks, 3), [100, 200, 300], "{algo}");
    }
}

#[test]
fn random_follows_weights() {
    let dir = TempDir::new("lb-random");
    let o = origins(3);
    let (_p, addr) = start(&dir, "    balance random\n", &o, &WEIGHTS);
    let c = counts(&send_all(addr, (0..1200).map(|_| get("/", ""))), 3);
    for (i, want) in [200.0, 400.0, 600.0].iter().enumerate() {
        let got = c[i] as f64;
        assert!((got - want).abs() < want * 0.25, "random: {c:?}");
    }
}

#[test]
fn leastconn_rotates_between_idle_servers() {
    // One request at a time: every server is idle at each pick, so they tie
    // (HAProxy's key is 0 for an idle server whatever its weight) and take
    // turns.
    let dir = TempDir::new("lb-lc");
    let o = origins(3);
    let (_p, addr) = start(&dir, "    balance leastconn\n", &o, &WEIGHTS);
    let c = counts(&send_all(addr, (0..300).map(|_| get("/", ""))), 3);
    assert_eq!(c, [100, 100, 100]);
}

#[test]
fn first_uses_the_lowest_id_with_room() {
    let dir = TempDir::new("lb-first");
    let o = origins(3);
    let (_p, addr) = start(
        &dir,
        "    balance first\n",
        &o,
        &["id 3 maxconn 5", "id 1 maxconn 5", "id 2 maxconn 5"],
    );
    let c = counts(&send_all(addr, (0..50).map(|_| get("/", ""))), 3);
    assert_eq!(c, [0, 50, 0], "sequential requests all fit the lowest id");
}

/// Hashed algorithms: the same key always goes to the same server, and
/// many keys spread over all servers roughly by weight.
fn check_hashing(be: &str, req: impl Fn(usize) -> String) {
    let dir = TempDir::new("lb-hash");
    let o = origins(3);
    let (_p, addr) = start(&dir, be, &o, &WEIGHTS);
    let keys = 600;
    let a = send_all(addr, (0..keys).map(&req));
    let b = send_all(addr, (0..keys).map(&req));
    assert_eq!(a, b, "{be}: a key moved between two rounds");
    let c = counts(&a, 3);
    for (i, w) in [1.0, 2.0, 3.0].iter().enumerate() {
        let want = keys as f64 * w / 6.0;
        assert!((c[i] as f64 - want).abs() < want * 0.5, "{be}: {c:?}");
    }
}

#[test]
fn uri_hashing_sticks_and_spreads() {
    check_hashing("    balance uri\n", |k| get(&format!("/obj/{k}"), ""));
    // Close keys (sdbm of "/obj/N") cluster on a ring: HAProxy's docs
    // advise `avalanche` with consistent hashing, and so does this test.
    check_hashing("    balance uri\n    hash-type consistent sdbm avalanche\n", |k| {
        get(&format!("/obj/{k}"), "")
    });
}

#[test]
fn url_param_hashing_sticks_and_spreads() {
    check_hashing("    balance url_param id\n", |k| get(&format!("/x?a=1&id={k}"), ""));
}

#[test]
fn hdr_hashing_sticks_and_spreads() {
    check_hashing("    balance hdr(x-user)\n", |k| get("/", &format!("x-user: u{k}\r\n")));
}

#[test]
fn source_hashing_sends_one_client_to_one_server() {
    let dir = TempDir::new("lb-src");
    let o = origins(3);
    let (_p, addr) = start(&dir, "    balance source\n", &o, &WEIGHTS);
    let mut seen = Vec::new();
    for _ in 0..5 {
        seen.extend(send_all(addr, (0..20).map(|_| get("/", ""))));
    }
    assert!(seen.iter().all(|&s| s == seen[0]), "{seen:?}");
}

#[test]
fn hash_balance_factor_bounds_a_hot_key() {
    // Every request has the same key, with several in flight at once: the
    // bounded-load ring spills over to other servers once the hot one
    // holds more than its share times the factor.
    let dir = TempDir::new("lb-hbf");
    let slow: Vec<SocketAddr> = (0..3)
        .map(|i| {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            let a = l.local_addr().unwrap();
            std::thread::spawn(move || {
                for c in l.incoming().flatten() {
                    std::thread::spawn(move || {
                        let mut c = c;
                        let mut buf = [0u8; 4096];
                        let _ = c.read(&mut buf);
                        std::thread::sleep(Duration::from_millis(300));
                        let _ = c.write_all(
                            format!("HTTP/1.1 200 OK\r\ncontent-length: 1\r\nconnection: close\r\n\r\n{i}").as_bytes(),
                        );
                    });
                }
            });
            a
        })
        .collect();
    let (_p, addr) = start(
        &dir,
        "    balance uri\n    hash-type consistent\n    hash-balance-factor 150\n",
        &slow,
        &[],
    );
    let hs: Vec<_> = (0..9)
        .map(|_| {
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(20));
                let mut s = TcpStream::connect(addr).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                s.write_all(b"GET /hot HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
                    .unwrap();
                let mut out = String::new();
                let _ = s.read_to_string(&mut out);
                out.chars().last().and_then(|c| c.to_digit(10)).unwrap() as usize
            })
        })
        .collect();
    let picks: Vec<usize> = hs.into_iter().map(|h| h.join().unwrap()).collect();
    let c = counts(&picks, 3);
    // With 9 in flight over 3 servers and a factor of 1.5, no server may
    // hold more than ceil(9 * 1.5 / 3) = 5.
    assert!(c.iter().all(|&n| n <= 5), "{c:?}");
    assert!(c.iter().filter(|&&n| n > 0).count() >= 2, "{c:?}");
}
