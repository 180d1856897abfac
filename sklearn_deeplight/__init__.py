"""Field-aware CTR models with DeepLight structural pruning, for scikit-learn."""

from ._classifiers import (
    DeepFMClassifier,
    DeepFwFMClassifier,
    FMClassifier,
    FwFMClassifier,
    LRClassifier,
    NFMClassifier,
    XDeepFMClassifier,
)

__version__ = "0.1.0.dev0"

__all__ = [
    "DeepFMClassifier",
    "DeepFwFMClassifier",
    "FMClassifier",
    "FwFMClassifier",
    "LRClassifier",
    "NFMClassifier",
    "XDeepFMClassifier",
    "__version__",
]
