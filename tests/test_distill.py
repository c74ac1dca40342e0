"""Graph-aware distillation (kg/distill): the static student, graph pairs, training, save/load,
activation and the report. Fast tests use the seeded hash encoder as the teacher and a word-level
student initialisation; the ``model`` tests use the real MiniLM (on ~50 short texts) and model2vec."""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import numpy as np
import pytest

from kg import KnowledgeGraph
from kg.distill import (
    DistillConfig,
    PairConfig,
    TrainConfig,
    activate,
    active_encoder,
    collect_corpus,
    deactivate,
    distill,
    list_students,
    resolve_encoder_spec,
)
from kg.distill.pairs import pair_counts, pairs_from_edges, sample_pairs
from kg.distill.train import relational_kl, train_student
from kg.errors import ConfigError, MissingExtraError
from kg.model import Edge
from retrieval.encoder import HashEncoder, load_encoder
from retrieval.index import SearchIndex
from retrieval.student_encoder import StaticEncoder, is_student_folder, read_manifest

DIM = 32
TEACHER = f"hash:{DIM}:0"
TOPICS = {
    "aero": "wing airfoil lift drag boundary layer supersonic flow shock pressure",
    "cell": "protein gene cell membrane mutation enzyme receptor expression tissue",
    "lung": "mucus airway infection pseudomonas sputum chloride sweat pancreatic cough",
}
FILLER = "study results method analysis data effect".split()


def corpus_records(n_per_topic: int = 12, seed: int = 0) -> list[dict]:
    """A small BEIR corpus with S2ORC-style metadata: topic words, authors, keywords, citations."""
    rng = random.Random(seed)
    docs = []
    for t, (topic, words) in enumerate(sorted(TOPICS.items())):
        vocab = words.split()
        for i in range(n_per_topic):
            bid = f"{topic}{i}"
            sents = [" ".join(rng.choice(vocab + FILLER) for _ in range(8)).capitalize() + "." for _ in range(3)]
            docs.append({"_id": bid, "title": f"{topic} {rng.choice(vocab)} {rng.choice(vocab)}",
                         "text": " ".join(sents),
                         "metadata": {"authors": [f"Author{t}{i % 3}"], "keywords": [topic.upper()],
                                      "outbound_citations": [f"{topic}{(i + 1) % n_per_topic}"]}})
    return docs


def write_beir(folder: Path, docs: list[dict], name: str = "corpus.jsonl") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text("".join(json.dumps(d) + "\n" for d in docs))
    return folder


def word_init(tmp_path: Path, texts: list[str], dim: int = DIM, seed: int = 0) -> Path:
    """A saved word-level student with random embeddings (stands in for the model2vec init)."""
    words = sorted({w.lower() for t in texts for w in t.replace(".", " ").split()})
    rng = np.random.default_rng(seed)
    emb = rng.normal(size=(len(words) + 2, dim)).astype(np.float32)
    return StaticEncoder.from_vocabulary(words, emb).save(tmp_path / "init")


def fast_config(**train: object) -> DistillConfig:
    return DistillConfig(train=TrainConfig(**{"epochs": 3, "min_steps": 0, "batch_size": 16, "graph_batch": 8, **train}))  # type: ignore[arg-type]


@pytest.fixture
def store(tmp_path: Path):
    """A store holding the generated corpus, indexed with the hash teacher, and a word-level init."""
    docs = corpus_records()
    data = write_beir(tmp_path / "gen", docs)
    g = KnowledgeGraph.open(tmp_path / "kg")
    g.ingest(data, embed=False)
    g.sync_index(embed=True, encoder=TEACHER)
    init = word_init(tmp_path, [d["title"] + " " + d["text"] for d in docs] + ["new doc words"])
    yield g, init, tmp_path
    g.close()


