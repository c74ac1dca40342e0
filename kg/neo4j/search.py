"""Search inside Neo4j: the full-text index (BM25 leg) and the vector index (dense leg), behind the
same search backend contract as the embedded store's index (:class:`Neo4jSearch`; see
:mod:`retrieval.backends`), so :func:`retrieval.hybrid.search` fuses them the same way.

Rows map to results as in the embedded index: a chunk counts as its parent (``parent``), keeping
its best rank. Filters (:class:`kg.query.Filters`) are applied inside each leg before the top-k
cut: the full-text leg filters the index's ranked stream; a filtered dense leg scores the filtered
nodes exactly with ``vector.similarity.cosine`` (the vector index cannot filter), an unfiltered one
asks the index. User text reaches Lucene escaped and as a parameter, never as Cypher text. The
embeddings the vector index needs are kept in step by :mod:`kg.neo4j.embeddings`.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any, NamedTuple, cast

from kg.errors import ConfigError
from kg.ids import fold
from kg.model import Label, Rel, caption
from kg.neo4j.schema import FULLTEXT_INDEX, NODE, SOURCE, SUPPORTS, VECTOR_INDEX, decode_props
from kg.query import Filters, Ranking
from kg.searchtext import CATEGORY_EDGES

if TYPE_CHECKING:
    from kg.neo4j.store import Neo4jStore
    from kg.store.base import GraphStore

Row = tuple[str, str, float]  # a matched node, its result (a chunk's parent) and the leg's score
_SPECIAL = re.compile(r'([+\-&|!(){}\[\]^"~*?:\\/])')
_OPERATORS = re.compile(r"\b(AND|OR|NOT|TO)\b")

_TARGET = (f"WITH n, score, CASE WHEN n:{Label.CHUNK} AND n.parent IS NOT NULL THEN n.parent ELSE n.id END AS tid "
           f"OPTIONAL MATCH (t:{NODE} {{id: tid}}) WITH n, score, tid, t ")


def lucene_escape(text: str) -> str:
    """Make user text a plain Lucene query: special characters escaped, AND/OR/NOT/TO lower-cased.

    >>> lucene_escape('C++ AND title:"graphs"')
    'C\\\\+\\\\+ and title\\\\:\\\\"graphs\\\\"'
    """
    return _OPERATORS.sub(lambda m: m.group(0).lower(), _SPECIAL.sub(r"\\\1", text))


def _cached(store: Neo4jStore, key: str, build: Any) -> Any:
    version = store.version()
    got = store._caches.get(key)
    if got is None or got[0] != version:
        got = (version, build())
        store._caches[key] = got
    return got[1]


def _matching(store: Neo4jStore, kind: str, wanted: Any) -> list[str]:
    """Ids of authors (``kind='authors'``) or categories whose id is wanted or whose name matches."""
    def load() -> list[tuple[str, str]]:
        pat = f"(x:{NODE})-[:{Rel.AUTHORED}]->(:{NODE})" if kind == "authors" else \
            f"(:{NODE})-[:{'|'.join(CATEGORY_EDGES)}]->(x:{NODE})"
        rows = store._read(f"MATCH {pat} WITH DISTINCT x RETURN x.id AS id, x {{.*, embedding: null}} AS p")
        return [(r["id"], fold(caption(decode_props(r["p"]), r["id"]))) for r in rows]

    folded = [fold(w) for w in wanted]
    return sorted(key for key, name in _cached(store, "names_" + kind, load)
                  if key in wanted or any(w and (w in name or w == fold(key)) for w in folded))


def filter_clause(store: Neo4jStore, filters: Filters | None) -> tuple[str, dict[str, Any]]:
    """A Cypher predicate over ``n`` (the matched node), ``tid``/``t`` (its result) and its parameters."""
    if filters is None or filters.empty:
        return "true", {}
    conds: list[str] = []
    p: dict[str, Any] = {}
    if filters.labels:
        conds.append(f"coalesce([l IN labels(t) WHERE l <> '{NODE}'][0], [l IN labels(n) WHERE l <> '{NODE}'][0]) "
                     "IN $f_labels")
        p["f_labels"] = list(filters.labels)
    if filters.year:
        p["f_lo"], p["f_hi"] = filters.year
        conds.append("coalesce(toIntegerOrNull(t.year), 0) <> 0 AND ($f_lo IS NULL OR toIntegerOrNull(t.year) >= $f_lo)"
                     " AND ($f_hi IS NULL OR toIntegerOrNull(t.year) <= $f_hi)")
    if filters.authors:
        p["f_authors"] = _matching(store, "authors", filters.authors)
        conds.append(f"EXISTS {{ MATCH (a:{NODE})-[:{Rel.AUTHORED}]->(t) WHERE a.id IN $f_authors }}")
    if filters.categories:
        p["f_cats"] = _matching(store, "categories", filters.categories)
        conds.append(f"EXISTS {{ MATCH (t)-[:{'|'.join(CATEGORY_EDGES)}]->(c:{NODE}) WHERE c.id IN $f_cats }}")
    if filters.source:
        src = os.path.abspath(filters.source)
        p["f_src"], p["f_folder"] = src, src.rstrip("/") + "/"
        conds.append(f"EXISTS {{ MATCH (s:{SOURCE})-[:{SUPPORTS}]->(x:{NODE}) WHERE x.id IN [tid, n.id] "
                     "AND (s.path = $f_src OR s.path STARTS WITH $f_folder) }")
    return " AND ".join(f"({c})" for c in conds), p


def _bm25_rows(store: Neo4jStore, query: str, where: str, params: dict[str, Any], n: int) -> list[Row]:
    q = lucene_escape(query)
    if not re.search(r"\w", query):
        return []
    opts = {} if params else {"limit": n}  # unfiltered: let Lucene cut; filtered: filter its stream
    rows = store._read(f"CALL db.index.fulltext.queryNodes($index, $q, $opts) YIELD node AS n, score {_TARGET}"
                       f"WHERE {where} RETURN n.id AS id, tid, score ORDER BY score DESC, id LIMIT $rows",
                       "full-text search", index=FULLTEXT_INDEX, q=q, opts=opts, rows=n, **params)
    return [(r["id"], r["tid"], float(r["score"])) for r in rows]


def _dense_rows(store: Neo4jStore, vec: list[float], where: str, params: dict[str, Any], n: int) -> list[Row]:
    if params:  # exact scores over the filtered nodes
        rows = store._read(f"MATCH (n:{NODE}) WHERE n.embedding IS NOT NULL WITH n, 0.0 AS score {_TARGET}"
                           f"WHERE {where} WITH n, tid, vector.similarity.cosine(n.embedding, $vec) AS score "
                           "RETURN n.id AS id, tid, score ORDER BY score DESC, id LIMIT $rows",
                           "vector search", vec=vec, rows=n, **params)
    else:
        rows = store._read(f"CALL db.index.vector.queryNodes($index, $rows, $vec) YIELD node AS n, score {_TARGET}"
                           "RETURN n.id AS id, tid, score ORDER BY score DESC, id",
                           "vector search", index=VECTOR_INDEX, vec=vec, rows=n)
    # Neo4j reports cosine similarity as (1 + cos) / 2; give back the cosine like the embedded store
    return [(r["id"], r["tid"], 2.0 * float(r["score"]) - 1.0) for r in rows]


def _targets(store: Neo4jStore, where: str, params: dict[str, Any]) -> set[str]:
    rows = store._read(f"MATCH (n:{NODE}) WHERE n._th IS NOT NULL WITH n, 0.0 AS score {_TARGET}"
                       f"WHERE {where} RETURN DISTINCT tid", "listing searchable nodes", **params)
    return {r["tid"] for r in rows}


class Where(NamedTuple):
    """Filters as a Cypher predicate over ``n``, ``tid`` and ``t`` (see :func:`filter_clause`)."""

    clause: str
    params: dict[str, Any]


class Neo4jSearch:
    """The search backend of a Neo4j store (the contract: :class:`retrieval.backends.SearchBackend`).

    ``load_encoder`` (spec -> encoder) is handed to the store (:meth:`Neo4jStore.use_encoder
    <kg.neo4j.store.Neo4jStore.use_encoder>`), which embeds with it; rows per leg are fetched three
    times deeper than the results wanted, since chunk rows collapse into their parents.
    """

    no_embeddings = ("this store keeps no embeddings; open it with ?embed=true "
                     "(pip install 'kgloom[embeddings]') or use ?encoder=hash for tests")

    def __init__(self, store: GraphStore, load_encoder: Callable[[str], Any]) -> None:
        self.store = cast("Neo4jStore", store)  # a store whose search_engine is "neo4j"
        self.store.use_encoder(load_encoder)

    def index(self, *, sync: bool = False) -> None:
        """None: the indexes are inside the database."""
        return None

    def prepare(self, filters: Filters | None, *, dense: bool) -> Where:
        """Embed what changed (when the search has a dense leg) and translate ``filters`` to Cypher."""
        if dense and self.store.embed_enabled:
            self.store.sync_embeddings()
        return Where(*filter_clause(self.store, filters))

    def query_encoder(self, where: Where) -> Any:
        """The store's encoder (None when it keeps no embeddings)."""
        return self.store.encoder if self.store.embed_enabled else None

    def bm25(self, query: str, depth: int, where: Where) -> Ranking:
        """The full-text leg."""
        return Ranking.collapse(_bm25_rows(self.store, query, where.clause, where.params, depth * 3), depth)

    def dense(self, vector: Any, depth: int, where: Where) -> Ranking:
        """The vector leg (nothing for an all-zero query vector: cosine is undefined)."""
        rows = _dense_rows(self.store, vector.tolist(), where.clause, where.params, depth * 3) if vector.any() else []
        return Ranking.collapse(rows, depth)

    def candidates(self, where: Where) -> tuple[Collection[str], set[str] | None]:
        """Every searchable result id, and those ``where`` lets through (None: no filter)."""
        every = _cached(self.store, "targets", lambda: frozenset(_targets(self.store, "true", {})))
        return every, (_targets(self.store, where.clause, where.params) if where.params else None)

    def sync_index(self, embed: bool | None = None, *, encoder: str | None = None, show_progress: bool = False,
                   progress: Any = None, timings: dict[str, float] | None = None) -> None:
        """Embed the searchable nodes changed since the last sync (unless ``embed`` is False);
        ``timings["embed"]`` is added the seconds spent."""
        if encoder is not None:
            raise ConfigError("a Neo4j store's encoder is chosen by its URL (?encoder=...), then reembed()")
        if embed is False:
            return
        t = time.perf_counter()
        try:
            self.store.sync_embeddings()
        finally:
            if timings is not None:
                timings["embed"] = timings.get("embed", 0.0) + time.perf_counter() - t
