"""One injection suite for every agent-facing surface (issue #17, item 7).

The same payloads go to each surface: the agent tools called from Python, the LangChain tools, the
MCP server over stdio and over streamable HTTP (real server processes, the official client), the
web API (``kg serve``'s app through Starlette's TestClient), ``g.cypher`` on the embedded store and,
last, ``g.cypher`` and the query tool on a real Neo4j server. Payloads: writes, schema changes,
``LOAD CSV``, procedure calls, path traversal in every id or name argument, and oversized, negative
or non-integer ``k`` / ``limit`` / budget / depth. Each must be refused with a clear error or
clamped to the documented cap (:data:`CAPS`), nothing may show a local file, and the store files
must be byte-identical afterwards. The MCP HTTP transport must refuse a non-local bind without a
token, and with a token refuse requests that lack it.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from neo4j_server_fixture import data_graph
from processes import stop

from kg.errors import KGError
from kg.graph import KnowledgeGraph

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "data"
SBERT = "paper:doi:10.18653/v1/d19-1410"
SECRET = "root:x:0:0"  # the first line of /etc/passwd: no answer may contain it

WRITES = [
    "CREATE (n:Paper {id: 'paper:evil'}) RETURN n",
    "MATCH (n) DETACH DELETE n",
    "MATCH (n:Paper) DELETE n",
    "MATCH (n:Paper) SET n.title = 'pwned' RETURN n",
    "MATCH (n:Paper) REMOVE n.title RETURN n",
    "MERGE (n:Paper {id: 'paper:evil'}) RETURN n",
    "MATCH (a), (b) CREATE (a)-[:CITES]->(b)",
    "MATCH (n) RETURN n UNION MATCH (m) DETACH DELETE m RETURN m",
    "MATCH (n) FOREACH (x IN [1] | SET n.evil = 1) RETURN n",
    "MATCH (n:Paper) RETURN n; MATCH (n) DETACH DELETE n",
    "DELETE FROM nodes; --",
    "'; DROP TABLE nodes; --",
    "UPDATE nodes SET label = 'x'",
]
SCHEMA = [
    "CREATE INDEX evil FOR (n:Paper) ON (n.title)",
    "CREATE CONSTRAINT evil FOR (n:Paper) REQUIRE n.title IS UNIQUE",
    "DROP INDEX kg_fulltext",
    "DROP CONSTRAINT kg_node_id",
    "DROP DATABASE neo4j",
    "CREATE DATABASE evil",
    "ALTER TABLE nodes ADD COLUMN evil",
]
LOAD_CSV = [
    "LOAD CSV FROM 'file:///etc/passwd' AS row RETURN row",
    "LOAD CSV WITH HEADERS FROM 'file:///etc/passwd' AS row RETURN row LIMIT 5",
    "LOAD CSV FROM 'http://127.0.0.1:1/x' AS row RETURN row",
]
PROCEDURES = [
    "CALL dbms.components()",
    "CALL dbms.security.createUser('mallory', 'password123', false)",
    "CALL dbms.killQueries(['query-1'])",
    "CALL apoc.load.json('file:///etc/passwd')",
    "CALL apoc.cypher.runWrite('MATCH (n) DETACH DELETE n', {})",
    "CALL db.createLabel('Evil')",
    "CALL db.createProperty('evil')",
    "CALL db.clearQueryCaches()",
    "MATCH (n) CALL { WITH n DETACH DELETE n } RETURN 1",
]
QUERIES = [("write", q) for q in WRITES] + [("schema", q) for q in SCHEMA] + \
          [("load-csv", q) for q in LOAD_CSV] + [("procedure", q) for q in PROCEDURES]

TRAVERSALS = [
    "../../etc/passwd", "../../../../../../etc/passwd", "/etc/passwd", "file:///etc/passwd",
    "..%2f..%2f..%2fetc%2fpasswd", "%2e%2e/%2e%2e/etc/passwd", "..\\..\\windows\\win.ini",
    "paper:../../etc/passwd", "skill:../../../etc/passwd", "/etc/passwd\x00.md", "~/.ssh/id_rsa",
]

BAD_SIZES: list[Any] = [10**9, 10**30, -1, 0, -(10**9), 1.5, "many", "10; DROP TABLE nodes"]
CAPS = {  # (tool, argument): (documented cap, how many results an answer holds)
    ("search", "k"): (50, lambda r: len(r["hits"])),
    ("find_skills", "k"): (20, lambda r: len(r["skills"])),
    ("neighbors", "limit"): (200, lambda r: len(r["neighbors"])),
    ("neighbors", "depth"): (3, lambda r: 0),
    ("shortest_path", "max_hops"): (10, lambda r: r["length"] or 0),
    ("read_only_query", "limit"): (200, lambda r: len(r["rows"])),
    ("context", "budget_tokens"): (8000, lambda r: r["tokens"]),
}
BASE_ARGS: dict[str, dict[str, Any]] = {
    "search": {"query": "rank fusion"},
    "find_skills": {"query": ""},
    "neighbors": {"node_id": SBERT},
    "shortest_path": {"source_id": "author:name:nils-reimers", "target_id": "author:name:geoffrey-hinton"},
    "read_only_query": {"query": "MATCH (n:Paper) RETURN n.title"},
    "context": {"query": "rank fusion"},
}


@dataclass
class Outcome:
    """One call's answer: ``result`` when it succeeded, else the error text a client sees."""

    result: dict[str, Any] | None = None
    error: str | None = None
    crash: str | None = None  # an exception no caller should see (not a kgloom or validation error)


