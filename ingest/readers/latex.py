r"""LaTeX sources (``.tex``) -> a Paper with its sections as chunks and CITES edges from ``\cite``.

A full document (one with ``\documentclass`` or ``\begin{document}``) and a ``\title`` becomes a
``Paper``: ``\title``, ``\author`` (every ``\author``, split on ``\and``/``\AND``/``\And`` and
commas, with ``\thanks``, ``\footnote``, ``\inst``, ``\affiliation``, ``\email``, superscripts
and the lines after ``\\`` dropped), ``\begin{abstract}`` (or ``\abstract{...}``), the year of
``\date`` and, when the folder is named like an arXiv id (``2104.08663``, ``arXiv-2104.08663v2``:
how arXiv source archives unpack), that arXiv id. The text between ``\begin{document}`` and
``\end{document}`` is converted with pylatexenc's ``LatexNodes2Text`` section by section
(``\part`` ... ``\subsection``); each section gives one or more chunks with a ``section``
property.

``\cite``/``\citep``/``\citet``/``\parencite``/... keys are looked up in the ``.bib`` files that
``\bibliography{a,b}`` / ``\addbibresource{x.bib}`` name (relative to the ``.tex``), parsed by the
project's BibTeX reader; each found entry becomes a CITES edge (``bibkey`` property) to a stub
Paper with that entry's identity keys, so it merges with the same paper from the ``.bib`` itself,
a PDF or S2ORC. Keys not found, a missing ``.bib``, and ``\input``/``\include`` (never followed:
each included file is read on its own) are warnings.

Any other ``.tex`` (a section file pulled in by ``\input``, a table, a preamble) is a *fragment*
and becomes a ``Document`` (``fragment: true``) titled by its first section (else the file name):
multi-file papers keep most of their text in such files, and dropping them would lose it from
search. Slides and letters (``beamer``, ``letter``) and a full document without ``\title`` are
Documents too.

Bounded: at most :data:`MAX_CHARS` characters are read (warning); unbalanced braces are repaired
per section (warning); a section pylatexenc cannot convert (too deeply nested, a macro it trips
on) falls back to stripping the markup (warning).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ingest.chunking import chunk_text
from ingest.readers.base import (
    SuffixReader,
    decode_text_with_encoding,
    encoding_warning,
    register_reader,
)
from ingest.readers.bibtex import BibtexReader
from ingest.records import AuthorRef, PaperRecord, chunk_records, document_id, paper_records
from kg.errors import InvalidRecordError, ReaderError
from kg.model import EdgeRecord, Label, NodeRecord, ReadResult, Rel

SUFFIXES = (".tex", ".latex", ".ltx")
MAX_CHARS = 1_000_000
"""Characters of a ``.tex`` file that are read; the rest is cut with a warning."""
MAX_BIB_BYTES = 32 * 2**20
"""A ``.bib`` larger than this is not read (warning)."""
MAX_ARG = 20_000
"""Longest macro argument looked for (``\\title{...}``, ``\\author{...}``)."""
MAX_DEPTH = 48
"""Brace nesting beyond this is flattened before pylatexenc sees a section (it recurses)."""
NOT_PAPERS = frozenset({"beamer", "letter", "standalone", "minimal", "tikzposter", "a0poster"})
"""Document classes read as Documents, not Papers."""

_COMMENT = re.compile(r"(?<!\\)%[^\n]*")
_FULL = re.compile(r"\\documentclass\b|\\begin\s*\{document\}")
_CLASS = re.compile(r"\\documentclass\s*(?:\[[^\]]*\])?\s*\{\s*([\w-]+)")
_CITE = re.compile(r"\\(?:[A-Za-z]*cite[A-Za-z]*|Cite[A-Za-z]*)\*?\s*(?:\[[^\]]*\]\s*){0,2}\{([^{}]*)\}")
_CITE_SPACED = re.compile(r"[~ \t]*" + _CITE.pattern)
_REF = re.compile(r"\\(?:label|ref|eqref|autoref|cref|Cref|pageref|nameref|vref)\*?\s*\{[^{}]*\}")
_HREF = re.compile(r"\\href\s*\{[^{}]*\}")
_INPUT = re.compile(r"\\(?:input|include|subfile|import)\s*\{([^{}]*)\}")
_SECTION = re.compile(r"\\(part|chapter|section|subsection)\*?\s*(?:\[[^\]]*\])?\s*(?=\{)")
_AND = re.compile(r"\\(?:and|AND|And)\b")
_DROP_ARG = ("thanks", "footnote", "footnotemark", "inst", "affiliation", "affil", "institute", "email",
             "orcid", "IEEEauthorrefmark", "textsuperscript", "institution", "address", "icmlaffiliation")
_ARXIV_DIR = re.compile(r"(?:arxiv[-_])?(\d{4}\.\d{4,5})(?:v\d+)?", re.I)
_YEAR = re.compile(r"\b(19\d\d|20\d\d)\b")


# ---------------------------------------------------------------------------- LaTeX scanning

def braced(text: str, pos: int, limit: int = MAX_ARG) -> tuple[str, int] | None:
    r"""The group that opens at ``text[pos] == "{"`` and the index after it; None when it does not
    close within ``limit`` characters (``\{`` and ``\}`` are not braces).

    >>> braced(r"{a {b} \} c} d", 0)
    ('a {b} \\} c', 12)
    """
    if pos >= len(text) or text[pos] != "{":
        return None
    depth = 0
    i, end = pos, min(len(text), pos + limit)
    while i < end:
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return text[pos + 1:i], i + 1
        i += 1
    return None


def macro_args(text: str, name: str) -> Iterator[str]:
    r"""The mandatory argument of every ``\name[opt]{arg}`` in ``text`` (unclosed ones skipped)."""
    for m in re.finditer(rf"\\{name}(?![A-Za-z])\*?\s*", text):
        pos = m.end()
        if pos < len(text) and text[pos] == "[":
            close = text.find("]", pos, pos + 2000)
            pos = close + 1 if close >= 0 else pos
            while pos < len(text) and text[pos].isspace():
                pos += 1
        if got := braced(text, pos):
            yield got[0]


def drop_macros(text: str, names: tuple[str, ...]) -> str:
    r"""``text`` without ``\name[opt]{arg}`` for each name (the macro and its argument)."""
    for name in names:
        out, last = [], 0
        for m in re.finditer(rf"\\{name}(?![A-Za-z])\*?\s*(?:\[[^\]]*\]\s*)?", text):
            if m.start() < last:
                continue
            got = braced(text, m.end())
            out.append(text[last:m.start()])
            last = got[1] if got else m.end()
        text = "".join(out) + text[last:]
    return text


def environment(text: str, name: str) -> str | None:
    r"""The body of the first ``\begin{name} ... \end{name}``, or None."""
    m = re.search(rf"\\begin\s*\{{{name}\}}(.*?)\\end\s*\{{{name}\}}", text, re.S)
    return m.group(1) if m else None


def balance(text: str) -> tuple[str, int]:
    """Drop unmatched ``}``, close unclosed ``{`` at the end, and flatten nesting deeper than
    :data:`MAX_DEPTH`; returns the text and how many braces were fixed.

    >>> balance("a } b {c")
    ('a  b {c}', 2)
    """
    out: list[str] = []
    depth = fixed = 0
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            out.append(text[i:i + 2])
            i += 2
            continue
        if ch == "{":
            depth += 1
            if depth > MAX_DEPTH:
                ch = ""
        elif ch == "}":
            if depth == 0:
                fixed += 1
                ch = ""
            else:
                depth -= 1
                if depth >= MAX_DEPTH:
                    ch = ""
        out.append(ch)
        i += 1
    if depth:
        out.append("}" * min(depth, MAX_DEPTH))
        fixed += depth
    return "".join(out), fixed


@functools.lru_cache(maxsize=1)
def _converter() -> Any:
    import pylatexenc.latex2text as l2t  # a core dependency (bibtexparser 2 needs it too)
    spec = l2t.MacroTextSpec
    db = l2t.get_default_latex_context_db()
    db.add_context_category("kgloom-latex", prepend=True, macros=[
        spec("texttt", simplify_repl="%s"), spec("maketitle", simplify_repl=""),
        spec("includegraphics", simplify_repl=""), spec("url", simplify_repl="%s"),
        spec("footnote", simplify_repl=" (%s)"), spec("tableofcontents", simplify_repl=""),
        spec("LaTeX", simplify_repl="LaTeX"), spec("TeX", simplify_repl="TeX")])
    return l2t.LatexNodes2Text(latex_context=db, math_mode="verbatim")


def to_text(latex: str, warnings: list[str] | None = None, where: str = "") -> str:
    """LaTeX as plain text (citations, labels and references dropped), paragraphs kept.

    Braces are repaired first; when pylatexenc fails the markup is stripped instead, and either
    is noted in ``warnings``.
    """
    latex = _HREF.sub("", _REF.sub("", _CITE_SPACED.sub("", latex)))
    latex, fixed = balance(latex)
    if fixed and warnings is not None:
        warnings.append(f"{where or 'text'}: {fixed} unbalanced brace(s) repaired")
    try:
        text = str(_converter().latex_to_text(latex))
    except ReaderError:
        raise
    except Exception as e:  # pylatexenc trips on some macros; keep the words
        if warnings is not None:
            warnings.append(f"{where or 'text'}: markup stripped ({type(e).__name__} in pylatexenc)")
        text = re.sub(r"\\[A-Za-z@]+\*?|[{}]", " ", latex)
    paras = (" ".join(p.split()) for p in re.split(r"\n\s*\n", text))
    return "\n\n".join(p for p in paras if p)


# ---------------------------------------------------------------------------- front matter

def authors_of(latex: str) -> list[str]:
    r"""Author names from the ``\author`` arguments of a document.

    >>> authors_of(r"\author{Ann Lee\thanks{Work done at X.} \\ Univ. \and Bo Chen$^{1}$}")
    ['Ann Lee', 'Bo Chen']
    """
    names: list[str] = []
    for arg in macro_args(latex, "author"):
        arg = re.sub(r"\$[^$]*\$", "", drop_macros(arg, _DROP_ARG))
        for part in _AND.split(arg):
            first_line = re.split(r"\\\\|\\newline\b|\n\s*\n", part.strip())[0]
            text = to_text(first_line).replace("\n", " ")
            pieces = [p.strip(" *†‡§¶0123456789,.;:") for p in re.split(r",|\band\b", text)]
            for p in pieces:
                if p and "@" not in p and len(p.split()) <= 6 and p not in names:
                    names.append(p)
    return names


def sections(body: str) -> list[tuple[str, str]]:
    """``(section title LaTeX, section body LaTeX)`` pairs; text before the first is titled ``""``."""
    out: list[tuple[str, str]] = []
    title, start = "", 0
    for m in _SECTION.finditer(body):
        got = braced(body, m.end())
        if got is None:
            continue
        out.append((title, body[start:m.start()]))
        title, start = got[0], got[1]
    out.append((title, body[start:]))
    return [(t, b) for t, b in out if t.strip() or b.strip()]


# ---------------------------------------------------------------------------- citations

def cited_keys(latex: str) -> list[str]:
    r"""Citation keys in order of first use (``\nocite{*}`` ignored).

    >>> cited_keys(r"\citep[see][p.~3]{a, b} and \citet{b} \nocite{*} \parencite{c}")
    ['a', 'b', 'c']
    """
    keys = (k.strip() for m in _CITE.finditer(latex) for k in m.group(1).split(","))
    return list(dict.fromkeys(k for k in keys if k and k != "*"))


def bib_paths(latex: str, folder: Path) -> list[tuple[str, Path | None]]:
    r"""``(name as written, resolved path or None)`` of each ``\bibliography`` /
    ``\addbibresource`` file; None for an absolute path (never read)."""
    names = [n.strip() for arg in macro_args(latex, "bibliography") for n in arg.split(",")]
    names += [a.strip() for a in macro_args(latex, "addbibresource")]
    out: list[tuple[str, Path | None]] = []
    for name in dict.fromkeys(n for n in names if n):
        rel = Path(name if name.lower().endswith(".bib") else name + ".bib")
        out.append((name, None if rel.is_absolute() else folder / rel))
    return out


def bib_entries(latex: str, folder: Path, warnings: list[str]) -> dict[str, NodeRecord]:
    """Paper records of the document's ``.bib`` files by citation key (first one wins)."""
    entries: dict[str, NodeRecord] = {}
    for name, path in bib_paths(latex, folder):
        if path is None:
            warnings.append(f"bibliography {name!r}: absolute path ignored")
            continue
        try:
            if not path.is_file():
                warnings.append(f"bibliography {name!r} not found ({path.name} is not next to the .tex)")
                continue
            if path.stat().st_size > MAX_BIB_BYTES:
                warnings.append(f"bibliography {name!r} is over {MAX_BIB_BYTES // 2**20} MiB: not read")
                continue
            got = BibtexReader().read(path, path.read_bytes())
        except (OSError, ReaderError) as e:
            warnings.append(f"bibliography {name!r} could not be read: {e}")
            continue
        for node in got.nodes:
            key = node.properties.get("bibkey")
            if node.label == Label.PAPER and not node.stub and isinstance(key, str):
                entries.setdefault(key, node)
    return entries


def citation_records(pid: str, keys: list[str], entries: dict[str, NodeRecord]) -> tuple[ReadResult, list[str]]:
    """CITES edges (with ``bibkey``) to stub Papers carrying the entries' identity keys, and the
    keys that have no entry."""
    out = ReadResult()
    missing: list[str] = []
    for key in keys:
        node = entries.get(key)
        if node is None:
            missing.append(key)
            continue
        if node.id == pid:
            continue
        props: dict[str, Any] = {k: node.properties[k] for k in ("title", "year", "doi", "arxiv_id")
                                 if k in node.properties}
        out.nodes.append(NodeRecord(node.id, Label.PAPER, props, stub=True, keys=node.keys))
        out.edges.append(EdgeRecord(pid, node.id, Rel.CITES, {"bibkey": key}))
    return out, missing


# ---------------------------------------------------------------------------- the reader

def _section_chunks(parent: str, path: Path, body: str, warnings: list[str]) -> tuple[ReadResult, str | None]:
    """Chunks of the body's sections (``section`` property on each), and the first section title."""
    texts: list[str] = []
    titles: list[str] = []
    first: str | None = None
    for title_tex, sec in sections(body):
        title = to_text(title_tex, warnings, "section title").replace("\n", " ") if title_tex else ""
        first = first or title or None
        text = to_text(sec, warnings, f"section {title!r}" if title else "front matter")
        pieces = chunk_text(f"{title}\n\n{text}" if title else text) if text or title else []
        texts += pieces
        titles += [title] * len(pieces)
    if not texts:
        raise ReaderError("no text content")
    out = chunk_records(parent, str(path), texts)
    for node in out.nodes:
        if title := titles[node.properties["index"]]:
            node.properties["section"] = title
    return out, first


def _arxiv_from_folder(path: Path) -> str | None:
    m = _ARXIV_DIR.fullmatch(path.parent.name)
    return m.group(1) if m else None


class LatexReader(SuffixReader):
    """``.tex`` / ``.latex`` / ``.ltx`` sources."""

    name = "latex"
    suffixes = SUFFIXES
    priority = 10

    def read(self, path: Path, data: bytes) -> ReadResult:
        """A Paper (full document with a title) or a Document (fragment); see the module."""
        _converter()  # the missing-extra error before anything else
        warnings: list[str] = []
        text, encoding = decode_text_with_encoding(data, path)
        if w := encoding_warning(encoding):
            warnings.append(w)
        if len(text) > MAX_CHARS:
            warnings.append(f"LaTeX source cut at {MAX_CHARS} of {len(text)} characters")
            text = text[:MAX_CHARS]
        text = _COMMENT.sub("", text)
        if not text.strip():
            raise ReaderError("no text content")
        full = bool(_FULL.search(text))
        cls_m = _CLASS.search(text)
        doc_class = cls_m.group(1) if cls_m else None
        body = environment(text, "document") if full else None
        if body is None:
            begin = re.search(r"\\begin\s*\{document\}", text)
            body = text[begin.end():] if begin else text
        body = re.sub(r"\\begin\s*\{thebibliography\}.*?(?:\\end\s*\{thebibliography\}|\Z)", "", body, flags=re.S)
        if inputs := list(dict.fromkeys(m.group(1).strip() for m in _INPUT.finditer(text))):
            shown = ", ".join(inputs[:8]) + (" ..." if len(inputs) > 8 else "")
            warnings.append(f"\\input/\\include not followed ({shown}): included files are read on their own")
        out: ReadResult | None = None
        title_tex = next(macro_args(text, "title"), None)
        if full and doc_class not in NOT_PAPERS and title_tex is not None:
            out = self._paper(path, text, body, title_tex, doc_class, warnings)
        if out is None:
            if full and doc_class not in NOT_PAPERS:
                warnings.append("no \\title: read as a Document")
            out = self._document(path, body, full, doc_class, title_tex, warnings)
        out.warnings = warnings + out.warnings
        return out

    def _paper(self, path: Path, text: str, body: str, title_tex: str, doc_class: str | None,
               warnings: list[str]) -> ReadResult | None:
        title = to_text(drop_macros(title_tex, ("thanks", "footnote")).replace("\\\\", " "), warnings, "title")
        title = " ".join(title.split())
        if not title:
            return None
        abstract_tex = environment(text, "abstract") or next(macro_args(text, "abstract"), None)
        date = next(macro_args(text, "date"), "")
        rec = PaperRecord(
            title=title, abstract=to_text(abstract_tex, warnings, "abstract") if abstract_tex else None,
            year=int(m.group(1)) if (m := _YEAR.search(date)) else None,
            authors=[AuthorRef(n) for n in authors_of(text)], arxiv_id=_arxiv_from_folder(path),
            extra={"source_format": "latex", **({"documentclass": doc_class} if doc_class else {})})
        try:
            pid, out = paper_records(rec)
        except InvalidRecordError:
            return None
        chunks, _ = _section_chunks(pid, path, body, warnings)
        out.extend(chunks)
        keys = cited_keys(body)
        if keys:
            entries = bib_entries(text, path.parent, warnings)
            cites, missing = citation_records(pid, keys, entries)
            out.extend(cites)
            if missing:
                shown = ", ".join(missing[:10]) + (" ..." if len(missing) > 10 else "")
                where = "the .bib files" if bib_paths(text, path.parent) else "any .bib (no \\bibliography)"
                warnings.append(f"{len(missing)} cited key(s) not found in {where}: {shown}")
        return out

    def _document(self, path: Path, body: str, full: bool, doc_class: str | None, title_tex: str | None,
                  warnings: list[str]) -> ReadResult:
        did = document_id(str(path))
        chunks, first = _section_chunks(did, path, body, warnings)
        title = " ".join(to_text(title_tex).split()) if title_tex else ""
        props: dict[str, Any] = {"title": title or first or path.stem, "format": "latex", "path": str(path),
                                 "n_chars": len(body)}
        if not full:
            props["fragment"] = True
        if doc_class:
            props["documentclass"] = doc_class
        out = ReadResult(nodes=[NodeRecord(did, Label.DOCUMENT, props)])
        out.extend(chunks)
        return out


register_reader(LatexReader())