# -- the static student ------------------------------------------------------------------------------
def test_static_encoder_pools_token_vectors_and_drops_unknown_tokens():
    emb = np.zeros((5, 3), dtype=np.float32)
    emb[2], emb[3], emb[4] = [1, 0, 0], [0, 2, 0], [0, 0, 5]
    enc = StaticEncoder.from_vocabulary(["alpha", "beta", "gamma"], emb)
    out = enc.encode(["alpha beta", "ALPHA zzz", "zzz", ""])
    assert out.dtype == np.float32 and out.shape == (4, 3)
    np.testing.assert_allclose(out[0], np.array([1, 2, 0]) / np.sqrt(5), rtol=1e-6)
    np.testing.assert_allclose(out[1], [1, 0, 0])  # unknown tokens are dropped, case folded
    assert not out[2].any() and not out[3].any()  # nothing known: the zero vector
    np.testing.assert_allclose(enc.encode_query("beta alpha"), out[0], rtol=1e-6)
    assert not enc.encode_query("zzz").any()
    np.testing.assert_allclose(enc.encode(["alpha beta"] * 5, batch_size=2), np.tile(out[0], (5, 1)), rtol=1e-6)


def test_save_load_round_trip_is_pickle_free_and_named_by_its_folder(tmp_path):
    rng = np.random.default_rng(1)
    enc = StaticEncoder.from_vocabulary(["graph", "dense", "retrieval"], rng.normal(size=(5, 8)).astype(np.float32))
    path = enc.save(tmp_path / "m" / "student-1", {"teacher": "hash:8:0"})
    assert sorted(p.name for p in path.iterdir()) == ["embeddings.npy", "manifest.json", "tokenizer.json", "words.json"]
    np.load(path / "embeddings.npy", allow_pickle=False)
    assert is_student_folder(path) and read_manifest(path)["teacher"] == "hash:8:0"
    back = load_encoder(str(path))
    assert isinstance(back, StaticEncoder) and back.name == str(path.resolve()) and back.dim == 8
    texts = ["graph retrieval", "dense", "retrieval of graph dense"]
    np.testing.assert_array_equal(back.encode(texts), enc.encode(texts))
    assert load_encoder(back.name).name == back.name  # the name round-trips through load_encoder
    with pytest.raises(ConfigError):
        enc.save(path)  # never overwritten
    with pytest.raises(ConfigError):
        load_encoder(str(tmp_path / "nothing-here"))


def _wordpiece_encoder(dim: int = 4) -> StaticEncoder:
    tk = pytest.importorskip("tokenizers")
    vocab = ["[PAD]", "[UNK]", "graph", "retriev", "##al", "##es", "dense", "cell", "##s", ",", ".", "(", ")"]
    tok = tk.Tokenizer(tk.models.WordPiece({w: i for i, w in enumerate(vocab)}, unk_token="[UNK]"))
    tok.normalizer = tk.normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = tk.pre_tokenizers.BertPreTokenizer()
    emb = np.random.default_rng(0).normal(size=(len(vocab), dim)).astype(np.float32)
    return StaticEncoder(emb, tok, unk_id=1)


def test_fast_tokenisation_gives_the_tokenizers_own_ids():
    enc = _wordpiece_encoder()
    texts = ["Graph retrieval, dense cells.", "(Retrieves) graphs zzz", "", "Cells,cells.  GRAPH"]
    flat, offsets = enc.tokenize(texts)
    for i, t in enumerate(texts):
        want = [x for x in enc.tokenizer.encode(t, add_special_tokens=False).ids if x != 1]
        assert flat[offsets[i]:offsets[i + 1]].tolist() == want, t
    assert enc.tokenize(texts)[0].tolist() == flat.tolist()  # the cached path agrees with the first


def test_corpus_words_become_tokens_without_changing_any_vector(tmp_path):
    from retrieval.student_encoder import corpus_words

    enc = _wordpiece_encoder()
    texts = ["Retrieval of graphs, retrieval of cells.", "dense retrieval", "retrieves retrieves"]
    words = corpus_words(texts, min_count=2)
    assert words == ["retrieval", "retrieves"]  # seen twice or more, longer than two letters
    big = enc.with_words([*words, "dense", "Cells"])  # one-token words are skipped
    assert big.embeddings.shape[0] == enc.embeddings.shape[0] + 3  # retrieval, retrieves, cells
    assert big.tokenize(["retrieval"])[0].tolist() == [13] and enc.tokenize(["retrieval"])[0].tolist() == [3, 4]
    probe = [*texts, "graph retrieval (dense)", "unseen words only"]
    np.testing.assert_allclose(big.encode(probe), enc.encode(probe), atol=1e-6)
    back = StaticEncoder.load(big.save(tmp_path / "s"))
    assert back.tokenizer.get_vocab()["retrieval"] == 13
    assert back._words["retrieval"] == (13,) and back._words["cells."] == (15, 10)  # words.json
    np.testing.assert_array_equal(back.encode(probe), big.encode(probe))


