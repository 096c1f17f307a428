"""Interop test: drives a real `quiver serve` with the official qdrant-client
(REST, prefer_grpc=False) and checks every answer against exact results
computed here with numpy.

Run: .venv/bin/python tests/interop/test_qdrant_client.py [path/to/quiver]
(default binary: $QUIVER_BIN, else target/debug/quiver, else target/release/quiver).
Prints "N passed, M failed" last and exits non-zero on any failure.
"""

import sys
import traceback
import uuid
import warnings

import numpy as np
from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import UnexpectedResponse

from harness import Server, find_binary

DIM = 32
N_LIST = 400  # points upserted in list form
N_BATCH = 150  # points upserted in batch form
SEED = 20240611


def normalized(m):
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    return m / np.where(norms == 0, 1, norms)


class Data:
    """The points the tests upsert, and exact answers over them."""

    def __init__(self):
        rng = np.random.default_rng(SEED)
        n = N_LIST + N_BATCH
        self.ids = np.arange(n, dtype=np.int64) * 3 + 1  # sparse, non-contiguous ids
        self.vectors = rng.standard_normal((n, DIM)).astype(np.float32)
        self.payloads = [
            {"group": int(i % 5), "tag": "even" if i % 2 == 0 else "odd", "price": float(round(rng.uniform(0, 100), 3))}
            for i in range(n)
        ]
        self.queries = rng.standard_normal((8, DIM)).astype(np.float32)

    def live(self, keep=None):
        """(ids, vectors) of the points for which keep(index) is true."""
        idx = [i for i in range(len(self.ids)) if keep is None or keep(i)]
        return self.ids[idx], self.vectors[idx]

    def exact(self, q, k, keep=None):
        """Top-k (ids, cosine scores) by brute force in float64."""
        ids, vs = self.live(keep)
        scores = normalized(vs.astype(np.float64)) @ (q / np.linalg.norm(q)).astype(np.float64)
        order = np.lexsort((ids, -scores))[:k]
        return ids[order].tolist(), scores[order].tolist()


def check_topk(points, want_ids, want_scores, label):
    got_ids = [p.id for p in points]
    got_scores = [p.score for p in points]
    assert len(got_ids) == len(want_ids), f"{label}: {len(got_ids)} hits, want {len(want_ids)}"
    assert np.allclose(got_scores, want_scores, atol=1e-4), f"{label}: scores {got_scores} != {want_scores}"
    for i, (g, w) in enumerate(zip(got_ids, want_ids)):
        if g != w:
            # Only a near-tie may swap places.
            assert abs(got_scores[i] - want_scores[i]) < 1e-5, f"{label}: rank {i} id {g}, want {w}"


def upsert_all(client, name, data):
    client.create_collection(name, vectors_config=models.VectorParams(size=DIM, distance=models.Distance.COSINE))
    points = [
        models.PointStruct(id=int(data.ids[i]), vector=data.vectors[i].tolist(), payload=data.payloads[i])
        for i in range(N_LIST)
    ]
    r = client.upsert(name, points=points, wait=True)
    assert r.status == models.UpdateStatus.COMPLETED, r
    batch = range(N_LIST, N_LIST + N_BATCH)
    r = client.upsert(
        name,
        points=models.Batch(
            ids=[int(data.ids[i]) for i in batch],
            vectors=[data.vectors[i].tolist() for i in batch],
            payloads=[data.payloads[i] for i in batch],
        ),
        wait=True,
    )
    assert r.status == models.UpdateStatus.COMPLETED, r


def even_and_group_12(data):
    flt = models.Filter(
        must=[
            models.FieldCondition(key="tag", match=models.MatchValue(value="even")),
            models.FieldCondition(key="group", match=models.MatchAny(any=[1, 2])),
        ]
    )
    return flt, (lambda i: data.payloads[i]["tag"] == "even" and data.payloads[i]["group"] in (1, 2))


# ---- the tests: each gets a client and a fresh collection name ----


