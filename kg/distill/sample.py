"""Teacher targets for a stratified sample only: distillation for stores too large for the teacher.

The teacher (MiniLM, ~60 abstracts/s on two cores) cannot embed a million documents in an ingest
budget; a static student encodes them in about a minute. With ``DistillConfig(sample=SampleConfig())``
:func:`kg.distill.distill` asks the teacher for the vectors of a stratified sample of the store's
searchable nodes (their text, title and sentence spans), plus the title and one span of a second,
larger draw of documents (:attr:`SampleConfig.span_ratio`: short texts that widen the vocabulary the
student is trained on at a fraction of a document's cost), and never for the rest. The cosine and
relational terms, the held-out split and the graph term work on these texts; the unsampled texts
shape the student through its vocabulary: the corpus words that get a token of their own are
counted over up to :attr:`SampleConfig.vocab_docs` documents, sampled from the whole store.
(Pulling unsampled documents in through the graph term would need training texts without a
teacher target, which :func:`kg.distill.train.train_student` does not take.)

Why stratify, and by what: a store mixes corpora. A uniform sample of a million abstracts from one
dump would hold none of the 143 skills of a skills folder or of the chunks of a few PDFs, and the
student would never be pulled towards the teacher on their vocabulary and style. Strata are
``(label, source file)``: the label separates long chunks, abstracts, short skill descriptions and
topics; the source file separates corpora (a dump per field, venue or year range usually comes as
its own file). Each stratum gets its proportional share (largest remainders) and at least one
document while the sample has room, so small sources are always seen.

>>> sample_size(1_000_000), sample_size(30_000), sample_size(500)
(5000, 3000, 500)
>>> from collections import Counter
>>> strata = ["abstracts.jsonl"] * 900 + ["more.jsonl"] * 90 + ["skills"] * 10
>>> Counter(strata[i] for i in stratified_sample(strata, 100, seed=0))
Counter({'abstracts.jsonl': 90, 'more.jsonl': 9, 'skills': 1})
"""

from __future__ import annotations

import math
import random
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from kg.errors import ConfigError
from kg.model import Label
from kg.searchtext import node_text

if TYPE_CHECKING:
    from kg.distill import Corpus, DistillConfig, Indexed
    from kg.store.base import GraphStore
    from retrieval.encoder import EncodeProgressFn, Encoder

SAMPLE_FLOOR = 2_000
"""Fewest documents the teacher embeds (all of them in a smaller store)."""
SAMPLE_FRACTION = 0.10
"""Share of the documents the teacher embeds, between the floor and the cap."""
SAMPLE_CAP = 5_000
"""Most documents the teacher embeds. 5,000 documents with their titles and spans, and the title
and span of 10,000 span documents, are 35,000 texts: 424 s of teacher pass and 69 s of training on
two cores for 100,000 synthetic abstracts, whatever the corpus size, inside the 20 min budget for
1M abstracts with parse, write, the student's pass and the ANN build (measured at 100k and
extrapolated in docs/distill.md, "Large ingests")."""
SPAN_RATIO = 2.0
"""With ``span_docs=None``: documents giving a title and one span per sampled document."""
SPAN_WORDS = 64
"""Longest span given to the teacher, in words: text without sentence ends (one "sentence" of 200
words) would otherwise cost as much as a whole document."""
VOCAB_DOCS = 200_000
"""Documents whose words are counted for the student's corpus tokens (no teacher involved)."""
_NODE_BATCH = 20_000


def sample_size(n: int, *, floor: int = SAMPLE_FLOOR, fraction: float = SAMPLE_FRACTION,
                cap: int = SAMPLE_CAP) -> int:
    """Documents to embed with the teacher for a store of ``n``: ``fraction * n`` within
    ``[floor, cap]``, and never more than ``n``.

    >>> sample_size(10), sample_size(40_000), sample_size(10**7)
    (10, 4000, 5000)
    """
    if n < 0 or floor < 0 or cap < floor or not 0 <= fraction <= 1:
        raise ConfigError(f"bad sample size arguments: n={n}, floor={floor}, fraction={fraction}, cap={cap}")
    return min(n, max(floor, min(cap, math.ceil(fraction * n))))


