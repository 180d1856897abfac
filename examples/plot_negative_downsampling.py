"""
Negative downsampling and recalibration
=======================================

Click logs are dominated by non-clicks, so production pipelines often keep
every click but only a fraction ``r`` of the non-clicks (He et al., ADKDD'14:
"negative downsampling"). A model trained on the sampled rows ranks as well
as one trained on all rows, but its probabilities describe the sampled
click rate, several times the real one. ``negative_sampling_rate=r``
recalibrates them to the full population,
``q = p / (p + (1 - p) / r)`` (``log r`` added to the logit), in
``predict_proba`` and in the sparse predictor alike.

Here: all rows against 10% of the non-clicks, with and without the
correction, scored on the same held-out rows (which keep all non-clicks).
"""

# %%
# Data and the downsampled training rows
# --------------------------------------
import numpy as np
from sklearn.metrics import log_loss, roc_auc_score
from sklearn.model_selection import train_test_split

from sklearn_deeplight import FwFMClassifier
from sklearn_deeplight.datasets import make_ctr_classification

X, y = make_ctr_classification(
    n_samples=60_000,
    n_numeric=0,
    n_categorical=10,
    cardinalities=[5, 10, 20, 30, 50, 80, 100, 150, 200, 300],
    categorical_values="int",
    click_rate=0.05,
    interaction_strength=1.5,
    random_state=0,
)
X = X.to_numpy()
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.25, stratify=y, random_state=0
)
rate = 0.1
keep = (y_train == 1) | (np.random.RandomState(0).rand(len(y_train)) < rate)
print(
    f"full: {len(y_train):,} rows, click rate {y_train.mean():.3f}; "
    f"sampled: {keep.sum():,} rows, click rate {y_train[keep].mean():.3f}"
)

# %%
# Three models
# ------------
# The same settings for all three; the corrected model is the sampled model
# with ``negative_sampling_rate`` set (training is identical).
params = dict(embedding_dim=8, lr=3e-3, batch_size=512, max_epochs=6, random_state=0)
full = FwFMClassifier(**params).fit(X_train, y_train)
sampled = FwFMClassifier(**params).fit(X_train[keep], y_train[keep])
corrected = FwFMClassifier(**params, negative_sampling_rate=rate).fit(
    X_train[keep], y_train[keep]
)

rows = []
for name, est in [
    ("all rows", full),
    ("10% of non-clicks", sampled),
    ("10% of non-clicks, corrected", corrected),
]:
    p = est.predict_proba(X_test)[:, 1]
    rows.append((name, roc_auc_score(y_test, p), log_loss(y_test, p), p.mean()))
print(f"{'model':32s} {'AUC':>7s} {'logloss':>8s} {'mean p':>7s}")
for name, auc, ll, mean in rows:
    print(f"{name:32s} {auc:7.4f} {ll:8.4f} {mean:7.4f}")
print(f"{'(test click rate)':32s} {'':7s} {'':8s} {y_test.mean():7.4f}")

# %%
# Calibration
# -----------
# Mean predicted probability against the observed click rate, per decile of
# the prediction: the uncorrected model sits far above the diagonal, the
# corrected one on it, like the model trained on every row.
import matplotlib.pyplot as plt
from sklearn.calibration import calibration_curve

fig, ax = plt.subplots(figsize=(5, 4.5))
for (name, *_), est in zip(rows, [full, sampled, corrected]):
    p = est.predict_proba(X_test)[:, 1]
    observed, predicted = calibration_curve(y_test, p, n_bins=10, strategy="quantile")
    ax.plot(predicted, observed, marker="o", label=name)
top = max(ax.get_xlim()[1], ax.get_ylim()[1])
ax.plot([0, top], [0, top], color="grey", lw=1, ls="--")
ax.set_xlabel("mean predicted click probability")
ax.set_ylabel("observed click rate")
ax.legend()
fig.tight_layout()
