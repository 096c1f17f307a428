"""Interop test: the RAG frameworks' Qdrant vector stores, unchanged,
against a real `quiver serve`, with deterministic embeddings (hashed bags
of words), every answer checked against an exact computation here or
against the same calls on the official client's local mode
(`QdrantClient(":memory:")`).

- LangChain `QdrantVectorStore` (dense mode): from_texts, add_texts,
  add_documents with metadata, similarity_search(_with_score), a metadata
  filter, max_marginal_relevance_search and the `mmr` retriever,
  get_by_ids, delete.
- LlamaIndex `QdrantVectorStore` (dense mode): VectorStoreIndex over
  documents, insert, retrieval with MetadataFilters, delete_ref_doc.
- Haystack `QdrantDocumentStore` and `QdrantEmbeddingRetriever` (dense
  mode): write, count, retrieval with and without filters,
  filter_documents, get_documents_by_id, overwrite, delete.
- The other modes (frameworks_modes.py): LangChain MMR checked against an
  exact MMR, RetrievalMode.SPARSE and HYBRID (RRF, DBSF); LlamaIndex
  enable_hybrid (default, sparse and hybrid query modes); Haystack sparse,
  hybrid, IDF and group_by retrievers.

Run: .venv/bin/python tests/interop/test_frameworks.py [path/to/quiver]
     .venv/bin/python tests/interop/test_frameworks.py --local
         (the same checks against the official client's local mode: how
         the expected values were confirmed to be Qdrant's)
     -k SUBSTRING runs only the tests whose family.test name has it (with
         a dot, only the families whose name has the part before it);
     QUIVER_INTEROP_TRACE=file.jsonl appends every HTTP request the
         frameworks send (test, method, path, JSON body, status) to the file;
     frameworks_shapes.py prints the requests of the sparse, hybrid, MMR
         and grouped modes with no server at all.
Prints "N passed, M failed" last and exits non-zero on any failure.
"""

import os
import sys
import time
import traceback

from qdrant_client import models

from frameworks_common import DIM, EXTRA, QUERIES, TEXTS, Target, check_top, embed, trace_label
from frameworks_modes import MODE_FAMILIES
from harness import Server, find_binary


# ---------------------------------------------------------------- LangChain


def langchain_tests(target):
    from langchain_core.documents import Document
    from langchain_core.embeddings import Embeddings
    from langchain_qdrant import QdrantVectorStore

    class Hashed(Embeddings):
        def embed_documents(self, texts):
            return [embed(t) for t in texts]

        def embed_query(self, text):
            return embed(text)

    texts = [t for t, _ in TEXTS]
    metadatas = [{"topic": topic, "n": i} for i, (_, topic) in enumerate(TEXTS)]
    ids = [f"00000000-0000-0000-0000-{i:012d}" for i in range(len(TEXTS))]

    def stores():
        remote = QdrantVectorStore.from_texts(
            texts, Hashed(), metadatas=metadatas, ids=ids, **target.where(),
            collection_name="lc", force_recreate=True,
        )
        local = QdrantVectorStore.from_texts(
            texts, Hashed(), metadatas=metadatas, ids=ids, location=":memory:",
            collection_name="lc",
        )
        return remote, local

    remote, local = stores()
    extra_docs = [Document(page_content=t, metadata={"topic": topic, "n": 100 + i}) for i, (t, topic) in enumerate(EXTRA)]
    extra_ids = [f"00000000-0000-0000-0001-{i:012d}" for i in range(len(EXTRA))]
    for store in (remote, local):
        store.add_documents(extra_docs, ids=extra_ids)
        store.add_texts(["a kitten chases a red ball"], metadatas=[{"topic": "pets", "n": 200}], ids=["00000000-0000-0000-0002-000000000000"])
    everything = texts + [t for t, _ in EXTRA] + ["a kitten chases a red ball"]
    topic_of = {t: topic for t, topic in TEXTS + EXTRA}
    topic_of["a kitten chases a red ball"] = "pets"

    def test_similarity_search_with_score():
        for q in QUERIES:
            got = [(s, d.page_content) for d, s in remote.similarity_search_with_score(q, k=4)]
            check_top(got, q, everything, 4, f"similarity {q!r}")
            plain = [d.page_content for d in remote.similarity_search(q, k=4)]
            assert plain == [t for _, t in got], (plain, got)

    def test_metadata_filter():
        flt = models.Filter(must=[models.FieldCondition(key="metadata.topic", match=models.MatchValue(value="fruit"))])
        for q in QUERIES:
            got = [(s, d.page_content) for d, s in remote.similarity_search_with_score(q, k=3, filter=flt)]
            fruit = [t for t in everything if topic_of[t] == "fruit"]
            check_top(got, q, fruit, 3, f"filtered {q!r}")
            assert all(topic_of[t] == "fruit" for _, t in got)

    def test_max_marginal_relevance_matches_local_mode():
        reordered = 0
        for q in QUERIES:
            plain = [d.page_content for d in local.similarity_search(q, k=4)]
            for lam in (0.0, 0.3, 0.5, 1.0):
                got = [d.page_content for d in remote.max_marginal_relevance_search(q, k=4, fetch_k=10, lambda_mult=lam)]
                want = [d.page_content for d in local.max_marginal_relevance_search(q, k=4, fetch_k=10, lambda_mult=lam)]
                assert got == want, f"mmr {q!r} lambda {lam}: {got} != {want}"
                reordered += got != plain
        # A server that ignored `mmr` would answer the plain top-k.
        assert reordered > 0, "no MMR answer differs from the plain top-k"

    def test_mmr_retriever_matches_local_mode():
        kwargs = {"k": 3, "fetch_k": 8, "lambda_mult": 0.25}
        for q in QUERIES:
            got = [d.page_content for d in remote.as_retriever(search_type="mmr", search_kwargs=kwargs).invoke(q)]
            want = [d.page_content for d in local.as_retriever(search_type="mmr", search_kwargs=kwargs).invoke(q)]
            assert got == want, f"mmr retriever {q!r}: {got} != {want}"

    def test_get_by_ids():
        asked = [ids[1], extra_ids[0], "00000000-0000-0000-0009-000000000000"]
        docs = remote.get_by_ids(asked)
        # This LangChain puts the point id in the metadata, not in `Document.id`.
        by_id = {d.metadata["_id"]: d for d in docs}
        want = {d.metadata["_id"]: (d.page_content, d.metadata) for d in local.get_by_ids(asked)}
        assert {i: (d.page_content, d.metadata) for i, d in by_id.items()} == want, (by_id, want)
        assert set(by_id) == {ids[1], extra_ids[0]}, by_id
        assert by_id[ids[1]].page_content == texts[1]
        assert by_id[ids[1]].metadata["topic"] == "fruit" and by_id[ids[1]].metadata["n"] == 1, by_id[ids[1]].metadata
        assert by_id[extra_ids[0]].metadata["topic"] == "fruit"

    def test_delete():
        assert remote.delete(ids=[ids[0], ids[1]])
        left = [d.page_content for d in remote.similarity_search("apples pears bananas fruit", k=20)]
        assert texts[0] not in left and texts[1] not in left, left
        assert len(left) == len(everything) - 2, left
        assert remote.get_by_ids([ids[0]]) == []

    return [
        test_similarity_search_with_score,
        test_metadata_filter,
        test_max_marginal_relevance_matches_local_mode,
        test_mmr_retriever_matches_local_mode,
        test_get_by_ids,
        test_delete,
    ]


