#!/usr/bin/env bash
# The whole test suite, as CI runs it: formatting, lints, unit and end-to-end
# tests, then HAProxy's own reg-tests listed in tests/regtests-passing.txt
# (when ../shared/regtests is present and varnishtest is installed).
set -euo pipefail
cd "$(dirname "$0")/.."

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
# End-to-end tests spawn the real binaries: build them all first.
cargo build --workspace --bins
cargo test --workspace

if [ -x scripts/run-regtests.sh ]; then
    scripts/run-regtests.sh
fi
