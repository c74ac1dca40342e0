"""How a kgloom graph is laid out in Neo4j: labels, constraints, indexes, property encoding, URL
options, and the batched row-level statements that write nodes and edges.

Layout::

    (:KGNode:Paper {id, title, ..., _v, _th, _extra, embedding})     a graph node: its real label + KGNode
    (:KGNode)-[:CITES {position, ..., _v, _src, _sup}]->(:KGNode)    a graph edge (UPPER_SNAKE type)
    (:KGSource {path, hash, size, mtime, reader, ...})-[:SUPPORTS {label, stub, props}]->(:KGNode)
    (:KGKey {key, node, source})                                      identity keys for entity resolution
    (:KGTombstone {id, v})  (:KGMeta {key, value})                    deletions since a version; metadata

Node and edge properties are stored natively where Neo4j allows it (strings, numbers, booleans and
non-empty lists of one of those); anything else (nested maps, mixed or empty lists, ``None``,
reserved names) goes into one JSON string ``_extra``, so reads give back the same Python values as
the embedded store. Names starting with ``_`` and ``embedding`` are kgloom's own: ``_v`` (the
store version of the last change), ``_th`` (hash of the searchable text), ``_src``/``_sup`` (an
edge's supporting sources and what each contributed, JSON).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, unquote, urlsplit

import orjson

from kg.errors import ConfigError, StoreError
from kg.model import Node
from kg.searchtext import SEARCHABLE, node_text, text_hash
from kg.store.merge import merge_props

NODE = "KGNode"
SOURCE = "KGSource"
KEY = "KGKey"
TOMBSTONE = "KGTombstone"
META = "KGMeta"
SUPPORTS = "SUPPORTS"
INTERNAL_LABELS = (NODE, SOURCE, KEY, TOMBSTONE, META)

FULLTEXT_INDEX = "kg_fulltext"
VECTOR_INDEX = "kg_embedding"
# the labels and fields full-text search covers
FULLTEXT_LABELS = SEARCHABLE
FULLTEXT_FIELDS = ("title", "abstract", "text", "name", "description", "label")
FULLTEXT_ANALYZER = "english"  # Porter stems + the same 33 stopwords as retrieval.tokenize
VECTOR_DIMS = 384
SCHEMA_VERSION = 1

RESERVED = frozenset({"id", "embedding"})
_IDENT = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_INT64 = (-(2**63), 2**63 - 1)


def dumps(v: Any) -> str:
    """Canonical JSON (sorted keys), as the embedded store writes it."""
    return orjson.dumps(v, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS).decode()


def loads(s: str | None) -> Any:
    return orjson.loads(s) if s else None


def ident(name: str) -> str:
    """``name`` back-quoted for use as a label or relationship type; raises on anything unusual.

    >>> ident("HAS_TOPIC")
    '`HAS_TOPIC`'
    """
    if not _IDENT.match(name) or name in INTERNAL_LABELS or name == SUPPORTS:
        raise StoreError(f"{name!r} cannot be a Neo4j label or relationship type here")
    return f"`{name}`"


def schema_statements(dims: int = VECTOR_DIMS) -> dict[str, str]:
    """Index/constraint name -> idempotent ``CREATE ... IF NOT EXISTS`` statement."""
    labels = "|".join(FULLTEXT_LABELS)
    fields = ", ".join(f"n.{f}" for f in FULLTEXT_FIELDS)
    return {
        "kg_node_id": f"CREATE CONSTRAINT kg_node_id IF NOT EXISTS FOR (n:{NODE}) REQUIRE n.id IS UNIQUE",
        "kg_source_path": f"CREATE CONSTRAINT kg_source_path IF NOT EXISTS FOR (s:{SOURCE}) REQUIRE s.path IS UNIQUE",
        "kg_tombstone_id": f"CREATE CONSTRAINT kg_tombstone_id IF NOT EXISTS FOR (t:{TOMBSTONE}) REQUIRE t.id IS UNIQUE",
        "kg_meta_key": f"CREATE CONSTRAINT kg_meta_key IF NOT EXISTS FOR (m:{META}) REQUIRE m.key IS UNIQUE",
        "kg_node_version": f"CREATE INDEX kg_node_version IF NOT EXISTS FOR (n:{NODE}) ON (n._v)",
        "kg_key_key": f"CREATE INDEX kg_key_key IF NOT EXISTS FOR (k:{KEY}) ON (k.key)",
        "kg_key_node": f"CREATE INDEX kg_key_node IF NOT EXISTS FOR (k:{KEY}) ON (k.node)",
        "kg_tombstone_version": f"CREATE INDEX kg_tombstone_version IF NOT EXISTS FOR (t:{TOMBSTONE}) ON (t.v)",
        FULLTEXT_INDEX: (f"CREATE FULLTEXT INDEX {FULLTEXT_INDEX} IF NOT EXISTS FOR (n:{labels}) ON EACH [{fields}] "
                         f"OPTIONS {{indexConfig: {{`fulltext.analyzer`: '{FULLTEXT_ANALYZER}'}}}}"),
        VECTOR_INDEX: (f"CREATE VECTOR INDEX {VECTOR_INDEX} IF NOT EXISTS FOR (n:{NODE}) ON (n.embedding) "
                       f"OPTIONS {{indexConfig: {{`vector.dimensions`: {int(dims)}, "
                       "`vector.similarity_function`: 'cosine', `vector.quantization.enabled`: false}}"),
    }


def ensure_schema(store: Any) -> None:
    """Create the constraints and indexes that are missing, then wait until every index is online."""
    try:
        with store._session() as s:
            have = {r["name"] for r in s.run("SHOW INDEXES YIELD name RETURN name")}
            have |= {r["name"] for r in s.run("SHOW CONSTRAINTS YIELD name RETURN name")}
            for name, stmt in schema_statements().items():
                if name not in have:
                    try:
                        s.run(stmt).consume()
                    except store._neo4j.exceptions.ClientError as e:
                        if "AlreadyExists" not in (e.code or ""):  # another process created it
                            raise
            s.run("CALL db.awaitIndexes(300)").consume()  # indexes online before any query
    except store._errors as e:
        raise store._translate(e, "creating the schema") from e


# -- property encoding ---------------------------------------------------------------------------------
def _scalar(v: Any) -> bool:
    t = type(v)
    if t is str or t is bool:
        return True
    if t is int:
        return _INT64[0] <= v <= _INT64[1]
    if t is float:
        return math.isfinite(v)  # JSON (the embedded store) turns NaN/inf into null
    return False


def _native(v: Any) -> bool:
    if _scalar(v):
        return True
    if type(v) in (list, tuple) and v:
        t = type(v[0])
        return all(type(x) is t and _scalar(x) for x in v)
    return False


def encode_props(props: dict[str, Any]) -> dict[str, Any]:
    """Python properties -> Neo4j properties (natively where possible, the rest as JSON in ``_extra``).

    >>> encode_props({"title": "T", "meta": {"a": 1}, "tags": ["x"], "n": None})
    {'title': 'T', 'tags': ['x'], '_extra': '{"meta":{"a":1},"n":null}'}
    """
    out: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for k, v in props.items():
        if type(k) is str and k not in RESERVED and not k.startswith("_") and _native(v):
            out[k] = list(v) if type(v) is tuple else v
        else:
            extra[k] = v
    if extra:
        out["_extra"] = dumps(extra)
    return out


def decode_props(raw: dict[str, Any]) -> dict[str, Any]:
    """Neo4j properties -> the Python properties :func:`encode_props` was given (internal ones dropped).

    >>> decode_props({"id": "x", "_v": 3, "title": "T", "_extra": '{"n":null}'})
    {'title': 'T', 'n': None}
    """
    out = {k: v for k, v in raw.items() if k not in RESERVED and not k.startswith("_") and v is not None}
    extra = raw.get("_extra")
    if extra:
        out.update(orjson.loads(extra))
    return out


# -- URL options ---------------------------------------------------------------------------------------
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")
OPTIONS = ("embed", "encoder", "database", "batch", "retry", "timeout")


def _flag(name: str, value: str) -> bool:
    v = value.strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise ConfigError(f"{name}={value!r}: use true or false")


@dataclass(frozen=True, slots=True, kw_only=True)
class Neo4jOptions:
    """A parsed ``neo4j://`` / ``bolt://`` store URL.

    ``neo4j://user:password@host:7687/database?embed=false&encoder=hash&batch=5000&retry=15&timeout=10``;
    credentials default to ``$NEO4J_USERNAME`` (``neo4j``) and ``$NEO4J_PASSWORD``; ``embed``
    defaults to ``$KG_EMBED`` or "when the encoder can be loaded".
    """

    uri: str  # scheme://host:port, no credentials
    user: str
    password: str | None
    database: str | None = None
    embed: bool | None = None  # None: decide from the environment
    encoder: str | None = None  # None: the store's recorded encoder, else retrieval's default
    batch: int = 5000  # rows per UNWIND
    retry: float = 15.0  # seconds a failed transaction is retried (connection lost, deadlock)
    timeout: float = 10.0  # seconds to connect

    @property
    def display(self) -> str:
        """The URL without the password."""
        scheme, rest = self.uri.split("://", 1)
        return f"{scheme}://{self.user}@{rest}" + (f"/{self.database}" if self.database else "")


def parse_url(url: str) -> Neo4jOptions:
    """Parse a store URL; unknown options are a :class:`ConfigError`.

    >>> parse_url("bolt://neo4j:pw@localhost:7687?embed=false").embed
    False
    """
    parts = urlsplit(url)
    if parts.scheme.split("+")[0] not in ("neo4j", "bolt"):
        raise ConfigError(f"not a Neo4j store URL: {url!r}; use neo4j://, bolt:// (or their +s, +ssc forms)")
    if not parts.hostname:
        raise ConfigError(f"no host in Neo4j store URL {url!r}")
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    uri = f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")
    user = unquote(parts.username) if parts.username else os.environ.get("NEO4J_USERNAME", "neo4j")
    password = unquote(parts.password) if parts.password is not None else os.environ.get("NEO4J_PASSWORD")
    kw: dict[str, Any] = {}
    db = parts.path.strip("/")
    if db:
        kw["database"] = db
    env_embed = os.environ.get("KG_EMBED")
    if env_embed:
        kw["embed"] = _flag("KG_EMBED", env_embed)
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name not in OPTIONS:
            raise ConfigError(f"unknown Neo4j store option {name!r}; known: {', '.join(OPTIONS)}")
        try:
            if name == "embed":
                kw["embed"] = _flag(name, value)
            elif name in ("encoder", "database"):
                kw[name] = value or None
            elif name == "batch":
                kw["batch"] = max(1, int(value))
            else:
                kw[name] = float(value)
        except ValueError:
            raise ConfigError(f"bad value for Neo4j store option {name}: {value!r}") from None
    return Neo4jOptions(uri=uri, user=user, password=password, **kw)


# -- row-level statements (batched UNWIND; run inside the store's write transactions) -----------------
Support = tuple[bool, str, str, dict[str, Any]]  # (stub, source path, label, props)
EdgeKey = tuple[str, str, str]  # (source id, type, target id)
# both ends of an edge by id; the edge itself is then matched in a subquery, so that the planner
# expands from the end with fewer relationships (Expand(Into)) rather than from a hub
BOTH_ENDS = f"MATCH (a:{NODE} {{id: row[0]}}) MATCH (b:{NODE} {{id: row[1]}})"


class NodeState(NamedTuple):
    """A stored node as a write sees it: labels, text hash, whether it has an embedding, supports."""

    labels: list[str]
    th: str | None
    has_emb: bool
    sups: list[Support]


def merged(sups: list[Support]) -> tuple[str, dict[str, Any]]:
    """Label and properties of a node from its supports (the embedded store's rule)."""
    ordered = sorted(sups, key=lambda s: (s[0], s[1]))
    props = merge_props((s[0], s[1], s[3]) for s in ordered)
    if all(s[0] for s in ordered):
        props["stub"] = True
    return ordered[0][2], props


def label_of(labels: Iterable[str]) -> str:
    """The kgloom label among a node's Neo4j labels."""
    return min((x for x in labels if x != NODE), default="")


def vectors(enc: Any, nodes: list[Node]) -> list[list[float] | None]:
    """Embeddings of the nodes' searchable text (None for an all-zero vector: cosine cannot index it)."""
    mat = enc.encode([node_text(n) for n in nodes])
    return [row.tolist() if bool(row.any()) else None for row in mat]


def run(tx: Any, query: str, **params: Any) -> list[Any]:
    return list(tx.run(query, params))


def batched(store: Any, tx: Any, query: str, rows: Sequence[Any], **params: Any) -> None:
    """Run ``query`` with ``$rows`` bound to successive slices of ``rows`` (``store.options.batch`` each)."""
    n = store.options.batch
    for i in range(0, len(rows), n):
        tx.run(query, {"rows": rows[i:i + n], **params}).consume()


def node_state(store: Any, tx: Any, ids: Sequence[str], exclude: str | None) -> dict[str, NodeState]:
    """Stored nodes among ``ids`` with their supports from sources other than ``exclude``."""
    out: dict[str, NodeState] = {}
    ids = list(ids)
    n = store.options.batch
    for i in range(0, len(ids), n):
        for r in run(tx, f"UNWIND $ids AS id MATCH (n:{NODE} {{id: id}}) "
                     f"OPTIONAL MATCH (s:{SOURCE})-[r:{SUPPORTS}]->(n) WHERE $path IS NULL OR s.path <> $path "
                     "RETURN id, labels(n) AS labels, n._th AS th, n.embedding IS NOT NULL AS emb, "
                     "collect(CASE WHEN s IS NULL THEN null ELSE [r.stub, s.path, r.label, r.props] END) AS sups",
                     ids=ids[i:i + n], path=exclude):
            sups = [(bool(s[0]), s[1], s[2], loads(s[3])) for s in r["sups"]]
            out[r["id"]] = NodeState(r["labels"], r["th"], r["emb"], sups)
    return out


def edge_sups(store: Any, tx: Any, keys: Sequence[EdgeKey]) -> dict[EdgeKey, dict[str, Any]]:
    """The per-source supports (``{path: props}``) of those of ``keys`` that are stored."""
    out: dict[EdgeKey, dict[str, Any]] = {}
    by_type: dict[str, list[list[str]]] = {}
    for s, t, d in keys:
        by_type.setdefault(t, []).append([s, d])
    n = store.options.batch
    for t, pairs in sorted(by_type.items()):
        for i in range(0, len(pairs), n):
            for r in run(tx, f"UNWIND $rows AS row {BOTH_ENDS} CALL (a, b) {{ MATCH (a)-[r:{ident(t)}]->(b) "
                         "RETURN r } RETURN row AS k, r._sup AS sup", rows=pairs[i:i + n]):
                out[(r["k"][0], t, r["k"][1])] = loads(r["sup"])
    return out


def upsert_nodes(store: Any, tx: Any, rows: list[tuple[str, str, dict[str, Any], NodeState | None]],
                 version: int) -> None:
    """Write nodes ``(id, label, merged props, stored state or None)``: CREATE the absent ones, SET
    the others; an embedding is kept while the node's text is unchanged (computed here when the
    store embeds on write, else later by :func:`kg.neo4j.embeddings.sync_embeddings`)."""
    by_label: dict[tuple[str, bool], list[dict[str, Any]]] = {}
    relabel: dict[str, list[str]] = {}
    todo: list[tuple[dict[str, Any], Node]] = []
    for nid, label, props, st in rows:
        enc = encode_props(props)
        enc["id"], enc["_v"] = nid, version
        th = None
        node = Node(nid, label, props)
        if label in SEARCHABLE:
            text = node_text(node)
            if text:
                th = enc["_th"] = text_hash(text)
        keep = st is not None and st.has_emb and th is not None and st.th == th
        row = {"id": nid, "props": enc, "keep": keep, "emb": None}
        if th is not None and not keep and store.embeds_on_write:
            todo.append((row, node))
        by_label.setdefault((label, st is not None), []).append(row)
        for old in st.labels if st else ():
            if old not in (label, NODE):
                relabel.setdefault(old, []).append(nid)
    if todo:
        for (row, _), vec in zip(todo, vectors(store.encoder, [n for _, n in todo]), strict=True):
            row["emb"] = vec
    for old, ids in sorted(relabel.items()):
        batched(store, tx, f"UNWIND $rows AS id MATCH (n:{NODE} {{id: id}}) REMOVE n:{ident(old)}", ids)
    for (label, exists), rows_ in sorted(by_label.items()):
        if exists:
            batched(store, tx, f"UNWIND $rows AS row MATCH (n:{NODE} {{id: row.id}}) WITH n, row, n.embedding AS emb "
                    f"SET n = row.props SET n:{ident(label)}, n.embedding = CASE WHEN row.emb IS NOT NULL "
                    "THEN row.emb WHEN row.keep THEN emb ELSE null END", rows_)
        else:  # checked absent in this transaction: CREATE is cheaper than MERGE
            batched(store, tx, f"UNWIND $rows AS row CREATE (n:{NODE}:{ident(label)}) SET n = row.props, "
                    "n.embedding = row.emb", rows_)


def upsert_edges(store: Any, tx: Any, rows: list[tuple[EdgeKey, dict[str, Any]]], version: int,
                 exists: Callable[[EdgeKey], bool] = lambda k: True) -> None:
    """Write edges with the merged properties of their supports (``{path: props}``); ``exists``
    says which may be stored already (MERGE) and which certainly are not (CREATE)."""
    by_type: dict[tuple[str, bool], list[dict[str, Any]]] = {}
    for (s, t, d), sup in rows:
        enc = encode_props(merge_props((False, p, pr) for p, pr in sup.items()))
        enc["_v"], enc["_src"], enc["_sup"] = version, sorted(sup), dumps(sup)
        by_type.setdefault((t, exists((s, t, d))), []).append({"s": s, "d": d, "props": enc})
    for (t, known), rows_ in sorted(by_type.items()):
        batched(store, tx, f"UNWIND $rows AS row MATCH (a:{NODE} {{id: row.s}}) MATCH (b:{NODE} {{id: row.d}}) "
                f"{'MERGE' if known else 'CREATE'} (a)-[r:{ident(t)}]->(b) SET r = row.props", rows_)


def delete_edges(store: Any, tx: Any, keys: list[EdgeKey]) -> None:
    batched(store, tx, f"UNWIND $rows AS row {BOTH_ENDS.replace('row[1]', 'row[2]')} CALL (a, b, row) {{ "
            "MATCH (a)-[r]->(b) WHERE type(r) = row[1] DELETE r }", [list(k) for k in keys])


def delete_nodes(store: Any, tx: Any, ids: list[str], version: int) -> None:
    """Delete nodes with every edge touching them (derived sources' too) and leave tombstones."""
    batched(store, tx, f"UNWIND $rows AS id OPTIONAL MATCH (n:{NODE} {{id: id}}) DETACH DELETE n "
            f"WITH id MERGE (t:{TOMBSTONE} {{id: id}}) SET t.v = $v", ids, v=version)
