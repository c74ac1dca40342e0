// kgloom explorer: a small single-page app over the read-only JSON API (/api/...).
// Safety rule: document text only ever reaches the page through textContent, attribute values set
// with setAttribute on elements we create (hrefs only to our own routes, built with
// URLSearchParams), or cytoscape labels (drawn on a canvas). Never innerHTML with data.
"use strict";

const view = document.getElementById("view");
let STYLES = null;
let current = null; // the cytoscape instance on the page, destroyed on navigation

// -- helpers -------------------------------------------------------------------------------------
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function route(path, params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    for (const x of [].concat(v)) if (x !== null && x !== undefined && x !== "") q.append(k, String(x));
  }
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

function link(path, params, text, attrs) {
  return el("a", { href: route(path, params), "data-nav": true, ...(attrs || {}) }, text);
}

async function api(path, params) {
  const r = await fetch(route("/api/" + path, params), { headers: { accept: "application/json" } });
  const body = await r.json().catch(() => ({ detail: r.statusText }));
  if (!r.ok) throw new Error(typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail));
  return body;
}

async function styles() {
  if (!STYLES) STYLES = await api("styles");
  return STYLES;
}

function colour(label) {
  return (STYLES && STYLES[label]) || { color: "#A5ABB6", border: "#9AA1AC", text: "#FFFFFF" };
}

function badge(label) {
  const c = colour(label);
  const b = el("span", { class: "badge", text: label });
  b.style.background = c.color; b.style.borderColor = c.border; b.style.color = c.text;
  return b;
}

function nodeLink(id, title, label) {
  return el("span", {}, label ? badge(label) : null, " ", link("/node", { id }, title || id));
}

function show(...children) {
  if (current) { current.destroy(); current = null; }
  view.replaceChildren(...children);
}

function fail(e) {
  show(el("p", { class: "error", role: "alert", text: "Error: " + (e && e.message ? e.message : e) }));
}

function params() { return new URLSearchParams(location.search); }

function short(s, n) { s = String(s || ""); return s.length > n ? s.slice(0, n - 1) + "…" : s; }

function fmt(v) { return typeof v === "string" ? v : JSON.stringify(v); }

function cssVar(name) { return getComputedStyle(document.documentElement).getPropertyValue(name).trim(); }

// -- the graph drawing (cytoscape.js, vendored) ------------------------------------------------------
let cytoscapeLoaded = null;

function loadCytoscape() {
  // the graph library is fetched on the first page that draws a graph, so the first page stays light
  if (!cytoscapeLoaded) cytoscapeLoaded = new Promise((resolve, reject) => {
    const s = el("script", { src: "/static/vendor/cytoscape.min.js" });
    s.addEventListener("load", resolve);
    s.addEventListener("error", () => reject(new Error("could not load the graph library")));
    document.head.append(s);
  });
  return cytoscapeLoaded;
}

