"""A read-only store over a staged first load (:class:`kg.store.first_load.FirstLoad`): the graph as it
will read once written, available before it is. The search index is built from it in a second
process while the embedded store writes the same load (see :func:`retrieval.index.prebuild_first_load`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import orjson

from kg.errors import StoreError
from kg.model import Edge, Node, ReadResult, caption
from kg.store.base import Changes, Direction, GraphStore, SourceInfo, SourceState, WriteStats
from kg.store.first_load import FirstLoad
from kg.store.merge import EdgeKey
from kg.store.provenance import EdgeSupport, NodeKey, NodeSupport

_JSON = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS  # canonical JSON, as the stores write it
_PLAIN = frozenset({str, int, bool, type(None)})  # values a JSON round trip returns as they are


def _as_stored(props: dict[str, Any]) -> dict[str, Any]:
    """Properties as the store returns them (JSON round trip: tuples become lists, and so on);
    a copy without the round trip when every key is a string and every value plain."""
    for k, v in props.items():
        if type(v) not in _PLAIN or type(k) is not str:
            out: dict[str, Any] = orjson.loads(orjson.dumps(props, option=orjson.OPT_NON_STR_KEYS))
            return out
    return dict(props)


class FirstLoadView(GraphStore):
    """Reads of the graph a :class:`FirstLoad` will write at ``version``; writes are refused."""

    def __init__(self, load: FirstLoad, version: int, url: str = "") -> None:
        self.load = load
        self._at = version
        self.url = url
        self._paths = load.source_paths()  # the load is complete: sources no longer change

    def _node(self, nid: str) -> Node:
        label, props = self.load.merged_node(nid, self._paths)
        return Node(nid, label, _as_stored(props))

    # -- reads -----------------------------------------------------------------------------------
    def get_nodes(self, ids: Sequence[str]) -> dict[str, Node]:
        nodes = self.load.nodes
        return {i: self._node(i) for i in ids if i in nodes}

    def display_names(self, ids: Sequence[str]) -> dict[str, str]:
        nodes, merged, paths = self.load.nodes, self.load.merged_node, self._paths
        return {i: caption(_as_stored(merged(i, paths)[1]), i) for i in ids if i in nodes}

    def iter_nodes(self, labels: Iterable[str] | None = None) -> Iterator[Node]:
        nodes = self.load.nodes
        if labels is None:
            ids: Iterable[str] = nodes
        else:
            wanted, label, paths = set(labels), self.load.node_label, self._paths
            ids = [nid for nid, sup in nodes.items()
                   if (next(iter(sup.values()))[0] if len(sup) == 1 else label(nid, paths)) in wanted]
        for nid in sorted(ids):
            yield self._node(nid)

    def _edges(self, types: Iterable[str] | None = None) -> Iterator[tuple[tuple[str, str, str], dict[int, dict[str, Any]]]]:
        nodes, edges = self.load.nodes, self.load.edges
        wanted = set(types) if types is not None else None
        for key in sorted(k for k in edges if (wanted is None or k[1] in wanted) and k[0] in nodes and k[2] in nodes):
            yield key, edges[key]

    def _edge(self, key: tuple[str, str, str], sup: dict[int, dict[str, Any]]) -> Edge:
        return Edge(key[0], key[2], key[1], _as_stored(self.load.merged_edge(key, self._paths)))

    def iter_edges(self, types: Iterable[str] | None = None) -> Iterator[Edge]:
        for key, sup in self._edges(types):
            yield self._edge(key, sup)

    def edge_keys(self, types: Iterable[str] | None = None) -> Iterator[tuple[str, str, str]]:
        nodes = self.load.nodes
        wanted = set(types) if types is not None else None
        return (k for k in self.load.edges if (wanted is None or k[1] in wanted) and k[0] in nodes and k[2] in nodes)

    def edges_of(self, ids: Sequence[str], *, types: Iterable[str] | None = None,
                 direction: Direction = "both") -> list[Edge]:
        want = set(ids)
        return [self._edge(key, sup) for key, sup in self._edges(types)
                if (direction in ("out", "both") and key[0] in want) or (direction in ("in", "both") and key[2] in want)]

    def node_supports(self, ids: Sequence[str] | None = None) -> Iterator[NodeSupport]:
        nodes, paths = self.load.nodes, self._paths
        for nid in sorted(nodes) if ids is None else [i for i in ids if i in nodes]:
            for sid, (label, stub, props) in sorted(nodes[nid].items()):
                yield nid, paths[sid], label, stub, orjson.dumps(props, option=_JSON).decode()

    def node_keys(self, ids: Sequence[str] | None = None) -> Iterator[NodeKey]:
        keys, paths = self.load.keys, self._paths
        for nid in sorted(self.load.nodes) if ids is None else ids:
            for key, sids in sorted(keys.get(nid, {}).items()):
                yield from ((key, nid, paths[sid]) for sid in sorted(sids))

    def edge_supports(self, keys: Iterable[EdgeKey] | None = None) -> Iterator[EdgeSupport]:
        paths = self._paths
        wanted = None if keys is None else set(keys)
        for key, sup in self._edges():
            if wanted is None or key in wanted:
                for sid, props in sorted(sup.items()):
                    yield *key, paths[sid], _as_stored(props)

    def derived_sources(self) -> set[str]:
        return set()  # a first load holds files: each edge joins two nodes of its source

    def node_sources(self, node_id: str) -> list[str]:
        sids = self.load.nodes.get(node_id, {})
        return sorted(self.load.sources[sid - 1].info.path for sid in sids)

    def ids_by_source(self, prefix: str) -> set[str]:
        folder = prefix.rstrip("/") + "/"
        sids = {i for i, s in enumerate(self.load.sources, 1) if s.info.path == prefix or s.info.path.startswith(folder)}
        return {nid for nid, sup in self.load.nodes.items() if sids & sup.keys()}

    def counts(self) -> dict[str, dict[str, int]]:
        nodes: dict[str, int] = {}
        for nid in self.load.nodes:
            label = self.load.node_label(nid, self._paths)
            nodes[label] = nodes.get(label, 0) + 1
        edges: dict[str, int] = {}
        for key, _ in self._edges():
            edges[key[1]] = edges.get(key[1], 0) + 1
        return {"nodes": dict(sorted(nodes.items())), "edges": dict(sorted(edges.items()))}

    def changes_since(self, version: int) -> Changes:
        return Changes(sorted(self.load.nodes) if version < self._at else [], [], self._at)

    def version(self) -> int:
        return self._at

    def source(self, path: str) -> SourceState | None:
        sid = self.load.paths.get(path)
        if sid is None:
            return None
        s = self.load.sources[sid - 1]
        i = s.info
        return SourceState(i.path, i.hash, i.size, i.mtime, i.reader, s.n_nodes, s.n_edges, list(s.warnings),
                           list(s.errors), s.ingested_at)

    def sources(self) -> list[SourceState]:
        return sorted((st for p in self.load.paths if (st := self.source(p)) is not None), key=lambda st: st.path)

    def get_meta(self, key: str) -> Any:
        return None

    def user_meta(self) -> dict[str, Any]:
        return {}

    def reopen(self) -> None:
        pass  # nothing is open

    def close(self) -> None:
        pass

    # -- writes: refused ---------------------------------------------------------------------------
    def _read_only(self) -> StoreError:
        return StoreError("a first-load view is read-only")

    def write_source(self, source: SourceInfo, result: ReadResult, *, derived: bool = False) -> WriteStats:
        raise self._read_only()

    def remove_source(self, path: str) -> WriteStats:
        raise self._read_only()

    def touch_source(self, path: str, mtime: float) -> None:
        raise self._read_only()

    def set_meta(self, key: str, value: Any) -> None:
        raise self._read_only()
