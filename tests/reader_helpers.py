"""Helpers shared by the reader tests: read a file with a reader, pick out its Document and Chunks."""

from __future__ import annotations

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
