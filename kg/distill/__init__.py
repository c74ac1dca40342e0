"""Graph-aware distillation: train a fast static student encoder from a store's own corpus and graph.

``distill(g)`` takes the store's current encoder as the teacher and its searchable nodes as the
training corpus: the indexed text of every paper, document, chunk, skill and topic, plus titles and
up to ``spans_per_doc`` sentence spans of each. Targets are teacher vectors: the document vectors
already in the dense index are reused, only the extra spans are encoded, and every teacher vector
is cached on disk (``<store>/models/teacher-cache/``). The student starts from a model2vec
distillation of the teacher (:func:`retrieval.student_encoder.init_from_teacher`) and is fine-tuned by
:func:`kg.distill.train.train_student` with cosine regression, an in-batch relational term and a
graph term over pairs the store links (:mod:`kg.distill.pairs`).

Students are saved as versioned, pickle-free folders inside the store, ``<store>/models/student-<n>/``
(:class:`retrieval.student_encoder.StaticEncoder`), with a manifest recording the teacher, a hash of the
training data, the configuration, the losses and metrics. :func:`activate` makes one the store's
encoder for ingest and queries (the search index re-encodes its rows), :func:`deactivate` returns
to the teacher. Only embedded stores are supported. Every function takes ``g``: a
:class:`kg.graph.KnowledgeGraph`, or anything else that has its store and syncs its search index
(:class:`Indexed`: a search backend of :mod:`retrieval.backends` does).

>>> from kg.graph import KnowledgeGraph                     # doctest: +SKIP
>>> g = KnowledgeGraph.open("./.kg")                         # doctest: +SKIP
>>> res = distill(g, DistillConfig(), activate_after=True)  # doctest: +SKIP
>>> resolve_encoder_spec(g, "student") == str(res.path)      # doctest: +SKIP
True
"""

from __future__ import annotations

import hashlib
import os
import random
import re
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from kg.distill.pairs import Pair, PairConfig, pair_counts, sample_pairs
from kg.distill.sample import SampleConfig
from kg.distill.train import ProgressFn, TrainConfig, train_student
from kg.errors import ConfigError, require
from kg.faults import checkpoint
from kg.model import Label
from kg.searchtext import node_text
from retrieval.student_encoder import (
    StaticEncoder,
    corpus_words,
    init_from_teacher,
    is_student_folder,
    read_manifest,
)

if TYPE_CHECKING:
    from kg.store.base import GraphStore
    from retrieval.encoder import EncodeProgressFn, Encoder

class Indexed(Protocol):
    """What distillation works on: a store, and a way to sync its search index (a
    :class:`kg.graph.KnowledgeGraph`, or a :class:`retrieval.backends.SearchBackend`)."""

    @property
    def store(self) -> GraphStore:
        """The store."""
        ...

    def sync_index(self, embed: bool | None = None, *, encoder: str | None = None, show_progress: bool = False,
                   progress: Any = None, timings: dict[str, float] | None = None) -> None:
        """Bring the search index in step with the store (``encoder``: re-encode with it)."""
        ...


MODELS = "models"
STUDENT_PREFIX = "student-"
TEACHER_CACHE = "teacher-cache"
_SENT = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[])")
_SENT_LOWER = re.compile(r"(?<=[.!?])\s+(?=\S)")  # text without capitals (Cranfield): any full stop
_STUDENT_DIR = re.compile(r"^student-(\d+)$")


