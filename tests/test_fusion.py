"""RRF on hand-computed cases."""

import pytest

from retrieval.fusion import reciprocal_rank_fusion


def test_hand_computed_scores():
    out = reciprocal_rank_fusion({"bm25": ["a", "b", "c"], "dense": ["c", "a"]}, k=60)
    got = {f.id: f.score for f in out}
    assert got["a"] == pytest.approx(1 / 61 + 1 / 62)
    assert got["c"] == pytest.approx(1 / 63 + 1 / 61)
    assert got["b"] == pytest.approx(1 / 62)
    assert [f.id for f in out] == ["a", "c", "b"]
    assert out[0].ranks == {"bm25": 1, "dense": 2}


def test_weights_and_k():
    out = reciprocal_rank_fusion({"bm25": ["a", "b"], "dense": ["b", "a"]}, k=0, weights={"dense": 2.0})
    assert [f.id for f in out] == ["b", "a"]
    assert out[0].score == pytest.approx(1 / 2 + 2 / 1)


def test_ties_are_deterministic():
    # a and b tie on score; both best rank 1; same number of legs -> id order
    out = reciprocal_rank_fusion({"x": ["b"], "y": ["a"]})
    assert [f.id for f in out] == ["a", "b"]
    # p, z and q all score 1.0 (q: 1/2 + 1/2); the better best rank wins, then id
    out = reciprocal_rank_fusion({"x": ["p", "q"], "y": ["z", "q"]}, k=0)
    assert [f.id for f in out] == ["p", "z", "q"]
    assert reciprocal_rank_fusion({"x": ["a", "a", "b"]})[1].ranks == {"x": 3}


def test_empty_and_bad_k():
    assert reciprocal_rank_fusion({}) == []
    with pytest.raises(ValueError):
        reciprocal_rank_fusion({"x": ["a"]}, k=-1)