function drawGraph(container, nodes, edges, opts) {
  const big = nodes.length > 150;
  const elements = [];
  // a crowded graph labels only its centre and the centre's neighbours (all titles are in the list below it)
  const near = new Set([opts.center]);
  if (nodes.length > 60) for (const e of edges) {
    if (e.source === opts.center) near.add(e.target);
    if (e.target === opts.center) near.add(e.source);
  }
  for (const n of nodes) {
    const c = colour(n.label);
    const shown = nodes.length <= 60 || near.has(n.id);
    elements.push({ data: { id: n.id, label: shown ? short(n.title || n.id, big ? 24 : 40) : "", kind: n.label,
                            color: n.fill || c.color, border: n.fill ? cssVar("--line") : c.border,
                            size: n.size || (n.id === opts.center ? 38 : 24) } });
  }
  const ids = new Set(nodes.map((n) => n.id));
  edges.forEach((e, i) => {
    if (ids.has(e.source) && ids.has(e.target))
      elements.push({ data: { id: "e" + i, source: e.source, target: e.target, type: e.type } });
  });
  const fg = cssVar("--fg"), muted = cssVar("--muted"), line = cssVar("--line"), bg = cssVar("--panel");
  const cy = cytoscape({
    container, elements, wheelSensitivity: 0.3, minZoom: 0.05, maxZoom: 4,
    textureOnViewport: big, hideEdgesOnViewport: big, pixelRatio: big ? 1 : "auto",
    style: [
      { selector: "node", style: { "background-color": "data(color)", "border-color": "data(border)",
          "border-width": 2, width: "data(size)", height: "data(size)", label: "data(label)", color: fg,
          "font-size": opts.fontSize || (big ? 8 : 10), "text-valign": "bottom", "text-margin-y": 3, "text-wrap": "ellipsis",
          "text-max-width": 140, "text-outline-color": bg, "text-outline-width": 2, "min-zoomed-font-size": big ? 7 : 4 } },
      { selector: "node.center", style: { "border-width": 4, "border-color": fg } },
      { selector: "edge", style: { width: 1.2, "line-color": line === "" ? "#999" : muted, opacity: 0.55,
          "curve-style": big ? "haystack" : "bezier", "target-arrow-shape": big ? "none" : "triangle",
          "target-arrow-color": muted, "arrow-scale": 0.8, label: opts.edgeLabels ? "data(type)" : "",
          "font-size": 8, color: muted, "text-rotation": "autorotate", "text-background-color": bg,
          "text-background-opacity": 1 } },
      { selector: "node:selected", style: { "border-width": 4, "border-color": cssVar("--accent") } },
    ],
    layout: opts.layout || { name: "preset" },
  });
  if (opts.center) cy.getElementById(opts.center).addClass("center");
  if (cy.zoom() > (opts.maxFitZoom || 1.3)) { cy.zoom(opts.maxFitZoom || 1.3); cy.center(); }
  if (opts.onTap) cy.on("tap", "node", (ev) => opts.onTap(ev.target.id()));
  current = cy;
  return cy;
}

function hopLayout(center, edges) {
  // concentric rings by hop distance from the centre: instant for 500+ nodes
  const adj = new Map();
  for (const e of edges) {
    if (!adj.has(e.source)) adj.set(e.source, []);
    if (!adj.has(e.target)) adj.set(e.target, []);
    adj.get(e.source).push(e.target); adj.get(e.target).push(e.source);
  }
  const hop = new Map([[center, 0]]);
  const queue = [center];
  while (queue.length) {
    const x = queue.shift();
    for (const y of adj.get(x) || []) if (!hop.has(y)) { hop.set(y, hop.get(x) + 1); queue.push(y); }
  }
  return { name: "concentric", animate: false, minNodeSpacing: edges.length > 150 ? 6 : 40, avoidOverlap: true,
           concentric: (n) => 10 - (hop.has(n.id()) ? hop.get(n.id()) : 3), levelWidth: () => 1 };
}

// -- search ------------------------------------------------------------------------------------------
const MODES = ["hybrid", "bm25", "dense", "hybrid+graph"];

