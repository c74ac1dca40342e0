"""Search filters, applied inside every leg before top-k."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from kg.errors import ConfigError


@dataclass(frozen=True, slots=True, kw_only=True)
class Filters:
    """Restrict a search.

    - ``labels``: node labels of the *result* (a chunk counts as its parent's label)
    - ``year``: inclusive ``(from, to)``; either end may be None
    - ``authors``: author ids or names (case/accent-insensitive substring of the name)
    - ``categories``: category/topic/keyword ids or names
    - ``source``: a path prefix; only nodes supported by sources under it
    """

    labels: Sequence[str] | None = None
    year: tuple[int | None, int | None] | None = None
    authors: Sequence[str] | None = None
    categories: Sequence[str] | None = None
    source: str | None = None

    @property
    def empty(self) -> bool:
        """True when nothing is filtered."""
        return not (self.labels or self.year or self.authors or self.categories or self.source)


def parse_year_range(text: str | None) -> tuple[int | None, int | None] | None:
    """``"2023:2025"`` -> (2023, 2025); ``"2023"`` -> (2023, 2023); ``":2020"`` -> (None, 2020).

    >>> parse_year_range("2023:")
    (2023, None)
    """
    if not text:
        return None
    try:
        if ":" not in text:
            y = int(text)
            return (y, y)
        a, b = text.split(":", 1)
        return (int(a) if a.strip() else None, int(b) if b.strip() else None)
    except ValueError:
        raise ConfigError(f"invalid year range {text!r}; use YYYY, YYYY:YYYY, YYYY: or :YYYY") from None
