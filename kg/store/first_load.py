"""First loads in memory: many new sources staged as successive ``write_source`` calls would
apply them, then written in one pass.

:class:`FirstLoad` mirrors the embedded store's per-source write step by step (collapse, entity
resolution against earlier sources' keys, renames, dropped dangling edges, supports) on
dictionaries instead of SQL, so the graph it yields is the one a file-by-file ingest gives;
``tests/test_first_load.py`` checks that table by table. What it saves is the per-file SQL: key
lookups, support reads for merges, re-merged rows written again by every later file, and index
maintenance during inserts. The store writes node rows sorted (edge rows in staging order: SQLite
inserts those faster than Python sorts them), with secondary indexes built after.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from kg.errors import ConfigError
from kg.model import NodeRecord, ReadResult
from kg.store.base import SourceInfo
from kg.store.merge import SUPPORT_ORDER, EdgeKey, collapse, merge_props, remap, resolve_ids

Support = tuple[str, bool, dict[str, Any]]  # (label, stub, properties) one source gives a node
Row = tuple[Any, ...]


def split_records(nodes: dict[str, NodeRecord]) -> tuple[dict[str, Support], dict[str, tuple[str, ...]]]:
    """Collapsed records as a first load stages them: each node's support ``(label, stub,
    properties)``, and the identity keys of the nodes that have some."""
    return ({nid: (r.label, r.stub, r.properties) for nid, r in nodes.items()},
            {nid: r.keys for nid, r in nodes.items() if r.keys})


@dataclass(slots=True)
class StagedSource:
    """A source row of a first load."""

    info: SourceInfo
    n_nodes: int
    n_edges: int
    warnings: list[str]
    errors: list[str]
    ingested_at: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%S"))


class FirstLoad:
    """New sources staged in memory, in order (source ids 1, 2, ... in that order).

    >>> load = FirstLoad()
    >>> load.add(SourceInfo("/a.md", "h"), ReadResult([NodeRecord("doc:1", "Document", {"title": "A"})]))
    >>> load.n_nodes
    1
    """

    def __init__(self) -> None:
        self.sources: list[StagedSource] = []
        self.paths: dict[str, int] = {}  # path -> source id (1-based, in order)
        self.nodes: dict[str, dict[int, Support]] = {}  # node id -> {source id: support}
        self.edges: dict[EdgeKey, dict[int, dict[str, Any]]] = {}  # edge key -> {source id: props}
        self.keys: dict[str, dict[str, set[int]]] = {}  # node id -> {identity key: source ids}
        self.key_nodes: dict[str, set[str]] = {}  # identity key -> node ids holding it
        self._adj: dict[str, set[EdgeKey]] | None = None  # built on the first rename only

    @property
    def n_nodes(self) -> int:
        """Distinct nodes staged so far."""
        return len(self.nodes)

    def __contains__(self, path: str) -> bool:
        return path in self.paths

    # -- staging (mirrors SQLiteStore._write for a source the store has never seen) --------------
    def add(self, source: SourceInfo, result: ReadResult) -> None:
        """Stage one new source's records (a path may be staged once)."""
        nodes, edges = collapse(result)
        self.add_collapsed(source, *split_records(nodes), edges, result.warnings, result.errors)

    def add_collapsed(self, source: SourceInfo, supports: dict[str, Support], keys: dict[str, tuple[str, ...]],
                      edges: dict[EdgeKey, dict[str, Any]], warnings: list[str], errors: list[str],
                      closed: bool = False) -> None:
        """:meth:`add` for records :func:`kg.store.merge.collapse` collapsed, split by
        :func:`split_records`. ``closed``: every edge is known to join two of these nodes."""
        if source.path in self.paths:
            raise ConfigError(f"{source.path} is already staged")
        sid = len(self.sources) + 1
        if keys:
            key_nodes, staged_keys = self.key_nodes, self.keys
            key_owner = {k: got for ks in keys.values() for k in ks if (got := key_nodes.get(k))}
            existing = {o: staged_keys[o].keys() for s in key_owner.values() for o in s if o in staged_keys}
            staged_nodes = self.nodes  # every staged node belongs to an earlier source
            record_map, renames = resolve_ids(keys, existing, key_owner,
                                              lambda ids: {i for i in ids if i in staged_nodes})
            for old, new in sorted(renames.items()):
                self._rename(old, new)
            if any(k != v for k, v in record_map.items()):
                nodes = {nid: NodeRecord(nid, s[0], s[2], s[1], keys.get(nid, ())) for nid, s in supports.items()}
                nodes, edges = remap(nodes, edges, record_map)
                supports, keys = split_records(nodes)
        if not closed:
            edges = {k: p for k, p in edges.items() if k[0] in supports and k[2] in supports}
        staged = self.nodes
        for nid, sup in supports.items():
            have = staged.get(nid)
            if have is None:
                staged[nid] = {sid: sup}
            else:
                have[sid] = sup
        for nid, ks in keys.items():
            self._add_keys(nid, ks, sid)
        linked = self._adj is not None
        for key, props in edges.items():
            esup = self.edges.get(key)
            if esup is None:
                self.edges[key] = {sid: props}
                if linked:
                    self._link(key)
            else:
                esup[sid] = props
        self.paths[source.path] = sid
        self.sources.append(StagedSource(source, len(supports), len(edges), list(warnings), list(errors)))

    def _add_keys(self, nid: str, keys: tuple[str, ...], sid: int) -> None:
        mine = self.keys.get(nid)
        if mine is None:
            mine = self.keys[nid] = {}
        key_nodes = self.key_nodes
        for k in keys:
            sids = mine.get(k)
            if sids is None:
                mine[k] = {sid}
            else:
                sids.add(sid)
            holders = key_nodes.get(k)
            if holders is None:
                key_nodes[k] = {nid}
            else:
                holders.add(nid)

    def _rename(self, old: str, new: str) -> None:
        """Move ``old``'s supports, keys and edge supports to ``new``; a source that already
        supports the new id keeps that support (SQL's ``UPDATE OR IGNORE`` + ``DELETE``)."""
        sup = self.nodes.pop(old, {})
        target = self.nodes.setdefault(new, {})
        for sid, s in sup.items():
            target.setdefault(sid, s)
        if not target:
            del self.nodes[new]
        moved_keys = self.keys.pop(old, {})
        if moved_keys:
            mine = self.keys.setdefault(new, {})
            for k, sids in moved_keys.items():
                mine.setdefault(k, set()).update(sids)
                holders = self.key_nodes[k]
                holders.discard(old)
                holders.add(new)
        if self._adj is None:
            self._adj = {}
            for key in self.edges:
                self._link(key)
        for pos in (0, 2):  # the src column first, then dst, as the SQL does
            for key in sorted(k for k in self._adj.get(old, ()) if k[pos] == old):
                esup = self.edges.pop(key)
                self._unlink(key)
                new_key = (new, key[1], key[2]) if pos == 0 else (key[0], key[1], new)
                dest = self.edges.get(new_key)
                if dest is None:
                    dest = self.edges[new_key] = {}
                    self._link(new_key)
                for sid, props in esup.items():
                    dest.setdefault(sid, props)

    def _link(self, key: EdgeKey) -> None:
        assert self._adj is not None
        for end in (key[0], key[2]):
            self._adj.setdefault(end, set()).add(key)

    def _unlink(self, key: EdgeKey) -> None:
        assert self._adj is not None
        for end in (key[0], key[2]):
            got = self._adj.get(end)
            if got is not None:
                got.discard(key)

    # -- rows ------------------------------------------------------------------------------------
    def node_rows(self, dumps: Any, version: int, shared: str) -> tuple[Iterator[Row], Iterator[Row]]:
        """``nodes`` rows and ``node_support`` rows, each in primary-key order, made as they are
        consumed (an insert reuses the memory of the rows before).

        A node with one support gets its properties in the ``nodes`` row only (``shared``)."""
        order = sorted(self.nodes)  # in key order: rows with abstracts insert much faster sorted
        return self._node_rows(order, dumps, version), self._support_rows(order, dumps, shared)

    def _node_rows(self, order: list[str], dumps: Any, version: int) -> Iterator[Row]:
        paths, staged = self.source_paths(), self.nodes
        for nid in order:
            sup = staged[nid]
            if len(sup) == 1:
                for label, stub, props in sup.values():
                    yield nid, label, dumps({**props, "stub": True} if stub else props), version
            else:
                label, merged = self._merge(sup, paths)
                yield nid, label, dumps(merged), version

    def _support_rows(self, order: list[str], dumps: Any, shared: str) -> Iterator[Row]:
        staged = self.nodes
        for nid in order:
            sup = staged[nid]
            if len(sup) == 1:
                for sid, (label, stub, _) in sup.items():
                    yield nid, sid, label, int(stub), shared
            else:
                for sid, (label, stub, props) in sorted(sup.items()):
                    yield nid, sid, label, int(stub), dumps(props)

    def source_paths(self) -> list[str]:
        """Source paths by source id (index 0 unused)."""
        return [""] + [s.info.path for s in self.sources]

    def merged_node(self, nid: str, paths: list[str] | None = None) -> tuple[str, dict[str, Any]]:
        """A staged node's label and properties as its ``nodes`` row will hold them (``paths``:
        :meth:`source_paths`, when the caller has it)."""
        sup = self.nodes[nid]
        if len(sup) == 1:
            ((_, (label, stub, props)),) = sup.items()
            return label, ({**props, "stub": True} if stub else props)
        return self._merge(sup, paths or self.source_paths())

    def merged_edge(self, key: EdgeKey, paths: list[str] | None = None) -> dict[str, Any]:
        """A staged edge's properties as its ``edges`` row will hold them."""
        sup = self.edges[key]
        if len(sup) == 1:
            return next(iter(sup.values()))
        p = paths or self.source_paths()
        return merge_props((False, p[sid], props) for sid, props in sup.items())

    def node_label(self, nid: str, paths: list[str]) -> str:
        """A staged node's label (that of its first support, as :meth:`merged_node` picks it)."""
        sup = self.nodes[nid]
        return next(iter(sup.values()))[0] if len(sup) == 1 else self._first(sup, paths)[0]

    @staticmethod
    def _first(sup: dict[int, Support], paths: list[str]) -> Support:
        """The support whose label a node takes: full records before stubs, then by source path."""
        return min(((s[1], paths[sid], s) for sid, s in sup.items()), key=SUPPORT_ORDER)[2]

    @staticmethod
    def _merge(sup: dict[int, Support], paths: list[str]) -> tuple[str, dict[str, Any]]:
        """Label and merged properties of several supports (by :func:`kg.store.merge.merge_props`)."""
        ordered = sorted(((stub, paths[sid], props, label) for sid, (label, stub, props) in sup.items()), key=SUPPORT_ORDER)
        merged = merge_props(ordered)  # sorts the same way: ordered[0] is the first support
        if ordered[0][0]:  # stubs sort last: the first is a stub only when all are
            merged["stub"] = True
        return ordered[0][3], merged

    def key_rows(self) -> Iterator[tuple[str, str, int]]:
        """``node_keys`` rows."""
        nodes = self.nodes
        return ((k, nid, sid) for nid, ks in self.keys.items() if nid in nodes for k, sids in ks.items() for sid in sids)

    def edge_rows(self, dumps: Any) -> tuple[list[Row], Iterator[Row]]:
        """The ``edges`` rows of the edges several sources support, and ``edge_support`` rows
        (edges with both endpoints staged; made as they are consumed, in staging order: SQLite
        inserts these faster than Python sorts them). An edge with one support has that
        support's properties, so the store copies its row from ``edge_support``."""
        paths, nodes = self.source_paths(), self.nodes
        merged = [(*key, dumps(self.merged_edge(key, paths))) for key, sup in self.edges.items()
                  if len(sup) > 1 and key[0] in nodes and key[2] in nodes]
        return merged, self._edge_support_rows(dumps)

    def _edge_support_rows(self, dumps: Any) -> Iterator[Row]:
        nodes = self.nodes
        for key, sup in self.edges.items():
            if key[0] not in nodes or key[2] not in nodes:
                continue
            if len(sup) == 1:
                for sid, props in sup.items():
                    yield *key, sid, dumps(props) if props else "{}"
            else:
                for sid, props in sorted(sup.items()):
                    yield *key, sid, dumps(props)

