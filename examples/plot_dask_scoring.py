"""
Scoring and searching on Dask
=============================

Two ways to scale sklearn-deeplight out with `Dask <https://www.dask.org>`_:

- **batch scoring**: a fitted encoder and torch-free
  :class:`~sklearn_deeplight.SparseCTRPredictor` applied to every partition
  of a Dask DataFrame, with :func:`sklearn_deeplight.dask.predict_proba` or
  by hand with ``map_partitions``;
- **model selection**: scikit-learn's joblib parallelism sent to a Dask
  cluster with ``joblib.parallel_config(backend="dask")``, here for a search
  over sparsity rates.

The "cluster" here is a small in-process one so that the page builds on any
machine; on a real cluster only the ``Client`` line changes (and the package
must be installed on the workers). Without ``dask.distributed`` (the
``dask`` extra) the example falls back to Dask's synchronous scheduler and
joblib's default backend.
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
    prune = DeepLightPruning(dnn=dnn, field_pairs=field_pairs)
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
encoder, predictor = model[0], model[-1].to_sparse()

# %%
# Start a cluster, or fall back
# -----------------------------
# ``processes=False`` keeps the worker in this process (threads); on a real
# deployment pass the scheduler's address to ``Client``.
# :func:`~sklearn_deeplight.dask.set_worker_threads` gives every worker one
# torch thread, so that workers sharing a machine do not oversubscribe it.
import dask
import dask.dataframe as dd

try:
    from dask.distributed import Client

    from sklearn_deeplight.dask import predict_proba, set_worker_threads
except ImportError:  # the dask extra is not installed
    client = None
    dask.config.set(scheduler="synchronous")
    print("dask.distributed is not installed: synchronous scheduler")
else:
    client = Client(processes=False, n_workers=1, threads_per_worker=2)
    print("torch threads per worker:", set_worker_threads(client, 1))

# %%
# Batch scoring
# -------------
# New click logs as a Dask DataFrame of 8 partitions (built here from
# generated rows; in practice ``dd.read_parquet`` or ``dd.read_csv``).
# :func:`sklearn_deeplight.dask.predict_proba` ships the encoder and the
# predictor to each worker once and returns a lazy Dask Array.
import numpy as np
import pandas as pd

X_new, y_new = make_ctr_classification(n_samples=40_000, random_state=1, **generator)
ddf = dd.from_pandas(X_new, npartitions=8)
local = predictor.predict_proba(encoder.transform(X_new))[:, 1]

if client is not None:
    proba = predict_proba(predictor, ddf, encoder=encoder)
    pctr = proba[:, 1].compute()
    print("identical to local scoring:", np.array_equal(pctr, local))

# %%
# The same by hand, with any scheduler: the function applied to each
# partition gets a pandas DataFrame and returns a Series with the
# partition's index. Passing the fitted objects as arguments of
# ``map_partitions`` puts them in the task graph once.
server = make_pipeline(encoder, predictor)


def score_partition(part, server):
    return pd.Series(server.predict_proba(part)[:, 1], index=part.index, name="pctr")


pctr_series = ddf.map_partitions(
    score_partition, server, meta=pd.Series(dtype="float64", name="pctr")
)
by_hand = pctr_series.compute().to_numpy()
print("identical to local scoring:", np.array_equal(by_hand, local))

# %%
# Predicted against observed click rate per partition, a quick calibration
# check of what the cluster computed:
frame = pd.DataFrame({"click": y_new, "pctr": by_hand})
frame["partition"] = np.repeat(
    np.arange(ddf.npartitions), [len(p) for p in ddf.partitions]
)
per_partition = frame.groupby("partition")[["click", "pctr"]].mean()

import matplotlib.pyplot as plt

fig, ax = plt.subplots(figsize=(5, 3.5))
ax.plot(per_partition.index, per_partition["click"], "o-", label="observed")
ax.plot(per_partition.index, per_partition["pctr"], "s--", label="predicted")
ax.set_xlabel("partition")
ax.set_ylabel("click rate")
ax.set_title("Click rate per partition")
ax.legend()
fig.tight_layout()

# %%
# Grid search on the cluster
# --------------------------
# Under ``joblib.parallel_config(backend="dask")`` the fits of
# ``GridSearchCV(n_jobs=-1)`` run on the workers and the refit here;
# ``scatter`` ships the data to each worker once. Without a distributed
# client the same search runs on joblib's default backend.
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
if client is not None:
    backend = joblib.parallel_config(backend="dask", scatter=[X_train, y_train])
else:
    backend = nullcontext()
with backend:
    search.fit(X_train, y_train)
pd.DataFrame(search.cv_results_)[["param_" + prefix + "dnn", "mean_test_score"]]

# %%
if client is not None:
    client.close()