@dataclass(frozen=True, slots=True, kw_only=True)
class DistillConfig:
    """What to train on and how (see the module docstring).

    ``graph``: use the graph term (False: the same run without it, for ablations);
    ``spans_per_doc``: sentence spans per document added as extra training texts;
    ``max_spans``: cap on extra spans; ``titles``: add titles/names as extra texts;
    ``init``: ``"model2vec"`` (from the teacher) or a saved student folder to start from;
    ``words`` / ``min_count``: up to this many corpus words seen at least ``min_count`` times get a
    token of their own (initialised to the sum of their word pieces; 0: none);
    ``valid_fraction``: share of titles/spans held out to pick the best epoch (0: keep the last);
    ``paired``: put each sampled text's partner (a span's document, a document's span) in its batch;
    ``sample``: teacher targets for a stratified sample of the documents only
    (:mod:`kg.distill.sample`; None: for every text).
    """

    train: TrainConfig = field(default_factory=TrainConfig)
    pairs: PairConfig = field(default_factory=PairConfig)
    graph: bool = True
    spans_per_doc: int = 3
    max_spans: int = 50_000
    titles: bool = True
    init: str = "model2vec"
    words: int = 30_000
    min_count: int = 2
    valid_fraction: float = 0.1
    paired: bool = True
    sample: SampleConfig | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form for manifests."""
        return {"train": self.train.to_dict(), "pairs": {"kinds": list(self.pairs.kinds),
                "max_group": self.pairs.max_group, "per_node": self.pairs.per_node,
                "max_pairs": self.pairs.max_pairs}, "graph": self.graph, "spans_per_doc": self.spans_per_doc,
                "max_spans": self.max_spans, "titles": self.titles, "init": self.init, "words": self.words,
                "min_count": self.min_count, "valid_fraction": self.valid_fraction, "paired": self.paired}


@dataclass(slots=True)
class DistillResult:
    """One distillation run: where the student was saved and what happened."""

    path: Path
    manifest: dict[str, Any]
    activated: bool = False

    @property
    def train_seconds(self) -> float:
        """Wall time of the whole run (teacher spans, init, pairs, training, saving)."""
        return float(self.manifest.get("train_seconds", 0.0))


@dataclass(slots=True)
class Corpus:
    """Training texts with their node ids (None for extra spans), kinds (doc/title/span) and, for
    titles and spans, the index of their node's document text (-1 for documents)."""

    texts: list[str] = field(default_factory=list)
    nodes: list[str | None] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    parents: list[int] = field(default_factory=list)
    seen: set[str] = field(default_factory=set, repr=False, compare=False)

    def add(self, text: str, node: str | None, kind: str, parent: int = -1) -> bool:
        """Add ``text`` (stripped) unless it is empty or already in; whether it was added."""
        text = text.strip()
        if not text or text in self.seen:
            return False
        self.seen.add(text)
        self.texts.append(text)
        self.nodes.append(node)
        self.kinds.append(kind)
        self.parents.append(parent)
        return True

    def add_nodes(self, ids: list[str], nodes: dict[str, Any], config: DistillConfig, rng: random.Random, *,
                  span_words: int | None = None) -> None:
        """Each node's indexed text, then its title and up to ``config.spans_per_doc`` sentence spans
        (cut at ``span_words`` words), at most ``config.max_spans`` of those in all."""
        doc_of: dict[str, int] = {}
        for nid in ids:
            if nid in nodes and self.add(node_text(nodes[nid]), nid, "doc"):
                doc_of[nid] = len(self.texts) - 1
        extra = 0
        for nid in ids:
            n = nodes.get(nid)
            if n is None or extra >= config.max_spans:
                continue
            p = n.properties
            before = len(self.texts)
            parent = doc_of.get(nid, -1)
            if config.titles and n.label != Label.CHUNK:
                self.add(str(p.get("title") or p.get("name") or p.get("label") or ""), None, "title", parent)
            body = str(p.get("abstract") or p.get("text") or p.get("description") or "")
            for span in sentence_spans(body, config.spans_per_doc, rng) if config.spans_per_doc > 0 else []:
                self.add(" ".join(span.split()[:span_words]) if span_words else span, None, "span", parent)
            extra += len(self.texts) - before


# -- store layout ------------------------------------------------------------------------------------
def models_dir(g: Indexed) -> Path:
    """``<store>/models`` (ConfigError for server stores)."""
    return store_folder(g).resolve() / MODELS


def store_folder(g: Indexed) -> Path:
    """The folder of ``g``'s store (ConfigError for server stores: distillation needs files)."""
    folder = g.store.folder
    if folder is None:
        raise ConfigError("distillation needs an embedded store (a folder); server stores are not supported")
    return folder


def list_students(g: Indexed) -> list[Path]:
    """Saved student folders of ``g``, oldest first."""
    root = models_dir(g)
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir() if (m := _STUDENT_DIR.match(p.name))
             and is_student_folder(p)]
    return [p for _, p in sorted(found)]


def active_encoder(g: Indexed) -> str:
    """The encoder spec recorded in the store's search index (``"minilm"`` when none yet)."""
    from retrieval.index import SearchIndex

    return str(SearchIndex.load(index_folder(g)).manifest.get("encoder") or "minilm")


def index_folder(g: Indexed) -> Path:
    """Where the store's search index is (ConfigError for server stores)."""
    from retrieval.index import SearchIndex

    store_folder(g)
    folder = SearchIndex.folder_for(g.store)
    assert folder is not None
    return folder


