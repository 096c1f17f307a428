#!/usr/bin/env bash
# Load test of `quiver serve` with wrk (not part of CI): query and upsert at
# 1, 8 and 32 connections, each run bounded to SECS seconds, each followed
# by the same calls in-process (examples/load_inprocess.rs, as many threads
# as connections) so the HTTP overhead shows.
# Prints one markdown table at the end: requests/s, p50, p99, and the CPU
# time per request (of the server process, wrk excluded; of the in-process
# run), which unlike the others hardly depends on what else the machine runs.
#
# Usage: scripts/loadtest.sh [BASE.fvecs QUERY.fvecs] [SECS]
# Defaults: the shared wordnet-minilm-dev split if present, else the sample
# bundled with the CLI (crates/quiver-cli/data); 10 s per run.
#
# It installs what it needs: wrk (apt-get, if missing), the Python venv of
# scripts/setup-python.sh (numpy turns fvecs into JSON for wrk), and a
# release build (run under nice, so timings are not taken while building).
set -euo pipefail
cd "$(dirname "$0")/.."

SHARED=/work/shared/datasets/wordnet-minilm-dev
if [ $# -ge 2 ]; then
    BASE="$1"; QUERY="$2"; SECS="${3:-10}"
elif [ -f "$SHARED/base.fvecs" ]; then
    BASE="$SHARED/base.fvecs"; QUERY="$SHARED/query.fvecs"; SECS="${1:-10}"
else
    BASE=crates/quiver-cli/data/base.fvecs; QUERY=crates/quiver-cli/data/query.fvecs; SECS="${1:-10}"
fi

if ! command -v wrk >/dev/null 2>&1; then
    echo "wrk not found: installing it with apt-get" >&2
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq wrk
fi
[ -x .venv/bin/python ] && .venv/bin/python -c "import numpy" 2>/dev/null || bash scripts/setup-python.sh
nice -n 19 cargo build --release -q -p quiver-cli -p quiver-server --bins --example load_inprocess

BIN=target/release/quiver
WORK="$(mktemp -d)"
SERVER_PID=""
trap '[ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"' EXIT

export QUIVER_COLLECTION=load
export QUIVER_VECTORS="$WORK/vectors.jsonl"
.venv/bin/python - "$QUERY" "$QUIVER_VECTORS" <<'PY'
import json, sys
import numpy as np
raw = np.fromfile(sys.argv[1], dtype=np.int32)
d = raw[0]
vs = raw.reshape(-1, d + 1)[:, 1:].view(np.float32)
with open(sys.argv[2], "w") as f:
    for v in vs:
        f.write(json.dumps([round(float(x), 6) for x in v]) + "\n")
PY

echo "base: $BASE  queries: $QUERY  ${SECS}s per run  ($(nproc) cores)"
QUIVER_LOG=warn "$BIN" import "$QUIVER_COLLECTION" "$BASE" --create --distance Cosine --data "$WORK/db"
QUIVER_LOG=warn "$BIN" serve --data "$WORK/db" --port 0 > "$WORK/serve.log" &
SERVER_PID=$!
for _ in $(seq 100); do grep -q listening "$WORK/serve.log" && break; sleep 0.1; done
URL="$(grep -o 'http://[0-9.]*:[0-9]*' "$WORK/serve.log")"
echo "server: $URL"

# wrk prints latencies with units (us, ms, s); the table is in microseconds.
to_us() {
    awk -v v="$1" 'BEGIN {
        if (v ~ /us$/) { sub(/us$/, "", v); print v + 0 }
        else if (v ~ /ms$/) { sub(/ms$/, "", v); print v * 1000 }
        else if (v ~ /s$/) { sub(/s$/, "", v); print v * 1000000 }
        else print v }'
}
# CPU time (user + system, clock ticks) the server has used so far.
server_ticks() { awk '{print $14 + $15}' "/proc/$SERVER_PID/stat"; }
TICKS_PER_SEC="$(getconf CLK_TCK)"
TABLE="$WORK/table.md"
# Each wrk run is followed at once by the same calls in-process (a fresh
# database loaded the same way), so both see the same machine load.
for script in query upsert; do
    op=$([ "$script" = query ] && echo search || echo upsert)
    for c in 1 8 32; do
        t=$(( c < 2 ? 1 : 2 ))
        echo "== wrk $script: $c connections, $t threads, ${SECS}s (load: $(cut -d' ' -f1 /proc/loadavg))"
        before="$(server_ticks)"
        out="$(QUIVER_OP="$script" wrk -t"$t" -c"$c" -d"${SECS}s" --latency -s scripts/loadtest/requests.lua "$URL")"
        after="$(server_ticks)"
        echo "$out" | grep -E "Requests/sec|^ +50%|^ +99%|Non-2xx|Socket errors" || true
        if echo "$out" | grep -q "Non-2xx"; then
            echo "error: some $script requests failed" >&2
            exit 1
        fi
        rps="$(echo "$out" | awk '/Requests\/sec/ {printf "%.0f", $2}')"
        p50="$(to_us "$(echo "$out" | awk '$1 == "50%" {print $2}')")"
        p99="$(to_us "$(echo "$out" | awk '$1 == "99%" {print $2}')")"
        requests="$(echo "$out" | awk '/requests in/ {print $1}')"
        cpu="$(awk -v a="$before" -v b="$after" -v n="$requests" -v hz="$TICKS_PER_SEC" \
            'BEGIN {printf "%.0f", (b - a) / hz * 1e6 / n}')"
        printf "| HTTP (wrk) | %s | %s | %s | %.0f | %.0f | %s |\n" "$op" "$c" "$rps" "$p50" "$p99" "$cpu" >> "$TABLE"
        echo "== in-process $op: $c threads, ${SECS}s (load: $(cut -d' ' -f1 /proc/loadavg))"
        target/release/examples/load_inprocess "$BASE" "$QUERY" "$SECS" "$op" "$c" | tee "$WORK/inproc.txt"
        awk '$1 == "search" || $1 == "upsert" {
            printf "| in-process | %s | %s | %.0f | %.0f | %.0f | %.0f |\n", $1, $2, $3, $4, $5, $6 }' "$WORK/inproc.txt" >> "$TABLE"
    done
done
kill -TERM "$SERVER_PID"; wait "$SERVER_PID" || true
SERVER_PID=""

echo
echo "| path | op | connections/threads | requests/s | p50 us | p99 us | CPU us/request |"
echo "|---|---|---:|---:|---:|---:|---:|"
cat "$TABLE"
