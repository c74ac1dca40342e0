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

import codecs
import contextvars
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


class SuffixReader:
    """A base for readers that take a file by its extension alone: set ``suffixes`` (lower case)."""

    suffixes: tuple[str, ...] | frozenset[str] = ()

    def sniff(self, info: FileInfo) -> bool:
        """Whether the file's extension is one of :attr:`suffixes`."""
        return info.path.suffix.lower() in self.suffixes


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


MAX_NESTING = 3
"""How deep files inside files are read (an attachment of a mail inside an archive is depth 2)."""

_NESTING: contextvars.ContextVar[int] = contextvars.ContextVar("kgloom_reader_nesting", default=0)


def read_nested(path: Path, data: bytes) -> tuple[str, ReadResult]:
    """Read a file found inside another one (a mail attachment, an archive member) with the reader
    the registry picks for it: ``(reader name, result)``.

    ``path`` names the inner file for the readers (its suffix picks the format); by convention it
    is the outer file's path, ``#``, and the inner name (``/d/mail.eml#paper.pdf``), so the ids and
    provenance that readers derive from it point at the outer file. Raises :class:`ReaderError`
    when no reader takes the file or when files are nested deeper than :data:`MAX_NESTING`.
    """
    depth = _NESTING.get()
    if depth >= MAX_NESTING:
        raise ReaderError(f"{path.name}: nested more than {MAX_NESTING} levels deep, not read")
    reader = select_reader(FileInfo(path, data[:HEAD_BYTES]))
    if reader is None:
        raise ReaderError(f"{path.name}: no reader for this kind of file")
    token = _NESTING.set(depth + 1)
    try:
        return reader.name, reader.read(path, data)
    finally:
        _NESTING.reset(token)


def decode_text(data: bytes, path: Path) -> str:
    """Decode text as UTF-8 (BOM tolerated); CRLF/CR normalised to LF.

    Strict on purpose: callers with their own fallback (an HTML ``<meta>`` charset, BibTeX's
    Latin-1) rely on the error. Use :func:`decode_text_with_encoding` to detect legacy encodings.
    Raises :class:`ReaderError` for binary content or invalid UTF-8, with the byte offset.
    """
    if b"\x00" in data[:8192]:
        raise ReaderError("binary content (NUL bytes), not a text file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ReaderError(f"invalid UTF-8 at byte {e.start}") from None
    return _lf(text)


_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))

PREFERRED_ENCODINGS = ("cp1252", "cp932", "gb18030", "cp1251", "euc_kr", "big5")
"""Widespread legacy encodings, chosen first when a short text fits several equally well."""


def decode_text_with_encoding(data: bytes, path: Path) -> tuple[str, str]:
    """Decode text in whatever encoding it is in: ``(text, encoding)``, LF line endings.

    UTF-8 first (BOM tolerated: ``"utf-8"``), then a UTF-16/32 byte-order mark, then the encoding
    charset-normalizer finds (a tie on a short text goes to :data:`PREFERRED_ENCODINGS`, so a
    Latin-1 ``café`` is cp1252, not Urdu). Raises :class:`ReaderError` for binary content (NUL
    bytes without a UTF-16/32 BOM) or bytes no encoding fits. See :func:`encoding_warning`.
    """
    for bom, enc in _BOMS:
        if data.startswith(bom):
            try:
                return _lf(data.decode(enc)), enc
            except UnicodeDecodeError as e:
                raise ReaderError(f"invalid {enc.upper()} at byte {e.start}") from None
    try:
        return decode_text(data, path), "utf-8"
    except ReaderError as e:
        if "UTF-8" not in str(e):
            raise
    from charset_normalizer import from_bytes  # core dependency; imported only when needed

    matches = list(from_bytes(data))
    if not matches:
        raise ReaderError("not UTF-8 and no known text encoding fits (binary or corrupt?)")
    best = matches[0]
    tied = [m for m in matches if abs(m.chaos - best.chaos) < 1e-9 and abs(m.coherence - best.coherence) < 1e-9]
    for enc in PREFERRED_ENCODINGS:
        if any(enc in m.could_be_from_charset for m in tied):
            try:
                return _lf(data.decode(enc)), enc
            except UnicodeDecodeError:
                break
    return _lf(str(best)), best.encoding


def encoding_warning(encoding: str) -> str | None:
    """The warning for a file read in ``encoding``: None for UTF-8, else one line naming it.

    >>> encoding_warning("utf-8"), encoding_warning("cp1252")
    (None, 'decoded as cp1252 (not UTF-8)')
    """
    return None if encoding == "utf-8" else f"decoded as {encoding} (not UTF-8)"


def _lf(text: str) -> str:
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
