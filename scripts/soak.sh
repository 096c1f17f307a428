#!/usr/bin/env bash
# A mixed load on a real `quiver serve` (release build) for MINUTES minutes
# at 32 connections (crates/quiver-powercut/src/soak.rs): upserts with
# payloads, deletes, payload merges / overwrites / clears, plain and
# filtered searches and queries, scrolls, counts and retrievals, with
# automatic checkpoints in the server; then SIGTERM (final flush),
# `quiver compact`, `quiver check`, a restart, and a check of every
# acknowledged write. Prints per-operation throughput and p50/p99/max
# latency, the server's RSS and open descriptors over time, and last
# `soak: O operations, E errors, L lost writes, RSS start S MiB end T MiB`;
# exits non-zero if E or L is non-zero.
#
# Usage: scripts/soak.sh MINUTES [--connections N] [--ids-per-connection N] [--seed S]
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 1 ]; then
    echo "usage: scripts/soak.sh MINUTES [--connections N] [--ids-per-connection N] [--seed S]" >&2
    exit 2
fi
nice cargo build --release -q -p quiver-cli --bin quiver -p quiver-powercut --bins
TARGET="${CARGO_TARGET_DIR:-target}"
exec "$TARGET/release/quiver-soak" "$@" --quiver "$TARGET/release/quiver"
