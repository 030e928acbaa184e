//! External health checks end to end (`global external-check`, `option
//! external-check`, `external-check command|path`): the program gets
//! HAProxy 2.6's arguments and only its environment, its exit status moves
//! the server UP/DOWN with HAProxy's PROCOK/PROCERR texts and codes, a
//! program outliving `inter` is killed (PROCTOUT, "kill <pid>" on stderr)
//! and reaped, and `-c` reports HAProxy's alerts and warnings. Texts were
//! compared with /usr/sbin/haproxy on the same configurations.

use rhaproxy_tests::{bin, cli, free_port, real_haproxy, spawn_logged, wait_line, wait_unix, Proc, TempDir};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(5);

fn script(dir: &TempDir, name: &str, body: &str) -> PathBuf {
    let p = dir.write(name, &format!("#!/bin/sh\n{body}"));
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

struct Run {
    _p: Proc,
    sock: PathBuf,
    err: PathBuf,
}

impl Run {
    fn start(prog: &Path, dir: &TempDir, body: &str) -> Run {
        let sock = dir.path().join("s.sock");
        let cfg = format!(
            "global\n    external-check\n    insecure-fork-wanted\n    stats socket {} level admin\ndefaults\n    mode http\n    timeout client 5s\n    timeout server 5s\n    timeout connect 5s\n{body}",
            sock.display()
        );
        let path = dir.write("c.cfg", &cfg);
        let err = dir.path().join("stderr");
        let p = spawn_logged(prog, &path, &err, dir.path(), "proxy");
        assert!(wait_unix(&sock, T), "stats socket");
        Run { _p: p, sock, err }
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.err).unwrap_or_default()
    }

    /// The first stderr line containing `what` after "(pid) : ", the check
    /// duration masked.
    fn wait_line(&self, what: &str) -> String {
        let l = wait_line(&self.err, what, T);
        let t = l.split_once(") : ").map_or(&l[..], |x| x.1).to_string();
        match t.find("check duration: ") {
            Some(p) => {
                let rest = &t[p + 16..];
                let end = rest.find("ms").unwrap();
                format!("{}check duration: Nms{}", &t[..p], &rest[end + 2..])
            }
            None => t,
        }
    }

    fn stat(&self, sv: &str, cols: &[&str]) -> Vec<String> {
        let out = cli(&self.sock, "show stat", T);
        let hdr: Vec<&str> = out
            .lines()
            .next()
            .unwrap()
            .trim_start_matches("# ")
            .split(',')
            .collect();
        let row: Vec<&str> = out
            .lines()
            .find(|l| l.starts_with(&format!("b,{sv},")))
            .unwrap_or_else(|| panic!("{out}"))
            .split(',')
            .collect();
        cols.iter()
            .map(|c| row[hdr.iter().position(|h| h == c).unwrap()].to_string())
            .collect()
    }

    fn wait_stat(&self, sv: &str, cols: &[&str], want: &[&str]) {
        let deadline = Instant::now() + T;
        loop {
            let got = self.stat(sv, cols);
            if got == want {
                return;
            }
            assert!(Instant::now() < deadline, "{sv} {cols:?}: {got:?}, want {want:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Arguments and environment as HAProxy 2.6 passes them: the proxy's first
/// bind, the server's address and port, PATH from `external-check path`
/// and nothing of rhaproxy's own environment.
#[test]
fn program_gets_haproxy_arguments_and_environment() {
    let mut progs = vec![bin("rhaproxy")];
    progs.extend(real_haproxy());
    for prog in progs {
        let dir = TempDir::new("extchk-env");
        // One file per server: both servers' checks may run at once.
        let out = dir.path().join("out-s1");
        script(
            &dir,
            "dump.sh",
            &format!(
                "o={}/out-$HAPROXY_SERVER_NAME\n[ -e $o ] || {{ echo \"$@\" > $o.$$; /usr/bin/env | LC_ALL=C /usr/bin/sort >> $o.$$; mv $o.$$ $o; }}\nexit 0\n",
                dir.path().display()
            ),
        );
        let port = free_port();
        let r = Run::start(
            &prog,
            &dir,
            &format!(
                "listen b\n    bind 127.0.0.1:{port}\n    option external-check\n    external-check command dump.sh\n    external-check path \"{}:/bin\"\n    server s1 127.0.0.1:9 check inter 200 maxconn 7\n    server s2 127.0.0.1:10 check inter 200\n",
                dir.path().display()
            ),
        );
        r.wait_stat("s1", &["status", "check_status", "check_code"], &["UP", "PROCOK", "0"]);
        let deadline = Instant::now() + T;
        while !out.exists() {
            assert!(Instant::now() < deadline, "no output from the check");
            std::thread::sleep(Duration::from_millis(20));
        }
        let got = std::fs::read_to_string(&out).unwrap();
        let want = format!(
            "127.0.0.1 {port} 127.0.0.1 9\nHAPROXY_PROXY_ADDR=127.0.0.1\nHAPROXY_PROXY_ID=2\nHAPROXY_PROXY_NAME=b\nHAPROXY_PROXY_PORT={port}\nHAPROXY_SERVER_ADDR=127.0.0.1\nHAPROXY_SERVER_CURCONN=0\nHAPROXY_SERVER_ID=1\nHAPROXY_SERVER_MAXCONN=7\nHAPROXY_SERVER_NAME=s1\nHAPROXY_SERVER_PORT=9\nHAPROXY_SERVER_PROTO=h1\nHAPROXY_SERVER_SSL=0\nPATH={}:/bin\n",
            dir.path().display()
        );
        // The shell adds PWD (and may add SHLVL/_): keep the rest.
        let got: String = got
            .lines()
            .filter(|l| !l.starts_with("PWD=") && !l.starts_with("SHLVL=") && !l.starts_with("_="))
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(got, want, "{}: {}", prog.display(), r.stderr());
    }
}

/// Exit status 0 is PROCOK, another one PROCERR with that code; the
/// server goes DOWN and back UP with HAProxy's lines.
#[test]
fn exit_status_moves_the_server() {
    let dir = TempDir::new("extchk-flip");
    let flag = dir.path().join("fail");
    let chk = script(
        &dir,
        "flip.sh",
        &format!("[ -e {} ] && exit 3\nexit 0\n", flag.display()),
    );
    let r = Run::start(
        &bin("rhaproxy"),
        &dir,
        &format!(
            "frontend f\n    bind 127.0.0.1:{}\n    default_backend b\nbackend b\n    option external-check\n    external-check command {}\n    server s1 127.0.0.1:9 check inter 100 rise 2 fall 2\n    server s2 127.0.0.1:9\n",
            free_port(),
            chk.display()
        ),
    );
    r.wait_stat(
        "s1",
        &["check_status", "check_code", "check_desc"],
        &["PROCOK", "0", "External check passed"],
    );
    std::fs::write(&flag, "").unwrap();
    assert_eq!(
        r.wait_line("is DOWN"),
        "Server b/s1 is DOWN, reason: External check error, code: 3, check duration: Nms. 1 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue."
    );
    r.wait_stat(
        "s1",
        &["status", "check_status", "check_code"],
        &["DOWN", "PROCERR", "3"],
    );
    std::fs::remove_file(&flag).unwrap();
    assert_eq!(
        r.wait_line("is UP"),
        "Server b/s1 is UP, reason: External check passed, code: 0, check duration: Nms. 2 active and 0 backup servers online. 0 sessions requeued, 0 total in queue."
    );
}

/// A program still running after `inter` is killed with SIGTERM (HAProxy's
/// "kill <pid>" warning) and reaped; the result is PROCTOUT. A command that
/// cannot run is PROCERR with code 255, like HAProxy's child exiting -1.
#[test]
fn slow_program_is_killed_and_reaped() {
    let dir = TempDir::new("extchk-slow");
    let slow = script(&dir, "slow.sh", "exec /bin/sleep 30\n");
    let r = Run::start(
        &bin("rhaproxy"),
        &dir,
        &format!(
            "frontend f\n    bind 127.0.0.1:{}\n    default_backend b\nbackend b\n    option log-health-checks\n    option external-check\n    external-check command {}\n    server s1 127.0.0.1:9 check inter 300 rise 1 fall 1\nbackend c\n    option external-check\n    external-check command {}/missing\n    server s1 127.0.0.1:9 check inter 300 rise 1 fall 1\n",
            free_port(),
            slow.display(),
            dir.path().display()
        ),
    );
    assert_eq!(
        r.wait_line("Health check for server b/s1"),
        "Health check for server b/s1 failed, reason: External check timeout, code: 0, check duration: Nms, status: 0/1 DOWN."
    );
    assert_eq!(
        r.wait_line("Server b/s1 is DOWN"),
        "Server b/s1 is DOWN. 0 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue."
    );
    let kill = r.wait_line("kill ");
    let pid: i32 = kill.trim_start_matches("kill ").parse().unwrap();
    // Killed and reaped: the pid disappears (no zombie left behind).
    let deadline = Instant::now() + T;
    while Path::new(&format!("/proc/{pid}")).exists() {
        assert!(Instant::now() < deadline, "process {pid} still there");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(r
        .stderr()
        .contains("Failed to exec process for external health check: No such file or directory. Aborting."));
    assert!(r
        .wait_line("Server c/s1 is DOWN")
        .starts_with("Server c/s1 is DOWN, reason: External check error, code: 255,"));
}

/// `-c`: HAProxy's alerts and warnings around external checks.
#[test]
fn config_errors_like_haproxy() {
    let dir = TempDir::new("extchk-cfg");
    let head = "defaults\n  timeout client 1s\n  timeout server 1s\n  timeout connect 1s\nfrontend fe\n  bind 127.0.0.1:1\n  default_backend be\nbackend be\n";
    for (global, body, msgs, ok) in [
        (
            "",
            "  option external-check\n  server s 127.0.0.1:1 check\n",
            &[
                "[ALERT]    (PID) : config : Proxy 'be' : 'option external-check' unable to find required 'global.external-check'.",
                "[ALERT]    (PID) : config : Proxy 'be' : 'option external-check' unable to find required 'external-check command'.",
                "[WARNING]  (PID) : config : Proxy 'be' : 'insecure-fork-wanted' not enabled in the global section, 'option external-check' will likely fail.",
            ][..],
            false,
        ),
        (
            "global\n  external-check\n",
            "  option external-check\n  external-check command rel.sh\n  server s 127.0.0.1:1 check\n",
            &["Proxy 'be': 'external-check command' does not have a leading '/' and 'external-check path' is not set."][..],
            false,
        ),
        (
            "",
            "  external-check command /bin/true\n  external-check path /bin\n",
            &[
                "[WARNING]  (PID) : config : 'external-check command' will be ignored for backend 'be' (requires 'option external-check').",
                "[WARNING]  (PID) : config : 'external-check path' will be ignored for backend 'be' (requires 'option external-check').",
            ][..],
            true,
        ),
        ("", "  external-check foo\n", &["parsing [c.cfg:9] : 'external-check' only supports 'command' and 'path'. but got 'foo'."][..], false),
        ("", "  external-check command a b\n", &["parsing [c.cfg:9] : 'external-check' cannot handle unexpected argument 'b'."][..], false),
        ("", "  option external-check x\n", &["parsing [c.cfg:9] : 'option external-check' cannot handle unexpected argument 'x'."][..], false),
        ("global\n  external-check x\n", "", &["parsing [c.cfg:2] : 'external-check' cannot handle unexpected argument 'x'."][..], false),
    ] {
        dir.write("c.cfg", &format!("{global}{head}{body}"));
        let mut progs = vec![bin("rhaproxy")];
        progs.extend(real_haproxy());
        for prog in progs {
            let mut c = Command::new(&prog);
            c.arg("-c").arg("-f").arg("c.cfg").current_dir(dir.path());
            let out = rhaproxy_tests::run(c, T);
            let err: String = String::from_utf8_lossy(&out.stderr)
                .lines()
                .map(|l| match l.find(") : ") {
                    Some(i) if l.starts_with('[') => format!("{}(PID){}\n", &l[..11], &l[i + 1..]),
                    _ => format!("{l}\n"),
                })
                .collect();
            assert_eq!(out.status.success(), ok, "{}: {body}\n{err}", prog.display());
            for m in msgs {
                assert!(err.contains(m), "{}: {body}: want {m:?} in\n{err}", prog.display());
            }
        }
    }
}