def calls() -> list[tuple[str, str, dict[str, Any]]]:
    """``(kind, tool, arguments)`` for every payload: the same list for every surface."""
    out: list[tuple[str, str, dict[str, Any]]] = []
    for kind, q in QUERIES:
        out.append((f"query:{kind}", "read_only_query", {"query": q}))
        out.append(("text", "search", {"query": q, "k": 3, "mode": "bm25"}))
    for bad in TRAVERSALS:
        out += [("traversal", "get_node", {"node_id": bad}),
                ("traversal", "neighbors", {"node_id": bad}),
                ("traversal", "shortest_path", {"source_id": bad, "target_id": SBERT}),
                ("traversal", "get_skill", {"name": bad})]
    for (tool, arg) in CAPS:
        for bad in BAD_SIZES:
            out.append((f"size:{arg}", tool, {**BASE_ARGS[tool], arg: bad}))
    return out


def store_digest(store: Path) -> dict[str, str]:
    """sha256 of every file of an embedded store, SQLite's shared-memory index (``-shm``) and an empty
    write-ahead log aside: a reader stopped by a signal leaves those behind, holding no data."""
    return {str(p.relative_to(store)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(store.rglob("*")) if p.is_file() and not p.name.endswith("-shm")
            and not (p.name.endswith("-wal") and p.stat().st_size == 0)}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """data/ in an embedded store, with every lazily built index in place (so reads change nothing)."""
    path = tmp_path_factory.mktemp("inj") / "kg"
    with KnowledgeGraph.open(path) as g:
        g.ingest(DATA, embed=False)
        for mode in ("bm25", "hybrid", "hybrid+graph"):
            g.search("warm up", k=1, mode=mode)
        g.context("warm up", budget_tokens=200)
    return path


# -- surfaces ------------------------------------------------------------------------------------
Surface = Callable[[Path, list[tuple[str, dict[str, Any]]]], list[Outcome]]


def python_tools(store: Path, todo: list[tuple[str, dict[str, Any]]]) -> list[Outcome]:
    """:class:`retrieval.agents.tools.KGTools` called directly: bad input must raise a KGError."""
    from retrieval.agents.tools import KGTools

    out = []
    with KnowledgeGraph.open(store, create=False) as g:
        fns = KGTools(g).functions()
        for tool, args in todo:
            try:
                out.append(Outcome(result=fns[tool](**args)))
            except KGError as e:
                out.append(Outcome(error=f"{type(e).__name__}: {e}"))
            except Exception as e:
                out.append(Outcome(crash=f"{type(e).__name__}: {e}"))
    return out


def langchain_tools(store: Path, todo: list[tuple[str, dict[str, Any]]]) -> list[Outcome]:
    """The LangChain ``StructuredTool`` s, invoked with tool calls as an agent makes them."""
    pytest.importorskip("langchain_core")
    from pydantic import ValidationError

    from retrieval.agents.langchain import kg_tools

    out = []
    with KnowledgeGraph.open(store, create=False) as g:
        tools = {t.name: t for t in kg_tools(g)}
        for i, (tool, args) in enumerate(todo):
            call = {"type": "tool_call", "id": f"c{i}", "name": tool, "args": args}
            try:
                msg = tools[tool].invoke(call)
            except ValidationError as e:  # the schema refused the arguments before the tool ran
                out.append(Outcome(error=f"ValidationError: {str(e).splitlines()[0]}"))
                continue
            except Exception as e:
                out.append(Outcome(crash=f"{type(e).__name__}: {e}"))
                continue
            if getattr(msg, "status", "success") == "error":
                out.append(Outcome(error=str(msg.content)))
            else:
                out.append(Outcome(result=msg.artifact))
    return out


def _env() -> dict[str, str]:
    return {"PYTHONPATH": str(REPO), "KG_STORE": "", "PATH": os.environ.get("PATH", "")}


async def _mcp_calls(session: Any, todo: list[tuple[str, dict[str, Any]]]) -> list[Outcome]:
    await session.initialize()
    out = []
    for tool, args in todo:
        try:
            res = await session.call_tool(tool, args)
        except Exception as e:
            out.append(Outcome(error=f"{type(e).__name__}: {e}"))
            continue
        text = " ".join(c.text for c in res.content if c.type == "text")
        out.append(Outcome(error=text or "error") if res.is_error else Outcome(result=json.loads(text)))
    return out


def mcp_stdio(store: Path, todo: list[tuple[str, dict[str, Any]]]) -> list[Outcome]:
    """``kg mcp`` over stdio: a real server process and the official client."""
    pytest.importorskip("mcp")
    import anyio
    from mcp import ClientSession, StdioServerParameters, stdio_client

    params = StdioServerParameters(command=sys.executable, args=["-m", "kg.cli", "mcp", "--store", str(store)],
                                   env=_env(), cwd=str(REPO))
    got: list[Outcome] = []

    async def main() -> None:
        with anyio.fail_after(600):
            async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
                got.extend(await _mcp_calls(session, todo))

    anyio.run(main)
    return got


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_http(store: Path, log: Path, *extra: str, env: dict[str, str] | None = None) -> tuple[Any, int]:
    port = _free_port()
    with open(log, "wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "kg.cli", "mcp", "--store", str(store), "--http",
                                 "--port", str(port), *extra], cwd=REPO, env={**_env(), **(env or {})},
                                stdout=subprocess.DEVNULL, stderr=err)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc, port
        if proc.poll() is not None:
            raise AssertionError(log.read_text())
        time.sleep(0.2)
    stop(proc)
    raise AssertionError("kg mcp --http did not start: " + log.read_text())


