#!/usr/bin/env bash
# A/B of single-thread search speed against hnswlib on graphs built once and
# saved (not part of CI). Large datasets take minutes per build; this builds
# each engine's index once (M=16, ef_construction=200, all cores), keeps it
# in CACHE, and then alternates quiver and hnswlib runs on the same queries,
# ROUNDS times, so both see the same machine conditions. Prints every run and
# the median QPS ratio per ef.
#
# Usage: scripts/ab-saved.sh DATA_DIR [CACHE_DIR]
#   DATA_DIR  base.fvecs, query.fvecs, groundtruth.ivecs (unit vectors)
#   CACHE_DIR where the two saved indexes live (default /tmp/quiver-ab)
# Environment:
#   EFS      ef values (default 64,256,1024)
#   ROUNDS   alternations (default 3)
#   RECALLS  recall@10 levels to compare median QPS at, interpolated along the
#            ef sweep (default 0.2,0.4: what random 1M x 128 data reaches)
#   QUIVERS  quiver binaries to compare, label=path,label=path
#            (default quiver=target/release/quiver, built if missing); every
#            one loads the same saved quiver index
#   PEERS    peers.py, for its dataset reader and timing loop
#            (default ../shared/bench/peers.py)
# Needs: python3 with numpy and hnswlib.
set -euo pipefail
cd "$(dirname "$0")/.."

DATA="${1:?usage: scripts/ab-saved.sh DATA_DIR [CACHE_DIR]}"
CACHE="${2:-/tmp/quiver-ab}"
EFS="${EFS:-64,256,1024}"
ROUNDS="${ROUNDS:-3}"
RECALLS="${RECALLS:-0.2,0.4}"
QUIVERS="${QUIVERS:-quiver=target/release/quiver}"
# shellcheck source=scripts/bench-env.sh
source scripts/bench-env.sh
mkdir -p "$CACHE"
if [ "$QUIVERS" = quiver=target/release/quiver ] && [ ! -x target/release/quiver ]; then
    cargo build --release -p quiver-cli
fi
IFS=, read -ra QS <<<"$QUIVERS"

quiver_run() { # label path round
    "$2" bench --base "$DATA/base.fvecs" --query "$DATA/query.fvecs" \
        --groundtruth "$DATA/groundtruth.ivecs" --metric cosine --m 16 --ef-construction 200 \
        --ef "$EFS" --k 10 --repeats 1 --index "$CACHE/$NAME.quiver.hnsw" \
        --json "$CACHE/$1-$3.json" >/dev/null 2>"$CACHE/$1-$3.log"
}

hnswlib_run() {
    python3 - "$DATA" "$CACHE/$NAME.hnswlib.bin" "$EFS" "$PEERS" "$CACHE/hnswlib-$1.json" <<'PY'
import json, os, sys
from pathlib import Path
import numpy as np
sys.path.insert(0, str(Path(sys.argv[4]).parent))
import peers, hnswlib

data, path, efs, out = Path(sys.argv[1]), sys.argv[2], [int(x) for x in sys.argv[3].split(",")], sys.argv[5]
base, query, gt, _ = peers.load_dataset(data)
n, d = base.shape
idx = hnswlib.Index(space="ip", dim=d)
if os.path.exists(path):
    idx.load_index(path, max_elements=n)
else:
    idx.init_index(max_elements=n, M=peers.M, ef_construction=peers.EF_CONSTRUCTION, random_seed=100)
    idx.add_items(base, np.arange(n), num_threads=-1)
    idx.save_index(path)
del base

class Eng:
    def search_one(self, q):
        return idx.knn_query(q, k=peers.K, num_threads=1)[0][0]

runs = []
for ef in efs:
    idx.set_ef(ef)
    ids, lats, _, _, _ = peers.time_single(Eng(), query, 1.0, 5, 200)
    runs.append({"ef": ef, "recall": peers.recall_at_k(ids, gt, peers.K),
                 "qps": len(lats) / (lats.sum() / 1e9)})
json.dump({"engine": "hnswlib", "runs": runs}, open(out, "w"))
PY
}

for r in $(seq 1 "$ROUNDS"); do
    for q in "${QS[@]}"; do
        echo "round $r: ${q%%=*}" >&2
        quiver_run "${q%%=*}" "${q#*=}" "$r"
    done
    echo "round $r: hnswlib" >&2
    hnswlib_run "$r"
done

python3 - "$CACHE" "$ROUNDS" "$QUIVERS" "$RECALLS" <<'PY'
import json, math, statistics, sys
cache, rounds = sys.argv[1], int(sys.argv[2])
levels = [float(x) for x in sys.argv[4].split(",")]
labels = [x.split("=", 1)[0] for x in sys.argv[3].split(",")]
load = lambda e, r: {x["ef"]: x for x in json.load(open(f"{cache}/{e}-{r}.json"))["runs"]}
h = [load("hnswlib", r) for r in range(1, rounds + 1)]
fmt = lambda xs: "/".join(f"{v:.0f}" for v in xs)
print(f"{'engine':>10} {'ef':>5} {'R@10':>7} {'QPS per round':>24} {'hnswlib QPS':>24} {'median ratio':>12}")
for label in labels:
    q = [load(label, r) for r in range(1, rounds + 1)]
    for ef in sorted(q[0]):
        qq = [x[ef]["qps"] for x in q]
        hq = [x[ef]["qps"] for x in h]
        ratio = statistics.median(a / b for a, b in zip(qq, hq))
        print(f"{label:>10} {ef:>5} {q[0][ef]['recall']:>7.4f} {fmt(qq):>24} {fmt(hq):>24} {ratio:>12.3f}")
for ef in sorted(h[0]):
    print(f"{'hnswlib':>10} {ef:>5} {h[0][ef]['recall']:>7.4f} {fmt([x[ef]['qps'] for x in h]):>24}")

def at_recall(runs, level):
    """Median QPS at `level`, log-linear between the two sweep points around it."""
    pts = sorted((runs[0][ef]["recall"], statistics.median(r[ef]["qps"] for r in runs))
                 for ef in runs[0])
    for (r0, q0), (r1, q1) in zip(pts, pts[1:]):
        if r0 <= level <= r1 and r1 > r0:
            t = (level - r0) / (r1 - r0)
            return math.exp(math.log(q0) + t * (math.log(q1) - math.log(q0)))
    return None

print()
hq = {lv: at_recall(h, lv) for lv in levels}
for label in labels + ["hnswlib"]:
    runs = h if label == "hnswlib" else [load(label, r) for r in range(1, rounds + 1)]
    cells = []
    for lv in levels:
        q = at_recall(runs, lv)
        ratio = f" ({q / hq[lv]:.3f}x)" if q and hq[lv] else ""
        cells.append(f"QPS@R{lv}={q:.0f}{ratio}" if q else f"QPS@R{lv}=out of sweep")
    print(f"{label:>10} " + "  ".join(cells))
PY
