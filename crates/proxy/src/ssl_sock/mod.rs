//! TLS transport (HAProxy's `ssl_sock.c`, the `xprt_ssl` layer under the
//! mux): builds the TLS contexts of `bind ... ssl` lines from the
//! configuration model, and moves bytes between a socket and a stream's
//! channel through a rustls connection. See LIFECYCLE.md beside this file
//! for the life cycle of a TLS side.
//!
//! rustls is sans-IO: it never touches the socket. This module reads and
//! writes the socket itself (non-blocking, on the stream's thread) and
//! feeds rustls, so TLS fits the epoll loop with no runtime of its own.
//! Plain connections never reach this module: a stream side carries
//! `tls: None` and its I/O takes the raw path after one `Option` check.
//!
//! Owns: certificate loading, SNI selection, TLS versions/suites/ALPN of a
//! listener, the per-connection rustls state and its I/O. Must not touch
//! stream logic (analyzers, timeouts): it reports bytes, EOF and errors.

use config::model::{BindSsl, Global, ServerSsl, SslOpts, TlsVer};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::ring as provider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::pki_types::{ServerName, UnixTime};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, ServerConfig, SupportedProtocolVersion};
use std::collections::HashMap;
use std::io::{self, IoSlice, Read, Write};
use std::os::fd::RawFd;
use std::sync::Arc;

/// The rustls state of one TLS connection (client or server side).
pub struct Tls {
    pub conn: rustls::Connection,
    /// The peer closed the TCP connection (read returned 0).
    eof: bool,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("handshaking", &self.conn.is_handshaking())
            .finish()
    }
}

/// Outcome of a TLS read.
pub enum Rx {
    /// Plaintext bytes delivered.
    Data(usize),
    /// The peer closed (close_notify or TCP FIN).
    Eof,
    /// Nothing now: the socket has no more bytes.
    Again,
    /// Handshake or record failure (an alert was sent when possible).
    Error,
}

/// A socket as rustls' byte source and sink. Sends never raise SIGPIPE.
struct FdIo(RawFd);

impl Read for FdIo {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        crate::sock::recv(self.0, buf)
    }
}

