"""The distillation report: teacher vs student on a BEIR folder, with a graph-term ablation.

:func:`distill_report` builds (or reuses) the ``kg eval`` store of a BEIR folder, scores BM25 and the
teacher's dense and hybrid search, distils a student on the corpus text only (never the queries or
qrels), scores it, and repeats the distillation with the graph term off at the same budget. Each
student is scored on a temporary copy of the store (:func:`retrieval.eval.evaluation_copy`) with the student
activated through the ordinary encoder seam, so the store's own index keeps its teacher vectors.

Reported (one JSON object): ``bm25``, ``teacher_dense``, ``teacher_hybrid``, ``student_dense``,
``student_hybrid`` (nDCG@10), ``kept_pct`` (student hybrid as % of teacher hybrid),
``gain_kept_pct`` (% of the teacher's hybrid gain over BM25 that the student keeps),
``teacher_docs_per_s`` / ``student_docs_per_s`` and their ratio ``speedup`` (encoder throughput on the
corpus texts), ``teacher_query_ms`` / ``student_query_ms`` (encoder time per query inside search),
``train_seconds``, ``graph_term_delta`` (student hybrid with minus without the graph term) and
``ablation`` with the no-graph run.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kg.distill import (
    DistillConfig,
    Indexed,
    ProgressFn,
    active_encoder,
    deactivate,
    distill,
    resolve_encoder_spec,
)
from kg.searchtext import node_text
from retrieval.student_encoder import StaticEncoder, is_student_folder

if TYPE_CHECKING:
    from retrieval.backends import SearchBackend


def _score(g: SearchBackend[Any], queries: dict[str, str], qrels: dict[str, dict[str, int]],
           mode: str, fusion: str = "zscore") -> tuple[float, float]:
    """nDCG@10 of ``mode`` (hybrid legs fused with ``fusion``) and the mean encoder milliseconds per
    query (0 for BM25)."""
    from retrieval.eval import beir_ranking, score_run
    from retrieval.hybrid import SearchConfig, search

    run: dict[str, dict[str, float]] = {}
    enc_ms = 0.0
    cfg = SearchConfig(fusion=fusion)
    for qid, text in queries.items():
        res = search(g, text, k=100, mode=mode, config=cfg)
        enc_ms += float(res.timings_ms.get("encode", 0.0))
        run[qid] = beir_ranking(res)
    return score_run(qrels, run)["ndcg@10"], enc_ms / max(1, len(queries))


def score_encoder(g: Indexed, spec: str, queries: dict[str, str], qrels: dict[str, dict[str, int]],
                  *, fusion: str = "zscore", show_progress: bool = False) -> dict[str, float]:
    """Dense and hybrid nDCG@10 with encoder ``spec`` (``"student"``: the latest), on a store copy;
    hybrid legs fused with ``fusion`` (``"zscore"``, the default, or ``"rrf"``)."""
    spec = resolve_encoder_spec(g, spec)
    from retrieval.eval import evaluation_copy

    with evaluation_copy(g) as tmp:
        tmp.sync_index(True, encoder=spec, show_progress=show_progress)
        dense, _ = _score(tmp, queries, qrels, "dense")
        hybrid, ms = _score(tmp, queries, qrels, "hybrid", fusion)
    return {"dense": dense, "hybrid": hybrid, "query_ms": ms}


def docs_per_second(encoder: Any, texts: list[str], *, min_seconds: float = 2.0) -> float:
    """Encoder throughput on ``texts`` (repeated until ``min_seconds`` have passed)."""
    encoder.encode(texts[: min(len(texts), 16)])  # warm-up
    n, t0 = 0, time.perf_counter()
    while True:
        encoder.encode(texts)
        n += len(texts)
        el = time.perf_counter() - t0
        if el >= min_seconds:
            return n / el


def _pct(a: float, b: float) -> float:
    return round(100.0 * a / b, 1) if b else 0.0


def distill_report(folder: str | Path, *, config: DistillConfig | None = None, store: str | None = None,
                   split: str = "test", teacher_sample: int = 256, progress: ProgressFn | None = None,
                   show_progress: bool = False) -> dict[str, Any]:
    """Distil on a BEIR folder's corpus and compare with the teacher (see the module docstring)."""
    from retrieval.backends import backend_for
    from retrieval.encoder import load_encoder
    from retrieval.eval import eval_store, load_qrels, load_queries

    cfg = config or DistillConfig()
    folder = Path(folder)
    qrels = load_qrels(folder, split)
    queries = {q: t for q, t in load_queries(folder).items() if q in qrels}
    st = eval_store(folder, store, embed=True, show_progress=show_progress)
    try:
        g = backend_for(st)
        if is_student_folder(active_encoder(g)):
            deactivate(g, show_progress=show_progress)
        teacher_spec = resolve_encoder_spec(g, "teacher")
        bm25, _ = _score(g, queries, qrels, "bm25")
        t_dense, _ = _score(g, queries, qrels, "dense")
        t_hybrid, t_ms = _score(g, queries, qrels, "hybrid")
        idx = g.index()
        assert idx is not None  # an embedded store
        rows = [r.id for r in idx.rows if r is not None]
        nodes = st.get_nodes(rows)
        texts = [node_text(nodes[i]) for i in rows if i in nodes]
        teacher_dps = docs_per_second(load_encoder(teacher_spec), texts[:teacher_sample], min_seconds=5.0)

        main = distill(g, cfg, progress=progress, show_progress=show_progress)
        student = score_encoder(g, str(main.path), queries, qrels, show_progress=show_progress)
        student_dps = docs_per_second(StaticEncoder.load(main.path), texts)
        pairs = dict(main.manifest.get("pairs") or {})
        ablation: dict[str, Any]
        if cfg.graph and pairs:
            with tempfile.TemporaryDirectory(prefix="kg-ablation-") as tmp:
                off = distill(g, replace(cfg, graph=False), out=Path(tmp) / "student-nograph", progress=progress)
                nog = score_encoder(g, str(off.path), queries, qrels)
            ablation = {"graph": False, "student_dense": nog["dense"], "student_hybrid": nog["hybrid"],
                        "gain_kept_pct": _pct(nog["hybrid"] - bm25, t_hybrid - bm25),
                        "train_seconds": off.train_seconds}
            delta = round(student["hybrid"] - nog["hybrid"], 4)
            note = (f"graph term {'helps' if delta > 0 else 'does not help' if delta < 0 else 'makes no difference'}"
                    f" on {folder.resolve().name}: {delta:+.4f} hybrid nDCG@10 over {sum(pairs.values())} pairs")
        else:
            ablation = {"graph": False, "student_dense": student["dense"], "student_hybrid": student["hybrid"],
                        "gain_kept_pct": _pct(student["hybrid"] - bm25, t_hybrid - bm25), "train_seconds": 0.0}
            delta = 0.0
            note = ("graph term switched off: no ablation" if not cfg.graph else
                    f"no graph pairs in {folder.resolve().name} (no citations, shared authors or keywords): "
                    "the graph term is inactive, so both runs are the same model")
        return {
            "dataset": folder.resolve().name, "split": split, "queries": len(queries), "docs": len(texts),
            "teacher": teacher_spec, "student": str(main.path),
            "bm25": bm25, "teacher_dense": t_dense, "teacher_hybrid": t_hybrid,
            "student_dense": student["dense"], "student_hybrid": student["hybrid"],
            "kept_pct": _pct(student["hybrid"], t_hybrid), "dense_kept_pct": _pct(student["dense"], t_dense),
            "gain_kept_pct": _pct(student["hybrid"] - bm25, t_hybrid - bm25),
            "teacher_docs_per_s": round(teacher_dps, 1), "student_docs_per_s": round(student_dps, 1),
            "speedup": round(student_dps / teacher_dps, 1) if teacher_dps else 0.0,
            "teacher_query_ms": round(t_ms, 3), "student_query_ms": round(student["query_ms"], 3),
            "train_seconds": main.train_seconds, "fit_seconds": main.manifest.get("fit_seconds"),
            "teacher_seconds": main.manifest.get("teacher_seconds"), "texts": main.manifest.get("texts"),
            "pairs": pairs, "graph_term_delta": delta, "graph_term_note": note, "ablation": ablation,
            "config": main.manifest.get("config"),
        }
    finally:
        st.close()
