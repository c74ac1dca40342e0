"""LangChain adapters: KGRetriever, the tools, an agent loop with a scripted chat model, ``ask``."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("langchain_core")

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import Field

from kg.errors import ConfigError, MissingExtraError
from kg.graph import KnowledgeGraph
from retrieval.agents.langchain import KGRetriever, create_kg_agent, kg_tools
from retrieval.agents.tools import TOOL_NAMES, KGTools, tool_schemas
from retrieval.ask import ask, check_citations

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "data"
RRF = "paper:doi:10.1145/1571941.1572114"
SBERT = "paper:doi:10.18653/v1/d19-1410"


@pytest.fixture(scope="module")
def g(tmp_path_factory: pytest.TempPathFactory):
    """The sample data with the deterministic hash encoder (both legs, no model download)."""

    graph = KnowledgeGraph.open(tmp_path_factory.mktemp("lc") / "kg")
    graph.ingest(DATA, embed=False)
    graph.sync_index(embed=True, encoder="hash")
    yield graph
    graph.close()


class ScriptedChatModel(BaseChatModel):
    """A chat model whose next message is computed by ``script`` from the conversation so far."""

    script: Callable[[list[BaseMessage]], AIMessage]
    bound: list[str] = Field(default_factory=list)

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: Any = None, **kwargs: Any) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self.script(messages))])

    def bind_tools(self, tools: Any, **kwargs: Any) -> ScriptedChatModel:
        self.bound = [t.name for t in tools]
        return self

    @property
    def _llm_type(self) -> str:
        return "scripted"


def _call(name: str, args: dict[str, Any], i: int) -> AIMessage:
    return AIMessage(content="", tool_calls=[{"name": name, "args": args, "id": f"call-{i}", "type": "tool_call"}])


# -- retriever -------------------------------------------------------------------------------------
def test_retriever_documents_carry_id_label_score_and_ranks(g):
    docs = KGRetriever(graph=g, k=3).invoke("reciprocal rank fusion")
    assert 1 <= len(docs) <= 3
    m = docs[0].metadata
    assert m["id"] == RRF and m["cite"] == f"[{RRF}]" and m["label"] == "Paper"
    assert m["score"] > 0 and m["ranks"]["bm25"] == 1 and set(m["ranks"]) <= {"bm25", "dense", "graph"}
    assert "dense" in m["ranks"] or any("dense" in d.metadata["ranks"] for d in docs)
    assert m["sources"] and "Reciprocal Rank Fusion" in docs[0].page_content


def test_retriever_filters_and_mode(g):
    docs = KGRetriever(graph=g, k=5, filters={"labels": ["Skill"]}).invoke("papers citation graph review")
    assert docs and {d.metadata["label"] for d in docs} == {"Skill"}
    docs = KGRetriever(graph=g, k=2, mode="bm25").invoke("sentence embeddings")
    assert docs[0].metadata["id"] == SBERT and set(docs[0].metadata["ranks"]) == {"bm25"}


def test_retriever_invoke_overrides_k_mode_and_filters_per_call(g):
    """``invoke(q, k=...)`` used to return the field's k (LangChain drops kwargs the method does not take)."""
    r = KGRetriever(graph=g)
    assert len(r.invoke("reciprocal rank fusion")) == 4
    one = r.invoke("reciprocal rank fusion", k=1)
    assert [d.metadata["id"] for d in one] == [RRF]
    assert len(r.invoke("reciprocal rank fusion", k=2)) == 2
    bm25 = r.invoke("sentence embeddings", k=2, mode="bm25")
    assert bm25[0].metadata["id"] == SBERT and all(set(d.metadata["ranks"]) == {"bm25"} for d in bm25)
    skills = r.invoke("papers citation graph review", filters={"labels": ["Skill"]})
    assert skills and {d.metadata["label"] for d in skills} == {"Skill"}
    assert (r.k, r.mode, r.filters) == (4, "hybrid", None)  # the defaults are left as they were
    assert len(r.invoke("reciprocal rank fusion", verbose=True)) == 4  # LangChain's own flag is passed on too
    with pytest.raises(TypeError, match=r"unexpected search arguments \['top_k'\]"):
        r.invoke("reciprocal rank fusion", top_k=1)


def test_retriever_ainvoke_honours_per_call_arguments(g):
    """BaseRetriever's default async path would fail on the per-call arguments; KGRetriever passes them on."""
    import asyncio

    r = KGRetriever(graph=g, k=5, mode="hybrid")
    docs = asyncio.run(r.ainvoke("reciprocal rank fusion", k=1, mode="bm25"))
    assert [d.metadata["id"] for d in docs] == [RRF] and docs[0].metadata["ranks"] == {"bm25": 1}
    assert len(asyncio.run(r.ainvoke("reciprocal rank fusion"))) == 5


