"""The ingest pipeline: discover files, skip unchanged ones, read, and write each file in one
transaction. A bad file never stops the batch and never loses data: it gets a one-line error in
the report, and whatever the store already had from it is kept."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import marshal
import os
import pickle
import signal
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from ingest.readers.base import HEAD_BYTES, FileInfo, select_reader
from kg.errors import KGError, ReaderError
from kg.faults import checkpoint
from kg.model import EdgeRecord, NodeRecord, ReadResult
from kg.runtime import paused_gc
from kg.store.base import GraphStore, SourceInfo
from kg.store.first_load import FirstLoad, Support, split_records
from kg.store.merge import EdgeKey, collapse

Status = Literal["added", "updated", "unchanged", "removed", "failed", "partial", "unsupported"]
IGNORED_NAMES = ("LICENSE", "LICENCE", "COPYING", "NOTICE")
DEFAULT_MAX_FILE_MB = 512
MAX_AUTO_WORKERS = 4
LOAD_IN_CHILD = True  # a first load runs in a forked process (see _load_in_child)
_EXIT_UNFREED: list[object] = []  # what that process keeps until it ends
PARSER_NICE = 3  # niceness of parser processes: the staging process they feed gets the CPU first
FIRST_LOAD_MAX_NODES = 1_000_000  # a first load stages at most this many nodes (~5 GB) in memory, then goes per file


@dataclass(slots=True)
class FileReport:
    """What happened to one file. ``reader``: the reader that read it (also set for a file its
    reader failed on; '' when none took it). ``seconds``: time spent reading and parsing it."""

    path: str
    status: Status
    reader: str = ""
    nodes: int = 0
    edges: int = 0
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    seconds: float = field(default=0.0, compare=False)  # timing: not part of what happened

    @property
    def error(self) -> str:
        """The first error as one line ('' when none)."""
        return self.errors[0] if self.errors else ""


PHASES = ("parse", "write", "index", "embed")


@dataclass(slots=True)
class IngestReport:
    """The outcome of one ingest/remove run.

    ``seconds``: wall time of the whole run. ``phases``: wall seconds per phase (:data:`PHASES`):
    ``parse`` finding, reading and parsing files (what the writer waited for; parsers run beside
    it), ``write`` store writes, ``index`` keeping the search index (BM25, rows, topics) in step,
    ``embed`` loading the encoder and computing dense vectors. The phases do not overlap, so they
    add up to at most ``seconds``.
    """

    files: list[FileReport] = field(default_factory=list)
    seconds: float = 0.0
    phases: dict[str, float] = field(default_factory=lambda: dict.fromkeys(PHASES, 0.0))

    def count(self, status: Status) -> int:
        """Number of files with ``status``."""
        return sum(1 for f in self.files if f.status == status)

    @property
    def failed(self) -> list[FileReport]:
        """Files that failed entirely or in part."""
        return [f for f in self.files if f.status in ("failed", "partial")]

    @property
    def ok(self) -> bool:
        """True when no file failed."""
        return not self.failed

    def summary(self) -> dict[str, int]:
        """Counts per status (only non-zero)."""
        out: dict[str, int] = {}
        for f in self.files:
            out[f.status] = out.get(f.status, 0) + 1
        return out

    def by_format(self) -> dict[str, dict[str, Any]]:
        """Per reader: ``files``, ``nodes``, ``edges``, ``errors`` (files that failed in whole or
        in part) and ``seconds`` (reading and parsing). Files that were not read are grouped under
        their status instead (``unchanged``, ``unsupported``, ``removed``, and ``failed`` for
        files no reader got to: missing, empty, too large). Readers first, by name."""
        rows: dict[str, dict[str, Any]] = {}
        for f in self.files:
            read = f.reader and f.status in ("added", "updated", "partial", "failed")
            row = rows.setdefault(f.reader if read else f.status,
                                  {"files": 0, "nodes": 0, "edges": 0, "errors": 0, "seconds": 0.0})
            row["files"] += 1
            row["nodes"] += f.nodes
            row["edges"] += f.edges
            row["errors"] += f.status in ("failed", "partial")
            row["seconds"] += f.seconds
        return {k: rows[k] for k in sorted(rows, key=lambda k: (k in _STATUSES, k))}

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form: summary, per-format rows (:meth:`by_format`, key ``formats``), per-file
        rows, seconds (the total) and seconds per phase."""
        formats = {k: {**v, "seconds": round(v["seconds"], 3)} for k, v in self.by_format().items()}
        return {"summary": self.summary(), "seconds": round(self.seconds, 3),
                "phases": {k: round(v, 3) for k, v in self.phases.items()}, "formats": formats,
                "files": [asdict(f) for f in self.files]}


