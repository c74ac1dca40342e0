"""The crash harness behind ``tests/test_crash_safety.py`` and ``benchmarks/crash_trials.py``.

A *scenario* is one ``kg`` command run on a copy of a prepared store: ``kg ingest`` of a new
corpus (the first load), ``kg ingest --prune`` of a changed corpus (file-by-file writes and
removals, a dense leg kept in step), ``kg remove``, ``kg ingest`` into a store with fitted
topics, ``kg topics --refit`` and ``kg distill --activate``. A *trial* runs the command with ``KGLOOM_FAULT`` set (see :mod:`kg.faults`), sees
it die by SIGKILL, runs it again without faults, and compares the store with the one a clean run
gives: the same snapshot (nodes, edges, sources, provenance: :func:`tests.store_corpus.snapshot`),
the same search results for a fixed query set (BM25, and dense where the store has vectors),
``kg check`` without findings (``PRAGMA integrity_check`` included).
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import sqlite3
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.store_corpus import (
    KG,
    check_ok,
    drop_fault_dir,
    kg_env,
    kill_group,
    mutate,
    run_kg,
    search_snapshot,
    snapshot,
    wait_stopped,
    write_corpus,
)

#: the phase each checkpoint belongs to (the crash table in docs/reliability.md counts by these)
PHASES = {
    "ingest.parse": "parse", "ingest.stage": "stage", "first_load.write": "first-load write",
    "first_load.nodes": "first-load write", "first_load.edges": "edge process", "store.write": "file write",
    "store.remove": "remove", "store.commit": "commit", "store.committed": "commit", "index.sync": "index build",
    "index.save.begin": "index build", "index.save.bm25": "index build", "index.save.dense": "index build",
    "index.save.rows": "index build", "index.save.manifest": "index build", "index.embed": "embedding",
    "topics.model": "topics", "topics.swap": "topics", "topics.write": "topics", "distill.activate": "distill",
}


@dataclass
class Scenario:
    """One command on a copy of ``base`` (None: an empty folder); ``modes``: search modes compared."""

    name: str
    args: Callable[[Path], list[str]]
    base: Path | None
    modes: tuple[str, ...] = ("bm25",)
    clean: dict[str, Any] = field(default_factory=dict)
    hits: Counter[str] = field(default_factory=Counter)  # checkpoint -> times a clean run passes it


@dataclass
class Outcome:
    """One trial: the fault, whether it killed the command, and the differences found."""

    scenario: str
    fault: str
    phase: str
    killed: bool
    differences: list[str]
    seconds: float


def _student(folder: Path) -> Path:
    """A tiny saved static student (word-level; no teacher needed)."""
    import numpy as np

    from retrieval.student_encoder import StaticEncoder
    from tests.store_corpus import WORDS

    rng = np.random.default_rng(0)
    enc = StaticEncoder.from_vocabulary(list(WORDS), rng.standard_normal((len(WORDS) + 2, 16)).astype(np.float32))
    return enc.save(folder, {"teacher": "hash:16:1"})


def build(root: Path, *, embed_model: bool = False) -> list[Scenario]:
    """Corpora, base stores and clean results of every scenario, under ``root``.

    ``embed_model``: add ``ingest-embed``, an incremental ingest whose index has a dense leg of the
    real default encoder (MiniLM), so the embedding phase runs the model."""
    from kg.graph import KnowledgeGraph

    def ingest_into(store: Path, corpus: Path, **sync: Any) -> Path:
        with KnowledgeGraph.open(store) as g:
            g.ingest(corpus, embed=False)
            if sync:
                g.sync_index(**sync)
        return store

    c0 = write_corpus(root / "corpus-first")
    c1 = write_corpus(root / "corpus-changed")
    changed_base = ingest_into(root / "base-changed", c1, embed=True, encoder="hash:16:1")
    mutate(c1, 1)
    mutate(c1, 2)
    c2 = write_corpus(root / "corpus-remove")
    remove_base = ingest_into(root / "base-remove", c2)
    c3 = write_corpus(root / "corpus-topics", notes=16)
    topics_base = ingest_into(root / "base-topics", c3)
    run_kg("topics", "--store", str(topics_base), "--n-topics", "3")
    mutate(c3, 1)  # for ingest-topics: new papers join the fitted topics
    c4 = write_corpus(root / "corpus-distill")
    distill_base = ingest_into(root / "base-distill", c4, embed=True, encoder="hash:16:1")
    student = _student(root / "student")
    scenarios = [
        Scenario("ingest-first", lambda s: ["ingest", str(c0), "--store", str(s), "--no-embed"], None),
        Scenario("ingest-changed", lambda s: ["ingest", str(c1), "--store", str(s), "--prune"], changed_base,
                 ("bm25", "dense")),
        Scenario("remove", lambda s: ["remove", str(c2 / "papers0.jsonl"), str(c2 / "note01.md"), str(c2 / "note02.md"),
                                      "--store", str(s)], remove_base),
        Scenario("topics-refit", lambda s: ["topics", "--refit", "--n-topics", "4", "--store", str(s)], topics_base),
        Scenario("ingest-topics", lambda s: ["ingest", str(c3), "--store", str(s), "--prune", "--no-embed"],
                 topics_base),
        Scenario("distill-activate", lambda s: ["distill", "--activate", "--model", str(student), "--store", str(s)],
                 distill_base, ("bm25", "dense")),
    ]
    for scn in scenarios:
        _clean(scn, root)
    if embed_model:
        scenarios.append(build_embed(root))
    return scenarios


def build_embed(root: Path) -> Scenario:
    """``ingest-embed``: an incremental ingest into a store whose dense leg uses the real default
    encoder (all-MiniLM-L6-v2), so its embedding phase loads and runs the model."""
    from kg.graph import KnowledgeGraph

    corpus = write_corpus(root / "corpus-embed", notes=6, jsonl=1)
    with KnowledgeGraph.open(root / "base-embed") as g:
        g.ingest(corpus, embed=False)
        g.sync_index(embed=True)
    mutate(corpus, 1)
    scn = Scenario("ingest-embed", lambda s: ["ingest", str(corpus), "--store", str(s), "--prune"], root / "base-embed",
                   ("bm25", "dense"))
    _clean(scn, root)
    return scn


def _clean(scn: Scenario, root: Path) -> None:
    """Run the scenario without faults (traced), and keep what its store looks like after."""
    store = root / f"clean-{scn.name}"
    trace = root / f"trace-{scn.name}.txt"
    _copy_base(scn, store)
    got = run_kg(*scn.args(store), KGLOOM_FAULT_TRACE=str(trace))
    if got.returncode not in (0, 1) or "Traceback" in got.stderr:
        raise AssertionError(f"clean run of {scn.name} failed: {got.stderr[-2000:]}")
    scn.hits = Counter(trace.read_text().split())
    scn.clean = state(store, scn.modes)


def _copy_base(scn: Scenario, store: Path) -> None:
    shutil.rmtree(store, ignore_errors=True)
    if scn.base is not None:
        shutil.copytree(scn.base, store)


def state(store: Path, modes: tuple[str, ...]) -> dict[str, Any]:
    """What a trial compares: the snapshot and the search results of each mode."""
    return {"snapshot": snapshot(store), **{f"search-{m}": search_snapshot(store, mode=m) for m in modes}}


def differences(store: Path, scn: Scenario) -> list[str]:
    """How ``store`` differs from the scenario's clean result ([] when it does not)."""
    out = [f"check: {f}" for f in check_ok(store)]
    con = sqlite3.connect(store / "graph.sqlite")
    try:
        ic = [r[0] for r in con.execute("PRAGMA integrity_check")]
    finally:
        con.close()
    if ic != ["ok"]:
        out.append(f"integrity_check: {ic[:3]}")
    got = state(store, scn.modes)
    for key, want in scn.clean.items():
        if key == "snapshot":
            out += [f"snapshot {part} differs ({len(want[part])} clean, {len(got[key][part])} here)"
                    for part in want if want[part] != got[key][part]]
        elif got[key] != want:
            out.append(f"{key} results differ")
    return out


