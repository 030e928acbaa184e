//! TLS end to end: `bind ... ssl crt` with SNI selection among the
//! certificates of a directory, ALPN (h2 not offered), version limits, the
//! `ssl_fc*` fetches and `%sslv`/`%sslc`, `redirect scheme https unless
//! ssl_fc`, a large response through the TLS layer, and the start-up
//! errors on bad certificate files compared with the real HAProxy 2.6.
//!
//! Certificates are made at run time with the `openssl` command into a
//! TempDir; the client is rustls (it accepts any certificate and reports
//! which one the proxy presented).

use rhaproxy_tests::{bin, free_port, real_haproxy, run, spawn_rhaproxy, wait_listening, Proc, TempDir};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

const T: Duration = Duration::from_secs(5);

/// Makes `<name>.pem` (EC P-256 certificate + key) for the given DNS
/// names; returns its certificate's DER.
fn make_cert(dir: &TempDir, file: &str, cn: &str, sans: &[&str]) -> Vec<u8> {
    let crt = dir.path().join(format!("{file}.crt"));
    let key = dir.path().join(format!("{file}.key.tmp"));
    let san: Vec<String> = sans.iter().map(|s| format!("DNS:{s}")).collect();
    let mut c = Command::new("openssl");
    c.args([
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-days",
        "2",
    ])
    .arg("-subj")
    .arg(format!("/CN={cn}"))
    .arg("-addext")
    .arg(format!("subjectAltName={}", san.join(",")))
    .arg("-keyout")
    .arg(&key)
    .arg("-out")
    .arg(&crt);
    let o = run(c, T);
    assert!(o.status.success(), "openssl: {}", String::from_utf8_lossy(&o.stderr));
    let pem = [std::fs::read(&crt).unwrap(), std::fs::read(&key).unwrap()].concat();
    std::fs::write(dir.path().join(format!("{file}.pem")), &pem).unwrap();
    let der = {
        use rustls::pki_types::pem::PemObject;
        CertificateDer::from_pem_file(&crt).unwrap().to_vec()
    };
    std::fs::remove_file(&crt).unwrap();
    std::fs::remove_file(&key).unwrap();
    der
}

#[derive(Debug)]
struct AcceptAll(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAll {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

fn client_cfg(tls12_only: bool, alpn: &[&str]) -> Arc<rustls::ClientConfig> {
    let prov = Arc::new(rustls::crypto::ring::default_provider());
    let vers: &[&rustls::SupportedProtocolVersion] = if tls12_only {
        &[&rustls::version::TLS12]
    } else {
        &[&rustls::version::TLS13, &rustls::version::TLS12]
    };
    let mut c = rustls::ClientConfig::builder_with_provider(prov.clone())
        .with_protocol_versions(vers)
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAll(prov)))
        .with_no_client_auth();
    c.alpn_protocols = alpn.iter().map(|a| a.as_bytes().to_vec()).collect();
    Arc::new(c)
}

/// What one TLS connection saw.
struct Seen {
    cert: Vec<u8>,
    alpn: Option<Vec<u8>>,
    /// The responses read, in order (one per request).
    bodies: Vec<String>,
}

/// Connects with TLS (SNI `sni`), sends each request and reads one
/// response with a Content-Length for each. Err: handshake failure.
fn tls_requests(addr: SocketAddr, cfg: Arc<rustls::ClientConfig>, sni: &str, reqs: &[&str]) -> Result<Seen, String> {
    let sock = TcpStream::connect_timeout(&addr, T).unwrap();
    sock.set_read_timeout(Some(T)).unwrap();
    let conn = rustls::ClientConnection::new(cfg, ServerName::try_from(sni.to_string()).unwrap()).unwrap();
    let mut s = rustls::StreamOwned::new(conn, sock);
    let mut bodies = Vec::new();
    for r in reqs {
        s.write_all(r.as_bytes()).map_err(|e| e.to_string())?;
        bodies.push(read_response(&mut s)?);
    }
    Ok(Seen {
        cert: s.conn.peer_certificates().map(|c| c[0].to_vec()).unwrap_or_default(),
        alpn: s.conn.alpn_protocol().map(|a| a.to_vec()),
        bodies,
    })
}

