#!/usr/bin/env python3
"""tantivy's side of scripts/bench-bm25.sh, and the comparison.

  bench-bm25.py tantivy CORPUS.jsonl QUERIES.jsonl PASSES   -> JSON on stdout
  bench-bm25.py compare QUIVER.json TANTIVY.json             -> table

The tantivy index has one field analysed as Quiver's BM25 analyses text:
split at non-alphanumerics, lower-cased, English stop words dropped
(tantivy's own list, shorter than NLTK's that Quiver uses), Snowball English
stemming; a query is the text's words, joined by OR, searched
for the top 10 by tantivy's BM25 (k1 1.2, b 0.75), single-threaded.
"""
import json
import re
import statistics
import sys
import time


def texts(path):
    return [json.loads(line)["text"] for line in open(path, encoding="utf-8")]


def run_tantivy(corpus_path, queries_path, passes):
    import tantivy

    corpus = texts(corpus_path)
    queries = texts(queries_path)
    schema = tantivy.SchemaBuilder()
    schema.add_text_field("text", stored=False, tokenizer_name="bm25")
    schema.add_integer_field("id", stored=True, fast=True)
    schema = schema.build()
    index = tantivy.Index(schema)
    analyzer = (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.stopword("english"))
        .filter(tantivy.Filter.stemmer("english"))
        .build()
    )
    index.register_tokenizer("bm25", analyzer)
    started = time.perf_counter()
    writer = index.writer(heap_size=256_000_000, num_threads=1)
    for i, t in enumerate(corpus):
        writer.add_document(tantivy.Document(text=t, id=i))
    writer.commit()
    writer.wait_merging_threads()
    index.reload()
    index_secs = time.perf_counter() - started
    searcher = index.searcher()
    # Documents were added in order into one segment, so a hit's document
    # number is its corpus line: no stored-field fetch per hit.
    assert searcher.num_segments == 1, searcher.num_segments
    # Words only: the query language's own syntax (quotes, colons,
    # parentheses) must not change what is searched.
    words = [re.findall(r"\w+", q) for q in queries]
    rates, top10 = [], []
    for p in range(passes):
        started = time.perf_counter()
        answers = []
        for w in words:
            if not w:
                answers.append([])
                continue
            query = index.parse_query(" OR ".join(w), ["text"])
            answers.append([addr.doc for _, addr in searcher.search(query, 10, count=False).hits])
        rates.append(len(words) / (time.perf_counter() - started))
        if p == 0:
            top10 = answers
    print(json.dumps({
        "engine": "tantivy " + getattr(tantivy, "__version__", "?"),
        "documents": len(corpus),
        "index_secs": index_secs,
        "queries": len(queries),
        "qps_median": statistics.median(rates),
        "qps_all": rates,
        "top10": top10,
    }))


def compare(quiver_path, tantivy_path):
    q = json.load(open(quiver_path))
    t = json.load(open(tantivy_path))
    overlaps = [len(set(a) & set(b)) / max(1, len(b)) for a, b in zip(q["top10"], t["top10"])]
    print(f"| engine | documents | embed + index s | QPS (median) |")
    print(f"|---|---|---|---|")
    for r in (q, t):
        build = r["index_secs"] + r.get("embed_secs", 0.0)
        print(f"| {r['engine']} | {r['documents']} | {build:.2f} | {r['qps_median']:.0f} |")
    print(f"quiver / tantivy QPS: {q['qps_median'] / t['qps_median']:.2f}x; "
          f"top-10 overlap: mean {statistics.mean(overlaps):.3f}, "
          f"median {statistics.median(overlaps):.2f} over {len(overlaps)} queries")


if __name__ == "__main__":
    if sys.argv[1] == "tantivy":
        run_tantivy(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif sys.argv[1] == "compare":
        compare(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
