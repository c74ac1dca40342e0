"""Alias bombs and recursive aliases in YAML front matter are refused in bounded time and memory."""

from __future__ import annotations

import resource
import time
from pathlib import Path

import pytest
import yaml

from ingest.readers.base import FileInfo
from ingest.readers.skill import SkillReader
from ingest.safe_yaml import load_yaml
from kg.errors import ReaderError


def _bomb(levels: int) -> str:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def test_plain_yaml_and_small_aliases_load() -> None:
    assert load_yaml("name: x\nlist: [1, 2]\n") == {"name": "x", "list": [1, 2]}
    assert load_yaml("a: &x {k: v}\nb: *x\n") == {"a": {"k": "v"}, "b": {"k": "v"}}
    assert load_yaml(_bomb(4))["a3"][0][0][0][0] == "x"  # 9^4 = 6,561 values: fine


def test_alias_bomb_is_refused_fast() -> None:
    t0 = time.perf_counter()
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(yaml.YAMLError, match="alias bomb"):
        load_yaml(_bomb(12))  # 9^12 values if expanded
    assert time.perf_counter() - t0 < 1.0
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0 < 50_000  # KiB


def test_recursive_alias_is_refused() -> None:
    with pytest.raises(yaml.YAMLError, match="recursive"):
        load_yaml("a: &a [1, *a]\n")


def test_skill_with_an_alias_bomb_is_a_one_line_error(tmp_path: Path) -> None:
    folder = tmp_path / "bomb"
    folder.mkdir()
    p = folder / "SKILL.md"
    p.write_text("---\nname: bomb\ndescription: d\nmetadata:\n  " + _bomb(10).rstrip().replace("\n", "\n  ") + "\n---\n# B\n")
    reader = SkillReader()
    data = p.read_bytes()
    assert reader.sniff(FileInfo(p, data[:4096]))
    with pytest.raises(ReaderError, match=r"^invalid YAML front matter: aliases expand to over") as info:
        reader.read(p, data)
    assert "\n" not in str(info.value)
