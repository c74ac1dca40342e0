"""Helpers shared by the reader tests: read a file with a reader, pick out its Document and Chunks."""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kg.model import NodeRecord, ReadResult


def read_with(reader: Any, path: Path) -> ReadResult:
    """``reader.read`` on the file at ``path``."""
    result: ReadResult = reader.read(path, path.read_bytes())
    return result


def chunks(res: ReadResult) -> list[NodeRecord]:
    """The result's Chunk records in chunk order."""
    return sorted((n for n in res.nodes if n.label == "Chunk"), key=lambda n: n.properties["index"])


def doc_node(res: ReadResult) -> NodeRecord:
    """The result's one Document record."""
    (node,) = [n for n in res.nodes if n.label == "Document"]
    return node


def rewrite_zip(src: Path, dst: Path, *, replace: dict[str, bytes] | None = None, drop: tuple[str, ...] = (),
                add: dict[str, bytes] | None = None, edit: Callable[[str, bytes], bytes] | None = None) -> Path:
    """Copy a ZIP container (an Office file, an EPUB), replacing, dropping or adding members;
    ``edit(name, data)`` may rewrite any member kept."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            if info.filename in drop:
                continue
            data = replace[info.filename] if replace and info.filename in replace else zin.read(info.filename)
            zout.writestr(info.filename, edit(info.filename, data) if edit else data)
        for name, data in (add or {}).items():
            zout.writestr(name, data)
    return dst
