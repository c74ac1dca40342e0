"""Agent Skills reader: one ``SKILL.md`` -> a Skill node, its tools and its links to other skills.

Graph shape (see ``ingest/skill_spec.py`` for the format itself):

* ``Skill`` node ``skill:<name>`` with ``name``, ``description``, ``license``, ``compatibility``,
  ``metadata`` (dict), ``allowed_tools`` (list of the raw tool specs), ``body`` (Markdown),
  ``folder`` and ``resources`` (files bundled next to ``SKILL.md``, relative POSIX paths). A
  missing ``name`` falls back to the folder name; a name that breaks the spec's format is
  slugged (``PDF_Tools`` -> ``pdf-tools``) so links written either way meet.
* ``USES_TOOL`` -> ``Tool`` ``tool:<name>`` for each ``allowed-tools`` entry. ``Bash(git:*)``
  is tool ``Bash`` with ``pattern="git:*"``; one edge per tool, and when a tool is listed with
  several patterns the edge also carries all of them as ``patterns``.
* ``REQUIRES`` / ``NEXT`` / ``RELATED_TO`` -> other skills named by link keys in ``metadata`` or
  at the top level (``requires``, ``depends_on``, ``prerequisites``; ``next``, ``next_skills``,
  ``then``; ``related``, ``related_skills``, ``see_also``), given as lists or comma/space
  separated strings. Skills not defined by this file become stub Skill nodes.

Spec violations become one-line warnings and the skill is still ingested; a missing or broken
front matter block raises :class:`kg.errors.ReaderError`.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
from pathlib import Path
from typing import Any

import yaml

from ingest.readers.base import FileInfo, decode_text, register_reader
from ingest.safe_yaml import load_yaml
from ingest.skill_spec import is_skill_file, parse_skill_md, split_front_matter, validate_skill
from kg.ids import slug
from kg.model import EdgeRecord, Label, NodeRecord, ReadResult, Rel

MAX_RESOURCES = 1000
"""At most this many bundled files are listed in ``resources`` (a warning says when cut)."""

LINK_KEYS: dict[str, str] = {
    **dict.fromkeys(("requires", "require", "depends_on", "dependencies", "prerequisites",
                     "prerequisite"), Rel.REQUIRES),
    **dict.fromkeys(("next", "next_skills", "then", "followed_by"), Rel.NEXT),
    **dict.fromkeys(("related", "related_skills", "see_also"), Rel.RELATED_TO),
}
"""Front matter / metadata keys (lower-cased, ``-`` read as ``_``) that name other skills."""

_SKIP_DIRS = {"__pycache__", "node_modules"}
_SPLIT = re.compile(r"[\s,]+")
_VALID_NAME = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


def skill_id(name: str) -> str:
    """The node id of the skill called ``name``: ``skill:<name>``, slugged when not spec-valid.

    >>> skill_id("pdf-processing"), skill_id("PDF Processing")
    ('skill:pdf-processing', 'skill:pdf-processing')
    """
    name = name.strip().removeprefix("skill:")
    return "skill:" + (name if _VALID_NAME.fullmatch(name) else slug(name, 64))


def split_tool_specs(value: Any) -> list[str]:
    """``allowed-tools`` as a list of specs: space/comma separated outside parentheses.

    >>> split_tool_specs("Bash(git add:*) Read, Write")
    ['Bash(git add:*)', 'Read', 'Write']
    """
    items = value if isinstance(value, list) else [value] if isinstance(value, str) else []
    specs: list[str] = []
    for item in items:
        if not isinstance(item, str):
            continue
        depth, cur = 0, ""
        for ch in item:
            depth += (ch == "(") - (ch == ")")
            if depth <= 0 and (ch.isspace() or ch == ","):
                depth = 0
                if cur:
                    specs.append(cur)
                cur = ""
            else:
                cur += ch
        if cur:
            specs.append(cur)
    return specs


def parse_tool_spec(spec: str) -> tuple[str, str | None]:
    """``"Bash(git:*)"`` -> ``("Bash", "git:*")``; ``"Read"`` -> ``("Read", None)``."""
    m = re.fullmatch(r"([^()]+?)\s*\((.*)\)", spec.strip())
    if m:
        return m.group(1).strip(), m.group(2).strip() or None
    return spec.strip(), None


def skill_refs(value: Any) -> list[str]:
    """Skill names from a link value: a list and/or comma/space separated strings."""
    items = value if isinstance(value, list) else [value]
    names: list[str] = []
    for item in items:
        if isinstance(item, str):
            names += [n for n in _SPLIT.split(item) if n]
        elif isinstance(item, dict) and isinstance(item.get("name"), str):
            names.append(item["name"])
    return names


def _json_safe(value: Any) -> Any:
    """YAML values as JSON-compatible data (dates become ISO strings)."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    if isinstance(value, _dt.date | _dt.datetime):
        return value.isoformat()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def list_resources(folder: Path, skill_file: Path, limit: int = MAX_RESOURCES) -> tuple[list[str], bool]:
    """Files bundled with a skill, relative to its folder, sorted; and whether the list was cut.

    Hidden files and folders, ``__pycache__`` and ``node_modules`` are skipped, as is the skill
    file itself.
    """
    found: list[str] = []
    if not folder.is_dir():
        return found, False
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in _SKIP_DIRS)
        base = Path(dirpath)
        for fn in sorted(filenames):
            p = base / fn
            if fn.startswith(".") or p == skill_file:
                continue
            found.append(p.relative_to(folder).as_posix())
            if len(found) > limit:
                return sorted(found[:limit]), True
    return sorted(found), False


