"""Latency of the web explorer (``kg serve``): its search API against ``g.search`` itself at 100k
documents, and the first page load in a real browser on the shared-data store.

**Search API.** The 100k store is the one ``benchmarks/query_latency.py`` builds (its seeded
synthetic corpus of ``benchmarks/synth_corpus.py``, ingested with ``embed=False``, plus a dense leg of
generated vectors; the code is imported from there, and the query encoder is the same stub returning precomputed vectors, so
neither side pays query encoding). The app runs under uvicorn on 127.0.0.1 in a child process
(with the same stub); for each query, in rotating order, ``g.search(q, k=10, mode=m)`` is timed directly,
``GET /api/search?q=...&k=10&mode=m`` through the ASGI app in this thread (httpx's ASGI transport:
routing, validation, the explanation, JSON encoding and the middleware, i.e. the app's own cost),
and the same request over HTTP through two keep-alive clients: httpx, and the standard library's
``http.client`` (``http_stdlib_*``: the least Python on the client side, closest to what the API
itself costs a browser's ``fetch``); HTTP adds the loopback round trip and the wake-ups of the two
processes, which a loaded machine delays. JSON is decoded every way. A fourth
timing is ``g.search(..., explain=True)``, the search the API itself asks for (each hit's
explanation). ``*_overhead_p50_ms`` = that p50 - ``g.search`` p50;
``http_overhead_over_explain_p50_ms`` = HTTP p50 - ``g.search(explain=True)`` p50 (and the same
with ``http_stdlib_`` for ``http.client``).

**First page.** Debian's chromium through Playwright opens ``/`` and ``/search?q=...`` on a store
(``--store``; by default one built from ../shared/data in a temporary folder) in a fresh browser
context each time (nothing cached), and reads when the page was ready (the app sets
``data-ready``) with ``performance.now()``, plus the navigation timing's ``domInteractive``.

    .venv/bin/python benchmarks/web_latency.py --docs 100000 --store .kg-demo

One JSON line is printed and appended to ``--out``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))
sys.path.insert(1, str(Path(__file__).resolve().parent))  # after ROOT: benchmarks/ingest.py must not shadow ingest

import query_latency as ql  # noqa: E402  (the 100k store's dense leg)
import synth_corpus as sc  # noqa: E402  (the shared seeded corpus and the query encoder stub)

SHARED = ROOT.parent / "shared" / "data"
READY = "() => document.body.dataset.ready === '1'"


def log(msg: str) -> None:
    print(f"[web_latency {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def p50(xs: list[float]) -> float:
    return round(statistics.median(xs), 3)


def pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return round(s[min(len(s) - 1, int(q * len(s)))], 3)


class Server:
    """``kg serve``'s app under uvicorn on a free 127.0.0.1 port, in a child process (as ``kg serve``
    runs: a client in the same process would share its GIL), optionally with the query encoder stub."""

    def __init__(self, store: Path, vectors: Path | None = None) -> None:
        import subprocess

        import httpx

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child-serve", str(store), "--port", str(self.port)]
        if vectors is not None:
            cmd += ["--vectors", str(vectors)]
        self.proc = subprocess.Popen(cmd)
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.time() + 300
        while True:
            try:
                if httpx.get(self.url + "/api/styles", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert self.proc.poll() is None and time.time() < deadline, "the server did not start"
            time.sleep(0.2)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def child_serve(store: Path, port: int, vectors: Path | None) -> None:
    """The child of :class:`Server`: open the store (with the encoder stub when ``vectors``), warm up, serve."""
    import numpy as np
    import uvicorn

    from kg.graph import KnowledgeGraph
    from kg.web.app import LOCAL_HOSTS, create_app

    g = KnowledgeGraph.open(store, create=False)
    if vectors is not None:
        idx = g.search_index()
        assert idx is not None
        queries = json.loads(vectors.with_suffix(".json").read_text())
        vecs = np.load(vectors, allow_pickle=False)
        idx._encoder = sc.PrecomputedEncoder({q: vecs[i] for i, q in enumerate(queries)})
        g.search(queries[0], k=10)
    else:
        g.search("warm up", k=1)  # the model and index loaded, as in a running kg serve
    uvicorn.run(create_app(g, store_url=str(store), allowed_hosts=LOCAL_HOSTS), host="127.0.0.1", port=port,
                log_level="warning")


def build_store(n: int, queries: int, seed: int, tmp: Path) -> tuple[Any, Any]:
    """The store of ``query_latency.run_size``: corpus, BM25 leg by ingest, generated dense leg."""
    from kg.graph import KnowledgeGraph
    from retrieval.dense import DenseIndex

    log(f"{n} docs: generating and ingesting")
    corpus = sc.Corpus(n, queries, seed, tmp / sc.DATASET, keep_texts=False)
    store = tmp / "store"
    g = KnowledgeGraph.open(store)
    g.ingest(corpus.path, embed=False)
    idx = g.search_index()
    assert idx is not None and len(idx.rows) == n
    dense = DenseIndex(dim=sc.DIM, encoder="minilm")
    dense.add(ql.aligned_vectors(idx, corpus))
    idx.dense = dense
    idx.manifest["dense"] = True
    idx.save()
    g.close()
    del idx, dense, g
    gc.collect()
    g = KnowledgeGraph.open(store)
    sidx = g.search_index()
    assert sidx is not None
    sidx._encoder = sc.PrecomputedEncoder(corpus.query_vectors)
    import numpy as np

    (tmp / "queries.json").write_text(json.dumps(corpus.queries))
    np.save(tmp / "queries.npy", np.stack([corpus.query_vectors[q] for q in corpus.queries]), allow_pickle=False)
    return g, corpus


def time_api(g: Any, queries: list[str], modes: list[str], store: Path, vectors: Path) -> dict[str, Any]:
    """Per mode: ``g.search`` directly, the ASGI app called in this thread (routing, validation,
    explanation, JSON, middleware: the app's own cost), and HTTP to ``kg serve``'s app in a child
    process (adds the loopback round trip and two process wake-ups) through two clients, httpx and
    the standard library's ``http.client`` (both keep-alive; the second adds the least client-side
    Python, as a browser's ``fetch`` adds none), in rotating order."""
    import asyncio
    import http.client
    from urllib.parse import urlencode

    import httpx

    from kg.web.app import create_app

    srv = Server(store, vectors)
    asgi = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(g, store_url="bench")),
                             base_url="http://127.0.0.1")
    loop = asyncio.new_event_loop()
    out: dict[str, Any] = {}
    try:
        lean = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=60)
        with httpx.Client(base_url=srv.url, timeout=60) as client:
            def call(which: int, q: str, mode: str) -> int:
                params = {"q": q, "k": 10, "mode": mode}
                if which == 0:
                    return len(g.search(q, k=10, mode=mode).hits)
                if which == 3:  # what the API asks for: the search with its explanations
                    return len(g.search(q, k=10, mode=mode, explain=True).hits)
                if which == 4:
                    lean.request("GET", "/api/search?" + urlencode(params))
                    resp = lean.getresponse()
                    body = resp.read()
                    assert resp.status == 200, body
                    return len(json.loads(body)["hits"])
                r = loop.run_until_complete(asgi.get("/api/search", params=params)) if which == 1 else \
                    client.get("/api/search", params=params)
                assert r.status_code == 200, r.text
                return len(r.json()["hits"])

            for q in queries[:10]:  # warm-up
                for mode in modes:
                    for which in range(5):
                        call(which, q, mode)
            for mode in modes:
                times: list[list[float]] = [[], [], [], [], []]
                for i, q in enumerate(queries):
                    got = []
                    for j in range(5):
                        which = (i + j) % 5
                        t = time.perf_counter()
                        got.append(call(which, q, mode))
                        times[which].append((time.perf_counter() - t) * 1000)
                    assert len(set(got)) == 1, (mode, q, got)  # the same search every way
                direct, app, http, explained, stdlib = (p50(x) for x in times)
                out[mode] = {"g_search_p50_ms": direct, "asgi_p50_ms": app, "http_p50_ms": http,
                             "asgi_overhead_p50_ms": round(app - direct, 3),
                             "http_overhead_p50_ms": round(http - direct, 3),
                             "g_search_explain_p50_ms": explained,
                             "http_overhead_over_explain_p50_ms": round(http - explained, 3),
                             "g_search_p95_ms": pct(times[0], 0.95), "asgi_p95_ms": pct(times[1], 0.95),
                             "http_p95_ms": pct(times[2], 0.95),
                             "http_stdlib_p50_ms": stdlib, "http_stdlib_p95_ms": pct(times[4], 0.95),
                             "http_stdlib_overhead_p50_ms": round(stdlib - direct, 3),
                             "http_stdlib_overhead_over_explain_p50_ms": round(stdlib - explained, 3)}
                log(f"{mode}: g.search p50 {direct} ms (explain=True {explained} ms), app (ASGI) {app} ms, "
                    f"HTTP {http} ms (httpx), {stdlib} ms (http.client)")
        lean.close()
    finally:
        loop.run_until_complete(asgi.aclose())
        loop.close()
        srv.stop()
    return out


