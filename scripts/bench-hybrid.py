#!/usr/bin/env python3
"""Hybrid search latency through HTTP: dense HNSW alone against dense + BM25
fused by RRF, on a real `quiver serve`, same run, same queries.

  .venv/bin/python scripts/bench-hybrid.py [QUIVER_BINARY] [PASSES]

The collection holds the wordnet-minilm-dev base split (10,000 glosses):
each point's 384-d MiniLM embedding as the dense vector `dense` and its
text as a `qdrant/bm25` Document, embedded by the server into the sparse
vector `bm25` (IDF modifier). The 200 query texts and query embeddings of
the split are the queries, top 10, one client, sequential requests over one
keep-alive connection (the official qdrant-client, REST). Per mode it prints
p50 / p99 / mean latency in ms over all passes, and how many of the hybrid
top 10 the dense top 10 also has. Not part of CI.
"""
import json
import os
import statistics
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "interop"))
from harness import REPO, Server  # noqa: E402
from qdrant_client import QdrantClient, models  # noqa: E402

DATA = os.environ.get("DATA", os.path.join(REPO, "..", "shared", "datasets", "wordnet-minilm-dev"))
K = 10
CANDIDATES = 50


def fvecs(path):
    out = []
    with open(path, "rb") as f:
        while head := f.read(4):
            (dim,) = struct.unpack("<i", head)
            out.append(list(struct.unpack(f"<{dim}f", f.read(4 * dim))))
    return out


def texts(path):
    return [json.loads(line)["text"] for line in open(path, encoding="utf-8")]


def percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else os.path.join(REPO, "target", "release", "quiver")
    passes = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    base, base_texts = fvecs(os.path.join(DATA, "base.fvecs")), texts(os.path.join(DATA, "base.texts.jsonl"))
    queries, query_texts = fvecs(os.path.join(DATA, "query.fvecs")), texts(os.path.join(DATA, "query.texts.jsonl"))
    server = Server(binary)
    try:
        # cloud_inference: Documents go to the server as they are (no local fastembed).
        client = QdrantClient(url=server.url, prefer_grpc=False, timeout=120, cloud_inference=True)
        client.create_collection(
            "hybrid",
            vectors_config={"dense": models.VectorParams(size=len(base[0]), distance=models.Distance.COSINE)},
            sparse_vectors_config={"bm25": models.SparseVectorParams(modifier=models.Modifier.IDF)},
        )
        started = time.perf_counter()
        for start in range(0, len(base), 1000):
            batch = [
                models.PointStruct(
                    id=i,
                    vector={"dense": base[i], "bm25": models.Document(text=base_texts[i], model="qdrant/bm25")},
                )
                for i in range(start, min(start + 1000, len(base)))
            ]
            client.upsert("hybrid", batch, wait=True)
        load_secs = time.perf_counter() - started

        def dense(i):
            return client.query_points("hybrid", query=queries[i], using="dense", limit=K).points

        def hybrid(i):
            return client.query_points(
                "hybrid",
                prefetch=[
                    models.Prefetch(query=queries[i], using="dense", limit=CANDIDATES),
                    models.Prefetch(
                        query=models.Document(text=query_texts[i], model="qdrant/bm25"), using="bm25", limit=CANDIDATES
                    ),
                ],
                query=models.FusionQuery(fusion=models.Fusion.RRF),
                limit=K,
            ).points

        for i in range(20):  # warm-up
            dense(i)
            hybrid(i)
        timings = {"dense": [], "hybrid": []}
        overlap = []
        for _ in range(passes):
            for i in range(len(queries)):
                for name, run in (("dense", dense), ("hybrid", hybrid)):
                    t = time.perf_counter()
                    hits = run(i)
                    timings[name].append((time.perf_counter() - t) * 1000.0)
                    if name == "dense":
                        dense_ids = {h.id for h in hits}
                    else:
                        overlap.append(len(dense_ids & {h.id for h in hits}) / K)
        print(f"loaded {len(base)} points (dense + server-side BM25) in {load_secs:.1f} s; "
              f"{len(queries)} queries x {passes} passes, top {K}, prefetch {CANDIDATES} each")
        print("| mode | p50 ms | p99 ms | mean ms |")
        print("|---|---:|---:|---:|")
        for name, values in timings.items():
            print(f"| {name} | {percentile(values, 0.5):.2f} | {percentile(values, 0.99):.2f} | "
                  f"{statistics.fmean(values):.2f} |")
        print(f"hybrid top {K} shared with dense top {K}: {statistics.fmean(overlap):.2f} on average")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
