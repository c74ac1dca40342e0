"""Modules that moved in the layering stay importable from their old paths, with a warning."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

MOVED = [
    ("kg.copy", "kg.neo4j.cypher_copy", "copy_store"),
    ("kg.neo4j_server", "kg.neo4j.server", "Neo4jServer"),
    ("kg.store.neo4j", "kg.neo4j.store", "Neo4jStore"),
    ("kg.distill.student", "retrieval.student_encoder", "StaticEncoder"),
]


@pytest.mark.parametrize(("old", "new", "name"), MOVED)
def test_old_path_warns_and_gives_the_same_objects(old: str, new: str, name: str) -> None:
    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match=f"{old} moved to {new}"):
        mod = importlib.import_module(old)
    assert getattr(mod, name) is getattr(importlib.import_module(new), name)


def test_old_neo4j_server_command_points_to_the_cli() -> None:
    res = subprocess.run([sys.executable, "-W", "ignore", "-m", "kg.neo4j_server", "build"], capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 1 and "kg neo4j build" in res.stderr
