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
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from kg.errors import ConfigError
from kg.model import Edge, Node
from kg.neo4j import schema as sch
from kg.neo4j.schema import KEY, NODE, SOURCE, SUPPORTS, dumps, encode_props, ident
from kg.neo4j.store import Neo4jStore
from kg.store.base import GraphStore
from kg.store.merge import EdgeKey
from kg.store.provenance import NodeKey

Progress = Callable[[str, int], None]
Support = tuple[str, str, bool, str]  # (source path, label, stub, props as JSON)


def _chunks(items: Iterable[Any], n: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for x in items:
        batch.append(x)
        if len(batch) >= n:
            yield batch
            batch = []
    if batch:
        yield batch


def _write_nodes(tx: Any, dst: Neo4jStore, nodes: list[Node], sups: dict[str, list[Support]],
                 keys: list[NodeKey], version: int) -> None:
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
    """Copy ``src`` (any store: its graph and provenance are read through the store contract) into
    the Neo4j store at ``url``; returns counts and seconds.

    The target must be empty, or hold an earlier copy of the same sources (then it is brought in
    step); other content is refused unless ``replace=True``, which clears the target first.
    """
    dst = Neo4jStore(url)  # refuses any other URL
    try:
        return _copy(src, dst, replace=replace, batch=batch, progress=progress)
    finally:
        dst.close()


def _copy(src: GraphStore, dst: Neo4jStore, *, replace: bool, batch: int, progress: Progress | None) -> dict[str, Any]:
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
        sups: dict[str, list[Support]] = {}
        for nid, path, label, stub, props in src.node_supports(ids):
            sups.setdefault(nid, []).append((path, label, stub, props))
        keys = list(src.node_keys(ids))
        dst._write_tx("copying nodes", _write_nodes, dst, nodes, sups, keys, version)
        counts["nodes"] += len(nodes)
        counts["supports"] += sum(len(v) for v in sups.values())
        counts["keys"] += len(keys)
        if progress:
            progress("nodes", counts["nodes"])
    for edges in _chunks(src.iter_edges(), batch):
        esups: dict[EdgeKey, dict[str, Any]] = {}
        for a, t, b, path, eprops in src.edge_supports({(e.source, e.type, e.target) for e in edges}):
            esups.setdefault((a, t, b), {})[path] = eprops
        dst._write_tx("copying edges", _write_edges, dst, edges, esups, version, fresh)
        counts["edges"] += len(edges)
        if progress:
            progress("edges", counts["edges"])
    counts["stale_removed"] = dst._write_tx("removing stale rows", _sweep, dst, version, paths)
    dst._write_tx("marking derived sources", _mark_derived, dst)
    for key, value in src.user_meta().items():
        dst.set_meta(key, value)
    return {**counts, "seconds": round(time.perf_counter() - t0, 3)}
