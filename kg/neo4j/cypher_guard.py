"""Read-only Cypher for agents and users, checked by the query plan rather than by a regex.

:func:`run_read_only` runs a query only when all of these hold:

1. ``EXPLAIN`` of it (in a READ access-mode session) plans a read-only query: the driver's
   ``ResultSummary.query_type`` is ``'r'`` (writes are ``'w'``/``'rw'``, schema and admin commands ``'s'``);
2. no operator of the plan, subqueries included, is an administration command, ``LOAD CSV``,
   ``SHOW/TERMINATE TRANSACTIONS``, ``SHOW SETTINGS``, or a write/schema operator;
3. every procedure the plan calls has mode ``READ`` in ``SHOW PROCEDURES`` (``WRITE``, ``SCHEMA``
   and ``DBMS`` procedures are refused);

and then runs it in a READ access-mode session, so the server refuses any write that slipped through.
User values travel as parameters, never spliced into the query text.

>>> store.cypher("MATCH (p:Paper) RETURN p.title AS title LIMIT $n", {"n": 5})  # doctest: +SKIP
CypherResult(columns=['title'], rows=[{'title': '...'}, ...])
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kg.errors import QueryError, ReadOnlyViolation, require
from kg.model import Edge, Node
from kg.neo4j.schema import NODE, decode_props

if TYPE_CHECKING:
    from kg.neo4j.store import Neo4jStore

DENIED_OPERATORS = ("AdministrationCommand", "LoadCSV", "ShowTransactions", "TerminateTransactions",
                    "ShowSettings", "TransactionForeach", "TransactionApply")
_WRITE_OPERATOR = re.compile(r"Create|Delete|Merge|Set[A-Z]|SetProperty|Remove|Drop|Foreach|LockNodes")
_PROC_NAME = re.compile(r"^\s*([\w.]+)\s*\(")
ALLOWED_MODES = ("READ",)


@dataclass(slots=True)
class CypherResult:
    """Rows of a read-only query. Graph values are converted: a kgloom node to :class:`kg.model.Node`,
    a relationship between two to :class:`kg.model.Edge`, a path to ``{"nodes": [...], "edges": [...]}``,
    any other node or relationship to its property dict."""

    columns: list[str]
    rows: list[dict[str, Any]] = field(default_factory=list)
    truncated: bool = False  # more than max_rows rows matched


def _operators(plan: Any) -> list[tuple[str, str]]:
    """(operator type without the ``@db`` suffix, details) of every operator in a plan tree."""
    out: list[tuple[str, str]] = []
    stack = [plan]
    while stack:
        p = stack.pop()
        if not p:
            continue
        if isinstance(p, dict):
            op, args, children = p.get("operatorType", ""), p.get("args", {}) or {}, p.get("children", []) or []
        else:  # a plan object (older drivers)
            op, args, children = p.operator_type, p.arguments or {}, p.children or []
        out.append((str(op).split("@", 1)[0], str(args.get("Details", ""))))
        stack.extend(children)
    return out


def procedure_modes(store: Neo4jStore) -> dict[str, str]:
    """Procedure name -> mode (READ, WRITE, SCHEMA, DBMS) from ``SHOW PROCEDURES``, cached per store."""
    modes = store._caches.get("procedure_modes")
    if modes is None:
        modes = {r["name"]: r["mode"] for r in store._read("SHOW PROCEDURES YIELD name, mode RETURN name, mode")}
        store._caches["procedure_modes"] = modes
    return dict(modes)


def check_read_only(store: Neo4jStore, query: str, params: dict[str, Any]) -> None:
    """Raise :class:`ReadOnlyViolation` unless ``query``'s plan is read-only (see the module docstring)."""
    neo4j = store._neo4j
    if not query.strip():
        raise QueryError("empty Cypher query")
    def explain() -> Any:
        with store._session(read=True) as s:
            return s.run("EXPLAIN " + query, params).consume()

    try:  # under the store's deadline: a frozen server must not hang the caller
        summary = store._bounded("planning a Cypher query", explain)
    except neo4j.exceptions.Neo4jError as e:
        code = e.code or ""
        if "AdministrationCommand" in code or "AccessMode" in code or "Forbidden" in code:
            raise ReadOnlyViolation(f"refused: administration commands are not allowed ({e.message})") from e
        raise QueryError(f"invalid Cypher: {e.message}") from e
    except store._errors as e:
        raise store._translate(e, "planning a Cypher query") from e
    kind = summary.query_type
    if kind != "r":
        what = {"w": "writes data", "rw": "writes data", "s": "changes the schema or runs an admin command"}
        raise ReadOnlyViolation(f"refused: the query {what.get(kind, f'is of type {kind!r}')}; "
                                "only read-only queries may run here")
    modes = None
    for op, details in _operators(summary.plan):
        if op in DENIED_OPERATORS or _WRITE_OPERATOR.search(op):
            raise ReadOnlyViolation(f"refused: the query uses {op}, which is not allowed in read-only queries")
        if op == "ProcedureCall":
            m = _PROC_NAME.match(details)
            name = m.group(1) if m else details
            modes = modes if modes is not None else procedure_modes(store)
            mode = modes.get(name)
            if mode not in ALLOWED_MODES:
                raise ReadOnlyViolation(f"refused: procedure {name} has mode {mode or 'unknown'}; "
                                        "only READ procedures may be called")


