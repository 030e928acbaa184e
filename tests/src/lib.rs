//! End-to-end test harness: finds the workspace's binaries (`rhaproxy`,
//! `httpterm`, `h1load`), spawns them on 127.0.0.1 with kernel-chosen ports,
//! and guarantees every child is killed and reaped when the test ends, even
//! on panic.
//!
//! It owns nothing of the product: tests talk to the binaries only through
//! sockets, files and exit codes, as a user would.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// Directory holding the built binaries: the test executable lives in
/// `<target>/<profile>/deps/`, the binaries one level up. Works with any
/// `CARGO_TARGET_DIR`.
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let deps = exe.parent().expect("deps dir");
    deps.parent().expect("profile dir").to_path_buf()
}

/// Path of a workspace binary. Panics with the command to run when it was
/// not built (`cargo test` builds only the binaries of the package under test).
pub fn bin(name: &str) -> PathBuf {
    let p = bin_dir().join(name);
    assert!(
        p.exists(),
        "{} not found: run `cargo build --workspace --bins` first (scripts/test.sh does)",
        p.display()
    );
    p
}

/// Real HAProxy, when installed (the behavioural reference).
pub fn real_haproxy() -> Option<PathBuf> {
    let p = PathBuf::from("/usr/sbin/haproxy");
    p.exists().then_some(p)
}

/// A port free right now for a server the test starts (proxy, origin),
/// taken below the kernel's ephemeral range (32768-60999 here). Ports the
/// kernel hands out for `:0` binds and outgoing connections come from that
/// range, so a port picked there could be given to another test's socket
/// between this probe and the child's bind (seen as cross-talk between
/// cases).
///
/// Several test processes run at once (test files of parallel `cargo test`
/// runs, other checkouts on the same machine), and the children bind with
/// SO_REUSEPORT: two of them given the same port would share it silently,
/// each getting part of the other's connections. A bind probe alone cannot
/// prevent that (both probes pass before either child binds), so every port
/// handed out is also reserved for the life of this process with an
/// exclusive `flock` on a file named after it in a directory common to all
/// test processes of this user; the kernel drops the lock when the process
/// ends, however it ends, so nothing stale is left behind.
pub fn free_port() -> u16 {
    use std::os::fd::AsRawFd;
    use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
    use std::sync::Mutex;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    // The lock files stay open (and locked) until the process exits.
    static HELD: Mutex<Vec<std::fs::File>> = Mutex::new(Vec::new());
    const BASE: u32 = 12000;
    const SPAN: u32 = 16000;
    // SAFETY: getuid(2) has no preconditions and cannot fail.
    let uid = unsafe { libc::getuid() };
    let dir = std::env::temp_dir().join(format!("rhaproxy-test-ports-{uid}"));
    let _ = std::fs::create_dir_all(&dir);
    let seed = std::process::id().wrapping_mul(2654435761) % SPAN;
    for _ in 0..SPAN {
        let n = NEXT.fetch_add(1, Relaxed);
        let port = (BASE + (seed + n) % SPAN) as u16;
        // Without a usable lock directory, the bind probe alone decides.
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(port.to_string()))
            .ok();
        if let Some(f) = &lock {
            // SAFETY: flock(2) on a descriptor owned by `f`, alive for the call.
            if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
                continue; // reserved by another running test process
            }
        }
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            HELD.lock().unwrap_or_else(|e| e.into_inner()).extend(lock);
            return port;
        }
    }
    panic!("no free port in {BASE}..{}", BASE + SPAN);
}

/// A child process killed and reaped on drop.
pub struct Proc {
    pub child: Option<Child>,
    pub name: String,
}

