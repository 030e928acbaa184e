//! Stick tables through the real `rhaproxy` binary: the classic rate-limit
//! recipe (track-sc0 + deny 429 over sc_http_req_rate), gpc0 counters,
//! conn_cur over held connections tracked by `tcp-request connection`,
//! `stick on src` persistence (server_id/server_key stored, kept across
//! requests, forgotten by `clear table`), the table CLI's errors, and the
//! `show table` dump against real HAProxy 2.6 after the same traffic
//! (skipped when /usr/sbin/haproxy is absent).

use rhaproxy_tests::{
    bin, cli, exchange, free_port, real_haproxy, spawn_proxy, wait_listening, wait_unix, Proc, TempDir,
};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(5);

struct Px {
    _p: Proc,
    sock: PathBuf,
    addr: SocketAddr,
}

/// Starts `prog` on `body` (sections after `global`/`defaults`), where
/// `{PORT}` is the frontend's port.
fn start(dir: &TempDir, prog: &Path, name: &str, body: &str) -> Px {
    let sock = dir.path().join(format!("{name}.sock"));
    let port = free_port();
    // A `{READY}` listener takes the readiness probe, so that the
    // frontend's counters see only the test's connections.
    let ready = free_port();
    let cfg = format!(
        "global\n    nbthread 2\n    stats socket {} level admin\n\ndefaults\n    mode http\n    timeout client 5s\n    timeout server 5s\n    timeout connect 2s\n\n{}",
        sock.display(),
        body.replace("{PORT}", &port.to_string()).replace("{READY}", &ready.to_string())
    );
    let path = dir.write(&format!("{name}.cfg"), &cfg);
    let p = spawn_proxy(prog, &path, name);
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let probe = if body.contains("{READY}") {
        format!("127.0.0.1:{ready}").parse().unwrap()
    } else {
        addr
    };
    assert!(wait_unix(&sock, T) && wait_listening(probe, T), "{name} did not start");
    Px { _p: p, sock, addr }
}

fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let r = String::from_utf8_lossy(&exchange(addr, req.as_bytes(), T)).into_owned();
    let code = r.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = r.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (code, body)
}

