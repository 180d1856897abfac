"""Field-aware CTR models with DeepLight structural pruning, for scikit-learn.

Public names are imported lazily (PEP 562), so that a serving process that
unpickles a :class:`SparseCTRPredictor` imports neither torch nor skorch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0.dev0"

from ._registry import MODELS as _MODELS

#: Where each public name lives; the classifiers come from the model registry.
_LAZY = {
    **{info.classifier: "._classifiers" for info in _MODELS},
    "DeepLightPruning": "._pruning",
    "FieldPairImportanceDisplay": "._plotting",
    "auto_lr": "._presets",
    "auto_value": "._presets",
    "paper_params": "._presets",
    "pruning_schedule": "._schedule",
    "reach_iteration": "._schedule",
    "auto_damping_steps": "._schedule",
    "SparseCTRPredictor": "._sparse",
    "ServingPipeline": "._serving",
    "RecordPredictor": "._scorer",
    "compile_kernels": "._aot",
    "kernel_dir": "._aot",
    "FieldEncoder": "._encoder",
    "criteo_numeric_transform": "._encoder",
    "datasets": ".datasets",
    "save": "._persistence",
    "load": "._persistence",
}

__all__ = [
    *(info.classifier for info in _MODELS),
    "DeepLightPruning",
    "FieldEncoder",
    "FieldPairImportanceDisplay",
    "RecordPredictor",
    "ServingPipeline",
    "SparseCTRPredictor",
    "auto_damping_steps",
    "auto_lr",
    "auto_value",
    "compile_kernels",
    "kernel_dir",
    "paper_params",
    "criteo_numeric_transform",
    "datasets",
    "load",
    "pruning_schedule",
    "reach_iteration",
    "save",
    "__version__",
]

if TYPE_CHECKING:  # pragma: no cover
    from . import datasets
    from ._aot import compile_kernels, kernel_dir
    from ._classifiers import *  # noqa: F403 (every classifier of the registry)
    from ._encoder import FieldEncoder, criteo_numeric_transform
    from ._persistence import load, save
    from ._plotting import FieldPairImportanceDisplay
    from ._presets import auto_lr, auto_value, paper_params
    from ._pruning import DeepLightPruning
    from ._schedule import auto_damping_steps, pruning_schedule, reach_iteration
    from ._scorer import RecordPredictor
    from ._serving import ServingPipeline
    from ._sparse import SparseCTRPredictor


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(_LAZY[name], __name__)
    value = module if name == "datasets" else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
