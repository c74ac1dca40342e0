"""The bad-input matrix (benchmarks/bad_input.py) at small sizes, through the real ``kg ingest``:
every good file kept, every broken one a one-line error or a bounded partial read, nothing
written outside the folder, no macro run, no traceback, bounded time and memory."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def matrix() -> dict:
    spec = importlib.util.spec_from_file_location("bad_input", ROOT / "benchmarks" / "bad_input.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod.run(small=True)


def test_every_case_as_expected(matrix: dict) -> None:
    assert matrix["unexpected"] == []
    formats = {r["format"] for r in matrix["rows"]}
    assert {"pdf", "docx", "odt", "pptx", "xlsx", "csv", "eml", "mbox", "epub", "ipynb", "bib", "tex", "md",
            "txt", "zip", "tar", "jsonl", "rtf"} <= formats
    for r in matrix["rows"]:
        assert "\n" not in r["message"]
        if r["status"] == "failed":
            assert r["message"], r


def test_good_files_kept_and_nothing_escapes(matrix: dict) -> None:
    good = [r for r in matrix["rows"] if r["failure"] == "(good file)"]
    assert len(good) >= 8 and all(r["status"] == "added" and r["nodes"] > 0 for r in good)
    assert matrix["escaped_files"] == [] and not matrix["macro_ran"] and not matrix["traceback"]


def test_bounded_time_and_memory(matrix: dict) -> None:
    assert matrix["wall_s"] < 120
    assert matrix["peak_rss_mb"] < 1500
    capped = [r for r in matrix["rows"] if "rss_mb" in r]
    assert len(capped) >= 8 and all(r["rss_mb"] <= r["rss_cap_mb"] for r in capped)
    assert max(r["seconds"] for r in matrix["rows"]) < 30
