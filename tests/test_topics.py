"""Topics: NMF and BERTopic fits on generated corpora (hash encoder), determinism, the NMF fallback,
incremental assignment without refit, survival across re-ingest, quality figures, CLI and map."""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from kg import KnowledgeGraph
from kg.model import Label, Rel
from kg.topic_quality import coherence, diversity
from kg.topics import ASSIGN_SOURCE, TOPICS_SOURCE, TopicConfig, assign_topics, fit_topics, load_model, topics

THEMES = {
    "astronomy": "galaxy star planet orbit telescope nebula comet asteroid cosmic redshift supernova quasar "
                 "stellar lunar eclipse",
    "cooking": "recipe flour butter oven sugar garlic onion pasta sauce bake roast simmer spice dough cheese",
    "finance": "stock market bond equity dividend inflation interest portfolio hedge fund asset credit loan "
               "bank currency",
    "genetics": "gene genome mutation allele chromosome sequencing protein enzyme transcription rna dna "
                "phenotype heredity locus mitosis",
}
FILLER = "report measure value group level change increase effect sample period".split()


def docs(n: int, *, seed: int = 0, start: int = 0) -> list[dict]:
    """``n`` BEIR records cycling through the themes: theme words plus a little shared filler."""
    rnd = random.Random(seed)
    names = sorted(THEMES)
    out = []
    for i in range(start, start + n):
        theme = names[i % len(names)]
        words = THEMES[theme].split()
        body = [rnd.choice(words) if rnd.random() < 0.8 else rnd.choice(FILLER) for _ in range(30)]
        out.append({"_id": f"{theme}-{i}", "title": " ".join(rnd.sample(words, 3)), "text": " ".join(body)})
    return out


