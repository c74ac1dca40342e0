"""kgloom: folders of papers, documents and agent skills -> a knowledge graph you can search.

>>> from kg import KnowledgeGraph
>>> g = KnowledgeGraph.open("./.kg")   # doctest: +SKIP
"""

from kg.errors import KGError, MissingExtraError, NodeNotFoundError, ReaderError, StoreError
from kg.graph import KnowledgeGraph, Subgraph
from kg.model import Edge, EdgeRecord, Label, Node, NodeRecord, ReadResult, Rel

__version__ = "0.1.0"

__all__ = [
    "Edge", "EdgeRecord", "KGError", "KnowledgeGraph", "Label", "MissingExtraError", "Node",
    "NodeNotFoundError", "NodeRecord", "ReadResult", "ReaderError", "Rel", "StoreError", "Subgraph",
]
