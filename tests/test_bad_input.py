"""Catalogue of malformed input fed to every public entry point (issue 8, part 2).

Every case names an entry point, an input and the documented outcome:
``works``, ``ValueError`` or ``TypeError`` (a missing file: the standard
``FileNotFoundError``; the command: its exit codes 0, 1 and 2, never an
exception). A raised error must name the problem (a regular expression on its
message). A case passes only if, in addition, the call

- raises no other exception type and does not hang (an alarm stops it),
- returns no NaN probability for finite input,
- leaves the caller's arrays, frames and files exactly as they were.

Cases that expose a bug elsewhere are ``xfail(strict=True)`` with the reason,
so that the catalogue stays honest and fails when the bug is fixed. The
outcome of every case is written to ``bad_input_catalogue.json`` and
``bad_input_catalogue.txt`` in pytest's base temporary folder, and a summary
is printed at the end of the module (visible with ``-s``).

Numerical safety (part 3) is tested at the end: divergence stops with the
epoch, the batch and a hint; ``predict_proba`` stays exact at extreme logits.
"""

from __future__ import annotations

import copy
import dataclasses
import gzip
import json
import re
import signal
import warnings
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy.special import expit

from sklearn_deeplight import DeepFwFMClassifier, FieldEncoder, FMClassifier
from sklearn_deeplight._persistence import load, save
from sklearn_deeplight.datasets import load_avazu, load_criteo, load_libffm

try:
    from sklearn_deeplight.cli import main as cli_main
except ImportError:  # pragma: no cover - the command is optional
    cli_main = None

CASE_TIMEOUT_S = 60
_SMALL = dict(
    embedding_dim=3,
    hidden_units=(6,),
    batch_size=32,
    max_epochs=1,
    random_state=0,
    validation_fraction=None,
    lr=1e-2,
)
N_FIT = 48
CARD = (7, 5, 9)  # categorical fields 0..2; field 3 is numeric


# ----------------------------------------------------------------------
# Inputs
# ----------------------------------------------------------------------
def _X(n: int = N_FIT, seed: int = 0) -> np.ndarray:
    rng = np.random.RandomState(seed)
    cols = [rng.randint(0, c, n).astype(float) for c in CARD]
    return np.column_stack(cols + [rng.randn(n)])


def _y(n: int = N_FIT) -> np.ndarray:
    return np.arange(n) % 2


def _df(X: np.ndarray) -> pd.DataFrame:
    frame = pd.DataFrame(X, columns=["c0", "c1", "c2", "num"])
    return frame.astype({"c0": int, "c1": int, "c2": int})


def _nullable(X: np.ndarray) -> pd.DataFrame:
    """Codes as pandas nullable Int64 columns with a missing value (pd.NA)."""
    frame = _df(X).astype({"c1": "Int64"})
    frame.loc[2, "c1"] = pd.NA
    return frame


def _with(value, col: int = 0, row: int = 1, dtype=float) -> np.ndarray:
    X = _X(8).astype(dtype)
    X[row, col] = value
    return X


def _object_with(value, col: int = 0) -> np.ndarray:
    X = _X(8).astype(object)
    X[1, col] = value
    return X


def _raw(n: int = 12) -> pd.DataFrame:
    rng = np.random.RandomState(0)
    return pd.DataFrame(
        {
            "site": rng.choice(["a", "b", "c"], n),
            "app": rng.choice(["x", "y"], n).astype(object),
            "count": rng.rand(n) * 10,
        }
    )


def _raw_with(col: str, value) -> pd.DataFrame:
    X = _raw(6)
    X[col] = X[col].astype(object)
    X.loc[1, col] = value
    return X


#: (name, input factory, outcome per X entry point, regex the error must match).
#: Entry points: fit / partial_fit (a second call) / predict (estimator and
#: sparse predictor, fitted on an ndarray with numeric field 3).
_FIT, _PFIT, _PRED = "fit", "partial_fit", "predict"
_ALL = (_FIT, _PFIT, _PRED)
X_CASES: list[tuple[str, Callable[[], Any], dict[str, str], str | None]] = [
    ("valid float codes", lambda: _X(8), dict.fromkeys(_ALL, "works"), None),
    ("valid list of lists", lambda: _X(8).tolist(), dict.fromkeys(_ALL, "works"), None),
    (
        "valid int8 codes",
        lambda: _X(8).astype(np.int8),
        dict.fromkeys(_ALL, "works"),
        None,
    ),
    (
        "valid float32",
        lambda: _X(8).astype(np.float32),
        dict.fromkeys(_ALL, "works"),
        None,
    ),
    ("bool array", lambda: _X(8) > 0, dict.fromkeys(_ALL, "works"), None),
    (
        "object array of numbers",
        lambda: _X(8).astype(object),
        dict.fromkeys(_ALL, "works"),
        None,
    ),
    ("NaN code (missing)", lambda: _with(np.nan), dict.fromkeys(_ALL, "works"), None),
    (
        "None code in object array",
        lambda: _object_with(None),
        dict.fromkeys(_ALL, "works"),
        None,
    ),
    (
        "NaN numeric",
        lambda: _with(np.nan, col=3),
        dict.fromkeys(_ALL, "ValueError"),
        r"[Nn]umeric field column 3 holds nan",
    ),
    (
        "inf code",
        lambda: _with(np.inf),
        dict.fromkeys(_ALL, "ValueError"),
        r"column 0 holds the non-integer value inf",
    ),
    (
        "-inf numeric",
        lambda: _with(-np.inf, col=3),
        dict.fromkeys(_ALL, "ValueError"),
        r"column 3 holds -inf",
    ),
    (
        "negative code",
        lambda: _with(-3),
        {_FIT: "ValueError", _PFIT: "works", _PRED: "works"},
        r"Negative values.*holds -3",
    ),
    (
        "huge int code 2**40",
        lambda: _with(2**40, dtype=np.int64),
        {_FIT: "ValueError", _PFIT: "works", _PRED: "works"},
        r"above the largest code",
    ),
    (
        "huge float code 1e300",
        lambda: _with(1e300),
        dict.fromkeys(_ALL, "ValueError"),
        r"(above the largest code|1e\+300)",
    ),
    (
        "fractional code 1.5",
        lambda: _with(1.5),
        dict.fromkeys(_ALL, "ValueError"),
        r"non-integer value 1.5",
    ),
    ("integral float code 2.0", lambda: _with(2.0), dict.fromkeys(_ALL, "works"), None),
    ("numeric 1e20", lambda: _with(1e20, col=3), dict.fromkeys(_ALL, "works"), None),
    (
        "numeric 1e300 (finite)",
        lambda: _with(1e300, col=3),
        dict.fromkeys(_ALL, "ValueError"),
        r"column 3 holds 1e\+300 at row 1, beyond the float32 range",
    ),
    (
        "string in object array",
        lambda: _object_with("a"),
        dict.fromkeys(_ALL, "ValueError"),
        r"non-numeric value 'a'",
    ),
    (
        "bytes in object array",
        lambda: _object_with(b"a"),
        dict.fromkeys(_ALL, "ValueError"),
        r"non-numeric value b'a'",
    ),
    (
        "list in object array",
        lambda: _object_with([1]),
        dict.fromkeys(_ALL, "TypeError"),
        r"holds \[1\] of type list",
    ),
    (
        "str array",
        lambda: _X(8).astype(str),
        dict.fromkeys(_ALL, "ValueError"),
        r"holds the string",
    ),
    (
        "complex array",
        lambda: _X(8).astype(complex),
        dict.fromkeys(_ALL, "ValueError"),
        r"[Cc]omplex",
    ),
    (
        "uint64 above int64",
        lambda: np.full((3, 4), 2**64 - 1, dtype=np.uint64),
        dict.fromkeys(_ALL, "ValueError"),
        r"above int64",
    ),
    (
        "datetime64 array",
        lambda: np.zeros((3, 4), dtype="datetime64[s]"),
        dict.fromkeys(_ALL, "TypeError"),
        r"datetime",
    ),
    (
        "3 columns instead of 4",
        lambda: _X(8)[:, :3],
        {_FIT: "ValueError", _PFIT: "ValueError", _PRED: "ValueError"},
        r"3 features.*expecting 4|numeric_fields names column position 3, but X has 3",
    ),
    (
        "5 columns instead of 4",
        lambda: np.column_stack([_X(8), _X(8)[:, 0]]),
        {_FIT: "works", _PFIT: "ValueError", _PRED: "ValueError"},
        r"5 features.*expecting 4",
    ),
    (
        "1-D array",
        lambda: _X(8)[0],
        dict.fromkeys(_ALL, "ValueError"),
        r"Expected 2D array, got 1D",
    ),
    (
        "3-D array",
        lambda: _X(8).reshape(2, 4, 4),
        dict.fromkeys(_ALL, "ValueError"),
        r"dim 3",
    ),
    (
        "scalar",
        lambda: np.float64(3.0),
        dict.fromkeys(_ALL, "ValueError"),
        r"Expected 2D array, got 0D",
    ),
    (
        "empty: 0 rows",
        lambda: _X(8)[:0],
        dict.fromkeys(_ALL, "ValueError"),
        r"0 sample",
    ),
    (
        "empty: 0 columns",
        lambda: _X(8)[:, :0],
        dict.fromkeys(_ALL, "ValueError"),
        r"0 feature",
    ),
    (
        "ragged list",
        lambda: [[1, 2, 3, 0.5], [1, 2]],
        dict.fromkeys(_ALL, "ValueError"),
        r"2-D array|inhomogeneous",
    ),
    (
        "None",
        lambda: None,
        dict.fromkeys(_ALL, "TypeError"),
        r"expects a 2-D array-like",
    ),
    (
        "a string",
        lambda: "1,2,3,4",
        dict.fromkeys(_ALL, "TypeError"),
        r"expects a 2-D array-like",
    ),
    (
        "scipy csr matrix",
        lambda: sp.csr_matrix(_X(8)),
        dict.fromkeys(_ALL, "TypeError"),
        r"does not accept scipy sparse",
    ),
    (
        "scipy csr array",
        lambda: sp.csr_array(_X(8)),
        dict.fromkeys(_ALL, "TypeError"),
        r"does not accept scipy sparse",
    ),
    (
        "pandas Series",
        lambda: pd.Series(_X(8)[0]),
        dict.fromkeys(_ALL, "ValueError"),
        r"Expected 2D|1D",
    ),
    (
        "DataFrame, nullable Int64 with NA",
        lambda: _nullable(_X(8)),
        {_FIT: "works", _PFIT: "works", _PRED: "works"},
        None,
    ),
    (
        "DataFrame with a string column",
        lambda: _df(_X(8)).assign(c0="a"),
        dict.fromkeys(_ALL, "ValueError"),
        r"'c0'.*(string|non-numeric)",
    ),
]

