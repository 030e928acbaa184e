//! The section parser: reads files line by line, runs the `.if` state
//! machine and the `.diag/.notice/.warning/.alert` directives, dispatches
//! keywords of `global`, `defaults`, `frontend`, `backend`, `listen` and
//! `http-errors` into the model, and reports in HAProxy's words. It owns the
//! grammar of sections; post-parse cross checks live in `check`.

use crate::addr::{parse_addr_env, Addr, AddrError, AddrUse};
use crate::cond::eval_condition;
use crate::diag::Diags;
use crate::keywords;
use crate::model::*;
use crate::tokenizer::{process_env, split_line, LineCtx};
use crate::units::{atol, parse_time_ms, parse_uint, TimeError};
use std::collections::HashMap;

/// Loader settings from the command line.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// `-dr`: server names that do not resolve are accepted.
    pub ignore_unresolved: bool,
    /// `-dD`: diagnostic mode.
    pub diag_mode: bool,
    /// Compiles an `acl` or rule line as soon as it is read, like HAProxy
    /// parses ACLs, actions and sample expressions while reading the file
    /// (so `-c` reports a bad fetch or converter argument). The engine
    /// lives in the `proxy` crate; `None` only records the words.
    pub rule_check: Option<RuleCheck>,
    /// `-L`: this process's name in `peers` sections (over `localpeer`).
    pub local_peer: Option<String>,
}

/// See [`LoadOptions::rule_check`]: given the proxy as parsed so far (the
/// line already appended to its list), whether it is in a `defaults`
/// section, and the line. An error is an alert text without location
/// prefix handling (the text is printed as is).
pub type RuleCheck = fn(&crate::model::Proxy, bool, &crate::model::RawLine) -> Result<(), RuleErr>;

/// A rule line HAProxy would refuse while parsing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleErr {
    pub text: String,
    /// HAProxy's ERR_ABORT: reading stops at this line (rule actions);
    /// otherwise only the configuration is invalid (ACLs, tcp rules).
    pub abort: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Cond {
    IfTake,
    IfDrop,
    IfSkip,
    ElifTake,
    ElifDrop,
    ElifSkip,
    ElseTake,
    ElseDrop,
}

impl Cond {
    fn masked(self) -> bool {
        matches!(
            self,
            Cond::IfDrop | Cond::IfSkip | Cond::ElifDrop | Cond::ElifSkip | Cond::ElseDrop
        )
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Section {
    None,
    Global,
    /// Index into `defaults_list`.
    Defaults(usize),
    Proxy(usize),
    HttpErrors(usize),
    /// `userlist`: lines go to the most recently created userlist (as
    /// HAProxy's head-of-list, even after a duplicate name was ignored).
    Userlist,
    /// Index into `cfg.resolvers`.
    Resolvers(usize),
    /// Index into `cfg.peers`.
    Peers(usize),
    /// Index into `cfg.programs`.
    Program(usize),
    /// Index into `cfg.fcgi_apps`.
    FcgiApp(usize),
    /// A section kind rhaproxy does not parse yet; its lines are skipped.
    Unsupported,
    /// A proxy header HAProxy refused (extra words): no proxy was created
    /// and every line until the next section is an error.
    Orphan,
}

/// Rules-related facts about one defaults section.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct DefaultsMeta {
    /// Defines TCP/HTTP rules.
    pub rules: bool,
    /// Defines `tcp-request connection`/`session` rules.
    pub conn_sess: bool,
    /// Defines `tcp-response content` rules.
    pub tcp_resp: bool,
    pub used_by_fe: bool,
    pub used_by_be: bool,
}

/// Keyword modifier (`no`/`default` prefix).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Kwm {
    Std,
    No,
    Def,
}

/// Parsing state across files.
pub struct Parser {
    pub opts: LoadOptions,
    pub cfg: Config,
    pub diags: Diags,
    /// Every defaults section parsed so far (named or not).
    pub(crate) defaults_list: Vec<Proxy>,
    /// What each defaults section defines and who inherited it, for
    /// HAProxy's rules-inheritance restrictions (parallel to `defaults_list`).
    pub(crate) defaults_meta: Vec<DefaultsMeta>,
    /// Index of the defaults section new proxies inherit from.
    cur_defaults: Option<usize>,
    section: Section,
    section_name: String,
    /// Overlay of `setenv`/`unsetenv` on the process environment.
    env: HashMap<String, Option<String>>,
}

/// Looks a user or group name up in the system databases, as HAProxy does
/// at parse time. The error is HAProxy's "(errno:strerror)" text.
fn lookup_id(user: bool, name: &str) -> Result<u32, String> {
    let cname = std::ffi::CString::new(name).map_err(|_| "0:Success".to_string())?;
    // SAFETY: getpwnam/getgrnam read a NUL-terminated name and return a
    // pointer into static storage (or NULL) that we read immediately; the
    // config loader runs single-threaded.
    unsafe {
        *libc::__errno_location() = 0;
        let id = if user {
            let p = libc::getpwnam(cname.as_ptr());
            (!p.is_null()).then(|| (*p).pw_uid)
        } else {
            let g = libc::getgrnam(cname.as_ptr());
            (!g.is_null()).then(|| (*g).gr_gid)
        };
        match id {
            Some(i) => Ok(i),
            None => {
                let errno = *libc::__errno_location();
                let text = std::io::Error::from_raw_os_error(errno).to_string();
                let text = if errno == 0 {
                    "Success".to_string()
                } else {
                    text[..text.find(" (os error").unwrap_or(text.len())].to_string()
                };
                Err(format!("{errno}:{text}"))
            }
        }
    }
}

/// C isalnum or '.', '-', '_', ':' : HAProxy's allowed name characters.
pub(crate) fn invalid_char(name: &str) -> Option<char> {
    name.chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':')))
}

fn time_err(e: TimeError, arg: &str, kw: &str) -> String {
    match e {
        TimeError::BadChar(c) => format!("unexpected character '{c}' in '{kw}'"),
        TimeError::Overflow => {
            format!("timer overflow in argument '{arg}' to '{kw}' (maximum value is 2147483647 ms or ~24.8 days)")
        }
        TimeError::Underflow => {
            format!("timer underflow in argument '{arg}' to '{kw}' (minimum non-null value is 1 ms)")
        }
        TimeError::Empty => format!("'{kw}' expects an integer value (in milliseconds)"),
    }
}

const FACILITIES: &[&str] = &[
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "auth2", "ftp", "ntp", "audit",
    "alert", "cron2", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
];
const LEVELS: &[&str] = &["emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"];

impl Parser {
    pub fn new(opts: LoadOptions) -> Parser {
        Parser {
            opts,
            cfg: Config::default(),
            diags: Diags::default(),
            defaults_list: Vec::new(),
            defaults_meta: Vec::new(),
            cur_defaults: None,
            section: Section::None,
            section_name: String::new(),
            env: HashMap::new(),
        }
    }

    /// Parses an address as HAProxy's str2sa_range does, with the
    /// configuration's view of the environment for `$VAR` / `${VAR}`.
    pub(crate) fn addr(&self, s: &str, usage: AddrUse, allow_unresolved: bool) -> Result<Addr, AddrError> {
        parse_addr_env(s, usage, allow_unresolved, &|n| self.getenv(n))
    }

    fn getenv(&self, name: &str) -> Option<String> {
        match self.env.get(name) {
            Some(v) => v.clone(),
            None => process_env(name),
        }
    }

