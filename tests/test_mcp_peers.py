"""``kg mcp`` against the official MCP peers: the Inspector CLI (stdio) and the conformance suite (HTTP).

Both are npm packages pinned in tests/peers/package.json, run with the Node 22 that package installs
(tests/peers/node_modules/.bin/node). Install them with :data:`INSTALL`; without them these tests skip,
or fail under ``CI=true``.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from processes import stop

pytest.importorskip("mcp")

from kg.graph import KnowledgeGraph
from retrieval.agents.tools import TOOL_NAMES

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
PEERS = REPO / "tests" / "peers"
MODULES = PEERS / "node_modules"
NODE = MODULES / ".bin" / "node"
INSPECTOR = MODULES / "@modelcontextprotocol" / "inspector" / "clients" / "cli" / "build" / "index.js"
CONFORMANCE = MODULES / "@modelcontextprotocol" / "conformance" / "dist" / "index.js"
EXPECTED_FAILURES = PEERS / "conformance-expected-failures.yml"
INSTALL = "npm ci --prefix tests/peers --no-audit --no-fund"
# scenarios of the active suite that need nothing but a working server: each must pass
MUST_PASS = {"server-initialize", "ping", "logging-set-level", "tools-list", "tools-call-error",
             "server-sse-multiple-streams", "resources-list", "prompts-list", "dns-rebinding-protection"}
QUERY = "knowledge distillation"


@pytest.fixture(scope="module")
def peers() -> None:
    """Skip (fail under CI=true) when the npm peers are not installed."""
    missing = [str(p.relative_to(REPO)) for p in (NODE, INSPECTOR, CONFORMANCE) if not p.exists()]
    if missing:
        msg = f"MCP peer tools not installed (missing {', '.join(missing)}); run: {INSTALL}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg)
        pytest.skip(msg)


def _kg() -> list[str]:
    """The ``kg`` console script next to this interpreter, else ``python -m kg.cli``."""
    script = Path(sys.executable).with_name("kg")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "kg.cli"]


def _env(home: Path) -> dict[str, str]:
    return {"PYTHONPATH": str(REPO), "KG_STORE": "", "PATH": os.environ.get("PATH", ""), "HOME": str(home)}


@pytest.fixture(scope="module")
def store(shared: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A BM25-only store built by the real ``kg ingest`` from a few files of ../shared/data."""
    data = shared / "data"
    sources = [data / "daily-papers-knowledge-transfer.txt", data / "paper-metadata" / "arxiv_oai_head200",
               data / "pdfs" / "2020.acl-main.447.pdf", data / "skills" / "anthropics"]
    tmp = tmp_path_factory.mktemp("peers")
    path = tmp / "kg"
    run = subprocess.run([*_kg(), "ingest", "--store", str(path), "--no-embed", "--json", *map(str, sources)],
                         cwd=REPO, env=_env(tmp), capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    with KnowledgeGraph.open(path) as g:
        stats = g.stats()["nodes"]
    assert stats["Paper"] > 200 and stats["Skill"] == 13, stats
    return str(path)


def _inspector(store: str, home: Path, *args: str) -> tuple[int, dict[str, Any]]:
    """Run the Inspector CLI against ``kg mcp --store STORE`` over stdio; (exit code, its JSON output)."""
    cmd = [str(NODE), str(INSPECTOR), "--format", "json", "-e", f"PYTHONPATH={REPO}", "--cwd", str(REPO),
           *args, "--", *_kg(), "mcp", "--store", store]
    run = subprocess.run(cmd, cwd=REPO, env=_env(home), capture_output=True, text=True, timeout=120)
    try:
        return run.returncode, json.loads(run.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"inspector exit {run.returncode}, no JSON:\n{run.stdout}\n{run.stderr}")


def test_inspector_cli_over_stdio(peers: None, store: str, tmp_path: Path) -> None:
    rc, init = _inspector(store, tmp_path, "--method", "initialize")
    assert rc == 0, init
    info = init["result"]["serverInfo"]
    assert info == {"name": "kgloom", "version": importlib.metadata.version("kgloom")}
    assert info["version"]
    assert {"tools", "logging"} <= set(init["result"]["capabilities"])

    rc, listed = _inspector(store, tmp_path, "--strict", "--method", "tools/list")  # --strict: schema portability
    assert rc == 0, listed
    tools = listed["result"]["tools"]
    assert [t["name"] for t in tools] == list(TOOL_NAMES) and len(tools) == 8
    for t in tools:
        assert t["description"] and t["inputSchema"]["type"] == "object"
        assert t["annotations"]["readOnlyHint"] is True and t["annotations"]["destructiveHint"] is False

    rc, called = _inspector(store, tmp_path, "--method", "tools/call", "--tool-name", "search",
                            "--tool-arg", f"query={QUERY}", "k=3")
    assert rc == 0, called
    result = called["result"]
    assert result["isError"] is False
    payload = result["structuredContent"]
    assert json.loads(result["content"][0]["text"]) == payload
    hits = payload["hits"]
    assert len(hits) == 3 and all(h["cite"] == f"[{h['id']}]" for h in hits)
    assert all("distillation" in h["title"].lower() for h in hits), hits
    with KnowledgeGraph.open(store) as g:  # the same hits as searching the store in-process
        assert [h["id"] for h in hits] == list(g.search(QUERY, k=3).ids)
        assert set(g.get_nodes([h["id"] for h in hits])) == {h["id"] for h in hits}

    rc, missing = _inspector(store, tmp_path, "--method", "tools/call", "--tool-name", "get_node",
                             "--tool-arg", "node_id=paper:doi:10.0/missing")
    assert rc == 5, missing  # the inspector's exit code for an isError result
    assert missing["result"]["isError"] is True
    assert "no node with id 'paper:doi:10.0/missing'" in missing["result"]["content"][0]["text"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def http_server(store: str, tmp_path: Path) -> Iterator[str]:
    """``kg mcp --http`` on a free loopback port; yields its /mcp URL."""
    port = _free_port()
    log = tmp_path / "server.log"
    with open(log, "wb") as err:
        proc = subprocess.Popen([*_kg(), "mcp", "--http", "--port", str(port), "--store", store],
                                cwd=REPO, env=_env(tmp_path), stdout=subprocess.DEVNULL, stderr=err)
    try:
        deadline = time.monotonic() + 60
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, f"kg mcp --http did not listen:\n{log.read_text()}"
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        stop(proc)


def _baseline() -> list[str]:
    """The expected-failure scenarios, each checked to carry its one-line reason."""
    entries = []
    for line in EXPECTED_FAILURES.read_text().splitlines():
        if m := re.match(r"\s*-\s*([\w-]+)\s*(#\s*\S.*)?$", line):
            assert m.group(2), f"no reason given for {m.group(1)} in {EXPECTED_FAILURES.name}"
            entries.append(m.group(1))
    return entries


def test_conformance_suite_over_http(peers: None, http_server: str, tmp_path: Path) -> None:
    results = tmp_path / "results"
    run = subprocess.run([str(NODE), str(CONFORMANCE), "server", "--url", http_server,
                          "--expected-failures", str(EXPECTED_FAILURES), "--output-dir", str(results)],
                         cwd=tmp_path, env=_env(tmp_path), capture_output=True, text=True, timeout=300)
    report = run.stdout[run.stdout.find("=== SUMMARY ==="):] or run.stdout[-4000:]
    assert run.returncode == 0, f"{report}\n{run.stderr[-4000:]}"  # no unexpected failure, no stale entry

    checks: dict[str, list[dict[str, Any]]] = {}
    for f in results.glob("server-*/checks.json"):
        scenario = re.sub(r"^server-|-\d{4}-\d\d-\d\dT.*$", "", f.parent.name)
        checks[scenario] = json.loads(f.read_text())
    failed = {s for s, cs in checks.items() if any(c["status"] == "FAILURE" for c in cs)}
    baseline = _baseline()
    assert failed == set(baseline), report
    assert set(checks) - failed >= MUST_PASS, report
