//! Shared engine of the HTTP end-to-end tests (included by the other
//! `http_*.rs` files with `#[path]`; as a test target of its own it has no
//! tests).
//!
//! A *case* is a client script (bytes to send, pauses), an origin script
//! (what the test server reads and answers on each connection) and the lines
//! of a `listen` section. [`run`] starts one proxy binary with one `listen`
//! section per case, each in front of its own in-process origin, plays all
//! cases concurrently and returns, per case, what the client received,
//! whether the proxy closed the connection, and the bytes each origin
//! connection received. The same cases run through `/usr/sbin/haproxy`
//! give the expected outcome; without it, fixture files captured from it.
#![allow(dead_code)]

use rhaproxy_tests::{free_port, wait_listening, Proc, TempDir};
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One step of the origin's script for a connection.
#[derive(Clone, Debug)]
pub enum S {
    /// Reads a request head and its body (Content-Length or chunked).
    Req,
    /// Reads a request head only.
    Head,
    /// Reads exactly this many bytes.
    Bytes(usize),
    Write(Vec<u8>),
    Sleep(u64),
    /// Closes the connection (FIN).
    Close,
    /// Echoes raw bytes until EOF.
    Echo,
}

/// One step of the client.
#[derive(Clone, Debug)]
pub enum C {
    Send(Vec<u8>),
    Sleep(u64),
    ShutWr,
}

#[derive(Clone, Debug)]
pub struct Case {
    pub name: String,
    pub client: Vec<C>,
    pub server: Vec<S>,
    /// Repeat the origin script while the connection lives.
    pub repeat: bool,
    /// Lines of the `listen` section besides `bind`; `{origin}` is replaced
    /// by the origin's address, `{fixtures}` by tests/fixtures/http.
    pub body: String,
    /// Quiet time (ms) after which the client stops reading and reports the
    /// connection as still open.
    pub quiet: u64,
    /// Known rhaproxy bug: the case runs only in the `#[ignore]`d test.
    pub bug: Option<&'static str>,
}

pub const OK200: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

impl Case {
    /// A request case: the origin answers `200 ok` to every complete request.
    pub fn req(name: &str, bytes: &[u8]) -> Case {
        Case {
            name: name.to_string(),
            client: vec![C::Send(bytes.to_vec())],
            server: vec![S::Req, S::Write(OK200.to_vec())],
            repeat: true,
            body: "server s1 {origin}\n".to_string(),
            quiet: 700,
            bug: None,
        }
    }
    /// A response case: `GET /` then the origin reads it, sends `resp`, and
    /// either closes or stays silent.
    pub fn resp(name: &str, resp: &[u8], close: bool) -> Case {
        let mut server = vec![S::Req, S::Write(resp.to_vec())];
        if close {
            server.push(S::Close);
        }
        Case {
            name: name.to_string(),
            client: vec![C::Send(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n".to_vec())],
            server,
            repeat: false,
            body: "server s1 {origin}\n".to_string(),
            quiet: 700,
            bug: None,
        }
    }
    pub fn client(mut self, c: Vec<C>) -> Case {
        self.client = c;
        self
    }
    pub fn server(mut self, s: Vec<S>, repeat: bool) -> Case {
        self.server = s;
        self.repeat = repeat;
        self
    }
    /// Adds section lines before the server line.
    pub fn cfg(mut self, lines: &str) -> Case {
        self.body = format!("{lines}\n{}", self.body);
        self
    }
    /// Replaces the whole section body.
    pub fn body(mut self, body: &str) -> Case {
        self.body = body.to_string();
        self
    }
    pub fn quiet(mut self, ms: u64) -> Case {
        self.quiet = ms;
        self
    }
    pub fn bug(mut self, why: &'static str) -> Case {
        self.bug = Some(why);
        self
    }
}

/// What one case produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub client: Vec<u8>,
    pub closed: bool,
    /// Bytes received per origin connection, in accept order.
    pub origin: Vec<Vec<u8>>,
}

impl Outcome {
    pub fn status(&self) -> String {
        let end = self.client.iter().position(|&b| b == b'\r' || b == b'\n');
        String::from_utf8_lossy(&self.client[..end.unwrap_or(self.client.len())]).into_owned()
    }
    pub fn origin_bytes(&self) -> usize {
        self.origin.iter().map(|c| c.len()).sum()
    }
}

pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/http")
}

type ConnLog = Arc<Mutex<Vec<u8>>>;

struct Origin {
    addr: SocketAddr,
    conns: Arc<Mutex<Vec<ConnLog>>>,
}

/// A connection of the origin: everything read is logged.
struct OConn {
    s: TcpStream,
    pending: Vec<u8>,
    log: ConnLog,
}