_STATUSES = frozenset(get_args(Status))


ProgressFn = Callable[[FileReport], None]
Timings = dict[str, float]  # phase -> seconds, added to as the run goes
FirstLoadHook = Callable[[FirstLoad, int], Callable[[bool], None] | None]


def discover(paths: Iterable[str | Path], *, exclude: Iterable[Path] = ()) -> Iterator[tuple[Path, str | None]]:
    """Yield ``(path, problem)`` for every candidate file under ``paths``.

    Hidden files and folders, LICENSE-like files and the ``exclude`` folders are skipped.
    Symlinked folders are followed once (loops are detected); a broken or looping link yields a
    problem string instead of being skipped silently.
    """
    excluded = {os.path.realpath(p) for p in exclude}
    seen_dirs: set[str] = set()

    def walk(d: Path) -> Iterator[tuple[Path, str | None]]:
        real = os.path.realpath(d)
        if real in seen_dirs or real in excluded:
            return
        seen_dirs.add(real)
        try:
            entries = sorted(os.scandir(d), key=lambda e: e.name)
        except OSError as e:
            yield d, f"cannot list folder: {e.strerror or e}"
            return
        for entry in entries:
            if entry.name.startswith("."):
                continue
            p = Path(entry.path)
            try:
                if entry.is_dir():  # follows symlinks
                    yield from walk(p)
                elif entry.is_file():
                    if not entry.name.upper().startswith(IGNORED_NAMES):
                        yield p, None
                elif entry.is_symlink():
                    yield p, _link_problem(p)
            except OSError as err:
                yield p, "symlink loop" if err.errno == errno.ELOOP else f"cannot stat: {err.strerror or err}"

    for raw in paths:
        p = Path(os.path.abspath(raw))
        if p.is_dir():
            yield from walk(p)
        elif p.is_file():
            yield p, None
        elif p.is_symlink():
            yield p, _link_problem(p)
        else:
            yield p, "no such file or folder"


def _link_problem(p: Path) -> str:
    try:
        os.stat(p)
    except OSError as e:
        if e.errno == errno.ELOOP:
            return "symlink loop"
        return f"broken symlink ({e.strerror})"
    return "not a regular file"


class ReaderFailed(ReaderError):
    """A :class:`ReaderError` from the reader named ``reader`` (the report keeps the name)."""

    def __init__(self, message: str, reader: str) -> None:
        super().__init__(message)
        self.reader = reader


