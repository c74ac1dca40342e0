"""Choose the fusion settings on SciFact *train* qrels, then report them on *test*.

Each leg's ranking is computed once per query; RRF is then re-run for every grid point (pure
and fast). Prints one JSON line per split with the chosen settings and writes
benchmarks/results/tune_fusion.jsonl.

    python benchmarks/tune_fusion.py ../shared/eval/scifact
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path
from typing import Any

# benchmarks/ingest.py would shadow the `ingest` package: keep this folder off the import path
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from retrieval.eval import eval_store, load_qrels, load_queries, score_run  # noqa: E402
from retrieval.fusion import reciprocal_rank_fusion  # noqa: E402
from retrieval.hybrid import SearchConfig  # noqa: E402


def leg_rankings(g: Any, queries: dict[str, str], depth: int) -> dict[str, dict[str, list[str]]]:
    """{query id: {leg: [beir ids best first]}} for the bm25 and dense legs."""
    cfg = SearchConfig(depth=depth)
    out: dict[str, dict[str, list[str]]] = {}
    for qid, text in queries.items():
        legs: dict[str, list[str]] = {}
        for mode in ("bm25", "dense"):
            res = g.search(text, k=depth, mode=mode, config=cfg)
            legs[mode] = [str(h.node.properties["beir_id"]) for h in res.hits if h.node is not None]
        out[qid] = legs
    return out


def fuse_run(rankings: dict[str, dict[str, list[str]]], k: float, w_dense: float, depth: int) -> dict[str, dict[str, float]]:
    run: dict[str, dict[str, float]] = {}
    for qid, legs in rankings.items():
        cut = {leg: ids[:depth] for leg, ids in legs.items()}
        fused = reciprocal_rank_fusion(cut, k=k, weights={"bm25": 1.0, "dense": w_dense})[:100]
        run[qid] = {f.id: float(100 - i) for i, f in enumerate(fused)}
    return run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("folder", type=Path)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "tune_fusion.jsonl"))
    args = ap.parse_args()
    g = eval_store(args.folder, embed=True)
    queries = load_queries(args.folder)
    grid = list(itertools.product([10, 20, 40, 60, 100], [0.6, 0.8, 1.0, 1.25, 1.5], [50, 100, 200]))
    results = {}
    for split in ("train", "test"):
        qrels = load_qrels(args.folder, split)
        ranks = leg_rankings(g, {q: t for q, t in queries.items() if q in qrels}, depth=200)
        results[split] = (qrels, ranks)
    qrels, ranks = results["train"]
    scored = []
    for k, w, depth in grid:
        m = score_run(qrels, fuse_run(ranks, k, w, depth))
        scored.append((m["ndcg@10"], k, w, depth))
    best = max(scored)
    _, k, w, depth = best
    lines = []
    for split, (qrels, ranks) in results.items():
        m = score_run(qrels, fuse_run(ranks, k, w, depth))
        default = score_run(qrels, fuse_run(ranks, 60, 1.0, 100))
        lines.append({"dataset": args.folder.resolve().name, "split": split, "rrf_k": k, "dense_weight": w,
                      "depth": depth, "ndcg@10": m["ndcg@10"], "default_ndcg@10": default["ndcg@10"],
                      "bm25_ndcg@10": score_run(qrels, {q: {d: float(200 - i) for i, d in enumerate(r["bm25"][:100])}
                                                          for q, r in ranks.items()})["ndcg@10"],
                      "dense_ndcg@10": score_run(qrels, {q: {d: float(200 - i) for i, d in enumerate(r["dense"][:100])}
                                                           for q, r in ranks.items()})["ndcg@10"]})
    g.close()
    with open(args.out, "a") as fh:
        for line in lines:
            print(json.dumps(line))
            fh.write(json.dumps(line) + "\n")
    top = sorted(scored, reverse=True)[:5]
    print(json.dumps({"train_top5": [{"ndcg@10": s, "rrf_k": k, "dense_weight": w, "depth": d} for s, k, w, d in top]}))


if __name__ == "__main__":
    main()
