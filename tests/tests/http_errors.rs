//! End-to-end tests of HTTP replies: the `http-error` proxy keyword and the
//! reply options of `http-request deny|return` / `http-response deny`
//! (`status`, `content-type`, `default-errorfiles`, `errorfile`,
//! `errorfiles`, `string`, `lf-string`, `file`, `lf-file`, `hdr`). The
//! expected bytes are what HAProxy 2.6.12 sends for the same configuration
//! (recorded from /usr/sbin/haproxy; when it is installed the test also
//! runs it and compares live).

use rhaproxy_tests::{bin, exchange, free_port, real_haproxy, spawn_proxy, wait_listening, Proc, TempDir};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const T: Duration = Duration::from_secs(3);

fn config(dir: &TempDir, port: u16) -> String {
    let f = |name: &str, text: &str| dir.write(name, text).display().to_string();
    let e400 = f(
        "400.http",
        "HTTP/1.1 400 Bad request\r\nCache-Control: no-cache\r\nConnection: close\r\nX-From: defaults\r\n\r\n",
    );
    let s404 = f(
        "404-s.http",
        "HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 4\r\nX-From: section\r\n\r\ngone",
    );
    let e403 = f(
        "403.http",
        "HTTP/1.0 403 Forbidden\r\nConnection: close\r\nContent-Type: text/plain\r\nX-From: file\r\n\r\nno\n",
    );
    let lf = f("lf.txt", "The path \"%[path]\" is forbidden\n");
    format!(
        "http-errors errs
    errorfile 404 {s404}
    errorfile 500 /dev/null
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
    errorfile 400 {e400}
frontend fe1
    bind 127.0.0.1:{port}
    http-error status 400
    http-error status 200 content-type \"text/plain\" hdr x-path \"path=%[path]\" lf-string \"The path is \\\"%[path]\\\"\"
    http-error status 503 content-type \"text/plain\" hdr x-a \"a\" string \"no server\"
    http-request return status 200 default-errorfiles if {{ path /200 }}
    http-request deny deny_status 400 if {{ path /400 }}
    http-request deny status 403 if {{ path /s403 }}
    http-request deny status 404 errorfiles errs if {{ path /404 }}
    http-request deny status 405 errorfiles errs if {{ path /405 }}
    http-request deny deny_status 500 errorfiles errs if {{ path /500 }}
    http-request deny status 403 errorfile {e403} hdr x-ignored b if {{ path /ef }}
    http-request deny status 403 hdr x-info \"path=%[path]\" hdr x-empty \"%[req.hdr(nope)]\" content-type \"text/plain\" lf-file {lf} if {{ path /forbidden }}
    http-request return status 404 errorfiles errs if {{ path /r404 }}
    http-request return status 200 hdr content-length 5 hdr x-c c if {{ path /hdr }}
    http-request deny deny_status 502 if {{ path /502 }}
    default_backend be
backend be
    retries 0
    server s1 127.0.0.1:1
"
    )
}

/// Starts `prog` on the test configuration; returns it with its address.
fn start(prog: &Path, dir: &TempDir) -> (Proc, SocketAddr) {
    let port = free_port();
    let cfg = dir.write("e.cfg", &config(dir, port));
    let p = spawn_proxy(prog, &cfg, "proxy");
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    assert!(wait_listening(addr, T), "{} did not start", prog.display());
    (p, addr)
}

