"""Tests of the torch-free sparse predictor (``est.to_sparse()``)."""

from __future__ import annotations

import copy
import io
import pickle
import subprocess
import sys
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import joblib
import numba
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import expit
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OrdinalEncoder
from sklearn.utils.validation import check_is_fitted

from sklearn_deeplight import (
    DCNv2Classifier,
    DeepFMClassifier,
    DeepFwFMClassifier,
    DeepLightPruning,
    FMClassifier,
    FwFMClassifier,
    LRClassifier,
    NFMClassifier,
    XDeepFMClassifier,
    _kernels,
    _packing,
    _sparse,
)
from sklearn_deeplight._registry import MODELS as REGISTERED_MODELS
from sklearn_deeplight._sparse import SparseCTRPredictor

REPO = Path(__file__).resolve().parents[1]
TOL = 1e-5

N_TRAIN = 300
CARD = (30, 12, 7, 50)  # cardinalities of the categorical fields
_COMMON = dict(
    max_epochs=1, batch_size=64, random_state=0, validation_fraction=None, lr=1e-2
)
_DEEP = dict(_COMMON, embedding_dim=4, hidden_units=(16, 16))

MODELS = {
    "LR": lambda: LRClassifier(**_COMMON),
    "FM": lambda: FMClassifier(embedding_dim=4, **_COMMON),
    "FwFM": lambda: FwFMClassifier(embedding_dim=4, **_COMMON),
    "DeepFM": lambda: DeepFMClassifier(batch_norm=True, **_DEEP),
    "NFM": lambda: NFMClassifier(**_DEEP),
    "xDeepFM": lambda: XDeepFMClassifier(cin_layer_sizes=(6, 5, 4), **_DEEP),
    "DeepFwFM": lambda: DeepFwFMClassifier(linear_term="feature_vector", **_DEEP),
    "DCNv2": lambda: DCNv2Classifier(n_cross_layers=2, batch_norm=True, **_DEEP),
}


def test_the_table_covers_every_registered_model():
    assert list(MODELS) == [info.name for info in REGISTERED_MODELS]


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """Tiny models: one torch thread is faster, and much faster on a busy CPU."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def _frame(n: int, seed: int) -> pd.DataFrame:
    """Codes of four categorical fields and two numeric (float) fields."""
    rng = np.random.RandomState(seed)
    cols = {f"c{j}": rng.randint(0, c, size=n) for j, c in enumerate(CARD)}
    cols["n0"] = rng.rand(n) * 3
    cols["n1"] = rng.randn(n)
    return pd.DataFrame(cols)


def _test_frame(seed: int = 1) -> pd.DataFrame:
    """Test rows with unseen, negative and missing codes (nullable ints)."""
    X = _frame(257, seed)
    X.loc[:9, "c0"] = 10_000  # unseen at fit
    X.loc[10:14, "c1"] = -3  # negative
    X["c2"] = X["c2"].astype("Int64")
    X.loc[15:20, "c2"] = pd.NA  # missing
    return X


def _target(X: pd.DataFrame) -> np.ndarray:
    return ((X["c0"] % 3 == 0) ^ (X["n0"] > 1.5)).astype(int).to_numpy()


def _prune(est, seed: int = 0):
    """A copy of ``est`` with weights zeroed by magnitude, as DeepLight does."""
    est = copy.deepcopy(est)
    rates = {"embedding": 0.4, "linear": 0.3, "field_pairs": 0.7, "dnn": 0.9}
    with torch.no_grad():
        for name, p in est.module_.named_parameters():
            if name.startswith("embedding") or name.startswith("linear."):
                rate = rates["embedding" if "embedding" in name else "linear"]
            elif name == "field_pairs":
                rate = rates["field_pairs"]
            elif name.endswith("weight") and (".layers." in name):
                rate = rates["dnn"]
            else:
                continue
            flat = p.abs().flatten()
            n_zero = int(rate * flat.numel())
            if n_zero:
                cut = flat.kthvalue(n_zero).values
                p[p.abs() <= cut] = 0.0
    return est


@pytest.fixture(scope="module")
def fitted():
    X = _frame(N_TRAIN, 0)
    y = _target(X)
    out = {}
    for name, make in MODELS.items():
        est = make().fit(X, y)
        out[name, "dense"] = est
        out[name, "pruned"] = _prune(est)
    return out


def _rel(a, b) -> float:
    return float(np.linalg.norm(np.asarray(a) - b) / np.linalg.norm(b))


@pytest.mark.parametrize("engine", ["numba", "scipy"])
@pytest.mark.parametrize("variant", ["dense", "pruned"])
@pytest.mark.parametrize("name", list(MODELS))
def test_matches_estimator(fitted, name, variant, engine):
    est = fitted[name, variant]
    pred = est.to_sparse(engine=engine)
    X = _test_frame()
    ref_logit = est.decision_function(X)
    ref_proba = est.predict_proba(X)
    for n in (1, 5, 64, len(X)):  # per-sample kernel below 8, tiles above
        Xb = X.iloc[:n]
        assert _rel(pred.decision_function(Xb), ref_logit[:n]) <= TOL
        assert _rel(pred.predict_proba(Xb), ref_proba[:n]) <= TOL
    np.testing.assert_array_equal(pred.predict(X), est.predict(X))
    assert pred.classes_.tolist() == est.classes_.tolist()
    assert pred.n_features_in_ == est.n_features_in_
    assert pred.feature_names_in_.tolist() == est.feature_names_in_.tolist()


def _sparse_est(fitted, name="DeepFwFM", variant="pruned"):
    return fitted[name, variant]


# ----------------------------------------------------------------------
# Equivalence on real data and over random shapes
# ----------------------------------------------------------------------
@pytest.mark.realdata
def test_matches_estimator_on_criteo(criteo_split):
    X_train, y_train, X_test, _ = criteo_split
    est = DeepFwFMClassifier(**dict(_DEEP, batch_size=1024)).fit(X_train, y_train)
    for variant in (est, _prune(est)):
        ref = variant.predict_proba(X_test)
        for engine in ("numba", "scipy"):
            pred = variant.to_sparse(engine=engine)
            assert _rel(pred.predict_proba(X_test), ref) <= TOL


def _fit_shape(make, cards, n_numeric, seed):
    """Fit ``make()`` on rows that realise each field's cardinality."""
    rng = np.random.RandomState(seed)
    n = max(max(cards, default=1), 8)
    cols = [np.arange(n) % c for c in cards]
    cols += [rng.rand(n) for _ in range(n_numeric)]
    X = np.column_stack(cols).astype(np.float64)
    y = np.arange(n) % 2
    numeric = list(range(len(cards), len(cards) + n_numeric))
    return make(numeric).fit(X, y)


