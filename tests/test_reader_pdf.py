"""Tests for the PDF reader (ingest/readers/pdf.py): front matter, references, corrupt input."""

from __future__ import annotations

import io
import random
from pathlib import Path

import pytest

from ingest.readers.base import FileInfo, get_reader, select_reader
from ingest.readers.pdf import PdfReader, split_authors
from ingest.reference_parser import parse_reference
from kg.errors import ReaderError
from kg.model import Label, NodeRecord, ReadResult, Rel

S2ORC = "2020.acl-main.447.pdf"
LONGEVAL = "2023.eacl-main.121.pdf"


def read(p: Path, reader: PdfReader | None = None) -> ReadResult:
    return (reader or PdfReader()).read(p, p.read_bytes())


def paper(res: ReadResult) -> NodeRecord:
    return next(n for n in res.nodes if n.label == Label.PAPER and not n.stub)


def authors(res: ReadResult) -> list[str]:
    names = {n.id: n.properties["name"] for n in res.nodes if n.label == Label.AUTHOR}
    edges = sorted((e for e in res.edges if e.type == Rel.AUTHORED), key=lambda e: e.properties["position"])
    return [names[e.source] for e in edges]


def cited(res: ReadResult) -> list[NodeRecord]:
    targets = [e.target for e in res.edges if e.type == Rel.CITES]
    by_id = {n.id: n for n in res.nodes if n.stub}
    return [by_id[t] for t in targets]


@pytest.fixture(scope="module")
def pdfs(shared: Path) -> Path:
    return shared / "data" / "pdfs"


@pytest.fixture(scope="module")
def s2orc(pdfs: Path) -> ReadResult:
    return read(pdfs / S2ORC)


@pytest.fixture(scope="module")
def longeval(pdfs: Path) -> ReadResult:
    return read(pdfs / LONGEVAL)


def make_pdf(content: bytes, *, info: bytes = b"") -> bytes:
    """A minimal one-page PDF (Helvetica as /F1) with a correct xref table."""
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
            b" /Resources << /Font << /F1 5 0 R >> >> >>",
            b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    if info:
        objs.append(info)
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for i, obj in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + obj + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    trailer_info = b" /Info %d 0 R" % len(objs) if info else b""
    out += b"trailer\n<< /Size %d /Root 1 0 R%s >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, trailer_info, xref)
    return bytes(out)


def text_ops(*lines: tuple[int, int, str]) -> bytes:
    """Content stream drawing ``(font size, y, text)`` lines at x=72."""
    return b" ".join(b"BT /F1 %d Tf 72 %d Td (%s) Tj ET" % (size, y, t.encode("latin-1")) for size, y, t in lines)


def write(tmp_path: Path, data: bytes, name: str = "x.pdf") -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


# --- the two real papers ----------------------------------------------------------------------


def test_s2orc_front_matter(s2orc: ReadResult) -> None:
    props = paper(s2orc).properties
    assert props["title"] == "S2ORC: The Semantic Scholar Open Research Corpus"
    assert authors(s2orc) == ["Kyle Lo", "Lucy Lu Wang", "Mark Neumann", "Rodney Kinney", "Daniel S. Weld"]
    assert props["abstract"].startswith(
        "We introduce S2ORC, a large corpus of 81.1M English-language academic papers spanning many")
    assert props["abstract"].endswith("tools and tasks for text mining over academic text.")
    assert "annotated with automatically-detected inline mentions" in props["abstract"]  # line-end hyphen kept
    assert props["source_format"] == "pdf" and props["n_pages"] == 15 and props["n_authors"] == 5
    assert props["year"] == 2020
    assert props["venue"] == "Proceedings of the 58th Annual Meeting of the Association for Computational Linguistics"
    assert s2orc.warnings == [] and s2orc.errors == []