def test_collection_lifecycle(client, data, name):
    assert not client.collection_exists(name)
    upsert_all(client, name, data)
    assert client.collection_exists(name)
    assert name in [c.name for c in client.get_collections().collections]
    info = client.get_collection(name)
    assert info.status == models.CollectionStatus.GREEN, info.status
    assert info.points_count == N_LIST + N_BATCH, info.points_count
    assert info.config.params.vectors.size == DIM
    assert info.config.params.vectors.distance == models.Distance.COSINE
    assert info.config.hnsw_config.m == 16
    assert client.delete_collection(name) is True
    assert not client.collection_exists(name)
    try:
        client.get_collection(name)
        raise AssertionError("get_collection of a deleted collection succeeded")
    except UnexpectedResponse as e:
        assert e.status_code == 404, e.status_code


def test_create_twice_is_409(client, data, name):
    cfg = models.VectorParams(size=DIM, distance=models.Distance.DOT)
    client.create_collection(name, vectors_config=cfg)
    try:
        client.create_collection(name, vectors_config=cfg)
        raise AssertionError("second create succeeded")
    except UnexpectedResponse as e:
        assert e.status_code == 409, e.status_code


def test_query_points_exact_and_hnsw(client, data, name):
    upsert_all(client, name, data)
    recalls = []
    for qi, q in enumerate(data.queries):
        want_ids, want_scores = data.exact(q, 10)
        exact = client.query_points(
            name, query=q.tolist(), limit=10, search_params=models.SearchParams(exact=True)
        ).points
        check_topk(exact, want_ids, want_scores, f"exact query {qi}")
        approx = client.query_points(name, query=q.tolist(), limit=10, search_params=models.SearchParams(hnsw_ef=128)).points
        recalls.append(len({p.id for p in approx} & set(want_ids)) / 10)
        page2 = client.query_points(
            name, query=q.tolist(), limit=5, offset=5, search_params=models.SearchParams(exact=True)
        ).points
        assert [p.id for p in page2] == want_ids[5:], f"offset page of query {qi}"
    assert np.mean(recalls) >= 0.95, f"HNSW recall@10 {np.mean(recalls)}"


def test_query_points_with_filters_and_indexes(client, data, name):
    upsert_all(client, name, data)
    r = client.create_payload_index(name, "tag", field_schema=models.PayloadSchemaType.KEYWORD, wait=True)
    assert r.status == models.UpdateStatus.COMPLETED
    client.create_payload_index(name, "group", field_schema=models.PayloadSchemaType.INTEGER, wait=True)
    client.create_payload_index(name, "price", field_schema=models.PayloadSchemaType.FLOAT, wait=True)
    schema = client.get_collection(name).payload_schema
    assert schema["tag"].data_type == models.PayloadSchemaType.KEYWORD, schema
    assert schema["group"].data_type == models.PayloadSchemaType.INTEGER, schema
    assert schema["tag"].points == N_LIST + N_BATCH, schema["tag"]

    flt, keep = even_and_group_12(data)
    cheap = models.Filter(must=[models.FieldCondition(key="price", range=models.Range(gte=10.0, lt=30.0))])
    keep_cheap = lambda i: 10.0 <= data.payloads[i]["price"] < 30.0
    not_odd = models.Filter(must_not=[models.FieldCondition(key="tag", match=models.MatchValue(value="odd"))])
    keep_not_odd = lambda i: data.payloads[i]["tag"] != "odd"
    for qi, q in enumerate(data.queries):
        for label, f, k in (("tag+group", flt, keep), ("price range", cheap, keep_cheap), ("must_not", not_odd, keep_not_odd)):
            want_ids, want_scores = data.exact(q, 7, k)
            got = client.query_points(
                name, query=q.tolist(), query_filter=f, limit=7, with_payload=True,
                search_params=models.SearchParams(exact=True),
            ).points
            check_topk(got, want_ids, want_scores, f"{label} query {qi}")
            # Same filter through the HNSW path: every hit must match it.
            approx = client.query_points(name, query=q.tolist(), query_filter=f, limit=7, with_payload=True).points
            index_of = {int(v): i for i, v in enumerate(data.ids)}
            assert all(k(index_of[p.id]) for p in approx), f"{label}: HNSW hit outside the filter"
            assert len(approx) == 7
    r = client.delete_payload_index(name, "price", wait=True)
    assert r.status == models.UpdateStatus.COMPLETED
    assert "price" not in client.get_collection(name).payload_schema