def resolve_encoder_spec(g: Indexed, spec: str | None) -> str:
    """Map ``"student"`` to the store's latest student folder and ``"teacher"`` to its teacher.

    The teacher is the active encoder, or, while a student is active, the teacher recorded in that
    student's manifest. Other specs are returned unchanged.
    """
    s = (spec or "").strip()
    if s.lower() == "student":
        students = list_students(g)
        if not students:
            raise ConfigError(f"no student model in {models_dir(g)}; run `kg distill` first")
        return str(students[-1])
    if s.lower() == "teacher":
        active = active_encoder(g)
        return str(read_manifest(active).get("teacher", "minilm")) if is_student_folder(active) else active
    return s


def activate(g: Indexed, model: str | Path = "student", *, show_progress: bool = False) -> str:
    """Make a student (``"student"``: the latest) the store's encoder; re-encodes the index rows."""
    spec = resolve_encoder_spec(g, str(model))
    if not is_student_folder(spec):
        raise ConfigError(f"{spec} is not a saved student model folder")
    spec = str(Path(spec).resolve())
    checkpoint("distill.activate")
    g.sync_index(embed=True, encoder=spec, show_progress=show_progress)
    return spec


def deactivate(g: Indexed, *, show_progress: bool = False) -> str:
    """Return the store to its teacher encoder (re-encodes the index rows with the teacher)."""
    teacher = resolve_encoder_spec(g, "teacher")
    g.sync_index(embed=True, encoder=teacher, show_progress=show_progress)
    return teacher


