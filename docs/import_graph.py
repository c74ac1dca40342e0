"""Draw kgloom's real import graph, layer by layer: writes docs/img/architecture.svg.

Reads every import between the modules of ``kg``, ``ingest`` and ``retrieval`` with grimp (the
graph library of import-linter), imports inside functions included and imports under
``if TYPE_CHECKING:`` left out, as the contract says. The layers come from the import-linter
``layers`` contract in ``pyproject.toml`` (``[tool.importlinter]``), so the picture follows the
contract: one horizontal band per layer, top to bottom, a box per module (the packages in
``COLLAPSE`` are one box each), an arrow per importing box -> imported box.

Arrows into a lower layer are blue, arrows within a layer grey, and an arrow into a higher layer
(an upward import, against the contract) is red; each upward import is also printed, and the
script exits with status 1 when there is one, unless ``--allow-up`` is given (the SVG is written
either way). The last line printed is a one-line JSON summary.

    .venv/bin/python docs/import_graph.py [--allow-up] [--out docs/img/architecture.svg]

The output is deterministic: same code, same SVG, byte for byte.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import tomllib
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "docs" / "img" / "architecture.svg"

# Packages drawn as one box each (their modules' imports among themselves are not drawn).
COLLAPSE = ("kg.cli", "kg.neo4j", "kg.store", "kg.distill", "retrieval.agents", "ingest.readers")

# Names for the contract's layers, keyed by the first module the layer lists ("layer N" otherwise).
LAYER_NAMES = {"kg.cli": "CLI", "kg.graph": "facade", "kg.topics": "features", "ingest": "ingest | retrieval",
               "kg.store": "stores", "kg.errors": "core"}

MAX_CYCLES = 100_000  # counting simple cycles stops here (the count is then a lower bound)

# -- drawing constants (pixels) --------------------------------------------------------------------
WIDTH = 1400
MARGIN = 24
BOX_W, BOX_H = 150, 40
COL_GAP = 16  # between boxes of a row
PART_GAP = 56  # between the package groups of a band
ROW_GAP = 30  # between rows of a band
BAND_HEAD = 46  # layer title + package names
BAND_PAD = 16
BAND_GAP = 40  # between bands: room for the arrows to fan out
TOP = 122  # title and legend
FONT = "DejaVu Sans Mono, Menlo, Consolas, monospace"
DOWN, SAME, UP = "#2f6db5", "#8c8c8c", "#d62728"


# -- the graph ---------------------------------------------------------------------------------------
@dataclass
class Box:
    """One drawn box: a module, or a collapsed package and its modules."""

    name: str  # dotted: kg.graph, kg.cli
    modules: list[str]
    layer: int
    package: str  # top-level package: kg, ingest, retrieval
    lines: int
    in_contract: bool = True
    level: int = 0  # row inside its package group
    x: float = 0.0
    y: float = 0.0

    @property
    def label(self) -> str:
        rel = self.name.split(".", 1)[1] if "." in self.name else ""
        if not rel:
            return "__init__.py"
        path = rel.replace(".", "/")
        return path + "/" if self.collapsed else path + ".py"

    @property
    def collapsed(self) -> bool:
        return self.name in COLLAPSE

    @property
    def path(self) -> str:
        if self.collapsed:
            return self.name.replace(".", "/") + "/"
        return module_file(self.name).relative_to(REPO).as_posix()


@dataclass
class Arrow:
    """Imports from one box to another, with the module-level imports they stand for."""

    src: str
    dst: str
    kind: str  # down, same, up
    imports: list[tuple[str, str, int]] = field(default_factory=list)  # importer, imported, line


def module_file(module: str) -> Path:
    """The source file of a module of this repository (flat layout: packages at the root)."""
    base = REPO.joinpath(*module.split("."))
    return base / "__init__.py" if (base / "__init__.py").exists() else base.with_suffix(".py")


def line_count(module: str) -> int:
    path = module_file(module)
    return len(path.read_text(encoding="utf-8").splitlines()) if path.exists() else 0


def load_contract() -> tuple[list[str], bool, list[list[str]], list[str]]:
    """``(root packages, exclude TYPE_CHECKING imports, layers as lists of modules, ignore_imports)``
    of the import-linter layers contract in pyproject.toml."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]
    roots = config.get("root_packages") or [config["root_package"]]
    contracts = [c for c in config.get("contracts", []) if c.get("type") == "layers"]
    if len(contracts) != 1:
        sys.exit(f"expected one layers contract in pyproject.toml, found {len(contracts)}")
    (contract,) = contracts
    layers = []
    for layer in contract["layers"]:
        items = [p.strip() for p in layer.replace("|", ":").split(":")]
        layers.append([p for p in items if p])
    return list(roots), bool(config.get("exclude_type_checking_imports", False)), layers, \
        list(contract.get("ignore_imports", []))


