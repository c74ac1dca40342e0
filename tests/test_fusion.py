"""Fusion (reciprocal rank and z-score) on hand-computed cases."""

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


def test_limit_keeps_the_same_head():
    legs = {"bm25": [f"d{i}" for i in range(50)], "dense": [f"d{i}" for i in range(60, 0, -3)]}
    full = reciprocal_rank_fusion(legs, k=10, weights={"dense": 1.3})
    for limit in (0, 1, 7, 200):
        assert reciprocal_rank_fusion(legs, k=10, weights={"dense": 1.3}, limit=limit) == full[:limit]


def test_zscore_fusion_by_hand():
    from retrieval.fusion import zscore_fusion

    rankings = {"bm25": ["a", "b", "c"], "dense": ["c", "d"]}
    scores = {"bm25": {"a": 6.0, "b": 3.0, "c": 0.0}, "dense": {"c": 0.9, "d": 0.5}}
    out = zscore_fusion(rankings, scores, weights={"bm25": 0.5, "dense": 2.0})
    # bm25: mean 3, sd sqrt(6) -> z a=1.2247, b=0, c=-1.2247 (floor); dense: z c=1, d=-1 (floor)
    zb = 3 / 6 ** 0.5
    expected = {"a": 0.5 * zb - 2.0, "b": -2.0, "c": -0.5 * zb + 2.0, "d": -0.5 * zb - 2.0}
    assert [f.id for f in out] == ["c", "a", "b", "d"]
    for f in out:
        assert f.score == pytest.approx(expected[f.id]) and sum(f.parts.values()) == pytest.approx(f.score)
    assert out[0].ranks == {"bm25": 3, "dense": 1}
    assert zscore_fusion(rankings, scores, limit=2) == zscore_fusion(rankings, scores)[:2]
    same = zscore_fusion({"x": ["p", "q"]}, {"x": {"p": 1.0, "q": 1.0}})  # equal scores: z = 0, rank decides
    assert [(f.id, f.score) for f in same] == [("p", 0.0), ("q", 0.0)]
    assert zscore_fusion({}, {}) == []


def test_fuse_dispatches_with_default_weights():
    from retrieval.fusion import DEFAULT_WEIGHTS, fuse

    legs = {"bm25": ["a", "b"], "dense": ["b", "a"]}
    scores = {"bm25": {"a": 2.0, "b": 1.0}, "dense": {"b": 0.9, "a": 0.1}}
    assert fuse(legs, scores, method="rrf") == reciprocal_rank_fusion(legs, weights=DEFAULT_WEIGHTS["rrf"])
    z = fuse(legs, scores)  # zscore, bm25 0.55 vs dense 0.45: a wins
    assert [f.id for f in z] == ["a", "b"] and z[0].score == pytest.approx(0.1)
    with pytest.raises(ValueError, match="unknown fusion"):
        fuse(legs, scores, method="max")