# -- training data -----------------------------------------------------------------------------------
def _key(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


class TeacherCache:
    """Teacher vectors by text hash, on disk as ``keys.npy`` (uint8, 16 per text) + ``vectors.npy``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._rows: dict[bytes, int] = {}
        self._vectors = np.zeros((0, 0), dtype=np.float32)
        if (folder / "keys.npy").is_file() and (folder / "vectors.npy").is_file():
            keys = np.load(folder / "keys.npy", allow_pickle=False)
            vecs = np.load(folder / "vectors.npy", allow_pickle=False)
            if len(keys) == len(vecs):
                self._rows = {bytes(k): i for i, k in enumerate(keys)}
                self._vectors = np.asarray(vecs, dtype=np.float32)

    def missing(self, texts: list[str], known: dict[bytes, np.ndarray] | None = None) -> list[str]:
        """Texts neither in ``known`` nor in the cache (deduplicated, in hash order)."""
        todo = {k: t for t in texts if (k := _key(t)) not in self._rows and not (known and k in known)}
        return [t for _, t in sorted(todo.items())]

    def vectors(self, texts: list[str], teacher: Encoder | None, *, known: dict[bytes, np.ndarray] | None = None,
                show_progress: bool = False) -> np.ndarray:
        """Teacher vectors of ``texts``: from ``known``, then the cache, encoding (and caching) the rest.

        ``teacher`` may be None when nothing is missing.
        """
        todo = self.missing(texts, known)
        if todo:
            if teacher is None:
                raise ConfigError(f"{len(todo)} texts have no cached teacher vector and no teacher was given")
            self._append([_key(t) for t in todo], teacher.encode(todo, show_progress=show_progress))
        dim = self._vectors.shape[1] if len(self._rows) else next(iter(known.values())).shape[0] if known else 0
        out = np.zeros((len(texts), dim), dtype=np.float32)
        for i, t in enumerate(texts):
            k = _key(t)
            out[i] = known[k] if known and k in known else self._vectors[self._rows[k]]
        return out

    def _append(self, keys: list[bytes], vectors: np.ndarray) -> None:
        base = len(self._rows)
        self._vectors = vectors.astype(np.float32) if not base else np.vstack([self._vectors, vectors])
        for i, k in enumerate(keys):
            self._rows[k] = base + i
        self.folder.mkdir(parents=True, exist_ok=True)
        ordered = sorted(self._rows.items(), key=lambda kv: kv[1])
        key_array = np.frombuffer(b"".join(k for k, _ in ordered), dtype=np.uint8).reshape(-1, 16)
        # vectors first, keys last: a reader seeing mismatched lengths ignores the cache
        for name, arr in (("vectors.npy", self._vectors), ("keys.npy", key_array)):
            tmp = self.folder / f".{name}.{os.getpid()}.tmp"
            with open(tmp, "wb") as fh:
                np.save(fh, arr, allow_pickle=False)
            os.replace(tmp, self.folder / name)


def sentence_spans(text: str, k: int, rng: random.Random) -> list[str]:
    """Up to ``k`` sentences of ``text`` with at least four words, drawn with ``rng``. A sentence ends
    at ``.``, ``!`` or ``?`` before a capital, a digit or a quote; in text without capitals (a
    lower-cased corpus) before anything."""
    split = _SENT if any(c.isupper() for c in text) else _SENT_LOWER
    sents = [s.strip() for para in text.split("\n") for s in split.split(para)]
    sents = [s for s in sents if len(s.split()) >= 4]
    return sents if len(sents) <= k else [sents[i] for i in sorted(rng.sample(range(len(sents)), k))]


def collect_corpus(g: Indexed, config: DistillConfig) -> Corpus:
    """The store's searchable texts, then titles and sentence spans (deduplicated, deterministic)."""
    from retrieval.index import SearchIndex

    idx = SearchIndex.load(index_folder(g))
    ids = [r.id for r in idx.rows if r is not None]
    out = Corpus()
    # the same spans for every training seed: their teacher vectors are cached
    out.add_nodes(ids, g.store.get_nodes(ids), config, random.Random(0))
    return out


def _stored_vectors(g: Indexed, teacher: str) -> dict[bytes, np.ndarray]:
    """Document vectors already in the dense index, by text hash, when it holds ``teacher``'s."""
    from retrieval.index import SearchIndex

    idx = SearchIndex.load(index_folder(g))
    if idx.dense is None or idx.manifest.get("encoder") != teacher:
        return {}
    vecs = idx.dense.vectors
    live = [(i, r.id) for i, r in enumerate(idx.rows) if r is not None]
    nodes = g.store.get_nodes([nid for _, nid in live])
    return {_key(node_text(nodes[nid]).strip()): np.asarray(vecs[i], dtype=np.float32)
            for i, nid in live if nid in nodes}


def _split(corpus: Corpus, base: StaticEncoder, cfg: DistillConfig) -> tuple[list[int], list[int]]:
    """Training and held-out text indices: texts without a known token are dropped, and a seeded
    ``valid_fraction`` of the titles and spans (never documents) is held out for early stopping."""
    _, offsets = base.tokenize(corpus.texts)
    usable = np.flatnonzero(np.diff(offsets) > 0).tolist()
    extras = [i for i in usable if corpus.kinds[i] != "doc"]
    n_valid = int(len(extras) * cfg.valid_fraction)
    valid = sorted(random.Random(cfg.train.seed).sample(extras, n_valid)) if n_valid >= 8 else []
    held = set(valid)
    return [i for i in usable if i not in held], valid


def _next_student_dir(g: Indexed) -> Path:
    nums = [int(m.group(1)) for p in list_students(g) if (m := _STUDENT_DIR.match(p.name))]
    return models_dir(g) / f"{STUDENT_PREFIX}{max(nums, default=0) + 1}"


def distill(g: Indexed, config: DistillConfig | None = None, *, activate_after: bool = False,
            out: Path | None = None, progress: ProgressFn | None = None, show_progress: bool = False,
            teacher_progress: EncodeProgressFn | None = None) -> DistillResult:
    """Train a student from ``g`` (see the module docstring); saves it and optionally activates it.

    ``out``: save there instead of the next ``<store>/models/student-<n>`` (ablations, tests);
    ``teacher_progress(done, total)`` follows the teacher's pass over the texts it has to encode.
    """
    from retrieval.encoder import load_encoder, minilm_path

    cfg = config or DistillConfig()
    # what training needs, checked before the slow steps (index sync, teacher vectors)
    require("torch", "distill", "training a student encoder")
    require("tokenizers", "distill", "the static student encoder")
    if cfg.init == "model2vec":
        require("model2vec", "distill", "initialising a student with model2vec")
    t0 = time.perf_counter()
    root = models_dir(g)
    g.sync_index(show_progress=show_progress)  # index in step with the graph
    teacher_spec = resolve_encoder_spec(g, "teacher")
    sampled = None
    if cfg.sample is not None:
        from kg.distill.sample import sample_corpus

        sampled = sample_corpus(g, cfg, cfg.sample)
    corpus = sampled.corpus if sampled is not None else collect_corpus(g, cfg)
    if len(corpus.texts) < 2:
        raise ConfigError("the store has fewer than two searchable texts; ingest something first")
    cache = TeacherCache(root / TEACHER_CACHE / hashlib.blake2b(teacher_spec.encode(), digest_size=6).hexdigest())
    known = _stored_vectors(g, teacher_spec)
    teacher = load_encoder(teacher_spec) if cache.missing(corpus.texts, known) else None
    if teacher is not None and teacher_progress is not None:
        from kg.distill.sample import ProgressEncoder

        teacher = ProgressEncoder(teacher, teacher_progress)
    targets = cache.vectors(corpus.texts, teacher, known=known, show_progress=show_progress)
    t_targets = time.perf_counter() - t0
    if cfg.init == "model2vec":
        if teacher_spec.lower() not in ("minilm", "teacher", "all-minilm-l6-v2"):
            raise ConfigError(f"model2vec initialisation needs the MiniLM teacher, not {teacher_spec!r}; "
                              "pass init=<saved student folder>")
        base = init_from_teacher(minilm_path())
    else:
        base = StaticEncoder.load(cfg.init)
    if base.dim != targets.shape[1]:
        raise ConfigError(f"student dim {base.dim} != teacher dim {targets.shape[1]}")
    if cfg.words > 0:
        words_of = sampled.vocab_texts if sampled is not None else corpus.texts
        base = base.with_words(corpus_words(words_of, min_count=cfg.min_count, max_words=cfg.words))
    train, valid = _split(corpus, base, cfg)
    flat, offsets = base.tokenize([corpus.texts[i] for i in train])
    row_of = {nid: j for j, i in enumerate(train) if (nid := corpus.nodes[i]) is not None}
    new_index = {old: j for j, old in enumerate(train)}
    parent = np.asarray([new_index.get(corpus.parents[i], -1) for i in train], dtype=np.int64)
    pairs: list[Pair] = sample_pairs(g, set(row_of), config=cfg.pairs, seed=cfg.train.seed) if cfg.graph else []
    pair_idx = np.asarray([(row_of[p.a], row_of[p.b]) for p in pairs], dtype=np.int64).reshape(-1, 2)
    train_cfg = cfg.train if cfg.graph else replace(cfg.train, w_graph=0.0)
    held = None
    if valid:
        vflat, voffsets = base.tokenize([corpus.texts[i] for i in valid])
        held = (vflat, voffsets, targets[valid])
    res = train_student(base.embeddings, flat, offsets, targets[train], pairs=pair_idx,
                        parent=parent if cfg.paired else None, valid=held, config=train_cfg, progress=progress)
    h = hashlib.blake2b(digest_size=8)
    for i in (*train, -1, *valid):
        h.update(_key(corpus.texts[i]) if i >= 0 else b"|")
    h.update(pair_idx.tobytes())
    kinds = {k: corpus.kinds.count(k) for k in ("doc", "title", "span")}
    student = base.with_embeddings(res.embeddings)
    metrics = {"teacher_cos_before": round(res.cos_before, 4), "teacher_cos_after": round(res.cos_after, 4)}
    if held is not None:
        metrics.update({"valid_texts": len(valid), "valid_cos": max(res.valid_cos, default=0.0),
                        "best_epoch": res.best_epoch})
    manifest = {
        "teacher": teacher_spec, "data_hash": h.hexdigest(), "init": base.manifest.get("init", cfg.init),
        "corpus_words": base.manifest.get("corpus_words", 0),
        "config": {**cfg.to_dict(), "train": train_cfg.to_dict()}, "texts": kinds, "trained_texts": len(train),
        "pairs": pair_counts(pairs), "losses": res.losses, "steps": res.steps, "metrics": metrics,
        "teacher_seconds": round(t_targets, 1), "fit_seconds": round(res.seconds, 1),
        "store": str(Path(g.store.url).resolve()),
    }
    if sampled is not None and cfg.sample is not None:
        manifest["sample"] = {**cfg.sample.to_dict(), "store_docs": sampled.docs, "sampled_docs": sampled.sampled,
                              "span_docs": sampled.span_docs,
                              "strata": sampled.strata, "teacher_texts": len(corpus.texts),
                              "vocab_texts": len(sampled.vocab_texts), "seconds": sampled.seconds}
    dest = out or _next_student_dir(g)
    manifest["train_seconds"] = round(time.perf_counter() - t0, 1)
    path = student.save(dest, manifest)
    result = DistillResult(path, student.manifest)
    if activate_after:
        activate(g, path, show_progress=show_progress)
        result.activated = True
    return result


__all__ = ["Corpus", "DistillConfig", "DistillResult", "Indexed", "PairConfig", "SampleConfig", "StaticEncoder",
           "TeacherCache",
           "TrainConfig", "activate", "active_encoder", "collect_corpus", "deactivate", "distill",
           "list_students", "models_dir", "resolve_encoder_spec", "store_folder"]
