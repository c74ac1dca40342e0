"""The scale benchmark: kgloom at 100k-1M papers, step by step, against txtai, bm25s, LangChain and Neo4j.

    .venv/bin/python benchmarks/scale.py --docs 1000000            # everything (issue 14)
    .venv/bin/python benchmarks/scale.py --docs 100000 --encoder none --systems kgloom,txtai,bm25s
    .venv/bin/python benchmarks/scale.py --markdown                # the results table of docs/scale.md

**Corpus.** ``benchmarks/synth_corpus.py`` (seeded): ``--docs`` S2ORC-style papers in JSONL shards of
``--shard-docs`` records, plus one file of 1,000 more papers for the add/remove steps, 384-d vectors
and ``--queries`` queries with their vectors. Every system gets the same texts (title + abstract),
the same document vectors and the same queries.

**kgloom, as a user runs it.** ``ingest``: ``kg ingest <shards> --store S --json`` (the CLI, in its
own process tree; peak RSS is the largest sum over the tree, sampled every 0.2 s, or the largest
single process when that is larger). ``--encoder``: ``teacher`` embeds with ``--embed`` (MiniLM);
``auto`` passes ``kg ingest --encoder auto`` when that option exists, else runs as ``teacher`` and
says so (``encoder_note``); ``none`` ingests ``--no-embed`` and then gives the dense leg the
generated vectors (as ``query_latency.py`` does; ``dense_attach_s``), so every query step still runs.
``open``: ``KnowledgeGraph.open`` and the search index (legs memory-mapped), then the first query.
``query``: ``bm25``, ``dense``, ``hybrid`` and ``hybrid`` with a year filter (``mode: hybrid_filter``),
every mode on every query, in rotating order; the query encoder is a stub returning the precomputed
vectors, so latencies exclude encoding, which a ``query_encode`` line times with the store's own
encoder (not with ``--encoder none``). ``checks``: ANN recall@10 of the dense leg against exact
search over the stored vectors; filters (every hit in the year range, full pages, the filtered BM25
and dense legs against brute force over the rows the filter keeps). ``add``: a new 1,000-paper JSONL
file copied into the folder and ``kg ingest`` again (its embeddings by the store's encoder: MiniLM
also with ``--encoder none``), while another process searches in a loop and records errors and
whether each answer saw the old or the new state; ``remove``: the file deleted and ``kg ingest
--prune``, with the same querying process.

**Peers** (each step in its own process). ``bm25s``: ``BM25(method="lucene")`` with kgloom's k1 and b
on kgloom's own tokens (the texts of the index rows through the index's tokenizer), top-10 per query,
and the share of queries whose top 10 is identical to kgloom's BM25 leg. ``txtai``:
``Embeddings(method="external", transform=..., hybrid=True, backend="faiss", content=False)`` fed the
same vectors through the transform (faiss index chosen by txtai for the size: IVF from a few
thousand rows), ``save``/``load`` as ``open``, hybrid top-10. ``langchain`` (``--docs`` <= 100k):
``query_latency.py``'s ``EnsembleRetriever`` (BM25Retriever + InMemoryVectorStore), over 20 queries at
100k as there. ``neo4j``: ``kg neo4j import`` of the kgloom store into a fresh data folder (nodes/s),
a Neo4j 5.26 server on it until every index is online, then BM25 queries through the facade with the
server's URL (``neo4j_query``).

Every line has ``system``, ``step``, ``docs``, ``wall_s``, ``cpu_s``, ``peak_rss_mb``, ``loadavg``,
``encoder`` and ``started`` (the run's start, which groups its lines), plus ``disk_mb`` where it applies
and each step's fields; query lines add ``mode``, ``p50_ms`` and ``p95_ms``. A step that cannot run
prints a line with ``skipped`` and why. The last line (``step: summary``) checks the targets of
issue 14 and gives the ratios against txtai and bm25s. Lines are printed and appended to ``--out``.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# the peers get their vectors from this script (txtai: method "external"): nothing may reach a model hub
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]  # benchmarks/ingest.py shadows `ingest`
sys.path.insert(0, str(ROOT))
sys.path.insert(1, str(HERE))  # after ROOT, for scale_measure, synth_corpus and query_latency

from scale_measure import (  # noqa: E402
    MB,
    Step,
    Work,
    dir_mb,
    hwm_mb,
    loadavg,
    log,
    pct,
    query_vectors,
    rss_mb,
    run_tree,
    skipped,
    status_mb,
    timed,
)
from synth_corpus import DIM, Corpus, PrecomputedEncoder, paper_number  # noqa: E402

SYSTEMS = ("kgloom", "txtai", "bm25s", "langchain", "neo4j")
MODES = ("bm25", "dense", "hybrid", "hybrid_filter")
FILTER_YEARS = (2000, 2015)
KG = [sys.executable, "-m", "kg.cli"]
TARGETS = {  # issue 14, items 2, 4 and 5 (sizes at 1M documents)
    "ingest_wall_s": 1200, "ingest_peak_rss_mb": 8192, "store_mb": 6144, "open_s": 2.0,
    "rss_after_queries_mb": 3072, "hybrid_p50_ms": 10.0, "hybrid_p95_ms": 30.0,
    "bm25s_identical_share": 1.0, "ann_recall_at_10": 0.95, "add_s": 20.0, "remove_s": 10.0,
}


# -- steps: corpus ----------------------------------------------------------------------------------------
def step_generate(ctx: dict[str, Any], w: Work) -> list[dict[str, Any]]:
    s = Step(ctx, "corpus", "generate")
    c = Corpus(ctx["docs"], ctx["queries"], ctx["seed"], w.corpus, keep_texts=False, fmt="s2orc",
               shard_docs=ctx["shard_docs"], extra=ctx.get("add_docs", 1000), vectors_path=w.vectors)
    w.queries.write_text(json.dumps(c.queries))
    np.save(w.query_vectors, np.stack([c.query_vectors[q] for q in c.queries]), allow_pickle=False)
    import orjson

    first_add = orjson.loads(c.add_paths[0].open("rb").readline())
    w.write_state(add_file=str(c.add_paths[0]), add_query=first_add["title"],
                  add_id=int(first_add["paper_id"]))
    return [s.line(files=len(c.paths), add_docs=ctx.get("add_docs", 1000), queries=len(c.queries), gen_s=round(c.gen_s, 1),
                   disk_mb=dir_mb(w.corpus), vectors_mb=round(w.vectors.stat().st_size / MB, 1))]


# -- steps: kgloom ----------------------------------------------------------------------------------------
def encoder_flags(ctx: dict[str, Any], *, first: bool) -> tuple[list[str], str, str | None]:
    """``kg ingest`` options for ``--encoder``, the encoder that actually runs, and a note."""
    want = ctx["encoder_requested"]
    if want == "none":
        return (["--no-embed"] if first else []), "none", None
    help_text = subprocess.run([*KG, "ingest", "--help"], capture_output=True, text=True,
                               env={**os.environ, "COLUMNS": "200"}).stdout
    if "--encoder" in help_text:
        return ["--embed", "--encoder", want], want, None
    if want == "auto":
        return ["--embed"], "teacher", "kg ingest has no --encoder option yet: ran with the teacher (MiniLM)"
    return ["--embed"], "teacher", None


def _ingest_report(out: str) -> dict[str, Any]:
    try:
        rep = json.loads(out)
    except json.JSONDecodeError:
        return {}
    files = rep.get("files") or []
    return {"files": len(files), "failed": sum(1 for f in files if f.get("status") == "failed"),
            "phases_s": {k: round(v, 2) for k, v in (rep.get("phases") or {}).items()},
            "nodes": sum((rep.get("stats") or {}).get("nodes", {}).values()),
            "edges": sum((rep.get("stats") or {}).get("edges", {}).values()),
            "encoder_outcome": rep.get("encoder")}  # what kg ingest --encoder did (when it says)


def step_kgloom_ingest(ctx: dict[str, Any], w: Work) -> list[dict[str, Any]]:
    flags, enc, note = encoder_flags(ctx, first=True)
    ctx["encoder"] = enc
    w.write_state(encoder=enc, encoder_note=note)
    s = Step(ctx, "kgloom", "ingest")
    r = run_tree([*KG, "ingest", str(w.papers), "--store", str(w.store), "--json", *flags])
    if r["rc"] not in (0, 1):
        return [skipped(ctx, "kgloom", "ingest", f"kg ingest exited with {r['rc']}")]
    extra: dict[str, Any] = {"kg_ingest_s": r["wall_s"], **_ingest_report(r["stdout"])}
    if enc == "none":  # the dense leg gets the generated vectors, aligned to the index rows
        from kg.graph import KnowledgeGraph
        from retrieval.dense import DenseIndex

        t = time.perf_counter()
        g = KnowledgeGraph.open(w.store, create=False)
        idx = g.search_index()
        assert idx is not None
        vecs = np.load(w.vectors, mmap_mode="r")
        order = np.fromiter((paper_number(i.id) if i is not None else 0 for i in idx.rows), dtype=np.int64,
                            count=len(idx.rows))
        dense = DenseIndex(dim=DIM, encoder="minilm")
        dense.add(np.asarray(vecs[order]))
        idx.dense = dense
        idx.manifest["dense"] = True
        idx.save()  # builds the HNSW graph at >= 50k rows
        g.close()
        extra["dense_attach_s"] = round(time.perf_counter() - t, 2)
    wall = r["wall_s"] + extra.get("dense_attach_s", 0.0)
    return [s.line(wall_s=round(wall, 2), cpu_s=round(r["cpu_s"] + time.process_time() - s.c, 2),
                   peak_rss_mb=max(r["peak_rss_mb"], hwm_mb()), peak_single_rss_mb=r["peak_single_rss_mb"],
                   disk_mb=dir_mb(w.store), docs_per_s=round(ctx["docs"] / wall, 1), encoder_note=note,
                   kg_ingest_rc=r["rc"], **extra)]


def step_kgloom_query(ctx: dict[str, Any], w: Work) -> list[dict[str, Any]]:
    """open, query_encode, query (every mode), checks; then the store's vectors for the peers."""
    from kg.graph import KnowledgeGraph
    from kg.query import Filters

    lines: list[dict[str, Any]] = []
    s = Step(ctx, "kgloom", "open")
    g = KnowledgeGraph.open(w.store, create=False)
    idx = g.search_index()
    assert idx is not None and idx.dense is not None, "the store has no dense leg"
    open_s, open_cpu, open_hwm = time.perf_counter() - s.t, time.process_time() - s.c, hwm_mb()
    queries = json.loads(w.queries.read_text())
    if ctx["encoder"] == "none":
        qv = np.load(w.query_vectors)
    else:  # the store's own encoder, timed here, excluded from the query latencies
        se = Step(ctx, "kgloom", "query_encode")
        enc = idx.encoder
        enc.encode_query(queries[0])
        ms, rows = [], []
        for q in queries:
            t = time.perf_counter()
            rows.append(enc.encode_query(q))
            ms.append((time.perf_counter() - t) * 1000)
        qv = np.stack(rows).astype(np.float32)
        np.save(w.folder / "query_vectors_store.npy", qv, allow_pickle=False)
        lines.append(se.line(encoder_name=enc.name, queries=len(ms), **pct(ms)))
    qmap = {q: qv[i] for i, q in enumerate(queries)}
    idx._encoder = PrecomputedEncoder(qmap)  # latencies below exclude query encoding
    t = time.perf_counter()
    g.search(queries[0], k=10, mode="hybrid")
    first_ms = (time.perf_counter() - t) * 1000
    lines.append(s.line(wall_s=round(open_s, 3), cpu_s=round(open_cpu, 2), peak_rss_mb=open_hwm, open_s=round(open_s, 3),
                        first_query_ms=round(first_ms, 1),
                        rss_mb=rss_mb(), rows=len(idx.rows), dense_path="hnsw" if idx.dense.has_ann else "exact",
                        disk_mb=dir_mb(w.store)))
    # every mode on every query, the order rotating per query
    filt = Filters(year=FILTER_YEARS)
    kw = {"bm25": {"mode": "bm25"}, "dense": {"mode": "dense"}, "hybrid": {"mode": "hybrid"},
          "hybrid_filter": {"mode": "hybrid", "filters": filt}}
    for q in queries[:5]:
        for m in MODES:
            g.search(q, k=10, **kw[m])
    sq = Step(ctx, "kgloom", "query")
    acc: dict[str, dict[str, list[float]]] = {m: {"wall": [], "cpu": [], "hits": []} for m in MODES}
    bm25_top: list[list[str]] = []
    filt_hits: list[list[str]] = []
    for i, q in enumerate(queries):
        for j in range(len(MODES)):
            m = MODES[(i + j) % len(MODES)]
            c, t = time.process_time(), time.perf_counter()
            res = g.search(q, k=10, **kw[m])
            acc[m]["wall"].append((time.perf_counter() - t) * 1000 - res.timings_ms.get("encode", 0.0))
            acc[m]["cpu"].append((time.process_time() - c) * 1000)
            acc[m]["hits"].append(len(res.hits))
            if m == "bm25":
                bm25_top.append([h.id for h in res.hits])
            elif m == "hybrid_filter":
                filt_hits.append([h.id for h in res.hits])
    after = rss_mb()
    for m in MODES:
        a = acc[m]
        lines.append(sq.line(mode=m, **pct(a["wall"]), cpu_p50_ms=round(float(np.median(a["cpu"])), 3),
                             queries=len(a["wall"]), mean_hits=round(float(np.mean(a["hits"])), 2),
                             rss_after_queries_mb=after, excludes_query_encoding=True,
                             filter={"year": list(FILTER_YEARS)} if m == "hybrid_filter" else None))
    w.bm25_top.write_text(json.dumps(bm25_top))
    lines.append(checks(ctx, g, idx, queries, qv, filt_hits))
    # the store's vectors in paper order, for the peers (the very vectors kgloom searches)
    vecs = np.lib.format.open_memmap(w.kg_vectors, mode="w+", dtype=np.float32, shape=(ctx["docs"], DIM))
    dv = idx.dense.vectors
    for r, info in enumerate(idx.rows):
        if info is not None and info.id.startswith("paper:"):
            vecs[paper_number(info.id)] = dv[r]
    vecs.flush()
    g.close()
    return lines


