"""``kg check``: real stores corrupted in each way the check knows; each finding reported, and
repaired where ``--repair`` says it is."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from kg.errors import StoreError, StoreNotFoundError
from kg.graph import KnowledgeGraph
from kg.store.check import verify_store
from kg.store.sqlite import DB_NAME, SCHEMA_VERSION
from tests.store_corpus import check_ok, kg_env, snapshot, write_corpus


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store of a small corpus with a BM25 index and a dense leg (hash encoder: no model)."""
    root = tmp_path_factory.mktemp("check")
    corpus = write_corpus(root / "corpus")
    with KnowledgeGraph.open(root / "store") as g:
        g.ingest(corpus, embed=False)
        g.sync_index(embed=True, encoder="hash:16:1")
    return root / "store"


@pytest.fixture
def store(base: Path, tmp_path: Path) -> Path:
    shutil.copytree(base, tmp_path / "store")
    return tmp_path / "store"


def _sql(store: Path, *statements: str) -> None:
    con = sqlite3.connect(store / DB_NAME, isolation_level=None)
    for s in statements:
        con.execute(s)
    con.close()


def _check(store: Path, repair: bool = False) -> tuple[list[str], list[str]]:
    with KnowledgeGraph.open(store, create=False) as g:
        rep = g.check(repair=repair)
    return [f"[{f.check}] {f.message}" for f in rep.findings], rep.repaired


def test_clean_store_is_ok(store: Path):
    with KnowledgeGraph.open(store, create=False) as g:
        rep = g.check()
    assert rep.ok, rep.lines()
    assert rep.checked["nodes"] > 50 and rep.checked["index_rows"] > 20 and rep.checked["vectors"] > 20
    assert verify_store(store).ok


# (what the corruption does, SQL, the finding expected, whether repair fixes it)
CORRUPTIONS: list[tuple[str, list[str], str]] = [
    ("node without support", ["DELETE FROM node_support WHERE node_id=(SELECT id FROM nodes WHERE label='Venue')"],
     "nodes without any support"),
    ("edge without support", ["DELETE FROM edge_support WHERE (src, type, dst) IN "
                              "(SELECT src, type, dst FROM edges WHERE type='CITES' LIMIT 1)"],
     "edges without any support"),
    ("support of a missing source", ["INSERT INTO node_support VALUES('author:ghost', 999, 'Author', 0, '{}')"],
     "node supports pointing at a missing source"),
    ("source row deleted", ["DELETE FROM sources WHERE path LIKE '%papers1.jsonl'"],
     "node supports pointing at a missing source"),
    ("edge support of a missing source", ["INSERT INTO edge_support SELECT src, type, dst, 999, props FROM edges "
                                          "LIMIT 1"], "edge supports pointing at a missing source"),
    ("node row deleted", ["DELETE FROM nodes WHERE id=(SELECT node_id FROM node_support WHERE props != '' LIMIT 1)"],
     "node supports pointing at a missing node"),
    ("key of a missing source", ["INSERT INTO node_keys VALUES('doi:ghost', 'paper:doi:10.1000/p1', 999)"],
     "identity keys pointing at a missing source or node"),
]


@pytest.mark.parametrize(("what", "sql", "finding"), CORRUPTIONS, ids=[c[0] for c in CORRUPTIONS])
def test_provenance_corruption_is_found_and_repaired(store: Path, what: str, sql: list[str], finding: str):
    _sql(store, *sql)
    found, _ = _check(store)
    assert any(finding in f for f in found), (what, found)
    found, repaired = _check(store, repair=True)
    assert repaired and not found, (what, found, repaired)
    assert _check(store) == ([], [])  # a second look finds nothing left


def test_repair_equals_removing_the_source(store: Path, base: Path, tmp_path: Path):
    """A source row deleted behind the store's back, then repaired: the graph is the one removing
    that source gives."""
    removed = tmp_path / "removed"
    shutil.copytree(base, removed)
    with KnowledgeGraph.open(removed, create=False) as g:
        [path] = [s.path for s in g.sources() if s.path.endswith("note03.md")]
        g.remove(path)
    _sql(store, "DELETE FROM sources WHERE path LIKE '%note03.md'")
    _check(store, repair=True)
    assert snapshot(store) == snapshot(removed)


def _drop_last_row(store: Path) -> None:
    from retrieval.rows import RowTable

    table = RowTable(store / "index" / "rows", mmap=False)
    table.alive[-1] = False
    table.compact()
    table.save(store / "index" / "rows")


