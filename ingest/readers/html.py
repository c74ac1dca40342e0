"""HTML reader: one ``Document`` per page, with its main text split into chunks.

Parsed with selectolax (lexbor). Title: ``<title>``, else the first ``<h1>``, else the file stem.
``<meta>`` author, description and keywords (plus ``<html lang>``) become Document properties;
keywords also become ``Category`` nodes (scheme ``tag``). The text is taken from ``<main>``, else a
lone ``<article>``, else ``<body>``, after dropping scripts, styles, navigation, footers and other
non-content elements; block elements become paragraphs so chunks follow the page's structure.

Bytes are decoded as UTF-8 (or by a UTF-16 byte-order mark); a page that is not valid UTF-8 is
decoded with the charset its ``<meta>`` declares, and raises :class:`kg.errors.ReaderError`
when it declares none (or a wrong one).
"""

from __future__ import annotations

import codecs
import re
from pathlib import Path
from typing import Any

from ingest.readers.base import FileInfo, decode_text, register_reader
from ingest.readers.markdown import tag_names, tag_records
from ingest.readers.text import document_result
from ingest.records import document_id
from kg.errors import ReaderError
from kg.model import ReadResult

DROP_TAGS = ["script", "style", "noscript", "template", "nav", "footer", "svg", "canvas", "iframe",
             "object", "embed", "select", "button", "head"]
"""Elements removed with their content before the text is taken."""

BLOCK_TAGS = frozenset({
    "address", "article", "aside", "blockquote", "body", "caption", "dd", "details", "dialog", "div", "dl", "dt",
    "fieldset", "figcaption", "figure", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hgroup", "hr",
    "html", "li", "main", "ol", "p", "pre", "section", "summary", "table", "tbody", "td", "tfoot", "th", "thead",
    "tr", "ul"})
"""Elements whose text forms its own paragraph."""

_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([\w.:-]+)""", re.I)
_LEADING = re.compile(r"^(?:\s+|<\?xml[^>]*>|<!--.*?-->)*", re.S)
_MAX_UP = 64  # how far up the tree to look for a text node's block element
_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)[^>]*?(/?)>")
_NO_DEPTH = frozenset({  # void elements and those whose end tag may be omitted
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track", "wbr",
    "p", "li", "dt", "dd", "tr", "td", "th", "option", "optgroup", "thead", "tbody", "tfoot", "colgroup",
    "caption", "rp", "rt", "html", "head", "body"})

MAX_DEPTH = 10_000
"""Deeper element nesting is refused: the HTML parser slows down quadratically with depth."""


def nesting_depth(text: str, limit: int = MAX_DEPTH) -> int:
    """Approximate element nesting depth from the tags (stops counting past ``limit``).

    >>> nesting_depth("<div><p>a<p>b<br><span>c</span></div>")
    2
    """
    depth = deepest = 0
    for m in _TAG.finditer(text):
        if m.group(3) or m.group(2).lower() in _NO_DEPTH:
            continue
        depth = max(depth - 1, 0) if m.group(1) else depth + 1
        deepest = max(deepest, depth)
        if deepest > limit:
            break
    return deepest


def looks_like_html(head: bytes) -> bool:
    """Whether a file starts (after a BOM, whitespace, an XML declaration or comments) as HTML.

    >>> looks_like_html(b"\\n<!DOCTYPE html><html>"), looks_like_html(b"# <html> in Markdown")
    (True, False)
    """
    start = head[:4096].decode("utf-8", errors="replace").lstrip("\ufeff")
    start = _LEADING.sub("", start, count=1).lower()
    return start.startswith(("<!doctype html", "<html"))


def decode_html(data: bytes, path: Path) -> str:
    """Decode an HTML file: BOM, else UTF-8, else the ``<meta>`` charset; LF line endings."""
    for bom, enc in ((codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")):
        if data.startswith(bom):
            try:
                return data.decode(enc).replace("\r\n", "\n").replace("\r", "\n")
            except UnicodeDecodeError as e:
                raise ReaderError(f"invalid UTF-16 at byte {e.start}") from None
    try:
        return decode_text(data, path)
    except ReaderError:
        m = _CHARSET.search(data[:4096])
        if not m or b"\x00" in data[:8192]:
            raise
        name = m.group(1).decode("ascii", errors="replace")
        try:
            codecs.lookup(name)
            text = data.decode(name)
        except LookupError:
            raise ReaderError(f"not UTF-8 and the declared charset {name!r} is unknown") from None
        except UnicodeDecodeError as e:
            raise ReaderError(f"invalid {name} at byte {e.start}") from None
        return text.replace("\r\n", "\n").replace("\r", "\n")


def _clean(text: str | None) -> str:
    return " ".join((text or "").split())


def _metadata(tree: Any) -> dict[str, Any]:
    """author / description / keywords / lang from ``<meta>`` tags and ``<html lang>``."""
    meta: dict[str, Any] = {}
    for node in tree.css("meta"):
        attrs = node.attributes
        key = (attrs.get("name") or attrs.get("property") or "").strip().lower()
        key = {"og:description": "description", "article:author": "author"}.get(key, key)
        value = _clean(attrs.get("content"))
        if key in ("author", "description", "keywords") and value and key not in meta:
            meta[key] = tag_names(value) if key == "keywords" else value
    html = tree.css_first("html")
    if html is not None and _clean(html.attributes.get("lang")):
        meta["lang"] = _clean(html.attributes.get("lang"))
    return meta


def _block_of(node: Any, root_id: int) -> tuple[int, bool]:
    """The nearest block ancestor's id (the root when none is near), and whether inside ``<pre>``."""
    block, pre, cur = None, False, node.parent
    for _ in range(_MAX_UP):
        if cur is None:
            break
        if block is None and cur.tag in BLOCK_TAGS:
            block = cur.mem_id
        pre = pre or cur.tag == "pre"
        if cur.mem_id == root_id:
            break
        cur = cur.parent
    return (root_id if block is None else block), pre


