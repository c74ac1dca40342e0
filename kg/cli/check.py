"""``kg check``: verify an embedded store, and repair what is safe (:meth:`kg.graph.KnowledgeGraph.check`)."""

from __future__ import annotations

from typing import Annotated

import typer

from kg.cli.options import JsonOpt, StoreOpt, open_graph, print_json


def check(
    store: StoreOpt = None,
    repair: Annotated[bool, typer.Option("--repair", help="Fix what can be fixed safely, and say what was done.")]
    = False,
    as_json: JsonOpt = False,
) -> None:
    """Verify a store: SQLite integrity, provenance, the search index and its vectors.

    Exit status 0 when nothing is wrong (after --repair: nothing is left), 1 with a report of
    each finding otherwise.
    """
    from kg.errors import StoreError, StoreNotFoundError
    from kg.store.check import CheckReport, Finding

    try:
        g = open_graph(store)
    except StoreNotFoundError:
        raise
    except StoreError as e:  # a store that does not even open: that is the finding
        from kg.store import default_store_url

        report = CheckReport(store or default_store_url(), [Finding("open", str(e))])
    else:
        try:
            report = g.check(repair=repair)
        finally:
            g.close()
    if as_json:
        print_json(report.to_dict())
    else:
        print("\n".join(report.lines()))
    raise typer.Exit(0 if report.ok else 1)


def register(app: typer.Typer) -> None:
    """Add ``kg check`` to ``app``."""
    app.command()(check)
