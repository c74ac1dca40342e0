"""Word-processor files -> one ``Document`` with its text chunked section by section.

* ``.docx`` / ``.docm`` / ``.dotx`` / ``.dotm`` through python-docx: title, author(s), subject,
  keywords, created/modified from the core properties; paragraphs and tables in reading order;
  ``Title``/``Heading N`` paragraphs start sections. Macro-enabled files are read as data: their
  package is re-labelled as a plain document in memory so python-docx opens it, and the VBA part is
  never looked at, let alone run.
* ``.odt`` / ``.ott``: parsed here with :mod:`zipfile` + defusedxml (one safe parse of
  ``content.xml``/``meta.xml``; odfpy would re-parse with the stdlib SAX parser into a heavy object
  tree and still need a walk of its own to keep headings and tables). ``text:h`` starts a section.
* ``.rtf`` through striprtf; ``{\\info}`` title/author/creation time when present. Embedded pictures
  and objects are dropped before conversion and the rest is capped at :data:`MAX_RTF_CHARS`.

Each section is chunked with :func:`ingest.chunking.chunk_text`; its heading opens its first chunk
and every chunk of it carries the heading as its ``section`` property. Tables become text (cells
joined with ``" | "``, rows with newlines). Documents have no author edges in the schema
(``AUTHORED`` is Author -> Paper), so authors are a list property ``authors`` on the Document;
keywords become ``Category`` nodes (scheme ``tag``) as for Markdown and HTML.

Bad input raises :class:`kg.errors.ReaderError` with one line: a corrupt or truncated ZIP, an OLE
compound file (an encrypted OOXML file or a legacy ``.doc``), a password-protected ODT, XML with
entity declarations (possible entity bomb), ZIP members that would inflate past
:data:`MAX_MEMBER_BYTES`, a file without text. Text past :data:`MAX_CHARS` is dropped with a warning.
"""

from __future__ import annotations

import datetime as _dt
import io
import re
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ingest.chunking import chunk_text
from ingest.readers.base import FileInfo, register_reader
from ingest.readers.markdown import tag_names, tag_records
from ingest.records import chunk_records, document_id
from kg.errors import ReaderError, require
from kg.model import Label, NodeRecord, ReadResult

MAX_CHARS = 5_000_000
"""Text kept per document; the rest is dropped with a warning."""
MAX_MEMBER_BYTES = 256 * 2**20
"""Largest uncompressed ZIP member accepted (a bigger one is refused as a possible ZIP bomb)."""
MAX_ZIP_BYTES = 1024 * 2**20
"""Largest total uncompressed size of a ZIP container."""
MAX_RTF_CHARS = 8_000_000
"""RTF source kept after pictures and objects are dropped (striprtf runs at about 3 MB/s)."""

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
"""Start of an OLE compound file: legacy ``.doc``/``.ppt`` or an encrypted OOXML package."""

DOCX_SUFFIXES = (".docx", ".docm", ".dotx", ".dotm")
ODT_SUFFIXES = (".odt", ".ott")
RTF_SUFFIXES = (".rtf",)

_WML_MAIN = b"application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"
_WML_VARIANTS = (b"application/vnd.ms-word.document.macroEnabled.main+xml",
                 b"application/vnd.openxmlformats-officedocument.wordprocessingml.template.main+xml",
                 b"application/vnd.ms-word.template.macroEnabledTemplate.main+xml")
_HEADING_STYLE = re.compile(r"^(?:title|heading\s*\d+)$", re.I)


def one_line(e: BaseException) -> str:
    """An exception as ``Type: first line`` (at most 160 characters of message)."""
    msg = (str(e).strip().splitlines() or [""])[0][:160]
    return f"{type(e).__name__}: {msg}" if msg else type(e).__name__


def _clean(text: str | None) -> str:
    return " ".join((text or "").split())


