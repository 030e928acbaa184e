//! Stats sockets as files and as FD carriers, through the real `rhaproxy`
//! binary: `uid`/`gid`/`user`/`group`/`mode` applied to the socket file
//! (and HAProxy 2.6's start-up alert when the chown is refused), parse-time
//! errors for unknown names, and `expose-fd listeners` + `_getsocks` (the
//! listening sockets handed over with SCM_RIGHTS, checked by inode, and
//! taken by a real `haproxy -x` when installed).

use rhaproxy_tests::{bin, free_port, real_haproxy, spawn_rhaproxy, wait_listening, wait_unix, Proc, TempDir};
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;

const T: Duration = Duration::from_secs(5);

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

const DEFAULTS: &str = "defaults\n    mode tcp\n    timeout client 5s\n    timeout server 5s\n    timeout connect 5s\n";

#[test]
fn owner_and_mode_are_applied_to_the_socket_file() {
    if !is_root() {
        eprintln!("skipped: changing a socket's owner needs root");
        return;
    }
    let dir = TempDir::new("cli-owner");
    let a = dir.path().join("a.sock");
    let b = dir.path().join("b.sock");
    let c = dir.path().join("c.sock");
    let cfg = format!(
        "global\n    stats socket {} uid 65534 gid 65534 mode 640\n    stats socket {} user nobody group nogroup\n    stats socket {} gid 65534 mode 0600\n{DEFAULTS}",
        a.display(),
        b.display(),
        c.display()
    );
    let _p = spawn_rhaproxy(&dir, "h.cfg", &cfg);
    for p in [&a, &b, &c] {
        assert!(wait_unix(p, T), "{} not listening", p.display());
    }
    let m = std::fs::metadata(&a).unwrap();
    assert_eq!(
        (m.uid(), m.gid(), m.permissions().mode() & 0o777),
        (65534, 65534, 0o640)
    );
    // Names are resolved with the system's databases (nobody/nogroup).
    let m = std::fs::metadata(&b).unwrap();
    assert_eq!((m.uid(), m.gid()), (65534, 65534));
    // Only the group given: the owner stays ours.
    let m = std::fs::metadata(&c).unwrap();
    assert_eq!((m.uid(), m.gid(), m.permissions().mode() & 0o777), (0, 65534, 0o600));
}

#[test]
fn refused_chown_stops_start_up_like_haproxy() {
    if !is_root() {
        eprintln!("skipped: needs root to start the proxy as another user");
        return;
    }
    let dir = TempDir::new("cli-chown");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let sock = dir.path().join("s.sock");
    let cfg = dir.write(
        "h.cfg",
        &format!("global\n    stats socket {} uid 0\n{DEFAULTS}", sock.display()),
    );
    std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut cmd = Command::new(bin("rhaproxy"));
    cmd.arg("-db").arg("-f").arg(&cfg).uid(65534).gid(65534);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let out = Proc::spawn(cmd, "rhaproxy").finish(T);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let want = format!(
        "Binding [{}:2] for frontend GLOBAL: cannot change UNIX socket ownership (Operation not permitted) [{}]",
        cfg.display(),
        sock.display()
    );
    assert!(err.contains(&want), "{err}");
    assert!(
        err.contains("Some protocols failed to start their listeners! Exiting."),
        "{err}"
    );
    assert!(!sock.exists(), "no socket file left behind");
}

