//! TLS keywords: protocol versions, OpenSSL-style cipher lists mapped to
//! the suites rhaproxy's TLS library (rustls) implements, the words of
//! `ssl-default-bind-options`/`ssl-default-server-options`, and the
//! start-up checks of certificate files that HAProxy does while parsing
//! (stat, "is there a certificate", "is there a key").
//!
//! Owns names and checks only: no TLS state, no crypto (the `proxy`
//! crate's `ssl_sock` builds the real contexts from the model).

use crate::model::{SslOpts, TlsVer};

/// The TLSv1.2 suites rustls offers, by OpenSSL name, with the OpenSSL
/// keywords each one matches (kx, auth, cipher, mac, aliases). Order is
/// rustls' preference order, used for broad keywords such as `HIGH`.
const TLS12: &[(&str, &str, &[&str])] = &[
    (
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        &[
            "ECDHE", "EECDH", "kECDHE", "kEECDH", "aECDSA", "ECDSA", "AESGCM", "AES", "AES256", "SHA384", "AEAD",
        ],
    ),
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        &[
            "ECDHE", "EECDH", "kECDHE", "kEECDH", "aECDSA", "ECDSA", "AESGCM", "AES", "AES128", "SHA256", "AEAD",
        ],
    ),
    (
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        &[
            "ECDHE", "EECDH", "kECDHE", "kEECDH", "aECDSA", "ECDSA", "CHACHA20", "AEAD",
        ],
    ),
    (
        "ECDHE-RSA-AES256-GCM-SHA384",
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        &[
            "ECDHE", "EECDH", "kECDHE", "kEECDH", "aRSA", "RSA", "AESGCM", "AES", "AES256", "SHA384", "AEAD",
        ],
    ),
    (
        "ECDHE-RSA-AES128-GCM-SHA256",
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        &[
            "ECDHE", "EECDH", "kECDHE", "kEECDH", "aRSA", "RSA", "AESGCM", "AES", "AES128", "SHA256", "AEAD",
        ],
    ),
    (
        "ECDHE-RSA-CHACHA20-POLY1305",
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        &["ECDHE", "EECDH", "kECDHE", "kEECDH", "aRSA", "RSA", "CHACHA20", "AEAD"],
    ),
];

/// Keywords that stand for every suite we have (they all are strong,
/// TLSv1.2, forward-secret AEAD suites).
const ALL_KWS: &[&str] = &[
    "ALL",
    "DEFAULT",
    "HIGH",
    "TLSv1.2",
    "FIPS",
    "kEDH+aRSA",
    "COMPLEMENTOFDEFAULT",
    "SECLEVEL=1",
    "SECLEVEL=2",
];

/// The TLSv1.3 suites rustls offers (OpenSSL and IANA use the same names).
const TLS13: &[&str] = &[
    "TLS_AES_256_GCM_SHA384",
    "TLS_AES_128_GCM_SHA256",
    "TLS_CHACHA20_POLY1305_SHA256",
];

/// What rustls implements, for error messages.
const WE_HAVE: &str = "rhaproxy's TLS library (rustls) implements only ECDHE with AES-GCM or CHACHA20-POLY1305 for TLSv1.2 and TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384, TLS_CHACHA20_POLY1305_SHA256 for TLSv1.3";

/// Whether `t` (one `+`-joined term) matches suite `i`.
fn term_matches(t: &str, i: usize) -> bool {
    let (name, _, kws) = TLS12[i];
    t == name || ALL_KWS.contains(&t) || kws.contains(&t)
}