def read_file(path: Path, max_bytes: int) -> tuple[str, ReadResult, str, int]:
    """Read and parse one file: ``(reader name, result, content hash, size)``.

    Raises :class:`ReaderError` for every expected failure (:class:`ReaderFailed`, which names the
    reader, once a reader has taken the file).
    """
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise ReaderError(f"file is {size / 2**20:.0f} MiB, over the {max_bytes / 2**20:.0f} MiB limit (--max-file-mb)")
        if size == 0:
            raise ReaderError("empty file (0 bytes)")
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as e:
        raise ReaderError(f"cannot read file: {e.strerror or e}") from None
    digest = hashlib.blake2b(data, digest_size=16).hexdigest()
    reader = select_reader(FileInfo(path, data[:HEAD_BYTES]))
    if reader is None:
        return "", ReadResult(), digest, len(data)
    try:
        result = reader.read(path, data)
    except ReaderError as e:
        raise ReaderFailed(str(e), reader.name) from None
    except RecursionError:
        raise ReaderFailed(f"{reader.name} reader: input nested too deeply", reader.name) from None
    except Exception as e:  # a reader bug must not stop the batch
        msg = str(e).splitlines()[0][:200] if str(e) else ""
        raise ReaderFailed(f"{reader.name} reader failed: {type(e).__name__}: {msg}", reader.name) from None
    return reader.name, result, digest, len(data)


@dataclass(slots=True)
class Parsed:
    """One file read and collapsed (one record per node id and per edge), split as a first load
    stages it (:func:`kg.store.first_load.split_records`)."""

    reader: str
    digest: str
    size: int
    supports: dict[str, Support]  # node id -> (label, stub, properties)
    keys: dict[str, tuple[str, ...]]  # identity keys of the nodes that have some
    edges: dict[EdgeKey, dict[str, Any]]
    warnings: list[str]
    errors: list[str]
    n_nodes: int  # records as read, before collapsing
    n_edges: int
    closed: bool  # every edge joins two of these nodes
    seconds: float = field(default=0.0, compare=False)  # reading and parsing

    def result(self) -> ReadResult:
        """The records as a :class:`ReadResult`."""
        keys = self.keys
        return ReadResult([NodeRecord(nid, label, props, stub, keys.get(nid, ()))
                           for nid, (label, stub, props) in self.supports.items()],
                          [EdgeRecord(s, d, t, p) for (s, t, d), p in self.edges.items()], self.warnings, self.errors)


@dataclass(slots=True)
class Failed:
    """A file that could not be read: the one-line error, the reader that failed ('' when no
    reader got to it) and the seconds spent."""

    error: str
    reader: str = ""
    seconds: float = field(default=0.0, compare=False)


def _parse(path: str, max_bytes: int) -> Parsed | Failed:
    t = time.perf_counter()
    checkpoint("ingest.parse")
    try:
        reader, result, digest, size = read_file(Path(path), max_bytes)
    except ReaderError as e:
        return Failed(str(e), e.reader if isinstance(e, ReaderFailed) else "", time.perf_counter() - t)
    nodes, edges = collapse(result)
    closed = all(s in nodes and d in nodes for s, _, d in edges)
    return Parsed(reader, digest, size, *split_records(nodes), edges, result.warnings, result.errors,
                  len(result.nodes), len(result.edges), closed, time.perf_counter() - t)


def _parse_packed(path: str, max_bytes: int) -> bytes | Failed:
    """:func:`_parse` in a worker process, packed as plain tuples: marshal moves them back several
    times faster than pickling records (pickle when a property holds a type marshal lacks)."""
    got = _parse(path, max_bytes)
    if isinstance(got, Failed):
        return got
    empty: dict[str, Any] = {}  # one object for every edge without properties (marshal keeps it one)
    payload = (got.reader, got.digest, got.size, got.supports, got.keys, {k: p or empty for k, p in got.edges.items()},
               got.warnings, got.errors, got.n_nodes, got.n_edges, got.closed, got.seconds)
    try:
        return b"m" + marshal.dumps(payload)
    except ValueError:
        return b"p" + pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)


def _unpack(data: bytes) -> Parsed:
    payload = marshal.loads(memoryview(data)[1:]) if data[:1] == b"m" else pickle.loads(data[1:])  # our worker
    reader, digest, size, supports, keys, edges, warnings, errors, n_nodes, n_edges, closed, seconds = payload
    return Parsed(reader, digest, size, supports, keys, edges, warnings, errors, n_nodes, n_edges, closed, seconds)