impl OConn {
    /// Reads more; false on EOF/error/timeout.
    fn fill(&mut self) -> bool {
        let mut b = [0u8; 65536];
        match self.s.read(&mut b) {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.pending.extend_from_slice(&b[..n]);
                self.log.lock().unwrap().extend_from_slice(&b[..n]);
                true
            }
        }
    }
    fn line(&mut self) -> Option<Vec<u8>> {
        loop {
            if let Some(p) = self.pending.iter().position(|&b| b == b'\n') {
                let l: Vec<u8> = self.pending.drain(..=p).collect();
                return Some(l);
            }
            if !self.fill() {
                return None;
            }
        }
    }
    fn take(&mut self, n: usize) -> bool {
        while self.pending.len() < n {
            if !self.fill() {
                return false;
            }
        }
        self.pending.drain(..n);
        true
    }
    /// Reads a head; returns its lines (without line ends).
    fn head(&mut self) -> Option<Vec<String>> {
        let mut lines = Vec::new();
        loop {
            let l = self.line()?;
            let t = String::from_utf8_lossy(&l).trim_end_matches(['\r', '\n']).to_string();
            if t.is_empty() {
                if lines.is_empty() {
                    continue;
                }
                return Some(lines);
            }
            lines.push(t);
        }
    }
    fn request(&mut self) -> bool {
        let Some(h) = self.head() else { return false };
        let mut cl = 0usize;
        let mut chunked = false;
        for l in &h[1..] {
            let Some((n, v)) = l.split_once(':') else { continue };
            let (n, v) = (n.trim().to_ascii_lowercase(), v.trim().to_ascii_lowercase());
            if n == "content-length" {
                cl = v.parse().unwrap_or(0);
            } else if n == "transfer-encoding" && v.ends_with("chunked") {
                chunked = true;
            }
        }
        if !chunked {
            return self.take(cl);
        }
        loop {
            let Some(l) = self.line() else { return false };
            let t = String::from_utf8_lossy(&l);
            let sz = t.trim().split(';').next().unwrap_or("");
            let Ok(n) = usize::from_str_radix(sz.trim(), 16) else {
                return false;
            };
            if n == 0 {
                // trailers up to the empty line
                loop {
                    let Some(l) = self.line() else { return false };
                    if l == b"\r\n" || l == b"\n" {
                        return true;
                    }
                }
            }
            if !self.take(n + 2) {
                return false;
            }
        }
    }
}

fn serve(mut c: OConn, steps: &[S], repeat: bool) {
    loop {
        for st in steps {
            let ok = match st {
                S::Req => c.request(),
                S::Head => c.head().is_some(),
                S::Bytes(n) => c.take(*n),
                S::Write(b) => c.s.write_all(b).is_ok(),
                S::Sleep(ms) => {
                    std::thread::sleep(Duration::from_millis(*ms));
                    true
                }
                S::Close => {
                    let _ = c.s.shutdown(Shutdown::Both);
                    return;
                }
                S::Echo => {
                    let mut w = c.s.try_clone().unwrap();
                    if !c.pending.is_empty() {
                        let _ = w.write_all(&c.pending);
                        c.pending.clear();
                    }
                    while c.fill() {
                        let _ = w.write_all(&c.pending);
                        c.pending.clear();
                    }
                    return;
                }
            };
            if !ok {
                return;
            }
        }
        if !repeat {
            break;
        }
    }
    // Script over: keep recording until the peer closes.
    while c.fill() {}
}

fn origin(steps: Vec<S>, repeat: bool) -> Origin {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let conns: Arc<Mutex<Vec<ConnLog>>> = Arc::default();
    let cs = conns.clone();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
            let log = ConnLog::default();
            cs.lock().unwrap().push(log.clone());
            let steps = steps.clone();
            std::thread::spawn(move || {
                serve(
                    OConn {
                        s,
                        pending: Vec::new(),
                        log,
                    },
                    &steps,
                    repeat,
                )
            });
        }
    });
    Origin { addr, conns }
}