_SHAPE_MODELS = {
    "LR": lambda h, c, nf: LRClassifier(numeric_fields=nf, **_COMMON),
    "FM": lambda h, c, nf: FMClassifier(embedding_dim=3, numeric_fields=nf, **_COMMON),
    "FwFM": lambda h, c, nf: FwFMClassifier(
        embedding_dim=2, numeric_fields=nf, linear_term="scalar", **_COMMON
    ),
    "DeepFM": lambda h, c, nf: DeepFMClassifier(
        embedding_dim=3, hidden_units=h, batch_norm=True, numeric_fields=nf, **_COMMON
    ),
    "NFM": lambda h, c, nf: NFMClassifier(
        embedding_dim=2, hidden_units=h, numeric_fields=nf, **_COMMON
    ),
    "xDeepFM": lambda h, c, nf: XDeepFMClassifier(
        embedding_dim=2,
        hidden_units=h,
        cin_layer_sizes=c,
        numeric_fields=nf,
        cin_split_half=len(c) % 2 == 0,
        **_COMMON,
    ),  # fmt: skip
    "DeepFwFM": lambda h, c, nf: DeepFwFMClassifier(
        embedding_dim=3, hidden_units=h, batch_norm=True, numeric_fields=nf, **_COMMON
    ),
}


@settings(max_examples=30, deadline=None, derandomize=True)
@given(
    name=st.sampled_from(list(_SHAPE_MODELS)),
    cards=st.lists(st.integers(1, 9), min_size=0, max_size=5),
    n_numeric=st.integers(0, 2),
    hidden=st.lists(st.integers(1, 12), min_size=1, max_size=3),
    cin=st.lists(st.integers(2, 6), min_size=1, max_size=3),
    sparsity=st.tuples(*[st.sampled_from([0.0, 0.5, 0.9, 1.0])] * 3),
    batch=st.integers(1, 70),
    seed=st.integers(0, 2**16),
)
def test_random_shapes_and_sparsity(
    name, cards, n_numeric, hidden, cin, sparsity, batch, seed
):
    """Property: both engines match the torch model for any shape and mask."""
    if not cards and not n_numeric:
        n_numeric = 1
    make = _SHAPE_MODELS[name]
    est = _fit_shape(
        lambda nf: make(tuple(hidden), tuple(cin), nf), cards, n_numeric, 0
    )
    gen = torch.Generator().manual_seed(seed)
    emb_s, dnn_s, pair_s = sparsity
    with torch.no_grad():
        for pname, p in est.module_.named_parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.7)
            rate = pair_s if pname == "field_pairs" else emb_s
            if ".layers." in pname and pname.endswith("weight"):
                rate = dnn_s
            elif not (pname.startswith("embedding") or pname == "field_pairs"):
                continue
            p.mul_((torch.rand(p.shape, generator=gen) >= rate).float())
        for buf_name, buf in est.module_.named_buffers():
            if buf_name.endswith("running_mean"):
                buf.copy_(torch.randn(buf.shape, generator=gen))
            elif buf_name.endswith("running_var"):
                buf.copy_(torch.rand(buf.shape, generator=gen) + 0.5)
    rng = np.random.RandomState(seed)
    X = np.column_stack(
        [rng.randint(-2, c + 3, batch).astype(float) for c in cards]
        + [rng.randn(batch) * 2 for _ in range(n_numeric)]
    )
    if cards:
        X[rng.rand(batch) < 0.2, 0] = np.nan
    ref = est.predict_proba(X)
    ref_logit = est.decision_function(X)
    for engine in ("numba", "scipy"):
        pred = est.to_sparse(engine=engine)
        assert _rel(pred.predict_proba(X), ref) <= TOL
        np.testing.assert_allclose(
            pred.decision_function(X), ref_logit, rtol=1e-4, atol=1e-5
        )


# ----------------------------------------------------------------------
# scikit-learn integration
# ----------------------------------------------------------------------
def test_estimator_protocol(fitted):
    est = _sparse_est(fitted)
    pred = est.to_sparse()
    assert isinstance(pred, SparseCTRPredictor)
    check_is_fitted(pred)
    assert pred.get_params() == {"engine": "auto", "threshold": 0.5, "n_jobs": None}
    assert pred.threshold == est.threshold
    assert pred.__sklearn_tags__().estimator_type == "classifier"
    unfitted = clone(pred)
    assert unfitted.get_params() == pred.get_params()
    with pytest.raises(NotFittedError):
        unfitted.predict(_test_frame())
    with pytest.raises(TypeError, match="FrozenEstimator"):
        pred.fit(_frame(10, 0), np.arange(10) % 2)
    with pytest.raises(NotFittedError):
        SparseCTRPredictor.from_estimator(DeepFwFMClassifier())
    assert "SparseCTRPredictor(" in repr(pred)


def test_threshold(fitted):
    est = _sparse_est(fitted)
    X = _test_frame()
    pred = est.to_sparse(threshold=0.0)
    assert (pred.predict(X) == est.classes_[1]).all()
    pred.set_params(threshold=1.0)
    assert (pred.predict(X) == est.classes_[0]).all()


def test_pipeline_and_frozen_cross_validation():
    rng = np.random.RandomState(0)
    raw = pd.DataFrame(
        {
            "site": rng.choice(["a", "b", "c", "d"], 400),
            "app": rng.choice([f"x{i}" for i in range(20)], 400),
            "dev": rng.choice(["p", "q", "r"], 400),
        }
    )
    y = ((raw["site"] == "a") | (raw["app"] == "x3")).astype(int).to_numpy()
    enc = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1)
    enc.fit(raw)
    est = DeepFwFMClassifier(numeric_fields=None, **_DEEP).fit(enc.transform(raw), y)
    pred = est.to_sparse()
    test = raw.copy()
    test.loc[:20, "app"] = "never-seen"  # -1, the out-of-vocabulary row
    dense_pipe = make_pipeline(enc, est)
    sparse_pipe = make_pipeline(enc, pred)
    assert _rel(sparse_pipe.predict_proba(test), dense_pipe.predict_proba(test)) <= TOL
    np.testing.assert_array_equal(sparse_pipe.predict(test), dense_pipe.predict(test))
    frozen = make_pipeline(FrozenEstimator(enc), FrozenEstimator(pred))
    scores = cross_val_score(frozen, raw, y, cv=3, scoring="roc_auc")
    ref = cross_val_score(
        make_pipeline(FrozenEstimator(enc), FrozenEstimator(est)),
        raw, y, cv=3, scoring="roc_auc",
    )  # fmt: skip
    np.testing.assert_allclose(scores, ref, atol=1e-6)
    assert (scores > 0.5).all()


