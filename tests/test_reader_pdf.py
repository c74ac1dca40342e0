"""Tests for the PDF reader (ingest/readers/pdf*.py): front matter, references, both extractors, bad input."""

from __future__ import annotations

import io
import random
import time
from pathlib import Path

import pytest

from ingest.readers.base import FileInfo, get_reader, select_reader
from ingest.readers.pdf import Engine, PdfReader, split_authors
from ingest.reference_parser import parse_reference
from kg.errors import ConfigError, ReaderError
from kg.model import Label, NodeRecord, ReadResult, Rel

S2ORC = "2020.acl-main.447.pdf"
LONGEVAL = "2023.eacl-main.121.pdf"
ENGINES: list[Engine] = ["auto", "pdfminer"]  # PDFium (with its fallbacks) and pdfminer alone


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


@pytest.mark.parametrize(("engine", "module", "n_pages", "warning"), [
    ("pdfium", "pdf_pdfium", 2, "2 page(s) could not be parsed and were skipped"),
    ("auto", "pdf_pdfium", 4, "2 page(s) PDFium could not read were read with pdfminer"),
    ("pdfminer", "pdf_pdfminer", 2, "2 page(s) could not be parsed and were skipped"),
])
def test_a_failing_page_is_skipped_or_read_by_pdfminer(pdfs: Path, monkeypatch: pytest.MonkeyPatch, engine: Engine,
                                                       module: str, n_pages: int, warning: str) -> None:
    import importlib

    mod = importlib.import_module(f"ingest.readers.{module}")
    real, calls = mod._page_lines, []

    def flaky(*args: object) -> list:  # type: ignore[type-arg]
        calls.append(args)
        if len(calls) in (2, 3):  # the PDF's pages 2 and 3
            raise KeyError("broken font")
        return real(*args)  # type: ignore[no-any-return]

    monkeypatch.setattr(mod, "_page_lines", flaky)
    res = read(pdfs / S2ORC, PdfReader(max_pages=4, engine=engine))
    assert res.warnings == ["only the first 4 of 15 pages were read (max_pages)",
                            f"{warning} (first: page 2: KeyError: 'broken font')"]
    assert paper(res).properties["n_pages"] == n_pages


def test_dropping_pages_renumbers_the_rest() -> None:
    from ingest.readers.pdf_layout import Line, PdfText

    def line(page: int, text: str) -> Line:
        return Line(page, 72.0, 700.0, 300.0, 710.0, 10.0, text, text)

    p = PdfText(pages=[[line(0, "one")], [], [line(2, "three")]], sizes=[(612.0, 792.0), (0.0, 0.0), (595.0, 842.0)],
                paragraphs=[["one"], [], ["three"]], image_only=[(2, 2)], failed=[(1, 1, "KeyError")])
    p.drop_pages({1})
    assert [[ln.page for ln in pg] for pg in p.pages] == [[0], [1]]
    assert p.sizes == [(612.0, 792.0), (595.0, 842.0)] and p.paragraphs == [["one"], ["three"]]
    assert p.image_only == [(1, 2)] and p.failed == []


# --- registry ---------------------------------------------------------------------------------


def test_unknown_engine() -> None:
    with pytest.raises(ConfigError, match="unknown PDF engine 'poppler'"):
        PdfReader(engine="poppler")  # type: ignore[arg-type]


def test_registered_and_sniffed(tmp_path: Path) -> None:
    assert isinstance(get_reader("pdf"), PdfReader)
    pdf = make_pdf(text_ops((12, 700, "hello")))
    assert select_reader(FileInfo(tmp_path / "a.pdf", b"junk")) is get_reader("pdf")
    assert select_reader(FileInfo(tmp_path / "a.bin", pdf[:100])) is get_reader("pdf")
    assert not PdfReader().sniff(FileInfo(tmp_path / "a.txt", b"plain text"))


# --- synthetic PDFs ---------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
def test_synthetic_paper(tmp_path: Path, engine: Engine) -> None:
    content = text_ops((20, 700, "A Tiny Test Paper Title"), (12, 670, "Jane Doe, John Smith and Ann van Berg"),
                       (12, 655, "University of Nowhere"), (12, 640, "jane@nowhere.edu"), (12, 610, "Abstract"),
                       (10, 590, "We study tiny PDFs in de-"), (10, 578, "tail."),
                       (12, 550, "1 Introduction"), (10, 530, "Body text."))
    res = read(write(tmp_path, make_pdf(content)), PdfReader(engine=engine))
    props = paper(res).properties
    assert props["title"] == "A Tiny Test Paper Title"
    assert authors(res) == ["Jane Doe", "John Smith", "Ann van Berg"]
    assert props["abstract"] == "We study tiny PDFs in detail."


