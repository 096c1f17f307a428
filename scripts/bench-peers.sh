#!/usr/bin/env bash
# Quiver's HNSW against peer libraries (hnswlib, faiss, usearch) on one
# dataset, side by side in one session (not part of CI).
#
# Runs `quiver bench` and the shared peer harness (peers.py) on the same
# fvecs/ivecs files with the same M, ef_construction and ef sweep, then prints
# one comparison table: recall@10 and single-thread QPS per ef, QPS at
# recall@10 0.95 / 0.99 interpolated from the sweep, build time, memory.
#
# Usage: scripts/bench-peers.sh DATA_DIR [OUT_DIR]
#   DATA_DIR  holds base.fvecs, query.fvecs, groundtruth.ivecs (cosine / unit
#             vectors, like /work/shared/datasets/wordnet-minilm-dev or
#             `peers.py gen-synthetic --out DIR`).
#   OUT_DIR   results (default /tmp/quiver-bench-peers); per dataset it gets
#             quiver.json (peers.py schema), quiver-summary.json, <engine>.json.
# Environment:
#   ENGINES   peers to run (default hnswlib,faiss-hnsw,usearch,usearch-default-dtype)
#   RUST_ENGINES  peers-rust engines to run too, e.g. qdrant-edge,qdrant-edge-sq8
#             (default none; built once as ../shared/bench/README.md says)
#   PEERS_RUST    the peers-rust binary (default /tmp/peers-rust-target/release/peers-rust)
#   QUANTIZATION  quiver's runs, e.g. none,int8,int8-exact (default none);
#             each is its own engine in the table (quiver, quiver-int8,
#             quiver-int8-exact: int8 codes linked with float32 distances)
#   OVERSAMPLING  for the quantized quiver runs (default 2)
#   EFS       ef sweep (default 10,16,24,32,48,64,96,128,192,256,384,512)
#   REPEATS   timed repeats per ef, medians are reported (default 3)
#   RECALLS   two recall@10 levels to compare QPS at (default 0.95,0.99)
#   PEERS     path of peers.py (default ../shared/bench/peers.py)
#   QUIVER    quiver binary (default target/release/quiver, built if missing)
#   SKIP_QUIVER=1 / SKIP_PEERS=1  reuse the JSON already in OUT_DIR
#   WAIT_IDLE seconds to wait for a quiet machine before each run (default 0)
# Needs: python3 with numpy and the peer libraries (see the harness README).
set -euo pipefail
cd "$(dirname "$0")/.."

DATA="${1:?usage: scripts/bench-peers.sh DATA_DIR [OUT_DIR]}"
OUT="${2:-/tmp/quiver-bench-peers}"
ENGINES="${ENGINES:-hnswlib,faiss-hnsw,usearch,usearch-default-dtype}"
EFS="${EFS:-10,16,24,32,48,64,96,128,192,256,384,512}"
REPEATS="${REPEATS:-3}"
RECALLS="${RECALLS:-0.95,0.99}"
QUIVER="${QUIVER:-target/release/quiver}"
RUST_ENGINES="${RUST_ENGINES:-}"
PEERS_RUST="${PEERS_RUST:-/tmp/peers-rust-target/release/peers-rust}"
QUANTIZATION="${QUANTIZATION:-none}"
OVERSAMPLING="${OVERSAMPLING:-2}"
WAIT_IDLE="${WAIT_IDLE:-0}"
# shellcheck source=scripts/bench-env.sh
source scripts/bench-env.sh
RES="$OUT/$NAME"
mkdir -p "$RES"

wait_idle() {
    if [ "$WAIT_IDLE" -gt 0 ]; then
        python3 "$PEERS" wait-idle --timeout "$WAIT_IDLE" || true
    fi
}

if [ "${SKIP_QUIVER:-0}" != 1 ]; then
    if [ ! -x "$QUIVER" ]; then
        cargo build --release -p quiver-cli
    fi
    IFS=, read -ra QUANTS <<<"$QUANTIZATION"
    for q in "${QUANTS[@]}"; do
        engine=quiver
        extra=()
        if [ "$q" != none ]; then
            engine="quiver-$q"
            # `int8-exact`: int8 codes linked with exact float32 distances.
            extra=(--quantization "${q%-exact}" --oversampling "$OVERSAMPLING")
            if [ "$q" != "${q%-exact}" ]; then
                extra+=(--linking exact)
            fi
        fi
        wait_idle
        echo "== $engine on $NAME" >&2
        "$QUIVER" bench --base "$DATA/base.fvecs" --query "$DATA/query.fvecs" \
            --groundtruth "$DATA/groundtruth.ivecs" --metric cosine --m 16 --ef-construction 200 \
            --ef "$EFS" --k 10 --repeats "$REPEATS" --dataset "$NAME" "${extra[@]}" \
            --json "$RES/$engine-summary.json" --peers-json "$RES/$engine.json" >&2
    done
