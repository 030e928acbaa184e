//! `peers` sections (HAProxy's `cfg_parse_peers`): the peers a process
//! would synchronise its stick tables with, and the tables declared there
//! (`table <name> type ...`). Owns the grammar and HAProxy's texts; which
//! peer is the local one, and refusing what is not implemented (talking to
//! remote peers), is start-up's business.

use crate::model::{Loc, RawLine};
use crate::parser::Parser;

/// One `peers` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peers {
    pub name: String,
    pub loc: Loc,
    pub disabled: bool,
    /// `peer <name> <addr>` and `server <name> [<addr>]` lines.
    pub peers: Vec<Peer>,
    /// `bind` (the local peer's listener, with `server` lines).
    pub bind: Option<RawLine>,
    /// `table <name> ...` lines, checked when read.
    pub tables: Vec<RawLine>,
}

/// A `peer`/`server` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub name: String,
    /// None for a `server` line without address (the local peer).
    pub addr: Option<String>,
    /// A `peer` line (else `server`).
    pub peer_kw: bool,
    pub loc: Loc,
}

impl Parser {
    /// `peers <name>`: opens a section; false when the header is refused.
    pub(crate) fn peers_header(&mut self, w: &[String], loc: Loc) -> bool {
        let (file, line) = (loc.file.clone(), loc.line);
        let Some(name) = w.get(1).filter(|n| !n.is_empty()) else {
            self.diags
                .alert(format!("parsing [{file}:{line}] : missing name for peers section."));
            self.diags.abort = true;
            return false;
        };
        if let Some(x) = w.get(2) {
            self.diags.alert(format!(
                "parsing [{file}:{line}] : 'peers' cannot handle unexpected argument '{x}'."
            ));
        }
        if let Some(c) = crate::parser::invalid_char(name) {
            self.diags.alert(format!(
                "parsing [{file}:{line}] : character '{c}' is not permitted in 'peers' name '{name}'."
            ));
            self.diags.abort = true;
            return false;
        }
        if let Some(prev) = self.cfg.peers.iter().find(|p| &p.name == name) {
            self.diags.alert(format!(
                "Parsing [{file}:{line}]: peers section '{name}' has the same name as another peers section declared at {}:{}.",
                prev.loc.file, prev.loc.line
            ));
        }
        self.cfg.peers.push(Peers {
            name: name.clone(),
            loc,
            disabled: false,
            peers: Vec::new(),
            bind: None,
            tables: Vec::new(),
        });
        true
    }

