"""The MiniLM teacher on ONNX Runtime: a real export of the bundled model (cached once per session in a
tmp folder), its vectors against the PyTorch teacher's, the ``load_encoder`` names, stale and broken
cache entries, and the missing-extra error when onnxruntime is not installed."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from processes import python_without

from kg.errors import ConfigError, MissingExtraError
from retrieval.encoder import MiniLMEncoder, load_encoder, minilm_path
from retrieval.onnx_encoder import (
    MANIFEST,
    MODEL_FILE,
    ExportConfig,
    OnnxMiniLMEncoder,
    ensure_export,
    export_key,
)

REPO = Path(__file__).resolve().parents[1]
SCIFACT = REPO.parent / "shared" / "eval" / "scifact" / "corpus.jsonl"
EDGE = ["", "a", "??", "x " * 600, "Ünïcödé naïve café — 数学 and emoji 🙂", "short query about T cells"]


@pytest.fixture(scope="session")
def onnx_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A session cache folder laid out as ``$KG_CACHE/onnx``."""
    return tmp_path_factory.mktemp("kgcache") / "onnx"


@pytest.fixture(scope="session")
def texts() -> list[str]:
    """300 SciFact abstracts (title + text) and a few edge cases (empty, one letter, > 256 tokens)."""
    if not SCIFACT.exists():
        pytest.skip("../shared/eval/scifact is not present")
    out = []
    with open(SCIFACT) as fh:
        for line in fh:
            d = json.loads(line)
            out.append(d["title"] + "\n" + d["text"])
            if len(out) == 300:
                break
    return out + EDGE


@pytest.fixture(scope="session")
def torch_vectors(texts: list[str]) -> np.ndarray:
    return MiniLMEncoder().encode(texts)


@pytest.fixture(scope="session")
def fp32(onnx_cache: Path) -> OnnxMiniLMEncoder:
    return OnnxMiniLMEncoder(cache=onnx_cache)


@pytest.fixture(scope="session")
def int8(onnx_cache: Path) -> OnnxMiniLMEncoder:
    return OnnxMiniLMEncoder(cache=onnx_cache, quantize=True)


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.asarray((a * b).sum(axis=1))


def test_fp32_vectors_equal_the_pytorch_teachers(fp32: OnnxMiniLMEncoder, texts: list[str],
                                                 torch_vectors: np.ndarray) -> None:
    vecs = fp32.encode(texts, batch_size=32)
    assert vecs.shape == (len(texts), 384) and vecs.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    cos = _cosines(vecs, torch_vectors)
    assert cos.min() >= 0.9999, (cos.min(), int(cos.argmin()))
    q = fp32.encode_query(texts[0])
    assert q.shape == (384,) and float(q @ torch_vectors[0]) >= 0.9999


def test_batching_and_order_do_not_change_vectors(fp32: OnnxMiniLMEncoder, texts: list[str]) -> None:
    sample = texts[:40] + EDGE
    sorted_ = fp32.encode(sample, batch_size=16)
    one_by_one = np.stack([fp32.encode_query(t) for t in sample])
    unsorted = OnnxMiniLMEncoder(cache=fp32.onnx_path.parents[1], sort=False).encode(sample, batch_size=7)
    assert _cosines(sorted_, one_by_one).min() >= 0.9999
    assert _cosines(sorted_, unsorted).min() >= 0.9999
    assert fp32.encode([]).shape == (0, 384)


def test_int8_vectors_stay_close_to_the_pytorch_teachers(int8: OnnxMiniLMEncoder, fp32: OnnxMiniLMEncoder,
                                                         texts: list[str], torch_vectors: np.ndarray) -> None:
    cos = _cosines(int8.encode(texts), torch_vectors)
    abstracts, edge = cos[:-len(EDGE)], cos[-len(EDGE):]
    assert abstracts.min() >= 0.99 and abstracts.mean() >= 0.995, (float(abstracts.min()), float(abstracts.mean()))
    # strings of one to three tokens ("", "a", "??") are where int8 strays most (0.97 here)
    assert edge.min() >= 0.95, edge
    assert int8.name == "minilm-onnx-int8" and int8.onnx_path.parent != fp32.onnx_path.parent
    assert int8.onnx_path.stat().st_size < 0.5 * fp32.onnx_path.stat().st_size  # int8 weights


@pytest.mark.parametrize("spec, kind", [("minilm", OnnxMiniLMEncoder), ("teacher", OnnxMiniLMEncoder),
                                        ("minilm-onnx", OnnxMiniLMEncoder), ("minilm-onnx-int8", OnnxMiniLMEncoder),
                                        ("minilm-torch", MiniLMEncoder)])