impl Write for FdIo {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        crate::sock::send(self.0, buf, false)
    }
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        crate::sock::sendv(self.0, bufs)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Tls {
    /// A server-side connection for a client accepted on a TLS listener.
    pub fn accept(cfg: &Arc<ServerConfig>) -> Option<Box<Tls>> {
        let c = rustls::ServerConnection::new(cfg.clone()).ok()?;
        Some(Box::new(Tls {
            conn: c.into(),
            eof: false,
        }))
    }

    /// A client-side connection toward a server (`server ... ssl`).
    pub fn connect(ctx: &SrvCtx, name: ServerName<'static>) -> Option<Box<Tls>> {
        let c = rustls::ClientConnection::new(ctx.cfg.clone(), name).ok()?;
        Some(Box::new(Tls {
            conn: c.into(),
            eof: false,
        }))
    }

    /// Sends what rustls has to send until done or the socket is full.
    pub fn flush(&mut self, fd: RawFd) -> io::Result<()> {
        while self.conn.wants_write() {
            match self.conn.write_tls(&mut FdIo(fd)) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Reads plaintext into `out` (never empty), pulling records from the
    /// socket while it has some (`sock_ready`, cleared on EAGAIN) and
    /// sending the handshake's answers on the way.
    pub fn recv(&mut self, fd: RawFd, out: &mut [u8], sock_ready: &mut bool) -> Rx {
        loop {
            let was_hs = self.conn.is_handshaking();
            match self.conn.reader().read(out) {
                Ok(0) => return Rx::Eof,
                Ok(n) => return Rx::Data(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if self.eof {
                        return Rx::Eof;
                    }
                }
                // Closed without close_notify: an EOF all the same.
                Err(_) => return Rx::Eof,
            }
            if !*sock_ready {
                return Rx::Again;
            }
            match self.conn.read_tls(&mut FdIo(fd)) {
                Ok(0) => {
                    self.eof = true;
                    *sock_ready = false;
                }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    *sock_ready = false;
                    let _ = self.flush(fd);
                    return Rx::Again;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return Rx::Error,
            }
            let plain = match self.conn.process_new_packets() {
                Ok(st) => st.plaintext_bytes_to_read(),
                Err(_) => {
                    // rustls queued an alert for the peer: best effort.
                    let _ = self.flush(fd);
                    return Rx::Error;
                }
            };
            if self.flush(fd).is_err_and(|e| e.kind() != io::ErrorKind::WouldBlock) {
                return Rx::Error;
            }
            if was_hs && !self.conn.is_handshaking() && plain == 0 {
                // Handshake done and no data yet: progress all the same,
                // the stream has bytes waiting to be sent.
                return Rx::Data(0);
            }
        }
    }

    /// Encrypts `a` then `b` and sends. Returns the plaintext bytes taken
    /// (0 when the socket is still busy with earlier records); clears
    /// `ready_w` when the socket filled up.
    pub fn send(&mut self, fd: RawFd, a: &[u8], b: &[u8], ready_w: &mut bool) -> io::Result<usize> {
        // Earlier records first: taking more while the socket is full
        // would only grow rustls' buffer.
        match self.flush(fd) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                *ready_w = false;
                return Ok(0);
            }
            Err(e) => return Err(e),
        }
        if self.conn.is_handshaking() {
            // Nothing is taken before the handshake succeeds: a failed one
            // is a connection failure and the request, still in its
            // channel, can be retried (as HAProxy's L6 connection errors).
            return Ok(0);
        }
        let mut n = 0;
        if !a.is_empty() {
            n += self.conn.writer().write(a)?;
        }
        if n == a.len() && !b.is_empty() {
            n += self.conn.writer().write(b)?;
        }
        match self.flush(fd) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => *ready_w = false,
            Err(e) => return Err(e),
        }
        Ok(n)
    }

    /// Records are waiting for room in the socket.
    #[inline]
    pub fn pending(&self) -> bool {
        self.conn.wants_write()
    }

    /// Sends close_notify before a shutdown or close (best effort, as
    /// HAProxy's SSL_shutdown on a clean close).
    pub fn close_notify(&mut self, fd: RawFd) {
        self.conn.send_close_notify();
        let _ = self.flush(fd);
    }

    // ----- what sample fetches and logs read -----

    /// "TLSv1.2" / "TLSv1.3" once negotiated.
    pub fn protocol(&self) -> Option<&'static str> {
        match self.conn.protocol_version()? {
            rustls::ProtocolVersion::TLSv1_2 => Some("TLSv1.2"),
            rustls::ProtocolVersion::TLSv1_3 => Some("TLSv1.3"),
            _ => None,
        }
    }

    /// The negotiated suite by its OpenSSL name (what HAProxy reports).
    pub fn cipher(&self) -> Option<&'static str> {
        let s = self.conn.negotiated_cipher_suite()?;
        openssl_name(s.suite())
    }

    /// The SNI the client sent (server side only).
    pub fn sni(&self) -> Option<&str> {
        match &self.conn {
            rustls::Connection::Server(c) => c.server_name(),
            rustls::Connection::Client(_) => None,
        }
    }

    /// The client presented a certificate (verified, or the handshake
    /// would have failed).
    pub fn client_cert(&self) -> bool {
        self.conn.peer_certificates().is_some_and(|c| !c.is_empty())
    }

    pub fn alpn(&self) -> Option<&[u8]> {
        self.conn.alpn_protocol()
    }

    /// Secret-key bits of the negotiated cipher (`ssl_fc_use_keysize`).
    pub fn keysize(&self) -> Option<i64> {
        let c = self.cipher()?;
        Some(if c.contains("128") { 128 } else { 256 })
    }

    pub fn handshaking(&self) -> bool {
        self.conn.is_handshaking()
    }
}

