#!/usr/bin/env bash
# run-regtests.sh — run HAProxy's own reg-tests (VTest .vtc scripts) against
# the rhaproxy binary.
#
#   scripts/run-regtests.sh [LIST]
#
# LIST: one .vtc path per line, relative to reg-tests/ ('#' comments and blank
#       lines ignored). Default: tests/regtests-passing.txt, the tests rhaproxy
#       is known to pass; there, a test that fails (or is skipped) fails the script.
#
# Where things come from (environment):
#   RHAPROXY        binary under test (default: ${CARGO_TARGET_DIR:-target}/debug/rhaproxy)
#   REGTESTS_DIR    the suite: a directory holding reg-tests/ (../shared/regtests,
#                   a HAProxy source tree) or a reg-tests/ directory itself.
#                   Default: ../shared/regtests beside the repository.
#   REGTEST_RUNNER  the runner script (default: run.sh beside the suite, else
#                   ../shared/regtests/run.sh); "builtin", or neither found: a
#                   plain loop over varnishtest, without #REQUIRE_* filtering
#   REGTEST_OUTDIR  where reasons.txt and failure logs go (default: a temp dir,
#                   kept and named when something fails)
#   REGTEST_JOBS, REGTEST_TIMEOUT, REGTEST_FILTER_BINARY, HAPROXY_ARGS,
#   VTEST_PROGRAM   passed through to the runner (see ../shared/regtests/run.sh)
#
# The tests write sockets into their tree, so the suite is copied into a temp
# dir for each run: several runs may go on at once. A failed test is retried
# once before it counts as failed. A test listed in the suite's flaky.txt
# (../shared/regtests/flaky.txt: tests that fail now and then against real
# HAProxy 2.6 too, on a race in the test itself) gets REGTEST_FLAKY_RETRIES
# (default 3) further attempts: a real regression fails them all, the race
# does not win five times in a row. If the suite or varnishtest is missing,
# the script says so and exits 0.
# Prints the runner's "N passed, N failed, N skipped" line (plus the retry's
# and the combined result). Exit status: 0 if no listed test failed.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(git -C "$SCRIPT_DIR" rev-parse --show-toplevel 2>/dev/null || (cd "$SCRIPT_DIR/.." && pwd))

DEFAULT_LIST="$ROOT/tests/regtests-passing.txt"
LIST=${1:-$DEFAULT_LIST}
[ -r "$LIST" ] || { echo "run-regtests: cannot read list $LIST" >&2; exit 2; }
LIST=$(readlink -f -- "$LIST")
STRICT=0 # on the project's own list, a skipped test is a regression too
[ "$LIST" = "$(readlink -f -- "$DEFAULT_LIST")" ] && STRICT=1

note() { echo "run-regtests: $*"; }

# ------------------------------------------------------------ find the suite
SUITE=""
for cand in ${REGTESTS_DIR:+"$REGTESTS_DIR"} "$ROOT/../shared/regtests"; do
    if [ -d "$cand/reg-tests" ]; then
        SUITE=$(cd "$cand/reg-tests" && pwd); break
    elif [ -d "$cand" ] && [ "$(basename "$(readlink -f -- "$cand")")" = reg-tests ]; then
        SUITE=$(cd "$cand" && pwd); break
    fi
done
if [ -z "$SUITE" ]; then
    note "no reg-test suite found (looked at ${REGTESTS_DIR:+\$REGTESTS_DIR=$REGTESTS_DIR and }$ROOT/../shared/regtests); nothing run"
    exit 0
fi
VTEST=${VTEST_PROGRAM:-varnishtest}
if ! command -v "$VTEST" >/dev/null 2>&1; then
    note "$VTEST not found (apt-get install varnish); reg-tests not run"
    exit 0
fi

RUNNER=${REGTEST_RUNNER:-}
if [ "$RUNNER" = builtin ]; then
    RUNNER=""
elif [ -z "$RUNNER" ]; then
    for cand in "$(dirname "$SUITE")/run.sh" "$ROOT/../shared/regtests/run.sh"; do
        [ -x "$cand" ] && { RUNNER=$(readlink -f -- "$cand"); break; }
    done
fi

