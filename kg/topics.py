"""Topics: BERTopic on the stored embeddings (NMF on TF-IDF as the fallback), written as derived data.

A fit models every non-stub ``Paper``/``Document`` node by its searchable text (title and
abstract). The method is picked by :class:`TopicConfig` ``method``:

* ``"bertopic"``: seeded UMAP (5-d, cosine) -> HDBSCAN -> c-TF-IDF, on the vectors the dense
  search index already holds (nothing is re-encoded). Documents HDBSCAN leaves out stay
  outliers, with no ``HAS_TOPIC`` edge, unless ``force_assign``.
* ``"nmf"``: scikit-learn NMF (``nndsvda`` init, seeded) on a TF-IDF matrix.
* ``"auto"`` (default): BERTopic from :data:`SWITCH_AT` documents on, NMF below (the switch point
  was chosen by measurement, see ``docs/topics.md``). BERTopic falls back to NMF when the store has
  no embeddings, the extra is missing, or it finds fewer than two topics; the report says why.

Graph shape, all from the derived source :data:`TOPICS_SOURCE` (replaced atomically on refit):
``Topic`` nodes ``topic:<method>:<n>`` (``label``, ``terms`` as ``[term, weight]`` pairs,
``size``, ``method``, ``level`` 0, ``coherence``), parent topics ``topic:<method>:p<n>`` (level 1,
found by clustering topic centroids) with ``SUBTOPIC_OF`` edges, and ``HAS_TOPIC`` edges
document -> topic with a ``weight`` (cosine to the topic centroid for BERTopic, the NMF weight
share for NMF).

Incremental assignment: the fitted state is kept pickle-free in ``<store>/topics/``
(``manifest.json``, centroids and thresholds as ``.npy``, the TF-IDF vocabulary as JSON).
:func:`assign_topics` gives documents ingested after the fit a topic by nearest centroid (BERTopic:
above the topic's 5th-percentile member similarity) or NMF transform, without refitting, as the
derived source :data:`ASSIGN_SOURCE`.

>>> from kg.graph import KnowledgeGraph           # doctest: +SKIP
>>> g = KnowledgeGraph.open("./.kg")              # doctest: +SKIP
>>> report = fit_topics(g, TopicConfig(seed=7))   # doctest: +SKIP
>>> report.method, len(report.topics)             # doctest: +SKIP
('bertopic', 42)
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kg.errors import ConfigError, require
from kg.faults import checkpoint
from kg.model import EdgeRecord, Label, NodeRecord, ReadResult, Rel
from kg.searchtext import node_text
from kg.store.base import SourceInfo
from kg.topic_quality import count_vectorizer, stop_words, tokenize, vectorizer_params

if TYPE_CHECKING:
    from kg.graph import KnowledgeGraph

TOPICS_SOURCE = "kgloom://topics"
ASSIGN_SOURCE = "kgloom://topics/assign"
#: store metadata key: the store version at which the fitted topics were last assigned (``kg
#: ingest`` assigns again when the store has moved on, e.g. after a run killed before assigning)
ASSIGNED_META = "kgloom.topics_assigned"
MODEL_DIR = "topics"
FORMAT = 1
METHODS = ("auto", "bertopic", "nmf")
SWITCH_AT = 2000
"""``auto`` uses BERTopic from this many documents on (measured; see ``docs/topics.md``)."""
DOC_LABELS = (Label.PAPER, Label.DOCUMENT)


class CannotFitError(ConfigError):
    """BERTopic could not produce a usable model (reason in the message); NMF takes over."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TopicConfig:
    """Knobs of a topic fit.

    ``min_topic_size``: HDBSCAN ``min_cluster_size`` (None: ``max(10, n // 200)``).
    ``n_topics``: NMF components (None: ``sqrt(n / 2)`` clamped to 2..40); for BERTopic, reduce
    to at most this many topics. ``force_assign``: give outliers their nearest topic.
    """

    method: str = "auto"
    seed: int = 42
    switch_at: int = SWITCH_AT
    min_topic_size: int | None = None
    n_topics: int | None = None
    top_terms: int = 10
    force_assign: bool = False
    coherence: str = "c_npmi"
    hierarchy: bool = True
    labels: tuple[str, ...] = DOC_LABELS

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ConfigError(f"unknown topic method {self.method!r}; known: {', '.join(METHODS)}")
        if self.top_terms < 2 or (self.n_topics is not None and self.n_topics < 2) \
                or (self.min_topic_size is not None and self.min_topic_size < 2):
            raise ConfigError(f"invalid TopicConfig: {self}")


