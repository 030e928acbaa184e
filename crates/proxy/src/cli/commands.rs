//! The stats-socket commands: the keyword table (words, `help` line,
//! expert/experimental flags, handler), HAProxy 2.6's argument splitting and
//! keyword lookup, its "Unknown command" suggestions (word-fingerprint
//! distance over the commands we implement), level checks with its
//! `Permission denied`, and every command's answer text.
//!
//! Handlers read the shared runtime (proxies, servers, counters, FD table,
//! activity) and change only what HAProxy's command changes (server admin
//! state, weights, limits, the session's own level/mode/timeout). They must
//! not perform socket I/O on the session (the applet in `cli.rs` does).

use super::Applet;
use crate::runtime::{ServerRt, ADM_DRAIN, ADM_MAINT};
use crate::worker::{Msg, Worker};
use reactor::Cx;
use std::fmt::Write as _;
use std::sync::atomic::Ordering::Relaxed;

/// A session's access level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    User = 1,
    Operator = 2,
    Admin = 3,
}

impl Level {
    /// `level` of a `stats socket` line (HAProxy's default: operator).
    pub fn from_config(s: &str) -> Level {
        match s {
            "user" => Level::User,
            "admin" => Level::Admin,
            _ => Level::Operator,
        }
    }
    fn name(self) -> &'static str {
        match self {
            Level::User => "user",
            Level::Operator => "operator",
            Level::Admin => "admin",
        }
    }
}

const DENIED: &str = "Permission denied\n";

/// What a handler sees.
pub struct Ctx<'a, 'b> {
    pub w: &'a mut Worker,
    pub cx: &'a mut Cx<'b, Msg>,
    pub a: &'a mut Applet,
}

impl Ctx<'_, '_> {
    fn has(&self, l: Level) -> bool {
        self.a.level >= l
    }
}

type Handler = fn(&mut Ctx, &[String], Option<&[u8]>) -> String;

const EXPERT: u8 = 1;
const EXPERIMENTAL: u8 = 2;

struct Kw {
    words: &'static [&'static str],
    usage: Option<&'static str>,
    flags: u8,
    run: Handler,
}

macro_rules! kw {
    ($w:expr, $u:expr, $f:expr, $run:expr) => {
        Kw {
            words: $w,
            usage: $u,
            flags: $f,
            run: $run,
        }
    };
}

/// The keyword table, in registration order (lookup takes the first
/// keyword whose words all match; suggestions keep the first of equals).
static KEYWORDS: &[Kw] = &[
    kw!(&["help"], None, 0, cmd_help),
    kw!(&["prompt"], None, 0, cmd_prompt),
    kw!(&["quit"], None, 0, cmd_quit),
    kw!(&["expert-mode"], None, 0, cmd_mode),
    kw!(&["experimental-mode"], None, 0, cmd_mode),
    kw!(
        &["set", "maxconn", "global"],
        Some("set maxconn global <value>              : change the per-process maxconn setting"),
        0,
        cmd_set_maxconn_global
    ),
    kw!(
        &["set", "rate-limit"],
        Some("set rate-limit <setting> <value>        : change a rate limiting value"),
        0,
        cmd_set_rate_limit
    ),
    kw!(
        &["set", "timeout"],
        Some("set timeout [cli] <delay>               : change a timeout setting"),
        0,
        cmd_set_timeout
    ),
    kw!(
        &["get", "var"],
        Some("get var <name>                          : retrieve contents of a process-wide variable"),
        0,
        cmd_get_var
    ),
    kw!(
        &["set", "var"],
        Some("set var <name> [fmt|expr] {<fmt>|<expr>}: set variable from an expression or a format"),
        EXPERIMENTAL,
        cmd_set_var
    ),
    kw!(
        &["show", "env"],
        Some("show env [var]                          : dump environment variables known to the process"),
        0,
        cmd_show_env
    ),
    kw!(
        &["show", "cli", "sockets"],
        Some("show cli sockets                        : dump list of cli sockets"),
        0,
        cmd_show_cli_sockets
    ),
    kw!(
        &["show", "cli", "level"],
        Some("show cli level                          : display the level of the current CLI session"),
        0,
        cmd_show_cli_level
    ),
    kw!(
        &["show", "fd"],
        Some("show fd [num]                           : dump list of file descriptors in use or a specific one"),
        0,
        cmd_show_fd
    ),
    kw!(
        &["show", "activity"],
        Some("show activity                           : show per-thread activity stats (for support/developers)"),
        0,
        cmd_show_activity
    ),
    kw!(
        &["show", "version"],
        Some("show version                            : show version of the current process"),
        0,
        cmd_show_version
    ),
    kw!(
        &["operator"],
        Some("operator                                : lower the level of the current CLI session to operator"),
        0,
        cmd_set_level
    ),
    kw!(
        &["user"],
        Some("user                                    : lower the level of the current CLI session to user"),
        0,
        cmd_set_level
    ),
    kw!(
        &["clear", "counters"],
        Some("clear counters [all]                    : clear max statistics counters (or all counters)"),
        0,
        cmd_clear_counters
    ),
    kw!(
        &["show", "info"],
        Some("show info [desc|json|typed|float]*      : report information about the running process"),
        0,
        cmd_show_info
    ),
    kw!(
        &["show", "stat"],
        Some("show stat [desc|json|no-maint|typed|up]*: report counters for each proxy and server"),
        0,
        cmd_show_stat
    ),
    kw!(
        &["show", "backend"],
        Some("show backend                            : list backends in the current running config"),
        0,
        cmd_show_backend
    ),
    kw!(
        &["show", "errors"],
        Some("show errors [<px>] [request|response]   : report last request and/or response errors for each proxy"),
        0,
        cmd_show_errors
    ),
    kw!(
        &["show", "resolvers"],
        Some("show resolvers [id]                     : dumps counters from all resolvers section and associated name servers"),
        0,
        cmd_show_resolvers
    ),
    kw!(
        &["show", "schema", "json"],
        Some("show schema json                        : report schema used for stats"),
        0,
        cmd_show_schema_json
    ),
    kw!(
        &["show", "servers", "conn"],
        Some("show servers conn [<backend>]           : dump server connections status (all or for a single backend)"),
        0,
        cmd_show_servers_conn
    ),
    kw!(
        &["show", "servers", "state"],
        Some(
            "show servers state [<backend>]          : dump volatile server information (all or for a single backend)"
        ),
        0,
        cmd_show_servers_state
    ),
    kw!(
        &["set", "maxconn", "frontend"],
        Some("set maxconn frontend <frontend> <value> : change a frontend's maxconn setting"),
        0,
        cmd_set_maxconn_frontend
    ),
    kw!(
        &["disable", "server"],
        Some("disable server (DEPRECATED)             : disable a server for maintenance (use 'set server' instead)"),
        0,
        cmd_disable_server
    ),
    kw!(
        &["enable", "server"],
        Some("enable server  (DEPRECATED)             : enable a disabled server (use 'set server' instead)"),
        0,
        cmd_enable_server
    ),
    kw!(
        &["set", "maxconn", "server"],
        Some("set maxconn server <bk>/<srv>           : change a server's maxconn setting"),
        0,
        cmd_set_maxconn_server
    ),
    kw!(
        &["set", "server"],
        Some("set server <bk>/<srv> [opts]            : change a server's state, weight, address or ssl"),
        0,
        cmd_set_server
    ),
    kw!(
        &["get", "weight"],
        Some("get weight <bk>/<srv>                   : report a server's current weight"),
        0,
        cmd_get_weight
    ),
    kw!(
        &["set", "weight"],
        Some("set weight <bk>/<srv>  (DEPRECATED)     : change a server's weight (use 'set server' instead)"),
        0,
        cmd_set_weight
    ),
    kw!(
        &["add", "server"],
        Some("add server <bk>/<srv>                   : create a new server"),
        0,
        cmd_add_server
    ),
    kw!(
        &["del", "server"],
        Some("del server <bk>/<srv>                   : remove a dynamically added server"),
        0,
        cmd_del_server
    ),
    kw!(
        &["show", "sess"],
        Some(
            "show sess [id]                          : report the list of current sessions or dump this exact session"
        ),
        0,
        cmd_show_sess
    ),
    kw!(
        &["shutdown", "session"],
        Some("shutdown session [id]                   : kill a specific session"),
        0,
        cmd_shutdown_session
    ),
    kw!(
        &["shutdown", "sessions", "server"],
        Some("shutdown sessions server <bk>/<srv>     : kill sessions on a server"),
        0,
        cmd_shutdown_sessions_server
    ),
    kw!(
        &["show", "pools"],
        Some("show pools                              : report information about the memory pools usage"),
        0,
        cmd_show_pools
    ),
    kw!(
        &["show", "threads"],
        Some("show threads                            : show some threads debugging information"),
        0,
        cmd_show_threads
    ),
    kw!(&["_getsocks"], None, 0, cmd_getsocks),
    kw!(
        &["debug", "counters"],
        Some(reactor::counters::HELP),
        0,
        cmd_debug_counters
    ),
    // Maps and ACL pattern files (crate::map): see the map commands below.
    kw!(
        &["add", "acl"],
        Some("add acl [@<ver>] <acl> <pattern>        : add an acl entry"),
        0,
        cmd_pat_add
    ),
    kw!(
        &["add", "map"],
        Some("add map [@<ver>] <map> <key> <val>      : add a map entry (payload supported instead of key/val)"),
        0,
        cmd_pat_add
    ),
    kw!(
        &["clear", "acl"],
        Some("clear acl [@<ver>] <acl>                : clear the contents of this acl"),
        0,
        cmd_pat_clear
    ),
    kw!(
        &["clear", "map"],
        Some("clear map [@<ver>] <map>                : clear the contents of this map"),
        0,
        cmd_pat_clear
    ),
    kw!(
        &["del", "acl"],
        Some("del acl <acl> [<key>|#<ref>]            : delete acl entries matching <key>"),
        0,
        cmd_pat_del
    ),
    kw!(
        &["del", "map"],
        Some("del map <map> [<key>|#<ref>]            : delete map entries matching <key>"),
        0,
        cmd_pat_del
    ),
    kw!(
        &["set", "map"],
        Some("set map <map> [<key>|#<ref>] <value>    : modify a map entry"),
        0,
        cmd_pat_set
    ),
    kw!(
        &["show", "acl"],
        Some("show acl [@<ver>] <acl>]                : report available acls or dump an acl's contents"),
        0,
        cmd_pat_show
    ),
    kw!(
        &["show", "map"],
        Some("show map [@ver] [map]                   : report available maps or dump a map's contents"),
        0,
        cmd_pat_show
    ),
    // Stick tables (crate::stick_table).
    kw!(
        &["clear", "table"],
        Some("clear table <table> [<filter>]*         : remove an entry from a table (filter: data/key)"),
        0,
        cmd_table
    ),
    kw!(
        &["set", "table"],
        Some("set table <table> key <k> [data.* <v>]* : update or create a table entry's data"),
        0,
        cmd_table
    ),
    kw!(
        &["show", "table"],
        Some("show table <table> [<filter>]*          : report table usage stats or dump this table's contents (filter: data/key)"),
        0,
        cmd_table
    ),
];

