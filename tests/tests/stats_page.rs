//! The statistics web page (`stats uri`, `stats auth`, `stats admin`...)
//! against HAProxy 2.6.12: the 401 of `stats auth` byte for byte, the
//! headers of the page and its exports, the CSV export in `show stat`'s
//! format (same header line, same rows, same columns as the stats socket),
//! `;up`, the admin form's POST and its effect on `show stat`, and the
//! HTML layout. The expected texts were recorded from /usr/sbin/haproxy;
//! when it is installed the test runs it with the same configuration and
//! compares live.

use rhaproxy_tests::{
    bin, cli, exchange_quiet, free_port, real_haproxy, spawn_proxy, wait_listening, wait_unix, Proc, TempDir,
};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

const T: Duration = Duration::from_secs(5);
const QUIET: Duration = Duration::from_millis(400);

/// admin:secret
const GOOD: &str = "YWRtaW46c2VjcmV0";
/// admin:wrong
const BAD: &str = "YWRtaW46d3Jvbmc=";

struct Inst {
    _p: Proc,
    _dir: TempDir,
    stats: SocketAddr,
    fe: SocketAddr,
    sock: PathBuf,
}

/// A listen serving the page (auth, realm, refresh, admin), a frontend
/// whose own page has no auth, and a backend with a server that is up
/// (no check), one disabled, and one checked against a closed port.
fn start(prog: &Path, tag: &str) -> Inst {
    let dir = TempDir::new(tag);
    let (sp, fp, dead) = (free_port(), free_port(), free_port());
    let sock = dir.path().join("stats.sock");
    let cfg = format!(
        "global
    stats socket {sock} level admin
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
listen stats
    bind 127.0.0.1:{sp}
    stats enable
    stats uri /haproxy?stats
    stats auth admin:secret
    stats realm My\\ Stats
    stats refresh 10s
    stats admin if TRUE
frontend fe
    bind 127.0.0.1:{fp}
    stats uri /st
    stats scope be
    stats admin if {{ hdr(x-admin) -m found }}
    default_backend be
backend be
    server s1 127.0.0.1:{dead}
    server s2 127.0.0.1:{dead} disabled
    server s3 127.0.0.1:{dead} check inter 100 fall 1
",
        sock = sock.display()
    );
    let path = dir.write("stats.cfg", &cfg);
    let p = spawn_proxy(prog, &path, tag);
    let stats = SocketAddr::from(([127, 0, 0, 1], sp));
    let fe = SocketAddr::from(([127, 0, 0, 1], fp));
    assert!(wait_listening(stats, T) && wait_listening(fe, T), "{tag} did not start");
    assert!(wait_unix(&sock, T));
    // Let the failing check take s3 down.
    let deadline = std::time::Instant::now() + T;
    let s3_down = || {
        cli(&sock, "show stat", T)
            .lines()
            .any(|l| l.starts_with("be,s3,") && l.split(',').nth(17) == Some("DOWN"))
    };
    while !s3_down() {
        assert!(std::time::Instant::now() < deadline, "s3 never went down");
        std::thread::sleep(Duration::from_millis(50));
    }
    Inst {
        _p: p,
        _dir: dir,
        stats,
        fe,
        sock,
    }
}

fn instances() -> Vec<(&'static str, Inst)> {
    let mut v = vec![("rhaproxy", start(&bin("rhaproxy"), "stats-page"))];
    if let Some(h) = real_haproxy() {
        v.push(("haproxy", start(&h, "stats-page-ref")));
    }
    v
}

/// Head (as text) and de-chunked body of one exchange.
fn split(resp: &[u8]) -> (String, Vec<u8>) {
    let end = resp.windows(4).position(|w| w == b"\r\n\r\n").expect("a response head") + 4;
    let head = String::from_utf8_lossy(&resp[..end]).into_owned();
    let mut rest = &resp[end..];
    if !head.contains("transfer-encoding: chunked") {
        return (head, rest.to_vec());
    }
    let mut body = Vec::new();
    loop {
        let eol = rest.windows(2).position(|w| w == b"\r\n").expect("chunk size line");
        let n = usize::from_str_radix(std::str::from_utf8(&rest[..eol]).unwrap(), 16).unwrap();
        rest = &rest[eol + 2..];
        if n == 0 {
            break;
        }
        body.extend_from_slice(&rest[..n]);
        rest = &rest[n + 2..];
    }
    (head, body)
}