BIN=${RHAPROXY:-${CARGO_TARGET_DIR:-$ROOT/target}/debug/rhaproxy}
case $BIN in /*) ;; *) BIN="$ROOT/$BIN" ;; esac
[ -x "$BIN" ] || { echo "run-regtests: binary not found: $BIN (cargo build -p rhaproxy, or set RHAPROXY)" >&2; exit 2; }

# ------------------------------------------------------------ private copy
WORK=$(mktemp -d /tmp/rhaproxy-regtests.XXXXXX)
KEEP_OUT=0
OUTDIR=${REGTEST_OUTDIR:-$WORK/out}
cleanup() {
    if [ "$KEEP_OUT" = 1 ] && [ -z "${REGTEST_OUTDIR:-}" ]; then
        rm -rf "$WORK/reg-tests" # keep the logs of the failures
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
cp -a "$SUITE" "$WORK/reg-tests"
# The shared copy of the suite has its symlinks flattened into small text
# files holding the link's target (checks/common.pem: "../ssl/common.pem"):
# make them links again so the tests that load them (TLS) can, as in
# HAProxy's tree.
find "$WORK/reg-tests" -type f -size -200c -name '*.pem' 2>/dev/null | while IFS= read -r f; do
    t=$(head -c 200 "$f")
    case $t in
        ../*) [ -f "$(dirname "$f")/$t" ] && ln -sf "$t" "$f" ;;
    esac
done
mkdir -p "$OUTDIR"

# Built-in fallback when no run.sh is around: varnishtest per test, in order.
builtin_runner() { # BIN LIST OUTDIR
    local bin=$1 list=$2 out=$3 line rc st p=0 f=0 s=0 wd
    mkdir -p "$out/logs"; : > "$out/results.txt"; : > "$out/reasons.txt"
    while IFS= read -r line || [ -n "$line" ]; do
        line=${line%%#*}; line=$(printf '%s' "$line" | tr -d '[:space:]')
        [ -z "$line" ] && continue
        line=${line#./}; line=${line#reg-tests/}
        if [ ! -f "$WORK/reg-tests/$line" ]; then
            f=$((f + 1)); echo "FAIL $line: no such test" >> "$out/reasons.txt"
            echo "FAIL $line" | tee -a "$out/results.txt"; continue
        fi
        wd=$(mktemp -d "$WORK/t.XXXXXX")
        rc=0
        (cd "$WORK" && exec env TMPDIR="$wd" HAPROXY_PROGRAM="$bin" \
            timeout -k 5 $((${REGTEST_TIMEOUT:-15} + 20)) "$VTEST" -b 2097152 \
            -t "${REGTEST_TIMEOUT:-15}" "reg-tests/$line") > "$wd/out" 2>&1 < /dev/null || rc=$?
        case $rc in
            0) st=PASS; p=$((p + 1)) ;;
            77) st=SKIP; s=$((s + 1))
                echo "SKIP $line: varnishtest skipped it" >> "$out/reasons.txt" ;;
            *) st=FAIL; f=$((f + 1))
               echo "FAIL $line: $(grep -m1 -E '^---- ' "$wd/out" | cut -c1-240)" >> "$out/reasons.txt"
               cp "$wd/out" "$out/logs/$(printf '%s' "$line" | tr '/' '_').log" ;;
        esac
        echo "$st $line" | tee -a "$out/results.txt"
        rm -rf "$wd"
    done < "$list"
    echo "$p passed, $f failed, $s skipped"
    [ "$f" -eq 0 ]
}

# The first [ALERT] messages the binary printed in a varnishtest log (its
# stderr comes as "hN debug|" lines, cut at arbitrary places).
first_alerts() { # LOGFILE
    [ -f "$1" ] || return 0
    grep -E '^\*\*\*  h[^ ]* +debug\|' "$1" | sed 's/^.*debug|//' | tr -d '\n' |
        perl -ne 'while (/\[ALERT\]\s*\(\d+\)\s*:\s*(.*?)(?=\[ALERT\]|\[NOTICE\]|\[WARNING\]|$)/g) {
            my $m = $1; next if $m =~ /^config : (Error|Fatal)/; $m =~ s{/\S*/cfg}{cfg}g; print "$m "; }' |
        cut -c1-300 || true
}

run_list() { # LIST OUTDIR -> prints the runner's output; returns its status
    if [ -n "$RUNNER" ]; then
        REGTEST_TREE="$WORK" "$RUNNER" "$BIN" "$1" "$2"
    else
        builtin_runner "$BIN" "$1" "$2"
    fi
}

note "binary $BIN"
note "suite $SUITE (run from a copy in $WORK), runner ${RUNNER:-built-in}, list $LIST"
start=$(date +%s)

rc=0
run_list "$LIST" "$OUTDIR/first" | tee "$WORK/first.txt" || rc=$?
first_line=$(tail -n 1 "$WORK/first.txt")
read -r pass _ fail _ skip _ <<< "$first_line" || true
if ! [[ "${pass:-}" =~ ^[0-9]+$ && "${fail:-}" =~ ^[0-9]+$ && "${skip:-}" =~ ^[0-9]+$ ]]; then
    echo "run-regtests: the runner failed (rc=$rc) without a summary line" >&2
    exit 2
