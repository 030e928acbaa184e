//! How the process reacts to signals: SIGTERM stops at once, SIGUSR1 stops
//! accepting and exits once the running streams are over, and in between
//! the main thread sleeps (it waits on a signalfd, no periodic wake-ups).

use rhaproxy_tests::{free_port, silent_origin, spawn_rhaproxy, wait_listening, Proc, TempDir};
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

fn start(dir: &TempDir) -> (Proc, SocketAddr) {
    let port = free_port();
    let origin = silent_origin();
    let cfg = format!(
        "defaults\n    mode http\n    timeout client 5s\n    timeout server 1s\n    timeout connect 1s\n\
         listen p\n    bind 127.0.0.1:{port}\n    server s1 {origin}\n"
    );
    let p = spawn_rhaproxy(dir, "p.cfg", &cfg);
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    assert!(wait_listening(addr, Duration::from_secs(5)), "listening");
    (p, addr)
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
    let (mut p, _addr) = start(&dir);
    let before = main_thread_switches(p.pid());
    std::thread::sleep(Duration::from_millis(300));
    let after = main_thread_switches(p.pid());
    // A 20 ms polling loop would wake up ~15 times here.
    assert!(after - before <= 2, "main thread woke up {} times", after - before);
    p.signal(libc::SIGTERM);
    let st = p.wait_timeout(Duration::from_secs(5)).expect("exits on SIGTERM");
    assert!(st.success(), "{st:?}");
}

#[test]
fn sigusr1_waits_for_the_running_stream() {
    let dir = TempDir::new("sig-usr1");
    let (mut p, addr) = start(&dir);
    let mut c = TcpStream::connect(addr).unwrap();
    c.write_all(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));
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
