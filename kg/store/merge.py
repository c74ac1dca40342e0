"""Pure functions shared by the stores: collapsing a source's records, merging properties of
several supports, and entity resolution by identity keys."""

from __future__ import annotations

import operator
from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import Any

from kg.ids import paper_id_from_keys
from kg.model import EdgeRecord, NodeRecord, ReadResult

EdgeKey = tuple[str, str, str]  # (source, type, target)


def merge_props(supports: Iterable[tuple[Any, ...]]) -> dict[str, Any]:
    """Merge property dicts of several supports ``(stub, source_path, props, ...)`` (further
    fields ride along: a caller sorting them the same way finds its first support first).

    Full records beat stubs; among equals the source path decides; per property the first
    support that has it wins.

    >>> merge_props([(True, "a", {"title": "T", "year": 1}), (False, "b", {"title": "Full"})])
    {'title': 'Full', 'year': 1}
    """
    ordered = sorted(supports, key=SUPPORT_ORDER)
    out: dict[str, Any] = dict(ordered[0][2]) if ordered else {}
    for support in ordered[1:]:
        for k, v in support[2].items():
            if k not in out:
                out[k] = v
    return out


SUPPORT_ORDER = operator.itemgetter(0, 1)  # supports sort by (stub, source path): full records first


def collapse(result: ReadResult) -> tuple[dict[str, NodeRecord], dict[EdgeKey, dict[str, Any]]]:
    """Collapse one source's records: one node per id, one edge per (source, type, target).

    Within a source a full record beats a stub of the same node; otherwise the first value of
    each property wins. Identity keys are unioned.
    """
    nodes: dict[str, NodeRecord] = {}
    for n in result.nodes:
        cur = nodes.get(n.id)
        if cur is None:
            nodes[n.id] = n  # records are not mutated: merges below build new ones
            continue
        if n.stub == cur.stub and n.properties == cur.properties and n.keys == cur.keys:
            continue  # the same record again (a venue, a category, a paper cited twice): nothing to merge
        first, second = (n, cur) if (cur.stub and not n.stub) else (cur, n)
        props = dict(first.properties)
        for k, v in second.properties.items():
            props.setdefault(k, v)
        keys = tuple(dict.fromkeys((*first.keys, *second.keys)))
        nodes[n.id] = NodeRecord(n.id, first.label, props, cur.stub and n.stub, keys)
    edges: dict[EdgeKey, dict[str, Any]] = {}
    for e in result.edges:
        key = (e.source, e.type, e.target)
        got = edges.get(key)
        if got is None:
            edges[key] = e.properties
        elif e.properties:
            edges[key] = {**e.properties, **got}
    return nodes, edges


