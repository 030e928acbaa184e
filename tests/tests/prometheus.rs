//! The Prometheus exporter (`http-request use-service prometheus-exporter`)
//! against HAProxy 2.6.12: response headers, metric names, HELP and TYPE
//! lines, labels and order, NaN for unset limits, the state gauges, the
//! stick tables, and
//! the `scope=` / `no-maint` parameters (a bare `scope` is a 400). The
//! values checked were recorded from /usr/sbin/haproxy; when it is
//! installed the test also runs it on the same configuration and compares
//! the whole exposition once numbers are set aside.

use rhaproxy_tests::{bin, exchange_quiet, free_port, real_haproxy, spawn_proxy, wait_listening, Proc, TempDir};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

const T: Duration = Duration::from_secs(5);

struct Inst {
    _p: Proc,
    _dir: TempDir,
    addr: SocketAddr,
}

fn start(prog: &Path, tag: &str) -> Inst {
    let dir = TempDir::new(tag);
    let (sp, fp, tp, dead) = (free_port(), free_port(), free_port(), free_port());
    let cfg = format!(
        "defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
    option socket-stats
listen stats
    bind 127.0.0.1:{sp}
    http-request use-service prometheus-exporter if {{ path /metrics }}
frontend fe
    bind 127.0.0.1:{fp}
    default_backend be
frontend tfe
    mode tcp
    bind 127.0.0.1:{tp}
    default_backend tbe
backend be
    stick-table type ip size 1m expire 10s store http_req_rate(10s)
    server s1 127.0.0.1:{dead}
    server s2 127.0.0.1:{dead} maxqueue 10 maxconn 12 pool-max-conn 42
    server s3 127.0.0.1:{dead} disabled
backend tbe
    mode tcp
    server t1 127.0.0.1:{dead}
"
    );
    let path = dir.write("promex.cfg", &cfg);
    let p = spawn_proxy(prog, &path, tag);
    let addr = SocketAddr::from(([127, 0, 0, 1], sp));
    assert!(wait_listening(addr, T), "{tag} did not start");
    Inst { _p: p, _dir: dir, addr }
}

