"""Layout heuristics of the PDF reader: text lines with geometry -> front matter and references.

The extractors (:mod:`ingest.readers.pdf_pdfium`, :mod:`ingest.readers.pdf_pdfminer`,
:mod:`ingest.readers.pdf_ocr`) each turn pages into :class:`Line` objects (text, bounding box in PDF
points with y upwards, dominant font size, and a ``marked`` copy with superscripts, footnote symbols
and wide gaps as ``|``). This module reads them: page 1 gives the front matter (the title is its
largest-font text, the PDF's ``/Title`` is used instead when it says the same with better spacing or
when page 1 yields nothing; authors are the name-like lines between the title and the ``Abstract``
heading; the abstract runs from that heading to the next section heading), and the last
``References`` section is parsed, best effort and conservatively, into citation stubs.
"""

from __future__ import annotations

import re
import time
import unicodedata
from collections import Counter
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any

from ingest.records import PaperRef
from ingest.reference_parser import DOI, YEAR, parse_reference
from kg.ids import fold

MARKERS = frozenset("*∗†‡§¶#♠♢♡♣♦♥♤⋆★✉✝⊥⊤¹²³⁴⁵⁶⁷⁸⁹⁰,;")
"""Footnote and affiliation marks (and the separators between them), dropped when superscript."""
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
_TRAILING_HYPHEN = re.compile(r"([A-Za-z]+)-$")
PASSWORD = "password-protected PDF: a password is required to open it"
"""The one-line error for a PDF that has a user password."""


@dataclass(slots=True)
class Line:
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
class PdfText:
    """What an extractor yields: lines per page (reading order), page sizes, paragraphs, metadata.

    ``paragraphs`` holds each page's paragraphs (lines joined by ``\\n``). ``image_only`` lists the
    pages read that have images but no text layer (OCR candidates) as (position in ``pages``,
    0-based page index in the PDF), ``disordered`` the pages whose drawing order is not a reading
    order (same form), ``failed`` the pages the extractor could not read (same form plus the
    one-line reason; their entries in ``pages`` are empty); ``engine`` names the extractor.
    """

    pages: list[list[Line]] = field(default_factory=list)
    sizes: list[tuple[float, float]] = field(default_factory=list)
    paragraphs: list[list[str]] = field(default_factory=list)
    info: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    image_only: list[tuple[int, int]] = field(default_factory=list)
    disordered: list[tuple[int, int]] = field(default_factory=list)
    failed: list[tuple[int, int, str]] = field(default_factory=list)
    engine: str = ""

    def drop_pages(self, dead: AbstractSet[int]) -> None:
        """Remove the pages at these positions, renumbering the rest (and their lines)."""
        if not dead:
            return
        keep = [i for i in range(len(self.pages)) if i not in dead]
        new = {old: pos for pos, old in enumerate(keep)}
        for old in keep:
            for ln in self.pages[old]:
                ln.page = new[old]
        self.pages = [self.pages[i] for i in keep]
        self.sizes = [self.sizes[i] for i in keep]
        self.paragraphs = [self.paragraphs[i] for i in keep]
        self.image_only = [(new[pos], index) for pos, index in self.image_only if pos in new]
        self.disordered = [(new[pos], index) for pos, index in self.disordered if pos in new]
        self.failed = [(new[pos], index, why) for pos, index, why in self.failed if pos in new]


def one_line(e: BaseException) -> str:
    """``Type: first line of the message`` (at most 160 characters of it)."""
    msg = (str(e).strip().splitlines() or [""])[0][:160]
    return f"{type(e).__name__}: {msg}" if msg else type(e).__name__


def page_cut(n: int, total: int, max_pages: int, started: float, budget_s: float) -> str | None:
    """The warning that stops reading before page ``n`` (1-based), or None to go on."""
    if n > max_pages:
        return f"only the first {max_pages} of {total or 'more'} pages were read (max_pages)"
    if n > 1 and time.monotonic() - started > budget_s:
        return f"parsing stopped after {n - 1} page(s) ({budget_s:g} s time budget)"
    return None


def full_text(p: PdfText, hyphenated: AbstractSet[str]) -> str:
    """The paragraphs joined (line-end hyphenation undone), blank-line separated."""
    return "\n\n".join(t for page in p.paragraphs for para in page
                       if (t := join_lines(para.split("\n"), hyphenated).strip()))


def hyphenated_words(p: PdfText) -> set[str]:
    """Words printed with an inner hyphen anywhere (``state-of-the-art``): kept when split at a line end."""
    return {w.lower() for pg in p.pages for ln in pg for w in _HYPHEN_WORD.findall(ln.text)}


def fix_glyphs(s: str) -> str:
    """Ligatures to letters; LaTeX's spacing accents (``F¨arber``, ``c¸``) to composed letters."""
    s = s.translate(_LIGATURES)
    if any(ch in s for ch in _ACCENTS) or "¸" in s:
        s = re.sub(r"([¨´˜˘ˇˆ˚])\s?ı", r"\1i", s)
        s = re.sub(r"([¨´˜˘ˇˆ˚])\s?([A-Za-z])", lambda m: m.group(2) + _ACCENTS[m.group(1)], s)
        s = unicodedata.normalize("NFC", re.sub(r"([cCsS])\s?¸", "\\1\u0327", s))
    return s


def join_lines(lines: list[str], hyphenated: AbstractSet[str] = frozenset()) -> str:
    """Join wrapped lines, undoing end-of-line hyphenation unless the hyphenated word is known."""
    out = ""
    for ln in lines:
        m = _TRAILING_HYPHEN.search(out, max(0, len(out) - 100)) if out.endswith("-") else None
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


def front_matter(p: PdfText, hyphenated: AbstractSet[str]
                 ) -> tuple[str | None, list[str], str | None, dict[str, Any]]:
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
            abstract = join_lines(body, hyphenated) or None
    meta_title = _sane_title(p.info.get("title"))
    if meta_title and (not title or fold(title).replace(" ", "") == fold(meta_title).replace(" ", "")):
        title = meta_title
    if not author_names and p.info.get("author"):
        author_names = [n for n in re.split(r";|,|\band\b", p.info["author"]) if _name_like(n.strip())]
    return title, [" ".join(n.split()) for n in author_names[:100]], abstract, meta


def references(p: PdfText, hyphenated: AbstractSet[str]) -> list[PaperRef]:
    """Citation stubs from the last ``References`` section, split by hanging indent or ``[n]``."""
    flat = [ln for page in p.pages for ln in page]
    heads = [i for i, ln in enumerate(flat) if _REFS.match(ln.text)]
    if not heads:
        return []
    head = flat[heads[-1]]
    rows: list[Line] = []
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
    return [r for e in entries[:2000] if (r := parse_reference(join_lines(e, hyphenated)))]