# ---------------------------------------------------------------- LlamaIndex


def llamaindex_tests(target):
    from llama_index.core import Document, Settings, StorageContext, VectorStoreIndex
    from llama_index.core.embeddings import BaseEmbedding
    from llama_index.core.vector_stores import ExactMatchFilter, MetadataFilters
    from llama_index.vector_stores.qdrant import QdrantVectorStore

    class Hashed(BaseEmbedding):
        def _get_text_embedding(self, text):
            return embed(text)

        def _get_query_embedding(self, query):
            return embed(query)

        async def _aget_query_embedding(self, query):
            return embed(query)

    Settings.embed_model = Hashed()
    Settings.llm = None
    client = target.client()
    store = QdrantVectorStore(client=client, collection_name="li")
    def document(text, topic, doc_id):
        # LlamaIndex embeds the metadata with the text unless told not to;
        # the exact scores here are of the text alone.
        return Document(text=text, metadata={"topic": topic}, doc_id=doc_id, excluded_embed_metadata_keys=["topic"])

    docs = [document(t, topic, f"doc-{i}") for i, (t, topic) in enumerate(TEXTS)]
    index = VectorStoreIndex.from_documents(docs, storage_context=StorageContext.from_defaults(vector_store=store))
    stored = [t for t, _ in TEXTS]
    topic_of = dict(TEXTS + EXTRA)

    def retrieved(q, k, filters=None):
        nodes = index.as_retriever(similarity_top_k=k, filters=filters).retrieve(q)
        return [(n.score, n.node.get_content()) for n in nodes]

    def test_retrieve():
        for q in QUERIES:
            check_top(retrieved(q, 3), q, stored, 3, f"retrieve {q!r}")

    def test_insert():
        for i, (t, topic) in enumerate(EXTRA):
            index.insert(document(t, topic, f"extra-{i}"))
        stored.extend(t for t, _ in EXTRA)
        for q in QUERIES:
            check_top(retrieved(q, 4), q, stored, 4, f"after insert {q!r}")

    def test_metadata_filters():
        filters = MetadataFilters(filters=[ExactMatchFilter(key="topic", value="pets")])
        pets = [t for t in stored if topic_of[t] == "pets"]
        for q in QUERIES:
            got = retrieved(q, 3, filters)
            check_top(got, q, pets, 3, f"filtered {q!r}")

    def test_delete_ref_doc():
        index.delete_ref_doc("doc-4", delete_from_docstore=True)
        stored.remove(TEXTS[4][0])
        for q in QUERIES:
            got = retrieved(q, len(stored) + 5)
            assert TEXTS[4][0] not in [t for _, t in got]
            check_top(got, q, stored, len(stored), f"after delete {q!r}")

    return [test_retrieve, test_insert, test_metadata_filters, test_delete_ref_doc]


