"""Citation resolution: do parsed references link to the Paper already in the store?

Ingests the evaluation folder (``benchmarks/citations/README.md`` says how it is made: the two PDFs and
the metadata samples of ``../shared/data``, plus the hand-written records of cited papers under
``benchmarks/citations/records/``) into a temporary store, then compares the CITES edges of the citing
papers with the hand-checked gold set ``benchmarks/citations/gold.jsonl``. Prints one JSON line per
ingest order and appends it to ``benchmarks/results/citation_resolution.jsonl``.

    .venv/bin/python benchmarks/citation_resolution.py [--shared ../shared/data] [--orders one-call cited-first citing-first]

Orders: ``one-call`` ingests every file in one call (the first-load path); ``cited-first`` ingests
the cited papers' records, then the citing PDFs and LaTeX source (references meet stored papers);
``citing-first`` the other way round (stored stubs must merge when the cited papers arrive).

A prediction is a CITES edge from a citing paper of the gold set to a node that some non-stub
record supports (a paper really in the store). Keys: order, gold_links, gold_in_store, predicted,
tp, fp, fn, decoy_merges (decoy papers merged with another full record: a wrong merge even
where no citation shows it), precision, recall, seconds. ``--details`` also prints the missed and
the wrong links.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# this folder holds a module named like the `ingest` package: keep it off the import path
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "benchmarks" / "citations"
RECORDS = DATA / "records"


def files(shared: Path) -> tuple[list[Path], list[Path]]:
    """``(cited, citing)``: records of cited papers and distractors; papers whose references are checked."""
    cited = [RECORDS / "cited-arxiv.jsonl", RECORDS / "cited-s2orc.jsonl", RECORDS / "cited.bib",
             RECORDS / "decoys.jsonl", RECORDS / "decoys.bib", shared / "paper-metadata" / "s2orc_sample" / "metadata_sample.jsonl",
             shared / "paper-metadata" / "arxiv_oai_head200" / "arxiv-metadata-oai-snapshot.head200.jsonl",
             shared / "daily-papers-knowledge-transfer.txt"]
    citing = [shared / "pdfs" / "2020.acl-main.447.pdf", shared / "pdfs" / "2023.eacl-main.121.pdf",
              RECORDS / "survey" / "survey.tex"]  # survey/refs.bib is read through \bibliography only
    return cited, citing


def load_gold(path: Path) -> list[dict[str, Any]]:
    """The gold links, one JSON object a line (see ``benchmarks/citations/README.md``)."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def evaluate(store: Any, gold: list[dict[str, Any]]) -> dict[str, Any]:
    """Precision and recall of the store's CITES edges from the gold set's citing papers."""
    by_record: dict[tuple[str, str], str] = {}  # (source path, title) of a full record -> node id
    full: set[str] = set()
    records_of: dict[str, int] = {}  # node id -> full records on it
    decoys: set[str] = set()  # nodes holding a decoy record
    for nid, path, label, stub, props in store.node_supports():
        if label != "Paper" or stub:
            continue
        full.add(nid)
        records_of[nid] = records_of.get(nid, 0) + 1
        if Path(path).stem == "decoys":
            decoys.add(nid)
        title = json.loads(props).get("title")
        if title:
            by_record[(path, " ".join(title.split()))] = nid

    def node_of(ref: dict[str, str]) -> str | None:
        hits = {nid for (path, title), nid in by_record.items()
                if title == ref["title"] and (path == ref["source"] or path.endswith("/" + ref["source"]))}
        if len(hits) > 1:
            raise SystemExit(f"gold record {ref} matches several nodes: {sorted(hits)}")
        return next(iter(hits), None)

    citing_nodes: dict[str, str] = {}
    targets_of: dict[str, set[str]] = {}
    missing_records: list[str] = []
    for g in gold:
        c = node_of(g["citing"])
        if c is None:
            missing_records.append(g["id"] + " (citing)")
            continue
        citing_nodes[g["id"]] = c
        nodes = set()
        for ref in g["cited"] or []:
            n = node_of(ref)
            if n is None:
                missing_records.append(g["id"])
            else:
                nodes.add(n)
        targets_of[g["id"]] = nodes  # one paper: a link to any node holding one of its records counts
    if missing_records:
        raise SystemExit(f"gold records not in the store: {missing_records[:5]}")
    citing = set(citing_nodes.values())
    predicted = {(s, d) for s, _, d in store.edge_keys(["CITES"]) if s in citing and d in full}
    tp = fn = 0
    matched: set[tuple[str, str]] = set()
    for gid, nodes in targets_of.items():
        if not nodes:
            continue
        hit = [(citing_nodes[gid], n) for n in sorted(nodes) if (citing_nodes[gid], n) in predicted]
        if hit:
            tp += 1
            matched.update(hit)
        else:
            fn += 1
    fp = len(predicted - matched)
    return {"gold_links": len(gold), "gold_in_store": tp + fn, "predicted": len(predicted), "tp": tp, "fp": fp,
            "fn": fn, "decoy_merges": sum(records_of[n] > 1 for n in decoys),
            "precision": round(tp / (tp + fp), 4) if tp + fp else 0.0,
            "recall": round(tp / (tp + fn), 4) if tp + fn else 0.0,
            "misses": sorted(g for g, n in targets_of.items() if n and not any(
                (citing_nodes[g], x) in predicted for x in n)),
            "false_links": sorted(f"{s} -> {d}" for s, d in predicted - matched)}


def run(order: str, shared: Path, gold: list[dict[str, Any]]) -> dict[str, Any]:
    """One ingest order into a fresh temporary store, evaluated."""
    from kg import KnowledgeGraph

    cited, citing = files(shared)
    batches = {"one-call": [cited + citing], "cited-first": [cited, citing], "citing-first": [citing, cited]}[order]
    tmp = Path(tempfile.mkdtemp(prefix="kg-cites-"))
    try:
        g = KnowledgeGraph.open(tmp / "store")
        t = time.perf_counter()
        for batch in batches:
            rep = g.ingest(*batch, embed=False)
            if not rep.ok:
                raise SystemExit(f"ingest failed: {rep.failed[:3]}")
        seconds = time.perf_counter() - t
        out = {"benchmark": "citation_resolution", "order": order, **evaluate(g.store, gold),
               "seconds": round(seconds, 2)}
        g.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--gold", type=Path, default=DATA / "gold.jsonl")
    ap.add_argument("--orders", nargs="+", default=["one-call", "cited-first", "citing-first"],
                    choices=["one-call", "cited-first", "citing-first"])
    ap.add_argument("--label", default="", help="a note stored with the result (e.g. the code state)")
    ap.add_argument("--details", action="store_true", help="also print the missed and false links")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "citation_resolution.jsonl")
    args = ap.parse_args()
    gold = load_gold(args.gold)
    for order in args.orders:
        res = run(order, args.shared, gold)
        misses, false_links = res.pop("misses"), res.pop("false_links")
        if args.label:
            res["label"] = args.label
        line = json.dumps(res)
        print(line)
        if args.details:
            print("  missed:", misses, "\n  false:", false_links, file=sys.stderr)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with open(args.out, "a") as fh:
            fh.write(line + "\n")


if __name__ == "__main__":
    main()
