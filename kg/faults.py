"""Fault injection for crash tests: named checkpoints that do nothing unless asked.

Write paths call :func:`checkpoint` at each phase (``ingest.parse``, ``first_load.edges``,
``store.commit``, ``index.save.rows``, ...). With the environment variable ``KGLOOM_FAULT`` unset
(the normal case) a checkpoint is one test of a module-level flag, read once at import. Set, it
names the checkpoints that fire, comma-separated, each ``NAME:N[:ACTION]``: at the ``N``-th time
this command reaches ``NAME`` (1-based; counted across the command's processes, its forked parser
and writer processes included, in a small file under ``KGLOOM_FAULT_DIR``, default the temporary
folder) the action happens:

- ``kill`` (default): SIGKILL, as ``kill -9`` or a power cut would stop the command. When this
  process group is the command's own (the crash tests start ``kg`` with a new session), the whole
  group goes, forked writer and parser processes included; else the process that first imported
  this module and this process.
- ``stop``: SIGSTOP the same processes, so a test can copy the store files mid-write (a
  power-loss image) before it kills them.

``KGLOOM_FAULT_TRACE=FILE`` appends the name of every checkpoint reached to ``FILE``, one a line,
so a test can see which checkpoints a command passes and how often.

>>> checkpoint("store.commit")  # does nothing unless KGLOOM_FAULT names it
"""

from __future__ import annotations

import os
import signal
import tempfile

from kg.errors import ConfigError

ENV = "KGLOOM_FAULT"
TRACE_ENV = "KGLOOM_FAULT_TRACE"
ACTIONS = ("kill", "stop")


def parse_spec(spec: str) -> dict[str, tuple[int, str]]:
    """``KGLOOM_FAULT``'s value as ``{name: (n, action)}``.

    >>> parse_spec("first_load.edges:3,store.commit:1:stop")
    {'first_load.edges': (3, 'kill'), 'store.commit': (1, 'stop')}
    """
    out: dict[str, tuple[int, str]] = {}
    for item in filter(None, (s.strip() for s in spec.split(","))):
        name, _, rest = item.partition(":")
        count, _, action = rest.partition(":")
        action = action or "kill"
        try:
            n = int(count or "1")
        except ValueError:
            n = 0
        if not name or n < 1 or action not in ACTIONS:
            raise ConfigError(f"bad {ENV} entry {item!r}: expected NAME:N[:{'|'.join(ACTIONS)}] with N >= 1")
        out[name] = (n, action)
    return out


_TARGETS = parse_spec(os.environ.get(ENV, ""))
_TRACE = os.environ.get(TRACE_ENV, "")
_ACTIVE = bool(_TARGETS or _TRACE)
_ROOT = os.getpid()  # the command's process (forked children inherit it)


def checkpoint(name: str) -> None:
    """Mark a point of a write path; fires what ``KGLOOM_FAULT`` asks for at it (see the module)."""
    if not _ACTIVE:
        return
    if _TRACE:
        with open(_TRACE, "a") as fh:
            fh.write(name + "\n")
    target = _TARGETS.get(name)
    if target is None:
        return
    if _count(name) == target[0]:
        _signal(signal.SIGKILL if target[1] == "kill" else signal.SIGSTOP)


def _count(name: str) -> int:
    """This hit's number among the command's hits of ``name``: each hit appends one byte to a file
    named for the command and the checkpoint (``O_APPEND``: one writer at a time, so the offset after
    a process's own write numbers its hit, whatever other processes do)."""
    folder = os.environ.get("KGLOOM_FAULT_DIR") or tempfile.gettempdir()
    fd = os.open(os.path.join(folder, f"kgloom-fault-{_ROOT}-{name}"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, b".")
        return os.lseek(fd, 0, os.SEEK_CUR)
    finally:
        os.close(fd)


def _signal(sig: signal.Signals) -> None:
    """Send ``sig`` to the command: its process group when it leads one, else its first process
    and this one."""
    if os.getpgrp() == _ROOT:
        os.killpg(_ROOT, sig)
    else:
        if os.getpid() != _ROOT:
            os.kill(_ROOT, sig)
        os.kill(os.getpid(), sig)


__all__ = ["ACTIONS", "ENV", "TRACE_ENV", "checkpoint", "parse_spec"]
