"""The seeded synthetic paper corpus shared by the latency and scale benchmarks.

One generator, two ways to write it:

* ``fmt="beir"`` (``query_latency.py``, ``web_latency.py``): one BEIR ``corpus.jsonl`` with ``_id``,
  ``title``, ``text`` and ``metadata`` (authors, year, keywords, ``outbound_citations``);
* ``fmt="s2orc"`` (``scale.py``): S2ORC metadata records (``paper_id``, ``title``, ``abstract``,
  ``authors`` as ``{first, middle, last, suffix}``, ``year``, ``venue``, ``mag_field_of_study``,
  ``outbound_citations``) in JSONL shards of ``shard_docs`` records (``papers/part-00000.jsonl``, ...),
  the files a user would ingest; ``extra`` more records go to ``add/add-00000.jsonl`` (the file the
  scale benchmark adds and removes; the shards never cite it).

The text is realistic in length and vocabulary: a Zipfian vocabulary (exponent 1.07) of the real
words of SciFact ranked by frequency (``../shared/eval/scifact``, when present) extended with
pseudo-words up to 50,000, 5-12 title words and 120-200 abstract words per paper, 25% of them drawn
from the paper's latent topic (256 topics of 60 mid-frequency words). Authors, keywords and
citations stay inside a topic, so the graph has topical structure; venues and fields of study follow
the topic. Vectors: 384-d unit rows, topic centroid plus noise (cosine to the centroid about 0.7),
so every query has real near neighbours. Queries: 2-6 distinct words mixing a source paper's topic
words, its own words and rare words, each with a vector near its source paper's vector.

Everything follows from ``seed``: the same seed gives the same bytes (the BEIR output is the one
``query_latency.py`` has always written). Records stream to disk in chunks of 20,000; with
``vectors_path`` the vectors stream into a ``.npy`` file (memory-mapped) instead of memory.

    >>> c = Corpus(1000, 5, 0, Path("/tmp/synth"), keep_texts=False, fmt="s2orc")  # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
import string
import time
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SCIFACT = ROOT.parent / "shared" / "eval" / "scifact"
DIM = 384
VOCAB = 50_000
ZIPF_S = 1.07
TOPICS = 256
TOPIC_WORDS = 60
TOPIC_SHARE = 0.25  # share of a document's words drawn from its topic's words
DATASET = "synth"
CHUNK = 20_000
FIRST = ["Ana", "Bo", "Chen", "Dana", "Eli", "Fei", "Gus", "Hana", "Ivan", "Jun", "Kai", "Lea",
         "Mo", "Nia", "Omar", "Pia", "Qi", "Rui", "Sam", "Tao", "Uma", "Vic", "Wen", "Xu"]
LAST = ["Lee", "Kim", "Park", "Chen", "Wang", "Li", "Zhang", "Liu", "Smith", "Jones", "Brown", "Garcia",
        "Miller", "Davis", "Wilson", "Moore", "Taylor"]
FIELDS = ["Medicine", "Biology", "Computer Science", "Chemistry", "Physics", "Psychology", "Mathematics",
          "Materials Science", "Environmental Science", "Economics"]
VENUE_KINDS = ["Journal of", "Proceedings of the Conference on", "Transactions on", "Letters in",
               "Workshop on"]


def unit(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (float32)."""
    x = np.asarray(x, dtype=np.float32)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def vocabulary(seed: int) -> list[str]:
    """Real words ranked by SciFact frequency (when available), then pseudo-words up to VOCAB."""
    import re

    words: list[str] = []
    path = SCIFACT / "corpus.jsonl"
    if path.exists():
        counts: Counter[str] = Counter()
        pat = re.compile(r"[a-z][a-z]+")
        with open(path) as fh:
            for line in fh:
                d = json.loads(line)
                counts.update(pat.findall(f"{d.get('title', '')} {d.get('text', '')}".lower()))
        words = [w for w, _ in counts.most_common(VOCAB)]
    rng = np.random.default_rng(seed)
    letters = np.array(list(string.ascii_lowercase))
    seen = set(words)
    while len(words) < VOCAB:
        w = "".join(rng.choice(letters, size=int(rng.integers(4, 11))))
        if w not in seen:
            seen.add(w)
            words.append(w)
    return words