    /// Reads one file. Returns false if HAProxy would abort all parsing.
    pub fn parse_file(&mut self, file: &str, data: &[u8]) -> bool {
        let mut conds: Vec<Cond> = Vec::new();
        let mut fatal_count = 0;
        let mut lines: Vec<&[u8]> = data.split(|&b| b == b'\n').collect();
        let missing_lf = !data.is_empty() && !data.ends_with(b"\n");
        if lines.last().is_some_and(|l| l.is_empty()) {
            lines.pop();
        }
        let mut linenum = 0;
        self.section = Section::None;
        for raw in lines.iter() {
            linenum += 1;
            if fatal_count >= 50 {
                self.diags.alert(format!(
                    "parsing [{file}:{linenum}]: too many fatal errors ({fatal_count}), stopping now."
                ));
                break;
            }
            if let Some(p) = raw.iter().position(|&b| b == 0) {
                // HAProxy reads a line with a NUL as truncated at the NUL
                self.diags.alert(format!(
                    "parsing [{file}:{linenum}]: Stray NUL character at position {}.",
                    p + 1
                ));
                break;
            }
            let start = raw
                .iter()
                .position(|c| !matches!(c, b' ' | b'\t' | b'\r' | 0x0b | 0x0c))
                .unwrap_or(raw.len());
            let line = &raw[start..];
            if line.first() == Some(&b'[') {
                // scope lines are accepted by HAProxy for -dD traceability
                continue;
            }
            let before = self.diags.fatal;
            self.diags.fatal = false;
            let env = |n: &str| self.getenv(n);
            let sec = self.section_name.clone();
            let ctx = LineCtx {
                file,
                line: linenum,
                section: &sec,
                env: &env,
            };
            let words = match split_line(line, &ctx) {
                Ok(w) => w,
                Err(e) => {
                    let shown = String::from_utf8_lossy(line);
                    self.diags.alert(format!(
                        "parsing [{file}:{linenum}]: {} at position {}:\n  {shown}\n  {:>w$}",
                        e.kind.text(),
                        e.pos + start + 1,
                        "^",
                        w = e.pos + 1
                    ));
                    fatal_count += 1;
                    self.diags.fatal = true;
                    continue;
                }
            };
            self.diags.fatal = before;
            if words[0].is_empty() {
                continue;
            }
            let w0 = words[0].as_str();
            if w0.starts_with('.') {
                // conditional blocks
                let whole = || words[1..].join(" ");
                match w0 {
                    ".if" => {
                        if conds.last().is_some_and(|c| c.masked()) {
                            conds.push(Cond::IfSkip);
                            continue;
                        }
                        let text = whole();
                        match eval_condition(&text, &|n| self.getenv(n)) {
                            Ok(true) => conds.push(Cond::IfTake),
                            Ok(false) => conds.push(Cond::IfDrop),
                            Err(e) => {
                                self.diags.alert(format!(
                                    "parsing [{file}:{linenum}]: {} in '.if' at position {}:\n  .if {text}\n  {:>w$}",
                                    e.msg,
                                    e.pos + 1,
                                    "^",
                                    w = e.pos + 5
                                ));
                                return false;
                            }
                        }
                        continue;
                    }
                    ".elif" => {
                        let Some(top) = conds.last().copied() else {
                            self.diags.alert(format!(
                                "parsing [{file}:{linenum}]: lone '.elif' with no matching '.if'."
                            ));
                            return false;
                        };
                        if matches!(top, Cond::ElseTake | Cond::ElseDrop) {
                            self.diags.alert(format!(
                                "parsing [{file}:{linenum}]: '.elif' after '.else' is not permitted."
                            ));
                            return false;
                        }
                        let n = conds.len() - 1;
                        if matches!(top, Cond::IfTake | Cond::IfSkip | Cond::ElifTake | Cond::ElifSkip) {
                            conds[n] = Cond::ElifSkip;
                            continue;
                        }
                        let text = whole();
                        match eval_condition(&text, &|n| self.getenv(n)) {
                            Ok(true) => conds[n] = Cond::ElifTake,
                            Ok(false) => conds[n] = Cond::ElifDrop,
                            Err(e) => {
                                self.diags.alert(format!(
                                    "parsing [{file}:{linenum}]: {} in '.elif' at position {}:\n  .elif {text}\n  {:>w$}",
                                    e.msg,
                                    e.pos + 1,
                                    "^",
                                    w = e.pos + 7
                                ));
                                return false;
                            }
                        }
                        continue;
                    }
                    ".else" | ".endif" => {
                        if words.len() > 1 {
                            self.diags.alert(format!(
                                "parsing [{file}:{linenum}]: Unexpected argument '{}' for '{w0}'.",
                                words[1]
                            ));
                            return false;
                        }
                        let Some(top) = conds.last().copied() else {
                            self.diags.alert(format!(
                                "parsing [{file}:{linenum}]: lone '{w0}' with no matching '.if'."
                            ));
                            return false;
                        };
                        if w0 == ".endif" {
                            conds.pop();
                            continue;
                        }
                        if matches!(top, Cond::ElseTake | Cond::ElseDrop) {
                            self.diags.alert(format!(
                                "parsing [{file}:{linenum}]: '.else' after '.else' is not permitted."
                            ));
                            return false;
                        }
                        let n = conds.len() - 1;
                        conds[n] = if matches!(top, Cond::IfTake | Cond::IfSkip | Cond::ElifTake | Cond::ElifSkip) {
                            Cond::ElseDrop
                        } else {
                            Cond::ElseTake
                        };
                        continue;
                    }
                    _ => {}
                }
            }
            if conds.last().is_some_and(|c| c.masked()) {
                continue;
            }
            if w0.starts_with('.') {
                let msg_kw = [".alert", ".warning", ".notice", ".diag"];
                if msg_kw.contains(&w0) {
                    if words.len() > 2 {
                        self.diags.alert(format!(
                            "parsing [{file}:{linenum}]: Unexpected argument '{}' for '{w0}'. Use quotes if the message should contain spaces.",
                            words[2]
                        ));
                        continue;
                    }
                    let m = format!(
                        "parsing [{file}:{linenum}]: '{}'.",
                        words.get(1).map_or("", |s| s.as_str())
                    );
                    match w0 {
                        ".alert" => {
                            self.diags.alert(m);
                            return false;
                        }
                        ".warning" => self.diags.warning(m),
                        ".notice" => self.diags.notice(m),
                        _ => {
                            if self.opts.diag_mode {
                                self.diags.diag(m)
                            }
                        }
                    }
                    continue;
                }
                self.diags
                    .alert(format!("parsing [{file}:{linenum}]: unknown directive '{w0}'."));
                break;
            }
            let was_fatal = self.diags.fatal;
            self.diags.fatal = false;
            let keep_going = self.parse_words(file, linenum, words);
            if self.diags.fatal {
                fatal_count += 1;
            }
            self.diags.fatal |= was_fatal;
            if !keep_going {
                return false;
            }
            if self.diags.abort {
                // HAProxy's ERR_ABORT: the rest of the file is not read.
                self.diags.fatal = true;
                return true;
            }
        }
        if missing_lf {
            let last = lines.last().map_or(0, |l| l.len());
            self.diags.alert(format!(
                "parsing [{file}:{linenum}]: Missing LF on last line, file might have been truncated at position {}.",
                last + 1
            ));
        }
        self.end_section();
        if !conds.is_empty() {
            self.diags
                .alert(format!("parsing [{file}:{linenum}]: non-terminated '.if' block."));
            return false;
        }
        true
    }

