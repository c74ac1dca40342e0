"""Native libraries that kgloom loads into one process, imported in the orders a run can meet them.

usearch 2.26 (built with numkong) made any later ``import onnxruntime`` segfault: a search on an
ANN store followed by an ingest that embeds (the ONNX teacher) killed the process. pyproject.toml
keeps usearch below 2.26; this test fails if a lock update brings such a pair back.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

ORDERS = [
    ("usearch.index", "onnxruntime"),
    ("onnxruntime", "usearch.index"),
    ("torch", "onnxruntime"),
    ("onnxruntime", "torch"),
    ("pypdfium2", "onnxruntime"),
    ("usearch.index", "torch"),
]


@pytest.mark.parametrize(("first", "second"), ORDERS, ids=[f"{a}-then-{b}" for a, b in ORDERS])
def test_imports_in_this_order_do_not_crash(first: str, second: str) -> None:
    code = f"import {first}; import {second}; print('ok')"
    proc = subprocess.run([sys.executable, "-X", "faulthandler", "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", (proc.returncode, proc.stderr[-2000:])
