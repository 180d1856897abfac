"""Tests of the torch-free sparse predictor (``est.to_sparse()``)."""

from __future__ import annotations

import copy
import pickle
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OrdinalEncoder

from sklearn_deeplight import (
    DeepFMClassifier,
    DeepFwFMClassifier,
    FMClassifier,
    FwFMClassifier,
    LRClassifier,
    NFMClassifier,
    XDeepFMClassifier,
)
from sklearn_deeplight._sparse import SparseCTRPredictor
from sklearn_deeplight._validation import table_sizes

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "sklearn_deeplight"
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
}


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
