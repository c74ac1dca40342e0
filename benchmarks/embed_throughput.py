"""Embedding throughput end to end: abstracts/s through ``g.ingest`` with the teacher and with an
activated student (kg distill), against ingest without embeddings. Prints one JSON line and appends
it to benchmarks/results/embed_throughput.jsonl.

    python benchmarks/embed_throughput.py --student auto --teacher-docs 300

Each run ingests the first N abstracts of a BEIR corpus (default: SciFact) into a fresh store whose
search index was switched to the encoder beforehand, so the timing covers reading, graph writes,
BM25 indexing and encoding. ``--student auto`` takes the latest student saved in the SciFact eval
store (``kg distill --report ../shared/eval/scifact`` makes one).

Keys: docs, teacher_docs, plain_per_s (no embeddings), teacher_per_s, student_per_s, speedup
(student/teacher abstracts/s end to end; the teacher run includes loading the model),
teacher_encode_per_s / student_encode_per_s and encode_speedup (the encoders alone),
student_query_ms, student, cpus.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

# this folder holds a script named like the `ingest` package: keep it off the import path
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = REPO.parent / "shared" / "eval" / "scifact" / "corpus.jsonl"


def write_subset(corpus: Path, n: int, folder: Path) -> int:
    """The first ``n`` records of ``corpus`` as ``folder/corpus.jsonl``; returns how many."""
    folder.mkdir(parents=True)
    k = 0
    with open(corpus, "rb") as src, open(folder / "corpus.jsonl", "wb") as dst:
        for line in src:
            if line.strip():
                dst.write(line)
                k += 1
                if k >= n:
                    break
    return k


def find_student(spec: str) -> str:
    """``auto``: the newest student of the SciFact eval store; otherwise the given folder."""
    if spec != "auto":
        return str(Path(spec).resolve())
    from retrieval.eval import cache_root

    found = sorted(cache_root().glob("scifact-*/models/student-*/manifest.json"), key=lambda p: p.stat().st_mtime)
    if not found:
        raise SystemExit("no student found; run `kg distill --report ../shared/eval/scifact` or pass --student PATH")
    return str(found[-1].parent)


def timed_ingest(data: Path, store: Path, encoder: str | None) -> float:
    """Seconds to ingest ``data`` into a fresh store (embedding with ``encoder``, or not at all)."""
    from kg import KnowledgeGraph

    g = KnowledgeGraph.open(store)
    try:
        if encoder is not None:
            g.sync_index(embed=True, encoder=encoder)  # empty store: just records the encoder
        t = time.perf_counter()
        rep = g.ingest(data, embed=encoder is not None)
        el = time.perf_counter() - t
        assert rep.ok, rep.failed[:3]
        return el
    finally:
        g.close()


def encode_rate(encoder: object, texts: list[str]) -> float:
    """Encoder-only texts/s (one warm-up call first)."""
    encoder.encode(texts[:8])  # type: ignore[attr-defined]
    t = time.perf_counter()
    encoder.encode(texts)  # type: ignore[attr-defined]
    return len(texts) / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default=str(DEFAULT_CORPUS), help="A BEIR corpus.jsonl.")
    ap.add_argument("--docs", type=int, default=5183, help="Abstracts for the no-embedding and student runs.")
    ap.add_argument("--teacher-docs", type=int, default=300, help="Abstracts for the (slow) teacher run.")
    ap.add_argument("--student", default="auto", help="A saved student folder, or auto.")
    ap.add_argument("--teacher", default="minilm")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "embed_throughput.jsonl"))
    args = ap.parse_args()
    from retrieval.encoder import available_cpus, load_encoder
    from retrieval.student_encoder import StaticEncoder

    student = find_student(args.student)
    tmp = Path(tempfile.mkdtemp(prefix="kg-embed-bench-"))
    try:
        n = write_subset(Path(args.corpus), args.docs, tmp / "bench")
        nt = write_subset(Path(args.corpus), min(args.teacher_docs, n), tmp / "bench-teacher")
        plain = timed_ingest(tmp / "bench", tmp / "plain", None)
        t_student = timed_ingest(tmp / "bench", tmp / "student", student)
        t_teacher = timed_ingest(tmp / "bench-teacher", tmp / "teacher", args.teacher)
        texts = [json.loads(x)["title"] + "\n" + json.loads(x)["text"]
                 for x in (tmp / "bench" / "corpus.jsonl").read_text().splitlines()]
        stu = StaticEncoder.load(student)
        teacher = load_encoder(args.teacher)
        q0 = time.perf_counter()
        for t in texts[:500]:
            stu.encode_query(t[:120])
        query_ms = (time.perf_counter() - q0) * 1000 / min(500, len(texts))
        out = {"benchmark": "embed_throughput", "docs": n, "teacher_docs": nt,
               "plain_per_s": round(n / plain, 1), "teacher_per_s": round(nt / t_teacher, 1),
               "student_per_s": round(n / t_student, 1),
               "speedup": round((n / t_student) / (nt / t_teacher), 1),
               "teacher_encode_per_s": round(teacher_rate := encode_rate(teacher, texts[:nt]), 1),
               "student_encode_per_s": round(student_rate := encode_rate(stu, texts), 1),
               "encode_speedup": round(student_rate / teacher_rate, 1),
               "student_query_ms": round(query_ms, 3), "student": student, "cpus": available_cpus()}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    line = json.dumps(out)
    print(line)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "a") as fh:
        fh.write(line + "\n")


if __name__ == "__main__":
    main()
