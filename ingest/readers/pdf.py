"""PDF reader: a scholarly PDF -> a Paper (title, authors, abstract, references) with chunks.

Layout comes from pdfminer.six (text inside Form XObjects included, so stamped ACL Anthology
pages read too). Page 1 gives the front matter: the title is its largest-font text (the PDF's
``/Title`` is used instead when it says the same with better spacing, or when page 1 yields
nothing); authors are the name-like lines between the title and the ``Abstract`` heading, split
at superscript markers, commas and "and", with affiliation and e-mail lines dropped; the abstract
runs from that heading to the next section heading. The ``References`` section is parsed, best
effort and conservatively, into citation stubs (author-year, quoted-title and "Authors: Title."
styles; DOIs and arXiv ids when printed). A PDF with neither an abstract, authors nor references
(a manual, slides) becomes a ``Document`` instead.

Corrupt, truncated, password-protected and text-less PDFs raise :class:`kg.errors.ReaderError`
with a one-line reason. At most ``max_pages`` pages are read and parsing stops once
``time_budget_s`` has passed (checked between pages); both cuts are reported as warnings.
"""

from __future__ import annotations

import io
import logging
import re
import time
import unicodedata
from collections import Counter
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ingest.chunking import chunk_text
from ingest.readers.base import FileInfo, register_reader
from ingest.records import AuthorRef, PaperRecord, PaperRef, chunk_records, paper_records
from ingest.reference_parser import DOI, YEAR, parse_reference
from kg.errors import ReaderError
from kg.ids import fold
from kg.model import ReadResult

MAX_PAGES = 300
"""Default page cap; later pages are skipped with a warning."""
TIME_BUDGET_S = 120.0
"""Default parse-time budget in seconds, checked between pages."""

_MARKERS = set("*∗†‡§¶#♠♢♡♣♦♥♤⋆★✉✝⊥⊤¹²³⁴⁵⁶⁷⁸⁹⁰,;")
_AFFIL = re.compile(
    r"\b(universit\w*|univ|institut\w*|department|dept|school|college|laborator\w*|labs?|inc|corp\w*|"
    r"research|cent(?:er|re)|academy|foundation|hospital|faculty|ltd|gmbh|ai2|google|microsoft|facebook|"
    r"meta|amazon|ibm|nvidia|openai|deepmind|email|e-mail|equal contribution|correspond\w*)\b", re.I)
_LIGATURES = str.maketrans({"ﬀ": "ff", "ﬁ": "fi", "ﬂ": "fl", "ﬃ": "ffi", "ﬄ": "ffl", "ﬅ": "st", "ﬆ": "st"})
_ACCENTS = {"¨": "\u0308", "´": "\u0301", "˜": "\u0303", "˘": "\u0306", "ˇ": "\u030c", "ˆ": "\u0302",
            "˚": "\u030a"}
_COMPOUND = {"based", "level", "aware", "specific", "domain", "scale", "driven", "oriented", "free", "like",
             "wise", "grained", "trained", "tuned", "shot", "enhanced", "dependent", "independent", "agnostic",
             "related", "art", "end", "form", "term", "order", "source", "style", "task", "time", "world"}
_PARTICLES = {"van", "von", "de", "der", "den", "da", "das", "do", "dos", "del", "della", "di", "du",
              "la", "le", "bin", "al", "el", "ter", "ten", "zu", "y"}
_ABSTRACT = re.compile(r"^\s*(?:abstract|a b s t r a c t)\s*(?:$|[.:—–-]\s*(?P<rest>\S.*))", re.I)
_HEADING = re.compile(r"^(?:(?:\d{1,2}(?:\.\d{1,2})*\.?|[IVX]{1,4}\.)\s+[A-Z][^.]{2,80}|(?i:introduction|"
                      r"keywords?|index terms|ccs concepts|acm reference format)\b.{0,60})$")
_REFS = re.compile(r"^(?:\d{1,2}\.?\s+|[IVX]{1,4}\.\s+)?(references|bibliography|literature cited|works cited)$",
                   re.I)
_ARXIV_STAMP = re.compile(r"arXiv:(\d{4}\.\d{4,5})(v\d+)?\s*\[[\w.\-]+\]\s*(\d{1,2} \w{3} (\d{4}))?")
_HYPHEN_WORD = re.compile(r"\b[a-z]+-[a-z]+\b")


@dataclass(slots=True)
class _Line:
    """One text line (same-baseline fragments merged) with its geometry and font size."""

    page: int
    x0: float
    y0: float
    x1: float
    y1: float
    size: float
    text: str
    marked: str  # superscripts, footnote symbols and wide gaps replaced by "|"


