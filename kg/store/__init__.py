"""Graph stores: pick a backend by URL with :func:`open_store`.

- a folder path (default ``./.kg``) or ``sqlite:///path`` -> :class:`kg.store.sqlite.SQLiteStore`
- ``neo4j://``, ``neo4j+s://``, ``bolt://``, ``bolt+s://`` -> ``kg.neo4j.store.Neo4jStore``
  (needs ``pip install 'kgloom[neo4j]'``)
"""

from __future__ import annotations

import os
from pathlib import Path

from kg.errors import StoreNotFoundError, UnknownStoreError
from kg.store.base import Changes, GraphStore, SourceInfo, SourceState, WriteStats

DEFAULT_STORE = "./.kg"
NEO4J_SCHEMES = ("neo4j://", "neo4j+s://", "neo4j+ssc://", "bolt://", "bolt+s://", "bolt+ssc://")


def default_store_url() -> str:
    """``$KG_STORE`` or ``./.kg``."""
    return os.environ.get("KG_STORE") or DEFAULT_STORE


def open_store(url: str | Path | None = None, *, create: bool = True) -> GraphStore:
    """Open the store at ``url``, creating an embedded one if needed.

    ``create=False`` (read-only use): a local path that holds no store raises
    :class:`~kg.errors.StoreNotFoundError` and nothing is created on disk; Neo4j URLs are unaffected.

    >>> store = open_store("./.kg")  # doctest: +SKIP
    >>> store = open_store("neo4j://neo4j:secret@localhost:7687")  # doctest: +SKIP
    """
    u = str(url) if url is not None else default_store_url()
    if u.startswith(NEO4J_SCHEMES):
        from kg.neo4j.store import Neo4jStore

        return Neo4jStore(u)
    from kg.store.sqlite import SQLiteStore

    return SQLiteStore(_local_path(u), create=create, hint=_create_hint(url))


def check_store(url: str | Path | None = None) -> None:
    """Raise :class:`~kg.errors.StoreNotFoundError` when ``url`` is a local path that holds no store
    (without opening or creating anything); Neo4j URLs always pass."""
    u = str(url) if url is not None else default_store_url()
    if u.startswith(NEO4J_SCHEMES):
        return
    from kg.store.sqlite import DB_NAME

    path = _local_path(u)
    if not (Path(path) / DB_NAME).is_file():
        raise StoreNotFoundError(path, _create_hint(url))


def _local_path(u: str) -> str:
    """The folder of an embedded store URL (a path or ``sqlite://PATH``)."""
    if u.startswith("sqlite://"):
        return u[len("sqlite://"):]
    if "://" in u:
        known = "a folder path, sqlite://PATH, " + ", ".join(NEO4J_SCHEMES)
        raise UnknownStoreError(f"unknown store URL scheme in {u!r}; known: {known}")
    return u


def _create_hint(url: str | Path | None) -> str:
    """The command that creates the store ``url`` names (``--store`` only when one was named)."""
    named = str(url) if url is not None else os.environ.get("KG_STORE")
    return "kg ingest FILES" + (f" --store {named}" if named else "")


__all__ = ["Changes", "GraphStore", "SourceInfo", "SourceState", "WriteStats", "check_store", "default_store_url",
           "open_store"]
