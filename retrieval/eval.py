"""``kg eval``: retrieval quality on a BEIR-format folder, with metrics from ranx.

The corpus is ingested once into a cached store keyed by the corpus file's content hash
(``$KG_CACHE`` or ``~/.cache/kgloom/eval``), so reruns reuse the graph and its embeddings. The
store is ingested (:mod:`ingest.pipeline`) and searched (:func:`retrieval.hybrid.search` through its
:mod:`search backend <retrieval.backends>`) directly, without the facade.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from kg.errors import ConfigError, require

if TYPE_CHECKING:
    from kg.distill import Indexed
    from kg.store.base import GraphStore
    from retrieval.backends import SearchBackend
    from retrieval.types import SearchResult

METRICS = ("ndcg@10", "recall@100", "mrr@10")


def cache_root() -> Path:
    """Where eval stores live."""
    return Path(os.environ.get("KG_CACHE") or Path.home() / ".cache" / "kgloom") / "eval"


def corpus_hash(path: Path) -> str:
    """Content hash of a corpus file (first 12 hex digits of BLAKE2b)."""
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:12]


def load_queries(folder: Path) -> dict[str, str]:
    """``queries.jsonl`` -> {query id: text}."""
    out: dict[str, str] = {}
    with open(folder / "queries.jsonl", "rb") as fh:
        for line in fh:
            if line.strip():
                d = orjson.loads(line)
                out[str(d["_id"])] = str(d["text"])
    return out


def load_qrels(folder: Path, split: str = "test") -> dict[str, dict[str, int]]:
    """``qrels/<split>.tsv`` -> {query id: {doc id: grade}} (grades <= 0 dropped)."""
    path = folder / "qrels" / f"{split}.tsv"
    if not path.exists():
        raise ConfigError(f"no qrels file {path}")
    out: dict[str, dict[str, int]] = {}
    with open(path, newline="") as fh:
        for row in csv.reader(fh, delimiter="\t"):
            if len(row) < 3 or row[0] in ("query-id", "query_id"):
                continue
            grade = int(float(row[2]))
            if grade > 0:
                out.setdefault(row[0], {})[row[1]] = grade
    return out


def eval_store(folder: Path, store: str | None = None, *, embed: bool = True, show_progress: bool = False) -> GraphStore:
    """Open (building on first use) the store holding ``folder/corpus.jsonl``, its search index in
    step (with embeddings when ``embed``); the caller closes it."""
    from ingest.pipeline import ingest_paths
    from kg.store import open_store
    from retrieval.backends import backend_for

    corpus = folder / "corpus.jsonl"
    if not corpus.exists():
        raise ConfigError(f"{folder} has no corpus.jsonl")
    st = open_store(store or str(cache_root() / f"{folder.resolve().name}-{corpus_hash(corpus)}"))
    try:
        report = ingest_paths(st, [corpus])
        if report.failed:
            raise ConfigError(f"ingesting {corpus} failed: {report.failed[0].error}")
        backend_for(st).sync_index(embed, show_progress=show_progress)
    except BaseException:
        st.close()
        raise
    return st


def beir_ranking(res: SearchResult) -> dict[str, float]:
    """One query's run: the hits' BEIR document ids, each with a rank-based score (ties impossible)."""
    ranked: dict[str, float] = {}
    n = len(res.hits)
    for i, h in enumerate(res.hits):
        bid = h.node.properties.get("beir_id") if h.node is not None else None
        if bid is not None and str(bid) not in ranked:
            ranked[str(bid)] = float(n - i)
    return ranked


def run_queries(backend: SearchBackend[Any], queries: dict[str, str], *, mode: str, k: int = 100,
                **options: Any) -> dict[str, dict[str, float]]:
    """Search every query; returns a ranx-style run {query id: {beir doc id: score}}."""
    from retrieval.hybrid import search

    return {qid: beir_ranking(search(backend, text, k=k, mode=mode, **options)) for qid, text in queries.items()}


@contextlib.contextmanager
def evaluation_copy(g: Indexed) -> Iterator[SearchBackend[Any]]:
    """A throwaway copy of an embedded store (graph and search index, not models), as its search
    backend; closed and deleted on exit. Switching its encoder leaves ``g`` untouched.

    >>> with evaluation_copy(g) as tmp:                     # doctest: +SKIP
    ...     tmp.sync_index(True, encoder=spec)               # doctest: +SKIP
    """
    from kg.distill import store_folder
    from kg.store import open_store
    from kg.store.sqlite import DB_NAME
    from retrieval.backends import backend_for

    src = store_folder(g)
    tmp = Path(tempfile.mkdtemp(prefix="kg-evalcopy-"))
    try:
        with contextlib.closing(sqlite3.connect(f"file:{src / DB_NAME}?mode=ro", uri=True)) as a, \
                contextlib.closing(sqlite3.connect(tmp / DB_NAME)) as b:
            a.backup(b)
        if (src / "index").is_dir():
            shutil.copytree(src / "index", tmp / "index", ignore=shutil.ignore_patterns(".lock", "*.tmp"))
        copy = open_store(tmp)
        try:
            yield backend_for(copy)
        finally:
            copy.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def score_run(qrels: dict[str, dict[str, int]], run: dict[str, dict[str, float]]) -> dict[str, float]:
    """nDCG@10, recall@100 and MRR@10 with ranx."""
    ranx = require("ranx", "eval", "kg eval metrics")
    run = {q: (r if r else {"__none__": 0.0}) for q, r in run.items() if q in qrels}
    scores = ranx.evaluate(ranx.Qrels(qrels), ranx.Run(run), list(METRICS))
    return {m: round(float(scores[m]), 4) for m in METRICS}


def evaluate(folder: str | Path, *, mode: str = "hybrid", split: str = "test", encoder: str | None = None,
             store: str | None = None, show_progress: bool = False, **options: Any) -> dict[str, Any]:
    """Build/reuse the store for a BEIR folder and score ``mode`` on ``split``."""
    folder = Path(folder)
    require("ranx", "eval", "kg eval metrics")  # before building the store, not after
    qrels = load_qrels(folder, split)
    queries = {q: t for q, t in load_queries(folder).items() if q in qrels}
    from retrieval.backends import backend_for

    st = eval_store(folder, store, embed=mode != "bm25", show_progress=show_progress)
    try:
        backend = backend_for(st)
        spec = None
        if encoder:
            from kg.distill import active_encoder, resolve_encoder_spec

            spec = resolve_encoder_spec(backend, encoder)  # "student" -> the store's latest student folder
            if spec == active_encoder(backend):
                spec = None
        if spec is None:
            run = run_queries(backend, queries, mode=mode, **options)
        else:  # score another encoder on a throwaway copy: the cached store keeps its encoder
            with evaluation_copy(backend) as tmp:
                tmp.sync_index(True, encoder=spec, show_progress=show_progress)
                run = run_queries(tmp, queries, mode=mode, **options)
    finally:
        st.close()
    out: dict[str, Any] = score_run(qrels, run)
    out.update({"queries": len(queries), "mode": mode, "dataset": folder.resolve().name, "split": split})
    if encoder:
        out["encoder"] = encoder
    return out
