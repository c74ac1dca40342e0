"""Tests for the Markdown and HTML readers (ingest/readers/markdown.py, ingest/readers/html.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ingest.readers.base import FileInfo, get_reader, select_reader
from ingest.readers.html import HtmlReader, looks_like_html, main_text, nesting_depth
from ingest.readers.markdown import MarkdownReader, first_heading, parse_front_matter, plain_value
from kg.errors import ReaderError
from kg.model import Label, NodeRecord, ReadResult, Rel

MD = MarkdownReader()
HTML = HtmlReader()


def write(tmp_path: Path, name: str, data: str | bytes) -> Path:
    p = tmp_path / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return p


def read(reader: MarkdownReader | HtmlReader, p: Path) -> ReadResult:
    return reader.read(p, p.read_bytes())


def doc(res: ReadResult) -> NodeRecord:
    return next(n for n in res.nodes if n.label == Label.DOCUMENT)


def chunk_text(res: ReadResult) -> str:
    return " ".join(n.properties["text"] for n in res.nodes if n.label == Label.CHUNK)


def selected(path: Path, head: bytes) -> str | None:
    r = select_reader(FileInfo(path, head))
    return r.name if r else None


# --- Markdown ---------------------------------------------------------------------------------


def test_markdown_front_matter_and_title(tmp_path: Path) -> None:
    text = ("---\ntitle: Graph Notes\ndate: 2024-03-01\ntags: [nlp, graphs]\nauthor: Jane Doe\n"
            "nested:\n  k: [1, 2]\n---\n# Ignored heading\n\nSome body text.\n")
    res = read(MD, write(tmp_path, "notes.md", text))
    props = doc(res).properties
    assert props["title"] == "Graph Notes" and props["format"] == "markdown"
    assert props["date"] == "2024-03-01" and props["author"] == "Jane Doe" and props["nested"] == {"k": [1, 2]}
    assert props["tags"] == ["nlp", "graphs"] and props["path"] == str(tmp_path / "notes.md")
    assert "Some body text." in chunk_text(res) and "title: Graph Notes" not in chunk_text(res)
    cats = sorted(e.target for e in res.edges if e.type == Rel.IN_CATEGORY)
    assert cats == ["category:tag:graphs", "category:tag:nlp"]
    assert res.errors == [] and res.warnings == []


@pytest.mark.parametrize(("text", "title"), [
    ("Intro line\n\n# Real Title #\n\ntext\n", "Real Title"),
    ("```\n# not a heading\n```\n\nSetext Title\n============\n\ntext\n", "Setext Title"),
    ("## Only a subheading\n\ntext\n", "readme"),
    ("#hashtag is not a heading\n\ntext\n", "readme"),
])
def test_markdown_title_fallbacks(tmp_path: Path, text: str, title: str) -> None:
    assert doc(read(MD, write(tmp_path, "readme.md", text))).properties["title"] == title


def test_markdown_broken_front_matter_keeps_body(tmp_path: Path) -> None:
    text = "---\ntitle: [unclosed\nauthor: x\n---\n# Body Title\n\nThe body survives.\n"
    res = read(MD, write(tmp_path, "broken.md", text))
    assert len(res.errors) == 1
    assert res.errors[0].startswith("invalid YAML front matter:") and "line 3" in res.errors[0]
    props = doc(res).properties
    assert props["title"] == "Body Title"
    assert props["front_matter_raw"] == "title: [unclosed\nauthor: x"
    assert "The body survives." in chunk_text(res)


@pytest.mark.parametrize(("text", "error"), [
    ("---\n- a\n- b\n---\nbody\n", "expected a mapping, got list"),
    ("---\ntitle: x\nno closing line\n\nbody\n", "never closed"),
    ("---\na: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
     "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n---\nbody\n",
     "too large"),
    ("---\na: &a [*a]\n---\nbody\n", "recursive YAML"),
])
def test_markdown_unusable_front_matter(tmp_path: Path, text: str, error: str) -> None:
    res = read(MD, write(tmp_path, "x.md", text))
    assert len(res.errors) == 1 and error in res.errors[0] and "\n" not in res.errors[0]
    assert chunk_text(res)  # the document is still there


def test_markdown_empty_front_matter_and_crlf(tmp_path: Path) -> None:
    res = read(MD, write(tmp_path, "x.md", "---\r\n---\r\n# T\r\n\r\nbody\r\n"))
    assert res.errors == [] and doc(res).properties["title"] == "T"


def test_markdown_front_matter_only(tmp_path: Path) -> None:
    res = read(MD, write(tmp_path, "x.md", "---\ntitle: Stub\ndescription: Just a description.\n---\n"))
    assert chunk_text(res) == "Just a description."
    with pytest.raises(ReaderError, match="no text content"):
        read(MD, write(tmp_path, "y.md", "---\ntitle: Stub\n---\n\n   \n"))


def test_markdown_paper_front_matter(tmp_path: Path) -> None:
    text = ("---\ntitle: A Paper in Markdown\nauthors: [Jane Doe, John Smith]\ndoi: 10.1234/ABC.5\n"
            "year: 2021\nabstract: We write papers in Markdown.\ntags: nlp\n---\nFull text here.\n")
    res = read(MD, write(tmp_path, "paper.md", text))
    paper = next(n for n in res.nodes if n.label == Label.PAPER)
    assert paper.id == "paper:doi:10.1234/abc.5"
    assert paper.properties["title"] == "A Paper in Markdown" and paper.properties["year"] == 2021
    assert paper.properties["abstract"] == "We write papers in Markdown."
    assert paper.properties["source_format"] == "markdown"
    assert [n.properties["name"] for n in res.nodes if n.label == Label.AUTHOR] == ["Jane Doe", "John Smith"]
    assert "Full text here." in chunk_text(res) and not any(n.label == Label.DOCUMENT for n in res.nodes)


@pytest.mark.parametrize(("data", "error"), [
    (b"", "empty file"),
    (os.urandom(512).replace(b"\x00", b"\x01") + b"\x00" * 8, "binary content"),
    (b"\xff\xfe" + "x".encode("utf-16-le") + b"\x00\xd8", "invalid UTF-16"),  # BOM, then a cut surrogate
    (b"  \n\n\t\n", "no text content"),
])
def test_markdown_bad_bytes(tmp_path: Path, data: bytes, error: str) -> None:
    with pytest.raises(ReaderError, match=error):
        read(MD, write(tmp_path, "bad.md", data))


def test_markdown_selection(tmp_path: Path) -> None:
    assert isinstance(get_reader("markdown"), MarkdownReader)
    assert selected(tmp_path / "notes.md", b"# hi") == "markdown"
    assert selected(tmp_path / "notes.markdown", b"# hi") == "markdown"
    assert selected(tmp_path / "spec.mdx", b"# hi") == "markdown"
    for name in ("SKILL.md", "skill.md"):
        assert not MD.sniff(FileInfo(tmp_path / "s" / name, b"---\nname: s\n---\n"))
    assert selected(tmp_path / "s" / "SKILL.md", b"---\nname: s\ndescription: d\n---\n") == "skill"
    assert not MD.sniff(FileInfo(tmp_path / "notes.txt", b"# hi"))


def test_markdown_real_files(shared: Path) -> None:
    p = shared / "data" / "skills" / "agent-skills-specification.mdx"
    res = read(MD, p)
    assert doc(res).properties["title"] and chunk_text(res) and res.errors == []
    res = read(MD, shared / "README.md")
    assert doc(res).properties["title"].startswith("shared/")


def test_markdown_helpers() -> None:
    assert parse_front_matter("no front matter") == ({}, "no front matter", None, None)
    assert first_heading("~~~\n# x\n~~~\n# y") == "y"
    assert plain_value({1: {"a"}}) == {"1": ["a"]}


# --- HTML -------------------------------------------------------------------------------------

PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>  Knowledge   Graphs 101 </title>
<meta name="author" content="Jane Doe"><meta name="description" content="An intro.">
<meta name="keywords" content="graphs, nlp , graphs"><style>body { color: red }</style>
<script>var secret = "script text";</script></head>
<body><nav><a href="/">Home</a> | <a href="/about">About nav link</a></nav>
<main><h1>Welcome</h1><p>Graphs link <b>entities</b> &amp; relations.<br>Second line.</p>
<div>lead<p>inner paragraph</p>tail</div>
<pre>def f():
    return 1</pre>
<ul><li>first item</li><li>second item</li></ul>
<div role="navigation">breadcrumbs</div></main>
<footer>Copyright footer text</footer></body></html>
"""


