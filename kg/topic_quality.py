"""Topic quality figures: coherence (gensim), diversity, and the 2-D topic map.

* :func:`coherence` scores each topic's top terms against tokenised reference texts with gensim's
  :class:`~gensim.models.coherencemodel.CoherenceModel` (``c_npmi`` by default, range -1..1; ``c_v``
  range 0..1), and the corpus-level figure is the mean over topics.
* :func:`diversity` is the share of unique words among all topics' top-``k`` terms (1.0: no two
  topics share a top term).
* :func:`topic_map` / :func:`plot_topic_map` draw documents at 2-D coordinates, coloured by topic, with each topic's
  label at its centre: a PNG/SVG/PDF through matplotlib, or a self-contained HTML page (plotly,
  with hover titles) when the file name ends in ``.html``.

>>> diversity([["gene", "cell"], ["gene", "tumor"]], k=2)
0.75
"""

from __future__ import annotations

import hashlib
import html
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kg.errors import ConfigError, require

if TYPE_CHECKING:
    from kg.graph import KnowledgeGraph

COHERENCE_MEASURES = ("c_npmi", "c_v", "c_uci", "u_mass")
TOKEN_PATTERN = r"(?u)\b[^\W\d_][\w-]*[^\W_]\b"
"""Words of two or more characters that start with a letter (no bare numbers)."""
EXTRA_STOP = ("et", "al", "use", "used", "using", "based", "study", "studies", "results", "result",
              "paper", "propose", "proposed", "method", "methods", "approach", "show", "shown",
              "data", "analysis", "new", "different", "found", "observed", "associated")
"""Paper boilerplate dropped on top of the English stop words."""


# -- tokenisation shared by the topic vectorizers and coherence -------------------------------------------
def vectorizer_params(n_docs: int) -> dict[str, Any]:
    """Tokenisation shared by fitting, coherence and transform (JSON-serialisable)."""
    small = n_docs < 20
    return {"token_pattern": TOKEN_PATTERN, "lowercase": True, "extra_stop_words": list(EXTRA_STOP),
            "min_df": 1 if small else 2, "max_df": 1.0 if small else 0.5}


def stop_words(params: dict[str, Any]) -> list[str]:
    """scikit-learn's English stop words plus ``params["extra_stop_words"]``, sorted."""
    feat = require("sklearn.feature_extraction.text", "topics", "topic models")
    return sorted(set(feat.ENGLISH_STOP_WORDS) | set(params.get("extra_stop_words", ())))


def count_vectorizer(params: dict[str, Any], *, vocabulary: list[str] | None = None,
                     df_limits: bool = True) -> Any:
    """A scikit-learn ``CountVectorizer`` for ``params`` (optionally with a fixed vocabulary)."""
    feat = require("sklearn.feature_extraction.text", "topics", "topic models")
    kw: dict[str, Any] = {"token_pattern": params["token_pattern"], "lowercase": params["lowercase"],
                          "stop_words": stop_words(params)}
    if vocabulary is not None:
        kw["vocabulary"] = vocabulary
    elif df_limits:
        kw.update(min_df=params["min_df"], max_df=params["max_df"])
    return feat.CountVectorizer(**kw)


def tokenize(texts: list[str], params: dict[str, Any]) -> list[list[str]]:
    """Token lists as the topic vectorizers see them (for coherence)."""
    analyzer = count_vectorizer(params, df_limits=False).build_analyzer()
    return [analyzer(t) for t in texts]


# -- scores ---------------------------------------------------------------------------------------------


def diversity(topic_terms: Sequence[Sequence[str]], k: int = 10) -> float:
    """Unique words among every topic's top ``k`` terms divided by their total (0.0 for no topics)."""
    tops = [list(t)[:k] for t in topic_terms]
    total = sum(len(t) for t in tops)
    return len({w for t in tops for w in t}) / total if total else 0.0


