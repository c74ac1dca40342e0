"""The MiniLM teacher on ONNX Runtime: a local export of the bundled model, fp32 or dynamic int8.

The bundled all-MiniLM-L6-v2 (:func:`retrieval.encoder.minilm_path`) is exported once, on this
machine, as one ONNX graph: BERT, mean pooling over the attention mask and L2 normalisation, so a
run returns the sentence vectors directly. ONNX Runtime's transformer optimiser fuses the graph
(attention, layer norm, GELU); ``quantize=True`` then stores the weights of its matrix products as
int8 (``onnxruntime.quantization.quantize_dynamic``). Texts are tokenised with the fast tokenizer of
the bundled ``tokenizer.json`` (truncated at the teacher's ``max_seq_length``, 256 tokens) and run in
batches of similar length, so little is spent on padding.

The export lives in ``<cache>/<key>/model.onnx`` beside a ``manifest.json``; ``cache`` defaults to
``$KG_CACHE/onnx`` (else ``$XDG_CACHE_HOME/kgloom/onnx``, else ``~/.cache/kgloom/onnx``). The key is a
hash of every model file's content and of the export recipe (:data:`EXPORT_VERSION`, opset,
optimisation, quantisation), so a changed model or recipe never reuses a stale export. Exporting
needs torch and transformers (the ``embeddings`` extra); running needs only onnxruntime and
tokenizers.

fp32 vectors equal the PyTorch teacher's to float rounding (cosine >= 0.9999), so the default
``"minilm"`` spec may run on either runtime; int8 vectors are another encoder's
(``"minilm-onnx-int8"``). Measured numbers: ``benchmarks/onnx_teacher.py`` and docs/search.md.

>>> enc = OnnxMiniLMEncoder(quantize=True)          # doctest: +SKIP
>>> enc.name, enc.encode(["graph retrieval"]).shape  # doctest: +SKIP
('minilm-onnx-int8', (1, 384))
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kg.errors import ConfigError, require
from retrieval.encoder import MAX_SEQ_LENGTH, _normalise, available_cpus, minilm_path

EXPORT_VERSION = 1  # bump whenever the export recipe below changes: old exports are then ignored
OPSET = 17
MODEL_FILE = "model.onnx"
MANIFEST = "manifest.json"
_SKIP = {"README.md", ".gitattributes"}  # model-folder files that do not change the vectors
_HASHES: dict[tuple[str, int, int], str] = {}  # (file, size, mtime_ns) -> content hash, per process


@dataclass(frozen=True, kw_only=True)
class ExportConfig:
    """How the ONNX graph is built; every field is part of the cache key.

    ``optimize``: run ONNX Runtime's BERT fusions on the export; ``quantize``: int8 weights for the
    matrix products (dynamic quantisation, activations quantised at run time); ``per_channel``:
    one int8 scale per output channel rather than one per matrix (far closer to the fp32 vectors);
    ``fp32_ffn``: transformer layers whose feed-forward output projection stays fp32.
    """

    quantize: bool = False
    optimize: bool = True
    per_channel: bool = True
    fp32_ffn: tuple[int, ...] = (0,)
    opset: int = OPSET


def cache_root() -> Path:
    """Where ONNX exports are cached (see the module docstring)."""
    if os.environ.get("KG_CACHE"):
        return Path(os.environ["KG_CACHE"]) / "onnx"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "kgloom" / "onnx"


def _file_hash(path: Path) -> str:
    st = path.stat()
    memo = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if memo not in _HASHES:
        h = hashlib.blake2b(digest_size=16)
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        _HASHES[memo] = h.hexdigest()
    return _HASHES[memo]


def export_key(model_dir: Path, config: ExportConfig) -> str:
    """Cache key of an export: a hash of the model files' contents and of the export settings.

    >>> export_key(minilm_path(), ExportConfig()) == export_key(minilm_path(), ExportConfig())  # doctest: +SKIP
    True
    """
    files = sorted(p for p in model_dir.rglob("*") if p.is_file() and p.name not in _SKIP)
    if not files:
        raise ConfigError(f"no model files under {model_dir}")
    settings = asdict(config)
    if not config.quantize:  # the int8 settings do not change an fp32 export
        del settings["per_channel"], settings["fp32_ffn"]
    h = hashlib.blake2b(digest_size=8)
    h.update(json.dumps({"export": EXPORT_VERSION, **settings}, sort_keys=True).encode())
    for p in files:
        h.update(f"{p.relative_to(model_dir).as_posix()}\0{_file_hash(p)}\n".encode())
    return h.hexdigest()


def _export_fp32(model_dir: Path, out: Path, opset: int) -> None:
    """Export BERT + mean pooling + L2 norm from ``model_dir`` to ``out`` with torch's TorchScript exporter."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    torch = require("torch", "embeddings", "exporting MiniLM to ONNX")
    transformers = require("transformers", "embeddings", "exporting MiniLM to ONNX")
    from retrieval.encoder import _quiet_transformers

    _quiet_transformers()
    if not model_dir.is_dir():  # a string that is no folder would be taken for a hub id
        raise ConfigError(f"no model folder at {model_dir}")
    try:
        bert = transformers.AutoModel.from_pretrained(str(model_dir), attn_implementation="eager",
                                                      local_files_only=True).eval()
    except (OSError, ValueError) as e:
        raise ConfigError(f"could not load the transformer at {model_dir}: {e}") from e

    class Sentence(torch.nn.Module):  # type: ignore[name-defined]
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            hidden = self.inner(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, p=2.0, dim=1)

    dummy = torch.ones((2, 16), dtype=torch.long)
    axes = {"batch": 0, "seq": 1}
    import warnings

    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # TracerWarnings on shape checks that are constant for an encoder
        torch.onnx.export(Sentence(bert), (dummy, dummy), str(out), input_names=["input_ids", "attention_mask"],
                          output_names=["embedding"], opset_version=opset, dynamo=False,
                          dynamic_axes={"input_ids": {v: k for k, v in axes.items()},
                                        "attention_mask": {v: k for k, v in axes.items()},
                                        "embedding": {0: "batch"}})


