"""A BibTeX text parsed slice by slice: bibtexparser v2's blocks without its whole library in memory.

bibtexparser's splitter starts a new block at every line that begins (after blanks) with
``@type{`` or ``@type(``, even inside a block that is not closed yet (that block then fails with
"Unexpected block start"). Cut at such lines, a text therefore splits into the same blocks as it
does whole, and each slice is split and run through the middleware on its own. What a library
keeps across blocks is carried from slice to slice:

* ``@string`` macros: every ``@string`` at a line start is collected before the first slice, so an
  entry resolves a macro defined anywhere in the file, as bibtexparser does (a macro defined after
  another block on the same line is used from there on). The first definition of a name wins; a
  later one is a :class:`~bibtexparser.model.DuplicateBlockKeyBlock`.
* entry keys: an entry whose key an earlier entry has is a ``DuplicateBlockKeyBlock`` (whose
  ``previous_block`` holds the key only).

Each slice is parsed with the next slice's first block appended (and dropped again), so that a
block left open at the end of a slice fails with the message a whole parse gives.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bibtexparser.library import Library
    from bibtexparser.middlewares.middleware import Middleware
    from bibtexparser.model import Block, Entry

SLICE_CHARS = 1_000_000
"""Characters per slice (a slice ends at the first block start after this many)."""

_BLOCK_START = re.compile(r"^[^\S\n]*@\w*[ \t]*[{(]", re.MULTILINE)
_STRING_START = re.compile(r"^[^\S\n]*@string\w*[ \t]*[{(]", re.MULTILINE | re.IGNORECASE)


def iter_blocks(text: str, middleware: Sequence[Middleware] = (), *,
                slice_chars: int | None = None) -> Iterator[tuple[int, Block]]:
    """``(line, block)`` for every block of ``text``, in order; ``line`` is 1-based.

    The blocks are those of ``bibtexparser.parse_string(text, append_middleware=middleware)``
    (the default parse stack, then ``middleware``), parsed ``slice_chars`` (default
    :data:`SLICE_CHARS`) characters at a time. Stop iterating to stop parsing.

    >>> [(line, b.key) for line, b in iter_blocks("@misc{a, title={A}}\\n@misc{b, title={B}}\\n", slice_chars=1)]
    [(1, 'a'), (2, 'b')]
    """
    from bibtexparser.splitter import Splitter

    strings = _collect_strings(text)
    lowered = {key.lower(): value for key, value in strings.items()}
    string_keys: set[str] = set()  # @string names met so far (the first of each is the one used)
    entry_keys: set[str] = set()
    slice_chars = slice_chars or SLICE_CHARS
    pos, line = 0, 0  # where the slice starts: character, 0-based line
    while pos < len(text):
        cut = _BLOCK_START.search(text, pos + slice_chars) if pos + slice_chars < len(text) else None
        end = cut.start() if cut else len(text)
        n_lines = text.count("\n", pos, end)
        # parsed up to the end of the next slice's first block, which is then dropped
        nxt = _BLOCK_START.search(text, cut.end()) if cut else None
        blocks = [b for b in Splitter(text[pos:nxt.start() if nxt else len(text)]).split().blocks
                  if (b.start_line or 0) < n_lines or not cut]
        blocks = _carry_keys(blocks, string_keys, entry_keys, strings, lowered)
        for b in _transform(blocks, lowered, middleware).blocks:
            yield line + (b.start_line or 0) + 1, b
        pos, line = end, line + n_lines


def _collect_strings(text: str) -> dict[str, str]:
    """The ``@string`` definitions at line starts: name -> value as split (still enclosed),
    the first definition of each name."""
    from bibtexparser.model import String
    from bibtexparser.splitter import Splitter

    out: dict[str, str] = {}

    def parse(parts: list[str]) -> None:
        for b in Splitter("".join(parts)).split().blocks:
            if isinstance(b, String):  # not a DuplicateBlockKeyBlock: a name's first definition here
                out.setdefault(b.key, b.value)

    parts: list[str] = []
    size = 0
    for m in _STRING_START.finditer(text):
        nxt = _BLOCK_START.search(text, m.end())
        part = text[m.start():nxt.start() if nxt else len(text)]
        parts.append(part if part.endswith("\n") else part + "\n")
        size += len(part)
        if size > SLICE_CHARS:  # parsed a slice at a time too
            parse(parts)
            parts, size = [], 0
    parse(parts)
    return out


def _carry_keys(blocks: list[Block], string_keys: set[str], entry_keys: set[str], strings: dict[str, str],
                lowered: dict[str, str]) -> list[Block]:
    """The slice's blocks with the entries and strings whose key an earlier slice had turned into
    duplicates; new keys are remembered (a string not collected up front joins ``strings``)."""
    from bibtexparser.model import DuplicateBlockKeyBlock, Entry, String

    out: list[Block] = []
    for b in blocks:
        if isinstance(b, Entry | String):
            seen = entry_keys if isinstance(b, Entry) else string_keys
            if b.key in seen:
                earlier = Entry(entry_type=b.entry_type, key=b.key, fields=[]) if isinstance(b, Entry) \
                    else String(key=b.key, value="")
                b = DuplicateBlockKeyBlock(key=b.key, previous_block=earlier, duplicate_block=b,
                                           start_line=b.start_line, raw=b.raw)
            else:
                seen.add(b.key)
                if isinstance(b, String) and b.key not in strings:
                    strings[b.key] = b.value
                    lowered[b.key.lower()] = b.value
        out.append(b)
    return out


def _transform(blocks: list[Block], lowered: dict[str, str], middleware: Sequence[Middleware]) -> Library:
    """The default parse stack (string references resolved against ``lowered``, enclosing
    braces and quotes removed), then ``middleware``."""
    from bibtexparser.library import Library
    from bibtexparser.middlewares import RemoveEnclosingMiddleware

    library = Library(blocks, fail_on_duplicate_key=False)
    for entry in library.entries:
        _resolve(entry, lowered)
    for m in (RemoveEnclosingMiddleware(allow_inplace_modification=True), *middleware):
        library = m.transform(library)
    return library


def _resolve(entry: Entry, lowered: dict[str, str]) -> None:
    """Replace field values that name a ``@string`` by its value (what bibtexparser's
    ``ResolveStringReferencesMiddleware`` does with a whole library's strings)."""
    resolved = []
    for f in entry.fields:
        v = f.value
        if not isinstance(v, str) or (v.startswith('"') and v.endswith('"')) or (v.startswith("{") and v.endswith("}")):
            continue  # a number, or an enclosed value: no reference
        if (value := lowered.get(v.lower())) is not None:
            f.value = value
            resolved.append(f.key)
    if resolved:
        entry.parser_metadata["ResolveStringReferences"] = resolved