    /// A line of a `program` section (HAProxy's `cfg_parse_program`).
    fn parse_program(&mut self, i: usize, w: &[String], kwm: Kwm, loc: &Loc) {
        let (file, line) = (&loc.file, loc.line);
        let arg = |n: usize| w.get(n).map(String::as_str).unwrap_or("");
        match arg(0) {
            "command" => {
                if arg(1).is_empty() {
                    self.diags.alert(format!(
                        "parsing [{file}:{line}]: '{}' expects a command with optional arguments separated in words.",
                        arg(0)
                    ));
                    return;
                }
                self.cfg.programs[i].command = w[1..].to_vec();
            }
            "option" => {
                if arg(1).is_empty() {
                    self.diags
                        .alert(format!("parsing [{file}:{line}]: '{}' expects an option name.", arg(0)));
                } else if arg(1) == "start-on-reload" {
                    if w.len() > 2 {
                        self.diags.alert(format!(
                            "parsing [{file}:{line}] : '{} {}' cannot handle unexpected argument '{}'.",
                            arg(0),
                            arg(1),
                            arg(2)
                        ));
                        return;
                    }
                    self.cfg.programs[i].start_on_reload = kwm != Kwm::No;
                } else {
                    self.diags
                        .alert(format!("parsing [{file}:{line}] : unknown option '{}'.", arg(1)));
                }
            }
            "user" | "group" => {
                let user = arg(0) == "user";
                if arg(1).is_empty() {
                    self.diags.alert(format!(
                        "parsing [{file}:{line}]: '{}' expects a {} name.",
                        arg(0),
                        if user { "user" } else { "group" }
                    ));
                    return;
                }
                let p = &self.cfg.programs[i];
                if (user && p.uid.is_some()) || (!user && p.gid.is_some()) {
                    let what = if user { "user/uid" } else { "group/gid" };
                    self.diags.alert_nonfatal(format!(
                        "parsing [{file}:{line}] : {what} already specified. Continuing."
                    ));
                    return;
                }
                match lookup_id(user, arg(1)) {
                    Ok(id) if user => self.cfg.programs[i].uid = Some(id),
                    Ok(id) => self.cfg.programs[i].gid = Some(id),
                    Err(e) => self.diags.alert(format!(
                        "parsing [{file}:{line}] : cannot find {} id for '{}' ({e})",
                        if user { "user" } else { "group" },
                        arg(1)
                    )),
                }
            }
            kw => self.diags.alert(format!(
                "parsing [{file}:{line}] : unknown keyword '{kw}' in 'program' section"
            )),
        }
    }

    fn end_section(&mut self) {
        self.section = Section::None;
    }

    /// One significant line. Returns false to abort.
    fn parse_words(&mut self, file: &str, line: usize, mut words: Vec<String>) -> bool {
        let mut kwm = Kwm::Std;
        if words[0] == "no" || words[0] == "default" {
            kwm = if words[0] == "no" { Kwm::No } else { Kwm::Def };
            words.remove(0);
            if words.is_empty() {
                words.push(String::new());
            }
        }
        let allowed_mod = [
            "option",
            "log",
            "busy-polling",
            "set-dumpable",
            "strict-limits",
            "insecure-fork-wanted",
            "numa-cpu-mapping",
        ];
        if kwm != Kwm::Std && !allowed_mod.contains(&words[0].as_str()) {
            self.diags.alert(format!(
                "parsing [{file}:{line}]: negation/default currently supported only for options, log, busy-polling, set-dumpable, strict-limits, insecure-fork-wanted and numa-cpu-mapping."
            ));
        }
        let loc = Loc {
            file: file.to_string(),
            line,
        };
        let w0 = words[0].clone();
        match w0.as_str() {
            "global" => {
                self.section = Section::Global;
                self.section_name = "global".into();
                if self.cfg.global.loc.line == 0 {
                    self.cfg.global.loc = loc;
                }
                if words.len() > 1 {
                    self.diags.alert(format!(
                        "parsing [{file}:{line}] : 'global' cannot handle unexpected argument '{}'.",
                        words[1]
                    ));
                }
                return true;
            }
            "defaults" | "frontend" | "backend" | "listen" => {
                self.section_name = words.get(1).cloned().unwrap_or_else(|| w0.clone());
                self.new_proxy_section(&words, loc);
                return true;
            }
            "http-errors" => {
                self.section_name = words.get(1).cloned().unwrap_or_else(|| w0.clone());
                if words.len() < 2 {
                    self.diags.alert(format!(
                        "parsing [{file}:{line}] : missing name for http-errors section."
                    ));
                    self.section = Section::Unsupported;
                    return true;
                }
                if let Some(prev) = self.cfg.http_errors.iter().find(|h| h.name == words[1]) {
                    self.diags.alert(format!(
                        "parsing [{file}:{line}]: http-errors section '{}' has the same name as another http-errors section declared at {}:{}.",
                        words[1], prev.loc.file, prev.loc.line
                    ));
                }
                self.cfg.http_errors.push(HttpErrors {
                    name: words[1].clone(),
                    files: Vec::new(),
                    loc,
                });
                self.section = Section::HttpErrors(self.cfg.http_errors.len() - 1);
                return true;
            }
            "userlist" => {
                self.section_name = words.get(1).cloned().unwrap_or_else(|| w0.clone());
                self.section = Section::Userlist;
                self.parse_userlist(&words, loc);
                return true;
            }
            "resolvers" => {
                self.section_name = words.get(1).cloned().unwrap_or_else(|| w0.clone());
                self.section = Section::Unsupported;
                if !self.resolvers_header(&words, loc) {
                    return false;
                }
                self.section = Section::Resolvers(self.cfg.resolvers.len() - 1);
                return true;
            }
            "peers" => {
                self.section_name = words.get(1).cloned().unwrap_or_else(|| w0.clone());
                self.section = Section::Unsupported;
                if !self.peers_header(&words, loc) {
                    return false;
                }
                self.section = Section::Peers(self.cfg.peers.len() - 1);
                return true;
            }
            "program" => {
                self.section_name = words.get(1).cloned().unwrap_or_else(|| w0.clone());
                self.section = Section::Unsupported;
                if words.len() > 2 {
                    self.diags.alert(format!(
                        "parsing [{file}:{line}] : '{w0}' cannot handle unexpected argument '{}'.",
                        words[2]
                    ));
                    return false;
                }
                let Some(name) = words.get(1).filter(|n| !n.is_empty()) else {
                    self.diags
                        .alert(format!("parsing [{file}:{line}] : '{w0}' expects an <id> argument"));
                    return false;
                };
                if self.cfg.programs.iter().any(|p| &p.name == name) {
                    self.diags.alert(format!(
                        "parsing [{file}:{line}]: '{name}' program section already exists in the configuration."
                    ));
                    return false;
                }
                self.cfg.programs.push(crate::model::Program {
                    name: name.clone(),
                    start_on_reload: true,
                    loc,
                    ..Default::default()
                });
                self.section = Section::Program(self.cfg.programs.len() - 1);
                return true;
            }
            "fcgi-app" => {
                self.section_name = words.get(1).cloned().unwrap_or_else(|| w0.clone());
                self.section = Section::Unsupported;
                let Some(name) = words.get(1).filter(|n| !n.is_empty()) else {
                    self.diags
                        .alert(format!("parsing [{file}:{line}]: '{w0}' expects <name> as argument."));
                    return true;
                };
                if let Some(w) = words.get(2) {
                    self.diags.alert(format!(
                        "parsing [{file}:{line}] : '{w0}' cannot handle unexpected argument '{w}'."
                    ));
                    return true;
                }
                if let Some(c) = invalid_char(name) {
                    self.diags.alert(format!(
                        "parsing [{file}:{line}]: character '{c}' is not permitted in '{w0}' name '{name}'."
                    ));
                    return true;
                }
                if let Some(prev) = self.cfg.fcgi_apps.iter().find(|a| a.name == *name) {
                    self.diags.alert(format!(
                        "Parsing [{file}:{line}]: fcgi-app section '{name}' has the same name as another one declared at {}:{}.",
                        prev.loc.file, prev.loc.line
                    ));
                }
                self.cfg.fcgi_apps.push(FcgiApp {
                    name: name.clone(),
                    loc,
                    ..Default::default()
                });
                self.section = Section::FcgiApp(self.cfg.fcgi_apps.len() - 1);
                return true;
            }
            "cache" | "ring" | "mailers" | "log-forward" => {
                self.section_name = words.get(1).cloned().unwrap_or_else(|| w0.clone());
                self.diags.alert(format!(
                    "parsing [{file}:{line}] : '{w0}' sections are not supported yet."
                ));
                self.section = Section::Unsupported;
                return true;
            }
            _ => {}
        }
        match self.section.clone() {
            Section::None => {
                self.diags.alert(format!(
                    "parsing [{file}:{line}]: unknown keyword '{w0}' out of section."
                ));
                true
            }
            Section::Unsupported => true,
            Section::Orphan => {
                self.diags
                    .alert(format!("parsing [{file}:{line}] : 'listen' or 'defaults' expected."));
                true
            }
            Section::Global => {
                self.parse_global(&words, kwm, loc);
                true
            }
            Section::HttpErrors(i) => {
                self.parse_http_errors(i, &words, loc);
                true
            }
            Section::Peers(i) => {
                self.parse_peers_line(i, &words, loc);
                true
            }
            Section::Resolvers(i) => {
                self.parse_resolvers(i, &words, loc);
                true
            }
            Section::Userlist => {
                self.parse_userlist(&words, loc);
                true
            }
            Section::Program(i) => {
                self.parse_program(i, &words, kwm, &loc);
                true
            }
            Section::FcgiApp(i) => {
                self.parse_fcgi_app(i, &words, loc);
                true
            }
            Section::Defaults(i) => {
                let mut p = std::mem::take(&mut self.defaults_list[i]);
                let before = (
                    p.http_request.len() + p.http_response.len() + p.http_after_response.len(),
                    p.tcp_request.len(),
                    p.tcp_response.len(),
                );
                self.parse_proxy_kw(&mut p, true, &words, kwm, loc);
                let m = &mut self.defaults_meta[i];
                if p.http_request.len() + p.http_response.len() + p.http_after_response.len() > before.0 {
                    m.rules = true;
                }
                if p.tcp_request.len() > before.1 && words.get(1).is_some_and(|s| s != "inspect-delay") {
                    m.rules = true;
                    if matches!(words[1].as_str(), "connection" | "session") {
                        m.conn_sess = true;
                    }
                }
                if p.tcp_response.len() > before.2 && words.get(1).is_some_and(|s| s != "inspect-delay") {
                    m.rules = true;
                    m.tcp_resp = true;
                }
                self.defaults_list[i] = p;
                true
            }
            Section::Proxy(i) => {
                let mut p = std::mem::take(&mut self.cfg.proxies[i]);
                self.parse_proxy_kw(&mut p, false, &words, kwm, loc);
                self.cfg.proxies[i] = p;
                true
            }
        }
    }

