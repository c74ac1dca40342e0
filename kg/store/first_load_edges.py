"""Tables of an embedded-store first load built in a second process.

SQLite has one writer per database file, but an empty table can be filled from a table of the same
shape in another file by copying its records and index entries as they are: SQLite's transfer
optimisation of ``INSERT INTO t SELECT * FROM other.t``, several times cheaper than inserting the
rows (and building the indexes) again. So :meth:`kg.store.sqlite.SQLiteStore.write_first_load`
has a forked process build the edge tables into a file in the store folder while it writes the
node tables itself, then copies them in inside its one transaction. Nothing in that file counts
until the copy commits; it is deleted in every case.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
from collections.abc import Callable
from pathlib import Path

PART_NAME = ".first-load-part.sqlite"
CACHE_KIB = -524288  # the part's page cache (negative: KiB)

Fill = Callable[[sqlite3.Connection], None]


class TablePart:
    """Tables filled by a forked process into ``path`` (see the module docstring).

    ``tables``: the ``CREATE TABLE`` statements, ``indexes``: the ``CREATE INDEX`` statements the
    child runs after ``fill`` (the copy needs every index of the target table in the part too).
    """

    def __init__(self, path: Path, pid: int) -> None:
        self.path = path
        self.pid = pid
        self._status: int | None = None

    @classmethod
    def start(cls, folder: Path, page_size: int, tables: list[str], indexes: list[str],
              fill: Fill) -> TablePart | None:
        """Create the part's tables, then fork the process that fills them (None where
        processes cannot be forked)."""
        if not hasattr(os, "fork"):
            return None
        path = folder / PART_NAME
        _unlink(path)
        con = sqlite3.connect(path, isolation_level=None)  # closed before the fork: the child opens its own
        try:
            con.execute(f"PRAGMA page_size={page_size}")
            for sql in tables:
                con.execute(sql)
        finally:
            con.close()
        pid = os.fork()
        if pid == 0:  # pragma: no cover (the child: covered through the tables it builds)
            code = 1
            try:
                db = sqlite3.connect(path, isolation_level=None)
                db.execute("PRAGMA journal_mode=OFF")  # a scratch file: the store's transaction guards the data
                db.execute("PRAGMA synchronous=OFF")
                db.execute(f"PRAGMA cache_size={CACHE_KIB}")  # rows come unsorted: keep the tables in memory
                db.execute("PRAGMA temp_store=MEMORY")
                db.execute("BEGIN")
                fill(db)
                for sql in indexes:
                    db.execute(sql)
                db.execute("COMMIT")
                db.close()
                code = 0
            finally:
                os._exit(code)
        return cls(path, pid)

    def wait(self) -> bool:
        """Wait for the child; True when it built every table."""
        if self._status is None:
            _, self._status = os.waitpid(self.pid, 0)
        return self._status == 0

    def close(self) -> None:
        """Stop the child if it still runs, and delete the file."""
        if self._status is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            self.wait()
        _unlink(self.path)


def _unlink(path: Path) -> None:
    for p in (path, path.with_name(path.name + "-journal")):
        with contextlib.suppress(FileNotFoundError):
            p.unlink()