def kill_points(scn: Scenario, rng: random.Random, per_name: int = 1, per_phase: int | None = None,
                phases: set[str] | None = None) -> list[str]:
    """``KGLOOM_FAULT`` values spread over the checkpoints the clean run passed: ``per_name``
    distinct hits of each (the first and the last, then random ones between; one: a random one),
    of every checkpoint or (``per_phase``) of that many checkpoints of each phase, picked at random;
    ``phases``: only checkpoints of these phases."""
    names = sorted(n for n in scn.hits if phases is None or PHASES.get(n) in phases)
    if per_phase is not None:
        by_phase: dict[str, list[str]] = {}
        for name in names:
            by_phase.setdefault(PHASES.get(name, name), []).append(name)
        names = sorted(n for group in by_phase.values() for n in rng.sample(group, min(per_phase, len(group))))
    out = []
    for name in names:
        count = scn.hits[name]
        picks = {1, count} if per_name > 1 else {rng.randint(1, count)}
        while len(picks) < min(per_name, count):
            picks.add(rng.randint(1, count))
        out += [f"{name}:{n}" for n in sorted(picks)]
    return out


def trial(scn: Scenario, store: Path, fault: str) -> Outcome:
    """Kill the command at ``fault``, run it again, compare (see the module docstring)."""
    t = time.perf_counter()
    _copy_base(scn, store)
    got = run_kg(*scn.args(store), fault=fault)
    killed = got.returncode == -signal.SIGKILL
    diffs = [] if killed else [f"not killed (exit {got.returncode}): {got.stderr[-300:]}"]
    diffs += _rerun_and_compare(scn, store)
    return Outcome(scn.name, fault, PHASES.get(fault.split(":")[0], "?"), killed, diffs, time.perf_counter() - t)


