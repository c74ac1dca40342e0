"""Search inside Neo4j: the full-text index (BM25 leg) and the vector index (dense leg), fused
by the same fusion (retrieval.fusion) and filtered by the same :class:`retrieval.filters.Filters` as
the embedded store (:func:`retrieval.hybrid.search` hands over to :func:`search_legs`).

Rows map to results as in the embedded index: a chunk counts as its parent (``parent``), keeping
its best rank. Filters are applied inside each leg before the top-k cut: the full-text leg filters
the index's ranked stream; a filtered dense leg scores the filtered nodes exactly with
``vector.similarity.cosine`` (the vector index cannot filter), an unfiltered one asks the index.
User text reaches Lucene escaped and as a parameter, never as Cypher text. The embeddings the
vector index needs are kept in step here too (:func:`sync_embeddings`).
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kg.errors import ConfigError
from kg.ids import fold
from kg.model import Label, Node, Rel
from kg.neo4j.schema import (
    FULLTEXT_INDEX,
    NODE,
    SOURCE,
    SUPPORTS,
    VECTOR_DIMS,
    VECTOR_INDEX,
    decode_props,
    label_of,
    schema_statements,
)
from retrieval.filters import Filters
from retrieval.types import SearchResult

if TYPE_CHECKING:
    from kg.neo4j.store import Neo4jStore

_SPECIAL = re.compile(r'([+\-&|!(){}\[\]^"~*?:\\/])')
_OPERATORS = re.compile(r"\b(AND|OR|NOT|TO)\b")
CATEGORY_EDGES = (Rel.IN_CATEGORY, Rel.HAS_TOPIC, Rel.PUBLISHED_IN)

_TARGET = (f"WITH n, score, CASE WHEN n:{Label.CHUNK} AND n.parent IS NOT NULL THEN n.parent ELSE n.id END AS tid "
           f"OPTIONAL MATCH (t:{NODE} {{id: tid}}) WITH n, score, tid, t ")


def lucene_escape(text: str) -> str:
    """Make user text a plain Lucene query: special characters escaped, AND/OR/NOT/TO lower-cased.

    >>> lucene_escape('C++ AND title:"graphs"')
    'C\\\\+\\\\+ and title\\\\:\\\\"graphs\\\\"'
    """
    return _OPERATORS.sub(lambda m: m.group(0).lower(), _SPECIAL.sub(r"\\\1", text))


@dataclass(frozen=True, slots=True)
class _Targets:
    """What :func:`retrieval.graph_leg.graph_leg` needs of an index: the searchable result ids."""

    targets: frozenset[str]


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
        rows = store._read(f"MATCH {pat} RETURN DISTINCT x.id AS id, x.name AS name, x.label AS label")
        return [(r["id"], fold(str(r["name"] or r["label"] or r["id"]))) for r in rows]

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


def _aggregate(rows: list[Any], limit: int) -> tuple[list[str], dict[str, float], dict[str, list[str]]]:
    """Rows (best first) -> result ids keeping each result's best score; also the chunks that matched."""
    order: list[str] = []
    best: dict[str, float] = {}
    chunks: dict[str, list[str]] = {}
    for r in rows:
        t = r["tid"]
        if r["id"] != t:
            chunks.setdefault(t, []).append(r["id"])
        if t not in best:
            best[t] = float(r["score"])
            order.append(t)
            if len(order) >= limit:
                break
    return order, best, chunks


def _bm25_leg(store: Neo4jStore, query: str, where: str, params: dict[str, Any], n: int) -> list[Any]:
    q = lucene_escape(query)
    if not re.search(r"\w", query):
        return []
    opts = {} if params else {"limit": n}  # unfiltered: let Lucene cut; filtered: filter its stream
    return store._read(f"CALL db.index.fulltext.queryNodes($index, $q, $opts) YIELD node AS n, score {_TARGET}"
                       f"WHERE {where} RETURN n.id AS id, tid, score ORDER BY score DESC, id LIMIT $rows",
                       "full-text search", index=FULLTEXT_INDEX, q=q, opts=opts, rows=n, **params)


