"""The :class:`KnowledgeGraph` facade: one object for ingest, reads, graph algorithms and search,
whatever the store backend."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

from kg.errors import NodeNotFoundError
from kg.model import Edge, Node
from kg.store import GraphStore, open_store
from kg.store.base import Direction, SourceState
from kg.store.provenance import NodeSupport

if TYPE_CHECKING:
    import networkx as nx

    from ingest.pipeline import IngestReport, ProgressFn
    from kg.distill.policy import EncoderPolicy, PhaseFn
    from kg.distill.train import ProgressFn as TrainProgressFn
    from kg.store.check import CheckReport
    from retrieval.backends import SearchBackend
    from retrieval.encoder import EncodeProgressFn
    from retrieval.index import SearchIndex


P = ParamSpec("P")
R = TypeVar("R")


def _writes(method: Callable[Concatenate[KnowledgeGraph, P], R]) -> Callable[Concatenate[KnowledgeGraph, P], R]:
    """A facade method that writes the store: other processes' searches meanwhile keep the index
    as it was instead of syncing it (:func:`retrieval.index.store_writer`)."""

    @functools.wraps(method)
    def wrapper(self: KnowledgeGraph, /, *args: P.args, **kwargs: P.kwargs) -> R:
        from retrieval.index import store_writer

        with store_writer(self.store):
            return method(self, *args, **kwargs)

    return wrapper


LAST_INGEST = "kgloom.last_ingest"
"""Store metadata key of the last :meth:`KnowledgeGraph.ingest` summary (:meth:`KnowledgeGraph.last_ingest`)."""


@dataclass(frozen=True, slots=True)
class Subgraph:
    """Nodes and the edges among them (a neighbourhood, a path, a context pack's graph)."""

    nodes: list[Node]
    edges: list[Edge]


class KnowledgeGraph:
    """A knowledge graph in a store (embedded folder by default, or Neo4j).

    Everything below the facade takes the store (or the store's search backend,
    :attr:`search_backend`), never the facade: ingest (:mod:`ingest.pipeline`), search
    (:func:`retrieval.hybrid.search`) and the index (:mod:`retrieval.index`).

    >>> g = KnowledgeGraph.open("./.kg")            # doctest: +SKIP
    >>> g.ingest("papers/")                         # doctest: +SKIP
    >>> g.neighbors("paper:doi:10.1/x", edge_types=["AUTHORED"])  # doctest: +SKIP
    """

    def __init__(self, store: GraphStore) -> None:
        from retrieval.backends import backend_for

        self.store = store
        #: how this graph is searched, chosen once from the store (:func:`retrieval.backends.backend_for`)
        self.search_backend: SearchBackend[Any] = backend_for(store)

    @classmethod
    def open(cls, url: str | Path | None = None, *, create: bool = True) -> KnowledgeGraph:
        """Open the store at ``url`` (a folder, ``sqlite://``, ``neo4j://`` or ``bolt://``).

        An embedded store is created when missing, unless ``create=False`` (what the read-only
        commands use): then a path without a store raises :class:`~kg.errors.StoreNotFoundError`
        and nothing is written to disk.
        """
        return cls(open_store(url, create=create))

    def close(self) -> None:
        """Close the store."""
        self.store.close()

    def __enter__(self) -> KnowledgeGraph:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- ingest ------------------------------------------------------------------------------------
    @_writes
    def ingest(self, *paths: str | Path, prune: bool = False, force: bool = False,
               embed: bool | None = None, workers: int = 1, max_file_mb: float = 512,
               progress: ProgressFn | None = None, embed_progress: EncodeProgressFn | None = None,
               encoder: str = "auto", encoder_policy: EncoderPolicy | None = None, phase: PhaseFn | None = None,
               train_progress: TrainProgressFn | None = None) -> IngestReport:
        """Ingest files/folders; unchanged files are skipped. Keeps search indexes in step.

        ``embed``: compute dense embeddings for new/changed nodes (default: when the embeddings
        extra is installed and the store's index uses them). ``workers``: parser processes
        (``0``: one per CPU core, at most 4; ``kg ingest`` defaults to that). ``progress`` gets
        each file's report as it is done; ``embed_progress(done, total)`` follows the embedding
        pass that comes after. The report's ``seconds`` is this whole call, index and embeddings
        included, and ``phases`` splits it (parse, write, index, embed).

        ``encoder``: ``"auto"`` (default) embeds with the store's encoder, except that an
        embedded store with no active student and more than ``encoder_policy.threshold`` texts to
        embed gets a student distilled on a stratified sample and activated
        (:mod:`kg.distill.policy`); ``"teacher"`` never distils; another spec (``"student"``, a
        student folder, ``"minilm-onnx"``...) makes that the store's encoder. ``phase(name,
        message)`` and ``train_progress`` follow the policy's phases and training steps. What the
        policy did is in :meth:`last_ingest` (``encoder``).
        """
        from ingest.pipeline import ingest_paths
        from retrieval.index import SearchIndex, prebuild_first_load

        t0 = time.perf_counter()
        folder = self.store.folder  # an embedded store's own files are never ingested
        auto = encoder.strip().lower() == "auto" and folder is not None and embed is not False
        switch_to: str | None = None
        threshold = 0
        if folder is not None and encoder.strip().lower() != "teacher":
            from kg.distill.policy import EncoderPolicy, resolve_ingest_encoder

            switch_to = resolve_ingest_encoder(self, encoder)  # checked before anything is read
            threshold = (encoder_policy or EncoderPolicy()).threshold
        elif encoder.strip().lower() not in ("auto", "teacher"):
            from kg.distill.policy import resolve_ingest_encoder

            resolve_ingest_encoder(self, encoder)  # a server store: ConfigError

        def hook(load: Any, version: int) -> Any:  # an index built while a first load is written
            # a load the policy will distil for is indexed without embeddings, beside the write
            large = auto and load.n_nodes > threshold
            return prebuild_first_load(self.store, load, version, False if large else embed)

        report = ingest_paths(self.store, paths, prune=prune, force=force, workers=workers,
                              max_file_mb=max_file_mb, exclude=[folder] if folder is not None else [],
                              progress=progress, before_first_load=hook)
        phases = report.phases
        t_index = time.perf_counter()
        embedded: dict[str, float] = {}
        outcome: Any = None
        if switch_to is not None:
            self.sync_index(embed=True if embed is None else embed, encoder=switch_to, progress=embed_progress,
                            timings=embedded)
        elif auto:
            from kg.distill.policy import EncoderPolicyError, run_policy

            try:
                outcome = run_policy(self, encoder_policy, embed=embed, phase=phase, train_progress=train_progress,
                                     teacher_progress=embed_progress, embed_progress=embed_progress,
                                     timings=embedded)
            except EncoderPolicyError as e:
                self.store.set_meta(LAST_INGEST, {"at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                                  "summary": report.summary(), "error": str(e)})
                raise
        if (outcome is None or outcome.action == "none") and not SearchIndex.in_step(self.store, embed=embed):
            self.sync_index(embed=embed, progress=embed_progress, timings=embedded)  # else: searches load it
        if folder is not None and (folder / "topics" / "manifest.json").exists():
            from kg.topics import ASSIGNED_META, assign_topics

            # new papers join the fitted topics without a refit; also when an earlier run was
            # killed between its writes and this step (the store moved on since the last assignment)
            if any(f.status in ("added", "updated", "partial") for f in report.files) or \
                    self.store.get_meta(ASSIGNED_META) != self.store.version():
                assign_topics(self)
                self.sync_index(progress=embed_progress, timings=embedded)
        embed_s = embedded.get("embed", 0.0)
        phases["embed"] += embed_s
        phases["index"] += time.perf_counter() - t_index - embed_s
        report.seconds = time.perf_counter() - t0
        self.store.set_meta(LAST_INGEST, {  # what kg serve's overview shows (failed files are not sources)
            "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "summary": report.summary(),
            "seconds": round(report.seconds, 3), "encoder": outcome.to_dict() if outcome is not None else None,
            "failed": [{"path": f.path, "status": f.status, "error": f.error} for f in report.failed][:500]})
        return report

    @_writes
    def remove(self, *paths: str | Path) -> IngestReport:
        """Remove exactly what the given files (or all files under given folders) contributed."""
        from ingest.pipeline import remove_paths

        t0 = time.perf_counter()
        report = remove_paths(self.store, paths)
        t_index = time.perf_counter()
        embedded: dict[str, float] = {}
        self.sync_index(timings=embedded)
        report.phases["embed"] = embedded.get("embed", 0.0)
        report.phases["index"] = time.perf_counter() - t_index - report.phases["embed"]
        report.seconds = time.perf_counter() - t0
        return report

    def sync_index(self, embed: bool | None = None, *, encoder: str | None = None, show_progress: bool = False,
                   progress: EncodeProgressFn | None = None, timings: dict[str, float] | None = None) -> None:
        """Bring the search indexes in step with the graph.

        ``embed``: compute embeddings (True), never start them (False), or as the store has them
        (None); ``encoder``: re-encode with another encoder (embedded stores); ``progress(done,
        total)`` follows the texts being embedded (embedded stores); ``timings["embed"]`` is added
        the seconds spent embedding. Server stores index inside the database: that is all embedding.
        """
        self.search_backend.sync_index(embed, encoder=encoder, show_progress=show_progress, progress=progress,
                                       timings=timings)

    def search_index(self, *, sync: bool = False) -> SearchIndex | None:
        """The search index of an embedded store, in step with the graph (first synced as
        :meth:`sync_index` does, with ``sync``); None for a store that searches inside its database."""
        return self.search_backend.index(sync=sync)

    def check(self, *, repair: bool = False) -> CheckReport:
        """Verify an embedded store (``kg check``): SQLite integrity, provenance, leftovers of killed
        writes (:mod:`kg.store.check`) and the search index and its vectors
        (:func:`retrieval.index.check_index`); ``repair`` fixes what is safe and says so."""
        from kg.errors import ConfigError
        from kg.store.check import CheckReport, check_sqlite
        from retrieval.index import check_index

        if self.store.folder is None:
            raise ConfigError("kg check verifies embedded (folder) stores")
        report = CheckReport(self.store.url)
        check_sqlite(self.store, report, repair=repair)
        if not any(f.check == "integrity" for f in report.findings):
            check_index(self.store, report, repair=repair)
        return report

    # -- reads ---------------------------------------------------------------------------------------
    def node(self, node_id: str) -> Node:
        """The node with ``node_id`` (its ``sources`` filled in); raises NodeNotFoundError."""
        got = self.store.get_nodes([node_id]).get(node_id)
        if got is None:
            raise NodeNotFoundError(f"no node with id {node_id!r}")
        return Node(got.id, got.label, got.properties, tuple(self.store.node_sources(node_id)))

    def get_nodes(self, ids: Sequence[str]) -> dict[str, Node]:
        """Nodes by id (missing ids absent)."""
        return self.store.get_nodes(ids)

    def nodes(self, label: str | None = None) -> Iterator[Node]:
        """All nodes, or those with one label."""
        return self.store.iter_nodes([label] if label else None)

    def edges(self, node_id: str | None = None, *, edge_types: Iterable[str] | None = None,
              direction: Direction = "both") -> list[Edge]:
        """Edges of one node, or all edges when ``node_id`` is None."""
        if node_id is None:
            return list(self.store.iter_edges(edge_types))
        return self.store.edges_of([node_id], types=edge_types, direction=direction)

    def neighbors(self, node_id: str, *, edge_types: Iterable[str] | None = None, depth: int = 1,
                  direction: Direction = "both", limit: int | None = None) -> list[Node]:
        """Nodes within ``depth`` hops of ``node_id`` (itself excluded), nearest first, then by id."""
        return self.neighborhood(node_id, edge_types=edge_types, depth=depth, direction=direction,
                                 limit=limit).nodes[1:]

    def neighborhood(self, node_id: str, *, edge_types: Iterable[str] | None = None, depth: int = 1,
                     direction: Direction = "both", limit: int | None = None) -> Subgraph:
        """The node, its neighbours within ``depth`` hops and the edges used to reach them."""
        start = self.node(node_id)
        types = list(edge_types) if edge_types is not None else None
        order = [node_id]
        seen = {node_id}
        edges: dict[tuple[str, str, str], Edge] = {}
        frontier = [node_id]
        for _ in range(max(depth, 0)):
            nxt: list[str] = []
            for e in self.store.edges_of(frontier, types=types, direction=direction):
                edges[(e.source, e.type, e.target)] = e
                for other in (e.source, e.target):
                    if other not in seen:
                        seen.add(other)
                        nxt.append(other)
            nxt.sort()
            if limit is not None:
                nxt = nxt[: max(limit - (len(order) - 1), 0)]
            order.extend(nxt)
            frontier = nxt
            if not frontier:
                break
        keep = set(order)
        found = self.store.get_nodes(order[1:])
        nodes = [start] + [found[i] for i in order[1:] if i in found]
        return Subgraph(nodes, [e for k, e in sorted(edges.items()) if e.source in keep and e.target in keep])

    def sources(self) -> list[SourceState]:
        """Every source file recorded in the store: reader, node/edge counts, warnings and errors."""
        return self.store.sources()

    def provenance(self, node_id: str) -> list[NodeSupport]:
        """What each source contributed to ``node_id``, sorted by source path: ``(node id, source
        path, label, stub, properties as canonical JSON)`` rows (empty for an unknown id)."""
        return sorted(self.store.node_supports([node_id]), key=lambda r: r[1])

    def last_ingest(self) -> dict[str, Any] | None:
        """The last :meth:`ingest` call's summary: ``at`` (UTC), ``summary`` (files per status),
        ``seconds``, ``encoder`` (what ``encoder="auto"`` did:
        :meth:`kg.distill.policy.PolicyOutcome.to_dict`, or None) and ``failed`` (path, status and
        one-line error of each file that failed);
        None before the first ingest through this facade."""
        got = self.store.get_meta(LAST_INGEST)
        return got if isinstance(got, dict) else None

    def encoder_name(self) -> str:
        """The name of the encoder that embeds queries for the dense leg (e.g. ``minilm``)."""
        idx = self.search_index()
        if idx is not None:
            return str(idx.manifest.get("encoder") or "minilm")
        enc = self.search_backend.query_encoder(None)  # server stores: their encoder; nothing is synced
        return enc.name if enc is not None else ""

    def topic_report(self) -> Any:
        """The stored topics and their quality (``kg.topics.TopicReport``), read only: nothing is
        fitted or assigned; ConfigError when no topics were fitted yet."""
        from kg.topics import topics

        return topics(self)

    def stats(self) -> dict[str, dict[str, int]]:
        """``{"nodes": {label: n}, "edges": {type: n}}``."""
        return self.store.counts()

    def to_networkx(self, *, labels: Iterable[str] | None = None,
                    edge_types: Iterable[str] | None = None) -> nx.MultiDiGraph:
        """The graph (or a label/type-filtered part) as a networkx ``MultiDiGraph``.

        Node attributes: ``label`` plus properties; edge key and ``type``: the edge type.
        """
        import networkx as nx

        G = nx.MultiDiGraph()
        for n in self.store.iter_nodes(labels):
            G.add_node(n.id, label=n.label, **n.properties)
        for e in self.store.iter_edges(edge_types):
            if e.source in G and e.target in G:
                G.add_edge(e.source, e.target, key=e.type, type=e.type, **e.properties)
        return G

    def export(self, path: str | Path, *, format: str = "jsonl") -> dict[str, int]:
        """Write the graph to ``path`` as ``jsonl`` or ``graphml``; returns counts written."""
        from kg.export import export_graph

        return export_graph(self, Path(path), format=format)

    # -- search --------------------------------------------------------------------------------------
    def search(self, query: str, k: int = 10, *, mode: str = "hybrid", filters: Any = None,
               explain: bool = False, **options: Any) -> Any:
        """Hybrid (BM25 + dense [+ graph]) search; returns a ``retrieval.SearchResult``."""
        from retrieval.hybrid import search

        return search(self.search_backend, query, k=k, mode=mode, filters=filters, explain=explain, **options)

    # -- agents, skills, topics, Cypher ------------------------------------------------------------------
    def context(self, query: str, budget_tokens: int = 2000, **options: Any) -> Any:
        """A KG-augmented context pack (hits, subgraph, triples, passages) with stable citations."""
        from retrieval.context import build_context

        return build_context(self, query, budget_tokens=budget_tokens, **options)

    def cypher(self, query: str, params: dict[str, Any] | None = None) -> Any:
        """Run a read-only Cypher query (Neo4j stores); writes and admin calls are rejected."""
        return self.store.cypher(query, params or {})

    def skills(self, query: str = "", k: int = 10) -> list[Any]:
        """Skills matching ``query``: name, description and score first (progressive disclosure)."""
        from kg.skills import skills

        return skills(self, query, k=k)

    def skill(self, name: str, *, body: bool = True) -> Any:
        """One skill in full: body (on request), tools, linked skills, bundled resources."""
        from kg.skills import skill

        return skill(self, name, body=body)

    def skill_path(self, start: str, goal: str) -> Any:
        """The REQUIRES/NEXT chain from skill ``start`` to skill ``goal``."""
        from kg.skills import skill_path

        return skill_path(self, start, goal)

    @_writes
    def topics(self, *, refit: bool = False, config: Any = None) -> Any:
        """Fit topics (first run or ``refit``) or assign new documents to the fitted ones; a report."""
        from kg.topics import update_topics

        return update_topics(self, config, refit=refit)

    @_writes
    def distill(self, config: Any = None, *, activate: bool = False) -> Any:
        """Train a fast static student encoder from this store (``kg distill``); see docs/distill.md."""
        from kg.distill import distill

        return distill(self, config, activate_after=activate)