@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("name", ["LR", "xDeepFM", "DeepFwFM"])
def test_joblib_round_trip(fitted, name, dtype, tmp_path):
    pred = fitted[name, "pruned"].to_sparse(dtype=dtype)
    X = _test_frame()
    path = tmp_path / "pred.joblib"
    joblib.dump(pred, path)
    loaded = joblib.load(path)
    for engine in ("numba", "scipy"):
        pred.set_params(engine=engine)
        loaded.set_params(engine=engine)
        np.testing.assert_array_equal(loaded.predict_proba(X), pred.predict_proba(X))
    np.testing.assert_array_equal(loaded.embedding_, pred.embedding_)
    assert loaded.nbytes_ == pred.nbytes_
    assert loaded.n_params_ == pred.n_params_
    assert loaded.get_params() == pred.get_params()
    again = pickle.loads(pickle.dumps(loaded))
    np.testing.assert_array_equal(again.decision_function(X), pred.decision_function(X))
    assert "torch" not in pickle.dumps(pred).decode("latin-1")


# ----------------------------------------------------------------------
# No torch at serving time
# ----------------------------------------------------------------------
_BLOCK_TORCH = """
import sys

class _BlockTorch:
    \"\"\"Make any import of torch (or skorch) fail, as where it is not installed.\"\"\"

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "skorch"):
            raise ImportError("No module named " + repr(name) + " (blocked)")
        return None

sys.meta_path.insert(0, _BlockTorch())
"""

_SERVE = (
    _BLOCK_TORCH
    + """
import joblib
import numpy as np
pred = joblib.load({model!r})
X = joblib.load({data!r})
for engine in ("numba", "scipy"):
    pred.set_params(engine=engine)
    np.save({out!r} + engine + ".npy", pred.predict_proba(X))
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "skorch"))
assert not loaded, loaded
print("served without torch")
"""
)


def test_joblib_load_without_torch(fitted, tmp_path):
    """A saved predictor loads and predicts where torch cannot be imported.

    Unpickling imports sklearn_deeplight (whose namespace is lazy), _sparse,
    _kernels and _validation: the subprocess fails if any of them needs torch.
    """
    pred = _sparse_est(fitted, "xDeepFM").to_sparse()
    X = _test_frame()
    joblib.dump(pred, tmp_path / "pred.joblib")
    joblib.dump(X, tmp_path / "X.joblib")
    code = _SERVE.format(
        model=str(tmp_path / "pred.joblib"),
        data=str(tmp_path / "X.joblib"),
        out=str(tmp_path / "proba_"),
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    for engine in ("numba", "scipy"):
        pred.set_params(engine=engine)
        served = np.load(tmp_path / f"proba_{engine}.npy")
        np.testing.assert_array_equal(served, pred.predict_proba(X))


# ----------------------------------------------------------------------
# Input handling: exactly as the estimator
# ----------------------------------------------------------------------
def _error(func, X):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            func(X)
        except Exception as exc:  # noqa: BLE001 - compared below
            return type(exc), str(exc), [str(w.message) for w in caught]
    return None, None, [str(w.message) for w in caught]


def _bad_inputs():
    rng = np.random.RandomState(0)
    good = np.column_stack([rng.randint(0, 5, (4, 4)), rng.rand(4, 2)])
    nan_num = good.copy()
    nan_num[1, 4] = np.nan
    inf_num = good.copy()
    inf_num[2, 5] = np.inf
    huge_num = good.copy()
    huge_num[1, 5] = -1e39  # finite, beyond float32
    frac = good.copy()
    frac[0, 1] = 1.5
    huge = good.copy()
    huge[3, 0] = 2.0**63
    inf_cat = good.copy()
    inf_cat[0, 2] = -np.inf
    strings = good.astype(object)
    strings[0, 0] = "a"
    return {
        "n_columns": good[:, :5],
        "nan_numeric": nan_num,
        "inf_numeric": inf_num,
        "huge_numeric": huge_num,
        "fractional_code": frac,
        "huge_code": huge,
        "inf_code": inf_cat,
        "string": strings,
        "str_array": good.astype(str),
        "sparse": sp.csr_matrix(good),
        "one_d": good[0],
        "empty": good[:0],
        "none": None,
        "complex": good.astype(complex),
        "uint64_huge": np.full((2, 6), 2**64 - 1, dtype=np.uint64),
        "bool": good.astype(bool),
    }


@pytest.mark.parametrize("case", list(_bad_inputs()))
def test_bad_input_as_estimator(case):
    X_fit = _frame(N_TRAIN, 0).to_numpy()
    est = DeepFwFMClassifier(numeric_fields=[4, 5], **_DEEP).fit(
        X_fit, _target(_frame(N_TRAIN, 0))
    )
    X = _bad_inputs()[case]
    for engine in ("numba", "scipy"):
        pred = est.to_sparse(engine=engine)
        etype, emsg, ewarn = _error(est.predict_proba, X)
        ptype, pmsg, pwarn = _error(pred.predict_proba, X)
        name = type(est).__name__
        assert ptype is etype
        if emsg is not None:
            assert pmsg == emsg.replace(name, "SparseCTRPredictor")
        assert pwarn == [w.replace(name, "SparseCTRPredictor") for w in ewarn]


def test_feature_names_and_dataframes(fitted):
    est = _sparse_est(fitted)
    pred = est.to_sparse()
    X = _frame(40, 3)
    ref = est.predict_proba(X)
    assert _rel(pred.predict_proba(X), ref) <= TOL
    # Reordered columns raise as in the estimator; arrays warn as in it.
    for func in (est.predict_proba, pred.predict_proba):
        with pytest.raises(ValueError, match="feature names"):
            func(X[X.columns[::-1]])
        with pytest.warns(UserWarning, match="valid feature names"):
            func(X.to_numpy())
    # Nullable and int32 columns take the general path with the same result.
    Xn = X.astype({"c1": "Int64", "c2": np.int32, "n0": np.float32})
    assert _rel(pred.predict_proba(Xn), est.predict_proba(Xn)) <= TOL


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    data=st.lists(
        st.sampled_from(
            [
                0.0,
                1.0,
                3.0,
                29.0,
                30.0,
                1e9,
                -1.0,
                -0.0,
                2.5,
                np.nan,
                np.inf,
                2.0**62,
                2.0**62 + 2**11,
                -(2.0**63),
                1e39,  # beyond float32: rejected in numeric fields
                -1e300,
            ]
        ),
        min_size=6,
        max_size=30,
    ),  # fmt: skip
    as_int=st.booleans(),
)
def test_fast_input_path_matches_general_path(fitted, data, as_int):
    """The vectorised/numba input path gives the general path's rows or error."""
    pred = _sparse_est(fitted).to_sparse()
    n = len(data) // 6
    X = np.array(data[: n * 6]).reshape(n, 6)
    if as_int:
        X = np.nan_to_num(X, nan=0, posinf=0, neginf=0)
        X = np.clip(X, -(2.0**62), 2.0**62).astype(np.int64)
    frame = pd.DataFrame(X, columns=pred.feature_names_in_)
    dtypes = {c: frame[c].dtype for c in frame}
    try:
        codes, values = _sparse.check_field_matrix(pred, frame, reset=False)
    except ValueError as exc:
        with pytest.raises(ValueError) as info:
            pred.index_input(frame)
        assert str(info.value) == str(exc)
        return
    xi_ref = _sparse.global_index(codes, pred.field_dims_, pred.offsets_)
    for engine in ("numba", "scipy"):
        pred.set_params(engine=engine)
        xi, xv = pred.index_input(frame)
        np.testing.assert_array_equal(xi, xi_ref)
        np.testing.assert_array_equal(xv, values.astype(np.float32))
    assert {c: frame[c].dtype for c in frame} == dtypes  # input untouched