def _dense_leg(store: Neo4jStore, vec: list[float], where: str, params: dict[str, Any], n: int) -> list[Any]:
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
    return [{"id": r["id"], "tid": r["tid"], "score": 2.0 * float(r["score"]) - 1.0} for r in rows]


def _targets(store: Neo4jStore, where: str, params: dict[str, Any]) -> set[str]:
    rows = store._read(f"MATCH (n:{NODE}) WHERE n._th IS NOT NULL WITH n, 0.0 AS score {_TARGET}"
                       f"WHERE {where} RETURN DISTINCT tid", "listing searchable nodes", **params)
    return {r["tid"] for r in rows}


def search_legs(store: Neo4jStore, g: Any, query: str, k: int, *, mode: str, filters: Filters | None = None,
                config: Any = None, explain: bool = False) -> SearchResult:
    """Search ``store`` like :func:`retrieval.hybrid.search` does an embedded store; same result type."""
    from retrieval.hybrid import MODES, SearchConfig, make_hits

    if mode not in MODES:
        raise ConfigError(f"unknown search mode {mode!r}; known: {', '.join(MODES)}")
    if isinstance(filters, dict):
        filters = Filters(**filters)
    cfg = config or SearchConfig()
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    if store.embed_enabled and mode != "bm25":
        store.sync_embeddings()
    where, params = filter_clause(store, filters)
    timings["load"] = (time.perf_counter() - t0) * 1000
    depth = max(cfg.depth, k)
    rankings: dict[str, list[str]] = {}
    leg_scores: dict[str, dict[str, float]] = {}
    chunks: dict[str, list[str]] = {}
    if mode in ("bm25", "hybrid", "hybrid+graph"):
        t = time.perf_counter()
        rankings["bm25"], leg_scores["bm25"], c = _aggregate(_bm25_leg(store, query, where, params, depth * 3), depth)
        chunks.update(c)
        timings["bm25"] = (time.perf_counter() - t) * 1000
    if mode in ("dense", "hybrid", "hybrid+graph"):
        if not store.embed_enabled:
            if mode == "dense":
                raise ConfigError("this store keeps no embeddings; open it with ?embed=true "
                                  "(pip install 'kgloom[embeddings]') or use ?encoder=hash for tests")
        else:
            t = time.perf_counter()
            qv = store.encoder.encode_query(query)
            timings["encode"] = (time.perf_counter() - t) * 1000
            t = time.perf_counter()
            rows = _dense_leg(store, qv.tolist(), where, params, depth * 3) if qv.any() else []
            rankings["dense"], leg_scores["dense"], c = _aggregate(rows, depth)
            for key, v in c.items():
                chunks.setdefault(key, v)
            timings["dense"] = (time.perf_counter() - t) * 1000
    t = time.perf_counter()
    fused = cfg.fuse(rankings, leg_scores, max(k, cfg.graph_seeds) if mode == "hybrid+graph" else k)
    if mode == "hybrid+graph" and fused:
        from retrieval.graph_leg import graph_leg

        every = _cached(store, "targets", lambda: frozenset(_targets(store, "true", {})))
        allowed = _targets(store, where, params) if params else None
        ranked = graph_leg(g, [f.id for f in fused[: cfg.graph_seeds]], _Targets(every),  # type: ignore[arg-type]
                           allowed=allowed, limit=depth)
        if ranked:
            rankings["graph"] = [nid for nid, _ in ranked]
            leg_scores["graph"] = dict(ranked)
            fused = cfg.fuse(rankings, leg_scores, k)
    timings["fuse"] = (time.perf_counter() - t) * 1000
    top = fused[:k]
    chunk_ids = {f.id: chunks.get(f.id, [])[: cfg.passages] for f in top}
    hits = make_hits(store, top, chunk_ids, leg_scores, explain=explain, fusion=cfg.fusion)
    timings["total"] = (time.perf_counter() - t0) * 1000
    return SearchResult(query, mode, hits, timings)


