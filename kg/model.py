"""Graph model: node labels, edge types, and the records readers emit.

Readers never talk to a store. They turn one file into a :class:`ReadResult` (node and edge
records plus warnings); the store writes a file's records in one transaction and remembers which
source supports each node and edge, so re-ingesting or removing that file replaces exactly its
own contributions. See ``docs/schema.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class Label:
    """Node labels (Neo4j-style PascalCase)."""

    PAPER = "Paper"
    AUTHOR = "Author"
    DOCUMENT = "Document"
    CHUNK = "Chunk"
    SKILL = "Skill"
    TOOL = "Tool"
    REPOSITORY = "Repository"
    VENUE = "Venue"
    CATEGORY = "Category"
    ORGANIZATION = "Organization"
    TOPIC = "Topic"
    MESSAGE = "Message"  # an e-mail
    PERSON = "Person"  # an e-mail address's owner


class Rel:
    """Edge types (Neo4j-style UPPER_SNAKE)."""

    AUTHORED = "AUTHORED"  # Author -> Paper, {position}
    CITES = "CITES"  # Paper -> Paper
    HAS_CODE = "HAS_CODE"  # Paper -> Repository
    HAS_CHUNK = "HAS_CHUNK"  # Paper|Document -> Chunk, {index}
    IN_CATEGORY = "IN_CATEGORY"  # Paper|Document -> Category
    PUBLISHED_IN = "PUBLISHED_IN"  # Paper -> Venue
    AFFILIATED_WITH = "AFFILIATED_WITH"  # Paper|Author -> Organization
    USES_TOOL = "USES_TOOL"  # Skill -> Tool
    REQUIRES = "REQUIRES"  # Skill -> Skill
    NEXT = "NEXT"  # Skill -> Skill
    RELATED_TO = "RELATED_TO"  # Skill -> Skill|Topic|Paper
    HAS_TOPIC = "HAS_TOPIC"  # Paper|Document|Chunk -> Topic, {weight}
    SUBTOPIC_OF = "SUBTOPIC_OF"  # Topic -> Topic
    SENT = "SENT"  # Person -> Message
    RECEIVED = "RECEIVED"  # Person -> Message, {field: to|cc|bcc}
    REPLY_TO = "REPLY_TO"  # Message -> Message it answers
    ATTACHED = "ATTACHED"  # Message -> Paper|Document read from one of its attachments


@dataclass(slots=True)
class NodeRecord:
    """One node as a reader sees it in one file.

    ``keys`` are alternative identity keys used for entity resolution (papers: ``doi:...``,
    ``arxiv:...``, ``s2:...``, ``title:<hash>:<year>``). ``stub`` marks a node that is only
    referenced (a cited paper, a skill named by another skill); a full record of the same node,
    from any source, takes precedence over stub properties.
    """

    id: str
    label: str
    properties: dict[str, Any] = field(default_factory=dict)
    stub: bool = False
    keys: tuple[str, ...] = ()


@dataclass(slots=True)
class EdgeRecord:
    """One directed, typed edge as a reader sees it in one file."""

    source: str
    target: str
    type: str
    properties: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class ReadResult:
    """Everything one file contributes: nodes, edges, and non-fatal warnings/errors.

    ``warnings`` are reported but do not fail the file (e.g. a skill description over the spec's
    length limit). ``errors`` are per-record failures inside a file that was otherwise read (a
    malformed JSONL line): the good records are kept and the file is reported as failed.
    """

    nodes: list[NodeRecord] = field(default_factory=list)
    edges: list[EdgeRecord] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def extend(self, other: ReadResult) -> None:
        """Append another result's records, warnings and errors to this one."""
        self.nodes.extend(other.nodes)
        self.edges.extend(other.edges)
        self.warnings.extend(other.warnings)
        self.errors.extend(other.errors)


CAPTION_PROPERTIES = ("title", "name", "label", "text")  # what :func:`caption` reads, in order


def caption(props: Mapping[str, Any], node_id: str) -> str:
    """A node's human-readable name: its ``title``, ``name`` or ``label`` property, else the first
    80 characters of its ``text``, else its id.

    The one rule for every caption: :attr:`Node.title` (search hits, context packs), and the names
    search filters match authors and categories by (:meth:`kg.store.base.GraphStore.display_names`).

    >>> caption({"name": "Ann Lee"}, "author:name:ann-lee"), caption({"label": "graphs"}, "topic:3")
    ('Ann Lee', 'graphs')
    >>> caption({}, "chunk:x")
    'chunk:x'
    """
    return str(props.get("title") or props.get("name") or props.get("label")
               or str(props.get("text") or "")[:80] or node_id)


@dataclass(slots=True, frozen=True)
class Node:
    """A node as stored: merged properties of every source that supports it."""

    id: str
    label: str
    properties: dict[str, Any]
    sources: tuple[str, ...] = ()

    @property
    def title(self) -> str:
        """A human-readable caption (see :func:`caption`)."""
        return caption(self.properties, self.id)


@dataclass(slots=True, frozen=True)
class Edge:
    """An edge as stored."""

    source: str
    target: str
    type: str
    properties: dict[str, Any]
    sources: tuple[str, ...] = ()
