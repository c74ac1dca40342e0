"""Neo4j store: load throughput, and top-10 agreement of hybrid search with the embedded store.

    python benchmarks/neo4j_load.py load --records 20000 --files 10      # nodes/s, edges/s
    python benchmarks/neo4j_load.py agreement --queries 50               # mean top-10 overlap

Without ``--url`` a local Neo4j 5.26 is started (``kg.neo4j.server``; Java 17 + Maven; heap from
``$KG_NEO4J_HEAP``) in a temporary folder and stopped at the end. Each run prints one JSON line per
measurement and appends it to ``benchmarks/results/neo4j_load.jsonl``.

``load`` ingests N generated S2ORC-style records (benchmarks/ingest.py's generator) through the real
readers into Neo4j without embeddings: ``write_*`` rates count graph nodes/edges over the time spent
in ``write_source`` (reading the files excluded), ``e2e_*`` over the whole ingest; then a forced
re-ingest of the same files (rewrites, no change), and ``kg export --to`` (``copy_store``) of the same
graph from an embedded store. A ``raw`` line writes the same merged graph with plain
``UNWIND ... CREATE`` (no provenance) for comparison. A ``bulk_import`` line loads the same embedded
store offline with ``kg neo4j import`` (``neo4j-admin database import``; ``bulk_*`` rates over CSV
writing + import) and times a server on the result until its constraints and indexes are online
(``e2e_nodes_per_s`` includes that); ``--bulk-only`` runs just these. ``client_cpu_s``/``server_cpu_s`` tell how much
of the wall time was work rather than waiting for a busy machine.

``agreement`` ingests ``--data`` into both stores with the same encoder and compares the hybrid
top-k ids of ``--queries`` queries (3-5 words drawn from random abstracts, seeded).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import random
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]  # benchmarks/ingest.py shadows `ingest`
sys.path.insert(0, str(HERE.parent))
RESULTS = HERE / "results" / "neo4j_load.jsonl"


def _environment() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "loadavg": [round(x, 2) for x in os.getloadavg()],
            "neo4j_rust_ext": importlib.util.find_spec("neo4j._rust") is not None,
            "heap": os.environ.get("KG_NEO4J_HEAP", "512m"), "started": time.strftime("%Y-%m-%dT%H:%M:%S")}


def _emit(out: dict[str, Any], path: Path) -> None:
    line = json.dumps(out)
    print(line, flush=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fh.write(line + "\n")


@contextmanager
def _server(url: str | None) -> Iterator[tuple[str, int | None]]:
    """``(store URL, server pid or None)``: the given URL, or a fresh local server."""
    if url:
        yield url, None
        return
    from kg.cli.neo4j import store_url
    from kg.neo4j.server import Neo4jServer

    server = Neo4jServer(password="kgloom-bench-password")
    server.start(timeout=240)
    try:
        yield store_url(server.uri, server.user, "kgloom-bench-password"), server.pid
    finally:
        server.stop()


def _cpu(pid: int | None) -> float:
    """CPU seconds used so far by process ``pid`` (0 when unknown)."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def _generator() -> Any:
    spec = importlib.util.spec_from_file_location("kg_bench_ingest", HERE / "ingest.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.generate


def _with_option(url: str, opt: str) -> str:
    return url + ("&" if "?" in url else "?") + opt


def load(args: argparse.Namespace) -> None:
    from ingest.pipeline import ingest_paths
    from kg.neo4j.cypher_copy import copy_store
    from kg.store import open_store

    env = _environment()
    tmp = Path(tempfile.mkdtemp(prefix="kg-neo4j-bench-"))
    try:
        data = tmp / "data"
        data.mkdir()
        _generator()(data, args.records, args.files)
        if args.bulk_only:
            src = open_store(tmp / "store")
            t = time.perf_counter()
            ingest_paths(src, [data])
            embedded_s = time.perf_counter() - t
            for run in range(args.repeat):
                _emit({**_bulk(src, tmp / f"bulk-{run}"), "run": run, "records": args.records,
                       "embedded_ingest_s": round(embedded_s, 2), **env}, Path(args.out))
            src.close()
            return
        with _server(args.url) as (url, pid):
            url = _with_option(url, "embed=false")
            store = open_store(url)
            write_s = [0.0]
            real = store.write_source

            def timed(*a: Any, **k: Any) -> Any:
                t = time.perf_counter()
                try:
                    return real(*a, **k)
                finally:
                    write_s[0] += time.perf_counter() - t

            store.write_source = timed  # type: ignore[method-assign]
            for run in range(args.repeat):
                store.clear()  # type: ignore[attr-defined]
                write_s[0] = 0.0
                c0, s0, t0 = time.process_time(), _cpu(pid), time.perf_counter()
                rep = ingest_paths(store, [data])
                wall = time.perf_counter() - t0
                assert rep.ok, rep.failed[:3]
                counts = store.counts()
                n, e = sum(counts["nodes"].values()), sum(counts["edges"].values())
                client_cpu, server_cpu, wrote = time.process_time() - c0, _cpu(pid) - s0, write_s[0]
                t = time.perf_counter()
                ingest_paths(store, [data], force=True)
                rewrite = time.perf_counter() - t
                _emit({"benchmark": "neo4j_load", "phase": "ingest", "run": run, "records": args.records,
                       "files": args.files, "nodes": n, "edges": e, "write_s": round(wrote, 2),
                       "write_nodes_per_s": round(n / wrote), "write_edges_per_s": round(e / wrote),
                       "e2e_s": round(wall, 2), "e2e_nodes_per_s": round(n / wall),
                       "client_cpu_s": round(client_cpu, 2), "server_cpu_s": round(server_cpu, 2),
                       "rewrite_s": round(rewrite, 2), **env}, Path(args.out))
            if args.copy:
                src = open_store(tmp / "store")
                t = time.perf_counter()
                ingest_paths(src, [data])
                embedded_s = time.perf_counter() - t
                c0, s0 = time.process_time(), _cpu(pid)
                raw_s = _raw_load(store, src, args.batch)
                _emit({"benchmark": "neo4j_load", "phase": "raw", "nodes": n, "edges": e, "raw_s": round(raw_s, 2),
                       "raw_nodes_per_s": round(n / raw_s), "raw_edges_per_s": round(e / raw_s),
                       "client_cpu_s": round(time.process_time() - c0, 2), "server_cpu_s": round(_cpu(pid) - s0, 2),
                       **env}, Path(args.out))
            store.close()
            if args.copy:
                for run in range(args.repeat):
                    c0, s0 = time.process_time(), _cpu(pid)
                    got = copy_store(src, url, replace=True, batch=args.batch)
                    _emit({"benchmark": "neo4j_load", "phase": "copy", "run": run, "records": args.records,
                           "nodes": got["nodes"], "edges": got["edges"], "supports": got["supports"],
                           "keys": got["keys"], "copy_s": got["seconds"],
                           "copy_nodes_per_s": round(got["nodes"] / got["seconds"]),
                           "copy_edges_per_s": round(got["edges"] / got["seconds"]),
                           "client_cpu_s": round(time.process_time() - c0, 2),
                           "server_cpu_s": round(_cpu(pid) - s0, 2), "embedded_ingest_s": round(embedded_s, 2),
                           **env}, Path(args.out))
                for run in range(args.repeat):
                    _emit({**_bulk(src, tmp / f"bulk-{run}"), "run": run, "records": args.records,
                           "embedded_ingest_s": round(embedded_s, 2), **env}, Path(args.out))
                src.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _bulk(src: Any, folder: Path) -> dict[str, Any]:
    """``kg neo4j import`` of the same embedded store into a fresh data folder (offline
    ``neo4j-admin database import``), then the time until a server on it answers with every
    constraint and index online (``open_store`` creates and awaits them)."""
    from kg.neo4j.admin_import import import_store
    from kg.neo4j.server import Neo4jServer
    from kg.store import open_store

    got = import_store(src, folder)
    t = time.perf_counter()
    server = Neo4jServer(data_dir=folder, password=None).start()
    try:
        open_store(server.uri).close()
        ready = time.perf_counter() - t
    finally:
        server.stop()
    total = got["seconds"] + ready
    return {"benchmark": "neo4j_load", "phase": "bulk_import", "nodes": got["nodes"], "edges": got["edges"],
            "supports": got["supports"], "keys": got["keys"], "csv_s": got["csv_seconds"],
            "import_s": got["import_seconds"], "bulk_s": got["seconds"],
            "bulk_nodes_per_s": round(got["nodes"] / got["seconds"]),
            "bulk_edges_per_s": round(got["edges"] / got["seconds"]),
            "start_and_index_s": round(ready, 2), "e2e_nodes_per_s": round(got["nodes"] / total)}


def _raw_load(store: Any, src: Any, batch: int) -> float:
    """Seconds to write ``src``'s merged nodes and edges with plain ``UNWIND ... CREATE`` (no provenance,
    same schema and indexes): what the server does at best on this machine, for comparison."""
    from kg.neo4j.schema import NODE, encode_props, ident

    def chunks(items: Any) -> Iterator[list[Any]]:
        buf: list[Any] = []
        for x in items:
            buf.append(x)
            if len(buf) >= batch:
                yield buf
                buf = []
        if buf:
            yield buf

    def write(tx: Any, query: str, rows: list[dict[str, Any]]) -> None:
        tx.run(query, rows=rows).consume()

    store.clear()
    t = time.perf_counter()
    for nodes in chunks(src.iter_nodes()):
        by: dict[str, list[dict[str, Any]]] = {}
        for nd in nodes:
            by.setdefault(nd.label, []).append({**encode_props(nd.properties), "id": nd.id})
        for label, rows in by.items():
            store._write_tx("raw nodes", write, f"UNWIND $rows AS row CREATE (n:{NODE}:{ident(label)}) SET n = row", rows)
    for edges in chunks(src.iter_edges()):
        byt: dict[str, list[dict[str, Any]]] = {}
        for ed in edges:
            byt.setdefault(ed.type, []).append({"s": ed.source, "d": ed.target, "p": encode_props(ed.properties)})
        for typ, rows in byt.items():
            store._write_tx("raw edges", write, f"UNWIND $rows AS row MATCH (a:{NODE} {{id: row.s}}) "
                            f"MATCH (b:{NODE} {{id: row.d}}) CREATE (a)-[r:{ident(typ)}]->(b) SET r = row.p", rows)
    took = time.perf_counter() - t
    store.clear()
    return took


def _queries(store: Any, n: int, seed: int) -> list[str]:
    """``n`` queries of 3-5 content words drawn from the abstracts of random papers."""
    rng = random.Random(seed)
    texts = sorted((p.id, str(p.properties.get("abstract") or "")) for p in store.iter_nodes(["Paper"]))
    texts = [t for _, t in texts if len(t) > 200]
    out = []
    for text in rng.sample(texts, min(n, len(texts))):
        words = [w for w in re.findall(r"[A-Za-z][a-z]{4,}", text)]
        out.append(" ".join(rng.sample(words, min(len(words), rng.randint(3, 5)))))
    return out


def agreement(args: argparse.Namespace) -> None:
    import retrieval.encoder as enc_mod
    from ingest.pipeline import ingest_paths
    from kg.graph import KnowledgeGraph
    from kg.store import open_store

    env = _environment()
    loaded: dict[str, Any] = {}
    load_encoder = enc_mod.load_encoder

    class Memo:
        """One model for both stores, each text encoded once (the stores embed the same texts)."""

        def __init__(self, inner: Any) -> None:
            self.inner, self.name, self.dim, self.memo = inner, inner.name, inner.dim, {}

        def encode(self, texts: list[str], **kw: Any) -> Any:
            import numpy as np

            todo = [t for t in dict.fromkeys(texts) if t not in self.memo]
            if todo:
                self.memo.update(zip(todo, self.inner.encode(todo, **kw), strict=True))
            return np.stack([self.memo[t] for t in texts]) if texts else self.inner.encode([])

        def encode_query(self, text: str) -> Any:
            return self.encode([text])[0]

    def shared(spec: str = "minilm") -> Any:
        if spec not in loaded:
            loaded[spec] = Memo(load_encoder(spec))
        return loaded[spec]

    enc_mod.load_encoder = shared  # type: ignore[assignment]
    tmp = Path(tempfile.mkdtemp(prefix="kg-neo4j-agree-"))
    try:
        with _server(args.url) as (url, _pid):
            emb = KnowledgeGraph.open(tmp / "store")
            t = time.perf_counter()
            ingest_paths(emb.store, args.data)
            emb.sync_index(embed=True, encoder=args.encoder)
            emb_s = time.perf_counter() - t
            neo = KnowledgeGraph(open_store(_with_option(url, f"encoder={args.encoder}")))
            neo.store.clear()  # type: ignore[attr-defined]
            t = time.perf_counter()
            ingest_paths(neo.store, args.data)
            neo.sync_index()  # the embeddings
            neo_s = time.perf_counter() - t
            queries = _queries(emb.store, args.queries, args.seed)
            overlaps: dict[str, list[float]] = {m: [] for m in args.modes}
            for q in queries:
                for mode in args.modes:
                    a = neo.search(q, k=args.k, mode=mode).ids
                    b = emb.search(q, k=args.k, mode=mode).ids
                    overlaps[mode].append(len(set(a) & set(b)) / max(1, min(args.k, max(len(a), len(b)))))
            counts = emb.stats()
            _emit({"benchmark": "neo4j_agreement", "data": [str(p) for p in args.data], "encoder": args.encoder,
                   "queries": len(queries), "k": args.k, "nodes": sum(counts["nodes"].values()),
                   **{f"top{args.k}_overlap_{m}": round(sum(v) / len(v), 3) for m, v in overlaps.items()},
                   **{f"top{args.k}_identical_{m}": round(sum(x == 1.0 for x in v) / len(v), 3)
                      for m, v in overlaps.items()},
                   "embedded_ingest_s": round(emb_s, 1), "neo4j_ingest_s": round(neo_s, 1),
                   "example_queries": queries[:3], **env}, Path(args.out))
            neo.close()
            emb.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    lo = sub.add_parser("load", help="nodes/s and edges/s")
    lo.add_argument("--records", type=int, default=20_000)
    lo.add_argument("--files", type=int, default=10)
    lo.add_argument("--repeat", type=int, default=2, help="runs (the first warms the JVM up)")
    lo.add_argument("--batch", type=int, default=5000, help="copy: rows per transaction")
    lo.add_argument("--copy", action=argparse.BooleanOptionalAction, default=True)
    lo.add_argument("--bulk-only", action="store_true", help="only the kg neo4j import (neo4j-admin) lines")
    ag = sub.add_parser("agreement", help="top-k agreement with the embedded store")
    shared_data = Path(__file__).resolve().parents[2] / "shared" / "data" / "paper-metadata"
    ag.add_argument("--data", type=Path, nargs="+",
                    default=[shared_data if shared_data.is_dir() else HERE.parent / "data"])
    ag.add_argument("--queries", type=int, default=50)
    ag.add_argument("--k", type=int, default=10)
    ag.add_argument("--encoder", default="minilm")
    ag.add_argument("--modes", nargs="+", default=["hybrid", "bm25", "dense"])
    ag.add_argument("--seed", type=int, default=0)
    for p in (lo, ag):
        p.add_argument("--url", default=os.environ.get("KG_NEO4J_BENCH_URL"),
                       help="a Neo4j store URL (default: start a local server)")
        p.add_argument("--out", default=str(RESULTS))
    args = ap.parse_args()
    load(args) if args.cmd == "load" else agreement(args)


if __name__ == "__main__":
    main()
