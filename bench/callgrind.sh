#!/bin/sh
# User-space instructions per keep-alive request under valgrind --tool=callgrind,
# rhaproxy vs HAProxy 2.6, nbthread 1 (deterministic: the number to track).
# Usage: bench/callgrind.sh [--n1 N] [--n2 N] [--keep DIR] [--bin DIR] [case ...]
exec python3 "$(dirname "$0")/bench.py" callgrind "$@"
