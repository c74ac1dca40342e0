"""Small generated corpora and store snapshots for the crash, concurrency and check tests.

A corpus is a folder of Markdown notes and S2ORC-style JSONL files whose papers share authors and
cite each other across files (so nodes and edges have several supports, and files merge into
one another's nodes). :func:`snapshot` reads everything a store holds that a user can see,
provenance included, in a canonical form; two stores with equal snapshots hold the same graph.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

WORDS = ("graph retrieval fusion ranking embedding lexical dense sparse citation author venue topic "
         "distillation student teacher encoder transformer attention knowledge provenance merge crash "
         "journal commit snapshot index vector cosine similarity cluster entity resolution").split()
AUTHORS = [("Ada", "Lovelace"), ("Alan", "Turing"), ("Grace", "Hopper"), ("Edsger", "Dijkstra"),
           ("Barbara", "Liskov"), ("Donald", "Knuth"), ("Frances", "Allen"), ("Leslie", "Lamport")]
QUERIES = ("graph retrieval", "citation fusion", "crash journal commit", "dense vector cosine", "entity resolution")
KG = [sys.executable, "-m", "kg.cli"]


def _text(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def _paper(rng: random.Random, i: int, gen: int) -> dict[str, Any]:
    authors = rng.sample(AUTHORS, 2)
    return {"paper_id": f"p{i}", "title": f"Paper {i} on {_text(rng, 3)}" + (f" v{gen}" if gen else ""),
            "authors": [{"first": f, "middle": [], "last": la, "suffix": ""} for f, la in authors],
            "abstract": _text(rng, 25), "year": 2000 + i % 20, "doi": f"10.1000/p{i}", "venue": "KGConf",
            "outbound_citations": [f"p{(i * 7 + 3) % 40}"], "inbound_citations": []}


def write_note(path: Path, rng: random.Random, title: str) -> None:
    """A Markdown note with front matter."""
    path.write_text(f"---\ntitle: {title}\ntags: [{rng.choice(WORDS)}, {rng.choice(WORDS)}]\n"
                    f"author: {' '.join(rng.choice(AUTHORS))}\n---\n# {title}\n\n{_text(rng, 60)}\n\n"
                    f"## More\n\n{_text(rng, 40)}\n")


def write_corpus(root: Path, *, seed: int = 0, notes: int = 10, jsonl: int = 3, per_file: int = 8,
                 gen: int = 0) -> Path:
    """Write a corpus into ``root`` (created); papers overlap between JSONL files (shared DOIs)."""
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    for i in range(notes):
        write_note(root / f"note{i:02d}.md", rng, f"Note {i} about {_text(rng, 2)}")
    for j in range(jsonl):
        ids = [(j * (per_file - 2) + k) % 40 for k in range(per_file)]  # 2 papers shared with the next file
        (root / f"papers{j}.jsonl").write_text("".join(json.dumps(_paper(random.Random(i), i, gen)) + "\n"
                                                       for i in ids))
    return root


def mutate(root: Path, step: int) -> None:
    """Change a corpus the way a user does: edit a note, add one, delete one, rewrite a JSONL file."""
    rng = random.Random(1000 + step)
    notes = sorted(root.glob("note*.md"))
    if notes:
        write_note(notes[step % len(notes)], rng, f"Edited note {step}")
    write_note(root / f"added{step:03d}.md", rng, f"Added note {step} about {_text(rng, 2)}")
    if len(notes) > 3:
        notes[(step * 3 + 1) % len(notes)].unlink()
    js = sorted(root.glob("papers*.jsonl"))
    if js:
        ids = [(step * 5 + k) % 40 for k in range(6)]
        js[step % len(js)].write_text("".join(json.dumps(_paper(random.Random(i), i, step)) + "\n" for i in ids))


def kg_env(**extra: str) -> dict[str, str]:
    """The environment for a ``kg`` child process (no fault unless ``extra`` sets one)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KGLOOM_FAULT")}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
    env.update(extra)
    if "KGLOOM_FAULT" in env and "KGLOOM_FAULT_DIR" not in env:  # a fresh hit count for each command
        env["KGLOOM_FAULT_DIR"] = tempfile.mkdtemp(prefix="kgloom-fault-")
    return env


def drop_fault_dir(env: dict[str, str]) -> None:
    """Delete the hit counts :func:`kg_env` made for a command."""
    if env.get("KGLOOM_FAULT_DIR", "").startswith(tempfile.gettempdir()):
        shutil.rmtree(env["KGLOOM_FAULT_DIR"], ignore_errors=True)


def run_kg(*args: str, fault: str = "", timeout: float = 120, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``kg ARGS`` in its own session (a fault kills its whole process group); ``fault``: a
    ``KGLOOM_FAULT`` value."""
    extra = dict(env)
    if fault:
        extra["KGLOOM_FAULT"] = fault
    environ = kg_env(**extra)
    proc = subprocess.Popen([*KG, *args], env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        drop_fault_dir(environ)
    kill_group(proc.pid)  # forked helpers of a killed command
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def kill_group(pgid: int) -> None:
    """SIGKILL what is left of a process group (nothing when it is gone)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def wait_stopped(pid: int, timeout: float) -> bool:
    """Wait until process ``pid`` is stopped (state T); False when it ended or the time ran out."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except FileNotFoundError:
            return False
        state = stat.rsplit(")", 1)[1].split()[0]
        if state == "T":
            return True
        if state == "Z":
            return False
        time.sleep(0.02)
    return False


def snapshot(store: str | Path) -> dict[str, Any]:
    """Everything the store holds that a user sees: nodes, edges, sources (path and content
    hash) and the provenance of each node and edge, canonically ordered."""
    from kg.graph import KnowledgeGraph

    with KnowledgeGraph.open(store, create=False) as g:
        st = g.store
        return {
            "nodes": sorted((n.id, n.label, json.dumps(n.properties, sort_keys=True)) for n in st.iter_nodes()),
            "edges": sorted((e.source, e.type, e.target, json.dumps(e.properties, sort_keys=True))
                            for e in st.iter_edges()),
            "sources": sorted((s.path, s.hash, s.reader, s.n_nodes, s.n_edges) for s in st.sources()),
            "node_supports": sorted((nid, path, label, stub, json.dumps(json.loads(props or "{}"), sort_keys=True))
                                    for nid, path, label, stub, props in st.node_supports()),
            "node_keys": sorted(st.node_keys()),
            "edge_supports": sorted((s, t, d, path, json.dumps(p, sort_keys=True))
                                    for s, t, d, path, p in st.edge_supports()),
        }


def search_snapshot(store: str | Path, queries: tuple[str, ...] = QUERIES, k: int = 10, *,
                    mode: str = "bm25") -> list[Any]:
    """Results of a fixed query set in ``mode`` (ids and scores rounded to 4 places), ties by id."""
    from kg.graph import KnowledgeGraph

    out = []
    with KnowledgeGraph.open(store, create=False) as g:
        for q in queries:
            hits = g.search(q, k=k, mode=mode).hits
            out.append(sorted(((round(float(h.score), 4), h.id) for h in hits), key=lambda x: (-x[0], x[1])))
    return out


def check_ok(store: str | Path) -> list[str]:
    """The findings of :meth:`kg.graph.KnowledgeGraph.check` (empty when the store is sound)."""
    from kg.graph import KnowledgeGraph

    with KnowledgeGraph.open(store, create=False) as g:
        rep = g.check()
    return [f"[{f.check}] {f.message} ({f.count})" for f in rep.findings]
