//! `option mysql-check [user <u> [post-41|pre-41]]`, `option
//! ldap-check`, `option ssl-hello-chk` and `http-check send-state` end to
//! end: the bytes the check sends and the result lines (status, code,
//! info) for well-behaved and failing servers, against
//! fake servers on loopback. The expectations are what HAProxy 2.6.12
//! sends and prints for the same configuration; when /usr/sbin/haproxy is
//! installed the test runs it too.

use rhaproxy_tests::{bin, free_port, real_haproxy, Proc, TempDir};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(5);

fn mysql_packet(seq: u8, body: &[u8]) -> Vec<u8> {
    let mut p = (body.len() as u32).to_le_bytes()[..3].to_vec();
    p.push(seq);
    p.extend_from_slice(body);
    p
}

/// A fake server: sends `greet` on accept, records what it receives, and
/// answers `reply` once something came. Returns its port and the record.
fn fake(greet: Vec<u8>, reply: Vec<u8>) -> (u16, Arc<Mutex<Vec<Vec<u8>>>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    std::thread::spawn(move || {
        for c in l.incoming().flatten() {
            let (greet, reply, g) = (greet.clone(), reply.clone(), g.clone());
            std::thread::spawn(move || {
                let mut c = c;
                c.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
                let _ = c.write_all(&greet);
                let mut buf = [0u8; 4096];
                let n = c.read(&mut buf).unwrap_or(0);
                g.lock().unwrap().push(buf[..n].to_vec());
                if n > 0 {
                    let _ = c.write_all(&reply);
                }
                std::thread::sleep(Duration::from_millis(100));
            });
        }
    });
    (port, got)
}

