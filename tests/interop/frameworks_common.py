"""What the framework interop tests share: the texts, deterministic fake
dense and sparse embeddings, exact reference computations (cosine top-k,
sparse dot products, Qdrant's RRF, DBSF and MMR, LlamaIndex's relative
score fusion, grouping), the target (a `quiver serve` or the official
client's local mode) and an optional trace of the HTTP requests.

The reference computations follow the official client's local mode
(qdrant_client/hybrid/fusion.py and qdrant_client/local/local_collection.py
of the pinned qdrant-client), which is Qdrant's own definition:

- RRF: a point's score is the sum over the fused lists of 1 / (2 + rank),
  rank 0 for the first hit of a list (k = 2).
- DBSF: each list's scores are mapped by (s - (mean - 3 sd)) / (6 sd),
  sd the sample standard deviation (n - 1); a list of one hit, or of equal
  scores, maps to 0.5; the mapped scores of a point are summed.
- MMR: candidates are the `candidates_limit` nearest; the first pick is
  the nearest; then, with lambda = 1 - diversity, the candidate maximising
  lambda * sim(query, c) - (1 - lambda) * max over picked p of sim(c, p);
  hits keep their similarity to the query as score.
"""

import hashlib
import json
import os
import re
from collections import OrderedDict

import numpy as np

DIM = 24

TEXTS = [
    ("apples and pears grow on fruit trees", "fruit"),
    ("bananas are a yellow tropical fruit", "fruit"),
    ("a ripe mango is a sweet fruit", "fruit"),
    ("cherries and plums are stone fruit", "fruit"),
    ("the cat sleeps on the warm sofa", "pets"),
    ("a dog fetches the ball in the park", "pets"),
    ("goldfish swim in a small glass bowl", "pets"),
    ("the parrot repeats every word it hears", "pets"),
    ("rust programs are compiled ahead of time", "code"),
    ("python scripts run in an interpreter", "code"),
    ("a compiler turns source code into machine code", "code"),
    ("unit tests catch regressions in code", "code"),
]
EXTRA = [
    ("oranges are a citrus fruit full of juice", "fruit"),
    ("hamsters run all night on a wheel", "pets"),
]
QUERIES = ["sweet tropical fruit", "a pet that sleeps", "compiled code", "fruit trees in the park"]
# Queries for the sparse and hybrid modes: each shares words with several
# texts (and "the", "a", "in" with many), so the sparse lists are long.
SPARSE_QUERIES = QUERIES + ["the fruit in the park", "a small sweet code"]

TOL = 1e-4


def embed(text):
    """A unit vector from the hashed words of `text` (same text, same vector)."""
    v = np.zeros(DIM, dtype=np.float64)
    for word in re.findall(r"[a-z]+", text.lower()):
        h = hashlib.sha256(word.encode()).digest()
        for i in range(3):
            v[h[i] % DIM] += 1.0 if h[3 + i] % 2 else -0.5
    n = np.linalg.norm(v)
    return (v / n if n > 0 else v).astype(np.float32).tolist()


def cosine(query, text):
    q = np.array(embed(query), dtype=np.float64)
    v = np.array(embed(text), dtype=np.float64)
    return float(q @ v / (np.linalg.norm(q) * np.linalg.norm(v)))


