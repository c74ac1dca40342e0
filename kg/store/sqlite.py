"""Embedded store: SQLite (WAL) in one folder, the source of truth for the graph.

Tables: ``nodes``/``edges`` hold merged, materialised rows; ``node_support``/``edge_support``
hold what each source contributed; ``node_keys`` holds identity keys for entity resolution;
``tombstones`` and the ``version`` column let search indexes follow changes incrementally.

A node supported by one source only stores its properties once: its ``node_support.props`` is
``''`` (:data:`SHARED`), meaning "the ``nodes`` row holds exactly these". Before a second source
merges into such a node (or it is renamed), the support gets its own copy back (``_materialize``).
"""

from __future__ import annotations

import contextlib
import operator
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import orjson

from kg.errors import StoreError, StoreNotFoundError
from kg.faults import checkpoint
from kg.model import CAPTION_PROPERTIES, Edge, Node, ReadResult, caption
from kg.store.base import Changes, Direction, GraphStore, SourceInfo, SourceState, WriteStats
from kg.store.first_load import FirstLoad
from kg.store.first_load_edges import TablePart
from kg.store.merge import EdgeKey, collapse, merge_props, remap, resolve_ids
from kg.store.provenance import EdgeSupport, NodeKey, NodeSupport

SCHEMA_VERSION = 2  # 2: node_support.props may be SHARED (''); a version-1 store is valid as it is
DB_NAME = "graph.sqlite"
PAGE_SIZE = 16384
BUSY_TIMEOUT_MS = 5000  # sqlite3.connect's default
OPEN_RETRY_S = 30.0  # how long opening retries an immediate "database is locked" (see SQLiteStore._connect)
EDGE_PART_ABOVE = 50_000  # a first load with more edges has them built by a second process
PART_TABLES = ("edges", "edge_support")  # the tables it builds

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sources(
  id INTEGER PRIMARY KEY, path TEXT UNIQUE NOT NULL, hash TEXT NOT NULL, size INTEGER, mtime REAL,
  reader TEXT, n_nodes INTEGER, n_edges INTEGER, warnings TEXT, errors TEXT, ingested_at TEXT);