def mcp_http(store: Path, todo: list[tuple[str, dict[str, Any]]]) -> list[Outcome]:
    """``kg mcp --http`` on loopback: a real server process and the official streamable HTTP client."""
    pytest.importorskip("mcp")
    import anyio
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    proc, port = _start_http(store, store.parent / "mcp-http.log")
    got: list[Outcome] = []
    try:
        async def main() -> None:
            with anyio.fail_after(600):
                async with streamable_http_client(f"http://127.0.0.1:{port}/mcp") as (read, write), \
                        ClientSession(read, write) as session:
                    got.extend(await _mcp_calls(session, todo))

        anyio.run(main)
    finally:
        stop(proc)
    return got


WEB_ROUTES: dict[str, tuple[str, dict[str, str]]] = {  # tool -> (route, {tool argument: query parameter})
    "search": ("/api/search", {"query": "q", "k": "k", "mode": "mode"}),
    "get_node": ("/api/node", {"node_id": "id"}),
    "neighbors": ("/api/neighborhood", {"node_id": "id", "depth": "depth", "limit": "limit"}),
    "get_skill": ("/api/skill", {"name": "name"}),
    "find_skills": ("/api/skills", {"query": "q", "k": "k"}),
    "context": ("/api/context", {"query": "q", "budget_tokens": "budget"}),
    "read_only_query": ("/api/search", {"query": "q", "limit": "k"}),  # no query route: the text is searched
    "shortest_path": ("/api/node", {"source_id": "id"}),  # no path route: the id is looked up
}
WEB_CAPS = {("/api/search", "k"): 100, ("/api/skills", "k"): 500, ("/api/neighborhood", "limit"): 1000,
            ("/api/neighborhood", "depth"): 2, ("/api/context", "budget"): 16000}


