"""The rows of the search index as columns: memory-mappable arrays instead of one object per row.

Row ``i`` of every leg is the same indexed node; :class:`RowTable` keeps, per row, the node id,
the result id (a chunk's parent, else the node), the result's label, year, authors and categories,
the hash of the indexed text and whether the row is alive. On disk (``index/rows/``, pickle-free):

| file | content |
|---|---|
| ``meta.json`` | ``format``, ``n_rows``, ``labels`` (label code -> name), ``has_chunks`` |
| ``ids.bin`` / ``ids.npy`` | node ids: UTF-8 bytes back to back, and ``n_rows + 1`` int64 offsets |
| ``ids_hash.npy`` / ``ids_order.npy`` | BLAKE2b-64 of each id (uint64) and the rows in hash order |
| ``targets.bin`` / ``targets.npy`` / ``targets_hash.npy`` / ``targets_order.npy`` | the same for result ids |
| ``label.npy`` (int16), ``year.npy`` (int32, 0 unknown), ``th.npy`` (uint64 text hash), ``alive.npy`` (bool) | per row |
| ``authors_indptr.npy`` / ``authors.npy``, ``categories_indptr.npy`` / ``categories.npy`` | per row, facet numbers (CSR) |
| ``facets.*`` / ``facet_names.*`` | string columns: facet number -> author or category node id, and its display name |

Opening maps the arrays; nothing is parsed per row. An id is found through its hash (binary search
in ``*_order``), so neither opening nor a lookup builds a dict of every id. The inverted facet ->
rows lists are built on the first filter that needs them. Every file is mapped when the table is
opened, so a table keeps reading the state it was opened with while a writer replaces the files.
"""

from __future__ import annotations

import hashlib
import itertools
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, overload

import numpy as np
import numpy.typing as npt
import orjson

from kg.errors import ConfigError

FORMAT = 1
_LABEL_DTYPE = np.int16
_Arr = npt.NDArray[Any]


@dataclass(slots=True)
class RowInfo:
    """Attributes of one index row."""

    id: str
    target: str  # result id: the parent for a chunk, else the node itself
    label: str  # the result's label
    year: int = 0
    authors: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    th: str = ""  # hash of the indexed text: an unchanged text keeps its vector


