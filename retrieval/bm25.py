"""The BM25 leg: a row-addressed, store-independent Lucene-style BM25 index.

Scoring (bm25s's ``method="lucene"`` idf, with the classic ``k1 + 1`` numerator)::

    idf(t)      = ln(1 + (N - df(t) + 0.5) / (df(t) + 0.5))          # never negative
    score(q, d) = sum over query terms t of
                  idf(t) * tf(t, d) * (k1 + 1) / (tf(t, d) + k1 * (1 - b + b * |d| / avgdl))

``N``, ``df`` and ``avgdl`` count live rows only: after :meth:`BM25Index.delete` the scores are those
of an index built afresh on the remaining documents. A repeated query term counts once per repeat.
Scores are float32, summed over the query terms in query order whatever path a query takes.

Layout: the main segment keeps term -> postings in CSC form (``indptr``, row numbers, term
frequencies) plus a forward row -> terms index (to update ``df`` on delete). Small appends go to a
delta segment of the same form, merged into the main one when it outgrows ``max(1024 rows, 10% of
main)`` and on :meth:`~BM25Index.compact`; postings of deleted rows stay (skipped, out of ``N``,
``df`` and ``avgdl``) until they are a quarter of all postings, then they are dropped by the same
merge. :meth:`~BM25Index.save` writes the delta segment and the per-row arrays, and the main
segment only when it changed, so a small update of a large index writes little. A query touches
only the postings of its terms; the score contributions of long postings lists are cached (in all
at most ``_CACHE_MAX`` numbers) until the next change.
"""

from __future__ import annotations

import json
import math
import os
from array import array
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from kg.errors import ConfigError
from retrieval.tokenize import Tokenizer

FORMAT = "kgloom.bm25"
FORMAT_VERSION = 2  # 2: a saved delta segment, df.npy and deleted rows' postings may be saved
READS = (1, 2)
_DELTA_MIN_ROWS = 1024  # the delta segment is merged once it holds more rows than this ...
_DELTA_RATIO = 0.1  # ... and more than this fraction of the main segment's rows
_DEAD_RATIO = 0.25  # postings of deleted rows are dropped once they are this fraction of all
_CACHE_MIN_POSTINGS = 2048  # a term's contributions are cached (until a change) from this long, in
# all at most a quarter as many numbers as there are postings
_WORD_CACHE_MAX = 2_000_000
_CACHE_MAX = 16_000_000  # cached contributions, in numbers (64 MB of float32), whatever the size

Rows = npt.NDArray[np.int64]
Scores = npt.NDArray[np.float32]
_I32 = npt.NDArray[np.int32]
_I64 = npt.NDArray[np.int64]
_Segment = tuple[_I64, _I32, Scores]  # a postings segment: (indptr over terms, rows, term frequencies)
_Part = tuple[Any, Any]  # (rows as intp, contributions), or (None, a dense per-row vector)


@dataclass(frozen=True, kw_only=True)
class BM25Config:
    """BM25 parameters: ``k1`` (term-frequency saturation) and ``b`` (length normalisation).

    >>> BM25Config(k1=0.9, b=0.4)
    BM25Config(k1=0.9, b=0.4)
    """

    k1: float = 1.2
    b: float = 0.75

    def __post_init__(self) -> None:
        if not (math.isfinite(self.k1) and self.k1 >= 0):
            raise ConfigError(f"BM25 k1 must be a finite number >= 0, got {self.k1!r}")
        if not 0 <= self.b <= 1:
            raise ConfigError(f"BM25 b must be between 0 and 1, got {self.b!r}")