/// The TLSv1.2 suites (rustls names, in order) an OpenSSL cipher list
/// selects. OpenSSL ignores names it does not know and fails only when
/// nothing is left; `Err` carries a reason when nothing rustls has is
/// left (the caller words the message).
pub fn tls12_suites(list: &str) -> Result<Vec<&'static str>, String> {
    let mut sel: Vec<usize> = Vec::new();
    let mut banned = [false; 6];
    for el in list.split([':', ',', ' ']).filter(|e| !e.is_empty()) {
        if el.starts_with('@') {
            continue;
        }
        let (op, body) = match el.as_bytes()[0] {
            b'!' | b'-' | b'+' => (el.as_bytes()[0], &el[1..]),
            _ => (0, el),
        };
        let terms: Vec<&str> = body.split('+').collect();
        let hits = (0..TLS12.len()).filter(|&i| terms.iter().all(|t| term_matches(t, i)));
        match op {
            b'!' => hits.for_each(|i| {
                banned[i] = true;
                sel.retain(|&x| x != i)
            }),
            b'-' => hits.for_each(|i| sel.retain(|&x| x != i)),
            b'+' => {
                // Moves the matching selected suites to the end.
                let h: Vec<usize> = hits.collect();
                let (mut moved, kept): (Vec<usize>, Vec<usize>) = sel.iter().partition(|x| h.contains(x));
                sel = kept;
                sel.append(&mut moved);
            }
            _ => {
                for i in hits {
                    if !banned[i] && !sel.contains(&i) {
                        sel.push(i);
                    }
                }
            }
        }
    }
    if sel.is_empty() {
        return Err(WE_HAVE.to_string());
    }
    Ok(sel.into_iter().map(|i| TLS12[i].1).collect())
}

/// The TLSv1.3 suites of a `ciphersuites` list (colon-separated exact
/// names, as OpenSSL's `SSL_CTX_set_ciphersuites`).
pub fn tls13_suites(list: &str) -> Result<Vec<&'static str>, String> {
    let mut out = Vec::new();
    for el in list.split(':').filter(|e| !e.is_empty()) {
        match TLS13.iter().find(|n| **n == el) {
            Some(n) if !out.contains(n) => out.push(*n),
            Some(_) => {}
            None if matches!(el, "TLS_AES_128_CCM_SHA256" | "TLS_AES_128_CCM_8_SHA256") => {}
            None => return Err(String::new()),
        }
    }
    if out.is_empty() {
        return Err(WE_HAVE.to_string());
    }
    Ok(out)
}

/// A version word of `ssl-min-ver`/`ssl-max-ver`. `Err(None)`: unknown to
/// HAProxy too; `Err(Some(msg))`: a version rustls does not speak.
pub fn parse_ver(v: &str) -> Result<TlsVer, Option<String>> {
    match v {
        "TLSv1.2" => Ok(TlsVer::Tls12),
        "TLSv1.3" => Ok(TlsVer::Tls13),
        "SSLv3" | "TLSv1.0" | "TLSv1.1" => Err(Some(format!(
            "'{v}' is not supported: rhaproxy's TLS library (rustls) speaks only TLSv1.2 and TLSv1.3 (rhaproxy)"
        ))),
        _ => Err(None),
    }
}

/// Applies one word of `ssl-default-{bind,server}-options` (or the same
/// word on a `bind`/`server` line). Returns how many words it took (1 or
/// 2), or an error text (without prefix).
pub fn apply_opt(o: &mut SslOpts, w: &str, next: Option<&str>, stmt: &str) -> Result<usize, String> {
    match w {
        "no-sslv3" | "no-tlsv10" | "no-tlsv11" => Ok(1),
        "no-tlsv12" => {
            o.no_tls12 = true;
            Ok(1)
        }
        "no-tlsv13" => {
            o.no_tls13 = true;
            Ok(1)
        }
        "no-tls-tickets" => {
            o.no_tls_tickets = true;
            Ok(1)
        }
        "prefer-client-ciphers" => {
            o.prefer_client_ciphers = true;
            Ok(1)
        }
        "force-tlsv12" | "force-tlsv13" => {
            let v = if w == "force-tlsv12" { TlsVer::Tls12 } else { TlsVer::Tls13 };
            o.min_ver = Some(v);
            o.max_ver = Some(v);
            Ok(1)
        }
        "force-sslv3" | "force-tlsv10" | "force-tlsv11" => Err(format!(
            "'{w}' is not supported: rhaproxy's TLS library (rustls) speaks only TLSv1.2 and TLSv1.3 (rhaproxy) on {stmt}."
        )),
        "ssl-min-ver" | "ssl-max-ver" => {
            let v = next.unwrap_or("");
            match parse_ver(v) {
                Ok(t) => {
                    if w == "ssl-min-ver" {
                        o.min_ver = Some(t)
                    } else {
                        o.max_ver = Some(t)
                    }
                    Ok(2)
                }
                Err(Some(m)) => Err(format!("{m} on {stmt}.")),
                Err(None) => Err(format!("'{v}' : unknown ssl/tls version on {stmt}.")),
            }
        }
        _ => Err(format!("unknown option '{w}' on {stmt}.")),
    }
}

