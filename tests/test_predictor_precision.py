"""The predictor sums a logit's terms in float64.

The bias and the linear terms are summed in float32; each block's term (a
field pair, the FM, the DNN's output, a CIN feature map, the cross network)
is a float32 value, as in the estimator's forward, and those are added in
float64 and the sum rounded once to float32. ``benchmarks/parity.py``
measures what this buys on trained models: the predictor closer to the
model's float64 forward than the torch estimator is.
"""

from __future__ import annotations

import numpy as np
import pytest

from sklearn_deeplight import FwFMClassifier


def _fwfm_with_pair_weights(weights):
    """A FwFM of three categorical fields, k=1, whose code 0 of each field
    has embedding 1 and no linear term: its logit for the codes (0, 0, 0)
    is the sum of the three pair weights, in pair order (0, 1), (0, 2),
    (1, 2)."""
    import torch

    X = np.array([[0, 0, 0], [1, 1, 1], [0, 1, 0], [1, 0, 1]] * 10, dtype=np.int64)
    y = np.array([0, 1, 1, 0] * 10)
    est = FwFMClassifier(
        embedding_dim=1, max_epochs=1, random_state=0, validation_fraction=None
    ).fit(X, y)
    with torch.no_grad():
        m = est.module_
        m.bias.zero_()
        m.field_linear.zero_()
        m.embedding.weight.zero_()
        for field in range(3):
            m.embedding.weight[int(est.offsets_[field]), 0] = 1.0
        m.field_pairs.copy_(torch.tensor(weights, dtype=torch.float32))
    return est


@pytest.mark.parametrize("engine", ["numba", "auto"])
@pytest.mark.parametrize("n_rows", [1, 5, 300])
def test_cancelling_terms_keep_the_small_one(engine, n_rows):
    """Pair terms 3e4, 1e-3 and -3e4: float32 values near 3e4 are 2**-9
    (about 0.002) apart, so a float32 sum in pair order gives 2**-9 instead
    of 1e-3. 1 and 5 rows: the per-sample kernel; 300: the tiled one. (The
    scipy engine's numpy forward sums each block in float32, then the
    blocks in float64.)"""
    est = _fwfm_with_pair_weights([3e4, 1e-3, -3e4])
    pred = est.to_sparse(engine=engine)
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
def test_a_logit_beyond_float32_still_raises(engine, n_rows):
    """Pair terms 3e38 three times: their float64 sum is beyond float32, the
    logit is not finite and the predictor raises, as the estimator does."""
    X = np.zeros((n_rows, 3), dtype=np.int64)
    est = _fwfm_with_pair_weights([3e38, 3e38, 3e38])
    with pytest.raises(ValueError, match="not finite"):
        est.predict_proba(X)
    with pytest.raises(ValueError, match="not finite"):
        with np.errstate(over="ignore"):
            est.to_sparse(engine=engine).predict_proba(X)


@pytest.mark.parametrize("tile", [64, 128, 256])
@pytest.mark.parametrize("name", ["DeepFwFM", "DCNv2"])
def test_csr_layers_add_in_the_same_order_in_both_kernels(name, tile, monkeypatch):
    """Every DNN (and cross) layer packed as CSR: the tiled kernel's vector
    sums (blocks of 64 samples, of 16, a masked tail; several blocks of each
    kind in a tile as wide as ``tile``) give the per-sample kernel's bits,
    on batches that end in each kind of block."""
    from sklearn_deeplight import (
        DCNv2Classifier,
        DeepFwFMClassifier,
        _kernels,
        _packing,
    )
    from sklearn_deeplight.datasets import make_ctr_classification

    X, y = make_ctr_classification(
        600, n_numeric=2, n_categorical=5, n_interactions=3, random_state=1
    )
    from sklearn_deeplight import FieldEncoder

    E = FieldEncoder().fit_transform(X)
    cls = DeepFwFMClassifier if name == "DeepFwFM" else DCNv2Classifier
    est = cls(
        embedding_dim=3,
        hidden_units=(12, 7),
        max_epochs=1,
        random_state=0,
        validation_fraction=None,
    ).fit(E, y)
    pred = est.to_sparse(engine="numba")
    monkeypatch.setattr(_packing, "SPARSE_DNN_TILE_SIZE", tile)
    packed = _kernels.pack(pred._spec, {c: (2.0, 2.0) for c in _kernels.DENSE_DENSITY})
    assert not any(u for us in _kernels.dense_uses(packed[3]).values() for u in us)
    assert packed[3][_kernels.M_TILE] == tile
    xi, xv = pred.index_input(E)
    for n in (8, 15, 16, 17, 63, 64, 65, 80, 127, 128, 129, 200, 255, 257, 600):
        tiled, _ = _kernels.forward_tiled(pred._table, xi[:n], xv[:n], *packed)
        samples, _ = _kernels.forward_samples(pred._table, xi[:n], xv[:n], *packed)
        np.testing.assert_array_equal(tiled, samples, err_msg=f"{n} rows")


def test_the_threads_scratch_serves_models_of_every_size():
    """The tiled kernels reuse one scratch per thread: models of different
    sizes scored in turn (the scratch grows, and a smaller model then reads
    a prefix of it, left over from a larger one), on a batch whose last tile
    is partial, give the bits of freshly allocated buffers."""
    from sklearn_deeplight import DeepFwFMClassifier, FieldEncoder, _kernels, _sparse
    from sklearn_deeplight.datasets import make_ctr_classification

    X, y = make_ctr_classification(
        300, n_numeric=2, n_categorical=5, n_interactions=3, random_state=2
    )
    E = FieldEncoder().fit_transform(X)
    ests = [
        DeepFwFMClassifier(
            embedding_dim=k,
            hidden_units=hidden,
            max_epochs=1,
            random_state=0,
            validation_fraction=None,
        ).fit(E, y)
        for k, hidden in ((2, (4,)), (6, (40, 24)))
    ]
    preds = [est.to_sparse(engine="numba") for est in ests]
    assert preds[0]._get_packed(_kernels)[3][_kernels.M_ZERO]  # dense layers
    for i in (1, 0, 1, 0):
        pred = preds[i]
        np.testing.assert_allclose(
            pred.decision_function(E), ests[i].decision_function(E), rtol=1e-5
        )
        xi, xv = pred.index_input(E)
        packed = pred._get_packed(_kernels)
        fresh, _ = _kernels.forward_tiled(pred._table, xi, xv, *packed)
        np.testing.assert_array_equal(pred.decision_function(E), fresh)
        proba, ok = _kernels.proba_tiled(E.to_numpy(np.float64), pred._table, *packed)
        assert ok
        np.testing.assert_array_equal(pred.predict_proba(E), proba)
    assert _sparse._SCRATCH.buf.shape[0] >= _kernels.scratch_size(packed[3])
    assert _sparse._SCRATCH.buf.ctypes.data % 64 == 0
