"""PDF reader: a scholarly PDF -> a Paper (title, authors, abstract, references) with chunks.

Text and its geometry come from PDFium (:mod:`ingest.readers.pdf_pdfium`, the default); pdfminer's
layout analysis (:mod:`ingest.readers.pdf_pdfminer`) runs instead when PDFium cannot open the file,
for pages PDFium cannot read or that were drawn out of reading order, and for every file with
``PdfReader(engine="pdfminer")``. Pages that have images but no text layer are OCR'd
(:mod:`ingest.readers.pdf_ocr`) when the ``ocr`` extra and Debian's ``tesseract-ocr`` are installed,
and counted in a warning that says how to enable OCR when they are not. The layout
heuristics (:mod:`ingest.readers.pdf_layout`) then find the title, authors, abstract and the
reference list. A PDF with neither an abstract, authors nor references (a manual, slides) becomes
a ``Document`` instead.

Corrupt, truncated, password-protected and text-less PDFs raise :class:`kg.errors.ReaderError`
with a one-line reason; a PDF with only an owner password (an empty user password) is read. At most
``max_pages`` pages are read (and OCR'd: at most ``max_ocr_pages``), and reading stops once
``time_budget_s`` has passed (checked between pages); each cut is reported as a warning.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Literal

from ingest.chunking import chunk_text
from ingest.readers import pdf_ocr, pdf_pdfium, pdf_pdfminer
from ingest.readers.base import FileInfo, register_reader
from ingest.readers.pdf_layout import (
    PASSWORD,
    PdfText,
    front_matter,
    full_text,
    hyphenated_words,
    references,
    split_authors,
)
from ingest.records import AuthorRef, PaperRecord, chunk_records, paper_records
from kg.errors import ConfigError, ReaderError
from kg.model import ReadResult

__all__ = ["MAX_OCR_PAGES", "MAX_PAGES", "TIME_BUDGET_S", "Engine", "PdfReader", "split_authors"]

MAX_PAGES = 300
"""Default page cap; later pages are skipped with a warning."""
MAX_OCR_PAGES = 50
"""Default cap on the image-only pages OCR'd per file."""
MAX_REREAD_PAGES = 20
"""At most this many pages drawn out of reading order are read again with pdfminer, per file."""
TIME_BUDGET_S = 120.0
"""Default parse-time budget in seconds (OCR included), checked between pages."""

Engine = Literal["auto", "pdfium", "pdfminer"]


def _settle_failures(p: PdfText, recovered: set[int]) -> None:
    """Warn about the pages PDFium could not read (``recovered``: those pdfminer read instead) and
    drop the others; :class:`ReaderError` when no page is left."""
    saved = [(index, why) for pos, index, why in p.failed if pos in recovered]
    lost = [(index, why) for pos, index, why in p.failed if pos not in recovered]
    if saved:
        p.warnings.append(f"{len(saved)} page(s) PDFium could not read were read with pdfminer "
                          f"(first: page {saved[0][0] + 1}: {saved[0][1]})")
    if lost:
        p.warnings.append(f"{len(lost)} page(s) could not be parsed and were skipped "
                          f"(first: page {lost[0][0] + 1}: {lost[0][1]})")
        p.drop_pages({pos for pos, _, _ in p.failed if pos not in recovered})
    p.failed = []
    if not p.pages:
        raise ReaderError("PDF has no readable pages" + (f" (page {lost[0][0] + 1}: {lost[0][1]})" if lost else ""))


def _no_text(p: PdfText) -> str:
    """Why a PDF gave no text: the warning about its pages without a text layer (not OCR'd, OCR
    stopped), or that OCR found no words on them, or that it has neither text nor images."""
    if why := next((w for w in p.warnings if "text layer" in w and "read by OCR" not in w), None):
        return why
    if p.image_only:
        return f"no extractable text (OCR found no words on the {len(p.image_only)} page(s) without a text layer)"
    return "no extractable text (no text layer and no images)"


