"""First loads (kg.store.first_load): staging new files in memory and writing them in one pass gives,
table by table, the store that file-by-file writes give, and the store behaves the same after."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ingest.pipeline import ingest_paths
from ingest.records import AuthorRef, PaperRecord, PaperRef, paper_records
from kg.errors import StoreError
from kg.model import EdgeRecord, NodeRecord, ReadResult
from kg.store import SourceInfo
from kg.store.first_load import FirstLoad
from kg.store.sqlite import SUPPORT_PROPS_SQL, SQLiteStore


def tables(store: SQLiteStore) -> dict[str, list[tuple]]:
    """Every table's rows by meaning (source paths, not ids; shared support properties resolved)."""
    q = store.db.execute
    return {
        "sources": q("SELECT path, hash, size, mtime, reader, n_nodes, n_edges, warnings, errors FROM sources "
                     "ORDER BY path").fetchall(),
        "nodes": q("SELECT id, label, props FROM nodes ORDER BY id").fetchall(),
        "node_support": q(f"SELECT ns.node_id, s.path, ns.label, ns.stub, {SUPPORT_PROPS_SQL} FROM node_support ns "
                          "JOIN nodes n ON n.id=ns.node_id JOIN sources s ON s.id=ns.source "
                          "ORDER BY 1, 2").fetchall(),
        "node_keys": q("SELECT k.key, k.node_id, s.path FROM node_keys k JOIN sources s ON s.id=k.source "
                       "ORDER BY 1, 2, 3").fetchall(),
        "edges": q("SELECT src, type, dst, props FROM edges ORDER BY 1, 2, 3").fetchall(),
        "edge_support": q("SELECT e.src, e.type, e.dst, s.path, e.props FROM edge_support e JOIN sources s "
                          "ON s.id=e.source ORDER BY 1, 2, 3, 4").fetchall(),
        "indexes": q("SELECT name, sql FROM sqlite_master WHERE type='index' ORDER BY name").fetchall(),
    }


def spied(log: Path, real, note=lambda got, *a, **k: got is not None):
    """``real``, noting each call on a line of ``log``: a first load runs in a forked process,
    so a spy writes what it saw to a file, not to a list of this process."""
    def spy(*a, **k):
        got = real(*a, **k)
        with open(log, "a") as fh:
            fh.write(f"{note(got, *a, **k)}\n")
        return got
    return spy


def noted(log: Path) -> list[str]:
    return log.read_text().split() if log.exists() else []


def assert_same(a: SQLiteStore, b: SQLiteStore) -> None:
    ta, tb = tables(a), tables(b)
    for name in ta:
        assert ta[name] == tb[name], name


def paper(**kw) -> ReadResult:
    return paper_records(PaperRecord(**kw))[1]


def hand_made() -> list[tuple[str, ReadResult]]:
    """Sources that exercise renames, merges, conflicts, stubs and dangling edges, in path order."""
    a = paper(title="Sparse Retrieval Revisited", year=2021, authors=[AuthorRef("Ann Lee"), AuthorRef("Bo Kim")],
              citations=[PaperRef(title="Dense Passage Retrieval", year=2020), PaperRef(s2_id="9")])
    b = paper(title="Sparse retrieval revisited", year=2021, doi="10.1/SR", abstract="BM25 again.",
              authors=[AuthorRef("Lee, Ann")], venue="SIGIR")  # renames a's paper:title:... to the DOI
    c = paper(title="Dense Passage Retrieval", year=2020, arxiv_id="2004.04906", s2_id="9",
              citations=[PaperRef(doi="10.1/sr")])  # joins a stub by title and one by S2 id: a rename
    d = paper(title="Sparse Retrieval Revisited", year=2021, doi="10.2/other")  # conflicting DOI: no merge
    e = ReadResult([NodeRecord("doc:x", "Document", {"title": "Note"}),
                    NodeRecord("paper:doi:10.1/sr", "Paper", {"title": "stub view"}, stub=True, keys=("doi:10.1/sr",))],
                   [EdgeRecord("doc:x", "paper:doi:10.1/sr", "RELATED_TO", {"w": 1}),
                    EdgeRecord("doc:x", "nowhere", "RELATED_TO")],  # dangling: dropped
                   warnings=["a warning"], errors=["line 3: bad"])
    f = paper(title="Self Citing After Merge", year=2019, s2_id="50", citations=[PaperRef(arxiv_id="1901.00001")])
    g = paper(title="Self citing after merge", year=2019, arxiv_id="1901.00001", s2_id="50")
    return [("/d/a", a), ("/d/b", b), ("/d/c", c), ("/d/d", d), ("/d/e", e), ("/d/f", f), ("/d/g", g)]


