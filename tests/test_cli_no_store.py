"""Commands that only read (or need an existing graph) refuse a path without a store: one line,
exit status 2, nothing created on disk. Only ``kg ingest`` creates a store."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from kg.cli import main
from kg.errors import StoreError, StoreNotFoundError
from kg.graph import KnowledgeGraph
from kg.store import check_store, open_store

REPO = Path(__file__).resolve().parents[1]

# every command that reads a store given by --store (and must not create it)
COMMANDS = [
    ["search", "rank fusion"],
    ["search", "rank fusion", "--mode", "bm25", "--json"],
    ["stats"],
    ["stats", "--json"],
    ["show", "paper:doi:10.1145/1571941.1572114"],
    ["export", "{out}"],
    ["export", "--to", "bolt://neo4j:password@127.0.0.1:1"],
    ["context", "rank fusion"],
    ["ask", "what is rank fusion?"],
    ["mcp"],
    ["remove", "{out}"],
    ["topics"],
    ["distill"],
    ["skills", "literature"],
    ["skills", "--link"],
    ["skills", "--validate"],
    ["skill", "citation-graph"],
    ["skill-path", "citation-graph", "literature-review"],
    ["neo4j", "import", "--data-dir", "{out}"],
]


def run_kg(args: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> tuple[int, str, str]:
    """``kg ARGS`` through the console-script entry point, in this process."""
    monkeypatch.setattr(sys, "argv", ["kg", *args])
    with pytest.raises(SystemExit) as info:
        main()
    out, err = capsys.readouterr()
    code = info.value.code
    return (code if isinstance(code, int) else 1), out, err


def _args(cmd: list[str], out: Path) -> list[str]:
    return [a.replace("{out}", str(out)) for a in cmd]


@pytest.mark.parametrize("cmd", COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_read_only_command_on_a_missing_store_is_one_line_and_creates_nothing(cmd, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("KG_STORE", raising=False)
    store = tmp_path / "typo" / "kg"
    out = tmp_path / "out"
    code, stdout, stderr = run_kg([*_args(cmd, out), "--store", str(store)], capsys, monkeypatch)
    assert code == 2, (stdout, stderr)
    assert stderr == (f"error: no kgloom store at {store} "
                      f"(create one with: kg ingest FILES --store {store})\n")
    assert stdout == "" and "Traceback" not in stderr
    assert not (tmp_path / "typo").exists() and not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_an_empty_folder_is_not_a_store_and_stays_empty(tmp_path, capsys, monkeypatch):
    folder = tmp_path / "empty"
    folder.mkdir()
    code, _, stderr = run_kg(["search", "x", "--store", str(folder)], capsys, monkeypatch)
    assert code == 2 and stderr.startswith(f"error: no kgloom store at {folder} ")
    assert list(folder.iterdir()) == []


def test_default_and_env_stores(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("KG_STORE", raising=False)
    code, _, stderr = run_kg(["stats"], capsys, monkeypatch)
    assert (code, stderr) == (2, "error: no kgloom store at ./.kg (create one with: kg ingest FILES)\n")
    monkeypatch.setenv("KG_STORE", "sqlite://elsewhere")
    code, _, stderr = run_kg(["stats"], capsys, monkeypatch)
    assert (code, stderr) == (2, "error: no kgloom store at elsewhere "
                                 "(create one with: kg ingest FILES --store sqlite://elsewhere)\n")
    assert list(tmp_path.iterdir()) == []


def test_ingest_still_creates_the_store_and_readers_then_work(tmp_path, capsys, monkeypatch):
    store = tmp_path / "new" / "kg"
    code, _, _ = run_kg(["ingest", str(REPO / "data" / "papers"), "--store", str(store), "--no-embed", "--json"],
                        capsys, monkeypatch)
    assert code == 0 and (store / "graph.sqlite").is_file()
    code, out, _ = run_kg(["search", "rank fusion", "--store", str(store), "--json", "--mode", "bm25"],
                          capsys, monkeypatch)
    assert code == 0 and '"hits"' in out


def test_open_without_create(tmp_path):
    path = tmp_path / "a" / "b"
    with pytest.raises(StoreNotFoundError) as info:
        KnowledgeGraph.open(path, create=False)
    assert isinstance(info.value, StoreError) and info.value.path == str(path)
    with pytest.raises(StoreNotFoundError):
        open_store(f"sqlite://{path}", create=False)
    with pytest.raises(StoreNotFoundError):
        check_store(path)
    assert not (tmp_path / "a").exists()
    KnowledgeGraph.open(path).close()  # the default still creates
    check_store(path)
    with KnowledgeGraph.open(path, create=False) as g:
        assert g.stats() == {"nodes": {}, "edges": {}}
    check_store("bolt://neo4j:password@127.0.0.1:1")  # server stores are not checked on disk