def checks(ctx: dict[str, Any], g: Any, idx: Any, queries: list[str], qv: np.ndarray,
           filt_hits: list[list[str]]) -> dict[str, Any]:
    """ANN recall@10 against exact search; filters inside every leg against brute force."""
    from kg.query import Filters

    s = Step(ctx, "kgloom", "checks")
    n_chk = min(len(queries), 200)
    dense = idx.dense
    recall = []
    for q in qv[:n_chk]:
        exact = set(dense.search_exact(q, 10)[0].tolist())
        ann = set(dense.search_ann(q, 10)[0].tolist())
        recall.append(len(exact & ann) / max(1, len(exact)))
    lo, hi = FILTER_YEARS
    keep = idx.alive & (idx.years >= lo) & (idx.years <= hi)
    in_range = [all(lo <= idx.years[idx.row_of[h]] <= hi for h in hits) for hits in filt_hits]
    full = [len(hits) == 10 for hits in filt_hits]
    filt = Filters(year=FILTER_YEARS)
    bm25_same, dense_same = [], []
    for i, q in enumerate(queries[:n_chk]):
        got = [h.id for h in g.search(q, k=10, mode="bm25", filters=filt).hits]
        sc = np.asarray(idx.bm25.scores(q), dtype=np.float64)
        sc = np.where(keep & (sc > 0), sc, -np.inf)
        top = np.argsort(-sc, kind="stable")[:10]
        want = [idx.rows[r].id for r in top if np.isfinite(sc[r])]
        bm25_same.append(got == want)
        got_d = {h.id for h in g.search(q, k=10, mode="dense", filters=filt).hits}
        ex = dense.search_exact(qv[i], 10, mask=keep)[0]
        dense_same.append(len(got_d & {idx.rows[r].id for r in ex}) / 10)
    return s.line(ann_recall_at_10=round(float(np.mean(recall)), 4), ann_queries=n_chk,
                  filter_hits_in_range_share=round(float(np.mean(in_range)), 4),
                  filter_full_pages_share=round(float(np.mean(full)), 4),
                  filter_bm25_exact_share=round(float(np.mean(bm25_same)), 4),
                  filter_dense_recall_at_10=round(float(np.mean(dense_same)), 4), filter_queries=n_chk,
                  filter={"year": list(FILTER_YEARS)})