def test_scroll_count_retrieve(client, data, name):
    upsert_all(client, name, data)
    seen, offset = [], None
    while True:
        records, offset = client.scroll(name, limit=64, offset=offset, with_payload=True, with_vectors=False)
        seen.extend(r.id for r in records)
        for r in records:
            assert r.vector is None
        if offset is None:
            break
    assert seen == sorted(data.ids.tolist()), "scroll did not return every id once, in order"

    flt, keep = even_and_group_12(data)
    want = sum(1 for i in range(len(data.ids)) if keep(i))
    assert client.count(name, count_filter=flt, exact=True).count == want
    assert client.count(name).count == len(data.ids)
    filtered, _ = client.scroll(name, scroll_filter=flt, limit=1000)
    assert sorted(r.id for r in filtered) == sorted(int(data.ids[i]) for i in range(len(data.ids)) if keep(i))

    picks = [0, 7, N_LIST + 3]
    got = client.retrieve(name, ids=[int(data.ids[i]) for i in picks] + [999_999], with_payload=True, with_vectors=True)
    assert len(got) == 3, got
    by_id = {r.id: r for r in got}
    for i in picks:
        r = by_id[int(data.ids[i])]
        assert r.payload == data.payloads[i], (r.payload, data.payloads[i])
        # Cosine collections store unit vectors (as Qdrant does).
        assert np.allclose(r.vector, normalized(data.vectors[i : i + 1])[0], atol=1e-5)


def test_payload_updates(client, data, name):
    upsert_all(client, name, data)
    a, b = int(data.ids[0]), int(data.ids[1])
    client.set_payload(name, payload={"color": "red"}, points=[a, b], wait=True)
    got = {r.id: r.payload for r in client.retrieve(name, ids=[a, b])}
    assert got[a] == {**data.payloads[0], "color": "red"}, got[a]
    client.overwrite_payload(name, payload={"only": 1}, points=[a], wait=True)
    assert client.retrieve(name, ids=[a])[0].payload == {"only": 1}
    client.delete_payload(name, keys=["color", "group"], points=[b], wait=True)
    want = {k: v for k, v in data.payloads[1].items() if k != "group"}
    assert client.retrieve(name, ids=[b])[0].payload == want
    client.clear_payload(name, points_selector=models.PointIdsList(points=[b]), wait=True)
    assert client.retrieve(name, ids=[b])[0].payload == {}
    # set_payload by filter
    flt = models.Filter(must=[models.FieldCondition(key="group", match=models.MatchValue(value=4))])
    client.set_payload(name, payload={"flag": True}, points=flt, wait=True)
    flagged = models.Filter(must=[models.FieldCondition(key="flag", match=models.MatchValue(value=True))])
    assert client.count(name, count_filter=flagged).count == sum(1 for p in data.payloads if p["group"] == 4)


def test_delete_by_filter_and_ids(client, data, name):
    upsert_all(client, name, data)
    client.create_payload_index(name, "group", field_schema=models.PayloadSchemaType.INTEGER, wait=True)
    flt = models.Filter(must=[models.FieldCondition(key="group", match=models.MatchValue(value=3))])
    r = client.delete(name, points_selector=models.FilterSelector(filter=flt), wait=True)
    assert r.status == models.UpdateStatus.COMPLETED
    removed = [int(data.ids[0]), int(data.ids[1])]
    client.delete(name, points_selector=models.PointIdsList(points=removed), wait=True)
    keep = lambda i: data.payloads[i]["group"] != 3 and i not in (0, 1)
    assert client.count(name).count == sum(1 for i in range(len(data.ids)) if keep(i))
    assert client.count(name, count_filter=flt).count == 0
    assert client.retrieve(name, ids=removed) == []
    for qi, q in enumerate(data.queries[:4]):
        want_ids, want_scores = data.exact(q, 10, keep)
        got = client.query_points(name, query=q.tolist(), limit=10, search_params=models.SearchParams(exact=True)).points
        check_topk(got, want_ids, want_scores, f"after delete, query {qi}")
        approx = client.query_points(name, query=q.tolist(), limit=10).points
        index_of = {int(v): i for i, v in enumerate(data.ids)}
        assert all(keep(index_of[p.id]) for p in approx), "HNSW returned a deleted point"


