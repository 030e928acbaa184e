//! The stats socket against real HAProxy 2.6 (`/usr/sbin/haproxy`, skipped
//! when absent): both run the same configuration; their `show info` /
//! `show stat` dumps (typed and JSON) are compared field by field, values
//! that legitimately differ (pid, uptime, memory, version strings) by shape
//! only, and the answers to the same `add server` / `del server` /
//! `show servers state` sequence byte for byte.

use rhaproxy_tests::{bin, cli, free_port, real_haproxy, spawn_proxy, wait_unix, Proc, TempDir};
use std::path::PathBuf;
use std::time::Duration;

const T: Duration = Duration::from_secs(5);

struct Side {
    _p: Proc,
    sock: PathBuf,
}

impl Side {
    fn q(&self, cmd: &str) -> String {
        cli(&self.sock, cmd, T)
    }
    /// The same command on the socket of level `lvl`.
    fn at(&self, lvl: &str, cmd: &str) -> String {
        let p = self.sock.with_file_name(format!(
            "{}-{lvl}.sock",
            self.sock.file_stem().unwrap().to_string_lossy()
        ));
        cli(&p, cmd, T)
    }
}

fn config(sock: &str, port: u16, origin: u16) -> String {
    let base = sock.trim_end_matches(".sock");
    format!(
        "global\n    nbthread 1\n    maxconn 1000\n    stats socket {sock} level admin\n    stats socket {base}-user.sock level user\n    stats socket {base}-operator.sock level operator\n\ndefaults\n    mode http\n    timeout client 5s\n    timeout server 5s\n    timeout connect 1s\n\nfrontend fe\n    bind 127.0.0.1:{port}\n    default_backend dyn\n\nbackend dyn\n    server s1 127.0.0.1:{origin}\n    server s2 127.0.0.1:{origin} weight 50 backup\n\nbackend st\n    balance static-rr\n    server s1 127.0.0.1:{origin}\n\nbackend raw\n    mode tcp\n    balance leastconn\n"
    )
}

fn start(dir: &TempDir, prog: PathBuf, name: &str, origin: u16) -> Side {
    let sock = dir.path().join(format!("{name}.sock"));
    let path = dir.write(
        &format!("{name}.cfg"),
        &config(&sock.display().to_string(), free_port(), origin),
    );
    let p = spawn_proxy(&prog, &path, name);
    assert!(wait_unix(&sock, T), "{name}: stats socket not ready");
    Side { _p: p, sock }
}

/// Fields whose values depend on the process (identity, clock, memory,
/// internal task counts), compared by type only.
const VOLATILE: &[&str] = &[
    "Version",
    "Release_date",
    "Pid",
    "Uptime",
    "Uptime_sec",
    "Build info",
    "Start_time_sec",
    "Tasks",
    "Run_queue",
    "Idle_pct",
    "PoolAlloc_MB",
    "PoolUsed_MB",
    "PoolAlloc_bytes",
    "PoolUsed_bytes",
    "Ulimit-n",
    "Maxsock",
    "lastchg",
    "downtime",
    "TotalBytesOut",
    "Jobs",
];

/// `pos.name.proc:tags:type` of a typed line, plus its value unless the
/// field is volatile.
fn typed_key(line: &str) -> String {
    let mut parts = line.splitn(4, ':');
    let head = parts.next().unwrap_or("");
    let tags = parts.next().unwrap_or("");
    let ty = parts.next().unwrap_or("");
    let val = parts.next().unwrap_or("");
    let name = head.split('.').nth_back(1).unwrap_or("");
    if VOLATILE.contains(&name) {
        format!("{head}:{tags}:{ty}:<{ty}>")
    } else {
        format!("{head}:{tags}:{ty}:{val}")
    }
}

