"""Jupyter notebooks (``.ipynb``) -> one ``Document`` with a chunk per cell, read with nbformat.

Title: ``metadata.title``, else the first level-1 Markdown heading (``*`` and backticks dropped), else the file name. Authors:
``metadata.authors`` (a list of ``{"name": ...}`` objects or strings) as the Document's
``authors`` property; ``metadata.tags`` / ``keywords`` become ``Category`` nodes (scheme ``tag``).
Markdown cells and code cells become chunks with ``cell`` (the cell's index in the notebook)
and ``cell_type`` properties; a code chunk is fenced with the kernel language (```` ```python
````) and followed by the cell's text outputs (streams and ``text/plain`` results, capped at
:data:`MAX_OUTPUT_CHARS`); images, HTML and other rich outputs are skipped. A long cell is split
into several chunks that share its ``cell`` index. Raw cells are skipped.

Read with ``nbformat.reads(..., as_version=4)``: older notebooks (nbformat 3) are upgraded, and
schema validation errors are warnings, not failures. Before nbformat sees the JSON, sources and
output texts that are not strings (numbers, nested lists) are turned into strings (warning) and
rich output payloads are dropped, so one odd cell does not lose the notebook. Invalid JSON, JSON
that is not a notebook and unsupported nbformat versions raise :class:`kg.errors.ReaderError`.
Bounded: at most :data:`MAX_CELLS` cells and :data:`MAX_SOURCE_CHARS` characters per cell.
"""

from __future__ import annotations

import logging
import re
import warnings as _warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson

from ingest.chunking import chunk_text
from ingest.readers.base import FileInfo, decode_text_with_encoding, register_reader
from ingest.readers.markdown import first_heading, tag_names, tag_records
from ingest.records import chunk_records, document_id
from kg.errors import ReaderError, require
from kg.model import Label, NodeRecord, ReadResult

MAX_CELLS = 10_000
"""Cells read per notebook; later cells are dropped with a warning."""
MAX_SOURCE_CHARS = 100_000
"""Characters kept of one cell's source."""
MAX_OUTPUT_CHARS = 2_000
"""Characters kept of one code cell's text outputs, all together."""
MAX_CHUNK_WORDS = 200
"""A cell longer than this (in words) is split with :func:`ingest.chunking.chunk_text`."""

_TEXT_OUTPUT = "text/plain"


def as_text(value: Any) -> tuple[str, bool]:
    """A notebook text field as a string, and whether it had to be coerced.

    Strings stay; lists of strings are joined (as nbformat does); anything else is ``str()``-ed.

    >>> as_text(["a\\n", "b"]), as_text(["a", 1]), as_text(None)
    (('a\\nb', False), ('a1', True), ('', True))
    """
    if isinstance(value, str):
        return value, False
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "".join(value), False
    if value is None:
        return "", True
    if isinstance(value, list):
        return "".join(v if isinstance(v, str) else orjson.dumps(v).decode() if isinstance(v, dict | list)
                       else str(v) for v in value), True
    return (orjson.dumps(value).decode() if isinstance(value, dict) else str(value)), True


def _cells_of(raw: dict[str, Any]) -> Iterator[list[Any]]:
    """The cell lists of a raw notebook: ``cells`` (v4) or each worksheet's (v3)."""
    if isinstance(raw.get("cells"), list):
        yield raw["cells"]
    for ws in raw.get("worksheets") or []:
        if isinstance(ws, dict) and isinstance(ws.get("cells"), list):
            yield ws["cells"]


