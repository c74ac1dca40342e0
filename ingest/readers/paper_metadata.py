"""Paper metadata in JSON / JSON Lines -> Paper nodes: S2ORC, arXiv (OAI / Kaggle) and OpenAlex.

A file is ``.json`` (one record, a list of records, or an OpenAlex API page
``{"results": [...]}``) or ``.jsonl`` / ``.ndjson`` (one record per line). Each record's format
is told by its fields, record by record:

- **S2ORC** metadata: ``paper_id`` plus ``title`` or ``authors`` (``{first, middle, last,
  suffix}`` dicts), ids ``doi``, ``arxiv_id``, ``pubmed_id``, ``pmc_id``, ``acl_id``,
  ``mag_id``; ``mag_field_of_study`` -> categories ``("s2", field)``; ``outbound_citations`` /
  ``inbound_citations`` (S2 paper ids) -> CITES edges to and from stub papers.
- **arXiv** (OAI / Kaggle snapshot): ``id`` plus ``categories`` (space separated, -> ``("arxiv",
  "cs.CL")``), ``authors_parsed`` (``[last, first, suffix]``), ``versions`` (the first one's date
  is the paper's date), ``doi``, ``journal-ref`` (kept as ``journal_ref``), ``abstract``.
- **OpenAlex** works: ``id`` ``https://openalex.org/W...`` (or ``authorships`` /
  ``abstract_inverted_index``); authors with their OpenAlex ids (scheme ``openalex``) and
  institutions as affiliations; concepts, topics and keywords as categories;
  ``referenced_works`` as citations; the abstract rebuilt from its inverted index.

Per-record problems (a malformed line, a record that is not paper metadata, one without title
and ids) go to ``ReadResult.errors`` as ``"line N: ..."`` (``"record N: ..."`` inside a
``.json`` array) and the good records are kept; a file with no usable record raises
:class:`kg.errors.ReaderError`. :func:`parse_json_records` is shared with the BEIR reader.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

from ingest.readers.base import HEAD_BYTES, FileInfo, register_reader
from ingest.records import AuthorRef, PaperRecord, PaperRef, paper_records
from kg.errors import ReaderError
from kg.ids import author_id, slug
from kg.model import EdgeRecord, Label, NodeRecord, ReadResult, Rel

try:
    import orjson

    _loads: Callable[[bytes], Any] = orjson.loads
except ImportError:  # pragma: no cover - orjson is a core dependency
    _loads = json.loads

JSON_SUFFIXES = (".json", ".jsonl", ".ndjson")
SNIFF_LINES = 5
"""How many non-empty lines of the head ``sniff`` tries before giving up on a JSONL file."""

_OPENALEX = "https://openalex.org/"
_ARXIV_DOI = "10.48550/arxiv."
_RESULTS = re.compile(r'"results"\s*:\s*\[')
_MARKERS = (re.compile(rb'"paper_id"\s*:'), re.compile(rb'"authors_parsed"\s*:'),
            re.compile(rb'"id"\s*:\s*"https://openalex\.org/W'))

Located = tuple[str, Any]
"""A parsed record with where it came from (``"line 3"`` / ``"record 3"``)."""


# ---------------------------------------------------------------------------- JSON plumbing

def _json_error(e: Exception) -> str:
    return str(getattr(e, "msg", "") or e).splitlines()[0][:200]


def iter_json_lines(data: bytes) -> Iterator[tuple[int, Any, str | None]]:
    """Yield ``(line number, value, error)`` for every non-blank line of JSON Lines data."""
    for n, line in enumerate(data.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            yield n, _loads(line), None
        except ValueError as e:  # orjson/json JSONDecodeError, UnicodeDecodeError
            yield n, None, f"line {n}: invalid JSON ({_json_error(e)})"


def _records_of(doc: Any) -> list[Located]:
    if isinstance(doc, dict) and isinstance(doc.get("results"), list):
        doc = doc["results"]
    if isinstance(doc, list):
        return [(f"record {i}", r) for i, r in enumerate(doc, start=1)]
    return [("record 1", doc)]


def parse_json_records(data: bytes, path: Path) -> tuple[list[Located], list[str]]:
    """Parse a ``.json`` or JSON Lines file into located records plus per-line errors.

    A ``.json`` file that is not one JSON document is tried as JSON Lines, and a JSON Lines file
    without a single valid line is tried as one document. Raises :class:`ReaderError` when
    nothing parses.
    """
    if b"\x00" in data[:8192]:
        raise ReaderError("binary content (NUL bytes), not a JSON file")
    data = data.removeprefix(b"\xef\xbb\xbf")
    whole_error: str | None = None
    if path.suffix.lower() == ".json":
        try:
            return _records_of(_loads(data)), []
        except ValueError as e:
            whole_error = _json_error(e)
    records: list[Located] = []
    errors: list[str] = []
    for n, value, err in iter_json_lines(data):
        if err is None:
            records.append((f"line {n}", value))
        else:
            errors.append(err)
    if records:
        return records, errors
    if whole_error is None:
        try:
            return _records_of(_loads(data)), []
        except ValueError as e:
            whole_error = _json_error(e)
    if not errors:
        raise ReaderError("no JSON records (blank file)")
    if path.suffix.lower() == ".json":
        raise ReaderError(f"invalid JSON ({whole_error})")
    raise ReaderError(f"no valid JSON lines; {errors[0]}")


def head_records(info: FileInfo) -> Iterator[Any]:
    """The first record(s) that parse from a file's head (a truncated head is tolerated)."""
    head = info.head.removeprefix(b"\xef\xbb\xbf")
    if info.path.suffix.lower() == ".json":
        text = head.decode("utf-8", errors="ignore").lstrip()
        dec = json.JSONDecoder()
        starts = [1] if text.startswith("[") else [0]
        if m := _RESULTS.search(text[:4096]):
            starts.append(m.end())
        for start in starts:
            try:
                obj, _ = dec.raw_decode(text[start:].lstrip())
            except ValueError:
                continue
            for _, rec in _records_of(obj)[:1]:
                yield rec
        return
    tried = 0
    for line in head.split(b"\n"):
        if not line.strip():
            continue
        try:
            yield _loads(line)
        except ValueError:
            tried += 1  # a malformed line: look at the next one
            continue
        tried += 1
        if tried >= SNIFF_LINES:
            return