def layer_of(module: str, layers: list[list[str]]) -> int | None:
    """Index of the layer (0 = top) whose most specific entry contains ``module``."""
    best: tuple[int, int] | None = None
    for i, items in enumerate(layers):
        for item in items:
            inside = module == item or module.startswith(item + ".")
            if inside and (best is None or len(item) > best[1]):
                best = (i, len(item))
    return None if best is None else best[0]


def box_of(module: str) -> str:
    for c in COLLAPSE:
        if module == c or module.startswith(c + "."):
            return c
    return module


def build(roots: list[str], exclude_tc: bool, layers: list[list[str]]) -> tuple[
        dict[str, list[str]], dict[str, Box], dict[tuple[str, str], Arrow], list[str]]:
    """``(module -> imported modules, boxes, arrows, warnings)``."""
    import grimp

    sys.path.insert(0, str(REPO))
    graph = grimp.build_graph(*roots, include_external_packages=False, exclude_type_checking_imports=exclude_tc,
                              cache_dir=str(REPO / ".grimp_cache"))  # grimp's own cache, which ignores itself in git
    imports = {m: sorted(graph.find_modules_directly_imported_by(m)) for m in sorted(graph.modules)}
    warnings: list[str] = []

    # layer of each module; modules outside the contract (package __init__s) sit in the highest
    # layer they import from, so that none of their own imports points up
    layer: dict[str, int] = {}
    outside: set[str] = set()
    for m in imports:
        got = layer_of(m, layers)
        if got is None:
            outside.add(m)
        else:
            layer[m] = got
    for m in sorted(outside):
        above = [layer[t] for t in imports[m] if t in layer]
        layer[m] = min(above) if above else len(layers) - 1

    members: dict[str, list[str]] = defaultdict(list)
    for m in imports:
        members[box_of(m)].append(m)
    importers = {t for m in imports for t in imports[m]}
    boxes: dict[str, Box] = {}
    for name, mods in sorted(members.items()):
        lines = sum(line_count(m) for m in mods)
        if len(mods) == 1 and not imports[name] and name not in importers and lines == 0:
            continue  # an empty package marker nobody imports (ingest/__init__.py): nothing to draw
        layers_of = sorted({layer[m] for m in mods})
        if len(layers_of) > 1:
            warnings.append(f"{name}: modules in several layers {layers_of}; drawn in the highest")
        boxes[name] = Box(name, sorted(mods), layers_of[0], name.split(".")[0], lines,
                          in_contract=not any(m in outside for m in mods))

    arrows: dict[tuple[str, str], Arrow] = {}
    for m, targets in imports.items():
        for t in targets:
            a, b = box_of(m), box_of(t)
            if a == b:
                continue
            arrow = arrows.setdefault((a, b), Arrow(a, b, "down"))
            details = graph.get_import_details(importer=m, imported=t)
            line = min((d["line_number"] for d in details), default=0)
            arrow.imports.append((m, t, line))
    for arrow in arrows.values():  # red when one of its imports goes up, else by the boxes' layers
        la, lb = boxes[arrow.src].layer, boxes[arrow.dst].layer
        if any(layer[m] > layer[t] for m, t, _ in arrow.imports):
            arrow.kind = "up"
        else:
            arrow.kind = "down" if la < lb else "same" if la == lb else "up"
        arrow.imports.sort()
    return imports, boxes, arrows, warnings


def count_cycles(imports: dict[str, list[str]]) -> tuple[int, int]:
    """``(simple cycles between modules (at most MAX_CYCLES), modules on a cycle)``."""
    import networkx as nx

    g = nx.DiGraph()
    g.add_edges_from((m, t) for m, ts in imports.items() for t in ts if m != t)
    cycles = sum(1 for _ in itertools.islice(nx.simple_cycles(g), MAX_CYCLES))
    on_cycle = sum(len(c) for c in nx.strongly_connected_components(g) if len(c) > 1)
    return cycles, on_cycle


