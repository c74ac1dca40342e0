"""Neo4j faults (issue #17 item 3), on a server of this module's own (the session server is never hurt).

1. The server dies (SIGKILL) in the middle of ``kg ingest``: the command ends with a one-line error
   in bounded time; after a restart on the same data folder the same ``kg ingest`` completes and
   the Neo4j store equals the embedded store built from the same folder (nodes, edges, sources,
   provenance: :func:`tests.store_corpus.snapshot`), without duplicate nodes, edges or supports.
2. The server dies during a long read-only query and is restarted: the query fails with a
   :class:`~kg.errors.StoreConnectionError` within the retry time, ``kg search`` on the dead server
   fails with a one-line error, and after the restart the same open graph searches again.
3. A frozen server (SIGSTOP of its Java process): a query and a connect fail within the configured
   time-out (``$KG_NEO4J_TIMEOUT``, the URL's ``?timeout=``) plus a small slack, with a one-line
   error; after SIGCONT the same open store answers again.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from neo4j_server_fixture import TEST_PASSWORD, Neo4jConnection, in_ci

from kg.errors import StoreConnectionError
from kg.neo4j.schema import NODE, SOURCE, SUPPORTS
from kg.neo4j.server import Neo4jServer, Neo4jServerError, Neo4jUnavailableError, available
from tests.store_corpus import (
    KG,
    drop_fault_dir,
    kg_env,
    kill_group,
    run_kg,
    snapshot,
    wait_stopped,
    write_corpus,
)

pytestmark = pytest.mark.neo4j

RETRY = 3.0  # the store URL's ?retry= (seconds a lost transaction is retried)
CONNECT = 4.0  # the store URL's ?timeout= (seconds to connect)
FROZEN = 3.0  # $KG_NEO4J_TIMEOUT in the frozen-server test
SLACK = 3.0  # what a time-out may overrun (thread hand-over, driver clean-up)


@pytest.fixture(scope="module")
def own_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Neo4jConnection]:
    """A Neo4j server of this module, with a kept data folder, so a test may kill and restart it."""
    ok, reason = available()
    if not ok:
        msg = f"no Neo4j 5.26 server for the neo4j fault tests: {reason}"
        if in_ci():
            pytest.fail(msg + " (CI=true: the neo4j tests must run in CI)", pytrace=False)
        pytest.skip(msg)
    server = Neo4jServer(password=TEST_PASSWORD, data_dir=tmp_path_factory.mktemp("neo4j-faults"))
    try:
        server.start(timeout=float(os.environ.get("KG_NEO4J_START_TIMEOUT", "180")))
    except (Neo4jUnavailableError, Neo4jServerError) as e:
        pytest.fail(f"the fault tests' Neo4j server did not start: {e}", pytrace=False)
    try:
        yield Neo4jConnection(uri=server.uri, user=server.user, password=TEST_PASSWORD, server=server)
    finally:
        _resume(server)
        server.stop()


def _server(conn: Neo4jConnection) -> Neo4jServer:
    assert conn.server is not None
    return conn.server


def _url(conn: Neo4jConnection) -> str:
    return conn.uri_with_auth + f"?embed=false&retry={RETRY:g}&timeout={CONNECT:g}"


def _kill(server: Neo4jServer) -> None:
    """SIGKILL the server process (no shutdown: as a crash or an OOM kill would end it)."""
    assert server.pid is not None and server.running
    os.kill(server.pid, signal.SIGKILL)
    server.stop()  # reaps the dead process; the kept data folder stays


def _restart(server: Neo4jServer) -> None:
    """Start the server again on the same port and data folder."""
    port = server.port
    server.start(timeout=float(os.environ.get("KG_NEO4J_START_TIMEOUT", "180")))
    assert server.port == port


def _resume(server: Neo4jServer) -> None:
    if server.pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(server.pid, signal.SIGCONT)


def _one_line_error(stderr: str) -> str:
    """The command's error: one line, no traceback."""
    assert "Traceback" not in stderr, stderr[-2000:]
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, stderr[-2000:]
    return lines[0]


def _direct(conn: Neo4jConnection, query: str) -> list[Any]:
    import neo4j

    with neo4j.GraphDatabase.driver(conn.uri, auth=conn.auth) as d:
        records, _, _ = d.execute_query(query)
        return [r.data() for r in records]


def _duplicates(conn: Neo4jConnection) -> dict[str, int]:
    """Nodes with the same id, relationships between the same pair with the same type (and, for
    supports, the same label and stub): how many groups there are of each."""
    return {
        "nodes": _direct(conn, f"MATCH (n:{NODE}) WITH n.id AS id, count(*) AS c WHERE c > 1 "
                               "RETURN count(*) AS n")[0]["n"],
        "edges": _direct(conn, f"MATCH (a:{NODE})-[r]->(b:{NODE}) WITH a, type(r) AS t, b, count(r) AS c "
                               "WHERE c > 1 RETURN count(*) AS n")[0]["n"],
        "supports": _direct(conn, f"MATCH (s:{SOURCE})-[r:{SUPPORTS}]->(n) "
                                  "WITH s, n, r.label AS l, r.stub AS st, count(r) AS c WHERE c > 1 "
                                  "RETURN count(*) AS n")[0]["n"],
        "sources": _direct(conn, f"MATCH (s:{SOURCE}) WITH s.path AS p, count(*) AS c WHERE c > 1 "
                                 "RETURN count(*) AS n")[0]["n"],
    }


