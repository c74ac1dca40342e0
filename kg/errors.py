"""The one exception root of kgloom and its short tree.

::

    KGError
     ├── StoreError            storage backend failures (SQLite, Neo4j), translated at the boundary
     │    ├── StoreConnectionError   server unreachable / connection lost
     │    └── UnknownStoreError      a store URL with an unknown scheme
     ├── NodeNotFoundError     a node id that is not in the store (also a KeyError)
     ├── ReaderError           one input file could not be read (ingest reports it per file)
     ├── QueryError            a bad search / Cypher query
     │    └── ReadOnlyViolation     a query that would write, change schema or call admin procedures
     ├── ConfigError           invalid configuration or arguments
     └── MissingExtraError     an optional dependency is not installed (also an ImportError)
"""

from __future__ import annotations

from typing import Any


class KGError(Exception):
    """Root of every error kgloom raises on purpose."""


class StoreError(KGError):
    """A storage backend failed."""


class StoreConnectionError(StoreError):
    """The store's server could not be reached, or the connection was lost."""


class UnknownStoreError(StoreError, ValueError):
    """A store URL whose scheme no backend handles."""


class NodeNotFoundError(KGError, KeyError):
    """A node id that is not in the store."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else "node not found"


class ReaderError(KGError):
    """An input file could not be read; carries a one-line, user-facing reason."""


class QueryError(KGError):
    """A query could not be run."""


class ReadOnlyViolation(QueryError):
    """A query that would write data, change the schema or call an admin procedure."""


class ConfigError(KGError, ValueError):
    """Invalid configuration or arguments."""


class MissingExtraError(KGError, ImportError):
    """An optional dependency is missing; the message names the pip extra that installs it."""

    def __init__(self, package: str, extra: str, purpose: str = "") -> None:
        what = f" (needed for {purpose})" if purpose else ""
        super().__init__(
            f"{package} is not installed{what}. Install it with: pip install 'kgloom[{extra}]'"
        )
        self.package = package
        self.extra = extra


def require(module: str, extra: str, purpose: str = "") -> Any:
    """Import ``module`` or raise :class:`MissingExtraError` naming the pip ``extra``.

    >>> np = require("numpy", "core")
    """
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:  # also catches sys.modules[name] = None
        raise MissingExtraError(module.split(".")[0], extra, purpose) from e