def coherence(topic_terms: Sequence[Sequence[str]], texts: Sequence[Sequence[str]], *,
              measure: str = "c_npmi", topn: int = 10) -> tuple[float, list[float]]:
    """Corpus-level (mean) and per-topic coherence of ``topic_terms`` on tokenised ``texts``.

    Terms that never occur in ``texts`` are dropped first (gensim refuses unknown words); a topic
    left with fewer than two terms scores NaN and is left out of the mean.

    >>> texts = [["gene", "cell"], ["gene", "cell"], ["rocket", "fuel"]] * 5
    >>> round(coherence([["gene", "cell"], ["rocket", "fuel"]], texts)[0], 3)  # doctest: +SKIP
    1.0
    """
    if measure not in COHERENCE_MEASURES:
        raise ConfigError(f"unknown coherence measure {measure!r}; known: {', '.join(COHERENCE_MEASURES)}")
    if not topic_terms:
        return float("nan"), []
    corpora = require("gensim.corpora", "topics", "topic coherence")
    cm_mod = require("gensim.models.coherencemodel", "topics", "topic coherence")
    dictionary = corpora.Dictionary([list(t) for t in texts])
    known = dictionary.token2id
    kept = [[w for w in list(t)[:topn] if w in known] for t in topic_terms]
    scorable = [i for i, t in enumerate(kept) if len(t) >= 2]
    per = [float("nan")] * len(kept)
    if scorable:
        model = cm_mod.CoherenceModel(topics=[kept[i] for i in scorable], texts=[list(t) for t in texts],
                                      dictionary=dictionary, coherence=measure, topn=topn, processes=1)
        for i, v in zip(scorable, model.get_coherence_per_topic(), strict=True):
            per[i] = float(v) if math.isfinite(v) else float("nan")
    finite = [v for v in per if math.isfinite(v)]
    return (float(np.mean(finite)) if finite else float("nan")), per


# -- the topic map ---------------------------------------------------------------------------------
_OUTLIER = "#c9c9c9"


def _palette(n: int) -> list[str]:
    """``n`` distinct, readable colours (tab20 first, then evenly spaced hues)."""
    base = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf",
            "#bcbd22", "#7f7f7f", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94",
            "#f7b6d2", "#9edae5", "#dbdb8d", "#393b79"]
    if n <= len(base):
        return base[:n]
    import colorsys

    extra = [colorsys.hsv_to_rgb((i * 0.618034) % 1.0, 0.55, 0.85) for i in range(n - len(base))]
    return base + ["#" + "".join(f"{int(c * 255):02x}" for c in rgb) for rgb in extra]


def _centres(xy: np.ndarray, labels: np.ndarray, ids: Sequence[int]) -> dict[int, tuple[float, float]]:
    """Each topic's label position: the median of its points (robust to stragglers)."""
    return {t: (float(np.median(xy[labels == t, 0])), float(np.median(xy[labels == t, 1])))
            for t in ids if np.any(labels == t)}


def plot_topic_map(path: str | Path, xy: np.ndarray, labels: np.ndarray, topic_names: dict[int, str], *,
                   titles: Sequence[str] | None = None, title: str = "Topic map",
                   subtitle: str = "", max_labels: int = 25) -> Path:
    """Write a 2-D topic map to ``path`` (``.png``/``.svg``/``.pdf`` via matplotlib, ``.html`` via plotly).

    ``xy``: ``(n, 2)`` document coordinates; ``labels``: topic index per document (-1: outlier);
    ``topic_names``: topic index -> short label; ``titles``: document titles for HTML hover text.
    Only the ``max_labels`` largest topics are labelled on static images.
    """
    out = Path(path)
    xy = np.asarray(xy, dtype=float)
    labels = np.asarray(labels)
    if xy.ndim != 2 or xy.shape[1] != 2 or len(xy) != len(labels):
        raise ConfigError("plot_topic_map needs (n, 2) coordinates and n labels")
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() in (".html", ".htm"):
        return _plot_html(out, xy, labels, topic_names, titles, title, subtitle)
    if out.suffix.lower() not in (".png", ".svg", ".pdf"):
        raise ConfigError(f"unsupported plot format {out.suffix!r}; use .png, .svg, .pdf or .html")
    return _plot_static(out, xy, labels, topic_names, title, subtitle, max_labels)


