"""Coverage-guided fuzzing of every reader's parse function with atheris (libFuzzer for Python).

Each reader runs in its own child process for ``--seconds`` seconds: libFuzzer mutates a corpus
seeded with small valid files of the reader's format and calls ``reader.read(path, data)`` (the
bytes also written to ``path``, for readers that look at the file). A *finding* is any exception
other than :class:`kg.errors.KGError` (readers must raise :class:`kg.errors.ReaderError`), or an
input that runs longer than ``--hang`` seconds. Findings are deduplicated by exception type and
the innermost frame; with ``--save`` each one's input is copied to
``tests/data/fuzz/<reader>/``, where ``tests/test_fuzz_regressions.py`` replays it.

Prints one JSON line per reader (``reader``, ``seconds``, ``execs``, ``findings``, ``kinds``) and
appends them to ``benchmarks/results/fuzz_readers.jsonl``.

    nice -n 10 python benchmarks/fuzz_readers.py --seconds 60                # every reader
    nice -n 10 python benchmarks/fuzz_readers.py --reader bibtex --seconds 30 --save
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "fuzz_readers.jsonl"
REGRESSIONS = ROOT / "tests" / "data" / "fuzz"

MD = b"---\ntitle: Rank fusion notes\ntags: [ir, fusion]\n---\n# Rank fusion\n\nBM25 and [dense](b.md) retrieval.\n\n## Methods\n\n- RRF k=60\n\n```py\nprint(1)\n```\n"
SKILL = (b"---\nname: literature-review\ndescription: Survey related work.\nallowed-tools: [search]\n---\n"
         b"# Literature review\n\nREQUIRES: citation-graph\nNEXT: writing\n\n1. Search.\n")
BIB = (b"@article{cormack2009,\n  title = {Reciprocal Rank Fusion Outperforms {C}ondorcet},\n"
       b"  author = {Cormack, Gordon V. and Clarke, Charles},\n  year = {2009},\n  doi = {10.1145/1571941.1572114}\n}\n"
       b"@string{sig = \"SIGIR\"}\n@inproceedings{x, title=\"A \\\"quoted\\\" title\", booktitle=sig # \" 09\"}\n")
ARXIV = (b'{"id": "2301.00001", "title": "Fusion", "authors": "Jane Doe, Richard Roe", "categories": "cs.IR",'
         b' "abstract": "We fuse.", "doi": "10.1/x", "versions": [{"created": "Mon, 2 Jan 2023 00:00:00 GMT"}],'
         b' "authors_parsed": [["Doe", "Jane", ""]]}\n'
         b'{"paper_id": "77", "title": "S2", "authors": [{"first": "A", "middle": [], "last": "B", "suffix": ""}],'
         b' "outbound_citations": ["78"], "year": 2020}\n')
BEIR = b'{"_id": "d1", "title": "Coral", "text": "Coral reefs bleach."}\n{"_id": "d2", "title": "", "text": "x"}\n'
CSL = (b'[{"id": "a", "type": "article-journal", "title": "Fusion", "author": [{"family": "Doe", "given": "Jane"}],'
       b' "issued": {"date-parts": [[2019]]}, "DOI": "10.1/x"}]')
RIS = b"TY  - JOUR\nTI  - Rank fusion\nAU  - Doe, Jane\nPY  - 2009\nDO  - 10.1/x\nER  - \n"
DAILY = (b"Daily Papers\nbyAK and the research community\nMay 20\n\nKnowledge Transfer in Models\n\n"
         b"We study how knowledge transfers between models. It works.\n  \xe2\x80\xa2 5 authors\n\xc2\xb7\nFeb 19, 2025 2\n")
TEX = (b"\\documentclass{article}\\title{Fusion}\\author{Jane Doe}\\begin{document}\\maketitle\n"
       b"\\begin{abstract}We fuse.\\end{abstract}\\section{Intro}Text \\cite{a}.\\begin{thebibliography}{1}"
       b"\\bibitem{a} A. B. Title. 2019.\\end{thebibliography}\\end{document}\n")
HTML = (b"<!doctype html><html><head><meta charset=utf-8><title>Fusion</title>"
        b"<meta name=citation_doi content=10.1/x></head><body><h1>Fusion</h1><p>Text <a href=b.html>b</a></p>"
        b"<table><tr><td>1</td></tr></table></body></html>")
EML = (b"From: Jane <jane@example.org>\r\nTo: a@b.c\r\nSubject: Fusion\r\nDate: Mon, 2 Jan 2023 00:00:00 +0000\r\n"
       b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n--XX\r\nContent-Type: text/plain\r\n\r\n"
       b"Hello fusion.\r\n--XX\r\nContent-Type: text/markdown\r\nContent-Disposition: attachment; filename=n.md\r\n\r\n# N\r\n--XX--\r\n")
CSV = b"title,year,doi\nFusion,2009,10.1/x\n\"A, b\",2010,\n"
TXT = b"Plain text about rank fusion.\n\nA second paragraph.\n"


def _built(builder: str, name: str) -> bytes:
    """A binary seed made by a builder of benchmarks/bad_input.py."""
    if str(ROOT / "benchmarks") not in sys.path:
        sys.path.append(str(ROOT / "benchmarks"))  # after the repository: benchmarks/ingest.py is no package
    import bad_input

    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / name
        getattr(bad_input, builder)(p)
        return p.read_bytes()


def _zip_seed() -> bytes:
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "a.zip"
        with zipfile.ZipFile(p, "w") as z:
            z.writestr("notes/a.md", MD)
            z.writestr("refs.bib", BIB)
        return p.read_bytes()


SEEDS: dict[str, tuple[str, list[bytes] | None]] = {  # reader -> (file name, seeds; None = build lazily)
    "markdown": ("notes.md", [MD, b"# T\n", b"---\n---\n"]),
    "skill": ("SKILL.md", [SKILL]),
    "bibtex": ("refs.bib", [BIB]),
    "paper-metadata": ("meta.jsonl", [ARXIV]),
    "beir-corpus": ("corpus.jsonl", [BEIR]),
    "csl-json": ("refs.csl.json", [CSL]),
    "ris": ("refs.ris", [RIS]),
    "daily-papers": ("daily.txt", [DAILY]),
    "latex": ("paper.tex", [TEX]),
    "html": ("page.html", [HTML]),
    "mail": ("mail.eml", [EML]),
    "sheet": ("table.csv", [CSV]),
    "text": ("notes.txt", [TXT]),
    "notebook": ("nb.ipynb", None),
    "pdf": ("paper.pdf", None),
    "word": ("doc.docx", None),
    "slides": ("deck.pptx", None),
    "epub": ("book.epub", None),
    "archive": ("bundle.zip", None),
}
BUILDERS = {"notebook": "_notebook", "pdf": "_pdf", "word": "_docx", "slides": "_pptx", "epub": "_epub"}


def seeds(reader: str) -> tuple[str, list[bytes]]:
    """The file name the reader's inputs get, and its seed files."""
    name, got = SEEDS[reader]
    if got is None:
        got = [_zip_seed()] if reader == "archive" else [_built(BUILDERS[reader], name)]
    return name, got