/// Files of a `crt` directory that are certificates (HAProxy skips the
/// companion files it would load beside a certificate).
pub fn dir_certs(dir: &str) -> std::io::Result<Vec<String>> {
    let mut v: Vec<String> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| !t.is_dir()))
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| !n.starts_with('.'))
        .filter(|n| {
            ![".key", ".ocsp", ".issuer", ".sctl", ".dh"]
                .iter()
                .any(|x| n.ends_with(x))
        })
        .collect();
    v.sort();
    let base = dir.trim_end_matches('/');
    Ok(v.into_iter().map(|n| format!("{base}/{n}")).collect())
}

/// Checks a certificate file the way HAProxy's loader fails on it, with
/// its texts: the file must exist, hold a PEM certificate, and a private
/// key in it or in `<file>.key`.
pub fn precheck_cert(path: &str) -> Result<(), String> {
    let data = match std::fs::read(path) {
        Ok(d) => d,
        Err(e) => {
            return Err(format!(
                "unable to stat SSL certificate from file '{path}' : {}.",
                crate::io_text(&e)
            ))
        }
    };
    if !contains(&data, b"-----BEGIN CERTIFICATE-----") && !contains(&data, b"-----BEGIN TRUSTED CERTIFICATE-----") {
        return Err(format!("unable to load certificate from file '{path}'."));
    }
    if !contains(&data, b"PRIVATE KEY-----") {
        let kp = format!("{path}.key");
        match std::fs::read(&kp) {
            Ok(k) if contains(&k, b"PRIVATE KEY-----") => {}
            _ => return Err(format!("No Private Key found in '{kp}'.")),
        }
    }
    Ok(())
}

fn contains(h: &[u8], n: &[u8]) -> bool {
    h.windows(n.len()).any(|w| w == n)
}

/// A path relative to a `*-base` directory, as HAProxy joins them.
pub fn with_base(base: Option<&str>, p: &str) -> String {
    match base {
        Some(b) if !p.starts_with('/') && !b.is_empty() => format!("{}/{p}", b.trim_end_matches('/')),
        _ => p.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cipher_lists_map_to_rustls() {
        let v = tls12_suites("ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:FOO").unwrap();
        assert_eq!(
            v,
            [
                "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
                "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
            ]
        );
        assert_eq!(tls12_suites("HIGH:!aNULL:!MD5").unwrap().len(), 6);
        assert_eq!(tls12_suites("EECDH+AESGCM:!aECDSA").unwrap().len(), 2);
        assert!(tls12_suites("FOO").is_err());
        assert!(tls12_suites("AES256-SHA").is_err());
        assert_eq!(
            tls13_suites("TLS_AES_128_GCM_SHA256").unwrap(),
            ["TLS_AES_128_GCM_SHA256"]
        );
        assert!(tls13_suites("FOO").is_err());
    }

    #[test]
    fn options_and_versions() {
        let mut o = SslOpts::default();
        assert_eq!(apply_opt(&mut o, "ssl-min-ver", Some("TLSv1.3"), "x"), Ok(2));
        assert_eq!(o.min_ver, Some(TlsVer::Tls13));
        assert_eq!(apply_opt(&mut o, "no-tlsv10", None, "x"), Ok(1));
        assert!(apply_opt(&mut o, "ssl-max-ver", Some("TLSv1.1"), "x").is_err());
        assert_eq!(
            apply_opt(&mut o, "bogus", None, "global statement 'ssl-default-bind-options'"),
            Err("unknown option 'bogus' on global statement 'ssl-default-bind-options'.".into())
        );
    }
}
