"""The embedding policy of large ingests: ``KnowledgeGraph.ingest(..., encoder="auto")``.

The teacher encodes ~60 abstracts/s on two cores: a million texts would take it 4.6 hours. With
``encoder="auto"`` (the default of ``KnowledgeGraph.ingest`` and ``kg ingest``), an ingest that
leaves more than :data:`AUTO_THRESHOLD` texts to embed in an embedded store with no active student

1. brings the BM25 leg in step without embeddings (the store is searchable from here on),
2. distils a student with teacher targets for a stratified sample only
   (:mod:`kg.distill.sample`; the teacher never runs over the rest),
3. activates it: every text is encoded by the student, and later ingests and queries use it.

Below the threshold, with a student already active, with embeddings off, or on a server store,
the ingest is what it was before the policy: the store's current encoder embeds what changed.
``encoder="teacher"`` never distils; any other spec (``"student"``, a student folder,
``"minilm-onnx"``, ...) makes that encoder the store's encoder (the index is re-encoded with it).

A failed distillation leaves the store consistent (graph written, BM25 in step, no dense leg) and
raises :class:`EncoderPolicyError` saying so.

>>> EncoderPolicy().threshold == AUTO_THRESHOLD
True
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from kg.distill import DistillConfig, Indexed, distill
from kg.distill.sample import SampleConfig
from kg.errors import ConfigError, KGError
from kg.faults import checkpoint
from kg.searchtext import SEARCHABLE
from retrieval.student_encoder import is_student_folder

if TYPE_CHECKING:
    from kg.distill.train import ProgressFn
    from retrieval.encoder import EncodeProgressFn

AUTO_THRESHOLD = 50_000
"""Texts to embed above which ``encoder="auto"`` distils a student instead of running the teacher.
The teacher needs ~14 min for 50,000 abstracts on two cores at ~60/s; the policy's distillation
took 506 s with its full sample (measured on 100,000 synthetic abstracts) and costs hybrid quality;
both are in docs/distill.md ("Large ingests")."""
ENCODER_CHOICES = ("auto", "teacher")
PhaseFn = Callable[[str, str], None]
"""``phase(name, message)``: called when a phase of the policy starts or ends (for progress lines)."""
POLICY_META = "kgloom.encoder_policy"
"""Store metadata key of the policy's state: ``{"state": "pending"}`` from the moment it decides to
embed until the index holds vectors, so that a run killed in between (BM25 synced, no dense leg
yet) embeds on the next ingest instead of leaving the store without vectors; then ``"done"``."""
_COUNT_BATCH = 50_000


class EncoderPolicyError(KGError):
    """The encoder policy's distillation failed; the ingest itself was written and BM25 is in step."""


@dataclass(frozen=True, slots=True, kw_only=True)
class EncoderPolicy:
    """When and how ``encoder="auto"`` distils (see the module docstring).

    ``threshold``: texts to embed above which it distils; ``sample``: the teacher's sample;
    ``distill``: the distillation settings (None: :class:`kg.distill.DistillConfig` defaults).
    """

    threshold: int = AUTO_THRESHOLD
    sample: SampleConfig = field(default_factory=SampleConfig)
    distill: DistillConfig | None = None

    def __post_init__(self) -> None:
        if self.threshold < 0:
            raise ConfigError(f"the encoder policy threshold must be >= 0, got {self.threshold}")


@dataclass(slots=True)
class PolicyOutcome:
    """What the policy did during one ingest.

    ``action``: ``"distilled"`` (a student was trained on a sample and activated), ``"teacher"``
    (under the threshold: the store's encoder embedded as before) or ``"none"`` (the policy did not
    apply: embeddings off, a student active, a server store; the ingest synced as before).
    """

    action: str
    texts: int = 0
    threshold: int = AUTO_THRESHOLD
    student: str | None = None
    teacher_texts: int = 0
    sampled_docs: int = 0
    seconds: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form (``kg ingest --json``)."""
        return {"action": self.action, "texts": self.texts, "threshold": self.threshold, "student": self.student,
                "teacher_texts": self.teacher_texts, "sampled_docs": self.sampled_docs,
                "seconds": {k: round(v, 2) for k, v in self.seconds.items()}}


def _index_manifest(g: Indexed) -> dict[str, Any] | None:
    """The search index manifest on disk (None when there is no index yet or it is being rebuilt)."""
    from retrieval.index import SAVING, SearchIndex

    folder = SearchIndex.folder_for(g.store)
    if folder is None or not (folder / "manifest.json").exists() or (folder / SAVING).exists():
        return None
    try:
        got = orjson.loads((folder / "manifest.json").read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    return got if isinstance(got, dict) else None


def wants_dense(g: Indexed, embed: bool | None) -> bool:
    """Whether the next index sync of ``g`` computes embeddings, as :meth:`SearchIndex.sync` decides."""
    from retrieval.index import default_embed

    manifest = _index_manifest(g)
    if embed is not None:
        return embed or bool(manifest and manifest.get("dense"))
    if manifest is None:
        return default_embed()
    state = g.store.get_meta(POLICY_META)
    return bool(manifest.get("dense")) or (isinstance(state, dict) and state.get("state") == "pending")


def pending_texts(g: Indexed) -> int:
    """Searchable texts the next dense sync has to encode. Without a dense leg yet, the BM25 leg is
    synced first (nothing is embedded) and every live row counts; with one, the changed searchable
    nodes since the index's version count."""
    manifest = _index_manifest(g)
    if manifest is None or not manifest.get("dense"):
        from retrieval.index import SearchIndex

        g.sync_index(embed=False)
        folder = SearchIndex.folder_for(g.store)
        assert folder is not None
        return int(SearchIndex.load(folder).alive.sum())
    changes = g.store.changes_since(int(manifest.get("version", 0)))
    n = 0
    for s in range(0, len(changes.upserted), _COUNT_BATCH):
        part = g.store.get_nodes(changes.upserted[s:s + _COUNT_BATCH])
        n += sum(1 for node in part.values() if node.label in SEARCHABLE)
    return n


