"""Tests for the Jupyter notebook reader (ingest/readers/notebook.py)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from ingest.readers.base import FileInfo, select_reader
from ingest.readers.notebook import MAX_OUTPUT_CHARS, NotebookReader, as_text
from kg.errors import ReaderError
from kg.model import Label, ReadResult, Rel

nbformat = pytest.importorskip("nbformat")
v4 = nbformat.v4

READER = NotebookReader()


def write(path: Path, data: str | bytes) -> Path:
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def read(path: Path) -> ReadResult:
    return READER.read(path, path.read_bytes())


def doc_and_chunks(res: ReadResult) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    (doc,) = [n for n in res.nodes if n.label == Label.DOCUMENT]
    return doc.properties, [n.properties for n in res.nodes if n.label == Label.CHUNK]


def notebook(**metadata: Any) -> Any:
    nb = v4.new_notebook(metadata={"kernelspec": {"name": "ir", "language": "R", "display_name": "R"}, **metadata})
    nb.cells = [
        v4.new_markdown_cell("Intro text before the heading."),
        v4.new_markdown_cell("# Retrieval *Demo*\n\nWe compare BM25 and dense retrieval."),
        v4.new_code_cell("x <- c(1, 2, 3)\nprint(x)", execution_count=1, outputs=[
            v4.new_output("stream", name="stdout", text="[1] 1 2 3\n"),
            v4.new_output("display_data", data={"image/png": "iVBORw0KGgo=" * 1000, "text/plain": "<plot>"}),
            v4.new_output("error", ename="ValueError", evalue="bad value", traceback=["..."])]),
        v4.new_raw_cell("\\LaTeX raw cell, skipped"),
        v4.new_code_cell(""),
        v4.new_markdown_cell("## Results\n\n" + "word " * 450),
    ]
    return nb


def test_cells_become_chunks(tmp_path: Path) -> None:
    nb = notebook(authors=[{"name": "Ann Lee"}, "Bo Chen", {"affiliation": "no name"}], tags=["ir", "demo"])
    res = read(write(tmp_path / "demo.ipynb", nbformat.writes(nb)))
    doc, chunks = doc_and_chunks(res)
    assert (doc["title"], doc["format"], doc["language"], doc["n_cells"]) == ("Retrieval Demo", "ipynb", "r", 6)
    assert doc["authors"] == ["Ann Lee", "Bo Chen"]
    cells = [(c["cell"], c["cell_type"]) for c in chunks]
    assert cells[:3] == [(0, "markdown"), (1, "markdown"), (2, "code")]
    assert len(cells) >= 6 and set(cells[3:]) == {(5, "markdown")}  # a long cell: several chunks, one index
    code = chunks[2]["text"]
    assert code.startswith("```r\nx <- c(1, 2, 3)\nprint(x)\n```\nOutput:\n[1] 1 2 3\n<plot>\nValueError: bad value")
    assert "iVBOR" not in code
    assert [e.properties["index"] for e in res.edges if e.type == Rel.HAS_CHUNK] == list(range(len(cells)))
    assert {n.id for n in res.nodes if n.label == Label.CATEGORY} == {"category:tag:ir", "category:tag:demo"}
    assert not res.warnings and not res.errors


def test_title_from_metadata_then_heading_then_file_name(tmp_path: Path) -> None:
    res = read(write(tmp_path / "a.ipynb", nbformat.writes(notebook(title="From Metadata"))))
    assert doc_and_chunks(res)[0]["title"] == "From Metadata"
    nb = v4.new_notebook()
    nb.cells = [v4.new_code_cell("# not a heading: a comment\n1 + 1")]
    res = read(write(tmp_path / "untitled-analysis.ipynb", nbformat.writes(nb)))
    doc, chunks = doc_and_chunks(res)
    assert doc["title"] == "untitled-analysis" and doc["language"] == "code"
    assert chunks[0]["text"].startswith("```code\n# not a heading")


def test_huge_outputs_are_capped(tmp_path: Path) -> None:
    nb = v4.new_notebook()
    nb.cells = [v4.new_code_cell("print('x' * 10**7)", execution_count=1, outputs=[
        v4.new_output("stream", name="stdout", text="line of output\n" * 400_000),
        v4.new_output("execute_result", data={"text/plain": ["a", "b" * 10**6]}, execution_count=1)])]
    path = write(tmp_path / "big.ipynb", nbformat.writes(nb))
    assert path.stat().st_size > 6_000_000
    t0 = time.perf_counter()
    res = read(path)
    assert time.perf_counter() - t0 < 20
    _, chunks = doc_and_chunks(res)
    assert len(chunks[0]["text"]) < MAX_OUTPUT_CHARS + 200
    assert "1 cell output(s) cut at 2000 characters" in res.warnings


def test_nbformat3_is_upgraded(tmp_path: Path) -> None:
    v3 = nbformat.v3
    nb3 = v3.new_notebook(metadata={"name": "old"})
    nb3.worksheets.append(v3.new_worksheet(cells=[
        v3.new_heading_cell("Old Notebook", level=1), v3.new_text_cell("markdown", source="Some *prose*."),
        v3.new_code_cell(input="print(42)", outputs=[v3.new_output("stream", output_text="42\n")])]))
    res = read(write(tmp_path / "old.ipynb", nbformat.writes(nb3, version=3)))
    doc, chunks = doc_and_chunks(res)
    assert doc["title"] == "Old Notebook" and doc["language"] == "python"
    assert chunks[-1]["text"] == "```python\nprint(42)\n```\nOutput:\n42"
    assert "nbformat 3 notebook upgraded to nbformat 4" in res.warnings


def test_non_string_sources_and_schema_errors_are_warnings(tmp_path: Path) -> None:
    raw = {"nbformat": 4, "nbformat_minor": 5, "metadata": {"authors": "Ann Lee"}, "cells": [
        {"cell_type": "code", "source": ["total = ", 3], "metadata": {}, "outputs": "not a list"},
        7,
        {"cell_type": "markdown", "source": {"text": "odd"}, "metadata": {}},
        {"cell_type": "markdown", "source": "# Kept Title", "metadata": {}}]}
    res = read(write(tmp_path / "odd.ipynb", json.dumps(raw)))
    doc, chunks = doc_and_chunks(res)
    assert doc["title"] == "Kept Title" and doc["authors"] == ["Ann Lee"]
    assert [(c["cell"], c["text"]) for c in chunks] == [
        (0, "```code\ntotal = 3\n```"), (2, '{"text":"odd"}'), (3, "# Kept Title")]
    assert "1 cell(s) that are not JSON objects skipped" in res.warnings
    assert "3 cell field(s) that were not strings converted to text" in res.warnings
    assert any(w.startswith("notebook does not match the nbformat schema (read anyway)") for w in res.warnings)
    assert not res.errors


def test_too_many_cells_are_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import ingest.readers.notebook as mod

    monkeypatch.setattr(mod, "MAX_CELLS", 10)
    nb = v4.new_notebook()
    nb.cells = [v4.new_markdown_cell(f"cell {i}") for i in range(25)]
    res = read(write(tmp_path / "many.ipynb", nbformat.writes(nb)))
    assert len(doc_and_chunks(res)[1]) == 10
    assert "only the first 10 cells read (15 more skipped)" in res.warnings


@pytest.mark.parametrize("data, message", [
    ('{"cells": [', "invalid JSON"),
    ("[1, 2, 3]", "not a Jupyter notebook"),
    ('{"metadata": {}}', "not a Jupyter notebook"),
    ('{"nbformat": 9, "nbformat_minor": 0, "cells": []}', "not a readable notebook: Unsupported nbformat version 9"),
    ('{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": []}', "no text content"),
    ("[" * 5000 + "]" * 5000, "invalid JSON"),
    (b"\x00\x01\x02\x03", "binary"),
])
def test_unreadable_notebooks_raise_one_line(tmp_path: Path, data: str | bytes, message: str) -> None:
    with pytest.raises(ReaderError, match=message) as e:
        read(write(tmp_path / "bad.ipynb", data))
    assert "\n" not in str(e.value)


def test_helpers_and_sniff(tmp_path: Path) -> None:
    assert as_text(["a", 1, None]) == ("a1None", True)
    path = write(tmp_path / "x.IPYNB", "{}")
    assert getattr(select_reader(FileInfo(path, b"{}")), "name", None) == "notebook"