# -- graph pairs ---------------------------------------------------------------------------------------
def test_pairs_from_a_known_graph():
    E = Edge
    edges = [
        E("p1", "p2", "CITES", {}), E("p2", "p1", "CITES", {}), E("p1", "outside", "CITES", {}),
        E("a:x", "p1", "AUTHORED", {}), E("a:x", "p3", "AUTHORED", {}), E("a:solo", "p4", "AUTHORED", {}),
        E("p3", "c:kw", "IN_CATEGORY", {}), E("p4", "c:kw", "IN_CATEGORY", {}), E("p1", "c:kw", "IN_CATEGORY", {}),
        E("doc", "ch0", "HAS_CHUNK", {}), E("doc", "ch1", "HAS_CHUNK", {}),
        E("s1", "s2", "REQUIRES", {}), E("s2", "s3", "NEXT", {}),
    ]
    ids = {"p1", "p2", "p3", "p4", "ch0", "ch1", "s1", "s2", "s3"}  # "doc" has no text here
    got = [(p.a, p.b, p.kind) for p in pairs_from_edges(edges, ids)]
    assert got == [("p1", "p2", "cites"), ("s1", "s2", "skill"), ("s2", "s3", "skill"),
                   ("p1", "p3", "author"), ("p1", "p4", "category"), ("p3", "p4", "category"),
                   ("ch0", "ch1", "chunk")]
    assert pair_counts(pairs_from_edges(edges, ids)) == {"author": 1, "category": 2, "chunk": 1, "cites": 1, "skill": 2}
    only = pairs_from_edges(edges, ids, config=PairConfig(kinds=("author",)))
    assert [(p.a, p.b) for p in only] == [("p1", "p3")]
    assert pairs_from_edges(edges, ids, config=PairConfig(max_group=2)) == \
        [p for p in pairs_from_edges(edges, ids) if p.kind != "category"]  # the 3-member keyword is skipped
    with pytest.raises(ConfigError):
        PairConfig(kinds=("friends",))


def test_pair_sampling_caps_partners_per_node_deterministically():
    edges = [Edge("a:big", f"p{i}", "AUTHORED", {}) for i in range(20)]
    ids = {f"p{i}" for i in range(20)}
    cfg = PairConfig(per_node=2, max_group=50)
    one = pairs_from_edges(edges, ids, config=cfg, seed=3)
    assert one == pairs_from_edges(edges, ids, config=cfg, seed=3)
    assert one != pairs_from_edges(edges, ids, config=cfg, seed=4)
    assert 20 <= len(one) <= 40 and all(p.a < p.b for p in one)
    assert len(pairs_from_edges(edges, ids, config=PairConfig(per_node=2, max_pairs=5))) == 5


def test_sample_pairs_reads_the_stored_graph(store):
    g, _, _ = store
    ids = {n.id for n in g.nodes("Paper")}
    counts = pair_counts(sample_pairs(g, ids))
    assert counts["cites"] == 36  # a citation ring in each of the three topics
    assert counts["author"] > 0 and counts["category"] > 0  # 3 authors and one keyword per topic


# -- training --------------------------------------------------------------------------------------------
def _toy_training(seed: int = 0):
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(40)]
    texts = [" ".join(rng.choice(words, size=6)) for _ in range(64)]
    enc = StaticEncoder.from_vocabulary(words, rng.normal(size=(42, DIM)).astype(np.float32))
    flat, offsets = enc.tokenize(texts)
    targets = HashEncoder(dim=DIM, seed=5).encode(texts)
    pairs = np.array([[i, i + 1] for i in range(0, 60, 2)], dtype=np.int64)
    cfg = TrainConfig(epochs=10, min_steps=0, batch_size=16, graph_batch=8, lr=0.2, seed=seed, threads=1)
    return enc, flat, offsets, targets, pairs, cfg


