"""Tests of make_ctr_classification."""

import itertools

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import OneHotEncoder

from sklearn_deeplight.datasets import make_ctr_classification


def test_shape_columns_and_dtypes():
    X, y = make_ctr_classification(2000, random_state=0)
    assert X.shape == (2000, 39)
    assert list(X.columns) == [f"I{i}" for i in range(1, 14)] + [
        f"C{i}" for i in range(1, 27)
    ]
    assert (X.dtypes.iloc[:13] == np.float64).all()
    assert all(isinstance(dt, pd.CategoricalDtype) for dt in X.dtypes.iloc[13:])
    values = X["C3"].dropna().astype(str)
    assert values.str.fullmatch(r"[0-9a-f]{8}").all()
    assert y.dtype == np.int64 and set(np.unique(y)) == {0, 1}
    numeric = X.iloc[:, :13].to_numpy()
    present = numeric[~np.isnan(numeric)]
    assert (present >= 0).all() and (present == np.round(present)).all()
    assert present.max() > 1000  # heavy tails, like Criteo's counts


def test_deterministic_by_seed_and_seeds_differ():
    a = make_ctr_classification(3000, random_state=42, return_truth=True)
    b = make_ctr_classification(3000, random_state=42, return_truth=True)
    c = make_ctr_classification(3000, random_state=43, return_truth=True)
    pd.testing.assert_frame_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert a[2].interactions == b[2].interactions
    assert not a[0]["C1"].equals(c[0]["C1"])
    assert not np.array_equal(a[1], c[1])
    assert a[2].interactions != c[2].interactions
    rs = make_ctr_classification(500, random_state=np.random.RandomState(0))
    rs2 = make_ctr_classification(500, random_state=np.random.RandomState(0))
    pd.testing.assert_frame_equal(rs[0], rs2[0])


def test_truth_shared_across_sample_sizes():
    kw = dict(cardinalities=[50] * 26, random_state=7, return_truth=True)
    _, _, small = make_ctr_classification(1000, **kw)
    _, _, large = make_ctr_classification(5000, **kw)
    assert small.interactions == large.interactions
    np.testing.assert_array_equal(small.interaction_weights, large.interaction_weights)


@pytest.mark.parametrize("click_rate", [0.03, 0.2, 0.5])
def test_click_rate(click_rate):
    X, y, truth = make_ctr_classification(
        40_000, click_rate=click_rate, return_truth=True, random_state=1
    )
    assert truth.proba.mean() == pytest.approx(click_rate, abs=1e-8)
    # 5 binomial standard deviations
    assert abs(y.mean() - click_rate) < 5 * np.sqrt(click_rate * (1 - click_rate) / 4e4)


def test_zipf_frequencies():
    X, _ = make_ctr_classification(
        50_000, n_numeric=0, n_categorical=2, cardinalities=[2000, 2000],
        n_interactions=0, missing_rate=0.0, random_state=0,
    )  # fmt: skip
    counts = X["C1"].value_counts()
    counts = counts[counts > 0]
    assert counts.iloc[0] / 50_000 > 0.1  # the top value is ~1/H of the rows
    assert counts.iloc[0] > 100 * counts.median()
    flat, _ = make_ctr_classification(
        50_000, n_numeric=0, n_categorical=1, cardinalities=[50],
        n_interactions=0, zipf_exponent=0.0, missing_rate=0.0, random_state=0,
    )  # fmt: skip
    counts = flat["C1"].value_counts()
    assert counts.iloc[0] < 1.3 * counts.median()


def test_default_cardinalities_scale_with_n_samples():
    _, _, t_small = make_ctr_classification(2_000, return_truth=True, random_state=0)
    _, _, t_big = make_ctr_classification(100_000, return_truth=True, random_state=0)
    assert t_small.cardinalities.max() == 100
    assert t_big.cardinalities.max() == 5_000
    assert t_big.cardinalities.min() <= 4


def test_missing_values():
    X, _ = make_ctr_classification(20_000, missing_rate=0.0, random_state=0)
    assert not X.isna().any().any()
    X, _ = make_ctr_classification(20_000, missing_rate=0.2, random_state=0)
    rates = X.isna().mean()
    assert 0.1 < rates.iloc[:13].mean() < 0.3
    assert (rates.iloc[13:] > 0).sum() == 26 // 3


def test_int_values_are_codes():
    X, y, truth = make_ctr_classification(
        5000, n_numeric=0, n_categorical=5, n_interactions=2,
        categorical_values="int", missing_rate=0.3, return_truth=True,
        random_state=0,
    )  # fmt: skip
    assert (X.dtypes == np.int64).all()
    codes = X.to_numpy()
    assert (codes >= 0).all() and (codes <= truth.cardinalities).all()
    assert (codes == truth.cardinalities).any()  # the missing value's id
    arr, _ = make_ctr_classification(
        5000, n_numeric=0, n_categorical=5, n_interactions=2,
        categorical_values="int", missing_rate=0.3, as_frame=False, random_state=0,
    )  # fmt: skip
    assert arr.dtype == np.int64
    np.testing.assert_array_equal(arr, codes)
    mixed, _ = make_ctr_classification(
        100, n_categorical=3, n_interactions=1, as_frame=False, random_state=0
    )
    assert mixed.dtype == object and mixed.shape == (100, 16)