    /// A line of a `userlist` section (HAProxy's `cfg_parse_users`).
    fn parse_userlist(&mut self, w: &[String], loc: Loc) {
        let (file, line) = (loc.file.clone(), loc.line);
        let arg = |i: usize| w.get(i).map_or("", |s| s.as_str());
        let kw = arg(0);
        if !matches!(kw, "userlist" | "group" | "user") {
            self.diags.alert(format!(
                "parsing [{file}:{line}]: unknown keyword '{kw}' in 'users' section"
            ));
            return;
        }
        if arg(1).is_empty() {
            self.diags
                .alert(format!("parsing [{file}:{line}]: '{kw}' expects <name> as arguments."));
            return;
        }
        if kw == "userlist" && w.len() > 2 {
            self.diags.alert(format!(
                "parsing [{file}:{line}] : '{kw}' cannot handle unexpected argument '{}'.",
                w[2]
            ));
            return;
        }
        if kw != "user" {
            if let Some(c) = invalid_char(arg(1)) {
                self.diags.alert(format!(
                    "parsing [{file}:{line}]: character '{c}' is not permitted in '{kw}' name '{}'.",
                    arg(1)
                ));
                return;
            }
        }
        if kw == "userlist" {
            if self.cfg.userlists.iter().any(|u| u.name == w[1]) {
                self.diags.warning(format!(
                    "parsing [{file}:{line}]: ignoring duplicated userlist '{}'.",
                    w[1]
                ));
                return;
            }
            self.cfg.userlists.push(Userlist {
                name: w[1].clone(),
                loc,
                ..Default::default()
            });
            return;
        }
        let Some(ul) = self.cfg.userlists.last_mut() else {
            return;
        };
        if kw == "group" {
            if ul.groups.iter().any(|g| *g == w[1]) {
                self.diags.warning(format!(
                    "parsing [{file}:{line}]: ignoring duplicated group '{}' in userlist '{}'.",
                    w[1], ul.name
                ));
                return;
            }
            let mut members = None;
            let mut i = 2;
            while i < w.len() && !w[i].is_empty() {
                if w[i] != "users" {
                    self.diags.alert(format!(
                        "parsing [{file}:{line}]: 'group' only supports 'users' option."
                    ));
                    return;
                }
                members = Some(arg(i + 1).to_string());
                i += 2;
            }
            ul.groups.push(w[1].clone());
            ul.group_members.push(members);
            return;
        }
        if ul.users.iter().any(|u| u.name == w[1]) {
            self.diags.warning(format!(
                "parsing [{file}:{line}]: ignoring duplicated user '{}' in userlist '{}'.",
                w[1], ul.name
            ));
            return;
        }
        // The user exists from here on, even when an option below fails.
        ul.users.push(User {
            name: w[1].clone(),
            loc,
            ..Default::default()
        });
        let u = ul.users.last_mut().expect("just pushed");
        let mut i = 2;
        while i < w.len() && !w[i].is_empty() {
            match w[i].as_str() {
                // Debian's libcrypt answers every setting (a failure token
                // for unknown ones), so HAProxy's "not supported by
                // crypt(3)" alert never fires there: any hash is taken and
                // one libcrypt cannot compute simply never matches.
                "password" | "insecure-password" => {
                    u.pass = Some(arg(i + 1).to_string());
                    u.insecure = w[i] == "insecure-password";
                }
                "groups" => u.group_names = Some(arg(i + 1).to_string()),
                _ => {
                    self.diags.alert(format!(
                        "parsing [{file}:{line}]: 'user' only supports 'password', 'insecure-password' and 'groups' options."
                    ));
                    return;
                }
            }
            i += 2;
        }
    }

    fn parse_http_errors(&mut self, i: usize, w: &[String], loc: Loc) {
        let (file, line) = (loc.file.clone(), loc.line);
        if w[0] != "errorfile" {
            self.diags.alert(format!(
                "parsing [{file}:{line}] : unknown keyword '{}' in 'http-errors' section",
                w[0]
            ));
            return;
        }
        if w.len() < 3 {
            self.diags.alert(format!(
                "parsing [{file}:{line}] : errorfile : <code> and <file> are expected as arguments."
            ));
            return;
        }
        if let Some((code, content)) = self.read_errorfile(&w[1], &w[2], &file, line) {
            self.cfg.http_errors[i].files.push((code, w[2].clone(), content));
        }
    }

    /// Validates an `errorfile` status and reads the file. Reports and
    /// returns None on error.
    pub(crate) fn read_errorfile(&mut self, code: &str, path: &str, file: &str, line: usize) -> Option<(u16, Vec<u8>)> {
        let c = atol(code);
        if !crate::model::HTTP_ERR_CODES.contains(&(c as u16)) || !(0..=999).contains(&c) {
            self.diags.alert(format!(
                "parsing [{file}:{line}] : errorfile : status code '{c}' not handled."
            ));
            return None;
        }
        match std::fs::read(path) {
            Ok(content) => {
                // HAProxy converts the file to its internal form at once:
                // a file it cannot take is a start-up error (an empty
                // one means "close without a word").
                if !content.is_empty() {
                    if let Err(e) = http::errors::parse_errorfile(&content) {
                        self.diags
                            .alert(format!("parsing [{file}:{line}] : errorfile : '{path}': {e}"));
                        return None;
                    }
                }
                Some((c as u16, content))
            }
            Err(_) => {
                self.diags.alert(format!(
                    "parsing [{file}:{line}] : errorfile : error opening file '{path}'."
                ));
                None
            }
        }
    }

