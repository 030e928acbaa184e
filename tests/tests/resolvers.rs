//! Run-time DNS resolution end to end against a scripted name server
//! written here (UDP on 127.0.0.1, port from the kernel): traffic follows
//! a changed A answer (with HAProxy's "changed its IP" line), NXDOMAIN
//! past `hold nx` puts the server in resolution maintenance and a valid
//! answer brings it back, `init-addr none` starts in maintenance until
//! the name resolves, `server-template` slots are filled from SRV records
//! (address from the additional section, port and weight from the
//! record), `show resolvers` counts, and `show servers state` / `show
//! stat` agree with the real HAProxy 2.6 on the same config and answers.

use rhaproxy_tests::{
    bin, cli, free_port, http_origin, real_haproxy, spawn_logged, wait_line, wait_unix, Proc, TempDir,
};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the fake server answers for a name: A addresses, SRV records
/// (priority, weight, port, target), or NXDOMAIN when absent.
#[derive(Clone, Default)]
struct Zone {
    a: Vec<[u8; 4]>,
    srv: Vec<(u16, u16, u16, String)>,
}

type Db = Arc<Mutex<HashMap<String, Zone>>>;

fn labels(out: &mut Vec<u8>, name: &str) {
    for l in name.split('.') {
        out.push(l.len() as u8);
        out.extend_from_slice(l.as_bytes());
    }
    out.push(0);
}

/// The answer to one query (A and SRV only; AAAA gets no records).
fn answer(q: &[u8], db: &Db) -> Option<Vec<u8>> {
    let mut p = 12;
    let mut name = Vec::new();
    while *q.get(p)? != 0 {
        let l = q[p] as usize;
        name.push(String::from_utf8_lossy(q.get(p + 1..p + 1 + l)?).to_ascii_lowercase());
        p += 1 + l;
    }
    let qname = name.join(".");
    let qtype = u16::from_be_bytes([*q.get(p + 1)?, *q.get(p + 2)?]);
    let question = &q[12..p + 5];
    let db = db.lock().unwrap();
    let zone = db.get(&qname);
    let mut ans: Vec<(u16, Vec<u8>)> = Vec::new();
    let mut add: Vec<(String, Vec<u8>)> = Vec::new();
    if let Some(z) = zone {
        if qtype == 1 {
            ans = z.a.iter().map(|a| (1, a.to_vec())).collect();
        }
        if qtype == 33 {
            for (pr, w, port, t) in &z.srv {
                let mut rd = Vec::new();
                for v in [pr, w, port] {
                    rd.extend_from_slice(&v.to_be_bytes());
                }
                labels(&mut rd, t);
                ans.push((33, rd));
                if let Some(tz) = db.get(t) {
                    add.extend(tz.a.iter().map(|a| (t.clone(), a.to_vec())));
                }
            }
        }
    }
    let rcode: u16 = if zone.is_some() { 0 } else { 3 };
    let mut r = q[..2].to_vec();
    r.extend_from_slice(&(0x8180 | rcode).to_be_bytes());
    for n in [1, ans.len(), 0, add.len()] {
        r.extend_from_slice(&(n as u16).to_be_bytes());
    }
    r.extend_from_slice(question);
    for (t, rd) in ans {
        r.extend_from_slice(&[0xc0, 12]);
        r.extend_from_slice(&t.to_be_bytes());
        r.extend_from_slice(&[0, 1, 0, 0, 0, 60]);
        r.extend_from_slice(&(rd.len() as u16).to_be_bytes());
        r.extend_from_slice(&rd);
    }
    for (n, rd) in add {
        labels(&mut r, &n);
        r.extend_from_slice(&[0, 1, 0, 1, 0, 0, 0, 60]);
        r.extend_from_slice(&(rd.len() as u16).to_be_bytes());
        r.extend_from_slice(&rd);
    }
    Some(r)
}

/// Starts the fake name server; lives until the test process ends.
fn name_server(db: Db) -> SocketAddr {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    let a = s.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 1500];
        loop {
            let Ok((n, from)) = s.recv_from(&mut buf) else { continue };
            if let Some(r) = answer(&buf[..n], &db) {
                let _ = s.send_to(&r, from);
            }
        }
    });
    a
}