def _links(fm: dict[str, Any]) -> list[tuple[str, str]]:
    """(edge type, skill name) pairs from top-level and ``metadata`` link keys, in order."""
    sources = [fm]
    if isinstance(fm.get("metadata"), dict):
        sources.append(fm["metadata"])
    out: list[tuple[str, str]] = []
    for src in sources:
        for key, value in src.items():
            rel = LINK_KEYS.get(str(key).lower().replace("-", "_"))
            if rel:
                out += [(rel, name) for name in skill_refs(value)]
    return out


def skill_result(path: Path, text: str) -> ReadResult:
    """Records for one skill file (text already decoded, LF line endings)."""
    fm, body = parse_skill_md(text)
    named_skill = is_skill_file(path)
    folder = path.parent
    # SKILL.md: the name must match its folder; a flat "<name>.md" skill: the file stem.
    expected = folder.name if named_skill else path.stem
    out = ReadResult(warnings=[v.message for v in validate_skill(fm, expected)])

    name = fm.get("name")
    name = str(name).strip() if name is not None and str(name).strip() else expected
    sid = skill_id(name)
    tool_specs = split_tool_specs(fm.get("allowed-tools"))
    resources: list[str] = []
    if named_skill:
        resources, cut = list_resources(folder, path)
        if cut:
            out.warnings.append(f"more than {MAX_RESOURCES} bundled files; only the first {MAX_RESOURCES} are listed")
    meta = fm.get("metadata")
    props: dict[str, Any] = {
        "name": name,
        "description": str(fm["description"]).strip() if fm.get("description") is not None else None,
        "license": _json_safe(fm.get("license")),
        "compatibility": _json_safe(fm.get("compatibility")),
        "metadata": _json_safe(meta) if isinstance(meta, dict) else {},
        "allowed_tools": tool_specs,
        "body": body.strip("\n"),
        "folder": str(folder),
        "resources": resources,
    }
    out.nodes.append(NodeRecord(sid, Label.SKILL, {k: v for k, v in props.items() if v is not None}))

    patterns: dict[str, list[str]] = {}
    for spec in tool_specs:
        tool, pattern = parse_tool_spec(spec)
        if tool:
            pats = patterns.setdefault(tool, [])
            if pattern and pattern not in pats:
                pats.append(pattern)
    for tool, pats in patterns.items():
        tid = f"tool:{tool}"
        out.nodes.append(NodeRecord(tid, Label.TOOL, {"name": tool}))
        edge_props: dict[str, Any] = {"pattern": pats[0]} if pats else {}
        if len(pats) > 1:
            edge_props["patterns"] = pats
        out.edges.append(EdgeRecord(sid, tid, Rel.USES_TOOL, edge_props))

    seen: set[tuple[str, str]] = set()
    for rel, ref in _links(fm):
        target = skill_id(ref)
        if target == sid or (rel, target) in seen:
            continue
        seen.add((rel, target))
        ref_name = ref.strip().removeprefix("skill:")
        out.nodes.append(NodeRecord(target, Label.SKILL, {"name": ref_name}, stub=True))
        out.edges.append(EdgeRecord(sid, target, rel))
    return out


class SkillReader:
    """``SKILL.md`` files, and ``.md`` files whose front matter has ``name`` and ``description``."""

    name = "skill"
    priority = 50
    extensions = (".md", ".markdown")

    def sniff(self, info: FileInfo) -> bool:
        """``SKILL.md`` by name (any case); other Markdown by its front matter keys."""
        if is_skill_file(info.path):
            return True
        if info.path.suffix.lower() not in self.extensions or not info.head.startswith((b"---", b"\xef\xbb\xbf---")):
            return False
        text = info.head.decode("utf-8-sig", errors="replace").replace("\r\n", "\n")
        parts = split_front_matter(text)
        if parts is None:
            return False
        try:
            data = load_yaml(parts[0])
        except yaml.YAMLError:
            return False
        return isinstance(data, dict) and "name" in data and "description" in data

    def read(self, path: Path, data: bytes) -> ReadResult:
        """Parse one skill file; raises ReaderError for missing or invalid front matter."""
        return skill_result(path, decode_text(data, path))


register_reader(SkillReader())
