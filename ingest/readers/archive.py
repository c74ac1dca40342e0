"""Archive reader: ``.zip`` and ``.tar`` (plain, ``.gz``/``.tgz``, ``.bz2``/``.tbz2``, ``.xz``/``.txz``).

Nothing is extracted to disk: each member is read into memory and handed to the reader the
registry picks for its name (:func:`ingest.readers.base.read_nested`, path
``<archive>#<member>``), so an archive inside an archive is read the same way, at most
:data:`~ingest.readers.base.MAX_NESTING` levels deep. Every member's nodes and edges become the
archive's (the archive file is their source: removing it removes them); their errors and
warnings are prefixed with the member's name.

Against bombs and hostile archives:

* limits on the total uncompressed bytes (:data:`MAX_TOTAL_BYTES`, shared by nested archives),
  the size of one member (:data:`MAX_MEMBER_BYTES`: the declared size is checked before reading,
  and reading is capped in case it lies), the number of members (:data:`MAX_MEMBERS`) and the
  compression ratio of members over :data:`RATIO_MIN_BYTES` (:data:`MAX_RATIO`);
* symbolic and hard links (tar, and Unix symlinks stored in a ZIP) are never followed; members
  whose names escape the archive (``../``, absolute paths, drive letters) are refused;
* encrypted ZIP members are per-member errors; a damaged archive (bad CRC, truncated) keeps the
  members read before the damage (a ZIP whose central directory is gone is salvaged from its
  local headers).

Members no reader takes, hidden members (``.git/``, ``__MACOSX/``) and folders are skipped: the
first are counted in one warning.
"""

from __future__ import annotations

import contextvars
import io
import lzma
import stat
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from ingest.readers.base import HEAD_BYTES, FileInfo, read_nested, register_reader, select_reader
from kg.errors import ReaderError
from kg.model import ReadResult

MAX_TOTAL_BYTES = 1 << 30
"""Uncompressed bytes read from one archive, nested archives included (1 GiB)."""
MAX_MEMBER_BYTES = 256 << 20
"""Uncompressed size of one member (256 MiB)."""
MAX_MEMBERS = 10_000
"""Members looked at in one archive, nested archives included."""
MAX_RATIO = 100
"""A member over :data:`RATIO_MIN_BYTES` that expands more than this many times is refused."""
RATIO_MIN_BYTES = 1 << 20
"""Members up to this size (1 MiB) are not checked for their compression ratio."""

ZIP_SUFFIXES = (".zip",)
TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tbz", ".tar.xz", ".txz")
_DAMAGE = (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError, zlib.error, lzma.LZMAError, ValueError,
           struct.error, NotImplementedError)
"""What a damaged archive or member raises while it is read."""


@dataclass(slots=True)
class _Budget:
    """What one top-level archive (with the archives inside it) has used so far."""

    bytes: int = 0
    members: int = 0


_BUDGET: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar("kgloom_archive_budget", default=None)


@dataclass(slots=True)
class _Member:
    """One entry of an archive, as the ZIP and tar walkers describe it."""

    name: str
    kind: str  # "file", "dir", "link" or "other"
    size: int  # declared uncompressed size
    compressed: int | None  # compressed size when the format says it (ZIP), else None
    open: Callable[[], IO[bytes]] | None = None
    error: str = ""  # set when the member cannot be read at all (encrypted, unknown compression)


@dataclass(slots=True)
class _Tally:
    """Members skipped without an error, reported in one warning each kind."""

    unsupported: list[str] = field(default_factory=list)
    unsafe: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)


def _is_archive(name: str) -> str | None:
    low = name.lower()
    if low.endswith(ZIP_SUFFIXES):
        return "zip"
    if low.endswith(TAR_SUFFIXES):
        return "tar"
    return None


