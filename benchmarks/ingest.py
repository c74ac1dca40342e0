"""Ingest throughput: N generated S2ORC-style metadata records (no embeddings), then a re-ingest
of the unchanged set. Prints one JSON line and appends it to benchmarks/results/ingest.jsonl.

    python benchmarks/ingest.py --records 100000 --files 10

Keys: records, files, workers, seconds, records_per_s, store_mb, reingest_s, reingest_speedup, nodes,
edges, peak_rss_mb (this process), peak_child_rss_mb (the largest process it started: a first load
runs in a forked loading process, which starts the parser, edge and index processes), load1 (the
machine's 1-minute load average when the run ended: other work running shows here).

The first ingest into an empty store is a first load (``kg.store.first_load``); ``--file-by-file``
measures the per-file write path instead (what later ingests of new files use).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

# this file is named like the `ingest` package: keep its folder off the import path
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

WORDS = ("graph neural network knowledge distillation retrieval transformer attention embedding sparse dense "
         "hybrid ranking protein cell gene clinical trial patient model learning deep language vision "
         "citation author topic cluster student teacher contrastive semantic lexical index query corpus "
         "benchmark dataset evaluation robust efficient scalable federated causal inference bayesian").split()
FIRST = "Ana Bo Chen Dana Eli Fei Gus Hana Ivan Jun Kai Lea Mo Nia Omar Pia Qi Rui Sam Tao Uma Vic Wen Xu Yan Zoe".split()
LAST = "Lee Kim Park Chen Wang Li Zhang Liu Smith Jones Brown Garcia Miller Davis Wilson Moore Taylor Anderson".split()


def generate(folder: Path, n: int, files: int, seed: int = 0) -> None:
    """Write ``n`` records over ``files`` JSONL files (titles, abstracts, 1-6 authors, citations)."""
    rng = random.Random(seed)
    per = (n + files - 1) // files
    pid = 0
    for f in range(files):
        with open(folder / f"part-{f:03d}.jsonl", "w") as fh:
            for _ in range(min(per, n - pid)):
                title = " ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 12))).capitalize()
                abstract = " ".join(rng.choice(WORDS) for _ in range(rng.randint(80, 160)))
                authors = [{"first": rng.choice(FIRST), "middle": [], "last": f"{rng.choice(LAST)}{rng.randint(0, 3000)}",
                            "suffix": ""} for _ in range(rng.randint(1, 6))]
                cites = [str(rng.randint(0, n - 1)) for _ in range(rng.randint(0, 8))]
                rec = {"paper_id": str(pid), "title": title, "abstract": abstract, "authors": authors,
                       "year": rng.randint(1990, 2025), "doi": None, "arxiv_id": None, "venue": None,
                       "journal": rng.choice(["Nature", "Science", "Cell", "NeurIPS", "ACL", None]),
                       "mag_field_of_study": [rng.choice(["Medicine", "Biology", "Computer Science"])],
                       "outbound_citations": cites, "inbound_citations": []}
                fh.write(json.dumps(rec) + "\n")
                pid += 1


def dir_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--files", type=int, default=10)
    ap.add_argument("--workers", type=int, default=1, help="parser processes (kg ingest --workers)")
    ap.add_argument("--file-by-file", action="store_true", help="skip the first-load path")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "ingest.jsonl"))
    ap.add_argument("--embedding-run", action="store_true",
                    help="Instead: abstracts/s end to end with the teacher and an activated student "
                         "(runs benchmarks/embed_throughput.py; its options follow after --)")
    args, rest = ap.parse_known_args()
    if args.embedding_run:
        import runpy

        sys.argv = [str(Path(__file__).with_name("embed_throughput.py")), *[a for a in rest if a != "--"]]
        runpy.run_path(sys.argv[0], run_name="__main__")
        return
    from kg import KnowledgeGraph

    tmp = Path(tempfile.mkdtemp(prefix="kg-bench-"))
    try:
        data = tmp / "data"
        data.mkdir()
        generate(data, args.records, args.files)
        g = KnowledgeGraph.open(tmp / "store")
        t = time.perf_counter()
        if args.file_by_file:
            from ingest.pipeline import ingest_paths

            rep = ingest_paths(g.store, [data], workers=args.workers, first_load=False)
            g.sync_index(embed=False)
        else:
            rep = g.ingest(data, embed=False, workers=args.workers)
        first = time.perf_counter() - t
        assert rep.ok, rep.failed[:3]
        t = time.perf_counter()
        rep2 = g.ingest(data, embed=False)
        again = time.perf_counter() - t
        assert rep2.count("unchanged") == args.files
        stats = g.stats()
        g.close()
        out = {"benchmark": "ingest", "records": args.records, "files": args.files, "workers": args.workers,
               "path": "file-by-file" if args.file_by_file else "first-load",
               "seconds": round(first, 2), "records_per_s": round(args.records / first, 1),
               "store_mb": round(dir_mb(tmp / "store"), 1), "reingest_s": round(again, 4),
               "reingest_speedup": round(first / max(again, 1e-9), 1),
               "nodes": sum(stats["nodes"].values()), "edges": sum(stats["edges"].values()),
               "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
               "peak_child_rss_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
               "load1": round(os.getloadavg()[0], 2)}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    line = json.dumps(out)
    print(line)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "a") as fh:
        fh.write(line + "\n")


if __name__ == "__main__":
    main()