/// OpenSSL's name of a rustls suite.
fn openssl_name(s: rustls::CipherSuite) -> Option<&'static str> {
    use rustls::CipherSuite as C;
    Some(match s {
        C::TLS13_AES_128_GCM_SHA256 => "TLS_AES_128_GCM_SHA256",
        C::TLS13_AES_256_GCM_SHA384 => "TLS_AES_256_GCM_SHA384",
        C::TLS13_CHACHA20_POLY1305_SHA256 => "TLS_CHACHA20_POLY1305_SHA256",
        C::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 => "ECDHE-ECDSA-AES128-GCM-SHA256",
        C::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 => "ECDHE-ECDSA-AES256-GCM-SHA384",
        C::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 => "ECDHE-ECDSA-CHACHA20-POLY1305",
        C::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 => "ECDHE-RSA-AES128-GCM-SHA256",
        C::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 => "ECDHE-RSA-AES256-GCM-SHA384",
        C::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256 => "ECDHE-RSA-CHACHA20-POLY1305",
        _ => return None,
    })
}

// ---------------- contexts ----------------

/// Certificates of a bind line by the names they serve; the first one
/// loaded answers clients without (or with an unknown) SNI, as HAProxy's
/// default certificate, unless `strict-sni`.
#[derive(Debug)]
struct SniResolver {
    exact: HashMap<String, Arc<CertifiedKey>>,
    /// `*.example.com` stored as `example.com`.
    wild: HashMap<String, Arc<CertifiedKey>>,
    default: Option<Arc<CertifiedKey>>,
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        if let Some(name) = hello.server_name() {
            let name = name.to_ascii_lowercase();
            if let Some(k) = self.exact.get(&name) {
                return Some(k.clone());
            }
            if let Some((_, parent)) = name.split_once('.') {
                if let Some(k) = self.wild.get(parent) {
                    return Some(k.clone());
                }
            }
        }
        self.default.clone()
    }
}

/// The names a certificate serves: its DNS subjectAltNames and the
/// subject's CN (HAProxy indexes both).
fn cert_names(der: &CertificateDer<'_>) -> Vec<String> {
    let Ok(ee) = webpki::EndEntityCert::try_from(der) else {
        return Vec::new();
    };
    let mut v: Vec<String> = ee.valid_dns_names().map(|n| n.to_ascii_lowercase()).collect();
    if let Some(cn) = subject_cn(ee.subject()) {
        if !v.contains(&cn) {
            v.push(cn);
        }
    }
    v
}

/// The commonName in a DER subject (attribute OID 2.5.4.3), read by
/// scanning for the OID then the string that follows it.
fn subject_cn(subj: &[u8]) -> Option<String> {
    const OID: &[u8] = &[0x06, 0x03, 0x55, 0x04, 0x03];
    let at = subj.windows(OID.len()).position(|w| w == OID)? + OID.len();
    let rest = subj.get(at..)?;
    let (tag, len) = (*rest.first()?, *rest.get(1)? as usize);
    if !matches!(tag, 0x0c | 0x13 | 0x16 | 0x14) || len >= 0x80 {
        return None;
    }
    let s = std::str::from_utf8(rest.get(2..2 + len)?).ok()?;
    Some(s.to_ascii_lowercase())
}

/// Loads one PEM file: certificate chain and key (in the file, or in
/// `<file>.key` as HAProxy looks for it). Errors are HAProxy's texts.
fn load_cert(path: &str, prov: &rustls::crypto::CryptoProvider) -> Result<(Arc<CertifiedKey>, Vec<String>), String> {
    let data = std::fs::read(path).map_err(|e| {
        format!(
            "unable to stat SSL certificate from file '{path}' : {}.",
            config::io_text(&e)
        )
    })?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&data)
        .collect::<Result<_, _>>()
        .map_err(|_| format!("unable to load certificate from file '{path}'."))?;
    if certs.is_empty() {
        return Err(format!("unable to load certificate from file '{path}'."));
    }
    let key = match PrivateKeyDer::from_pem_slice(&data) {
        Ok(k) => k,
        Err(_) => {
            let kp = format!("{path}.key");
            std::fs::read(&kp)
                .ok()
                .and_then(|d| PrivateKeyDer::from_pem_slice(&d).ok())
                .ok_or_else(|| format!("No Private Key found in '{kp}'."))?
        }
    };
    let signing = prov
        .key_provider
        .load_private_key(key)
        .map_err(|e| format!("unable to load SSL private key from file '{path}' : {e}."))?;
    let names = cert_names(&certs[0]);
    let ck = CertifiedKey::new(certs, signing);
    ck.keys_match()
        .map_err(|_| format!("inconsistencies between private key and certificate loaded from PEM file '{path}'."))?;
    Ok((Arc::new(ck), names))
}

