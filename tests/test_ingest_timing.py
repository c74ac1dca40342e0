"""``kg ingest`` tells the truth about time: the report's total covers the whole run (embedding
pass included), split into parse / write / index / embed, and the embedding pass reports progress."""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from ingest.pipeline import PHASES
from kg.cli import app
from kg.graph import KnowledgeGraph
from retrieval import encoder as encoder_mod
from retrieval.encoder import HashEncoder, encode_texts

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "data"
runner = CliRunner()
SLACK = 0.5  # seconds the CLI spends outside the ingest call (opening the store, counting, printing)


def check_phases(rep: dict, elapsed: float, slack: float) -> dict[str, float]:
    """The four phases are there, none negative, they fit in the total, and the total is the run."""
    phases = rep["phases"]
    assert set(phases) == set(PHASES)
    assert all(v >= 0 for v in phases.values())
    total = rep["seconds"]
    assert total >= sum(phases.values()) - 0.005  # the report rounds each to the millisecond
    assert elapsed + 0.005 >= total >= elapsed - slack, (total, elapsed)
    return phases


def test_library_report_covers_the_whole_call(tmp_path):
    with KnowledgeGraph.open(tmp_path / "kg") as g:
        t0 = time.perf_counter()
        report = g.ingest(DATA, embed=False, workers=2)
        elapsed = time.perf_counter() - t0
    check_phases(report.to_dict(), elapsed, slack=0.05)
    phases = report.phases  # unrounded
    assert phases["write"] > 0  # a first load is written by a forked process: its timings come back
    assert phases["parse"] > 0 and phases["index"] > 0 and phases["embed"] == 0
    assert report.seconds >= sum(phases.values())


def test_cli_json_and_text_report_phases(tmp_path):
    store = str(tmp_path / "kg")
    t0 = time.perf_counter()
    res = runner.invoke(app, ["ingest", str(DATA), "--store", store, "--no-embed", "--json"], catch_exceptions=False)
    elapsed = time.perf_counter() - t0
    assert res.exit_code == 0, res.stdout
    check_phases(json.loads(res.stdout), elapsed, slack=SLACK)

    extra = tmp_path / "more"
    extra.mkdir()
    (extra / "note.md").write_text("# A note\n\nReciprocal rank fusion, again.\n")
    res = runner.invoke(app, ["ingest", str(extra), "--store", store, "--no-embed"], catch_exceptions=False)
    line = res.stdout.splitlines()[0]
    m = re.fullmatch(r"1 files in (\d+\.\d)s \(parse (\d+\.\d)s, write (\d+\.\d)s, index (\d+\.\d)s, "
                     r"embed (\d+\.\d)s\): 1 added", line)
    assert m, line
    total, *parts = (float(x) for x in m.groups())
    assert total >= sum(parts) - 0.25  # each figure is rounded to a tenth


def _hash_store(tmp_path: Path) -> KnowledgeGraph:
    """An empty store whose index embeds with the (fast, fake) hash encoder."""
    g = KnowledgeGraph.open(tmp_path / "kg")
    g.sync_index(embed=True, encoder="hash")
    return g


def _strictly_rising_to_the_total(calls: list[tuple[int, int]]) -> int:
    assert calls, "the progress callback was never called"
    totals = {t for _, t in calls}
    assert len(totals) == 1
    total = totals.pop()
    done = [d for d, _ in calls]
    assert done == sorted(set(done)) and done[0] == 0 and done[-1] == total  # 0: the pass starts
    return total


def test_embedding_progress_is_monotonic_and_reaches_the_total(tmp_path, monkeypatch):
    monkeypatch.setattr(encoder_mod, "PROGRESS_BATCH", 4)  # several batches out of a small folder
    g = _hash_store(tmp_path)
    calls: list[tuple[int, int]] = []
    t0 = time.perf_counter()
    report = g.ingest(DATA, embed=True, embed_progress=lambda d, t: calls.append((d, t)))
    elapsed = time.perf_counter() - t0
    total = _strictly_rising_to_the_total(calls)
    idx = g.search_index()
    assert total == idx.dense.n_rows == len(idx.rows) > 8
    assert len(calls) >= 3
    phases = check_phases(report.to_dict(), elapsed, slack=0.05)
    assert phases["embed"] > 0

    # an incremental ingest embeds only the new texts
    extra = tmp_path / "more"
    extra.mkdir()
    (extra / "note.md").write_text("# A note\n\nReciprocal rank fusion, again.\n")
    calls.clear()
    g.ingest(extra, embed=True, embed_progress=lambda d, t: calls.append((d, t)))
    assert 1 <= _strictly_rising_to_the_total(calls) <= 3
    calls.clear()
    g.ingest(extra, embed=True, embed_progress=lambda d, t: calls.append((d, t)))
    assert calls == []  # unchanged: nothing to embed
    g.close()


def test_batched_encoding_keeps_row_order():
    texts = ["a b c d e", "x", "graph retrieval", "", "dense retrieval with many many words", "y z"]
    enc = HashEncoder(dim=16, seed=3)
    seen: list[tuple[int, int]] = []
    got = encode_texts(enc, texts, progress=lambda d, t: seen.append((d, t)), batch=4)
    assert np.array_equal(got, enc.encode(texts))
    assert seen == [(4, 6), (6, 6)]
    assert encode_texts(enc, [], progress=lambda d, t: seen.append((d, t))).shape == (0, 16)
    assert len(seen) == 2


@pytest.mark.model
def test_real_embedding_pass_is_timed_and_reported(tmp_path):
    store = tmp_path / "kg"
    t0 = time.perf_counter()
    res = runner.invoke(app, ["ingest", str(DATA / "papers"), "--store", str(store), "--embed", "--json"],
                        catch_exceptions=False)
    elapsed = time.perf_counter() - t0
    assert res.exit_code == 0, res.stdout
    phases = check_phases(json.loads(res.stdout), elapsed, slack=SLACK)
    assert phases["embed"] > 0.1  # loading MiniLM and encoding is never free
    assert phases["embed"] > phases["write"]

    notes = tmp_path / "notes"
    shutil.copytree(DATA / "notes", notes)
    calls: list[tuple[int, int]] = []
    with KnowledgeGraph.open(store, create=False) as g:
        t0 = time.perf_counter()
        report = g.ingest(notes, embed_progress=lambda d, t: calls.append((d, t)))
        elapsed = time.perf_counter() - t0
    assert _strictly_rising_to_the_total(calls) >= 2
    assert check_phases(report.to_dict(), elapsed, slack=0.05)["embed"] > 0
