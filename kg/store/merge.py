"""Pure functions shared by the stores: collapsing a source's records, merging properties of
several supports, and entity resolution by identity keys."""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any

from kg.ids import paper_id_from_keys, title_key_year
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
    """Two key sets may be the same paper unless a strong identifier or the year disagrees.

    Conservative: records that share a title key are *not* merged when both carry a DOI (or
    both an arXiv id, or both an S2 id) and those differ. Without a shared identifier,
    records whose ``title:`` keys both carry years are merged only when some two of those years
    are at most one apart (a preprint and its venue version); two papers titled alike but
    published years apart stay apart.

    >>> compatible({"doi:10.1/a", "title:x:2019"}, {"doi:10.1/b", "title:x:2019"})
    False
    >>> compatible({"ntitle:x", "title:x:2019"}, {"ntitle:x", "title:x:2020"})
    True
    >>> compatible({"ntitle:x", "title:x:2001"}, {"ntitle:x", "title:x:2015"})
    False
    """
    ka, kb = set(keys_a), set(keys_b)
    for scheme in _STRONG:
        sa, sb = _strong(ka, scheme), _strong(kb, scheme)
        if sa and sb and not (sa & sb):
            return False
    if any(not k.startswith(_TITLE_SCHEMES) for k in ka & kb):
        return True  # an identifier (DOI, S2, MAG, PubMed, ...) agrees: years do not matter
    years_a = {y for k in ka if (y := title_key_year(k)) is not None}
    years_b = {y for k in kb if (y := title_key_year(k)) is not None}
    return not (years_a and years_b) or any(abs(x - y) <= 1 for x in years_a for y in years_b)


_STRONG = ("doi", "arxiv", "s2", "beir")
_TITLE_SCHEMES = ("title:", "ntitle:")


Taken = Callable[[list[str]], AbstractSet[str]]
"""``taken(ids)``: those of ``ids`` that are stored nodes supported by another source."""


def resolve_ids(
    nodes: Mapping[str, Sequence[str]],
    existing: Mapping[str, AbstractSet[str]],
    key_owner: Mapping[str, AbstractSet[str]],
    taken: Taken | None = None,
) -> tuple[dict[str, str], dict[str, str]]:
    """Entity resolution of one source's keyed records (``nodes``: id -> identity keys) against
    the store.

    ``existing`` maps stored node id -> its keys (from other sources); ``key_owner`` maps a key ->
    the stored node ids holding it. Returns ``(record_map, renames)``: the final id of each keyed
    record in this source, and stored nodes that must be renamed (merged) into a new id. The
    final id of a cluster is ``paper:`` + its best key, so it does not depend on ingest order.

    A title key gives its id without the year (``paper:title:<hash>``), so two papers titled
    alike but not merged (no shared key, or years apart) would meet on one id: ``taken`` says
    which such ids are stored already, and every cluster but the one that holds the id gets
    ``paper:title:<hash>:<year>`` instead (:func:`separate_namesakes`).

    Most records share no key with another record of the source and no key with a stored node
    of another id, and their stored namesake (if any) shares no key with another record: such a
    record is a cluster of its own, settled without the union-find :func:`resolve_clusters` runs
    for the rest (``tests/test_first_load.py`` compares both on random key sets).
    """
    nodes, aliases = _apart_from_namesakes(nodes, existing)
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
    titled: list[Cluster] = []
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
        if target.startswith(_TITLE_ID):
            titled.append(Cluster(target, [nid], [nid] if ex is not None else [], {*keys, *(ex or ())}))
    if hard:
        more_map, more_renames, more_titled = _clusters(hard, existing, key_owner)
        record_map.update(more_map)
        renames.update(more_renames)
        titled += more_titled
    if taken is not None and titled:
        separate_namesakes(titled, taken, record_map, renames)
    return _unalias(record_map, aliases), renames


def resolve_clusters(
    nodes: Mapping[str, Sequence[str]],
    existing: Mapping[str, AbstractSet[str]],
    key_owner: Mapping[str, AbstractSet[str]],
    taken: Taken | None = None,
) -> tuple[dict[str, str], dict[str, str]]:
    """:func:`resolve_ids` by union-find over shared keys, for any records."""
    nodes, aliases = _apart_from_namesakes(nodes, existing)
    record_map, renames, titled = _clusters(nodes, existing, key_owner)
    if taken is not None and titled:
        separate_namesakes(titled, taken, record_map, renames)
    return _unalias(record_map, aliases), renames


_ALIAS = "\x00new"  # appended to a record's id while it is resolved apart from its stored namesake


def _apart_from_namesakes(
    nodes: Mapping[str, Sequence[str]], existing: Mapping[str, AbstractSet[str]],
) -> tuple[Mapping[str, Sequence[str]], bool]:
    """A record whose stored node of the same title id is not :func:`compatible` with it (years
    far apart) is resolved under an alias, as the different paper it is."""
    clash = [nid for nid, keys in nodes.items()
             if nid.startswith(_TITLE_ID) and (ex := existing.get(nid)) and not compatible(keys, ex)]
    if not clash:
        return nodes, False
    out = dict(nodes)
    for nid in clash:
        out[nid + _ALIAS] = out.pop(nid)
    return out, True


def _unalias(record_map: dict[str, str], aliases: bool) -> dict[str, str]:
    if not aliases:
        return record_map
    return {k.removesuffix(_ALIAS): v for k, v in record_map.items()}


@dataclass
class Cluster:
    """Records of this source and stored nodes resolved as one paper, and their keys."""

    target: str
    records: list[str]
    stored: list[str]
    keys: set[str]


def _clusters(
    nodes: Mapping[str, Sequence[str]],
    existing: Mapping[str, AbstractSet[str]],
    key_owner: Mapping[str, AbstractSet[str]],
) -> tuple[dict[str, str], dict[str, str], list[Cluster]]:
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
    titled: list[Cluster] = []
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
        if target.startswith(_TITLE_ID):
            titled.append(Cluster(target, [m for m in members if m in nodes], [m for m in members if m in existing],
                                  cluster_keys[root]))
    return record_map, renames, titled


_TITLE_ID = "paper:title:"


def separate_namesakes(clusters: Sequence[Cluster], taken: Taken, record_map: dict[str, str],
                       renames: dict[str, str]) -> None:
    """Give clusters that would share a title id with another paper an id of their own (in place).

    A cluster keeps ``paper:title:<hash>`` when it holds the stored node of that id, or when no
    other paper has it (the first of several new ones, by record id); the others get the id with
    the year, ``paper:title:<hash>:<year>`` (:func:`kg.ids.paper_id_from_keys` ``keep_year``).
    """
    by_target: dict[str, list[Cluster]] = {}
    for c in clusters:
        by_target.setdefault(c.target, []).append(c)
    present = set(taken(sorted(by_target))) - set(renames)  # a stored node renamed away frees its id
    for target, group in sorted(by_target.items()):
        if len(group) == 1 and (target not in present or target in group[0].stored):
            continue
        keeper = next((c for c in group if target in c.stored), None)
        if keeper is None and target not in present:
            keeper = min(group, key=lambda c: min(c.records or c.stored))
        for c in group:
            if c is keeper:
                continue
            new = paper_id_from_keys(sorted(c.keys), keep_year=True)
            for r in c.records:
                record_map[r] = new
            for m in c.stored:
                if m != new:
                    renames[m] = new
                else:
                    renames.pop(m, None)


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
