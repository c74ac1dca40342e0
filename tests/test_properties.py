"""Property-based tests (hypothesis) for ids and name normalisation, rank fusion, and incremental ingest.

Profiles: ``derandomize=True`` so CI runs the same examples every time; bounded ``max_examples``
keep the file well under a minute. Set ``HYPOTHESIS_PROFILE=kg-long`` for a longer random run.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kg import ids
from retrieval.fusion import reciprocal_rank_fusion, zscore_fusion

settings.register_profile("kg-ci", derandomize=True, max_examples=200, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("kg-long", max_examples=2000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "kg-ci"))

texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
names = st.text(st.characters(codec="utf-8", blacklist_categories=("Cs", "Cc")), min_size=1, max_size=30)


# -- ids and name normalisation ------------------------------------------------------------------
@given(texts)
def test_fold_is_idempotent_and_canonical(t: str) -> None:
    f = ids.fold(t)
    assert ids.fold(f) == f
    assert f == f.strip() and "  " not in f and f == f.lower()
    assert ids.normalize_title(t) == f
    assert ids.fold(t.upper()) == ids.fold(t.lower()) or not t.isascii()


@given(texts)
def test_slug_is_id_safe_and_stable(t: str) -> None:
    s = ids.slug(t)
    assert s and len(s) <= 80 and not any(c.isspace() for c in s)
    assert ids.slug(t) == s
    assert ids.slug(s) == s or s == ids.short_hash(t)  # a slug is its own slug, unless it is a hash


@given(names)
def test_person_name_normalisation_is_idempotent_and_order_free(name: str) -> None:
    n = ids.normalize_person_name(name)
    assert ids.normalize_person_name(n) == n
    assert ids.author_id(name) == ids.author_id(n)
    assert ids.author_id(name).startswith("author:name:")


@given(st.from_regex(r"[A-Za-z]{1,12}", fullmatch=True), st.from_regex(r"[A-Za-z]{1,12}", fullmatch=True))
def test_last_comma_first_is_first_last(first: str, last: str) -> None:
    assert ids.author_id(f"{last}, {first}") == ids.author_id(f"{first} {last}")


dois = st.builds(lambda reg, suf: f"10.{reg}/{suf}", st.integers(1000, 99999),
                 st.from_regex(r"[A-Za-z0-9.\-_;()]{1,20}", fullmatch=True))


@given(dois, st.sampled_from(["", "doi:", "https://doi.org/", "http://dx.doi.org/", "  "]))
def test_doi_normalisation_is_idempotent_and_prefix_free(doi: str, prefix: str) -> None:
    n = ids.normalize_doi(prefix + doi)
    assert n == doi.lower().strip()
    assert ids.normalize_doi(n) == n


@given(st.integers(7, 29), st.integers(1, 12), st.integers(1, 99999), st.integers(0, 9),
       st.sampled_from(["", "arXiv:", "arxiv:", "https://arxiv.org/abs/"]))
def test_arxiv_normalisation_drops_prefix_and_version(yy: int, mm: int, num: int, v: int, prefix: str) -> None:
    core = f"{yy:02d}{mm:02d}.{num:05d}"
    raw = prefix + core + (f"v{v}" if v else "")
    assert ids.normalize_arxiv(raw) == core
    assert ids.normalize_arxiv(core) == core


keys = st.one_of(
    dois.map(lambda d: "doi:" + d.lower()),
    st.from_regex(r"arxiv:\d{4}\.\d{5}", fullmatch=True),
    st.from_regex(r"s2:[0-9a-f]{8}", fullmatch=True),
    st.from_regex(r"bib:[a-z0-9]{1,8}", fullmatch=True),
    st.builds(ids.title_key, texts, st.one_of(st.none(), st.integers(1900, 2030))),
)


@given(st.lists(keys, min_size=1, max_size=6, unique=True), st.randoms(use_true_random=False))
def test_paper_id_is_independent_of_key_order(ks: list[str], rnd) -> None:
    shuffled = list(ks)
    rnd.shuffle(shuffled)
    pid = ids.paper_id_from_keys(ks)
    assert pid == ids.paper_id_from_keys(shuffled)
    best = min(ks, key=ids.key_sort)
    assert pid.startswith("paper:" + best.split(":", 1)[0] + ":")
    if any(k.startswith("doi:") for k in ks):
        assert pid.startswith("paper:doi:")


@given(names, st.lists(keys, min_size=1, max_size=3), texts)
def test_ids_of_different_labels_never_collide(name: str, ks: list[str], path: str) -> None:
    made = {ids.author_id(name), ids.paper_id_from_keys(ks), "chunk:" + ids.source_id(path)}
    assert len(made) == 3
    assert ids.author_id(name, "123") != ids.author_id(name)


@given(texts, st.integers(1900, 2030))
def test_title_keys_ignore_case_punctuation_and_spacing(title: str, year: int) -> None:
    noisy = "  " + title.upper().replace(" ", " ,  ") + "!"
    assert ids.title_key(title, year) == ids.title_key(noisy, year) or not title.isascii()
    assert ids.title_key_year(ids.title_key(title, year)) == year
    loose = ids.loose_title_key(title)
    assert loose is None or loose == ids.loose_title_key(noisy) or not title.isascii()


# -- fusion ---------------------------------------------------------------------------------------
DOCS = [f"d{i}" for i in range(8)]
rankings_st = st.dictionaries(st.sampled_from(["bm25", "dense", "graph"]),
                              st.lists(st.sampled_from(DOCS), unique=True, max_size=8), min_size=1)


def _scores(rankings: dict[str, list[str]], draw_scores: list[float]) -> dict[str, dict[str, float]]:
    """Scores that decrease along each leg's ranking (a leg's list is its score order)."""
    out: dict[str, dict[str, float]] = {}
    for leg, items in rankings.items():
        vals = sorted(draw_scores[: len(items)] + [0.0] * (len(items) - len(draw_scores[: len(items)])), reverse=True)
        out[leg] = dict(zip(items, vals, strict=True))
    return out


score_list = st.lists(st.floats(-50, 50, allow_nan=False), min_size=8, max_size=8)


@given(rankings_st, st.randoms(use_true_random=False))
def test_rrf_is_independent_of_leg_order_and_deterministic(rankings, rnd) -> None:
    legs = list(rankings.items())
    rnd.shuffle(legs)
    a = reciprocal_rank_fusion(rankings)
    b = reciprocal_rank_fusion(dict(legs))
    assert [(f.id, f.score, f.ranks) for f in a] == [(f.id, f.score, f.ranks) for f in b]
    assert len({f.id for f in a}) == len(a) == len({d for v in rankings.values() for d in v})
    for f in a:
        assert f.score == pytest.approx(sum(f.parts.values()))
        assert f.score == pytest.approx(sum(1.0 / (60 + r) for r in f.ranks.values()))
    assert [f.score for f in a] == sorted((f.score for f in a), reverse=True)


@given(rankings_st, st.integers(0, 10))
def test_limit_is_a_prefix_of_the_full_ranking(rankings, limit) -> None:
    for fuse in (lambda lim: reciprocal_rank_fusion(rankings, limit=lim),
                 lambda lim: zscore_fusion(rankings, _scores(rankings, [float(i) for i in range(8)]), limit=lim)):
        full = [f.id for f in fuse(None)]
        assert [f.id for f in fuse(limit)] == full[:limit]


@given(rankings_st, st.sampled_from(DOCS), st.sampled_from(["bm25", "dense", "graph"]))
def test_rrf_promoting_a_doc_never_lowers_its_rank(rankings, doc, leg) -> None:
    before = [f.id for f in reciprocal_rank_fusion(rankings)]
    items = [d for d in rankings.get(leg, []) if d != doc]
    pos = rankings.get(leg, []).index(doc) if doc in rankings.get(leg, []) else len(items)
    promoted = {**rankings, leg: [*items[:max(0, pos - 1)], doc, *items[max(0, pos - 1):]]}
    after = [f.id for f in reciprocal_rank_fusion(promoted)]
    if doc in before:
        assert after.index(doc) <= before.index(doc)


@given(rankings_st, score_list, st.sampled_from(DOCS), st.floats(0.0, 100.0, allow_nan=False))
def test_zscore_raising_one_score_never_lowers_the_doc(rankings, raw, doc, bump) -> None:
    leg = next((lg for lg, items in sorted(rankings.items()) if doc in items), None)
    if leg is None:
        return
    scores = _scores(rankings, raw)
    before = zscore_fusion(rankings, scores)
    raised = {**scores, leg: {**scores[leg], doc: scores[leg][doc] + bump}}
    order = sorted(rankings[leg], key=lambda d: -raised[leg][d])  # the leg's list stays in score order
    after = zscore_fusion({**rankings, leg: order}, raised)
    s0 = next(f.score for f in before if f.id == doc)
    s1 = next(f.score for f in after if f.id == doc)
    # a z-score is not monotone in the raw score for everyone else, but it is for the item raised
    assert s1 >= s0 - 1e-9


@given(rankings_st, score_list, st.randoms(use_true_random=False))
def test_zscore_is_order_free_and_parts_sum_to_score(rankings, raw, rnd) -> None:
    scores = _scores(rankings, raw)
    legs = list(rankings.items())
    rnd.shuffle(legs)
    a = zscore_fusion(rankings, scores)
    b = zscore_fusion(dict(legs), scores)
    assert [(f.id, f.score) for f in a] == [(f.id, f.score) for f in b]
    for f in a:
        assert f.score == pytest.approx(sum(f.parts.values()), abs=1e-9)
    assert [round(f.score, 12) for f in a] == sorted((round(f.score, 12) for f in a), reverse=True)


@given(st.lists(st.sampled_from(DOCS), unique=True, min_size=1, max_size=8), st.floats(0.5, 10))
def test_zscore_is_invariant_to_affine_rescaling_of_a_leg(items, scale) -> None:
    scores = {"bm25": {d: float(len(items) - i) for i, d in enumerate(items)}}
    rescaled = {"bm25": {d: v * scale + 7.0 for d, v in scores["bm25"].items()}}
    a = zscore_fusion({"bm25": items}, scores)
    b = zscore_fusion({"bm25": items}, rescaled)
    assert [f.id for f in a] == [f.id for f in b]
    assert [f.score for f in a] == pytest.approx([f.score for f in b], abs=1e-9)


# -- incremental ingest == fresh ingest ----------------------------------------------------------
WORDS = ["fusion", "graph", "ranking", "embedding", "citation", "coral", "reef", "skills", "survey", "bm25"]
FILES = ["a.md", "b.md", "notes/c.md", "refs.bib", "more.bib", "meta.jsonl"]


@st.composite
def markdown(draw) -> str:
    title = " ".join(draw(st.lists(st.sampled_from(WORDS), min_size=1, max_size=4)))
    body = " ".join(draw(st.lists(st.sampled_from(WORDS), max_size=20)))
    heading = draw(st.sampled_from(["", "## Methods\n\n", "## Results\n\nSee [a](a.md).\n\n"]))
    return f"---\ntitle: {title}\n---\n# {title}\n\n{heading}{body}\n"


@st.composite
def bibtex(draw) -> str:
    out = []
    for i in draw(st.lists(st.integers(0, 5), unique=True, min_size=1, max_size=3)):
        title = " ".join(draw(st.lists(st.sampled_from(WORDS), min_size=2, max_size=5)))
        author = draw(st.sampled_from(["Doe, Jane", "Jane Doe", "Roe, Richard and Doe, Jane", "Smith, A."]))
        doi = draw(st.sampled_from(["", f"10.1000/p{i}", f"10.1000/P{i}"]))
        year = draw(st.sampled_from(["2019", "2020", ""]))
        fields = [f"title = {{{title}}}", f"author = {{{author}}}"]
        fields += [f"doi = {{{doi}}}"] if doi else []
        fields += [f"year = {{{year}}}"] if year else []
        out.append(f"@article{{key{i},\n  " + ",\n  ".join(fields) + "\n}\n")
    return "\n".join(out)


@st.composite
def arxiv_jsonl(draw) -> str:
    import json

    lines = []
    for i in draw(st.lists(st.integers(0, 5), unique=True, min_size=1, max_size=3)):
        title = " ".join(draw(st.lists(st.sampled_from(WORDS), min_size=2, max_size=5)))
        rec = {"id": f"2301.{i:05d}", "title": title, "authors": "Jane Doe, Richard Roe",
               "categories": draw(st.sampled_from(["cs.IR", "cs.CL cs.IR"])),
               "abstract": " ".join(draw(st.lists(st.sampled_from(WORDS), max_size=12)))}
        if draw(st.booleans()):
            rec["doi"] = f"10.1000/p{i}"
        lines.append(json.dumps(rec))
    return "\n".join(lines) + "\n"


def content_for(name: str) -> st.SearchStrategy[str]:
    return bibtex() if name.endswith(".bib") else (arxiv_jsonl() if name.endswith(".jsonl") else markdown())


ops = st.lists(st.sampled_from(FILES).flatmap(
    lambda f: st.tuples(st.just(f), st.one_of(st.none(), content_for(f)))), min_size=1, max_size=6)
"""A sequence of (file, new content) steps; content None removes the file."""


@settings(max_examples=int(os.environ.get("KG_INGEST_EXAMPLES", "25")), deadline=None,
          suppress_health_check=list(HealthCheck))
@given(ops, st.booleans())
def test_any_add_edit_remove_sequence_equals_a_fresh_ingest(steps, folder_at_once) -> None:
    from kg.graph import KnowledgeGraph
    from tests.store_corpus import snapshot

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        corpus = root / "corpus"
        corpus.mkdir()
        with KnowledgeGraph.open(root / "inc") as g:
            for name, text in steps:
                f = corpus / name
                if text is None:
                    if f.exists():
                        f.unlink()
                        if folder_at_once:
                            g.ingest(corpus, prune=True, embed=False)
                        else:
                            g.remove(f)
                    continue
                f.parent.mkdir(parents=True, exist_ok=True)
                f.write_text(text, encoding="utf-8")
                g.ingest(corpus if folder_at_once else f, prune=folder_at_once, embed=False)
        with KnowledgeGraph.open(root / "fresh") as g:
            g.ingest(corpus, embed=False)
        inc, fresh = snapshot(root / "inc"), snapshot(root / "fresh")
        assert bool(fresh["sources"]) == any((corpus / n).exists() for n in FILES)
        for part in fresh:
            assert inc[part] == fresh[part], part