/// `show table` output with the entry addresses and expiry delays masked.
fn masked(s: &str) -> String {
    s.split('\n')
        .map(|l| {
            let l = match l.split_once(": key=") {
                Some((p, rest)) if p.starts_with("0x") => format!("PTR: key={rest}"),
                _ => l.to_string(),
            };
            l.split(' ')
                .map(|w| if w.starts_with("exp=") { "exp=E" } else { w })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

const RATE: &str = "frontend fe\n    bind 127.0.0.1:{PORT}\n    stick-table type ip size 100k expire 30s store http_req_rate(10s),gpc0,conn_cnt,conn_cur,http_req_cnt\n    http-request track-sc0 src\n    http-request deny deny_status 429 if { sc_http_req_rate(0) gt 3 }\n    http-request return status 200 content-type text/plain lf-string \"gpc=%[sc_inc_gpc0(0)] rate=%[sc_http_req_rate(0)] tracked=%[sc0_tracked] cnt=%[src_http_req_cnt]\"\n";

#[test]
fn rate_limit_denies_after_n_requests() {
    let dir = TempDir::new("stk-rate");
    let px = start(&dir, &bin("rhaproxy"), "r", RATE);
    let mut codes = Vec::new();
    for i in 1..=3 {
        let (c, b) = get(px.addr, "/");
        assert_eq!(b, format!("gpc={i} rate={i} tracked=1 cnt={i}"));
        codes.push(c);
    }
    codes.push(get(px.addr, "/").0);
    codes.push(get(px.addr, "/").0);
    assert_eq!(codes, [200, 200, 200, 429, 429]);
    // (the last connection's end is seen by the proxy shortly after ours)
    let end = Instant::now() + T;
    let mut t = cli(&px.sock, "show table fe", T);
    while !t.contains(" use=0 ") && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(20));
        t = cli(&px.sock, "show table fe", T);
    }
    assert_eq!(
        masked(&t),
        "# table: fe, type: ip, size:102400, used:1\nPTR: key=127.0.0.1 use=0 exp=E gpc0=3 conn_cnt=5 conn_cur=0 http_req_cnt=5 http_req_rate(10000)=5\n\n"
    );
    // The entry expires in about 30 s.
    let exp: u64 = t
        .split("exp=")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!((25_000..=30_000).contains(&exp), "{t}");
    // Resetting the counter through the CLI lets requests in again.
    assert_eq!(
        cli(&px.sock, "set table fe key 127.0.0.1 data.http_req_rate 0", T),
        "\n"
    );
    assert_eq!(get(px.addr, "/").0, 200);
}

#[test]
fn conn_cur_counts_held_connections() {
    let dir = TempDir::new("stk-conn");
    let body = "frontend ready\n    bind 127.0.0.1:{READY}\n\nfrontend fe\n    bind 127.0.0.1:{PORT}\n    stick-table type ip size 10 store conn_cur,conn_cnt,sess_cnt\n    tcp-request connection track-sc1 src\n    tcp-request connection reject if { sc1_conn_cur gt 4 }\n    http-request return status 200 content-type text/plain lf-string \"cur=%[sc1_conn_cur]\"\n";
    let px = start(&dir, &bin("rhaproxy"), "r", body);
    let held: Vec<TcpStream> = (0..3).map(|_| TcpStream::connect(px.addr).unwrap()).collect();
    let until = |want: &str| {
        let end = Instant::now() + T;
        loop {
            let t = cli(&px.sock, "show table fe", T);
            if t.contains(want) || Instant::now() > end {
                return t;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    let t = until(" use=3 exp=0 conn_cnt=3 conn_cur=3 sess_cnt=3");
    assert!(t.contains(" use=3 exp=0 conn_cnt=3 conn_cur=3 sess_cnt=3"), "{t}");
    // A fourth connection sees itself counted; a fifth is rejected.
    let (c, b) = get(px.addr, "/");
    assert_eq!((c, b.as_str()), (200, "cur=4"));
    // Once that one is gone, a fourth held connection.
    until("conn_cnt=4 conn_cur=3 ");
    let mut fourth = TcpStream::connect(px.addr).unwrap();
    until("conn_cnt=5 conn_cur=4 ");
    let r = exchange(px.addr, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", T);
    assert!(r.is_empty(), "{}", String::from_utf8_lossy(&r));
    drop(held);
    use std::io::Write;
    let _ = fourth.write_all(b"x");
    drop(fourth);
    // The rejected connection was counted, but never became a session.
    let t = until(" use=0 exp=0 conn_cnt=6 conn_cur=0 sess_cnt=5");
    assert!(t.contains(" use=0 exp=0 conn_cnt=6 conn_cur=0 sess_cnt=5"), "{t}");
}

fn origin_listens(a: u16, b: u16) -> String {
    format!(
        "listen o1\n    bind 127.0.0.1:{a}\n    http-request return status 200 content-type text/plain lf-string \"s1\"\n\nlisten o2\n    bind 127.0.0.1:{b}\n    http-request return status 200 content-type text/plain lf-string \"s2\"\n"
    )
}

#[test]
fn stick_on_src_keeps_the_server() {
    let dir = TempDir::new("stk-stick");
    let (a, b) = (free_port(), free_port());
    let body = format!(
        "frontend fe\n    bind 127.0.0.1:{{PORT}}\n    default_backend be\n\nbackend be\n    balance roundrobin\n    stick-table type ip size 1k expire 30m\n    stick on src\n    server s1 127.0.0.1:{a}\n    server s2 127.0.0.1:{b}\n\n{}",
        origin_listens(a, b)
    );
    let px = start(&dir, &bin("rhaproxy"), "r", &body);
    let first = get(px.addr, "/").1;
    for _ in 0..4 {
        assert_eq!(get(px.addr, "/").1, first);
    }
    let id = if first == "s1" { 1 } else { 2 };
    assert_eq!(
        masked(&cli(&px.sock, "show table be", T)),
        format!("# table: be, type: ip, size:1024, used:1\nPTR: key=127.0.0.1 use=0 exp=E server_id={id} server_key={first}\n\n")
    );
    // Forgetting the entry lets the balancer pick again (round robin: the
    // other server), which is then remembered.
    assert_eq!(cli(&px.sock, "clear table be key 127.0.0.1", T), "\n");
    let second = get(px.addr, "/").1;
    assert_ne!(second, first);
    assert_eq!(get(px.addr, "/").1, second);
}

#[test]
fn table_cli_errors() {
    let dir = TempDir::new("stk-cli");
    let px = start(&dir, &bin("rhaproxy"), "r", RATE);
    let q = |c: &str| cli(&px.sock, c, T);
    assert_eq!(q("show table nope"), "No such table\n\n");
    assert_eq!(
        q("show table fe data.foo eq 1"),
        "Filter entry #1: Unknown data type\n\n"
    );
    assert_eq!(
        q("show table fe data.gpc1 eq 1"),
        "Filter entry #1: Data type not stored in this table\n\n"
    );
    assert_eq!(
        q("clear table"),
        "Required arguments: <table> \"data.<store_data_type>\" <operator> <value> or <table> key <key>\n\n"
    );
    assert_eq!(
        q("set table fe data.gpc0 1"),
        "content-based lookup is only supported with the \"show\" and \"clear\" actions\n\n"
    );
    assert_eq!(
        q("set table fe key 10.0.0.1 data.gpc1 1"),
        "Data type not stored in this table\n\n"
    );
    assert_eq!(q("set table fe key 10.0.0.2 data.gpc0 7"), "\n");
    assert!(q("show table fe data.gpc0 eq 7").contains("key=10.0.0.2 "));
    assert_eq!(q("show table"), "# table: fe, type: ip, size:102400, used:2\n\n");
}

/// The same configuration and traffic on both; `show table` (all tables,
/// each table, filters, keys, set/clear) must print the same lines.
#[test]
fn show_table_matches_haproxy() {
    let Some(h) = real_haproxy() else {
        eprintln!("no /usr/sbin/haproxy: skipped");
        return;
    };
    let (a, b) = (free_port(), free_port());
    let body = format!(
        "frontend fe\n    bind 127.0.0.1:{{PORT}}\n    stick-table type ip size 1k store conn_cur,conn_cnt,conn_rate(3s),sess_cnt,http_req_cnt,http_err_cnt,gpc(2),gpt(2),gpc_rate(2,5s)\n    tcp-request connection track-sc1 src\n    http-request sc-inc-gpc(1,1) if {{ path /g }}\n    http-request sc-set-gpt(1,1) 42 if {{ path /g }}\n    http-request deny if {{ path /d }}\n    default_backend be\n\nfrontend ready\n    bind 127.0.0.1:{{READY}}\n\nbackend be\n    stick-table type string len 8 size 10 store gpc0,http_req_rate(10s)\n    stick on src table st\n    http-request track-sc2 req.hdr(host)\n    http-request sc-inc-gpc0(2)\n    server s1 127.0.0.1:{a}\n\nbackend st\n    stick-table type ip size 5\n\nbackend tt\n    stick-table type integer size 5\n\n{}",
        origin_listens(a, b)
    );
    let dir = TempDir::new("stk-vs");
    let mut outs = Vec::new();
    for (name, prog) in [("h", h), ("r", bin("rhaproxy"))] {
        // Same ports for the origins: one side at a time.
        let px = start(&dir, &prog, name, &body);
        for (host, path) in [("verylonghostname", "/"), ("a", "/g"), ("a", "/d"), ("b", "/g")] {
            let req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
            exchange(px.addr, req.as_bytes(), T);
        }
        // Let the last connection's session end (its tracker released).
        let end = Instant::now() + T;
        while cli(&px.sock, "show table fe", T).contains(" use=1 ") && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(20));
        }
        let mut out = String::new();
        for c in [
            "show table",
            "show table fe",
            "show table be",
            "show table st",
            "show table fe data.gpc1 gt 0",
            "show table fe data.gpt1 ne 42",
            "show table be key verylong",
            "show table be key nothere",
            "set table tt key 5 data.gpc0 1",
            "set table tt key abc",
            "set table tt key 7",
            "show table tt",
            "set table be key zzz data.gpc0 3 data.http_req_rate 9",
            "show table be data.gpc0 eq 3",
            "clear table be key zzz",
            "clear table be data.gpc0 gt 1",
            "show table be",
            "clear table tt",
            "show table tt",
        ] {
            out.push_str(&format!("> {c}\n{}", masked(&cli(&px.sock, c, T))));
        }
        outs.push(out);
    }
    assert_eq!(outs[1], outs[0]);
}

/// A `peers` section whose only peer is this process (`localpeer`): its
/// `table` (known as `<section>/<table>`) and a `stick-table ... peers`
/// work locally; a remote peer is refused at start-up naming its line,
/// unless `-L` names another peer (the section is then removed, as
/// HAProxy does with sections lacking the local peer).
#[test]
fn peers_local_only_and_remote_refused() {
    let dir = TempDir::new("stk-peers");
    let port = free_port();
    let body = format!(
        "peers mine\n    peer me 127.0.0.1:{}\n    table pt type string len 10 size 5 store gpc0\n\nfrontend fe\n    bind 127.0.0.1:{{PORT}}\n    stick-table type ip size 10 store gpc0 peers mine\n    http-request track-sc1 path table mine/pt\n    http-request sc-inc-gpc0(1)\n    http-request return status 200 content-type text/plain lf-string \"pt=%[sc1_get_gpc0]\"\n",
        free_port()
    );
    let cfg = |extra: &str| {
        format!(
            "global\n    localpeer me\n    stats socket {}/s.sock level admin\n\ndefaults\n    mode http\n    timeout client 5s\n    timeout server 5s\n    timeout connect 2s\n\n{}{extra}",
            dir.path().display(),
            body.replace("{PORT}", &port.to_string())
        )
    };
    let path = dir.write("p.cfg", &cfg(""));
    let p = spawn_proxy(&bin("rhaproxy"), &path, "p");
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let sock = dir.path().join("s.sock");
    assert!(wait_unix(&sock, T) && wait_listening(addr, T));
    assert_eq!(get(addr, "/").1, "pt=1");
    assert_eq!(get(addr, "/").1, "pt=2");
    assert_eq!(
        masked(&cli(&sock, "show table mine/pt", T)),
        "# table: mine/pt, type: string, size:5, used:1\nPTR: key=/ use=0 exp=E gpc0=2\n\n"
    );
    drop(p);
    // A remote peer: refused, naming the line.
    let remote = cfg("").replace(
        "    table pt",
        &format!("    peer other 127.0.0.2:{}\n    table pt", free_port()),
    );
    let path = dir.write("r.cfg", &remote);
    let mut c = std::process::Command::new(bin("rhaproxy"));
    c.arg("-f").arg(&path);
    let out = rhaproxy_tests::run(c, T);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("r.cfg:13] : remote peer 'other' in peers section 'mine' is not supported yet"),
        "{err}"
    );
}
