"""Framework-free, read-only agent tools over a :class:`kg.graph.KnowledgeGraph`.

One typed method per tool on :class:`KGTools`; LangChain (``retrieval.agents.langchain``) and MCP
(``retrieval.agents.mcp_server``) both build their tools from these signatures and Google-style
docstrings, so the two cannot drift. :func:`tool_schemas` derives the same JSON schemas without
any framework (for docs and tests). Every tool returns a JSON-ready ``dict`` and raises a
:class:`kg.errors.KGError` subclass on bad input (an unknown node id, a query that would write),
which the adapters turn into an error result the model can read.

Nothing here writes to the store. ``read_only_query`` runs read-only Cypher through ``g.cypher``
on Neo4j; on the embedded store it accepts a small, documented Cypher subset (:data:`QUERY_HELP`)
that is parsed, never executed as code.

>>> tools = KGTools(KnowledgeGraph.open("./.kg"))       # doctest: +SKIP
>>> tools.search("rank fusion", k=3)["hits"][0]["cite"]  # doctest: +SKIP
'[paper:doi:10.1145/1571941.1572114]'
"""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Literal

from kg.errors import ConfigError, QueryError, ReadOnlyViolation
from kg.model import Edge, Node

if TYPE_CHECKING:
    from kg.graph import KnowledgeGraph

Mode = Literal["bm25", "dense", "hybrid", "hybrid+graph"]
Direction = Literal["out", "in", "both"]

TOOL_NAMES = ("search", "get_node", "neighbors", "shortest_path", "find_skills", "get_skill",
              "read_only_query", "context")
"""The tools every adapter exposes, in this order."""

MAX_LIMIT = 200
SCAN_LIMIT = 200_000  # nodes/edges an embedded query may scan before it stops

QUERY_HELP = """\
Embedded-store query form: a read-only Cypher subset (the same text also runs on Neo4j).
  MATCH <node> [<rel> <node>] [WHERE <cond> [AND <cond>]...] RETURN [DISTINCT] <item>[, <item>...] [LIMIT n]
  node: (var[:Label] [{key: value, ...}])    rel: -[[var][:TYPE|TYPE2]]->  or  <-[...]-  or  -[...]-
  cond: var.key = | <> | < | <= | > | >= | CONTAINS | STARTS WITH | ENDS WITH value
  item: var | var.key | type(relvar)         value: 'text', "text", number, true, false, null, $param
  `id` is the node id; string tests are case-sensitive, as in Cypher. Example:
  MATCH (a:Author)-[:AUTHORED]->(p:Paper) WHERE p.year >= 2019 RETURN a.name, p LIMIT 10"""


def cite(node_id: str) -> str:
    """The stable citation of a node: its id in brackets (``[paper:doi:10.1/x]``)."""
    return f"[{node_id}]"


def _brief(n: Node) -> dict[str, Any]:
    return {"id": n.id, "label": n.label, "title": n.title, "cite": cite(n.id)}


def _clip(v: Any, max_chars: int) -> Any:
    if isinstance(v, str) and len(v) > max_chars:
        return v[:max_chars] + f"… [{len(v) - max_chars} more characters]"
    if isinstance(v, list):
        return [_clip(x, max_chars) for x in v[:100]]
    if isinstance(v, dict):
        return {k: _clip(x, max_chars) for k, x in v.items()}
    return v


