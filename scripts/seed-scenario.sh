#!/usr/bin/env bash
# The seed's experiment on one machine: httpterm as the origin, the proxy
# with the seed's configuration (http-reuse always, server maxconn 4, many
# threads), and h1load hammering it with one request per connection and
# 19 kB responses that the server closes half of the time (/?s=19k/C=2r).
# Prints h1load's output, then `debug counters` and `show info` from the
# stats socket.
#
# Usage: scripts/seed-scenario.sh [secs [origin_port [front_port [nbthread]]]]
#   env: PROXY=path (default target/release/rhaproxy; /usr/sbin/haproxy works)
#        RIG=dir holding httpterm and h1load (default target/release)
#        SECS ORIGIN_PORT FRONT_PORT NBTHREAD override the arguments' defaults
#        H1LOAD_ARGS replaces "-e -t 4 -c 256 -r 1"
# Exit status: h1load's (non-zero when -e stopped it on a connection error).
set -euo pipefail
cd "$(dirname "$0")/.."

SECS=${1:-${SECS:-10}}
ORIGIN_PORT=${2:-${ORIGIN_PORT:-8000}}
FRONT_PORT=${3:-${FRONT_PORT:-8002}}
NBTHREAD=${4:-${NBTHREAD:-16}}
PROXY=${PROXY:-target/release/rhaproxy}
RIG=${RIG:-${CARGO_TARGET_DIR:-target}/release}
H1LOAD_ARGS=${H1LOAD_ARGS:-"-e -t 4 -c 256 -r 1"}

for b in "$PROXY" "$RIG/httpterm" "$RIG/h1load"; do
    [ -x "$b" ] || { echo "seed-scenario: $b not found or not executable (cargo build --release?)" >&2; exit 2; }
done
command -v socat >/dev/null || { echo "seed-scenario: socat is required" >&2; exit 2; }

WORK=$(mktemp -d /tmp/seed-scenario.XXXXXX)
SOCK=$WORK/sock1
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

cat >"$WORK/seed.cfg" <<EOF
global
    nbthread $NBTHREAD
    stats socket $SOCK level admin
    stats timeout 1h
defaults
    timeout client 5s
    timeout server 5s
    timeout connect 5s
    mode http
listen p2
    bind 127.0.0.1:$FRONT_PORT
    http-reuse always
    server s1 127.0.0.1:$ORIGIN_PORT maxconn 4
EOF

wait_port() {
    local i
    for i in $(seq 1 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        sleep 0.05
    done
    echo "seed-scenario: nothing listens on port $1" >&2
    return 1
}

echo "# origin : $RIG/httpterm -L 127.0.0.1:$ORIGIN_PORT"
"$RIG/httpterm" -q -L "127.0.0.1:$ORIGIN_PORT" &
PIDS+=($!)
wait_port "$ORIGIN_PORT"

echo "# proxy  : $PROXY -db -f $WORK/seed.cfg (nbthread $NBTHREAD)"
"$PROXY" -db -f "$WORK/seed.cfg" >"$WORK/proxy.log" 2>&1 &
PIDS+=($!)
wait_port "$FRONT_PORT" || { cat "$WORK/proxy.log" >&2; exit 1; }

# shellcheck disable=SC2086 # H1LOAD_ARGS is a list of options
echo "# load   : h1load $H1LOAD_ARGS -d $SECS 0:$FRONT_PORT/?s=19k/C=2r"
rc=0
# shellcheck disable=SC2086
"$RIG/h1load" $H1LOAD_ARGS -d "$SECS" "0:$FRONT_PORT/?s=19k/C=2r" | tee "$WORK/h1load.out" || rc=$?

echo
echo "# h1load summary (last line): $(tail -n 1 "$WORK/h1load.out")"
echo "# h1load exit status: $rc"
echo
echo "# debug counters"
echo "debug counters" | socat -t 2 - "UNIX-CONNECT:$SOCK" || echo "(no answer)"
echo "# show info"
echo "show info" | socat -t 2 - "UNIX-CONNECT:$SOCK" || echo "(no answer)"
if [ -s "$WORK/proxy.log" ]; then
    echo "# proxy output"
    cat "$WORK/proxy.log"
fi
exit "$rc"
