//! Backend and server switching (HAProxy's `process_switching_rules()`
//! and `process_server_rules()`): a frontend's `use_backend` rules and
//! `default_backend`, a backend's `use-server` and `force-persist` /
//! `ignore-persist` rules, compiled at start-up into indexes and
//! conditions, and evaluated over a request's [`Ctx`].
//!
//! Owns the resolution of static names (at start-up, with HAProxy's
//! alerts) and of dynamic ones (`%[...]`, at run time). It must not touch
//! streams, counters or sockets: the stream asks which backend or server
//! applies and enters it itself.

use crate::acl::{AclSet, Cond};
use crate::logfmt::LogFmt;
use crate::sample::{Ctx, Dir};
use config::model::{Config, Mode, Proxy};

/// Where a rule sends the request: a known proxy or server index, or a
/// name built from samples and looked up when the rule matches.
#[derive(Debug)]
enum Target {
    Index(usize),
    Dynamic(LogFmt),
}

#[derive(Debug)]
struct Rule {
    target: Target,
    cond: Option<Cond>,
}

/// The rules a frontend chooses its backend with.
#[derive(Debug, Default)]
pub struct Switching {
    rules: Vec<Rule>,
    /// Nothing to evaluate: the first rule is static and unconditional
    /// (or there is none), so no sample context is needed.
    pub trivial: bool,
}

/// What a backend's persistence rules decided for a request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Persist {
    #[default]
    None,
    Force,
    Ignore,
}

/// A backend's `use-server` and persistence rules.
#[derive(Debug, Default)]
pub struct ServerRules {
    rules: Vec<Rule>,
    persist: Vec<(Persist, Cond)>,
}

impl ServerRules {
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty() && self.persist.is_empty()
    }
}

/// The condition words of a rule line starting at `from`: None when the
/// line ends there, an alert text when something else follows.
fn cond_at(words: &[String], from: usize, acls: &AclSet) -> Result<Option<Cond>, String> {
    match words.get(from).map(|s| s.as_str()) {
        None => Ok(None),
        Some("if" | "unless") => Cond::parse(&words[from..], acls, Dir::Req).map(Some),
        Some(w) => Err(format!(
            "unexpected keyword '{w}' after switching rule, only 'if' and 'unless' are allowed"
        )),
    }
}

/// A name that may be a log-format: Some(format) when it has samples.
fn dynamic_name(name: &str) -> Result<Option<LogFmt>, String> {
    if !name.contains('%') {
        return Ok(None);
    }
    let f = LogFmt::parse(name, Dir::Req)?;
    Ok(if f.literal().is_some() { None } else { Some(f) })
}

/// HAProxy's `proxy_be_by_name()`: a proxy with the backend capability.
fn backend_by_name(cfg: &Config, name: &[u8]) -> Option<usize> {
    cfg.proxies
        .iter()
        .position(|p| p.cap.backend && !p.disabled && p.name.as_bytes() == name)
}

fn mode_str(m: Mode) -> &'static str {
    match m {
        Mode::Http => "HTTP",
        _ => "TCP",
    }
}

fn type_str(p: &Proxy) -> &'static str {
    match (p.cap.frontend, p.cap.backend) {
        (true, false) => "frontend",
        (false, true) => "backend",
        _ => "proxy",
    }
}

