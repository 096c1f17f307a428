#!/usr/bin/env bash
# Drives the HTTP API from its own OpenAPI document with schemathesis: a real
# `quiver serve` on loopback over a temporary data directory, with two
# collections holding points so that generated calls reach real data.
# Fails (non-zero) on any 5xx, any answer that breaks the documented schema,
# any undocumented status code or content type.
#
#   scripts/schemathesis.sh [QUIVER_BINARY] [-- extra `st run` options]
#
# SCHEMATHESIS_EXAMPLES (default 30) bounds the test cases per operation;
# SCHEMATHESIS_SEED (default 1) makes the run repeatable.
# Needs .venv from scripts/setup-python.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN="${1:-${CARGO_TARGET_DIR:-target}/debug/quiver}"
shift || true
if [ "${1:-}" = "--" ]; then shift; fi
EXAMPLES="${SCHEMATHESIS_EXAMPLES:-30}"
SEED="${SCHEMATHESIS_SEED:-1}"
ST=.venv/bin/st
[ -x "$BIN" ] || { echo "no quiver binary at $BIN: run cargo build -p quiver-cli" >&2; exit 2; }
[ -x "$ST" ] || { echo "no $ST: run scripts/setup-python.sh" >&2; exit 2; }

WORK="$(mktemp -d -t quiver-schemathesis-XXXXXX)"
SERVER_PID=""
cleanup() {
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill "$SERVER_PID"
        wait "$SERVER_PID" || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

QUIVER_LOG=warn "$BIN" serve --data "$WORK/db" --host 127.0.0.1 --port 0 \
    >"$WORK/stdout" 2>"$WORK/stderr" &
SERVER_PID=$!
BASE=""
for _ in $(seq 1 600); do
    BASE="$(grep -o 'listening on http://[0-9.]*:[0-9]*' "$WORK/stdout" | sed 's/listening on //' || true)"
    [ -n "$BASE" ] && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/stderr" >&2; echo "server exited" >&2; exit 1; }
    sleep 0.1
done
[ -n "$BASE" ] || { echo "server did not report its address" >&2; exit 1; }

call() {
    local method="$1" path="$2" body="$3"
    curl -fsS -X "$method" "$BASE$path" -H 'content-type: application/json' -d "$body" >/dev/null
}
# Generated collection names mostly miss (404); the stateful phase reuses
# names and ids seen in earlier answers, so calls also reach these.
for c in demo docs; do
    call PUT "/collections/$c" '{"vectors": {"size": 4, "distance": "Cosine"}}'
    call PUT "/collections/$c/points?wait=true" \
        '{"points": [
            {"id": 1, "vector": [0.1, 0.2, 0.3, 0.4], "payload": {"city": "Berlin", "n": 1}},
            {"id": 2, "vector": [0.4, 0.3, 0.2, 0.1], "payload": {"city": "London", "n": 2}},
            {"id": "550e8400-e29b-41d4-a716-446655440000", "vector": [1, 0, 0, 0], "payload": {}}
        ]}'
    call PUT "/collections/$c/index?wait=true" '{"field_name": "city", "field_schema": "keyword"}'
done

status=0
"$ST" run "$BASE/openapi.json" \
    --checks not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance \
    --max-examples "$EXAMPLES" \
    --seed "$SEED" \
    --workers 1 \
    --request-timeout 30 \
    --suppress-health-check all \
    --warnings off \
    "$@" || status=$?

if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "the server died during the run; its stderr:" >&2
    cat "$WORK/stderr" >&2
    status=1
fi
exit "$status"