def _collect(fut: Future[bytes | Failed]) -> Parsed | Failed:
    """A worker's result for one file (a worker crash, e.g. out of memory, fails that file only)."""
    try:
        packed = fut.result()
        return _unpack(packed) if isinstance(packed, bytes) else packed
    except Exception as e:
        return Failed(f"reader process failed: {type(e).__name__}: {e}")


def ingest_paths(
    store: GraphStore,
    paths: Iterable[str | Path],
    *,
    prune: bool = False,
    force: bool = False,
    max_file_mb: float = DEFAULT_MAX_FILE_MB,
    workers: int = 1,
    exclude: Iterable[Path] = (),
    progress: ProgressFn | None = None,
    first_load: bool = True,
    before_first_load: FirstLoadHook | None = None,
) -> IngestReport:
    """Ingest files and folders into ``store``; see the module docstring.

    Unchanged files (same size and mtime, or same content hash) are skipped unless ``force``.
    With ``prune``, sources under the given folders whose files are gone are removed.
    ``workers > 1`` parses files in worker processes (``0``: one per CPU core, at most 4); writes
    stay in this process.

    ``first_load``: when the store has no sources yet (and can do it: the embedded store), new
    files are staged in memory and written in one transaction (:mod:`kg.store.first_load`); the graph
    is the one file-by-file writes give. Should that write fail, each file is written on its own.
    ``before_first_load(load, version)`` is called just before a first load is written and may
    return a callable that gets whether the write committed (the search index uses it).
    """
    if workers <= 0:
        workers = min(os.cpu_count() or 1, MAX_AUTO_WORKERS)
    with paused_gc():
        return _ingest(store, paths, prune=prune, force=force, max_file_mb=max_file_mb, workers=workers,
                       exclude=exclude, progress=progress, first_load=first_load, hook=before_first_load)


def _ingest(store: GraphStore, paths: Iterable[str | Path], *, prune: bool, force: bool, max_file_mb: float,
            workers: int, exclude: Iterable[Path], progress: ProgressFn | None, first_load: bool,
            hook: FirstLoadHook | None) -> IngestReport:
    t0 = time.perf_counter()
    report = IngestReport()
    timings = report.phases  # the loader adds write and index time; parse is the rest of the run
    max_bytes = int(max_file_mb * 2**20)
    paths = [Path(os.path.abspath(p)) for p in paths]
    todo: list[tuple[Path, os.stat_result]] = []

    def done(fr: FileReport) -> None:
        report.files.append(fr)
        if progress:
            progress(fr)

    for p, problem in discover(paths, exclude=exclude):
        if problem:
            done(FileReport(str(p), "failed", errors=[problem]))
            continue
        try:
            st = p.stat()
        except OSError as e:
            done(FileReport(str(p), "failed", errors=[f"cannot stat: {e.strerror or e}"]))
            continue
        prev = store.source(str(p))
        if prev and not force and prev.size == st.st_size and prev.mtime == st.st_mtime:
            done(FileReport(str(p), "unchanged", prev.reader))
            continue
        todo.append((p, st))

    if todo:
        bulk = first_load and len(todo) > 1 and store.writes_first_loads and not store.sources()
        files = None
        if bulk and LOAD_IN_CHILD and hasattr(os, "fork"):
            files = _load_in_child(store, lambda prog: _load(
                store, todo, prog, bulk=True, force=force, max_bytes=max_bytes, workers=workers, hook=hook,
                exiting=True, timings=timings), progress, timings)
            bulk = False  # should the loading process die: file by file in this one
        if files is None:
            files = _load(store, todo, progress, bulk=bulk, force=force, max_bytes=max_bytes, workers=workers,
                          hook=hook, timings=timings)
        report.files.extend(files)

    if prune:
        seen = {f.path for f in report.files}
        roots = [str(p) for p in paths]
        for src in store.sources():
            under = any(src.path == r or src.path.startswith(r.rstrip(os.sep) + os.sep) for r in roots)
            if under and src.path not in seen and not os.path.exists(src.path):
                t = time.perf_counter()
                store.remove_source(src.path)
                timings["write"] += time.perf_counter() - t
                done(FileReport(src.path, "removed", src.reader))
    report.seconds = time.perf_counter() - t0
    timings["parse"] = max(0.0, report.seconds - timings["write"] - timings["index"] - timings["embed"])
    return report


