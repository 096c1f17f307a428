"""The frameworks' modes beyond one unnamed dense vector, each answer
checked against an exact computation (frameworks_common.py):

- LangChain `QdrantVectorStore`: MMR (search, search by vector with
  scores, the `mmr` retriever, with a filter) against an exact MMR;
  `RetrievalMode.SPARSE` (add, search, filter, no overlap, get_by_ids,
  delete) against exact sparse dot products; `RetrievalMode.HYBRID`
  against an exact RRF (and DBSF) of the exact dense and sparse lists,
  with a filter, dense search by vector, MMR on the named dense vector,
  get_by_ids and delete.
- LlamaIndex `QdrantVectorStore(enable_hybrid=True)` with deterministic
  sparse_doc_fn / sparse_query_fn: VectorStoreIndex.from_documents,
  default (dense), sparse and hybrid query modes (hybrid fused on the
  client by LlamaIndex's relative score fusion of a /points/search/batch
  answer), MetadataFilters, insert, delete_ref_doc.
- Haystack `QdrantDocumentStore(use_sparse_embeddings=True)`: dense,
  `QdrantSparseEmbeddingRetriever`, `QdrantHybridRetriever` (RRF over
  prefetches without a limit, so Qdrant's default of 10), with filters,
  return_embedding, IDF (sparse_idf=True), and group_by / group_size on
  all three retrievers (and on a one-vector store).

Each family is a function of a frameworks_common.Target returning its
tests; test_frameworks.py runs them against quiver or local mode.
"""

import numpy as np
from qdrant_client import models

from frameworks_common import (
    EXTRA,
    QUERIES,
    SPARSE_QUERIES,
    TEXTS,
    DIM,
    check_groups,
    check_scored,
    check_sequence,
    check_top,
    cosine_fine,
    dbsf,
    dense_ranking,
    embed_fine,
    idf_query,
    mmr,
    ranked,
    relative_score_fusion,
    rrf,
    sparse_dot,
    sparse_embed,
    sparse_ranking,
)

KITTEN = ("a kitten chases a red ball", "pets")
NO_OVERLAP = "zebra xylophone quartz"
TOPIC = dict(TEXTS + EXTRA + [KITTEN])


def _lc_classes():
    from langchain_core.embeddings import Embeddings
    from langchain_qdrant import SparseEmbeddings, SparseVector

    class Hashed(Embeddings):
        def embed_documents(self, texts):
            return [embed_fine(t) for t in texts]

        def embed_query(self, text):
            return embed_fine(text)

    class HashedSparse(SparseEmbeddings):
        def embed_documents(self, texts):
            return [SparseVector(indices=i, values=v) for i, v in (sparse_embed(t) for t in texts)]

        def embed_query(self, text):
            i, v = sparse_embed(text, query=True)
            return SparseVector(indices=i, values=v)

    return Hashed, HashedSparse


def _lc_store(target, name, **kwargs):
    """A LangChain store over TEXTS, then EXTRA by add_documents and KITTEN
    by add_texts, with metadata {topic, n}; returns (store, pool, ids)."""
    from langchain_core.documents import Document
    from langchain_qdrant import QdrantVectorStore

    texts = [t for t, _ in TEXTS]
    ids = [f"00000000-0000-0000-0000-{i:012d}" for i in range(len(TEXTS))]
    store = QdrantVectorStore.from_texts(
        texts, metadatas=[{"topic": topic, "n": i} for i, (_, topic) in enumerate(TEXTS)], ids=ids,
        collection_name=name, force_recreate=True, **target.where(), **kwargs,
    )
    extra_ids = [f"00000000-0000-0000-0001-{i:012d}" for i in range(len(EXTRA))]
    store.add_documents(
        [Document(page_content=t, metadata={"topic": topic, "n": 100 + i}) for i, (t, topic) in enumerate(EXTRA)],
        ids=extra_ids,
    )
    store.add_texts([KITTEN[0]], metadatas=[{"topic": KITTEN[1], "n": 200}], ids=["00000000-0000-0000-0002-000000000000"])
    pool = texts + [t for t, _ in EXTRA] + [KITTEN[0]]
    return store, pool, ids + extra_ids + ["00000000-0000-0000-0002-000000000000"]


