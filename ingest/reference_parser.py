"""Bibliography entries as plain text -> :class:`~ingest.records.PaperRef` (title, year, DOI,
arXiv id), for every reader that meets references as strings (PDF reference lists, LaTeX
``thebibliography``, free-text citation fields)."""

from __future__ import annotations

import re
import time

from ingest.records import PaperRef

DOI = re.compile(r"\b(10\.\d{4,9}/[^\s\"<>]+)")
"""A DOI anywhere in a string (trailing punctuation is stripped by the caller)."""
YEAR = re.compile(r"\b((?:19|20)\d{2})\b")
"""A plausible publication year."""
_ARXIV = re.compile(r"(?:arXiv(?:\s+preprint)?\s*:?\s*(?:arXiv:)?\s*|arxiv\.org/(?:abs|pdf)/|"
                    r"\bCoRR\s*,?\s*(?:vol\.\s*)?abs/)(\d{4}\.\d{4,5})", re.I)
_AUTHOR_YEAR = re.compile(r"^(?P<authors>[^\d]{3,600}?)[.,]?\s*\(?(?P<year>(?:19|20)\d{2})[a-z]?\)?[.,:]\s+(?P<rest>.+)$")
_AUTHOR_COLON = re.compile(r"^(?P<authors>[^\d:]{3,400}?):\s+(?P<rest>.+)$")
_QUOTED = re.compile(r"[“\"](?P<title>[^”\"]{8,300}?)[,.]?[”\"]")
# a title ends at a full stop, or at "?"/"!" unless a lower-case subtitle follows ("summary! topic-aware ...")
_SENTENCE = re.compile(r"^(?P<title>.{8,300}?(?:(?<![\s.(][A-Z])(?<!\bvs)(?<!\bal)\.|[?!](?!\s+[a-z])))(?=\s|$)")


def parse_reference(entry: str) -> PaperRef | None:
    """One bibliography entry (lines joined) -> a :class:`PaperRef`, or None when unsure.

    >>> parse_reference("Diederik Kingma and Jimmy Ba. 2014. Adam: A method for stochastic "
    ...                 "optimization. In ICLR.").title
    'Adam: A method for stochastic optimization'
    """
    ids = re.sub(r"(?<=[/\-.])\s+", "", entry)
    doi = m.group(1).rstrip(".,;)") if (m := DOI.search(ids)) else None
    arxiv = m.group(1) if (m := _ARXIV.search(ids)) else None
    text = re.sub(r"^\s*(?:\[\d{1,4}\]|\d{1,4}\.)\s*", "", entry)
    title: str | None = None
    year: int | None = None
    if q := _QUOTED.search(text):
        title = q.group("title")
    elif (m := _AUTHOR_YEAR.match(text)) or (m := _AUTHOR_COLON.match(text)):
        if len(m.group("authors").split()) <= 120 and (t := _SENTENCE.match(m.group("rest"))):
            title = t.group("title").rstrip(".")
        if "year" in m.groupdict():
            year = int(m.group("year"))
    if title and (len(title.split()) < 2 or re.match(r"(In |Proceedings|Journal|arXiv|pp\.|[Vv]ol\.)", title)):
        title = None
    if year is None and (ys := YEAR.findall(text)):
        year = int(ys[-1])
    if year is not None and not 1900 <= year <= time.gmtime().tm_year + 1:
        year = None
    if not (title or doi or arxiv):
        return None
    return PaperRef(title=title.strip(" ,") if title else None, year=year, doi=doi, arxiv_id=arxiv)


