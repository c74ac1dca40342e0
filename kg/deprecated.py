"""Module paths that moved in the 0.1 layering (issue 13), kept importable for a deprecation period.

Each old module (``kg.copy``, ``kg.neo4j_server``, ``kg.store.neo4j``, ``kg.distill.student``) is a
few lines that call :func:`moved` and re-export the new module's public names; importing it warns
with a :class:`DeprecationWarning` that names the new path. They will be removed in a later release.
"""

from __future__ import annotations

import importlib
import warnings
from typing import Any


def moved(old: str, new: str, namespace: dict[str, Any]) -> None:
    """Warn that ``old`` moved to ``new`` and copy ``new``'s public names into ``namespace``."""
    warnings.warn(f"{old} moved to {new}; import it from there ({old} will be removed)", DeprecationWarning,
                  stacklevel=3)
    module = importlib.import_module(new)
    names = getattr(module, "__all__", None) or [n for n in vars(module) if not n.startswith("_")]
    namespace.update({n: getattr(module, n) for n in names})
    namespace["__all__"] = list(names)