def querier(w: Work, stop: Path) -> None:
    """Search in a loop until ``stop`` exists; print what the answers saw (old / new state, errors)."""
    from kg.graph import KnowledgeGraph

    st = w.read_state()
    add_id, q = st["add_id"], st["add_query"]
    vecs = np.load(w.vectors, mmap_mode="r")
    queries, qv = query_vectors(w)
    g = KnowledgeGraph.open(w.store, create=False)
    idx = g.search_index()
    assert idx is not None
    idx._encoder = PrecomputedEncoder({q: np.asarray(vecs[add_id]), **{x: qv[i] for i, x in enumerate(queries)}})
    seen: list[str] = []
    errors: list[str] = []
    ms: list[float] = []
    i = 0
    while not stop.exists():
        i += 1
        try:
            t = time.perf_counter()
            g.search(queries[i % len(queries)], k=10, mode="hybrid")
            ids = {h.id for h in g.search(q, k=10, mode="hybrid").hits}
            ms.append((time.perf_counter() - t) * 500)
            seen.append("new" if f"paper:s2:{add_id}" in ids else "old")
        except Exception as e:  # counted: the target is zero
            errors.append(f"{type(e).__name__}: {str(e)[:160]}")
    flips = sum(1 for a, b in itertools.pairwise(seen) if a != b)
    print(json.dumps({"searches": 2 * i, "old": seen.count("old"), "new": seen.count("new"), "errors": len(errors),
                      "first_errors": errors[:3], "state_flips": flips, "first": seen[0] if seen else None,
                      "last": seen[-1] if seen else None, "p50_ms": round(float(np.median(ms)), 2) if ms else None,
                      "max_ms": round(max(ms), 1) if ms else None, "querier_peak_rss_mb": hwm_mb()}), flush=True)
    g.close()