async function pageSearch() {
  const p = params();
  await styles();
  const q = p.get("q") || "";
  const field = (name, label, attrs) => el("label", {}, label, el("input", { name, value: p.get(name) || "", ...attrs }));
  const mode = el("select", { name: "mode", "aria-label": "mode" },
    MODES.map((m) => el("option", { value: m, selected: (p.get("mode") || "hybrid") === m }, m)));
  const label = el("select", { name: "label", "aria-label": "label" }, el("option", { value: "" }, "any label"),
    Object.keys(STYLES).sort().map((l) => el("option", { value: l, selected: p.get("label") === l }, l)));
  const input = el("input", { name: "q", type: "search", value: q, placeholder: "What are you looking for?",
                              "aria-label": "query", id: "q", autofocus: true, size: 48 });
  const form = el("form", { class: "row", role: "search", onsubmit: (ev) => {
    ev.preventDefault();
    const data = new FormData(form);
    const out = {};
    for (const [k, v] of data.entries()) if (v !== "" && !(k === "mode" && v === "hybrid")) out[k] = v;
    go(route("/search", out));
  } },
    el("label", {}, "query", input), el("label", {}, "mode", mode), el("label", {}, "label", label),
    field("year_from", "year from", { type: "number", min: 0, max: 9999 }),
    field("year_to", "year to", { type: "number", min: 0, max: 9999 }),
    field("author", "author", { size: 14 }), field("topic", "topic / category", { size: 14 }),
    field("source", "source path", { size: 16 }), el("button", { type: "submit" }, "Search"));
  const results = el("div", { id: "results" });
  show(el("h1", { text: "Search" }), form,
       el("p", { class: "muted" }, "Keys: ", el("kbd", {}, "/"), " search, ", el("kbd", {}, "↓"), el("kbd", {}, "↑"),
          " choose a hit, ", el("kbd", {}, "Enter"), " open it."), results);
  if (!q) { input.focus(); return; }
  const args = { q, mode: p.get("mode") || "hybrid", k: p.get("k") || 20 };
  for (const k of ["label", "year_from", "year_to", "author", "topic", "source"]) if (p.get(k)) args[k] = p.get(k);
  results.replaceChildren(el("p", { class: "muted", text: "Searching…" }));
  let res;
  try { res = await api("search", args); } catch (e) { results.replaceChildren(el("p", { class: "error", text: e.message })); return; }
  const list = el("ol", { class: "hits", id: "hits" });
  for (const h of res.hits) {
    const legs = h.legs.map((l) => {
      const bar = el("span", { class: "bar", title: `${Math.round(l.share * 100)}% of the fused score` }, el("span"));
      bar.firstChild.style.width = `${Math.round(l.share * 100)}%`;
      return el("span", { class: "leg", "data-leg": l.leg }, el("strong", {}, l.leg),
                l.rank ? `rank ${l.rank}` : "not ranked", bar, `${Math.round(l.share * 100)}%`);
    });
    list.append(el("li", { "data-id": h.id },
      el("div", {}, badge(h.label), " ", link("/node", { id: h.id }, h.title || h.id, { class: "hit-title" }),
         h.year ? el("span", { class: "muted" }, ` · ${h.year}`) : null),
      h.snippet ? el("div", { class: "snippet", text: short(h.snippet, 280) }) : null,
      el("div", { class: "legs" }, el("span", { class: "mono" }, `score ${h.score.toFixed(4)}`), legs),
      el("details", {}, el("summary", { class: "muted" }, "explain"), el("code", { class: "explain", text: h.explanation }))));
  }
  results.replaceChildren(
    el("p", { class: "muted" }, `${res.hits.length} hits · ${res.mode} · ${(res.timings_ms.total || 0).toFixed(1)} ms`),
    res.hits.length ? list : el("p", { text: "No hits." }));
}

function moveSelection(step) {
  const items = [...document.querySelectorAll("#hits > li")];
  if (!items.length) return;
  let i = items.findIndex((x) => x.classList.contains("selected"));
  if (i >= 0) items[i].classList.remove("selected");
  i = Math.max(0, Math.min(items.length - 1, i + step));
  items[i].classList.add("selected");
  items[i].scrollIntoView({ block: "nearest" });
  items[i].querySelector("a.hit-title").focus();
}

