"""
Quick start: a CTR model from raw click logs
=============================================

Five minutes with sklearn-deeplight: generate Criteo-shaped click logs,
encode the raw columns with :class:`~sklearn_deeplight.FieldEncoder`, train
:class:`~sklearn_deeplight.DeepFwFMClassifier` (the DeepLight paper's model)
in a scikit-learn pipeline, evaluate it, and turn it into the torch-free
:class:`~sklearn_deeplight.SparseCTRPredictor` for serving.
"""

# %%
# Click logs
# ----------
# :func:`~sklearn_deeplight.datasets.make_ctr_classification` draws rows that
# look like Criteo's: numeric counts ``I1..`` with missing values and
# categorical fields ``C1..`` of hashed strings whose frequencies follow a
# Zipf law. Clicks come from a known probability with planted field-pair
# interactions, so there is something to learn beyond per-value effects.
from sklearn.metrics import log_loss, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline

from sklearn_deeplight import DeepFwFMClassifier, FieldEncoder, LRClassifier
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
print(f"click rate {y.mean():.3f}")
X.head()

# %%
# Raw columns to field-indexed input
# ----------------------------------
# Every estimator takes one column per field: integer codes for a categorical
# field, a real value for a numeric one. :class:`~sklearn_deeplight.FieldEncoder`
# produces exactly that from raw columns: float columns are numeric (here with
# the Criteo winners' ``log(x)^2`` transform), the others are categorical and
# coded by frequency; values seen fewer than ``min_frequency`` times, and
# values never seen in ``fit``, share an out-of-vocabulary code.
encoder = FieldEncoder(numeric_transform="criteo", min_frequency=2)
encoder.fit_transform(X_train).head()

# %%
# Train DeepFwFM in a pipeline
# ----------------------------
# The networks here are tiny so that this page builds in seconds. By default
# 10% of the training rows are held out to report the validation AUC and log
# loss of every epoch in ``history_``.
model = make_pipeline(
    FieldEncoder(numeric_transform="criteo", min_frequency=2),
    DeepFwFMClassifier(
        embedding_dim=8,
        hidden_units=(32, 32),
        dropout=0.2,
        embedding_l2=3e-3,
        lr=2e-2,
        batch_size=256,
        max_epochs=6,
        random_state=0,
    ),
)
model.fit(X_train, y_train)
proba = model.predict_proba(X_test)[:, 1]
print(f"DeepFwFM test AUC {roc_auc_score(y_test, proba):.4f}")
print(f"DeepFwFM test log loss {log_loss(y_test, proba):.4f}")

# %%
# A baseline: logistic regression on the same encoding
# -----------------------------------------------------
# Any of the seven models drops into the same pipeline.
baseline = make_pipeline(
    FieldEncoder(numeric_transform="criteo", min_frequency=2),
    LRClassifier(lr=1e-2, batch_size=256, max_epochs=6, random_state=0),
)
baseline.fit(X_train, y_train)
proba_lr = baseline.predict_proba(X_test)[:, 1]
print(f"LR test AUC {roc_auc_score(y_test, proba_lr):.4f}")

# %%
# Learning curves
# ---------------
# ``history_`` is skorch's per-epoch record; slicing it by key gives one
# value per epoch.
import matplotlib.pyplot as plt

fig, ax = plt.subplots(figsize=(6, 3.5))
for name, pipe in [("DeepFwFM", model), ("LR", baseline)]:
    history = pipe[-1].history_
    ax.plot(history[:, "epoch"], history[:, "valid_auc"], marker="o", label=name)
ax.set_xlabel("epoch")
ax.set_ylabel("validation AUC")
ax.set_title("Validation AUC per epoch")
ax.legend()
fig.tight_layout()

# %%
# Serve without torch
# -------------------
# ``to_sparse()`` converts the fitted network into a
# :class:`~sklearn_deeplight.SparseCTRPredictor`, a scikit-learn classifier
# that predicts the same probabilities with compiled kernels and no torch.
# Put it behind the fitted encoder and it scores raw rows.
server = make_pipeline(model[0], model[-1].to_sparse())
print(server.predict_proba(X_test[:3]))
print(model.predict_proba(X_test[:3]))