# -- containers --------------------------------------------------------------------------------------
def open_zip(data: bytes, *, fmt: str, modern: str) -> zipfile.ZipFile:
    """Open an Office/ODF/EPUB ZIP container, refusing OLE files, corrupt ZIPs and ZIP bombs.

    ``fmt`` names the format in messages (``DOCX``); ``modern`` is the extension to save as when
    the file turns out to be an OLE compound file (``.docx``).
    """
    if data.startswith(OLE_MAGIC):
        legacy = {".docx": ".doc", ".pptx": ".ppt", ".xlsx": ".xls"}.get(modern, "binary")
        raise ReaderError(f"encrypted or legacy {legacy} Office file: save as {modern}")
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError, NotImplementedError) as e:
        raise ReaderError(f"invalid {fmt}: not a ZIP container or truncated ({one_line(e)})") from None
    big = next((i for i in infos if i.file_size > MAX_MEMBER_BYTES), None)
    if big is not None:
        raise ReaderError(f"invalid {fmt}: member {big.filename!r} inflates to {big.file_size / 2**20:.0f} MiB "
                          f"(limit {MAX_MEMBER_BYTES // 2**20} MiB)")
    if sum(i.file_size for i in infos) > MAX_ZIP_BYTES:
        raise ReaderError(f"invalid {fmt}: contents inflate past {MAX_ZIP_BYTES // 2**20} MiB")
    return zf


def read_member(zf: zipfile.ZipFile, name: str, *, fmt: str) -> bytes:
    """One ZIP member's bytes; a missing or corrupt member is a :class:`ReaderError`."""
    try:
        return zf.read(name)
    except KeyError:
        raise ReaderError(f"invalid {fmt}: {name} is missing") from None
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError, RuntimeError, zlib.error) as e:
        # RuntimeError: an encrypted member ("password required for extraction")
        raise ReaderError(f"invalid {fmt}: cannot unpack {name} ({one_line(e)})") from None


def safe_xml(data: bytes, name: str, *, fmt: str) -> Any:
    """Parse XML with defusedxml: entity declarations and external references are refused."""
    defused = require("defusedxml.ElementTree", "documents", "safe XML parsing")
    from xml.etree.ElementTree import ParseError

    try:
        return defused.fromstring(data)
    except ParseError as e:
        raise ReaderError(f"invalid {fmt}: {name} is not well-formed XML ({one_line(e)})") from None
    except ValueError as e:  # defusedxml's DefusedXmlException family
        raise ReaderError(f"invalid {fmt}: {name} declares XML entities or external references, refused "
                          f"(possible entity bomb: {type(e).__name__})") from None


# -- text accumulation and records -------------------------------------------------------------------
@dataclass
class Section:
    """A heading (None before the first one) and the paragraphs under it."""

    heading: str | None
    paragraphs: list[str] = field(default_factory=list)


class Sections:
    """Paragraphs grouped under headings, in reading order, capped at ``limit`` characters."""

    def __init__(self, limit: int | None = None) -> None:
        self.items: list[Section] = [Section(None)]
        self.limit = MAX_CHARS if limit is None else limit
        self.n_chars = 0
        self.truncated = False

    @property
    def full(self) -> bool:
        """Whether the character cap has been reached (callers stop walking)."""
        return self.truncated

    def _room(self, text: str) -> str:
        if self.n_chars + len(text) > self.limit:
            self.truncated = True
            text = text[: max(self.limit - self.n_chars, 0)]
        self.n_chars += len(text)
        return text

    def heading(self, text: str) -> None:
        """Start a new section (an empty heading is ignored)."""
        text = _clean(text)
        if text and not self.truncated:
            self.items.append(Section(self._room(text)))

    def section(self, heading: str | None) -> None:
        """Start a new section, untitled when ``heading`` is empty (an EPUB chapter without a title)."""
        if not self.truncated:
            self.items.append(Section(self._room(_clean(heading)) or None))

    def add(self, text: str) -> None:
        """Add a paragraph to the current section (blank ones are ignored)."""
        if text.strip() and not self.truncated:
            self.items[-1].paragraphs.append(self._room(text.strip()))

    def headings(self) -> list[str]:
        """The section headings in order."""
        return [s.heading for s in self.items if s.heading]

    def first_line(self) -> str:
        """The first non-blank text line (a title of last resort)."""
        for s in self.items:
            for t in ([s.heading] if s.heading else []) + s.paragraphs:
                if line := next((ln.strip() for ln in t.splitlines() if ln.strip()), ""):
                    return line[:200]
        return ""


