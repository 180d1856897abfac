"""Model selection and batch scoring on a dask.distributed LocalCluster."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV

distributed = pytest.importorskip("distributed")
dask = pytest.importorskip("dask")

import dask.array as da  # noqa: E402
import dask.dataframe as dd  # noqa: E402
import joblib  # noqa: E402

from sklearn_deeplight import (  # noqa: E402
    DeepFwFMClassifier,
    DeepLightPruning,
    FieldEncoder,
    FwFMClassifier,
)
from sklearn_deeplight.dask import (  # noqa: E402
    _Scorer,
    _ship,
    predict,
    predict_proba,
    set_worker_threads,
)
from sklearn_deeplight.datasets import make_ctr_classification  # noqa: E402


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=40,
    )
    c = distributed.Client(cluster)
    # the workers import torch & co. while the tests compute local references
    c.warm_up = [
        c.submit(_warm_up, workers=[w], pure=False, key=f"warm-up-{w}")
        for w in c.nthreads()
    ]
    try:
        yield c
    finally:
        c.close()
        cluster.close()


def _warm_up() -> None:
    import torch

    import sklearn_deeplight._classifiers  # noqa: F401
    import sklearn_deeplight._sparse  # noqa: F401

    torch.optim.Adam([torch.zeros(1, requires_grad=True)])  # imports torch._dynamo


@pytest.fixture
def one_torch_thread():
    # the workers run one torch thread: so must the local reference
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def data():
    X, y = make_ctr_classification(
        600, n_numeric=2, n_categorical=4, n_interactions=2, random_state=0
    )
    enc = FieldEncoder(numeric_transform="log1p").fit(X)
    return X, y, enc


def _search_results(search):
    return {
        k: v
        for k, v in search.cv_results_.items()
        if k.startswith(("split", "mean_test", "std_test", "rank", "param"))
    }


def test_searches_on_dask_match_local(client, data, one_torch_thread):
    X, y, enc = data
    Xt = enc.transform(X)
    est = DeepFwFMClassifier(
        embedding_dim=4,
        hidden_units=(8,),
        dropout=0.0,
        max_epochs=2,
        batch_size=128,
        validation_fraction=None,
        random_state=0,
        callbacks=[("prune", DeepLightPruning(dnn=0.5, warm_up_epochs=1))],
    )
    searches = [
        GridSearchCV(
            est,
            {"callbacks__prune__dnn": [0.0, 0.5, 0.95]},
            cv=2,
            scoring="roc_auc",
            refit=False,
        ),
        RandomizedSearchCV(
            est,
            {"callbacks__prune__dnn": [0.3, 0.9], "lr": [1e-3, 1e-2]},
            n_iter=2,
            cv=2,
            scoring="roc_auc",
            random_state=0,
            refit=False,
        ),
    ]
    references = [clone(search).fit(Xt, y) for search in searches]
    set_worker_threads(client, 1)
    for search, local in zip(searches, references):
        with joblib.parallel_config(backend="dask"):
            remote = clone(search).fit(Xt, y)
        assert remote.best_params_ == local.best_params_
        assert remote.best_score_ == local.best_score_
        got, want = _search_results(remote), _search_results(local)
        assert got.keys() == want.keys()
        for k in want:
            np.testing.assert_array_equal(np.asarray(got[k]), np.asarray(want[k]))
        # the scores differ between candidates: the comparison means something
        assert len(set(want["mean_test_score"])) > 1


def test_set_worker_threads(client):
    threads = set_worker_threads(client, 1)
    assert sorted(threads.values()) == [1, 1]
    threads = client.run(lambda: __import__("torch").get_num_threads())
    assert set(threads.values()) == {1}


@pytest.fixture(scope="module")
def sparse(data):
    X, y, enc = data
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    est = FwFMClassifier(embedding_dim=4, max_epochs=2, random_state=0)
    # the numba engine scores each row alone: batch-invariant, so partitions
    # give the very same numbers (scipy's products may differ in the last bit)
    est.fit(enc.transform(X), y)
    torch.set_num_threads(n)
    return est.to_sparse(engine="numba")


def test_dataframe_scoring_equals_local(client, data, sparse):
    X, y, enc = data
    want = sparse.predict_proba(enc.transform(X))
    ddf = dd.from_pandas(X, npartitions=5)
    proba = predict_proba(sparse, ddf, encoder=enc)
    assert isinstance(proba, da.Array)
    np.testing.assert_array_equal(proba.compute(), want)
    labels = predict(sparse, ddf, encoder=enc).compute()
    np.testing.assert_array_equal(labels, sparse.predict(enc.transform(X)))


@pytest.mark.filterwarnings("ignore:X does not have valid feature names")
def test_array_scoring_equals_local(client, data, sparse):
    X, y, enc = data
    Xt = enc.transform(X).to_numpy()
    x = da.from_array(Xt, chunks=(130, 3))
    np.testing.assert_array_equal(
        predict_proba(sparse, x).compute(), sparse.predict_proba(Xt)
    )
    np.testing.assert_array_equal(predict(sparse, x).compute(), sparse.predict(Xt))


def test_models_broadcast_once(client, sparse):
    future = _ship(_Scorer(sparse, None, "predict_proba"), None)
    assert isinstance(future, distributed.Future)
    holders = client.who_has([future])[future.key]
    assert len(holders) == 2  # on both workers before any task runs


def test_local_scheduler_uses_a_graph_node(data, sparse):
    X, y, enc = data
    with dask.config.set(scheduler="synchronous"):
        handle = _ship(_Scorer(sparse, enc, "predict_proba"), None)
        assert not isinstance(handle, distributed.Future)
        proba = predict_proba(sparse, dd.from_pandas(X, npartitions=3), encoder=enc)
        np.testing.assert_array_equal(
            proba.compute(), sparse.predict_proba(enc.transform(X))
        )
    with pytest.raises(TypeError, match="Dask DataFrame"):
        predict_proba(sparse, X)
    with pytest.raises(ValueError, match="2-D"):
        predict_proba(sparse, da.zeros(10))


@pytest.mark.filterwarnings("ignore:X does not have valid feature names")
def test_empty_partitions_give_empty_results(data, sparse):
    """An empty partition (common after a filter) scores as no rows instead
    of "Found array with 0 sample(s)" (issue 15, item 7)."""
    X, y, enc = data
    with dask.config.set(scheduler="synchronous"):
        ddf = dd.from_pandas(X, npartitions=4)
        row = ddf.index.to_series()
        kept = ddf[row < 100]  # the last three partitions are empty
        assert [len(p) for p in kept.partitions] == [100, 0, 0, 0]
        want = sparse.predict_proba(enc.transform(X.iloc[:100]))
        proba = predict_proba(sparse, kept, encoder=enc).compute()
        np.testing.assert_array_equal(proba, want)
        labels = predict(sparse, kept, encoder=enc).compute()
        np.testing.assert_array_equal(
            labels, sparse.predict(enc.transform(X.iloc[:100]))
        )
        none = predict_proba(sparse, ddf[row < 0], encoder=enc).compute()
        assert none.shape == (0, 2) and none.dtype == np.float64
        Xt = enc.transform(X).to_numpy()
        x = da.from_array(Xt, chunks=((100, 0, 500), (Xt.shape[1],)))
        np.testing.assert_array_equal(
            predict_proba(sparse, x).compute(), sparse.predict_proba(Xt)
        )
        np.testing.assert_array_equal(predict(sparse, x).compute(), sparse.predict(Xt))