    fn new_proxy_section(&mut self, w: &[String], loc: Loc) {
        let (file, line) = (loc.file.clone(), loc.line);
        let kind = w[0].as_str();
        let is_def = kind == "defaults";
        let mut name = String::new();
        let mut from: Option<String> = None;
        let mut i = 1;
        if w.len() > 1 && w[1] != "from" {
            name = w[1].clone();
            i = 2;
        }
        if w.len() > i && w[i] == "from" {
            if w.len() <= i + 1 {
                self.diags.alert(format!(
                    "parsing [{file}:{line}] : '{kind}' expects a name after 'from'."
                ));
            } else {
                from = Some(w[i + 1].clone());
            }
            i += 2;
        }
        if w.len() > i {
            if from.is_some() {
                self.diags.alert(format!(
                    "parsing [{file}:{line}] : '{kind}' cannot handle unexpected argument '{}'.",
                    w[i]
                ));
            }
            if !is_def {
                self.diags.alert_nonfatal(format!(
                    "parsing [{file}:{line}] : please use the 'bind' keyword for listening addresses."
                ));
            }
            self.section = Section::Orphan;
            return;
        }
        if !is_def && name.is_empty() {
            self.diags
                .alert(format!("parsing [{file}:{line}] : '{kind}' expects an <id> argument"));
            self.diags.abort = true;
            self.section = Section::Unsupported;
            return;
        }
        if let Some(c) = invalid_char(&name) {
            self.diags.alert(format!(
                "parsing [{file}:{line}] : character '{c}' is not permitted in '{kind}' name '{name}'."
            ));
        }
        let cap = match kind {
            "frontend" => Cap {
                frontend: true,
                backend: false,
            },
            "backend" => Cap {
                frontend: false,
                backend: true,
            },
            "listen" => Cap {
                frontend: true,
                backend: true,
            },
            _ => Cap::default(),
        };
        // duplicate names among proxies with overlapping capabilities
        if !is_def {
            let kindstr = |c: Cap| match (c.frontend, c.backend) {
                (true, true) => "proxy",
                (true, false) => "frontend",
                _ => "backend",
            };
            if let Some(prev) = self
                .cfg
                .proxies
                .iter()
                .find(|p| p.name == name && ((p.cap.frontend && cap.frontend) || (p.cap.backend && cap.backend)))
            {
                self.diags.alert(format!(
                    "Parsing [{file}:{line}]: {} '{name}' has the same name as {} '{name}' declared at {}.",
                    kindstr(cap),
                    kindstr(prev.cap),
                    prev.loc
                ));
            }
        }
        let base = match &from {
            Some(f) => match self.defaults_list.iter().rposition(|d| d.name == *f) {
                Some(idx) => Some(idx),
                None => {
                    let what = if is_def { "defaults" } else { "proxy" };
                    let shown = if is_def && name.is_empty() {
                        "<anonymous>"
                    } else {
                        name.as_str()
                    };
                    self.diags.alert(format!(
                        "parsing [{file}:{line}] : defaults section '{f}' not found for {what} '{shown}'."
                    ));
                    None
                }
            },
            None => self.cur_defaults,
        };
        if let Some(b) = base {
            let m = self.defaults_meta[b];
            let dl = self.defaults_list[b].loc.clone();
            let at = format!("parsing [{file}:{line}]:");
            if m.rules && is_def {
                self.diags.alert(format!(
                    "{at} a defaults section cannot inherit from a defaults section defining TCP/HTTP rules (defaults section at {dl})."
                ));
            } else if m.rules && cap.frontend && cap.backend {
                self.diags.alert(format!(
                    "{at} a listen section cannot inherit from a defaults section defining TCP/HTTP rules."
                ));
            } else if m.conn_sess && cap.backend {
                self.diags.alert(format!(
                    "{at} a backend section cannot inherit from a defaults section defining 'tcp-request connection' or 'tcp-request session' rules (defaults section at {dl})."
                ));
            } else if m.tcp_resp && cap.frontend {
                self.diags.alert(format!(
                    "{at} a frontend section cannot inherit from a defaults section defining 'tcp-response content' rules (defaults section at {dl})."
                ));
            } else if m.rules && ((cap.frontend && m.used_by_be) || (cap.backend && m.used_by_fe)) {
                self.diags.alert(format!(
                    "{at} frontends and backends cannot inherit from the same defaults section if it defines TCP/HTTP rules (defaults section at {dl})."
                ));
            }
            let m = &mut self.defaults_meta[b];
            m.used_by_fe |= cap.frontend;
            m.used_by_be |= cap.backend;
        }
        let mut p = match base {
            Some(b) => self.defaults_list[b].clone(),
            None => Proxy {
                default_server: Server::defaults(),
                retries: 3,
                retry_on: crate::model::RE_CONN_FAILED,
                ..Proxy::default()
            },
        };
        p.name = name;
        p.cap = cap;
        p.loc = loc;
        p.id = 0;
        p.id_explicit = false;
        p.description = None;
        p.disabled = false;
        // A proxy uses the defaults' stats page until it has a `stats`
        // line of its own.
        p.stats.inherited = !is_def && p.stats.enabled;
        if is_def {
            // rules are not inherited between defaults sections
            p.http_request.clear();
            p.http_response.clear();
            p.http_after_response.clear();
            p.tcp_request.clear();
            p.tcp_response.clear();
            self.defaults_list.push(p);
            self.defaults_meta.push(DefaultsMeta::default());
            let idx = self.defaults_list.len() - 1;
            self.cur_defaults = Some(idx);
            self.section = Section::Defaults(idx);
        } else {
            self.cfg.proxies.push(p);
            self.section = Section::Proxy(self.cfg.proxies.len() - 1);
        }
    }

    // ------------------------------------------------------------ global

    fn too_many(&mut self, w: &[String], n: usize, loc: &Loc, kw: &str) -> bool {
        if w.len() > n + 1 {
            self.diags.alert(format!(
                "parsing [{}:{}] : '{kw}' cannot handle unexpected argument '{}'.",
                loc.file,
                loc.line,
                w[n + 1]
            ));
            return true;
        }
        false
    }