fi
if [ "${SKIP_PEERS:-0}" != 1 ]; then
    IFS=, read -ra ENGS <<<"$ENGINES"
    for e in "${ENGS[@]}"; do
        wait_idle
        python3 "$PEERS" run --data "$DATA" --dataset-name "$NAME" --engines "$e" \
            --results "$OUT" --efs "$EFS" --repeats "$REPEATS" >/dev/null
    done
    if [ -n "$RUST_ENGINES" ]; then
        IFS=, read -ra RENGS <<<"$RUST_ENGINES"
        for e in "${RENGS[@]}"; do
            wait_idle
            "$PEERS_RUST" --data "$DATA" --dataset-name "$NAME" --engines "$e" \
                --results "$OUT" --efs "$EFS" --repeats "$REPEATS" >/dev/null
        done
    fi
fi

python3 - "$RES" "$RECALLS" <<'PY'
import json, sys
from pathlib import Path

res = Path(sys.argv[1])
lo, hi = (float(x) for x in sys.argv[2].split(","))
engines = {}
for p in sorted(res.glob("*.json")):
    if p.name == "summary.json" or p.name.endswith("-summary.json"):
        continue
    recs = json.loads(p.read_text())
    if isinstance(recs, list) and recs and recs[0].get("mode") == "ef":
        engines[recs[0]["engine"]] = sorted(recs, key=lambda r: r["ef_search"])
order = ["quiver"] + sorted(e for e in engines if e != "quiver")
order = [e for e in order if e in engines]


def qps_at(recs, target):
    """Single-thread QPS at recall@10 == target, interpolated linearly between
    the two sweep points around it (None when the sweep never reaches it)."""
    pts = sorted((r["recall_at_10"], r["qps_1t"]) for r in recs)
    best = None
    for (r0, q0), (r1, q1) in zip(pts, pts[1:]):
        if r0 <= target <= r1 and r1 > r0:
            q = q0 + (q1 - q0) * (target - r0) / (r1 - r0)
            best = q if best is None else max(best, q)
    if best is None and pts and pts[0][0] >= target:
        best = pts[0][1]
    return best


def mib(b):
    return "-" if b is None else f"{b / 2**20:.1f}"


r0 = engines[order[0]][0]
print(f"dataset={r0['dataset']} n_base={r0['n_base']} n_query={r0['n_query']} dim={r0['dim']} "
      f"k=10 M=16 ef_construction=200; QPS = single thread, one query per call, median of repeats")
efs = sorted({r["ef_search"] for e in order for r in engines[e]})
head = f"{'ef':>5} " + " | ".join(f"{e[:14] + ' R@10':>19} {'QPS':>7} {'p50us':>7} {'cpu':>4}" for e in order)
print(head)
print("-" * len(head))
for ef in efs:
    cells = []
    for e in order:
        r = next((r for r in engines[e] if r["ef_search"] == ef), None)
        if r is None:
            cells.append(f"{'-':>19} {'-':>7} {'-':>7} {'-':>4}")
        else:
            cpu = r.get("cpu_util_single")
            cells.append(f"{r['recall_at_10']:>19.4f} {r['qps_1t']:>7.0f} {r['lat_p50_us']:>7.1f} "
                         f"{'-' if cpu is None else f'{cpu:.2f}':>4}")
    print(f"{ef:>5} " + " | ".join(cells))
print()
base = engines.get("quiver")
head = (f"{'engine':22} {f'QPS@R{lo:g}':>9} {f'QPS@R{hi:g}':>9} {'build_s':>8} {'thr':>3} "
        f"{'RSSdMiB':>8} {'libMiB':>7}  vs quiver: {f'@{lo:g}':>6} {f'@{hi:g}':>6} {'build':>6}")
print(head)
print("-" * len(head))
for e in order:
    recs = engines[e]
    q95, q99 = qps_at(recs, lo), qps_at(recs, hi)
    r = recs[0]
    ratios = ""
    if base is not None and e != "quiver":
        b95, b99 = qps_at(base, lo), qps_at(base, hi)
        rat = lambda a, b: "-" if a is None or b is None or b == 0 else f"{a / b:.2f}x"  # noqa: E731
        ratios = f"{rat(b95, q95):>6} {rat(b99, q99):>6} {rat(r['build_time_s'], base[0]['build_time_s']):>6}"
    fq = lambda v: "-" if v is None else f"{v:.0f}"  # noqa: E731
    print(f"{e:22} {fq(q95):>9} {fq(q99):>9} {r['build_time_s']:>8.2f} {r['build_threads']:>3} "
          f"{mib(r.get('index_mem_rss_delta_bytes')):>8} {mib(r.get('index_size_lib_bytes')):>7}  {ratios}")
print()
print("cpu: share of one core the single-thread timing loop got (below 1 = the machine was busy).")
print("QPS@Rx: single-thread QPS at recall@10 = x, linear between the sweep points around x.")
print("vs quiver: quiver's QPS / the engine's QPS (>1 = quiver faster); build: engine's time / quiver's.")
print("libMiB: the library's own size (quiver: Hnsw::memory_bytes; hnswlib, faiss: serialised bytes;")
print("usearch: memory_usage). RSSdMiB: process RSS growth over the build.")
PY
