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

/// A server that records, per connection, the PROXY header it starts
/// with (v1 line or v2 bytes as hex), then either speaks first (TCP: a
/// banner, then echoes one line) or answers each HTTP request with what
/// it recorded for the connection in an `x-pp` header.
fn pp_origin(speaks_first: bool) -> (SocketAddr, std::sync::mpsc::Receiver<String>) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let a = l.local_addr().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut c) = c else { continue };
            let tx = tx.clone();
            std::thread::spawn(move || {
                c.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
                let mut first = [0u8; 16];
                if c.read_exact(&mut first[..6]).is_err() {
                    return;
                }
                let pp = if &first[..6] == b"PROXY " {
                    let mut line = first[..6].to_vec();
                    let mut b = [0u8; 1];
                    while !line.ends_with(b"\r\n") && c.read_exact(&mut b).is_ok() {
                        line.push(b[0]);
                    }
                    String::from_utf8_lossy(&line).trim_end().to_string()
                } else {
                    let _ = c.read_exact(&mut first[6..]);
                    let mut rest = vec![0u8; u16::from_be_bytes([first[14], first[15]]) as usize];
                    let _ = c.read_exact(&mut rest);
                    // Family and TLVs; the address block is checked apart.
                    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
                    let alen = match first[13] {
                        0x11 => 12,
                        0x21 => 36,
                        _ => 0,
                    };
                    format!("{} {}", hex(&first[12..14]), hex(&rest[alen.min(rest.len())..]))
                };
                let _ = tx.send(pp.clone());
                if speaks_first {
                    let _ = c.write_all(b"220 hello\r\n");
                    let mut buf = [0u8; 256];
                    if let Ok(n) = c.read(&mut buf) {
                        let _ = c.write_all(&buf[..n]);
                    }
                    return;
                }
                let mut buf = Vec::new();
                let mut tmp = [0u8; 1024];
                loop {
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match c.read(&mut tmp) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&tmp[..n]),
                        }
                    }
                    let end = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
                    buf.drain(..end);
                    let r = format!("HTTP/1.1 200 OK\r\nx-pp: {pp}\r\ncontent-length: 0\r\n\r\n");
                    if c.write_all(r.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (a, rx)
}

