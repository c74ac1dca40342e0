"""Stable node ids and the normalisation behind them.

Papers: ``paper:`` + the best identity key, DOI > arXiv id > S2 id > other external ids >
normalised-title hash. Authors: by external id when present (``author:s2:...``,
``author:orcid:...``), else by normalised name (``author:name:jane-doe``). Name merging is
deliberately conservative: only names that are equal after lower-casing, accent folding,
punctuation removal and "Last, First" reordering are merged; initials are never expanded, so
"J. Doe" and "Jane Doe" stay two authors.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Sequence
from functools import lru_cache

_WS = re.compile(r"\s+")
_NON_WORD = re.compile(r"[^\w\s]", re.UNICODE)
_ARXIV_NEW = re.compile(r"(\d{4}\.\d{4,5})(v\d+)?$")
_ARXIV_OLD = re.compile(r"([a-z\-]+(?:\.[A-Z]{2})?/\d{7})(v\d+)?$", re.IGNORECASE)

_LATEX_CMD = re.compile(r"\\[a-zA-Z]+\*?")

# Lower rank wins when choosing a paper's id among its keys.
KEY_RANK = {"doi": 0, "arxiv": 1, "s2": 2, "pubmed": 3, "pmc": 3, "acl": 3, "mag": 4, "openalex": 4,
            "beir": 5, "bib": 6, "title": 9, "ntitle": 10}

LOOSE_TITLE_MIN_WORDS = 4
"""A title needs this many words (after folding) to get a year-free :func:`loose_title_key`."""
LOOSE_TITLE_MIN_CHARS = 24
"""... and this many letters and digits: short or generic titles ("Introduction") match only with
their exact year."""


@lru_cache(maxsize=65536)
def fold(text: str) -> str:
    """Lower-case, strip accents and punctuation, collapse whitespace."""
    if not text.isascii():
        text = unicodedata.normalize("NFKD", text)
        text = "".join(c for c in text if not unicodedata.combining(c))
    return " ".join(_NON_WORD.sub(" ", text.lower()).split())


@lru_cache(maxsize=65536)
def slug(text: str, max_len: int = 80) -> str:
    """A readable, id-safe slug: ``"Jane O'Doe"`` -> ``"jane-o-doe"``."""
    s = fold(text).replace("_", " ")
    return "-".join(s.split())[:max_len] or short_hash(text)


def short_hash(text: str, n: int = 16) -> str:
    """First ``n`` hex digits of SHA-1 (stable across runs and machines)."""
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:n]


def normalize_title(title: str) -> str:
    """Title folded for matching: case, accents, punctuation and spacing ignored."""
    return fold(title)


def normalize_doi(doi: str) -> str | None:
    """``https://doi.org/10.1/ABC`` -> ``10.1/abc``; None when it is not a DOI."""
    d = doi.strip().lower()
    for prefix in ("https://doi.org/", "http://doi.org/", "https://dx.doi.org/", "http://dx.doi.org/", "doi:"):
        if d.startswith(prefix):
            d = d[len(prefix):]
    return d if d.startswith("10.") and "/" in d else None


def normalize_arxiv(arxiv_id: str) -> str | None:
    """``arXiv:2301.00001v2`` -> ``2301.00001``; old-style ids keep their archive."""
    a = arxiv_id.strip()
    for prefix in ("https://arxiv.org/abs/", "http://arxiv.org/abs/", "arxiv:", "arXiv:"):
        if a.lower().startswith(prefix.lower()):
            a = a[len(prefix):]
    m = _ARXIV_NEW.search(a) or _ARXIV_OLD.search(a)
    return m.group(1) if m else None


def title_key(title: str, year: int | str | None) -> str:
    """Identity key from normalised title and year (year may be empty)."""
    y = str(year) if year not in (None, "") else ""
    return f"title:{short_hash(normalize_title(title))}:{y}"