class _Grow:
    """A 1-D numpy array with amortised O(1) appends (``.a`` is the live view)."""

    __slots__ = ("buf", "n")

    def __init__(self, data: npt.ArrayLike, dtype: npt.DTypeLike) -> None:
        self.buf = np.array(data, dtype=dtype)  # a writable copy, never a memory map
        self.n = len(self.buf)

    @property
    def a(self) -> Any:
        return self.buf[: self.n]

    def extend(self, values: npt.ArrayLike, count: int | None = None) -> None:
        """Append ``values`` (or ``count`` copies of a scalar ``values``)."""
        vals = np.asarray(values, dtype=self.buf.dtype)
        m = self.n + (count if count is not None else len(vals))
        if m > len(self.buf):
            grown = np.zeros(max(m, 2 * len(self.buf), 16), dtype=self.buf.dtype)
            grown[: self.n] = self.buf[: self.n]
            self.buf = grown
        self.buf[self.n : m] = vals
        self.n = m


class _Vocab(dict[str, int]):
    """term -> id; ``vocab[term]`` gives an unknown term the next id (probe with ``get``)."""

    def __missing__(self, term: str) -> int:
        self[term] = i = len(self)
        return i


class _WordIds(dict[str, int]):
    """raw word -> term id (-1 for dropped words): one lookup per word on the ingest path."""

    def __init__(self, tokenizer: Tokenizer, vocab: _Vocab) -> None:
        super().__init__()
        self.term, self.vocab = tokenizer.term, vocab

    def __missing__(self, word: str) -> int:
        t = self.term(word)
        self[word] = i = self.vocab[t] if t else -1
        return i