def _topic_filter(*topics):
    if len(topics) == 1:
        return models.Filter(must=[models.FieldCondition(key="metadata.topic", match=models.MatchValue(value=topics[0]))])
    return models.Filter(must=[models.FieldCondition(key="metadata.topic", match=models.MatchAny(any=list(topics)))])


def _check_mmr_store(store, pool, label):
    """MMR through the store against the exact MMR; returns how many
    answers differ from the plain top-k (a server ignoring `mmr` gives 0)."""
    reordered = 0
    for q in QUERIES:
        for lam in (0.0, 0.3, 0.5, 1.0):
            for k, fetch_k in ((4, 10), (3, 6)):
                where = f"{label} {q!r} lambda_mult {lam} k {k} fetch_k {fetch_k}"
                candidates = [t for _, t in dense_ranking(q, pool, fetch_k, where)]
                # langchain-qdrant sends Mmr(diversity=lambda_mult).
                want = mmr(embed_fine(q), candidates, lam, k, where)
                got = [(s, d.page_content) for d, s in store.max_marginal_relevance_search_with_score_by_vector(
                    embed_fine(q), k=k, fetch_k=fetch_k, lambda_mult=lam)]
                check_sequence(got, want, where)
                plain = [d.page_content for d in store.max_marginal_relevance_search(q, k=k, fetch_k=fetch_k, lambda_mult=lam)]
                assert plain == [t for _, t in want], f"{where}: {plain}"
                reordered += plain != candidates[:k]
    return reordered


# ---------------------------------------------------------------- LangChain


def langchain_mmr_tests(target):
    Hashed, _ = _lc_classes()
    store, pool, _ = _lc_store(target, "lc_mmr", embedding=Hashed())

    def test_mmr_exact():
        assert _check_mmr_store(store, pool, "mmr") > 0, "no MMR answer differs from the plain top-k"

    def test_mmr_retriever_exact():
        kwargs = {"k": 3, "fetch_k": 8, "lambda_mult": 0.25}
        for q in QUERIES:
            candidates = [t for _, t in dense_ranking(q, pool, 8, f"retriever {q!r}")]
            want = [t for _, t in mmr(embed_fine(q), candidates, 0.25, 3, f"retriever {q!r}")]
            got = [d.page_content for d in store.as_retriever(search_type="mmr", search_kwargs=kwargs).invoke(q)]
            assert got == want, f"mmr retriever {q!r}: {got} != {want}"

    def test_mmr_filtered_exact():
        flt = _topic_filter("fruit", "pets")
        sub = [t for t in pool if TOPIC[t] in ("fruit", "pets")]
        for q in QUERIES:
            where = f"filtered mmr {q!r}"
            candidates = [t for _, t in dense_ranking(q, sub, 7, where)]
            want = mmr(embed_fine(q), candidates, 0.6, 4, where)
            got = [(s, d.page_content) for d, s in store.max_marginal_relevance_search_with_score_by_vector(
                embed_fine(q), k=4, fetch_k=7, lambda_mult=0.6, filter=flt)]
            check_sequence(got, want, where)

    return [test_mmr_exact, test_mmr_retriever_exact, test_mmr_filtered_exact]


