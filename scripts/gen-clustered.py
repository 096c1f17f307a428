#!/usr/bin/env python3
"""Writes a synthetic dataset with cluster structure, in the fvecs/ivecs
layout the benchmarks read (base.fvecs, query.fvecs, groundtruth.ivecs):
unit vectors drawn around random centres, so neighbourhoods look like
those of real embeddings (dense topics, sparse space between them) rather
than uniform noise, on which every graph index degrades.

Each cluster gets a share of the points from a Zipf-like law (a few big
topics, many small ones) and its own spread; queries come from the same
mixture, disjoint from the base. The ground truth is the exact top 100
by cosine (dot products of the unit vectors), computed here in float64
blocks.

    python3 scripts/gen-clustered.py --out /tmp/clustered-500k --n 500000 --dim 384

Needs numpy. Deterministic for a given --seed.
"""

import argparse
from pathlib import Path

import numpy as np


def unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def sample(rng, centres, spread, weights, n, dim):
    """`n` unit vectors, each a centre plus Gaussian noise of its cluster's spread."""
    which = rng.choice(len(centres), size=n, p=weights)
    noise = rng.standard_normal((n, dim)).astype(np.float32)
    return unit(centres[which] + noise * spread[which, None]).astype(np.float32)


def write_fvecs(path, rows):
    n, dim = rows.shape
    out = np.empty((n, dim + 1), dtype=np.float32)
    out[:, 0] = np.frombuffer(np.int32(dim).tobytes(), dtype=np.float32)[0]
    out[:, 1:] = rows
    out.tofile(path)


def write_ivecs(path, rows):
    n, k = rows.shape
    out = np.empty((n, k + 1), dtype=np.int32)
    out[:, 0] = k
    out[:, 1:] = rows
    out.tofile(path)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--n", type=int, default=500_000)
    ap.add_argument("--nq", type=int, default=1000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--clusters", type=int, default=2000)
    ap.add_argument("--k", type=int, default=100)
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args()

    rng = np.random.default_rng(args.seed)
    dim = args.dim
    centres = unit(rng.standard_normal((args.clusters, dim))).astype(np.float32)
    # Noise per component: a cluster's points sit at angles of about 27 to
    # 56 degrees from its centre (cosine 0.3 to 0.8 between two points of
    # one cluster, about 0 between clusters), so tight and loose topics mix.
    spread = rng.uniform(0.5, 1.5, size=args.clusters).astype(np.float32) / np.sqrt(dim)
    weights = 1.0 / np.arange(1, args.clusters + 1) ** 0.7
    weights /= weights.sum()

    base = sample(rng, centres, spread, weights, args.n, dim)
    query = sample(rng, centres, spread, weights, args.nq, dim)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_fvecs(out / "base.fvecs", base)
    write_fvecs(out / "query.fvecs", query)

    k = min(args.k, args.n)
    truth = np.empty((args.nq, k), dtype=np.int32)
    block = 100
    base64 = base.astype(np.float64)
    for at in range(0, args.nq, block):
        sims = query[at:at + block].astype(np.float64) @ base64.T
        part = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(sims, part, axis=1), axis=1, kind="stable")
        truth[at:at + block] = np.take_along_axis(part, order, axis=1)
    write_ivecs(out / "groundtruth.ivecs", truth)
    print(f"wrote {out}: {args.n} x {dim} base, {args.nq} queries, top-{k} truth, {args.clusters} clusters")


if __name__ == "__main__":
    main()
