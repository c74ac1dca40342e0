"""The ``kg`` command line end to end on the repo's sample data."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import networkx as nx
from typer.testing import CliRunner

from kg.cli import app

REPO = Path(__file__).resolve().parents[1]
runner = CliRunner()


def kg(*args: str) -> tuple[int, str]:
    res = runner.invoke(app, list(args), catch_exceptions=False)
    return res.exit_code, res.stdout


def test_ingest_stats_show_export_remove(tmp_path):
    store = str(tmp_path / "kg")
    code, out = kg("ingest", str(REPO / "data"), "--store", store, "--json", "--no-embed")
    assert code == 0, out
    rep = json.loads(out)
    assert rep["summary"]["added"] >= 6 and "stats" in rep
    code, out = kg("stats", "--store", store, "--json")
    stats = json.loads(out)
    assert set(stats) == {"nodes", "edges"}
    assert stats["nodes"]["Skill"] == 2 and stats["edges"]["NEXT"] == 1 and stats["edges"]["REQUIRES"] == 1
    # the RRF paper comes from BibTeX and JSONL: one node
    assert stats["nodes"]["Paper"] >= 4
    code, out = kg("show", "paper:doi:10.1145/1571941.1572114", "--store", store, "--json")
    node = json.loads(out)
    assert node["label"] == "Paper" and len(node["sources"]) == 2
    assert {n["type"] for n in node["neighbors"]} >= {"AUTHORED", "CITES"}
    out_jsonl = tmp_path / "g.jsonl"
    code, out = kg("export", str(out_jsonl), "--store", store, "--format", "jsonl")
    lines = [json.loads(x) for x in out_jsonl.read_text().splitlines()]
    assert sum(1 for x in lines if x["kind"] == "node") == sum(stats["nodes"].values())
    assert sum(1 for x in lines if x["kind"] == "edge") == sum(stats["edges"].values())
    edge = next(x for x in lines if x["kind"] == "edge")
    assert set(edge) == {"kind", "source", "target", "type", "properties"}
    out_gml = tmp_path / "g.graphml"
    kg("export", str(out_gml), "--store", store, "--format", "graphml")
    G = nx.read_graphml(out_gml)
    assert G.number_of_nodes() == sum(stats["nodes"].values())
    code, out = kg("remove", str(REPO / "data" / "papers" / "metadata.jsonl"), "--store", store)
    assert code == 0 and "removed" in out
    code, out = kg("show", "paper:doi:10.1145/1571941.1572114", "--store", store, "--json")
    assert len(json.loads(out)["sources"]) == 1


def test_exit_code_is_one_when_a_file_fails(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    (d / "ok.txt").write_text("fine")
    (d / "bad.txt").write_bytes(b"\x7fELF\x00\x01 bad")  # binary (b"\xff\xfe ..." is now read as UTF-16)
    code, out = kg("ingest", str(d), "--store", str(tmp_path / "kg"), "--json", "--no-embed")
    assert code == 1
    rep = json.loads(out)
    assert rep["summary"] == {"added": 1, "failed": 1}
    bad = next(f for f in rep["files"] if f["status"] == "failed")
    assert bad["errors"] == ["binary content (NUL bytes), not a text file"]


def test_help_is_fast_and_imports_nothing_heavy():
    code = ("import sys, kg, kg.cli, ingest, retrieval; "
            "print([m for m in ('torch','sentence_transformers','neo4j','langchain_core','bertopic','numpy') "
            "if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    assert subprocess.run([sys.executable, "-m", "kg.cli", "--help"], capture_output=True).returncode == 0


def test_unknown_node_is_a_clear_error(tmp_path):
    from kg.graph import KnowledgeGraph

    KnowledgeGraph.open(tmp_path / "kg").close()  # an empty store (a missing one is another error)
    res = runner.invoke(app, ["show", "paper:nope", "--store", str(tmp_path / "kg")])
    assert res.exit_code != 0
    assert "no node with id" in str(res.exception)
