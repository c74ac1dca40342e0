"""LangChain's own standard test suites (``langchain-tests``) run against kgloom's LangChain adapters.

``RetrieversIntegrationTests`` runs against :class:`KGRetriever`; ``ToolsUnitTests`` and
``ToolsIntegrationTests`` run against each of the eight tools from :func:`kg_tools`, one class per
tool and suite. Everything runs on real stores built once per module from real files in
``../shared/data`` (the S2ORC paper's PDF, the first 200 arXiv metadata records, three Anthropic
agent skills):

* ``kg_plain``: no embeddings (BM25 only; no model is loaded). The tools that never search, every
  tool's unit suite and a BM25 retriever use it.
* ``kg_minilm``: dense embeddings from the real all-MiniLM-L6-v2 model. The hybrid retriever and the
  tools that run hybrid search (``search``, ``find_skills``, ``context``) use it; their classes are
  marked ``model``.

The standard suites only check shapes (a list of ``Document`` s, a ``ToolMessage`` with an
artifact), and some pass on empty results, so each class adds tests of its own (not overrides) that
check what the example call actually returned from the store.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, ClassVar

import pytest

pytest.importorskip("langchain_core")
pytest.importorskip("langchain_tests")

from langchain_core.documents import Document
from langchain_core.messages import ToolCall, ToolMessage
from langchain_core.tools import BaseTool
from langchain_tests.integration_tests import RetrieversIntegrationTests, ToolsIntegrationTests
from langchain_tests.unit_tests import ToolsUnitTests

from kg.graph import KnowledgeGraph
from retrieval.agents.langchain import KGRetriever, kg_tools
from retrieval.agents.tools import TOOL_NAMES

# The standard suites' async tests (``async def``) run on asyncio through anyio's pytest plugin; the
# mark leaves the synchronous tests alone.
pytestmark = pytest.mark.anyio

DIPHOTON = "paper:doi:10.1103/physrevd.76.013009"  # arXiv 0704.0001, from the metadata file
S2ORC = "paper:title:524aba24081430f6"  # "S2ORC: The Semantic Scholar Open Research Corpus", from the PDF
S2ORC_AUTHORS = {"author:name:daniel-s-weld", "author:name:kyle-lo", "author:name:lucy-lu-wang",
                 "author:name:mark-neumann", "author:name:rodney-kinney"}
SCAFFOLDS = "paper:title:1300c39dd3a471d5"  # a paper S2ORC cites (from its reference list)
SKILLS = ("mcp-builder", "skill-creator", "webapp-testing")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def corpus(shared: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A handful of real files from ``../shared/data``, copied to one folder."""
    data = shared / "data"
    out = tmp_path_factory.mktemp("lc-standard-data")
    shutil.copy(data / "pdfs" / "2020.acl-main.447.pdf", out)
    shutil.copy(data / "paper-metadata" / "arxiv_oai_head200" / "arxiv-metadata-oai-snapshot.head200.jsonl", out)
    for name in SKILLS:
        shutil.copytree(data / "skills" / "anthropics" / name, out / "skills" / name)
    return out


def _open(corpus: Path, folder: Path) -> KnowledgeGraph:
    g = KnowledgeGraph.open(folder / "kg")
    report = g.ingest(corpus, embed=False)
    assert [f.status for f in report.files] == ["added"] * 5, report
    assert not [e for f in report.files for e in f.errors]
    return g


@pytest.fixture(scope="module")
def kg_plain(corpus: Path, tmp_path_factory: pytest.TempPathFactory):
    """The corpus in an embedded store without embeddings: BM25 only, no model loaded."""
    g = _open(corpus, tmp_path_factory.mktemp("lc-standard-plain"))
    yield g
    g.close()


@pytest.fixture(scope="module")
def kg_minilm(corpus: Path, tmp_path_factory: pytest.TempPathFactory):
    """The corpus with dense embeddings from the real all-MiniLM-L6-v2 model."""

    g = _open(corpus, tmp_path_factory.mktemp("lc-standard-minilm"))
    g.sync_index(embed=True, encoder="minilm")
    yield g
    g.close()