def step_kgloom_update(ctx: dict[str, Any], w: Work) -> list[dict[str, Any]]:
    """add (a new 1,000-paper file, kg ingest again) and remove (file deleted, kg ingest --prune)."""
    from kg.graph import KnowledgeGraph

    st = w.read_state()
    flags, _, _ = encoder_flags(ctx, first=False)
    target = w.papers / Path(st["add_file"]).name
    lines = []
    for step in ("add", "remove"):
        stop = w.folder / f"stop-{step}"
        q = subprocess.Popen([sys.executable, __file__, "--child", "querier", "--work", str(w.folder),
                              "--stop", str(stop)], stdout=subprocess.PIPE, text=True)
        time.sleep(3.0)  # the querier opens the store and starts searching
        s = Step(ctx, "kgloom", step)
        if step == "add":
            shutil.copy(st["add_file"], target)
            cmd = [*KG, "ingest", str(w.papers), "--store", str(w.store), "--json", *flags]
        else:
            target.unlink()
            cmd = [*KG, "ingest", str(w.papers), "--store", str(w.store), "--json", "--prune", *flags]
        r = run_tree(cmd)
        time.sleep(1.0)
        stop.touch()
        seen = json.loads((q.communicate(timeout=120)[0] or "{}").strip().splitlines()[-1] or "{}")
        g = KnowledgeGraph.open(w.store, create=False)
        present = f"paper:s2:{st['add_id']}" in g.get_nodes([f"paper:s2:{st['add_id']}"])
        g.close()
        rep = _ingest_report(r["stdout"])
        lines.append(s.line(wall_s=r["wall_s"], cpu_s=r["cpu_s"], peak_rss_mb=r["peak_rss_mb"],
                            peak_single_rss_mb=r["peak_single_rss_mb"], kg_ingest_rc=r["rc"],
                            add_docs=ctx.get("add_docs", 1000), disk_mb=dir_mb(w.store), concurrent_queries=seen,
                            added_paper_present=present, **{k: v for k, v in rep.items() if k != "files"}))
    return lines


# -- steps: peers ----------------------------------------------------------------------------------------
def step_bm25s(ctx: dict[str, Any], w: Work) -> list[dict[str, Any]]:
    """bm25s on kgloom's tokens; top-10 identity with kgloom's BM25 leg."""
    import bm25s

    from kg.graph import KnowledgeGraph
    from kg.searchtext import node_text

    g = KnowledgeGraph.open(w.store, create=False)
    idx = g.search_index()
    assert idx is not None
    ids = [r.id for r in idx.rows if r is not None]
    texts: list[str] = []
    for s0 in range(0, len(ids), 10_000):
        got = g.get_nodes(ids[s0 : s0 + 10_000])
        texts.extend(node_text(got[i]) for i in ids[s0 : s0 + 10_000])
    tok = idx.bm25.tokenizer
    k1, b = idx.bm25.config.k1, idx.bm25.config.b
    g.close()
    t = time.perf_counter()
    tokens = tok.tokenize_many(texts)
    tokenize_s = time.perf_counter() - t
    del texts
    s = Step(ctx, "bm25s", "ingest")
    ret = bm25s.BM25(method="lucene", k1=k1, b=b)
    ret.index(tokens, show_progress=False)
    index_s = time.perf_counter() - s.t
    folder = w.folder / "bm25s"
    ret.save(str(folder))
    lines = [s.line(index_s=round(index_s, 2), tokenize_s=round(tokenize_s, 2), disk_mb=dir_mb(folder),
                    rows=len(ids), tokens="kgloom (retrieval/tokenize.py)", k1=k1, b=b, method="lucene")]
    del ret, tokens
    so = Step(ctx, "bm25s", "open")
    ret = bm25s.BM25.load(str(folder), mmap=True)
    open_s = time.perf_counter() - so.t
    lines.append(so.line(open_s=round(open_s, 3), wall_s=round(open_s, 3), disk_mb=dir_mb(folder)))
    queries = json.loads(w.queries.read_text())
    vocab = ret.vocab_dict

    def top10(q: str) -> list[str]:
        qt = [x for x in tok.tokenize(q) if x in vocab]
        if not qt:
            return []
        docs, scores = ret.retrieve([qt], k=10, show_progress=False, n_threads=1)
        return [ids[int(d)] for d, sc in zip(docs[0], scores[0], strict=True) if sc > 0]

    sq = Step(ctx, "bm25s", "query")
    stats, got = timed(top10, queries)
    after = rss_mb()
    kg_top = json.loads(w.bm25_top.read_text()) if w.bm25_top.exists() else None
    same = ties = None
    if kg_top is not None:
        same = round(float(np.mean([a == b for a, b in zip(got, kg_top, strict=True)])), 4)
        row = {x: i for i, x in enumerate(ids)}

        def tied(q: str, mine: list[str], theirs: list[str]) -> bool:
            """kgloom's top 10 is a top 10 of bm25s's scores: the same score at every rank (ties may
            be ordered, and cut at rank 10, differently)."""
            if len(mine) != len(theirs):
                return False
            if not mine:
                return True
            sc = ret.get_scores([x for x in tok.tokenize(q) if x in vocab])
            a = np.asarray([sc[row[x]] for x in mine])
            b = np.asarray([sc[row[x]] for x in theirs])
            return bool(np.allclose(a, b, rtol=1e-5, atol=1e-7))

        ties = round(float(np.mean([tied(q, m, t) for q, m, t in zip(queries, kg_top, got, strict=True)])), 4)
    lines.append(sq.line(mode="bm25", **stats, rss_after_queries_mb=after, top10_identical_share=same,
                         top10_identical_up_to_ties_share=ties))
    return lines