class UnionFind:
    """Minimal union-find over strings."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        p = self.parent.setdefault(x, x)
        while p != self.parent.setdefault(p, p):
            self.parent[p] = self.parent[self.parent[p]]
            p = self.parent[p]
        self.parent[x] = p
        return p

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def _strong(keys: Iterable[str], scheme: str) -> set[str]:
    return {k for k in keys if k.startswith(scheme + ":")}


def compatible(keys_a: Iterable[str], keys_b: Iterable[str]) -> bool:
    """Two key sets may be the same paper unless a strong identifier disagrees.

    Conservative: records that share a title+year key are *not* merged when both carry a DOI
    (or both an arXiv id, or both an S2 id) and those differ.
    """
    ka, kb = set(keys_a), set(keys_b)
    for scheme in ("doi", "arxiv", "s2", "beir"):
        sa, sb = _strong(ka, scheme), _strong(kb, scheme)
        if sa and sb and not (sa & sb):
            return False
    return True


def resolve_ids(
    nodes: Mapping[str, Sequence[str]],
    existing: Mapping[str, AbstractSet[str]],
    key_owner: Mapping[str, AbstractSet[str]],
) -> tuple[dict[str, str], dict[str, str]]:
    """Entity resolution of one source's keyed records (``nodes``: id -> identity keys) against
    the store.

    ``existing`` maps stored node id -> its keys (from other sources); ``key_owner`` maps a key ->
    the stored node ids holding it. Returns ``(record_map, renames)``: the final id of each keyed
    record in this source, and stored nodes that must be renamed (merged) into a new id. The
    final id of a cluster is ``paper:`` + its best key, so it does not depend on ingest order.

    Most records share no key with another record of the source and no key with a stored node
    of another id, and their stored namesake (if any) shares no key with another record: such a
    record is a cluster of its own, settled without the union-find :func:`resolve_clusters` runs
    for the rest (``tests/test_first_load.py`` compares both on random key sets).
    """
    every = [k for ks in nodes.values() for k in ks]
    seen = set(every)
    shared: set[str] = set()  # keys more than one record of this source has
    if len(seen) != len(every):
        counted: set[str] = set()
        for k in every:
            if k in counted:
                shared.add(k)
            counted.add(k)
    record_map: dict[str, str] = {}
    renames: dict[str, str] = {}
    hard: dict[str, Sequence[str]] = {}
    for nid, keys in nodes.items():
        if not keys:
            continue
        alone = True
        for k in keys:
            owners = key_owner.get(k)
            if k in shared or (owners and (len(owners) > 1 or nid not in owners)):
                alone = False
                break
        ex = existing.get(nid)
        if ex:  # a stored node of the same id joins clusters through its own keys too
            mine = set(keys)
            alone = alone and not any(k in seen and k not in mine for k in ex)
            if alone:
                target = paper_id_from_keys(keys if ex <= mine else (*keys, *ex))
        elif alone:
            target = paper_id_from_keys(keys)
        if not alone:
            hard[nid] = keys
            continue
        record_map[nid] = target
        if ex is not None and nid != target:
            renames[nid] = target
    if hard:
        more_map, more_renames = resolve_clusters(hard, existing, key_owner)
        record_map.update(more_map)
        renames.update(more_renames)
    return record_map, renames


def resolve_clusters(
    nodes: Mapping[str, Sequence[str]],
    existing: Mapping[str, AbstractSet[str]],
    key_owner: Mapping[str, AbstractSet[str]],
) -> tuple[dict[str, str], dict[str, str]]:
    """:func:`resolve_ids` by union-find over shared keys, for any records."""
    uf = UnionFind()
    cluster_keys: dict[str, set[str]] = {}

    def keys_of(x: str) -> set[str]:
        root = uf.find(x)
        if root not in cluster_keys:
            cluster_keys[root] = set(existing.get(x, ())) | set(nodes.get(x, ()))
        return cluster_keys[root]

    by_key: dict[str, list[str]] = {}
    for nid, keys in nodes.items():
        if keys:
            keys_of(nid)
            for k in keys:
                by_key.setdefault(k, []).append(nid)
    for k, members in sorted(by_key.items()):
        for m in members[1:] + sorted(key_owner.get(k, ())):
            ra, rb = uf.find(members[0]), uf.find(m)
            if ra == rb:
                continue
            ka, kb = keys_of(ra), keys_of(rb)
            if compatible(ka, kb):
                uf.union(ra, rb)
                cluster_keys[uf.find(ra)] = ka | kb
    record_map: dict[str, str] = {}
    renames: dict[str, str] = {}
    groups: dict[str, list[str]] = {}
    for x in list(uf.parent):
        groups.setdefault(uf.find(x), []).append(x)
    for root, members in groups.items():
        target = paper_id_from_keys(sorted(cluster_keys[root]))
        for m in members:
            if m in nodes:
                record_map[m] = target
            if m in existing and m != target:
                renames[m] = target
    return record_map, renames


def remap(nodes: dict[str, NodeRecord], edges: dict[EdgeKey, dict[str, Any]],
          mapping: dict[str, str]) -> tuple[dict[str, NodeRecord], dict[EdgeKey, dict[str, Any]]]:
    """Apply an id mapping to collapsed records, re-collapsing nodes that now share an id."""
    if not any(k != v for k, v in mapping.items()):
        return nodes, edges
    merged = ReadResult()
    for nid, rec in nodes.items():
        merged.nodes.append(NodeRecord(mapping.get(nid, nid), rec.label, rec.properties, rec.stub, rec.keys))
    for (s, t, d), props in edges.items():
        s2, d2 = mapping.get(s, s), mapping.get(d, d)
        if s2 == d2 and t == "CITES":
            continue
        merged.edges.append(EdgeRecord(s2, d2, t, props))
    return collapse(merged)