fn get(addr: SocketAddr, target: &str, auth: Option<&str>, extra: &str) -> (String, Vec<u8>) {
    let auth = auth.map_or(String::new(), |a| format!("Authorization: Basic {a}\r\n"));
    let req = format!("GET {target} HTTP/1.1\r\nHost: x\r\n{auth}{extra}Connection: close\r\n\r\n");
    split(&exchange_quiet(addr, req.as_bytes(), T, T))
}

fn post(addr: SocketAddr, target: &str, extra: &str, body: &str) -> String {
    let req = format!(
        "POST {target} HTTP/1.1\r\nHost: x\r\n{extra}Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    String::from_utf8_lossy(&exchange_quiet(addr, req.as_bytes(), QUIET, T)).into_owned()
}

/// (pxname, svname, status) of each CSV row.
fn rows(csv: &str) -> Vec<(String, String, String)> {
    csv.lines()
        .skip(1)
        .filter(|l| !l.is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[0].into(), f[1].into(), f[17].into())
        })
        .collect()
}

#[test]
fn auth_401_then_200() {
    for (who, i) in instances() {
        let want_401 = "HTTP/1.1 401 Unauthorized\r\ncontent-length: 112\r\ncache-control: no-cache\r\ncontent-type: text/html\r\nwww-authenticate: Basic realm=\"My Stats\"\r\nconnection: close\r\n\r\n";
        let body_401 = "<html><body><h1>401 Unauthorized</h1>\nYou need a valid user and password to access this content.\n</body></html>\n";
        for auth in [None, Some(BAD)] {
            let (h, b) = get(i.stats, "/haproxy?stats", auth, "");
            assert_eq!(h, want_401, "{who} {auth:?}");
            assert_eq!(String::from_utf8_lossy(&b), body_401, "{who}");
        }
        let (h, b) = get(i.stats, "/haproxy?stats", Some(GOOD), "");
        assert_eq!(
            h,
            "HTTP/1.1 200 OK\r\ncache-control: no-cache\r\ncontent-type: text/html\r\nrefresh: 10\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n",
            "{who}"
        );
        let page = String::from_utf8_lossy(&b);
        assert!(page.starts_with("<!DOCTYPE HTML PUBLIC"), "{who}");
        assert!(page.ends_with("</body></html>\n"), "{who}");
        // Not for the page: the request goes on to the backend.
        let (h, _) = get(i.stats, "/other", None, "");
        assert!(h.starts_with("HTTP/1.1 503"), "{who}: {h}");
    }
}

