"""Text -> BM25 terms: lowercase, a unicode-aware word regex, English stopwords, Snowball stems.

The same recipe as bm25s's default tokenizer (``(?u)\\b\\w\\w+\\b``, its 33 English stopwords removed
before stemming, PyStemmer's Snowball English stemmer), tuned for the ingest hot path: every distinct
word is stemmed once and remembered in a cache, so tokenizing is one regex pass plus one dict lookup
per word.

>>> Tokenizer().tokenize("The running dogs ran into the Gardens")
['run', 'dog', 'ran', 'garden']
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from kg.errors import ConfigError

TOKEN_PATTERN = r"(?u)\b\w\w+\b"
"""Words of two or more word characters (letters, digits, underscore in any script), as in bm25s."""

STOPWORDS_EN: frozenset[str] = frozenset((
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it", "no",
    "not", "of", "on", "or", "such", "that", "the", "their", "then", "there", "these", "they", "this",
    "to", "was", "will", "with",
))
"""The English stopwords of bm25s (``bm25s.stopwords.STOPWORDS_EN``, the Lucene/Elasticsearch list)."""


@dataclass(frozen=True, kw_only=True)
class Tokenizer:
    """Lowercase, split on ``pattern``, drop ``stopwords``, stem with a Snowball ``stemmer``.

    ``stemmer`` is a Snowball language name known to PyStemmer (``"english"``, ``"french"``, ...) or
    ``None`` for no stemming. Stems are cached per distinct word (``cache_size`` entries at most; the
    cache is cleared when it fills). Not thread-safe: give each thread its own tokenizer.

    >>> tok = Tokenizer()
    >>> tok.tokenize("Graphs of knowledge, graphing knowledge")
    ['graph', 'knowledg', 'graph', 'knowledg']
    >>> tok.tokenize_many(["Café crème", "机器学习 models"])
    [['café', 'crème'], ['机器学习', 'model']]
    >>> Tokenizer(stemmer=None, stopwords=frozenset()).tokenize("The cats")
    ['the', 'cats']
    """

    lowercase: bool = True
    pattern: str = TOKEN_PATTERN
    stopwords: frozenset[str] = STOPWORDS_EN
    stemmer: str | None = "english"
    cache_size: int = 2_000_000
    _stem_words: Callable[[list[str]], list[str]] = field(init=False, repr=False, compare=False)
    _split: Callable[[str], list[str]] = field(init=False, repr=False, compare=False)
    _cache: dict[str, str] = field(init=False, repr=False, compare=False, default_factory=dict)

    def __post_init__(self) -> None:
        try:
            findall = re.compile(self.pattern).findall
        except re.error as e:
            raise ConfigError(f"bad token pattern {self.pattern!r}: {e}") from e
        object.__setattr__(self, "stopwords", frozenset(self.stopwords))
        object.__setattr__(self, "_split", self._make_split(findall))
        object.__setattr__(self, "_stem_words", _stem_function(self.stemmer))

    # -- public ------------------------------------------------------------------------------------
    def tokenize(self, text: str) -> list[str]:
        """The terms of one text, in order (stopwords dropped, words stemmed)."""
        words = self._split(text)
        cache = self._cache
        try:
            return [s for s in map(cache.__getitem__, words) if s]
        except KeyError:
            self._learn(words)
            return [s for s in map(cache.__getitem__, words) if s]

    def tokenize_many(self, texts: Iterable[str]) -> list[list[str]]:
        """:meth:`tokenize` over many texts (the batch form used at ingest)."""
        split = self._split
        get = self._cache.__getitem__
        out: list[list[str]] = []
        append = out.append
        for text in texts:
            words = split(text)
            try:
                append([s for s in map(get, words) if s])
            except KeyError:
                self._learn(words)
                append([s for s in map(get, words) if s])
        return out

    def words(self, text: str) -> list[str]:
        """The split step alone: the words of ``text`` before stopwords and stemming.

        Some may be dropped by :meth:`term`, which maps each to its final term.
        """
        return self._split(text)

    def term(self, word: str) -> str:
        """The term of one word from :meth:`words`: its stem, or ``""`` when the word is dropped."""
        try:
            return self._cache[word]
        except KeyError:
            self._learn([word])
            return self._cache[word]

    def to_dict(self) -> dict[str, Any]:
        """The settings as JSON-ready data (saved next to an index so queries tokenize alike)."""
        return {"lowercase": self.lowercase, "pattern": self.pattern,
                "stopwords": sorted(self.stopwords), "stemmer": self.stemmer}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Tokenizer:
        """Rebuild a tokenizer from :meth:`to_dict` output."""
        return cls(lowercase=bool(d["lowercase"]), pattern=str(d["pattern"]),
                   stopwords=frozenset(d["stopwords"]), stemmer=d["stemmer"])

    # -- internals -------------------------------------------------------------------------------------
    def _make_split(self, findall: Callable[[str], list[str]]) -> Callable[[str], list[str]]:
        """Text -> words. With the default pattern, ASCII text takes a ~3x faster path: one
        ``str.translate`` (non-word characters -> space, and lowercasing) and ``str.split``; its
        one-character words are dropped by the cache (see :meth:`_learn`), so both paths agree."""
        lowercase = self.lowercase
        if self.pattern != TOKEN_PATTERN:
            if lowercase:
                return lambda text: findall(text.lower())
            return findall
        word = "0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
        table = str.maketrans({chr(i): (chr(i).lower() if lowercase else chr(i)) if chr(i) in word else " "
                               for i in range(128)})

        def split(text: str) -> list[str]:
            if text.isascii():
                return text.translate(table).split()
            return findall(text.lower() if lowercase else text)

        return split

    def _learn(self, words: list[str]) -> None:
        """Stem the words not yet in the cache, in one PyStemmer batch call."""
        cache = self._cache
        new = [w for w in dict.fromkeys(words) if w not in cache]
        if len(cache) + len(new) > self.cache_size:
            cache.clear()
        stop = self.stopwords
        short = 2 if self.pattern == TOKEN_PATTERN else 0  # the ASCII fast path yields 1-char words
        keep = [w for w in new if w not in stop and len(w) >= short]
        for w in new:
            if w in stop or len(w) < short:
                cache[w] = ""
        if keep:
            cache.update(zip(keep, self._stem_words(keep), strict=True))


def _identity(words: list[str]) -> list[str]:
    return words


def _stem_function(language: str | None) -> Callable[[list[str]], list[str]]:
    """PyStemmer's batch ``stemWords`` for ``language`` (identity for None)."""
    if language is None:
        return _identity
    import Stemmer  # PyStemmer, a core dependency

    try:
        stem_words: Callable[[list[str]], list[str]] = Stemmer.Stemmer(language).stemWords
    except KeyError as e:
        raise ConfigError(f"unknown stemmer language {language!r}; known: "
                          f"{', '.join(Stemmer.algorithms())}") from e
    return stem_words