def langchain_sparse_tests(target):
    from langchain_qdrant import RetrievalMode

    _, HashedSparse = _lc_classes()
    store, pool, ids = _lc_store(target, "lc_sparse", sparse_embedding=HashedSparse(), retrieval_mode=RetrievalMode.SPARSE)

    def want_sparse(q, texts):
        qv = sparse_embed(q, query=True)
        return {t: s for t in texts if (s := sparse_dot(qv, sparse_embed(t))) is not None}

    def test_sparse_search():
        for q in SPARSE_QUERIES:
            for k in (3, 6):
                got = [(s, d.page_content) for d, s in store.similarity_search_with_score(q, k=k)]
                check_scored(got, want_sparse(q, pool), k, f"sparse {q!r} k {k}")
                plain = [d.page_content for d in store.similarity_search(q, k=k)]
                assert plain == [t for _, t in got], (plain, got)

    def test_sparse_filter():
        for topic in ("pets", "code"):
            sub = [t for t in pool if TOPIC[t] == topic]
            for q in SPARSE_QUERIES:
                got = [(s, d.page_content) for d, s in store.similarity_search_with_score(q, k=3, filter=_topic_filter(topic))]
                check_scored(got, want_sparse(q, sub), 3, f"sparse filtered {topic} {q!r}")

    def test_reopen_validates_config():
        from langchain_qdrant import QdrantVectorStore
        from langchain_qdrant.qdrant import QdrantVectorStoreError

        again = QdrantVectorStore(client=store.client, collection_name="lc_sparse", retrieval_mode=RetrievalMode.SPARSE,
                                  sparse_embedding=HashedSparse())
        q = SPARSE_QUERIES[2]
        check_scored([(s, d.page_content) for d, s in again.similarity_search_with_score(q, k=4)], want_sparse(q, pool), 4, "reopened")
        Hashed, _ = _lc_classes()
        try:
            QdrantVectorStore(client=store.client, collection_name="lc_sparse", retrieval_mode=RetrievalMode.DENSE, embedding=Hashed())
        except QdrantVectorStoreError:
            return
        raise AssertionError("a sparse-only collection opened in DENSE mode")

    def test_sparse_no_overlap():
        assert want_sparse(NO_OVERLAP, pool) == {}
        assert store.similarity_search_with_score(NO_OVERLAP, k=5) == []

    def test_sparse_get_by_ids_and_delete():
        docs = store.get_by_ids([ids[2], ids[12], "00000000-0000-0000-0009-000000000000"])
        got = {d.metadata["_id"]: (d.page_content, d.metadata["topic"], d.metadata["n"]) for d in docs}
        assert got == {ids[2]: (TEXTS[2][0], "fruit", 2), ids[12]: (EXTRA[0][0], "fruit", 100)}, got
        assert store.delete(ids=[ids[1], ids[2]])
        assert store.get_by_ids([ids[1], ids[2]]) == []
        left = [t for t in pool if t not in (TEXTS[1][0], TEXTS[2][0])]
        for q in SPARSE_QUERIES:
            got = [(s, d.page_content) for d, s in store.similarity_search_with_score(q, k=20)]
            check_scored(got, want_sparse(q, left), 20, f"sparse after delete {q!r}")

    return [test_sparse_search, test_sparse_filter, test_reopen_validates_config, test_sparse_no_overlap, test_sparse_get_by_ids_and_delete]