def cosine_vec(a, b):
    a, b = np.array(a, dtype=np.float64), np.array(b, dtype=np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def embed_fine(text):
    """Like `embed`, but with weights spread over a continuum, so that two
    different texts (almost) never tie in cosine to a query, nor are
    orthogonal to it: the dense vectors of the modes' tests, whose fused
    and MMR answers depend on every rank."""
    v = np.zeros(DIM, dtype=np.float64)
    for word in re.findall(r"[a-z]+", text.lower()):
        h = hashlib.sha256(("fine:" + word).encode()).digest()
        for i in range(4):
            v[h[i] % DIM] += (h[4 + i] - 90) / 165.0
    n = np.linalg.norm(v)
    return (v / n if n > 0 else v).astype(np.float32).tolist()


def cosine_fine(query, text):
    return cosine_vec(embed_fine(query), embed_fine(text))


def check_top(got, query, pool, k, label, sim=None):
    """`got`, a list of (score, text), is the exact top-k of `pool` for
    `query` by cosine (of `embed`, or `sim`): the same scores in order,
    each text scored right, none twice (texts with tied scores may come in
    either order)."""
    sim = sim or cosine
    want = sorted((sim(query, t) for t in pool), reverse=True)[:k]
    assert len(got) == len(want), f"{label}: {len(got)} hits, want {len(want)}"
    for (score, text), w in zip(got, want):
        assert abs(score - w) < 1e-4, f"{label}: score {score} for {text!r}, want {w}"
        assert text in pool and abs(sim(query, text) - score) < 1e-4, f"{label}: {text!r}"
    assert len({t for _, t in got}) == len(got), f"{label}: a text twice in {got}"


# ---------------------------------------------------------------- sparse


def _f32(x):
    return float(np.float32(x))


def sparse_embed(text, query=False):
    """A sparse vector (sorted unique indices, positive float32 values) from
    the hashed words of `text`. A document's values are scaled by a factor
    hashed from the whole text, so two documents sharing the same words
    with a query still score differently (no ties in the sparse lists)."""
    scale = 1.0
    if not query:
        h = hashlib.sha256(("doc:" + text).encode()).digest()
        scale = 0.5 + int.from_bytes(h[:2], "big") / 65535.0
    acc = {}
    for word in re.findall(r"[a-z]+", text.lower()):
        h = hashlib.sha256(("sparse:" + word).encode()).digest()
        idx = int.from_bytes(h[:4], "big") % 100_000
        acc[idx] = acc.get(idx, 0.0) + (1.0 + h[4] / 255.0) * scale
    items = sorted(acc.items())
    return [i for i, _ in items], [_f32(v) for _, v in items]


def sparse_dot(a, b):
    """Dot product of two (indices, values) sparse vectors, or None when
    they share no index (Qdrant does not return such points)."""
    da = dict(zip(*a))
    common = [i for i in b[0] if i in da]
    if not common:
        return None
    db = dict(zip(*b))
    return float(sum(np.float64(da[i]) * np.float64(db[i]) for i in common))


def idf_query(qvec, doc_vecs, n=None):
    """The query vector with each value times Qdrant's IDF over `doc_vecs`:
    ln((N - df + 0.5) / (df + 0.5) + 1), N = len(doc_vecs) unless given."""
    n = len(doc_vecs) if n is None else n
    values = []
    for idx, v in zip(*qvec):
        df = sum(1 for d in doc_vecs if idx in d[0])
        values.append(v * float(np.log((n - df + 0.5) / (df + 0.5) + 1.0)))
    return qvec[0], values


# ---------------------------------------------------------------- exact rankings


def ranked(scored, k=None, label=""):
    """`scored`, a dict key -> score (None: not a hit), as a list of
    (score, key) best first, cut at k. Asserts the order is unambiguous
    (no two scores within 1e-5 among the first k + 1): the test data must
    not depend on how a server breaks ties before fusing or re-ranking."""
    items = sorted(((s, key) for key, s in scored.items() if s is not None), key=lambda x: -x[0])
    head = items[: (k + 1) if k is not None else len(items)]
    for (a, ka), (b, kb) in zip(head, head[1:]):
        assert a - b > 1e-5, f"{label}: test data has a near tie {ka!r} {a} / {kb!r} {b}"
    return items[:k] if k is not None else items


def dense_ranking(query, pool, k=None, label=""):
    """The exact cosine ranking of `pool` by `embed_fine`."""
    return ranked({t: cosine_fine(query, t) for t in pool}, k, label)


def sparse_ranking(query, pool, k=None, label="", qvec=None):
    q = qvec if qvec is not None else sparse_embed(query, query=True)
    return ranked({t: sparse_dot(q, sparse_embed(t)) for t in pool}, k, label)


def rrf(lists):
    """Qdrant's RRF of lists of (score, key): key -> fused score."""
    fused = {}
    for lst in lists:
        for rank, (_, key) in enumerate(lst):
            fused[key] = fused.get(key, 0.0) + 1.0 / (2 + rank)
    return fused


def dbsf(lists):
    """Qdrant's distribution-based score fusion: key -> fused score."""
    fused = {}
    for lst in lists:
        if not lst:
            continue
        scores = [s for s, _ in lst]
        if len(scores) == 1:
            mapped = [0.5]
        else:
            mean = sum(scores) / len(scores)
            var = sum((s - mean) ** 2 for s in scores) / (len(scores) - 1)
            if var == 0:
                mapped = [0.5] * len(scores)
            else:
                low, high = mean - 3 * var**0.5, mean + 3 * var**0.5
                mapped = [(s - low) / (high - low) for s in scores]
        for m, (_, key) in zip(mapped, lst):
            fused[key] = fused.get(key, 0.0) + m
    return fused


def relative_score_fusion(dense, sparse, alpha, top_k):
    """LlamaIndex's relative_score_fusion (llama_index.vector_stores.qdrant
    .utils) of two lists of (score, key): each list min-max normalised (a
    list whose scores are all equal keeps them as they are), then
    (1 - alpha) * sparse + alpha * dense, 0 for a list a key is not in;
    top_k of those. But when one list is empty, the other list as it is
    (its own scores, its own length, not cut at top_k). Returns (key ->
    score, how many hits)."""
    if not sparse or not dense:
        lst = dense or sparse
        return {k: s for s, k in lst}, len(lst)
    def normalise(lst):
        if not lst:
            return {}
        lo, hi = min(s for s, _ in lst), max(s for s, _ in lst)
        if hi == lo:
            return {key: hi for _, key in lst}
        return {key: (s - lo) / (hi - lo) for s, key in lst}

    d, s = normalise(dense), normalise(sparse)
    keys = [k for _, k in dense] + [k for _, k in sparse if k not in d]
    return {k: (1 - alpha) * s.get(k, 0.0) + alpha * d.get(k, 0.0) for k in keys}, top_k


def mmr(query_vec, candidates, diversity, limit, label="", vec_of=embed_fine):
    """Qdrant's MMR over `candidates` (keys, nearest first, already cut at
    candidates_limit) with cosine similarity. Asserts every pick wins by
    more than 1e-5 (no tie rules needed)."""
    lam = 1.0 - diversity
    rel = {c: cosine_vec(query_vec, vec_of(c)) for c in candidates}
    selected = [candidates[0]]
    pending = list(candidates[1:])
    while len(selected) < limit and pending:
        scores = [
            (lam * rel[c] - (1 - lam) * max(cosine_vec(vec_of(c), vec_of(p)) for p in selected), c)
            for c in pending
        ]
        scores.sort(key=lambda x: -x[0])
        if len(scores) > 1:
            assert scores[0][0] - scores[1][0] > 1e-5, f"{label}: MMR near tie {scores[:2]}"
        selected.append(scores[0][1])
        pending.remove(scores[0][1])
    return [(rel[c], c) for c in selected]


def check_scored(got, want, limit, label, tol=TOL):
    """`got`, a list of (score, key), is the top `limit` of `want` (a dict
    key -> exact score): the same scores in order, each key scored right,
    none twice. Keys with tied scores may come in either order, and a tie
    at the cut may be broken either way."""
    order = sorted(want.values(), reverse=True)[:limit]
    assert len(got) == len(order), f"{label}: {len(got)} hits, want {len(order)}: {got}"
    for (score, key), w in zip(got, order):
        assert abs(score - w) <= tol * max(1.0, abs(w)), f"{label}: score {score} for {key!r}, want {w} (got {got})"
        assert key in want, f"{label}: {key!r} is not a candidate"
        assert abs(want[key] - score) <= tol * max(1.0, abs(score)), f"{label}: {key!r} scored {score}, want {want[key]}"
    assert len({k for _, k in got}) == len(got), f"{label}: a key twice in {got}"


def check_sequence(got, want, label, tol=TOL):
    """`got` and `want`, lists of (score, key), are the same in order."""
    assert [k for _, k in got] == [k for _, k in want], f"{label}: {[k for _, k in got]} != {[k for _, k in want]}"
    for (s, k), (w, _) in zip(got, want):
        assert abs(s - w) <= tol * max(1.0, abs(w)), f"{label}: score {s} for {k!r}, want {w}"


def check_groups(got, want, group_of, group_size, limit, label, tol=TOL):
    """`got`, the flattened hits of a grouped search (a list of (score,
    key), group after group, each best first), against the exact grouping
    of `want` (a dict key -> score over all candidates): the `limit` groups
    with the best top hits, best first, each its best `group_size` hits."""
    runs = []
    for score, key in got:
        g = group_of(key)
        if not runs or runs[-1][0] != g:
            runs.append((g, []))
        runs[-1][1].append((score, key))
    assert len({g for g, _ in runs}) == len(runs), f"{label}: a group split in {got}"
    members = OrderedDict()
    for key, s in sorted(want.items(), key=lambda kv: -kv[1]):
        members.setdefault(group_of(key), []).append(s)
    bests = sorted((ss[0] for ss in members.values()), reverse=True)[:limit]
    assert len(runs) == len(bests), f"{label}: {len(runs)} groups, want {len(bests)}: {got}"
    for (g, hits), best in zip(runs, bests):
        assert g in members, f"{label}: group {g!r} has no candidates"
        assert abs(hits[0][0] - best) <= tol * max(1.0, abs(best)), f"{label}: group {g!r} best {hits[0][0]}, want {best}"
        check_scored(hits, {k: s for k, s in want.items() if group_of(k) == g}, group_size, f"{label} group {g!r}", tol)


# ---------------------------------------------------------------- target


class Target:
    """Where the stores under test live: a `quiver serve` at `url`, or,
    with url None, the official client's local mode (":memory:")."""

    def __init__(self, url=None):
        self.url = url
        self.local = url is None

    def where(self):
        """Keyword arguments of LangChain's from_texts and Haystack's store."""
        return {"location": ":memory:"} if self.local else {"url": self.url, "prefer_grpc": False}

    def client(self):
        from qdrant_client import QdrantClient

        if self.local:
            return QdrantClient(":memory:")
        return QdrantClient(url=self.url, prefer_grpc=False, check_compatibility=False)


# ---------------------------------------------------------------- trace

_trace = {"path": None, "label": ""}


def trace_label(label):
    _trace["label"] = label


def install_trace(path):
    """Append each HTTP request the frameworks make (through httpx, as
    qdrant-client's REST transport does) to `path` as a JSON line: the test,
    method, path, JSON body, status and the start of the response."""
    import httpx

    _trace["path"] = path
    original = httpx.Client.send

    def send(self, request, **kwargs):
        response = original(self, request, **kwargs)
        try:
            body = json.loads(request.content) if request.content else None
        except Exception:
            body = repr(request.content[:500])
        with open(path, "a") as f:
            f.write(json.dumps({
                "test": _trace["label"], "method": request.method, "path": request.url.path,
                "body": body, "status": response.status_code, "response": response.text[:400],
            }) + "\n")
        return response

    httpx.Client.send = send


if os.environ.get("QUIVER_INTEROP_TRACE"):
    install_trace(os.environ["QUIVER_INTEROP_TRACE"])
