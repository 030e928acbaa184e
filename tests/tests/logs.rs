//! Logs end to end: rhaproxy sends syslog lines to a UDP socket bound by
//! the test; each case checks the line's shape and, when real HAProxy is
//! installed, that HAProxy sends a line of the same shape for the same
//! traffic (fields that vary between runs — dates, pids, ports, timers —
//! are masked before comparing).

use rhaproxy_tests::{bin, free_port, real_haproxy, wait_listening, Proc, TempDir};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// An HTTP origin answering every request with a 5-byte body; it echoes
/// the request head in an `x-req` header's place in its body when asked
/// (`/echo`), so tests can see what the proxy forwarded.
fn origin() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for c in l.incoming().flatten() {
            std::thread::spawn(move || serve(c));
        }
    });
    addr
}

fn serve(mut c: TcpStream) {
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = Vec::new();
    let mut b = [0u8; 4096];
    loop {
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            match c.read(&mut b) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&b[..n]),
            }
            continue;
        };
        let head = buf[..end + 4].to_vec();
        buf.drain(..end + 4);
        let body: Vec<u8> = if head.starts_with(b"GET /echo") {
            head
        } else {
            b"hello".to_vec()
        };
        let mut r = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", body.len()).into_bytes();
        r.extend_from_slice(&body);
        if c.write_all(&r).is_err() {
            return;
        }
    }
}

/// One HTTP request on a fresh connection; returns the response bytes.
fn get(addr: SocketAddr, path: &str) -> Vec<u8> {
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(c, "GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").unwrap();
    let mut out = Vec::new();
    let _ = c.read_to_end(&mut out);
    out
}

/// Starts `binary` on `cfg` (with `@LOG@` and `@PORT@` replaced), runs
/// `traffic`, and returns the syslog lines received (without the LF).
fn run_with(
    binary: &Path,
    dir: &TempDir,
    cfg: &str,
    probe_logs: bool,
    traffic: impl FnOnce(SocketAddr),
) -> Vec<String> {
    let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = free_port();
    let cfg = cfg
        .replace("@LOG@", &rx.local_addr().unwrap().to_string())
        .replace("@PORT@", &port.to_string());
    let path = dir.write("logs.cfg", &cfg);
    let mut cmd = Command::new(binary);
    cmd.arg("-db")
        .arg("-f")
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let _p = Proc::spawn(cmd, "proxy");
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    assert!(wait_listening(addr, Duration::from_secs(5)), "proxy did not listen");
    let mut lines = Vec::new();
    let mut b = vec![0u8; 70000];
    if probe_logs {
        // The readiness probe is a connection too: check and skip its line.
        rx.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let n = rx.recv(&mut b).expect("the probe's log line");
        let l = String::from_utf8_lossy(&b[..n]);
        assert!(l.contains("400 0 - - CR--") || l.contains("Connect from"), "{l}");
    }
    traffic(addr);
    rx.set_read_timeout(Some(Duration::from_millis(600))).unwrap();
    while let Ok(n) = rx.recv(&mut b) {
        lines.push(String::from_utf8_lossy(&b[..n]).into_owned());
    }
    lines
}

/// Masks what differs between runs and programs: the syslog date and
/// program name, pids, dates, ports, timers.
fn shape(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    // "<134>Mmm dd hh:mm:ss NAME[PID]: " -> "<134>DATE TAG: "
    if let Some(i) = rest.find("]: ") {
        if rest.starts_with('<') {
            let pri_end = rest.find('>').unwrap() + 1;
            out.push_str(&rest[..pri_end]);
            out.push_str("DATE TAG: ");
            rest = &rest[i + 3..];
        }
    }
    // Numbers become N, except HTTP status codes and the two-letter flags.
    let mut chars = rest.chars().peekable();
    let mut prev = ' ';
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || (c == '-' && chars.peek() == Some(&'1') && (prev == ' ' || prev == '/')) {
            let mut num = String::from(c);
            while let Some(&d) = chars.peek() {
                if d.is_ascii_digit() {
                    num.push(d);
                    chars.next();
                } else {
                    break;
                }
            }
            let keep = num.len() == 3 && prev == ' ' && chars.peek() == Some(&' ') && num.starts_with(['2', '4', '5']);
            out.push_str(if keep {
                &num
            } else if num.starts_with('-') {
                "-N"
            } else {
                "N"
            });
            prev = 'N';
            continue;
        }
        out.push(c);
        prev = c;
    }
    out
}

