"""What ``kg ingest --encoder auto`` costs: a student distilled on a teacher sample vs the teacher
everywhere, and the policy's phase timings on a synthetic corpus. One JSON line per run, printed
and appended to benchmarks/results/encoder_policy.jsonl.

Quality (``quality``): for each BEIR set (SciFact, Cranfield, CF; test qrels), seed and sample
size, the ``kg eval`` store of the set (teacher vectors for every document, built once and cached)
is scored with BM25 and the teacher's hybrid search; then a student is distilled with
``DistillConfig(sample=SampleConfig(docs=k))``: teacher targets for a stratified sample of ``k``
documents and their titles and spans only, the student's corpus words counted over every document
(``--vocab sample``: over the sample only). It is scored on a copy of the store with the student
activated, as ``kg distill --report`` does. The teacher vectors of the sampled documents are taken
from the store (the teacher would give the same), their spans and titles are encoded by the
teacher (cached per text); ``teacher_texts`` is how many texts the teacher had to provide.

    python benchmarks/encoder_policy.py quality --sets scifact,cranfield,cf --seeds 0,1,2 --samples 0.1,0.25

Keys: dataset, seed, sample_docs, sample_pct, store_docs, teacher_texts, bm25, teacher_hybrid,
student_dense, student_hybrid, kept_pct (student hybrid / teacher hybrid), gain_kept_pct (share of
the teacher's hybrid gain over BM25 kept), distill_seconds, vocab, loadavg.

Timing (``synth``): ``g.ingest(corpus, encoder="auto")`` of a seeded synthetic S2ORC-style corpus
(the generator of ``benchmarks/query_latency.py``, or ``benchmarks/synth_corpus.py`` when it
exists) into a fresh store, with the real MiniLM teacher on the sample, model2vec initialisation,
training and the student's pass over every document. Reports the ingest phases, the policy's
phases (from ``last_ingest()["encoder"]``), peak RSS (this process and its parser children), the
store's size on disk, and a linear extrapolation to 1M documents marked as such.

    python benchmarks/encoder_policy.py synth --docs 100000

``summary`` prints the quality lines of the results file as a Markdown table (one row per set,
sample size and vocabulary mode: the runs, the seeds, and the mean / min / max of hybrid kept).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# benchmarks/ingest.py would shadow the ``ingest`` package: keep this folder off the import path
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

EVAL = ROOT.parent / "shared" / "eval"
OUT = ROOT / "benchmarks" / "results" / "encoder_policy.jsonl"


def log(msg: str) -> None:
    print(f"[encoder_policy {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def emit(line: dict[str, Any], out: Path) -> None:
    text = json.dumps(line)
    print(text, flush=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "a") as fh:
        fh.write(text + "\n")


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _score(g: Any, queries: dict[str, str], qrels: dict[str, dict[str, int]], mode: str) -> float:
    from retrieval.eval import beir_ranking, score_run
    from retrieval.hybrid import search

    run = {qid: beir_ranking(search(g, text, k=100, mode=mode)) for qid, text in queries.items()}
    return float(score_run(qrels, run)["ndcg@10"])


def quality(args: argparse.Namespace) -> None:
    from kg.distill import DistillConfig, SampleConfig, TrainConfig, distill, resolve_encoder_spec
    from kg.distill.report import score_encoder
    from retrieval.backends import backend_for
    from retrieval.eval import eval_store, load_qrels, load_queries

    for name in args.sets.split(","):
        folder = EVAL / name
        qrels = load_qrels(folder, "test")
        queries = {q: t for q, t in load_queries(folder).items() if q in qrels}
        st = eval_store(folder, embed=True)
        try:
            g = backend_for(st)
            teacher = resolve_encoder_spec(g, "teacher")
            bm25 = _score(g, queries, qrels, "bm25")
            t_hybrid = _score(g, queries, qrels, "hybrid")
            idx = g.index()
            assert idx is not None
            n_docs = sum(1 for r in idx.rows if r is not None)
            log(f"{name}: {n_docs} docs, bm25 {bm25:.4f}, teacher hybrid {t_hybrid:.4f} ({teacher})")
            for seed in [int(s) for s in args.seeds.split(",")]:
                for spec in args.samples.split(","):
                    k = round(float(spec) * n_docs) if "." in spec else int(spec)
                    k = min(k, n_docs)
                    spans = None if args.span_docs is None else min(int(args.span_docs), n_docs)
                    sample = SampleConfig(docs=k, vocab_docs=k if args.vocab == "sample" else None, span_docs=spans,
                                          span_ratio=args.span_ratio)
                    train = TrainConfig(seed=seed) if args.epochs is None else TrainConfig(seed=seed, epochs=args.epochs)
                    cfg = DistillConfig(train=train, sample=sample)
                    with tempfile.TemporaryDirectory(prefix="kg-policy-") as tmp:
                        t = time.perf_counter()
                        res = distill(g, cfg, out=Path(tmp) / "student")
                        seconds = time.perf_counter() - t
                        scores = score_encoder(g, str(res.path), queries, qrels)
                    m = res.manifest.get("sample") or {}
                    line = {
                        "benchmark": "encoder_policy", "config": "quality", "dataset": name, "seed": seed,
                        "sample_docs": m.get("sampled_docs"), "sample_pct": round(100.0 * k / n_docs, 1),
                        "store_docs": n_docs, "teacher_texts": m.get("teacher_texts"), "vocab": args.vocab,
                        "span_docs": m.get("span_docs"),
                        "vocab_texts": m.get("vocab_texts"), "strata": m.get("strata"),
                        "bm25": round(bm25, 4), "teacher_hybrid": round(t_hybrid, 4),
                        "student_dense": round(scores["dense"], 4), "student_hybrid": round(scores["hybrid"], 4),
                        "kept_pct": round(100.0 * scores["hybrid"] / t_hybrid, 1),
                        "gain_kept_pct": round(100.0 * (scores["hybrid"] - bm25) / (t_hybrid - bm25), 1),
                        "distill_seconds": round(seconds, 1), "teacher_seconds": res.manifest.get("teacher_seconds"),
                        "fit_seconds": res.manifest.get("fit_seconds"), "epochs": cfg.train.epochs,
                        "best_epoch": (res.manifest.get("metrics") or {}).get("best_epoch"),
                        "teacher": teacher, "loadavg": loadavg(),
                    }
                    log(f"{name} seed {seed} sample {k}: student hybrid {scores['hybrid']:.4f} "
                        f"kept {line['kept_pct']}% in {seconds:.0f}s")
                    emit(line, Path(args.out))
        finally:
            st.close()


def _synth_module() -> Any:
    """The synthetic corpus generator: ``benchmarks/synth_corpus.py`` when it exists, else
    ``benchmarks/query_latency.py`` (both define ``Corpus(n, n_queries, seed, folder, keep_texts)``)."""
    here = Path(__file__).resolve().parent
    for name in ("synth_corpus", "query_latency"):
        path = here / f"{name}.py"
        if path.exists():
            spec = importlib.util.spec_from_file_location(f"_kg_bench_{name}", path)
            assert spec is not None and spec.loader is not None
            mod = importlib.util.module_from_spec(spec)
            sys.modules[spec.name] = mod
            spec.loader.exec_module(mod)
            if hasattr(mod, "Corpus"):
                return mod
    raise SystemExit("no synthetic corpus generator found (benchmarks/synth_corpus.py or query_latency.py)")


def _cpu_seconds() -> float:
    """CPU seconds of this process and its waited-for children (user + system)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def synth(args: argparse.Namespace) -> None:
    from kg.distill.policy import EncoderPolicy
    from kg.distill.sample import SampleConfig
    from kg.graph import KnowledgeGraph

    mod = _synth_module()
    with tempfile.TemporaryDirectory(prefix="kg-policy-synth-", dir=args.tmp) as tmp:
        log(f"generating {args.docs} documents with {mod.__file__}")
        t = time.perf_counter()
        corpus = mod.Corpus(args.docs, 10, args.seed, Path(tmp) / "synth", False)
        gen_s = time.perf_counter() - t
        log(f"generated in {gen_s:.0f}s; ingesting with encoder=auto")
        phases: list[tuple[float, float, str, str]] = []  # (wall s since the ingest started, CPU s, phase, message)
        t0 = time.perf_counter()

        def phase(name: str, msg: str) -> None:
            phases.append((round(time.perf_counter() - t0, 1), round(_cpu_seconds(), 1), name, msg))
            log(f"{name}: {msg}")

        g = KnowledgeGraph.open(Path(tmp) / "store")
        sample = SampleConfig() if args.cap is None else SampleConfig(cap=args.cap, floor=min(args.cap, SampleConfig().floor))
        policy = EncoderPolicy(sample=sample) if args.threshold is None else \
            EncoderPolicy(threshold=args.threshold, sample=sample)
        report = g.ingest(corpus.path, workers=args.workers, encoder="auto", encoder_policy=policy, phase=phase)
        total = time.perf_counter() - t0
        outcome = (g.last_ingest() or {}).get("encoder") or {}
        hits = g.search("study results", k=5, mode="hybrid").hits
        g.close()
        store_bytes = _du(Path(tmp) / "store")
        self_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        child_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        pol = outcome.get("seconds") or {}
        ph = {k: round(v, 1) for k, v in report.phases.items()}
        n = args.docs
        scale = 1_000_000 / n
        # extrapolation, not a measurement: parse/write/BM25 and the student pass scale with the corpus;
        # the distillation's teacher sample and training are capped (SampleConfig), so stay as measured
        fixed = float(pol.get("teacher", 0.0)) + float(pol.get("fit", 0.0))
        linear = total - fixed
        cap_scale = SampleConfig().cap / sample.cap  # a run with a smaller cap: its teacher pass scaled up to the default
        fixed_1m = float(pol.get("teacher", 0.0)) * cap_scale + float(pol.get("fit", 0.0))
        line = {
            "benchmark": "encoder_policy", "config": "synth", "docs": n, "seed": args.seed, "workers": args.workers,
            "generator": Path(mod.__file__).name, "generate_seconds": round(gen_s, 1),
            "total_seconds": round(total, 1), "ingest_phases": ph, "policy": outcome, "phase_log": phases,
            "peak_rss_mb": round(self_rss, 1), "peak_child_rss_mb": round(child_rss, 1),
            "store_mb": round(store_bytes / 2**20, 1), "hits": len(hits), "loadavg": loadavg(),
            "cpus": len(os.sched_getaffinity(0)),
            "sample_cap": sample.cap, "cpu_seconds": round(_cpu_seconds(), 1),
            "extrapolated_1m": {"note": "extrapolation, not a measurement: every phase but the teacher sample "
                                        "and the training scaled linearly by 1M/docs; the teacher pass scaled by "
                                        "the default cap over this run's cap",
                                "seconds": round(fixed_1m + linear * scale, 0),
                                "store_mb": round(store_bytes / 2**20 * scale, 0)},
        }
        emit(line, Path(args.out))
        if args.keep:
            shutil.copytree(Path(tmp) / "store", args.keep)