def unsafe_name(name: str) -> bool:
    """Whether a member name escapes the archive: absolute, a drive letter, or a ``..`` part.

    >>> unsafe_name("../escape.md"), unsafe_name("/etc/passwd"), unsafe_name("C:x"), unsafe_name("a/b.md")
    (True, True, True, False)
    """
    norm = name.replace("\\", "/")
    if norm.startswith("/") or (len(norm) > 1 and norm[1] == ":"):
        return True
    return any(part == ".." for part in norm.split("/"))


def _hidden(name: str) -> bool:
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    return any(p.startswith(".") or p == "__MACOSX" for p in parts)


def _line(e: BaseException) -> str:
    return " ".join(str(e).split())[:200] or type(e).__name__


def _example(names: list[str]) -> str:
    shown = ", ".join(names[:5])
    return shown + (f", ... ({len(names) - 5} more)" if len(names) > 5 else "")


class ArchiveReader:
    """ZIP and tar archives: every member read through the reader registry."""

    name = "archive"
    priority = 12  # above readers that sniff magic bytes anywhere in the head (a PDF member of a .tar)

    def sniff(self, info: FileInfo) -> bool:
        """An archive suffix, unless the head is a packaged document's (EPUB, ODF: ``mimetype``
        first), which its own reader takes by content."""
        if info.head[:4] == b"PK\x03\x04" and b"mimetypeapplication/" in info.head[:100]:
            return False
        return _is_archive(info.path.name) is not None

    def read(self, path: Path, data: bytes) -> ReadResult:
        """The merged records of every member; see the module docstring for the limits."""
        budget = _BUDGET.get()
        token = _BUDGET.set(_Budget()) if budget is None else None
        try:
            if _is_archive(path.name) == "zip":
                return _read_zip(path, data)
            return _read_tar(path, data)
        finally:
            if token is not None:
                _BUDGET.reset(token)


def _read_zip(path: Path, data: bytes) -> ReadResult:
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError, struct.error, NotImplementedError) as e:  # "zip file version 8.2"
        if not data.startswith(b"PK\x03\x04"):
            raise ReaderError(f"not a readable ZIP archive ({_line(e)})") from None
        out = _walk(path, _salvage_zip(data))  # the central directory is gone (truncated?)
        if not out.nodes and not out.edges:
            raise ReaderError(f"damaged ZIP archive ({_line(e)}); no member could be salvaged") from None
        out.errors.insert(0, f"damaged ZIP archive ({_line(e)}): members read from their local headers")
        return out
    with zf:
        return _walk(path, _zip_members(zf))


def _zip_members(zf: zipfile.ZipFile) -> Iterator[_Member]:
    for info in zf.infolist():
        mode = info.external_attr >> 16
        if info.filename.endswith("/"):  # ZipInfo.is_dir() fails on an empty name
            kind = "dir"
        elif info.create_system == 3 and stat.S_ISLNK(mode):
            kind = "link"
        else:
            kind = "file"
        error = ""
        if info.flag_bits & 0x1:
            error = "encrypted (password-protected), not read"
        elif info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA):
            error = f"unsupported compression method {info.compress_type}, not read"

        def opener(info: zipfile.ZipInfo = info) -> IO[bytes]:
            return zf.open(info)

        yield _Member(info.filename, kind, info.file_size, info.compress_size, opener, error)


_LOCAL = struct.Struct("<4sHHHHHIIIHH")