def test_training_is_deterministic_with_a_seed_and_moves_towards_the_teacher():
    enc, flat, offsets, targets, pairs, cfg = _toy_training()
    a = train_student(enc.embeddings, flat, offsets, targets, pairs=pairs, config=cfg)
    b = train_student(enc.embeddings, flat, offsets, targets, pairs=pairs, config=cfg)
    np.testing.assert_array_equal(a.embeddings, b.embeddings)
    assert a.losses == b.losses and len(a.losses) == 10 and set(a.losses[0]) == {"cos", "rel", "graph", "total"}
    assert a.cos_after > a.cos_before + 0.1
    assert a.losses[-1]["cos"] < a.losses[0]["cos"]
    c = train_student(enc.embeddings, flat, offsets, targets, pairs=pairs, config=TrainConfig(
        epochs=10, min_steps=0, batch_size=16, graph_batch=8, lr=0.2, seed=1, threads=1))
    assert not np.array_equal(a.embeddings, c.embeddings)
    steps: list[int] = []
    train_student(enc.embeddings, flat, offsets, targets, config=cfg, progress=lambda s, t, _: steps.append(t))
    assert steps == [40] * 40  # 10 epochs of 64 // 16 steps, graph term off without pairs


def test_paired_batches_hold_each_text_with_its_partner():
    from kg.distill.train import _with_partners

    parent = np.array([-1, -1, 0, 0, 1, -1])
    kids = {0: [2, 3], 1: [4]}
    rng = np.random.default_rng(0)
    out = _with_partners(np.array([2, 1, 5]), parent, kids, rng).tolist()
    assert out[:3] == [2, 1, 5] and 0 in out and 4 in out and len(out) == len(set(out)) == 5


def test_early_stopping_keeps_the_best_epoch():
    enc, flat, offsets, targets, _, cfg = _toy_training()
    vf, vo = enc.tokenize(["w1 w2 w3", "w4 w5", "w6 w7 w8 w9"])
    vt = HashEncoder(dim=DIM, seed=5).encode(["w1 w2 w3", "w4 w5", "w6 w7 w8 w9"])
    parent = np.array([-1] * 32 + list(range(32)))
    r = train_student(enc.embeddings, flat, offsets, targets, parent=parent, valid=(vf, vo, vt), config=cfg)
    assert len(r.valid_cos) == cfg.epochs and 1 <= r.best_epoch <= cfg.epochs
    assert r.valid_cos[r.best_epoch - 1] == max(r.valid_cos)
    assert all("valid_cos" in e for e in r.losses)
    from dataclasses import replace

    again = train_student(enc.embeddings, flat, offsets, targets, parent=parent,
                          config=replace(cfg, epochs=r.best_epoch))
    np.testing.assert_array_equal(again.embeddings, r.embeddings)  # the snapshot of the best epoch


def test_loss_terms():
    torch = pytest.importorskip("torch")
    t = torch.nn.functional.normalize(torch.randn(6, 4, generator=torch.Generator().manual_seed(0)), dim=-1)
    assert float(relational_kl(t, t, 0.1)) == pytest.approx(0.0, abs=1e-6)
    assert float(relational_kl(t.flip(0), t, 0.1)) > 0
    with pytest.raises(ConfigError):
        TrainConfig(w_cos=0, w_rel=0)


def test_missing_torch_names_the_extra(monkeypatch):
    enc, flat, offsets, targets, _, cfg = _toy_training()
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(MissingExtraError, match="distill"):
        train_student(enc.embeddings, flat, offsets, targets, config=cfg)


# -- distill, save, activate ---------------------------------------------------------------------------
def test_corpus_has_documents_titles_and_spans(store):
    g, _, _ = store
    c = collect_corpus(g, DistillConfig(spans_per_doc=2))
    assert c.kinds.count("doc") == 36 and 30 <= c.kinds.count("title") <= 36  # equal titles kept once
    assert 36 <= c.kinds.count("span") <= 72
    assert len(set(c.texts)) == len(c.texts)
    assert all(n is not None for n, k in zip(c.nodes, c.kinds, strict=True) if k == "doc")