@pytest.mark.parametrize("engine", ENGINES)
def test_metadata_title_preferred_when_it_matches(tmp_path: Path, engine: Engine) -> None:
    content = text_ops((20, 700, "ATiny Test Paper"), (12, 670, "Jane Doe"), (12, 640, "Abstract"),
                       (10, 620, "Words."))
    res = read(write(tmp_path, make_pdf(content, info=b"<< /Title (A Tiny Test Paper) /Author (Jane Doe) >>")),
               PdfReader(engine=engine))
    assert paper(res).properties["title"] == "A Tiny Test Paper"


@pytest.mark.parametrize("engine", ENGINES)
def test_no_front_matter_becomes_document(tmp_path: Path, engine: Engine) -> None:
    content = text_ops((12, 700, "Installation manual"), (10, 680, "Plug the device in and switch it on."))
    res = read(write(tmp_path, make_pdf(content)), PdfReader(engine=engine))
    doc = next(n for n in res.nodes if n.label == Label.DOCUMENT)
    assert doc.properties["format"] == "pdf" and doc.properties["title"] == "Installation manual"
    assert not any(n.label == Label.PAPER for n in res.nodes)
    assert any(n.label == Label.CHUNK for n in res.nodes)


def test_a_page_drawn_out_of_reading_order_is_laid_out_by_pdfminer(tmp_path: Path) -> None:
    lines = [(20, 700, "A Tiny Test Paper Title"), (12, 670, "Jane Doe and John Smith"), (12, 610, "Abstract"),
             (10, 590, "We study tiny PDFs drawn"), (10, 578, "from the bottom up."), (12, 550, "1 Introduction"),
             (10, 530, "Body text.")]
    path = write(tmp_path, make_pdf(text_ops(*reversed(lines))))
    # PDFium keeps the drawing order: what follows the "Abstract" heading is the authors
    drawn = paper(read(path, PdfReader(engine="pdfium"))).properties["abstract"]
    assert drawn == "Jane Doe and John Smith"
    for engine in ENGINES:  # pdfminer lays the page out again
        props = paper(read(path, PdfReader(engine=engine))).properties
        assert props["abstract"] == "We study tiny PDFs drawn from the bottom up.", engine


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


def test_vector_only_pdf(tmp_path: Path) -> None:
    expect_error(write(tmp_path, make_pdf(b"0 0 m 100 100 l S")), "no extractable text (no text layer and no images)")


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


def encrypt(src: bytes, *, user: str, algorithm: str) -> bytes:
    """``src`` encrypted by pypdf's writer with owner password "owner"."""
    from pypdf import PdfWriter

    w = PdfWriter(clone_from=io.BytesIO(src))
    w.encrypt(user_password=user, owner_password="owner", algorithm=algorithm)
    buf = io.BytesIO()
    w.write(buf)
    return buf.getvalue()


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("algorithm", ["RC4-128", "AES-256"])
def test_encrypted(pdfs: Path, tmp_path: Path, algorithm: str, engine: Engine) -> None:
    src = (pdfs / S2ORC).read_bytes()
    reader = PdfReader(max_pages=1, engine=engine)
    msg = expect_error(write(tmp_path, encrypt(src, user="secret", algorithm=algorithm)), "password-protected PDF",
                       reader)
    assert msg == "password-protected PDF: a password is required to open it"
    # an empty user password (owner-only restrictions) still reads
    res = read(write(tmp_path, encrypt(src, user="", algorithm=algorithm), "open.pdf"), reader)
    assert paper(res).properties["title"] == "S2ORC: The Semantic Scholar Open Research Corpus"


@pytest.mark.timeout(60)
def test_ten_thousand_pages_stop_at_the_page_cap(tmp_path: Path) -> None:
    from pypdf import PdfReader as PypdfReader
    from pypdf import PdfWriter

    w = PdfWriter()
    for _ in range(10_000):
        w.add_blank_page(612, 792)
    buf = io.BytesIO()
    w.write(buf)
    start = time.monotonic()
    expect_error(write(tmp_path, buf.getvalue(), "blank.pdf"), "no extractable text")
    assert time.monotonic() - start < 20
    # with text on page 1 it is read up to the cap, with a warning
    w.pages[0].merge_page(PypdfReader(io.BytesIO(make_pdf(text_ops((12, 700, "Page one words"))))).pages[0])
    buf = io.BytesIO()
    w.write(buf)
    start = time.monotonic()
    res = read(write(tmp_path, buf.getvalue(), "long.pdf"))
    assert time.monotonic() - start < 20
    assert res.warnings == ["only the first 300 of 10000 pages were read (max_pages)"]
    assert "Page one words" in " ".join(n.properties.get("text", "") for n in res.nodes)


