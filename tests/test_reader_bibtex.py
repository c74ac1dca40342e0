"""Tests for the BibTeX reader (ingest/readers/bibtex.py) and cross-source identity keys."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ingest.pipeline import ingest_paths
from ingest.readers.base import FileInfo, get_reader, select_reader
from ingest.readers.bibtex import BibtexReader, latex_to_text, person_name
from ingest.readers.paper_metadata import PaperMetadataReader
from kg.errors import ReaderError
from kg.ids import title_key
from kg.model import Label, NodeRecord, ReadResult, Rel
from kg.store import open_store

READER = BibtexReader()

BIB = r"""% a comment line
@string{acl = "Proceedings of the 58th Annual Meeting of the {ACL}"}
@preamble{"\newcommand{\noop}[1]{}"}

@inproceedings{lo-etal-2020-s2orc,
  Title     = {{S}2{ORC}: The Semantic Scholar Open Research Corpus},
  author    = {Lo, Kyle and Wang, Lucy Lu and Neumann, Mark and Kinney, Rodney and Weld, Daniel},
  booktitle = acl,
  year      = {2020},
  url       = {https://aclanthology.org/2020.acl-main.447},
  doi       = {10.18653/v1/2020.acl-main.447},
  keywords  = {corpus; citation graph, NLP},
  abstract  = {We introduce S2ORC, a large corpus of 81.1M English-language academic papers.},
}

@article{devlin2018bert,
  title={{BERT}: Pre-training of Deep Bidirectional Transformers for Language Understanding},
  author={Devlin, Jacob and Chang, Ming-Wei and Lee, Kenton and Toutanova, Kristina},
  journal={arXiv preprint arXiv:1810.04805},
  year={2018}
}

@misc{mueller,
  title = {{\"U}ber na\"ive Caf\'e-Modelle f\"ur $\alpha$-Tests \& mehr},
  author = {M{\"u}ller, J{\"o}rg and Ludwig van Beethoven and {World Health Organization} and de la Fontaine, Jr, Jean and others},
  date = {2019-05-01},
  eprint = {2101.00001v2}, archivePrefix = {arXiv},
}

@article{broken,
  title = {Never closed,
  author = {Nobody}

@book{nothing, author = {Someone, Else}, year = 2001}

@article{lo-etal-2020-s2orc, title = {Same Key, Other Paper}, year = 1999}

@article{dupfield, title = {A}, title = {B}}
"""


def write(tmp_path: Path, text: str = BIB, name: str = "refs.bib") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def read(p: Path) -> ReadResult:
    return READER.read(p, p.read_bytes())


def test_registered_and_selected(tmp_path):
    p = write(tmp_path)
    assert get_reader("bibtex") is not None
    assert select_reader(FileInfo(p, p.read_bytes()[:1000])).name == "bibtex"
    assert not READER.sniff(FileInfo(tmp_path / "refs.txt", b"@article{x, title={y}}"))


def test_entries(tmp_path):
    res = read(write(tmp_path))
    by_key = {n.properties["bibkey"]: n for n in res.nodes if n.label == Label.PAPER and n.properties["year"] != 1999}
    assert set(by_key) == {"lo-etal-2020-s2orc", "devlin2018bert", "mueller"}
    s2orc = by_key["lo-etal-2020-s2orc"]
    assert s2orc.id == "paper:doi:10.18653/v1/2020.acl-main.447"
    p = s2orc.properties
    assert p["title"] == "S2ORC: The Semantic Scholar Open Research Corpus"
    assert (p["year"], p["bibtype"], p["url"]) == (2020, "inproceedings", "https://aclanthology.org/2020.acl-main.447")
    assert p["venue"] == "Proceedings of the 58th Annual Meeting of the ACL"
    assert p["abstract"].startswith("We introduce S2ORC")
    assert not any(k.startswith("bib") for k in s2orc.keys)  # the citation key never becomes identity
    authors = [n.properties["name"] for n in res.nodes if n.label == Label.AUTHOR]
    assert authors[:5] == ["Kyle Lo", "Lucy Lu Wang", "Mark Neumann", "Rodney Kinney", "Daniel Weld"]
    assert ("author:name:lucy-lu-wang", s2orc.id) in {(e.source, e.target) for e in res.edges if e.type == Rel.AUTHORED}
    cats = {n.id for n in res.nodes if n.label == Label.CATEGORY}
    assert cats == {"category:keyword:corpus", "category:keyword:citation-graph", "category:keyword:nlp"}

    bert = by_key["devlin2018bert"]
    assert bert.id == "paper:arxiv:1810.04805" and bert.properties["venue"] == "arXiv"
    assert bert.properties["title"] == "BERT: Pre-training of Deep Bidirectional Transformers for Language Understanding"

    m = by_key["mueller"]
    assert m.id == "paper:arxiv:2101.00001"
    assert m.properties["title"] == "Über naïve Café-Modelle für $\\alpha$-Tests & mehr"
    assert (m.properties["year"], m.properties["date"]) == (2019, "2019-05-01")
    names = [n.properties["name"] for n in res.nodes if n.label == Label.AUTHOR]
    assert {"Jörg Müller", "Ludwig van Beethoven", "World Health Organization", "Jean de la Fontaine Jr"} <= set(names)
    assert "others" not in {n.lower() for n in names}
    assert m.properties["n_authors"] == 4


def test_errors_and_warnings(tmp_path):
    res = read(write(tmp_path))
    assert res.errors == [
        "line 30: invalid BibTeX entry (Unexpected block start: `@book`. Was still looking for field-value closing `}`)",
        "line 34: entry 'nothing' has no title and no identifier",
        "line 38: invalid BibTeX entry (duplicate field 'title')",
    ]
    assert res.warnings == ["line 36: duplicate entry key 'lo-etal-2020-s2orc' (entry kept)"]
    dup = [n for n in res.nodes if n.label == Label.PAPER and n.properties.get("year") == 1999]
    assert [n.properties["title"] for n in dup] == ["Same Key, Other Paper"]


@pytest.mark.parametrize("text,msg", [
    ("just some text, no entries", "no BibTeX entries"),
    ("@article{a, author = {X}}", "no title and no identifier"),
    ("@article{a, title = {oops", "invalid BibTeX entry"),
])
def test_unusable_files_raise(tmp_path, text, msg):
    with pytest.raises(ReaderError, match=msg):
        read(write(tmp_path, text))


def test_latin1_file_is_read_with_a_warning(tmp_path):
    p = tmp_path / "old.bib"
    p.write_bytes("@article{a, title = {Café}, year = 1990}\n".encode("latin-1"))
    res = read(p)
    assert res.nodes[0].properties["title"] == "Café"
    assert res.warnings and "Latin-1" in res.warnings[0]


def test_doi_from_url_and_pmid(tmp_path):
    res = read(write(tmp_path, "@article{a, title={T}, url={https://doi.org/10.1000/XYZ}, pmid={123}}"))
    (node,) = [n for n in res.nodes if n.label == Label.PAPER]
    assert node.id == "paper:doi:10.1000/xyz" and "pubmed:123" in node.keys


def test_eprint_of_another_archive_is_not_arxiv(tmp_path):
    res = read(write(tmp_path, "@misc{a, title={T}, eprint={2101.00001}, archiveprefix={HAL}}"))
    assert not any(k.startswith("arxiv:") for k in res.nodes[0].keys)


def test_helpers():
    assert latex_to_text(r"{T}he \emph{Deep}~Way -- 100\% {\o}k") == "The Deep Way – 100% øk"
    assert latex_to_text("plain {Braced} text") == "plain Braced text"
    assert person_name("Knuth, Donald E.") == "Donald E. Knuth"
    assert person_name("others") is None and person_name("  ") is None


# ---------------------------------------------------------------------------- identity across sources

S2ORC_SAME_DOI = {"paper_id": "215416146", "title": "S2ORC: The Semantic Scholar Open Research Corpus",
                  "authors": [{"first": "Kyle", "middle": [], "last": "Lo", "suffix": ""}], "year": 2020,
                  "doi": "10.18653/V1/2020.ACL-MAIN.447", "venue": "ACL", "outbound_citations": []}
ARXIV_SAME_TITLE = {"id": "2999.99999", "title": "Über Naive  Café-modelle für $\\alpha$-tests & Mehr!",
                    "categories": "cs.CL", "authors_parsed": [["Müller", "Jörg", ""]],
                    "versions": [{"version": "v1", "created": "Wed, 1 May 2019 10:00:00 GMT"}]}


def bib_papers(tmp_path: Path) -> dict[str, NodeRecord]:
    """refs.bib's papers by citation key (the duplicate-key entry left out)."""
    return {n.properties["bibkey"]: n for n in read(write(tmp_path)).nodes
            if n.label == Label.PAPER and n.properties.get("year") != 1999}


def test_same_doi_same_paper_id(tmp_path):
    bib = bib_papers(tmp_path)
    p = tmp_path / "s2.jsonl"
    p.write_text(json.dumps(S2ORC_SAME_DOI) + "\n")
    (meta,) = [n for n in PaperMetadataReader().read(p, p.read_bytes()).nodes if n.label == Label.PAPER]
    assert meta.id == bib["lo-etal-2020-s2orc"].id == "paper:doi:10.18653/v1/2020.acl-main.447"
    assert title_key("S2ORC: The Semantic Scholar Open Research Corpus", 2020) in set(meta.keys) & set(bib["lo-etal-2020-s2orc"].keys)


def test_same_title_and_year_same_title_key(tmp_path):
    bib = bib_papers(tmp_path)
    bib_title = title_key("Über naïve Café-Modelle für $\\alpha$-Tests & mehr", 2019)
    assert bib_title in bib["mueller"].keys
    entry = "@article{x, title = {{U}ber Naive Caf{\\'e}-Modelle f{\\\"u}r $\\alpha$-Tests \\& Mehr!}, year = 2019}"
    (plain,) = [n for n in read(write(tmp_path, entry, "b.bib")).nodes if n.label == Label.PAPER]
    assert plain.keys[0] == bib_title and plain.id == "paper:" + bib_title.rsplit(":", 1)[0]
    assert plain.keys[1:] == tuple(k for k in bib["mueller"].keys if k.startswith("ntitle:"))
    p = tmp_path / "arxiv.jsonl"
    p.write_text(json.dumps(ARXIV_SAME_TITLE) + "\n")
    (arx,) = [n for n in PaperMetadataReader().read(p, p.read_bytes()).nodes if n.label == Label.PAPER]
    assert bib_title in arx.keys


def test_store_merges_bibtex_with_metadata(tmp_path):
    """End to end: the store resolves a BibTeX entry and an S2ORC record into one paper."""
    write(tmp_path, BIB, "refs.bib")
    (tmp_path / "s2.jsonl").write_text(json.dumps(S2ORC_SAME_DOI) + "\n")
    single = "@article{x, title = {{U}ber Naive Cafe-Modelle fur $\\alpha$-Tests mehr}, year = 2019}"
    write(tmp_path, single, "other.bib")
    store = open_store(tmp_path / "kg")
    report = ingest_paths(store, [tmp_path / "refs.bib", tmp_path / "s2.jsonl", tmp_path / "other.bib"])
    assert {Path(f.path).name: f.status for f in report.files} == {"refs.bib": "partial", "s2.jsonl": "added",
                                                                  "other.bib": "added"}
    pid = "paper:doi:10.18653/v1/2020.acl-main.447"
    (node,) = store.get_nodes([pid]).values()
    assert node.properties["s2_id"] == "215416146" and node.properties["bibkey"] == "lo-etal-2020-s2orc"
    assert sorted(Path(s).name for s in store.node_sources(pid)) == ["refs.bib", "s2.jsonl"]
    # no DOI / arXiv id in other.bib: it merges with refs.bib's entry by title + year
    (mueller,) = store.get_nodes(["paper:arxiv:2101.00001"]).values()
    assert mueller.properties["bibkey"] == "x"  # per property, the first source path (other.bib) wins
    assert sorted(Path(s).name for s in store.node_sources(mueller.id)) == ["other.bib", "refs.bib"]
    assert len(list(store.iter_nodes([Label.PAPER]))) == 4  # s2orc, bert, mueller, the duplicate-key entry


# ---------------------------------------------------------------------------- slices and the entry cap

MORE = BIB + r"""
@string{late = "Proceedings of a Late Venue"}
@article{fwd, title = {Forward Reference}, journal = late2, year = 2003}
@STRING{late2 = "Defined After Use"}
@string{acl = "A Second ACL Definition"}
@article{paren(x), title = {Parenthesised}, year = 2004}
  @article(p2, title = "Quoted (with parens)", booktitle = late, year = 2005)
@comment{ an @ that is not a block }
% free text with an unbalanced { brace
@misc{devlin2018bert, title = {Key Used Again}, year = 2006} @string{inline = "Mid-line Macro"}
@misc{uses-inline, title = {T}, journal = inline, year = 2007}
"""


def block_signature(line: int, block) -> tuple:
    import bibtexparser.model as model

    sig: tuple = (type(block).__name__, line, getattr(block, "key", None), block.raw)
    if isinstance(block, model.Entry):
        sig += (block.entry_type, [(f.key, f.value) for f in block.fields])
    if isinstance(block, model.ParsingFailedBlock):
        sig += (getattr(block.error, "abort_reason", str(block.error)), type(block.ignore_error_block).__name__)
    return sig


@pytest.mark.parametrize("slice_chars", [1, 7, 60, 400, 10**6])
@pytest.mark.parametrize("text", [BIB, MORE], ids=["bib", "more"])
def test_slices_give_the_blocks_of_one_parse(text: str, slice_chars: int) -> None:
    """Parity with bibtexparser: the sliced parse yields the blocks of one parse_string of the whole text."""
    import bibtexparser
    from bibtexparser.middlewares import NormalizeFieldKeys, SeparateCoAuthors

    from ingest.readers.bibtex_slices import iter_blocks

    whole = bibtexparser.parse_string(text, append_middleware=[NormalizeFieldKeys(), SeparateCoAuthors()])
    expected = [block_signature((b.start_line or 0) + 1, b) for b in whole.blocks]
    got = [block_signature(line, b) for line, b in
           iter_blocks(text, [NormalizeFieldKeys(), SeparateCoAuthors()], slice_chars=slice_chars)]
    assert got == expected
    assert len(expected) > 8


def test_reader_output_does_not_depend_on_the_slice_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ingest.readers import bibtex_slices

    p = write(tmp_path, MORE)
    whole = read(p)
    monkeypatch.setattr(bibtex_slices, "SLICE_CHARS", 1)  # every block in a slice of its own
    sliced = read(p)
    assert (sliced.nodes, sliced.edges, sliced.warnings, sliced.errors) == \
        (whole.nodes, whole.edges, whole.warnings, whole.errors)
    venues = {n.properties["bibkey"]: n.properties.get("venue") for n in sliced.nodes
              if n.label == Label.PAPER and n.properties.get("year") not in (1999, 2006)}  # not the repeated keys
    # macros resolve across slices, also before their definition (as bibtexparser resolves them)
    assert venues["fwd"] == "Defined After Use" and venues["p2"] == "Proceedings of a Late Venue"
    assert venues["lo-etal-2020-s2orc"] == "Proceedings of the 58th Annual Meeting of the ACL"  # the first @string acl
    assert venues["uses-inline"] == "Mid-line Macro"
    assert "line 43: duplicate @string 'acl' (the first one is used)" in sliced.warnings
    assert "line 48: duplicate entry key 'devlin2018bert' (entry kept)" in sliced.warnings


def test_entries_past_the_cap_are_not_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ingest.readers import bibtex

    monkeypatch.setattr(bibtex, "MAX_ENTRIES", 3)
    text = "@string{v = {Reef Letters}}\n" + "".join(
        f"@article{{k{i}, title = {{Entry {i}}}, journal = v, year = 2001}}\n" for i in range(5))
    res = read(write(tmp_path, text))
    titles = [n.properties["title"] for n in res.nodes if n.label == Label.PAPER]
    assert titles == ["Entry 0", "Entry 1", "Entry 2"]
    assert res.warnings == ["stopped at line 5: over the limit of 3 entries per file; the rest was not read"]
    assert res.errors == []
    assert all(n.properties.get("venue") == "Reef Letters" for n in res.nodes if n.label == Label.PAPER)


@pytest.mark.slow
def test_a_million_entries_are_read_up_to_the_cap_under_1_gb(tmp_path: Path) -> None:
    """The bad-input matrix's 1,000,000-entry file through ``kg ingest`` alone: the first 200,000
    entries are kept, a warning says where reading stopped, and the process's peak RSS (VmHWM)
    stays under the cap documented in docs/reliability.md."""
    import importlib.util
    import os
    import subprocess
    import sys

    from ingest.readers.bibtex import MAX_ENTRIES

    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("bad_input", root / "benchmarks" / "bad_input.py")
    assert spec and spec.loader
    bench = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = bench
    spec.loader.exec_module(bench)
    bib = tmp_path / "huge.bib"
    with bib.open("w") as f:
        for i in range(1_000_000):
            f.write(f"@article{{k{i}, title={{Entry {i} on reef ecology}}, year={{2001}}}}\n")
    hwm = tmp_path / "hwm"
    run = subprocess.run([sys.executable, "-c", bench._HWM, str(hwm), "ingest", str(bib), "--store", str(tmp_path / "s"),
                          "--json", "--no-embed"], capture_output=True, text=True, timeout=600,
                         env={**os.environ, "PYTHONPATH": str(root)})
    (file,) = json.loads(run.stdout)["files"]
    assert (file["status"], file["nodes"]) == ("added", MAX_ENTRIES) == ("added", 200_000)
    assert file["warnings"] == ["stopped at line 200001: over the limit of 200,000 entries per file; the rest was not read"]
    assert int(hwm.read_text()) / 1024 < 1024