def stage_hand_made(one: SQLiteStore) -> FirstLoad:
    """Write the hand-made sources file by file into ``one``, and stage them as a first load."""
    load = FirstLoad()
    for path, result in hand_made():
        info = SourceInfo(path, "h" + path, 1, 1.0, "test")
        one.write_source(info, result)
        load.add(info, result)
    return load


def test_first_load_equals_file_by_file_writes_on_hand_made_records(tmp_path: Path):
    one, bulk = SQLiteStore(tmp_path / "one"), SQLiteStore(tmp_path / "bulk")
    load = stage_hand_made(one)
    assert load._adj is not None  # renames happened in memory
    bulk.write_first_load(load)
    assert_same(one, bulk)
    ids = {n.id for n in bulk.iter_nodes()}
    assert "paper:doi:10.1/sr" in ids and "paper:doi:10.2/other" in ids  # renamed, and kept apart
    assert not any(i.startswith("paper:title:") and "sparse" in i for i in ids)
    assert bulk.node_sources("paper:doi:10.1/sr") == ["/d/a", "/d/b", "/d/c", "/d/e"]
    assert bulk.changes_since(0).upserted == sorted(ids)
    # later incremental writes behave the same on both
    for s in (one, bulk):
        s.remove_source("/d/b")
        s.write_source(SourceInfo("/d/a", "h2", 1, 2.0, "test"), paper(title="Sparse Retrieval Revisited", year=2021))
    assert_same(one, bulk)


def test_a_first_load_needs_an_empty_store(tmp_path: Path):
    store = SQLiteStore(tmp_path / "s")
    store.write_source(SourceInfo("/x", "h"), paper(title="T"))
    load = FirstLoad()
    load.add(SourceInfo("/y", "h"), paper(title="U"))
    with pytest.raises(StoreError, match="without sources"):
        store.write_first_load(load)
    assert [s.path for s in store.sources()] == ["/x"]
    with pytest.raises(ValueError, match="already staged"):
        load.add(SourceInfo("/y", "h"), paper(title="U"))


def test_first_load_of_the_shared_data_equals_file_by_file(tmp_path: Path, shared: Path):
    data = shared / "data"
    one, bulk = SQLiteStore(tmp_path / "one"), SQLiteStore(tmp_path / "bulk")
    rep_one = ingest_paths(one, [data], first_load=False)
    rep_bulk = ingest_paths(bulk, [data])
    assert [(f.path, f.status, f.nodes, f.edges, f.errors) for f in rep_one.files] == \
        [(f.path, f.status, f.nodes, f.edges, f.errors) for f in rep_bulk.files]
    assert rep_bulk.count("added") > 140
    assert_same(one, bulk)
    again = ingest_paths(bulk, [data])
    assert again.count("unchanged") == rep_bulk.count("added") + rep_bulk.count("partial")
    assert_same(one, bulk)


def test_edits_after_a_first_load_match_file_by_file(tmp_path: Path, shared: Path):
    src = tmp_path / "papers"
    shutil.copytree(shared / "data" / "paper-metadata", src)
    (src / "extra.jsonl").write_text(json.dumps({"paper_id": "x1", "title": "Extra", "year": 2020,
                                                 "authors": [], "outbound_citations": []}) + "\n")
    one, bulk = SQLiteStore(tmp_path / "one"), SQLiteStore(tmp_path / "bulk")
    ingest_paths(one, [src], first_load=False)
    ingest_paths(bulk, [src])
    (src / "extra.jsonl").write_text(json.dumps({"paper_id": "x1", "title": "Extra, edited", "year": 2021,
                                                 "authors": [], "outbound_citations": []}) + "\n")
    victim = next(p for p in sorted(src.rglob("*")) if p.is_file() and p.name != "extra.jsonl")
    victim.unlink()
    for s in (one, bulk):
        rep = ingest_paths(s, [src], prune=True)
        assert rep.summary()["removed"] == 1 and rep.summary()["updated"] == 1
    assert_same(one, bulk)


