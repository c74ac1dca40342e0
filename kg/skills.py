"""The skill graph for agents: find skills, read one progressively, walk REQUIRES/NEXT, link to topics.

Skill nodes, their ``USES_TOOL`` edges and the ``REQUIRES`` / ``NEXT`` / ``RELATED_TO`` edges declared in
front matter come from the ``SKILL.md`` reader (:mod:`ingest.readers.skill`). This module adds:

* progressive disclosure: :func:`skills` returns name, description and score only; :func:`skill`
  returns one skill with its body and bundled resources; :func:`skill_path` follows
  ``REQUIRES``/``NEXT`` edges from one skill to another;
* :func:`link_skills`: inferred ``RELATED_TO`` edges from skills to topics and papers by retrieval
  similarity, marked ``inferred: true`` with a ``score``, written as the derived source
  :data:`LINK_SOURCE` (replaced on every run);
* :func:`validate_skills`: Agent Skills spec violations per ``SKILL.md`` file.

>>> from kg.graph import KnowledgeGraph                 # doctest: +SKIP
>>> g = KnowledgeGraph.open("./.kg")                    # doctest: +SKIP
>>> [h.name for h in skills(g, "read a PDF", k=3)]      # doctest: +SKIP
['pdf', 'docx', 'markitdown']
>>> skill(g, "pdf").resources[:2]                       # doctest: +SKIP
['forms.md', 'reference.md']
"""

from __future__ import annotations

import hashlib
import json
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kg.errors import ConfigError, NodeNotFoundError
from kg.model import EdgeRecord, Label, ReadResult, Rel
from kg.store.base import SourceInfo

if TYPE_CHECKING:
    from ingest.skill_spec import Violation
    from kg.graph import KnowledgeGraph

LINK_SOURCE = "kgloom://skills/links"
PATH_EDGES = (Rel.REQUIRES, Rel.NEXT)


@dataclass(slots=True)
class SkillHit:
    """A search result for a skill: the first level of disclosure."""

    id: str
    name: str
    description: str
    score: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"id": self.id, "name": self.name, "description": self.description, "score": round(self.score, 6)}


@dataclass(slots=True)
class Related:
    """A node linked to a skill: declared in front matter, or inferred (with a similarity ``score``)."""

    id: str
    label: str
    title: str
    type: str
    inferred: bool = False
    score: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"id": self.id, "label": self.label, "title": self.title, "type": self.type,
                "inferred": self.inferred, "score": None if self.score is None else round(self.score, 4)}


@dataclass(slots=True)
class SkillDetail:
    """One skill in full: the second level of disclosure (``body`` only when asked)."""

    id: str
    name: str
    description: str
    body: str | None
    resources: list[str]
    folder: str
    tools: list[str]
    requires: list[str]
    next: list[str]
    related: list[Related]
    license: str | None = None
    compatibility: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    stub: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"id": self.id, "name": self.name, "description": self.description, "body": self.body,
                "resources": self.resources, "folder": self.folder, "tools": self.tools,
                "requires": self.requires, "next": self.next, "related": [r.to_dict() for r in self.related],
                "license": self.license, "compatibility": self.compatibility, "metadata": self.metadata,
                "stub": self.stub}


@dataclass(slots=True)
class PathStep:
    """One skill on a path and the edge type that led to it (empty for the start)."""

    name: str
    via: str = ""


@dataclass(slots=True)
class SkillPath:
    """The shortest ``REQUIRES``/``NEXT`` path from ``start`` to ``goal`` (``found`` false: none)."""

    start: str
    goal: str
    steps: list[PathStep]
    found: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"start": self.start, "goal": self.goal, "found": self.found,
                "steps": [{"name": s.name, "via": s.via} for s in self.steps]}


@dataclass(slots=True)
class LinkReport:
    """What :func:`link_skills` wrote."""

    skills: int = 0
    topic_links: int = 0
    paper_links: int = 0
    method: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"skills": self.skills, "topic_links": self.topic_links, "paper_links": self.paper_links,
                "method": self.method}


