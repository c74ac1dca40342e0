"""BibTeX / BibLaTeX files (``.bib``) -> one Paper node per entry, parsed with bibtexparser v2.

Per entry: ``title`` (LaTeX accents and macros decoded, protective braces dropped), ``author``
split on ``and`` (``"Last, First"``, ``von`` parts and ``{Corporate Names}`` handled by
bibtexparser's name parser; display names are ``"First von Last Jr"``; ``others`` dropped),
``year`` (or the year of ``date``), ``doi`` (or a ``doi.org`` URL), the arXiv id from
``eprint`` (when the archive is arXiv or unnamed), an ``arxiv`` field, an ``arxiv.org`` URL or
a Google-Scholar style ``journal = {arXiv preprint arXiv:...}``, venue from ``journal`` /
``journaltitle`` / ``booktitle``, ``url``, ``abstract``, ``pmid`` and ``keywords`` (split on
``,`` / ``;``, categories with scheme ``keyword``). The citation key and entry type go to the
``bibkey`` / ``bibtype`` properties, never into the identity keys, so a BibTeX entry merges
with other sources by DOI, arXiv id or title + year.

An entry that cannot be parsed, has duplicate fields, or has neither a title nor an identifier
is a ``"line N: ..."`` error; the other entries are kept. An entry whose citation key repeats an
earlier one is kept (with a warning): keys only need to be unique inside one document.

The text is parsed a slice at a time (:mod:`ingest.readers.bibtex_slices`: the same blocks as one
parse of the whole file, without holding bibtexparser's whole library) and at most :data:`MAX_ENTRIES` entries are read per file; the rest is not parsed,
and a warning says where reading stopped.
"""

from __future__ import annotations

import functools
import logging
import re
from pathlib import Path
from typing import Any

from ingest.readers.base import SuffixReader, decode_text, register_reader
from ingest.readers.bibtex_slices import iter_blocks
from ingest.records import AuthorRef, PaperRecord, paper_records
from kg.errors import ReaderError
from kg.ids import normalize_arxiv, normalize_doi
from kg.model import ReadResult

SUFFIXES = (".bib", ".bibtex")
_ARXIV_VENUE = re.compile(r"^\s*arxiv(?:\s+preprint)?\b[\s:]*(?:arxiv:)?\s*(\S+)?", re.IGNORECASE)
_KEYWORD_SPLIT = re.compile(r"\s*[;,]\s*")
_LATEX_SPECIAL = re.compile(r"\\[{}%&$#_ ]")
MAX_ENTRIES = 200_000
"""Entries read per file (failed ones included); the rest is not parsed, with a warning."""


@functools.lru_cache(maxsize=1)
def _decoder() -> Any:
    from pylatexenc.latex2text import LatexNodes2Text, MacroTextSpec, get_default_latex_context_db

    db = get_default_latex_context_db()
    db.add_context_category("kgloom-bib", prepend=True, macros=[
        MacroTextSpec("url", simplify_repl="%s"), MacroTextSpec("LaTeX", simplify_repl="LaTeX"),
        MacroTextSpec("TeX", simplify_repl="TeX")])
    return LatexNodes2Text(latex_context=db, math_mode="verbatim", keep_braced_groups=False)


def latex_to_text(value: str) -> str:
    r"""BibTeX field text as plain Unicode on one line.

    >>> latex_to_text(r"The {BERT} Model: {\"U}ber Caf\'e")
    'The BERT Model: Über Café'
    """
    if "\\" in value:
        try:
            value = _decoder().latex_to_text(value)
        except Exception:  # pylatexenc is lenient; never lose a field over a macro it rejects
            value = _LATEX_SPECIAL.sub(lambda m: m.group(0)[1], value)
    value = value.replace("{", "").replace("}", "").replace("~", " ")
    return " ".join(value.split())


def person_name(raw: str) -> str | None:
    r"""One BibTeX name as ``"First von Last Jr"`` plain text; None for ``others`` or blanks.

    >>> person_name(r'M{\"u}ller, J{\"o}rg')
    'Jörg Müller'
    """
    from bibtexparser.middlewares.names import parse_single_name_into_parts

    raw = " ".join(raw.split())
    if not raw or raw.lower() in ("others", "and"):
        return None
    try:
        name = parse_single_name_into_parts(raw, strict=False).merge_first_name_first
    except Exception:  # a name the parser cannot split: keep it as written
        name = raw
    return latex_to_text(name) or None


def _field(fields: dict[str, Any], *names: str) -> str | None:
    for n in names:
        v = fields.get(n)
        if isinstance(v, str) and v.strip():
            return v.strip()
    return None


def _arxiv_id(fields: dict[str, Any], venue: str | None) -> str | None:
    eprint = _field(fields, "eprint")
    archive = (_field(fields, "archiveprefix", "eprinttype") or "arxiv").lower()
    candidates = [eprint if archive == "arxiv" else None, _field(fields, "arxiv", "arxivid")]
    if venue and (m := _ARXIV_VENUE.match(venue)) and m.group(1):
        candidates.append(m.group(1))
    url = _field(fields, "url") or ""
    if "arxiv.org/abs/" in url:
        candidates.append(url)
    return next((c for c in candidates if c and normalize_arxiv(c)), None)


