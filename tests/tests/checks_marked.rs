//! `on-marked-down shutdown-sessions` and `on-marked-up
//! shutdown-backup-sessions` end to end in TCP mode: the streams of a
//! server marked DOWN by its check end at once (log termination "D-"), and
//! a primary server coming UP ends the streams of the backup servers
//! ("U-"), as HAProxy 2.6.12 does (when /usr/sbin/haproxy is installed the
//! same scenario runs on it too). Bad values are HAProxy's alerts.

use rhaproxy_tests::{bin, free_port, real_haproxy, wait_listening, Proc, TempDir};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(5);

/// Accepts and holds connections until the test process ends.
fn holder() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for c in l.incoming().flatten() {
            held.push(c);
        }
    });
    port
}

/// A listener the check can reach, closed and reopened on demand.
struct CheckPort {
    port: u16,
    l: Option<TcpListener>,
}

impl CheckPort {
    fn open(&mut self) {
        self.l = Some(TcpListener::bind(("127.0.0.1", self.port)).unwrap());
    }
    fn close(&mut self) {
        self.l = None;
    }
}

fn wait_log(out: &Path, what: &str) -> String {
    let deadline = Instant::now() + T;
    loop {
        let s = std::fs::read_to_string(out).unwrap_or_default();
        // (the harness's listening probe is logged too, as a "CC" line)
        if let Some(l) = s.lines().find(|l| l.contains(what) && !l.contains(" CC ")) {
            return l.to_string();
        }
        assert!(Instant::now() < deadline, "no {what:?} in\n{s}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sends a byte through the proxy, then waits for the proxy to close.
fn wait_closed(c: &mut TcpStream) -> bool {
    c.set_read_timeout(Some(T)).unwrap();
    let mut b = [0u8; 16];
    matches!(c.read(&mut b), Ok(0) | Err(_))
}

fn scenario(prog: &Path, up: bool) -> String {
    let dir = TempDir::new("chk-marked");
    let (origin, lport) = (holder(), free_port());
    let mut chk = CheckPort {
        port: free_port(),
        l: None,
    };
    if !up {
        chk.open();
    }
    let opt = if up {
        "on-marked-up shutdown-backup-sessions"
    } else {
        "on-marked-down shutdown-sessions"
    };
    let cfg = format!(
        "global\n  log stdout format raw local0\ndefaults\n  mode tcp\n  log global\n  option tcplog\n  timeout client 5s\n  timeout server 5s\n  timeout connect 1s\nlisten li\n  bind 127.0.0.1:{lport}\n  server s 127.0.0.1:{origin} check port {} inter 100 fall 1 rise 1 {opt}\n  server bk 127.0.0.1:{origin} backup\n",
        chk.port
    );
    let path = dir.write("c.cfg", &cfg);
    let out = dir.path().join("out");
    let mut c = Command::new(prog);
    c.arg("-db")
        .arg("-f")
        .arg(&path)
        .stdout(Stdio::from(std::fs::File::create(&out).unwrap()))
        .stderr(Stdio::null());
    let _p = Proc::spawn(c, "proxy");
    let addr: SocketAddr = format!("127.0.0.1:{lport}").parse().unwrap();
    assert!(wait_listening(addr, T));
    if up {
        // the primary is DOWN first: the stream goes to the backup
        wait_log(&out, "Server li/s is DOWN");
    } else {
        std::thread::sleep(Duration::from_millis(300));
    }
    let mut cl = TcpStream::connect(addr).unwrap();
    cl.write_all(b"x").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    if up {
        chk.open();
        wait_log(&out, "Server li/s is UP");
    } else {
        chk.close();
        wait_log(&out, "Server li/s is DOWN");
    }
    assert!(wait_closed(&mut cl), "{}: stream not cut", prog.display());
    let l = wait_log(&out, "] li li/");
    // server, timers, bytes and termination state
    l.split_whitespace().skip(3).take(4).collect::<Vec<_>>().join(" ")
}

#[test]
fn marked_down_and_up_cut_streams() {
    let mut progs = vec![bin("rhaproxy")];
    progs.extend(real_haproxy());
    for prog in progs {
        let down = scenario(&prog, false);
        assert!(
            down.starts_with("li/s ") && down.ends_with(" D-"),
            "{}: {down}",
            prog.display()
        );
        let up = scenario(&prog, true);
        assert!(
            up.starts_with("li/bk ") && up.ends_with(" U-"),
            "{}: {up}",
            prog.display()
        );
    }
}

#[test]
fn bad_values_like_haproxy() {
    let dir = TempDir::new("chk-marked-cfg");
    dir.write(
        "c.cfg",
        "defaults\n  timeout client 1s\n  timeout server 1s\n  timeout connect 1s\nbackend be\n  server s 127.0.0.1:1 check on-marked-down foo\n  server s2 127.0.0.1:1 check on-marked-up bar\nfrontend fe\n  bind 127.0.0.1:1\n  default_backend be\n",
    );
    let mut progs = vec![bin("rhaproxy")];
    progs.extend(real_haproxy());
    for prog in progs {
        let mut c = Command::new(&prog);
        c.arg("-c").arg("-f").arg("c.cfg").current_dir(dir.path());
        let out = rhaproxy_tests::run(c, T);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        for a in [
            "[c.cfg:6] : 'server be/s' : 'on-marked-down' expects 'shutdown-sessions' but got 'foo'.",
            "[c.cfg:7] : 'server be/s2' : 'on-marked-up' expects 'shutdown-backup-sessions' but got 'bar'.",
        ] {
            assert!(err.contains(a), "{}: {err}", prog.display());
        }
    }
}
