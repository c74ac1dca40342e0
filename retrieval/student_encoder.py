"""The static student encoder: one vector per token, mean-pooled, L2-normalised.

A :class:`StaticEncoder` satisfies :class:`retrieval.encoder.Encoder` with numpy and the ``tokenizers``
library only (no torch at inference): a text is tokenised (word pieces, no special tokens, unknown
tokens dropped, at most ``max_tokens``), its rows of the ``(vocab, dim)`` float32 embedding matrix are
summed through one sparse matrix product and the sum is normalised. That is a few microseconds per
document, against milliseconds for the transformer teacher.

On disk a student is a pickle-free folder (see :meth:`StaticEncoder.save`)::

    student-3/
      manifest.json     format, kind "static", teacher, dim, vocab, training config, losses, metrics
      embeddings.npy    float32 (vocab, dim)
      tokenizer.json    a Hugging Face ``tokenizers`` tokenizer
      words.json        tokenisation cache: {text chunk: token ids} for chunks seen in training

The encoder's ``name`` is the folder's absolute path, so it round-trips through
:func:`retrieval.encoder.load_encoder` and can be recorded in a search index manifest.

>>> import numpy as np
>>> enc = StaticEncoder.from_vocabulary(["graph", "dense", "retrieval"], np.eye(5, 4, dtype=np.float32))
>>> enc.encode(["graph retrieval"]).round(3).tolist()
[[0.0, 0.0, 0.707, 0.707]]
"""

from __future__ import annotations

import os
import re
import time
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from kg.errors import ConfigError, require

FORMAT = 1
KIND = "static"
MANIFEST = "manifest.json"
EMBEDDINGS = "embeddings.npy"
TOKENIZER = "tokenizer.json"
WORDS = "words.json"
SAVED_WORDS = 500_000  # tokenisation-cache entries saved with a model
MAX_TOKENS = 512
CHARS_PER_TOKEN = 8  # texts are cut at max_tokens * this many characters before tokenising
SPECIALS = ("[PAD]", "[UNK]")
WORD_CACHE = 1_000_000  # distinct words whose token ids are remembered
_WORD = re.compile(r"\w+|[^\w\s]", re.UNICODE)


def _tokenizers() -> Any:
    return require("tokenizers", "distill", "the static student encoder")


def is_student_folder(path: str | Path) -> bool:
    """Whether ``path`` holds a saved static student (a manifest of kind ``static``)."""
    m = Path(path) / MANIFEST
    if not m.is_file():
        return False
    try:
        return orjson.loads(m.read_bytes()).get("kind") == KIND
    except orjson.JSONDecodeError:
        return False


def read_manifest(path: str | Path) -> dict[str, Any]:
    """The manifest of a saved student folder (ConfigError when there is none)."""
    m = Path(path) / MANIFEST
    if not m.is_file():
        raise ConfigError(f"no student model at {path} (missing {MANIFEST})")
    data: dict[str, Any] = orjson.loads(m.read_bytes())
    if data.get("kind") != KIND:
        raise ConfigError(f"{path} is not a static student model (kind {data.get('kind')!r})")
    if data.get("format") != FORMAT:
        raise ConfigError(f"student model format {data.get('format')} at {path} is not supported")
    return data