@dataclass(slots=True)
class Topic:
    """One topic as stored: leaf topics have ``level`` 0, their parents ``level`` 1."""

    id: str
    label: str
    terms: list[tuple[str, float]]
    size: int
    level: int = 0
    parent: str | None = None
    coherence: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"id": self.id, "label": self.label, "terms": [[t, w] for t, w in self.terms],
                "size": self.size, "level": self.level, "parent": self.parent,
                "coherence": _num(self.coherence)}


@dataclass(slots=True)
class TopicReport:
    """Topics of a store and their quality: ``kg topics --json`` prints :meth:`to_dict`."""

    method: str
    topics: list[Topic]
    coherence: float | None
    diversity: float
    coherence_measure: str = "c_npmi"
    n_docs: int = 0
    n_outliers: int = 0
    n_assigned: int = 0
    seed: int = 42
    seconds: float = 0.0
    fallback: str = ""
    fitted_at: str = ""

    def to_dict(self) -> dict[str, Any]:
        """``{"method", "topics", "coherence", "diversity", ...}``."""
        return {"method": self.method, "topics": [t.to_dict() for t in self.topics],
                "coherence": _num(self.coherence), "diversity": round(self.diversity, 4),
                "coherence_measure": self.coherence_measure, "n_docs": self.n_docs,
                "n_outliers": self.n_outliers, "n_assigned": self.n_assigned, "seed": self.seed,
                "seconds": round(self.seconds, 2), "fallback": self.fallback, "fitted_at": self.fitted_at}


@dataclass(slots=True)
class AssignReport:
    """What :func:`assign_topics` did: documents considered, given a topic, left as outliers."""

    candidates: int = 0
    assigned: int = 0
    outliers: int = 0
    written: bool = False


@dataclass(slots=True)
class _Fit:
    method: str
    labels: np.ndarray  # topic index per doc, -1 outlier
    weights: np.ndarray
    terms: list[list[tuple[str, float]]]
    params: dict[str, Any]  # vectorizer parameters
    centroids: np.ndarray | None = None
    thresholds: np.ndarray | None = None
    vocab: list[str] = field(default_factory=list)
    idf: np.ndarray | None = None
    components: np.ndarray | None = None  # NMF H, rows = components
    component_topic: np.ndarray | None = None  # component -> topic index (-1: dropped)
    fallback: str = ""


def _num(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), 4)


# -- corpus --------------------------------------------------------------------------------------------
def corpus(g: KnowledgeGraph, labels: tuple[str, ...] = DOC_LABELS) -> tuple[list[str], list[str], list[str]]:
    """``(ids, texts, titles)`` of the documents topics are fitted on, in id order."""
    ids, texts, titles = [], [], []
    for n in g.store.iter_nodes(list(labels)):
        if n.properties.get("stub"):
            continue
        text = node_text(n)
        if text.strip():
            ids.append(n.id)
            texts.append(text)
            titles.append(n.title)
    return ids, texts, titles


def stored_embeddings(g: KnowledgeGraph, ids: list[str]) -> np.ndarray | None:
    """Unit vectors of ``ids`` from the store's dense index (None when it has none).

    Only nodes missing from the index (rare: added without a sync) are encoded.
    """
    idx = g.search_index(sync=True)
    if idx is None or idx.dense is None:
        return None
    vecs = np.asarray(idx.dense.vectors)
    out = np.zeros((len(ids), vecs.shape[1]), dtype=np.float32)
    missing = []
    for i, nid in enumerate(ids):
        r = idx.row_of.get(nid)
        if r is None:
            missing.append(i)
        else:
            out[i] = vecs[r]
    if missing:
        nodes = g.store.get_nodes([ids[i] for i in missing])
        enc = idx.encoder.encode([node_text(nodes[ids[i]]) if ids[i] in nodes else "" for i in missing])
        out[missing] = enc
    return out


