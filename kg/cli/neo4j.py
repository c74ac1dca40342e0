"""``kg neo4j start`` (a local Neo4j 5.26 with Browser), ``kg neo4j import`` (bulk-load an embedded
store into a fresh local database) and ``kg neo4j cypher`` (read-only Cypher)."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import typer


def store_url(uri: str, user: str, password: str | None) -> str:
    """A ``--store`` URL with credentials: ``bolt://neo4j:pw@127.0.0.1:7687``.

    >>> store_url("bolt://127.0.0.1:7687", "neo4j", "p@ss word")
    'bolt://neo4j:p%40ss%20word@127.0.0.1:7687'
    """
    scheme, rest = uri.split("://", 1)
    if password is None:
        return uri
    return f"{scheme}://{quote(user, safe='')}:{quote(password, safe='')}@{rest}"


def _params(items: list[str] | None) -> dict[str, Any]:
    """``["k=v", "n=3"]`` -> ``{"k": "v", "n": 3}`` (values parsed as JSON when they are JSON)."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"{item!r}: use NAME=VALUE")
        try:
            out[key] = json.loads(raw)
        except ValueError:
            out[key] = raw
    return out


def register(app: typer.Typer) -> None:
    """Add the ``kg neo4j`` commands to the ``kg`` app."""
    neo = typer.Typer(help="Run a local Neo4j server and query a Neo4j store.", no_args_is_help=True)
    app.add_typer(neo, name="neo4j")

    @neo.command()
    def start(
        port: Annotated[int, typer.Option(help="Bolt port (0: a free one).")] = 7687,
        http_port: Annotated[int, typer.Option("--http-port", help="HTTP/Browser port (0: a free one, -1: off).")] = 7474,
        data_dir: Annotated[Path, typer.Option("--data-dir", help="Where the database lives (kept between runs).")]
        = Path(".neo4j"),
        password: Annotated[str | None, typer.Option(envvar="NEO4J_PASSWORD",
                                                     help="Password of user neo4j (8+ characters).")] = None,
        timeout: Annotated[float, typer.Option(help="Seconds to wait for the server.")] = 180.0,
    ) -> None:
        """Run Neo4j 5.26 (no Docker needed: Java 17 + Maven) with Neo4j Browser until Ctrl-C."""
        from kg.neo4j.server import DEFAULT_PASSWORD, GRASS, NEO4J_VERSION, Neo4jServer

        pw = password or DEFAULT_PASSWORD
        server = Neo4jServer(port=port or None, http_port=None if http_port < 0 else http_port, password=pw,
                             data_dir=data_dir)
        server.start(timeout=timeout)
        url = store_url(server.uri, server.user, pw)
        print(f"Neo4j {NEO4J_VERSION} is running (pid {server.pid}, data in {server.data_dir}).")
        print(f"  Bolt:     {server.uri}   user {server.user}")
        if server.browser_url:
            print(f"  Browser:  {server.browser_url}   (connect to {server.uri}, user {server.user})")
            print(f"  Style:    drag {GRASS} onto the Browser window (or :style in the editor)")
        print(f"  Store:    --store '{url}'")
        print(f"            export KG_STORE='{url}'")
        print(f"  Then:     kg ingest papers/ --store '{url}'")
        print("  Ctrl-C stops the server.", flush=True)
        stopping = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stopping.set())
        while not stopping.is_set() and server.running:
            stopping.wait(0.5)
        if not stopping.is_set():
            sys.stderr.write(f"Neo4j exited on its own.\n{server.log_tail()}\n")
        server.stop()
        if not stopping.is_set():
            raise typer.Exit(1)

    @neo.command()
    def build(force: Annotated[bool, typer.Option(help="Rebuild even when the build is current.")] = False) -> None:
        """Fetch Neo4j's jars from Maven Central and compile the launcher (once; kg neo4j start does it too)."""
        from kg.neo4j.server import available
        from kg.neo4j.server import build as build_launcher

        ok, why = available()
        if not ok:
            sys.stderr.write(f"error: {why}\n")
            raise typer.Exit(2)
        t = time.monotonic()
        out = build_launcher(force=force)
        print(f"built {out} in {time.monotonic() - t:.1f}s")

    @neo.command(name="import")
    def import_cmd(
        store: Annotated[str | None, typer.Option("--store", "-s", envvar="KG_STORE",
                                                  help="The embedded store to load (default ./.kg).")] = None,
        data_dir: Annotated[Path, typer.Option("--data-dir", help="The kg neo4j start data folder to fill.")]
        = Path(".neo4j"),
        overwrite: Annotated[bool, typer.Option(help="Replace a database already in --data-dir.")] = False,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    ) -> None:
        """Bulk-load an embedded store into a new Neo4j database with neo4j-admin import (offline:
        run it before kg neo4j start --data-dir DIR). Much faster than kg export --to for a first load."""
        from kg.errors import ConfigError
        from kg.neo4j.admin_import import import_store
        from kg.store import open_store

        if store and store.startswith(("neo4j", "bolt")):
            raise ConfigError("kg neo4j import reads an embedded store; use kg export --to to copy between servers")
        src = open_store(store or ".kg", create=False)
        try:
            out = import_store(src, data_dir, overwrite=overwrite)
        finally:
            src.close()
        if as_json:
            sys.stdout.write(json.dumps(out) + "\n")
            return
        print(f"Imported {out['nodes']:,} nodes, {out['edges']:,} edges, {out['supports']:,} supports and "
              f"{out['keys']:,} keys from {out['sources']:,} sources in {out['seconds']:.1f} s into {out['data_dir']}.")
        print(f"  Next: kg neo4j start --data-dir {data_dir}")

    @neo.command()
    def cypher(
        query: Annotated[str, typer.Argument(help="A read-only Cypher query.")],
        param: Annotated[list[str] | None, typer.Option("--param", "-p", help="NAME=VALUE (JSON values).")] = None,
        store: Annotated[str | None, typer.Option("--store", "-s", envvar="KG_STORE",
                                                  help="neo4j:// or bolt:// store URL.")] = None,
        limit: Annotated[int, typer.Option(help="At most this many rows.")] = 1000,
    ) -> None:
        """Run a read-only Cypher query (writes, schema and admin commands are refused)."""
        from kg.errors import ConfigError
        from kg.store import open_store

        url = store or os.environ.get("KG_STORE")
        if not url or not url.startswith(("neo4j", "bolt")):
            raise ConfigError("kg neo4j cypher needs a Neo4j store: --store bolt://user:password@host:7687")
        s = open_store(url)
        try:
            res = s.cypher(query, _params(param), max_rows=limit)
        finally:
            s.close()

        def plain(v: Any) -> Any:
            if hasattr(v, "__dataclass_fields__"):
                return {k: plain(getattr(v, k)) for k in v.__dataclass_fields__}
            if isinstance(v, (list, tuple)):
                return [plain(x) for x in v]
            if isinstance(v, dict):
                return {k: plain(x) for k, x in v.items()}
            return v

        for row in res.rows:
            sys.stdout.write(json.dumps({k: plain(v) for k, v in row.items()}, ensure_ascii=False, default=str) + "\n")
        if res.truncated:
            sys.stderr.write(f"(stopped after {limit} rows)\n")
