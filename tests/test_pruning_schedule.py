"""The default pruning schedule at every data size, and how early stopping,
LR decay, BatchNorm and the one-shot warning agree with it."""

from __future__ import annotations

import math
import warnings
from types import SimpleNamespace

import numpy as np
import pytest

from sklearn_deeplight import (
    DeepFwFMClassifier,
    DeepLightPruning,
    FwFMClassifier,
    auto_damping_steps,
    reach_iteration,
)
from tests.test_pruning import DEEP, SMALL, make_data

# one intra-op torch thread (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("one_thread")


def _planned(n_rows, max_epochs=10, batch_size=2048, validation_fraction=0.1, **kw):
    """The schedule DeepLightPruning sets for a run, computed without training:
    (epoch in which the ramp ends, prune interval, U)."""
    prune = DeepLightPruning(dnn=0.9, **kw).initialize()
    n_train = n_rows - math.ceil(validation_fraction * n_rows)
    prune.batches_per_epoch_ = math.ceil(n_train / batch_size)
    prune.run_end_epoch_ = max_epochs
    prune._start_schedule(SimpleNamespace(max_epochs=max_epochs))
    reach = prune.reach_iteration_
    epoch = prune.warm_up_epochs + math.ceil(reach / prune.batches_per_epoch_)
    return epoch, prune.prune_every_, prune.damping_steps_


@pytest.mark.parametrize("n_rows", [1_000, 100_000, 45_000_000])
def test_default_schedule_reaches_targets_before_the_last_epoch(n_rows):
    epoch, every, _ = _planned(n_rows)
    # the ramp ends after 28.5% of the 9 pruning epochs: in epoch 4 of 10,
    # leaving most of the run to fine-tune at the full targets
    assert epoch <= 4 < 10
    assert every >= 1


@pytest.mark.parametrize("n_rows", [1_000, 100_000])
def test_default_schedule_trained_reaches_targets_before_the_last_epoch(n_rows):
    # the estimators' defaults (batch 2,048, 10 epochs, 10% validation): one
    # batch per epoch at 1k rows, 44 at 100k; a tiny FwFM keeps it fast
    rng = np.random.RandomState(0)
    X = rng.randint(0, 20, size=(n_rows, 4))
    y = ((X[:, 0] + X[:, 1]) % 3 == 0).astype(int)
    prune = DeepLightPruning(field_pairs=0.5, embeddings=0.4)
    est = FwFMClassifier(embedding_dim=2, random_state=0, callbacks=[("prune", prune)])
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # no one-shot prune
        est.fit(X, y)
    at_target = est.history[:, "pruned_to_target"]
    assert len(at_target) == 10
    first = at_target.index(True)
    assert first < 9 and all(at_target[first:])
    # exactly round(0.4 * 168) of the 4 x 21 x 2 embedding entries
    assert est.history[first, "sparsity_embeddings"] == pytest.approx(67 / 168)


def test_paper_run_gives_back_the_papers_damping_period():
    # Criteo: 8 pruning epochs of ~20,100 iterations (45M rows at batch 2,048)
    assert auto_damping_steps(8 * 20_100) == pytest.approx(100, rel=1e-3)
    assert round(reach_iteration(0.99, 100)) == 45_821
    # and the fixed paper constant on 100k rows never gets there in 8 epochs
    _, _, u = _planned(100_000, damping_steps=100)
    assert u == 100
    assert reach_iteration(0.99, u) > 8 * math.ceil(90_000 / 2048)


def test_short_ramp_prunes_more_often():
    # 1k rows at batch 2,048: one batch per epoch, a ramp of ~2 iterations
    epoch, every, _ = _planned(1_000)
    assert every == 1


def test_trained_small_run_reaches_targets_and_fine_tunes_without_warning():
    X, y = make_data(n=640)
    prune = DeepLightPruning(dnn=0.9, field_pairs=0.8, embeddings=0.4)
    est = DeepFwFMClassifier(max_epochs=10, callbacks=[("prune", prune)], **DEEP)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        est.fit(X, y)
    at_target = est.history[:, "pruned_to_target"]
    first = at_target.index(True)
    assert all(at_target[first:])
    assert first + 1 <= 4  # epoch 1 warm-up, then 28.5% of 9 epochs
    assert est.history[first, "sparsity_dnn"] == pytest.approx(0.9, abs=1e-3)


