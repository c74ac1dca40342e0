"""``kg distill``: train, activate and report on a fast student encoder (see :mod:`kg.distill`)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from kg.cli.options import StoreOpt
from kg.errors import ConfigError


@contextmanager
def _progress_bar(enabled: bool) -> Iterator[Any]:
    """A rich progress bar on stderr, yielding a ``train_student`` progress callback."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    with Progress(TextColumn("[bold]distill"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("{task.description}"), console=console, transient=True,
                  disable=not enabled or not console.is_terminal) as bar:
        task = bar.add_task("", total=None)

        def progress(step: int, total: int, losses: dict[str, float]) -> None:
            if step == 1:  # a new run (the report trains twice)
                bar.reset(task, total=total)
            bar.update(task, completed=step,
                       description=" ".join(f"{k} {v:.4f}" for k, v in losses.items()))

        yield progress


def register(app: typer.Typer) -> None:
    """Add ``kg distill`` to the ``kg`` app."""

    @app.command(name="distill")
    def distill_cmd(
        store: StoreOpt = None,
        activate: Annotated[bool, typer.Option("--activate", help="Make the student the store's encoder "
                                               "(re-encodes the index); with --model, activate without training.")] = False,
        deactivate: Annotated[bool, typer.Option("--deactivate", help="Return the store to its teacher encoder.")] = False,
        model: Annotated[str | None, typer.Option(help="With --activate: a saved student folder, or 'student' "
                                                  "for the latest one.")] = None,
        report: Annotated[Path | None, typer.Option("--report", help="Distil on this BEIR folder's corpus and "
                                                    "compare with the teacher (uses the kg eval store cache).")] = None,
        split: Annotated[str, typer.Option(help="qrels split scored by --report.")] = "test",
        epochs: Annotated[int | None, typer.Option(help="Passes over the training texts.")] = None,
        seed: Annotated[int, typer.Option(help="Seed for sampling, shuffling and torch.")] = 0,
        lr: Annotated[float | None, typer.Option(help="Learning rate (Adam on the rows a step touches).")] = None,
        batch_size: Annotated[int | None, typer.Option(help="Texts per step.")] = None,
        w_cos: Annotated[float | None, typer.Option(help="Weight of the cosine regression to the teacher.")] = None,
        w_rel: Annotated[float | None, typer.Option(help="Weight of the in-batch relational (KL) term.")] = None,
        w_graph: Annotated[float | None, typer.Option(help="Weight of the graph term.")] = None,
        graph: Annotated[bool, typer.Option("--graph/--no-graph", help="Use the graph term.")] = True,
        spans_per_doc: Annotated[int | None, typer.Option(help="Sentence spans per document added as training texts.")] = None,
        init: Annotated[str | None, typer.Option(help="Start from this saved student folder instead of a "
                                                 "model2vec distillation of the teacher.")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    ) -> None:
        """Distil the store's encoder into a fast static student trained on the store's own text and graph."""
        from dataclasses import replace

        from kg import distill as d
        from kg.graph import KnowledgeGraph

        if activate and deactivate:
            raise ConfigError("--activate and --deactivate exclude each other")
        if report is not None and (activate or deactivate or model):
            raise ConfigError("--report trains on the BEIR folder's own eval store; drop --activate/--deactivate/--model")
        train = d.TrainConfig(seed=seed)
        overrides: dict[str, Any] = {k: v for k, v in {"epochs": epochs, "lr": lr, "batch_size": batch_size, "w_cos": w_cos,
                                       "w_rel": w_rel, "w_graph": w_graph}.items() if v is not None}
        cfg = d.DistillConfig(train=replace(train, **overrides), graph=graph)
        if spans_per_doc is not None:
            cfg = replace(cfg, spans_per_doc=spans_per_doc)
        if init is not None:
            cfg = replace(cfg, init=str(Path(init).expanduser().resolve()))
        out: dict[str, Any]
        if report is not None:
            from kg.distill.report import distill_report

            with _progress_bar(not as_json) as progress:
                out = distill_report(report, config=cfg, split=split, progress=progress)
            _emit(out, as_json)
            return
        g = KnowledgeGraph.open(store, create=False)
        try:
            if deactivate:
                out = {"encoder": d.deactivate(g, show_progress=not as_json), "activated": False}
            elif activate and model:
                out = {"encoder": d.activate(g, model, show_progress=not as_json), "activated": True}
            else:
                with _progress_bar(not as_json) as progress:
                    res = d.distill(g, cfg, activate_after=activate, progress=progress)
                m = res.manifest
                out = {"path": str(res.path), "activated": res.activated, "teacher": m.get("teacher"),
                       "train_seconds": res.train_seconds, "texts": m.get("texts"), "pairs": m.get("pairs"),
                       "metrics": m.get("metrics"), "losses": (m.get("losses") or [])[-1:],
                       "data_hash": m.get("data_hash")}
        finally:
            g.close()
        _emit(out, as_json)


def _emit(out: dict[str, Any], as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps(out, default=str) + "\n")
        return
    for key, v in out.items():
        s = v if isinstance(v, str) else json.dumps(v, default=str)
        print(f"{key:>20}: {s}")