fi

# ------------------------------------------------------------ retry failures
grep '^FAIL ' "$WORK/first.txt" | cut -d' ' -f2- > "$WORK/retry.txt" || true
final_out="$OUTDIR/first"
if [ -s "$WORK/retry.txt" ]; then
    note "retrying $(wc -l < "$WORK/retry.txt") failed test(s) once:"
    run_list "$WORK/retry.txt" "$OUTDIR/retry" | tee "$WORK/retry-out.txt" || true
    read -r rpass _ rfail _ rskip _ <<< "$(tail -n 1 "$WORK/retry-out.txt")" || true
    pass=$((pass + ${rpass:-0})); fail=${rfail:-$fail}; skip=$((skip + ${rskip:-0}))
    final_out="$OUTDIR/retry"
    if [ "${rpass:-0}" -gt 0 ]; then
        note "passed only on retry (flaky?):"
        grep '^PASS ' "$WORK/retry-out.txt" | sed 's/^PASS /  /'
    fi
fi

# Tests known to be flaky against real HAProxy get a few more attempts.
FLAKY=""
for cand in "$(dirname "$SUITE")/flaky.txt" "$ROOT/../shared/regtests/flaky.txt"; do
    [ -r "$cand" ] && { FLAKY=$cand; break; }
done
attempt=0
while [ "$fail" -gt 0 ] && [ -n "$FLAKY" ] && [ "$attempt" -lt "${REGTEST_FLAKY_RETRIES:-3}" ]; do
    grep '^FAIL ' "$final_out/results.txt" 2>/dev/null | cut -d' ' -f2- |
        grep -Fx -f <(sed 's/#.*//; s/[[:space:]]//g; /^$/d' "$FLAKY") > "$WORK/flaky-retry.txt" || true
    [ -s "$WORK/flaky-retry.txt" ] || break
    attempt=$((attempt + 1))
    note "retrying $(wc -l < "$WORK/flaky-retry.txt") test(s) listed in $FLAKY (attempt $attempt):"
    prev_out=$final_out
    final_out="$OUTDIR/flaky$attempt"
    run_list "$WORK/flaky-retry.txt" "$final_out" | tee "$WORK/flaky-out.txt" || true
    read -r fpass _ ffail _ fskip _ <<< "$(tail -n 1 "$WORK/flaky-out.txt")" || true
    pass=$((pass + ${fpass:-0})); fail=$((fail - ${fpass:-0} - ${fskip:-0})); skip=$((skip + ${fskip:-0}))
    # Failures not retried here stay on record in this attempt's files.
    grep -v -Fx -f "$WORK/flaky-retry.txt" <(grep '^FAIL ' "$prev_out/results.txt" | cut -d' ' -f2-) |
        sed 's/^/FAIL /' >> "$final_out/results.txt" || true
    grep -v -F -f <(sed 's/^/FAIL /; s/$/:/' "$WORK/flaky-retry.txt") <(grep '^FAIL ' "$prev_out/reasons.txt") \
        >> "$final_out/reasons.txt" || true
    mkdir -p "$final_out/logs"
    for log in "$prev_out"/logs/*.log; do
        [ -e "$log" ] && [ ! -e "$final_out/logs/${log##*/}" ] && cp "$log" "$final_out/logs/"
    done
done

elapsed=$(($(date +%s) - start))
echo "total after retry: $pass passed, $fail failed, $skip skipped (${elapsed}s)"

status=0
if [ "$fail" -gt 0 ]; then
    note "FAILED tests (first failed expectation, then rhaproxy's first alerts; full logs in $final_out/logs):"
    while IFS= read -r line; do
        echo "  $line"
        test=${line#FAIL }; test=${test%%: *}
        alerts=$(first_alerts "$final_out/logs/$(printf '%s' "$test" | tr '/' '_').log")
        [ -n "$alerts" ] && echo "      rhaproxy: $alerts"
    done < <(grep '^FAIL ' "$final_out/reasons.txt" || true)
    status=1
fi
if [ "$STRICT" = 1 ] && [ "$skip" -gt 0 ]; then
    note "tests listed as passing were SKIPPED (a REQUIRE_* or -cc feature went missing?):"
    grep -h '^SKIP ' "$OUTDIR"/*/reasons.txt 2>/dev/null | sed 's/^/  /' || true
    status=1
fi
if [ "$status" -ne 0 ]; then
    KEEP_OUT=1
    note "outputs kept in $OUTDIR"
fi
exit "$status"
