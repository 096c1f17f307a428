#!/usr/bin/env bash
# Runs the fuzz targets of fuzz/ (see docs/fuzzing.md), one at a time, at
# low priority: every target, or TARGET alone, for RUNS executions each
# (default 10 000 000). Needs the nightly toolchain; installs cargo-fuzz
# when it is missing. Not part of .ci/run: CI stays on stable.
#
#   scripts/fuzz.sh [TARGET] [RUNS]
#
# Each run's log goes to fuzz/logs/TARGET.log; new inputs that raise
# coverage go to fuzz/corpus/TARGET, crashes to fuzz/artifacts/TARGET.
set -euo pipefail

cd "$(dirname "$0")/../fuzz"
target="${1:-}"
runs="${2:-10000000}"

if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

# -O -a: optimised, with debug assertions and overflow checks on.
# -s none: no sanitizer; the decoders are safe Rust, and ASan would cost
# most of the executions per second.
flags=(-O -a -s none)
targets=("$target")
if [[ -z "$target" ]]; then
    mapfile -t targets < <(cargo fuzz list)
fi

mkdir -p logs
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t"
    echo "== $t: $runs runs (log: fuzz/logs/$t.log)"
    nice cargo +nightly fuzz run "${flags[@]}" "$t" "corpus/$t" -- \
        -runs="$runs" -rss_limit_mb=2048 -timeout=10 -max_len=65536 \
        -print_final_stats=1 >"logs/$t.log" 2>&1 || {
        echo "!! $t failed: see fuzz/logs/$t.log"
        exit 1
    }
    grep -E 'stat::number_of_executed_units|stat::average_exec_per_sec|Done [0-9]+ runs' "logs/$t.log" || true
done