_TX: dict[str, Any] = {}


def txtai_transform(inputs: list[str]) -> np.ndarray:
    """txtai's external vectors: each text's precomputed vector (documents by text hash, then queries)."""
    qmap = _TX["queries"]
    return np.stack([qmap[t] if t in qmap else _TX["vectors"][_TX["rows"][hash(t)]] for t in inputs]).astype(np.float32)


def _tx_setup(w: Work, docs: bool) -> None:
    queries, qv = query_vectors(w)
    _TX["queries"] = {q: qv[i] for i, q in enumerate(queries)}
    if docs:
        _TX["vectors"] = np.load(w.kg_vectors, mmap_mode="r")
        _TX["rows"] = {hash(text): i for i, text in w.texts()}


def step_txtai(ctx: dict[str, Any], w: Work, part: str) -> list[dict[str, Any]]:
    """txtai hybrid (its BM25 + faiss): ``ingest`` (index, save) or ``open`` + ``query`` (load, search)."""
    from txtai import Embeddings

    folder = w.folder / "txtai"
    if part == "ingest":
        _tx_setup(w, docs=True)
        s = Step(ctx, "txtai", "ingest")
        e = Embeddings(method="external", transform=txtai_transform, hybrid=True, backend="faiss", content=False)
        e.index((str(i), text, None) for i, text in w.texts())
        index_s = time.perf_counter() - s.t
        e.save(str(folder))
        faiss = (e.config.get("build") or {}).get("settings", {}).get("components")
        return [s.line(index_s=round(index_s, 2), disk_mb=dir_mb(folder), faiss=faiss,
                       scoring=e.config.get("scoring"), content=False)]
    _tx_setup(w, docs=False)
    so = Step(ctx, "txtai", "open")
    e = Embeddings()
    e.load(str(folder), config={"transform": txtai_transform})
    open_s = time.perf_counter() - so.t
    queries = json.loads(w.queries.read_text())
    t = time.perf_counter()
    e.search(queries[0], 10)
    first_ms = (time.perf_counter() - t) * 1000
    lines = [so.line(wall_s=round(open_s, 3), open_s=round(open_s, 3), first_query_ms=round(first_ms, 1),
                     rss_mb=rss_mb(), disk_mb=dir_mb(folder))]
    sq = Step(ctx, "txtai", "query")
    stats, _ = timed(lambda q: e.search(q, 10), queries)
    lines.append(sq.line(mode="hybrid", **stats, rss_after_queries_mb=rss_mb(), excludes_query_encoding=True,
                         note="query vectors from the transform's lookup (no model)"))
    return lines


def step_langchain(ctx: dict[str, Any], w: Work) -> list[dict[str, Any]]:
    """query_latency.py's LangChain peers (EnsembleRetriever) on the same texts, vectors and queries."""
    import query_latency as ql

    queries, qv = query_vectors(w)
    n = ctx["docs"]
    n_peer = 20 if n >= 100_000 else min(len(queries), int(20 * 100_000 / n))
    vecs = np.load(w.kg_vectors)
    texts = [t for _, t in w.texts()]
    corpus = argparse.Namespace(n=n, texts=texts, queries=queries, vectors=vecs,
                                query_vectors={q: qv[i] for i, q in enumerate(queries)})
    s = Step(ctx, "langchain", "ingest")
    peer = ql.time_peers(argparse.Namespace(lc_vectors="list"), corpus, n_peer)
    total = time.perf_counter() - s.t
    # one call builds and times everything: CPU is not split by step, wall_s of a query line is the
    # time of all the query loops (every retriever's)
    lines = [s.line(wall_s=peer["build_s"], cpu_s=None, index_s=peer["build_s"], vectors="list[float]",
                    note="BM25Retriever.from_texts + InMemoryVectorStore (+ rank-bm25 on kgloom tokens)")]
    for mode, key in (("bm25", "lc_bm25"), ("dense", "lc_dense"), ("hybrid", "lc_ensemble")):
        r = peer[key]
        lines.append(s.line(step="query", wall_s=round(total - peer["build_s"], 2), cpu_s=None, mode=mode,
                            p50_ms=r["p50_ms"], p95_ms=r["p95_ms"], cpu_p50_ms=r["cpu_p50_ms"], queries=n_peer,
                            retriever={"lc_bm25": "BM25Retriever", "lc_dense": "InMemoryVectorStore",
                                       "lc_ensemble": "EnsembleRetriever"}[key]))
    return lines