class PdfReader:
    """``.pdf`` files (or any file starting with ``%PDF``).

    ``engine``: ``"auto"`` (PDFium; pdfminer for a file PDFium cannot open, and for pages it cannot
    read or that were drawn out of reading order), ``"pdfium"`` (PDFium only) or ``"pdfminer"`` (pdfminer's layout analysis for
    every page: more than ten times the CPU time, see ``benchmarks/pdf_speed.py``). ``ocr``: OCR pages
    without a text layer when pytesseract and tesseract are installed. Raises
    :class:`kg.errors.ConfigError` for an unknown engine.
    """

    name = "pdf"
    priority = 10

    def __init__(self, *, max_pages: int = MAX_PAGES, time_budget_s: float = TIME_BUDGET_S,
                 engine: Engine = "auto", ocr: bool = True, max_ocr_pages: int = MAX_OCR_PAGES) -> None:
        if engine not in ("auto", "pdfium", "pdfminer"):
            raise ConfigError(f"unknown PDF engine {engine!r} (known: auto, pdfium, pdfminer)")
        self.max_pages = max_pages
        self.time_budget_s = time_budget_s
        self.engine = engine
        self.ocr = ocr
        self.max_ocr_pages = max_ocr_pages

    def sniff(self, info: FileInfo) -> bool:
        """``%PDF`` magic in the first KiB, or a ``.pdf`` extension."""
        return b"%PDF" in info.head[:1024] or info.path.suffix.lower() == ".pdf"

    def _extract(self, data: bytes, deadline: float) -> PdfText:
        """Lines of the file's pages from the chosen engine (see the class docstring)."""
        p = self._open_and_read(data)
        recovered: set[int] = set()
        if self.engine == "auto" and (p.disordered or p.failed):  # pdfminer lays those pages out
            redo = sorted([(index, pos) for pos, index, _ in p.failed] + [(index, pos) for pos, index in p.disordered])
            wanted = dict(redo[:MAX_REREAD_PAGES])
            for index, (boxes, size) in pdf_pdfminer.reread(data, wanted, deadline - time.monotonic()).items():
                pos = wanted[index]
                p.pages[pos] = [ln for b in boxes for ln in b]
                p.paragraphs[pos] = ["\n".join(ln.text for ln in b) for b in boxes]
                if p.sizes[pos] == (0.0, 0.0):
                    p.sizes[pos] = size
                recovered.add(pos)
        _settle_failures(p, recovered)
        return p

    def _open_and_read(self, data: bytes) -> PdfText:
        """The whole file through PDFium, or pdfminer (``engine="pdfminer"``, or PDFium cannot open it)."""
        if self.engine == "pdfminer":
            return pdf_pdfminer.extract(data, self.max_pages, self.time_budget_s)
        try:
            return pdf_pdfium.extract(data, self.max_pages, self.time_budget_s)
        except pdf_pdfium.OpenError as e:
            if self.engine == "pdfium":
                raise
            try:
                p = pdf_pdfminer.extract(data, self.max_pages, self.time_budget_s)
            except ReaderError as e2:
                raise ReaderError(str(e2) if str(e2) == PASSWORD else str(e)) from None
            p.warnings.insert(0, f"read with pdfminer: PDFium could not open it ({e})")
            return p

    def read(self, path: Path, data: bytes) -> ReadResult:
        """Parse a PDF into a Paper (or a Document) with its text chunks."""
        if not data:
            raise ReaderError("empty file")
        if b"%PDF" not in data[:1024]:
            raise ReaderError("not a PDF: no %PDF header")
        if b"%%EOF" not in data[-4096:]:
            raise ReaderError("truncated PDF: no %%EOF marker at the end")
        deadline = time.monotonic() + self.time_budget_s
        p = self._extract(data, deadline)
        if p.image_only:
            pdf_ocr.ocr_pages(p, data, enabled=self.ocr, max_pages=self.max_ocr_pages, deadline=deadline)
        if not any(p.pages):
            raise ReaderError(_no_text(p))
        hyphenated = hyphenated_words(p)
        text = full_text(p, hyphenated)
        title, authors, abstract, meta = front_matter(p, hyphenated)
        refs = references(p, hyphenated)
        extra = {"source_format": "pdf", "n_pages": len(p.pages)}
        if not title or not (abstract or authors or refs):
            from ingest.readers.text import document_result

            out = document_result(path, text, title=title, fmt="pdf", metadata={"n_pages": len(p.pages)})
        else:
            rec = PaperRecord(title=title, abstract=abstract, authors=[AuthorRef(a) for a in authors],
                              citations=refs, extra=extra, **meta)
            pid, out = paper_records(rec)
            out.extend(chunk_records(pid, str(path), chunk_text(text)))
        out.warnings.extend(p.warnings)
        return out


register_reader(PdfReader())
