"""Plain-text reader: one Document node with its text split into chunks."""

from __future__ import annotations

from pathlib import Path

from ingest.chunking import chunk_text
from ingest.readers.base import FileInfo, decode_text_with_encoding, encoding_warning, register_reader
from ingest.records import chunk_records, document_id
from kg.errors import ReaderError
from kg.model import Label, NodeRecord, ReadResult

MAX_DOCUMENT_CHARS = 5_000_000
"""Characters of one document's text that are chunked; the rest is cut with a warning. A 117 MB
single-line text took 3.3 GB of RSS to ingest in full (90,000 chunks); at this cap a document
stays under ~4,000 chunks."""


def document_result(path: Path, text: str, *, title: str | None = None, fmt: str,
                    metadata: dict | None = None) -> ReadResult:
    """A Document node (title, format, metadata, first words as summary) with its chunks."""
    if not text.strip():
        raise ReaderError("no text content")
    cut = len(text) > MAX_DOCUMENT_CHARS
    if cut:
        total, text = len(text), text[:MAX_DOCUMENT_CHARS]
    did = document_id(str(path))
    first_line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    props = {"title": title or first_line[:200] or path.stem, "format": fmt, "path": str(path),
             "n_chars": len(text)}
    for k, v in (metadata or {}).items():
        if k not in props and v not in (None, "", [], {}):
            props[k] = v
    out = ReadResult(nodes=[NodeRecord(did, Label.DOCUMENT, props)])
    out.extend(chunk_records(did, str(path), chunk_text(text)))
    if cut:
        out.warnings.append(f"text cut at {MAX_DOCUMENT_CHARS:,} of {total:,} characters (MAX_DOCUMENT_CHARS); "
                            "the rest was not read")
    return out


class TextReader:
    """``.txt`` and other plain text files."""

    name = "text"
    priority = 0
    extensions = (".txt", ".text", ".rst", ".log")

    def sniff(self, info: FileInfo) -> bool:
        return info.path.suffix.lower() in self.extensions

    def read(self, path: Path, data: bytes) -> ReadResult:
        """One Document with chunks; a legacy encoding is detected and named in a warning."""
        text, encoding = decode_text_with_encoding(data, path)
        out = document_result(path, text, fmt="text")
        if warning := encoding_warning(encoding):
            out.warnings.append(warning)
        return out


register_reader(TextReader())
