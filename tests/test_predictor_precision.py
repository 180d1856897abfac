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


def test_cin_terms_add_in_the_same_order_in_both_kernels():
    """xDeepFM with its DNN's hidden weights zeroed (so only the CIN's sums
    could differ) and every layer packed as CSR: the per-sample and the tiled
    kernels give the same bits."""
    import torch

    from sklearn_deeplight import XDeepFMClassifier, _kernels
    from sklearn_deeplight.datasets import make_ctr_classification

    X, y = make_ctr_classification(
        400, n_numeric=2, n_categorical=4, n_interactions=3, random_state=0
    )
    from sklearn_deeplight import FieldEncoder

    E = FieldEncoder().fit_transform(X)
    est = XDeepFMClassifier(
        embedding_dim=3,
        hidden_units=(8, 8),
        cin_layer_sizes=(6, 5),
        max_epochs=1,
        random_state=0,
        validation_fraction=None,
    ).fit(E, y)
    with torch.no_grad():
        for name, p in est.module_.named_parameters():
            if name.startswith("dnn.layers") and name.endswith("weight"):
                p.zero_()
    pred = est.to_sparse(engine="numba")
    xi, xv = pred.index_input(E.iloc[:150])
    packed = _kernels.pack(pred._spec, {c: (2.0, 2.0) for c in _kernels.DENSE_DENSITY})
    tiled, _ = _kernels.forward_tiled(pred._table, xi, xv, *packed)
    samples, _ = _kernels.forward_samples(pred._table, xi, xv, *packed)
    np.testing.assert_array_equal(tiled, samples)


@pytest.mark.parametrize("engine", ["numba", "scipy"])
@pytest.mark.parametrize("n_rows", [1, 200])
def test_a_sum_that_overflows_only_in_float32_is_scored(engine, n_rows):
    """Terms 3e38, 3e38 and -3e38 (each finite in float32): the estimator's
    float32 sum overflows and it raises; the predictor's float64 sum is 3e38,
    a finite logit, whose probability it returns (the documented difference).
    A sum beyond float32 (3e38 three times) still raises."""
    import torch

    X = np.array([[0, 0.0, 0.0], [1, 1.0, 1.0]] * 10)
    y = np.array([0, 1] * 10)
    est = LRClassifier(
        numeric_fields=[1, 2], max_epochs=1, random_state=0, validation_fraction=None
    ).fit(X, y)
    with torch.no_grad():
        w = est.module_.linear.weight
        w.zero_()
        est.module_.bias.zero_()
        w[int(est.offsets_[0]), 0] = 3e38
        w[int(est.offsets_[1]), 0] = 1.0
        w[int(est.offsets_[2]), 0] = 1.0
    Xt = np.tile([[0, 3e38, -3e38]], (n_rows, 1))
    with pytest.raises(ValueError, match="overflow"):
        est.predict_proba(Xt)
    pred = est.to_sparse(engine=engine)
    np.testing.assert_array_equal(pred.predict_proba(Xt), [[0.0, 1.0]] * n_rows)
    with pytest.raises(ValueError, match="overflow"):
        with np.errstate(over="ignore"):
            pred.predict_proba(np.tile([[0, 3e38, 3e38]], (n_rows, 1)))
