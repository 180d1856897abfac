"""Click-log readers and the synthetic click-log generator."""

from ._generator import make_ctr_classification
from ._readers import load_avazu, load_criteo, load_libffm

__all__ = ["load_avazu", "load_criteo", "load_libffm", "make_ctr_classification"]
