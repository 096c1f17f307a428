#!/usr/bin/env bash
# N power cuts under a real `quiver serve` (release build) whose data
# directory is on the power-cut disk of crates/quiver-powercut: HTTP
# clients write with ?wait=true, the power is cut at a random moment, the
# server restarts on what the disk kept, and every acknowledged write is
# read back. Last line: `N cuts, A acknowledged writes, L lost, T torn`;
# exits non-zero if anything was lost or torn.
#
# Usage: scripts/power-cut.sh N [--seed S] [--writers W]
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 1 ]; then
    echo "usage: scripts/power-cut.sh N [--seed S] [--writers W]" >&2
    exit 2
fi
bash scripts/setup-fuse.sh
nice cargo build --release -q -p quiver-cli --bin quiver -p quiver-powercut --bins
TARGET="${CARGO_TARGET_DIR:-target}"
exec "$TARGET/release/powercut-serve" "$@" --quiver "$TARGET/release/quiver"
