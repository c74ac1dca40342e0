"""End-to-end tests of ``kg serve`` in a real browser: Debian's chromium (``make system``) driven by
Playwright's Python package, against the real app (uvicorn on 127.0.0.1) on a store of the shared
data. Screenshots are saved as test artifacts in ``tests/artifacts/`` (or ``$KG_TEST_ARTIFACTS``).

Without chromium the tests skip, naming ``make system``; with the ``CI`` variable set they fail.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from web_store import HUB, XSS_PAYLOADS, XSS_TITLE, web_store

from kg.graph import KnowledgeGraph

CHROMIUM = os.environ.get("KG_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("KG_TEST_ARTIFACTS") or Path(__file__).parent / "artifacts")
READY = "document.body.dataset.ready === '1'"


def when(cond: str) -> str:
    """A predicate for ``wait_for_function`` as a function (a bare expression would need eval, which
    the page's CSP forbids)."""
    return f"() => {cond}"
RRF = "paper:doi:10.1145/1571941.1572114"


def _need_browser() -> Any:
    missing = [] if Path(CHROMIUM).exists() or shutil.which(CHROMIUM) else [f"chromium ({CHROMIUM})"]
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing.append("playwright (Python package)")
        sync_playwright = None  # type: ignore[assignment]
    if missing:
        why = f"{' and '.join(missing)} missing: run `make system` (installs Debian's chromium)"
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why)
    return sync_playwright


class Server:
    """The app under uvicorn on a free 127.0.0.1 port, in a thread of this process."""

    def __init__(self, store: Path) -> None:
        import uvicorn

        from kg.web.app import LOCAL_HOSTS, create_app

        self.graph = KnowledgeGraph.open(store, create=False)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        app = create_app(self.graph, store_url=str(store), allowed_hosts=LOCAL_HOSTS)
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.time() + 30
        while not self.server.started:
            assert time.time() < deadline and self.thread.is_alive(), "uvicorn did not start"
            time.sleep(0.05)
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.graph.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    _need_browser()
    s = Server(web_store(tmp_path_factory.getbasetemp() / "web"))
    s.graph.search("warm up", k=1)  # loads the index and the model before the timed page loads
    yield s
    s.stop()


@pytest.fixture(scope="module")
def browser(server: Server) -> Iterator[Any]:
    sync_playwright = _need_browser()
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


@pytest.fixture
def page(browser: Any, server: Server) -> Iterator[Any]:
    ctx = browser.new_context(base_url=server.url, viewport={"width": 1400, "height": 900})
    pg = ctx.new_page()
    pg.errors = []
    pg.dialogs = []
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    pg.on("dialog", lambda d: (pg.dialogs.append(d.message), d.dismiss()))
    yield pg
    ctx.close()


def shot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    out = ARTIFACTS / f"web-{name}.png"
    page.screenshot(path=str(out), full_page=False)
    return out


def open_page(page: Any, path: str) -> None:
    page.goto(path)
    page.wait_for_function(when(READY), timeout=30_000)


def click_graph_node(page: Any, node_id: str) -> None:
    """A real mouse click on a node that cytoscape drew on its canvas."""
    box = page.evaluate("""(id) => { const n = current.getElementById(id); const p = n.renderedPosition();
        const r = current.container().getBoundingClientRect(); return {x: r.left + p.x, y: r.top + p.y}; }""", node_id)
    page.mouse.click(box["x"], box["y"])


def test_first_page_is_interactive_within_a_second(page, server):
    open_page(page, "/")  # the browser caches nothing between contexts: a cold load
    ms = page.evaluate("performance.now()")
    nav = page.evaluate("performance.getEntriesByType('navigation')[0].domInteractive")
    assert page.locator("#q").is_visible()
    assert ms <= 1000, f"first page ready after {ms:.0f} ms (DOM interactive at {nav:.0f} ms)"
    assert not page.errors


def test_search_open_a_hit_and_walk_two_hops(page, server):
    open_page(page, "/search?q=reciprocal+rank+fusion")
    hits = page.locator("#hits > li")
    assert hits.count() >= 3
    first = hits.first
    assert first.locator(".leg[data-leg=bm25]").count() == 1 and first.locator(".leg[data-leg=dense]").count() == 1
    assert "%" in first.locator(".legs").inner_text()
    shot(page, "search")
    # keyboard: / focuses the query, arrows choose a hit, Enter opens it
    page.locator("h1").click()
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "q"
    page.keyboard.press("ArrowDown")
    assert page.locator("#hits > li.selected").count() == 1
    hit_id = page.locator("#hits > li.selected").get_attribute("data-id")
    page.keyboard.press("Enter")
    page.wait_for_url("**/node?id=*")
    page.wait_for_function(when(READY))
    assert page.evaluate("new URLSearchParams(location.search).get('id')") == hit_id
    # hop 1: the RRF paper, then an author of it, then another paper of that author
    open_page(page, "/node?id=" + RRF)
    assert page.evaluate("current.nodes().length") >= 3
    assert page.locator("text=metadata.jsonl").count() >= 1 and page.locator("text=refs.bib").count() >= 1
    shot(page, "node")
    # the first hop: a neighbour that leads on to a node other than RRF (the second hop)
    first, second = next((n, m) for n in server.graph.neighbors(RRF)
                         for m in server.graph.neighbors(n.id) if m.id != RRF)
    click_graph_node(page, first.id)
    page.wait_for_function(when(f"new URLSearchParams(location.search).get('id') === {first.id!r} && {READY}"))
    assert page.locator("h1 .badge").inner_text() == first.label
    click_graph_node(page, second.id)
    page.wait_for_function(when(f"new URLSearchParams(location.search).get('id') === {second.id!r} && {READY}"))
    assert page.locator("h1").inner_text().endswith(second.title or second.id)
    page.go_back()
    page.wait_for_function(when(f"new URLSearchParams(location.search).get('id') === {first.id!r} && {READY}"))
    assert not page.errors


