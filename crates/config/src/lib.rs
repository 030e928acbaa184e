//! `config`: HAProxy 2.6's configuration language for rhaproxy — tokenizer,
//! `.if` conditions, sections and keywords, typed values and addresses, and
//! diagnostics worded like HAProxy's. It produces `model::Config` for the
//! `proxy` crate and must not open sockets or start anything.
//!
//! Entry point: [`load`] reads files (or directories of `*.cfg`), returns
//! the model and every diagnostic; the caller prints them and decides the
//! exit status like HAProxy does.

pub mod addr;
pub mod check;
pub mod cond;
pub mod cookie;
pub mod diag;
pub mod features;
pub mod keywords;
pub mod model;
pub mod parser;
pub mod peers;
mod proxy_kw;
pub mod resolvers;
pub mod ssl;
pub mod stick_table;
pub use proxy_kw::parse_dynamic_server;
pub mod tokenizer;
pub mod units;

pub use diag::{Diag, Diags, Level};
pub use model::*;
pub use parser::{LoadOptions, RuleCheck, RuleErr};

use std::path::{Path, PathBuf};

/// The outcome of loading configuration files.
#[derive(Debug)]
pub struct Loaded {
    pub config: Config,
    /// Every message, in emission order.
    pub diags: Vec<Diag>,
    /// Fatal errors: HAProxy would refuse to start (exit 1).
    pub fatal: bool,
    /// Server names that did not resolve (HAProxy's "Failed to initialize
    /// server(s) addr."): fatal too, reported after the checks.
    pub unresolved: bool,
    pub warnings: bool,
    /// Reading stopped at an ERR_ABORT error: HAProxy exits right after
    /// "Error(s) found in configuration file", without the final
    /// "Fatal errors found in configuration." line.
    pub aborted: bool,
}

/// Expands `-f` arguments: a directory yields its `*.cfg` files in lexical
/// order (HAProxy skips hidden and non-regular files).
pub fn expand_paths(args: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for a in args {
        let md = std::fs::metadata(a).map_err(|e| {
            format!(
                "Cannot open configuration file/directory {} : {}",
                a.display(),
                io_text(&e)
            )
        })?;
        if md.is_dir() {
            let mut names: Vec<PathBuf> = std::fs::read_dir(a)
                .map_err(|e| {
                    format!(
                        "Cannot open configuration file/directory {} : {}",
                        a.display(),
                        io_text(&e)
                    )
                })?
                .filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| {
                    let n = p
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    !n.starts_with('.') && n.ends_with(".cfg") && n.len() > 4 && p.is_file()
                })
                .collect();
            names.sort();
            out.extend(names);
        } else {
            out.push(a.clone());
        }
    }
    Ok(out)
}

/// strerror-like text for an io error (Rust appends " (os error N)").
pub fn io_text(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(p) => s[..p].to_string(),
        None => s,
    }
}

/// Loads files in order, like HAProxy: parse every file (stopping on
/// abort), print "Error(s) found in configuration file" per bad file, then
/// run post-parse checks only if nothing was fatal.
pub fn load(files: &[PathBuf], opts: &LoadOptions) -> Loaded {
    let mut p = parser::Parser::new(opts.clone());
    let mut any_fatal = false;
    for f in files {
        let name = f.to_string_lossy().into_owned();
        let data = match std::fs::read(f) {
            Ok(d) => d,
            Err(e) => {
                p.diags
                    .alert(format!("Could not open configuration file {name} : {}", io_text(&e)));
                any_fatal = true;
                break;
            }
        };
        p.diags.fatal = false;
        let go_on = p.parse_file(&name, &data);
        if p.diags.fatal || !go_on {
            p.diags.alert(format!("Error(s) found in configuration file : {name}"));
            any_fatal = true;
        }
        if !go_on || p.diags.abort {
            break;
        }
    }
    p.diags.fatal = any_fatal;
    if !any_fatal {
        p.finish();
    }
    let fatal = p.diags.fatal;
    let mut unresolved = false;
    if !fatal {
        for (alert, m) in resolvers::init_addrs(&mut p.cfg, opts.ignore_unresolved) {
            if alert {
                unresolved = true;
                p.diags.alert_nonfatal(m);
            } else {
                p.diags.warning(m);
            }
        }
        if unresolved {
            p.diags.alert_nonfatal("Failed to initialize server(s) addr.");
        }
    }
    let warnings = p.diags.warned;
    let aborted = p.diags.abort;
    Loaded {
        aborted,
        config: p.cfg,
        diags: p.diags.list,
        fatal,
        unresolved,
        warnings,
    }
}

/// Convenience for tests: load one in-memory configuration.
pub fn load_str(name: &str, text: &str, opts: &LoadOptions) -> Loaded {
    let dir = std::env::temp_dir().join(format!(
        "rhaproxy-cfg-{}-{}",
        std::process::id(),
        name.replace('/', "_")
    ));
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write temp config");
    let l = load(&[path], opts);
    let _ = std::fs::remove_dir_all(&dir);
    l
}

/// Whether a path names an existing directory (for `-f`).
pub fn is_dir(p: &Path) -> bool {
    p.is_dir()
}

#[cfg(test)]
mod doc_tests {
    /// docs/configuration.md embeds the generated keyword tables between
    /// markers; set RHAPROXY_UPDATE_DOCS=1 to rewrite them.
    #[test]
    fn configuration_doc_is_current() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/configuration.md");
        let doc = std::fs::read_to_string(&path).expect("docs/configuration.md");
        let (begin, end) = ("<!-- BEGIN GENERATED KEYWORDS -->\n", "<!-- END GENERATED KEYWORDS -->");
        let a = doc.find(begin).expect("begin marker") + begin.len();
        let b = doc.find(end).expect("end marker");
        let want = crate::keywords::markdown_tables();
        if std::env::var_os("RHAPROXY_UPDATE_DOCS").is_some() {
            std::fs::write(&path, format!("{}{}{}", &doc[..a], want, &doc[b..])).unwrap();
            return;
        }
        assert_eq!(&doc[a..b], want, "run RHAPROXY_UPDATE_DOCS=1 cargo test -p config");
    }
}