#[test]
fn unknown_user_or_group_and_bad_mode_are_config_errors() {
    let dir = TempDir::new("cli-names");
    for (opt, msg) in [
        (
            "user no-such-user-xyz",
            "''user' : unknown user name 'no-such-user-xyz''",
        ),
        (
            "group no-such-group-xyz",
            "''group' : unknown group name 'no-such-group-xyz''",
        ),
        (
            "mode 8",
            "''mode' : missing or invalid mode '8' (octal integer expected)'",
        ),
    ] {
        let cfg = dir.write(
            "h.cfg",
            &format!(
                "global\n    stats socket {}/s.sock {opt}\n{DEFAULTS}",
                dir.path().display()
            ),
        );
        let out = rhaproxy_tests::run(
            {
                let mut c = Command::new(bin("rhaproxy"));
                c.arg("-c").arg("-f").arg(&cfg);
                c
            },
            T,
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert_ne!(out.status.code(), Some(0));
        assert!(
            err.contains(&format!("parsing [{}:2] : 'stats socket' : {msg}", cfg.display())),
            "{opt}: {err}"
        );
    }
}

/// The inode behind `socket:[N]` of a process's FD.
fn fd_inode(pid: u32, fd: i32) -> Option<u64> {
    let l = std::fs::read_link(format!("/proc/{pid}/fd/{fd}")).ok()?;
    let s = l.to_string_lossy();
    s.strip_prefix("socket:[")?.strip_suffix(']')?.parse().ok()
}

/// Socket inodes of every FD of `pid`.
fn socket_inodes(pid: u32) -> Vec<u64> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap().flatten() {
        if let Some(fd) = e.file_name().to_str().and_then(|n| n.parse().ok()) {
            v.extend(fd_inode(pid, fd));
        }
    }
    v
}

/// `_getsocks` as HAProxy's `-x` client does it: the count, then batches of
/// FDs with their descriptors (acknowledged). Returns (fds, descriptors).
fn getsocks(path: &std::path::Path) -> (i32, Vec<i32>, Vec<u8>) {
    let mut s = UnixStream::connect(path).unwrap();
    s.set_read_timeout(Some(T)).unwrap();
    s.write_all(b"_getsocks\n").unwrap();
    let mut n = [0u8; 4];
    if s.read_exact(&mut n).is_err() {
        return (0, Vec::new(), Vec::new());
    }
    let count = i32::from_ne_bytes(n);
    let (mut fds, mut data) = (Vec::new(), Vec::new());
    use std::os::fd::AsRawFd;
    while (fds.len() as i32) < count {
        let mut buf = vec![0u8; 4096];
        let mut cbuf = vec![0u64; 512];
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr() as *mut libc::c_void,
            iov_len: buf.len(),
        };
        // SAFETY: msghdr is plain data; zero is an empty header.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf.as_mut_ptr() as *mut libc::c_void;
        msg.msg_controllen = cbuf.len() * 8;
        // SAFETY: the iovec and control buffers outlive the call.
        let r = unsafe { libc::recvmsg(s.as_raw_fd(), &mut msg, 0) };
        assert!(r > 0, "recvmsg: {}", std::io::Error::last_os_error());
        data.extend_from_slice(&buf[..r as usize]);
        // SAFETY: walking the control messages the kernel wrote into cbuf;
        // the FD array is read byte-wise from CMSG_DATA within cmsg_len.
        unsafe {
            let mut c = libc::CMSG_FIRSTHDR(&msg);
            while !c.is_null() {
                if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                    let len = (*c).cmsg_len as usize - libc::CMSG_LEN(0) as usize;
                    let mut raw = vec![0u8; len];
                    std::ptr::copy_nonoverlapping(libc::CMSG_DATA(c), raw.as_mut_ptr(), len);
                    fds.extend(raw.chunks(4).map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]])));
                }
                c = libc::CMSG_NXTHDR(&msg, c);
            }
        }
        // The ack; the sender waits for it only between full batches and
        // may already have closed after the last one (HAProxy's receiver
        // ignores this error too).
        let _ = s.write_all(&(fds.len() as i32).to_ne_bytes());
    }
    // The session ends after the transfer.
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    assert!(rest.is_empty(), "nothing after the sockets: {rest:?}");
    (count, fds, data)
}

