"""The BM25 leg: parity with rank-bm25 and bm25s, add/delete/compact equivalence, masks, ties,
persistence, and the tokenizer."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kg.errors import ConfigError
from retrieval import bm25 as bm25_module
from retrieval.bm25 import FORMAT_VERSION, BM25Config, BM25Index
from retrieval.tokenize import STOPWORDS_EN, Tokenizer

EXTRA = ["Ünïcödé Straße İstanbul ﬁnance café crème", "机器学习 and 深度学习 learning", "emoji 🙂🙂 ok",
         "a b c_d __ _x 1 22 x_y", "tab\tnew\nline O'Neil's isn't", "", "   ", "the of and"]


# -- fixtures and references ---------------------------------------------------------------------
@pytest.fixture(scope="session")
def scifact(shared: Path) -> tuple[list[str], list[str]]:
    """The first 500 SciFact abstracts and 60 of its queries."""
    docs, queries = [], []
    with open(shared / "eval" / "scifact" / "corpus.jsonl") as fh:
        for line in fh:
            d = json.loads(line)
            docs.append(f"{d['title']} {d['text']}")
            if len(docs) == 500:
                break
    with open(shared / "eval" / "scifact" / "queries.jsonl") as fh:
        queries = [json.loads(line)["text"] for _, line in zip(range(60), fh, strict=False)]
    return docs, queries


def synthetic(n: int, seed: int = 0, vocab: int = 400) -> list[str]:
    """Seeded Zipfian documents over made-up words (no stopwords, stems stay put)."""
    rng = np.random.default_rng(seed)
    words = [f"w{i}x" for i in range(vocab)]
    p = 1 / np.arange(1, vocab + 1)
    p /= p.sum()
    sizes = rng.integers(0, 30, size=n)
    return [" ".join(words[j] for j in rng.choice(vocab, size=int(m), p=p)) for m in sizes]


def lucene_reference(tokens: list[list[str]], k1: float = 1.2, b: float = 0.75) -> Any:
    """rank-bm25's BM25Okapi with the Lucene idf: the formula BM25Index implements."""
    rank_bm25 = pytest.importorskip("rank_bm25")

    class LuceneBM25(rank_bm25.BM25Okapi):  # type: ignore[name-defined]
        def _calc_idf(self, nd: dict[str, int]) -> None:
            for word, df in nd.items():
                self.idf[word] = math.log(1 + (self.corpus_size - df + 0.5) / (df + 0.5))

    return LuceneBM25(tokens, k1=k1, b=b)


def reference_top(scores: np.ndarray, k: int, mask: np.ndarray | None = None) -> list[int]:
    rows = np.flatnonzero((scores > 0) & (mask if mask is not None else True))
    return rows[np.lexsort((rows, -scores[rows]))][:k].tolist()


# -- scoring parity ------------------------------------------------------------------------------
@pytest.mark.parametrize(("k1", "b", "segment"), [(1.2, 0.75, "delta"), (1.2, 0.75, "main"),
                                                   (0.9, 0.4, "main"), (2.0, 1.0, "delta"), (1.5, 0.0, "main")])
def test_scores_match_rank_bm25_with_lucene_idf(scifact, k1, b, segment):
    docs, queries = scifact
    tok = Tokenizer()
    tokens = tok.tokenize_many(docs + EXTRA)
    ref = lucene_reference(tokens, k1, b)
    idx = BM25Index(BM25Config(k1=k1, b=b))
    idx.add(docs + EXTRA)  # 508 rows: they stay in the delta segment ...
    if segment == "main":
        idx.compact()  # ... until a compact (or save) merges them into the main one
    for q in [*queries, "cell cell cell therapy", "机器学习 café"]:
        with np.errstate(invalid="ignore"):  # rank-bm25: 0/0 for an empty doc when b = 1
            want = np.nan_to_num(ref.get_scores(tok.tokenize(q)))
        got = idx.scores(q)
        assert np.allclose(got, want, rtol=1e-5, atol=1e-6), q
        rows, sc = idx.search(q, k=10)
        assert rows.tolist() == reference_top(got, 10) and np.array_equal(sc, got[rows])


def test_scores_match_bm25s_lucene(scifact):
    bm25s = pytest.importorskip("bm25s")
    docs, queries = scifact
    tok = Tokenizer()
    tokens = tok.tokenize_many(docs)
    ref = bm25s.BM25(method="lucene", k1=1.2, b=0.75)
    ref.index(tokens, show_progress=False)
    idx = BM25Index()
    idx.add(tokens)  # pre-tokenised: the very same tokens
    for q in queries:
        qt = [t for t in tok.tokenize(q) if t in ref.vocab_dict]
        if not qt:
            continue
        # bm25s's Lucene tf part leaves out the (k1 + 1) factor
        assert np.allclose(idx.scores(qt), ref.get_scores(qt) * 2.2, rtol=1e-5, atol=1e-6), q