def test_longeval_front_matter(longeval: ReadResult) -> None:
    props = paper(longeval).properties
    assert props["title"] == "LONGEVAL: Guidelines for Human Evaluation of Faithfulness in Long-form Summarization"
    assert authors(longeval) == ["Kalpesh Krishna", "Erin Bransom", "Bailey Kuehl", "Mohit Iyyer",
                                 "Pradeep Dasigi", "Arman Cohan", "Kyle Lo"]
    assert props["abstract"].startswith(
        "While human evaluation remains best practice for accurately judging the faithfulness of "
        "automatically-generated summaries")
    assert props["abstract"].endswith("our software for future research.")
    assert props["year"] == 2023 and props["n_pages"] == 20


def test_chunks(s2orc: ReadResult) -> None:
    pid = paper(s2orc).id
    chunks = [n for n in s2orc.nodes if n.label == Label.CHUNK]
    assert len(chunks) > 30
    assert all(n.properties["parent"] == pid for n in chunks)
    has = [e for e in s2orc.edges if e.type == Rel.HAS_CHUNK]
    assert [e.properties["index"] for e in has] == list(range(len(chunks)))
    text = " ".join(n.properties["text"] for n in chunks)
    assert "structured full text" in text and "ﬁ" not in text  # ligatures unfolded
    assert "Fﬁgures" not in text and "automat- ically" not in text


def test_references_s2orc(s2orc: ReadResult) -> None:
    refs = cited(s2orc)
    assert len(refs) >= 50
    by_title = {n.properties.get("title"): n.properties.get("year") for n in refs}
    assert by_title["BERT: Pre-training of deep bidirectional transformers for language understanding"] == 2019
    assert by_title["Adam: A method for stochastic optimization"] == 2014
    assert by_title["Introduction to the bio-entity recognition task at JNLPBA"] == 2004
    assert by_title["Citeseer: an automatic citation indexing system"] == 1998
    assert all(n.stub for n in refs)
    assert paper(s2orc).id not in {n.id for n in refs}
    # footnotes on the references pages do not leak into entries
    assert not any("Kaggle" in (t or "") for t in by_title)


def test_references_longeval(longeval: ReadResult) -> None:
    refs = cited(longeval)
    assert len(refs) >= 60
    arxiv = {n.properties.get("arxiv_id") for n in refs}
    assert {"2006.14799", "2205.11465"} <= arxiv
    titles = {n.properties.get("title") for n in refs}
    assert "ROUGE: A package for automatic evaluation of summaries" in titles
    assert "Dense passage retrieval for open-domain question answering" in titles


def test_page_cap_and_time_budget(pdfs: Path) -> None:
    res = read(pdfs / S2ORC, PdfReader(max_pages=2))
    assert paper(res).properties["n_pages"] == 2
    assert res.warnings == ["only the first 2 of 15 pages were read (max_pages)"]
    res = read(pdfs / S2ORC, PdfReader(time_budget_s=0))
    assert paper(res).properties["n_pages"] == 1
    assert res.warnings == ["parsing stopped after 1 page(s) (0 s time budget)"]
    assert paper(res).properties["title"] == "S2ORC: The Semantic Scholar Open Research Corpus"


