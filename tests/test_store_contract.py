"""The store contract on hand-made records, run against every backend (embedded SQLite and a
real Neo4j server): provenance, merge, entity resolution, exact removal, transactions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ingest.records import AuthorRef, PaperRecord, PaperRef, paper_records
from kg.model import EdgeRecord, NodeRecord, ReadResult
from kg.store import GraphStore, SourceInfo, open_store
from kg.store.sqlite import SQLiteStore


def snapshot(store: GraphStore) -> tuple[list[tuple], list[tuple]]:
    nodes = sorted((n.id, n.label, sorted(n.properties.items(), key=str)) for n in store.iter_nodes())
    edges = sorted((e.source, e.type, e.target, sorted(e.properties.items())) for e in store.iter_edges())
    return nodes, edges


def paper(**kw) -> ReadResult:
    return paper_records(PaperRecord(**kw))[1]


def write(store: GraphStore, path: str, result: ReadResult, h: str = "h") -> None:
    store.write_source(SourceInfo(path, h + path, 1, 1.0, "test"), result)


@pytest.fixture
def store(make_store) -> GraphStore:
    return make_store()


def test_write_and_rewrite_is_idempotent(store):
    r = paper(title="Graph Neural Networks", year=2020, doi="10.1/GNN",
              authors=[AuthorRef("Jane Doe"), AuthorRef("Li, Wei")])
    write(store, "/a.json", r)
    first = snapshot(store)
    write(store, "/a.json", r)
    assert snapshot(store) == first
    assert store.counts() == {"nodes": {"Author": 2, "Paper": 1}, "edges": {"AUTHORED": 2}}
    node = store.get_nodes(["paper:doi:10.1/gnn"])["paper:doi:10.1/gnn"]
    assert node.properties["title"] == "Graph Neural Networks"
    assert "author:name:wei-li" in store.get_nodes(["author:name:wei-li"])
    positions = {e.source: e.properties["position"] for e in store.iter_edges(["AUTHORED"])}
    assert positions == {"author:name:jane-doe": 0, "author:name:wei-li": 1}


def test_shared_nodes_survive_removal_of_one_source(store):
    write(store, "/a", paper(title="A", year=2020, authors=[AuthorRef("Jane Doe")]))
    write(store, "/b", paper(title="B", year=2021, authors=[AuthorRef("Jane Doe")]))
    assert store.node_sources("author:name:jane-doe") == ["/a", "/b"]
    store.remove_source("/a")
    assert store.counts()["nodes"] == {"Author": 1, "Paper": 1}
    assert store.node_sources("author:name:jane-doe") == ["/b"]
    store.remove_source("/b")
    assert store.counts() == {"nodes": {}, "edges": {}}
    ch = store.changes_since(0)
    assert not ch.upserted and "author:name:jane-doe" in ch.deleted


def test_same_doi_from_two_sources_is_one_node_with_both_provenances(store):
    write(store, "/refs.bib", paper(title="Deep Learning", year=2015, doi="10.1038/nature14539",
                                    venue="Nature", authors=[AuthorRef("Yann LeCun")]))
    write(store, "/meta.jsonl", paper(title="Deep learning.", year=2015, doi="https://doi.org/10.1038/NATURE14539",
                                      abstract="Deep learning allows ...", s2_id="123"))
    papers = list(store.iter_nodes(["Paper"]))
    assert [p.id for p in papers] == ["paper:doi:10.1038/nature14539"]
    assert store.node_sources(papers[0].id) == ["/meta.jsonl", "/refs.bib"]
    assert papers[0].properties["abstract"] == "Deep learning allows ..."
    assert papers[0].properties["venue"] == "Nature"


def test_title_and_year_merge_is_order_independent(make_store):
    a = paper(title="Attention Is All You Need", year=2017, authors=[AuthorRef("Ashish Vaswani")])
    b = paper(title="Attention is all you need!", year=2017, arxiv_id="arXiv:1706.03762v5")
    s2 = make_store()
    write(s2, "/b", b)
    write(s2, "/a", a)
    reverse = snapshot(s2)
    s1 = make_store()
    write(s1, "/a", a)
    write(s1, "/b", b)
    assert snapshot(s1) == reverse
    ids = [p.id for p in s1.iter_nodes(["Paper"])]
    assert ids == ["paper:arxiv:1706.03762"]
    # removing the source that carried the arXiv id renames the paper back to its title id
    s1.remove_source("/b")
    assert next(p.id for p in s1.iter_nodes(["Paper"])).startswith("paper:title:")
    assert s1.counts()["edges"] == {"AUTHORED": 1}


def test_conflicting_dois_do_not_merge_on_title(store):
    write(store, "/a", paper(title="Introduction", year=2020, doi="10.1/a"))
    write(store, "/b", paper(title="Introduction", year=2020, doi="10.1/b"))
    write(store, "/c", paper(title="Introduction", year=2019))
    assert store.counts()["nodes"]["Paper"] == 3


def test_stub_upgraded_then_kept_while_referenced(store):
    citing = paper(title="Citing", year=2022, s2_id="1", citations=[PaperRef(s2_id="2")])
    write(store, "/citing", citing)
    stub = store.get_nodes(["paper:s2:2"])["paper:s2:2"]
    assert stub.properties.get("stub") is True
    write(store, "/cited", paper(title="Cited Paper", year=2010, s2_id="2"))
    full = store.get_nodes(["paper:s2:2"])["paper:s2:2"]
    assert full.properties["title"] == "Cited Paper" and "stub" not in full.properties
    store.remove_source("/cited")
    again = store.get_nodes(["paper:s2:2"])["paper:s2:2"]
    assert again.properties.get("stub") is True and "title" not in again.properties
    assert store.counts()["edges"] == {"CITES": 1}
    store.remove_source("/citing")
    assert store.counts() == {"nodes": {}, "edges": {}}


def test_edges_to_unknown_nodes_are_dropped(store):
    r = ReadResult(nodes=[NodeRecord("x", "Document", {"title": "x"})],
                   edges=[EdgeRecord("x", "nowhere", "RELATED_TO")])
    store.write_source(SourceInfo("/x", "h"), r)
    assert store.counts()["edges"] == {}


def test_failed_write_rolls_back(tmp_path, monkeypatch):
    store = SQLiteStore(tmp_path / "kg")
    write(store, "/a", paper(title="Kept", year=2020))
    before = snapshot(store)

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(store, "_refresh_edges", boom)
    with pytest.raises(RuntimeError):
        write(store, "/a", paper(title="Replaced", year=2021, authors=[AuthorRef("X Y")]))
    monkeypatch.undo()
    assert snapshot(store) == before
    assert store.source("/a").hash == "h/a"


def test_add_edit_delete_equals_fresh_ingest(make_store):
    v1 = {"/a": paper(title="A", year=2020, doi="10.1/a", authors=[AuthorRef("Ann Lee")],
                      citations=[PaperRef(doi="10.1/b")]),
          "/b": paper(title="B", year=2020, doi="10.1/b", authors=[AuthorRef("Ann Lee"), AuthorRef("Bo Chan")]),
          "/c": paper(title="C", year=2021, authors=[AuthorRef("Cy Dee")], citations=[PaperRef(doi="10.1/b")])}
    v2 = dict(v1)
    v2["/a"] = paper(title="A (revised)", year=2020, doi="10.1/a", authors=[AuthorRef("Ann Lee"), AuthorRef("Dan Eu")])
    del v2["/b"]
    fresh = make_store()
    for p, r in v2.items():
        write(fresh, p, r, h="v2" if p == "/a" else "h")
    expected = snapshot(fresh)
    inc = make_store()
    for p, r in v1.items():
        write(inc, p, r)
    write(inc, "/a", v2["/a"], h="v2")
    inc.remove_source("/b")
    assert snapshot(inc) == expected
    # the stub for 10.1/b stays: /c still cites it
    assert inc.get_nodes(["paper:doi:10.1/b"])["paper:doi:10.1/b"].properties["stub"] is True


def test_unknown_scheme_is_a_clear_error():
    from kg.errors import UnknownStoreError

    with pytest.raises(UnknownStoreError, match="known"):
        open_store("redis://localhost")


def test_derived_source_edges_point_at_stored_nodes_and_vanish_with_them(store):
    write(store, "/p", paper(title="Topic modelling", year=2020, s2_id="9"))
    topics = ReadResult(nodes=[NodeRecord("topic:0", "Topic", {"label": "topics"})],
                        edges=[EdgeRecord("paper:s2:9", "topic:0", "HAS_TOPIC", {"weight": 0.7}),
                               EdgeRecord("paper:s2:404", "topic:0", "HAS_TOPIC")])
    stats = store.write_source(SourceInfo("kgloom://topics", "t"), topics, derived=True)
    assert stats.dropped_edges == 1
    assert [(e.source, e.properties) for e in store.iter_edges(["HAS_TOPIC"])] == [("paper:s2:9", {"weight": 0.7})]
    store.remove_source("/p")
    assert list(store.iter_edges(["HAS_TOPIC"])) == []
    assert store.counts()["nodes"] == {"Topic": 1}  # the topic stays until the next refit


def test_reads_directions_sources_meta_and_version(store):
    v0 = store.version()
    write(store, "/dir/a", paper(title="A", year=2020, s2_id="1", citations=[PaperRef(s2_id="2")]))
    assert store.version() > v0
    out = store.edges_of(["paper:s2:1"], direction="out")
    assert [(e.source, e.type, e.target) for e in out] == [("paper:s2:1", "CITES", "paper:s2:2")]
    assert store.edges_of(["paper:s2:1"], direction="in") == []
    assert len(store.edges_of(["paper:s2:2"], types=["CITES"], direction="both")) == 1
    assert store.ids_by_source("/dir") == {"paper:s2:1", "paper:s2:2"}
    assert store.ids_by_source("/di") == set()
    assert store.source("/dir/a").reader == "test"
    assert [s.path for s in store.sources()] == ["/dir/a"]
    store.set_meta("k", {"x": [1, 2]})
    assert store.get_meta("k") == {"x": [1, 2]} and store.get_meta("missing") is None
    assert set(store.get_nodes(["paper:s2:1", "nope"])) == {"paper:s2:1"}


def test_provenance_reads_back_what_each_source_contributed(store):
    """node_supports / node_keys / edge_supports / derived_sources / user_meta: what copies read."""
    write(store, "/a", paper(title="Deep Learning", year=2015, doi="10.1/DL", authors=[AuthorRef("Yann LeCun")]))
    write(store, "/b", paper(title="Deep learning.", year=2015, doi="10.1/dl", abstract="Abs",
                             authors=[AuthorRef("Yann LeCun")]))
    store.write_source(SourceInfo("kgloom://links", "h"), ReadResult(edges=[EdgeRecord(
        "author:name:yann-lecun", "paper:doi:10.1/dl", "RELATED_TO", {"score": 0.5})]), derived=True)
    store.set_meta("note", {"k": [1, 2]})
    pid, aid = "paper:doi:10.1/dl", "author:name:yann-lecun"
    sups = sorted(store.node_supports([pid, aid, "no-such-node"]))
    assert [(n, p, label, stub) for n, p, label, stub, _ in sups] == [
        (aid, "/a", "Author", False), (aid, "/b", "Author", False), (pid, "/a", "Paper", False),
        (pid, "/b", "Paper", False)]
    assert json.loads(sups[3][4])["abstract"] == "Abs" and "abstract" not in json.loads(sups[2][4])
    assert sorted(store.node_supports()) == sups  # every node: the same rows
    keys = sorted(store.node_keys([pid]))
    assert ("doi:10.1/dl", pid, "/a") in keys and ("doi:10.1/dl", pid, "/b") in keys
    assert sorted(store.node_keys()) == sorted([*keys, *store.node_keys([aid])])
    authored = (aid, "AUTHORED", pid)
    got = list(store.edge_supports({authored}))
    assert sorted((p, props["position"]) for *_, p, props in got) == [("/a", 0), ("/b", 0)]
    every = list(store.edge_supports())
    assert [e[:3] for e in every] == sorted(e[:3] for e in every)  # grouped by edge, in key order
    assert (aid, "RELATED_TO", pid, "kgloom://links", {"score": 0.5}) in every
    assert store.derived_sources() == {"kgloom://links"}
    assert store.user_meta() == {"note": {"k": [1, 2]}}


def test_sqlite_stores_a_sole_supports_properties_once(tmp_path: Path):
    store = SQLiteStore(tmp_path / "kg")
    a = paper(title="Sparse Retrieval", year=2020, s2_id="9", abstract="BM25 still wins.",
              authors=[AuthorRef("Ann Lee")], citations=[PaperRef(s2_id="7", title="Old Paper")])
    write(store, "/a", a)
    alone = snapshot(store)
    shared = dict(store.db.execute("SELECT node_id, props FROM node_support"))
    assert set(shared.values()) == {""}  # every node has one support: its row holds the properties
    # a second source merging into two of them gives those supports their own copies first
    write(store, "/b", paper(title="Old Paper", year=1999, s2_id="7", authors=[AuthorRef("Ann Lee")]))
    own = {(n, s): p for n, s, p in store.db.execute("SELECT node_id, source, props FROM node_support")}
    assert own[("paper:s2:7", 1)] == '{"s2_id":"7","title":"Old Paper"}'  # the stub, without the merged row's flag
    assert own[("author:name:ann-lee", 1)] == '{"name":"Ann Lee"}'
    assert own[("paper:s2:9", 1)] == ""
    store.remove_source("/b")
    assert snapshot(store) == alone
    store.close()


def test_sqlite_schema_version_upgrades_v1_and_refuses_unknown(tmp_path: Path):
    from kg.errors import StoreError
    from kg.store.sqlite import SCHEMA_VERSION

    store = SQLiteStore(tmp_path / "kg")
    write(store, "/a", paper(title="Kept", year=2020))
    before = snapshot(store)
    store.db.execute("UPDATE meta SET value='1' WHERE key='schema_version'")  # as a version-1 store
    store.close()
    store = SQLiteStore(tmp_path / "kg")
    assert store.db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0] == str(SCHEMA_VERSION)
    assert snapshot(store) == before
    store.db.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    store.close()
    with pytest.raises(StoreError, match=r"format version 99 .* is newer than this kgloom reads"):
        SQLiteStore(tmp_path / "kg")


def test_bulk_import_csv_notices_line_breaks(tmp_path: Path):
    from kg.neo4j.admin_import import write_csv

    store = SQLiteStore(tmp_path / "kg")
    write(store, "/a", paper(title="One line", year=2020, authors=[AuthorRef("Ann Lee")]))
    flat = write_csv(store, tmp_path / "csv1")
    assert not flat["multiline"] and "--multiline-fields=false" in flat["args"]
    assert (flat["nodes"], flat["edges"], flat["supports"], flat["sources"]) == (2, 1, 2, 1)
    write(store, "/b", paper(title="Two\nlines", year=2021))
    assert write_csv(store, tmp_path / "csv2")["multiline"]
    store.close()