def test_texts_and_tokens_give_the_same_index(scifact):
    docs, queries = scifact
    a, b = BM25Index(), BM25Index()
    a.add(docs)
    b.add(Tokenizer().tokenize_many(docs))
    for q in queries[:10]:
        assert np.array_equal(a.scores(q), b.scores(q))
        assert np.array_equal(a.search(q)[0], b.search(q)[0])


def test_repeated_query_terms_count_per_repeat():
    docs = synthetic(200)
    idx = BM25Index()
    idx.add(docs)
    ref = lucene_reference(Tokenizer().tokenize_many(docs))
    assert np.allclose(idx.scores("w3x w3x w7x"), ref.get_scores(["w3x", "w3x", "w7x"]), rtol=1e-5)
    assert np.allclose(idx.scores("w3x w3x"), 2 * idx.scores("w3x"), rtol=1e-6)


# -- add / delete / compact ----------------------------------------------------------------------
def test_small_adds_equal_one_batch():
    docs = synthetic(3000, seed=1)
    batch, small = BM25Index(), BM25Index()
    batch.add(docs)
    rng = np.random.default_rng(2)
    i = 0
    while i < len(docs):  # batches of 1..40: crosses the delta -> main merge several times
        j = i + int(rng.integers(1, 40))
        assert small.add(docs[i:j]).tolist() == list(range(i, min(j, len(docs))))
        i = j
    for q in ["w1x", "w5x w17x", "w0x w1x w2x w399x", "w250x"]:
        assert np.array_equal(small.scores(q), batch.scores(q))
        assert np.array_equal(small.search(q, k=25)[0], batch.search(q, k=25)[0])


def check_same_as_fresh(idx: BM25Index, docs: list[str], live: np.ndarray, queries: list[str]) -> None:
    fresh = BM25Index(idx.config)
    fresh.add([docs[i] for i in live])
    assert idx.n_live == fresh.n_rows == len(live)
    for q in queries:
        got = idx.scores(q)
        assert np.allclose(got[live], fresh.scores(q), rtol=1e-6, atol=0), q
        assert not got[np.setdiff1d(np.arange(idx.n_rows), live)].any()
        rows, sc = idx.search(q, k=15)
        frows, fsc = fresh.search(q, k=15)
        assert np.array_equal(rows, live[frows]) and np.allclose(sc, fsc, rtol=1e-6), q


def test_delete_equals_a_fresh_index():
    docs = synthetic(4000, seed=3)
    queries = ["w1x", "w2x w40x", "w0x w1x w399x", "w123x w7x", "w399x"]
    idx = BM25Index()
    idx.add(docs[:3000])  # main segment
    for d in docs[3000:3500]:
        idx.add([d])  # delta segment
    rng = np.random.default_rng(4)
    dead = rng.choice(3500, size=300, replace=False)
    idx.delete(dead[:150])
    idx.delete(dead[150:])  # a row deleted twice is ignored
    idx.delete(dead[:10])
    live = np.setdiff1d(np.arange(3500), dead)
    check_same_as_fresh(idx, docs, live, queries)
    idx.add(docs[3500:])  # adds after deletes
    live = np.concatenate([live, np.arange(3500, 4000)])
    check_same_as_fresh(idx, docs, live, queries)
    more = rng.choice(live, size=1500, replace=False)  # past the dead-postings threshold: a rewrite
    idx.delete(more)
    live = np.setdiff1d(live, more)
    check_same_as_fresh(idx, docs, live, queries)
    kept = idx.compact()
    assert np.array_equal(kept, live) and idx.n_rows == idx.n_live == len(live)
    check_same_as_fresh(idx, [docs[i] for i in live], np.arange(len(live)), queries)


@pytest.mark.parametrize("seed", range(20))
def test_random_add_delete_sequences_equal_fresh(seed):
    rng = np.random.default_rng(seed)  # seeded op sequences: batch sizes to add, fractions to delete
    ops = [int(rng.integers(1, 60)) if rng.random() < 0.6 else float(rng.random() / 2)
           for _ in range(int(rng.integers(1, 13)))]
    docs = synthetic(800, seed=seed, vocab=60)
    idx, added, live = BM25Index(), 0, np.empty(0, dtype=np.int64)
    with pytest.MonkeyPatch.context() as mp:  # small thresholds: merges and caching happen often
        mp.setattr(bm25_module, "_DELTA_MIN_ROWS", 16)
        mp.setattr(bm25_module, "_CACHE_MIN_POSTINGS", 8)
        for op in ops:
            if isinstance(op, int) and added < len(docs):  # add a batch
                rows = idx.add(docs[added : added + op])
                live = np.concatenate([live, rows])
                added += len(rows)
            elif isinstance(op, float) and live.size:  # delete a fraction of the live rows
                gone = rng.choice(live, size=int(op * live.size), replace=False)
                idx.delete(gone)
                live = np.setdiff1d(live, gone)
            idx.search("w1x w2x")  # fills the contribution cache, which the next change must reset
        check_same_as_fresh(idx, docs, live, ["w0x", "w3x w9x", "w59x w1x w1x"])


