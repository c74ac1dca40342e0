"""The store the web explorer's tests run on: real shared data plus documents carrying XSS payloads.

Built once per test session (every web test module asks :func:`web_store` for the same folder):
the 45-paper daily listing, the repository's sample ``data/`` folder (papers, notes and two skills
with a REQUIRES chain), three shared SKILL.md folders, one shared PDF, a folder of documents whose
titles, author names and bodies carry the payloads of :data:`XSS_PAYLOADS`, one paper citing 600 others (:data:`HUB`)
and one unreadable file (so the overview has a failed source). Topics are fitted with NMF (a few seconds).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"

#: every payload the tests put into titles, names and bodies; none of them may run in the browser
XSS_PAYLOADS = (
    "<script>window.__xss = 1</script>",
    "<img src=x onerror=\"window.__xss = 2\">",
    "<svg onload=\"window.__xss = 3\"></svg>",
    "javascript:window.__xss = 4",
    "<a href=\"javascript:window.__xss = 5\">click me</a>",
    "\"><script>window.__xss = 6</script>",
    "<iframe src=\"javascript:window.__xss = 7\"></iframe>",
    "<b onmouseover=\"window.__xss = 8\">bold</b>",
)
XSS_TITLE = "Attack paper " + XSS_PAYLOADS[0] + XSS_PAYLOADS[1]
HUB = "paper:s2:hub-survey"
"""A paper that cites 600 others (a neighbourhood bigger than the 500 nodes a page draws)."""
SKILLS = ("anthropics/mcp-builder", "anthropics/skill-creator", "k-dense-scientific")


def _xss_folder(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    papers = [{"paper_id": f"xss-{i}", "title": f"Attack paper {p} number {i}",
               "authors": [{"first": p, "last": f"Mallory{i}"}],
               "abstract": f"A body about knowledge distillation with {p} inside it. {XSS_PAYLOADS[(i + 1) % 8]}",
               "year": 2020 + i % 5, "venue": p, "mag_field_of_study": [p]}
              for i, p in enumerate(XSS_PAYLOADS)]
    papers[0]["title"] = XSS_TITLE
    (folder / "attack.jsonl").write_text("\n".join(json.dumps(p) for p in papers) + "\n", encoding="utf-8")
    (folder / "attack-note.md").write_text(
        "---\ntitle: \"Attack note <script>window.__xss = 9</script>\"\nauthor: \"<img src=x onerror=window.__xss=10>\"\n"
        "---\n# Attack note\n\n" + "\n\n".join(XSS_PAYLOADS) + "\n", encoding="utf-8")
    skill = folder / "skills" / "xss-skill"
    skill.mkdir(parents=True, exist_ok=True)
    (skill / "SKILL.md").write_text(
        "---\nname: xss-skill\ndescription: \"Knowledge distillation skill <script>window.__xss = 11</script>"
        " <img src=x onerror=window.__xss=12>\"\nmetadata:\n  requires: literature-review\n---\n"
        "# XSS skill\n\n" + "\n\n".join(XSS_PAYLOADS) + "\n", encoding="utf-8")
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4 this is not a real pdf")
    hub = {"paper_id": HUB.removeprefix("paper:s2:"), "title": "A survey citing six hundred papers", "year": 2024,
           "abstract": "A hub of the citation graph, to draw a neighbourhood of 500 nodes.",
           "outbound_citations": [f"cited-{i:04d}" for i in range(600)]}
    (folder / "hub.jsonl").write_text(json.dumps(hub) + "\n", encoding="utf-8")


def inputs(root: Path) -> list[Path]:
    """The input paths of the web test store (a copy of the chosen skills and the XSS folder)."""
    xss = root / "xss"
    _xss_folder(xss)
    skills = root / "skills"
    for rel in SKILLS[:2]:
        dst = skills / Path(rel).name
        if not dst.exists():
            shutil.copytree(SHARED_DATA / "skills" / rel, dst)
    kd = sorted(p for p in (SHARED_DATA / "skills" / SKILLS[2]).iterdir() if p.is_dir())[0]
    if not (skills / kd.name).exists():
        shutil.copytree(kd, skills / kd.name)
    return [SHARED_DATA / "daily-papers-knowledge-transfer.txt", REPO / "data",
            SHARED_DATA / "pdfs" / "2020.acl-main.447.pdf", skills, xss]


def web_store(root: Path) -> Path:
    """Build (once; later calls reuse it) the web test store under ``root``; returns its folder."""
    store = root / "store"
    done = root / "built"
    if done.exists():
        return store
    from kg.graph import KnowledgeGraph
    from kg.topics import TopicConfig, fit_topics

    with KnowledgeGraph.open(store) as g:
        g.ingest(*inputs(root), workers=1)
        fit_topics(g, TopicConfig(method="nmf", n_topics=4))
    done.write_text("ok")
    return store
