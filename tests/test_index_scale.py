"""The index at scale: rows as memory-mapped columns, format-1 indexes upgraded, and small updates
that write only what changed (no rewrite of the BM25 postings, the vectors or the HNSW graph)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from kg import KnowledgeGraph
from retrieval.bm25 import BM25Index
from retrieval.dense import TAIL, DenseConfig, DenseIndex, ann_recall_at_10
from retrieval.filters import Filters
from retrieval.index import SearchIndex
from retrieval.rows import RowInfo, RowTable, StrColumn


def rec(pid: str, title: str, year: int, abstract: str = "", authors=(), fields=()) -> dict:
    return {"paper_id": pid, "title": title, "abstract": abstract, "year": year,
            "authors": [{"first": a.split()[0], "middle": [], "last": a.split()[1], "suffix": ""} for a in authors],
            "mag_field_of_study": list(fields), "outbound_citations": [], "inbound_citations": []}


def write(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


WORDS = "graph retrieval fusion ranking protein folding kinetics neural network citation author topic".split()


def papers(prefix: str, n: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    names = ["Ann Lee", "Bo Kim", "Eve Stone", "Chen Wang", "Dana Park"]
    return [rec(f"{prefix}{i}", " ".join(rng.choice(WORDS, 4)), int(rng.integers(1990, 2025)),
                " ".join(rng.choice(WORDS, 20)), authors=[names[int(rng.integers(0, 5))]],
                fields=[["Biology", "Medicine", "Computer science"][int(rng.integers(0, 3))]]) for i in range(n)]


@pytest.fixture
def g(tmp_path: Path):
    graph = KnowledgeGraph.open(tmp_path / "kg")
    yield graph
    graph.close()


def build(g: KnowledgeGraph, *files: Path) -> SearchIndex:
    for f in files:
        g.ingest(f, embed=False)
    g.sync_index(embed=True, encoder="hash:32:1")
    idx = g.search_index()
    assert idx is not None
    return idx


def mapped(a: object) -> bool:
    """Whether an array's memory is a file mapping."""
    import mmap

    while a is not None:
        if isinstance(a, (np.memmap, mmap.mmap)):
            return True
        a = getattr(a, "base", None)
    return False


def stamps(folder: Path, *names: str) -> dict[str, tuple[int, int]]:
    return {n: (os.stat(folder / n).st_ino, os.stat(folder / n).st_mtime_ns) for n in names}


# -- rows ------------------------------------------------------------------------------------------
def test_str_column_finds_by_hash_and_round_trips(tmp_path: Path):
    strs = ["paper:doi:10.1/a", "chunk:ab:1", "", "paper:doi:10.1/a", "ünïcode:é"]
    col = StrColumn.build(strs)
    assert list(col) == strs and col[4] == "ünïcode:é" and col[1:3] == strs[1:3]
    assert col.rows_of("paper:doi:10.1/a").tolist() == [0, 3] and "nope" not in col
    col.save(tmp_path, "c")
    back = StrColumn.load(tmp_path, "c")
    assert list(back) == strs and back.rows_of("ünïcode:é").tolist() == [4]
    assert list(back.extended(["x"])) == [*strs, "x"]
    assert list(back.selected(np.array([4, 0]))) == ["ünïcode:é", "paper:doi:10.1/a"]


