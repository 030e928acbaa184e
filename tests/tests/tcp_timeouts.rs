//! `mode tcp` timeouts end to end — `timeout connect`, `server`, `tunnel`,
//! `client-fin`, `server-fin` — with half-closed connections that keep
//! carrying data the other way. Each case runs on rhaproxy and, when it is
//! installed, on HAProxy 2.6 with the same configuration and timings.

use rhaproxy_tests::{free_port, real_haproxy, spawn_proxy, wait_listening, Proc, TempDir};
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn proxies() -> Vec<PathBuf> {
    let mut v = vec![rhaproxy_tests::bin("rhaproxy")];
    v.extend(real_haproxy());
    v
}

/// An origin running `f` on every connection in its own thread.
fn origin(f: fn(TcpStream)) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for c in l.incoming().flatten() {
            std::thread::spawn(move || f(c));
        }
    });
    addr
}

fn hold(mut c: TcpStream) {
    let mut b = [0u8; 256];
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    while matches!(c.read(&mut b), Ok(n) if n > 0) {}
    std::thread::sleep(Duration::from_secs(10));
}

/// Starts `bin` with one `listen` section; returns it and its address.
fn start(bin: &Path, dir: &TempDir, timeouts: &str, server: SocketAddr) -> (Proc, SocketAddr) {
    let port = free_port();
    let cfg = format!(
        "defaults\n    mode tcp\n    retries 0\n{timeouts}\nlisten p\n    bind 127.0.0.1:{port}\n    server s1 {server}\n"
    );
    let path = dir.write("t.cfg", &cfg);
    let p = spawn_proxy(bin, &path, "proxy");
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    assert!(
        wait_listening(addr, Duration::from_secs(5)),
        "{} not listening",
        bin.display()
    );
    (p, addr)
}

/// Reads until the proxy closes; returns the bytes and when it closed.
fn until_close(c: &mut TcpStream, t0: Instant) -> (Vec<u8>, Duration) {
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut out = Vec::new();
    let mut b = [0u8; 256];
    loop {
        match c.read(&mut b) {
            Ok(0) | Err(_) => return (out, t0.elapsed()),
            Ok(n) => out.extend_from_slice(&b[..n]),
        }
    }
}

fn within(d: Duration, lo: u64, hi: u64) -> bool {
    d >= Duration::from_millis(lo) && d < Duration::from_millis(hi)
}

/// A server that never completes the handshake: a listener whose one-slot
/// accept queue is already full drops further SYNs.
fn blackhole() -> (SocketAddr, Vec<std::os::fd::OwnedFd>, Vec<TcpStream>) {
    use std::os::fd::FromRawFd;
    // SAFETY: plain socket calls on a descriptor we own; the address is a
    // live sockaddr_in of the given size.
    let fd = unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
        let mut sa: libc::sockaddr_in = std::mem::zeroed();
        sa.sin_family = libc::AF_INET as libc::sa_family_t;
        sa.sin_addr.s_addr = u32::from_ne_bytes([127, 0, 0, 1]);
        assert_eq!(
            libc::bind(
                fd,
                &sa as *const _ as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_in>() as u32
            ),
            0
        );
        assert_eq!(libc::listen(fd, 0), 0);
        std::os::fd::OwnedFd::from_raw_fd(fd)
    };
    let l = std::mem::ManuallyDrop::new(unsafe {
        // SAFETY: borrowed view of our own descriptor, never closed here.
        TcpListener::from_raw_fd(std::os::fd::AsRawFd::as_raw_fd(&fd))
    });
    let addr = l.local_addr().unwrap();
    // Fill the queue (backlog 0 holds one, the kernel allows one more).
    let fillers: Vec<TcpStream> = (0..2)
        .filter_map(|_| TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok())
        .collect();
    (addr, vec![fd], fillers)
}

#[test]
fn connect_timeout_closes_the_client() {
    let (dead, _keep, _fill) = blackhole();
    for bin in proxies() {
        let dir = TempDir::new("tcp-tmo-connect");
        let (_p, addr) = start(
            &bin,
            &dir,
            "    timeout connect 300ms\n    timeout client 5s\n    timeout server 5s",
            dead,
        );
        let mut c = TcpStream::connect(addr).unwrap();
        let t0 = Instant::now();
        let (_, el) = until_close(&mut c, t0);
        assert!(within(el, 250, 1500), "{}: closed after {el:?}", bin.display());
    }
}

