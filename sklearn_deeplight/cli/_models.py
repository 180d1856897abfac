"""The model tables of the ``deeplight`` command, read from the registry.

Which classifier each ``--model`` name builds and which models have each
prunable component or a DNN (:mod:`sklearn_deeplight._registry`).
"""

from __future__ import annotations

from .._registry import COMPONENTS
from .._registry import MODELS as _REGISTRY

__all__ = ["DEEP_MODELS", "MODELS", "PRUNABLE"]

#: ``--model`` names and their classifiers (attribute names of the package).
MODELS = {info.cli_name: info.classifier for info in _REGISTRY}

#: The models that have each prunable component (see ``DeepLightPruning``).
PRUNABLE = {
    comp: tuple(info.cli_name for info in _REGISTRY if comp in info.components)
    for comp in COMPONENTS
}

#: The models with a DNN (``hidden_units``, ``dropout``).
DEEP_MODELS = tuple(info.cli_name for info in _REGISTRY if info.deep)
