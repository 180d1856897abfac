"""Early stopping and learning-rate decay together (patience, lr_patience)."""

from __future__ import annotations

import numpy as np
import pytest

from sklearn_deeplight import DeepFwFMClassifier
from tests.test_pruning import DEEP, make_data

# one intra-op torch thread (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def noise():
    X, y = make_data(n=640, seed=3)
    return X, np.random.RandomState(1).permutation(y)  # no signal


KW = DEEP | dict(validation_fraction=0.25, batch_size=32, lr=1e-2)


def _decay_epochs(est) -> list[int]:
    """1-based epochs at whose end the learning rate was divided."""
    lrs = est.history[:, "event_lr"]  # the LR each epoch trained with
    return [i + 1 for i in range(len(lrs) - 1) if lrs[i + 1] < lrs[i]]


def test_lr_patience_zero_decays_after_each_epoch_without_improvement(noise):
    X, y = noise
    est = DeepFwFMClassifier(max_epochs=6, lr_patience=0, **KW).fit(X, y)
    losses = est.history[:, "valid_loss"]
    best = np.minimum.accumulate(losses)
    bad = [i + 1 for i in range(1, len(losses)) if losses[i] >= best[i - 1]]
    assert bad, "the noise should make the validation loss stall"
    # ReduceLROnPlateau(patience=0): every epoch without improvement decays
    assert _decay_epochs(est)[0] == bad[0]


@pytest.mark.parametrize("bad", [-1, 1.5, True, "1"])
def test_lr_patience_must_be_a_non_negative_int(noise, bad):
    X, y = noise
    with pytest.raises(ValueError, match="lr_patience must be None or a non-neg"):
        DeepFwFMClassifier(lr_patience=bad, **KW).fit(X, y)


def test_early_stopping_counts_patience_from_the_last_lr_decay(noise):
    X, y = noise
    est = DeepFwFMClassifier(max_epochs=30, patience=2, lr_patience=1, **KW)
    est.fit(X, y)
    n = len(est.history)
    decays = _decay_epochs(est)
    assert n < 30 and decays  # it stopped, after decaying the LR
    # skorch's own early stopping would stop at the epoch of the first decay
    # (both count 2 epochs without improvement); here each decay gets
    # `patience` epochs of its own
    assert n >= decays[-1] + 2
    # but a plateau that the decays do not lift still stops the run: one
    # reset without an improvement since
    assert len(decays) == 1
    assert est.history[-1, "returned_epoch"] <= n