def test_uuid_ids_and_query_by_id(client, data, name):
    client.create_collection(name, vectors_config=models.VectorParams(size=4, distance=models.Distance.EUCLID))
    u = str(uuid.UUID(int=12345))
    client.upsert(name, points=[
        models.PointStruct(id=u, vector=[0.0, 0.0, 0.0, 1.0], payload={"k": "uuid"}),
        models.PointStruct(id=5, vector=[0.0, 0.0, 0.0, 2.0]),
        models.PointStruct(id=6, vector=[3.0, 0.0, 0.0, 0.0]),
    ], wait=True)
    got = client.query_points(name, query=[0.0, 0.0, 0.0, 0.9], limit=3, with_payload=True).points
    assert [p.id for p in got] == [u, 5, 6], got
    assert abs(got[0].score - 0.1) < 1e-5 and abs(got[1].score - 1.1) < 1e-5, got
    assert got[0].payload == {"k": "uuid"}
    # As in Qdrant, the point a query names is left out of its answers.
    by_id = client.query_points(name, query=5, limit=2).points
    assert [p.id for p in by_id] == [u, 6], by_id
    assert client.retrieve(name, ids=[u])[0].id == u


def test_bad_requests_are_4xx(client, data, name):
    client.create_collection(name, vectors_config=models.VectorParams(size=DIM, distance=models.Distance.COSINE))
    try:
        client.upsert(name, points=[models.PointStruct(id=1, vector=[1.0, 2.0])])
        raise AssertionError("wrong dimension accepted")
    except UnexpectedResponse as e:
        assert e.status_code == 400, e.status_code
        assert b"dimension" in e.content, e.content
    try:
        client.query_points("no-such-collection", query=[0.0] * DIM)
        raise AssertionError("query on a missing collection succeeded")
    except UnexpectedResponse as e:
        assert e.status_code == 404, e.status_code
    assert client.count(name).count == 0


def named_config():
    """A default 4-d Dot vector, `title` (3-d Cosine) and sparse `kw` (idf)."""
    return dict(
        vectors_config={
            "": models.VectorParams(size=4, distance=models.Distance.DOT),
            "title": models.VectorParams(size=3, distance=models.Distance.COSINE, hnsw_config=models.HnswConfigDiff(m=8)),
        },
        sparse_vectors_config={"kw": models.SparseVectorParams(modifier=models.Modifier.IDF)},
    )


def named_points(rng, n):
    points = []
    for i in range(n):
        vector = {}
        if i % 3 != 0:
            vector[""] = rng.standard_normal(4).astype(np.float32).tolist()
        if i % 2 == 0:
            vector["title"] = rng.standard_normal(3).astype(np.float32).tolist()
        if i % 4 != 1:
            idx = sorted(rng.choice(1000, size=5, replace=False).tolist())
            vector["kw"] = models.SparseVector(indices=idx, values=rng.uniform(0.1, 1, 5).astype(np.float32).tolist())
        points.append(models.PointStruct(id=i, vector=vector, payload={"i": i}))
    return points


def same_vectors(got, want, label):
    """Records' vectors equal (dense within float32 rounding), name by name."""
    if isinstance(want, list):
        assert isinstance(got, list), f"{label}: {got!r} is not a list"
        assert np.allclose(got, want, atol=1e-6), f"{label}: {got} != {want}"
        return
    assert isinstance(got, dict), f"{label}: {got!r} is not a dict"
    assert set(got) == set(want), f"{label}: names {sorted(got)} != {sorted(want)}"
    for name, w in want.items():
        g = got[name]
        if isinstance(w, models.SparseVector):
            order = np.argsort(w.indices)
            assert g.indices == [w.indices[j] for j in order], f"{label}/{name}: {g.indices}"
            assert np.allclose(g.values, np.array(w.values)[order], atol=1e-6), f"{label}/{name}"
        else:
            assert np.allclose(g, w, atol=1e-6), f"{label}/{name}: {g} != {w}"