/// The same name server over TCP (2-byte length framing, several
/// queries per connection).
fn tcp_name_server(db: Db) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let a = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for c in l.incoming().flatten() {
            let db = db.clone();
            std::thread::spawn(move || {
                let mut c = c;
                c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
                loop {
                    let mut len = [0u8; 2];
                    if c.read_exact(&mut len).is_err() {
                        return;
                    }
                    let mut q = vec![0u8; u16::from_be_bytes(len) as usize];
                    if c.read_exact(&mut q).is_err() {
                        return;
                    }
                    if let Some(r) = answer(&q, &db) {
                        let mut out = (r.len() as u16).to_be_bytes().to_vec();
                        out.extend_from_slice(&r);
                        if c.write_all(&out).is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    a
}

fn set(db: &Db, name: &str, z: Option<Zone>) {
    let mut d = db.lock().unwrap();
    match z {
        Some(z) => d.insert(name.to_string(), z),
        None => d.remove(name),
    };
}

fn a(ip: [u8; 4]) -> Option<Zone> {
    Some(Zone {
        a: vec![ip],
        ..Default::default()
    })
}

/// An HTTP origin on `l` answering `name` as body.
fn origin_on(l: TcpListener, name: &'static str) {
    http_origin(l, move |_| {
        Some(format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{name}", name.len()).into_bytes())
    });
}

/// Two origins on the same port, one on 127.0.0.1 and one on 127.0.0.2.
fn twin_origins() -> u16 {
    for _ in 0..20 {
        let l1 = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l1.local_addr().unwrap().port();
        if let Ok(l2) = TcpListener::bind(("127.0.0.2", port)) {
            origin_on(l1, "one");
            origin_on(l2, "two");
            return port;
        }
    }
    panic!("no port free on both 127.0.0.1 and 127.0.0.2");
}

struct Px {
    _p: Proc,
    addr: SocketAddr,
    sock: PathBuf,
    err: PathBuf,
}

impl Px {
    fn start(prog: &Path, dir: &TempDir, tag: &str, ns: impl std::fmt::Display, resolvers: &str, backend: &str) -> Px {
        let port = free_port();
        let sock = dir.path().join(format!("{tag}.sock"));
        let cfg = format!(
            "global\n    stats socket {} level admin\ndefaults\n    mode http\n    timeout client 5s\n    timeout server 5s\n    timeout connect 1s\nresolvers dns\n    nameserver ns1 {ns}\n{resolvers}frontend f\n    bind 127.0.0.1:{port}\n    default_backend b\nbackend b\n{backend}",
            sock.display()
        );
        let path = dir.write(&format!("{tag}.cfg"), &cfg);
        let err = dir.path().join(format!("{tag}.err"));
        let p = spawn_logged(prog, &path, &err, dir.path(), tag);
        assert!(wait_unix(&sock, Duration::from_secs(5)), "stats socket");
        Px {
            _p: p,
            addr: format!("127.0.0.1:{port}").parse().unwrap(),
            sock,
            err,
        }
    }

    fn wait_line(&self, what: &str) -> String {
        wait_line(&self.err, what, Duration::from_secs(5))
    }

    /// Status code and body of one request.
    fn get(&self) -> (u16, String) {
        let mut s = TcpStream::connect(self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        let code = out.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
        (code, out.split("\r\n\r\n").nth(1).unwrap_or("").to_string())
    }

    fn wait_body(&self, want: &str) {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let (code, body) = self.get();
            if code == 200 && body == want {
                return;
            }
            assert!(Instant::now() < deadline, "never got {want:?} (last {code} {body:?})");
            std::thread::sleep(Duration::from_millis(30));
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
        out.lines()
            .find(|l| l.split(',').nth(1) == Some(sv))
            .map(|l| l.split(',').nth(i).unwrap_or("").to_string())
            .unwrap_or_default()
    }

    fn wait_stat(&self, sv: &str, col: &str, want: &str) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.stat(sv, col) != want {
            assert!(
                Instant::now() < deadline,
                "{sv} {col} never became {want:?} (is {:?})",
                self.stat(sv, col)
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

const FAST: &str =
    "    timeout resolve 100ms\n    timeout retry 100ms\n    resolve_retries 1\n    hold nx 300ms\n    hold valid 1s\n";

#[test]
fn traffic_follows_the_answer_and_nx_holds_then_maintains() {
    let db: Db = Default::default();
    let port = twin_origins();
    set(&db, "web.test", a([127, 0, 0, 1]));
    let ns = name_server(db.clone());
    let dir = TempDir::new("resolv-follow");
    let px = Px::start(
        &bin("rhaproxy"),
        &dir,
        "rh",
        ns,
        FAST,
        &format!("    server s1 web.test:{port} resolvers dns resolve-prefer ipv4\n"),
    );
    px.wait_body("one");
    set(&db, "web.test", a([127, 0, 0, 2]));
    px.wait_body("two");
    let l = px.wait_line("b/s1 changed its IP from 127.0.0.1 to 127.0.0.2");
    assert!(
        l.ends_with("b/s1 changed its IP from 127.0.0.1 to 127.0.0.2 by dns/ns1."),
        "{l}"
    );
    assert_eq!(px.stat("s1", "addr"), format!("127.0.0.2:{port}"));

    // NXDOMAIN: kept during `hold nx`, then resolution maintenance.
    set(&db, "web.test", None);
    px.wait_stat("s1", "status", "MAINT (resolution)");
    px.wait_line("Server b/s1 is going DOWN for maintenance (DNS NX status).");
    assert_eq!(px.get().0, 503);
    assert_eq!(px.stat("s1", "addr"), "");

    // A valid answer brings it back.
    set(&db, "web.test", a([127, 0, 0, 1]));
    px.wait_stat("s1", "status", "no check");
    px.wait_body("one");
    px.wait_line("Server b/s1 ('web.test') is UP/READY (resolves again).");
    px.wait_line("Server b/s1 administratively READY thanks to valid DNS answer.");

    let out = cli(&px.sock, "show resolvers dns", Duration::from_secs(5));
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("Resolvers section dns"));
    assert_eq!(lines.next(), Some(" nameserver ns1:"));
    let num = |k: &str| -> u64 {
        out.lines()
            .find_map(|l| l.strip_prefix(&format!("  {k}:")))
            .map(|v| v.trim().parse().unwrap())
            .unwrap_or_else(|| panic!("no {k} in {out}"))
    };
    assert!(
        num("sent") >= 4 && num("valid") >= 3 && num("nx") >= 1 && num("update") >= 2,
        "{out}"
    );
    // 15 counters under two title lines, then the end-of-answer blank line.
    assert_eq!(out.lines().count(), 18, "{out}");
    assert!(
        out.lines().nth(16).is_some_and(|l| l.starts_with("  outdated:    ")) && out.ends_with("\n\n"),
        "{out}"
    );
    assert_eq!(
        cli(&px.sock, "show resolvers nope", Duration::from_secs(5)),
        "Can't find that resolvers section\n\n"
    );
}

#[test]
fn init_addr_none_waits_in_maintenance_until_resolved() {
    let db: Db = Default::default();
    let port = twin_origins();
    let ns = name_server(db.clone());
    let dir = TempDir::new("resolv-initnone");
    let px = Px::start(
        &bin("rhaproxy"),
        &dir,
        "rh",
        ns,
        FAST,
        &format!(
            "    default-server init-addr none\n    server s1 late.test:{port} resolvers dns resolve-prefer ipv4\n"
        ),
    );
    assert_eq!(px.stat("s1", "status"), "MAINT (resolution)");
    assert_eq!(px.get().0, 503);
    let state = cli(&px.sock, "show servers state b", Duration::from_secs(5));
    let row: Vec<&str> = state.lines().nth(2).unwrap().split(' ').collect();
    assert_eq!(
        (row[4], row[5], row[6], row[17]),
        ("-", "0", "32", "late.test"),
        "{state}"
    );
    set(&db, "late.test", a([127, 0, 0, 2]));
    px.wait_body("two");
    px.wait_line("b/s1 changed its IP from (none) to 127.0.0.2 by dns/ns1.");
    assert_eq!(px.stat("s1", "status"), "no check");
}

#[test]
fn set_server_fqdn_moves_to_the_new_name() {
    let db: Db = Default::default();
    let port = twin_origins();
    set(&db, "web.test", a([127, 0, 0, 1]));
    set(&db, "other.test", a([127, 0, 0, 2]));
    let ns = name_server(db.clone());
    let dir = TempDir::new("resolv-fqdn");
    let px = Px::start(
        &bin("rhaproxy"),
        &dir,
        "rh",
        ns,
        FAST,
        &format!("    server s1 web.test:{port} resolvers dns resolve-prefer ipv4\n    server s2 127.0.0.1:{port} resolvers dns\n"),
    );
    px.wait_stat("s1", "addr", &format!("127.0.0.1:{port}"));
    let t = Duration::from_secs(5);
    assert_eq!(
        cli(&px.sock, "set server b/s1 fqdn other.test", t),
        "b/s1 changed its FQDN from web.test to other.test by 'stats socket command'\n\n"
    );
    assert_eq!(
        cli(&px.sock, "set server b/s1 fqdn other.test", t),
        "no need to change the FDQN by 'stats socket command'\n\n"
    );
    assert_eq!(
        cli(&px.sock, "set server b/s1 fqdn bad!name", t),
        "invalid fqdn 'bad!name' by 'stats socket command'\n\n"
    );
    // A server configured with an address starts resolving the name.
    assert_eq!(
        cli(&px.sock, "set server b/s2 fqdn other.test", t),
        "b/s2 changed its FQDN from (null) to other.test by 'stats socket command'\n\n"
    );
    px.wait_stat("s1", "addr", &format!("127.0.0.2:{port}"));
    px.wait_stat("s2", "addr", &format!("127.0.0.2:{port}"));
    px.wait_line("b/s1 changed its IP from 127.0.0.1 to 127.0.0.2 by dns/ns1.");
    let state = cli(&px.sock, "show servers state b", t);
    assert!(state.lines().nth(2).unwrap().contains(" other.test "), "{state}");
}

#[test]
fn tcp_name_server_answers() {
    let db: Db = Default::default();
    let port = twin_origins();
    set(&db, "web.test", a([127, 0, 0, 2]));
    let ns = tcp_name_server(db.clone());
    let dir = TempDir::new("resolv-tcp");
    let px = Px::start(
        &bin("rhaproxy"),
        &dir,
        "rh",
        format!("tcp@{ns}"),
        FAST,
        &format!("    server s1 web.test:{port} resolvers dns resolve-prefer ipv4 init-addr none\n"),
    );
    px.wait_body("two");
    px.wait_line("b/s1 changed its IP from (none) to 127.0.0.2 by dns/ns1.");
    set(&db, "web.test", a([127, 0, 0, 1]));
    px.wait_body("one");
    let out = cli(&px.sock, "show resolvers dns", Duration::from_secs(5));
    assert!(out.contains("  snd_error:   0\n"), "{out}");
}

fn srv_zone(db: &Db, p1: u16, p2: u16) {
    set(
        db,
        "_http._tcp.svc.test",
        Some(Zone {
            srv: vec![(0, 10, p1, "h1.test".into()), (0, 512, p2, "h2.test".into())],
            ..Default::default()
        }),
    );
    set(db, "h1.test", a([127, 0, 0, 1]));
    set(db, "h2.test", a([127, 0, 0, 1]));
}

#[test]
fn server_template_takes_srv_records() {
    let db: Db = Default::default();
    let (l1, l2) = (
        TcpListener::bind("127.0.0.1:0").unwrap(),
        TcpListener::bind("127.0.0.1:0").unwrap(),
    );
    let (p1, p2) = (l1.local_addr().unwrap().port(), l2.local_addr().unwrap().port());
    origin_on(l1, "one");
    origin_on(l2, "two");
    srv_zone(&db, p1, p2);
    let ns = name_server(db.clone());
    let dir = TempDir::new("resolv-srv");
    let px = Px::start(
        &bin("rhaproxy"),
        &dir,
        "rh",
        ns,
        FAST,
        "    balance roundrobin\n    server-template t 3 _http._tcp.svc.test resolvers dns resolve-prefer ipv4\n",
    );
    px.wait_stat("t1", "status", "no check");
    px.wait_stat("t2", "status", "no check");
    assert_eq!(px.stat("t1", "addr"), format!("127.0.0.1:{p1}"));
    assert_eq!(px.stat("t2", "addr"), format!("127.0.0.1:{p2}"));
    // SRV weight 512 maps to (512 + 255) / 256 = 2.
    assert_eq!(px.stat("t2", "weight"), "2");
    assert_eq!(px.stat("t3", "status"), "MAINT (resolution)");
    let mut seen = (0, 0);
    for _ in 0..6 {
        match px.get().1.as_str() {
            "one" => seen.0 += 1,
            "two" => seen.1 += 1,
            o => panic!("{o}"),
        }
    }
    assert!(seen.0 >= 1 && seen.1 >= 1, "{seen:?}");
    px.wait_line("b/t1 changed its IP from (none) to 127.0.0.1 by DNS additional record.");
    // A record leaving empties its slot.
    set(
        &db,
        "_http._tcp.svc.test",
        Some(Zone {
            srv: vec![(0, 10, p1, "h1.test".into())],
            ..Default::default()
        }),
    );
    px.wait_stat("t2", "status", "MAINT (resolution)");
    px.wait_line("Server b/t2 is going DOWN for maintenance (entry removed from SRV record).");
    for _ in 0..3 {
        assert_eq!(px.get().1, "one");
    }
}

/// The columns of `show servers state` and `show stat` that do not
/// depend on timing, from rhaproxy and from HAProxy 2.6 on the same
/// config and answers.
#[test]
fn states_match_haproxy() {
    let Some(h) = real_haproxy() else {
        eprintln!("no reference haproxy; skipped");
        return;
    };
    let db: Db = Default::default();
    srv_zone(&db, 9001, 9002);
    set(&db, "web.test", a([127, 0, 0, 3]));
    let ns = name_server(db.clone());
    let dir = TempDir::new("resolv-vs");
    let backend = "    server s1 web.test:80 resolvers dns resolve-prefer ipv4\n    server s2 gone.test:80 resolvers dns init-addr none\n    server-template t 3 _http._tcp.svc.test resolvers dns resolve-prefer ipv4\n";
    let ours = Px::start(&bin("rhaproxy"), &dir, "rh", ns, FAST, backend);
    let theirs = Px::start(&h, &dir, "ha", ns, FAST, backend);
    for p in [&ours, &theirs] {
        p.wait_stat("t2", "status", "no check");
        p.wait_stat("s1", "status", "no check");
    }
    let rows = |p: &Px| -> Vec<String> {
        let s = cli(&p.sock, "show servers state b", Duration::from_secs(5));
        s.lines()
            .skip(2)
            .filter(|l| !l.is_empty())
            .map(|l| {
                let mut c: Vec<&str> = l.split(' ').collect();
                c[9] = "T"; // seconds since the last change
                c[0] = "ID"; // backend id (the CLI frontend may count)
                c.join(" ")
            })
            .collect()
    };
    assert_eq!(rows(&ours), rows(&theirs));
    // `show resolvers`: same layout, counters aside.
    let layout = |p: &Px| -> String {
        cli(&p.sock, "show resolvers dns", Duration::from_secs(5))
            .lines()
            .map(|l| l.trim_end_matches(|c: char| c.is_ascii_digit()))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(layout(&ours), layout(&theirs));
    for sv in ["s1", "s2", "t1", "t2", "t3"] {
        for col in ["status", "addr", "weight"] {
            assert_eq!(ours.stat(sv, col), theirs.stat(sv, col), "{sv} {col}");
        }
    }
}