# -- layout --------------------------------------------------------------------------------------------
def levels(names: list[str], arrows: dict[tuple[str, str], Arrow]) -> dict[str, int]:
    """Row of each box in a package group: importers above what they import (longest path over
    the group's own imports; the boxes of an import cycle share a row)."""
    import networkx as nx

    g = nx.DiGraph()
    g.add_nodes_from(names)
    g.add_edges_from((a, b) for (a, b) in arrows if a in g and b in g)
    dag = nx.condensation(g)
    depth: dict[int, int] = {}
    for c in nx.topological_sort(dag):
        preds = list(dag.predecessors(c))
        depth[c] = max((depth[p] + 1 for p in preds), default=0)
    return {n: depth[dag.graph["mapping"][n]] for n in names}


@dataclass
class Band:
    index: int
    name: str
    contract: str
    groups: list[tuple[str, list[list[str]]]]  # package, rows of box names
    y: float = 0.0
    height: float = 0.0
    group_x: dict[str, float] = field(default_factory=dict)
    group_w: dict[str, float] = field(default_factory=dict)


def layout(boxes: dict[str, Box], arrows: dict[tuple[str, str], Arrow], layers: list[list[str]]) -> tuple[list[Band], float]:
    bands: list[Band] = []
    for i, items in enumerate(layers):
        in_band = [b for b in boxes.values() if b.layer == i]
        order = list(dict.fromkeys([it.split(".")[0] for it in items] + sorted(b.package for b in in_band)))
        groups = []
        for pkg in order:
            names = sorted(b.name for b in in_band if b.package == pkg)
            if not names:
                continue
            lv = levels(names, arrows)
            rows = [sorted(n for n in names if lv[n] == r) for r in range(max(lv.values()) + 1)]
            groups.append((pkg, rows))
        name = LAYER_NAMES.get(items[0], f"layer {i + 1}") if items else f"layer {i + 1}"
        bands.append(Band(i, name, " : ".join(items), groups))

    step = BOX_W + COL_GAP
    room = WIDTH - 2 * MARGIN
    # a band whose boxes all fit side by side gives each box a column of its own, so that no box
    # hides the arrows coming down to a box in a lower row of the band
    spread = {band.index: any(len(rows) > 1 for _, rows in band.groups)
              and sum(len(n) for _, rows in band.groups for n in rows) * step - COL_GAP
              + PART_GAP * (len(band.groups) - 1) <= room for band in bands}
    flat = {(band.index, pkg): [n for row in rows for n in row] for band in bands for pkg, rows in band.groups}

    def shifts(rows: list[list[str]]) -> list[float]:
        """Row offsets from the group's centre: a row whose boxes would sit right under the boxes of
        the row above moves by half a column."""
        out = [0.0]
        for r in range(1, len(rows)):
            lag = (len(rows[r]) - len(rows[r - 1])) / 2 + out[-1] / step
            out.append(0.0 if lag % 1 else (step / 2 if out[-1] <= 0 else -step / 2))
        return out

    def place() -> float:
        y = TOP
        for band in bands:
            band.y = y
            n_rows = max((len(rows) for _, rows in band.groups), default=1)
            widths: dict[str, float] = {}
            offsets: dict[str, list[float]] = {}
            for pkg, rows in band.groups:
                if spread[band.index]:
                    widths[pkg] = len(flat[(band.index, pkg)]) * step - COL_GAP
                else:
                    offsets[pkg] = shifts(rows)
                    widths[pkg] = max(len(row) * step - COL_GAP + 2 * abs(o) for row, o in zip(rows, offsets[pkg], strict=True))
            total = sum(widths.values()) + PART_GAP * (len(widths) - 1)
            x = MARGIN + (room - total) / 2
            for pkg, rows in band.groups:
                band.group_x[pkg], band.group_w[pkg] = x, widths[pkg]
                for r, row in enumerate(rows):
                    for c, name in enumerate(row):
                        if spread[band.index]:
                            boxes[name].x = x + flat[(band.index, pkg)].index(name) * step
                        else:
                            x0 = x + widths[pkg] / 2 + offsets[pkg][r] - (len(row) * step - COL_GAP) / 2
                            boxes[name].x = x0 + c * step
                        boxes[name].y = y + BAND_HEAD + r * (BOX_H + ROW_GAP)
                x += widths[pkg] + PART_GAP
            band.height = BAND_HEAD + n_rows * BOX_H + (n_rows - 1) * ROW_GAP + BAND_PAD
            y += band.height + BAND_GAP
        return y - BAND_GAP

    # order boxes in each row by the mean position of the boxes they are joined to (a few sweeps
    # of the barycentre heuristic; ties by name, so the result is deterministic)
    neighbours: dict[str, list[str]] = defaultdict(list)
    for a, b in sorted(arrows):
        neighbours[a].append(b)
        neighbours[b].append(a)
    place()
    for sweep in range(8):
        seq = bands if sweep % 2 == 0 else list(reversed(bands))
        for band in seq:
            def bary(n: str) -> float:
                xs = [boxes[m].x for m in neighbours[n]]
                return round(sum(xs) / len(xs), 3) if xs else boxes[n].x
            for pkg, rows in band.groups:
                for row in rows:
                    row.sort(key=lambda n: (bary(n), n))
                flat[(band.index, pkg)].sort(key=lambda n: (bary(n), n))
            place()
    height = place() + MARGIN
    return bands, height


