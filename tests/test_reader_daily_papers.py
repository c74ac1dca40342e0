"""Tests for the Hugging Face "Daily Papers" listing reader (ingest/readers/daily_papers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.readers.base import FileInfo, get_reader, select_reader
from ingest.readers.daily_papers import (
    DailyPapersReader,
    github_links,
    organization_name,
    parse_date_line,
    parse_listing,
)
from kg.errors import ReaderError
from kg.model import Label, NodeRecord, ReadResult, Rel

READER = DailyPapersReader()
LISTING = "daily-papers-knowledge-transfer.txt"

ABS1 = ("We study transfer. It works well in practice. Code is at https://github.com/Org/Repo-One. "
        "See also github.com/other/two, and https://github.com/Org/Repo-One again.")
ABS2 = "Short abstract with one sentence only and no links at all"
ABS3 = ("Large models forget. We propose a fix. Results improve by 3.5%. "
        "Our data is at https://huggingface.co/datasets/x/y.")

HEADER = "new\n\nGet trending papers in your email inbox!\n\nSubscribe\n\nDaily Papers\n\nbyAK and the research community\n\n"


def listing(header_date: str = "May 20") -> str:
    """A small listing with the page's quirks: sentence titles, an organisation, no meta block."""
    return (
        HEADER + f"{header_date}\n\n"
        "Knowledge is Not Enough. Really? Yes.\n\n" + ABS1 + "\n\n"
        "  • 5 authors\n·\nFeb 19, 2025 2\n\n"
        "Is Attention All You Need?\n\n" + ABS2 + "\n\n"
        "  • 1 authors\n·\nMar 13\n\n"
        "A Paper Without Meta\n\n" + ABS3 + "\n\n"
        "Title Only Paper\n\n"
        "Another Paper With Abstract\n\n" + ABS3.replace("fix", "cure") + "\n\n"
        "  • 3 authors\n·\nJun 1 1.2k\n\n"
        "KWBench: A Benchmark\n\n" + ABS2 + "\n\n"
        "clio-ai Clio AI\n·\nApr 16 12\n"
    )


def write(tmp_path: Path, text: str, *, crlf: bool = False, name: str = "listing.txt") -> Path:
    p = tmp_path / name
    p.write_bytes((text.replace("\n", "\r\n") if crlf else text).encode("utf-8"))
    return p


def papers(res: ReadResult) -> list[NodeRecord]:
    return [n for n in res.nodes if n.label == Label.PAPER]


def by_title(res: ReadResult) -> dict[str, dict]:
    return {n.properties["title"]: n.properties for n in papers(res)}


@pytest.mark.parametrize("crlf", [False, True])
def test_generated_listing(tmp_path: Path, crlf: bool) -> None:
    p = write(tmp_path, listing(), crlf=crlf)
    res = READER.read(p, p.read_bytes())
    assert res.errors == [] and res.warnings == []
    got = by_title(res)
    assert list(got) == ["Knowledge is Not Enough. Really? Yes.", "Is Attention All You Need?",
                         "A Paper Without Meta", "Title Only Paper", "Another Paper With Abstract",
                         "KWBench: A Benchmark"]
    first = got["Knowledge is Not Enough. Really? Yes."]
    assert first["abstract"] == ABS1
    assert (first["date"], first["year"], first["upvotes"], first["n_authors"]) == ("Feb 19, 2025", 2025, 2, 5)
    assert first["listing"] == "daily-papers"
    second = got["Is Attention All You Need?"]
    assert second["abstract"] == ABS2
    assert (second["date"], second["upvotes"], second["n_authors"]) == ("Mar 13", 0, 1)
    assert "year" not in second  # the header date has no year: not inferred
    no_meta = got["A Paper Without Meta"]
    assert no_meta["abstract"] == ABS3 and no_meta["upvotes"] == 0
    assert "date" not in no_meta and "n_authors" not in no_meta
    assert "abstract" not in got["Title Only Paper"]
    assert got["Another Paper With Abstract"]["upvotes"] == 1200
    kw = got["KWBench: A Benchmark"]
    assert (kw["date"], kw["upvotes"]) == ("Apr 16", 12) and "n_authors" not in kw