def langchain_hybrid_tests(target):
    from langchain_qdrant import RetrievalMode

    Hashed, HashedSparse = _lc_classes()
    store, pool, ids = _lc_store(
        target, "lc_hybrid", embedding=Hashed(), sparse_embedding=HashedSparse(), retrieval_mode=RetrievalMode.HYBRID,
    )

    def check_hybrid(texts, label, fusion=None, **kwargs):
        for q in SPARSE_QUERIES:
            for k in (3, 5):
                where = f"{label} {q!r} k {k}"
                # Both prefetches have limit k and the filter; then fusion, limit k.
                dense = dense_ranking(q, texts, k, where)
                sparse = sparse_ranking(q, texts, k, where)
                want = (dbsf if fusion == models.Fusion.DBSF else rrf)([dense, sparse])
                extra = {"hybrid_fusion": models.FusionQuery(fusion=fusion)} if fusion else {}
                got = [(s, d.page_content) for d, s in store.similarity_search_with_score(q, k=k, **extra, **kwargs)]
                check_scored(got, want, k, where)

    def test_hybrid_rrf():
        check_hybrid(pool, "hybrid rrf")

    def test_hybrid_dbsf():
        check_hybrid(pool, "hybrid dbsf", fusion=models.Fusion.DBSF)

    def test_hybrid_filter():
        sub = [t for t in pool if TOPIC[t] == "pets"]
        check_hybrid(sub, "hybrid filtered", filter=_topic_filter("pets"))

    def test_reopen_validates_config():
        # A store over the existing collection validates it by its info:
        # dense vector "" and sparse "langchain-sparse" must be listed.
        from langchain_qdrant import QdrantVectorStore
        from langchain_qdrant.qdrant import QdrantVectorStoreError

        again = QdrantVectorStore(
            client=store.client, collection_name="lc_hybrid", embedding=Hashed(),
            sparse_embedding=HashedSparse(), retrieval_mode=RetrievalMode.HYBRID,
        )
        q = SPARSE_QUERIES[0]
        want = rrf([dense_ranking(q, pool, 4, "reopened"), sparse_ranking(q, pool, 4, "reopened")])
        check_scored([(s, d.page_content) for d, s in again.similarity_search_with_score(q, k=4)], want, 4, "reopened")
        QdrantVectorStore(client=store.client, collection_name="lc_hybrid", retrieval_mode=RetrievalMode.DENSE, embedding=Hashed())
        QdrantVectorStore(client=store.client, collection_name="lc_hybrid", retrieval_mode=RetrievalMode.SPARSE, sparse_embedding=HashedSparse())
        for mode, kwargs in (
            (RetrievalMode.SPARSE, {"sparse_embedding": HashedSparse(), "sparse_vector_name": "other"}),
            (RetrievalMode.DENSE, {"embedding": Hashed(), "vector_name": "other"}),
        ):
            try:
                QdrantVectorStore(client=store.client, collection_name="lc_hybrid", retrieval_mode=mode, **kwargs)
            except QdrantVectorStoreError:
                continue
            raise AssertionError(f"lc_hybrid opened as {mode} {kwargs} without a QdrantVectorStoreError")

    def test_dense_by_vector_on_named():
        for q in QUERIES:
            got = [(s, d.page_content) for d, s in store.similarity_search_with_score_by_vector(embed_fine(q), k=4)]
            check_top(got, q, pool, 4, f"dense by vector {q!r}", sim=cosine_fine)

    def test_mmr_on_named_dense():
        assert _check_mmr_store(store, pool, "hybrid-store mmr") > 0

    def test_hybrid_get_by_ids_and_delete():
        docs = store.get_by_ids([ids[5], ids[13]])
        got = {d.metadata["_id"]: (d.page_content, d.metadata["topic"]) for d in docs}
        assert got == {ids[5]: (TEXTS[5][0], "pets"), ids[13]: (EXTRA[1][0], "pets")}, got
        assert store.delete(ids=[ids[5], ids[13]])
        assert store.get_by_ids([ids[5], ids[13]]) == []
        check_hybrid([t for t in pool if t not in (TEXTS[5][0], EXTRA[1][0])], "hybrid after delete")

    return [test_hybrid_rrf, test_hybrid_dbsf, test_hybrid_filter, test_reopen_validates_config, test_dense_by_vector_on_named,
            test_mmr_on_named_dense, test_hybrid_get_by_ids_and_delete]


# ---------------------------------------------------------------- LlamaIndex


