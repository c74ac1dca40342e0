"""Hybrid search over a real store: filters inside every leg, incremental index updates,
explanations, modes. The fast tests use the seeded hash encoder; one uses the real MiniLM."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from kg import KnowledgeGraph
from kg.errors import ConfigError
from retrieval.filters import Filters
from retrieval.hybrid import SearchConfig
from retrieval.index import SearchIndex

REPO = Path(__file__).resolve().parents[1]


def records(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def rec(pid: str, title: str, year: int, abstract: str = "", authors=(), fields=()) -> dict:
    return {"paper_id": pid, "title": title, "abstract": abstract, "year": year,
            "authors": [{"first": a.split()[0], "middle": [], "last": a.split()[1], "suffix": ""} for a in authors],
            "mag_field_of_study": list(fields), "outbound_citations": [], "inbound_citations": []}


@pytest.fixture
def g(tmp_path: Path):
    graph = KnowledgeGraph.open(tmp_path / "kg")
    yield graph
    graph.close()


def build(g: KnowledgeGraph, folder: Path) -> None:
    g.ingest(folder, embed=False)
    g.sync_index(embed=True, encoder="hash")


def test_filters_apply_inside_every_leg_before_top_k(tmp_path, g):
    d = tmp_path / "in"
    d.mkdir()
    strong = [rec(f"s{i}", f"alpha alpha alpha study {i}", 2019, "alpha beta", authors=["Ann Lee"], fields=["Biology"])
              for i in range(30)]
    weak = [rec(f"w{i}", f"alpha gamma note {i}", 2021, "gamma delta", authors=["Bo Kim"], fields=["Medicine"])
            for i in range(3)]
    records(d / "p.jsonl", strong + weak)
    build(g, d)
    cfg = SearchConfig(depth=5)  # post-filtering a depth-5 list would find none of the 2021 papers
    for mode in ("bm25", "dense", "hybrid"):
        for f in (Filters(year=(2021, None)), Filters(authors=["bo kim"]), Filters(categories=["Medicine"])):
            res = g.search("alpha", k=3, mode=mode, filters=f, config=cfg)
            assert sorted(h.node.properties["year"] for h in res.hits) == [2021, 2021, 2021], (mode, f)
    res = g.search("alpha", k=3, mode="hybrid", filters=Filters(labels=["Skill"]))
    assert res.hits == []


def test_hits_carry_fused_score_and_each_legs_rank(tmp_path, g):
    d = tmp_path / "in"
    d.mkdir()
    records(d / "p.jsonl", [rec("1", "sparse lexical retrieval with bm25", 2020),
                            rec("2", "dense embeddings for semantic search", 2021)])
    build(g, d)
    res = g.search("bm25 retrieval", k=2, explain=True)
    top = res.hits[0]
    assert top.id == "paper:s2:1" and set(top.ranks) <= {"bm25", "dense"} and top.ranks["bm25"] == 1
    # z-score fusion by hand: the corpus is two papers, so both hits hold every leg's whole list
    legs = {leg: {h.id: h.scores[leg] for h in res.hits if leg in h.ranks} for leg in ("bm25", "dense")}
    weights = {"bm25": 0.55, "dense": 0.45}
    for h in res.hits:
        expected = 0.0
        for leg, got in legs.items():
            mean = sum(got.values()) / len(got)
            sd = (sum((x - mean) ** 2 for x in got.values()) / len(got)) ** 0.5
            z = {i: (x - mean) / sd if sd else 0.0 for i, x in got.items()}
            expected += weights[leg] * z.get(h.id, min(z.values()))
        assert h.score == pytest.approx(expected, abs=1e-9)
    assert top.explanation.startswith("zscore ") and "bm25 rank 1" in top.explanation
    assert res.to_dict()["hits"][0]["ranks"]["bm25"] == 1
    # reciprocal rank fusion on request
    rrf = g.search("bm25 retrieval", k=2, explain=True, config=SearchConfig(fusion="rrf")).hits[0]
    assert rrf.score == pytest.approx(sum(1 / (60 + r) for r in rrf.ranks.values()))
    assert "rrf " in rrf.explanation and f"{1 / 61:+.4g}" in rrf.explanation
    with pytest.raises(ConfigError, match="unknown fusion"):
        SearchConfig(fusion="borda")


def test_index_follows_incremental_ingest(tmp_path, g):
    d = tmp_path / "in"
    d.mkdir()
    (d / "a.md").write_text("# Zebra migration\n\nZebras migrate across the Serengeti every year.\n")
    (d / "b.md").write_text("# Penguins\n\nPenguins huddle in the Antarctic winter.\n")
    build(g, d)
    assert g.search("zebra", mode="bm25").hits[0].title == "Zebra migration"
    (d / "a.md").write_text("# Giraffe feeding\n\nGiraffes browse acacia leaves.\n")
    g.ingest(d, embed=None)
    assert g.search("zebra", mode="bm25").hits == []
    assert g.search("giraffe acacia", mode="bm25").hits[0].title == "Giraffe feeding"
    hit = g.search("giraffe acacia", mode="hybrid").hits[0]
    assert hit.label == "Document" and hit.passages  # found through its chunk, aggregated to the document
    (d / "b.md").unlink()
    g.ingest(d, prune=True)
    assert g.search("penguins", mode="bm25").hits == []
    idx = SearchIndex.load(Path(g.store.url) / "index")
    live = [r for r in idx.rows if r is not None]
    assert idx.bm25.n_live == len(live) == idx.dense.n_alive
    assert {r.id for r in live} >= {"doc:" + r.id.split(":")[1] for r in live if r.id.startswith("doc:")}


def test_source_filter_and_graph_mode(tmp_path, g):
    (tmp_path / "x").mkdir()
    (tmp_path / "y").mkdir()
    records(tmp_path / "x" / "p.jsonl", [rec("1", "protein folding kinetics", 2020, authors=["Ann Lee"])])
    records(tmp_path / "y" / "p.jsonl", [rec("2", "protein folding pathways", 2020, authors=["Ann Lee"])])
    g.ingest(tmp_path / "x", embed=False)
    g.ingest(tmp_path / "y", embed=False)
    g.sync_index(embed=True, encoder="hash")
    res = g.search("protein folding", filters=Filters(source=str(tmp_path / "y")))
    assert [h.id for h in res.hits] == ["paper:s2:2"]
    res = g.search("kinetics", mode="hybrid+graph", k=5)
    assert res.hits[0].id == "paper:s2:1"
    # the co-authored paper is reached through the shared author by the graph leg
    assert any("graph" in h.ranks for h in res.hits)


def test_bad_mode_and_k(g):
    from kg.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown search mode"):
        g.search("x", mode="magic")
    with pytest.raises(ConfigError):
        g.search("x", k=0)


@pytest.mark.model
def test_real_model_finds_paraphrase(tmp_path, g):
    d = tmp_path / "in"
    d.mkdir()
    records(d / "p.jsonl", [rec("1", "Compressing an ensemble of networks into a single small model", 2015),
                            rec("2", "Protein structure prediction from sequence", 2021),
                            rec("3", "Weather forecasting with numerical models", 2019)])
    g.ingest(d, embed=True)
    res = g.search("knowledge distillation", mode="dense", k=3)
    assert res.hits[0].id == "paper:s2:1"
    assert "encode" in res.timings_ms


def test_attribute_changes_reuse_vectors_and_refresh_filters(tmp_path, g, monkeypatch):
    from kg.model import EdgeRecord, NodeRecord, ReadResult
    from kg.store import SourceInfo
    from retrieval.encoder import HashEncoder

    d = tmp_path / "in"
    d.mkdir()
    records(d / "p.jsonl", [rec("1", "coral reef bleaching", 2020), rec("2", "ocean acidification", 2021)])
    build(g, d)
    calls: list[int] = []
    real = HashEncoder.encode

    def counting(self, texts, **kw):
        calls.append(len(texts))
        return real(self, texts, **kw)

    monkeypatch.setattr(HashEncoder, "encode", counting)
    topic = ReadResult(nodes=[NodeRecord("topic:0", "Topic", {"label": "reefs", "terms": [["coral", 1.0]]})],
                       edges=[EdgeRecord("paper:s2:1", "topic:0", "HAS_TOPIC", {"weight": 0.9})])
    g.store.write_source(SourceInfo("kgloom://topics", "t"), topic, derived=True)
    g.sync_index()
    assert calls == [1]  # only the new Topic node was encoded; paper 1 kept its vector
    res = g.search("coral", mode="dense", filters=Filters(categories=["reefs"]))
    assert [h.id for h in res.hits] == ["paper:s2:1"]


# -- the rules search shares with every store ----------------------------------------------------------------
def test_text_hash_is_one_rule_that_never_raises():
    import hashlib

    from kg.searchtext import text_hash

    lone = "caf\udce9 menu"  # a byte decoded with surrogateescape: not encodable as UTF-8
    assert text_hash(lone) == text_hash(lone) != text_hash("café menu")
    assert len(text_hash(lone)) == 16
    # ordinary text hashes as both former copies did: stored hashes (index rows, Neo4j _th) stay valid
    assert text_hash("graph retrieval") == hashlib.blake2b(b"graph retrieval", digest_size=8).hexdigest()


def test_one_caption_rule_for_titles_and_filter_names(tmp_path, g):
    from kg.model import Node, NodeRecord, ReadResult, caption
    from kg.store import SourceInfo

    cases = {"topic:3": {"label": "graph retrieval", "terms": [["graph", 1.0]]}, "author:x": {"name": "Ann Lee"},
             "chunk:1": {"text": "t" * 100}, "paper:1": {"title": "T", "name": "N", "label": "L"}, "misc:1": {}}
    assert {i: caption(p, i) for i, p in cases.items()} == {
        "topic:3": "graph retrieval", "author:x": "Ann Lee", "chunk:1": "t" * 80, "paper:1": "T", "misc:1": "misc:1"}
    assert Node("topic:3", "Topic", cases["topic:3"]).title == "graph retrieval"
    g.store.write_source(SourceInfo("/x", "h"), ReadResult([NodeRecord(i, "Topic", p) for i, p in cases.items()]))
    assert g.store.display_names(list(cases)) == {i: caption(p, i) for i, p in cases.items()}


def test_the_backend_is_picked_once_by_what_the_store_declares(g):
    from retrieval.backends import IndexBackend, backend_for

    assert isinstance(g.search_backend, IndexBackend) and g.search_backend.store is g.store
    assert type(backend_for(g.store)) is IndexBackend

    with pytest.raises(ConfigError, match="no search backend for search engine 'elsewhere'"):
        backend_for(SimpleNamespace(search_engine="elsewhere"))  # type: ignore[arg-type]


def test_an_index_synced_elsewhere_is_reloaded(tmp_path, g):
    """The facade's backend keeps the index it loaded, until the store or the index files change."""
    records(tmp_path / "a.jsonl", [rec("1", "Coral reef bleaching", 2020)])
    g.ingest(tmp_path / "a.jsonl", embed=False)
    assert g.search("coral", mode="bm25").ids and g.search_index().dense is None  # type: ignore[union-attr]
    SearchIndex.sync_store(g.store, embed=True, encoder="hash")  # not through the facade
    assert g.search("coral", mode="dense").ids == ["paper:s2:1"]