def main_text(root: Any) -> str:
    """Text of ``root``: block elements as blank-line separated paragraphs, ``<pre>`` kept as is."""
    paras: list[tuple[list[str], bool]] = []
    last_block: int | None = None
    for node in root.traverse(include_text=True):
        if node.tag == "br" and paras:
            paras[-1][0].append("\n")
        if node.tag != "-text":
            continue
        block, pre = _block_of(node, root.mem_id)
        if block != last_block or not paras:
            paras.append(([], pre))
            last_block = block
        raw = node.text_content or ""
        paras[-1][0].append(raw if pre else re.sub(r"\s+", " ", raw))
    out = []
    for pieces, pre in paras:
        lines = "".join(pieces).split("\n")
        kept = [ln.rstrip() for ln in lines] if pre else [" ".join(ln.split()) for ln in lines]
        text = "\n".join(kept).strip("\n") if pre else "\n".join(ln for ln in kept if ln)
        if text.strip():
            out.append(text)
    return "\n\n".join(out)


class HtmlReader:
    """``.html``/``.htm``/``.xhtml`` files, or any file that starts like an HTML page."""

    name = "html"
    priority = 0
    extensions = (".html", ".htm", ".xhtml")

    def sniff(self, info: FileInfo) -> bool:
        """An HTML extension, or ``<!doctype html``/``<html`` at the start of the file."""
        return info.path.suffix.lower() in self.extensions or looks_like_html(info.head)

    def read(self, path: Path, data: bytes) -> ReadResult:
        """Parse one HTML page into a Document with its chunks."""
        from selectolax.lexbor import LexborHTMLParser

        if not data:
            raise ReaderError("empty file")
        html = decode_html(data, path)
        if nesting_depth(html) > MAX_DEPTH:
            raise ReaderError(f"HTML nested too deeply (over {MAX_DEPTH} levels)")
        tree = LexborHTMLParser(html)
        title_node = tree.css_first("title") or tree.css_first("h1")
        title = _clean(title_node.text() if title_node is not None else "") or path.stem
        meta = _metadata(tree)
        tree.strip_tags(DROP_TAGS)
        for node in tree.css('[role="navigation"], [aria-hidden="true"], [hidden]'):
            node.decompose()
        articles = tree.css("article")
        root = tree.css_first("main") or (articles[0] if len(articles) == 1 else None) or tree.body
        text = main_text(root) if root is not None else ""
        if not text.strip() and tree.body is not None and root is not tree.body:
            text = main_text(tree.body)
        out = document_result(path, text, title=title, fmt="html", metadata=meta)
        out.extend(tag_records(document_id(str(path)), meta.get("keywords", [])))
        return out


register_reader(HtmlReader())
