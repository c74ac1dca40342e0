"""Graph-term pairs: which searchable nodes the stored graph says belong together.

The graph term of distillation (:mod:`kg.distill.train`) pulls the student vectors of linked nodes
together against in-batch negatives. :func:`sample_pairs` reads the links from the store:

==============  ==========================================================================
kind            pair
==============  ==========================================================================
``cites``       paper -[CITES]-> paper
``skill``       skill -[REQUIRES|NEXT|RELATED_TO]-> skill or paper
``author``      two papers/documents with an author in common (Author -[AUTHORED]->)
``category``    two nodes with a category/keyword/topic in common (IN_CATEGORY, HAS_TOPIC)
``chunk``       two chunks of one parent, or a parent and its chunk (HAS_CHUNK)
==============  ==========================================================================

Only nodes in ``text_ids`` (the nodes with training text) take part. A shared neighbour linking more
than ``max_group`` nodes (a keyword on half the corpus) says little and is skipped; in a smaller
group each member is paired with at most ``per_node`` others, drawn with ``seed``. Pairs are
unordered, deduplicated and returned in a deterministic order.

>>> from kg.model import Edge
>>> edges = [Edge("author:a", "p1", "AUTHORED", {}), Edge("author:a", "p2", "AUTHORED", {}),
...          Edge("p1", "p3", "CITES", {})]
>>> [(p.a, p.b, p.kind) for p in pairs_from_edges(edges, {"p1", "p2", "p3"})]
[('p1', 'p3', 'cites'), ('p1', 'p2', 'author')]
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kg.errors import ConfigError
from kg.model import Edge, Rel

if TYPE_CHECKING:
    from kg.distill import Indexed

DIRECT = {Rel.CITES: "cites", Rel.REQUIRES: "skill", Rel.NEXT: "skill", Rel.RELATED_TO: "skill"}
GROUPED_IN = {Rel.AUTHORED: "author"}  # group = the edge's source, members = its targets
GROUPED_OUT = {Rel.IN_CATEGORY: "category", Rel.HAS_TOPIC: "category"}  # group = target, members = sources
KINDS = ("cites", "skill", "author", "category", "chunk")
EDGE_TYPES = (*DIRECT, *GROUPED_IN, *GROUPED_OUT, Rel.HAS_CHUNK)


@dataclass(frozen=True, slots=True)
class Pair:
    """Two node ids the graph links (``a < b``) and the kind of link."""

    a: str
    b: str
    kind: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PairConfig:
    """How graph pairs are sampled (see the module docstring).

    ``kinds``: which link kinds to use; ``max_group``: skip shared neighbours linking more nodes;
    ``per_node``: partners drawn per member of a group; ``max_pairs``: overall cap (a seeded sample).
    """

    kinds: tuple[str, ...] = KINDS
    max_group: int = 50
    per_node: int = 4
    max_pairs: int = 200_000

    def __post_init__(self) -> None:
        unknown = set(self.kinds) - set(KINDS)
        if unknown:
            raise ConfigError(f"unknown graph pair kinds {sorted(unknown)}; known: {', '.join(KINDS)}")
        if self.max_group < 2 or self.per_node < 1 or self.max_pairs < 0:
            raise ConfigError(f"invalid PairConfig: {self}")


def _ordered(a: str, b: str, kind: str) -> Pair:
    return Pair(a, b, kind) if a < b else Pair(b, a, kind)


def pairs_from_edges(edges: Iterable[Edge], text_ids: set[str], *, config: PairConfig | None = None,
                     seed: int = 0) -> list[Pair]:
    """Pairs of ``text_ids`` nodes linked by ``edges`` (pure; :func:`sample_pairs` reads the store).

    Direct links come first (sorted), then shared-neighbour pairs in group order; one pair of nodes
    is kept once, with the first kind that produced it.
    """
    cfg = config or PairConfig()
    kinds = set(cfg.kinds)
    rng = random.Random(seed)
    direct: list[Pair] = []
    groups: dict[tuple[str, str], set[str]] = {}
    for e in edges:
        if e.type in DIRECT:
            kind = DIRECT[e.type]
            if kind in kinds and e.source in text_ids and e.target in text_ids and e.source != e.target:
                direct.append(_ordered(e.source, e.target, kind))
        elif e.type in GROUPED_IN and GROUPED_IN[e.type] in kinds and e.target in text_ids:
            groups.setdefault((GROUPED_IN[e.type], e.source), set()).add(e.target)
        elif e.type in GROUPED_OUT and GROUPED_OUT[e.type] in kinds and e.source in text_ids:
            groups.setdefault((GROUPED_OUT[e.type], e.target), set()).add(e.source)
        elif e.type == Rel.HAS_CHUNK and "chunk" in kinds and e.target in text_ids:
            members = groups.setdefault(("chunk", e.source), set())
            members.add(e.target)
            if e.source in text_ids:
                members.add(e.source)
    seen: set[tuple[str, str]] = set()
    out: list[Pair] = []
    for p in sorted(direct, key=lambda p: (p.a, p.b, p.kind)):
        if (p.a, p.b) not in seen:
            seen.add((p.a, p.b))
            out.append(p)
    for (kind, _group), members in sorted(groups.items()):
        if len(members) < 2 or len(members) > cfg.max_group:
            continue
        ordered = sorted(members)
        for m in ordered:
            others = [x for x in ordered if x != m]
            picks = others if len(others) <= cfg.per_node else rng.sample(others, cfg.per_node)
            for o in picks:
                p = _ordered(m, o, kind)
                if (p.a, p.b) not in seen:
                    seen.add((p.a, p.b))
                    out.append(p)
    if len(out) > cfg.max_pairs:
        keep = sorted(rng.sample(range(len(out)), cfg.max_pairs))
        out = [out[i] for i in keep]
    return out


def sample_pairs(g: Indexed, text_ids: set[str], *, config: PairConfig | None = None,
                 seed: int = 0) -> list[Pair]:
    """Graph pairs among ``text_ids`` read from ``g``'s store (see :func:`pairs_from_edges`)."""
    edges = g.store.iter_edges(list(EDGE_TYPES))
    return pairs_from_edges(edges, text_ids, config=config, seed=seed)


def pair_counts(pairs: Iterable[Pair]) -> dict[str, int]:
    """Pairs per kind, for manifests and reports."""
    return dict(sorted(Counter(p.kind for p in pairs).items()))