INDEX_CORRUPTIONS: list[tuple[str, Callable[[Path], None], str]] = [
    ("rows lost a row", _drop_last_row, "BM25 leg has"),
    ("save cut short", lambda s: (s / "index" / ".saving").write_bytes(b'{"dense": true, "encoder": "hash:16:1"}'),
     "cut short"),
    ("text hash changed", lambda s: _sql(s, "UPDATE nodes SET props=json_set(props, '$.title', 'something else') "
                                         "WHERE id=(SELECT id FROM nodes WHERE label='Paper' LIMIT 1)"),
     "text hash differs"),
    ("indexed node no longer searchable", lambda s: _sql(s, "UPDATE nodes SET label='Venue' WHERE id="
                                                         "(SELECT id FROM nodes WHERE label='Document' LIMIT 1)"),
     "gone or not searchable"),
    ("vectors lost a row", lambda s: _truncate_vectors(s), "dense leg has"),
    ("vector not unit length", lambda s: _scale_vector(s), "not finite unit vectors"),
    ("manifest ahead of the store", lambda s: _bump_manifest(s), "ahead of the store"),
]


def _truncate_vectors(store: Path) -> None:
    import numpy as np

    d = store / "index" / "dense"
    v = np.load(d / "vectors.npy")
    np.save(d / "vectors.npy", v[:-1])
    m = json.loads((d / "manifest.json").read_text())
    m["n_rows"] -= 1
    m["base_rows"] = m.get("base_rows", m["n_rows"] + 1) - 1
    (d / "manifest.json").write_text(json.dumps(m))
    np.save(d / "alive.npy", np.load(d / "alive.npy")[:-1])


def _scale_vector(store: Path) -> None:
    import numpy as np

    p = store / "index" / "dense" / "vectors.npy"
    v = np.load(p)
    v[0] *= 3
    np.save(p, v)


def _bump_manifest(store: Path) -> None:
    p = store / "index" / "manifest.json"
    m = json.loads(p.read_text())
    m["version"] += 5
    p.write_text(json.dumps(m))


@pytest.mark.parametrize(("what", "corrupt", "finding"), INDEX_CORRUPTIONS, ids=[c[0] for c in INDEX_CORRUPTIONS])
def test_index_corruption_is_found_and_repaired(store: Path, what: str, corrupt: Callable[[Path], None], finding: str):
    corrupt(store)
    found, _ = _check(store)
    assert any(finding in f for f in found), (what, found)
    found, repaired = _check(store, repair=True)
    assert not found and any("rebuilt the search index" in r for r in repaired), (what, found, repaired)
    with KnowledgeGraph.open(store, create=False) as g:
        idx = g.search_index()
        assert idx is not None and idx.dense is not None and idx.manifest["encoder"] == "hash:16:1"
        assert g.search("graph retrieval", k=3, mode="hybrid").hits


def test_leftovers_are_found_and_deleted(store: Path):
    (store / ".first-load-part.sqlite").write_bytes(b"x" * 100)
    (store / "topics.tmp").mkdir()
    found, _ = _check(store)
    assert any("killed write left" in f for f in found)
    found, repaired = _check(store, repair=True)
    assert not found and repaired and not (store / "topics.tmp").exists()


def test_damaged_file_is_reported_not_repaired(store: Path):
    """Bytes overwritten inside the B-tree pages: integrity_check fails; --repair does not pretend."""
    _sql(store, "PRAGMA wal_checkpoint(TRUNCATE)")
    db = store / DB_NAME
    data = bytearray(db.read_bytes())
    page = 16384
    assert len(data) > 4 * page
    for p in range(2, len(data) // page):  # every page but the header page: garbage in the middle
        data[p * page + 200: p * page + 600] = b"\xff" * 400
    db.write_bytes(bytes(data))
    proc = subprocess.run([sys.executable, "-m", "kg.cli", "check", "--store", str(store), "--json", "--repair"],
                          env=kg_env(), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1, proc.stderr
    rep = json.loads(proc.stdout)
    assert not rep["ok"] and rep["findings"][0]["check"] in ("integrity", "open"), rep
    assert not rep["repaired"]


def test_cli_exit_status_and_report(store: Path):
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "kg.cli", "check", "--store", str(store), *args], env=kg_env(),
                              capture_output=True, text=True, timeout=60)

    ok = run()
    assert ok.returncode == 0 and ok.stdout.startswith("ok:"), ok.stdout + ok.stderr
    _sql(store, "INSERT INTO node_support VALUES('author:ghost', 999, 'Author', 0, '{}')")
    bad = run()
    assert bad.returncode == 1 and "problem [provenance] node supports pointing at a missing source" in bad.stdout
    fixed = run("--repair", "--json")
    rep = json.loads(fixed.stdout)
    assert fixed.returncode == 0 and rep["ok"] and rep["repaired"], fixed.stdout
    missing = subprocess.run([sys.executable, "-m", "kg.cli", "check", "--store", str(store.parent / "nothing")],
                             env=kg_env(), capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2 and "no kgloom store" in missing.stderr


def test_newer_store_version_is_refused(store: Path):
    _sql(store, f"UPDATE meta SET value='{SCHEMA_VERSION + 1}' WHERE key='schema_version'")
    with pytest.raises(StoreError, match="newer"):
        KnowledgeGraph.open(store, create=False)
    rep = verify_store(store)
    assert not rep.ok and rep.findings[0].check == "open"
    with pytest.raises(StoreNotFoundError):
        verify_store(store.parent / "nothing")


def test_check_ok_helper_matches(store: Path):
    assert check_ok(store) == []