#[test]
fn getsocks_hands_over_every_listener() {
    let dir = TempDir::new("cli-getsocks");
    let exp = dir.path().join("x.sock");
    let plain = dir.path().join("p.sock");
    let (p1, p2) = (free_port(), free_port());
    let cfg = format!(
        "global\n    stats socket {} level admin expose-fd listeners\n    stats socket {} level admin\n{DEFAULTS}frontend f\n    bind 127.0.0.1:{p1}\n    bind 127.0.0.1:{p2} interface lo\n    default_backend b\nbackend b\n    server s 127.0.0.1:9\n",
        exp.display(),
        plain.display()
    );
    let p = spawn_rhaproxy(&dir, "h.cfg", &cfg);
    assert!(wait_unix(&exp, T) && wait_unix(&plain, T));
    assert!(wait_listening(format!("127.0.0.1:{p2}").parse().unwrap(), T));

    // Without `expose-fd listeners`: nothing is sent, the session closes.
    let (count, fds, _) = getsocks(&plain);
    assert_eq!((count, fds.len()), (0, 0));

    let (count, fds, data) = getsocks(&exp);
    // Two stats sockets and two binds.
    assert_eq!(count, 4);
    assert_eq!(fds.len(), 4);
    let theirs = socket_inodes(p.pid());
    let mut names = Vec::new();
    for &fd in &fds {
        let mine = fd_inode(std::process::id(), fd).expect("a socket");
        assert!(theirs.contains(&mine), "fd {fd} is one of the proxy's sockets");
        // SAFETY: fd was received above and is owned by this test.
        let mut sa: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of_val(&sa) as libc::socklen_t;
        // SAFETY: sa and len are valid for getsockname to fill.
        unsafe { libc::getsockname(fd, &mut sa as *mut _ as *mut libc::sockaddr, &mut len) };
        names.push(sa.ss_family as i32);
        // SAFETY: closing our own copy.
        unsafe { libc::close(fd) };
    }
    assert_eq!(names.iter().filter(|&&f| f == libc::AF_UNIX).count(), 2);
    assert_eq!(names.iter().filter(|&&f| f == libc::AF_INET).count(), 2);
    // Per socket: namespace length 0, interface, 4 zero bytes; only the
    // second bind has an interface.
    let mut want = Vec::new();
    for _ in 0..3 {
        want.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    }
    want.extend_from_slice(&[0, 2, b'l', b'o', 0, 0, 0, 0]);
    let mut got = data.clone();
    got.sort_unstable();
    want.sort_unstable();
    assert_eq!(got, want, "descriptors {data:?}");

    // The proxy keeps serving its CLI and its listeners.
    assert!(rhaproxy_tests::cli(&exp, "show cli level", T).starts_with("admin"));
}

#[test]
fn real_haproxy_takes_our_listeners_with_x() {
    let Some(hap) = real_haproxy() else {
        eprintln!("skipped: /usr/sbin/haproxy not installed");
        return;
    };
    let dir = TempDir::new("cli-x");
    let exp = dir.path().join("x.sock");
    let port = free_port();
    let cfg = format!(
        "global\n    stats socket {} level admin expose-fd listeners\n{DEFAULTS}frontend f\n    bind 127.0.0.1:{port}\n    default_backend b\nbackend b\n    server s 127.0.0.1:9\n",
        exp.display()
    );
    let ours = spawn_rhaproxy(&dir, "h.cfg", &cfg);
    assert!(wait_unix(&exp, T));
    assert!(wait_listening(format!("127.0.0.1:{port}").parse().unwrap(), T));
    let before = socket_inodes(ours.pid());
    let hcfg = dir.write(
        "new.cfg",
        &format!(
            "global\n    stats socket {}/new.sock level admin\n{DEFAULTS}frontend f\n    bind 127.0.0.1:{port}\n    default_backend b\nbackend b\n    server s 127.0.0.1:9\n",
            dir.path().display()
        ),
    );
    let mut c = Command::new(hap);
    c.arg("-db").arg("-x").arg(&exp).arg("-f").arg(&hcfg);
    c.stdout(Stdio::null()).stderr(Stdio::piped());
    let theirs = Proc::spawn(c, "haproxy");
    assert!(wait_unix(&dir.path().join("new.sock"), T), "haproxy started");
    // HAProxy reuses a transferred socket for the same address instead of
    // binding a new one: one of its FDs is our listening socket.
    let shared = socket_inodes(theirs.pid())
        .into_iter()
        .filter(|i| before.contains(i))
        .count();
    let out = theirs.finish(Duration::from_millis(200));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("Failed to get the sockets"), "{err}");
    assert_eq!(shared, 1, "haproxy took the listener: {err}");
}