@dataclass(frozen=True, slots=True, kw_only=True)
class SampleConfig:
    """How many documents the teacher sees (see the module docstring).

    ``docs``: exactly this many (None: :func:`sample_size` of the store with ``floor``,
    ``fraction`` and ``cap``); ``span_docs``: further documents (drawn the same way) that give the
    teacher only their title and one sentence span each, short texts that widen the vocabulary the
    student is trained on at a fraction of a document's cost (None: as many as ``span_ratio`` times
    the sampled documents); ``vocab_docs``: documents whose words are counted for the student's
    corpus tokens, drawn from the whole store (None: every document; the teacher sample is always
    included).
    """

    docs: int | None = None
    floor: int = SAMPLE_FLOOR
    fraction: float = SAMPLE_FRACTION
    cap: int = SAMPLE_CAP
    span_docs: int | None = None
    span_ratio: float = SPAN_RATIO
    vocab_docs: int | None = VOCAB_DOCS

    def __post_init__(self) -> None:
        if (self.docs is not None and self.docs < 1) or (self.vocab_docs is not None and self.vocab_docs < 0) \
                or (self.span_docs is not None and self.span_docs < 0) or self.span_ratio < 0:
            raise ConfigError(f"invalid SampleConfig: {self}")
        sample_size(0, floor=self.floor, fraction=self.fraction, cap=self.cap)  # validates the rest

    def size(self, n: int) -> int:
        """Documents the teacher embeds in a store of ``n`` searchable documents."""
        if self.docs is not None:
            return min(n, self.docs)
        return sample_size(n, floor=self.floor, fraction=self.fraction, cap=self.cap)

    def spans(self, n: int, sampled: int) -> int:
        """Documents that give the teacher a title and a span in a store of ``n`` with ``sampled``."""
        want = round(self.span_ratio * sampled) if self.span_docs is None else self.span_docs
        return max(0, min(n - sampled, want))

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form for manifests."""
        return {"docs": self.docs, "floor": self.floor, "fraction": self.fraction, "cap": self.cap,
                "span_docs": self.span_docs, "span_ratio": self.span_ratio, "vocab_docs": self.vocab_docs}


def stratified_sample(strata: Sequence[Hashable], size: int, *, seed: int = 0) -> list[int]:
    """``size`` distinct indices of ``strata`` (sorted), proportionally allocated per stratum.

    Each stratum gets ``size * share`` rounded by largest remainders, and at least one index while
    ``size`` allows (with more strata than ``size``, a seeded choice of strata gets one each);
    indices inside a stratum are drawn with ``seed``. Deterministic for a given input and seed.

    >>> stratified_sample(["x", "x", "x", "y"], 2, seed=0)  # "y" is small but still drawn
    [1, 3]
    """
    n = len(strata)
    size = max(0, min(size, n))
    if size == n:
        return list(range(n))
    groups: dict[Hashable, list[int]] = {}
    for i, s in enumerate(strata):
        groups.setdefault(s, []).append(i)
    rng = random.Random(seed)
    keys = sorted(groups, key=repr)
    if size < len(keys):  # fewer slots than strata: one each for a seeded choice of strata
        keys = sorted(rng.sample(keys, size), key=repr)
        alloc = dict.fromkeys(keys, 1)
    else:  # largest remainders of the proportional quotas, then one for every stratum left empty
        quota = {k: size * len(groups[k]) / n for k in keys}
        alloc = {k: int(quota[k]) for k in keys}
        for k in sorted(keys, key=lambda k: (-(quota[k] - alloc[k]), repr(k)))[:size - sum(alloc.values())]:
            alloc[k] += 1
        for k in [k for k in keys if alloc[k] == 0]:
            donor = max(keys, key=lambda d: (alloc[d], repr(d)))
            alloc[donor] -= 1
            alloc[k] = 1
    out: list[int] = []
    for k in keys:
        out.extend(rng.sample(groups[k], alloc[k]))
    return sorted(out)


def node_strata(store: GraphStore, ids: Sequence[str], labels: Sequence[str]) -> list[tuple[str, str]]:
    """``(label, source file)`` of each node (the alphabetically first source when several support
    it; ``""`` when none is recorded)."""
    first: dict[str, str] = {}
    for _key, nid, path in store.node_keys(list(ids)):
        if nid not in first or path < first[nid]:
            first[nid] = path
    return [(label, first.get(nid, "")) for nid, label in zip(ids, labels, strict=True)]


@dataclass(slots=True)
class SampledCorpus:
    """The training texts of a sampled distillation and what was drawn."""

    corpus: Corpus
    vocab_texts: list[str]
    docs: int  # searchable documents in the store
    sampled: int  # documents the teacher embeds (their titles and spans come with them)
    span_docs: int  # further documents of which the teacher embeds a title and one span
    strata: int
    seconds: dict[str, float] = field(default_factory=dict)


def sample_corpus(g: Indexed, config: DistillConfig, sample: SampleConfig) -> SampledCorpus:
    """The training corpus of :func:`kg.distill.distill` restricted to a stratified sample of the
    store's searchable nodes: their texts, titles and up to ``config.spans_per_doc`` spans each (as
    :func:`kg.distill.collect_corpus` builds them), plus the texts whose words are counted for the
    student's vocabulary."""
    import time

    from kg.distill import Corpus, index_folder, sentence_spans
    from retrieval.index import SearchIndex

    t0 = time.perf_counter()
    idx = SearchIndex.load(index_folder(g))
    live = [r for r in idx.rows if r is not None]
    ids = [r.id for r in live]
    labels = [Label.CHUNK if r.id != r.target else r.label for r in live]
    strata = node_strata(g.store, ids, labels)
    seed = config.train.seed
    chosen = stratified_sample(strata, sample.size(len(ids)), seed=seed)
    taken = set(chosen)
    others = [i for i in range(len(ids)) if i not in taken]
    n_span = sample.spans(len(ids), len(chosen))
    span_only = sorted(others[j] for j in stratified_sample([strata[i] for i in others], n_span, seed=seed + 2))
    if sample.vocab_docs is None or sample.vocab_docs >= len(ids):
        vocab = list(range(len(ids)))
    else:
        more = stratified_sample([strata[i] for i in others], sample.vocab_docs - len(chosen), seed=seed + 1)
        vocab = sorted(taken | {others[j] for j in more})
    t_draw = time.perf_counter() - t0
    out = Corpus()
    picked = [ids[i] for i in chosen]
    rng = random.Random(seed)
    out.add_nodes(picked, g.store.get_nodes(picked), config, rng, span_words=SPAN_WORDS)
    span_ids = [ids[i] for i in span_only]
    for start in range(0, len(span_ids), _NODE_BATCH):
        batch = span_ids[start:start + _NODE_BATCH]
        part = g.store.get_nodes(batch)
        for nid in batch:
            n = part.get(nid)
            if n is None:
                continue
            p = n.properties
            if config.titles and n.label != Label.CHUNK:
                out.add(str(p.get("title") or p.get("name") or p.get("label") or ""), None, "title")
            body = str(p.get("abstract") or p.get("text") or p.get("description") or "")
            for span in sentence_spans(body, 1, rng):
                out.add(" ".join(span.split()[:SPAN_WORDS]), None, "span")
    t_vocab = time.perf_counter()
    vocab_texts = list(out.texts)
    chosen_set = set(chosen)
    rest = [ids[i] for i in vocab if i not in chosen_set]
    for start in range(0, len(rest), _NODE_BATCH):
        batch = rest[start:start + _NODE_BATCH]
        part = g.store.get_nodes(batch)
        vocab_texts.extend(node_text(part[i]) for i in batch if i in part)
    return SampledCorpus(out, vocab_texts, docs=len(ids), sampled=len(chosen), span_docs=len(span_only),
                         strata=len(set(strata)),
                         seconds={"draw": round(t_draw, 2), "vocab_read": round(time.perf_counter() - t_vocab, 2)})


class ProgressEncoder:
    """An encoder that reports ``progress(done, total)`` while it encodes (wraps another one, for the
    teacher pass over a sample; :func:`retrieval.encoder.encode_texts` does the slicing)."""

    def __init__(self, inner: Encoder, progress: EncodeProgressFn) -> None:
        self.inner = inner
        self.progress = progress
        self.name = inner.name
        self.dim = inner.dim

    def encode(self, texts: list[str], *, batch_size: int = 64, show_progress: bool = False) -> np.ndarray:
        """``inner.encode(texts)`` in slices, with progress."""
        from retrieval.encoder import encode_texts

        self.progress(0, len(texts))
        return encode_texts(self.inner, texts, progress=self.progress)

    def encode_query(self, text: str) -> np.ndarray:
        """``inner.encode_query(text)``."""
        return self.inner.encode_query(text)


__all__ = ["SAMPLE_CAP", "SAMPLE_FLOOR", "SAMPLE_FRACTION", "VOCAB_DOCS", "ProgressEncoder", "SampleConfig",
           "SampledCorpus", "node_strata", "sample_corpus", "sample_size", "stratified_sample"]