def test_input_not_modified(fitted):
    pred = _sparse_est(fitted).to_sparse()
    X = _test_frame()
    before = X.copy()
    pred.predict_proba(X)
    pd.testing.assert_frame_equal(X, before)
    arr = np.column_stack([np.arange(10) % 4] * 4 + [np.linspace(0, 1, 10)] * 2)
    arr_before = arr.copy()
    est = DeepFwFMClassifier(numeric_fields=[4, 5], **_DEEP).fit(arr, np.arange(10) % 2)
    est.to_sparse().predict_proba(arr)
    np.testing.assert_array_equal(arr, arr_before)


def test_indexed_path(fitted):
    est = _sparse_est(fitted)
    X = _test_frame()
    for engine in ("numba", "scipy"):
        pred = est.to_sparse(engine=engine)
        xi, xv = pred.index_input(X)
        assert xi.dtype == np.int64 and xv.dtype == np.float32
        logit = pred.decision_function_indexed(xi, xv)
        assert logit.dtype == np.float32
        np.testing.assert_allclose(logit, pred.decision_function(X), rtol=0, atol=0)
        # Other dtypes and layouts are converted.
        np.testing.assert_array_equal(
            pred.decision_function_indexed(
                np.asfortranarray(xi.astype(np.int32)), xv.astype(np.float64).tolist()
            ),
            logit,
        )
        n_rows = pred.embedding_.shape[0]
        for bad in (n_rows, -1):
            wrong = xi.copy()
            wrong[3, 2] = bad
            with pytest.raises(ValueError, match="rows outside"):
                pred.decision_function_indexed(wrong, xv)
            with pytest.raises(ValueError, match="rows outside"):
                pred.decision_function_indexed(wrong[3:5], xv[3:5])
        with pytest.raises(TypeError, match="integer"):
            pred.decision_function_indexed(xi.astype(float), xv)
        with pytest.raises(ValueError, match="fields"):
            pred.decision_function_indexed(xi[:, :3], xv[:, :3])
        with pytest.raises(ValueError, match="shape"):
            pred.decision_function_indexed(xi, xv[:5])


# ----------------------------------------------------------------------
# Engines, threads, parameters
# ----------------------------------------------------------------------
def test_engine_selection(fitted, monkeypatch):
    est = _sparse_est(fitted)
    X = _test_frame()
    ref = est.to_sparse(engine="numba").predict_proba(X)
    with pytest.raises(ValueError, match="engine"):
        est.to_sparse(engine="torch").predict_proba(X)
    monkeypatch.setattr(_sparse, "_load_kernels", lambda: None)
    assert _rel(est.to_sparse(engine="auto").predict_proba(X), ref) <= TOL
    with pytest.raises(ImportError, match="numba"):
        est.to_sparse(engine="numba").predict_proba(X)


def test_concurrent_calls_from_threads(fitted):
    pred = _sparse_est(fitted, "xDeepFM").to_sparse()
    rng = np.random.RandomState(0)
    batches = [_frame(int(n), i) for i, n in enumerate(rng.choice([1, 3, 64, 200], 40))]
    serial = [pred.predict_proba(b) for b in batches]
    with ThreadPoolExecutor(4) as pool:
        threaded = list(pool.map(pred.predict_proba, batches))
    for a, b in zip(serial, threaded):
        np.testing.assert_array_equal(a, b)


def test_n_jobs(fitted):
    est = _sparse_est(fitted)
    X = _frame(3000, 5)
    ref = est.to_sparse().predict_proba(X)
    for n_jobs in (2, -1):
        np.testing.assert_array_equal(
            est.to_sparse(n_jobs=n_jobs).predict_proba(X), ref
        )
    for bad in (0, -2, 1.5, "2"):
        with pytest.raises(ValueError, match="n_jobs"):
            est.to_sparse(n_jobs=bad).predict_proba(X)


def test_kernel_cache_fallback(monkeypatch):
    """Without a writable cache location the kernels compile uncached."""
    real = numba.njit

    def njit(*args, cache=False, **kwargs):
        if cache:
            raise RuntimeError("cannot cache function: no locator available")
        return real(*args, **kwargs)

    monkeypatch.setattr(_kernels.numba, "njit", njit)
    assert _kernels._jit(nogil=True)(lambda x: x + 1)(1) == 2


# ----------------------------------------------------------------------
# Storage: CSR layers, surviving pairs, compact embeddings, float16
# ----------------------------------------------------------------------
def test_stored_structure(fitted):
    est = _sparse_est(fitted)
    pred = est.to_sparse()
    sd = {k: v.detach().numpy() for k, v in est.module_.state_dict().items()}
    r = sd["field_pairs"]
    assert pred.field_pairs_.shape == (np.count_nonzero(r), 2)
    rows, cols = np.triu_indices(pred.n_features_in_, k=1)
    np.testing.assert_array_equal(pred.field_pairs_[:, 0], rows[r != 0])
    np.testing.assert_array_equal(pred.pair_weights_, r[r != 0])
    assert all(isinstance(W, sp.csr_array) for W in pred.dnn_layers_)
    for i, W in enumerate(pred.dnn_layers_):
        assert W.nnz == np.count_nonzero(sd[f"dnn.layers.{i}.weight"])
    assert pred.n_params_["embedding"] == np.count_nonzero(sd["embedding.weight"])
    assert pred.n_params_["field_pairs"] == np.count_nonzero(r)
    assert pred.n_params_["dnn"] == sum(
        np.count_nonzero(v) for k, v in sd.items() if k.startswith("dnn.")
    )
    assert pred.embedding_.flags.writeable is False
    with pytest.raises(ValueError):
        pred.embedding_[0, 0] = 1.0


