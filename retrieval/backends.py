"""Search backends: the small contract a store's search indexes meet, the embedded store's
implementation, and :func:`backend_for`, which picks a store's backend by what the store declares.

:func:`retrieval.hybrid.search` does the common work once (legs, chunk-to-parent results, fusion,
graph leg, hits) and asks a backend only for what differs between stores: one :class:`~kg.query.Ranking`
per leg, for a query (or its vector), a depth and the search's filters. Two backends:

- :class:`IndexBackend`: an embedded store, over the index files of :mod:`retrieval.index` kept in
  the store's folder and in step with it;
- :class:`kg.neo4j.search.Neo4jSearch`: a Neo4j store, over the full-text and vector indexes
  inside the database (given the encoder loader it embeds with).

>>> from kg.store import open_store
>>> backend = backend_for(open_store("./.kg"))  # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, TypeVar

from kg.errors import ConfigError
from kg.query import Filters, Ranking

if TYPE_CHECKING:
    import numpy as np

    from kg.store.base import GraphStore
    from retrieval.encoder import EncodeProgressFn, Encoder
    from retrieval.index import SearchIndex

W = TypeVar("W")  # a search's filters in one backend's terms, prepared once per search


class SearchBackend(Protocol[W]):
    """What :func:`retrieval.hybrid.search` needs of a store's search indexes.

    A search calls :meth:`prepare` once, then a leg method per leg with what it returned: rankings
    hold result ids (a chunk counts as its parent) best first, at most ``depth`` of them, under the
    search's filters. :meth:`sync_index` keeps the indexes in step with the store.
    """

    no_embeddings: str  # the error when a dense search meets a store without embeddings

    @property
    def store(self) -> GraphStore:
        """The store searched."""
        ...

    def index(self, *, sync: bool = False) -> SearchIndex | None:
        """The index files searched, in step with the store (first synced as :meth:`sync_index`
        does, with ``sync``); None when the indexes are inside a database."""
        ...

    def prepare(self, filters: Filters | None, *, dense: bool) -> W:
        """Get ready for one search (load what it needs; the embeddings too when ``dense``) and
        translate ``filters`` into this backend's terms."""
        ...

    def query_encoder(self, where: W) -> Encoder | None:
        """The encoder of query vectors; None when the store keeps no embeddings."""
        ...

    def bm25(self, query: str, depth: int, where: W) -> Ranking:
        """The BM25 (full-text) leg."""
        ...

    def dense(self, vector: np.ndarray, depth: int, where: W) -> Ranking:
        """The dense leg for a query vector of :meth:`query_encoder`."""
        ...

    def candidates(self, where: W) -> tuple[Collection[str], set[str] | None]:
        """What the graph leg may rank: every searchable result id, and those the filters let
        through (None when nothing is filtered)."""
        ...

    def sync_index(self, embed: bool | None = None, *, encoder: str | None = None, show_progress: bool = False,
                   progress: EncodeProgressFn | None = None, timings: dict[str, float] | None = None) -> None:
        """Bring the indexes in step with the store (``embed``: start or skip embeddings;
        ``encoder``: switch encoders); ``timings["embed"]`` is added the seconds spent embedding."""
        ...


def backend_for(store: GraphStore) -> SearchBackend[Any]:
    """The search backend of ``store``, picked by :attr:`~kg.store.base.GraphStore.search_engine`:
    the one place where search depends on what kind of store it searches."""
    engine = store.search_engine
    if engine == "index":
        return IndexBackend(store)
    if engine == "neo4j":
        from kg.neo4j.search import Neo4jSearch

        return Neo4jSearch(store, load_encoder=_load_encoder)
    raise ConfigError(f"no search backend for search engine {engine!r}; known: index, neo4j")


def _load_encoder(spec: str) -> Encoder:
    from retrieval.encoder import load_encoder

    return load_encoder(spec)


class Rows(NamedTuple):
    """An index and the row mask of one search's filters (None: every row)."""

    idx: SearchIndex
    mask: np.ndarray | None


def _stamp(folder: Path) -> tuple[int, int] | None:
    """When and how big the index manifest was written: a sync elsewhere changes it."""
    try:
        st = os.stat(folder / "manifest.json")
    except FileNotFoundError:
        return None
    return st.st_mtime_ns, st.st_size


