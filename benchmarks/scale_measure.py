"""What benchmarks/scale.py measures with: step lines (wall, CPU, peak RSS, load), process trees, the
work folder. See scale.py for the benchmark itself."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

MB = 2**20


# -- measuring -----------------------------------------------------------------------------------------
def log(msg: str) -> None:
    print(f"[scale {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def status_mb(pid: int | str, key: str) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    return 0.0


def hwm_mb() -> float:
    """This process's peak RSS so far (VmHWM)."""
    return round(status_mb("self", "VmHWM"), 1)


def rss_mb() -> float:
    """This process's RSS now (VmRSS)."""
    return round(status_mb("self", "VmRSS"), 1)


def pct(ms: list[float]) -> dict[str, float]:
    a = np.asarray(ms, dtype=np.float64)
    return {"p50_ms": round(float(np.percentile(a, 50)), 3), "p95_ms": round(float(np.percentile(a, 95)), 3)}


def dir_mb(path: Path) -> float:
    return round(sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / MB, 1) if path.exists() else 0.0


def _tree(root: int) -> list[int]:
    """``root`` and all its descendants (from /proc's parent ids)."""
    kids: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                ppid = int(Path(f"/proc/{d}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            kids.setdefault(ppid, []).append(int(d))
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def run_tree(cmd: list[str], **kw: Any) -> dict[str, Any]:
    """Run ``cmd`` to the end; wall and CPU seconds (its whole tree), peak RSS (the largest sum of
    the tree's RSS, sampled every 0.2 s; ``peak_single_rss_mb``: the largest single process), its
    stdout and return code."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, **kw)
    peak = [0.0, 0.0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.2):
            rss = [status_mb(p, "VmRSS") for p in _tree(proc.pid)]
            peak[0], peak[1] = max(peak[0], sum(rss)), max([peak[1], *rss])

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    out, _ = proc.communicate()
    wall = time.perf_counter() - t
    done.set()
    th.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"rc": proc.returncode, "stdout": out, "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
            "peak_rss_mb": round(peak[0], 1), "peak_single_rss_mb": round(peak[1], 1)}


class Step:
    """Wall and CPU time of one step in this process, and the line it becomes."""

    def __init__(self, ctx: dict[str, Any], system: str, step: str) -> None:
        self.ctx, self.system, self.step = ctx, system, step
        self.t, self.c = time.perf_counter(), time.process_time()

    def line(self, **fields: Any) -> dict[str, Any]:
        base = {"system": self.system, "step": self.step, "docs": self.ctx["docs"],
                "wall_s": round(time.perf_counter() - self.t, 2), "cpu_s": round(time.process_time() - self.c, 2),
                "peak_rss_mb": hwm_mb(), "loadavg": loadavg(), "encoder": self.ctx["encoder"],
                "started": self.ctx["started"]}
        return {**base, **fields}


def skipped(ctx: dict[str, Any], system: str, step: str, why: str) -> dict[str, Any]:
    return {"system": system, "step": step, "docs": ctx["docs"], "wall_s": None, "cpu_s": None,
            "peak_rss_mb": None, "loadavg": loadavg(), "encoder": ctx["encoder"], "started": ctx["started"],
            "skipped": why}


def timed(fn: Callable[[Any], Any], items: list[Any], warm: int = 5) -> tuple[dict[str, Any], list[Any]]:
    """p50/p95 of ``fn`` over ``items`` (wall, and process CPU p50), after ``warm`` untimed calls."""
    for x in items[:warm]:
        fn(x)
    wall, cpu, got = [], [], []
    for x in items:
        c, t = time.process_time(), time.perf_counter()
        got.append(fn(x))
        wall.append((time.perf_counter() - t) * 1000)
        cpu.append((time.process_time() - c) * 1000)
    return {**pct(wall), "cpu_p50_ms": round(float(np.median(cpu)), 3), "queries": len(items)}, got


# -- the work folder ---------------------------------------------------------------------------------------
class Work:
    """Paths of one run's work folder (corpus, stores, peer indexes, shared query data)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.corpus = folder / "corpus"
        self.papers = self.corpus / "papers"
        self.store = folder / "store"
        self.vectors = folder / "vectors.npy"  # generated, row i = paper i (papers then the added file)
        self.kg_vectors = folder / "kgloom_vectors.npy"  # the store's vectors in paper order
        self.queries = folder / "queries.json"
        self.query_vectors = folder / "query_vectors.npy"
        self.bm25_top = folder / "kgloom_bm25_top10.json"
        self.state = folder / "state.json"

    def read_state(self) -> dict[str, Any]:
        return json.loads(self.state.read_text()) if self.state.exists() else {}

    def write_state(self, **kw: Any) -> None:
        self.state.write_text(json.dumps({**self.read_state(), **kw}))

    def texts(self, limit: int | None = None) -> Iterator[tuple[int, str]]:
        """``(paper number, title + "\\n" + abstract)`` of the ingested shards, in paper order."""
        import orjson

        for path in sorted(self.papers.glob("*.jsonl")):
            with open(path, "rb") as fh:
                for line in fh:
                    d = orjson.loads(line)
                    yield int(d["paper_id"]), f"{d['title']}\n{d['abstract']}"


def query_vectors(w: Work) -> tuple[list[str], np.ndarray]:
    """The queries and the vectors every system searches with (the store's encoder's, else generated)."""
    queries = json.loads(w.queries.read_text())
    qpath = w.folder / "query_vectors_store.npy"
    return queries, np.load(qpath if qpath.exists() else w.query_vectors)