def test_distill_saves_a_versioned_student_and_activation_switches_ingest_and_queries(store):
    g, init, tmp = store
    cfg = DistillConfig(train=TrainConfig(epochs=3, min_steps=0, batch_size=16, graph_batch=8, seed=7), init=str(init))
    res = distill(g, cfg)
    assert res.path == (tmp / "kg" / "models" / "student-1").resolve() and not res.activated
    m = read_manifest(res.path)
    assert m["teacher"] == TEACHER and m["pairs"]["cites"] == 36 and len(m["losses"]) == 3
    assert m["texts"]["doc"] == 36 and len(m["data_hash"]) == 16 and m["train_seconds"] >= 0
    assert m["metrics"]["teacher_cos_after"] > m["metrics"]["teacher_cos_before"]
    assert list_students(g) == [res.path]
    assert resolve_encoder_spec(g, "student") == str(res.path)
    assert resolve_encoder_spec(g, "teacher") == TEACHER

    again = distill(g, cfg)  # same data, same seed: same model, next version
    assert again.path.name == "student-2" and again.manifest["data_hash"] == m["data_hash"]
    np.testing.assert_array_equal(np.load(again.path / "embeddings.npy"), np.load(res.path / "embeddings.npy"))

    spec = activate(g, "student")
    assert spec == str(again.path) and active_encoder(g) == spec
    assert resolve_encoder_spec(g, "teacher") == TEACHER  # read from the active student's manifest
    student = StaticEncoder.load(spec)
    idx = SearchIndex.load(tmp / "kg" / "index")
    assert isinstance(idx.encoder, StaticEncoder) and idx.dense.dim == student.dim
    # queries use the student: the dense leg ranks by the student's own vectors
    q = "mucus airway infection"
    res_q = g.search(q, k=5, mode="dense")
    vecs = student.encode([idx.rows[r].id and g.node(idx.rows[r].id).properties["title"] + "\n"
                           + g.node(idx.rows[r].id).properties["abstract"] for r in range(len(idx.rows))])
    best = np.argsort(-(vecs @ student.encode_query(q)), kind="stable")[:5]
    assert [h.id for h in res_q.hits] == [idx.rows[int(r)].id for r in best]
    # ingest after activation encodes new documents with the student
    write_beir(tmp / "more", [{"_id": "new1", "title": "new doc", "text": "mucus airway words."}])
    g.ingest(tmp / "more")
    idx = SearchIndex.load(tmp / "kg" / "index")
    row = idx.row_of["paper:beir:more:new1"]
    np.testing.assert_allclose(idx.dense.vectors[row], student.encode(["new doc\nmucus airway words."])[0], atol=1e-6)

    assert deactivate(g) == TEACHER and active_encoder(g) == TEACHER
    idx = SearchIndex.load(tmp / "kg" / "index")
    np.testing.assert_allclose(idx.dense.vectors[idx.row_of["paper:beir:more:new1"]],
                               HashEncoder(DIM, 0).encode(["new doc\nmucus airway words."])[0], atol=1e-6)
    with pytest.raises(ConfigError):
        activate(g, tmp / "init-missing")


def test_no_graph_run_differs_only_by_the_graph_term(store):
    g, init, tmp = store
    on = distill(g, DistillConfig(train=TrainConfig(epochs=2, min_steps=0, batch_size=16, graph_batch=8), init=str(init)),
                 out=tmp / "on")
    off = distill(g, DistillConfig(train=TrainConfig(epochs=2, min_steps=0, batch_size=16, graph_batch=8), init=str(init),
                                   graph=False), out=tmp / "off")
    assert on.manifest["pairs"] and not off.manifest["pairs"]
    assert off.manifest["config"]["train"]["w_graph"] == 0.0
    assert "graph" in on.manifest["losses"][0] and "graph" not in off.manifest["losses"][0]
    assert list_students(g) == []  # explicit output folders are not versions of the store