def table_text(rows: list[list[str]]) -> str:
    """A table as text: cells joined with ``" | "``, rows with newlines; empty rows dropped.

    >>> table_text([["a", "b"], ["", ""], ["c", ""]])
    'a | b\\nc'
    """
    lines = []
    for row in rows:
        cells = [_clean(c) for c in row]
        while cells and not cells[-1]:
            cells.pop()
        if cells:
            lines.append(" | ".join(cells))
    return "\n".join(lines)


def iso(value: Any) -> str | None:
    """A date/datetime (or a string) as an ISO string; None for nothing."""
    if isinstance(value, _dt.date | _dt.datetime):
        return value.isoformat()
    return _clean(str(value)) or None if value not in (None, "") else None


def split_names(value: str | None) -> list[str]:
    """Author names from a ``;``-separated field (commas may be ``Last, First``), de-duplicated.

    >>> split_names("Ada Lovelace; Grace Hopper;Ada Lovelace")
    ['Ada Lovelace', 'Grace Hopper']
    """
    return list(dict.fromkeys(n for n in (_clean(p) for p in (value or "").split(";")) if n))


def sections_result(path: Path, sections: Sections, *, fmt: str, title: str | None,
                    metadata: dict[str, Any] | None = None, tags: list[str] | None = None) -> ReadResult:
    """A Document node with one run of chunks per section (``section`` = the heading).

    Raises :class:`ReaderError` when there is no text at all.
    """
    chunks: list[tuple[str | None, str]] = []
    for s in sections.items:
        body = "\n\n".join(s.paragraphs)
        text = f"{s.heading}\n\n{body}" if s.heading and not _clean(body).startswith(s.heading) else body
        chunks += [(s.heading, c) for c in chunk_text(text)]
    if not chunks:
        raise ReaderError("no text content")
    did = document_id(str(path))
    props: dict[str, Any] = {"title": _clean(title) or sections.first_line() or path.stem, "format": fmt,
                             "path": str(path), "n_chars": sections.n_chars}
    for k, v in (metadata or {}).items():
        if k not in props and v not in (None, "", [], {}):
            props[k] = v
    out = ReadResult(nodes=[NodeRecord(did, Label.DOCUMENT, props)])
    records = chunk_records(did, str(path), [c for _, c in chunks])
    for node, (heading, _) in zip(records.nodes, chunks, strict=True):
        if heading:
            node.properties["section"] = heading
    out.extend(records)
    out.extend(tag_records(did, tags or []))
    if sections.truncated:
        out.warnings.append(f"text cut at {sections.limit:,} characters (MAX_CHARS)")
    return out


# -- DOCX --------------------------------------------------------------------------------------------
def has_macros(zf: zipfile.ZipFile) -> bool:
    """Whether an OOXML package carries a VBA project (it is never read, let alone run)."""
    return any(n.lower().endswith("vbaproject.bin") for n in zf.namelist())


def relabel_package(zf: zipfile.ZipFile, data: bytes, *, main: bytes, variants: tuple[bytes, ...],
                    fmt: str) -> bytes:
    """The package with a macro-enabled/template/show main part re-labelled as ``main``.

    The format libraries refuse those content types although the XML is the same; only
    ``[Content_Types].xml`` changes, so nothing in a VBA project is read or run.
    """
    types = read_member(zf, "[Content_Types].xml", fmt=fmt)
    if not any(v in types for v in variants):
        return data
    for v in variants:
        types = types.replace(v, main)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as out:
        for info in zf.infolist():
            out.writestr(info.filename, types if info.filename == "[Content_Types].xml" else
                         read_member(zf, info.filename, fmt=fmt))
    return buf.getvalue()


