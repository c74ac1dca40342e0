"""The graph leg: personalised PageRank around the top fused hits.

Seeds are the best hits of the text legs (weighted by 1/rank). Their neighbourhood (two hops,
skipping hub nodes whose degree would flood the walk, e.g. a category holding half the corpus)
is ranked by personalised PageRank; result-type nodes (papers, documents, skills) form the leg.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING

import networkx as nx

from kg.model import Rel

if TYPE_CHECKING:
    from kg.store.base import GraphStore

WALK_EDGES = (Rel.CITES, Rel.AUTHORED, Rel.IN_CATEGORY, Rel.HAS_TOPIC, Rel.HAS_CODE, Rel.REQUIRES,
              Rel.NEXT, Rel.RELATED_TO, Rel.USES_TOOL, Rel.PUBLISHED_IN)


def personalized_pagerank(G: nx.Graph, seeds: dict[str, float], *, alpha: float = 0.85,
                          weight: str | None = None) -> dict[str, float]:
    """PageRank restarting at ``seeds`` (weights normalised); thin wrapper over networkx.

    >>> G = nx.path_graph(["a", "b", "c"])
    >>> r = personalized_pagerank(G, {"a": 1.0})
    >>> r["a"] > r["b"] > r["c"]
    True
    """
    pers = {n: w for n, w in seeds.items() if n in G}
    if not pers:
        return {}
    return nx.pagerank(G, alpha=alpha, personalization=pers, weight=weight, max_iter=200, tol=1e-8)


def graph_leg(store: GraphStore, seeds: Sequence[str], targets: Collection[str], *, allowed: set[str] | None = None,
              limit: int = 100, hops: int = 2, max_degree: int = 200) -> list[tuple[str, float]]:
    """Rank result nodes near ``seeds`` by personalised PageRank: ``[(id, score)]``, best first.

    ``targets``: the ids search may return (only asked ``in``); ``allowed``: those the search's
    filters let through. Only the two-hop neighbourhood of the seeds is read from the store."""
    if not seeds:
        return []
    G = nx.Graph()
    G.add_nodes_from(seeds)
    frontier = list(seeds)
    seen = set(seeds)
    for _ in range(hops):
        edges = store.edges_of(frontier, types=WALK_EDGES, direction="both")
        deg: dict[str, int] = {}
        for e in edges:
            deg[e.source] = deg.get(e.source, 0) + 1
            deg[e.target] = deg.get(e.target, 0) + 1
        nxt = []
        for e in edges:
            G.add_edge(e.source, e.target)
            for other in (e.source, e.target):
                if other not in seen:
                    seen.add(other)
                    nxt.append(other)
        # do not expand through hubs in the next hop
        frontier = [n for n in nxt if deg.get(n, 0) <= max_degree]
        if not frontier:
            break
    if G.number_of_edges() == 0:
        return []
    scores = personalized_pagerank(G, {s: 1.0 / (i + 1) for i, s in enumerate(seeds)})
    # membership only: ``targets`` may be every row of a large index (looked up, never copied)
    ranked = [(n, s) for n, s in scores.items() if n in targets and (allowed is None or n in allowed)]
    ranked.sort(key=lambda x: (-x[1], x[0]))
    return ranked[:limit]
