"""BM25 leg speed: kgloom's BM25Index against rank-bm25 on seeded Zipfian corpora.

Builds indexes of 10k and 100k generated documents (pseudo-words drawn from a Zipfian vocabulary,
~150 words each), times queries of 2-5 words taken from random documents, and checks that both
engines return the same top 10. rank-bm25 gets the very same tokens and the same Lucene-style
formula (its ``BM25Okapi`` with the idf replaced), and is timed over fewer queries at 100k.

Times are wall-clock (``*_ms``, ``index_build_s``) and, because a shared machine's wall clock also
counts time spent waiting for a core, process CPU time too (``*_cpu_*``; both engines run on one
thread); ``speedup`` is the ratio of the wall p50s, ``speedup_cpu`` that of the CPU p50s, and
``load_avg`` the 1-minute load average when the size finished.

Prints one JSON line per size and writes them to ``benchmarks/results/bm25_speed.jsonl``::

    .venv/bin/python benchmarks/bm25_speed.py [--sizes 10000 100000] [--queries 500]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import string
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from retrieval.bm25 import BM25Config, BM25Index  # noqa: E402
from retrieval.tokenize import Tokenizer  # noqa: E402

VOCAB = 50_000
ZIPF_S = 1.07
DOC_WORDS = 150


def make_corpus(n_docs: int, seed: int = 0) -> list[str]:
    """``n_docs`` texts of ~150 pseudo-words drawn from a Zipfian vocabulary (seeded)."""
    rng = np.random.default_rng(seed)
    letters = np.array(list(string.ascii_lowercase))
    lens = rng.integers(3, 11, size=VOCAB * 2)
    words = list(dict.fromkeys("".join(rng.choice(letters, size=n)) for n in lens))[:VOCAB]
    p = 1.0 / np.arange(1, len(words) + 1) ** ZIPF_S
    p /= p.sum()
    sizes = np.clip(rng.normal(DOC_WORDS, 40, size=n_docs).astype(int), 5, None)
    flat = rng.choice(len(words), size=int(sizes.sum()), p=p)
    ends = np.cumsum(sizes)
    vocab = np.array(words, dtype=object)
    return [" ".join(vocab[flat[e - s : e]]) for s, e in zip(sizes, ends, strict=True)]


def make_queries(tokens: list[list[str]], n: int, seed: int = 1) -> list[list[str]]:
    """2-5 distinct terms of a random document per query."""
    rng = np.random.default_rng(seed)
    out: list[list[str]] = []
    while len(out) < n:
        doc = sorted(set(tokens[int(rng.integers(len(tokens)))]))
        if len(doc) < 5:
            continue
        out.append([doc[i] for i in rng.choice(len(doc), size=int(rng.integers(2, 6)), replace=False)])
    return out


def reference(tokens: list[list[str]], config: BM25Config) -> Any:
    """rank-bm25 with the Lucene idf (same formula as BM25Index)."""
    import rank_bm25

    class LuceneBM25(rank_bm25.BM25Okapi):
        def _calc_idf(self, nd: dict[str, int]) -> None:
            for word, df in nd.items():
                self.idf[word] = math.log(1 + (self.corpus_size - df + 0.5) / (df + 0.5))

    return LuceneBM25(tokens, k1=config.k1, b=config.b)


def top10(scores: np.ndarray) -> list[int]:
    """Best 10 rows with a positive score, ties by ascending row (the BM25Index order)."""
    rows = np.flatnonzero(scores > 0)
    order = np.lexsort((rows, -scores[rows]))
    return rows[order[:10]].tolist()


def run(n_docs: int, n_queries: int, n_ref_queries: int) -> dict[str, float | int]:
    config = BM25Config()
    texts = make_corpus(n_docs)
    tok = Tokenizer()
    t0, c0 = time.perf_counter(), time.process_time()
    idx = BM25Index(config, tokenizer=tok)
    idx.add(texts)
    build_s, build_cpu = time.perf_counter() - t0, time.process_time() - c0
    tokens = tok.tokenize_many(texts)
    queries = make_queries(tokens, n_queries)
    query_texts = [" ".join(q) for q in queries]
    for q in query_texts[:20]:  # warm-up
        idx.search(q, k=10)
    times, cpu, ours = [], [], []
    for q in query_texts:
        t, c = time.perf_counter(), time.process_time()
        rows, _ = idx.search(q, k=10)
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
        ours.append(rows.tolist())
    ref = reference(tokens, config)
    ref_times, ref_cpu, agree = [], [], []
    for qt, mine in zip(queries[:n_ref_queries], ours, strict=False):
        t, c = time.perf_counter(), time.process_time()
        s = ref.get_scores(qt)
        np.argsort(s)[::-1][:10]  # what a rank-bm25 user runs for a top 10
        ref_times.append(time.perf_counter() - t)
        ref_cpu.append(time.process_time() - c)
        want = top10(s)
        agree.append(len(set(want) & set(mine)) / max(len(want), 1))

    def ms(xs: list[float], q: float) -> float:
        return float(np.percentile(xs, q) * 1000)

    return {"docs": n_docs,
            "kgloom_p50_ms": round(ms(times, 50), 4), "kgloom_p95_ms": round(ms(times, 95), 4),
            "rank_bm25_p50_ms": round(ms(ref_times, 50), 2),
            "speedup": round(ms(ref_times, 50) / ms(times, 50), 1),
            "top10_agreement": round(float(np.mean(agree)), 4), "index_build_s": round(build_s, 3),
            "kgloom_cpu_p50_ms": round(ms(cpu, 50), 4), "kgloom_cpu_p95_ms": round(ms(cpu, 95), 4),
            "rank_bm25_cpu_p50_ms": round(ms(ref_cpu, 50), 2),
            "speedup_cpu": round(ms(ref_cpu, 50) / max(ms(cpu, 50), 1e-6), 1),
            "index_build_cpu_s": round(build_cpu, 3), "queries": n_queries,
            "rank_bm25_queries": len(ref_times), "load_avg": os.getloadavg()[0]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--queries", type=int, default=500)
    args = ap.parse_args()
    out = ROOT / "benchmarks" / "results" / "bm25_speed.jsonl"
    out.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    for n in args.sizes:
        res = run(n, args.queries, n_ref_queries=100 if n <= 20_000 else 20)
        line = json.dumps(res)
        print(line, flush=True)
        lines.append(line)
    out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