def test_edge_type_filter_and_two_hop_neighbourhood(page, server):
    open_page(page, "/node?id=" + RRF)
    one = page.evaluate("current.nodes().length")
    page.select_option("#depth", "2")
    page.wait_for_function(when("location.search.includes('depth=2') && " + READY))
    assert page.evaluate("current.nodes().length") > one
    page.locator("#edge-types input[value=AUTHORED]").uncheck()
    page.wait_for_function(when("location.search.includes('edge_type') && " + READY))
    assert page.evaluate("current.edges().filter(e => e.data('type') === 'AUTHORED').length") == 0


def test_a_500_node_neighbourhood_draws_without_freezing(page, server):
    page.goto("/")
    page.wait_for_function(when(READY))
    page.evaluate("""() => { window.__long = 0; new PerformanceObserver((l) => { for (const e of l.getEntries())
        window.__long = Math.max(window.__long, e.duration); }).observe({type: 'longtask', buffered: true}); }""")
    t0 = time.perf_counter()
    page.evaluate(f"go('/node?id=' + encodeURIComponent({HUB!r}))")
    page.wait_for_function(when(READY), timeout=30_000)
    drawn_s = time.perf_counter() - t0
    assert page.evaluate("current.nodes().length") == 501
    assert page.locator("text=(truncated)").count() == 1
    longest = page.evaluate("window.__long")
    shot(page, "node-500")
    assert drawn_s < 5 and longest < 1500, f"drawn in {drawn_s:.2f} s, longest task {longest:.0f} ms"
    page.mouse.wheel(0, -400)  # still answers input after drawing
    assert page.evaluate("1 + 1") == 2


def test_topic_map_opens_a_topic(page, server):
    open_page(page, "/topics")
    n = page.evaluate("current.nodes().length")
    assert n >= 4
    biggest = page.evaluate("current.nodes().sort((a, b) => b.data('size') - a.data('size'))[0].id()")
    click_graph_node(page, biggest)
    page.wait_for_function(when(f"new URLSearchParams(location.search).get('id') === {biggest!r} && {READY}"))
    page.wait_for_selector("#topic-papers li")
    assert page.locator("#topic-papers li").count() >= 5
    shot(page, "topics")


def test_a_skill_and_its_chain(page, server):
    open_page(page, "/skills?q=citation")
    page.locator("#skill-list a", has_text="citation-graph").first.click()
    page.wait_for_function(when("location.search.includes('name=citation-graph') && " + READY))
    assert page.locator("#skill-description").inner_text().startswith("Walk the citation graph")
    assert not page.locator("#skill-body pre").is_visible()  # the body is the next level of disclosure
    page.locator("#skill-body summary").click()
    assert "PageRank" in page.locator("#skill-body pre").inner_text()
    names = page.evaluate("current.nodes().map(n => n.data('label'))")
    assert {"citation-graph", "literature-review"} <= set(names)
    assert page.evaluate("current.edges().map(e => e.data('type'))") and page.evaluate(
        "current.edges().every(e => ['REQUIRES', 'NEXT'].includes(e.data('type')))")
    shot(page, "skills")


def test_context_pack_and_overview(page, server):
    open_page(page, "/context?q=how+does+reciprocal+rank+fusion+work&budget=1500")
    assert page.locator("#citations li").count() >= 1
    assert "<kg-context" in page.locator("#context-text").inner_text()
    shot(page, "context")
    open_page(page, "/overview")
    assert "broken.pdf" in page.locator("#failed").inner_text()
    assert page.locator("#sources tbody tr").count() >= 10
    shot(page, "overview")


def test_dark_mode_follows_the_system(browser, server):
    ctx = browser.new_context(base_url=server.url, color_scheme="dark", viewport={"width": 1400, "height": 900})
    pg = ctx.new_page()
    open_page(pg, "/search?q=knowledge+distillation")
    bg = pg.evaluate("getComputedStyle(document.documentElement).backgroundColor")
    shot(pg, "search-dark")
    ctx.close()
    assert bg == "rgb(21, 23, 27)"


def test_xss_payloads_stay_inert(page, server):
    sentinel = "window.__xss === undefined && !document.querySelector('#view script, #view img, #view svg, #view iframe')"
    for path in ("/search?q=attack+paper&k=30", "/node?id=paper:s2:xss-0", "/node?id=paper:s2:xss-4",
                 "/skills?q=knowledge+distillation&name=xss-skill", "/context?q=attack+paper+script",
                 "/overview", "/topics"):
        open_page(page, path)
        for d in page.locator("#view details").all():
            d.evaluate("d => d.open = true")
        page.mouse.move(200, 300)
        assert page.evaluate(sentinel), path
    open_page(page, "/search?q=attack+paper&k=30")
    text = page.locator("#hits").inner_text()
    assert XSS_TITLE in text  # shown as text, exactly
    for a in page.locator("#view a").all():  # no link leads anywhere but our own pages
        href = a.get_attribute("href") or ""
        assert href.startswith("/"), href
    open_page(page, "/node?id=paper:s2:xss-4")
    author = page.evaluate("current.nodes().filter(n => n.data('kind') === 'Author')[0].id()")
    click_graph_node(page, author)
    page.wait_for_function(when(READY))
    assert XSS_PAYLOADS[4] in page.locator("h1").inner_text()  # the javascript: link, as text
    assert page.evaluate(sentinel)
    shot(page, "xss")
    assert not page.dialogs and not page.errors
