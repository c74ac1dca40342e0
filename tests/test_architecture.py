"""The layers hold: imports only go down (core -> stores -> ingest | retrieval -> features -> facade
and CLI), checked by import-linter's layers contract in ``pyproject.toml``, imports inside functions
included. The contract tolerates no upward import (no ``ignore_imports``), and none may be added."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# the upward imports tolerated: none are left, and none may come back
MAX_IGNORED = 0


def test_layers_contract_is_kept() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    res = subprocess.run([str(lint)], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "1 kept, 0 broken" in res.stdout


def test_no_upward_import_is_tolerated() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]
    (contract,) = [c for c in config["contracts"] if c["type"] == "layers"]
    assert len(contract.get("ignore_imports", [])) <= MAX_IGNORED
    assert config.get("exclude_type_checking_imports") is True


# What a store is shows only in what it declares (GraphStore.folder, search_engine, writes_first_loads,
# runs_cypher), read where a choice is made: never in its URL, its type or its attributes' presence.
STORE_KIND_PROBES = {
    "URL prefix": re.compile(r"""startswith\(\(\s*["'](neo4j|bolt)"""),
    "store type": re.compile(r"isinstance\([^)]*Store\b"),
    "attribute probe": re.compile(r"(hasattr|getattr)\([^)]*\bstore\b", re.IGNORECASE),
    "the facade's private index": re.compile(r"\._search\b"),
}


def test_no_module_tells_stores_apart_by_url_type_or_attribute_probing() -> None:
    found = []
    for package in ("kg", "ingest", "retrieval"):
        for path in sorted((REPO / package).rglob("*.py")):
            if path.relative_to(REPO).parts[:2] == ("kg", "cli"):
                continue  # commands check what the user typed
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                found += [f"{path.relative_to(REPO)}:{n}: {what}" for what, probe in STORE_KIND_PROBES.items()
                          if probe.search(line)]
    assert not found, "\n".join(found)
