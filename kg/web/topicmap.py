"""The topic map of the web explorer: stored topics placed in 2-D, read only.

Leaf topics sit at a PCA projection of their documents' mean stored embedding (the same vectors the
dense leg searches), so nearby topics are similar; parents (level 1) are drawn around their
children. Without embeddings the topics are laid out on a circle. Nothing is fitted or written.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from kg.model import Label, Rel
from kg.web import models as m

if TYPE_CHECKING:
    from kg.graph import KnowledgeGraph

MAX_PAPERS = 200


def project_2d(vectors: np.ndarray) -> np.ndarray:
    """Rows of ``vectors`` projected on their first two principal axes, scaled to [-1, 1].

    >>> project_2d(np.eye(3)).shape
    (3, 2)
    """
    x = np.asarray(vectors, dtype=np.float64)
    if len(x) == 0:
        return np.zeros((0, 2))
    c = x - x.mean(axis=0)
    _, _, vt = np.linalg.svd(c, full_matrices=False)
    xy = c @ vt[:2].T
    if xy.shape[1] < 2:
        xy = np.hstack([xy, np.zeros((len(x), 2 - xy.shape[1]))])
    span = float(np.abs(xy).max()) or 1.0
    return xy / span


def _circle(n: int) -> np.ndarray:
    return np.array([[math.cos(2 * math.pi * i / max(n, 1)), math.sin(2 * math.pi * i / max(n, 1))]
                     for i in range(n)]).reshape(n, 2)


def topic_map(g: KnowledgeGraph) -> m.TopicMap:
    """Every stored topic with a 2-D position (ConfigError when no topics were fitted)."""
    from kg.topics import stored_embeddings

    rep = g.topic_report()
    leaves = [t for t in rep.topics if t.level == 0]
    members: dict[str, list[str]] = {t.id: [] for t in leaves}
    for e in g.edges(edge_types=[Rel.HAS_TOPIC]):
        if e.target in members:
            members[e.target].append(e.source)
    xy = _circle(len(leaves))
    docs = sorted({d for ids in members.values() for d in ids})
    emb = stored_embeddings(g, docs) if docs and len(leaves) > 2 else None
    if emb is not None:
        row = {d: i for i, d in enumerate(docs)}
        cents = np.stack([emb[[row[d] for d in members[t.id]]].mean(axis=0) if members[t.id]
                          else np.zeros(emb.shape[1]) for t in leaves])
        xy = project_2d(cents)
    pos = {t.id: (float(xy[i, 0]), float(xy[i, 1])) for i, t in enumerate(leaves)}
    rows = []
    for t in rep.topics:
        if t.level > 0:  # a parent: the mean of its children's positions
            kids = [pos[c.id] for c in leaves if c.parent == t.id and c.id in pos]
            pos[t.id] = (float(np.mean([k[0] for k in kids])), float(np.mean([k[1] for k in kids]))) if kids \
                else (0.0, 0.0)
        x, y = pos[t.id]
        rows.append(m.TopicRow(id=t.id, label=t.label, terms=[w for w, _ in t.terms[:10]], size=t.size,
                               level=t.level, parent=t.parent, coherence=t.coherence, x=round(x, 5),
                               y=round(y, 5)))
    return m.TopicMap(method=rep.method, coherence=rep.coherence, diversity=round(rep.diversity, 4),
                      n_docs=rep.n_docs, n_outliers=rep.n_outliers, topics=rows)


def topic_detail(g: KnowledgeGraph, topic_id: str) -> m.TopicDetail:
    """One topic and its documents, strongest first (NodeNotFoundError for an unknown topic)."""
    from kg.errors import NodeNotFoundError

    tm = topic_map(g)
    found = [t for t in tm.topics if t.id == topic_id]
    if not found:
        raise NodeNotFoundError(f"no topic with id {topic_id!r}")
    t = found[0]
    children = [c.id for c in tm.topics if c.parent == topic_id]
    weights: dict[str, float | None] = {}
    for tid in children or [topic_id]:  # a parent's documents are its children's
        for e in g.edges(tid, edge_types=[Rel.HAS_TOPIC], direction="in"):
            w = e.properties.get("weight")
            weights[e.source] = float(w) if isinstance(w, int | float) else None
    nodes = g.get_nodes(sorted(weights))
    papers = [m.TopicPaper(id=n.id, label=n.label, title=n.title, weight=weights[n.id],
                           year=_year(n.properties.get("year"))) for n in nodes.values()
              if n.label in (Label.PAPER, Label.DOCUMENT)]
    papers.sort(key=lambda p: (-(p.weight or 0.0), p.title))
    return m.TopicDetail(topic=t, children=children, papers=papers[:MAX_PAPERS])


def _year(y: object) -> int | None:
    try:
        return int(str(y)) if y is not None and str(y).strip() else None
    except ValueError:
        return None