def _pickled_size(obj) -> int:
    buf = io.BytesIO()
    joblib.dump(obj, buf)
    return buf.getbuffer().nbytes


def test_saved_size_shrinks_with_embedding_sparsity():
    cards = (6000,)
    est = _fit_shape(
        lambda nf: FwFMClassifier(embedding_dim=8, numeric_fields=nf, **_COMMON),
        cards, 1, 0,
    )  # fmt: skip
    table_bytes = est.module_.embedding.weight.numel() * 4
    state = io.BytesIO()
    torch.save(est.module_.state_dict(), state)
    sizes = {}
    for rate in (0.0, 0.4, 0.9):
        pruned = copy.deepcopy(est)
        with torch.no_grad():
            w = pruned.module_.embedding.weight
            w.mul_((torch.rand(w.shape, generator=torch.Generator().manual_seed(0))
                    >= rate).float())  # fmt: skip
        emb = w.detach().numpy()
        for dtype in ("float32", "float16"):
            pred = pruned.to_sparse(dtype=dtype)
            sizes[rate, dtype] = _pickled_size(pred)
            assert pred.nbytes_ <= sizes[rate, dtype] <= pred.nbytes_ + 8000
        if rate == 0.4:
            # Why not CSR: at 40% sparsity it is larger than the dense table.
            assert sp.csr_array(emb).data.nbytes * 2 > table_bytes
            assert sizes[rate, "float32"] < table_bytes
    assert sizes[0.9, "float32"] < sizes[0.4, "float32"] < sizes[0.0, "float32"]
    for rate in (0.0, 0.4, 0.9):
        assert sizes[rate, "float16"] < sizes[rate, "float32"]
    assert sizes[0.9, "float16"] * 8 < state.getbuffer().nbytes


def test_float16_storage(fitted):
    est = _sparse_est(fitted)
    X = _test_frame()
    p32 = est.to_sparse()
    p16 = est.to_sparse(dtype=np.float16)
    assert p16.value_dtype_ == "float16"
    err = _rel(p16.decision_function(X), p32.decision_function(X))
    assert 0 < err < 1e-2  # the rounding of the weights, measured in the benchmark
    assert _rel(p16.predict_proba(X), est.predict_proba(X)) < 1e-3
    assert p16.nbytes_ < p32.nbytes_
    big = copy.deepcopy(est)
    with torch.no_grad():
        big.module_.embedding.weight[0, 0] = 1e5
    with pytest.raises(ValueError, match="float16"):
        big.to_sparse(dtype="float16")
    with pytest.raises(ValueError, match="dtype"):
        est.to_sparse(dtype="int8")


@pytest.mark.parametrize("name", ["xDeepFM", "DeepFwFM"])
def test_after_deeplight_pruning(name):
    """End to end: pruned by the library's callback, then served sparse."""
    from sklearn_deeplight._pruning import DeepLightPruning

    extra = {"cin": 0.8} if name == "xDeepFM" else {"field_pairs": 0.7}
    prune = DeepLightPruning(
        dnn=0.9, embeddings=0.4, warm_up_epochs=1, prune_every=1,
        damping_steps="auto", **extra,
    )  # fmt: skip
    est = MODELS[name]().set_params(max_epochs=3, callbacks=[("prune", prune)])
    X = _frame(N_TRAIN, 0)
    est.fit(X, _target(X))
    sd = est.module_.state_dict()
    n_dnn = sum(int((v != 0).sum()) for k, v in sd.items() if k.startswith("dnn."))
    X_test = _test_frame()
    ref = est.predict_proba(X_test)
    for engine in ("numba", "scipy"):
        pred = est.to_sparse(engine=engine)
        assert _rel(pred.predict_proba(X_test), ref) <= TOL
        assert pred.n_params_["dnn"] == n_dnn
        assert pred.n_params_["embedding"] == int((sd["embedding.weight"] != 0).sum())


@pytest.mark.parametrize("cin", [0.0, 0.6])
def test_tiled_cin_equals_per_sample_cin(cin):
    """The tile-wide CIN kernel computes the per-sample kernel's logits.

    150 rows: two full tiles and a partial one; a pruned CIN skips filters.
    """
    rng = np.random.RandomState(3)
    X = np.column_stack([rng.randint(0, c, 400) for c in CARD] + [rng.randn(400)])
    y = (X[:, 0] % 3 == 0).astype(int)
    callbacks = None
    if cin:
        prune = DeepLightPruning(cin=cin, warm_up_epochs=0, damping_steps="auto")
        callbacks = [("prune", prune)]
    est = XDeepFMClassifier(
        cin_layer_sizes=(6, 5, 4), numeric_fields=[4], callbacks=callbacks, **_DEEP
    ).fit(X, y)
    pred = est.to_sparse(engine="numba")
    xi, xv = pred.index_input(X[:150])
    packed = pred._get_packed(_kernels)
    tiled, _ = _kernels.forward_tiled(pred._table, xi, xv, *packed)
    samples, _ = _kernels.forward_samples(pred._table, xi, xv, *packed)
    np.testing.assert_allclose(tiled, samples, rtol=1e-5, atol=1e-6)
    ref = est.decision_function(X[:150])
    assert np.linalg.norm(tiled - ref) <= TOL * np.linalg.norm(ref)


# ----------------------------------------------------------------------
# Dense or CSR layers, per kernel (issue 13, item 4)
# ----------------------------------------------------------------------
_LAYERED = [name for name in MODELS if name in ("DeepFM", "NFM", "xDeepFM",
                                                 "DeepFwFM", "DCNv2")]  # fmt: skip
#: (per-sample threshold, tiled threshold) for every layered component.
_PATHS = {
    "csr": (2.0, 2.0),
    "dense": (0.0, 0.0),
    "dense per sample": (0.0, 2.0),
    "dense tiled": (2.0, 0.0),
}