def llamaindex_hybrid_tests(target):
    from llama_index.core import Document, Settings, StorageContext, VectorStoreIndex
    from llama_index.core.embeddings import BaseEmbedding
    from llama_index.core.vector_stores import ExactMatchFilter, MetadataFilters
    from llama_index.vector_stores.qdrant import QdrantVectorStore

    class Hashed(BaseEmbedding):
        def _get_text_embedding(self, text):
            return embed_fine(text)

        def _get_query_embedding(self, query):
            return embed_fine(query)

        async def _aget_query_embedding(self, query):
            return embed_fine(query)

    def sparse_docs(texts):
        vecs = [sparse_embed(t) for t in texts]
        return [i for i, _ in vecs], [v for _, v in vecs]

    def sparse_query(texts):
        vecs = [sparse_embed(t, query=True) for t in texts]
        return [i for i, _ in vecs], [v for _, v in vecs]

    Settings.embed_model = Hashed()
    Settings.llm = None
    store = QdrantVectorStore(
        client=target.client(), collection_name="li_hybrid", enable_hybrid=True,
        sparse_doc_fn=sparse_docs, sparse_query_fn=sparse_query,
    )

    def document(text, topic, doc_id):
        return Document(text=text, metadata={"topic": topic}, doc_id=doc_id, excluded_embed_metadata_keys=["topic"])

    index = VectorStoreIndex.from_documents(
        [document(t, topic, f"doc-{i}") for i, (t, topic) in enumerate(TEXTS)],
        storage_context=StorageContext.from_defaults(vector_store=store),
    )
    stored = [t for t, _ in TEXTS]

    def retrieved(q, filters=None, **kwargs):
        nodes = index.as_retriever(filters=filters, **kwargs).retrieve(q)
        return [(n.score, n.node.get_content()) for n in nodes]

    def check_modes(texts, label, filters=None):
        for q in SPARSE_QUERIES:
            check_top(retrieved(q, filters, similarity_top_k=3), q, texts, 3, f"{label} default {q!r}", sim=cosine_fine)
            qv = sparse_embed(q, query=True)
            want_sparse = {t: s for t in texts if (s := sparse_dot(qv, sparse_embed(t))) is not None}
            got = retrieved(q, filters, vector_store_query_mode="sparse", sparse_top_k=4)
            check_scored(got, want_sparse, 4, f"{label} sparse {q!r}")
            for dense_k, sparse_k, hybrid_k, alpha in ((4, 5, 3, None), (3, 6, 4, 0.3), (5, 3, 5, 0.8)):
                where = f"{label} hybrid {q!r} {dense_k}/{sparse_k}/{hybrid_k} alpha {alpha}"
                want, n = relative_score_fusion(
                    dense_ranking(q, texts, dense_k, where), sparse_ranking(q, texts, sparse_k, where),
                    0.5 if alpha is None else alpha, hybrid_k,
                )
                got = retrieved(q, filters, vector_store_query_mode="hybrid", similarity_top_k=dense_k,
                                sparse_top_k=sparse_k, hybrid_top_k=hybrid_k, alpha=alpha)
                check_scored(got, want, n, where)

    def test_query_modes():
        check_modes(stored, "from_documents")

    def test_metadata_filters():
        filters = MetadataFilters(filters=[ExactMatchFilter(key="topic", value="fruit")])
        check_modes([t for t in stored if TOPIC[t] == "fruit"], "filtered", filters)

    def test_reopen():
        # A store over the existing collection reads its vector names from
        # the collection info (a dict of named vectors without "", and the
        # sparse name): anything else switches it to legacy names.
        again = QdrantVectorStore(
            client=store.client, collection_name="li_hybrid", enable_hybrid=True,
            sparse_doc_fn=sparse_docs, sparse_query_fn=sparse_query,
        )
        again._detect_vector_format("li_hybrid")
        assert (again.dense_vector_name, again.sparse_vector_name) == ("text-dense", "text-sparse-new"), (
            again.dense_vector_name, again.sparse_vector_name)
        assert not again._legacy_vector_format
        q = SPARSE_QUERIES[1]
        want, n = relative_score_fusion(dense_ranking(q, stored, 4, "reopen"), sparse_ranking(q, stored, 4, "reopen"), 0.5, 3)
        nodes = VectorStoreIndex.from_vector_store(again).as_retriever(
            vector_store_query_mode="hybrid", similarity_top_k=4, sparse_top_k=4, hybrid_top_k=3).retrieve(q)
        check_scored([(x.score, x.node.get_content()) for x in nodes], want, n, "reopened hybrid")

    def test_insert():
        for i, (t, topic) in enumerate(EXTRA):
            index.insert(document(t, topic, f"extra-{i}"))
        stored.extend(t for t, _ in EXTRA)
        check_modes(stored, "after insert")

    def test_delete_ref_doc():
        index.delete_ref_doc("doc-1", delete_from_docstore=True)
        index.delete_ref_doc("extra-0", delete_from_docstore=True)
        stored.remove(TEXTS[1][0])
        stored.remove(EXTRA[0][0])
        check_modes(stored, "after delete")

    return [test_query_modes, test_metadata_filters, test_reopen, test_insert, test_delete_ref_doc]