def topic_label(terms: list[tuple[str, float]], n: int = 3) -> str:
    """A readable label from top terms, skipping near-duplicates (``cell`` / ``cells``).

    >>> topic_label([("cells", .3), ("cell", .2), ("tumor", .1), ("growth", .1)])
    'cells · tumor · growth'
    """
    picked: list[str] = []
    for w, _ in terms:
        stem = w.rstrip("s")
        if any(stem == p.rstrip("s") or (min(len(w), len(p)) >= 5 and w[:5] == p[:5]) for p in picked):
            continue
        picked.append(w)
        if len(picked) == n:
            break
    return " · ".join(picked) or "(empty topic)"


# -- fitting -------------------------------------------------------------------------------------------
def _centroids(emb: np.ndarray, labels: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Unit centroids per topic and each topic's 5th-percentile member cosine (assignment threshold)."""
    cents = np.zeros((k, emb.shape[1]), dtype=np.float32)
    thr = np.zeros(k, dtype=np.float32)
    for t in range(k):
        m = emb[labels == t]
        if len(m):
            c = m.mean(axis=0)
            cents[t] = c / (np.linalg.norm(c) or 1.0)
            thr[t] = float(np.quantile(m @ cents[t], 0.05))
    return cents, thr


def _fit_bertopic(texts: list[str], emb: np.ndarray | None, cfg: TopicConfig) -> _Fit:
    if emb is None:
        raise CannotFitError("the store has no embeddings (ingest with --embed)")
    n = len(texts)
    if n < 20:
        raise CannotFitError(f"{n} documents are too few for BERTopic")
    try:
        bertopic = require("bertopic", "topics", "BERTopic topics")
        umap = require("umap", "topics", "BERTopic topics")
        hdbscan = require("hdbscan", "topics", "BERTopic topics")
    except ImportError as e:
        raise CannotFitError(str(e)) from e
    params = vectorizer_params(n)
    mcs = cfg.min_topic_size or max(10, n // 200)
    umap_model = umap.UMAP(n_neighbors=min(15, n - 1), n_components=5, min_dist=0.0, metric="cosine",
                           random_state=cfg.seed, n_jobs=1)
    hdb = hdbscan.HDBSCAN(min_cluster_size=mcs, metric="euclidean", cluster_selection_method="eom",
                          prediction_data=False)
    # BERTopic's vectorizer counts words per topic (documents joined), so no document-frequency cut
    model = bertopic.BERTopic(umap_model=umap_model, hdbscan_model=hdb,
                              vectorizer_model=count_vectorizer(params, df_limits=False),
                              top_n_words=cfg.top_terms, nr_topics=cfg.n_topics,
                              calculate_probabilities=False, verbose=False)
    model.fit_transform(texts, embeddings=emb)
    raw = np.asarray(model.topics_, dtype=np.int64)
    kept = sorted({int(t) for t in raw if t >= 0}, key=lambda t: (-int(np.sum(raw == t)), t))
    if len(kept) < 2:
        raise CannotFitError(f"BERTopic found {len(kept)} topic(s) in {n} documents")
    remap = {t: i for i, t in enumerate(kept)}
    labels = np.asarray([remap.get(int(t), -1) for t in raw], dtype=np.int64)
    terms = [[(str(w), float(s)) for w, s in (model.get_topic(t) or []) if str(w).strip()] for t in kept]
    cents, thr = _centroids(emb, labels, len(kept))
    return _Fit("bertopic", labels, _weights(emb, labels, cents), terms, params, cents, thr)


def _weights(emb: np.ndarray, labels: np.ndarray, cents: np.ndarray) -> np.ndarray:
    sims = np.einsum("ij,ij->i", emb, cents[np.clip(labels, 0, None)])
    return np.where(labels >= 0, np.clip(sims, 0.0, 1.0), 0.0).astype(np.float32)


def _fit_nmf(texts: list[str], emb: np.ndarray | None, cfg: TopicConfig, fallback: str = "") -> _Fit:
    decomposition = require("sklearn.decomposition", "topics", "NMF topics")
    feat = require("sklearn.feature_extraction.text", "topics", "NMF topics")
    n = len(texts)
    if n < 2:
        raise ConfigError(f"{n} document(s): too few to fit topics")
    params = vectorizer_params(n)
    tfidf = feat.TfidfVectorizer(token_pattern=params["token_pattern"], lowercase=True,
                                 stop_words=stop_words(params), min_df=params["min_df"],
                                 max_df=params["max_df"], sublinear_tf=True)
    try:
        x = tfidf.fit_transform(texts)
    except ValueError as e:  # empty vocabulary
        raise ConfigError(f"cannot fit topics: {e}") from e
    k = cfg.n_topics or int(np.clip(round(math.sqrt(n / 2)), 2, 40))
    k = max(1, min(k, x.shape[1], n))
    nmf = decomposition.NMF(n_components=k, init="nndsvda", random_state=cfg.seed, max_iter=500)
    w = nmf.fit_transform(x)
    h = np.asarray(nmf.components_, dtype=np.float32)
    vocab = [str(t) for t in tfidf.get_feature_names_out()]
    raw = np.where(w.sum(axis=1) > 0, w.argmax(axis=1), -1)
    sizes = np.bincount(raw[raw >= 0], minlength=k)
    order = [c for c in np.argsort(-sizes, kind="stable") if sizes[c] > 0]
    comp_topic = np.full(k, -1, dtype=np.int64)
    comp_topic[order] = np.arange(len(order))
    labels = np.where(raw >= 0, comp_topic[np.clip(raw, 0, None)], -1)
    wsum = w.sum(axis=1)
    weights = np.where(wsum > 0, w.max(axis=1) / np.where(wsum > 0, wsum, 1), 0.0).astype(np.float32)
    terms = []
    for c in order:
        row = h[c]
        top = np.argsort(-row, kind="stable")[: cfg.top_terms]
        total = float(row.sum()) or 1.0
        terms.append([(vocab[j], float(row[j]) / total) for j in top if row[j] > 0])
    cents = thr = None
    if emb is not None:
        cents, thr = _centroids(emb, labels, len(order))
    return _Fit("nmf", labels, weights, terms, params, cents, thr, vocab,
                np.asarray(tfidf.idf_, dtype=np.float32), h, comp_topic, fallback)


def _hierarchy(fit: _Fit, texts: list[str], cfg: TopicConfig) -> tuple[list[int], list[list[tuple[str, float]]]]:
    """Parent group per topic (-1: none) and each parent's c-TF-IDF terms."""
    k = len(fit.terms)
    if not cfg.hierarchy or k < 6:
        return [-1] * k, []
    hier = require("scipy.cluster.hierarchy", "core", "topic hierarchy")
    if fit.centroids is not None:
        vecs = fit.centroids
    else:
        assert fit.components is not None and fit.component_topic is not None
        vecs = np.zeros((k, fit.components.shape[1]), dtype=np.float32)
        for c, t in enumerate(fit.component_topic):
            if t >= 0:
                vecs[t] = fit.components[c] / (np.linalg.norm(fit.components[c]) or 1.0)
    groups = hier.fcluster(hier.linkage(vecs, method="average", metric="cosine"),
                           t=max(2, round(math.sqrt(k))), criterion="maxclust")
    members: dict[int, list[int]] = {}
    for t, grp in enumerate(groups.tolist()):
        members.setdefault(grp, []).append(t)
    multi = sorted((m for m in members.values() if len(m) > 1),
                   key=lambda m: (-int(sum(np.sum(fit.labels == t) for t in m)), m[0]))
    parent = [-1] * k
    for p, m in enumerate(multi):
        for t in m:
            parent[t] = p
    if not multi:
        return parent, []
    vec = count_vectorizer(fit.params, df_limits=False)
    counts = vec.fit_transform(texts)
    vocab = vec.get_feature_names_out()
    rows = [np.asarray(counts[np.isin(fit.labels, m)].sum(axis=0)).ravel() for m in multi]
    return parent, [_ctfidf_terms(np.vstack(rows), vocab, cfg.top_terms)[i] for i in range(len(multi))]


def _ctfidf_terms(class_counts: np.ndarray, vocab: Any, top: int) -> list[list[tuple[str, float]]]:
    """BERTopic's class-based TF-IDF: L1 term frequency per class x log(1 + avg words / term freq)."""
    tf = class_counts / np.maximum(class_counts.sum(axis=1, keepdims=True), 1)
    freq = class_counts.sum(axis=0)
    idf = np.log(1 + class_counts.sum(axis=1).mean() / np.maximum(freq, 1))
    scores = tf * idf
    out = []
    for row in scores:
        best = np.argsort(-row, kind="stable")[:top]
        out.append([(str(vocab[j]), round(float(row[j]), 6)) for j in best if row[j] > 0])
    return out


def fit_topics(g: KnowledgeGraph, config: TopicConfig | None = None) -> TopicReport:
    """Fit topics on ``g``'s documents, replace the stored topics, and save the model for assignment."""
    from kg.topic_quality import coherence, diversity

    cfg = config or TopicConfig()
    # what every fit needs (NMF or BERTopic's term weights, coherence), checked before the work
    require("sklearn", "topics", "topic models")
    require("gensim", "topics", "topic coherence")
    t0 = time.perf_counter()
    ids, texts, _ = corpus(g, cfg.labels)
    if len(ids) < 2:
        raise ConfigError(f"{len(ids)} document(s) with text in the store: too few to fit topics")
    emb = stored_embeddings(g, ids)
    method = cfg.method if cfg.method != "auto" else ("bertopic" if len(ids) >= cfg.switch_at else "nmf")
    if method == "bertopic":
        try:
            fit = _fit_bertopic(texts, emb, cfg)
        except CannotFitError as e:
            fit = _fit_nmf(texts, emb, cfg, fallback=str(e))
    else:
        fit = _fit_nmf(texts, emb, cfg)
    if cfg.force_assign and fit.centroids is not None and emb is not None:
        out = fit.labels < 0
        if out.any():
            fit.labels[out] = np.argmax(emb[out] @ fit.centroids.T, axis=1)
            fit.weights = _weights(emb, fit.labels, fit.centroids)
    fit.terms = [[(w, round(float(x), 6)) for w, x in t] for t in fit.terms]
    parent, parent_terms = _hierarchy(fit, texts, cfg)
    term_lists = [[w for w, _ in t] for t in fit.terms]
    coh, per = coherence(term_lists, tokenize(texts, fit.params), measure=cfg.coherence, topn=cfg.top_terms)
    div = diversity(term_lists, k=cfg.top_terms)
    digest = hashlib.sha256(json.dumps([fit.method, asdict(cfg), ids, [hashlib.sha1(t.encode()).hexdigest()
                                                                        for t in texts]]).encode()).hexdigest()
    prefix = f"topic:{fit.method}:"
    topics = [Topic(f"{prefix}{i}", topic_label(fit.terms[i]), fit.terms[i], int(np.sum(fit.labels == i)),
                    0, f"{prefix}p{parent[i]}" if parent[i] >= 0 else None, per[i]) for i in range(len(fit.terms))]
    for p, terms in enumerate(parent_terms):
        kids = [t for t in topics if t.parent == f"{prefix}p{p}"]
        topics.append(Topic(f"{prefix}p{p}", topic_label(terms), terms, sum(t.size for t in kids), 1))
    fitted_at = time.strftime("%Y-%m-%dT%H:%M:%S")
    report = TopicReport(fit.method, topics, coh, div, cfg.coherence, len(ids), int(np.sum(fit.labels < 0)),
                         0, cfg.seed, time.perf_counter() - t0, fit.fallback, fitted_at)
    _save_model(g, fit, ids, topics, report, cfg, digest)
    checkpoint("topics.model")
    nodes = [NodeRecord(t.id, Label.TOPIC, {
        "label": t.label, "terms": [[w, x] for w, x in t.terms], "size": t.size, "method": fit.method,
        "level": t.level, **({"coherence": _num(t.coherence)} if _num(t.coherence) is not None else {})})
        for t in topics]
    edges = [EdgeRecord(ids[i], f"{prefix}{int(fit.labels[i])}", Rel.HAS_TOPIC,
                        {"weight": round(float(fit.weights[i]), 4), "method": fit.method})
             for i in range(len(ids)) if fit.labels[i] >= 0]
    edges += [EdgeRecord(t.id, t.parent, Rel.SUBTOPIC_OF) for t in topics if t.parent]
    g.store.write_source(SourceInfo(TOPICS_SOURCE, digest, reader=f"topics:{fit.method}"),
                         ReadResult(nodes, edges), derived=True)
    checkpoint("topics.write")
    g.store.remove_source(ASSIGN_SOURCE)
    g.store.set_meta(ASSIGNED_META, g.store.version())
    g.sync_index()
    report.seconds = time.perf_counter() - t0
    return report


# -- persistence -----------------------------------------------------------------------------------------
def model_dir(g: KnowledgeGraph) -> Path:
    """Where ``g`` keeps its fitted topic model (``<store>/topics``); embedded stores only."""
    folder = g.store.folder
    if folder is None:
        raise ConfigError("the topic model is kept next to an embedded store; fit topics on a folder store")
    return folder / MODEL_DIR


def _save_npy(folder: Path, name: str, arr: np.ndarray) -> None:
    with open(folder / name, "wb") as fh:
        np.save(fh, np.ascontiguousarray(arr), allow_pickle=False)


def _save_model(g: KnowledgeGraph, fit: _Fit, ids: list[str], topics: list[Topic], report: TopicReport,
                cfg: TopicConfig, digest: str) -> None:
    final = model_dir(g)
    tmp = final.with_name(MODEL_DIR + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    k = len(fit.terms)
    manifest = {"format": FORMAT, "method": fit.method, "hash": digest, "config": asdict(cfg),
                "params": fit.params, "topic_ids": [t.id for t in topics[:k]], "n_docs": len(ids),
                "report": {k2: v for k2, v in report.to_dict().items() if k2 != "topics"},
                "has_centroids": fit.centroids is not None, "has_nmf": fit.components is not None}
    (tmp / "doc_ids.json").write_text(json.dumps(ids))
    _save_npy(tmp, "doc_topics.npy", fit.labels.astype(np.int32))
    if fit.centroids is not None and fit.thresholds is not None:
        _save_npy(tmp, "centroids.npy", fit.centroids.astype(np.float32))
        _save_npy(tmp, "thresholds.npy", fit.thresholds.astype(np.float32))
    if fit.components is not None and fit.idf is not None and fit.component_topic is not None:
        (tmp / "vocab.json").write_text(json.dumps(fit.vocab))
        _save_npy(tmp, "idf.npy", fit.idf)
        _save_npy(tmp, "components.npy", fit.components)
        _save_npy(tmp, "component_topic.npy", fit.component_topic.astype(np.int32))
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2))
    old = final.with_name(MODEL_DIR + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        final.rename(old)
    checkpoint("topics.swap")
    tmp.rename(final)
    shutil.rmtree(old, ignore_errors=True)


def load_model(g: KnowledgeGraph) -> dict[str, Any] | None:
    """The saved topic model's manifest plus its arrays (None when no fit was saved)."""
    folder = model_dir(g)
    if not (folder / "manifest.json").exists():
        return None
    m: dict[str, Any] = json.loads((folder / "manifest.json").read_text())
    if m.get("format") != FORMAT:
        raise ConfigError(f"topic model format {m.get('format')} is not supported; run kg topics --refit")
    m["doc_ids"] = json.loads((folder / "doc_ids.json").read_text())
    for name in ("doc_topics", "centroids", "thresholds", "idf", "components", "component_topic"):
        p = folder / f"{name}.npy"
        m[name] = np.load(p, allow_pickle=False) if p.exists() else None
    if (folder / "vocab.json").exists():
        m["vocab"] = json.loads((folder / "vocab.json").read_text())
    return m


# -- incremental assignment -------------------------------------------------------------------------------
def nmf_transform(model: dict[str, Any], texts: list[str]) -> np.ndarray:
    """Topic weights ``(n, n_topics)`` of new texts under a saved NMF model (non-negative least squares)."""
    optimize = require("scipy.optimize", "core", "NMF transform")
    counts = count_vectorizer(model["params"], vocabulary=model["vocab"]).transform(texts).toarray().astype(np.float64)
    x = np.where(counts > 0, 1.0 + np.log(np.maximum(counts, 1.0)), 0.0) * model["idf"]
    x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    h = np.asarray(model["components"], dtype=np.float64)
    ct = np.asarray(model["component_topic"])
    k = int(ct.max()) + 1 if len(ct) else 0
    out = np.zeros((len(texts), k))
    for i, row in enumerate(x):
        if not row.any():
            continue
        w, _ = optimize.nnls(h.T, row)
        for c, t in enumerate(ct):
            if t >= 0:
                out[i, t] += w[c]
    return out


def assign_topics(g: KnowledgeGraph, *, force: bool | None = None) -> AssignReport:
    """Give documents added since the fit a topic, without refitting (source :data:`ASSIGN_SOURCE`).

    Candidates are documents not in the fit, and fitted members whose topic edge vanished (removed
    and re-ingested). ``force`` (default: the fit's ``force_assign``) assigns outliers too.
    """
    model = load_model(g)
    if model is None:
        raise ConfigError("no topic model yet; run kg topics first")
    cfg = model["config"]
    force = bool(cfg.get("force_assign")) if force is None else force
    fitted = dict(zip(model["doc_ids"], model["doc_topics"].tolist(), strict=True))
    fit_edge = {e.source for e in g.store.iter_edges([Rel.HAS_TOPIC]) if "assigned" not in e.properties}
    ids, texts, _ = corpus(g, tuple(cfg.get("labels", DOC_LABELS)))
    cand = [i for i, nid in enumerate(ids) if nid not in fitted or (fitted[nid] >= 0 and nid not in fit_edge)]
    rep = AssignReport(candidates=len(cand))
    topic_ids = model["topic_ids"]
    edges: list[EdgeRecord] = []
    if cand:
        c_ids = [ids[i] for i in cand]
        c_texts = [texts[i] for i in cand]
        if model["method"] == "nmf" and model.get("components") is not None:
            w = nmf_transform(model, c_texts)
            tot = w.sum(axis=1)
            best = np.where(tot > 0, w.argmax(axis=1), -1)
            score = np.where(tot > 0, w.max(axis=1) / np.where(tot > 0, tot, 1), 0.0)
        else:
            emb = stored_embeddings(g, c_ids)
            if emb is None or model.get("centroids") is None:
                raise ConfigError("the topic model needs stored embeddings to assign; run kg topics --refit")
            sims = emb @ model["centroids"].T
            best = sims.argmax(axis=1)
            score = np.clip(sims[np.arange(len(best)), best], 0.0, 1.0)
            if not force:
                best = np.where(score >= model["thresholds"][best], best, -1)
        for nid, b, s in zip(c_ids, best.tolist(), score.tolist(), strict=True):
            if b >= 0:
                edges.append(EdgeRecord(nid, topic_ids[b], Rel.HAS_TOPIC,
                                        {"weight": round(float(s), 4), "method": model["method"],
                                         "assigned": "incremental"}))
        rep.assigned = len(edges)
        rep.outliers = len(cand) - len(edges)
    digest = hashlib.sha256(json.dumps([model["hash"], [(e.source, e.target) for e in edges]]).encode()).hexdigest()
    state = g.store.source(ASSIGN_SOURCE)
    if state is None or state.hash != digest:
        g.store.write_source(SourceInfo(ASSIGN_SOURCE, digest, reader="topics:assign"), ReadResult([], edges),
                             derived=True)
        rep.written = True
    g.store.set_meta(ASSIGNED_META, g.store.version())
    return rep


# -- reading -------------------------------------------------------------------------------------------------
def topics(g: KnowledgeGraph) -> TopicReport:
    """The stored topics (sizes counted live, incremental assignments included) and the fit's quality."""
    model = load_model(g)
    if model is None:
        raise ConfigError("no topics yet; run kg topics")
    live: dict[str, int] = {}
    assigned = 0
    for e in g.store.iter_edges([Rel.HAS_TOPIC]):
        live[e.target] = live.get(e.target, 0) + 1
        assigned += e.properties.get("assigned") == "incremental"
    parents = {e.source: e.target for e in g.store.iter_edges([Rel.SUBTOPIC_OF])}
    out: list[Topic] = []
    for n in g.store.iter_nodes([Label.TOPIC]):
        p = n.properties
        out.append(Topic(n.id, str(p.get("label", n.id)), [(str(t[0]), float(t[1])) for t in p.get("terms", [])],
                         live.get(n.id, 0), int(p.get("level", 0)), parents.get(n.id), p.get("coherence")))
    for t in out:
        if t.level > 0:
            t.size = sum(c.size for c in out if c.parent == t.id)
    out.sort(key=lambda t: (t.level, -t.size, t.id))
    r = model["report"]
    return TopicReport(r["method"], out, r.get("coherence"), float(r.get("diversity", 0.0)),
                       r.get("coherence_measure", "c_npmi"), r.get("n_docs", 0), r.get("n_outliers", 0),
                       assigned, r.get("seed", 42), r.get("seconds", 0.0), r.get("fallback", ""),
                       r.get("fitted_at", ""))


def update_topics(g: KnowledgeGraph, config: TopicConfig | None = None, *, refit: bool = False) -> TopicReport:
    """``kg topics``: fit when there is no model (or ``refit``), else assign new documents; then list."""
    if refit or load_model(g) is None:
        return fit_topics(g, config)
    assign_topics(g, force=config.force_assign if config is not None and config.force_assign else None)
    return topics(g)

