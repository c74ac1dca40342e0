"""Pausing Python's cyclic garbage collector during bulk work.

Ingest and index builds allocate millions of small, acyclic containers (records, property
dicts, row tuples). Each full collection walks all of them, so with the collector on, a
100k-record ingest spends a third of its time in it (measured by ``benchmarks/ingest.py``).
Reference counting still frees everything as usual while the collector is paused.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """Disable the cyclic collector inside the block (re-enabled after, if it was on)."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()