# -- the child: one reader under atheris ---------------------------------------------------------
def _signature(e: BaseException) -> str:
    frames = traceback.extract_tb(e.__traceback__)
    ours = [f for f in frames if str(ROOT) in f.filename] or frames
    last = ours[-1] if ours else None
    where = f"{Path(last.filename).relative_to(ROOT) if str(ROOT) in last.filename else Path(last.filename).name}:{last.lineno}" if last else "?"
    return f"{type(e).__name__} at {where}"


def worker(reader_name: str, seconds: int, out: Path, hang: int, rss_mb: int) -> None:
    """Fuzz one reader until ``seconds`` pass (libFuzzer ends the process)."""
    import atheris

    sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "benchmarks"]
    with atheris.instrument_imports(include=["ingest", "kg"]):
        from ingest.readers.base import get_reader
        from kg.errors import KGError

        reader = get_reader(reader_name)
    name, seed_list = seeds(reader_name)
    corpus = out / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    for i, s in enumerate(seed_list):
        (corpus / f"seed{i}").write_bytes(s)
    findings = out / "findings"
    findings.mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="fuzz-"))
    path = work / name
    seen: set[str] = set()

    def one(data: bytes) -> None:
        path.write_bytes(data)
        try:
            reader.read(path, data)
        except KGError:
            pass
        except Exception as e:
            sig = _signature(e)
            if sig not in seen:
                seen.add(sig)
                h = hashlib.sha1(data).hexdigest()[:12]
                (findings / f"{h}-{name}").write_bytes(data)
                (findings / f"{h}-{name}.json").write_text(json.dumps(
                    {"signature": sig, "error": f"{type(e).__name__}: {str(e)[:300]}"}))

    atheris.Setup([sys.argv[0], str(corpus), f"-max_total_time={seconds}", f"-timeout={hang}",
                   f"-rss_limit_mb={rss_mb}", "-print_final_stats=1", f"-artifact_prefix={out}/",
                   "-max_len=65536"], one)
    atheris.Fuzz()