def student_active(g: Indexed) -> bool:
    """Whether the store's index uses a distilled student (read from the index manifest)."""
    manifest = _index_manifest(g)
    return manifest is not None and is_student_folder(str(manifest.get("encoder") or ""))


def run_policy(g: Indexed, policy: EncoderPolicy | None = None, *, embed: bool | None = None,
               phase: PhaseFn | None = None, train_progress: ProgressFn | None = None,
               teacher_progress: EncodeProgressFn | None = None, embed_progress: EncodeProgressFn | None = None,
               timings: dict[str, float] | None = None) -> PolicyOutcome:
    """Bring ``g``'s search index in step after an ingest, following ``encoder="auto"``.

    Returns what it did; with action ``"none"`` nothing was synced and the caller syncs as usual.
    ``phase(name, message)`` gets a line per phase; ``train_progress`` follows training steps,
    ``teacher_progress`` the teacher's sample and ``embed_progress`` the student's pass over every
    text. ``timings["embed"]`` is added the seconds spent embedding (teacher sample, training and
    the student pass included when it distils).
    """
    pol = policy or EncoderPolicy()
    say = phase or (lambda name, msg: None)
    if g.store.folder is None or not wants_dense(g, embed) or student_active(g):
        return PolicyOutcome("none", threshold=pol.threshold)
    t0 = time.perf_counter()
    g.store.set_meta(POLICY_META, {"state": "pending"})
    manifest = _index_manifest(g)
    n = pending_texts(g)
    if n > pol.threshold and manifest is not None and manifest.get("dense"):
        from retrieval.index import SearchIndex

        folder = SearchIndex.folder_for(g.store)
        assert folder is not None
        SearchIndex.load(folder).drop_dense()  # the student re-encodes every row anyway
        n = pending_texts(g)
    seconds = {"count": time.perf_counter() - t0}
    if n <= pol.threshold:
        g.sync_index(embed=True, progress=embed_progress, timings=timings)
        g.store.set_meta(POLICY_META, {"state": "done", "action": "teacher", "texts": n})
        return PolicyOutcome("teacher", texts=n, threshold=pol.threshold, seconds=seconds)
    t_embed = time.perf_counter()
    cfg = replace(pol.distill or DistillConfig(), sample=pol.sample)
    say("index", f"graph written, BM25 in step ({n:,} texts searchable) in {seconds['count']:.0f}s")
    say("distill", f"{n:,} texts to embed > {pol.threshold:,}: distilling a student on a stratified sample "
                   f"of about {pol.sample.size(n):,} documents (the teacher does not see the rest)")
    t = time.perf_counter()
    try:
        res = distill(g, cfg, progress=train_progress, teacher_progress=teacher_progress)
    except KGError as e:
        raise EncoderPolicyError(f"the ingest was written and BM25 search works, but distilling a student for "
                                 f"{n:,} texts failed: {e} (retry with `kg distill --activate`, or ingest with "
                                 "`--encoder teacher`)") from e
    seconds["distill"] = time.perf_counter() - t
    seconds["teacher"] = float(res.manifest.get("teacher_seconds") or 0.0)  # index sync, corpus, teacher pass
    seconds["fit"] = float(res.manifest.get("fit_seconds") or 0.0)
    sample = res.manifest.get("sample") or {}
    say("distill", f"student {res.path.name} trained in {seconds['distill']:.0f}s "
                   f"(teacher on {sample.get('teacher_texts', 0):,} texts in {res.manifest.get('teacher_seconds', 0)}s)")
    spec = str(Path(res.path).resolve())
    say("activate", f"encoding {n:,} texts with the student")
    t = time.perf_counter()
    checkpoint("distill.activate")
    act: dict[str, float] = {}
    g.sync_index(embed=True, encoder=spec, progress=embed_progress, timings=act)
    seconds["activate"] = time.perf_counter() - t
    seconds["student_encode"] = act.get("embed", 0.0)  # the rest of "activate": index rows, ANN build, save
    g.store.set_meta(POLICY_META, {"state": "done", "action": "distilled", "texts": n, "student": spec})
    say("activate", f"{n:,} texts encoded and indexed in {seconds['activate']:.0f}s")
    if timings is not None:
        timings["embed"] = timings.get("embed", 0.0) + time.perf_counter() - t_embed
    return PolicyOutcome("distilled", texts=n, threshold=pol.threshold, student=spec,
                         teacher_texts=int(sample.get("teacher_texts", 0)),
                         sampled_docs=int(sample.get("sampled_docs", 0)), seconds=seconds)


def resolve_ingest_encoder(g: Indexed, encoder: str) -> str | None:
    """The encoder spec an ingest with ``encoder`` switches the store to (None for ``"auto"`` and
    ``"teacher"``, which keep the store's encoder); ConfigError for a server store."""
    from kg.distill import resolve_encoder_spec

    key = encoder.strip().lower()
    if key in ENCODER_CHOICES:
        return None
    if g.store.folder is None:
        raise ConfigError(f"--encoder {encoder}: only embedded stores switch encoders; use auto or teacher")
    spec = resolve_encoder_spec(g, encoder)
    return str(Path(spec).expanduser().resolve()) if is_student_folder(spec) else spec


__all__ = ["AUTO_THRESHOLD", "ENCODER_CHOICES", "EncoderPolicy", "EncoderPolicyError", "PhaseFn", "PolicyOutcome",
           "pending_texts", "resolve_ingest_encoder", "run_policy", "student_active", "wants_dense"]