fn get(addr: SocketAddr, path: &str) -> String {
    let req = format!("GET {path} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
    String::from_utf8_lossy(&exchange(addr, req.as_bytes(), T)).into_owned()
}

/// (path, bytes HAProxy 2.6.12 sends before closing).
const CASES: &[(&str, &str)] = &[
    (
        "/200",
        "HTTP/1.1 200 OK\r\nx-path: path=/200\r\ncontent-length: 18\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\nThe path is \"/200\"",
    ),
    // `http-error status 400` without payload overrides the defaults'
    // errorfile with an empty response.
    (
        "/400",
        "HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
    ),
    (
        "/s403",
        "HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
    ),
    (
        "/404",
        "HTTP/1.1 404 Not Found\r\ncontent-length: 4\r\nx-from: section\r\nconnection: close\r\n\r\ngone",
    ),
    // The section has no 405: an empty response.
    (
        "/405",
        "HTTP/1.1 405 Method Not Allowed\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
    ),
    // An empty errorfile: nothing, then close.
    ("/500", ""),
    // An HTTP/1.0 file: no connection header; `hdr` is ignored.
    (
        "/ef",
        "HTTP/1.0 403 Forbidden\r\ncontent-type: text/plain\r\nx-from: file\r\n\r\nno\n",
    ),
    // An empty header value drops the header.
    (
        "/forbidden",
        "HTTP/1.1 403 Forbidden\r\nx-info: path=/forbidden\r\ncontent-length: 35\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\nThe path \"/forbidden\" is forbidden\n",
    ),
    (
        "/r404",
        "HTTP/1.1 404 Not Found\r\ncontent-length: 4\r\nx-from: section\r\nconnection: close\r\n\r\ngone",
    ),
    (
        "/hdr",
        "HTTP/1.1 200 OK\r\nx-c: c\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
    ),
    // No usable server: the frontend's http-error 503.
    (
        "/none",
        "HTTP/1.1 503 Service Unavailable\r\nx-a: a\r\ncontent-length: 9\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\nno server",
    ),
];

#[test]
fn replies_match_haproxy_2_6() {
    let dir = TempDir::new("http-errors");
    let (_p, addr) = start(&bin("rhaproxy"), &dir);
    let hap = real_haproxy().map(|h| {
        let d = TempDir::new("http-errors-ref");
        let (p, a) = start(&h, &d);
        (p, a, d)
    });
    for (path, want) in CASES {
        let got = get(addr, path);
        if let Some((_, ha, _)) = &hap {
            let h = get(*ha, path);
            if std::env::var_os("RECORD").is_some() {
                println!("(\"{path}\", {h:?}),");
                continue;
            }
            assert_eq!(h, *want, "real HAProxy changed for {path}");
        }
        assert_eq!(got, *want, "{path}");
    }
}

#[test]
fn bad_replies_are_refused_like_haproxy() {
    let dir = TempDir::new("http-errors-bad");
    for (line, alert) in [
        (
            "http-request deny deny_status 418",
            "status code '418' not handled by default with 'default-errorfiles' argument.",
        ),
        (
            "http-request return string abc",
            "a content type must be defined when non-empty payload is configured",
        ),
        (
            "http-request return status 200 foo",
            "'http-request return' expects either 'if' or 'unless' followed by a condition but found 'foo'.",
        ),
        (
            "http-request return errorfiles nope",
            "Proxy 'fe': unknown http-errors section 'nope' referenced by an http reply .",
        ),
        ("http-error status 418", "http-error: status code '418' not handled."),
        ("http-error status 404 blah", "http-error : unknown keyword 'blah'."),
    ] {
        let cfg = dir.write(
            "b.cfg",
            &format!("defaults\n  mode http\n  timeout client 1s\n  timeout server 1s\n  timeout connect 1s\nfrontend fe\n  bind 127.0.0.1:{}\n  {line}\n", free_port()),
        );
        let mut c = Command::new(bin("rhaproxy"));
        c.arg("-f").arg(&cfg);
        let out = rhaproxy_tests::run(c, T);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{line} accepted");
        assert!(err.contains(alert), "{line}: {err}");
    }
}

/// `http-request tarpit`: the reply (the proxies' 500 page, `deny_status`,
/// or reply options) is held for `timeout tarpit`, else a backend's
/// `timeout connect` (a frontend has none: no delay), and the denial is
/// counted like HAProxy 2.6.12 does (the frontend always, the backend for
/// its own rules only). Bytes, delays and counters checked against
/// /usr/sbin/haproxy with this configuration.
#[test]
fn tarpit_delays_the_reply_and_counts_denials() {
    let dir = TempDir::new("tarpit");
    let port = free_port();
    let port2 = free_port();
    let sock = dir.path().join("s.sock");
    let cfg = dir.write(
        "t.cfg",
        &format!(
            "global\n  stats socket {} level admin\n\
defaults\n  mode http\n  timeout client 5s\n  timeout server 5s\n  timeout connect 400ms\n\
frontend fe\n  bind 127.0.0.1:{port}\n\
  http-request tarpit if {{ path /t }}\n\
  http-request tarpit deny_status 403 if {{ path /t403 }}\n\
  http-request tarpit status 429 content-type text/plain string \"slow down\" hdr x-a b if {{ path /tr }}\n\
  default_backend be\n\
backend be\n  http-request tarpit if {{ path /bt }}\n  server s1 127.0.0.1:1\n\
listen li\n  bind 127.0.0.1:{port2}\n  timeout tarpit 200ms\n  http-request tarpit\n  server s1 127.0.0.1:1\n",
            sock.display()
        ),
    );
    let mut c = Command::new(bin("rhaproxy"));
    c.arg("-db")
        .arg("-f")
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let _p = Proc::spawn(c, "rhaproxy");
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let addr2: SocketAddr = format!("127.0.0.1:{port2}").parse().unwrap();
    assert!(wait_listening(addr, T) && wait_listening(addr2, T));
    let page500 = "HTTP/1.1 500 Internal Server Error\r\ncontent-length: 97\r\ncache-control: no-cache\r\ncontent-type: text/html\r\nconnection: close\r\n\r\n<html><body><h1>500 Internal Server Error</h1>\nAn internal server error occurred.\n</body></html>\n";
    let timed = |a: SocketAddr, path: &str| {
        let t0 = std::time::Instant::now();
        (get(a, path), t0.elapsed())
    };
    let (r, d) = timed(addr, "/t");
    assert_eq!(r, page500);
    assert!(d < Duration::from_millis(300), "{d:?}");
    let (r, _) = timed(addr, "/t403");
    assert!(r.starts_with("HTTP/1.1 403 Forbidden\r\n"), "{r}");
    let (r, _) = timed(addr, "/tr");
    assert_eq!(
        r,
        "HTTP/1.1 429 Too Many Requests\r\nx-a: b\r\ncontent-length: 9\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\nslow down"
    );
    let (r, d) = timed(addr, "/bt");
    assert_eq!(r, page500);
    assert!(
        d >= Duration::from_millis(300) && d < Duration::from_millis(1500),
        "{d:?}"
    );
    let (r, d) = timed(addr2, "/");
    assert_eq!(r, page500);
    assert!(
        d >= Duration::from_millis(150) && d < Duration::from_millis(1000),
        "{d:?}"
    );
    // Keep-alive survives a tarpit of a body-less request, as in HAProxy.
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(T)).unwrap();
    use std::io::{Read, Write};
    s.write_all(b"GET /t HTTP/1.1\r\nHost: h\r\n\r\n").unwrap();
    let mut got = vec![0u8; 0];
    let mut tmp = [0u8; 1024];
    while !got.ends_with(b"</body></html>\n") {
        let n = s.read(&mut tmp).unwrap();
        assert!(n > 0, "closed");
        got.extend_from_slice(&tmp[..n]);
    }
    assert!(!String::from_utf8_lossy(&got).contains("connection: close"));
    let stat = rhaproxy_tests::cli(&sock, "show stat", T);
    let dreq = |px: &str, sv: &str| {
        stat.lines()
            .find(|l| l.starts_with(&format!("{px},{sv},")))
            .map(|l| l.split(',').nth(10).unwrap_or("").to_string())
            .unwrap_or_default()
    };
    assert_eq!(dreq("fe", "FRONTEND"), "5", "{stat}");
    assert_eq!(dreq("be", "BACKEND"), "1", "{stat}");
    assert_eq!(dreq("li", "FRONTEND"), "1", "{stat}");
    assert_eq!(dreq("li", "BACKEND"), "0", "{stat}");
}

