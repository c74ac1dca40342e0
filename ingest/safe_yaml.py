"""YAML front matter loaded safely and in bounded memory.

``yaml.safe_load`` refuses arbitrary objects, but not an alias bomb ("billion laughs"): nine
anchors of nine aliases each make 9^9 items from a few hundred bytes. PyYAML shares aliased
objects, so loading is cheap; anything that then walks the value (a JSON dump into the store, a
search-text builder) expands it. :func:`load_yaml` composes the node graph first when the text
uses aliases at all, measures its expanded size in linear time, and refuses it above
:data:`MAX_NODES` or when an alias refers to itself.
"""

from __future__ import annotations

from typing import Any

import yaml

MAX_NODES = 100_000
"""Largest expanded size (scalars + collections, each alias counted in full) that loads."""

LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(text: str, *, max_nodes: int = MAX_NODES) -> Any:
    """``yaml.safe_load(text)`` that raises :class:`yaml.YAMLError` for alias bombs and recursive
    aliases instead of returning a value that expands beyond ``max_nodes`` nodes.

    >>> load_yaml("a: &x [1, 2]\\nb: *x")
    {'a': [1, 2], 'b': [1, 2]}
    """
    if "*" in text:  # an alias is possible: size the document before building it
        try:
            node = yaml.compose(text, Loader=LOADER)
        except RecursionError:
            raise yaml.YAMLError("nested too deeply") from None
        if node is not None:
            size = _expanded_size(node, {}, set(), max_nodes)
            if size > max_nodes:
                raise yaml.YAMLError(f"aliases expand to over {max_nodes:,} values (a YAML alias bomb?)")
    try:
        return yaml.load(text, Loader=LOADER)
    except RecursionError:
        raise yaml.YAMLError("nested too deeply") from None


def _expanded_size(node: yaml.Node, memo: dict[int, int], open_: set[int], cap: int) -> int:
    key = id(node)
    if key in memo:
        return memo[key]
    if key in open_:
        raise yaml.YAMLError("an alias refers to a node that contains it (recursive YAML)")
    if isinstance(node, yaml.ScalarNode):
        return 1
    open_.add(key)
    size = 1
    children = (c for pair in node.value for c in pair) if isinstance(node, yaml.MappingNode) else iter(node.value)
    for child in children:
        size += _expanded_size(child, memo, open_, cap)
        if size > cap:
            break  # already too big: the caller only needs to know that
    open_.discard(key)
    memo[key] = size
    return size
