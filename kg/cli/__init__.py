"""The ``kg`` command line: one Typer app, its commands in one module per area.

Heavy libraries are imported inside commands, so ``kg --help`` is fast; a missing optional
package surfaces as a one-line error naming its pip extra (exit 2), never a traceback.

- :mod:`kg.cli.graph`: ingest, remove, stats, show, export
- :mod:`kg.cli.search`: search, eval
- :mod:`kg.cli.agents`: mcp, context, ask
- :mod:`kg.cli.topics`, :mod:`kg.cli.skills`, :mod:`kg.cli.distill`: the features of those names
- :mod:`kg.cli.neo4j`: ``kg neo4j build | start | import | cypher``
- :mod:`kg.cli.check`: ``kg check`` (verify and repair a store)
- :mod:`kg.cli.serve`: ``kg serve``, the web explorer (:mod:`kg.web`)
"""

from __future__ import annotations

import sys

import typer

from kg.cli import agents, check, distill, graph, neo4j, search, serve, skills, topics
from kg.errors import KGError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="kgloom: turn folders of papers, documents and agent skills into a knowledge graph.")
for _area in (graph, search, neo4j, topics, skills, distill, agents, check, serve):
    _area.register(app)


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


__all__ = ["app", "main"]
