"""Tests for the RIS and CSL-JSON readers (ingest/readers/references.py), cross-source identity,
and one end-to-end ingest of a research group's folder (RIS, CSL-JSON, BibTeX, S2ORC, LaTeX,
a notebook) through KnowledgeGraph."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from ingest.readers.base import HEAD_BYTES, FileInfo, select_reader
from ingest.readers.bibtex import BibtexReader
from ingest.readers.paper_metadata import PaperMetadataReader
from ingest.readers.references import CslJsonReader, RisReader, display_name, split_ris
from kg.errors import ReaderError
from kg.model import Label, ReadResult, Rel

rispy = pytest.importorskip("rispy")

RIS = RisReader()
CSL = CslJsonReader()
DOI = "10.18653/v1/2020.acl-main.447"


def read(reader: RisReader | CslJsonReader | BibtexReader | PaperMetadataReader, path: Path,
         data: bytes | str) -> ReadResult:
    raw = data.encode() if isinstance(data, str) else data
    path.write_bytes(raw)
    return reader.read(path, raw)


def papers(res: ReadResult) -> dict[str, dict]:
    return {n.id: n.properties for n in res.nodes if n.label == Label.PAPER and not n.stub}


def sniffed(path: Path, data: str | bytes) -> str | None:
    raw = data.encode() if isinstance(data, str) else data
    path.write_bytes(raw)
    r = select_reader(FileInfo(path, raw[:HEAD_BYTES]))
    return r.name if r else None


# ---------------------------------------------------------------------------- RIS

def ris_entries() -> list[dict]:
    return [
        {"type_of_reference": "JOUR", "authors": ["Lo, Kyle", "Wang, Lucy Lu"],
         "title": "S2ORC: The Semantic Scholar Open Research Corpus", "secondary_title": "Proceedings of ACL",
         "year": "2020", "doi": DOI, "abstract": "We introduce S2ORC.", "keywords": ["corpus", "citation graph"],
         "id": "lo2020"},
        {"type_of_reference": "CPAPER", "authors": ["Devlin, Jacob", "King, Martin Luther, Jr."], "title": "BERT",
         "urls": ["https://arxiv.org/abs/1810.04805v2"], "year": "2019///"},
    ]


def test_ris_written_by_rispy(tmp_path: Path) -> None:
    res = read(RIS, tmp_path / "lib.ris", rispy.dumps(ris_entries()))
    ps = papers(res)
    assert set(ps) == {f"paper:doi:{DOI}", "paper:arxiv:1810.04805"}
    s2orc = ps[f"paper:doi:{DOI}"]
    assert s2orc["title"].startswith("S2ORC") and s2orc["year"] == 2020 and s2orc["venue"] == "Proceedings of ACL"
    assert s2orc["abstract"] == "We introduce S2ORC." and s2orc["ris_type"] == "JOUR" and s2orc["ris_id"] == "lo2020"
    assert ps["paper:arxiv:1810.04805"]["year"] == 2019
    names = {n.properties["name"] for n in res.nodes if n.label == Label.AUTHOR}
    assert names == {"Kyle Lo", "Lucy Lu Wang", "Jacob Devlin", "Martin Luther King Jr."}
    cats = {n.properties["name"] for n in res.nodes if n.label == Label.CATEGORY}
    assert cats == {"corpus", "citation graph"}
    assert {(e.type, e.target) for e in res.edges if e.source == f"paper:doi:{DOI}"} >= {
        (Rel.PUBLISHED_IN, "venue:proceedings-of-acl"), (Rel.IN_CATEGORY, "category:keyword:corpus")}
    assert not res.errors and not res.warnings


def test_display_name() -> None:
    assert display_name("Lo, Kyle") == "Kyle Lo"
    assert display_name("World Health Organization") == "World Health Organization"
    assert display_name(" , ") is None


def test_ris_missing_er_is_kept_not_merged(tmp_path: Path) -> None:
    text = "TY  - JOUR\nTI  - First paper\nPY  - 2001\nTY  - JOUR\nTI  - Second paper\nPY  - 2002\nER  - \n" \
           "TY  - BOOK\nTI  - Third, never closed\n"
    res = read(RIS, tmp_path / "a.ris", text)
    assert sorted(p["title"] for p in papers(res).values()) == ["First paper", "Second paper", "Third, never closed"]
    assert any("1, 3 have no 'ER  -'" in w for w in res.warnings), res.warnings
    assert not res.errors


def test_ris_unknown_tags_and_stray_lines(tmp_path: Path) -> None:
    text = "exported by EndNote\n\nTY  - JOUR\nTI  - A paper\nZZ  - what\nQ9  - other\nER  - \ngarbage\n"
    res = read(RIS, tmp_path / "a.ris", text)
    assert [p["title"] for p in papers(res).values()] == ["A paper"]
    assert "unknown RIS tags ignored: Q9, ZZ" in res.warnings
    assert any("2 line(s) outside" in w for w in res.warnings)


def test_ris_bad_record_goes_to_errors_with_its_index(tmp_path: Path) -> None:
    text = "TY  - JOUR\nTI  - Good\nER  - \n\nTY  - JOUR\nAU  - Nobody, A.\nER  - \n"
    res = read(RIS, tmp_path / "a.ris", text)
    assert [p["title"] for p in papers(res).values()] == ["Good"]
    assert res.errors == ["record 2 (line 5): no title and no identifier"]


def test_ris_legacy_encoding_is_decoded_with_a_warning(tmp_path: Path) -> None:
    text = "TY  - JOUR\r\nAU  - Müller, Jörg\r\nTI  - Über Café-Modelle für Straßen\r\nER  - \r\n"
    res = read(RIS, tmp_path / "a.ris", text.encode("cp1252"))
    assert [p["title"] for p in papers(res).values()] == ["Über Café-Modelle für Straßen"]
    assert {n.properties["name"] for n in res.nodes if n.label == Label.AUTHOR} == {"Jörg Müller"}
    assert any("not UTF-8" in w for w in res.warnings), res.warnings


@pytest.mark.parametrize("data, message", [
    ("just some text\n", "no RIS records"),
    ("TY  - JOUR\nAU  - Only, Author\nER  - \n", r"no usable RIS records; record 1 \(line 1\): no title"),
    (b"TY  - JOUR\x00\x00\x00binary", "binary"),
])
def test_ris_unreadable_files_raise_one_line(tmp_path: Path, data: str | bytes, message: str) -> None:
    with pytest.raises(ReaderError, match=message) as e:
        read(RIS, tmp_path / "a.ris", data)
    assert "\n" not in str(e.value)


def test_ris_split_and_content_sniff(tmp_path: Path) -> None:
    records, stray = split_ris("TY  - A\nTI  - x\nER  - \nTY  - B\n")
    assert [(line, closed) for line, _, closed in records] == [(1, True), (4, False)] and stray == 0
    assert sniffed(tmp_path / "export.txt", "TY  - JOUR\nTI  - x\nER  - \n") == "ris"
    assert sniffed(tmp_path / "notes.txt", "TY is a tag\n") != "ris"


def test_ris_many_records_stay_fast(tmp_path: Path) -> None:
    entries = [{"type_of_reference": "JOUR", "title": f"Paper {i}", "year": "2020"} for i in range(3000)]
    t0 = time.perf_counter()
    res = read(RIS, tmp_path / "big.ris", rispy.dumps(entries))
    assert len(papers(res)) == 3000 and time.perf_counter() - t0 < 20


# ---------------------------------------------------------------------------- CSL-JSON

CSL_ITEMS = [
    {"id": "lo2020", "citation-key": "lo-etal-2020-s2orc", "type": "paper-conference",
     "title": "S2ORC: The Semantic Scholar Open Research Corpus", "container-title": "Proceedings of ACL",
     "author": [{"family": "Lo", "given": "Kyle"}, {"family": "Beethoven", "given": "Ludwig",
                                                  "non-dropping-particle": "van"}, {"literal": "WHO"}],
     "issued": {"date-parts": [[2020, 7]]}, "DOI": DOI, "abstract": "We introduce S2ORC.",
     "keyword": "corpus, citation graph", "PMID": "123"},
    {"id": "bert", "type": "article", "title": "BERT", "URL": "https://arxiv.org/abs/1810.04805",
     "issued": {"raw": "2019"}, "author": [{"family": "Devlin", "given": "Jacob"}]},
]


def test_csl_json_items(tmp_path: Path) -> None:
    res = read(CSL, tmp_path / "zotero.json", json.dumps(CSL_ITEMS))
    ps = papers(res)
    assert set(ps) == {f"paper:doi:{DOI}", "paper:arxiv:1810.04805"}
    p = ps[f"paper:doi:{DOI}"]
    assert (p["year"], p["date"], p["venue"], p["bibkey"], p["csl_type"], p["pubmed_id"]) == \
        (2020, "2020-07", "Proceedings of ACL", "lo-etal-2020-s2orc", "paper-conference", "123")
    names = [n.properties["name"] for n in res.nodes if n.label == Label.AUTHOR]
    assert names[:3] == ["Kyle Lo", "Ludwig van Beethoven", "WHO"]
    assert ps["paper:arxiv:1810.04805"]["year"] == 2019
    assert {n.properties["name"] for n in res.nodes if n.label == Label.CATEGORY} == {"corpus", "citation graph"}


def test_csl_bad_items_are_errors_with_their_index(tmp_path: Path) -> None:
    items = [CSL_ITEMS[1], "not an item", {"type": "article", "author": [{"family": "X"}]},
             {"type": "article", "title": "Fine", "author": "not a list", "issued": {"date-parts": "bad"}}]
    res = read(CSL, tmp_path / "a.csl.json", json.dumps(items))
    assert sorted(p["title"] for p in papers(res).values()) == ["BERT", "Fine"]
    assert res.errors == ["record 2: not a JSON object (str)", "record 3: no title and no identifier"]


def test_csl_object_instead_of_list(tmp_path: Path) -> None:
    res = read(CSL, tmp_path / "one.json", json.dumps(CSL_ITEMS[0]))
    assert len(papers(res)) == 1 and "read as one item" in res.warnings[0]
    res = read(CSL, tmp_path / "byid.csl.json", json.dumps({i["id"]: i for i in CSL_ITEMS}))
    assert len(papers(res)) == 2 and "object of items" in res.warnings[0]
    res = read(CSL, tmp_path / "wrapped.csl.json", json.dumps({"items": CSL_ITEMS}))
    assert len(papers(res)) == 2 and not res.warnings
    with pytest.raises(ReaderError, match="must be a list of items, got an object"):
        read(CSL, tmp_path / "other.csl.json", json.dumps({"name": "pkg", "version": "1.0"}))


def test_csl_deeply_nested_json_is_bounded(tmp_path: Path) -> None:
    with pytest.raises(ReaderError, match="invalid JSON"):
        read(CSL, tmp_path / "deep.csl.json", "[" * 100_000 + "]" * 100_000)
    deep_inside = dict(CSL_ITEMS[1], note=json.loads("[" * 500 + "]" * 500), author=[{"family": [[["x"]]]}])
    res = read(CSL, tmp_path / "inside.csl.json", json.dumps([deep_inside]))
    assert [p["title"] for p in papers(res).values()] == ["BERT"]


def test_csl_invalid_json_and_encoding(tmp_path: Path) -> None:
    with pytest.raises(ReaderError, match=r"invalid JSON \(") as e:
        read(CSL, tmp_path / "bad.csl.json", '[{"type": "article", "title": "x",')
    assert "\n" not in str(e.value)
    latin = json.dumps([{"type": "article", "title": "Café"}], ensure_ascii=False).encode("cp1252")
    res = read(CSL, tmp_path / "latin.csl.json", latin)
    assert [p["title"] for p in papers(res).values()] == ["Café"] and "not UTF-8" in res.warnings[0]


def test_csl_sniff_does_not_steal_other_json(tmp_path: Path) -> None:
    s2orc = {"paper_id": "1", "title": "T", "authors": [], "year": 2020}
    arxiv = {"id": "1810.04805", "title": "T", "categories": "cs.CL", "authors": "A", "versions": []}
    openalex = {"id": "https://openalex.org/W1", "type": "article", "title": "T", "doi": "https://doi.org/10.1/x",
                "authorships": [], "publication_year": 2020}
    beir = {"_id": "d1", "title": "T", "text": "body", "type": "article"}
    assert sniffed(tmp_path / "csl.json", json.dumps(CSL_ITEMS)) == "csl-json"
    assert sniffed(tmp_path / "x.csl.json", "[]") == "csl-json"
    assert sniffed(tmp_path / "s2.json", json.dumps([s2orc])) == "paper-metadata"
    assert sniffed(tmp_path / "ax.json", json.dumps(arxiv)) == "paper-metadata"
    assert sniffed(tmp_path / "oa.json", json.dumps({"results": [openalex]})) == "paper-metadata"
    assert sniffed(tmp_path / "corpus.jsonl", json.dumps(beir) + "\n") == "beir-corpus"
    assert sniffed(tmp_path / "beir.json", json.dumps([beir])) != "csl-json"
    assert sniffed(tmp_path / "package.json", json.dumps({"name": "x", "type": "module", "title": "y"})) != "csl-json"


# ---------------------------------------------------------------------------- one paper, many sources

BIB = f"""@inproceedings{{lo-etal-2020-s2orc,
  title = {{{{S}}2{{ORC}}: The Semantic Scholar Open Research Corpus}},
  author = {{Lo, Kyle and Wang, Lucy Lu}}, booktitle = {{Proceedings of ACL}}, year = 2020, doi = {{{DOI}}}}}
