"""Click-log readers and the synthetic click-log generator.

Public names are imported lazily (PEP 562): the command's parser reads the
private format table and on-disk policy of this package without loading
pandas.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

_LAZY = {
    "load_avazu": "._readers",
    "load_criteo": "._readers",
    "load_libffm": "._readers",
    "make_ctr_classification": "._generator",
}

__all__ = ["load_avazu", "load_criteo", "load_libffm", "make_ctr_classification"]

if TYPE_CHECKING:  # pragma: no cover
    from ._generator import make_ctr_classification
    from ._readers import load_avazu, load_criteo, load_libffm


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name], __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