class BM25Index:
    """Lucene-style BM25 over numbered rows; the caller maps rows to its own ids.

    Rows are numbered in the order they are added (0, 1, ...) and keep their number until
    :meth:`compact`. Not thread-safe: one writer, and no searches while it writes.

    >>> idx = BM25Index()
    >>> idx.add(["graph neural networks", "a knowledge graph of papers", "cooking pasta"]).tolist()
    [0, 1, 2]
    >>> rows, scores = idx.search("knowledge graphs", k=2)
    >>> rows.tolist()
    [1, 0]
    >>> idx.delete([1]); idx.search("knowledge graphs")[0].tolist()
    [0]
    >>> idx.search("pasta", mask=np.array([True, True, False]))[0].tolist()
    []
    """

    def __init__(self, config: BM25Config | None = None, *, tokenizer: Tokenizer | None = None) -> None:
        self.config = config or BM25Config()
        self.tokenizer = tokenizer or Tokenizer()
        self._set_vocab(_Vocab())
        # main segment: postings (CSC) of rows [0, _n_main), and their forward index (CSR)
        self._ptr, self._rows, self._tf = _empty_segment(0)
        self._fptr, self._fterms = _empty_segment(0)[:2]
        self._n_main = 0
        # delta segment: rows [_n_main, n_rows), postings (CSC) and their forward index
        self._dptr, self._drows, self._dtf = _empty_segment(0)
        self._dfptr: _I64 = np.zeros(1, dtype=np.int64)
        self._dfterms: _I32 = np.empty(0, dtype=np.int32)
        self._main_dirty = True  # the main segment differs from the files it was loaded from
        self._home: Path | None = None
        # per row / per term statistics
        self._dl, self._alive, self._df = _Grow([], np.float32), _Grow([], np.bool_), _Grow([], np.int64)
        self._total_len = self._n_live = 0
        self._dead_nnz = 0  # postings that still belong to deleted rows
        self._invalidate()

    @property
    def n_rows(self) -> int:
        """Rows ever added (dead ones included) since the last :meth:`compact`."""
        return self._dl.n

    @property
    def n_live(self) -> int:
        """Rows not deleted."""
        return self._n_live

    @property
    def n_terms(self) -> int:
        """Distinct terms seen (terms whose documents were all deleted included)."""
        return len(self._vocab)

    def __repr__(self) -> str:
        return f"BM25Index(n_rows={self.n_rows}, n_live={self.n_live}, n_terms={self.n_terms}, {self.config})"

    # -- writing -------------------------------------------------------------------------------------
    def add(self, docs: Sequence[str] | Sequence[Sequence[str]]) -> Rows:
        """Append documents (texts, or token lists from the same tokenizer); returns their rows."""
        if isinstance(docs, str):
            raise ConfigError("BM25Index.add takes a list of texts or token lists, not one string")
        docs = list(docs)
        n, start = len(docs), self.n_rows
        if n == 0:
            return np.empty(0, dtype=np.int64)
        n_str = sum(isinstance(d, str) for d in docs)
        if n_str == n:
            ids, lengths = self._text_ids(docs)  # type: ignore[arg-type]
        elif n_str == 0:
            lengths = np.fromiter(map(len, docs), dtype=np.int64, count=n)
            ids = np.fromiter(map(self._vocab.__getitem__, chain.from_iterable(docs)), dtype=np.int32,
                              count=int(lengths.sum()))
        else:
            raise ConfigError("BM25Index.add got a mix of texts and token lists")
        ptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(lengths, out=ptr[1:])
        v = len(self._vocab)
        fptr, fterms, ftf = _count_terms(ptr, ids, v)
        self._dl.extend(lengths)
        self._alive.extend(True, count=n)
        self._df.extend(0, count=v - self._df.n)
        self._df.a[:] += np.bincount(fterms, minlength=v)
        self._total_len += int(ptr[-1])
        self._n_live += n
        self._invalidate()
        if start - self._n_main + n > max(_DELTA_MIN_ROWS, _DELTA_RATIO * self._n_main):
            self._flush((_transpose(fptr, fterms, ftf, start, v), fptr, fterms))
        else:
            self._to_delta(start, fptr, fterms, ftf)
        return np.arange(start, start + n, dtype=np.int64)

    def delete(self, rows: npt.ArrayLike) -> None:
        """Mark rows dead and take them out of ``N``, ``df`` and ``avgdl`` (dead rows are skipped)."""
        r = np.unique(_as_rows(rows))
        if r.size == 0:
            return
        if r[0] < 0 or r[-1] >= self.n_rows:
            raise ConfigError(f"BM25Index.delete: rows must be in [0, {self.n_rows}), got {r[0]}..{r[-1]}")
        r = r[self._alive.a[r]]
        if r.size == 0:
            return
        self._alive.a[r] = False
        self._total_len -= int(self._dl.a[r].astype(np.int64).sum())
        self._n_live -= int(r.size)
        main, delta = r[r < self._n_main], r[r >= self._n_main] - self._n_main
        dfterms = self._dfterms
        terms = np.concatenate([self._fterms[_ranges(self._fptr, main)], dfterms[_ranges(self._dfptr, delta)]])
        self._df.a[:] -= np.bincount(terms, minlength=self._df.n)
        self._dead_nnz += int(terms.size)
        self._invalidate()
        if self._dead_nnz > _DEAD_RATIO * (len(self._rows) + len(dfterms)):
            self._flush()

    def compact(self) -> Rows:
        """Drop dead rows and renumber the rest; returns the kept old rows (new row i = kept[i]).

        Apply the same selection to whatever else is row-aligned: ``ids = [ids[i] for i in kept]``.
        """
        self._flush()
        kept = np.flatnonzero(self._alive.a).astype(np.int64)
        if kept.size == self.n_rows:
            return kept
        old_to_new = np.zeros(self.n_rows, dtype=np.int32)
        old_to_new[kept] = np.arange(kept.size, dtype=np.int32)
        self._rows = old_to_new[self._rows]  # no dead postings are left after the flush
        self._fptr = np.concatenate([[0], self._fptr[1:][kept]]).astype(np.int64)
        self._dl = _Grow(self._dl.a[kept], np.float32)
        self._alive = _Grow(np.ones(kept.size, dtype=bool), np.bool_)
        self._n_main = int(kept.size)
        self._main_dirty = True
        self._invalidate()
        return kept

    # -- reading -------------------------------------------------------------------------------------
    def search(self, query: str | Sequence[str], k: int = 10, *,
               mask: npt.ArrayLike | None = None) -> tuple[Rows, Scores]:
        """The ``k`` best live rows with a score > 0 as (rows, scores), best first, ties by lower row.

        ``query`` is a text or a list of tokens. ``mask`` (booleans, one per row) keeps only the rows
        where it is True; it applies before the top-k cut, so a filtered search still returns ``k``
        rows when ``k`` match.
        """
        if k < 0:
            raise ConfigError(f"k must be >= 0, got {k}")
        m = self._check_mask(mask)
        parts = self._contributions(self._query_terms(query))
        if not parts or k == 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        if 32 * sum(len(c) for _, c in parts) < self.n_rows:  # few postings: work on them alone
            cand, sc = _sum_sparse(parts)
            if self._n_live < self.n_rows:
                sc *= self._alive.a[cand]
            if m is not None:
                sc *= m[cand]
            return _top_k(cand, sc, k)
        return _top_k(None, self._sum_dense(parts, m), k)

    def scores(self, query: str | Sequence[str], rows: npt.ArrayLike | None = None) -> Scores:
        """BM25 scores of every row (0 for dead rows and rows without a query term), or of ``rows``."""
        out = self._sum_dense(self._contributions(self._query_terms(query)), None)
        return out if rows is None else out[_as_rows(rows)]

    # -- persistence ---------------------------------------------------------------------------------
    def save(self, folder: str | os.PathLike[str]) -> None:
        """Write ``params.json``, ``vocab.json`` and one ``.npy`` per array.

        The main segment's arrays are written only when they changed since this index was loaded
        from (or last saved to) ``folder``; the delta segment, ``df``, ``doc_len`` and ``alive``
        always. Files are written beside the old ones and renamed over them, so an index
        memory-mapped from the same folder keeps working.
        """
        import orjson

        path = Path(folder)
        path.mkdir(parents=True, exist_ok=True)
        main = {"postings_indptr": self._ptr, "postings_rows": self._rows, "postings_tf": self._tf,
                "doc_terms_indptr": self._fptr, "doc_terms": self._fterms}
        arrays = {**main, "delta_postings_indptr": self._dptr, "delta_postings_rows": self._drows,
                  "delta_postings_tf": self._dtf, "delta_doc_terms_indptr": self._dfptr,
                  "delta_doc_terms": self._dfterms, "df": self._df.a, "doc_len": self._dl.a, "alive": self._alive.a}
        same = self._home is not None and self._home.resolve() == path.resolve()
        for name, arr in arrays.items():
            if name in main and same and not self._main_dirty:
                continue
            tmp = path / f"{name}.npy.tmp"
            with open(tmp, "wb") as fh:
                np.save(fh, np.ascontiguousarray(arr), allow_pickle=False)
            os.replace(tmp, path / f"{name}.npy")
        _write(path / "vocab.json", orjson.dumps(list(self._vocab)))
        params = {"format": FORMAT, "version": FORMAT_VERSION,
                  "config": {"k1": self.config.k1, "b": self.config.b},
                  "tokenizer": self.tokenizer.to_dict(),
                  "n_rows": self.n_rows, "n_live": self.n_live, "n_terms": self.n_terms, "n_main": self._n_main,
                  "dead_postings": self._dead_nnz, "total_len": self._total_len,
                  "arrays": {n: {"dtype": str(a.dtype), "shape": list(a.shape)} for n, a in arrays.items()}}
        _write(path / "params.json", json.dumps(params, indent=1).encode())
        self._home, self._main_dirty = path, False

    @classmethod
    def load(cls, folder: str | os.PathLike[str], mmap: bool = True) -> BM25Index:
        """Open a saved index; with ``mmap`` the postings stay on disk, memory-mapped read-only."""
        import orjson

        path = Path(folder)
        try:
            params = json.loads((path / "params.json").read_text())
        except (OSError, ValueError) as e:
            raise ConfigError(f"no BM25 index in {path}: {e}") from e
        if params.get("format") != FORMAT or params.get("version") not in READS:
            raise ConfigError(f"{path} holds BM25 format {params.get('format')!r} version "
                              f"{params.get('version')!r}; this kgloom reads {FORMAT!r} {FORMAT_VERSION}")
        v2 = params["version"] >= 2

        def arr(name: str, on_disk: bool = True) -> Any:  # np.asarray: a plain view of the memmap
            return np.asarray(np.load(path / f"{name}.npy", mmap_mode="r" if mmap and on_disk else None,
                                      allow_pickle=False))

        try:
            idx = cls(BM25Config(**params["config"]), tokenizer=Tokenizer.from_dict(params["tokenizer"]))
            terms = orjson.loads((path / "vocab.json").read_bytes())
            idx._ptr, idx._rows, idx._tf = arr("postings_indptr"), arr("postings_rows"), arr("postings_tf")
            idx._fptr, idx._fterms = arr("doc_terms_indptr"), arr("doc_terms")
            idx._dl = _Grow(arr("doc_len", False), np.float32)
            idx._alive = _Grow(arr("alive", False), np.bool_)
            n, v = idx._dl.n, len(terms)
            n_main = int(params["n_main"]) if v2 else n
            if v2:
                idx._dptr, idx._drows, idx._dtf = (arr(f"delta_postings_{x}", False) for x in ("indptr", "rows", "tf"))
                idx._dfptr, idx._dfterms = arr("delta_doc_terms_indptr", False), arr("delta_doc_terms", False)
                idx._df = _Grow(arr("df", False), np.int64)
                idx._dead_nnz = int(params["dead_postings"])
            else:  # version 1: no delta, no dead postings
                idx._df = _Grow(np.diff(idx._ptr), np.int64)
            # the segments' indptrs may stop short of terms that came later (they have no postings there)
            if not (1 <= len(idx._ptr) <= v + 1 and 1 <= len(idx._dptr) <= v + 1 and len(idx._fptr) == n_main + 1 and idx._alive.n == n
                    and len(idx._rows) == len(idx._tf) == idx._ptr[-1] and len(idx._fterms) == idx._fptr[-1]
                    and len(idx._dfptr) == n - n_main + 1 and len(idx._dfterms) == idx._dfptr[-1]
                    and len(idx._drows) == len(idx._dtf) == idx._dptr[-1] and idx._df.n == v):
                raise ConfigError("its arrays do not fit together")
        except (OSError, ValueError, KeyError, TypeError, IndexError) as e:
            raise ConfigError(f"no readable BM25 index in {path} ({e}); rebuild it") from e
        idx._set_vocab(_Vocab(zip(terms, range(v), strict=True)))
        idx._n_main = n_main
        idx._home, idx._main_dirty = path, False
        idx._n_live = int(np.count_nonzero(idx._alive.a))
        idx._total_len = int(idx._dl.a[idx._alive.a].astype(np.int64).sum())
        return idx

    # -- internals: writing --------------------------------------------------------------------------
    def _set_vocab(self, vocab: _Vocab) -> None:
        self._vocab = vocab
        self._word_ids = _WordIds(self.tokenizer, vocab)

    def _text_ids(self, texts: list[str]) -> tuple[_I32, _I64]:
        """Term ids of all texts, concatenated, and the number of terms per text."""
        if len(self._word_ids) > _WORD_CACHE_MAX:
            self._word_ids.clear()
        get, words = self._word_ids.__getitem__, self.tokenizer.words
        ids, raw = array("i"), array("q")
        for text in texts:
            ws = words(text)
            raw.append(len(ws))
            ids.extend(map(get, ws))
        out, lengths = np.frombuffer(ids, dtype=np.int32), np.frombuffer(raw, dtype=np.int64)
        dropped = out < 0
        if not dropped.any():
            return out.copy(), lengths.copy()
        ends = np.cumsum(lengths)
        doc = np.searchsorted(ends, np.flatnonzero(dropped), side="right")
        return out[~dropped], lengths - np.bincount(doc, minlength=len(texts))

    def _to_delta(self, start: int, fptr: _I64, fterms: _I32,
                  ftf: Scores) -> None:
        """Append a small batch to the delta segment (rows ascend within every term's list)."""
        v = len(self._vocab)
        seg = _transpose(fptr, fterms, ftf, start, v)
        self._dptr, self._drows, self._dtf = _merge((self._dptr, self._drows, self._dtf), seg, None, v)
        self._dfterms = np.concatenate([self._dfterms, fterms.astype(np.int32, copy=False)])
        self._dfptr = np.concatenate([self._dfptr, fptr[1:] + self._dfptr[-1]]).astype(np.int64)

    def _flush(self, batch: tuple[_Segment, _I64, _I32] | None = None) -> None:
        """Merge the delta segment (and a new ``batch``) into the main one; drop dead postings."""
        if batch is None and self._n_main == self.n_rows and self._dead_nnz == 0:
            return
        v, alive = len(self._vocab), self._alive.a
        seg = (_pad(self._dptr, v), self._drows, self._dtf)
        fptrs = [self._fptr, self._dfptr]
        fterms = [self._fterms, self._dfterms]
        if batch is not None:
            seg = _merge(seg, batch[0], None, v)
            fptrs.append(batch[1])
            fterms.append(batch[2])
        dead = alive if self._dead_nnz else None
        self._ptr, self._rows, self._tf = _merge((self._ptr, self._rows, self._tf), seg, dead, v)
        offsets = np.cumsum([0] + [int(p[-1]) for p in fptrs])
        fptr = np.concatenate([[0]] + [p[1:] + o for p, o in zip(fptrs, offsets[:-1], strict=True)])
        fterm = np.concatenate(fterms).astype(np.int32, copy=False)
        if self._dead_nnz:  # dead rows keep an empty range in the forward index
            keep = np.repeat(alive, np.diff(fptr))
            fptr = np.concatenate([[0], np.cumsum(keep)])[fptr].astype(np.int64)
            fterm = fterm[keep]
        self._fptr, self._fterms = fptr, fterm
        self._dptr, self._drows, self._dtf = _empty_segment(0)
        self._dfptr, self._dfterms = np.zeros(1, dtype=np.int64), np.empty(0, dtype=np.int32)
        self._n_main, self._dead_nnz = self.n_rows, 0
        self._main_dirty = True
        self._invalidate()

    # -- internals: reading --------------------------------------------------------------------------
    def _invalidate(self) -> None:
        """Forget what depends on N, avgdl, df or the postings layout."""
        self._norm: Scores | None = None  # k1 * (1 - b + b * dl / avgdl)
        self._cache: dict[int, _Part] = {}
        self._cached = 0

    def _check_mask(self, mask: npt.ArrayLike | None) -> npt.NDArray[np.bool_] | None:
        if mask is None:
            return None
        m = np.asarray(mask)
        if m.dtype != np.bool_ or m.shape != (self.n_rows,):
            raise ConfigError(f"mask must be a boolean array of shape ({self.n_rows},), "
                              f"got {m.dtype} {m.shape}")
        return m

    def _query_terms(self, query: str | Sequence[str]) -> dict[int, int]:
        """Query term id -> count, for terms some live row contains (first-seen order)."""
        tokens = self.tokenizer.tokenize(query) if isinstance(query, str) else query
        get, df = self._vocab.get, self._df.buf
        ids = [i for i in map(get, tokens) if i is not None]
        return {t: c for t, c in Counter(ids).items() if df[t] > 0}

    def _postings(self, t: int) -> tuple[npt.NDArray[np.intp], Scores]:
        s, e = (self._ptr[t], self._ptr[t + 1]) if t + 1 < len(self._ptr) else (0, 0)
        rows, tf = self._rows[s:e], self._tf[s:e]
        if t + 1 < len(self._dptr) and (ds := self._dptr[t]) < (de := self._dptr[t + 1]):
            rows = np.concatenate([rows, self._drows[ds:de]])
            tf = np.concatenate([tf, self._dtf[ds:de]])
        return rows.astype(np.intp, copy=False), tf  # intp: numpy's fancy indexing is ~3x faster with it

    def _contributions(self, terms: dict[int, int]) -> list[_Part]:
        """Per query term, its score contributions; cached arrays are read-only."""
        if not terms or self._n_live == 0:
            return []
        k1, b, n = self.config.k1, self.config.b, self._n_live
        if self._norm is None:
            avgdl = self._total_len / n
            self._norm = (k1 * (1 - b) + (k1 * b / avgdl if avgdl else 0.0) * self._dl.a).astype(np.float32)
        norm, df = self._norm, self._df.buf
        out: list[_Part] = []
        for t, count in terms.items():
            part = self._cache.get(t)
            if part is None:
                rows, tf = self._postings(t)
                w = (k1 + 1) * math.log1p((n - df[t] + 0.5) / (df[t] + 0.5))
                denom = norm[rows]
                denom += tf
                contrib = tf * np.float32(w)
                contrib /= denom
                part = (rows, contrib)
                if len(rows) >= _CACHE_MIN_POSTINGS and self._cached <= min(len(self._rows) // 4, _CACHE_MAX):
                    if 4 * len(rows) >= self.n_rows:  # a common term: a dense vector adds fastest
                        dense = np.zeros(self.n_rows, dtype=np.float32)
                        dense[rows] = contrib
                        part = (None, dense)
                    part[1].flags.writeable = False
                    self._cache[t] = part
                    self._cached += len(part[1])
            out.append(part if count == 1 else (part[0], part[1] * np.float32(count)))
        return out

    def _sum_dense(self, parts: list[_Part], mask: npt.NDArray[np.bool_] | None) -> Scores:
        """Scores of all rows; dead and masked-out rows get 0."""
        acc = np.zeros(self.n_rows, dtype=np.float32)
        for rows, contrib in parts:  # rows are distinct within a term, so fancy += is exact
            if rows is None:
                acc += contrib
            else:
                acc[rows] += contrib
        if self._n_live < self.n_rows:
            acc *= self._alive.a
        if mask is not None:
            acc *= mask
        return acc


# -- array helpers (pure) ----------------------------------------------------------------------------
def _count_terms(ptr: _I64, ids: _I32,
                 n_terms: int) -> tuple[_I64, _I32, Scores]:
    """Term ids per document -> forward CSR: (indptr, distinct term ids, term frequencies)."""
    import scipy.sparse as sp

    m = sp.csr_matrix((np.ones(len(ids), dtype=np.float32), ids, ptr), shape=(len(ptr) - 1, n_terms))
    m.sum_duplicates()
    return m.indptr.astype(np.int64, copy=False), m.indices.astype(np.int32, copy=False), m.data


def _transpose(fptr: _I64, fterms: _I32, ftf: Scores,
               start: int, n_terms: int) -> _Segment:
    """Forward CSR of rows ``start, start+1, ...`` -> a postings segment (rows ascending per term)."""
    import scipy.sparse as sp

    m = sp.csr_matrix((ftf, fterms, fptr), shape=(len(fptr) - 1, n_terms)).tocsc()
    return m.indptr.astype(np.int64, copy=False), (m.indices + start).astype(np.int32, copy=False), m.data


def _empty_segment(n_terms: int) -> _Segment:
    return np.zeros(n_terms + 1, dtype=np.int64), np.empty(0, dtype=np.int32), np.empty(0, dtype=np.float32)


def _pad(ptr: _I64, n_terms: int) -> _I64:
    """An indptr over fewer terms, extended with empty lists up to ``n_terms``."""
    if len(ptr) == n_terms + 1:
        return ptr
    return np.concatenate([ptr, np.full(n_terms + 1 - len(ptr), ptr[-1], dtype=np.int64)])


def _drop_dead(seg: _Segment, alive: npt.NDArray[np.bool_]) -> _Segment:
    ptr, rows, tf = seg
    keep = alive[rows]
    if keep.all():
        return seg
    return np.concatenate([[0], np.cumsum(keep)])[ptr].astype(np.int64), rows[keep], tf[keep]


def _merge(a: _Segment, b: _Segment, alive: npt.NDArray[np.bool_] | None, n_terms: int) -> _Segment:
    """Two postings segments -> one, where every row of ``b`` comes after every row of ``a``."""
    if alive is not None:
        a, b = _drop_dead(a, alive), _drop_dead(b, alive)
    a_ptr, b_ptr = _pad(a[0], n_terms), _pad(b[0], n_terms)
    if len(b[1]) == 0 or len(a[1]) == 0:
        seg = b if len(a[1]) == 0 else a
        return a_ptr + b_ptr, np.asarray(seg[1]), np.asarray(seg[2])
    # a b-posting of term t lands after all postings of terms < t and after the a-postings of t
    b_pos = np.arange(len(b[1])) + a_ptr[np.repeat(np.arange(1, n_terms + 1), np.diff(b_ptr))]
    is_a = np.ones(len(a[1]) + len(b[1]), dtype=bool)
    is_a[b_pos] = False
    rows, tf = np.empty(len(is_a), dtype=np.int32), np.empty(len(is_a), dtype=np.float32)
    rows[b_pos], tf[b_pos] = b[1], b[2]
    rows[is_a], tf[is_a] = a[1], a[2]
    return a_ptr + b_ptr, rows, tf


def _ranges(ptr: _I64, idx: _I64) -> _I64:
    """Positions ``ptr[i]:ptr[i+1]`` for every i in ``idx``, concatenated."""
    if idx.size == 0:
        return np.empty(0, dtype=np.int64)
    starts, lens = ptr[idx], ptr[idx + 1] - ptr[idx]
    offsets = np.repeat(starts - np.concatenate([[0], np.cumsum(lens)[:-1]]), lens)
    return offsets + np.arange(int(lens.sum()), dtype=np.int64)


def _sum_sparse(parts: list[_Part]) -> tuple[npt.NDArray[np.intp], Scores]:
    """(distinct rows ascending, scores) summed in float32 in term order, like ``_sum_dense``."""
    if len(parts) == 1:
        return parts[0][0], parts[0][1].copy()
    cand, inv = np.unique(np.concatenate([r for r, _ in parts]), return_inverse=True)
    sc = np.zeros(len(cand), dtype=np.float32)
    start = 0
    for rows, contrib in parts:
        sc[inv[start : start + len(rows)]] += contrib
        start += len(rows)
    return cand, sc


def _top_k(cand: npt.NDArray[np.intp] | None, sc: Scores, k: int) -> tuple[Rows, Scores]:
    """The ``k`` best positive scores, ties to the lowest row (``cand`` ascending; None: row = index).

    The k-th best of a strided sample bounds the true k-th best from below, so one vectorised
    compare shrinks the field before ``argpartition``.
    """
    lb = 0.0
    if sc.size > 64 * k + 4096:
        sample = sc[:: sc.size // (32 * k + 1024)]
        lb = float(np.partition(sample, sample.size - k)[sample.size - k])
    sel = np.flatnonzero(sc >= lb) if lb > 0 else np.flatnonzero(sc > 0)
    s = sc[sel]
    if s.size > k:
        thr = s[np.argpartition(s, s.size - k)[s.size - k]]
        top = np.flatnonzero(s >= thr)
        if top.size > k:  # ties at the cut: the lowest rows win
            top = np.concatenate([top[s[top] > thr], top[s[top] == thr]])[:k]
        sel, s = sel[top], s[top]
    rows = sel if cand is None else cand[sel]
    order = np.lexsort((rows, -s))
    return rows[order].astype(np.int64), s[order]


def _as_rows(rows: npt.ArrayLike) -> Rows:
    a = np.asarray(rows).ravel()
    if a.size and not np.issubdtype(a.dtype, np.integer):
        raise ConfigError(f"rows must be integers, got {a.dtype}")
    return a.astype(np.int64, copy=False)


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
