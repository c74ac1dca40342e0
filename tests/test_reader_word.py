"""Word-processor reader: .docx/.docm/.dotx (python-docx), .odt (zipfile + defusedxml), .rtf (striprtf)."""

from __future__ import annotations

import datetime as dt
import io
import sys
import time
import zipfile
from pathlib import Path

import pytest
from reader_helpers import chunks, doc_node, read_with, rewrite_zip

from ingest.readers import word
from ingest.readers.base import FileInfo, select_reader
from ingest.readers.word import OLE_MAGIC, WordReader
from kg.errors import MissingExtraError, ReaderError

docx = pytest.importorskip("docx")
SITE = Path(docx.__file__).resolve().parents[1]
DEFAULT_DOCX = SITE / "docx" / "templates" / "default.docx"
READER = WordReader()


def read(path: Path):
    return read_with(READER, path)


def make_docx(path: Path) -> Path:
    d = docx.Document()
    cp = d.core_properties
    cp.title, cp.author, cp.keywords = "Lab notebook", "Ada Lovelace; Grace Hopper", "graphs, retrieval"
    cp.created, cp.modified = dt.datetime(2024, 1, 2, 3, 4, 5), dt.datetime(2024, 2, 3, 4, 5, 6)
    d.add_paragraph("Preface before any heading.")
    d.add_heading("Methods", level=1)
    d.add_paragraph("We measured the coral reefs.")
    t = d.add_table(rows=2, cols=3)
    for r, row in enumerate([["species", "count", ""], ["acropora", "12", ""]]):
        for c, text in enumerate(row):
            t.cell(r, c).text = text
    d.add_paragraph("After the table.")
    d.add_heading("Results", level=2)
    d.add_paragraph("Bleaching was widespread.")
    d.save(path)
    return path


# -- DOCX ---------------------------------------------------------------------------------------------
def test_docx_metadata_sections_tables_in_reading_order(tmp_path):
    res = read(make_docx(tmp_path / "notes.docx"))
    doc = doc_node(res)
    assert doc.properties["title"] == "Lab notebook" and doc.properties["format"] == "docx"
    assert doc.properties["authors"] == ["Ada Lovelace", "Grace Hopper"]  # no AUTHORED edges for Documents
    assert doc.properties["created"].startswith("2024-01-02T03:04:05")
    assert doc.properties["modified"].startswith("2024-02-03T04:05:06")
    assert not [n for n in res.nodes if n.label == "Author"]
    cs = chunks(res)
    assert [c.properties.get("section") for c in cs] == [None, "Methods", "Results"]
    assert cs[0].properties["text"] == "Preface before any heading."
    methods = cs[1].properties["text"]
    assert methods.startswith("Methods We measured")
    assert "species | count acropora | 12" in methods  # cells " | ", trailing empty cells dropped
    assert methods.index("coral reefs") < methods.index("species") < methods.index("After the table")
    assert {n.id for n in res.nodes if n.label == "Category"} == {"category:tag:graphs", "category:tag:retrieval"}
    assert len([e for e in res.edges if e.type == "HAS_CHUNK"]) == 3
    assert res.errors == [] and res.warnings == []


def test_docx_title_falls_back_to_title_style_then_stem(tmp_path):
    d = docx.Document()
    d.core_properties.title = ""
    d.add_heading("The Real Title", level=0)
    d.add_paragraph("body text")
    d.save(tmp_path / "t.docx")
    assert doc_node(read(tmp_path / "t.docx")).properties["title"] == "The Real Title"


def test_real_default_docx_shipped_with_python_docx(tmp_path):
    if not DEFAULT_DOCX.exists():
        pytest.skip("python-docx's default.docx is not installed")
    with pytest.raises(ReaderError, match="no text content"):  # the blank template: clear error, no crash
        read(DEFAULT_DOCX)
    d = docx.Document(str(DEFAULT_DOCX))
    d.add_paragraph("Text typed into the stock template.")
    d.save(tmp_path / "filled.docx")
    props = doc_node(read(tmp_path / "filled.docx")).properties
    assert props["authors"] == ["python-docx"] and props["created"].startswith("2013-12-23")
    assert props["title"] == "Text typed into the stock template."