def test_the_stores_hold_the_corpus(kg_plain):
    stats = kg_plain.stats()
    assert stats["nodes"]["Paper"] == 256 and stats["nodes"]["Skill"] == len(SKILLS)
    assert stats["nodes"]["Chunk"] > 0 and stats["edges"]["CITES"] > 0


# -- retriever ---------------------------------------------------------------------------------------
class _KGRetrieverCase:
    """``KGRetriever`` over one of the module's stores; ``store`` names its fixture."""

    store: ClassVar[str]
    mode: ClassVar[str]
    query: ClassVar[str]

    @pytest.fixture(autouse=True)
    def _bind_graph(self, request: pytest.FixtureRequest) -> None:
        self.graph = request.getfixturevalue(self.store)

    @property
    def retriever_constructor(self) -> type[KGRetriever]:
        return KGRetriever

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        return {"graph": self.graph, "mode": self.mode}

    @property
    def retriever_query_example(self) -> str:
        return self.query

    # Not part of the standard suite: what the example query returns, and per-call overrides.
    def test_example_query_finds_the_paper(self, retriever: KGRetriever) -> None:
        docs = retriever.invoke(self.retriever_query_example)
        assert len(docs) == 4  # the retriever's default k
        top = docs[0]
        assert isinstance(top, Document) and top.id == DIPHOTON == top.metadata["id"]
        assert top.metadata["cite"] == f"[{DIPHOTON}]" and top.metadata["label"] == "Paper"
        assert top.metadata["ranks"]["bm25"] == 1
        assert top.page_content.startswith("Calculation of prompt diphoton production cross sections")
        assert top.metadata["sources"] and top.metadata["sources"][0].endswith(".head200.jsonl")
        assert len({d.id for d in docs}) == 4

    async def test_ainvoke_honours_per_call_arguments(self, retriever: KGRetriever) -> None:
        docs = await retriever.ainvoke(self.retriever_query_example, k=2)
        assert [d.id for d in docs][:1] == [DIPHOTON] and len(docs) == 2
        skills = await retriever.ainvoke("build a server for tools", k=5, filters={"labels": ["Skill"]})
        assert skills and {d.metadata["label"] for d in skills} == {"Skill"}

    def test_invoke_refuses_unknown_arguments(self, retriever: KGRetriever) -> None:
        with pytest.raises(TypeError, match="top_k"):
            retriever.invoke(self.retriever_query_example, top_k=2)


@pytest.mark.model
class TestKGRetrieverHybrid(_KGRetrieverCase, RetrieversIntegrationTests):
    """Hybrid search (BM25 + MiniLM) with a paraphrase of the paper's abstract."""

    store = "kg_minilm"
    mode = "hybrid"
    query = "massive photon pairs at hadron colliders"

    def test_both_legs_rank_the_paper_first(self, retriever: KGRetriever) -> None:
        top = retriever.invoke(self.retriever_query_example, k=1)[0]
        assert top.id == DIPHOTON and top.metadata["ranks"] == {"bm25": 1, "dense": 1}


class TestKGRetrieverBM25(_KGRetrieverCase, RetrieversIntegrationTests):
    """BM25 only, on the store without embeddings."""

    store = "kg_plain"
    mode = "bm25"
    query = "diphoton production cross sections at the LHC"

    def test_only_the_bm25_leg_ranks(self, retriever: KGRetriever) -> None:
        docs = retriever.invoke(self.retriever_query_example)
        assert docs and all(set(d.metadata["ranks"]) == {"bm25"} for d in docs)


# -- tools -------------------------------------------------------------------------------------------
def kg_tool(graph: KnowledgeGraph, name: str) -> BaseTool:
    """The suites' ``tool_constructor``: one tool from :func:`kg_tools`, built as an agent gets it."""
    tools = kg_tools(graph, names=[name])
    assert [t.name for t in tools] == [name]
    return tools[0]