def web_api(store: Path, todo: list[tuple[str, dict[str, Any]]]) -> list[Outcome]:
    """``kg serve``'s JSON API through Starlette's TestClient (the tools' arguments as query parameters)."""
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from kg.web.app import create_app

    out = []
    with KnowledgeGraph.open(store, create=False) as g, TestClient(create_app(g, store_url=str(store))) as c:
        for tool, args in todo:
            route, names = WEB_ROUTES[tool]
            params = {names[k]: v for k, v in args.items() if k in names}
            r = c.get(route, params=params)
            if r.status_code == 200:
                body = r.json()
                out.append(Outcome(result=_web_result(route, params, body)))
            elif 400 <= r.status_code < 500:
                out.append(Outcome(error=f"{r.status_code}: {r.text[:300]}"))
            else:
                out.append(Outcome(crash=f"{r.status_code}: {r.text[:300]}"))
    return out


def _web_result(route: str, params: dict[str, Any], body: Any) -> dict[str, Any]:
    """The web answer with the size the caps speak of, checked against the route's own caps."""
    for (r, p), cap in WEB_CAPS.items():
        if r == route and p in params and isinstance(params[p], int) and not 1 <= params[p] <= cap:
            raise AssertionError(f"{route} accepted {p}={params[p]} beyond its documented bounds 1..{cap}")
    return {"web": body}


def cypher_embedded(store: Path, todo: list[tuple[str, dict[str, Any]]]) -> list[Outcome]:
    """``g.cypher`` on the embedded store (every query text goes to it, the rest to the tools)."""
    out = []
    with KnowledgeGraph.open(store, create=False) as g:
        for tool, args in todo:
            if tool != "read_only_query":
                out.append(python_tools(store, [(tool, args)])[0])
                continue
            try:
                out.append(Outcome(result={"rows": list(g.cypher(args["query"]))}))
            except KGError as e:
                out.append(Outcome(error=f"{type(e).__name__}: {e}"))
            except Exception as e:
                out.append(Outcome(crash=f"{type(e).__name__}: {e}"))
    return out


SURFACES: dict[str, Surface] = {"tools": python_tools, "langchain": langchain_tools, "mcp-stdio": mcp_stdio,
                                "mcp-http": mcp_http, "web": web_api, "cypher-embedded": cypher_embedded}


