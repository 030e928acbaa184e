//! Global accept rates through the real `rhaproxy` binary: `maxconnrate` /
//! `maxsessrate` and `set rate-limit connections|sessions global` hold
//! connections in the backlog beyond the per-second budget (the listeners
//! pause until the next one fits, as HAProxy's do), `show info` reports
//! the limits, rates and maxima, and lifting the limit at run time lets the
//! waiting connections in. Compared by hand with HAProxy 2.6 on the same
//! configuration (10/s: 10 accepted after 0.5 s, then about 10 more per
//! second).

use rhaproxy_tests::{cli, free_port, spawn_rhaproxy, wait_listening, wait_unix, TempDir};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(5);

fn info(sock: &std::path::Path) -> std::collections::HashMap<String, u64> {
    cli(sock, "show info", T)
        .lines()
        .filter_map(|l| l.split_once(": "))
        .filter_map(|(k, v)| Some((k.to_string(), v.parse().ok()?)))
        .collect()
}

/// Waits until `f` holds on `show info`, at most `within`.
fn wait_info(
    sock: &std::path::Path,
    within: Duration,
    f: impl Fn(&std::collections::HashMap<String, u64>) -> bool,
) -> std::collections::HashMap<String, u64> {
    let end = Instant::now() + within;
    loop {
        let i = info(sock);
        if f(&i) || Instant::now() >= end {
            return i;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn run_case(global_kw: &str, cli_word: &str, limit_key: &str) {
    let dir = TempDir::new("rate-limit");
    let sock = dir.path().join("s.sock");
    // An origin that accepts and holds every connection.
    let origin = TcpListener::bind("127.0.0.1:0").unwrap();
    let oaddr = origin.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for c in origin.incoming().flatten() {
            held.push(c);
        }
    });
    let port = free_port();
    let cfg = format!(
        "global\n    nbthread 1\n    {global_kw} 10\n    stats socket {} level admin\ndefaults\n    mode tcp\n    timeout client 10s\n    timeout server 10s\n    timeout connect 2s\nfrontend f\n    bind 127.0.0.1:{port}\n    default_backend b\nbackend b\n    server s {oaddr}\n",
        sock.display()
    );
    let _p = spawn_rhaproxy(&dir, "h.cfg", &cfg);
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    assert!(wait_unix(&sock, T) && wait_listening(addr, T));
    assert_eq!(info(&sock)[limit_key], 10);
    // wait_listening's probe used one slot of the budget; start from a
    // fresh window so the count below is about the burst only.
    std::thread::sleep(Duration::from_millis(2100));
    // The probe's stream stays until the silent origin closes: a baseline.
    let base = info(&sock)["CurrConns"];
    let t0 = Instant::now();
    let clients: Vec<TcpStream> = (0..40).map(|_| TcpStream::connect(addr).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(400).saturating_sub(t0.elapsed()));
    let i = info(&sock);
    assert!(
        (1..=10).contains(&(i["CurrConns"] - base)),
        "at most the budget of one second is accepted: {i:?}"
    );
    assert!(i["MaxConnRate"] <= 11 && i["MaxSessRate"] <= 11, "{i:?}");
    // Lifting the limit lets the backlog in.
    let answer = cli(&sock, &format!("set rate-limit {cli_word} global 0"), T);
    assert_eq!(answer, "\n");
    let i = wait_info(&sock, T, |i| i["CurrConns"] == base + 40);
    assert_eq!(i["CurrConns"], base + 40, "{i:?}");
    assert_eq!(i[limit_key], 0);
    assert!(i["MaxConnRate"] >= 30 && i["MaxSessRate"] >= 30, "{i:?}");
    drop(clients);
}

#[test]
fn maxconnrate_holds_connections_until_the_budget_allows() {
    run_case("maxconnrate", "connections", "ConnRateLimit");
}

#[test]
fn maxsessrate_holds_connections_until_the_budget_allows() {
    run_case("maxsessrate", "sessions", "SessRateLimit");
}

#[test]
fn set_rate_limit_answers_as_haproxy_without_ssl() {
    let dir = TempDir::new("rate-limit-cli");
    let sock = dir.path().join("s.sock");
    let cfg = format!(
        "global\n    stats socket {} level admin\ndefaults\n    mode tcp\n    timeout client 1s\n    timeout server 1s\n    timeout connect 1s\n",
        sock.display()
    );
    let _p = spawn_rhaproxy(&dir, "h.cfg", &cfg);
    assert!(wait_unix(&sock, T));
    // No SSL in this build: 'ssl-sessions' is not among the choices, as in
    // a 2.6 built without OpenSSL.
    assert_eq!(
        cli(&sock, "set rate-limit ssl-sessions global 5", T),
        "'set rate-limit' only supports :\n   - 'connections global' to set the per-process maximum connection rate\n   - 'sessions global' to set the per-process maximum session rate\n   - 'http-compression global' to set the per-process maximum compression speed in kB/s\n\n"
    );
    assert_eq!(
        cli(&sock, "set rate-limit sessions global", T),
        "Expects an integer value.\n\n"
    );
    assert_eq!(
        cli(&sock, "set rate-limit sessions global -1", T),
        "Value out of range.\n\n"
    );
    assert_eq!(cli(&sock, "set rate-limit http-compression global 3", T), "\n");
    assert_eq!(cli(&sock, "set rate-limit connections global 7", T), "\n");
    let i = info(&sock);
    assert_eq!((i["CompressBpsRateLim"], i["ConnRateLimit"]), (3072, 7));
}
