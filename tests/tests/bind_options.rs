//! `bind` options and connection limits end to end: each check runs on
//! rhaproxy and, when it is installed, on HAProxy 2.6 with the same
//! configuration, so the test states HAProxy's behaviour as well as ours.
//!
//! Socket options are read from the proxy's own listening sockets: the test
//! (the proxy's parent) copies them with pidfd_getfd(2) and asks the kernel
//! (getsockopt), so nothing is inferred from the proxy's own reports.

use rhaproxy_tests::{cli, free_port, real_haproxy, wait_listening, wait_unix, Proc, TempDir};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// The proxies to check: rhaproxy, then HAProxy when installed.
fn proxies() -> Vec<PathBuf> {
    let mut v = vec![rhaproxy_tests::bin("rhaproxy")];
    v.extend(real_haproxy());
    v
}

fn spawn(bin: &Path, dir: &TempDir, cfg: &str, wrap: Option<&[&str]>) -> Proc {
    let path = dir.write("b.cfg", cfg);
    let mut c = match wrap {
        Some(w) => {
            let mut c = Command::new(w[0]);
            c.args(&w[1..])
                .arg(format!("exec {} -db -f {}", bin.display(), path.display()));
            c
        }
        None => {
            let mut c = Command::new(bin);
            c.arg("-db").arg("-f").arg(&path);
            c
        }
    };
    c.stdout(Stdio::null()).stderr(Stdio::null());
    Proc::spawn(c, "proxy")
}

/// An origin echoing every byte back, each connection in its own thread.
fn echo_origin() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut c in l.incoming().flatten() {
            std::thread::spawn(move || {
                let mut b = [0u8; 1024];
                while let Ok(n) = c.read(&mut b) {
                    if n == 0 || c.write_all(&b[..n]).is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

/// Sends one byte and says whether it came back within `wait`.
fn echoes(c: &mut TcpStream, byte: u8, wait: Duration) -> bool {
    c.set_read_timeout(Some(wait)).unwrap();
    if c.write_all(&[byte]).is_err() {
        return false;
    }
    let mut b = [0u8; 1];
    matches!(c.read(&mut b), Ok(1) if b[0] == byte)
}

/// Reads one more echo of what was sent earlier.
fn late_echo(c: &mut TcpStream, byte: u8, wait: Duration) -> bool {
    c.set_read_timeout(Some(wait)).unwrap();
    let mut b = [0u8; 1];
    matches!(c.read(&mut b), Ok(1) if b[0] == byte)
}

/// Inode of the socket listening on `port` (IPv4 or IPv6 table).
fn listen_inode(port: u16) -> Option<String> {
    for t in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let s = std::fs::read_to_string(t).unwrap_or_default();
        for l in s.lines().skip(1) {
            let f: Vec<&str> = l.split_whitespace().collect();
            let lport = f[1].rsplit(':').next().and_then(|p| u16::from_str_radix(p, 16).ok());
            if lport == Some(port) && f[3] == "0A" {
                return Some(f[9].to_string());
            }
        }
    }
    None
}

/// A copy of the proxy's listening socket on `port`, in this process.
fn grab_listener(pid: u32, port: u16) -> OwnedFd {
    let ino = listen_inode(port).unwrap_or_else(|| panic!("nothing listens on {port}"));
    let want = format!("socket:[{ino}]");
    let target = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
        .find(|e| std::fs::read_link(e.path()).is_ok_and(|l| l.to_string_lossy() == want))
        .and_then(|e| e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()))
        .unwrap_or_else(|| panic!("pid {pid} holds no {want}"));
    // SAFETY: plain system calls on a pid we spawned (still running, not
    // reaped); each returned descriptor is new and owned by us.
    unsafe {
        let pidfd = libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) as RawFd;
        assert!(pidfd >= 0, "pidfd_open: {}", std::io::Error::last_os_error());
        let pidfd = OwnedFd::from_raw_fd(pidfd);
        let fd = libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), target, 0) as RawFd;
        assert!(fd >= 0, "pidfd_getfd: {}", std::io::Error::last_os_error());
        OwnedFd::from_raw_fd(fd)
    }
}

fn getsockopt_bytes(fd: &OwnedFd, level: i32, name: i32, len: usize) -> Vec<u8> {
    let mut buf = vec![0u8; len];
    let mut l = len as libc::socklen_t;
    // SAFETY: buf is valid for writing `len` bytes and `l` says so.
    let r = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            level,
            name,
            buf.as_mut_ptr() as *mut libc::c_void,
            &mut l,
        )
    };
    assert_eq!(r, 0, "getsockopt({level},{name}): {}", std::io::Error::last_os_error());
    buf.truncate(l as usize);
    buf
}