#[test]
fn server_timeout_and_tunnel_timeout() {
    let silent = origin(hold);
    for bin in proxies() {
        let who = bin.display().to_string();
        // timeout server: the server's silence ends the connection.
        let dir = TempDir::new("tcp-tmo-server");
        let (_p, addr) = start(
            &bin,
            &dir,
            "    timeout connect 1s\n    timeout client 5s\n    timeout server 300ms",
            silent,
        );
        let mut c = TcpStream::connect(addr).unwrap();
        c.write_all(b"hello").unwrap();
        let t0 = Instant::now();
        let (_, el) = until_close(&mut c, t0);
        assert!(within(el, 250, 1500), "{who}: server timeout after {el:?}");
        // timeout tunnel replaces client and server once connected.
        let dir = TempDir::new("tcp-tmo-tunnel");
        let (_p, addr) = start(
            &bin,
            &dir,
            "    timeout connect 1s\n    timeout client 200ms\n    timeout server 200ms\n    timeout tunnel 900ms",
            silent,
        );
        let mut c = TcpStream::connect(addr).unwrap();
        c.write_all(b"hello").unwrap();
        let t0 = Instant::now();
        let (_, el) = until_close(&mut c, t0);
        assert!(within(el, 800, 2500), "{who}: tunnel timeout after {el:?}");
    }
}

/// The origin answers the client's FIN 200 ms later, then holds its side
/// open without a word.
fn answer_after_fin(mut c: TcpStream) {
    let mut b = [0u8; 256];
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    while matches!(c.read(&mut b), Ok(n) if n > 0) {}
    std::thread::sleep(Duration::from_millis(200));
    let _ = c.write_all(b"late answer");
    std::thread::sleep(Duration::from_secs(10));
}

/// What `greet_and_shut` origins received after their own FIN.
static AFTER_FIN: std::sync::Mutex<Vec<u8>> = std::sync::Mutex::new(Vec::new());

/// The origin sends a greeting, closes its side for writing and keeps
/// reading (recording) until the proxy closes.
fn greet_and_shut(mut c: TcpStream) {
    let _ = c.write_all(b"greeting");
    let _ = c.shutdown(Shutdown::Write);
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut b = [0u8; 256];
    while let Ok(n) = c.read(&mut b) {
        if n == 0 {
            break;
        }
        AFTER_FIN.lock().unwrap().extend_from_slice(&b[..n]);
    }
}

#[test]
fn server_fin_client_keeps_receiving_then_times_out() {
    let o = origin(answer_after_fin);
    for bin in proxies() {
        let who = bin.display().to_string();
        let dir = TempDir::new("tcp-tmo-sfin");
        let (_p, addr) = start(
            &bin,
            &dir,
            "    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n    timeout server-fin 600ms",
            o,
        );
        let mut c = TcpStream::connect(addr).unwrap();
        c.write_all(b"question").unwrap();
        c.shutdown(Shutdown::Write).unwrap();
        let t0 = Instant::now();
        let (got, el) = until_close(&mut c, t0);
        // Our FIN went to the server (server-fin starts there); half-closed,
        // the client still gets the late answer, then the
        // server-fin timeout (not the 5 s server timeout) ends it.
        assert_eq!(got, b"late answer", "{who}");
        assert!(within(el, 500, 2000), "{who}: server-fin after {el:?}");
    }
}

#[test]
fn client_fin_server_keeps_receiving_then_times_out() {
    let o = origin(greet_and_shut);
    for bin in proxies() {
        let who = bin.display().to_string();
        let dir = TempDir::new("tcp-tmo-cfin");
        let (_p, addr) = start(
            &bin,
            &dir,
            "    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n    timeout client-fin 600ms",
            o,
        );
        let mut c = TcpStream::connect(addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let t0 = Instant::now();
        let mut got = Vec::new();
        let mut b = [0u8; 64];
        // The greeting, then EOF: the server's FIN was passed on and our
        // side is half-closed (client-fin starts).
        loop {
            match c.read(&mut b) {
                Ok(0) => break,
                Ok(n) => got.extend_from_slice(&b[..n]),
                Err(e) => panic!("{who}: {e} after {got:?}"),
            }
        }
        assert_eq!(got, b"greeting", "{who}");
        // Our side still carries data to the half-closed server.
        AFTER_FIN.lock().unwrap().clear();
        c.write_all(b"ping").unwrap();
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(AFTER_FIN.lock().unwrap().as_slice(), b"ping", "{who}");
        // Then silence: client-fin (600 ms, not the 5 s timeouts) ends the
        // connection; a write then meets a reset.
        std::thread::sleep(Duration::from_millis(1200));
        let gone = c.write_all(b"x").is_err() || {
            std::thread::sleep(Duration::from_millis(50));
            c.write_all(b"x").is_err()
        };
        assert!(gone, "{who}: still open 1.4 s after the server's FIN");
        let el = t0.elapsed();
        assert!(el < Duration::from_millis(4000), "{who}: {el:?}");
    }
}
