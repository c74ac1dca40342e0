"""Bulk-load an embedded store into a fresh local Neo4j database with ``neo4j-admin database import``.

``kg export --to neo4j://...`` writes through Cypher (batched ``UNWIND``) into a running server;
on a small machine that is bound by the server's CPU. For a first load into a database nobody is
serving yet, Neo4j's offline importer writes the store files directly and is far faster. This
module writes the graph in exactly the layout :mod:`kg.neo4j.schema` describes (nodes with
their properties encoded as the online store encodes them, ``KGSource`` nodes and ``SUPPORTS``
relationships with each source's contribution, ``KGKey`` identity keys, edges with their
supporting sources, the version and user metadata) as CSV files, runs the importer that ships
with the kgloom Neo4j build (:mod:`kg.neo4j.server`), and leaves a database that
``kg neo4j start --data-dir DIR`` serves. The store is read through the store contract only (its
graph, sources and provenance: :meth:`~kg.store.base.GraphStore.node_supports`,
:meth:`~kg.store.base.GraphStore.node_keys`, :meth:`~kg.store.base.GraphStore.edge_supports`),
in three processes that each open the store from its folder. Constraints and indexes are created when a store first
connects (:func:`kg.neo4j.schema.ensure_schema`); embeddings, for stores opened with
``?embed=true``, are computed on the first dense search.

    >>> from kg.neo4j.admin_import import import_store  # doctest: +SKIP
    >>> import_store(open_store(".kg"), ".neo4j")  # doctest: +SKIP
"""

from __future__ import annotations

import csv
import itertools
import multiprocessing as mp
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import IO, Any

from kg.errors import ConfigError, StoreError
from kg.neo4j import schema as sch
from kg.neo4j.schema import KEY, META, NODE, SOURCE, SUPPORTS, dumps, encode_props, ident
from kg.searchtext import SEARCHABLE, node_text, text_hash
from kg.store import GraphStore, open_store
from kg.store.merge import merge_props

ARRAY_DELIMITER = "\x1e"  # between array elements in a CSV cell (record separator: not in real text)
DATABASE = "neo4j"
VERSION = 1  # the store version of everything imported (``_v``), as a first copy would write it
_TYPES = {bool: "boolean", int: "long", float: "double", str: "string"}


C1_ONLY_BELOW = 200_000  # graph nodes: smaller imports are over before C2's compiled code pays back


def _import_jvm_flags(nodes: int) -> tuple[str, ...]:
    """The server's JVM flags with the throughput collector, which suits a batch job better than
    G1; small imports are compiled by C1 only (``benchmarks/neo4j_load.py load --bulk-only``:
    20k records 6.4-7.0 s instead of 6.9-7.5 s, while 100k records need C2: 15.4 s against 22.5 s)."""
    from kg.neo4j.server import JVM_FLAGS

    flags = (*(f for f in JVM_FLAGS if f != "-XX:+UseG1GC"), "-XX:+UseParallelGC")
    return (*flags, "-XX:TieredStopAtLevel=1") if nodes < C1_ONLY_BELOW else flags


def _type(v: Any) -> str:
    t = type(v)
    return _TYPES[type(v[0])] + "[]" if t is list else _TYPES[t]


def _scalar_cell(v: Any) -> str:
    t = type(v)
    if t is str:
        return v
    if t is bool:
        return "true" if v else "false"
    return repr(v)  # int, float (encode_props keeps only finite ones)


def _cell(v: Any) -> str:
    if type(v) is not list:
        return _scalar_cell(v)
    parts = [_scalar_cell(x) for x in v]
    if any(ARRAY_DELIMITER in p for p in parts):
        raise ConfigError("a list property contains the bulk importer's array delimiter (U+001E); "
                          "use kg export --to neo4j://... instead")
    return ARRAY_DELIMITER.join(parts)


class _Fixed:
    """One CSV file whose rows all have the same columns (supports, identity keys)."""

    def __init__(self, path: Path, header: list[str]) -> None:
        self.path = path
        self.fh = open(path, "w", newline="", encoding="utf-8")  # noqa: SIM115 (closed by close())
        self.writer = csv.writer(self.fh, quoting=csv.QUOTE_ALL, lineterminator="\n")
        self.writer.writerow(header)
        self.rows = 0

    def write(self, rows: Iterable[Sequence[Any]]) -> None:
        """Write rows (by the C csv writer), counting them."""
        counted = itertools.count()
        self.writer.writerows(row for row, _ in zip(rows, counted, strict=False))
        self.rows += next(counted)

    def close(self) -> dict[Path, int]:
        """Close the file; returns it with its row count."""
        self.fh.close()
        return {self.path: self.rows}


