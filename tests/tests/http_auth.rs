//! End-to-end tests of HTTP authentication: `userlist` sections (users
//! with clear and crypt(3) passwords, groups declared both ways), the
//! `http_auth`/`http_auth_group`/`http_auth_*` fetches and ACLs, and the
//! 401 of `http-request auth [realm]` (built-in page or the proxy's
//! errorfile, keep-alive kept). Expected bytes are what HAProxy 2.6.12
//! sends for the same configuration (when /usr/sbin/haproxy is installed
//! the test runs it too and compares live; RECORD=1 prints its answers).

use rhaproxy_tests::{bin, exchange, free_port, real_haproxy, spawn_proxy, wait_listening, Proc, TempDir};
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const T: Duration = Duration::from_secs(3);

// crypt(3) of "secret" with each scheme (libxcrypt).
const SHA256: &str = "$5$abcdefgh$gruCpC7VkOTspMQTTSAR8mtlO9Upms.fwqE5y16JVM.";
const SHA512: &str =
    "$6$abcdefgh$ltjgWl6579NluT/Vi1nwEvcil.G5Nbc4NiXZaNGStk8PSwGfQv72N2CKPPrVACtLtip/cZ/1GM/O6IND4WQhG.";
const MD5: &str = "$1$saltsalt$9xy1btjgzLYfb7hivXtC//";

fn config(dir: &TempDir, port: u16) -> String {
    let e401 = dir.write(
        "401.http",
        "HTTP/1.1 401 Unauthorized\r\nCache-Control: no-cache\r\nWWW-Authenticate: Basic realm=\"old\"\r\nContent-Type: text/plain\r\nX-Foo: bar\r\nContent-Length: 4\r\n\r\nnope",
    );
    format!(
        "defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port}
    acl ok http_auth(L)
    acl adm http_auth_group(L) adm ops
    http-request auth realm \"Admin area\" if {{ path_beg /adm }} !adm
    http-request auth if {{ path_beg /ef }} !ok
    http-request auth if !ok
    http-request return status 200 content-type text/plain lf-string \"t=%[http_auth_type] u=%[http_auth_user] p=%[http_auth_pass] g=%[http_auth_group(L)]\\n\" unless {{ path_beg /ef }}
    use_backend ef if {{ path_beg /ef }}
backend ef
    errorfile 401 {ef}
    http-request auth realm ef
userlist L
    group adm
    group ops users s6,clear
    user s5 password {SHA256} groups adm
    user s6 password {SHA512}
    user m5 password {MD5}
    user clear insecure-password pw
",
        ef = e401.display()
    )
}

fn start(prog: &Path, dir: &TempDir) -> (Proc, SocketAddr) {
    let port = free_port();
    let cfg = dir.write("a.cfg", &config(dir, port));
    let p = spawn_proxy(prog, &cfg, "proxy");
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    assert!(wait_listening(addr, T), "{} did not start", prog.display());
    (p, addr)
}