def _docx_table(table: Any) -> str:
    rows = []
    for row in table.rows:
        seen: set[int] = set()
        cells = []
        for cell in row.cells:  # a merged cell repeats: keep it once
            if id(cell._tc) not in seen:
                seen.add(id(cell._tc))
                cells.append(cell.text)
        rows.append(cells)
    return table_text(rows)


def read_docx(path: Path, data: bytes) -> ReadResult:
    """A ``.docx``/``.docm``/``.dotx``/``.dotm`` file as a Document with section chunks."""
    docx = require("docx", "documents", "reading .docx files")
    zf = open_zip(data, fmt="DOCX", modern=".docx")
    package = relabel_package(zf, data, main=_WML_MAIN, variants=_WML_VARIANTS, fmt="DOCX")
    try:
        doc = docx.Document(io.BytesIO(package))
    except Exception as e:  # python-docx/lxml raise KeyError, ValueError, XMLSyntaxError, ...
        raise ReaderError(f"invalid DOCX: {one_line(e)}") from None
    sections, title_para = Sections(), ""
    try:
        for block in doc.iter_inner_content():
            if sections.full:
                break
            if hasattr(block, "rows"):
                sections.add(_docx_table(block))
                continue
            style = _clean(getattr(block.style, "name", "") or "") if block.style is not None else ""
            if _HEADING_STYLE.match(style):
                title_para = title_para or (_clean(block.text) if style.lower() == "title" else "")
                sections.heading(block.text)
            else:
                sections.add(block.text)
    except Exception as e:
        raise ReaderError(f"invalid DOCX: {one_line(e)}") from None
    cp = doc.core_properties
    meta = {"authors": split_names(cp.author), "created": iso(cp.created), "modified": iso(cp.modified),
            "subject": _clean(cp.subject) or None, "description": _clean(cp.comments) or None,
            "language": _clean(cp.language) or None}
    out = sections_result(path, sections, fmt="docx", title=_clean(cp.title) or title_para or None, metadata=meta,
                          tags=tag_names(cp.keywords.replace(";", ",")) if cp.keywords else [])
    if has_macros(zf):
        out.warnings.append("macro-enabled file: text read, macros ignored (never run)")
    return out


# -- ODT ---------------------------------------------------------------------------------------------
_TEXT = "{urn:oasis:names:tc:opendocument:xmlns:text:1.0}"
_TABLE = "{urn:oasis:names:tc:opendocument:xmlns:table:1.0}"
_OFFICE = "{urn:oasis:names:tc:opendocument:xmlns:office:1.0}"
_META = "{urn:oasis:names:tc:opendocument:xmlns:meta:1.0}"
_DC = "{http://purl.org/dc/elements/1.1/}"
_ODF_SKIP = {_TEXT + t for t in ("note", "tracked-changes", "sequence-decls", "variable-decls", "user-field-decls",
                                 "bookmark-start", "bookmark-end", "soft-page-break")} | {_OFFICE + "annotation",
                                                                                          _OFFICE + "forms"}


def _odf_inline(el: Any) -> str:
    """Text of a paragraph-level element: ``text:s``/``tab``/``line-break`` honoured, notes skipped."""
    parts = [el.text or ""]
    for child in el:
        if child.tag == _TEXT + "s":
            parts.append(" " * min(int(child.get(_TEXT + "c", "1") or 1), 100))
        elif child.tag == _TEXT + "tab":
            parts.append("\t")
        elif child.tag == _TEXT + "line-break":
            parts.append("\n")
        elif child.tag not in _ODF_SKIP:
            parts.append(_odf_inline(child))
        parts.append(child.tail or "")
    return "".join(parts)