def step_neo4j(ctx: dict[str, Any], w: Work) -> list[dict[str, Any]]:
    """kg neo4j import of the kgloom store, a server on it until every index is online, BM25 queries."""
    from kg.neo4j.server import Neo4jServer, available
    from kg.store import open_store

    ok, why = available()
    if not ok:
        return [skipped(ctx, "kgloom", "neo4j_import", f"no local Neo4j 5.26: {why}"),
                skipped(ctx, "kgloom", "neo4j_query", "no server")]
    data = w.folder / "neo4j"
    s = Step(ctx, "kgloom", "neo4j_import")
    r = run_tree([*KG, "neo4j", "import", "--store", str(w.store), "--data-dir", str(data), "--json"])
    if r["rc"] != 0:
        return [skipped(ctx, "kgloom", "neo4j_import", f"kg neo4j import exited with {r['rc']}")]
    got = json.loads(r["stdout"].strip().splitlines()[-1])
    t = time.perf_counter()
    server = Neo4jServer(data_dir=data, password=None).start(timeout=600)
    try:
        open_store(server.uri).close()  # creates the constraints and indexes and awaits them online
        online_s = time.perf_counter() - t
        server_rss = round(status_mb(server.pid, "VmRSS"), 1) if server.pid else None
        lines = [s.line(wall_s=round(r["wall_s"] + online_s, 2), import_s=r["wall_s"], cpu_s=r["cpu_s"],
                        peak_rss_mb=r["peak_rss_mb"], index_online_s=round(online_s, 2),
                        nodes=got.get("nodes"), edges=got.get("edges"),
                        nodes_per_s=round(got["nodes"] / r["wall_s"]) if got.get("nodes") else None,
                        e2e_nodes_per_s=round(got["nodes"] / (r["wall_s"] + online_s)) if got.get("nodes") else None,
                        disk_mb=dir_mb(data), server_rss_mb=server_rss)]
        lines.extend(neo4j_query(ctx, w, server.uri, server.pid))
    finally:
        server.stop()
    return lines


def neo4j_query(ctx: dict[str, Any], w: Work, uri: str, pid: int | None) -> list[dict[str, Any]]:
    from kg.graph import KnowledgeGraph

    queries = json.loads(w.queries.read_text())
    g = KnowledgeGraph.open(uri, create=False)
    s = Step(ctx, "kgloom", "neo4j_query")
    try:
        stats, got = timed(lambda q: g.search(q, k=10, mode="bm25"), queries)
    finally:
        g.close()
    return [s.line(mode="bm25", **stats, mean_hits=round(float(np.mean([len(x.hits) for x in got])), 2),
                   server_peak_rss_mb=round(status_mb(pid, "VmHWM"), 1) if pid else None),
            skipped(ctx, "kgloom", "neo4j_query", "dense/hybrid: the Neo4j store embeds every node on its "
                    "first dense search (kg.neo4j.embeddings); not timed") | {"mode": "hybrid"}]


# -- the run -----------------------------------------------------------------------------------------------
CHILDREN: dict[str, Callable[[dict[str, Any], Work], list[dict[str, Any]]]] = {
    "generate": step_generate, "kgloom-ingest": step_kgloom_ingest, "kgloom-query": step_kgloom_query,
    "bm25s": step_bm25s, "txtai-ingest": lambda c, w: step_txtai(c, w, "ingest"),
    "txtai-query": lambda c, w: step_txtai(c, w, "query"), "langchain": step_langchain,
    "kgloom-update": step_kgloom_update, "neo4j": step_neo4j,
}


def child(args: argparse.Namespace, ctx: dict[str, Any], what: str) -> list[dict[str, Any]]:
    """Run one part in a fresh interpreter (its own peak RSS); its JSON lines."""
    cmd = [sys.executable, __file__, "--child", what, "--work", str(args.work_dir), "--ctx", json.dumps(ctx)]
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"} \
        if args.blas_one else None
    log(f"{ctx['docs']} docs: {what}")
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, env=env)
    lines = [json.loads(x) for x in proc.stdout.splitlines() if x.startswith("{")]
    if proc.returncode != 0:
        lines.append({**skipped(ctx, what.split("-")[0], what, f"the {what} process exited with "
                                f"{proc.returncode} (its stderr above)"), "error": True})
    return lines


