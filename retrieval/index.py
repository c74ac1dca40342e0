"""The persistent search index of an embedded store, kept in step with the graph.

Layout (``<store>/index/``): ``manifest.json`` (format, synced store version, encoder),
``rows/`` (the rows as memory-mapped columns: node id, result id, label, year, authors,
categories, text hash, alive; :mod:`retrieval.rows`), ``bm25/`` and ``dense/`` (row-aligned leg
indexes). Row ``i`` is the same node in every leg, so a filter is one boolean mask shared by all
legs. Format 1 kept the rows in ``rows.jsonl``; such an index is rewritten as format 2 the first
time it is opened.

A save writes ``.saving`` first and deletes it last: an index found with it (its writer was
killed mid-save, its files may come from two states) is rebuilt from the graph on the next load.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import signal
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

import numpy as np
import orjson

from kg.errors import ConfigError, KGError
from kg.faults import checkpoint
from kg.ids import fold
from kg.model import Label, Rel
from kg.runtime import paused_gc
from kg.searchtext import CATEGORY_EDGES, SEARCHABLE, node_text, text_hash
from retrieval.rows import LiveColumn, RowInfo, RowTable, str_hash

if TYPE_CHECKING:
    from kg.query import Filters
    from kg.store.base import GraphStore
    from kg.store.check import CheckReport
    from kg.store.first_load import FirstLoad
    from retrieval.encoder import EncodeProgressFn

FORMAT = 2  # 2: rows as columns in rows/; 1: rows.jsonl (read, and upgraded on open)
SCAN_ABOVE = 20_000  # an index sync with more changed nodes reads whole tables instead of looking ids up
COMPACT_DEAD_FRACTION = 0.3
NICE = 2  # niceness of the process that builds a first load's index beside the store write
SAVING = ".saving"  # present while a save runs: the index files may be from two states
WRITER = ".writer"  # in the store folder: flock-ed by a process that writes the store and then syncs its index


@contextlib.contextmanager
def store_writer(store: GraphStore) -> Iterator[None]:
    """Mark, for the duration, that this process writes ``store`` and will sync its index itself.

    Searches in other processes that see the store ahead of the index meanwhile keep searching
    the index as it was (the state before the write) instead of syncing it themselves (which
    would embed the writer's new texts in a reader, or wait for its lock); see
    :func:`writer_active`. An flock, so a killed writer leaves no mark. No-op for a store
    without an index folder.
    """
    folder = SearchIndex.folder_for(store)
    if folder is None:
        yield
        return
    key = folder.resolve()
    if key in _WRITING:  # nested (e.g. an ingest that activates a student): already marked
        yield
        return
    folder.parent.mkdir(parents=True, exist_ok=True)
    # beside the index folder, not in it: a first load replaces that folder whole
    with open(folder.parent / WRITER, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)  # a second writer waits here for the first to finish
        _WRITING.add(key)
        try:
            yield
        finally:
            _WRITING.discard(key)
            fcntl.flock(fh, fcntl.LOCK_UN)


_WRITING: set[Path] = set()  # index folders whose store this process is writing (store_writer)


def writer_active(folder: Path) -> bool:
    """Whether another process holds :func:`store_writer` on the store of index ``folder``
    (``<store>/.writer``)."""
    if folder.resolve() in _WRITING:
        return False
    try:
        fh = open(folder.parent / WRITER, "rb")  # noqa: SIM115 (closed below)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fh, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        fh.close()  # closing drops a lock taken
    return False


def default_embed() -> bool:
    """Whether new indexes get a dense leg by default: when sentence-transformers is installed."""
    import importlib.util

    return importlib.util.find_spec("sentence_transformers") is not None


def prebuild_first_load(store: GraphStore, load: FirstLoad, version: int,
                        embed: bool | None) -> Callable[[bool], None] | None:
    """Build the search index of a first load in a forked process while this one writes the store.

    Only for a large load (over :data:`SCAN_ABOVE` nodes) into an embedded store whose index does
    not exist yet, without a dense leg (encoding does not belong in a forked process). The child
    builds from a :class:`~kg.store.first_load_view.FirstLoadView` of the load, with the code a
    sync uses, into a folder next to the index. Returns the finisher to call once the store write
    ended (``ok``: it committed): it puts the index in place, or drops it. None when not applicable.
    """
    folder = SearchIndex.folder_for(store)
    if folder is None or load.n_nodes <= SCAN_ABOVE or not hasattr(os, "fork") \
            or (folder / "manifest.json").exists() or (embed is None and default_embed()) or embed:
        return None
    if folder.exists() and any(p.name != ".lock" for p in folder.iterdir()):
        return None
    tmp = folder.parent / ".index-first-load"
    shutil.rmtree(tmp, ignore_errors=True)
    from kg.store.first_load_view import FirstLoadView

    pid = os.fork()
    if pid == 0:  # pragma: no cover (the child: covered through its result)
        code = 1
        try:
            os.nice(NICE)  # the store write is the critical path: it gets the core first
            SearchIndex.load(tmp, lock=False).sync(FirstLoadView(load, version, store.url), embed=False)
            code = 0
        finally:
            os._exit(code)

    def finish(ok: bool) -> None:
        if not ok:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        try:
            if ok and status == 0 and not (folder / "manifest.json").exists():
                if folder.exists():
                    shutil.rmtree(folder)  # it holds nothing but the lock file (checked above)
                os.replace(tmp, folder)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    return finish


class SearchIndex:
    """BM25 + dense legs over the searchable nodes of one embedded store."""

    def __init__(self, folder: Path, manifest: dict[str, Any], table: RowTable | None = None, *,
                 legs: bool = True) -> None:
        """An index over the rows of ``table``; ``legs=False`` starts with empty legs instead of those on disk."""
        from retrieval.bm25 import BM25Index

        self.folder = folder
        self.manifest = manifest
        self.table = table if table is not None else RowTable()
        self.bm25 = BM25Index.load(folder / "bm25") if legs and (folder / "bm25").exists() else BM25Index()
        self.dense: Any = None
        self._encoder: Any = None
        self._facet_text: tuple[str, str] | None = None  # built on the first author/category filter
        self._targets: LiveColumn | None = None
        if legs and manifest.get("dense"):
            from retrieval.dense import DenseIndex

            self.dense = DenseIndex.load(folder / "dense") if (folder / "dense").exists() else None

    # -- rows ----------------------------------------------------------------------------------------
    @property
    def rows(self) -> Rows:
        """The rows as a sequence of :class:`RowInfo` (None for a deleted row), built on access."""
        return Rows(self.table)

    @property
    def row_of(self) -> RowOf:
        """Node id -> its live row (a mapping looked up through the id hashes)."""
        return RowOf(self.table)

    @property
    def targets(self) -> LiveColumn:
        """Row -> result id (a chunk's parent, else the node; ``""`` for a deleted row)."""
        t = self.table
        view = self._targets
        if view is None or view.column is not t.targets or view.alive is not t.alive:
            self._targets = view = LiveColumn(t.targets, t.alive)
        return view

    @property
    def alive(self) -> np.ndarray:
        """Boolean mask of the live rows."""
        return self.table.alive

    @property
    def years(self) -> np.ndarray:
        """Row -> the result's year (0: unknown)."""
        return self.table.year

    @property
    def has_chunks(self) -> bool:
        """Whether some rows aggregate into another result (chunks): legs then fetch deeper lists."""
        return self.table.has_chunks

    # -- loading -------------------------------------------------------------------------------------
    @staticmethod
    def folder_for(store: GraphStore) -> Path | None:
        """Where a store keeps its index: ``index/`` in its folder (None for a store without one)."""
        return None if store.folder is None else store.folder / "index"

    @classmethod
    def load(cls, folder: Path, *, lock: bool = True) -> SearchIndex:
        """Open an index folder (an empty index when it does not exist yet).

        Holds a shared lock while reading so a concurrent sync in another process (which holds
        the exclusive lock while it writes) is never seen half-written. A format-1 index is
        rewritten as format 2 (under the exclusive lock) before it is returned.
        """
        if lock and folder.exists():
            with open(folder / ".lock", "a") as fh:
                fcntl.flock(fh, fcntl.LOCK_SH)
                try:
                    idx = cls.load(folder, lock=False)
                    if not idx.manifest.get("_upgrade"):
                        return idx
                    read = (folder / "manifest.json").read_bytes()
                    fcntl.flock(fh, fcntl.LOCK_EX)  # upgrade the format once, for every later reader
                    if (folder / "manifest.json").read_bytes() == read:  # no one wrote in between
                        idx.save()
                        return idx
                    return cls.load(folder, lock=False)
                finally:
                    fcntl.flock(fh, fcntl.LOCK_UN)
        mpath = folder / "manifest.json"
        if (folder / SAVING).exists():  # a save was cut short: rebuild everything from the graph
            try:
                was = orjson.loads((folder / SAVING).read_bytes())
            except (OSError, orjson.JSONDecodeError):
                was = {}
            was = was if isinstance(was, dict) else {}
            return cls(folder, {"format": FORMAT, "version": 0, "dense": bool(was.get("dense")),
                                "encoder": was.get("encoder") or "minilm", "_rebuild": True}, legs=False)
        if not mpath.exists():
            return cls(folder, {"format": FORMAT, "version": 0, "dense": False, "encoder": "minilm"})
        manifest = orjson.loads(mpath.read_bytes())
        if manifest.get("format") == 1:  # rows.jsonl and names.json: read them into columns
            manifest["format"], manifest["_upgrade"] = FORMAT, True
            return cls(folder, manifest, _read_rows_v1(folder))
        if manifest.get("format") != FORMAT:
            raise ConfigError(f"search index format {manifest.get('format')} is not supported; "
                              "delete the index folder to rebuild it")
        return cls(folder, manifest, RowTable(folder / "rows"))

    # -- encoder ---------------------------------------------------------------------------------------
    @property
    def encoder(self) -> Any:
        """The query/document encoder named in the manifest (loaded lazily)."""
        if self._encoder is None:
            from retrieval.encoder import load_encoder

            self._encoder = load_encoder(self.manifest.get("encoder", "minilm"))
        return self._encoder

    # -- syncing ---------------------------------------------------------------------------------------
    @classmethod
    def in_step(cls, store: GraphStore, *, embed: bool | None = None) -> bool:
        """Whether the index on disk already matches the store (and ``embed`` asks for no new dense
        leg), read from its manifest alone: then a sync has nothing to do and need not load it."""
        folder = cls.folder_for(store)
        if folder is None or not (folder / "manifest.json").exists() or (folder / SAVING).exists():
            return False
        try:
            manifest = orjson.loads((folder / "manifest.json").read_bytes())
        except (OSError, orjson.JSONDecodeError):
            return False
        dense = bool(manifest.get("dense"))
        return (manifest.get("format") == FORMAT and manifest.get("version") == store.version()
                and not (embed and not dense) and (not dense or (folder / "dense").exists()))

    @classmethod
    def sync_store(cls, store: GraphStore, *, embed: bool | None = None, show_progress: bool = False,
                   encoder: str | None = None, progress: EncodeProgressFn | None = None,
                   timings: dict[str, float] | None = None) -> SearchIndex:
        """Apply the store's changes since the last sync to the index in its folder; returns the index.

        ``progress(done, total)`` follows the texts being embedded; ``timings["embed"]`` gets the
        seconds spent loading the encoder and embedding (see :meth:`sync`)."""
        folder = cls.folder_for(store)
        if folder is None:
            raise ConfigError("this store keeps no folder for a search index")
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / ".lock", "a") as lock:  # one writer at a time across processes
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                idx = cls.load(folder, lock=False)
                idx.sync(store, embed=embed, show_progress=show_progress, encoder=encoder, progress=progress,
                         timings=timings)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
        return idx

    def sync(self, store: GraphStore, *, embed: bool | None = None, show_progress: bool = False,
             encoder: str | None = None, progress: EncodeProgressFn | None = None,
             timings: dict[str, float] | None = None) -> dict[str, int]:
        """Bring this index in step with ``store``; returns counts of rows added and deleted.

        ``progress(done, total)`` is called with 0 when the dense pass starts (before the encoder
        loads), then as the texts without a vector are embedded (see
        :func:`retrieval.encoder.encode_texts`); ``timings["embed"]`` is added the seconds spent on
        the dense leg (encoder loading included)."""
        checkpoint("index.sync")
        rebuild = bool(self.manifest.get("_rebuild"))
        fresh = not (self.folder / "manifest.json").exists()
        if encoder and encoder != self.manifest.get("encoder"):
            self.manifest["encoder"] = encoder
            self._encoder = None
            if self.manifest.get("dense"):
                self.dense = None  # re-encode everything with the new encoder
        # embeddings already computed are never dropped by accident: embed=False only means
        # "do not start a dense leg"; an existing one is kept in step (drop_dense() removes it)
        has_dense = bool(self.manifest.get("dense"))
        want_dense = (default_embed() if fresh else has_dense) if embed is None else (embed or has_dense)
        changes = store.changes_since(int(self.manifest.get("version", 0)))
        if not changes.upserted and not changes.deleted and want_dense == bool(self.dense is not None) \
                and not fresh and not rebuild:
            if self.manifest.get("_upgrade"):
                self.save()
            return {"added": 0, "deleted": 0}
        found = self.table.find_many([*changes.deleted, *changes.upserted])
        dead = [int(r) for r in found[found >= 0]]
        # a node whose text did not change (only its attributes did) keeps its vector
        old_vec = {self.table.ids[r]: (int(self.table.th[r]), r) for r in dead}
        had_dense = self.dense is not None
        with paused_gc():  # millions of small acyclic objects: see kg.runtime
            if dead:
                self._delete_rows(dead)
            new_rows = self._rows_for(store, changes.upserted)
            texts = [t for _, t in new_rows]
            infos = [r for r, _ in new_rows]
            if texts:
                self.bm25.add(texts)
            self.table.append(infos)
        self._facet_text = None
        if want_dense:
            reuse: dict[int, int] = {}
            if had_dense and self.dense is not None:
                for j, info in enumerate(infos):
                    th, r = old_vec.get(info.id, (0, -1))
                    if th and th == int(info.th or "0", 16):
                        reuse[j] = r
            t = time.perf_counter()
            try:
                self._sync_dense(store, texts, show_progress, reuse=reuse, progress=progress)
            finally:
                if timings is not None:
                    timings["embed"] = timings.get("embed", 0.0) + time.perf_counter() - t
        else:
            self.dense = None
        self.manifest["dense"] = want_dense
        self.manifest["version"] = changes.version
        self.manifest.pop("_rebuild", None)
        n = len(self.table)
        if n and n - int(np.count_nonzero(self.table.alive)) > COMPACT_DEAD_FRACTION * n:
            self.compact()
        self.save()
        return {"added": len(infos), "deleted": len(dead)}

    def drop_dense(self) -> None:
        """Remove the dense leg (its vectors are deleted; BM25 keeps working)."""
        self.dense = None
        self.manifest["dense"] = False
        self.save()

    def _delete_rows(self, rows: list[int]) -> None:
        arr = np.asarray(sorted(set(rows)), dtype=np.int64)
        self.bm25.delete(arr)
        if self.dense is not None:
            self.dense.delete(arr)
        self.table.delete(arr)

    def _sync_dense(self, store: GraphStore, texts: list[str], show_progress: bool,
                    reuse: dict[int, int] | None = None, progress: EncodeProgressFn | None = None) -> None:
        from retrieval.dense import DenseIndex
        from retrieval.encoder import encode_texts

        if self.dense is None:  # (re)build for every row; dead rows get a zero vector, then die
            alive, ids = self.table.alive, self.table.ids
            live = [ids[i] for i in np.flatnonzero(alive).tolist()]
            nodes = store.get_nodes(live)
            all_texts = [node_text(nodes[nid]) if alive[i] and (nid := ids[i]) in nodes else ""
                         for i in range(len(self.table))]
            if progress is not None and all_texts:
                progress(0, len(all_texts))  # the pass starts now: loading the encoder can take a while
            checkpoint("index.embed")
            self.dense = DenseIndex(dim=self.encoder.dim, encoder=self.encoder.name)
            if all_texts:
                self.dense.add(encode_texts(self.encoder, all_texts, progress=progress, show_progress=show_progress))
            dead = np.flatnonzero(~self.table.alive).tolist()
            if dead:
                self.dense.delete(np.asarray(dead, dtype=np.int64))
        elif texts:
            reuse = reuse or {}
            todo = [j for j in range(len(texts)) if j not in reuse]
            if progress is not None and todo:
                progress(0, len(todo))  # the pass starts now: loading the encoder can take a while
            checkpoint("index.embed")
            vecs = np.zeros((len(texts), self.dense.dim), dtype=np.float32)
            if reuse:
                src = np.asarray(list(reuse.values()), dtype=np.int64)
                vecs[np.asarray(list(reuse.keys()), dtype=np.int64)] = self.dense.take(src)
            if todo:
                vecs[todo] = encode_texts(self.encoder, [texts[j] for j in todo], progress=progress,
                                          show_progress=show_progress)
            self.dense.add(vecs)
        if self.dense.n_rows != len(self.table):
            raise ConfigError("dense and BM25 rows out of step; delete the index folder to rebuild it")

    def _rows_for(self, store: GraphStore, ids: Iterable[str]) -> list[tuple[RowInfo, str]]:
        out: list[tuple[RowInfo, str]] = []
        ids = list(ids)
        # many changes (a first load): one scan of each table beats per-id lookups
        scan = len(ids) > SCAN_ABOVE
        if scan:
            wanted_ids = set(ids)
            nodes = {n.id: n for n in store.iter_nodes(SEARCHABLE) if n.id in wanted_ids}
        else:
            nodes = store.get_nodes(ids)
        cand = [n for n in nodes.values() if n.label in SEARCHABLE]
        parents_needed = {n.properties.get("parent") for n in cand if n.label == Label.CHUNK}
        parents = store.get_nodes([p for p in parents_needed if p and p not in nodes])
        parents.update(nodes)
        targets = sorted({(n.properties.get("parent") or n.id) if n.label == Label.CHUNK else n.id for n in cand})
        authors: dict[str, list[str]] = {}
        cats: dict[str, list[str]] = {}
        if targets:
            if scan:
                tset = set(targets)
                for src, typ, dst in store.edge_keys([Rel.AUTHORED, *CATEGORY_EDGES]):
                    if typ == Rel.AUTHORED:
                        if dst in tset:
                            authors.setdefault(dst, []).append(src)
                    elif src in tset:
                        cats.setdefault(src, []).append(dst)
            else:
                for e in store.edges_of(targets, types=[Rel.AUTHORED], direction="in"):
                    authors.setdefault(e.target, []).append(e.source)
                for e in store.edges_of(targets, types=list(CATEGORY_EDGES), direction="out"):
                    cats.setdefault(e.source, []).append(e.target)
            wanted = {a for v in authors.values() for a in v} | {c for v in cats.values() for c in v}
            self.table.set_names(store.display_names(sorted(wanted)))
        for n in sorted(cand, key=lambda x: x.id):
            text = node_text(n)
            if not text:
                continue
            target = (n.properties.get("parent") or n.id) if n.label == Label.CHUNK else n.id
            parent = parents.get(target)
            label = parent.label if parent is not None else n.label
            year = (parent.properties.get("year") if parent is not None else None) or 0
            try:
                year = int(year)
            except (TypeError, ValueError):
                year = 0
            out.append((RowInfo(n.id, target, label, year, sorted(authors.get(target, [])),
                                sorted(cats.get(target, [])), text_hash(text)), text))
        return out

    def compact(self) -> None:
        """Drop deleted rows from every leg (row numbers change)."""
        self.bm25.compact()
        if self.dense is not None:
            self.dense.compact()
        self.table.compact()
        self._facet_text = None

    def save(self) -> None:
        """Write the index: the ``.saving`` mark, the legs, the rows, the manifest, then the mark
        is deleted (each file is replaced whole; the mark covers the steps between them). Legs
        write only what changed since they were loaded or last saved (see their ``save``)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        saving = self.folder / SAVING
        saving.write_bytes(orjson.dumps({"dense": bool(self.manifest.get("dense")),
                                         "encoder": self.manifest.get("encoder")}))
        checkpoint("index.save.begin")
        self.bm25.save(self.folder / "bm25")
        checkpoint("index.save.bm25")
        if self.dense is not None:
            self.dense.save(self.folder / "dense")
        elif (self.folder / "dense").exists():
            shutil.rmtree(self.folder / "dense")
        checkpoint("index.save.dense")
        self.table.save(self.folder / "rows")
        for old in ("rows.jsonl", "names.json"):  # format 1
            (self.folder / old).unlink(missing_ok=True)
        checkpoint("index.save.rows")
        m = {k: v for k, v in self.manifest.items() if not k.startswith("_")}
        m["format"] = FORMAT
        m["saved_at"] = time.strftime("%Y-%m-%dT%H:%M:%S")
        (self.folder / "manifest.json").write_bytes(orjson.dumps(m, option=orjson.OPT_INDENT_2))
        self.manifest.pop("_upgrade", None)
        checkpoint("index.save.manifest")
        saving.unlink()

    # -- filters ---------------------------------------------------------------------------------------
    def mask(self, filters: Filters | None, store: GraphStore | None = None) -> np.ndarray | None:
        """Boolean mask over rows for ``filters`` (None when nothing is filtered)."""
        if filters is None or filters.empty:
            return None
        t = self.table
        m = t.alive.copy()
        if filters.labels:
            codes = [t.labels.index(x) for x in filters.labels if x in t.labels]
            m &= np.isin(t.label, np.asarray(codes, dtype=t.label.dtype))
        if filters.year:
            lo, hi = filters.year
            m &= t.year != 0
            if lo is not None:
                m &= t.year >= lo
            if hi is not None:
                m &= t.year <= hi
        if filters.authors:
            m &= t.authors.rows_with(self._facets_matching(filters.authors), len(t.facets), len(t))
        if filters.categories:
            m &= t.categories.rows_with(self._facets_matching(filters.categories), len(t.facets), len(t))
        if filters.source:
            if store is None:
                raise ConfigError("a source filter needs the store")
            allowed = store.ids_by_source(os.path.abspath(filters.source))
            hashes = np.fromiter(map(str_hash, allowed), dtype=np.uint64, count=len(allowed))
            # by the ids' 64-bit hashes: one vectorised pass whatever the number of ids
            m &= np.isin(t.targets.hashes, hashes) | np.isin(t.ids.hashes, hashes)
        return m

    def _facets_matching(self, wanted: Iterable[str]) -> np.ndarray:
        """Numbers of the authors/categories an author or category filter names: by id, or by a
        case- and accent-insensitive substring of the display name (or the whole folded id)."""
        t = self.table
        if self._facet_text is None:  # folded names, and folded ids, one per line: searched as one text
            self._facet_text = ("\n".join(fold(t.name(i)) for i in range(len(t.facets))),
                                "\n".join(fold(f) for f in t.facets))
        names, keys = self._facet_text
        out: set[int] = set()
        for w in wanted:
            out.update(t.facets.rows_of(w).tolist())
            fw = fold(w)
            if not fw:
                continue
            for text, pattern in ((names, re.escape(fw)), (keys, f"^{re.escape(fw)}$")):
                pos = [m.start() for m in re.finditer(pattern, text, re.MULTILINE)]
                if pos:  # line number = facet number
                    out.update(_line_numbers(text, pos))
        return np.asarray(sorted(out), dtype=np.int64)


def _line_numbers(text: str, positions: list[int]) -> list[int]:
    """The 0-based line of each position in ``text``."""
    out, line, at = [], 0, 0
    for p in positions:  # ascending
        line += text.count("\n", at, p)
        at = p
        out.append(line)
    return out


class Rows(Sequence[RowInfo | None]):
    """The rows of a :class:`RowTable` as :class:`RowInfo` objects, made on access."""

    def __init__(self, table: RowTable) -> None:
        self.table = table

    def __len__(self) -> int:
        return len(self.table)

    @overload
    def __getitem__(self, i: int) -> RowInfo | None: ...
    @overload
    def __getitem__(self, i: slice) -> list[RowInfo | None]: ...
    def __getitem__(self, i: int | slice) -> RowInfo | list[RowInfo | None] | None:
        if isinstance(i, slice):
            return [self.table.info(j) for j in range(*i.indices(len(self)))]
        if not -len(self) <= i < len(self):
            raise IndexError(i)
        return self.table.info(i % len(self))

    def __iter__(self) -> Iterator[RowInfo | None]:
        return self.table.infos()


class RowOf(Mapping[str, int]):
    """Node id -> its live row, looked up through the ids' hashes (no dict of every id)."""

    def __init__(self, table: RowTable) -> None:
        self.table = table

    def __getitem__(self, node_id: str) -> int:
        r = self.table.find(node_id)
        if r is None:
            raise KeyError(node_id)
        return r

    def __contains__(self, node_id: object) -> bool:
        return isinstance(node_id, str) and self.table.find(node_id) is not None

    def __iter__(self) -> Iterator[str]:
        ids, alive = self.table.ids, self.table.alive
        return (ids[i] for i in np.flatnonzero(alive).tolist())

    def __len__(self) -> int:
        return int(np.count_nonzero(self.table.alive))


def _read_rows_v1(folder: Path) -> RowTable:
    """The rows of a format-1 index (``rows.jsonl``, ``names.json``) as a table."""
    infos: list[RowInfo | None] = []
    with open(folder / "rows.jsonl", "rb") as fh:
        for line in fh:
            d = orjson.loads(line)
            infos.append(RowInfo(**d) if d else None)
    table = RowTable.from_infos(infos)
    if (folder / "names.json").exists():
        table.set_names(orjson.loads((folder / "names.json").read_bytes()))
    return table


def check_index(store: GraphStore, report: CheckReport, *, repair: bool = False) -> None:
    """``kg check``'s index half: add to ``report`` what is wrong with ``store``'s search index.

    Checked: no save was cut short (``.saving``); the legs have one row per line of ``rows.jsonl``
    and the same rows deleted (BM25, and the dense leg's vectors: finite, unit length where alive);
    the manifest's store version is not ahead of the store; and, when the index is in step with
    the store, its live rows are exactly the searchable nodes with text, each with the hash of its
    node's current text. ``repair`` rebuilds a faulty index from the graph (same encoder, dense leg
    if it had one). An index behind the store is a note, not a finding: the next search syncs it.
    """
    from kg.store.check import Finding

    folder = SearchIndex.folder_for(store)
    if folder is None or not folder.exists():
        report.notes.append("no search index yet (the first search builds it)")
        return
    found: list[Finding] = []
    idx: SearchIndex | None = None
    if (folder / SAVING).exists():
        found.append(Finding("index", "a save of the index was cut short (.saving is present)", 1, True))
    else:
        try:
            idx = SearchIndex.load(folder)
        except (KGError, OSError, ValueError, TypeError) as e:
            found.append(Finding("index", f"the index cannot be loaded: {str(e).splitlines()[0][:200]}", 1, True))
    if idx is not None:
        found += _index_findings(store, idx, report)
    if repair and found:
        was: dict[str, Any] = idx.manifest if idx is not None else {}
        if idx is None and (folder / SAVING).exists():
            was = SearchIndex.load(folder).manifest  # what the cut-short save was writing
        shutil.rmtree(folder)
        SearchIndex.sync_store(store, embed=bool(was.get("dense")), encoder=was.get("encoder"))
        report.repaired.append("rebuilt the search index from the graph (" + "; ".join(f.message for f in found) + ")")
        found = []
        idx = SearchIndex.load(folder)
        found += _index_findings(store, idx, report)
    report.findings += found


def _index_findings(store: GraphStore, idx: SearchIndex, report: CheckReport) -> list[Any]:
    from kg.store.check import Finding

    out: list[Finding] = []
    n = len(idx.table)
    alive = idx.alive
    report.checked["index_rows"] = int(np.count_nonzero(alive))
    if idx.bm25.n_rows != n or idx.bm25.n_live != int(np.count_nonzero(alive)):
        out.append(Finding("index", f"BM25 leg has {idx.bm25.n_rows} rows ({idx.bm25.n_live} live), rows.jsonl "
                                    f"{n} ({int(np.count_nonzero(alive))} live)", 1, True))
    if idx.manifest.get("dense"):
        if idx.dense is None:
            out.append(Finding("vectors", "the manifest names a dense leg but dense/ is missing", 1, True))
        else:
            report.checked["vectors"] = idx.dense.n_rows
            vecs = np.asarray(idx.dense.vectors)
            if idx.dense.n_rows != n or not np.array_equal(idx.dense.alive, alive):
                out.append(Finding("vectors", f"dense leg has {idx.dense.n_rows} rows, rows.jsonl {n}, or other rows "
                                              "deleted", 1, True))
            elif n:
                norms = np.linalg.norm(vecs[alive], axis=1) if alive.any() else np.ones(0)
                bad = int(np.count_nonzero(~np.isfinite(norms) | (np.abs(norms - 1) > 1e-3)))
                if bad:
                    out.append(Finding("vectors", "live vectors that are not finite unit vectors", bad, True))
    version, current = int(idx.manifest.get("version", 0)), store.version()
    if version > current:
        out.append(Finding("index", f"the index is at store version {version}, ahead of the store ({current})", 1,
                           True))
    elif version < current:
        report.notes.append(f"the index is behind the graph (version {version} < {current}); the next search "
                            "brings it in step")
    else:
        want = {nd.id: text_hash(t) for nd in store.iter_nodes(SEARCHABLE) if (t := node_text(nd))}
        have: dict[str, str] = {}
        dup = 0
        ids, ths = idx.table.ids, idx.table.th
        for r in np.flatnonzero(alive).tolist():
            nid = ids[r]
            dup += nid in have
            have[nid] = f"{int(ths[r]):016x}" if ths[r] else ""
        missing = len(want.keys() - have.keys())
        extra = len(have.keys() - want.keys())
        stale = sum(1 for k, th in have.items() if k in want and want[k] != th)
        for what, count in (("searchable nodes missing from the index", missing),
                            ("index rows of nodes that are gone or not searchable", extra),
                            ("index rows whose text hash differs from their node's text", stale),
                            ("nodes indexed in more than one live row", dup)):
            if count:
                out.append(Finding("index", what, count, True))
    return out
