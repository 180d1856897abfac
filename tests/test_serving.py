"""ServingPipeline (issue 13, item 2): raw rows in, probabilities out, torch-free."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.base import is_classifier
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer

from sklearn_deeplight import (
    DeepFwFMClassifier,
    FieldEncoder,
    FwFMClassifier,
    ServingPipeline,
    SparseCTRPredictor,
    load,
    save,
)
from sklearn_deeplight.datasets import make_ctr_classification

REPO = Path(__file__).resolve().parents[1]


def _raw(n: int = 600, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    X, y = make_ctr_classification(
        n, n_numeric=3, n_categorical=5, missing_rate=0.2, random_state=seed
    )
    # strings as the Criteo reader gives them (pandas' str dtype)
    return X.astype({c: "str" for c in X.columns if c.startswith("C")}), y


@pytest.fixture(scope="module")
def model():
    X, y = _raw()
    return make_pipeline(
        FieldEncoder(numeric_transform="criteo", min_frequency=2),
        DeepFwFMClassifier(
            embedding_dim=4, hidden_units=(8, 8), max_epochs=2, random_state=0
        ),
    ).fit(X, y)


@pytest.fixture(scope="module")
def server(model):
    return ServingPipeline.from_pipeline(model)


def _encoded(server, X):
    """The encoded path: the predictor on the encoder's DataFrame."""
    return server[-1].predict_proba(server[0].transform(X))


def test_raw_rows_encoded_rows_and_estimator_agree(model, server):
    """DataFrame, list of dicts, one dict, 1-row frame: the encoded path's
    probabilities (the same kernels at the same batch size: equal), and the
    torch estimator's within 1e-6 relative."""
    X, _ = _raw(300, seed=1)
    X.iloc[0, 0] = np.nan  # a missing numeric value
    X.iloc[1, 4] = "never-seen"  # an unseen category
    assert server._lean(X) is not None  # the lean path scores these
    expected = _encoded(server, X)
    np.testing.assert_array_equal(server.predict_proba(X), expected)
    records = X.to_dict("records")
    assert server._lean(records) is not None
    np.testing.assert_array_equal(server.predict_proba(records), expected)
    for i in (0, 1, 7):
        one = _encoded(server, X.iloc[i : i + 1])
        np.testing.assert_array_equal(server.predict_proba(records[i]), one)
        np.testing.assert_array_equal(server.predict_proba(X.iloc[i : i + 1]), one)
    dense = model.predict_proba(X)
    np.testing.assert_allclose(server.predict_proba(X), dense, rtol=1e-6, atol=0)
    np.testing.assert_allclose(
        server.predict_proba(records[5]), dense[5:6], rtol=1e-6, atol=0
    )
    np.testing.assert_array_equal(
        server.decision_function(records),
        server[-1].decision_function(server[0].transform(X)),
    )
    np.testing.assert_array_equal(server.predict(records), model.predict(X))


@pytest.mark.parametrize("engine", ["numba", "scipy"])
def test_raw_rows_are_encoded_once(model, engine, monkeypatch):
    """The compiled path and its fallback score the same encoded matrix."""
    server = ServingPipeline.from_pipeline(model, engine=engine)
    X, _ = _raw(40, seed=3)
    enc = server[0]
    calls = []
    original = type(enc)._encode_matrix

    def spy(self, *args, **kwargs):
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(type(enc), "_encode_matrix", spy)
    proba = server.predict_proba(X)
    assert len(calls) == 1
    np.testing.assert_allclose(proba, _encoded(server, X), rtol=1e-6, atol=1e-7)


def test_it_is_a_fitted_classifier_pipeline(model, server):
    assert isinstance(server, Pipeline) and is_classifier(server)
    assert isinstance(server[0], FieldEncoder)
    assert isinstance(server[-1], SparseCTRPredictor)
    assert server[0] is model[0]
    assert [name for name, _ in server.steps] == [name for name, _ in model.steps]
    np.testing.assert_array_equal(server.classes_, model.classes_)
    assert server.n_features_in_ == 8
    assert type(server[:1]) is Pipeline  # a slice need not hold both steps
    with pytest.raises(TypeError, match="cannot be trained"):
        server.fit(*_raw(50))


def test_pipeline_end_and_frozen_estimator(server):
    X, y = _raw(200, seed=2)
    frozen = FrozenEstimator(server)
    np.testing.assert_array_equal(frozen.predict_proba(X), server.predict_proba(X))
    np.testing.assert_array_equal(
        frozen.predict_proba(X.iloc[0].to_dict()), server.predict_proba(X.iloc[:1])
    )
    outer = Pipeline(
        [("raw", FunctionTransformer(lambda df: df.copy())), ("server", frozen)]
    ).fit(X, y)
    np.testing.assert_array_equal(outer.predict_proba(X), server.predict_proba(X))
    scores = cross_val_score(frozen, X, y, cv=2, scoring="roc_auc")
    assert scores.shape == (2,) and np.isfinite(scores).all()


def test_save_load_and_joblib(server, tmp_path):
    X, _ = _raw(100, seed=3)
    records = X.to_dict("records")
    expected = server.predict_proba(records)
    save(server, tmp_path / "server.skdl")
    loaded = load(tmp_path / "server.skdl")
    assert type(loaded) is ServingPipeline
    assert loaded._lean(records) is not None
    np.testing.assert_array_equal(loaded.predict_proba(records), expected)
    np.testing.assert_array_equal(loaded.predict_proba(records[0]), expected[:1])
    joblib.dump(server, tmp_path / "server.joblib")
    again = joblib.load(tmp_path / "server.joblib")
    np.testing.assert_array_equal(again.predict_proba(X), expected)