# ---------------------------------------------------------------- Haystack

# Ten documents: Haystack's hybrid prefetches carry no limit, so Qdrant's
# default prefetch limit (10) covers them all.
HS_TEXTS = TEXTS[0:7] + TEXTS[8:11]


def _hs_store(target, index, sparse=True, **kwargs):
    from haystack import Document
    from haystack.dataclasses import SparseEmbedding
    from haystack_integrations.document_stores.qdrant import QdrantDocumentStore

    store = QdrantDocumentStore(
        index=index, embedding_dim=DIM, similarity="cosine", recreate_index=True, progress_bar=False,
        wait_result_from_api=True, use_sparse_embeddings=sparse, **target.where(), **kwargs,
    )
    docs = []
    for i, (t, topic) in enumerate(HS_TEXTS):
        extra = {"sparse_embedding": SparseEmbedding(*sparse_embed(t))} if sparse else {}
        docs.append(Document(id=f"s{i}", content=t, meta={"topic": topic, "n": i}, embedding=embed_fine(t), **extra))
    assert store.write_documents(docs) == len(docs)
    return store


def _hs_sparse_query(q):
    from haystack.dataclasses import SparseEmbedding

    return SparseEmbedding(*sparse_embed(q, query=True))


def _got(result):
    return [(d.score, d.content) for d in result["documents"]]


def _want_sparse(q, texts, qvec=None):
    qv = qvec if qvec is not None else sparse_embed(q, query=True)
    return {t: s for t in texts if (s := sparse_dot(qv, sparse_embed(t))) is not None}


def _want_rrf(q, texts):
    # No prefetch limit: Qdrant's default, 10, which is all of HS_TEXTS.
    return rrf([dense_ranking(q, texts, 10, f"hs rrf {q!r}"), sparse_ranking(q, texts, 10, f"hs rrf {q!r}")])