class IndexBackend:
    """The search backend of an embedded store: BM25 and dense legs over :class:`~retrieval.index.
    SearchIndex` rows (all legs share one row mask per search), the index loaded once and reloaded
    when the store or the index files change."""

    no_embeddings = "this store has no embeddings; ingest with --embed (pip install 'kgloom[embeddings]')"

    def __init__(self, store: GraphStore) -> None:
        self.store = store
        self._index: SearchIndex | None = None
        self._stamp: tuple[int, int] | None = None

    def _keep(self, idx: SearchIndex) -> SearchIndex:
        self._index, self._stamp = idx, _stamp(idx.folder)
        return idx

    def index(self, *, sync: bool = False) -> SearchIndex:
        """The store's index, in step with it (synced first with ``sync``).

        While another process writes the store (:func:`retrieval.index.store_writer`: ``kg
        ingest``, ``kg remove``...), a store ahead of its index is not synced here: the search
        uses the index as it was before that write (as loaded, or as on disk), and the writer
        brings it in step. A reader thus never embeds the writer's texts nor waits for its
        embedding; it waits only while the index files are being replaced."""
        from retrieval.index import SearchIndex, writer_active

        if sync:
            self.sync_index()
        folder = SearchIndex.folder_for(self.store)
        if folder is None:
            raise ConfigError("this store keeps no folder for a search index")
        idx, current = self._index, self.store.version()
        if idx is None or idx.manifest.get("version") != current or _stamp(folder) != self._stamp:
            if idx is not None and _stamp(folder) == self._stamp and writer_active(folder):
                return idx  # the store is being written: the state before the write, until it is synced
            idx = SearchIndex.load(folder)
            if idx.manifest.get("version") != current and not writer_active(folder):
                return self._keep(SearchIndex.sync_store(self.store))
            self._keep(idx)
        return idx

    def prepare(self, filters: Filters | None, *, dense: bool) -> Rows:
        """The index in step, and the rows ``filters`` let through."""
        idx = self.index()
        return Rows(idx, idx.mask(filters, self.store))

    def query_encoder(self, where: Rows) -> Encoder | None:
        """The index's encoder (None without a dense leg)."""
        return None if where.idx.dense is None else where.idx.encoder

    def bm25(self, query: str, depth: int, where: Rows) -> Ranking:
        """The BM25 leg."""
        idx = where.idx
        rows, scores = idx.bm25.search(query, k=_fetch(idx, depth), mask=where.mask)
        return _ranking(idx, rows, scores, depth)

    def dense(self, vector: np.ndarray, depth: int, where: Rows) -> Ranking:
        """The dense leg."""
        idx = where.idx
        rows, scores = idx.dense.search(vector, k=_fetch(idx, depth), mask=where.mask)
        return _ranking(idx, rows, scores, depth)

    def candidates(self, where: Rows) -> tuple[Collection[str], set[str] | None]:
        """Every row's result id, and those of the rows the mask keeps."""
        idx = where.idx
        allowed = None if where.mask is None else {idx.targets[i] for i in where.mask.nonzero()[0].tolist()}
        return idx.targets, allowed

    def sync_index(self, embed: bool | None = None, *, encoder: str | None = None, show_progress: bool = False,
                   progress: EncodeProgressFn | None = None, timings: dict[str, float] | None = None) -> None:
        """Apply the store's changes to the index files (see :meth:`retrieval.index.SearchIndex.sync`)."""
        from retrieval.index import SearchIndex

        self._keep(SearchIndex.sync_store(self.store, embed=embed, show_progress=show_progress, encoder=encoder,
                                          progress=progress, timings=timings))


def _fetch(idx: SearchIndex, depth: int) -> int:
    """Rows a leg fetches for ``depth`` results: deeper when chunk rows collapse into their parents."""
    return depth * 3 if idx.has_chunks else depth


def _ranking(idx: SearchIndex, rows: np.ndarray, scores: np.ndarray, limit: int) -> Ranking:
    """Matched rows (best first) -> the leg's ranking of results."""
    if not idx.has_chunks:  # every row is its own result: nothing to collapse
        ids = idx.targets.take(rows[:limit])
        return Ranking(ids, dict(zip(ids, scores[:limit].tolist(), strict=True)))
    table = idx.table  # the rows' node ids and result ids, column by column ("" for a deleted row)
    alive = table.alive[rows].tolist()
    ids, targets = table.ids.take(rows), table.targets.take(rows)
    return Ranking.collapse(((i if a else "", t if a else "", s) for i, t, a, s in
                             zip(ids, targets, alive, scores.tolist(), strict=True)), limit)