def test_a_failed_first_load_falls_back_to_file_by_file(tmp_path: Path, shared: Path, monkeypatch):
    data = shared / "data" / "paper-metadata"
    one, bulk = SQLiteStore(tmp_path / "one"), SQLiteStore(tmp_path / "bulk")
    ingest_paths(one, [data], first_load=False)

    def boom(load: FirstLoad) -> None:
        raise StoreError("disk full (simulated)")

    monkeypatch.setattr(bulk, "write_first_load", boom)
    rep = ingest_paths(bulk, [data])
    assert rep.ok and rep.count("added") == len(rep.files)
    assert_same(one, bulk)


def test_parser_processes_give_the_same_graph_and_errors(tmp_path: Path, shared: Path):
    data = tmp_path / "data"
    shutil.copytree(shared / "data" / "paper-metadata", data / "meta")
    shutil.copytree(shared / "data" / "skills" / "anthropics", data / "skills")
    (data / "junk.md").write_bytes(b"\x00\x01\xff" * 100)
    (data / "half.jsonl").write_text('{"paper_id": "h1", "title": "Half", "authors": []}\n{broken\n')
    one, multi = SQLiteStore(tmp_path / "one"), SQLiteStore(tmp_path / "multi")
    rep_one = ingest_paths(one, [data], first_load=False)
    rep_multi = ingest_paths(multi, [data], workers=2)
    rows = [[(f.path, f.status, f.reader, f.nodes, f.edges, f.warnings, f.errors) for f in r.files]
            for r in (rep_one, rep_multi)]
    assert rows[0] == rows[1]
    assert {f.status for f in rep_multi.files} >= {"added", "failed", "partial"}
    assert_same(one, multi)


def test_parsed_files_travel_by_marshal_or_pickle(tmp_path: Path, monkeypatch):
    import datetime

    from ingest import pipeline

    f = tmp_path / "a.md"
    f.write_text("---\ntitle: A\n---\nbody\n")
    packed = pipeline._parse_packed(str(f), 2**20)
    assert isinstance(packed, bytes) and packed[:1] == b"m"
    direct = pipeline._parse(str(f), 2**20)
    assert pipeline._unpack(packed) == direct
    assert pipeline._parse_packed(str(tmp_path / "missing.md"), 2**20) == pipeline._parse(str(tmp_path / "missing.md"), 2**20)
    when = datetime.date(2024, 1, 2)  # a value marshal cannot hold

    def read_file(path, max_bytes):
        return "x", ReadResult([NodeRecord("doc:1", "Document", {"date": when})]), "h", 1

    monkeypatch.setattr(pipeline, "read_file", read_file)
    packed = pipeline._parse_packed(str(f), 2**20)
    assert packed[:1] == b"p"  # type: ignore[index]
    assert pipeline._unpack(packed).supports["doc:1"] == ("Document", False, {"date": when})  # type: ignore[arg-type]


def test_resolve_ids_settles_lone_records_as_the_union_find_does():
    import random

    from kg.ids import paper_id_from_keys
    from kg.store.merge import resolve_clusters, resolve_ids

    rng = random.Random(7)
    pool = [f"{s}:{i}" for s in ("doi", "arxiv", "s2", "title") for i in range(12)]
    lone = 0
    for _ in range(3000):
        nodes = {}
        for _ in range(rng.randint(1, 8)):
            keys = tuple(dict.fromkeys(rng.sample(pool, rng.randint(1, 3))))
            nid = paper_id_from_keys(keys)
            nodes.setdefault(nid, NodeRecord(nid, "Paper", {}, keys=keys))
        existing = {}
        for _ in range(rng.randint(0, 6)):
            keys = set(rng.sample(pool, rng.randint(1, 3)))
            # usually the id its keys give; sometimes the id of one of this source's records
            nid = rng.choice(sorted(nodes)) if rng.random() < 0.3 else paper_id_from_keys(sorted(keys))
            existing[nid] = keys
        key_owner: dict[str, set[str]] = {}
        for nid, keys in existing.items():
            for k in keys:
                key_owner.setdefault(k, set()).add(nid)
        touched = {k for r in nodes.values() for k in r.keys}
        owner_view = {k: v for k, v in key_owner.items() if k in touched}
        owners = {o for v in owner_view.values() for o in v}
        ex_view = {o: existing[o] for o in owners}
        keyed = {nid: r.keys for nid, r in nodes.items()}
        assert resolve_ids(keyed, ex_view, owner_view) == resolve_clusters(keyed, ex_view, owner_view)
        lone += sum(1 for r in nodes.values() if all(k not in owner_view for k in r.keys))
    assert lone > 100  # the fast path was taken, not only the union-find


