//! What the configuration asks for that rhaproxy parses but does not run
//! yet, decided once at start-up. The parser accepts these keywords (so
//! `-c` agrees with HAProxy on real configurations), but starting a proxy
//! must never silently drop them:
//!
//! - anything that changes what goes on the wire (rules, ACLs, redirects,
//!   stickiness, compression, ...) refuses to start, with
//!   an alert naming file:line and the keyword;
//! - what only guards servers (health checks) starts with a warning
//!   saying it is not performed yet.
//!
//! This module owns that list and nothing else; remove entries as the
//! features land.

use config::model::{Config, Loc, RawLine};

/// Alerts (refuse to start) and warnings (start anyway).
#[derive(Default, Debug)]
pub struct Report {
    pub alerts: Vec<String>,
    pub warnings: Vec<String>,
}

fn first_words(l: &RawLine) -> String {
    l.words.iter().take(2).cloned().collect::<Vec<_>>().join(" ")
}

fn refuse(r: &mut Report, loc: &Loc, what: &str, px: &str) {
    r.alerts.push(format!(
        "parsing [{loc}] : '{what}' in proxy '{px}' is not supported yet by rhaproxy: refusing to start rather than ignore it."
    ));
}

/// This process's name among peers: `localpeer` / `-L`, else the host name
/// (as HAProxy).
pub fn local_peer(cfg: &Config) -> String {
    cfg.global
        .localpeer
        .clone()
        .unwrap_or_else(|| crate::log::hostname().to_string())
}

/// Inspects a parsed configuration.
pub fn check(cfg: &Config) -> Report {
    let mut r = Report::default();
    // Peers: the local peer is accepted (its tables work locally; its
    // listener, which only serves other peers, is not opened); remote
    // peers would need the peers protocol, which is not built.
    let me = local_peer(cfg);
    for ps in cfg.peers.iter().filter(|ps| !ps.disabled) {
        for peer in ps.peers.iter().filter(|x| x.name != me && x.addr.is_some()) {
            r.alerts.push(format!(
                "parsing [{}] : remote peer '{}' in peers section '{}' is not supported yet by rhaproxy (stick tables are not synchronised): refusing to start rather than ignore it.",
                peer.loc, peer.name, ps.name
            ));
        }
    }
    for p in &cfg.proxies {
        if p.disabled {
            continue;
        }
        // acl, http-request, http-response, http-after-response,
        // tcp-request and tcp-response are compiled by `http_act` at
        // start-up, which refuses what it does not implement word by word.
        // Captures are compiled by `capture`.
        // `stick` rules are compiled with the other rules (`http_act`).
        if let Some(first) = p.compression.first() {
            refuse(&mut r, &first.loc, &first_words(first), &p.name);
        }
        if let Some(l) = &p.source {
            refuse(&mut r, &l.loc, "source", &p.name);
        }
        // A table naming a peers section is kept locally: the remote
        // peers of that section are refused above.
        // Cookie persistence runs (`cookie`), except dynamic server
        // cookies (`dynamic` + `dynamic-cookie-key`).
        if let Some(l) = p
            .cookie
            .as_ref()
            .filter(|l| config::cookie::parse(&l.words, "").is_ok_and(|(o, _)| o.dynamic))
        {
            refuse(&mut r, &l.loc, "cookie ... dynamic", &p.name);
        }
        if p.http_send_name_header.is_some() {
            refuse(&mut r, &p.loc, "http-send-name-header", &p.name);
        }
        // Health-check rules are compiled by `checks`, which refuses what
        // it does not implement.
        if let Err(e) = crate::checks::compile(p) {
            r.alerts.push(e);
        }
        for s in &p.servers {
            if s.track.is_some() {
                refuse(&mut r, &s.loc, "track", &p.name);
            }
            if let Some(kw) = crate::checks::unsupported_server_kw(s) {
                refuse(&mut r, &s.loc, kw, &p.name);
            }
            // Only HTTP/1 is spoken to servers.
            if let Some(proto) = s.proto.as_deref().filter(|x| *x != "h1") {
                refuse(&mut r, &s.loc, &format!("proto {proto}"), &p.name);
            }
        }
        for b in &p.binds {
            // Tasks have no priorities here: a listener cannot make its
            // connections nicer or greedier than the others.
            if let Some(n) = b.nice.filter(|n| *n != 0) {
                refuse(&mut r, &b.loc, &format!("bind ... nice {n}"), &p.name);
            }
            // One socket per bind line (HAProxy's default, `shards 1`);
            // per-thread sockets are not built.
            if let Some(sh) = b.shards.as_deref().filter(|x| *x != "1") {
                refuse(&mut r, &b.loc, &format!("bind ... shards {sh}"), &p.name);
            }
            // HTTP/2 is not spoken (the config check already refused the
            // multiplexers that do not fit the mode, as HAProxy does).
            if b.proto.as_deref() == Some("h2") {
                refuse(&mut r, &b.loc, "bind ... proto h2", &p.name);
            }
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use config::model::{Proxy, Server};

    fn loc(line: usize) -> Loc {
        Loc {
            file: "t.cfg".into(),
            line,
        }
    }

    #[test]
    fn rules_refuse_checks_run() {
        let mut cfg = Config::default();
        let p = Proxy {
            name: "p".into(),
            compression: vec![RawLine {
                words: vec!["compression".into(), "algo".into(), "gzip".into()],
                loc: loc(7),
            }],
            servers: vec![Server {
                name: "s".into(),
                check: true,
                loc: loc(9),
                ..Server::defaults()
            }],
            ..Proxy::default()
        };
        cfg.proxies.push(p);
        let r = check(&cfg);
        assert_eq!(r.alerts.len(), 1);
        assert!(
            r.alerts[0].starts_with("parsing [t.cfg:7] : 'compression algo'"),
            "{:?}",
            r.alerts
        );
        // Health checks run now: no warning about them.
        assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    }

    #[test]
    fn plain_config_is_clean() {
        let mut cfg = Config::default();
        cfg.proxies.push(Proxy {
            name: "p".into(),
            ..Proxy::default()
        });
        let r = check(&cfg);
        assert!(r.alerts.is_empty() && r.warnings.is_empty());
    }
}
