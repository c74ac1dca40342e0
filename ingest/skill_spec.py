"""The Agent Skills format: front matter parsing and spec validation, with no graph code.

A skill is a folder holding a ``SKILL.md`` whose YAML front matter carries ``name`` and
``description`` (required) and optionally ``license``, ``compatibility``, ``metadata`` (a string
map) and ``allowed-tools`` (a space-separated string), followed by a Markdown body. See
``shared/data/skills/agent-skills-specification.mdx``.

:func:`validate_skill` checks one parsed front matter and returns :class:`Violation` objects;
nothing here raises for a spec violation, so a reader can ingest the skill and report the
violations as warnings. Only a missing or unparsable front matter block is fatal
(:func:`parse_skill_md` raises :class:`kg.errors.ReaderError`), because without it the file is
not a skill at all.

>>> fm, body = parse_skill_md("---\\nname: pdf\\ndescription: Read PDFs.\\n---\\n# PDF\\n")
>>> [v.code for v in validate_skill(fm, "pdf")]
[]
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ingest.safe_yaml import load_yaml
from kg.errors import ReaderError

SPEC_FIELDS = ("name", "description", "license", "compatibility", "metadata", "allowed-tools")
"""Top-level front matter fields the spec defines."""

NAME_MAX = 64
DESCRIPTION_MAX = 1024
COMPATIBILITY_MAX = 500

_NAME_CHARS = re.compile(r"[a-z0-9-]+")
_DELIM = re.compile(r"---[ \t]*")
_CLOSE = re.compile(r"(?:---|\.\.\.)[ \t]*")


@dataclass(frozen=True, slots=True)
class Violation:
    """One departure from the Agent Skills spec.

    ``code`` is a stable kebab-case kind (``name-format``, ``description-length``,
    ``unknown-field``, ...), ``field`` the front matter field concerned (empty for the file as a
    whole) and ``message`` a one-line, user-facing explanation.
    """

    code: str
    field: str
    message: str


def split_front_matter(text: str) -> tuple[str, str, int] | None:
    """Split ``text`` (LF line endings) into (front matter, body, body's first line number).

    Returns None when the text does not start with a ``---`` line or the block is not closed by
    a ``---`` (or ``...``) line.
    """
    lines = text.split("\n")
    if not lines or not _DELIM.fullmatch(lines[0]):
        return None
    for i in range(1, len(lines)):
        if _CLOSE.fullmatch(lines[i]):
            return "\n".join(lines[1:i]), "\n".join(lines[i + 1:]), i + 2
    return None


def parse_skill_md(text: str) -> tuple[dict[str, Any], str]:
    """Parse a ``SKILL.md`` text (LF line endings) into (front matter mapping, Markdown body).

    Raises :class:`ReaderError` with a one-line ``invalid YAML front matter: ...`` reason when
    the block is missing, unterminated, not valid YAML or not a mapping.
    """
    parts = split_front_matter(text)
    if parts is None:
        if _DELIM.fullmatch(text.split("\n", 1)[0]):
            raise ReaderError("invalid YAML front matter: the opening '---' is never closed")
        raise ReaderError("invalid YAML front matter: none found (the file must start with a '---' line)")
    raw, body, _ = parts
    try:
        data = load_yaml(raw)
    except yaml.MarkedYAMLError as e:
        where = f" (line {e.problem_mark.line + 2}, column {e.problem_mark.column + 1})" if e.problem_mark else ""
        reason = " ".join(str(e.problem or e.context or "parse error").split())
        raise ReaderError(f"invalid YAML front matter: {reason}{where}") from None
    except yaml.YAMLError as e:
        raise ReaderError(f"invalid YAML front matter: {' '.join(str(e).split())}") from None
    if data is None:
        raise ReaderError("invalid YAML front matter: the block is empty")
    if not isinstance(data, dict):
        raise ReaderError(f"invalid YAML front matter: expected a mapping, got {type(data).__name__}")
    return {str(k): v for k, v in data.items()}, body


def _kind(value: Any) -> str:
    return {dict: "a mapping", list: "a list", bool: "a boolean", int: "a number",
            float: "a number"}.get(type(value), type(value).__name__)


def _check_name(name: Any, folder_name: str | None) -> list[Violation]:
    if name is None or (isinstance(name, str) and not name.strip()):
        return [Violation("name-missing", "name", "missing required field 'name'")]
    if not isinstance(name, str):
        return [Violation("name-type", "name", f"name is {_kind(name)}, spec expects a string")]
    out: list[Violation] = []
    if len(name) > NAME_MAX:
        out.append(Violation("name-length", "name", f"name is {len(name)} characters (spec limit {NAME_MAX})"))
    if not _NAME_CHARS.fullmatch(name):
        out.append(Violation("name-format", "name",
                             f"name {name!r} may only contain lowercase letters a-z, digits and hyphens"))
    if name.startswith("-") or name.endswith("-"):
        out.append(Violation("name-format", "name", f"name {name!r} must not start or end with a hyphen"))
    if "--" in name:
        out.append(Violation("name-format", "name", f"name {name!r} must not contain consecutive hyphens"))
    if folder_name is not None and name != folder_name:
        out.append(Violation("name-mismatch", "name",
                             f"name {name!r} does not match the skill folder name {folder_name!r}"))
    return out


def _check_text(fm: dict[str, Any], key: str, limit: int, *, required: bool) -> list[Violation]:
    if key not in fm or fm[key] is None:
        return [Violation(f"{key}-missing", key, f"missing required field {key!r}")] if required else []
    value = fm[key]
    if not isinstance(value, str):
        return [Violation(f"{key}-type", key, f"{key} is {_kind(value)}, spec expects a string")]
    if not value.strip():
        return [Violation(f"{key}-length", key, f"{key} is empty (spec: 1-{limit} characters)")]
    if len(value) > limit:
        return [Violation(f"{key}-length", key, f"{key} is {len(value)} characters (spec limit {limit})")]
    return []


def _check_metadata(meta: Any) -> list[Violation]:
    if meta is None:
        return []
    if not isinstance(meta, dict):
        return [Violation("metadata-type", "metadata", f"metadata is {_kind(meta)}, spec expects a string map")]
    return [Violation("metadata-value", "metadata",
                      f"metadata.{k} is {_kind(v)}, spec expects string values")
            for k, v in meta.items() if not isinstance(v, str)]


def _check_allowed_tools(tools: Any) -> list[Violation]:
    if tools is None or isinstance(tools, str):
        return []
    if isinstance(tools, list):
        return [Violation("allowed-tools-type", "allowed-tools",
                          "allowed-tools is a list, spec expects a space-separated string")]
    return [Violation("allowed-tools-type", "allowed-tools",
                      f"allowed-tools is {_kind(tools)}, spec expects a space-separated string")]


def validate_skill(frontmatter: dict[str, Any], folder_name: str | None) -> list[Violation]:
    """Check a parsed front matter against the Agent Skills spec.

    ``folder_name`` is the name ``name`` must equal (the skill folder's name); pass None to skip
    that check. Returns the violations in field order; an empty list means the front matter is
    valid.

    >>> [v.message for v in validate_skill({"name": "PDF", "description": "x"}, "PDF")]
    ["name 'PDF' may only contain lowercase letters a-z, digits and hyphens"]
    """
    fm = frontmatter
    out = _check_name(fm.get("name"), folder_name)
    out += _check_text(fm, "description", DESCRIPTION_MAX, required=True)
    if "license" in fm and fm["license"] is not None and not isinstance(fm["license"], str):
        out.append(Violation("license-type", "license", f"license is {_kind(fm['license'])}, spec expects a string"))
    out += _check_text(fm, "compatibility", COMPATIBILITY_MAX, required=False)
    out += _check_metadata(fm.get("metadata"))
    out += _check_allowed_tools(fm.get("allowed-tools"))
    allowed = ", ".join(SPEC_FIELDS)
    out += [Violation("unknown-field", key, f"unknown top-level field {key!r} (spec fields: {allowed})")
            for key in fm if key not in SPEC_FIELDS]
    return out


def is_skill_file(path: Path) -> bool:
    """Whether ``path`` is named ``SKILL.md`` (any case)."""
    return path.name.lower() == "skill.md"


def validate_file(path: Path) -> list[Violation]:
    """Validate one ``SKILL.md`` on disk; an unreadable file or front matter is one violation."""
    try:
        text = path.read_bytes().decode("utf-8-sig").replace("\r\n", "\n").replace("\r", "\n")
    except (OSError, UnicodeDecodeError) as e:
        return [Violation("unreadable", "", f"cannot read file: {e}")]
    try:
        fm, _ = parse_skill_md(text)
    except ReaderError as e:
        return [Violation("frontmatter-invalid", "", str(e))]
    return validate_skill(fm, path.parent.name)


def validate_tree(root: Path) -> list[tuple[Path, list[Violation]]]:
    """Validate every ``SKILL.md`` (any case) under ``root``, in path order.

    Returns one ``(path, violations)`` pair per skill file, including files with no violations,
    so callers can count both. Hidden folders (``.git``, ...) are skipped.
    """
    root = Path(root)
    files = sorted(p for p in root.rglob("*") if is_skill_file(p) and p.is_file()
                   and not any(part.startswith(".") for part in p.relative_to(root).parts[:-1]))
    return [(p, validate_file(p)) for p in files]
