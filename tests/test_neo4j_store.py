"""The Neo4j store beyond the shared contract: search parity with the embedded store, the read-only
Cypher guard, connection failures (refused, lost mid-load, re-run), copying with provenance, and
property round trips. Tests marked ``neo4j`` use the session's real Neo4j 5.26 server."""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from neo4j_server_fixture import data_graph

from ingest.pipeline import ingest_paths
from kg.errors import ConfigError, MissingExtraError, QueryError, ReadOnlyViolation, StoreConnectionError
from kg.graph import KnowledgeGraph
from kg.model import EdgeRecord, NodeRecord, ReadResult
from kg.store import GraphStore, SourceInfo, open_store

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "data"
QUERIES = ["hybrid search", "citation graph", "literature review skill", "reciprocal rank fusion",
           "sentence embeddings", "knowledge distillation neural network", "probabilistic relevance bm25"]


def snapshot(store: GraphStore) -> tuple[list[Any], list[Any]]:
    nodes = sorted((n.id, n.label, sorted(n.properties.items(), key=str)) for n in store.iter_nodes())
    edges = sorted((e.source, e.type, e.target, sorted(e.properties.items(), key=str)) for e in store.iter_edges())
    return nodes, edges


def _url(server: Any, **opts: str) -> str:
    q = "&".join(f"{k}={v}" for k, v in opts.items())
    return server.uri_with_auth + (f"?{q}" if q else "")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- no server needed ------------------------------------------------------------------------------
def test_url_options_and_credentials(monkeypatch):
    from kg.neo4j.schema import parse_url

    monkeypatch.setenv("NEO4J_USERNAME", "alice")
    monkeypatch.setenv("NEO4J_PASSWORD", "from-env")
    monkeypatch.delenv("KG_EMBED", raising=False)
    o = parse_url("neo4j://db.example:7687/graphs?embed=false&encoder=hash&batch=100")
    assert (o.uri, o.user, o.password, o.database, o.embed, o.encoder, o.batch) == \
        ("neo4j://db.example:7687", "alice", "from-env", "graphs", False, "hash", 100)
    o = parse_url("bolt://bob:p%40ss@localhost:7687")
    assert (o.user, o.password, o.display) == ("bob", "p@ss", "bolt://bob@localhost:7687")
    monkeypatch.setenv("KG_EMBED", "0")
    assert parse_url("bolt://localhost:7687").embed is False
    with pytest.raises(ConfigError, match="known"):
        parse_url("bolt://localhost:7687?colour=blue")


def test_properties_encode_to_native_values_or_json():
    from kg.neo4j.schema import decode_props, encode_props

    props = {"title": "T", "year": 2020, "score": 0.5, "ok": True, "tags": ["a", "b"], "nums": [1, 2],
             "meta": {"deps": {"x": [1, {"y": None}]}}, "mixed": [1, "a"], "empty": [], "none": None,
             "id": "shadowed", "embedding": [0.1], "_private": 1, "nan": float("nan")}
    enc = encode_props(props)
    assert {k for k in enc if k != "_extra"} == {"title", "year", "score", "ok", "tags", "nums"}
    back = decode_props(enc)
    assert back.pop("nan") is None  # as JSON (the embedded store) has it
    props.pop("nan")
    assert back == props


def test_missing_driver_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "neo4j", None)
    with pytest.raises(MissingExtraError, match=r"kgloom\[neo4j\]"):
        open_store("bolt://neo4j:password@127.0.0.1:1")


def test_lucene_escape_neutralises_query_syntax():
    from kg.neo4j.search import lucene_escape

    assert lucene_escape('title:x AND (y OR z*) "q" ~2 \\ /r/') == \
        'title\\:x and \\(y or z\\*\\) \\"q\\" \\~2 \\\\ \\/r\\/'