    fn parse_global(&mut self, w: &[String], kwm: Kwm, loc: Loc) {
        let (file, line) = (loc.file.clone(), loc.line);
        let kw = w[0].as_str();
        let arg = |i: usize| w.get(i).map(|s| s.as_str()).unwrap_or("");
        let pfx = format!("parsing [{file}:{line}] :");
        if !keywords::known(true, kw) {
            match keywords::suggest_global(kw) {
                Some(b) => self.diags.alert(format!(
                    "{pfx} unknown keyword '{kw}' in 'global' section; did you mean '{b}' maybe ?"
                )),
                None => self
                    .diags
                    .alert(format!("{pfx} unknown keyword '{kw}' in 'global' section")),
            }
            return;
        }
        if !keywords::carried(true, kw) {
            self.diags.alert(format!(
                "{pfx} '{kw}' is not supported yet in 'global' section (rhaproxy)."
            ));
            return;
        }
        let flag = |p: &mut Parser, w: &[String]| -> bool { !p.too_many(w, 0, &loc, kw) };
        let g_int = |p: &mut Parser, kw: &str, msg: &str| -> Option<u32> {
            if arg(1).is_empty() {
                p.diags.alert(format!("{pfx} '{kw}' {msg}"));
                return None;
            }
            Some(atol(arg(1)).max(0) as u32)
        };
        match kw {
            "daemon" => {
                if flag(self, w) {
                    self.cfg.global.daemon = true
                }
            }
            "master-worker" => {
                if w.len() > 1 && arg(1) != "no-exit-on-failure" {
                    self.diags.alert(format!("{pfx} '{kw}' only supports 'no-exit-on-failure' option."));
                } else {
                    self.cfg.global.master_worker = true;
                    self.cfg.global.mworker_no_exit_on_failure = w.len() > 1;
                }
            }
            "quiet" => {
                if flag(self, w) {
                    self.cfg.global.quiet = true
                }
            }
            "zero-warning" => {
                if flag(self, w) {
                    self.cfg.global.zero_warning = true
                }
            }
            "expose-experimental-directives" => self.cfg.global.expose_experimental_directives = true,
            "busy-polling" => self.cfg.global.busy_polling = kwm != Kwm::No,
            "set-dumpable" => self.cfg.global.set_dumpable = kwm != Kwm::No,
            "strict-limits" => self.cfg.global.strict_limits = kwm != Kwm::No,
            "insecure-fork-wanted" => self.cfg.global.insecure_fork_wanted = kwm != Kwm::No,
            "external-check" => {
                if let Some(x) = w.get(1) {
                    self.diags.alert(format!(
                        "parsing [{}:{}] : 'external-check' cannot handle unexpected argument '{x}'.",
                        loc.file, loc.line
                    ));
                } else {
                    self.cfg.global.external_check = true;
                }
            }
            "noepoll" => self.cfg.global.noepoll = flag(self, w),
            "nosplice" => self.cfg.global.nosplice = flag(self, w),
            "noreuseport" => self.cfg.global.noreuseport = flag(self, w),
            "nogetaddrinfo" => self.cfg.global.nogetaddrinfo = flag(self, w),
            "nbproc" => self.diags.alert(format!(
                "{pfx} nbproc is not supported any more since HAProxy 2.5. Threads will automatically be used on multi-processor machines if available."
            )),
            "nbthread" => {
                if self.too_many(w, 1, &loc, kw) {
                    return;
                }
                let v = arg(1);
                match parse_uint(v) {
                    None => self.diags.alert(format!("{pfx} '{kw}' expects an integer argument.")),
                    Some(n) if n < 1 || n > crate::features::MAX_THREADS as u64 => self.diags.alert(format!(
                        "{pfx} '{kw}' value must be between 1 and {} (was {n})",
                        crate::features::MAX_THREADS
                    )),
                    Some(n) => self.cfg.global.nbthread = Some(n as u32),
                }
            }
            "maxconn" => {
                if self.too_many(w, 1, &loc, kw) {
                    return;
                }
                if self.cfg.global.maxconn.is_some() {
                    self.diags.alert_nonfatal(format!("{pfx} '{kw}' already specified. Continuing."));
                    return;
                }
                if let Some(v) = g_int(self, kw, "expects an integer argument.") {
                    self.cfg.global.maxconn = Some(v);
                }
            }
            "maxconnrate" | "maxsessrate" => {
                if self.too_many(w, 1, &loc, kw) {
                    return;
                }
                let cur = if kw == "maxconnrate" {
                    self.cfg.global.maxconnrate
                } else {
                    self.cfg.global.maxsessrate
                };
                // HAProxy only notices a previous non-zero value.
                if cur != 0 {
                    self.diags.alert_nonfatal(format!("{pfx} '{kw}' already specified. Continuing."));
                    return;
                }
                if arg(1).is_empty() {
                    self.diags.alert(format!("{pfx} '{kw}' expects an integer argument."));
                    return;
                }
                // atol into an int; a negative limit never limits.
                let v = atol(arg(1)).clamp(0, i32::MAX as i64) as u32;
                if kw == "maxconnrate" {
                    self.cfg.global.maxconnrate = v;
                } else {
                    self.cfg.global.maxsessrate = v;
                }
            }
            "ulimit-n" => {
                if let Some(v) = g_int(self, kw, "expects an integer argument.") {
                    self.cfg.global.ulimit_n = Some(v);
                }
            }
            "uid" | "gid" => {
                if let Some(v) = g_int(self, kw, "expects an integer argument.") {
                    if kw == "uid" {
                        self.cfg.global.uid = Some(v)
                    } else {
                        self.cfg.global.gid = Some(v)
                    }
                }
            }
            "pidfile" | "chroot" | "user" | "group" | "node" | "description" | "log-tag" | "log-send-hostname" | "default-path" => {
                if kw == "pidfile" && arg(1).is_empty() {
                    self.diags.alert(format!("{pfx} '{kw}' expects a file name as an argument."));
                    return;
                }
                if kw == "chroot" && arg(1).is_empty() {
                    self.diags.alert(format!("{pfx} '{kw}' expects a directory as an argument."));
                    return;
                }
                if (kw == "user" || kw == "group") && arg(1).is_empty() {
                    self.diags.alert(format!("{pfx} '{kw}' expects a string argument."));
                    return;
                }
                if kw == "user" || kw == "group" {
                    if let Err(e) = lookup_id(kw == "user", arg(1)) {
                        self.diags.alert(format!("{pfx} cannot find {} id for '{}' ({e})", kw, arg(1)));
                        return;
                    }
                }
                let v = Some(if kw == "description" { w[1..].join(" ") } else { arg(1).to_string() });
                let g = &mut self.cfg.global;
                match kw {
                    "pidfile" => g.pidfile = v,
                    "chroot" => g.chroot = v,
                    "user" => g.user = v,
                    "group" => g.group = v,
                    "node" => g.node = v,
                    "description" => g.description = v,
                    "log-tag" => g.log_tag = v,
                    "log-send-hostname" => g.log_send_hostname = v,
                    _ => {}
                }
            }
            "log" => {
                if kwm == Kwm::No {
                    self.cfg.global.logs.clear();
                } else if let Some(l) = self.parse_log(w, &loc, true) {
                    self.cfg.global.logs.push(l);
                }
            }
            "stats" => self.parse_global_stats(w, &loc),
            "localpeer" => {
                if arg(1).is_empty() {
                    self.diags.alert(format!("{pfx} '{kw}' expects a name as an argument."));
                    return;
                }
                if self.cfg.global.localpeer.is_some() {
                    self.diags.warning(format!(
                        "{pfx} '{kw}' ignored since it is already set by using the '-L' command line argument or a previous '{kw}' directive."
                    ));
                    return;
                }
                self.cfg.global.localpeer = Some(arg(1).to_string());
            }
            "hard-stop-after" => match parse_time_ms(arg(1)) {
                Ok(v) if !arg(1).is_empty() => self.cfg.global.hard_stop_after_ms = Some(v),
                Ok(_) | Err(TimeError::Empty) => self.diags.alert(format!("{pfx} '{kw}' expects <time> as argument.")),
                Err(e) => self.diags.alert(format!("{pfx} {}", time_err(e, arg(1), kw))),
            },
            "spread-checks" => {
                if let Some(v) = g_int(self, kw, "expects an integer argument (0..50).") {
                    if v > 50 {
                        self.diags.alert(format!("{pfx} '{kw}' expects an integer argument (0..50)."));
                    } else {
                        self.cfg.global.spread_checks = v;
                    }
                }
            }
            "cpu-map" => {
                if w.len() < 3 {
                    self.diags.alert(format!("{pfx} '{kw}' expects [process|thread/]<number> and a list of CPU ranges"));
                } else {
                    self.cfg.global.cpu_maps.push(CpuMap { threads: w[1].clone(), cpus: w[2..].to_vec(), loc });
                }
            }
            "tune.bufsize" | "tune.maxrewrite" | "tune.maxpollevents" | "tune.runqueue-depth" | "tune.http.maxhdr" | "tune.maxaccept" => {
                if self.too_many(w, 1, &loc, kw) {
                    return;
                }
                if arg(1).is_empty() {
                    self.diags.alert(format!("{pfx} '{kw}' expects an integer argument."));
                    return;
                }
                let v = atol(arg(1));
                let g = &mut self.cfg.global;
                match kw {
                    "tune.bufsize" => {
                        if v <= 0 {
                            self.diags.alert(format!("{pfx} '{kw}' expects a positive integer argument."));
                        } else {
                            g.tune_bufsize = v as u32;
                        }
                    }
                    "tune.maxrewrite" => g.tune_maxrewrite = v.max(0) as u32,
                    "tune.maxpollevents" => g.tune_maxpollevents = v.max(0) as u32,
                    "tune.runqueue-depth" => g.tune_runqueue_depth = v.max(0) as u32,
                    "tune.http.maxhdr" => {
                        if !(1..=32767).contains(&v) {
                            self.diags.alert(format!("{pfx} '{kw}' expects a numeric value between 1 and 32767"));
                        } else {
                            g.tune_http_maxhdr = v as u32;
                        }
                    }
                    _ => g.tune_maxaccept = v as i32,
                }
            }
            "tune.idle-pool.shared" => match arg(1) {
                "on" => self.cfg.global.tune_idle_pool_shared = true,
                "off" => self.cfg.global.tune_idle_pool_shared = false,
                _ => self.diags.alert(format!("{pfx} '{kw}' expects either 'on' or 'off' but got '{}'.", arg(1))),
            },
            "setenv" | "presetenv" => {
                if w.len() < 3 {
                    self.diags.alert(format!("{pfx} '{kw}' expects a name and a value."));
                    return;
                }
                if kw == "setenv" || self.getenv(&w[1]).is_none() {
                    self.env.insert(w[1].clone(), Some(w[2].clone()));
                }
                self.cfg.global.env_ops.push(w.to_vec());
            }
            "set-var" | "set-var-fmt" => {
                if arg(1).is_empty() || arg(2).is_empty() {
                    self.diags.alert(format!(
                        "{pfx} '{kw}' expects a variable name followed by {}.",
                        if kw == "set-var" { "a sample expression" } else { "a log-format string" }
                    ));
                    return;
                }
                self.cfg.global.set_vars.push(RawLine {
                    words: w.to_vec(),
                    loc: loc.clone(),
                });
            }
            "crt-base" | "ca-base" => {
                if self.too_many(w, 1, &loc, kw) {
                    return;
                }
                let cur = if kw == "crt-base" {
                    &mut self.cfg.global.ssl.crt_base
                } else {
                    &mut self.cfg.global.ssl.ca_base
                };
                if cur.is_some() {
                    self.diags.alert(format!("{pfx} '{kw}' already specified."));
                } else if arg(1).is_empty() {
                    self.diags
                        .alert(format!("{pfx} global statement '{kw}' expects a directory path as an argument."));
                } else {
                    *cur = Some(arg(1).to_string());
                }
            }
            "ssl-default-bind-ciphers"
            | "ssl-default-bind-ciphersuites"
            | "ssl-default-server-ciphers"
            | "ssl-default-server-ciphersuites" => {
                if self.too_many(w, 1, &loc, kw) {
                    return;
                }
                if arg(1).is_empty() {
                    self.diags.alert(format!("{pfx} '{kw}' : missing argument."));
                    return;
                }
                let g = &mut self.cfg.global.ssl;
                let o = if kw.starts_with("ssl-default-bind") { &mut g.bind } else { &mut g.server };
                if kw.ends_with("suites") {
                    o.ciphersuites = Some(arg(1).to_string());
                } else {
                    o.ciphers = Some(arg(1).to_string());
                }
            }
            "ssl-default-bind-options" | "ssl-default-server-options" => {
                let stmt = format!("global statement '{kw}'");
                let mut i = 1;
                while i < w.len() {
                    let g = &mut self.cfg.global.ssl;
                    let o = if kw == "ssl-default-bind-options" { &mut g.bind } else { &mut g.server };
                    match crate::ssl::apply_opt(o, &w[i], w.get(i + 1).map(|s| s.as_str()), &stmt) {
                        Ok(n) => i += n,
                        Err(e) => {
                            self.diags.alert(format!("{pfx} {e}"));
                            return;
                        }
                    }
                }
            }
            "ssl-server-verify" => match arg(1) {
                "none" => self.cfg.global.ssl.server_verify_none = true,
                "required" => self.cfg.global.ssl.server_verify_none = false,
                _ => self.diags.alert(format!("{pfx} '{kw}' expects 'none' or 'required' as argument.")),
            },
            "tune.ssl.default-dh-param" => {
                if arg(1).is_empty() {
                    self.diags.alert(format!("{pfx} '{kw}' expects an integer argument."));
                } else if atol(arg(1)) < 1024 {
                    self.diags.alert(format!("{pfx} '{kw}' expects a value >= 1024."));
                } else {
                    // Nothing to tune, but the user must know it.
                    self.diags.warning(format!(
                        "{pfx} '{kw}' has no effect: rhaproxy's TLS library (rustls) has no DHE key exchange (ECDHE only) (rhaproxy)."
                    ));
                }
            }
            "tune.ssl.capture-buffer-size" | "tune.ssl.capture-cipherlist-size" => {
                // Sizes the ClientHello capture of the ssl_fc_cipherlist_*
                // fetches, which are refused: nothing else reads it.
                if arg(1).is_empty() {
                    self.diags.alert(format!("{pfx} '{kw}' expects an integer argument."));
                }
            }
            "tune.ssl.cachesize" | "tune.ssl.lifetime" => {
                if arg(1).is_empty() {
                    self.diags.alert(format!("{pfx} '{kw}' expects an integer argument."));
                    return;
                }
                if kw == "tune.ssl.cachesize" {
                    self.cfg.global.ssl.cachesize = atol(arg(1)).max(0) as u32;
                } else {
                    match parse_time_ms(arg(1)) {
                        Ok(ms) => self.cfg.global.ssl.lifetime_s = ms / 1000,
                        Err(_) => self.diags.alert(format!(
                            "{pfx} unexpected character '{}' in argument to <{kw}>.",
                            arg(1).trim_start_matches(|c: char| c.is_ascii_digit()).chars().next().unwrap_or(' ')
                        )),
                    }
                }
            }
            "unsetenv" => {
                for n in &w[1..] {
                    self.env.insert(n.clone(), None);
                }
                self.cfg.global.env_ops.push(w.to_vec());
            }
            "resetenv" => {
                let keep: Vec<&String> = w[1..].iter().collect();
                for (k, _) in std::env::vars_os().map(|(k, v)| (k.to_string_lossy().into_owned(), v)) {
                    if !keep.contains(&&k) {
                        self.env.insert(k, None);
                    }
                }
                self.cfg.global.env_ops.push(w.to_vec());
            }
            _ => self.diags.alert(format!("{pfx} '{kw}' is not supported yet in 'global' section (rhaproxy).")),
        }
    }

