"""Copy a graph into a Neo4j store with its provenance (``kg export --to neo4j://...``).

Everything a store knows is copied, not only the merged graph: sources, each source's support of
each node (label, stub flag, properties), identity keys, and each edge's per-source properties, so
the copy behaves exactly like the original on later ingests and removals. Rows travel in batches
(one transaction per batch of nodes or edges, ``UNWIND`` statements inside). Every copied row is
stamped with the copy's store version and the leftovers of earlier copies are swept at the end, so
a copy interrupted by a lost connection is finished by running it again, without duplicates.

>>> from kg.store import open_store
>>> copy_store(open_store("./.kg"), "neo4j://neo4j:secret@localhost:7687")  # doctest: +SKIP
{'sources': 12, 'nodes': 5402, 'edges': 20110, 'supports': 5730, 'keys': 4100, 'seconds': 3.2}
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import orjson

from kg.errors import ConfigError
from kg.model import Edge, Node
from kg.neo4j import schema as sch
from kg.neo4j.schema import KEY, META, NODE, SOURCE, SUPPORTS, dumps, encode_props, ident
from kg.store.base import GraphStore
from kg.store.merge import EdgeKey
from kg.store.sqlite import SUPPORT_PROPS_SQL

if TYPE_CHECKING:
    from kg.neo4j.store import Neo4jStore

Progress = Callable[[str, int], None]
NodeSupport = tuple[str, str, bool, str]  # (source path, label, stub, props as JSON)


class _SQLiteSupports:
    """Provenance rows of an embedded store (its support tables)."""

    def __init__(self, store: Any) -> None:
        self.db = store.db

    def _in(self, sql: str, ids: Sequence[str]) -> Iterator[tuple[Any, ...]]:
        for i in range(0, len(ids), 900):
            part = ids[i:i + 900]
            yield from self.db.execute(sql.format(",".join("?" * len(part))), part)

    def node_supports(self, ids: Sequence[str]) -> dict[str, list[NodeSupport]]:
        out: dict[str, list[NodeSupport]] = {}
        for nid, path, label, stub, props in self._in(
                f"SELECT ns.node_id, s.path, ns.label, ns.stub, {SUPPORT_PROPS_SQL} FROM node_support ns "
                "JOIN sources s ON s.id = ns.source LEFT JOIN nodes n ON n.id = ns.node_id "
                "WHERE ns.node_id IN ({})", ids):
            out.setdefault(nid, []).append((path, label, bool(stub), props))
        return out

    def keys(self, ids: Sequence[str]) -> list[tuple[str, str, str]]:
        return [tuple(r) for r in self._in(
            "SELECT nk.key, nk.node_id, s.path FROM node_keys nk JOIN sources s ON s.id = nk.source "
            "WHERE nk.node_id IN ({})", ids)]

    def edge_supports(self, keys: set[EdgeKey]) -> dict[EdgeKey, dict[str, Any]]:
        out: dict[EdgeKey, dict[str, Any]] = {}
        for s, t, d, path, props in self._in(
                "SELECT es.src, es.type, es.dst, s.path, es.props FROM edge_support es "
                "JOIN sources s ON s.id = es.source WHERE es.src IN ({})", sorted({k[0] for k in keys})):
            if (s, t, d) in keys:
                out.setdefault((s, t, d), {})[path] = orjson.loads(props)
        return out

    def user_meta(self) -> dict[str, Any]:
        return {k[5:]: orjson.loads(v) for k, v in self.db.execute("SELECT key, value FROM meta WHERE key LIKE 'user:%'")}


class _Neo4jSupports:
    """Provenance rows of another Neo4j store."""

    def __init__(self, store: Neo4jStore) -> None:
        self.store = store

    def node_supports(self, ids: Sequence[str]) -> dict[str, list[NodeSupport]]:
        out: dict[str, list[NodeSupport]] = {}
        for r in self.store._read(f"UNWIND $ids AS id MATCH (s:{SOURCE})-[r:{SUPPORTS}]->(:{NODE} {{id: id}}) "
                                  "RETURN id, s.path AS p, r.label AS l, r.stub AS st, r.props AS pr", ids=list(ids)):
            out.setdefault(r["id"], []).append((r["p"], r["l"], bool(r["st"]), r["pr"]))
        return out

    def keys(self, ids: Sequence[str]) -> list[tuple[str, str, str]]:
        return [(r["k"], r["n"], r["s"]) for r in self.store._read(
            f"UNWIND $ids AS id MATCH (k:{KEY} {{node: id}}) RETURN k.key AS k, k.node AS n, k.source AS s",
            ids=list(ids))]

    def edge_supports(self, keys: set[EdgeKey]) -> dict[EdgeKey, dict[str, Any]]:
        return {(r["k"][0], r["k"][1], r["k"][2]): orjson.loads(r["sup"]) for r in self.store._read(
            f"UNWIND $rows AS row MATCH (a:{NODE} {{id: row[0]}}) MATCH (b:{NODE} {{id: row[2]}}) CALL (a, b, row) {{ "
            "MATCH (a)-[r]->(b) WHERE type(r) = row[1] RETURN r } RETURN row AS k, r._sup AS sup",
            rows=[list(k) for k in keys])}

    def user_meta(self) -> dict[str, Any]:
        return {r["k"][5:]: orjson.loads(r["v"]) for r in self.store._read(
            f"MATCH (m:{META}) WHERE m.key STARTS WITH 'user:' RETURN m.key AS k, m.value AS v")}


def _supports_of(src: GraphStore) -> Any:
    from kg.neo4j.store import Neo4jStore
    from kg.store.sqlite import SQLiteStore

    if isinstance(src, SQLiteStore):
        return _SQLiteSupports(src)
    if isinstance(src, Neo4jStore):
        return _Neo4jSupports(src)
    raise ConfigError(f"cannot copy the provenance of a {type(src).__name__}")


def _chunks(items: Iterable[Any], n: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for x in items:
        batch.append(x)
        if len(batch) >= n:
            yield batch
            batch = []
    if batch:
        yield batch


def _write_nodes(tx: Any, dst: Neo4jStore, nodes: list[Node], sups: dict[str, list[NodeSupport]],
                 keys: list[tuple[str, str, str]], version: int) -> None:
    ids = [n.id for n in nodes]
    state = sch.node_state(dst, tx, ids, None)
    sch.upsert_nodes(dst, tx, [(n.id, n.label, n.properties, state.get(n.id)) for n in nodes], version)
    sch.batched(dst, tx, f"UNWIND $rows AS id MATCH (:{SOURCE})-[r:{SUPPORTS}]->(:{NODE} {{id: id}}) DELETE r", ids)
    sch.batched(dst, tx, f"UNWIND $rows AS row MATCH (s:{SOURCE} {{path: row[0]}}) MATCH (n:{NODE} {{id: row[1]}}) "
                 f"CREATE (s)-[:{SUPPORTS} {{label: row[2], stub: row[3], props: row[4], _v: $v}}]->(n)",
                 [[p, nid, label, stub, props] for nid in ids for p, label, stub, props in sups.get(nid, [])], v=version)
    sch.batched(dst, tx, f"UNWIND $rows AS id MATCH (k:{KEY} {{node: id}}) DELETE k", ids)
    sch.batched(dst, tx, f"UNWIND $rows AS row CREATE (:{KEY} {{key: row[0], node: row[1], source: row[2], _v: $v}})",
                 [list(k) for k in keys], v=version)


def _write_edges(tx: Any, dst: Neo4jStore, edges: list[Edge], sups: dict[EdgeKey, dict[str, Any]],
                 version: int, fresh: bool) -> None:
    by_type: dict[str, list[dict[str, Any]]] = {}
    for e in edges:
        sup = sups.get((e.source, e.type, e.target), {})
        enc = encode_props(e.properties)
        enc["_v"], enc["_src"], enc["_sup"] = version, sorted(sup), dumps(sup)
        by_type.setdefault(e.type, []).append({"s": e.source, "d": e.target, "props": enc})
    for t, rows in sorted(by_type.items()):
        sch.batched(dst, tx, f"UNWIND $rows AS row MATCH (a:{NODE} {{id: row.s}}) MATCH (b:{NODE} {{id: row.d}}) "
                     f"{'CREATE' if fresh else 'MERGE'} (a)-[r:{ident(t)}]->(b) SET r = row.props", rows)


def _sweep(tx: Any, dst: Neo4jStore, version: int, paths: list[str]) -> int:
    """Delete what earlier (interrupted or outdated) copies left and this one did not write."""
    stale = [r["id"] for r in sch.run(tx, f"MATCH (n:{NODE}) WHERE n._v < $v RETURN n.id AS id", v=version)]
    sch.delete_nodes(dst, tx, stale, version)
    tx.run(f"MATCH (:{NODE})-[r]->(:{NODE}) WHERE r._v < $v DELETE r", v=version).consume()
    tx.run(f"MATCH (:{SOURCE})-[r:{SUPPORTS}]->() WHERE r._v < $v DELETE r", v=version).consume()
    tx.run(f"MATCH (k:{KEY}) WHERE k._v < $v DELETE k", v=version).consume()
    tx.run(f"MATCH (s:{SOURCE}) WHERE NOT s.path IN $paths DETACH DELETE s", paths=paths).consume()
    return len(stale)


def _mark_derived(tx: Any, dst: Neo4jStore) -> None:
    """Flag sources with an edge that starts at a node they do not support (topics, inferred links)."""
    tx.run(f"MATCH (a:{NODE})-[r]->(:{NODE}) UNWIND r._src AS p WITH DISTINCT a, p "
           f"WHERE NOT EXISTS {{ MATCH (:{SOURCE} {{path: p}})-[:{SUPPORTS}]->(a) }} WITH DISTINCT p "
           f"MATCH (s:{SOURCE} {{path: p}}) SET s.derived = true").consume()


def copy_store(src: GraphStore, url: str, *, replace: bool = False, batch: int = 5000,
               progress: Progress | None = None) -> dict[str, Any]:
    """Copy ``src`` (embedded or Neo4j) into the Neo4j store at ``url``; returns counts and seconds.

    The target must be empty, or hold an earlier copy of the same sources (then it is brought in
    step); other content is refused unless ``replace=True``, which clears the target first.
    """
    from kg.neo4j.store import Neo4jStore
    from kg.store import open_store

    reader = _supports_of(src)
    dst = open_store(url)
    try:
        if not isinstance(dst, Neo4jStore):
            raise ConfigError("copy_store copies into a Neo4j store: give a neo4j:// or bolt:// URL")
        return _copy(src, dst, reader, replace=replace, batch=batch, progress=progress)
    finally:
        dst.close()


def _copy(src: GraphStore, dst: Neo4jStore, reader: Any, *, replace: bool, batch: int,
          progress: Progress | None) -> dict[str, Any]:
    t0 = time.perf_counter()
    sources = src.sources()
    paths = [s.path for s in sources]
    foreign = sorted({s.path for s in dst.sources()} - set(paths))
    if foreign and not replace:
        raise ConfigError(f"the target Neo4j store holds {len(foreign)} source(s) that are not in the copied store "
                          f"(e.g. {foreign[0]}); copy into an empty database, or with copy_store(..., replace=True), "
                          "which clears it first")
    if replace:
        dst.clear()
    fresh = not dst.counts()["edges"]  # an empty target: edges are created, not merged
    version = dst._write_tx("starting the copy", dst._bump)
    counts = {"sources": len(sources), "nodes": 0, "edges": 0, "supports": 0, "keys": 0}

    def write_sources(tx: Any, rows: list[dict[str, Any]]) -> None:
        sch.batched(dst, tx, f"UNWIND $rows AS row MERGE (s:{SOURCE} {{path: row.path}}) SET s += row.props", rows)

    dst._write_tx("copying sources", write_sources, [
        {"path": s.path, "props": {"hash": s.hash, "size": s.size, "mtime": float(s.mtime), "reader": s.reader,
                                   "n_nodes": s.n_nodes, "n_edges": s.n_edges, "warnings": dumps(s.warnings),
                                   "errors": dumps(s.errors), "ingested_at": s.ingested_at,
                                   "derived": False}} for s in sources])
    for nodes in _chunks(src.iter_nodes(), batch):
        ids = [n.id for n in nodes]
        sups, keys = reader.node_supports(ids), reader.keys(ids)
        dst._write_tx("copying nodes", _write_nodes, dst, nodes, sups, keys, version)
        counts["nodes"] += len(nodes)
        counts["supports"] += sum(len(v) for v in sups.values())
        counts["keys"] += len(keys)
        if progress:
            progress("nodes", counts["nodes"])
    for edges in _chunks(src.iter_edges(), batch):
        esups = reader.edge_supports({(e.source, e.type, e.target) for e in edges})
        dst._write_tx("copying edges", _write_edges, dst, edges, esups, version, fresh)
        counts["edges"] += len(edges)
        if progress:
            progress("edges", counts["edges"])
    counts["stale_removed"] = dst._write_tx("removing stale rows", _sweep, dst, version, paths)
    dst._write_tx("marking derived sources", _mark_derived, dst)
    for key, value in reader.user_meta().items():
        dst.set_meta(key, value)
    return {**counts, "seconds": round(time.perf_counter() - t0, 3)}