def _rerun_and_compare(scn: Scenario, store: Path) -> list[str]:
    again = run_kg(*scn.args(store))
    diffs = [] if "Traceback" not in again.stderr else [f"re-run failed: {again.stderr[-500:]}"]
    return diffs + differences(store, scn)


def command_seconds(scn: Scenario, store: Path, runs: int = 3) -> float:
    """Shortest wall time of the scenario's command run to the end on a fresh copy of its base
    store, over ``runs`` runs (the first is slowed by cold caches): what timer trials draw their
    kill times within."""
    best = float("inf")
    for _ in range(runs):
        _copy_base(scn, store)
        t = time.perf_counter()
        subprocess.run([*KG, *scn.args(store)], env=kg_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       check=True)
        best = min(best, time.perf_counter() - t)
    shutil.rmtree(store, ignore_errors=True)
    return best


def timer_trial(scn: Scenario, store: Path, delay: float) -> Outcome:
    """SIGKILL the command's process group ``delay`` seconds after it started."""
    t = time.perf_counter()
    _copy_base(scn, store)
    proc = subprocess.Popen([*KG, *scn.args(store)], env=kg_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        proc.wait(timeout=delay)
        killed = False
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        killed = True
    kill_group(proc.pid)
    diffs = _rerun_and_compare(scn, store)
    return Outcome(scn.name, f"timer:{delay:.2f}s", "timer", killed, diffs, time.perf_counter() - t)


def power_loss_trial(scn: Scenario, store: Path, image: Path, fault: str) -> Outcome:
    """Stop the command at ``fault`` (``NAME:N:stop``), copy the store folder as it is on disk (a
    power cut's image: no process gets to clean up), kill the command; the image must open as a
    committed state (check without integrity or provenance findings, every source at its old or
    new content) and a re-run on it must give the clean result."""
    t = time.perf_counter()
    _copy_base(scn, store)
    before = {s[0]: s[1] for s in snapshot(store)["sources"]} if scn.base is not None else {}
    environ = kg_env(KGLOOM_FAULT=fault)
    proc = subprocess.Popen([*KG, *scn.args(store)], env=environ, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    stopped = wait_stopped(proc.pid, timeout=60)
    shutil.rmtree(image, ignore_errors=True)
    if stopped:
        shutil.copytree(store, image, ignore=shutil.ignore_patterns("*-shm", ".lock"))
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    drop_fault_dir(environ)
    diffs = [] if stopped else [f"never stopped at {fault}"]
    if stopped:
        after = {s[0]: s[1] for s in scn.clean["snapshot"]["sources"]}
        diffs += [f"image: {f}" for f in check_ok(image) if not f.startswith("[index]")]
        for path, h, *_ in snapshot(image)["sources"]:
            if h not in (before.get(path), after.get(path)):
                diffs.append(f"image: {path} at neither its old nor its new content")
        diffs += [f"image re-run: {d}" for d in _rerun_and_compare(scn, image)]
    return Outcome(scn.name, fault, "power loss", stopped, diffs, time.perf_counter() - t)