# -- SVG -----------------------------------------------------------------------------------------------
def f(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".")


def text(x: float, y: float, s: str, *, size: float = 12, anchor: str = "start", weight: str = "normal",
         fill: str = "#222") -> str:
    bold = ' font-weight="bold"' if weight == "bold" else ""
    return (f'<text x="{f(x)}" y="{f(y)}" font-size="{f(size)}" text-anchor="{anchor}"{bold} '
            f'fill="{fill}">{escape(s)}</text>')


def render(boxes: dict[str, Box], arrows: dict[tuple[str, str], Arrow], bands: list[Band], height: float,
           summary: dict[str, object]) -> str:
    out: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{f(height)}" '
        f'viewBox="0 0 {WIDTH} {f(height)}" font-family="{FONT}">',
        f'<rect x="0" y="0" width="{WIDTH}" height="{f(height)}" fill="#ffffff"/>',
        text(MARGIN, 32, "kgloom: modules by layer, and their imports", size=20, weight="bold"),
        text(MARGIN, 54, f"{summary['modules']} modules, {summary['import_edges']} imports between them "
             "(imports inside functions included, TYPE_CHECKING imports left out), read by grimp; "
             "layers from the import-linter contract in pyproject.toml", size=12, fill="#444"),
        text(MARGIN, 72, "Regenerate with: make architecture (docs/import_graph.py). "
             "In a browser, hover a box or an arrow for its modules and import lines.", size=12, fill="#444"),
    ]
    # legend: one row under the title
    x, y = float(MARGIN), 98.0
    for colour, label in ((DOWN, "import into a lower layer"), (SAME, "import within a layer"),
                          (UP, f"upward import: {summary['upward_edges']} (against the contract)")):
        dash = ' stroke-dasharray="5 3"' if colour == SAME else ""
        out.append(f'<path d="M{f(x)} {f(y)} L{f(x + 30)} {f(y)}" stroke="{colour}" '
                   f'stroke-width="{2.6 if colour == UP else 1.8}" fill="none"{dash}/>')
        out.append(arrowhead(x + 38, y, 1.0, 0.0, colour))
        out.append(text(x + 46, y + 4, label, size=12, fill="#333"))
        x += 46 + 0.6 * 12 * len(label) + 26
    for fill, dash, label in (("#fff8e6", "", "package, one box"),
                              ("#ffffff", ' stroke-dasharray="5 3"', "module in no layer of the contract")):
        out.append(f'<rect x="{f(x)}" y="{f(y - 7)}" width="30" height="14" rx="3" fill="{fill}" '
                   f'stroke="#44546a" stroke-width="1.2"{dash}/>')
        out.append(text(x + 38, y + 4, label, size=12, fill="#333"))
        x += 38 + 0.6 * 12 * len(label) + 26

    # bands (their titles are drawn over the arrows, further down)
    titles: list[str] = []
    for band in bands:
        fill = "#f3f6fa" if band.index % 2 == 0 else "#fafafa"
        out.append(f'<rect x="{f(MARGIN / 2)}" y="{f(band.y)}" width="{f(WIDTH - MARGIN)}" height="{f(band.height)}" '
                   f'rx="6" fill="{fill}" stroke="#d5dbe3" stroke-width="1"/>')
        title = f"{band.index + 1}  {band.name}"
        contract = band.contract
        room = int((WIDTH - 2 * MARGIN - 0.6 * 15 * len(title) - 16) / (0.6 * 11))
        if len(contract) > room:
            contract = contract[: room - 1] + "…"
        titles.append(chip(MARGIN - 4, band.y + 5, 0.6 * 15 * len(title) + 16 + 0.6 * 11 * len(contract), 20, fill))
        titles.append(text(MARGIN, band.y + 19, title, size=15, weight="bold", fill="#1d3557"))
        titles.append(text(MARGIN + 0.6 * 15 * len(title) + 12, band.y + 19, contract, size=11, fill="#6b7280"))
        for pkg, _ in band.groups:
            titles.append(chip(band.group_x[pkg] - 3, band.y + BAND_HEAD - 21, 0.6 * 12 * (len(pkg) + 1) + 6, 17, fill))
            titles.append(text(band.group_x[pkg], band.y + BAND_HEAD - 8, pkg + "/", size=12, weight="bold", fill="#555"))

    # arrows: anchors spread along each box side, ordered by where the other end is
    starts: dict[tuple[str, str], tuple[float, float]] = {}
    ends: dict[tuple[str, str], tuple[float, float]] = {}
    sides: dict[tuple[str, str], list[tuple[float, str, tuple[str, str], str]]] = defaultdict(list)
    for key, arrow in sorted(arrows.items()):
        s, d = boxes[arrow.src], boxes[arrow.dst]
        if d.y > s.y:  # drawn downwards: bottom of the importer -> top of the imported
            sides[(s.name, "bottom")].append((d.x, d.name, key, "start"))
            sides[(d.name, "top")].append((s.x, s.name, key, "end"))
        elif d.y < s.y:  # drawn upwards
            sides[(s.name, "top")].append((d.x, d.name, key, "start"))
            sides[(d.name, "bottom")].append((s.x, s.name, key, "end"))
        else:  # same row: an arc below the row
            sides[(s.name, "bottom")].append((d.x, d.name, key, "start"))
            sides[(d.name, "bottom")].append((s.x, s.name, key, "end"))
    for (name, side), items in sorted(sides.items()):
        b = boxes[name]
        items.sort(key=lambda t: (t[0], t[1], t[3]))
        n = len(items)
        for i, (_, _, key, role) in enumerate(items):
            x = b.x + 10 + (BOX_W - 20) * (i + 1) / (n + 1)
            y = b.y + BOX_H if side == "bottom" else b.y
            (starts if role == "start" else ends)[key] = (x, y)

    heads: list[str] = []
    layers_drawn: dict[str, list[str]] = {"same": [], "down": [], "up": []}
    for key, arrow in sorted(arrows.items()):
        (x1, y1), (x2, y2) = starts[key], ends[key]
        s, d = boxes[arrow.src], boxes[arrow.dst]
        if d.y > s.y:
            bend = max(24.0, (y2 - y1) * 0.45)
            c1, c2 = (x1, y1 + bend), (x2, y2 - bend)
            tip_dir = (0.0, 1.0)
        elif d.y < s.y:
            bend = max(24.0, (y1 - y2) * 0.45)
            c1, c2 = (x1, y1 - bend), (x2, y2 + bend)
            tip_dir = (0.0, -1.0)
        else:
            bend = min(ROW_GAP - 4.0, 10 + abs(x2 - x1) * 0.05)
            c1, c2 = (x1, y1 + bend), (x2, y2 + bend)
            tip_dir = (0.0, -1.0)
        colour = {"down": DOWN, "same": SAME, "up": UP}[arrow.kind]
        n = len(arrow.imports)
        width = (2.6 if arrow.kind == "up" else 1.1) + 0.3 * (min(n, 6) - 1)
        opacity = "1" if arrow.kind == "up" else "0.55"
        # the curve ends a little before the tip, where the arrowhead starts
        ex, ey = x2 - tip_dir[0] * 7, y2 - tip_dir[1] * 7
        title = "\n".join(f"{m} -> {t} ({module_file(m).relative_to(REPO).as_posix()}:{line})"
                          for m, t, line in arrow.imports)
        dash = ' stroke-dasharray="5 3"' if arrow.kind == "same" else ""
        layers_drawn[arrow.kind].append(
            f'<path d="M{f(x1)} {f(y1)} C{f(c1[0])} {f(c1[1])} {f(c2[0])} {f(c2[1])} {f(ex)} {f(ey)}" '
            f'stroke="{colour}" stroke-width="{f(width)}" stroke-opacity="{opacity}" fill="none"{dash}>'
            f'<title>{escape(title)}</title></path>')
        heads.append(arrowhead(x2, y2, tip_dir[0], tip_dir[1], colour))
    out += layers_drawn["same"] + layers_drawn["down"] + layers_drawn["up"]
    out += titles

    # boxes over the arrows (an arrow disappears behind the boxes it passes), arrowheads over the boxes
    for name in sorted(boxes):
        b = boxes[name]
        dash = ' stroke-dasharray="5 3"' if not b.in_contract else ""
        fill = "#fff8e6" if b.collapsed else "#ffffff"
        out.append(f'<rect x="{f(b.x)}" y="{f(b.y)}" width="{BOX_W}" height="{BOX_H}" rx="5" fill="{fill}" '
                   f'stroke="#44546a" stroke-width="1.2"{dash}><title>{escape(b.path)}: '
                   f'{escape(", ".join(b.modules))}</title></rect>')
        label = b.label if len(b.label) <= 20 else b.label[:19] + "…"
        out.append(text(b.x + BOX_W / 2, b.y + 17, label, size=12.5, anchor="middle", weight="bold", fill="#1f2937"))
        detail = f"{len(b.modules)} modules, {b.lines:,} lines" if b.collapsed else f"{b.lines:,} lines"
        out.append(text(b.x + BOX_W / 2, b.y + 32, detail, size=10.5, anchor="middle", fill="#6b7280"))
    out += heads
    out.append("</svg>")
    return "\n".join(out) + "\n"


