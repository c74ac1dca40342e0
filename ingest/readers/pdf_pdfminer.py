"""PDF text with pdfminer.six's layout analysis: the fallback extractor of the ``pdf`` reader.

pdfminer groups characters into text boxes and orders them for reading (text inside Form XObjects
included, so stamped ACL Anthology pages read too), at more than ten times PDFium's CPU time
(``benchmarks/pdf_speed.py``). :func:`extract` reads a whole file: when PDFium
(:mod:`ingest.readers.pdf_pdfium`) cannot open it, or with ``PdfReader(engine="pdfminer")``.
:func:`reread` lays out again the pages PDFium found drawn out of reading order.
"""

from __future__ import annotations

import io
import logging
import time
from collections import Counter
from typing import Any

from ingest.readers.pdf_layout import MARKERS, PASSWORD, Line, PdfText, fix_glyphs, one_line, page_cut
from kg.errors import ReaderError

MAX_REF_HOPS = 64
"""References :func:`_bounded_resolve1` follows before it calls the chain a cycle."""


def _bounded_resolve1(x: Any, default: Any = None) -> Any:
    """pdfminer's ``resolve1`` with a hop limit: an indirect object that refers to itself (``3 0 obj
    3 0 R endobj``, or a longer cycle) made the original loop forever (found by
    benchmarks/fuzz_readers.py; tests/data/fuzz/pdf/). A cycle raises ``PDFSyntaxError``, which
    :func:`extract` turns into a :class:`ReaderError`."""
    from pdfminer.pdfparser import PDFSyntaxError
    from pdfminer.pdftypes import PDFObjRef

    for _ in range(MAX_REF_HOPS):
        if not isinstance(x, PDFObjRef):
            return x
        x = x.resolve(default=default)
    if isinstance(x, PDFObjRef):
        raise PDFSyntaxError(f"reference cycle through object {x.objid}")
    return x


def _guard_reference_cycles() -> None:
    """Put :func:`_bounded_resolve1` in place of ``resolve1`` in the pdfminer modules that call it."""
    import pdfminer.pdffont
    import pdfminer.pdfinterp
    import pdfminer.pdfpage
    import pdfminer.pdftypes

    for mod in (pdfminer.pdftypes, pdfminer.pdfpage, pdfminer.pdfinterp, pdfminer.pdffont):
        if getattr(mod, "resolve1", None) is not _bounded_resolve1:
            mod.resolve1 = _bounded_resolve1  # type: ignore[attr-defined]


def _make_line(page: int, frags: list[Any]) -> Line | None:
    """Merge pdfminer text-line fragments sharing a baseline into one :class:`Line`."""
    from pdfminer.layout import LTChar

    frags.sort(key=lambda f: f.x0)
    chars = [c for f in frags for c in f if isinstance(c, LTChar) and c.upright]
    if not chars:
        return None
    size = Counter(round(c.size, 1) for c in chars).most_common(1)[0][0]
    base = min(c.y0 for c in chars if round(c.size, 1) == size)
    text: list[str] = []  # superscript digits and footnote symbols dropped
    marked: list[str] = []  # superscripts, symbols and wide gaps as "|" (author splitting)
    prev = None
    for c in (c for i, f in enumerate(frags) for c in ([None] if i else []) + list(f)):
        t = " " if c is None else c.get_text()
        if not isinstance(c, LTChar):
            text.append(t)
            marked.append("|" if c is None else t)
            continue
        sup = not t.isspace() and (c.size < 0.8 * size or c.y0 > base + 0.25 * size)
        gap = prev is not None and c.x0 - prev.x1 > 0.6 * size
        text.append("" if sup and (t.isdigit() or t in MARKERS) else t)
        marked.append(("|" if gap else "") + ("|" if sup or t in MARKERS else t))
        prev = c
    plain = fix_glyphs(" ".join("".join(text).split()))
    if not plain:
        return None
    return Line(page, min(f.x0 for f in frags), min(f.y0 for f in frags), max(f.x1 for f in frags),
                 max(f.y1 for f in frags), size, plain, fix_glyphs("".join(marked).replace("\n", " ")))


def _boxes(container: Any) -> list[Any]:
    """Text boxes in pdfminer's reading order, looking inside figures."""
    from pdfminer.layout import LTFigure, LTTextBox

    return [b for obj in container for b in ([obj] if isinstance(obj, LTTextBox) else
                                             _boxes(obj) if isinstance(obj, LTFigure) else [])]


def _page_lines(layout: Any, page: int) -> list[list[Line]]:
    """A page's boxes, each as lines top-down with same-baseline fragments merged."""
    from pdfminer.layout import LTTextLineHorizontal

    out = []
    for box in _boxes(layout):
        frags = sorted((ln for ln in box if isinstance(ln, LTTextLineHorizontal)), key=lambda f: -f.y0)
        rows: list[list[Any]] = []
        for f in frags:
            if rows and abs(rows[-1][0].y0 - f.y0) < 0.4 * max(f.height, 1.0):
                rows[-1].append(f)
            else:
                rows.append([f])
        lines = [ln for r in rows if (ln := _make_line(page, r)) is not None]
        if lines:
            out.append(lines)
    return out


def _has_image(container: Any) -> bool:
    from pdfminer.layout import LTFigure, LTImage

    return any(isinstance(o, LTImage) or (isinstance(o, LTFigure) and _has_image(o)) for o in container)


