//! Health checks end to end: a refusing server goes DOWN and traffic goes
//! to the others, it comes back UP after `rise` successes, `option
//! httpchk` with `http-check expect status`, backup takeover, `set server
//! health` from the CLI, and the stderr state-change lines in HAProxy
//! 2.6's exact format; `option log-health-checks` and maintenance
//! lines on syslog with their levels.

use rhaproxy_tests::{bin, cli, free_port, spawn_logged, wait_line, wait_unix, Proc, TempDir};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// An HTTP origin on `l` answering `name` as body, and `check_status` to
/// requests for /health. Lives until the test process ends.
fn origin_on(l: TcpListener, name: &'static str, check_status: u16) {
    std::thread::spawn(move || {
        for c in l.incoming().flatten() {
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
                    let r = if head.split_whitespace().nth(1) == Some("/health") {
                        let reason = if check_status == 200 {
                            "OK"
                        } else {
                            "Service Unavailable"
                        };
                        format!("HTTP/1.1 {check_status} {reason}\r\ncontent-length: 0\r\n\r\n")
                    } else {
                        format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{name}", name.len())
                    };
                    if c.write_all(r.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
}

fn origin(name: &'static str, check_status: u16) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let a = l.local_addr().unwrap();
    origin_on(l, name, check_status);
    a
}

struct Rh {
    _p: Proc,
    addr: SocketAddr,
    sock: PathBuf,
    err: PathBuf,
}

impl Rh {
    fn start(dir: &TempDir, backend: &str) -> Rh {
        let port = free_port();
        let sock = dir.path().join("stats.sock");
        let cfg = format!(
            "global\n    stats socket {} level admin\ndefaults\n    mode http\n    timeout client 5s\n    timeout server 5s\n    timeout connect 1s\nfrontend f\n    bind 127.0.0.1:{port}\n    default_backend b\nbackend b\n{backend}",
            sock.display()
        );
        let path = dir.write("c.cfg", &cfg);
        let err = dir.path().join("stderr");
        let p = spawn_logged(&bin("rhaproxy"), &path, &err, dir.path(), "rhaproxy");
        assert!(wait_unix(&sock, Duration::from_secs(5)), "stats socket");
        Rh {
            _p: p,
            addr: format!("127.0.0.1:{port}").parse().unwrap(),
            sock,
            err,
        }
    }

    /// Waits for a stderr line containing `what`; returns it.
    fn wait_line(&self, what: &str) -> String {
        wait_line(&self.err, what, Duration::from_secs(5))
    }

    fn body(&self) -> String {
        let mut s = TcpStream::connect(self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        assert!(out.starts_with("HTTP/1.1 200"), "{out}");
        out.split("\r\n\r\n").nth(1).unwrap_or("").to_string()
    }

    /// Waits until a `show stat` cell reads `want` (checks run on their
    /// own schedule).
    fn wait_stat(&self, sv: &str, col: &str, want: &str) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.stat(sv, col) != want {
            assert!(Instant::now() < deadline, "{sv} {col} never became {want}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn stat(&self, sv: &str, col: &str) -> String {
        let out = cli(&self.sock, "show stat", Duration::from_secs(5));
        let hdr: Vec<&str> = out
            .lines()
            .next()
            .unwrap()
            .trim_start_matches("# ")
            .split(',')
            .collect();
        let i = hdr.iter().position(|h| *h == col).unwrap();
        let row = out
            .lines()
            .find(|l| l.starts_with(&format!("b,{sv},")))
            .unwrap_or_else(|| panic!("{out}"));
        row.split(',').nth(i).unwrap().to_string()
    }
}

/// The part of a state-change line after "(pid) : ", with the check
/// duration (timing-dependent) replaced by "Nms".
fn text_of(line: &str) -> String {
    let t = line.split_once(") : ").map(|x| x.1).unwrap_or(line).to_string();
    match t.find("check duration: ") {
        Some(p) => {
            let rest = &t[p + 16..];
            let end = rest.find("ms").unwrap();
            format!("{}check duration: Nms{}", &t[..p], &rest[end + 2..])
        }
        None => t,
    }
}

#[test]
fn refused_server_goes_down_then_up_after_rise() {
    let dir = TempDir::new("chk-l4");
    let dead = free_port();
    let live = origin("s2", 200);
    let rh = Rh::start(
        &dir,
        &format!(
            "    server s1 127.0.0.1:{dead} check inter 100 rise 2 fall 2\n    server s2 {live} check inter 100\n"
        ),
    );
    let down = rh.wait_line("Server b/s1 is DOWN");
    assert!(down.starts_with("[WARNING]  ("), "{down}");
    assert_eq!(
        text_of(&down),
        "Server b/s1 is DOWN, reason: Layer4 connection problem, info: \"Connection refused\", check duration: Nms. 1 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue."
    );
    for _ in 0..6 {
        assert_eq!(rh.body(), "s2", "a DOWN server gets no traffic");
    }
    assert_eq!(rh.stat("s1", "status"), "DOWN");
    assert_eq!(rh.stat("s1", "check_status"), "L4CON");
    assert_eq!(rh.stat("s1", "last_chk"), "Connection refused");
    assert_eq!(rh.stat("s1", "chkdown"), "1");
    // Servers start one failure away from DOWN ("UP 1/3"), fully up
    // after their first good check.
    rh.wait_stat("s2", "check_status", "L4OK");
    assert_eq!(rh.stat("s2", "status"), "UP");
    // The server comes to life: two good checks bring it back.
    let l = TcpListener::bind(("127.0.0.1", dead)).unwrap();
    origin_on(l, "s1", 200);
    let up = rh.wait_line("Server b/s1 is UP");
    assert_eq!(
        text_of(&up),
        "Server b/s1 is UP, reason: Layer4 check passed, check duration: Nms. 2 active and 0 backup servers online. 0 sessions requeued, 0 total in queue."
    );
    let seen: Vec<String> = (0..4).map(|_| rh.body()).collect();
    assert!(seen.iter().any(|b| b == "s1"), "{seen:?}");
    assert_eq!(rh.stat("s1", "status"), "UP");
    assert_eq!(rh.stat("s1", "check_health"), "3");
}

#[test]
fn httpchk_expect_status_and_backup_takeover() {
    let dir = TempDir::new("chk-http");
    let sick = origin("s1", 503);
    let bk = origin("bk", 200);
    let rh = Rh::start(
        &dir,
        &format!(
            "    option httpchk GET /health\n    http-check expect status 200\n    server s1 {sick} check inter 100\n    server bk {bk} check inter 100 backup\n"
        ),
    );
    let down = rh.wait_line("Server b/s1 is DOWN");
    assert_eq!(
        text_of(&down),
        "Server b/s1 is DOWN, reason: Layer7 wrong status, code: 503, info: \"Service Unavailable\", check duration: Nms. 0 active and 1 backup servers left. Running on backup. 0 sessions active, 0 requeued, 0 remaining in queue."
    );
    assert_eq!(rh.body(), "bk", "the backup takes over");
    // The backup's first check may come a little later (start spread).
    rh.wait_stat("bk", "check_status", "L7OK");
    assert_eq!(rh.stat("s1", "check_status"), "L7STS");
    assert_eq!(rh.stat("s1", "check_code"), "503");
    assert_eq!(rh.stat("bk", "check_status"), "L7OK");
    assert_eq!(rh.stat("bk", "check_code"), "200");
    // The CLI takes the backup down too: no server is left.
    let out = cli(&rh.sock, "set server b/bk health down", Duration::from_secs(5));
    assert_eq!(out.trim(), "");
    let l = rh.wait_line("Backup Server b/bk is DOWN");
    assert_eq!(
        text_of(&l),
        "Backup Server b/bk is DOWN, changed from CLI. 0 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue."
    );
    let alert = rh.wait_line("has no server available");
    assert!(alert.starts_with("[ALERT]    ("), "{alert}");
    assert_eq!(text_of(&alert), "backend 'b' has no server available!");
}

#[test]
fn allbackups_spreads_over_every_backup() {
    let dir = TempDir::new("chk-allbk");
    let dead = free_port();
    let b1 = origin("b1", 200);
    let b2 = origin("b2", 200);
    let rh = Rh::start(
        &dir,
        &format!(
            "    option allbackups\n    server s1 127.0.0.1:{dead} check inter 100\n    server b1 {b1} backup\n    server b2 {b2} backup\n"
        ),
    );
    rh.wait_line("Server b/s1 is DOWN");
    let mut seen: Vec<String> = (0..6).map(|_| rh.body()).collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen, ["b1", "b2"]);
}

#[test]
fn unsupported_check_keywords_are_refused() {
    let dir = TempDir::new("chk-refuse");
    for (body, kw) in [
        ("    server s1 127.0.0.1:1 check observe layer4\n", "'observe'"),
        (
            "    option httpchk\n    http-check disable-on-404\n    server s1 127.0.0.1:1 check\n",
            "'http-check disable-on-404'",
        ),
        ("    server s1 127.0.0.1:1 check agent-check\n", "'agent-check'"),
    ] {
        let cfg = format!(
            "defaults\n    mode http\n    timeout client 1s\n    timeout server 1s\n    timeout connect 1s\nfrontend f\n    bind 127.0.0.1:{}\n    default_backend b\nbackend b\n{body}",
            free_port()
        );
        let path = dir.write("r.cfg", &cfg);
        let out = rhaproxy_tests::run(
            {
                let mut c = Command::new(bin("rhaproxy"));
                c.arg("-db").arg("-f").arg(&path);
                c
            },
            Duration::from_secs(5),
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{body}");
        assert!(err.contains(kw) && err.contains("r.cfg:"), "{err}");
    }
}

/// Next syslog datagram containing `what` (others are skipped); the
/// priority and the message after "]: ", duration masked.
fn wait_syslog(rx: &std::net::UdpSocket, what: &str) -> (String, String) {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut b = vec![0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "no syslog line with {what:?}");
        rx.set_read_timeout(Some(left)).unwrap();
        let n = rx.recv(&mut b).expect("syslog line");
        let l = String::from_utf8_lossy(&b[..n]).trim_end().to_string();
        if l.contains(what) {
            let pri = l[..l.find('>').unwrap() + 1].to_string();
            let msg = l.split_once("]: ").map(|x| x.1).unwrap_or(&l);
            return (pri, text_of(&format!(") : {msg}")));
        }
    }
}

#[test]
fn log_health_checks_and_maintenance_on_syslog() {
    let dir = TempDir::new("chk-log");
    let rx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let live = origin("s1", 200);
    let dead = free_port();
    let rh = Rh::start(
        &dir,
        &format!(
            "    log {} daemon\n    option log-health-checks\n    server s1 {live} check inter 100 rise 1 fall 1\n    server s2 127.0.0.1:{dead} check inter 100 rise 2 fall 2\n",
            rx.local_addr().unwrap()
        ),
    );
    // daemon (3) * 8 + notice (5): one line per result that moves the
    // health counter or changes the status.
    assert_eq!(
        wait_syslog(&rx, "server b/s1 succeeded"),
        (
            "<29>".into(),
            "Health check for server b/s1 succeeded, reason: Layer4 check passed, check duration: Nms, status: 1/1 UP."
                .into()
        )
    );
    assert_eq!(
        wait_syslog(&rx, "server b/s2 failed"),
        (
            "<29>".into(),
            "Health check for server b/s2 failed, reason: Layer4 connection problem, info: \"Connection refused\", check duration: Nms, status: 0/2 DOWN.".into()
        )
    );
    // The state change of a running server at alert (1).
    let (pri, _) = wait_syslog(&rx, "Server b/s2 is DOWN");
    assert_eq!(pri, "<25>");
    // Maintenance from the CLI: alert, then the backend at emerg (0),
    // unquoted on syslog (quoted on stderr).
    assert_eq!(cli(&rh.sock, "disable server b/s1", Duration::from_secs(5)).trim(), "");
    assert_eq!(
        wait_syslog(&rx, "maintenance"),
        (
            "<25>".into(),
            "Server b/s1 is going DOWN for maintenance. 0 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue.".into()
        )
    );
    assert_eq!(
        wait_syslog(&rx, "no server available"),
        ("<24>".into(), "backend b has no server available!".into())
    );
    assert!(rh
        .wait_line("has no server available")
        .ends_with("backend 'b' has no server available!"));
    assert_eq!(cli(&rh.sock, "enable server b/s1", Duration::from_secs(5)).trim(), "");
    assert_eq!(
        wait_syslog(&rx, "leaving forced maintenance"),
        (
            "<29>".into(),
            "Server b/s1 is UP/READY (leaving forced maintenance).".into()
        )
    );
    assert_eq!(rh.body(), "s1");
}
