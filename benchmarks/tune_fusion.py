"""Choose the fusion settings on SciFact *train* qrels, then report them on *test*.

Each leg's ranked list (ids and raw scores, depth 200) is computed once per query; fusion is
then re-run for every grid point with ``retrieval.fusion.fuse`` (pure and fast), for both
methods: z-score fusion (dense share ``alpha``: weights bm25 ``1 - alpha``, dense ``alpha``) and
reciprocal rank fusion (``rrf_k`` and a dense weight). Prints one JSON line per split and method
with the train-chosen settings beside the shipped defaults and writes
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
from retrieval.fusion import DEFAULT_WEIGHTS, fuse  # noqa: E402
from retrieval.hybrid import SearchConfig  # noqa: E402

Legs = dict[str, dict[str, list[tuple[str, float]]]]  # query -> leg -> [(beir id, raw score)]


def leg_lists(g: Any, queries: dict[str, str], depth: int) -> Legs:
    """{query id: {leg: [(beir id, score)] best first}} for the bm25 and dense legs."""
    cfg = SearchConfig(depth=depth)
    out: Legs = {}
    for qid, text in queries.items():
        out[qid] = {}
        for mode in ("bm25", "dense"):
            res = g.search(text, k=depth, mode=mode, config=cfg)
            out[qid][mode] = [(str(h.node.properties["beir_id"]), h.scores[mode]) for h in res.hits if h.node is not None]
    return out


def fuse_run(legs: Legs, method: str, weights: dict[str, float], rrf_k: float, depth: int) -> dict[str, dict[str, float]]:
    run: dict[str, dict[str, float]] = {}
    for qid, per_leg in legs.items():
        rankings = {leg: [d for d, _ in pairs[:depth]] for leg, pairs in per_leg.items()}
        scores = {leg: dict(pairs[:depth]) for leg, pairs in per_leg.items()}
        fused = fuse(rankings, scores, method=method, weights=weights, rrf_k=rrf_k, limit=100)
        run[qid] = {f.id: float(100 - i) for i, f in enumerate(fused)}
    return run


def grid(method: str) -> list[dict[str, Any]]:
    if method == "zscore":
        return [{"weights": {"bm25": round(1 - a, 2), "dense": round(a, 2)}, "rrf_k": 60.0, "depth": d}
                for a, d in itertools.product([0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.7], [50, 100, 200])]
    return [{"weights": {"bm25": 1.0, "dense": w}, "rrf_k": float(k), "depth": d}
            for k, w, d in itertools.product([10, 20, 40, 60, 100], [0.6, 0.8, 1.0, 1.25, 1.5], [50, 100, 200])]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("folder", type=Path)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "tune_fusion.jsonl"))
    args = ap.parse_args()
    from kg.graph import KnowledgeGraph

    g = KnowledgeGraph(eval_store(args.folder, embed=True))
    queries = load_queries(args.folder)
    data = {}
    for split in ("train", "test"):
        qrels = load_qrels(args.folder, split)
        data[split] = (qrels, leg_lists(g, {q: t for q, t in queries.items() if q in qrels}, depth=200))
    g.close()
    lines = []
    for method in ("zscore", "rrf"):
        qrels, legs = data["train"]
        scored = sorted(((score_run(qrels, fuse_run(legs, method, p["weights"], p["rrf_k"], p["depth"]))["ndcg@10"], i)
                         for i, p in enumerate(grid(method))), reverse=True)
        best = grid(method)[scored[0][1]]
        default = {"weights": DEFAULT_WEIGHTS[method], "rrf_k": SearchConfig().rrf_k, "depth": SearchConfig().depth}
        for split, (qrels, legs) in data.items():
            lines.append({
                "dataset": args.folder.resolve().name, "split": split, "fusion": method, "chosen_on": "train",
                "chosen": best, "ndcg@10": score_run(qrels, fuse_run(legs, method, best["weights"], best["rrf_k"],
                                                                     best["depth"]))["ndcg@10"],
                "default": {**default, "weights": {k: v for k, v in default["weights"].items() if k != "graph"}},
                "default_ndcg@10": score_run(qrels, fuse_run(legs, method, default["weights"], default["rrf_k"],
                                                             default["depth"]))["ndcg@10"],
                "train_top3": [{"ndcg@10": s, **grid(method)[i]} for s, i in scored[:3]] if split == "train" else None,
            })
    for split, (qrels, legs) in data.items():
        lines.append({"dataset": args.folder.resolve().name, "split": split, "single_legs": {
            leg: score_run(qrels, {q: {d: float(200 - i) for i, (d, _) in enumerate(r[leg][:100])}
                                   for q, r in legs.items()})["ndcg@10"] for leg in ("bm25", "dense")}})
    with open(args.out, "a") as fh:
        for line in lines:
            line = {k: v for k, v in line.items() if v is not None}
            print(json.dumps(line))
            fh.write(json.dumps(line) + "\n")


if __name__ == "__main__":
    main()
