"""EPUB e-books (``.epub``) -> a ``Document`` with its chapters, in spine order, as chunks.

Parsed with ebooklib (container, OPF package, manifest, spine, NCX/nav table of contents); each
chapter's XHTML becomes text through selectolax with the HTML reader's rules (scripts, styles and
navigation dropped, block elements as paragraphs). Dublin Core metadata becomes Document
properties: ``title``, ``authors`` (``dc:creator`` with no role or the ``aut`` role; a list
property, as Documents have no author edges), ``language``, ``date``, ``publisher``,
``identifier``, ``description``; ``dc:subject`` values become ``Category`` nodes (scheme ``tag``).
A chapter's title is its first ``<h1>``-``<h3>``, else its table-of-contents entry; it is the
``section`` property of the chapter's chunks.

``META-INF/container.xml``, the OPF package and ``META-INF/encryption.xml`` are first parsed with
defusedxml, so entity declarations are refused before ebooklib (lxml, entities not resolved) sees
them. Bad input raises :class:`kg.errors.ReaderError` with one line: not a ZIP, a missing container
or package, DRM (``encryption.xml`` listing encrypted content other than obfuscated fonts), entity
declarations, no text. A chapter that cannot be decoded is reported in ``ReadResult.errors`` and
the other chapters are kept. Text past :data:`ingest.readers.word.MAX_CHARS` is dropped with a
warning.
"""

from __future__ import annotations

import io
import posixpath
import warnings
import zipfile
from pathlib import Path
from typing import Any

from ingest.readers.base import FileInfo, register_reader
from ingest.readers.html import DROP_TAGS, MAX_DEPTH, decode_html, main_text, nesting_depth
from ingest.readers.markdown import tag_names
from ingest.readers.word import Sections, one_line, open_zip, read_member, safe_xml, sections_result
from kg.errors import ReaderError, require
from kg.model import ReadResult

FONT_OBFUSCATION = frozenset({"http://www.idpf.org/2008/embedding", "http://ns.adobe.com/pdf/enc#RC"})
"""``encryption.xml`` algorithms that only obfuscate embedded fonts (not DRM)."""

_CONTAINER_NS = "{urn:oasis:names:tc:opendocument:xmlns:container}"
_ENC_NS = "{http://www.w3.org/2001/04/xmlenc#}"


def _clean(text: str | None) -> str:
    return " ".join((text or "").split())


def package_path(zf: zipfile.ZipFile) -> str:
    """The OPF package's path from ``META-INF/container.xml`` (both checked with defusedxml)."""
    if "META-INF/container.xml" not in zf.namelist():
        raise ReaderError("invalid EPUB: META-INF/container.xml is missing")
    root = safe_xml(read_member(zf, "META-INF/container.xml", fmt="EPUB"), "META-INF/container.xml", fmt="EPUB")
    paths = [r.get("full-path") for r in root.iter(f"{_CONTAINER_NS}rootfile")
             if r.get("media-type") == "application/oebps-package+xml" and r.get("full-path")]
    if not paths:
        raise ReaderError("invalid EPUB: container.xml names no OPF package")
    opf = posixpath.normpath(paths[0])
    if opf not in zf.namelist():
        raise ReaderError(f"invalid EPUB: the OPF package {opf!r} is missing")
    safe_xml(read_member(zf, opf, fmt="EPUB"), opf, fmt="EPUB")
    return opf


def check_drm(zf: zipfile.ZipFile) -> None:
    """Refuse an EPUB whose ``encryption.xml`` lists encrypted content (font obfuscation is fine)."""
    if "META-INF/encryption.xml" not in zf.namelist():
        return
    root = safe_xml(read_member(zf, "META-INF/encryption.xml", fmt="EPUB"), "META-INF/encryption.xml", fmt="EPUB")
    encrypted = 0
    for data in root.iter(f"{_ENC_NS}EncryptedData"):
        method = data.find(f"{_ENC_NS}EncryptionMethod")
        if method is None or method.get("Algorithm") not in FONT_OBFUSCATION:
            encrypted += 1
    if encrypted:
        raise ReaderError(f"DRM-encrypted EPUB: {encrypted} file(s) are encrypted (META-INF/encryption.xml)")


def _toc_titles(toc: Any, out: dict[str, str], depth: int = 0) -> dict[str, str]:
    """File name -> first table-of-contents title, from ebooklib's nested Link/Section tuples."""
    for entry in toc if isinstance(toc, list | tuple) else [toc]:
        if isinstance(entry, list | tuple):
            if depth < 32:
                _toc_titles(list(entry), out, depth + 1)
            continue
        href, title = getattr(entry, "href", None), _clean(getattr(entry, "title", None))
        if href and title:
            out.setdefault(str(href).split("#")[0], title)
    return out


