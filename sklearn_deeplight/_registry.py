"""One table of the library's models, read wherever models are listed.

Torch-free. Each :class:`ModelInfo` names a model's classifier and torch
module, its name on the command line, the components DeepLight can prune in
it, and the small settings that tests and documentation examples use. The
package's public names, the command's ``--model`` choices and pruning
options, the tests' model lists and the benchmarks all read :data:`MODELS`;
adding a model is one row here plus its classes.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "COMPONENTS",
    "COMPONENT_DOCS",
    "COMPONENT_LABELS",
    "COMPONENT_LETTERS",
    "MODELS",
    "ModelInfo",
    "get_model",
]

#: Every prunable component, in the order of ``DeepLightPruning``'s target
#: parameters, with the documentation of that parameter.
COMPONENT_DOCS: dict[str, str] = {
    "dnn": """\
    dnn : float, default=0.0
        Target sparsity of the DNN's hidden-layer weights, applied to each
        layer with its own threshold (``dnn.layers.<i>.weight``). Biases,
        BatchNorm parameters and the output layer ``dnn.out`` are kept, as in
        the paper ("D-90%"). {models}.""",
    "field_pairs": """\
    field_pairs : float, default=0.0
        Target sparsity of the field-pair matrix R, over its
        ``n_fields * (n_fields - 1) / 2`` off-diagonal pairs ("R-90%").
        Pruning a pair zeroes both ``R[i, j]`` and ``R[j, i]``. {models}.""",
    "embeddings": """\
    embeddings : float, default=0.0
        Target sparsity of the second-order embedding table
        ``embedding.weight``, with one global threshold across all fields'
        rows, numeric fields' included ("F-40%"). {models}.""",
    "cin": """\
    cin : float, default=0.0
        Target sparsity of each CIN layer's filter matrix
        (``cin.layers.<i>.weight``, one threshold per layer; ``cin.out``
        kept) ("C-99%" of the paper's Table 6). {models}.""",
    "cross": """\
    cross : float, default=0.0
        Target sparsity of each cross layer's square matrix W_l
        (``cross.layers.<i>.weight``, one threshold per layer; biases and
        ``cross.out`` kept). {models}.""",
}
#: Every prunable component (the named targets of ``DeepLightPruning``).
COMPONENTS = tuple(COMPONENT_DOCS)
#: Each component's letter in the paper-style name of a pruned structure
#: ("D-90% R-90% F-40%"; C for the CIN as in the paper's Table 6).
COMPONENT_LETTERS: dict[str, str] = {
    "dnn": "D",
    "field_pairs": "R",
    "embeddings": "F",
    "cin": "C",
    "cross": "X",
}
#: What each component's option prunes, in the command's help.
COMPONENT_LABELS: dict[str, str] = {
    "dnn": "DNN hidden weights",
    "field_pairs": "field-pair matrix R",
    "embeddings": "embedding table",
    "cin": "CIN filters",
    "cross": "cross-network weights",
}


@dataclass(frozen=True)
class ModelInfo:
    """One model of the library.

    Parameters
    ----------
    name : str
        Display name (``"DeepFwFM"``).
    cli_name : str
        Name on the command line (``deeplight train --model``).
    classifier : str
        Public classifier class, in :mod:`sklearn_deeplight._classifiers`.
    module : str
        Torch module class, in :mod:`sklearn_deeplight._modules`.
    components : tuple of str
        Components DeepLight can prune in this model, from :data:`COMPONENTS`.
    small : dict
        Model parameters of a tiny network, for tests and doc examples.
    """

    name: str
    cli_name: str
    classifier: str
    module: str
    components: tuple[str, ...]
    small: dict[str, Any] = field(default_factory=dict)

    @property
    def deep(self) -> bool:
        """Whether the model has a DNN (``hidden_units``, ``dropout``)."""
        return "dnn" in self.components

    def classifier_class(self) -> type:
        """The classifier class (imports torch)."""
        module = importlib.import_module("sklearn_deeplight._classifiers")
        return getattr(module, self.classifier)


_DEEP = {"embedding_dim": 4, "hidden_units": (8,)}

#: The models: the paper's seven in its order, then later ones.
MODELS: tuple[ModelInfo, ...] = (
    ModelInfo("LR", "lr", "LRClassifier", "LRModule", ()),
    ModelInfo(
        "FM", "fm", "FMClassifier", "FMModule", ("embeddings",), {"embedding_dim": 4}
    ),
    ModelInfo(
        "FwFM",
        "fwfm",
        "FwFMClassifier",
        "FwFMModule",
        ("field_pairs", "embeddings"),
        {"embedding_dim": 4},
    ),
    ModelInfo(
        "DeepFM",
        "deepfm",
        "DeepFMClassifier",
        "DeepFMModule",
        ("dnn", "embeddings"),
        dict(_DEEP),
    ),
    ModelInfo(
        "NFM", "nfm", "NFMClassifier", "NFMModule", ("dnn", "embeddings"), dict(_DEEP)
    ),
    ModelInfo(
        "xDeepFM",
        "xdeepfm",
        "XDeepFMClassifier",
        "XDeepFMModule",
        ("dnn", "embeddings", "cin"),
        {**_DEEP, "cin_layer_sizes": (4, 2)},
    ),
    ModelInfo(
        "DeepFwFM",
        "deepfwfm",
        "DeepFwFMClassifier",
        "DeepFwFMModule",
        ("dnn", "field_pairs", "embeddings"),
        dict(_DEEP),
    ),
    ModelInfo(
        "DCNv2",
        "dcnv2",
        "DCNv2Classifier",
        "DCNv2Module",
        ("dnn", "embeddings", "cross"),
        {**_DEEP, "n_cross_layers": 2},
    ),
)


def get_model(name: str) -> ModelInfo:
    """The model of that display, command-line or classifier name."""
    for info in MODELS:
        if name in (info.name, info.cli_name, info.classifier):
            return info
    raise ValueError(
        f"Unknown model {name!r}; the models are "
        f"{', '.join(info.cli_name for info in MODELS)}."
    )


def components_doc() -> str:
    """The numpydoc entries of ``DeepLightPruning``'s component targets."""
    docs = []
    for comp, doc in COMPONENT_DOCS.items():
        names = [info.name for info in MODELS if comp in info.components]
        others = [info.name for info in MODELS if comp not in info.components]
        if len(others) == 1:
            models = f"Every model but {others[0]}"
        elif len(names) == 1:
            models = names[0]
        else:
            models = ", ".join(names[:-1]) + " and " + names[-1]
        docs.append(doc.format(models=models))
    return "\n".join(docs)