// -- node ------------------------------------------------------------------------------------------------
async function pageNode() {
  const p = params();
  const id = p.get("id");
  if (!id) { show(el("p", { text: "No node id given." })); return; }
  await styles();
  const depth = p.get("depth") === "2" ? 2 : 1;
  const chosen = p.getAll("edge_type");
  const [n, nb] = await Promise.all([api("node", { id }),
    api("neighborhood", { id, depth, edge_type: chosen, limit: p.get("limit") || 500 }), loadCytoscape()]);
  const props = el("table", { class: "props" }, el("tbody", {}, Object.entries(n.properties).map(([k, v]) =>
    el("tr", {}, el("th", { text: k }), el("td", { text: short(fmt(v), 900) })))));
  const sources = el("div", {}, n.sources.map((s) => el("details", {},
    el("summary", {}, el("span", { class: "mono", text: s.path }), " ", badge(s.label), s.stub ? el("span", { class: "muted" }, " (reference only)") : null),
    el("table", {}, el("tbody", {}, Object.entries(s.properties).map(([k, v]) =>
      el("tr", {}, el("th", { text: k }), el("td", { text: short(fmt(v), 600) }))))))));
  const types = new Set([...Object.keys(n.edge_types), ...nb.edges.map((e) => e.type)]);
  const checks = el("div", { class: "checks", id: "edge-types" }, [...types].sort().map((t) => el("label", {},
    el("input", { type: "checkbox", value: t, checked: chosen.length === 0 || chosen.includes(t),
                  onchange: () => {
                    const on = [...checks.querySelectorAll("input:checked")].map((x) => x.value);
                    go(route("/node", { id, depth: depth === 2 ? 2 : null, edge_type: on.length === types.size ? [] : on }), true);
                  } }), `${t}${n.edge_types[t] ? ` (${n.edge_types[t]})` : ""}`)));
  const depthSel = el("select", { "aria-label": "hops", id: "depth", onchange: (ev) =>
    go(route("/node", { id, depth: ev.target.value === "2" ? 2 : null, edge_type: chosen }), true) },
    el("option", { value: "1", selected: depth === 1 }, "1 hop"), el("option", { value: "2", selected: depth === 2 }, "2 hops"));
  const box = el("div", { class: "graph", id: "graph", role: "img", "aria-label": "neighbourhood graph" });
  const neighbours = el("ul", { class: "plain", id: "neighbours" }, nb.nodes.slice(1, 200).map((x) =>
    el("li", {}, nodeLink(x.id, x.title, x.label))));
  show(el("div", { class: "muted mono", text: n.id }), el("h1", {}, badge(n.label), " ", n.title || n.id),
    el("div", { class: "grid2" },
      el("section", {}, el("h2", { text: "Properties" }), props,
         el("h2", { text: `Sources (${n.sources.length})` }), el("p", { class: "muted", text: "What each file contributed to this node." }), sources),
      el("section", {}, el("h2", { text: `Neighbourhood: ${nb.nodes.length - 1} nodes, ${nb.edges.length} edges${nb.truncated ? " (truncated)" : ""}` }),
         el("div", { class: "row" }, depthSel, checks), box,
         el("p", { class: "muted", text: "Click a node to walk to it; scroll to zoom, drag to pan." }),
         el("details", {}, el("summary", { text: "Neighbours as a list" }), neighbours))));
  // two hops of a moderate neighbourhood: a force layout (clusters show); else rings by hop (instant at 500+)
  const layout = depth === 2 && nb.nodes.length <= 200
    ? { name: "cose", animate: false, randomize: false, nodeRepulsion: () => 6000, idealEdgeLength: () => 50, numIter: 600 }
    : hopLayout(id, nb.edges);
  drawGraph(box, nb.nodes, nb.edges, { center: id, layout, edgeLabels: nb.nodes.length < 60,
    onTap: (nid) => { if (nid !== id) go(route("/node", { id: nid, depth: depth === 2 ? 2 : null })); } });
}

// -- topics ------------------------------------------------------------------------------------------------
const PALETTE = ["#4C8EDA", "#F79767", "#57C7E3", "#8DCC93", "#C990C0", "#F16667", "#FFC454", "#569480",
                 "#6F5CB8", "#D9C8AE", "#DA7194", "#A5ABB6"];

