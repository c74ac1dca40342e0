"""The store contract, documented once here; backends: ``sqlite`` (embedded default), ``neo4j``.

A store keeps nodes and edges together with their *support*: which source (a file path and its
content hash) contributed which properties. Writes are batch-first and per source:
:meth:`GraphStore.write_source` replaces everything one source contributed, in one transaction;
:meth:`GraphStore.remove_source` drops it. A node or edge that no source supports any more is
deleted; a node several sources support keeps the merged properties of the rest.

Property merge rule (deterministic, independent of ingest order): supports are ordered by
(stub last, source path); for each property the first support that has it wins.

Besides the graph, a store reports its *provenance* (which source gave what: :meth:`GraphStore.node_supports`,
:meth:`~GraphStore.node_keys`, :meth:`~GraphStore.edge_supports`), which copies between stores read,
and declares what it can do beyond the contract: :attr:`~GraphStore.folder` (files kept beside the
graph), :attr:`~GraphStore.search_engine` (what ranks its nodes), :attr:`~GraphStore.writes_first_loads`
and :attr:`~GraphStore.runs_cypher`. Code above the stores decides by these, never by a store's
type or URL.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from kg.errors import QueryError, StoreError
from kg.model import Edge, Node, ReadResult
from kg.store.merge import EdgeKey
from kg.store.provenance import EdgeSupport, NodeKey, NodeSupport

if TYPE_CHECKING:
    from kg.store.first_load import FirstLoad

Direction = Literal["out", "in", "both"]


@dataclass(slots=True)
class SourceInfo:
    """A source file as the ingest pipeline sees it."""

    path: str
    hash: str
    size: int = 0
    mtime: float = 0.0
    reader: str = ""


@dataclass(slots=True)
class SourceState(SourceInfo):
    """A source as recorded in the store after ingest."""

    n_nodes: int = 0
    n_edges: int = 0
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    ingested_at: str = ""


@dataclass(slots=True)
class WriteStats:
    """What one write changed."""

    nodes_written: int = 0
    edges_written: int = 0
    nodes_deleted: int = 0
    edges_deleted: int = 0
    renamed: dict[str, str] = field(default_factory=dict)
    dropped_edges: int = 0  # edges whose endpoint was not among the source's nodes


@dataclass(slots=True)
class Changes:
    """Nodes upserted and deleted since a version (for keeping search indexes in step)."""

    upserted: list[str]
    deleted: list[str]
    version: int


class GraphStore(ABC):
    """Backend contract. Small and batch-first; the :class:`kg.graph.KnowledgeGraph` facade
    builds everything else (neighbourhoods, exports, search) on top of it."""

    url: str
    #: the folder an embedded store lives in, where its search index, topic model and student
    #: models are kept beside the graph; None for a server store (everything is in its database)
    folder: Path | None = None
    #: what ranks this store's nodes in a search: ``"index"``, the index files of
    #: :mod:`retrieval.index` in :attr:`folder`, or ``"neo4j"``, the full-text and vector indexes
    #: inside a Neo4j database (:mod:`kg.neo4j.search`); :func:`retrieval.backends.backend_for` picks by it
    search_engine: ClassVar[str] = "index"
    #: whether :meth:`write_first_load` writes many new sources in one pass (else ingest writes
    #: them one by one)
    writes_first_loads: ClassVar[bool] = False
    #: whether :meth:`cypher` runs real Cypher (else agents use the Cypher subset of
    #: :mod:`retrieval.agents.tools`)
    runs_cypher: ClassVar[bool] = False

    # -- sources -------------------------------------------------------------------------------
    @abstractmethod
    def write_source(self, source: SourceInfo, result: ReadResult, *, derived: bool = False) -> WriteStats:
        """Replace everything ``source.path`` contributed with ``result``, atomically.

        Edges must connect nodes of ``result``; a ``derived`` source (topic model, inferred
        links; path like ``kgloom://topics``) may also point at nodes already stored. Such edges
        disappear with the node they point at.
        """

    @abstractmethod
    def remove_source(self, path: str) -> WriteStats:
        """Remove everything ``path`` contributed (no-op for an unknown path)."""

    @abstractmethod
    def source(self, path: str) -> SourceState | None:
        """The recorded state of one source, or None."""

    @abstractmethod
    def sources(self) -> list[SourceState]:
        """All recorded sources, by path."""

    @abstractmethod
    def touch_source(self, path: str, mtime: float) -> None:
        """Record a new mtime for an unchanged source (content hash equal)."""

    def write_first_load(self, load: FirstLoad) -> None:
        """Write staged new sources (:class:`kg.store.first_load.FirstLoad`) into a store without
        sources, in one pass; only where :attr:`writes_first_loads` says so."""
        raise StoreError(f"{type(self).__name__} writes sources one by one (no first loads)")

    # -- reads ---------------------------------------------------------------------------------
    @abstractmethod
    def get_nodes(self, ids: Sequence[str]) -> dict[str, Node]:
        """Nodes by id (missing ids are absent from the result)."""

    def display_names(self, ids: Sequence[str]) -> dict[str, str]:
        """Each node's caption (:func:`kg.model.caption`) by id, missing ids absent: what search
        filters match authors and categories by, without reading whole nodes."""
        return {nid: n.title for nid, n in self.get_nodes(ids).items()}

    @abstractmethod
    def iter_nodes(self, labels: Iterable[str] | None = None) -> Iterator[Node]:
        """All nodes, optionally only some labels, in id order."""

    @abstractmethod
    def iter_edges(self, types: Iterable[str] | None = None) -> Iterator[Edge]:
        """All edges, optionally only some types."""

    def edge_keys(self, types: Iterable[str] | None = None) -> Iterator[tuple[str, str, str]]:
        """``(source, type, target)`` of all edges (optionally only some types), in no set order:
        :meth:`iter_edges` without properties, for scans that need only the structure."""
        for e in self.iter_edges(types):
            yield e.source, e.type, e.target

    @abstractmethod
    def edges_of(self, ids: Sequence[str], *, types: Iterable[str] | None = None,
                 direction: Direction = "both") -> list[Edge]:
        """Edges touching any of ``ids`` (out: ids are sources; in: ids are targets)."""

    @abstractmethod
    def node_sources(self, node_id: str) -> list[str]:
        """Paths of the sources that support a node."""

    @abstractmethod
    def ids_by_source(self, prefix: str) -> set[str]:
        """Ids of nodes supported by the source ``prefix`` or by sources under that folder."""

    @abstractmethod
    def counts(self) -> dict[str, dict[str, int]]:
        """``{"nodes": {label: n}, "edges": {type: n}}``."""

    # -- provenance ----------------------------------------------------------------------------
    @abstractmethod
    def node_supports(self, ids: Sequence[str] | None = None) -> Iterator[NodeSupport]:
        """What each source contributed to the nodes ``ids`` (every node when None), in no set order:
        ``(node id, source path, label, stub, properties as canonical JSON)``."""

    @abstractmethod
    def node_keys(self, ids: Sequence[str] | None = None) -> Iterator[NodeKey]:
        """The identity keys of the nodes ``ids`` (every node when None), in no set order:
        ``(key, node id, source path)``."""

    @abstractmethod
    def edge_supports(self, keys: Iterable[EdgeKey] | None = None) -> Iterator[EdgeSupport]:
        """What each source contributed to the edges ``keys`` (every edge when None, then in
        ``(source, type, target)`` order): ``(source id, type, target id, source path, properties)``."""

    @abstractmethod
    def derived_sources(self) -> set[str]:
        """Paths of the sources written with ``derived=True`` (edges between nodes they do not support)."""

    @abstractmethod
    def changes_since(self, version: int) -> Changes:
        """Node ids upserted/deleted after ``version`` and the current version."""

    def version(self) -> int:
        """The store's change counter (bumped by every write); cheap."""
        return self.changes_since(1 << 62).version

    # -- metadata --------------------------------------------------------------------------------
    @abstractmethod
    def get_meta(self, key: str) -> Any:
        """A JSON value stored under ``key`` (None when absent)."""

    @abstractmethod
    def set_meta(self, key: str, value: Any) -> None:
        """Store a JSON value under ``key``."""

    @abstractmethod
    def user_meta(self) -> dict[str, Any]:
        """Every value stored with :meth:`set_meta`, by key."""

    # -- the rest ------------------------------------------------------------------------------------
    def cypher(self, query: str, params: dict[str, Any] | None = None, *, timeout: float = 30.0,
               max_rows: int = 10_000) -> Any:
        """Run a read-only Cypher query (at most ``timeout`` seconds and ``max_rows`` rows); only
        where :attr:`runs_cypher` says so."""
        raise QueryError("Cypher needs a Neo4j store (--store neo4j://...); the embedded store offers "
                         "search, node, neighbors and shortest_path instead")

    @abstractmethod
    def reopen(self) -> None:
        """Close and reopen connections: a connection must not cross a fork, so a forked process
        reopens, and so does its parent once it is done."""

    @abstractmethod
    def close(self) -> None:
        """Release connections and files."""

    def __enter__(self) -> GraphStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