/// The first stderr line naming `what`, after "(pid) : ", with the check
/// duration masked.
fn line(err: &Path, what: &str) -> String {
    let deadline = Instant::now() + T;
    loop {
        let e = std::fs::read_to_string(err).unwrap_or_default();
        if let Some(l) = e.lines().find(|l| l.contains(what)) {
            let t = l.split_once(") : ").map_or(l, |x| x.1);
            let p = t.find("check duration: ").unwrap();
            let end = p + t[p..].find("ms").unwrap();
            return format!("{}check duration: Nms{}", &t[..p], &t[end + 2..]);
        }
        assert!(Instant::now() < deadline, "no {what:?} in\n{e}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn mysql_and_ldap_checks_like_haproxy() {
    let mut hs = vec![0x0a];
    hs.extend_from_slice(b"5.7.99-fake\0\x01\0\0\0abcdefgh\0\xff\xf7\x21\x02\0");
    hs.extend_from_slice(&[0; 13]);
    hs.extend_from_slice(b"ijklmnopqrst\0");
    let greet = mysql_packet(0, &hs);
    let (my_ok, ok_got) = fake(greet.clone(), mysql_packet(2, &[0, 0, 0, 2, 0, 0, 0]));
    let (my_err, err_got) = fake(greet.clone(), mysql_packet(2, b"\xff\x15\x04#28000Access denied"));
    let (ld_ok, ld_got) = fake(Vec::new(), vec![0x30, 0x0c, 2, 1, 1, 0x61, 7, 0x0a, 1, 0, 4, 0, 4, 0]);
    let (ld_err, _) = fake(
        Vec::new(),
        vec![0x30, 0x0c, 2, 1, 1, 0x61, 7, 0x0a, 1, 0x31, 4, 0, 4, 0],
    );
    let (ld_bad, _) = fake(Vec::new(), b"HTTP/1.0 400 Bad\r\n\r\n".to_vec());
    // a TLS alert record is enough for ssl-hello-chk
    let (ssl_ok, ssl_got) = fake(Vec::new(), vec![0x15, 3, 0, 0, 2, 2, 0x28]);
    let backends = [
        ("hs", "option mysql-check", my_ok),
        ("u41", "option mysql-check user hap", my_ok),
        ("u40", "option mysql-check user hap pre-41", my_ok),
        ("err", "option mysql-check user root post-41", my_err),
        ("lok", "option ldap-check", ld_ok),
        ("lerr", "option ldap-check", ld_err),
        ("lbad", "option ldap-check", ld_bad),
        ("ssl", "option ssl-hello-chk", ssl_ok),
        ("sslbad", "option ssl-hello-chk", ld_bad),
    ];
    let mut progs = vec![bin("rhaproxy")];
    progs.extend(real_haproxy());
    for prog in progs {
        for g in [&ok_got, &err_got, &ld_got, &ssl_got] {
            g.lock().unwrap().clear();
        }
        let dir = TempDir::new("chk-proto");
        let mut cfg = format!(
            "defaults\n  mode tcp\n  timeout client 5s\n  timeout server 5s\n  timeout connect 2s\n  option log-health-checks\nlisten li\n  bind 127.0.0.1:{}\n",
            free_port()
        );
        for (name, opt, port) in &backends {
            cfg.push_str(&format!(
                "backend {name}\n  {opt}\n  server s 127.0.0.1:{port} check inter 1s\n"
            ));
        }
        let path = dir.write("c.cfg", &cfg);
        let err = dir.path().join("stderr");
        let mut c = Command::new(&prog);
        c.arg("-db")
            .arg("-f")
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::from(std::fs::File::create(&err).unwrap()));
        let _p = Proc::spawn(c, "proxy");
        let who = prog.display().to_string();
        let ok = |b: &str, info: &str| {
            format!("Health check for server {b}/s succeeded, reason: Layer7 check passed, code: 0, info: \"{info}\", check duration: Nms, status: 3/3 UP.")
        };
        assert_eq!(line(&err, "server hs/"), ok("hs", "5.7.99-fake"), "{who}");
        assert_eq!(line(&err, "server u41/"), ok("u41", "5.7.99-fake"), "{who}");
        assert_eq!(line(&err, "server u40/"), ok("u40", "5.7.99-fake"), "{who}");
        assert_eq!(
            line(&err, "server err/"),
            "Health check for server err/s failed, reason: Layer7 wrong status, code: 1045, info: \"#28000Access denied\", check duration: Nms, status: 0/2 DOWN.",
            "{who}"
        );
        assert_eq!(line(&err, "server lok/"), ok("lok", "Success"), "{who}");
        assert_eq!(
            line(&err, "server lerr/"),
            "Health check for server lerr/s failed, reason: Layer7 wrong status, code: 49, info: \"See RFC: http://tools.ietf.org/html/rfc4511#section-4.1.9\", check duration: Nms, status: 0/2 DOWN.",
            "{who}"
        );
        assert_eq!(
            line(&err, "server lbad/"),
            "Health check for server lbad/s failed, reason: Layer7 invalid response, info: \"Not LDAPv3 protocol\", check duration: Nms, status: 0/2 DOWN.",
            "{who}"
        );
        assert_eq!(
            line(&err, "server ssl/"),
            "Health check for server ssl/s succeeded, reason: Layer6 check passed, check duration: Nms, status: 3/3 UP.",
            "{who}"
        );
        assert_eq!(
            line(&err, "server sslbad/"),
            "Health check for server sslbad/s failed, reason: Layer6 invalid response, check duration: Nms, status: 0/2 DOWN.",
            "{who}"
        );
        // The SSLv3 ClientHello, its time field (bytes 11..15) aside.
        let hello = ssl_got.lock().unwrap()[0].clone();
        let hex: String = hello.iter().map(|x| format!("{x:02x}")).collect();
        assert_eq!(&hex[..22], "1603000079010000750300", "{who}");
        assert_eq!(
            &hex[30..],
            "484150524f585953534c43484b0a484150524f585953534c43484b0a00004e000100020003000400050006000700080009000a000b000c000d000e000f0010001100120013001400150016001700180019001a001b002f0030003100320033003400350036003700380039003a0100",
            "{who}"
        );
        // What the servers received: nothing without a user, else the
        // authentication packet and COM_QUIT in one go.
        let mut got: Vec<String> = ok_got
            .lock()
            .unwrap()
            .iter()
            .map(|b| b.iter().map(|x| format!("{x:02x}")).collect())
            .collect();
        got.sort();
        got.dedup();
        assert_eq!(
            got,
            [
                "",
                "0a000001008000000168617000000100000001",
                "25000001008200000080000121000000000000000000000000000000000000000000000068617000000100000001",
            ],
            "{who}"
        );
        let mut ld: Vec<Vec<u8>> = ld_got.lock().unwrap().clone();
        ld.dedup();
        assert_eq!(
            ld,
            [vec![0x30, 0x0c, 2, 1, 1, 0x60, 7, 2, 1, 3, 4, 0, 0x80, 0]],
            "{who}"
        );
    }
}

#[test]
fn option_errors_like_haproxy() {
    let dir = TempDir::new("chk-proto-cfg");
    for (opt, alert) in [
        (
            "mysql-check foo",
            "'option mysql-check' only supports optional values: 'user' (got 'foo').",
        ),
        (
            "mysql-check user",
            "'option mysql-check user' expects <username> as argument.",
        ),
        (
            "mysql-check user a b",
            "keyword 'user' only supports 'post-41' and 'pre-41' (got 'b').",
        ),
        (
            "mysql-check user a post-41 x",
            "'option mysql-check' cannot handle unexpected argument 'x'.",
        ),
        (
            "ldap-check x",
            "'option ldap-check' cannot handle unexpected argument 'x'.",
        ),
    ] {
        dir.write(
            "c.cfg",
            &format!("defaults\n  timeout client 1s\n  timeout server 1s\n  timeout connect 1s\nbackend be\n  option {opt}\n  server s 127.0.0.1:1 check\nfrontend fe\n  bind 127.0.0.1:1\n  default_backend be\n"),
        );
        let mut progs = vec![bin("rhaproxy")];
        progs.extend(real_haproxy());
        for prog in progs {
            let mut c = Command::new(&prog);
            c.arg("-c").arg("-f").arg("c.cfg").current_dir(dir.path());
            let out = rhaproxy_tests::run(c, T);
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success(), "{opt}");
            assert!(
                err.contains(&format!("parsing [c.cfg:6] : {alert}")),
                "{}: {opt}: {err}",
                prog.display()
            );
        }
    }
}