async function pageTopics() {
  await styles();
  const p = params();
  let tm;
  try { [tm] = await Promise.all([api("topics"), loadCytoscape()]); } catch (e) {
    show(el("h1", { text: "Topics" }), el("p", { class: "muted", text: e.message })); return;
  }
  const box = el("div", { class: "graph", id: "topic-map", role: "img", "aria-label": "topic map" });
  const detail = el("div", { id: "topic-side" });
  const maxSize = Math.max(1, ...tm.topics.map((t) => t.size));
  const leaves = tm.topics.filter((t) => t.level === 0);
  const parents = tm.topics.filter((t) => t.level > 0);
  const hue = new Map(parents.map((pt, i) => [pt.id, PALETTE[i % PALETTE.length]]));
  const swatch = (c) => { const s = el("span", { class: "swatch" }); s.style.background = c; return s; };
  const topicLink = (t) => link("/topics", { id: t.id }, `${t.label} (${t.size})`);
  const tree = el("ul", { class: "plain", id: "topic-list" },
    parents.map((pt) => el("li", {}, swatch(hue.get(pt.id)), topicLink(pt),
      el("ul", {}, leaves.filter((t) => t.parent === pt.id).map((t) => el("li", {}, topicLink(t)))))),
    leaves.filter((t) => !t.parent).map((t) => el("li", {}, swatch(colour("Topic").color), topicLink(t))));
  show(el("h1", { text: "Topics" }),
    el("p", { class: "muted" }, `${leaves.length} topics (${tm.method}) over ${tm.n_docs} documents · ${tm.n_outliers} outliers · `
       + `coherence ${tm.coherence === null ? "n/a" : tm.coherence} · diversity ${tm.diversity}`
       + (parents.length ? ` · ${parents.length} parent topics (colours)` : "")),
    el("div", { class: "grid2 wide-first" },
       el("section", {}, box, el("p", { class: "muted", text: "Bubble size: documents in the topic; colour: its parent topic. Scroll to zoom; click a topic for its papers." })),
       el("section", {}, detail, el("h2", { text: "Hierarchy" }), tree)));
  const nodes = leaves.map((t) => ({ id: t.id, label: "Topic", title: t.label, size: 24 + 96 * Math.sqrt(t.size / maxSize),
                                      fill: t.parent ? hue.get(t.parent) : null }));
  const pos = spread(leaves.map((t, i) => ({ x: t.x * 320, y: t.y * 320, r: nodes[i].size / 2 + 14 })));
  const at = new Map(leaves.map((t, i) => [t.id, pos[i]]));
  const cy = drawGraph(box, nodes, [], { layout: { name: "preset", fit: true, padding: 40,
    positions: (n) => at.get(n.id()) || { x: 0, y: 0 } }, maxFitZoom: 1.6, fontSize: 12,
    onTap: (tid) => go(route("/topics", { id: tid })) });
  const tid = p.get("id");
  if (!tid) { detail.append(el("p", { class: "muted", text: "Choose a topic on the map or in the hierarchy." })); return; }
  const d = await api("topic", { id: tid });
  for (const id of [tid, ...d.children]) cy.getElementById(id).select();
  detail.append(el("h2", { id: "topic-title", text: d.topic.label }),
    el("p", { class: "muted", text: `${d.topic.size} documents · terms: ` + d.topic.terms.join(", ") }),
    el("ol", { id: "topic-papers", class: "scroll" }, d.papers.map((x) => el("li", {}, nodeLink(x.id, x.title, x.label),
      x.year ? el("span", { class: "muted", text: ` · ${x.year}` }) : null))));
}

function spread(points) {
  // push overlapping bubbles apart (a few relaxation rounds; topic maps have at most ~100 topics)
  const p = points.map((q) => ({ ...q }));
  for (let round = 0; round < 80; round++) {
    let moved = false;
    for (let i = 0; i < p.length; i++) for (let j = i + 1; j < p.length; j++) {
      let dx = p[j].x - p[i].x, dy = p[j].y - p[i].y;
      let d = Math.hypot(dx, dy);
      const need = p[i].r + p[j].r;
      if (d >= need) continue;
      if (d < 1e-6) { dx = Math.cos(i + j); dy = Math.sin(i + j); d = 1; }
      const push = (need - d) / 2;
      p[i].x -= dx / d * push; p[i].y -= dy / d * push; p[j].x += dx / d * push; p[j].y += dy / d * push;
      moved = true;
    }
    if (!moved) break;
  }
  return p;
}