/// `show|clear|set table ...` (no level needed to list tables; entries
/// need operator, as in HAProxy).
fn cmd_table(c: &mut Ctx, args: &[String], _: Option<&[u8]>) -> String {
    use crate::stick_table::CliAct;
    let act = match arg(args, 0) {
        "show" => CliAct::Show,
        "clear" => CliAct::Clear,
        _ => CliAct::Set,
    };
    crate::stick_table::cli(act, args, c.has(Level::Operator))
}

/// HAProxy's `MAX_CLI_ARGS`.
const MAX_ARGS: usize = 64;

/// Splits a request into words as HAProxy 2.6 does: spaces and tabs
/// separate, a backslash escapes the next character, a NUL ends the line.
pub fn split_args(line: &[u8]) -> Vec<String> {
    let line = &line[..line.iter().position(|&b| b == 0).unwrap_or(line.len())];
    let mut args = Vec::new();
    let mut i = 0;
    while i < line.len() && args.len() < MAX_ARGS {
        while i < line.len() && (line[i] == b' ' || line[i] == b'\t') {
            i += 1;
        }
        if i >= line.len() {
            break;
        }
        let mut w = Vec::new();
        while i < line.len() && line[i] != b' ' && line[i] != b'\t' {
            if line[i] == b'\\' {
                if i + 1 < line.len() {
                    w.push(line[i + 1]);
                }
                i += 2;
            } else {
                w.push(line[i]);
                i += 1;
            }
        }
        args.push(String::from_utf8_lossy(&w).into_owned());
    }
    args
}

fn arg(args: &[String], i: usize) -> &str {
    args.get(i).map(|s| s.as_str()).unwrap_or("")
}

fn visible(a: &Applet, kw: &Kw) -> bool {
    (a.expert || kw.flags & EXPERT == 0) && (a.experimental || kw.flags & EXPERIMENTAL == 0)
}

fn find_kw(args: &[String]) -> Option<&'static Kw> {
    KEYWORDS
        .iter()
        .find(|kw| kw.words.iter().enumerate().all(|(i, w)| arg(args, i) == *w))
}

/// Runs one request line (and its payload) and returns the answer.
pub fn execute_line(
    w: &mut Worker,
    cx: &mut Cx<'_, Msg>,
    a: &mut Applet,
    line: &[u8],
    payload: Option<&[u8]>,
) -> String {
    let args = split_args(line);
    let Some(kw) = find_kw(&args) else {
        return usage_message(a, &args);
    };
    if kw.flags & EXPERT != 0 && !a.expert {
        return "This command is restricted to expert mode only.\n".into();
    }
    if kw.flags & EXPERIMENTAL != 0 && !a.experimental {
        return "This command is restricted to experimental mode only.\n".into();
    }
    let mut c = Ctx { w, cx, a };
    (kw.run)(&mut c, &args, payload)
}

/// HAProxy's word fingerprint: character-class transitions counted in a
/// 32x32 table (1..26 letters, 27 digits, 28 others and word ends), row 0
/// marking which classes appear.
fn fingerprint(fp: &mut [u8; 1024], word: &str) {
    let mut from = 28usize;
    for c in word.bytes() {
        let to = match c.to_ascii_lowercase() {
            b @ b'a'..=b'z' => (b - b'a' + 1) as usize,
            b'0'..=b'9' => 27,
            _ => 28,
        };
        fp[to] = 1;
        fp[32 * from + to] = fp[32 * from + to].wrapping_add(1);
        from = to;
    }
    fp[32 * from + 28] = fp[32 * from + 28].wrapping_add(1);
}

fn distance(a: &[u8; 1024], b: &[u8; 1024]) -> i64 {
    a.iter().zip(b.iter()).map(|(x, y)| (*x as i64 - *y as i64).abs()).sum()
}

const TAIL: &str = "  help [<command>]                        : list matching or all commands\n  prompt                                  : toggle interactive mode with prompt\n  quit                                    : disconnect\n";

/// The `help` text or the answer to an unknown command, computed as
/// HAProxy 2.6 does over the commands this build implements.
pub fn usage_message(a: &Applet, args: &[String]) -> String {
    let mut args = args;
    let ishelp = arg(args, 0) == "help";
    if ishelp {
        args = &args[1..];
    }
    const PREFIX_NB: usize = 5;
    // Longest run of exactly matching leading words over visible commands.
    let mut length = 0;
    for kw in KEYWORDS.iter().filter(|k| visible(a, k)) {
        for (i, w) in kw.words.iter().enumerate().take(PREFIX_NB) {
            if arg(args, i).is_empty() || arg(args, i) != *w {
                break;
            }
            length = length.max(i + 1);
        }
    }
    let mut out = String::from(if ishelp {
        "The following commands are valid at this level:\n"
    } else if length == 0 && arg(args, 0).is_empty() {
        "Unknown command. Please enter one of the following commands only:\n"
    } else {
        "Unknown command, but maybe one of the following ones is a better match:\n"
    });
    let prefix_ok = |kw: &Kw| -> bool {
        let mut idx = 0;
        while idx < length {
            match kw.words.get(idx) {
                Some(w) if !arg(args, idx).is_empty() && arg(args, idx) == *w => idx += 1,
                _ => break,
            }
        }
        idx == length
    };
    let mut matches: Vec<(&'static Kw, i64)> = Vec::new();
    const MAX_MATCHES: usize = 5;
    if !arg(args, length).is_empty() {
        for kw in KEYWORDS.iter().filter(|k| visible(a, k) && k.usage.is_some()) {
            if !prefix_ok(kw) {
                continue;
            }
            let mut wsig = [0u8; 1024];
            let mut lsig = [0u8; 1024];
            let mut totlen = 0i64;
            for i in length..PREFIX_NB {
                if arg(args, i).is_empty() {
                    break;
                }
                fingerprint(&mut wsig, arg(args, i));
                totlen += arg(args, i).len() as i64;
            }
            for w in kw.words.iter().take(PREFIX_NB).skip(length) {
                fingerprint(&mut lsig, w);
                totlen += w.len() as i64;
            }
            let dist = distance(&wsig, &lsig);
            let worst = if matches.len() == MAX_MATCHES {
                matches[MAX_MATCHES - 1].1
            } else {
                i64::MAX
            };
            if dist < 5 * totlen / 2 && dist < worst {
                if matches.len() == MAX_MATCHES {
                    matches.pop();
                }
                // Insert after every entry with a distance <= this one.
                let at = matches.iter().position(|m| m.1 > dist).unwrap_or(matches.len());
                matches.insert(at, (kw, dist));
            }
        }
    }
    let mut entries: Vec<&'static str> = Vec::new();
    if let Some(best) = matches.first().map(|m| m.1) {
        for (kw, d) in &matches {
            if *d > 5 * best / 2 {
                break;
            }
            entries.extend(kw.usage);
        }
    } else {
        for kw in KEYWORDS.iter().filter(|k| visible(a, k)) {
            if prefix_ok(kw) {
                entries.extend(kw.usage);
            }
        }
    }
    entries.sort_unstable();
    for e in entries {
        out.push_str("  ");
        out.push_str(e);
        out.push('\n');
    }
    out.push_str(TAIL);
    out
}

// ---- session control --------------------------------------------------

fn cmd_help(c: &mut Ctx, args: &[String], _: Option<&[u8]>) -> String {
    usage_message(c.a, args)
}

fn cmd_prompt(c: &mut Ctx, _: &[String], _: Option<&[u8]>) -> String {
    c.a.prompt = !c.a.prompt;
    String::new()
}

fn cmd_quit(c: &mut Ctx, _: &[String], _: Option<&[u8]>) -> String {
    c.a.ending = true;
    String::new()
}

fn cmd_mode(c: &mut Ctx, args: &[String], _: Option<&[u8]>) -> String {
    if !arg(args, 1).is_empty() && arg(args, 2) == "-" {
        c.a.nolf = true;
    }
    if !c.has(Level::Admin) {
        return DENIED.into();
    }
    let expert = arg(args, 0) == "expert-mode";
    let name = arg(args, 0);
    let flag = if expert { &mut c.a.expert } else { &mut c.a.experimental };
    if arg(args, 1).is_empty() {
        return format!("{name} is {}\n", if *flag { "ON" } else { "OFF" });
    }
    *flag = arg(args, 1) == "on";
    String::new()
}

fn cmd_set_level(c: &mut Ctx, args: &[String], _: Option<&[u8]>) -> String {
    if arg(args, 1) == "-" {
        c.a.nolf = true;
    }
    let want = if arg(args, 0) == "operator" {
        Level::Operator
    } else {
        Level::User
    };
    if !c.has(want) {
        return DENIED.into();
    }
    c.a.level = want;
    c.a.expert = false;
    c.a.experimental = false;
    String::new()
}

fn cmd_show_cli_level(c: &mut Ctx, _: &[String], _: Option<&[u8]>) -> String {
    format!("{}\n", c.a.level.name())
}

fn cmd_show_cli_sockets(c: &mut Ctx, _: &[String], _: Option<&[u8]>) -> String {
    let mut s = String::from("# socket lvl processes\n");
    for l in super::cli_listeners(&c.w.listeners) {
        let crate::listener::Kind::Cli(i) = l.kind else {
            continue;
        };
        let lvl =
            c.w.rt
                .cfg
                .global
                .stats_sockets
                .get(i)
                .map(|s| Level::from_config(&s.level));
        let addr = if l.addr_text.starts_with('/') {
            format!("unix@{}", l.addr_text)
        } else {
            format!("ipv4@{}", l.addr_text)
        };
        let _ = writeln!(s, "{} {} all", addr, lvl.map(|l| l.name()).unwrap_or("operator"));
    }
    s
}

fn cmd_set_timeout(c: &mut Ctx, args: &[String], _: Option<&[u8]>) -> String {
    if arg(args, 2) != "cli" {
        return "'set timeout' only supports 'cli'.\n".into();
    }
    if arg(args, 3).is_empty() {
        return "Expects an integer value.\n".into();
    }
    match parse_time_s(arg(args, 3)) {
        Some(ms) if ms >= 1000 => {
            c.a.timeout_ms = ms;
            String::new()
        }
        _ => "Invalid timeout value.\n".into(),
    }
}

/// HAProxy's `parse_time_err` with seconds as the default unit, in ms.
fn parse_time_s(s: &str) -> Option<u64> {
    let digits = s.bytes().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return None;
    }
    let v: u64 = s[..digits].parse().ok()?;
    let mul = match &s[digits..] {
        "" | "s" => 1000,
        "us" => return Some(v / 1000),
        "ms" => 1,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return None,
    };
    v.checked_mul(mul)
}

