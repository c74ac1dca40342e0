"""Crash trials: every write command killed with SIGKILL at its checkpoints, at random times, and
stopped for power-loss images; each trial re-runs the command and compares with a clean run.

Prints one JSON line and appends it to benchmarks/results/crash_trials.jsonl.

    python benchmarks/crash_trials.py --trials 200 [--embed-model]

The harness is ``tests/crash_harness.py`` (the one ``tests/test_crash_safety.py`` runs, with one
kill per phase): scenarios ``ingest-first``, ``ingest-changed``, ``remove``, ``topics-refit`` and
``distill-activate`` (``--embed-model`` adds ``ingest-embed``, whose embedding phase runs the real
MiniLM encoder). Kill points: every checkpoint each clean run passes, with ``--per-name`` hits of
each (first, last, random between), in rounds over the scenarios until ``--trials`` checkpoint
trials ran; then ``--timer`` kills at random times (10-90% of a clean run's wall time) of ``ingest-changed`` and
``--power-loss`` images, stopped at random checkpoints of ``ingest-changed`` and ``ingest-first``.
Keys: trials, killed (trials whose command did die at the fault), differences (trials whose store
differed from the clean run after the re-run: must be 0), by_phase ({phase: [trials, differences]}),
by_scenario, failures (the first 10, with what differed), seconds, seed, load1.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# this folder holds a script named like the `ingest` package: keep it off the import path
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(REPO))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trials", type=int, default=100, help="kill trials at checkpoints (timer and power-loss extra)")
    ap.add_argument("--per-name", type=int, default=3, help="hits of each checkpoint to kill at, per round")
    ap.add_argument("--timer", type=int, default=10, help="kills at random times")
    ap.add_argument("--power-loss", type=int, default=10, help="power-loss images")
    ap.add_argument("--embed-model", action="store_true", help="add a scenario embedding with the real encoder")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "crash_trials.jsonl"))
    args = ap.parse_args()

    from tests.crash_harness import build, command_seconds, kill_points, power_loss_trial, timer_trial, trial

    rng = random.Random(args.seed)
    t0 = time.perf_counter()
    outcomes = []
    with tempfile.TemporaryDirectory(prefix="kgloom-crash-") as tmp:
        root = Path(tmp)
        scenarios = build(root / "build", embed_model=args.embed_model)
        plans = [(s, kill_points(s, rng, per_name=args.per_name)) for s in scenarios]
        n = 0
        while n < args.trials:
            for scn, points in plans:
                for fault in points:
                    if n >= args.trials:
                        break
                    outcomes.append(trial(scn, root / f"t{n}", fault))
                    n += 1
                    _progress(outcomes)
            plans = [(s, kill_points(s, rng, per_name=args.per_name)) for s in scenarios]  # new random hits
        by_name = {s.name: s for s in scenarios}
        span = command_seconds(by_name["ingest-changed"], root / "timer-clean") if args.timer else 0.0
        for i in range(args.timer):  # within the command's own run time, so that each one kills it
            outcomes.append(timer_trial(by_name["ingest-changed"], root / f"timer{i}", rng.uniform(0.1, 0.9) * span))
            _progress(outcomes)
        for i in range(args.power_loss):
            scn = by_name["ingest-changed" if i % 2 == 0 else "ingest-first"]
            name = rng.choice(sorted(scn.hits))
            fault = f"{name}:{rng.randint(1, scn.hits[name])}:stop"
            outcomes.append(power_loss_trial(scn, root / f"pl{i}", root / f"image{i}", fault))
            _progress(outcomes)
    by_phase: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    by_scenario: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for o in outcomes:
        for table, key in ((by_phase, o.phase), (by_scenario, o.scenario)):
            table[key][0] += 1
            table[key][1] += bool(o.differences)
    result = {
        "trials": len(outcomes), "killed": sum(o.killed for o in outcomes),
        "differences": sum(bool(o.differences) for o in outcomes),
        "by_phase": dict(sorted(by_phase.items())), "by_scenario": dict(sorted(by_scenario.items())),
        "failures": [{"scenario": o.scenario, "fault": o.fault, "differences": o.differences}
                     for o in outcomes if o.differences][:10],
        "seconds": round(time.perf_counter() - t0, 1), "seed": args.seed, "embed_model": args.embed_model,
        "load1": round(os.getloadavg()[0], 2),
    }
    line = json.dumps(result)
    print(line)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "a") as fh:
        fh.write(line + "\n")


def _progress(outcomes: list) -> None:  # type: ignore[type-arg]
    o = outcomes[-1]
    sys.stderr.write(f"{len(outcomes)} {o.scenario} {o.fault} {'killed' if o.killed else 'ran'} "
                     f"{'DIFF ' + str(o.differences) if o.differences else 'same'} {o.seconds:.1f}s\n")


if __name__ == "__main__":
    main()