def str_hash(s: str) -> int:
    """BLAKE2b-64 of a string's UTF-8 bytes, as an unsigned integer (the lookup key of an id)."""
    return int.from_bytes(hashlib.blake2b(s.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little")


def _hashes(strs: Iterable[str]) -> npt.NDArray[np.uint64]:
    return np.fromiter(map(str_hash, strs), dtype=np.uint64)


def _th_int(th: str) -> int:
    try:
        return int(th, 16) if th else 0
    except ValueError:
        return 0


class StrColumn(Sequence[str]):
    """Strings stored as one UTF-8 blob and offsets, found by hash (see the module docstring)."""

    def __init__(self, blob: _Arr, offsets: _Arr, hashes: _Arr, order: _Arr) -> None:
        self.blob, self.offsets, self.hashes, self.order = blob, offsets, hashes, order
        self._sorted: _Arr | None = None
        # slicing a memoryview of plain arrays is what one lookup costs (a np.memmap's __getitem__
        # is several times slower)
        self._bytes = np.ascontiguousarray(blob).data.cast("B") if len(blob) else memoryview(b"")
        self._off = np.asarray(offsets)

    @classmethod
    def build(cls, strs: Sequence[str]) -> StrColumn:
        """A column of ``strs``."""
        enc = [s.encode("utf-8", "surrogatepass") for s in strs]
        offsets = np.zeros(len(enc) + 1, dtype=np.int64)
        np.cumsum(np.fromiter(map(len, enc), dtype=np.int64, count=len(enc)), out=offsets[1:])
        blob = np.frombuffer(b"".join(enc), dtype=np.uint8)
        hashes = _hashes(strs)
        return cls(blob, offsets, hashes, np.argsort(hashes, kind="stable").astype(np.int64))

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @overload
    def __getitem__(self, i: int) -> str: ...
    @overload
    def __getitem__(self, i: slice) -> list[str]: ...
    def __getitem__(self, i: int | slice) -> str | list[str]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        off = self._off
        return str(self._bytes[off[i]:off[i + 1]], "utf-8", "surrogatepass")

    def take(self, rows: Iterable[int]) -> list[str]:
        """The strings of ``rows``."""
        r = np.asarray(list(rows) if not isinstance(rows, np.ndarray) else rows, dtype=np.int64)
        data, starts, ends = self._bytes, self._off[r].tolist(), self._off[r + 1].tolist()
        return [str(data[s:e], "utf-8", "surrogatepass") for s, e in zip(starts, ends, strict=True)]

    def __iter__(self) -> Iterator[str]:
        data, off = bytes(self.blob), self.offsets.tolist()
        for s, e in itertools.pairwise(off):
            yield data[s:e].decode("utf-8", "surrogatepass")

    def __contains__(self, s: object) -> bool:
        return isinstance(s, str) and bool(self.rows_of(s).size)

    def sorted_hashes(self) -> _Arr:
        """The hashes in ascending order (computed on first use)."""
        if self._sorted is None:
            self._sorted = np.asarray(self.hashes)[np.asarray(self.order)]
        return self._sorted

    def rows_of(self, s: str) -> npt.NDArray[np.int64]:
        """Every row holding ``s`` (ascending)."""
        srt = self.sorted_hashes()
        h = np.uint64(str_hash(s))
        lo, hi = np.searchsorted(srt, h, "left"), np.searchsorted(srt, h, "right")
        cand = np.sort(self.order[lo:hi])
        want = s.encode("utf-8", "surrogatepass")
        data, off = self._bytes, self._off
        return np.asarray([r for r in cand.tolist() if data[off[r]:off[r + 1]] == want], dtype=np.int64)

    def extended(self, strs: Sequence[str]) -> StrColumn:
        """A new column: these rows, then ``strs``."""
        if not strs:
            return self
        add = StrColumn.build(strs)
        blob = np.concatenate([np.asarray(self.blob), add.blob])
        offsets = np.concatenate([np.asarray(self.offsets), add.offsets[1:] + self.offsets[-1]])
        hashes = np.concatenate([np.asarray(self.hashes), add.hashes])
        return StrColumn(blob, offsets, hashes, np.argsort(hashes, kind="stable").astype(np.int64))

    def selected(self, keep: npt.NDArray[np.int64]) -> StrColumn:
        """A new column of the rows ``keep`` (in that order)."""
        s, e = self.offsets[keep], self.offsets[keep + 1]
        lens = e - s
        idx = np.repeat(s - np.concatenate([[0], np.cumsum(lens)[:-1]]), lens) + np.arange(int(lens.sum()))
        offsets = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
        hashes = np.asarray(self.hashes)[keep]
        return StrColumn(np.asarray(self.blob)[idx], offsets, hashes,
                         np.argsort(hashes, kind="stable").astype(np.int64))

    def save(self, folder: Path, name: str) -> None:
        """Write ``name.bin`` and the ``name*.npy`` arrays."""
        _write(folder / f"{name}.bin", np.asarray(self.blob).tobytes())
        for suffix, arr in (("", self.offsets), ("_hash", self.hashes), ("_order", self.order)):
            _write_npy(folder / f"{name}{suffix}.npy", arr)

    @classmethod
    def load(cls, folder: Path, name: str, mmap: bool = True) -> StrColumn:
        """Map a column written by :meth:`save`."""
        blob = np.memmap(folder / f"{name}.bin", dtype=np.uint8, mode="r") \
            if mmap and (folder / f"{name}.bin").stat().st_size else np.fromfile(folder / f"{name}.bin", dtype=np.uint8)
        return cls(np.asarray(blob), *(np.asarray(_load_npy(folder / f"{name}{s}.npy", mmap))
                                       for s in ("", "_hash", "_order")))


class LiveColumn(Sequence[str]):
    """A string column seen through the live rows: ``""`` for a deleted row, and ``in`` finds
    only strings that some live row holds."""

    def __init__(self, column: StrColumn, alive: _Arr) -> None:
        self.column, self.alive = column, alive

    def __len__(self) -> int:
        return len(self.column)

    @overload
    def __getitem__(self, i: int) -> str: ...
    @overload
    def __getitem__(self, i: slice) -> list[str]: ...
    def __getitem__(self, i: int | slice) -> str | list[str]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        return self.column[i] if self.alive.item(i) else ""

    def take(self, rows: np.ndarray) -> list[str]:
        """The strings of ``rows`` (``""`` for deleted ones), in one pass over the columns."""
        r = np.asarray(rows, dtype=np.int64)
        alive = np.asarray(self.alive)[r]
        if alive.all():
            return self.column.take(r)
        got = iter(self.column.take(r[alive]))
        return [next(got) if a else "" for a in alive.tolist()]

    def __iter__(self) -> Iterator[str]:
        for s, alive in zip(self.column, self.alive.tolist(), strict=True):
            yield s if alive else ""

    def __contains__(self, s: object) -> bool:
        return isinstance(s, str) and bool(self.alive[self.column.rows_of(s)].any())


class _Facets:
    """One facet kind (authors or categories) per row: CSR row -> facet numbers."""

    def __init__(self, indptr: _Arr, values: _Arr) -> None:
        self.indptr, self.values = indptr, values
        self._inverted: tuple[_Arr, _Arr] | None = None

    def of(self, row: int) -> list[int]:
        return [int(x) for x in self.values[self.indptr[row]:self.indptr[row + 1]]]

    def rows_with(self, facets: npt.NDArray[np.int64], n_facets: int, n_rows: int) -> npt.NDArray[np.bool_]:
        """Mask of the rows having any of ``facets``."""
        if self._inverted is None:  # facet -> rows, built on the first filter that needs it
            order = np.argsort(np.asarray(self.values), kind="stable")
            rows = np.repeat(np.arange(len(self.indptr) - 1, dtype=np.int64), np.diff(np.asarray(self.indptr)))
            counts = np.bincount(np.asarray(self.values), minlength=n_facets)
            self._inverted = (np.concatenate([[0], np.cumsum(counts)]).astype(np.int64), rows[order])
        ptr, rows = self._inverted
        out = np.zeros(n_rows, dtype=bool)
        facets = facets[facets < len(ptr) - 1]
        if facets.size:
            lens = ptr[facets + 1] - ptr[facets]
            idx = np.repeat(ptr[facets] - np.concatenate([[0], np.cumsum(lens)[:-1]]), lens) + np.arange(int(lens.sum()))
            out[rows[idx]] = True
        return out

    def extended(self, lists: list[list[int]]) -> _Facets:
        lens = np.fromiter(map(len, lists), dtype=np.int64, count=len(lists))
        indptr = np.concatenate([np.asarray(self.indptr), np.cumsum(lens) + self.indptr[-1]]).astype(np.int64)
        vals = np.fromiter((x for lst in lists for x in lst), dtype=np.int32, count=int(lens.sum()))
        return _Facets(indptr, np.concatenate([np.asarray(self.values), vals]).astype(np.int32))

    def selected(self, keep: npt.NDArray[np.int64]) -> _Facets:
        s, e = self.indptr[keep], self.indptr[keep + 1]
        lens = e - s
        idx = np.repeat(s - np.concatenate([[0], np.cumsum(lens)[:-1]]), lens) + np.arange(int(lens.sum()))
        return _Facets(np.concatenate([[0], np.cumsum(lens)]).astype(np.int64), np.asarray(self.values)[idx])


class RowTable:
    """The index rows as columns (see the module docstring); rows are appended, deleted and compacted."""

    def __init__(self, folder: Path | None = None, *, mmap: bool = True) -> None:
        """The table saved in ``folder`` (memory-mapped), or an empty one."""
        self._facet_no: dict[str, int] | None = None  # facet id -> number, while writing
        self._new_names: dict[str, str] = {}  # display names set since the last save
        if folder is None:
            self.labels: list[str] = []
            self.ids = self.targets = StrColumn.build([])
            self.label: _Arr = np.zeros(0, dtype=_LABEL_DTYPE)
            self.year: _Arr = np.zeros(0, dtype=np.int32)
            self.th: _Arr = np.zeros(0, dtype=np.uint64)
            self.alive = np.zeros(0, dtype=bool)
            self.authors = _Facets(np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.int32))
            self.categories = _Facets(np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.int32))
            self.facets = self.facet_names = StrColumn.build([])
            self.has_chunks = False
            return
        try:
            meta = orjson.loads((folder / "meta.json").read_bytes())
            if meta.get("format") != FORMAT:
                raise ConfigError(f"index rows format {meta.get('format')!r} is not supported")
            self.labels = list(meta["labels"])
            self.has_chunks = bool(meta["has_chunks"])
            self.ids, self.targets = StrColumn.load(folder, "ids", mmap), StrColumn.load(folder, "targets", mmap)
            self.label, self.year, self.th = (_load_npy(folder / f"{n}.npy", mmap) for n in ("label", "year", "th"))
            self.alive = np.array(_load_npy(folder / "alive.npy", False), dtype=bool)  # small, written to
            self.authors = _Facets(*(_load_npy(folder / f"authors{s}.npy", mmap) for s in ("_indptr", "")))
            self.categories = _Facets(*(_load_npy(folder / f"categories{s}.npy", mmap) for s in ("_indptr", "")))
            self.facets, self.facet_names = StrColumn.load(folder, "facets", mmap), StrColumn.load(folder, "facet_names", mmap)
            n = int(meta["n_rows"])
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ConfigError(f"the index rows in {folder} cannot be read ({e}); delete the index to rebuild it") from e
        if not (len(self.ids) == len(self.targets) == len(self.label) == len(self.year) == len(self.th)
                == len(self.alive) == len(self.authors.indptr) - 1 == len(self.categories.indptr) - 1 == n
                and len(self.facets) == len(self.facet_names)):
            raise ConfigError(f"the index rows in {folder} do not fit together; delete the index to rebuild it")

    @classmethod
    def from_infos(cls, infos: Sequence[RowInfo | None]) -> RowTable:
        """A table of these rows (None: a deleted row)."""
        t = cls()
        t.append([r if r is not None else RowInfo("", "", "") for r in infos])
        dead = [i for i, r in enumerate(infos) if r is None]
        if dead:
            t.alive[dead] = False
        return t

    # -- reading ---------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.alive)

    def _facet_numbers(self) -> dict[str, int]:
        if self._facet_no is None:
            self._facet_no = {f: i for i, f in enumerate(self.facets)}
        return self._facet_no

    def name(self, facet: int) -> str:
        """Display name of facet number ``facet``."""
        fid = self.facets[facet]
        if facet < len(self.facet_names):
            return self._new_names.get(fid) or self.facet_names[facet]
        return self._new_names.get(fid) or fid

    def set_names(self, names: dict[str, str]) -> None:
        """Record display names of author and category ids (kept for those the rows name)."""
        self._new_names.update(names)

    def info(self, row: int) -> RowInfo | None:
        """Row ``row`` as a :class:`RowInfo` (None when deleted)."""
        if not self.alive[row]:
            return None
        f = self.facets
        return RowInfo(self.ids[row], self.targets[row], self.labels[int(self.label[row])], int(self.year[row]),
                       [f[x] for x in self.authors.of(row)], [f[x] for x in self.categories.of(row)],
                       f"{int(self.th[row]):016x}" if self.th[row] else "")

    def infos(self) -> Iterator[RowInfo | None]:
        """Every row as a :class:`RowInfo` (None when deleted), read column by column."""
        f = list(self.facets)
        a_ptr, a_val = np.asarray(self.authors.indptr).tolist(), np.asarray(self.authors.values).tolist()
        c_ptr, c_val = np.asarray(self.categories.indptr).tolist(), np.asarray(self.categories.values).tolist()
        columns = zip(self.ids, self.targets, np.asarray(self.label).tolist(), np.asarray(self.year).tolist(),
                      np.asarray(self.th).tolist(), self.alive.tolist(), strict=True)
        for i, (nid, target, label, year, th, alive) in enumerate(columns):
            if not alive:
                yield None
                continue
            yield RowInfo(nid, target, self.labels[label], year, [f[x] for x in a_val[a_ptr[i]:a_ptr[i + 1]]],
                          [f[x] for x in c_val[c_ptr[i]:c_ptr[i + 1]]], f"{th:016x}" if th else "")

    def find_many(self, node_ids: Sequence[str]) -> npt.NDArray[np.int64]:
        """The live row of each of ``node_ids`` (-1 where it has none), by hash lookup."""
        out = np.full(len(node_ids), -1, dtype=np.int64)
        if not len(node_ids) or not len(self):
            return out
        col = self.ids
        srt = col.sorted_hashes()
        h = _hashes(node_ids)
        lo, hi = np.searchsorted(srt, h, "left"), np.searchsorted(srt, h, "right")
        data, off, order, alive = col._bytes, col._off, col.order, self.alive
        for j in np.flatnonzero(hi > lo).tolist():
            want = node_ids[j].encode("utf-8", "surrogatepass")
            for r in order[lo[j]:hi[j]].tolist():
                if alive[r] and data[off[r]:off[r + 1]] == want:
                    out[j] = r
                    break
        return out

    def find(self, node_id: str) -> int | None:
        """The live row of ``node_id`` (None when it has none)."""
        for r in self.ids.rows_of(node_id).tolist():
            if self.alive[r]:
                return int(r)
        return None

    # -- writing ---------------------------------------------------------------------------------
    def append(self, infos: Sequence[RowInfo]) -> None:
        """Add rows at the end."""
        if not infos:
            return
        code = {name: i for i, name in enumerate(self.labels)}
        for r in infos:
            if r.label not in code:
                code[r.label] = len(self.labels)
                self.labels.append(r.label)
        fno = self._facet_numbers()
        new: list[str] = []

        def numbers(values: list[str]) -> list[int]:
            out = []
            for v in values:
                if (i := fno.get(v)) is None:
                    fno[v] = i = len(fno)
                    new.append(v)
                out.append(i)
            return out

        self.ids = self.ids.extended([r.id for r in infos])
        self.targets = self.targets.extended([r.target for r in infos])
        self.label = np.concatenate([np.asarray(self.label), np.fromiter((code[r.label] for r in infos),
                                                                         dtype=_LABEL_DTYPE, count=len(infos))])
        self.year = np.concatenate([np.asarray(self.year), np.fromiter((r.year for r in infos), dtype=np.int32,
                                                                       count=len(infos))])
        self.th = np.concatenate([np.asarray(self.th), np.fromiter((_th_int(r.th) for r in infos), dtype=np.uint64,
                                                                   count=len(infos))])
        self.alive = np.concatenate([self.alive, np.ones(len(infos), dtype=bool)])
        self.authors = self.authors.extended([numbers(r.authors) for r in infos])
        self.categories = self.categories.extended([numbers(r.categories) for r in infos])
        self.facets = self.facets.extended(new)
        self.has_chunks = self.has_chunks or any(r.id != r.target for r in infos)

    def delete(self, rows: Iterable[int]) -> None:
        """Mark rows deleted."""
        r = np.asarray(list(rows), dtype=np.int64)
        if r.size:
            self.alive[r] = False

    def compact(self) -> npt.NDArray[np.int64]:
        """Drop deleted rows; returns the kept old rows (new row i = kept[i])."""
        keep = np.flatnonzero(self.alive).astype(np.int64)
        self.ids, self.targets = self.ids.selected(keep), self.targets.selected(keep)
        self.label, self.year, self.th = (np.asarray(a)[keep] for a in (self.label, self.year, self.th))
        self.alive = np.ones(len(keep), dtype=bool)
        self.authors, self.categories = self.authors.selected(keep), self.categories.selected(keep)
        self.has_chunks = bool(len(keep)) and not _same(self.ids, self.targets)
        return keep

    def save(self, folder: Path) -> None:
        """Write the table (each file replaced whole; ``meta.json`` last)."""
        folder.mkdir(parents=True, exist_ok=True)
        self.ids.save(folder, "ids")
        self.targets.save(folder, "targets")
        for name, arr in (("label", self.label), ("year", self.year), ("th", self.th), ("alive", self.alive),
                          ("authors_indptr", self.authors.indptr), ("authors", self.authors.values),
                          ("categories_indptr", self.categories.indptr), ("categories", self.categories.values)):
            _write_npy(folder / f"{name}.npy", arr)
        self.facets.save(folder, "facets")
        if self._new_names or len(self.facet_names) != len(self.facets):
            n_old, fno, new = len(self.facet_names), self._facet_numbers(), self._new_names
            changed = any((i := fno.get(f, -1)) >= 0 and i < n_old and name != self.facet_names[i]
                          for f, name in new.items() if name)
            if changed:  # a known author or category was renamed: rewrite the names
                self.facet_names = StrColumn.build([new.get(f) or (self.facet_names[i] if i < n_old else f)
                                                    for i, f in enumerate(self.facets)])
            else:  # only new facets: append their names
                self.facet_names = self.facet_names.extended([new.get(f) or f for f in self.facets[n_old:]])
            self._new_names = {}
        self.facet_names.save(folder, "facet_names")
        _write(folder / "meta.json", orjson.dumps({"format": FORMAT, "n_rows": len(self), "labels": self.labels,
                                                   "has_chunks": self.has_chunks}))


def _same(a: StrColumn, b: StrColumn) -> bool:
    return np.array_equal(np.asarray(a.offsets), np.asarray(b.offsets)) and np.array_equal(
        np.asarray(a.blob), np.asarray(b.blob))


def _load_npy(path: Path, mmap: bool) -> Any:
    try:
        return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except ValueError:  # an empty array cannot be mapped
        if not mmap:
            raise
        return np.load(path, allow_pickle=False)


def _write_npy(path: Path, arr: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        np.save(fh, np.ascontiguousarray(arr), allow_pickle=False)
    os.replace(tmp, path)


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
