"""The install a newcomer gets: one lock for every environment, and a complete wheel.

- ``uv.lock`` must satisfy ``pyproject.toml`` (``uv lock --check``), and a changed pyproject must make
  that check fail, so the test can fail.
- The environment running these tests must be exactly what the lock says (``uv sync --check``): the
  same lock, all extras, for ``make demo`` and ``make test``.
- A wheel built from the checkout installs into a fresh venv outside the checkout, with only the
  core dependencies (pinned by the lock), and ``kg --help``, ``kg ingest`` + ``kg search`` and the
  Neo4j launcher's build step work from it.

uv is the one from ``make`` (``.uv/bin/uv``) or on PATH. Without it the tests fail under ``CI=true``
and are skipped elsewhere.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _uv() -> str:
    local = REPO / ".uv" / "bin" / "uv"
    found = str(local) if local.is_file() else shutil.which("uv")
    if found:
        return found
    msg = "uv is not installed (make installs it into .uv/)"
    if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
        pytest.fail(msg, pytrace=False)
    pytest.skip(msg)


def _run(cmd: list[str], *, cwd: Path, env: dict[str, str] | None = None, timeout: float = 600
         ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment without this venv's traces, so a child sees only what it was given."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "UV_PROJECT_ENVIRONMENT")}
    return {**env, "UV_PYTHON_DOWNLOADS": "never", **extra}


def test_lock_satisfies_pyproject() -> None:
    r = _run([_uv(), "lock", "--check", "--offline", "--python", sys.executable], cwd=REPO, env=_clean_env())
    assert r.returncode == 0, f"uv.lock is out of date with pyproject.toml; run `make lock`:\n{r.stderr}"


def test_lock_check_fails_when_pyproject_changes(tmp_path: Path) -> None:
    shutil.copy(REPO / "uv.lock", tmp_path / "uv.lock")
    text = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    assert '  "orjson>=3.9",\n' in text
    (tmp_path / "pyproject.toml").write_text(text.replace('  "orjson>=3.9",\n', '  "orjson>=3.9",\n  "tqdm>=4",\n'),
                                             encoding="utf-8")
    r = _run([_uv(), "lock", "--check", "--offline", "--python", sys.executable], cwd=tmp_path, env=_clean_env())
    assert r.returncode != 0
    assert "needs to be updated" in r.stderr


def test_environment_is_the_lock() -> None:
    venv = Path(sys.prefix)
    if not (venv / "pyvenv.cfg").is_file():
        pytest.skip("not running in a virtual environment")
    r = _run([_uv(), "sync", "--frozen", "--all-extras", "--check", "--inexact", "--no-install-project",
              "--offline", "--python", sys.executable], cwd=REPO,
             env=_clean_env(UV_PROJECT_ENVIRONMENT=str(venv)))
    assert r.returncode == 0, f"this environment differs from uv.lock (all extras):\n{r.stdout}\n{r.stderr}"


@pytest.fixture(scope="module")
def installed_wheel(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the wheel, a fresh venv outside the checkout with it and its core dependencies installed)."""
    uv = _uv()
    root = tmp_path_factory.mktemp("wheel")
    r = _run([uv, "build", "--wheel", "--out-dir", str(root / "dist"), str(REPO)], cwd=root, env=_clean_env())
    assert r.returncode == 0, r.stderr
    (wheel,) = (root / "dist").glob("kgloom-*.whl")
    venv = root / "venv"
    r = _run([uv, "venv", "-q", str(venv), "--python", sys.executable], cwd=root, env=_clean_env())
    assert r.returncode == 0, r.stderr
    constraints = root / "constraints.txt"
    r = _run([uv, "export", "--frozen", "--all-extras", "--no-hashes", "--no-emit-project", "-q", "-o",
              str(constraints)], cwd=REPO, env=_clean_env())
    assert r.returncode == 0, r.stderr
    r = _run([uv, "pip", "install", "-q", "--python", str(venv / "bin" / "python"), str(wheel), "-c",
              str(constraints)], cwd=root, env=_clean_env())
    assert r.returncode == 0, r.stderr
    return wheel, venv