def test_row_table_append_delete_compact_save(tmp_path: Path):
    infos = [RowInfo("p:1", "p:1", "Paper", 2020, ["a:1"], ["c:x"], "00000000000000ff"),
             RowInfo("c:1", "d:1", "Document", 0, [], [], "0000000000000001"),
             RowInfo("p:2", "p:2", "Paper", 2021, ["a:1", "a:2"], [], "")]
    t = RowTable.from_infos(infos)
    t.set_names({"a:1": "Ann Lee", "a:2": "Bo Kim", "c:x": "Biology"})
    assert [t.info(i) for i in range(3)] == infos == list(t.infos()) and t.has_chunks
    assert t.find_many(["p:2", "zz", "p:1"]).tolist() == [2, -1, 0]
    t.delete([0])
    assert t.info(0) is None and t.find("p:1") is None
    t.append([RowInfo("p:1", "p:1", "Paper", 2022, ["a:3"], [], "")])
    assert t.find("p:1") == 3
    t.save(tmp_path / "rows")
    back = RowTable(tmp_path / "rows")
    assert [back.info(i) for i in range(4)] == [t.info(i) for i in range(4)] == list(back.infos())
    assert back.name(1) == "Bo Kim"  # facets are numbered as they come: a:1, a:2, then c:x
    assert back.compact().tolist() == [1, 2, 3] and back.find("p:1") == 2 and len(back) == 3


def test_rows_are_memory_mapped_and_filters_work_on_them(tmp_path: Path, g):
    zebra = rec("x1", "zebra migration study", 2001, "zebra", authors=["Zoë Müller"], fields=["Zoology"])
    f = write(tmp_path / "in" / "p.jsonl", [*papers("p", 60, 0), zebra])
    build(g, f)
    idx = SearchIndex.load(Path(g.store.url) / "index")
    assert idx.manifest["format"] == 2 and not (idx.folder / "rows.jsonl").exists()
    assert mapped(idx.table.ids.blob) and mapped(idx.table.year) and mapped(idx.table.authors.values)
    assert len(idx.rows) == 61 and idx.row_of["paper:s2:x1"] == idx.table.find("paper:s2:x1")
    r = idx.rows[idx.row_of["paper:s2:x1"]]
    assert r is not None and r.year == 2001 and r.label == "Paper" and len(r.authors) == 1
    for filt in (Filters(authors=["zoe muller"]), Filters(authors=["Müller"]), Filters(categories=["zoolog"])):
        hits = g.search("zebra study", k=5, mode="hybrid", filters=filt).hits
        assert [h.id for h in hits] == ["paper:s2:x1"], filt
    hits = g.search("zebra", k=5, filters=Filters(year=(2001, 2001))).hits
    assert hits[0].id == "paper:s2:x1" and {h.node.properties["year"] for h in hits} == {2001}
    assert "paper:s2:x1" in idx.targets and "paper:s2:nope" not in idx.targets


def test_a_format_1_index_is_upgraded_on_open(tmp_path: Path, g):
    f = write(tmp_path / "in" / "p.jsonl", papers("p", 40, 1))
    idx = build(g, f)
    before = [(h.id, round(h.score, 5)) for h in g.search("graph retrieval", k=10).hits]
    folder = idx.folder
    # write the index as format 1 wrote it: rows.jsonl and names.json, no rows/
    with open(folder / "rows.jsonl", "wb") as fh:
        for r in idx.rows:
            fh.write(json.dumps(None if r is None else {"id": r.id, "target": r.target, "label": r.label,
                                                        "year": r.year, "authors": r.authors,
                                                        "categories": r.categories, "th": r.th}).encode() + b"\n")
    names = {f: idx.table.name(i) for i, f in enumerate(idx.table.facets)}
    (folder / "names.json").write_text(json.dumps(names))
    m = json.loads((folder / "manifest.json").read_text())
    (folder / "manifest.json").write_text(json.dumps({**m, "format": 1}))
    import shutil

    shutil.rmtree(folder / "rows")
    # and the legs as BM25 version 1 (no delta segment, no df.npy) and dense format 1 wrote them
    bm25 = BM25Index.load(folder / "bm25")
    bm25._flush()
    bm25.save(folder / "bm25")
    params = json.loads((folder / "bm25" / "params.json").read_text())
    (folder / "bm25" / "params.json").write_text(json.dumps({**params, "version": 1}))
    for old in (folder / "bm25").glob("delta_*.npy"):
        old.unlink()
    (folder / "bm25" / "df.npy").unlink()
    dm = json.loads((folder / "dense" / "manifest.json").read_text())
    assert dm["base_rows"] == dm["n_rows"] and not (folder / "dense" / TAIL).exists()
    dm.pop("base_rows")
    (folder / "dense" / "manifest.json").write_text(json.dumps({**dm, "format": 1}))
    with KnowledgeGraph.open(g.store.url, create=False) as again:
        after = [(h.id, round(h.score, 5)) for h in again.search("graph retrieval", k=10).hits]
    assert after == before
    assert json.loads((folder / "manifest.json").read_text())["format"] == 2
    assert (folder / "rows" / "meta.json").exists() and not (folder / "rows.jsonl").exists()
    assert not (folder / "names.json").exists()
    assert SearchIndex.load(folder).table.name(0) == names[next(iter(names))]
    g.ingest(write(tmp_path / "more" / "m.jsonl", papers("m", 5, 9)))  # the upgraded legs take updates
    assert json.loads((folder / "bm25" / "params.json").read_text())["version"] == 2
    assert json.loads((folder / "dense" / "manifest.json").read_text())["format"] == 2
    assert len(g.search("graph retrieval", k=50).hits) == 45


