"""CPU smoke test of the estimators with skorch's AccelerateMixin."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
import torch

accelerate = pytest.importorskip(
    "accelerate",
    reason="Hugging Face accelerate is not installed (pip install accelerate)",
)

from skorch.hf import AccelerateMixin  # noqa: E402

from sklearn_deeplight import DeepFwFMClassifier, DeepLightPruning  # noqa: E402
from sklearn_deeplight._ondisk import encode_to_memmap, fit_ondisk  # noqa: E402


class AcceleratedDeepFwFM(AccelerateMixin, DeepFwFMClassifier):
    """DeepFwFM trained through Hugging Face accelerate."""


def _params() -> dict:
    return dict(
        embedding_dim=4,
        hidden_units=(8,),
        max_epochs=3,
        batch_size=64,
        lr=0.01,
        random_state=0,
        callbacks=[("prune", DeepLightPruning(dnn=0.5, warm_up_epochs=1))],
    )


@pytest.fixture(autouse=True)
def one_torch_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.integers(0, 6, size=(500, 4))
    y = ((X[:, 0] + X[:, 1] > 5) ^ (rng.random(500) < 0.1)).astype(int)
    return X, y


def _accelerated(**kw):
    return AcceleratedDeepFwFM(
        accelerator=accelerate.Accelerator(cpu=True),
        callbacks__print_log__sink=print,  # honour verbose=0
        **_params(),
        **kw,
    )


def test_fit_predict_on_cpu(data, capsys):
    X, y = data
    est = _accelerated().fit(X, y)
    assert capsys.readouterr().out == ""
    proba = est.predict_proba(X)
    assert proba.shape == (500, 2)
    assert np.isfinite(est.history[-1, "valid_auc"])
    # one CPU process: accelerate changes nothing in the arithmetic
    plain = DeepFwFMClassifier(**_params()).fit(X, y)
    np.testing.assert_array_equal(proba, plain.predict_proba(X))
    assert np.array_equal(est.predict(X), plain.predict(X))
    # unwrapped after training: the pruned model exports and pickles
    assert est.sparsity_report().loc["dnn", "sparsity"] >= 0.49
    np.testing.assert_allclose(est.to_sparse().predict_proba(X), proba, atol=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # DeviceWarning: device=None on load
        again = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(again.predict_proba(X), proba)


def test_fit_ondisk(data, tmp_path):
    X, y = data
    chunks = ((X[i : i + 200], y[i : i + 200]) for i in range(0, 500, 200))
    ondisk = encode_to_memmap(chunks, tmp_path)
    est = fit_ondisk(_accelerated(), ondisk, shuffle="exact")
    plain = DeepFwFMClassifier(**_params()).fit(X, y)
    np.testing.assert_array_equal(est.predict_proba(X), plain.predict_proba(X))
    fit_ondisk(est, ondisk)  # shuffle windows
    assert est.predict_proba(X).shape == (500, 2)