def _index_files(store_dir: Path, *, version: bool = True) -> dict[str, bytes]:
    folder = store_dir / "index"
    out = {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
           if p.is_file() and p.name not in ("manifest.json", ".lock")}
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest.pop("saved_at")
    if not version:  # file-by-file writes count one store version per file
        manifest.pop("version")
    out["manifest"] = json.dumps(manifest, sort_keys=True).encode()
    return out


def test_the_index_built_beside_a_first_load_equals_a_sync(tmp_path: Path, shared: Path, monkeypatch):
    from kg import KnowledgeGraph
    from retrieval import index as index_mod

    data = [shared / "data" / "paper-metadata", shared / "data" / "daily-papers-knowledge-transfer.txt",
            shared / "data" / "skills" / "anthropics"]
    monkeypatch.setattr(index_mod, "SCAN_ABOVE", 0)  # the shared data is small: take both paths anyway
    monkeypatch.setattr(index_mod, "prebuild_first_load", spied(tmp_path / "built", index_mod.prebuild_first_load))
    with KnowledgeGraph.open(tmp_path / "beside") as g:
        g.ingest(*data, embed=False)
        hits = [h.id for h in g.search("knowledge distillation", k=10, mode="bm25").hits]
    assert noted(tmp_path / "built") == ["True"]
    monkeypatch.setattr(index_mod, "prebuild_first_load", lambda *a, **k: None)
    with KnowledgeGraph.open(tmp_path / "synced") as g:
        g.ingest(*data, embed=False)
        assert [h.id for h in g.search("knowledge distillation", k=10, mode="bm25").hits] == hits
    assert len(hits) == 10
    assert _index_files(tmp_path / "beside") == _index_files(tmp_path / "synced")
    assert not (tmp_path / "beside" / ".index-first-load").exists()


def test_a_failed_first_load_write_drops_the_index_built_beside_it(tmp_path: Path, shared: Path, monkeypatch):
    from kg import KnowledgeGraph
    from retrieval import index as index_mod

    monkeypatch.setattr(index_mod, "SCAN_ABOVE", 0)
    data = shared / "data" / "paper-metadata"
    with KnowledgeGraph.open(tmp_path / "synced") as g:
        g.ingest(data, embed=False)
    with KnowledgeGraph.open(tmp_path / "failed") as g:
        def boom(load: FirstLoad) -> None:
            raise StoreError("disk full (simulated)")

        monkeypatch.setattr(g.store, "write_first_load", boom)
        rep = g.ingest(data, embed=False)  # files are written one by one; the index is synced after
        assert rep.ok
    assert not (tmp_path / "failed" / ".index-first-load").exists()
    assert _index_files(tmp_path / "failed", version=False) == _index_files(tmp_path / "synced", version=False)


def test_a_first_load_over_the_memory_cap_goes_on_file_by_file(tmp_path: Path, shared: Path, monkeypatch):
    from ingest import pipeline

    data = [shared / "data" / "paper-metadata", shared / "data" / "skills" / "anthropics"]
    one, capped = SQLiteStore(tmp_path / "one"), SQLiteStore(tmp_path / "capped")
    ingest_paths(one, data, first_load=False)
    monkeypatch.setattr(capped, "write_first_load", spied(tmp_path / "calls", capped.write_first_load,
                                                          lambda got, load: len(load.sources)))
    monkeypatch.setattr(pipeline, "FIRST_LOAD_MAX_NODES", 3000)
    rep = ingest_paths(capped, data)
    calls = [int(n) for n in noted(tmp_path / "calls")]
    assert rep.ok and len(calls) == 1 and 0 < calls[0] < rep.count("added")
    assert_same(one, capped)