@pytest.mark.slow
def test_wheel_carries_the_package_data(installed_wheel: tuple[Path, Path]) -> None:
    wheel, _ = installed_wheel
    names = set(zipfile.ZipFile(wheel).namelist())
    for required in ("kg/py.typed", "kg/neo4j/kgloom.grass", "kg/neo4j/java/pom.xml",
                     "kg/neo4j/java/src/main/java/kgloom/Neo4jLauncher.java", "kg/cli/__init__.py",
                     "ingest/pipeline.py", "retrieval/hybrid.py"):
        assert required in names, f"{required} is missing from {wheel.name}"
    assert not any(n.startswith(("tests/", "benchmarks/")) for n in names)


@pytest.mark.slow
def test_wheel_runs_outside_the_checkout(installed_wheel: tuple[Path, Path], tmp_path: Path) -> None:
    _, venv = installed_wheel
    kg = str(venv / "bin" / "kg")
    env = _clean_env()
    r = _run([kg, "--help"], cwd=tmp_path, env=env)
    assert r.returncode == 0 and "ingest" in r.stdout, r.stderr
    # the installed package, not the checkout, is what runs
    r = _run([str(venv / "bin" / "python"), "-c", "import kg; print(kg.__file__)"], cwd=tmp_path, env=env)
    assert r.returncode == 0 and str(venv) in r.stdout and str(REPO) not in r.stdout, r.stdout + r.stderr

    papers = tmp_path / "papers"
    papers.mkdir()
    (papers / "refs.bib").write_text(
        "@article{lin2021,\n  title = {Reciprocal Rank Fusion Outperforms Condorcet},\n"
        "  author = {Cormack, Gordon and Clarke, Charles},\n  year = {2009},\n  journal = {SIGIR}\n}\n",
        encoding="utf-8")
    (papers / "notes.md").write_text("# Graph distillation\n\nA student encoder learns from a teacher "
                                     "over the citation graph.\n", encoding="utf-8")
    store = tmp_path / "store"
    r = _run([kg, "ingest", str(papers), "--store", str(store), "--json"], cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    r = _run([kg, "search", "rank fusion", "--store", str(store), "--k", "3", "--json"], cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    assert "Reciprocal Rank Fusion" in r.stdout
    assert not list(tmp_path.glob("*.report"))  # nothing written into the working folder


@pytest.mark.slow
@pytest.mark.neo4j
def test_wheel_builds_the_neo4j_launcher(installed_wheel: tuple[Path, Path], tmp_path: Path) -> None:
    """``kg neo4j start`` finds the launcher sources in the installed wheel and can build them."""
    if not (shutil.which("java") and shutil.which("mvn")):
        msg = "Java and Maven are needed for the launcher build"
        if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
            pytest.fail(msg, pytrace=False)
        pytest.skip(msg)
    _, venv = installed_wheel
    home = tmp_path / "neo4j-home"
    home.mkdir()
    # fetch Neo4j's jars once into the shared cache (what the test session's server uses), then reuse them
    from kg.neo4j.server import build

    build()
    shared_m2 = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "kgloom" / "neo4j" / "m2"
    if shared_m2.is_dir():
        (home / "m2").symlink_to(shared_m2)
    env = _clean_env(KG_NEO4J_HOME=str(home))
    env.pop("KG_NEO4J_SRC", None)
    python = str(venv / "bin" / "python")
    r = _run([python, "-c", "from kg.neo4j.server import launcher_source; print(launcher_source())"],
             cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().startswith(str(venv)), r.stdout
    r = _run([str(venv / "bin" / "kg"), "neo4j", "build"], cwd=tmp_path, env=env, timeout=1800)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (home / "build" / "classes" / "kgloom" / "Neo4jLauncher.class").is_file()
    assert any((home / "build" / "lib").glob("neo4j-kernel-*.jar"))