@dataclass(slots=True)
class _Pdf:
    """What the layout pass yields: lines per page (reading order), page sizes, paragraphs..."""

    pages: list[list[_Line]] = field(default_factory=list)
    sizes: list[tuple[float, float]] = field(default_factory=list)
    paragraphs: list[str] = field(default_factory=list)
    info: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def _one_line(e: BaseException) -> str:
    msg = (str(e).strip().splitlines() or [""])[0][:160]
    return f"{type(e).__name__}: {msg}" if msg else type(e).__name__


def _fix_glyphs(s: str) -> str:
    """Ligatures to letters; LaTeX's spacing accents (``F¨arber``, ``c¸``) to composed letters."""
    s = s.translate(_LIGATURES)
    if any(ch in s for ch in _ACCENTS) or "¸" in s:
        s = re.sub(r"([¨´˜˘ˇˆ˚])\s?ı", r"\1i", s)
        s = re.sub(r"([¨´˜˘ˇˆ˚])\s?([A-Za-z])", lambda m: m.group(2) + _ACCENTS[m.group(1)], s)
        s = unicodedata.normalize("NFC", re.sub(r"([cCsS])\s?¸", "\\1\u0327", s))
    return s


def _make_line(page: int, frags: list[Any]) -> _Line | None:
    """Merge pdfminer text-line fragments sharing a baseline into one :class:`_Line`."""
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
        text.append("" if sup and (t.isdigit() or t in _MARKERS) else t)
        marked.append(("|" if gap else "") + ("|" if sup or t in _MARKERS else t))
        prev = c
    plain = _fix_glyphs(" ".join("".join(text).split()))
    if not plain:
        return None
    return _Line(page, min(f.x0 for f in frags), min(f.y0 for f in frags), max(f.x1 for f in frags),
                 max(f.y1 for f in frags), size, plain, _fix_glyphs("".join(marked).replace("\n", " ")))


def _boxes(container: Any) -> list[Any]:
    """Text boxes in pdfminer's reading order, looking inside figures."""
    from pdfminer.layout import LTFigure, LTTextBox

    return [b for obj in container for b in ([obj] if isinstance(obj, LTTextBox) else
                                             _boxes(obj) if isinstance(obj, LTFigure) else [])]


def _page_lines(layout: Any, page: int) -> list[list[_Line]]:
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


def _join(lines: list[str], hyphenated: AbstractSet[str] = frozenset()) -> str:
    """Join wrapped lines, undoing end-of-line hyphenation unless the hyphenated word is known."""
    out = ""
    for ln in lines:
        m = re.search(r"([A-Za-z]+)-$", out)
        if m and ln[:1].isalpha():
            second = re.split(r"[^\w]", ln, maxsplit=1)[0]
            word = (m.group(1) + "-" + second).lower()
            first = m.group(1)
            keep = (ln[0].isupper() or word in hyphenated or second.lower() in _COMPOUND or first.isupper()
                    or (first.endswith("ly") and len(first) > 4))  # "publicly-available"
            out = (out if keep else out[:-1]) + ln
        else:
            out = f"{out} {ln}" if out else ln
    return out


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


def _extract(data: bytes, max_pages: int, budget_s: float) -> _Pdf:
    """Run pdfminer over the file; every pdfminer failure becomes a :class:`ReaderError`."""
    from pdfminer.converter import PDFPageAggregator
    from pdfminer.layout import LAParams
    from pdfminer.pdfdocument import PDFDocument, PDFEncryptionError, PDFPasswordIncorrect
    from pdfminer.pdfinterp import PDFPageInterpreter, PDFResourceManager
    from pdfminer.pdfpage import PDFPage
    from pdfminer.pdfparser import PDFParser
    from pdfminer.pdftypes import resolve1

    log = logging.getLogger("pdfminer")
    if log.level == logging.NOTSET:  # pdfminer warns on every recoverable glitch; keep it quiet
        log.setLevel(logging.ERROR)
    out = _Pdf()
    try:
        doc = PDFDocument(PDFParser(io.BytesIO(data)))
    except Exception as e:  # pdfminer raises many types (PSEOF, PDFSyntaxError, KeyError, ...)
        why = ("encrypted PDF: a password is required" if isinstance(e, PDFPasswordIncorrect) else
               f"encrypted PDF: {_one_line(e)}" if isinstance(e, PDFEncryptionError) else
               "invalid PDF: objects nested too deeply" if isinstance(e, RecursionError) else
               f"invalid PDF: {_one_line(e)}")
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
            if n > max_pages:
                out.warnings.append(f"only the first {max_pages} of {total or 'more'} pages were read (max_pages)")
                break
            if n > 1 and time.monotonic() - start > budget_s:
                out.warnings.append(f"parsing stopped after {n - 1} page(s) ({budget_s:g} s time budget)")
                break
            try:
                interp.process_page(page)
                layout = device.get_result()
                boxes = _page_lines(layout, len(out.pages))
            except Exception as e:
                failed += 1
                first_failure = first_failure or f"page {n}: {_one_line(e)}"
                continue
            out.pages.append([ln for b in boxes for ln in b])
            out.sizes.append((float(layout.width), float(layout.height)))
            out.paragraphs += ["\n".join(ln.text for ln in b) for b in boxes]
    except Exception as e:  # the page tree itself is broken
        if not out.pages:
            raise ReaderError(f"invalid PDF: {_one_line(e)}") from None
        out.warnings.append(f"page tree broken after page {len(out.pages)}: {_one_line(e)}")
    if not out.pages:
        raise ReaderError("PDF has no readable pages" + (f" ({first_failure})" if failed else ""))
    if failed:
        out.warnings.append(f"{failed} page(s) could not be parsed and were skipped (first: {first_failure})")
    return out