def _bounded(value: Any, lo: int, hi: int, name: str) -> int:
    """``value`` clamped to ``lo..hi``; a :class:`ConfigError` when it is not an integer (a model may send
    ``1.5`` or ``"many"``: the adapters' schemas refuse those, a direct Python call gets this error)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name} must be an integer from {lo} to {hi}, not {value!r}")
    return max(lo, min(value, hi))


class KGTools:
    """The agent-facing tools, bound to one graph. All read-only.

    ``max_chars`` caps each string property a tool returns unless full text is asked for.
    """

    def __init__(self, graph: KnowledgeGraph, *, max_chars: int = 1500) -> None:
        self.graph = graph
        self.max_chars = max_chars

    def functions(self) -> dict[str, Callable[..., dict[str, Any]]]:
        """``{tool name: bound method}`` for every tool, in :data:`TOOL_NAMES` order."""
        return {name: getattr(self, name) for name in TOOL_NAMES}

    # -- search and nodes ------------------------------------------------------------------------
    def search(self, query: str, k: int = 10, mode: Mode = "hybrid", labels: list[str] | None = None,
               year_from: int | None = None, year_to: int | None = None,
               authors: list[str] | None = None, categories: list[str] | None = None) -> dict[str, Any]:
        """Search the knowledge graph (BM25 + embeddings fused by reciprocal rank fusion).

        Returns hits with their citation id, label, title, fused score, per-leg ranks and a snippet.

        Args:
            query: What to look for, in words.
            k: Number of hits to return (1-50).
            mode: Retrieval mode: bm25, dense, hybrid, or hybrid+graph (adds a graph walk).
            labels: Only these node labels, e.g. ["Paper"] or ["Skill"].
            year_from: Only nodes from this year on.
            year_to: Only nodes up to this year.
            authors: Only papers by these authors (names or author ids).
            categories: Only nodes in these categories, topics or keywords.
        """
        from retrieval.filters import Filters

        year = (year_from, year_to) if year_from is not None or year_to is not None else None
        f = Filters(labels=labels or None, year=year, authors=authors or None, categories=categories or None)
        res = self.graph.search(query, k=_bounded(k, 1, 50, "k"), mode=mode, filters=f)
        hits = []
        for h in res.hits:
            p = h.node.properties if h.node is not None else {}
            text = (h.passages[0] if h.passages else
                    str(p.get("abstract") or p.get("description") or p.get("text") or ""))
            hits.append({"cite": cite(h.id), "id": h.id, "label": h.label, "title": h.title,
                         "score": round(h.score, 6), "ranks": h.ranks,
                         "year": p.get("year"), "snippet": _clip(text, 300)})
        return {"query": query, "mode": mode, "hits": hits}

    def get_node(self, node_id: str, full_text: bool = False) -> dict[str, Any]:
        """One node by id: label, properties, the files it came from, and its edge counts by type.

        Args:
            node_id: A node id as returned by search, e.g. "paper:doi:10.1145/1571941.1572114".
            full_text: Return long text properties in full instead of clipped.
        """
        n = self.graph.node(node_id)
        counts: dict[str, dict[str, int]] = {}
        for e in self.graph.edges(node_id):
            side = "out" if e.source == node_id else "in"
            counts.setdefault(e.type, {"out": 0, "in": 0})[side] += 1
        props = n.properties if full_text else _clip(n.properties, self.max_chars)
        return {**_brief(n), "properties": props, "sources": list(n.sources), "edges": counts}

    def neighbors(self, node_id: str, edge_types: list[str] | None = None, direction: Direction = "both",
                  depth: int = 1, limit: int = 25) -> dict[str, Any]:
        """Nodes linked to a node (its authors, citations, topics, skills, code), nearest first.

        Args:
            node_id: The node to start from.
            edge_types: Only follow these edge types, e.g. ["AUTHORED", "CITES"].
            direction: Follow edges going "out" of the node, coming "in", or "both".
            depth: How many hops to follow (1-3).
            limit: Maximum number of neighbours (1-200).
        """
        sub = self.graph.neighborhood(node_id, edge_types=edge_types, direction=direction,
                                      depth=_bounded(depth, 1, 3, "depth"),
                                      limit=_bounded(limit, 1, MAX_LIMIT, "limit"))
        return {"node": _brief(sub.nodes[0]), "neighbors": [_brief(n) for n in sub.nodes[1:]],
                "edges": [{"source": e.source, "type": e.type, "target": e.target} for e in sub.edges]}

    def shortest_path(self, source_id: str, target_id: str, edge_types: list[str] | None = None,
                      max_hops: int = 6) -> dict[str, Any]:
        """The shortest path between two nodes, edges followed in either direction, with each edge type.

        Args:
            source_id: Node id to start from.
            target_id: Node id to reach.
            edge_types: Only walk these edge types.
            max_hops: Give up beyond this many edges (1-10).
        """
        start, goal = self.graph.node(source_id), self.graph.node(target_id)
        steps = _bidirectional_path(self.graph, start.id, goal.id, edge_types, _bounded(max_hops, 1, 10, "max_hops"))
        if steps is None:
            return {"found": False, "length": None, "nodes": [], "steps": []}
        ids = [start.id] + [s[2] for s in steps]
        found = self.graph.get_nodes(ids)
        return {"found": True, "length": len(steps), "nodes": [_brief(found[i]) for i in ids if i in found],
                "steps": [{"from": a, "type": e.type, "to": b, "direction": "->" if e.source == a else "<-"}
                          for a, e, b in steps]}

    # -- skills (progressive disclosure) -----------------------------------------------------------
    def find_skills(self, query: str, k: int = 5) -> dict[str, Any]:
        """Find agent skills for a task. Metadata only (name, description); get_skill gives the instructions.

        Args:
            query: The task, in words (empty: list every skill).
            k: Number of skills (1-20).
        """
        from kg.skills import skills

        hits = skills(self.graph, query, k=_bounded(k, 1, 20, "k"))
        return {"query": query, "skills": [{"cite": cite(h.id), **h.to_dict(),
                                            "description": _clip(h.description, self.max_chars)} for h in hits]}

    def get_skill(self, name: str, body: bool = True) -> dict[str, Any]:
        """One skill by name or id: metadata, tools, REQUIRES/NEXT/related links, and its instructions when asked.

        Args:
            name: Skill name (e.g. "literature-review") or id ("skill:literature-review").
            body: Include the skill's full instructions (Markdown body).
        """
        from kg.skills import skill

        d = skill(self.graph, name, body=body).to_dict()
        if not body:
            d.pop("body", None)
        return {"cite": cite(d["id"]), **d, "sources": self.graph.store.node_sources(d["id"])}

    # -- queries and context -------------------------------------------------------------------------
    def read_only_query(self, query: str, params: dict[str, Any] | None = None, limit: int = 50) -> dict[str, Any]:
        """Run a read-only graph query: Cypher on Neo4j; on the embedded store a documented Cypher subset.

        Embedded subset: MATCH (a:Label {key: value})-[:TYPE]->(b) WHERE b.key = value RETURN a, b.key LIMIT n
        (one node or one hop; conditions joined by AND; =, <>, <, <=, >, >=, CONTAINS, STARTS WITH,
        ENDS WITH). Writes, procedure calls and schema changes are refused.

        Args:
            query: The query text.
            params: Values for $name parameters in the query.
            limit: Maximum rows (1-200).
        """
        return run_query(self.graph, query, params or {}, limit=_bounded(limit, 1, MAX_LIMIT, "limit"))

    def context(self, query: str, budget_tokens: int = 2000) -> dict[str, Any]:
        """A context pack for a question: best passages and graph facts, each with a citation id, within a token budget.

        Args:
            query: The question.
            budget_tokens: Approximate size limit of the pack (200-8000 tokens; ~4 characters each).
        """
        from retrieval.context import build_context

        pack = build_context(self.graph, query, budget_tokens=_bounded(budget_tokens, 200, 8000, "budget_tokens"))
        return {**pack.to_dict(), "text": pack.to_text()}


def _bidirectional_path(g: KnowledgeGraph, a: str, b: str, types: list[str] | None,
                        max_hops: int) -> list[tuple[str, Edge, str]] | None:
    """Breadth-first search from both ends, a whole layer at a time; steps ``(from, edge, to)`` or None."""
    if a == b:
        return []
    parents: list[dict[str, tuple[str, Edge] | None]] = [{a: None}, {b: None}]
    depth: list[dict[str, int]] = [{a: 0}, {b: 0}]
    frontiers = [[a], [b]]
    for _ in range(max_hops):
        side = 0 if len(frontiers[0]) <= len(frontiers[1]) else 1
        if not frontiers[side]:
            return None
        seen, here_set = parents[side], set(frontiers[side])
        nxt: list[str] = []
        for e in g.store.edges_of(frontiers[side], types=types, direction="both"):
            for here, there in ((e.source, e.target), (e.target, e.source)):
                if here in here_set and there not in seen:
                    seen[there] = (here, e)
                    depth[side][there] = depth[side][here] + 1
                    nxt.append(there)
        meets = [n for n in nxt if n in parents[1 - side]]
        if meets:
            return _join(parents, min(meets, key=lambda n: (depth[1 - side][n], n)))
        frontiers[side] = sorted(set(nxt))
    return None


def _join(parents: list[dict[str, tuple[str, Edge] | None]], meet: str) -> list[tuple[str, Edge, str]]:
    left: list[tuple[str, Edge, str]] = []
    cur = meet
    while (p := parents[0][cur]) is not None:
        left.append((p[0], p[1], cur))
        cur = p[0]
    left.reverse()
    cur = meet
    while (p := parents[1][cur]) is not None:
        left.append((cur, p[1], p[0]))
        cur = p[0]
    return left


# -- read-only queries ---------------------------------------------------------------------------
_STRING = r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\""
_WRITE = re.compile(r"\b(CREATE|MERGE|DELETE|DETACH|SET|REMOVE|DROP|LOAD|FOREACH|ALTER|GRANT|DENY|REVOKE)\b",
                    re.IGNORECASE)
_VALUE = rf"(?:{_STRING}|-?\d+(?:\.\d+)?|true|false|null|\$\w+)"
_REL = r"(?P<lt><)?-\[\s*(?P<rvar>\w+)?\s*(?::\s*(?P<types>\w+(?:\s*\|\s*:?\w+)*))?\s*\]-(?P<gt>>)?"


def _node(p: str) -> str:
    return (rf"\(\s*(?P<{p}var>\w+)?\s*(?::\s*(?P<{p}label>\w+))?\s*"
            rf"(?P<{p}props>\{{(?:\s*\w+\s*:\s*{_VALUE}\s*,?)*\s*\}})?\s*\)")


_OPS = r"=|<>|<=|>=|<|>|CONTAINS|STARTS\s+WITH|ENDS\s+WITH"
_COND = rf"(\w+)\.(\w+)\s*({_OPS})\s*({_VALUE})"
_ITEM = r"type\(\s*\w+\s*\)|\w+(?:\.\w+)?"
_QUERY = re.compile(
    rf"^\s*MATCH\s+{_node('a')}\s*(?P<hop>{_REL}\s*{_node('b')})?\s*"
    rf"(?:WHERE\s+(?P<where>{_COND}(?:\s+AND\s+{_COND})*))?\s*"
    rf"RETURN\s+(?P<distinct>DISTINCT\s+)?(?P<ret>(?:{_ITEM})(?:\s*,\s*(?:{_ITEM}))*)\s*"
    r"(?:LIMIT\s+(?P<limit>\d+))?\s*;?\s*$", re.IGNORECASE | re.DOTALL)


def _check_read_only(query: str, *, calls: bool = False) -> None:
    bare = re.sub(_STRING, "''", query)
    m = _WRITE.search(bare) or (re.search(r"\b(CALL)\b", bare, re.IGNORECASE) if not calls else None)
    if m:
        raise ReadOnlyViolation(f"{m.group(1).upper()} is not allowed: agent queries are read-only")


def _literal(text: str, params: dict[str, Any]) -> Any:
    t = text.strip()
    if t.startswith("$"):
        if t[1:] not in params:
            raise QueryError(f"missing query parameter {t}")
        return params[t[1:]]
    if t[0] in "'\"":
        return re.sub(r"\\(.)", r"\1", t[1:-1])
    low = t.lower()
    if low in ("true", "false", "null"):
        return {"true": True, "false": False, "null": None}[low]
    return float(t) if "." in t else int(t)


def _prop(n: Node, key: str) -> Any:
    return n.id if key == "id" else (n.label if key == "label" else n.properties.get(key))


def _test(value: Any, op: str, want: Any) -> bool:
    op = " ".join(op.upper().split())
    try:
        if op == "=":
            return bool(value == want)
        if op == "<>":
            return bool(value != want)
        if value is None or want is None:
            return False
        if op in ("CONTAINS", "STARTS WITH", "ENDS WITH"):
            s, w = str(value), str(want)  # case-sensitive, as in Cypher
            return w in s if op == "CONTAINS" else (s.startswith(w) if op == "STARTS WITH" else s.endswith(w))
        return bool({"<": value < want, "<=": value <= want, ">": value > want, ">=": value >= want}[op])
    except TypeError:
        return False


def run_query(g: KnowledgeGraph, query: str, params: dict[str, Any], *, limit: int = 50) -> dict[str, Any]:
    """Run a read-only query: ``g.cypher`` on server stores, else the Cypher subset of :data:`QUERY_HELP`.

    Returns ``{"language", "columns", "rows", "truncated"}`` (rows are dicts keyed by column).
    """
    if g.store.runs_cypher:  # a server store: real Cypher; procedures are left to its read-only session
        _check_read_only(query, calls=True)
        got = g.store.cypher(query, params)
        records = list(getattr(got, "rows", got))  # a CypherResult, or plain row dicts
        cols = list(getattr(got, "columns", None) or (records[0] if records else []))
        return {"language": "cypher", "columns": cols, "rows": _jsonable([_plain(r) for r in records[:limit]]),
                "truncated": len(records) > limit or bool(getattr(got, "truncated", False))}
    _check_read_only(query)
    m = _QUERY.match(query)
    if m is None:
        raise QueryError("query not understood by the embedded store.\n" + QUERY_HELP)
    a = (m.group("avar") or "_a", m.group("alabel"), _props(m.group("aprops"), params))
    rel, b = None, None
    if m.group("hop"):
        types = [t.strip().lstrip(":") for t in m.group("types").split("|")] if m.group("types") else None
        rel = (m.group("rvar") or "_r", types, "in" if m.group("lt") else ("out" if m.group("gt") else "both"))
        b = (m.group("bvar") or "_b", m.group("blabel"), _props(m.group("bprops"), params))
    conds = [(c.group(1), c.group(2), c.group(3), _literal(c.group(4), params))
             for c in re.finditer(_COND, m.group("where") or "", re.IGNORECASE)]
    items = [s.strip() for s in m.group("ret").split(",")]
    known = {a[0]} | ({b[0], rel[0]} if b and rel else set())
    for it in items:
        var = re.sub(r"^type\(\s*(\w+)\s*\)$", r"\1", it, flags=re.IGNORECASE).split(".")[0]
        if var not in known:
            raise QueryError(f"RETURN names unknown variable {var!r}")
    asked = int(m.group("limit")) if m.group("limit") else None
    cap = min(asked or limit, limit)
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    truncated = False
    for binding in _bindings(g, a, rel, b):
        if not all(_test(_prop(binding[v], k), op, want) for v, k, op, want in conds if v in binding):
            continue
        row = {it: _value(binding, it) for it in items}
        if m.group("distinct"):
            key = repr(sorted(row.items(), key=lambda kv: kv[0]))
            if key in seen:
                continue
            seen.add(key)
        if len(rows) >= cap:
            truncated = asked is None or asked > limit  # cut by the tool's limit, not the query's LIMIT
            break
        rows.append(row)
    return {"language": "kgloom-cypher-subset", "columns": items, "rows": _jsonable(rows), "truncated": truncated}


def _props(text: str | None, params: dict[str, Any]) -> dict[str, Any]:
    if not text:
        return {}
    return {k: _literal(v, params) for k, v in re.findall(rf"(\w+)\s*:\s*({_VALUE})", text[1:-1])}


def _matches(n: Node | None, label: str | None, props: dict[str, Any]) -> bool:
    return n is not None and (label is None or n.label == label) and all(_prop(n, k) == v for k, v in props.items())


def _bindings(g: KnowledgeGraph, a: tuple[str, str | None, dict[str, Any]],
              rel: tuple[str, list[str] | None, str] | None,
              b: tuple[str, str | None, dict[str, Any]] | None) -> Iterator[dict[str, Any]]:
    """Every binding of the pattern's variables (nodes -> Node, relationship -> Edge)."""
    if rel is None or b is None:
        nodes = g.get_nodes([a[2]["id"]]).values() if "id" in a[2] else g.nodes(a[1])
        for i, n in enumerate(nodes):
            if i >= SCAN_LIMIT:
                raise QueryError(f"query scanned {SCAN_LIMIT} nodes; narrow it with a label or an id")
            if _matches(n, a[1], a[2]):
                yield {a[0]: n}
        return
    rvar, types, direction = rel
    if "id" in a[2] or "id" in b[2]:
        anchor = a[2]["id"] if "id" in a[2] else b[2]["id"]
        edges: Any = g.store.edges_of([anchor], types=types, direction="both")
    else:
        edges = g.store.iter_edges(types)
    batch: list[Edge] = []
    for i, e in enumerate(edges):
        if i >= SCAN_LIMIT:
            raise QueryError(f"query scanned {SCAN_LIMIT} edges; narrow it with an edge type or an id")
        batch.append(e)
        if len(batch) >= 1000:
            yield from _bind_batch(g, batch, a, rvar, direction, b)
            batch = []
    yield from _bind_batch(g, batch, a, rvar, direction, b)