class _Files:
    """CSV files of one kind (nodes or relationships), one per property signature: the importer
    types a column once per file, and properties vary between rows."""

    def __init__(self, folder: Path, prefix: str, fixed: list[str]) -> None:
        self.folder, self.prefix, self.fixed = folder, prefix, fixed
        self.open: dict[tuple[tuple[str, str], ...], tuple[IO[str], Any, Path]] = {}
        self.paths: dict[Path, int] = {}  # rows written to each file
        self.rows = 0

    def add(self, fixed: list[str], props: dict[str, Any]) -> None:
        keys = sorted(props)
        sig = tuple([(k, _type(props[k])) for k in keys])
        got = self.open.get(sig)
        if got is None:
            path = self.folder / f"{self.prefix}-{len(self.paths):04d}.csv"
            fh = open(path, "w", newline="", encoding="utf-8")  # noqa: SIM115 (closed by close())
            w = csv.writer(fh, quoting=csv.QUOTE_ALL, lineterminator="\n")
            w.writerow([*self.fixed, *(f"{k}:{t}" for k, t in sig)])
            got = self.open[sig] = (fh, w, path)
            self.paths[path] = 0
        got[1].writerow(fixed + [_cell(props[k]) for k in keys])
        self.paths[got[2]] += 1
        self.rows += 1

    def close(self) -> dict[Path, int]:
        """Close the files; returns them with their row counts."""
        for fh, _, _ in self.open.values():
            fh.close()
        self.open.clear()
        return self.paths


def _line_breaks(files: dict[Path, int]) -> bool:
    """Whether a value in these CSV files (path -> rows written) holds a line break: then the file
    has more lines than rows (the importer parses faster when told there are none)."""
    for path, rows in files.items():
        data = path.read_bytes()
        if b"\r" in data or data.count(b"\n") != rows + 1:
            return True
    return False


Part = tuple[list[Path], dict[str, int], bool]  # files written, counts, whether a value breaks a line


def _node_files(src: GraphStore, out: Path) -> Part:
    """Graph nodes, sources and metadata."""
    nodes = _Files(out, "nodes", ["id:ID(Node)", ":LABEL"])
    for node in src.iter_nodes():
        ident(node.label)  # refuse a label Neo4j cannot carry, as the online store does
        enc = encode_props(node.properties)
        enc["_v"] = VERSION
        if node.label in SEARCHABLE and (text := node_text(node)):
            enc["_th"] = text_hash(text)
        nodes.add([node.id, f"{NODE}{ARRAY_DELIMITER}{node.label}"], enc)
    derived = src.derived_sources()
    sources = _Files(out, "sources", ["path:ID(Source)", ":LABEL"])
    for s in src.sources():
        sources.add([s.path, SOURCE], {
            "hash": s.hash, "size": s.size, "mtime": float(s.mtime), "reader": s.reader, "n_nodes": s.n_nodes,
            "n_edges": s.n_edges, "warnings": dumps(s.warnings), "errors": dumps(s.errors),
            "ingested_at": s.ingested_at, "derived": s.path in derived})
    meta = _Files(out, "meta", [":ID(Meta)", ":LABEL"])
    meta.add(["version", META], {"key": "version", "value": VERSION})
    for key, value in src.user_meta().items():
        meta.add(["user:" + key, META], {"key": "user:" + key, "value": dumps(value)})
    parts = (nodes, sources, meta)
    files = {p: n for f in parts for p, n in f.close().items()}
    return list(files), {"nodes": nodes.rows, "sources": sources.rows}, _line_breaks(files)


def _support_file(folder: str, out: Path) -> Part:
    """``SUPPORTS`` relationships (each source's contribution to each node) and ``KGKey`` nodes
    (run in a second process, on its own connection to the store)."""
    src = open_store(folder, create=False)
    try:
        supports = _Fixed(out / "supports.csv", [":START_ID(Source)", ":END_ID(Node)", ":TYPE", "label:string",
                                                 "stub:boolean", "props:string", "_v:long"])
        supports.write((path, nid, SUPPORTS, label, "true" if stub else "false", props, VERSION)
                       for nid, path, label, stub, props in src.node_supports())
        keys = _Fixed(out / "keys.csv", [":ID(Key)", ":LABEL", "key:string", "node:string", "source:string", "_v:long"])
        keys.write((f"k{i}", KEY, key, nid, path, VERSION) for i, (key, nid, path) in enumerate(src.node_keys(), 1))
        files = {**supports.close(), **keys.close()}
        return list(files), {"supports": supports.rows, "keys": keys.rows}, _line_breaks(files)
    finally:
        src.close()


