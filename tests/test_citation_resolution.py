"""Citations resolved into a citation graph: a reference links to the cited Paper already in the
store (or merges with it when it arrives later) by DOI, arXiv id, or title with a year at most
one apart; papers titled alike but years apart, and strong ids that disagree, stay apart. The
store tests run against the embedded SQLite store and a real Neo4j server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ingest.records import PaperRecord, PaperRef, paper_records
from ingest.reference_parser import parse_reference
from kg.graph import KnowledgeGraph
from kg.ids import loose_title_key, paper_id_from_keys, title_key
from kg.model import ReadResult
from kg.store import GraphStore, SourceInfo
from kg.store.merge import compatible

SCIBERT = "SciBERT: A Pretrained Language Model for Scientific Text"
ELMO = "Deep contextualized word representations"
LONG = "A long title about citation graphs in practice"


# ---------------------------------------------------------------------------------------- keys
@pytest.mark.parametrize("variant", [
    "Sci-BERT: a pretrained language model for scientific text",  # hyphenation left by a PDF
    "{S}ci{BERT}: A Pretrained Language Model for Scientific \\emph{Text}",  # BibTeX braces, LaTeX
    "SCIBERT:  A PRETRAINED LANGUAGE MODEL FOR SCIENTIFIC TEXT.",
    "SciBERT – a pre-trained language model for scientific text",
])
def test_loose_title_key_ignores_case_punctuation_latex_and_spacing(variant):
    assert loose_title_key(variant) == loose_title_key(SCIBERT) is not None


def test_loose_title_key_folds_modifier_letters_from_pdfs():
    assert loose_title_key("MSˆ2: Multi-document summarization of medical studies") == \
        loose_title_key("MS^2: Multi-Document Summarization of Medical Studies")


@pytest.mark.parametrize("title", ["Introduction", "Deep learning", "Copyright and fair use", "Okapi at TREC-3"])
def test_short_titles_get_no_loose_key(title):
    assert loose_title_key(title) is None


def test_compatible_by_years_and_identifiers():
    t = loose_title_key(LONG)
    assert t is not None
    a, b = {t, title_key(LONG, 2019)}, {t, title_key(LONG, 2020)}
    assert compatible(a, b)  # preprint and venue year
    assert not compatible(a, {t, title_key(LONG, 2021)})  # two years apart
    assert compatible(a, {t, title_key(LONG, None)})  # a reference without a year
    assert compatible({"doi:10.1/a", title_key(LONG, 2001)}, {"doi:10.1/a", title_key(LONG, 2015)})  # a DOI agrees
    assert not compatible({"doi:10.1/a", t}, {"doi:10.1/b", t})  # strong ids disagree


def test_namesake_id_keeps_the_year():
    keys = [title_key(LONG, 2015)]
    assert paper_id_from_keys(keys) == "paper:" + keys[0].rsplit(":", 1)[0]
    assert paper_id_from_keys(keys, keep_year=True) == "paper:" + keys[0]


# ----------------------------------------------------------------------------- reference parser
def test_title_goes_on_after_an_exclamation_mark_before_a_lower_case_subtitle():
    ref = parse_reference("Shashi Narayan, Shay B. Cohen, and Mirella Lapata. 2018. Don’t give me the details, "
                          "just the summary! topic-aware convolutional neural networks for extreme summarization. "
                          "In Proceedings of EMNLP, pages 1797–1807.")
    assert ref is not None and ref.year == 2018
    assert ref.title == ("Don’t give me the details, just the summary! topic-aware convolutional neural networks "
                         "for extreme summarization")
    q = parse_reference("Jane Doe. 2020. Is attention explanation? In Proceedings of ACL.")
    assert q is not None and q.title == "Is attention explanation?"


def test_corr_abs_gives_the_arxiv_id():
    ref = parse_reference("Yinhan Liu and Myle Ott. 2019. RoBERTa: A robustly optimized BERT pretraining "
                          "approach. CoRR, abs/1907.11692.")
    assert ref is not None and ref.arxiv_id == "1907.11692"


# --------------------------------------------------------------------------------- both stores
def paper(**kw) -> ReadResult:
    return paper_records(PaperRecord(**kw))[1]


def write(store: GraphStore, path: str, result: ReadResult) -> None:
    store.write_source(SourceInfo(path, "h" + path, 1, 1.0, "test"), result)


def cites(store: GraphStore) -> set[tuple[str, str]]:
    return {(s, d) for s, t, d in store.edge_keys(["CITES"])}


def papers(store: GraphStore) -> dict[str, dict]:
    return {n.id: n.properties for n in store.iter_nodes(["Paper"])}


CITED = {
    "arxiv.jsonl": paper(title=SCIBERT, year=2019, arxiv_id="1903.10676"),
    "acl.bib": paper(title="Deep Contextualized Word Representations", year=2018, doi="10.18653/v1/N18-1202"),
}
CITING = {"citing.pdf": paper(title="A paper that cites", year=2021, citations=[
    PaperRef(title="Sci-BERT: a pretrained language model for scientific text", year=2020),  # venue year
    PaperRef(title=ELMO),  # no year
    PaperRef(title="Attention is all you need", year=2017),  # not in the store
])}


@pytest.mark.parametrize("order", ["cited-first", "citing-first"])
def test_references_link_to_the_stored_paper_in_either_order(make_store, order):
    store = make_store()
    first, second = (CITED, CITING) if order == "cited-first" else (CITING, CITED)
    for batch in (first, second):
        for path, result in batch.items():
            write(store, path, result)
    citing = next(i for i, p in papers(store).items() if p["title"] == "A paper that cites")
    assert {d for s, d in cites(store) if s == citing} == {
        "paper:arxiv:1903.10676", "paper:doi:10.18653/v1/n18-1202",
        paper_id_from_keys([title_key("Attention is all you need", 2017)])}
    by_id = papers(store)
    assert by_id["paper:arxiv:1903.10676"]["title"] == SCIBERT  # the full record's properties win
    assert not any(i.startswith("paper:title:") and "Sci" in p.get("title", "") for i, p in by_id.items())


def test_stub_merge_is_order_independent(make_store):
    snaps = []
    for order in ((CITED, CITING), (CITING, CITED)):
        store = make_store()
        for batch in order:
            for path, result in batch.items():
                write(store, path, result)
        snaps.append((sorted(cites(store)), sorted(papers(store))))
    assert snaps[0] == snaps[1]


def test_namesakes_stay_apart(make_store):
    store = make_store()
    write(store, "a.json", paper(title="Introduction", year=2019, abstract="first"))
    write(store, "b.json", paper(title="Introduction", year=2021, abstract="second"))
    write(store, "c.json", paper(title=LONG, year=2001, abstract="old"))
    write(store, "d.json", paper(title=LONG, year=2015, abstract="new"))
    write(store, "e.json", paper(title="X cites", citations=[PaperRef(title="Introduction", year=2021),
                                                             PaperRef(title=LONG, year=2016)]))
    write(store, "f.json", paper(title="Y cites", citations=[PaperRef(title="Introduction")]))
    by_abstract = {p["abstract"]: i for i, p in papers(store).items() if "abstract" in p}
    by_title = {p["title"]: i for i, p in papers(store).items()}
    assert len({by_abstract[a] for a in ("first", "second", "old", "new")}) == 4
    out = {d for s, d in cites(store) if s == by_title["X cites"]}
    assert out == {by_abstract["second"], by_abstract["new"]}  # the exact year; one year apart
    (yearless,) = [d for s, d in cites(store) if s == by_title["Y cites"]]
    assert yearless not in by_abstract.values()  # a short title without a year stays a stub


def test_strong_ids_that_disagree_never_merge(make_store):
    store = make_store()
    write(store, "a.json", paper(title=LONG, year=2020, doi="10.1/a"))
    write(store, "b.json", paper(title="Citing", citations=[PaperRef(title=LONG, year=2020, doi="10.1/b")]))
    assert cites(store) == {(paper_id_from_keys([title_key("Citing", None)]), "paper:doi:10.1/b")}
    assert {"paper:doi:10.1/a", "paper:doi:10.1/b"} <= set(papers(store))


def test_removing_a_source_keeps_namesakes_apart(make_store):
    store = make_store()
    write(store, "c.json", paper(title=LONG, year=2001, abstract="old"))
    write(store, "d.json", paper(title=LONG, year=2015, abstract="new"))
    write(store, "e.json", paper(title=LONG, year=2015, doi="10.1/x"))  # gives the 2015 paper a DOI id
    assert papers(store)["paper:doi:10.1/x"]["abstract"] == "new"
    store.remove_source("e.json")  # its best key is the title again, whose id the 2001 paper holds
    by_abstract = {p.get("abstract"): i for i, p in papers(store).items()}
    assert set(by_abstract) == {"old", "new"} and by_abstract["old"] != by_abstract["new"]
    assert by_abstract["new"] == paper_id_from_keys([title_key(LONG, 2015)], keep_year=True)


# ------------------------------------------------------------------ real readers, first load
def _folder(tmp_path: Path) -> tuple[Path, Path]:
    arxiv = tmp_path / "arxiv.jsonl"
    arxiv.write_text(json.dumps({
        "id": "1810.04805", "authors": "Jacob Devlin, Ming-Wei Chang, Kenton Lee, Kristina Toutanova",
        "title": "BERT: Pre-training of Deep Bidirectional Transformers for Language\n  Understanding",
        "categories": "cs.CL", "abstract": "We introduce BERT.",
        "versions": [{"version": "v1", "created": "Thu, 11 Oct 2018 00:50:01 GMT"}]}) + "\n")
    tex = tmp_path / "note" / "note.tex"
    tex.parent.mkdir()
    tex.write_text("\\documentclass{article}\n\\title{A Note on Encoders}\n\\author{A. Author}\n\\begin{document}\n"
                   "\\maketitle\n\\begin{abstract}Short.\\end{abstract}\n\\section{Intro}\nEncoders \\cite{devlin}.\n"
                   "\\bibliography{refs}\n\\end{document}\n")
    (tex.parent / "refs.bib").write_text(
        "@inproceedings{devlin,\n title = {{BERT}: Pre-training of Deep Bidirectional Transformers for Language "
        "Understanding},\n author = {Devlin, Jacob},\n year = {2019},\n doi = {10.18653/v1/N19-1423}\n}\n")
    return arxiv, tex


@pytest.mark.parametrize("calls", ["one", "cited-first", "citing-first"])
def test_latex_citation_resolves_on_first_load_and_later_ingests(tmp_path, calls):
    arxiv, tex = _folder(tmp_path)
    batches = {"one": [[arxiv, tex]], "cited-first": [[arxiv], [tex]], "citing-first": [[tex], [arxiv]]}[calls]
    with KnowledgeGraph.open(tmp_path / "kg") as g:
        for batch in batches:
            assert g.ingest(*batch, embed=False).ok
        titles = {n.id: n.properties.get("title") for n in g.store.iter_nodes(["Paper"])}
        (note,) = [i for i, t in titles.items() if t == "A Note on Encoders"]
        (target,) = [d for s, _, d in g.store.edge_keys(["CITES"]) if s == note]
        assert target == "paper:doi:10.18653/v1/n19-1423"  # the best key of the merged paper
        sup = [(path, stub) for nid, path, _, stub, _ in g.store.node_supports([target])]
        assert (str(arxiv), False) in sup and len(titles) == 2