impl Proc {
    pub fn spawn(mut cmd: Command, name: &str) -> Proc {
        cmd.stdin(Stdio::null());
        let child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {name}: {e}"));
        Proc {
            child: Some(child),
            name: name.to_string(),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// Waits for exit at most `timeout`; kills on expiry.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        let child = self.child.as_mut()?;
        loop {
            if let Ok(Some(st)) = child.try_wait() {
                return Some(st);
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Sends a signal (e.g. `libc::SIGTERM`).
    pub fn signal(&self, sig: i32) {
        if let Some(c) = &self.child {
            // SAFETY: kill(2) on a pid we spawned and have not reaped yet, so
            // the pid cannot have been recycled for another process.
            unsafe {
                libc::kill(c.id() as i32, sig);
            }
        }
    }

    /// Takes stdout/stderr of a finished child (spawned with pipes).
    pub fn finish(mut self, timeout: Duration) -> Output {
        let mut child = self.child.take().unwrap();
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        child.wait_with_output().expect("wait_with_output")
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Writes `cfg` as `name` in `dir` and starts `rhaproxy -db -f` on it in
/// the foreground, its output discarded. Killed and reaped on drop.
pub fn spawn_rhaproxy(dir: &TempDir, name: &str, cfg: &str) -> Proc {
    let path = dir.write(name, cfg);
    spawn_proxy(&bin("rhaproxy"), &path, "rhaproxy")
}

/// Starts `prog -db -f cfg` (rhaproxy or the reference HAProxy, same
/// flags), its output discarded. Killed and reaped on drop.
pub fn spawn_proxy(prog: &Path, cfg: &Path, name: &str) -> Proc {
    let mut c = Command::new(prog);
    c.arg("-db")
        .arg("-f")
        .arg(cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    Proc::spawn(c, name)
}

/// An origin that accepts every connection and holds it open without a
/// word (for timeouts, limits and session listings). Lives until the test
/// process ends.
pub fn silent_origin() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind silent origin");
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for c in l.incoming().flatten() {
            held.push(c);
        }
    });
    addr
}

/// Spawns `prog -db -f cfg` in `cwd` with stderr written to `err` (for
/// [`wait_line`]), stdout discarded.
pub fn spawn_logged(prog: &Path, cfg: &Path, err: &Path, cwd: &Path, name: &str) -> Proc {
    let f = std::fs::File::create(err).expect("create stderr file");
    let mut c = Command::new(prog);
    c.arg("-db")
        .arg("-f")
        .arg(cfg)
        .current_dir(cwd)
        .stdout(Stdio::null())
        .stderr(Stdio::from(f));
    Proc::spawn(c, name)
}

/// Waits (up to `timeout`) for a line of file `err` containing `what` and
/// returns it; panics with the file's contents otherwise.
pub fn wait_line(err: &Path, what: &str, timeout: Duration) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        let e = std::fs::read_to_string(err).unwrap_or_default();
        if let Some(l) = e.lines().find(|l| l.contains(what)) {
            return l.to_string();
        }
        assert!(Instant::now() < deadline, "no line with {what:?} in:\n{e}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Reads one HTTP head (request or response) from `c` into `buf`, then
/// takes it out of `buf` (what follows it stays there for the next call)
/// and returns it as text. None when the peer closes or the read fails
/// (or times out) before a complete head.
pub fn read_head(c: &mut impl Read, buf: &mut Vec<u8>) -> Option<String> {
    let mut tmp = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end + 4]).into_owned();
            buf.drain(..end + 4);
            return Some(head);
        }
        match c.read(&mut tmp) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&tmp[..n]),
        }
    }
}

/// A keep-alive HTTP/1 origin on `l`, one thread per connection (reads
/// time out after 10 s): for each request head, `answer(head)` gives the
/// whole response to send, or None to close the connection. Request
/// bodies are not read. Lives until the test process ends.
pub fn http_origin(l: TcpListener, answer: impl Fn(&str) -> Option<Vec<u8>> + Send + Sync + 'static) {
    let answer = std::sync::Arc::new(answer);
    std::thread::spawn(move || {
        for c in l.incoming().flatten() {
            let answer = answer.clone();
            std::thread::spawn(move || {
                let mut c = c;
                let _ = c.set_read_timeout(Some(Duration::from_secs(10)));
                let mut buf = Vec::new();
                while let Some(head) = read_head(&mut c, &mut buf) {
                    match answer(&head) {
                        Some(r) if c.write_all(&r).is_ok() => {}
                        _ => return,
                    }
                }
            });
        }
    });
}

/// Runs a command to completion with a timeout, capturing output.
pub fn run(mut cmd: Command, timeout: Duration) -> Output {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let p = Proc::spawn(cmd, "run");
    p.finish(timeout)
}

/// A temporary directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("rhaproxy-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
    pub fn write(&self, name: &str, content: &str) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, content).unwrap();
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Waits until something accepts TCP connections on `addr`.
pub fn wait_listening(addr: SocketAddr, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// Waits until a unix socket path accepts connections.
pub fn wait_unix(path: &Path, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// Sends raw bytes, half-closes nothing, and reads until the peer closes or
/// `timeout` passes. Returns what was read.
pub fn exchange(addr: SocketAddr, req: &[u8], timeout: Duration) -> Vec<u8> {
    exchange_quiet(addr, req, timeout, timeout)
}

/// Like [`exchange`], but also stops after `quiet` without data (for
/// peers that keep the connection open), within `timeout` in all.
pub fn exchange_quiet(addr: SocketAddr, req: &[u8], quiet: Duration, timeout: Duration) -> Vec<u8> {
    let mut s = TcpStream::connect_timeout(&addr, timeout).expect("connect");
    s.set_read_timeout(Some(quiet)).unwrap();
    s.write_all(req).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(_) => break,
        }
    }
    out
}

/// Sends one command to a stats socket (unix path) and returns the answer.
pub fn cli(path: &Path, cmd: &str, timeout: Duration) -> String {
    let mut s = std::os::unix::net::UnixStream::connect(path).expect("connect cli");
    s.set_read_timeout(Some(timeout)).unwrap();
    s.write_all(cmd.as_bytes()).unwrap();
    if !cmd.ends_with('\n') {
        s.write_all(b"\n").unwrap();
    }
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}