def stored(vector, config):
    """What a server stores for `vector`: Cosine vectors normalised."""
    out = {}
    for name, v in vector.items():
        if isinstance(v, list) and config["vectors_config"][name].distance == models.Distance.COSINE:
            v = (np.array(v, dtype=np.float64) / np.linalg.norm(v)).tolist()
        out[name] = v
    return out


def test_named_and_sparse_vectors_match_local_mode(client, data, name):
    """Create, upsert (list and batch forms), retrieve, scroll and info of a
    collection with named dense and sparse vectors, against local mode."""
    config = named_config()
    local = QdrantClient(":memory:")
    for c in (client, local):
        c.create_collection(name, **config)
    rng = np.random.default_rng(SEED + 1)
    points = named_points(rng, 40)
    for c in (client, local):
        c.upsert(name, points=points[:30], wait=True)
        # The batch form with named columns: every point gives every vector here.
        batch = points[30:]
        for p in batch:
            p.vector.setdefault("", [0.5, 0.5, 0.5, 0.5])
            p.vector.setdefault("title", [1.0, 0.0, 0.0])
            p.vector.setdefault("kw", models.SparseVector(indices=[1], values=[1.0]))
        c.upsert(
            name,
            points=models.Batch(
                ids=[p.id for p in batch],
                vectors={n: [p.vector[n] for p in batch] for n in ("", "title", "kw")},
                payloads=[p.payload for p in batch],
            ),
            wait=True,
        )
    assert client.count(name).count == 40
    ids = list(range(40))
    for with_vectors in (True, ["kw"], ["title", ""], [""]):
        got = client.retrieve(name, ids, with_vectors=with_vectors)
        want = local.retrieve(name, ids, with_vectors=with_vectors)
        assert [r.id for r in got] == [r.id for r in want]
        for g, w in zip(got, want):
            same_vectors(g.vector, w.vector, f"point {g.id} with_vectors={with_vectors}")
    got = client.retrieve(name, [0], with_vectors=False)
    assert got[0].vector is None
    page, _ = client.scroll(name, limit=40, with_vectors=["kw"])
    want, _ = local.scroll(name, limit=40, with_vectors=["kw"])
    for g, w in zip(page, want):
        same_vectors(g.vector, w.vector, f"scroll point {g.id}")
    # And against an exact computation: what was sent, Cosine normalised.
    for r in client.retrieve(name, ids[:30], with_vectors=True):
        want = stored(points[r.id].vector, config)
        if list(want) == [""]:
            want = want[""]
        same_vectors(r.vector, want, f"point {r.id} as sent")

    info = client.get_collection(name)
    vectors = info.config.params.vectors
    assert set(vectors) == {"", "title"}, vectors
    assert vectors["title"].size == 3 and vectors["title"].distance == models.Distance.COSINE
    assert vectors["title"].hnsw_config.m == 8
    assert info.config.params.sparse_vectors["kw"].modifier == models.Modifier.IDF
    assert info.points_count == 40


