"""scikit-learn's face of the estimators: repr, parameters, errors."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline

from sklearn_deeplight import (
    DeepFwFMClassifier,
    DeepLightPruning,
    FieldEncoder,
    SparseCTRPredictor,
)
from sklearn_deeplight._registry import MODELS


@pytest.mark.parametrize("info", MODELS, ids=lambda info: info.name)
def test_repr_shows_the_changed_parameters_only(info):
    cls = info.classifier_class()
    assert repr(cls()) == f"{info.classifier}()"
    est = cls(max_epochs=3, lr=0.01)
    assert repr(est) == f"{info.classifier}(lr=0.01, max_epochs=3)"
    assert repr(clone(est)) == repr(est)


def test_repr_of_other_public_estimators():
    assert repr(FieldEncoder()) == "FieldEncoder()"
    assert repr(SparseCTRPredictor(engine="scipy")) == (
        "SparseCTRPredictor(engine='scipy')"
    )
    assert repr(DeepLightPruning()) == "DeepLightPruning()"
    assert repr(DeepLightPruning(dnn=0.9, regrow="ramp")) == (
        "DeepLightPruning(dnn=0.9, regrow='ramp')"
    )


def test_repr_in_a_pipeline_hides_skorch_internals():
    est = DeepFwFMClassifier(
        max_epochs=3, callbacks=[("prune", DeepLightPruning(dnn=0.9))]
    )
    text = repr(make_pipeline(FieldEncoder(), est))
    assert "_params_to_validate" not in text and "criterion" not in text
    assert "DeepLightPruning(dnn=0.9)" in text and " object at 0x" not in text
    assert "_params_to_validate" not in est.get_params()


def test_callback_parameters_are_listed_and_settable_before_fit():
    est = DeepFwFMClassifier(callbacks=[("prune", DeepLightPruning(dnn=0.5))])
    params = est.get_params()
    assert params["callbacks__prune__dnn"] == 0.5
    est.set_params(callbacks__prune__dnn=0.7)
    assert est.get_params()["callbacks__prune__dnn"] == 0.7
    grid = GridSearchCV(est, {"callbacks__prune__dnn": [0.5, 0.9]})
    assert "callbacks__prune__dnn" in grid.estimator.get_params()


@pytest.mark.parametrize(
    "params, match",
    [
        ({"class_weight": "balanced"}, r"unknown parameter 'class_weight' \(there"),
        ({"n_jobs": 2}, r"unknown parameter 'n_jobs' \(training uses torch"),
        ({"max_epoch": 2}, r"did you mean 'max_epochs'\?"),
        ({"device": "cuda:0"}, "device='cuda:0'"),
        ({"device": "gpu"}, "device must be a torch device"),
    ],
)
def test_bad_parameters_name_the_fix(params, match):
    if "device" in params and params["device"].startswith("cuda"):
        import torch

        if torch.cuda.is_available():
            pytest.skip("a CUDA device is available here")
    X = np.random.RandomState(0).randint(0, 3, size=(40, 3))
    est = DeepFwFMClassifier(**params)  # the constructor never validates
    with pytest.raises(ValueError, match=match):
        est.fit(X, np.arange(40) % 2)


def test_history_before_fit_is_not_fitted_error():
    est = DeepFwFMClassifier()
    with pytest.raises(NotFittedError, match="history_ is set by fit"):
        est.history_  # noqa: B018
    assert not hasattr(est, "history_")
    X = np.random.RandomState(0).randint(0, 3, size=(40, 3))
    est.set_params(max_epochs=1, embedding_dim=2, hidden_units=(2,)).fit(
        X, np.arange(40) % 2
    )
    assert len(est.history_) == 1


def test_verbose_output_is_plain_text_off_a_terminal_and_logged(capsys, caplog):
    """No progress bar (carriage returns) nor colour codes in a log file; the
    epoch rows also go to the library's logger."""
    import logging

    X = np.random.RandomState(0).randint(0, 3, size=(60, 3))
    est = DeepFwFMClassifier(
        max_epochs=2, embedding_dim=2, hidden_units=(2,), verbose=1, random_state=0
    )
    with caplog.at_level(logging.INFO, logger="sklearn_deeplight"):
        est.fit(X, np.arange(60) % 2)
    out = capsys.readouterr()
    text = out.out + out.err
    assert "valid_auc" in out.out and "\x1b[" not in text and "\r" not in text
    rows = [r.getMessage() for r in caplog.records if r.name == "sklearn_deeplight"]
    assert any("valid_auc" in row for row in rows)
    assert sum(row.strip().startswith(("1 ", "2 ")) for row in rows) == 2


