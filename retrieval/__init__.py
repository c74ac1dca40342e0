"""Hybrid retrieval over the knowledge graph: BM25, dense embeddings, a graph leg, RRF fusion.

>>> from retrieval import Filters
>>> Filters(labels=["Paper"], year=(2023, 2025)).empty
False
"""

from retrieval.filters import Filters
from retrieval.fusion import reciprocal_rank_fusion
from retrieval.types import Hit, SearchResult

__all__ = ["Filters", "Hit", "SearchResult", "reciprocal_rank_fusion"]