    /// `log <target> [len N] [format F] [sample R:S] <facility> [level [minlevel]]`
    /// or `log global` (proxies only).
    pub(crate) fn parse_log(&mut self, w: &[String], loc: &Loc, global: bool) -> Option<LogTarget> {
        let pfx = format!("parsing [{}:{}] :", loc.file, loc.line);
        if !global && w.get(1).map(|s| s.as_str()) == Some("global") {
            return Some(LogTarget {
                target: "global".into(),
                words: w[1..].to_vec(),
                loc: loc.clone(),
            });
        }
        if w.len() < 3 {
            if global {
                self.diags
                    .alert(format!("{pfx} log : expects <address> and <facility>  as arguments"));
            } else {
                self.diags.alert(format!(
                    "{pfx} log : expects <address> and <facility> or global as arguments"
                ));
            }
            return None;
        }
        let t = w[1].as_str();
        if !(t == "stdout"
            || t == "stderr"
            || t.starts_with("ring@")
            || t.starts_with("fd@")
            || t.starts_with('/')
            || t.starts_with("unix@")
            || t.starts_with("udp")
            || t.starts_with("tcp"))
        {
            let with_port = if t.contains(':') {
                t.to_string()
            } else {
                format!("{t}:514")
            };
            if let Err(e) = self.addr(&with_port, AddrUse::Server, false) {
                let e = match e {
                    crate::addr::AddrError::InvalidAddress { host, .. } => {
                        format!("invalid address: '{host}' in '{t}'")
                    }
                    other => other.to_string(),
                };
                self.diags.alert(format!("{pfx} log : {e}"));
                return None;
            }
        }
        let mut i = 2;
        while i + 1 < w.len() && matches!(w[i].as_str(), "len" | "format" | "sample") {
            i += 2;
        }
        let fac = w.get(i).map(|s| s.as_str()).unwrap_or("");
        if !FACILITIES.contains(&fac) {
            self.diags.alert(format!("{pfx} log : unknown log facility '{fac}'"));
            return None;
        }
        for lv in w.iter().skip(i + 1).take(2) {
            if !LEVELS.contains(&lv.as_str()) {
                self.diags
                    .alert(format!("{pfx} log : unknown optional log level '{lv}'"));
                return None;
            }
        }
        Some(LogTarget {
            target: w[1].clone(),
            words: w[1..].to_vec(),
            loc: loc.clone(),
        })
    }