def haystack_sparse_tests(target):
    from haystack_integrations.components.retrievers.qdrant import (
        QdrantEmbeddingRetriever,
        QdrantHybridRetriever,
        QdrantSparseEmbeddingRetriever,
    )

    store = _hs_store(target, "hs_sparse")
    texts = [t for t, _ in HS_TEXTS]
    code = {"field": "meta.topic", "operator": "==", "value": "code"}
    code_texts = [t for t in texts if TOPIC[t] == "code"]

    def test_count():
        assert store.count_documents() == len(texts), store.count_documents()

    def test_dense_on_named():
        r = QdrantEmbeddingRetriever(document_store=store, top_k=4)
        for q in QUERIES:
            check_top(_got(r.run(query_embedding=embed_fine(q))), q, texts, 4, f"dense {q!r}", sim=cosine_fine)
            check_top(_got(r.run(query_embedding=embed_fine(q), filters=code)), q, code_texts, 3, f"dense filtered {q!r}", sim=cosine_fine)

    def test_sparse_retriever():
        r = QdrantSparseEmbeddingRetriever(document_store=store, top_k=4)
        for q in SPARSE_QUERIES:
            check_scored(_got(r.run(query_sparse_embedding=_hs_sparse_query(q))), _want_sparse(q, texts), 4, f"sparse {q!r}")
            got = _got(r.run(query_sparse_embedding=_hs_sparse_query(q), filters=code, top_k=2))
            check_scored(got, _want_sparse(q, code_texts), 2, f"sparse filtered {q!r}")
        assert _got(r.run(query_sparse_embedding=_hs_sparse_query(NO_OVERLAP))) == []

    def test_hybrid_retriever():
        r = QdrantHybridRetriever(document_store=store, top_k=3)
        for q in SPARSE_QUERIES:
            got = _got(r.run(query_embedding=embed_fine(q), query_sparse_embedding=_hs_sparse_query(q)))
            check_scored(got, _want_rrf(q, texts), 3, f"hybrid {q!r}")
            got = _got(r.run(query_embedding=embed_fine(q), query_sparse_embedding=_hs_sparse_query(q), filters=code, top_k=5))
            check_scored(got, _want_rrf(q, code_texts), 5, f"hybrid filtered {q!r}")

    def test_return_embedding():
        r = QdrantSparseEmbeddingRetriever(document_store=store, top_k=10, return_embedding=True)
        docs = r.run(query_sparse_embedding=_hs_sparse_query("the fruit in the park"))["documents"]
        assert docs, "no hits"
        for d in docs:
            assert max(abs(a - b) for a, b in zip(d.embedding, embed_fine(d.content))) < 1e-6, d.id
            i, v = sparse_embed(d.content)
            assert d.sparse_embedding is not None, d.id
            # Values go out as float32 (a Rust server prints the shortest
            # float32 form; local mode hands back the Python floats).
            got = (list(d.sparse_embedding.indices), [np.float32(x) for x in d.sparse_embedding.values])
            assert got == (i, [np.float32(x) for x in v]), (d.id, got)
        got = {d.id: (d.content, d.meta) for d in store.get_documents_by_id(["s1", "s9"])}
        assert got == {"s1": (texts[1], {"topic": "fruit", "n": 1}), "s9": (texts[9], {"topic": "code", "n": 9})}, got

    def test_reopen_validates_collection():
        # Haystack checks an existing collection by its info: named vectors
        # with "text-dense" (size, distance) for a sparse store, one unnamed
        # vector otherwise. Local mode cannot share a ":memory:" database
        # between two stores: a server-only test.
        from haystack_integrations.document_stores.qdrant import QdrantDocumentStore
        from haystack_integrations.components.retrievers.qdrant import QdrantHybridRetriever

        if target.local:
            return

        def reopen(index, sparse):
            return QdrantDocumentStore(
                index=index, embedding_dim=DIM, similarity="cosine", recreate_index=False, progress_bar=False,
                use_sparse_embeddings=sparse, **target.where(),
            )

        again = reopen("hs_sparse", True)
        assert again.count_documents() == len(texts)
        q = SPARSE_QUERIES[0]
        got = _got(QdrantHybridRetriever(document_store=again, top_k=4).run(
            query_embedding=embed_fine(q), query_sparse_embedding=_hs_sparse_query(q)))
        check_scored(got, _want_rrf(q, texts), 4, "reopened hybrid")
        # A one-vector store of its own: reopening it with sparse
        # embeddings must be refused.
        QdrantDocumentStore(
            index="hs_plain", embedding_dim=DIM, similarity="cosine", recreate_index=True,
            progress_bar=False, use_sparse_embeddings=False, **target.where(),
        ).count_documents()
        for index, sparse in (("hs_sparse", False), ("hs_plain", True)):
            try:
                reopen(index, sparse).count_documents()
            except Exception as e:
                assert "already exists" in str(e), e
                continue
            raise AssertionError(f"{index} opened with use_sparse_embeddings={sparse}")

    def test_group_by():
        topic = TOPIC.__getitem__
        dense = QdrantEmbeddingRetriever(document_store=store, top_k=2, group_by="meta.topic", group_size=2)
        sparse = QdrantSparseEmbeddingRetriever(document_store=store, top_k=2, group_by="meta.topic", group_size=2)
        hybrid = QdrantHybridRetriever(document_store=store, top_k=3, group_by="meta.topic", group_size=2)
        for q in SPARSE_QUERIES:
            want_dense = {t: cosine_fine(q, t) for t in texts}
            check_groups(_got(dense.run(query_embedding=embed_fine(q))), want_dense, topic, 2, 2, f"dense groups {q!r}")
            # group_size from run(); the default group size (3) when none is given.
            check_groups(_got(dense.run(query_embedding=embed_fine(q), top_k=3, group_size=1)), want_dense, topic, 1, 3, f"dense groups 1 {q!r}")
            plain = QdrantEmbeddingRetriever(document_store=store, top_k=3, group_by="meta.topic")
            check_groups(_got(plain.run(query_embedding=embed_fine(q))), want_dense, topic, 3, 3, f"dense groups default {q!r}")
            check_groups(_got(sparse.run(query_sparse_embedding=_hs_sparse_query(q))), _want_sparse(q, texts), topic, 2, 2, f"sparse groups {q!r}")
            if target.local:
                # qdrant-client 1.15.1's local query_points_groups replaces
                # each prefetch by Prefetch(limit=N) with no query, `using`
                # or filter (set_prefetch_limit_recursively), so it fuses
                # two lists in id order: no reference for this one.
                continue
            got = _got(hybrid.run(query_embedding=embed_fine(q), query_sparse_embedding=_hs_sparse_query(q)))
            check_groups(got, _want_rrf(q, texts), topic, 2, 3, f"hybrid groups {q!r}")

    return [test_count, test_dense_on_named, test_sparse_retriever, test_hybrid_retriever, test_return_embedding, test_group_by, test_reopen_validates_collection]


