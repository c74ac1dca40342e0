"""The web explorer's JSON API (``kg serve``) through Starlette's TestClient on a real store of the
shared data (real MiniLM embeddings, NMF topics), plus one run of the real ``kg serve`` command."""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from web_store import XSS_TITLE, web_store

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient

from kg.graph import KnowledgeGraph
from kg.web.app import CSP, create_app
from kg.web.views import leg_shares, public_url
from retrieval.types import Hit

REPO = Path(__file__).resolve().parents[1]
RRF = "paper:doi:10.1145/1571941.1572114"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return web_store(tmp_path_factory.getbasetemp() / "web")


@pytest.fixture(scope="module")
def graph(store: Path) -> Iterator[KnowledgeGraph]:
    g = KnowledgeGraph.open(store, create=False)
    yield g
    g.close()


@pytest.fixture(scope="module")
def client(graph: KnowledgeGraph, store: Path) -> Iterator[TestClient]:
    with TestClient(create_app(graph, store_url=str(store))) as c:
        yield c


def test_search_hits_carry_each_legs_rank_and_share_as_kg_search_explain(client, graph):
    r = client.get("/api/search", params={"q": "knowledge distillation teacher student", "k": 8})
    assert r.status_code == 200
    body = r.json()
    direct = graph.search("knowledge distillation teacher student", k=8, explain=True)
    assert [h["id"] for h in body["hits"]] == direct.ids  # the same search as g.search
    assert [h["explanation"] for h in body["hits"]] == [h.explanation for h in direct.hits]
    top = body["hits"][0]
    assert {leg["leg"] for leg in top["legs"]} == {"bm25", "dense"}
    assert abs(sum(leg["share"] for leg in top["legs"]) - 1) < 1e-3
    for leg in top["legs"]:  # each leg's rank as the hit's ranks say
        assert leg["rank"] == top["ranks"].get(leg["leg"])
    assert sum(leg["part"] for leg in top["legs"]) == pytest.approx(top["score"], abs=2e-3)


def test_leg_shares_reads_a_leg_that_missed_the_hit():
    hit = Hit("x", "Paper", "T", 0.25, {"dense": 3}, {"dense": 0.61}, parts={"bm25": -0.25, "dense": 0.5})
    got = leg_shares(hit)  # bm25 not in its top 40: a part, no rank
    assert [(s.leg, s.rank, s.part, s.share) for s in got] == [("bm25", None, -0.25, 0.3333),
                                                                ("dense", 3, 0.5, 0.6667)]


@pytest.mark.parametrize("mode", ["bm25", "dense", "hybrid", "hybrid+graph"])
def test_every_mode_searches(client, mode):
    r = client.get("/api/search", params={"q": "rank fusion", "mode": mode, "k": 5})
    assert r.status_code == 200 and r.json()["mode"] == mode and r.json()["hits"]


def test_search_filters_by_label_year_and_author(client):
    skills = client.get("/api/search", params={"q": "literature", "label": "Skill"}).json()["hits"]
    assert skills and {h["label"] for h in skills} == {"Skill"}
    years = client.get("/api/search", params={"q": "distillation", "year_from": 2022, "year_to": 2023}).json()["hits"]
    assert years and all(2022 <= h["year"] <= 2023 for h in years)
    by = client.get("/api/search", params={"q": "rank fusion", "author": "Cormack"}).json()["hits"]
    assert by and by[0]["id"] == RRF
    assert client.get("/api/search", params={"q": "x", "mode": "nope"}).status_code == 422


def test_node_shows_what_each_source_contributed(client):
    d = client.get("/api/node", params={"id": RRF}).json()
    assert d["label"] == "Paper" and d["properties"]["year"] == 2009
    paths = {Path(s["path"]).name: s for s in d["sources"]}
    assert set(paths) == {"metadata.jsonl", "refs.bib"}  # both files support the paper
    assert paths["refs.bib"]["properties"]["bibkey"] == "cormack2009rrf"
    assert "bibkey" not in paths["metadata.jsonl"]["properties"]
    assert d["edge_types"]["AUTHORED"] >= 2


def test_neighborhood_hops_edge_types_and_limit(client):
    one = client.get("/api/neighborhood", params={"id": RRF}).json()
    two = client.get("/api/neighborhood", params={"id": RRF, "depth": 2}).json()
    assert one["nodes"][0]["id"] == RRF and len(two["nodes"]) > len(one["nodes"]) > 1
    ids = {n["id"] for n in two["nodes"]}
    assert all(e["source"] in ids and e["target"] in ids for e in two["edges"])
    authored = client.get("/api/neighborhood", params={"id": RRF, "edge_type": "AUTHORED"}).json()
    assert authored["edges"] and {e["type"] for e in authored["edges"]} == {"AUTHORED"}
    assert {n["label"] for n in authored["nodes"][1:]} == {"Author"}
    cut = client.get("/api/neighborhood", params={"id": RRF, "depth": 2, "limit": 2}).json()
    assert len(cut["nodes"]) == 3 and cut["truncated"]
    assert client.get("/api/neighborhood", params={"id": RRF, "depth": 3}).status_code == 422