def test_html_document(tmp_path: Path) -> None:
    res = read(HTML, write(tmp_path, "page.html", PAGE))
    props = doc(res).properties
    assert props["title"] == "Knowledge Graphs 101" and props["format"] == "html"
    assert props["author"] == "Jane Doe" and props["description"] == "An intro."
    assert props["keywords"] == ["graphs", "nlp"] and props["lang"] == "en"
    text = chunk_text(res)
    assert "Graphs link entities & relations." in text and "inner paragraph" in text and "second item" in text
    for dropped in ("script text", "color: red", "About nav link", "Copyright footer", "breadcrumbs"):
        assert dropped not in text
    cats = sorted(e.target for e in res.edges if e.type == Rel.IN_CATEGORY)
    assert cats == ["category:tag:graphs", "category:tag:nlp"]


def test_html_paragraph_structure() -> None:
    from selectolax.lexbor import LexborHTMLParser

    tree = LexborHTMLParser(PAGE)
    main = tree.css_first("main")
    assert main_text(main).split("\n\n")[:6] == [
        "Welcome", "Graphs link entities & relations.\nSecond line.", "lead", "inner paragraph", "tail",
        "def f():\n    return 1"]


def test_html_title_fallbacks(tmp_path: Path) -> None:
    res = read(HTML, write(tmp_path, "a.htm", "<html><body><h1>Heading Title</h1><p>x</p></body></html>"))
    assert doc(res).properties["title"] == "Heading Title"
    res = read(HTML, write(tmp_path, "plain-page.html", "<p>just a fragment</p>"))
    assert doc(res).properties["title"] == "plain-page"
    article = "<html><body><div>menu junk</div><article><p>the article</p></article></body></html>"
    assert chunk_text(read(HTML, write(tmp_path, "b.html", article))) == "the article"


