"""
Field-pair importance: reading R
================================

FwFM and DeepFwFM weigh the interaction of every pair of fields ``(i, j)`` by
a learnt scalar ``R[i, j]`` (the paper's eq. 6). ``field_pair_importance()``
returns R as a labelled DataFrame: large magnitudes mark the field pairs the
model relies on, and pruning R (``DeepLightPruning(field_pairs=...)``) is
field-pair *selection*: a pruned pair costs nothing at prediction time.

On generated data the true pairs are known, so we can check that R finds them.
"""

# %%
# Data with planted field pairs
# -----------------------------
# ``return_truth=True`` also returns the planted pairs. Eight categorical
# fields of 20 values each, four planted pairs.
import numpy as np

from sklearn_deeplight import DeepLightPruning, FwFMClassifier
from sklearn_deeplight.datasets import make_ctr_classification

X, y, truth = make_ctr_classification(
    n_samples=10_000,
    n_numeric=0,
    n_categorical=8,
    cardinalities=[20] * 8,
    n_interactions=4,
    interaction_strength=1.5,
    categorical_values="int",
    return_truth=True,
    random_state=0,
)
print("planted pairs:", truth.interactions)

# %%
# With ``categorical_values="int"`` the columns are already valid field codes,
# so the model takes ``X`` as it is.
fwfm = FwFMClassifier(
    embedding_dim=8,
    linear_term="feature_vector",
    lr=2e-2,
    batch_size=256,
    max_epochs=8,
    random_state=0,
).fit(X, y)
R = fwfm.field_pair_importance()
R.round(2)

# %%
# The strongest pairs
# -------------------
# Rank the upper triangle of ``|R|``; the planted pairs should come first.
upper = np.triu(np.ones(R.shape, dtype=bool), k=1)
ranked = R.abs().where(upper).stack().sort_values(ascending=False)
planted = {frozenset(p) for p in truth.interactions}
top = ranked.head(6).to_frame("|R|")
top["planted"] = [frozenset(pair) in planted for pair in top.index]
top.round(3)

# %%
# Heatmaps of R, dense and pruned
# -------------------------------
# Training again with ``DeepLightPruning(field_pairs=0.75)`` keeps the
# strongest quarter of the 28 pairs (7) and sets the others exactly to zero.
# Planted pairs are outlined.
pruned = FwFMClassifier(
    embedding_dim=8,
    linear_term="feature_vector",
    lr=2e-2,
    batch_size=256,
    max_epochs=8,
    random_state=0,
    callbacks=[
        (
            "prune",
            DeepLightPruning(field_pairs=0.75),
        )
    ],
).fit(X, y)
R_pruned = pruned.field_pair_importance()
print(f"pairs kept: {int((R_pruned.to_numpy()[upper] != 0).sum())} of {upper.sum()}")

import matplotlib.pyplot as plt

from sklearn_deeplight import FieldPairImportanceDisplay

fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
vmax = float(np.abs(R.to_numpy()).max())  # one colour scale for both
for ax, est, title in [
    (axes[0], fwfm, "R, dense FwFM"),
    (axes[1], pruned, "R, pruned to 75%"),
]:
    FieldPairImportanceDisplay.from_estimator(
        est, ax=ax, vmax=vmax, highlight=truth.interactions, colorbar=ax is axes[1]
    )
    ax.set_title(title)
