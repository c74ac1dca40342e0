"""Text in legacy encodings: text and Markdown files (and CSV/TSV, see test_reader_sheet.py) are
decoded in the encoding they are in, with a warning naming it; binary junk is still refused."""

from __future__ import annotations

import codecs
import random
import re
from pathlib import Path

import pytest

from ingest.readers.base import decode_text, decode_text_with_encoding, encoding_warning, get_reader
from kg import KnowledgeGraph
from kg.errors import ReaderError
from kg.model import Label, ReadResult

FRENCH = "Le café est très bon, naïve crème brûlée.\nÀ bientôt, garçon!\n"
JAPANESE = "日本語のテキストファイルです。東京で会いましょう。知識グラフの検索を試します。\n"
CHINESE = "这是一个中文文本文件，用于测试编码检测。知识图谱与混合检索。\n"
CJK_SAMPLES = ("shift_jis", "gb18030", "gbk", "big5", "euc_kr", "euc_jp")


def read(reader: str, path: Path, data: bytes) -> ReadResult:
    path.write_bytes(data)
    return get_reader(reader).read(path, data)


def body(res: ReadResult) -> str:
    return "\n".join(n.properties["text"] for n in res.nodes if n.label == Label.CHUNK)


def doc_title(res: ReadResult) -> str:
    return next(n.properties["title"] for n in res.nodes if n.label == Label.DOCUMENT)


@pytest.mark.parametrize(("text", "encoding", "expected"), [
    (FRENCH, "latin-1", "cp1252"),  # Latin-1 letters are the same bytes in cp1252
    ("café au lait", "latin-1", "cp1252"),  # too short to tell: the tie goes to cp1252, not Urdu
    ("\u201cSmart quotes\u201d \u2014 the \u20ac sign, caf\xe9.\n", "cp1252", "cp1252"),
    ("Grüße aus München, schöne Straße.\n", "cp1252", "cp1252"),
    (FRENCH, "utf-16", "utf-16"),  # with a BOM (Python writes one)
    (FRENCH, "utf-16-be", None),  # no BOM: NUL bytes, refused as binary (below)
    (FRENCH, "utf-32", "utf-32"),
])
def test_text_in_legacy_encodings(tmp_path: Path, text: str, encoding: str, expected: str | None) -> None:
    data = text.encode(encoding)
    if expected is None:
        with pytest.raises(ReaderError, match="binary content"):
            read("text", tmp_path / "x.txt", data)
        return
    res = read("text", tmp_path / "x.txt", data)
    assert body(res) == " ".join(text.split())
    assert res.warnings == [f"decoded as {expected} (not UTF-8)"]


@pytest.mark.parametrize(("text", "encoding", "names"), [
    (JAPANESE, "shift_jis", {"cp932", "shift_jis", "shift_jis_2004"}),
    (CHINESE, "gb18030", {"gb18030", "gbk", "gb2312"}),
])
def test_cjk_text(tmp_path: Path, text: str, encoding: str, names: set[str]) -> None:
    res = read("text", tmp_path / "cjk.txt", text.encode(encoding))
    assert body(res) == text.strip()
    m = re.fullmatch(r"decoded as (\S+) \(not UTF-8\)", res.warnings[0])
    assert m and m.group(1) in names, res.warnings


@pytest.mark.parametrize("name", CJK_SAMPLES)
def test_cpython_cjk_samples(tmp_path: Path, name: str) -> None:
    """Real-world text from CPython's own codec tests (``test/cjkencodings``), when installed."""
    test_pkg = pytest.importorskip("test")
    folder = Path(test_pkg.__path__[0]) / "cjkencodings"
    src, ref = folder / f"{name}.txt", folder / f"{name}-utf8.txt"
    if not src.is_file() or not ref.is_file():
        pytest.skip("CPython's test/cjkencodings is not installed")
    text, encoding = decode_text_with_encoding(src.read_bytes(), src)
    assert text == ref.read_bytes().decode("utf-8").replace("\r\n", "\n")
    assert encoding != "utf-8" and codecs.lookup(encoding)
    assert get_reader("text").read(src, src.read_bytes()).warnings == [encoding_warning(encoding)]