def entry_record(key: str, entry_type: str, fields: dict[str, Any]) -> PaperRecord:
    """One BibTeX entry (fields with lower-case names, ``author`` as a list) as a PaperRecord."""
    authors_raw = fields.get("author") or []
    if isinstance(authors_raw, str):  # not split by the middleware
        from bibtexparser.middlewares.names import split_multiple_persons_names

        authors_raw = split_multiple_persons_names(authors_raw)
    names = [n for n in (person_name(a) for a in authors_raw if isinstance(a, str)) if n]
    date = _field(fields, "date")
    year_s = _field(fields, "year") or date or ""
    year = int(m.group(0)) if (m := re.search(r"\d{4}", year_s)) else None
    raw_venue = _field(fields, "journal", "journaltitle", "booktitle")
    venue = latex_to_text(raw_venue) if raw_venue else None
    arxiv_id = _arxiv_id(fields, venue)
    if venue and _ARXIV_VENUE.match(venue):
        venue = "arXiv"
    url = _field(fields, "url")
    doi = _field(fields, "doi") or (url if url and normalize_doi(url) else None)
    keywords = _KEYWORD_SPLIT.split(latex_to_text(_field(fields, "keywords") or ""))
    title = _field(fields, "title")
    abstract = _field(fields, "abstract")
    pmid = _field(fields, "pmid")
    return PaperRecord(
        title=latex_to_text(title) if title else None,
        abstract=latex_to_text(abstract) if abstract else None,
        year=year, date=date, authors=[AuthorRef(n) for n in names], doi=doi, arxiv_id=arxiv_id,
        ids={"pubmed": pmid} if pmid else {}, venue=venue or None,
        categories=[("keyword", k) for k in dict.fromkeys(keywords) if k],
        url=url, extra={"bibkey": key, "bibtype": entry_type.lower()})


def _reason(block: Any) -> str:
    if dup := getattr(block, "duplicate_keys", None):
        return "duplicate field " + ", ".join(repr(k) for k in sorted(dup))
    err = getattr(block, "error", None)
    msg = getattr(err, "abort_reason", None) or str(err or "") or type(err).__name__
    return " ".join(str(msg).split())[:200]


class BibtexReader(SuffixReader):
    """``.bib`` files: every entry (``@article``, ``@inproceedings``, ``@misc``, ...) is a Paper."""

    name = "bibtex"
    suffixes = SUFFIXES
    priority = 10

    def read(self, path: Path, data: bytes) -> ReadResult:
        """One Paper per entry; see the module docstring."""
        bibtexparser, model = _import_bibtexparser()
        out = ReadResult()
        try:
            text = decode_text(data, path)
        except ReaderError as e:
            if "UTF-8" not in str(e):
                raise
            text = data.decode("latin-1").replace("\r\n", "\n").replace("\r", "\n")
            out.warnings.append(f"{e}; read as Latin-1")
        from bibtexparser.middlewares import NormalizeFieldKeys, SeparateCoAuthors

        def parse(text: str) -> Any:
            return bibtexparser.parse_string(text, append_middleware=[NormalizeFieldKeys(), SeparateCoAuthors()])

        errors: list[tuple[int, str]] = []
        good = n_entries = 0

        def add(line: int, entry: Any) -> None:
            nonlocal good
            fields = {f.key.lower(): f.value for f in entry.fields}
            try:
                out.extend(paper_records(entry_record(entry.key, entry.entry_type, fields))[1])
                good += 1
            except ValueError:
                errors.append((line, f"line {line}: entry {entry.key!r} has no title and no identifier"))
            except (TypeError, AttributeError) as e:
                errors.append((line, f"line {line}: malformed entry {entry.key!r} ({type(e).__name__}: {e})"))

        for line, block in iter_blocks(text, [NormalizeFieldKeys(), SeparateCoAuthors()]):
            if not isinstance(block, model.Entry | model.ParsingFailedBlock):
                continue  # comments, @string, @preamble
            if isinstance(block, model.DuplicateBlockKeyBlock) and not isinstance(block.ignore_error_block, model.Entry):
                out.warnings.append(f"line {line}: duplicate @string {block.key!r} (the first one is used)")
                continue
            n_entries += 1
            if n_entries > MAX_ENTRIES:
                out.warnings.append(f"stopped at line {line}: over the limit of {MAX_ENTRIES:,} entries per file; "
                                    "the rest was not read")
                break
            if isinstance(block, model.Entry):
                add(line, block)
            elif isinstance(block, model.DuplicateBlockKeyBlock):
                # parsed alone (without the file's @string macros) so that it can be kept
                for alone in parse(block.raw or "").entries:
                    add(line, alone)
                out.warnings.append(f"line {line}: duplicate entry key {block.key!r} (entry kept)")
            elif isinstance(block, model.MiddlewareErrorBlock) and isinstance(block.ignore_error_block, model.Entry):
                add(line, block.ignore_error_block)  # fields as far as processed
                out.warnings.append(f"line {line}: {_reason(block)} (entry kept)")
            else:
                errors.append((line, f"line {line}: invalid BibTeX entry ({_reason(block)})"))
        out.errors = [msg for _, msg in sorted(errors, key=lambda e: e[0])]
        if not good:
            raise ReaderError(out.errors[0] if out.errors else "no BibTeX entries found")
        return out


@functools.lru_cache(maxsize=1)
def _import_bibtexparser() -> tuple[Any, Any]:
    """bibtexparser v2 and its model module, or a :class:`ReaderError` naming the requirement."""
    try:
        import bibtexparser
        import bibtexparser.model as model
    except ImportError:
        raise ReaderError("the bibtex reader needs bibtexparser>=2.0.0b7 (pip install 'bibtexparser>=2.0.0b7')") from None
    if not hasattr(bibtexparser, "parse_string"):
        raise ReaderError(f"the bibtex reader needs bibtexparser>=2.0.0b7, found {getattr(bibtexparser, '__version__', '1.x')}")
    logging.getLogger("bibtexparser").addHandler(logging.NullHandler())
    return bibtexparser, model


register_reader(BibtexReader())