CREATE TABLE IF NOT EXISTS nodes(
  id TEXT PRIMARY KEY, label TEXT NOT NULL, props TEXT NOT NULL, version INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS nodes_label ON nodes(label);
CREATE INDEX IF NOT EXISTS nodes_version ON nodes(version);
CREATE TABLE IF NOT EXISTS node_support(
  node_id TEXT NOT NULL, source INTEGER NOT NULL, label TEXT NOT NULL, stub INTEGER NOT NULL,
  props TEXT NOT NULL, PRIMARY KEY(node_id, source)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS node_support_source ON node_support(source);
CREATE TABLE IF NOT EXISTS node_keys(
  key TEXT NOT NULL, node_id TEXT NOT NULL, source INTEGER NOT NULL,
  PRIMARY KEY(key, node_id, source)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS node_keys_node ON node_keys(node_id);
CREATE INDEX IF NOT EXISTS node_keys_source ON node_keys(source);
CREATE TABLE IF NOT EXISTS edges(
  src TEXT NOT NULL, type TEXT NOT NULL, dst TEXT NOT NULL, props TEXT NOT NULL,
  PRIMARY KEY(src, type, dst)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS edges_dst ON edges(dst, type);
CREATE TABLE IF NOT EXISTS edge_support(
  src TEXT NOT NULL, type TEXT NOT NULL, dst TEXT NOT NULL, source INTEGER NOT NULL, props TEXT NOT NULL,
  PRIMARY KEY(src, type, dst, source)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS edge_support_source ON edge_support(source);
CREATE TABLE IF NOT EXISTS tombstones(node_id TEXT PRIMARY KEY, version INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS tombstones_version ON tombstones(version);
"""

_CHUNK = 900  # SQLite host-parameter limit headroom
SHARED = ""  # node_support.props of a sole support: the nodes row holds its properties

# a support's own properties, whether stored (props) or shared with its node's row
SUPPORT_PROPS_SQL = ("CASE WHEN ns.props != '' THEN ns.props WHEN ns.stub THEN json_remove(n.props, '$.stub') "
                  "ELSE n.props END")


def _insert_edges(db: sqlite3.Connection, load: FirstLoad, schema: str = "") -> None:
    """Insert a first load's ``edges`` and ``edge_support`` rows (into ``schema``, e.g. ``main.``)."""
    merged, support = load.edge_rows(_dumps)
    db.executemany(f"INSERT INTO {schema}edges VALUES(?,?,?,?)", merged)  # edges with several supports
    db.executemany(f"INSERT INTO {schema}edge_support VALUES(?,?,?,?,?)", support)
    # every other edge has one support, whose properties it has (a copy in C, in key order)
    db.execute(f"INSERT OR IGNORE INTO {schema}edges SELECT src, type, dst, props FROM {schema}edge_support")


def _dumps(v: Any) -> str:
    return orjson.dumps(v, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS).decode()


_first = operator.itemgetter(0)


def _chunks(seq: Sequence[Any], n: int = _CHUNK) -> Iterator[Sequence[Any]]:
    for i in range(0, len(seq), n):
        yield seq[i:i + n]


class SQLiteStore(GraphStore):
    """The embedded store in ``folder/graph.sqlite``.

    >>> store = SQLiteStore("/tmp/kg-doctest")  # doctest: +SKIP
    """

    folder: Path
    writes_first_loads = True

    def __init__(self, folder: str | Path, *, create: bool = True, hint: str = "kg ingest FILES") -> None:
        """Open the store in ``folder``; ``create=False`` raises :class:`~kg.errors.StoreNotFoundError`
        (``hint`` says how to create one) when it holds none, creating nothing on disk."""
        self.folder = Path(folder)
        self.url = str(self.folder)
        if not create and not (self.folder / DB_NAME).is_file():
            raise StoreNotFoundError(str(folder), hint)
        self._connect()

    def reopen(self) -> None:
        """Close this store's connection and open a new one (a connection must not cross a fork:
        a forked process reopens, and so does its parent once it is done)."""
        self.close()
        self._connect()

    def _connect(self) -> None:
        """Open the connection and create or check the schema. Another process creating or
        first-loading the same store at that moment can make SQLite answer "locked" at once,
        without its busy handler (switching to WAL, creating the tables): retried for up to
        :data:`OPEN_RETRY_S` seconds."""
        deadline = time.monotonic() + OPEN_RETRY_S
        while True:
            try:
                self._connect_once()
                return
            except StoreError as e:
                locked = isinstance(e.__cause__, sqlite3.OperationalError) and \
                    ("locked" in str(e.__cause__) or "busy" in str(e.__cause__))
                if not locked or time.monotonic() > deadline:
                    raise
                with contextlib.suppress(Exception):
                    self.db.close()
                time.sleep(0.05)

    def _connect_once(self) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.folder / DB_NAME, isolation_level=None, check_same_thread=False)
            # new stores only (a no-op once the file exists): 16 KiB pages keep abstract-sized rows
            # of the WITHOUT ROWID tables on their page instead of in mostly empty overflow pages
            self.db.execute(f"PRAGMA page_size={PAGE_SIZE}")
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute("PRAGMA temp_store=MEMORY")
            self.db.execute("PRAGMA cache_size=-262144")
            self.db.executescript(_SCHEMA)
            got = self.db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            if got is None:
                # OR IGNORE: two processes may create the same store at once
                self.db.execute("INSERT OR IGNORE INTO meta VALUES('schema_version', ?)", (str(SCHEMA_VERSION),))
            elif int(got[0]) == 1:  # upgrade in place: older kgloom versions must not read shared supports
                self.db.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(SCHEMA_VERSION),))
            elif int(got[0]) > SCHEMA_VERSION:  # docs/store_format.md: a newer format is never guessed at
                raise StoreError(f"store format version {got[0]} at {self.folder} is newer than this kgloom reads "
                                 f"({SCHEMA_VERSION}); upgrade kgloom")
            elif int(got[0]) != SCHEMA_VERSION:
                raise StoreError(f"store schema version {got[0]} is not supported (expected {SCHEMA_VERSION})")
        except sqlite3.Error as e:
            raise StoreError(f"cannot open store at {self.folder}: {e}") from e

    # -- helpers ---------------------------------------------------------------------------------
    def version(self) -> int:
        return self._version()

    def _version(self) -> int:
        row = self.db.execute("SELECT value FROM meta WHERE key='version'").fetchone()
        return int(row[0]) if row else 0

    def _bump(self) -> int:
        v = self._version() + 1
        self.db.execute("INSERT OR REPLACE INTO meta VALUES('version', ?)", (str(v),))
        return v

    def _path(self, sid: int | None) -> str:
        if sid is None:
            return ""
        row = self.db.execute("SELECT path FROM sources WHERE id=?", (sid,)).fetchone()
        return str(row[0]) if row else ""

    # Joins from a temp table of ids are written ``_tmp CROSS JOIN table``: SQLite keeps that order
    # (visit the few ids, then the table's primary key), where its planner, without statistics,
    # would scan a whole support table through its ``source`` index.
    def _temp_ids(self, name: str, ids: Iterable[str]) -> None:
        self.db.execute(f"CREATE TEMP TABLE IF NOT EXISTS {name}(id TEXT PRIMARY KEY) WITHOUT ROWID")
        self.db.execute(f"DELETE FROM {name}")
        self.db.executemany(f"INSERT OR IGNORE INTO {name} VALUES(?)", ((i,) for i in ids))

    # -- writes ----------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _transaction(self, what: str, begin: str = "BEGIN IMMEDIATE") -> Iterator[None]:
        """One transaction (IMMEDIATE unless ``begin`` says otherwise): committed on success,
        rolled back on any error."""
        self.db.execute(begin)
        try:
            yield
        except BaseException as e:
            self.db.execute("ROLLBACK")
            if isinstance(e, sqlite3.Error):
                raise StoreError(f"{what} failed: {e}") from e
            raise
        checkpoint("store.commit")
        self.db.execute("COMMIT")
        checkpoint("store.committed")

    def write_source(self, source: SourceInfo, result: ReadResult, *, derived: bool = False) -> WriteStats:
        with self._transaction(f"writing {source.path}"):
            return self._write(source, result, derived)

    def remove_source(self, path: str) -> WriteStats:
        stats = WriteStats()
        with self._transaction(f"removing {path}"):
            row = self.db.execute("SELECT id FROM sources WHERE path=?", (path,)).fetchone()
            if row is not None:
                version = self._bump()
                touched_nodes, touched_edges = self._drop_support(row[0])
                checkpoint("store.remove")
                self.db.execute("DELETE FROM sources WHERE id=?", (row[0],))
                self._refresh_edges(touched_edges, version, stats)
                self._refresh_nodes(touched_nodes, version, stats)
                self._rekey(touched_nodes, version, stats)
        return stats

    def _write(self, source: SourceInfo, result: ReadResult, derived: bool = False) -> WriteStats:
        db = self.db
        stats = WriteStats()
        version = self._bump()
        row = db.execute("SELECT id FROM sources WHERE path=?", (source.path,)).fetchone()
        sid = row[0] if row else db.execute(
            "INSERT INTO sources(path, hash) VALUES(?, ?)", (source.path, source.hash)).lastrowid
        assert sid is not None
        nodes, edges = collapse(result)
        # entity resolution against other sources' keys
        keyed = {nid: rec.keys for nid, rec in nodes.items() if rec.keys}
        if keyed:
            all_keys = sorted({k for keys in keyed.values() for k in keys})
            key_owner: dict[str, set[str]] = {}
            for part in _chunks(all_keys):
                q = ",".join("?" * len(part))
                for key, nid in db.execute(
                        f"SELECT key, node_id FROM node_keys WHERE key IN ({q}) AND source != ?", (*part, sid)):
                    key_owner.setdefault(key, set()).add(nid)
            owners = sorted({n for s in key_owner.values() for n in s})
            existing: dict[str, set[str]] = {o: set() for o in owners}
            for part in _chunks(owners):
                q = ",".join("?" * len(part))
                for key, nid in db.execute(
                        f"SELECT key, node_id FROM node_keys WHERE node_id IN ({q}) AND source != ?", (*part, sid)):
                    existing[nid].add(key)
            record_map, renames = resolve_ids(keyed, existing, key_owner, partial(self._taken, sid))
            for old, new in sorted(renames.items()):
                self._rename(old, new, version)
                stats.renamed[old] = new
            nodes, edges = remap(nodes, edges, record_map)
        # every edge endpoint must be a node this source supports (derived sources: or any stored node)
        missing = {x for k in edges for x in (k[0], k[2]) if x not in nodes}
        if derived and missing:
            missing -= set(self.get_nodes(sorted(missing)))
        for key in [k for k in edges if k[0] in missing or k[2] in missing]:
            del edges[key]
            stats.dropped_edges += 1
        touched_nodes, touched_edges = self._drop_support(sid)
        touched_nodes |= set(nodes)
        touched_edges |= set(edges)
        self._temp_ids("_touched", touched_nodes)
        existed = {r[0] for r in db.execute("SELECT n.id FROM _touched JOIN nodes n ON n.id=_touched.id")}
        others = self._other_supports(existed, sid)
        # rows go in primary-key order (sorted on their first column: cheap), for B-tree locality
        by_id = sorted(nodes.items(), key=_first)
        json_of = {nid: _dumps(r.properties) for nid, r in by_id}
        db.executemany(
            "INSERT INTO node_support VALUES(?,?,?,?,?)",
            ((nid, sid, r.label, int(r.stub), json_of[nid] if nid in others else SHARED) for nid, r in by_id))
        db.executemany(
            "INSERT OR IGNORE INTO node_keys VALUES(?,?,?)",
            sorted(((k, r.id, sid) for r in nodes.values() for k in r.keys), key=_first))
        db.executemany(
            "INSERT INTO edge_support VALUES(?,?,?,?,?)",
            sorted(((s, t, d, sid, _dumps(p)) for (s, t, d), p in edges.items()), key=_first))
        checkpoint("store.write")
        self._refresh_edges(touched_edges, version, stats, fresh=edges, sid=sid, existed=existed)
        self._refresh_nodes(touched_nodes, version, stats, fresh=nodes, sid=sid, existed=existed, json_of=json_of,
                            others=others)
        self._rekey(touched_nodes - set(nodes), version, stats)
        if derived:  # derived edges (topics, links) change what their endpoints are filtered by
            ends = sorted({x for k in touched_edges for x in (k[0], k[2])} - set(nodes))
            db.executemany("UPDATE nodes SET version=? WHERE id=?", ((version, x) for x in ends))
        db.execute(
            "UPDATE sources SET hash=?, size=?, mtime=?, reader=?, n_nodes=?, n_edges=?, warnings=?, errors=?,"
            " ingested_at=? WHERE id=?",
            (source.hash, source.size, source.mtime, source.reader, len(nodes), len(edges),
             _dumps(result.warnings), _dumps(result.errors), time.strftime("%Y-%m-%dT%H:%M:%S"), sid))
        return stats

    def write_first_load(self, load: FirstLoad) -> None:
        """Write staged new sources (see :mod:`kg.store.first_load`) in one transaction.

        Only for a store with no sources yet. Secondary indexes are built after the inserts (all
        inside the transaction). For a large load the edge tables are built by a second process
        and copied in (:mod:`kg.store.first_load_edges`).
        """
        if self.db.execute("SELECT 1 FROM sources LIMIT 1").fetchone():
            raise StoreError("a first load needs a store without sources")
        db = self.db
        schema = self._schema_sql(("nodes", "node_support", "node_keys", *PART_TABLES))
        part = None
        journal = self._set_journal("delete")
        try:
            if len(load.edges) > EDGE_PART_ABOVE:
                part = TablePart.start(self.folder, PAGE_SIZE, *self.part_sql(),
                                       lambda part_db: _insert_edges(part_db, load))
            if part is not None:
                db.execute("ATTACH ? AS part", (str(part.path),))  # not possible inside the transaction
            # deferred: an immediate one would also lock the part while its process writes it;
            # the first statement takes the store's write lock
            with self._transaction("writing a first load", begin="BEGIN" if part is not None else "BEGIN IMMEDIATE"):
                version = self._bump()
                if db.execute("SELECT 1 FROM sources LIMIT 1").fetchone():
                    raise StoreError("a first load needs a store without sources")
                # every secondary index is built after the inserts, except those of tables the part
                # fills: the copy brings their entries along
                indexes = [(name, sql) for name, (tbl, sql) in schema.items()
                           if name != tbl and not (part is not None and tbl in PART_TABLES)]
                for name, _ in indexes:
                    db.execute(f"DROP INDEX main.{name}")
                db.executemany(
                    "INSERT INTO main.sources(id, path, hash, size, mtime, reader, n_nodes, n_edges, warnings,"
                    " errors, ingested_at) VALUES(?,?,?,?,?,?,?,?,?,?,?)",
                    ((sid, s.info.path, s.info.hash, s.info.size, s.info.mtime, s.info.reader, s.n_nodes,
                      s.n_edges, _dumps(s.warnings), _dumps(s.errors), s.ingested_at)
                     for sid, s in enumerate(load.sources, 1)))
                rows, support = load.node_rows(_dumps, version, SHARED)
                db.executemany("INSERT INTO main.nodes VALUES(?,?,?,?)", rows)
                db.executemany("INSERT INTO main.node_support VALUES(?,?,?,?,?)", support)
                db.executemany("INSERT INTO main.node_keys VALUES(?,?,?)", load.key_rows())
                checkpoint("first_load.nodes")
                if part is not None and part.wait():
                    for table in PART_TABLES:  # SQLite's transfer: records and index entries as they are
                        db.execute(f"INSERT INTO main.{table} SELECT * FROM part.{table}")
                else:
                    _insert_edges(db, load, "main.")
                checkpoint("first_load.edges")
                for _, sql in indexes:
                    db.execute(sql)
        finally:
            if part is not None:
                with contextlib.suppress(sqlite3.Error):
                    db.execute("DETACH part")
                part.close()
            if journal != "delete":
                self._set_journal(journal)

    def _schema_sql(self, tables: Iterable[str]) -> dict[str, tuple[str, str]]:
        """``CREATE`` statements of ``tables`` and their indexes: name -> (table, sql)."""
        wanted = list(tables)
        return {name: (tbl, sql) for name, tbl, sql in self.db.execute(
            "SELECT name, tbl_name, sql FROM main.sqlite_master WHERE sql IS NOT NULL "
            f"AND tbl_name IN ({','.join('?' * len(wanted))}) ORDER BY type DESC, name", wanted)}

    def part_sql(self) -> tuple[list[str], list[str]]:
        """The ``CREATE TABLE`` and ``CREATE INDEX`` statements of the tables a first load's second
        process builds: this store's own, so the copy can take SQLite's transfer path."""
        schema = self._schema_sql(PART_TABLES)
        return ([sql for name, (tbl, sql) in schema.items() if name == tbl],
                [sql for name, (tbl, sql) in schema.items() if name != tbl])

    def _set_journal(self, mode: str) -> str:
        """Switch the journal mode when no other connection has the store open; returns the mode
        in force before. A first load is written with a rollback journal: it holds only the few
        pages the empty store had, where the WAL would hold (and then copy) every page written."""
        db = self.db
        before = str(db.execute("PRAGMA journal_mode").fetchone()[0]).lower()
        if before != mode:
            db.execute("PRAGMA busy_timeout=0")  # another connection open: keep the WAL, do not wait
            try:
                db.execute(f"PRAGMA journal_mode={mode}")
            except sqlite3.OperationalError:
                pass
            finally:
                db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        return before

    def _drop_support(self, sid: int) -> tuple[set[str], set[EdgeKey]]:
        db = self.db
        nodes = {r[0] for r in db.execute("SELECT node_id FROM node_support WHERE source=?", (sid,))}
        edges = {(r[0], r[1], r[2]) for r in db.execute("SELECT src, type, dst FROM edge_support WHERE source=?", (sid,))}
        db.execute("DELETE FROM node_support WHERE source=?", (sid,))
        db.execute("DELETE FROM edge_support WHERE source=?", (sid,))
        db.execute("DELETE FROM node_keys WHERE source=?", (sid,))
        return nodes, edges

    def _materialize(self, table: str) -> None:
        """Give the shared supports of the nodes listed in temp ``table`` their own properties
        (the nodes rows are about to change)."""
        self.db.execute(
            f"UPDATE node_support AS ns SET props = COALESCE((SELECT {SUPPORT_PROPS_SQL} FROM nodes n "
            f"WHERE n.id = ns.node_id), '{{}}') WHERE ns.props = '' AND ns.node_id IN (SELECT id FROM {table})")

    def _other_supports(self, ids: Iterable[str], sid: int | None) -> dict[str, list[tuple[bool, str, str, dict[str, Any]]]]:
        """Supports of ``ids`` from sources other than ``sid``: id -> [(stub, path, label, props)].

        Shared supports among them get their own properties stored (see :data:`SHARED`).
        """
        self._temp_ids("_ids", ids)
        self._materialize("_ids")
        out: dict[str, list[tuple[bool, str, str, dict[str, Any]]]] = {}
        for nid, stub, label, props, path in self.db.execute(
                "SELECT ns.node_id, ns.stub, ns.label, ns.props, s.path FROM _ids CROSS JOIN node_support ns "
                "ON ns.node_id=_ids.id JOIN sources s ON s.id=ns.source WHERE ns.source != ?", (sid or -1,)):
            out.setdefault(nid, []).append((bool(stub), path, label, orjson.loads(props)))
        return out

    def _refresh_nodes(self, ids: set[str], version: int, stats: WriteStats,
                       fresh: dict[str, Any] | None = None, sid: int | None = None,
                       existed: set[str] | None = None, json_of: dict[str, str] | None = None,
                       others: dict[str, list[tuple[bool, str, str, dict[str, Any]]]] | None = None) -> None:
        """Recompute merged rows of ``ids`` from their supports; delete unsupported ones.

        ``existed``: ids stored before this write (only those can have other supports);
        ``others``: their supports from other sources, when the caller already has them.
        """
        if not ids:
            return
        fresh = fresh or {}
        json_of = json_of or {}
        path = self._path(sid)
        if others is None:
            others = self._other_supports(ids if existed is None else ids & existed, sid)
        upserts: list[tuple[str, str, str, int]] = []
        deletes: list[str] = []
        for nid in ids:
            rec = fresh.get(nid)
            sup = others.get(nid)
            if not sup and rec is not None:  # only this source supports it: no merge needed
                if rec.stub:
                    upserts.append((nid, rec.label, _dumps({**rec.properties, "stub": True}), version))
                else:
                    upserts.append((nid, rec.label, json_of.get(nid) or _dumps(rec.properties), version))
                continue
            sup = sup or []
            if rec is not None:
                sup = [*sup, (rec.stub, path, rec.label, rec.properties)]
            if not sup:
                deletes.append(nid)
                continue
            ordered = sorted(sup, key=lambda s: (s[0], s[1]))
            props = merge_props((s[0], s[1], s[3]) for s in ordered)
            if all(s[0] for s in ordered):
                props["stub"] = True
            upserts.append((nid, ordered[0][2], _dumps(props), version))
        upserts.sort(key=_first)
        self.db.executemany("INSERT OR REPLACE INTO nodes VALUES(?,?,?,?)", upserts)
        stats.nodes_written += len(upserts)
        if deletes:
            # edges of derived sources (topics, inferred links) may point at a deleted node
            # edge_support is keyed by src only: its rows ending at a node are found through the
            # edges index on dst (every support has its merged edge), not by a scan per node
            self.db.executemany("DELETE FROM edge_support WHERE src=?", ((d,) for d in deletes))
            self.db.executemany("DELETE FROM edge_support WHERE (src, type, dst) IN "
                                "(SELECT src, type, dst FROM edges WHERE dst=?)", ((d,) for d in deletes))
            for col in ("src", "dst"):
                self.db.executemany(f"DELETE FROM edges WHERE {col}=?", ((d,) for d in deletes))
            self.db.executemany("DELETE FROM nodes WHERE id=?", ((d,) for d in deletes))
            self.db.executemany("INSERT OR REPLACE INTO tombstones VALUES(?,?)", ((d, version) for d in deletes))
            stats.nodes_deleted += len(deletes)

    def _refresh_edges(self, keys: set[EdgeKey], version: int, stats: WriteStats,
                       fresh: dict[EdgeKey, dict[str, Any]] | None = None, sid: int | None = None,
                       existed: set[str] | None = None) -> None:
        """Recompute merged rows of edges ``keys`` from their supports; delete unsupported ones.

        ``existed``: node ids stored before this write; an edge touching any other node can have
        no other support, so only edges between pre-existing nodes are looked up.
        """
        if not keys:
            return
        fresh = fresh or {}
        path = self._path(sid)
        srcs = {k[0] for k in keys if existed is None or (k[0] in existed and k[2] in existed)}
        self._temp_ids("_esrc", srcs)
        others: dict[EdgeKey, list[tuple[str, dict[str, Any]]]] = {}
        for s, t, d, props, other_path in self.db.execute(
                "SELECT es.src, es.type, es.dst, es.props, so.path FROM _esrc CROSS JOIN edge_support es ON es.src=_esrc.id "
                "JOIN sources so ON so.id=es.source WHERE es.source != ?", (sid or -1,)):
            if (s, t, d) in keys:
                others.setdefault((s, t, d), []).append((other_path, orjson.loads(props)))
        upserts, deletes = [], []
        for key in keys:
            sup = others.get(key, [])
            if key in fresh:
                if not sup:
                    upserts.append((*key, _dumps(fresh[key])))
                    continue
                sup = [*sup, (path, fresh[key])]
            if not sup:
                deletes.append(key)
                continue
            props = merge_props((False, p, pr) for p, pr in sup)
            upserts.append((*key, _dumps(props)))
        upserts.sort(key=_first)
        self.db.executemany("INSERT OR REPLACE INTO edges VALUES(?,?,?,?)", upserts)
        stats.edges_written += len(upserts)
        if deletes:
            self.db.executemany("DELETE FROM edges WHERE src=? AND type=? AND dst=?", deletes)
            stats.edges_deleted += len(deletes)

    def _rename(self, old: str, new: str, version: int) -> None:
        """Move a node (supports, keys, edges) to a new id, merging into ``new`` if it exists."""
        db = self.db
        self._temp_ids("_ids", (old, new))
        self._materialize("_ids")
        db.execute("UPDATE OR IGNORE node_support SET node_id=? WHERE node_id=?", (new, old))
        db.execute("DELETE FROM node_support WHERE node_id=?", (old,))
        db.execute("UPDATE OR IGNORE node_keys SET node_id=? WHERE node_id=?", (new, old))
        db.execute("DELETE FROM node_keys WHERE node_id=?", (old,))
        db.execute("UPDATE OR IGNORE edge_support SET src=? WHERE src=?", (new, old))
        db.execute("DELETE FROM edge_support WHERE src=?", (old,))
        # supports ending at ``old``, found through the edges index on dst (a scan of edge_support
        # per rename otherwise); their src may have just moved to ``new`` (a self-loop)
        ending = ("(src, type, dst) IN (SELECT CASE WHEN src=? THEN ? ELSE src END, type, dst FROM edges "
                  "WHERE dst=?)")
        db.execute(f"UPDATE OR IGNORE edge_support SET dst=? WHERE {ending}", (new, old, new, old))
        db.execute(f"DELETE FROM edge_support WHERE {ending}", (old, new, old))
        edge_keys = {(r[0], r[1], r[2]) for r in db.execute(
            "SELECT src, type, dst FROM edges WHERE src=? OR dst=?", (old, old))}
        db.execute("DELETE FROM edges WHERE src=? OR dst=?", (old, old))
        moved = {(new if s == old else s, t, new if d == old else d) for s, t, d in edge_keys}
        stats = WriteStats()
        self._refresh_edges(moved, version, stats)
        self._refresh_nodes({old, new}, version, stats)

    def _taken(self, sid: int, ids: list[str]) -> set[str]:
        """Those of ``ids`` that are nodes another source than ``sid`` supports."""
        got: set[str] = set()
        for part in _chunks(ids):
            q = ",".join("?" * len(part))
            got.update(r[0] for r in self.db.execute(
                f"SELECT DISTINCT node_id FROM node_support WHERE node_id IN ({q}) AND source != ?", (*part, sid)))
        return got

    def _rekey(self, ids: set[str], version: int, stats: WriteStats) -> None:
        """After supports were removed, a paper's best key may have changed: rename it."""
        from kg.ids import paper_id_from_keys

        if not ids:
            return
        self._temp_ids("_rk", ids)
        keys: dict[str, set[str]] = {}
        for nid, key in self.db.execute("SELECT nk.node_id, nk.key FROM _rk CROSS JOIN node_keys nk ON nk.node_id=_rk.id"):
            keys.setdefault(nid, set()).add(key)
        for nid, ks in sorted(keys.items()):
            if not nid.startswith("paper:"):
                continue
            target = paper_id_from_keys(sorted(ks))
            if target != nid and target.startswith("paper:title:") and self.db.execute(
                    "SELECT 1 FROM nodes WHERE id=?", (target,)).fetchone():
                target = paper_id_from_keys(sorted(ks), keep_year=True)  # a namesake holds the title id
            if target != nid:
                self._rename(nid, target, version)
                stats.renamed[nid] = target

    # -- sources ---------------------------------------------------------------------------------
    def _source_state(self, row: tuple[Any, ...]) -> SourceState:
        path, h, size, mtime, reader, nn, ne, warnings, errors, at = row
        return SourceState(path=path, hash=h, size=size or 0, mtime=mtime or 0.0, reader=reader or "",
                           n_nodes=nn or 0, n_edges=ne or 0, warnings=orjson.loads(warnings or "[]"),
                           errors=orjson.loads(errors or "[]"), ingested_at=at or "")

    _SRC_COLS = "path, hash, size, mtime, reader, n_nodes, n_edges, warnings, errors, ingested_at"

    def source(self, path: str) -> SourceState | None:
        row = self.db.execute(f"SELECT {self._SRC_COLS} FROM sources WHERE path=?", (path,)).fetchone()
        return self._source_state(row) if row else None

    def sources(self) -> list[SourceState]:
        return [self._source_state(r) for r in self.db.execute(f"SELECT {self._SRC_COLS} FROM sources ORDER BY path")]

    def touch_source(self, path: str, mtime: float) -> None:
        self.db.execute("UPDATE sources SET mtime=? WHERE path=?", (mtime, path))

    # -- reads -----------------------------------------------------------------------------------
    def get_nodes(self, ids: Sequence[str]) -> dict[str, Node]:
        out: dict[str, Node] = {}
        for part in _chunks(list(ids)):
            q = ",".join("?" * len(part))
            for nid, label, props in self.db.execute(f"SELECT id, label, props FROM nodes WHERE id IN ({q})", part):
                out[nid] = Node(nid, label, orjson.loads(props))
        return out

    def display_names(self, ids: Sequence[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        paths = ", ".join(f"'$.{k}'" for k in CAPTION_PROPERTIES)  # only what the caption reads
        for part in _chunks(sorted(ids)):  # neighbouring keys: fewer pages to visit
            q = ",".join("?" * len(part))
            for nid, values in self.db.execute(
                    f"SELECT id, json_extract(props, {paths}) FROM nodes WHERE id IN ({q})", part):
                out[nid] = caption(dict(zip(CAPTION_PROPERTIES, orjson.loads(values), strict=True)), nid)
        return out

    def _select_in(self, columns: str, table: str, column: str, values: Iterable[str] | None,
                   order: str) -> Iterator[tuple[Any, ...]]:
        """``SELECT columns FROM table [WHERE column IN values] ORDER BY order`` (None: every row)."""
        if values is None:
            return self.db.execute(f"SELECT {columns} FROM {table} ORDER BY {order}")
        vs = list(values)
        return self.db.execute(
            f"SELECT {columns} FROM {table} WHERE {column} IN ({','.join('?' * len(vs))}) ORDER BY {order}", vs)

    def iter_nodes(self, labels: Iterable[str] | None = None) -> Iterator[Node]:
        for nid, label, props in self._select_in("id, label, props", "nodes", "label", labels, "id"):
            yield Node(nid, label, orjson.loads(props))

    def iter_edges(self, types: Iterable[str] | None = None) -> Iterator[Edge]:
        cur = self._select_in("src, type, dst, props", "edges", "type", types, "src, type, dst")
        for s, t, d, props in cur:
            yield Edge(s, d, t, orjson.loads(props))

    def edge_keys(self, types: Iterable[str] | None = None) -> Iterator[tuple[str, str, str]]:
        ts = list(types) if types is not None else None
        where = f" WHERE type IN ({','.join('?' * len(ts))})" if ts is not None else ""
        yield from self.db.execute(f"SELECT src, type, dst FROM edges{where}", ts or ())

    def edges_of(self, ids: Sequence[str], *, types: Iterable[str] | None = None,
                 direction: Direction = "both") -> list[Edge]:
        ts = list(types) if types is not None else None
        tfilter = f" AND type IN ({','.join('?' * len(ts))})" if ts else ""
        out: dict[tuple[str, str, str], Edge] = {}
        for part in _chunks(list(ids), 400):
            q = ",".join("?" * len(part))
            cols = (["src"] if direction in ("out", "both") else []) + (["dst"] if direction in ("in", "both") else [])
            for col in cols:
                for s, t, d, props in self.db.execute(
                        f"SELECT src, type, dst, props FROM edges WHERE {col} IN ({q}){tfilter}", (*part, *(ts or []))):
                    out[(s, t, d)] = Edge(s, d, t, orjson.loads(props))
        return [out[k] for k in sorted(out)]

    def _select(self, sql: str, column: str, ids: Sequence[str] | None) -> Iterator[tuple[Any, ...]]:
        """Rows of ``sql`` (every row when ``ids`` is None, else those whose ``column`` is in ``ids``)."""
        if ids is None:
            yield from self.db.execute(sql)
            return
        for part in _chunks(list(ids)):
            yield from self.db.execute(f"{sql} WHERE {column} IN ({','.join('?' * len(part))})", part)

    def node_supports(self, ids: Sequence[str] | None = None) -> Iterator[NodeSupport]:
        for nid, path, label, stub, props in self._select(
                f"SELECT ns.node_id, s.path, ns.label, ns.stub, {SUPPORT_PROPS_SQL} FROM node_support ns "
                "JOIN sources s ON s.id = ns.source LEFT JOIN nodes n ON n.id = ns.node_id", "ns.node_id", ids):
            yield nid, path, label, bool(stub), props

    def node_keys(self, ids: Sequence[str] | None = None) -> Iterator[NodeKey]:
        return self._select("SELECT nk.key, nk.node_id, s.path FROM node_keys nk JOIN sources s ON s.id = nk.source",
                            "nk.node_id", ids)

    def edge_supports(self, keys: Iterable[EdgeKey] | None = None) -> Iterator[EdgeSupport]:
        sql = "SELECT es.src, es.type, es.dst, so.path, es.props FROM edge_support es JOIN sources so ON so.id = es.source"
        if keys is None:
            for s, t, d, path, props in self.db.execute(sql + " ORDER BY es.src, es.type, es.dst"):
                yield s, t, d, path, orjson.loads(props)
            return
        wanted = set(keys)
        for s, t, d, path, props in self._select(sql, "es.src", sorted({k[0] for k in wanted})):
            if (s, t, d) in wanted:
                yield s, t, d, path, orjson.loads(props)

    def derived_sources(self) -> set[str]:
        return {r[0] for r in self.db.execute(
            "SELECT DISTINCT s.path FROM edge_support es JOIN sources s ON s.id = es.source WHERE NOT EXISTS "
            "(SELECT 1 FROM node_support ns WHERE ns.node_id = es.src AND ns.source = es.source)")}

    def node_sources(self, node_id: str) -> list[str]:
        return [r[0] for r in self.db.execute(
            "SELECT s.path FROM node_support ns JOIN sources s ON s.id=ns.source WHERE ns.node_id=? ORDER BY s.path",
            (node_id,))]

    def ids_by_source(self, prefix: str) -> set[str]:
        """Ids of nodes supported by a source at ``prefix`` or under the folder ``prefix``."""
        folder = prefix.rstrip("/") + "/"
        return {r[0] for r in self.db.execute(
            "SELECT DISTINCT ns.node_id FROM sources s JOIN node_support ns ON ns.source=s.id "
            "WHERE s.path=? OR substr(s.path, 1, ?)=?", (prefix, len(folder), folder))}

    def counts(self) -> dict[str, dict[str, int]]:
        nodes = dict(self.db.execute("SELECT label, COUNT(*) FROM nodes GROUP BY label ORDER BY label").fetchall())
        edges = dict(self.db.execute("SELECT type, COUNT(*) FROM edges GROUP BY type ORDER BY type").fetchall())
        return {"nodes": nodes, "edges": edges}

    def changes_since(self, version: int) -> Changes:
        up = [r[0] for r in self.db.execute("SELECT id FROM nodes WHERE version > ? ORDER BY id", (version,))]
        gone = [r[0] for r in self.db.execute(
            "SELECT node_id FROM tombstones WHERE version > ? AND node_id NOT IN (SELECT id FROM nodes)", (version,))]
        return Changes(up, sorted(gone), self._version())

    # -- metadata ----------------------------------------------------------------------------------
    def get_meta(self, key: str) -> Any:
        row = self.db.execute("SELECT value FROM meta WHERE key=?", ("user:" + key,)).fetchone()
        return orjson.loads(row[0]) if row else None

    def set_meta(self, key: str, value: Any) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta VALUES(?, ?)", ("user:" + key, _dumps(value)))

    def user_meta(self) -> dict[str, Any]:
        return {k[5:]: orjson.loads(v) for k, v in self.db.execute("SELECT key, value FROM meta WHERE key LIKE 'user:%'")}

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self.db.close()
