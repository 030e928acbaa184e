//! `mode tcp` end to end: bytes both ways, half-close propagation, client
//! timeout, a dead server, through the real `rhaproxy` binary on 127.0.0.1.

use rhaproxy_tests::{free_port, silent_origin, spawn_rhaproxy, wait_listening, Proc, TempDir};
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

/// An echo origin: for each connection, reads until EOF, then sends
/// everything back and closes. Serves every connection (the harness's
/// readiness probe goes through the proxy too), until the process ends.
fn echo_after_eof() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut c in l.incoming().flatten() {
            std::thread::spawn(move || {
                c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                let mut all = Vec::new();
                let _ = c.read_to_end(&mut all);
                let _ = c.write_all(&all);
            });
        }
    });
    addr
}

fn start_proxy(dir: &TempDir, server: &str, extra: &str) -> (Proc, SocketAddr) {
    let port = free_port();
    let cfg = format!(
        "defaults\n    mode tcp\n    timeout client 5s\n    timeout server 5s\n    timeout connect 1s\n{extra}\nlisten p\n    bind 127.0.0.1:{port}\n    server s1 {server}\n"
    );
    let p = spawn_rhaproxy(dir, "tcp.cfg", &cfg);
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    assert!(wait_listening(addr, Duration::from_secs(5)), "proxy did not listen");
    (p, addr)
}

#[test]
fn half_close_is_propagated_and_data_flows_both_ways() {
    let dir = TempDir::new("tcp-half");
    let origin = echo_after_eof();
    let (_p, addr) = start_proxy(&dir, &origin.to_string(), "");
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let payload: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    c.write_all(&payload).unwrap();
    // The origin answers only after seeing our FIN: the proxy must pass it on.
    c.shutdown(Shutdown::Write).unwrap();
    let mut back = Vec::new();
    c.read_to_end(&mut back).unwrap();
    assert_eq!(back.len(), payload.len());
    assert!(back == payload, "echoed bytes differ");
}

#[test]
fn large_transfer_through_small_buffers() {
    let dir = TempDir::new("tcp-large");
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let origin = l.local_addr().unwrap();
    const N: usize = 64 << 20;
    std::thread::spawn(move || {
        for mut c in l.incoming().flatten() {
            std::thread::spawn(move || {
                let chunk = vec![b'x'; 1 << 16];
                let mut sent = 0;
                while sent < N {
                    if c.write_all(&chunk).is_err() {
                        return; // the readiness probe hung up
                    }
                    sent += chunk.len();
                }
            });
        }
    });
    let (_p, addr) = start_proxy(&dir, &origin.to_string(), "global\n    tune.bufsize 16384\n");
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut total = 0usize;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match c.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => total += n,
            Err(e) => panic!("read error after {total} bytes: {e}"),
        }
    }
    assert_eq!(total, N);
}

#[test]
fn client_timeout_closes_idle_connection() {
    let dir = TempDir::new("tcp-tmo");
    let origin = silent_origin();
    let port = free_port();
    let cfg = format!(
        "defaults\n    mode tcp\n    timeout client 300ms\n    timeout server 10s\n    timeout connect 1s\nlisten p\n    bind 127.0.0.1:{port}\n    server s1 {origin}\n"
    );
    let _p = spawn_rhaproxy(&dir, "tcp.cfg", &cfg);
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    assert!(wait_listening(addr, Duration::from_secs(5)));
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let t0 = Instant::now();
    let mut buf = [0u8; 16];
    let r = c.read(&mut buf);
    let el = t0.elapsed();
    assert!(matches!(r, Ok(0)) || r.is_err(), "expected close, got {r:?}");
    assert!(
        el >= Duration::from_millis(250) && el < Duration::from_secs(2),
        "closed after {el:?}"
    );
}

#[test]
fn refused_server_closes_client_after_retries() {
    let dir = TempDir::new("tcp-refused");
    // A port nobody listens on.
    let dead = free_port();
    let (_p, addr) = start_proxy(&dir, &format!("127.0.0.1:{dead}"), "");
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 16];
    let t0 = Instant::now();
    let r = c.read(&mut buf);
    assert!(matches!(r, Ok(0)) || r.is_err(), "expected close, got {r:?}");
    assert!(t0.elapsed() < Duration::from_secs(4));
}

/// `maxconn` on a frontend: extra connections wait in the backlog without
/// the proxy spinning, and are served as soon as a connection ends; the
/// limit is per live connection, not per total. With several threads too:
/// the slot is taken before accept(2), so a connection handed to another
/// thread counts at once.
#[test]
fn frontend_maxconn_queues_in_backlog_without_spinning() {
    frontend_maxconn_holds(1);
}

#[test]
fn frontend_maxconn_holds_with_two_threads() {
    frontend_maxconn_holds(2);
}

fn frontend_maxconn_holds(nbthread: u32) {
    let dir = TempDir::new("tcp-maxconn");
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let origin = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut c in l.incoming().flatten() {
            std::thread::spawn(move || {
                let mut b = [0u8; 64];
                while let Ok(n) = c.read(&mut b) {
                    if n == 0 || c.write_all(&b[..n]).is_err() {
                        return;
                    }
                }
            });
        }
    });
    let port = free_port();
    let cfg = format!(
        "global\n    nbthread {nbthread}\ndefaults\n    mode tcp\n    timeout client 10s\n    timeout server 10s\n    timeout connect 1s\nlisten p\n    bind 127.0.0.1:{port}\n    maxconn 2\n    server s1 {origin}\n"
    );
    let proxy = spawn_rhaproxy(&dir, "mc.cfg", &cfg);
    let addr2: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    // The readiness probe is one short connection: it frees its slot.
    assert!(wait_listening(addr2, Duration::from_secs(5)));
    std::thread::sleep(Duration::from_millis(100));
    // Three rounds: the limit must free up as connections end.
    for round in 0..3 {
        let mut cs: Vec<TcpStream> = (0..3).map(|_| TcpStream::connect(addr2).unwrap()).collect();
        for (i, c) in cs.iter_mut().enumerate() {
            c.write_all(&[b'a' + i as u8]).unwrap();
            c.set_read_timeout(Some(Duration::from_millis(400))).unwrap();
        }
        let mut b = [0u8; 4];
        assert_eq!(cs[0].read(&mut b).unwrap(), 1, "round {round}");
        assert_eq!(cs[1].read(&mut b).unwrap(), 1, "round {round}");
        assert!(
            cs[2].read(&mut b).is_err(),
            "third connection served over maxconn (round {round})"
        );
        drop(cs.remove(0));
        cs[1].set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        assert_eq!(
            cs[1].read(&mut b).unwrap(),
            1,
            "third not served after a close (round {round})"
        );
        assert_eq!(b[0], b'c');
        drop(cs);
        std::thread::sleep(Duration::from_millis(100));
    }
    // Waiting at the limit must not burn CPU (level-triggered listener).
    let _held: Vec<TcpStream> = (0..3).map(|_| TcpStream::connect(addr2).unwrap()).collect();
    let stat = |pid: u32| -> u64 {
        let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        let f: Vec<&str> = s.rsplit(')').next().unwrap().split_whitespace().collect();
        f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
    };
    std::thread::sleep(Duration::from_millis(200));
    let t0 = stat(proxy.pid());
    std::thread::sleep(Duration::from_secs(1));
    let spent = stat(proxy.pid()) - t0;
    assert!(spent < 20, "proxy used {spent} ticks in 1 s while at maxconn");
}
