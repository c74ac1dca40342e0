"""PDF parsing speed of the ``pdf`` reader: papers/s and pages/s on real PDFs, parsing only (no store).

Prints one JSON line and appends it to benchmarks/results/pdf_speed.jsonl.

    python benchmarks/pdf_speed.py --repeat 5

The PDFs are ``../shared/data/pdfs`` (two CC-BY papers) unless folders are given; each is parsed
``--repeat`` times in this process (one core), after one warm-up parse that loads the modules, so
the figure is the reader's own cost per paper.
``--workers N`` parses them in N processes, as ``kg ingest`` does. ``--engine`` picks the extractor:
``auto`` (PDFium, the default) or ``pdfminer`` (the layout-analysis fallback, the reader before PDFium).
Keys: papers, pages, seconds, papers_per_s, pages_per_s, per_paper_ms (median wall time per file),
per_paper_cpu_ms (median CPU time per file: less sensitive to other work on the machine), reader,
engine, workers, load1 (the 1-minute load average at the end: other work on the machine).
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


def _parse(path: str, engine: str) -> tuple[float, float]:
    """Wall-clock and CPU seconds (this process) to read ``path`` with the pdf reader."""
    from ingest.readers.pdf import PdfReader

    data = Path(path).read_bytes()
    t, c = time.perf_counter(), time.process_time()
    PdfReader(engine=engine).read(Path(path), data)  # type: ignore[arg-type]
    return time.perf_counter() - t, time.process_time() - c


def _pages(path: str) -> int:
    import pypdfium2

    doc = pypdfium2.PdfDocument(path)
    try:
        return len(doc)
    finally:
        doc.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folders", nargs="*", type=Path, default=[DEFAULT_FOLDER])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--engine", choices=["auto", "pdfminer"], default="auto")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "pdf_speed.jsonl"))
    a = ap.parse_args()
    files = sorted(str(p) for f in a.folders for p in Path(f).rglob("*.pdf")) * a.repeat
    if not files:
        sys.exit("no PDFs found")
    pages = sum(_pages(f) for f in files)
    engines = [a.engine] * len(files)
    _parse(files[0], a.engine)  # warm-up (imports), not counted; forked workers inherit it
    t0 = time.perf_counter()
    if a.workers > 1:
        with ProcessPoolExecutor(a.workers) as pool:
            results = list(pool.map(_parse, files, engines))
    else:
        results = [_parse(f, e) for f, e in zip(files, engines, strict=True)]
    seconds = time.perf_counter() - t0
    line = {"benchmark": "pdf_speed", "reader": "pdf", "engine": a.engine, "papers": len(files), "pages": pages,
            "seconds": round(seconds, 3), "papers_per_s": round(len(files) / seconds, 2),
            "pages_per_s": round(pages / seconds, 1),
            "per_paper_ms": round(statistics.median(w for w, _ in results) * 1000, 1),
            "per_paper_cpu_ms": round(statistics.median(c for _, c in results) * 1000, 1),
            "workers": a.workers, "load1": round(os.getloadavg()[0], 2)}
    print(json.dumps(line))
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    with open(a.out, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(line) + "\n")


if __name__ == "__main__":
    main()
