"""Shared fixtures. Paths to ../shared resolve relative to the repository root."""

from __future__ import annotations

from pathlib import Path

import pytest
from neo4j_server_fixture import neo4j_server  # noqa: F401  (session-scoped real Neo4j 5.26)

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session")
def shared() -> Path:
    """The read-only shared material (skips when it is not next to the checkout)."""
    if not SHARED.is_dir():
        pytest.skip("../shared is not present")
    return SHARED