def _odf_table(table: Any) -> str:
    rows = []
    for row in table.iter(_TABLE + "table-row"):
        rows.append([" ".join(_odf_inline(p) for p in cell.iter() if p.tag in (_TEXT + "p", _TEXT + "h"))
                     for cell in row if cell.tag == _TABLE + "table-cell"])
    return table_text(rows)


def _odf_walk(el: Any, sections: Sections) -> None:
    for child in el:
        if sections.full:
            return
        if child.tag == _TEXT + "h":
            sections.heading(_odf_inline(child))
        elif child.tag == _TEXT + "p":
            sections.add(_odf_inline(child))
        elif child.tag == _TABLE + "table":
            sections.add(_odf_table(child))
        elif child.tag not in _ODF_SKIP:
            _odf_walk(child, sections)  # lists, list items, sections, frames, indexes


def _odf_meta(zf: zipfile.ZipFile) -> tuple[str | None, dict[str, Any], list[str]]:
    """Title, metadata (authors, dates, subject, language) and keywords from ``meta.xml``."""
    if "meta.xml" not in zf.namelist():
        return None, {}, []
    root = safe_xml(read_member(zf, "meta.xml", fmt="ODT"), "meta.xml", fmt="ODT")

    def first(tag: str) -> str | None:
        node = root.find(f".//{tag}")
        return _clean(node.text) or None if node is not None else None

    authors = [a for a in (first(_META + "initial-creator"), first(_DC + "creator")) if a]
    meta = {"authors": list(dict.fromkeys(authors)), "created": first(_META + "creation-date"),
            "modified": first(_DC + "date"), "subject": first(_DC + "subject"),
            "description": first(_DC + "description"), "language": first(_DC + "language")}
    keywords = [k for node in root.iter(_META + "keyword") for k in tag_names(node.text or "")]
    return first(_DC + "title"), meta, keywords


def read_odt(path: Path, data: bytes) -> ReadResult:
    """An OpenDocument text file as a Document with section chunks."""
    zf = open_zip(data, fmt="ODT", modern=".odt")
    names = set(zf.namelist())
    if "mimetype" in names:
        mime = read_member(zf, "mimetype", fmt="ODT").decode("ascii", "replace").strip()
        if not mime.startswith("application/vnd.oasis.opendocument.text"):
            raise ReaderError(f"not an OpenDocument text file (mimetype {mime[:80]!r})")
    manifest = "META-INF/manifest.xml"
    if manifest in names and b"encryption-data" in read_member(zf, manifest, fmt="ODT"):
        raise ReaderError("password-protected ODT: save it without a password")
    root = safe_xml(read_member(zf, "content.xml", fmt="ODT"), "content.xml", fmt="ODT")
    body = root.find(f"{_OFFICE}body/{_OFFICE}text")
    if body is None:
        raise ReaderError("invalid ODT: content.xml has no office:text body")
    sections = Sections()
    try:
        _odf_walk(body, sections)
    except RecursionError:
        raise ReaderError("invalid ODT: content.xml nested too deeply") from None
    title, meta, keywords = _odf_meta(zf)
    return sections_result(path, sections, fmt="odt", title=title, metadata=meta, tags=keywords)


# -- RTF ---------------------------------------------------------------------------------------------
_RTF_DROP = re.compile(r"\{\\(?:\*\\)?(?:pict|shppict|nonshppict|object|objdata|datastore|themedata|"
                       r"colorschememapping|blipuid|fonttbl|stylesheet|listtable)\b")
_RTF_BRACE = re.compile(r"\\[\\{}]|[{}]")
_RTF_INFO = re.compile(r"\{\\(title|author|subject|keywords)\s?((?:[^{}\\]|\\[^{}])*)\}")
_RTF_CREATED = re.compile(r"\{\\creatim\s*\\yr(\d{4})\s*(?:\\mo(\d{1,2}))?\s*(?:\\dy(\d{1,2}))?")


