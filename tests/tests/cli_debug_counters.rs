//! `debug counters` after a short run of the seed scenario (httpterm origin,
//! `http-reuse always`, `server maxconn 4`, several threads, h1load with one
//! request per connection and 19 kB responses the server closes half of the
//! time): the dump lists every epoll stale-event class with a count.

use rhaproxy_tests::{bin, cli, free_port, spawn_rhaproxy, wait_listening, wait_unix, Proc, TempDir};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

/// HAProxy's six stale-event sites (ev_epoll.c), by their comments.
const STALE_CLASSES: [&str; 6] = [
    "epoll report of HUP/ERR on a stale fd reopened on another thread (harmless)",
    "epoll report of ERR on a stale fd reopened on the same thread (suspicious)",
    "epoll report of HUP on a stale fd reopened on the same thread (suspicious)",
    "epoll report of a harmless event on a stale fd reopened on the same thread (suspicious)",
    "epoll report of event on a closed recycled fd (rare)",
    "epoll report of event on a just closed fd (harmless)",
];

#[test]
fn seed_scenario_shows_the_epoll_stale_classes() {
    let dir = TempDir::new("dbg-cnt");
    let oport = free_port();
    let mut o = Command::new(bin("httpterm"));
    o.arg("-L").arg(format!("127.0.0.1:{oport}")).arg("-q");
    let _origin = Proc::spawn(o, "httpterm");
    let oaddr: SocketAddr = format!("127.0.0.1:{oport}").parse().unwrap();
    assert!(wait_listening(oaddr, Duration::from_secs(5)));
    let port = free_port();
    let sock = dir.path().join("stats.sock");
    let cfg = format!(
        "global\n    nbthread 4\n    stats socket {} level admin\n    stats timeout 1h\ndefaults\n    mode http\n    timeout client 5s\n    timeout server 5s\n    timeout connect 5s\nlisten p2\n    bind 127.0.0.1:{port}\n    http-reuse always\n    server s1 {oaddr} maxconn 4\n",
        sock.display()
    );
    let _p = spawn_rhaproxy(&dir, "seed.cfg", &cfg);
    assert!(wait_unix(&sock, Duration::from_secs(5)));
    let mut l = Command::new(bin("h1load"));
    l.args(["-t", "2", "-c", "32", "-r", "1", "-d", "2"])
        .arg(format!("127.0.0.1:{port}/?s=19k/C=2r"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let out = Proc::spawn(l, "h1load").finish(Duration::from_secs(30));
    let text = String::from_utf8_lossy(&out.stdout);
    let last = text.lines().rfind(|l| !l.starts_with('#')).unwrap_or("").to_string();
    let tot_req: u64 = last.split_whitespace().nth(3).and_then(|v| v.parse().ok()).unwrap_or(0);
    assert!(tot_req > 50, "the scenario ran: {last}");

    // `all` lists sites whose count is still 0 too (HAProxy 3.1+'s form).
    let dump = cli(&sock, "debug counters all cnt", Duration::from_secs(5));
    assert!(
        dump.starts_with("Count     Type Location function(): \"condition\" [comment]\n"),
        "{dump}"
    );
    let mut seen = Vec::new();
    for class in STALE_CLASSES {
        let line = dump
            .lines()
            .find(|l| l.ends_with(&format!("[{class}]")))
            .unwrap_or_else(|| panic!("no line for '{class}' in:\n{dump}"));
        let mut w = line.split_whitespace();
        let count: u64 = w
            .next()
            .and_then(|c| c.parse().ok())
            .unwrap_or_else(|| panic!("no count: {line}"));
        assert_eq!(w.next(), Some("CNT"), "{line}");
        assert!(line.contains("(): \"1\" ["), "{line}");
        seen.push(count);
    }
    // The default dump shows only what was hit; each of those lines is one
    // of the listed sites with the same count.
    let hit = cli(&sock, "debug counters", Duration::from_secs(5));
    for (class, n) in STALE_CLASSES.iter().zip(&seen) {
        let shown = hit.lines().find(|l| l.ends_with(&format!("[{class}]")));
        match shown {
            // Counts only grow between the two dumps.
            Some(l) => {
                let c: u64 = l.split_whitespace().next().and_then(|c| c.parse().ok()).unwrap_or(0);
                assert!(c >= *n && c > 0, "{l}");
            }
            None => assert_eq!(*n, 0, "a hit site is missing from the default dump"),
        }
    }
    eprintln!("seed scenario 2s: {last}\nstale classes: {seen:?}");
}