fn basic(cred: &str) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let b = cred.as_bytes();
    let mut out = String::new();
    for c in b.chunks(3) {
        let n = (c[0] as u32) << 16 | (*c.get(1).unwrap_or(&0) as u32) << 8 | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn req(path: &str, auth: Option<&str>) -> String {
    let a = auth.map_or(String::new(), |v| format!("Authorization: {v}\r\n"));
    format!("GET {path} HTTP/1.1\r\nHost: h\r\n{a}Connection: close\r\n\r\n")
}

const PAGE_401: &str = "HTTP/1.1 401 Unauthorized\r\ncontent-length: 112\r\ncache-control: no-cache\r\ncontent-type: text/html\r\nwww-authenticate: Basic realm=\"";
const BODY_401: &str =
    "\"\r\nconnection: close\r\n\r\n<html><body><h1>401 Unauthorized</h1>\nYou need a valid user and password to access this content.\n</body></html>\n";

fn ok(body: &str) -> String {
    format!(
        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
}

fn cases() -> Vec<(String, String)> {
    let page = |realm: &str| format!("{PAGE_401}{realm}{BODY_401}");
    let b = |c: &str| format!("Basic {}", basic(c));
    vec![
        (req("/", None), page("fe")),
        (req("/adm", None), page("Admin area")),
        (req("/", Some(&b("s5:secret"))), ok("t=Basic u=s5 p=secret g=s5\n")),
        (req("/", Some(&b("s6:secret"))), ok("t=Basic u=s6 p=secret g=s6\n")),
        (req("/", Some(&b("m5:secret"))), ok("t=Basic u=m5 p=secret g=m5\n")),
        (req("/", Some(&b("clear:pw"))), ok("t=Basic u=clear p=pw g=clear\n")),
        (req("/", Some(&b("s5:wrong"))), page("fe")),
        (req("/", Some(&b("nobody:secret"))), page("fe")),
        // the hash itself is not a password
        (req("/", Some(&format!("Basic {}", basic(&format!("s5:{SHA256}"))))), page("fe")),
        // groups from the user's line and from the group's line
        (req("/adm", Some(&b("s5:secret"))), ok("t=Basic u=s5 p=secret g=s5\n")),
        (req("/adm", Some(&b("s6:secret"))), ok("t=Basic u=s6 p=secret g=s6\n")),
        (req("/adm", Some(&b("m5:secret"))), page("Admin area")),
        // HAProxy compares the scheme over its own length
        (req("/", Some(&format!("bas {}", basic("clear:pw")))), ok("t=Basic u=clear p=pw g=clear\n")),
        (req("/", Some(&format!("Basic {}=", basic("clear:pw")))), page("fe")),
        (req("/", Some("Bearer abc")), page("fe")),
        // the backend's rule, its errorfile with the header replaced
        (
            req("/ef", Some(&b("clear:pw"))),
            "HTTP/1.1 401 Unauthorized\r\ncache-control: no-cache\r\ncontent-type: text/plain\r\nx-foo: bar\r\ncontent-length: 4\r\nwww-authenticate: Basic realm=\"ef\"\r\nconnection: close\r\n\r\nnope".into(),
        ),
    ]
}

#[test]
fn auth_matches_haproxy_2_6() {
    let dir = TempDir::new("http-auth");
    let (_p, addr) = start(&bin("rhaproxy"), &dir);
    let hap = real_haproxy().map(|h| {
        let d = TempDir::new("http-auth-ref");
        let (p, a) = start(&h, &d);
        (p, a, d)
    });
    for (rq, want) in cases() {
        let got = String::from_utf8_lossy(&exchange(addr, rq.as_bytes(), T)).into_owned();
        if let Some((_, ha, _)) = &hap {
            let h = String::from_utf8_lossy(&exchange(*ha, rq.as_bytes(), T)).into_owned();
            if std::env::var_os("RECORD").is_some() {
                println!("{rq:?}\n  => {h:?}");
                continue;
            }
            assert_eq!(h, want, "real HAProxy changed for {rq:?}");
        }
        assert_eq!(got, want, "{rq:?}");
    }
}

/// The 401 keeps an HTTP/1.1 connection open: a second request on it is
/// served.
#[test]
fn auth_reply_keeps_the_connection() {
    let dir = TempDir::new("http-auth-ka");
    let (_p, addr) = start(&bin("rhaproxy"), &dir);
    let two = format!(
        "GET / HTTP/1.1\r\nHost: h\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\nAuthorization: Basic {}\r\nConnection: close\r\n\r\n",
        basic("clear:pw")
    );
    let got = String::from_utf8_lossy(&exchange(addr, two.as_bytes(), T)).into_owned();
    let first = format!("{PAGE_401}fe{BODY_401}").replace("connection: close\r\n", "");
    assert!(got.starts_with(&first), "{got}");
    assert!(got[first.len()..].starts_with("HTTP/1.1 200 OK\r\n"), "{got}");
    assert!(got.ends_with("t=Basic u=clear p=pw g=clear\n"), "{got}");
}

/// `-c` on broken userlists and references: HAProxy 2.6.12's texts.
#[test]
fn config_errors_like_haproxy() {
    let dir = TempDir::new("http-auth-cfg");
    let head = "defaults\n  mode http\n  timeout client 1s\n  timeout server 1s\n  timeout connect 1s\nfrontend fe\n  bind 127.0.0.1:1\n";
    for (body, alerts, fatal) in [
        (
            "  acl ok http_auth(nolist)\n  http-request auth if !ok\nuserlist L\n",
            &["parsing [c.cfg:8]: unable to find userlist 'nolist' referenced in arg 1 of ACL keyword 'http_auth' in proxy 'fe'."][..],
            true,
        ),
        (
            "  acl ok http_auth\n  http-request set-var(txn.x) http_auth(nope)\n",
            &[
                "multiple argument resolution errors:\n        parsing [c.cfg:8]: missing userlist name in arg 1 of ACL keyword 'http_auth' in proxy 'fe'.",
                "        parsing [c.cfg:9]: unable to find userlist 'nope' referenced in arg 1 of sample fetch keyword 'http_auth' in http-request expression in proxy 'fe'.",
            ][..],
            true,
        ),
        (
            "userlist L\n  group g users a,b\n  user a insecure-password x\n",
            &["userlist 'L': no such user 'b' specified in group 'g'"][..],
            true,
        ),
        (
            "userlist L\n  user a insecure-password x groups g\n",
            &["userlist 'L': no such group 'g' specified in user 'a'"][..],
            true,
        ),
        (
            "  acl g http_auth_group(L) adm nosuch\n  acl h http_auth_group(L)\nuserlist L\n  group adm\n",
            &[
                "proxy fe: acl g http_auth_group(): invalid group 'nosuch'.",
                "proxy fe: acl h http_auth_group(): no groups specified.",
            ][..],
            true,
        ),
        (
            "  http-request auth realm\n",
            &["parsing [c.cfg:8] : error detected in frontend 'fe' while parsing 'http-request auth' rule : missing realm value.\n."][..],
            true,
        ),
        (
            "userlist L\n  user a password x\n  user a insecure-password y\n  group g\n  group g\nuserlist L\n",
            &[
                "[WARNING]  (PID) : config : parsing [c.cfg:10]: ignoring duplicated user 'a' in userlist 'L'.",
                "parsing [c.cfg:12]: ignoring duplicated group 'g' in userlist 'L'.",
                "parsing [c.cfg:13]: ignoring duplicated userlist 'L'.",
            ][..],
            false,
        ),
        (
            "userlist L x\nuserlist\nuserlist L\n  user a foo\n  group g bar\n  nope\n",
            &[
                "parsing [c.cfg:8] : 'userlist' cannot handle unexpected argument 'x'.",
                "parsing [c.cfg:9]: 'userlist' expects <name> as arguments.",
                "parsing [c.cfg:11]: 'user' only supports 'password', 'insecure-password' and 'groups' options.",
                "parsing [c.cfg:12]: 'group' only supports 'users' option.",
                "parsing [c.cfg:13]: unknown keyword 'nope' in 'users' section",
            ][..],
            true,
        ),
    ] {
        dir.write("c.cfg", &format!("{head}{body}"));
        let mut progs = vec![bin("rhaproxy")];
        progs.extend(real_haproxy());
        for prog in progs {
            let mut c = Command::new(&prog);
            c.arg("-c").arg("-f").arg("c.cfg").current_dir(dir.path());
            let out = rhaproxy_tests::run(c, T);
            let err = String::from_utf8_lossy(&out.stderr);
            let err = err
                .lines()
                .map(|l| match l.find(") : ") {
                    Some(i) if l.starts_with('[') => format!("{}(PID){}", &l[..11], &l[i + 1..]),
                    _ => l.to_string(),
                })
                .collect::<Vec<_>>()
                .join("\n");
            assert_eq!(out.status.success(), !fatal, "{}: {body}\n{err}", prog.display());
            for a in alerts {
                assert!(err.contains(a), "{}: {body}: want {a:?} in\n{err}", prog.display());
            }
        }
    }
}
