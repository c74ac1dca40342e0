"""The ``kg`` command line. Heavy libraries are imported inside commands, so ``kg --help`` is fast."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from kg.errors import KGError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="kgloom: turn folders of papers, documents and agent skills into a knowledge graph.")

StoreOpt = Annotated[str | None, typer.Option("--store", "-s", envvar="KG_STORE",
                                               help="Store folder or neo4j:// URL (default ./.kg).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]


def _open(store: str | None, *, create: bool = False) -> Any:
    """The graph at ``--store``. Only ``kg ingest`` creates a store: every other command gets a
    one-line error (exit 2) for a path that holds none, and creates nothing."""
    from kg.graph import KnowledgeGraph

    return KnowledgeGraph.open(store, create=create)


def _print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, default=str) + "\n")


def _console() -> Any:
    from rich.console import Console

    return Console(stderr=False)


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


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files and folders to ingest.")],
    store: StoreOpt = None,
    prune: Annotated[bool, typer.Option(help="Remove sources under these folders whose files are gone.")] = False,
    force: Annotated[bool, typer.Option(help="Re-read files even when unchanged.")] = False,
    embed: Annotated[bool | None, typer.Option("--embed/--no-embed", help="Compute dense embeddings.")] = None,
    workers: Annotated[int, typer.Option(help="Parser processes (0: one per CPU core, at most 4).")] = 0,
    max_file_mb: Annotated[float, typer.Option(help="Skip files larger than this (MiB).")] = 512,
    as_json: JsonOpt = False,
) -> None:
    """Ingest files and folders into the graph (incremental: unchanged files are skipped)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    g = _open(store, create=True)
    console = _console()
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

        report = g.ingest(*paths, prune=prune, force=force, embed=embed, workers=workers,
                          max_file_mb=max_file_mb, progress=progress, embed_progress=embed_progress)
    stats = g.stats()
    g.close()
    if as_json:
        _print_json({**report.to_dict(), "stats": stats})
    else:
        summary = ", ".join(f"{n} {k}" for k, n in sorted(report.summary().items())) or "no files"
        phases = ", ".join(f"{k} {v:.1f}s" for k, v in report.phases.items())
        console.print(f"[bold]{len(report.files)} files[/bold] in {report.seconds:.1f}s ({phases}): {summary}",
                      highlight=False)
        for f in report.failed:
            console.print(f"[red]error[/red] {f.path}: {'; '.join(f.errors[:3])}", highlight=False, soft_wrap=True)
        warned = [f for f in report.files if f.warnings]
        if warned:
            console.print(f"[yellow]{sum(len(f.warnings) for f in warned)} warnings[/yellow] in {len(warned)} files "
                          "(kg ingest --json lists them)")
        console.print(_stats_table(stats))
    raise typer.Exit(0 if report.ok else 1)


@app.command()
def remove(paths: Annotated[list[Path], typer.Argument(help="Ingested files or folders.")],
           store: StoreOpt = None, as_json: JsonOpt = False) -> None:
    """Remove exactly what the given files contributed."""
    g = _open(store)
    report = g.remove(*paths)
    g.close()
    if as_json:
        _print_json(report.to_dict())
    else:
        for f in report.files:
            print(f"{f.status}: {f.path}" + (f" ({f.error})" if f.error else ""))
    raise typer.Exit(0 if report.ok else 1)


@app.command()
def stats(store: StoreOpt = None, as_json: JsonOpt = False) -> None:
    """Counts per node label and edge type."""
    g = _open(store)
    s = g.stats()
    g.close()
    if as_json:
        _print_json(s)
    else:
        _console().print(_stats_table(s))


@app.command()
def show(node_id: Annotated[str, typer.Argument(help="A node id (see kg search / kg export).")],
         store: StoreOpt = None, limit: Annotated[int, typer.Option(help="Neighbours to list.")] = 50,
         as_json: JsonOpt = False) -> None:
    """A node, its properties, its sources and its neighbours."""
    g = _open(store)
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
        _print_json({"id": node.id, "label": node.label, "properties": node.properties,
                     "sources": list(node.sources), "neighbors": rels})
        return
    from rich.table import Table

    console = _console()
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


@app.command()
def export(out: Annotated[Path | None, typer.Argument(help="Output file (not needed with --to).")] = None,
           store: StoreOpt = None,
           fmt: Annotated[str, typer.Option("--format", "-f", help="jsonl or graphml.")] = "jsonl",
           to: Annotated[str | None, typer.Option("--to", help="Copy into another store (neo4j://...).")] = None
           ) -> None:
    """Export the graph as JSON Lines or GraphML, or copy it into another store."""
    g = _open(store)
    if to:
        from kg.neo4j.cypher_copy import copy_store

        counts = copy_store(g.store, to)
    elif out is None:
        raise typer.BadParameter("give an output file, or --to URL")
    else:
        counts = g.export(out, format=fmt)
    g.close()
    print(json.dumps(counts))


def _register_optional_commands() -> None:
    """Commands that live next to the features they drive (retrieval, neo4j, agents, ...)."""
    import importlib

    for mod in ("retrieval.cli", "kg.neo4j_cli", "kg.topics_cli", "kg.skills_cli", "kg.distill_cli",
                "retrieval.agents_cli"):
        try:
            m = importlib.import_module(mod)
        except ModuleNotFoundError as e:
            if e.name != mod:
                raise
            continue
        m.register(app)


_register_optional_commands()


def main() -> None:
    """Console-script entry point: run the app, turning kgloom errors (a missing optional module
    included) into one-line messages and exit status 2."""
    try:
        app()
    except KGError as e:
        sys.stderr.write(f"error: {e}\n")
        sys.exit(2)
    except ImportError as e:  # an optional module imported without kg.errors.require
        from kg.errors import missing_extra

        err = missing_extra(e)
        if err is None:
            raise
        sys.stderr.write(f"error: {err}\n")
        sys.exit(2)


if __name__ == "__main__":
    main()