def summary(args: argparse.Namespace) -> None:
    rows: dict[tuple[str, int, str, Any, int], list[dict[str, Any]]] = {}
    for text in Path(args.out).read_text().splitlines():
        d = json.loads(text)
        if d.get("config") == "quality":
            key = (d["dataset"], d["sample_docs"], d.get("vocab", "all"), d.get("span_docs", 0), d.get("epochs", 16))
            rows.setdefault(key, []).append(d)
    print("| set | docs | sample docs | span docs | vocab | epochs | seeds | BM25 | teacher hybrid | student hybrid "
          "(mean) | kept % mean (min–max) | gain kept % mean | teacher texts (mean) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for (name, k, vocab, spans, epochs), runs in sorted(rows.items(), key=lambda kv: (kv[0][0], kv[0][1], str(kv[0][3]))):
        kept = [r["kept_pct"] for r in runs]
        mean = sum(kept) / len(kept)
        print(f"| {name} | {runs[0]['store_docs']} | {k} | {spans} | {vocab} | {epochs} | {','.join(str(r['seed']) for r in runs)} "
              f"| {runs[0]['bm25']:.4f} | {runs[0]['teacher_hybrid']:.4f} "
              f"| {sum(r['student_hybrid'] for r in runs) / len(runs):.4f} | {mean:.1f} ({min(kept)}–{max(kept)}) "
              f"| {sum(r['gain_kept_pct'] for r in runs) / len(runs):.1f} "
              f"| {round(sum(r['teacher_texts'] for r in runs) / len(runs))} |")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    q = sub.add_parser("quality", help="sample-distilled student vs teacher everywhere on BEIR sets")
    q.add_argument("--sets", default="scifact,cranfield,cf")
    q.add_argument("--seeds", default="0,1,2")
    q.add_argument("--samples", default="0.1,0.25", help="documents per sample: counts, or fractions with a dot")
    q.add_argument("--vocab", choices=("all", "sample"), default="all",
                   help="count the student's corpus words over every document, or over the sample only")
    q.add_argument("--span-docs", default=None, help="documents giving a title and one span (default: "
                   "--span-ratio times the sample)")
    q.add_argument("--span-ratio", type=float, default=2.0)
    q.add_argument("--epochs", type=int, default=None, help="training epochs (default: DistillConfig's)")
    q.add_argument("--out", default=str(OUT))
    s = sub.add_parser("synth", help="time encoder=auto on a synthetic corpus")
    s.add_argument("--docs", type=int, default=100_000)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--workers", type=int, default=2)
    s.add_argument("--threshold", type=int, default=None)
    s.add_argument("--cap", type=int, default=None, help="documents the teacher embeds at most (SampleConfig.cap)")
    s.add_argument("--tmp", default=None, help="folder for the corpus and the store")
    s.add_argument("--keep", default=None, help="copy the store here")
    s.add_argument("--out", default=str(OUT))
    m = sub.add_parser("summary", help="the quality lines of --out as a Markdown table")
    m.add_argument("--out", default=str(OUT))
    args = ap.parse_args(argv)
    {"quality": quality, "synth": synth, "summary": summary}[args.cmd](args)


if __name__ == "__main__":
    main()
