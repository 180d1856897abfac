"""Predictions of every model on a fixed seed, recorded before the redesign.

The redesign of issue 14 (one model description from module to kernel) must
keep every result: this test fits each of the seven models on the same small
generated data with the same seed, with pruning, and compares the estimator's
and both sparse engines' probabilities with the ones recorded in
``tests/data/reference_predictions.npz`` by ``python
tests/test_reference_predictions.py`` at the commit before the redesign.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

REFERENCE = Path(__file__).with_name("data") / "reference_predictions.npz"
#: The seven models and the components each prunes.
COMPONENTS = {
    "LRClassifier": (),
    "FMClassifier": ("embeddings",),
    "FwFMClassifier": ("field_pairs", "embeddings"),
    "DeepFMClassifier": ("dnn", "embeddings"),
    "NFMClassifier": ("dnn", "embeddings"),
    "XDeepFMClassifier": ("dnn", "embeddings", "cin"),
    "DeepFwFMClassifier": ("dnn", "field_pairs", "embeddings"),
}


def _data():
    """Small field-indexed data: five categorical fields and one numeric."""
    rng = np.random.RandomState(3)
    X = rng.randint(0, 30, size=(1200, 6)).astype(np.float64)
    X[:, 5] = rng.normal(size=1200)
    y = ((X[:, 0] % 3 == 0) ^ (X[:, 1] % 2 == 0) ^ (rng.rand(1200) < 0.2)).astype(int)
    return X[:1000], y[:1000], X[1000:]


def _fit(name: str, X, y):
    import sklearn_deeplight as sd

    cls = getattr(sd, name)
    names = cls().get_params()
    # lr: the rate the references were recorded with (the default then)
    params = dict(
        max_epochs=3, batch_size=128, lr=1e-3, random_state=0, numeric_fields=[5]
    )
    params.update(
        {
            key: value
            for key, value in dict(
                embedding_dim=4, hidden_units=(8, 8), cin_layer_sizes=(6, 4)
            ).items()
            if key in names
        }
    )
    targets = dict(dnn=0.8, field_pairs=0.5, embeddings=0.3, cin=0.5)
    parts = COMPONENTS[name]
    if parts:
        prune = sd.DeepLightPruning(**{part: targets[part] for part in parts})
        params["callbacks"] = [("prune", prune)]
    return cls(**params).fit(X, y)


def _predictions() -> dict[str, np.ndarray]:
    X, y, X_test = _data()
    out = {}
    for name in COMPONENTS:
        est = _fit(name, X, y)
        out[f"{name}/estimator"] = est.predict_proba(X_test)[:, 1]
        for engine in ("numba", "scipy"):
            pred = est.to_sparse(engine=engine)
            out[f"{name}/{engine}"] = pred.predict_proba(X_test)[:, 1]
    return out


@pytest.mark.usefixtures("one_thread")
def test_predictions_match_the_recorded_ones():
    ref = np.load(REFERENCE)
    got = _predictions()
    assert sorted(got) == sorted(ref.files)
    for key in ref.files:
        np.testing.assert_allclose(got[key], ref[key], rtol=0, atol=1e-6, err_msg=key)


if __name__ == "__main__":  # regenerate (only before a change meant to keep them)
    import torch

    torch.set_num_threads(1)
    np.savez(REFERENCE, **_predictions())
    print(f"wrote {REFERENCE}")
