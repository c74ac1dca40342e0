"""Provenance rows: what one source contributed to one node or edge, as every store reports it
(:meth:`kg.store.base.GraphStore.node_supports`, :meth:`~kg.store.base.GraphStore.node_keys`,
:meth:`~kg.store.base.GraphStore.edge_supports`). Copies between stores
(:mod:`kg.neo4j.cypher_copy`, :mod:`kg.neo4j.admin_import`) read them, so a copy behaves like its
original on later ingests and removals.
"""

from __future__ import annotations

from typing import Any

NodeSupport = tuple[str, str, str, bool, str]  # (node id, source path, label, stub, its properties as JSON)
NodeKey = tuple[str, str, str]  # (identity key, node id, source path)
EdgeSupport = tuple[str, str, str, str, dict[str, Any]]  # (source id, type, target id, source path, properties)

__all__ = ["EdgeSupport", "NodeKey", "NodeSupport"]
