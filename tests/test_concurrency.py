"""Readers during writes, and two writers at once, on the embedded store, all through real processes.

A writer runs ``kg ingest --prune`` in a loop over a corpus it changes (notes added, edited and
deleted) and a marker file ``gen.jsonl``: at generation ``G`` it holds ``3 + G % 4`` papers titled
``genmark G item i``. The marker file is one source, written in one transaction, so a reader that
sees a committed state sees exactly one generation and exactly that many marker papers; a reader
that saw half a write would see two generations or a wrong count. Meanwhile ``kg show``, ``kg
search``, the Python API and the MCP server (stdio) read in their own processes: none may fail,
each answer must be one committed generation, and the generations a reader sees never go back.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.store_corpus import KG, check_ok, kg_env, mutate, run_kg, snapshot, write_corpus

GENERATIONS = 6
MARK = "paper:doi:10.2000/gm0"


def write_marker(corpus: Path, gen: int) -> None:
    rows = [{"paper_id": f"gm{i}", "title": f"genmark {gen} item {i}", "doi": f"10.2000/gm{i}", "year": 2020,
             "abstract": f"genmark marker generation {gen}", "authors": []} for i in range(3 + gen % 4)]
    (corpus / "gen.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def _gen(title: str) -> int:
    return int(title.split()[1])


API_READER = """
import json, os, sys
from kg.graph import KnowledgeGraph
store, stop = sys.argv[1], sys.argv[2]
n = 0
while not os.path.exists(stop) or n < 3:
    with KnowledgeGraph.open(store, create=False) as g:
        titles = [nd.properties["title"] for nd in g.store.iter_nodes(["Paper"])
                  if str(nd.properties.get("title", "")).startswith("genmark ")]
        hits = g.search("genmark marker", k=20, mode="bm25").hits
        one = g.node("paper:doi:10.2000/gm0").properties["title"]
    print(json.dumps({"titles": titles, "hits": len(hits), "one": one}), flush=True)
    n += 1
"""

MCP_READER = """
import json, os, sys
import anyio
from mcp import ClientSession, StdioServerParameters, stdio_client
store, stop = sys.argv[1], sys.argv[2]
params = StdioServerParameters(command=sys.executable, args=["-m", "kg.cli", "mcp", "--store", store],
                               env=dict(os.environ))
async def main():
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        n = 0
        while not os.path.exists(stop) or n < 3:
            node = await session.call_tool("get_node", {"node_id": "paper:doi:10.2000/gm0"})
            found = await session.call_tool("search", {"query": "genmark marker", "k": 10, "mode": "bm25"})
            assert not node.is_error and not found.is_error, (node, found)
            title = json.loads(node.content[0].text)["properties"]["title"]
            hits = json.loads(found.content[0].text)["hits"]
            print(json.dumps({"one": title, "hits": len(hits)}), flush=True)
            n += 1
