//! `show sess` sees the streams of every thread, and `shutdown session` /
//! `shutdown sessions server` end them, whichever thread owns them.

use rhaproxy_tests::{cli, free_port, silent_origin, spawn_rhaproxy, wait_unix, TempDir};
use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

fn sess_ids(sock: &std::path::Path) -> Vec<String> {
    cli(sock, "show sess", Duration::from_secs(5))
        .lines()
        .filter(|l| l.contains(" fe=p "))
        .map(|l| l.split(':').next().unwrap().to_string())
        .collect()
}

fn closed_within(c: &mut TcpStream, d: Duration) -> bool {
    c.set_read_timeout(Some(d)).unwrap();
    let mut b = [0u8; 16];
    matches!(c.read(&mut b), Ok(0))
        || matches!(c.read(&mut b), Err(ref e) if e.kind() == std::io::ErrorKind::ConnectionReset)
}

#[test]
fn show_and_shutdown_sessions_across_threads() {
    let dir = TempDir::new("cli-sess");
    // A silent origin holding every connection.
    let oaddr = silent_origin();
    let port = free_port();
    let sock = dir.path().join("s.sock");
    let cfg = format!(
        "global\n    nbthread 4\n    stats socket {} level admin\ndefaults\n    mode tcp\n    timeout client 30s\n    timeout server 30s\n    timeout connect 2s\nlisten p\n    bind 127.0.0.1:{port}\n    server s1 {oaddr}\n",
        sock.display()
    );
    let _p = spawn_rhaproxy(&dir, "p.cfg", &cfg);
    assert!(wait_unix(&sock, Duration::from_secs(5)));
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut clients: Vec<TcpStream> = (0..12).map(|_| TcpStream::connect(addr).unwrap()).collect();
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut ids = sess_ids(&sock);
    while ids.len() < 12 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        ids = sess_ids(&sock);
    }
    assert_eq!(ids.len(), 12, "show sess lists every thread's streams");
    let threads: std::collections::HashSet<u64> = ids
        .iter()
        .map(|id| u64::from_str_radix(id.trim_start_matches("0x"), 16).unwrap() >> 56)
        .collect();
    assert!(threads.len() > 1, "connections spread over threads: {threads:?}");

    // Kill one stream by id: exactly one client sees its connection end.
    let victim = ids[0].clone();
    assert_eq!(
        cli(&sock, &format!("shutdown session {victim}"), Duration::from_secs(5)),
        "\n"
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while sess_ids(&sock).len() != 11 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(sess_ids(&sock).len(), 11);
    assert!(!sess_ids(&sock).contains(&victim));
    assert_eq!(
        cli(&sock, "shutdown session 0xdeadbeef", Duration::from_secs(5)),
        "No such session (use 'show sess').\n\n"
    );

    // Then everything on the server.
    assert_eq!(
        cli(&sock, "shutdown sessions server p/s1", Duration::from_secs(5)),
        "\n"
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while !sess_ids(&sock).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(sess_ids(&sock).is_empty());
    for c in clients.iter_mut() {
        assert!(closed_within(c, Duration::from_secs(2)), "client still open");
    }
}