#[test]
fn csv_is_show_stat_format() {
    for (who, i) in instances() {
        let (h, b) = get(i.stats, "/haproxy?stats;csv;norefresh", Some(GOOD), "");
        assert_eq!(
            h,
            "HTTP/1.1 200 OK\r\ncache-control: no-cache\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n",
            "{who}"
        );
        let csv = String::from_utf8(b).unwrap();
        let sock = cli(&i.sock, "show stat", T);
        // One writer: the same header line and rows as the stats socket,
        // each with as many columns.
        assert_eq!(csv.lines().next(), sock.lines().next(), "{who}");
        let names = |t: &str| rows(t).into_iter().map(|(p, s, _)| (p, s)).collect::<Vec<_>>();
        assert_eq!(names(&csv), names(&sock), "{who}");
        let ncols = sock.lines().next().unwrap().matches(',').count();
        assert!(csv.lines().all(|l| l.matches(',').count() == ncols), "{who}");
        let want = [
            ("stats", "FRONTEND", "OPEN"),
            ("stats", "BACKEND", "UP"),
            ("fe", "FRONTEND", "OPEN"),
            ("be", "s1", "no check"),
            ("be", "s2", "MAINT"),
            ("be", "s3", "DOWN"),
            ("be", "BACKEND", "UP"),
        ];
        let got = rows(&csv);
        assert_eq!(got.len(), want.len(), "{who}: {csv}");
        for (g, w) in got.iter().zip(want) {
            assert_eq!((g.0.as_str(), g.1.as_str(), g.2.as_str()), w, "{who}");
        }
        // The page leaves addresses and algorithms to `show-legends`.
        let be = csv.lines().find(|l| l.starts_with("be,BACKEND,")).unwrap();
        assert!(!be.contains("roundrobin"), "{who}: {be}");
        // `stats scope be` on the frontend's page, which has no auth.
        let (_, b) = get(i.fe, "/st;csv", None, "");
        let scoped: Vec<_> = rows(&String::from_utf8(b).unwrap()).into_iter().map(|r| r.1).collect();
        assert_eq!(scoped, ["s1", "s2", "s3", "BACKEND"], "{who}");
        // JSON and HEAD.
        let (h, b) = get(i.fe, "/st;json", None, "");
        assert!(h.contains("content-type: application/json\r\n"), "{who}");
        assert!(
            b.starts_with(b"[[{\"objType\":\"Backend\"") || b.starts_with(b"[[{\"objType\":\"Server\""),
            "{who}"
        );
        let (h, b) = get(i.fe, "/st;json-schema", None, "");
        assert!(h.contains("content-type: application/json\r\n"), "{who}");
        assert_eq!(b.len(), 2783, "{who}");
        assert_eq!(
            cli(&i.sock, "show schema json", T).as_bytes(),
            [&b[..], b"\n"].concat(),
            "{who}"
        );
        let req = b"HEAD /st HTTP/1.1\r\nHost: x\r\n\r\n";
        let r = String::from_utf8_lossy(&exchange_quiet(i.fe, req, QUIET, T)).into_owned();
        assert_eq!(
            r, "HTTP/1.1 200 OK\r\ncache-control: no-cache\r\ncontent-type: text/html\r\n\r\n",
            "{who}"
        );
    }
}

#[test]
fn up_hides_down_and_maintenance() {
    for (who, i) in instances() {
        let (_, b) = get(i.fe, "/st;csv;up", None, "");
        let got = rows(&String::from_utf8(b).unwrap());
        let names: Vec<_> = got.iter().map(|r| r.1.as_str()).collect();
        assert_eq!(names, ["s1", "BACKEND"], "{who}");
        // With `up`, the backend's status counts its usable servers.
        assert_eq!(got[1].2, "UP (1/3)", "{who}");
        let (_, b) = get(i.fe, "/st;csv;no-maint", None, "");
        let names: Vec<_> = rows(&String::from_utf8(b).unwrap()).into_iter().map(|r| r.1).collect();
        assert_eq!(names, ["s1", "s3", "BACKEND"], "{who}");
    }
}

