"""Hybrid search: BM25 + dense (+ graph) legs, fused; written once for every store.

A store's search backend (:mod:`retrieval.backends`: its index files, or Neo4j's indexes) ranks
each leg under the search's filters, results being ids where a chunk counts as its parent (keeping
its best rank); :func:`search` fuses the legs (z-score fusion by default, reciprocal rank fusion on
request; see :mod:`retrieval.fusion`), lets the graph leg (optional) re-rank the neighbourhood of
the top fused hits by personalised PageRank, and turns the result into hits with passages.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kg.errors import ConfigError
from kg.model import Label
from kg.query import Filters, Ranking
from retrieval.fusion import DEFAULT_WEIGHTS, FUSIONS, Fused, fuse
from retrieval.types import Hit, SearchResult

if TYPE_CHECKING:
    from kg.store.base import GraphStore
    from retrieval.backends import SearchBackend

MODES = ("bm25", "dense", "hybrid", "hybrid+graph")


@dataclass(frozen=True, slots=True, kw_only=True)
class SearchConfig:
    """Knobs of hybrid search (defaults chosen on SciFact train qrels; see docs/search.md, "How the default fusion was chosen").

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


def search(backend: SearchBackend[Any], query: str, k: int = 10, *, mode: str = "hybrid",
           filters: Filters | dict[str, Any] | None = None, explain: bool = False,
           config: SearchConfig | None = None) -> SearchResult:
    """Search the store behind ``backend`` (see the module docstring); ``filters`` may be a
    :class:`Filters` or its kwargs. The same code for every store: only the legs come from the backend.

    >>> from retrieval.backends import backend_for                            # doctest: +SKIP
    >>> search(backend_for(store), "graph retrieval", k=5, mode="bm25").ids    # doctest: +SKIP
    """
    if mode not in MODES:
        raise ConfigError(f"unknown search mode {mode!r}; known: {', '.join(MODES)}")
    if k <= 0:
        raise ConfigError("k must be positive")
    cfg = config or SearchConfig()
    if isinstance(filters, dict):
        filters = Filters(**filters)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    where = backend.prepare(filters, dense=mode != "bm25")
    timings["load"] = (time.perf_counter() - t0) * 1000
    depth = max(cfg.depth, k)
    rankings: dict[str, list[str]] = {}
    leg_scores: dict[str, dict[str, float]] = {}
    chunks: dict[str, list[str]] = {}  # result id -> its matching chunks, from the first leg that has them

    def add(leg: str, ranking: Ranking) -> None:
        rankings[leg], leg_scores[leg] = ranking.ids, ranking.scores
        for key, ids in ranking.chunks.items():
            chunks.setdefault(key, ids)

    if mode in ("bm25", "hybrid", "hybrid+graph"):
        t = time.perf_counter()
        add("bm25", backend.bm25(query, depth, where))
        timings["bm25"] = (time.perf_counter() - t) * 1000
    if mode in ("dense", "hybrid", "hybrid+graph"):
        encoder = backend.query_encoder(where)
        if encoder is None:
            if mode == "dense":
                raise ConfigError(backend.no_embeddings)
        else:
            t = time.perf_counter()
            q = encoder.encode_query(query)
            timings["encode"] = (time.perf_counter() - t) * 1000
            t = time.perf_counter()
            add("dense", backend.dense(q, depth, where))
            timings["dense"] = (time.perf_counter() - t) * 1000
    t = time.perf_counter()
    fused = cfg.fuse(rankings, leg_scores, max(k, cfg.graph_seeds) if mode == "hybrid+graph" else k)
    if mode == "hybrid+graph" and fused:
        from retrieval.graph_leg import graph_leg

        targets, allowed = backend.candidates(where)
        ranked = graph_leg(backend.store, [f.id for f in fused[: cfg.graph_seeds]], targets, allowed=allowed,
                           limit=depth)
        if ranked:
            rankings["graph"] = [nid for nid, _ in ranked]
            leg_scores["graph"] = dict(ranked)
            fused = cfg.fuse(rankings, leg_scores, k)
    timings["fuse"] = (time.perf_counter() - t) * 1000
    top = fused[:k]
    chunk_ids = {f.id: chunks.get(f.id, [])[: cfg.passages] for f in top}
    hits = make_hits(backend.store, top, chunk_ids, leg_scores, explain=explain, fusion=cfg.fusion)
    timings["total"] = (time.perf_counter() - t0) * 1000
    return SearchResult(query, mode, hits, timings)


def make_hits(store: GraphStore, top: list[Fused], chunk_ids: dict[str, list[str]],
              leg_scores: dict[str, dict[str, float]], *, explain: bool = False, fusion: str = "zscore") -> list[Hit]:
    """Turn fused ids into :class:`Hit` objects.

    ``chunk_ids`` maps a result id to the chunk node ids whose text becomes its passages; nodes
    that vanished since indexing are skipped (the next sync drops them).
    """
    nodes = store.get_nodes([f.id for f in top])
    chunk_nodes = store.get_nodes([c for v in chunk_ids.values() for c in v])
    hits: list[Hit] = []
    for f in top:
        n = nodes.get(f.id)
        if n is None:
            continue
        passages = [str(chunk_nodes[c].properties.get("text", "")) for c in chunk_ids.get(f.id, []) if c in chunk_nodes]
        h = Hit(f.id, n.label, n.title, f.score, dict(f.ranks),
                {leg: leg_scores[leg][f.id] for leg in f.ranks}, passages, n, parts=dict(f.parts))
        if explain:
            h.explanation = f"{fusion} {f.score:.4g} = " + "; ".join(
                f"{leg} rank {f.ranks[leg]} (score {leg_scores[leg][f.id]:.4g}, {part:+.4g})" if leg in f.ranks
                else f"{leg} not in its top {len(leg_scores[leg])} ({part:+.4g})"
                for leg, part in sorted(f.parts.items()))
        hits.append(h)
    return hits


__all__ = ["MODES", "Filters", "Label", "SearchConfig", "search"]