def test_load_refuses_an_inconsistent_serving_pipeline(server, tmp_path):
    other = make_pipeline(
        FieldEncoder(),
        FwFMClassifier(embedding_dim=2, max_epochs=1, random_state=0),
    ).fit(
        *make_ctr_classification(
            100, n_numeric=1, n_categorical=2, n_interactions=1, random_state=0
        )
    )
    bad = ServingPipeline([("enc", server[0]), ("pred", other[-1].to_sparse())])
    save(bad, tmp_path / "bad.skdl")
    with pytest.raises(ValueError, match="fields"):
        load(tmp_path / "bad.skdl")
    with pytest.raises(ValueError, match="fields"):
        bad.predict_proba(_raw(5)[0])


def test_loading_and_serving_do_not_need_torch(server, tmp_path):
    """A server without torch loads the file and scores dicts; ``load``
    has loaded the kernels of a first request (the encoder's lookups of a
    few values, the predictor's per-sample kernel) from numba's cache."""
    X, _ = _raw(64, seed=4)
    records = X.to_dict("records")
    save(server, tmp_path / "server.skdl")
    np.save(tmp_path / "ref.npy", server.predict_proba(records))
    np.save(tmp_path / "ref1.npy", server.predict_proba(records[0]))
    pd.to_pickle(records, tmp_path / "records.pkl")
    script = f"""
import sys

class BlockTorch:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "skorch"):
            raise ImportError(f"No module named {{name!r}} (blocked)")

sys.meta_path.insert(0, BlockTorch())
import numpy as np
import pandas as pd
import sklearn_deeplight
server = sklearn_deeplight.load({str(tmp_path / "server.skdl")!r})
assert type(server).__name__ == "ServingPipeline"
from sklearn_deeplight import _encoder_kernels, _kernels
for kernel in (_encoder_kernels.lookup_str, _encoder_kernels.lookup_ints,
               _kernels.proba_small):
    assert kernel.signatures, kernel
records = pd.read_pickle({str(tmp_path / "records.pkl")!r})
np.testing.assert_array_equal(
    server.predict_proba(records), np.load({str(tmp_path / "ref.npy")!r})
)
np.testing.assert_array_equal(
    server.predict_proba(records[0]), np.load({str(tmp_path / "ref1.npy")!r})
)
assert not [m for m in sys.modules if m.split(".")[0] in ("torch", "skorch")]
print("ok")
"""
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=180,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "ok"


def test_from_pipeline_variants(model, server):
    X, _ = _raw(50, seed=5)
    expected = server.predict_proba(X)
    scipy = ServingPipeline.from_pipeline(model, engine="scipy")
    assert scipy[-1].engine == "scipy"
    np.testing.assert_allclose(scipy.predict_proba(X), expected, rtol=1e-6)
    kept = make_pipeline(model[0], FrozenEstimator(server[-1]))
    again = ServingPipeline.from_pipeline(kept)
    assert again[-1] is server[-1]
    np.testing.assert_array_equal(again.predict_proba(X), expected)
    with pytest.raises(ValueError, match="already a SparseCTRPredictor"):
        ServingPipeline.from_pipeline(kept, engine="scipy")
    with pytest.raises(TypeError, match="two steps"):
        ServingPipeline.from_pipeline(model[-1])
    with pytest.raises(TypeError, match="two steps"):
        ServingPipeline.from_pipeline(make_pipeline(FunctionTransformer(), *model))
    with pytest.raises(TypeError, match="classifier of sklearn_deeplight"):
        ServingPipeline.from_pipeline(make_pipeline(model[0], FunctionTransformer()))
    with pytest.raises(TypeError, match="FieldEncoder and a SparseCTRPredictor"):
        ServingPipeline([("a", FunctionTransformer()), ("b", server[-1])]).predict(X)


def test_bad_input_raises_what_the_plain_pipeline_raises(server):
    plain = make_pipeline(server[0], server[-1])
    X, _ = _raw(20, seed=6)
    row = X.iloc[0].to_dict()
    cases = [
        {k: v for k, v in row.items() if k != "C2"},  # a field missing
        {**row, "I1": "not a number"},
        {**row, "I1": float("inf")},
        X.drop(columns="C1"),
    ]
    for bad in cases:
        with pytest.raises(ValueError) as plain_error:
            plain.predict_proba(bad)
        with pytest.raises(ValueError) as served_error:
            server.predict_proba(bad)
        assert str(served_error.value) == str(plain_error.value)
    # Values the float32 kernels overflow on: the predictor's own error.
    huge = make_pipeline(
        FieldEncoder(), FwFMClassifier(embedding_dim=2, max_epochs=1, random_state=0)
    ).fit(*_raw(100))
    huge_server = ServingPipeline.from_pipeline(huge)
    with pytest.raises(ValueError) as plain_error:
        huge.predict_proba({**row, "I1": 1e300})
    with pytest.raises(ValueError) as served_error:
        huge_server.predict_proba({**row, "I1": 1e300})
    assert str(served_error.value) == str(plain_error.value)