    fn parse_global_stats(&mut self, w: &[String], loc: &Loc) {
        let pfx = format!("parsing [{}:{}] :", loc.file, loc.line);
        let arg = |i: usize| w.get(i).map(|s| s.as_str()).unwrap_or("");
        if matches!(arg(1), "socket" | "timeout" | "maxconn" | "bind-process") && self.cfg.global.cli_fe_pos.is_none() {
            self.cfg.global.cli_fe_pos = Some(self.cfg.proxies.len());
        }
        match arg(1) {
            "socket" => {
                if arg(2).is_empty() {
                    self.diags.alert(format!(
                        "{pfx} 'stats socket' requires a path or an address as an argument."
                    ));
                    return;
                }
                let addr = match self.addr(arg(2), AddrUse::Stats, false) {
                    Ok(a) => a,
                    Err(e) => {
                        self.diags.alert(format!("{pfx} {pfx} 'stats socket' : {e}"));
                        return;
                    }
                };
                let mut s = StatsSocket {
                    addr,
                    level: "operator".into(),
                    mode: None,
                    uid: None,
                    gid: None,
                    user: None,
                    group: None,
                    expose_fd_listeners: false,
                    name: None,
                    maxconn: None,
                    process: None,
                    thread: None,
                    loc: loc.clone(),
                };
                let mut i = 3;
                while i < w.len() {
                    let k = w[i].as_str();
                    let v = arg(i + 1);
                    let need = |p: &mut Parser| -> bool {
                        if v.is_empty() {
                            p.diags.alert(format!("{pfx} 'stats socket' : '{k}' : missing value"));
                            return false;
                        }
                        true
                    };
                    match k {
                        "level" => {
                            if !["user", "operator", "admin"].contains(&v) {
                                self.diags.alert(format!(
                                    "{pfx} 'stats socket' : ''level' only supports 'user', 'operator', and 'admin' (got '{v}')'"
                                ));
                                return;
                            }
                            s.level = v.into();
                            i += 2;
                        }
                        "mode" => {
                            // strtol(v, 8) that must consume the whole word.
                            match u32::from_str_radix(v, 8) {
                                Ok(m) if !v.starts_with('+') => s.mode = Some(m),
                                _ => {
                                    self.diags.alert(format!(
                                        "{pfx} 'stats socket' : ''mode' : missing or invalid mode '{v}' (octal integer expected)'"
                                    ));
                                    return;
                                }
                            }
                            i += 2;
                        }
                        "user" | "group" => {
                            // Resolved now, as HAProxy does at parse time.
                            let what = if k == "user" { "user" } else { "group" };
                            if v.is_empty() {
                                self.diags
                                    .alert(format!("{pfx} 'stats socket' : ''{k}' : missing {what} name'"));
                                return;
                            }
                            match lookup_id(k == "user", v) {
                                Ok(id) if k == "user" => s.uid = Some(id),
                                Ok(id) => s.gid = Some(id),
                                Err(_) => {
                                    self.diags
                                        .alert(format!("{pfx} 'stats socket' : ''{k}' : unknown {what} name '{v}''"));
                                    return;
                                }
                            }
                            match k {
                                "user" => s.user = Some(v.into()),
                                _ => s.group = Some(v.into()),
                            }
                            i += 2;
                        }
                        "uid" | "gid" | "maxconn" => {
                            if !need(self) {
                                return;
                            }
                            let n = atol(v);
                            // HAProxy keeps atol's value in an int where -1
                            // means "leave as is"; other values go to chown.
                            let id = (n != -1).then_some(n as u32);
                            match k {
                                "uid" => s.uid = id,
                                "gid" => s.gid = id,
                                _ => s.maxconn = Some(n.max(0) as u32),
                            }
                            i += 2;
                        }
                        "name" | "process" | "thread" | "severity-output" => {
                            if !need(self) {
                                return;
                            }
                            match k {
                                "name" => s.name = Some(v.into()),
                                "process" => s.process = Some(v.into()),
                                "thread" => s.thread = Some(v.into()),
                                _ => {}
                            }
                            i += 2;
                        }
                        "expose-fd" => {
                            if v != "listeners" {
                                self.diags
                                    .alert(format!("{pfx} 'stats socket' : '{k}' : unsupported value '{v}'"));
                                return;
                            }
                            s.expose_fd_listeners = true;
                            i += 2;
                        }
                        _ => {
                            if keywords::BIND_KWS.contains(&k) {
                                self.diags
                                    .alert(format!("{pfx} 'stats socket' : '{k}' is not supported yet (rhaproxy)."));
                            } else {
                                self.diags
                                    .alert(format!("{pfx} 'stats socket' : unknown keyword '{k}'."));
                            }
                            return;
                        }
                    }
                }
                self.cfg.global.stats_sockets.push(s);
            }
            "timeout" => match parse_time_ms(arg(2)) {
                Ok(0) | Err(TimeError::Empty) => {
                    self.diags
                        .alert(format!("{pfx} 'stats timeout' expects a positive value"));
                }
                Ok(v) => self.cfg.global.stats_timeout_ms = v,
                Err(TimeError::BadChar(c)) => self
                    .diags
                    .alert(format!("{pfx} 'stats timeout' : unexpected character '{c}'")),
                Err(_) => self.diags.alert(format!("{pfx} 'stats timeout' : timer overflow")),
            },
            "maxconn" => {
                let v = atol(arg(2));
                if v <= 0 {
                    self.diags
                        .alert(format!("{pfx} 'stats maxconn' : expects a positive integer"));
                } else {
                    self.cfg.global.stats_maxconn = v as u32;
                }
            }
            "bind-process" => {
                self.diags
                    .alert(format!("{pfx} 'stats bind-process' is not supported yet (rhaproxy)."));
            }
            other => self.diags.alert(format!(
                "{pfx} 'stats' only supports 'socket', 'maxconn', 'bind-process' and 'timeout' (got '{other}')"
            )),
        }
    }

    /// Finishes loading: ids, cross-references, warnings. Call once after
    /// all files parsed without fatal error.
    /// A line of an `fcgi-app` section (HAProxy's `cfg_parse_fcgi_app()`
    /// keywords and argument checks); kept, as nothing uses the section.
    fn parse_fcgi_app(&mut self, i: usize, words: &[String], loc: Loc) {
        let (file, line) = (&loc.file, loc.line);
        let kw = words[0].as_str();
        let arg = words.get(1).map(|s| s.as_str()).unwrap_or("");
        let needs = match kw {
            "docroot" => Some("path"),
            "index" => Some("filename"),
            "path-info" => Some("regex"),
            "acl" | "set-param" | "unset-param" | "pass-header" | "hide-header" | "option" | "log-stderr" => None,
            _ => {
                self.diags.alert(format!(
                    "parsing [{file}:{line}]: unknown keyword '{kw}' in 'fcgi-app' section"
                ));
                return;
            }
        };
        if let Some(what) = needs {
            if arg.is_empty() {
                self.diags.alert(format!(
                    "parsing [{file}:{line}] : '{kw}' expects <{what}> as argument."
                ));
                return;
            }
            if let Some(w) = words.get(2) {
                self.diags.alert(format!(
                    "parsing [{file}:{line}] : '{kw} {arg}' cannot handle unexpected argument '{w}'."
                ));
                return;
            }
        }
        let app = &mut self.cfg.fcgi_apps[i];
        if kw == "docroot" {
            app.docroot = Some(arg.to_string());
        }
        app.lines.push(RawLine {
            words: words.to_vec(),
            loc,
        });
    }

    pub fn finish(&mut self) {
        crate::check::post_parse(self);
        crate::resolvers::check_servers(self);
    }
}