def test_unknown_ids_are_404_with_a_one_line_message(client):
    for path, params in (("node", {"id": "paper:nope"}), ("neighborhood", {"id": "paper:nope"}),
                         ("skill", {"name": "no-such-skill"}), ("topic", {"id": "topic:nope"})):
        r = client.get(f"/api/{path}", params=params)
        assert r.status_code == 404 and "\n" not in r.json()["detail"], path


def test_topic_map_has_positions_sizes_and_papers(client):
    tm = client.get("/api/topics").json()
    assert tm["method"] == "nmf" and len(tm["topics"]) == 4
    assert len({(t["x"], t["y"]) for t in tm["topics"]}) == 4  # four distinct places
    assert all(-1 <= t["x"] <= 1 and -1 <= t["y"] <= 1 and t["size"] > 0 and t["terms"] for t in tm["topics"])
    biggest = max(tm["topics"], key=lambda t: t["size"])
    d = client.get("/api/topic", params={"id": biggest["id"]}).json()
    assert len(d["papers"]) == biggest["size"]
    weights = [p["weight"] for p in d["papers"]]
    assert weights == sorted(weights, reverse=True)


def test_skills_progressive_disclosure_and_chain(client):
    listed = client.get("/api/skills").json()
    assert {"citation-graph", "literature-review", "xss-skill"} <= {s["name"] for s in listed}
    assert all("body" not in s for s in listed)  # first level: name and description only
    found = client.get("/api/skills", params={"q": "walk the citation graph"}).json()
    assert found[0]["name"] == "citation-graph"
    full = client.get("/api/skill", params={"name": "citation-graph"}).json()
    assert full["requires"] == ["literature-review"] and "PageRank" in full["body"]
    chain = client.get("/api/skill/chain", params={"name": "literature-review"}).json()
    names = {n["title"] for n in chain["nodes"]}
    assert {"literature-review", "citation-graph", "xss-skill"} <= names
    assert {e["type"] for e in chain["edges"]} <= {"REQUIRES", "NEXT"} and chain["edges"]


def test_context_pack_cites_its_passages(client, graph):
    c = client.get("/api/context", params={"q": "how does reciprocal rank fusion work", "budget": 1000}).json()
    assert c["passages"] and c["tokens"] <= 1000
    assert RRF in {p["id"] for p in c["passages"]}
    for p in c["passages"]:
        assert p["cite"] in c["text"] and c["citations"][p["cite"]] == p["id"]
    assert c["text"] == graph.context("how does reciprocal rank fusion work", 1000).to_text()


def test_overview_counts_sources_failures_and_encoder(client, graph):
    o = client.get("/api/overview").json()
    assert o["nodes"] == graph.stats()["nodes"] and o["total_edges"] == sum(graph.stats()["edges"].values())
    assert o["encoder"] == "minilm"
    failed = {Path(f["path"]).name: f for f in o["last_ingest"]["failed"]}
    assert set(failed) == {"broken.pdf"} and failed["broken.pdf"]["error"]
    assert "\n" not in failed["broken.pdf"]["error"]
    assert any(Path(s["path"]).name == "daily-papers-knowledge-transfer.txt" for s in o["sources"])
    grass = (REPO / "kg" / "neo4j" / "kgloom.grass").read_text()
    assert o["styles"]["Paper"]["color"] in grass and o["styles"]["Paper"]["color"] == "#4C8EDA"


def test_a_store_password_never_reaches_the_page():
    assert public_url("bolt://neo4j:s3cret@127.0.0.1:7687") == "bolt://neo4j:***@127.0.0.1:7687"
    assert public_url("/data/.kg") == "/data/.kg"


def test_pages_send_a_csp_without_inline_scripts(client):
    for path in ("/", "/search?q=x", "/node?id=x", "/topics", "/skills", "/context", "/overview"):
        r = client.get(path)
        assert r.status_code == 200 and r.headers["content-security-policy"] == CSP, path
        assert "<script>" not in r.text and "unsafe-inline" not in CSP and "script-src 'self'" in CSP
    assert client.get("/api/overview").headers["x-content-type-options"] == "nosniff"
    js = client.get("/static/app.js")
    assert js.status_code == 200 and ".innerHTML" not in js.text
    assert client.get("/static/vendor/cytoscape.min.js").status_code == 200


def test_api_is_read_only_and_leaves_the_store_untouched(client, store):
    def digest() -> str:
        return hashlib.sha256(b"".join(p.read_bytes() for p in sorted(store.rglob("*")) if p.is_file())).hexdigest()

    before = digest()
    for path in ("/api/search?q=fusion", "/api/node?id=" + RRF, "/api/overview", "/api/topics",
                 "/api/skills?q=graph", "/api/context?q=fusion", "/api/skill/chain?name=citation-graph"):
        assert client.get(path).status_code == 200
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        assert client.request(method, "/api/search?q=x").status_code == 405
    assert digest() == before