def summary(ctx: dict[str, Any], lines: list[dict[str, Any]]) -> dict[str, Any]:
    """Targets met or not, and ratios against txtai and bm25s (peer / kgloom: > 1 = kgloom ahead)."""
    def get(system: str, step: str, key: str, mode: str | None = None) -> Any:
        for x in lines:
            if x.get("system") == system and x.get("step") == step and x.get("mode") == mode \
                    and not x.get("skipped") and x.get(key) is not None:
                return x[key]
        return None

    kg = {"ingest_wall_s": get("kgloom", "ingest", "wall_s"), "ingest_peak_rss_mb": get("kgloom", "ingest", "peak_rss_mb"),
          "store_mb": get("kgloom", "ingest", "disk_mb"), "open_s": get("kgloom", "open", "open_s"),
          "rss_after_queries_mb": get("kgloom", "query", "rss_after_queries_mb", "hybrid"),
          "hybrid_p50_ms": get("kgloom", "query", "p50_ms", "hybrid"),
          "hybrid_p95_ms": get("kgloom", "query", "p95_ms", "hybrid"),
          "bm25s_identical_share": get("bm25s", "query", "top10_identical_up_to_ties_share", "bm25"),
          "ann_recall_at_10": get("kgloom", "checks", "ann_recall_at_10"),
          "add_s": get("kgloom", "add", "wall_s"), "remove_s": get("kgloom", "remove", "wall_s")}
    met: dict[str, bool | None] = {}
    for k, v in kg.items():
        lim = TARGETS[k]
        met[k] = None if v is None else (v >= lim if k in ("bm25s_identical_share", "ann_recall_at_10") else v <= lim)
    if ctx["encoder"] == "none":  # the target is "with embeddings": not measured by this run
        met["ingest_wall_s"] = None
    f = next((x for x in lines if x.get("step") == "checks" and not x.get("skipped")), {})
    met["filters_inside_every_leg"] = None if not f else all(
        f.get(k) == 1.0 for k in ("filter_hits_in_range_share", "filter_bm25_exact_share")) \
        and f.get("filter_dense_recall_at_10", 0) >= TARGETS["ann_recall_at_10"]
    upd = [x.get("concurrent_queries") or {} for x in lines if x.get("step") in ("add", "remove")]
    met["no_errors_during_updates"] = None if not upd else all(u.get("errors") == 0 and u.get("searches") for u in upd)
    cols = {"ingest_s": ("ingest", "wall_s", None), "peak_rss_ingest_mb": ("ingest", "peak_rss_mb", None),
            "disk_mb": ("ingest", "disk_mb", None), "open_s": ("open", "open_s", None),
            "hybrid_p50_ms": ("query", "p50_ms", "hybrid"), "hybrid_p95_ms": ("query", "p95_ms", "hybrid"),
            "rss_after_queries_mb": ("query", "rss_after_queries_mb", "hybrid")}
    vs_txtai: dict[str, Any] = {}
    for name, (step, key, mode) in cols.items():
        a, b = get("kgloom", step, key, mode), get("txtai", step, key, mode)
        vs_txtai[name] = None if a is None or b is None or not a else round(b / a, 2)
    vs_bm25s = {}
    for key in ("p50_ms", "p95_ms"):
        a, b = get("kgloom", "query", key, "bm25"), get("bm25s", "query", key, "bm25")
        vs_bm25s[f"bm25_{key}"] = None if a is None or b is None or not a else round(b / a, 2)
    vs_lc = {}
    a, b = get("kgloom", "query", "p50_ms", "hybrid"), get("langchain", "query", "p50_ms", "hybrid")
    vs_lc["hybrid_p50_ms"] = None if a is None or b is None or not a else round(b / a, 1)
    return {"system": "all", "step": "summary", "docs": ctx["docs"], "wall_s": round(time.time() - ctx["t0"], 1),
            "cpu_s": None, "peak_rss_mb": None, "loadavg": loadavg(), "encoder": ctx["encoder"],
            "started": ctx["started"], "kgloom": kg, "targets": TARGETS, "targets_at_docs": 1_000_000,
            "met": met, "ratios_vs_txtai": vs_txtai, "ahead_of_txtai": {k: (v > 1 if v is not None else None)
                                                                        for k, v in vs_txtai.items()},
            "ratios_vs_bm25s": vs_bm25s, "ratios_vs_langchain": vs_lc,
            "ratio_note": "peer value / kgloom value: above 1, kgloom is faster or smaller"}


