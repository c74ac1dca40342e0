"""Embeddings inside Neo4j: the ``embedding`` property of searchable nodes, behind the vector index.

The store computes them with an encoder it is given from above (:meth:`Neo4jStore.use_encoder
<kg.neo4j.store.Neo4jStore.use_encoder>`; the search backend of :mod:`kg.neo4j.search` gives
:func:`retrieval.encoder.load_encoder`): inside each write with ``?embed=true``, else in batches by
:func:`sync_embeddings` before a dense search. A node keeps its embedding while the hash of its
search text (``_th``, :func:`kg.searchtext.text_hash`) is unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kg.errors import ConfigError
from kg.model import Node
from kg.neo4j.schema import (
    NODE,
    VECTOR_DIMS,
    VECTOR_INDEX,
    decode_props,
    label_of,
    schema_statements,
    vectors,
)

if TYPE_CHECKING:
    from kg.neo4j.store import Neo4jStore

LoadEncoder = Callable[[str], Any]  # encoder spec ('' for the default) -> an encoder (name, dim, encode)
ENCODERS: dict[str, Any] = {}  # one loaded model per process and spec
_PAGE = 5000


def store_encoder(store: Neo4jStore, load: LoadEncoder) -> Any:
    """The store's encoder, loaded once per process, checked against the store on first use."""
    spec = store.encoder_spec
    enc = ENCODERS.get(spec)
    if enc is None:
        enc = ENCODERS[spec] = load(spec)
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
