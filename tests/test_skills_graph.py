"""The skill graph: progressive disclosure, REQUIRES/NEXT paths, inferred links, spec validation
(on the 143 shared skills), and the ``kg skills`` / ``kg skill`` / ``kg skill-path`` commands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kg import KnowledgeGraph
from kg.errors import NodeNotFoundError
from kg.model import Label, Rel
from kg.skills import LINK_SOURCE, link_skills, skill, skill_path, skills, validate_skills
from kg.topics import TopicConfig, fit_topics

SKILLS = {
    "fetch-data": ("Download raw datasets from public archives.", {"next": "clean-data"}, "Bash(curl:*) Read"),
    "clean-data": ("Clean and normalise tabular data: missing values, units, outliers.",
                   {"requires": "fetch-data", "next": "plot-results"}, "Read Write"),
    "plot-results": ("Plot results as publication figures with matplotlib.",
                     {"requires": "clean-data", "related": "galaxy-survey"}, ""),
    "write-paper": ("Write the paper in LaTeX.", {"requires": ["plot-results", "cite-sources"]}, "Write"),
    "galaxy-survey": ("Analyse galaxy survey telescope data: redshift, stellar mass, orbit fits.", {}, ""),
}


def make_skills(root: Path) -> Path:
    for name, (desc, links, tools) in SKILLS.items():
        d = root / name
        d.mkdir(parents=True)
        fm = {"name": name, "description": desc, **({"allowed-tools": tools} if tools else {}),
              **({"metadata": {k: v if isinstance(v, str) else ", ".join(v) for k, v in links.items()}}
                 if links else {})}
        (d / "SKILL.md").write_text("---\n" + json.dumps(fm) + "\n---\n# " + name + "\n\nSteps for " + name + ".\n")
        (d / "scripts").mkdir()
        (d / "scripts" / "run.py").write_text("print('hi')\n")
    return root


@pytest.fixture
def g(tmp_path: Path) -> KnowledgeGraph:
    graph = KnowledgeGraph.open(tmp_path / "kg")
    graph.ingest(make_skills(tmp_path / "skills"), embed=False)
    graph.sync_index(embed=True, encoder="hash")
    yield graph
    graph.close()


def test_skills_search_gives_name_description_and_score_first(g):
    hits = skills(g, "clean tabular data missing values", k=3)
    assert hits[0].name == "clean-data" and hits[0].score > 0
    assert set(hits[0].to_dict()) == {"id", "name", "description", "score"}
    every = skills(g, "")
    assert [h.name for h in every] == sorted(SKILLS)  # stubs (cite-sources) are not listed


def test_skill_gives_body_resources_tools_and_links(g):
    d = skill(g, "clean-data")
    assert d.body == "# clean-data\n\nSteps for clean-data."
    assert d.resources == ["scripts/run.py"] and d.tools == ["Read", "Write"]
    assert d.requires == ["fetch-data"] and d.next == ["plot-results"]
    assert skill(g, "fetch-data").tools == ["Bash(curl:*)", "Read"]
    assert skill(g, "plot-results", body=False).body is None
    assert [r.id for r in skill(g, "plot-results").related] == ["skill:galaxy-survey"]
    assert skill(g, "cite-sources").stub
    with pytest.raises(NodeNotFoundError):
        skill(g, "no-such-skill")


def test_skill_path_follows_requires_and_next(g):
    p = skill_path(g, "fetch-data", "plot-results")
    assert p.found and [(s.name, s.via) for s in p.steps] == [
        ("fetch-data", ""), ("clean-data", Rel.NEXT), ("plot-results", Rel.NEXT)]
    p = skill_path(g, "write-paper", "fetch-data")
    assert [s.name for s in p.steps] == ["write-paper", "plot-results", "clean-data", "fetch-data"]
    assert [s.via for s in p.steps[1:]] == [Rel.REQUIRES] * 3
    assert not skill_path(g, "galaxy-survey", "write-paper").found
    assert skill_path(g, "clean-data", "clean-data").steps[0].name == "clean-data"


def test_inferred_links_to_topics_and_papers_are_scored_derived_and_replaced(tmp_path, g):
    from tests.test_topics import docs, theme_of, write

    corpus = write(tmp_path / "papers" / "corpus.jsonl", docs(40))
    g.ingest(corpus)
    fit_topics(g, TopicConfig(n_topics=4))
    rep = link_skills(g, min_topic_score=0.0, min_paper_score=0.0)
    assert rep.method == "dense" and rep.skills == 5
    assert rep.topic_links == 15 and rep.paper_links == 25
    edges = [e for e in g.edges("skill:galaxy-survey", edge_types=[Rel.RELATED_TO], direction="out")]
    inferred = [e for e in edges if e.properties.get("inferred")]
    assert all(isinstance(e.properties["score"], float) for e in inferred)
    best_topic = max((e for e in inferred if e.target.startswith("topic:")), key=lambda e: e.properties["score"])
    assert theme_of([w for w, _ in g.node(best_topic.target).properties["terms"][:5]]) == {"astronomy"}
    assert any(e.target.split(":")[-1].startswith("astronomy") for e in inferred if e.target.startswith("paper:"))
    assert g.node(inferred[0].target)  # links point at stored nodes
    assert g.store.source(LINK_SOURCE) is not None
    # declared links stay declared; a second run replaces the inferred ones
    assert next(r.inferred for r in skill(g, "plot-results").related) is False
    rep2 = link_skills(g, k_topics=1, k_papers=0, min_topic_score=0.0)
    assert (rep2.topic_links, rep2.paper_links) == (5, 0)
    # removing the papers drops the links to them, and topics stay until a refit
    g.remove(corpus)
    assert all(not e.target.startswith("paper:") for e in g.edges(edge_types=[Rel.RELATED_TO]))
    assert len(list(g.nodes(Label.TOPIC))) > 0


def test_cli_skills_skill_and_path(g, tmp_path):
    from kg.cli import app

    store = g.store.url
    g.close()
    runner = CliRunner()
    r = runner.invoke(app, ["skills", "plot", "figures", "--store", store, "--json", "-k", "2"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["skills"][0]["name"] == "plot-results"
    r = runner.invoke(app, ["skill", "clean-data", "--store", store, "--json"])
    assert json.loads(r.stdout)["resources"] == ["scripts/run.py"]
    r = runner.invoke(app, ["skill-path", "fetch-data", "plot-results", "--store", store])
    assert r.exit_code == 0 and "fetch-data -NEXT-> clean-data -NEXT-> plot-results" in r.stdout
    r = runner.invoke(app, ["skill-path", "galaxy-survey", "write-paper", "--store", store])
    assert r.exit_code == 1
    r = runner.invoke(app, ["skills", "--validate", "--store", store, "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["files"] == 5


# -- validation on the shared skills ------------------------------------------------------------------------
def test_validation_findings_on_the_143_shared_skills(shared):
    rep = validate_skills([shared / "data" / "skills"])
    assert len(rep.files) == 143
    found = sorted((Path(f.path).parent.name, v.code, v.field) for f in rep.files for v in f.violations)
    assert found == [
        ("adaptyv", "unknown-field", "author"),
        ("claude-api", "description-length", "description"),
        ("database-lookup", "description-length", "description"),
        ("markdown-mermaid-writing", "metadata-value", "metadata"),
        ("rowan", "metadata-value", "metadata"),
    ]
    msgs = {Path(f.path).parent.name: [v.message for v in f.violations] for f in rep.invalid}
    assert "1929 characters" in msgs["database-lookup"][0] and "1068 characters" in msgs["claude-api"][0]
    assert rep.counts() == {"description-length": 2, "metadata-value": 2, "unknown-field": 1}


def test_cli_validate_json_on_shared_skills(shared):
    from kg.cli import app

    r = CliRunner().invoke(app, ["skills", "--validate", str(shared / "data" / "skills"), "--json"])
    assert r.exit_code == 1  # violations found
    out = json.loads(r.stdout)
    assert (out["files"], out["invalid"], out["violations"]) == (143, 5, 5)


def test_shared_skills_ingest_into_a_graph(shared, tmp_path):
    g = KnowledgeGraph.open(tmp_path / "kg")
    g.ingest(shared / "data" / "skills", embed=False)
    defined = [n for n in g.nodes(Label.SKILL) if not n.properties.get("stub")]
    assert len(defined) == 143
    assert g.stats()["edges"].get(Rel.USES_TOOL, 0) > 0
    hits = skills(g, "pdf documents forms", k=5)
    assert hits and all(h.description for h in hits)
    assert skill(g, "claude-api").resources
    g.close()