def test_a_failing_page_is_skipped_with_one_warning(pdfs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import ingest.readers.pdf as mod

    real, calls = mod._page_lines, []

    def flaky(layout: object, page: int) -> list:  # type: ignore[type-arg]
        calls.append(page)
        if len(calls) in (2, 3):  # the PDF's pages 2 and 3
            raise KeyError("broken font")
        return real(layout, page)

    monkeypatch.setattr(mod, "_page_lines", flaky)
    res = read(pdfs / S2ORC, PdfReader(max_pages=4))
    assert res.warnings == ["only the first 4 of 15 pages were read (max_pages)",
                            "2 page(s) could not be parsed and were skipped (first: page 2: KeyError: 'broken font')"]
    assert paper(res).properties["n_pages"] == 2


# --- registry ---------------------------------------------------------------------------------


def test_registered_and_sniffed(tmp_path: Path) -> None:
    assert isinstance(get_reader("pdf"), PdfReader)
    pdf = make_pdf(text_ops((12, 700, "hello")))
    assert select_reader(FileInfo(tmp_path / "a.pdf", b"junk")) is get_reader("pdf")
    assert select_reader(FileInfo(tmp_path / "a.bin", pdf[:100])) is get_reader("pdf")
    assert not PdfReader().sniff(FileInfo(tmp_path / "a.txt", b"plain text"))


# --- synthetic PDFs ---------------------------------------------------------------------------


def test_synthetic_paper(tmp_path: Path) -> None:
    content = text_ops((20, 700, "A Tiny Test Paper Title"), (12, 670, "Jane Doe, John Smith and Ann van Berg"),
                       (12, 655, "University of Nowhere"), (12, 640, "jane@nowhere.edu"), (12, 610, "Abstract"),
                       (10, 590, "We study tiny PDFs in de-"), (10, 578, "tail."),
                       (12, 550, "1 Introduction"), (10, 530, "Body text."))
    res = read(write(tmp_path, make_pdf(content)))
    props = paper(res).properties
    assert props["title"] == "A Tiny Test Paper Title"
    assert authors(res) == ["Jane Doe", "John Smith", "Ann van Berg"]
    assert props["abstract"] == "We study tiny PDFs in detail."


def test_metadata_title_preferred_when_it_matches(tmp_path: Path) -> None:
    content = text_ops((20, 700, "ATiny Test Paper"), (12, 670, "Jane Doe"), (12, 640, "Abstract"),
                       (10, 620, "Words."))
    res = read(write(tmp_path, make_pdf(content, info=b"<< /Title (A Tiny Test Paper) /Author (Jane Doe) >>")))
    assert paper(res).properties["title"] == "A Tiny Test Paper"


def test_no_front_matter_becomes_document(tmp_path: Path) -> None:
    content = text_ops((12, 700, "Installation manual"), (10, 680, "Plug the device in and switch it on."))
    res = read(write(tmp_path, make_pdf(content)))
    doc = next(n for n in res.nodes if n.label == Label.DOCUMENT)
    assert doc.properties["format"] == "pdf" and doc.properties["title"] == "Installation manual"
    assert not any(n.label == Label.PAPER for n in res.nodes)
    assert any(n.label == Label.CHUNK for n in res.nodes)


# --- corrupt input ----------------------------------------------------------------------------


def expect_error(p: Path, fragment: str, reader: PdfReader | None = None) -> str:
    with pytest.raises(ReaderError) as ei:
        read(p, reader)
    msg = str(ei.value)
    assert fragment in msg and "\n" not in msg and len(msg) < 300
    return msg


@pytest.mark.timeout(120)
@pytest.mark.parametrize("frac", [0.0005, 0.1, 0.5, 0.9, 0.999])
def test_truncated(pdfs: Path, tmp_path: Path, frac: float) -> None:
    data = (pdfs / S2ORC).read_bytes()
    cut = data[:int(len(data) * frac)]
    expect_error(write(tmp_path, cut), "truncated PDF")
    # even when the cut is patched with an end marker it is a clean ReaderError
    expect_error(write(tmp_path, cut + b"\n%%EOF\n", "patched.pdf"), "PDF")


@pytest.mark.parametrize(("data", "fragment"), [
    (b"", "empty file"),
    (b"hello, not a pdf", "not a PDF"),
    (b"%PDF-1.7\n%%EOF\n", "invalid PDF"),
    (b"%PDF-1.4\n" + random.Random(1).randbytes(20000) + b"\n%%EOF\n", "invalid PDF"),
    (b"%PDF-1.4\n" + random.Random(2).randbytes(20000), "truncated PDF"),
])
def test_garbage(tmp_path: Path, data: bytes, fragment: str) -> None:
    expect_error(write(tmp_path, data), fragment)


def test_image_only_pdf(tmp_path: Path) -> None:
    expect_error(write(tmp_path, make_pdf(b"0 0 m 100 100 l S")), "no extractable text")


@pytest.mark.timeout(120)
def test_random_corruption_never_escapes(pdfs: Path, tmp_path: Path) -> None:
    data = (pdfs / S2ORC).read_bytes()
    reader = PdfReader(max_pages=3)
    for seed in range(8):
        rnd = random.Random(seed)
        b = bytearray(data)
        for _ in range(rnd.choice([10, 200, 3000])):
            b[rnd.randrange(100, len(b) - 100)] = rnd.randrange(256)
        p = write(tmp_path, bytes(b), f"c{seed}.pdf")
        try:
            read(p, reader)
        except ReaderError as e:
            assert "\n" not in str(e)


def test_encrypted(pdfs: Path, tmp_path: Path) -> None:
    pypdf = pytest.importorskip("pypdf")
    src = (pdfs / S2ORC).read_bytes()
    w = pypdf.PdfWriter(clone_from=io.BytesIO(src))
    w.encrypt(user_password="secret", owner_password="owner", algorithm="RC4-128")
    buf = io.BytesIO()
    w.write(buf)
    expect_error(write(tmp_path, buf.getvalue()), "encrypted PDF: a password is required")
    # an empty user password (owner-only restrictions) still reads
    w = pypdf.PdfWriter(clone_from=io.BytesIO(src))
    w.encrypt(user_password="", owner_password="owner", algorithm="RC4-128")
    buf = io.BytesIO()
    w.write(buf)
    res = read(write(tmp_path, buf.getvalue(), "open.pdf"), PdfReader(max_pages=1))
    assert paper(res).properties["title"] == "S2ORC: The Semantic Scholar Open Research Corpus"


# --- helpers ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("marked", "names"), [
    ("Kyle Lo|| Lucy Lu Wang|| Mark Neumann| Rodney Kinney| Daniel S. Weld||",
     ["Kyle Lo", "Lucy Lu Wang", "Mark Neumann", "Rodney Kinney", "Daniel S. Weld"]),
    ("Jane Doe, John Smith, and Ann Lee", ["Jane Doe", "John Smith", "Ann Lee"]),
    ("Jean-Luc Picard|1|,|2 & Wesley Crusher|2", ["Jean-Luc Picard", "Wesley Crusher"]),
    ("|Allen Institute for Artificial Intelligence", []),
    ("Paul G. Allen School of Computer Science & Engineering, University of Washington", []),
    ("{kylel, lucyw}@allenai.org", []),
    ("1 Introduction", []),
])
def test_split_authors(marked: str, names: list[str]) -> None:
    assert split_authors(marked) == names