def _bind_batch(g: KnowledgeGraph, edges: list[Edge], a: tuple[str, str | None, dict[str, Any]], rvar: str,
                direction: str, b: tuple[str, str | None, dict[str, Any]]) -> Iterator[dict[str, Any]]:
    nodes = g.get_nodes(sorted({x for e in edges for x in (e.source, e.target)}))
    for e in edges:
        ends = [(e.source, e.target)] if direction == "out" else (
            [(e.target, e.source)] if direction == "in" else [(e.source, e.target), (e.target, e.source)])
        for x, y in ends:
            na, nb = nodes.get(x), nodes.get(y)
            if _matches(na, a[1], a[2]) and _matches(nb, b[1], b[2]):
                yield {a[0]: na, b[0]: nb, rvar: e}


def _value(binding: dict[str, Any], item: str) -> Any:
    t = re.match(r"type\(\s*(\w+)\s*\)$", item, re.IGNORECASE)
    if t:
        return binding[t.group(1)].type
    var, _, key = item.partition(".")
    v = binding[var]
    if isinstance(v, Edge):
        return v.properties.get(key) if key else {"type": v.type, "source": v.source, "target": v.target,
                                                   "properties": v.properties}
    return _prop(v, key) if key else _brief(v)


def _plain(v: Any) -> Any:
    """Store values made JSON-ready: nodes and edges as small dicts, containers recursively."""
    if isinstance(v, Node):
        return _brief(v)
    if isinstance(v, Edge):
        return {"type": v.type, "source": v.source, "target": v.target, "properties": v.properties}
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return v