"""
S2ORC = {"paper_id": "215416146", "title": "S2ORC: The Semantic Scholar Open Research Corpus",
         "authors": [{"first": "Kyle", "middle": [], "last": "Lo", "suffix": ""}], "year": 2020, "doi": DOI}


def test_same_doi_from_ris_csl_bibtex_s2orc_is_one_paper(tmp_path: Path) -> None:
    ids = [set(papers(read(reader, tmp_path / name, data)))
           for reader, name, data in [(RIS, "a.ris", rispy.dumps(ris_entries()[:1])),
                                      (CSL, "a.csl.json", json.dumps(CSL_ITEMS[:1])),
                                      (BibtexReader(), "a.bib", BIB),
                                      (PaperMetadataReader(), "a.json", json.dumps([S2ORC]))]]
    assert ids == [{f"paper:doi:{DOI}"}] * 4


def test_end_to_end_research_folder(tmp_path: Path) -> None:
    nbformat = pytest.importorskip("nbformat")
    from kg.graph import KnowledgeGraph

    folder = tmp_path / "group"
    folder.mkdir()
    (folder / "zotero.ris").write_text(rispy.dumps(ris_entries()))
    (folder / "mendeley.csl.json").write_text(json.dumps(CSL_ITEMS))
    (folder / "refs.bib").write_text(BIB)
    (folder / "s2orc.json").write_text(json.dumps([S2ORC]))
    (folder / "paper.tex").write_text(
        "\\documentclass{article}\\title{Reading Everything}\\author{Ann Lee \\and Bo Chen}\n\\begin{document}\n"
        "\\begin{abstract}We read all files.\\end{abstract}\n\\section{Intro}\nAs in \\citep{lo-etal-2020-s2orc}.\n"
        "\\bibliography{refs}\n\\end{document}\n")
    nb = nbformat.v4.new_notebook(metadata={"title": "Group notebook"})
    nb.cells = [nbformat.v4.new_markdown_cell("Loading **S2ORC**."), nbformat.v4.new_code_cell("load('s2orc')")]
    (folder / "analysis.ipynb").write_text(nbformat.writes(nb))

    with KnowledgeGraph.open(tmp_path / "kg") as g:
        report = g.ingest(folder, embed=False)
        readers = {Path(f.path).name: (f.reader, f.status) for f in report.files}
        assert readers == {"zotero.ris": ("ris", "added"), "mendeley.csl.json": ("csl-json", "added"),
                           "refs.bib": ("bibtex", "added"), "s2orc.json": ("paper-metadata", "added"),
                           "paper.tex": ("latex", "added"), "analysis.ipynb": ("notebook", "added")}, report.files
        pid = f"paper:doi:{DOI}"
        sources = {Path(s).name for s in g.store.node_sources(pid)}
        assert sources == {"zotero.ris", "mendeley.csl.json", "refs.bib", "s2orc.json", "paper.tex"}
        assert g.store.get_nodes([pid])[pid].properties["title"].startswith("S2ORC")
        tex_paper = next(n for n in g.store.iter_nodes([Label.PAPER]) if n.properties.get("title") == "Reading Everything")
        cites = [e for e in g.store.edges_of([tex_paper.id], types=[Rel.CITES], direction="out")]
        assert [(e.target, e.properties.get("bibkey")) for e in cites] == [(pid, "lo-etal-2020-s2orc")]
        docs = {n.properties["title"]: n for n in g.store.iter_nodes([Label.DOCUMENT])}
        assert set(docs) == {"Group notebook"}
        chunks = g.store.edges_of([docs["Group notebook"].id], types=[Rel.HAS_CHUNK], direction="out")
        assert len(chunks) == 2
        assert {Path(s).name for s in g.store.node_sources(docs["Group notebook"].id)} == {"analysis.ipynb"}
