"""Read-only views of a :class:`~kg.graph.KnowledgeGraph` for the web explorer's JSON API.

Each function takes the facade and returns a model of :mod:`kg.web.models`; nothing here writes.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from kg.model import Rel
from kg.query import Filters
from kg.web import models as m
from kg.web.style import label_styles
from retrieval.types import Hit

if TYPE_CHECKING:
    from kg.graph import KnowledgeGraph
    from kg.model import Node

SNIPPET = 280


def _year(props: dict[str, Any]) -> int | None:
    y = props.get("year")
    try:
        return int(y) if y is not None and str(y).strip() else None
    except (TypeError, ValueError):
        return None


def leg_shares(hit: Hit) -> list[m.LegShare]:
    """Each leg's rank, raw score and part of the fused score (what ``kg search --explain`` says in
    words); ``share``: the part over the summed absolute parts.

    >>> h = Hit("x", "Paper", "T", 1.5, {"bm25": 1, "dense": 2}, {"bm25": 3.6, "dense": 0.6}, parts={"bm25": 0.5, "dense": 1.0})
    >>> [(s.leg, s.rank, s.share) for s in leg_shares(h)]
    [('bm25', 1, 0.3333), ('dense', 2, 0.6667)]
    """
    total = sum(abs(v) for v in hit.parts.values()) or 1.0
    return [m.LegShare(leg=leg, rank=hit.ranks.get(leg), score=hit.scores.get(leg), part=round(part, 6),
                       share=round(abs(part) / total, 4))
            for leg, part in sorted(hit.parts.items())]


def search(g: KnowledgeGraph, q: str, *, k: int, mode: str, filters: Filters, fusion: str) -> m.SearchResponse:
    """``g.search(..., explain=True)`` as the search page shows it."""
    from retrieval.hybrid import SearchConfig

    res = g.search(q, k=k, mode=mode, filters=filters, explain=True, config=SearchConfig(fusion=fusion))
    hits = []
    for h in res.hits:
        props = h.node.properties if h.node is not None else {}
        text = h.passages[0] if h.passages else str(props.get("abstract") or props.get("description")
                                                    or props.get("text") or "")
        hits.append(m.SearchHit(id=h.id, label=h.label, title=h.title, score=round(h.score, 6), ranks=h.ranks,
                                legs=leg_shares(h), explanation=h.explanation, year=_year(props),
                                snippet=text[:SNIPPET]))
    return m.SearchResponse(query=res.query, mode=res.mode, hits=hits,
                            timings_ms={k: round(v, 3) for k, v in res.timings_ms.items()})


def node_ref(n: Node) -> m.NodeRef:
    """A node as a graph element."""
    return m.NodeRef(id=n.id, label=n.label, title=n.title)


def node(g: KnowledgeGraph, node_id: str) -> m.NodeDetail:
    """A node, its properties and provenance (NodeNotFoundError for an unknown id)."""
    n = g.node(node_id)
    sources = [m.Contribution(path=path, label=label, stub=stub, properties=json.loads(props) if props else {})
               for _, path, label, stub, props in g.provenance(node_id)]
    types = Counter(e.type for e in g.edges(node_id))
    return m.NodeDetail(id=n.id, label=n.label, title=n.title, properties=n.properties, sources=sources,
                        edge_types=dict(sorted(types.items())))


def neighborhood(g: KnowledgeGraph, node_id: str, *, depth: int, edge_types: list[str] | None,
                 limit: int) -> m.Neighborhood:
    """The node and its neighbours within ``depth`` hops, at most ``limit`` nodes besides it."""
    sub = g.neighborhood(node_id, edge_types=edge_types or None, depth=depth, limit=limit + 1)
    nodes = sub.nodes[: limit + 1]
    keep = {n.id for n in nodes}
    return m.Neighborhood(center=node_id, depth=depth, nodes=[node_ref(n) for n in nodes],
                          edges=[m.EdgeRef(source=e.source, target=e.target, type=e.type) for e in sub.edges
                                 if e.source in keep and e.target in keep],
                          truncated=len(sub.nodes) > limit + 1)


def public_url(store: str) -> str:
    """A store URL without its password (what the overview may show)."""
    parts = urlsplit(store)
    if parts.scheme and parts.password:
        host = parts.hostname or ""
        netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return store


def overview(g: KnowledgeGraph, store: str) -> m.Overview:
    """Counts, sources, the last ingest and the active encoder."""
    counts = g.stats()
    last = g.last_ingest()
    return m.Overview(
        store=public_url(store), nodes=counts.get("nodes", {}), edges=counts.get("edges", {}),
        total_nodes=sum(counts.get("nodes", {}).values()), total_edges=sum(counts.get("edges", {}).values()),
        encoder=g.encoder_name(),
        sources=[m.SourceRow(path=s.path, reader=s.reader, nodes=s.n_nodes, edges=s.n_edges, warnings=s.warnings,
                             errors=s.errors, ingested_at=s.ingested_at) for s in g.sources()],
        last_ingest=m.LastIngest.model_validate(last) if last else None, styles=label_styles())


def skills(g: KnowledgeGraph, q: str, k: int) -> list[m.SkillRow]:
    """Skills matching ``q`` (every skill when empty), name and description only."""
    return [m.SkillRow(id=s.id, name=s.name, description=s.description, score=round(s.score, 6))
            for s in g.skills(q, k=k)][: max(k, 0) if q.strip() else None]


def skill(g: KnowledgeGraph, name: str) -> m.SkillFull:
    """One skill in full (NodeNotFoundError for an unknown name)."""
    d = g.skill(name, body=True)
    return m.SkillFull(id=d.id, name=d.name, description=d.description, body=d.body, resources=d.resources,
                       tools=d.tools, requires=d.requires, next=d.next,
                       related=[m.RelatedRow(**r.to_dict()) for r in d.related], license=d.license,
                       compatibility=d.compatibility, stub=d.stub)


def skill_chain(g: KnowledgeGraph, name: str, depth: int) -> m.Neighborhood:
    """The REQUIRES/NEXT chains around a skill, ``depth`` hops both ways, as a graph."""
    d = g.skill(name, body=False)
    sub = g.neighborhood(d.id, edge_types=[Rel.REQUIRES, Rel.NEXT], depth=depth, limit=500)
    return m.Neighborhood(center=d.id, depth=depth, nodes=[node_ref(n) for n in sub.nodes],
                          edges=[m.EdgeRef(source=e.source, target=e.target, type=e.type) for e in sub.edges],
                          truncated=False)


def context(g: KnowledgeGraph, q: str, budget: int) -> m.ContextView:
    """The context pack an agent would get for ``q`` within ``budget`` tokens."""
    pack = g.context(q, budget)
    return m.ContextView(
        query=pack.query, budget_tokens=pack.budget_tokens, tokens=pack.tokens, text=pack.to_text(),
        passages=[m.Citation(cite=p.cite, id=p.id, label=p.label, title=p.title, text=p.text,
                             score=round(p.score, 6), year=p.year, source=p.source) for p in pack.passages],
        facts=[m.Fact(subject=t.subject, predicate=t.predicate, object=t.object, subject_title=t.subject_title,
                      object_title=t.object_title) for t in pack.triples],
        citations=pack.citations)


__all__ = ["context", "leg_shares", "neighborhood", "node", "overview", "public_url", "search",
           "skill", "skill_chain", "skills"]
