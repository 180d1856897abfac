"""The torch-free model description: layout arithmetic, validation, export."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sklearn_deeplight import DeepFwFMClassifier, XDeepFMClassifier
from sklearn_deeplight._export import export_spec
from sklearn_deeplight._spec import FieldLayout, ModelSpec


def _fitted(cls=DeepFwFMClassifier, **kw):
    rng = np.random.RandomState(0)
    X = rng.randint(0, 7, size=(200, 4)).astype(float)
    X[:, 3] = rng.normal(size=200)
    y = rng.randint(0, 2, size=200)
    params = dict(embedding_dim=3, hidden_units=(5,), max_epochs=1, random_state=0)
    return cls(**params, numeric_fields=[3], **kw).fit(X, y)


def test_layout_arithmetic():
    layout = FieldLayout.from_mask([3, 1, 5], [False, True, False])
    np.testing.assert_array_equal(layout.sizes, [4, 1, 6])
    np.testing.assert_array_equal(layout.offsets, [0, 4, 5])
    assert layout.n_rows == 11 and layout.n_fields == 3
    np.testing.assert_array_equal(layout.numeric_fields, [1])


@pytest.mark.parametrize(
    "dims, numeric, match",
    [
        (np.array([3, 0]), np.array([], np.int64), "positive"),
        (np.array([3, 4]), np.array([2]), "distinct field positions"),
        (np.array([3, 4]), np.array([1, 1]), "distinct field positions"),
        (np.array([2**62, 2**62]), np.array([], np.int64), "table rows"),
        (np.array([3.0, 4.0]), np.array([], np.int64), "integer array"),
    ],
)
def test_bad_layouts_are_refused(dims, numeric, match):
    with pytest.raises(ValueError, match=match):
        FieldLayout(dims, numeric)


def test_offsets_are_checked():
    layout = FieldLayout.from_mask([3, 4], [False, False])
    layout.check_offsets(np.array([0, 4]))
    with pytest.raises(ValueError, match="offsets_"):
        layout.check_offsets(np.array([0, 5]))


def test_export_describes_every_block():
    spec = export_spec(_fitted())
    assert [b.kind for b in spec.blocks] == ["linear", "field_pairs", "mlp"]
    assert spec.k == 3 and spec.layout.n_rows == spec.embedding.shape[0]
    spec = export_spec(_fitted(XDeepFMClassifier, cin_layer_sizes=(4, 2)))
    assert [b.kind for b in spec.blocks] == ["linear", "mlp", "cin"]


def test_export_fails_on_an_unread_weight():
    est = _fitted()
    est.module_.register_parameter("extra", torch.nn.Parameter(torch.zeros(2)))
    with pytest.raises(ValueError, match="left weights unread: \\['extra'\\]"):
        export_spec(est)


def test_attributes_round_trip_and_validation():
    pred = _fitted().to_sparse()
    spec = pred._spec
    again = ModelSpec.from_attributes(spec.attributes(), spec.embedding).validate()
    assert [b.kind for b in again.blocks] == [b.kind for b in spec.blocks]
    attrs = dict(spec.attributes())
    attrs["dnn_out_"] = np.zeros(2, np.float32)
    with pytest.raises(ValueError, match="dnn_out_ must hold 5 floats"):
        ModelSpec.from_attributes(attrs, spec.embedding).validate()
    attrs = dict(spec.attributes())
    attrs["linear_"] = np.zeros((1, 3), np.float32)
    with pytest.raises(ValueError, match="linear_ must be a float array of shape"):
        ModelSpec.from_attributes(attrs, spec.embedding).validate()
    attrs = dict(spec.attributes())
    attrs["bias_"] = float("nan")
    with pytest.raises(ValueError, match="NaN or infinity"):
        ModelSpec.from_attributes(attrs, spec.embedding).validate()


def test_spec_forward_is_the_scipy_engine():
    est = _fitted()
    pred = est.to_sparse(engine="scipy")
    X = np.array([[1, 2, 3, 0.5], [6, 0, 9, -1.0]])
    xi, xv = pred.index_input(X)
    logits = pred._spec.logits(pred._table, xi, xv)
    np.testing.assert_allclose(logits, est.decision_function(X), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("left_out", [{"cin"}, {"mlp", "cin"}, {"fm"}])
def test_blocks_the_kernels_do_not_fuse_are_added_by_their_numpy_forward(
    monkeypatch, left_out
):
    """A block type without a fused kernel is still served by engine='numba'."""
    from sklearn_deeplight import _packing

    est = _fitted(XDeepFMClassifier, cin_layer_sizes=(4, 2))
    X = np.random.RandomState(1).randint(0, 8, size=(40, 4)).astype(float)
    ref = est.to_sparse(engine="scipy").predict_proba(X)
    monkeypatch.setattr(_packing, "FUSED", _packing.FUSED - left_out)
    pred = est.to_sparse(engine="numba")
    for rows in (X[:1], X):  # the per-sample and the tiled kernel
        got = pred.predict_proba(rows)
        np.testing.assert_allclose(got, ref[: len(rows)], rtol=1e-5, atol=1e-6)
    assert {b.kind for b in pred._unfused} == left_out & {"mlp", "cin"}
