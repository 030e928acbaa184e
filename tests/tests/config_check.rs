//! Table-driven `-c` conformance: every configuration in
//! tests/fixtures/config/ is checked by rhaproxy, and its exit status and
//! first `[ALERT]` line (PID removed) must equal real HAProxy 2.6.12's,
//! recorded in the matching `.expected` file by `regen.sh`.

use rhaproxy_tests::{bin, run};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/config")
}

/// First `[ALERT]` line with the PID removed, as regen.sh records it.
fn first_alert(stderr: &str) -> String {
    for l in stderr.lines() {
        if let Some(rest) = l.strip_prefix("[ALERT]") {
            let rest = rest.trim_start();
            // "(PID) : text"
            if let Some(close) = rest.find(") : ") {
                return format!("[ALERT] {}", &rest[close + 4..]);
            }
            return l.to_string();
        }
    }
    String::new()
}

#[test]
fn check_mode_matches_haproxy() {
    let dir = fixtures();
    let mut cfgs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "cfg"))
        .collect();
    cfgs.sort();
    assert!(cfgs.len() >= 60, "only {} fixtures", cfgs.len());
    let mut failures = Vec::new();
    for cfg in &cfgs {
        let name = cfg.file_name().unwrap().to_string_lossy().into_owned();
        let expected = std::fs::read_to_string(cfg.with_extension("expected"))
            .unwrap_or_else(|_| panic!("no .expected for {name}"));
        let mut lines = expected.lines();
        let want_rc: i32 = lines.next().unwrap().strip_prefix("exit ").unwrap().parse().unwrap();
        let want_alert = lines.next().unwrap_or("").to_string();
        let mut c = Command::new(bin("rhaproxy"));
        c.current_dir(&dir)
            .env_clear()
            .env("RHTEST_HOST", "127.0.0.1")
            .arg("-c")
            .arg("-f")
            .arg(&name);
        let out = run(c, Duration::from_secs(20));
        let rc = out.status.code().unwrap_or(-1);
        let alert = first_alert(&String::from_utf8_lossy(&out.stderr));
        if rc != want_rc || alert != want_alert {
            failures.push(format!(
                "{name}:\n  want: exit {want_rc} {want_alert}\n  got:  exit {rc} {alert}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} differ from HAProxy:\n{}",
        failures.len(),
        cfgs.len(),
        failures.join("\n")
    );
}

/// When real HAProxy is installed, the recorded expectations are still what
/// it says (guards against stale fixtures).
#[test]
fn fixtures_are_current() {
    let Some(h) = rhaproxy_tests::real_haproxy() else {
        return;
    };
    let dir = fixtures();
    for name in ["bad-unknown-listen.cfg", "ok-minimal.cfg", "bad-option-typo.cfg"] {
        let mut c = Command::new(&h);
        c.current_dir(&dir)
            .env_clear()
            .env("RHTEST_HOST", "127.0.0.1")
            .arg("-c")
            .arg("-f")
            .arg(name);
        let out = run(c, Duration::from_secs(20));
        let expected = std::fs::read_to_string(dir.join(name).with_extension("expected")).unwrap();
        let mut lines = expected.lines();
        assert_eq!(
            lines.next().unwrap(),
            format!("exit {}", out.status.code().unwrap()),
            "{name}"
        );
        assert_eq!(
            lines.next().unwrap_or(""),
            first_alert(&String::from_utf8_lossy(&out.stderr)),
            "{name}"
        );
    }
}
