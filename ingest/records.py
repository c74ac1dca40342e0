"""Builders that turn parsed metadata into graph records, shared by every reader.

Readers parse; these functions decide ids, labels and edges, so a paper looks the same whether
it came from a PDF, a BibTeX entry, an S2ORC record or a daily-papers listing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kg.errors import InvalidRecordError
from kg.ids import (
    author_id,
    loose_title_key,
    normalize_arxiv,
    normalize_doi,
    paper_id_from_keys,
    repo_id,
    short_hash,
    slug,
    title_key,
)
from kg.model import EdgeRecord, Label, NodeRecord, ReadResult, Rel


@dataclass
class AuthorRef:
    """An author as a source names them; ``external_id`` (with ``scheme``) wins over the name."""

    name: str
    external_id: str | None = None
    scheme: str = "s2"
    affiliation: str | None = None


@dataclass
class PaperRef:
    """A reference to a paper (a citation target) by any ids the source gives."""

    title: str | None = None
    year: int | None = None
    doi: str | None = None
    arxiv_id: str | None = None
    s2_id: str | None = None
    ids: dict[str, str] = field(default_factory=dict)  # other schemes: pubmed, mag, beir, ...


@dataclass
class PaperRecord:
    """A paper with whatever metadata one source gives.

    ``ids`` holds extra schemes (``pubmed``, ``pmc``, ``acl``, ``mag``, ``openalex``, ``beir``,
    ``bib``); ``extra`` holds any other properties to store on the node.
    """

    title: str | None = None
    abstract: str | None = None
    year: int | None = None
    date: str | None = None
    authors: list[AuthorRef] = field(default_factory=list)
    doi: str | None = None
    arxiv_id: str | None = None
    s2_id: str | None = None
    ids: dict[str, str] = field(default_factory=dict)
    venue: str | None = None
    categories: list[tuple[str, str]] = field(default_factory=list)  # (scheme, name)
    citations: list[PaperRef] = field(default_factory=list)
    cited_by: list[PaperRef] = field(default_factory=list)
    repositories: list[str] = field(default_factory=list)
    organizations: list[str] = field(default_factory=list)
    text: str | None = None  # full text, if any (chunked by the caller)
    url: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def paper_keys(
    *, title: str | None, year: int | None, doi: str | None, arxiv_id: str | None,
    s2_id: str | None, ids: dict[str, str] | None = None,
) -> tuple[str, ...]:
    """All identity keys a paper's metadata yields, best first.

    A distinctive title gives two keys: ``title:<hash>:<year>`` and the year-free
    :func:`~kg.ids.loose_title_key`, which links a citation to the cited paper when the years
    are missing or one apart (see :func:`kg.store.merge.compatible`).
    """
    keys: list[str] = []
    if doi and (d := normalize_doi(doi)):
        keys.append(f"doi:{d}")
    if arxiv_id and (a := normalize_arxiv(arxiv_id)):
        keys.append(f"arxiv:{a}")
    if s2_id:
        keys.append(f"s2:{str(s2_id).strip()}")
    for scheme, value in (ids or {}).items():
        if value not in (None, ""):
            keys.append(f"{scheme}:{str(value).strip()}")
    if title and title.strip() and "beir" not in (ids or {}):
        keys.append(title_key(title, year))
        if loose := loose_title_key(title):  # a citation without the year, or with the preprint's
            keys.append(loose)
    return tuple(keys)


def _clean(props: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in props.items() if v is not None and v != "" and not (isinstance(v, list | dict) and not v)}


def paper_ref_node(ref: PaperRef) -> NodeRecord | None:
    """A stub Paper node for a citation target; None when the reference has no usable id."""
    keys = paper_keys(title=ref.title, year=ref.year, doi=ref.doi, arxiv_id=ref.arxiv_id,
                      s2_id=ref.s2_id, ids=ref.ids)
    if not keys:
        return None
    props: dict[str, Any] = {}
    if ref.title:
        props["title"] = ref.title
    if ref.year:
        props["year"] = ref.year
    if ref.doi and (d := normalize_doi(ref.doi)):
        props["doi"] = d
    if ref.arxiv_id and (a := normalize_arxiv(ref.arxiv_id)):
        props["arxiv_id"] = a
    if ref.s2_id:
        props["s2_id"] = ref.s2_id
    return NodeRecord(paper_id_from_keys(keys), Label.PAPER, props, stub=True, keys=keys)


def paper_records(p: PaperRecord, *, stub: bool = False) -> tuple[str, ReadResult]:
    """Records for one paper: the Paper node, its authors, venue, categories, citations, code.

    Returns the paper's id and the records. Raises :class:`~kg.errors.InvalidRecordError` (a ``ValueError``) when the paper has neither a
    title nor any identifier.
    """
    keys = paper_keys(title=p.title, year=p.year, doi=p.doi, arxiv_id=p.arxiv_id, s2_id=p.s2_id, ids=p.ids)
    if not keys:
        raise InvalidRecordError("paper has no title and no identifier")
    pid = paper_id_from_keys(keys)
    out = ReadResult()
    props = _clean({
        "title": p.title.strip() if p.title else None,
        "abstract": p.abstract.strip() if p.abstract else None,
        "year": p.year,
        "date": p.date,
        "doi": normalize_doi(p.doi) if p.doi else None,
        "arxiv_id": normalize_arxiv(p.arxiv_id) if p.arxiv_id else None,
        "s2_id": p.s2_id,
        "venue": p.venue,
        "url": p.url,
        "n_authors": len(p.authors) or None,
        **{f"{k}_id": v for k, v in p.ids.items()},
        **p.extra,
    })
    out.nodes.append(NodeRecord(pid, Label.PAPER, props, stub=stub, keys=keys))
    for pos, a in enumerate(p.authors):
        if not a.name or not a.name.strip():
            continue
        aid = author_id(a.name, a.external_id, a.scheme)
        out.nodes.append(NodeRecord(aid, Label.AUTHOR, _clean({"name": " ".join(a.name.split())})))
        out.edges.append(EdgeRecord(aid, pid, Rel.AUTHORED, {"position": pos}))
        if a.affiliation:
            oid = "org:" + slug(a.affiliation)
            out.nodes.append(NodeRecord(oid, Label.ORGANIZATION, {"name": a.affiliation.strip()}))
            out.edges.append(EdgeRecord(aid, oid, Rel.AFFILIATED_WITH))
    if p.venue and p.venue.strip():
        vid = "venue:" + slug(p.venue)
        out.nodes.append(NodeRecord(vid, Label.VENUE, {"name": p.venue.strip()}))
        out.edges.append(EdgeRecord(pid, vid, Rel.PUBLISHED_IN))
    for scheme, name in p.categories:
        if name and str(name).strip():
            cid = f"category:{scheme}:{slug(str(name))}"
            out.nodes.append(NodeRecord(cid, Label.CATEGORY, {"name": str(name).strip(), "scheme": scheme}))
            out.edges.append(EdgeRecord(pid, cid, Rel.IN_CATEGORY))
    for org in p.organizations:
        if org and org.strip():
            oid = "org:" + slug(org)
            out.nodes.append(NodeRecord(oid, Label.ORGANIZATION, {"name": org.strip()}))
            out.edges.append(EdgeRecord(pid, oid, Rel.AFFILIATED_WITH))
    for url in p.repositories:
        rid = repo_id(url)
        if rid:
            out.nodes.append(NodeRecord(rid, Label.REPOSITORY, {"url": "https://" + rid[5:], "name": rid[5:]}))
            out.edges.append(EdgeRecord(pid, rid, Rel.HAS_CODE))
    for ref in p.citations:
        node = paper_ref_node(ref)
        if node and node.id != pid:
            out.nodes.append(node)
            out.edges.append(EdgeRecord(pid, node.id, Rel.CITES))
    for ref in p.cited_by:
        node = paper_ref_node(ref)
        if node and node.id != pid:
            out.nodes.append(node)
            out.edges.append(EdgeRecord(node.id, pid, Rel.CITES))
    return pid, out


def chunk_records(parent_id: str, source_path: str, chunks: list[str]) -> ReadResult:
    """Chunk nodes for a parent (Paper or Document) with HAS_CHUNK edges carrying the index."""
    out = ReadResult()
    base = short_hash(source_path, 12)
    for i, text in enumerate(chunks):
        cid = f"chunk:{base}:{i}"
        out.nodes.append(NodeRecord(cid, Label.CHUNK, {"text": text, "index": i, "parent": parent_id}))
        out.edges.append(EdgeRecord(parent_id, cid, Rel.HAS_CHUNK, {"index": i}))
    return out


def document_id(source_path: str) -> str:
    """Id of the Document node for a file."""
    return "doc:" + short_hash(source_path, 16)
