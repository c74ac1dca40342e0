"""What search reads of a node: which labels are searched, the text each is searched by, the hash
that says whether that text changed, and the edges search filters follow.

One set of rules for every store: the embedded store's index (:mod:`retrieval.index`) and the
Neo4j store's full-text and vector indexes (:mod:`kg.neo4j.schema`, :mod:`kg.neo4j.admin_import`)
all use these, so both stores search the same text.
"""

from __future__ import annotations

import hashlib

from kg.model import Label, Node, Rel

SEARCHABLE = (Label.PAPER, Label.CHUNK, Label.SKILL, Label.DOCUMENT, Label.TOPIC, Label.MESSAGE)
# edges from a result to what a ``categories`` filter matches (categories, topics, venues)
CATEGORY_EDGES = (Rel.IN_CATEGORY, Rel.HAS_TOPIC, Rel.PUBLISHED_IN)


def node_text(node: Node) -> str:
    """The text a node is searched by ('' when it has none).

    >>> node_text(Node("paper:1", Label.PAPER, {"title": "Graphs ", "abstract": "Dense retrieval."}))
    'Graphs\\nDense retrieval.'
    """
    p = node.properties
    if node.label == Label.PAPER:
        parts = [p.get("title"), p.get("abstract")]
    elif node.label == Label.CHUNK:
        parts = [p.get("text")]
    elif node.label == Label.SKILL:
        parts = [p.get("name"), p.get("description")]
    elif node.label == Label.DOCUMENT:
        parts = [p.get("title"), p.get("description")]
    elif node.label == Label.MESSAGE:
        parts = [p.get("subject"), p.get("snippet")]
    elif node.label == Label.TOPIC:
        terms = p.get("terms") or []
        parts = [p.get("label"), " ".join(t if isinstance(t, str) else str(t[0]) for t in terms)]
    else:
        parts = [p.get("title") or p.get("name")]
    return "\n".join(str(x).strip() for x in parts if x and str(x).strip())


def text_hash(text: str) -> str:
    """Short content hash of a node's search text: an unchanged text keeps its embedding.

    Never raises: a lone surrogate (text decoded with ``surrogateescape``) is hashed as its code
    point rather than refused.

    >>> text_hash("graph retrieval") == text_hash("graph retrieval") != text_hash("graph")
    True
    >>> len(text_hash("bad \\udcff byte"))
    16
    """
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()
