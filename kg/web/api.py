"""The web explorer's JSON API: read-only ``GET`` routes over the :class:`~kg.graph.KnowledgeGraph`
facade, the routes the pages call. Every parameter is a query parameter (node ids, names, free
text); none is a file path, so no call can read a file outside the store.

Handlers are ``async`` and run on the event loop thread one at a time: the store is used by one
thread, and a search pays no thread-pool hop.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

from kg.errors import require
from kg.query import Filters
from kg.web import models as m
from kg.web import topicmap, views
from kg.web.style import label_styles

_fastapi = require("fastapi", "web", "kg serve")
APIRouter, Query = _fastapi.APIRouter, _fastapi.Query
if TYPE_CHECKING:
    from fastapi import Request

    from kg.graph import KnowledgeGraph
else:
    Request = _fastapi.Request  # FastAPI reads the annotation at run time

Mode = Literal["bm25", "dense", "hybrid", "hybrid+graph"]
Fusion = Literal["zscore", "rrf"]
NodeId = Annotated[str, Query(min_length=1, max_length=2000, description="A node id, e.g. paper:doi:10.1/x.")]
Text = Annotated[str, Query(max_length=2000)]
ERRORS: dict[int | str, dict[str, object]] = {
    400: {"model": m.Problem, "description": "Bad arguments (e.g. no topics fitted yet)."},
    404: {"model": m.Problem, "description": "No such node, skill or topic."},
}

router = APIRouter(prefix="/api", responses=ERRORS)


def graph(request: Request) -> KnowledgeGraph:
    """The graph the app serves."""
    g: KnowledgeGraph = request.app.state.graph
    return g


@router.get("/search", response_model=m.SearchResponse, summary="Search with explanations")
async def search(
    request: Request,
    q: Annotated[str, Query(min_length=1, max_length=2000, description="What to look for.")],
    mode: Mode = "hybrid",
    k: Annotated[int, Query(ge=1, le=100)] = 10,
    label: Annotated[list[str] | None, Query(max_length=64, description="Only these node labels.")] = None,
    year_from: Annotated[int | None, Query(ge=0, le=9999)] = None,
    year_to: Annotated[int | None, Query(ge=0, le=9999)] = None,
    author: Annotated[list[str] | None, Query(description="Author name or id.")] = None,
    topic: Annotated[list[str] | None, Query(description="Category, topic or keyword.")] = None,
    source: Annotated[str | None, Query(max_length=2000, description="Only nodes from sources under this path.")] = None,
    fusion: Fusion = "zscore",
) -> m.SearchResponse:
    """``g.search(q, explain=True)``: each hit with each leg's rank and share of the fused score."""
    year = (year_from, year_to) if year_from is not None or year_to is not None else None
    f = Filters(labels=[x for x in label or [] if x] or None, year=year,
                authors=[x for x in author or [] if x] or None, categories=[x for x in topic or [] if x] or None,
                source=source or None)
    return views.search(graph(request), q, k=k, mode=mode, filters=f, fusion=fusion)


@router.get("/node", response_model=m.NodeDetail, summary="A node and its provenance")
async def node(request: Request, id: NodeId) -> m.NodeDetail:
    """A node's properties and the sources that support it, with what each contributed."""
    return views.node(graph(request), id)


@router.get("/neighborhood", response_model=m.Neighborhood, summary="A node's neighbourhood")
async def neighborhood(
    request: Request, id: NodeId, depth: Annotated[int, Query(ge=1, le=2)] = 1,
    edge_type: Annotated[list[str] | None, Query(description="Only these edge types.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> m.Neighborhood:
    """The node and its neighbours within ``depth`` hops (at most ``limit``), optionally by edge type."""
    return views.neighborhood(graph(request), id, depth=depth, edge_types=[t for t in edge_type or [] if t],
                              limit=limit)


@router.get("/overview", response_model=m.Overview, summary="Counts, sources, last ingest, encoder")
async def overview(request: Request) -> m.Overview:
    """Node and edge counts, the sources and the failures of the last ingest, the active encoder."""
    return views.overview(graph(request), request.app.state.store_url)


@router.get("/styles", response_model=dict[str, dict[str, str]], summary="Node colours per label")
async def styles() -> dict[str, dict[str, str]]:
    """``{label: {color, border, text}}`` from the Neo4j Browser style file (``kgloom.grass``)."""
    return label_styles()


@router.get("/topics", response_model=m.TopicMap, summary="The topic map")
async def topics(request: Request) -> m.TopicMap:
    """Every topic with its size, terms, parent and 2-D position."""
    return topicmap.topic_map(graph(request))


@router.get("/topic", response_model=m.TopicDetail, summary="A topic and its papers")
async def topic(request: Request, id: NodeId) -> m.TopicDetail:
    """One topic and its documents, strongest first."""
    return topicmap.topic_detail(graph(request), id)


@router.get("/skills", response_model=list[m.SkillRow], summary="Search skills")
async def skills(request: Request, q: Text = "", k: Annotated[int, Query(ge=1, le=500)] = 50) -> list[m.SkillRow]:
    """Skills matching ``q`` (all skills when empty): name and description."""
    return views.skills(graph(request), q, k)


@router.get("/skill", response_model=m.SkillFull, summary="A skill in full")
async def skill(request: Request, name: Annotated[str, Query(min_length=1, max_length=500)]) -> m.SkillFull:
    """A skill's body, tools, resources, REQUIRES/NEXT and related nodes."""
    return views.skill(graph(request), name)


@router.get("/skill/chain", response_model=m.Neighborhood, summary="A skill's REQUIRES/NEXT chains")
async def skill_chain(request: Request, name: Annotated[str, Query(min_length=1, max_length=500)],
                      depth: Annotated[int, Query(ge=1, le=6)] = 3) -> m.Neighborhood:
    """The skills linked to this one by REQUIRES/NEXT edges, ``depth`` hops both ways."""
    return views.skill_chain(graph(request), name, depth)


@router.get("/context", response_model=m.ContextView, summary="A context pack")
async def context(request: Request, q: Annotated[str, Query(min_length=1, max_length=1000)],
                  budget: Annotated[int, Query(ge=500, le=16000)] = 2000) -> m.ContextView:
    """What ``g.context(q, budget)`` would hand an agent: the prompt text with its citations.

    The bounds keep every valid request answerable: a pack's header quotes the question, and 500
    tokens hold the header of any 1,000-character question."""
    return views.context(graph(request), q, budget)