@pytest.mark.parametrize("path", ["/static/../kg/graph.py", "/static/%2e%2e/%2e%2e/pyproject.toml",
                                  "/static/..%2f..%2fpyproject.toml", "/static//etc/passwd", "/../pyproject.toml"])
def test_no_path_reads_outside_the_static_folder(client, path):
    r = client.get(path)
    assert r.status_code in (404, 400) or "[project]" not in r.text


def test_a_token_guards_every_request(graph):
    app = create_app(graph, token="t" * 20)
    with TestClient(app) as c:
        assert c.get("/api/overview").status_code == 401 and c.get("/").status_code == 401
        assert c.get("/api/styles", headers={"authorization": "Bearer " + "t" * 20}).status_code == 200
        first = c.get("/overview", params={"token": "t" * 20})
        assert first.status_code == 200 and "HttpOnly" in first.headers["set-cookie"]
        assert c.get("/api/styles").status_code == 200  # the cookie now carries it
        c.cookies.clear()
        assert c.get("/api/styles", headers={"authorization": "Bearer wrong"}).status_code == 401


def test_unknown_host_headers_are_refused(graph):
    with TestClient(create_app(graph, allowed_hosts=("127.0.0.1", "localhost"))) as c:
        assert c.get("/api/styles", headers={"host": "evil.example:8000"}).status_code == 421
        assert c.get("/api/styles", headers={"host": "127.0.0.1:8000"}).status_code == 200


def test_a_non_local_bind_needs_a_flag_and_a_token(store):
    kg = [sys.executable, "-m", "kg.cli"]
    out = subprocess.run([*kg, "serve", "--store", str(store), "--host", "0.0.0.0"], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 2 and "--allow-remote" in out.stderr
    out = subprocess.run([*kg, "serve", "--store", str(store), "--host", "0.0.0.0", "--allow-remote"],
                         capture_output=True, text=True, timeout=60, env={**os.environ, "KG_WEB_TOKEN": ""})
    assert out.returncode == 2 and "token" in out.stderr


def test_kg_serve_without_the_web_extra_is_one_line(tmp_path):
    code = ("import sys; sys.modules['fastapi'] = None; sys.modules['uvicorn'] = None\n"
            "from kg.cli import main; sys.argv = ['kg', 'serve', '--store', sys.argv[1]]; main()")
    out = subprocess.run([sys.executable, "-c", code, str(REPO / "data")], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "pip install 'kgloom[web]'" in out.stderr and len(out.stderr.splitlines()) == 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_kg_serve_answers_on_127_0_0_1(store):
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "kg.cli", "serve", "--store", str(store), "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 60
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/api/search", params={"q": "attack paper", "k": 3}, timeout=30)
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.time() < deadline, proc.stderr.read() if proc.stderr else ""
                time.sleep(0.3)
        assert r.status_code == 200 and XSS_TITLE in {h["title"] for h in r.json()["hits"]}
        spec = httpx.get(f"http://127.0.0.1:{port}/api/openapi.json").json()
        assert "/api/search" in spec["paths"] and all(set(v) == {"get"} for v in spec["paths"].values())
        assert httpx.get(f"http://localhost:{port}/", headers={"host": "attacker.example"}).status_code == 421
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.neo4j
def test_the_same_app_serves_a_neo4j_store(neo4j_server):
    """``kg serve --store bolt://...``: the app over the same facade on a real Neo4j 5.26."""
    from kg.store import open_store

    store = open_store(neo4j_server.uri_with_auth)
    store.clear()
    g4 = KnowledgeGraph(store)
    try:
        g4.ingest(REPO / "data", embed=False)
        with TestClient(create_app(g4, store_url=neo4j_server.uri_with_auth)) as c:
            hits = c.get("/api/search", params={"q": "reciprocal rank fusion", "mode": "bm25", "k": 3}).json()["hits"]
            assert hits[0]["id"] == RRF and hits[0]["legs"][0]["leg"] == "bm25"
            node = c.get("/api/node", params={"id": RRF}).json()
            assert {Path(s["path"]).name for s in node["sources"]} == {"metadata.jsonl", "refs.bib"}
            nb = c.get("/api/neighborhood", params={"id": RRF, "edge_type": "AUTHORED"}).json()
            assert {n["label"] for n in nb["nodes"][1:]} == {"Author"}
            assert c.get("/api/skill", params={"name": "citation-graph"}).json()["requires"] == ["literature-review"]
            o = c.get("/api/overview").json()
            assert o["total_nodes"] == sum(g4.stats()["nodes"].values()) and o["last_ingest"]["failed"] == []
            assert neo4j_server.password not in o["store"]
    finally:
        g4.close()
