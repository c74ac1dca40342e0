"""End-to-end query latency of ``KnowledgeGraph.search`` per mode, against LangChain and rank-bm25.

For each corpus size the seeded synthetic corpus of ``benchmarks/synth_corpus.py`` is generated (realistic text: a Zipfian vocabulary
of real SciFact words extended with pseudo-words, 120-200 words per abstract, 256 latent topics,
authors, years, keywords and same-topic citations), written as a BEIR ``corpus.jsonl`` and
ingested with ``g.ingest(path, embed=False)`` into a temporary store (this builds the BM25 leg).
The store then gets a dense leg of generated 384-d unit vectors (topic centroid + noise, so every
query has real near neighbours) without running the model: a ``retrieval.dense.DenseIndex``
aligned to the index rows, saved with the index (HNSW is built on save at >= 50k rows). The
store is then re-opened the way a user would open it (legs memory-mapped) and its encoder is
replaced by a stub returning precomputed query vectors, so the kgloom latencies exclude query
encoding; query encoding is timed separately with the real MiniLM (``query_encode_p50_ms``).

Peers on the same corpus, the same vectors and the same queries (timed in the same process):

* LangChain: ``EnsembleRetriever([BM25Retriever.from_texts(texts, k=10),
  InMemoryVectorStore(...).as_retriever(search_kwargs={"k": 10})], weights=[0.5, 0.5])``, the vector
  store fed by an ``Embeddings`` class that looks the precomputed vectors up by text and returns
  them as ``list[float]``, as LangChain's ``Embeddings`` interface (and e.g. HuggingFaceEmbeddings)
  does (``--lc-vectors numpy`` hands it numpy float32 rows instead, a shortcut that makes its
  vector store about 5x faster at 100k; every line records ``langchain_vectors``). ``BM25Retriever`` runs as documented (``str.split`` preprocessing) and,
  reported beside it (``langchain_kgloom_tokens_p50_ms``), with kgloom's tokenizer: fewer query
  terms, so faster.
* rank-bm25: ``BM25Okapi`` on kgloom's tokens, ``get_scores`` + ``argpartition`` for the top 10.

kgloom runs every mode on every query, the mode order rotating per query. Latencies are wall
times of ``g.search(q, k=10, mode=...)`` less its (stub) encode time; ``cpu_p50_ms`` is the
process CPU time of the same calls, which a loaded machine inflates far less than wall time
(peers get it too: ``langchain_cpu_p50_ms``, ``speedup_vs_langchain_cpu``). ``breakdown_p50_ms``
splits a search by ``SearchResult.timings_ms`` (``rest``: building the hits, ``outside``: the
call around ``hybrid.search``).

Each size runs in a child process (so peak RSS is per size). One JSON line per configuration is
printed and written to ``--out``; ``speedup_vs_langchain`` is LangChain's p50 for the same kind of
search over kgloom's p50 (the ensemble for the hybrid modes). Also reported: MiniLM ingest
embedding throughput on 500 SciFact abstracts (``config: embed_throughput``), single-query
encoding latency (``config: query_encode``), build times and peak RSS (``config: build``), and
whether the targets were met at 100k (``config: targets``). 1M documents run only when the 100k
run suggests they fit (``--million``); otherwise a ``config: skipped`` line says why.

    .venv/bin/python benchmarks/query_latency.py --sizes 10000,100000 --queries 200 --peer-queries 20

Needs ``langchain-core``, ``langchain-community``, ``langchain-classic`` and ``rank-bm25`` for the
peers (``--no-peers`` skips them) and the embeddings extra for the model lines (``--no-model``).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
# benchmarks/ingest.py would shadow the ``ingest`` package: keep this folder off the import path
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))

sys.path.insert(1, str(Path(__file__).resolve().parent))  # after ROOT, for synth_corpus only

from synth_corpus import DATASET, DIM, SCIFACT, Corpus, PrecomputedEncoder  # noqa: E402  (the shared generator)

MODES = ("bm25", "dense", "hybrid", "hybrid+graph")


# -- helpers ---------------------------------------------------------------------------------------
def log(msg: str) -> None:
    print(f"[query_latency {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def pct(ms: list[float]) -> dict[str, float]:
    a = np.asarray(ms, dtype=np.float64)
    return {"p50_ms": round(float(np.percentile(a, 50)), 3), "p95_ms": round(float(np.percentile(a, 95)), 3)}


def p50(ms: list[float]) -> float:
    return round(float(np.percentile(np.asarray(ms, dtype=np.float64), 50)), 3)


def mem_available_mb() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


# -- stubs -----------------------------------------------------------------------------------------
def lookup_embeddings(doc_rows: dict[str, int], vectors: np.ndarray, queries: dict[str, np.ndarray],
                      as_lists: bool) -> Any:
    """A LangChain ``Embeddings`` returning the precomputed vectors (by text)."""
    from langchain_core.embeddings import Embeddings

    class Lookup(Embeddings):
        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            rows = [vectors[doc_rows[t]] for t in texts]
            return [r.tolist() for r in rows] if as_lists else rows  # type: ignore[return-value]

        def embed_query(self, text: str) -> list[float]:
            q = queries[text]
            return q.tolist() if as_lists else q  # type: ignore[return-value]

    return Lookup()


# -- one size --------------------------------------------------------------------------------------
def aligned_vectors(idx: Any, corpus: Corpus) -> np.ndarray:
    """Corpus vectors in index-row order (rows are sorted by node id, not corpus order)."""
    order = np.empty(len(idx.rows), dtype=np.int64)
    for r, info in enumerate(idx.rows):
        order[r] = int(info.id.rsplit(":", 1)[1])  # paper:beir:synth:<_id>
    return corpus.vectors[order]


def time_kgloom(g: Any, queries: list[str]) -> dict[str, dict[str, Any]]:
    """Every mode on every query, the mode order rotating per query (so no mode always runs first
    on a query's postings and nodes). Wall and process-CPU times per search, less the (stub) encode."""
    for q in queries[:10]:  # warm-up (page cache, numpy/usearch code paths)
        for mode in MODES:
            g.search(q, k=10, mode=mode)
    keys = ("load", "bm25", "dense", "fuse", "encode")
    acc = {m: {"wall": [], "cpu": [], "hits": 0, **{k: [] for k in (*keys, "rest", "outside")}} for m in MODES}
    for i, q in enumerate(queries):
        for j in range(len(MODES)):
            mode = MODES[(i + j) % len(MODES)]
            a = acc[mode]
            c = time.process_time()
            t = time.perf_counter()
            res = g.search(q, k=10, mode=mode)
            ms = (time.perf_counter() - t) * 1000
            cpu = (time.process_time() - c) * 1000
            tm = res.timings_ms
            enc = tm.get("encode", 0.0)
            a["wall"].append(ms - enc)
            a["cpu"].append(max(0.0, cpu - enc))
            for key in keys:
                a[key].append(tm.get(key, 0.0))
            a["rest"].append(tm["total"] - sum(tm.get(k, 0.0) for k in keys))  # hits: get_nodes + Hit
            a["outside"].append(ms - tm["total"])
            a["hits"] += len(res.hits)
    out: dict[str, dict[str, Any]] = {}
    for mode, a in acc.items():
        out[mode] = {**pct(a["wall"]), "mean_ms": round(float(np.mean(a["wall"])), 3),
                     "cpu_p50_ms": p50(a["cpu"]), "cpu_p95_ms": pct(a["cpu"])["p95_ms"],
                     "breakdown_p50_ms": {k: p50(a[k]) for k in (*keys, "rest", "outside") if any(a[k])},
                     "mean_hits": round(a["hits"] / len(queries), 2), "_wall": a["wall"], "_cpu": a["cpu"]}
    return out


def run_size(args: argparse.Namespace, n: int) -> list[dict[str, Any]]:
    from kg.graph import KnowledgeGraph
    from retrieval.dense import DenseIndex

    t_start = time.perf_counter()
    lines: list[dict[str, Any]] = []
    peers = not args.no_peers and n <= args.peers_max_docs
    n_peer = args.peer_queries if n >= 100_000 else min(args.queries, int(args.peer_queries * 100_000 / n))
    with tempfile.TemporaryDirectory(prefix="kgloom-ql-", dir=args.tmp) as tmp:
        log(f"{n} docs: generating corpus")
        corpus = Corpus(n, args.queries, args.seed, Path(tmp) / DATASET, keep_texts=peers)
        log(f"{n} docs: generated in {corpus.gen_s:.1f}s; ingesting")
        store = Path(tmp) / "store"
        g = KnowledgeGraph.open(store)
        t = time.perf_counter()
        g.ingest(corpus.path, embed=False)
        ingest_s = time.perf_counter() - t
        idx = g.search_index()
        assert idx is not None and len(idx.rows) == n, (None if idx is None else len(idx.rows))
        stats = g.stats()
        log(f"{n} docs: ingested in {ingest_s:.1f}s; building the dense leg")
        t = time.perf_counter()
        dense = DenseIndex(dim=DIM, encoder="minilm")
        dense.add(aligned_vectors(idx, corpus))
        idx.dense = dense
        idx.manifest["dense"] = True
        idx.save()  # builds the HNSW graph at >= exact_threshold rows
        dense_s = time.perf_counter() - t
        has_ann = dense.has_ann
        g.close()
        del idx, dense, g
        gc.collect()
        # open the store as a user would: legs memory-mapped, index loaded on first use
        t = time.perf_counter()
        g = KnowledgeGraph.open(store)
        sidx = g.search_index()  # loads the index files
        assert sidx is not None
        sidx._encoder = PrecomputedEncoder(corpus.query_vectors)
        open_ms = (time.perf_counter() - t) * 1000
        t = time.perf_counter()
        g.search(corpus.queries[0], k=10, mode="hybrid")
        first_ms = (time.perf_counter() - t) * 1000
        log(f"{n} docs: dense leg in {dense_s:.1f}s (hnsw={has_ann}); timing kgloom")
        res = time_kgloom(g, corpus.queries)
        for mode in MODES:
            log(f"{n} docs: kgloom {mode} p50 {res[mode]['p50_ms']} ms p95 {res[mode]['p95_ms']} ms "
                f"(cpu p50 {res[mode]['cpu_p50_ms']} ms)")
        kg_rss = peak_rss_mb()
        lavg = loadavg()
        peer: dict[str, Any] = {}
        if peers:
            peer = time_peers(args, corpus, n_peer)
        for mode in MODES:
            r = res[mode]
            wall = r.pop("_wall")
            r.pop("_cpu")
            line: dict[str, Any] = {"config": "query_latency", "docs": n, "mode": mode, "p50_ms": r["p50_ms"],
                                    "p95_ms": r["p95_ms"], "mean_ms": r["mean_ms"], "cpu_p50_ms": r["cpu_p50_ms"],
                                    "cpu_p95_ms": r["cpu_p95_ms"], "queries": len(wall),
                                    "excludes_query_encoding": True}
            lc_key = {"bm25": "lc_bm25", "dense": "lc_dense"}.get(mode, "lc_ensemble")
            if peer:
                lc = peer[lc_key]
                line.update({
                    "langchain_p50_ms": lc["p50_ms"], "langchain_p95_ms": lc["p95_ms"],
                    "langchain_retriever": {"lc_bm25": "BM25Retriever", "lc_dense": "InMemoryVectorStore",
                                            "lc_ensemble": "EnsembleRetriever"}[lc_key],
                    "langchain_vectors": args.lc_vectors,
                    "rank_bm25_p50_ms": peer["rank_bm25"]["p50_ms"],
                    "speedup_vs_langchain": round(lc["p50_ms"] / r["p50_ms"], 1),
                    "speedup_vs_langchain_cpu": round(lc["cpu_p50_ms"] / max(r["cpu_p50_ms"], 1e-3), 1),
                    "langchain_cpu_p50_ms": lc["cpu_p50_ms"],
                    "p50_ms_on_peer_queries": p50(wall[:n_peer]),
                    "speedup_vs_langchain_same_queries": round(lc["p50_ms"] / p50(wall[:n_peer]), 1),
                    "langchain_ensemble_p50_ms": peer["lc_ensemble"]["p50_ms"],
                    "peer_queries": n_peer,
                })
                if mode != "dense":  # LangChain BM25 with kgloom's tokenizer: fewer terms, faster
                    kt = peer[lc_key + "_kgtok"]
                    line["langchain_kgloom_tokens_p50_ms"] = kt["p50_ms"]
                    line["speedup_vs_langchain_kgloom_tokens"] = round(kt["p50_ms"] / r["p50_ms"], 1)
                if mode == "bm25":
                    rb = peer["rank_bm25"]
                    line["speedup_vs_rank_bm25"] = round(rb["p50_ms"] / r["p50_ms"], 1)
                    line["speedup_vs_rank_bm25_cpu"] = round(rb["cpu_p50_ms"] / max(r["cpu_p50_ms"], 1e-3), 1)
            else:
                line.update({"langchain_p50_ms": None, "rank_bm25_p50_ms": None, "speedup_vs_langchain": None,
                             "peers_skipped": "--no-peers" if args.no_peers else
                             f"docs > --peers-max-docs {args.peers_max_docs}"})
            line.update({"breakdown_p50_ms": r["breakdown_p50_ms"], "mean_hits": r["mean_hits"],
                         "dense_path": "hnsw" if has_ann else "exact",
                         "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS", "default"),
                         "loadavg": lavg})
            lines.append(line)
        lines.append({"config": "build", "docs": n, "corpus_gen_s": round(corpus.gen_s, 1),
                      "ingest_s": round(ingest_s, 1), "ingest_docs_per_s": round(n / ingest_s, 1),
                      "dense_leg_build_s": round(dense_s, 1), "hnsw": has_ann,
                      "store_mb": round(sum(p.stat().st_size for p in store.rglob("*") if p.is_file()) / 2**20, 1),
                      "nodes": sum(stats.get("nodes", {}).values()) if isinstance(stats.get("nodes"), dict) else None,
                      "edges": sum(stats.get("edges", {}).values()) if isinstance(stats.get("edges"), dict) else None,
                      "open_ms": round(open_ms, 1), "first_query_ms": round(first_ms, 1),
                      "peak_rss_mb_kgloom_phase": kg_rss, "peak_rss_mb": peak_rss_mb(),
                      "peer_build_s": peer.get("build_s"), "elapsed_s": round(time.perf_counter() - t_start, 1),
                      "loadavg": loadavg()})
        g.close()
    return lines


