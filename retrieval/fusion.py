"""Fusing ranked legs, pure and deterministic.

* :func:`zscore_fusion` (the default of hybrid search): a weighted sum of each leg's scores
  z-normalised over the leg's own list (an item a leg did not return gets that leg's lowest
  z-score) -- a convex combination of normalised scores in the sense of Bruch et al., "An Analysis
  of Fusion Functions for Hybrid Retrieval" (TOIS 2023). Weights chosen on SciFact train qrels
  (``benchmarks/tune_fusion.py``).
* :func:`reciprocal_rank_fusion` (Cormack et al., 2009): ``sum w / (k + rank)``, scores ignored.

Both break ties the same way: higher score, then better best rank, then more legs, then id.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from kg.errors import ConfigError

FUSIONS = ("zscore", "rrf")
DEFAULT_WEIGHTS: dict[str, dict[str, float]] = {
    "zscore": {"bm25": 0.55, "dense": 0.45, "graph": 0.25},
    "rrf": {"bm25": 1.0, "dense": 1.0, "graph": 0.5},
}


@dataclass(frozen=True, slots=True)
class Fused:
    """One fused item: its fused score, its 1-based rank in each leg that returned it, and each
    leg's contribution to the score (``parts`` sums to ``score``)."""

    id: str
    score: float
    ranks: dict[str, int]
    parts: dict[str, float] = field(default_factory=dict)


def _pool(total: dict[str, float], limit: int | None) -> list[str]:
    """Items that can make the top ``limit``: those scoring at least the limit-th best (ties kept)."""
    if limit is None or limit >= len(total):
        return list(total)
    if limit <= 0:
        return []
    cut = heapq.nlargest(limit, total.values())[-1] - 1e-9
    return [d for d, v in total.items() if v >= cut]


def _ranked(scores: dict[str, float], ranks_of: Callable[[str], dict[str, int]],
            parts_of: Callable[[str], dict[str, float]], limit: int | None) -> list[Fused]:
    """The best ``limit`` items as :class:`Fused`, ties broken as the module says (scores rounded to
    1e-12 first, so float noise never decides a tie)."""
    keyed = []
    for d in _pool(scores, limit):
        r = ranks_of(d)
        keyed.append((-round(scores[d], 12), min(r.values()), -len(r), d))
    keyed.sort()
    return [Fused(d, -neg, ranks_of(d), parts_of(d)) for neg, _, _, d in keyed[:limit]]


def zscore_fusion(
    rankings: Mapping[str, Sequence[str]], scores: Mapping[str, Mapping[str, float]], *,
    weights: Mapping[str, float] | None = None, limit: int | None = None,
) -> list[Fused]:
    """Fuse legs by the weighted sum of their z-normalised scores.

    ``rankings[leg]`` lists a leg's ids best first; ``scores[leg][id]`` is the leg's raw score.
    Each leg's scores are standardised over the items it returned (all equal: 0); an item missing
    from a leg gets the leg's minimum z-score. Missing weights count 1.0.

    >>> f = zscore_fusion({"bm25": ["a", "b"], "dense": ["b", "c"]},
    ...                   {"bm25": {"a": 9.0, "b": 3.0}, "dense": {"b": 0.8, "c": 0.2}})
    >>> [(x.id, x.score) for x in f]  # a and b tie on score and best rank; b is in more legs
    [('b', 0.0), ('a', 0.0), ('c', -2.0)]
    """
    weights = weights or {}
    legs: list[tuple[str, dict[str, int], list[float], float, float]] = []  # leg, ranks, z by rank, floor, w
    base = 0.0
    fused: dict[str, float] = {}
    for leg in sorted(rankings):
        pos: dict[str, int] = {}
        for item in rankings[leg]:
            if item not in pos:  # a leg's repeated item counts once, at its best rank
                pos[item] = len(pos) + 1
        if not pos:
            continue
        got = scores[leg]
        raw = [float(got[i]) for i in pos]
        n = len(raw)
        mean = sum(raw) / n
        sd = math.sqrt(sum((x - mean) ** 2 for x in raw) / n)
        zs = [(x - mean) / sd for x in raw] if sd > 1e-12 else [0.0] * n
        floor = min(zs)
        w = float(weights.get(leg, 1.0))
        base += w * floor
        legs.append((leg, pos, zs, floor, w))
        for item, zz in zip(pos, zs, strict=True):
            fused[item] = fused.get(item, 0.0) + w * (zz - floor)
    total = {d: v + base for d, v in fused.items()}
    return _ranked(total, lambda d: {leg: p[d] for leg, p, _, _, _ in legs if d in p},
                   lambda d: {leg: w * (zs[p[d] - 1] if d in p else floor) for leg, p, zs, floor, w in legs}, limit)


def reciprocal_rank_fusion(
    rankings: Mapping[str, Sequence[str]], *, k: float = 60.0, weights: Mapping[str, float] | None = None,
    limit: int | None = None,
) -> list[Fused]:
    """Fuse ranked id lists from several legs; ``limit`` keeps only the best ``limit`` items.

    Ties are broken deterministically: higher score, then better best rank, then more legs,
    then id.

    >>> [f.id for f in reciprocal_rank_fusion({"bm25": ["a", "b"], "dense": ["b", "c"]})]
    ['b', 'a', 'c']
    """
    if k < 0:
        raise ConfigError("k must be >= 0")
    weights = weights or {}
    scores: dict[str, float] = {}
    ranks: dict[str, dict[str, int]] = {}
    parts: dict[str, dict[str, float]] = {}
    for leg in sorted(rankings):
        w = float(weights.get(leg, 1.0))
        for r, item in enumerate(rankings[leg], start=1):
            got = ranks.get(item)
            if got is None:
                ranks[item] = {leg: r}
                parts[item] = {leg: w / (k + r)}
                scores[item] = w / (k + r)
            elif leg not in got:  # a leg's repeated item counts once, at its best rank
                got[leg] = r
                parts[item][leg] = w / (k + r)
                scores[item] += w / (k + r)
    return _ranked(scores, ranks.__getitem__, parts.__getitem__, limit)


def fuse(
    rankings: Mapping[str, Sequence[str]], scores: Mapping[str, Mapping[str, float]], *, method: str = "zscore",
    weights: Mapping[str, float] | None = None, rrf_k: float = 60.0, limit: int | None = None,
) -> list[Fused]:
    """Fuse with ``method`` (one of :data:`FUSIONS`); weights default to :data:`DEFAULT_WEIGHTS`."""
    if method not in DEFAULT_WEIGHTS:
        raise ConfigError(f"unknown fusion {method!r}; known: {', '.join(FUSIONS)}")
    w = {**DEFAULT_WEIGHTS[method], **(weights or {})}
    if method == "rrf":
        return reciprocal_rank_fusion(rankings, k=rrf_k, weights=w, limit=limit)
    return zscore_fusion(rankings, scores, weights=w, limit=limit)