# ---------------------------------------------------------------- Haystack


def haystack_tests(target):
    from haystack import Document
    from haystack.document_stores.types import DuplicatePolicy
    from haystack_integrations.components.retrievers.qdrant import QdrantEmbeddingRetriever
    from haystack_integrations.document_stores.qdrant import QdrantDocumentStore

    def store_at(**where):
        return QdrantDocumentStore(
            index="hs", embedding_dim=DIM, similarity="cosine", recreate_index=True,
            progress_bar=False, wait_result_from_api=True, **where,
        )

    remote, local = store_at(**target.where()), store_at(location=":memory:")
    docs = [Document(id=f"d{i}", content=t, meta={"topic": topic, "n": i}, embedding=embed(t)) for i, (t, topic) in enumerate(TEXTS)]
    for store in (remote, local):
        store.write_documents(docs)
    stored = {d.id: d.content for d in docs}
    topic_of = dict(TEXTS + EXTRA)

    def retrieved(q, k, filters=None):
        found = QdrantEmbeddingRetriever(document_store=remote, top_k=k).run(query_embedding=embed(q), filters=filters)
        return [(d.score, d.content) for d in found["documents"]]

    def test_write_and_count():
        assert remote.count_documents() == len(TEXTS), remote.count_documents()

    def test_retrieve():
        for q in QUERIES:
            check_top(retrieved(q, 4), q, list(stored.values()), 4, f"retrieve {q!r}")

    def test_filtered_retrieve():
        flt = {"field": "meta.topic", "operator": "==", "value": "code"}
        code = [t for t in stored.values() if topic_of[t] == "code"]
        for q in QUERIES:
            check_top(retrieved(q, 3, flt), q, code, 3, f"filtered {q!r}")

    def test_filter_documents_matches_local_mode():
        flt = {"operator": "AND", "conditions": [
            {"field": "meta.topic", "operator": "in", "value": ["fruit", "pets"]},
            {"field": "meta.n", "operator": ">=", "value": 2},
        ]}
        got = sorted((d.id, d.content, d.meta["n"]) for d in remote.filter_documents(filters=flt))
        want = sorted((d.id, d.content, d.meta["n"]) for d in local.filter_documents(filters=flt))
        assert got == want and len(got) == 6, (got, want)

    def test_get_by_id():
        got = {d.id: d.content for d in remote.get_documents_by_id(["d3", "d9", "missing"])}
        assert got == {"d3": stored["d3"], "d9": stored["d9"]}, got

    def test_overwrite_and_delete():
        new = Document(id="d0", content=EXTRA[0][0], meta={"topic": "fruit", "n": 0}, embedding=embed(EXTRA[0][0]))
        assert remote.write_documents([new], policy=DuplicatePolicy.OVERWRITE) == 1
        stored["d0"] = new.content
        topic_of[new.content] = "fruit"
        remote.delete_documents(["d5", "d6"])
        del stored["d5"], stored["d6"]
        assert remote.count_documents() == len(stored), remote.count_documents()
        for q in QUERIES:
            check_top(retrieved(q, len(stored) + 3), q, list(stored.values()), len(stored), f"after writes {q!r}")

    return [
        test_write_and_count,
        test_retrieve,
        test_filtered_retrieve,
        test_filter_documents_matches_local_mode,
        test_get_by_id,
        test_overwrite_and_delete,
    ]


FAMILIES = [langchain_tests, llamaindex_tests, haystack_tests] + MODE_FAMILIES


def main():
    args = sys.argv[1:]
    local = "--local" in args or os.environ.get("QUIVER_INTEROP_LOCAL") == "1"
    pattern = None
    if "-k" in args:
        i = args.index("-k")
        pattern = args[i + 1]
        del args[i : i + 2]
    args = [a for a in args if a != "--local"]
    sys.argv = sys.argv[:1] + args
    passed, failed = 0, 0
    server = None if local else Server(find_binary())
    target = Target(None if local else server.url)
    print(f"target: {'local mode (QdrantClient(:memory:))' if local else server.url}")
    started = time.monotonic()
    try:
        for family in FAMILIES:
            if pattern and "." in pattern and pattern.split(".")[0] not in family.__name__:
                continue
            trace_label(f"{family.__name__} (set-up)")
            try:
                tests = family(target)
            except Exception:
                failed += 1
                print(f"FAILED  {family.__name__} (set-up)\n{traceback.format_exc()}")
                continue
            for test in tests:
                name = f"{family.__name__}.{test.__name__}"
                if pattern and pattern not in name:
                    continue
                trace_label(name)
                try:
                    test()
                    passed += 1
                    print(f"ok      {name}")
                except Exception:
                    failed += 1
                    print(f"FAILED  {name}\n{traceback.format_exc()}")
    finally:
        if server is not None:
            server.stop()
    print(f"{passed} passed, {failed} failed ({time.monotonic() - started:.1f} s)")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