def chip(x: float, y: float, w: float, h: float, fill: str) -> str:
    """A plain rectangle that keeps a label readable over the arrows behind it."""
    return f'<rect x="{f(x)}" y="{f(y)}" width="{f(w)}" height="{f(h)}" rx="3" fill="{fill}" fill-opacity="0.92"/>'


def arrowhead(x: float, y: float, dx: float, dy: float, colour: str) -> str:
    """A filled triangle with its tip at (x, y), pointing along (dx, dy)."""
    length, half = 8.0, 4.0
    bx, by = x - dx * length, y - dy * length
    px, py = -dy * half, dx * half
    pts = [(x, y), (bx + px, by + py), (bx - px, by - py)]
    return f'<polygon points="{" ".join(f"{f(a)},{f(b)}" for a, b in pts)}" fill="{colour}"/>'


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--allow-up", action="store_true", help="exit 0 even when an import points up a layer")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"SVG to write (default {DEFAULT_OUT.relative_to(REPO)})")
    args = ap.parse_args(argv)

    roots, exclude_tc, layers, ignored = load_contract()
    imports, boxes, arrows, warnings = build(roots, exclude_tc, layers)
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)

    layer = {m: (layer_of(m, layers)) for m in imports}
    up = sorted((m, t) for m, ts in imports.items() for t in ts
                if layer[m] is not None and layer[t] is not None and layer[t] < layer[m])  # type: ignore[operator]
    names = [LAYER_NAMES.get(items[0], f"layer {i + 1}") for i, items in enumerate(layers)]
    for m, t in up:
        line = min((a[2] for a in arrows[(box_of(m), box_of(t))].imports if a[:2] == (m, t)), default=0)
        listed = "listed in ignore_imports" if f"{m} -> {t}" in ignored else "NOT in ignore_imports"
        print(f"upward import: {m} -> {t}  ({module_file(m).relative_to(REPO).as_posix()}:{line}; "
              f"{names[layer[m]]} -> {names[layer[t]]}; {listed})")  # type: ignore[index]

    roots_init = set(roots)
    outside = sorted(m for m in imports if layer[m] is None and m not in roots_init)
    for m in outside:
        print(f"outside the contract: {m} ({module_file(m).relative_to(REPO).as_posix()}) is in no layer of "
              "pyproject.toml; drawn dashed, in the highest layer it imports from")
    cycles, on_cycle = count_cycles(imports)
    largest = max(imports, key=lambda m: (line_count(m), m))
    summary: dict[str, object] = {
        "modules": len(imports),
        "import_edges": sum(len(ts) for ts in imports.values()),
        "upward_edges": len(up),
        "largest_module": {"path": module_file(largest).relative_to(REPO).as_posix(), "lines": line_count(largest)},
        "import_cycles": cycles if cycles < MAX_CYCLES else f">={MAX_CYCLES}",
        "modules_on_cycles": on_cycle,
        "outside_contract": outside,
        "layers": len(layers),
        "boxes": len(boxes),
        "box_arrows": len(arrows),
    }
    bands, height = layout(boxes, arrows, layers)
    svg = render(boxes, arrows, bands, height, summary)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(svg, encoding="utf-8")
    summary["svg"] = args.out.resolve().relative_to(REPO).as_posix() if args.out.resolve().is_relative_to(REPO) \
        else str(args.out)
    print(json.dumps(summary))
    return 1 if up and not args.allow_up else 0


if __name__ == "__main__":
    sys.exit(main())
