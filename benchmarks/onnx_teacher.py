"""The MiniLM teacher on PyTorch against ONNX Runtime (fp32 and dynamic int8), in one run: corpus
encoding throughput, single-query latency, cosine of the vectors to PyTorch's, and dense + hybrid
nDCG@10 on BEIR sets. Prints one JSON line per (set, encoder) and appends them to
benchmarks/results/onnx_teacher.jsonl.

    python benchmarks/onnx_teacher.py                       # scifact, cranfield, cf; all three encoders
    python benchmarks/onnx_teacher.py --sets scifact --encoders minilm-torch,minilm-onnx

For each set the BM25 store of ``kg eval`` is built or reused (``retrieval.eval.eval_store``), then for
each encoder a throwaway copy of it is embedded with that encoder (``sync_index(encoder=spec)``)
and searched with SciFact's/Cranfield's/CF's test qrels. The encoders are loaded (and, for ONNX,
exported) before anything is timed; the index embeds its texts through a wrapper that times the
single ``encode`` call of the whole corpus (batch 64, every encoder on the same texts with the same
threads), so ``texts_per_s`` is encoding only. ``cos_min`` / ``cos_mean`` compare each corpus
vector with PyTorch's for the same row (every text of the corpus). ``query_p50_ms``: one
``encode_query`` per test query (after a warm-up); ``query_cos_min`` / ``query_cos_mean`` compare
those query vectors with PyTorch's. On the ONNX fp32 line, ``unsorted_per_s`` and
``sorted_per_s`` encode the same first 512 texts in input order and sorted by length, to show what
length bucketing saves. A line with ``encoder: interleaved`` (first set only, ``--interleaved N``
abstracts) times the encoders taking turns on the same batches, which a changing load hits alike;
it also times ``encode_query`` on up to 300 queries, the encoders taking turns per query; its
``cpu_ms_per_text`` is process CPU time (ONNX Runtime's spinning threads included). The machine
may be shared: each line reports the 1-minute load average, and ratios (``speedup``, ``d_ndcg_*``)
are within this run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

# this folder holds a script named like the `ingest` package: keep it off the import path
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
EVAL = REPO.parent / "shared" / "eval"
BASE = "minilm-torch"


class Timed:
    """An encoder whose corpus ``encode`` calls are timed (wall and process CPU) and kept."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.name, self.dim = inner, inner.name, inner.dim
        self.seconds = self.cpu = 0.0
        self.texts: list[str] = []
        self.vectors: list[np.ndarray] = []

    def encode(self, texts: list[str], *, batch_size: int = 64, show_progress: bool = False) -> np.ndarray:
        t, c = time.perf_counter(), time.process_time()
        out = self.inner.encode(texts, batch_size=batch_size)
        self.seconds += time.perf_counter() - t
        self.cpu += time.process_time() - c
        self.texts += texts
        self.vectors.append(out)
        return out

    def encode_query(self, text: str) -> np.ndarray:
        return self.inner.encode_query(text)


def query_p50_ms(enc: Any, queries: list[str]) -> tuple[float, np.ndarray]:
    """Median wall time of one ``encode_query`` (after two warm-up calls), and the query vectors."""
    for q in queries[:2]:
        enc.encode_query(q)
    times, vecs = [], []
    for q in queries:
        t = time.perf_counter()
        vecs.append(enc.encode_query(q))
        times.append(time.perf_counter() - t)
    return float(np.median(times) * 1000), np.stack(vecs)


def run_set(folder: Path, encoders: dict[str, Any], out: list[dict[str, Any]]) -> None:
    """Embed, time and score every encoder on one BEIR folder; append one line per encoder."""
    import retrieval.encoder as encoder_mod
    from retrieval.backends import backend_for
    from retrieval.eval import eval_store, evaluation_copy, load_qrels, load_queries, run_queries, score_run

    qrels = load_qrels(folder, "test")
    queries = {q: t for q, t in load_queries(folder).items() if q in qrels}
    st = eval_store(folder, embed=False)
    original = encoder_mod.load_encoder
    rows: dict[str, dict[str, Any]] = {}
    vectors: dict[str, np.ndarray] = {}
    qvecs: dict[str, np.ndarray] = {}
    try:
        backend = backend_for(st)
        for spec, enc in encoders.items():
            timed = Timed(enc)
            encoder_mod.load_encoder = lambda s, _t=timed, _spec=spec: _t if s == _spec else original(s)  # type: ignore[assignment]
            try:
                with evaluation_copy(backend) as tmp:
                    tmp.sync_index(True, encoder=spec)
                    ndcg = {mode: score_run(qrels, run_queries(tmp, queries, mode=mode))["ndcg@10"]
                            for mode in ("dense", "hybrid")}
            finally:
                encoder_mod.load_encoder = original
            if not timed.texts:
                raise SystemExit(f"{spec}: the index embedded nothing on {folder}")
            vectors[spec] = np.concatenate(timed.vectors)
            q_ms, qvecs[spec] = query_p50_ms(enc, list(queries.values()))
            if spec != BASE and BASE in rows and timed.texts != rows[BASE]["_texts"]:
                raise SystemExit("the copies embedded different texts; cannot compare vectors row by row")
            rows[spec] = {"benchmark": "onnx_teacher", "set": folder.name, "encoder": spec, "docs": len(timed.texts),
                          "queries": len(queries), "texts_per_s": round(len(timed.texts) / timed.seconds, 2),
                          "cpu_ms_per_text": round(timed.cpu * 1000 / len(timed.texts), 2),
                          "query_p50_ms": round(q_ms, 2),
                          "ndcg10_dense": ndcg["dense"], "ndcg10_hybrid": ndcg["hybrid"],
                          "load1": round(os.getloadavg()[0], 2), "_texts": timed.texts}
    finally:
        st.close()
    base = rows.get(BASE)
    for spec, row in rows.items():
        texts = row.pop("_texts")
        if base is not None:
            cos = (vectors[spec] * vectors[BASE]).sum(axis=1)
            qcos = (qvecs[spec] * qvecs[BASE]).sum(axis=1)
            row.update({"cos_min": round(float(cos.min()), 5), "cos_mean": round(float(cos.mean()), 5),
                        "query_cos_min": round(float(qcos.min()), 5), "query_cos_mean": round(float(qcos.mean()), 5),
                        "speedup": round(row["texts_per_s"] / base["texts_per_s"], 2),
                        "query_speedup": round(base["query_p50_ms"] / row["query_p50_ms"], 2),
                        "d_ndcg_dense": round(row["ndcg10_dense"] - base["ndcg10_dense"], 4),
                        "d_ndcg_hybrid": round(row["ndcg10_hybrid"] - base["ndcg10_hybrid"], 4)})
        if spec == "minilm-onnx":
            sample = texts[:512]
            enc = encoders[spec]
            for key, flag in (("unsorted_per_s", False), ("sorted_per_s", True)):
                enc.sort = flag
                t = time.perf_counter()
                enc.encode(sample)
                row[key] = round(len(sample) / (time.perf_counter() - t), 2)
            enc.sort = True
        out.append(row)