/// The crypto provider restricted to the suites the options allow.
fn provider_for(o: &SslOpts) -> Result<rustls::crypto::CryptoProvider, String> {
    let mut p = provider::default_provider();
    let t12 = match &o.ciphers {
        Some(c) => Some(config::ssl::tls12_suites(c)?),
        None => None,
    };
    let t13 = match &o.ciphersuites {
        Some(c) => Some(config::ssl::tls13_suites(c)?),
        None => None,
    };
    let want = |s: &rustls::SupportedCipherSuite| -> Option<usize> {
        let dbg = format!("{:?}", s.suite());
        match s {
            rustls::SupportedCipherSuite::Tls13(_) => match &t13 {
                None => Some(0),
                Some(l) => l.iter().position(|n| dbg == n.replacen("TLS_", "TLS13_", 1)),
            },
            rustls::SupportedCipherSuite::Tls12(_) => match &t12 {
                None => Some(0),
                Some(l) => l.iter().position(|n| dbg == *n),
            },
        }
    };
    // The configured order is the server's preference order.
    let mut kept: Vec<(usize, rustls::SupportedCipherSuite)> = p
        .cipher_suites
        .iter()
        .filter_map(|s| want(s).map(|i| (i, *s)))
        .collect();
    kept.sort_by_key(|(i, s)| (matches!(s, rustls::SupportedCipherSuite::Tls12(_)), *i));
    p.cipher_suites = kept.into_iter().map(|(_, s)| s).collect();
    Ok(p)
}

/// The protocol versions allowed by `ssl-min-ver`/`ssl-max-ver`/`no-tlsv1x`.
fn versions(o: &SslOpts) -> Vec<&'static SupportedProtocolVersion> {
    let lo = o.min_ver.unwrap_or(TlsVer::Tls12);
    let hi = o.max_ver.unwrap_or(TlsVer::Tls13);
    let mut v = Vec::new();
    if lo <= TlsVer::Tls13 && hi >= TlsVer::Tls13 && !o.no_tls13 {
        v.push(&rustls::version::TLS13);
    }
    if lo <= TlsVer::Tls12 && hi >= TlsVer::Tls12 && !o.no_tls12 {
        v.push(&rustls::version::TLS12);
    }
    v
}

