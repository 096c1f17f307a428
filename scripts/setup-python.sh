#!/usr/bin/env bash
# Creates .venv (at the repository root) with the Python packages of the
# interop tests and scripts/schemathesis.sh, all pinned in
# tests/interop/requirements.txt: the official Qdrant client, numpy,
# schemathesis and the RAG frameworks' Qdrant stores.
# Idempotent: a .venv installed from the same requirements is reused.
set -euo pipefail
cd "$(dirname "$0")/.."

REQUIREMENTS=tests/interop/requirements.txt
STAMP=.venv/requirements.sha256

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    if ! "$PYTHON" -m venv .venv; then
        # Debian and Ubuntu ship venv (ensurepip) as a separate package.
        rm -rf .venv
        echo "python venv unavailable: installing python3-venv with apt-get" >&2
        SUDO=""
        if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
        $SUDO apt-get update -qq
        $SUDO apt-get install -y -qq python3-venv
        "$PYTHON" -m venv .venv
    fi
fi
want="$(sha256sum "$REQUIREMENTS" | cut -d' ' -f1)"
if [ "$(cat "$STAMP" 2>/dev/null)" != "$want" ]; then
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$REQUIREMENTS"
    echo "$want" >"$STAMP"
fi
.venv/bin/python - <<'PY'
import importlib.metadata as m
names = ["qdrant-client", "numpy", "schemathesis", "langchain-qdrant", "llama-index-core"]
print("python env ready:", ", ".join(f"{n} {m.version(n)}" for n in names))
PY