// ---- process-wide ------------------------------------------------------

fn cmd_show_version(_: &mut Ctx, _: &[String], _: Option<&[u8]>) -> String {
    format!("{}\n", config::features::VERSION)
}

/// `get var proc.x`: the value as a string, non-printable bytes as dots.
fn cmd_get_var(c: &mut Ctx, args: &[String], _: Option<&[u8]>) -> String {
    if !c.has(Level::Operator) {
        return DENIED.into();
    }
    let name = arg(args, 2);
    if name.is_empty() {
        return "Missing process-wide variable identifier.\n".into();
    }
    let Some(v) = crate::sample::proc_var(name) else {
        return "Variable not found.\n".into();
    };
    let ty = v.type_name();
    let mut text = Vec::new();
    v.write_to(&mut text);
    if let crate::sample::Smp::Bin(_) = v {
        // bin-to-str stops at the first NUL
        if let Some(z) = text.iter().position(|&b| b == 0) {
            text.truncate(z);
        }
    }
    let shown: String = text
        .iter()
        .map(|&b| if (0x20..0x7f).contains(&b) { b as char } else { '.' })
        .collect();
    // No newline of its own: the CLI adds one after each answer.
    format!("{name}: type={ty} value=<{shown}>")
}

/// `set var proc.x [fmt|expr] <text>` (experimental).
fn cmd_set_var(c: &mut Ctx, args: &[String], _: Option<&[u8]>) -> String {
    if !c.has(Level::Operator) {
        return DENIED.into();
    }
    let name = arg(args, 2);
    if name.is_empty() {
        return "Missing process-wide variable identifier.\n".into();
    }
    if arg(args, 3).is_empty() {
        return "Missing either 'expr', 'fmt' or expression.\n".into();
    }
    let (fmt, text) = if arg(args, 4).is_empty() {
        (false, arg(args, 3))
    } else {
        match arg(args, 3) {
            "fmt" => (true, arg(args, 4)),
            "expr" => (false, arg(args, 4)),
            o => return format!("'set var': arg type must be either 'expr' or 'fmt' but got '{o}'.\n"),
        }
    };
    if !name.starts_with("proc.") {
        return format!("'set var': cannot set variable '{name}', only scope 'proc' is permitted here.\n");
    }
    match crate::http_act::set_proc_var(name, fmt, text) {
        Ok(()) => String::new(),
        Err(e) => format!("{e}\n"),
    }
}

fn cmd_show_env(c: &mut Ctx, args: &[String], _: Option<&[u8]>) -> String {
    if !c.has(Level::Operator) {
        return DENIED.into();
    }
    let vars: Vec<(String, String)> = std::env::vars_os()
        .map(|(k, v)| (k.to_string_lossy().into_owned(), v.to_string_lossy().into_owned()))
        .collect();
    let want = arg(args, 2);
    let mut s = String::new();
    for (k, v) in &vars {
        if want.is_empty() || k == want {
            let _ = writeln!(s, "{k}={v}");
            if !want.is_empty() {
                return s;
            }
        }
    }
    if !want.is_empty() {
        return "Variable not found\n".into();
    }
    s
}

fn cmd_set_maxconn_global(c: &mut Ctx, args: &[String], _: Option<&[u8]>) -> String {
    if !c.has(Level::Admin) {
        return DENIED.into();
    }
    if arg(args, 3).is_empty() {
        return "Expects an integer value.\n".into();
    }
    let hard =
        c.w.rt
            .cfg
            .global
            .maxconn
            .unwrap_or_else(|| c.w.rt.maxconn.load(Relaxed)) as i64;
    let v = atoi(arg(args, 3));
    if v > hard {
        return "Value out of range.\n".into();
    }
    let v = if v <= 0 { hard } else { v };
    c.w.rt.maxconn.store(v as u32, Relaxed);
    String::new()
}

/// C's `atoi`: leading blanks, optional sign, digits; 0 when none.
fn atoi(s: &str) -> i64 {
    let s = s.trim_start();
    let (neg, rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let d: String = rest.chars().take_while(|c| c.is_ascii_digit()).take(18).collect();
    let v: i64 = d.parse().unwrap_or(0);
    if neg {
        -v
    } else {
        v
    }
}

fn cmd_set_rate_limit(c: &mut Ctx, args: &[String], _: Option<&[u8]>) -> String {
    if !c.has(Level::Admin) {
        return DENIED.into();
    }
    let rt = c.w.rt.clone();
    let (slot, mul) = match (arg(args, 2), arg(args, 3)) {
        ("connections", "global") => (&rt.cps_lim, 1),
        ("sessions", "global") => (&rt.sps_lim, 1),
        // Without SSL in this build, 'ssl-sessions' is refused as 2.6 built
        // without OpenSSL does (the list below omits it the same way).
        ("http-compression", "global") => (&rt.comp_rate_lim, 1024),
        _ => {
            return "'set rate-limit' only supports :\n   - 'connections global' to set the per-process maximum connection rate\n   - 'sessions global' to set the per-process maximum session rate\n   - 'http-compression global' to set the per-process maximum compression speed in kB/s\n".into()
        }
    };
    if arg(args, 4).is_empty() {
        return "Expects an integer value.\n".into();
    }
    let v = atoi(arg(args, 4));
    if v < 0 {
        return "Value out of range.\n".into();
    }
    slot.store((v as u64).saturating_mul(mul), Relaxed);
    // Listeners this thread paused on a rate may accept again at once
    // (others re-check at their own rate timer, within a second).
    c.w.resume_listeners(c.cx);
    String::new()
}

/// The output format among `show info`/`show stat` options (the last of
/// `typed`/`json` wins), or the refusal of an option we do not render.
fn stat_format(words: &[String]) -> Result<crate::stats::Format, String> {
    use crate::stats::Format;
    let mut f = Format::Plain;
    for w in words {
        match w.as_str() {
            "typed" => f = Format::Typed,
            "json" => f = Format::Json,
            // Field descriptions and float values are not rendered.
            "desc" | "float" => return Err(format!("'{w}' is not supported yet by rhaproxy.\n")),
            _ => {}
        }
    }
    Ok(f)
}

fn cmd_show_schema_json(_: &mut Ctx, _: &[String], _: Option<&[u8]>) -> String {
    crate::stats::json_schema()
}

fn cmd_show_info(c: &mut Ctx, args: &[String], _: Option<&[u8]>) -> String {
    let format = match stat_format(args.get(2..).unwrap_or(&[])) {
        Ok(f) => f,
        Err(e) => return e,
    };
    let now = reactor::now_ms();
    crate::stats::show_info(&c.w.rt, c.cx.nbthread(), now, format)
}

fn cmd_show_stat(c: &mut Ctx, args: &[String], _: Option<&[u8]>) -> String {
    let mut f = crate::stats::StatFilter::default();
    let mut i = 2;
    // Optional "{<iid>|<proxy>} <type> <sid>" first.
    if !arg(args, 2).is_empty() && !arg(args, 3).is_empty() && !arg(args, 4).is_empty() {
        let px = arg(args, 2);
        f.iid = if px == "-1" {
            -1
        } else if let Some(p) = c.w.rt.proxy_by_name(px) {
            p.id as i64
        } else {
            match px.parse::<i64>() {
                Ok(n) if n > 0 => n,
                _ => return "No such proxy.\n".into(),
            }
        };
        f.types = atoi(arg(args, 3));
        f.sid = atoi(arg(args, 4));
        i = 5;
    }
    f.format = match stat_format(args.get(i..).unwrap_or(&[])) {
        Ok(fmt) => fmt,
        Err(e) => return e,
    };
    for w in args.iter().skip(i) {
        match w.as_str() {
            "up" => f.up_only = true,
            "no-maint" => f.no_maint = true,
            _ => {}
        }
    }
    let now = reactor::now_ms();
    crate::stats::show_stat(&c.w.rt, &c.w.listeners, &f, now)
}

fn cmd_show_backend(c: &mut Ctx, _: &[String], _: Option<&[u8]>) -> String {
    let mut s = String::from("# name\n");
    for p in c.w.rt.proxies.iter().filter(|p| p.is_backend) {
        let _ = writeln!(s, "{}", p.name);
    }
    s
}

fn cmd_show_errors(c: &mut Ctx, args: &[String], _: Option<&[u8]>) -> String {
    if !c.has(Level::Operator) {
        return DENIED.into();
    }
    let px = arg(args, 2);
    if !px.is_empty() && px != "request" && px != "response" && px != "-1" && c.w.rt.proxy_by_name(px).is_none() {
        return "No such proxy.\n".into();
    }
    // No protocol-error capture exists yet: the count is honestly zero.
    format!("Total events captured on [{}] : 0\n", log_date())
}

/// `dd/Mon/yyyy:HH:MM:SS.mmm` in local time, HAProxy's log date.
fn log_date() -> String {
    let mut tv = libc::timeval { tv_sec: 0, tv_usec: 0 };
    // SAFETY: gettimeofday fills the struct we own; tz is null.
    unsafe {
        libc::gettimeofday(&mut tv, std::ptr::null_mut());
    }
    // SAFETY: tm is plain data; localtime_r fills it from our time_t.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the duration of the call.
    unsafe {
        libc::localtime_r(&tv.tv_sec, &mut tm);
    }
    const MON: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{:02}/{}/{:04}:{:02}:{:02}:{:02}.{:03}",
        tm.tm_mday,
        MON[tm.tm_mon.clamp(0, 11) as usize],
        tm.tm_year + 1900,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        tv.tv_usec / 1000
    )
}