/// Builds the TLS context of a `bind ... ssl` line. `at` names the line
/// for messages ("for bind 'addr' at [file:line]").
pub fn bind_ctx(
    b: &BindSsl,
    g: &Global,
    px: &str,
    sect: &str,
    addr: &str,
    at: &str,
) -> Result<Arc<ServerConfig>, String> {
    let bpfx = format!("parsing [{at}] : 'bind {addr}' in section '{sect}' :");
    let prov = provider_for(&b.opts)
        .map_err(|e| format!("Proxy '{px}': unable to set SSL cipher list for bind '{addr}' at [{at}]: {e}."))?;
    let mut res = SniResolver {
        exact: HashMap::new(),
        wild: HashMap::new(),
        default: None,
    };
    for (i, path) in b.crts.iter().enumerate() {
        let (ck, mut names) = load_cert(path, &prov).map_err(|e| format!("{bpfx} {e}"))?;
        // A crt-list line's filters replace the certificate's own names
        // (`!name` only removes one of them).
        let filters = b.crt_filters.get(i).map_or(&[][..], |f| &f[..]);
        if filters.iter().any(|f| !f.starts_with('!')) {
            names = filters.iter().filter(|f| !f.starts_with('!')).cloned().collect();
        }
        names.retain(|n| !filters.iter().any(|f| f.strip_prefix('!') == Some(n.as_str())));
        for n in names {
            match n.strip_prefix("*.") {
                Some(parent) => res.wild.entry(parent.to_string()).or_insert_with(|| ck.clone()),
                None => res.exact.entry(n).or_insert_with(|| ck.clone()),
            };
        }
        if res.default.is_none() && !b.strict_sni {
            res.default = Some(ck);
        }
    }
    let vers = versions(&b.opts);
    if vers.is_empty() {
        return Err(format!(
            "Proxy '{px}': all SSL/TLS versions are disabled for bind '{addr}' at [{at}]."
        ));
    }
    let prov = Arc::new(prov);
    let builder = ServerConfig::builder_with_provider(prov.clone())
        .with_protocol_versions(&vers)
        .map_err(|e| format!("Proxy '{px}': unable to set up TLS for bind '{addr}' at [{at}]: {e}."))?;
    let builder = match b.verify {
        config::model::Verify::None => builder.with_no_client_auth(),
        v => {
            // Client certificates checked against `ca-file`; `optional`
            // lets clients without one in (a bad one still fails).
            let path = b.ca_file.as_deref().unwrap_or("");
            let mut roots = rustls::RootCertStore::empty();
            if let Ok(it) = CertificateDer::pem_file_iter(path) {
                for c in it.flatten() {
                    let _ = roots.add(c);
                }
            }
            if roots.is_empty() {
                return Err(format!("{bpfx} 'ca-file' : unable to load {path}"));
            }
            let vb = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), prov);
            let vb = if v == config::model::Verify::Optional {
                vb.allow_unauthenticated()
            } else {
                vb
            };
            builder.with_client_cert_verifier(
                vb.build()
                    .map_err(|e| format!("{bpfx} 'ca-file' : unable to load {path} ({e})"))?,
            )
        }
    };
    let mut cfg = builder.with_cert_resolver(Arc::new(res));
    cfg.alpn_protocols = b.alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
    // HAProxy sets the server's preference unless `prefer-client-ciphers`.
    cfg.ignore_client_order = !b.opts.prefer_client_ciphers;
    cfg.session_storage = if g.ssl.cachesize == 0 {
        Arc::new(rustls::server::NoServerSessionStorage {})
    } else {
        rustls::server::ServerSessionMemoryCache::new(g.ssl.cachesize as usize)
    };
    if !b.opts.no_tls_tickets {
        cfg.ticketer = provider::Ticketer::new()
            .map_err(|e| format!("Proxy '{px}': unable to set up TLS tickets for bind '{addr}' at [{at}]: {e}."))?;
    }
    // Session resumption without tickets in TLSv1.3 stays stateful; keep
    // rustls from sending more tickets than a browser uses.
    cfg.send_tls13_tickets = if b.opts.no_tls_tickets { 0 } else { 2 };
    Ok(Arc::new(cfg))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cn_is_read_from_a_der_subject() {
        // SEQUENCE { SET { SEQUENCE { OID 2.5.4.3, UTF8String "a.test" } } }
        let subj = [
            0x31, 0x0f, 0x30, 0x0d, 0x06, 0x03, 0x55, 0x04, 0x03, 0x0c, 0x06, b'a', b'.', b't', b'e', b's', b't',
        ];
        assert_eq!(subject_cn(&subj).as_deref(), Some("a.test"));
        assert_eq!(subject_cn(&[0x31, 0x00]), None);
    }

    #[test]
    fn versions_follow_min_max() {
        let mut o = SslOpts::default();
        assert_eq!(versions(&o).len(), 2);
        o.min_ver = Some(TlsVer::Tls13);
        assert_eq!(versions(&o).len(), 1);
        o.max_ver = Some(TlsVer::Tls12);
        assert!(versions(&o).is_empty());
    }
}

// ---------------- server side ----------------