def test_start_command_prints_browser_and_store_urls(monkeypatch, capsys):
    import typer
    from typer.testing import CliRunner

    import kg.neo4j.server as ns
    from kg.cli.neo4j import register

    class FakeServer:
        user = "neo4j"

        def __init__(self, port: int | None, http_port: int | None, password: str, data_dir: Path) -> None:
            self.port, self.http_port, self.password, self.data_dir = port or 7999, http_port, password, data_dir
            self.pid, self.uri = 4242, f"bolt://127.0.0.1:{port or 7999}"
            self.browser_url = f"http://127.0.0.1:{http_port}/browser/" if http_port else None
            self.stopped = False

        def start(self, timeout: float) -> FakeServer:
            return self

        @property
        def running(self) -> bool:
            return False  # "exits" at once, so the command returns

        def log_tail(self) -> str:
            return ""

        def stop(self) -> None:
            self.stopped = True

    monkeypatch.setattr(ns, "Neo4jServer", FakeServer)
    app = typer.Typer()
    register(app)
    res = CliRunner().invoke(app, ["neo4j", "start", "--port", "7688", "--http-port", "7475",
                                   "--password", "s3cret-pass", "--data-dir", "x"])
    assert "http://127.0.0.1:7475/browser/" in res.output
    assert "--store 'bolt://neo4j:s3cret-pass@127.0.0.1:7688'" in res.output
    assert "kgloom.grass" in res.output


# -- a real server -----------------------------------------------------------------------------------
@pytest.fixture
def neo(neo4j_server) -> Any:
    """An empty Neo4j store using the hash encoder (no model download)."""
    s = open_store(_url(neo4j_server, encoder="hash"))
    s.clear()  # type: ignore[attr-defined]
    yield s
    s.close()


@pytest.fixture(scope="module")
def embedded(tmp_path_factory) -> KnowledgeGraph:
    """The repository's data/ in an embedded store with a hash-encoder index."""

    g = KnowledgeGraph.open(tmp_path_factory.mktemp("kg"))
    ingest_paths(g.store, [DATA])
    g.sync_index(embed=True, encoder="hash")
    return g


@pytest.fixture
def searchable(neo4j_server) -> KnowledgeGraph:
    """data/ in the Neo4j store (re-ingested only when another test cleared it)."""
    g = data_graph(neo4j_server)
    yield g
    g.close()


@pytest.mark.neo4j
def test_schema_is_created_idempotently_with_vector_and_fulltext_indexes(neo, neo4j_server):
    open_store(_url(neo4j_server, embed="false")).close()  # a second open creates nothing new
    rows = neo._read("SHOW INDEXES YIELD name, type, labelsOrTypes, properties, options, state "
                     "WHERE name STARTS WITH 'kg_' RETURN *")
    by = {r["name"]: r for r in rows}
    assert by["kg_embedding"]["type"] == "VECTOR" and by["kg_embedding"]["state"] == "ONLINE"
    cfg = by["kg_embedding"]["options"]["indexConfig"]
    assert (cfg["vector.dimensions"], cfg["vector.similarity_function"].lower()) == (384, "cosine")
    assert by["kg_fulltext"]["type"] == "FULLTEXT"
    assert {"title", "abstract", "text"} <= set(by["kg_fulltext"]["properties"])
    cons = {r["name"] for r in neo._read("SHOW CONSTRAINTS YIELD name RETURN name")}
    assert {"kg_node_id", "kg_source_path"} <= cons


@pytest.mark.neo4j
def test_nested_and_odd_properties_round_trip_like_the_embedded_store(neo, tmp_path):
    props = {"name": "s", "metadata": {"deps": {"pkg": ">=1"}, "tags": ["a"]}, "mixed": [1, "x"], "empty": [],
             "none": None, "id": "inner", "_hidden": 1, "list": [1.5, 2.5], "flag": False}
    r = ReadResult(nodes=[NodeRecord("skill:s", "Skill", props), NodeRecord("tool:t", "Tool", {"name": "t"})],
                   edges=[EdgeRecord("skill:s", "tool:t", "USES_TOOL", {"meta": {"k": [1]}, "w": 0.5})])
    sq = open_store(tmp_path / "kg")
    for s in (sq, neo):
        s.write_source(SourceInfo("/s.md", "h"), r)
    assert neo.get_nodes(["skill:s"]) == sq.get_nodes(["skill:s"])
    assert snapshot(neo) == snapshot(sq)
    sq.close()