/// Plays the client script and reads until close or `quiet` ms of silence
/// after the last step (hard cap 20 s).
fn play(addr: SocketAddr, steps: &[C], quiet: u64) -> (Vec<u8>, bool) {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    let mut r = s.try_clone().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let reader = std::thread::spawn(move || {
        r.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        let mut out = Vec::new();
        let mut b = vec![0u8; 65536];
        let mut done_at: Option<Instant> = None;
        let mut last = Instant::now();
        let hard = Instant::now() + Duration::from_secs(20);
        loop {
            if done_at.is_none() && rx.try_recv().is_ok() {
                done_at = Some(Instant::now());
            }
            match r.read(&mut b) {
                Ok(0) => return (out, true),
                Ok(n) => {
                    out.extend_from_slice(&b[..n]);
                    last = Instant::now();
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::TimedOut => {}
                Err(_) => return (out, true),
            }
            if let Some(d) = done_at {
                if d.max(last).elapsed() >= Duration::from_millis(quiet) {
                    return (out, false);
                }
            }
            if Instant::now() >= hard {
                return (out, false);
            }
        }
    });
    for st in steps {
        match st {
            C::Send(b) => {
                let _ = s.write_all(b);
            }
            C::Sleep(ms) => std::thread::sleep(Duration::from_millis(*ms)),
            C::ShutWr => {
                let _ = s.shutdown(Shutdown::Write);
            }
        }
    }
    let _ = tx.send(());
    reader.join().unwrap()
}

fn normalise(b: &[u8], ports: &[u16]) -> Vec<u8> {
    let mut out = b.to_vec();
    for p in ports {
        let pat = format!(":{p}").into_bytes();
        let mut o = Vec::with_capacity(out.len());
        let mut i = 0;
        while i < out.len() {
            if out[i..].starts_with(&pat) {
                o.extend_from_slice(b":PORT");
                i += pat.len();
            } else {
                o.push(out[i]);
                i += 1;
            }
        }
        out = o;
    }
    out
}

/// A kernel-chosen port never handed out before in this process: HAProxy
/// binds with SO_REUSEPORT, so two proxies of one test run (the reference
/// and rhaproxy run side by side) could otherwise share a port and split its
/// connections between them.
pub fn unique_port() -> u16 {
    static USED: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    loop {
        let p = free_port();
        let mut u = USED.lock().unwrap();
        if !u.contains(&p) {
            u.push(p);
            return p;
        }
    }
}

/// Runs all `cases` through the proxy binary `bin` (rhaproxy or haproxy)
/// with `global` lines added to the global section.
pub fn run(bin: &Path, global: &str, cases: &[Case]) -> Vec<Outcome> {
    let dir = TempDir::new("http-cases");
    let fx = fixtures_dir();
    let global = global.replace("{fixtures}", fx.to_str().unwrap());
    let origins: Vec<Origin> = cases.iter().map(|c| origin(c.server.clone(), c.repeat)).collect();
    // Ports from the kernel can be taken again before the proxy binds them
    // (by any outgoing connection of a test running alongside): on a bind
    // failure, start over with fresh ports.
    let mut attempt = 0;
    let (p, plan) = loop {
        attempt += 1;
        let mut cfg = format!(
            "global\n    tune.bufsize 16384\n{global}\ndefaults\n    mode http\n    timeout client 10s\n    timeout server 10s\n    timeout connect 2s\n"
        );
        let mut plan = Vec::new();
        for (i, (c, o)) in cases.iter().zip(&origins).enumerate() {
            let port = unique_port();
            let body = c
                .body
                .replace("{origin}", &o.addr.to_string())
                .replace("{fixtures}", fx.to_str().unwrap());
            cfg.push_str(&format!("\nlisten c{i}\n    bind 127.0.0.1:{port}\n"));
            for l in body.lines().filter(|l| !l.trim().is_empty()) {
                cfg.push_str(&format!("    {}\n", l.trim()));
            }
            plan.push((o, port));
        }
        let path = dir.write("h.cfg", &cfg);
        let mut cmd = Command::new(bin);
        cmd.arg("-db")
            .arg("-f")
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("stderr")).unwrap());
        let mut p = Proc::spawn(cmd, "proxy");
        let mut up = true;
        for (_, port) in &plan {
            let a: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
            let exited = p.child.as_mut().unwrap().try_wait().ok().flatten().is_some();
            if exited || !wait_listening(a, Duration::from_secs(10)) {
                up = false;
                break;
            }
        }
        if up {
            break (p, plan);
        }
        let st = p.wait_timeout(Duration::from_millis(10));
        let err = std::fs::read_to_string(dir.path().join("stderr")).unwrap_or_default();
        assert!(
            attempt < 4 && err.contains("Address already in use"),
            "{} does not listen (exit {st:?}):\n{err}",
            bin.display()
        );
    };
    let handles: Vec<_> = cases
        .iter()
        .zip(plan.iter())
        .map(|(c, (o, port))| {
            let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
            let steps = c.client.clone();
            let quiet = c.quiet;
            let conns = o.conns.clone();
            let ports = [*port, o.addr.port()];
            std::thread::spawn(move || {
                let (client, closed) = play(addr, &steps, quiet);
                // Let the origin's last reads land.
                std::thread::sleep(Duration::from_millis(100));
                let origin = conns
                    .lock()
                    .unwrap()
                    .iter()
                    .map(|l| normalise(&l.lock().unwrap(), &ports))
                    .filter(|b| !b.is_empty())
                    .collect();
                Outcome {
                    client: normalise(&client, &ports),
                    closed,
                    origin,
                }
            })
        })
        .collect();
    let out = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let mut p = p;
    if let Ok(Some(st)) = p.child.as_mut().unwrap().try_wait() {
        let err = std::fs::read_to_string(dir.path().join("stderr")).unwrap_or_default();
        panic!("{} exited during the cases ({st}):\n{err}", bin.display());
    }
    drop(p);
    out
}