fn send_proxy(exe: &Path) {
    let dir = TempDir::new("ppsend");
    let (tcp_origin, tcp_rx) = pp_origin(true);
    let (http_origin, http_rx) = pp_origin(false);
    let (chk_origin, chk_rx) = pp_origin(false);
    let (tport, hport, eport) = (free_port(), free_port(), free_port());
    let cfg = format!(
        "defaults\n    timeout client 3s\n    timeout server 3s\n    timeout connect 3s\n\
listen t\n    mode tcp\n    bind 127.0.0.1:{tport}\n    server s {tcp_origin} send-proxy\n\
listen h\n    mode http\n    bind 127.0.0.1:{hport}\n    unique-id-format ID-%[req.hdr(in)]\n\
    server s {http_origin} send-proxy-v2 proxy-v2-options unique-id,ssl\n\
listen e\n    mode http\n    bind 127.0.0.1:{eport}\n    tcp-request connection expect-proxy layer4 if {{ src 127.0.0.1 }}\n\
    http-request return status 200 hdr x-src %[src]:%[src_port]\n\
backend c1\n    mode http\n    option httpchk\n    server s {chk_origin} check-send-proxy check inter 100\n\
backend c2\n    mode http\n    option httpchk\n    server s {chk_origin} send-proxy-v2 proxy-v2-options crc32c,unique-id check inter 100\n"
    );
    let _p = spawn(exe, &dir, &cfg);
    let (ta, ha): (SocketAddr, SocketAddr) = (
        format!("127.0.0.1:{tport}").parse().unwrap(),
        format!("127.0.0.1:{hport}").parse().unwrap(),
    );
    assert!(wait_listening(ta, Duration::from_secs(5)) && wait_listening(ha, Duration::from_secs(5)));
    // TCP: the header leaves at connect even though the client says
    // nothing until the server's banner.
    let mut c = TcpStream::connect(ta).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let mut banner = [0u8; 11];
    c.read_exact(&mut banner).unwrap();
    assert_eq!(&banner, b"220 hello\r\n", "{exe:?}");
    let me = c.local_addr().unwrap();
    let want = format!("PROXY TCP4 127.0.0.1 127.0.0.1 {} {tport}", me.port());
    // wait_listening's probe made a server connection of its own first.
    let mut found = false;
    for _ in 0..2 {
        match tcp_rx.recv_timeout(Duration::from_secs(3)) {
            Ok(l) if l == want => {
                found = true;
                break;
            }
            Ok(l) => assert!(l.starts_with("PROXY TCP4 127.0.0.1 127.0.0.1 "), "{exe:?}: {l}"),
            Err(_) => break,
        }
    }
    assert!(found, "{exe:?}: no {want}");
    c.write_all(b"ping\r\n").unwrap();
    let mut echo = [0u8; 6];
    c.read_exact(&mut echo).unwrap();
    assert_eq!(&echo, b"ping\r\n");
    // HTTP: v2 with the request's unique id and an empty SSL TLV. The
    // server connection serves the client's next request while the header
    // stays the same; once it changed, every request gets its own
    // connection (HAProxy 2.6.12: 1 connection for bar, bar; 3 for foo,
    // bar, bar).
    assert_eq!(http_ids(ha, &["bar", "bar"], &http_rx), 1, "{exe:?}");
    assert_eq!(http_ids(ha, &["foo", "bar", "bar"], &http_rx), 3, "{exe:?}");
    // Health checks: v1 announces the check connection itself, v2 is a
    // LOCAL header with the TLVs that need no stream (no unique id).
    let (mut v1, mut v2) = (false, false);
    let v1_pfx = "PROXY TCP4 127.0.0.1 127.0.0.1 ";
    let v1_sfx = format!(" {}", chk_origin.port());
    while !(v1 && v2) {
        let Ok(l) = chk_rx.recv_timeout(Duration::from_secs(3)) else {
            break;
        };
        v1 |= l.starts_with(v1_pfx) && l.ends_with(&v1_sfx);
        v2 |= l.starts_with("2000 030004") && l.len() == "2000 030004".len() + 8;
    }
    assert!(v1 && v2, "{exe:?}: v1 {v1} v2 {v2}");
    // expect-proxy layer4: the connection starts with a PROXY header.
    let ea: SocketAddr = format!("127.0.0.1:{eport}").parse().unwrap();
    let r = talk(ea, b"PROXY TCP4 1.2.3.4 5.6.7.8 11 22\r\nGET / HTTP/1.0\r\n\r\n");
    assert_eq!(hdr(&r, "x-src"), "1.2.3.4:11", "{exe:?}: {r}");
}

/// Sends requests with these `in` ids on one connection; checks the
/// PROXY header each was forwarded with; returns how many server
/// connections they took.
fn http_ids(ha: SocketAddr, ids: &[&str], http_rx: &std::sync::mpsc::Receiver<String>) -> usize {
    let mut c = TcpStream::connect(ha).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let mut seen = Vec::new();
    for id in ids {
        c.write_all(format!("GET / HTTP/1.1\r\nhost: h\r\nin: {id}\r\n\r\n").as_bytes())
            .unwrap();
        let mut r = Vec::new();
        let mut b = [0u8; 512];
        while !r.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = c.read(&mut b).unwrap();
            assert!(n > 0, "closed");
            r.extend_from_slice(&b[..n]);
        }
        seen.push(hdr(&String::from_utf8_lossy(&r), "x-pp").to_string());
    }
    let tlvs: Vec<String> = ids
        .iter()
        .map(|id| format!("2111 050006{}2000050000000000", hexs(&format!("ID-{id}"))))
        .collect();
    assert_eq!(seen, tlvs);
    http_rx.try_iter().count()
}

fn hexs(s: &str) -> String {
    s.bytes().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn send_proxy_rhaproxy() {
    send_proxy(&bin("rhaproxy"));
}

#[test]
fn send_proxy_haproxy_reference() {
    if let Some(h) = real_haproxy() {
        send_proxy(&h);
    }
}
