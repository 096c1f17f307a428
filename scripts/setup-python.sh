#!/usr/bin/env bash
# Creates .venv (at the repository root) with the Python packages the
# interop test and scripts/schemathesis.sh need, all pinned: the official
# Qdrant client, numpy and schemathesis.
# Idempotent: an existing .venv with the right versions is reused.
set -euo pipefail
cd "$(dirname "$0")/.."

QDRANT_CLIENT_VERSION="1.15.1"
NUMPY_VERSION="2.2.6"
SCHEMATHESIS_VERSION="4.32.5"

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
if ! .venv/bin/python -c "import importlib.metadata as m, sys; sys.exit(m.version('qdrant-client') != '$QDRANT_CLIENT_VERSION' or m.version('numpy') != '$NUMPY_VERSION' or m.version('schemathesis') != '$SCHEMATHESIS_VERSION')" 2>/dev/null; then
    .venv/bin/python -m pip install --quiet --disable-pip-version-check \
        "qdrant-client==$QDRANT_CLIENT_VERSION" "numpy==$NUMPY_VERSION" \
        "schemathesis==$SCHEMATHESIS_VERSION"
fi
.venv/bin/python -c "import qdrant_client, numpy; print('python env ready: qdrant-client', qdrant_client.__version__ if hasattr(qdrant_client, '__version__') else '$QDRANT_CLIENT_VERSION', 'numpy', numpy.__version__, 'schemathesis $SCHEMATHESIS_VERSION')"
