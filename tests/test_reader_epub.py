"""EPUB reader: ebooklib + selectolax -> a Document with Dublin Core metadata and chapter chunks."""

from __future__ import annotations

import time
import zipfile
from pathlib import Path

import pytest
from reader_helpers import chunks, doc_node, read_with, rewrite_zip

from ingest.readers.base import FileInfo, select_reader
from ingest.readers.epub import EpubReader
from kg.errors import ReaderError

epub = pytest.importorskip("ebooklib.epub")
READER = EpubReader()


def read(path: Path):
    return read_with(READER, path)


def make_epub(path: Path) -> Path:
    book = epub.EpubBook()
    book.set_identifier("urn:isbn:9780000000001")
    book.set_title("Reefs and Graphs")
    book.set_language("en")
    book.add_author("Ada Lovelace")
    book.add_author("Ed Itor", role="edt", uid="editor")
    book.add_metadata("DC", "publisher", "Lab Press")
    book.add_metadata("DC", "date", "2023-04-05")
    book.add_metadata("DC", "subject", "marine biology")
    c1 = epub.EpubHtml(title="Chapter One", file_name="c1.xhtml", lang="en")
    c1.content = "<h1>Beginnings</h1><p>Coral reefs are built by polyps.</p><p>They bleach when warm.</p>"
    c2 = epub.EpubHtml(title="Untitled in text", file_name="c2.xhtml", lang="en")
    c2.content = "<p>Knowledge graphs link <em>things</em>.</p><script>alert('x')</script><nav>skip me</nav>"
    c3 = epub.EpubHtml(title="Appendix", file_name="c3.xhtml", lang="en")
    c3.content = "<h2>Appendix A</h2><table><tr><td>depth</td><td>5 m</td></tr></table>"
    for c in (c1, c2, c3):
        book.add_item(c)
    book.toc = (epub.Link("c1.xhtml", "Chapter One", "c1"), epub.Link("c2.xhtml", "From the TOC", "c2"),
                epub.Link("c3.xhtml", "Appendix", "c3"))
    book.add_item(epub.EpubNcx())
    book.add_item(epub.EpubNav())
    book.spine = ["nav", c3, c1, c2]  # spine order, not manifest order
    epub.write_epub(str(path), book)
    return path


def test_metadata_and_chapters_in_spine_order(tmp_path):
    res = read(make_epub(tmp_path / "book.epub"))
    props = doc_node(res).properties
    assert props["title"] == "Reefs and Graphs" and props["format"] == "epub"
    assert props["authors"] == ["Ada Lovelace"]  # the editor (EPUB 3 role refinement) is not an author
    assert (props["language"], props["date"], props["publisher"], props["identifier"]) == (
        "en", "2023-04-05", "Lab Press", "urn:isbn:9780000000001")
    cs = chunks(res)
    assert [c.properties.get("section") for c in cs] == ["Appendix A", "Beginnings", "From the TOC"]
    assert cs[0].properties["text"] == "Appendix A depth 5 m"
    assert cs[1].properties["text"] == "Beginnings Coral reefs are built by polyps. They bleach when warm."
    assert cs[2].properties["text"] == "From the TOC Knowledge graphs link things."  # script/nav dropped
    assert [n.id for n in res.nodes if n.label == "Category"] == ["category:tag:marine-biology"]
    assert res.errors == [] and res.warnings == []


def test_a_bad_chapter_is_a_record_error_and_the_rest_is_kept(tmp_path):
    src = make_epub(tmp_path / "src.epub")
    bad = rewrite_zip(src, tmp_path / "bad.epub", replace={"EPUB/c2.xhtml": b"<p>caf\xe9 au lait</p>"})
    res = read(bad)
    assert [c.properties.get("section") for c in chunks(res)] == ["Appendix A", "Beginnings"]
    assert len(res.errors) == 1 and res.errors[0].startswith("chapter c2.xhtml: ")


ENCRYPTION = (b'<encryption xmlns="urn:oasis:names:tc:opendocument:xmlns:container" '
              b'xmlns:enc="http://www.w3.org/2001/04/xmlenc#"><enc:EncryptedData>'
              b'<enc:EncryptionMethod Algorithm="{alg}"/><enc:CipherData>'
              b'<enc:CipherReference URI="EPUB/{uri}"/></enc:CipherData></enc:EncryptedData></encryption>')