/// Head and de-chunked body.
fn get(addr: SocketAddr, target: &str) -> (String, String) {
    let req = format!("GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let resp = exchange_quiet(addr, req.as_bytes(), T, T);
    let end = resp.windows(4).position(|w| w == b"\r\n\r\n").expect("a head") + 4;
    let head = String::from_utf8_lossy(&resp[..end]).into_owned();
    let mut rest = &resp[end..];
    if !head.contains("transfer-encoding: chunked") {
        return (head, String::from_utf8_lossy(rest).into_owned());
    }
    let mut body = Vec::new();
    loop {
        let eol = rest.windows(2).position(|w| w == b"\r\n").expect("chunk size");
        let n = usize::from_str_radix(std::str::from_utf8(&rest[..eol]).unwrap(), 16).unwrap();
        rest = &rest[eol + 2..];
        if n == 0 {
            break;
        }
        body.extend_from_slice(&rest[..n]);
        rest = &rest[n + 2..];
    }
    (head, String::from_utf8(body).unwrap())
}

/// The exposition with every value replaced by `N` (and the version).
fn shape(body: &str) -> Vec<String> {
    body.lines()
        .map(|l| {
            if l.starts_with('#') {
                return l.to_string();
            }
            let (k, _) = l.rsplit_once(' ').unwrap();
            let k = match k.find("{version=\"") {
                Some(i) => format!("{}{{version=\"V\"}}", &k[..i]),
                None => k.to_string(),
            };
            format!("{k} N")
        })
        .collect()
}

#[test]
fn exposition_like_haproxy() {
    let ours = start(&bin("rhaproxy"), "promex");
    let (head, body) = get(ours.addr, "/metrics");
    assert_eq!(
        head,
        "HTTP/1.1 200 OK\r\ncache-control: no-cache\r\ncontent-type: text/plain; version=0.0.4\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n"
    );
    for want in [
        "# HELP haproxy_process_nbthread Number of started threads (global.nbthread)\n# TYPE haproxy_process_nbthread gauge\n",
        "# TYPE haproxy_frontend_bytes_in_total counter\n",
        "haproxy_frontend_http_responses_total{proxy=\"stats\",code=\"1xx\"} 0\n",
        "haproxy_frontend_status{proxy=\"fe\",state=\"UP\"} 1\n",
        "haproxy_listener_status{proxy=\"stats\",listener=\"sock-1\",state=\"WAITING\"} 0\n",
        "haproxy_backend_status{proxy=\"be\",state=\"UP\"} 1\n",
        "haproxy_server_queue_limit{proxy=\"be\",server=\"s1\"} NaN\n",
        "haproxy_server_queue_limit{proxy=\"be\",server=\"s2\"} 10\n",
        "haproxy_server_limit_sessions{proxy=\"be\",server=\"s2\"} 12\n",
        "haproxy_server_idle_connections_limit{proxy=\"be\",server=\"s1\"} NaN\n",
        "haproxy_server_idle_connections_limit{proxy=\"be\",server=\"s2\"} 42\n",
        "haproxy_server_check_failures_total{proxy=\"be\",server=\"s1\"} NaN\n",
        "haproxy_server_status{proxy=\"be\",server=\"s3\",state=\"MAINT\"} 1\n",
        "haproxy_backend_agg_server_status{proxy=\"be\",state=\"UP\"} 2\n",
        "haproxy_backend_downtime_seconds_total{proxy=\"stats\"} NaN\n",
        "haproxy_server_max_queue_time_seconds{proxy=\"be\",server=\"s1\"} 0.000000\n",
        "# HELP haproxy_sticktable_size Stick table size.\n# TYPE haproxy_sticktable_size gauge\nhaproxy_sticktable_size{name=\"be\",type=\"ip\"} 1048576\n",
    ] {
        assert!(body.contains(want), "missing {want:?}");
    }
    // One header per metric, also for the six response classes.
    assert_eq!(body.matches("# HELP haproxy_server_http_responses_total ").count(), 1);
    // HTTP-only metrics skip TCP proxies.
    assert!(!body.contains("haproxy_frontend_http_requests_total{proxy=\"tfe\"}"));
    assert!(body.contains("haproxy_frontend_connections_total{proxy=\"tfe\"}"));
    // Scopes.
    let (_, b) = get(ours.addr, "/metrics?scope=");
    assert_eq!(b, "");
    let (_, b) = get(ours.addr, "/metrics?scope=server&no-maint");
    assert!(b.starts_with("# HELP haproxy_server_current_queue "));
    assert!(!b.contains("haproxy_process") && !b.contains("haproxy_backend") && !b.contains("server=\"s3\""));
    let (h, _) = get(ours.addr, "/metrics?scope");
    assert!(h.starts_with("HTTP/1.1 400 Bad request\r\n"), "{h}");
    // Not for the service: the listen has no server.
    let (h, _) = get(ours.addr, "/other");
    assert!(h.starts_with("HTTP/1.1 503 "), "{h}");

    if let Some(hap) = real_haproxy() {
        let theirs = start(&hap, "promex-ref");
        for target in [
            "/metrics",
            "/metrics?scope=frontend&scope=backend",
            "/metrics?scope=listener&scope=server",
        ] {
            let (h1, b1) = get(ours.addr, target);
            let (h2, b2) = get(theirs.addr, target);
            assert_eq!(h1, h2, "{target}");
            let (a, b) = (shape(&b1), shape(&b2));
            let diff: Vec<_> = a.iter().zip(&b).filter(|(x, y)| x != y).take(5).collect();
            assert!(
                diff.is_empty() && a.len() == b.len(),
                "{target}: {diff:?} ({} vs {})",
                a.len(),
                b.len()
            );
        }
    }
}
