//! Debug counters: HAProxy's `COUNT_IF()`/`CHECK_IF()`/`BUG_ON()` family.
//!
//! Each call site of [`count_if!`], [`check_if!`], [`bug_on!`], [`warn_on!`]
//! or [`glitch!`] owns one `static` [`DebugCounter`] recording file, line,
//! function, the condition's text and a comment. The statics are gathered at
//! link time into one slice ([`DEBUG_COUNTERS`], a `linkme` distributed slice:
//! the Rust form of HAProxy's `dbg_cnt` linker section), so a dump needs no
//! registration step and a hit costs one relaxed atomic add.
//!
//! This module owns the records and their text dump (`debug counters` on the
//! stats socket). It must not decide anything from a counter's value: the
//! counters observe, they never steer.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

/// Whether `count_if!` sites (type CNT) update their counters: HAProxy's
/// `debug_enable_counters` (HEAD, `debug counters on|off` and the global
/// `debug.counters on|off`). On by default, as CNT counters always counted in
/// the 3.2-dev5 founding build. BUG/CHK/GLT sites always count. The flag is
/// read only once a condition is true, i.e. on the rare path, so it costs
/// nothing on the hot path (see `docs/reactor.md` for the measurement).
static CNT_ENABLED: AtomicBool = AtomicBool::new(true);

/// Enables or disables updating of CNT counters.
pub fn set_enabled(on: bool) {
    CNT_ENABLED.store(on, Ordering::Relaxed);
}

/// True when CNT counters are updated.
pub fn enabled() -> bool {
    CNT_ENABLED.load(Ordering::Relaxed)
}

/// Whether a site of `kind` whose condition was true counts the hit.
#[doc(hidden)]
#[inline(always)]
pub fn should_count(kind: Kind) -> bool {
    !matches!(kind, Kind::Cnt) || CNT_ENABLED.load(Ordering::Relaxed)
}

pub use linkme;

/// What kind of site a counter is, printed in the `Type` column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `bug_on!` / `warn_on!`: must never happen.
    Bug,
    /// `check_if!`: should not happen, reported once.
    Chk,
    /// `count_if!`: rare but legitimate events worth counting.
    Cnt,
    /// `glitch!`: protocol glitches from peers.
    Glt,
}

impl Kind {
    pub const fn label(self) -> &'static str {
        match self {
            Kind::Bug => "BUG",
            Kind::Chk => "CHK",
            Kind::Cnt => "CNT",
            Kind::Glt => "GLT",
        }
    }
    const fn bit(self) -> u8 {
        match self {
            Kind::Bug => 1,
            Kind::Chk => 2,
            Kind::Cnt => 4,
            Kind::Glt => 8,
        }
    }
}

/// One call site. Built only by the macros.
pub struct DebugCounter {
    pub kind: Kind,
    pub file: &'static str,
    pub line: u32,
    /// Computes the enclosing function's name; a function pointer because
    /// `type_name` is not usable in a `static` initializer.
    pub func: fn() -> &'static str,
    /// `"<condition>" [<comment>]`, formatted as HAProxy does.
    pub desc: &'static str,
    count: AtomicU32,
}

impl DebugCounter {
    #[doc(hidden)]
    pub const fn new(
        kind: Kind,
        file: &'static str,
        line: u32,
        func: fn() -> &'static str,
        desc: &'static str,
    ) -> DebugCounter {
        DebugCounter {
            kind,
            file,
            line,
            func,
            desc,
            count: AtomicU32::new(0),
        }
    }

    /// Counts one occurrence.
    #[inline]
    pub fn hit(&self) {
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    pub fn count(&self) -> u32 {
        self.count.load(Ordering::Relaxed)
    }

    pub fn reset(&self) {
        self.count.store(0, Ordering::Relaxed);
    }

    /// The file's base name, as HAProxy prints `__FILE__` without its path.
    pub fn file_name(&self) -> &'static str {
        self.file.rsplit(['/', '\\']).next().unwrap_or(self.file)
    }
}

