"""Hugging Face "Daily Papers" listings saved as text -> one Paper node per listed paper.

The page text looks like this (blank lines separate blocks)::

    Daily Papers
    byAK and the research community
    May 20                                   <- the page's own date (header)

    <title>
    <abstract>
      • 5 authors                            <- or an organisation line: "clio-ai Clio AI"
    ·
    Feb 19, 2025 2                           <- date as printed, then the upvote count

A paper's block is its title paragraph, its abstract paragraph and an optional meta block (the
``• N authors`` or organisation line, a ``·`` line and the date line). Some papers have no meta
block at all. Titles and abstracts are told apart by position (they alternate) and, when a
paper lacks an abstract, by shape: an abstract is long or has several sentences, a title is one
line, so titles that read like sentences ("Knowledge is Not Enough: ...") are kept whole.

Stored per paper (via :func:`ingest.records.paper_records`): ``title``, ``abstract``, ``date``
exactly as printed (``"Feb 19, 2025"``, ``"Mar 13"``), ``year`` only when printed or
unambiguous, ``n_authors`` (names are not listed), ``upvotes`` (an int; the page hides zero
counts, so a date line without a count, or no meta block, gives ``0``), ``listing`` =
``"daily-papers"``, the organisation (handle dropped: ``clio-ai Clio AI`` -> ``Clio AI``) and
every GitHub link in the abstract as a Repository.

Year inference: the page prints the year only for dates outside the current year, so a year-less
date is in the year the page was captured. That year is not on the page (its header date is
year-less too), so year-less dates get no ``year`` unless the header date carries one or the
reader is built with ``listing_year``; a year-less date after the listing's own month/day is
then left without a year, since it cannot be in the listing's year.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ingest.readers.base import FileInfo, decode_text, register_reader
from ingest.records import PaperRecord, paper_records
from kg.errors import ReaderError
from kg.ids import slug
from kg.model import ReadResult

_MONTHS = {m: i for i, m in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), start=1)}
_DATE = re.compile(
    r"(?P<date>(?P<mon>[A-Z][a-z]{2,8})\.? (?P<day>\d{1,2})(?:, (?P<year>\d{4}))?)"
    r"(?:\s+(?P<up>\d+(?:[.,]\d+)?[kK]?))?")
_AUTHORS = re.compile(r"[•·]?\s*(\d+)\s+authors?", re.IGNORECASE)
_SEPARATORS = {"·", "•"}
_GITHUB = re.compile(r"(?:https?://)?(?:www\.)?github\.com/[\w.\-]+/[\w.\-]+", re.IGNORECASE)
_SENTENCE_END = re.compile(r"[.!?]\s+[A-Z(\"']")
_HANDLE = re.compile(r"[a-z0-9][a-z0-9._\-]*")
_HEADER = {"new", "subscribe", "get trending papers in your email inbox!", "daily papers"}

TITLE_MAX = 300
"""Longest text read as a title; longer text, or text with several sentences, reads as an abstract."""


@dataclass
class Meta:
    """A paper's meta block: author count, organisation, printed date and upvotes."""

    n_authors: int | None = None
    organization: str | None = None
    date: str | None = None
    month_day: tuple[int, int] | None = None
    year: int | None = None
    upvotes: int = 0


@dataclass
class ListedPaper:
    """One paper as printed: title, abstract, meta block and the title's 1-based line."""

    title: str
    abstract: str | None
    meta: Meta | None
    line: int


@dataclass
class Listing:
    """A parsed listing: the page's header date, its papers, and per-record problems."""

    header_date: Meta | None = None
    papers: list[ListedPaper] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def _month(name: str) -> int | None:
    return _MONTHS.get(name[:3].lower())


def _upvotes(raw: str | None) -> int:
    """``"7"`` -> 7, ``"1,234"`` -> 1234, ``"1.2k"`` -> 1200; absent -> 0 (zero is not printed)."""
    if not raw:
        return 0
    if raw[-1] in "kK":
        return round(float(raw[:-1].replace(",", ".")) * 1000)
    return int(raw.replace(",", "").replace(".", ""))


def parse_date_line(line: str) -> Meta | None:
    """``"Feb 19, 2025 2"`` -> date ``"Feb 19, 2025"``, year 2025, upvotes 2; None if no date.

    >>> m = parse_date_line("Mar 13 3"); (m.date, m.year, m.upvotes)
    ('Mar 13', None, 3)
    """
    m = _DATE.fullmatch(line.strip())
    if not m or (month := _month(m.group("mon"))) is None or not 1 <= int(m.group("day")) <= 31:
        return None
    year = int(m.group("year")) if m.group("year") else None
    return Meta(date=m.group("date"), month_day=(month, int(m.group("day"))), year=year,
                upvotes=_upvotes(m.group("up")))


def organization_name(line: str) -> str:
    """The display name from an organisation line: ``"clio-ai Clio AI"`` -> ``"Clio AI"``.

    The page prints the organisation's handle, then its name. The first word is read as the
    handle when it is lower-case (``clio-ai``) or equal to the rest once slugged (``Qwen Qwen``).
    """
    words = line.split()
    if len(words) > 1 and (_HANDLE.fullmatch(words[0]) or slug(words[0]) == slug(" ".join(words[1:]))):
        return " ".join(words[1:])
    return " ".join(words)