def test_utf8_and_its_bom_give_no_warning(tmp_path: Path) -> None:
    for data in (FRENCH.encode(), codecs.BOM_UTF8 + FRENCH.encode(), FRENCH.replace("\n", "\r\n").encode()):
        res = read("text", tmp_path / "u.txt", data)
        assert res.warnings == [] and body(res) == " ".join(FRENCH.split())
    assert decode_text_with_encoding(b"a\r\nb\rc", tmp_path / "u.txt") == ("a\nb\nc", "utf-8")


def test_markdown_in_latin1(tmp_path: Path) -> None:
    md = "---\ntitle: Café notes\ntags: [crème]\n---\n# Ignored\n\nTrès bien.\n"
    res = read("markdown", tmp_path / "n.md", md.encode("latin-1"))
    assert doc_title(res) == "Café notes" and "Très bien." in body(res)
    assert any(n.label == Label.CATEGORY and n.properties["name"] == "crème" for n in res.nodes)
    assert res.warnings == ["decoded as cp1252 (not UTF-8)"] and res.errors == []


@pytest.mark.parametrize("reader", ["text", "markdown"])
def test_binary_junk_is_still_refused(tmp_path: Path, reader: str) -> None:
    ext = ".txt" if reader == "text" else ".md"
    junk = random.Random(7).randbytes(4096)
    with pytest.raises(ReaderError, match="binary content"):
        read(reader, tmp_path / f"a{ext}", junk.replace(b"\x00", b"\x01") + b"\x00\x00")
    with pytest.raises(ReaderError, match="no known text encoding fits"):
        read(reader, tmp_path / f"b{ext}", junk.replace(b"\x00", b"\x01"))
    with pytest.raises(ReaderError, match="invalid UTF-16"):
        read(reader, tmp_path / f"c{ext}", codecs.BOM_UTF16_LE + "ab".encode("utf-16-le") + b"\x00\xd8")


def test_decode_text_stays_strict_for_its_other_callers(tmp_path: Path) -> None:
    """HTML (meta charset) and BibTeX (Latin-1) fall back on decode_text's UTF-8 error."""
    with pytest.raises(ReaderError, match="invalid UTF-8 at byte 3"):
        decode_text("café".encode("latin-1"), tmp_path / "x")
    assert decode_text(codecs.BOM_UTF8 + b"ok\r\n", tmp_path / "x") == "ok\n"
    assert encoding_warning("utf-8") is None


def test_ingest_latin1_folder_end_to_end(tmp_path: Path) -> None:
    d = tmp_path / "in"
    d.mkdir()
    (d / "notes.txt").write_bytes(FRENCH.encode("latin-1"))
    (d / "jp.md").write_bytes(("# 日本語のメモ\n\n" + JAPANESE).encode("shift_jis"))
    (d / "blob.txt").write_bytes(b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)))
    with KnowledgeGraph.open(tmp_path / "store") as g:
        report = g.ingest(d, embed=False)
        by = {Path(f.path).name: f for f in report.files}
        assert by["notes.txt"].status == "added" and by["notes.txt"].warnings == ["decoded as cp1252 (not UTF-8)"]
        assert by["jp.md"].status == "added" and "not UTF-8" in by["jp.md"].warnings[0]
        assert by["blob.txt"].status == "failed" and "binary content" in by["blob.txt"].error
        titles = {n.properties.get("title") for n in g.nodes() if n.label == Label.DOCUMENT}
        assert titles == {"Le café est très bon, naïve crème brûlée.", "日本語のメモ"}
        doc = next(n for n in g.nodes() if n.label == Label.DOCUMENT and "café" in n.properties["title"])
        assert g.node(doc.id).sources == (str(d / "notes.txt"),)
        hits = g.search("crème brûlée", mode="bm25", k=3)
        assert hits[0].id == doc.id and "brûlée" in hits[0].passages[0]