/// Every counter of the program, whatever crate declared it.
#[linkme::distributed_slice]
pub static DEBUG_COUNTERS: [DebugCounter];

/// Extracts the enclosing function's short name from the type name of a
/// marker item nested in it (`a::b::poll::__f` → `poll`); closures are
/// skipped so a counter in a closure reports the function holding it.
#[doc(hidden)]
pub fn short_fn_name(full: &'static str) -> &'static str {
    let trimmed = full.strip_suffix("::__dbg_fn::__dbg_fn_marker").unwrap_or(full);
    let mut parts = trimmed.rsplit("::").filter(|p| *p != "{{closure}}");
    parts.next().unwrap_or(trimmed)
}

/// Common expansion of all the macros; evaluates to the condition's value.
#[doc(hidden)]
#[macro_export]
macro_rules! __dbg_count {
    ($kind:expr, $cond:expr, $desc:expr) => {{
        let __c: bool = $cond;
        if __c {
            fn __dbg_fn() -> &'static str {
                fn __dbg_fn_marker() {}
                $crate::counters::short_fn_name(::std::any::type_name_of_val(&__dbg_fn_marker))
            }
            #[$crate::counters::linkme::distributed_slice($crate::counters::DEBUG_COUNTERS)]
            #[linkme(crate = $crate::counters::linkme)]
            static __DBG_CNT: $crate::counters::DebugCounter =
                $crate::counters::DebugCounter::new($kind, file!(), line!(), __dbg_fn, $desc);
            if $crate::counters::should_count($kind) {
                __DBG_CNT.hit();
            }
        }
        __c
    }};
}

/// Counts a rare but legitimate event. `count_if!(cond, "comment")`
/// evaluates to `cond`. `count_if!("comment")` counts unconditionally and
/// shows the condition as `"1"`, as HAProxy's `COUNT_IF(1, ...)`.
#[macro_export]
macro_rules! count_if {
    ($comment:literal) => {
        $crate::__dbg_count!($crate::counters::Kind::Cnt, true, concat!("\"1\" [", $comment, "]"))
    };
    ($cond:expr, $comment:literal) => {
        $crate::__dbg_count!(
            $crate::counters::Kind::Cnt,
            $cond,
            concat!("\"", stringify!($cond), "\" [", $comment, "]")
        )
    };
    ($cond:expr) => {
        $crate::__dbg_count!(
            $crate::counters::Kind::Cnt,
            $cond,
            concat!("\"", stringify!($cond), "\"")
        )
    };
}

/// Counts something that should not happen but is survivable (HAProxy's
/// `CHECK_IF`). Evaluates to the condition.
#[macro_export]
macro_rules! check_if {
    ($cond:expr, $comment:literal) => {
        $crate::__dbg_count!(
            $crate::counters::Kind::Chk,
            $cond,
            concat!("\"", stringify!($cond), "\" [", $comment, "]")
        )
    };
    ($cond:expr) => {
        $crate::__dbg_count!(
            $crate::counters::Kind::Chk,
            $cond,
            concat!("\"", stringify!($cond), "\"")
        )
    };
}

/// Counts an impossible state. Unlike HAProxy's `BUG_ON` it does not abort
/// the process: a proxy thread must survive, so the caller recovers (closes
/// the connection) and the counter tells developers it happened.
#[macro_export]
macro_rules! bug_on {
    ($cond:expr, $comment:literal) => {
        $crate::__dbg_count!(
            $crate::counters::Kind::Bug,
            $cond,
            concat!("\"", stringify!($cond), "\" [", $comment, "]")
        )
    };
    ($cond:expr) => {
        $crate::__dbg_count!(
            $crate::counters::Kind::Bug,
            $cond,
            concat!("\"", stringify!($cond), "\"")
        )
    };
}

/// Same record type as [`bug_on!`] (HAProxy prints both as `BUG`).
#[macro_export]
macro_rules! warn_on {
    ($($t:tt)*) => { $crate::bug_on!($($t)*) };
}