pub fn esc(b: &[u8]) -> String {
    let mut s = String::new();
    for &c in b {
        match c {
            b'\r' => s.push_str("\\r"),
            b'\n' => s.push_str("\\n"),
            b'\t' => s.push_str("\\t"),
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7e => s.push(c as char),
            _ => s.push_str(&format!("\\x{c:02x}")),
        }
    }
    s
}

pub fn unesc(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut o = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 1 < b.len() {
            match b[i + 1] {
                b'r' => o.push(b'\r'),
                b'n' => o.push(b'\n'),
                b't' => o.push(b'\t'),
                b'\\' => o.push(b'\\'),
                b'x' => {
                    o.push(u8::from_str_radix(&s[i + 2..i + 4], 16).unwrap());
                    i += 2;
                }
                x => panic!("bad escape \\{}", x as char),
            }
            i += 2;
        } else {
            o.push(b[i]);
            i += 1;
        }
    }
    o
}

/// Fixture line: name, closed, client bytes, then one column per origin
/// connection.
pub fn to_line(name: &str, o: &Outcome) -> String {
    let mut l = format!(
        "{name}\t{}\t{}",
        if o.closed { "close" } else { "keep" },
        esc(&o.client)
    );
    for c in &o.origin {
        l.push('\t');
        l.push_str(&esc(c));
    }
    l
}

pub fn read_fixture(file: &str) -> Vec<(String, Outcome)> {
    let p = fixtures_dir().join(file);
    let t = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    t.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (
                f[0].to_string(),
                Outcome {
                    closed: f[1] == "close",
                    client: unesc(f[2]),
                    origin: f[3..].iter().map(|c| unesc(c)).collect(),
                },
            )
        })
        .collect()
}

/// The expected outcomes: real HAProxy run now when installed (and, with
/// `RHAPROXY_CAPTURE=1`, written to `fixture`), else the fixture file.
pub fn expected(global: &str, cases: &[Case], fixture: &str) -> Vec<Outcome> {
    if let Some(h) = rhaproxy_tests::real_haproxy() {
        let out = run(&h, global, cases);
        if std::env::var_os("RHAPROXY_CAPTURE").is_some() {
            let mut t = String::from(
                "# captured from /usr/sbin/haproxy by tests/fixtures/http/capture.sh\n# name\tclose|keep\tclient bytes\torigin bytes per connection...\n",
            );
            for (c, o) in cases.iter().zip(&out) {
                t.push_str(&to_line(&c.name, o));
                t.push('\n');
            }
            std::fs::write(fixtures_dir().join(fixture), t).unwrap();
        }
        return out;
    }
    let fx = read_fixture(fixture);
    cases
        .iter()
        .map(|c| {
            fx.iter()
                .find(|(n, _)| *n == c.name)
                .unwrap_or_else(|| panic!("case {} missing from {fixture}: run capture.sh", c.name))
                .1
                .clone()
        })
        .collect()
}

/// Runs `cases` through rhaproxy and the reference side by side; returns
/// the descriptions of the cases that differ.
pub fn compare(global: &str, cases: &[Case], fixture: &str) -> (Vec<Outcome>, Vec<Outcome>, Vec<String>) {
    let cs = cases.to_vec();
    let g = global.to_string();
    let fx = fixture.to_string();
    let exp = std::thread::spawn(move || expected(&g, &cs, &fx));
    let got = run(&rhaproxy_tests::bin("rhaproxy"), global, cases);
    let exp = exp.join().unwrap();
    let mut diffs = Vec::new();
    for ((c, g), e) in cases.iter().zip(&got).zip(&exp) {
        if g != e {
            diffs.push(format!(
                "case {}:\n  haproxy : {} {} origin={:?}\n    client: {}\n  rhaproxy: {} {} origin={:?}\n    client: {}",
                c.name,
                e.status(),
                if e.closed { "close" } else { "keep" },
                e.origin.iter().map(|b| esc(b)).collect::<Vec<_>>(),
                esc(&e.client),
                g.status(),
                if g.closed { "close" } else { "keep" },
                g.origin.iter().map(|b| esc(b)).collect::<Vec<_>>(),
                esc(&g.client),
            ));
        }
    }
    (got, exp, diffs)
}
