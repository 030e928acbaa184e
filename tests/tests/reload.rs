//! Reloads as users run them: a new process takes over with `-sf`/`-st`
//! (optionally `-x` to take the listening sockets through the old
//! process's stats socket), `-D` with a pid file. Clients keep sending
//! requests during the hand-over and none may fail; the old process exits
//! once its last connection is over.
//!
//! Every process is spawned in the foreground (`-db`) as our child so it is
//! reaped; the daemon test kills the daemon by the pid its pid file names.

use rhaproxy_tests::{bin, free_port, wait_listening, wait_unix, Proc, TempDir};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(10);

fn cfg(port: u16, stats: &std::path::Path, extra: &str) -> String {
    format!(
        "global\n    stats socket {} level admin expose-fd listeners\n\
         defaults\n    mode http\n    timeout client 5s\n    timeout server 5s\n    timeout connect 1s\n\
         frontend fe\n    bind 127.0.0.1:{port}\n{extra}\
         \x20   http-request return status 200 content-type text/plain string ok\n",
        stats.display()
    )
}

fn spawn(dir: &TempDir, args: &[&str], name: &str) -> Proc {
    let mut c = Command::new(bin("rhaproxy"));
    c.arg("-db").arg("-f").arg(dir.path().join("p.cfg")).args(args);
    c.stdout(Stdio::null()).stderr(Stdio::null());
    Proc::spawn(c, name)
}

/// One request on a new connection; true when answered 200.
fn one_request(addr: SocketAddr) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(3)));
    if s.write_all(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out.starts_with(b"HTTP/1.1 200")
}

/// Clients sending requests back to back until stopped: (ok, failed).
struct Load {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Load {
    fn start(addr: SocketAddr, n: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let ok = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let threads = (0..n)
            .map(|_| {
                let (stop, ok, failed) = (stop.clone(), ok.clone(), failed.clone());
                std::thread::spawn(move || {
                    while !stop.load(Relaxed) {
                        if one_request(addr) {
                            ok.fetch_add(1, Relaxed);
                        } else {
                            failed.fetch_add(1, Relaxed);
                        }
                    }
                })
            })
            .collect();
        Load {
            stop,
            ok,
            failed,
            threads,
        }
    }
    fn ok(&self) -> u64 {
        self.ok.load(Relaxed)
    }
    fn finish(self) -> (u64, u64) {
        self.stop.store(true, Relaxed);
        for t in self.threads {
            let _ = t.join();
        }
        (self.ok.load(Relaxed), self.failed.load(Relaxed))
    }
}

fn wait_until(what: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + T;
    while Instant::now() < deadline {
        if what() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

/// A takes traffic, B replaces it with `-sf` (and `-x` when `xfer`), then
/// C replaces B the same way: no request fails, each old process exits 0.
fn takeover(xfer: bool) {
    let dir = TempDir::new(if xfer { "reload-x" } else { "reload-sf" });
    let port = free_port();
    let stats = dir.path().join("stats");
    dir.write("p.cfg", &cfg(port, &stats, ""));
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut old = spawn(&dir, &[], "A");
    assert!(wait_listening(addr, T) && wait_unix(&stats, T), "A listening");
    let load = Load::start(addr, 2);
    for name in ["B", "C"] {
        let before = load.ok();
        assert!(wait_until(|| load.ok() >= before + 20), "traffic flows before {name}");
        let pid = old.pid().to_string();
        let stats_s = stats.to_str().unwrap();
        let mut args = vec!["-sf", &pid];
        if xfer {
            args.extend(["-x", stats_s]);
        }
        let new = spawn(&dir, &args, name);
        let st = old.wait_timeout(T).expect("old process exits after -sf");
        assert!(st.success(), "old process: {st:?}");
        old = new;
    }
    let before = load.ok();
    assert!(wait_until(|| load.ok() >= before + 20), "traffic flows after");
    let (ok, failed) = load.finish();
    assert_eq!(failed, 0, "{failed} failed requests of {}", ok + failed);
    old.signal(libc::SIGTERM);
    assert!(old.wait_timeout(T).is_some());
}

#[test]
fn sf_hands_over_without_failed_requests() {
    takeover(false);
}

#[test]
fn x_takes_the_sockets_over_without_failed_requests() {
    takeover(true);
}

/// An origin answering each request after `delay`.
fn slow_origin(delay: Duration) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for c in l.incoming().flatten() {
            std::thread::spawn(move || {
                let mut c = c;
                let _ = c.set_read_timeout(Some(Duration::from_secs(10)));
                let mut buf = [0u8; 4096];
                let mut got = Vec::new();
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match c.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                std::thread::sleep(delay);
                let _ = c.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\nconnection: close\r\n\r\nslow");
            });
        }
    });
    addr
}

