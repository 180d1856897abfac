"""The model tables of the ``deeplight`` command.

Which classifier each ``--model`` name builds and which models have each
prunable component or a DNN. Every command reads them from here (one place,
to be replaced by a library-wide model registry).
"""

from __future__ import annotations

__all__ = ["DEEP_MODELS", "MODELS", "PRUNABLE"]

#: ``--model`` names and their classifiers (attribute names of the package).
MODELS = {
    "lr": "LRClassifier",
    "fm": "FMClassifier",
    "fwfm": "FwFMClassifier",
    "deepfm": "DeepFMClassifier",
    "nfm": "NFMClassifier",
    "xdeepfm": "XDeepFMClassifier",
    "deepfwfm": "DeepFwFMClassifier",
}

#: The models that have each prunable component (see ``DeepLightPruning``).
PRUNABLE = {
    "dnn": ("deepfm", "nfm", "xdeepfm", "deepfwfm"),
    "field_pairs": ("fwfm", "deepfwfm"),
    "embeddings": ("fm", "fwfm", "deepfm", "nfm", "xdeepfm", "deepfwfm"),
    "cin": ("xdeepfm",),
}

#: The models with a DNN (``hidden_units``, ``dropout``).
DEEP_MODELS = ("deepfm", "nfm", "xdeepfm", "deepfwfm")