fn getsockopt_int(fd: &OwnedFd, level: i32, name: i32) -> i32 {
    let b = getsockopt_bytes(fd, level, name, 4);
    i32::from_ne_bytes(b[..4].try_into().unwrap())
}

/// The accept queue length a listening socket was given (listen(2)'s
/// backlog, capped by net.core.somaxconn): TCP_INFO reports it in
/// `tcpi_sacked` for listeners.
fn backlog(fd: &OwnedFd) -> u32 {
    let b = getsockopt_bytes(fd, libc::IPPROTO_TCP, libc::TCP_INFO, 104);
    u32::from_ne_bytes(b[28..32].try_into().unwrap())
}

fn stat_row(sock: &Path, px: &str, sv: &str) -> std::collections::HashMap<String, String> {
    let out = cli(sock, "show stat", Duration::from_secs(3));
    let mut lines = out.lines();
    let head: Vec<String> = lines
        .next()
        .unwrap_or("")
        .trim_start_matches("# ")
        .split(',')
        .map(String::from)
        .collect();
    for l in lines {
        let f: Vec<&str> = l.split(',').collect();
        if f.len() > 1 && f[0] == px && f[1] == sv {
            return head.iter().cloned().zip(f.iter().map(|s| s.to_string())).collect();
        }
    }
    panic!("no stat row {px}/{sv} in:\n{out}");
}

fn addr(p: u16) -> SocketAddr {
    format!("127.0.0.1:{p}").parse().unwrap()
}

const DEFAULTS: &str = "defaults\n    mode tcp\n    timeout client 5s\n    timeout server 5s\n    timeout connect 1s\n";

/// name, backlog, per-bind maxconn, thread, interface, defer-accept, tfo,
/// v6only/v4v6, and the frontend maxconn as the default backlog.
#[test]
fn bind_options_reach_the_socket() {
    let origin = echo_origin();
    for bin in proxies() {
        let who = bin.display().to_string();
        let dir = TempDir::new("bind-opts");
        let sock = dir.path().join("s.sock");
        let p: Vec<u16> = (0..8).map(|_| free_port()).collect();
        let cfg = format!(
            "global\n    nbthread 2\n    stats socket {} level admin\n{DEFAULTS}\
             frontend f\n    option socket-stats\n    maxconn 100\n\
             \x20   bind 127.0.0.1:{} name alpha backlog 7\n\
             \x20   bind 127.0.0.1:{} maxconn 1\n\
             \x20   bind 127.0.0.1:{} thread 2\n\
             \x20   bind 127.0.0.1:{} interface lo\n\
             \x20   bind 127.0.0.1:{} defer-accept\n\
             \x20   bind 127.0.0.1:{} tfo\n\
             \x20   bind :::{} v6only\n\
             \x20   bind :::{} v4v6\n\
             \x20   default_backend b\nbackend b\n    server s1 {origin}\n",
            sock.display(),
            p[0],
            p[1],
            p[2],
            p[3],
            p[4],
            p[5],
            p[6],
            p[7]
        );
        let proxy = spawn(&bin, &dir, &cfg, None);
        assert!(wait_unix(&sock, Duration::from_secs(5)), "{who}: no stats socket");
        let pid = proxy.pid();

        // name: the listener's row in `show stat`; maxconn: its slim.
        assert_eq!(stat_row(&sock, "f", "alpha")["svname"], "alpha", "{who}");
        assert_eq!(stat_row(&sock, "f", "sock-2")["slim"], "1", "{who}");
        // backlog: the bind's, else the bind's maxconn, else the frontend's.
        assert_eq!(backlog(&grab_listener(pid, p[0])), 7, "{who}: backlog 7");
        assert_eq!(backlog(&grab_listener(pid, p[1])), 1, "{who}: bind maxconn as backlog");
        assert_eq!(
            backlog(&grab_listener(pid, p[3])),
            100,
            "{who}: frontend maxconn as backlog"
        );
        // thread 2: only the second thread polls it.
        let fds = cli(&sock, "show fd", Duration::from_secs(3));
        let line = fds
            .lines()
            .find(|l| l.contains(&format!("lport={}", p[2])))
            .unwrap_or_else(|| panic!("{who}: no fd line for {}:\n{fds}", p[2]));
        assert!(line.contains(" tmask=0x2 "), "{who}: {line}");
        // interface lo: SO_BINDTODEVICE.
        let dev = getsockopt_bytes(&grab_listener(pid, p[3]), libc::SOL_SOCKET, libc::SO_BINDTODEVICE, 16);
        assert_eq!(String::from_utf8_lossy(&dev).trim_end_matches('\0'), "lo", "{who}");
        // tfo: a Fast Open queue as long as the backlog.
        let fo = grab_listener(pid, p[5]);
        assert_eq!(getsockopt_int(&fo, libc::IPPROTO_TCP, libc::TCP_FASTOPEN), 100, "{who}");
        assert_eq!(
            getsockopt_int(&grab_listener(pid, p[0]), libc::IPPROTO_TCP, libc::TCP_FASTOPEN),
            0
        );
        // v6only refuses IPv4 clients; v4v6 takes them.
        let v6 = grab_listener(pid, p[6]);
        assert_eq!(getsockopt_int(&v6, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY), 1, "{who}");
        assert!(TcpStream::connect(addr(p[6])).is_err(), "{who}: v6only took IPv4");
        let mut c6: TcpStream = TcpStream::connect(format!("[::1]:{}", p[6])).unwrap();
        assert!(echoes(&mut c6, b'6', Duration::from_secs(3)), "{who}: v6only over ::1");
        let mut c4 = TcpStream::connect(addr(p[7])).unwrap();
        assert!(echoes(&mut c4, b'4', Duration::from_secs(3)), "{who}: v4v6 over IPv4");

        // defer-accept: a client that says nothing is not accepted (no
        // session counted), one that speaks is.
        let fd = grab_listener(pid, p[4]);
        assert!(
            getsockopt_int(&fd, libc::IPPROTO_TCP, libc::TCP_DEFER_ACCEPT) > 0,
            "{who}"
        );
        let mut quiet = TcpStream::connect(addr(p[4])).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(
            stat_row(&sock, "f", "sock-5")["stot"],
            "0",
            "{who}: silent client accepted"
        );
        assert!(
            echoes(&mut quiet, b'd', Duration::from_secs(3)),
            "{who}: deferred client not served"
        );
        assert_eq!(stat_row(&sock, "f", "sock-5")["stot"], "1", "{who}");

        // maxconn 1 on a bind: a second client waits in the backlog while
        // other binds still serve; it is served once the first leaves.
        let mut a = TcpStream::connect(addr(p[1])).unwrap();
        assert!(echoes(&mut a, b'a', Duration::from_secs(3)), "{who}");
        let mut b = TcpStream::connect(addr(p[1])).unwrap();
        assert!(
            !echoes(&mut b, b'b', Duration::from_millis(300)),
            "{who}: over bind maxconn"
        );
        let mut other = TcpStream::connect(addr(p[0])).unwrap();
        assert!(
            echoes(&mut other, b'o', Duration::from_secs(3)),
            "{who}: other bind blocked"
        );
        drop(a);
        assert!(
            late_echo(&mut b, b'b', Duration::from_secs(3)),
            "{who}: waiter not served"
        );
    }
}