// -- skills ------------------------------------------------------------------------------------------------
async function pageSkills() {
  await styles();
  const p = params();
  const q = p.get("q") || "";
  const name = p.get("name");
  const input = el("input", { name: "q", type: "search", value: q, placeholder: "Find a skill", "aria-label": "skill query", size: 36 });
  const form = el("form", { class: "row", role: "search", onsubmit: (ev) => { ev.preventDefault(); go(route("/skills", { q: input.value })); } },
    input, el("button", { type: "submit" }, "Find"));
  const list = el("ul", { class: "plain", id: "skill-list" });
  const detail = el("section", { id: "skill-detail" });
  show(el("h1", { text: "Skills" }), form, el("div", { class: "grid2" }, el("section", {}, list), detail));
  const rows = await api("skills", { q, k: 50 });
  for (const s of rows) list.append(el("li", {}, link("/skills", { q, name: s.name }, s.name, { class: "skill-link" }),
    el("div", { class: "muted", text: short(s.description, 220) })));
  if (!rows.length) list.append(el("li", { class: "muted", text: "No skills found." }));
  if (!name) return;
  const [s, chain] = await Promise.all([api("skill", { name }), api("skill/chain", { name }), loadCytoscape()]);
  const box = el("div", { class: "graph small", id: "skill-chain", role: "img", "aria-label": "skill chain" });
  const names = (xs) => xs.length ? xs.map((x, i) => [i ? ", " : "", link("/skills", { q, name: x }, x)]) : "none";
  detail.append(el("h2", { id: "skill-name" }, badge("Skill"), " ", s.name),
    el("p", { id: "skill-description", text: s.description }),
    el("p", {}, el("strong", {}, "Requires: "), names(s.requires), el("br"), el("strong", {}, "Next: "), names(s.next),
       s.tools.length ? [el("br"), el("strong", {}, "Tools: "), s.tools.join(", ")] : null),
    el("h2", { text: "REQUIRES / NEXT chain" }), box,
    el("details", { id: "skill-body" }, el("summary", { text: "Body and resources" }),
       el("pre", { text: s.body || "" }),
       el("p", {}, el("strong", {}, "Resources: "), s.resources.length ? s.resources.join(", ") : "none")),
    s.related.length ? el("details", {}, el("summary", { text: `Related (${s.related.length})` }),
       el("ul", { class: "plain" }, s.related.map((r) => el("li", {}, nodeLink(r.id, r.title, r.label),
         r.inferred ? el("span", { class: "muted", text: ` · inferred ${r.score ?? ""}` }) : null)))) : null,
    link("/node", { id: s.id }, "Open as a node →"));
  drawGraph(box, chain.nodes, chain.edges, { center: chain.center, edgeLabels: true,
    layout: { name: "breadthfirst", directed: true, spacingFactor: 1.1, animate: false },
    onTap: (nid) => { const t = chain.nodes.find((x) => x.id === nid); if (t) go(route("/skills", { q, name: t.title })); } });
}

// -- context pack ------------------------------------------------------------------------------------
async function pageContext() {
  await styles();
  const p = params();
  const q = p.get("q") || "";
  const budget = p.get("budget") || "2000";
  const input = el("input", { name: "q", type: "search", value: q, placeholder: "A question for an agent", "aria-label": "question", size: 48 });
  const b = el("input", { name: "budget", type: "number", value: budget, min: 500, max: 16000, step: 100 });
  const form = el("form", { class: "row", onsubmit: (ev) => { ev.preventDefault(); go(route("/context", { q: input.value, budget: b.value })); } },
    el("label", {}, "question", input), el("label", {}, "token budget", b), el("button", { type: "submit" }, "Build pack"));
  const out = el("div", { id: "context-out" });
  show(el("h1", { text: "Context pack" }),
    el("p", { class: "muted", text: "What g.context(query, budget) hands an agent: quoted passages and facts, each with a citation." }), form, out);
  if (!q) return;
  out.append(el("p", { class: "muted", text: "Building…" }));
  const c = await api("context", { q, budget });
  out.replaceChildren(el("p", { class: "muted", text: `${c.tokens} of ${c.budget_tokens} tokens · ${c.passages.length} passages · ${c.facts.length} facts` }),
    el("div", { class: "grid2" },
      el("section", {}, el("h2", { text: "Citations" }), el("ul", { class: "plain", id: "citations" }, c.passages.map((x) =>
        el("li", {}, el("span", { class: "mono", text: x.cite + " " }), nodeLink(x.id, x.title, x.label),
           el("div", { class: "muted", text: short(x.text, 300) })))),
        c.facts.length ? [el("h2", { text: "Facts" }), el("ul", { class: "plain" }, c.facts.map((f) => el("li", {},
          link("/node", { id: f.subject }, short(f.subject_title || f.subject, 60)), ` ${f.predicate} `,
          link("/node", { id: f.object }, short(f.object_title || f.object, 60)))))] : null),
      el("section", {}, el("h2", { text: "Prompt text" }), el("pre", { id: "context-text", text: c.text }))));
}

