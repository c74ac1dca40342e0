"""Neo4j store: the same contract as the embedded store, on a Neo4j 5 server (official driver).

The layout is described in :mod:`kg.neo4j.schema`. Every write of a source is one managed
transaction made of a fixed number of sch.batched ``UNWIND ... MERGE`` statements (no per-row round
trips); the merge rules are the embedded store's, from :mod:`kg.store.merge`. A transaction that
fails because the connection dropped is retried for ``retry`` seconds and then reported as
:class:`~kg.errors.StoreConnectionError`; nothing of it was committed, and writing the same source
again converges to the same graph (no duplicates).

No call waits on the server for ever: each query and each write transaction runs under a
client-side deadline of ``$KG_NEO4J_TIMEOUT`` seconds (default 300; also sent to the server as the
transaction timeout), so a frozen or overloaded server gives a :class:`~kg.errors.StoreConnectionError`
instead of a hang. A write that times out may or may not have been applied; running the same
command again converges (writes are idempotent).

Embeddings (``embedding``, LIST<FLOAT>, vector index ``kg_embedding``) of searchable nodes are
computed with the encoder the store is given from above (:meth:`Neo4jStore.use_encoder`; opening
the store through :class:`kg.KnowledgeGraph` or :func:`retrieval.backends.backend_for` gives it
:func:`retrieval.encoder.load_encoder`): during writes with ``?embed=true``, else in batches by
:meth:`Neo4jStore.sync_embeddings` (called before a dense search); ``?embed=false`` turns them
off. See :mod:`kg.neo4j.embeddings`.

>>> store = Neo4jStore("neo4j://neo4j:secret@localhost:7687?encoder=hash")  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import orjson

from kg.errors import ConfigError, KGError, StoreConnectionError, StoreError, require
from kg.model import Edge, Node, ReadResult
from kg.neo4j import schema as sch
from kg.neo4j.schema import KEY, META, NODE, SOURCE, SUPPORTS, TOMBSTONE, decode_props, dumps, loads
from kg.store.base import Changes, Direction, GraphStore, SourceInfo, SourceState, WriteStats
from kg.store.merge import EdgeKey, collapse, remap, resolve_ids
from kg.store.provenance import EdgeSupport, NodeKey, NodeSupport

_Support = tuple[set[str], dict[EdgeKey, dict[str, Any]], set[tuple[str, str]]]  # what one source supports
_PAGE = 5000
TIMEOUT_ENV = "KG_NEO4J_TIMEOUT"
DEFAULT_TIMEOUT = 300.0
# The driver logs each retry of a failed transaction as a WARNING; with no logging configured,
# Python would print those to stderr around the one-line error. They reach an application's own
# handlers as before; only the last-resort printing is off.
logging.getLogger("neo4j").addHandler(logging.NullHandler())


def query_timeout() -> float:
    """Seconds a query or write transaction may wait on the server: ``$KG_NEO4J_TIMEOUT``, default 300."""
    raw = os.environ.get(TIMEOUT_ENV, "").strip()
    if not raw:
        return DEFAULT_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise ConfigError(f"{TIMEOUT_ENV}={raw!r}: expected a number of seconds > 0")
    return value


class _Caller:
    """A daemon thread that runs the calls one thread hands it, so that thread can stop waiting.

    Reused call after call (a thread started per call costs more than the hand-over); one per
    calling thread and process, so concurrent callers are not serialised and a fork gets its own.
    """

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.stopped = False
        self._jobs: queue.SimpleQueue[tuple[Callable[[], Any], dict[str, Any], threading.Event] | None] = \
            queue.SimpleQueue()
        threading.Thread(target=self._loop, name="kg-neo4j-call", daemon=True).start()

    def _loop(self) -> None:
        while (job := self._jobs.get()) is not None:
            fn, box, done = job
            try:
                box["value"] = fn()
            except BaseException as e:  # handed to the waiting thread as is
                box["error"] = e
            done.set()

    def call(self, fn: Callable[[], Any], limit: float) -> tuple[bool, dict[str, Any]]:
        """Run ``fn`` on the thread; ``(finished within limit seconds, {"value"|"error": ...})``."""
        box: dict[str, Any] = {}
        done = threading.Event()
        self._jobs.put((fn, box, done))
        return done.wait(limit), box

    def stop(self) -> None:
        """End the thread once it is idle."""
        self.stopped = True
        self._jobs.put(None)


class Neo4jStore(GraphStore):
    """A knowledge graph in a Neo4j 5 database; see the module docstring and ``docs/neo4j.md``."""

    search_engine = "neo4j"
    runs_cypher = True

    def __init__(self, url: str) -> None:
        self._neo4j = require("neo4j", "neo4j", "the Neo4j store")
        self.options = sch.parse_url(url)
        self.url = self.options.display
        self._caches: dict[str, Any] = {}
        self._load_encoder: Callable[[str], Any] | None = None
        ex = self._neo4j.exceptions
        self._errors: tuple[type[BaseException], ...] = (ex.Neo4jError, ex.DriverError, OSError)
        self.timeout = query_timeout()
        self._callers = threading.local()
        self._all_callers: list[_Caller] = []
        self._connect()
        self._bounded("creating the schema", lambda: sch.ensure_schema(self))

    def _new_driver(self) -> Any:
        """A driver for the store's URL (no I/O: it connects on first use)."""
        auth = (self.options.user, self.options.password) if self.options.password is not None else None
        return self._neo4j.GraphDatabase.driver(
            self.options.uri, auth=auth, notifications_min_severity="OFF",
            connection_timeout=self.options.timeout, max_transaction_retry_time=self.options.retry,
            connection_acquisition_timeout=max(self.options.timeout, 30.0))

    def _connect(self) -> None:
        try:
            self.driver = self._new_driver()
            self._bounded("connecting", self.driver.verify_connectivity, min(self.timeout, self.options.timeout))
        except self._errors as e:
            raise self._translate(e, "connecting") from e

    def _bounded(self, what: str, fn: Callable[[], Any], timeout: float | None = None, *,
                 write: bool = False) -> Any:
        """``fn()`` on a helper thread, waited for at most ``timeout`` (default :attr:`timeout`) seconds.

        The driver has no client-side read timeout: against a frozen server (or one whose replies
        never come) a call would block for ever. On time-out the driver, whose connections may be
        stuck, is dropped (closed on a daemon thread) and a new one is made for the next call; a
        :class:`~kg.errors.StoreConnectionError` says what timed out.
        """
        limit = self.timeout if timeout is None else timeout
        caller: _Caller | None = getattr(self._callers, "caller", None)
        if caller is None or caller.stopped or caller.pid != os.getpid():
            caller = self._callers.caller = _Caller()
            self._all_callers.append(caller)
        finished, box = caller.call(fn, limit)
        if not finished:
            with contextlib.suppress(ValueError):  # close() may have dropped it meanwhile
                self._all_callers.remove(caller)
            caller.stop()  # its thread is stuck in the driver (it ends if that lets go); the next call gets a new one
            old = self.driver
            threading.Thread(target=self._close_quietly, args=(old,), daemon=True).start()
            with contextlib.suppress(*self._errors):
                self.driver = self._new_driver()
            tail = (" The write may or may not be applied: run the same command again (writes are idempotent)."
                    if write else "")
            limit_is = (f"the smaller of the store URL's ?timeout= and ${TIMEOUT_ENV}" if what == "connecting"
                        else f"${TIMEOUT_ENV}")
            raise StoreConnectionError(f"Neo4j at {self.url} did not answer within {limit:g}s ({what}); the server "
                                       f"is frozen, overloaded or unreachable (the limit is {limit_is}).{tail}")
        if "error" in box:
            raise box["error"]
        return box.get("value")

    # -- plumbing --------------------------------------------------------------------------------
    def _translate(self, e: BaseException, what: str) -> KGError:
        ex = self._neo4j.exceptions
        where = self.url
        if isinstance(e, ex.AuthError):
            return StoreConnectionError(f"Neo4j at {where} rejected the credentials (put them in the store URL "
                                        "or set NEO4J_USERNAME/NEO4J_PASSWORD)")
        if isinstance(e, ex.IncompleteCommit):
            return StoreConnectionError(f"the connection to Neo4j at {where} was lost while committing ({what}); "
                                        "the change may or may not be applied: run the same command again "
                                        "(writes are idempotent)")
        if isinstance(e, (ex.ServiceUnavailable, ex.SessionExpired, ex.ConnectionAcquisitionTimeoutError, OSError)):
            reason = " ".join(str(e).split())
            tail = "" if what == "connecting" else (" Nothing of the failed transaction was committed; run the same "
                                                    "command again to continue (writes are idempotent).")
            return StoreConnectionError(f"cannot reach Neo4j at {where} ({what}): {reason}. Is the server running "
                                        f"(kg neo4j start)?{tail}")
        if isinstance(e, ex.Neo4jError):
            return StoreError(f"Neo4j failed ({what}): {e.code}: {e.message}")
        return StoreError(f"Neo4j driver error ({what}): {e}")

    def _session(self, read: bool = False) -> Any:
        mode = self._neo4j.READ_ACCESS if read else self._neo4j.WRITE_ACCESS
        return self.driver.session(database=self.options.database, default_access_mode=mode)

    def _read(self, query: str, what: str = "reading", **params: Any) -> list[Any]:
        try:
            q = self._neo4j.Query(query, timeout=self.timeout)
            records, _, _ = self._bounded(what, lambda: self.driver.execute_query(
                q, params, database_=self.options.database, routing_=self._neo4j.RoutingControl.READ))
            return list(records)
        except self._errors as e:
            raise self._translate(e, what) from e

    def _write_tx(self, what: str, fn: Callable[..., Any], *args: Any) -> Any:
        for attempt in range(3):
            try:
                return self._bounded(what, lambda: self._run_write(fn, *args), write=True)
            except self._neo4j.exceptions.ConstraintError as e:
                # another writer created a node this one checked absent (CREATE): read again, retry
                if attempt == 2:
                    raise self._translate(e, what) from e
            except self._errors as e:
                raise self._translate(e, what) from e
        raise AssertionError("unreachable")

    def _close_quietly(self, driver: Any) -> None:
        with contextlib.suppress(*self._errors):
            driver.close()

    def _run_write(self, fn: Callable[..., Any], *args: Any) -> Any:
        with self._session() as s:
            return s.execute_write(self._neo4j.unit_of_work(timeout=self.timeout)(fn), *args)

    # -- embeddings ------------------------------------------------------------------------------
    @property
    def embed_enabled(self) -> bool:
        """Whether this store keeps embeddings (URL ``embed``, ``$KG_EMBED``, else when loadable)."""
        if self.options.embed is not None:
            return self.options.embed
        import importlib.util

        return self.encoder_spec.startswith("hash") or importlib.util.find_spec("sentence_transformers") is not None

    @property
    def encoder_spec(self) -> str:
        """The encoder named in the URL, else the one recorded in the store, else ``''`` (the
        default of the encoder loader)."""
        if "spec" not in self._caches:
            self._caches["spec"] = self.options.encoder or self._internal_meta("encoder") or ""
        return str(self._caches["spec"])

    def use_encoder(self, load: Callable[[str], Any]) -> None:
        """Give the store the function that loads its encoder from a spec (an encoder has ``name``,
        ``dim`` and ``encode``); :func:`retrieval.backends.backend_for` gives it
        :func:`retrieval.encoder.load_encoder`. Without one the store computes no embeddings."""
        self._load_encoder = load

    @property
    def embeds_on_write(self) -> bool:
        """Whether writes compute the embeddings of the nodes they change (``?embed=true`` and an
        encoder given); otherwise :meth:`sync_embeddings` does, before a dense search."""
        return bool(self.options.embed) and self._load_encoder is not None

    @property
    def encoder(self) -> Any:
        """The loaded encoder (checked against the store and the vector index on first use)."""
        if self._load_encoder is None:
            raise ConfigError("this Neo4j store was given no encoder: open it through kg.KnowledgeGraph, or call "
                              "use_encoder(retrieval.encoder.load_encoder)")
        from kg.neo4j.embeddings import store_encoder

        return store_encoder(self, self._load_encoder)

    def sync_embeddings(self, *, force: bool = False) -> int:
        """Embed searchable nodes changed since the last sync (all of them with ``force``); returns how many."""
        from kg.neo4j.embeddings import sync_embeddings

        return sync_embeddings(self, force=force)

    def reembed(self) -> int:
        """Recompute every embedding with this store's encoder (after changing ``?encoder=``)."""
        self._caches["encoder_checked"] = True  # skip the mismatch check: we are fixing it
        self._set_internal_meta("encoder", self.encoder.name)
        return self.sync_embeddings(force=True)

    # -- writes ----------------------------------------------------------------------------------
    def write_source(self, source: SourceInfo, result: ReadResult, *, derived: bool = False) -> WriteStats:
        if self.embeds_on_write:
            _ = self.encoder  # load and check outside the transaction
        stats: WriteStats = self._write_tx(f"writing {source.path}", self._tx_write, source, result, derived)
        return stats

    def remove_source(self, path: str) -> WriteStats:
        stats: WriteStats = self._write_tx(f"removing {path}", self._tx_remove, path)
        return stats

    def _bump(self, tx: Any) -> int:
        rec = tx.run(f"MERGE (m:{META} {{key: 'version'}}) ON CREATE SET m.value = 0 "
                     "SET m.value = m.value + 1 RETURN m.value AS v").single()
        return int(rec["v"])

    def _tx_write(self, tx: Any, source: SourceInfo, result: ReadResult, derived: bool) -> WriteStats:
        stats = WriteStats()
        path = source.path
        version = self._bump(tx)
        rec = tx.run(f"MERGE (s:{SOURCE} {{path: $path}}) ON CREATE SET s.hash = $hash RETURN s.derived AS d",
                     path=path, hash=source.hash).single()
        was_derived = bool(rec["d"])
        nodes, edges = collapse(result)
        keyed = {nid: r.keys for nid, r in nodes.items() if r.keys}
        if keyed:  # entity resolution against other sources' keys
            key_owner: dict[str, set[str]] = {}
            for row in sch.run(tx, f"UNWIND $keys AS k MATCH (x:{KEY} {{key: k}}) WHERE x.source <> $path "
                               "RETURN x.key AS key, x.node AS node",
                               keys=sorted({k for keys in keyed.values() for k in keys}), path=path):
                key_owner.setdefault(row["key"], set()).add(row["node"])
            owners = sorted({n for s in key_owner.values() for n in s})
            existing: dict[str, set[str]] = {o: set() for o in owners}
            for r in sch.run(tx, f"UNWIND $ids AS i MATCH (x:{KEY} {{node: i}}) WHERE x.source <> $path "
                             "RETURN x.key AS key, x.node AS node", ids=owners, path=path):
                existing[r["node"]].add(r["key"])
            def taken(ids: list[str]) -> set[str]:  # nodes of those ids another source supports
                return {r["id"] for r in sch.run(
                    tx, f"UNWIND $ids AS id MATCH (s:{SOURCE})-[:{SUPPORTS}]->(:{NODE} {{id: id}}) "
                    "WHERE s.path <> $path RETURN DISTINCT id", ids=ids, path=path)}

            record_map, renames = resolve_ids(keyed, existing, key_owner, taken)
            for old, new in sorted(renames.items()):
                self._rename(tx, old, new, version)
                stats.renamed[old] = new
            nodes, edges = remap(nodes, edges, record_map)
        edges = dict(edges)
        missing = {x for k in edges for x in (k[0], k[2]) if x not in nodes}
        if derived and missing:
            missing -= {r["id"] for r in sch.run(
                tx, f"UNWIND $ids AS id MATCH (n:{NODE} {{id: id}}) RETURN id", ids=sorted(missing))}
        for key in [k for k in edges if k[0] in missing or k[2] in missing]:
            del edges[key]
            stats.dropped_edges += 1
        before = self._source_support(tx, path, was_derived)
        self._apply(tx, path, version, stats, nodes, edges, before)
        if derived:  # derived edges (topics, links) change what their endpoints are filtered by
            ends = sorted({x for k in {*before[1], *edges} for x in (k[0], k[2])} - set(nodes))
            sch.batched(self, tx, f"UNWIND $rows AS id MATCH (n:{NODE} {{id: id}}) SET n._v = $v", ends, v=version)
        tx.run(f"MATCH (s:{SOURCE} {{path: $path}}) SET s.hash = $hash, s.size = $size, s.mtime = $mtime, "
               "s.reader = $reader, s.n_nodes = $nn, s.n_edges = $ne, s.warnings = $w, s.errors = $e, "
               "s.ingested_at = $at, s.derived = $derived",
               path=path, hash=source.hash, size=source.size, mtime=float(source.mtime), reader=source.reader,
               nn=len(nodes), ne=len(edges), w=dumps(result.warnings), e=dumps(result.errors),
               at=time.strftime("%Y-%m-%dT%H:%M:%S"), derived=derived).consume()
        return stats

    def _tx_remove(self, tx: Any, path: str) -> WriteStats:
        stats = WriteStats()
        rec = tx.run(f"MATCH (s:{SOURCE} {{path: $path}}) RETURN s.derived AS d", path=path).single()
        if rec is None:
            return stats
        version = self._bump(tx)
        self._apply(tx, path, version, stats, {}, {}, self._source_support(tx, path, bool(rec["d"])))
        tx.run(f"MATCH (s:{SOURCE} {{path: $path}}) DETACH DELETE s", path=path).consume()
        return stats

    def _source_support(self, tx: Any, path: str, derived: bool) -> _Support:
        """Nodes, edges (with every source's support) and (key, node) pairs ``path`` supports now."""
        nodes = {r["id"] for r in sch.run(
            tx, f"MATCH (:{SOURCE} {{path: $path}})-[:{SUPPORTS}]->(n:{NODE}) RETURN n.id AS id", path=path)}
        # an edge of an ordinary source joins two of its nodes; a derived source's may join any two
        start = f"MATCH (n:{NODE})" if derived else f"MATCH (:{SOURCE} {{path: $path}})-[:{SUPPORTS}]->(n:{NODE})"
        edges = {(r["s"], r["t"], r["d"]): loads(r["sup"]) for r in sch.run(
            tx, start + f" MATCH (n)-[r]->(m:{NODE}) WHERE $path IN r._src "
            "RETURN n.id AS s, type(r) AS t, m.id AS d, r._sup AS sup", path=path)}
        keys = {(r["k"], r["n"]) for r in sch.run(
            tx, f"UNWIND $ids AS id MATCH (k:{KEY} {{node: id}}) WHERE k.source = $path "
            "RETURN k.key AS k, k.node AS n", ids=sorted(nodes), path=path)}  # keys live on supported nodes
        return nodes, edges, keys

    def _apply(self, tx: Any, path: str, version: int, stats: WriteStats, fresh_nodes: dict[str, Any],
               fresh_edges: dict[EdgeKey, dict[str, Any]], old: _Support) -> None:
        """Replace what ``path`` supports by ``fresh_*`` and refresh every node/edge that touches."""
        old_nodes, old_edges, old_keys = old
        touched = old_nodes | set(fresh_nodes)
        state = sch.node_state(self, tx, sorted(touched), path)
        sups = dict(old_edges)
        sups.update(sch.edge_sups(self, tx, [k for k in fresh_edges if k not in old_edges
                                             and k[0] in state and k[2] in state]))
        edge_up: list[tuple[EdgeKey, dict[str, Any]]] = []
        edge_del: list[EdgeKey] = []
        for key in sorted(set(old_edges) | set(fresh_edges)):
            sup = {p: pr for p, pr in sups.get(key, {}).items() if p != path}
            if key in fresh_edges:
                sup[path] = fresh_edges[key]
            if sup:
                edge_up.append((key, sup))
            else:
                edge_del.append(key)
        node_up: list[tuple[str, str, dict[str, Any], sch.NodeState | None]] = []
        node_del: list[str] = []
        for nid in sorted(touched):
            st = state.get(nid)
            nsup = list(st.sups) if st else []
            rec = fresh_nodes.get(nid)
            if rec is not None:
                nsup.append((rec.stub, path, rec.label, rec.properties))
            if nsup:
                node_up.append((nid, *sch.merged(nsup), st))
            else:
                node_del.append(nid)
        # diff the source's supports and keys rather than delete-and-recreate: deleting many nodes early
        # in a transaction makes every later index lookup of it slower
        sch.batched(self, tx, f"MATCH (s:{SOURCE} {{path: $path}}) UNWIND $rows AS id MATCH (n:{NODE} {{id: id}}) "
                    f"CALL (s, n) {{ MATCH (s)-[r:{SUPPORTS}]->(n) DELETE r }}", sorted(old_nodes - set(fresh_nodes)),
                    path=path)
        sch.upsert_nodes(self, tx, node_up, version)
        for known in (True, False):
            sch.batched(self, tx, f"MATCH (s:{SOURCE} {{path: $path}}) UNWIND $rows AS row MATCH (n:{NODE} {{id: row.id}}) "
                        f"{'MERGE' if known else 'CREATE'} (s)-[r:{SUPPORTS}]->(n) SET r.label = row.label, "
                        "r.stub = row.stub, r.props = row.props, r._v = $v",
                        [{"id": r.id, "label": r.label, "stub": r.stub, "props": dumps(r.properties)}
                         for r in fresh_nodes.values() if (r.id in old_nodes) == known], path=path, v=version)
        new_keys = {(k, r.id) for r in fresh_nodes.values() for k in r.keys}
        sch.batched(self, tx, f"UNWIND $rows AS row CREATE (:{KEY} {{key: row[0], node: row[1], source: $path, _v: $v}})",
                    sorted(new_keys - old_keys), path=path, v=version)
        sch.delete_edges(self, tx, edge_del)
        sch.upsert_edges(self, tx, edge_up, version, lambda k: k in sups)
        sch.delete_nodes(self, tx, node_del, version)
        sch.batched(self, tx, f"UNWIND $rows AS row MATCH (k:{KEY} {{key: row[0]}}) WHERE k.node = row[1] "
                    "AND k.source = $path DELETE k", sorted(old_keys - new_keys), path=path)
        stats.nodes_written += len(node_up)
        stats.edges_written += len(edge_up)
        stats.nodes_deleted += len(node_del)
        stats.edges_deleted += len(edge_del)
        self._rekey(tx, touched - set(fresh_nodes), version, stats)

    def _rename(self, tx: Any, old: str, new: str, version: int) -> None:
        """Move a node (supports, keys, edges) to a new id, merging into ``new`` if it exists."""
        state = sch.node_state(self, tx, [old, new], None)
        so, sn = state.get(old), state.get(new)
        if so is None:
            return
        have = {s[1] for s in sn.sups} if sn else set()
        moved = [s for s in so.sups if s[1] not in have]
        krows = sch.run(tx, f"UNWIND $ids AS id MATCH (k:{KEY} {{node: id}}) RETURN k.node AS node, "
                        "k.key AS key, k.source AS source", ids=[old, new])
        kept = {(r["key"], r["source"]) for r in krows if r["node"] == new}
        move_keys = sorted({(r["key"], r["source"]) for r in krows if r["node"] == old} - kept)
        moved_edges: dict[EdgeKey, dict[str, Any]] = {}
        erows = sch.run(tx, f"MATCH (a:{NODE} {{id: $old}})-[r]-(:{NODE}) RETURN DISTINCT startNode(r).id AS s, "
                        "type(r) AS t, endNode(r).id AS d, r._sup AS sup", old=old)
        for r in sorted(erows, key=lambda r: (r["s"], r["t"], r["d"])):
            key = (new if r["s"] == old else r["s"], r["t"], new if r["d"] == old else r["d"])
            acc = moved_edges.setdefault(key, {})
            for p, pr in loads(r["sup"]).items():
                acc.setdefault(p, pr)
        at_new = sch.edge_sups(self, tx, list(moved_edges))
        final = []
        for key, sup in moved_edges.items():
            combined = dict(at_new.get(key, {}))
            for p, pr in sup.items():
                combined.setdefault(p, pr)
            final.append((key, combined))
        sch.upsert_nodes(self, tx, [(new, *sch.merged([*(sn.sups if sn else []), *moved]), sn)], version)
        sch.batched(self, tx, f"UNWIND $rows AS row MATCH (s:{SOURCE} {{path: row.path}}) MATCH (n:{NODE} {{id: $new}}) "
                    f"CREATE (s)-[:{SUPPORTS} {{label: row.label, stub: row.stub, props: row.props, _v: $v}}]->(n)",
                    [{"path": p, "label": lab, "stub": stub, "props": dumps(pr)} for stub, p, lab, pr in moved],
                    new=new, v=version)
        tx.run(f"MATCH (k:{KEY} {{node: $old}}) DELETE k", old=old).consume()
        sch.batched(self, tx, f"UNWIND $rows AS row CREATE (:{KEY} {{key: row[0], node: $new, source: row[1], _v: $v}})",
                    move_keys, new=new, v=version)
        sch.upsert_edges(self, tx, final, version, lambda k: k in at_new)
        sch.delete_nodes(self, tx, [old], version)

    def _rekey(self, tx: Any, ids: set[str], version: int, stats: WriteStats) -> None:
        """After supports were removed, a paper's best key may have changed: rename it."""
        from kg.ids import paper_id_from_keys

        papers = sorted(i for i in ids if i.startswith("paper:"))
        if not papers:
            return
        rows = sch.run(tx, f"UNWIND $ids AS id MATCH (k:{KEY} {{node: id}}) RETURN id, collect(k.key) AS keys",
                         ids=papers)
        for r in sorted(rows, key=lambda r: r["id"]):
            keys = sorted(set(r["keys"]))
            target = paper_id_from_keys(keys)
            if target != r["id"] and target.startswith("paper:title:") and sch.run(
                    tx, f"MATCH (n:{NODE} {{id: $id}}) RETURN n.id AS id", id=target):
                target = paper_id_from_keys(keys, keep_year=True)  # a namesake holds the title id
            if target != r["id"]:
                self._rename(tx, r["id"], target, version)
                stats.renamed[r["id"]] = target

    # -- sources ---------------------------------------------------------------------------------
    @staticmethod
    def _source_state(p: dict[str, Any]) -> SourceState:
        return SourceState(path=p["path"], hash=p.get("hash") or "", size=p.get("size") or 0,
                           mtime=p.get("mtime") or 0.0, reader=p.get("reader") or "",
                           n_nodes=p.get("n_nodes") or 0, n_edges=p.get("n_edges") or 0,
                           warnings=loads(p.get("warnings")) or [], errors=loads(p.get("errors")) or [],
                           ingested_at=p.get("ingested_at") or "")

    def source(self, path: str) -> SourceState | None:
        rows = self._read(f"MATCH (s:{SOURCE} {{path: $path}}) RETURN properties(s) AS p", path=path)
        return self._source_state(rows[0]["p"]) if rows else None

    def sources(self) -> list[SourceState]:
        rows = self._read(f"MATCH (s:{SOURCE}) RETURN properties(s) AS p")
        return sorted((self._source_state(r["p"]) for r in rows), key=lambda s: s.path)

    def touch_source(self, path: str, mtime: float) -> None:
        self._write_tx(f"touching {path}", lambda tx: tx.run(
            f"MATCH (s:{SOURCE} {{path: $path}}) SET s.mtime = $m", path=path, m=float(mtime)).consume())

    # -- reads -----------------------------------------------------------------------------------
    _NODE_RET = "n.id AS id, labels(n) AS labels, n {.*, embedding: null} AS p"
    _EDGE_RET = "a.id AS s, type(r) AS t, b.id AS d, r {.*, _sup: null, _src: null} AS p"

    @staticmethod
    def _node(r: Any) -> Node:
        return Node(r["id"], sch.label_of(r["labels"]), decode_props(r["p"]))

    @staticmethod
    def _edge(r: Any) -> Edge:
        return Edge(r["s"], r["d"], r["t"], decode_props(r["p"]))

    def get_nodes(self, ids: Sequence[str]) -> dict[str, Node]:
        out: dict[str, Node] = {}
        ids = list(dict.fromkeys(ids))
        for i in range(0, len(ids), _PAGE):
            for r in self._read(f"UNWIND $ids AS id MATCH (n:{NODE} {{id: id}}) RETURN {self._NODE_RET}",
                                ids=ids[i:i + _PAGE]):
                out[r["id"]] = self._node(r)
        return out

    def _id_pages(self, labels: list[str] | None) -> Iterator[list[Any]]:
        after = ""
        where = "" if labels is None else " AND any(l IN labels(n) WHERE l IN $labels)"
        while True:
            rows = self._read(f"MATCH (n:{NODE}) WHERE n.id > $after{where} "
                              f"RETURN {self._NODE_RET} ORDER BY n.id LIMIT $page",
                              after=after, labels=labels, page=_PAGE)
            if not rows:
                return
            yield rows
            after = rows[-1]["id"]

    def iter_nodes(self, labels: Iterable[str] | None = None) -> Iterator[Node]:
        for rows in self._id_pages(list(labels) if labels is not None else None):
            yield from (self._node(r) for r in rows)

    def _types(self, types: Iterable[str] | None) -> str:
        return "" if types is None else ":" + "|".join(sch.ident(t) for t in types)

    def iter_edges(self, types: Iterable[str] | None = None) -> Iterator[Edge]:
        ts = list(types) if types is not None else None
        if ts == []:
            return
        after = ""
        while True:
            ids = [r["id"] for r in self._read(f"MATCH (n:{NODE}) WHERE n.id > $after "
                                               "RETURN n.id AS id ORDER BY n.id LIMIT $page", after=after, page=_PAGE)]
            if not ids:
                return
            after = ids[-1]
            rows = self._read(f"UNWIND $ids AS id MATCH (a:{NODE} {{id: id}})-[r{self._types(ts)}]->(b:{NODE}) "
                              f"RETURN {self._EDGE_RET}", ids=ids)
            yield from sorted((self._edge(r) for r in rows), key=lambda e: (e.source, e.type, e.target))

    def edges_of(self, ids: Sequence[str], *, types: Iterable[str] | None = None,
                 direction: Direction = "both") -> list[Edge]:
        ts = list(types) if types is not None else None
        if ts == [] or not ids:
            return []
        pats = ([f"(a:{NODE} {{id: id}})-[r{self._types(ts)}]->(b:{NODE})"] if direction in ("out", "both") else []) \
            + ([f"(a:{NODE})-[r{self._types(ts)}]->(b:{NODE} {{id: id}})"] if direction in ("in", "both") else [])
        out: dict[tuple[str, str, str], Edge] = {}
        ids = list(dict.fromkeys(ids))
        for i in range(0, len(ids), _PAGE):
            for pat in pats:
                for r in self._read(f"UNWIND $ids AS id MATCH {pat} RETURN {self._EDGE_RET}", ids=ids[i:i + _PAGE]):
                    out[(r["s"], r["t"], r["d"])] = self._edge(r)
        return [out[k] for k in sorted(out)]

    def _all_ids(self) -> Iterator[list[str]]:
        """Every node id, in pages, in id order."""
        after = ""
        while ids := [r["id"] for r in self._read(f"MATCH (n:{NODE}) WHERE n.id > $after RETURN n.id AS id "
                                                   "ORDER BY n.id LIMIT $page", after=after, page=_PAGE)]:
            yield ids
            after = ids[-1]

    def _pages(self, ids: Sequence[str] | None) -> Iterator[list[str]]:
        if ids is None:
            yield from self._all_ids()
            return
        ids = list(dict.fromkeys(ids))
        for i in range(0, len(ids), _PAGE):
            yield ids[i:i + _PAGE]

    def node_supports(self, ids: Sequence[str] | None = None) -> Iterator[NodeSupport]:
        for page in self._pages(ids):
            for r in self._read(f"UNWIND $ids AS id MATCH (s:{SOURCE})-[r:{SUPPORTS}]->(:{NODE} {{id: id}}) "
                                "RETURN id, s.path AS p, r.label AS l, r.stub AS st, r.props AS pr", ids=page):
                yield r["id"], r["p"], r["l"], bool(r["st"]), r["pr"]

    def node_keys(self, ids: Sequence[str] | None = None) -> Iterator[NodeKey]:
        for page in self._pages(ids):
            for r in self._read(f"UNWIND $ids AS id MATCH (k:{KEY} {{node: id}}) "
                                "RETURN k.key AS k, k.node AS n, k.source AS s", ids=page):
                yield r["k"], r["n"], r["s"]

    def edge_supports(self, keys: Iterable[EdgeKey] | None = None) -> Iterator[EdgeSupport]:
        if keys is None:
            for page in self._all_ids():
                rows = self._read(f"UNWIND $ids AS id MATCH (a:{NODE} {{id: id}})-[r]->(b:{NODE}) "
                                  "RETURN a.id AS s, type(r) AS t, b.id AS d, r._sup AS sup", ids=page)
                yield from self._supports_of(sorted(rows, key=lambda r: (r["s"], r["t"], r["d"])))
            return
        rows = self._read(f"UNWIND $rows AS row MATCH (a:{NODE} {{id: row[0]}}) MATCH (b:{NODE} {{id: row[2]}}) "
                          "CALL (a, b, row) { MATCH (a)-[r]->(b) WHERE type(r) = row[1] RETURN r } "
                          "RETURN row[0] AS s, row[1] AS t, row[2] AS d, r._sup AS sup", rows=[list(k) for k in keys])
        yield from self._supports_of(rows)

    @staticmethod
    def _supports_of(rows: Iterable[Any]) -> Iterator[EdgeSupport]:
        for r in rows:
            for path, props in orjson.loads(r["sup"]).items():
                yield r["s"], r["t"], r["d"], path, props

    def derived_sources(self) -> set[str]:
        return {r["p"] for r in self._read(f"MATCH (s:{SOURCE}) WHERE s.derived RETURN s.path AS p")}

    def node_sources(self, node_id: str) -> list[str]:
        return sorted(r["p"] for r in self._read(
            f"MATCH (s:{SOURCE})-[:{SUPPORTS}]->(:{NODE} {{id: $id}}) RETURN s.path AS p", id=node_id))

    def ids_by_source(self, prefix: str) -> set[str]:
        folder = prefix.rstrip("/") + "/"
        return {r["id"] for r in self._read(
            f"MATCH (s:{SOURCE})-[:{SUPPORTS}]->(n:{NODE}) WHERE s.path = $p OR s.path STARTS WITH $f "
            "RETURN DISTINCT n.id AS id", p=prefix, f=folder)}

    def counts(self) -> dict[str, dict[str, int]]:
        nodes = {r["l"]: r["c"] for r in self._read(
            f"MATCH (n:{NODE}) RETURN [l IN labels(n) WHERE l <> '{NODE}'][0] AS l, count(*) AS c")}
        edges = {r["t"]: r["c"] for r in self._read(
            f"MATCH (:{NODE})-[r]->(:{NODE}) RETURN type(r) AS t, count(*) AS c")}
        return {"nodes": dict(sorted(nodes.items())), "edges": dict(sorted(edges.items()))}

    def changes_since(self, version: int) -> Changes:
        up = sorted(r["id"] for r in self._read(f"MATCH (n:{NODE}) WHERE n._v > $v RETURN n.id AS id", v=version))
        gone = sorted(r["id"] for r in self._read(
            f"MATCH (t:{TOMBSTONE}) WHERE t.v > $v AND NOT EXISTS {{ MATCH (:{NODE} {{id: t.id}}) }} "
            "RETURN t.id AS id", v=version))
        return Changes(up, gone, self.version())

    def version(self) -> int:
        return int(self._internal_meta("version") or 0)

    # -- metadata --------------------------------------------------------------------------------
    def _internal_meta(self, key: str) -> Any:
        rows = self._read(f"MATCH (m:{META} {{key: $k}}) RETURN m.value AS v", k=key)
        return rows[0]["v"] if rows else None

    def _set_internal_meta(self, key: str, value: Any) -> None:
        self._write_tx(f"setting {key}", lambda tx: tx.run(
            f"MERGE (m:{META} {{key: $k}}) SET m.value = $v", k=key, v=value).consume())

    def get_meta(self, key: str) -> Any:
        return loads(self._internal_meta("user:" + key))

    def set_meta(self, key: str, value: Any) -> None:
        self._set_internal_meta("user:" + key, dumps(value))

    def user_meta(self) -> dict[str, Any]:
        return {r["k"][5:]: orjson.loads(r["v"]) for r in self._read(
            f"MATCH (m:{META}) WHERE m.key STARTS WITH 'user:' RETURN m.key AS k, m.value AS v")}

    def clear(self) -> None:
        """Delete every kgloom node of this database (the schema stays); the store is then empty."""
        from kg.neo4j.schema import INTERNAL_LABELS

        try:
            with self._session() as s:
                for label in INTERNAL_LABELS:
                    s.run(f"MATCH (n:{label}) CALL (n) {{ DETACH DELETE n }} IN TRANSACTIONS OF 10000 ROWS").consume()
        except self._errors as e:
            raise self._translate(e, "clearing the database") from e
        self._caches.clear()

    def reopen(self) -> None:
        """Close the driver and connect a new one."""
        self.close()
        self._connect()

    def close(self) -> None:
        with contextlib.suppress(*self._errors):
            self.driver.close()
        while self._all_callers:
            self._all_callers.pop().stop()

    # -- Cypher ----------------------------------------------------------------------------------------
    def cypher(self, query: str, params: dict[str, Any] | None = None, *, timeout: float = 30.0,
               max_rows: int = 10_000) -> Any:
        """Run a read-only Cypher query; see :func:`kg.neo4j.cypher_guard.run_read_only`."""
        from kg.neo4j.cypher_guard import run_read_only

        return run_read_only(self, query, params or {}, timeout=timeout, max_rows=max_rows)