def _salvage_zip(data: bytes) -> Iterator[_Member]:
    """Members of a ZIP without a usable central directory, from the local file headers in order
    (stored and deflated members); stops at the first one that is cut off."""
    pos = 0
    while pos + _LOCAL.size <= len(data) and data[pos:pos + 4] == b"PK\x03\x04":
        _, _, flags, method, _, _, _, csize, usize, nlen, xlen = _LOCAL.unpack_from(data, pos)
        name = data[pos + 30:pos + 30 + nlen].decode("utf-8" if flags & 0x800 else "cp437", "replace")
        start = pos + 30 + nlen + xlen
        if flags & 0x1:
            yield _Member(name, "file", usize, csize, None, "encrypted (password-protected), not read")
        elif method not in (0, 8):
            yield _Member(name, "file", usize, csize, None, f"unsupported compression method {method}, not read")
        if flags & 0x8 and method == 8:  # sizes follow the data: find its end by inflating it
            d = zlib.decompressobj(-15)
            body = d.decompress(data[start:], MAX_MEMBER_BYTES + 1)
            if not d.eof:
                raise EOFError(f"{name}: member cut off")
            end = len(data) - len(d.unused_data)
            end += 16 if data[end:end + 4] == b"PK\x07\x08" else 12
        elif flags & 0x8:
            raise ValueError(f"{name}: sizes stored after the data, cannot be salvaged")
        else:
            end = start + csize
            if end > len(data):
                raise EOFError(f"{name}: member cut off")
            body = data[start:end] if method == 0 else b""
            if method == 8:
                d = zlib.decompressobj(-15)
                body = d.decompress(data[start:end], MAX_MEMBER_BYTES + 1)
        if not flags & 0x1 and method in (0, 8):
            kind = "dir" if name.endswith("/") else "file"
            yield _Member(name, kind, max(usize, len(body)), end - start, _bytes_opener(body))
        pos = end


def _bytes_opener(body: bytes) -> Callable[[], IO[bytes]]:
    return lambda: io.BytesIO(body)


def _read_tar(path: Path, data: bytes) -> ReadResult:
    try:
        tf = tarfile.open(fileobj=io.BytesIO(data), mode="r:*")  # noqa: SIM115 (closed below)
    except (*_DAMAGE,) as e:
        why = "no gzip, bzip2, xz or tar header" if "could not be opened" in str(e) else _line(e)
        raise ReaderError(f"not a readable tar archive ({why})") from None
    with tf:
        return _walk(path, _tar_members(tf, len(data)))


