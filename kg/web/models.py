"""The JSON shapes of the web explorer's API (pydantic models: they make its OpenAPI spec)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class LegShare(BaseModel):
    """One search leg's part in a hit: its rank (None: not in its top ``depth``), raw score, and
    contribution to the fused score (``part``) and its ``share`` of the summed absolute parts."""

    leg: str
    rank: int | None
    score: float | None
    part: float
    share: float


class SearchHit(BaseModel):
    """One search hit with the explanation ``kg search --explain`` prints."""

    id: str
    label: str
    title: str
    score: float
    ranks: dict[str, int]
    legs: list[LegShare]
    explanation: str
    year: int | None = None
    snippet: str = ""


class SearchResponse(BaseModel):
    """Hits for one query, best first, and the time each stage took."""

    query: str
    mode: str
    hits: list[SearchHit]
    timings_ms: dict[str, float]


class NodeRef(BaseModel):
    """A node as a graph element: id, label and display title."""

    id: str
    label: str
    title: str


class EdgeRef(BaseModel):
    """A directed, typed edge between two node ids."""

    source: str
    target: str
    type: str


class Contribution(BaseModel):
    """What one source file contributed to a node: its label and properties (``stub``: only a
    reference to the node, e.g. a cited paper)."""

    path: str
    label: str
    stub: bool
    properties: dict[str, Any]


class NodeDetail(BaseModel):
    """A node, its properties, and its provenance (every source that supports it)."""

    id: str
    label: str
    title: str
    properties: dict[str, Any]
    sources: list[Contribution]
    edge_types: dict[str, int] = Field(description="Edge types at this node and how many of each.")


class Neighborhood(BaseModel):
    """A node's neighbourhood: ``nodes[0]`` is the centre; ``truncated`` when ``limit`` cut it."""

    center: str
    depth: int
    nodes: list[NodeRef]
    edges: list[EdgeRef]
    truncated: bool


class SourceRow(BaseModel):
    """A source file recorded in the store."""

    path: str
    reader: str
    nodes: int
    edges: int
    warnings: list[str]
    errors: list[str]
    ingested_at: str


class FailedFile(BaseModel):
    """A file the last ingest could not read (in whole or in part), with its one-line error."""

    path: str
    status: str
    error: str


class LastIngest(BaseModel):
    """The last ingest: when, files per status, time taken and the files that failed."""

    at: str
    summary: dict[str, int]
    seconds: float
    failed: list[FailedFile]


class Overview(BaseModel):
    """What the store holds and how it was built."""

    store: str
    nodes: dict[str, int]
    edges: dict[str, int]
    total_nodes: int
    total_edges: int
    encoder: str
    sources: list[SourceRow]
    last_ingest: LastIngest | None
    styles: dict[str, dict[str, str]] = Field(description="Node colours per label (the Neo4j Browser style file).")


class TopicRow(BaseModel):
    """A topic: leaf topics have ``level`` 0 and may have a ``parent`` (level 1); ``x``/``y`` place
    it on the 2-D topic map."""

    id: str
    label: str
    terms: list[str]
    size: int
    level: int
    parent: str | None
    coherence: float | None
    x: float
    y: float


class TopicMap(BaseModel):
    """The topic map: every topic with its 2-D position, plus the fit's quality figures."""

    method: str
    coherence: float | None
    diversity: float
    n_docs: int
    n_outliers: int
    topics: list[TopicRow]


class TopicPaper(BaseModel):
    """A document of a topic and how strongly it belongs to it."""

    id: str
    label: str
    title: str
    weight: float | None
    year: int | None = None


class TopicDetail(BaseModel):
    """One topic and its documents, strongest first."""

    topic: TopicRow
    children: list[str]
    papers: list[TopicPaper]


class SkillRow(BaseModel):
    """A skill as search lists it: the first level of disclosure."""

    id: str
    name: str
    description: str
    score: float


class RelatedRow(BaseModel):
    """A node linked to a skill (declared, or inferred with a similarity score)."""

    id: str
    label: str
    title: str
    type: str
    inferred: bool
    score: float | None


class SkillFull(BaseModel):
    """A skill in full: the second and third levels of disclosure (body, tools, resources, links)."""

    id: str
    name: str
    description: str
    body: str | None
    resources: list[str]
    tools: list[str]
    requires: list[str]
    next: list[str]
    related: list[RelatedRow]
    license: str | None
    compatibility: str | None
    stub: bool


class Citation(BaseModel):
    """A quoted passage of a context pack and the node it cites."""

    cite: str
    id: str
    label: str
    title: str
    text: str
    score: float
    year: int | None
    source: str


class Fact(BaseModel):
    """A triple of a context pack's subgraph."""

    subject: str
    predicate: str
    object: str
    subject_title: str
    object_title: str


class ContextView(BaseModel):
    """What ``g.context(query, budget)`` hands an agent: the prompt text and its citations."""

    query: str
    budget_tokens: int
    tokens: int
    text: str
    passages: list[Citation]
    facts: list[Fact]
    citations: dict[str, str]


class Problem(BaseModel):
    """An error: a one-line message."""

    detail: str
