//! `debug counters` output against dumps captured from HAProxy (a build of
//! commit 8235a2478, tests/data/debug_counters_3.2dev*.txt): every sample row
//! re-rendered by our formatter must be byte-identical, and our six stale
//! counters must print in HAProxy's order and layout, differing only in the
//! location (`poller.rs:N count_stale()` for `ev_epoll.c:N _do_poll()`).
//! Tests here share the process-wide counters, so they run one at a time.

use reactor::counters::{self, Kind, Row, HEADER, PARSE_ERROR};
use reactor::poller::{count_stale, Stale};
use std::sync::{Mutex, MutexGuard};

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

const SAMPLE: &str = include_str!("data/debug_counters_3.2dev.txt");
const SAMPLE_CNT_ALL: &str = include_str!("data/debug_counters_3.2dev_cnt_all.txt");

/// A sample row split into the fields of `"%-10u %3s %s:%d %s()%s%s"`,
/// reading the columns by position, not by trimming, so a width error in
/// either the sample or the parser shows.
struct Parsed<'a> {
    count: u32,
    kind: Kind,
    file: &'a str,
    line: u32,
    func: &'a str,
    desc: &'a str,
}

fn parse_row(l: &str) -> Parsed<'_> {
    let count_col = &l[..10];
    assert_eq!(&l[10..11], " ", "{l:?}");
    let count: u32 = count_col.trim_end().parse().unwrap();
    assert!(!count_col.starts_with(' '), "count is left-aligned: {l:?}");
    let kind = match &l[11..14] {
        "BUG" => Kind::Bug,
        "CHK" => Kind::Chk,
        "CNT" => Kind::Cnt,
        "GLT" => Kind::Glt,
        k => panic!("type {k:?} in {l:?}"),
    };
    assert_eq!(&l[14..15], " ");
    let rest = &l[15..];
    let (loc, rest) = rest.split_once(' ').unwrap();
    let (file, line) = loc.rsplit_once(':').unwrap();
    let (func, desc) = rest.split_once("()").unwrap();
    let desc = desc.strip_prefix(": ").unwrap_or(desc);
    Parsed {
        count,
        kind,
        file,
        line: line.parse().unwrap(),
        func,
        desc,
    }
}

fn render(p: &Parsed<'_>) -> String {
    Row {
        count: p.count,
        kind: p.kind,
        file: p.file,
        line: p.line,
        func: p.func,
        desc: p.desc,
        stopped: false,
    }
    .to_string()
}

#[test]
fn every_sample_row_rerenders_byte_for_byte() {
    for sample in [SAMPLE, SAMPLE_CNT_ALL] {
        let mut lines = sample.lines();
        assert_eq!(format!("{}\n", lines.next().unwrap()), HEADER);
        let mut n = 0;
        for l in lines.filter(|l| !l.is_empty()) {
            assert_eq!(render(&parse_row(l)), l);
            n += 1;
        }
        assert!(n >= 4, "sample rows: {n}");
    }
    // A row with an empty description has no ": ", as in HAProxy.
    let r = Row {
        count: 3,
        kind: Kind::Glt,
        file: "x.rs",
        line: 9,
        func: "f",
        desc: "",
        stopped: false,
    };
    assert_eq!(r.to_string(), "3          GLT x.rs:9 f()");
    // Counts wider than the column push the rest right, like "%-10u".
    let r = Row {
        count: 4_000_000_000,
        desc: "\"1\"",
        ..r
    };
    assert_eq!(r.to_string(), "4000000000 GLT x.rs:9 f(): \"1\"");
}