@pytest.mark.neo4j
@pytest.mark.parametrize("mode", ["bm25", "dense", "hybrid", "hybrid+graph"])
def test_search_matches_the_embedded_store(searchable, embedded, mode):
    for q in QUERIES:
        a, b = searchable.search(q, k=5, mode=mode), embedded.search(q, k=5, mode=mode)
        if mode == "bm25":  # Lucene BM25 vs ours: the same documents match
            assert set(a.ids) == set(b.ids), q
        elif mode == "dense":  # same encoder, exact cosine: same scores
            sa = {h.id: h.scores["dense"] for h in a}
            sb = {h.id: h.scores["dense"] for h in b}
            common = set(sa) & set(sb)
            assert len(common) >= 3 and np.allclose([sa[i] for i in common], [sb[i] for i in common], atol=1e-5)
        else:
            assert len(set(a.ids) & set(b.ids)) >= 3, (q, a.ids, b.ids)
        assert all(h.node is not None and h.label for h in a)


@pytest.mark.neo4j
@pytest.mark.parametrize("filters", [
    {"labels": ["Paper"]}, {"year": (2010, None)}, {"authors": ["cormack"]}, {"categories": ["bm25"]},
    {"source": str(DATA / "papers")}, {"labels": ["Skill", "Document"], "source": str(DATA)}])
def test_filters_select_the_same_results_as_the_embedded_store(searchable, embedded, filters):
    for mode in ("bm25", "dense"):
        a = searchable.search("retrieval ranking embeddings", k=50, mode=mode, filters=filters)
        b = embedded.search("retrieval ranking embeddings", k=50, mode=mode, filters=filters)
        assert a.ids and set(a.ids) == set(b.ids), (mode, filters, a.ids, b.ids)


@pytest.mark.neo4j
@pytest.mark.parametrize("query", ['title:hybrid AND (graph', "fusion*", "C++ || !rank ~2 [a TO z]", '"', "\\"])
def test_lucene_syntax_in_user_text_is_just_text(searchable, query):
    res = searchable.search(query, k=5, mode="bm25")
    assert len(res) <= 5  # no parse error
    if query == "fusion*":  # '*' is no wildcard: the same hits as the plain word
        assert res.ids == searchable.search("fusion", k=5, mode="bm25").ids


@pytest.mark.neo4j
def test_embeddings_written_with_embed_true_and_synced_lazily_otherwise(neo4j_server, neo):
    r = ReadResult(nodes=[NodeRecord("doc:a", "Document", {"title": "graph retrieval"})])
    eager = KnowledgeGraph.open(_url(neo4j_server, encoder="hash", embed="true")).store  # given its encoder
    eager.write_source(SourceInfo("/a", "h"), r)
    has = "MATCH (n:KGNode {id: $id}) RETURN n.embedding IS NOT NULL AS e"
    assert neo._read(has, id="doc:a")[0]["e"] is True
    lazy = KnowledgeGraph(neo)
    neo.write_source(SourceInfo("/b", "h"), ReadResult(nodes=[NodeRecord("doc:b", "Document", {"title": "dense"})]))
    assert neo._read(has, id="doc:b")[0]["e"] is False
    assert neo.sync_embeddings() == 1 and neo._read(has, id="doc:b")[0]["e"] is True
    neo.write_source(SourceInfo("/c", "h"), ReadResult(nodes=[NodeRecord("doc:c", "Document", {"title": "sparse"})]))
    lazy.sync_index()  # what ingest and a dense search do
    assert neo._read(has, id="doc:c")[0]["e"] is True
    eager.close()


@pytest.mark.neo4j
def test_a_store_given_no_encoder_leaves_embeddings_to_a_later_sync(neo4j_server, neo):
    """Without the encoder the facade (or retrieval.backends.backend_for) hands it, a store opened with
    ?embed=true writes no embeddings, and refuses to sync them rather than guess an encoder."""
    raw = open_store(_url(neo4j_server, encoder="hash", embed="true"))
    try:
        raw.write_source(SourceInfo("/a", "h"), ReadResult(nodes=[NodeRecord("doc:a", "Document", {"title": "x"})]))
        assert not raw.embeds_on_write  # type: ignore[attr-defined]
        assert raw._read("MATCH (n:KGNode {id: 'doc:a'}) RETURN n.embedding IS NULL AS e")[0]["e"]  # type: ignore[attr-defined]
        with pytest.raises(ConfigError, match="given no encoder"):
            raw.sync_embeddings()  # type: ignore[attr-defined]
        KnowledgeGraph(raw).sync_index()
        assert raw._read("MATCH (n:KGNode {id: 'doc:a'}) RETURN n.embedding IS NULL AS e")[0]["e"] is False  # type: ignore[attr-defined]
    finally:
        raw.close()