/// `transparent`: IP_TRANSPARENT when the process may (CAP_NET_ADMIN),
/// else HAProxy's fallback IP_FREEBIND, and the bind succeeds either way.
#[test]
fn transparent_bind_with_and_without_privilege() {
    let origin = echo_origin();
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let capsh = Path::new("/usr/sbin/capsh").exists().then_some("/usr/sbin/capsh");
    for bin in proxies() {
        let mut runs: Vec<Option<Vec<&str>>> = vec![None];
        if let (true, Some(c)) = (root, capsh) {
            runs.push(Some(vec![c, "--drop=cap_net_admin,cap_net_raw", "--", "-c"]));
        }
        for wrap in runs {
            let who = format!("{} (caps dropped: {})", bin.display(), wrap.is_some());
            let dir = TempDir::new("bind-transp");
            let port = free_port();
            let cfg = format!("{DEFAULTS}listen l\n    bind 127.0.0.1:{port} transparent\n    server s1 {origin}\n");
            let proxy = spawn(&bin, &dir, &cfg, wrap.as_deref());
            assert!(
                wait_listening(addr(port), Duration::from_secs(5)),
                "{who}: not listening"
            );
            let fd = grab_listener(proxy.pid(), port);
            let transparent = getsockopt_int(&fd, libc::IPPROTO_IP, libc::IP_TRANSPARENT);
            let freebind = getsockopt_int(&fd, libc::IPPROTO_IP, libc::IP_FREEBIND);
            let privileged = wrap.is_none() && root;
            if privileged {
                assert_eq!(transparent, 1, "{who}");
            } else {
                assert_eq!((transparent, freebind), (0, 1), "{who}");
            }
            let mut c = TcpStream::connect(addr(port)).unwrap();
            assert!(echoes(&mut c, b't', Duration::from_secs(3)), "{who}");
        }
    }
}