def _load_in_child(store: GraphStore, load: Callable[[ProgressFn], list[FileReport]],
                   progress: ProgressFn | None, timings: Timings | None = None) -> list[FileReport] | None:
    """Run ``load`` (a first load) in a forked process that ends without freeing what it staged:
    taking millions of small objects apart one by one costs about a second at 100k records, where
    the operating system drops a process's memory in a tenth of that. The store's connection is
    closed while the process runs (it opens its own). Progress comes through a pipe, the reports
    at the end. None when the process died before it reported: its first load is one transaction,
    committed or not, so the caller can ingest the files again one by one. ``timings``: the
    process's copy, which ``load`` adds to, is sent back and replaces it."""
    import multiprocessing as mp

    recv, send = mp.Pipe(duplex=False)
    store.close()
    pid = os.fork()
    if pid == 0:  # pragma: no cover (the child: covered through its reports)
        code = 1
        try:
            recv.close()
            store.reopen()
            reports = load(lambda fr: send.send(("progress", fr)))
            store.close()
            if timings is not None:
                send.send(("timings", timings))
            send.send(("done", reports))
            code = 0
        finally:
            os._exit(code)
    send.close()
    files: list[FileReport] | None = None
    try:
        while files is None:
            try:
                kind, got = recv.recv()
            except EOFError:
                break
            if kind == "done":
                files = got
            elif kind == "timings":
                if timings is not None:
                    timings.update(got)
            elif progress:
                progress(got)
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        raise
    finally:
        recv.close()
        os.waitpid(pid, 0)
        store.reopen()
    return files


