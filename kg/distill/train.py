"""Fine-tuning a static student against its teacher, in torch (CPU).

The student is an ``EmbeddingBag`` (sum of token vectors, then L2 normalisation; the same function
as :class:`retrieval.student_encoder.StaticEncoder`). Each step draws a batch of training texts and,
when the graph term is on, a batch of graph pairs, and minimises

``w_cos * L_cos + w_rel * L_rel + w_graph * L_graph``

* ``L_cos`` (cosine regression): mean of ``1 - cos(student(x), teacher(x))``.
* ``L_rel`` (in-batch relational term, as in relational / token-graph KD): the row-wise KL divergence
  ``KL(softmax(T T^T / tau_rel) || softmax(S S^T / tau_rel))`` between the teacher's and the
  student's in-batch similarity distributions, the diagonal left out.
* ``L_graph`` (graph term): InfoNCE over graph pairs ``(a, b)`` (:mod:`kg.distill.pairs`), the
  positives ``b`` of the other pairs in the batch serving as negatives, both directions, at
  temperature ``tau_graph``.

Each step gathers only the rows of the tokens in its batch and updates them with a lazy Adam
(:class:`_LazyAdam`), so a step costs the batch, not the vocabulary. Training runs on one torch
thread by default: the ops are small, and on a busy two-core machine a second thread mostly waits.
With a fixed ``seed``, two runs give identical embeddings.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from kg.errors import ConfigError, require

ProgressFn = Callable[[int, int, dict[str, float]], None]  # (step, total steps, latest losses)


@dataclass(frozen=True, slots=True, kw_only=True)
class TrainConfig:
    """Optimisation settings of :func:`train_student` (defaults chosen on SciFact, Cranfield and CF;
    see docs/distill.md).

    ``epochs``: passes over the training texts; ``min_steps`` / ``max_steps``: bounds on the number of
    optimisation steps, whatever the corpus size (:func:`planned_steps`: a small corpus trains for
    more than ``epochs`` passes, a huge one for fewer); ``batch_size``: texts per step (also the
    relational term's batch); ``graph_batch``: graph pairs per step at most (fewer when that would
    visit every pair more than once per epoch); ``lr``: Adam learning rate;
    ``w_cos`` / ``w_rel`` / ``w_graph``: loss weights (0 switches a term off); ``tau_rel`` /
    ``tau_graph``: softmax temperatures; ``decay``: pull of each updated row back towards its
    initial value (decoupled, per step, like AdamW's weight decay); ``seed``: shuffling and torch seed; ``threads``: torch
    threads (None: one).
    """

    epochs: int = 16
    min_steps: int = 1_000
    max_steps: int = 10_000
    batch_size: int = 256
    graph_batch: int = 128
    lr: float = 0.02
    w_cos: float = 1.0
    w_rel: float = 1.0
    w_graph: float = 0.1
    tau_rel: float = 0.1
    tau_graph: float = 0.2
    decay: float = 0.0
    seed: int = 0
    threads: int | None = None

    def __post_init__(self) -> None:
        if self.epochs < 0 or self.min_steps < 0 or self.max_steps < 1 or self.batch_size < 2 \
                or self.graph_batch < 2 or self.lr <= 0 or min(self.w_cos, self.w_rel, self.w_graph, self.decay) < 0 \
                or self.tau_rel <= 0 or self.tau_graph <= 0:
            raise ConfigError(f"invalid TrainConfig: {self}")
        if self.w_cos == 0 and self.w_rel == 0:
            raise ConfigError("w_cos and w_rel are both 0: nothing ties the student to its teacher")

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form for manifests."""
        return asdict(self)


@dataclass(slots=True)
class TrainResult:
    """What :func:`train_student` produced: the new embeddings and the training trace."""

    embeddings: np.ndarray
    losses: list[dict[str, float]] = field(default_factory=list)  # one entry per checkpoint (means)
    steps: int = 0
    period: int = 1  # steps per checkpoint (:func:`checkpoint_period`)
    seconds: float = 0.0
    cos_before: float = 0.0  # mean student-teacher cosine on a fixed sample, before training
    cos_after: float = 0.0
    valid_cos: list[float] = field(default_factory=list)  # held-out mean cosine at each checkpoint
    best_epoch: int = 0  # the checkpoint whose embeddings were kept (0: the initial ones)


def _batch_tokens(flat: np.ndarray, offsets: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The token ids and bag offsets of texts ``idx`` (flat/offsets in CSR style)."""
    starts, ends = offsets[idx], offsets[idx + 1]
    lengths = ends - starts
    bag_offsets = np.zeros(len(idx), dtype=np.int64)
    np.cumsum(lengths[:-1], out=bag_offsets[1:])
    pos = np.arange(int(lengths.sum()), dtype=np.int64) - np.repeat(bag_offsets - starts, lengths)
    return flat[pos], bag_offsets


def relational_kl(s: Any, t: Any, tau: float) -> Any:
    """Row-wise KL(teacher || student) of in-batch similarity distributions, diagonal excluded.

    ``s`` and ``t`` are ``(B, d)`` unit rows (torch tensors); returns a scalar tensor.
    """
    torch = require("torch", "distill")
    n = s.shape[0]
    eye = torch.eye(n, dtype=torch.bool)
    ls = torch.log_softmax((s @ s.T / tau).masked_fill(eye, -1e4), dim=1)
    lt = torch.log_softmax((t @ t.T / tau).masked_fill(eye, -1e4), dim=1)
    return torch.nn.functional.kl_div(ls, lt, reduction="batchmean", log_target=True)


def info_nce(a: Any, b: Any, tau: float) -> Any:
    """Symmetric InfoNCE: row ``i`` of ``a`` should match row ``i`` of ``b`` among all rows of ``b``."""
    torch = require("torch", "distill")
    logits = a @ b.T / tau
    target = torch.arange(a.shape[0])
    f = torch.nn.functional
    return (f.cross_entropy(logits, target) + f.cross_entropy(logits.T, target)) / 2


def _with_partners(idx: np.ndarray, parent: np.ndarray, kids: dict[int, list[int]],
                   rng: np.random.Generator) -> np.ndarray:
    """``idx`` plus a partner for each: a span's document, one of a document's spans (deduplicated)."""
    out = dict.fromkeys(idx.tolist())
    for i in idx.tolist():
        p = int(parent[i])
        if p >= 0:
            out.setdefault(p)
        elif i in kids:
            out.setdefault(kids[i][int(rng.integers(len(kids[i])))])
    return np.fromiter(out, dtype=np.int64, count=len(out))


class _LazyAdam:
    """Adam on the rows of one matrix that a step touched (global-step bias correction).

    Equivalent to ``torch.optim.SparseAdam`` for gradients given per unique row, without the cost
    of coalescing one gradient row per token occurrence.
    """

    def __init__(self, weight: Any, *, lr: float, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 decay: float = 0.0) -> None:
        torch = require("torch", "distill")
        self.weight = weight
        self.anchor = weight.clone() if decay > 0 else None
        self.decay = decay
        self.m = torch.zeros_like(weight)
        self.v = torch.zeros_like(weight)
        self.lr, self.b1, self.b2, self.eps = lr, betas[0], betas[1], eps
        self.t = 0

    def step(self, rows: Any, grad: Any) -> None:
        """Update ``weight[rows]`` with ``grad`` (one row per unique index in ``rows``)."""
        self.t += 1
        m = self.m.index_select(0, rows).mul_(self.b1).add_(grad, alpha=1 - self.b1)
        v = self.v.index_select(0, rows).mul_(self.b2).addcmul_(grad, grad, value=1 - self.b2)
        self.m.index_copy_(0, rows, m)
        self.v.index_copy_(0, rows, v)
        step = self.lr * (1 - self.b2 ** self.t) ** 0.5 / (1 - self.b1 ** self.t)
        update = m.div_(v.sqrt_().add_(self.eps)).mul_(-step)
        if self.anchor is not None:
            drift = self.weight.index_select(0, rows).sub_(self.anchor.index_select(0, rows))
            update.add_(drift, alpha=-self.lr * self.decay)
        self.weight.index_add_(0, rows, update)


def planned_steps(n: int, config: TrainConfig) -> int:
    """Optimisation steps for ``n`` training texts: ``epochs`` passes of ``n // batch_size`` steps,
    at least ``min_steps`` and at most ``max_steps`` (0 when ``epochs`` is 0).

    >>> planned_steps(5000, TrainConfig(epochs=16, batch_size=256, min_steps=1000, max_steps=8000))
    1000
    >>> planned_steps(10**6, TrainConfig(epochs=16, batch_size=256, min_steps=1000, max_steps=8000))
    8000
    """
    if config.epochs == 0:
        return 0
    per_epoch = max(1, n // config.batch_size)
    return min(max(config.epochs * per_epoch, config.min_steps), config.max_steps)


def checkpoint_period(n: int, config: TrainConfig) -> int:
    """Steps between two held-out evaluations (and loss log entries): the step budget split into
    ``epochs`` equal parts, so that is one epoch unless ``min_steps`` or ``max_steps`` changed the
    budget."""
    return max(1, -(-planned_steps(n, config) // max(1, config.epochs)))


class _Stream:
    """Indices ``0..n-1`` in seeded random order, reshuffled each time every index has been drawn."""

    def __init__(self, n: int, rng: np.random.Generator) -> None:
        self.n, self.rng = n, rng
        self.order = rng.permutation(n)
        self.pos = 0

    def take(self, k: int) -> np.ndarray:
        """The next ``min(k, n)`` indices (no repeats within one draw)."""
        k = min(k, self.n)
        if self.pos + k > self.n:
            self.order, self.pos = self.rng.permutation(self.n), 0
        out = self.order[self.pos:self.pos + k]
        self.pos += k
        return out


def train_student(init: np.ndarray, flat: np.ndarray, offsets: np.ndarray, targets: np.ndarray, *,
                  pairs: np.ndarray | None = None, parent: np.ndarray | None = None,
                  valid: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
                  config: TrainConfig | None = None, progress: ProgressFn | None = None) -> TrainResult:
    """Fine-tune static token embeddings ``init`` so texts pool to their teacher vectors.

    ``flat`` / ``offsets``: token ids of the training texts (text ``i`` is
    ``flat[offsets[i]:offsets[i + 1]]``, never empty); ``targets``: their teacher vectors, unit
    rows; ``pairs``: ``(P, 2)`` text indices linked in the graph (or None). ``parent``: for each
    text, the index of the document it was cut from (-1 for a document); when given, half of every
    batch is drawn at random and the other half are their partners (a span's document, one of a
    document's spans), so the relational term sees query-like texts next to their sources. ``valid``: held-out
    ``(flat, offsets, targets)``; when given, the mean teacher cosine on it is measured at every
    checkpoint (every :func:`checkpoint_period` steps) and the embeddings of the best checkpoint are
    returned (early stopping). Training takes :func:`planned_steps` steps; each draws the next texts
    of a seeded shuffle of all of them, reshuffled once all have been drawn.
    """
    torch = require("torch", "distill", "training a student encoder")
    cfg = config or TrainConfig()
    n = len(offsets) - 1
    if n < 2 or targets.shape[0] != n:
        raise ConfigError(f"need at least 2 training texts with one target each (got {n}, {targets.shape[0]})")
    if np.any(np.diff(offsets) <= 0):
        raise ConfigError("every training text needs at least one token")
    use_graph = cfg.w_graph > 0 and pairs is not None and len(pairs) >= 2
    torch.set_num_threads(max(1, cfg.threads or 1))
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    weight = torch.from_numpy(np.array(init, dtype=np.float32))
    opt = _LazyAdam(weight, lr=cfg.lr, decay=cfg.decay)
    tgt = torch.from_numpy(np.ascontiguousarray(targets, dtype=np.float32))
    flat = np.ascontiguousarray(flat, dtype=np.int64)
    f = torch.nn.functional

    def forward(idx: np.ndarray, data: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[Any, Any, Any]:
        """Unit student vectors of texts ``idx`` and the unique rows (with gradient) they use."""
        ids, offs = _batch_tokens(*(data or (flat, offsets)), idx)
        uniq, inv = np.unique(ids, return_inverse=True)
        rows = torch.from_numpy(uniq)
        sub = weight.index_select(0, rows).requires_grad_(True)
        out = f.embedding_bag(torch.from_numpy(inv.reshape(-1)), sub, torch.from_numpy(offs), mode="sum")
        return f.normalize(out, dim=-1), rows, sub

    sample = np.sort(rng.choice(n, size=min(n, 2000), replace=False))

    def mean_cos() -> float:
        with torch.no_grad():
            return float((forward(sample)[0] * tgt[sample]).sum(-1).mean())

    def valid_cos() -> float:
        assert valid is not None
        with torch.no_grad():
            n_valid = len(valid[1]) - 1
            return float((forward(np.arange(n_valid), (valid[0], valid[1]))[0]
                          * torch.from_numpy(np.asarray(valid[2], dtype=np.float32))).sum(-1).mean())

    result = TrainResult(embeddings=np.empty(0, dtype=np.float32), cos_before=mean_cos())
    best, best_cos = None, valid_cos() if valid is not None else 0.0
    steps_per_epoch = max(1, n // cfg.batch_size)
    total = planned_steps(n, cfg)
    period = checkpoint_period(n, cfg)
    n_pairs = len(pairs) if use_graph and pairs is not None else 0
    graph_batch = min(cfg.graph_batch, max(2, -(-n_pairs // steps_per_epoch)))  # about one pass per epoch
    kids: dict[int, list[int]] = {}
    if parent is not None:
        if len(parent) != n:
            raise ConfigError(f"parent has {len(parent)} entries for {n} texts")
        for i, p in enumerate(parent.tolist()):
            if p >= 0:
                kids.setdefault(p, []).append(i)
    weights = {"cos": cfg.w_cos, "rel": cfg.w_rel, "graph": cfg.w_graph}
    t0 = time.perf_counter()
    texts = _Stream(n, rng)
    pair_order = _Stream(len(pairs), rng) if use_graph and pairs is not None else None
    anchors = cfg.batch_size if parent is None else cfg.batch_size // 2
    sums: dict[str, float] = {}
    for step in range(1, total + 1):
        idx = texts.take(anchors)
        if parent is not None:
            idx = _with_partners(idx, parent, kids, rng)
        pb = pairs[pair_order.take(graph_batch)] if pair_order is not None and pairs is not None \
            else np.zeros((0, 2), dtype=np.int64)
        vecs, rows, sub = forward(np.concatenate([idx, pb[:, 0], pb[:, 1]]))
        s, t = vecs[:len(idx)], tgt[idx]
        parts: dict[str, Any] = {}
        if cfg.w_cos > 0:
            parts["cos"] = (1 - (s * t).sum(-1)).mean()
        if cfg.w_rel > 0:
            parts["rel"] = relational_kl(s, t, cfg.tau_rel)
        if len(pb):
            g = len(pb)
            parts["graph"] = info_nce(vecs[len(idx):len(idx) + g], vecs[len(idx) + g:], cfg.tau_graph)
        loss = sum(weights[k] * v for k, v in parts.items())
        loss.backward()
        with torch.no_grad():
            opt.step(rows, sub.grad)
        latest = {k: float(v.detach()) for k, v in parts.items()}
        latest["total"] = float(loss.detach())
        for k, v in latest.items():
            sums[k] = sums.get(k, 0.0) + v
        if progress is not None:
            progress(step, total, latest)
        if step % period and step != total:
            continue
        done = period if step % period == 0 else step % period
        epoch_log = {k: round(v / done, 6) for k, v in sums.items()}
        sums = {}
        if valid is not None:
            vc = valid_cos()
            result.valid_cos.append(round(vc, 6))
            epoch_log["valid_cos"] = round(vc, 6)
            if vc > best_cos:
                best_cos, best, result.best_epoch = vc, weight.clone(), len(result.losses) + 1
        else:
            result.best_epoch = len(result.losses) + 1
        result.losses.append(epoch_log)
    if valid is not None and best is not None:
        weight = best
    elif valid is not None:  # no epoch beat the initial embeddings
        weight = torch.from_numpy(np.array(init, dtype=np.float32))
    result.seconds = time.perf_counter() - t0
    result.steps = total
    result.period = period
    result.embeddings = weight.numpy().astype(np.float32, copy=True)
    ids, offs = _batch_tokens(flat, offsets, sample)
    with torch.no_grad():
        pooled = f.embedding_bag(torch.from_numpy(ids), weight, torch.from_numpy(offs), mode="sum")
        result.cos_after = float((f.normalize(pooled, dim=-1) * tgt[sample]).sum(-1).mean())
    return result
