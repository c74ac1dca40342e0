"""One reader per format; see :mod:`ingest.readers.base` for the contract and registry.

Each module registers its reader(s) on import with ``register_reader``.
"""

from ingest.readers.base import FileInfo, Reader, get_reader, readers, register_reader, select_reader

__all__ = ["FileInfo", "Reader", "get_reader", "readers", "register_reader", "select_reader"]