def _jsonable(rows: list[Any]) -> list[dict[str, Any]]:
    import json

    out: list[dict[str, Any]] = json.loads(json.dumps(rows, default=str))
    return out


# -- JSON schemas --------------------------------------------------------------------------------
def _json_type(tp: Any) -> dict[str, Any]:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is Literal:
        return {"type": "string", "enum": list(args)}
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        inner = [a for a in args if a is not type(None)]
        return _json_type(inner[0]) if len(inner) == 1 else {"anyOf": [_json_type(a) for a in inner]}
    if origin is list:
        return {"type": "array", "items": _json_type(args[0]) if args else {}}
    if origin is dict or tp is dict:
        return {"type": "object"}
    simple = {str: "string", int: "integer", float: "number", bool: "boolean"}
    if tp in simple:
        return {"type": simple[tp]}
    raise ConfigError(f"no JSON schema for {tp!r}")


def docstring_parts(fn: Callable[..., Any]) -> tuple[str, dict[str, str]]:
    """``(description, {arg: description})`` from a Google-style docstring."""
    doc = inspect.getdoc(fn) or ""
    head, _, args = doc.partition("\nArgs:\n")
    params: dict[str, str] = {}
    name = None
    for line in args.splitlines():
        m = re.match(r"\s{2,4}(\w+):\s*(.*)", line)
        if m:
            name = m.group(1)
            params[name] = m.group(2).strip()
        elif name and line.strip():
            params[name] += " " + line.strip()
    return " ".join(head.split()), params


def tool_schemas(tools: KGTools | None = None) -> list[dict[str, Any]]:
    """``[{"name", "description", "input_schema"}]`` for every tool (JSON Schema, framework-free)."""
    out = []
    for name in TOOL_NAMES:
        fn = getattr(KGTools, name)
        desc, arg_docs = docstring_parts(fn)
        hints = typing.get_type_hints(fn)
        props: dict[str, Any] = {}
        required: list[str] = []
        for p in list(inspect.signature(fn).parameters.values())[1:]:
            s = _json_type(hints[p.name])
            if p.name in arg_docs:
                s["description"] = arg_docs[p.name]
            if p.default is inspect.Parameter.empty:
                required.append(p.name)
            elif p.default is not None:
                s["default"] = p.default
            props[p.name] = s
        out.append({"name": name, "description": desc,
                    "input_schema": {"type": "object", "properties": props, "required": required}})
    return out