def sanitize(raw: dict[str, Any], notes: list[str]) -> None:
    """Make a raw notebook safe for nbformat, in place: non-object cells dropped, text fields as
    strings (capped), outputs reduced to their text, at most :data:`MAX_CELLS` cells."""
    coerced = dropped = cut = skipped = total = 0
    for cells in _cells_of(raw):
        keep: list[Any] = []
        for cell in cells:
            if not isinstance(cell, dict):  # an empty raw cell in its place keeps the cell indices
                dropped += 1
                cell = {"cell_type": "raw", "metadata": {}, "source": ""}
            if total >= MAX_CELLS:
                skipped += 1
                continue
            total += 1
            for key in ("source", "input"):
                if key in cell:
                    text, bad = as_text(cell[key])
                    coerced += bad
                    cut += len(text) > MAX_SOURCE_CHARS
                    cell[key] = text[:MAX_SOURCE_CHARS]
            if "outputs" in cell and not isinstance(cell["outputs"], list):
                cell["outputs"], coerced = [], coerced + 1
            for out in cell.get("outputs") or []:
                if isinstance(out, dict):
                    coerced += _reduce_output(out)
            keep.append(cell)
        cells[:] = keep
    if dropped:
        notes.append(f"{dropped} cell(s) that are not JSON objects skipped")
    if coerced:
        notes.append(f"{coerced} cell field(s) that were not strings converted to text")
    if cut:
        notes.append(f"{cut} cell source(s) cut at {MAX_SOURCE_CHARS} characters")
    if skipped:
        notes.append(f"only the first {MAX_CELLS} cells read ({skipped} more skipped)")


def _reduce_output(out: dict[str, Any]) -> int:
    """Keep only an output's text (capped), in place; 1 when a text had to be coerced."""
    if isinstance(out.get("data"), dict):
        data = out["data"]
        out["data"] = {_TEXT_OUTPUT: as_text(data[_TEXT_OUTPUT])[0][:MAX_OUTPUT_CHARS + 1]} \
            if _TEXT_OUTPUT in data else {}
    for k in ("png", "jpeg", "svg", "html", "latex", "javascript", "json", "pdf"):  # nbformat 3 rich outputs
        out.pop(k, None)
    if "text" not in out:
        return 0
    text, bad = as_text(out["text"])
    out["text"] = text[:MAX_OUTPUT_CHARS + 1]
    return int(bad)