def test_repositories_and_organisation(tmp_path: Path) -> None:
    p = write(tmp_path, listing())
    res = READER.read(p, p.read_bytes())
    repos = {n.id for n in res.nodes if n.label == Label.REPOSITORY}
    assert repos == {"repo:github.com/org/repo-one", "repo:github.com/other/two"}
    first = next(n.id for n in papers(res) if n.properties["title"].startswith("Knowledge is"))
    assert {e.target for e in res.edges if e.type == Rel.HAS_CODE and e.source == first} == repos
    orgs = [n for n in res.nodes if n.label == Label.ORGANIZATION]
    assert [(o.id, o.properties["name"]) for o in orgs] == [("org:clio-ai", "Clio AI")]
    kw = next(n.id for n in papers(res) if n.properties["title"].startswith("KWBench"))
    assert [(e.source, e.target) for e in res.edges if e.type == Rel.AFFILIATED_WITH] == [(kw, "org:clio-ai")]


def test_year_inference(tmp_path: Path) -> None:
    p = write(tmp_path, listing("May 20, 2026"))
    got = by_title(READER.read(p, p.read_bytes()))
    assert got["Is Attention All You Need?"]["year"] == 2026  # Mar 13 is before May 20
    assert got["Knowledge is Not Enough. Really? Yes."]["year"] == 2025  # printed year wins
    # Jun 1 is after the page's own date, so it cannot be in the page's year
    assert "year" not in got["Another Paper With Abstract"]
    p = write(tmp_path, listing())
    got = by_title(DailyPapersReader(listing_year=2026).read(p, p.read_bytes()))
    assert got["Is Attention All You Need?"]["year"] == 2026
    assert got["Is Attention All You Need?"]["date"] == "Mar 13"


def test_helpers() -> None:
    m = parse_date_line("Feb 19, 2025 2")
    assert m is not None and (m.date, m.year, m.month_day, m.upvotes) == ("Feb 19, 2025", 2025, (2, 19), 2)
    m = parse_date_line("Oct 26, 2023")
    assert m is not None and m.upvotes == 0
    assert parse_date_line("Foo 12") is None
    assert parse_date_line("May 20 is a date") is None
    assert organization_name("clio-ai Clio AI") == "Clio AI"
    assert organization_name("Qwen Qwen") == "Qwen"
    assert organization_name("Clio AI") == "Clio AI"
    assert github_links("at https://github.com/a/b. and https://github.com/a/b, (github.com/c/d)") == [
        "https://github.com/a/b", "https://github.com/c/d"]


def test_empty_listing_raises(tmp_path: Path) -> None:
    p = write(tmp_path, HEADER + "May 20\n")
    with pytest.raises(ReaderError, match="no papers"):
        READER.read(p, p.read_bytes())


def test_orphan_meta_is_an_error(tmp_path: Path) -> None:
    text = HEADER + "May 20\n\n  • 2 authors\n·\nMay 1\n\nA Title\n\n" + ABS1 + "\n\n  • 2 authors\n·\nMay 2\n"
    res = parse_listing(text)
    assert len(res.papers) == 1 and res.errors == ["line 13: a date/author block with no paper before it"]


def test_sniff(tmp_path: Path) -> None:
    p = write(tmp_path, listing())
    info = FileInfo(p, p.read_bytes()[:65536])
    assert READER.sniff(info)
    assert select_reader(info) is get_reader("daily-papers")
    plain = write(tmp_path, "Daily Papers are great.\nNothing else here.\n", name="plain.txt")
    assert not READER.sniff(FileInfo(plain, plain.read_bytes()))
    no_header = write(tmp_path, "A title\n\nAn abstract.\n\n  • 3 authors\n·\nMay 1\n", name="x.txt")
    assert not READER.sniff(FileInfo(no_header, no_header.read_bytes()))


