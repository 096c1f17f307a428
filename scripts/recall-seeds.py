#!/usr/bin/env python3
"""Recall@10 per ef of quiver and hnswlib over several build seeds (not part of CI).

One build's recall moves by a few tenths of a point with the seed, as much
as the gap between two engines at small ef on a 200-query set; comparing
means over seeds says whether a gap is the graph or the draw.

Usage: scripts/recall-seeds.py DATA_DIR [EFS] [SEEDS]
  e.g. scripts/recall-seeds.py /work/shared/datasets/wordnet-minilm-dev 10,16,24,32 8
Environment: QUIVER (default target/release/quiver), PEERS_DIR (peers.py's
folder, default /work/shared/bench). Needs python3 with numpy and hnswlib.
Both engines: M=16, ef_construction=200, all cores for the build; quiver
seeds its level draws with `--seed s`, hnswlib with `random_seed=s`.
"""
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, os.environ.get("PEERS_DIR", "/work/shared/bench"))
import hnswlib  # noqa: E402
import peers  # noqa: E402

data = Path(sys.argv[1])
efs = [int(x) for x in (sys.argv[2] if len(sys.argv) > 2 else "10,16,24,32").split(",")]
seeds = range(1, 1 + int(sys.argv[3] if len(sys.argv) > 3 else 8))
quiver = os.environ.get("QUIVER", "target/release/quiver")

base, query, gt, _ = peers.load_dataset(data)
q_rec = {ef: [] for ef in efs}
h_rec = {ef: [] for ef in efs}
with tempfile.TemporaryDirectory() as tmp:
    for s in seeds:
        out = Path(tmp) / f"q{s}.json"
        subprocess.run(
            [quiver, "bench", "--base", str(data / "base.fvecs"), "--query", str(data / "query.fvecs"),
             "--groundtruth", str(data / "groundtruth.ivecs"), "--m", str(peers.M),
             "--ef-construction", str(peers.EF_CONSTRUCTION), "--ef", ",".join(map(str, efs)),
             "--repeats", "1", "--min-time", "0", "--max-passes", "1", "--seed", str(s),
             "--json", str(out)],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for r in json.loads(out.read_text())["runs"]:
            q_rec[r["ef"]].append(r["recall"])
for s in seeds:
    idx = hnswlib.Index(space="ip", dim=base.shape[1])
    idx.init_index(max_elements=len(base), M=peers.M, ef_construction=peers.EF_CONSTRUCTION,
                   random_seed=s)
    idx.add_items(base, np.arange(len(base)), num_threads=-1)
    for ef in efs:
        idx.set_ef(ef)
        labels, _ = idx.knn_query(query, k=peers.K, num_threads=1)
        h_rec[ef].append(peers.recall_at_k(labels, gt, peers.K))

print(f"{len(seeds)} seeds each; recall@10 mean (sd, min-max)")
print(f"{'ef':>5} {'quiver':>28} {'hnswlib':>28} {'diff':>8}")
for ef in efs:
    q, h = np.array(q_rec[ef]), np.array(h_rec[ef])
    cell = lambda a: f"{a.mean():.4f} ({a.std(ddof=1):.4f}, {a.min():.4f}-{a.max():.4f})"
    print(f"{ef:>5} {cell(q):>28} {cell(h):>28} {q.mean() - h.mean():>+8.4f}")
