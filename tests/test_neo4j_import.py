"""Bulk import (``neo4j-admin database import``) of an embedded store into a fresh Neo4j database,
checked on a real server started on the imported folder: the same graph, provenance and metadata
as the embedded store, and incremental writes keep working on it."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_store_contract import paper, snapshot, write

from ingest.records import AuthorRef, PaperRef
from kg import KnowledgeGraph
from kg.errors import ConfigError
from kg.neo4j.admin_import import import_store
from kg.neo4j.server import Neo4jServer
from kg.store import open_store
from kg.store.sqlite import SQLiteStore

pytestmark = pytest.mark.neo4j
DATA = Path(__file__).resolve().parents[1] / "data"


def test_import_equals_the_embedded_store_and_stays_writable(neo4j_server, tmp_path: Path, monkeypatch):
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)  # neo4j-admin's report must not land in the caller's folder
    g = KnowledgeGraph.open(tmp_path / "kg")
    rep = g.ingest(DATA, embed=False)
    assert rep.ok
    src = g.store
    assert isinstance(src, SQLiteStore)
    write(src, "/extra", paper(title='Quotes "inside",\nand a newline', year=2020, doi="10.1/x",
                               authors=[AuthorRef("Ann Lee")], citations=[PaperRef(doi="10.1/y")]))
    src.set_meta("note", {"k": [1, 2]})
    out = import_store(src, tmp_path / "neo")
    assert out["nodes"] == sum(src.counts()["nodes"].values()) and out["edges"] == sum(src.counts()["edges"].values())
    assert not any(cwd.iterdir())
    with pytest.raises(ConfigError, match="already holds"):
        import_store(src, tmp_path / "neo")
    server = Neo4jServer(data_dir=tmp_path / "neo", password=None).start()
    try:
        dst = open_store(server.uri)
        assert snapshot(dst) == snapshot(src)
        assert [s.path for s in dst.sources()] == [s.path for s in src.sources()]
        for n in src.iter_nodes():
            assert dst.node_sources(n.id) == src.node_sources(n.id), n.id
        assert dst.get_meta("note") == {"k": [1, 2]} and dst.version() == 1
        hits = KnowledgeGraph(dst).search("knowledge graph", 3, mode="bm25").hits
        assert hits and all(h.id in {n.id for n in src.iter_nodes()} for h in hits)
        # incremental writes and removals on the imported database follow the embedded store
        first = sorted(s.path for s in src.sources())[0]
        for store in (src, dst):
            write(store, "/extra", paper(title="Replaced", year=2021, doi="10.1/x"), h="v2")
            store.remove_source(first)
        assert snapshot(dst) == snapshot(src)
        dst.close()
    finally:
        server.stop()
        g.close()