def _force(monkeypatch, paths):
    monkeypatch.setattr(
        _packing, "DENSE_DENSITY", {c: paths for c in _packing.DENSE_DENSITY}
    )


@pytest.mark.parametrize("path", list(_PATHS))
@pytest.mark.parametrize("variant", ["dense", "pruned"])
@pytest.mark.parametrize("name", _LAYERED)
def test_dense_and_csr_layers_give_the_estimators_logits(
    fitted, name, variant, path, monkeypatch
):
    """Every packing of every layer, on both kernels and on threads."""
    _force(monkeypatch, _PATHS[path])
    est = fitted[name, variant]
    pred = est.to_sparse(engine="numba")
    X = _test_frame()
    ref = est.decision_function(X)
    for n in (1, 5, 64, len(X)):
        assert _rel(pred.decision_function(X.iloc[:n]), ref[:n]) <= TOL
    uses = _kernels.dense_uses(pred._packed[3])
    bits = {"csr": 0, "dense": 3, "dense per sample": 1, "dense tiled": 2}[path]
    assert all(u == bits for layers in uses.values() for u in layers)
    assert any(uses.values())
    big = pd.concat([X] * 12, ignore_index=True)  # two chunks of n_jobs=2
    pred.set_params(n_jobs=2)
    np.testing.assert_allclose(
        pred.decision_function(big), np.tile(ref, 12), rtol=1e-5, atol=1e-6
    )


def test_pack_picks_the_packing_from_the_density(fitted, monkeypatch):
    """Dense weights from the component's threshold on, per kernel; the CSR
    arrays of a layer both kernels read dense are not packed."""
    dense = fitted["xDeepFM", "dense"].to_sparse(engine="numba")
    pruned = fitted["xDeepFM", "pruned"].to_sparse(engine="numba")
    for pred, bits in ((dense, 3), (pruned, None)):
        meta = _kernels.pack(pred._spec)[3]
        uses = _kernels.dense_uses(meta)
        for comp in ("dnn", "cin"):
            sample, tile = _kernels.DENSE_DENSITY[comp]
            block = pred._spec.block("mlp" if comp == "dnn" else "cin")
            for W, use in zip(block.layers, uses[comp]):
                density = W.nnz / (W.shape[0] * W.shape[1])
                want = (density >= sample) + 2 * (density >= tile)
                assert use == want
                if bits is not None:
                    assert use == bits
    one = {c: (0.0, 0.0) for c in _kernels.DENSE_DENSITY}
    none = {c: (2.0, 2.0) for c in _kernels.DENSE_DENSITY}
    n_weights = sum(W.nnz for W in dense._spec.block("mlp").layers)
    both = _kernels.pack(dense._spec, one)
    csr = _kernels.pack(dense._spec, none)
    # Every layer dense for both kernels, or none.
    assert all(
        u == _kernels.DENSE_SAMPLE | _kernels.DENSE_TILE
        for layers in _kernels.dense_uses(both[3]).values()
        for u in layers
    )
    assert not any(u for layers in _kernels.dense_uses(csr[3]).values() for u in layers)
    # The tile: narrow for a dense CIN, wide for dense DNN layers, narrow
    # for sparse ones without a CIN, else TILE; buffers zeroed only where a
    # layer calls sgemm.
    assert both[3][_kernels.M_TILE] == _kernels.CIN_DENSE_TILE_SIZE
    assert csr[3][_kernels.M_TILE] == _kernels.TILE  # a CIN: not the sparse-DNN tile
    deepfwfm = fitted["DeepFwFM", "pruned"].to_sparse(engine="numba")
    monkeypatch.setattr(_packing, "SPARSE_DNN_TILE_SIZE", 96)  # not another width
    assert _kernels.pack(deepfwfm._spec, none)[3][_kernels.M_TILE] == 96
    monkeypatch.undo()
    fwfm = fitted["FwFM", "pruned"].to_sparse(engine="numba")
    assert _kernels.pack(fwfm._spec)[3][_kernels.M_TILE] == _kernels.TILE
    deepfm = fitted["DeepFM", "dense"].to_sparse(engine="numba")
    wide = _kernels.pack(deepfm._spec, one)[3]
    assert wide[_kernels.M_TILE] == _kernels.DENSE_TILE_SIZE
    assert both[3][_kernels.M_ZERO] == wide[_kernels.M_ZERO] == 1
    assert csr[3][_kernels.M_ZERO] == 0
    # Dense: no CSR indices for the DNN (the CIN's dense layers neither).
    assert both[1].shape[0] < csr[1].shape[0] - n_weights + 1