impl Switching {
    /// Compiles frontend `idx`'s `use_backend` rules. Errors are HAProxy's
    /// alert texts.
    pub fn build(cfg: &Config, idx: usize) -> Result<Switching, String> {
        let p = &cfg.proxies[idx];
        let mut sw = Switching {
            rules: Vec::with_capacity(p.use_backends.len()),
            trivial: true,
        };
        if p.use_backends.is_empty() {
            return Ok(sw);
        }
        let acls = AclSet::build(&p.acls)?;
        for ub in &p.use_backends {
            let loc = &ub.loc;
            let cond = cond_at(&ub.cond, 0, &acls)
                .map_err(|e| format!("parsing [{loc}] : error detected while parsing switching rule : {e}."))?;
            let target = match dynamic_name(&ub.backend).map_err(|e| {
                format!(
                    "Parsing [{loc}]: failed to parse use_backend rule '{}' : {e}.",
                    ub.backend
                )
            })? {
                Some(f) => Target::Dynamic(f),
                None => {
                    let name = ub.backend.replace("%%", "%");
                    let b = backend_by_name(cfg, name.as_bytes())
                        .ok_or_else(|| format!("Proxy '{}': unable to find required use_backend: '{name}'.", p.name))?;
                    let be = &cfg.proxies[b];
                    if b == idx {
                        return Err(format!("Proxy '{}': loop detected for use_backend: '{name}'.", p.name));
                    }
                    if be.mode != p.mode {
                        // HAProxy lets a TCP frontend upgrade to an HTTP
                        // backend; rhaproxy does not do that upgrade.
                        let what = format!(
                            "{} {} '{}' ({}) tries to use incompatible {} {} '{}' ({}) in a 'use_backend' rule (see 'mode').",
                            mode_str(p.mode),
                            type_str(p),
                            p.name,
                            p.loc,
                            mode_str(be.mode),
                            type_str(be),
                            be.name,
                            be.loc
                        );
                        return Err(if p.mode == Mode::Tcp {
                            format!("parsing [{loc}] : 'use_backend' from a TCP frontend to an HTTP backend is not supported yet by rhaproxy ({what})")
                        } else {
                            what
                        });
                    }
                    Target::Index(b)
                }
            };
            sw.rules.push(Rule { target, cond });
        }
        sw.trivial = matches!(
            sw.rules.first(),
            Some(Rule {
                target: Target::Index(_),
                cond: None
            })
        );
        Ok(sw)
    }

    /// The backends static rules name, for `fullconn`'s default.
    pub fn static_targets(&self) -> impl Iterator<Item = usize> + '_ {
        self.rules.iter().filter_map(|r| match r.target {
            Target::Index(i) => Some(i),
            Target::Dynamic(_) => None,
        })
    }

    /// The first static unconditional target when nothing needs a
    /// context (`trivial`).
    pub fn first_static(&self) -> Option<usize> {
        match self.rules.first() {
            Some(Rule {
                target: Target::Index(i),
                cond: None,
            }) => Some(*i),
            _ => None,
        }
    }

    /// The backend of the first matching rule, if any (None: the caller
    /// falls back to the default backend). A dynamic name that names no
    /// backend stops the evaluation there, as in HAProxy.
    pub fn select(&self, cfg: &Config, cx: &mut Ctx<'_>) -> Option<usize> {
        for r in &self.rules {
            if let Some(c) = &r.cond {
                if !c.eval(cx) {
                    continue;
                }
            }
            return match &r.target {
                Target::Index(i) => Some(*i),
                Target::Dynamic(f) => {
                    let mut name = Vec::with_capacity(32);
                    f.render(cx, &mut name);
                    backend_by_name(cfg, &name)
                }
            };
        }
        None
    }
}

impl ServerRules {
    /// Compiles backend `p`'s `use-server`, `force-persist` and
    /// `ignore-persist` rules.
    pub fn build(p: &Proxy) -> Result<ServerRules, String> {
        if p.use_servers.is_empty() && p.persist_rules.is_empty() {
            return Ok(ServerRules::default());
        }
        let acls = AclSet::build(&p.acls)?;
        Self::build_with(p, &acls)
    }