# ---------------------------------------------------------------------------- record kinds

def record_kind(rec: Any) -> str | None:
    """``"s2orc"``, ``"arxiv"``, ``"openalex"`` or None, told by a record's fields."""
    if not isinstance(rec, dict):
        return None
    if "paper_id" in rec and ("title" in rec or "authors" in rec):
        return "s2orc"
    rid = rec.get("id")
    if isinstance(rid, str) and (rid.startswith(_OPENALEX + "W") or (
            ("authorships" in rec or "abstract_inverted_index" in rec) and re.fullmatch(r"W\d+", rid))):
        return "openalex"
    if rid and "categories" in rec and ("authors_parsed" in rec or "versions" in rec or "authors" in rec):
        return "arxiv"
    return None


def _str(v: Any) -> str | None:
    if v is None:
        return None
    s = " ".join(str(v).split())
    return s or None


def _int(v: Any) -> int | None:
    try:
        return int(str(v).strip()[:4]) if v not in (None, "") else None
    except ValueError:
        return None


def _name(*parts: Any) -> str:
    words: list[str] = []
    for p in parts:
        if isinstance(p, list):
            words.extend(str(x) for x in p if x)
        elif p:
            words.append(str(p))
    return " ".join(" ".join(words).split())


def _tail(url: Any) -> str | None:
    """``https://openalex.org/W123`` -> ``W123``; ``https://pubmed.../123`` -> ``123``."""
    s = _str(url)
    return s.rstrip("/").rsplit("/", 1)[-1] if s else None


