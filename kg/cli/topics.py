"""``kg topics``: fit (or update) topics, print them with their quality, draw the topic map."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kg.cli.options import StoreOpt

if TYPE_CHECKING:
    from kg.topics import TopicReport


def _table(rep: TopicReport, limit: int) -> Any:
    from rich.table import Table

    measure = {"c_npmi": "NPMI", "c_v": "C_v"}.get(rep.coherence_measure, rep.coherence_measure)
    coh = f"{rep.coherence:.3f}" if rep.coherence is not None else "n/a"
    caption = (f"{rep.method}: {rep.n_docs:,} documents fitted, {rep.n_outliers:,} outliers, "
               f"{rep.n_assigned:,} assigned since · coherence ({measure}) {coh} · diversity {rep.diversity:.3f}")
    if rep.fallback:
        caption += f"\nBERTopic fell back to NMF: {rep.fallback}"
    t = Table(title="Topics", caption=caption, show_lines=False)
    for col, just in (("id", "left"), ("size", "right"), ("label", "left"), ("top terms", "left"),
                      (measure, "right")):
        t.add_column(col, justify=just, overflow="fold")  # type: ignore[arg-type]
    parents = [x for x in rep.topics if x.level > 0]
    leaves = [x for x in rep.topics if x.level == 0]
    groups: list[tuple[Any, list[Any]]] = [(p, [x for x in leaves if x.parent == p.id]) for p in parents]
    groups.append((None, [x for x in leaves if x.parent is None]))
    shown = 0
    for parent, kids in groups:
        if parent is not None:
            t.add_row(f"[bold]{parent.id}[/bold]", f"[bold]{parent.size:,}[/bold]", f"[bold]{parent.label}[/bold]",
                      ", ".join(w for w, _ in parent.terms[:6]), "")
        for x in kids:
            if shown >= limit:
                break
            shown += 1
            coh_s = f"{x.coherence:.3f}" if x.coherence is not None else ""
            t.add_row(("  " if parent is not None else "") + x.id, f"{x.size:,}", x.label,
                      ", ".join(w for w, _ in x.terms[:6]), coh_s)
    return t


def register(app: typer.Typer) -> None:
    """Add ``kg topics`` to the ``kg`` app."""

    @app.command()
    def topics(
        store: StoreOpt = None,
        refit: Annotated[bool, typer.Option(help="Fit again from scratch (replaces all topics).")] = False,
        method: Annotated[str, typer.Option(help="auto, bertopic or nmf.")] = "auto",
        seed: Annotated[int, typer.Option(help="Random seed (same seed, same topics).")] = 42,
        min_topic_size: Annotated[int | None, typer.Option(help="BERTopic: smallest topic.")] = None,
        n_topics: Annotated[int | None, typer.Option(help="NMF: number of topics; BERTopic: at most.")] = None,
        force_assign: Annotated[bool, typer.Option(help="Give outliers their nearest topic.")] = False,
        coherence: Annotated[str, typer.Option(help="c_npmi or c_v.")] = "c_npmi",
        plot: Annotated[Path | None, typer.Option(help="Write a topic map (.png, .svg, .pdf or .html).")] = None,
        link: Annotated[bool, typer.Option("--link/--no-link", help="Re-link skills to topics afterwards.")] = True,
        limit: Annotated[int, typer.Option(help="Topics to list.")] = 60,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    ) -> None:
        """Topics of the papers and documents: BERTopic on stored embeddings, NMF for small corpora.

        The first run fits; later runs assign newly ingested documents to the existing topics
        without refitting, until --refit.
        """
        from kg.errors import require
        from kg.graph import KnowledgeGraph
        from kg.model import Label
        from kg.topic_quality import topic_map
        from kg.topics import TopicConfig, update_topics

        cfg = TopicConfig(method=method, seed=seed, min_topic_size=min_topic_size, n_topics=n_topics,
                          force_assign=force_assign, coherence=coherence)
        if plot is not None:  # the plotting library, checked before a fit that may take minutes
            html = plot.suffix.lower() in (".html", ".htm")
            require("plotly.graph_objects" if html else "matplotlib", "topics",
                    "the HTML topic map" if html else "the topic map")
        g = KnowledgeGraph.open(store, create=False)
        try:
            from retrieval.index import store_writer

            with store_writer(g.store):  # other processes' searches meanwhile keep the index as it was
                rep = update_topics(g, cfg, refit=refit)
            links = None
            if link and next(g.store.iter_nodes([Label.SKILL]), None) is not None:
                from kg.skills import link_skills

                links = link_skills(g)
            written = topic_map(g, plot) if plot is not None else None
        finally:
            g.close()
        if as_json:
            out = rep.to_dict()
            if links is not None:
                out["skill_links"] = links.to_dict()
            if written is not None:
                out["plot"] = str(written)
            sys.stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
            return
        from rich.console import Console

        console = Console()
        console.print(_table(rep, limit))
        if links is not None:
            console.print(f"skills linked: {links.topic_links} topic and {links.paper_links} paper links "
                          f"({links.method})")
        if written is not None:
            console.print(f"topic map written to {written}", highlight=False)