/// `http-check send-state`: every check request carries HAProxy's
/// X-Haproxy-Server-State header, after the configured headers (compared
/// once the servers are UP: state, address, names, node, weights,
/// sessions, queue).
#[test]
fn http_check_send_state_header() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let got: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    std::thread::spawn(move || {
        for c in l.incoming().flatten() {
            let mut c = c;
            c.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
            let mut buf = [0u8; 4096];
            let n = c.read(&mut buf).unwrap_or(0);
            g.lock().unwrap().push(String::from_utf8_lossy(&buf[..n]).into_owned());
            let _ = c.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n");
        }
    });
    let mut node = [0u8; 256];
    // SAFETY: gethostname writes at most 256 bytes into the buffer.
    unsafe { libc::gethostname(node.as_mut_ptr() as *mut libc::c_char, node.len()) };
    let node = String::from_utf8_lossy(&node[..node.iter().position(|&c| c == 0).unwrap_or(0)]).into_owned();
    let mut progs = vec![bin("rhaproxy")];
    progs.extend(real_haproxy());
    for prog in progs {
        let dir = TempDir::new("chk-sendstate");
        let cfg = format!(
            "defaults\n  mode http\n  timeout client 5s\n  timeout server 5s\n  timeout connect 2s\nlisten li\n  bind 127.0.0.1:{}\n  option httpchk GET /h HTTP/1.1\\r\\nHost:\\ x\n  http-check send-state\n  server s1 127.0.0.1:{port} check inter 100 weight 3\n  server s2 127.0.0.1:{port} check inter 100\n",
            free_port()
        );
        let path = dir.write("c.cfg", &cfg);
        let mut c = Command::new(&prog);
        c.arg("-db")
            .arg("-f")
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        got.lock().unwrap().clear();
        let _p = Proc::spawn(c, "proxy");
        let want = format!(
            "GET /h HTTP/1.1\r\nhost: x\r\nx-haproxy-server-state: UP; address=127.0.0.1; port={port}; name=li/s1; node={node}; weight=3/4; scur=0/0; qcur=0\r\nconnection: close\r\n\r\n"
        );
        let deadline = Instant::now() + T;
        while !got.lock().unwrap().contains(&want) {
            assert!(
                Instant::now() < deadline,
                "{}: {:?}",
                prog.display(),
                got.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
