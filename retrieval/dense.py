"""Row-based dense vector index: exact cosine search, with a usearch HNSW index for large collections.

Rows are numbered in insertion order and shared with the BM25 leg; the caller keeps the row -> node
id mapping. Vectors are stored L2-normalised in float32, so cosine similarity is a dot product.

Search policy (:meth:`DenseIndex.search`):

* fewer than ``DenseConfig.exact_threshold`` stored rows: exact search, one numpy mat-vec;
* otherwise an HNSW index (usearch, inner product, its vectors stored as ``DenseConfig.ann_dtype``,
  float16 by default), built on first use or on save, persisted next to the vectors and rebuilt
  once deletions exceed ``rebuild_fraction`` of its keys. Rows added after it was built are
  scanned exactly beside it until more than ``ann_tail`` wait, then inserted into it;
* filtered (masked) queries on the ANN path ask HNSW for ``k * oversample / kept_fraction``
  candidates. When that is more than ``max_candidates``, or the mask keeps no more rows than
  ``candidates * connectivity`` (about what the graph walk would touch), the kept rows are scanned
  exactly instead; otherwise the candidates are filtered, with an exact fallback when fewer than
  ``k`` survive. Deleted rows only (no mask) add as many candidates as the graph holds deleted rows.

Whatever the path, the returned scores are exact float32 dot products (candidates of a saved
index are read from ``vectors.npy`` with ``os.pread``, which maps no pages) and ties are broken
by lower row.

On disk (a folder, pickle-free): ``manifest.json`` (format version, dim, encoder name, row counts,
search config), ``vectors.npy`` (float32 ``(base_rows, dim)``, memory-mapped), ``vectors-tail.npy``
(rows appended since, until they are merged), ``alive.npy`` (bool) and, when built, ``ann.usearch``
(memory-mapped until it grows).

>>> import numpy as np
>>> idx = DenseIndex(dim=3, encoder="hash")
>>> idx.add(np.eye(3, dtype=np.float32)).tolist()
[0, 1, 2]
>>> rows, scores = idx.search(np.array([0.0, 1.0, 0.0]), k=2)
>>> rows.tolist(), scores.tolist()
([1, 0], [1.0, 0.0])
"""

from __future__ import annotations

import math
import os
import weakref
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import orjson

from kg.errors import ConfigError, require

FORMAT = 2  # 2: rows appended since the last merge may sit in vectors-tail.npy
READS = (1, 2)
MANIFEST = "manifest.json"
VECTORS = "vectors.npy"
TAIL = "vectors-tail.npy"
ALIVE = "alive.npy"
ANN_FILE = "ann.usearch"

_PREAD_ROWS = 4096  # take() reads at most this many rows with pread, more through the memory map
_RESCORE_DEPTH = {"f32": 1, "f16": 1, "i8": 4}  # ANN candidates fetched per wanted row, by graph dtype
_EMPTY_ROWS = np.zeros(0, dtype=np.int64)
_EMPTY_SCORES = np.zeros(0, dtype=np.float32)


