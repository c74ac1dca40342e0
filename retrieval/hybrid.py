"""Hybrid search: BM25 + dense (+ graph) legs, fused.

Each leg ranks index rows under the same filter mask; rows map to result ids (a chunk to its
parent, keeping the chunk's best rank), legs are fused (z-score fusion by default, reciprocal rank
fusion on request; see :mod:`retrieval.fusion`), and the graph leg (optional) re-ranks the
neighbourhood of the top fused hits by personalised PageRank.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from kg.errors import ConfigError
from kg.model import Label
from retrieval.filters import Filters
from retrieval.fusion import DEFAULT_WEIGHTS, FUSIONS, Fused, fuse
from retrieval.types import Hit, SearchResult

if TYPE_CHECKING:
    from kg.graph import KnowledgeGraph
    from retrieval.index import SearchIndex

MODES = ("bm25", "dense", "hybrid", "hybrid+graph")


@dataclass(frozen=True, slots=True, kw_only=True)
class SearchConfig:
    """Knobs of hybrid search (defaults chosen on SciFact train qrels; see README).

    ``fusion``: ``"zscore"`` (weighted sum of z-normalised leg scores) or ``"rrf"`` (reciprocal
    rank fusion with ``rrf_k``). ``weights``: per-leg weights overriding the fusion's defaults
    (:data:`retrieval.fusion.DEFAULT_WEIGHTS`).
    """

    depth: int = 100  # candidates per leg before fusion
    fusion: str = "zscore"
    rrf_k: float = 60.0
    weights: dict[str, float] = field(default_factory=dict)
    graph_seeds: int = 10
    passages: int = 2

    def __post_init__(self) -> None:
        if self.fusion not in FUSIONS:
            raise ConfigError(f"unknown fusion {self.fusion!r}; known: {', '.join(FUSIONS)}")
        if self.depth < 1 or self.rrf_k < 0:
            raise ConfigError("depth must be >= 1 and rrf_k >= 0")

    def leg_weights(self) -> dict[str, float]:
        """Every leg's weight: the fusion's defaults, then ``weights``."""
        return {**DEFAULT_WEIGHTS[self.fusion], **self.weights}

    def fuse(self, rankings: dict[str, list[str]], scores: dict[str, dict[str, float]], limit: int) -> list[Fused]:
        """Fuse legs with these settings."""
        return fuse(rankings, scores, method=self.fusion, weights=self.leg_weights(), rrf_k=self.rrf_k, limit=limit)


def _index(g: KnowledgeGraph) -> SearchIndex:
    from retrieval.index import SearchIndex

    folder = SearchIndex.folder_for(g)
    if folder is None:
        raise ConfigError("this store searches through its own indexes (see kg.neo4j.store)")
    idx = g._search
    current = g.store.version()
    if idx is None or idx.manifest.get("version") != current:
        idx = SearchIndex.load(folder)
        if idx.manifest.get("version") != current:
            idx = SearchIndex.sync_store(g)
        g._search = idx
    assert idx is not None
    return idx


def _aggregate(idx: SearchIndex, rows: np.ndarray, scores: np.ndarray, limit: int) -> tuple[list[str], dict[str, float], dict[str, list[int]]]:
    """Rows -> result ids, keeping each result's best row; also the chunk rows that matched."""
    if not idx.has_chunks:  # every row is its own result: nothing to collapse
        ids = [idx.targets[r] for r in rows[:limit].tolist()]
        return ids, dict(zip(ids, scores[:limit].tolist(), strict=True)), {}
    order: list[str] = []
    best: dict[str, float] = {}
    chunk_rows: dict[str, list[int]] = {}
    for r, s in zip(rows.tolist(), scores.tolist(), strict=True):
        t = idx.targets[r]
        info = idx.rows[r]
        if info is not None and info.id != t:
            chunk_rows.setdefault(t, []).append(r)
        if t not in best:
            best[t] = float(s)
            order.append(t)
            if len(order) >= limit:
                break
    return order, best, chunk_rows