def _tar_members(tf: tarfile.TarFile, packed: int) -> Iterator[_Member]:
    while (m := tf.next()) is not None:
        if m.issym() or m.islnk():
            kind = "link"
        elif m.isdir():
            kind = "dir"
        elif m.isfile():
            kind = "file"
        else:
            kind = "other"  # devices, fifos
        end = m.offset_data + m.size  # where the stream is once this member is passed
        # the whole archive's compression ratio stands in for the member's (tar compresses the stream)
        compressed = max(1, packed * m.size // end) if end and packed < end else m.size

        def opener(m: tarfile.TarInfo = m) -> IO[bytes]:
            fh = tf.extractfile(m)
            if fh is None:
                raise ValueError("not a regular file")
            return fh

        yield _Member(m.name, kind, m.size, compressed, opener)
        if end > MAX_TOTAL_BYTES:  # passing this member would inflate over the limit: stop here
            raise _Stop(f"archive expands past the {MAX_TOTAL_BYTES >> 20} MiB limit; the rest was not read")


class _Stop(Exception):
    """The walk stops at a limit (a warning, not damage)."""


def _walk(path: Path, members: Iterator[_Member]) -> ReadResult:
    budget = _BUDGET.get() or _Budget()
    out = ReadResult()
    tally = _Tally()
    n = 0
    while True:
        try:
            m = next(members)
        except StopIteration:
            break
        except _Stop as e:
            out.warnings.append(str(e))
            break
        except _DAMAGE as e:
            out.errors.append(f"archive damaged after {n} members: {_line(e)}")
            break
        n += 1
        m.name = m.name.encode("utf-8", "surrogatepass").decode("utf-8", "replace")  # undecodable tar names
        budget.members += 1
        if budget.members > MAX_MEMBERS:
            out.warnings.append(f"more than {MAX_MEMBERS:,} members: the rest were not read")
            break
        if unsafe_name(m.name):
            tally.unsafe.append(m.name)
            continue
        if m.kind == "dir" or _hidden(m.name):
            continue
        if m.kind == "link":
            tally.links.append(m.name)
            continue
        if m.kind != "file":
            continue
        problem = m.error or _refuse(m, budget)
        if problem == "total":
            out.warnings.append(f"{m.name}: over the {MAX_TOTAL_BYTES >> 20} MiB total uncompressed limit; "
                                "it and the members after it were not read")
            break
        if problem:
            out.errors.append(f"{m.name}: {problem}")
            continue
        _member(path, m, budget, out, tally)
    if tally.unsupported:
        out.warnings.append(f"{len(tally.unsupported)} members no reader takes, skipped: {_example(tally.unsupported)}")
    if tally.unsafe:
        out.warnings.append(f"{len(tally.unsafe)} members with paths escaping the archive refused (path traversal): "
                            f"{_example(tally.unsafe)}")
    if tally.links:
        out.warnings.append(f"{len(tally.links)} links not followed: {_example(tally.links)}")
    return out


def _refuse(m: _Member, budget: _Budget) -> str:
    """Why a member is not read, from its declared sizes ('' to read it, 'total' to stop)."""
    if m.size > MAX_MEMBER_BYTES:
        return f"{m.size >> 20} MiB uncompressed, over the {MAX_MEMBER_BYTES >> 20} MiB limit per member"
    if m.size > RATIO_MIN_BYTES and m.compressed is not None and m.size > MAX_RATIO * max(1, m.compressed):
        return (f"compression ratio {m.size // max(1, m.compressed):,}:1 is over {MAX_RATIO}:1 "
                "(a compression bomb?), not read")
    if budget.bytes + m.size > MAX_TOTAL_BYTES:
        return "total"
    return ""


def _member(path: Path, m: _Member, budget: _Budget, out: ReadResult, tally: _Tally) -> None:
    """Read one member (head first: members no reader takes are not inflated further) and merge it."""
    assert m.open is not None
    inner = Path(f"{path}#{m.name}")
    cap = min(MAX_MEMBER_BYTES, MAX_TOTAL_BYTES - budget.bytes)
    try:
        with m.open() as fh:
            head = fh.read(min(HEAD_BYTES, cap + 1))
            budget.bytes += len(head)
            if select_reader(FileInfo(inner, head)) is None:
                tally.unsupported.append(m.name)
                return
            data = head + fh.read(cap + 1 - len(head)) if len(head) <= cap else head
    except (*_DAMAGE, RuntimeError) as e:
        out.errors.append(f"{m.name}: damaged member, not read ({_line(e)})")
        return
    budget.bytes += len(data) - len(head)
    if len(data) > cap:
        out.errors.append(f"{m.name}: expands past its declared size and the {cap >> 20} MiB limit, not read")
        return
    if len(data) > RATIO_MIN_BYTES and m.compressed is not None and len(data) > MAX_RATIO * max(1, m.compressed):
        out.errors.append(f"{m.name}: compression ratio over {MAX_RATIO}:1 (a compression bomb?), not read")
        return
    if not data:
        out.warnings.append(f"{m.name}: empty member, skipped")
        return
    try:
        _, got = read_nested(inner, data)
    except ReaderError as e:
        msg = str(e).removeprefix(f"{inner.name}: ")
        out.errors.append(f"{m.name}: {msg}")
        return
    except RecursionError:
        out.errors.append(f"{m.name}: input nested too deeply")
        return
    except Exception as e:  # a reader bug must not lose the other members
        first = str(e).splitlines()[0][:200] if str(e) else ""
        out.errors.append(f"{m.name}: reader failed: {type(e).__name__}: {first}")
        return
    out.nodes.extend(got.nodes)
    out.edges.extend(got.edges)
    out.warnings.extend(f"{m.name}: {w}" for w in got.warnings)
    out.errors.extend(f"{m.name}: {e}" for e in got.errors)


register_reader(ArchiveReader())
