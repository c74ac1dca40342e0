"""Session fixture ``neo4j_server``: a real Neo4j 5.26 server for ``@pytest.mark.neo4j`` tests.

- ``NEO4J_URI`` set: that server is used as is (``NEO4J_USERNAME``, default ``neo4j``, and
  ``NEO4J_PASSWORD``); nothing is started.
- otherwise one server is started per test session by :mod:`kg.neo4j.server` (Java 17 + Maven,
  no Docker) on a free port with a temporary data folder, and stopped at the end. Its password is
  ``$NEO4J_PASSWORD`` or ``kgloom-test-password``.
- Java/Maven missing, or the server does not come up: ``pytest.fail`` when ``CI=true`` (a CI run must
  never skip these silently), else ``pytest.skip`` with the reason.

Imported into ``tests/conftest.py`` with ``from neo4j_server_fixture import neo4j_server``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from kg.neo4j.server import Neo4jServer, Neo4jServerError, Neo4jUnavailableError, available

if TYPE_CHECKING:
    from kg.graph import KnowledgeGraph

TEST_PASSWORD = "kgloom-test-password"
DATA = Path(__file__).resolve().parents[1] / "data"


@dataclass(frozen=True)
class Neo4jConnection:
    """How tests reach the server."""

    uri: str
    user: str
    password: str
    browser_url: str | None = None
    server: Neo4jServer | None = None  # None for an external server

    @property
    def auth(self) -> tuple[str, str]:
        return (self.user, self.password)

    @property
    def uri_with_auth(self) -> str:
        """``bolt://user:password@host:port`` (what ``open_store`` / ``--store`` accept)."""
        from urllib.parse import quote

        scheme, rest = self.uri.split("://", 1)
        return f"{scheme}://{quote(self.user, safe='')}:{quote(self.password, safe='')}@{rest}"


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def _unavailable(reason: str) -> None:
    msg = f"no Neo4j 5.26 server for the neo4j tests: {reason}"
    if in_ci():
        pytest.fail(msg + " (CI=true: the neo4j tests must run in CI)", pytrace=False)
    pytest.skip(msg)


@pytest.fixture(scope="session")
def neo4j_server() -> Iterator[Neo4jConnection]:
    """A running Neo4j 5.26 server: ``.uri``, ``.user``, ``.password`` (and ``.auth``)."""
    uri = os.environ.get("NEO4J_URI")
    if uri:
        yield Neo4jConnection(uri=uri, user=os.environ.get("NEO4J_USERNAME", "neo4j"),
                              password=os.environ.get("NEO4J_PASSWORD", ""))
        return
    ok, reason = available()
    if not ok:
        _unavailable(reason)
    password = os.environ.get("NEO4J_PASSWORD") or TEST_PASSWORD
    server = Neo4jServer(password=password)
    try:
        server.start(timeout=float(os.environ.get("KG_NEO4J_START_TIMEOUT", "180")))
    except Neo4jUnavailableError as e:
        _unavailable(str(e))
    except Neo4jServerError as e:  # Java and Maven are there but the build or the start failed
        pytest.fail(f"the local Neo4j server did not start: {e}", pytrace=False)
    try:
        yield Neo4jConnection(uri=server.uri, user=server.user, password=password,
                              browser_url=server.browser_url, server=server)
    finally:
        server.stop()


def data_graph(server: Neo4jConnection) -> KnowledgeGraph:
    """The repository's ``data/`` folder in the server's store (hash encoder), ingested only when
    another test cleared it since; the caller closes the graph."""
    from ingest.pipeline import ingest_paths
    from kg.graph import KnowledgeGraph
    from kg.store import open_store

    s = open_store(server.uri_with_auth + "?encoder=hash")
    if s.get_meta("fixture") != "data-v1":
        s.clear()  # type: ignore[attr-defined]
        ingest_paths(s, [DATA])
        s.set_meta("fixture", "data-v1")
    return KnowledgeGraph(s)
