"""Tests for the BEIR corpus reader (ingest/readers/beir.py)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from ingest.pipeline import ingest_paths
from ingest.readers.base import HEAD_BYTES, FileInfo, get_reader, select_reader
from ingest.readers.beir import QUERIES_WARNING, BeirCorpusReader, dataset_name, display_name
from kg.errors import ReaderError
from kg.model import Label, NodeRecord, ReadResult, Rel
from kg.store import open_store

READER = BeirCorpusReader()

DOCS = [
    {"_id": "1", "title": "Mucus in CF", "text": "Calcium changes mucus.",
     "metadata": {"authors": ["Hoiby N.", "brenckman,m.", {"first": "Jane", "middle": ["Q."], "last": "Doe", "suffix": ""},
                              {"name": "Wei Li"}, "", None],
                  "keywords": ["cystic fibrosis", "mucus"], "venue": "Acta-Paediatr-Scand", "year": 1974,
                  "outbound_citations": ["2", "1"], "inbound_citations": ["3"]}},
    {"_id": "2", "title": "Mucus in CF", "text": "Same title, other document.", "metadata": {"year": "1974"}},
    {"_id": "3", "title": "", "text": "A document without a title."},
]


def folder(tmp_path: Path, name: str = "cfmini", docs: list | None = None, *, queries: bool = True) -> Path:
    d = tmp_path / name
    d.mkdir()
    (d / "corpus.jsonl").write_text("\n".join(json.dumps(r) for r in (docs or DOCS)) + "\n", encoding="utf-8")
    if queries:
        (d / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": "What about mucus?"}) + "\n")
        (d / "qrels").mkdir()
        (d / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\t1\t1\n")
    return d


def read(p: Path) -> ReadResult:
    return READER.read(p, p.read_bytes())


def papers(res: ReadResult) -> dict[str, NodeRecord]:
    return {n.id: n for n in res.nodes if n.label == Label.PAPER and not n.stub}


def edges(res: ReadResult, rel: str) -> set[tuple[str, str]]:
    return {(e.source, e.target) for e in res.edges if e.type == rel}


def test_registered_and_selected(tmp_path):
    d = folder(tmp_path)
    assert get_reader("beir-corpus").priority == 30
    for name in ("corpus.jsonl", "queries.jsonl"):
        p = d / name
        assert select_reader(FileInfo(p, p.read_bytes()[:HEAD_BYTES])).name == "beir-corpus"
    assert select_reader(FileInfo(d / "qrels/test.tsv", (d / "qrels/test.tsv").read_bytes())) is None


def test_sniff_rejects_other_json(tmp_path):
    p = tmp_path / "meta.jsonl"
    p.write_text(json.dumps({"paper_id": "1", "title": "t"}) + "\n")
    assert not READER.sniff(FileInfo(p, p.read_bytes()))
    p = tmp_path / "corpus.json"
    p.write_text(json.dumps(DOCS))
    assert not READER.sniff(FileInfo(p, p.read_bytes()))


def test_records(tmp_path):
    res = read(folder(tmp_path) / "corpus.jsonl")
    assert not res.errors and not res.warnings
    full = papers(res)
    assert set(full) == {"paper:beir:cfmini:1", "paper:beir:cfmini:2", "paper:beir:cfmini:3"}
    one = full["paper:beir:cfmini:1"]
    assert one.keys == ("beir:cfmini:1",)  # never a title key: same-titled documents stay apart
    assert full["paper:beir:cfmini:2"].keys == ("beir:cfmini:2",)
    p = one.properties
    assert (p["title"], p["abstract"], p["year"], p["venue"]) == ("Mucus in CF", "Calcium changes mucus.", 1974, "Acta-Paediatr-Scand")
    assert (p["beir_id"], p["dataset"], p["n_authors"]) == ("1", "cfmini", 4)  # beir_id is the bare corpus _id
    assert full["paper:beir:cfmini:2"].properties["year"] == 1974
    assert "title" not in full["paper:beir:cfmini:3"].properties
    authors = {n.properties["name"] for n in res.nodes if n.label == Label.AUTHOR}
    assert authors == {"Hoiby N.", "m. brenckman", "Jane Q. Doe", "Wei Li"}
    assert {n.id for n in res.nodes if n.label == Label.CATEGORY} == {"category:keyword:cystic-fibrosis", "category:keyword:mucus"}
    assert edges(res, Rel.PUBLISHED_IN) == {("paper:beir:cfmini:1", "venue:acta-paediatr-scand")}
    # citations are corpus ids of the same dataset; the self-citation is dropped
    assert edges(res, Rel.CITES) == {("paper:beir:cfmini:1", "paper:beir:cfmini:2"), ("paper:beir:cfmini:3", "paper:beir:cfmini:1")}


def test_queries_file_is_skipped(tmp_path):
    d = folder(tmp_path)
    res = read(d / "queries.jsonl")
    assert res.nodes == [] and res.edges == [] and res.warnings == [QUERIES_WARNING]
    # without a corpus next to it, a file called queries.jsonl is an ordinary corpus
    lone = tmp_path / "lone"
    lone.mkdir()
    (lone / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": "x"}) + "\n")
    assert set(papers(read(lone / "queries.jsonl"))) == {"paper:beir:queries:q1"}


def test_dataset_name(tmp_path):
    assert dataset_name(Path("/data/scifact/corpus.jsonl")) == "scifact"
    assert dataset_name(Path("/data/beir/nfcorpus.jsonl")) == "nfcorpus"


def test_display_name():
    assert display_name("brenckman,m.") == "m. brenckman"
    assert display_name("Doe,  Jane ") == "Jane Doe"
    assert display_name("Hoiby N.") == "Hoiby N."
    assert display_name("a, b, c") == "a, b, c"


def test_bad_lines(tmp_path):
    d = folder(tmp_path, docs=[DOCS[0]])
    with (d / "corpus.jsonl").open("a") as fh:
        fh.write('{"_id": "9", "text": \n[1]\n{"title": "no id", "text": "x"}\n' + json.dumps(DOCS[1]) + "\n")
    res = read(d / "corpus.jsonl")
    assert set(papers(res)) == {"paper:beir:cfmini:1", "paper:beir:cfmini:2"}
    assert res.errors[0].startswith("line 2: invalid JSON (")
    assert res.errors[1:] == ["line 3: not a JSON object", "line 4: record has no _id"]


def test_nothing_usable_raises(tmp_path):
    p = tmp_path / "corpus.jsonl"
    p.write_text('{"_id": \n{"text": "x"}\n')
    with pytest.raises(ReaderError, match="no BEIR corpus records"):
        read(p)


def test_pipeline_ingests_corpus_not_queries(tmp_path):
    d = folder(tmp_path)
    store = open_store(tmp_path / "kg")
    report = ingest_paths(store, [d])
    by_name = {Path(f.path).name: f for f in report.files}
    assert by_name["corpus.jsonl"].status == "added" and by_name["corpus.jsonl"].reader == "beir-corpus"
    assert by_name["queries.jsonl"].nodes == 0 and by_name["queries.jsonl"].warnings == [QUERIES_WARNING]
    assert by_name["test.tsv"].status == "unsupported"
    ids = {n.id for n in store.iter_nodes([Label.PAPER])}
    assert ids == {"paper:beir:cfmini:1", "paper:beir:cfmini:2", "paper:beir:cfmini:3"}


@pytest.mark.slow
def test_speed_100k_records(tmp_path):
    line = json.dumps({"_id": "ID", "title": "A title of a paper", "text": "Some abstract text. " * 40})
    p = tmp_path / "big" / "corpus.jsonl"
    p.parent.mkdir()
    p.write_text("\n".join(line.replace('"ID"', f'"{i}"') for i in range(100_000)))
    t0 = time.perf_counter()
    res = read(p)
    assert len(res.nodes) == 100_000
    assert time.perf_counter() - t0 < 15  # about 2 s on a laptop; generous for loaded CI machines


# ---------------------------------------------------------------------------- shared data

def test_shared_scifact(shared):
    p = shared / "eval/scifact/corpus.jsonl"
    data = p.read_bytes()
    t0 = time.perf_counter()
    res = READER.read(p, data)
    assert time.perf_counter() - t0 < 1.0
    assert not res.errors
    full = papers(res)
    assert len(full) == 5183 and len(res.nodes) == 5183 and res.edges == []
    doc = full["paper:beir:scifact:4983"].properties
    assert doc["beir_id"] == "4983" and doc["dataset"] == "scifact"
    assert doc["title"].startswith("Microstructural development of human newborn cerebral white matter")
    assert doc["abstract"].startswith("Alterations of the architecture of cerebral white matter")
    q = shared / "eval/scifact/queries.jsonl"
    assert READER.read(q, q.read_bytes()).warnings == [QUERIES_WARNING]


def test_shared_cf_and_cranfield(shared):
    cf = shared / "eval/cf/corpus.jsonl"
    res = READER.read(cf, cf.read_bytes())
    assert not res.errors and len(papers(res)) == 1239
    one = papers(res)["paper:beir:cf:1"]
    assert one.properties["year"] == 1974 and one.properties["venue"] == "Acta-Paediatr-Scand"
    assert ("author:name:hoiby-n", one.id) in edges(res, Rel.AUTHORED)
    assert (one.id, "category:keyword:pseudomonas-aeruginosa") in edges(res, Rel.IN_CATEGORY)
    shared_authors = [e.source for e in res.edges if e.type == Rel.AUTHORED]
    assert len(shared_authors) > len(set(shared_authors))  # authors link several CF papers
    cran = shared / "eval/cranfield/corpus.jsonl"
    res = READER.read(cran, cran.read_bytes())
    assert not res.errors and len(papers(res)) == 1400
    assert ("author:name:m-brenckman", "paper:beir:cranfield:1") in edges(res, Rel.AUTHORED)