# -- tools -------------------------------------------------------------------------------------------
def test_tools_match_the_framework_free_schemas(g):
    tools = kg_tools(g)
    assert [t.name for t in tools] == list(TOOL_NAMES)
    for t, spec in zip(tools, tool_schemas(), strict=True):
        schema = t.tool_call_schema.model_json_schema()
        assert set(schema["properties"]) == set(spec["input_schema"]["properties"])
        assert set(schema.get("required", [])) == set(spec["input_schema"]["required"])
        assert t.description == spec["description"]
    with pytest.raises(ConfigError, match="unknown tools"):
        kg_tools(g, names=["search", "drop_everything"])


def _run(tool: Any, args: dict[str, Any]) -> ToolMessage:
    msg = tool.invoke({"type": "tool_call", "id": "t", "name": tool.name, "args": args})
    assert isinstance(msg, ToolMessage)
    return msg


def test_each_tool_returns_json_content_and_artifact(g):
    t = {x.name: x for x in kg_tools(g)}
    calls = {
        "search": {"query": "rank fusion", "k": 3},
        "get_node": {"node_id": SBERT},
        "neighbors": {"node_id": SBERT, "edge_types": ["AUTHORED"]},
        "shortest_path": {"source_id": "author:name:nils-reimers", "target_id": "author:name:geoffrey-hinton"},
        "find_skills": {"query": "literature review"},
        "get_skill": {"name": "citation-graph"},
        "read_only_query": {"query": "MATCH (a:Author)-[:AUTHORED]->(p {id: $id}) RETURN a.name", "params": {"id": SBERT}},
        "context": {"query": "rank fusion", "budget_tokens": 500},
    }
    assert set(calls) == set(TOOL_NAMES)
    out = {name: _run(t[name], args) for name, args in calls.items()}
    for msg in out.values():
        assert msg.status == "success" and json.loads(msg.content) == json.loads(json.dumps(msg.artifact, default=str))
    assert out["search"].artifact["hits"][0]["id"] == RRF
    assert {n["id"] for n in out["neighbors"].artifact["neighbors"]} == {"author:name:nils-reimers", "author:name:iryna-gurevych"}
    path = out["shortest_path"].artifact
    assert path["found"] and [s["type"] for s in path["steps"]] == ["AUTHORED", "CITES", "AUTHORED"]
    assert [s["direction"] for s in path["steps"]] == ["->", "->", "<-"]
    assert "body" not in out["find_skills"].artifact["skills"][0]
    assert out["find_skills"].artifact["skills"][0]["cite"] == "[skill:literature-review]"
    assert out["get_skill"].artifact["requires"] == ["literature-review"]
    assert "Citation graph" in out["get_skill"].artifact["body"]
    assert sorted(r["a.name"] for r in out["read_only_query"].artifact["rows"]) == ["Iryna Gurevych", "Nils Reimers"]
    assert out["context"].artifact["tokens"] <= 500


def test_tool_errors_become_error_messages(g):
    t = {x.name: x for x in kg_tools(g)}
    msg = _run(t["get_node"], {"node_id": "paper:doi:10.0/missing"})
    assert msg.status == "error" and "NodeNotFoundError" in msg.content and "10.0/missing" in msg.content
    msg = _run(t["read_only_query"], {"query": "MATCH (n) DETACH DELETE n"})
    assert msg.status == "error" and "read-only" in msg.content
    msg = _run(t["get_skill"], {"name": "no-such-skill"})
    assert msg.status == "error" and "no-such-skill" in msg.content
    assert g.stats()["nodes"]["Paper"] == 5  # nothing was written


def test_shortest_path_not_found_and_same_node(g):
    tools = KGTools(g)
    assert tools.shortest_path("author:name:nils-reimers", "skill:citation-graph")["found"] is False
    same = tools.shortest_path(RRF, RRF)
    assert same["found"] and same["length"] == 0


# -- agent loop --------------------------------------------------------------------------------------
def _agent_script(messages: list[BaseMessage]) -> AIMessage:
    """Search, try a bad id, read the top hit's neighbours, then answer citing what the tools returned."""
    results = [m for m in messages if isinstance(m, ToolMessage)]
    if not results:
        return _call("search", {"query": "reciprocal rank fusion", "k": 3}, 0)
    if len(results) == 1:
        return _call("get_node", {"node_id": "paper:doi:10.0/typo"}, 1)
    if len(results) == 2:
        assert results[1].status == "error"
        top = json.loads(results[0].content)["hits"][0]["id"]
        return _call("neighbors", {"node_id": top, "edge_types": ["AUTHORED"]}, 2)
    top = json.loads(results[0].content)["hits"][0]
    authors = json.loads(results[2].content)["neighbors"]
    return AIMessage(content=f"{top['title']} {top['cite']} was written by "
                             + " and ".join(f"{a['title']} {a['cite']}" for a in authors) + ".")


