"""Speed of the dense leg on this machine: MiniLM encoding, exact search, HNSW search and recall.

Prints one JSON object per measurement and writes them all to ``benchmarks/results/dense_speed.jsonl``
(overwritten each run)::

    .venv/bin/python benchmarks/dense_speed.py            # everything, 1M only if it fits the budget
    .venv/bin/python benchmarks/dense_speed.py --no-model # vector search only

Search latencies are single-query wall times in milliseconds (p50/p95 over ``--queries`` queries).
Each line carries the 1-minute load average: compare numbers only between quiet runs.
"Random" vectors are i.i.d. Gaussian, normalised: the hardest case for HNSW recall. "Clustered"
vectors live near a 32-d subspace, which is closer to how text embeddings behave. "minilm-scifact-
sentences" are real MiniLM vectors of the sentences of SciFact's abstracts, queried with SciFact's
1,109 queries (``--real-only`` runs just that and appends its line instead of rewriting the file;
the vectors are cached under ``~/.cache/kgloom/bench``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from retrieval.dense import DenseConfig, DenseIndex, ann_recall_at_10  # noqa: E402
from retrieval.encoder import available_cpus  # noqa: E402

DIM = 384
SCIFACT = REPO.parent / "shared" / "eval" / "scifact"


def emit(rows: list[dict[str, Any]], row: dict[str, Any]) -> None:
    """Print one result line (with the 1-minute load average) and keep it for the results file."""
    row["load_avg_1m"] = round(os.getloadavg()[0], 2)  # other work on the box skews wall times
    rows.append(row)
    print(json.dumps(row), flush=True)


def pct(times: list[float]) -> dict[str, float]:
    """p50/p95 of ``times`` (seconds) in milliseconds."""
    a = np.asarray(times) * 1000
    return {"p50_ms": round(float(np.percentile(a, 50)), 3), "p95_ms": round(float(np.percentile(a, 95)), 3)}


def timed(fn: Callable[[np.ndarray], object], queries: np.ndarray) -> dict[str, float]:
    """Latency of ``fn`` over each query (two warm-up calls first)."""
    for q in queries[:2]:
        fn(q)
    out = []
    for q in queries:
        t = time.perf_counter()
        fn(q)
        out.append(time.perf_counter() - t)
    return pct(out)


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def random_vectors(n: int, seed: int) -> np.ndarray:
    """i.i.d. Gaussian unit vectors, generated in blocks to bound peak memory."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, DIM), dtype=np.float32)
    for s in range(0, n, 100_000):
        out[s : s + 100_000] = unit(rng.standard_normal((min(100_000, n - s), DIM), dtype=np.float32))
    return out


def clustered_vectors(n: int, seed: int) -> np.ndarray:
    """Unit vectors in 100 clusters near a random 32-d subspace, plus isotropic noise."""
    rng = np.random.default_rng(seed)
    proj = rng.standard_normal((32, DIM)).astype(np.float32)
    centres = 2.0 * rng.standard_normal((100, 32)).astype(np.float32)
    z = centres[rng.integers(0, 100, n)] + rng.standard_normal((n, 32)).astype(np.float32)
    return unit(z @ proj + 0.3 * rng.standard_normal((n, DIM)).astype(np.float32))


def near(vecs: np.ndarray, m: int, seed: int) -> np.ndarray:
    """Queries: perturbed copies of stored vectors (so each has real near neighbours)."""
    rng = np.random.default_rng(seed)
    base = vecs[rng.integers(0, len(vecs), m)]
    return unit(base + 0.05 * rng.standard_normal(base.shape).astype(np.float32))