# -- the judge -----------------------------------------------------------------------------------
def judge(kind: str, tool: str, args: dict[str, Any], got: Outcome, *, web: bool = False) -> str | None:
    """What is wrong with one answer (None when it is a refusal or a capped answer)."""
    shown = json.dumps(got.result, default=str) if got.result is not None else (got.error or got.crash or "")
    if SECRET in shown:
        return "leaked the contents of /etc/passwd"
    if got.crash is not None:
        return f"crashed: {got.crash[:200]}"
    if got.error is not None:
        if not got.error.strip() or "Traceback" in got.error:
            return f"unclear error: {got.error[:200]!r}"
        return None
    assert got.result is not None
    if kind.startswith("query:"):
        return None if web else "a write, schema, LOAD CSV or procedure query was run instead of refused"
    if kind == "traversal":
        return None if web and tool == "search" else f"an id outside the graph answered: {shown[:200]}"
    if kind.startswith("size:") and not web:
        arg = kind.split(":", 1)[1]
        value = args[arg]
        if not isinstance(value, int) or isinstance(value, bool):
            return f"non-integer {arg}={value!r} was accepted"
        cap, size = CAPS[(tool, arg)]
        if size(got.result) > cap:
            return f"{arg}={value} gave {size(got.result)} results, over the cap {cap}"
    return None


@pytest.mark.parametrize("surface", list(SURFACES))
def test_every_payload_is_refused_or_capped_and_the_store_is_unchanged(surface: str, store: Path) -> None:
    before = store_digest(store)
    todo = calls()
    outcomes = SURFACES[surface](store, [(t, a) for _, t, a in todo])
    assert len(outcomes) == len(todo)
    problems = [f"{tool}({json.dumps(args, default=str)[:120]}): {p}"
                for (kind, tool, args), got in zip(todo, outcomes, strict=True)
                if (p := judge(kind, tool, args, got, web=surface == "web")) is not None]
    assert not problems, f"{len(problems)} of {len(todo)} payloads got through on {surface}:\n" + "\n".join(problems)
    refused = sum(o.error is not None for o in outcomes)
    assert refused >= len(QUERIES) if surface != "web" else refused > 0
    assert store_digest(store) == before, "the store's files changed"


def test_web_api_refuses_write_methods_and_static_traversal(store: Path) -> None:
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from kg.web.app import create_app

    before = store_digest(store)
    with KnowledgeGraph.open(store, create=False) as g, TestClient(create_app(g, store_url=str(store))) as c:
        for method in ("POST", "PUT", "PATCH", "DELETE"):
            for route in ("/api/search", "/api/node", "/"):
                assert c.request(method, route, params={"q": "x", "id": SBERT}).status_code == 405
        for path in ("/static/../../../../etc/passwd", "/static/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
                     "/static/..%2f..%2f..%2f..%2fetc%2fpasswd", "/static//etc/passwd", "/..%2f..%2fetc/passwd"):
            r = c.get(path)
            assert r.status_code in (404, 400, 405) and SECRET not in r.text, (path, r.status_code)
    assert store_digest(store) == before


# -- the MCP HTTP transport's bind and token -------------------------------------------------------
def test_mcp_http_refuses_a_non_local_bind_without_a_token(store: Path) -> None:
    for host, token in (("0.0.0.0", None), ("::", None), ("192.0.2.1", None), ("0.0.0.0", "short")):
        args = [sys.executable, "-m", "kg.cli", "mcp", "--store", str(store), "--http", "--host", host,
                "--port", str(_free_port())] + (["--token", token] if token else [])
        r = subprocess.run(args, cwd=REPO, env=_env(), capture_output=True, text=True, timeout=60)
        assert r.returncode != 0 and "needs a --token" in r.stderr, (host, r.returncode, r.stderr)
        assert "Traceback" not in r.stderr
    from kg.errors import ConfigError
    from retrieval.agents.mcp_server import check_bind, serve

    with pytest.raises(ConfigError, match="needs a --token"):  # the library refuses too, not only the CLI
        serve(None, http=True, host="0.0.0.0")  # type: ignore[arg-type]
    check_bind("127.0.0.1", None)
    check_bind("0.0.0.0", "x" * 16)