def test_parse_reference_styles() -> None:
    r = parse_reference("Jacob Devlin, Ming-Wei Chang, Kenton Lee, and Kristina Toutanova. 2019. BERT: "
                        "Pre-training of deep bidirectional transformers for language understanding. In NAACL.")
    assert r is not None and r.year == 2019
    assert r.title == "BERT: Pre-training of deep bidirectional transformers for language understanding"
    r = parse_reference("Cohan, A., & Goharian, N. (2015). Scientific article summarization using "
                        "citation-context. Proceedings of EMNLP, 390-400. https://doi.org/10.18653/v1/D15-1045.")
    assert r is not None and (r.title, r.year) == ("Scientific article summarization using citation-context", 2015)
    assert r.doi == "10.18653/v1/D15-1045"
    r = parse_reference("[7] A. Vaswani, N. Shazeer, and N. Parmar, “Attention is all you need,” in Proc. "
                        "NeurIPS, 2017, pp. 5998–6008.")
    assert r is not None and (r.title, r.year) == ("Attention is all you need", 2017)
    r = parse_reference("Kalpesh Krishna. 2022. Some work. arXiv preprint arXiv:2205.11465.")
    assert r is not None and r.arxiv_id == "2205.11465" and r.title == "Some work"
    r = parse_reference("Fabio Petroni. 2019. Language models as knowledge bases? In EMNLP.")
    assert r is not None and r.title == "Language models as knowledge bases?"
    assert parse_reference("See the appendix for details") is None
    assert parse_reference("John Smith. 2019. In Proceedings of ACL.") is None
