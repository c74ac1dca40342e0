"""``kg serve``: the web explorer (:mod:`kg.web`) on 127.0.0.1."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from kg.cli.options import StoreOpt, open_graph
from kg.errors import ConfigError, require

LOCAL = ("127.0.0.1", "localhost", "::1")


def check_bind(host: str, *, allow_remote: bool, token: str | None) -> None:
    """A non-local ``host`` needs ``--allow-remote`` and a token of at least 16 characters."""
    if host in LOCAL:
        return
    if not allow_remote:
        raise ConfigError(f"--host {host} is not local: add --allow-remote and a --token (or KG_WEB_TOKEN)")
    if not token or len(token) < 16:
        raise ConfigError("a non-local bind needs a --token (or KG_WEB_TOKEN) of at least 16 characters")


def register(app: typer.Typer) -> None:
    """Add ``kg serve`` to the ``kg`` app."""

    @app.command()
    def serve(
        store: StoreOpt = None,
        port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
        host: Annotated[str, typer.Option(help="Address to bind; anything but 127.0.0.1/localhost/::1 "
                                               "needs --allow-remote and a token.")] = "127.0.0.1",
        allow_remote: Annotated[bool, typer.Option(help="Allow a non-local --host (then a token is required).")] = False,
        token: Annotated[str | None, typer.Option(envvar="KG_WEB_TOKEN", help="Require this token on every "
                                                  "request (Bearer header, or open a page once with ?token=).")] = None,
    ) -> None:
        """Serve the web explorer (search, nodes, topics, skills, context packs) over the store, read-only."""
        check_bind(host, allow_remote=allow_remote, token=token)
        uvicorn = require("uvicorn", "web", "kg serve")
        from kg.web.app import LOCAL_HOSTS, create_app

        url = store or os.environ.get("KG_STORE") or ".kg"
        g = open_graph(store)
        web = create_app(g, store_url=str(url), token=token,
                         allowed_hosts=LOCAL_HOSTS if host in LOCAL else None)
        shown = f"[{host}]" if ":" in host else host
        typer.echo(f"kgloom explorer on http://{shown}:{port}/" + ("?token=..." if token else ""), err=True)
        try:
            uvicorn.run(web, host=host, port=port, log_level="warning", server_header=False)
        finally:
            g.close()
