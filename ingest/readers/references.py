"""Reference-manager exports (Zotero, Mendeley, EndNote) -> Paper nodes: RIS and CSL-JSON.

**RIS** (``.ris``, or any file starting with a ``TY  -`` line), parsed with rispy record by record:
the file is cut at each ``TY`` line, so a record whose ``ER`` line is missing is kept (with a
warning) instead of being merged into the next one. Per record: ``TI``/``T1`` (title), ``AU``/
``A1`` (authors, ``"Last, First[, Suffix]"`` shown as ``"First Last Suffix"``), ``PY``/``Y1``/
``DA`` (year, date), ``DO`` (or a ``doi.org`` URL), ``AB``/``N2`` (abstract), ``KW`` (keywords),
``JF``/``T2``/``JO``/``J2``/``JA`` (venue), ``UR`` (url; an ``arxiv.org`` URL gives the arXiv id),
``TY`` and ``ID`` kept as ``ris_type`` / ``ris_id``. Unknown tags are ignored with one warning.

**CSL-JSON** (``.json`` / ``.csl.json``, a list of CSL items): ``title``, ``author``
(``family``/``given``/particles/``suffix`` or ``literal``), ``issued`` (``date-parts``, ``raw`` or
``literal``), ``DOI``, ``URL``, ``abstract``, ``keyword``, ``container-title`` (venue), ``PMID``,
``PMCID``, ``type``/``id``/``citation-key`` kept as ``csl_type``/``csl_id``/``bibkey``. The sniff
needs CSL evidence in the first item (a CSL ``type`` plus ``issued.date-parts``, CSL name objects,
``container-title`` or an upper-case ``DOI``/``URL``), and leaves S2ORC / arXiv / OpenAlex records
and BEIR corpus rows to their readers.

Both build records with :func:`ingest.records.paper_records`, as the BibTeX and metadata readers
do, so one paper from RIS, CSL-JSON, BibTeX and S2ORC with the same DOI (or arXiv id, or title +
year) is one node. A bad record goes to ``ReadResult.errors`` as ``"record N ..."`` and the others
are kept; a file without one usable record raises :class:`kg.errors.ReaderError`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

from ingest.readers.base import FileInfo, decode_text_with_encoding, encoding_warning, register_reader
from ingest.readers.paper_metadata import head_records, record_kind
from ingest.records import AuthorRef, PaperRecord, paper_records
from kg.errors import ReaderError, require
from kg.ids import normalize_arxiv, normalize_doi
from kg.model import ReadResult

MAX_RECORDS = 100_000
"""Records read per file; the rest are dropped with a warning."""

_TY = re.compile(r"^TY  -")
_ER = re.compile(r"^ER  -")
_NUMBER = re.compile(r"^\s*\d+\.?\s*$")  # "1." record numbers some exporters (and rispy) write
_RIS_HEAD = re.compile(rb"\A(?:\xef\xbb\xbf)?\s*TY  - ")
_YEAR = re.compile(r"\b(1[5-9]\d\d|20\d\d)\b")
_SPLIT = re.compile(r"\s*[;,]\s*")
_ARXIV_DOI = "10.48550/arxiv."
CSL_TYPES = frozenset({
    "article", "article-journal", "article-magazine", "article-newspaper", "bill", "book", "broadcast",
    "chapter", "classic", "collection", "dataset", "document", "entry", "entry-dictionary",
    "entry-encyclopedia", "event", "figure", "graphic", "hearing", "interview", "legal_case",
    "legislation", "manuscript", "map", "motion_picture", "musical_score", "pamphlet",
    "paper-conference", "patent", "performance", "periodical", "personal_communication", "post",
    "post-weblog", "regulation", "report", "review", "review-book", "software", "song", "speech",
    "standard", "thesis", "treaty", "webpage"})
"""CSL 1.0.2 item types."""


# ---------------------------------------------------------------------------- shared helpers

def _s(value: Any) -> str | None:
    """A value as one clean line (first item of a list), or None."""
    if isinstance(value, list):
        value = next((v for v in value if isinstance(v, str | int | float) and str(v).strip()), None)
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        text = " ".join(str(value).split())
        return text or None
    return None


def _year(*values: Any) -> int | None:
    for v in values:
        if (s := _s(v)) and (m := _YEAR.search(s)):
            return int(m.group(1))
    return None


def _arxiv(doi: str | None, urls: Iterable[str], *others: str | None) -> str | None:
    """An arXiv id from an arXiv DOI, an ``arxiv.org`` URL or an ``arXiv:...`` number."""
    if doi and _ARXIV_DOI in doi.lower():
        return doi[doi.lower().find(_ARXIV_DOI) + len(_ARXIV_DOI):]
    for url in urls:
        if "arxiv.org/abs/" in url.lower() and normalize_arxiv(url.split("arxiv.org/abs/", 1)[-1]):
            return url
    return next((o for o in others if o and o.lower().startswith("arxiv:") and normalize_arxiv(o)), None)


def _keywords(value: Any) -> list[tuple[str, str]]:
    items = value if isinstance(value, list) else [value]
    words = [w for item in items if (s := _s(item)) for w in _SPLIT.split(s) if w]
    return [("keyword", w) for w in dict.fromkeys(words)]


def display_name(raw: str) -> str | None:
    """A RIS name ``"Last, First[, Suffix]"`` as ``"First Last Suffix"``.

    >>> display_name("Lo, Kyle"), display_name("King, Martin Luther, Jr."), display_name("WHO")
    ('Kyle Lo', 'Martin Luther King Jr.', 'WHO')
    """
    parts = [p.strip() for p in raw.split(",")]
    parts = [p for p in parts if p]
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    return " ".join([parts[1], parts[0], *parts[2:]])


def _finish(out: ReadResult, records: list[tuple[str, PaperRecord | str]], what: str) -> ReadResult:
    """Turn located records (or their error messages) into Paper records; raise when none is good."""
    good = 0
    for where, rec in records:
        if isinstance(rec, str):
            out.errors.append(f"{where}: {rec}")
            continue
        try:
            out.extend(paper_records(rec)[1])
            good += 1
        except ValueError:
            out.errors.append(f"{where}: no title and no identifier")
    if not good:
        raise ReaderError(f"no usable {what} records; {out.errors[0] if out.errors else 'empty file'}")
    return out


def _decode(data: bytes, path: Path, out: ReadResult) -> str:
    text, encoding = decode_text_with_encoding(data, path)
    if warning := encoding_warning(encoding):
        out.warnings.append(warning)
    return text


# ---------------------------------------------------------------------------- RIS

def split_ris(text: str) -> tuple[list[tuple[int, list[str], bool]], int]:
    """Cut RIS text into ``(first line number, lines, had ER)`` records at each ``TY`` line.

    Also returns how many non-blank lines stood outside any record (before the first ``TY`` or
    between an ``ER`` and the next ``TY``), not counting record numbers such as ``1.``.
    """
    records: list[tuple[int, list[str], bool]] = []
    stray = 0
    cur: list[str] | None = None
    start = 0
    for n, line in enumerate(text.split("\n"), start=1):
        if _TY.match(line):
            if cur is not None:
                records.append((start, cur, False))
            cur, start = [line], n
        elif cur is None:
            stray += bool(line.strip()) and not _NUMBER.match(line)
        elif _ER.match(line):
            records.append((start, [*cur, line], True))
            cur = None
        else:
            cur.append(line)
    if cur is not None:
        records.append((start, cur, False))
    return records, stray


def ris_record(rec: dict[str, Any]) -> PaperRecord:
    """One rispy record (its default tag names) as a PaperRecord."""
    names = [*(rec.get("authors") or []), *(rec.get("first_authors") or [])]
    shown = [display_name(s) for s in map(_s, names) if s]
    authors = [AuthorRef(n) for n in dict.fromkeys(n for n in shown if n)]
    urls = [u for u in (rec.get("urls") or []) if isinstance(u, str) and u.strip()]
    doi = _s(rec.get("doi"))
    if not (doi and normalize_doi(doi)):
        doi = next((u for u in urls if normalize_doi(u)), None) or doi
    date = _s(rec.get("date")) or _s(rec.get("publication_year"))
    extra = {"ris_type": _s(rec.get("type_of_reference")), "ris_id": _s(rec.get("id")), "source_format": "ris"}
    return PaperRecord(
        title=_s(rec.get("title")) or _s(rec.get("primary_title")),
        abstract=_s(rec.get("abstract")) or _s(rec.get("notes_abstract")),
        year=_year(rec.get("year"), rec.get("publication_year"), rec.get("date")),
        date=date.strip("/") if date else None, authors=authors, doi=doi, arxiv_id=_arxiv(doi, urls),
        url=urls[0] if urls else None, categories=_keywords(rec.get("keywords") or []),
        venue=next((v for k in ("alternate_title3", "secondary_title", "journal_name", "alternate_title1",
                                "alternate_title2") if (v := _s(rec.get(k)))), None),
        extra={k: v for k, v in extra.items() if v})


class RisReader:
    """``.ris`` files, or any file that starts with a ``TY  -`` line."""

    name = "ris"
    priority = 15

    def sniff(self, info: FileInfo) -> bool:
        """A ``.ris`` extension, or RIS content (``TY  - `` first)."""
        return info.path.suffix.lower() == ".ris" or bool(_RIS_HEAD.match(info.head))

    def read(self, path: Path, data: bytes) -> ReadResult:
        """One Paper per RIS record; see the module docstring."""
        rispy = require("rispy", "documents", "RIS files")
        out = ReadResult()
        chunks, stray = split_ris(_decode(data, path, out))
        if not chunks:
            raise ReaderError("no RIS records (no 'TY  - ' line)")
        if stray:
            out.warnings.append(f"{stray} line(s) outside any TY ... ER record ignored")
        if len(chunks) > MAX_RECORDS:
            out.warnings.append(f"{len(chunks)} records; only the first {MAX_RECORDS} read")
            chunks = chunks[:MAX_RECORDS]
        unknown: set[str] = set()
        no_er: list[str] = []
        located: list[tuple[str, PaperRecord | str]] = []
        for i, (line, lines, closed) in enumerate(chunks, start=1):
            where = f"record {i} (line {line})"
            if not closed:
                no_er.append(str(i))
                lines = [*lines, "ER  - "]
            try:
                parsed = rispy.loads("\n".join(lines))
                rec = parsed[0]
                unknown.update(k for k in (rec.get("unknown_tag") or {}) if isinstance(k, str))  # rispy: None for a bad tag
                located.append((where, ris_record(rec)))
            except Exception as e:  # rispy is lenient; a record it chokes on is that record's error
                located.append((where, f"invalid RIS record ({type(e).__name__}: {str(e)[:160]})"))
        if no_er:
            out.warnings.append(f"record(s) {', '.join(no_er[:10])}{' ...' if len(no_er) > 10 else ''} "
                                "have no 'ER  -' end line (kept)")
        if unknown:
            out.warnings.append(f"unknown RIS tags ignored: {', '.join(sorted(unknown)[:20])}")
        return _finish(out, located, "RIS")


# ---------------------------------------------------------------------------- CSL-JSON

def _csl_name(person: Any) -> str | None:
    if isinstance(person, str):
        return _s(person)
    if not isinstance(person, dict):
        return None
    if lit := _s(person.get("literal")):
        return lit
    parts = [_s(person.get(k)) for k in ("given", "dropping-particle", "non-dropping-particle", "family", "suffix")]
    return " ".join(p for p in parts if p) or None


def is_csl_item(rec: Any) -> bool:
    """Whether a JSON value looks like a CSL item (and not S2ORC/arXiv/OpenAlex or BEIR data)."""
    if not isinstance(rec, dict) or record_kind(rec) or "_id" in rec:
        return False
    if rec.get("type") not in CSL_TYPES or not ("title" in rec or "id" in rec):
        return False
    issued = rec.get("issued")
    authors = rec.get("author")
    return bool(
        (isinstance(issued, dict) and ("date-parts" in issued or "raw" in issued or "literal" in issued))
        or (isinstance(authors, list) and any(isinstance(a, dict) and ("family" in a or "literal" in a)
                                              for a in authors[:5]))
        or "container-title" in rec or "DOI" in rec or "URL" in rec or "citation-key" in rec)


def csl_record(rec: dict[str, Any]) -> PaperRecord:
    """One CSL-JSON item as a PaperRecord."""
    issued = rec.get("issued")
    year = date = None
    if isinstance(issued, dict):
        parts = issued.get("date-parts")
        first = parts[0] if isinstance(parts, list) and parts and isinstance(parts[0], list) else []
        nums = [int(p) for p in first[:3] if isinstance(p, int | str) and str(p).strip().isdigit()]
        if nums:
            year, date = nums[0], "-".join(f"{n:02d}" if i else str(n) for i, n in enumerate(nums))
        else:
            year = _year(issued.get("raw"), issued.get("literal"))
    else:
        year = _year(issued, rec.get("year"))
    authors_raw = rec.get("author")
    names = [n for n in (_csl_name(a) for a in (authors_raw if isinstance(authors_raw, list) else [])) if n]
    url = _s(rec.get("URL"))
    doi = _s(rec.get("DOI")) or (url if url and normalize_doi(url) else None)
    ids = {k: v for k, v in (("pubmed", _s(rec.get("PMID"))), ("pmc", _s(rec.get("PMCID")))) if v}
    extra = {"csl_type": rec.get("type"), "csl_id": _s(rec.get("id")), "bibkey": _s(rec.get("citation-key")),
             "source_format": "csl-json"}
    return PaperRecord(
        title=_s(rec.get("title")), abstract=_s(rec.get("abstract")), year=year, date=date,
        authors=[AuthorRef(n) for n in dict.fromkeys(names)], doi=doi, ids=ids, url=url,
        arxiv_id=_arxiv(doi, [url] if url else [], _s(rec.get("number")), _s(rec.get("archive_location"))),
        venue=_s(rec.get("container-title")) or _s(rec.get("event-title")),
        categories=_keywords(rec.get("keyword") or rec.get("keywords") or []),
        extra={k: v for k, v in extra.items() if v})


def csl_items(doc: Any, out: ReadResult) -> list[Any]:
    """The items of a parsed CSL-JSON document: a list, ``{"items": [...]}``, one item, or an
    object of items by id (the last two with a warning). Raises :class:`ReaderError` otherwise."""
    if isinstance(doc, list):
        return doc
    if isinstance(doc, dict):
        if isinstance(doc.get("items"), list):
            return list(doc["items"])
        if is_csl_item(doc):
            out.warnings.append("CSL-JSON top level is one object, not a list: read as one item")
            return [doc]
        values = list(doc.values())
        if values and all(is_csl_item(v) for v in values[:5]):
            out.warnings.append("CSL-JSON top level is an object of items, not a list: read its values")
            return values
        raise ReaderError("CSL-JSON must be a list of items, got an object")
    raise ReaderError(f"CSL-JSON must be a list of items, got {type(doc).__name__}")


class CslJsonReader:
    """CSL-JSON exports: ``.csl.json``, or ``.json`` whose first item looks like CSL."""

    name = "csl-json"
    priority = 15

    def sniff(self, info: FileInfo) -> bool:
        """``*.csl.json``, or a ``.json`` file whose first item passes :func:`is_csl_item`."""
        if info.path.name.lower().endswith(".csl.json"):
            return True
        if info.path.suffix.lower() != ".json":
            return False
        return any(is_csl_item(rec) for rec in head_records(info))

    def read(self, path: Path, data: bytes) -> ReadResult:
        """One Paper per CSL item; see the module docstring."""
        out = ReadResult()
        if b"\x00" in data[:8192]:
            raise ReaderError("binary content (NUL bytes), not a JSON file")
        try:
            doc = orjson.loads(data.removeprefix(b"\xef\xbb\xbf"))
        except orjson.JSONDecodeError as e:
            if "UTF-8" not in str(e):
                raise ReaderError(f"invalid JSON ({str(e).splitlines()[0][:200]})") from None
            try:
                doc = orjson.loads(_decode(data, path, out))
            except orjson.JSONDecodeError as e2:
                raise ReaderError(f"invalid JSON ({str(e2).splitlines()[0][:200]})") from None
        items = csl_items(doc, out)
        if len(items) > MAX_RECORDS:
            out.warnings.append(f"{len(items)} items; only the first {MAX_RECORDS} read")
            items = items[:MAX_RECORDS]
        located: list[tuple[str, PaperRecord | str]] = []
        for i, item in enumerate(items, start=1):
            where = f"record {i}"
            if not isinstance(item, dict):
                located.append((where, f"not a JSON object ({type(item).__name__})"))
            else:
                try:
                    located.append((where, csl_record(item)))
                except (TypeError, ValueError, AttributeError) as e:
                    located.append((where, f"malformed CSL item ({type(e).__name__}: {e})"))
        return _finish(out, located, "CSL-JSON")


register_reader(RisReader())
register_reader(CslJsonReader())
