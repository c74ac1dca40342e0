"""Tests for the Agent Skills reader (ingest/readers/skill.py) and ingest/skill_spec.py."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from ingest.readers.base import FileInfo, get_reader, select_reader
from ingest.readers.skill import SkillReader, parse_tool_spec, skill_id, split_tool_specs
from ingest.skill_spec import parse_skill_md, validate_skill, validate_tree
from kg.errors import ReaderError
from kg.model import Label, NodeRecord, ReadResult, Rel

READER = SkillReader()


def write_skill(root: Path, folder: str, text: str, *, crlf: bool = False, filename: str = "SKILL.md") -> Path:
    """Write a skill file under ``root/folder`` and return its path."""
    d = root / folder
    d.mkdir(parents=True, exist_ok=True)
    p = d / filename
    data = text.replace("\n", "\r\n") if crlf else text
    p.write_bytes(data.encode("utf-8"))
    return p


def read(p: Path) -> ReadResult:
    return READER.read(p, p.read_bytes())


def skill_node(res: ReadResult) -> NodeRecord:
    return next(n for n in res.nodes if n.label == Label.SKILL and not n.stub)


MINIMAL = "---\nname: pdf-tools\ndescription: Read and merge PDFs. Use for PDFs.\n---\n# PDF tools\n\nDo things.\n"


def test_minimal_skill(tmp_path: Path) -> None:
    p = write_skill(tmp_path, "pdf-tools", MINIMAL)
    res = read(p)
    assert res.warnings == [] and res.errors == []
    node = skill_node(res)
    assert node.id == "skill:pdf-tools"
    props = node.properties
    assert props["name"] == "pdf-tools"
    assert props["description"] == "Read and merge PDFs. Use for PDFs."
    assert props["body"] == "# PDF tools\n\nDo things."
    assert props["folder"] == str(tmp_path / "pdf-tools")
    assert props["metadata"] == {} and props["allowed_tools"] == [] and props["resources"] == []
    assert "license" not in props and "compatibility" not in props
    assert res.edges == []


def test_all_fields(tmp_path: Path) -> None:
    text = ("---\nname: full\ndescription: d\nlicense: Apache-2.0\ncompatibility: Requires git\n"
            "metadata:\n  author: example-org\n  version: \"1.0\"\nallowed-tools: Read\n---\nbody\n")
    props = skill_node(read(write_skill(tmp_path, "full", text))).properties
    assert props["license"] == "Apache-2.0"
    assert props["compatibility"] == "Requires git"
    assert props["metadata"] == {"author": "example-org", "version": "1.0"}
    assert props["allowed_tools"] == ["Read"]


def test_crlf_parses_like_lf(tmp_path: Path) -> None:
    lf = read(write_skill(tmp_path / "a", "pdf-tools", MINIMAL))
    crlf = read(write_skill(tmp_path / "b", "pdf-tools", MINIMAL, crlf=True))
    a, b = skill_node(lf).properties, skill_node(crlf).properties
    assert crlf.warnings == []
    for key in ("name", "description", "body"):
        assert a[key] == b[key]
    assert "\r" not in b["body"]


@pytest.mark.parametrize(("indicator", "expected"), [
    ("|", "Line one.\nLine two."),
    ("|-", "Line one.\nLine two."),
    (">", "Line one. Line two."),
    (">-", "Line one. Line two."),
])
def test_block_scalar_description(tmp_path: Path, indicator: str, expected: str) -> None:
    text = f"---\nname: blocky\ndescription: {indicator}\n  Line one.\n  Line two.\nlicense: MIT\n---\nbody\n"
    res = read(write_skill(tmp_path, "blocky", text, crlf=True))
    assert skill_node(res).properties["description"] == expected
    assert skill_node(res).properties["license"] == "MIT"
    assert res.warnings == []


@pytest.mark.parametrize(("text", "fragment"), [
    ("---\nname: x\ndescription: Use when: a: b\n---\nbody\n", "(line 3, column 22)"),
    ("---\nname: [x\ndescription: d\n---\n", "invalid YAML front matter: "),
    ("# No front matter\n\nname: x\n", "none found"),
    ("---\nname: x\ndescription: d\n", "never closed"),
    ("---\n- a\n- b\n---\nbody\n", "expected a mapping, got list"),
    ("---\n---\nbody\n", "the block is empty"),
])
def test_broken_front_matter_raises(tmp_path: Path, text: str, fragment: str) -> None:
    p = write_skill(tmp_path, "x", text)
    with pytest.raises(ReaderError) as exc:
        read(p)
    msg = str(exc.value)
    assert msg.startswith("invalid YAML front matter: ")
    assert fragment in msg
    assert "\n" not in msg


def test_missing_name_falls_back_to_folder(tmp_path: Path) -> None:
    res = read(write_skill(tmp_path, "my-skill", "---\ndescription: does things\n---\nbody\n"))
    node = skill_node(res)
    assert node.id == "skill:my-skill"
    assert node.properties["name"] == "my-skill"
    assert res.warnings == ["missing required field 'name'"]


def test_missing_description_is_a_warning(tmp_path: Path) -> None:
    res = read(write_skill(tmp_path, "s", "---\nname: s\n---\nbody\n"))
    assert res.warnings == ["missing required field 'description'"]
    assert "description" not in skill_node(res).properties


def test_invalid_name_is_slugged_and_warned(tmp_path: Path) -> None:
    res = read(write_skill(tmp_path, "PDF_Tools", "---\nname: PDF_Tools\ndescription: d\n---\n"))
    node = skill_node(res)
    assert node.id == "skill:pdf-tools"
    assert node.properties["name"] == "PDF_Tools"
    assert res.warnings == ["name 'PDF_Tools' may only contain lowercase letters a-z, digits and hyphens"]


def test_allowed_tools_string(tmp_path: Path) -> None:
    text = "---\nname: t\ndescription: d\nallowed-tools: Bash(git:*) Bash(jq:*) Read Bash(git add:*), Write\n---\n"
    res = read(write_skill(tmp_path, "t", text))
    assert res.warnings == []
    assert skill_node(res).properties["allowed_tools"] == [
        "Bash(git:*)", "Bash(jq:*)", "Read", "Bash(git add:*)", "Write"]
    tools = {n.id: n.properties for n in res.nodes if n.label == Label.TOOL}
    assert tools == {"tool:Bash": {"name": "Bash"}, "tool:Read": {"name": "Read"}, "tool:Write": {"name": "Write"}}
    edges = {e.target: e for e in res.edges if e.type == Rel.USES_TOOL}
    assert set(edges) == set(tools)
    assert all(e.source == "skill:t" for e in edges.values())
    assert edges["tool:Bash"].properties == {"pattern": "git:*", "patterns": ["git:*", "jq:*", "git add:*"]}
    assert edges["tool:Read"].properties == {}


def test_allowed_tools_list_is_accepted_with_warning(tmp_path: Path) -> None:
    text = "---\nname: t\ndescription: d\nallowed-tools:\n  - Read\n  - Bash(npm run:*)\n---\n"
    res = read(write_skill(tmp_path, "t", text))
    assert res.warnings == ["allowed-tools is a list, spec expects a space-separated string"]
    edges = {e.target: e.properties for e in res.edges}
    assert edges == {"tool:Read": {}, "tool:Bash": {"pattern": "npm run:*"}}


def test_tool_spec_helpers() -> None:
    assert split_tool_specs("Bash(git:*)  Read,Grep") == ["Bash(git:*)", "Read", "Grep"]
    assert split_tool_specs(None) == []
    assert parse_tool_spec("Bash(git:*)") == ("Bash", "git:*")
    assert parse_tool_spec("mcp__github__create_issue") == ("mcp__github__create_issue", None)
    assert parse_tool_spec("WebFetch(domain:example.com)") == ("WebFetch", "domain:example.com")
    assert skill_id("Data Analysis") == "skill:data-analysis"
    assert skill_id("skill:pdf") == "skill:pdf"


def test_skill_links_from_metadata_and_top_level(tmp_path: Path) -> None:
    text = ("---\nname: analyse\ndescription: d\nmetadata:\n  requires: \"load-data, clean-data\"\n"
            "  see_also: plot\n  author: me\nnext:\n  - report\n  - publish share\n"
            "depends-on: load-data analyse\n---\n")
    res = read(write_skill(tmp_path, "analyse", text))
    links = sorted((e.type, e.target) for e in res.edges)
    assert links == [
        (Rel.NEXT, "skill:publish"), (Rel.NEXT, "skill:report"), (Rel.NEXT, "skill:share"),
        (Rel.RELATED_TO, "skill:plot"),
        (Rel.REQUIRES, "skill:clean-data"), (Rel.REQUIRES, "skill:load-data"),
    ]
    stubs = {n.id: n for n in res.nodes if n.stub}
    assert set(stubs) == {t for _, t in links}
    assert all(n.label == Label.SKILL and n.properties["name"] == n.id[6:] for n in stubs.values())
    assert res.warnings == [
        "unknown top-level field 'next' (spec fields: name, description, license, compatibility, metadata, allowed-tools)",
        "unknown top-level field 'depends-on' (spec fields: name, description, license, compatibility, metadata, allowed-tools)",
    ]
    assert skill_node(res).properties["metadata"]["author"] == "me"


def test_resources(tmp_path: Path) -> None:
    p = write_skill(tmp_path, "res", "---\nname: res\ndescription: d\n---\n")
    d = p.parent
    for rel in ("scripts/extract.py", "references/REFERENCE.md", "assets/templates/t.docx", "LICENSE.txt",
                ".hidden", ".git/config", "scripts/__pycache__/x.pyc"):
        (d / rel).parent.mkdir(parents=True, exist_ok=True)
        (d / rel).write_text("x")
    assert skill_node(read(p)).properties["resources"] == [
        "LICENSE.txt", "assets/templates/t.docx", "references/REFERENCE.md", "scripts/extract.py"]


def test_spec_violations(tmp_path: Path) -> None:
    text = ("---\nname: -Bad--Name-\ndescription: " + "x" * 1100 + "\ncompatibility: " + "c" * 501
            + "\nmetadata:\n  version: 1.0\n  tags: [a, b]\nauthor: me\n---\nbody\n")
    res = read(write_skill(tmp_path, "bad-name", text))
    assert res.warnings == [
        "name '-Bad--Name-' may only contain lowercase letters a-z, digits and hyphens",
        "name '-Bad--Name-' must not start or end with a hyphen",
        "name '-Bad--Name-' must not contain consecutive hyphens",
        "name '-Bad--Name-' does not match the skill folder name 'bad-name'",
        "description is 1100 characters (spec limit 1024)",
        "compatibility is 501 characters (spec limit 500)",
        "metadata.version is a number, spec expects string values",
        "metadata.tags is a list, spec expects string values",
        "unknown top-level field 'author' (spec fields: name, description, license, compatibility, metadata, allowed-tools)",
    ]
    assert skill_node(res).id == "skill:bad-name"


def test_validate_skill_codes() -> None:
    def codes(fm: dict, folder: str | None = "ok") -> list[str]:
        return [v.code for v in validate_skill(fm, folder)]

    assert codes({"name": "ok", "description": "d"}) == []
    assert codes({"name": "ok", "description": "d"}, None) == []
    assert codes({"name": "a" * 65, "description": "d"}, None) == ["name-length"]
    assert codes({"name": "ok", "description": ""}) == ["description-length"]
    assert codes({"name": "ok", "description": 5}) == ["description-type"]
    assert codes({"name": "other", "description": "d"}) == ["name-mismatch"]
    assert codes({"name": "ok", "description": "d", "metadata": "x"}) == ["metadata-type"]
    assert codes({"name": "ok", "description": "d", "license": 3}) == ["license-type"]
    assert codes({"name": "ok", "description": "d", "compatibility": ""}) == ["compatibility-length"]
    assert codes({"description": "d"}) == ["name-missing"]
    v = validate_skill({"name": "ok", "description": "d", "x": 1}, "ok")[0]
    assert (v.code, v.field) == ("unknown-field", "x")


def test_parse_skill_md_returns_body() -> None:
    fm, body = parse_skill_md("---\nname: a\ndescription: b\n---\n\n# Title\n")
    assert fm == {"name": "a", "description": "b"}
    assert body == "\n# Title\n"


def test_validate_tree(tmp_path: Path) -> None:
    write_skill(tmp_path, "good", "---\nname: good\ndescription: d\n---\n")
    write_skill(tmp_path, "nested/mismatch", "---\nname: other\ndescription: d\n---\n")
    write_skill(tmp_path, "broken", "no front matter\n", filename="skill.md")
    write_skill(tmp_path, ".hidden/skip", "---\nname: skip\ndescription: d\n---\n")
    out = {p.relative_to(tmp_path).as_posix(): [v.code for v in vs] for p, vs in validate_tree(tmp_path)}
    assert out == {"broken/skill.md": ["frontmatter-invalid"], "good/SKILL.md": [],
                   "nested/mismatch/SKILL.md": ["name-mismatch"]}


def test_sniff(tmp_path: Path) -> None:
    def sniff(p: Path) -> bool:
        return READER.sniff(FileInfo(p, p.read_bytes()[:65536]))

    assert sniff(write_skill(tmp_path, "a", "no front matter", filename="skill.md"))
    flat = write_skill(tmp_path, "flat", "---\r\nname: flat-skill\r\ndescription: d\r\n---\r\nx", filename="flat-skill.md")
    assert sniff(flat)
    assert not sniff(write_skill(tmp_path, "doc", "---\ntitle: t\ndescription: d\n---\nx", filename="doc.md"))
    assert not sniff(write_skill(tmp_path, "doc", "# Readme\n", filename="README.md"))
    assert not sniff(write_skill(tmp_path, "txt", "---\nname: a\ndescription: d\n---\n", filename="a.txt"))
    assert not sniff(write_skill(tmp_path, "bad", "---\nname: [\n---\n", filename="bad.md"))
    assert select_reader(FileInfo(flat, flat.read_bytes())) is get_reader("skill")
    # a flat skill file is checked against its file name, and lists no resources
    res = read(flat)
    assert res.warnings == [] and skill_node(res).properties["resources"] == []


# --- the shared skills collection -------------------------------------------------------------

def test_shared_skills_all_ingest(shared: Path) -> None:
    root = shared / "data" / "skills"
    files = sorted(root.rglob("SKILL.md"))
    assert len(files) == 143
    tools: Counter[str] = Counter()
    ids = set()
    for p in files:
        data = p.read_bytes()
        assert select_reader(FileInfo(p, data[:65536])) is get_reader("skill"), p
        res = READER.read(p, data)
        node = skill_node(res)
        assert node.id == f"skill:{p.parent.name}"
        assert node.properties["description"]
        ids.add(node.id)
        tools.update(e.target for e in res.edges if e.type == Rel.USES_TOOL)
    assert len(ids) == 143
    assert set(tools) == {"tool:Read", "tool:Write", "tool:Edit", "tool:Bash"}


def test_shared_edge_cases(shared: Path) -> None:
    root = shared / "data" / "skills"
    res = read(root / "k-dense-scientific" / "database-lookup" / "SKILL.md")
    assert res.warnings == ["description is 1929 characters (spec limit 1024)"]
    geo = root / "k-dense-scientific" / "geomaster" / "SKILL.md"
    assert b"\r\n" in geo.read_bytes()
    props = skill_node(read(geo)).properties
    assert props["name"] == "geomaster" and "\r" not in props["body"] + props["description"]
    api = skill_node(read(root / "anthropics" / "claude-api" / "SKILL.md")).properties
    assert api["description"].startswith("Reference for the Claude API")
    assert api["description"].count("\n") == 2
    assert api["resources"] == ["LICENSE.txt"]


def test_shared_validate_tree(shared: Path) -> None:
    results = validate_tree(shared / "data" / "skills")
    assert len(results) == 143
    found = {(p.parent.name, v.code) for p, vs in results for v in vs}
    assert found == {
        ("claude-api", "description-length"),
        ("database-lookup", "description-length"),
        ("adaptyv", "unknown-field"),
        ("markdown-mermaid-writing", "metadata-value"),
        ("rowan", "metadata-value"),
    }