def test_delete_rejects_bad_rows_and_accepts_nothing():
    idx = BM25Index()
    idx.add(["alpha beta", "beta gamma"])
    idx.delete([])
    with pytest.raises(ConfigError):
        idx.delete([2])
    with pytest.raises(ConfigError):
        idx.delete([-1])
    with pytest.raises(ConfigError):
        idx.delete(np.array([True, False]))  # a mask is not a list of rows
    assert idx.n_live == 2


def test_delete_everything_then_add():
    idx = BM25Index()
    idx.add(["alpha beta", "beta gamma"])
    idx.delete([0, 1])
    assert idx.search("beta")[0].size == 0 and idx.n_live == 0
    idx.add(["beta delta"])
    assert idx.search("beta")[0].tolist() == [2]
    assert idx.compact().tolist() == [2] and idx.search("beta")[0].tolist() == [0]


# -- search: masks, ties, top-k ------------------------------------------------------------------
def test_mask_applies_before_top_k():
    idx = BM25Index()
    idx.add(["graph graph graph", "graph", "graph of things", "nothing here", "graph graph"])
    best = idx.search("graph", k=1)[0][0]
    mask = np.ones(idx.n_rows, dtype=bool)
    mask[best] = False
    rows, _ = idx.search("graph", k=3, mask=mask)
    assert best not in rows and len(rows) == 3
    assert idx.search("graph", mask=np.zeros(idx.n_rows, dtype=bool))[0].size == 0
    for bad in (np.ones(3, dtype=bool), np.ones(idx.n_rows, dtype=int), [True] * 4):
        with pytest.raises(ConfigError):
            idx.search("graph", mask=bad)


@pytest.mark.parametrize("n", [300, 20_000])  # the sparse path, and the dense/sampled one
def test_top_k_agrees_with_a_full_sort(n):
    docs = synthetic(n, seed=5, vocab=300)
    idx = BM25Index()
    idx.add(docs)
    rng = np.random.default_rng(6)
    mask = rng.random(n) < 0.7
    for q in ["w0x", "w0x w1x w2x", "w150x", "w299x w5x", "w10x w10x w20x"]:
        s = idx.scores(q)
        for k in (1, 5, 10, 100, n + 5):
            rows, sc = idx.search(q, k=k)
            assert rows.tolist() == reference_top(s, k)
            assert np.array_equal(sc, s[rows])
            assert idx.search(q, k=k, mask=mask)[0].tolist() == reference_top(s, k, mask)


@pytest.mark.parametrize("n", [50, 10_000])
def test_ties_break_by_ascending_row(n):
    idx = BM25Index()
    idx.add(["apple pie"] * n)
    assert idx.search("apple", k=5)[0].tolist() == [0, 1, 2, 3, 4]
    idx.delete([1, 3])
    mask = np.ones(n, dtype=bool)
    mask[0] = False
    assert idx.search("apple", k=4, mask=mask)[0].tolist() == [2, 4, 5, 6]
    idx.add(["apple"])  # shorter, so better: it jumps ahead of the ties
    assert idx.search("apple", k=3)[0].tolist() == [n, 0, 2]


def test_empty_queries_and_k():
    idx = BM25Index()
    assert idx.search("anything")[0].size == 0  # empty index
    idx.add(["the quick brown fox", "lazy dogs"])
    for q in ("", "   ", "the of and a", "unknownword", [], ["nope"]):
        rows, sc = idx.search(q)
        assert rows.size == 0 and sc.size == 0 and rows.dtype == np.int64 and sc.dtype == np.float32
        assert not idx.scores(q).any()
    assert idx.search("fox", k=0)[0].size == 0
    with pytest.raises(ConfigError):
        idx.search("fox", k=-1)


def test_unicode_text():
    idx = BM25Index()
    idx.add([*EXTRA, "Ｆｕｌｌｗｉｄｔｈ ｌｅｔｔｅｒｓ", "naïve Ærøskøbing", "機械学習の論文"])
    assert idx.search("CAFÉ")[0].tolist() == [0]
    assert idx.search("机器学习")[0].tolist() == [1]
    assert idx.search("ærøskøbing naive")[0].tolist() == [9]
    assert idx.search("機械学習の論文")[0].tolist() == [10]