# --- the shared listing -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def shared_result(shared: Path) -> ReadResult:
    p = shared / "data" / LISTING
    return READER.read(p, p.read_bytes())


def test_shared_counts(shared: Path, shared_result: ReadResult) -> None:
    p = shared / "data" / LISTING
    assert select_reader(FileInfo(p, p.read_bytes()[:65536])) is get_reader("daily-papers")
    res = shared_result
    assert res.errors == [] and res.warnings == []
    ps = papers(res)
    assert len(ps) == 45 and len({n.id for n in ps}) == 45
    assert len({n.id for n in res.nodes if n.label == Label.REPOSITORY}) == 16
    assert {n.id for n in res.nodes if n.label == Label.ORGANIZATION} == {"org:clio-ai"}
    assert all(isinstance(n.properties["upvotes"], int) for n in ps)
    assert sum(1 for n in ps if n.properties["upvotes"] > 0) == 11
    assert sum(1 for n in ps if "date" in n.properties) == 43
    assert sum(1 for n in ps if "year" in n.properties) == 36  # 7 dates are printed without a year


def test_shared_titles_and_fields(shared: Path, shared_result: ReadResult) -> None:
    lines = (shared / "data" / LISTING).read_text(encoding="utf-8").splitlines()
    got = by_title(shared_result)
    for title in ("Knowledge is Not Enough: Injecting RL Skills for Continual Adaptation",
                  "The Digital Cybersecurity Expert: How Far Have We Come?",
                  "MechGPT, a language-based strategy for mechanics and materials modeling that connects "
                  "knowledge across scales, disciplines and modalities",
                  "Sparking Scientific Creativity via LLM-Driven Interdisciplinary Inspiration"):
        assert title in got and title in lines
        assert got[title]["abstract"] == lines[lines.index(title) + 2]
    first = got["Noise May Contain Transferable Knowledge: Understanding Semi-supervised Heterogeneous "
                "Domain Adaptation from an Empirical Perspective"]
    assert (first["date"], first["year"], first["upvotes"], first["n_authors"]) == ("Feb 19, 2025", 2025, 2, 5)
    mokus = next(v for k, v in got.items() if k.startswith("MoKus"))
    assert (mokus["date"], mokus["upvotes"], mokus["n_authors"]) == ("Mar 13", 3, 4) and "year" not in mokus
    omnigen = got["OmniGen: Unified Image Generation"]
    assert omnigen["upvotes"] == 7
    kw = next(v for k, v in got.items() if k.startswith("KWBench"))
    assert (kw["date"], kw["upvotes"]) == ("Apr 16", 2) and "n_authors" not in kw
    assert got["A Comprehensive Study of Knowledge Editing for Large Language Models"]["n_authors"] == 22
    assert "May 20" not in got  # the page header date is not a paper
    # every paper's abstract is the paragraph printed two lines under its title
    for title, props in got.items():
        assert lines[lines.index(title) + 2] == props["abstract"]


def test_shared_repositories(shared_result: ReadResult) -> None:
    res = shared_result
    pid = {n.properties["title"]: n.id for n in papers(res)}
    code = {(e.source, e.target) for e in res.edges if e.type == Rel.HAS_CODE}
    assert (pid["DiffKG: Knowledge Graph Diffusion Model for Recommendation"], "repo:github.com/hkuds/diffkg") in code
    assert len(code) == 16
    urls = {n.properties["url"] for n in res.nodes if n.label == Label.REPOSITORY}
    assert "https://github.com/yyyaoyuan/shda" in urls  # trailing full stop dropped
    assert "https://github.com/abilliyb/knowledge_injection_survey_papers" in urls  # trailing comma dropped