    fn build_with(p: &Proxy, acls: &AclSet) -> Result<ServerRules, String> {
        let mut sr = ServerRules::default();
        for l in &p.use_servers {
            let loc = &l.loc;
            let name = l.words.get(1).map(|s| s.as_str()).unwrap_or("");
            if name.is_empty() {
                return Err(format!("parsing [{loc}] : 'use-server' expects a server name."));
            }
            if !matches!(l.words.get(2).map(|s| s.as_str()), Some("if" | "unless")) {
                return Err(format!(
                    "parsing [{loc}] : 'use-server' requires either 'if' or 'unless' followed by a condition."
                ));
            }
            let cond = Cond::parse(&l.words[2..], acls, Dir::Req)
                .map_err(|e| format!("parsing [{loc}] : error detected while parsing switching rule : {e}."))?;
            let target = match dynamic_name(name)
                .map_err(|e| format!("Parsing [{loc}]; use-server rule failed to parse log-format '{name}' : {e}."))?
            {
                Some(f) => Target::Dynamic(f),
                None => {
                    let name = name.replace("%%", "%");
                    match p.servers.iter().position(|s| s.name == name) {
                        Some(i) => Target::Index(i),
                        None => {
                            return Err(format!(
                                "{} '{}' : unable to find server '{name}' referenced in a 'use-server' rule.",
                                type_str(p),
                                p.name
                            ))
                        }
                    }
                }
            };
            sr.rules.push(Rule {
                target,
                cond: Some(cond),
            });
        }
        for l in &p.persist_rules {
            let kw = l.words[0].as_str();
            if !matches!(l.words.get(1).map(|s| s.as_str()), Some("if" | "unless")) {
                return Err(format!(
                    "parsing [{}] : '{kw}' requires either 'if' or 'unless' followed by a condition.",
                    l.loc
                ));
            }
            let cond = Cond::parse(&l.words[1..], acls, Dir::Req).map_err(|e| {
                format!(
                    "parsing [{}] : error detected while parsing a '{kw}' rule : {e}.",
                    l.loc
                )
            })?;
            let what = if kw == "force-persist" {
                Persist::Force
            } else {
                Persist::Ignore
            };
            sr.persist.push((what, cond));
        }
        Ok(sr)
    }

    /// The first persistence rule that matches (evaluated once the
    /// backend is known).
    pub fn persist(&self, cx: &mut Ctx<'_>) -> Persist {
        for (what, c) in &self.persist {
            if c.eval(cx) {
                return *what;
            }
        }
        Persist::None
    }

    /// The server of the first matching `use-server` rule whose server
    /// is not down (a down one still counts with `option persist` or a
    /// `force-persist` match), or None to let load balancing choose.
    /// `find` looks a server up by name (servers can be added at run
    /// time); `down` says whether one is stopped.
    pub fn select(
        &self,
        cx: &mut Ctx<'_>,
        persist_ok: bool,
        find: impl Fn(&[u8]) -> Option<usize>,
        down: impl Fn(usize) -> bool,
    ) -> Option<usize> {
        for r in &self.rules {
            if let Some(c) = &r.cond {
                if !c.eval(cx) {
                    continue;
                }
            }
            let srv = match &r.target {
                Target::Index(i) => *i,
                Target::Dynamic(f) => {
                    let mut name = Vec::with_capacity(32);
                    f.render(cx, &mut name);
                    find(&name)?
                }
            };
            if !down(srv) || persist_ok {
                return Some(srv);
            }
        }
        None
    }
}

/// Checks a `use_backend`, `use-server`, `force-persist`,
/// `ignore-persist` or `redirect` line while the configuration is read
/// (`-c`), with the texts start-up would give.
pub fn check_line(p: &Proxy, l: &config::model::RawLine, acls: &AclSet) -> Result<(), String> {
    let loc = &l.loc;
    match l.words[0].as_str() {
        "use_backend" => {
            cond_at(&l.words, 2, acls)
                .map_err(|e| format!("parsing [{loc}] : error detected while parsing switching rule : {e}."))?;
        }
        "redirect" => {
            crate::http_act::compile_redirect_kw(p, l, acls)?;
        }
        _ => {
            let one = Proxy {
                use_servers: if l.words[0] == "use-server" {
                    vec![l.clone()]
                } else {
                    Vec::new()
                },
                persist_rules: if l.words[0] == "use-server" {
                    Vec::new()
                } else {
                    vec![l.clone()]
                },
                servers: Vec::new(),
                ..p.clone()
            };
            match ServerRules::build_with(&one, acls) {
                // The server may be declared further down.
                Err(e) if e.contains("unable to find server") => {}
                Err(e) => return Err(e),
                Ok(_) => {}
            }
        }
    }
    Ok(())
}