def haystack_idf_tests(target):
    from haystack_integrations.components.retrievers.qdrant import QdrantSparseEmbeddingRetriever

    store = _hs_store(target, "hs_idf", sparse_idf=True)
    texts = [t for t, _ in HS_TEXTS]
    doc_vecs = [sparse_embed(t) for t in texts]

    def test_sparse_idf():
        r = QdrantSparseEmbeddingRetriever(document_store=store, top_k=5)
        for q in SPARSE_QUERIES:
            qv = idf_query(sparse_embed(q, query=True), doc_vecs)
            check_scored(_got(r.run(query_sparse_embedding=_hs_sparse_query(q))), _want_sparse(q, texts, qv), 5, f"idf {q!r}")

    def test_sparse_idf_after_delete():
        store.delete_documents(["s0", "s4"])
        left = [t for i, t in enumerate(texts) if i not in (0, 4)]
        # Qdrant's IDF is of the points there are: N and the document
        # frequencies both without the deleted ones. (qdrant-client 1.15.1's
        # local mode forgets to take deleted points out of the document
        # frequencies, N = the live points: checked as such there.)
        vecs = [sparse_embed(t) for t in left]
        df_vecs = doc_vecs if target.local else vecs
        r = QdrantSparseEmbeddingRetriever(document_store=store, top_k=5)
        for q in SPARSE_QUERIES:
            qv = idf_query(sparse_embed(q, query=True), df_vecs, n=len(left))
            check_scored(_got(r.run(query_sparse_embedding=_hs_sparse_query(q))), _want_sparse(q, left, qv), 5, f"idf after delete {q!r}")

    return [test_sparse_idf, test_sparse_idf_after_delete]


def haystack_groups_tests(target):
    from haystack_integrations.components.retrievers.qdrant import QdrantEmbeddingRetriever

    store = _hs_store(target, "hs_groups", sparse=False)
    texts = [t for t, _ in HS_TEXTS]

    def test_group_by_one_vector():
        r = QdrantEmbeddingRetriever(document_store=store, top_k=2, group_by="meta.topic", group_size=2)
        flt = {"field": "meta.n", "operator": ">=", "value": 2}
        for q in QUERIES:
            check_groups(_got(r.run(query_embedding=embed_fine(q))), {t: cosine_fine(q, t) for t in texts}, TOPIC.__getitem__, 2, 2, f"groups {q!r}")
            sub = [t for i, t in enumerate(texts) if i >= 2]
            check_groups(_got(r.run(query_embedding=embed_fine(q), filters=flt, top_k=5)), {t: cosine_fine(q, t) for t in sub}, TOPIC.__getitem__, 2, 5, f"groups filtered {q!r}")

    return [test_group_by_one_vector]


MODE_FAMILIES = [
    langchain_mmr_tests,
    langchain_sparse_tests,
    langchain_hybrid_tests,
    llamaindex_hybrid_tests,
    haystack_sparse_tests,
    haystack_idf_tests,
    haystack_groups_tests,
]
