"""
Reading a Criteo-format click log
=================================

Criteo's Kaggle ``train.txt`` is a tab-separated file without a header: the
label, 13 integer counts ``I1..I13`` and 26 hashed categoricals ``C1..C26``,
an empty field being a missing value.
:func:`~sklearn_deeplight.datasets.load_criteo` reads that layout (also
gzip, bz2 or xz compressed) into a DataFrame of raw columns, in one piece or
in chunks for files larger than memory.

This example writes a small log in that layout from generated rows, reads it
back in chunks, learns the encoding with ``FieldEncoder.partial_fit`` as the
authors preprocess Criteo (the winners' ``log(x)^2`` transform, rare values
folded), and trains a model on it.
"""

# %%
# Write a Criteo-format log
# -------------------------
# :func:`~sklearn_deeplight.datasets.make_ctr_classification` with its
# defaults has Criteo's 13 numeric and 26 categorical fields, with 8-hex-digit
# values. Written with the label first, tab-separated, gzip-compressed.
import gzip
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from sklearn_deeplight.datasets import load_criteo, make_ctr_classification

X_raw, y_raw = make_ctr_classification(n_samples=12_000, random_state=0)
log = pd.concat([pd.Series(y_raw, name="label"), X_raw], axis=1)
numeric = [f"I{i}" for i in range(1, 14)]
log[numeric] = log[numeric].astype("Int64")  # integer counts, <NA> when missing

tmp = tempfile.TemporaryDirectory()
path = Path(tmp.name) / "train.txt.gz"
with gzip.open(path, "wt") as f:
    log.to_csv(f, sep="\t", header=False, index=False, na_rep="")
with gzip.open(path, "rt") as f:
    print(repr(f.readline()[:120]) + " ...")

# %%
# Read it in chunks
# -----------------
# ``chunksize`` turns the reader into an iterator of ``(X, y)`` pairs with a
# continuing index. Malformed lines raise by default; ``on_bad_lines="warn"``
# or ``"skip"`` drops them and counts them in ``X.attrs["n_bad_lines"]``.
from sklearn_deeplight import FieldEncoder

encoder = FieldEncoder(numeric_transform="criteo", min_frequency=8)
n_rows = n_clicks = 0
for X_chunk, y_chunk in load_criteo(path, chunksize=4_000):
    encoder.partial_fit(X_chunk)
    n_rows += len(X_chunk)
    n_clicks += int(y_chunk.sum())
print(f"read {n_rows} rows ({n_clicks} clicks) in chunks")
X_chunk.dtypes.value_counts()

# %%
# The encoding learnt from the whole file
# ---------------------------------------
# Float columns (``I1..I13``) are numeric fields, one embedding each, scaled
# by ``floor(log(x)^2)`` for ``x > 2``; string columns are categorical fields
# whose values seen fewer than 8 times share the out-of-vocabulary code. The
# field sizes show what ``min_frequency`` keeps of the Zipf tails.
dims = pd.Series(encoder.field_dims_, index=encoder.feature_names_in_)
print(
    f"embedding rows: {int(dims.sum())}, numeric fields: {len(encoder.numeric_fields_)}"
)

import matplotlib.pyplot as plt

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.5))
cat = dims.drop(index=numeric)
ax1.bar(cat.index, cat.to_numpy())
ax1.set_yscale("log")
ax1.set_title("codes per categorical field (min_frequency=8)")
ax1.tick_params(axis="x", labelrotation=90, labelsize=7)
X_all, y_all = load_criteo(path)
raw = X_all["I5"].dropna().to_numpy()
ax2.hist(
    [np.log1p(raw), encoder.transform(X_all)["I5"].to_numpy()],
    bins=30,
    label=["log1p(raw I5)", "criteo transform of I5"],
)
ax2.set_title("a numeric field before and after the transform")
ax2.legend()
fig.tight_layout()

# %%
# Train on the encoded log
# ------------------------
# The encoded frame has int64 codes and float64 values, so the model finds
# the numeric fields by dtype (``numeric_fields="auto"``).
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

from sklearn_deeplight import FwFMClassifier

Z = encoder.transform(X_all)
Z_train, Z_test, y_train, y_test = train_test_split(
    Z, y_all, test_size=0.25, stratify=y_all, random_state=0
)
fwfm = FwFMClassifier(
    embedding_dim=8,
    linear_term="feature_vector",
    embedding_l2=1e-2,
    lr=1e-2,
    batch_size=256,
    max_epochs=3,
    random_state=0,
).fit(Z_train, y_train)
print(f"FwFM test AUC {roc_auc_score(y_test, fwfm.predict_proba(Z_test)[:, 1]):.4f}")
tmp.cleanup()
