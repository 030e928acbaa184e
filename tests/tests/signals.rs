//! How the process reacts to signals: SIGTERM stops at once, SIGUSR1 stops
//! accepting, closes HTTP clients idle between requests and exits once the
//! running streams are over, and in between the main thread sleeps (it
//! waits on a signalfd, no periodic wake-ups).

use rhaproxy_tests::{free_port, spawn_rhaproxy, wait_listening, Proc, TempDir};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// An origin that takes every connection and either holds it without a
/// word (`answer` false) or answers each request at once, keep-alive.
/// Each accepted connection is reported on the channel.
fn origin(answer: bool) -> (SocketAddr, mpsc::Receiver<()>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for c in l.incoming().flatten() {
            let _ = tx.send(());
            std::thread::spawn(move || {
                let mut c = c;
                let _ = c.set_read_timeout(Some(Duration::from_secs(20)));
                let mut buf = Vec::new();
                let mut tmp = [0u8; 4096];
                loop {
                    match c.read(&mut tmp) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&tmp[..n]),
                    }
                    while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        buf.drain(..end + 4);
                        if answer && c.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok").is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    (addr, rx)
}

fn start(dir: &TempDir) -> (Proc, SocketAddr, mpsc::Receiver<()>) {
    start_with(dir, false, "timeout client 5s")
}

fn start_with(dir: &TempDir, answer: bool, timeouts: &str) -> (Proc, SocketAddr, mpsc::Receiver<()>) {
    let port = free_port();
    let (origin, accepted) = origin(answer);
    let cfg = format!(
        "defaults\n    mode http\n    {timeouts}\n    timeout server 1s\n    timeout connect 1s\n\
         listen p\n    bind 127.0.0.1:{port}\n    server s1 {origin}\n"
    );
    let p = spawn_rhaproxy(dir, "p.cfg", &cfg);
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    assert!(wait_listening(addr, Duration::from_secs(5)), "listening");
    (p, addr, accepted)
}

/// Voluntary context switches of the process's main thread.
fn main_thread_switches(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/status")).unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
        .map(|v| v.trim().parse().unwrap())
        .unwrap()
}

#[test]
fn idle_main_thread_sleeps_and_sigterm_stops() {
    let dir = TempDir::new("sig-term");
    let (mut p, _addr, _) = start(&dir);
    let before = main_thread_switches(p.pid());
    std::thread::sleep(Duration::from_millis(300));
    let after = main_thread_switches(p.pid());
    // A 20 ms polling loop would wake up ~15 times here.
    assert!(after - before <= 2, "main thread woke up {} times", after - before);
    p.signal(libc::SIGTERM);
    let st = p.wait_timeout(Duration::from_secs(5)).expect("exits on SIGTERM");
    // HAProxy 2.6 leaves SIGTERM to its default action: killed by it.
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(st.signal(), Some(libc::SIGTERM), "{st:?}");
}

#[test]
fn sigusr1_waits_for_the_running_stream() {
    let dir = TempDir::new("sig-usr1");
    let (mut p, addr, accepted) = start(&dir);
    let mut c = TcpStream::connect(addr).unwrap();
    c.write_all(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .unwrap();
    // The stream is running once its server connection exists.
    accepted
        .recv_timeout(Duration::from_secs(5))
        .expect("request at the server");
    p.signal(libc::SIGUSR1);
    // The request waits for the silent server (timeout server 1s, then
    // 504): the process is still there meanwhile.
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        p.child.as_mut().unwrap().try_wait().unwrap().is_none(),
        "exited before the stream ended"
    );
    let st = p
        .wait_timeout(Duration::from_secs(5))
        .expect("exits once the stream is over");
    assert!(st.success(), "{st:?}");
}

#[test]
fn sigusr1_closes_idle_keep_alive_clients_at_once() {
    // As HAProxy 2.6 (checked with its binary): a client idle between two
    // requests is closed at soft stop, rather than holding the process
    // until its keep-alive timeout (30 s here).
    let dir = TempDir::new("sig-usr1-idle");
    let (mut p, addr, _) = start_with(&dir, true, "timeout client 30s\n    timeout http-keep-alive 30s");
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n").unwrap();
    let mut resp = Vec::new();
    let mut tmp = [0u8; 4096];
    while !resp.ends_with(b"\r\n\r\nok") {
        let n = c.read(&mut tmp).expect("response");
        assert!(n > 0, "closed before the response: {resp:?}");
        resp.extend_from_slice(&tmp[..n]);
    }
    assert!(resp.starts_with(b"HTTP/1.1 200 OK\r\n"), "{resp:?}");
    p.signal(libc::SIGUSR1);
    let t0 = Instant::now();
    assert_eq!(
        c.read(&mut tmp).expect("closed, not timed out"),
        0,
        "closed without a word"
    );
    assert!(t0.elapsed() < Duration::from_secs(5), "closed after {:?}", t0.elapsed());
    let st = p
        .wait_timeout(Duration::from_secs(5))
        .expect("exits without waiting for the keep-alive timeout");
    assert!(st.success(), "{st:?}");
}