class _Shards:
    """JSONL files of at most ``per`` records each, opened as records arrive."""

    def __init__(self, folder: Path, stem: str, per: int) -> None:
        self.folder, self.stem, self.per = folder, stem, max(1, per)
        self.paths: list[Path] = []
        self._fh: object = None
        self._count = 0

    def write(self, line: bytes) -> None:
        if self._fh is None or self._count >= self.per:
            self.close()
            self.folder.mkdir(parents=True, exist_ok=True)
            path = self.folder / f"{self.stem}-{len(self.paths):05d}.jsonl"
            self.paths.append(path)
            self._fh = open(path, "wb")  # noqa: SIM115  (closed by close())
            self._count = 0
        self._fh.write(line)  # type: ignore[attr-defined]
        self._count += 1

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()  # type: ignore[attr-defined]
            self._fh = None


class Corpus:
    """A seeded synthetic corpus: files on disk, texts (optional), topic per doc, vectors, queries.

    ``n`` papers (plus ``extra`` for ``fmt="s2orc"``, written to their own file), ``n_queries``
    queries drawn from the first ``n``. Attributes: ``path`` (BEIR: the corpus file; S2ORC: the
    shard folder), ``paths`` (the shard files), ``add_paths`` (the extra file), ``texts`` (each
    paper's ``title\\nabstract``, as kgloom indexes it, when ``keep_texts``), ``topic``,
    ``vectors`` (``(n + extra, 384)`` unit rows, row i = paper i), ``queries``, ``query_vectors``
    (query text -> vector), ``query_sources`` (the paper each query was drawn from), ``gen_s``.
    """

    def __init__(self, n: int, n_queries: int, seed: int, folder: Path, keep_texts: bool, *,
                 fmt: str = "beir", shard_docs: int = 10_000, extra: int = 0,
                 vectors_path: Path | None = None) -> None:
        if fmt not in ("beir", "s2orc"):
            raise ValueError(f"unknown corpus format {fmt!r}: 'beir' or 's2orc'")
        if extra and fmt != "s2orc":
            raise ValueError("extra papers are written only with fmt='s2orc'")
        t0 = time.perf_counter()
        self.n = n
        total = n + extra
        rng = np.random.default_rng(seed)
        words = vocabulary(seed)
        vocab = np.array(words, dtype=object)
        v = len(words)
        p = 1.0 / np.arange(1, v + 1) ** ZIPF_S
        cdf = np.cumsum(p / p.sum())
        topic_words = rng.integers(300, min(v, 20_000), size=(TOPICS, TOPIC_WORDS))
        self.topic = rng.integers(0, TOPICS, size=total)
        # queries: a source document each (its words, its topic, a vector near its vector)
        q_src = rng.integers(0, n, size=n_queries)
        self.query_sources = q_src
        src_words: dict[int, list[int]] = {}
        want = set(q_src.tolist())
        # authors, keywords and citations stay inside a topic, so the graph has topical structure
        n_auth = max(1000, total // 3)
        by_topic = [np.flatnonzero(self.topic == t) for t in range(TOPICS)]
        venues = [f"{VENUE_KINDS[t % len(VENUE_KINDS)]} {words[int(topic_words[t, 0])].capitalize()} "
                  f"{words[int(topic_words[t, 1])].capitalize()}" for t in range(TOPICS)]
        self.texts: list[str] = []
        folder.mkdir(parents=True, exist_ok=True)
        import orjson

        beir = fmt == "beir"
        self.paths: list[Path] = []
        self.add_paths: list[Path] = []
        if beir:
            self.path = folder / "corpus.jsonl"
            self.paths = [self.path]
            fh = open(self.path, "wb")  # noqa: SIM115  (closed below)
            main = None
            add = None
        else:
            self.path = folder / "papers"
            main = _Shards(self.path, "part", shard_docs)
            add = _Shards(folder / "add", "add", max(1, extra))
        try:
            for s in range(0, total, CHUNK):
                e = min(total, s + CHUNK)
                lens = rng.integers(120, 201, size=e - s)
                tlens = rng.integers(5, 13, size=e - s)
                tot = lens + tlens
                ids = np.searchsorted(cdf, rng.random(int(tot.sum())))
                ids = np.minimum(ids, v - 1)
                own = rng.random(len(ids)) < TOPIC_SHARE
                doc_of = np.repeat(np.arange(s, e), tot)
                ids[own] = topic_words[self.topic[doc_of[own]], rng.integers(0, TOPIC_WORDS, int(own.sum()))]
                wl = vocab[ids].tolist()
                ends = np.cumsum(tot).tolist()
                starts = [0, *ends[:-1]]
                n_a = rng.integers(1, 7, size=e - s)
                n_c = rng.integers(0, 9, size=e - s)
                years = rng.integers(1990, 2026, size=e - s)
                for j, (a, b) in enumerate(zip(starts, ends, strict=True)):
                    i = s + j
                    tl = int(tlens[j])
                    title = " ".join(wl[a : a + tl]).capitalize()
                    body = " ".join(wl[a + tl : b])
                    if i in want:
                        src_words[i] = ids[a + tl : b].tolist()
                    t = int(self.topic[i])
                    auth = [int((t + TOPICS * int(x)) % n_auth) for x in rng.integers(0, n_auth // TOPICS + 1, int(n_a[j]))]
                    same = by_topic[t]
                    cites = sorted({int(same[x]) for x in rng.integers(0, len(same), int(n_c[j]))} - {i})
                    kws = rng.integers(0, 20, 2)
                    if beir:
                        meta = {"authors": [f"{FIRST[a % len(FIRST)]} {LAST[a % len(LAST)]}{a}" for a in dict.fromkeys(auth)],
                                "year": int(years[j]),
                                "keywords": [f"topic{t}-kw{int(x)}" for x in kws],
                                "outbound_citations": [str(c) for c in cites]}
                        fh.write(orjson.dumps({"_id": str(i), "title": title, "text": body, "metadata": meta}))
                        fh.write(b"\n")
                    else:
                        if i < n:  # the shards never cite the paper file that is added later
                            cites = [c for c in cites if c < n]
                        rec = {"paper_id": str(i), "title": title, "abstract": body,
                               "authors": [{"first": FIRST[a % len(FIRST)], "middle": [],
                                            "last": f"{LAST[a % len(LAST)]}{a}", "suffix": ""}
                                           for a in dict.fromkeys(auth)],
                               "year": int(years[j]), "venue": venues[t],
                               "mag_field_of_study": [FIELDS[t % len(FIELDS)]],
                               "outbound_citations": [str(c) for c in cites]}
                        (main if i < n else add).write(orjson.dumps(rec) + b"\n")  # type: ignore[union-attr]
                    if keep_texts:
                        self.texts.append(f"{title}\n{body}")  # what kgloom indexes (node_text)
        finally:
            if beir:
                fh.close()
            else:
                main.close()  # type: ignore[union-attr]
                add.close()  # type: ignore[union-attr]
                self.paths, self.add_paths = main.paths, add.paths  # type: ignore[union-attr]
        # vectors: topic centroid + isotropic noise of about the same norm (cos to centroid ~0.7)
        centroids = unit(rng.standard_normal((TOPICS, DIM), dtype=np.float32))
        if vectors_path is not None:
            self.vectors: np.ndarray = np.lib.format.open_memmap(vectors_path, mode="w+", dtype=np.float32,
                                                                  shape=(total, DIM))
        else:
            self.vectors = np.empty((total, DIM), dtype=np.float32)
        for s in range(0, total, 100_000):
            e = min(total, s + 100_000)
            noise = rng.standard_normal((e - s, DIM), dtype=np.float32) / math.sqrt(DIM)
            self.vectors[s:e] = unit(centroids[self.topic[s:e]] + noise)
        if isinstance(self.vectors, np.memmap):
            self.vectors.flush()
        # queries: 2-6 distinct words mixing the source doc's topic words (mid frequency), words of
        # the source doc (any frequency, stopwords included) and rare words (often absent)
        self.queries: list[str] = []
        for i in q_src.tolist():
            t = int(self.topic[i])
            k = int(rng.integers(2, 7))
            picked: list[str] = []
            while len(picked) < k:
                r = rng.random()
                if r < 0.45:
                    w = words[int(topic_words[t, rng.integers(0, TOPIC_WORDS)])]
                elif r < 0.8:
                    sw = src_words[i]
                    w = words[sw[int(rng.integers(0, len(sw)))]]
                else:
                    w = words[int(rng.integers(2000, v))]
                if w not in picked:
                    picked.append(w)
            self.queries.append(" ".join(picked))
        noise = rng.standard_normal((n_queries, DIM), dtype=np.float32) * (0.6 / math.sqrt(DIM))
        qv = unit(self.vectors[q_src] + noise)
        self.query_vectors = {q: qv[j] for j, q in enumerate(self.queries)}
        self.gen_s = time.perf_counter() - t0


class PrecomputedEncoder:
    """Stands in for MiniLM at query time: precomputed query vectors, looked up by text."""

    name = "minilm"
    dim = DIM

    def __init__(self, vectors: dict[str, np.ndarray]) -> None:
        self.vectors = vectors

    def encode_query(self, text: str) -> np.ndarray:
        """The precomputed vector of ``text`` (KeyError for an unknown query)."""
        return self.vectors[text]

    def encode(self, texts: list[str], *, batch_size: int = 64, show_progress: bool = False) -> np.ndarray:
        """The precomputed vectors of ``texts``, stacked."""
        return np.stack([self.vectors[t] for t in texts]) if texts else np.zeros((0, DIM), np.float32)


def paper_number(node_id: str) -> int:
    """The generated paper number in a node id (``paper:beir:synth:12``, ``paper:s2:12`` -> 12)."""
    return int(node_id.rsplit(":", 1)[1])


def main() -> None:
    """Generate a corpus into ``--out`` and print (and append to ``--results``) one JSON line with
    its generation time, CPU time, peak RSS and size."""
    import argparse
    import os
    import resource

    ap = argparse.ArgumentParser(description="Generate the seeded synthetic corpus (S2ORC-style JSONL shards).")
    ap.add_argument("--docs", type=int, default=100_000)
    ap.add_argument("--extra", type=int, default=1000, help="papers in the separate file (add/)")
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--shard-docs", type=int, default=10_000)
    ap.add_argument("--out", required=True, help="folder to write (papers/, add/, vectors.npy)")
    ap.add_argument("--results", default=str(ROOT / "benchmarks" / "results" / "synth_corpus.jsonl"))
    args = ap.parse_args()
    out = Path(args.out)
    c0 = time.process_time()
    c = Corpus(args.docs, args.queries, args.seed, out, keep_texts=False, fmt="s2orc", shard_docs=args.shard_docs,
               extra=args.extra, vectors_path=out / "vectors.npy")
    usage = resource.getrusage(resource.RUSAGE_SELF)
    line = json.dumps({"benchmark": "synth_corpus", "docs": args.docs, "extra": args.extra, "files": len(c.paths),
                       "gen_s": round(c.gen_s, 1), "cpu_s": round(time.process_time() - c0, 1),
                       "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
                       "disk_mb": round(sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) / 2**20, 1),
                       "loadavg": [round(x, 2) for x in os.getloadavg()],
                       "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    print(line, flush=True)
    with open(args.results, "a") as fh:
        fh.write(line + "\n")


if __name__ == "__main__":
    main()
