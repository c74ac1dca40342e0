"""A read-only store over a staged first load (:class:`kg.store.bulk.FirstLoad`): the graph as it
will read once written, available before it is. The search index is built from it in a second
process while the embedded store writes the same load (see :func:`retrieval.index.prebuild_first_load`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import orjson

from kg.errors import StoreError
from kg.model import Edge, Node, ReadResult
from kg.store.base import Changes, Direction, GraphStore, SourceInfo, SourceState, WriteStats
from kg.store.bulk import FirstLoad


def _as_stored(props: dict[str, Any]) -> dict[str, Any]:
    """Properties as the store returns them (JSON round trip: tuples become lists, and so on)."""
    out: dict[str, Any] = orjson.loads(orjson.dumps(props, option=orjson.OPT_NON_STR_KEYS))
    return out


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
        return {i: self._node(i) for i in ids if i in self.load.nodes}

    def iter_nodes(self, labels: Iterable[str] | None = None) -> Iterator[Node]:
        wanted = set(labels) if labels is not None else None
        for nid in sorted(self.load.nodes):
            node = self._node(nid)
            if wanted is None or node.label in wanted:
                yield node

    def _edges(self) -> Iterator[tuple[tuple[str, str, str], dict[int, dict[str, Any]]]]:
        nodes = self.load.nodes
        for key in sorted(self.load.edges):
            if key[0] in nodes and key[2] in nodes:
                yield key, self.load.edges[key]

    def _edge(self, key: tuple[str, str, str], sup: dict[int, dict[str, Any]]) -> Edge:
        return Edge(key[0], key[2], key[1], _as_stored(self.load.merged_edge(key, self._paths)))

    def iter_edges(self, types: Iterable[str] | None = None) -> Iterator[Edge]:
        wanted = set(types) if types is not None else None
        for key, sup in self._edges():
            if wanted is None or key[1] in wanted:
                yield self._edge(key, sup)

    def edges_of(self, ids: Sequence[str], *, types: Iterable[str] | None = None,
                 direction: Direction = "both") -> list[Edge]:
        want = set(ids)
        wanted = set(types) if types is not None else None
        return [self._edge(key, sup) for key, sup in self._edges()
                if (wanted is None or key[1] in wanted)
                and ((direction in ("out", "both") and key[0] in want) or (direction in ("in", "both") and key[2] in want))]

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
            label = self.load.merged_node(nid, self._paths)[0]
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