def test_one_shot_warning_names_the_component():
    X, y = make_data(n=640)
    prune = DeepLightPruning(field_pairs=0.8, warm_up_epochs=1, damping_steps=100)
    est = FwFMClassifier(max_epochs=2, callbacks=[("prune", prune)], **SMALL)
    with pytest.warns(UserWarning, match="pruned field_pairs by (79|80)% of its"):
        est.fit(X, y)


def test_lr_decay_waits_for_the_targets():
    X, y = make_data(n=640, seed=3)
    y = np.random.RandomState(1).permutation(y)  # no signal: valid loss rises
    kw = DEEP | dict(validation_fraction=0.25, batch_size=32, lr=1e-2)
    dense = DeepFwFMClassifier(max_epochs=6, lr_patience=1, **kw).fit(X, y)
    # without pruning every epoch counts: the LR is decayed within 6 epochs
    assert min(dense.history[:, "event_lr"]) < 1e-2
    prune = DeepLightPruning(dnn=0.9, warm_up_epochs=2)
    est = DeepFwFMClassifier(
        max_epochs=12, lr_patience=1, callbacks=[("prune", prune)], **kw
    ).fit(X, y)
    lrs = est.history[:, "event_lr"]
    at_target = est.history[:, "pruned_to_target"]
    first = at_target.index(True)
    assert first >= 2
    # no decay during the warm-up and the ramp
    assert all(lr == pytest.approx(1e-2) for lr in lrs[: first + 1])


def test_final_prune_recomputes_batchnorm_statistics():
    X, y = make_data(n=640)
    # every epoch is warm-up: the final prune is a one-shot prune of 99%
    prune = DeepLightPruning(dnn=0.99, warm_up_epochs=2)
    est = DeepFwFMClassifier(
        max_epochs=2,
        callbacks=[("prune", prune)],
        **(DEEP | dict(batch_norm=True, dropout=0.0)),
    )
    with pytest.warns(UserWarning):
        est.fit(X, y)
    layer = est.module_.dnn.layers[0]
    norm = est.module_.dnn.norms[0]
    dead = (layer.weight.detach() == 0).all(dim=1)
    assert dead.any()
    # a unit without inputs outputs its bias: the recomputed statistics see a
    # constant (those of the unpruned network would not)
    np.testing.assert_allclose(
        norm.running_mean[dead].numpy(), layer.bias.detach()[dead].numpy(), atol=1e-6
    )
    assert float(norm.running_var[dead].max()) < 1e-10
    assert float(norm.running_var[~dead].min()) > 0


@pytest.mark.slow
def test_dnn_pruned_99_never_scores_below_the_model_without_dnn():
    """The D-99% collapse: a 99%-pruned DNN (many hidden units left without
    any input) made DeepFwFM score below its own FwFM part. Under the
    defaults (no BatchNorm) it may not. With ``batch_norm=True`` this
    narrow network still does: see the pruning guide's BatchNorm section."""
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split

    from sklearn_deeplight import FieldEncoder
    from sklearn_deeplight.datasets import make_ctr_classification

    X, y = make_ctr_classification(n_samples=20_000, random_state=0)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, random_state=0
    )
    enc = FieldEncoder(numeric_transform="criteo", min_frequency=5).fit(X_train)
    Z_train, Z_test = enc.transform(X_train), enc.transform(X_test)
    common = dict(
        embedding_dim=8,
        batch_size=512,
        # the rate this check was set up with (lr="auto" at batch 512 is 5e-4,
        # with which the D-99% model is still improving after 10 epochs)
        lr=1e-3,
        max_epochs=10,
        patience=2,
        lr_patience=1,
        embedding_l2=1e-3,
        random_state=0,
    )
    prune = DeepLightPruning(dnn=0.99, field_pairs=0.95, embeddings=0.4)
    pruned = DeepFwFMClassifier(
        hidden_units=(64, 64, 64),
        callbacks=[("prune", prune)],
        **common,
    ).fit(Z_train, y_train)
    without_dnn = FwFMClassifier(**common).fit(Z_train, y_train)
    auc_pruned = roc_auc_score(y_test, pruned.predict_proba(Z_test)[:, 1])
    auc_fwfm = roc_auc_score(y_test, without_dnn.predict_proba(Z_test)[:, 1])
    dead = [int((w.weight == 0).all(dim=1).sum()) for w in pruned.module_.dnn.layers]
    assert sum(dead) > 0  # the situation of the collapse: units without input
    assert auc_pruned >= auc_fwfm, (auc_pruned, auc_fwfm, dead)
