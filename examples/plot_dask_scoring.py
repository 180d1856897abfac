"""
Scoring and searching on Dask
=============================

Two ways to scale sklearn-deeplight out with `Dask <https://www.dask.org>`_:

- **batch scoring**: a fitted serving pipeline (encoder + torch-free
  :class:`~sklearn_deeplight.SparseCTRPredictor`) applied to every partition
  of a :mod:`dask.dataframe` with ``map_partitions``;
- **model selection**: scikit-learn's joblib parallelism sent to a Dask
  cluster with ``joblib.parallel_backend("dask")``, here for a search over
  sparsity rates.

Here the "cluster" is a small in-process one so that the page builds on any
machine; with ``dask.distributed`` missing the example falls back to Dask's
synchronous scheduler and joblib's default backend. On a real cluster only
the ``Client`` line changes (and the package must be installed on the
workers).
"""

# %%
# A serving pipeline
# ------------------
# Train on a sample, prune, and keep the encoder and the sparse predictor.
from sklearn.pipeline import make_pipeline

from sklearn_deeplight import DeepFwFMClassifier, DeepLightPruning, FieldEncoder
from sklearn_deeplight.datasets import make_ctr_classification

generator = dict(
    n_numeric=3,
    n_categorical=10,
    cardinalities=[3, 5, 10, 20, 30, 50, 80, 100, 150, 200],
    n_interactions=6,
    interaction_strength=1.5,
)
X_train, y_train = make_ctr_classification(n_samples=6_000, random_state=0, **generator)


def make_model(dnn=0.9, field_pairs=0.9):
    prune = DeepLightPruning(
        dnn=dnn, field_pairs=field_pairs, warm_up_epochs=1, damping_steps="auto"
    )
    return make_pipeline(
        FieldEncoder(numeric_transform="criteo", min_frequency=2),
        DeepFwFMClassifier(
            embedding_dim=8,
            hidden_units=(32, 32),
            dropout=0.2,
            embedding_l2=3e-3,
            lr=2e-2,
            batch_size=256,
            max_epochs=3,
            validation_fraction=None,
            random_state=0,
            callbacks=[("prune", prune)],
        ),
    )


model = make_model().fit(X_train, y_train)
server = make_pipeline(model[0], model[-1].to_sparse())

# %%
# Start a cluster, or fall back
# -----------------------------
# ``processes=False`` keeps the workers in this process (threads); on a real
# deployment pass the scheduler's address to ``Client``.
import dask
import dask.dataframe as dd

try:
    from dask.distributed import Client

    client = Client(processes=False, n_workers=1, threads_per_worker=2)
    print("dask.distributed client with", len(client.nthreads()), "worker(s)")
except ImportError:  # dask[distributed] not installed
    client = None
    dask.config.set(scheduler="synchronous")
    print("dask.distributed not installed: synchronous scheduler")

# %%
# Batch scoring with ``map_partitions``
# -------------------------------------
# New click logs, as a Dask DataFrame of 8 partitions (here built from
# generated rows; in practice ``dd.read_parquet`` or ``dd.read_csv``). The
# function applied to each partition gets a pandas DataFrame and returns the
# click probabilities as a Series with the partition's index. With a
# distributed client, ``client.scatter(server, broadcast=True)`` ships the
# model to every worker once; passing it as an argument of
# ``map_partitions`` works with any scheduler.
import pandas as pd

X_new, y_new = make_ctr_classification(n_samples=40_000, random_state=1, **generator)
X_new["click"] = y_new
ddf = dd.from_pandas(X_new, npartitions=8)
features = list(X_train.columns)


def score_partition(part, server):
    proba = server.predict_proba(part[features])[:, 1]
    return pd.Series(proba, index=part.index, name="pctr")


pctr = ddf.map_partitions(
    score_partition, server, meta=pd.Series(dtype="float64", name="pctr")
)
scored = ddf.assign(pctr=pctr)
summary = scored[["click", "pctr"]].mean().compute()
summary

# %%
# Compare with scoring the same rows in one process:
import numpy as np

local = server.predict_proba(X_new[features])[:, 1]
distributed = pctr.compute().to_numpy()
print("identical to local scoring:", np.array_equal(local, distributed))

# %%
# Predicted against observed click rate per partition, a quick calibration
# check of what the cluster computed:
per_partition = scored.map_partitions(
    lambda p: pd.DataFrame({"click": [p["click"].mean()], "pctr": [p["pctr"].mean()]}),
    meta=pd.DataFrame(
        {"click": pd.Series(dtype="float64"), "pctr": pd.Series(dtype="float64")}
    ),
).compute()

import matplotlib.pyplot as plt

fig, ax = plt.subplots(figsize=(5, 3.5))
ax.plot(range(len(per_partition)), per_partition["click"], "o-", label="observed")
ax.plot(range(len(per_partition)), per_partition["pctr"], "s--", label="predicted")
ax.set_xlabel("partition")
ax.set_ylabel("click rate")
ax.set_title("Click rate per partition")
ax.legend()
fig.tight_layout()

# %%
# Grid search on the cluster
# --------------------------
# ``joblib.parallel_backend("dask")`` sends the fits of ``GridSearchCV``
# (``n_jobs=-1``) to the workers; the refit happens here. The backend needs
# a distributed client; without one the same code runs on joblib's default
# backend.
from contextlib import nullcontext

import joblib
from sklearn.model_selection import GridSearchCV

prefix = "deepfwfmclassifier__callbacks__prune__"
search = GridSearchCV(
    make_model(),
    {prefix + "dnn": [0.5, 0.95]},
    scoring="roc_auc",
    cv=2,
    n_jobs=-1 if client is not None else 1,
)
backend = joblib.parallel_backend("dask") if client is not None else nullcontext()
with backend:
    search.fit(X_train, y_train)
pd.DataFrame(search.cv_results_)[["param_" + prefix + "dnn", "mean_test_score"]]

# %%
if client is not None:
    client.close()