/// Runs the same config and traffic through rhaproxy and, if installed,
/// real HAProxy; returns rhaproxy's lines after checking both agree on
/// the shape of every line.
fn both(cfg: &str, probe_logs: bool, traffic: impl Fn(SocketAddr)) -> Vec<String> {
    let dir = TempDir::new("logs");
    let ours = run_with(&bin("rhaproxy"), &dir, cfg, probe_logs, &traffic);
    if let Some(h) = real_haproxy() {
        let theirs = run_with(&h, &dir, cfg, probe_logs, &traffic);
        // Lines of different connections may come in either order.
        let mut a: Vec<String> = ours.iter().map(|l| shape(l)).collect();
        let mut b: Vec<String> = theirs.iter().map(|l| shape(l)).collect();
        a.sort();
        b.sort();
        assert_eq!(a, b, "rhaproxy vs haproxy lines:\n{ours:#?}\n{theirs:#?}");
    }
    ours
}

const HTTP_CFG: &str = "global
    log @LOG@ local0
defaults
    mode http
    log global
    option httplog
    timeout client 5s
    timeout server 5s
    timeout connect 1s
frontend fe
    bind 127.0.0.1:@PORT@
    default_backend be
backend be
    server s1 @ORIGIN@
";

#[test]
fn httplog_lines_match_haproxy() {
    let o = origin();
    let cfg = HTTP_CFG.replace("@ORIGIN@", &o.to_string());
    // The readiness probe (a connection closed without a request) is
    // logged as a 400 "CR--" by HAProxy's H1 layer, and skipped here.
    let lines = both(&cfg, true, |a| {
        assert!(get(a, "/a?b=1").starts_with(b"HTTP/1.1 200"));
        // An invalid request: the H1 layer's 400.
        let mut c = TcpStream::connect(a).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        c.write_all(b"BAD\x01 / HTTP/1.1\r\n\r\n").unwrap();
        let mut r = Vec::new();
        let _ = c.read_to_end(&mut r);
    });
    assert_eq!(lines.len(), 2, "{lines:#?}");
    let ok = lines.iter().find(|l| l.contains("GET /a")).expect("the request's line");
    let bad = lines
        .iter()
        .find(|l| l.contains("<BADREQ>"))
        .expect("the bad request's line");
    let s = shape(ok);
    assert!(
        s.starts_with("<134>DATE TAG: N.N.N.N:N [N/")
            && s.contains("] fe be/sN N/N/N/N/N 200 N - - ---- N/N/N/N/N N/N \"GET /a?b=N HTTP/N.N\""),
        "{s}"
    );
    assert!(ok.starts_with("<134>"));
    assert!(
        ok.ends_with(" - - ---- 1/1/0/0/0 0/0 \"GET /a?b=1 HTTP/1.1\"\n"),
        "{ok}"
    );
    // The counters depend on whether the first connection is gone yet.
    assert!(bad.contains(" fe fe/<NOSRV> -1/-1/-1/-1/0 400 0 - - PR-- "), "{bad}");
}