def test_drm_is_one_line_but_font_obfuscation_is_fine(tmp_path):
    src = make_epub(tmp_path / "src.epub")
    drm = ENCRYPTION.replace(b"{alg}", b"http://www.w3.org/2001/04/xmlenc#aes128-cbc").replace(b"{uri}", b"c1.xhtml")
    p = rewrite_zip(src, tmp_path / "drm.epub", add={"META-INF/encryption.xml": drm,
                                                 "META-INF/rights.xml": b"<rights/>"})
    with pytest.raises(ReaderError) as info:
        read(p)
    assert str(info.value) == "DRM-encrypted EPUB: 1 file(s) are encrypted (META-INF/encryption.xml)"
    fonts = ENCRYPTION.replace(b"{alg}", b"http://www.idpf.org/2008/embedding").replace(b"{uri}", b"font.otf")
    ok = rewrite_zip(src, tmp_path / "fonts.epub", add={"META-INF/encryption.xml": fonts})
    assert len(chunks(read(ok))) == 3


LAUGHS = (b'<!DOCTYPE package [<!ENTITY a "aaaaaaaaaa">'
          + b"".join(f'<!ENTITY {c} "{("&" + p + ";") * 10}">'.encode() for p, c in zip("abcdefgh", "bcdefghi", strict=True))
          + b"]>")


@pytest.mark.parametrize(("case", "message"), [
    ("not-zip", "^invalid EPUB: not a ZIP container or truncated"),
    ("truncated", "^invalid EPUB: "),
    ("no-container", "^invalid EPUB: META-INF/container.xml is missing$"),
    ("no-opf", "^invalid EPUB: the OPF package 'EPUB/content.opf' is missing$"),
    ("opf-bomb", "^invalid EPUB: EPUB/content.opf declares XML entities or external references, refused"),
    ("container-bomb", "^invalid EPUB: META-INF/container.xml declares XML entities"),
    ("missing-chapter", "^invalid EPUB: KeyError: "),
])
def test_bad_epubs_are_one_line_and_fast(tmp_path, case, message):
    src = make_epub(tmp_path / "src.epub")
    p = tmp_path / "bad.epub"
    with zipfile.ZipFile(src) as z:
        opf, container = z.read("EPUB/content.opf"), z.read("META-INF/container.xml")
    if case == "not-zip":
        p.write_bytes(b"<html>not a book</html>")
    elif case == "truncated":
        p.write_bytes(src.read_bytes()[:600])
    elif case == "no-container":
        rewrite_zip(src, p, drop=("META-INF/container.xml",))
    elif case == "no-opf":
        rewrite_zip(src, p, drop=("EPUB/content.opf",))
    elif case == "opf-bomb":
        body = opf.split(b"?>", 1)[1]
        rewrite_zip(src, p, replace={"EPUB/content.opf": b'<?xml version="1.0"?>' + LAUGHS + body.replace(
            b"Lab Press", b"&i;")})
    elif case == "container-bomb":
        rewrite_zip(src, p, replace={"META-INF/container.xml": LAUGHS.replace(b"package", b"container") + container
                                 .split(b"?>", 1)[-1]})
    else:
        rewrite_zip(src, p, drop=("EPUB/c1.xhtml",))
    start = time.monotonic()
    with pytest.raises(ReaderError, match=message) as info:
        read(p)
    assert "\n" not in str(info.value) and time.monotonic() - start < 5


def test_sniff_selects_the_epub_reader(tmp_path):
    assert select_reader(FileInfo(tmp_path / "a.EPUB", b"")).name == "epub"
    head = b"PK\x03\x04" + b"\x00" * 26 + b"mimetypeapplication/epub+zip"
    assert select_reader(FileInfo(tmp_path / "book.zip", head)).name == "epub"


def test_ingest_end_to_end(tmp_path):
    from kg.graph import KnowledgeGraph

    folder = tmp_path / "library"
    folder.mkdir()
    make_epub(folder / "book.epub")
    (folder / "broken.epub").write_bytes(b"PK\x03\x04 truncated")
    with KnowledgeGraph.open(tmp_path / "kg") as g:
        rep = g.ingest(folder, embed=False)
        by_name = {Path(f.path).name: f for f in rep.files}
        assert len(by_name["broken.epub"].errors) == 1
        assert by_name["broken.epub"].errors[0].startswith("invalid EPUB: ")
        assert by_name["book.epub"].reader == "epub" and not by_name["book.epub"].errors
        (doc,) = list(g.nodes("Document"))
        assert doc.properties["authors"] == ["Ada Lovelace"] and doc.properties["publisher"] == "Lab Press"
        assert g.node(doc.id).sources == (str(folder / "book.epub"),)
        linked = g.neighbors(doc.id, edge_types=["HAS_CHUNK"], direction="out")
        assert sorted(c.properties["section"] for c in linked) == ["Appendix A", "Beginnings", "From the TOC"]
        assert [n.id for n in g.neighbors(doc.id, edge_types=["IN_CATEGORY"])] == ["category:tag:marine-biology"]