#: Cases for the estimators fitted on a DataFrame (columns c0, c1, c2, num).
DF_CASES: list[tuple[str, Callable[[], Any], str, str | None]] = [
    ("same columns", lambda: _df(_X(8)), "works", None),
    ("missing column", lambda: _df(_X(8)).drop(columns="c1"), "ValueError", r"c1"),
    (
        "reordered columns",
        lambda: _df(_X(8))[["c1", "c0", "c2", "num"]],
        "ValueError",
        r"order|c0",
    ),
    ("extra column", lambda: _df(_X(8)).assign(extra=1), "ValueError", r"extra"),
    (
        "renamed column",
        lambda: _df(_X(8)).rename(columns={"c2": "z"}),
        "ValueError",
        r"z|c2",
    ),
    ("ndarray without names", lambda: _X(8), "works", None),
    (
        "numeric column as strings",
        lambda: _df(_X(8)).astype({"num": str}),
        "ValueError",
        r"num",
    ),
]

#: (name, X, y, outcome, regex) for fit and the first partial_fit.
Y_CASES: list[tuple[str, Callable[[], tuple], str, str | None]] = [
    (
        "mismatched X/y lengths",
        lambda: (_X(), _y()[:-5]),
        "ValueError",
        r"inconsistent numbers of samples",
    ),
    ("one-class y", lambda: (_X(), np.ones(N_FIT)), "ValueError", r"one class"),
    ("three classes", lambda: (_X(), np.arange(N_FIT) % 3), "ValueError", r"binary"),
    (
        "continuous y",
        lambda: (_X(), np.linspace(0, 1, N_FIT)),
        "ValueError",
        r"binary|continuous",
    ),
    (
        "NaN in y",
        lambda: (_X(), np.where(np.arange(N_FIT) == 3, np.nan, _y())),
        "ValueError",
        r"NaN",
    ),
    ("y None", lambda: (_X(), None), "ValueError", r"requires y"),
    ("y of strings", lambda: (_X(), np.array(["no", "yes"])[_y()]), "works", None),
    ("y bool", lambda: (_X(), _y().astype(bool)), "works", None),
    ("y column vector", lambda: (_X(), _y().reshape(-1, 1)), "works", None),
    (
        "y with 2 columns",
        lambda: (_X(), np.column_stack([_y(), _y()])),
        "ValueError",
        r"shape|1d|column",
    ),
    (
        "y of mixed objects",
        lambda: (_X(), np.array([0, "a"] * (N_FIT // 2), dtype=object)),
        "ValueError",
        r"Unknown label type",
    ),
    (
        "sample_weight",
        lambda: (_X(), _y(), {"sample_weight": np.ones(N_FIT)}),
        "works",
        None,
    ),
    (
        "sample_weight negative",
        lambda: (_X(), _y(), {"sample_weight": -np.ones(N_FIT)}),
        "ValueError",
        r"sample_weight must be finite and non-negative; row 0",
    ),
    (
        "sample_weight of another length",
        lambda: (_X(), _y(), {"sample_weight": np.ones(N_FIT + 1)}),
        "ValueError",
        r"sample_weight has shape",
    ),
    (
        "X_val without y_val",
        lambda: (_X(), _y(), {"X_val": _X()}),
        "ValueError",
        r"X_val and y_val go together|partial_fit takes no X_val",
    ),
]

#: (name, X, y) of second partial_fit calls that exercise the label check.
PFIT_Y_CASES: list[tuple[str, Callable[[], tuple], str, str | None]] = [
    ("one-class batch later", lambda: (_X(8), np.ones(8, dtype=int)), "works", None),
    ("y None later", lambda: (_X(8), None), "ValueError", r"requires y"),
    (
        "unseen label later",
        lambda: (_X(8), np.full(8, 7)),
        "ValueError",
        r"label .*7.*not one of the classes",
    ),
    (
        "shorter y later",
        lambda: (_X(8), np.ones(5, dtype=int)),
        "ValueError",
        r"inconsistent numbers of samples",
    ),
]

#: decision_function_indexed(xi, xv) of the sparse predictor.
N_ROWS = sum(c + 1 for c in CARD) + 1


def _xi(n: int = 5) -> np.ndarray:
    offsets = np.array([0, 8, 14, 24])
    return np.tile(offsets, (n, 1)).astype(np.int64)


INDEXED_CASES: list[tuple[str, Callable[[], tuple], str, str | None]] = [
    ("valid rows", lambda: (_xi(), np.ones((5, 4), np.float32)), "works", None),
    (
        "int32 rows, float64 values",
        lambda: (_xi().astype(np.int32), np.ones((5, 4))),
        "works",
        None,
    ),
    (
        "negative row",
        lambda: (_xi() - np.eye(5, 4, dtype=np.int64) * 100, np.ones((5, 4))),
        "ValueError",
        r"outside \[0, 25\)",
    ),
    (
        "row past the table",
        lambda: (_xi() + 10**6, np.ones((5, 4))),
        "ValueError",
        r"outside \[0, 25\)",
    ),
    (
        "float rows",
        lambda: (_xi().astype(float), np.ones((5, 4))),
        "TypeError",
        r"integer table rows",
    ),
    (
        "wrong field count",
        lambda: (_xi()[:, :3], np.ones((5, 3))),
        "ValueError",
        r"3 columns.*4 fields",
    ),
    ("1-D rows", lambda: (_xi()[0], np.ones(4)), "ValueError", r"2-D"),
    (
        "values of another shape",
        lambda: (_xi(), np.ones((4, 4))),
        "ValueError",
        r"must match",
    ),
    ("string values", lambda: (_xi(), np.full((5, 4), "a")), "TypeError", r"numbers"),
    ("empty batch", lambda: (_xi(0), np.ones((0, 4))), "works", None),
]


def _encoder_cases():
    """(name, entry, X factory, outcome, regex) of the FieldEncoder."""
    fit, tr = "FieldEncoder.fit", "FieldEncoder.transform"
    both = (fit, tr)
    raw3 = _raw(6).to_numpy()
    out = []
    for name, make, outcome, regex in [
        ("valid frame", lambda: _raw(6), "works", None),
        (
            "None and NaN categorical",
            lambda: _raw_with("site", None).assign(app=[np.nan] * 6),
            "works",
            None,
        ),
        ("inf as a category", lambda: _raw_with("app", np.inf), "works", None),
        (
            "huge and negative ints as categories",
            lambda: _raw_with("app", -(2**62)),
            "works",
            None,
        ),
        (
            "float and bytes categories",
            lambda: _raw_with("site", b"\xff").assign(app=1.5),
            "works",
            None,
        ),
        ("NaN numeric (missing)", lambda: _raw_with("count", np.nan), "works", None),
        (
            "inf numeric",
            lambda: _raw_with("count", np.inf).astype({"count": float}),
            "ValueError",
            r"'count' holds an infinite value",
        ),
        ("1-D array", lambda: raw3[0], "ValueError", r"Expected 2D"),
        ("3-D array", lambda: np.stack([raw3, raw3]), "ValueError", r"dim 3|3D|2D"),
        ("empty: 0 rows", lambda: _raw(6).iloc[:0], "ValueError", r"0 sample"),
        ("empty: 0 columns", lambda: _raw(6).iloc[:, :0], "ValueError", r"0 feature"),
        (
            "scipy sparse",
            lambda: sp.csr_matrix(np.ones((3, 3))),
            "TypeError",
            r"[Ss]parse",
        ),
        ("pandas Series", lambda: _raw(6)["site"], "ValueError", r"Series"),
        ("None", lambda: None, "ValueError", r"2D|None|scalar"),
    ]:
        for entry in both:
            out.append((name, entry, make, outcome, regex))
    out += [
        (
            "string in a float column (categorical under 'auto')",
            fit,
            lambda: _raw_with("count", "zz"),
            "works",
            None,
        ),
        (
            "string in a numeric field",
            tr,
            lambda: _raw_with("count", "zz"),
            "ValueError",
            r"'count' holds the non-numeric value 'zz'",
        ),
        (
            "unhashable list as a category",
            fit,
            lambda: _raw_with("site", [1, 2]),
            "TypeError",
            r"hashable.*\[1, 2\]",
        ),
        (
            "unhashable list as a category",
            tr,
            lambda: _raw_with("site", [1, 2]),
            "works",
            None,
        ),
        ("unseen categories", tr, lambda: _raw(6).assign(site="never"), "works", None),
        (
            "wrong column count",
            tr,
            lambda: _raw(6).iloc[:, :2],
            "ValueError",
            r"2 features.*expecting 3|count",
        ),
        (
            "missing column",
            tr,
            lambda: _raw(6).drop(columns="app"),
            "ValueError",
            r"app",
        ),
        (
            "reordered columns",
            tr,
            lambda: _raw(6)[["app", "site", "count"]],
            "ValueError",
            r"order|site",
        ),
        ("object ndarray of the right width", tr, lambda: raw3, "works", None),
    ]
    return out


# ----------------------------------------------------------------------
# Files for the readers, load and the command
# ----------------------------------------------------------------------
_CRITEO_LINE = "1\t" + "\t".join(["3"] * 13) + "\t" + "\t".join(["0badc0de"] * 26)


def _criteo(lines: list[str]) -> bytes:
    return ("\n".join(lines) + "\n").encode()


_AVAZU = b"id,click,hour,C1,site_id\n1,0,14102100,1005,1fbe01fe\n2,1,14102100,1002,aa\n"
_FFM = b"1 0:12:1 1:40:1 2:0:3.5\n0 0:13:1 2:0:0.25\n"


def _gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


_BAD_UTF8 = b"".join(  # the first category of line 2 is not UTF-8
    _criteo([line]).replace(b"0badc0de", b"\xff\xfe", i == 1)
    for i, line in enumerate([_CRITEO_LINE] * 3)
)


#: (reader, name, file bytes or None (no file), file suffix, kwargs, outcome, regex)
READER_CASES: list[tuple[str, str, bytes | None, str, dict, str, str | None]] = [
    ("load_criteo", "valid", _criteo([_CRITEO_LINE] * 3), ".txt", {}, "works", None),
    ("load_criteo", "empty file", b"", ".txt", {}, "works", None),
    ("load_criteo", "blank lines only", b"\n\n \n", ".txt", {}, "works", None),
    (
        "load_criteo",
        "wrong field count",
        _criteo([_CRITEO_LINE, "1\t2\t3"]),
        ".txt",
        {},
        "ValueError",
        r"line 2: expected 40 fields, found 3",
    ),
    (
        "load_criteo",
        "label 2",
        _criteo(["2" + _CRITEO_LINE[1:]]),
        ".txt",
        {},
        "ValueError",
        r"line 1: label must be 0 or 1",
    ),
    (
        "load_criteo",
        "nan count",
        _criteo([_CRITEO_LINE.replace("\t3\t", "\tnan\t", 1)]),
        ".txt",
        {},
        "ValueError",
        r"line 1: column 'I1': not a finite number: 'nan'",
    ),
    (
        "load_criteo",
        "inf count",
        _criteo([_CRITEO_LINE.replace("\t3\t", "\t1e400\t", 1)]),
        ".txt",
        {},
        "ValueError",
        r"not a finite number: '1e400'",
    ),
    (
        "load_criteo",
        "binary garbage",
        bytes(range(256)) * 4,
        ".txt",
        {},
        "ValueError",
        r"line 1",
    ),
    (
        "load_criteo",
        "invalid UTF-8 on line 2",
        _BAD_UTF8,
        ".txt",
        {},
        "ValueError",
        r"line 2",
    ),
    (
        "load_criteo",
        "invalid UTF-8 on line 2, on_bad_lines='skip'",
        _BAD_UTF8,
        ".txt",
        {"on_bad_lines": "skip"},
        "works",
        None,
    ),
    (
        "load_criteo",
        "gzip with a wrong CRC",
        _gz(_criteo([_CRITEO_LINE] * 50))[:-8] + b"\0\0\0\0" + _gz(b"")[-4:],
        ".gz",
        {},
        "ValueError",
        r"\.gz: damaged or not a gz compressed file",
    ),
    (
        "load_criteo",
        "lone carriage return in a category",
        _criteo([_CRITEO_LINE, _CRITEO_LINE.replace("0badc0de", "0bad\rc0de", 1)]),
        ".txt",
        {},
        "works",
        None,
    ),
    (
        "load_criteo",
        "damaged gzip",
        _gz(_criteo([_CRITEO_LINE] * 50))[:-30] + b"\x00" * 30,
        ".gz",
        {},
        "ValueError",
        r"\.gz: damaged or not a gz compressed file",
    ),
    (
        "load_criteo",
        "not gzip at all",
        b"plain text",
        ".gz",
        {},
        "ValueError",
        r"\.gz: damaged or not a gz compressed file",
    ),
    (
        "load_criteo",
        "nrows=-1",
        b"",
        ".txt",
        {"nrows": -1},
        "ValueError",
        r"nrows must be >= 0",
    ),
    (
        "load_criteo",
        "nrows=1.5",
        b"",
        ".txt",
        {"nrows": 1.5},
        "TypeError",
        r"nrows must be an int",
    ),
    (
        "load_criteo",
        "chunksize=0",
        b"",
        ".txt",
        {"chunksize": 0},
        "ValueError",
        r"chunksize must be >= 1",
    ),
    (
        "load_criteo",
        "on_bad_lines='ignore'",
        b"",
        ".txt",
        {"on_bad_lines": "ignore"},
        "ValueError",
        r"on_bad_lines",
    ),
    (
        "load_criteo",
        "missing file",
        None,
        ".txt",
        {},
        "FileNotFoundError",
        r"No such file",
    ),
    ("load_avazu", "valid", _AVAZU, ".csv", {}, "works", None),
    ("load_avazu", "empty file", b"", ".csv", {}, "ValueError", r"no 'click' column"),
    (
        "load_avazu",
        "duplicated header",
        b"click,C1,C1\n0,1,2\n",
        ".csv",
        {"drop": None},
        "ValueError",
        r"duplicated column names",
    ),
    (
        "load_avazu",
        "non-integer C1",
        _AVAZU.replace(b"1005", b"x5"),
        ".csv",
        {},
        "ValueError",
        r"line 2: column 'C1': not an integer: 'x5'",
    ),
    (
        "load_avazu",
        "C1 above int64",
        _AVAZU.replace(b"1005", b"99999999999999999999"),
        ".csv",
        {},
        "ValueError",
        r"not an integer",
    ),
    (
        "load_avazu",
        "short line",
        _AVAZU + b"3,1\n",
        ".csv",
        {},
        "ValueError",
        r"line 4: expected 5 fields, found 2",
    ),
    (
        "load_avazu",
        "drop unknown column",
        _AVAZU,
        ".csv",
        {"drop": ["nope"]},
        "ValueError",
        r"'nope' is not in the header",
    ),
    (
        "load_avazu",
        "invalid UTF-8 header",
        b"\xff\xfeclick\n0\n",
        ".csv",
        {},
        "ValueError",
        r"\.csv: the header line is not valid UTF-8",
    ),
    (
        "load_avazu",
        "not gzip at all",
        _AVAZU,
        ".gz",
        {},
        "ValueError",
        r"\.gz: damaged or not a gz compressed file",
    ),
    (
        "load_avazu",
        "truncated gzip",
        _gz(_AVAZU * 20)[:-30],
        ".gz",
        {},
        "ValueError",
        r"\.gz: damaged or not a gz compressed file",
    ),
    (
        "load_avazu",
        "lone carriage return in a string field",
        _AVAZU.replace(b"aa", b"a\ra"),
        ".csv",
        {},
        "works",
        None,
    ),
    (
        "load_avazu",
        "invalid UTF-8 on line 3",
        _AVAZU.replace(b"aa", b"\xff"),
        ".csv",
        {},
        "ValueError",
        r"line 3",
    ),
    ("load_libffm", "valid", _FFM, ".ffm", {}, "works", None),
    (
        "load_libffm",
        "not field:feature:value",
        _FFM + b"1 0:1\n",
        ".ffm",
        {},
        "ValueError",
        r"line 3: '0:1' is not field:feature:value",
    ),
    (
        "load_libffm",
        "a line with a label only (all fields absent)",
        b"1\n0\n",
        ".ffm",
        {"n_fields": 2},
        "works",
        None,
    ),
    (
        "load_libffm",
        "a token without colons only",
        b"1 x\n",
        ".ffm",
        {},
        "ValueError",
        r"line 1: 'x' is not field:feature:value",
    ),
    (
        "load_libffm",
        "field twice",
        b"1 0:1:1 0:2:1\n",
        ".ffm",
        {},
        "ValueError",
        r"field 0 appears twice",
    ),
    (
        "load_libffm",
        "field out of range",
        _FFM,
        ".ffm",
        {"n_fields": 2},
        "ValueError",
        r"field 2 out of range",
    ),
    (
        "load_libffm",
        "negative feature",
        b"1 0:-1:1\n",
        ".ffm",
        {},
        "ValueError",
        r"feature '-1' is not a non-negative integer",
    ),
    (
        "load_libffm",
        "nan value",
        b"1 0:1:nan\n",
        ".ffm",
        {},
        "ValueError",
        r"value 'nan' is not a finite number",
    ),
    (
        "load_libffm",
        "label 2",
        b"2 0:1:1\n",
        ".ffm",
        {},
        "ValueError",
        r"label must be 1, 0 or -1",
    ),
    (
        "load_libffm",
        "invalid UTF-8 on line 2",
        b"1 0:1:1\n1 0:1:1\xff\n",
        ".ffm",
        {},
        "ValueError",
        r"line 2",
    ),
    (
        "load_libffm",
        "invalid UTF-8 on line 2, on_bad_lines='skip'",
        b"1 0:1:1\n1 0:1:1\xff\n",
        ".ffm",
        {"on_bad_lines": "skip"},
        "works",
        None,
    ),
    (
        "load_libffm",
        "n_fields=0",
        _FFM,
        ".ffm",
        {"n_fields": 0},
        "ValueError",
        r"n_fields must be a positive int",
    ),
    (
        "load_libffm",
        "n_fields='3'",
        _FFM,
        ".ffm",
        {"n_fields": "3"},
        "ValueError",
        r"n_fields must be a positive int",
    ),
    (
        "load_libffm",
        "numeric_fields=[-1]",
        _FFM,
        ".ffm",
        {"numeric_fields": [-1]},
        "ValueError",
        r"numeric_fields must hold field ids",
    ),
    (
        "load_libffm",
        "chunksize without n_fields",
        _FFM,
        ".ffm",
        {"chunksize": 2},
        "ValueError",
        r"n_fields is required",
    ),
]


# ----------------------------------------------------------------------
# Issue 15: resources, dtypes, parameters, output paths, complete state
# ----------------------------------------------------------------------
def _dates(dtype: str) -> np.ndarray:
    stamps = np.arange(32).reshape(8, 4)
    return stamps.astype(dtype)


X_CASES += [
    (
        "datetime64[ns] array",
        lambda: _dates("datetime64[ns]"),
        dict.fromkeys(_ALL, "TypeError"),
        r"column 0 holds datetime64\[ns\] values \(dates or durations\)",
    ),
    (
        "datetime64[s] array",
        lambda: _dates("datetime64[s]"),
        dict.fromkeys(_ALL, "TypeError"),
        r"column 0 holds datetime64\[s\] values",
    ),
    (
        "timedelta64[ns] array",
        lambda: _dates("timedelta64[ns]"),
        dict.fromkeys(_ALL, "TypeError"),
        r"column 0 holds timedelta64\[ns\] values",
    ),
    (
        "Timestamp in an object array",
        lambda: _object_with(pd.Timestamp("2024-01-01"), col=1),
        dict.fromkeys(_ALL, "TypeError"),
        r"column 1 holds the date or duration Timestamp",
    ),
    (
        "float16 codes",
        lambda: _X(8).astype(np.float16),
        dict.fromkeys(_ALL, "works"),
        None,
    ),
    (
        "longdouble codes",
        lambda: _X(8).astype(np.longdouble),
        dict.fromkeys(_ALL, "works"),
        None,
    ),
    (
        "uint16 codes",
        lambda: _X(8).astype(np.uint16),
        dict.fromkeys(_ALL, "works"),
        None,
    ),
    (
        "one stray code 2**31 - 2",
        lambda: _with(2**31 - 2),
        {_FIT: "ValueError", _PFIT: "works", _PRED: "works"},
        r"column 0: its largest code 2147483646 .* distinct codes.*FieldEncoder",
    ),
]

READER_CASES += [
    (
        "load_libffm",
        "stray field id 100000000000 without n_fields",
        b"0 1:5:1\n1 0:3:1 100000000000:1:1\n",
        ".ffm",
        {},
        "ValueError",
        r"field id 100000000000 is far above the 3 distinct field ids.*n_fields",
    ),
    (
        "load_libffm",
        "stray field id 2000000 without n_fields",
        b"1 0:3:1 2000000:1:1\n",
        ".ffm",
        {},
        "ValueError",
        r"field id 2000000 is far above",
    ),
    (
        "load_libffm",
        "stray field id with n_fields, skipped",
        b"1 0:3:1 2000000:1:1\n0 1:2:1\n",
        ".ffm",
        {"n_fields": 2, "on_bad_lines": "skip"},
        "works",
        None,
    ),
]


def _issue15_cases() -> list[Case]:
    """The families of issue 15 not fed through the tables above."""
    from tests.test_load_hardening import huge_layout_file, save_state

    def count_column():
        X = _df(_X(8)).drop(columns="num")
        return (X.assign(count=np.arange(8) * 700_001),)

    def predictor_with(**params):
        def call(o):
            pred = copy.deepcopy(o["sparse"]).set_params(**params)
            return pred.predict(_X(8))

        return call

    def encoder_after_fit(o):
        enc = copy.deepcopy(o["encoder"]).set_params(numeric_transform="bogus")
        return enc.transform(_raw(6))

    def crafted(obj_key: str, **changes):
        def call(o):
            obj = copy.deepcopy(o[obj_key])
            state = dict(obj.__getstate__(), **changes)
            return load(save_state(obj, state, o["tmp"] / f"{obj_key}-crafted.skdl"))

        return call

    def big_log(o):
        path = o["tmp"] / "big-log.txt"
        with open(path, "wb") as f:
            f.write(_criteo([_CRITEO_LINE]))
            f.truncate(1 << 30)  # 1 GiB, sparse: no disk used
        return load(path)

    cases = [
        Case(
            "DeepFwFMClassifier.fit",
            "integer count column under numeric_fields='auto'",
            lambda o, X: DeepFwFMClassifier(**_SMALL).fit(X, _y(8)),
            "ValueError",
            r"column 3 \('count'\): its largest code 4900007 .*numeric_fields",
            make=count_column,
        ),
        Case(
            "SparseCTRPredictor.predict",
            "threshold='high'",
            predictor_with(threshold="high"),
            "ValueError",
            r"threshold must be a finite number.*'high'",
        ),
        Case(
            "SparseCTRPredictor.predict",
            "threshold=nan",
            predictor_with(threshold=float("nan")),
            "ValueError",
            r"threshold must be a finite number",
        ),
        Case(
            "SparseCTRPredictor.predict",
            "engine='bogus'",
            predictor_with(engine="bogus"),
            "ValueError",
            r"engine must be one of",
        ),
        Case(
            "SparseCTRPredictor.predict",
            "n_jobs=0",
            predictor_with(n_jobs=0),
            "ValueError",
            r"n_jobs must be None, -1 or a positive int, got 0",
        ),
        Case(
            "FieldEncoder.transform",
            "numeric_transform='bogus' set after fit",
            encoder_after_fit,
            "ValueError",
            r"numeric_transform must be",
        ),
        Case(
            "load",
            "a 300 KiB file declaring 2**28 table rows",
            lambda o: load(huge_layout_file(o["tmp"] / "huge.skdl")),
            "ValueError",
            r"memory ceiling.*max_memory",
        ),
        Case(
            "load",
            "a 1 GiB log passed as a model",
            big_log,
            "ValueError",
            r"not a sklearn_deeplight model file",
        ),
        Case(
            "load",
            "max_memory=0",
            lambda o: load(o["tmp"] / "huge.skdl", max_memory=0),
            "ValueError",
            r"max_memory must be a positive number",
        ),
        Case(
            "load",
            "max_memory='1G'",
            lambda o: load(o["tmp"] / "huge.skdl", max_memory="1G"),
            "TypeError",
            r"max_memory must be a number of bytes",
        ),
        Case(
            "load",
            "state with predict_proba=0",
            crafted("sparse", predict_proba=0),
            "ValueError",
            r"hide the SparseCTRPredictor",
        ),
        Case(
            "load",
            "state with an unknown attribute",
            crafted("sparse", extra_=1),
            "ValueError",
            r"unexpected attributes \['extra_'\]",
        ),
        Case(
            "load",
            "state with value_dtype_='float64'",
            crafted("sparse", value_dtype_="float64"),
            "ValueError",
            r"value_dtype_ must be one of",
        ),
        Case(
            "load",
            "state with threshold='high'",
            crafted("sparse", threshold="high"),
            "ValueError",
            r"threshold must be a finite number",
        ),
        Case(
            "load",
            "field_dims_ whose sum wraps int64",
            crafted(
                "sparse",
                field_dims_=np.full(4, 2**62, dtype=np.int64),
                offsets_=np.zeros(4, dtype=np.int64),
            ),
            "ValueError",
            r"table rows, above",
        ),
        Case(
            "load",
            "encoder with numeric_transform='evil'",
            crafted("encoder", numeric_transform="evil"),
            "ValueError",
            r"numeric_transform must be None or one of",
        ),
        Case(
            "load",
            "encoder with a malformed _vocab",
            crafted("encoder", _vocab=[["a"], None, None]),
            "ValueError",
            r"_vocab\[0\] must be a pandas Index",
        ),
    ]
    if cli_main is None:  # pragma: no cover
        return cases

    def cli_out(command: str, out_key: str):
        def call(o):
            files = o["files"]
            kept = {k: Path(files[k]).read_bytes() for k in ("LOG", "MODEL")}
            if command == "predict":
                argv = ["predict", files["MODEL"], files["LOG"], "--out"]
            else:
                argv = ["train", files["LOG"], "--epochs", "1", "--out"]
            code = cli_main([*argv, files[out_key], "--quiet"])
            if {k: Path(files[k]).read_bytes() for k in kept} != kept:
                raise AssertionError("the command changed its input")
            return code

        return call

    def wrong_labels(o):
        tmp = o["tmp"]
        frame = pd.DataFrame(
            {"site": list("abcab") * 8, "n": np.arange(40.0), "click": _y(40)}
        )
        frame.to_csv(tmp / "train.csv", index=False)
        frame.assign(click=np.where(_y(40) == 1, "yes", "no")).to_csv(
            tmp / "words.csv", index=False
        )
        model = str(tmp / "csv-model.skdl")
        csv = ["--format", "csv", "--label", "click", "--numeric", "n"]
        train = ["train", str(tmp / "train.csv"), "-o", model, "--model", "lr"]
        assert cli_main([*train, *csv, "--epochs", "1", "--quiet"]) == 0
        return cli_main(["predict", model, str(tmp / "words.csv"), *csv])

    cases += [
        Case(
            "deeplight",
            "predict --out LOG",
            cli_out("predict", "LOG"),
            "exit 2",
            r"--out .* is the log file .*own input",
        ),
        Case(
            "deeplight",
            "predict --out MODEL",
            cli_out("predict", "MODEL"),
            "exit 2",
            r"--out .* is the model file .*own input",
        ),
        Case(
            "deeplight",
            "train LOG --out LOG",
            cli_out("train", "LOG"),
            "exit 2",
            r"--out .* is the log file .*own input",
        ),
        Case(
            "deeplight",
            "predict: labels that are not the model's classes",
            wrong_labels,
            "exit 1",
            r"label '(yes|no)' of data row 1 is not one of the model's classes",
        ),
    ]
    return cases


_READERS = {
    "load_criteo": load_criteo,
    "load_avazu": load_avazu,
    "load_libffm": load_libffm,
}


# ----------------------------------------------------------------------
# The catalogue
# ----------------------------------------------------------------------
def _no_args() -> tuple:
    return ()


@dataclasses.dataclass
class Case:
    """One call: ``call(objs, *make())``; ``make()``'s objects must not change."""

    entry: str
    name: str
    call: Callable[..., Any]
    expect: str
    match: str | None = None
    xfail: str | None = None
    make: Callable[[], tuple] = _no_args

    @property
    def id(self) -> str:
        return f"{self.entry} | {self.name}"


def _n_rows(X) -> int:
    """Rows of X for a matching y (8 when X has none)."""
    shape = getattr(X, "shape", None)
    if shape:
        return int(shape[0])
    if isinstance(X, list):
        return len(X)
    return 8


def _new_est() -> DeepFwFMClassifier:
    return DeepFwFMClassifier(numeric_fields=[3], **_SMALL)


_MATCHING = object()  # y: a valid target of X's length


def _target(X, y):
    return _y(_n_rows(X)) if y is _MATCHING else y


def _fit(objs, X, y=_MATCHING, **kw):
    return _new_est().fit(X, _target(X, y), **kw)


def _partial_fit_first(objs, X, y=_MATCHING, **kw):
    return _new_est().partial_fit(X, _target(X, y), **kw)


def _partial_fit_second(objs, X, y=_MATCHING, **kw):
    est = copy.deepcopy(objs["partial"])  # after partial_fit(_X(), _y())
    return est.partial_fit(X, _target(X, y), **kw)


def _build_cases() -> list[Case]:
    cases: list[Case] = []
    predict = {
        "DeepFwFMClassifier.predict_proba": lambda o, X: o["est"].predict_proba(X),
        "SparseCTRPredictor.predict_proba": lambda o, X: o["sparse"].predict_proba(X),
    }
    for name, make, outcomes, regex in X_CASES:
        calls = [
            ("DeepFwFMClassifier.fit", _fit, outcomes[_FIT]),
            (
                "DeepFwFMClassifier.partial_fit (2nd call)",
                _partial_fit_second,
                outcomes[_PFIT],
            ),
            *((e, f, outcomes[_PRED]) for e, f in predict.items()),
        ]
        for entry, call, outcome in calls:
            cases.append(
                Case(
                    entry,
                    name,
                    call,
                    outcome,
                    regex if outcome != "works" else None,
                    make=lambda make=make: (make(),),
                )
            )
    for name, make, outcome, regex in DF_CASES:
        for entry, target in (
            ("DeepFwFMClassifier.predict_proba [DataFrame fit]", "est_df"),
            ("SparseCTRPredictor.predict_proba [DataFrame fit]", "sparse_df"),
        ):
            cases.append(
                Case(
                    entry,
                    name,
                    lambda o, X, t=target: o[t].predict_proba(X),
                    outcome,
                    regex,
                    make=lambda make=make: (make(),),
                )
            )
    for name, make, outcome, regex in Y_CASES:
        for entry, call in (
            ("DeepFwFMClassifier.fit", _fit),
            ("DeepFwFMClassifier.partial_fit (1st call)", _partial_fit_first),
        ):

            def run(o, X, y, kw=None, call=call):
                return call(o, X, y, **(kw or {}))

            cases.append(Case(entry, name, run, outcome, regex, make=make))
    cases.append(
        Case(
            "DeepFwFMClassifier.partial_fit (1st call)",
            "one-class batch with classes=[0, 1]",
            lambda o, X, y: _new_est().partial_fit(X, y, classes=[0, 1]),
            "works",
            make=lambda: (_X(8), np.ones(8, dtype=int)),
        )
    )
    for name, make, outcome, regex in PFIT_Y_CASES:
        cases.append(
            Case(
                "DeepFwFMClassifier.partial_fit (2nd call)",
                name,
                _partial_fit_second,
                outcome,
                regex,
                make=make,
            )
        )
    for name, make, outcome, regex in INDEXED_CASES:
        cases.append(
            Case(
                "SparseCTRPredictor.decision_function_indexed",
                name,
                lambda o, xi, xv: o["sparse"].decision_function_indexed(xi, xv),
                outcome,
                regex,
                make=make,
            )
        )
    for name, entry, make, outcome, regex in _encoder_cases():
        if entry.endswith("fit"):
            call = lambda o, X: FieldEncoder().fit(X)  # noqa: E731
        else:
            call = lambda o, X: o["encoder"].transform(X)  # noqa: E731
        cases.append(
            Case(entry, name, call, outcome, regex, make=lambda make=make: (make(),))
        )
    for i, (reader, name, data, suffix, kwargs, outcome, regex) in enumerate(
        READER_CASES
    ):

        def run(o, i=i, reader=reader, data=data, suffix=suffix, kwargs=kwargs):
            path = o["tmp"] / f"{reader}-{i}{suffix}"
            if data is not None:
                path.write_bytes(data)
            result = _READERS[reader](path, **kwargs)
            if data is not None and path.read_bytes() != data:
                raise AssertionError("the reader changed the file")
            return result

        cases.append(Case(reader, name, run, outcome, regex))
    cases += _persistence_cases()
    cases += _cli_cases()
    cases += _issue15_cases()
    return cases


def _persistence_cases() -> list[Case]:
    def saved(objs, tweak: Callable[[bytes], bytes]) -> Path:
        path = objs["tmp"] / "model.skdl"
        save(objs["sparse"], path)
        path.write_bytes(tweak(path.read_bytes()))
        return path

    def flip(data: bytes) -> bytes:
        b = bytearray(data)
        b[len(b) // 2] ^= 0x55
        return bytes(b)

    out = [
        Case(
            "save",
            "sparse predictor",
            lambda o: save(o["sparse"], o["tmp"] / "s.skdl"),
            "works",
        ),
        Case(
            "save",
            "encoder + predictor pipeline",
            lambda o: save([o["encoder"], o["sparse"]], o["tmp"] / "p.skdl"),
            "works",
        ),
        Case(
            "save",
            "torch classifier",
            lambda o: save(o["est"], o["tmp"] / "e.skdl"),
            "TypeError",
            r"DeepFwFMClassifier.*to_sparse",
        ),
        Case(
            "save",
            "a lambda inside",
            lambda o: save({"f": lambda: 0}, o["tmp"] / "f.skdl"),
            "TypeError",
            r"function",
        ),
        Case(
            "save",
            "path None",
            lambda o: save(o["sparse"], None),
            "TypeError",
            r"path must be a str",
        ),
        Case(
            "save",
            "missing folder",
            lambda o: save(o["sparse"], o["tmp"] / "no" / "m.skdl"),
            "FileNotFoundError",
            r"No such file",
        ),
        Case("load", "valid file", lambda o: load(saved(o, lambda d: d)), "works"),
        Case(
            "load",
            "truncated file",
            lambda o: load(saved(o, lambda d: d[: len(d) // 2])),
            "ValueError",
            r"truncated or damaged",
        ),
        Case(
            "load",
            "one byte altered",
            lambda o: load(saved(o, flip)),
            "ValueError",
            r"damaged|checksum|altered|invalid",
        ),
        Case(
            "load",
            "empty file",
            lambda o: load(saved(o, lambda d: b"")),
            "ValueError",
            r"not a sklearn_deeplight model file",
        ),
        Case(
            "load",
            "random bytes",
            lambda o: load(saved(o, lambda d: bytes(range(256)))),
            "ValueError",
            r"not a sklearn_deeplight model file",
        ),
        Case(
            "load",
            "joblib pickle",
            lambda o: load(_joblib_file(o)),
            "ValueError",
            r"pickle or joblib",
        ),
        Case(
            "load",
            "missing file",
            lambda o: load(o["tmp"] / "nothing.skdl"),
            "FileNotFoundError",
            r"No such file",
        ),
        Case(
            "load",
            "path None",
            lambda o: load(None),
            "TypeError",
            r"path must be a str",
        ),
    ]
    return out


def _joblib_file(objs) -> Path:
    path = objs["tmp"] / "sparse.joblib"
    joblib.dump(objs["sparse"], path)
    return path


class _Exploit:
    """Unpickling this creates a marker file: proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def _cli_cases() -> list[Case]:
    if cli_main is None:  # pragma: no cover
        return []

    def cli(*args: str, tmp_args: tuple[int, ...] = ()):
        def run(objs):
            argv = [
                str(objs["tmp"] / a) if i in tmp_args else a for i, a in enumerate(args)
            ]
            return cli_main([objs["files"].get(a, a) for a in argv])

        return run

    def exploit(objs):
        marker = objs["tmp"] / "pwned"
        marker.unlink(missing_ok=True)
        path = objs["tmp"] / "exploit.joblib"
        joblib.dump(_Exploit(marker), path)
        code = cli_main(["predict", str(path), objs["files"]["LOG"], "--quiet"])
        if marker.exists():
            raise AssertionError("the model file ran code when it was loaded")
        return code

    q = "--quiet"
    return [
        Case("deeplight", "no arguments", cli(), "exit 2"),
        Case(
            "deeplight",
            "unknown option",
            cli("--bogus"),
            "exit 2",
            r"unrecognized arguments",
        ),
        Case("deeplight", "unknown command", cli("fly"), "exit 2", r"invalid choice"),
        Case(
            "deeplight",
            "predict without a log",
            cli("predict", "MODEL"),
            "exit 2",
            r"required",
        ),
        Case(
            "deeplight",
            "predict: missing model file",
            cli("predict", "nope.joblib", "LOG", q, tmp_args=(1,)),
            "exit 2",
            r"model file not found",
        ),
        Case(
            "deeplight",
            "predict: valid",
            cli("predict", "MODEL", "LOG", "-o", "out.txt", q, tmp_args=(4,)),
            "exit 0",
        ),
        Case(
            "deeplight",
            "predict: malformed log",
            cli("predict", "MODEL", "BADLOG", q),
            "exit 1",
            r"line 2: expected 40 fields",
        ),
        Case(
            "deeplight",
            "predict: empty log",
            cli("predict", "MODEL", "EMPTY", q),
            "exit 1",
            r"no rows",
        ),
        Case(
            "deeplight",
            "predict: garbage model file",
            cli("predict", "GARBAGE", "LOG", q),
            "exit 1",
            r"cannot load a model",
        ),
        Case(
            "deeplight",
            "predict: log of another format",
            cli("predict", "MODEL", "LOG", "--format", "avazu", q),
            "exit 1",
            r"click",
        ),
        Case(
            "deeplight",
            "predict: pickle that runs code",
            exploit,
            "exit 1",
            r"without --trust-pickle",
        ),
        Case(
            "deeplight",
            "train: --epochs 0",
            cli("train", "LOG", "-o", "m.joblib", "--epochs", "0", tmp_args=(3,)),
            "exit 2",
            r"--epochs: must be >= 1",
        ),
        Case(
            "deeplight",
            "train: --lr nan",
            cli("train", "LOG", "-o", "m.joblib", "--lr", "nan", tmp_args=(3,)),
            "exit 2",
            r"--lr",
        ),
        Case(
            "deeplight",
            "train: output folder missing",
            cli("train", "LOG", "-o", "no/m.joblib", q, tmp_args=(3,)),
            "exit 2",
            r"output folder not found",
        ),
        Case(
            "deeplight",
            "train: one-class log",
            cli(
                "train",
                "ONECLASS",
                "-o",
                "m1.joblib",
                "--epochs",
                "1",
                q,
                tmp_args=(3,),
            ),
            "exit 1",
            r"one class",
        ),
        Case(
            "deeplight",
            "bench: garbage model file",
            cli("bench", "GARBAGE", q),
            "exit 1",
            r"cannot load a model",
        ),
    ]


CASES = _build_cases()


def _param(case: Case):
    marks = [pytest.mark.xfail(strict=True, reason=case.xfail)] if case.xfail else []
    return pytest.param(case, id=case.id, marks=marks)


# ----------------------------------------------------------------------
# Running a case
# ----------------------------------------------------------------------
class _Hang(BaseException):
    """Raised by the alarm when a case runs longer than CASE_TIMEOUT_S."""


def _alarm(signum, frame):
    raise _Hang


def _unchanged(before, after, where: str = "input") -> None:
    """The caller's object is exactly as it was (NaN equals NaN)."""
    assert type(before) is type(after), where
    if isinstance(before, pd.DataFrame):
        pd.testing.assert_frame_equal(before, after, check_exact=True)
    elif isinstance(before, pd.Series):
        pd.testing.assert_series_equal(before, after, check_exact=True)
    elif isinstance(before, np.ndarray):
        assert before.dtype == after.dtype and before.shape == after.shape, where
        assert before.flags.writeable == after.flags.writeable, where
        if before.dtype == object:
            for u, v in zip(before.ravel(), after.ravel()):
                _unchanged(u, v, where)
        else:
            np.testing.assert_array_equal(before, after, err_msg=where)
    elif sp.issparse(before):
        assert before.shape == after.shape and (before != after).nnz == 0, where
    elif isinstance(before, list | tuple):
        assert len(before) == len(after), where
        for u, v in zip(before, after):
            _unchanged(u, v, where)
    elif isinstance(before, dict):
        assert before.keys() == after.keys(), where
        for k in before:
            _unchanged(before[k], after[k], where)
    elif isinstance(before, float) and before != before:
        assert after != after, where
    else:
        assert before == after, where


def _category(exc: BaseException) -> str:
    """The documented outcome an exception counts as (subclasses included)."""
    for cls in (FileNotFoundError, ValueError, TypeError):
        if isinstance(exc, cls):
            return cls.__name__
    return type(exc).__name__


def _execute(case: Case, objs, args: tuple) -> dict[str, Any]:
    """Run a case under an alarm; return its observed outcome."""
    timed = hasattr(signal, "SIGALRM")  # POSIX; elsewhere runs without a limit
    if timed:
        old = signal.signal(signal.SIGALRM, _alarm)
        signal.alarm(CASE_TIMEOUT_S)
    result, outcome, exc_type, message, caught = None, "works", "", "", []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = case.call(objs, *args)
    except _Hang:
        outcome, message = "hang", f"no answer after {CASE_TIMEOUT_S} s"
    except Exception as exc:  # the catalogue records every exception type
        outcome, exc_type, message = _category(exc), type(exc).__name__, str(exc)
    finally:
        if timed:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, old)
    if outcome == "works" and case.entry == "deeplight":
        outcome = f"exit {result}"
    if (
        outcome == "works"
        and isinstance(result, np.ndarray)
        and result.dtype.kind == "f"
        and np.isnan(result).any()
    ):
        outcome = "works but returns NaN"
    return {
        "outcome": outcome,
        "exception": exc_type,
        "message": message,
        "warnings": sorted({type(w.message).__name__ for w in caught}),
    }


_RESULTS: list[dict[str, Any]] = []


@pytest.fixture(scope="module")
def objs(tmp_path_factory):
    torch.set_num_threads(1)
    tmp = tmp_path_factory.mktemp("bad_input")
    est = DeepFwFMClassifier(numeric_fields=[3], **_SMALL).fit(_X(), _y())
    est_df = DeepFwFMClassifier(**_SMALL).fit(_df(_X()), _y())
    out = {
        "tmp": tmp,
        "est": est,
        "partial": _new_est().partial_fit(_X(), _y()),
        "sparse": est.to_sparse(),
        "est_df": est_df,
        "sparse_df": est_df.to_sparse(),
        "encoder": FieldEncoder().fit(_raw()),
    }
    files = {}
    if cli_main is not None:
        lines = [_CRITEO_LINE.replace("3", str(i % 7)) for i in range(40)]
        lines = [("1" if i % 2 else "0") + line[1:] for i, line in enumerate(lines)]
        (tmp / "log.txt").write_bytes(_criteo(lines))
        (tmp / "bad.txt").write_bytes(_criteo([lines[0], "1\t2"]))
        (tmp / "empty.txt").write_bytes(b"")
        (tmp / "oneclass.txt").write_bytes(_criteo([lines[1]] * 20))
        (tmp / "garbage.joblib").write_bytes(b"\x80\x04not a pickle at all")
        files = {
            "LOG": str(tmp / "log.txt"),
            "BADLOG": str(tmp / "bad.txt"),
            "EMPTY": str(tmp / "empty.txt"),
            "ONECLASS": str(tmp / "oneclass.txt"),
            "GARBAGE": str(tmp / "garbage.joblib"),
            "MODEL": str(tmp / "model.joblib"),
        }
        code = cli_main(
            ["train", files["LOG"], "-o", files["MODEL"], "--model", "lr", "--sparse"]
            + ["--epochs", "1", "--min-frequency", "1", "--validation-fraction", "0"]
            + ["--quiet"]
        )
        assert code == 0
    out["files"] = files
    yield out
    _report(tmp_path_factory.getbasetemp())


def _report(folder: Path) -> None:
    """Write the catalogue's outcomes and print the summary."""
    if not _RESULTS:
        return
    (folder / "bad_input_catalogue.json").write_text(json.dumps(_RESULTS, indent=1))
    lines = [
        f"{r['entry']:<50} {r['case']:<42} expect {r['expect']:<17} got "
        f"{r['outcome']:<17} {'ok ' if r['as_documented'] else 'BUG'} "
        f"{r['message'][:70]!r}"
        for r in _RESULTS
    ]
    (folder / "bad_input_catalogue.txt").write_text("\n".join(lines) + "\n")
    entries = Counter(r["entry"] for r in _RESULTS)
    outcomes = Counter(r["outcome"] for r in _RESULTS)
    agree = sum(r["as_documented"] for r in _RESULTS)
    print(
        f"\nbad-input catalogue: {len(_RESULTS)} cases on {len(entries)} entry "
        f"points; outcomes {dict(sorted(outcomes.items()))}; {agree} as documented, "
        f"{len(_RESULTS) - agree} known bugs (xfail)"
    )
    for entry, n in sorted(entries.items()):
        print(f"  {entry:<55} {n:3d} cases")
    for r in _RESULTS:
        if not r["as_documented"]:
            what = r["outcome"] if r["outcome"] != r["expect"] else "vague message"
            bug = f"{r['entry']} | {r['case']}: {what}"
            print(f"  BUG {bug} ({r['message'][:80]})")
    print(f"  report: {folder / 'bad_input_catalogue.txt'}")


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_catalogue(case: Case, objs, capsys):
    args = case.make()
    before = copy.deepcopy(args)
    observed = _execute(case, objs, args)
    if case.entry == "deeplight":
        observed["message"] = capsys.readouterr().err.strip()
    message = observed["message"]
    names_problem = not case.match or bool(re.search(case.match, message))
    try:  # the caller's arrays, frames and lists are exactly as they were
        _unchanged(before, args)
        mutation = ""
    except AssertionError as exc:
        mutation = f"changed the caller's input: {exc}"
    as_documented = (
        observed["outcome"] == case.expect and names_problem and not mutation
    )
    _RESULTS.append(
        {
            "entry": case.entry,
            "case": case.name,
            "expect": case.expect,
            "as_documented": as_documented,
            "message_names_problem": names_problem,
            "input_unchanged": not mutation,
            "xfail": case.xfail or "",
            **observed,
            "message": message.splitlines()[-1][:300] if message else "",
        }
    )
    assert observed["outcome"] == case.expect, (
        f"{case.id}: expected {case.expect}, got {observed['outcome']} "
        f"{observed['exception']}: {message[:500]}"
    )
    assert names_problem, (
        f"{case.id}: the message does not name the problem ({case.match!r}): "
        f"{message[:500]}"
    )
    assert not mutation, f"{case.id}: {mutation}"


# ----------------------------------------------------------------------
# Numerical safety (part 3)
# ----------------------------------------------------------------------
def _fm(**kw) -> FMClassifier:
    params = dict(embedding_dim=3, numeric_fields=[3], batch_size=16)
    params.update(max_epochs=2, validation_fraction=None, random_state=0)
    return FMClassifier(**{**params, **kw})


def test_divergence_names_epoch_batch_and_hint():
    """A NaN or inf loss stops training with the epoch, the batch and a hint."""
    torch.set_num_threads(1)
    X, y = _X(), _y()
    explode = X.copy()
    explode[:, 3] = 1e30  # finite, but its FM square overflows float32
    with pytest.raises(FloatingPointError) as info:
        _fm().fit(explode, y)
    msg = str(info.value)
    assert re.search(r"loss is (nan|inf) at epoch 1, batch 1\b", msg), msg
    # the rate in use: lr="auto" at batch 16 (1e-3 * sqrt(16 / 2048))
    assert "learning rate (lr=8.83883e-05)" in msg and "L2 penalty (l2=3e-07)" in msg
    est = _fm(max_epochs=1)
    est.partial_fit(X, y)
    with pytest.raises(FloatingPointError, match=r"at epoch 2, batch 1\b"):
        est.partial_fit(explode, y)
    # a learning rate far too high
    sgd = _fm(max_epochs=3, optimizer=torch.optim.SGD, lr=1e20)
    with pytest.raises(FloatingPointError, match=r"epoch 1, batch \d+.*lr=1e\+20"):
        sgd.fit(X, y)


@pytest.mark.parametrize("bias", [-1e30, -1e4, -745.0, -40.0, 0.0, 40.0, 745.0, 1e30])
def test_predict_proba_exact_at_extreme_logits(objs, bias):
    """Probabilities are expit of the float64 logit, without warnings or NaN."""
    est = copy.deepcopy(objs["est"])
    with torch.no_grad():
        est.module_.bias.fill_(bias)
    X = _X(20, seed=3)
    X[:5, 0] = 1000  # unseen codes too
    for model in (est, est.to_sparse(engine="numba"), est.to_sparse(engine="scipy")):
        with warnings.catch_warnings(), np.errstate(all="raise"):
            warnings.simplefilter("error")
            proba = model.predict_proba(X)
            logit = model.decision_function(X)
        assert proba.dtype == np.float64 and logit.dtype == np.float64
        assert np.isfinite(logit).all()
        np.testing.assert_array_equal(proba[:, 1], expit(logit))
        np.testing.assert_array_equal(proba[:, 0], 1.0 - proba[:, 1])
        assert ((proba >= 0) & (proba <= 1)).all()
        if abs(bias) >= 745:  # beyond float64: exactly 0 or 1, never NaN
            assert (proba[:, 1] == (1.0 if bias > 0 else 0.0)).all()
        if bias == -40.0:  # a rare click keeps its relative precision
            assert (proba[:, 1] > 0).all() and (proba[:, 1] < 1e-15).all()


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    codes=hnp.arrays(
        np.float64,
        (6, 3),
        elements=st.one_of(st.integers(-(2**62), 2**62).map(float), st.just(np.nan)),
    ),
    values=hnp.arrays(np.float64, 6, elements=st.floats(-1e6, 1e6)),
)
def test_predict_proba_never_nan_on_finite_input(objs, codes, values):
    """Any codes (unseen, negative, huge, missing) and moderate numeric values."""
    X = np.column_stack([codes, values])
    for model in (objs["est"], objs["sparse"]):
        proba = model.predict_proba(X)
        assert not np.isnan(proba).any()
        assert ((proba >= 0) & (proba <= 1)).all()


@pytest.mark.parametrize(
    "engine",
    ["torch", "numba", "scipy"],
)
def test_no_nan_where_fm_products_overflow(engine):
    """Finite input in range whose products overflow: a number or a ValueError."""
    torch.set_num_threads(1)
    est = _fm(max_epochs=1).fit(_X(), _y())
    model = est if engine == "torch" else est.to_sparse(engine=engine)
    X = _X(6, seed=5)
    X[:, 3] = 1e30
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            proba = model.predict_proba(X)
        except ValueError as exc:
            assert re.search(r"overflows .* column 3, .* holds 1e\+30", str(exc)), exc
            return
    assert not np.isnan(proba).any()


@pytest.mark.parametrize("engine", ["torch", "numba", "scipy"])
def test_overflow_message_names_the_first_bad_row(engine):
    """The row, column and value named are those of the first bad row."""
    torch.set_num_threads(1)
    est = _fm(max_epochs=1).fit(_X(), _y())
    model = est if engine == "torch" else est.to_sparse(engine=engine)
    X = _X(6, seed=5)
    X[2, 3] = 1e30
    X[4, 3] = -1e36
    pattern = r"on 2 row\(s\) \(first: row 2\): column 3, a numeric field, holds 1e\+30"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match=pattern):
            model.predict_proba(X)
    X[[2, 4], 3] = 1.0  # the other rows were fine all along
    assert np.isfinite(model.predict_proba(X)).all()


def test_non_finite_parameters_are_not_blamed_on_the_input():
    torch.set_num_threads(1)
    est = _fm(max_epochs=1).fit(_X(), _y())
    with torch.no_grad():
        est.module_.embedding.weight[:] = float("nan")
    with pytest.raises(ValueError, match=r"parameters are not finite"):
        est.predict_proba(_X(4, seed=5))
