"""The ASGI app of ``kg serve``: the JSON API (:mod:`kg.web.api`), the pages (one static HTML shell
plus ``app.js``) and the vendored graph library, behind security headers and an optional token.

* Every route is ``GET`` (``HEAD`` for pages): the app never writes.
* Pages send a Content-Security-Policy with scripts from ``'self'`` only (no inline script, no CDN).
* With a ``token`` (required for a non-local bind, see :mod:`kg.cli.serve`) every request needs it:
  ``Authorization: Bearer <token>``, or the cookie set by opening any page once with ``?token=``.
* ``allowed_hosts``: Host headers accepted (the local names for a local bind: DNS rebinding guard).
"""

from __future__ import annotations

import hmac
from http.cookies import SimpleCookie
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from kg.errors import KGError, NodeNotFoundError, require

if TYPE_CHECKING:
    from fastapi import FastAPI

    from kg.graph import KnowledgeGraph

STATIC = Path(__file__).parent / "static"
PAGES = ("/", "/search", "/node", "/topics", "/skills", "/context", "/overview")
COOKIE = "kg_token"
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
HEADERS = [(b"content-security-policy", CSP.encode()), (b"x-content-type-options", b"nosniff"),
           (b"referrer-policy", b"no-referrer"), (b"x-frame-options", b"DENY"),
           (b"cross-origin-opener-policy", b"same-origin")]
LOCAL_HOSTS = ("127.0.0.1", "localhost", "[::1]")


class Guard:
    """Pure ASGI middleware: Host check, token check, read-only methods, security headers on every
    response (a pure middleware adds microseconds, where ``BaseHTTPMiddleware`` adds a task per call)."""

    def __init__(self, app: Any, *, token: str | None, allowed_hosts: tuple[str, ...] | None) -> None:
        self.app = app
        self.token = token
        self.allowed_hosts = allowed_hosts

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if self.allowed_hosts is not None:
            host = headers.get("host", "")
            name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
            if name not in self.allowed_hosts:
                await _plain(send, 421, "unknown host")
                return
        if scope["method"] not in ("GET", "HEAD"):
            await _plain(send, 405, "read-only: only GET and HEAD", [(b"allow", b"GET, HEAD")])
            return
        set_cookie: list[tuple[bytes, bytes]] = []
        if self.token is not None:
            given, via = _token_of(headers, scope.get("query_string", b""))
            if given is None or not hmac.compare_digest(given.encode(), self.token.encode()):
                await _plain(send, 401, "a token is required: open the page with ?token=...")
                return
            if via == "query":  # a page opened with ?token=: later requests carry the cookie
                set_cookie = [(b"set-cookie", f"{COOKIE}={self.token}; HttpOnly; SameSite=Strict; Path=/".encode())]

        async def with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *HEADERS, *set_cookie]
            await send(message)

        await self.app(scope, receive, with_headers)


def _cookies(headers: dict[str, str]) -> dict[str, str]:
    c: SimpleCookie = SimpleCookie()
    try:
        c.load(headers.get("cookie", ""))
    except Exception:  # a malformed cookie header counts as none
        return {}
    return {k: v.value for k, v in c.items()}


def _token_of(headers: dict[str, str], query: bytes) -> tuple[str | None, str]:
    """The token a request carries and where: ``header``, ``cookie`` or ``query``."""
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip(), "header"
    got = _cookies(headers).get(COOKIE)
    if got:
        return got, "cookie"
    values = parse_qs(query.decode("latin-1")).get("token")
    return (values[0], "query") if values else (None, "")


async def _plain(send: Any, status: int, text: str, extra: list[tuple[bytes, bytes]] | None = None) -> None:
    body = text.encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode()), *HEADERS, *(extra or [])]})
    await send({"type": "http.response.body", "body": body})


def create_app(g: KnowledgeGraph, *, store_url: str = "", token: str | None = None,
               allowed_hosts: tuple[str, ...] | None = None) -> FastAPI:
    """The web explorer over ``g`` (see the module docstring for ``token`` and ``allowed_hosts``).

    ``store_url`` is what the overview names as the store (a password in it is masked).

    >>> app = create_app(KnowledgeGraph.open(".kg", create=False))   # doctest: +SKIP
    >>> uvicorn.run(app, host="127.0.0.1", port=8000)                  # doctest: +SKIP
    """
    fastapi = require("fastapi", "web", "kg serve")
    responses = require("fastapi.responses", "web", "kg serve")
    FileResponse, JSONResponse = responses.FileResponse, responses.JSONResponse
    StaticFiles = require("fastapi.staticfiles", "web", "kg serve").StaticFiles

    from kg.web.api import router

    app: FastAPI = fastapi.FastAPI(title="kgloom explorer", version="1", docs_url=None, redoc_url=None,
                                   openapi_url="/api/openapi.json",
                                   description="Read-only JSON API of `kg serve`, the kgloom web explorer.")
    app.state.graph = g
    app.state.store_url = store_url

    @app.exception_handler(NodeNotFoundError)
    async def not_found(_: Any, exc: NodeNotFoundError) -> Any:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(KGError)
    async def bad_request(_: Any, exc: KGError) -> Any:
        return JSONResponse({"detail": str(exc).splitlines()[0] if str(exc) else type(exc).__name__},
                            status_code=400)

    app.include_router(router)
    index = STATIC / "index.html"

    async def page() -> Any:
        return FileResponse(index, media_type="text/html; charset=utf-8", headers={"cache-control": "no-cache"})

    for path in PAGES:
        app.add_api_route(path, page, methods=["GET"], include_in_schema=False, response_class=FileResponse,
                          response_model=None)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(Guard, token=token, allowed_hosts=allowed_hosts)
    return app
