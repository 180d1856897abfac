"""
Serving with the sparse predictor
=================================

A pruned model only pays off at serving time if the zeros are skipped.
``est.to_sparse()`` returns a :class:`~sklearn_deeplight.SparseCTRPredictor`:
a fitted scikit-learn classifier that stores the surviving weights in sparse
structures (CSR layers, the list of surviving field pairs, a bitmask-compressed
embedding table) and scores with fused compiled kernels. It needs neither
torch nor skorch, so the process that serves it can do without them.

This example checks that the predictor predicts what the network predicts,
compares saved sizes and per-batch latency, and loads the predictor in a
fresh Python process where importing torch is made impossible.
"""

# %%
# A pruned DeepFwFM
# -----------------
# The paper's "high performance" structure D-90% R-90% F-40%: 90% of the DNN
# weights and of the field pairs, 40% of the embedding entries pruned.
import numpy as np
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline

from sklearn_deeplight import DeepFwFMClassifier, DeepLightPruning, FieldEncoder
from sklearn_deeplight.datasets import make_ctr_classification

X, y = make_ctr_classification(
    n_samples=10_000,
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
model = make_pipeline(
    FieldEncoder(numeric_transform="criteo", min_frequency=2),
    DeepFwFMClassifier(
        embedding_dim=8,
        hidden_units=(128, 128),
        dropout=0.2,
        embedding_l2=3e-3,
        lr=2e-2,
        batch_size=256,
        max_epochs=4,
        validation_fraction=None,
        random_state=0,
        callbacks=[
            (
                "prune",
                DeepLightPruning(dnn=0.9, field_pairs=0.9, embeddings=0.4),
            )
        ],
    ),
).fit(X_train, y_train)
encoder, est = model[0], model[-1]
est.sparsity_report()

# %%
# The predictor predicts what the network predicts
# ------------------------------------------------
# Both engines compute the network's arithmetic in float32; the difference to
# torch is rounding. ``dtype="float16"`` also stores the embedding values in
# half precision (smaller file, slightly different predictions).
Z_test = encoder.transform(X_test)
dense = est.predict_proba(Z_test)[:, 1]
for kwargs in [{"engine": "numba"}, {"engine": "scipy"}, {"dtype": "float16"}]:
    pred = est.to_sparse(**kwargs)
    diff = np.abs(pred.predict_proba(Z_test)[:, 1] - dense).max()
    print(f"to_sparse({kwargs}): max |p - p_torch| = {diff:.2e}")

predictor = est.to_sparse()
predictor.n_params_

# %%
# Saved size
# ----------
# The predictor pickles to the nonzero values plus a bitmask of where they
# are; the dense estimator pickles the full network (and skorch's state).
import io

import joblib


def saved_bytes(obj):
    buffer = io.BytesIO()
    joblib.dump(obj, buffer)
    return buffer.getbuffer().nbytes


sizes = {
    "DeepFwFMClassifier (torch)": saved_bytes(est),
    "SparseCTRPredictor float32": saved_bytes(predictor),
    "SparseCTRPredictor float16": saved_bytes(est.to_sparse(dtype="float16")),
}
for name, size in sizes.items():
    print(f"{name:28s} {size / 1e3:8.1f} kB")

# %%
# Latency per batch size
# ----------------------
# Time ``predict_proba`` on already-encoded rows (the encoder's cost is the
# same for both) for the torch estimator and for the predictor, and the
# predictor's lean path: ``index_input`` once, then
# ``decision_function_indexed`` (the kernels alone, what a server that has
# validated its rows pays). The numba kernels are compiled on first use and
# cached on disk, so a first call is made before timing.
import time

import pandas as pd


def median_seconds(func, *args, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        func(*args)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


predictor.predict_proba(Z_test[:1])
rows = []
for batch in [1, 16, 256, 2048]:
    Zb = Z_test.iloc[:batch]
    xi, xv = predictor.index_input(Zb)
    repeats = 50 if batch < 256 else 10
    rows.append(
        {
            "batch": batch,
            "torch estimator": 1e3
            * median_seconds(est.predict_proba, Zb, repeats=repeats),
            "sparse predictor": 1e3
            * median_seconds(predictor.predict_proba, Zb, repeats=repeats),
            "sparse, indexed rows": 1e3
            * median_seconds(
                predictor.decision_function_indexed, xi, xv, repeats=repeats
            ),
        }
    )
latency = pd.DataFrame(rows).set_index("batch")
print("milliseconds per call")
latency.round(3)

# %%
import matplotlib.pyplot as plt

fig, ax = plt.subplots(figsize=(6, 3.5))
for column in latency.columns:
    ax.loglog(latency.index, latency[column], marker="o", label=column)
ax.set_xlabel("rows per call")
ax.set_ylabel("milliseconds per call")
ax.set_title("Scoring latency")
ax.legend()
fig.tight_layout()

# %%
# Serving raw rows, without torch
# -------------------------------
# The fitted encoder and the predictor form a pipeline that scores raw
# click-log rows. Saved with joblib, it loads in a process where importing
# torch or skorch fails: :mod:`sklearn_deeplight` imports its public names
# lazily and neither the encoder's nor the predictor's module imports torch.
#
# Only load pickles you trust: unpickling runs code named in the file (see
# :ref:`persistence`).
import subprocess
import sys
import tempfile
from pathlib import Path

server = make_pipeline(encoder, predictor)
with tempfile.TemporaryDirectory() as tmp:
    path = Path(tmp) / "server.joblib"
    joblib.dump(server, path)
    X_test.head(3).to_pickle(Path(tmp) / "rows.pkl")
    script = f"""
import sys

class BlockTorch:  # make importing torch or skorch fail, as if not installed
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "skorch"):
            raise ImportError(f"{{name}} is blocked")

sys.meta_path.insert(0, BlockTorch())
import joblib, pandas as pd
server = joblib.load({str(path)!r})
rows = pd.read_pickle({str(Path(tmp) / "rows.pkl")!r})
print("served:", server.predict_proba(rows)[:, 1])
print("torch or skorch imported:", any(
    m.split(".")[0] in ("torch", "skorch") for m in sys.modules))
"""
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
print(out.stdout)
print("torch model:", model.predict_proba(X_test.head(3))[:, 1])
