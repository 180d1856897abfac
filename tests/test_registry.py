"""The model registry is consistent with the classes it names."""

from __future__ import annotations

import subprocess
import sys

import pytest

import sklearn_deeplight
from sklearn_deeplight import _modules
from sklearn_deeplight._registry import (
    COMPONENT_DOCS,
    COMPONENT_LABELS,
    COMPONENT_LETTERS,
    COMPONENTS,
    MODELS,
    get_model,
)


def test_every_component_is_described():
    assert set(COMPONENT_DOCS) == set(COMPONENT_LABELS) == set(COMPONENT_LETTERS)
    assert len(set(COMPONENT_LETTERS.values())) == len(COMPONENTS)


@pytest.mark.parametrize("info", MODELS, ids=lambda info: info.name)
def test_model_row_matches_its_classes(info):
    cls = info.classifier_class()
    assert getattr(sklearn_deeplight, info.classifier) is cls
    assert info.classifier in sklearn_deeplight.__all__
    module_cls = getattr(_modules, info.module)
    assert cls._module_cls is module_cls
    assert set(info.small) <= set(cls().get_params())
    module_params = {k: v for k, v in info.small.items() if k in cls._module_params}
    module = module_cls((3, 4, 1), **module_params)
    assert tuple(c for c in COMPONENTS if c in module.prunable_parts()) == tuple(
        c for c in COMPONENTS if c in info.components
    )
    assert get_model(info.cli_name) is get_model(info.classifier) is info


def test_unknown_model_names_the_choices():
    with pytest.raises(ValueError, match="dcnv2"):
        get_model("gbdt")


def test_registry_and_public_names_import_without_torch():
    code = (
        "import sys, sklearn_deeplight, sklearn_deeplight._registry;"
        "sklearn_deeplight.__all__;"
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
