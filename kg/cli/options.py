"""What every ``kg`` command shares: the ``--store`` and ``--json`` options and their helpers."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer

StoreOpt = Annotated[str | None, typer.Option("--store", "-s", envvar="KG_STORE",
                                               help="Store folder or neo4j:// URL (default ./.kg).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]
IngestEncoderOpt = Annotated[str, typer.Option(
    "--encoder", help="auto: the store's encoder, but above --auto-threshold texts to embed (and no active "
    "student) distil a student on a stratified sample and encode everything with it; teacher: never distil; "
    "or an encoder spec to switch the store to (student, a student folder, minilm-onnx, ...).")]
AutoThresholdOpt = Annotated[int | None, typer.Option(
    "--auto-threshold", help="With --encoder auto: texts to embed above which a student is distilled "
    "(default 50,000, kg.distill.policy.AUTO_THRESHOLD).")]


def open_graph(store: str | None, *, create: bool = False) -> Any:
    """The graph at ``--store``. Only ``kg ingest`` creates a store: every other command gets a
    one-line error (exit 2) for a path that holds none, and creates nothing."""
    from kg.graph import KnowledgeGraph

    return KnowledgeGraph.open(store, create=create)


def print_json(obj: Any) -> None:
    """One JSON document on stdout (non-ASCII kept, unknown types as strings)."""
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, default=str) + "\n")


def console() -> Any:
    """A rich console on stdout."""
    from rich.console import Console

    return Console(stderr=False)