fn cmd_clear_counters(c: &mut Ctx, args: &[String], _: Option<&[u8]>) -> String {
    let all = arg(args, 2) == "all";
    if !c.has(if all { Level::Admin } else { Level::Operator }) {
        return DENIED.into();
    }
    let rt = &c.w.rt;
    for p in &rt.proxies {
        p.fe_counters.clear(all);
        p.be_counters.clear(all);
        for s in &p.servers {
            s.counters.clear(all);
        }
    }
    for l in c.w.listeners.iter() {
        l.counters.clear(all);
    }
    rt.max_conn_rate.store(0, Relaxed);
    rt.max_sess_rate.store(0, Relaxed);
    String::new()
}

fn cmd_show_activity(c: &mut Ctx, _: &[String], _: Option<&[u8]>) -> String {
    let sh = c.cx.shared();
    let acts = sh.activity();
    let nbt = acts.len();
    let rows: Vec<Vec<(&'static str, u64)>> = acts.iter().map(|a| a.rows()).collect();
    let get = |t: usize, name: &str| rows[t].iter().find(|r| r.0 == name).map(|r| r.1).unwrap_or(0);
    let mut tv = libc::timeval { tv_sec: 0, tv_usec: 0 };
    // SAFETY: gettimeofday fills the struct we own; tz is null.
    unsafe {
        libc::gettimeofday(&mut tv, std::ptr::null_mut());
    }
    let mut s = String::new();
    let _ = writeln!(s, "thread_id: {} (1..{})", c.cx.tid() + 1, nbt);
    let _ = writeln!(s, "date_now: {}.{:06}", tv.tv_sec, tv.tv_usec);
    // HAProxy's rows in its order; those the reactor does not measure
    // (CPU stolen time, loop time, accept ring fill) print 0.
    for name in [
        "ctxsw",
        "tasksw",
        "empty_rq",
        "long_rq",
        "loops",
        "wake_tasks",
        "wake_signal",
        "poll_io",
        "poll_exp",
        "poll_drop_fd",
        "poll_skip_fd",
        "conn_dead",
        "stream_calls",
        "pool_fail",
        "buf_wait",
        "cpust_ms_tot",
        "cpust_ms_1s",
        "cpust_ms_15s",
        "avg_loop_us",
        "accepted",
        "accq_pushed",
        "accq_full",
        "accq_ring",
        "fd_takeover",
    ] {
        let v: Vec<u64> = (0..nbt).map(|t| get(t, name)).collect();
        let tot: u64 = v.iter().sum();
        let _ = write!(s, "{name}:");
        if nbt == 1 {
            let _ = writeln!(s, " {tot}");
            continue;
        }
        let shown = if name == "avg_loop_us" {
            (tot + nbt as u64 / 2) / nbt as u64
        } else {
            tot
        };
        let _ = write!(s, " {shown} [");
        for x in v {
            let _ = write!(s, " {x}");
        }
        s.push_str(" ]\n");
    }
    s
}

fn cmd_show_threads(c: &mut Ctx, _: &[String], _: Option<&[u8]>) -> String {
    let nbt = c.cx.nbthread();
    let me = c.cx.tid();
    let sh = c.cx.shared();
    let mut s = String::new();
    for t in 0..nbt {
        let a = &sh.activity()[t];
        let load = sh.load[t].load(Relaxed);
        let _ = writeln!(
            s,
            "{} Thread {} : id=0x{:x} act={} glob=0 wq=0 rq=0 tl=0 tlsz=0 rqsz={}",
            if t == me { '*' } else { ' ' },
            t + 1,
            t,
            u8::from(t == me),
            load
        );
        let _ = writeln!(
            s,
            "      1/{}    stuck=0 prof=0 harmless={} wantrdv=0",
            t + 1,
            u8::from(t != me)
        );
        let _ = writeln!(
            s,
            "             loops={} poll_io={}",
            a.loops.load(Relaxed),
            a.poll_io.load(Relaxed)
        );
        if t == me {
            let _ = writeln!(s, "             curr_task=<CLI>");
        } else {
            s.push_str("             curr_task=0\n");
        }
        s.push('\n');
    }
    s.pop();
    s
}

fn cmd_show_resolvers(c: &mut Ctx, args: &[String], _: Option<&[u8]>) -> String {
    crate::resolvers::show(&c.w.rt, arg(args, 2))
}

fn cmd_show_pools(c: &mut Ctx, _: &[String], _: Option<&[u8]>) -> String {
    // The only pooled objects are I/O buffers (one pool per thread); this
    // session's thread reports its own free list, the others are not
    // reachable without a cross-thread request.
    let size = c.w.pool.size();
    let free = c.w.pool.free_count();
    let mut s = String::from("Dumping pools usage. Use SIGQUIT to flush them.\n");
    let _ = writeln!(
        s,
        "  - Pool buffer ({size} bytes) : {free} allocated ({} bytes), 0 used (~{free} by thread caches), needed_avg 0, 0 failures, 1 users, @0x0 [SHARED]",
        free * size
    );
    let _ = writeln!(s, "Total: 1 pools, {} bytes allocated, 0 used.", free * size);
    s
}

/// `_getsocks` (no help line, no level: the socket's `expose-fd
/// listeners` decides). Answers already produced on this line go first.
fn cmd_getsocks(c: &mut Ctx, _: &[String], _: Option<&[u8]>) -> String {
    let allowed =
        c.w.rt
            .cfg
            .global
            .stats_sockets
            .get(c.a.sock)
            .is_some_and(|s| s.expose_fd_listeners);
    c.a.take_pending_output(
        |fd, pending, ls| super::getsocks::run(fd, pending, allowed, ls),
        &c.w.listeners,
    );
    c.a.ending = true;
    String::new()
}

fn cmd_debug_counters(c: &mut Ctx, args: &[String], _: Option<&[u8]>) -> String {
    let words: Vec<&str> = args.iter().skip(2).map(|s| s.as_str()).collect();
    let req = match reactor::counters::parse_request(words.iter().copied()) {
        Ok(r) => r,
        Err(e) => return e.into(),
    };
    if !c.has(if req.needs_admin() {
        Level::Admin
    } else {
        Level::Operator
    }) {
        return DENIED.into();
    }
    reactor::counters::execute(&req)
}

// ---- FDs and sessions --------------------------------------------------

fn fd_iocb(kind: u64) -> &'static str {
    match kind {
        crate::worker::K_LISTENER => "sock_accept_iocb",
        crate::worker::K_CLI_SIDE | crate::worker::K_SRV_SIDE | crate::worker::K_APPLET | crate::worker::K_IDLE => {
            "sock_conn_iocb"
        }
        _ => "unknown",
    }
}

