"""Fuzz the web explorer's JSON API with schemathesis against its own OpenAPI spec: no 500s, and
every response as the spec says (status codes, content types, bodies). Bounded examples per
operation, so the whole run stays well under a minute on the shared-data store."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from web_store import web_store

schemathesis = pytest.importorskip("schemathesis")

from kg.graph import KnowledgeGraph  # noqa: E402
from kg.web.app import create_app  # noqa: E402

EXAMPLES = 12


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    g = KnowledgeGraph.open(web_store(tmp_path_factory.getbasetemp() / "web"), create=False)
    g.search("warm up", k=1)
    yield schemathesis.openapi.from_asgi("/api/openapi.json", create_app(g, store_url="fuzz"))
    g.close()


PATHS = ("/api/search", "/api/node", "/api/neighborhood", "/api/overview", "/api/topics", "/api/topic",
         "/api/skills", "/api/skill", "/api/skill/chain", "/api/context", "/api/styles")


# schemathesis' own pytest glue (``from_fixture``) does not run under pytest 9: drive each
# operation's Hypothesis strategy directly, one test per operation.
@pytest.mark.parametrize("path", PATHS)
def test_api_answers_every_generated_request_as_specified(api: object, path: str) -> None:
    operation = api[path]["GET"]  # type: ignore[index]

    @given(case=operation.as_strategy())
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
              database=None)
    def run(case: object) -> None:
        case.call_and_validate()  # type: ignore[attr-defined]

    run()


def test_the_spec_covers_every_api_route_and_only_get(api: object) -> None:
    raw = api.raw_schema  # type: ignore[attr-defined]
    assert set(PATHS) == set(raw["paths"])
    assert all(set(ops) == {"get"} for ops in raw["paths"].values())