def test_update_and_delete_vectors_match_local_mode(client, data, name):
    config = named_config()
    local = QdrantClient(":memory:")
    rng = np.random.default_rng(SEED + 2)
    points = named_points(rng, 12)
    for c in (client, local):
        c.create_collection(name, **config)
        c.upsert(name, points=points, wait=True)
        c.update_vectors(
            name,
            points=[
                models.PointVectors(id=0, vector={"title": [0.0, 2.0, 0.0]}),
                models.PointVectors(id=1, vector={"": [1.0, 2.0, 3.0, 4.0], "kw": models.SparseVector(indices=[7, 3], values=[0.7, 0.3])}),
                models.PointVectors(id=5, vector={"title": [1.0, 1.0, 0.0]}),
            ],
            wait=True,
        )
        c.delete_vectors(name, vectors=["kw"], points=[2, 3, 4], wait=True)
        c.delete_vectors(
            name,
            vectors=["title", ""],
            points=models.Filter(must=[models.FieldCondition(key="i", range=models.Range(gte=9))]),
            wait=True,
        )
    ids = list(range(12))
    got = client.retrieve(name, ids, with_vectors=True, with_payload=True)
    want = local.retrieve(name, ids, with_vectors=True, with_payload=True)
    for g, w in zip(got, want):
        same_vectors(g.vector, w.vector, f"point {g.id}")
        assert g.payload == w.payload, (g.payload, w.payload)
    # Mistakes are 4xx and change nothing.
    for call, status in (
        (lambda: client.update_vectors(name, points=[models.PointVectors(id=99, vector={"title": [1.0, 0.0, 0.0]})], wait=True), 404),
        (lambda: client.update_vectors(name, points=[models.PointVectors(id=0, vector={"title": [1.0]})], wait=True), 400),
        (lambda: client.delete_vectors(name, vectors=["nope"], points=[0], wait=True), 400),
        (
            lambda: client.upsert(
                name,
                points=[models.PointStruct(id=0, vector={"kw": models.SparseVector(indices=[1, 1], values=[1.0, 2.0])})],
                wait=True,
            ),
            400,
        ),
    ):
        try:
            call()
            raise AssertionError("accepted")
        except UnexpectedResponse as e:
            assert e.status_code == status, (e.status_code, e.content)
    after = client.retrieve(name, ids, with_vectors=True, with_payload=True)
    for g, w in zip(after, got):
        same_vectors(g.vector, w.vector if isinstance(w.vector, list) else dict(w.vector), f"point {g.id} after errors")


def test_upload_collection_and_points_with_named_vectors(client, data, name):
    config = named_config()
    client.create_collection(name, **config)
    rng = np.random.default_rng(SEED + 3)
    dense = rng.standard_normal((50, 4)).astype(np.float32)
    titles = rng.standard_normal((50, 3)).astype(np.float32)
    client.upload_collection(
        name,
        vectors={"": dense, "title": titles},
        payload=[{"n": i} for i in range(50)],
        ids=list(range(50)),
        batch_size=16,
        wait=True,
    )
    client.upload_points(
        name,
        points=[
            models.PointStruct(id=100 + i, vector={"kw": models.SparseVector(indices=[i, i + 1], values=[1.0, 0.5])})
            for i in range(20)
        ],
        batch_size=7,
        wait=True,
    )
    assert client.count(name).count == 70
    got = client.retrieve(name, [3, 104], with_vectors=True)
    same_vectors(got[0].vector, {"": dense[3].tolist(), "title": (titles[3] / np.linalg.norm(titles[3])).tolist()}, "point 3")
    same_vectors(got[1].vector, {"kw": models.SparseVector(indices=[4, 5], values=[1.0, 0.5])}, "point 104")


TESTS = [v for k, v in sorted(globals().items()) if k.startswith("test_")]


def test_bm25_documents_are_embedded_by_the_server(url, name):
    """A `models.Document` of `qdrant/bm25` sent to the server (the
    client's cloud inference) gives the sparse vector core's BM25 makes:
    checked here against the reference formula on one small text."""
    client = QdrantClient(url=url, prefer_grpc=False, check_compatibility=False, cloud_inference=True)
    try:
        client.create_collection(
            name, vectors_config={}, sparse_vectors_config={"bm25": models.SparseVectorParams(modifier=models.Modifier.IDF)}
        )
        client.upsert(
            name,
            points=[
                models.PointStruct(id=1, vector={"bm25": models.Document(text="Fish fish", model="Qdrant/bm25")}),
                models.PointStruct(
                    id=2, vector={"bm25": models.Document(text="fish", model="qdrant/bm25", options={"k": 2.0, "b": 0.0})}
                ),
            ],
            wait=True,
        )
        one, two = client.retrieve(name, [1, 2], with_vectors=True)
        # "fish" twice in a 2-word document: tf (k+1) / (tf + k (1 - b + b len/avg_len)).
        k, b, avg = 1.2, 0.75, 256.0
        want = 2 * (k + 1) / (2 + k * (1 - b + b * 2 / avg))
        assert len(one.vector["bm25"].indices) == 1, one.vector
        assert abs(one.vector["bm25"].values[0] - want) < 1e-5, (one.vector, want)
        # k 2, b 0, tf 1: 1 * 3 / (1 + 2) = 1.
        assert two.vector["bm25"].indices == one.vector["bm25"].indices
        assert abs(two.vector["bm25"].values[0] - 1.0) < 1e-6, two.vector
        try:
            client.upsert(name, points=[models.PointStruct(id=3, vector={"bm25": models.Document(text="x", model="bert")})])
            raise AssertionError("unknown model accepted")
        except UnexpectedResponse as e:
            assert e.status_code == 400 and b"bert" in e.content, e.content
        assert client.count(name).count == 2
    finally:
        client.delete_collection(name)
        client.close()


