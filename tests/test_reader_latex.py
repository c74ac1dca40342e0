"""Tests for the LaTeX source reader (ingest/readers/latex.py)."""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

import pytest

from ingest.readers.base import HEAD_BYTES, FileInfo, select_reader
from ingest.readers.bibtex import BibtexReader
from ingest.readers.latex import LatexReader, authors_of, balance, braced, cited_keys, to_text
from kg.errors import ReaderError
from kg.model import Label, ReadResult, Rel

pytest.importorskip("pylatexenc")

READER = LatexReader()
SITE = Path(sys.prefix) / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
IR_DATASETS_BIB = SITE / "ir_datasets" / "docs" / "bibliography.bib"

BIB = r"""@article{devlin2018bert,
  title={{BERT}: Pre-training of Deep Bidirectional Transformers for Language Understanding},
  author={Devlin, Jacob and Chang, Ming-Wei}, journal={arXiv preprint arXiv:1810.04805}, year={2018}}
@inproceedings{lo2020,
  title = {{S}2{ORC}: The Semantic Scholar Open Research Corpus}, author = {Lo, Kyle},
  year = 2020, doi = {10.18653/v1/2020.acl-main.447}}
"""

PAPER = r"""\documentclass[11pt]{article}
\usepackage{hyperref}
% \title{Commented Out Title}
\title[Short]{Dense Retrieval\\ for {Everyone}\thanks{Funded by nobody.}}
\author{Ann Lee\thanks{Equal contribution.} \\ Univ. of Somewhere \\ \texttt{ann@x.org}
  \and Bo Chen$^{1}$ \AND J{\"o}rg M{\"u}ller\inst{2}}
\date{March 2023}
\begin{document}
\maketitle
\begin{abstract}
We study \emph{dense retrieval}~\cite{devlin2018bert}.
\end{abstract}
\section{Introduction}\label{sec:intro}
Retrieval matters \citep[see][p.~3]{devlin2018bert,lo2020} and \citet{nokey}.
See \href{https://x.org}{our site}, \texttt{code} and Figure~\ref{fig:a}.
\input{method}
\subsection{Scope}
We focus on English.
\section*{Conclusion}
Dense is good $x^2$.
\bibliography{refs}
\bibliographystyle{plain}
\end{document}
"""


