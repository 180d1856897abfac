"""sample_weight, an explicit validation set, negative-downsampling correction."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from sklearn_deeplight import DeepFwFMClassifier, FMClassifier
from sklearn_deeplight.datasets import make_ctr_classification

SMALL = dict(embedding_dim=4, hidden_units=(8,), dropout=0.0, random_state=0, lr=0.01)


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    yield


def _data(n=400, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.randint(0, 6, size=(n, 4))
    y = (((X[:, 0] + X[:, 1]) % 3 == 0) ^ (rng.rand(n) < 0.1)).astype(int)
    return X, y


def test_weights_equal_to_repetition_give_the_repeated_model():
    """One batch per epoch (batch_size above n): the weighted mean loss of
    the rows is exactly the mean loss of the repeated rows."""
    X, y = _data()
    rep = np.random.RandomState(1).randint(1, 4, size=len(X))
    params = dict(SMALL, max_epochs=5, batch_size=4096, validation_fraction=None)
    weighted = DeepFwFMClassifier(**params).fit(X, y, sample_weight=rep)
    repeated = DeepFwFMClassifier(**params).fit(
        np.repeat(X, rep, axis=0), np.repeat(y, rep)
    )
    np.testing.assert_allclose(
        weighted.predict_proba(X), repeated.predict_proba(X), rtol=0, atol=1e-6
    )
    # and the weights matter: uniform weights give another model
    uniform = DeepFwFMClassifier(**params).fit(X, y)
    assert np.abs(uniform.predict_proba(X) - weighted.predict_proba(X)).max() > 1e-3


def test_weights_reach_the_validation_scores():
    X, y = _data()
    w = np.where(y == 1, 3.0, 1.0)
    est = FMClassifier(embedding_dim=4, max_epochs=2, random_state=0)
    est.fit(
        X, y, sample_weight=w, X_val=X[:100], y_val=y[:100], sample_weight_val=w[:100]
    )
    p = est.predict_proba(X[:100])[:, 1]
    assert est.history_[-1]["valid_auc"] == pytest.approx(
        roc_auc_score(y[:100], p, sample_weight=w[:100])
    )


@pytest.mark.parametrize(
    "weights, match",
    [
        (np.ones(3), r"shape \(3,\), expected \(400,\)"),
        (np.r_[np.ones(399), -1.0], "row 399 holds -1.0"),
        (np.r_[np.ones(399), np.nan], "row 399 holds nan"),
        (np.zeros(400), "zero for every row"),
    ],
)
def test_bad_weights_are_refused(weights, match):
    X, y = _data()
    with pytest.raises(ValueError, match=match):
        FMClassifier(max_epochs=1).fit(X, y, sample_weight=weights)


def test_explicit_validation_set_drives_early_stopping():
    """The returned epoch is the one a manual loop over the same scores picks,
    and the returned model scores X_val as recorded."""
    X, y = _data(600)
    X_tr, y_tr, X_val, y_val = X[:400], y[:400], X[400:], y[400:]
    params = dict(SMALL, max_epochs=12, batch_size=64, validation_fraction=None)
    full = DeepFwFMClassifier(**params).fit(X_tr, y_tr, X_val=X_val, y_val=y_val)
    scores = list(full.history_[:, "valid_auc"])
    assert len(scores) == 12  # no early stopping: every epoch scored on X_val
    patience = 2
    best, best_epoch, since = -np.inf, 0, 0
    for epoch, score in enumerate(scores, start=1):
        if score > best:
            best, best_epoch, since = score, epoch, 0
        else:
            since += 1
            if since >= patience:
                break
    stopped = DeepFwFMClassifier(**params, patience=patience).fit(
        X_tr, y_tr, X_val=X_val, y_val=y_val
    )
    assert stopped.history_[-1]["returned_epoch"] == best_epoch
    auc = roc_auc_score(y_val, stopped.predict_proba(X_val)[:, 1])
    assert auc == pytest.approx(best)
    batches = stopped.history_[-1]["batches"]
    assert sum("train_loss" in b for b in batches) == -(-400 // 64)  # X_tr only
    assert sum("valid_loss" in b for b in batches) == -(-200 // 64)  # X_val


def test_validation_arguments_go_together():
    X, y = _data()
    with pytest.raises(ValueError, match="X_val and y_val go together"):
        FMClassifier(max_epochs=1).fit(X, y, X_val=X[:10])
    with pytest.raises(ValueError, match="sample_weight_val needs X_val"):
        FMClassifier(max_epochs=1).fit(X, y, sample_weight_val=np.ones(10))


def test_negative_downsampling_correction_matches_the_full_click_rate():
    X, y = make_ctr_classification(
        20_000,
        n_numeric=0,
        n_categorical=8,
        categorical_values="int",
        click_rate=0.1,
        random_state=0,
    )
    X = X.to_numpy()
    rng = np.random.RandomState(0)
    keep = (y == 1) | (rng.rand(len(y)) < 0.1)
    params = dict(embedding_dim=4, max_epochs=4, batch_size=256, random_state=0)
    raw = FMClassifier(**params).fit(X[keep], y[keep])
    corrected = FMClassifier(**params, negative_sampling_rate=0.1).fit(X[keep], y[keep])
    full_rate = y.mean()
    assert corrected.predict_proba(X)[:, 1].mean() == pytest.approx(full_rate, rel=0.1)
    assert raw.predict_proba(X)[:, 1].mean() > 2 * full_rate
    np.testing.assert_allclose(  # the sparse predictor is corrected alike
        corrected.to_sparse().predict_proba(X), corrected.predict_proba(X), atol=1e-6
    )
    # trained alike: the correction is log(rate) on the logit, nothing else
    np.testing.assert_allclose(
        corrected.decision_function(X[:500]) - raw.decision_function(X[:500]),
        np.log(0.1),
        atol=1e-9,
    )
