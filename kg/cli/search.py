"""``kg search`` and ``kg eval``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from kg.cli.options import StoreOpt


def register(app: typer.Typer) -> None:
    """Add the retrieval commands to the ``kg`` app."""

    @app.command()
    def search(
        query: Annotated[str, typer.Argument(help="What to look for.")],
        store: StoreOpt = None,
        k: Annotated[int, typer.Option("--k", "-k", help="Number of hits.")] = 10,
        mode: Annotated[str, typer.Option(help="bm25, dense, hybrid or hybrid+graph.")] = "hybrid",
        label: Annotated[list[str] | None, typer.Option(help="Only these node labels (repeatable).")] = None,
        year: Annotated[str | None, typer.Option(help="Year range: 2023, 2023:2025, 2023: or :2020.")] = None,
        author: Annotated[list[str] | None, typer.Option(help="Author name or id (repeatable).")] = None,
        category: Annotated[list[str] | None, typer.Option(help="Category/topic/keyword (repeatable).")] = None,
        source: Annotated[str | None, typer.Option(help="Only nodes from sources under this path.")] = None,
        explain: Annotated[bool, typer.Option(help="Show each leg's rank and score.")] = False,
        fusion: Annotated[str, typer.Option(help="zscore (weighted z-normalised scores) or rrf.")] = "zscore",
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    ) -> None:
        """Hybrid search (BM25 + embeddings, fused) with filters."""
        from kg.graph import KnowledgeGraph
        from retrieval.filters import Filters, parse_year_range
        from retrieval.hybrid import SearchConfig

        cfg = SearchConfig(fusion=fusion)
        g = KnowledgeGraph.open(store, create=False)
        f = Filters(labels=label or None, year=parse_year_range(year), authors=author or None,
                    categories=category or None, source=source)
        res = g.search(query, k=k, mode=mode, filters=f, explain=explain, config=cfg)
        g.close()
        if as_json:
            sys.stdout.write(json.dumps(res.to_dict(), ensure_ascii=False) + "\n")
            return
        from rich.console import Console
        from rich.table import Table

        t = Table(title=f"{mode}: {query}", show_lines=explain)
        for col in ("#", "score", "label", "title", "id"):
            t.add_column(col, overflow="fold")
        if explain:
            t.add_column("why")
        for i, h in enumerate(res.hits, 1):
            row = [str(i), f"{h.score:.4f}", h.label, h.title[:90], h.id]
            if explain:
                row.append(h.explanation)
            t.add_row(*row)
        Console().print(t)
        if not res.hits:
            print("no hits")

    @app.command(name="eval")
    def eval_cmd(
        folder: Annotated[Path, typer.Argument(help="BEIR folder: corpus.jsonl, queries.jsonl, qrels/.")],
        mode: Annotated[str, typer.Option(help="bm25, dense, hybrid or hybrid+graph.")] = "hybrid",
        split: Annotated[str, typer.Option(help="qrels split (qrels/<split>.tsv).")] = "test",
        encoder: Annotated[str | None, typer.Option(help="teacher (default), student, or a model path.")] = None,
        store: Annotated[str | None, typer.Option("--store", "-s", help="Store to build/reuse (default: cache).")] = None,
        fusion: Annotated[str, typer.Option(help="zscore (weighted z-normalised scores) or rrf.")] = "zscore",
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    ) -> None:
        """Evaluate retrieval on a BEIR-format folder (nDCG@10, recall@100, MRR@10)."""
        from retrieval.eval import evaluate
        from retrieval.hybrid import SearchConfig

        cfg = SearchConfig(fusion=fusion)
        out = evaluate(folder, mode=mode, split=split, encoder=encoder, store=store, show_progress=not as_json,
                       config=cfg)
        if fusion != "zscore":
            out["fusion"] = fusion
        if as_json:
            sys.stdout.write(json.dumps(out) + "\n")
        else:
            for key, v in out.items():
                print(f"{key:>12}: {v}")
