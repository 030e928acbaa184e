//! How a finished, reusable server connection that is not kept for reuse
//! is closed: with a reset, as HAProxy does (no FIN handshake, and no
//! TIME_WAIT socket left on the proxy for each such connection).

use rhaproxy_tests::{free_port, spawn_rhaproxy, wait_listening, TempDir};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::Duration;

/// An origin serving one keep-alive response on its first connection,
/// then reporting how the proxy ended that connection.
fn origin() -> (SocketAddr, mpsc::Receiver<&'static str>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let Ok((mut c, _)) = l.accept() else { return };
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = Vec::new();
        let mut tmp = [0u8; 4096];
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
            match c.read(&mut tmp) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&tmp[..n]),
            }
        }
        let _ = c.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
        let end = match c.read(&mut tmp) {
            Ok(0) => "fin",
            Ok(_) => "data",
            Err(e) if e.kind() == ErrorKind::ConnectionReset => "reset",
            Err(_) => "timeout",
        };
        let _ = tx.send(end);
    });
    (addr, rx)
}

#[test]
fn unkept_server_connection_is_reset() {
    let dir = TempDir::new("srv-release");
    let (o, rx) = origin();
    let port = free_port();
    // pool-max-conn 0: the connection may not be parked, so it is closed
    // as soon as the response is delivered.
    let cfg = format!(
        "defaults\n    mode http\n    timeout client 5s\n    timeout server 5s\n    timeout connect 2s\n\
         listen p\n    bind 127.0.0.1:{port}\n    server s1 {o} pool-max-conn 0\n"
    );
    let _p = spawn_rhaproxy(&dir, "p.cfg", &cfg);
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    assert!(wait_listening(addr, Duration::from_secs(5)), "listening");
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c.write_all(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    let _ = c.read_to_string(&mut out);
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap(), "reset");
}
