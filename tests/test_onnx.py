"""Tests of the ONNX export (``sklearn_deeplight.onnx``) against ONNX Runtime."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from sklearn_deeplight import DeepLightPruning, FieldEncoder
from sklearn_deeplight._registry import MODELS
from sklearn_deeplight.onnx import (
    INPUT_NAMES,
    MIN_OPSET,
    OUTPUT_NAME,
    export_onnx,
    onnx_inputs,
)

onnx = pytest.importorskip("onnx", reason="the onnx extra")
ort = pytest.importorskip("onnxruntime", reason="the onnx extra")

TOL = 1e-5
CARD = (30, 12, 7, 50)  # cardinalities of the categorical fields
_COMMON = dict(
    max_epochs=1, batch_size=64, random_state=0, validation_fraction=None, lr=1e-2
)
# Every registered model; the ones with components are also pruned.
CASES = [(info.name, "dense") for info in MODELS] + [
    (info.name, "pruned") for info in MODELS if info.components
]


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def _frame(n: int, seed: int) -> pd.DataFrame:
    """Codes of four categorical fields and two numeric fields."""
    rng = np.random.RandomState(seed)
    cols = {f"c{j}": rng.randint(0, c, size=n) for j, c in enumerate(CARD)}
    cols["n0"] = rng.rand(n) * 3
    cols["n1"] = rng.randn(n)
    return pd.DataFrame(cols)


def _test_frame() -> pd.DataFrame:
    """257 rows with unseen, negative and missing codes."""
    X = _frame(257, 1)
    X.loc[:9, "c0"] = 10_000
    X.loc[10:14, "c1"] = -3
    X["c2"] = X["c2"].astype("Int64")
    X.loc[15:20, "c2"] = pd.NA
    return X


def _target(X: pd.DataFrame) -> np.ndarray:
    return ((X["c0"] % 3 == 0) ^ (X["n0"] > 1.5)).astype(int).to_numpy()


def _make(name: str, variant: str):
    info = next(i for i in MODELS if i.name == name)
    params = dict(_COMMON, **info.small)
    if info.deep:
        params["batch_norm"] = True
    if variant == "pruned":
        prune = DeepLightPruning(
            **{c: 0.8 for c in info.components}, warm_up_epochs=1, prune_every=1
        )
        params.update(max_epochs=3, callbacks=[("prune", prune)])
    X = _frame(300, 0)
    return info.classifier_class()(**params).fit(X, _target(X))


@pytest.fixture(scope="module")
def fitted():
    return {case: _make(*case) for case in CASES}


@pytest.fixture(scope="module")
def exported(fitted, tmp_path_factory):
    folder = tmp_path_factory.mktemp("onnx")
    return {
        case: export_onnx(est, folder / f"{case[0]}_{case[1]}.onnx")
        for case, est in fitted.items()
    }


def _session(path) -> ort.InferenceSession:
    """One thread, sequential execution, default graph optimisations."""
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def _max_rel(got, want) -> float:
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    return float(np.max(np.abs(got - want) / np.abs(want)))


def _zeros(values) -> int:
    return int(sum(int((np.asarray(v) == 0).sum()) for v in values))


@pytest.mark.parametrize("case", CASES, ids=["-".join(c) for c in CASES])
def test_matches_predict_proba(fitted, exported, case):
    est = fitted[case]
    session = _session(exported[case])
    X = _test_frame()
    want = est.predict_proba(X)[:, 1]
    inputs = onnx_inputs(est, X)
    (got,) = session.run(None, inputs)
    assert got.shape == (257,) and got.dtype == np.float32
    assert _max_rel(got, want) <= TOL
    one = [
        session.run(None, {k: v[i : i + 1] for k, v in inputs.items()})[0]
        for i in range(len(X))
    ]
    assert all(o.shape == (1,) for o in one)
    assert _max_rel(np.concatenate(one), want) <= TOL


@pytest.mark.parametrize("case", [c for c in CASES if c[1] == "pruned"])
def test_pruned_zeros_are_stored(fitted, exported, case):
    """Dense weights with the pruned zeros: no fewer zeros than the module."""
    est = fitted[case]
    n_zero = _zeros(p.detach().numpy() for p in est.module_.parameters())
    assert n_zero > 0
    model = onnx.load(exported[case])
    stored = _zeros(onnx.numpy_helper.to_array(t) for t in model.graph.initializer)
    assert stored >= n_zero


@pytest.mark.parametrize("name", ["FwFM", "DeepFwFM"])
def test_field_pairs_with_large_embeddings(fitted, tmp_path, name):
    """The field-pair term matters: embeddings scaled up (a graph with a
    Transpose into a MatMul by a vector is miscomputed by ONNX Runtime's
    Transpose-MatMul fusion; the export must not produce one)."""
    est = copy.deepcopy(fitted[name, "dense"])
    with torch.no_grad():
        est.module_.embedding.weight.mul_(30.0)
    X = _test_frame()
    want = est.predict_proba(X)[:, 1]
    path = export_onnx(est, tmp_path / "m.onnx")
    (got,) = _session(path).run(None, onnx_inputs(est, X))
    assert _max_rel(got, want) <= TOL


def test_graph_signature_and_metadata(fitted, exported):
    est = fitted["DeepFwFM", "pruned"]
    model = onnx.load(exported["DeepFwFM", "pruned"])
    onnx.checker.check_model(model)
    inputs = {i.name: i.type.tensor_type for i in model.graph.input}
    assert list(inputs) == list(INPUT_NAMES)
    assert inputs["xi"].elem_type == onnx.TensorProto.INT64
    assert inputs["xv"].elem_type == onnx.TensorProto.FLOAT
    for t in inputs.values():
        batch, n_fields = t.shape.dim
        assert batch.dim_param and not batch.HasField("dim_value")
        assert n_fields.dim_value == est.n_features_in_
    (out,) = model.graph.output
    assert out.name == OUTPUT_NAME
    assert out.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert len(out.type.tensor_type.shape.dim) == 1
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["sklearn_deeplight.model"] == "DeepFwFMClassifier"
    assert json.loads(meta["sklearn_deeplight.field_dims"]) == est.field_dims_.tolist()
    assert json.loads(meta["sklearn_deeplight.offsets"]) == est.offsets_.tolist()
    assert json.loads(meta["sklearn_deeplight.numeric_fields"]) == [4, 5]
    assert json.loads(meta["sklearn_deeplight.classes"]) == [0, 1]
    assert json.loads(meta["sklearn_deeplight.feature_names"]) == list(_frame(1, 0))


def test_xi_from_the_metadata(fitted, exported):
    """The documented recipe for ``xi`` outside Python, from the metadata."""
    est = fitted["FwFM", "dense"]
    meta = {p.key: p.value for p in onnx.load(exported["FwFM", "dense"]).metadata_props}
    dims = np.array(json.loads(meta["sklearn_deeplight.field_dims"]))
    offsets = np.array(json.loads(meta["sklearn_deeplight.offsets"]))
    numeric = json.loads(meta["sklearn_deeplight.numeric_fields"])
    X = _test_frame()
    codes = X.astype("float64").fillna(-1).to_numpy()
    xi = np.where((codes >= 0) & (codes < dims), offsets + codes, offsets + dims)
    xi[:, numeric] = offsets[numeric]
    np.testing.assert_array_equal(xi.astype(np.int64), onnx_inputs(est, X)["xi"])


def test_inputs_from_the_sparse_predictor(fitted):
    est = fitted["DCNv2", "pruned"]
    X = _test_frame()
    a, b = onnx_inputs(est, X), onnx_inputs(est.to_sparse(), X)
    assert list(a) == list(INPUT_NAMES)
    for name in INPUT_NAMES:
        assert a[name].dtype == b[name].dtype
        np.testing.assert_array_equal(a[name], b[name])


def test_opset(fitted, tmp_path):
    est = fitted["xDeepFM", "pruned"]
    path = export_onnx(est, tmp_path / "m.onnx", opset=MIN_OPSET)
    model = onnx.load(path)
    assert {o.domain: o.version for o in model.opset_import}[""] == MIN_OPSET
    X = _test_frame()
    (got,) = _session(path).run(None, onnx_inputs(est, X))
    assert _max_rel(got, est.predict_proba(X)[:, 1]) <= TOL


def test_estimator_left_as_it_was(fitted, tmp_path):
    est = fitted["DeepFM", "dense"]
    X = _test_frame()
    before = est.predict_proba(X)
    state = {k: v.clone() for k, v in est.module_.state_dict().items()}
    est.module_.train()
    try:
        export_onnx(est, tmp_path / "m.onnx")
        assert est.module_.training
    finally:
        est.module_.eval()
    for k, v in est.module_.state_dict().items():
        assert torch.equal(v, state[k]), k
    np.testing.assert_array_equal(est.predict_proba(X), before)


def test_returns_path_and_replaces_a_file(fitted, tmp_path):
    target = tmp_path / "m.onnx"
    target.write_bytes(b"previous")
    out = export_onnx(fitted["LR", "dense"], str(target))
    assert out == target and isinstance(out, type(target))
    onnx.checker.check_model(onnx.load(target))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]


def _fail(*args, **kwargs):
    raise RuntimeError("boom")


@pytest.mark.parametrize("where", ["export", "write", "opset"])
def test_failure_leaves_the_previous_file(fitted, tmp_path, monkeypatch, where):
    target = tmp_path / "m.onnx"
    target.write_bytes(b"previous")
    kwargs = {}
    if where == "export":
        monkeypatch.setattr(torch.onnx, "export", _fail)
        error = RuntimeError
    elif where == "write":
        monkeypatch.setattr(os, "fsync", _fail)
        error = RuntimeError
    else:
        kwargs, error = {"opset": MIN_OPSET - 1}, ValueError
    with pytest.raises(error):
        export_onnx(fitted["FwFM", "pruned"], target, **kwargs)
    assert target.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["m.onnx"]


def test_unfitted_estimator(tmp_path):
    est = MODELS[-1].classifier_class()()
    with pytest.raises(NotFittedError):
        export_onnx(est, tmp_path / "m.onnx")
    with pytest.raises(ValueError, match="not fitted"):
        onnx_inputs(est, [[0, 1]])
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda est: "DeepFwFMClassifier", "got str"),
        (lambda est: LogisticRegression().fit([[0], [1]], [0, 1]), "got Logistic"),
        (lambda est: est.to_sparse(), "holds no torch module"),
        (lambda est: make_pipeline(FieldEncoder(), est), r"pipeline\[-1\]"),
    ],
    ids=["str", "sklearn", "predictor", "pipeline"],
)
def test_not_an_estimator_of_this_library(fitted, tmp_path, make, match):
    with pytest.raises(TypeError, match=match):
        export_onnx(make(fitted["FM", "dense"]), tmp_path / "m.onnx")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    "opset, error", [(1.5, TypeError), (True, TypeError), ("13", TypeError),
                     (MIN_OPSET - 1, ValueError), (999, ValueError)],
)  # fmt: skip
def test_bad_opset(fitted, tmp_path, opset, error):
    with pytest.raises(error, match="opset"):
        export_onnx(fitted["FM", "dense"], tmp_path / "m.onnx", opset=opset)


def test_bad_path(fitted, tmp_path):
    est = fitted["FM", "dense"]
    with pytest.raises(IsADirectoryError):
        export_onnx(est, tmp_path)
    with pytest.raises(FileNotFoundError):
        export_onnx(est, tmp_path / "missing" / "m.onnx")
    with open(tmp_path / "f.onnx", "wb") as f, pytest.raises(TypeError, match="path"):
        export_onnx(est, f)


def test_bad_input_to_onnx_inputs(fitted):
    est = fitted["FM", "dense"]
    with pytest.raises(ValueError, match="feature"):
        onnx_inputs(est, _frame(3, 0).iloc[:, :2])
    with pytest.raises(TypeError):
        onnx_inputs("FMClassifier", np.zeros((3, 6)))


def test_without_onnx_the_call_names_the_extra(fitted, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ImportError, match=r"sklearn-deeplight\[onnx\]"):
        export_onnx(fitted["FM", "dense"], tmp_path / "m.onnx")


def test_import_needs_neither_onnx_nor_torch():
    code = (
        "import sys; sys.modules['onnx'] = sys.modules['torch'] = None; "
        "import sklearn_deeplight.onnx as m; print(m.OUTPUT_NAME)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == OUTPUT_NAME


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_export_from_cuda(tmp_path):
    X = _frame(300, 0)
    info = next(i for i in MODELS if i.name == "DeepFwFM")
    est = info.classifier_class()(device="cuda", **dict(_COMMON, **info.small))
    est.fit(X, _target(X))
    X_test = _test_frame()
    want = est.predict_proba(X_test)[:, 1]
    path = export_onnx(est, tmp_path / "m.onnx")
    assert next(est.module_.parameters()).is_cuda
    (got,) = _session(path).run(None, onnx_inputs(est, X_test))
    assert _max_rel(got, want) <= TOL


def test_negative_sampling_rate_is_in_the_graph(tmp_path):
    """The recalibration of a downsampled model travels with the export."""
    ort = pytest.importorskip("onnxruntime")
    from sklearn_deeplight import FMClassifier
    from sklearn_deeplight.onnx import export_onnx, onnx_inputs

    rng = np.random.RandomState(0)
    X = rng.randint(0, 6, size=(200, 3))
    est = FMClassifier(embedding_dim=3, max_epochs=1, negative_sampling_rate=0.1)
    est.fit(X, rng.randint(0, 2, 200))
    path = export_onnx(est, tmp_path / "m.onnx")
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(path), options)
    (proba,) = session.run(None, onnx_inputs(est, X[:20]))
    np.testing.assert_allclose(proba, est.predict_proba(X[:20])[:, 1], rtol=1e-5)
