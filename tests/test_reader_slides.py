"""Slides reader: PowerPoint decks (python-pptx) -> a Document with one chunk per slide."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from reader_helpers import chunks, doc_node, read_with, rewrite_zip

from ingest.readers import slides
from ingest.readers.base import FileInfo, select_reader
from ingest.readers.slides import SlidesReader
from ingest.readers.word import OLE_MAGIC
from kg.errors import ReaderError

pptx = pytest.importorskip("pptx")
from pptx.util import Inches  # noqa: E402  (after the importorskip)

SITE = Path(pptx.__file__).resolve().parents[1]
DEFAULT_PPTX = SITE / "pptx" / "templates" / "default.pptx"
READER = SlidesReader()
MAIN = b"application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml"


def read(path: Path):
    return read_with(READER, path)


def make_deck(path: Path, *, core_title: str = "") -> Path:
    prs = pptx.Presentation()
    prs.core_properties.title = core_title
    prs.core_properties.author = "Ada Lovelace"
    prs.core_properties.keywords = "talks"
    s1 = prs.slides.add_slide(prs.slide_layouts[1])
    s1.shapes.title.text = "Why graphs"
    s1.placeholders[1].text = "Links between papers\nSearch that follows them"
    s1.notes_slide.notes_text_frame.text = "Mention the reef survey."
    s2 = prs.slides.add_slide(prs.slide_layouts[5])
    s2.shapes.title.text = "Numbers"
    table = s2.shapes.add_table(2, 2, Inches(1), Inches(2), Inches(4), Inches(1)).table
    for r, row in enumerate([["papers", "chunks"], ["120", "4800"]]):
        for c, text in enumerate(row):
            table.cell(r, c).text = text
    group = s2.shapes.add_group_shape()
    group.shapes.add_textbox(Inches(1), Inches(4), Inches(2), Inches(1)).text_frame.text = "grouped caption"
    prs.slides.add_slide(prs.slide_layouts[6])  # blank: no chunk
    s4 = prs.slides.add_slide(prs.slide_layouts[6])
    s4.shapes.add_textbox(Inches(1), Inches(1), Inches(3), Inches(1)).text_frame.text = "Untitled closing words"
    prs.save(str(path))
    return path


def relabel(src: Path, dst: Path, ctype: bytes, add: dict[str, bytes] | None = None) -> Path:
    return rewrite_zip(src, dst, add=add,
                       edit=lambda name, data: data.replace(MAIN, ctype) if name == "[Content_Types].xml" else data)


def test_one_chunk_per_slide_with_title_text_tables_and_notes(tmp_path):
    res = read(make_deck(tmp_path / "talk.pptx"))
    props = doc_node(res).properties
    assert props["title"] == "Why graphs"  # no core title: the first slide's title
    assert props["format"] == "pptx" and props["n_slides"] == 4 and props["authors"] == ["Ada Lovelace"]
    cs = chunks(res)
    assert [(c.properties["slide"], c.properties.get("section")) for c in cs] == [
        (1, "Why graphs"), (2, "Numbers"), (4, None)]
    assert cs[0].properties["text"] == ("Why graphs Links between papers Search that follows them "
                                        "Notes: Mention the reef survey.")
    assert cs[1].properties["text"] == "Numbers papers | chunks 120 | 4800 grouped caption"
    assert cs[2].properties["text"] == "Untitled closing words"
    assert [n.id for n in res.nodes if n.label == "Category"] == ["category:tag:talks"]
    assert res.warnings == [] and res.errors == []


def test_core_title_wins_then_file_stem(tmp_path):
    assert doc_node(read(make_deck(tmp_path / "a.pptx", core_title="Group meeting"))).properties["title"] == \
        "Group meeting"
    prs = pptx.Presentation()
    prs.slides.add_slide(prs.slide_layouts[6]).shapes.add_textbox(0, 0, Inches(1), Inches(1)).text_frame.text = "x"
    prs.save(str(tmp_path / "no-title.pptx"))
    assert doc_node(read(tmp_path / "no-title.pptx")).properties["title"] == "no-title"


def test_real_default_pptx_shipped_with_python_pptx(tmp_path):
    if not DEFAULT_PPTX.exists():
        pytest.skip("python-pptx's default.pptx is not installed")
    with pytest.raises(ReaderError, match=r"^presentation has no slides$"):
        read(DEFAULT_PPTX)
    prs = pptx.Presentation(str(DEFAULT_PPTX))
    s = prs.slides.add_slide(prs.slide_layouts[0])
    s.shapes.title.text = "Stock template deck"
    prs.save(str(tmp_path / "filled.pptx"))
    res = read(tmp_path / "filled.pptx")
    assert doc_node(res).properties["created"].startswith("2013-01-27")
    assert [c.properties["text"] for c in chunks(res)] == ["Stock template deck"]


@pytest.mark.parametrize(("suffix", "ctype"), [
    (".pptm", b"application/vnd.ms-powerpoint.presentation.macroEnabled.main+xml"),
    (".ppsx", b"application/vnd.openxmlformats-officedocument.presentationml.slideshow.main+xml"),
    (".potx", b"application/vnd.openxmlformats-officedocument.presentationml.template.main+xml"),
])
def test_macro_show_and_template_variants_are_read_as_data(tmp_path, suffix, ctype):
    vba = {"ppt/vbaProject.bin": b"Sub Auto_Open()\nShell \"touch pwned\"\nEnd Sub\n"} if suffix == ".pptm" else {}
    p = relabel(make_deck(tmp_path / "src.pptx"), tmp_path / f"deck{suffix}", ctype, vba)
    res = read(p)
    assert [c.properties["slide"] for c in chunks(res)] == [1, 2, 4]
    assert res.warnings == (["macro-enabled file: text read, macros ignored (never run)"] if vba else [])
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize(("content", "message"), [
    (OLE_MAGIC + b"\x00" * 4096, "^encrypted or legacy .ppt Office file: save as .pptx$"),
    (b"definitely not a zip", "^invalid PPTX: not a ZIP container or truncated"),
    ("truncated", "^invalid PPTX: "),
    ("no-presentation-part", "^invalid PPTX: "),
])
def test_bad_decks_are_one_line(tmp_path, content, message):
    p = tmp_path / "bad.pptx"
    if content == "truncated":
        good = make_deck(tmp_path / "good.pptx").read_bytes()
        p.write_bytes(good[: len(good) * 2 // 3])
    elif content == "no-presentation-part":
        with zipfile.ZipFile(p, "w") as z:
            z.writestr("[Content_Types].xml", "<Types/>")
    else:
        p.write_bytes(content)
    with pytest.raises(ReaderError, match=message) as info:
        read(p)
    assert "\n" not in str(info.value)


def test_caps_give_bounded_partial_reads(tmp_path, monkeypatch):
    p = make_deck(tmp_path / "d.pptx")
    monkeypatch.setattr(slides, "MAX_SLIDES", 1)
    res = read(p)
    assert [c.properties["slide"] for c in chunks(res)] == [1]
    assert res.warnings == ["only the first 1 of 4 slides were read (MAX_SLIDES)"]
    monkeypatch.setattr(slides, "MAX_SLIDES", 5000)
    monkeypatch.setattr(slides, "MAX_CHARS", 20)
    res = read(p)
    assert [c.properties["text"] for c in chunks(res)] == ["Why graphs Links be"]  # "Why graphs\n\nLinks be"
    assert res.warnings == ["text cut at 20 characters in slide 1 (MAX_CHARS)"]


def test_sniff_selects_the_slides_reader(tmp_path):
    for name in ("a.pptx", "a.PPTM", "a.ppsx", "a.potx"):
        assert select_reader(FileInfo(tmp_path / name, b"PK\x03\x04")).name == "slides"


def test_ingest_end_to_end(tmp_path):
    from kg.graph import KnowledgeGraph

    folder = tmp_path / "talks"
    folder.mkdir()
    make_deck(folder / "talk.pptx")
    (folder / "locked.pptx").write_bytes(OLE_MAGIC + b"\x00" * 512)
    with KnowledgeGraph.open(tmp_path / "kg") as g:
        rep = g.ingest(folder, embed=False)
        by_name = {Path(f.path).name: f for f in rep.files}
        assert by_name["locked.pptx"].errors == ["encrypted or legacy .ppt Office file: save as .pptx"]
        assert by_name["talk.pptx"].reader == "slides" and not by_name["talk.pptx"].errors
        (doc,) = list(g.nodes("Document"))
        assert doc.properties["title"] == "Why graphs"
        assert g.node(doc.id).sources == (str(folder / "talk.pptx"),)
        linked = g.neighbors(doc.id, edge_types=["HAS_CHUNK"], direction="out")
        assert sorted(c.properties["slide"] for c in linked) == [1, 2, 4]
        assert len(list(g.nodes("Chunk"))) == 3