def test_load_encoder_round_trips_the_names(spec: str, kind: type, onnx_cache: Path, fp32: OnnxMiniLMEncoder,
                                            int8: OnnxMiniLMEncoder, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KG_CACHE", str(onnx_cache.parent))  # the exports the fixtures made
    enc = load_encoder(spec)
    assert isinstance(enc, kind)
    name = "minilm" if spec == "teacher" else spec
    assert enc.name == name and enc.dim == 384
    assert load_encoder(enc.name).name == enc.name  # what the manifest records loads back
    if isinstance(enc, OnnxMiniLMEncoder):  # reused the session's export, none made under KG_CACHE anew
        assert enc.onnx_path in (fp32.onnx_path, int8.onnx_path)


def test_an_index_embedded_by_pytorch_is_searched_with_onnx(tmp_path: Path, onnx_cache: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """A store embedded with the PyTorch runtime records ``minilm``; loading ``minilm`` again (ONNX
    here) finds the same documents for the same queries."""
    from kg.graph import KnowledgeGraph

    monkeypatch.setenv("KG_CACHE", str(onnx_cache.parent))
    (tmp_path / "notes").mkdir()
    topics = {"rank": "Reciprocal rank fusion merges ranked lists from several retrievers.",
              "graph": "Personalised PageRank scores nodes near seed nodes in a citation graph.",
              "bread": "Sourdough bread rises with wild yeast and lactic acid bacteria."}
    for k, v in topics.items():
        (tmp_path / "notes" / f"{k}.md").write_text(f"# {k}\n\n{v}\n")
    with KnowledgeGraph.open(tmp_path / "kg") as g:
        g.sync_index(embed=True, encoder="minilm-torch")
        g.ingest(tmp_path / "notes", embed=True)
        torch_hits = [h.title for h in g.search("how does yeast make dough rise", k=3, mode="dense").hits]
        g.sync_index(embed=True, encoder="minilm")  # re-encodes under the default spec (ONNX)
        onnx_hits = [h.title for h in g.search("how does yeast make dough rise", k=3, mode="dense").hits]
    assert torch_hits[0] == onnx_hits[0] == "bread" and torch_hits == onnx_hits


def test_the_cache_key_follows_model_files_and_settings(tmp_path: Path) -> None:
    src = minilm_path()
    copy = tmp_path / "model"
    shutil.copytree(src, copy, ignore=shutil.ignore_patterns("model.safetensors"))
    (copy / "model.safetensors").symlink_to(src / "model.safetensors")
    base = export_key(src, ExportConfig())
    assert export_key(copy, ExportConfig()) == base  # same contents, another folder
    keys = {export_key(src, c) for c in (ExportConfig(), ExportConfig(quantize=True), ExportConfig(optimize=False),
                                         ExportConfig(quantize=True, per_channel=False), ExportConfig(opset=18),
                                         ExportConfig(quantize=True, fp32_ffn=()))}
    assert len(keys) == 6
    assert export_key(src, ExportConfig(per_channel=False)) == base  # int8 settings leave fp32 alone
    cfg = json.loads((copy / "config.json").read_text())
    (copy / "config.json").write_text(json.dumps({**cfg, "layer_norm_eps": 1e-6}))
    assert export_key(copy, ExportConfig()) != base  # a changed model file: a new export, never the old one
    (copy / "README.md").write_text("notes")
    assert export_key(copy, ExportConfig()) == export_key(copy, ExportConfig())


def test_stale_or_broken_entries_are_rebuilt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "onnx"
    cfg = ExportConfig(optimize=False)  # the plain export: the fastest to rebuild
    path = ensure_export(config=cfg, cache=cache)
    stamp = path.stat().st_mtime_ns
    assert ensure_export(config=cfg, cache=cache) == path and path.stat().st_mtime_ns == stamp  # reused
    import retrieval.onnx_encoder as mod

    monkeypatch.setattr(mod, "EXPORT_VERSION", mod.EXPORT_VERSION + 1)  # a changed recipe: another key
    assert export_key(minilm_path(), cfg) != path.parent.name
    monkeypatch.undo()
    path.write_bytes(b"not an onnx file")  # a damaged export under a valid manifest
    with pytest.raises(ConfigError, match="could not load"):
        OnnxMiniLMEncoder(cache=cache, optimize=False)
    assert not (path.parent / MANIFEST).exists()  # dropped: the next load exports again
    enc = OnnxMiniLMEncoder(cache=cache, optimize=False)
    assert enc.onnx_path == path and path.stat().st_size > 1e7
    (path.parent / MANIFEST).write_text(json.dumps({"key": "something else"}))  # an entry of another key
    os.utime(path, ns=(1, 1))
    assert ensure_export(config=cfg, cache=cache) == path and path.stat().st_mtime_ns != 1
    assert not [p for p in cache.iterdir() if p.name.startswith(".")]  # no half-built folders left
    assert (path.parent / MODEL_FILE).is_file()


HIDE = r"""
from kg.errors import MissingExtraError
from retrieval.encoder import load_encoder

for spec in sys.argv[1:]:
    try:
        enc = load_encoder(spec)
        print(spec, "ok", type(enc).__name__, enc.name)
    except MissingExtraError as e:
        assert "kgloom[embeddings]" in str(e), e
        print(spec, "error", e.package, e.extra)
"""


@pytest.mark.parametrize("blocked, specs, expected", [
    # no onnxruntime: asking for ONNX names the extra, the default teacher falls back to PyTorch
    ("onnxruntime,onnx", ["minilm-onnx", "minilm"],
     ["minilm-onnx error onnxruntime embeddings", "minilm ok MiniLMEncoder minilm"]),
    # no torch and nothing exported yet: the export names torch, before writing anything
    ("torch", ["minilm", "minilm-onnx-int8"], ["minilm error torch embeddings", "minilm-onnx-int8 error torch embeddings"]),
    # sentence-transformers is not needed by the ONNX path, not even to export
    ("sentence_transformers", ["minilm", "minilm-torch"],
     ["minilm ok OnnxMiniLMEncoder minilm", "minilm-torch error sentence_transformers embeddings"]),
], ids=["no-onnxruntime", "no-torch", "no-sentence-transformers"])
def test_missing_modules_name_the_extra_or_fall_back(blocked: str, specs: list[str], expected: list[str],
                                                     tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO), "KG_CACHE": str(tmp_path), "HF_HUB_OFFLINE": "1"}
    res = python_without(blocked.split(","), HIDE, specs, cwd=tmp_path, env=env, timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.splitlines() == expected, res.stdout + res.stderr
    exported = (tmp_path / "onnx").exists()
    assert exported == (blocked == "sentence_transformers")
    assert issubclass(MissingExtraError, ImportError)