def interleaved(folder: Path, encoders: dict[str, Any], n: int, batch: int = 64) -> dict[str, Any]:
    """Throughput with the encoders taking turns on the same batches of the first ``n`` abstracts
    (the order of turns rotating per batch), so a load that changes during the run hits all alike."""
    texts = []
    with open(folder / "corpus.jsonl") as fh:
        for line in fh:
            if line.strip():
                d = json.loads(line)
                texts.append(f"{d.get('title', '')}\n{d.get('text', '')}".strip())
            if len(texts) >= n:
                break
    specs = list(encoders)
    wall = dict.fromkeys(specs, 0.0)
    cpu = dict.fromkeys(specs, 0.0)
    for enc in encoders.values():
        enc.encode(texts[:8])  # warm-up
    for b, start in enumerate(range(0, len(texts), batch)):
        chunk = texts[start:start + batch]
        for spec in specs[b % len(specs):] + specs[:b % len(specs)]:
            t, c = time.perf_counter(), time.process_time()
            encoders[spec].encode(chunk, batch_size=batch)
            wall[spec] += time.perf_counter() - t
            cpu[spec] += time.process_time() - c
    from retrieval.eval import load_queries

    lat: dict[str, list[float]] = {s: [] for s in specs}
    for i, q in enumerate(list(load_queries(folder).values())[:300]):
        for spec in specs[i % len(specs):] + specs[:i % len(specs)]:
            t = time.perf_counter()
            encoders[spec].encode_query(q)
            lat[spec].append(time.perf_counter() - t)
    base = specs[0]
    return {"benchmark": "onnx_teacher", "set": folder.name, "encoder": "interleaved", "docs": len(texts),
            "query_p50_ms": {s: round(float(np.median(lat[s][2:]) * 1000), 2) for s in specs},
            "texts_per_s": {s: round(len(texts) / wall[s], 2) for s in specs},
            "cpu_ms_per_text": {s: round(cpu[s] * 1000 / len(texts), 2) for s in specs},
            "speedup": {s: round(wall[base] / wall[s], 2) for s in specs},
            "cpu_speedup": {s: round(cpu[base] / cpu[s], 2) for s in specs},
            "load1": round(os.getloadavg()[0], 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sets", default="scifact,cranfield,cf", help="BEIR folders under ../shared/eval.")
    ap.add_argument("--encoders", default="minilm-torch,minilm-onnx,minilm-onnx-int8",
                    help="load_encoder specs; the first (minilm-torch) is the baseline.")
    ap.add_argument("--interleaved", type=int, default=1024,
                    help="Abstracts of the first set for the turn-taking throughput line (0: none).")
    ap.add_argument("--only-interleaved", action="store_true", help="Skip the per-set runs.")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "onnx_teacher.jsonl"))
    args = ap.parse_args()
    from retrieval.encoder import available_cpus, load_encoder
    from retrieval.onnx_encoder import ensure_export

    specs = [s.strip() for s in args.encoders.split(",") if s.strip()]
    t = time.perf_counter()
    encoders = {s: load_encoder(s) for s in specs}  # exports (once) before any timing
    load_s = round(time.perf_counter() - t, 1)
    info = {"cpus": available_cpus(), "batch": 64, "load_s": load_s,
            "onnx": {s: str(ensure_export(config=e.config).parent.name) for s, e in encoders.items()
                     if hasattr(e, "config")}}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    names = [s.strip() for s in args.sets.split(",") if s.strip()]
    for name in names:
        lines: list[dict[str, Any]] = []
        if args.interleaved and name == names[0]:
            lines.append(interleaved(EVAL / name, encoders, args.interleaved))
        if not args.only_interleaved:
            run_set(EVAL / name, encoders, lines)
        with open(args.out, "a") as fh:
            for row in lines:
                line = json.dumps({**row, **info})
                print(line, flush=True)
                fh.write(line + "\n")


if __name__ == "__main__":
    main()
