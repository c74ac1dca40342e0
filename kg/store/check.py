"""``kg check``'s store half: verify an embedded store's SQLite file, and repair what is safe.

What is checked (each finding names its ``check``):

- ``open``: the store opens, its ``meta`` table holds a known ``schema_version`` and a ``version``.
- ``integrity``: SQLite's ``PRAGMA integrity_check`` (pages, B-trees, indexes) says ``ok``.
- ``provenance``: every node and every edge has at least one support; every support, identity
  key and edge support points at a source that exists and at a node (edge) that exists; every
  edge's two ends exist.
- ``leftovers``: scratch files a killed write leaves (a first load's ``.first-load-part.sqlite``,
  a topic model's ``topics.tmp``/``topics.old``, an index built beside a first load).

``repair=True`` fixes the findings it can without guessing: it drops supports, keys and edge
supports whose source or node is gone, recomputes the merged rows of what they touched (deleting
rows nothing supports any more; the search index follows through the store's ``version``) and
deletes the scratch files. A failed ``integrity_check`` is not repaired (re-ingest, or restore a
copy). The search index half is :func:`retrieval.index.check_index`; :meth:`kg.graph.KnowledgeGraph.check`
runs both.

>>> report = verify_store("./.kg")  # doctest: +SKIP
>>> report.ok
True
"""

from __future__ import annotations

import shutil
import sqlite3
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from kg.errors import KGError
from kg.store.base import WriteStats

#: files and folders a write killed midway can leave in a store folder (none holds committed data)
LEFTOVERS = (".first-load-part.sqlite", ".first-load-part.sqlite-journal", "topics.tmp", "topics.old",
             ".index-first-load")

_COUNTS = {
    "nodes": "SELECT COUNT(*) FROM nodes",
    "edges": "SELECT COUNT(*) FROM edges",
    "sources": "SELECT COUNT(*) FROM sources",
    "node_supports": "SELECT COUNT(*) FROM node_support",
    "edge_supports": "SELECT COUNT(*) FROM edge_support",
}

# (what, SQL counting the offending rows, whether repair fixes it)
_PROVENANCE: tuple[tuple[str, str, bool], ...] = (
    ("nodes without any support",
     "SELECT COUNT(*) FROM nodes n WHERE NOT EXISTS (SELECT 1 FROM node_support ns WHERE ns.node_id = n.id)", True),
    ("edges without any support",
     "SELECT COUNT(*) FROM edges e WHERE NOT EXISTS (SELECT 1 FROM edge_support es "
     "WHERE es.src = e.src AND es.type = e.type AND es.dst = e.dst)", True),
    ("edges whose end node is missing",
     "SELECT COUNT(*) FROM edges e WHERE NOT EXISTS (SELECT 1 FROM nodes n WHERE n.id = e.src) "
     "OR NOT EXISTS (SELECT 1 FROM nodes n WHERE n.id = e.dst)", True),
    ("node supports pointing at a missing source",
     "SELECT COUNT(*) FROM node_support ns WHERE NOT EXISTS (SELECT 1 FROM sources s WHERE s.id = ns.source)", True),
    ("node supports pointing at a missing node",
     "SELECT COUNT(*) FROM node_support ns WHERE NOT EXISTS (SELECT 1 FROM nodes n WHERE n.id = ns.node_id)", True),
    ("edge supports pointing at a missing source",
     "SELECT COUNT(*) FROM edge_support es WHERE NOT EXISTS (SELECT 1 FROM sources s WHERE s.id = es.source)", True),
    ("edge supports pointing at a missing edge",
     "SELECT COUNT(*) FROM edge_support es WHERE NOT EXISTS (SELECT 1 FROM edges e "
     "WHERE e.src = es.src AND e.type = es.type AND e.dst = es.dst)", True),
    ("identity keys pointing at a missing source or node",
     "SELECT COUNT(*) FROM node_keys nk WHERE NOT EXISTS (SELECT 1 FROM sources s WHERE s.id = nk.source) "
     "OR NOT EXISTS (SELECT 1 FROM node_support ns WHERE ns.node_id = nk.node_id AND ns.source = nk.source)", True),
)


