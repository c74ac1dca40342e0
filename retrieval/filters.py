"""Search filters, applied inside every leg before top-k: :class:`~kg.query.Filters` (defined with
the other search types at the bottom of the layers, re-exported here) and how the CLI parses them."""

from __future__ import annotations

from kg.errors import ConfigError
from kg.query import Filters


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


__all__ = ["Filters", "parse_year_range"]