/// `-sf` lets a request in flight finish on the old process, which exits
/// right after; `-st` ends the old process at once.
#[test]
fn sf_finishes_in_flight_requests_st_does_not() {
    let dir = TempDir::new("reload-inflight");
    let port = free_port();
    let stats = dir.path().join("stats");
    let origin = slow_origin(Duration::from_millis(800));
    let text = format!(
        "global\n    stats socket {} level admin expose-fd listeners\n\
         defaults\n    mode http\n    timeout client 5s\n    timeout server 5s\n    timeout connect 1s\n\
         frontend fe\n    bind 127.0.0.1:{port}\n    use_backend be if {{ path /slow }}\n\
         \x20   http-request return status 200 content-type text/plain string ok unless {{ path /slow }}\n\
         backend be\n    server s1 {origin}\n",
        stats.display()
    );
    dir.write("p.cfg", &text);
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut a = spawn(&dir, &[], "A");
    assert!(wait_listening(addr, T), "A listening");
    let slow = std::thread::spawn(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(T)).unwrap();
        s.write_all(b"GET /slow HTTP/1.1\r\nhost: x\r\n\r\n").unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        out
    });
    std::thread::sleep(Duration::from_millis(200));
    let t0 = Instant::now();
    let apid = a.pid().to_string();
    let mut b = spawn(&dir, &["-sf", &apid], "B");
    let st = a.wait_timeout(T).expect("A exits");
    assert!(st.success(), "{st:?}");
    let resp = slow.join().unwrap();
    assert!(resp.starts_with(b"HTTP/1.1 200") && resp.ends_with(b"slow"), "{resp:?}");
    assert!(
        t0.elapsed() >= Duration::from_millis(400),
        "A left before its request ended"
    );
    assert!(one_request(addr), "B answers");

    // B has a slow request in flight when C replaces it with -st.
    let slow = std::thread::spawn(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(T)).unwrap();
        s.write_all(b"GET /slow HTTP/1.1\r\nhost: x\r\n\r\n").unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        out
    });
    std::thread::sleep(Duration::from_millis(200));
    let bpid = b.pid().to_string();
    let mut c = spawn(&dir, &["-st", &bpid], "C");
    let t0 = Instant::now();
    b.wait_timeout(T).expect("B exits");
    assert!(t0.elapsed() < Duration::from_millis(600), "-st waited for the request");
    let resp = slow.join().unwrap();
    assert!(!resp.ends_with(b"slow"), "-st let the request finish: {resp:?}");
    assert!(one_request(addr), "C answers");
    c.signal(libc::SIGTERM);
    assert!(c.wait_timeout(T).is_some());
}

/// `-D -p`: the parent writes the daemon's pid to the pid file and exits
/// 0; the daemon serves, and a reload with `-sf $(cat pidfile)` replaces
/// it and rewrites the pid file.
#[test]
fn daemon_writes_pidfile_and_reloads_from_it() {
    let dir = TempDir::new("reload-daemon");
    let port = free_port();
    let stats = dir.path().join("stats");
    let cfgp = dir.write("p.cfg", &cfg(port, &stats, ""));
    let pidf = dir.path().join("pid");
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let launch = |extra: &[&str]| {
        let mut c = Command::new(bin("rhaproxy"));
        c.arg("-D").arg("-f").arg(&cfgp).arg("-p").arg(&pidf).args(extra);
        c.stdout(Stdio::null()).stderr(Stdio::null());
        let st = Proc::spawn(c, "launcher").wait_timeout(T).expect("parent exits");
        assert!(st.success(), "{st:?}");
        let txt = std::fs::read_to_string(&pidf).expect("pid file");
        assert!(txt.ends_with('\n') && txt.lines().count() == 1, "{txt:?}");
        txt.trim().parse::<i32>().expect("a pid")
    };
    let alive = |pid: i32| {
        // SAFETY: signal 0 only checks that the pid exists.
        unsafe { libc::kill(pid, 0) == 0 }
    };
    let first = launch(&[]);
    // Whatever happens next, the daemons go away with the test.
    struct Reap(Vec<i32>);
    impl Drop for Reap {
        fn drop(&mut self) {
            for &p in &self.0 {
                // SAFETY: pids read from the pid files of daemons this test
                // started; they are not our children, so init reaps them.
                unsafe {
                    libc::kill(p, libc::SIGKILL);
                }
            }
        }
    }
    let mut reap = Reap(vec![first]);
    assert!(wait_listening(addr, T) && one_request(addr), "daemon serves");
    let pid_s = first.to_string();
    let second = launch(&["-sf", &pid_s]);
    reap.0.push(second);
    assert_ne!(first, second);
    assert!(wait_until(|| !alive(first)), "old daemon left");
    assert!(one_request(addr), "new daemon serves");
    // SAFETY: the daemon this test started (its pid file's pid).
    unsafe {
        libc::kill(second, libc::SIGTERM);
    }
    assert!(wait_until(|| !alive(second)), "daemon stops on SIGTERM");
    reap.0.clear();
}

