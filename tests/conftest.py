"""Shared fixtures. Paths to ../shared resolve relative to the repository root."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from neo4j_server_fixture import neo4j_server  # noqa: F401  (session-scoped real Neo4j 5.26)

from kg.store import GraphStore, open_store

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session")
def shared() -> Path:
    """The read-only shared material (skips when it is not next to the checkout)."""
    if not SHARED.is_dir():
        pytest.skip("../shared is not present")
    return SHARED


@pytest.fixture(params=["sqlite", pytest.param("neo4j", marks=pytest.mark.neo4j)])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], GraphStore]]:
    """A factory of fresh, empty stores of one backend, each test run once per backend (Neo4j: the
    session server's test database, cleared). Opening the next store closes the previous ones."""
    opened: list[GraphStore] = []

    def make() -> GraphStore:
        for s in opened:
            s.close()
        if request.param == "sqlite":
            s = open_store(tmp_path / f"kg{len(opened)}")
        else:
            s = open_store(request.getfixturevalue("neo4j_server").uri_with_auth)
            s.clear()  # type: ignore[attr-defined]
        opened.append(s)
        return s

    yield make
    for s in opened:
        s.close()