def s2orc_record(rec: dict[str, Any]) -> PaperRecord:
    """An S2ORC metadata record as a :class:`PaperRecord`."""
    authors = [AuthorRef(_name(a.get("first"), a.get("middle"), a.get("last"), a.get("suffix")))
               if isinstance(a, dict) else AuthorRef(str(a)) for a in rec.get("authors") or []]
    ids = {scheme: str(rec[k]).split(",")[0].strip() for scheme, k in  # mag_id may list several
           (("pubmed", "pubmed_id"), ("pmc", "pmc_id"), ("acl", "acl_id"), ("mag", "mag_id"))
           if rec.get(k) not in (None, "")}
    s2_id = str(rec["paper_id"]).strip()
    return PaperRecord(
        title=_str(rec.get("title")), abstract=rec.get("abstract") or None, year=_int(rec.get("year")),
        authors=authors, doi=rec.get("doi"), arxiv_id=rec.get("arxiv_id"), s2_id=s2_id,
        ids=ids, venue=_str(rec.get("venue")) or _str(rec.get("journal")),
        categories=[("s2", str(f)) for f in rec.get("mag_field_of_study") or []],
        citations=[PaperRef(s2_id=str(c)) for c in rec.get("outbound_citations") or [] if str(c) != s2_id],
        cited_by=[PaperRef(s2_id=str(c)) for c in rec.get("inbound_citations") or [] if str(c) != s2_id],
        url=rec.get("s2_url"))


def _arxiv_date(rec: dict[str, Any]) -> str | None:
    versions = rec.get("versions") or []
    created = versions[0].get("created") if versions and isinstance(versions[0], dict) else None
    if created:
        try:
            return parsedate_to_datetime(created).date().isoformat()
        except (TypeError, ValueError, OverflowError):  # a year past 9999 overflows
            pass
    return _str(rec.get("update_date"))


def arxiv_record(rec: dict[str, Any]) -> PaperRecord:
    """An arXiv OAI / Kaggle snapshot record as a :class:`PaperRecord`."""
    parsed = rec.get("authors_parsed")
    if isinstance(parsed, list) and parsed:
        names = [_name(*(p[1:2] + p[0:1] + p[2:3])) for p in parsed if isinstance(p, list) and p]
    else:
        names = [n.strip() for n in re.split(r",\s*|\s+and\s+", str(rec.get("authors") or "")) if n.strip()]
    date = _arxiv_date(rec)
    arxiv_id = str(rec["id"]).strip()
    return PaperRecord(
        title=_str(rec.get("title")), abstract=_str(rec.get("abstract")), year=_int(date), date=date,
        authors=[AuthorRef(n) for n in names], doi=rec.get("doi"), arxiv_id=arxiv_id,
        categories=[("arxiv", c) for c in str(rec.get("categories") or "").split()],
        url=f"https://arxiv.org/abs/{arxiv_id}",
        extra={k: v for k, v in (("journal_ref", _str(rec.get("journal-ref"))),
                                  ("updated", _str(rec.get("update_date")))) if v})


def rebuild_abstract(inverted: dict[str, list[int]] | None) -> str | None:
    """Rebuild an abstract from OpenAlex's ``abstract_inverted_index`` (word -> positions).

    >>> rebuild_abstract({"Graphs": [0], "are": [1], "fun": [2, 4], "and": [3]})
    'Graphs are fun and fun'
    """
    if not inverted:
        return None
    pos = [(i, w) for w, idx in inverted.items() for i in idx or ()]
    return " ".join(w for _, w in sorted(pos)) or None