# -- small updates write little -------------------------------------------------------------------
def test_adding_and_removing_a_file_rewrites_no_leg(tmp_path: Path, g):
    base = write(tmp_path / "in" / "base.jsonl", papers("p", 300, 2))
    idx = build(g, base)
    idx.dense.config = DenseConfig(exact_threshold=100, tail_merge_rows=1_000, ann_tail=1_000)
    idx.dense.save(idx.folder / "dense")  # above the threshold now: the HNSW graph is built and saved
    assert (idx.folder / "dense" / "ann.usearch").exists()
    fixed = ["bm25/postings_rows.npy", "bm25/postings_tf.npy", "bm25/doc_terms.npy", "dense/vectors.npy",
             "dense/ann.usearch"]
    was = stamps(idx.folder, *fixed)
    new = write(tmp_path / "new" / "new.jsonl", [rec("n1", "zebra migration across rivers", 2024, "zebra herds"),
                                                *papers("q", 20, 3)])
    g.ingest(new)
    assert stamps(idx.folder, *fixed) == was  # appended to the delta segment and the vector tail only
    assert (idx.folder / "dense" / TAIL).exists()
    for mode in ("bm25", "dense", "hybrid"):
        assert g.search("zebra migration rivers", k=3, mode=mode).hits[0].id == "paper:s2:n1", mode
    loaded = SearchIndex.load(idx.folder)
    assert loaded.dense.has_ann and loaded.dense._ann_rows == 300  # the new rows wait outside the graph
    # the same scores as an index built afresh from the same store
    fresh = SearchIndex(tmp_path / "fresh", {"format": 2, "version": 0, "dense": False, "encoder": "hash:32:1"})
    fresh.sync(g.store, embed=False)
    q = "zebra graph retrieval protein"
    got = {loaded.table.ids[r]: s for r, s in zip(*loaded.bm25.search(q, k=50), strict=True)}
    want = {fresh.table.ids[r]: s for r, s in zip(*fresh.bm25.search(q, k=50), strict=True)}
    assert got.keys() == want.keys() and all(np.isclose(got[k], want[k], rtol=1e-5) for k in got)
    g.remove(new)
    assert stamps(idx.folder, *fixed) == was
    assert g.search("zebra migration rivers", k=3, mode="hybrid").hits[0].id != "paper:s2:n1"
    assert g.check().ok