def run(args: argparse.Namespace) -> None:
    systems = [s for s in args.systems.split(",") if s]
    bad = set(systems) - set(SYSTEMS)
    if bad:
        sys.exit(f"unknown systems {sorted(bad)}; known: {', '.join(SYSTEMS)}")
    out = Path(args.out) if Path(args.out).is_absolute() else ROOT / args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    ctx = {"docs": args.docs, "queries": args.queries, "seed": args.seed, "shard_docs": args.shard_docs,
           "add_docs": args.add_docs,
           "encoder_requested": args.encoder, "encoder": args.encoder, "t0": time.time(),
           "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    lines: list[dict[str, Any]] = []

    def emit(batch: list[dict[str, Any]]) -> None:
        with open(out, "a") as fh:
            for line in batch:
                line.setdefault("encoder_requested", args.encoder)
                line.setdefault("cpus", os.cpu_count())
                print(json.dumps(line), flush=True)
                fh.write(json.dumps(line) + "\n")
                lines.append(line)

    tmp = None
    if args.work is None:
        tmp = tempfile.mkdtemp(prefix="kgloom-scale-", dir=args.tmp)
        args.work_dir = Path(tmp)
    else:
        args.work_dir = Path(args.work)
        args.work_dir.mkdir(parents=True, exist_ok=True)
    try:
        emit(child(args, ctx, "generate"))
        if "kgloom" not in systems:
            emit([skipped(ctx, s, "all", "the peers need the kgloom store (its tokens and vectors): "
                                         "add kgloom to --systems") for s in systems])
            return
        got = child(args, ctx, "kgloom-ingest")
        emit(got)
        ctx["encoder"] = next((x["encoder"] for x in got if x.get("step") == "ingest"), args.encoder)
        emit(child(args, ctx, "kgloom-query"))
        if "bm25s" in systems:
            emit(child(args, ctx, "bm25s"))
        if "txtai" in systems:
            emit(child(args, ctx, "txtai-ingest"))
            emit(child(args, ctx, "txtai-query"))
        if "langchain" in systems:
            if args.docs <= 100_000:
                emit(child(args, ctx, "langchain"))
            else:
                emit([skipped(ctx, "langchain", "query", "LangChain runs at <= 100k documents only")])
        emit(child(args, ctx, "kgloom-update"))
        if "neo4j" in systems:
            emit(child(args, ctx, "neo4j"))
        emit([summary(ctx, lines)])
    finally:
        if tmp is not None and not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


# -- the table ---------------------------------------------------------------------------------------------
def markdown(path: Path) -> str:
    """The results table of docs/scale.md: the latest run per (docs, encoder) in ``path``."""
    rows = [json.loads(x) for x in path.read_text().splitlines() if x.startswith("{")]
    runs: dict[tuple[int, str], str] = {}
    for r in rows:
        if r.get("step") == "summary":
            runs[(r["docs"], r["encoder"])] = r["started"]
    out = []
    for (docs, enc), started in sorted(runs.items()):
        sel = [r for r in rows if r.get("started") == started and r.get("step") != "summary"]
        out.append(f"\n**{docs:,} documents, encoder `{enc}`** (run started {started}; load average "
                   f"{sel[0]['loadavg'][0] if sel else '?'} at the start)\n")
        out.append("| system | step | mode | wall s | CPU s | peak RSS MB | disk MB | p50 ms | p95 ms | load | other |")
        out.append("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|")
        for r in sel:
            if r.get("skipped"):
                out.append(f"| {r['system']} | {r['step']} | {r.get('mode') or ''} | | | | | | | "
                           f"{r['loadavg'][0]} | skipped: {r['skipped']} |")
                continue
            other = {k: r[k] for k in ("open_s", "first_query_ms", "rss_after_queries_mb", "ann_recall_at_10",
                                       "top10_identical_share", "top10_identical_up_to_ties_share", "filter_bm25_exact_share",
                                       "filter_dense_recall_at_10", "nodes_per_s", "index_online_s",
                                       "dense_attach_s") if r.get(k) is not None}
            cq = r.get("concurrent_queries")
            if cq:
                other["during"] = (f"{cq.get('searches')} searches, {cq.get('errors')} errors, answers old "
                                   f"{cq.get('old')} / new {cq.get('new')}, search p50 {cq.get('p50_ms')} ms, "
                                   f"max {cq.get('max_ms')} ms, searcher peak RSS {cq.get('querier_peak_rss_mb')} MB")
            if r.get("encoder_note"):
                other["note"] = r["encoder_note"]
            fmt = ", ".join(f"{k} {v}" for k, v in other.items())
            out.append(f"| {r['system']} | {r['step']} | {r.get('mode') or ''} | {_n(r.get('wall_s'))} | "
                       f"{_n(r.get('cpu_s'))} | {_n(r.get('peak_rss_mb'))} | {_n(r.get('disk_mb'))} | "
                       f"{_n(r.get('p50_ms'))} | {_n(r.get('p95_ms'))} | {r['loadavg'][0]} | {fmt} |")
        summ = next(r for r in rows if r.get("started") == started and r.get("step") == "summary")
        flags = dict(summ["met"])
        if enc == "none":  # the ingest target is "with embeddings" (older lines said yes)
            flags["ingest_wall_s"] = None
        met = ", ".join(f"{k} {'yes' if v else ('no' if v is not None else 'n/a')}" for k, v in flags.items())
        out.append(f"\nTargets (set for 1M documents): {met}.  ")
        out.append("Ratios, txtai / kgloom (above 1: kgloom ahead): "
                   + ", ".join(f"{k} {v}" for k, v in summ["ratios_vs_txtai"].items()) + ".  ")
        out.append("bm25s / kgloom: " + ", ".join(f"{k} {v}" for k, v in summ["ratios_vs_bm25s"].items())
                   + "; LangChain / kgloom hybrid p50: " + str(summ["ratios_vs_langchain"]["hybrid_p50_ms"]) + ".")
    return "\n".join(out).strip() + "\n"


def _n(x: Any) -> str:
    return "" if x is None else f"{x:,}" if isinstance(x, int) else f"{x:,.3g}" if abs(x) < 10 else f"{x:,.1f}"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--docs", type=int, default=100_000, help="papers to ingest (plus 1,000 added and removed)")
    ap.add_argument("--systems", default=",".join(SYSTEMS), help=f"comma-separated, of {', '.join(SYSTEMS)}")
    ap.add_argument("--encoder", choices=("auto", "teacher", "none"), default="auto",
                    help="kgloom's document encoder: auto (kg ingest --encoder auto), teacher (MiniLM), "
                         "none (generated vectors)")
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--shard-docs", type=int, default=10_000, help="papers per JSONL file")
    ap.add_argument("--add-docs", type=int, default=1000, help="papers in the file added and removed")
    ap.add_argument("--out", default="benchmarks/results/scale.jsonl")
    ap.add_argument("--tmp", default=None, help="folder for the temporary work folder")
    ap.add_argument("--work", default=None, help="work folder to use and keep (default: a temporary one)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary work folder")
    ap.add_argument("--blas-one", action="store_true", help="one BLAS/OpenMP thread in every step")
    ap.add_argument("--markdown", action="store_true", help="print the results table of --out and exit")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--ctx", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--stop", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.markdown:
        out = Path(args.out) if Path(args.out).is_absolute() else ROOT / args.out
        print(markdown(out), end="")
        return
    if args.child == "querier":
        querier(Work(Path(args.work)), Path(args.stop))
        return
    if args.child is not None:
        ctx = json.loads(args.ctx)
        for line in CHILDREN[args.child](ctx, Work(Path(args.work))):
            print(json.dumps(line), flush=True)
        return
    run(args)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with contextlib.suppress(KeyboardInterrupt):
        main()
