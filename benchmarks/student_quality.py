"""Does the distilled student hold up on full, small and unseen corpora? Teacher vs student hybrid
nDCG@10 per set and seed, with the steps and seconds training took. Prints one JSON line per
(set, seed) and appends them to benchmarks/results/student_quality.jsonl.

    python benchmarks/student_quality.py                                  # every set, seeds 0 1 2
    python benchmarks/student_quality.py --sets scifact-train,scifact-train-1k --seeds 0
    python benchmarks/student_quality.py --sets cf-1k --override min_steps=0   # an ablation
    python benchmarks/student_quality.py --table          # markdown table of the default runs so far

Sets: ``scifact``, ``cranfield``, ``cf`` (the full BEIR corpora, test qrels), ``scifact-train`` (the
full SciFact corpus with its *train* qrels: the set the defaults were tuned on) and the small
corpora ``<set>-1k``: a seeded 1,000-document sample of each corpus that keeps every judged document
of the split's queries plus random others (when more than 1,000 documents are judged, as in CF, a
seeded 1,000 of the judged ones) and the qrels restricted to the kept documents
(``scifact-train-1k`` keeps SciFact's train-judged documents). The samples hold text only (metadata
dropped), so their stores have no graph, like a plain folder of abstracts.

Each set's store is built once under ``--work`` (default ``/tmp/student-q``; the full sets start
from a copy of the ``kg eval`` store when one exists) and reused: BM25 and teacher scores are cached
in ``baseline-<split>.json`` next to the store, teacher vectors in the store's teacher cache. Each
student is distilled with :func:`kg.distill.distill` (the defaults of ``DistillConfig``, changed by
``--override``) into a temporary folder and scored on a store copy with z-score fusion (the
default) and reciprocal rank fusion. ``kept`` = student hybrid / teacher hybrid; ``gain_kept`` =
(student hybrid - BM25) / (teacher hybrid - BM25), both in %, z-score fusion (``*_rrf``: RRF).
``train_seconds`` is the whole ``distill`` call (the spans' teacher vectors are cached after the
first run on a store), ``fit_seconds`` the torch loop alone, ``steps`` the optimisation steps and
``best_step`` the one early stopping kept. ``load1``: the 1-minute load average when the line was
written (the machine may be shared).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

# this folder holds a script named like the `ingest` package: keep it off the import path
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
EVAL = REPO.parent / "shared" / "eval"
FULL = {"scifact": ("scifact", "test"), "cranfield": ("cranfield", "test"), "cf": ("cf", "test"),
        "scifact-train": ("scifact", "train")}
SETS = (*FULL, *(f"{s}-1k" for s in FULL))


def sample_corpus(src: Path, dest: Path, *, split: str, n: int = 1000, seed: int = 0) -> Path:
    """A BEIR folder at ``dest`` with ``n`` documents of ``src``: every document judged in
    ``split`` (a seeded ``n`` of them when there are more), then seeded random others; text only
    (the ``metadata`` that gives a store its graph is dropped)."""
    from retrieval.eval import load_qrels

    if (dest / "corpus.jsonl").is_file():
        return dest
    docs = [json.loads(line) for line in (src / "corpus.jsonl").read_text().splitlines() if line.strip()]
    qrels = load_qrels(src, split)
    judged = sorted({d for q in qrels.values() for d in q})
    rng = random.Random(seed)
    keep = set(judged if len(judged) <= n else rng.sample(judged, n))
    others = sorted(str(d["_id"]) for d in docs if str(d["_id"]) not in keep)
    keep |= set(rng.sample(others, max(0, min(len(others), n - len(keep)))))
    (dest / "qrels").mkdir(parents=True, exist_ok=True)
    text_only = [{k: v for k, v in d.items() if k != "metadata"} for d in docs if str(d["_id"]) in keep]
    (dest / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in text_only))
    rows = [(q, d, g) for q, ds in sorted(qrels.items()) for d, g in sorted(ds.items()) if d in keep]
    (dest / "qrels" / f"{split}.tsv").write_text("query-id\tcorpus-id\tscore\n"
                                                  + "".join(f"{q}\t{d}\t{g}\n" for q, d, g in rows))
    shutil.copy(src / "queries.jsonl", dest / "queries.jsonl")
    return dest


def prepare(name: str, work: Path) -> tuple[Path, Path, str]:
    """(BEIR folder, store folder, split) of set ``name``, building the sample and store copy once."""
    from retrieval.eval import cache_root, corpus_hash

    base, small = name.removesuffix("-1k"), name.endswith("-1k")
    src_name, split = FULL[base]
    folder = EVAL / src_name
    if small:
        folder = sample_corpus(folder, work / name / "beir", split=split)
        return folder, work / name / "store", split
    store = work / src_name / "store"
    cached = cache_root() / f"{src_name}-{corpus_hash(folder / 'corpus.jsonl')}"
    if not store.exists() and (cached / "index").is_dir():
        shutil.copytree(cached, store, ignore=shutil.ignore_patterns(".lock", "*.tmp", "models"))
    return folder, store, split


def score(g: Any, queries: dict[str, str], qrels: dict[str, dict[str, int]], mode: str,
          fusion: str = "zscore") -> float:
    """nDCG@10 of one search mode over the queries."""
    from retrieval.eval import run_queries, score_run
    from retrieval.hybrid import SearchConfig

    run = run_queries(g, queries, mode=mode, config=SearchConfig(fusion=fusion))
    return float(score_run(qrels, run)["ndcg@10"])


def baseline(g: Any, store: Path, split: str, queries: dict[str, str], qrels: dict[str, dict[str, int]]) -> dict[str, float]:
    """BM25 and teacher nDCG@10 of the store (cached next to it)."""
    path = store.parent / f"baseline-{split}.json"
    if path.is_file():
        return dict(json.loads(path.read_text()))
    out = {"bm25": score(g, queries, qrels, "bm25"), "teacher_dense": score(g, queries, qrels, "dense"),
           "teacher_hybrid": score(g, queries, qrels, "hybrid"),
           "teacher_hybrid_rrf": score(g, queries, qrels, "hybrid", "rrf")}
    path.write_text(json.dumps(out))
    return out


def config_with(overrides: list[str], seed: int) -> Any:
    """``DistillConfig()`` with ``key=value`` overrides (TrainConfig or DistillConfig fields) and ``seed``."""
    from kg.distill import DistillConfig, TrainConfig

    train_fields = {f.name: f.type for f in fields(TrainConfig)}
    top_fields = {f.name for f in fields(DistillConfig)} - {"train", "pairs"}
    train: dict[str, Any] = {"seed": seed}
    top: dict[str, Any] = {}
    for item in overrides:
        key, _, raw = item.partition("=")
        value: Any = json.loads(raw) if raw not in ("", "None") else None
        if key in train_fields:
            train[key] = value
        elif key in top_fields:
            top[key] = value
        else:
            raise SystemExit(f"unknown override {key!r}")
    cfg = DistillConfig(**top)
    return replace(cfg, train=replace(cfg.train, **train))


def best_step(manifest: dict[str, Any]) -> int | None:
    """The step whose embeddings early stopping kept (checkpoints split the steps into ``epochs`` parts)."""
    epochs = int(manifest.get("config", {}).get("train", {}).get("epochs") or 0)
    best, steps = manifest.get("metrics", {}).get("best_epoch"), int(manifest.get("steps") or 0)
    if best is None or not epochs or not steps:
        return None
    return min(steps, int(best) * -(-steps // epochs))


def run_set(name: str, seeds: list[int], overrides: list[str], work: Path, out: Path) -> list[dict[str, Any]]:
    """Distil and score one set for every seed; returns the JSON lines written."""
    from kg.distill import distill
    from retrieval.backends import backend_for
    from retrieval.eval import eval_store, evaluation_copy, load_qrels, load_queries

    folder, store, split = prepare(name, work)
    qrels = load_qrels(folder, split)
    queries = {q: t for q, t in load_queries(folder).items() if q in qrels}
    st = eval_store(folder, str(store), embed=True)
    lines = []
    try:
        g = backend_for(st)
        base = baseline(g, store, split, queries, qrels)
        idx = g.index()
        docs = sum(r is not None for r in idx.rows) if idx is not None else 0
        for seed in seeds:
            cfg = config_with(overrides, seed)
            with tempfile.TemporaryDirectory(prefix="kg-sq-") as tmp:
                res = distill(g, cfg, out=Path(tmp) / "student")
                with evaluation_copy(g) as copy:
                    copy.sync_index(True, encoder=str(res.path))
                    z = {"dense": score(copy, queries, qrels, "dense"), "hybrid": score(copy, queries, qrels, "hybrid")}
                    r = {"hybrid": score(copy, queries, qrels, "hybrid", "rrf")}
            m = res.manifest
            bm25, th, thr = base["bm25"], base["teacher_hybrid"], base["teacher_hybrid_rrf"]
            line = {
                "set": name, "split": split, "docs": docs, "queries": len(queries), "seed": seed,
                "bm25": round(bm25, 4), "teacher_hybrid": round(th, 4), "student_hybrid": round(z["hybrid"], 4),
                "kept": round(100 * z["hybrid"] / th, 1), "gain_kept": round(100 * (z["hybrid"] - bm25) / (th - bm25), 1),
                "teacher_hybrid_rrf": round(thr, 4), "student_hybrid_rrf": round(r["hybrid"], 4),
                "kept_rrf": round(100 * r["hybrid"] / thr, 1),
                "gain_kept_rrf": round(100 * (r["hybrid"] - bm25) / (thr - bm25), 1),
                "teacher_dense": round(base["teacher_dense"], 4), "student_dense": round(z["dense"], 4),
                "train_seconds": m.get("train_seconds"), "fit_seconds": m.get("fit_seconds"),
                "steps": m.get("steps"), "best_epoch": m.get("metrics", {}).get("best_epoch"),
                "best_step": best_step(m),
                "valid_cos": m.get("metrics", {}).get("valid_cos"),
                "valid_curve": [e.get("valid_cos") for e in m.get("losses", [])], "texts": m.get("texts"),
                "trained_texts": m.get("trained_texts"), "pairs": sum((m.get("pairs") or {}).values()),
                "overrides": overrides, "train": m.get("config", {}).get("train"),
                "spans_per_doc": m.get("config", {}).get("spans_per_doc"),
                "load1": round(os.getloadavg()[0], 2), "at": time.strftime("%Y-%m-%dT%H:%M:%S"),
            }
            print(json.dumps(line), flush=True)
            out.parent.mkdir(parents=True, exist_ok=True)
            with open(out, "a") as fh:
                fh.write(json.dumps(line) + "\n")
            lines.append(line)
    finally:
        st.close()
    return lines


def table(path: Path) -> str:
    """A markdown table of the latest line of each (set, seed) in ``path`` with the default
    configuration (no overrides)."""
    latest: dict[tuple[str, int], dict[str, Any]] = {}
    for raw in path.read_text().splitlines():
        d = json.loads(raw)
        if not d.get("overrides"):
            latest[(d["set"], d["seed"])] = d
    rows = ["| set | docs | seed | BM25 | teacher hybrid | student hybrid | kept | gain kept | kept (RRF) "
            "| gain kept (RRF) | steps | best step | train s | load |", "|" + "---|" * 14]
    for (name, seed), d in sorted(latest.items(), key=lambda kv: (SETS.index(kv[0][0]), kv[0][1])):
        rows.append(f"| {name} | {d['docs']:,} | {seed} | {d['bm25']:.4f} | {d['teacher_hybrid']:.4f} | "
                    f"{d['student_hybrid']:.4f} | {d['kept']}% | {d['gain_kept']}% | {d['kept_rrf']}% | "
                    f"{d['gain_kept_rrf']}% | {d['steps']} | {best_step({**d, 'config': {'train': d['train']}, 'metrics': d})} | "
                    f"{d['train_seconds']} | {d['load1']} |")
    rows += ["", "| set | seeds | kept, min | gain kept, min / mean | kept (RRF), min | gain kept (RRF), min / mean |",
             "|---|---|---|---|---|---|"]
    for name in [n for n in SETS if any(k[0] == n for k in latest)]:
        ds = [d for (n, _), d in sorted(latest.items()) if n == name]
        g, gr = [d["gain_kept"] for d in ds], [d["gain_kept_rrf"] for d in ds]
        rows.append(f"| {name} | {', '.join(str(d['seed']) for d in ds)} | {min(d['kept'] for d in ds)}% | "
                    f"{min(g)}% / {sum(g) / len(g):.1f}% | {min(d['kept_rrf'] for d in ds)}% | "
                    f"{min(gr)}% / {sum(gr) / len(gr):.1f}% |")
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sets", default=",".join(SETS), help=f"comma-separated, of {', '.join(SETS)}")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--override", action="append", default=[], metavar="KEY=JSON",
                    help="a TrainConfig or DistillConfig field, e.g. min_steps=0 or spans_per_doc=3")
    ap.add_argument("--work", default="/tmp/student-q", help="where the stores are built and kept")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "student_quality.jsonl"))
    ap.add_argument("--table", action="store_true", help="print a markdown table of --out's default runs and exit")
    a = ap.parse_args()
    if a.table:
        print(table(Path(a.out)))
        return
    sets = [s for s in a.sets.split(",") if s]
    unknown = set(sets) - set(SETS)
    if unknown:
        raise SystemExit(f"unknown sets {sorted(unknown)}; known: {', '.join(SETS)}")
    for name in sets:
        run_set(name, [int(s) for s in a.seeds.split(",")], a.override, Path(a.work), Path(a.out))


if __name__ == "__main__":
    main()