def test_bm25_saved_delta_and_deletes_score_like_a_fresh_index(tmp_path: Path):
    rng = np.random.default_rng(5)
    docs = [" ".join(rng.choice(WORDS, 12)) for _ in range(3000)]
    idx = BM25Index()
    idx.add(docs[:2000])
    idx.save(tmp_path / "b")
    main = stamps(tmp_path / "b", "postings_rows.npy", "postings_indptr.npy")
    loaded = BM25Index.load(tmp_path / "b")
    loaded.add([*docs[2000:2100], "an unseen word xylophone"])
    loaded.delete([3, 2050])
    loaded.save(tmp_path / "b")
    assert stamps(tmp_path / "b", "postings_rows.npy", "postings_indptr.npy") == main
    back = BM25Index.load(tmp_path / "b")
    live = [d for i, d in enumerate([*docs[:2100], "an unseen word xylophone"]) if i not in (3, 2050)]
    ref = BM25Index()
    ref.add(live)
    keep = np.asarray([i for i in range(2101) if i not in (3, 2050)])
    for q in ("graph retrieval", "xylophone", "protein folding kinetics"):
        assert np.allclose(back.scores(q)[keep], ref.scores(q), rtol=1e-5), q
        assert np.allclose(back.scores(q), loaded.scores(q))
    assert back.search("xylophone")[0].tolist() == [2100]


def test_dense_tail_is_saved_apart_then_merged(tmp_path: Path):
    rng = np.random.default_rng(6)
    vecs = rng.standard_normal((500, 16)).astype(np.float32)
    cfg = DenseConfig(exact_threshold=100, tail_merge_rows=50, ann_tail=20, ann_dtype="f16")
    idx = DenseIndex(dim=16, config=cfg)
    idx.add(vecs[:300])
    idx.save(tmp_path / "d")
    base = stamps(tmp_path / "d", "vectors.npy", "ann.usearch")
    d = DenseIndex.load(tmp_path / "d")
    d.add(vecs[300:310])
    d.save(tmp_path / "d")
    assert stamps(tmp_path / "d", "vectors.npy", "ann.usearch") == base and (tmp_path / "d" / TAIL).exists()
    d = DenseIndex.load(tmp_path / "d")
    assert d._ann_rows == 300 and d.search(vecs[305], k=1)[0].tolist() == [305]  # found in the exact tail
    assert np.allclose(d.take([5, 305]), d.vectors[[5, 305]])
    d.add(vecs[310:340])  # more than ann_tail wait outside: inserted into the graph
    assert d._ann_rows == 340
    d.add(vecs[340:])
    d.save(tmp_path / "d")  # the tail outgrew tail_merge_rows: one vectors.npy again
    assert not (tmp_path / "d" / TAIL).exists()
    back = DenseIndex.load(tmp_path / "d")
    assert back.n_rows == 500 and np.allclose(back.vectors, d.vectors)
    # the merged graph covers every row: each query vector finds its own row first, and the graph's
    # top 5 mostly agree with exact search (HNSW is approximate: not every neighbour is guaranteed)
    overlap = []
    for i in range(0, 500, 50):
        got, exact = back.search(vecs[i], k=5)[0].tolist(), back.search_exact(vecs[i], k=5)[0].tolist()
        assert got[0] == exact[0] == i
        overlap.append(len(set(got) & set(exact)) / 5)
    assert sum(overlap) / len(overlap) >= 0.8, overlap


@pytest.mark.parametrize("dtype", ["f16", "i8"])
def test_quantised_graph_rescored_in_full_precision(dtype: str):
    pytest.importorskip("usearch")
    rng = np.random.default_rng(7)
    centers = rng.standard_normal((50, 64))
    vecs = (centers[rng.integers(0, 50, 5000)] + 0.5 * rng.standard_normal((5000, 64))).astype(np.float32)
    idx = DenseIndex(dim=64, config=DenseConfig(exact_threshold=0, ann_dtype=dtype))
    idx.add(vecs)
    queries = vecs[rng.integers(0, 5000, 100)] + 0.1 * rng.standard_normal((100, 64)).astype(np.float32)
    assert ann_recall_at_10(idx, queries) >= 0.95
    q = queries[0] / np.linalg.norm(queries[0])
    rows, scores = idx.search(q, k=10)
    assert np.allclose(scores, idx.vectors[rows] @ q, atol=1e-5)  # exact float32 scores
