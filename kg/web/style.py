"""Node colours for the web explorer, read from the Neo4j Browser style file (``kgloom.grass``), so a
label has the same colour in ``kg serve`` as in Neo4j Browser."""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources

_RULE = re.compile(r"node\.(\w+)\s*\{([^}]*)\}", re.S)
_PROP = re.compile(r"([\w-]+)\s*:\s*([^;]+);")
DEFAULT = {"color": "#A5ABB6", "border": "#9AA1AC", "text": "#FFFFFF"}
"""The style of a label the style file does not name (its ``node`` rule)."""


def parse_grass(text: str) -> dict[str, dict[str, str]]:
    """``{label: {"color", "border", "text"}}`` from the ``node.<Label>`` rules of a ``.grass`` file.

    >>> parse_grass("node.Paper { color: #4C8EDA; border-color: #2870C2; text-color-internal: #FFFFFF; }")
    {'Paper': {'color': '#4C8EDA', 'border': '#2870C2', 'text': '#FFFFFF'}}
    """
    out: dict[str, dict[str, str]] = {}
    for label, body in _RULE.findall(text):
        props = {k: v.strip() for k, v in _PROP.findall(body)}
        out[label] = {"color": props.get("color", DEFAULT["color"]),
                      "border": props.get("border-color", DEFAULT["border"]),
                      "text": props.get("text-color-internal", DEFAULT["text"])}
    return out


@lru_cache(maxsize=1)
def label_styles() -> dict[str, dict[str, str]]:
    """The label colours of the ``kgloom.grass`` file shipped in :mod:`kg.neo4j`."""
    return parse_grass(resources.files("kg.neo4j").joinpath("kgloom.grass").read_text(encoding="utf-8"))
