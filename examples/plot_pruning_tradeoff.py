"""
DeepLight pruning: accuracy against latency
===========================================

DeepLight prunes a DeepFwFM while it trains: the hidden-layer weights of the
DNN (``dnn``), the field-pair matrix R (``field_pairs``) and the embedding
table (``embeddings``), each to its own target sparsity. The pruned network
is then served by :class:`~sklearn_deeplight.SparseCTRPredictor`, whose cost
falls with the surviving weights.

This example trains the same model at several DNN sparsity targets (the
paper's Fig. 4, on a tiny scale), then measures test AUC and the time to score
one request and a batch of 1,000 with the sparse predictor.
"""

# %%
# Data and a model factory
# ------------------------
# All models share the data, the split, the seed and the hyper-parameters;
# only the pruning targets change. A DNN of 128 x 128 units makes the DNN the
# dominant cost, as it is in the paper.
import time

import numpy as np
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

from sklearn_deeplight import DeepFwFMClassifier, DeepLightPruning, FieldEncoder
from sklearn_deeplight.datasets import make_ctr_classification

X, y = make_ctr_classification(
    n_samples=12_000,
    n_numeric=3,
    n_categorical=10,
    cardinalities=[3, 5, 10, 20, 30, 50, 80, 100, 150, 200],
    n_interactions=6,
    interaction_strength=1.5,
    random_state=0,
)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.25, stratify=y, random_state=0
)
encoder = FieldEncoder(numeric_transform="criteo", min_frequency=2).fit(X_train)
Z_train, Z_test = encoder.transform(X_train), encoder.transform(X_test)


def make_model(dnn=0.0, field_pairs=0.0, embeddings=0.0):
    callbacks = None
    if dnn or field_pairs or embeddings:
        # The defaults: one dense warm-up epoch, then the schedule ramps the
        # rates to the targets over 28.5% of the remaining iterations
        # (damping_steps="auto" scales the paper's constant to this short
        # run), and the rest fine-tunes the pruned network.
        prune = DeepLightPruning(
            dnn=dnn, field_pairs=field_pairs, embeddings=embeddings
        )
        callbacks = [("prune", prune)]
    return DeepFwFMClassifier(
        embedding_dim=8,
        hidden_units=(128, 128),
        dropout=0.2,
        embedding_l2=3e-3,
        lr=2e-2,
        batch_size=256,
        max_epochs=6,
        validation_fraction=None,
        random_state=0,
        callbacks=callbacks,
    )


# %%
# Train at increasing DNN sparsity
# --------------------------------
# With ``R`` pruned to 90% as well from 90% DNN sparsity on, like the paper's
# latency-driven structures.
structures = [
    {"dnn": 0.0},
    {"dnn": 0.5},
    {"dnn": 0.9, "field_pairs": 0.9},
    {"dnn": 0.98, "field_pairs": 0.9},
]
fitted = {}
for targets in structures:
    label = "D-{:.0%} R-{:.0%}".format(targets["dnn"], targets.get("field_pairs", 0))
    fitted[label] = make_model(**targets).fit(Z_train, y_train)

# %%
# Every fitted model meets its targets exactly; ``sparsity_report()`` counts
# the nonzero weights per component.
fitted["D-98% R-90%"].sparsity_report()


# %%
# Accuracy and latency of the sparse predictor
# --------------------------------------------
# ``index_input`` validates and indexes a batch once; timing
# ``decision_function_indexed`` then measures the model itself (the kernels
# are compiled on first use, outside the timed loop). A median over repeats
# keeps the numbers stable on a busy machine.
def median_seconds(func, *args, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        func(*args)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


rows = []
for label, est in fitted.items():
    predictor = est.to_sparse()
    xi, xv = predictor.index_input(Z_test)
    one = xi[:1].copy(), xv[:1].copy()
    batch = xi[:1000].copy(), xv[:1000].copy()
    score = predictor.decision_function_indexed
    score(*one)  # compile the kernels (cached on disk) before timing
    rows.append(
        {
            "structure": label,
            "AUC": roc_auc_score(y_test, predictor.predict_proba(Z_test)[:, 1]),
            "nonzero DNN": int(predictor.n_params_["dnn"]),
            "us / request": 1e6 * median_seconds(score, *one, repeats=2000),
            "ms / 1000 rows": 1e3 * median_seconds(score, *batch, repeats=50),
        }
    )

import pandas as pd

results = pd.DataFrame(rows).set_index("structure")
results["speed-up"] = results["us / request"].iloc[0] / results["us / request"]
results.round(4)

# %%
# The trade-off
# -------------
# Read the AUC column against the latency columns: the time per request
# follows the DNN's nonzero weights down to the floor set by the embedding
# gather and the field pairs, while the accuracy is what this build measured.
# On a problem this small the AUC differences between structures are of the
# order of the run-to-run noise; the paper's claim (46x faster at the dense
# model's AUC on Criteo) is for a 400 x 3 DNN trained 10 epochs on 41M rows,
# see :ref:`reproducing` and :ref:`benchmarks`.
import matplotlib.pyplot as plt

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.5))
ax1.plot(results["us / request"], results["AUC"], "o")
for label, row in results.iterrows():
    ax1.annotate(label, (row["us / request"], row["AUC"]), fontsize=8)
ax1.set_xlabel("microseconds per request (batch 1)")
ax1.set_ylabel("test AUC")
ax1.set_title("Accuracy against latency")
ax2.bar(results.index, results["speed-up"])
ax2.set_ylabel("speed-up over the dense model")
ax2.set_title("Sparse predictor, batch 1")
ax2.tick_params(axis="x", labelrotation=20)
fig.tight_layout()