@dataclass(frozen=True, kw_only=True, slots=True)
class DenseConfig:
    """Search policy and HNSW parameters of a :class:`DenseIndex`.

    ``exact_threshold``: stored rows below which every search is exact.
    ``connectivity`` / ``expansion_add`` / ``expansion_search``: usearch HNSW parameters.
    ``oversample``: a masked ANN query asks for ``k * oversample / kept_fraction`` candidates.
    ``max_candidates``: a masked query needing more ANN candidates than this goes exact instead
    (so does one whose mask keeps at most ``candidates * connectivity`` rows).
    ``rebuild_fraction``: rebuild the HNSW index when rows deleted since its build exceed this share.
    ``threads``: usearch threads for building and searching (0: all).
    ``ann_tail``: rows added after the HNSW graph was built are scanned exactly until more than
    this many wait; then they are inserted into the graph (never a rebuild).
    ``tail_merge_rows``: appended rows are saved apart (``vectors-tail.npy``) until they outnumber
    ``max(tail_merge_rows, 10%)`` of ``vectors.npy``; then one file is written again.
    ``ann_dtype``: what the HNSW graph stores its vectors as (``f16``, the default: half the file
    of ``f32`` and a faster build; or ``f32``; or ``i8``, a quarter, searched four candidates
    deep per wanted row). The candidates are re-scored from the float32 vectors whatever it is.
    """

    exact_threshold: int = 50_000
    connectivity: int = 16
    expansion_add: int = 64
    expansion_search: int = 128
    oversample: float = 3.0
    max_candidates: int = 4096
    rebuild_fraction: float = 0.2
    threads: int = 0
    ann_tail: int = 16_384
    tail_merge_rows: int = 65_536
    ann_dtype: str = "f16"

    def __post_init__(self) -> None:
        if self.exact_threshold < 0 or self.connectivity < 2 or self.expansion_add < 1 \
                or self.expansion_search < 1 or self.oversample < 1 or self.max_candidates < 1 \
                or not 0 < self.rebuild_fraction <= 1 or self.threads < 0 or self.ann_tail < 0 \
                or self.tail_merge_rows < 0 or self.ann_dtype not in ("f32", "f16", "i8"):
            raise ConfigError(f"invalid DenseConfig: {self}")


def _unit_rows(x: np.ndarray) -> np.ndarray:
    """A float32 copy of ``x`` with unit rows (zero rows stay zero)."""
    x = np.array(x, dtype=np.float32, copy=True, order="C")
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    np.divide(x, norms, out=x, where=norms > 0)
    return x


