"""Click-log readers and the synthetic click-log generator."""

from ._readers import load_avazu, load_criteo, load_libffm

__all__ = ["load_avazu", "load_criteo", "load_libffm"]