def test_agent_loop_drives_real_tools_to_a_cited_answer(g):
    model = ScriptedChatModel(script=_agent_script)
    agent = create_kg_agent(model, g)
    assert model.bound == list(TOOL_NAMES)
    out = agent.invoke({"messages": [("user", "Who wrote the paper on reciprocal rank fusion?")]})
    tool_msgs = [m for m in out["messages"] if isinstance(m, ToolMessage)]
    assert [m.name for m in tool_msgs] == ["search", "get_node", "neighbors"]
    assert tool_msgs[1].status == "error" and "10.0/typo" in tool_msgs[1].content
    answer = out["messages"][-1].content
    ok, bad = check_citations(g, answer)
    assert not bad
    assert ok[0] == f"[{RRF}]" and "[author:name:gordon-v-cormack]" in ok and len(ok) == 4


def test_ask_with_a_chat_model_checks_citations(g):
    def script(messages: list[BaseMessage]) -> AIMessage:
        prompt = messages[-1].content
        assert "<kg-context>" in prompt and "Question: What is RRF?" in prompt
        assert "not instructions" in messages[0].content
        return AIMessage(content=f"RRF sums reciprocal ranks [{RRF}], see also [paper:doi:10.0/invented].")

    res = ask(g, "What is RRF?", model=ScriptedChatModel(script=script), budget_tokens=800)
    assert not res.extractive and res.model == "ScriptedChatModel"
    assert res.citations == [f"[{RRF}]"] and res.unknown_citations == ["[paper:doi:10.0/invented]"]


def test_ask_agent_mode_uses_tools(g):
    res = ask(g, "Who wrote the paper on reciprocal rank fusion?", model=ScriptedChatModel(script=_agent_script),
              agent=True, budget_tokens=600)
    assert "[author:name:gordon-v-cormack]" in res.citations and not res.unknown_citations


def test_missing_langchain_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "langchain_core.retrievers", None)
    monkeypatch.delitem(sys.modules, "retrieval.agents.langchain", raising=False)
    with pytest.raises(MissingExtraError, match=r"kgloom\[agents\]"):
        import retrieval.agents.langchain  # noqa: F401


def test_missing_langgraph_names_the_extra(g, monkeypatch):
    monkeypatch.setitem(sys.modules, "langgraph.prebuilt", None)
    with pytest.raises(MissingExtraError, match=r"kgloom\[agents\]") as e:
        create_kg_agent(ScriptedChatModel(script=_agent_script), g)
    assert e.value.package == "langgraph" and e.value.extra == "agents"


# -- the real embedding model -----------------------------------------------------------------------
@pytest.mark.model
def test_retriever_with_real_minilm_finds_paraphrases(tmp_path):

    with KnowledgeGraph.open(tmp_path / "kg") as g2:
        g2.ingest(DATA, embed=False)
        g2.sync_index(embed=True, encoder="minilm")
        docs = KGRetriever(graph=g2, k=3, mode="dense").invoke("compressing an ensemble of networks into a small one")
        assert docs[0].metadata["id"] == "paper:arxiv:1503.02531" and docs[0].metadata["ranks"] == {"dense": 1}
        docs = KGRetriever(graph=g2, k=3).invoke("vector representations of sentences from siamese networks")
        assert docs[0].metadata["id"] == SBERT and "dense" in docs[0].metadata["ranks"]


# -- read_only_query (framework-free tools) -----------------------------------------------------------
@pytest.mark.parametrize(("query", "params", "expected"), [
    ("MATCH (p:Paper) WHERE p.year >= 2015 AND p.year < 2020 RETURN p.id",
     {}, [{"p.id": "paper:arxiv:1503.02531"}, {"p.id": SBERT}]),
    ("MATCH (p:Paper {id: $id})<-[:AUTHORED]-(a) RETURN a.name LIMIT 5", {"id": SBERT},
     [{"a.name": "Iryna Gurevych"}, {"a.name": "Nils Reimers"}]),
    ("MATCH (a)-[r:CITES]-(b {id: 'paper:arxiv:1503.02531'}) RETURN type(r), a.id", {},
     [{"type(r)": "CITES", "a.id": SBERT}]),
    ("MATCH (t:Tool) WHERE t.name ENDS WITH 'ep' RETURN t.name", {}, [{"t.name": "Grep"}]),
    ("MATCH (s:Skill)-[:USES_TOOL]->(t) RETURN DISTINCT t.name", {}, [{"t.name": "Read"}, {"t.name": "Grep"}]),
    ("match (x:Venue) where x.name starts with 'EMN' return x.name;", {}, [{"x.name": "EMNLP"}]),
])
def test_embedded_query_subset(g, query, params, expected):
    out = KGTools(g).read_only_query(query, params)
    assert out["language"] == "kgloom-cypher-subset" and not out["truncated"]
    key = list(expected[0])
    assert sorted(out["rows"], key=lambda r: [str(r[k]) for k in key]) == \
        sorted(expected, key=lambda r: [str(r[k]) for k in key])