def _optimize(src: Path, out: Path, config_json: dict[str, Any]) -> None:
    """ONNX Runtime's BERT fusions (attention, skip layer norm, bias GELU) of ``src`` into ``out``."""
    optimizer = require("onnxruntime.transformers.optimizer", "embeddings", "optimising the ONNX MiniLM")
    model = optimizer.optimize_model(str(src), model_type="bert", num_heads=int(config_json["num_attention_heads"]),
                                     hidden_size=int(config_json["hidden_size"]), opt_level=1)
    model.save_model_to_file(str(out))


def _quantize(src: Path, out: Path, config: ExportConfig) -> None:
    """Dynamic int8 quantisation of ``src``'s matrix products into ``out`` (see :class:`ExportConfig`)."""
    onnx = require("onnx", "embeddings", "quantising the ONNX MiniLM")
    quant = require("onnxruntime.quantization", "embeddings", "quantising the ONNX MiniLM")
    ends = tuple(f"layer.{k}/output/dense/MatMul" for k in config.fp32_ffn)
    graph = onnx.load(str(src), load_external_data=False).graph
    keep = [n.name for n in graph.node if n.op_type == "MatMul" and n.name.endswith(ends)] if ends else []
    if len(keep) != len(ends):
        raise ConfigError(f"found {len(keep)} of the {len(ends)} feed-forward projections to keep fp32 in {src}")
    import logging

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # "consider pre-processing" is logged on the root logger
    try:
        quant.quantize_dynamic(str(src), str(out), weight_type=quant.QuantType.QInt8, per_channel=config.per_channel,
                               nodes_to_exclude=keep, extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
    finally:
        root.setLevel(level)


def ensure_export(model_dir: Path | None = None, config: ExportConfig | None = None, *,
                  cache: Path | None = None) -> Path:
    """The cached ONNX file for ``model_dir`` (default: the bundled MiniLM) and ``config``,
    exporting it first when no export with the same key exists.

    A new export is built in a temporary folder beside the cache entry and renamed into place, so
    an interrupted export is never picked up; an entry without a readable manifest naming its key
    is rebuilt.
    """
    model_dir = Path(model_dir) if model_dir is not None else minilm_path()
    config = config or ExportConfig()
    root = Path(cache) if cache is not None else cache_root()
    key = export_key(model_dir, config)
    entry = root / key
    if _valid_entry(entry, key):
        return entry / MODEL_FILE
    for module in ("torch", "transformers", "onnx"):  # before anything is written
        require(module, "embeddings", "exporting MiniLM to ONNX")
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=root))
    try:
        cfg = json.loads((model_dir / "config.json").read_text())
        if config.quantize:  # quantise the (cached) fp32 graph of the same recipe
            fp32 = ensure_export(model_dir, ExportConfig(optimize=config.optimize, opset=config.opset), cache=root)
            _quantize(fp32, tmp / MODEL_FILE, config)
        elif config.optimize:
            _export_fp32(model_dir, tmp / "raw.onnx", config.opset)
            _optimize(tmp / "raw.onnx", tmp / MODEL_FILE, cfg)
            (tmp / "raw.onnx").unlink()
        else:
            _export_fp32(model_dir, tmp / MODEL_FILE, config.opset)
        manifest = {"key": key, "export_version": EXPORT_VERSION, **asdict(config), "model_dir": str(model_dir),
                    "onnxruntime": require("onnxruntime", "embeddings").__version__}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1))
        if _valid_entry(entry, key):  # another process finished the same export meanwhile
            return entry / MODEL_FILE
        if entry.exists():  # a broken entry: replace it
            shutil.rmtree(entry, ignore_errors=True)
        try:
            os.replace(tmp, entry)
        except OSError:  # another process renamed its export into place first
            if not _valid_entry(entry, key):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return entry / MODEL_FILE


