#!/bin/sh
# Side-by-side benchmark of rhaproxy against HAProxy 2.6: see bench/RESULTS.md.
# Usage: bench/run.sh [--rounds N] [--duration S] [--bin DIR] [case-glob ...]
#        bench/run.sh --list
exec python3 "$(dirname "$0")/bench.py" "$@"