def search(g: KnowledgeGraph, query: str, k: int = 10, *, mode: str = "hybrid",
           filters: Filters | dict[str, Any] | None = None, explain: bool = False,
           config: SearchConfig | None = None) -> SearchResult:
    """Search ``g``; see the module docstring. ``filters`` may be a :class:`Filters` or its kwargs."""
    if mode not in MODES:
        raise ConfigError(f"unknown search mode {mode!r}; known: {', '.join(MODES)}")
    if k <= 0:
        raise ConfigError("k must be positive")
    cfg = config or SearchConfig()
    if isinstance(filters, dict):
        filters = Filters(**filters)
    if hasattr(g.store, "search_legs"):  # server stores rank inside the database
        return g.store.search_legs(g, query, k, mode=mode, filters=filters, config=cfg)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    idx = _index(g)
    mask = idx.mask(filters, g)
    timings["load"] = (time.perf_counter() - t0) * 1000
    depth = max(cfg.depth, k)
    fetch = depth * 3 if idx.has_chunks else depth  # chunk rows collapse into their parents
    rankings: dict[str, list[str]] = {}
    leg_scores: dict[str, dict[str, float]] = {}
    chunks: dict[str, list[int]] = {}
    if mode in ("bm25", "hybrid", "hybrid+graph"):
        t = time.perf_counter()
        rows, scores = idx.bm25.search(query, k=fetch, mask=mask)
        rankings["bm25"], leg_scores["bm25"], c = _aggregate(idx, rows, scores, depth)
        chunks.update(c)
        timings["bm25"] = (time.perf_counter() - t) * 1000
    if mode in ("dense", "hybrid", "hybrid+graph"):
        if idx.dense is None:
            if mode == "dense":
                raise ConfigError("this store has no embeddings; ingest with --embed (pip install 'kgloom[embeddings]')")
        else:
            t = time.perf_counter()
            q = idx.encoder.encode_query(query)
            timings["encode"] = (time.perf_counter() - t) * 1000
            t = time.perf_counter()
            rows, scores = idx.dense.search(q, k=fetch, mask=mask)
            rankings["dense"], leg_scores["dense"], c = _aggregate(idx, rows, scores, depth)
            for key, v in c.items():
                chunks.setdefault(key, v)
            timings["dense"] = (time.perf_counter() - t) * 1000
    t = time.perf_counter()
    fused = cfg.fuse(rankings, leg_scores, max(k, cfg.graph_seeds) if mode == "hybrid+graph" else k)
    if mode == "hybrid+graph" and fused:
        from retrieval.graph_leg import graph_leg

        allowed = None
        if mask is not None:
            allowed = {idx.targets[i] for i in np.flatnonzero(mask)}
        ranked = graph_leg(g, [f.id for f in fused[: cfg.graph_seeds]], idx, allowed=allowed, limit=depth)
        if ranked:
            rankings["graph"] = [nid for nid, _ in ranked]
            leg_scores["graph"] = dict(ranked)
            fused = cfg.fuse(rankings, leg_scores, k)
    timings["fuse"] = (time.perf_counter() - t) * 1000
    top = fused[:k]
    nodes = g.store.get_nodes([f.id for f in top])
    chunk_ids = {f.id: [idx.rows[r].id for r in chunks.get(f.id, [])[: cfg.passages]] for f in top}  # type: ignore[union-attr]
    hits = make_hits(g.store, top, chunk_ids, leg_scores, explain=explain, nodes=nodes, fusion=cfg.fusion)
    timings["total"] = (time.perf_counter() - t0) * 1000
    return SearchResult(query, mode, hits, timings)


def make_hits(store: Any, top: list[Fused], chunk_ids: dict[str, list[str]], leg_scores: dict[str, dict[str, float]],
              *, explain: bool = False, nodes: dict[str, Any] | None = None, fusion: str = "zscore") -> list[Hit]:
    """Turn fused ids into :class:`Hit` objects (shared by every store's search).

    ``chunk_ids`` maps a result id to the chunk node ids whose text becomes its passages; nodes
    that vanished since indexing are skipped (the next sync drops them).
    """
    nodes = nodes if nodes is not None else store.get_nodes([f.id for f in top])
    chunk_nodes = store.get_nodes([c for v in chunk_ids.values() for c in v])
    hits: list[Hit] = []
    for f in top:
        n = nodes.get(f.id)
        if n is None:
            continue
        passages = [str(chunk_nodes[c].properties.get("text", "")) for c in chunk_ids.get(f.id, []) if c in chunk_nodes]
        h = Hit(f.id, n.label, n.title, f.score, dict(f.ranks),
                {leg: leg_scores[leg][f.id] for leg in f.ranks}, passages, n)
        if explain:
            h.explanation = f"{fusion} {f.score:.4g} = " + "; ".join(
                f"{leg} rank {f.ranks[leg]} (score {leg_scores[leg][f.id]:.4g}, {part:+.4g})" if leg in f.ranks
                else f"{leg} not in its top {len(leg_scores[leg])} ({part:+.4g})"
                for leg, part in sorted(f.parts.items()))
        hits.append(h)
    return hits


__all__ = ["MODES", "Filters", "Label", "SearchConfig", "search"]