fn fd_line(s: &mut String, rt: &crate::runtime::Runtime, ls: &[crate::listener::Listener], f: &reactor::fd::FdInfo) {
    use reactor::fd::{ST_CLONED, ST_LISTENER, ST_WANT_RECV, ST_WANT_SEND};
    let (kind, idx, _) = crate::worker::untoken(f.token);
    let rr = f.polled_recv != 0;
    let pw = f.polled_send != 0;
    let ar = f.state & ST_WANT_RECV != 0;
    let aw = f.state & ST_WANT_SEND != 0;
    // HAProxy's state layout: R active/ready/shut in bits 0-2, W in 4-6,
    // cloned at bit 16... we only know wishes and registrations.
    let st = u32::from(ar)
        | (u32::from(rr) << 1)
        | (u32::from(aw) << 4)
        | (u32::from(pw) << 5)
        | if f.state & ST_CLONED != 0 { 0x10000 } else { 0 };
    let _ = write!(
        s,
        "{:5} : st=0x{:06x}({}l heopi W:s{}{} R:s{}{}) ref=0 gid=1 tmask=0x{:x} umask=0x{:x} prmsk=0x{:x} pwmsk=0x{:x} owner=0x{:x} gen={} tkov={} iocb=0x{:x}({})",
        f.fd,
        st,
        if f.state & ST_CLONED != 0 { 'C' } else { 'c' },
        if pw { 'R' } else { 'r' },
        if aw { 'A' } else { 'a' },
        if rr { 'R' } else { 'r' },
        if ar { 'A' } else { 'a' },
        f.thread_mask,
        f.update_mask,
        f.polled_recv,
        f.polled_send,
        f.token,
        f.generation,
        f.takeovers,
        kind,
        fd_iocb(kind)
    );
    if kind == crate::worker::K_LISTENER || f.state & ST_LISTENER != 0 {
        if let Some(l) = ls.get(idx as usize) {
            let fe = match l.kind {
                crate::listener::Kind::Proxy(p) => rt.proxies.get(p).map(|p| p.name.as_str()).unwrap_or("?"),
                crate::listener::Kind::Cli(_) => "GLOBAL",
            };
            let fam = match crate::sock::local_addr(l.fd).map(|a| a.family()) {
                Ok(libc::AF_INET) => "ipv4",
                Ok(libc::AF_INET6) => "ipv6",
                _ => "unix",
            };
            let _ = write!(s, " l.st=RDY fe={fe} fam={fam}");
            if let Some(a) = crate::sock::local_addr(l.fd).ok().and_then(|a| a.to_inet()) {
                let _ = write!(s, " lport={}", a.port());
            }
        }
    } else {
        let back = u8::from(kind == crate::worker::K_SRV_SIDE || kind == crate::worker::K_IDLE);
        let _ = write!(s, " back={back} cflg=0x00000000 cerr=0");
        if kind == crate::worker::K_APPLET {
            s.push_str(" fam=unix fe=GLOBAL mux=PASS");
        }
        s.push_str(" xprt=RAW");
    }
    s.push('\n');
}

fn cmd_show_fd(c: &mut Ctx, args: &[String], _: Option<&[u8]>) -> String {
    if !c.has(Level::Operator) {
        return DENIED.into();
    }
    let one = if arg(args, 2).is_empty() {
        None
    } else {
        Some(atoi(arg(args, 2)))
    };
    let mut s = String::new();
    for f in reactor::fd::snapshot() {
        if one.is_some_and(|n| n != f.fd as i64) {
            continue;
        }
        fd_line(&mut s, &c.w.rt, &c.w.listeners, &f);
    }
    s
}

/// A session's id in `show sess` / `shutdown session`: thread, slot and
/// generation, so any thread can tell whose stream it names.
pub(crate) fn sess_id(tid: usize, idx: u32, gen: u32) -> u64 {
    (tid as u64) << 56 | (idx as u64) << 32 | gen as u64
}

/// Splits a session id back into (thread, slot, generation).
pub(crate) fn sess_id_parts(id: u64) -> (usize, u32, u32) {
    ((id >> 56) as usize, ((id >> 32) & 0x00ff_ffff) as u32, id as u32)
}

/// The `show sess` lines of this thread's streams (all, or only `want`).
pub(crate) fn sess_lines(w: &crate::worker::Worker, tid: usize, want: Option<u64>, now: u64) -> String {
    let mut s = String::new();
    for (idx, gen, st) in w.streams.iter() {
        if want.is_some_and(|id| id != sess_id(tid, idx, gen)) {
            continue;
        }
        sess_line(&mut s, &w.rt, tid, idx, gen, st, now);
    }
    s
}

fn sess_line(
    s: &mut String,
    rt: &crate::runtime::Runtime,
    tid: usize,
    idx: u32,
    gen: u32,
    st: &crate::stream::Stream,
    now: u64,
) {
    let fe = rt.proxies.get(st.fe).map(|p| p.name.as_str()).unwrap_or("?");
    let be = st.be.and_then(|b| rt.proxies.get(b));
    let srv = match (be, st.srv) {
        (Some(b), Some(i)) => b.servers.get(i).map(|s| s.name.as_str()).unwrap_or("<none>"),
        _ => "<none>",
    };
    let src = st.src.map(|a| a.to_string()).unwrap_or_else(|| "?".into());
    let id = sess_id(tid, idx, gen);
    let _ = writeln!(
        s,
        "0x{id:x}: proto=tcpv4 src={src} fe={fe} be={} srv={srv} ts=00 epoch=0 age={}s calls=0 rate=0 cpu=0 lat=0 rq[f=0h,i={},an=00h,rx=,wx=,ax=] rp[f=0h,i={},an=00h,rx=,wx=,ax=] scf=[8,0h,fd={}] scb=[8,0h,fd={}] exp= rc=0 c_exp=",
        be.map(|b| b.name.as_str()).unwrap_or("<NONE>"),
        now.saturating_sub(st.accept_ms) / 1000,
        st.req.in_len(),
        st.res.in_len(),
        st.cli.fd,
        st.sv.fd
    );
}

fn cmd_show_sess(c: &mut Ctx, args: &[String], _: Option<&[u8]>) -> String {
    if !c.has(Level::Operator) {
        return DENIED.into();
    }
    // Every thread's streams: this thread's directly, the others' through
    // their mailboxes (HAProxy isolates threads for this; we wait, bounded,
    // for each thread to answer from its loop), then this CLI session.
    let now = c.cx.now();
    let want = arg(args, 2);
    let filter = if want.is_empty() || want == "all" {
        None
    } else {
        match u64::from_str_radix(want.trim_start_matches("0x"), 16) {
            Ok(id) => Some(id),
            Err(_) => return "Session not found.\n".into(),
        }
    };
    let tid = c.cx.tid();
    let mut s = sess_lines(c.w, tid, filter, now);
    let nbt = c.cx.nbthread();
    if nbt > 1 {
        let (tx, rx) = std::sync::mpsc::channel();
        for t in (0..nbt).filter(|&t| t != tid) {
            c.cx.send(
                t,
                crate::worker::Msg::CollectSess {
                    want: filter,
                    reply: tx.clone(),
                },
            );
        }
        drop(tx);
        let deadline = std::time::Instant::now() + std::time::Duration::from_millis(500);
        for _ in 1..nbt {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match rx.recv_timeout(left) {
                Ok(part) => s.push_str(&part),
                Err(_) => break,
            }
        }
    }
    if want.is_empty() || want == "all" {
        let _ = writeln!(
            s,
            "0x{:x}: proto=unix_stream src=unix:1 fe=GLOBAL be=<NONE> srv=<none> ts=00 epoch=0 age={}s calls=0 rate=0 cpu=0 lat=0 rq[f=0h,i=0,an=00h,rx=,wx=,ax=] rp[f=0h,i=0,an=00h,rx=,wx=,ax=] scf=[8,0h,fd={}] scb=[8,1h,fd=-1] exp={}s rc=0 c_exp=",
            c.a.fd as u64,
            now.saturating_sub(c.a.accept_ms) / 1000,
            c.a.fd,
            c.a.timeout_ms / 1000
        );
    } else if s.is_empty() {
        return "Session not found.\n".into();
    }
    s
}

fn cmd_shutdown_session(c: &mut Ctx, args: &[String], _: Option<&[u8]>) -> String {
    if !c.has(Level::Admin) {
        return DENIED.into();
    }
    if arg(args, 2).is_empty() {
        return "Session pointer expected (use 'show sess').\n".into();
    }
    let Ok(id) = u64::from_str_radix(arg(args, 2).trim_start_matches("0x"), 16) else {
        return "No such session (use 'show sess').\n".into();
    };
    let (tid, idx, gen) = sess_id_parts(id);
    if tid >= c.cx.nbthread() {
        return "No such session (use 'show sess').\n".into();
    }
    if tid == c.cx.tid() {
        if c.w.streams.get(idx, gen).is_none() {
            return "No such session (use 'show sess').\n".into();
        }
        c.w.kill_stream(c.cx, idx, gen);
    } else {
        // Ask the owning thread whether it exists (bounded wait), then let
        // it end the stream at its next loop.
        let (tx, rx) = std::sync::mpsc::channel();
        c.cx.send(
            tid,
            crate::worker::Msg::CollectSess {
                want: Some(id),
                reply: tx,
            },
        );
        match rx.recv_timeout(std::time::Duration::from_millis(500)) {
            Ok(lines) if !lines.is_empty() => c.cx.send(tid, crate::worker::Msg::KillStream { idx, gen }),
            _ => return "No such session (use 'show sess').\n".into(),
        }
    }
    String::new()
}

