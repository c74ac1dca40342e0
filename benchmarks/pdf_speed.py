"""PDF parsing speed of the ``pdf`` reader: papers/s and pages/s on real PDFs, parsing only (no store).

Prints one JSON line and appends it to benchmarks/results/pdf_speed.jsonl.

    python benchmarks/pdf_speed.py --repeat 5

The PDFs are ``../shared/data/pdfs`` (two CC-BY papers) unless folders are given; each is parsed
``--repeat`` times in this process (one core), so the figure is the reader's own cost per paper.
``--workers N`` parses them in N processes, as ``kg ingest`` does. Keys: papers, pages,
seconds, papers_per_s, pages_per_s, per_paper_ms (median per file), reader, workers, load1.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

# this folder holds a script named like the `ingest` package: keep it off the import path
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

REPO = Path(__file__).resolve().parents[1]
DEFAULT_FOLDER = REPO.parent / "shared" / "data" / "pdfs"


def _parse(path: str) -> tuple[float, int]:
    """Seconds to read ``path`` with the pdf reader, and its page count."""
    from ingest.readers import get_reader

    data = Path(path).read_bytes()
    t = time.perf_counter()
    get_reader("pdf").read(Path(path), data)
    return time.perf_counter() - t, _pages(data)


def _pages(data: bytes) -> int:
    from io import BytesIO

    from pypdf import PdfReader

    return len(PdfReader(BytesIO(data)).pages)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folders", nargs="*", type=Path, default=[DEFAULT_FOLDER])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "pdf_speed.jsonl"))
    a = ap.parse_args()
    files = sorted(str(p) for f in a.folders for p in Path(f).rglob("*.pdf")) * a.repeat
    if not files:
        sys.exit("no PDFs found")
    t0 = time.perf_counter()
    if a.workers > 1:
        with ProcessPoolExecutor(a.workers) as pool:
            results = list(pool.map(_parse, files))
    else:
        results = [_parse(f) for f in files]
    seconds = time.perf_counter() - t0
    pages = sum(p for _, p in results)
    line = {"benchmark": "pdf_speed", "reader": "pdf", "papers": len(files), "pages": pages,
            "seconds": round(seconds, 3), "papers_per_s": round(len(files) / seconds, 2),
            "pages_per_s": round(pages / seconds, 1),
            "per_paper_ms": round(statistics.median(s for s, _ in results) * 1000, 1),
            "workers": a.workers, "load1": round(os.getloadavg()[0], 2)}
    print(json.dumps(line))
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    with open(a.out, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(line) + "\n")


if __name__ == "__main__":
    main()