def test_edge_tables_built_by_a_second_process_equal_file_by_file(tmp_path: Path, shared: Path, monkeypatch):
    from kg.store import sqlite as sqlite_mod
    from kg.store.first_load_edges import PART_NAME, TablePart

    monkeypatch.setattr(sqlite_mod, "EDGE_PART_ABOVE", 0)  # the shared data is small: build the part anyway
    monkeypatch.setattr(sqlite_mod.TablePart, "start", spied(tmp_path / "started", TablePart.start))
    data = shared / "data"
    one, bulk = SQLiteStore(tmp_path / "one"), SQLiteStore(tmp_path / "bulk")
    ingest_paths(one, [data], first_load=False)
    ingest_paths(bulk, [data])
    assert noted(tmp_path / "started") == ["True"]
    assert_same(one, bulk)
    assert bulk.db.execute("SELECT count(*) FROM edges").fetchone()[0] > 10_000
    assert not (tmp_path / "bulk" / PART_NAME).exists()
    assert [r[1] for r in bulk.db.execute("PRAGMA database_list")] == ["main"]  # the part is detached
    assert bulk.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"  # written with a rollback journal, then back
    # hand-made records: renames, and edges several sources support (rows of their own in the part)
    one, bulk = SQLiteStore(tmp_path / "one2"), SQLiteStore(tmp_path / "bulk2")
    bulk.write_first_load(stage_hand_made(one))
    assert_same(one, bulk)


def test_a_failed_edge_process_leaves_the_edges_to_the_store_process(tmp_path: Path, shared: Path, monkeypatch):
    import os

    from kg.store import sqlite as sqlite_mod
    from kg.store.first_load_edges import PART_NAME

    monkeypatch.setattr(sqlite_mod, "EDGE_PART_ABOVE", 0)
    real = sqlite_mod._insert_edges

    def fails_in_the_child(db, load, schema=""):
        if not schema:  # the part's process; the store's own insert names its schema
            os.kill(os.getpid(), 9)  # killed (simulated)
        real(db, load, schema)

    monkeypatch.setattr(sqlite_mod, "_insert_edges", fails_in_the_child)
    data = shared / "data" / "paper-metadata"
    one, bulk = SQLiteStore(tmp_path / "one"), SQLiteStore(tmp_path / "bulk")
    ingest_paths(one, [data], first_load=False)
    rep = ingest_paths(bulk, [data])
    assert rep.ok
    assert_same(one, bulk)
    assert not (tmp_path / "bulk" / PART_NAME).exists()


def test_a_first_load_keeps_the_wal_while_another_connection_reads(tmp_path: Path, shared: Path):
    import sqlite3

    data = shared / "data" / "paper-metadata"
    one, bulk = SQLiteStore(tmp_path / "one"), SQLiteStore(tmp_path / "bulk")
    ingest_paths(one, [data], first_load=False)
    reader = sqlite3.connect(tmp_path / "bulk" / "graph.sqlite")
    assert reader.execute("SELECT count(*) FROM nodes").fetchone() == (0,)
    rep = ingest_paths(bulk, [data])  # the journal mode cannot change now: written through the WAL, no wait
    assert rep.ok
    assert bulk.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert reader.execute("SELECT count(*) FROM nodes").fetchone()[0] == len(tables(one)["nodes"])
    assert_same(one, bulk)
    reader.close()


def _staged(data: Path) -> FirstLoad:
    """The files under ``data`` staged as a first load, in path order."""
    from ingest.pipeline import _parse

    load = FirstLoad()
    for src in sorted(data.rglob("*")):
        if src.is_file():
            got = _parse(str(src), 2**30)
            assert not isinstance(got, str)
            load.add_collapsed(SourceInfo(str(src), got.digest), got.supports, got.keys, got.edges, got.warnings,
                               got.errors, got.closed)
    return load


def test_display_names_agree_across_stores(tmp_path: Path, shared: Path):
    from kg.store.base import GraphStore
    from kg.store.first_load_view import FirstLoadView

    data = shared / "data" / "paper-metadata"
    store = SQLiteStore(tmp_path / "s")
    ingest_paths(store, [data], first_load=False)
    load = _staged(data)
    ids = [*sorted(n.id for n in store.iter_nodes()), "no-such-node"]
    names = store.display_names(ids)
    assert names == GraphStore.display_names(store, ids)  # the generic way: whole nodes
    assert names == FirstLoadView(load, 1).display_names(ids)
    assert "no-such-node" not in names
    authors = [i for i in ids if i.startswith("author:")]
    assert authors and all(names[a] != a for a in authors)