def _decode_info(doc: Any) -> dict[str, str]:
    from pdfminer.pdftypes import resolve1
    from pdfminer.utils import decode_text

    out: dict[str, str] = {}
    for d in doc.info or []:
        for k, v in dict(resolve1(d) or {}).items():
            v = resolve1(v)
            s = decode_text(v) if isinstance(v, bytes) else v if isinstance(v, str) else ""
            if s.strip():
                out[str(k).lower()] = " ".join(s.replace("\x00", "").split())
    return out


def extract(data: bytes, max_pages: int, budget_s: float) -> PdfText:
    """Lines, paragraphs and metadata of at most ``max_pages`` pages; every pdfminer failure becomes a
    :class:`ReaderError`."""
    from pdfminer.converter import PDFPageAggregator
    from pdfminer.layout import LAParams
    from pdfminer.pdfdocument import PDFDocument, PDFEncryptionError, PDFPasswordIncorrect
    from pdfminer.pdfinterp import PDFPageInterpreter, PDFResourceManager
    from pdfminer.pdfpage import PDFPage
    from pdfminer.pdfparser import PDFParser
    from pdfminer.pdftypes import resolve1

    _guard_reference_cycles()
    log = logging.getLogger("pdfminer")
    if log.level == logging.NOTSET:  # pdfminer warns on every recoverable glitch; keep it quiet
        log.setLevel(logging.ERROR)
    out = PdfText(engine="pdfminer")
    try:
        doc = PDFDocument(PDFParser(io.BytesIO(data)))
    except Exception as e:  # pdfminer raises many types (PSEOF, PDFSyntaxError, KeyError, ...)
        why = (PASSWORD if isinstance(e, PDFPasswordIncorrect) else
               f"encrypted PDF: {one_line(e)}" if isinstance(e, PDFEncryptionError) else
               "invalid PDF: objects nested too deeply" if isinstance(e, RecursionError) else
               f"invalid PDF: {one_line(e)}")
        raise ReaderError(why) from None
    try:  # metadata and the page count are nice to have
        out.info = _decode_info(doc)
        total = int(resolve1(resolve1(doc.catalog["Pages"])["Count"]))
    except Exception:
        total = 0
    rsrc = PDFResourceManager(caching=True)
    device = PDFPageAggregator(rsrc, laparams=LAParams(all_texts=True))
    interp = PDFPageInterpreter(rsrc, device)
    start, failed, first_failure = time.monotonic(), 0, ""
    try:
        for n, page in enumerate(PDFPage.create_pages(doc), 1):
            if cut := page_cut(n, total, max_pages, start, budget_s):
                out.warnings.append(cut)
                break
            try:
                interp.process_page(page)
                layout = device.get_result()
                boxes = _page_lines(layout, len(out.pages))
            except Exception as e:
                failed += 1
                first_failure = first_failure or f"page {n}: {one_line(e)}"
                continue
            if not boxes and _has_image(layout):
                out.image_only.append((len(out.pages), n - 1))
            out.pages.append([ln for b in boxes for ln in b])
            out.sizes.append((float(layout.width), float(layout.height)))
            out.paragraphs.append(["\n".join(ln.text for ln in b) for b in boxes])
    except Exception as e:  # the page tree itself is broken
        if not out.pages:
            raise ReaderError(f"invalid PDF: {one_line(e)}") from None
        out.warnings.append(f"page tree broken after page {len(out.pages)}: {one_line(e)}")
    if not out.pages:
        raise ReaderError("PDF has no readable pages" + (f" ({first_failure})" if failed else ""))
    if failed:
        out.warnings.append(f"{failed} page(s) could not be parsed and were skipped (first: {first_failure})")
    return out


def reread(data: bytes, wanted: dict[int, int], budget_s: float
           ) -> dict[int, tuple[list[list[Line]], tuple[float, float]]]:
    """pdfminer's paragraphs and page size of some pages (``wanted``: 0-based page index -> position
    for :attr:`Line.page`), by page index; pages that fail, or come after ``budget_s``, are left out."""
    from pdfminer.converter import PDFPageAggregator
    from pdfminer.layout import LAParams
    from pdfminer.pdfdocument import PDFDocument
    from pdfminer.pdfinterp import PDFPageInterpreter, PDFResourceManager
    from pdfminer.pdfpage import PDFPage
    from pdfminer.pdfparser import PDFParser

    _guard_reference_cycles()
    out: dict[int, tuple[list[list[Line]], tuple[float, float]]] = {}
    start, last = time.monotonic(), max(wanted, default=-1)
    try:
        doc = PDFDocument(PDFParser(io.BytesIO(data)))
        rsrc = PDFResourceManager(caching=True)
        device = PDFPageAggregator(rsrc, laparams=LAParams(all_texts=True))
        interp = PDFPageInterpreter(rsrc, device)
        for index, page in enumerate(PDFPage.create_pages(doc)):
            if index > last or time.monotonic() - start > budget_s:
                break
            if index not in wanted:
                continue
            try:
                interp.process_page(page)
                layout = device.get_result()
                out[index] = (_page_lines(layout, wanted[index]), (float(layout.width), float(layout.height)))
            except Exception:  # the page stays as PDFium left it
                continue
    except Exception:  # the file or its page tree: the pages stay as PDFium left them
        return out
    return out