def loose_title_key(title: str) -> str | None:
    """Year-free key of a distinctive title, for matching a citation to the cited paper.

    Case, accents, punctuation, LaTeX commands and all spacing are ignored, so ``"Sci-BERT:
    a pretrained model"``, ``"SciBERT: A Pretrained Model"`` and ``"{S}ci{BERT}: a pre\\-trained
    model"`` share one key. None for titles under :data:`LOOSE_TITLE_MIN_WORDS` words or
    :data:`LOOSE_TITLE_MIN_CHARS` letters. The year is left out on purpose (a reference may lack
    it, or give the preprint's year): :func:`kg.store.merge.compatible` keeps papers whose
    ``title:`` keys carry years more than one apart from merging.

    >>> loose_title_key("Sci-BERT: A pretrained language model") == loose_title_key("SciBERT: a pre-trained Language Model")
    True
    >>> loose_title_key("Introduction") is None
    True
    """
    words = fold(_LATEX_CMD.sub(" ", title) if "\\" in title else title).split()  # fold: cached for title_key
    if len(words) < LOOSE_TITLE_MIN_WORDS:
        return None
    squeezed = "".join(words)
    if not squeezed.isascii():  # modifier letters PDFs give for accents and carets ("MSˆ2")
        squeezed = "".join(c for c in squeezed if unicodedata.category(c) != "Lm")
    if "_" in squeezed:
        squeezed = squeezed.replace("_", "")
    if len(squeezed) < LOOSE_TITLE_MIN_CHARS:
        return None
    return "ntitle:" + short_hash(squeezed)


def title_key_year(key: str) -> int | None:
    """The year of a ``title:<hash>:<year>`` key; None for other keys or a title key without one."""
    if key.startswith("title:") and (y := key.rsplit(":", 1)[1]).isdigit():
        return int(y)
    return None


def paper_id_from_keys(keys: Sequence[str], *, keep_year: bool = False) -> str:
    """The paper id for a set of identity keys: ``paper:`` + the best-ranked key.

    A title key drops its year so a paper's id does not change when a source adds the year;
    ``keep_year`` keeps it (``paper:title:<hash>:<year>``), for a paper whose title id another
    paper holds already (:func:`kg.store.merge.separate_namesakes`).
    """
    best = keys[0] if len(keys) == 1 else min(keys, key=key_sort)
    if best.startswith("title:") and not keep_year:
        best = best.rsplit(":", 1)[0]
    return "paper:" + best


def key_sort(key: str) -> tuple[int, str]:
    """Sort order for identity keys: by scheme rank, then lexicographically."""
    return (KEY_RANK.get(key.split(":", 1)[0], 8), key)


def normalize_person_name(name: str) -> str:
    """``"Doe, Jane A."`` -> ``"jane a doe"``; accents, case and punctuation folded."""
    name = name.strip()
    if "," in name:
        last, _, first = name.partition(",")
        name = f"{first} {last}"
    return fold(name)


@lru_cache(maxsize=65536)
def author_id(name: str, external_id: str | None = None, scheme: str = "s2") -> str:
    """Author id: by external id when given, else by normalised name."""
    if external_id:
        return f"author:{scheme}:{external_id}"
    # slug() of the normalised name, without folding it a second time (fold is idempotent)
    folded = normalize_person_name(name)
    return "author:name:" + ("-".join(folded.replace("_", " ").split())[:80] or short_hash(folded))


def repo_id(url: str) -> str | None:
    """``https://github.com/Owner/Repo.git`` -> ``repo:github.com/owner/repo``."""
    m = re.search(r"(github\.com|gitlab\.com|huggingface\.co|bitbucket\.org)/([\w.\-]+)/([\w.\-]+)", url, re.I)
    if not m:
        return None
    host, owner, name = m.group(1).lower(), m.group(2).lower(), m.group(3).lower()
    name = name.removesuffix(".git").rstrip(".")
    return f"repo:{host}/{owner}/{name}"


def source_id(path: str) -> str:
    """A short stable id for a source path (used in chunk and document ids)."""
    return short_hash(path, 12)