def _name_like(s: str) -> bool:
    toks = s.split()
    if not 2 <= len(toks) <= 5 or any(c.isdigit() or c in "@(){}[]<>/:" for c in s):
        return False
    return all(t.lower() in _PARTICLES or (t[0].isupper() and all(ch.isalpha() or ch in ".'’-" for ch in t))
               for t in toks)


def split_authors(marked: str) -> list[str]:
    """Author names from one author line; ``|`` marks superscripts/symbols/wide gaps.

    >>> split_authors("Kyle Lo|| Lucy Lu Wang| and Jane van Doe|")
    ['Kyle Lo', 'Lucy Lu Wang', 'Jane van Doe']
    """
    if "@" in marked or _AFFIL.search(marked.replace("|", " ")):
        return []
    parts = [p.strip(" .") for seg in marked.split("|") for p in re.split(r",|;|&|\band\b|\s{3,}", seg)]
    parts = [" ".join(p.split()) for p in parts if any(ch.isalpha() for ch in p)]  # not bare marks
    names = [p for p in parts if _name_like(p)]
    return names if len(names) * 2 >= len(parts) else []


def _sane_title(t: str | None) -> str | None:
    if not t or not 8 <= len(t) <= 300 or len(t.split()) < 2 or sum(c.isalpha() for c in t) < len(t) / 2:
        return None
    if re.search(r"\.(dvi|pdf|docx?|tex|ps|indd)$|^(untitled|microsoft word|title|paper title)\b", t, re.I):
        return None
    return t


def _front(p: _Pdf, hyphenated: AbstractSet[str]) -> tuple[str | None, list[str], str | None, dict[str, Any]]:
    """Title, authors, abstract and ids/venue/year from page 1 (and the metadata)."""
    lines, (_, height) = p.pages[0], p.sizes[0]
    meta: dict[str, Any] = {}
    for ln in lines:
        margin = ln.y0 > 0.88 * height or ln.y1 < 0.12 * height  # running header or footer
        if m := _ARXIV_STAMP.search(ln.text):
            meta.setdefault("arxiv_id", m.group(1))
            if m.group(4):
                meta.setdefault("year", int(m.group(4)))
        elif margin and (m := DOI.search(ln.text)):
            meta.setdefault("doi", m.group(1).rstrip(".,;)"))
        if margin and ln.text.startswith("Proceedings of"):  # ACL-style footer: venue, then date
            meta["venue"] = venue = re.split(r",\s*(?:pages|pp\.|vol)", ln.text)[0].strip(" ,")
            near = " ".join(x.text for x in lines if abs(x.y1 - ln.y0) < 3 * ln.size).replace(venue, "")
            if y := YEAR.search(near) or YEAR.search(ln.text):
                meta.setdefault("year", int(y.group(1)))
    cands = [ln for ln in lines if sum(c.isalpha() for c in ln.text) >= 3 and not _ARXIV_STAMP.search(ln.text)]
    title, author_names, abstract = None, [], None
    if cands:
        top = max(ln.size for ln in cands)
        tl = sorted((ln for ln in cands if abs(ln.size - top) < 0.3), key=lambda ln: -ln.y0)
        chain = [tl[0]]
        for ln in tl[1:]:
            if chain[-1].y0 - ln.y1 >= 1.2 * top:
                break
            chain.append(ln)
        title = _sane_title(" ".join(ln.text for ln in chain))
        bottom = chain[-1].y0
        head = next((i for i, ln in enumerate(lines) if _ABSTRACT.match(ln.text)), None)
        stop = lines[head].y1 if head is not None else bottom - 15 * top
        region = sorted((ln for ln in lines if stop + 1 < ln.y0 and ln.y1 < bottom + 1 and ln not in chain),
                        key=lambda ln: (-round(ln.y0 / 3), ln.x0))
        for ln in region[:40]:
            if head is None and (_HEADING.match(ln.text) or len(ln.text.split()) > 12):
                break
            author_names += [n for n in split_authors(ln.marked) if n not in author_names]
        if head is not None:
            m = _ABSTRACT.match(lines[head].text)
            body = [m.group("rest")] if m and m.group("rest") else []
            size = lines[head].size if body else None
            for ln in lines[head + 1:]:
                if _HEADING.match(ln.text) or (size is not None and abs(ln.size - size) > 0.6):
                    break
                size = size or ln.size
                body.append(ln.text)
            abstract = _join(body, hyphenated) or None
    meta_title = _sane_title(p.info.get("title"))
    if meta_title and (not title or fold(title).replace(" ", "") == fold(meta_title).replace(" ", "")):
        title = meta_title
    if not author_names and p.info.get("author"):
        author_names = [n for n in re.split(r";|,|\band\b", p.info["author"]) if _name_like(n.strip())]
    return title, [" ".join(n.split()) for n in author_names[:100]], abstract, meta