def _meta(book: Any, name: str) -> list[tuple[str, dict[str, str]]]:
    return [(_clean(v), extra or {}) for v, extra in book.get_metadata("DC", name) if _clean(v)]


def _authors(book: Any) -> list[str]:
    """``dc:creator`` names whose role (EPUB 2 ``opf:role`` or an EPUB 3 ``refines`` meta) is
    ``aut`` or unset; every creator when none qualifies."""
    refined = {str(extra.get("refines", "")).lstrip("#"): _clean(v)
               for ns in book.metadata.values() for v, extra in ns.get("meta", [])
               if (extra or {}).get("property") == "role" and (extra or {}).get("refines")}
    creators = _meta(book, "creator")
    roles = [(v, next((r for k, r in extra.items() if k.endswith("role")), None) or refined.get(extra.get("id", "")))
             for v, extra in creators]
    authors = [v for v, role in roles if role in (None, "", "aut")] or [v for v, _ in creators]
    return list(dict.fromkeys(authors))


def chapter_text(html: str) -> tuple[str, str]:
    """A chapter's (first ``h1``-``h3`` heading, text) with the HTML reader's rules."""
    from selectolax.lexbor import LexborHTMLParser

    tree = LexborHTMLParser(html)
    heading = next((_clean(n.text()) for n in tree.css("h1, h2, h3") if _clean(n.text())), "")
    tree.strip_tags(DROP_TAGS)
    for node in tree.css('[role="navigation"], [aria-hidden="true"], [hidden]'):
        node.decompose()
    return heading, main_text(tree.body) if tree.body is not None else ""


class EpubReader:
    """``.epub`` e-books."""

    name = "epub"
    priority = 0
    extensions = (".epub",)

    def sniff(self, info: FileInfo) -> bool:
        """The ``.epub`` extension, or a ZIP whose first member is ``mimetype`` = EPUB."""
        return info.path.suffix.lower() in self.extensions or (
            info.head[:4] == b"PK\x03\x04" and b"mimetypeapplication/epub+zip" in info.head[:100])

    def read(self, path: Path, data: bytes) -> ReadResult:
        """Parse one e-book into a Document with its chapters as chunks."""
        epub = require("ebooklib.epub", "documents", "reading .epub files")
        if not data:
            raise ReaderError("empty file")
        zf = open_zip(data, fmt="EPUB", modern=".epub")
        check_drm(zf)
        package_path(zf)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                book = epub.read_epub(io.BytesIO(data), {"ignore_ncx": False})
        except Exception as e:  # EpubException, KeyError (a missing member), lxml errors, ...
            raise ReaderError(f"invalid EPUB: {one_line(e)}") from None
        toc = _toc_titles(book.toc, {})
        sections, errors = Sections(), []
        for idref, _linear in book.spine:
            item = book.get_item_with_id(idref)
            if item is None or sections.full:
                continue
            if item.media_type != "application/xhtml+xml" or isinstance(item, epub.EpubNav):
                continue
            name = item.get_name()
            try:
                raw = item.content if isinstance(item.content, bytes) else str(item.content or "").encode()
                html = decode_html(raw, path)  # the raw bytes: get_content() re-serialises through lxml
                if nesting_depth(html) > MAX_DEPTH:
                    raise ReaderError(f"HTML nested too deeply (over {MAX_DEPTH} levels)")
                heading, text = chapter_text(html)
            except ReaderError as e:
                errors.append(f"chapter {name}: {e}")
                continue
            if text.strip():
                sections.section(heading or toc.get(name))
                sections.add(text)
        titles = _meta(book, "title")
        date = _meta(book, "date")
        meta = {"authors": _authors(book), "language": next((v for v, _ in _meta(book, "language")), None),
                "date": date[0][0] if date else None,
                "publisher": next((v for v, _ in _meta(book, "publisher")), None),
                "identifier": _clean(book.uid) or next((v for v, _ in _meta(book, "identifier")), None),
                "description": next((v for v, _ in _meta(book, "description")), None)}
        tags = list(dict.fromkeys(t for v, _ in _meta(book, "subject") for t in tag_names(v)))
        out = sections_result(path, sections, fmt="epub", title=titles[0][0] if titles else None,
                              metadata=meta, tags=tags)
        out.errors += errors
        return out


register_reader(EpubReader())