@pytest.mark.parametrize(("suffix", "ctype"), [
    (".docm", b"application/vnd.ms-word.document.macroEnabled.main+xml"),
    (".dotx", b"application/vnd.openxmlformats-officedocument.wordprocessingml.template.main+xml"),
])
def test_macro_enabled_and_template_files_are_read_as_data(tmp_path, suffix, ctype):
    src = make_docx(tmp_path / "src.docx")
    main = b"application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"
    vba = b"Attribute VB_Name = \"Evil\"\nSub AutoOpen()\nShell \"touch pwned\"\nEnd Sub\n"
    dst = rewrite_zip(src, tmp_path / f"m{suffix}", add={"word/vbaProject.bin": vba} if suffix == ".docm" else {},
                      edit=lambda n, b: b.replace(main, ctype) if n == "[Content_Types].xml" else b)
    with pytest.raises(ValueError, match="not a Word file"):  # python-docx alone refuses it
        docx.Document(str(dst))
    res = read(dst)
    assert "Bleaching was widespread." in " ".join(c.properties["text"] for c in chunks(res))
    macro_warning = ["macro-enabled file: text read, macros ignored (never run)"]
    assert res.warnings == (macro_warning if suffix == ".docm" else [])
    assert not (tmp_path / "pwned").exists()


def test_encrypted_or_legacy_doc_is_one_line(tmp_path):
    p = tmp_path / "secret.docx"
    p.write_bytes(OLE_MAGIC + b"\x00" * 4096)
    with pytest.raises(ReaderError) as info:
        read(p)
    assert str(info.value) == "encrypted or legacy .doc Office file: save as .docx"


