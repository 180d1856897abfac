"""From generated raw click logs to fitted models: encoder + estimator."""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline

from sklearn_deeplight import FieldEncoder, FwFMClassifier
from sklearn_deeplight.datasets import make_ctr_classification


def test_pipeline_on_raw_dataframe_with_grid_search():
    X, y = make_ctr_classification(
        n_samples=1500, n_numeric=3, n_categorical=5, random_state=0
    )
    pipe = make_pipeline(
        FieldEncoder(numeric_transform="criteo", min_frequency=2),
        FwFMClassifier(embedding_dim=4, max_epochs=2, batch_size=128, random_state=0),
    )
    grid = GridSearchCV(
        pipe,
        {"fieldencoder__min_frequency": [2, 5], "fwfmclassifier__lr": [1e-2]},
        cv=2,
        scoring="roc_auc",
    ).fit(X, y)
    best = grid.best_estimator_
    # the encoder's float columns reached the estimator as numeric fields
    np.testing.assert_array_equal(best[-1].numeric_fields_, [0, 1, 2])
    assert best.predict_proba(X.iloc[:7]).shape == (7, 2)


def test_fwfm_learns_the_generators_planted_pairs():
    X, y, truth = make_ctr_classification(
        n_samples=10000,
        n_numeric=0,
        n_categorical=8,
        cardinalities=[10] * 8,
        n_interactions=3,
        interaction_strength=1.5,
        missing_rate=0.0,
        return_truth=True,
        random_state=0,
    )
    enc = FieldEncoder()
    Xe = enc.fit_transform(X)
    clf = FwFMClassifier(
        embedding_dim=4,
        max_epochs=6,
        batch_size=256,
        lr=1e-2,
        validation_fraction=None,
        random_state=0,
    ).fit(Xe, y)
    R = clf.field_pair_importance().abs()
    pairs = [
        (R.index[i], R.columns[j]) for i in range(len(R)) for j in range(i + 1, len(R))
    ]
    ranked = sorted(pairs, key=lambda p: -R.loc[p[0], p[1]])
    planted = {frozenset(p) for p in truth.interactions}
    assert {frozenset(p) for p in ranked[: len(planted)]} == planted