/// Reads one HTTP/1.1 response framed by Content-Length; returns head and
/// body as text (the body only counted when larger than 64 KiB).
fn read_response(s: &mut impl Read) -> Result<String, String> {
    let mut buf = Vec::new();
    let mut b = [0u8; 16384];
    let head_end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        let n = s.read(&mut b).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err(format!("closed after {} bytes", buf.len()));
        }
        buf.extend_from_slice(&b[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let cl: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length: ")
                .map(|v| v.trim().parse().unwrap())
        })
        .unwrap_or(0);
    while buf.len() < head_end + cl {
        let n = s.read(&mut b).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err(format!("body cut at {} of {cl}", buf.len() - head_end));
        }
        buf.extend_from_slice(&b[..n]);
    }
    let body = &buf[head_end..head_end + cl];
    Ok(if cl > 65536 {
        format!("{head}<{cl} bytes>")
    } else {
        format!("{head}{}", String::from_utf8_lossy(body))
    })
}

fn spawn(dir: &TempDir, cfg: &str, addrs: &[SocketAddr]) -> Proc {
    let p = spawn_rhaproxy(dir, "tls.cfg", cfg);
    for a in addrs {
        assert!(wait_listening(*a, T), "rhaproxy did not listen on {a}");
    }
    p
}