def test_auto_numeric_fields_refuses_integer_codes_with_gaps():
    """A float column of whole numbers with NaN is integer codes with missing
    values (pandas' float64), not a numeric field: refused, naming the fix."""
    import pandas as pd

    from sklearn_deeplight import FMClassifier

    y = np.arange(40) % 2
    X = pd.DataFrame({"C1": [1, 2, None, 3] * 10, "n": np.linspace(0, 1, 40)})
    with pytest.raises(ValueError, match=r"column 0 \('C1'\).*'Int64'"):
        FMClassifier(max_epochs=1).fit(X, y)
    X_codes = X.astype({"C1": "Int64"})
    est = FMClassifier(max_epochs=1, embedding_dim=2).fit(X_codes, y)
    assert est.numeric_fields_.tolist() == [1]
    # a real numeric column (not whole numbers) keeps the numeric reading
    X_num = X.assign(C1=X["C1"].fillna(0) + 0.5)
    assert FMClassifier(max_epochs=1).fit(X_num, y).numeric_fields_.tolist() == [0, 1]


def test_saving_a_function_transform_points_to_the_named_one(tmp_path):
    import pandas as pd

    from sklearn_deeplight import save

    X = pd.DataFrame({"a": [1.0, 2.0], "b": ["x", "y"]})
    enc = FieldEncoder(numeric_transform=np.log1p).fit(X)
    with pytest.raises(TypeError, match=r"numeric_transform='log1p'"):
        save(enc, tmp_path / "e.skdl")
    assert not (tmp_path / "e.skdl").exists()


def test_partial_fit_weights_follow_random_state_not_the_global_seed():
    import torch

    from sklearn_deeplight import FMClassifier

    X = np.random.RandomState(0).randint(0, 4, size=(64, 3))
    y = np.arange(64) % 2
    probas = []
    for global_seed in (1, 2):
        torch.manual_seed(global_seed)
        state = torch.get_rng_state()
        est = FMClassifier(embedding_dim=2, random_state=0, validation_fraction=None)
        est.partial_fit(X, y)
        assert torch.equal(torch.get_rng_state(), state)  # the caller's untouched
        probas.append(est.predict_proba(X))
    np.testing.assert_array_equal(probas[0], probas[1])


def test_auto_batch_size_with_a_user_train_split():
    from skorch.dataset import ValidSplit

    from sklearn_deeplight import FwFMClassifier

    X = np.random.RandomState(0).randint(0, 4, size=(100, 3))
    est = FwFMClassifier(
        embedding_dim=2, batch_size="auto", max_epochs=1, train_split=ValidSplit(5)
    ).fit(X, np.arange(100) % 2)
    assert est.batch_size_ == 256 and len(est.history_) == 1


def test_dataset_fit_refuses_array_only_arguments():
    from sklearn_deeplight import FMClassifier
    from sklearn_deeplight._data import FieldDataset

    ds = FieldDataset(np.zeros((4, 2), np.int64), np.ones((4, 2)), np.array([0, 1] * 2))
    with pytest.raises(TypeError, match="takes no sample_weight"):
        FMClassifier().fit(ds, None, sample_weight=np.ones(4))