def test_dense_layers_leave_the_blas_setting_alone(fitted, monkeypatch):
    """Kernels that call BLAS run under the process's BLAS setting, which no
    prediction changes, from one thread or from several at once."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    from concurrent.futures import ThreadPoolExecutor

    def blas_threads():
        return [
            i["num_threads"]
            for i in threadpoolctl.threadpool_info()
            if i["user_api"] == "blas"
        ]

    _force(monkeypatch, (0.0, 0.0))
    pred = fitted["xDeepFM", "dense"].to_sparse(engine="numba")
    X = pd.concat([_test_frame()] * 2, ignore_index=True)
    ref = pred.decision_function(X)  # also loads numba's BLAS
    for limit in (1, 2):
        with threadpoolctl.threadpool_limits(limit, user_api="blas"):
            before = blas_threads()
            with ThreadPoolExecutor(4) as pool:
                sizes = [1, 3, 9, 300, 1, 300, 9, 3]
                outs = list(pool.map(lambda n: pred.decision_function(X[:n]), sizes))
            assert blas_threads() == before
        for n, out in zip(sizes, outs):
            np.testing.assert_allclose(out, ref[:n], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("n_jobs", [None, 2])
@pytest.mark.parametrize("name", ["LR", "FwFM", "xDeepFM", "DCNv2"])
def test_clean_batches_take_one_compiled_call(fitted, name, n_jobs, monkeypatch):
    """A clean matrix goes from codes to probabilities in one kernel call per
    chunk (per-sample below 8 rows, tiled above), with the general path's
    results; a value the general path must check or reject still reaches
    it."""
    est = fitted[name, "pruned"]
    pred = est.to_sparse(engine="numba", n_jobs=n_jobs)
    X = _test_frame()
    X = X.astype({c: "float64" for c in X.columns if X[c].dtype == "Int64"})
    xi, xv = pred.index_input(X)
    ref = expit(pred.decision_function_indexed(xi, xv).astype(np.float64))
    big = pd.concat([X] * 12, ignore_index=True)  # 1,800 rows: two chunks
    calls = []
    for kernel in ("proba_small", "proba_tiled"):
        original = getattr(_kernels, kernel)

        def spy(*args, _original=original, _kernel=kernel):
            calls.append((_kernel, args[0].shape[0]))
            return _original(*args)

        monkeypatch.setattr(_kernels, kernel, spy)
    for n in (1, 3, 7, 8, len(X)):
        got = pred.predict_proba(X.iloc[:n])
        np.testing.assert_allclose(got[:, 1], ref[:n], rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(got.sum(axis=1), 1.0)
    got = pred.predict_proba(big)
    np.testing.assert_allclose(got[:, 1], np.tile(ref, 12), rtol=1e-6, atol=1e-7)
    small = [("proba_small", n) for n in (1, 3, 7)]
    tiled = [("proba_tiled", n) for n in (8, len(X))]
    chunks = [c for c in calls[5:]]
    assert calls[:5] == small + tiled
    assert sum(n for _, n in chunks) == len(big)
    assert len(chunks) == (1 if n_jobs is None else 2)
    for rows in (1, 100):
        bad = X.iloc[:rows].copy()
        bad.iloc[-1, bad.columns.get_loc("n0")] = np.inf
        with pytest.raises(ValueError, match="n0"):
            pred.predict_proba(bad)


# ----------------------------------------------------------------------
# Input dtypes: one normalisation for both engines (issue 15, item 5)
# ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "dtype",
    [np.float16, np.longdouble, np.float32, np.int8, np.int16, np.int32, np.uint8],
    ids=lambda d: np.dtype(d).name,
)
def test_every_numeric_dtype_predicts_alike_on_both_engines(dtype):
    """float16 and longdouble input crashed the numba engine
    (NotImplementedError, TypingError); every int and float width now gives
    the float64 input's probabilities on both engines and the estimator."""
    rng = np.random.RandomState(0)
    X = np.column_stack([rng.randint(0, 6, 80), rng.randint(0, 4, 80)])
    y = np.arange(80) % 2
    est = FMClassifier(embedding_dim=3, max_epochs=1, random_state=0).fit(X, y)
    Xd = X.astype(dtype)
    expected = est.predict_proba(X.astype(np.float64))
    np.testing.assert_allclose(est.predict_proba(Xd), expected, rtol=1e-12)
    for engine in ("numba", "scipy"):
        pred = est.to_sparse(engine=engine)
        np.testing.assert_allclose(
            pred.predict_proba(Xd), pred.predict_proba(X), rtol=0, atol=0
        )
        np.testing.assert_allclose(pred.predict_proba(Xd), expected, atol=1e-6)
    assert Xd.dtype == dtype  # not modified


def test_all_float16_dataframe_and_numeric_fields_on_both_engines():
    rng = np.random.RandomState(1)
    X = pd.DataFrame(
        {
            "a": rng.randint(0, 5, 60).astype(np.float16),
            "b": rng.randint(0, 3, 60).astype(np.float16),
            "v": (rng.rand(60) * 4).astype(np.float16),
        }
    )
    y = np.arange(60) % 2
    est = FwFMClassifier(
        embedding_dim=2, numeric_fields=["v"], max_epochs=1, random_state=0
    ).fit(X, y)
    expected = est.predict_proba(X.astype(np.float64))
    np.testing.assert_allclose(est.predict_proba(X), expected, rtol=1e-12)
    for engine in ("numba", "scipy"):
        pred = est.to_sparse(engine=engine)
        np.testing.assert_allclose(pred.predict_proba(X), expected, atol=1e-6)
    # a longdouble value beyond float64 is refused as the estimator refuses it
    big = X.astype(np.longdouble)
    big.loc[3, "v"] = np.longdouble(10) ** 400
    for model in (est, est.to_sparse(engine="numba"), est.to_sparse(engine="scipy")):
        with pytest.raises(ValueError, match=r"column 2 \('v'\)"):
            model.predict_proba(big)


def test_uint64_beyond_int64_takes_the_general_path():
    X = np.array([[0, 1], [2, 3]], dtype=np.uint64)
    est = FMClassifier(embedding_dim=2, max_epochs=1, random_state=0).fit(
        X.astype(np.int64), [0, 1]
    )
    X[1, 0] = np.uint64(2**63 + 5)
    for model in (est, est.to_sparse(engine="numba"), est.to_sparse(engine="scipy")):
        # The same model on the same codes as int64: bit for bit.
        np.testing.assert_array_equal(
            model.predict_proba(X[:1]), model.predict_proba(X[:1].astype(np.int64))
        )
        with pytest.raises(ValueError, match=r"column 0 holds the code .* above int64"):
            model.predict_proba(X)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"threshold": "high"}, r"threshold must be a finite number.*'high'"),
        ({"threshold": float("nan")}, r"threshold must be a finite number"),
        ({"threshold": True}, r"threshold must be a finite number"),
        ({"threshold": None}, r"threshold must be a finite number"),
        ({"engine": "bogus"}, r"engine must be one of \('auto', 'numba', 'scipy'\)"),
        ({"engine": None}, r"engine must be one of"),
        ({"n_jobs": 0}, r"n_jobs must be None, -1 or a positive int, got 0"),
        ({"n_jobs": -2}, r"n_jobs must be None, -1 or a positive int"),
        ({"n_jobs": 1.5}, r"n_jobs must be None, -1 or a positive int"),
        ({"n_jobs": True}, r"n_jobs must be None, -1 or a positive int"),
    ],
)
@pytest.mark.parametrize("engine", ["scipy", "numba"])
def test_bad_constructor_parameters_are_named_at_predict(params, match, engine):
    """SparseCTRPredictor(threshold="high").predict raised numpy's
    UFuncTypeError; every prediction method checks the three parameters in
    one place and names the bad one (issue 15, item 12), the numba engine's
    fused small-batch path included (parameters changed after packing)."""
    rng = np.random.RandomState(0)
    X = rng.randint(0, 4, (40, 2))
    est = FMClassifier(embedding_dim=2, max_epochs=1, random_state=0)
    pred = est.fit(X, np.arange(40) % 2).to_sparse(engine=engine)
    pred.predict_proba(X[:1])  # packs the kernels' parameters (numba)
    pred.set_params(**params)
    xi, xv = pred.index_input(X)
    calls = [
        lambda: pred.predict(X),
        lambda: pred.predict_proba(X),
        lambda: pred.predict(X[:1]),
        lambda: pred.predict_proba(X[:1]),
        lambda: pred.predict_proba(X[:1].astype(np.float64)),
        lambda: pred.decision_function(X),
        lambda: pred.decision_function_indexed(xi, xv),
    ]
    for call in calls:
        with pytest.raises(ValueError, match=match):
            call()