def test_cli_distill_activate_deactivate(store):
    from typer.testing import CliRunner

    from kg.cli import app

    g, init, tmp = store
    g.close()
    runner = CliRunner()
    base = ["distill", "--store", str(tmp / "kg"), "--json"]
    r = runner.invoke(app, [*base, "--epochs", "2", "--seed", "3", "--w-graph", "0.5", "--init", str(init)])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["path"].endswith("student-1") and out["pairs"]["cites"] == 36 and not out["activated"]
    assert read_manifest(out["path"])["config"]["train"]["w_graph"] == 0.5
    r = runner.invoke(app, [*base, "--activate", "--model", "student"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout) == {"encoder": out["path"], "activated": True}
    r = runner.invoke(app, [*base, "--deactivate"])
    assert json.loads(r.stdout) == {"encoder": TEACHER, "activated": False}


def test_report_on_a_small_beir_folder(tmp_path, store):
    from kg.distill.report import distill_report

    _, init, _ = store
    folder = write_beir(tmp_path / "bench", corpus_records(n_per_topic=6, seed=1))
    (folder / "queries.jsonl").write_text("".join(json.dumps({"_id": f"q{t}", "text": w})
                                                  + "\n" for t, w in enumerate(TOPICS.values())))
    (folder / "qrels").mkdir()
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(
        f"q{t}\t{topic}{i}\t1\n" for t, topic in enumerate(sorted(TOPICS)) for i in range(6)))
    st = tmp_path / "evalstore"
    pre = KnowledgeGraph.open(st)
    pre.ingest(folder / "corpus.jsonl", embed=False)
    pre.sync_index(embed=True, encoder=TEACHER)
    pre.close()
    cfg = DistillConfig(train=TrainConfig(epochs=2, min_steps=0, batch_size=16, graph_batch=8), init=str(init))
    rep = distill_report(folder, config=cfg, store=str(st), teacher_sample=8)
    for key in ("bm25", "teacher_hybrid", "student_hybrid", "kept_pct", "gain_kept_pct", "speedup",
                "train_seconds", "graph_term_delta", "teacher_query_ms", "student_query_ms"):
        assert key in rep, key
    assert rep["queries"] == 3 and rep["docs"] == 18 and rep["pairs"]["cites"] == 18
    assert rep["ablation"]["graph"] is False and isinstance(rep["graph_term_note"], str)
    assert active_encoder(KnowledgeGraph.open(st)) == TEACHER  # students were scored on copies
    assert resolve_encoder_spec(KnowledgeGraph.open(st), "student") == rep["student"]


# -- the real teacher -------------------------------------------------------------------------------------
@pytest.mark.model
def test_real_teacher_on_short_texts(tmp_path):
    """MiniLM as the teacher of a word-level student on ~50 short texts (model2vec not needed)."""
    pytest.importorskip("sentence_transformers")
    docs = corpus_records(n_per_topic=6)[:18]
    data = write_beir(tmp_path / "gen", [{**d, "text": d["text"][:60]} for d in docs])
    g = KnowledgeGraph.open(tmp_path / "kg")
    g.ingest(data, embed=False)
    g.sync_index(embed=True, encoder="minilm")
    init = word_init(tmp_path, [d["title"] + " " + d["text"] for d in docs], dim=384)
    res = distill(g, DistillConfig(train=TrainConfig(epochs=6, min_steps=0, batch_size=8, graph_batch=4, lr=0.05),
                                   spans_per_doc=1, init=str(init)), activate_after=True)
    m = res.manifest
    assert m["teacher"] == "minilm" and 30 <= m["trained_texts"] <= 60
    assert m["metrics"]["teacher_cos_after"] > m["metrics"]["teacher_cos_before"]
    assert g.search("airway infection", k=3, mode="hybrid").hits
    g.close()


@pytest.mark.model
@pytest.mark.slow
def test_model2vec_initialisation_from_the_local_teacher():
    """model2vec distils the bundled MiniLM offline (cached under ~/.cache/kgloom/distill)."""
    pytest.importorskip("model2vec.distill")
    from retrieval.encoder import MiniLMEncoder, minilm_path
    from retrieval.student_encoder import init_from_teacher

    enc = init_from_teacher(minilm_path())
    assert enc.dim == 384 and enc.embeddings.shape[0] > 20_000
    texts = ["a man is eating bread", "protein folding in cells", "supersonic flow over a wing"]
    sims = enc.encode(texts) @ MiniLMEncoder().encode(texts).T  # zero-shot: in the teacher's space, roughly
    assert (np.diag(sims) > 0.3).all() and (np.diag(sims) > sims.max(axis=1, where=~np.eye(3, dtype=bool),
                                                                    initial=-1)).all()