def test_api_keys(binary):
    server = Server(binary, "--api-key", "interop-secret", "--read-only-api-key", "interop-reader")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "api key over insecure connection"
            admin = QdrantClient(url=server.url, api_key="interop-secret", prefer_grpc=False, check_compatibility=False)
            reader = QdrantClient(url=server.url, api_key="interop-reader", prefer_grpc=False, check_compatibility=False)
            anonymous = QdrantClient(url=server.url, prefer_grpc=False, check_compatibility=False)
        admin.create_collection("k", vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT))
        admin.upsert("k", points=[models.PointStruct(id=1, vector=[1.0, 0.0])], wait=True)
        assert [p.id for p in reader.query_points("k", query=[1.0, 0.0], limit=1).points] == [1]
        for who, call, status in (
            ("anonymous", lambda: anonymous.get_collections(), 401),
            ("reader", lambda: reader.upsert("k", points=[models.PointStruct(id=2, vector=[0.0, 1.0])]), 403),
            ("reader", lambda: reader.delete_collection("k"), 403),
        ):
            try:
                call()
                raise AssertionError(f"{who} call succeeded")
            except UnexpectedResponse as e:
                assert e.status_code == status, (who, e.status_code)
    finally:
        code = server.stop()
    assert code == 0, f"server exited with {code} after SIGTERM"


def test_version_check_passes(url):
    """The client's own compatibility check (on by default) finds nothing to warn about."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        QdrantClient(url=url, prefer_grpc=False).close()
    about_version = [str(w.message) for w in caught if "version" in str(w.message).lower()]
    assert not about_version, about_version


def main():
    binary = find_binary()
    data = Data()
    passed, failed = 0, 0
    server = Server(binary)
    client = QdrantClient(url=server.url, prefer_grpc=False, check_compatibility=False, timeout=60)
    try:
        try:
            test_version_check_passes(server.url)
            passed += 1
            print("ok      test_version_check_passes")
        except Exception:
            failed += 1
            print(f"FAILED  test_version_check_passes\n{traceback.format_exc()}")
        try:
            test_bm25_documents_are_embedded_by_the_server(server.url, "interop_bm25")
            passed += 1
            print("ok      test_bm25_documents_are_embedded_by_the_server")
        except Exception:
            failed += 1
            print(f"FAILED  test_bm25_documents_are_embedded_by_the_server\n{traceback.format_exc()}")
        for i, test in enumerate(TESTS):
            name = f"interop_{i}"
            try:
                test(client, data, name)
                passed += 1
                print(f"ok      {test.__name__}")
            except Exception:
                failed += 1
                print(f"FAILED  {test.__name__}\n{traceback.format_exc()}")
            finally:
                try:
                    client.delete_collection(name)
                except Exception:
                    pass
    finally:
        code = server.stop()
    if code == 0:
        passed += 1
        print("ok      test_sigterm_exits_cleanly")
    else:
        failed += 1
        print(f"FAILED  test_sigterm_exits_cleanly: exit code {code}")
    try:
        test_api_keys(binary)
        passed += 1
        print("ok      test_api_keys")
    except Exception:
        failed += 1
        print(f"FAILED  test_api_keys\n{traceback.format_exc()}")
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