    /// One line inside the `peers` section `i`.
    pub(crate) fn parse_peers_line(&mut self, i: usize, w: &[String], loc: Loc) {
        let (file, line) = (loc.file.clone(), loc.line);
        let arg = |n: usize| w.get(n).map(|s| s.as_str()).unwrap_or("");
        let raw = || RawLine {
            words: w.to_vec(),
            loc: loc.clone(),
        };
        match arg(0) {
            "bind" | "default-bind" => {
                if arg(0) == "default-bind" {
                    return;
                }
                if self.cfg.peers[i].peers.iter().any(|p| p.peer_kw) {
                    self.diags.alert(format!(
                        "parsing [{file}:{line}] : mixing \"peer\" and \"bind\" line is forbidden"
                    ));
                    return;
                }
                if let Some(b) = &self.cfg.peers[i].bind {
                    self.diags.alert(format!(
                        "parsing [{file}:{line}] : One listener per \"peers\" section is authorized but another is already configured at [{}:{}].",
                        b.loc.file, b.loc.line
                    ));
                    return;
                }
                self.cfg.peers[i].bind = Some(raw());
            }
            "default-server" | "log" => {}
            "peer" | "server" => {
                let name = arg(1).to_string();
                if arg(0) == "peer" && self.cfg.peers[i].bind.is_some() {
                    self.diags.alert(format!(
                        "parsing [{file}:{line}] : mixing \"peer\" and \"bind\" line is forbidden"
                    ));
                    return;
                }
                if name.is_empty() {
                    self.diags
                        .alert(format!("parsing [{file}:{line}] : '{}' : missing name.", arg(0)));
                    return;
                }
                let addr = Some(arg(2).to_string()).filter(|a| !a.is_empty());
                if arg(0) == "peer" && addr.is_none() {
                    self.diags.alert(format!(
                        "parsing [{file}:{line}] : '{} {name}' : missing address.",
                        arg(0)
                    ));
                    return;
                }
                if w.len() > 3 {
                    let ignored = w[3..]
                        .iter()
                        .any(|k| matches!(k.as_str(), "check" | "agent-check" | "init-addr" | "resolvers"));
                    if ignored {
                        self.diags.warning(format!(
                            "parsing [{file}:{line}] : '{} {name}' : init_addr, resolvers, check and agent are ignored for peers.",
                            arg(0)
                        ));
                    }
                }
                let peer_kw = arg(0) == "peer";
                self.cfg.peers[i].peers.push(Peer {
                    name,
                    addr,
                    peer_kw,
                    loc,
                });
            }
            "table" => {
                let tname = arg(1);
                if let Some(p) = self
                    .cfg
                    .proxies
                    .iter()
                    .find(|p| p.name == tname && p.stick_table.is_some())
                {
                    self.diags.alert(format!(
                        "parsing [{file}:{line}] : stick-table name '{tname}' conflicts with table declared in {} '{}' at {}:{}.",
                        if p.cap.frontend && p.cap.backend {
                            "proxy"
                        } else if p.cap.frontend {
                            "frontend"
                        } else {
                            "backend"
                        },
                        p.name,
                        p.loc.file,
                        p.loc.line
                    ));
                    return;
                }
                match crate::stick_table::parse(w, true) {
                    Err(e) => self.diags.alert(format!("parsing [{file}:{line}] : {e}")),
                    Ok((_, warns)) => {
                        for x in warns {
                            self.diags.warning(format!("parsing [{file}:{line}]: {x}"));
                        }
                        // Known as `<section>/<table>`.
                        let mut l = raw();
                        l.words[1] = format!("{}/{tname}", self.cfg.peers[i].name);
                        self.cfg.peers[i].tables.push(l);
                    }
                }
            }
            "disabled" => self.cfg.peers[i].disabled = true,
            "enabled" => self.cfg.peers[i].disabled = false,
            kw => self.diags.alert(format!(
                "parsing [{file}:{line}] : unknown keyword '{kw}' in 'peers' section"
            )),
        }
    }
}

/// This host's name (HAProxy's default local peer name).
pub fn hostname() -> String {
    let mut b = [0u8; 256];
    // SAFETY: the buffer is live and its length is passed.
    let r = unsafe { libc::gethostname(b.as_mut_ptr() as *mut libc::c_char, b.len()) };
    if r != 0 {
        return String::new();
    }
    let n = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..n]).into_owned()
}

/// Post-parse checks of peers (HAProxy's): stick tables naming unknown
/// sections, and sections without the local peer, which are removed.
pub(crate) fn post_parse(cfg: &mut crate::model::Config, local: Option<&str>, d: &mut crate::Diags) {
    for p in cfg.proxies.iter().filter(|p| !p.disabled) {
        let Some(l) = &p.stick_table else {
            continue;
        };
        if let Some(i) = l.words.iter().position(|w| w == "peers") {
            let pn = l.words.get(i + 1).map(|s| s.as_str()).unwrap_or("");
            if !cfg.peers.iter().any(|s| s.name == pn) {
                d.alert(format!("Proxy '{}': unable to find sync peers '{pn}'.", p.name));
            }
        }
    }
    let me = local
        .map(str::to_string)
        .or_else(|| cfg.global.localpeer.clone())
        .unwrap_or_else(hostname);
    for ps in cfg.peers.iter_mut().filter(|s| !s.disabled) {
        if !ps.peers.iter().any(|p| p.name == me) {
            d.warning(format!(
                "Removing incomplete section 'peers {}' (no peer named '{me}').",
                ps.name
            ));
            ps.disabled = true;
        }
    }
}