def bench_model(rows: list[dict[str, Any]], docs: int, batch: int) -> None:
    from retrieval.encoder import MiniLMEncoder

    corpus = [json.loads(line) for line in (SCIFACT / "corpus.jsonl").open()][:docs]
    texts = [f"{d.get('title', '')}\n{d.get('text', '')}".strip() for d in corpus]
    queries = [json.loads(line)["text"] for line in (SCIFACT / "queries.jsonl").open()][:52]
    t = time.perf_counter()
    enc = MiniLMEncoder()
    load_s = time.perf_counter() - t
    import torch

    enc.encode(texts[:batch], batch_size=batch)  # warm-up
    t = time.perf_counter()
    vecs = enc.encode(texts, batch_size=batch)
    dt = time.perf_counter() - t
    emit(rows, {"bench": "minilm_encode", "docs": len(texts), "batch_size": batch,
                "docs_per_s": round(len(texts) / dt, 1), "seconds": round(dt, 2),
                "load_s": round(load_s, 2), "torch_threads": torch.get_num_threads(),
                "mean_chars": round(float(np.mean([len(x) for x in texts])), 1), "shape": list(vecs.shape)})
    for q in queries[:2]:
        enc.encode_query(q)
    times = []
    for q in queries[2:52]:
        t = time.perf_counter()
        enc.encode_query(q)
        times.append(time.perf_counter() - t)
    emit(rows, {"bench": "minilm_query", "queries": len(times), **pct(times)})


def bench_exact(rows: list[dict[str, Any]], n: int, m: int) -> None:
    vecs = random_vectors(n, seed=n)
    idx = DenseIndex(dim=DIM, config=DenseConfig(exact_threshold=n + 1))
    idx.add(vecs)
    del vecs
    qs = near(idx.vectors, m, seed=1)
    emit(rows, {"bench": "exact_search", "rows": n, "k": 10, "queries": m,
                **timed(lambda q: idx.search_exact(q, 10), qs)})
    mask = np.random.default_rng(2).random(n) < 0.1
    emit(rows, {"bench": "exact_search_masked", "rows": n, "kept_fraction": 0.1, "k": 10,
                **timed(lambda q: idx.search_exact(q, 10, mask=mask), qs)})


def bench_ann(rows: list[dict[str, Any]], n: int, m: int, kind: str) -> float:
    """Build + query an HNSW index over ``n`` vectors; returns the build time in seconds."""
    vecs = random_vectors(n, seed=n) if kind == "random" else clustered_vectors(n, seed=n)
    cfg = DenseConfig()
    idx = DenseIndex(dim=DIM, config=cfg)
    idx.add(vecs)
    del vecs
    t = time.perf_counter()
    idx.build_ann()
    build = time.perf_counter() - t
    qs = near(idx.vectors, m, seed=3)
    lat = timed(lambda q: idx.search_ann(q, 10), qs)
    recall = ann_recall_at_10(idx, qs)
    exact = timed(lambda q: idx.search_exact(q, 10), qs[: min(m, 50)])
    emit(rows, {"bench": "ann_search", "vectors": kind, "rows": n, "k": 10, "queries": m, **lat,
                "recall_at_10": round(recall, 4), "build_s": round(build, 1),
                "exact_p50_ms_same_data": exact["p50_ms"], "connectivity": cfg.connectivity,
                "expansion_add": cfg.expansion_add, "expansion_search": cfg.expansion_search})
    for frac in (0.5, 0.01):
        mask = np.random.default_rng(4).random(n) < frac

        def masked(q: np.ndarray, mask: np.ndarray = mask) -> object:
            return idx.search(q, 10, mask=mask)

        emit(rows, {"bench": "ann_search_masked", "vectors": kind, "rows": n, "kept_fraction": frac,
                    **timed(masked, qs[: min(m, 100)])})
    return build


def scifact_sentences(limit: int) -> list[str]:
    """Distinct sentences (>= 5 words) of SciFact's titles and abstracts, in corpus order."""
    seen: dict[str, None] = {}
    for line in (SCIFACT / "corpus.jsonl").open():
        d = json.loads(line)
        for part in [d.get("title", ""), *str(d.get("text", "")).split(". ")]:
            part = part.strip()
            if len(part.split()) >= 5:
                seen.setdefault(part, None)
        if len(seen) >= limit:
            break
    return list(seen)[:limit]