# -- read-only Cypher -----------------------------------------------------------------------------------
REFUSED = [
    "CREATE (n:Paper {id: 'x'})",
    "MERGE (n:KGNode {id: 'x'})",
    "MATCH (n:KGNode) DETACH DELETE n",
    "MATCH (n:KGNode) DELETE n",
    "MATCH (n:Paper) SET n.title = 'pwned'",
    "MATCH (n:Paper) REMOVE n.title",
    "MATCH (n:Paper) SET n:Hacked",
    "FOREACH (x IN [1] | CREATE (:X))",
    "MATCH (n:Paper) CALL (n) { SET n.hidden = true } RETURN count(*)",
    "CALL () { CREATE (:X) } RETURN 1",
    "MATCH (p:Paper) WITH p LIMIT 1 CALL (p) { WITH p MATCH (p)--(q) MERGE (q)-[:X]->(p) } RETURN p",
    "UNWIND [1] AS x CALL (x) { MERGE (:Q {x: x}) } IN TRANSACTIONS RETURN x",
    "MATCH (p:Paper) RETURN p UNION ALL CALL () { CREATE (q:Paper) RETURN q } RETURN q AS p",
    "LOAD CSV FROM 'file:///etc/passwd' AS row RETURN row",
    "CREATE INDEX evil IF NOT EXISTS FOR (n:Paper) ON (n.x)",
    "DROP CONSTRAINT kg_node_id",
    "DROP INDEX kg_fulltext",
    "CREATE USER mallory SET PASSWORD 'password123'",
    "SHOW USERS",
    "TERMINATE TRANSACTIONS 'neo4j-transaction-1'",
    "CALL db.createLabel('Evil')",
    "WITH 1 AS x CALL db.createProperty('evil') RETURN x",
    "CALL db.clearQueryCaches()",
    "CALL dbms.components()",
    "CALL tx.setMetaData({a: 1})",
]


@pytest.mark.neo4j
@pytest.mark.parametrize("query", REFUSED)
def test_cypher_refuses_writes_schema_and_admin(searchable, query):
    before = searchable.stats()
    with pytest.raises(ReadOnlyViolation, match="refused"):
        searchable.store.cypher(query)  # type: ignore[attr-defined]
    assert searchable.stats() == before


@pytest.mark.neo4j
def test_cypher_reads_with_parameters_and_returns_graph_objects(searchable):
    store = searchable.store
    res = store.cypher("MATCH (a:Author)-[r:AUTHORED]->(p:Paper) WHERE p.year >= $y RETURN a, r, p.title AS t "
                       "ORDER BY t LIMIT 3", {"y": 2000})
    assert res.columns == ["a", "r", "t"] and res.rows
    row = res.rows[0]
    assert row["a"].label == "Author" and row["r"].type == "AUTHORED" and isinstance(row["t"], str)
    hostile = "x'}) DETACH DELETE n //"
    assert store.cypher("MATCH (p:Paper) WHERE p.title = $t RETURN p", {"t": hostile}).rows == []
    got = store.cypher("CALL db.index.fulltext.queryNodes('kg_fulltext', $q) YIELD node RETURN node.id AS id",
                       {"q": "fusion"}).rows
    assert {"id": "paper:doi:10.1145/1571941.1572114"} in got
    assert store.cypher("MATCH (n:KGNode) RETURN n.id AS id", max_rows=2).truncated
    with pytest.raises(QueryError) as e:
        store.cypher("MATCH (n RETURN n")
    assert not isinstance(e.value, ReadOnlyViolation)