def write(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def open_store(folder: Path, corpus: Path, *, dense: bool = True) -> KnowledgeGraph:
    g = KnowledgeGraph.open(folder)
    g.ingest(corpus, embed=False)
    if dense:
        g.sync_index(embed=True, encoder="hash")
    return g


def theme_of(words: list[str]) -> set[str]:
    return {t for t, vocab in THEMES.items() for w in words if w in vocab.split()}


def comparable(rep) -> dict:
    d = rep.to_dict()
    for key in ("seconds", "fitted_at"):
        d.pop(key)
    return d


def has_topic(g: KnowledgeGraph) -> dict[str, str]:
    return {e.source: e.target for e in g.edges(edge_types=[Rel.HAS_TOPIC])}


# -- quality figures ----------------------------------------------------------------------------------
def test_diversity_counts_unique_top_terms():
    assert diversity([["a", "b", "c"], ["a", "d", "e"]], k=3) == pytest.approx(5 / 6)
    assert diversity([["a", "b"], ["c", "d"]], k=2) == 1.0
    assert diversity([], k=10) == 0.0


def test_coherence_prefers_words_that_occur_together():
    texts = [["gene", "dna", "cell"], ["gene", "dna"], ["oven", "bake", "flour"], ["oven", "bake"]] * 10
    mean, per = coherence([["gene", "dna"], ["gene", "oven"], ["zzz", "gene"]], texts, measure="c_npmi")
    assert per[0] > 0.5 > per[1]
    assert np.isnan(per[2])  # one known word left: not scorable
    assert mean == pytest.approx((per[0] + per[1]) / 2)


# -- NMF path -----------------------------------------------------------------------------------------
@pytest.fixture
def small(tmp_path: Path) -> KnowledgeGraph:
    g = open_store(tmp_path / "kg", write(tmp_path / "in" / "corpus.jsonl", docs(60)))
    yield g
    g.close()


def test_small_corpus_gets_nmf_topics_with_terms_labels_and_edges(small):
    rep = fit_topics(small, TopicConfig(n_topics=4))
    assert rep.method == "nmf" and rep.fallback == ""  # 60 documents: below the switch point
    leaves = [t for t in rep.topics if t.level == 0]
    assert len(leaves) == 4 and rep.n_docs == 60 and rep.n_outliers == 0
    for t in leaves:  # each topic is one theme, labelled by its top terms
        assert len(theme_of([w for w, _ in t.terms[:5]])) == 1, t
        assert t.label.count("·") == 2
    assert sorted(t.size for t in leaves) == [15, 15, 15, 15]
    assert rep.diversity == 1.0 and rep.coherence is not None and rep.coherence > 0
    edges = has_topic(small)
    themes = {t.id: theme_of([w for w, _ in t.terms[:5]]) for t in leaves}
    assert len(edges) == 60 and all(p_theme(p) in themes[t] for p, t in edges.items())
    node = small.node(leaves[0].id)
    assert node.label == Label.TOPIC and node.sources == (TOPICS_SOURCE,)
    assert {"label", "terms", "size", "method"} <= set(node.properties)
    assert isinstance(node.properties["terms"][0], list) and len(node.properties["terms"][0]) == 2
    d = rep.to_dict()
    assert {"method", "topics", "coherence", "diversity"} <= set(d)


def test_same_seed_same_topics(small):
    a = comparable(fit_topics(small, TopicConfig(method="nmf", seed=3)))
    edges_a = has_topic(small)
    b = comparable(fit_topics(small, TopicConfig(method="nmf", seed=3)))
    assert a == b and has_topic(small) == edges_a


def test_bertopic_falls_back_to_nmf_without_embeddings(tmp_path):
    g = open_store(tmp_path / "kg", write(tmp_path / "in" / "corpus.jsonl", docs(40)), dense=False)
    rep = fit_topics(g, TopicConfig(method="bertopic", n_topics=4))
    assert rep.method == "nmf" and "embeddings" in rep.fallback
    assert load_model(g)["method"] == "nmf"
    g.close()


def test_bertopic_falls_back_to_nmf_when_the_extra_is_missing(small, monkeypatch):
    monkeypatch.setitem(sys.modules, "bertopic", None)
    rep = fit_topics(small, TopicConfig(method="bertopic", n_topics=4))
    assert rep.method == "nmf" and "pip install 'kgloom[topics]'" in rep.fallback


def test_nmf_assigns_new_papers_without_refit_and_topics_survive_reingest(tmp_path):
    corpus = write(tmp_path / "in" / "corpus.jsonl", docs(60))
    g = open_store(tmp_path / "kg", corpus)
    rep = fit_topics(g, TopicConfig(n_topics=4))
    before = {t.id: t.terms for t in rep.topics}
    fit_hash = load_model(g)["hash"]
    extra = write(tmp_path / "in2" / "more.jsonl", docs(8, seed=9, start=100))
    g.ingest(extra)
    got = assign_topics(g)
    assert (got.candidates, got.assigned, got.outliers) == (8, 8, 0)
    assert load_model(g)["hash"] == fit_hash  # no refit
    now = topics(g)
    assert {t.id: t.terms for t in now.topics} == before and now.n_assigned == 8
    edges = has_topic(g)
    by_topic = {t.id: theme_of([w for w, _ in t.terms[:5]]) for t in now.topics}
    for i in range(100, 108):
        pid = next(p for p in edges if p.endswith(f"-{i}"))
        assert p_theme(pid) in by_topic[edges[pid]]
    assert assign_topics(g).written is False  # nothing new: the assign source is unchanged
    # re-ingesting the corpus keeps topics and their edges; removing it drops only its edges
    g.ingest(corpus, force=True)
    assert len(has_topic(g)) == 68
    g.remove(corpus)
    assert len(has_topic(g)) == 8 and len(list(g.nodes(Label.TOPIC))) == len(before)
    # a refit rebuilds from what is there now: the old topics go, the assignments fold in
    rep2 = fit_topics(g, TopicConfig(n_topics=2))
    assert g.store.source(ASSIGN_SOURCE) is None and rep2.n_docs == 8
    assert {t.id for t in g.nodes(Label.TOPIC)} == {t.id for t in rep2.topics}
    g.close()


def p_theme(pid: str) -> str:
    return pid.split(":")[-1].split("-")[0]


# -- BERTopic path ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def bert(tmp_path_factory) -> KnowledgeGraph:
    pytest.importorskip("bertopic")
    root = tmp_path_factory.mktemp("bert")
    g = open_store(root / "kg", write(root / "in" / "corpus.jsonl", docs(240)))
    yield g
    g.close()


@pytest.mark.slow
def test_bertopic_is_seeded_keeps_outliers_and_assigns_incrementally(bert, tmp_path):
    cfg = TopicConfig(method="bertopic", seed=11, min_topic_size=10)
    a = fit_topics(bert, cfg)
    assert a.method == "bertopic", a.fallback
    leaves = [t for t in a.topics if t.level == 0]
    assert len(leaves) >= 4
    for t in leaves:
        assert len(theme_of([w for w, _ in t.terms[:5]])) == 1, t
    assert a.n_outliers == 240 - sum(t.size for t in leaves)  # outliers get no edge
    assert len(has_topic(bert)) == 240 - a.n_outliers
    edges_a = has_topic(bert)
    b = fit_topics(bert, cfg)
    assert comparable(a) == comparable(b) and has_topic(bert) == edges_a
    parents = [t for t in a.topics if t.level == 1]
    assert all(t.parent for t in leaves) == bool(parents) or any(t.parent for t in leaves)
    sub = bert.edges(edge_types=[Rel.SUBTOPIC_OF])
    assert {e.source for e in sub} == {t.id for t in leaves if t.parent}
    # new papers join existing topics by nearest centroid; nothing is refitted
    extra = write(tmp_path / "more" / "more.jsonl", docs(12, seed=5, start=1000))
    bert.ingest(extra)
    got = assign_topics(bert)
    assert got.candidates == 12 and got.assigned >= 8
    edges = has_topic(bert)
    terms = {t.id: theme_of([w for w, _ in t.terms[:5]]) for t in a.topics}
    new = [p for p in edges if p.split("-")[-1].isdigit() and int(p.split("-")[-1]) >= 1000]
    assert len(new) == got.assigned and all(p_theme(p) in terms[edges[p]] for p in new)
    assert {t.id: t.terms for t in topics(bert).topics} == {t.id: t.terms for t in a.topics}
    bert.remove(extra)


# -- CLI and the map ------------------------------------------------------------------------------------------
def test_cli_prints_json_and_writes_maps(small, tmp_path):
    from kg.cli import app

    store = small.store.url
    small.close()
    runner = CliRunner()
    png = tmp_path / "map.png"
    r = runner.invoke(app, ["topics", "--store", store, "--json", "--n-topics", "4", "--plot", str(png)])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["method"] == "nmf" and len(out["topics"]) == 4
    assert set(out["topics"][0]) >= {"id", "label", "terms", "size", "coherence"}
    assert isinstance(out["coherence"], float) and out["diversity"] == 1.0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = tmp_path / "map.html"
    r = runner.invoke(app, ["topics", "--store", store, "--plot", str(html)])
    assert r.exit_code == 0, r.output
    assert "Topics" in r.stdout
    if html.exists():  # plotly is installed with BERTopic
        assert "<html" in html.read_text()[:500].lower()


# -- real data ------------------------------------------------------------------------------------------------
def test_arxiv_metadata_nmf_counts_and_determinism(shared, tmp_path):
    src = shared / "data" / "paper-metadata" / "arxiv_oai_head200"
    g = open_store(tmp_path / "kg", src, dense=False)
    a = fit_topics(g)
    assert a.method == "nmf" and a.n_docs == 200 and a.fallback == ""
    assert len([t for t in a.topics if t.level == 0]) == 10  # sqrt(200 / 2)
    assert a.diversity > 0.8 and a.coherence is not None
    assert comparable(a) == comparable(fit_topics(g))
    g.close()
