"""Prints the REST requests (method, path, JSON body) the frameworks send
in their sparse, hybrid, MMR and grouped modes, with no server: every
request is answered by a canned empty answer (no collection exists, writes
succeed, searches find nothing), so each call stops at its first request
that needs real data. For the server's authors: the exact shapes to accept.

Run: .venv/bin/python tests/interop/frameworks_shapes.py
"""

import json
import re

import httpx

from frameworks_common import embed_fine, sparse_embed

LOG = []
CREATED = {}


def canned(request):
    path, method = request.url.path, request.method
    body = json.loads(request.content) if request.content else None
    LOG.append((method, path, body))
    ok = {"operation_id": 0, "status": "completed"}
    if path == "/":
        return {"title": "qdrant - vector search engine", "version": "1.15.1"}
    if path.endswith("/exists"):
        result = {"exists": False}
    elif path.endswith("/points/query/groups") or path.endswith("/points/search/groups"):
        result = {"groups": []}
    elif path.endswith("/points/query"):
        result = {"points": []}
    elif path.endswith("/points/search/batch") or path.endswith("/points/query/batch"):
        result = [[] for _ in body["searches"]]
    elif path.endswith("/points/search"):
        result = []
    elif path.endswith("/points/scroll"):
        result = {"points": [], "next_page_offset": None}
    elif path.endswith("/points/count"):
        result = {"count": 0}
    elif path.endswith("/points") and method == "POST":
        result = []
    elif re.fullmatch(r"/collections/[^/]+", path) and method in ("PUT", "DELETE"):
        CREATED[path] = body
        result = True
    elif re.fullmatch(r"/collections/[^/]+", path) and method == "GET":
        made = CREATED.get(path) or {}
        result = {
            "status": "green", "optimizer_status": "ok", "segments_count": 1, "points_count": 1,
            "config": {
                "params": {"vectors": made.get("vectors"), "sparse_vectors": made.get("sparse_vectors")},
                "hnsw_config": {"m": 16, "ef_construct": 100, "full_scan_threshold": 10000},
                "optimizer_config": {"deleted_threshold": 0.2, "vacuum_min_vector_number": 1000,
                                     "default_segment_number": 0, "flush_interval_sec": 5},
                "wal_config": {"wal_capacity_mb": 32, "wal_segments_ahead": 0},
            },
            "payload_schema": {},
        }
    else:
        result = ok
    return {"result": result, "status": "ok", "time": 0.0}


def install():
    def send(self, request, **kwargs):
        return httpx.Response(200, json=canned(request), request=request)

    httpx.Client.send = send


def show(title, start):
    print(f"\n## {title}")
    for method, path, body in LOG[start:]:
        text = json.dumps(body)
        text = re.sub(r"\[(-?[0-9.e+-]+, ){5,}-?[0-9.e+-]+\]", "[...]", text)
        print(f"{method} {path} {text[:900]}")


def main():
    install()
    url = "http://quiver.invalid:6333"
    q = "sweet tropical fruit"

    from langchain_qdrant import QdrantVectorStore, RetrievalMode
    from qdrant_client import models

    from frameworks_modes import _lc_classes

    Hashed, HashedSparse = _lc_classes()
    for mode in (RetrievalMode.SPARSE, RetrievalMode.HYBRID):
        n = len(LOG)
        kw = {"sparse_embedding": HashedSparse()} | ({"embedding": Hashed()} if mode == RetrievalMode.HYBRID else {})
        store = QdrantVectorStore.from_texts(["a ripe mango"], metadatas=[{"topic": "fruit"}], ids=[
            "00000000-0000-0000-0000-000000000000"], url=url, collection_name=f"lc_{mode.value}", retrieval_mode=mode,
            force_recreate=True, **kw)
        store.similarity_search_with_score(q, k=3, filter=models.Filter(must=[models.FieldCondition(
            key="metadata.topic", match=models.MatchValue(value="fruit"))]))
        if mode == RetrievalMode.HYBRID:
            store.similarity_search_with_score(q, k=3, hybrid_fusion=models.FusionQuery(fusion=models.Fusion.DBSF))
            store.max_marginal_relevance_search(q, k=3, fetch_k=6, lambda_mult=0.3)
        show(f"LangChain RetrievalMode.{mode.name}", n)

    from llama_index.core import Document, Settings, StorageContext, VectorStoreIndex
    from llama_index.core.embeddings import BaseEmbedding
    from llama_index.vector_stores.qdrant import QdrantVectorStore as LiStore
    from qdrant_client import QdrantClient

    class LiHashed(BaseEmbedding):
        def _get_text_embedding(self, text):
            return embed_fine(text)

        def _get_query_embedding(self, query):
            return embed_fine(query)

        async def _aget_query_embedding(self, query):
            return embed_fine(query)

    def fn(query):
        def encode(texts):
            vecs = [sparse_embed(t, query=query) for t in texts]
            return [i for i, _ in vecs], [v for _, v in vecs]
        return encode

    Settings.embed_model, Settings.llm = LiHashed(), None
    n = len(LOG)
    li = LiStore(client=QdrantClient(url=url, check_compatibility=False), collection_name="li_hybrid",
                 enable_hybrid=True, sparse_doc_fn=fn(False), sparse_query_fn=fn(True))
    index = VectorStoreIndex.from_documents([Document(text="a ripe mango", doc_id="d")],
                                            storage_context=StorageContext.from_defaults(vector_store=li))
    for mode in ("default", "sparse", "hybrid"):
        index.as_retriever(vector_store_query_mode=mode, similarity_top_k=3, sparse_top_k=4, hybrid_top_k=2).retrieve(q)
    index.delete_ref_doc("d")
    show("LlamaIndex enable_hybrid=True (default, sparse, hybrid query modes, delete_ref_doc)", n)

    from haystack import Document as HsDocument
    from haystack.dataclasses import SparseEmbedding
    from haystack_integrations.components.retrievers.qdrant import (
        QdrantEmbeddingRetriever, QdrantHybridRetriever, QdrantSparseEmbeddingRetriever)
    from haystack_integrations.document_stores.qdrant import QdrantDocumentStore

    n = len(LOG)
    hs = QdrantDocumentStore(url=url, index="hs_sparse", embedding_dim=24, use_sparse_embeddings=True, sparse_idf=True,
                             recreate_index=True, progress_bar=False)
    hs.write_documents([HsDocument(id="d", content="a ripe mango", meta={"topic": "fruit"}, embedding=embed_fine("a ripe mango"),
                                   sparse_embedding=SparseEmbedding(*sparse_embed("a ripe mango")))])
    qs = SparseEmbedding(*sparse_embed(q, query=True))
    QdrantEmbeddingRetriever(document_store=hs, top_k=3).run(query_embedding=embed_fine(q))
    QdrantSparseEmbeddingRetriever(document_store=hs, top_k=3, return_embedding=True).run(query_sparse_embedding=qs)
    QdrantHybridRetriever(document_store=hs, top_k=3).run(query_embedding=embed_fine(q), query_sparse_embedding=qs,
                                                           filters={"field": "meta.topic", "operator": "==", "value": "fruit"})
    QdrantSparseEmbeddingRetriever(document_store=hs, top_k=2, group_by="meta.topic", group_size=2).run(query_sparse_embedding=qs)
    QdrantHybridRetriever(document_store=hs, top_k=2, group_by="meta.topic", group_size=2).run(
        query_embedding=embed_fine(q), query_sparse_embedding=qs)
    show("Haystack use_sparse_embeddings=True, sparse_idf=True (dense, sparse, hybrid, grouped)", n)


if __name__ == "__main__":
    main()