#[test]
fn tcplog_and_custom_format_with_rfc5424() {
    let o = origin();
    let cfg = format!(
        "global
    log @LOG@ len 300 format rfc5424 local1 notice
    log-send-hostname h1
defaults
    mode tcp
    log global
    option dontlognull
    timeout client 300ms
    timeout server 5s
    timeout connect 1s
frontend fe
    bind 127.0.0.1:@PORT@
    log-format \"%ci %fi:%fp %si:%sp %{{+Q}}f %{{+X}}ci %ts %U %B %Tw/%Tc %{{+Q,+E}}b %rc %sslv\"
    log-tag px
    option log-separate-errors
    default_backend be
backend be
    server s1 {o}
"
    );
    let lines = both(&cfg, false, |a| {
        // The server answers, then the client times out: an error (cD),
        // sent at level err, which the target's "notice" limit lets pass.
        let mut c = TcpStream::connect(a).unwrap();
        c.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut b = [0u8; 100];
        let _ = c.read(&mut b);
        std::thread::sleep(Duration::from_millis(500));
    });
    assert_eq!(lines.len(), 1, "{lines:#?}");
    let l = &lines[0];
    assert!(l.starts_with("<139>1 20"), "{l}");
    assert!(l.contains(" h1 px "), "{l}");
    assert!(l.contains(&format!(" {o} \"fe\" 7F000001 cD 18 43 ")), "{l}");
    let sh = shape(l);
    assert!(
        sh.ends_with(" - - N.N.N.N N.N.N.N:N N.N.N.N:N \"fe\" NFN cD N N N/N \"be\" N -\n"),
        "{sh}"
    );
}

#[test]
fn connect_from_without_format_and_unique_id() {
    let o = origin();
    let cfg = format!(
        "defaults
    mode http
    timeout client 5s
    timeout server 5s
    timeout connect 1s
frontend plain
    bind 127.0.0.1:@PORT@
    log @LOG@ format raw daemon
    unique-id-format ID-%[req.hdr(x-in)]-%HM
    unique-id-header X-Unique-ID
    http-response set-header x-uid %[unique-id]
    default_backend be
backend be
    server s1 {o}
"
    );
    // In HTTP mode the "Connect from" line comes with each request (HAProxy
    // 2.6 creates a stream per request), so the probe sends none.
    let lines = both(&cfg, false, |a| {
        let mut c = TcpStream::connect(a).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        c.write_all(b"GET /echo HTTP/1.1\r\nHost: t\r\nX-In: abc\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut r = Vec::new();
        let _ = c.read_to_end(&mut r);
        let r = String::from_utf8_lossy(&r).to_ascii_lowercase();
        assert!(r.contains("x-uid: id-abc-get\r\n"), "{r}");
        assert!(r.contains("x-unique-id: id-abc-get\r\n"), "{r}");
    });
    assert_eq!(lines.len(), 1, "{lines:#?}");
    let l = &lines[0];
    assert!(
        l.starts_with("Connect from 127.0.0.1:") && l.ends_with(" (plain/HTTP)\n"),
        "{l}"
    );
}

#[test]
fn bad_formats_and_targets_are_refused_with_their_line() {
    let dir = TempDir::new("logs-bad");
    let check = |cfg: &str| -> String {
        let path = dir.write("bad.cfg", cfg);
        let out = rhaproxy_tests::run(
            {
                let mut c = Command::new(bin("rhaproxy"));
                c.arg("-db").arg("-f").arg(&path);
                c
            },
            Duration::from_secs(10),
        );
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let base = format!(
        "defaults\n    mode http\n    timeout client 1s\n    timeout server 1s\n    timeout connect 1s\nfrontend fe\n    bind 127.0.0.1:{}\n",
        free_port()
    );
    let e = check(&format!("{base}    log 127.0.0.1 local0\n    log-format \"%ci %zz\"\n"));
    assert!(
        e.contains("bad.cfg:9]: failed to parse log-format : no such format variable 'zz'"),
        "{e}"
    );
    let e = check(&format!("{base}    log ring@buf local0\n    option httplog\n"));
    assert!(
        e.contains("bad.cfg:8] : log : log target 'ring@buf' is not supported yet"),
        "{e}"
    );
}
