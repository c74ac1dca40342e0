"""The embedding policy of large ingests (kg/distill/policy.py) and distillation on a teacher sample
(kg/distill/sample.py). Fast tests use the seeded hash encoder as the teacher and a word-level
student initialisation (as tests/test_distill.py does); the ``model`` tests run the real MiniLM
teacher and model2vec initialisation through ``kg ingest --encoder auto``."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from test_distill import TEACHER, corpus_records, word_init, write_beir

from kg import KnowledgeGraph
from kg.distill import DistillConfig, TrainConfig, distill, list_students
from kg.distill.policy import POLICY_META, EncoderPolicy, EncoderPolicyError, pending_texts, run_policy
from kg.distill.sample import SampleConfig, node_strata, sample_corpus, sample_size, stratified_sample
from kg.errors import ConfigError
from kg.searchtext import node_text
from retrieval.encoder import load_encoder
from retrieval.index import SearchIndex
from retrieval.student_encoder import is_student_folder, read_manifest


# -- sample sizes and stratification --------------------------------------------------------------------
def test_sample_size_has_a_floor_a_fraction_and_a_cap():
    assert sample_size(0) == 0 and sample_size(1_500) == 1_500  # small stores: every document
    assert sample_size(30_000) == 3_000  # 10%, between the floor and the cap
    assert sample_size(10_000) == 2_000  # the floor
    assert sample_size(1_000_000) == sample_size(10**8) == 5_000  # the cap
    assert sample_size(100, floor=10, fraction=0.5, cap=30) == 30
    with pytest.raises(ConfigError):
        sample_size(10, floor=5, cap=4)
    with pytest.raises(ConfigError):
        SampleConfig(docs=0)
    assert SampleConfig(docs=7).size(100) == 7 and SampleConfig(docs=7).size(3) == 3


def test_stratified_sample_is_proportional_and_keeps_small_strata():
    strata = ["big.jsonl"] * 900 + ["mid.jsonl"] * 90 + ["skills"] * 10
    got = stratified_sample(strata, 100, seed=0)
    assert len(got) == len(set(got)) == 100 and got == sorted(got)
    assert Counter(strata[i] for i in got) == {"big.jsonl": 90, "mid.jsonl": 9, "skills": 1}
    # 1 in 1,000 is rounded to 0 by the quotas but still gets one document, taken from the largest
    tiny = ["big"] * 999 + ["tiny"]
    assert Counter(tiny[i] for i in stratified_sample(tiny, 10, seed=0)) == {"big": 9, "tiny": 1}
    # fewer slots than strata: one document each from a seeded choice of strata
    many = [f"s{i % 7}" for i in range(70)]
    few = stratified_sample(many, 3, seed=1)
    assert len({many[i] for i in few}) == 3
    assert stratified_sample(many, 3, seed=1) == few  # deterministic
    assert stratified_sample(many, 20, seed=1) != stratified_sample(many, 20, seed=2)
    assert stratified_sample(many, 500) == list(range(70)) and stratified_sample(many, 0) == []


# -- a store with two sources and a hash teacher ---------------------------------------------------------
@pytest.fixture
def two_sources(tmp_path: Path):
    """36 papers in one file and 9 in another, the index's encoder set to the hash teacher (no
    vectors yet), and a word-level student initialisation."""
    docs = corpus_records()
    extra = [{**d, "_id": f"x{d['_id']}", "title": "extra " + d["title"]} for d in corpus_records(3, seed=5)]
    data = tmp_path / "gen"
    write_beir(data, docs, "a.jsonl")
    write_beir(data, extra, "b.jsonl")
    g = KnowledgeGraph.open(tmp_path / "kg")
    g.sync_index(embed=False, encoder=TEACHER)  # an empty index naming the teacher (a sync with no change saves nothing)
    g.ingest(data / "a.jsonl", embed=False)
    assert g.encoder_name() == TEACHER
    init = word_init(tmp_path, [d["title"] + " " + d["text"] for d in docs + extra] + ["new doc words"])
    yield g, init, data
    g.close()


def _cached_keys(g: KnowledgeGraph) -> set[bytes]:
    caches = list((Path(g.store.folder) / "models" / "teacher-cache").glob("*/keys.npy"))  # type: ignore[arg-type]
    return {bytes(k) for c in caches for k in np.load(c, allow_pickle=False)}


def _key(text: str) -> bytes:
    return hashlib.blake2b(text.strip().encode("utf-8", "surrogatepass"), digest_size=16).digest()


def test_sample_corpus_draws_from_every_source_and_counts_words_over_the_rest(two_sources):
    g, _init, data = two_sources
    g.ingest(data / "b.jsonl", embed=False)
    idx = g.search_index(sync=True)
    assert idx is not None
    live = [r for r in idx.rows if r is not None]
    strata = node_strata(g.store, [r.id for r in live], [r.label for r in live])
    assert Counter(Path(s).name for _, s in strata) == {"a.jsonl": 36, "b.jsonl": 9}
    cfg = DistillConfig(spans_per_doc=2)
    got = sample_corpus(g, cfg, SampleConfig(docs=5, span_docs=0, vocab_docs=None))
    docs = [t for t, k in zip(got.corpus.texts, got.corpus.kinds, strict=True) if k == "doc"]
    assert got.sampled == len(docs) == 5 and got.docs == 45 and got.strata == 2
    sources = {Path(g.node(n).sources[0]).name for n in got.corpus.nodes if n is not None}
    assert sources == {"a.jsonl", "b.jsonl"}  # 9 of 45 from b: proportionally 1 of 5, and never 0
    assert {k for k in got.corpus.kinds} == {"doc", "title", "span"}
    assert all(p >= 0 for p, k in zip(got.corpus.parents, got.corpus.kinds, strict=True) if k != "doc")
    nodes = g.get_nodes([r.id for r in live])
    assert len(got.vocab_texts) == len(got.corpus.texts) + 40  # every other document's text, for words
    assert set(got.vocab_texts) >= {node_text(n) for n in nodes.values()}
    small = sample_corpus(g, cfg, SampleConfig(docs=5, span_docs=0, vocab_docs=10))
    assert len(small.vocab_texts) == len(small.corpus.texts) + 5  # 10 drawn, the 5 sampled among them
    # span documents: a title and one span each of 10 more documents, never their whole text
    wide = sample_corpus(g, cfg, SampleConfig(docs=5, vocab_docs=None))  # span_ratio 2: 10 documents
    assert wide.span_docs == 10 and wide.sampled == 5
    loose = [t for t, k, p in zip(wide.corpus.texts, wide.corpus.kinds, wide.corpus.parents, strict=True)
             if k != "doc" and p < 0]
    assert 10 <= len(loose) <= 20 and len(wide.corpus.texts) == len(got.corpus.texts) + len(loose)
    assert not set(loose) & {node_text(n) for n in nodes.values()}


def test_distill_on_a_sample_asks_the_teacher_for_the_sample_only(two_sources):
    g, init, _ = two_sources
    cfg = DistillConfig(train=TrainConfig(epochs=2, batch_size=8, graph_batch=4), init=str(init),
                        sample=SampleConfig(docs=12, vocab_docs=None))
    seen: list[tuple[int, int]] = []
    res = distill(g, cfg, teacher_progress=lambda done, total: seen.append((done, total)))
    m = res.manifest["sample"]
    assert m["store_docs"] == 36 and m["sampled_docs"] == 12 and m["strata"] == 1
    assert m["teacher_texts"] == res.manifest["texts"]["doc"] + res.manifest["texts"]["title"] \
        + res.manifest["texts"]["span"] and res.manifest["texts"]["doc"] == 12
    assert seen and seen[-1][0] == seen[-1][1] == m["teacher_texts"]  # the teacher's progress
    cached = _cached_keys(g)
    assert len(cached) == m["teacher_texts"]  # the teacher encoded exactly the sampled texts
    nodes = g.get_nodes([n.id for n in g.nodes("Paper")])
    outside = [t for t in (node_text(n) for n in nodes.values()) if _key(t) not in cached]
    assert len(outside) == 24  # 24 documents the teacher never saw
    student = load_encoder(str(res.path))
    assert student.encode(outside).any(axis=1).all()  # the student still encodes them


# -- the policy ------------------------------------------------------------------------------------------
def _policy(init: Path, threshold: int = 20, docs: int = 12) -> EncoderPolicy:
    cfg = DistillConfig(train=TrainConfig(epochs=2, batch_size=8, graph_batch=4), init=str(init))
    return EncoderPolicy(threshold=threshold, sample=SampleConfig(docs=docs), distill=cfg)


def test_auto_distils_above_the_threshold_and_encodes_everything_with_the_student(two_sources):
    g, init, data = two_sources
    phases: list[str] = []
    g.ingest(data / "b.jsonl", embed=True, encoder="auto", encoder_policy=_policy(init),
             phase=lambda name, msg: phases.append(name))
    outcome = g.last_ingest()["encoder"]  # type: ignore[index]
    assert outcome["action"] == "distilled" and outcome["texts"] == 45 and outcome["sampled_docs"] == 12
    idx = SearchIndex.load(g.store.folder / "index")  # type: ignore[operator]
    assert idx.manifest["encoder"] == outcome["student"] and is_student_folder(outcome["student"])
    assert idx.dense is not None and idx.dense.n_rows == len(idx.rows) == 45
    assert read_manifest(outcome["student"])["teacher"] == TEACHER
    assert {"distill", "activate"} <= set(phases)
    assert g.store.get_meta(POLICY_META)["state"] == "done"
    assert g.search("airfoil lift", k=3, mode="dense").hits
    # a later ingest into a store whose student is active: the student embeds, nothing is distilled
    more = write_beir(data / "more", [{**d, "_id": f"m{d['_id']}"} for d in corpus_records(2, seed=9)])
    g.ingest(more, embed=True, encoder="auto", encoder_policy=_policy(init, threshold=0))
    assert g.last_ingest()["encoder"]["action"] == "none"  # type: ignore[index]
    assert len(list_students(g)) == 1
    idx = SearchIndex.load(g.store.folder / "index")  # type: ignore[operator]
    assert idx.manifest["encoder"] == outcome["student"] and idx.dense.n_rows == len(idx.rows) == 51


def test_below_the_threshold_and_with_teacher_nothing_is_distilled(two_sources):
    g, init, data = two_sources
    g.ingest(data / "b.jsonl", embed=True, encoder="auto", encoder_policy=_policy(init, threshold=45))
    assert g.last_ingest()["encoder"]["action"] == "teacher"  # type: ignore[index]
    idx = SearchIndex.load(g.store.folder / "index")  # type: ignore[operator]
    assert idx.manifest["encoder"] == TEACHER and idx.dense is not None and not list_students(g)
    row = next(i for i, r in enumerate(idx.rows) if r is not None)
    text = node_text(g.node(idx.rows[row].id))  # type: ignore[union-attr]
    np.testing.assert_allclose(idx.dense.vectors[row], load_encoder(TEACHER).encode([text])[0], atol=1e-6)
    # a dense leg already there: the changed texts are counted, and "teacher" never distils
    more = write_beir(data / "more", [{**d, "_id": f"m{d['_id']}"} for d in corpus_records(4, seed=9)])
    g.ingest(more, embed=True, encoder="teacher", encoder_policy=_policy(init, threshold=1))
    assert g.last_ingest()["encoder"] is None and not list_students(g)  # type: ignore[index]


def test_a_large_change_to_a_teacher_store_drops_its_vectors_and_distils(two_sources):
    g, init, data = two_sources
    g.sync_index(embed=True)  # 36 teacher vectors
    g.ingest(data / "b.jsonl", embed=None, encoder="auto", encoder_policy=_policy(init, threshold=8))
    outcome = g.last_ingest()["encoder"]  # type: ignore[index]
    assert outcome["action"] == "distilled" and outcome["texts"] == 45  # 9 new, but every row re-encoded
    idx = SearchIndex.load(g.store.folder / "index")  # type: ignore[operator]
    assert idx.manifest["encoder"] == outcome["student"] and idx.dense.n_rows == 45


def test_a_failed_distillation_leaves_bm25_searchable_and_the_next_ingest_resumes(two_sources):
    g, init, data = two_sources
    bad = EncoderPolicy(threshold=5, sample=SampleConfig(docs=12),
                        distill=DistillConfig(init=str(data / "no-such-student")))
    with pytest.raises(EncoderPolicyError, match="BM25 search works"):
        g.ingest(data / "b.jsonl", embed=True, encoder="auto", encoder_policy=bad)
    assert "error" in g.last_ingest()  # type: ignore[operator]
    idx = SearchIndex.load(g.store.folder / "index")  # type: ignore[operator]
    assert idx.manifest["version"] == g.store.version() and idx.dense is None and len(idx.rows) == 45
    assert g.search("airfoil lift", k=3, mode="bm25").hits
    assert g.store.get_meta(POLICY_META)["state"] == "pending"
    # the files are unchanged now, and embed is left to the store: the pending policy still runs
    g.ingest(data, encoder="auto", encoder_policy=_policy(init))
    assert g.last_ingest()["encoder"]["action"] == "distilled"  # type: ignore[index]
    assert SearchIndex.load(g.store.folder / "index").dense.n_rows == 45  # type: ignore[operator]


def test_no_embeddings_and_explicit_encoders(two_sources, tmp_path):
    g, init, data = two_sources
    g.ingest(data / "b.jsonl", embed=False, encoder="auto", encoder_policy=_policy(init, threshold=1))
    assert g.last_ingest()["encoder"] is None and not list_students(g)  # type: ignore[index]
    assert run_policy(g, _policy(init, threshold=1), embed=False).action == "none"
    assert pending_texts(g) == 45  # no dense leg: every live row waits for a vector
    with pytest.raises(ConfigError):
        g.ingest(data, encoder="student")  # no student saved yet
    g.ingest(data, encoder="hash:32:1")
    idx = SearchIndex.load(g.store.folder / "index")  # type: ignore[operator]
    assert idx.manifest["encoder"] == "hash:32:1" and idx.dense.n_rows == 45
    with pytest.raises(ConfigError):
        g.ingest(data, encoder="no-such-encoder")


# -- the real teacher ------------------------------------------------------------------------------------
@pytest.mark.model
@pytest.mark.slow
def test_kg_ingest_encoder_auto_with_minilm_and_model2vec(tmp_path):
    """``kg ingest --encoder auto`` end to end: MiniLM on a sample, model2vec initialisation, the
    student activated; phases on stderr, the outcome in --json."""
    pytest.importorskip("model2vec.distill")
    pytest.importorskip("torch")
    from typer.testing import CliRunner

    from kg.cli import app

    data = write_beir(tmp_path / "gen", corpus_records(n_per_topic=20))
    res = CliRunner().invoke(app, ["ingest", str(data), "--store", str(tmp_path / "kg"), "--json",
                                                   "--encoder", "auto", "--auto-threshold", "30"])
    assert res.exit_code == 0, res.output + res.stderr
    out = json.loads(res.stdout)
    enc = out["encoder"]
    assert enc["action"] == "distilled" and enc["texts"] == 60 and enc["sampled_docs"] == 60  # the floor
    assert "distill:" in res.stderr and "activate:" in res.stderr
    m = read_manifest(enc["student"])
    assert m["teacher"] == "minilm" and m["sample"]["teacher_texts"] == enc["teacher_texts"] > 60
    g = KnowledgeGraph.open(tmp_path / "kg", create=False)
    assert g.encoder_name() == enc["student"]
    assert g.search("airway infection sputum", k=3, mode="hybrid").hits[0].title.startswith("lung")
    g.close()
