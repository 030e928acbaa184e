//! The binaries exist and answer `-v` like HAProxy does (version first).

use rhaproxy_tests::{bin, run};
use std::process::Command;
use std::time::Duration;

#[test]
fn rhaproxy_prints_version() {
    let mut c = Command::new(bin("rhaproxy"));
    c.arg("-v");
    let out = run(c, Duration::from_secs(10));
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(s.starts_with("HAProxy version 2.6"), "{s}");
    assert!(out.status.success());
}