def _references(p: _Pdf, hyphenated: AbstractSet[str]) -> list[PaperRef]:
    """Citation stubs from the last ``References`` section, split by hanging indent or ``[n]``."""
    flat = [ln for page in p.pages for ln in page]
    heads = [i for i, ln in enumerate(flat) if _REFS.match(ln.text)]
    if not heads:
        return []
    head = flat[heads[-1]]
    rows: list[_Line] = []
    for page, (width, height) in zip(p.pages[head.page:], p.sizes[head.page:], strict=True):
        keep = [ln for ln in page if not re.fullmatch(r"\d{1,4}", ln.text)
                and 0.05 * height < ln.y1 and ln.y0 < 0.95 * height]
        keep.sort(key=lambda ln: (ln.x0 >= 0.45 * width, -ln.y0, ln.x0))
        rows += keep
    if head in rows:
        rows = rows[rows.index(head) + 1:]
    size = Counter(round(ln.size) for ln in rows[:200]).most_common(1)[0][0] if rows else 0
    rows = [ln for ln in rows if ln.size > size - 0.6]  # footnotes
    for i, ln in enumerate(rows):
        if ln.size > size + 1.0 or re.match(r"^(?:[A-H]\.?\s+)?(appendix|appendices|supplementary)\b", ln.text, re.I):
            rows = rows[:i]
            break
    numbered = sum(bool(re.match(r"\[\d{1,4}\]", ln.text)) for ln in rows) * 4 >= len(rows) > 0
    margins: dict[tuple[int, bool], float] = {}
    for ln in rows:
        key = (ln.page, ln.x0 >= 0.45 * p.sizes[ln.page][0])
        margins[key] = min(margins.get(key, ln.x0), ln.x0)
    entries: list[list[str]] = []
    for ln in rows:
        starts = (bool(re.match(r"\[\d{1,4}\]", ln.text)) if numbered
                  else ln.x0 < margins[(ln.page, ln.x0 >= 0.45 * p.sizes[ln.page][0])] + 2.5)
        if starts or not entries:
            entries.append([])
        entries[-1].append(ln.text)
    return [r for e in entries[:2000] if (r := parse_reference(_join(e, hyphenated)))]


class PdfReader:
    """``.pdf`` files (or any file starting with ``%PDF``)."""

    name = "pdf"
    priority = 10

    def __init__(self, *, max_pages: int = MAX_PAGES, time_budget_s: float = TIME_BUDGET_S) -> None:
        self.max_pages = max_pages
        self.time_budget_s = time_budget_s

    def sniff(self, info: FileInfo) -> bool:
        """``%PDF`` magic in the first KiB, or a ``.pdf`` extension."""
        return b"%PDF" in info.head[:1024] or info.path.suffix.lower() == ".pdf"

    def read(self, path: Path, data: bytes) -> ReadResult:
        """Parse a PDF into a Paper (or a Document) with its text chunks."""
        if not data:
            raise ReaderError("empty file")
        if b"%PDF" not in data[:1024]:
            raise ReaderError("not a PDF: no %PDF header")
        if b"%%EOF" not in data[-4096:]:
            raise ReaderError("truncated PDF: no %%EOF marker at the end")
        p = _extract(data, self.max_pages, self.time_budget_s)
        if not any(p.pages):
            raise ReaderError("no extractable text (scanned or image-only PDF?)")
        hyphenated = {w.lower() for pg in p.pages for ln in pg for w in _HYPHEN_WORD.findall(ln.text)}
        text = "\n\n".join(t for para in p.paragraphs if (t := _join(para.split("\n"), hyphenated).strip()))
        title, authors, abstract, meta = _front(p, hyphenated)
        refs = _references(p, hyphenated)
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