@pytest.mark.parametrize("stop_at", [6, 30])
def test_server_killed_mid_ingest_then_rerun_matches_embedded(own_server: Neo4jConnection, tmp_path: Path,
                                                              stop_at: int) -> None:
    from kg.store import open_store

    server = _server(own_server)
    corpus = write_corpus(tmp_path / "corpus", notes=24, jsonl=12, per_file=8)
    n_files = len(list(corpus.iterdir()))
    ref = tmp_path / "embedded"
    got = run_kg("ingest", str(corpus), "--store", str(ref), "--no-embed", "--workers", "1")
    assert got.returncode == 0, got.stderr[-2000:]
    url = _url(own_server)
    empty = open_store(url)
    empty.clear()  # type: ignore[attr-defined]
    empty.close()
    fault = f"ingest.parse:{stop_at}:stop"  # the command stops itself before its file number stop_at
    env = kg_env(KGLOOM_FAULT=fault)
    proc = subprocess.Popen([*KG, "ingest", str(corpus), "--store", url, "--no-embed", "--workers", "1"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        assert wait_stopped(proc.pid, timeout=120), f"kg ingest never stopped at {fault}"
        written = _direct(own_server, f"MATCH (s:{SOURCE}) RETURN count(s) AS n")[0]["n"]
        assert 0 < written < n_files, (written, n_files)  # the load is under way
        _kill(server)
        t = time.monotonic()
        os.killpg(proc.pid, signal.SIGCONT)
        _, err = proc.communicate(timeout=RETRY + 60)
        seconds = time.monotonic() - t
    finally:
        kill_group(proc.pid)
        drop_fault_dir(env)
    assert proc.returncode not in (0, None), err[-2000:]
    line = _one_line_error(err)
    assert "Neo4j" in line and "again" in line, line
    assert seconds < RETRY + 30, seconds  # bounded: the retry time, not a hang

    _restart(server)
    again = run_kg("ingest", str(corpus), "--store", url, "--no-embed", "--workers", "1", timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "Traceback" not in again.stderr
    want, have = snapshot(ref), snapshot(url)
    diffs = [part for part in want if want[part] != have[part]]
    assert diffs == [], {p: (len(want[p]), len(have[p])) for p in diffs}
    assert len(have["sources"]) == n_files
    assert _duplicates(own_server) == {"nodes": 0, "edges": 0, "supports": 0, "sources": 0}


def test_server_restarted_mid_query(own_server: Neo4jConnection, tmp_path: Path) -> None:
    from kg.graph import KnowledgeGraph

    server = _server(own_server)
    url = _url(own_server)
    corpus = write_corpus(tmp_path / "corpus", notes=4, jsonl=1)
    g = KnowledgeGraph.open(url)
    try:
        g.ingest(corpus, embed=False)
        before = [h.id for h in g.search("graph retrieval", k=5, mode="bm25").hits]
        assert before
        box: dict[str, Any] = {}

        def long_query() -> None:
            t = time.monotonic()
            try:
                box["rows"] = g.store._read(  # type: ignore[attr-defined]
                    "UNWIND range(1, 400000000) AS x WITH x WHERE x % 7 = 3 RETURN count(x) AS c")
            except StoreConnectionError as e:
                box["error"] = e
            box["seconds"] = time.monotonic() - t

        worker = threading.Thread(target=long_query, daemon=True)
        worker.start()
        time.sleep(1.5)
        assert worker.is_alive(), box  # still running when the server goes
        _kill(server)
        worker.join(RETRY + 30)
        assert not worker.is_alive(), "the query hung after the server was killed"
        assert "error" in box, box
        assert "\n" not in str(box["error"]) and "Neo4j" in str(box["error"])

        down = run_kg("search", "graph retrieval", "--store", url, "--mode", "bm25", timeout=60)
        assert down.returncode != 0
        assert "Neo4j" in _one_line_error(down.stderr)

        _restart(server)
        after = [h.id for h in g.search("graph retrieval", k=5, mode="bm25").hits]
        assert after == before
    finally:
        g.close()


def test_frozen_server_times_out(own_server: Neo4jConnection, tmp_path: Path,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from kg.store import open_store

    server = _server(own_server)
    url = _url(own_server)
    monkeypatch.setenv("KG_NEO4J_TIMEOUT", f"{FROZEN:g}")
    store = open_store(url)
    try:
        assert store.counts() is not None
        assert server.pid is not None
        os.kill(server.pid, signal.SIGSTOP)
        try:
            t = time.monotonic()
            with pytest.raises(StoreConnectionError, match="did not answer within") as err:
                store.counts()
            query_s = time.monotonic() - t
            assert FROZEN - 0.5 <= query_s < FROZEN + SLACK, query_s
            assert "\n" not in str(err.value) and "KG_NEO4J_TIMEOUT" in str(err.value)

            from kg.neo4j.cypher_guard import run_read_only

            t = time.monotonic()  # g.cypher / kg neo4j cypher: bounded too
            with pytest.raises(StoreConnectionError, match="did not answer within"):
                run_read_only(store, "MATCH (n) RETURN count(n) AS n", {})  # type: ignore[arg-type]
            assert time.monotonic() - t < FROZEN + SLACK

            t = time.monotonic()
            with pytest.raises(StoreConnectionError, match="did not answer within"):
                open_store(url)
            connect_s = time.monotonic() - t
            assert connect_s < CONNECT + SLACK, connect_s

            t = time.monotonic()
            cli = run_kg("search", "graph", "--store", url, "--mode", "bm25", timeout=120,
                         KG_NEO4J_TIMEOUT=f"{FROZEN:g}")
            cli_s = time.monotonic() - t
            assert cli.returncode != 0
            assert "did not answer within" in _one_line_error(cli.stderr)
            assert cli_s < 60, cli_s  # interpreter start + connect time-out, not a hang
        finally:
            _resume(server)
        assert store.counts() is not None  # the same open store works again
    finally:
        store.close()