def _valid_entry(entry: Path, key: str) -> bool:
    try:
        return bool(json.loads((entry / MANIFEST).read_text()).get("key") == key and (entry / MODEL_FILE).is_file())
    except (OSError, ValueError):
        return False


class OnnxMiniLMEncoder:
    """all-MiniLM-L6-v2 run by ONNX Runtime on the CPU (384-d unit vectors), fp32 or int8.

    ``threads`` defaults to :func:`retrieval.encoder.available_cpus`; ``sort`` runs texts in
    batches of similar character length (off: input order, each batch padded to its longest).
    """

    def __init__(self, path: str | Path | None = None, *, name: str | None = None, quantize: bool = False,
                 threads: int | None = None, max_seq_length: int = MAX_SEQ_LENGTH, cache: str | Path | None = None,
                 optimize: bool = True, sort: bool = True) -> None:
        ort = require("onnxruntime", "embeddings", "the ONNX MiniLM encoder")
        tokenizers = require("tokenizers", "embeddings", "the ONNX MiniLM encoder")
        model_dir = Path(path) if path is not None else minilm_path()
        self.config = ExportConfig(quantize=quantize, optimize=optimize)
        self.onnx_path = ensure_export(model_dir, self.config, cache=Path(cache) if cache is not None else None)
        self.name = name or ("minilm-onnx-int8" if quantize else "minilm-onnx")
        self.path = model_dir
        self.sort = sort
        self.threads = max(1, threads if threads is not None else available_cpus())
        try:
            tok = tokenizers.Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        except Exception as e:  # tokenizers raises a bare Exception on a bad file
            raise ConfigError(f"could not read {model_dir / 'tokenizer.json'}: {e}") from e
        tok.enable_truncation(max_length=max_seq_length)
        pad = tok.padding or {}
        tok.enable_padding(pad_id=int(pad.get("pad_id", 0)), pad_token=str(pad.get("pad_token", "[PAD]")))
        self._tok = tok
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self.threads
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            self._session = ort.InferenceSession(str(self.onnx_path), opts, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own (non-KG) exception types
            with contextlib.suppress(OSError):
                (self.onnx_path.parent / MANIFEST).unlink()  # the next load exports again
            raise ConfigError(f"ONNX Runtime could not load {self.onnx_path}: {e}") from e
        self.dim = int(self._session.get_outputs()[0].shape[-1])

    def _run(self, texts: list[str]) -> np.ndarray:
        enc = self._tok.encode_batch(texts)
        ids = np.array([e.ids for e in enc], dtype=np.int64)
        mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
        return np.asarray(self._session.run(None, {"input_ids": ids, "attention_mask": mask})[0])

    def encode(self, texts: list[str], *, batch_size: int = 64, show_progress: bool = False) -> np.ndarray:
        """Encode ``texts`` into unit rows, batches of similar length (``show_progress`` is ignored)."""
        n = len(texts)
        out = np.zeros((n, self.dim), dtype=np.float32)
        if not n:
            return out
        order = sorted(range(n), key=lambda i: -len(texts[i])) if self.sort else list(range(n))
        step = max(1, batch_size)
        for start in range(0, n, step):
            rows = order[start:start + step]
            out[rows] = self._run([texts[i] for i in rows])
        return _normalise(out)

    def encode_query(self, text: str) -> np.ndarray:
        """Encode one query string."""
        return _normalise(self._run([text]))[0]

    def __repr__(self) -> str:
        return f"OnnxMiniLMEncoder(name={self.name!r}, dim={self.dim}, onnx={str(self.onnx_path)!r})"
