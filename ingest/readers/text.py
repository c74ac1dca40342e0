"""Plain-text reader: one Document node with its text split into chunks."""

from __future__ import annotations

from pathlib import Path

from ingest.chunking import chunk_text
from ingest.readers.base import FileInfo, decode_text_with_encoding, encoding_warning, register_reader
from ingest.records import chunk_records, document_id
from kg.errors import ReaderError
from kg.model import Label, NodeRecord, ReadResult


def document_result(path: Path, text: str, *, title: str | None = None, fmt: str,
                    metadata: dict | None = None) -> ReadResult:
    """A Document node (title, format, metadata, first words as summary) with its chunks."""
    if not text.strip():
        raise ReaderError("no text content")
    did = document_id(str(path))
    first_line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    props = {"title": title or first_line[:200] or path.stem, "format": fmt, "path": str(path),
             "n_chars": len(text)}
    for k, v in (metadata or {}).items():
        if k not in props and v not in (None, "", [], {}):
            props[k] = v
    out = ReadResult(nodes=[NodeRecord(did, Label.DOCUMENT, props)])
    out.extend(chunk_records(did, str(path), chunk_text(text)))
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