def _walk(v: Any) -> Iterator[Any]:
    yield v
    if isinstance(v, (list, tuple)):
        for x in v:
            yield from _walk(x)
    elif isinstance(v, dict):
        for x in v.values():
            yield from _walk(x)
    elif hasattr(v, "relationships"):  # a path
        yield from v.relationships


def _convert(v: Any, ids: dict[str, str]) -> Any:
    """Driver values -> kgloom values; ``ids`` maps element ids of KGNodes to kgloom ids."""
    graph = require("neo4j.graph", "neo4j", "Cypher results")
    GNode, Path, Relationship = graph.Node, graph.Path, graph.Relationship

    if isinstance(v, GNode):
        props = dict(v.items())
        if NODE in v.labels and "id" in props:
            label = min((x for x in v.labels if x != NODE), default="")
            return Node(props["id"], label, decode_props(props))
        return {k: x for k, x in props.items() if k != "embedding"}
    if isinstance(v, Relationship):
        a, b = v.start_node, v.end_node
        src = ids.get(a.element_id) if a is not None else None
        dst = ids.get(b.element_id) if b is not None else None
        if src is not None and dst is not None:
            return Edge(src, dst, v.type, decode_props(dict(v.items())))
        return {k: x for k, x in v.items() if not k.startswith("_")}
    if isinstance(v, Path):
        return {"nodes": [_convert(n, ids) for n in v.nodes], "edges": [_convert(r, ids) for r in v.relationships]}
    if isinstance(v, list):
        return [_convert(x, ids) for x in v]
    if isinstance(v, dict):
        return {k: _convert(x, ids) for k, x in v.items()}
    return v


def _endpoint_ids(store: Neo4jStore, raw: list[dict[str, Any]]) -> dict[str, str]:
    """kgloom ids of the end nodes of every relationship in ``raw`` (the driver may only know their element ids)."""
    Relationship = require("neo4j.graph", "neo4j", "Cypher results").Relationship

    ids: dict[str, str] = {}
    missing: set[str] = set()
    for row in raw:
        for v in _walk(list(row.values())):
            if isinstance(v, Relationship):
                for n in (v.start_node, v.end_node):
                    if n is None:
                        continue
                    if NODE in n.labels and n.get("id") is not None:
                        ids[n.element_id] = n.get("id")
                    else:
                        missing.add(n.element_id)
    missing -= set(ids)
    if missing:
        for r in store._read(f"MATCH (n:{NODE}) WHERE elementId(n) IN $e RETURN elementId(n) AS e, n.id AS id",
                             e=sorted(missing)):
            ids[r["e"]] = r["id"]
    return ids


def run_read_only(store: Neo4jStore, query: str, params: dict[str, Any], *, timeout: float = 30.0,
                  max_rows: int = 10_000) -> CypherResult:
    """Check ``query`` with :func:`check_read_only`, then run it in a READ session (``timeout`` seconds)."""
    neo4j = store._neo4j
    check_read_only(store, query, params)
    def run() -> tuple[list[str], list[dict[str, Any]], bool]:
        with store._session(read=True) as s:
            result = s.run(neo4j.Query(query, timeout=timeout), params)
            columns = list(result.keys())
            raw: list[dict[str, Any]] = []
            truncated = False
            for rec in result:
                if len(raw) >= max_rows:
                    truncated = True
                    break
                raw.append({k: rec[k] for k in columns})
            result.consume()
            return columns, raw, truncated

    try:  # the server stops the query at ``timeout``; the client waits a little longer, never for ever
        columns, raw, truncated = store._bounded("running a Cypher query", run, min(store.timeout, timeout + 10))
    except neo4j.exceptions.Neo4jError as e:
        if "AccessMode" in (e.code or ""):
            raise ReadOnlyViolation(f"refused by the server: {e.message}") from e
        raise QueryError(f"Cypher query failed: {e.message}") from e
    except store._errors as e:
        raise store._translate(e, "running a Cypher query") from e
    ids = _endpoint_ids(store, raw)
    return CypherResult(columns, [{k: _convert(v, ids) for k, v in row.items()} for row in raw], truncated)