class _KGToolCase:
    """One tool of :func:`kg_tools`; ``store`` names the fixture of the graph it is built over.

    The unit suites only build the tool and read its schema, so they use ``kg_plain``; the integration
    suites of the tools that search set ``store = "kg_minilm"``.
    """

    tool_name: ClassVar[str]
    example: ClassVar[dict[str, Any]]
    store: ClassVar[str] = "kg_plain"

    @pytest.fixture(autouse=True)
    def _bind_graph(self, request: pytest.FixtureRequest) -> None:
        self.graph = request.getfixturevalue(self.store)

    @property
    def tool_constructor(self) -> Any:
        return kg_tool

    @property
    def tool_constructor_params(self) -> dict[str, Any]:
        return {"graph": self.graph, "name": self.tool_name}

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return json.loads(json.dumps(self.example))  # a fresh copy for every call

    @staticmethod
    def check(out: dict[str, Any]) -> None:
        """Assertions on the example call's result (the tool's artifact)."""
        raise NotImplementedError


class _ExampleResult(_KGToolCase):
    """Not part of the standard suite: the example call succeeds and returns what the store holds."""

    def test_example_call_returns_the_expected_result(self, tool: BaseTool) -> None:
        msg = tool.invoke(ToolCall(name=tool.name, args=self.tool_invoke_params_example, id="call-1",
                                   type="tool_call"))
        assert isinstance(msg, ToolMessage)
        assert msg.status == "success", msg.content
        assert isinstance(msg.content, str) and isinstance(msg.artifact, dict)
        assert json.loads(msg.content) == json.loads(json.dumps(msg.artifact, default=str))
        self.check(msg.artifact)
        # Called without a ToolCall, the tool returns the same JSON text only.
        assert json.loads(tool.invoke(self.tool_invoke_params_example)) == json.loads(msg.content)


class _Search(_KGToolCase):
    tool_name = "search"
    example: ClassVar[dict[str, Any]] = {"query": "massive photon pairs at hadron colliders", "k": 3}

    @staticmethod
    def check(out: dict[str, Any]) -> None:
        hits = out["hits"]
        assert len(hits) == 3 and hits[0]["id"] == DIPHOTON and hits[0]["cite"] == f"[{DIPHOTON}]"
        assert hits[0]["ranks"] == {"bm25": 1, "dense": 1}


class _GetNode(_KGToolCase):
    tool_name = "get_node"
    example: ClassVar[dict[str, Any]] = {"node_id": S2ORC}

    @staticmethod
    def check(out: dict[str, Any]) -> None:
        assert out["id"] == S2ORC and out["label"] == "Paper"
        assert out["title"] == "S2ORC: The Semantic Scholar Open Research Corpus"
        assert out["edges"]["AUTHORED"] == {"out": 0, "in": 5} and out["edges"]["CITES"]["out"] > 0
        assert out["sources"][0].endswith("2020.acl-main.447.pdf")


class _Neighbors(_KGToolCase):
    tool_name = "neighbors"
    example: ClassVar[dict[str, Any]] = {"node_id": S2ORC, "edge_types": ["AUTHORED"], "direction": "in"}

    @staticmethod
    def check(out: dict[str, Any]) -> None:
        assert out["node"]["id"] == S2ORC
        assert {n["id"] for n in out["neighbors"]} == S2ORC_AUTHORS
        assert {e["type"] for e in out["edges"]} == {"AUTHORED"}


class _ShortestPath(_KGToolCase):
    tool_name = "shortest_path"
    example: ClassVar[dict[str, Any]] = {"source_id": "author:name:kyle-lo", "target_id": SCAFFOLDS}

    @staticmethod
    def check(out: dict[str, Any]) -> None:
        assert out["found"] and out["length"] == 2
        assert [(s["type"], s["direction"]) for s in out["steps"]] == [("AUTHORED", "->"), ("CITES", "->")]