# -- failures -------------------------------------------------------------------------------------------
class Proxy:
    """A TCP proxy to the server that can cut every connection at once (a network failure)."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.conns: list[socket.socket] = []
        self.alive = True
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while self.alive:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            u = socket.create_connection(self.target)
            self.conns += [c, u]
            for a, b in ((c, u), (u, c)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        """Refuse new connections and drop the open ones."""
        self.alive = False
        self.sock.close()
        for c in self.conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
                c.close()
            except OSError:
                pass


def _proxied(server: Any, proxy: Proxy) -> str:
    from urllib.parse import quote

    return f"bolt://{quote(server.user)}:{quote(server.password)}@127.0.0.1:{proxy.port}?embed=false&retry=1"


def _papers(n: int) -> ReadResult:
    from ingest.records import AuthorRef, PaperRecord, PaperRef, paper_records

    out = ReadResult()
    for i in range(n):
        out.extend(paper_records(PaperRecord(title=f"Paper {i}", year=2000 + i % 20, s2_id=str(i),
                                             authors=[AuthorRef(f"Author {i % 7}")],
                                             citations=[PaperRef(s2_id=str((i + 1) % n))]))[1])
    return out


@pytest.mark.neo4j
def test_connection_refused_is_a_clear_error():
    with pytest.raises(StoreConnectionError, match="cannot reach Neo4j"):
        open_store(f"bolt://neo4j:whatever1@127.0.0.1:{_free_port()}?retry=0.5&timeout=2")


@pytest.mark.neo4j
def test_bad_credentials_are_a_clear_error(neo4j_server):
    bad = neo4j_server.uri.replace("://", "://kgloom-nobody:wrong-password@")
    with pytest.raises(StoreConnectionError, match="credentials"):
        open_store(bad)


@pytest.mark.neo4j
def test_connection_lost_mid_write_then_rerun_completes_without_duplicates(neo4j_server, neo, monkeypatch):
    host, port = neo4j_server.uri.split("://")[1].rsplit(":", 1)
    proxy = Proxy(host, int(port))
    cut = open_store(_proxied(neo4j_server, proxy))
    result, src = _papers(300), SourceInfo("/papers.jsonl", "h1", 1, 1.0, "test")
    import kg.neo4j.schema as sch

    real = sch.upsert_edges

    def fail_midway(store: Any, *a: Any, **k: Any) -> Any:
        if store is cut:
            proxy.cut()  # nodes are written, edges not yet
        return real(store, *a, **k)

    monkeypatch.setattr(sch, "upsert_edges", fail_midway)
    with pytest.raises(StoreConnectionError, match="run the same command again"):
        cut.write_source(src, result)
    assert neo.counts() == {"nodes": {}, "edges": {}} and neo.source("/papers.jsonl") is None
    neo.write_source(src, result)
    neo.write_source(src, result)  # and once more: idempotent
    ids = neo._read("MATCH (n:KGNode) RETURN count(n) AS c, count(DISTINCT n.id) AS d")[0]
    assert ids["c"] == ids["d"] == sum(neo.counts()["nodes"].values()) == 307
    assert neo._read("MATCH (a)-[r:CITES]->(b) WITH a, b, count(r) AS c WHERE c > 1 RETURN count(*) AS n")[0]["n"] == 0
    cut.close()


# -- copy ---------------------------------------------------------------------------------------------
@pytest.mark.neo4j
def test_copy_keeps_provenance_and_a_lost_copy_is_finished_by_a_rerun(neo4j_server, neo, tmp_path):
    from kg.neo4j.cypher_copy import copy_store

    src = open_store(tmp_path / "kg")
    ingest_paths(src, [DATA])
    src.write_source(SourceInfo("/papers.jsonl", "h"), _papers(40))
    topics = ReadResult(nodes=[NodeRecord("topic:0", "Topic", {"label": "ranking", "terms": [["rank", 0.5]]})],
                        edges=[EdgeRecord("paper:s2:1", "topic:0", "HAS_TOPIC", {"weight": 0.9}),
                               EdgeRecord("paper:s2:2", "paper:s2:5", "RELATED_TO", {})])
    src.write_source(SourceInfo("kgloom://topics", "t"), topics, derived=True)
    src.set_meta("topics", {"k": 1})
    host, port = neo4j_server.uri.split("://")[1].rsplit(":", 1)
    proxy = Proxy(host, int(port))
    url = _proxied(neo4j_server, proxy)
    with pytest.raises(StoreConnectionError):
        copy_store(src, url, batch=10, progress=lambda what, n: proxy.cut() if n >= 20 else None)
    counts = copy_store(src, _url(neo4j_server, embed="false"), batch=25)
    assert counts["nodes"] == sum(src.counts()["nodes"].values())
    assert snapshot(neo) == snapshot(src)
    assert [(s.path, s.hash, s.reader, s.n_nodes) for s in neo.sources()] == \
        [(s.path, s.hash, s.reader, s.n_nodes) for s in src.sources()]
    assert all(neo.node_sources(n.id) == src.node_sources(n.id) for n in src.iter_nodes())
    assert neo.get_meta("topics") == {"k": 1}
    # provenance survived: the same edits on both stores give the same graphs
    for s in (src, neo):
        s.remove_source(str(DATA / "papers" / "refs.bib"))
        s.remove_source("/papers.jsonl")
        s.write_source(SourceInfo("kgloom://topics", "t2"), ReadResult(
            nodes=[NodeRecord("topic:0", "Topic", {"label": "fusion"})],
            edges=[EdgeRecord("paper:doi:10.1145/1571941.1572114", "topic:0", "HAS_TOPIC")]), derived=True)
    assert snapshot(neo) == snapshot(src)
    neo.write_source(SourceInfo("/other", "o"), ReadResult(nodes=[NodeRecord("doc:o", "Document", {"title": "o"})]))
    with pytest.raises(ConfigError, match="replace"):
        copy_store(src, _url(neo4j_server, embed="false"))
    copy_store(src, _url(neo4j_server, embed="false"), replace=True)
    assert snapshot(neo) == snapshot(src)
    src.close()


@pytest.mark.neo4j
def test_failed_write_rolls_back(neo, monkeypatch):
    from ingest.records import PaperRecord, paper_records

    neo.write_source(SourceInfo("/a", "h1"), paper_records(PaperRecord(title="Kept", year=2020))[1])
    before = snapshot(neo)

    def boom(*a: Any, **k: Any) -> None:
        raise RuntimeError("disk full")

    import kg.neo4j.schema as sch

    monkeypatch.setattr(sch, "upsert_edges", boom)
    with pytest.raises(RuntimeError):
        neo.write_source(SourceInfo("/a", "h2"), _papers(5))
    assert snapshot(neo) == before and neo.source("/a").hash == "h1"


@pytest.mark.neo4j
def test_cli_export_to_neo4j_then_read_only_cypher(neo4j_server, neo, tmp_path):
    from typer.testing import CliRunner

    from kg.cli import app

    src = open_store(tmp_path / "kg")
    ingest_paths(src, [DATA / "papers"])
    src.close()
    url = _url(neo4j_server, embed="false")
    runner = CliRunner()
    res = runner.invoke(app, ["export", str(tmp_path / "unused.jsonl"), "--store", str(tmp_path / "kg"), "--to", url])
    assert res.exit_code == 0, res.output
    assert '"nodes"' in res.output and neo.counts()["nodes"]["Paper"] >= 4
    res = runner.invoke(app, ["neo4j", "cypher", "MATCH (p:Paper) WHERE p.year = $y RETURN p.title AS t",
                              "-p", "y=2019", "--store", url])
    assert res.exit_code == 0 and "Sentence-BERT" in res.output
    res = runner.invoke(app, ["neo4j", "cypher", "MATCH (p:Paper) DETACH DELETE p", "--store", url])
    assert isinstance(res.exception, ReadOnlyViolation)
    assert neo.counts()["nodes"]["Paper"] >= 4


@pytest.mark.neo4j
def test_derived_edges_mark_their_endpoints_changed_like_the_embedded_store(neo, tmp_path):
    from ingest.records import PaperRecord, paper_records

    sq = open_store(tmp_path / "kg")
    for s in (sq, neo):
        s.write_source(SourceInfo("/p", "h"), paper_records(PaperRecord(title="Topic modelling", year=2020,
                                                                         s2_id="9"))[1])
        v = s.version()
        s.write_source(SourceInfo("kgloom://topics", "t"), ReadResult(
            nodes=[NodeRecord("topic:0", "Topic", {"label": "topics"})],
            edges=[EdgeRecord("paper:s2:9", "topic:0", "HAS_TOPIC", {"weight": 0.7})]), derived=True)
        assert s.changes_since(v).upserted == ["paper:s2:9", "topic:0"]
    sq.close()
