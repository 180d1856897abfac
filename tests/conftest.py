"""Shared test fixtures: the real Criteo rows (skipped when absent)."""

from __future__ import annotations

import os
from pathlib import Path

# scikit-learn's common checks include check_array_api_input with the numpy
# namespace, which skips unless scipy's array API support is on; it must be
# set before scipy is first imported.
os.environ.setdefault("SCIPY_ARRAY_API", "1")

import numpy as np
import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def _criteo_transform(values: np.ndarray) -> np.ndarray:
    """The Criteo winners' transform: floor(log(x)^2) for x > 2, else x."""
    out = values.copy()
    big = out > 2
    out[big] = np.floor(np.log(out[big]) ** 2)
    return out


def encode_criteo_head(
    path: Path, n_train: int = 8000, min_count: int = 4, numeric_as_codes: bool = False
):
    """Time split of Criteo rows encoded as in the paper.

    Numeric fields get the winners' transform (missing -> 0); categorical codes
    are given by order of first appearance in the training rows, values seen
    fewer than ``min_count`` times in the training rows share code 0 (as do
    unseen test values). Returns a DataFrame (float numeric columns, int
    categorical ones) split into train and test. With ``numeric_as_codes`` the
    transformed integer values of I1..I13 become category codes instead (the
    BARS/FuxiCTR Criteo preprocessing), shifted to start at 0.
    """
    import pandas as pd

    names = ["label"] + [f"I{i}" for i in range(1, 14)]
    names += [f"C{i}" for i in range(1, 27)]
    raw = pd.read_csv(path, sep="\t", header=None, names=names, dtype=str)
    raw = raw.fillna("")
    y = raw["label"].astype(np.int64).to_numpy()
    cols = {}
    for name in names[1:14]:
        v = pd.to_numeric(raw[name].replace("", "0")).to_numpy(np.float64)
        v = _criteo_transform(v)
        cols[name] = (v - v.min()).astype(np.int64) if numeric_as_codes else v
    for name in names[14:]:
        train_vals = raw[name].iloc[:n_train]
        counts = train_vals.value_counts()
        kept = [v for v in pd.unique(train_vals) if counts[v] >= min_count]
        mapping = {v: i + 1 for i, v in enumerate(kept)}
        cols[name] = raw[name].map(mapping).fillna(0).astype(np.int64).to_numpy()
    X = pd.DataFrame(cols)
    return X.iloc[:n_train], y[:n_train], X.iloc[n_train:], y[n_train:]


@pytest.fixture(scope="session")
def criteo_split():
    """(X_train, y_train, X_test, y_test) of the Criteo head, 8,000 / 1,999."""
    path = SHARED_DATA / "criteo" / "train_head9999.txt"
    if not path.exists():
        pytest.skip(f"real Criteo rows not found at {path}")
    return encode_criteo_head(path)


@pytest.fixture(scope="session")
def criteo_split_codes():
    """As ``criteo_split``, the transformed numeric values as category codes."""
    path = SHARED_DATA / "criteo" / "train_head9999.txt"
    if not path.exists():
        pytest.skip(f"real Criteo rows not found at {path}")
    return encode_criteo_head(path, min_count=10, numeric_as_codes=True)


@pytest.fixture
def one_thread():
    """One intra-op torch thread: on a shared 2-core box, 2 threads contend."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