/// Counts a protocol glitch from a peer (HAProxy's `COUNT_GLITCH`).
#[macro_export]
macro_rules! glitch {
    ($comment:literal) => {
        $crate::__dbg_count!($crate::counters::Kind::Glt, true, concat!("\"1\" [", $comment, "]"))
    };
}

/// Header line of the dump, HAProxy's exact text.
pub const HEADER: &str = "Count     Type Location function(): \"condition\" [comment]\n";

/// What `debug counters ...` asked for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Request {
    /// Reset instead of show.
    pub reset: bool,
    /// Also list counters still at zero.
    pub all: bool,
    /// Kinds to include (bit set of [`Kind`]); 0 means all kinds.
    pub kinds: u8,
    /// `on` / `off`: enable or disable updating CNT counters, then show
    /// (HAProxy HEAD's parser returns to the dump after toggling).
    pub enable: Option<bool>,
}

impl Request {
    /// `reset`, `on` and `off` need the admin level; `show` needs operator.
    pub fn needs_admin(&self) -> bool {
        self.reset || self.enable.is_some()
    }
}

/// HAProxy's answer to an unknown word after `debug counters` (HEAD's text,
/// which lists `on`/`off` since they are supported here).
pub const PARSE_ERROR: &str = "Expects an optional action ('reset','show','on','off'), optional types ('bug','chk','cnt','glt') and optionally 'all' to even dump null counters.\n";

/// The `help` line of the command (HEAD's, unchanged since 3.1).
pub const HELP: &str = "debug counters [?|all|bug|cnt|chk|glt]* : dump/reset rare event counters";

/// Parses the words after `debug counters`. The error text is HAProxy's.
pub fn parse_request<'a>(words: impl IntoIterator<Item = &'a str>) -> Result<Request, &'static str> {
    let mut r = Request::default();
    for w in words {
        match w {
            // As in HAProxy, the last action word wins.
            "reset" => {
                r.reset = true;
                r.enable = None;
            }
            "show" => {
                r.reset = false;
                r.enable = None;
            }
            "on" | "off" => {
                r.reset = false;
                r.enable = Some(w == "on");
            }
            "all" => r.all = true,
            "bug" => r.kinds |= Kind::Bug.bit(),
            "chk" => r.kinds |= Kind::Chk.bit(),
            "cnt" => r.kinds |= Kind::Cnt.bit(),
            "glt" => r.kinds |= Kind::Glt.bit(),
            _ => return Err(PARSE_ERROR),
        }
    }
    Ok(r)
}

fn selected(r: &Request, c: &DebugCounter) -> bool {
    r.kinds == 0 || r.kinds & c.kind.bit() != 0
}

/// The counters in dump order: by file, then by descending line, the order
/// HAProxy's section walk produces for one file. Stable across runs, unlike
/// the link order.
pub fn sorted() -> Vec<&'static DebugCounter> {
    let mut v: Vec<&'static DebugCounter> = DEBUG_COUNTERS.iter().collect();
    v.sort_by(|a, b| a.file.cmp(b.file).then(b.line.cmp(&a.line)).then(a.desc.cmp(b.desc)));
    v
}

/// One dump row: HAProxy's `"%-10u %3s %s:%d %s()%s%s\n"` with `": "`
/// before a non-empty description, plus HEAD's ` (stopped)` on CNT rows
/// while CNT counting is off. Displayed without the trailing newline.
#[derive(Clone, Copy, Debug)]
pub struct Row<'a> {
    pub count: u32,
    pub kind: Kind,
    /// Base name of the source file.
    pub file: &'a str,
    pub line: u32,
    pub func: &'a str,
    /// `"cond" [comment]`, `"cond"`, or empty.
    pub desc: &'a str,
    pub stopped: bool,
}

impl std::fmt::Display for Row<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:<10} {:>3} {}:{} {}()",
            self.count,
            self.kind.label(),
            self.file,
            self.line,
            self.func
        )?;
        if !self.desc.is_empty() {
            write!(f, ": {}", self.desc)?;
        }
        if self.stopped && self.kind == Kind::Cnt {
            f.write_str(" (stopped)")?;
        }
        Ok(())
    }
}

