#!/usr/bin/env bash
# Quick start: builds rhaproxy and the rig, starts two httpterm origins on
# 127.0.0.1:8001 and :8002, runs rhaproxy with examples/quickstart.cfg (an
# HTTP load balancer on 127.0.0.1:8080), sends a few requests through it and
# shows the per-server counters from the stats socket. Then it keeps
# running until Ctrl-C (QUICKSTART_ONESHOT=1 stops right after the demo).
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release -p rhaproxy -p httpterm -p h1load
BIN=${CARGO_TARGET_DIR:-target}/release
SOCK=/tmp/rhaproxy-quickstart.sock

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

"$BIN/httpterm" -L 127.0.0.1:8001 -q & pids+=($!)
"$BIN/httpterm" -L 127.0.0.1:8002 -q & pids+=($!)
"$BIN/rhaproxy" -c -f examples/quickstart.cfg
"$BIN/rhaproxy" -db -f examples/quickstart.cfg & pids+=($!)

for _ in $(seq 50); do
    (exec 3<>/dev/tcp/127.0.0.1/8080) 2>/dev/null && break
    sleep 0.1
done

echo "== 4 requests through http://127.0.0.1:8080/?s=64 (httpterm: 64-byte body)"
for i in 1 2 3 4; do
    if command -v curl >/dev/null; then
        curl -s -o /dev/null -w "request $i: HTTP %{http_code}, %{size_download} bytes\n" "http://127.0.0.1:8080/?s=64"
    else
        exec 3<>/dev/tcp/127.0.0.1/8080
        printf 'GET /?s=64 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' >&3
        echo "request $i: $(head -1 <&3)"
        exec 3<&-
    fi
done

echo "== 2000 requests with h1load (keep-alive, 10 connections)"
"$BIN/h1load" -n 2000 -c 10 0:8080/?s=1k | tail -1

echo "== show stat (per server: name, status, sessions total, bytes out)"
if command -v socat >/dev/null; then
    echo "show stat" | socat - "$SOCK" | awk -F, '{print $1","$2","$18","$8","$10}'
else
    echo "(install socat to query $SOCK)"
fi

if [ "${QUICKSTART_ONESHOT:-0}" = 1 ]; then
    exit 0
fi
echo "== rhaproxy is running on 127.0.0.1:8080 (stats socket $SOCK); Ctrl-C to stop"
wait "${pids[2]}"
