//! End-to-end tests of cookie persistence (`cookie`, server `cookie`) and
//! `capture cookie`: two in-test origins echo the request head they got;
//! the expected Set-Cookie headers, stripped request cookies and log flags
//! are what HAProxy 2.6.12 (/usr/sbin/haproxy) does with the same
//! configuration and bytes.

use rhaproxy_tests::{bin, exchange, free_port, wait_listening, Proc, TempDir};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::process::Command;
use std::time::Duration;

const T: Duration = Duration::from_secs(3);

/// An origin named `name`: its body is its name and the request head it
/// received; a request with `x-sc: 1` gets two Set-Cookie headers back.
fn origin(name: &'static str) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let a = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut c) = c else { continue };
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let mut tmp = [0u8; 4096];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match c.read(&mut tmp) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&tmp[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&buf).to_ascii_lowercase();
                let extra = if head.contains("x-sc: 1") {
                    "Set-Cookie: SRV = fromsrv ; path=/\r\nSet-Cookie: SID=abcdefgh\r\n"
                } else {
                    ""
                };
                let body = format!("{name}\n{}", String::from_utf8_lossy(&buf));
                let resp = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = c.write_all(resp.as_bytes());
            });
        }
    });
    a
}

struct Rig {
    _p: Proc,
    _dir: TempDir,
    addr: SocketAddr,
    logs: UdpSocket,
}

fn start(cookie: &str) -> Rig {
    let (o1, o2) = (origin("s1"), origin("s2"));
    let logs = UdpSocket::bind("127.0.0.1:0").unwrap();
    logs.set_read_timeout(Some(T)).unwrap();
    let port = free_port();
    let dir = TempDir::new("cookies");
    let cfg = dir.write(
        "h.cfg",
        &format!(
            "global\n  nbthread 1\n  log {} local0\n\
             defaults\n  mode http\n  timeout client 5s\n  timeout server 5s\n  timeout connect 5s\n\
             frontend fe\n  bind 127.0.0.1:{port}\n  log global\n  capture cookie SID len 6\n\
             \x20 log-format \"%s %tsc %CC %CS\"\n  default_backend be\n\
             backend be\n  {cookie}\n  server s1 {o1} cookie c1\n  server s2 {o2} cookie c2\n",
            logs.local_addr().unwrap()
        ),
    );
    let mut c = Command::new(bin("rhaproxy"));
    c.arg("-f").arg(&cfg);
    let p = Proc::spawn(c, "rhaproxy");
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    assert!(wait_listening(addr, T), "rhaproxy did not start");
    Rig {
        _p: p,
        _dir: dir,
        addr,
        logs,
    }
}

impl Rig {
    fn get(&self, extra: &str) -> (String, String) {
        let req = format!("GET / HTTP/1.1\r\nHost: x\r\n{extra}Connection: close\r\n\r\n");
        let out = String::from_utf8_lossy(&exchange(self.addr, req.as_bytes(), T)).into_owned();
        let mut b = [0u8; 2048];
        loop {
            let n = self.logs.recv(&mut b).expect("a log line");
            let line = String::from_utf8_lossy(&b[..n]).into_owned();
            let fields = line.rsplit(": ").next().unwrap_or("").trim_end().to_string();
            // The start-up probe's connection logs an aborted request.
            if !fields.starts_with("<NOSRV> CR") {
                return (out, fields);
            }
        }
    }
}

#[test]
fn insert_indirect_nocache_as_haproxy() {
    let r = start("cookie SRV insert indirect nocache httponly secure domain .a.b attr SameSite=Lax");
    // A cookie naming s2: it goes there, the cookie is cut out of the
    // request (spaces around '=' removed), nothing is inserted.
    let (out, log) = r.get("Cookie: a=1; SRV=c2; SID = 1234567\r\nX-SC: 1\r\n");
    assert!(out.contains("\r\n\r\ns2\n"), "{out}");
    assert!(out.contains("\r\ncookie: a=1; SID=1234567\r\n"), "{out}");
    // The server's own SRV cookie is deleted (insert mode), others stay.
    assert!(!out.contains("fromsrv"), "{out}");
    assert!(out.contains("\r\nset-cookie: SID=abcdefgh\r\n"), "{out}");
    assert_eq!(log, "s2 --VD SID=12 SID=ab");
    // An unknown server: the LB chooses and a cookie is inserted, with the
    // attributes in HAProxy's order. No freshness information in the
    // response: no "Cache-control: private".
    let (out, log) = r.get("Cookie: SRV=zz\r\n");
    let srv = if out.contains("\r\n\r\ns1\n") { "s1" } else { "s2" };
    let want = format!(
        "\r\nset-cookie: SRV=c{}; path=/; domain=.a.b; HttpOnly; Secure; SameSite=Lax\r\n",
        &srv[1..]
    );
    assert!(out.contains(&want), "{out}");
    assert!(!out.contains("cache-control"), "{out}");
    assert!(!out.contains("\r\ncookie: SRV"), "{out}");
    assert_eq!(log, format!("{srv} --II - -"));
    // No cookie at all.
    let (out, log) = r.get("");
    assert!(out.contains("set-cookie: SRV=c"), "{out}");
    assert!(log.ends_with(" --NI - -"), "{log}");
}

#[test]
fn prefix_and_rewrite_modes() {
    let r = start("cookie SRV prefix");
    let (out, log) = r.get("Cookie: SRV=c2~app; b=2\r\nX-SC: 1\r\n");
    assert!(out.contains("\r\n\r\ns2\n"), "{out}");
    assert!(out.contains("\r\ncookie: SRV=app; b=2\r\n"), "{out}");
    assert!(out.contains("set-cookie: SRV=c2~fromsrv ; path=/\r\n"), "{out}");
    assert_eq!(log, "s2 --VR - SID=ab");
    drop(r);
    let r = start("cookie SRV rewrite");
    let (out, log) = r.get("Cookie: SRV=c1\r\nX-SC: 1\r\n");
    assert!(out.contains("\r\n\r\ns1\n"), "{out}");
    assert!(out.contains("\r\ncookie: SRV=c1\r\n"), "{out}");
    assert!(out.contains("set-cookie: SRV=c1 ; path=/\r\n"), "{out}");
    assert_eq!(log, "s1 --VR - SID=ab");
}

#[test]
fn bad_cookie_lines_are_refused_like_haproxy() {
    let dir = TempDir::new("cookies-bad");
    let cfg = dir.write(
        "h.cfg",
        "defaults\n  mode http\nbackend be\n  cookie SRV insert rewrite\n  server s1 127.0.0.1:1\n",
    );
    let out = Command::new(bin("rhaproxy"))
        .arg("-c")
        .arg("-f")
        .arg(&cfg)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("h.cfg:4] : cookie 'rewrite', 'insert' and 'prefix' modes are incompatible."),
        "{err}"
    );
}