@dataclass(slots=True)
class SkillViolations:
    """Spec violations of one ``SKILL.md`` (an ingest report per file is :class:`ingest.pipeline.FileReport`)."""

    path: str
    violations: list[Violation]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"path": self.path, "violations": [{"code": v.code, "field": v.field, "message": v.message}
                                                  for v in self.violations]}


@dataclass(slots=True)
class ValidationReport:
    """Spec violations for a set of skill files (files without violations included)."""

    files: list[SkillViolations]

    @property
    def invalid(self) -> list[SkillViolations]:
        """Files with at least one violation."""
        return [f for f in self.files if f.violations]

    def counts(self) -> dict[str, int]:
        """Violations per code, most frequent first."""
        c: dict[str, int] = {}
        for f in self.files:
            for v in f.violations:
                c[v.code] = c.get(v.code, 0) + 1
        return dict(sorted(c.items(), key=lambda kv: (-kv[1], kv[0])))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: totals, counts per code and the files with violations."""
        return {"files": len(self.files), "invalid": len(self.invalid),
                "violations": sum(len(f.violations) for f in self.files), "by_code": self.counts(),
                "reports": [f.to_dict() for f in self.invalid]}


# -- disclosure ----------------------------------------------------------------------------------------
def _skill_id(name: str) -> str:
    from ingest.readers.skill import skill_id

    return skill_id(name)


def skills(g: KnowledgeGraph, query: str = "", k: int = 10) -> list[SkillHit]:
    """Skills matching ``query`` (hybrid search over name and description), best first.

    An empty query lists every defined skill by name, with score 0.
    """
    if not query.strip():
        return [SkillHit(n.id, str(n.properties.get("name", n.id)), str(n.properties.get("description", "")), 0.0)
                for n in g.store.iter_nodes([Label.SKILL]) if not n.properties.get("stub")]
    from retrieval.filters import Filters

    res = g.search(query, k=k, filters=Filters(labels=[Label.SKILL]))
    return [SkillHit(h.id, str(h.node.properties.get("name", h.id)) if h.node else h.title,
                     str(h.node.properties.get("description", "")) if h.node else "", float(h.score))
            for h in res.hits if h.label == Label.SKILL]


def skill(g: KnowledgeGraph, name: str, *, body: bool = True) -> SkillDetail:
    """One skill by name (or ``skill:<name>`` id): description, body, resources, tools and links."""
    sid = _skill_id(name)
    node = g.store.get_nodes([sid]).get(sid)
    if node is None or node.label != Label.SKILL:
        raise NodeNotFoundError(f"no skill named {name!r}")
    p = node.properties
    edges = g.store.edges_of([sid], direction="out")
    others = g.store.get_nodes(sorted({e.target for e in edges}))
    tools, requires, nxt, related = [], [], [], []
    for e in edges:
        other = others.get(e.target)
        oname = str(other.properties.get("name", e.target)) if other else e.target.removeprefix("skill:")
        if e.type == Rel.USES_TOOL:
            pattern = e.properties.get("pattern")
            tools.append(f"{oname}({pattern})" if pattern else oname)
        elif e.type == Rel.REQUIRES:
            requires.append(oname)
        elif e.type == Rel.NEXT:
            nxt.append(oname)
        elif e.type == Rel.RELATED_TO:
            title = other.title if other else e.target
            related.append(Related(e.target, other.label if other else "", title, e.type,
                                   bool(e.properties.get("inferred")), e.properties.get("score")))
    related.sort(key=lambda r: (r.inferred, -(r.score or 0.0), r.id))
    return SkillDetail(sid, str(p.get("name", sid)), str(p.get("description", "")),
                       str(p.get("body", "")) if body else None, list(p.get("resources", [])),
                       str(p.get("folder", "")), tools, requires, nxt, related, p.get("license"),
                       p.get("compatibility"), dict(p.get("metadata", {})), bool(p.get("stub")))


def skill_path(g: KnowledgeGraph, start: str, goal: str, *, max_depth: int = 12) -> SkillPath:
    """Shortest path from ``start`` to ``goal`` following ``REQUIRES``/``NEXT`` edges forwards.

    ``a -REQUIRES-> b`` is read as "a needs b", ``a -NEXT-> b`` as "after a comes b"; each step
    records the edge type that led to it. Raises NodeNotFoundError for an unknown skill.
    """
    s, t = _skill_id(start), _skill_id(goal)
    found = g.store.get_nodes([s, t])
    for nid, raw in ((s, start), (t, goal)):
        if nid not in found:
            raise NodeNotFoundError(f"no skill named {raw!r}")
    names = {nid: str(n.properties.get("name", nid)) for nid, n in found.items()}
    prev: dict[str, tuple[str, str]] = {}
    seen = {s}
    frontier = deque([(s, 0)])
    while frontier:
        cur, depth = frontier.popleft()
        if cur == t or depth >= max_depth:
            continue
        for e in g.store.edges_of([cur], types=list(PATH_EDGES), direction="out"):
            if e.target not in seen:
                seen.add(e.target)
                prev[e.target] = (cur, e.type)
                frontier.append((e.target, depth + 1))
    if t != s and t not in prev:
        return SkillPath(names[s], names[t], [], False)
    chain = [(t, "")]
    while chain[-1][0] != s:
        before, via = prev[chain[-1][0]]
        chain[-1] = (chain[-1][0], via)
        chain.append((before, ""))
    nodes = g.store.get_nodes([c for c, _ in chain])
    steps = [PathStep(str(nodes[c].properties.get("name", c)) if c in nodes else c, via) for c, via in reversed(chain)]
    return SkillPath(names[s], names[t], steps, True)


# -- inferred links ---------------------------------------------------------------------------------------
def link_skills(g: KnowledgeGraph, *, k_topics: int = 3, k_papers: int = 5, min_topic_score: float = 0.3,
                min_paper_score: float = 0.4) -> LinkReport:
    """Infer ``RELATED_TO`` edges from each skill to its nearest topics and papers (derived source).

    Similarity is the cosine between the skill's stored vector and a paper's stored vector, or a
    topic's centroid (its own vector when the topic model has none). Without embeddings the
    papers come from BM25 search and topics are not linked. Every edge has ``score``,
    ``inferred: true`` and ``method``.
    """
    from kg.topics import stored_embeddings

    defined = [n for n in g.store.iter_nodes([Label.SKILL]) if not n.properties.get("stub")]
    rep = LinkReport(skills=len(defined))
    edges: list[EdgeRecord] = []
    if defined:
        ids = [n.id for n in defined]
        sk = stored_embeddings(g, ids)
        if sk is not None:
            rep.method = "dense"
            edges += _dense_links(g, ids, sk, Label.PAPER, _paper_ids(g), k_papers, min_paper_score)
            t_ids, t_vecs = _topic_vectors(g)
            edges += _nearest(ids, sk, t_ids, t_vecs, k_topics, min_topic_score, "dense")
        else:
            rep.method = "bm25"
            edges += _bm25_links(g, defined, k_papers)
    rep.topic_links = sum(e.target.startswith("topic:") for e in edges)
    rep.paper_links = len(edges) - rep.topic_links
    digest = hashlib.sha256(json.dumps([(e.source, e.target, e.properties["score"]) for e in edges]).encode()).hexdigest()
    g.store.write_source(SourceInfo(LINK_SOURCE, digest, reader="skills:link"), ReadResult([], edges), derived=True)
    return rep


def _paper_ids(g: KnowledgeGraph) -> list[str]:
    g.sync_index()
    idx = g.search_index()
    if idx is None:
        return []
    return [r.id for r in idx.rows if r is not None and r.label == Label.PAPER and r.id == r.target]


def _dense_links(g: KnowledgeGraph, ids: list[str], sk: np.ndarray, label: str, cand: list[str], k: int,
                 min_score: float) -> list[EdgeRecord]:
    idx = g.search_index()
    if not cand or k <= 0 or idx is None or idx.dense is None:
        return []
    rows = np.asarray([idx.row_of[c] for c in cand], dtype=np.int64)
    return _nearest(ids, sk, cand, np.asarray(idx.dense.vectors)[rows], k, min_score, "dense")


def _nearest(ids: list[str], sk: np.ndarray, cand: list[str], vecs: np.ndarray | None, k: int,
             min_score: float, method: str) -> list[EdgeRecord]:
    """Top-``k`` candidates per skill by cosine, at least ``min_score``; ties by candidate order."""
    if vecs is None or not cand or k <= 0:
        return []
    out: list[EdgeRecord] = []
    sims = sk @ np.asarray(vecs, dtype=np.float32).T
    for i, sid in enumerate(ids):
        row = sims[i]
        order = np.lexsort((np.arange(len(row)), -row))[:k]
        out += [EdgeRecord(sid, cand[j], Rel.RELATED_TO, {"score": round(float(row[j]), 4), "inferred": True,
                                                          "method": method})
                for j in order if row[j] >= min_score]
    return out


def _topic_vectors(g: KnowledgeGraph) -> tuple[list[str], np.ndarray | None]:
    """Leaf topic ids and centroids from the topic model (their index vectors as a fallback)."""
    from kg.topics import load_model

    try:
        model = load_model(g)
    except ConfigError:
        model = None
    stored = {n.id for n in g.store.iter_nodes([Label.TOPIC]) if int(n.properties.get("level", 0)) == 0}
    if model is not None and model.get("centroids") is not None:
        pairs = [(tid, i) for i, tid in enumerate(model["topic_ids"]) if tid in stored]
        return [p[0] for p in pairs], model["centroids"][[p[1] for p in pairs]]
    idx = g.search_index()
    cand = sorted(t for t in stored if idx is not None and t in idx.row_of)
    if not cand or idx is None or idx.dense is None:
        return [], None
    return cand, np.asarray(idx.dense.vectors)[[idx.row_of[t] for t in cand]]


def _bm25_links(g: KnowledgeGraph, defined: Sequence[Any], k: int) -> list[EdgeRecord]:
    from retrieval.filters import Filters

    out: list[EdgeRecord] = []
    for n in defined:
        q = f"{n.properties.get('name', '')} {n.properties.get('description', '')}"
        for h in g.search(q, k=k, mode="bm25", filters=Filters(labels=[Label.PAPER])).hits:
            out.append(EdgeRecord(n.id, h.id, Rel.RELATED_TO, {"score": round(float(h.score), 4),
                                                                "inferred": True, "method": "bm25"}))
    return out


# -- validation ---------------------------------------------------------------------------------------------
def stored_skill_files(g: KnowledgeGraph) -> list[Path]:
    """Skill files ingested into ``g`` (sources read by the skill reader)."""
    return [Path(s.path) for s in g.store.sources() if s.reader == "skill"]


def validate_skills(paths: Iterable[str | Path]) -> ValidationReport:
    """Spec violations of every ``SKILL.md`` under the given folders, and of the given files."""
    from ingest.skill_spec import validate_file, validate_tree

    found: dict[str, list[Violation]] = {}
    for p in map(Path, paths):
        if p.is_dir():
            for f, vs in validate_tree(p):
                found[str(f)] = vs
        elif p.is_file():
            found[str(p)] = validate_file(p)
        else:
            raise ConfigError(f"no such file or folder: {p}")
    return ValidationReport([SkillViolations(k, v) for k, v in sorted(found.items())])
