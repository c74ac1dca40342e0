"""PowerPoint decks (``.pptx``/``.pptm``/``.ppsx``/``.potx``...) -> a ``Document`` with a chunk per slide.

Parsed with python-pptx. Title: the core properties' title, else the first slide's title, else the
file stem; authors (a list property: Documents have no author edges), created/modified, subject and
keywords (``Category`` nodes, scheme ``tag``) come from the core properties. Each slide's text is
its title, then every text frame and table (cells joined with ``" | "``, rows with newlines) in
shape order, group shapes included, then its speaker notes after ``Notes:``. A slide becomes one
chunk (a slide longer than the chunker's limit becomes several); every chunk carries ``slide`` (the
1-based slide number) and ``section`` (the slide title). Slides without text are skipped.

Macro-enabled decks (``.pptm``) are read as data; the VBA part is never touched. OLE files
(encrypted decks, legacy ``.ppt``), corrupt or truncated ZIPs and decks without text raise
:class:`kg.errors.ReaderError`. At most :data:`MAX_SLIDES` slides and
:data:`ingest.readers.word.MAX_CHARS` characters are read (a warning says so).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from ingest.chunking import chunk_text
from ingest.readers.base import FileInfo, register_reader
from ingest.readers.markdown import tag_names, tag_records
from ingest.readers.word import (
    MAX_CHARS,
    has_macros,
    iso,
    one_line,
    open_zip,
    relabel_package,
    split_names,
    table_text,
)
from ingest.records import chunk_records, document_id
from kg.errors import ReaderError, require
from kg.model import Label, NodeRecord, ReadResult

MAX_SLIDES = 5000
"""Slides read per deck; later ones are skipped with a warning."""

SUFFIXES = (".pptx", ".pptm", ".ppsx", ".ppsm", ".potx", ".potm")

_PML_MAIN = b"application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml"
_PML_VARIANTS = (b"application/vnd.openxmlformats-officedocument.presentationml.slideshow.main+xml",
                 b"application/vnd.openxmlformats-officedocument.presentationml.template.main+xml",
                 b"application/vnd.ms-powerpoint.slideshow.macroEnabled.main+xml",
                 b"application/vnd.ms-powerpoint.template.macroEnabled.main+xml")


def _clean(text: str | None) -> str:
    return " ".join((text or "").split())


def _shape_texts(shapes: Any, skip: Any = None, depth: int = 0) -> list[str]:
    """Text of the text frames and tables among ``shapes`` (groups recursed), in shape order."""
    out: list[str] = []
    for shape in shapes:
        if skip is not None and shape.shape_id == skip:
            continue
        if getattr(shape, "shapes", None) is not None and depth < 32:  # a group shape
            out += _shape_texts(shape.shapes, skip, depth + 1)
        elif getattr(shape, "has_table", False) and shape.has_table:
            out.append(table_text([[cell.text for cell in row.cells] for row in shape.table.rows]))
        elif getattr(shape, "has_text_frame", False) and shape.has_text_frame:
            out.append(shape.text_frame.text)
    return [t.strip() for t in out if t.strip()]


def slide_text(slide: Any) -> tuple[str, str]:
    """A slide's (title, text): title, text frames, tables, then speaker notes after ``Notes:``."""
    title_shape = slide.shapes.title
    title = _clean(title_shape.text_frame.text) if title_shape is not None and title_shape.has_text_frame else ""
    parts = ([title] if title else []) + _shape_texts(
        slide.shapes, title_shape.shape_id if title_shape is not None else None)
    if slide.has_notes_slide:
        frame = slide.notes_slide.notes_text_frame
        notes = frame.text.strip() if frame is not None else ""
        if notes:
            parts.append(f"Notes: {notes}")
    return title, "\n\n".join(parts)


class SlidesReader:
    """PowerPoint decks: ``.pptx`` and its macro-enabled, show and template variants."""

    name = "slides"
    priority = 0
    extensions = SUFFIXES

    def sniff(self, info: FileInfo) -> bool:
        """A PowerPoint Open XML extension."""
        return info.path.suffix.lower() in self.extensions

    def read(self, path: Path, data: bytes) -> ReadResult:
        """Parse one deck into a Document with a chunk per slide."""
        pptx = require("pptx", "documents", "reading .pptx files")
        if not data:
            raise ReaderError("empty file")
        zf = open_zip(data, fmt="PPTX", modern=".pptx")
        package = relabel_package(zf, data, main=_PML_MAIN, variants=_PML_VARIANTS, fmt="PPTX")
        try:
            prs = pptx.Presentation(io.BytesIO(package))
            slides = list(prs.slides)
        except Exception as e:  # python-pptx/lxml raise KeyError, ValueError, XMLSyntaxError, ...
            raise ReaderError(f"invalid PPTX: {one_line(e)}") from None
        warnings: list[str] = []
        if len(slides) > MAX_SLIDES:
            warnings.append(f"only the first {MAX_SLIDES} of {len(slides)} slides were read (MAX_SLIDES)")
        chunks: list[tuple[int, str, str]] = []  # (slide number, slide title, chunk text)
        first_title, n_chars = "", 0
        for number, slide in enumerate(slides[:MAX_SLIDES], 1):
            try:
                title, text = slide_text(slide)
            except Exception as e:
                warnings.append(f"slide {number} skipped: {one_line(e)}")
                continue
            first_title = first_title or title
            if n_chars + len(text) > MAX_CHARS:
                text = text[: MAX_CHARS - n_chars]
                warnings.append(f"text cut at {MAX_CHARS:,} characters in slide {number} (MAX_CHARS)")
            n_chars += len(text)
            chunks += [(number, title, c) for c in chunk_text(text)]
            if n_chars >= MAX_CHARS:
                break
        if not chunks:
            raise ReaderError("no text content" if slides else "presentation has no slides")
        cp = prs.core_properties
        did = document_id(str(path))
        props: dict[str, Any] = {"title": _clean(cp.title) or first_title or path.stem, "format": "pptx",
                                 "path": str(path), "n_chars": n_chars, "n_slides": len(slides)}
        meta = {"authors": split_names(cp.author), "created": iso(cp.created), "modified": iso(cp.modified),
                "subject": _clean(cp.subject), "language": _clean(cp.language)}
        props.update({k: v for k, v in meta.items() if v})
        out = ReadResult(nodes=[NodeRecord(did, Label.DOCUMENT, props)], warnings=warnings)
        records = chunk_records(did, str(path), [c for _, _, c in chunks])
        for node, (number, title, _) in zip(records.nodes, chunks, strict=True):
            node.properties["slide"] = number
            if title:
                node.properties["section"] = title
        out.extend(records)
        out.extend(tag_records(did, tag_names(cp.keywords.replace(";", ",")) if cp.keywords else []))
        if has_macros(zf):
            out.warnings.append("macro-enabled file: text read, macros ignored (never run)")
        return out


register_reader(SlidesReader())