def bench_real_ann(rows: list[dict[str, Any]], n: int) -> None:
    """HNSW recall@10 and latency on real MiniLM vectors (SciFact sentences), queries = SciFact's."""
    from retrieval.encoder import MiniLMEncoder

    texts = scifact_sentences(n)
    cache = Path.home() / ".cache" / "kgloom" / "bench" / f"scifact-sentences-{len(texts)}.npy"
    queries = [json.loads(line)["text"] for line in (SCIFACT / "queries.jsonl").open()]
    enc = MiniLMEncoder()
    t = time.perf_counter()
    if cache.exists():
        vecs = np.load(cache)
    else:
        vecs = enc.encode(texts, batch_size=128)
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.save(cache, vecs)
    encode_s = time.perf_counter() - t
    qs = enc.encode(queries, batch_size=128)
    cfg = DenseConfig(exact_threshold=1)
    idx = DenseIndex(dim=DIM, encoder="minilm", config=cfg)
    idx.add(vecs)
    t = time.perf_counter()
    idx.build_ann()
    build = time.perf_counter() - t
    recall = ann_recall_at_10(idx, qs)
    emit(rows, {"bench": "ann_search", "vectors": "minilm-scifact-sentences", "rows": len(texts), "k": 10,
                "queries": len(qs), **timed(lambda q: idx.search(q, 10), qs), "recall_at_10": round(recall, 4),
                "build_s": round(build, 1), "encode_s": round(encode_s, 1),
                "exact_p50_ms_same_data": timed(lambda q: idx.search_exact(q, 10), qs)["p50_ms"],
                "connectivity": cfg.connectivity, "expansion_add": cfg.expansion_add,
                "expansion_search": cfg.expansion_search})


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=500)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--no-model", action="store_true", help="skip the MiniLM measurements")
    ap.add_argument("--max-build-s", type=float, default=600.0,
                    help="skip the 1M HNSW build when the 100k build projects above this")
    ap.add_argument("--real-only", action="store_true", help="only the real-MiniLM-vector HNSW line (appended)")
    ap.add_argument("--real-rows", type=int, default=50_000, help="SciFact sentences for the real-vector line")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "dense_speed.jsonl")
    args = ap.parse_args(argv)
    if args.real_only:
        real: list[dict[str, Any]] = []
        bench_real_ann(real, args.real_rows)
        with args.out.open("a") as fh:
            fh.write("".join(json.dumps(r) + "\n" for r in real))
        return

    import usearch

    rows: list[dict[str, Any]] = []
    emit(rows, {"bench": "machine", "cpus": available_cpus(), "python": platform.python_version(),
                "numpy": np.__version__, "usearch": usearch.__version__,
                "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE"),
                "date": time.strftime("%Y-%m-%dT%H:%M:%S")})
    if not args.no_model:
        if (SCIFACT / "corpus.jsonl").exists():
            bench_model(rows, args.docs, args.batch_size)
        else:
            emit(rows, {"bench": "minilm_encode", "skipped": f"no corpus at {SCIFACT}"})
    for n in (10_000, 100_000):
        bench_exact(rows, n, args.queries)
    build_100k = bench_ann(rows, 100_000, args.queries, "random")
    bench_ann(rows, 100_000, args.queries, "clustered")
    if not args.no_model and (SCIFACT / "corpus.jsonl").exists():
        bench_real_ann(rows, args.real_rows)
    projected = build_100k * 10 * 1.3  # HNSW insertion cost grows slightly faster than linearly
    if projected <= args.max_build_s:
        bench_exact(rows, 1_000_000, 50)
        bench_ann(rows, 1_000_000, args.queries, "random")
    else:
        emit(rows, {"bench": "ann_search", "rows": 1_000_000, "skipped":
                    f"projected HNSW build {projected:.0f}s > --max-build-s {args.max_build_s:.0f}s "
                    f"on {available_cpus()} CPUs (100k build took {build_100k:.0f}s)"})
        bench_exact(rows, 1_000_000, 50)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("".join(json.dumps(r) + "\n" for r in rows))


if __name__ == "__main__":
    main()