fn cmd_shutdown_sessions_server(c: &mut Ctx, args: &[String], _: Option<&[u8]>) -> String {
    if !c.has(Level::Admin) {
        return DENIED.into();
    }
    let (be, srv) = match find_server(c, arg(args, 3)) {
        Ok((px, sv)) => (px.idx, px.servers.iter().position(|x| std::ptr::eq(x, sv)).unwrap_or(0)),
        Err(e) => return e.into(),
    };
    for t in 0..c.cx.nbthread() {
        if t == c.cx.tid() {
            c.w.kill_server_streams(c.cx, be, srv, b'K');
        } else {
            c.cx.send(t, crate::worker::Msg::KillServerStreams { be, srv, why: b'K' });
        }
    }
    String::new()
}

// ---- servers -------------------------------------------------------------

/// HAProxy's `cli_find_server`: `<backend>/<server>`, names or `#id`.
fn find_server<'r>(c: &'r Ctx, spec: &str) -> Result<(&'r crate::runtime::ProxyRt, &'r ServerRt), &'static str> {
    let Some((b, s)) = spec.split_once('/') else {
        return Err("Require 'backend/server'.\n");
    };
    if b.is_empty() || s.is_empty() {
        return Err("Require 'backend/server'.\n");
    }
    let rt = &c.w.rt;
    let by_id = |n: &str| n.strip_prefix('#').and_then(|n| n.parse::<u32>().ok());
    let Some(px) = rt
        .proxies
        .iter()
        .find(|p| p.is_backend && (p.name == b || by_id(b) == Some(p.id)))
    else {
        return Err("No such backend.\n");
    };
    let Some(sv) = px
        .servers
        .iter()
        .find(|x| !x.is_deleted() && (x.name == s || by_id(s) == Some(x.id)))
    else {
        return Err("No such server.\n");
    };
    if px.cfg.disabled {
        return Err("Proxy is disabled.\n");
    }
    Ok((px, sv))
}

fn touch(sv: &ServerRt) {
    sv.last_change_ms.store(reactor::now_ms(), Relaxed);
}

/// Changes a server's admin bits and reports the state change as
/// HAProxy does (checks.rs).
fn set_admin_report(c: &mut Ctx, at: (usize, usize), set: u32, clear: u32) {
    let rt = c.w.rt.clone();
    admin_change(c.cx, &rt, at.0, at.1, set, clear);
}

/// Sets and clears admin bits of server `srv` of backend `be`, with the
/// state-change report: the path of `set server ... state`, `enable
/// server` and `disable server`, also taken by the stats page's form.
pub(crate) fn admin_change(
    cx: &mut Cx<'_, Msg>,
    rt: &crate::runtime::Runtime,
    be: usize,
    srv: usize,
    set: u32,
    clear: u32,
) {
    let sv = &rt.proxies[be].servers[srv];
    let old = sv.admin.load(Relaxed);
    set_admin(sv, set, clear);
    let new = sv.admin.load(Relaxed);
    if (old ^ new) & ADM_MAINT != 0 {
        crate::checks::admin_changed(cx, rt, be, srv, old, new);
    }
}

/// `set server ... health up|stopping|down` (the stats form's "Health:
/// force ..." too); `why` ends the state-change report. False for a
/// tracking server, whose health is its tracked server's.
pub(crate) fn force_health(
    cx: &mut Cx<'_, Msg>,
    rt: &crate::runtime::Runtime,
    be: usize,
    srv: usize,
    up: bool,
    why: &str,
) -> bool {
    let sv = &rt.proxies[be].servers[srv];
    if sv.cfg.track.is_some() {
        return false;
    }
    if sv.chk.enabled {
        crate::checks::set_health(cx, rt, be, srv, up, why);
        return true;
    }
    let (set, clear) = if up {
        (crate::server::ADM_HEALTH_FULL, crate::server::ADM_HEALTH_ZERO)
    } else {
        (crate::server::ADM_HEALTH_ZERO, crate::server::ADM_HEALTH_FULL)
    };
    sv.admin.fetch_or(set, Relaxed);
    sv.admin.fetch_and(!clear, Relaxed);
    if sv.up.swap(up, Relaxed) != up {
        touch(sv);
    }
    true
}

/// `shutdown sessions server`: every thread kills the streams using the
/// server.
pub(crate) fn kill_server_streams(cx: &mut Cx<'_, Msg>, be: usize, srv: usize) {
    for t in 0..cx.nbthread() {
        cx.send(t, crate::worker::Msg::KillServerStreams { be, srv, why: b'K' });
    }
}

/// Where a server sits: (backend index, server index).
fn srv_at(px: &crate::runtime::ProxyRt, sv: &ServerRt) -> (usize, usize) {
    let i = px.servers.iter().position(|x| std::ptr::eq(x, sv)).unwrap_or(0);
    (px.idx, i)
}

fn set_admin(sv: &ServerRt, set: u32, clear: u32) {
    let old = sv.admin.load(Relaxed);
    let mut new = (old | set) & !clear;
    if new & ADM_MAINT == 0 {
        new &= !crate::server::ADM_FRESH;
    } else if old & ADM_MAINT == 0 {
        // Entering maintenance stops the server: its health drops to 0.
        new = (new | crate::server::ADM_HEALTH_ZERO) & !crate::server::ADM_HEALTH_FULL;
    }
    if old != new {
        sv.admin.store(new, Relaxed);
        touch(sv);
    }
}

/// HAProxy's `server_parse_weight_change_request`.
fn change_weight(px: &crate::runtime::ProxyRt, sv: &ServerRt, s: &str) -> Option<&'static str> {
    if s.is_empty() {
        return Some("Require <weight> or <weight%>.\n");
    }
    let digits = s
        .char_indices()
        .take_while(|(i, ch)| ch.is_ascii_digit() || (*i == 0 && (*ch == '-' || *ch == '+')))
        .count();
    let num = &s[..digits];
    let rest = &s[digits..];
    let Ok(mut w) = num.parse::<i64>() else {
        return Some("Empty weight string empty or preceded by garbage");
    };
    if rest == "%" {
        if w < 0 {
            return Some("Relative weight must be positive.\n");
        }
        w = (sv.iweight as i64 * w.min(25600) / 100).min(256);
    } else if !(0..=256).contains(&w) {
        return Some("Absolute weight can only be between 0 and 256 inclusive.\n");
    } else if !rest.is_empty() {
        return Some("Trailing garbage in weight string");
    }
    // Static algorithms (static-rr, first, map-based hashing) only take
    // 0% or 100%.
    let fixed = matches!(
        px.cfg.balance,
        config::model::Balance::StaticRr | config::model::Balance::First
    ) || (is_map_hash(&px.cfg.balance) && !px.cfg.hash_type.consistent);
    let dynamic = !fixed;
    if w != 0 && w as u32 != sv.iweight && !dynamic {
        return Some("Backend is using a static LB algorithm and only accepts weights '0%' and '100%'.\n");
    }
    sv.uweight.store(w as u32, Relaxed);
    sv.admin.fetch_and(!crate::server::ADM_FRESH, Relaxed);
    None
}

/// Hash-based algorithms use a static map unless `hash-type consistent`.
fn is_map_hash(b: &config::model::Balance) -> bool {
    use config::model::Balance::*;
    matches!(b, Source | Uri { .. } | UrlParam { .. } | Hdr { .. } | RdpCookie { .. })
}

fn cmd_get_weight(c: &mut Ctx, args: &[String], _: Option<&[u8]>) -> String {
    match find_server(c, arg(args, 2)) {
        Ok((_, sv)) => format!("{} (initial {})\n", sv.uweight.load(Relaxed), sv.iweight),
        Err(e) => e.into(),
    }
}

fn cmd_set_weight(c: &mut Ctx, args: &[String], _: Option<&[u8]>) -> String {
    if !c.has(Level::Admin) {
        return DENIED.into();
    }
    match find_server(c, arg(args, 2)) {
        Ok((px, sv)) => change_weight(px, sv, arg(args, 3)).unwrap_or("").into(),
        Err(e) => e.into(),
    }
}

fn cmd_add_server(c: &mut Ctx, args: &[String], _: Option<&[u8]>) -> String {
    if !c.has(Level::Admin) {
        return DENIED.into();
    }
    crate::server::add(&c.w.rt, arg(args, 2), args.get(3..).unwrap_or(&[]))
}

fn cmd_del_server(c: &mut Ctx, args: &[String], _: Option<&[u8]>) -> String {
    if !c.has(Level::Admin) {
        return DENIED.into();
    }
    crate::server::delete(&c.w.rt, arg(args, 2))
}

fn cmd_enable_server(c: &mut Ctx, args: &[String], _: Option<&[u8]>) -> String {
    if !c.has(Level::Admin) {
        return DENIED.into();
    }
    match find_server(c, arg(args, 2)) {
        Ok((px, sv)) => {
            set_admin_report(c, srv_at(px, sv), 0, ADM_MAINT | ADM_DRAIN);
            String::new()
        }
        Err(e) => e.into(),
    }
}

fn cmd_disable_server(c: &mut Ctx, args: &[String], _: Option<&[u8]>) -> String {
    if !c.has(Level::Admin) {
        return DENIED.into();
    }
    match find_server(c, arg(args, 2)) {
        Ok((px, sv)) => {
            set_admin_report(c, srv_at(px, sv), ADM_MAINT, 0);
            String::new()
        }
        Err(e) => e.into(),
    }
}

