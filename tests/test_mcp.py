"""``kg mcp`` end to end: the real server process, driven by the official ``mcp`` Python client."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from processes import stop

pytest.importorskip("mcp")

import anyio
from mcp import ClientSession, StdioServerParameters, stdio_client

from kg.graph import KnowledgeGraph
from retrieval.agents.tools import TOOL_NAMES, tool_schemas

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "data"
RRF = "paper:doi:10.1145/1571941.1572114"
SBERT = "paper:doi:10.18653/v1/d19-1410"
CALLS: dict[str, dict[str, Any]] = {
    "search": {"query": "reciprocal rank fusion", "k": 3},
    "get_node": {"node_id": SBERT},
    "neighbors": {"node_id": SBERT, "direction": "in"},
    "shortest_path": {"source_id": "author:name:nils-reimers", "target_id": "author:name:geoffrey-hinton"},
    "find_skills": {"query": "related work survey", "k": 2},
    "get_skill": {"name": "literature-review", "body": False},
    "read_only_query": {"query": "MATCH (s:Skill)-[:NEXT]->(t) RETURN s.name, t.name"},
    "context": {"query": "rank fusion", "budget_tokens": 400},
}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("mcp") / "kg"
    with KnowledgeGraph.open(path) as g:
        g.ingest(DATA, embed=False)
    return str(path)


def _env() -> dict[str, str]:
    return {"PYTHONPATH": str(REPO), "KG_STORE": "", "PATH": os.environ.get("PATH", "")}


def _payload(result: Any) -> dict[str, Any]:
    assert result.content and result.content[0].type == "text"
    data: dict[str, Any] = json.loads(result.content[0].text)
    if result.structured_content is not None:
        assert result.structured_content == data
    return data


def _error_text(result: Any) -> str:
    assert result.is_error is True
    return " ".join(c.text for c in result.content if c.type == "text")


async def _session_checks(session: ClientSession) -> None:
    await session.initialize()
    listed = (await session.list_tools()).tools
    assert [t.name for t in listed] == list(TOOL_NAMES)
    for t, spec in zip(listed, tool_schemas(), strict=True):
        assert t.description == spec["description"]
        assert set(t.input_schema["properties"]) == set(spec["input_schema"]["properties"])
        assert set(t.input_schema.get("required", [])) == set(spec["input_schema"]["required"])
        assert all(p.get("description") for p in t.input_schema["properties"].values())
        assert t.annotations is not None and t.annotations.read_only_hint is True

    out = {name: _payload(await session.call_tool(name, args)) for name, args in CALLS.items()}
    assert out["search"]["hits"][0]["id"] == RRF and out["search"]["hits"][0]["cite"] == f"[{RRF}]"
    assert out["get_node"]["properties"]["year"] == 2019 and out["get_node"]["edges"]["AUTHORED"]["in"] == 2
    assert {n["id"] for n in out["neighbors"]["neighbors"]} == {"author:name:nils-reimers", "author:name:iryna-gurevych"}
    assert [s["type"] for s in out["shortest_path"]["steps"]] == ["AUTHORED", "CITES", "AUTHORED"]
    assert out["find_skills"]["skills"][0]["name"] == "literature-review"
    assert "body" not in out["get_skill"] and out["get_skill"]["next"] == ["citation-graph"]
    assert out["read_only_query"]["rows"] == [{"s.name": "literature-review", "t.name": "citation-graph"}]
    assert out["context"]["tokens"] <= 400 and f"[{RRF}]" in out["context"]["citations"]

    # error paths: clear error results, and the server keeps serving
    assert "no node with id 'paper:doi:10.0/missing'" in _error_text(
        await session.call_tool("get_node", {"node_id": "paper:doi:10.0/missing"}))
    assert "paper:doi:10.0/missing" in _error_text(
        await session.call_tool("shortest_path", {"source_id": SBERT, "target_id": "paper:doi:10.0/missing"}))
    assert "no skill named 'nope'" in _error_text(await session.call_tool("get_skill", {"name": "nope"}))
    assert "read-only" in _error_text(
        await session.call_tool("read_only_query", {"query": "MATCH (n) DETACH DELETE n"}))
    assert "not understood" in _error_text(
        await session.call_tool("read_only_query", {"query": "MATCH (n) RETURN n ORDER BY n.id"}))
    assert _error_text(await session.call_tool("search", {"query": "x", "k": "many"}))
    assert _error_text(await session.call_tool("search", {"query": "x", "mode": "magic"}))
    try:
        unknown = await session.call_tool("drop_database", {})
    except Exception as e:  # an MCP protocol error is also a clear answer
        assert "drop_database" in str(e)
    else:
        assert "drop_database" in _error_text(unknown)
    again = _payload(await session.call_tool("search", {"query": "sentence embeddings", "k": 1}))
    assert again["hits"][0]["id"] == SBERT


def test_stdio_server_end_to_end(store):
    params = StdioServerParameters(command=sys.executable, args=["-m", "kg.cli", "mcp", "--store", store],
                                   env=_env(), cwd=str(REPO))

    async def main() -> None:
        async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
            await _session_checks(session)

    anyio.run(main)
    with KnowledgeGraph.open(store) as g:  # read-only: nothing changed
        assert g.stats()["nodes"]["Paper"] == 5


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_streamable_http_server_on_loopback(store, tmp_path):
    port = _free_port()
    log = tmp_path / "server.log"
    with open(log, "wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "kg.cli", "mcp", "--store", store, "--http", "--port", str(port)],
                                cwd=REPO, env=_env(), stdout=subprocess.DEVNULL, stderr=err)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert proc.poll() is None, log.read_text()
            time.sleep(0.2)

        async def main() -> None:
            with anyio.fail_after(60):
                await _http_checks(port)

        anyio.run(main)
    finally:
        stop(proc)


async def _http_checks(port: int) -> None:
    from mcp.client.streamable_http import streamable_http_client

    async with streamable_http_client(f"http://127.0.0.1:{port}/mcp") as (read, write), \
            ClientSession(read, write) as session:
        await session.initialize()
        assert [t.name for t in (await session.list_tools()).tools] == list(TOOL_NAMES)
        hit = _payload(await session.call_tool("search", {"query": "rank fusion", "k": 1}))
        assert hit["hits"][0]["id"] == RRF
        assert "no node" in _error_text(await session.call_tool("get_node", {"node_id": "x:y"}))


def test_missing_mcp_names_the_extra(monkeypatch):
    from kg.errors import MissingExtraError
    from retrieval.agents import mcp_server

    for name in ("mcp.server.mcpserver", "mcp.server.mcpserver.exceptions", "mcp.server.fastmcp",
                 "mcp.server.fastmcp.exceptions"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(MissingExtraError, match=r"kgloom\[agents\]"):
        mcp_server.create_server(None)  # type: ignore[arg-type]
