"""``kg ingest``, ``kg remove``, ``kg stats``, ``kg show`` and ``kg export``: building and reading the graph."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from kg.cli.options import AutoThresholdOpt, IngestEncoderOpt, JsonOpt, StoreOpt, open_graph, print_json
from kg.cli.options import console as make_console


def _stats_table(stats: dict[str, dict[str, int]]) -> Any:
    from rich.table import Table

    t = Table(title="Graph", show_lines=False)
    t.add_column("kind")
    t.add_column("name")
    t.add_column("count", justify="right")
    for kind in ("nodes", "edges"):
        for name, n in stats[kind].items():
            t.add_row(kind[:-1], name, f"{n:,}")
    return t


def _formats_table(formats: dict[str, dict[str, Any]]) -> Any:
    from rich.table import Table

    t = Table(title="Formats", show_lines=False)
    t.add_column("format")
    for col in ("files", "nodes", "edges", "errors", "seconds"):
        t.add_column(col, justify="right")
    for name, row in formats.items():
        t.add_row(name, f"{row['files']:,}", f"{row['nodes']:,}", f"{row['edges']:,}",
                  f"[red]{row['errors']:,}[/red]" if row["errors"] else "0", f"{row['seconds']:.2f}")
    return t


def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files and folders to ingest.")],
    store: StoreOpt = None,
    prune: Annotated[bool, typer.Option(help="Remove sources under these folders whose files are gone.")] = False,
    force: Annotated[bool, typer.Option(help="Re-read files even when unchanged.")] = False,
    embed: Annotated[bool | None, typer.Option("--embed/--no-embed", help="Compute dense embeddings.")] = None,
    workers: Annotated[int, typer.Option(help="Parser processes (0: one per CPU core, at most 4).")] = 0,
    max_file_mb: Annotated[float, typer.Option(help="Skip files larger than this (MiB).")] = 512,
    encoder: IngestEncoderOpt = "auto",
    auto_threshold: AutoThresholdOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Ingest files and folders into the graph (incremental: unchanged files are skipped)."""
    import time

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    policy = None
    if auto_threshold is not None:
        from kg.distill.policy import EncoderPolicy

        policy = EncoderPolicy(threshold=auto_threshold)
    g = open_graph(store, create=True)
    console = make_console()
    errors = Console(stderr=True)
    t_start = time.perf_counter()
    with Progress(TextColumn("[bold]{task.fields[phase]}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("{task.description}"), console=console, transient=True,
                  disable=as_json or not console.is_terminal) as bar:
        task = bar.add_task("", total=None, phase="ingest")
        files_done = 0
        embed_task = None  # added when the embedding pass starts

        def progress(fr: Any) -> None:
            nonlocal files_done
            files_done += 1
            bar.update(task, completed=files_done, description=Path(fr.path).name[:60])

        def embed_progress(done: int, total: int) -> None:
            nonlocal embed_task
            if embed_task is None:
                bar.update(task, total=files_done, description="")  # every file is read and written
                embed_task = bar.add_task("", total=total, phase="embed")
            bar.update(embed_task, completed=done, total=total,
                       description="texts" if done else "loading the encoder")

        train_task = None

        def phase(name: str, message: str) -> None:  # the encoder policy's phases: one line each, on stderr
            nonlocal embed_task
            embed_task = None  # the next encoding pass gets a bar of its own
            errors.print(f"[{time.perf_counter() - t_start:7.1f}s] {name}: {message}", highlight=False,
                         soft_wrap=True)

        def train_progress(step: int, total: int, losses: dict[str, float]) -> None:
            nonlocal train_task
            if train_task is None:
                train_task = bar.add_task("", total=total, phase="train")
            bar.update(train_task, completed=step, total=total,
                       description=" ".join(f"{k} {v:.3f}" for k, v in losses.items()))

        report = g.ingest(*paths, prune=prune, force=force, embed=embed, workers=workers,
                          max_file_mb=max_file_mb, progress=progress, embed_progress=embed_progress,
                          encoder=encoder, encoder_policy=policy, phase=phase, train_progress=train_progress)
    stats = g.stats()
    encoder_outcome = (g.last_ingest() or {}).get("encoder")
    g.close()
    if as_json:
        print_json({**report.to_dict(), "stats": stats, "encoder": encoder_outcome})
    else:
        summary = ", ".join(f"{n} {k}" for k, n in sorted(report.summary().items())) or "no files"
        phases = ", ".join(f"{k} {v:.1f}s" for k, v in report.phases.items())
        console.print(f"[bold]{len(report.files)} files[/bold] in {report.seconds:.1f}s ({phases}): {summary}",
                      highlight=False)
        if encoder_outcome and encoder_outcome.get("action") == "distilled":
            console.print(f"encoder: {encoder_outcome['texts']:,} texts embedded by a student distilled on "
                          f"{encoder_outcome['sampled_docs']:,} sampled documents ({encoder_outcome['teacher_texts']:,} "
                          f"teacher texts): {encoder_outcome['student']}", highlight=False, soft_wrap=True)
        if any(f.status not in ("unchanged", "removed") for f in report.files):  # some files were read
            console.print(_formats_table(report.by_format()))
        for f in report.failed:
            console.print(f"[red]error[/red] {f.path}: {'; '.join(f.errors[:3])}", highlight=False, soft_wrap=True)
        warned = [f for f in report.files if f.warnings]
        if warned:
            console.print(f"[yellow]{sum(len(f.warnings) for f in warned)} warnings[/yellow] in {len(warned)} files "
                          "(kg ingest --json lists them)")
        console.print(_stats_table(stats))
    raise typer.Exit(0 if report.ok else 1)


def remove(paths: Annotated[list[Path], typer.Argument(help="Ingested files or folders.")],
           store: StoreOpt = None, as_json: JsonOpt = False) -> None:
    """Remove exactly what the given files contributed."""
    g = open_graph(store)
    report = g.remove(*paths)
    g.close()
    if as_json:
        print_json(report.to_dict())
    else:
        for f in report.files:
            print(f"{f.status}: {f.path}" + (f" ({f.error})" if f.error else ""))
    raise typer.Exit(0 if report.ok else 1)


def stats(store: StoreOpt = None, as_json: JsonOpt = False) -> None:
    """Counts per node label and edge type."""
    g = open_graph(store)
    s = g.stats()
    g.close()
    if as_json:
        print_json(s)
    else:
        make_console().print(_stats_table(s))


def show(node_id: Annotated[str, typer.Argument(help="A node id (see kg search / kg export).")],
         store: StoreOpt = None, limit: Annotated[int, typer.Option(help="Neighbours to list.")] = 50,
         as_json: JsonOpt = False) -> None:
    """A node, its properties, its sources and its neighbours."""
    g = open_graph(store)
    sub = g.neighborhood(node_id, limit=limit)
    node = sub.nodes[0]
    byid = {n.id: n for n in sub.nodes}
    rels = [{"type": e.type, "direction": "out" if e.source == node_id else "in",
             "id": e.target if e.source == node_id else e.source,
             "label": byid[e.target if e.source == node_id else e.source].label,
             "title": byid[e.target if e.source == node_id else e.source].title, "properties": e.properties}
            for e in sub.edges if node_id in (e.source, e.target)]
    g.close()
    if as_json:
        print_json({"id": node.id, "label": node.label, "properties": node.properties,
                     "sources": list(node.sources), "neighbors": rels})
        return
    from rich.table import Table

    console = make_console()
    console.print(f"[bold]{node.label}[/bold] {node.id}")
    t = Table(show_header=False)
    for k, v in node.properties.items():
        s = v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)
        t.add_row(k, s if len(s) < 400 else s[:400] + "…")
    console.print(t)
    for src in node.sources:
        console.print(f"source: {src}", highlight=False)
    nt = Table(title=f"{len(rels)} neighbours")
    for col in ("edge", "label", "id", "title"):
        nt.add_column(col)
    for r in rels:
        arrow = f"-[{r['type']}]->" if r["direction"] == "out" else f"<-[{r['type']}]-"
        nt.add_row(arrow, r["label"], r["id"], str(r["title"])[:70])
    console.print(nt)


def export(out: Annotated[Path | None, typer.Argument(help="Output file (not needed with --to).")] = None,
           store: StoreOpt = None,
           fmt: Annotated[str, typer.Option("--format", "-f", help="jsonl or graphml.")] = "jsonl",
           to: Annotated[str | None, typer.Option("--to", help="Copy into another store (neo4j://...).")] = None
           ) -> None:
    """Export the graph as JSON Lines or GraphML, or copy it into another store."""
    g = open_graph(store)
    if to:
        from kg.neo4j.cypher_copy import copy_store

        counts = copy_store(g.store, to)
    elif out is None:
        raise typer.BadParameter("give an output file, or --to URL")
    else:
        counts = g.export(out, format=fmt)
    g.close()
    print(json.dumps(counts))


def register(app: typer.Typer) -> None:
    """Add the graph commands to the ``kg`` app."""
    for command in (ingest, remove, stats, show, export):
        app.command()(command)