fn cmd_set_maxconn_server(c: &mut Ctx, args: &[String], _: Option<&[u8]>) -> String {
    if !c.has(Level::Admin) {
        return DENIED.into();
    }
    let sv = match find_server(c, arg(args, 3)) {
        Ok((_, sv)) => sv,
        Err(e) => return e.into(),
    };
    let v = arg(args, 4);
    if v.is_empty() {
        return "Require <maxconn>.\n".into();
    }
    let digits = v
        .char_indices()
        .take_while(|(i, ch)| ch.is_ascii_digit() || (*i == 0 && (*ch == '-' || *ch == '+')))
        .count();
    let Ok(n) = v[..digits].parse::<i64>() else {
        return "maxconn string empty or preceded by garbage".into();
    };
    if digits != v.len() {
        return "Trailing garbage in maxconn string".into();
    }
    sv.maxconn.store(n.clamp(0, u32::MAX as i64) as u32, Relaxed);
    String::new()
}

fn cmd_set_maxconn_frontend(c: &mut Ctx, args: &[String], _: Option<&[u8]>) -> String {
    if !c.has(Level::Admin) {
        return DENIED.into();
    }
    let name = arg(args, 3);
    if name.is_empty() {
        return "A frontend name is expected.\n".into();
    }
    let rt = &c.w.rt;
    let by_id = name.strip_prefix('#').and_then(|n| n.parse::<u32>().ok());
    let Some(px) = rt
        .proxies
        .iter()
        .find(|p| p.is_frontend && (p.name == name || by_id == Some(p.id)))
    else {
        return "No such frontend.\n".into();
    };
    if px.cfg.disabled {
        return "Frontend was previously shut down, cannot change maxconn.\n".into();
    }
    if arg(args, 4).is_empty() {
        return "Integer value expected.\n".into();
    }
    let v = atoi(arg(args, 4));
    if v < 0 {
        return "Value out of range.\n".into();
    }
    px.fe_maxconn.store(v as u32, Relaxed);
    String::new()
}

fn cmd_set_server(c: &mut Ctx, args: &[String], _: Option<&[u8]>) -> String {
    if !c.has(Level::Admin) {
        return DENIED.into();
    }
    let (px, sv) = match find_server(c, arg(args, 2)) {
        Ok(x) => x,
        Err(e) => return e.into(),
    };
    let v = arg(args, 4);
    match arg(args, 3) {
        "weight" => change_weight(px, sv, v).unwrap_or("").into(),
        "state" => {
            match v {
                "ready" => set_admin_report(c, srv_at(px, sv), 0, ADM_MAINT | ADM_DRAIN),
                "drain" => set_admin_report(c, srv_at(px, sv), ADM_DRAIN, ADM_MAINT),
                "maint" => set_admin_report(c, srv_at(px, sv), ADM_MAINT, 0),
                _ => return "'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n".into(),
            }
            String::new()
        }
        "health" => {
            if sv.cfg.track.is_some() && !sv.chk.enabled {
                return "cannot change health on a tracking server.\n".into();
            }
            let up = match v {
                "up" | "stopping" => true,
                "down" => false,
                _ => return "'set server <srv> health' expects 'up', 'stopping', or 'down'.\n".into(),
            };
            let (be_i, srv_i) = srv_at(px, sv);
            let rt = c.w.rt.clone();
            force_health(c.cx, &rt, be_i, srv_i, up, "changed from CLI");
            String::new()
        }
        "agent" => {
            if !sv.cfg.agent_check {
                return "agent checks are not enabled on this server.\n".into();
            }
            let up = match v {
                "up" => true,
                "down" => false,
                _ => return "'set server <srv> agent' expects 'up' or 'down'.\n".into(),
            };
            if sv.up.swap(up, Relaxed) != up {
                touch(sv);
            }
            String::new()
        }
        "addr" => {
            if v.is_empty() {
                return "set server <b>/<s> addr requires an address and optionally a port.\n".into();
            }
            let Ok(ip) = v.parse::<std::net::IpAddr>() else {
                return format!("Could not understand IP address format '{v}'.\n");
            };
            let new_port = if arg(args, 5) == "port" {
                match arg(args, 6).parse::<u16>() {
                    Ok(p) => Some(p),
                    Err(_) => return format!("provided port is not valid: '{}'.\n", arg(args, 6)),
                }
            } else {
                None
            };
            let mut t = sv.target.lock().unwrap_or_else(|e| e.into_inner());
            let (old_ip, old_port) = match &*t {
                crate::runtime::Target::Inet(a) => (a.ip().to_string(), Some(a.port())),
                crate::runtime::Target::InetPortOffset(a, _) => (a.ip().to_string(), None),
                other => (other.display(), None),
            };
            let port = new_port.or(old_port);
            *t = match (port, &*t) {
                (Some(p), _) => crate::runtime::Target::Inet(std::net::SocketAddr::new(ip, p)),
                (None, crate::runtime::Target::InetPortOffset(_, o)) => {
                    crate::runtime::Target::InetPortOffset(std::net::SocketAddr::new(ip, 0), *o)
                }
                (None, _) => crate::runtime::Target::InetPortOffset(std::net::SocketAddr::new(ip, 0), 0),
            };
            drop(t);
            touch(sv);
            let mut msg = String::new();
            if old_ip != ip.to_string() {
                let _ = write!(msg, "IP changed from '{old_ip}' to '{ip}'");
            } else {
                msg.push_str("no need to change the addr");
            }
            match (new_port, old_port) {
                (Some(n), Some(o)) if n != o => {
                    let _ = write!(msg, ", port changed from '{o}' to '{n}'");
                }
                (Some(_), _) => {}
                _ => {}
            }
            msg.push_str(" by 'stats socket command'\n");
            msg
        }
        "fqdn" => {
            if v.is_empty() {
                return "set server <b>/<s> fqdn requires a FQDN.\n".into();
            }
            if sv.cfg.resolvers.is_none() {
                return "set server <b>/<s> fqdn failed because no resolution is configured.\n".into();
            }
            if sv.cfg.srv_record.is_some() {
                return "set server <b>/<s> fqdn failed because SRV resolution is configured.\n".into();
            }
            // HAProxy's srv_update_fqdn() texts, with the updater's name.
            let by = " by 'stats socket command'\n";
            let cur = sv.fqdn.lock().unwrap_or_else(|e| e.into_inner()).clone();
            if cur.as_deref() == Some(v) {
                return format!("no need to change the FDQN{by}");
            }
            if v.len() > 255 || v.chars().any(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))) {
                return format!("invalid fqdn '{v}'{by}");
            }
            // A server configured with an IP starts resolving the name.
            if !config::resolvers::valid_dns_name(v) {
                return format!("could not update {}/{} FQDN{by}", px.name, sv.name);
            }
            // HAProxy flags the server HMAINT here but only shows it after
            // a later state change: `show servers state` keeps 0.
            *sv.fqdn.lock().unwrap_or_else(|e| e.into_inner()) = Some(v.to_string());
            let (be, srv) = srv_at(px, sv);
            // Resolutions run on thread 0.
            c.cx.send(
                0,
                crate::worker::Msg::SetFqdn {
                    be,
                    srv,
                    fqdn: v.to_string(),
                },
            );
            format!(
                "{}/{} changed its FQDN from {} to {v}{by}",
                px.name,
                sv.name,
                cur.as_deref().unwrap_or("(null)")
            )
        }
        "agent-addr" | "agent-port" | "agent-send" | "check-addr" | "check-port" => {
            format!("'set server <srv> {}' is not supported yet by rhaproxy.\n", arg(args, 3))
        }
        "ssl" => "server ssl setting not supported.\n".into(),
        _ => "usage: set server <backend>/<server> addr | agent | agent-addr | agent-port | agent-send | check-addr | check-port | fqdn | health | ssl | state | weight\n".into(),
    }
}

/// HAProxy's `show servers state` operational state: 0 stopped, 2 running
/// (maintenance stops a server).
fn srv_op_state(sv: &ServerRt) -> u32 {
    if sv.up.load(Relaxed) && !sv.in_maint() {
        2
    } else {
        0
    }
}

/// Admin state flags: 0x01 forced maintenance, 0x08 forced drain.
fn srv_admin_state(sv: &ServerRt) -> u32 {
    let a = sv.admin.load(Relaxed);
    let mut v = 0;
    if a & ADM_MAINT != 0 {
        // Forced maintenance (0x01), plus 0x04 when it comes from the
        // configuration's `disabled`.
        v |= if sv.cfg.disabled { 0x05 } else { 0x01 };
    }
    if a & crate::runtime::ADM_RMAINT != 0 {
        v |= 0x20;
    }
    if a & crate::runtime::ADM_HMAINT != 0 {
        v |= 0x40;
    }
    if a & ADM_DRAIN != 0 {
        v |= 0x08;
    }
    v
}

fn backend_filter<'r>(c: &'r Ctx, name: &str) -> Result<Vec<&'r crate::runtime::ProxyRt>, String> {
    let rt = &c.w.rt;
    if name.is_empty() {
        return Ok(rt.proxies.iter().filter(|p| p.is_backend).collect());
    }
    match rt.proxies.iter().find(|p| p.is_backend && p.name == name) {
        Some(p) => Ok(vec![p]),
        None => Err("Can't find backend.\n".into()),
    }
}