/// Executes a request: resets the selected counters (empty output), or
/// toggles CNT counting and renders the dump, or renders the dump.
pub fn execute(r: &Request) -> String {
    let mut out = String::new();
    if r.reset {
        for c in DEBUG_COUNTERS.iter().filter(|c| selected(r, c)) {
            c.reset();
        }
        return out;
    }
    if let Some(on) = r.enable {
        set_enabled(on);
    }
    let stopped = !enabled();
    out.push_str(HEADER);
    for c in sorted() {
        if !selected(r, c) || (c.count() == 0 && !r.all) {
            continue;
        }
        let row = Row {
            count: c.count(),
            kind: c.kind,
            file: c.file_name(),
            line: c.line,
            func: (c.func)(),
            desc: c.desc,
            stopped,
        };
        let _ = writeln!(out, "{row}");
    }
    out
}

/// Parses and executes `debug counters <words>`; the error is HAProxy's
/// text. Access levels are the caller's business ([`Request::needs_admin`]).
pub fn cli(words: &[&str]) -> Result<String, &'static str> {
    let r = parse_request(words.iter().copied())?;
    Ok(execute(&r))
}

/// Finds a counter by its comment, for tests and the `-d` exit report.
pub fn find(comment_part: &str) -> Option<&'static DebugCounter> {
    DEBUG_COUNTERS.iter().find(|c| c.desc.contains(comment_part))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site_a(x: u32) -> bool {
        crate::count_if!(x > 3, "x is large")
    }

    #[test]
    fn macro_records_site_and_counts() {
        assert!(!site_a(1));
        assert!(site_a(5));
        assert!(site_a(9));
        let c = find("x is large").expect("registered");
        assert_eq!(c.count(), 2);
        assert_eq!(c.kind, Kind::Cnt);
        assert_eq!(c.file_name(), "counters.rs");
        assert_eq!((c.func)(), "site_a");
        assert_eq!(c.desc, "\"x > 3\" [x is large]");
    }

    #[test]
    fn dump_layout_matches_haproxy() {
        fn hit_twice() {
            for _ in 0..2 {
                crate::count_if!("dump layout probe");
            }
        }
        hit_twice();
        let out = execute(&Request {
            all: false,
            ..Default::default()
        });
        assert!(out.starts_with(HEADER));
        let line = out.lines().find(|l| l.contains("dump layout probe")).expect("listed");
        // "%-10u %3s %s:%d %s()%s%s" as in HAProxy's dump.
        let expect_prefix = "2          CNT counters.rs:";
        assert!(line.starts_with(expect_prefix), "{line:?}");
        assert!(line.ends_with("hit_twice(): \"1\" [dump layout probe]"), "{line:?}");
    }

    #[test]
    fn zero_rows_only_with_all() {
        fn never() -> bool {
            crate::check_if!(false, "never hit probe")
        }
        assert!(!never());
        let shown = execute(&Request::default());
        assert!(!shown.contains("never hit probe"));
        let all = execute(&Request {
            all: true,
            ..Default::default()
        });
        let line = all
            .lines()
            .find(|l| l.contains("never hit probe"))
            .expect("listed with all");
        assert!(line.starts_with("0          CHK "), "{line:?}");
        let only_cnt = execute(&Request {
            all: true,
            kinds: Kind::Cnt.bit(),
            ..Default::default()
        });
        assert!(!only_cnt.contains("never hit probe"));
    }

    #[test]
    fn parse_words() {
        assert_eq!(
            parse_request(["all"]).unwrap(),
            Request {
                all: true,
                ..Default::default()
            }
        );
        let r = parse_request(["reset", "cnt"]).unwrap();
        assert!(r.reset && r.kinds == Kind::Cnt.bit());
        assert!(parse_request(["bogus"])
            .unwrap_err()
            .starts_with("Expects an optional action"));
    }
}
