"""The ingest pipeline on real files: bad input never crashes the batch or loses data;
re-ingest is incremental and exact."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from kg import KnowledgeGraph

GOOD_MD = "---\ntitle: Good note\n---\n# Good note\n\nBM25 and embeddings, fused.\n"


def snapshot(g: KnowledgeGraph) -> tuple[list, list]:
    nodes = sorted((n.id, n.label, json.dumps(n.properties, sort_keys=True)) for n in g.nodes())
    edges = sorted((e.source, e.type, e.target, json.dumps(e.properties, sort_keys=True)) for e in g.edges())
    return nodes, edges


@pytest.fixture
def g(tmp_path: Path):
    graph = KnowledgeGraph.open(tmp_path / "store")
    yield graph
    graph.close()


def test_bad_inputs_each_get_one_error_and_good_files_are_kept(tmp_path, g, shared, monkeypatch):
    d = tmp_path / "in"
    d.mkdir()
    (d / "good.md").write_text(GOOD_MD)
    (d / "good.txt").write_text("plain text survives")
    (d / "junk.md").write_bytes(os.urandom(2048).replace(b"\x00", b"\x01") + b"\x00" * 16)
    (d / "empty.txt").write_bytes(b"")
    (d / "latin1.txt").write_bytes("caf\xe9 au lait".encode("latin-1"))
    (d / "broken-fm").mkdir()
    (d / "broken-fm" / "SKILL.md").write_text("---\nname: [unclosed\ndescription: x\n---\nbody\n")
    pdf = (shared / "data" / "pdfs" / "2020.acl-main.447.pdf").read_bytes()
    (d / "truncated.pdf").write_bytes(pdf[: len(pdf) // 3])
    (d / "garbage.pdf").write_bytes(b"%PDF-1.7\n" + os.urandom(4096))
    (d / "meta.jsonl").write_text(
        json.dumps({"paper_id": "1", "title": "First good record", "authors": [], "year": 2020}) + "\n"
        + "{not json\n"
        + json.dumps({"paper_id": "2", "title": "Second good record", "authors": [], "year": 2021}) + "\n")
    (d / "loop.md").symlink_to(d / "loop.md")
    (d / "huge.txt").write_text("word " * 300_000)
    (d / "secret.txt").write_text("unreadable")
    real_open = open

    def guarded_open(file, *a, **k):  # root can read anything: simulate EACCES for one file
        if str(file).endswith("secret.txt"):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *a, **k)

    monkeypatch.setattr("builtins.open", guarded_open)
    report = g.ingest(d, embed=False, max_file_mb=1)
    monkeypatch.undo()
    by = {Path(f.path).name: f for f in report.files}
    failed = {name for name, f in by.items() if f.status in ("failed", "partial")}
    assert failed == {"junk.md", "empty.txt", "SKILL.md", "truncated.pdf", "garbage.pdf",
                      "meta.jsonl", "loop.md", "huge.txt", "secret.txt"}
    for name in failed:
        err = by[name].error
        assert err and "\n" not in err, (name, err)
    assert by["latin1.txt"].status == "added" and by["latin1.txt"].warnings == ["decoded as cp1252 (not UTF-8)"]
    assert "empty" in by["empty.txt"].error
    assert "symlink loop" in by["loop.md"].error
    assert "limit" in by["huge.txt"].error
    assert "Permission denied" in by["secret.txt"].error
    assert by["meta.jsonl"].status == "partial" and "line 2" in by["meta.jsonl"].error
    assert by["good.md"].status == by["good.txt"].status == "added"
    titles = {n.properties.get("title") for n in g.nodes()}
    assert {"Good note", "First good record", "Second good record"} <= titles
    assert not report.ok


def test_a_file_that_turns_bad_keeps_its_previous_data(tmp_path, g):
    d = tmp_path / "in"
    d.mkdir()
    f = d / "note.md"
    f.write_text(GOOD_MD)
    g.ingest(d, embed=False)
    before = snapshot(g)
    f.write_bytes(b"\x7fELF\x00\x01 binary now")  # NUL bytes, no BOM (a UTF-16 BOM now makes it text)
    report = g.ingest(d, embed=False)
    assert report.files[0].status == "failed"
    assert snapshot(g) == before


def test_unchanged_folder_is_skipped_and_changes_nothing(tmp_path, g, shared):
    src = shared / "data" / "skills" / "anthropics"
    first = g.ingest(src, embed=False)
    assert first.ok and first.count("added") > 10
    before = snapshot(g)
    again = g.ingest(src, embed=False)
    assert again.count("unchanged") == len(again.files)
    assert snapshot(g) == before
    # touching a file (new mtime, same bytes) still changes nothing: the content hash decides
    p = next(src.rglob("SKILL.md"))
    dst = tmp_path / "copy"
    shutil.copytree(src, dst)
    g2 = KnowledgeGraph.open(tmp_path / "s2")
    g2.ingest(dst, embed=False)
    os.utime(dst / p.relative_to(src), (1, 1))
    rep = g2.ingest(dst, embed=False)
    assert rep.count("unchanged") == len(rep.files)
    g2.close()


def test_add_edit_delete_equals_fresh_ingest_of_final_folder(tmp_path):
    d = tmp_path / "papers"
    d.mkdir()
    (d / "a.bib").write_text("@article{a, title={Sparse Retrieval Revisited}, author={Lee, Ann and Kim, Bo},"
                             " year={2021}, doi={10.1/sr}}\n")
    (d / "b.jsonl").write_text(json.dumps({"paper_id": "77", "title": "Sparse retrieval revisited", "year": 2021,
                                           "authors": [{"first": "Ann", "middle": [], "last": "Lee", "suffix": ""}],
                                           "abstract": "We revisit BM25.", "outbound_citations": ["88"]}) + "\n")
    (d / "c.md").write_text(GOOD_MD)
    inc = KnowledgeGraph.open(tmp_path / "inc")
    inc.ingest(d, embed=False)
    merged = [n for n in inc.nodes("Paper") if not n.properties.get("stub")]
    assert len(merged) == 1 and merged[0].id == "paper:doi:10.1/sr"  # BibTeX + JSON, one paper
    assert len(inc.node(merged[0].id).sources) == 2
    # edit one file, delete another, add a new one
    (d / "a.bib").write_text("@article{a, title={Sparse Retrieval Revisited}, author={Lee, Ann and Chen, Cy},"
                             " year={2021}, doi={10.1/sr}}\n")
    (d / "c.md").unlink()
    (d / "d.txt").write_text("a new plain text file")
    rep = inc.ingest(d, embed=False, prune=True)
    assert rep.summary() == {"updated": 1, "unchanged": 1, "added": 1, "removed": 1}
    fresh = KnowledgeGraph.open(tmp_path / "fresh")
    fresh.ingest(d, embed=False)
    assert snapshot(inc) == snapshot(fresh)
    assert "author:name:bo-kim" not in {n.id for n in inc.nodes("Author")}
    # kg remove drops exactly that file's contributions
    inc.remove(d / "b.jsonl")
    paper = inc.node("paper:doi:10.1/sr")
    assert "abstract" not in paper.properties and len(paper.sources) == 1
    assert not [e for e in inc.edges() if e.type == "CITES"]
    inc.close()
    fresh.close()
