#!/usr/bin/env bash
# Load test of `quiver serve` with wrk (not part of CI): query and upsert at
# 1, 8 and 32 connections, each run bounded to SECS seconds, then the same
# calls in-process (examples/load_inprocess.rs) for comparison.
#
# Usage: scripts/loadtest.sh [BASE.fvecs QUERY.fvecs] [SECS]
# Needs: wrk (apt-get install wrk), a release build
#   (cargo build --release -p quiver-cli -p quiver-server --bins --example load_inprocess)
# and the Python venv of scripts/setup-python.sh (to turn fvecs into JSON).
set -euo pipefail
cd "$(dirname "$0")/.."

BASE="${1:-/work/shared/datasets/wordnet-minilm-dev/base.fvecs}"
QUERY="${2:-/work/shared/datasets/wordnet-minilm-dev/query.fvecs}"
SECS="${3:-10}"
BIN=target/release/quiver
WORK="$(mktemp -d)"
trap 'kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; rm -rf "$WORK"' EXIT
SERVER_PID=""

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

QUIVER_LOG=warn "$BIN" import "$QUIVER_COLLECTION" "$BASE" --create --distance Cosine --data "$WORK/db"
QUIVER_LOG=warn "$BIN" serve --data "$WORK/db" --port 0 > "$WORK/serve.log" &
SERVER_PID=$!
for _ in $(seq 100); do grep -q listening "$WORK/serve.log" && break; sleep 0.1; done
URL="$(grep -o 'http://[0-9.]*:[0-9]*' "$WORK/serve.log")"
echo "server: $URL"

for script in query upsert; do
    for c in 1 8 32; do
        t=$(( c < 2 ? 1 : 2 ))
        echo "== wrk $script: $c connections, $t threads, ${SECS}s"
        wrk -t"$t" -c"$c" -d"${SECS}s" --latency -s "scripts/loadtest/$script.lua" "$URL" \
            | grep -E "Requests/sec|^ +50%|^ +99%|Non-2xx|Socket errors"
    done
done
kill -TERM "$SERVER_PID"; wait "$SERVER_PID" || true

echo "== in-process"
target/release/examples/load_inprocess "$BASE" "$QUERY" "$SECS"