class StaticEncoder:
    """Static token embeddings with mean pooling (see the module docstring).

    ``embeddings``: float32 ``(vocab, dim)``; ``tokenizer``: a ``tokenizers.Tokenizer`` whose ids
    index the rows; ``unk_id``: the unknown-token id, dropped from every text (None: keep all).
    """

    def __init__(self, embeddings: np.ndarray, tokenizer: Any, *, name: str = "static",
                 unk_id: int | None = None, max_tokens: int = MAX_TOKENS,
                 manifest: dict[str, Any] | None = None, path: Path | None = None) -> None:
        emb = np.ascontiguousarray(embeddings, dtype=np.float32)
        if emb.ndim != 2 or emb.shape[0] < 1 or emb.shape[1] < 1:
            raise ConfigError(f"student embeddings must be a non-empty 2-d array, got shape {emb.shape}")
        if tokenizer.get_vocab_size() > emb.shape[0]:
            raise ConfigError(f"tokenizer vocabulary ({tokenizer.get_vocab_size()}) is larger than the "
                              f"embedding matrix ({emb.shape[0]} rows)")
        self.embeddings = emb
        self.tokenizer = tokenizer
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_tokens)
        self.unk_id = unk_id
        self.max_tokens = int(max_tokens)
        self.name = name
        self.dim = int(emb.shape[1])
        self.manifest: dict[str, Any] = dict(manifest or {})
        self.path = path
        self._words: dict[str, tuple[int, ...]] = {
            tok: (i,) for tok, i in tokenizer.get_vocab().items()
            if i != unk_id and not tok.startswith("##") and _WORD.fullmatch(tok) and tok == tok.lower()
            and not tok.startswith("[")}

    # -- construction ----------------------------------------------------------------------------
    @classmethod
    def from_vocabulary(cls, words: list[str], embeddings: np.ndarray, *, lowercase: bool = True,
                        name: str = "static") -> StaticEncoder:
        """A word-level student over ``words`` (ids 0/1 are ``[PAD]``/``[UNK]``, then ``words``).

        Meant for tests and tiny corpora; real students come from :func:`init_from_teacher`.
        """
        tk = _tokenizers()
        vocab = {w: i for i, w in enumerate(SPECIALS)}
        for w in words:
            vocab.setdefault(w.lower() if lowercase else w, len(vocab))
        if embeddings.shape[0] < len(vocab):
            raise ConfigError(f"{len(vocab)} tokens need as many embedding rows, got {embeddings.shape[0]}")
        tok = tk.Tokenizer(tk.models.WordLevel(vocab, unk_token="[UNK]"))
        tok.normalizer = tk.normalizers.BertNormalizer(lowercase=lowercase, strip_accents=None)
        tok.pre_tokenizer = tk.pre_tokenizers.BertPreTokenizer()
        return cls(embeddings, tok, name=name, unk_id=1)

    @classmethod
    def load(cls, path: str | Path) -> StaticEncoder:
        """Load a saved student folder; its ``name`` becomes the folder's absolute path."""
        folder = Path(path).expanduser().resolve()
        manifest = read_manifest(folder)
        try:
            emb = np.load(folder / EMBEDDINGS, allow_pickle=False, mmap_mode=None)
            tok = _tokenizers().Tokenizer.from_file(str(folder / TOKENIZER))
        except (OSError, ValueError, Exception) as e:  # tokenizers raises a bare Exception
            raise ConfigError(f"could not load the student model at {folder}: {e}") from e
        if emb.shape[1] != manifest.get("dim", emb.shape[1]):
            raise ConfigError(f"student at {folder}: manifest dim {manifest.get('dim')} != embeddings {emb.shape}")
        enc = cls(emb, tok, name=str(folder), unk_id=manifest.get("unk_id"),
                  max_tokens=int(manifest.get("max_tokens", MAX_TOKENS)), manifest=manifest, path=folder)
        if (folder / WORDS).is_file():  # the tokenisation cache saved with the model
            n = emb.shape[0]
            words = orjson.loads((folder / WORDS).read_bytes())
            enc._words.update({w: tuple(ids) for w, ids in words.items() if all(0 <= i < n for i in ids)})
        return enc

    def save(self, path: str | Path, manifest: dict[str, Any] | None = None) -> Path:
        """Write the folder (embeddings, tokenizer, manifest); returns its absolute path.

        The folder is written under a temporary name and renamed, so a reader never sees half a
        model. ``name`` and ``path`` now point at the folder.
        """
        folder = Path(path).expanduser().resolve()
        if folder.exists():
            raise ConfigError(f"{folder} already exists; a saved student is never overwritten")
        tmp = folder.with_name(f".{folder.name}.tmp-{os.getpid()}")
        tmp.mkdir(parents=True)
        with open(tmp / EMBEDDINGS, "wb") as fh:
            np.save(fh, self.embeddings, allow_pickle=False)
        self.tokenizer.save(str(tmp / TOKENIZER))
        vocab = self.tokenizer.get_vocab()
        learned = {w: ids for w, ids in self._words.items() if len(ids) != 1 or vocab.get(w) != ids[0]}
        (tmp / WORDS).write_bytes(orjson.dumps(dict(list(learned.items())[:SAVED_WORDS])))
        meta = {**self.manifest, **(manifest or {})}
        meta.update({"format": FORMAT, "kind": KIND, "dim": self.dim, "vocab": int(self.embeddings.shape[0]),
                     "unk_id": self.unk_id, "max_tokens": self.max_tokens,
                     "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S")})
        (tmp / MANIFEST).write_bytes(orjson.dumps(meta, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY))
        os.replace(tmp, folder)
        self.manifest, self.path, self.name = meta, folder, str(folder)
        return folder

    def with_embeddings(self, embeddings: np.ndarray) -> StaticEncoder:
        """A copy sharing this tokenizer's configuration but with other embeddings."""
        tok = _tokenizers().Tokenizer.from_str(self.tokenizer.to_str())
        enc = StaticEncoder(embeddings, tok, name=self.name, unk_id=self.unk_id, max_tokens=self.max_tokens,
                            manifest=self.manifest)
        enc._words.update(self._words)  # same tokenizer, same ids
        return enc

    def with_words(self, words: list[str]) -> StaticEncoder:
        """A copy whose tokenizer knows ``words`` as whole tokens (a corpus vocabulary).

        Each new token's row starts as the sum of the rows of the pieces it replaces, so the copy
        encodes every text exactly as this encoder does until it is trained. Words are normalised
        the way the tokenizer normalises text; known words and words that are one token already
        are skipped.
        """
        d = orjson.loads(self.tokenizer.to_str())
        vocab = d.get("model", {}).get("vocab")
        if not isinstance(vocab, dict):
            raise ConfigError("only WordPiece and WordLevel tokenizers can learn new words")
        norm = self.tokenizer.normalizer
        new: list[str] = []
        rows: list[np.ndarray] = []
        seen = set(vocab)
        for w in words:
            w = norm.normalize_str(w) if norm is not None else w
            if not w or w in seen or not _WORD.fullmatch(w) or w.startswith("["):
                continue
            pieces = self._word_ids(w)
            if len(pieces) < 2:
                continue
            seen.add(w)
            new.append(w)
            rows.append(self.embeddings[list(pieces)].sum(axis=0))
        if not new:
            return self.with_embeddings(self.embeddings)
        base = max(self.embeddings.shape[0], max(vocab.values()) + 1)
        emb = np.zeros((base + len(new), self.dim), dtype=np.float32)
        emb[: self.embeddings.shape[0]] = self.embeddings
        emb[base:] = np.stack(rows)
        vocab.update({w: base + j for j, w in enumerate(new)})
        tok = _tokenizers().Tokenizer.from_str(orjson.dumps(d).decode())
        return StaticEncoder(emb, tok, name=self.name, unk_id=self.unk_id, max_tokens=self.max_tokens,
                             manifest={**self.manifest, "corpus_words": len(new)})

    # -- tokenising and encoding -------------------------------------------------------------------
    def _word_ids(self, word: str) -> tuple[int, ...]:
        """Token ids of one lower-cased, whitespace-free chunk of text (the tokenizer's answer, cached;
        unknown pieces dropped)."""
        ids = self._words.get(word)
        if ids is None:
            got = self.tokenizer.encode(word, add_special_tokens=False).ids
            ids = tuple(i for i in got if i != self.unk_id)
            if len(self._words) < WORD_CACHE:
                self._words[word] = ids
        return ids

    def _learn_words(self, new: set[str]) -> None:
        """Tokenise unseen words in one batch and cache their ids."""
        todo = sorted(new)[: max(0, WORD_CACHE - len(self._words))]
        if not todo:
            return
        unk = self.unk_id
        for w, enc in zip(todo, self.tokenizer.encode_batch_fast(todo, add_special_tokens=False), strict=True):
            self._words[w] = tuple(i for i in enc.ids if i != unk)

    def tokenize(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Token ids of ``texts`` as a flat int64 array and ``len(texts) + 1`` offsets (CSR style).

        Texts are lower-cased and split at whitespace; each distinct chunk (``"cells,"``) goes
        through the tokenizer once and its ids are cached (whole-word vocabulary entries are
        pre-filled), so tokenising is a dictionary lookup per word and gives the tokenizer's own
        ids. Unknown tokens are dropped; a text keeps at most ``max_tokens`` ids.
        """
        cut = self.max_tokens * CHARS_PER_TOKEN
        limit = self.max_tokens
        words = self._words
        lists: list[list[int]] = []
        retry: list[int] = []
        for text in texts:
            try:
                ids = [i for w in text[:cut].lower().split() for i in words[w]]
            except KeyError:  # unseen words: tokenised below, in one batch
                retry.append(len(lists))
                ids = []
            lists.append(ids[:limit] if len(ids) > limit else ids)
        if retry:
            self._learn_words({w for j in retry for w in texts[j][:cut].lower().split() if w not in words})
            for j in retry:
                ids = [i for w in texts[j][:cut].lower().split() for i in self._word_ids(w)]
                lists[j] = ids[:limit] if len(ids) > limit else ids
        lengths = np.fromiter(map(len, lists), dtype=np.int64, count=len(lists))
        flat = np.fromiter(chain.from_iterable(lists), dtype=np.int64, count=int(lengths.sum()))
        offsets = np.zeros(len(lists) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        return flat, offsets

    def encode(self, texts: list[str], *, batch_size: int = 1024, show_progress: bool = False) -> np.ndarray:
        """Encode ``texts`` into ``(len(texts), dim)`` float32 unit rows (empty text: zero row)."""
        sparse = require("scipy.sparse", "core", "the static student encoder")
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        step = max(1, int(batch_size))
        for start in range(0, len(texts), step):
            batch = list(texts[start:start + step])
            flat, offsets = self.tokenize(batch)
            if not flat.size:
                continue
            bag = sparse.csr_matrix((np.ones(flat.size, dtype=np.float32), flat, offsets),
                                    shape=(len(batch), self.embeddings.shape[0]))
            out[start:start + len(batch)] = bag @ self.embeddings
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        np.divide(out, norms, out=out, where=norms > 0)
        return out

    def encode_query(self, text: str) -> np.ndarray:
        """Encode one query string into a ``(dim,)`` unit vector."""
        flat, _ = self.tokenize([text])
        if not flat.size:
            return np.zeros(self.dim, dtype=np.float32)
        v = self.embeddings[flat].sum(axis=0, dtype=np.float32)
        n = float(np.linalg.norm(v))
        return v / n if n > 0 else v

    def __repr__(self) -> str:
        return f"StaticEncoder(name={self.name!r}, vocab={self.embeddings.shape[0]}, dim={self.dim})"


def init_cache_dir() -> Path:
    """Where model2vec initialisations are cached (``$KG_CACHE/distill`` or ``~/.cache/kgloom/distill``)."""
    return Path(os.environ.get("KG_CACHE") or Path.home() / ".cache" / "kgloom") / "distill"


def init_from_teacher(teacher_path: str | Path, *, sif_coefficient: float = 1e-4,
                      cache: Path | None = None) -> StaticEncoder:
    """A student initialised with model2vec from the local sentence-transformers model folder.

    model2vec runs the teacher once over every token of its vocabulary (a few minutes on two
    cores), keeps the teacher's 384 dimensions (no PCA, so student and teacher vectors are directly
    comparable) and applies SIF weighting. The result is cached per teacher folder and model2vec
    version under :func:`init_cache_dir`; nothing is downloaded (``HF_HUB_OFFLINE=1``).
    """
    import hashlib
    from importlib.metadata import version

    teacher = Path(teacher_path).resolve()
    key = hashlib.blake2b(f"{teacher}|{sif_coefficient}".encode(), digest_size=6).hexdigest()
    m2v_version = version("model2vec") if _has("model2vec") else "missing"
    folder = (cache or init_cache_dir()) / f"m2v-{m2v_version}-{key}"
    if is_student_folder(folder):
        return StaticEncoder.load(folder)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    distill_mod = require("model2vec.distill", "distill", "initialising a student with model2vec")
    if not teacher.is_dir():  # model2vec would take a name that is no folder for a hub id
        raise ConfigError(f"no teacher model folder at {teacher}")
    try:
        m = distill_mod.distill(model_name=str(teacher), pca_dims=None, sif_coefficient=sif_coefficient,
                                quantize_to="float32", device="cpu")
    except (OSError, ValueError) as e:
        raise ConfigError(f"model2vec could not distil the teacher at {teacher}: {e}") from e
    emb = np.asarray(m.embedding, dtype=np.float32)
    enc = StaticEncoder(emb, m.tokenizer, unk_id=getattr(m, "unk_token_id", None),
                        manifest={"init": f"model2vec {m2v_version} (pca none, sif {sif_coefficient})",
                                  "init_teacher": str(teacher)})
    folder.parent.mkdir(parents=True, exist_ok=True)
    try:
        enc.save(folder)
    except (ConfigError, OSError):  # another process cached it first
        if is_student_folder(folder):
            return StaticEncoder.load(folder)
        raise
    return enc


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def corpus_words(texts: list[str], *, min_count: int = 2, max_words: int = 50_000) -> list[str]:
    """The ``max_words`` most frequent lower-cased words of ``texts`` seen at least ``min_count`` times
    (ties by word), candidates for :meth:`StaticEncoder.with_words`."""
    from collections import Counter

    counts: Counter[str] = Counter()
    for t in texts:
        counts.update(w for w in _WORD.findall(t.lower()) if len(w) > 2 and not w.isdigit())
    ranked = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
    return ranked[:max_words]