// -- overview ------------------------------------------------------------------------------------------
async function pageOverview() {
  const o = await api("overview");
  STYLES = o.styles;
  const counts = (obj, swatch) => el("table", {}, el("tbody", {}, Object.entries(obj).sort((a, b) => b[1] - a[1]).map(([k, v]) => {
    const sw = swatch ? el("span", { class: "swatch" }) : null;
    if (sw) sw.style.background = colour(k).color;
    return el("tr", {}, el("td", {}, sw, k), el("td", { class: "num", text: v.toLocaleString() }));
  })));
  const last = o.last_ingest;
  show(el("h1", { text: "Overview" }),
    el("div", { class: "cards" },
      el("div", { class: "card" }, el("div", { class: "n", text: o.total_nodes.toLocaleString() }), el("div", { class: "muted", text: "nodes" })),
      el("div", { class: "card" }, el("div", { class: "n", text: o.total_edges.toLocaleString() }), el("div", { class: "muted", text: "edges" })),
      el("div", { class: "card" }, el("div", { class: "n", text: o.sources.length.toLocaleString() }), el("div", { class: "muted", text: "sources" })),
      el("div", { class: "card" }, el("div", { class: "n", text: o.encoder || "none" }), el("div", { class: "muted", text: "encoder" }))),
    el("p", { class: "muted" }, "Store: ", el("span", { class: "mono", text: o.store })),
    el("div", { class: "grid2" }, el("section", {}, el("h2", { text: "Nodes" }), counts(o.nodes, true)),
       el("section", {}, el("h2", { text: "Edges" }), counts(o.edges, false))),
    el("h2", { text: "Last ingest" }),
    last ? el("div", { id: "last-ingest" },
      el("p", {}, `${last.at} · ${last.seconds} s · `, Object.entries(last.summary).map(([k, v]) => `${v} ${k}`).join(", ")),
      last.failed.length ? el("table", { id: "failed" }, el("thead", {}, el("tr", {}, el("th", { text: "failed file" }), el("th", { text: "status" }), el("th", { text: "error" }))),
        el("tbody", {}, last.failed.map((f) => el("tr", {}, el("td", { class: "mono", text: f.path }), el("td", { text: f.status }), el("td", { class: "error", text: f.error })))))
        : el("p", { text: "No file failed." }))
      : el("p", { class: "muted", text: "No ingest recorded in this store." }),
    el("h2", { text: `Sources (${o.sources.length})` }),
    el("table", { id: "sources" }, el("thead", {}, el("tr", {}, ["path", "reader", "nodes", "edges", "problems", "ingested"].map((h) =>
      el("th", { text: h, class: h === "nodes" || h === "edges" ? "num" : null })))),
      el("tbody", {}, o.sources.map((s) => el("tr", {}, el("td", { class: "mono", text: s.path }), el("td", { text: s.reader }),
        el("td", { class: "num", text: s.nodes }), el("td", { class: "num", text: s.edges }),
        el("td", {}, s.errors.map((x) => el("div", { class: "error", text: x })), s.warnings.slice(0, 3).map((x) => el("div", { class: "warn", text: x }))),
        el("td", { class: "muted", text: s.ingested_at }))))));
}

// -- router ---------------------------------------------------------------------------------------------
const PAGES = { "/": pageSearch, "/search": pageSearch, "/node": pageNode, "/topics": pageTopics,
                "/skills": pageSkills, "/context": pageContext, "/overview": pageOverview };

async function render() {
  const page = PAGES[location.pathname] || pageSearch;
  const name = location.pathname.slice(1) || "search";
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", a.dataset.page === name);
  document.title = `kgloom · ${name}`;
  document.body.dataset.ready = "0";
  try { await page(); } catch (e) { fail(e); }
  document.body.dataset.ready = "1";
}

function go(url, replace) {
  if (replace) history.replaceState(null, "", url); else history.pushState(null, "", url);
  window.scrollTo(0, 0);
  render();
}

document.addEventListener("click", (ev) => {
  const a = ev.target.closest && ev.target.closest("a[data-nav]");
  if (!a || ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.button !== 0) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin) return;
  ev.preventDefault();
  go(url.pathname + url.search);
});

document.getElementById("quick").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const q = document.getElementById("quick-q").value.trim();
  if (q) go(route("/search", { q }));
});

document.addEventListener("keydown", (ev) => {
  const typing = ev.target.matches && ev.target.matches("input, select, textarea");
  if (ev.key === "/" && !typing) {
    ev.preventDefault();
    (document.getElementById("q") || document.getElementById("quick-q")).focus();
  } else if ((ev.key === "ArrowDown" || ev.key === "ArrowUp") && document.getElementById("hits") &&
             !(typing && ev.target.type !== "search")) {
    ev.preventDefault();
    moveSelection(ev.key === "ArrowDown" ? 1 : -1);
  }
});

window.addEventListener("popstate", render);
render();
