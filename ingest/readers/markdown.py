"""Markdown reader: one ``Document`` per ``.md``/``.markdown``/``.mdx`` file, with its chunks.

* YAML front matter (a leading ``---`` block) becomes Document properties (dates as ISO
  strings); ``tags``/``keywords``/``categories`` also become ``Category`` nodes
  (``category:tag:<slug>``, ``IN_CATEGORY``).
* Title: front matter ``title``, else the first level-1 heading (``# Title`` or a ``===``
  underline, outside code fences), else the file stem.
* Front matter with a ``doi`` or ``arxiv``/``arxiv_id`` makes the file a ``Paper`` (title,
  authors, year, abstract, venue from the front matter) instead of a Document.
* Broken front matter (bad YAML, not a mapping, never closed) is reported as one line in
  ``ReadResult.errors`` and the file is still ingested: the body becomes the Document and the raw
  block is kept in ``front_matter_raw``, so nothing is lost.

``SKILL.md`` files are left to the skill reader. A legacy encoding (not UTF-8) is detected and
named in a warning; empty, binary and undecodable files raise :class:`kg.errors.ReaderError`.
"""

from __future__ import annotations

import datetime as _dt
import re
from pathlib import Path
from typing import Any

import yaml

from ingest.chunking import chunk_text
from ingest.readers.base import FileInfo, decode_text_with_encoding, encoding_warning, register_reader
from ingest.readers.text import document_result
from ingest.records import AuthorRef, PaperRecord, chunk_records, document_id, paper_records
from ingest.safe_yaml import load_yaml
from ingest.skill_spec import is_skill_file, split_front_matter
from kg.errors import InvalidRecordError, ReaderError
from kg.ids import slug
from kg.model import EdgeRecord, Label, NodeRecord, ReadResult, Rel

MAX_FRONT_MATTER_VALUES = 10_000
"""Front matter with more values than this (after YAML aliases are expanded) is refused."""

TAG_KEYS = ("tags", "keywords", "categories")
"""Front matter keys whose values become Category nodes."""

_FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})")
_ATX_H1 = re.compile(r"^\s{0,3}#(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT_H1 = re.compile(r"^\s{0,3}=+[ \t]*$")


def plain_value(value: Any, *, budget: list[int] | None = None, depth: int = 0) -> Any:
    """A YAML value as JSON-compatible data: dates become ISO strings, other objects ``str``.

    Raises :class:`~kg.errors.InvalidRecordError` (a ``ValueError``) when the value is nested more than 32 levels deep or holds more than
    :data:`MAX_FRONT_MATTER_VALUES` values (YAML aliases can make a short text expand hugely).

    >>> plain_value({"d": __import__("datetime").date(2024, 1, 2), "n": [1, None]})
    {'d': '2024-01-02', 'n': [1, None]}
    """
    budget = budget if budget is not None else [MAX_FRONT_MATTER_VALUES]
    budget[0] -= 1
    if budget[0] < 0 or depth > 32:
        raise InvalidRecordError("front matter too large or too deeply nested")
    if isinstance(value, dict):
        return {str(k): plain_value(v, budget=budget, depth=depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [plain_value(v, budget=budget, depth=depth + 1) for v in value]
    if isinstance(value, _dt.date | _dt.datetime):
        return value.isoformat()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def parse_front_matter(text: str) -> tuple[dict[str, Any], str, str | None, str | None]:
    """Split Markdown into (front matter, body, raw block, one-line error or None).

    No front matter: ``({}, text, None, None)``. A block that cannot be used yields an empty
    mapping, the error line, and the body after the block (the whole text if it never closes).
    """
    if not re.match(r"---[ \t]*(\n|$)", text):
        return {}, text, None, None
    parts = split_front_matter(text)
    if parts is None:
        return {}, text, None, "invalid YAML front matter: the opening '---' is never closed"
    raw, body, _ = parts
    try:
        data = load_yaml(raw)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark
        where = f" (line {mark.line + 2}, column {mark.column + 1})" if mark else ""
        return {}, body, raw, f"invalid YAML front matter: {' '.join(str(e.problem or e.context).split())}{where}"
    except yaml.YAMLError as e:
        return {}, body, raw, f"invalid YAML front matter: {' '.join(str(e).split())[:200]}"
    if data is None:
        return {}, body, raw, None
    if not isinstance(data, dict):
        return {}, body, raw, f"invalid YAML front matter: expected a mapping, got {type(data).__name__}"
    try:
        return plain_value(data), body, raw, None
    except (ValueError, RecursionError) as e:
        return {}, body, raw, f"invalid YAML front matter: {e}"


def first_heading(body: str) -> str | None:
    """The first level-1 heading outside code fences (ATX ``# X`` or setext ``X`` + ``===``)."""
    fence: str | None = None
    prev = ""
    for line in body.split("\n"):
        if m := _FENCE.match(line):
            mark = m.group(1)[0]
            fence = None if fence == mark else fence or mark
            prev = ""
            continue
        if fence:
            continue
        if (m := _ATX_H1.match(line)) and (m.group(1) or "").strip():
            return (m.group(1) or "").strip()
        if _SETEXT_H1.match(line) and prev.strip() and not prev.startswith(("    ", "\t")):
            return prev.strip()
        prev = line
    return None


def tag_names(value: Any) -> list[str]:
    """Tags from a list or a comma-separated string, stripped, de-duplicated, in order.

    >>> tag_names("nlp, retrieval,  nlp")
    ['nlp', 'retrieval']
    """
    items = value if isinstance(value, list) else str(value).split(",") if value else []
    out: list[str] = []
    for item in items:
        name = " ".join(str(item).split()) if isinstance(item, str | int | float) else ""
        if name and name not in out:
            out.append(name)
    return out


def tag_records(parent_id: str, tags: list[str]) -> ReadResult:
    """``Category`` nodes (scheme ``tag``) with ``IN_CATEGORY`` edges from ``parent_id``."""
    out = ReadResult()
    for name in tags:
        cid = f"category:tag:{slug(name)}"
        out.nodes.append(NodeRecord(cid, Label.CATEGORY, {"name": name, "scheme": "tag"}))
        out.edges.append(EdgeRecord(parent_id, cid, Rel.IN_CATEGORY))
    return out


def _year(value: Any) -> int | None:
    m = re.match(r"\s*(\d{4})\b", str(value)) if value not in (None, "") else None
    return int(m.group(1)) if m else None


def _authors(value: Any) -> list[AuthorRef]:
    items = value if isinstance(value, list) else re.split(r";|\band\b|,", value) if isinstance(value, str) else []
    refs = []
    for item in items:
        name = item.get("name") if isinstance(item, dict) else item
        if isinstance(name, str) and name.strip():
            refs.append(AuthorRef(" ".join(name.split())))
    return refs


def _paper_result(path: Path, fm: dict[str, Any], body: str, title: str, tags: list[str]) -> ReadResult:
    """A Paper from paper-like front matter, with the body as its chunks."""
    arxiv = fm.get("arxiv_id") or fm.get("arxiv")
    abstract = next((fm[k] for k in ("abstract", "description", "summary") if isinstance(fm.get(k), str)), None)
    rec = PaperRecord(
        title=title, abstract=abstract, year=_year(fm.get("year") or fm.get("date")),
        date=str(fm["date"]) if fm.get("date") else None, authors=_authors(fm.get("authors") or fm.get("author")),
        doi=str(fm["doi"]) if fm.get("doi") else None, arxiv_id=str(arxiv) if arxiv else None,
        venue=str(fm["venue"]) if fm.get("venue") else None, url=str(fm["url"]) if fm.get("url") else None,
        categories=[("tag", t) for t in tags], extra={"source_format": "markdown"})
    pid, out = paper_records(rec)
    if body.strip():
        out.extend(chunk_records(pid, str(path), chunk_text(body)))
    return out


class MarkdownReader:
    """``.md``, ``.markdown`` and ``.mdx`` files other than ``SKILL.md``."""

    name = "markdown"
    priority = 0
    extensions = (".md", ".markdown", ".mdx")

    def sniff(self, info: FileInfo) -> bool:
        """A Markdown extension, and not named ``SKILL.md`` (any case)."""
        return info.path.suffix.lower() in self.extensions and not is_skill_file(info.path)

    def read(self, path: Path, data: bytes) -> ReadResult:
        """Parse one Markdown file into a Document (or a Paper) with its chunks."""
        if not data:
            raise ReaderError("empty file")
        text, encoding = decode_text_with_encoding(data, path)
        fm, body, raw, error = parse_front_matter(text)
        fm_title = fm.get("title")
        title = (" ".join(str(fm_title).split()) if isinstance(fm_title, str | int | float) else "") \
            or first_heading(body) or path.stem
        tags = list(dict.fromkeys(t for k in TAG_KEYS for t in tag_names(fm.get(k))))
        if fm.get("doi") or fm.get("arxiv_id") or fm.get("arxiv"):
            out = _paper_result(path, fm, body, title, tags)
        else:
            text = body if body.strip() else next(
                (fm[k] for k in ("description", "summary", "abstract") if isinstance(fm.get(k), str)), body)
            meta = {k: v for k, v in fm.items() if k != "title"}
            if raw is not None and error:
                meta["front_matter_raw"] = raw
            out = document_result(path, text, title=title, fmt="markdown", metadata=meta)
            out.extend(tag_records(document_id(str(path)), tags))
        if error:
            out.errors.append(error)
        if warning := encoding_warning(encoding):
            out.warnings.append(warning)
        return out


register_reader(MarkdownReader())
