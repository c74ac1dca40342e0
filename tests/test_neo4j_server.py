"""A real Neo4j 5.26 server (tests/neo4j_server_fixture.py) supports what the Neo4j store needs."""

from __future__ import annotations

import importlib
import math
import uuid
from typing import Any

import pytest

pytestmark = pytest.mark.neo4j

DIMS = 384


def _driver_module() -> Any:
    try:
        return importlib.import_module("neo4j")
    except ImportError:
        from neo4j_server_fixture import in_ci

        msg = "the neo4j Python driver is not installed (pip install 'kgloom[neo4j]')"
        if in_ci():
            pytest.fail(msg, pytrace=False)
        pytest.skip(msg)


@pytest.fixture
def driver(neo4j_server: Any) -> Any:
    neo4j = _driver_module()
    drv = neo4j.GraphDatabase.driver(neo4j_server.uri, auth=(neo4j_server.user, neo4j_server.password))
    drv.verify_connectivity()
    yield drv
    drv.close()


@pytest.fixture
def label(driver: Any) -> Any:
    """A label unique to this test, so an external server's data is never touched; cleaned up after."""
    name = f"KgTest_{uuid.uuid4().hex[:12]}"
    yield name
    with driver.session() as s:
        s.run(f"MATCH (n:`{name}`) DETACH DELETE n").consume()
        for rec in list(s.run("SHOW INDEXES YIELD name WHERE name STARTS WITH $p RETURN name", p=name.lower())):
            s.run(f"DROP INDEX `{rec['name']}` IF EXISTS").consume()


def test_server_is_neo4j_5_26(driver: Any) -> None:
    records, _, _ = driver.execute_query("CALL dbms.components() YIELD name, versions, edition RETURN *")
    kernel = next(r for r in records if r["name"] == "Neo4j Kernel")
    assert kernel["versions"][0].startswith("5.26"), kernel["versions"]


def test_write_and_read_in_a_transaction(driver: Any, label: str) -> None:
    def create(tx: Any) -> str:
        rec = tx.run(f"CREATE (n:`{label}` {{id: $id, title: $title}}) RETURN elementId(n) AS eid",
                     id="p1", title="Attention is all you need").single()
        return str(rec["eid"])

    with driver.session() as s:
        eid = s.execute_write(create)
        rec = s.execute_read(
            lambda tx: tx.run(f"MATCH (n:`{label}`) WHERE elementId(n) = $eid RETURN n.id AS id, n.title AS title",
                              eid=eid).single()
        )
    assert (rec["id"], rec["title"]) == ("p1", "Attention is all you need")


def test_vector_and_fulltext_indexes_come_online_and_answer(driver: Any, label: str) -> None:
    vec_index, ft_index = f"{label.lower()}_vec", f"{label.lower()}_ft"
    with driver.session() as s:
        s.run(
            f"CREATE VECTOR INDEX `{vec_index}` IF NOT EXISTS FOR (n:`{label}`) ON (n.embedding) "
            "OPTIONS {indexConfig: {`vector.dimensions`: $dims, `vector.similarity_function`: 'cosine'}}",
            dims=DIMS,
        ).consume()
        s.run(f"CREATE FULLTEXT INDEX `{ft_index}` IF NOT EXISTS FOR (n:`{label}`) ON EACH [n.title, n.text]").consume()
        s.run("CALL db.awaitIndexes(120)").consume()
        rows = {r["name"]: r for r in s.run(
            "SHOW INDEXES YIELD name, type, state, options WHERE name IN $names RETURN *",
            names=[vec_index, ft_index])}
        assert rows[vec_index]["type"] == "VECTOR" and rows[vec_index]["state"] == "ONLINE"
        assert rows[ft_index]["type"] == "FULLTEXT" and rows[ft_index]["state"] == "ONLINE"
        cfg = rows[vec_index]["options"]["indexConfig"]
        assert cfg["vector.dimensions"] == DIMS and cfg["vector.similarity_function"].upper() == "COSINE"

        # the indexes answer queries, too
        def unit(i: int) -> list[float]:
            v = [math.sin((i + 1) * (k + 1)) for k in range(DIMS)]
            norm = math.sqrt(sum(x * x for x in v))
            return [x / norm for x in v]

        docs = [("d0", "Graph neural networks for molecules"), ("d1", "Knowledge distillation from a teacher"),
                ("d2", "Retrieval augmented generation")]
        s.execute_write(lambda tx: tx.run(
            f"UNWIND $rows AS r CREATE (n:`{label}` {{id: r.id, title: r.title}}) "
            "WITH n, r CALL db.create.setNodeVectorProperty(n, 'embedding', r.vec)",
            rows=[{"id": d, "title": t, "vec": unit(i)} for i, (d, t) in enumerate(docs)]).consume())
        s.run("CALL db.awaitIndexes(120)").consume()
        hit = s.run(f"CALL db.index.vector.queryNodes('{vec_index}', 2, $q) YIELD node, score "
                    "RETURN node.id AS id, score ORDER BY score DESC LIMIT 1", q=unit(1)).single()
        assert hit["id"] == "d1" and hit["score"] > 0.99
        ft = [r["id"] for r in s.run(f"CALL db.index.fulltext.queryNodes('{ft_index}', 'distillation') "
                                     "YIELD node RETURN node.id AS id")]
        assert ft == ["d1"]