/// Start-up failures of binds print HAProxy's lines: an address in use is
/// an alert, a missing interface a warning, then the final alert.
#[test]
fn bind_failures_report_like_haproxy() {
    let busy = TcpListener::bind("127.0.0.1:0").unwrap();
    let busy_port = busy.local_addr().unwrap().port();
    // A port another socket holds without SO_REUSEPORT.
    let mut outs = Vec::new();
    for bin in proxies() {
        let dir = TempDir::new("bind-fail");
        let free = free_port();
        let cfg = format!(
            "{DEFAULTS}listen l\n    bind 127.0.0.1:{busy_port}\n    bind 127.0.0.1:{free} interface nosuchif0\n    server s1 127.0.0.1:9\n"
        );
        let path = dir.write("b.cfg", &cfg);
        let mut c = Command::new(&bin);
        c.arg("-db").arg("-f").arg(&path).current_dir(dir.path());
        let out = rhaproxy_tests::run(c, Duration::from_secs(10));
        assert_eq!(out.status.code(), Some(1), "{}", bin.display());
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        // Drop what differs by nature: pids, paths, version strings, ports.
        let norm: Vec<String> = err
            .lines()
            .filter(|l| !l.starts_with("[NOTICE]"))
            .map(|l| {
                let l = l.split_once(") : ").map_or(l.to_string(), |(lvl, rest)| {
                    format!("{} : {rest}", lvl.split('(').next().unwrap().trim())
                });
                let l = l
                    .replace(&path.display().to_string(), "CFG")
                    .replace(&free.to_string(), "FREE");
                match (l.find(" : ["), l.find(".main()]")) {
                    (Some(a), Some(b)) if a < b => format!("{} : [PROG{}", &l[..a], &l[b..]),
                    _ => l,
                }
            })
            .collect();
        outs.push(norm);
    }
    let want = vec![
        format!("[ALERT] : Binding [CFG:7] for proxy l: cannot bind socket (Address already in use) for [127.0.0.1:{busy_port}]"),
        "[WARNING] : Binding [CFG:8] for proxy l: cannot bind receiver to device 'nosuchif0' (No such device) for [127.0.0.1:FREE]".to_string(),
        "[ALERT] : [PROG.main()] Some protocols failed to start their listeners! Exiting.".to_string(),
    ];
    for o in &outs {
        assert_eq!(o, &want);
    }
    drop(busy);
}

/// Connection limits: the global `maxconn` over all frontends, and a
/// frontend's `maxconn` over all its binds. Connection N+1 waits in the
/// backlog and is served when one closes.
#[test]
fn global_and_frontend_maxconn_hold_extra_connections() {
    let origin = echo_origin();
    for bin in proxies() {
        let who = bin.display().to_string();
        for (global, fe) in [("    maxconn 2\n", ""), ("", "    maxconn 2\n")] {
            let dir = TempDir::new("maxconn");
            let (p1, p2, p3) = (free_port(), free_port(), free_port());
            let cfg = format!(
                "global\n{global}{DEFAULTS}frontend f1\n{fe}    bind 127.0.0.1:{p1}\n    bind 127.0.0.1:{p2}\n    default_backend b\n\
                 frontend f2\n    bind 127.0.0.1:{p3}\n    default_backend b\nbackend b\n    server s1 {origin}\n"
            );
            let _proxy = spawn(&bin, &dir, &cfg, None);
            // Readiness through f2's port: it leaves no connection behind.
            assert!(wait_listening(addr(p3), Duration::from_secs(5)), "{who}");
            std::thread::sleep(Duration::from_millis(100));
            let what = if global.is_empty() { "frontend" } else { "global" };
            let mut a = TcpStream::connect(addr(p1)).unwrap();
            assert!(echoes(&mut a, b'a', Duration::from_secs(3)), "{who} {what}");
            let mut b = TcpStream::connect(addr(p2)).unwrap();
            assert!(echoes(&mut b, b'b', Duration::from_secs(3)), "{who} {what}");
            // The third: on f1's first bind, and for the global limit also
            // on the other frontend.
            let mut c = TcpStream::connect(addr(p1)).unwrap();
            assert!(
                !echoes(&mut c, b'c', Duration::from_millis(300)),
                "{who} {what}: over maxconn"
            );
            let mut d = TcpStream::connect(addr(p3)).unwrap();
            let d_now = echoes(&mut d, b'd', Duration::from_millis(300));
            assert_eq!(d_now, global.is_empty(), "{who} {what}: other frontend");
            // Under the global limit both waiters compete for the slots.
            drop(a);
            if !d_now {
                drop(b);
                assert!(late_echo(&mut d, b'd', Duration::from_secs(3)), "{who} {what}");
            }
            assert!(
                late_echo(&mut c, b'c', Duration::from_secs(3)),
                "{who} {what}: waiter not served"
            );
        }
    }
}

