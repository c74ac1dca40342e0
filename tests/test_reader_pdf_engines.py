"""Both PDF extractors (PDFium, the default, and pdfminer) against what the reader extracted before PDFium.

``tests/data/pdf_reader_baseline.json`` records the pdfminer-based reader's output on the shared
PDFs (title, authors, abstract, year, venue, pages, chunk count, number of references). Front matter
must stay exactly the same, and so must the number of references; the reference entries must be the
same with either extractor (their parsing, ``ingest/reference_parser.py``, evolves on its own); the
full text may differ only in a few words (math set differently, more line-end hyphens undone), so
the chunk count may move by a couple.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from ingest.readers import pdf_pdfium, pdf_pdfminer
from ingest.readers.pdf import PdfReader
from ingest.readers.pdf_layout import full_text, hyphenated_words, references
from kg.model import Label, ReadResult, Rel

BASELINE = json.loads((Path(__file__).parent / "data" / "pdf_reader_baseline.json").read_text("utf-8"))["papers"]

def summary(res: ReadResult) -> dict[str, Any]:
    """The fields the baseline records, from one read."""
    paper = next(n for n in res.nodes if n.label == Label.PAPER and not n.stub)
    names = {n.id: n.properties["name"] for n in res.nodes if n.label == Label.AUTHOR}
    authored = sorted((e for e in res.edges if e.type == Rel.AUTHORED), key=lambda e: e.properties["position"])
    stubs = {n.id: n.properties for n in res.nodes if n.stub}
    refs = [stubs[e.target] for e in res.edges if e.type == Rel.CITES]
    p = paper.properties
    return {"title": p["title"], "authors": [names[e.source] for e in authored], "abstract": p["abstract"],
            "year": p.get("year"), "venue": p.get("venue"), "n_pages": p["n_pages"],
            "n_chunks": sum(n.label == Label.CHUNK for n in res.nodes), "n_references": len(refs),
            "references": sorted([r.get("title"), r.get("year"), r.get("doi"), r.get("arxiv_id")] for r in refs)}


@pytest.fixture(scope="module")
def pdfs(shared: Path) -> Path:
    return shared / "data" / "pdfs"


def test_the_baseline_covers_every_shared_pdf(pdfs: Path) -> None:
    assert sorted(p.name for p in pdfs.glob("*.pdf")) == sorted(BASELINE)


@pytest.mark.parametrize("name", sorted(BASELINE))
def test_same_as_the_baseline(pdfs: Path, name: str) -> None:
    data = (pdfs / name).read_bytes()
    new, old = (summary(PdfReader(engine=e).read(pdfs / name, data)) for e in ("auto", "pdfminer"))
    want = BASELINE[name]
    for field in ("title", "authors", "abstract", "year", "venue", "n_pages", "n_references"):
        assert new[field] == old[field] == want[field], field
    assert new["references"] == old["references"]
    assert old["n_chunks"] == want["n_chunks"]
    assert abs(new["n_chunks"] - want["n_chunks"]) <= 2


@pytest.mark.parametrize("name", sorted(BASELINE))
def test_full_text_agrees_between_extractors(pdfs: Path, name: str) -> None:
    data = (pdfs / name).read_bytes()
    texts = []
    for extract in (pdf_pdfminer.extract, pdf_pdfium.extract):
        p = extract(data, 300, 120.0)
        texts.append(Counter(full_text(p, hyphenated_words(p)).split()))
    old, new = texts
    same = sum((old & new).values())
    assert same >= 0.985 * sum(old.values()) and same >= 0.985 * sum(new.values())


def test_pdfminer_runs_when_pdfium_cannot_open(pdfs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(data: bytes) -> None:
        raise pdf_pdfium.OpenError("invalid PDF: PdfiumError: Failed to load document (PDFium: Data format error).")

    monkeypatch.setattr(pdf_pdfium, "open_pdf", refuse)
    path = pdfs / sorted(BASELINE)[0]
    res = PdfReader(max_pages=1).read(path, path.read_bytes())
    assert res.warnings[0].startswith("read with pdfminer: PDFium could not open it (invalid PDF:")
    assert summary(res)["title"] == BASELINE[path.name]["title"]
    with pytest.raises(pdf_pdfium.OpenError):
        PdfReader(engine="pdfium").read(path, path.read_bytes())


@pytest.mark.parametrize("name", sorted(BASELINE))
def test_line_by_line_pages_agree_with_character_by_character(pdfs: Path, name: str,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    data = (pdfs / name).read_bytes()
    light = pdf_pdfium.extract(data, 300, 120.0)
    real = pdf_pdfium._page_lines
    monkeypatch.setattr(pdf_pdfium, "_page_lines", lambda tp, raw, page, full: real(tp, raw, page, True))
    full = pdf_pdfium.extract(data, 300, 120.0)
    assert references(light, hyphenated_words(light)) == references(full, hyphenated_words(full))
    a, b = (Counter(full_text(p, hyphenated_words(p)).split()) for p in (light, full))
    same = sum((a & b).values())
    assert same >= 0.995 * sum(a.values()) and same >= 0.995 * sum(b.values())  # math set a little differently