/// Where the SNI sent to a server comes from (`server ... sni <expr>`).
#[derive(Debug, Clone)]
pub enum SniSrc {
    /// No SNI (the server's address names the connection for rustls,
    /// which sends no SNI for an address).
    None,
    Const(ServerName<'static>),
    /// `req.hdr(host)`: the request's Host, without its port.
    ReqHost,
    /// `ssl_fc_sni`: what the client sent us.
    FrontSni,
}

/// The TLS context of a server: shared by its connections and its checks.
#[derive(Debug)]
pub struct SrvCtx {
    pub cfg: Arc<ClientConfig>,
    pub sni: SniSrc,
}

impl SrvCtx {
    /// The name for a new connection: the SNI source's value when there is
    /// one and it is a valid DNS name, else the server's address.
    pub fn name(
        &self,
        host: Option<&[u8]>,
        front_sni: Option<&str>,
        addr: Option<std::net::IpAddr>,
    ) -> ServerName<'static> {
        let dns = |v: &[u8]| -> Option<ServerName<'static>> {
            let v = std::str::from_utf8(v).ok()?;
            ServerName::try_from(v.to_ascii_lowercase()).ok()
        };
        let n = match &self.sni {
            SniSrc::None => None,
            SniSrc::Const(n) => Some(n.clone()),
            SniSrc::ReqHost => host.and_then(|h| {
                // Strip a port, not the colons of an IPv6 literal.
                let h = match h.iter().rposition(|&c| c == b':') {
                    Some(p) if !h.contains(&b']') || h[..p].ends_with(b"]") => &h[..p],
                    _ => h,
                };
                dns(h)
            }),
            SniSrc::FrontSni => front_sni.and_then(|h| dns(h.as_bytes())),
        };
        n.unwrap_or_else(|| {
            ServerName::IpAddress(
                addr.unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED))
                    .into(),
            )
        })
    }
}

/// Server certificate verification as HAProxy's: `verify none` accepts
/// anything; `verify required` checks the chain against `ca-file`, and the
/// name only when `verifyhost` or `sni` gives one.
#[derive(Debug)]
struct SrvVerifier {
    inner: Option<Arc<rustls::client::WebPkiServerVerifier>>,
    /// The certificates of `ca-file`: one of them presented as is is
    /// trusted directly (OpenSSL accepts a self-signed server certificate
    /// listed in the CA file; webpki refuses a CA as an end entity).
    pinned: Vec<CertificateDer<'static>>,
    host: Option<ServerName<'static>>,
    check_name: bool,
    prov: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for SrvVerifier {
    fn verify_server_cert(
        &self,
        ee: &CertificateDer<'_>,
        inter: &[CertificateDer<'_>],
        name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(v) = &self.inner else {
            return Ok(ServerCertVerified::assertion());
        };
        let name = self.host.as_ref().unwrap_or(name);
        let r = match v.verify_server_cert(ee, inter, name, ocsp, now) {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer | rustls::CertificateError::Other(_),
            )) if self.pinned.iter().any(|p| p.as_ref() == ee.as_ref()) => {
                if self.check_name && !name_matches(ee, name) {
                    Err(rustls::Error::InvalidCertificate(
                        rustls::CertificateError::NotValidForName,
                    ))
                } else {
                    Ok(ServerCertVerified::assertion())
                }
            }
            r => r,
        };
        match r {
            // The chain was checked before the name: no name to check.
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName | rustls::CertificateError::NotValidForNameContext { .. },
            )) if !self.check_name => Ok(ServerCertVerified::assertion()),
            r => r,
        }
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(m, c, d, &self.prov.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(m, c, d, &self.prov.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.prov.signature_verification_algorithms.supported_schemes()
    }
}

/// Whether a certificate's DNS names (or CN) cover `name`.
fn name_matches(ee: &CertificateDer<'_>, name: &ServerName<'_>) -> bool {
    let ServerName::DnsName(d) = name else {
        return false;
    };
    let want = d.as_ref().to_ascii_lowercase();
    cert_names(ee).iter().any(|n| match n.strip_prefix("*.") {
        Some(parent) => want.split_once('.').is_some_and(|(_, p)| p == parent),
        None => *n == want,
    })
}

/// The one client certificate of a server line (`crt`), whatever the
/// server asks for.
#[derive(Debug)]
struct ClientCert(Arc<CertifiedKey>);