def test_add_validation():
    idx = BM25Index()
    assert idx.add([]).size == 0
    with pytest.raises(ConfigError):
        idx.add("a single string")
    with pytest.raises(ConfigError):
        idx.add(["text", ["tok"]])
    with pytest.raises(ConfigError):
        BM25Config(k1=-1)
    with pytest.raises(ConfigError):
        BM25Config(b=1.5)
    with pytest.raises(TypeError):
        BM25Config(1.2, 0.75)


# -- persistence ---------------------------------------------------------------------------------
@pytest.mark.parametrize("mmap", [True, False])
def test_save_load_round_trip(tmp_path, scifact, mmap):
    docs, queries = scifact
    idx = BM25Index(BM25Config(k1=1.0, b=0.6), tokenizer=Tokenizer(stemmer=None))
    idx.add(docs[:400])
    idx.add(docs[400:450])  # left in the delta segment until save
    idx.delete([3, 420])
    idx.save(tmp_path / "bm25")
    assert not list((tmp_path / "bm25").glob("*.tmp"))
    params = json.loads((tmp_path / "bm25" / "params.json").read_text())
    assert params["version"] == FORMAT_VERSION and params["tokenizer"]["stemmer"] is None
    back = BM25Index.load(tmp_path / "bm25", mmap=mmap)
    assert back.config == idx.config and back.tokenizer == idx.tokenizer
    assert (back.n_rows, back.n_live, back.n_terms) == (idx.n_rows, idx.n_live, idx.n_terms)
    for q in queries[:20]:
        assert np.array_equal(back.scores(q), idx.scores(q))
        for a, b in zip(back.search(q, k=20), idx.search(q, k=20), strict=True):
            assert np.array_equal(a, b)
    # a loaded (memory-mapped) index keeps changing, and can be saved over its own folder
    for target in (back, idx):
        target.add(docs[450:])
        target.delete([5, 460])
    back.save(tmp_path / "bm25")
    again = BM25Index.load(tmp_path / "bm25", mmap=mmap)
    for q in queries[:20]:
        assert np.array_equal(again.scores(q), idx.scores(q))
        assert np.array_equal(back.scores(q), idx.scores(q))
    assert np.array_equal(again.compact(), idx.compact())


def test_save_load_empty_and_errors(tmp_path):
    BM25Index().save(tmp_path / "empty")
    empty = BM25Index.load(tmp_path / "empty")
    assert empty.n_rows == 0 and empty.search("x")[0].size == 0
    assert empty.add(["hello world"]).tolist() == [0]
    with pytest.raises(ConfigError):
        BM25Index.load(tmp_path / "missing")
    params = json.loads((tmp_path / "empty" / "params.json").read_text())
    params["version"] = FORMAT_VERSION + 1
    (tmp_path / "empty" / "params.json").write_text(json.dumps(params))
    with pytest.raises(ConfigError, match="version"):
        BM25Index.load(tmp_path / "empty")


# -- tokenizer -----------------------------------------------------------------------------------
def test_tokenizer_matches_bm25s(scifact):
    bm25s = pytest.importorskip("bm25s")
    stemmer = pytest.importorskip("Stemmer")
    docs, _ = scifact
    texts = docs + EXTRA
    assert frozenset(bm25s.stopwords.STOPWORDS_EN) == STOPWORDS_EN
    for kw in ({}, {"lowercase": False}, {"stemmer": None}):
        ref = bm25s.tokenize(texts, lower=kw.get("lowercase", True), stopwords="en", return_ids=False,
                             stemmer=None if "stemmer" in kw else stemmer.Stemmer("english"),
                             show_progress=False)
        tok = Tokenizer(**kw)
        assert tok.tokenize_many(texts) == [list(t) for t in ref]
        assert [tok.tokenize(t) for t in texts[:50]] == [list(t) for t in ref[:50]]


def test_tokenizer_options_and_round_trip():
    tok = Tokenizer()
    assert tok.tokenize("The Running DOGS ran") == ["run", "dog", "ran"]
    assert tok.tokenize("") == [] and tok.tokenize("the a of") == []
    assert [tok.term(w) for w in tok.words("The dogs x")] == ["", "dog", ""]
    custom = Tokenizer(pattern=r"\w+", stopwords=frozenset({"x"}), stemmer=None, lowercase=False)
    assert custom.tokenize("A b x Y") == ["A", "b", "Y"]
    assert Tokenizer.from_dict(custom.to_dict()) == custom
    with pytest.raises(ConfigError):
        Tokenizer(stemmer="klingon")
    with pytest.raises(ConfigError):
        Tokenizer(pattern="(")


def test_tokenizer_cache_is_bounded():
    tok = Tokenizer(cache_size=100)
    words = [f"word{i}s" for i in range(1000)]
    assert tok.tokenize(" ".join(words)) == [f"word{i}" for i in range(1000)]
    assert tok.tokenize_many(words[:300]) == [[f"word{i}"] for i in range(300)]
    assert len(tok._cache) <= 1000
