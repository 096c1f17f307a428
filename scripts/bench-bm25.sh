#!/usr/bin/env bash
# BM25 retrieval, Quiver against tantivy, single-threaded, same run: all
# 117,657 WordNet 3.0 glosses as the corpus, the dev split's 200 query texts
# as queries, top 10 each. Prints a table with both QPS medians, their ratio
# and the mean overlap of the two top-10s.
#
# Usage: scripts/bench-bm25.sh [PASSES]        (not part of CI)
# Installs what it needs: Debian's wordnet-base (apt-get, if missing) and a
# venv .venv-bench with tantivy pinned.
set -euo pipefail
cd "$(dirname "$0")/.."

PASSES="${1:-5}"
TANTIVY_VERSION="0.27.0"
QUERIES="${QUERIES:-../shared/datasets/wordnet-minilm-dev/query.texts.jsonl}"
WORK="${WORK:-/tmp/quiver-bench-bm25}"
mkdir -p "$WORK"

if [ ! -f /usr/share/wordnet/data.noun ]; then
    echo "wordnet-base not found: installing it with apt-get" >&2
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq wordnet-base
fi
if ! .venv-bench/bin/python -c "import importlib.metadata as m, sys; sys.exit(m.version('tantivy') != '$TANTIVY_VERSION')" 2>/dev/null; then
    python3 -m venv .venv-bench
    .venv-bench/bin/python -m pip install --quiet --disable-pip-version-check "tantivy==$TANTIVY_VERSION"
fi
python3 scripts/wordnet-texts.py "$WORK/wordnet.jsonl"
cargo build --release -q -p quiver-core --example bm25_search

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
target/release/examples/bm25_search "$WORK/wordnet.jsonl" "$QUERIES" "$PASSES" > "$WORK/quiver.json"
.venv-bench/bin/python scripts/bench-bm25.py tantivy "$WORK/wordnet.jsonl" "$QUERIES" "$PASSES" > "$WORK/tantivy.json"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
.venv-bench/bin/python scripts/bench-bm25.py compare "$WORK/quiver.json" "$WORK/tantivy.json"