def openalex_record(rec: dict[str, Any]) -> tuple[PaperRecord, list[tuple[str, str]]]:
    """An OpenAlex work as a :class:`PaperRecord`, plus ``(author id, institution)`` pairs for
    authors' second and later institutions (``AuthorRef`` carries only one)."""
    authors: list[AuthorRef] = []
    more_orgs: list[tuple[str, str]] = []
    for a in rec.get("authorships") or []:
        who = a.get("author") or {}
        name = _str(who.get("display_name")) or _str(a.get("raw_author_name"))
        if not name:
            continue
        insts = [n for i in a.get("institutions") or [] if (n := _str(i.get("display_name")))]
        insts = insts or [n for r in a.get("raw_affiliation_strings") or [] if (n := _str(r))][:1]
        ref = AuthorRef(name, _tail(who.get("id")), "openalex", insts[0] if insts else None)
        authors.append(ref)
        more_orgs += [(author_id(name, ref.external_id, "openalex"), i) for i in insts[1:]]
    ext = rec.get("ids") or {}
    ids = {"openalex": _tail(rec.get("id")) or ""}
    for scheme, k in (("pubmed", "pmid"), ("mag", "mag"), ("pmc", "pmcid")):
        if v := _tail(ext.get(k)):
            ids[scheme] = v if scheme != "pmc" or v.upper().startswith("PMC") else "PMC" + v
    doi = rec.get("doi") or ext.get("doi")
    arxiv_id = doi[doi.lower().find(_ARXIV_DOI) + len(_ARXIV_DOI):] if doi and _ARXIV_DOI in doi.lower() else None
    for loc in rec.get("locations") or []:
        url = str((loc or {}).get("landing_page_url") or "")
        if "arxiv.org/abs/" in url:
            arxiv_id = arxiv_id or url
    prim = rec.get("primary_location") or {}
    venue = _str((prim.get("source") or {}).get("display_name")) or _str((rec.get("host_venue") or {}).get("display_name"))
    cats = [("openalex", str(c.get("display_name"))) for c in rec.get("concepts") or []
            if c.get("display_name") and (c.get("score") is None or c.get("score") > 0)]
    cats += [("openalex", str(t.get("display_name"))) for t in rec.get("topics") or [] if t.get("display_name")]
    cats += [("keyword", str(k.get("display_name") if isinstance(k, dict) else k)) for k in rec.get("keywords") or []]
    extra = {"cited_by_count": rec["cited_by_count"]} if isinstance(rec.get("cited_by_count"), int) else {}
    return PaperRecord(
        title=_str(rec.get("title")) or _str(rec.get("display_name")),
        abstract=rebuild_abstract(rec.get("abstract_inverted_index")),
        year=_int(rec.get("publication_year")), date=_str(rec.get("publication_date")),
        authors=authors, doi=doi, arxiv_id=arxiv_id, ids=ids, venue=venue,
        categories=list(dict.fromkeys(cats)),
        citations=[PaperRef(ids={"openalex": w}) for r in rec.get("referenced_works") or [] if (w := _tail(r))],
        url=_str(prim.get("landing_page_url")) or _str(rec.get("id")), extra=extra), more_orgs


# ---------------------------------------------------------------------------- the reader

def record_result(rec: dict[str, Any], kind: str) -> ReadResult:
    """Graph records for one metadata record of a known kind (raises ``ValueError`` when the
    record has no title and no identifier)."""
    more_orgs: list[tuple[str, str]] = []
    if kind == "s2orc":
        p = s2orc_record(rec)
    elif kind == "arxiv":
        p = arxiv_record(rec)
    else:
        p, more_orgs = openalex_record(rec)
    _, out = paper_records(p)
    for aid, org in more_orgs:
        oid = "org:" + slug(org)
        out.nodes.append(NodeRecord(oid, Label.ORGANIZATION, {"name": org}))
        out.edges.append(EdgeRecord(aid, oid, Rel.AFFILIATED_WITH))
    return out


class PaperMetadataReader:
    """S2ORC / arXiv / OpenAlex paper metadata in ``.json``, ``.jsonl`` and ``.ndjson`` files."""

    name = "paper-metadata"
    priority = 20

    def sniff(self, info: FileInfo) -> bool:
        """A JSON(L) file whose first parsable record is S2ORC, arXiv or OpenAlex metadata."""
        if info.path.suffix.lower() not in JSON_SUFFIXES:
            return False
        for rec in head_records(info):
            if record_kind(rec):
                return True
        # a first record longer than the head cannot be parsed: fall back to field names
        return len(info.head) >= HEAD_BYTES and any(m.search(info.head[:8192]) for m in _MARKERS)

    def read(self, path: Path, data: bytes) -> ReadResult:
        """One Paper (with authors, venue, categories, citations) per record; see the module."""
        records, errors = parse_json_records(data, path)
        out = ReadResult(errors=errors)
        good = 0
        for where, rec in records:
            kind = record_kind(rec)
            if kind is None:
                what = "not a JSON object" if not isinstance(rec, dict) else "not a paper metadata record"
                out.errors.append(f"{where}: {what}")
                continue
            try:
                out.extend(record_result(rec, kind))
                good += 1
            except ValueError as e:  # paper_records: no title and no identifier
                out.errors.append(f"{where}: {e}")
            except (TypeError, AttributeError, KeyError, IndexError) as e:
                out.errors.append(f"{where}: malformed {kind} record ({type(e).__name__}: {e})")
        if not good:
            first = out.errors[0] if out.errors else "no records"
            raise ReaderError(f"no paper metadata records (S2ORC, arXiv or OpenAlex) found; {first}")
        return out


register_reader(PaperMetadataReader())
