"""A search in one process while another process writes the store (``store_writer`` held): the
search uses the index as it was and never syncs it (no embedding in a reader, no waiting for the
writer's sync); once the writer is gone, the next search brings the index in step."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from ingest.pipeline import ingest_paths
from kg.graph import KnowledgeGraph
from retrieval.index import SearchIndex, store_writer, writer_active

HOLD = """
import sys, time
from pathlib import Path
from kg.graph import KnowledgeGraph
from retrieval.index import store_writer
g = KnowledgeGraph.open(sys.argv[1], create=False)
with store_writer(g.store):
    Path(sys.argv[2]).touch()
    while not Path(sys.argv[3]).exists():
        time.sleep(0.02)
"""


def _note(folder: Path, name: str, text: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.md").write_text(f"# {name}\n\n{text}\n")


def _wait(path: Path, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while not path.exists():
        assert proc.poll() is None, "the writer process ended early"
        assert time.monotonic() < deadline, "the writer process did not take the lock"
        time.sleep(0.02)


def test_search_keeps_the_old_index_while_another_process_writes(tmp_path: Path) -> None:
    corpus, store = tmp_path / "corpus", tmp_path / "store"
    _note(corpus, "reef", "coral reef bleaching under marine heatwaves")
    g = KnowledgeGraph.open(store)
    g.ingest(corpus, embed=False)
    assert [h.title for h in g.search("coral", mode="bm25").hits] == ["reef"]
    folder = SearchIndex.folder_for(g.store)
    assert folder is not None and not writer_active(folder)
    held, release = tmp_path / "held", tmp_path / "release"
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(store), str(held), str(release)], cwd=Path.cwd())
    try:
        _wait(held, proc)
        assert writer_active(folder)
        _note(corpus, "kelp", "kelp forest decline and coral recovery")
        ingest_paths(g.store, [corpus])  # the store moves on; its index does not (the writer would sync it)
        manifest = (folder / "manifest.json").read_bytes()
        reader = KnowledgeGraph.open(store, create=False)  # a new reader: loads the index on disk
        assert [h.title for h in reader.search("coral", mode="bm25").hits] == ["reef"]
        assert [h.title for h in g.search("coral", mode="bm25").hits] == ["reef"]  # a reader with it loaded
        assert (folder / "manifest.json").read_bytes() == manifest  # nobody synced it
    finally:
        release.touch()
        proc.wait(timeout=60)
    assert not writer_active(folder)
    assert sorted(h.title for h in g.search("coral", mode="bm25").hits) == ["kelp", "reef"]


def test_the_writer_itself_is_not_held_back(tmp_path: Path) -> None:
    corpus, store = tmp_path / "corpus", tmp_path / "store"
    _note(corpus, "reef", "coral reef bleaching")
    g = KnowledgeGraph.open(store)
    g.ingest(corpus, embed=False)
    folder = SearchIndex.folder_for(g.store)
    assert folder is not None
    with store_writer(g.store), store_writer(g.store):  # nested in one process: no deadlock
        assert not writer_active(folder)  # its own mark does not count
        _note(corpus, "kelp", "kelp and coral")
        ingest_paths(g.store, [corpus])
        assert sorted(h.title for h in g.search("coral", mode="bm25").hits) == ["kelp", "reef"]
