"""BEIR corpora (``corpus.jsonl``) -> one Paper node per document.

A BEIR corpus line is ``{"_id": "4983", "title": "...", "text": "...", "metadata": {...}}``.
Each record becomes a Paper with ``ids={"beir": "<dataset>:<_id>"}`` (so its id is
``paper:beir:<dataset>:<_id>`` and it never merges with other papers by title), ``abstract`` =
``text``, and ``beir_id`` / ``dataset`` properties that evaluation maps qrels through. The
dataset is the corpus file's folder name (``scifact/corpus.jsonl`` -> ``scifact``); a corpus file
with another name uses its stem (``beir/nfcorpus.jsonl`` -> ``nfcorpus``).

``metadata`` in S2ORC style is used when present: ``authors`` (names, ``"Last, First"``
names, or ``{first, middle, last, suffix}`` / ``{name}`` dicts), ``year``, ``venue``,
``keywords`` (-> categories with scheme ``keyword``) and ``outbound_citations`` /
``inbound_citations`` as corpus ``_id`` s (-> CITES edges between corpus papers). Other metadata
(SciFact's ``structured``, Cranfield's ``bib``) is ignored.

A BEIR folder's ``queries.jsonl`` has the same shape as a corpus; next to a ``corpus.jsonl`` it
is not ingested (an empty result with a warning). Qrels (``.tsv``) are left to no reader.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ingest.readers.base import FileInfo, register_reader
from ingest.readers.paper_metadata import head_records, parse_json_records
from ingest.records import AuthorRef, PaperRecord, PaperRef, paper_records
from kg.errors import ReaderError
from kg.model import ReadResult

SUFFIXES = (".jsonl", ".ndjson")
QUERIES_WARNING = "skipped BEIR queries file"


def dataset_name(path: Path) -> str:
    """The BEIR dataset a corpus file belongs to: its folder for ``corpus.*``, else its stem."""
    return path.parent.name if path.stem.lower() == "corpus" and path.parent.name else path.stem


def display_name(name: str) -> str:
    """``"brenckman,m."`` -> ``"m. brenckman"``; other names only have their spacing tidied."""
    name = " ".join(name.split())
    if name.count(",") == 1:
        last, first = (s.strip() for s in name.split(","))
        if last and first:
            return f"{first} {last}"
    return name


def _author(a: Any) -> AuthorRef | None:
    if isinstance(a, dict):
        if a.get("name"):
            return AuthorRef(display_name(str(a["name"])))
        parts = [a.get("first"), *(a.get("middle") or []), a.get("last"), a.get("suffix")]
        name = " ".join(str(p) for p in parts if p)
        return AuthorRef(" ".join(name.split())) if name.strip() else None
    if isinstance(a, str) and a.strip():
        return AuthorRef(display_name(a))
    return None


def _list(v: Any) -> list[Any]:
    if v is None or v == "":
        return []
    if isinstance(v, str):
        return [s for s in (x.strip() for x in v.split(";")) if s]
    return list(v) if isinstance(v, (list, tuple)) else [v]


def _year(v: Any) -> int | None:
    try:
        return int(str(v).strip()[:4]) if v not in (None, "") else None
    except ValueError:
        return None


def corpus_record(rec: dict[str, Any], dataset: str) -> PaperRecord:
    """One BEIR corpus record as a :class:`PaperRecord` (``rec`` must have an ``_id``)."""
    bid = str(rec["_id"]).strip()
    meta = rec.get("metadata")
    meta = meta if isinstance(meta, dict) else {}
    title = rec.get("title")
    venue = meta.get("venue")

    def ref(cited: Any) -> PaperRef:
        return PaperRef(ids={"beir": f"{dataset}:{str(cited).strip()}"})

    return PaperRecord(
        title=" ".join(title.split()) if isinstance(title, str) else None,
        abstract=rec.get("text") if isinstance(rec.get("text"), str) else None,
        year=_year(meta.get("year")),
        authors=[a for a in map(_author, _list(meta.get("authors"))) if a is not None],
        ids={"beir": f"{dataset}:{bid}"},
        venue=venue if isinstance(venue, str) else None,
        categories=[("keyword", str(k)) for k in _list(meta.get("keywords"))],
        citations=[ref(c) for c in _list(meta.get("outbound_citations")) if str(c).strip() != bid],
        cited_by=[ref(c) for c in _list(meta.get("inbound_citations")) if str(c).strip() != bid],
        extra={"beir_id": bid, "dataset": dataset},
    )


class BeirCorpusReader:
    """BEIR ``corpus.jsonl`` files (records with ``_id`` and ``text``)."""

    name = "beir-corpus"
    priority = 30

    def sniff(self, info: FileInfo) -> bool:
        """A JSON Lines file whose first parsable record has ``_id`` and ``text``."""
        if info.path.suffix.lower() not in SUFFIXES:
            return False
        for rec in head_records(info):
            return isinstance(rec, dict) and "_id" in rec and "text" in rec
        return False

    def read(self, path: Path, data: bytes) -> ReadResult:
        """One Paper per corpus record; a BEIR ``queries.jsonl`` gives an empty result."""
        if path.name.lower() == "queries.jsonl" and (path.parent / "corpus.jsonl").is_file():
            return ReadResult(warnings=[QUERIES_WARNING])
        dataset = dataset_name(path)
        records, errors = parse_json_records(data, path)
        out = ReadResult(errors=errors)
        good = 0
        for where, rec in records:
            if not isinstance(rec, dict):
                out.errors.append(f"{where}: not a JSON object")
                continue
            if rec.get("_id") in (None, ""):
                out.errors.append(f"{where}: record has no _id")
                continue
            try:
                out.extend(paper_records(corpus_record(rec, dataset))[1])
                good += 1
            except (TypeError, ValueError, AttributeError) as e:
                out.errors.append(f"{where}: malformed BEIR record ({type(e).__name__}: {e})")
        if not good:
            raise ReaderError(f"no BEIR corpus records found; {out.errors[0] if out.errors else 'empty file'}")
        return out


register_reader(BeirCorpusReader())