def write(folder: Path, name: str, text: str | bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def read(path: Path) -> ReadResult:
    return READER.read(path, path.read_bytes())


def full_papers(res: ReadResult) -> list:
    return [n for n in res.nodes if n.label == Label.PAPER and not n.stub]


def test_paper_with_sections_and_resolved_citations(tmp_path: Path) -> None:
    write(tmp_path, "refs.bib", BIB)
    res = read(write(tmp_path, "main.tex", PAPER))
    (paper,) = full_papers(res)
    p = paper.properties
    assert p["title"] == "Dense Retrieval for Everyone" and p["year"] == 2023 and p["documentclass"] == "article"
    assert p["abstract"] == "We study dense retrieval."
    authors = [n.properties["name"] for n in res.nodes if n.label == Label.AUTHOR]
    assert authors == ["Ann Lee", "Bo Chen", "Jörg Müller"]
    chunks = [n.properties for n in res.nodes if n.label == Label.CHUNK]
    assert [c.get("section") for c in chunks] == [None, "Introduction", "Scope", "Conclusion"]
    intro = chunks[1]["text"]
    assert "Retrieval matters and." in intro and "our site, code and Figure" in intro and "\\" not in intro
    # CITES edges go to the very ids the BibTeX reader gives the same entries
    bib_ids = {n.properties["bibkey"]: n.id for n in BibtexReader().read(tmp_path / "refs.bib",
                                                                         (tmp_path / "refs.bib").read_bytes()).nodes
               if n.label == Label.PAPER}
    cites = {(e.target, e.properties["bibkey"]) for e in res.edges if e.type == Rel.CITES}
    assert cites == {(bib_ids["devlin2018bert"], "devlin2018bert"), (bib_ids["lo2020"], "lo2020")}
    assert bib_ids["lo2020"] == "paper:doi:10.18653/v1/2020.acl-main.447"
    stubs = {n.id: n for n in res.nodes if n.stub}
    assert stubs[bib_ids["devlin2018bert"]].keys[0] == "arxiv:1810.04805"
    assert "1 cited key(s) not found in the .bib files: nokey" in res.warnings
    assert any("\\input/\\include not followed (method)" in w for w in res.warnings)
    assert not res.errors


def test_missing_bib_is_a_warning(tmp_path: Path) -> None:
    res = read(write(tmp_path, "main.tex", PAPER))
    assert len(full_papers(res)) == 1 and not [e for e in res.edges if e.type == Rel.CITES]
    assert any("bibliography 'refs' not found" in w for w in res.warnings), res.warnings
    assert any("3 cited key(s) not found" in w for w in res.warnings)
    res = read(write(tmp_path, "abs.tex", PAPER.replace(r"\bibliography{refs}", r"\addbibresource{/etc/refs.bib}")))
    assert any("absolute path ignored" in w for w in res.warnings)


def test_broken_bib_is_a_warning(tmp_path: Path) -> None:
    write(tmp_path, "refs.bib", "@article{broken, title = {never closed\n")
    res = read(write(tmp_path, "main.tex", PAPER))
    assert len(full_papers(res)) == 1 and any("could not be read" in w for w in res.warnings), res.warnings


def test_real_bibliography_from_ir_datasets(tmp_path: Path) -> None:
    if not IR_DATASETS_BIB.is_file():
        pytest.skip("ir_datasets' bibliography.bib is not installed")
    shutil.copy(IR_DATASETS_BIB, tmp_path / "irds.bib")
    tex = (r"\documentclass{article}\title{A Survey of Test Collections}\begin{document}\section{Data}"
           r"ANTIQUE \cite{Hashemi2020Antique}, Robust04 \citep{Voorhees2005Robust} and BEIR \citet{Thakur2021Beir}."
           r"\addbibresource{irds.bib}\end{document}")
    res = read(write(tmp_path, "survey.tex", tex))
    cites = {e.properties["bibkey"]: e.target for e in res.edges if e.type == Rel.CITES}
    assert set(cites) == {"Hashemi2020Antique", "Voorhees2005Robust", "Thakur2021Beir"}
    assert cites["Thakur2021Beir"] == "paper:arxiv:2104.08663"
    assert not [w for w in res.warnings if "not found" in w]


def test_pygments_full_document_without_title_is_a_document(tmp_path: Path) -> None:
    pygments = pytest.importorskip("pygments")
    from pygments.formatters import LatexFormatter
    from pygments.lexers import PythonLexer

    tex = pygments.highlight("def f(x):\n    return x + 1\n", PythonLexer(), LatexFormatter(full=True, title="Listing"))
    res = read(write(tmp_path, "listing.tex", tex))
    (doc,) = [n for n in res.nodes if n.label == Label.DOCUMENT]
    assert doc.properties["title"] == "Listing" and "fragment" not in doc.properties
    assert "no \\title: read as a Document" in res.warnings
    assert any("return" in n.properties["text"] for n in res.nodes if n.label == Label.CHUNK)


def test_fragment_is_a_document(tmp_path: Path) -> None:
    res = read(write(tmp_path, "method.tex", r"\section{Method}We embed \emph{queries}. \subsection{Training}Adam."))
    (doc,) = [n for n in res.nodes if n.label == Label.DOCUMENT]
    assert doc.properties["title"] == "Method" and doc.properties["fragment"] is True
    assert [n.properties["section"] for n in res.nodes if n.label == Label.CHUNK] == ["Method", "Training"]
    assert not full_papers(res)


def test_pandas_table_fragment(tmp_path: Path) -> None:
    pd = pytest.importorskip("pandas")
    try:
        tex = pd.DataFrame({"model": ["BM25", "DPR"], "ndcg": [0.43, 0.39]}).to_latex(index=False)
    except ImportError:
        pytest.skip("pandas.to_latex needs jinja2")
    res = read(write(tmp_path, "table.tex", tex))
    (doc,) = [n for n in res.nodes if n.label == Label.DOCUMENT]
    assert doc.properties["title"] == "table"
    text = " ".join(n.properties["text"] for n in res.nodes if n.label == Label.CHUNK)
    assert "BM25" in text and "0.43" in text


def test_input_loop_is_not_followed(tmp_path: Path) -> None:
    a = write(tmp_path, "a.tex", r"\documentclass{article}\title{A}\begin{document}A text \input{b}\end{document}")
    b = write(tmp_path, "b.tex", r"B text \input{a} \include{b}")
    t0 = time.perf_counter()
    ra, rb = read(a), read(b)
    assert time.perf_counter() - t0 < 5
    assert full_papers(ra)[0].properties["title"] == "A"
    assert [n.properties["title"] for n in rb.nodes if n.label == Label.DOCUMENT] == ["b"]
    assert any("(a, b)" in w for w in rb.warnings), rb.warnings


def test_unbalanced_braces_are_repaired(tmp_path: Path) -> None:
    tex = (r"\documentclass{article}\title{Broken {Braces}\begin{document}\section{One} text } more"
           r" \textbf{never closed \section{Two} still here\end{document}")
    res = read(write(tmp_path, "broken.tex", tex))
    chunks = " ".join(n.properties["text"] for n in res.nodes if n.label == Label.CHUNK)
    assert "text more" in chunks and "still here" in chunks
    assert any("unbalanced brace" in w for w in res.warnings), res.warnings
    assert balance("a } b {c") == ("a  b {c}", 2)
    assert braced("{never closed", 0) is None


def test_deep_nesting_and_huge_files_are_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    deep = r"\documentclass{article}\title{Deep}\begin{document}" + "{" * 20_000 + "core" + "}" * 20_000 + r"\end{document}"
    res = read(write(tmp_path, "deep.tex", deep))
    assert "core" in " ".join(n.properties["text"] for n in res.nodes if n.label == Label.CHUNK)
    import ingest.readers.latex as latex

    monkeypatch.setattr(latex, "MAX_CHARS", 50_000)
    big = r"\documentclass{article}\title{Big}\begin{document}" + (r"Word \emph{word}. " * 20 + "\n\n") * 2000
    t0 = time.perf_counter()
    res = read(write(tmp_path, "big.tex", big))
    assert time.perf_counter() - t0 < 10
    assert any("cut at 50000" in w for w in res.warnings) and full_papers(res)


@pytest.mark.parametrize("data, message", [
    (b"", "no text content"),
    (b"% only a comment\n", "no text content"),
    (b"\\section{x}\x00\x00\x00", "binary"),
])
def test_unreadable_sources_raise_one_line(tmp_path: Path, data: bytes, message: str) -> None:
    with pytest.raises(ReaderError, match=message):
        read(write(tmp_path, "x.tex", data))


def test_legacy_encoding(tmp_path: Path) -> None:
    tex = "\\documentclass{article}\\title{Caf\u00e9 f\u00fcr alle}\\begin{document}Stra\u00dfe\\end{document}"
    res = read(write(tmp_path, "latin.tex", tex.encode("cp1252")))
    assert full_papers(res)[0].properties["title"] == "Café für alle"
    assert any("not UTF-8" in w for w in res.warnings)


def test_helpers_and_sniff(tmp_path: Path) -> None:
    assert cited_keys(r"\cite{a,b}\citep[p.~1]{c}\citet*{a}\parencite{d}\nocite{*}") == ["a", "b", "c", "d"]
    assert authors_of(r"\author{Ann Lee, Bo Chen and Cy Dee}") == ["Ann Lee", "Bo Chen", "Cy Dee"]
    assert to_text(r"A~\cite{x}. \texttt{y} \href{u}{z}") == "A. y z"
    for name in ("paper.tex", "paper.LTX"):
        path = write(tmp_path, name, "x")
        assert getattr(select_reader(FileInfo(path, b"x"[:HEAD_BYTES])), "name", None) == "latex"