def test_mcp_http_with_a_token_refuses_requests_without_it(store: Path, tmp_path: Path) -> None:
    pytest.importorskip("mcp")
    import anyio
    import httpx
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    token = "t0ken-for-the-injection-suite"
    proc, port = _start_http(store, tmp_path / "log", env={"KG_MCP_TOKEN": token})
    url = f"http://127.0.0.1:{port}/mcp"
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                       "clientInfo": {"name": "t", "version": "0"}}}
    headers = {"accept": "application/json, text/event-stream"}
    try:
        for auth in ({}, {"authorization": "Bearer wrong"}, {"authorization": token},
                     {"authorization": "Bearer " + token[:-1]}):
            r = httpx.post(url, json=init, headers={**headers, **auth}, timeout=30)
            assert r.status_code == 401, (auth, r.status_code)

        async def main() -> None:
            with anyio.fail_after(60):
                client = httpx.AsyncClient(headers={"authorization": f"Bearer {token}"})
                async with client, streamable_http_client(url, http_client=client) as (read, write), \
                        ClientSession(read, write) as session:
                    got = await _mcp_calls(session, [("search", {"query": "rank fusion", "k": 1}),
                                                     ("read_only_query", {"query": WRITES[1]})])
                    assert got[0].result is not None and got[0].result["hits"]
                    assert got[1].error is not None and "read-only" in got[1].error

        anyio.run(main)
    finally:
        stop(proc)


# -- Neo4j: g.cypher and the query tool on a real server (run once, last) -------------------------
@pytest.fixture(scope="module")
def neo4j_graph(neo4j_server: Any) -> Iterator[KnowledgeGraph]:
    g = data_graph(neo4j_server)
    yield g
    g.close()


def _neo4j_snapshot(g: KnowledgeGraph) -> tuple[list[Any], list[Any], Any]:
    nodes = sorted((n.id, n.label, json.dumps(n.properties, sort_keys=True, default=str)) for n in g.store.iter_nodes())
    edges = sorted((e.source, e.type, e.target) for e in g.store.iter_edges())
    schema = sorted(r["name"] for r in g.store._read("SHOW INDEXES YIELD name RETURN name"))  # type: ignore[attr-defined]
    return nodes, edges, schema


@pytest.mark.neo4j
def test_neo4j_cypher_and_query_tool_refuse_every_query_payload(neo4j_graph: KnowledgeGraph) -> None:
    from retrieval.agents.tools import KGTools

    g = neo4j_graph
    before = _neo4j_snapshot(g)
    tools = KGTools(g)
    problems = []
    for kind, q in QUERIES:
        for name, run in (("g.cypher", lambda q=q: g.cypher(q)),
                          ("read_only_query", lambda q=q: tools.read_only_query(q))):
            try:
                got = Outcome(result={"rows": list(getattr(run(), "rows", []))})
            except KGError as e:
                got = Outcome(error=f"{type(e).__name__}: {e}")
            except Exception as e:
                got = Outcome(crash=f"{type(e).__name__}: {e}")
            if (p := judge(f"query:{kind}", "read_only_query", {"query": q}, got)) is not None:
                problems.append(f"{name}({q!r}): {p}")
    for kind, tool, args in calls():
        if kind != "traversal" and not kind.startswith("size:"):
            continue
        try:
            got = Outcome(result=tools.functions()[tool](**args))
        except KGError as e:
            got = Outcome(error=str(e) or type(e).__name__)
        except Exception as e:
            got = Outcome(crash=f"{type(e).__name__}: {e}")
        if (p := judge(kind, tool, args, got)) is not None:
            problems.append(f"{tool}({json.dumps(args, default=str)[:100]}): {p}")
    assert not problems, "\n".join(problems)
    assert _neo4j_snapshot(g) == before