def drop_rtf_groups(rtf: str) -> str:
    """RTF with picture, object and other bulky binary/table groups removed (brace-matched).

    >>> drop_rtf_groups(r"{\\rtf1 a{\\pict{\\*\\blipuid 1}ff00}b}")
    '{\\\\rtf1 ab}'
    """
    out: list[str] = []
    pos = 0
    while m := _RTF_DROP.search(rtf, pos):
        out.append(rtf[pos:m.start()])
        depth, end = 0, len(rtf)
        for b in _RTF_BRACE.finditer(rtf, m.start()):
            tok = b.group()
            depth += 1 if tok == "{" else -1 if tok == "}" else 0
            if depth == 0:
                end = b.end()
                break
        pos = end
    out.append(rtf[pos:])
    return "".join(out)


def read_rtf(path: Path, data: bytes) -> ReadResult:
    """An RTF file as a Document (one section), with ``{\\info}`` title/author/creation date."""
    striprtf = require("striprtf.striprtf", "documents", "reading .rtf files")
    rtf = data.decode("latin-1")  # RTF is 7-bit; \\'xx escapes carry the code page
    if not rtf.lstrip("\ufeff\r\n\t ").startswith("{\\rtf"):
        raise ReaderError("not an RTF file (no {\\rtf header)")
    info = {k: striprtf.rtf_to_text(v, errors="replace").strip() for k, v in _RTF_INFO.findall(rtf[:200_000])}
    created = _RTF_CREATED.search(rtf[:200_000])
    rtf = drop_rtf_groups(rtf)
    warnings = []
    if len(rtf) > MAX_RTF_CHARS:
        warnings.append(f"RTF cut at {MAX_RTF_CHARS:,} characters of markup (MAX_RTF_CHARS)")
        rtf = rtf[:MAX_RTF_CHARS]
    cpg = re.search(r"\\ansicpg(\d+)", rtf[:4096])
    encoding = f"cp{cpg.group(1)}" if cpg else "cp1252"
    try:
        text = striprtf.rtf_to_text(rtf, encoding=encoding, errors="replace")
    except LookupError:
        text = striprtf.rtf_to_text(rtf, errors="replace")
    sections = Sections()
    for para in re.split(r"\n\s*\n|\n", text):
        sections.add(para)
    date = None
    if created:
        y, mo, d = created.group(1), created.group(2) or "1", created.group(3) or "1"
        date = f"{y}-{int(mo):02d}-{int(d):02d}"
    meta = {"authors": split_names(info.get("author")), "created": date, "subject": info.get("subject") or None}
    out = sections_result(path, sections, fmt="rtf", title=info.get("title") or None, metadata=meta,
                          tags=tag_names(info.get("keywords") or ""))
    out.warnings[:0] = warnings
    return out


class WordReader:
    """``.docx``/``.docm``/``.dotx``/``.dotm``, ``.odt``/``.ott`` and ``.rtf`` files."""

    name = "word"
    priority = 0
    extensions = DOCX_SUFFIXES + ODT_SUFFIXES + RTF_SUFFIXES

    def sniff(self, info: FileInfo) -> bool:
        """A word-processor extension, or ``{\\rtf`` at the start of the file."""
        return info.path.suffix.lower() in self.extensions or info.head.lstrip()[:5] == b"{\\rtf"

    def read(self, path: Path, data: bytes) -> ReadResult:
        """Parse one word-processor file into a Document with section chunks."""
        if not data:
            raise ReaderError("empty file")
        suffix = path.suffix.lower()
        if suffix in ODT_SUFFIXES:
            return read_odt(path, data)
        if suffix in DOCX_SUFFIXES:
            return read_docx(path, data)
        return read_rtf(path, data)


register_reader(WordReader())