def test_html_encodings(tmp_path: Path) -> None:
    latin = '<html><head><meta charset="iso-8859-1"><title>Caf\xe9</title></head><body>cr\xe8me</body></html>'
    res = read(HTML, write(tmp_path, "l.html", latin.encode("latin-1")))
    assert doc(res).properties["title"] == "Café" and chunk_text(res) == "crème"
    res = read(HTML, write(tmp_path, "u16.html", "<html><body>wide text</body></html>".encode("utf-16")))
    assert chunk_text(res) == "wide text"
    with pytest.raises(ReaderError, match="invalid UTF-8"):
        read(HTML, write(tmp_path, "bad.html", "<html><body>caf\xe9</body></html>".encode("latin-1")))
    with pytest.raises(ReaderError, match="unknown"):
        read(HTML, write(tmp_path, "bad2.html", b'<meta charset="klingon"><p>caf\xe9</p>'))


@pytest.mark.parametrize(("data", "error"), [
    (b"", "empty file"),
    (b"<html><head><title>t</title></head><body><script>only()</script></body></html>", "no text content"),
    (os.urandom(256).replace(b"\x00", b"\x01") + b"\x00\x00", "binary content"),
    (b"<html><body>" + b"<div>" * 20_000 + b"deep" + b"</div>" * 20_000 + b"</body></html>", "nested too deeply"),
])
def test_html_bad_input(tmp_path: Path, data: bytes, error: str) -> None:
    with pytest.raises(ReaderError, match=error):
        read(HTML, write(tmp_path, "bad.html", data))


def test_html_selection(tmp_path: Path) -> None:
    assert isinstance(get_reader("html"), HtmlReader)
    assert selected(tmp_path / "a.html", b"whatever") == "html"
    assert selected(tmp_path / "a.HTM", b"whatever") == "html"
    assert selected(tmp_path / "saved.txt", b"\xef\xbb\xbf  <!DOCTYPE html><html>") == "html"
    assert selected(tmp_path / "page", b"<?xml version='1.0'?>\n<!-- c -->\n<html xmlns='x'>") == "html"
    assert selected(tmp_path / "notes.md", b"# Title\n\n<html> in a code sample") == "markdown"
    assert not looks_like_html(b"<div>fragment</div>")
    assert nesting_depth("<ul><li>a<li>b</ul><img src=x><br/>") == 1


@pytest.mark.parametrize("reader", ["text", "markdown", "html"])
def test_a_huge_document_is_cut_with_a_warning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reader: str) -> None:
    """Text beyond MAX_DOCUMENT_CHARS is not chunked (a bounded partial read, said in a warning)."""
    from ingest.readers import text

    monkeypatch.setattr(text, "MAX_DOCUMENT_CHARS", 2_000)
    body = " ".join(f"word{i}" for i in range(3_000))  # one line, ~25,000 characters
    name, content = {"text": ("big.txt", body), "markdown": ("big.md", "# Big\n\n" + body),
                     "html": ("big.html", f"<html><body><h1>Big</h1><p>{body}</p></body></html>")}[reader]
    p = write(tmp_path, name, content)
    res = get_reader(reader).read(p, p.read_bytes())
    chunks = " ".join(n.properties["text"] for n in res.nodes if n.label == Label.CHUNK)
    assert "word10 " in chunks and "word2999" not in chunks
    assert len(chunks) < 3_000  # chunks overlap a little; the 25,000 characters are not all there
    assert [w for w in res.warnings if w.startswith("text cut at 2,000 of ")], res.warnings
