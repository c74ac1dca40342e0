"""The reader contract and the pluggable registry that picks a reader for a file.

A reader turns the bytes of one file into a :class:`kg.model.ReadResult`. It never touches a
store. It raises :class:`kg.errors.ReaderError` with a one-line reason when the file cannot be
read at all; per-record problems inside a readable file go to ``ReadResult.errors`` (good
records are kept) and spec nits to ``ReadResult.warnings``.

Selection: every registered reader whose ``sniff`` accepts the file is a candidate; the one with
the highest priority wins. ``sniff`` sees the path and the first 64 KiB, so content decides
where extensions are ambiguous (``.json`` paper metadata vs a BEIR corpus, ``SKILL.md`` vs other
Markdown, a daily-papers ``.txt`` listing vs plain text).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from kg.errors import ConfigError, ReaderError
from kg.model import ReadResult

HEAD_BYTES = 65536


@dataclass(frozen=True, slots=True)
class FileInfo:
    """What a reader gets besides the bytes: the path (absolute) and the first bytes."""

    path: Path
    head: bytes


@runtime_checkable
class Reader(Protocol):
    """A reader for one file format."""

    name: str
    """Short unique name, stored with each source (``pdf``, ``markdown``, ``skill``, ...)."""

    priority: int
    """Higher wins among readers that accept a file (generic text readers use 0)."""

    def sniff(self, info: FileInfo) -> bool:
        """Whether this reader handles the file (extension and/or content)."""
        ...

    def read(self, path: Path, data: bytes) -> ReadResult:
        """Parse the whole file. ``path`` is absolute and is the source's identity."""
        ...


_REGISTRY: dict[str, Reader] = {}


def register_reader(reader: Reader, *, replace: bool = False) -> Reader:
    """Add a reader to the registry (``replace=True`` to override one with the same name)."""
    if reader.name in _REGISTRY and not replace:
        raise ConfigError(f"a reader named {reader.name!r} is already registered")
    _REGISTRY[reader.name] = reader
    return reader


def readers() -> list[Reader]:
    """Registered readers, highest priority first."""
    _load_builtin()
    return sorted(_REGISTRY.values(), key=lambda r: (-r.priority, r.name))


def get_reader(name: str) -> Reader:
    """The registered reader called ``name``."""
    _load_builtin()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ReaderError(f"no reader named {name!r}; known: {', '.join(sorted(_REGISTRY))}") from None


def select_reader(info: FileInfo) -> Reader | None:
    """The reader for a file, or None when no reader accepts it."""
    for r in readers():
        try:
            if r.sniff(info):
                return r
        except Exception:  # a buggy sniff must not stop selection
            continue
    return None


def decode_text(data: bytes, path: Path) -> str:
    """Decode text as UTF-8 (BOM tolerated); CRLF/CR normalised to LF.

    Raises :class:`ReaderError` for binary content or invalid UTF-8, with the byte offset.
    """
    if b"\x00" in data[:8192]:
        raise ReaderError("binary content (NUL bytes), not a text file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ReaderError(f"invalid UTF-8 at byte {e.start}") from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


_LOADED = False


def _load_builtin() -> None:
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    import importlib
    import pkgutil

    import ingest.readers as pkg

    for mod in pkgutil.iter_modules(pkg.__path__):
        if mod.name != "base" and not mod.name.startswith("_"):
            importlib.import_module(f"ingest.readers.{mod.name}")
