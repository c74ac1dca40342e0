"""What a search asks of a store and what one of its legs answers: :class:`Filters` and
:class:`Ranking`.

Both live at the bottom of the layers so that every search backend (the embedded store's index in
:mod:`retrieval.backends`, the Neo4j indexes in :mod:`kg.neo4j.search`) takes and returns the
same types; :mod:`retrieval.hybrid` fuses the rankings into hits.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True, kw_only=True)
class Filters:
    """Restrict a search.

    - ``labels``: node labels of the *result* (a chunk counts as its parent's label)
    - ``year``: inclusive ``(from, to)``; either end may be None
    - ``authors``: author ids or names (case/accent-insensitive substring of the name)
    - ``categories``: category/topic/keyword ids or names
    - ``source``: a path prefix; only nodes supported by sources under it

    >>> Filters(labels=["Paper"], year=(2023, 2025)).empty
    False
    """

    labels: Sequence[str] | None = None
    year: tuple[int | None, int | None] | None = None
    authors: Sequence[str] | None = None
    categories: Sequence[str] | None = None
    source: str | None = None

    @property
    def empty(self) -> bool:
        """True when nothing is filtered."""
        return not (self.labels or self.year or self.authors or self.categories or self.source)


@dataclass(frozen=True, slots=True)
class Ranking:
    """One leg's answer: result ids best first, each one's score, and for a result found through
    its chunks the ids of those chunks, best first (their texts become the hit's passages).

    A chunk counts as its parent: the parent is ranked where its best chunk ranks.
    """

    ids: list[str] = field(default_factory=list)
    scores: dict[str, float] = field(default_factory=dict)
    chunks: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def collapse(cls, rows: Iterable[tuple[str, str, float]], limit: int) -> Ranking:
        """The ranking of the first ``limit`` results among matched rows ``(node id, result id,
        score)``, best first: a result takes its best row's rank and score, and the rows of its
        chunks (node id other than the result id) are kept as its chunks.

        >>> r = Ranking.collapse([("c1", "p", 3.0), ("q", "q", 2.0), ("c2", "p", 1.0)], 5)
        >>> r.ids, r.scores, r.chunks
        (['p', 'q'], {'p': 3.0, 'q': 2.0}, {'p': ['c1', 'c2']})
        """
        out = cls()
        for nid, target, score in rows:
            if nid != target:
                out.chunks.setdefault(target, []).append(nid)
            if target not in out.scores:
                out.scores[target] = float(score)
                out.ids.append(target)
                if len(out.ids) >= limit:
                    break
        return out
