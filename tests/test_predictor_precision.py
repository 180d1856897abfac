"""The predictor sums a logit's terms in float64.

Each term (a linear weight, a field pair, the DNN's output) is a float32
value, as in the estimator's forward; their sum is taken in float64 and
rounded once to float32, so the predictor's logit is the float32 rounding of
a nearly exact sum. ``benchmarks/parity.py`` measures what this buys on
trained models: the predictor closer to the model's float64 forward than the
torch estimator is.
"""

from __future__ import annotations

import numpy as np
import pytest

from sklearn_deeplight import LRClassifier


@pytest.fixture(scope="module")
def cancelling():
    """An LR whose three linear terms for the codes (0, 0, 0) are 3e4, 1e-3
    and -3e4: float32 values near 3e4 are 2**-9 (about 0.002) apart, so a
    float32 sum in field order gives 2**-9 (the torch estimator's logit
    here) instead of 1e-3."""
    import torch

    X = np.array([[0, 0, 0], [1, 1, 1], [0, 1, 0], [1, 0, 1]] * 10, dtype=np.int64)
    y = np.array([0, 1, 1, 0] * 10)
    est = LRClassifier(max_epochs=1, random_state=0, validation_fraction=None)
    est.fit(X, y)
    with torch.no_grad():
        w = est.module_.linear.weight
        w.zero_()
        for field, value in enumerate((3e4, 1e-3, -3e4)):
            w[int(est.offsets_[field]), 0] = value
        est.module_.bias.zero_()
    return est


@pytest.mark.parametrize("engine", ["numba", "auto", "scipy"])
@pytest.mark.parametrize("n_rows", [1, 5, 300])
def test_cancelling_terms_keep_the_small_one(cancelling, engine, n_rows):
    # 1 and 5 rows: the per-sample kernel; 300: the tiled one.
    pred = cancelling.to_sparse(engine=engine)
    X = np.zeros((n_rows, 3), dtype=np.int64)
    exact = np.float64(np.float32(3e4)) + np.float32(1e-3) - np.float64(np.float32(3e4))
    logit = pred.decision_function(X)
    np.testing.assert_allclose(logit, np.float32(exact), rtol=1e-6)
    proba = pred.predict_proba(X)[:, 1]
    np.testing.assert_allclose(proba, 1 / (1 + np.exp(-exact)), rtol=1e-12)