def _plot_static(out: Path, xy: np.ndarray, labels: np.ndarray, names: dict[int, str], title: str,
                 subtitle: str, max_labels: int) -> Path:
    mpl = require("matplotlib", "topics", "the topic map")
    mpl.use("Agg")
    plt = require("matplotlib.pyplot", "topics", "the topic map")
    ids = sorted(names, key=lambda t: (-int(np.sum(labels == t)), t))
    colours = dict(zip(ids, _palette(len(ids)), strict=True))
    size = float(np.clip(24000 / max(len(xy), 1), 5, 26))
    fig = plt.figure(figsize=(14, 8.4), dpi=100)
    grid = fig.add_gridspec(1, 2, width_ratios=[3.0, 1.0], wspace=0.02, left=0.02, right=0.99, top=0.88, bottom=0.03)
    ax = fig.add_subplot(grid[0])
    lax = fig.add_subplot(grid[1])
    out_mask = ~np.isin(labels, ids)
    if out_mask.any():
        ax.scatter(xy[out_mask, 0], xy[out_mask, 1], s=size * 0.6, c=_OUTLIER, alpha=0.5, linewidths=0,
                   rasterized=True)
    for t in reversed(ids):  # largest topics drawn last, on top
        m = labels == t
        ax.scatter(xy[m, 0], xy[m, 1], s=size, c=colours[t], alpha=0.75, linewidths=0, rasterized=True)
    ax.set_xticks([])
    ax.set_yticks([])
    for side in ax.spines.values():
        side.set_visible(False)
    fig.text(0.02, 0.955, title, fontsize=17, fontweight="bold", va="center")
    if subtitle:
        fig.text(0.02, 0.915, subtitle, fontsize=10, color="#555555", va="center")
    _place_labels(fig, ax, _centres(xy, labels, ids), ids[:max_labels], names, colours)
    _legend(lax, ids[:max_labels], names, colours, labels, int(out_mask.sum()))
    fig.savefig(out, dpi=100, facecolor="white")
    plt.close(fig)
    return out


_OFFSETS = [(0, 0), (0, 20), (0, -20), (45, 0), (-45, 0), (40, 22), (-40, 22), (40, -22), (-40, -22),
            (0, 38), (0, -38), (70, 0), (-70, 0)]


