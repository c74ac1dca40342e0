"""Helpers for tests that run kgloom in a child process."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

HIDING = r"""
import json, sys

blocked = set(json.loads(sys.argv[1]))


class Hiding:  # a meta-path finder that finds nothing under the blocked names, else defers to inner

    def __init__(self, inner):
        self.inner = inner

    def find_spec(self, fullname, path=None, target=None):
        if fullname.split(".")[0] in blocked:
            return None
        return self.inner.find_spec(fullname, path, target)

    def __getattr__(self, name):  # find_distributions, invalidate_caches, ...
        return getattr(self.inner, name)


assert not [m for m in sys.modules if m.split(".")[0] in blocked]
sys.meta_path[:] = [Hiding(f) for f in sys.meta_path]
sys.argv = sys.argv[:1] + sys.argv[2:]
"""
"""Prelude of a child interpreter in which the top-level modules named (as a JSON list) by its first
argument are not installed; the rest of ``sys.argv`` is left for the code after it."""


def python_without(blocked: Sequence[str], code: str, args: Sequence[str], *, cwd: Path,
                   env: Mapping[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run ``code`` (after :data:`HIDING`) in a fresh interpreter where ``blocked`` are missing."""
    return subprocess.run([sys.executable, "-c", HIDING + code, json.dumps(list(blocked)), *args], cwd=cwd,
                          env=dict(env), capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=timeout)


def stop(proc: subprocess.Popen[bytes], timeout: float = 20) -> None:
    """Terminate ``proc``, killing it when it has not exited within ``timeout`` seconds."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout)
