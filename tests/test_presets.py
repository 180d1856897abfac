"""'auto' sizes from the training rows, and the paper's settings."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone

from sklearn_deeplight import (
    DeepFwFMClassifier,
    FMClassifier,
    auto_lr,
    auto_value,
    paper_params,
)


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    yield


@pytest.mark.parametrize(
    "n, hidden, batch",
    [
        (500, (64, 64), 256),
        (20_000, (128, 128), 256),
        (60_000, (128, 128), 512),
        (250_000, (256, 256, 256), 1024),
        (45_000_000, (400, 400, 400), 2048),
    ],
)
def test_auto_tables(n, hidden, batch):
    assert auto_value("hidden_units", n) == hidden
    assert auto_value("batch_size", n) == batch


def test_auto_sizes_the_fit_and_leaves_the_parameters_alone():
    rng = np.random.RandomState(0)
    X = rng.randint(0, 5, size=(600, 3))
    y = rng.randint(0, 2, size=600)
    est = DeepFwFMClassifier(
        embedding_dim=2,
        hidden_units="auto",
        batch_size="auto",
        max_epochs=1,
        random_state=0,
    ).fit(X, y)
    assert est.hidden_units == "auto" and est.batch_size == "auto"
    assert est.hidden_units_ == (64, 64) and est.batch_size_ == 256
    widths = [layer.out_features for layer in est.module_.dnn.layers]
    assert widths == [64, 64]
    train_batches = [b for b in est.history_[-1]["batches"] if "train_loss" in b]
    assert len(train_batches) == -(-540 // 256)  # 10% held out for validation
    explicit = DeepFwFMClassifier(
        embedding_dim=2, hidden_units=(8,), batch_size=100, max_epochs=1
    ).fit(X, y)
    assert explicit.hidden_units_ == (8,) and explicit.batch_size_ == 100
    fm = FMClassifier(batch_size="auto", max_epochs=1).fit(X, y)
    assert not hasattr(fm, "hidden_units_") and fm.batch_size_ == 256


def test_the_defaults_are_auto_and_sized_from_the_rows():
    # hidden_units, batch_size and lr default to "auto": a small log gets the
    # small network and batches and the square-root learning rate, and
    # get_params() still says "auto" after fit (the constructor's values)
    rng = np.random.RandomState(0)
    X = rng.randint(0, 5, size=(600, 3))
    y = rng.randint(0, 2, size=600)
    est = DeepFwFMClassifier(embedding_dim=2, max_epochs=1, random_state=0)
    before = est.get_params(deep=False)
    assert before["hidden_units"] == before["batch_size"] == before["lr"] == "auto"
    est.fit(X, y)
    assert est.get_params(deep=False) == before
    assert est.hidden_units_ == (64, 64) and est.batch_size_ == 256
    assert est.lr_ == pytest.approx(1e-3 * np.sqrt(256 / 2048))
    assert est.optimizer_.param_groups[0]["lr"] == pytest.approx(est.lr_)
    assert clone(est).get_params(deep=False) == before
    # an explicit batch size scales the "auto" learning rate; an explicit lr
    # is left alone
    est = DeepFwFMClassifier(embedding_dim=2, batch_size=2048, max_epochs=1)
    assert est.fit(X, y).lr_ == 1e-3
    est = DeepFwFMClassifier(embedding_dim=2, lr=0.01, max_epochs=1).fit(X, y)
    assert est.lr_ == 0.01 and est.optimizer_.param_groups[0]["lr"] == 0.01
    # set_params on a fitted net: the optimizer takes the number
    est.set_params(lr="auto")
    assert est.lr == "auto" and est.lr_ == pytest.approx(auto_lr(256))
    assert est.optimizer_.param_groups[0]["lr"] == pytest.approx(auto_lr(256))


@pytest.mark.parametrize("n", [20_000, 1_000_000, 45_000_000])
def test_auto_is_the_paper_from_1m_rows(n):
    params = {k: auto_value(k, n) for k in ("hidden_units", "batch_size")}
    params["lr"] = auto_lr(params["batch_size"])
    paper = paper_params("criteo")
    same = {k: paper[k] for k in params}
    assert (params == same) == (n >= 1_000_000)


def test_auto_lr():
    assert auto_lr(2048) == 1e-3
    assert auto_lr(512) == pytest.approx(5e-4)
    assert auto_lr(np.int64(256)) == pytest.approx(3.5355e-4, rel=1e-4)
    for bad in (0, -1, True, "256", None):
        with pytest.raises(ValueError, match="batch_size"):
            auto_lr(bad)


def test_paper_params():
    assert paper_params("criteo") == dict(
        embedding_dim=10,
        hidden_units=(400, 400, 400),
        dropout=0.5,
        lr=1e-3,
        batch_size=2048,
        l2=3e-7,
        max_epochs=10,
    )
    assert paper_params("Avazu", "fm") == dict(
        embedding_dim=20, lr=1e-3, batch_size=2048, l2=3e-7, max_epochs=10
    )
    with pytest.raises(ValueError, match="criteo"):
        paper_params("movielens")
    with pytest.raises(ValueError, match="auto"):
        auto_value("lr", 10)
