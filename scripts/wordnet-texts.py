#!/usr/bin/env python3
"""Writes every WordNet 3.0 synset as a text, one JSON line each:
{"id": n, "text": "lemma: gloss"}, built as ../shared/datasets/wordnet-minilm-dev
describes (first lemma with underscores as spaces and adjective markers such
as "(p)" removed, ": ", the gloss after "|" with white space collapsed),
identical texts dropped.

Usage: scripts/wordnet-texts.py OUT.jsonl [WORDNET_DIR]
WORDNET_DIR defaults to /usr/share/wordnet (Debian's wordnet-base package).
"""
import json
import re
import sys
from pathlib import Path


def synsets(path):
    for line in open(path, encoding="latin-1"):
        if line.startswith("  "):  # the license header
            continue
        head, _, gloss = line.partition("|")
        fields = head.split()
        lemma = re.sub(r"\([a-z]+\)$", "", fields[4]).replace("_", " ")
        yield f"{lemma}: {' '.join(gloss.split())}"


def main():
    out = Path(sys.argv[1])
    wordnet = Path(sys.argv[2] if len(sys.argv) > 2 else "/usr/share/wordnet")
    seen = set()
    with open(out, "w", encoding="utf-8") as f:
        for pos in ["noun", "verb", "adj", "adv"]:
            for text in synsets(wordnet / f"data.{pos}"):
                if text not in seen:
                    f.write(json.dumps({"id": len(seen), "text": text}) + "\n")
                    seen.add(text)
    print(f"{len(seen)} texts in {out}")


if __name__ == "__main__":
    main()