def test_the_edge_part_is_copied_by_sqlites_transfer(tmp_path: Path):
    """The part's tables are the store's own, so SQLite compiles its transfer: records and index
    entries copied as they are (RowData), not decoded and made again, into the empty tables."""
    import sqlite3

    from kg.store.sqlite import PART_TABLES

    store = SQLiteStore(tmp_path / "s")
    tables_sql, indexes_sql = store.part_sql()
    assert len(tables_sql) == len(PART_TABLES) and len(indexes_sql) >= 2
    part = sqlite3.connect(tmp_path / "part.sqlite")
    for sql in (*tables_sql, *indexes_sql):
        part.execute(sql)
    part.close()
    store.db.execute("ATTACH ? AS part", (str(tmp_path / "part.sqlite"),))
    for table in PART_TABLES:
        ops = [r[1] for r in store.db.execute(f"EXPLAIN INSERT INTO main.{table} SELECT * FROM part.{table}")]
        assert "RowData" in ops, table
    # a table that differs from the store's (here: no index) has no transfer path
    part = sqlite3.connect(tmp_path / "other.sqlite")
    for sql in tables_sql:
        part.execute(sql)
    part.close()
    store.db.execute("ATTACH ? AS other", (str(tmp_path / "other.sqlite"),))
    for table in PART_TABLES:
        ops = [r[1] for r in store.db.execute(f"EXPLAIN INSERT INTO main.{table} SELECT * FROM other.{table}")]
        assert "RowData" not in ops and "MakeRecord" in ops, table


def test_a_first_load_runs_in_a_process_that_reports_back(tmp_path: Path, shared: Path, monkeypatch):
    import os

    data = shared / "data" / "paper-metadata"
    one, bulk = SQLiteStore(tmp_path / "one"), SQLiteStore(tmp_path / "bulk")
    ingest_paths(one, [data], first_load=False)
    monkeypatch.setattr(bulk, "write_first_load", spied(tmp_path / "pid", bulk.write_first_load,
                                                        lambda got, load: os.getpid()))
    seen: list[str] = []
    rep = ingest_paths(bulk, [data], progress=lambda fr: seen.append(fr.path))
    assert rep.ok and rep.count("added") == len(rep.files) > 1
    assert sorted(seen) == sorted(f.path for f in rep.files)  # progress crossed the pipe as it happened
    writers = [int(p) for p in noted(tmp_path / "pid")]
    assert len(writers) == 1 and writers[0] != os.getpid()
    assert_same(one, bulk)  # this process's connection was reopened and sees the load
    assert bulk.source(rep.files[0].path) is not None


def test_a_first_load_process_that_dies_leaves_the_files_to_this_one(tmp_path: Path, shared: Path, monkeypatch):
    import os

    data = shared / "data" / "paper-metadata"
    one, bulk = SQLiteStore(tmp_path / "one"), SQLiteStore(tmp_path / "bulk")
    ingest_paths(one, [data], first_load=False)
    real = bulk.write_first_load

    def dies_midway(load: FirstLoad) -> None:
        real(load)  # committed, then the process dies before it reports: the files are found unchanged
        os._exit(3)

    monkeypatch.setattr(bulk, "write_first_load", dies_midway)
    rep = ingest_paths(bulk, [data])
    assert rep.ok and rep.count("unchanged") == len(rep.files)
    assert_same(one, bulk)

    def dies_first(load: FirstLoad) -> None:
        os.kill(os.getpid(), 9)  # out of memory (simulated): nothing committed, written file by file here

    other = SQLiteStore(tmp_path / "other")
    monkeypatch.setattr(other, "write_first_load", dies_first)
    rep = ingest_paths(other, [data])
    assert rep.ok and rep.count("added") == len(rep.files)
    assert_same(one, other)


def test_a_first_load_view_reports_the_provenance_the_store_writes(tmp_path: Path, shared: Path):
    from kg.store.base import GraphStore
    from kg.store.first_load_view import FirstLoadView

    data = shared / "data" / "paper-metadata"
    store = SQLiteStore(tmp_path / "s")
    ingest_paths(store, [data], first_load=False)
    view = FirstLoadView(_staged(data), 1)

    def supports(s: GraphStore) -> list[tuple]:
        return sorted((n, p, label, stub, json.loads(props)) for n, p, label, stub, props in s.node_supports())

    assert supports(view) == supports(store)
    assert sorted(view.node_keys()) == sorted(store.node_keys())
    assert list(view.edge_supports()) == list(store.edge_supports())
    assert view.derived_sources() == store.derived_sources() == set() and view.user_meta() == {}
    some = sorted(n.id for n in store.iter_nodes())[::50]
    assert sorted(view.node_supports(some)) == sorted(store.node_supports(some))