fn have_openssl() -> bool {
    Command::new("openssl")
        .arg("version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

const GET: &str = "GET /x HTTP/1.1\r\nhost: t\r\n\r\n";

#[test]
fn sni_selection_alpn_and_fetches() {
    if !have_openssl() {
        eprintln!("openssl not installed: skipped");
        return;
    }
    let dir = TempDir::new("tls-sni");
    std::fs::create_dir(dir.path().join("certs")).unwrap();
    let certs = TempDir(dir.path().join("certs"));
    let a = make_cert(&certs, "a", "a.test", &["a.test"]);
    let b = make_cert(&certs, "b", "b.test", &["b.test", "*.wild.test"]);
    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let lport = free_port();
    let laddr: SocketAddr = format!("127.0.0.1:{lport}").parse().unwrap();
    // crt-list: b first (the default), a only for its filter's name.
    let list = dir.write(
        "list.txt",
        &format!(
            "# comment\n{0}/b.pem [ ]\n\n{0}/a.pem alias.test\n",
            certs.path().display()
        ),
    );
    let cfg = format!(
        "global\n    nbthread 1\n    tune.ssl.default-dh-param 2048\n\
defaults\n    mode http\n    timeout client 3s\n    timeout server 3s\n    timeout connect 3s\n\
frontend f\n    bind 127.0.0.1:{port} ssl crt {} alpn h2,http/1.1\n\
    bind 127.0.0.1:{lport} ssl crt-list {}\n\
    http-request return status 200 content-type text/plain lf-string \"fc=%[ssl_fc] sni=%[ssl_fc_sni] proto=%[ssl_fc_protocol] cipher=%[ssl_fc_cipher] alpn=%[ssl_fc_alpn] cert=%[ssl_c_used] hasni=%[ssl_fc_has_sni]\"\n",
        certs.path().display(),
        list.display()
    );
    let _p = spawn(&dir, &cfg, &[addr, laddr]);
    let s = tls_requests(laddr, client_cfg(false, &[]), "alias.test", &[GET]).unwrap();
    assert_eq!(s.cert, a, "crt-list filter");
    let s = tls_requests(laddr, client_cfg(false, &[]), "a.test", &[GET]).unwrap();
    assert_eq!(
        s.cert, b,
        "a's own name is replaced by its filter: default (first) certificate"
    );
    let h2 = ["h2", "http/1.1"];
    // SNI picks the certificate; h2 is not offered, so http/1.1 is chosen.
    let s = tls_requests(addr, client_cfg(false, &h2), "b.test", &[GET, GET]).unwrap();
    assert_eq!(s.cert, b, "b.test must get b's certificate");
    assert_eq!(s.alpn.as_deref(), Some(&b"http/1.1"[..]));
    assert_eq!(s.bodies.len(), 2, "keep-alive over TLS");
    for body in &s.bodies {
        assert!(
            body.ends_with("fc=1 sni=b.test proto=TLSv1.3 cipher=TLS_AES_256_GCM_SHA384 alpn=http/1.1 cert=0 hasni=1"),
            "{body}"
        );
    }
    // A wildcard name, and an unknown one (the first certificate answers).
    let s = tls_requests(addr, client_cfg(false, &[]), "x.wild.test", &[GET]).unwrap();
    assert_eq!(s.cert, b);
    assert!(s.bodies[0].contains("sni=x.wild.test"), "{}", s.bodies[0]);
    assert!(s.bodies[0].contains("alpn= "), "no ALPN asked: {}", s.bodies[0]);
    let s = tls_requests(addr, client_cfg(false, &[]), "other.test", &[GET]).unwrap();
    assert_eq!(s.cert, a, "unknown SNI gets the default (first) certificate");
    // TLSv1.2 with an ECDSA certificate.
    let s = tls_requests(addr, client_cfg(true, &[]), "a.test", &[GET]).unwrap();
    assert!(
        s.bodies[0].contains("proto=TLSv1.2 cipher=ECDHE-ECDSA-AES256-GCM-SHA384"),
        "{}",
        s.bodies[0]
    );
}

#[test]
fn redirect_unless_ssl_fc_and_versions() {
    if !have_openssl() {
        return;
    }
    let dir = TempDir::new("tls-redir");
    make_cert(&dir, "a", "a.test", &["a.test"]);
    let (p1, p2, p3) = (free_port(), free_port(), free_port());
    let addrs: Vec<SocketAddr> = [p1, p2, p3]
        .iter()
        .map(|p| format!("127.0.0.1:{p}").parse().unwrap())
        .collect();
    let cfg = format!(
        "global\n    nbthread 1\n    crt-base {}\n    ssl-default-bind-options no-sslv3 no-tlsv10 no-tls-tickets\n\
defaults\n    mode http\n    timeout client 3s\n    timeout server 3s\n    timeout connect 3s\n\
frontend f\n    bind 127.0.0.1:{p1}\n    bind 127.0.0.1:{p2} ssl crt a.pem\n    bind 127.0.0.1:{p3} ssl crt a.pem ssl-min-ver TLSv1.3\n\
    http-request redirect scheme https code 301 if !{{ ssl_fc }}\n\
    http-request set-header X-Forwarded-Proto https if {{ ssl_fc }}\n\
    http-request return status 200 content-type text/plain lf-string \"xfp=%[req.hdr(x-forwarded-proto)]\"\n",
        dir.path().display()
    );
    let _p = spawn(&dir, &cfg, &addrs);
    let plain = rhaproxy_tests::exchange(
        addrs[0],
        b"GET /a?b HTTP/1.1\r\nhost: h\r\nconnection: close\r\n\r\n",
        T,
    );
    let plain = String::from_utf8_lossy(&plain);
    assert!(plain.starts_with("HTTP/1.1 301"), "{plain}");
    assert!(plain.contains("location: https://h/a?b"), "{plain}");
    let s = tls_requests(addrs[1], client_cfg(false, &[]), "a.test", &[GET]).unwrap();
    assert!(s.bodies[0].ends_with("xfp=https"), "{}", s.bodies[0]);
    // ssl-min-ver TLSv1.3 refuses a TLSv1.2-only client.
    assert!(tls_requests(addrs[2], client_cfg(true, &[]), "a.test", &[GET]).is_err());
    let s = tls_requests(addrs[2], client_cfg(false, &[]), "a.test", &[GET]).unwrap();
    assert!(s.bodies[0].ends_with("xfp=https"));
}

#[test]
fn large_response_through_tls() {
    if !have_openssl() {
        return;
    }
    let dir = TempDir::new("tls-big");
    make_cert(&dir, "a", "a.test", &["a.test"]);
    let oport = free_port();
    let origin: SocketAddr = format!("127.0.0.1:{oport}").parse().unwrap();
    let mut c = Command::new(bin("httpterm"));
    c.args(["-t", "1", "-L", &origin.to_string()]).stdout(Stdio::null());
    let _o = Proc::spawn(c, "httpterm");
    assert!(wait_listening(origin, T));
    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let cfg = format!(
        "defaults\n    mode http\n    timeout client 5s\n    timeout server 5s\n    timeout connect 3s\n\
frontend f\n    bind 127.0.0.1:{port} ssl crt {}/a.pem\n    default_backend b\n\
backend b\n    server o {origin}\n",
        dir.path().display()
    );
    let _p = spawn(&dir, &cfg, &[addr]);
    let big = "GET /?s=700k HTTP/1.1\r\nhost: t\r\n\r\n";
    let s = tls_requests(addr, client_cfg(false, &[]), "a.test", &[big, GET, big]).unwrap();
    assert!(s.bodies[0].ends_with("<716800 bytes>"), "{}", s.bodies[0]);
    assert!(s.bodies[1].starts_with("HTTP/1.1 200"), "{}", s.bodies[1]);
    assert!(s.bodies[2].ends_with("<716800 bytes>"));
}

/// `-c` on a configuration: the first ALERT line, without its pid.
fn first_alert(exe: &std::path::Path, dir: &TempDir, cfg: &str) -> String {
    let path = dir.write("chk.cfg", cfg);
    let mut c = Command::new(exe);
    c.arg("-c").arg("-f").arg(&path);
    let o = run(c, T);
    assert!(!o.status.success(), "must fail: {cfg}");
    let text = String::from_utf8_lossy(&o.stderr).into_owned();
    let line = text.lines().find(|l| l.contains("ALERT")).unwrap_or("").to_string();
    line.split_once(") : ").map(|x| x.1.to_string()).unwrap_or(line)
}

#[test]
fn certificate_errors_as_haproxy() {
    if !have_openssl() {
        return;
    }
    let dir = TempDir::new("tls-errs");
    make_cert(&dir, "a", "a.test", &["a.test"]);
    let d = dir.path().display();
    let pem = std::fs::read_to_string(dir.path().join("a.pem")).unwrap();
    let cert_only = &pem[..pem.find("-----BEGIN PRIVATE KEY-----").unwrap()];
    dir.write("certonly.pem", cert_only);
    dir.write("garbage.pem", "not a certificate\n");
    let cases = [
        ("missing.pem", format!("config : parsing [{d}/chk.cfg:3] : 'bind 127.0.0.1:1' in section 'frontend' : unable to stat SSL certificate from file '{d}/missing.pem' : No such file or directory.")),
        ("garbage.pem", format!("config : parsing [{d}/chk.cfg:3] : 'bind 127.0.0.1:1' in section 'frontend' : unable to load certificate from file '{d}/garbage.pem'.")),
        ("certonly.pem", format!("config : parsing [{d}/chk.cfg:3] : 'bind 127.0.0.1:1' in section 'frontend' : No Private Key found in '{d}/certonly.pem.key'.")),
    ];
    for (file, want) in &cases {
        // Line 3 is the bind line.
        let cfg = format!("defaults\nfrontend f\n    bind 127.0.0.1:1 ssl crt {d}/{file}\n");
        assert_eq!(&first_alert(&bin("rhaproxy"), &dir, &cfg), want, "{file}");
        if let Some(h) = real_haproxy() {
            assert_eq!(&first_alert(&h, &dir, &cfg), want, "haproxy on {file}");
        }
    }
    // What rustls cannot do is refused, never silently weakened.
    for (opt, word) in [
        ("ssl-min-ver TLSv1.0", "'TLSv1.0' is not supported"),
        ("ciphers AES256-SHA", "unable to set SSL cipher list to 'AES256-SHA'"),
        (
            "verify required",
            "verify is enabled but no CA file specified for bind '127.0.0.1:1'",
        ),
    ] {
        let cfg = format!("defaults\nfrontend f\n    bind 127.0.0.1:1 ssl crt {d}/a.pem {opt}\n");
        let a = first_alert(&bin("rhaproxy"), &dir, &cfg);
        assert!(a.contains(word), "{opt}: {a}");
    }
}

/// Makes a CA and a leaf certificate it signs (`leaf.pem` with key,
/// `ca.crt`), for `verify required` toward a server.
fn make_ca_and_leaf(dir: &TempDir, names: &[&str]) {
    let p = |f: &str| dir.path().join(f);
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    let mut c = Command::new("openssl");
    c.args(["req", "-x509"])
        .args(ec)
        .args(["-days", "2", "-subj", "/CN=test-ca", "-keyout"])
        .arg(p("ca.key"))
        .arg("-out")
        .arg(p("ca.crt"));
    assert!(run(c, T).status.success());
    let mut c = Command::new("openssl");
    c.arg("req")
        .args(ec)
        .args(["-subj", &format!("/CN={}", names[0]), "-keyout"])
        .arg(p("leaf.key"))
        .arg("-out")
        .arg(p("leaf.csr"));
    assert!(run(c, T).status.success());
    let san: Vec<String> = names.iter().map(|n| format!("DNS:{n}")).collect();
    std::fs::write(p("ext.cnf"), format!("subjectAltName={}\n", san.join(","))).unwrap();
    let mut c = Command::new("openssl");
    c.args(["x509", "-req", "-days", "2", "-in"])
        .arg(p("leaf.csr"))
        .arg("-CA")
        .arg(p("ca.crt"))
        .arg("-CAkey")
        .arg(p("ca.key"))
        .arg("-CAcreateserial")
        .arg("-extfile")
        .arg(p("ext.cnf"))
        .arg("-out")
        .arg(p("leaf.crt"));
    let o = run(c, T);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let pem = [
        std::fs::read(p("leaf.crt")).unwrap(),
        std::fs::read(p("leaf.key")).unwrap(),
    ]
    .concat();
    std::fs::write(p("leaf.pem"), pem).unwrap();
}

/// `server ... ssl` toward a TLS frontend of the same process (the
/// origin): SNI from a constant and from the Host header, `verify
/// required` with a CA (a name mismatch fails the connection: 503 as
/// HAProxy), `verify none`, and TLS health checks (L6OK, L6RSP against a
/// plain port, `option httpchk` over TLS).
#[test]
fn server_side_tls_and_checks() {
    if !have_openssl() {
        return;
    }
    let dir = TempDir::new("tls-srv");
    make_ca_and_leaf(&dir, &["origin.test", "*.origin.test"]);
    let d = dir.path().display();
    let (po, pp, pf) = (free_port(), free_port(), free_port());
    let addr = |p: u16| -> SocketAddr { format!("127.0.0.1:{p}").parse().unwrap() };
    let sock = dir.path().join("stats.sock");
    let cfg = format!(
        "global\n    nbthread 1\n    stats socket {} level admin\n\
defaults\n    mode http\n    timeout client 3s\n    timeout server 3s\n    timeout connect 3s\n    timeout check 1s\n\
frontend origin\n    bind 127.0.0.1:{po} ssl crt {d}/leaf.pem\n\
    http-request return status 200 content-type text/plain lf-string \"sni=%[ssl_fc_sni] path=%[path]\"\n\
frontend plain\n    bind 127.0.0.1:{pp}\n    http-request return status 200\n\
frontend f\n    bind 127.0.0.1:{pf}\n    use_backend %[path,field(2,/)]\n\
backend const\n    server s 127.0.0.1:{po} ssl verify required ca-file {d}/ca.crt sni str(origin.test) check inter 200\n\
backend host\n    server s 127.0.0.1:{po} ssl verify required ca-file {d}/ca.crt sni req.hdr(host)\n\
backend none\n    server s 127.0.0.1:{po} ssl verify none\n\
backend httpchk\n    option httpchk GET /health\n    server s 127.0.0.1:{po} ssl verify none check inter 200\n\
backend notls\n    server s 127.0.0.1:{pp} ssl verify none check inter 200\n\
backend chksni\n    option httpchk GET /x\n    http-check expect string sni=origin.test\n\
    server s 127.0.0.1:{po} ssl verify none check-sni origin.test check inter 200\n",
        sock.display()
    );
    let _p = spawn(&dir, &cfg, &[addr(po), addr(pp), addr(pf)]);
    let get = |path: &str, host: &str| -> String {
        let r = rhaproxy_tests::exchange(
            addr(pf),
            format!("GET {path} HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\n\r\n").as_bytes(),
            T,
        );
        String::from_utf8_lossy(&r).into_owned()
    };
    let r = get("/const/a", "whatever");
    assert!(
        r.starts_with("HTTP/1.1 200") && r.ends_with("sni=origin.test path=/const/a"),
        "{r}"
    );
    let r = get("/host/b", "x.origin.test:8443");
    assert!(r.ends_with("sni=x.origin.test path=/host/b"), "{r}");
    // The certificate does not cover this name: the TLS connection fails,
    // which is a connection failure (503), not a bad response.
    let r = get("/host/c", "other.test");
    assert!(r.starts_with("HTTP/1.1 503"), "{r}");
    let r = get("/none/d", "other.test");
    assert!(r.ends_with("sni= path=/none/d"), "no SNI without `sni`: {r}");
    // Health checks over TLS.
    let deadline = std::time::Instant::now() + T;
    let want = [
        ("const", "UP", "L6OK"),
        ("httpchk", "UP", "L7OK"),
        ("notls", "DOWN", "L6RSP"),
        ("chksni", "UP", "L7OK"),
    ];
    loop {
        let stat = rhaproxy_tests::cli(&sock, "show stat", T);
        let got: Vec<(String, String, String)> = stat
            .lines()
            .map(|l| l.split(',').collect::<Vec<_>>())
            .filter(|f| f.len() > 37 && f[1] == "s")
            .map(|f| (f[0].to_string(), f[17].to_string(), f[36].to_string()))
            .collect();
        let ok = want
            .iter()
            .all(|(b, st, chk)| got.iter().any(|(gb, gs, gc)| gb == b && gs == st && gc == chk));
        if ok {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "checks: {got:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Client certificates: `verify required` refuses a client without one,
/// `verify optional` lets it in; a certificate signed by `ca-file` is seen
/// by `ssl_c_used`/`ssl_c_verify`, one from another CA fails the handshake.
#[test]
fn client_certificates() {
    if !have_openssl() {
        return;
    }
    let dir = TempDir::new("tls-ccert");
    make_ca_and_leaf(&dir, &["client.test"]);
    let other = TempDir::new("tls-ccert-other");
    make_ca_and_leaf(&other, &["client.test"]);
    make_cert(&dir, "srv", "srv.test", &["srv.test"]);
    let d = dir.path().display();
    let (p1, p2, p3) = (free_port(), free_port(), free_port());
    let addr = |p: u16| -> SocketAddr { format!("127.0.0.1:{p}").parse().unwrap() };
    let cfg = format!(
        "defaults\n    mode http\n    timeout client 3s\n    timeout server 3s\n    timeout connect 3s\n\
frontend req\n    bind 127.0.0.1:{p1} ssl crt {d}/srv.pem verify required ca-file {d}/ca.crt\n\
    bind 127.0.0.1:{p2} ssl crt {d}/srv.pem verify optional ca-file {d}/ca.crt\n\
    http-request return status 200 content-type text/plain lf-string \"used=%[ssl_c_used] verify=%[ssl_c_verify]\"\n\
frontend plain\n    bind 127.0.0.1:{p3}\n    default_backend mtls\n\
backend mtls\n    server s 127.0.0.1:{p1} ssl verify none crt {d}/leaf.pem\n"
    );
    let _p = spawn(&dir, &cfg, &[addr(p1), addr(p2), addr(p3)]);
    // `server ... crt`: rhaproxy shows its client certificate.
    let r = rhaproxy_tests::exchange(addr(p3), b"GET / HTTP/1.1\r\nhost: h\r\nconnection: close\r\n\r\n", T);
    let r = String::from_utf8_lossy(&r);
    assert!(r.ends_with("used=1 verify=0"), "{r}");
    let with_cert = |d: &TempDir| -> Arc<rustls::ClientConfig> {
        use rustls::pki_types::pem::PemObject;
        let prov = Arc::new(rustls::crypto::ring::default_provider());
        let chain = vec![CertificateDer::from_pem_file(d.path().join("leaf.crt")).unwrap()];
        let key = rustls::pki_types::PrivateKeyDer::from_pem_file(d.path().join("leaf.key")).unwrap();
        Arc::new(
            rustls::ClientConfig::builder_with_provider(prov.clone())
                .with_safe_default_protocol_versions()
                .unwrap()
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAll(prov)))
                .with_client_auth_cert(chain, key)
                .unwrap(),
        )
    };
    let s = tls_requests(addr(p1), with_cert(&dir), "srv.test", &[GET]).unwrap();
    assert!(s.bodies[0].ends_with("used=1 verify=0"), "{}", s.bodies[0]);
    assert!(tls_requests(addr(p1), client_cfg(false, &[]), "srv.test", &[GET]).is_err());
    assert!(tls_requests(addr(p1), with_cert(&other), "srv.test", &[GET]).is_err());
    let s = tls_requests(addr(p2), client_cfg(false, &[]), "srv.test", &[GET]).unwrap();
    assert!(s.bodies[0].ends_with("used=0 verify=0"), "{}", s.bodies[0]);
    let s = tls_requests(addr(p2), with_cert(&dir), "srv.test", &[GET]).unwrap();
    assert!(s.bodies[0].ends_with("used=1 verify=0"), "{}", s.bodies[0]);
}