def time_pages(store: Path, runs: int, chromium: str) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    from kg.graph import KnowledgeGraph

    srv = Server(store)
    out: dict[str, Any] = {}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
            for name, path in (("first_page", "/"), ("search_page", "/search?q=knowledge+distillation")):
                ready: list[float] = []
                inter: list[float] = []
                for _ in range(runs):
                    ctx = browser.new_context(base_url=srv.url)
                    page = ctx.new_page()
                    page.goto(path)
                    page.wait_for_function(READY, timeout=30_000)
                    ready.append(page.evaluate("performance.now()"))
                    inter.append(page.evaluate("performance.getEntriesByType('navigation')[0].domInteractive"))
                    ctx.close()
                out[name] = {"ready_p50_ms": p50(ready), "ready_max_ms": round(max(ready), 1),
                             "dom_interactive_p50_ms": p50(inter)}
                log(f"{name}: ready p50 {out[name]['ready_p50_ms']} ms (max {out[name]['ready_max_ms']})")
            browser.close()
        with KnowledgeGraph.open(store, create=False) as g:
            out["nodes"] = sum(g.stats()["nodes"].values())
    finally:
        srv.stop()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--modes", default="hybrid,bm25")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--store", type=Path, help="store for the page loads (default: ../shared/data, built in a temp folder)")
    ap.add_argument("--page-runs", type=int, default=7)
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    ap.add_argument("--no-pages", action="store_true")
    ap.add_argument("--out", default="benchmarks/results/web_latency.jsonl")
    ap.add_argument("--tmp", default=None)
    ap.add_argument("--child-serve", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--vectors", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child_serve is not None:
        child_serve(args.child_serve, args.port, args.vectors)
        return
    line: dict[str, Any] = {"config": "web_latency", "docs": args.docs, "queries": args.queries,
                            "cpus": os.cpu_count(), "loadavg_start": [round(x, 2) for x in os.getloadavg()],
                            "started": time.strftime("%Y-%m-%dT%H:%M:%S"), "excludes_query_encoding": True}
    with tempfile.TemporaryDirectory(prefix="kgloom-web-", dir=args.tmp) as tmp:
        g, corpus = build_store(args.docs, args.queries, args.seed, Path(tmp))
        line["search"] = time_api(g, corpus.queries, [m for m in args.modes.split(",") if m], Path(tmp) / "store",
                                  Path(tmp) / "queries.npy")
        g.close()
        del g, corpus
        gc.collect()
        if not args.no_pages:
            store = args.store
            if store is None:
                from kg.graph import KnowledgeGraph

                store = Path(tmp) / "shared"
                log("building the shared-data store for the page loads")
                with KnowledgeGraph.open(store) as sg:
                    sg.ingest(SHARED, workers=0)
            line["pages"] = {"store": str(store if args.store else "../shared/data"),
                             **time_pages(store, args.page_runs, args.chromium)}
    line["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(line), flush=True)
    out = Path(args.out)
    out = out if out.is_absolute() else ROOT / out
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "a") as fh:
        fh.write(json.dumps(line) + "\n")


if __name__ == "__main__":
    main()