anyio.run(main)
"""


class Reader(threading.Thread):
    """Runs one kind of read in a loop until the stop file exists; keeps every answer."""

    def __init__(self, name: str, argv_of: Any, stop: Path, loop: bool) -> None:
        super().__init__(name=name, daemon=True)
        self.argv_of, self.stop, self.loop = argv_of, stop, loop
        self.answers: list[tuple[int, str, str]] = []  # (exit status, stdout, stderr)

    def run(self) -> None:
        if not self.loop:  # a long-lived process that loops itself
            p = subprocess.run(self.argv_of(), env=kg_env(), capture_output=True, text=True, timeout=300)
            self.answers.append((p.returncode, p.stdout, p.stderr))
            return
        n = 0
        while not self.stop.exists() or n < 3:
            p = subprocess.run(self.argv_of(), env=kg_env(), capture_output=True, text=True, timeout=120)
            self.answers.append((p.returncode, p.stdout, p.stderr))
            n += 1


@pytest.fixture
def live(tmp_path: Path) -> tuple[Path, Path]:
    corpus = write_corpus(tmp_path / "corpus", notes=8, jsonl=2)
    write_marker(corpus, 0)
    store = tmp_path / "store"
    got = run_kg("ingest", str(corpus), "--store", str(store), "--no-embed")
    assert got.returncode == 0, got.stderr
    return corpus, store


def test_readers_see_only_committed_states(live: tuple[Path, Path], tmp_path: Path):
    corpus, store = live
    stop = tmp_path / "stop"
    s = str(store)
    readers = [
        Reader("show", lambda: [*KG, "show", MARK, "--store", s, "--json"], stop, True),
        Reader("search", lambda: [*KG, "search", "genmark marker", "--store", s, "--json", "--mode", "bm25",
                                  "-k", "20"], stop, True),
        Reader("api", lambda: [sys.executable, "-c", API_READER, s, str(stop)], stop, False),
    ]
    if _has_mcp():
        readers.append(Reader("mcp", lambda: [sys.executable, "-c", MCP_READER, s, str(stop)], stop, False))
    for r in readers:
        r.start()
    time.sleep(1.0)
    for gen in range(1, GENERATIONS + 1):
        write_marker(corpus, gen)
        mutate(corpus, gen)
        got = run_kg("ingest", str(corpus), "--store", s, "--prune", "--no-embed")
        assert got.returncode == 0, got.stderr[-2000:]
    stop.touch()
    for r in readers:
        r.join(timeout=300)
    seen: dict[str, list[int]] = {}
    for r in readers:
        assert r.answers, r.name
        for code, _out, err in r.answers:
            assert code == 0 and "Traceback" not in err, f"{r.name} failed during writes: {err[-2000:]}"
        seen[r.name] = _generations(r.name, [out for _, out, _ in r.answers])
    for name, gens in seen.items():
        assert gens == sorted(gens), f"{name} saw a generation go back: {gens}"
        assert all(0 <= g <= GENERATIONS for g in gens)
    assert max(max(g) for g in seen.values()) == GENERATIONS  # the readers did overlap the writes...
    assert sum(len(set(g)) for g in seen.values()) > len(seen)  # ...and saw them happen
    assert check_ok(store) == []


def _generations(name: str, outputs: list[str]) -> list[int]:
    """The generation of each answer, checking that it is one committed state."""
    gens: list[int] = []
    for out in outputs:
        lines = [json.loads(x) for x in out.splitlines() if x.strip()]
        for d in lines:
            if name == "show":
                gens.append(_gen(d["properties"]["title"]))
            elif name == "search":
                hit_gens = {_gen(h["title"]) for h in d["hits"] if str(h.get("title", "")).startswith("genmark ")}
                assert d["hits"] and hit_gens, d
                gens.append(min(hit_gens))
            elif name == "api":
                g = {_gen(t) for t in d["titles"]}
                assert len(g) == 1, f"API read two generations at once: {sorted(g)}"
                (only,) = g
                assert len(d["titles"]) == 3 + only % 4, f"generation {only} with {len(d['titles'])} marker papers"
                assert d["hits"] > 0
                gens.append(only)
            else:
                gens.append(_gen(d["one"]))
    return gens


def _has_mcp() -> bool:
    try:
        import mcp  # noqa: F401
    except ImportError:
        return False
    return True


def test_two_writers_at_once(tmp_path: Path):
    """Two ``kg ingest`` of different corpora into one new store at the same moment: each either
    writes its files (the second waits for the first's transaction) or reports a clear one-line
    "busy" error per file; never a traceback or a damaged store. Re-running both gives the graph
    two sequential runs give."""
    a = write_corpus(tmp_path / "a", seed=1, notes=25, jsonl=3)
    b = write_corpus(tmp_path / "b", seed=2, notes=25, jsonl=3)
    store = tmp_path / "store"
    procs = [subprocess.Popen([*KG, "ingest", str(c), "--store", str(store), "--no-embed", "--json"], env=kg_env(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for c in (a, b)]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, outs, strict=True):
        assert "Traceback" not in err, err[-2000:]
        assert p.returncode in (0, 1), err
        if p.returncode == 1:  # files it could not write: each with a clear reason
            rep = json.loads(out)
            for f in rep["files"]:
                if f["status"] == "failed":
                    assert "locked" in f["errors"][0] or "busy" in f["errors"][0], f
    assert check_ok(store) == []
    for c in (a, b):
        assert run_kg("ingest", str(c), "--store", str(store), "--no-embed").returncode == 0
    sequential = tmp_path / "sequential"
    for c in (a, b):
        assert run_kg("ingest", str(c), "--store", str(sequential), "--no-embed").returncode == 0
    assert snapshot(store) == snapshot(sequential)
    assert check_ok(store) == []