def parse_meta(lines: list[str]) -> Meta | None:
    """A meta block (author count or organisation, ``·``, date line); None if ``lines`` is not one.

    An organisation line is accepted only next to a ``·`` separator, and only one, so a title
    paragraph is never mistaken for a meta block.
    """
    meta, date, other, has_sep = Meta(), None, [], False
    for ln in lines:
        if ln in _SEPARATORS:
            has_sep = True
        elif m := _AUTHORS.fullmatch(ln):
            meta.n_authors = int(m.group(1))
        elif date is None and (d := parse_date_line(ln)):
            date = d
        else:
            other.append(ln)
    if date is None and meta.n_authors is None and not has_sep:
        return None
    if len(other) > 1 or (other and not has_sep):
        return None
    if date:
        meta.date, meta.month_day, meta.year, meta.upvotes = date.date, date.month_day, date.year, date.upvotes
    meta.organization = organization_name(other[0]) if other else None
    return meta


def _abstract_like(text: str) -> bool:
    return len(text) > TITLE_MAX or len(_SENTENCE_END.findall(text)) >= 2


def _paragraphs(text: str) -> list[tuple[int, list[str]]]:
    """Non-blank line groups with the 1-based line number of their first line."""
    out: list[tuple[int, list[str]]] = []
    cur: list[str] = []
    start = 0
    for i, raw in enumerate(text.split("\n"), start=1):
        ln = raw.strip()
        if ln:
            if not cur:
                start = i
            cur.append(ln)
        elif cur:
            out.append((start, cur))
            cur = []
    if cur:
        out.append((start, cur))
    return out


def _skip_header(paras: list[tuple[int, list[str]]]) -> tuple[int, Meta | None]:
    """Index of the first content paragraph after the "Daily Papers" header, and the page date."""
    head = next((i for i, (_, ls) in enumerate(paras[:20]) if any(ln.lower() == "daily papers" for ln in ls)), None)
    if head is None:
        return 0, None
    i, page_date = head + 1, None
    while i < len(paras):
        lines = paras[i][1]
        joined = " ".join(lines)
        if joined.lower().replace(" ", "").startswith("byak") or joined.lower() in _HEADER:
            i += 1
        elif page_date is None and len(lines) == 1 and (d := parse_date_line(joined)) and not d.upvotes:
            page_date, i = d, i + 1
        else:
            break
    return i, page_date


def parse_listing(text: str) -> Listing:
    """Parse a listing's text (LF line endings) into papers; see the module docstring."""
    paras = _paragraphs(text)
    start, page_date = _skip_header(paras)
    out = Listing(header_date=page_date)
    run: list[tuple[int, str]] = []  # text paragraphs since the last meta block

    def flush(meta: Meta | None, meta_line: int = 0) -> None:
        i, n = 0, len(run)
        while i < n:
            line, title = run[i]
            remaining = n - i
            if len(title) > TITLE_MAX and (remaining == 1 or _abstract_like(run[i + 1][1])):
                out.errors.append(f"line {line}: text without a title: {title[:60]!r}")
                i += 1
                continue
            pair = remaining > 1 and (_abstract_like(run[i + 1][1]) or remaining % 2 == 0)
            abstract = run[i + 1][1] if pair else None
            i += 2 if pair else 1
            out.papers.append(ListedPaper(title, abstract, meta if i >= n else None, line))
        if meta is not None and not run:
            out.errors.append(f"line {meta_line}: a date/author block with no paper before it")
        run.clear()

    for line, lines in paras[start:]:
        meta = parse_meta(lines)
        if meta is not None:
            flush(meta, line)
        else:
            run.append((line, " ".join(lines)))
    flush(None)
    return out


def _infer_year(meta: Meta, listing_year: int | None, page: Meta | None) -> int | None:
    if meta.year is not None:
        return meta.year
    year = page.year if page and page.year else listing_year
    if year is None or meta.month_day is None:
        return None
    if page and page.month_day and meta.month_day > page.month_day:
        return None
    return year


def github_links(text: str) -> list[str]:
    """Distinct GitHub repository links in ``text``, in order, without trailing punctuation."""
    seen: dict[str, None] = {}
    for m in _GITHUB.finditer(text):
        url = m.group(0).rstrip(".,;:")
        url = url if url.lower().startswith("http") else "https://" + url
        seen.setdefault(url, None)
    return list(seen)


class DailyPapersReader:
    """Hugging Face "Daily Papers" listing pages saved as text.

    ``listing_year`` is the year the page was captured, used for year-less dates when the page
    header does not print one (see the module docstring); the registered reader has none.
    """

    name = "daily-papers"
    priority = 40

    def __init__(self, *, listing_year: int | None = None) -> None:
        self.listing_year = listing_year

    def sniff(self, info: FileInfo) -> bool:
        """"Daily Papers" in the first 40 lines and at least one ``• N authors`` line."""
        if b"\x00" in info.head[:8192]:
            return False
        text = info.head.decode("utf-8", errors="replace")
        top = "\n".join(text.splitlines()[:40])
        return "daily papers" in top.lower() and any(
            _AUTHORS.fullmatch(ln.strip()) and "•" in ln for ln in text.splitlines())

    def read(self, path: Path, data: bytes) -> ReadResult:
        """One Paper per listed paper; a listing with no papers raises ReaderError."""
        listing = parse_listing(decode_text(data, path))
        if not listing.papers:
            raise ReaderError("no papers found in the daily-papers listing")
        out = ReadResult(errors=list(listing.errors))
        for lp in listing.papers:
            m = lp.meta or Meta()
            rec = PaperRecord(
                title=lp.title, abstract=lp.abstract, date=m.date,
                year=_infer_year(m, self.listing_year, listing.header_date),
                repositories=github_links(lp.abstract or ""),
                organizations=[m.organization] if m.organization else [],
                extra={"upvotes": m.upvotes, "listing": "daily-papers", "n_authors": m.n_authors},
            )
            try:
                _, res = paper_records(rec)
            except ValueError as e:
                out.errors.append(f"line {lp.line}: {e}")
                continue
            out.extend(res)
        return out


register_reader(DailyPapersReader())
