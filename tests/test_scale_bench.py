"""benchmarks/scale.py end to end on a small corpus: every line's schema, the bm25s identity and the
checks, with the real CLI, the real bm25s and txtai, and the real MiniLM for the added papers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCALE = ROOT / "benchmarks" / "scale.py"
COMMON = ("system", "step", "docs", "wall_s", "cpu_s", "peak_rss_mb", "loadavg", "encoder", "started")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    pytest.importorskip("bm25s")
    pytest.importorskip("txtai")
    tmp = tmp_path_factory.mktemp("scale")
    out = tmp / "scale.jsonl"
    proc = subprocess.run([sys.executable, str(SCALE), "--docs", "2000", "--systems", "kgloom,bm25s,txtai",
                           "--encoder", "none", "--queries", "200", "--add-docs", "50", "--out", str(out),
                           "--tmp", str(tmp)], capture_output=True, text=True, timeout=600, cwd=tmp)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    printed = [json.loads(x) for x in proc.stdout.splitlines() if x.startswith("{")]
    assert printed == lines  # printed and appended alike
    return lines


def one(lines: list[dict], system: str, step: str, mode: str | None = None) -> dict:
    got = [x for x in lines if x["system"] == system and x["step"] == step and x.get("mode") == mode]
    assert len(got) == 1, (system, step, mode, got)
    return got[0]


@pytest.mark.slow
@pytest.mark.model
def test_every_line_has_the_schema(run: list[dict]) -> None:
    assert not [x for x in run if x.get("skipped")], [x for x in run if x.get("skipped")]
    assert len({x["started"] for x in run}) == 1
    for x in run:
        assert all(k in x for k in COMMON), x
        assert x["docs"] == 2000 and x["encoder"] == "none" and len(x["loadavg"]) == 3
        if x["step"] != "summary":
            assert x["wall_s"] >= 0 and x["peak_rss_mb"] > 0, x
        if x["step"] == "query":
            assert x["p50_ms"] > 0 and x["p95_ms"] >= x["p50_ms"], x
    steps = {(x["system"], x["step"]) for x in run}
    assert {("kgloom", s) for s in ("ingest", "open", "query", "checks", "add", "remove")} <= steps
    assert {("bm25s", "ingest"), ("bm25s", "query"), ("txtai", "ingest"), ("txtai", "open"),
            ("txtai", "query")} <= steps
    assert {x["mode"] for x in run if x["system"] == "kgloom" and x["step"] == "query"} == \
        {"bm25", "dense", "hybrid", "hybrid_filter"}
    assert one(run, "kgloom", "ingest")["disk_mb"] > 0
    assert run[-1]["step"] == "summary"


@pytest.mark.slow
@pytest.mark.model
def test_bm25s_and_the_checks_agree(run: list[dict]) -> None:
    b = one(run, "bm25s", "query", "bm25")
    assert b["queries"] == 200
    assert b["top10_identical_up_to_ties_share"] == 1.0  # same tokens, same formula: same top 10
    c = one(run, "kgloom", "checks")
    assert c["ann_recall_at_10"] >= 0.95
    assert c["filter_hits_in_range_share"] == 1.0 and c["filter_bm25_exact_share"] == 1.0
    assert c["filter_dense_recall_at_10"] >= 0.95
    s = run[-1]
    assert s["met"]["bm25s_identical_share"] is True and s["met"]["filters_inside_every_leg"] is True
    assert set(s["ratios_vs_txtai"]) >= {"ingest_s", "open_s", "hybrid_p50_ms", "hybrid_p95_ms"}


@pytest.mark.slow
@pytest.mark.model
def test_add_and_remove_are_seen_without_errors(run: list[dict]) -> None:
    add, rem = one(run, "kgloom", "add"), one(run, "kgloom", "remove")
    assert add["added_paper_present"] is True and rem["added_paper_present"] is False
    for x in (add, rem):
        q = x["concurrent_queries"]
        assert q["searches"] > 0 and q["errors"] == 0, q
        assert q["old"] + q["new"] == q["searches"] // 2
    assert add["concurrent_queries"]["last"] == "new" and rem["concurrent_queries"]["last"] == "old"