def _edge_files(folder: str, out: Path) -> Part:
    """Graph edges with their supporting sources (run in a second process, on its own connection)."""
    src = open_store(folder, create=False)
    try:
        edges = _Files(out, "edges", [":START_ID(Node)", ":END_ID(Node)", ":TYPE"])
        current: tuple[str, str, str] | None = None
        sup: dict[str, Any] = {}

        def flush() -> None:
            if current is not None:
                ident(current[1])
                enc = encode_props(sup[next(iter(sup))] if len(sup) == 1
                                   else merge_props((False, p, pr) for p, pr in sup.items()))
                enc["_v"], enc["_src"], enc["_sup"] = VERSION, sorted(sup), dumps(sup)
                edges.add([current[0], current[2], current[1]], enc)

        for s, t, d, path, props in src.edge_supports():  # grouped by edge
            if (s, t, d) != current:
                flush()
                current, sup = (s, t, d), {}
            sup[path] = props
        flush()
        files = edges.close()
        return list(files), {"edges": edges.rows}, _line_breaks(files)
    finally:
        src.close()


def write_csv(src: GraphStore, folder: str | os.PathLike[str]) -> dict[str, Any]:
    """Write ``src`` (an embedded store: the parts written in other processes reopen it from its
    folder) as importer CSV files into ``folder`` (nodes here, supports and edges in two more
    processes); returns counts and the ``--nodes``/``--relationships`` arguments."""
    if src.folder is None:
        raise ConfigError("the bulk importer reads an embedded store; copy Neo4j to Neo4j with kg export --to")
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    with ProcessPoolExecutor(max_workers=2, mp_context=mp.get_context("fork")) as pool:
        # three parts of about equal time: edges, supports + keys (forked, own connections), nodes
        rels = pool.submit(_edge_files, str(src.folder), out)
        sups = pool.submit(_support_file, str(src.folder), out)
        node_files, counts, node_breaks = _node_files(src, out)
        support_files, support_counts, support_breaks = sups.result()
        rel_files, rel_counts, rel_breaks = rels.result()
        node_files.append(support_files[1])  # KGKey nodes
        rel_files.insert(0, support_files[0])
    multiline = node_breaks or support_breaks or rel_breaks
    return {**counts, **support_counts, **rel_counts, "multiline": multiline,
            "args": [f"--multiline-fields={'true' if multiline else 'false'}",
                     *(f"--nodes={p}" for p in node_files), *(f"--relationships={p}" for p in rel_files)]}


def import_store(src: GraphStore, data_dir: str | os.PathLike[str], *, overwrite: bool = False,
                 heap: str | None = None, timeout: float = 3600) -> dict[str, Any]:
    """Load ``src`` into a new ``neo4j`` database under ``data_dir`` (a :class:`~kg.neo4j.server.
    Neo4jServer` data folder, not being served); returns counts and seconds.

    Refuses a folder that already holds a ``neo4j`` database unless ``overwrite`` (which replaces
    it). Raises :class:`~kg.errors.StoreError` with the importer's report when it fails.
    """
    from kg.neo4j.server import build, find_java_home

    home = Path(data_dir).expanduser().resolve()
    existing = home / "data" / "databases" / DATABASE
    if existing.exists() and any(existing.iterdir()) and not overwrite:
        raise ConfigError(f"{home} already holds a Neo4j database; pass overwrite=True (--overwrite) to replace it")
    home.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="kg-import-", dir=home))
    try:
        counts = write_csv(src, tmp)
        csv_s = time.perf_counter() - t0
        lib = build() / "lib"
        java = find_java_home() / "bin" / "java"
        cmd = [str(java), f"-Xmx{heap or os.environ.get('KG_NEO4J_HEAP') or '1g'}", *_import_jvm_flags(counts["nodes"]),
               "-cp", str(lib / "*"), "org.neo4j.cli.AdminTool", "database", "import", "full", DATABASE,
               "--overwrite-destination=true", f"--array-delimiter={ARRAY_DELIMITER}",
               f"--report-file={tmp / 'import.report'}", *counts.pop("args")]
        t1 = time.perf_counter()
        proc = subprocess.run(cmd, env={**os.environ, "NEO4J_HOME": str(home)}, capture_output=True,
                              text=True, timeout=timeout, cwd=tmp)  # nothing lands in the caller's folder
        if proc.returncode != 0 or "IMPORT DONE" not in proc.stdout:
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-25:])
            raise StoreError(f"neo4j-admin import into {home} failed (exit {proc.returncode}):\n{tail}")
        import_s = time.perf_counter() - t1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    total = time.perf_counter() - t0
    return {**counts, "csv_seconds": round(csv_s, 3), "import_seconds": round(import_s, 3),
            "seconds": round(total, 3), "nodes_per_s": round(counts["nodes"] / total), "data_dir": str(home),
            "database": DATABASE, "schema": sch.SCHEMA_VERSION}
