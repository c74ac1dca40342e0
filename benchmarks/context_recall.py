"""Context recall: how often a context pack cites the gold document, by token budget and mode.

For each test query of a BEIR folder (default ``../shared/eval/scifact``), builds a context pack
(:func:`retrieval.context.build_context`) at budgets of 1k, 2k and 4k tokens (estimated, ~4
characters per token) in two modes:

* ``hybrid``: BM25 + MiniLM fused by RRF, passages only (no graph facts);
* ``hybrid+graph``: the graph leg added to the search, and facts from the subgraph around the hits.

A BEIR corpus such as SciFact has no authors or citations, so its graph has no edges and both modes
give the same packs. ``--topics`` (default on) also measures a copy of the store with topics fitted
(:func:`kg.topics.fit_topics`, seeded: ``Topic`` nodes and ``HAS_TOPIC`` edges), where the graph leg
and the facts have something to work with; its rows have ``"graph": "topics"``.

and reports, over the queries:

* ``hit_rate``: share of queries with at least one gold document cited anywhere in the pack (the
  headline number: "the gold document is cited");
* ``gold_recall``: mean share of a query's gold documents cited;
* ``passage_hit_rate``: as ``hit_rate``, counting only documents quoted as passages;
* ``tokens``, ``passages``, ``triples``: mean pack size; ``ms``: mean time per pack.

The store is built once and cached by :func:`retrieval.eval.eval_store` (with MiniLM embeddings;
the first SciFact build takes minutes). Prints one JSON line per (budget, mode) and writes them to
``benchmarks/results/context_recall.jsonl``::

    .venv/bin/python benchmarks/context_recall.py [--folder ../shared/eval/scifact] [--budgets 1000 2000 4000]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from retrieval.context import ContextConfig, build_context  # noqa: E402
from retrieval.eval import eval_store, load_qrels, load_queries  # noqa: E402

MODES = {"hybrid": ContextConfig(mode="hybrid", graph=False), "hybrid+graph": ContextConfig(mode="hybrid+graph", graph=True)}


def beir_ids(g: Any, node_ids: set[str], cache: dict[str, str | None]) -> dict[str, str]:
    """``{node id: BEIR doc id}`` for the nodes that are corpus documents."""
    missing = [i for i in node_ids if i not in cache]
    for nid, n in g.get_nodes(missing).items():
        bid = n.properties.get("beir_id")
        cache[nid] = str(bid) if bid is not None else None
    for nid in missing:
        cache.setdefault(nid, None)
    return {i: b for i in node_ids if (b := cache[i]) is not None}


def cache_query_vectors(g: Any, texts: list[str]) -> None:
    """Encode every query once, in batches, and serve ``encode_query`` from that table (the same query
    is searched for every budget and mode; batching changes the vectors by float rounding only)."""
    idx = g.search_index()
    if idx is None or idx.dense is None:
        return
    enc = idx.encoder
    table = dict(zip(texts, enc.encode(texts), strict=True))
    single = enc.encode_query
    enc.encode_query = lambda text: table[text] if text in table else single(text)


def topics_store(g: Any) -> Any:
    """A copy of the eval store with topics fitted (built once, next to the cached store)."""
    import shutil

    from kg.graph import KnowledgeGraph
    from kg.topics import TopicConfig, fit_topics, model_dir

    src = Path(g.store.url)
    dst = src.with_name(src.name + "-topics")
    g.close()
    if not dst.exists():
        shutil.copytree(src, dst)
    g2 = KnowledgeGraph.open(dst)
    if not (model_dir(g2) / "manifest.json").exists():
        report = fit_topics(g2, TopicConfig(seed=42))
        print(json.dumps({"topics": len(report.topics), "method": report.method, "outliers": report.n_outliers,
                          "seconds": round(report.seconds, 1)}), file=sys.stderr)
    return g2


def run(folder: Path, budgets: list[int], modes: list[str], split: str, limit: int | None,
        topics: bool = True) -> list[dict[str, Any]]:
    """One result row per (graph, budget, mode)."""
    qrels = load_qrels(folder, split)
    queries = {q: t for q, t in load_queries(folder).items() if q in qrels}
    if limit:
        queries = dict(list(queries.items())[:limit])
    from kg.graph import KnowledgeGraph

    g = KnowledgeGraph(eval_store(folder, embed=True))
    rows = measure(g, "corpus", folder, queries, qrels, budgets, modes, split)
    if topics:
        g = topics_store(g)
        rows += measure(g, "topics", folder, queries, qrels, budgets, modes, split)
    g.close()
    return rows


def measure(g: Any, graph: str, folder: Path, queries: dict[str, str], qrels: dict[str, dict[str, int]],
            budgets: list[int], modes: list[str], split: str) -> list[dict[str, Any]]:
    """Rows for one store."""
    cache_query_vectors(g, list(queries.values()))
    cache: dict[str, str | None] = {}
    rows = []
    for budget in budgets:
        for mode in modes:
            hits = passage_hits = 0
            recall = tokens = passages = triples = 0.0
            t0 = time.perf_counter()
            for qid, text in queries.items():
                pack = build_context(g, text, budget_tokens=budget, config=MODES[mode])
                gold = set(qrels[qid])
                cited = set(beir_ids(g, set(pack.citations.values()), cache).values())
                quoted = set(beir_ids(g, {p.id for p in pack.passages}, cache).values())
                hits += bool(gold & cited)
                passage_hits += bool(gold & quoted)
                recall += len(gold & cited) / len(gold)
                tokens += pack.tokens
                passages += len(pack.passages)
                triples += len(pack.triples)
            n = len(queries)
            row = {"dataset": folder.resolve().name, "graph": graph, "split": split, "queries": n,
                   "budget_tokens": budget,
                   "mode": mode, "hit_rate": round(hits / n, 4), "gold_recall": round(recall / n, 4),
                   "passage_hit_rate": round(passage_hits / n, 4), "tokens": round(tokens / n, 1),
                   "passages": round(passages / n, 2), "triples": round(triples / n, 2),
                   "ms": round((time.perf_counter() - t0) * 1000 / n, 1)}
            print(json.dumps(row), flush=True)
            rows.append(row)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--folder", type=Path, default=ROOT.parent / "shared" / "eval" / "scifact")
    ap.add_argument("--budgets", type=int, nargs="+", default=[1000, 2000, 4000])
    ap.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES))
    ap.add_argument("--split", default="test")
    ap.add_argument("--limit", type=int, default=None, help="Only the first N queries (smoke runs).")
    ap.add_argument("--topics", action=argparse.BooleanOptionalAction, default=True,
                    help="Also measure a copy of the store with topics fitted.")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "context_recall.jsonl")
    args = ap.parse_args()
    rows = run(args.folder, args.budgets, args.modes, args.split, args.limit, args.topics)
    if not args.limit:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("".join(json.dumps(r) + "\n" for r in rows))


if __name__ == "__main__":
    main()