def test_interactions_listing():
    _, _, truth = make_ctr_classification(
        1000, n_categorical=6, n_interactions=15, return_truth=True, random_state=0
    )
    pairs = truth.interactions
    assert len(pairs) == len(set(pairs)) == 15  # all pairs of 6 fields
    assert all(a != b and a.startswith("C") and b.startswith("C") for a, b in pairs)
    w = truth.interaction_weights
    assert (np.diff(w) <= 0).all() and (w >= 0.25).all() and (w <= 0.75).all()
    with pytest.raises(ValueError, match="exceeds the 15 pairs"):
        make_ctr_classification(100, n_categorical=6, n_interactions=16)


def test_labels_depend_on_planted_pairs():
    """Logistic regression on planted pair crosses beats unplanted crosses."""
    X, y, truth = make_ctr_classification(
        40_000, n_numeric=0, n_categorical=8, cardinalities=[30] * 8,
        n_interactions=3, categorical_values="int", return_truth=True,
        random_state=0,
    )  # fmt: skip
    planted = [tuple(int(c[1:]) - 1 for c in p) for p in truth.interactions]
    others = [p for p in itertools.combinations(range(8), 2) if p not in planted]
    pick = np.random.default_rng(0).choice(len(others), size=3, replace=False)
    unplanted = [others[i] for i in pick]
    A = X.to_numpy()
    auc = {}
    for name, pairs in (("planted", planted), ("unplanted", unplanted)):
        crosses = [A[:, i] * 1000 + A[:, j] for i, j in pairs]
        F = np.column_stack([A, *crosses])
        enc = OneHotEncoder(handle_unknown="ignore").fit(F[:30_000])
        clf = LogisticRegression(C=0.5, max_iter=2000)
        clf.fit(enc.transform(F[:30_000]), y[:30_000])
        proba = clf.predict_proba(enc.transform(F[30_000:]))[:, 1]
        auc[name] = roc_auc_score(y[30_000:], proba)
    assert auc["planted"] > auc["unplanted"] + 0.05, auc
    # and the planted model gets near the true probabilities' AUC
    assert auc["planted"] > roc_auc_score(y[30_000:], truth.proba[30_000:]) - 0.05


def test_nonlinear_and_noise_change_labels():
    base = make_ctr_classification(5000, random_state=0, return_truth=True)
    nl = make_ctr_classification(5000, nonlinear=1.0, random_state=0, return_truth=True)
    nz = make_ctr_classification(5000, noise=1.0, random_state=0, return_truth=True)
    pd.testing.assert_frame_equal(base[0], nl[0])
    assert not np.allclose(base[2].proba, nl[2].proba)
    assert not np.allclose(base[2].proba, nz[2].proba)


@pytest.mark.parametrize(
    "params, err, match",
    [
        ({"n_samples": 0}, ValueError, "n_samples must be >= 1"),
        ({"n_samples": 2.5}, TypeError, "n_samples must be an int"),
        ({"n_numeric": 0, "n_categorical": 0}, ValueError, "must be >= 1"),
        ({"cardinalities": [5, 5]}, ValueError, "cardinalities has 2 entries"),
        ({"click_rate": 1.0}, ValueError, "click_rate"),
        ({"click_rate": 0.0}, ValueError, "click_rate"),
        ({"missing_rate": 0.7}, ValueError, "missing_rate"),
        ({"zipf_exponent": -1}, ValueError, "zipf_exponent"),
        ({"embedding_dim": 0}, ValueError, "embedding_dim"),
        ({"categorical_values": "str"}, ValueError, "categorical_values"),
        ({"noise": -1.0}, ValueError, "noise"),
    ],
)
def test_invalid_params(params, err, match):
    with pytest.raises(err, match=match):
        make_ctr_classification(**{"n_samples": 100, **params})


def test_pipeline_with_encoder():
    from sklearn_deeplight._encoder import FieldEncoder

    X, y = make_ctr_classification(3000, random_state=0)
    enc = FieldEncoder(min_frequency=2, numeric_transform="criteo").fit(X)
    Xt = enc.transform(X)
    np.testing.assert_array_equal(enc.numeric_fields_, np.arange(13))
    assert (Xt.dtypes.iloc[13:] == np.int64).all()
    assert (Xt.iloc[:, 13:].to_numpy() < enc.field_dims_[13:]).all()