def _matvec(vecs: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``vecs @ q`` without BLAS threads: a query's matrix-vector product is memory-bound, and
    multi-threaded BLAS on a busy 2-core machine was 50x slower (threads spinning for a core)."""
    return np.einsum("ij,j->i", vecs, q)


def _top_k(rows: np.ndarray, scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best (row, score) pairs: score descending, ties by ascending row."""
    if len(scores) > k:
        kth = scores[np.argpartition(-scores, k - 1)[:k]].min()
        keep = np.flatnonzero(scores >= kth)  # every row tied with the k-th stays in the race
        rows, scores = rows[keep], scores[keep]
    order = np.lexsort((rows, -scores))[:k]
    return rows[order].astype(np.int64, copy=False), scores[order].astype(np.float32, copy=False)


def _write_npy(path: Path, array: np.ndarray) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        np.save(fh, np.ascontiguousarray(array), allow_pickle=False)
    os.replace(tmp, path)


class DenseIndex:
    """Cosine-similarity search over row-numbered float32 vectors (see the module docstring).

    >>> import numpy as np
    >>> idx = DenseIndex(dim=2)
    >>> rows = idx.add(np.array([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]]))
    >>> idx.delete([0])
    >>> idx.search(np.array([1.0, 0.0]), k=5)[0].tolist()
    [1, 2]
    """

    def __init__(self, dim: int, *, encoder: str = "", config: DenseConfig | None = None) -> None:
        if dim < 1:
            raise ConfigError(f"dense index dim must be positive, got {dim}")
        self.dim = int(dim)
        self.encoder = encoder
        self.config = config or DenseConfig()
        # rows [0, _n_base): _base (memory-mapped once saved); rows [_n_base, _n): _tail (in memory)
        self._base: np.ndarray = np.zeros((0, self.dim), dtype=np.float32)
        self._n_base = 0
        self._tail: np.ndarray = np.zeros((0, self.dim), dtype=np.float32)  # capacity >= _n - _n_base
        self._n = 0
        self._alive = np.zeros(0, dtype=bool)
        self._ann: Any = None
        self._ann_is_view = False  # memory-mapped from disk, read-only
        self._ann_rows = 0  # rows [0, _ann_rows) have been offered to the ANN index
        self._ann_stale = 0  # rows deleted since they went into the ANN index
        self._home: Path | None = None  # folder whose files match this index (load/save)
        self._base_dirty = True  # the base rows differ from the home folder's vectors.npy
        self._ann_dirty = True
        self._file: BinaryIO | None = None  # vectors.npy, when _base maps it: candidates are read from it
        self._file_offset = 0

    # -- sizes and views -------------------------------------------------------------------------
    @property
    def n_rows(self) -> int:
        """Rows ever added (dead ones included) since the last compaction."""
        return self._n

    @property
    def n_alive(self) -> int:
        """Rows not deleted."""
        return int(np.count_nonzero(self._alive))

    @property
    def vectors(self) -> np.ndarray:
        """The stored unit vectors, ``(n_rows, dim)`` float32 (read-only; a copy when rows were
        appended since the last save: prefer :meth:`take` for a few rows)."""
        n_tail = self._n - self._n_base
        if n_tail == 0:
            v = self._base[: self._n_base]
        elif self._n_base == 0:
            v = self._tail[:n_tail]
        else:
            v = np.concatenate([self._base[: self._n_base], self._tail[:n_tail]])
        v = v.view()
        v.flags.writeable = False
        return v

    def take(self, rows: np.ndarray | list[int]) -> np.ndarray:
        """The vectors of ``rows`` (a float32 copy, ``(len(rows), dim)``).

        A few rows of a saved index are read from the file (``os.pread``) rather than through its
        memory map: re-scoring candidates then leaves no mapped pages behind (a page fault maps
        its neighbours too, so a thousand queries would map most of the file)."""
        r = np.asarray(rows, dtype=np.int64).ravel()
        out = np.empty((len(r), self.dim), dtype=np.float32)
        in_base = r < self._n_base
        if self._file is not None and len(r) <= _PREAD_ROWS:
            size, fd, buf = 4 * self.dim, self._file.fileno(), out.reshape(-1).view(np.uint8)
            for j in np.flatnonzero(in_base).tolist():
                buf[j * size : (j + 1) * size] = np.frombuffer(
                    os.pread(fd, size, self._file_offset + int(r[j]) * size), dtype=np.uint8)
        else:
            out[in_base] = self._base[r[in_base]]
        if not in_base.all():
            out[~in_base] = self._tail[r[~in_base] - self._n_base]
        return out

    @property
    def alive(self) -> np.ndarray:
        """Boolean mask of live rows (a copy)."""
        return self._alive.copy()

    @property
    def has_ann(self) -> bool:
        """Whether an HNSW index is currently built or loaded."""
        return self._ann is not None

    def __repr__(self) -> str:
        return (f"DenseIndex(dim={self.dim}, encoder={self.encoder!r}, rows={self._n}, "
                f"alive={self.n_alive}, ann={self.has_ann})")

    # -- writing ----------------------------------------------------------------------------------
    def add(self, vectors: np.ndarray) -> np.ndarray:
        """Append vectors (normalised on the way in); returns their new row numbers.

        A 1-d array is one vector. Non-finite values raise :class:`ConfigError`. The rows join
        the HNSW graph once more than ``DenseConfig.ann_tail`` rows wait outside it (until then
        an ANN search scans them exactly).
        """
        v = np.asarray(vectors)
        if v.ndim == 1:
            v = v[None, :]
        if v.ndim != 2 or v.shape[1] != self.dim:
            raise ConfigError(f"expected vectors of shape (n, {self.dim}), got {v.shape}")
        if not np.isfinite(v).all():
            raise ConfigError("vectors contain NaN or infinite values")
        v = _unit_rows(v)
        m = len(v)
        start = self._n
        n_tail = start - self._n_base
        if n_tail + m > len(self._tail):
            grown = np.empty((max(n_tail + m, int(len(self._tail) * 1.5), 1024), self.dim), dtype=np.float32)
            grown[:n_tail] = self._tail[:n_tail]
            self._tail = grown
        self._tail[n_tail : n_tail + m] = v
        self._alive = np.concatenate([self._alive, np.ones(m, dtype=bool)])
        self._n = start + m
        if self._ann is not None and self._n - self._ann_rows > self.config.ann_tail:
            self._ann_insert(np.arange(self._ann_rows, self._n, dtype=np.int64))
        return np.arange(start, start + m, dtype=np.int64)

    def delete(self, rows: np.ndarray | list[int]) -> None:
        """Mark rows dead (idempotent); they are never returned again."""
        r = np.asarray(rows, dtype=np.int64).ravel()
        if len(r) == 0:
            return
        if r.min() < 0 or r.max() >= self._n:
            raise ConfigError(f"row out of range 0..{self._n - 1}: {int(r.min())}..{int(r.max())}")
        newly = np.unique(r[self._alive[r]])
        self._alive[newly] = False
        if self._ann is not None:
            self._ann_stale += int(np.count_nonzero(newly < self._ann_rows))
            if self._ann_stale > self.config.rebuild_fraction * max(1, len(self._ann)):
                self._drop_ann()  # rebuilt from live rows on the next ANN search or save

    def compact(self) -> np.ndarray:
        """Drop dead rows and renumber; returns ``kept`` where new row ``i`` was old row ``kept[i]``."""
        kept = np.flatnonzero(self._alive).astype(np.int64)
        if len(kept) == self._n:
            return kept
        self._base = self.take(kept)
        if self._file is not None:
            self._file.close()
            self._file = None
        self._n = self._n_base = len(kept)
        self._tail = np.zeros((0, self.dim), dtype=np.float32)
        self._alive = np.ones(self._n, dtype=bool)
        self._drop_ann()
        self._base_dirty = True
        return kept

    # -- searching --------------------------------------------------------------------------------
    def search(self, qvec: np.ndarray, k: int = 10, *,
               mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` live rows most similar to ``qvec`` among those ``mask`` keeps.

        Returns ``(rows int64, scores float32)``, best first, ties by row. ``mask`` is a boolean
        array over all ``n_rows`` rows, applied before the top-k cut.
        """
        if self._n < self.config.exact_threshold:
            return self.search_exact(qvec, k, mask=mask)
        return self.search_ann(qvec, k, mask=mask)

    def search_exact(self, qvec: np.ndarray, k: int = 10, *,
                     mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Brute-force :meth:`search` (always exact)."""
        q, allowed = self._query(qvec), self._allowed(mask)
        return self._exact(q, k, allowed) if k > 0 and self._n else (_EMPTY_ROWS, _EMPTY_SCORES)

    def search_ann(self, qvec: np.ndarray, k: int = 10, *,
                   mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`search` through the HNSW index whatever the size (built here when missing).

        Rows added since the graph was built or last grown (at most ``ann_tail`` of them) are
        scanned exactly and compete with the graph's candidates."""
        q, allowed = self._query(qvec), self._allowed(mask)
        n_allowed = self._n if allowed is None else int(np.count_nonzero(allowed))
        if k <= 0 or n_allowed == 0:
            return _EMPTY_ROWS, _EMPTY_SCORES
        self.build_ann()
        if allowed is None:
            want = k
        elif mask is None:  # only deleted rows to skip: the graph holds the few deleted since its build
            want = k + math.ceil(k * self._ann_stale / max(1, len(self._ann) - self._ann_stale)) + 1
        else:
            want = math.ceil(k * self.config.oversample * self._n / n_allowed)
        if allowed is not None and (want > self.config.max_candidates
                                    or n_allowed <= want * self.config.connectivity):
            # the mask keeps few rows: scanning them costs less than the graph walk would
            return self._exact(q, k, allowed)
        # a graph of quantised vectors ranks coarsely: fetch more candidates for the exact re-score
        cand = self._ann_query(q, min(want * _RESCORE_DEPTH[self.config.ann_dtype], self._ann_rows))
        if allowed is not None:
            cand = cand[allowed[cand]]
        scores = self.take(cand) @ q
        if self._ann_rows < self._n:  # the rows outside the graph, exactly
            rest = np.arange(self._ann_rows, self._n, dtype=np.int64)
            rest_scores = self._scores_range(q, self._ann_rows, self._n)
            keep = self._alive[rest] if allowed is None else allowed[rest]
            cand = np.concatenate([cand, rest[keep]])
            scores = np.concatenate([scores, rest_scores[keep]])
        if len(cand) < min(k, n_allowed):
            return self._exact(q, k, allowed)  # too few survived the filter
        return _top_k(cand, scores, k)

    def _query(self, qvec: np.ndarray) -> np.ndarray:
        q = np.asarray(qvec)
        if q.ndim == 2 and q.shape[0] == 1:
            q = q[0]
        if q.shape != (self.dim,):
            raise ConfigError(f"expected a query vector of shape ({self.dim},), got {q.shape}")
        if not np.isfinite(q).all():
            raise ConfigError("query vector contains NaN or infinite values")
        return _unit_rows(q)

    def _allowed(self, mask: np.ndarray | None) -> np.ndarray | None:
        """Rows a query may return: live and in ``mask`` (None: every row)."""
        if mask is not None:
            m = np.asarray(mask)
            if m.dtype != np.bool_ or m.shape != (self._n,):
                raise ConfigError(f"mask must be a boolean array of shape ({self._n},), "
                                  f"got {m.dtype} {m.shape}")
            return m & self._alive
        if self._n and not self._alive.all():
            return self._alive
        return None

    def _scores_range(self, q: np.ndarray, start: int, stop: int) -> np.ndarray:
        """Dot products of rows ``[start, stop)`` with ``q``, each part of the storage read in place."""
        parts = []
        if start < self._n_base:
            parts.append(_matvec(self._base[start : min(stop, self._n_base)], q))
        if stop > self._n_base:
            parts.append(_matvec(self._tail[max(start - self._n_base, 0) : stop - self._n_base], q))
        return parts[0] if len(parts) == 1 else np.concatenate(parts) if parts else np.zeros(0, np.float32)

    def _exact(self, q: np.ndarray, k: int, allowed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        if allowed is None:
            return _top_k(np.arange(self._n, dtype=np.int64), self._scores_range(q, 0, self._n), k)
        rows = np.flatnonzero(allowed).astype(np.int64)
        if len(rows) == 0:
            return _EMPTY_ROWS, _EMPTY_SCORES
        scores = _matvec(self.take(rows), q) if 2 * len(rows) < self._n else self._scores_range(q, 0, self._n)[rows]
        return _top_k(rows, scores, k)

    # -- ANN ------------------------------------------------------------------------------------
    def build_ann(self) -> None:
        """Build the HNSW index over the live rows now, unless one is already there."""
        if self._ann is not None:
            return
        usearch = require("usearch.index", "ann", "approximate nearest-neighbour search")
        c = self.config
        self._ann = usearch.Index(ndim=self.dim, metric="ip", dtype=c.ann_dtype, connectivity=c.connectivity,
                                  expansion_add=c.expansion_add, expansion_search=c.expansion_search)
        self._ann_rows = 0
        self._ann_stale = 0
        self._ann_insert(np.flatnonzero(self._alive[: self._n]).astype(np.int64))

    def _ann_insert(self, rows: np.ndarray) -> None:
        """Add ``rows`` (their live ones) to the graph; rows up to ``n_rows`` now count as offered."""
        if self._ann_is_view:
            self._ann = self._ann.copy()  # a memory-mapped view cannot grow: load it into RAM
            self._ann_is_view = False
        rows = rows[self._alive[rows]]
        for s in range(0, len(rows), 65_536):  # bounded copies of the vectors
            part = rows[s : s + 65_536]
            self._ann.add(part.astype(np.uint64), self.take(part), threads=self.config.threads)
        self._ann_rows = self._n
        self._ann_dirty = True

    def _ann_query(self, q: np.ndarray, count: int) -> np.ndarray:
        if count <= 0 or len(self._ann) == 0:
            return _EMPTY_ROWS
        m = self._ann.search(q, count, threads=self.config.threads)
        keys = np.asarray(m.keys, dtype=np.int64)[: len(m)]
        return keys[(keys >= 0) & (keys < self._n)]

    def _drop_ann(self) -> None:
        self._ann = None
        self._ann_is_view = False
        self._ann_rows = 0
        self._ann_stale = 0
        self._ann_dirty = True

    # -- persistence -----------------------------------------------------------------------------
    def _map_base(self, folder: Path, vecs: np.ndarray | None = None) -> None:
        """Use ``folder``'s ``vectors.npy`` as the base rows: memory-mapped for scans, and open
        for reading candidates."""
        if vecs is None:
            vecs = np.load(folder / VECTORS, mmap_mode="r", allow_pickle=False)
        self._base = vecs
        if self._file is not None:
            self._file.close()
        self._file = open(folder / VECTORS, "rb")  # noqa: SIM115 (kept open with the index, closed with it)
        weakref.finalize(self, self._file.close)
        self._file_offset = int(getattr(vecs, "offset", 0))

    def save(self, folder: str | Path) -> None:
        """Write the index to ``folder`` (created if needed); the manifest is written last.

        At or above ``exact_threshold`` rows the HNSW index is built first, so a loaded index is
        ready to query. Saved again into the folder it came from, only what changed is written:
        rows appended since go to ``vectors-tail.npy`` (merged into ``vectors.npy`` once they
        outgrow ``max(tail_merge_rows, 10%)`` of it), ``alive.npy``, and ``ann.usearch`` only when
        the graph changed (it grows once ``ann_tail`` rows wait outside it).
        """
        d = Path(folder)
        d.mkdir(parents=True, exist_ok=True)
        same = self._home is not None and self._home.resolve() == d.resolve()
        if self._n >= self.config.exact_threshold and self._n > 0:
            self.build_ann()
        n_tail = self._n - self._n_base
        if not same or self._base_dirty or n_tail > max(self.config.tail_merge_rows, self._n_base // 10):
            if n_tail:
                self._base, self._n_base = self.vectors, self._n  # merge the tail into the base
                self._tail = np.zeros((0, self.dim), dtype=np.float32)
            _write_npy(d / VECTORS, self._base[: self._n_base])
            self._map_base(d)
            n_tail = 0
        if n_tail:
            _write_npy(d / TAIL, self._tail[:n_tail])
        else:
            (d / TAIL).unlink(missing_ok=True)
        _write_npy(d / ALIVE, self._alive)
        ann: dict[str, Any] | None = None
        if self._ann is not None:
            if not same or self._ann_dirty:
                tmp = d / (ANN_FILE + ".tmp")
                self._ann.save(str(tmp))
                os.replace(tmp, d / ANN_FILE)
            ann = {"library": "usearch", "file": ANN_FILE, "metric": "ip", "dtype": self.config.ann_dtype,
                   "size": len(self._ann), "rows": self._ann_rows, "stale": self._ann_stale}
        elif (d / ANN_FILE).exists():
            (d / ANN_FILE).unlink()
        manifest = {"format": FORMAT, "kind": "dense", "dim": self.dim, "encoder": self.encoder,
                    "metric": "cosine", "dtype": "float32", "n_rows": self._n, "base_rows": self._n_base,
                    "n_alive": self.n_alive, "config": asdict(self.config), "ann": ann}
        tmp = d / (MANIFEST + ".tmp")
        tmp.write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
        os.replace(tmp, d / MANIFEST)
        self._home = d
        self._base_dirty = self._ann_dirty = False

    @classmethod
    def load(cls, folder: str | Path, mmap: bool = True, *, config: DenseConfig | None = None) -> DenseIndex:
        """Open an index written by :meth:`save` (format 1 or 2).

        With ``mmap`` the vectors and the HNSW graph are memory-mapped read-only; rows added
        later are kept in memory, and the graph is copied into memory once it grows.
        ``config`` overrides the saved search policy.
        """
        d = Path(folder)
        try:
            manifest = orjson.loads((d / MANIFEST).read_bytes())
        except FileNotFoundError as e:
            raise ConfigError(f"no dense index at {d}") from e
        except orjson.JSONDecodeError as e:
            raise ConfigError(f"corrupt dense index manifest at {d / MANIFEST}: {e}") from e
        if manifest.get("format") not in READS or manifest.get("kind") != "dense":
            raise ConfigError(f"dense index format {manifest.get('format')} at {d} is not supported "
                              f"(expected {FORMAT}); delete the folder to rebuild it")
        if config is None:
            known = {f.name for f in fields(DenseConfig)}
            saved = {k: v for k, v in manifest.get("config", {}).items() if k in known}
            ann_meta = manifest.get("ann") or {}
            saved.setdefault("ann_dtype", ann_meta.get("dtype", "f32"))
            config = DenseConfig(**saved)
        idx = cls(int(manifest["dim"]), encoder=str(manifest.get("encoder", "")), config=config)
        n = int(manifest["n_rows"])
        n_base = int(manifest.get("base_rows", n))
        try:
            vecs = np.load(d / VECTORS, mmap_mode="r" if mmap else None, allow_pickle=False)
            tail = np.load(d / TAIL, allow_pickle=False) if (d / TAIL).exists() and n_base < n \
                else np.zeros((0, idx.dim), np.float32)
            alive = np.load(d / ALIVE, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise ConfigError(f"dense index at {d} is damaged: {e}") from e
        if vecs.dtype != np.float32 or vecs.shape != (n_base, idx.dim) or alive.shape != (n,) \
                or tail.dtype != np.float32 or tail.shape != (n - n_base, idx.dim):
            raise ConfigError(f"dense index at {d} does not match its manifest; delete it to rebuild")
        idx._base, idx._n_base, idx._tail, idx._n = vecs, n_base, np.array(tail), n
        if mmap:
            idx._map_base(d, vecs)
        idx._alive = np.array(alive, dtype=bool)
        ann = manifest.get("ann")
        if ann and (d / str(ann.get("file", ANN_FILE))).is_file():
            usearch = require("usearch.index", "ann", "approximate nearest-neighbour search")
            index = usearch.Index.restore(str(d / str(ann.get("file", ANN_FILE))), view=mmap)
            if index is not None and index.ndim == idx.dim:
                index.expansion_search = config.expansion_search
                idx._ann, idx._ann_is_view = index, mmap
                idx._ann_rows, idx._ann_stale = int(ann.get("rows", n)), int(ann.get("stale", 0))
        idx._home = d
        idx._base_dirty = idx._ann_dirty = False
        return idx


def ann_recall_at_10(index: DenseIndex, queries: np.ndarray, k: int = 10) -> float:
    """Mean recall@k of :meth:`DenseIndex.search_ann` against exact search over ``queries``.

    ``queries`` is one vector or a ``(m, dim)`` array; the HNSW index is built if missing.

    >>> import numpy as np
    >>> idx = DenseIndex(dim=4)
    >>> _ = idx.add(np.random.default_rng(0).standard_normal((50, 4)))
    >>> ann_recall_at_10(idx, np.eye(4))  # doctest: +SKIP
    1.0
    """
    qs = np.asarray(queries, dtype=np.float32)
    if qs.ndim == 1:
        qs = qs[None, :]
    if len(qs) == 0:
        raise ConfigError("ann_recall_at_10 needs at least one query")
    total = 0.0
    for q in qs:
        truth = index.search_exact(q, k)[0]
        if len(truth) == 0:
            total += 1.0
            continue
        got = index.search_ann(q, k)[0]
        total += len(np.intersect1d(truth, got)) / len(truth)
    return total / len(qs)