class _DropNbformatLog(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Notebook JSON is")


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence nbformat's validation log lines and warnings (they become ReadResult warnings)."""
    logger = logging.getLogger("traitlets")
    flt = _DropNbformatLog()
    logger.addFilter(flt)
    try:
        with _warnings.catch_warnings():
            _warnings.simplefilter("ignore")
            yield
    finally:
        logger.removeFilter(flt)


def _one_line(e: BaseException) -> str:
    msg = (str(e).strip().splitlines() or [type(e).__name__])[0]
    return msg[:200]


def load_notebook(data: bytes, path: Path, notes: list[str]) -> Any:
    """Parse, sanitize, upgrade to nbformat 4 and validate; validation problems go to ``notes``."""
    nbformat = require("nbformat", "documents", "Jupyter notebooks")
    text, _ = decode_text_with_encoding(data, path)
    try:
        raw = orjson.loads(text)
    except orjson.JSONDecodeError as e:
        raise ReaderError(f"invalid JSON ({_one_line(e)})") from None
    if not isinstance(raw, dict) or "nbformat" not in raw:
        raise ReaderError("not a Jupyter notebook (no 'nbformat' version)")
    sanitize(raw, notes)
    captured: dict[str, Any] = {}
    try:
        with _quiet():
            nb = nbformat.reads(orjson.dumps(raw).decode(), as_version=4, capture_validation_error=captured)
    except Exception as e:  # NBFormatError, jsonschema's ValidationError on upgrade, a malformed cell
        raise ReaderError(f"not a readable notebook: {_one_line(e)}") from None
    if (orig := nb.metadata.get("orig_nbformat")) and orig != 4:
        notes.append(f"nbformat {orig} notebook upgraded to nbformat 4")
    if err := captured.get("ValidationError"):
        notes.append(f"notebook does not match the nbformat schema (read anyway): {_one_line(err)}")
    return nb


def _names(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value] if value else []
    names = (i.get("name") if isinstance(i, dict) else i for i in items)
    return list(dict.fromkeys(" ".join(n.split()) for n in names if isinstance(n, str) and n.strip()))


def _language(meta: Any) -> str:
    for key, sub in (("kernelspec", "language"), ("language_info", "name")):
        block = meta.get(key) if isinstance(meta, dict) else None
        if isinstance(block, dict) and isinstance(block.get(sub), str) and block[sub].strip():
            return block[sub].strip().lower()
    old = isinstance(meta, dict) and isinstance(meta.get("orig_nbformat"), int) and meta["orig_nbformat"] < 4
    return "python" if old else "code"  # nbformat 3 notebooks were IPython notebooks


def _outputs(cell: Any) -> str:
    parts: list[str] = []
    for out in cell.get("outputs") or []:
        kind = out.get("output_type")
        if kind == "stream":
            parts.append(as_text(out.get("text"))[0])
        elif kind in ("execute_result", "display_data") and isinstance(out.get("data"), dict):
            parts.append(as_text(out["data"].get(_TEXT_OUTPUT, ""))[0])
        elif kind == "error":
            parts.append(f"{out.get('ename', 'Error')}: {out.get('evalue', '')}")
    return "\n".join(p.rstrip("\n") for p in parts if p.strip())


class NotebookReader:
    """Jupyter notebooks (``.ipynb``)."""

    name = "notebook"
    priority = 10

    def sniff(self, info: FileInfo) -> bool:
        """Files ending in ``.ipynb``."""
        return info.path.suffix.lower() == ".ipynb"

    def read(self, path: Path, data: bytes) -> ReadResult:
        """One Document with a chunk per Markdown/code cell; see the module docstring."""
        notes: list[str] = []
        nb = load_notebook(data, path, notes)
        meta = nb.metadata
        lang = _language(meta)
        texts: list[str] = []
        cells: list[tuple[int, str]] = []
        markdown: list[str] = []
        capped = 0
        for i, cell in enumerate(nb.cells):
            src = as_text(cell.get("source"))[0].strip("\n")
            kind = cell.get("cell_type")
            if kind == "markdown" and src.strip():
                markdown.append(src)
                text = src
            elif kind == "code" and (src.strip() or cell.get("outputs")):
                output = _outputs(cell)
                if len(output) > MAX_OUTPUT_CHARS:
                    output, capped = output[:MAX_OUTPUT_CHARS] + " …", capped + 1
                text = f"```{lang}\n{src}\n```" + (f"\nOutput:\n{output}" if output.strip() else "")
            else:
                continue
            pieces = [text] if len(text.split()) <= MAX_CHUNK_WORDS else chunk_text(text, max_words=MAX_CHUNK_WORDS)
            texts += pieces
            cells += [(i, str(kind))] * len(pieces)
        if capped:
            notes.append(f"{capped} cell output(s) cut at {MAX_OUTPUT_CHARS} characters")
        if not texts:
            raise ReaderError("no text content (no Markdown or code cells)")
        title_meta = meta.get("title")
        heading = re.sub(r"[*`]", "", first_heading("\n\n".join(markdown)) or "").strip()
        title = (" ".join(title_meta.split()) if isinstance(title_meta, str) else "") or heading or path.stem
        did = document_id(str(path))
        props: dict[str, Any] = {"title": title, "format": "ipynb", "path": str(path),
                                 "n_chars": sum(len(t) for t in texts), "n_cells": len(nb.cells), "language": lang}
        if authors := _names(meta.get("authors")):
            props["authors"] = authors
        out = ReadResult(nodes=[NodeRecord(did, Label.DOCUMENT, props)], warnings=notes)
        chunks = chunk_records(did, str(path), texts)
        for node in chunks.nodes:
            node.properties["cell"], node.properties["cell_type"] = cells[node.properties["index"]]
        out.extend(chunks)
        tags = list(dict.fromkeys(t for k in ("tags", "keywords") for t in tag_names(meta.get(k))))
        out.extend(tag_records(did, tags))
        return out


register_reader(NotebookReader())
