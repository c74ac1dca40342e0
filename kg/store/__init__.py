"""Graph stores: pick a backend by URL with :func:`open_store`.

- a folder path (default ``./.kg``) or ``sqlite:///path`` -> :class:`kg.store.sqlite.SQLiteStore`
- ``neo4j://``, ``neo4j+s://``, ``bolt://``, ``bolt+s://`` -> ``kg.store.neo4j.Neo4jStore``
  (needs ``pip install 'kgloom[neo4j]'``)
"""

from __future__ import annotations

import os
from pathlib import Path

from kg.errors import UnknownStoreError
from kg.store.base import Changes, GraphStore, SourceInfo, SourceState, WriteStats

DEFAULT_STORE = "./.kg"
NEO4J_SCHEMES = ("neo4j://", "neo4j+s://", "neo4j+ssc://", "bolt://", "bolt+s://", "bolt+ssc://")


def default_store_url() -> str:
    """``$KG_STORE`` or ``./.kg``."""
    return os.environ.get("KG_STORE") or DEFAULT_STORE


def open_store(url: str | Path | None = None) -> GraphStore:
    """Open (creating if needed) the store at ``url``.

    >>> store = open_store("./.kg")  # doctest: +SKIP
    >>> store = open_store("neo4j://neo4j:secret@localhost:7687")  # doctest: +SKIP
    """
    u = str(url) if url is not None else default_store_url()
    if u.startswith(NEO4J_SCHEMES):
        from kg.store.neo4j import Neo4jStore

        return Neo4jStore(u)
    if u.startswith("sqlite://"):
        u = u[len("sqlite://"):]
    elif "://" in u:
        known = "a folder path, sqlite://PATH, " + ", ".join(NEO4J_SCHEMES)
        raise UnknownStoreError(f"unknown store URL scheme in {u!r}; known: {known}")
    from kg.store.sqlite import SQLiteStore

    return SQLiteStore(u)


__all__ = ["Changes", "GraphStore", "SourceInfo", "SourceState", "WriteStats", "default_store_url", "open_store"]