/// A master (`-W`) in its own process group, stderr to a file; the group
/// is killed and the master reaped on drop (workers leave with it: their
/// socketpair to the master closes).
struct Master {
    proc: Proc,
    log: std::path::PathBuf,
}

impl Master {
    fn spawn(dir: &TempDir, args: &[&str], env: &[(&str, &str)]) -> Master {
        use std::os::unix::process::CommandExt;
        let log = dir.path().join("master.log");
        let mut c = Command::new(bin("rhaproxy"));
        c.args(args).arg("-f").arg(dir.path().join("p.cfg"));
        c.envs(env.iter().copied());
        c.stdout(Stdio::null()).stderr(std::fs::File::create(&log).unwrap());
        c.process_group(0);
        Master {
            proc: Proc::spawn(c, "master"),
            log,
        }
    }
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Master {
    fn drop(&mut self) {
        if let Some(c) = &self.proc.child {
            // SAFETY: the process group this test created for the master.
            unsafe {
                libc::kill(-(c.id() as i32), libc::SIGKILL);
            }
        }
    }
}

/// `show proc` on the master CLI: (current worker pids, old worker pids,
/// master line).
fn show_proc(mcli: &std::path::Path) -> (Vec<i32>, Vec<i32>, String) {
    let out = rhaproxy_tests::cli(mcli, "show proc", T);
    let mut cur = Vec::new();
    let mut old = Vec::new();
    let mut master = String::new();
    let mut section = 0;
    for l in out.lines() {
        if l.starts_with("# workers") {
            section = 1;
        } else if l.starts_with("# old workers") {
            section = 2;
        } else if l.starts_with('#') {
            section = 3;
        } else if l.contains(" master ") {
            master = l.to_string();
        } else if let Some(pid) = l.split_whitespace().next().and_then(|p| p.parse().ok()) {
            match section {
                1 => cur.push(pid),
                2 => old.push(pid),
                _ => {}
            }
        }
    }
    (cur, old, master)
}

/// `-W -S`: the master writes its pid, forks a worker; SIGUSR2 and the
/// master CLI's `reload` replace the worker with no failed request; a
/// configuration error keeps the running worker ("Loading failure!");
/// `@1` reaches the worker's CLI; SIGTERM stops everything, status 0.
#[test]
fn master_worker_reloads_without_failed_requests() {
    let dir = TempDir::new("mworker");
    let port = free_port();
    let stats = dir.path().join("stats");
    let good = cfg(port, &stats, "");
    dir.write("p.cfg", &good);
    let mcli = dir.path().join("mcli");
    let pidf = dir.path().join("pid");
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut m = Master::spawn(
        &dir,
        &["-W", "-S", mcli.to_str().unwrap(), "-p", pidf.to_str().unwrap()],
        &[],
    );
    assert!(
        wait_listening(addr, T) && wait_unix(&mcli, T),
        "master and worker up: {}",
        m.log()
    );
    let mpid = m.proc.pid() as i32;
    let txt = std::fs::read_to_string(&pidf).unwrap();
    assert_eq!(txt, format!("{mpid}\n"), "pid file names the master");
    let (cur, _, master) = show_proc(&mcli);
    assert_eq!(cur.len(), 1, "one worker");
    assert!(
        master.starts_with(&format!("{mpid} ")) && master.contains("0 [failed: 0]"),
        "{master}"
    );
    let info = rhaproxy_tests::cli(&mcli, "@1 show info", T);
    assert!(info.contains(&format!("\nPid: {}\n", cur[0])), "{info}");

    let load = Load::start(addr, 2);
    let mut worker = cur[0];
    for (n, how) in ["SIGUSR2", "reload"].iter().enumerate() {
        let before = load.ok();
        assert!(wait_until(|| load.ok() >= before + 20), "traffic flows before {how}");
        if *how == "SIGUSR2" {
            m.proc.signal(libc::SIGUSR2);
        } else {
            let _ = rhaproxy_tests::cli(&mcli, "reload", T);
        }
        let reloads = format!("{} [failed: 0]", n + 1);
        assert!(
            wait_until(|| {
                let (cur, old, master) = show_proc(&mcli);
                cur.len() == 1 && cur[0] != worker && old.is_empty() && master.contains(&reloads)
            }),
            "{how}: new worker, old one gone: {}",
            m.log()
        );
        worker = show_proc(&mcli).0[0];
    }
    let before = load.ok();
    assert!(wait_until(|| load.ok() >= before + 20), "traffic flows after");
    let (ok, failed) = load.finish();
    assert_eq!(failed, 0, "{failed} failed requests of {}", ok + failed);

    // A broken configuration: the worker stays, the master says so.
    dir.write("p.cfg", &format!("{good}    bogus_keyword\n"));
    m.proc.signal(libc::SIGUSR2);
    assert!(
        wait_until(|| show_proc(&mcli).2.contains("3 [failed: 1]")),
        "failed reload counted: {}",
        m.log()
    );
    assert_eq!(show_proc(&mcli).0, vec![worker], "the worker is kept");
    assert!(one_request(addr), "still serving");
    let log = m.log();
    assert!(
        log.contains("unknown keyword 'bogus_keyword'") && log.contains(") : Loading failure!"),
        "{log}"
    );
    assert!(
        log.contains(&format!("[NOTICE]   ({mpid}) : Reloading HAProxy")),
        "{log}"
    );
    assert!(
        log.contains(&format!("Former worker ({}) exited with code 0 (Exit)", cur[0])),
        "{log}"
    );

    m.proc.signal(libc::SIGTERM);
    let st = m.proc.wait_timeout(T).expect("master exits on SIGTERM");
    assert_eq!(st.code(), Some(0), "{st:?}");
    let log = m.log();
    assert!(
        log.contains("Exiting Master process...") && log.contains("All workers exited. Exiting... (0)"),
        "{log}"
    );
    // SAFETY: signal 0 only checks whether the pid still exists.
    assert!(wait_until(|| unsafe { libc::kill(worker, 0) } != 0), "worker gone");
}

/// A worker that dies takes the master down (exit-on-failure) with
/// HAProxy's messages and the worker's status.
#[test]
fn master_leaves_when_its_worker_dies() {
    let dir = TempDir::new("mworker-death");
    let port = free_port();
    let stats = dir.path().join("stats");
    dir.write("p.cfg", &cfg(port, &stats, ""));
    let mcli = dir.path().join("mcli");
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut m = Master::spawn(&dir, &["-W", "-S", mcli.to_str().unwrap()], &[]);
    assert!(wait_listening(addr, T) && wait_unix(&mcli, T), "up: {}", m.log());
    let worker = show_proc(&mcli).0[0];
    // SAFETY: the worker our master forked (listed by its CLI).
    unsafe {
        libc::kill(worker, libc::SIGKILL);
    }
    let st = m.proc.wait_timeout(T).expect("master exits");
    assert_eq!(st.code(), Some(137), "{st:?}");
    let log = m.log();
    assert!(
        log.contains(&format!(
            "[ALERT]    ({}) : Current worker ({worker}) exited with code 137 (Killed)",
            m.proc.pid()
        )) && log.contains("exit-on-failure: killing every processes with SIGTERM")
            && log.contains("All workers exited. Exiting... (137)"),
        "{log}"
    );
}

/// `-Ws`: READY=1 with the master's pid on $NOTIFY_SOCKET, RELOADING=1
/// then READY=1 again around a reload.
#[test]
fn ws_notifies_systemd() {
    let dir = TempDir::new("mworker-sd");
    let port = free_port();
    let stats = dir.path().join("stats");
    dir.write("p.cfg", &cfg(port, &stats, ""));
    let sock = dir.path().join("notify");
    let rx = std::os::unix::net::UnixDatagram::bind(&sock).unwrap();
    rx.set_read_timeout(Some(T)).unwrap();
    let m = Master::spawn(&dir, &["-Ws"], &[("NOTIFY_SOCKET", sock.to_str().unwrap())]);
    let mut buf = [0u8; 256];
    let mut next = || {
        let n = rx.recv(&mut buf).expect("a notification");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    let mpid = m.proc.pid();
    assert_eq!(next(), format!("READY=1\nMAINPID={mpid}"));
    m.proc.signal(libc::SIGUSR2);
    assert_eq!(next(), "RELOADING=1");
    assert_eq!(next(), format!("READY=1\nMAINPID={mpid}"));
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    assert!(one_request(addr), "serving after the reload");
}
