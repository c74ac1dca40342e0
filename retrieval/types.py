"""Search result types: one shape whatever the mode."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from kg.model import Node


@dataclass(slots=True)
class Hit:
    """One result: a node, its fused score, and how each leg ranked it.

    ``ranks`` and ``scores`` are keyed by leg (``bm25``, ``dense``, ``graph``); ranks are 1-based.
    ``passages`` holds the best matching chunk texts when the hit was found through its chunks;
    ``parts`` each leg's part of the fused score.
    """

    id: str
    label: str
    title: str
    score: float
    ranks: dict[str, int] = field(default_factory=dict)
    scores: dict[str, float] = field(default_factory=dict)
    passages: list[str] = field(default_factory=list)
    node: Node | None = None
    explanation: str = ""
    parts: dict[str, float] = field(default_factory=dict)
    """Each leg's part of the fused score (a leg that missed the hit can still have one), summing
    to ``score``; what ``explanation`` says in words."""

    def to_dict(self, *, properties: bool = False) -> dict[str, Any]:
        """JSON-ready form (node properties only when asked)."""
        d: dict[str, Any] = {"id": self.id, "label": self.label, "title": self.title,
                             "score": round(self.score, 6), "ranks": self.ranks,
                             "scores": {k: round(v, 6) for k, v in self.scores.items()}}
        if self.passages:
            d["passages"] = self.passages
        if self.explanation:
            d["explanation"] = self.explanation
        if properties and self.node is not None:
            d["properties"] = self.node.properties
        return d


@dataclass(slots=True)
class SearchResult:
    """Hits for one query plus how long each stage took (milliseconds)."""

    query: str
    mode: str
    hits: list[Hit]
    timings_ms: dict[str, float] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.hits)

    def __iter__(self) -> Iterator[Hit]:
        return iter(self.hits)

    def __getitem__(self, i: int) -> Hit:
        return self.hits[i]

    @property
    def ids(self) -> list[str]:
        """Hit ids, best first."""
        return [h.id for h in self.hits]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"query": self.query, "mode": self.mode, "hits": [h.to_dict() for h in self.hits],
                "timings_ms": {k: round(v, 3) for k, v in self.timings_ms.items()}}
