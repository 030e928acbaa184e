//! PROXY protocol end to end: `bind ... accept-proxy` with v1 and v2
//! headers, the announced addresses and TLVs seen by fetches, and the
//! handling of broken, truncated and missing headers (reset, log line),
//! run against rhaproxy and, when installed, the real HAProxy 2.6 with the
//! same expectations.

use rhaproxy_tests::{bin, free_port, real_haproxy, spawn_proxy, wait_listening, Proc, TempDir};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::Path;
use std::time::Duration;

const V2_TCP4_AUTH: &[u8] =
    b"\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x14\x7f\x00\x00\x01\x7f\x00\x00\x02\x00\x2a\x05\x39\x02\x00\x05abcde";

fn config(port: u16, log: SocketAddr) -> String {
    format!(
        // One thread: log lines of consecutive connections then arrive in
        // order (with two, each thread sends its own as its stream ends).
        "global\n    nbthread 1\n    log {log} local0\n\
defaults\n    mode http\n    timeout client 300ms\n    timeout server 2s\n    timeout connect 2s\n    log global\n    option httplog\n\
frontend a\n    bind 127.0.0.1:{port} accept-proxy\n\
    http-after-response set-header x-src %[src]:%[src_port]\n\
    http-after-response set-header x-dst %[dst]:%[dst_port]\n\
    http-after-response set-header x-auth %[fc_pp_authority]\n\
    http-after-response set-header x-rcvd %[fc_rcvd_proxy]\n\
    http-request return status 200\n"
    )
}

fn spawn(exe: &Path, dir: &TempDir, cfg: &str) -> Proc {
    let path = dir.write("pp.cfg", cfg);
    spawn_proxy(exe, &path, "proxy")
}

/// Sends `data`, then reads until the peer closes (or resets: "RESET").
fn talk(addr: SocketAddr, data: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    if !data.is_empty() {
        s.write_all(data).unwrap();
    }
    let mut out = Vec::new();
    match s.read_to_end(&mut out) {
        Ok(_) => String::from_utf8_lossy(&out).into_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => "RESET".into(),
        Err(e) => panic!("read: {e}"),
    }
}

fn hdr<'a>(resp: &'a str, name: &str) -> &'a str {
    resp.split("\r\n")
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(": ")))
        .unwrap_or("<none>")
}

fn logs(rx: &UdpSocket, n: usize) -> Vec<String> {
    let mut v = Vec::new();
    let mut buf = [0u8; 2048];
    while v.len() < n {
        match rx.recv(&mut buf) {
            Ok(k) => v.push(String::from_utf8_lossy(&buf[..k]).into_owned()),
            Err(_) => break,
        }
    }
    v
}

fn check(exe: &Path) {
    let dir = TempDir::new("pp");
    let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    rx.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let port = free_port();
    let _p = spawn(exe, &dir, &config(port, rx.local_addr().unwrap()));
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    assert!(wait_listening(addr, Duration::from_secs(5)), "{exe:?} not listening");
    // The probe connection closed without a header.
    let l = logs(&rx, 1);
    assert!(
        l.len() == 1
            && l[0]
                .trim_end()
                .ends_with("a/1: Connection closed while waiting for PROXY protocol header"),
        "{exe:?}: {l:?}"
    );
    let get = b"GET / HTTP/1.0\r\n\r\n";

    let r = talk(addr, &[&b"PROXY TCP4 1.2.3.4 5.6.7.8 111 222\r\n"[..], get].concat());
    assert!(r.starts_with("HTTP/1.1 200"), "{exe:?}: {r}");
    assert_eq!(
        (hdr(&r, "x-src"), hdr(&r, "x-dst"), hdr(&r, "x-rcvd")),
        ("1.2.3.4:111", "5.6.7.8:222", "1")
    );
    let r = talk(addr, &[&b"PROXY TCP6 ::1 2001:db8::2 7 8\r\n"[..], get].concat());
    assert_eq!(
        (hdr(&r, "x-src"), hdr(&r, "x-dst")),
        ("::1:7", "2001:db8::2:8"),
        "{exe:?}"
    );
    // UNKNOWN keeps the connection's own addresses.
    let r = talk(addr, &[&b"PROXY UNKNOWN\r\n"[..], get].concat());
    assert_eq!(hdr(&r, "x-dst"), format!("127.0.0.1:{port}"), "{exe:?}");
    assert_eq!(hdr(&r, "x-rcvd"), "1");
    let r = talk(addr, &[V2_TCP4_AUTH, get].concat());
    assert_eq!(
        (hdr(&r, "x-src"), hdr(&r, "x-dst"), hdr(&r, "x-auth")),
        ("127.0.0.1:42", "127.0.0.2:1337", "abcde"),
        "{exe:?}"
    );
    let ok_lines = logs(&rx, 4);
    assert_eq!(ok_lines.len(), 4, "{exe:?}: {ok_lines:?}");
    assert!(ok_lines[0].contains("]: 1.2.3.4:111 ["), "{exe:?}: {}", ok_lines[0]);

    // Refused headers: the connection is reset with nothing sent, and the
    // frontend logs why.
    let cases: [(&[u8], &str); 4] = [
        (
            get,
            "Received something which does not look like a PROXY protocol header",
        ),
        (b"PROXY TCP4 1.2.3", "Truncated PROXY protocol header received"),
        (
            b"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n",
            "Received an unhandled protocol in the PROXY protocol header",
        ),
        (
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n\n",
            "Received an invalid PROXY protocol header",
        ),
    ];
    for (data, why) in cases {
        assert_eq!(talk(addr, data), "RESET", "{exe:?}: {why}");
        let l = logs(&rx, 1);
        assert!(
            l.len() == 1 && l[0].contains(" a/1: ") && l[0].trim_end().ends_with(why),
            "{exe:?}: {l:?}"
        );
    }
    // Nothing at all: `timeout client` ends the wait, quietly on the wire.
    assert_eq!(talk(addr, b""), "", "{exe:?}");
    let l = logs(&rx, 1);
    assert!(
        l.len() == 1
            && l[0]
                .trim_end()
                .ends_with("Timeout while waiting for PROXY protocol header"),
        "{exe:?}: {l:?}"
    );
}

#[test]
fn accept_proxy_rhaproxy() {
    check(&bin("rhaproxy"));
}

#[test]
fn accept_proxy_haproxy_reference() {
    if let Some(h) = real_haproxy() {
        check(&h);
    }
}
