"""Export the graph as JSON Lines or GraphML (for Gephi / yEd)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from kg.errors import ConfigError

if TYPE_CHECKING:
    from kg.graph import KnowledgeGraph

FORMATS = ("jsonl", "graphml")


def _graphml_value(v: Any) -> Any:
    if isinstance(v, bool | int | float | str):
        return v
    return orjson.dumps(v).decode()


def export_graph(g: KnowledgeGraph, path: Path, *, format: str = "jsonl") -> dict[str, int]:
    """Write nodes then edges to ``path``.

    jsonl: ``{"kind":"node","id","label","properties"}`` and
    ``{"kind":"edge","source","target","type","properties"}``, one per line.
    graphml: node attribute ``label``, edge attribute ``type``; non-scalar properties as JSON text.
    """
    if format not in FORMATS:
        raise ConfigError(f"unknown export format {format!r}; known: {', '.join(FORMATS)}")
    n_nodes = n_edges = 0
    if format == "jsonl":
        with open(path, "wb") as fh:
            for n in g.store.iter_nodes():
                fh.write(orjson.dumps({"kind": "node", "id": n.id, "label": n.label, "properties": n.properties}))
                fh.write(b"\n")
                n_nodes += 1
            for e in g.store.iter_edges():
                fh.write(orjson.dumps({"kind": "edge", "source": e.source, "target": e.target, "type": e.type,
                                       "properties": e.properties}))
                fh.write(b"\n")
                n_edges += 1
        return {"nodes": n_nodes, "edges": n_edges}
    import networkx as nx

    G = nx.MultiDiGraph()
    for n in g.store.iter_nodes():
        G.add_node(n.id, label=n.label, **{k: _graphml_value(v) for k, v in n.properties.items() if v is not None})
    for e in g.store.iter_edges():
        G.add_edge(e.source, e.target, key=e.type, type=e.type,
                   **{k: _graphml_value(v) for k, v in e.properties.items() if v is not None})
    nx.write_graphml(G, path)
    return {"nodes": G.number_of_nodes(), "edges": G.number_of_edges()}