/// Sets our six stale counters to the sample's values: the CNT-only dump
/// then matches HAProxy's first six rows once locations are swapped.
#[test]
fn stale_rows_match_haproxy_order_and_layout() {
    let _g = serial();
    counters::cli(&["reset", "cnt"]).unwrap();
    for _ in 0..80 {
        count_stale(Stale::JustClosed);
    }
    count_stale(Stale::ClosedRecycled);
    for _ in 0..12 {
        count_stale(Stale::HupErrReopenedOtherThread);
    }
    let ours = counters::cli(&["cnt", "all"]).unwrap();
    assert!(ours.starts_with(HEADER));
    let ours: Vec<&str> = ours.lines().filter(|l| l.contains("epoll report of")).collect();
    let theirs: Vec<&str> = SAMPLE_CNT_ALL
        .lines()
        .filter(|l| l.contains("epoll report of"))
        .collect();
    assert_eq!(ours.len(), 6, "{ours:#?}");
    assert_eq!(theirs.len(), 6);
    for (o, t) in ours.iter().zip(&theirs) {
        let po = parse_row(o);
        let pt = parse_row(t);
        assert_eq!((po.file, po.func), ("poller.rs", "count_stale"), "{o}");
        // Same line, HAProxy's location substituted.
        let swapped = render(&Parsed {
            file: pt.file,
            line: pt.line,
            func: pt.func,
            ..po
        });
        assert_eq!(&swapped, t);
    }
    // Without "all", only non-zero rows, still in that order.
    let shown = counters::cli(&["cnt"]).unwrap();
    let shown: Vec<&str> = shown.lines().filter(|l| l.contains("epoll report of")).collect();
    let sample_shown: Vec<&str> = SAMPLE.lines().filter(|l| l.contains("epoll report of")).collect();
    assert_eq!(shown.len(), sample_shown.len());
    for (o, t) in shown.iter().zip(&sample_shown) {
        assert_eq!(parse_row(o).desc, parse_row(t).desc);
        assert_eq!(parse_row(o).count, parse_row(t).count);
    }
}

#[test]
fn on_off_reset_and_errors() {
    let _g = serial();
    let c = counters::find("[epoll report of event on a just closed fd (harmless)]").unwrap();
    let probe = "[epoll report of event on a just closed fd (harmless)]";
    count_stale(Stale::JustClosed);
    let n = c.count();
    assert!(n > 0);

    // "off": stops CNT updates and shows the dump with " (stopped)".
    let out = counters::cli(&["off"]).unwrap();
    assert!(!counters::enabled());
    let row = out.lines().find(|l| l.contains(probe)).unwrap();
    assert!(row.ends_with(" (stopped)"), "{row}");
    count_stale(Stale::JustClosed);
    assert_eq!(c.count(), n, "counted while off");
    // BUG/CHK sites keep counting while CNT is off.
    fn chk_site() -> bool {
        reactor::check_if!(true, "layout test chk probe")
    }
    chk_site();
    let chk = counters::find("layout test chk probe").unwrap();
    let k = chk.count();
    chk_site();
    assert_eq!(chk.count(), k + 1);
    assert!(!counters::cli(&["chk"])
        .unwrap()
        .lines()
        .any(|l| l.ends_with("(stopped)")));

    // "on": counts again, no suffix.
    let out = counters::cli(&["on", "cnt"]).unwrap();
    assert!(counters::enabled());
    assert!(!out.contains("(stopped)"));
    count_stale(Stale::JustClosed);
    assert_eq!(c.count(), n + 1);

    // "reset" prints nothing and zeroes only the selected kinds.
    assert_eq!(counters::cli(&["reset", "cnt"]).unwrap(), "");
    assert_eq!(c.count(), 0);
    assert_eq!(chk.count(), k + 1);

    let r = counters::parse_request(["on"]).unwrap();
    assert!(r.needs_admin());
    assert!(!counters::parse_request(["all", "bug"]).unwrap().needs_admin());
    assert_eq!(counters::cli(&["bogus"]).unwrap_err(), PARSE_ERROR);
    assert_eq!(
        PARSE_ERROR,
        "Expects an optional action ('reset','show','on','off'), optional types ('bug','chk','cnt','glt') and optionally 'all' to even dump null counters.\n"
    );
}