def timed(fn: Any, queries: list[str], warm: int = 2) -> dict[str, Any]:
    """Wall and process-CPU p50/p95 (ms) of ``fn`` over ``queries`` (``warm`` untimed calls first)."""
    for q in queries[:warm]:
        fn(q)
    wall, cpu = [], []
    for q in queries:
        c = time.process_time()
        t = time.perf_counter()
        got = fn(q)
        wall.append((time.perf_counter() - t) * 1000)
        cpu.append((time.process_time() - c) * 1000)
        assert got is not None and len(got) > 0
    return {**pct(wall), "cpu_p50_ms": p50(cpu)}


def time_peers(args: argparse.Namespace, corpus: Corpus, n_peer: int) -> dict[str, Any]:
    import rank_bm25
    from langchain_community.retrievers import BM25Retriever
    from langchain_core.documents import Document
    from langchain_core.vectorstores import InMemoryVectorStore

    try:
        from langchain_classic.retrievers import EnsembleRetriever
    except ImportError:  # langchain < 1.0
        from langchain.retrievers import EnsembleRetriever  # type: ignore[no-redef]
    from retrieval.tokenize import Tokenizer

    n = corpus.n
    texts = corpus.texts
    queries = corpus.queries[:n_peer]
    out: dict[str, Any] = {}
    log(f"{n} docs: building peers (rank-bm25, LangChain)")
    t = time.perf_counter()
    tok = Tokenizer()
    okapi = rank_bm25.BM25Okapi(tok.tokenize_many(texts))  # kgloom's tokens
    rb_build = time.perf_counter() - t

    def rank_bm25_top10(q: str) -> np.ndarray:
        s = okapi.get_scores(tok.tokenize(q))
        top = np.argpartition(-s, 10)[:10]
        return top[np.argsort(-s[top])]

    out["rank_bm25"] = {**timed(rank_bm25_top10, queries), "build_s": round(rb_build, 1)}
    log(f"{n} docs: rank-bm25 p50 {out['rank_bm25']['p50_ms']} ms")
    t = time.perf_counter()
    ids = [str(i) for i in range(n)]
    # LangChain as documented: BM25Retriever.from_texts (its default str.split preprocessing) ...
    lc_bm25 = BM25Retriever.from_texts(texts, ids=ids, k=10)
    # ... and with kgloom's tokens (sharing the BM25Okapi above: what from_texts(...,
    # preprocess_func=tok.tokenize) builds); fewer query terms, so faster
    docs = [Document(page_content=x, id=i) for x, i in zip(texts, ids, strict=True)]
    lc_bm25_kt = BM25Retriever(vectorizer=okapi, docs=docs, k=10, preprocess_func=tok.tokenize)
    emb = lookup_embeddings({x: i for i, x in enumerate(texts)}, corpus.vectors, corpus.query_vectors,
                            as_lists=args.lc_vectors == "list")
    store = InMemoryVectorStore(embedding=emb)
    for s in range(0, n, 10_000):
        store.add_documents(docs[s : s + 10_000], ids=ids[s : s + 10_000])
    lc_dense = store.as_retriever(search_kwargs={"k": 10})
    ens = EnsembleRetriever(retrievers=[lc_bm25, lc_dense], weights=[0.5, 0.5])
    ens_kt = EnsembleRetriever(retrievers=[lc_bm25_kt, lc_dense], weights=[0.5, 0.5])
    out["build_s"] = round(rb_build + time.perf_counter() - t, 1)
    for key, ret in (("lc_bm25", lc_bm25), ("lc_bm25_kgtok", lc_bm25_kt), ("lc_dense", lc_dense),
                     ("lc_ensemble", ens), ("lc_ensemble_kgtok", ens_kt)):
        out[key] = timed(ret.invoke, queries)
        log(f"{n} docs: LangChain {key} p50 {out[key]['p50_ms']} ms")
    return out


