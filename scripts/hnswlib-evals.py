#!/usr/bin/env python3
"""Count distance evaluations per query of hnswlib's search on hnswlib's own graph.

Builds hnswlib (M=16, efC=200, ip, all threads) like peers.py, saves the index,
parses the saved file and replays hnswlib's searchKnn (greedy descent + searchBaseLayerST)
in Python, counting every distance computation (what hnswlib's metric_distance_computations counts,
plus the entry point). Checks the replayed result ids against knn_query's.
Not part of CI. Compare with quiver's `Hnsw::search_with_stats` counts.

Usage: scripts/hnswlib-evals.py DATA_DIR EFS [N_BASE]
  e.g. scripts/hnswlib-evals.py /work/shared/datasets/wordnet-minilm-dev 10,16,32,64,128
  N_BASE > 0 uses only the first N_BASE base vectors (ground truth recomputed).
Needs python3 with numpy and hnswlib, and peers.py (PEERS_DIR, default /work/shared/bench).
"""
import heapq, struct, sys, os, tempfile
import numpy as np
sys.path.insert(0, os.environ.get("PEERS_DIR", "/work/shared/bench"))
import peers, hnswlib

data = sys.argv[1]; efs = [int(x) for x in sys.argv[2].split(",")]
nmax = int(sys.argv[3]) if len(sys.argv) > 3 else 0
base, query, gt, _ = peers.load_dataset(__import__("pathlib").Path(data))
if nmax:
    base = base[:nmax]
    sims = query @ base.T
    gt = np.argsort(-sims, axis=1)[:, :10]
n, d = base.shape
idx = hnswlib.Index(space="ip", dim=d)
idx.init_index(max_elements=n, M=16, ef_construction=200, random_seed=100)
idx.add_items(base, np.arange(n), num_threads=-1)
path = tempfile.mktemp()
idx.save_index(path)
buf = open(path, "rb").read(); os.unlink(path)
off = 0
def rd(fmt):
    global off
    v = struct.unpack_from(fmt, buf, off); off += struct.calcsize(fmt); return v[0]
offsetLevel0 = rd("<Q"); max_el = rd("<Q"); cnt = rd("<Q"); size_per = rd("<Q"); label_off = rd("<Q")
offsetData = rd("<Q"); maxlevel = rd("<i"); ep = rd("<I"); maxM = rd("<Q"); maxM0 = rd("<Q"); M = rd("<Q")
mult = rd("<d"); efc = rd("<Q")
lvl0 = np.frombuffer(buf, dtype=np.uint8, count=max_el * size_per, offset=off).reshape(max_el, size_per)
off += max_el * size_per
links0_cnt = lvl0[:, :4].copy().view(np.uint32)[:, 0] & 0xFFFF
links0 = lvl0[:, 4:4 + 4 * maxM0].copy().view(np.uint32)
vecs = lvl0[:, offsetData:offsetData + 4 * d].copy().view(np.float32)
labels = lvl0[:, label_off:label_off + 8].copy().view(np.uint64)[:, 0]
upper = {}
for i in range(cnt):
    sz = rd("<I")
    if sz:
        raw = np.frombuffer(buf, dtype=np.uint32, count=sz // 4, offset=off); off += sz
        per = maxM + 1
        upper[i] = [raw[l * per + 1: l * per + 1 + (raw[l * per] & 0xFFFF)] for l in range(sz // 4 // per)]
def nb(i, level):
    if level == 0:
        return links0[i, :links0_cnt[i]]
    return upper[i][level - 1]
def search(q, ef):
    evals = 1
    cur = ep; curd = 1 - float(vecs[cur] @ q)
    for level in range(maxlevel, 0, -1):
        changed = True
        while changed:
            changed = False
            ns = nb(cur, level); evals += len(ns)
            ds = 1 - vecs[ns] @ q
            j = int(np.argmin(ds)) if len(ns) else -1
            if j >= 0 and ds[j] < curd:
                curd = float(ds[j]); cur = int(ns[j]); changed = True
    ef = max(ef, 10)
    visited = {cur}
    top = [(-curd, cur)]; cand = [(curd, cur)]; lb = curd
    while cand:
        cd, c = cand[0]
        if cd > lb and len(top) == ef:
            break
        heapq.heappop(cand)
        ns = [x for x in nb(c, 0).tolist() if x not in visited]
        visited.update(ns)
        if not ns: continue
        evals += len(ns)
        ds = (1 - vecs[ns] @ q).tolist()
        for x, dd in zip(ns, ds):
            if len(top) < ef or lb > dd:
                heapq.heappush(cand, (dd, x)); heapq.heappush(top, (-dd, x))
                if len(top) > ef: heapq.heappop(top)
                lb = -top[0][0]
    res = sorted((-a, b) for a, b in top)[:10]
    return [int(labels[b]) for _, b in res], evals
for ef in efs:
    idx.set_ef(ef)
    real, _ = idx.knn_query(query, k=10, num_threads=1)
    hits = 0; tot = 0; agree = 0
    for qi in range(len(query)):
        ids, ev = search(query[qi], ef)
        tot += ev; hits += len(set(ids) & set(gt[qi, :10].tolist()))
        agree += len(set(ids) & set(real[qi].tolist()))
    rr = sum(len(set(real[i].tolist()) & set(gt[i, :10].tolist())) for i in range(len(query)))
    print(f"hnswlib ef={ef:5d} recall(replay)={hits/(10*len(query)):.4f} recall(knn_query)={rr/(10*len(query)):.4f} "
          f"agree={agree/(10*len(query)):.4f} dist/q={tot/len(query):8.0f}", flush=True)