# -- the parent: one child per reader, then the report -------------------------------------------
def run_reader(reader: str, seconds: int, hang: int, rss_mb: int, save: bool) -> dict[str, object]:
    """Fuzz ``reader`` in a child process; its JSON result."""
    with tempfile.TemporaryDirectory(prefix=f"fuzz-{reader}-") as d:
        out = Path(d)
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, __file__, "--worker", reader, "--seconds", str(seconds),
                               "--out", str(out), "--hang", str(hang), "--rss-mb", str(rss_mb)],
                              cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True,
                              text=True, errors="replace", timeout=seconds + 10 * hang + 120)
        wall = time.perf_counter() - t0
        execs = re.findall(r"stat::number_of_executed_units:\s*(\d+)", proc.stderr)
        kinds: list[str] = []
        inputs: list[tuple[Path, str]] = []
        for meta in sorted((out / "findings").glob("*.json")):
            kinds.append(json.loads(meta.read_text())["signature"])
            inputs.append((meta.with_suffix(""), meta.with_suffix("").name))
        for art in sorted(out.glob("*-*")):  # libFuzzer's own artifacts: timeout-, oom-, crash-
            if art.is_file() and art.name.split("-", 1)[0] in ("timeout", "oom", "crash", "slow"):
                kinds.append(f"{art.name.split('-', 1)[0]} (libFuzzer)")
                inputs.append((art, f"{art.name.split('-', 1)[0]}-{hashlib.sha1(art.read_bytes()).hexdigest()[:12]}-"
                                    f"{SEEDS[reader][0]}"))
        if save:
            for src, dest_name in inputs:
                dest = REGRESSIONS / reader / dest_name
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, dest)
        if proc.returncode not in (0,) and not kinds:
            tail = proc.stderr.strip().splitlines()[-5:]
            kinds.append(f"child exited {proc.returncode}: {' | '.join(tail)[:300]}")
        return {"reader": reader, "seconds": round(wall, 1), "budget_s": seconds,
                "execs": int(execs[-1]) if execs else None, "findings": len(kinds), "kinds": kinds}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reader", action="append", help="Reader name (repeatable); default every reader.")
    ap.add_argument("--seconds", type=int, default=60, help="Fuzzing time per reader.")
    ap.add_argument("--hang", type=int, default=20, help="Seconds one input may take before it counts as a hang.")
    ap.add_argument("--rss-mb", type=int, default=2048, help="Memory limit of the fuzzing process.")
    ap.add_argument("--save", action="store_true", help="Copy each finding to tests/data/fuzz/<reader>/.")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        worker(a.worker, a.seconds, Path(a.out), a.hang, a.rss_mb)
        return
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    for reader in a.reader or list(SEEDS):
        if reader not in SEEDS:
            raise SystemExit(f"unknown reader {reader!r}; known: {', '.join(SEEDS)}")
        res = {"bench": "fuzz_readers", **run_reader(reader, a.seconds, a.hang, a.rss_mb, a.save),
               "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        line = json.dumps(res)
        print(line, flush=True)
        with RESULTS.open("a") as f:
            f.write(line + "\n")


if __name__ == "__main__":
    main()