# -- the model -------------------------------------------------------------------------------------
def run_model(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Real MiniLM: single-query encoding latency and ingest embedding throughput."""
    from retrieval.encoder import available_cpus, load_encoder

    t = time.perf_counter()
    enc = load_encoder("minilm")
    load_s = time.perf_counter() - t
    import torch

    queries = [json.loads(x)["text"] for x in (SCIFACT / "queries.jsonl").open()][: args.encode_queries + 2]
    for q in queries[:2]:
        enc.encode_query(q)
    times = []
    for q in queries[2:]:
        t = time.perf_counter()
        enc.encode_query(q)
        times.append((time.perf_counter() - t) * 1000)
    qline = {"config": "query_encode", "encoder": enc.name, "queries": len(times),
             "query_encode_p50_ms": p50(times), "query_encode_p95_ms": pct(times)["p95_ms"],
             "mean_query_chars": round(float(np.mean([len(q) for q in queries[2:]])), 1),
             "torch_threads": torch.get_num_threads(), "cpus": available_cpus(), "loadavg": loadavg()}
    recs = [json.loads(x) for x in (SCIFACT / "corpus.jsonl").open()][: args.embed_docs]
    texts = [f"{d.get('title', '')}\n{d.get('text', '')}".strip() for d in recs]  # as node_text
    enc.encode(texts[:32])  # warm-up
    t = time.perf_counter()
    vecs = enc.encode(texts)
    dt = time.perf_counter() - t
    eline = {"config": "embed_throughput", "encoder": enc.name, "docs": len(texts),
             "docs_per_s": round(len(texts) / dt, 1), "seconds": round(dt, 2), "batch_size": 64,
             "mean_chars": round(float(np.mean([len(x) for x in texts])), 1), "shape": list(vecs.shape),
             "model_load_s": round(load_s, 2), "torch_threads": torch.get_num_threads(),
             "cpus": available_cpus(), "peak_rss_mb": peak_rss_mb(), "loadavg": loadavg()}
    return [qline, eline]


# -- driver ----------------------------------------------------------------------------------------
def child(args: argparse.Namespace, argv: list[str], what: str) -> list[dict[str, Any]]:
    """Run one part in a fresh interpreter; returns its JSON lines (stderr passes through)."""
    cmd = [sys.executable, str(Path(__file__).resolve()), *argv, "--child", what]
    env = dict(os.environ)
    if args.blas_threads and what != "model":  # torch sizes its own pool (encoder.py)
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            env[var] = str(args.blas_threads)
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, env=env)
    lines = [json.loads(x) for x in proc.stdout.splitlines() if x.startswith("{")]
    if proc.returncode != 0:
        lines.append({"config": "error", "part": what, "returncode": proc.returncode})
    return lines


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000,100000", help="comma-separated corpus sizes")
    ap.add_argument("--queries", type=int, default=200, help="kgloom queries per mode")
    ap.add_argument("--peer-queries", type=int, default=20,
                    help="LangChain / rank-bm25 queries at >= 100k docs (scaled up for smaller corpora)")
    ap.add_argument("--out", default="benchmarks/results/query_latency.jsonl")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--million", choices=("auto", "yes", "no"), default="auto",
                    help="also run 1M docs: auto = when the 100k run peaked under 4 GB and the "
                         "estimate fits in memory and --max-1m-minutes")
    ap.add_argument("--max-1m-minutes", type=float, default=40.0)
    ap.add_argument("--peers-max-docs", type=int, default=100_000, help="no peers above this size")
    ap.add_argument("--no-peers", action="store_true")
    ap.add_argument("--no-model", action="store_true", help="skip the real-MiniLM lines")
    ap.add_argument("--lc-vectors", choices=("list", "numpy"), default="list",
                    help="vectors LangChain's InMemoryVectorStore gets: list[float], as Embeddings "
                         "return them (default), or numpy float32 rows (faster for LangChain)")
    ap.add_argument("--encode-queries", type=int, default=50)
    ap.add_argument("--embed-docs", type=int, default=500)
    ap.add_argument("--blas-threads", type=int, default=0,
                    help="cap OpenBLAS/OpenMP threads in the corpus-size runs (0: library default); "
                         "a threaded mat-vec under CPU contention costs far more than a 1-thread one")
    ap.add_argument("--tmp", default=None, help="folder for the temporary corpora and stores")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    raw = sys.argv[1:] if argv is None else argv
    args = ap.parse_args(raw)
    if args.child is not None:
        lines = run_model(args) if args.child == "model" else run_size(args, int(args.child))
        for line in lines:
            print(json.dumps(line), flush=True)
        return
    base = [a for i, a in enumerate(raw) if a != "--child" and (i == 0 or raw[i - 1] != "--child")]
    out = Path(args.out)
    if not out.is_absolute():
        out = ROOT / out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("")
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    env = {"config": "environment", "cpus": os.cpu_count(), "loadavg": loadavg(),
           "mem_available_mb": round(mem_available_mb()), "python": sys.version.split()[0],
           "started": time.strftime("%Y-%m-%dT%H:%M:%S")}

    def emit(line: dict[str, Any]) -> None:
        print(json.dumps(line), flush=True)
        with open(out, "a") as fh:
            fh.write(json.dumps(line) + "\n")

    emit(env)
    enc_p50 = None
    if not args.no_model:
        for line in child(args, base, "model"):
            emit(line)
            if line.get("config") == "query_encode":
                enc_p50 = line["query_encode_p50_ms"]
    results: dict[int, list[dict[str, Any]]] = {}
    plan = list(sizes)
    if args.million == "yes" and 1_000_000 not in plan:
        plan.append(1_000_000)
    for n in plan:
        for line in child(args, base, str(n)):
            if line.get("config") == "query_latency" and enc_p50 is not None:
                line["query_encode_p50_ms"] = enc_p50
                if line["mode"] != "bm25":
                    line["p50_ms_with_query_encode"] = round(line["p50_ms"] + enc_p50, 3)
            emit(line)
            results.setdefault(n, []).append(line)
    if args.million == "auto" and 1_000_000 not in plan:
        b = next((x for x in results.get(100_000, []) if x.get("config") == "build"), None)
        why = None
        if b is None:
            why = "no 100k run to extrapolate from (add 100000 to --sizes)"
        else:
            est_gb = b["peak_rss_mb_kgloom_phase"] * 10 / 1024
            est_min = b["elapsed_s"] * 10 / 60
            if b["peak_rss_mb"] >= 4096:
                why = f"the 100k run peaked at {b['peak_rss_mb']} MB RSS (>= 4 GB)"
            elif est_gb * 1024 > 0.7 * mem_available_mb():
                why = (f"estimated {est_gb:.1f} GB for 1M (10x the 100k kgloom phase) exceeds 70% of the "
                       f"{mem_available_mb() / 1024:.1f} GB available now")
            elif est_min > args.max_1m_minutes:
                why = f"estimated {est_min:.0f} min for 1M (10x the 100k run) > --max-1m-minutes {args.max_1m_minutes}"
        if why:
            emit({"config": "skipped", "docs": 1_000_000, "reason": why, "loadavg": loadavg()})
        else:
            for line in child(args, base, "1000000"):
                emit(line)
                results.setdefault(1_000_000, []).append(line)
    # the targets
    h = next((x for x in results.get(100_000, []) if x.get("mode") == "hybrid"), None)
    if h is not None:
        emit({"config": "targets", "docs": 100_000, "hybrid_p50_ms": h["p50_ms"],
              "hybrid_p50_target_ms": 5.0, "hybrid_p50_met": h["p50_ms"] <= 5.0,
              "speedup_vs_langchain": h.get("speedup_vs_langchain"), "speedup_target": 200,
              "speedup_met": None if h.get("speedup_vs_langchain") is None else h["speedup_vs_langchain"] >= 200,
              "hybrid_cpu_p50_ms": h["cpu_p50_ms"], "speedup_vs_langchain_cpu": h.get("speedup_vs_langchain_cpu"),
              "loadavg": loadavg()})


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