/// stderr of `-c` without the NOTICE lines and pids, the path as CFG.
fn check_output(bin: &Path, dir: &TempDir, cfg: &str) -> (Option<i32>, Vec<String>) {
    let path = dir.write("c.cfg", cfg);
    let mut c = Command::new(bin);
    c.arg("-c").arg("-f").arg(&path);
    let out = rhaproxy_tests::run(c, Duration::from_secs(10));
    let text = String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    let lines = text
        .lines()
        .filter(|l| !l.starts_with("[NOTICE]") && !l.is_empty())
        .map(|l| {
            l.split_once(") : ")
                .map_or(l.to_string(), |(lvl, rest)| {
                    format!("{} : {rest}", lvl.split('(').next().unwrap().trim())
                })
                .replace(&path.display().to_string(), "CFG")
        })
        .collect();
    (out.status.code(), lines)
}

/// `process`, `proto`, `nice`, `shards` on bind lines: the configuration
/// check answers as HAProxy 2.6 (deprecation warning of `process`, its
/// thread part acting as `thread`; unknown or unusable multiplexers), and
/// what rhaproxy cannot do (task priorities, per-thread shards, HTTP/2) is
/// refused at start-up naming file:line instead of being ignored.
#[test]
fn process_proto_nice_shards() {
    let dir = TempDir::new("bind-kw");
    let cfg = |mode: &str, opts: &str| {
        format!(
            "global\n    nbthread 2\n{DEFAULTS}    mode {mode}\n\nfrontend f\n    bind 127.0.0.1:8 {opts}\n    default_backend b\n\nbackend b\n    server s1 127.0.0.1:9\n"
        )
    };
    let cases = [
        ("http", "process 1/2"),
        ("http", "process all"),
        ("http", "process 2"),
        ("http", "proto foo"),
        ("tcp", "proto h1"),
        ("http", "proto none"),
        ("http", "proto fcgi"),
        ("http", "proto h1"),
        ("tcp", "proto none"),
        ("http", "nice 10"),
        ("http", "shards 2"),
    ];
    let ours: Vec<_> = cases
        .iter()
        .map(|(m, o)| check_output(&rhaproxy_tests::bin("rhaproxy"), &dir, &cfg(m, o)))
        .collect();
    if let Some(h) = real_haproxy() {
        for ((m, o), got) in cases.iter().zip(&ours) {
            let exp = check_output(&h, &dir, &cfg(m, o));
            assert_eq!(got, &exp, "mode {m}, bind ... {o}");
        }
    }
    // What the check says, independently of the reference.
    assert!(ours[0].1[0].ends_with(
        "'process 1/2' on 'bind' lines is deprecated and will be removed in 2.7. Please use 'thread 2' instead."
    ));
    assert_eq!(ours[2].0, Some(1));
    assert!(ours[3].1[0].ends_with("'proto' :  unknown MUX protocol 'foo'"));
    assert!(ours[4].1[0].contains("MUX protocol 'h1' is not usable for 'bind 127.0.0.1:"));
    // Start-up: h1 runs; the rest is refused with file:line.
    for (opts, ok) in [
        ("proto h1 process 1/2", true),
        ("nice 10", false),
        ("shards by-thread", false),
        ("proto h2", false),
    ] {
        let port = free_port();
        let text = format!(
            "global\n    nbthread 2\n{DEFAULTS}    mode http\n\nfrontend f\n    bind 127.0.0.1:{port} {opts}\n    default_backend b\n\nbackend b\n    server s1 127.0.0.1:9\n"
        );
        let path = dir.write("s.cfg", &text);
        let mut c = Command::new(rhaproxy_tests::bin("rhaproxy"));
        c.arg("-db")
            .arg("-f")
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let p = Proc::spawn(c, "rhaproxy");
        if ok {
            assert!(wait_listening(addr(port), Duration::from_secs(5)), "{opts}");
        } else {
            let out = p.finish(Duration::from_secs(10));
            let err = String::from_utf8_lossy(&out.stderr);
            let kw = opts.split(' ').next().unwrap();
            assert_eq!(out.status.code(), Some(1), "{opts}: {err}");
            assert!(
                err.contains(&format!("parsing [{}:11] : 'bind ... {kw} ", path.display())),
                "{opts}: {err}"
            );
        }
    }
}