fn cmd_show_servers_state(c: &mut Ctx, args: &[String], _: Option<&[u8]>) -> String {
    let pxs = match backend_filter(c, arg(args, 3)) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let now = reactor::now_ms();
    let mut s = String::from("1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port\n");
    for px in pxs {
        if px.cfg.disabled {
            continue;
        }
        for sv in px.servers.iter().filter(|s| !s.is_deleted()) {
            let t = sv.target.lock().unwrap_or_else(|e| e.into_inner()).clone();
            let (mut addr, port) = match &t {
                crate::runtime::Target::Inet(a) => (a.ip().to_string(), a.port()),
                crate::runtime::Target::InetPortOffset(a, _) => (a.ip().to_string(), 0),
                other => (other.display(), 0),
            };
            if sv.addr_unset() {
                addr = "-".into();
            }
            let fqdn = sv.fqdn.lock().unwrap_or_else(|e| e.into_inner()).clone();
            // Without health checks HAProxy 2.6 prints check status 1
            // (none), result 0, health = rise while up (0 when down) and
            // check state 0.
            let chk_health = if sv.chk.enabled {
                sv.chk.health.load(Relaxed)
            } else {
                crate::server::check_health(sv)
            };
            let (chk_status, chk_result, chk_state) = if sv.chk.enabled {
                let st = sv.chk.report().status;
                let state = 6 | if sv.in_maint() { 8 } else { 0 } | u32::from(sv.chk.in_progress.load(Relaxed));
                (st as u32, st.result(), state)
            } else {
                (1, 0, 0)
            };
            let _ = writeln!(
                s,
                "{} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} 0 {} - - 0",
                px.id,
                px.name,
                sv.id,
                sv.name,
                addr,
                srv_op_state(sv),
                srv_admin_state(sv),
                sv.uweight.load(Relaxed),
                sv.iweight,
                now.saturating_sub(sv.last_change_ms.load(Relaxed)) / 1000,
                chk_status,
                chk_result,
                chk_health,
                chk_state,
                0,
                u8::from(px.cfg.id_explicit),
                u8::from(sv.cfg.id.is_some()),
                fqdn.as_deref().unwrap_or("-"),
                port,
                sv.cfg.srv_record.as_deref().unwrap_or("-"),
                sv.cfg.check_port.unwrap_or(0),
            );
        }
    }
    s
}

fn cmd_show_servers_conn(c: &mut Ctx, args: &[String], _: Option<&[u8]>) -> String {
    let pxs = match backend_filter(c, arg(args, 3)) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let nbt = c.cx.nbthread();
    let mut s = format!("# bkname/svname bkid/svid addr port - purge_delay used_cur used_max need_est unsafe_nb safe_nb idle_lim idle_cur idle_per_thr[{nbt}]\n");
    for px in pxs {
        for sv in px.servers.iter().filter(|s| !s.is_deleted()) {
            let t = sv.target.lock().unwrap_or_else(|e| e.into_inner()).clone();
            let (addr, port) = match &t {
                crate::runtime::Target::Inet(a) => (a.ip().to_string(), a.port()),
                crate::runtime::Target::InetPortOffset(a, _) => (a.ip().to_string(), 0),
                other => (other.display(), 0),
            };
            let (unsafe_nb, safe_nb) = sv.idle.counts();
            let _ = write!(
                s,
                "{}/{} {}/{} {} {} - {} {} {} {} {} {} {} {}",
                px.name,
                sv.name,
                px.id,
                sv.id,
                addr,
                port,
                sv.cfg.pool_purge_delay_ms,
                sv.served.load(Relaxed),
                sv.max_used.load(Relaxed),
                sv.est_need.load(Relaxed),
                unsafe_nb,
                safe_nb,
                sv.cfg.pool_max_conn,
                unsafe_nb + safe_nb,
            );
            // 2.6 has per-thread idle counts only for servers that may
            // keep idle connections.
            if sv.cfg.pool_max_conn != 0 {
                for t in 0..nbt {
                    let _ = write!(s, " {}", sv.idle.count_thread(t));
                }
            }
            s.push('\n');
        }
    }
    s
}

// ---- Maps and ACL pattern files (HAProxy's map.c CLI commands) ----

/// The pattern reference a map/acl command names, or HAProxy's error.
fn pat_ref(args: &[String], map: bool) -> Result<std::sync::Arc<crate::map::PatRef>, String> {
    let id = arg(args, 2);
    crate::map::find_ref(id, map).ok_or_else(|| {
        if map {
            "Unknown map identifier. Please use #<id> or <file>.\n".to_string()
        } else {
            "Unknown ACL identifier. Please use #<id> or <file>.\n".to_string()
        }
    })
}

/// `show map <map>` / `show acl <acl>`: one line per entry, an opaque
/// entry reference first (HAProxy prints a pointer).
fn cmd_pat_show(c: &mut Ctx, args: &[String], _: Option<&[u8]>) -> String {
    if !c.has(Level::Operator) {
        return DENIED.into();
    }
    let map = arg(args, 1) == "map";
    if arg(args, 2).is_empty() {
        return "Listing the pattern references is not supported yet by rhaproxy; name one (file or #<id>).\n".into();
    }
    let r = match pat_ref(args, map) {
        Ok(r) => r,
        Err(e) => return e,
    };
    let mut out = String::new();
    for e in r.entries() {
        let key = String::from_utf8_lossy(&e.key);
        if map {
            let v = String::from_utf8_lossy(&e.value);
            out.push_str(&format!("0x{:x} {key} {v}\n", (r.id as u64 + 1) << 32 | e.id));
        } else {
            out.push_str(&format!("0x{:x} {key}\n", (r.id as u64 + 1) << 32 | e.id));
        }
    }
    out
}

/// `add map <map> <key> <value>` (or a payload of `key value` lines),
/// `add acl <acl> <pattern>`.
fn cmd_pat_add(c: &mut Ctx, args: &[String], payload: Option<&[u8]>) -> String {
    if !c.has(Level::Operator) {
        return DENIED.into();
    }
    let map = arg(args, 1) == "map";
    let usage = if map {
        "'add map' expects three parameters (map identifier, key and value) or one parameter (map identifier) and a payload\n"
    } else {
        "'add acl' expects two parameters: ACL identifier and pattern.\n"
    };
    let want = if map { 5 } else { 4 };
    let with_payload = map && payload.is_some() && args.len() == 3;
    if args.len() < want && !with_payload {
        return usage.into();
    }
    let r = match pat_ref(args, map) {
        Ok(r) => r,
        Err(e) => return e,
    };
    let res = if with_payload {
        let lines = crate::map::parse_file(payload.unwrap_or_default(), true);
        lines.iter().try_for_each(|(_, k, v)| r.add(k, v))
    } else if map {
        r.add(arg(args, 3).as_bytes(), arg(args, 4).as_bytes())
    } else {
        r.add(arg(args, 3).as_bytes(), b"")
    };
    match res {
        Ok(()) => String::new(),
        Err(e) => format!("{e}.\n"),
    }
}

/// `set map <map> <key> <value>`: every entry with this key.
fn cmd_pat_set(c: &mut Ctx, args: &[String], _: Option<&[u8]>) -> String {
    if !c.has(Level::Operator) {
        return DENIED.into();
    }
    if args.len() < 5 {
        return "'set map' expects three parameters: map identifier, key and value.\n".into();
    }
    let r = match pat_ref(args, true) {
        Ok(r) => r,
        Err(e) => return e,
    };
    match r.set_existing(arg(args, 3).as_bytes(), arg(args, 4).as_bytes()) {
        Ok(true) => String::new(),
        Ok(false) => "entry not found.\n".into(),
        Err(e) => format!("{e}.\n"),
    }
}

/// `del map <map> <key>` / `del acl <acl> <pattern>`.
fn cmd_pat_del(c: &mut Ctx, args: &[String], _: Option<&[u8]>) -> String {
    if !c.has(Level::Operator) {
        return DENIED.into();
    }
    let map = arg(args, 1) == "map";
    if args.len() < 4 {
        return "This command expects two parameters: map identifier and key.\n".into();
    }
    let r = match pat_ref(args, map) {
        Ok(r) => r,
        Err(e) => return e,
    };
    if r.del(arg(args, 3).as_bytes()) {
        String::new()
    } else {
        "Key not found.\n".into()
    }
}

/// `clear map <map>` / `clear acl <acl>`.
fn cmd_pat_clear(c: &mut Ctx, args: &[String], _: Option<&[u8]>) -> String {
    if !c.has(Level::Operator) {
        return DENIED.into();
    }
    let map = arg(args, 1) == "map";
    if arg(args, 2).is_empty() {
        return if map {
            "'clear map' expects a map identifier.\n".into()
        } else {
            "'clear acl' expects an ACL identifier.\n".into()
        };
    }
    match pat_ref(args, map) {
        Ok(r) => {
            r.clear();
            String::new()
        }
        Err(e) => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_split_like_haproxy() {
        assert_eq!(split_args(b"  show\tstat  typed "), vec!["show", "stat", "typed"]);
        assert_eq!(split_args(b"set server a\\ b/c"), vec!["set", "server", "a b/c"]);
        assert_eq!(split_args(b"show version\0garbage"), vec!["show", "version"]);
        assert_eq!(split_args(b"").len(), 0);
    }

    #[test]
    fn fingerprint_distance_is_zero_for_same_word() {
        let mut a = [0u8; 1024];
        let mut b = [0u8; 1024];
        fingerprint(&mut a, "stat");
        fingerprint(&mut b, "stat");
        assert_eq!(distance(&a, &b), 0);
        let mut c2 = [0u8; 1024];
        fingerprint(&mut c2, "stats");
        assert!(distance(&a, &c2) > 0);
    }

    #[test]
    fn time_units() {
        assert_eq!(parse_time_s("20"), Some(20_000));
        assert_eq!(parse_time_s("1m"), Some(60_000));
        assert_eq!(parse_time_s("x"), None);
    }
}
