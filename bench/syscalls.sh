#!/bin/sh
# System calls per request for each proxy (perf stat on syscall tracepoints).
# Usage: bench/syscalls.sh [--duration S] [--bin DIR] [case ...]
exec python3 "$(dirname "$0")/bench.py" syscalls "$@"