@pytest.mark.parametrize("cut", ["truncated", "not-zip", "no-document-part"])
def test_corrupt_docx_is_one_line(tmp_path, cut):
    good = make_docx(tmp_path / "good.docx").read_bytes()
    p = tmp_path / "bad.docx"
    if cut == "truncated":
        p.write_bytes(good[: len(good) // 2])
    elif cut == "not-zip":
        p.write_bytes(b"just some text pretending to be a document")
    else:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr("[Content_Types].xml", "<Types/>")
        p.write_bytes(buf.getvalue())
    with pytest.raises(ReaderError, match=r"^invalid DOCX: ") as info:
        read(p)
    assert "\n" not in str(info.value)


def test_zip_bomb_member_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(word, "MAX_MEMBER_BYTES", 1000)
    with pytest.raises(ReaderError, match=r"inflates to .* MiB \(limit"):
        read(make_docx(tmp_path / "b.docx"))


def test_text_cap_gives_a_bounded_partial_read(tmp_path, monkeypatch):
    monkeypatch.setattr(word, "MAX_CHARS", 60)
    res = read(make_docx(tmp_path / "big.docx"))
    assert doc_node(res).properties["n_chars"] == 60
    assert res.warnings == ["text cut at 60 characters (MAX_CHARS)"]
    assert "Bleaching" not in " ".join(c.properties["text"] for c in chunks(res))


def test_missing_documents_extra_names_it(tmp_path, monkeypatch):
    p = make_docx(tmp_path / "a.docx")
    monkeypatch.setitem(sys.modules, "docx", None)
    with pytest.raises(MissingExtraError, match=r"kgloom\[documents\]"):
        read(p)


# -- ODT ----------------------------------------------------------------------------------------------
def make_odt(path: Path) -> Path:
    from odf import dc, meta
    from odf.opendocument import OpenDocumentText
    from odf.table import Table, TableCell, TableColumn, TableRow
    from odf.text import H, Note, NoteBody, NoteCitation, P, S, Span

    d = OpenDocumentText()
    d.meta.addElement(dc.Title(text="Field report"))
    d.meta.addElement(meta.InitialCreator(text="Grace Hopper"))
    d.meta.addElement(dc.Creator(text="Ada Lovelace"))
    d.meta.addElement(meta.CreationDate(text="2024-05-06T07:08:09"))
    d.meta.addElement(dc.Date(text="2024-06-07T08:09:10"))
    d.meta.addElement(meta.Keyword(text="fieldwork"))
    d.text.addElement(P(text="Opening words."))
    d.text.addElement(H(outlinelevel=1, text="Site A"))
    p = P(text="three")
    p.addElement(S(c=3))
    p.addElement(Span(text="spaces"))
    note = Note(noteclass="footnote")
    note.addElement(NoteCitation(text="1"))
    body = NoteBody()
    body.addElement(P(text="FOOTNOTE"))
    note.addElement(body)
    p.addElement(note)
    d.text.addElement(p)
    t = Table(name="T")
    t.addElement(TableColumn(numbercolumnsrepeated=2))
    for row in (("depth", "temp"), ("5 m", "29 C")):
        tr = TableRow()
        t.addElement(tr)
        for c in row:
            tc = TableCell()
            tc.addElement(P(text=c))
            tr.addElement(tc)
    d.text.addElement(t)
    d.text.addElement(H(outlinelevel=1, text="Site B"))
    d.text.addElement(P(text="Calm water."))
    d.save(str(path))
    return path


def test_odt_metadata_sections_and_tables(tmp_path):
    pytest.importorskip("odf")
    res = read(make_odt(tmp_path / "r.odt"))
    props = doc_node(res).properties
    assert props["title"] == "Field report" and props["format"] == "odt"
    assert props["authors"] == ["Grace Hopper", "Ada Lovelace"]
    assert props["created"] == "2024-05-06T07:08:09" and props["modified"] == "2024-06-07T08:09:10"
    cs = chunks(res)
    assert [c.properties.get("section") for c in cs] == [None, "Site A", "Site B"]
    assert cs[1].properties["text"] == "Site A three spaces depth | temp 5 m | 29 C"  # footnote body skipped
    assert [n.id for n in res.nodes if n.label == "Category"] == ["category:tag:fieldwork"]


BOMB = (b'<?xml version="1.0"?><!DOCTYPE office:document-content [<!ENTITY a "aaaaaaaaaa">'
        + b"".join(f'<!ENTITY {c} "{("&" + p + ";") * 10}">'.encode() for p, c in zip("abcdefgh", "bcdefghi", strict=True))
        + b']><office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0">'
        b"<office:body><office:text>&i;</office:text></office:body></office:document-content>")


@pytest.mark.parametrize(("member", "data", "message"), [
    ("content.xml", BOMB, "invalid ODT: content.xml declares XML entities or external references, refused"),
    ("meta.xml", BOMB.replace(b"document-content", b"document-meta"),
     "invalid ODT: meta.xml declares XML entities or external references, refused"),
    ("content.xml", b"<office:document-content", "invalid ODT: content.xml is not well-formed XML"),
    ("content.xml", b'<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
     b'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"><office:body><office:text>'
     + b"<text:section>" * 5000 + b"</text:section>" * 5000 + b"</office:text></office:body></office:document-content>",
     "invalid ODT: content.xml nested too deeply"),
    ("mimetype", b"application/vnd.oasis.opendocument.spreadsheet", "not an OpenDocument text file"),
    ("META-INF/manifest.xml", b'<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:'
     b'manifest:1.0"><manifest:file-entry manifest:full-path="content.xml"><manifest:encryption-data/>'
     b"</manifest:file-entry></manifest:manifest>", "password-protected ODT: save it without a password"),
])
def test_bad_odt_is_one_line_and_fast(tmp_path, member, data, message):
    pytest.importorskip("odf")
    p = rewrite_zip(make_odt(tmp_path / "src.odt"), tmp_path / "bad.odt", replace={member: data})
    start = time.monotonic()
    with pytest.raises(ReaderError) as info:
        read(p)
    assert str(info.value).startswith(message) and "\n" not in str(info.value)
    assert time.monotonic() - start < 5


# -- RTF ----------------------------------------------------------------------------------------------
RTF = (r"{\rtf1\ansi\ansicpg1252{\fonttbl{\f0 Times;}}{\info{\title R\'e9sum\'e9 of findings}{\author Jane Doe}"
       r"{\keywords reefs}{\creatim\yr2020\mo3\dy4\hr5\min6}}"
       r"{\pict\pngblip\picw10\pich10 89504e470d0a1a0a}\pard Hello \b caf\'e9\b0  world\par Second para\par}")


def test_rtf_info_and_text(tmp_path):
    p = tmp_path / "a.rtf"
    p.write_text(RTF)
    res = read(p)
    props = doc_node(res).properties
    assert props["title"] == "Résumé of findings" and props["format"] == "rtf"
    assert props["authors"] == ["Jane Doe"] and props["created"] == "2020-03-04"
    assert [c.properties["text"] for c in chunks(res)] == ["Hello café world Second para"]
    assert [n.id for n in res.nodes if n.label == "Category"] == ["category:tag:reefs"]


def test_huge_rtf_is_bounded(tmp_path, monkeypatch):
    picture = "{\\pict\\pngblip " + "0f" * 10_000_000 + "}"  # 20 MB of picture data, dropped before parsing
    p = tmp_path / "big.rtf"
    p.write_text("{\\rtf1\\ansi " + picture + "\\pard " + "Lorem ipsum dolor sit amet.\\par " * 2000 + "}")
    start = time.monotonic()
    res = read(p)
    assert time.monotonic() - start < 10 and res.warnings == []
    assert "0f0f" not in chunks(res)[0].properties["text"]
    monkeypatch.setattr(word, "MAX_RTF_CHARS", 1000)
    res = read(p)
    assert res.warnings == ["RTF cut at 1,000 characters of markup (MAX_RTF_CHARS)"]
    assert doc_node(res).properties["n_chars"] < 1000


def test_not_rtf_is_one_line(tmp_path):
    p = tmp_path / "fake.rtf"
    p.write_bytes(b"plain text with an rtf name")
    with pytest.raises(ReaderError, match=r"^not an RTF file"):
        read(p)


def test_sniff_selects_the_word_reader(tmp_path):
    for name in ("a.docx", "a.DOCM", "a.dotx", "a.odt", "a.rtf"):
        assert select_reader(FileInfo(tmp_path / name, b"")).name == "word"
    assert select_reader(FileInfo(tmp_path / "noext", b"{\\rtf1\\ansi hi}")).name == "word"


# -- end to end ---------------------------------------------------------------------------------------
def test_ingest_end_to_end(tmp_path):
    from kg.graph import KnowledgeGraph

    pytest.importorskip("odf")
    folder = tmp_path / "docs"
    folder.mkdir()
    make_docx(folder / "notes.docx")
    make_odt(folder / "report.odt")
    (folder / "old.rtf").write_text(RTF)
    (folder / "locked.docx").write_bytes(OLE_MAGIC + b"\x00" * 512)
    with KnowledgeGraph.open(tmp_path / "kg") as g:
        rep = g.ingest(folder, embed=False)
        by_name = {Path(f.path).name: f for f in rep.files}
        assert by_name["locked.docx"].errors == ["encrypted or legacy .doc Office file: save as .docx"]
        assert {n: f.reader for n, f in by_name.items() if n != "locked.docx"} == dict.fromkeys(
            ["notes.docx", "report.odt", "old.rtf"], "word")
        docs = {n.properties["title"]: n for n in g.nodes("Document")}
        assert set(docs) == {"Lab notebook", "Field report", "Résumé of findings"}
        notes = g.node(docs["Lab notebook"].id)
        assert notes.sources == (str(folder / "notes.docx"),)
        linked = g.neighbors(notes.id, edge_types=["HAS_CHUNK"], direction="out")
        assert {g.node(c.id).sources for c in linked} == {(str(folder / "notes.docx"),)}
        assert sorted(c.properties.get("section", "") for c in linked) == ["", "Methods", "Results"]
        cats = {n.id for n in g.neighbors(notes.id, edge_types=["IN_CATEGORY"], direction="out")}
        assert cats == {"category:tag:graphs", "category:tag:retrieval"}
