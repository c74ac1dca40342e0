"""Split long text into overlapping, paragraph-aligned chunks for retrieval."""

from __future__ import annotations

import re

from kg.errors import ConfigError

_PARA = re.compile(r"\n\s*\n")
_SENT = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[])")


def chunk_text(text: str, *, max_words: int = 200, overlap_words: int = 30) -> list[str]:
    """Split ``text`` into chunks of at most ~``max_words`` words.

    Paragraphs are packed greedily; a paragraph longer than ``max_words`` is split at sentence
    boundaries (and, failing that, at word boundaries). Consecutive chunks share up to
    ``overlap_words`` words so a passage cut at a boundary stays findable.

    >>> chunk_text("one two three", max_words=2, overlap_words=0)
    ['one two', 'three']
    """
    if max_words <= 0:
        raise ConfigError("max_words must be positive")
    units: list[list[str]] = []
    for para in _PARA.split(text):
        words = para.split()
        if not words:
            continue
        if len(words) <= max_words:
            units.append(words)
            continue
        for sent in _SENT.split(" ".join(words)):
            sw = sent.split()
            for i in range(0, len(sw), max_words):
                units.append(sw[i:i + max_words])
    chunks: list[str] = []
    cur: list[str] = []
    for u in units:
        if cur and len(cur) + len(u) > max_words:
            chunks.append(" ".join(cur))
            tail = cur[-overlap_words:] if overlap_words else []
            cur = tail if len(tail) + len(u) <= max_words else []
        cur = cur + u
    if cur:
        chunks.append(" ".join(cur))
    return chunks
