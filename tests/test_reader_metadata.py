"""Tests for the paper-metadata reader (ingest/readers/paper_metadata.py): S2ORC, arXiv, OpenAlex."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ingest.readers.base import HEAD_BYTES, FileInfo, get_reader, select_reader
from ingest.readers.paper_metadata import PaperMetadataReader, rebuild_abstract, record_kind
from kg.errors import ReaderError
from kg.ids import loose_title_key, title_key
from kg.model import Label, NodeRecord, ReadResult, Rel

READER = PaperMetadataReader()

S2 = {
    "paper_id": "18980380", "title": "Distributionally Robust  Counterpart in MDPs",
    "authors": [{"first": "Pengqian", "middle": ["Q."], "last": "Yu", "suffix": "Jr."},
                {"first": "Huan", "middle": [], "last": "Xu", "suffix": ""}],
    "abstract": "We study MDPs.", "year": 2016, "arxiv_id": "1501.07418", "acl_id": None,
    "pmc_id": "PMC123", "pubmed_id": "555", "doi": "10.1109/TAC.2015.2495174", "venue": None,
    "journal": "IEEE Transactions on Automatic Control", "mag_id": "2952813233,1849856029",
    "mag_field_of_study": ["Mathematics", "Computer Science"],
    "outbound_citations": ["111", "222", "18980380"], "inbound_citations": ["333"],
    "s2_url": "https://api.semanticscholar.org/CorpusID:18980380",
}
S2_BARE = {"paper_id": "42", "title": "A Paper Without Anything Else", "authors": [], "year": None}
ARXIV = {
    "id": "0704.0002", "submitter": "Louis Theran", "authors": "Ileana Streinu and Louis Theran",
    "title": "Sparsity-certifying Graph\n  Decompositions", "comments": "To appear", "journal-ref": "Graphs Comb. 2008",
    "doi": None, "categories": "math.CO cs.CG", "abstract": "  We describe a new\nalgorithm.\n",
    "versions": [{"version": "v1", "created": "Sat, 31 Mar 2007 02:26:18 GMT"},
                 {"version": "v2", "created": "Sat, 13 Dec 2008 17:26:00 GMT"}],
    "update_date": "2008-12-13", "authors_parsed": [["Streinu", "Ileana", ""], ["Theran", "Louis", "Jr"]],
}
OPENALEX = {
    "id": "https://openalex.org/W2741809807", "doi": "https://doi.org/10.7717/PEERJ.4375",
    "title": "The state of OA", "display_name": "The state of OA", "publication_year": 2018,
    "publication_date": "2018-02-13",
    "ids": {"openalex": "https://openalex.org/W2741809807", "doi": "https://doi.org/10.7717/peerj.4375",
            "mag": "2741809807", "pmid": "https://pubmed.ncbi.nlm.nih.gov/29456894",
            "pmcid": "https://www.ncbi.nlm.nih.gov/pmc/articles/5815332"},
    "primary_location": {"landing_page_url": "https://doi.org/10.7717/peerj.4375",
                         "source": {"display_name": "PeerJ"}},
    "authorships": [
        {"author_position": "first",
         "author": {"id": "https://openalex.org/A5023888391", "display_name": "Heather Piwowar",
                    "orcid": "https://orcid.org/0000-0003-1613-5981"},
         "institutions": [{"display_name": "Impactstory"}, {"display_name": "University of X"}]},
        {"author": {"id": None, "display_name": "Jason Priem"}, "institutions": [],
         "raw_affiliation_strings": ["Somewhere Lab, Canada"]},
    ],
    "concepts": [{"display_name": "Open access", "level": 2, "score": 0.9},
                 {"display_name": "Noise", "level": 3, "score": 0.0}],
    "topics": [{"display_name": "Scholarly Communication"}],
    "referenced_works": ["https://openalex.org/W1", "https://openalex.org/W2"],
    "abstract_inverted_index": {"Despite": [0], "growing": [1], "interest": [2], "in": [3, 5], "OA": [4], "2018": [6]},
    "cited_by_count": 42,
}


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def jsonl(*records: object) -> str:
    return "\n".join(r if isinstance(r, str) else json.dumps(r) for r in records) + "\n"


def read(p: Path) -> ReadResult:
    return READER.read(p, p.read_bytes())


def papers(res: ReadResult, *, stub: bool = False) -> dict[str, NodeRecord]:
    return {n.id: n for n in res.nodes if n.label == Label.PAPER and n.stub == stub}


def edges(res: ReadResult, rel: str) -> set[tuple[str, str]]:
    return {(e.source, e.target) for e in res.edges if e.type == rel}


def names(res: ReadResult, label: str) -> set[str]:
    return {n.properties["name"] for n in res.nodes if n.label == label}


def test_registered_and_selected(tmp_path):
    assert get_reader("paper-metadata").priority == 20
    p = write(tmp_path, "meta.jsonl", jsonl(S2))
    assert select_reader(FileInfo(p, p.read_bytes())).name == "paper-metadata"


@pytest.mark.parametrize("rec,kind", [(S2, "s2orc"), (ARXIV, "arxiv"), (OPENALEX, "openalex"),
                                      ({"id": "W12", "authorships": []}, "openalex"),
                                      ({"_id": "1", "text": "x"}, None), ({"name": "pkg"}, None), ([1], None)])
def test_record_kind(rec, kind):
    assert record_kind(rec) == kind


def test_sniff(tmp_path):
    ok = [write(tmp_path, "a.jsonl", jsonl(S2)), write(tmp_path, "b.ndjson", jsonl(ARXIV)),
          write(tmp_path, "c.json", json.dumps(OPENALEX)), write(tmp_path, "d.json", json.dumps([S2, ARXIV])),
          write(tmp_path, "e.json", json.dumps({"meta": {"count": 1}, "results": [OPENALEX]})),
          write(tmp_path, "f.jsonl", jsonl("{broken", S2))]
    for p in ok:
        assert READER.sniff(FileInfo(p, p.read_bytes()[:HEAD_BYTES])), p.name
    no = [write(tmp_path, "package.json", json.dumps({"name": "x", "version": "1"})),
          write(tmp_path, "corpus.jsonl", jsonl({"_id": "1", "title": "t", "text": "x"})),
          write(tmp_path, "meta.txt", jsonl(S2)), write(tmp_path, "bad.json", "{not json")]
    for p in no:
        assert not READER.sniff(FileInfo(p, p.read_bytes()[:HEAD_BYTES])), p.name


def test_sniff_truncated_head(tmp_path):
    """An OpenAlex page or JSONL record longer than the sniffed head is still recognised."""
    big = dict(OPENALEX, referenced_works=[f"https://openalex.org/W{i}" for i in range(4000)])
    page = write(tmp_path, "page.json", json.dumps({"meta": {"count": 2}, "results": [OPENALEX, big]}))
    line = write(tmp_path, "big.jsonl", jsonl(big))
    for p in (page, line):
        data = p.read_bytes()
        assert len(data) > HEAD_BYTES
        assert READER.sniff(FileInfo(p, data[:HEAD_BYTES]))
    assert len(papers(read(page))) == 1  # same work twice


def test_s2orc_record(tmp_path):
    res = read(write(tmp_path, "s2.jsonl", jsonl(S2, S2_BARE)))
    assert not res.errors
    full = papers(res)
    pid = "paper:doi:10.1109/tac.2015.2495174"
    assert set(full) == {pid, "paper:s2:42"}
    node = full[pid]
    p = node.properties
    assert p["title"] == "Distributionally Robust Counterpart in MDPs"
    assert (p["year"], p["s2_id"], p["arxiv_id"], p["venue"]) == (2016, "18980380", "1501.07418",
                                                                  "IEEE Transactions on Automatic Control")
    assert (p["pubmed_id"], p["pmc_id"], p["mag_id"]) == ("555", "PMC123", "2952813233")
    assert p["url"].endswith("CorpusID:18980380")
    assert node.keys[:5] == ("doi:10.1109/tac.2015.2495174", "arxiv:1501.07418", "s2:18980380",
                             "pubmed:555", "pmc:PMC123")
    assert node.keys[-2:] == (title_key("Distributionally Robust Counterpart in MDPs", 2016),
                              loose_title_key("Distributionally Robust Counterpart in MDPs"))
    assert names(res, Label.AUTHOR) == {"Pengqian Q. Yu Jr.", "Huan Xu"}
    assert ("author:name:huan-xu", pid) in edges(res, Rel.AUTHORED)
    assert {(n.properties["scheme"], n.properties["name"]) for n in res.nodes if n.label == Label.CATEGORY} == {
        ("s2", "Mathematics"), ("s2", "Computer Science")}
    # citations are stub papers by S2 id; the self-citation is dropped
    assert edges(res, Rel.CITES) == {(pid, "paper:s2:111"), (pid, "paper:s2:222"), ("paper:s2:333", pid)}
    assert {n.id for n in res.nodes if n.stub} == {"paper:s2:111", "paper:s2:222", "paper:s2:333"}
    assert full["paper:s2:42"].keys == ("s2:42", title_key("A Paper Without Anything Else", None),
                                        loose_title_key("A Paper Without Anything Else"))


def test_arxiv_record(tmp_path):
    res = read(write(tmp_path, "arxiv.jsonl", jsonl(ARXIV)))
    (node,) = papers(res).values()
    assert node.id == "paper:arxiv:0704.0002"
    p = node.properties
    assert p["title"] == "Sparsity-certifying Graph Decompositions"
    assert p["abstract"] == "We describe a new algorithm."
    assert (p["date"], p["year"], p["journal_ref"], p["updated"]) == ("2007-03-31", 2007, "Graphs Comb. 2008", "2008-12-13")
    assert p["url"] == "https://arxiv.org/abs/0704.0002"
    assert names(res, Label.AUTHOR) == {"Ileana Streinu", "Louis Theran Jr"}
    assert {n.id for n in res.nodes if n.label == Label.CATEGORY} == {"category:arxiv:math-co", "category:arxiv:cs-cg"}
    # without authors_parsed the authors string is split
    res2 = read(write(tmp_path, "arxiv2.jsonl", jsonl({k: v for k, v in ARXIV.items() if k != "authors_parsed"})))
    assert names(res2, Label.AUTHOR) == {"Ileana Streinu", "Louis Theran"}


def test_openalex_record(tmp_path):
    res = read(write(tmp_path, "work.json", json.dumps(OPENALEX)))
    assert not res.errors
    (node,) = papers(res).values()
    pid = "paper:doi:10.7717/peerj.4375"
    assert node.id == pid
    p = node.properties
    assert p["abstract"] == "Despite growing interest in OA in 2018"
    assert (p["year"], p["date"], p["venue"], p["cited_by_count"]) == (2018, "2018-02-13", "PeerJ", 42)
    assert (p["openalex_id"], p["mag_id"], p["pubmed_id"], p["pmc_id"]) == ("W2741809807", "2741809807", "29456894", "PMC5815332")
    authors = {n.id: n.properties["name"] for n in res.nodes if n.label == Label.AUTHOR}
    assert authors == {"author:openalex:A5023888391": "Heather Piwowar", "author:name:jason-priem": "Jason Priem"}
    assert edges(res, Rel.AFFILIATED_WITH) == {
        ("author:openalex:A5023888391", "org:impactstory"), ("author:openalex:A5023888391", "org:university-of-x"),
        ("author:name:jason-priem", "org:somewhere-lab-canada")}
    cats = {(n.properties["scheme"], n.properties["name"]) for n in res.nodes if n.label == Label.CATEGORY}
    assert cats == {("openalex", "Open access"), ("openalex", "Scholarly Communication")}
    assert edges(res, Rel.CITES) == {(pid, "paper:openalex:W1"), (pid, "paper:openalex:W2")}


def test_openalex_arxiv_doi_gives_arxiv_key(tmp_path):
    rec = dict(OPENALEX, doi="https://doi.org/10.48550/arXiv.2301.00001", ids={})
    (node,) = papers(read(write(tmp_path, "w.json", json.dumps(rec)))).values()
    assert "arxiv:2301.00001" in node.keys


@pytest.mark.parametrize("doc", [[OPENALEX, S2], {"results": [OPENALEX, S2]}])
def test_json_shapes(tmp_path, doc):
    res = read(write(tmp_path, "many.json", json.dumps(doc)))
    assert set(papers(res)) == {"paper:doi:10.7717/peerj.4375", "paper:doi:10.1109/tac.2015.2495174"}


def test_json_file_holding_json_lines(tmp_path):
    res = read(write(tmp_path, "lines.json", jsonl(S2, ARXIV)))
    assert len(papers(res)) == 2 and not res.errors


def test_rebuild_abstract():
    assert rebuild_abstract({"b": [1], "a": [0, 2]}) == "a b a"
    assert rebuild_abstract(None) is None and rebuild_abstract({}) is None


def test_bad_lines_are_errors_good_records_kept(tmp_path):
    no_id = {"paper_id": "", "title": "", "authors": []}
    text = jsonl(S2, '{"paper_id": "1", "title": ', ARXIV, "", "[1, 2]", {"name": "x"}, no_id, S2_BARE)
    res = read(write(tmp_path, "mixed.jsonl", text))
    assert len(papers(res)) == 3
    assert res.errors[0].startswith("line 2: invalid JSON (")
    assert res.errors[1:] == ["line 5: not a JSON object", "line 6: not a paper metadata record",
                              "line 7: paper has no title and no identifier"]
    assert all("\n" not in e for e in res.errors)


def test_malformed_field_is_a_record_error(tmp_path):
    res = read(write(tmp_path, "odd.jsonl", jsonl(dict(S2, authors=[{"first": 1, "last": None}], year="n/a"),
                                                  dict(ARXIV, versions=[{"created": "garbage"}]),
                                                  dict(OPENALEX, authorships=[None]))))
    assert len(papers(res)) == 2
    assert res.errors == ["line 3: malformed openalex record (AttributeError: 'NoneType' object has no attribute 'get')"]


@pytest.mark.parametrize("name,text,msg", [
    ("bad.json", "{not json", "invalid JSON"),
    ("bad.jsonl", "{x\n{y\n", r"no valid JSON lines; line 1: invalid JSON \("),
    ("other.json", json.dumps([{"name": "a"}, {"name": "b"}]), "no paper metadata records"),
    ("blank.jsonl", "\n\n", "blank"),
])
def test_unreadable_files_raise(tmp_path, name, text, msg):
    with pytest.raises(ReaderError, match=msg):
        read(write(tmp_path, name, text))


def test_binary_raises(tmp_path):
    p = tmp_path / "x.json"
    p.write_bytes(b"\x00\x01\x02{}")
    with pytest.raises(ReaderError, match="binary"):
        read(p)


def test_bom_and_crlf(tmp_path):
    p = tmp_path / "bom.jsonl"
    p.write_bytes(b"\xef\xbb\xbf" + jsonl(S2, ARXIV).replace("\n", "\r\n").encode())
    assert READER.sniff(FileInfo(p, p.read_bytes()))
    assert len(papers(read(p))) == 2


# ---------------------------------------------------------------------------- shared data

def test_shared_s2orc_sample(shared):
    p = shared / "data/paper-metadata/s2orc_sample/metadata_sample.jsonl"
    assert select_reader(FileInfo(p, p.read_bytes()[:HEAD_BYTES])).name == "paper-metadata"
    res = read(p)
    assert not res.errors
    full = papers(res)
    assert len(full) == 1000
    first = full["paper:s2:77490025"]
    assert first.properties["title"] == "State of external ocular muscles in strabismus of different duration"
    assert first.properties["mag_id"] == "2426173123" and first.properties["year"] == 1975
    assert first.properties["venue"] == "Oftalmologicheskii\u0306 zhurnal"  # decomposed, as in the source
    pid = "paper:doi:10.1109/tac.2015.2495174"
    assert full[pid].properties["arxiv_id"] == "1501.07418"
    assert (pid, "category:s2:computer-science") in edges(res, Rel.IN_CATEGORY)
    assert ("author:name:huan-xu", pid) in edges(res, Rel.AUTHORED)
    assert (pid, pid) not in edges(res, Rel.CITES) and (pid, "paper:s2:18980380") not in edges(res, Rel.CITES)
    assert len(edges(res, Rel.CITES)) > 5000
    assert all(n.id.startswith("paper:s2:") for n in res.nodes if n.stub)


def test_shared_arxiv_head(shared):
    (p,) = (shared / "data/paper-metadata/arxiv_oai_head200").glob("*.jsonl")
    res = read(p)
    assert not res.errors
    full = papers(res)
    assert len(full) == 200
    first = full["paper:doi:10.1103/physrevd.76.013009"]
    assert first.properties["arxiv_id"] == "0704.0001"
    assert first.properties["date"] == "2007-04-02" and first.properties["year"] == 2007
    assert first.properties["title"].startswith("Calculation of prompt diphoton production cross sections at Tevatron and LHC")
    assert {("author:name:c-balazs", first.id), ("author:name:c-p-yuan", first.id)} <= edges(res, Rel.AUTHORED)
    assert (first.id, "category:arxiv:hep-ph") in edges(res, Rel.IN_CATEGORY)
    assert "paper:arxiv:0704.0002" in full


@pytest.mark.parametrize("name", ["Jane O'Doe", "Doe, Jane A.", "  Zoë  Ångström ", "李 小龙", "___", "!!!", "Ｆｕｌｌ Ｗｉｄｔｈ",
                                  "ﬁona ﬂores", "Mc_Donald, Ronald", "A" * 120])
def test_author_id_is_the_slug_of_the_normalised_name(name):
    from kg.ids import author_id, normalize_person_name, slug

    author_id.cache_clear()
    assert author_id(name) == "author:name:" + slug(normalize_person_name(name))
    assert author_id(name, "123") == "author:s2:123"