def test_a_stream_longer_than_its_data(tmp_path: Path) -> None:
    good = make_pdf(text_ops((20, 700, "A Tiny Test Paper Title"), (12, 670, "Plain words here")))
    path = write(tmp_path, good.replace(b"/Length ", b"/Length 9", 1))  # /Length runs past endstream
    res = read(path)  # PDFium stops at endstream
    assert [n.properties["text"] for n in res.nodes if n.label == Label.CHUNK] == \
        ["A Tiny Test Paper Title Plain words here"]
    expect_error(path, "no extractable text", PdfReader(engine="pdfminer"))  # pdfminer reads past it


@pytest.mark.parametrize("engine", ENGINES)
def test_broken_xref_is_repaired_or_refused(pdfs: Path, tmp_path: Path, engine: Engine) -> None:
    src = (pdfs / S2ORC).read_bytes()
    reader = PdfReader(max_pages=2, engine=engine)
    bad = src[:src.rfind(b"startxref")] + b"startxref\n999999999\n%%EOF\n"  # points nowhere
    res = read(write(tmp_path, bad), reader)
    assert paper(res).properties["title"] == "S2ORC: The Semantic Scholar Open Research Corpus"
    # a content stream zeroed in the middle of the file: those pages are skipped, the rest kept
    b = bytearray(src)
    k = src.find(b"stream", len(src) // 3)
    b[k + 10:k + 200_000] = bytes(199_990)
    try:
        res = read(write(tmp_path, bytes(b), "zeroed.pdf"), PdfReader(engine=engine))
    except ReaderError as e:
        assert "\n" not in str(e)
    else:
        assert res.nodes


# --- PDFs made by others ---------------------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
def test_pdfs_shipped_by_matplotlib(engine: Engine) -> None:
    import matplotlib

    files = sorted((Path(matplotlib.__file__).parent / "mpl-data" / "images").glob("*.pdf"))
    assert len(files) >= 5
    for f in files:  # toolbar icons: vector paths, no text
        start = time.monotonic()
        msg = expect_error(f, "no extractable text", PdfReader(engine=engine))
        assert msg == "no extractable text (no text layer and no images)"
        assert time.monotonic() - start < 5


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("fonttype", [3, 42])
def test_a_figure_saved_by_matplotlib(tmp_path: Path, engine: Engine, fonttype: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with matplotlib.rc_context({"pdf.fonttype": fonttype}):
        fig = plt.figure(figsize=(6, 4))
        fig.suptitle("Parsing throughput of scholarly PDFs", fontsize=18)
        ax = fig.add_subplot()
        ax.plot([1, 2, 3], [2, 4, 3])
        ax.set_xlabel("worker processes")
        fig.savefig(tmp_path / "fig.pdf")
        plt.close(fig)
    res = read(tmp_path / "fig.pdf", PdfReader(engine=engine))
    doc = next(n for n in res.nodes if n.label == Label.DOCUMENT)
    assert doc.properties["title"] == "Parsing throughput of scholarly PDFs"
    text = " ".join(n.properties["text"] for n in res.nodes if n.label == Label.CHUNK)
    assert "worker processes" in text and "2.75" in text
    assert res.warnings == [] and res.errors == []


@pytest.mark.filterwarnings("ignore:Glyph .* missing from font")  # drawn as boxes, still in the text layer
@pytest.mark.parametrize("engine", ENGINES)
def test_characters_outside_the_bmp(tmp_path: Path, engine: Engine) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_pdf import PdfPages

    with matplotlib.rc_context({"pdf.fonttype": 42}), PdfPages(tmp_path / "astral.pdf") as pdf:
        for n in (1, 2):  # page 1 is read character by character, page 2 line by line
            fig = plt.figure(figsize=(6, 4))
            fig.text(0.1, 0.5, f"Page {n}: bold 𝐀𝐁 and a face 😀 here", fontsize=14)
            pdf.savefig(fig)
            plt.close(fig)
    res = read(tmp_path / "astral.pdf", PdfReader(engine=engine))
    text = " ".join(n.properties["text"] for n in res.nodes if n.label == Label.CHUNK)
    assert "Page 1: bold 𝐀𝐁 and a face 😀 here" in text and "Page 2: bold 𝐀𝐁 and a face 😀 here" in text
    text.encode("utf-8")  # no lone surrogates


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