class _FindSkills(_KGToolCase):
    tool_name = "find_skills"
    example: ClassVar[dict[str, Any]] = {"query": "test a local web application in the browser", "k": 2}

    @staticmethod
    def check(out: dict[str, Any]) -> None:
        skills = out["skills"]
        assert len(skills) == 2 and skills[0]["id"] == "skill:webapp-testing"
        assert skills[0]["cite"] == "[skill:webapp-testing]" and "body" not in skills[0]


class _GetSkill(_KGToolCase):
    tool_name = "get_skill"
    example: ClassVar[dict[str, Any]] = {"name": "mcp-builder"}

    @staticmethod
    def check(out: dict[str, Any]) -> None:
        assert out["id"] == "skill:mcp-builder" and out["cite"] == "[skill:mcp-builder]"
        assert out["body"].startswith("# MCP Server Development Guide")
        assert out["sources"][0].endswith("mcp-builder/SKILL.md")


class _ReadOnlyQuery(_KGToolCase):
    tool_name = "read_only_query"
    example: ClassVar[dict[str, Any]] = {
        "query": "MATCH (a:Author)-[:AUTHORED]->(p:Paper {id: $id}) RETURN a.id", "params": {"id": S2ORC}}

    @staticmethod
    def check(out: dict[str, Any]) -> None:
        assert out["language"] == "kgloom-cypher-subset" and not out["truncated"]
        assert {r["a.id"] for r in out["rows"]} == S2ORC_AUTHORS


class _Context(_KGToolCase):
    tool_name = "context"
    example: ClassVar[dict[str, Any]] = {"query": "S2ORC corpus of scientific papers", "budget_tokens": 400}

    @staticmethod
    def check(out: dict[str, Any]) -> None:
        assert 0 < out["tokens"] <= 400 and out["hits"][0]["id"] == S2ORC
        assert f"[{S2ORC}]" in out["citations"] and "<kg-context>" in out["text"]


def test_every_tool_has_both_suites():
    classes = [c for c in globals().values() if isinstance(c, type) and issubclass(c, _KGToolCase)
               and c.__name__.startswith("Test")]
    for suite in (ToolsUnitTests, ToolsIntegrationTests):
        assert sorted(c.tool_name for c in classes if issubclass(c, suite)) == sorted(TOOL_NAMES)


class TestSearchToolUnit(_Search, ToolsUnitTests):
    pass


@pytest.mark.model
class TestSearchToolIntegration(_Search, _ExampleResult, ToolsIntegrationTests):
    store = "kg_minilm"


class TestGetNodeToolUnit(_GetNode, ToolsUnitTests):
    pass


class TestGetNodeToolIntegration(_GetNode, _ExampleResult, ToolsIntegrationTests):
    pass


class TestNeighborsToolUnit(_Neighbors, ToolsUnitTests):
    pass


class TestNeighborsToolIntegration(_Neighbors, _ExampleResult, ToolsIntegrationTests):
    pass


class TestShortestPathToolUnit(_ShortestPath, ToolsUnitTests):
    pass


class TestShortestPathToolIntegration(_ShortestPath, _ExampleResult, ToolsIntegrationTests):
    pass


class TestFindSkillsToolUnit(_FindSkills, ToolsUnitTests):
    pass


@pytest.mark.model
class TestFindSkillsToolIntegration(_FindSkills, _ExampleResult, ToolsIntegrationTests):
    store = "kg_minilm"


class TestGetSkillToolUnit(_GetSkill, ToolsUnitTests):
    pass


class TestGetSkillToolIntegration(_GetSkill, _ExampleResult, ToolsIntegrationTests):
    pass


class TestReadOnlyQueryToolUnit(_ReadOnlyQuery, ToolsUnitTests):
    pass


class TestReadOnlyQueryToolIntegration(_ReadOnlyQuery, _ExampleResult, ToolsIntegrationTests):
    pass


class TestContextToolUnit(_Context, ToolsUnitTests):
    pass


@pytest.mark.model
class TestContextToolIntegration(_Context, _ExampleResult, ToolsIntegrationTests):
    store = "kg_minilm"
