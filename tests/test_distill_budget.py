"""Small corpora (issue 14): the step budget of student training (kg/distill/train.py; a small
corpus trains for at least ``min_steps`` steps, a huge one for at most ``max_steps``, held-out
checkpoints split the budget, every text is drawn once before any is drawn again) and the sentence
spans of lower-cased text (kg/distill ``sentence_spans``)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from kg import KnowledgeGraph
from kg.distill import DistillConfig, TrainConfig, collect_corpus, sentence_spans
from kg.distill.train import _Stream, checkpoint_period, planned_steps, train_student
from kg.errors import ConfigError
from retrieval.encoder import HashEncoder
from retrieval.student_encoder import StaticEncoder

DIM = 16


def toy(n_texts: int = 48, seed: int = 0):
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(30)]
    texts = [" ".join(rng.choice(words, size=5)) for _ in range(n_texts)]
    enc = StaticEncoder.from_vocabulary(words, rng.normal(size=(32, DIM)).astype(np.float32))
    flat, offsets = enc.tokenize(texts)
    return enc, flat, offsets, HashEncoder(dim=DIM, seed=3).encode(texts)


def test_planned_steps_is_epochs_bounded_by_min_and_max():
    cfg = TrainConfig(epochs=4, batch_size=10, min_steps=100, max_steps=1000)
    assert planned_steps(50, cfg) == 100  # 4 x 5 = 20 epoch steps, raised to min_steps
    assert planned_steps(10_000, cfg) == 1000  # 4 x 1000, capped
    assert planned_steps(1_000, cfg) == 400  # in between: the epochs decide
    assert planned_steps(3, cfg) == 100  # fewer texts than a batch still trains
    assert planned_steps(10_000, TrainConfig(epochs=0, min_steps=100)) == 0
    assert checkpoint_period(50, cfg) == 25 and checkpoint_period(1_000, cfg) == 100
    with pytest.raises(ConfigError):
        TrainConfig(min_steps=-1)
    with pytest.raises(ConfigError):
        TrainConfig(max_steps=0)


def test_stream_draws_every_index_once_per_pass():
    s = _Stream(10, np.random.default_rng(0))
    first = np.concatenate([s.take(4), s.take(4)])
    assert len(set(first.tolist())) == 8
    third = s.take(4)  # only 2 left in this pass: a fresh shuffle
    assert len(set(third.tolist())) == 4 and len(s.take(20)) == 10


def test_a_small_corpus_takes_min_steps_and_logs_one_entry_per_checkpoint():
    enc, flat, offsets, targets = toy()
    cfg = TrainConfig(epochs=4, batch_size=16, lr=0.05, min_steps=60, threads=1)
    totals: list[int] = []
    r = train_student(enc.embeddings, flat, offsets, targets, config=cfg, progress=lambda s, t, _: totals.append(t))
    assert r.steps == 60 and totals == [60] * 60 and r.period == 15 and len(r.losses) == 4
    short = train_student(enc.embeddings, flat, offsets, targets, config=TrainConfig(
        epochs=4, batch_size=16, lr=0.05, min_steps=0, threads=1))
    assert short.steps == 12 and len(short.losses) == 4  # 4 epochs of 48 // 16
    assert r.cos_after > short.cos_after + 0.02  # the budget is what trains a small corpus


def test_max_steps_caps_training_and_checkpoints_still_cover_the_budget():
    enc, flat, offsets, targets = toy(n_texts=64)
    vf, vo = enc.tokenize(["w1 w2 w3", "w4 w5 w6", "w7 w8"])
    vt = HashEncoder(dim=DIM, seed=3).encode(["w1 w2 w3", "w4 w5 w6", "w7 w8"])
    cfg = TrainConfig(epochs=50, batch_size=8, lr=0.05, max_steps=30, threads=1)
    parent = np.array([-1] * 32 + list(range(32)))
    r = train_student(enc.embeddings, flat, offsets, targets, parent=parent, valid=(vf, vo, vt), config=cfg)
    assert r.steps == 30 and r.period == 1 and len(r.valid_cos) == 30  # 50 x 8 capped at 30
    assert r.valid_cos[r.best_epoch - 1] == max(r.valid_cos)


def test_lower_cased_text_has_sentences_and_cased_text_keeps_its_abbreviations():
    lower = "a wing in a slipstream was studied . the lift increase was measured at several angles . " \
            "the results agree with a potential flow theory ."
    spans = sentence_spans(lower, 10, random.Random(0))
    assert spans == ["a wing in a slipstream was studied .", "the lift increase was measured at several angles .",
                     "the results agree with a potential flow theory ."]
    cased = "Mice were treated e.g. with insulin for two weeks. Glucose fell in all treated animals."
    assert sentence_spans(cased, 10, random.Random(0)) == ["Mice were treated e.g. with insulin for two weeks.",
                                                   "Glucose fell in all treated animals."]


def test_spans_are_the_same_for_every_training_seed(tmp_path: Path):
    rng = random.Random(1)
    words = "wing lift drag flow shock layer pressure airfoil".split()
    docs = [{"_id": f"d{i}", "title": f"doc {i}", "text": " ".join(
        " ".join(rng.choice(words) for _ in range(6)) + " ." for _ in range(6))} for i in range(12)]
    (tmp_path / "beir").mkdir()
    (tmp_path / "beir" / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    g = KnowledgeGraph.open(tmp_path / "kg")
    try:
        g.ingest(tmp_path / "beir", embed=False)
        g.sync_index(embed=True, encoder="hash:16:0")
        a = collect_corpus(g, DistillConfig(spans_per_doc=2, train=TrainConfig(seed=0)))
        b = collect_corpus(g, DistillConfig(spans_per_doc=2, train=TrainConfig(seed=3)))
    finally:
        g.close()
    assert a.texts == b.texts and a.kinds.count("span") == 24  # 2 of the 6 sentences of each document