def _place_labels(fig: Any, ax: Any, centres: dict[int, tuple[float, float]], ids: list[int],
                  names: dict[int, str], colours: dict[int, str]) -> None:
    """Greedy, largest topic first: a label at its centre or a nearby free spot (with a leader line);
    where none is free, a numbered badge that the side legend explains."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    placed: list[Any] = []
    box = {"boxstyle": "round,pad=0.3", "ec": "none", "alpha": 0.9}
    for rank, t in enumerate(ids, 1):
        if t not in centres:
            continue
        done = False
        for dx, dy in _OFFSETS:
            arrow = None if (dx, dy) == (0, 0) else {"arrowstyle": "-", "color": "#666666", "lw": 0.7}
            ann = ax.annotate(_wrap(names[t], 24), centres[t], xytext=(dx, dy), textcoords="offset points",
                              ha="center", va="center", fontsize=8.6, fontweight="bold", color="#1a1a1a",
                              bbox={**box, "fc": _tint(colours[t])}, arrowprops=arrow, zorder=5)
            bb = ann.get_window_extent(renderer).expanded(1.04, 1.08)
            if frame.contains(bb.x0, bb.y0) and frame.contains(bb.x1, bb.y1) and not any(bb.overlaps(p) for p in placed):
                placed.append(bb)
                done = True
                break
            ann.remove()
        if not done:
            badge = {"boxstyle": "circle,pad=0.25", "fc": colours[t], "ec": "white", "lw": 0.8}
            for dx, dy in [*_OFFSETS[1:], (0, 0)]:
                arrow = None if (dx, dy) == (0, 0) else {"arrowstyle": "-", "color": "#666666", "lw": 0.6}
                ann = ax.annotate(str(rank), centres[t], xytext=(dx * 0.5, dy * 0.7), textcoords="offset points",
                                  ha="center", va="center", fontsize=7.5, fontweight="bold", color="white",
                                  bbox=badge, arrowprops=arrow, zorder=6)
                bb = ann.get_window_extent(renderer)
                if (dx, dy) == (0, 0) or not any(bb.overlaps(p) for p in placed):
                    placed.append(bb)
                    break
                ann.remove()


def _tint(colour: str, amount: float = 0.72) -> tuple[float, float, float]:
    """``colour`` mixed with white (label backgrounds that keep dark text readable)."""
    rgb = [int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    return (rgb[0] + (1 - rgb[0]) * amount, rgb[1] + (1 - rgb[1]) * amount, rgb[2] + (1 - rgb[2]) * amount)


def _legend(lax: Any, ids: list[int], names: dict[int, str], colours: dict[int, str], labels: np.ndarray,
            outliers: int) -> None:
    """The side panel: the labelled topics by size, numbered like the map's badges."""
    lax.axis("off")
    lax.set_xlim(0, 1)
    lax.set_ylim(0, 1)
    rows = len(ids) + (1 if outliers else 0)
    step = min(0.045, 0.94 / max(rows + 1, 1))
    lax.text(0.0, 0.985, "Largest topics (documents)", fontsize=10.5, fontweight="bold", va="top")
    y = 0.985 - step * 1.3
    for rank, t in enumerate(ids, 1):
        lax.scatter([0.03], [y], s=55, c=colours[t], linewidths=0)
        name = names[t] if len(names[t]) <= 34 else names[t][:33] + "…"
        lax.text(0.08, y, f"{rank:>2}. {name}", fontsize=8.3, va="center", color="#222222")
        lax.text(1.0, y, f"{int(np.sum(labels == t)):,}", fontsize=8.3, va="center", ha="right", color="#555555")
        y -= step
    if outliers:
        lax.scatter([0.03], [y], s=55, c=_OUTLIER, linewidths=0)
        lax.text(0.08, y, "outliers (no topic)", fontsize=8.3, va="center", color="#555555", style="italic")
        lax.text(1.0, y, f"{outliers:,}", fontsize=8.3, va="center", ha="right", color="#555555")


def _wrap(text: str, width: int) -> str:
    """Break a label into lines of about ``width`` characters at ``·``/space boundaries."""
    words = text.split(" ")
    lines: list[str] = []
    cur = ""
    for w in words:
        if cur and len(cur) + 1 + len(w) > width:
            lines.append(cur)
            cur = w
        else:
            cur = f"{cur} {w}".strip()
    if cur:
        lines.append(cur)
    return "\n".join(lines[:3])


def _plot_html(out: Path, xy: np.ndarray, labels: np.ndarray, names: dict[int, str],
               titles: Sequence[str] | None, title: str, subtitle: str) -> Path:
    go: Any = require("plotly.graph_objects", "topics", "the HTML topic map")
    ids = sorted(names, key=lambda t: (-int(np.sum(labels == t)), t))
    colours = dict(zip(ids, _palette(len(ids)), strict=True))
    hover = [html.escape(str(t))[:140] for t in (titles or [""] * len(xy))]
    fig = go.Figure()
    out_mask = ~np.isin(labels, ids)
    if out_mask.any():
        fig.add_trace(go.Scattergl(x=xy[out_mask, 0], y=xy[out_mask, 1], mode="markers", name="outliers",
                                   marker={"size": 4, "color": _OUTLIER, "opacity": 0.5},
                                   text=[hover[i] for i in np.flatnonzero(out_mask)], hoverinfo="text"))
    centres = _centres(xy, labels, ids)
    for t in ids:
        m = np.flatnonzero(labels == t)
        fig.add_trace(go.Scattergl(x=xy[m, 0], y=xy[m, 1], mode="markers", name=f"{names[t]} ({len(m)})",
                                   marker={"size": 6, "color": colours[t], "opacity": 0.75},
                                   text=[f"<b>{html.escape(names[t])}</b><br>{hover[i]}" for i in m],
                                   hoverinfo="text"))
    for t in ids[:40]:
        if t in centres:
            fig.add_annotation(x=centres[t][0], y=centres[t][1], text=f"<b>{html.escape(names[t])}</b>",
                               showarrow=False, font={"size": 11, "color": "#222"},
                               bgcolor="rgba(255,255,255,0.7)")
    fig.update_layout(title={"text": f"{html.escape(title)}<br><sup>{html.escape(subtitle)}</sup>"},
                      template="plotly_white", width=1200, height=850,
                      xaxis={"visible": False}, yaxis={"visible": False},
                      legend={"itemsizing": "constant", "font": {"size": 10}})
    out.write_text(fig.to_html(include_plotlyjs=True, full_html=True), encoding="utf-8")
    return out


