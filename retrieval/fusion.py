"""Reciprocal rank fusion (Cormack et al., 2009), pure and deterministic."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True, kw_only=True)
class FusionConfig:
    """RRF settings: ``score(d) = sum_leg weight_leg / (k + rank_leg(d))`` with 1-based ranks."""

    k: float = 60.0
    weights: Mapping[str, float] = field(default_factory=dict)  # missing legs weigh 1.0


@dataclass(frozen=True, slots=True)
class Fused:
    """One fused item: its RRF score and its 1-based rank in each leg that returned it."""

    id: str
    score: float
    ranks: dict[str, int]


def reciprocal_rank_fusion(
    rankings: Mapping[str, Sequence[str]], *, k: float = 60.0, weights: Mapping[str, float] | None = None,
) -> list[Fused]:
    """Fuse ranked id lists from several legs.

    Ties are broken deterministically: higher score, then better best rank, then more legs,
    then id.

    >>> [f.id for f in reciprocal_rank_fusion({"bm25": ["a", "b"], "dense": ["b", "c"]})]
    ['b', 'a', 'c']
    """
    if k < 0:
        raise ValueError("k must be >= 0")
    weights = weights or {}
    scores: dict[str, float] = {}
    ranks: dict[str, dict[str, int]] = {}
    for leg in sorted(rankings):
        w = float(weights.get(leg, 1.0))
        seen: set[str] = set()
        for r, item in enumerate(rankings[leg], start=1):
            if item in seen:
                continue
            seen.add(item)
            scores[item] = scores.get(item, 0.0) + w / (k + r)
            ranks.setdefault(item, {})[leg] = r
    order = sorted(scores, key=lambda d: (-scores[d], min(ranks[d].values()), -len(ranks[d]), d))
    return [Fused(d, scores[d], ranks[d]) for d in order]