def test_embedded_query_errors_and_limits(g):
    from kg.errors import QueryError, ReadOnlyViolation

    tools = KGTools(g)
    out = tools.read_only_query("MATCH (a:Author) RETURN a", limit=3)
    assert len(out["rows"]) == 3 and out["truncated"] and out["rows"][0]["a"]["cite"].startswith("[author:")
    out = tools.read_only_query("MATCH (a:Author) RETURN a.name LIMIT 2")
    assert len(out["rows"]) == 2 and not out["truncated"]
    for bad in ("CREATE (n:Paper {title: 'x'}) RETURN n", "MATCH (n) SET n.title = 'x' RETURN n",
                "MATCH (n) WITH n CALL apoc.do.it(n) RETURN n", "LOAD CSV FROM 'file:///x' AS row RETURN row"):
        with pytest.raises(ReadOnlyViolation):
            tools.read_only_query(bad)
    assert tools.read_only_query("MATCH (n:Paper) WHERE n.title CONTAINS 'set' RETURN n.id")["rows"] == []
    with pytest.raises(QueryError, match="MATCH <node>"):
        tools.read_only_query("MATCH (a)-[:CITES]->(b)-[:CITES]->(c) RETURN c")
    with pytest.raises(QueryError, match=r"\$who"):
        tools.read_only_query("MATCH (a:Author {name: $who}) RETURN a")


def test_query_uses_cypher_on_server_stores(g, monkeypatch):
    from kg.errors import ReadOnlyViolation

    sent: list[tuple[str, dict[str, Any]]] = []

    def cypher(query: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        sent.append((query, params))
        return [{"n": i, "when": object()} for i in range(5)]

    monkeypatch.setattr(g.store, "cypher", cypher)
    monkeypatch.setattr(g.store, "runs_cypher", True)
    out = KGTools(g).read_only_query("CALL db.labels() YIELD label RETURN label", {"x": 1}, limit=2)
    assert out["language"] == "cypher" and out["columns"] == ["n", "when"] and out["truncated"]
    assert [r["n"] for r in out["rows"]] == [0, 1] and isinstance(out["rows"][0]["when"], str)
    with pytest.raises(ReadOnlyViolation):
        KGTools(g).read_only_query("MATCH (n) DETACH DELETE n")
    assert sent == [("CALL db.labels() YIELD label RETURN label", {"x": 1})]


SUBSET_QUERIES = [
    "MATCH (a:Author)-[:AUTHORED]->(p:Paper) WHERE p.year >= 2015 RETURN a.name, p.title",
    "MATCH (s:Skill)-[r]->(x) RETURN s.name, type(r), x.id",
    "MATCH (p:Paper) WHERE p.title CONTAINS 'rank' RETURN p.id",
    "MATCH (p:Paper) WHERE p.title CONTAINS 'RANK' RETURN p.id",
]


@pytest.mark.neo4j
def test_tools_on_neo4j_agree_with_the_embedded_store(g, neo4j_server):
    """The Cypher subset is real Cypher: Neo4j returns the same rows; the other tools agree too."""
    from kg.store import open_store

    store = open_store(neo4j_server.uri_with_auth)
    store.clear()  # type: ignore[attr-defined]
    g4 = KnowledgeGraph(store)
    try:
        g4.ingest(DATA, embed=False)
        embedded, server = KGTools(g), KGTools(g4)
        for q in SUBSET_QUERIES:
            a, b = embedded.read_only_query(q), server.read_only_query(q)
            assert b["language"] == "cypher" and b["columns"] == a["columns"]
            assert sorted(map(str, b["rows"])) == sorted(map(str, a["rows"])), q
        got = server.read_only_query("MATCH (p:Paper {id: $id}) RETURN p", {"id": SBERT})["rows"]
        assert got[0]["p"]["id"] == SBERT and got[0]["p"]["cite"] == f"[{SBERT}]"
        from kg.errors import ReadOnlyViolation

        with pytest.raises(ReadOnlyViolation):
            server.read_only_query("MATCH (n) DETACH DELETE n")
        assert server.get_node(SBERT)["edges"] == embedded.get_node(SBERT)["edges"]
        path = server.shortest_path("author:name:nils-reimers", "author:name:geoffrey-hinton")
        assert [s["type"] for s in path["steps"]] == ["AUTHORED", "CITES", "AUTHORED"]
        assert server.get_skill("citation-graph")["requires"] == ["literature-review"]
        assert server.search("reciprocal rank fusion", k=3)["hits"][0]["id"] == RRF
    finally:
        store.close()
