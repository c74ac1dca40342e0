"""The per-format table at the end of ``kg ingest``: ``IngestReport.by_format`` and its output."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ingest.pipeline import FileReport, IngestReport, ingest_paths
from kg.cli import app
from kg.graph import KnowledgeGraph

runner = CliRunner()
BIB = "@article{lee2020,\n  title = {Graphs of Reefs},\n  author = {Lee, Ann},\n  year = {2020},\n}\n"
COUNTED = ("files", "nodes", "edges", "errors")


def mixed_folder(root: Path) -> Path:
    d = root / "mixed"
    d.mkdir()
    (d / "notes.md").write_text("# Notes\n\nSome notes about reefs.\n")
    (d / "refs.bib").write_text(BIB)
    (d / "dive.txt").write_text("Dive log: the water was clear.\n")
    (d / "bad.pdf").write_bytes(b"%PDF-1.4\ngarbage, not a PDF\n")
    (d / "data.bin").write_bytes(b"\x00\x01\x02")
    with zipfile.ZipFile(d / "lab.zip", "w") as zf:
        zf.writestr("a.md", "# A\n\ntext a\n")
        zf.writestr("b.txt", "bee text\n")
        zf.writestr("broken.pdf", "%PDF-1.4 nope")
    return d


EXPECTED = {  # files, nodes, edges, errors (files that failed in whole or in part)
    "archive": (1, 4, 2, 1),  # two Documents with a Chunk each; broken.pdf is a member error
    "bibtex": (1, 2, 1, 0),  # Paper, Author, AUTHORED
    "markdown": (1, 2, 1, 0),
    "pdf": (1, 0, 0, 1),
    "text": (1, 2, 1, 0),
    "unsupported": (1, 0, 0, 0),
}


def counts(formats: dict[str, dict]) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v[c] for c in COUNTED) for k, v in formats.items()}


def kg(*args: str) -> tuple[int, str]:
    res = runner.invoke(app, list(args), catch_exceptions=False)
    return res.exit_code, res.stdout


def test_json_has_per_format_rows(tmp_path: Path) -> None:
    folder = mixed_folder(tmp_path)
    store = str(tmp_path / "kg")
    code, out = kg("ingest", str(folder), "--store", store, "--json", "--no-embed")
    assert code == 1  # the bad PDF
    rep = json.loads(out)
    assert counts(rep["formats"]) == EXPECTED
    assert list(rep["formats"]) == ["archive", "bibtex", "markdown", "pdf", "text", "unsupported"]
    assert all(set(row) == {*COUNTED, "seconds"} and row["seconds"] >= 0 for row in rep["formats"].values())
    files = {Path(f["path"]).name: f for f in rep["files"]}
    assert files["bad.pdf"]["reader"] == "pdf" and files["bad.pdf"]["status"] == "failed"
    assert files["lab.zip"]["status"] == "partial"
    assert all(f["seconds"] > 0 for f in rep["files"])  # filled in the forked first-load process too
    # nothing changed: every readable file is unchanged, the bad ones are read (and fail) again
    code, out = kg("ingest", str(folder), "--store", store, "--json", "--no-embed")
    assert counts(json.loads(out)["formats"]) == {"pdf": (1, 0, 0, 1), "unchanged": (4, 0, 0, 0),
                                                  "unsupported": (1, 0, 0, 0)}


def test_text_output_ends_with_the_table(tmp_path: Path) -> None:
    folder = mixed_folder(tmp_path)
    store = str(tmp_path / "kg")
    code, out = kg("ingest", str(folder), "--store", store, "--no-embed")
    assert code == 1
    assert "Formats" in out
    header = next(line for line in out.splitlines() if "format" in line and "seconds" in line)
    assert [w for w in header.replace("┃", " ").split()] == ["format", "files", "nodes", "edges", "errors", "seconds"]
    rows = {}
    for line in out.splitlines():
        cells = [c.strip() for c in line.strip("│ ").split("│")]
        if len(cells) == 6 and cells[0] in EXPECTED:
            rows[cells[0]] = tuple(int(c) for c in cells[1:5])
    assert rows == EXPECTED
    assert out.index("Formats") < out.index("Graph")  # after the summary line, before the graph's counts
    # a second run reads only the bad files; a run that reads nothing prints no table
    (folder / "bad.pdf").unlink()
    (folder / "data.bin").unlink()
    code, out = kg("ingest", str(folder), "--store", store, "--no-embed")
    assert code == 0 and "4 unchanged" in out and "Formats" not in out


@pytest.mark.parametrize("workers,first_load", [(1, False), (2, False), (2, True)])
def test_every_load_path_fills_reader_and_seconds(tmp_path: Path, workers: int, first_load: bool) -> None:
    folder = mixed_folder(tmp_path)
    with KnowledgeGraph.open(tmp_path / "kg") as g:
        rep = ingest_paths(g.store, [folder], workers=workers, first_load=first_load)
    assert counts(rep.by_format()) == EXPECTED
    assert all(f.seconds > 0 for f in rep.files)
    assert rep.to_dict()["formats"] == {k: {**v, "seconds": round(v["seconds"], 3)} for k, v in rep.by_format().items()}


def test_by_format_groups() -> None:
    rep = IngestReport([
        FileReport("/a.md", "added", "markdown", 2, 1, seconds=0.5),
        FileReport("/b.md", "partial", "markdown", 1, 0, errors=["x"], seconds=0.25),
        FileReport("/c.md", "unchanged", "markdown"),
        FileReport("/gone.md", "removed", "markdown", 3, 2),
        FileReport("/empty.txt", "failed", "", errors=["empty file (0 bytes)"]),
        FileReport("/x.bin", "unsupported", seconds=0.1),
    ])
    got = rep.by_format()
    assert list(got) == ["markdown", "failed", "removed", "unchanged", "unsupported"]
    assert got["markdown"] == {"files": 2, "nodes": 3, "edges": 1, "errors": 1, "seconds": 0.75}
    assert got["failed"]["errors"] == 1 and got["removed"]["nodes"] == 3
    assert IngestReport().by_format() == {} and IngestReport().to_dict()["formats"] == {}
