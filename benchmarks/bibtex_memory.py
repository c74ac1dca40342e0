"""Where the memory of a huge ``.bib`` goes: peak RSS and seconds of each step, each in a fresh process.

Steps, on a generated file of ``--entries`` one-line entries:

* ``parse_whole``: ``bibtexparser.parse_string`` of the whole text (what the reader did before it
  parsed in slices: the whole library in memory at once);
* ``reader``: :class:`ingest.readers.bibtex.BibtexReader` (sliced parse, records);
* ``ingest``: ``kg ingest FILE`` (reader, then the store write of the records).

``--max-entries N`` sets the reader's :data:`~ingest.readers.bibtex.MAX_ENTRIES` in the child
processes (0: no cap, to see what reading every entry costs). Peak RSS is each process's own
``VmHWM``, the interpreter and its imports included. Prints one JSON line and appends it to
``benchmarks/results/bibtex_memory.jsonl``.

    python benchmarks/bibtex_memory.py --entries 1000000
    python benchmarks/bibtex_memory.py --entries 1000000 --max-entries 0 --steps reader ingest
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "bibtex_memory.jsonl"
STEPS = ("parse_whole", "reader", "ingest")

_CHILD = """
import sys, time
path, step, cap, store = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]

def hwm():
    with open("/proc/self/status") as f:
        return int(next(line.split()[1] for line in f if line.startswith("VmHWM:"))) / 1024

import ingest.readers.bibtex as bibtex
if cap >= 0:
    bibtex.MAX_ENTRIES = cap or 10**12
t = time.perf_counter()
if step == "parse_whole":
    import bibtexparser
    from bibtexparser.middlewares import NormalizeFieldKeys, SeparateCoAuthors
    with open(path, encoding="utf-8") as f:
        lib = bibtexparser.parse_string(f.read(), append_middleware=[NormalizeFieldKeys(), SeparateCoAuthors()])
    n = len(lib.entries)
elif step == "reader":
    from pathlib import Path
    p = Path(path)
    n = sum(1 for x in bibtex.BibtexReader().read(p, p.read_bytes()).nodes if x.label == "Paper")
else:
    from ingest.pipeline import ingest_paths
    from kg.store import open_store
    store_ = open_store(store)
    n = ingest_paths(store_, [path]).files[0].nodes
    store_.close()
print(round(time.perf_counter() - t, 2), round(hwm(), 1), n)
"""


def run_step(path: Path, step: str, max_entries: int, work: Path) -> dict[str, float]:
    """One step in a fresh process: seconds, peak RSS (MB) and the nodes (parse_whole: entries) it gave."""
    out = subprocess.run([sys.executable, "-c", _CHILD, str(path), step, str(max_entries), str(work / f"store-{step}")],
                         capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=3600,
                         check=True)
    seconds, rss, n = out.stdout.split()
    return {"seconds": float(seconds), "peak_rss_mb": float(rss), "nodes": int(n)}


def main() -> None:
    """Command line: see the module docstring."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--entries", type=int, default=1_000_000)
    ap.add_argument("--max-entries", type=int, default=-1, help="the reader's entry cap (0: none; default: as shipped)")
    ap.add_argument("--steps", nargs="+", choices=STEPS, default=list(STEPS))
    ap.add_argument("--no-save", action="store_true", help="do not append to benchmarks/results")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="kg-bib-memory-"))
    try:
        path = work / "huge.bib"
        with path.open("w") as f:  # the bad-input matrix's entries
            for i in range(args.entries):
                f.write(f"@article{{k{i}, title={{Entry {i} on reef ecology}}, year={{2001}}}}\n")
        t0 = time.perf_counter()
        res = {"bench": "bibtex_memory", "entries": args.entries, "file_mb": round(path.stat().st_size / 2**20, 1),
               "max_entries": args.max_entries,
               "steps": {s: run_step(path, s, args.max_entries, work) for s in args.steps},
               "wall_s": 0.0, "load_avg_1m": 0.0}
        res["wall_s"] = round(time.perf_counter() - t0, 1)
        res["load_avg_1m"] = round(os.getloadavg()[0], 2)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    line = json.dumps(res)
    print(line)
    if not args.no_save:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        with RESULTS.open("a") as f:
            f.write(line + "\n")


if __name__ == "__main__":
    main()