def _load(store: GraphStore, todo: list[tuple[Path, os.stat_result]], progress: ProgressFn | None, *,
          bulk: bool, force: bool, max_bytes: int, workers: int, hook: FirstLoadHook | None,
          exiting: bool = False, timings: Timings | None = None) -> list[FileReport]:
    """Read and write the files to do: each in its own transaction, or (``bulk``) staged as one
    first load (:mod:`kg.store.first_load`). Returns a report per file. ``exiting``: this process ends
    right after, so what was staged is not freed. ``timings`` gets the seconds spent writing
    (``write``) and waiting for the index built beside a first load (``index``)."""
    files: list[FileReport] = []
    timings = timings if timings is not None else dict.fromkeys(PHASES, 0.0)

    def done(fr: FileReport) -> None:
        files.append(fr)
        if progress:
            progress(fr)

    staged: list[tuple[FileReport, SourceInfo]] = []  # the load holds their records
    load: FirstLoad | None = FirstLoad() if bulk else None

    def flush(final: bool = False) -> None:
        """Write the staged first load; on failure, write its files one by one."""
        nonlocal load
        if load is None:
            return
        t = time.perf_counter()
        finish = hook(load, store.version() + 1) if hook is not None and final else None
        ok = False
        try:
            checkpoint("first_load.write")
            store.write_first_load(load)
            ok = True
        except KGError:
            load = None  # free the staged records before reading the files again
            for fr, info in staged:  # read again: keeping every file's records for this case costs memory
                got = _parse(info.path, max_bytes)
                try:
                    if isinstance(got, Failed) or got.digest != info.hash:
                        raise KGError(got.error if isinstance(got, Failed) else "file changed during ingest")
                    store.write_source(info, got.result())
                except KGError as e:
                    fr.status, fr.nodes, fr.edges = "failed", 0, 0
                    fr.errors.insert(0, f"store write failed: {e}")
        finally:
            if exiting and final and load is not None:
                _EXIT_UNFREED.append(load)  # the process ends right after: freeing it would only delay that
            load = None  # freeing the staged load takes a while: before waiting for the index process
            if final:  # else flush runs inside handle, whose time is counted already
                timings["write"] += time.perf_counter() - t
            if finish is not None:
                t = time.perf_counter()
                finish(ok)
                timings["index"] += time.perf_counter() - t
        staged.clear()

    def handle(p: Path, st: os.stat_result, got: Parsed | Failed) -> None:
        if load is not None and str(p) in load:  # named twice on the command line
            done(FileReport(str(p), "unchanged", load.sources[load.paths[str(p)] - 1].info.reader))
            return
        prev = store.source(str(p))
        if isinstance(got, Failed):
            done(FileReport(str(p), "failed", got.reader, errors=[got.error], seconds=got.seconds))
            return
        reader = got.reader
        if not reader:
            done(FileReport(str(p), "unsupported", seconds=got.seconds))
            return
        if prev and not force and prev.hash == got.digest:
            store.touch_source(str(p), st.st_mtime)
            done(FileReport(str(p), "unchanged", reader, seconds=got.seconds))
            return
        info = SourceInfo(str(p), got.digest, got.size, st.st_mtime, reader)
        status: Status = "partial" if got.errors else ("updated" if prev else "added")
        fr = FileReport(str(p), status, reader, got.n_nodes, got.n_edges, list(got.warnings), list(got.errors),
                        got.seconds)
        if load is not None and prev is None:
            load.add_collapsed(info, got.supports, got.keys, got.edges, got.warnings, got.errors, got.closed)
            checkpoint("ingest.stage")
            staged.append((fr, info))
            done(fr)
            if load.n_nodes > FIRST_LOAD_MAX_NODES:
                flush()
            return
        try:
            store.write_source(info, got.result())
        except KGError as e:
            done(FileReport(str(p), "failed", reader, errors=[f"store write failed: {e}"], seconds=got.seconds))
            return
        done(fr)

    import multiprocessing as mp

    if workers > 1 and len(todo) > 1 and "fork" in mp.get_all_start_methods():  # else: in this process
        # the process staging their output is the one every file waits for: it gets the CPU first
        with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("fork"), initializer=os.nice,
                                 initargs=(PARSER_NICE,)) as pool:
            futures: deque[tuple[Path, os.stat_result, Future[bytes | Failed]]] = deque(
                (p, st, pool.submit(_parse_packed, str(p), max_bytes)) for p, st in todo)
            while futures:  # popped as they are used, so each file's data is freed after its write
                p, st, fut = futures.popleft()
                got = _collect(fut)
                t = time.perf_counter()
                handle(p, st, got)
                timings["write"] += time.perf_counter() - t
    else:
        for p, st in todo:
            got = _parse(str(p), max_bytes)
            t = time.perf_counter()
            handle(p, st, got)
            timings["write"] += time.perf_counter() - t
    flush(final=True)

    return files


def remove_paths(store: GraphStore, paths: Iterable[str | Path]) -> IngestReport:
    """Remove the contributions of the given files (or of every source under given folders)."""
    t0 = time.perf_counter()
    report = IngestReport()
    for raw in paths:
        p = os.path.abspath(raw)
        matched = [s for s in store.sources() if s.path == p or s.path.startswith(p.rstrip(os.sep) + os.sep)]
        if not matched:
            report.files.append(FileReport(p, "failed", errors=["not an ingested source"]))
        for s in matched:
            store.remove_source(s.path)
            report.files.append(FileReport(s.path, "removed", s.reader, s.n_nodes, s.n_edges))
    report.seconds = report.phases["write"] = time.perf_counter() - t0
    return report