#[test]
fn admin_post_changes_servers() {
    for (who, i) in instances() {
        let see_other = |loc: &str| {
            format!(
                "HTTP/1.1 303 See Other\r\ncache-control: no-cache\r\ncontent-type: text/plain\r\ncontent-length: 0\r\nlocation: {loc}\r\n\r\n"
            )
        };
        // Without admin rights nothing changes.
        let r = post(i.fe, "/st", "", "s=s1&action=maint&b=be");
        assert_eq!(r, see_other("/st;st=DENY"), "{who}");
        assert!(
            cli(&i.sock, "show stat", T).contains("be,s1,0,0,0,0,,0,0,0,,0,,0,0,0,0,no check,"),
            "{who}"
        );
        // The form's fields, the backend by id as the page writes it.
        let id = cli(&i.sock, "show stat", T)
            .lines()
            .find(|l| l.starts_with("be,BACKEND,"))
            .map(|l| l.split(',').nth(27).unwrap().to_string())
            .unwrap();
        let r = post(
            i.fe,
            "/st;up",
            "x-admin: 1\r\n",
            &format!("s=s1&action=drain&b=%23{id}"),
        );
        assert_eq!(r, see_other("/st;st=DONE;up"), "{who}");
        assert!(
            cli(&i.sock, "show stat", T).contains("be,s1,0,0,0,0,,0,0,0,,0,,0,0,0,0,DRAIN,"),
            "{who}"
        );
        let r = post(i.fe, "/st", "x-admin: 1\r\n", "s=s1&s=zz&action=maint&b=be");
        assert_eq!(r, see_other("/st;st=PART"), "{who}");
        assert!(
            cli(&i.sock, "show stat", T).contains("be,s1,0,0,0,0,,0,0,0,,0,,0,0,0,0,MAINT,"),
            "{who}"
        );
        let r = post(i.fe, "/st", "x-admin: 1\r\n", "s=s1&s=s2&action=ready&b=be");
        assert_eq!(r, see_other("/st;st=DONE"), "{who}");
        let st = cli(&i.sock, "show stat", T);
        assert!(st.contains("be,s1,0,0,0,0,,0,0,0,,0,,0,0,0,0,no check,"), "{who}: {st}");
        assert!(st.contains("be,s2,0,0,0,0,,0,0,0,,0,,0,0,0,0,no check,"), "{who}: {st}");
        let r = post(i.fe, "/st", "x-admin: 1\r\n", "s=s1&action=bogus&b=be");
        assert_eq!(r, see_other("/st;st=ERRP"), "{who}");
        let r = post(i.fe, "/st", "x-admin: 1\r\n", "s=s1&action=maint&b=nosuch");
        assert_eq!(r, see_other("/st;st=ERRP"), "{who}");
        // The page then shows the result.
        let (_, b) = get(i.fe, "/st;st=DONE", None, "x-admin: 1\r\n");
        let page = String::from_utf8_lossy(&b);
        assert!(page.contains("Action processed successfully."), "{who}");
        assert!(page.contains("<form method=\"post\">"), "{who}");
    }
}

#[test]
fn html_layout_like_haproxy() {
    let all = instances();
    let pages: Vec<(&str, String)> = all
        .iter()
        .map(|(who, i)| {
            let (_, b) = get(i.fe, "/st;up", None, "x-admin: 1\r\n");
            (*who, String::from_utf8(b).unwrap())
        })
        .collect();
    for (who, page) in &pages {
        for needle in [
            "<table class=\"tbl\" width=\"100%\">",
            "<th colspan=3>Queue</th><th colspan=3>Session rate</th><th colspan=6>Sessions</th>",
            "<tr class=\"active_no_check\"><td><input class='be-checkbox' type=\"checkbox\" name=\"s\" value=\"s1\"></td>",
            "<td class=\"active_up\">&nbsp;</td><td class=\"noborder\">active UP </td>",
            "<li><a href=\"/st\">Show all servers</a><br>",
            "<option value=\"maint\">Set state to MAINT</option>",
            ".maintain\t{background: #c07820;}",
        ] {
            assert!(page.contains(needle), "{who}: {needle}");
        }
    }
    // Live: the same markup once numbers, the version line and the style
    // sheet's spacing are set aside.
    if let [(_, ours), (_, theirs)] = &pages[..] {
        let norm = |p: &str| -> Vec<String> {
            p.replace("><", ">\n<")
                .lines()
                .filter(|l| !l.contains("version") && !l.contains("{background"))
                .map(|l| {
                    l.chars()
                        .map(|c| if c.is_ascii_digit() { '0' } else { c })
                        .collect::<String>()
                })
                .map(|l| l.replace("<span class=\"rls\">0</span>", "0"))
                .map(|l| {
                    let mut s = l.clone();
                    while s.contains("00") {
                        s = s.replace("00", "0");
                    }
                    s
                })
                .collect()
        };
        let (a, b) = (norm(ours), norm(theirs));
        let diff: Vec<_> = a.iter().zip(&b).filter(|(x, y)| x != y).take(5).collect();
        assert!(
            diff.is_empty() && a.len() == b.len(),
            "{diff:?} ({} vs {} lines)",
            a.len(),
            b.len()
        );
    }
}
