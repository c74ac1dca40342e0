"""Replays every input the reader fuzzer (``benchmarks/fuzz_readers.py``) found: each file under
``tests/data/fuzz/<reader>/`` must now be read, or refused with a :class:`kg.errors.KGError`, in
bounded time, by the reader it was found in, and by the whole ingest pipeline beside a good file."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from ingest.readers.base import get_reader
from kg.errors import KGError
from kg.graph import KnowledgeGraph
from kg.model import ReadResult

FUZZ = Path(__file__).parent / "data" / "fuzz"
CASES = sorted(p for p in FUZZ.glob("*/*") if p.is_file() and p.suffix != ".json")
SECONDS = 10.0


@pytest.mark.parametrize("path", CASES, ids=[f"{p.parent.name}/{p.name}" for p in CASES])
def test_fuzz_finding_is_read_or_refused_cleanly(path: Path, tmp_path: Path) -> None:
    reader = get_reader(path.parent.name)
    work = tmp_path / path.name.split("-", 1)[-1]  # the file name the fuzzer gave it (its suffix picks formats)
    shutil.copyfile(path, work)
    t0 = time.perf_counter()
    try:
        got = reader.read(work, work.read_bytes())
    except KGError as e:
        assert str(e).strip() and "\n" not in str(e).strip(), f"not a one-line error: {e!r}"
    else:
        assert isinstance(got, ReadResult)
    assert time.perf_counter() - t0 < SECONDS


def test_every_finding_in_one_batch_keeps_the_good_file(tmp_path: Path) -> None:
    if not CASES:
        pytest.skip("no fuzz findings recorded")
    corpus = tmp_path / "in"
    corpus.mkdir()
    for p in CASES:
        d = corpus / p.parent.name / p.name.split("-", 1)[0]
        d.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(p, d / p.name.split("-", 1)[-1])
    (corpus / "good.md").write_text("---\ntitle: Good note\n---\n# Good note\n\nkept.\n")
    with KnowledgeGraph.open(tmp_path / "kg") as g:
        rep = g.ingest(corpus, embed=False)
        assert any(f.path.endswith("good.md") and f.status == "added" for f in rep.files)
        assert all(f.error is None or "\n" not in f.error.strip() for f in rep.files)