/// Error files HAProxy 2.6.12 cannot load stop the start-up with its
/// alerts (same texts from `haproxy -c` on this configuration).
#[test]
fn unloadable_errorfiles_are_alerts() {
    let dir = TempDir::new("errfile-bad");
    let bad = dir.write("bad.http", "garbage\r\n\r\n");
    let ok = dir.write("ok.http", "HTTP/1.1 404 Not Found\r\n\r\n");
    let nolen = dir.write("body.http", "HTTP/1.1 404 Not Found\r\nContent-Length: 10\r\n\r\nbody");
    let cfg = dir.write(
        "e.cfg",
        &format!(
            "http-errors x\n  errorfile 400 {b}\n\
defaults\n  mode http\n\
frontend fe\n  bind 127.0.0.1:{p}\n  errorfile 418 {o}\n  errorfile 404 {n}\n\
  http-request deny status 403 errorfile {b}\n",
            b = bad.display(),
            o = ok.display(),
            n = nolen.display(),
            p = free_port()
        ),
    );
    let mut c = Command::new(bin("rhaproxy"));
    c.arg("-c").arg("-f").arg(&cfg);
    let out = rhaproxy_tests::run(c, T);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    for want in [
        format!("e.cfg:2] : errorfile : '{}': unable to parse headers (error offset: 0)", bad.display()),
        "e.cfg:7] : errorfile : status code '418' not handled.".to_string(),
        format!(
            "e.cfg:8] : errorfile : '{}': payload size does not match the announced content-length (4 != 10)",
            nolen.display()
        ),
        format!(
            "e.cfg:9] : error detected in frontend 'fe' while parsing 'http-request deny' rule : '{}': unable to parse headers (error offset: 0).",
            bad.display()
        ),
    ] {
        assert!(err.contains(&want), "{want}\n{err}");
    }
}