# -- embeddings for the vector index ------------------------------------------------------------------
ENCODERS: dict[str, Any] = {}  # one loaded model per process and spec
_PAGE = 5000


def store_encoder(store: Neo4jStore) -> Any:
    """The store's encoder, loaded once per process, checked against the store on first use."""
    spec = store.encoder_spec
    enc = ENCODERS.get(spec)
    if enc is None:
        from retrieval.encoder import load_encoder

        enc = ENCODERS[spec] = load_encoder(spec)
    if not store._caches.get("encoder_checked"):
        check_encoder(store, enc)
        store._caches["encoder_checked"] = True
    return enc


def check_encoder(store: Neo4jStore, enc: Any) -> None:
    """Refuse an encoder other than the one the stored embeddings came from; size the vector index."""
    recorded = store._internal_meta("encoder")
    has_emb = bool(store._read(f"MATCH (n:{NODE}) WHERE n.embedding IS NOT NULL RETURN 1 LIMIT 1"))
    if recorded and recorded != enc.name and has_emb:
        raise ConfigError(f"this Neo4j store was embedded with encoder {recorded!r}; open it with "
                          f"?encoder={recorded} or call reembed() after opening with ?encoder={enc.name}")
    got = store._read("SHOW INDEXES YIELD name, options WHERE name = $n RETURN options", n=VECTOR_INDEX)
    dims = int(got[0]["options"]["indexConfig"]["vector.dimensions"]) if got else VECTOR_DIMS
    if dims != enc.dim:
        if has_emb and recorded == enc.name:
            raise ConfigError(f"vector index has {dims} dimensions, encoder {enc.name!r} {enc.dim}")
        try:
            with store._session() as s:
                s.run(f"DROP INDEX {VECTOR_INDEX} IF EXISTS").consume()
                s.run(schema_statements(enc.dim)[VECTOR_INDEX]).consume()
                s.run("CALL db.awaitIndexes(300)").consume()
        except store._errors as e:
            raise store._translate(e, "recreating the vector index") from e
    if recorded != enc.name:
        store._set_internal_meta("encoder", enc.name)


def vectors(enc: Any, nodes: list[Node]) -> list[list[float] | None]:
    """Embeddings of the nodes' searchable text (None for an all-zero vector: cosine cannot index it)."""
    from retrieval.index import node_text

    mat = enc.encode([node_text(n) for n in nodes])
    return [row.tolist() if bool(row.any()) else None for row in mat]


def sync_embeddings(store: Neo4jStore, *, force: bool = False) -> int:
    """Embed the searchable nodes changed since the last sync (all with ``force``); returns how many."""
    if not store.embed_enabled:
        return 0
    version = store.version()
    done = int(store._internal_meta("embedded_version") or 0)
    if not force and done >= version:
        return 0
    enc = store.encoder
    since = -1 if force else done
    n = 0
    after = ""
    while True:
        rows = store._read(
            f"MATCH (n:{NODE}) WHERE n._v > $since AND n._th IS NOT NULL AND n.id > $after "
            "AND ($force OR n.embedding IS NULL) RETURN n.id AS id, labels(n) AS labels, "
            "n {.*, embedding: null} AS p ORDER BY n.id LIMIT $page",
            since=since, after=after, force=force, page=_PAGE)
        if not rows:
            break
        after = rows[-1]["id"]
        vecs = vectors(enc, [Node(r["id"], label_of(r["labels"]), decode_props(r["p"])) for r in rows])
        data = [{"id": r["id"], "th": r["p"]["_th"], "emb": v} for r, v in zip(rows, vecs, strict=True)]
        store._write_tx("storing embeddings", lambda tx, d: tx.run(
            f"UNWIND $rows AS row MATCH (n:{NODE} {{id: row.id}}) WHERE n._th = row.th "
            "SET n.embedding = row.emb", rows=d).consume(), data)
        n += len(rows)
    store._set_internal_meta("embedded_version", version)
    return n
