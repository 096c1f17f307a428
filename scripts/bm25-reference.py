#!/usr/bin/env python3
"""Writes the BM25 reference vectors Quiver's text module is tested against.

Qdrant's own engine, run in-process (PyPI `qdrant-edge-py`, `qdrant_edge.Bm25`),
embeds each text as a document and as a query; one JSON line per text and
configuration:
  {"text": ..., "config": {...}, "document": {"indices", "values"}, "query": {...}}
`config` uses Quiver's `Bm25Config` keys ({} means the defaults).

Usage: scripts/bm25-reference.py OUT.jsonl [TEXTS.jsonl ...]
  Without TEXTS, the committed fixture's texts: the first 300 base texts and
  100 query texts of ../shared/datasets/wordnet-minilm-dev plus edge cases.
Needs qdrant-edge-py 0.9.0, e.g.:
  python3 -m venv /tmp/qe && /tmp/qe/bin/pip install qdrant-edge-py==0.9.0
  /tmp/qe/bin/python scripts/bm25-reference.py crates/quiver-core/tests/data/bm25_reference.jsonl
"""
import json
import sys
from pathlib import Path

EDGE_CASES = [
    "",
    "   ",
    "The the THE a an",
    "Running, ran; runner's RUNS!",
    "U.S.A. 3.14 hello-world foo_bar e-mail O'Neil 1,000",
    "café naïve ÉCOLE İstanbul Ünïcödé ß straße ﬁne",
    "tab\there\nnewline\r\nwindows",
    "–dash—em …ellipsis «quotes» “curly”",
    "日本語のテキスト 中文文本 한국어",
    "dog dog dog dog cat",
    "x " * 50,
    "supercalifragilisticexpialidocious" * 3,
    "a1b2c3 ABC123 123abc 0x1F",
    "emoji 🙂 test 🚀🚀 done",
]

CONFIGS = [
    {},
    {"k": 0.9, "b": 0.4, "avg_len": 12.0},
    {"min_token_len": 3, "max_token_len": 7},
    {"language": "german"},
]


def edge_config(qe, config):
    return qe.Bm25Config(**config) if config else None


def sparse(v):
    return {"indices": list(v.indices), "values": [float(x) for x in v.values]}


def main():
    import qdrant_edge as qe

    out = Path(sys.argv[1])
    if len(sys.argv) > 2:
        texts = []
        for path in sys.argv[2:]:
            texts += [json.loads(line)["text"] for line in open(path, encoding="utf-8")]
        configs = [{}]
    else:
        data = Path(__file__).resolve().parent.parent.parent / "shared/datasets/wordnet-minilm-dev"
        base = [json.loads(l)["text"] for l in open(data / "base.texts.jsonl", encoding="utf-8")]
        queries = [json.loads(l)["text"] for l in open(data / "query.texts.jsonl", encoding="utf-8")]
        texts = base[:300] + queries[:100] + EDGE_CASES
        configs = CONFIGS
    with open(out, "w", encoding="utf-8") as f:
        for i, config in enumerate(configs):
            model = qe.Bm25(edge_config(qe, config))
            # Every text with the defaults; a sample with the other settings.
            chosen = texts if i == 0 else texts[::7] + EDGE_CASES
            for text in chosen:
                line = {
                    "text": text,
                    "config": config,
                    "document": sparse(model.embed_document(text)),
                    "query": sparse(model.embed_query(text)),
                }
                f.write(json.dumps(line, ensure_ascii=False) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