def map_coordinates(vectors: np.ndarray, *, seed: int = 42) -> np.ndarray:
    """2-D coordinates for a topic map: seeded UMAP (cosine) when installed, else PCA.

    Deterministic for a given seed. Fewer than 4 rows are laid out by PCA.
    """
    x = np.asarray(vectors, dtype=np.float32)
    n = len(x)
    if n == 0:
        return np.zeros((0, 2), dtype=np.float32)
    if n >= 4:
        try:
            umap = require("umap", "topics", "the topic map")
        except ImportError:
            umap = None
        if umap is not None:
            reducer = umap.UMAP(n_neighbors=min(15, n - 1), n_components=2, min_dist=0.1, metric="cosine",
                                random_state=seed, n_jobs=1, init="spectral" if n > 10 else "random")
            return np.asarray(reducer.fit_transform(x), dtype=np.float32)
    centred = x - x.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    xy = centred @ vt[:2].T
    if xy.shape[1] < 2:
        xy = np.hstack([xy, np.zeros((n, 2 - xy.shape[1]))])
    return np.asarray(xy, dtype=np.float32)


def topic_map(g: KnowledgeGraph, path: str | Path, *, max_labels: int = 25) -> Path:
    """Draw the stored topics as a 2-D map (see :func:`kg.topic_quality.plot_topic_map`).

    Documents are placed by seeded UMAP of their stored embeddings (NMF topic weights when the
    store has none); the layout is cached in the model folder until the document set changes.
    """
    from kg.model import Rel
    from kg.topics import (
        DOC_LABELS,
        _save_npy,
        corpus,
        load_model,
        model_dir,
        nmf_transform,
        stored_embeddings,
        topics,
    )

    model = load_model(g)
    if model is None:
        raise ConfigError("no topics yet; run kg topics")
    rep = topics(g)
    ids, texts, titles = corpus(g, tuple(model["config"].get("labels", DOC_LABELS)))
    index = {tid: i for i, tid in enumerate(model["topic_ids"])}
    doc_topic = {e.source: index.get(e.target, -1) for e in g.store.iter_edges([Rel.HAS_TOPIC])}
    labels = np.asarray([doc_topic.get(i, -1) for i in ids], dtype=np.int64)
    folder = model_dir(g)
    key = hashlib.sha256(json.dumps([model["hash"], ids]).encode()).hexdigest()
    cache = folder / "map2d.npy"
    meta = folder / "map2d.json"
    if cache.exists() and meta.exists() and json.loads(meta.read_text()).get("key") == key:
        xy = np.load(cache, allow_pickle=False)
    else:
        vecs = stored_embeddings(g, ids)
        if vecs is None:
            vecs = nmf_transform(model, texts)
        xy = map_coordinates(vecs, seed=int(model["config"].get("seed", 42)))
        _save_npy(folder, "map2d.npy", xy)
        meta.write_text(json.dumps({"key": key}))
    names = {index[t.id]: t.label for t in rep.topics if t.level == 0 and t.id in index}
    measure = {"c_npmi": "NPMI", "c_v": "C_v"}.get(rep.coherence_measure, rep.coherence_measure)
    coh = f"{rep.coherence:.3f}" if rep.coherence is not None else "n/a"
    sub = (f"{len(ids):,} documents · {len(names)} topics ({rep.method}) · "
           f"{int(np.sum(labels < 0)):,} outliers · coherence ({measure}) {coh} · diversity {rep.diversity:.2f}")
    return plot_topic_map(path, xy, labels, names, titles=titles, title="Topic map", subtitle=sub,
                          max_labels=max_labels)
