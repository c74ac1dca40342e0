"""Take the screenshots of ``kg serve`` in docs/img/ (``web-*.png``) from the real app.

The store is the shared data plus the repository's ``data/`` folder (whose two skills have a
REQUIRES chain), with fitted topics. Pass ``--store`` to shoot an existing store instead::

    .venv/bin/kg ingest ../shared/data data --store /tmp/kg-shots && .venv/bin/kg topics --store /tmp/kg-shots
    .venv/bin/python docs/web_screenshots.py --store /tmp/kg-shots

Needs Debian's chromium (``make system``) and Playwright's Python package.
"""

from __future__ import annotations

import argparse
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SHARED = ROOT.parent / "shared" / "data"
READY = "() => document.body.dataset.ready === '1'"


def build(store: Path) -> None:
    from kg.graph import KnowledgeGraph

    with KnowledgeGraph.open(store) as g:
        g.ingest(SHARED, ROOT / "data", workers=0)
        g.topics()


def serve(store: Path) -> tuple[Any, threading.Thread, str]:
    import uvicorn

    from kg.graph import KnowledgeGraph
    from kg.web.app import LOCAL_HOSTS, create_app

    g = KnowledgeGraph.open(store, create=False)
    g.search("warm up", k=1)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    server = uvicorn.Server(uvicorn.Config(create_app(g, store_url=str(store), allowed_hosts=LOCAL_HOSTS),
                                           host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    return server, thread, f"http://127.0.0.1:{port}"


def first(g: Any, label: str, most: int = 30) -> str:
    """The id of the node with ``label`` that has the most neighbours, up to ``most`` (a neighbourhood
    that reads well in a screenshot)."""
    degree = {n.id: len(g.edges(n.id)) for n in g.nodes(label) if not n.properties.get("stub")}
    return max(degree, key=lambda i: (degree[i] <= most, degree[i] if degree[i] <= most else -degree[i], i))


def node_for(g: Any) -> str:
    """The paper the node screenshot shows: the best hit for the search screenshot's question."""
    from kg.query import Filters

    hits = g.search("knowledge distillation from a teacher model", k=1, filters=Filters(labels=["Paper"])).hits
    return str(hits[0].id) if hits else first(g, "Paper")


def shoot(base: str, out: Path, chromium: str, pages: dict[str, str], dark: set[str]) -> list[Path]:
    from playwright.sync_api import sync_playwright

    written = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        for name, path in pages.items():
            ctx = browser.new_context(base_url=base, viewport={"width": 1400, "height": 860},
                                      color_scheme="dark" if name in dark else "light", device_scale_factor=1)
            page = ctx.new_page()
            page.goto(path)
            page.wait_for_function(READY, timeout=60_000)
            if name == "skills":
                page.locator("#skill-body summary").click()
            page.wait_for_timeout(300)
            target = out / f"web-{name}.png"
            page.screenshot(path=str(target))
            written.append(target)
            ctx.close()
        browser.close()
    return written


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", type=Path, help="an existing store (default: build one in a temporary folder)")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="kg-shots-") as tmp:
        store = args.store
        if store is None:
            store = Path(tmp) / "store"
            build(store)
        server, thread, base = serve(store)
        g = server.config.app.state.graph
        skill = "citation-graph" if "skill:citation-graph" in g.get_nodes(["skill:citation-graph"]) else \
            str(next(g.nodes("Skill")).properties.get("name"))
        topic = max(g.topic_report().topics, key=lambda t: t.size).id
        pages = {"search": "/search?q=knowledge+distillation+from+a+teacher+model",
                 "search-dark": "/search?q=knowledge+distillation+from+a+teacher+model",
                 "node": "/node?id=" + node_for(g),
                 "topics": "/topics?id=" + topic,
                 "skills": "/skills?q=citation&name=" + skill,
                 "context": "/context?q=how+is+knowledge+transferred+from+a+teacher+to+a+student&budget=1500",
                 "overview": "/overview"}
        from urllib.parse import quote

        pages["node"] = "/node?depth=2&id=" + quote(pages["node"].removeprefix("/node?id="), safe="")
        args.out.mkdir(parents=True, exist_ok=True)
        for p in shoot(base, args.out, args.chromium, pages, {"search-dark"}):
            print(p.relative_to(ROOT) if p.is_relative_to(ROOT) else p)
        server.should_exit = True
        thread.join(timeout=10)
        g.close()


if __name__ == "__main__":
    main()