fn diff_lines(what: &str, ours: &str, theirs: &str, key: fn(&str) -> String) {
    let o: Vec<String> = ours.lines().map(key).collect();
    let t: Vec<String> = theirs.lines().map(key).collect();
    if o == t {
        return;
    }
    // Report what one side has and the other lacks, in order.
    let mut bad: Vec<String> = o
        .iter()
        .filter(|l| !t.contains(l))
        .map(|l| format!("  ours only: {l}"))
        .collect();
    bad.extend(t.iter().filter(|l| !o.contains(l)).map(|l| format!("  2.6 only:  {l}")));
    if bad.is_empty() {
        bad.push("  same lines, different order".into());
    }
    panic!("{what}: differs from HAProxy 2.6:\n{}", bad.join("\n"));
}

/// A JSON dump with every scalar value blanked (strings and numbers).
fn json_shape(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find(",\"value\":") {
        out.push_str(&rest[..i + 9]);
        rest = &rest[i + 9..];
        if rest.starts_with('{') {
            continue;
        }
        let end = if let Some(r) = rest.strip_prefix('"') {
            r.find('"').map(|e| e + 2).unwrap_or(rest.len())
        } else {
            rest.find('}').unwrap_or(rest.len())
        };
        out.push('_');
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// CSV `show stat` with `lastchg` and `downtime` (seconds, which the two
/// processes, started at different instants, may see tick apart) blanked.
fn blank_lastchg(s: &str) -> String {
    s.lines()
        .map(|l| {
            let mut f: Vec<&str> = l.split(',').collect();
            if f.len() > 24 && !l.starts_with('#') {
                f[23] = "_";
                f[24] = "_";
            }
            f.join(",")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `show servers state` with the seconds since the last change blanked.
fn servers_state_key(line: &str) -> String {
    let mut f: Vec<&str> = line.split(' ').collect();
    if f.len() == 25 {
        f[9] = "_";
    }
    f.join(" ")
}

#[test]
fn dumps_and_dynamic_servers_match_real_haproxy() {
    let Some(haproxy) = real_haproxy() else {
        eprintln!("skipped: /usr/sbin/haproxy not installed");
        return;
    };
    let dir = TempDir::new("cli-vs");
    let origin = free_port();
    let ours = start(&dir, bin("rhaproxy"), "ours", origin);
    let theirs = start(&dir, haproxy, "theirs", origin);

    diff_lines(
        "show info typed",
        &ours.q("show info typed"),
        &theirs.q("show info typed"),
        typed_key,
    );
    diff_lines(
        "show stat typed",
        &ours.q("show stat typed"),
        &theirs.q("show stat typed"),
        typed_key,
    );
    for cmd in ["show info json", "show stat json"] {
        assert_eq!(json_shape(&ours.q(cmd)), json_shape(&theirs.q(cmd)), "{cmd}");
    }
    assert_eq!(
        blank_lastchg(&ours.q("show stat")),
        blank_lastchg(&theirs.q("show stat")),
        "show stat CSV"
    );

    // The same administrative sequence, answer by answer.
    let o = format!("127.0.0.1:{origin}");
    let seq: Vec<String> = [
        "add server nope/x ADDR",
        "add server dyn",
        "add server dyn/",
        "add server dyn/x",
        "add server st/x ADDR",
        "add server raw/x ADDR proto h2",
        "add server dyn/x ADDR cookie c1",
        "add server dyn/x ADDR weight 300",
        "add server dyn/x ADDR id 1",
        "add server dyn/x ADDR id 0",
        "add server dyn/x ADDR foo",
        "add server dyn/x ADDR",
        "add server dyn/x ADDR",
        "add server dyn/y ADDR weight 7 maxconn 3 backup",
        "add server dyn/z ADDR id 9",
        "add server raw/r1 ADDR",
        "show servers state",
        "show stat",
        "del server dyn",
        "del server nope/x",
        "del server dyn/nope",
        "del server dyn/x",
        "del server dyn/x",
        "del server dyn/s1",
        "disable server dyn/s1",
        "del server dyn/s1",
        "enable server dyn/y",
        "del server dyn/y",
        "show servers state dyn",
        "add server dyn/x ADDR",
        "show servers state dyn",
        "show servers conn dyn",
        "show stat typed",
    ]
    .iter()
    .map(|c| c.replace("ADDR", &o))
    .collect();
    for cmd in &seq {
        let (a, b) = (ours.q(cmd), theirs.q(cmd).replace("theirs.cfg", "ours.cfg"));
        if cmd.starts_with("show stat typed") {
            diff_lines(cmd, &a, &b, typed_key);
        } else if cmd.starts_with("show stat") {
            assert_eq!(blank_lastchg(&a), blank_lastchg(&b), "{cmd}");
        } else if cmd.starts_with("show servers state") {
            diff_lines(cmd, &a, &b, servers_state_key);
        } else {
            assert_eq!(a, b, "{cmd}");
        }
    }
}

/// Every command we implement, at every level, is allowed or refused
/// exactly where HAProxy 2.6 allows or refuses it (the commands run on
/// both processes in the same order, so state changes stay in step).
#[test]
fn permissions_match_real_haproxy_for_every_command() {
    let Some(haproxy) = real_haproxy() else {
        eprintln!("skipped: /usr/sbin/haproxy not installed");
        return;
    };
    let dir = TempDir::new("cli-lvl");
    let origin = free_port();
    let ours = start(&dir, bin("rhaproxy"), "ours", origin);
    let theirs = start(&dir, haproxy, "theirs", origin);
    let o = format!("127.0.0.1:{origin}");
    let cmds = [
        "help".to_string(),
        "prompt;quit".into(),
        "quit".into(),
        "show info".into(),
        "show info json".into(),
        "show stat".into(),
        "show stat typed".into(),
        "show sess".into(),
        "show sess all".into(),
        "show fd".into(),
        "show errors".into(),
        "show activity".into(),
        "show threads".into(),
        "show pools".into(),
        "show servers state".into(),
        "show servers conn".into(),
        "show version".into(),
        "show env".into(),
        "show env HOME".into(),
        "show backend".into(),
        "show cli level".into(),
        "show cli sockets".into(),
        "clear counters".into(),
        "clear counters all".into(),
        "get weight dyn/s1".into(),
        "set weight dyn/s1 1".into(),
        "disable server dyn/s1".into(),
        "enable server dyn/s1".into(),
        "set server dyn/s1 state ready".into(),
        "set server dyn/s1 weight 1".into(),
        "set server dyn/s1 health up".into(),
        format!("set server dyn/s1 addr 127.0.0.1 port {origin}"),
        "set maxconn server dyn/s1 4".into(),
        "set maxconn frontend fe 100".into(),
        "set maxconn global 1000".into(),
        "set rate-limit sessions global 0".into(),
        "set rate-limit connections global 0".into(),
        "set rate-limit http-compression global 0".into(),
        "set timeout cli 20".into(),
        "shutdown session 0x1".into(),
        "shutdown sessions server dyn/s1".into(),
        "expert-mode".into(),
        "expert-mode off".into(),
        "experimental-mode off".into(),
        format!("add server dyn/lvl {o}"),
        "del server dyn/lvl".into(),
        "operator".into(),
        "user".into(),
    ];
    let denied = |s: &str| s == "Permission denied\n\n";
    let mut bad = Vec::new();
    for cmd in &cmds {
        for lvl in ["user", "operator", "admin"] {
            let (a, b) = if lvl == "admin" {
                (ours.q(cmd), theirs.q(cmd))
            } else {
                (ours.at(lvl, cmd), theirs.at(lvl, cmd))
            };
            if denied(&a) != denied(&b) {
                bad.push(format!("{lvl:8} {cmd}: ours {a:?}, 2.6 {b:?}"));
            }
        }
    }
    assert!(bad.is_empty(), "levels differ from HAProxy 2.6:\n{}", bad.join("\n"));
}