impl rustls::client::ResolvesClientCert for ClientCert {
    fn resolve(&self, _: &[&[u8]], _: &[rustls::SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
    fn has_certs(&self) -> bool {
        true
    }
}

/// Parses `sni <expr>`: the forms rhaproxy evaluates.
fn sni_src(expr: &str) -> Result<SniSrc, String> {
    let e = expr.trim();
    if let Some(v) = e.strip_prefix("str(").and_then(|x| x.strip_suffix(')')) {
        return ServerName::try_from(v.to_ascii_lowercase())
            .map(SniSrc::Const)
            .map_err(|_| format!("'sni {expr}' : '{v}' is not a valid host name"));
    }
    match e.to_ascii_lowercase().as_str() {
        "req.hdr(host)" | "hdr(host)" | "req.hdr(host,1)" | "hdr(host,1)" | "req.hdr(host,-1)" | "hdr(host,-1)" => {
            Ok(SniSrc::ReqHost)
        }
        "ssl_fc_sni" => Ok(SniSrc::FrontSni),
        _ => Err(format!(
            "'sni {expr}' : only str(<name>), req.hdr(host) and ssl_fc_sni are supported yet (rhaproxy)"
        )),
    }
}

/// Builds a server's TLS context (None when it uses no TLS at all).
/// `who` names it for messages ("[file:line] : 'server b/s' :").
pub fn server_ctx(s: &ServerSsl, who: &str) -> Result<Option<Arc<SrvCtx>>, String> {
    if !s.enabled && !s.check_ssl {
        return Ok(None);
    }
    let prov = Arc::new(provider_for(&s.opts).map_err(|e| format!("{who} unable to set SSL cipher list: {e}."))?);
    let mut pinned = Vec::new();
    let inner = if s.verify_required == Some(true) {
        let path = s.ca_file.as_deref().unwrap_or("");
        let mut roots = rustls::RootCertStore::empty();
        let certs =
            CertificateDer::pem_file_iter(path).map_err(|_| format!("{who} 'ca-file' : unable to load {path}."))?;
        for c in certs.flatten() {
            pinned.push(c.clone());
            let _ = roots.add(c);
        }
        if roots.is_empty() {
            return Err(format!("{who} 'ca-file' : unable to load {path}."));
        }
        Some(
            rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), prov.clone())
                .build()
                .map_err(|e| format!("{who} 'ca-file' : unable to load {path} ({e})."))?,
        )
    } else {
        None
    };
    let host = match &s.verifyhost {
        Some(h) => Some(
            ServerName::try_from(h.to_ascii_lowercase())
                .map_err(|_| format!("{who} 'verifyhost {h}' is not a valid host name."))?,
        ),
        None => None,
    };
    let sni = match &s.sni {
        Some(e) => sni_src(e).map_err(|e| format!("{who} {e}."))?,
        None => SniSrc::None,
    };
    let verifier = SrvVerifier {
        inner,
        pinned,
        check_name: host.is_some() || s.sni.is_some(),
        host,
        prov: prov.clone(),
    };
    let vers = versions(&s.opts);
    if vers.is_empty() {
        return Err(format!("{who} all SSL/TLS versions are disabled."));
    }
    let builder = ClientConfig::builder_with_provider(prov.clone())
        .with_protocol_versions(&vers)
        .map_err(|e| format!("{who} unable to set up TLS: {e}."))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier));
    let mut cfg = match &s.crt {
        None => builder.with_no_client_auth(),
        Some(path) => {
            // The client certificate shown to the server (`crt`).
            let (ck, _) = load_cert(path, &prov).map_err(|e| format!("{who} {e}"))?;
            builder.with_client_cert_resolver(Arc::new(ClientCert(ck)))
        }
    };
    cfg.alpn_protocols = s.alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
    if s.no_reuse {
        cfg.resumption = rustls::client::Resumption::disabled();
    }
    Ok(Some(Arc::new(SrvCtx {
        cfg: Arc::new(cfg),
        sni,
    })))
}