@dataclass(slots=True)
class Finding:
    """One problem found: which ``check`` found it, a one-line ``message``, how many rows or files
    it concerns, and whether ``repair`` can fix it."""

    check: str
    message: str
    count: int = 1
    repairable: bool = False


@dataclass(slots=True)
class CheckReport:
    """What :func:`verify_store` (and :meth:`kg.graph.KnowledgeGraph.check`) found.

    ``findings``: problems left (after a repair: those it could not fix); ``repaired``: one line
    per fix made; ``checked``: counts of what was looked at (nodes, edges, index rows, ...);
    ``notes``: facts that are not problems (an index behind the graph, which the next search
    brings in step)."""

    store: str
    findings: list[Finding] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing is wrong (any more)."""
        return not self.findings

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"store": self.store, "ok": self.ok, "findings": [asdict(f) for f in self.findings],
                "repaired": self.repaired, "checked": self.checked, "notes": self.notes}

    def lines(self) -> list[str]:
        """The report as text lines, findings first."""
        out = [f"{'ok' if self.ok else 'FAILED'}: {self.store}"]
        out += [f"  problem [{f.check}] {f.message}" + ("" if f.count == 1 else f" ({f.count})")
                + (" (--repair fixes it)" if f.repairable else "") for f in self.findings]
        out += [f"  repaired: {r}" for r in self.repaired]
        out += [f"  note: {n}" for n in self.notes]
        out.append("  checked: " + ", ".join(f"{k} {v:,}" for k, v in self.checked.items()))
        return out


def verify_store(folder: str | Path, *, repair: bool = False) -> CheckReport:
    """Check the embedded store in ``folder`` (see the module docstring); ``repair`` fixes what it
    safely can. Raises :class:`~kg.errors.StoreNotFoundError` when ``folder`` holds no store."""
    from kg.store.sqlite import SQLiteStore

    report = CheckReport(str(folder))
    try:
        store = SQLiteStore(folder, create=False)
    except KGError as e:
        if not Path(folder, "graph.sqlite").is_file():
            raise
        report.findings.append(Finding("open", str(e)))
        return report
    try:
        check_sqlite(store, report, repair=repair)
    finally:
        store.close()
    return report


def check_sqlite(store: Any, report: CheckReport, *, repair: bool = False) -> None:
    """Add the findings of the SQLite half of the check on an open
    :class:`~kg.store.sqlite.SQLiteStore` to ``report`` (``repair``: fix what is safe)."""
    db: sqlite3.Connection = store.db
    try:
        problems = [r[0] for r in db.execute("PRAGMA integrity_check")]
        if problems != ["ok"]:
            report.findings.append(Finding("integrity", "SQLite integrity_check: " + "; ".join(problems[:5]),
                                           len(problems)))
            return  # the rest would read a damaged file
        meta = dict(db.execute("SELECT key, value FROM meta WHERE key IN ('schema_version', 'version')"))
        if "schema_version" not in meta:
            report.findings.append(Finding("open", "meta has no schema_version"))
        if not str(meta.get("version", "0")).isdigit():
            report.findings.append(Finding("open", f"meta version {meta.get('version')!r} is not a number"))
        for name, sql in _COUNTS.items():
            report.checked[name] = int(db.execute(sql).fetchone()[0])
        found = [(what, int(db.execute(sql).fetchone()[0]), fix) for what, sql, fix in _PROVENANCE]
        if repair and any(n for _, n, fix in found if fix):
            _repair_provenance(store, report)
            found = [(what, int(db.execute(sql).fetchone()[0]), fix) for what, sql, fix in _PROVENANCE]
        report.findings += [Finding("provenance", what, n, fix) for what, n, fix in found if n]
    except sqlite3.DatabaseError as e:
        report.findings.append(Finding("integrity", f"reading the store failed: {e}"))
        return
    _check_leftovers(Path(store.folder), report, repair=repair)


def _repair_provenance(store: Any, report: CheckReport) -> None:
    """Drop provenance rows whose source or node is gone, then recompute the merged rows they
    touched from the supports left (in one transaction)."""
    db: sqlite3.Connection = store.db
    with store._transaction("repairing provenance"):
        version = store._bump()
        nodes: set[str] = {r[0] for r in db.execute(
            "SELECT node_id FROM node_support ns WHERE NOT EXISTS (SELECT 1 FROM sources s WHERE s.id = ns.source) "
            "UNION SELECT id FROM nodes n WHERE NOT EXISTS (SELECT 1 FROM node_support ns WHERE ns.node_id = n.id) "
            "UNION SELECT node_id FROM node_support ns WHERE NOT EXISTS (SELECT 1 FROM nodes n WHERE n.id = ns.node_id)")}
        edges: set[tuple[str, str, str]] = {(r[0], r[1], r[2]) for r in db.execute(
            "SELECT src, type, dst FROM edge_support es WHERE NOT EXISTS (SELECT 1 FROM sources s WHERE s.id = es.source) "
            "OR NOT EXISTS (SELECT 1 FROM nodes n WHERE n.id = es.src) OR NOT EXISTS (SELECT 1 FROM nodes n WHERE n.id = es.dst) "
            "UNION SELECT src, type, dst FROM edges e WHERE NOT EXISTS (SELECT 1 FROM edge_support es "
            "WHERE es.src = e.src AND es.type = e.type AND es.dst = e.dst) "
            "OR NOT EXISTS (SELECT 1 FROM nodes n WHERE n.id = e.src) OR NOT EXISTS (SELECT 1 FROM nodes n WHERE n.id = e.dst) "
            "UNION SELECT src, type, dst FROM edge_support es WHERE NOT EXISTS (SELECT 1 FROM edges e "
            "WHERE e.src = es.src AND e.type = es.type AND e.dst = es.dst)")}
        dropped = {
            "node supports": db.execute("DELETE FROM node_support WHERE source NOT IN (SELECT id FROM sources) OR "
                                        "(props = '' AND node_id NOT IN (SELECT id FROM nodes))").rowcount,
            "edge supports": db.execute(
                "DELETE FROM edge_support WHERE source NOT IN (SELECT id FROM sources) "
                "OR src NOT IN (SELECT id FROM nodes) OR dst NOT IN (SELECT id FROM nodes)").rowcount,
            "identity keys": db.execute(
                "DELETE FROM node_keys WHERE source NOT IN (SELECT id FROM sources) OR NOT EXISTS (SELECT 1 FROM "
                "node_support ns WHERE ns.node_id = node_keys.node_id AND ns.source = node_keys.source)").rowcount,
        }
        stats = WriteStats()
        store._refresh_edges(edges, version, stats)
        store._refresh_nodes(nodes, version, stats)
        # an edge whose end node was just deleted goes with it
        gone = db.execute("DELETE FROM edges WHERE src NOT IN (SELECT id FROM nodes) "
                          "OR dst NOT IN (SELECT id FROM nodes)").rowcount
    for what, n in dropped.items():
        if n:
            report.repaired.append(f"dropped {n} {what} pointing at a missing source or node")
    if stats.nodes_written or stats.edges_written:
        report.repaired.append(f"recomputed {stats.nodes_written} node rows and {stats.edges_written} edge rows "
                               "from their supports")
    if stats.nodes_deleted or stats.edges_deleted or gone:
        report.repaired.append(f"deleted {stats.nodes_deleted} nodes and {stats.edges_deleted + gone} edges "
                               "that nothing supports")


def _check_leftovers(folder: Path, report: CheckReport, *, repair: bool) -> None:
    found = [folder / name for name in LEFTOVERS if (folder / name).exists()]
    if not found:
        return
    if repair:
        for p in found:
            if p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)
        report.repaired.append("deleted files a killed write left: " + ", ".join(p.name for p in found))
    else:
        report.findings.append(Finding("leftovers", "files a killed write left: " + ", ".join(p.name for p in found),
                                       len(found), True))


__all__ = ["LEFTOVERS", "CheckReport", "Finding", "check_sqlite", "verify_store"]