def test_valid_constructor_parameters_predict():
    rng = np.random.RandomState(0)
    X = rng.randint(0, 4, (40, 2))
    est = FMClassifier(embedding_dim=2, max_epochs=1, random_state=0)
    pred = est.fit(X, np.arange(40) % 2).to_sparse()
    ref = pred.predict_proba(X[:3])
    for params in (
        {"threshold": np.float32(0.3), "n_jobs": -1},
        {"threshold": 1, "n_jobs": np.int64(2), "engine": "numba"},
        {"threshold": 0.5, "n_jobs": None, "engine": "auto"},
        {"threshold": 0.5, "n_jobs": 2, "engine": "numba"},
        {"threshold": 0.5, "n_jobs": -1, "engine": "scipy"},
    ):
        pred.set_params(**params)
        assert pred.predict(X).shape == (40,)
        for rows in (X[:3], X[:3].astype(np.float64)):  # fused small batches
            np.testing.assert_allclose(pred.predict_proba(rows), ref, rtol=1e-6)


@pytest.mark.parametrize("full", [64, 128, 256])
def test_tile_width_fits_the_batch(full):
    """Tiles as wide as the packing's for a batch of many of them, else
    balanced and rounded up to a multiple of 8: never more than 7 empty
    columns a tile, never wider than the packing's."""
    meta = np.zeros(_kernels.M_TILE + 8, dtype=np.int64)
    meta[_kernels.M_TILE] = full
    v = _kernels._WIDTH_STEP
    for n in [8, 9, 16, 17, 40, 63, 64, 65, 129, 255, 256, 257, 300, 511, 4096, 4100]:
        width = int(_kernels._tile_width(meta, n))
        n_tiles = -(-n // width)
        assert width <= full and width % v == 0 or width == full, (n, width)
        assert n_tiles == max(1, -(-n // full)), (n, width)  # as many as full tiles
        assert n_tiles * width - n < v * n_tiles, (n, width)
    assert int(_kernels._tile_width(meta, 8)) == 8
    assert int(_kernels._tile_width(meta, 300)) == {64: 64, 128: 104, 256: 152}[full]
    assert int(_kernels._tile_width(meta, 4096)) == full


@pytest.mark.parametrize("name", ["DeepFM", "xDeepFM", "FwFM"])
def test_a_row_scores_the_same_in_every_batch(fitted, name):
    """Dense and pruned, a row's probabilities do not depend on the batch it
    is scored in (the tile width follows the batch): batches of 8 to 333."""
    X = pd.concat([_frame(200, 5)] * 2, ignore_index=True)
    for kind in ("dense", "pruned"):
        pred = fitted[name, kind].to_sparse(engine="numba")
        full = pred.predict_proba(X)
        for n in (8, 17, 40, 129, 300, 333):
            np.testing.assert_allclose(
                pred.predict_proba(X.iloc[:n]), full[:n], rtol=1e-6, atol=0
            )


def test_pack_holds_the_input_layout(fitted):
    """The fused kernels read the numeric mask, field_dims and offsets from
    the packed layout (one argument instead of three): the predictor's."""
    pred = fitted["DeepFM", "pruned"].to_sparse(engine="numba")
    meta = _kernels.pack(pred._spec)[3]
    n = pred.n_features_in_
    start = meta[_kernels.M_INPUT]
    assert start + 3 * n == meta.shape[0]
    np.testing.assert_array_equal(meta[start : start + n], pred._numeric_mask)
    np.testing.assert_array_equal(meta[start + n : start + 2 * n], pred.field_dims_)
    np.testing.assert_array_equal(meta[start + 2 * n :], pred.offsets_)


@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 15, 16, 23])
def test_dot8_sums_every_input(n):
    """The DNN output layer's dot product in eight partial sums (the order
    the tiled kernel shares): every input counted once, tails included."""
    rng = np.random.default_rng(n)
    fp = rng.standard_normal(n + 3).astype(np.float32)
    x = rng.standard_normal(n).astype(np.float32)
    got = _kernels._dot8(fp, np.uint64(3), x, np.uint64(n))
    want = float(fp[3:].astype(np.float64) @ x.astype(np.float64))
    assert got == pytest.approx(want, rel=1e-5, abs=1e-5)


def test_index_rows_maps_codes_and_refuses_values_to_check():
    """The fused paths' indexing (branch-free per value): codes in range to
    their rows, missing, negative and unseen codes to the out-of-vocabulary
    row, numeric values as values; any value the general path checks or
    rejects refuses the whole matrix."""
    numeric = np.array([True, False, False])
    dims = np.array([1, 5, 3], dtype=np.int64)
    offsets = np.array([0, 1, 7], dtype=np.int64)  # table sizes 1, 6, 4
    X = np.array([[0.5, 2, 1], [-3.0, 7, np.nan], [1e30, -1, 2], [0, 4, 3]])
    want_xi = np.array([[0, 3, 8], [0, 6, 10], [0, 6, 9], [0, 5, 10]])
    want_xv = np.array([[0.5, 1, 1], [-3, 1, 1], [1e30, 1, 1], [0, 1, 1]])
    Xi = np.array([[5, 2, 1], [-3, 7, 0], [7, -1, 2], [0, 4, 3]], dtype=np.int64)
    want_xi_int = np.array([[0, 3, 8], [0, 6, 7], [0, 6, 9], [0, 5, 10]])
    want_xv_int = np.array([[5, 1, 1], [-3, 1, 1], [7, 1, 1], [0, 1, 1]])
    for arr, rows, values in ((X, want_xi, want_xv), (Xi, want_xi_int, want_xv_int)):
        xi, xv, ok = _kernels.index_rows(arr, numeric, dims, offsets)
        assert ok
        np.testing.assert_array_equal(xi, rows)
        np.testing.assert_array_equal(xv, values.astype(np.float32))
    bad_values = [
        (0, np.nan), (0, np.inf), (0, 1e39),  # numeric: not finite, beyond float32
        (1, 1.5), (1, 2.0**63), (2, -np.inf),  # categorical: not a whole code
    ]  # fmt: skip
    for col, value in bad_values:
        bad = X.copy()
        bad[2, col] = value
        assert not _kernels.index_rows(bad, numeric, dims, offsets)[2]
    big = np.array([[0, np.iinfo(np.int64).max, 0]], dtype=np.int64)
    assert not _kernels.index_rows(big, numeric, dims, offsets)[2]
