"""Validation of field-indexed input: the library's input contract.

``X`` is a 2-D array-like or a pandas DataFrame of shape (n_samples, n_fields),
one column per field. A categorical field holds non-negative integer category
codes; a numeric field holds a real value that scales the field's single
embedding vector. This module turns such input into the two arrays the models
consume: ``codes`` (int64, the per-field category code, -1 for missing) and
``values`` (float64, the numeric values; 1 for categorical fields).

Nothing here imports torch: the sparse predictor shares this code at serving
time.
"""

from __future__ import annotations

import datetime
import numbers
from collections.abc import Callable, Sequence

import numpy as np
import scipy.sparse as sp
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import (
    _check_feature_names,
    _check_n_features,
    check_consistent_length,
    column_or_1d,
)

from ._runtime import _column_label, check_logits_are_finite  # noqa: F401

__all__ = ["CODE_RANGE_FACTOR", "CODE_RANGE_FLOOR", "MAX_CODE"]

#: Largest category code accepted at fit. Larger codes would allocate an
#: embedding table with billions of rows; re-encode them with ``FieldEncoder``.
MAX_CODE = 2**31 - 1

#: fit refuses a categorical field whose largest code asks for more than
#: ``CODE_RANGE_FLOOR`` embedding rows and more than ``CODE_RANGE_FACTOR``
#: times the distinct codes the field holds: category codes are dense
#: indices 0 .. n-1, so such a field holds a stray code or raw ids (hashes,
#: counts), and its table would be mostly rows no sample uses (one code
#: 2**31 - 2 among codes 0 and 1 asked for 86 GB). Codes encoded by
#: ``FieldEncoder`` on the training rows never trigger it (their range is the
#: distinct count). Raise ``CODE_RANGE_FLOOR`` to allow a sparse range.
CODE_RANGE_FLOOR = 1 << 20
CODE_RANGE_FACTOR = 8

# A non-finite logit from a row whose largest |value| is below this is blamed
# on the model's parameters, not on overflowing products of the input.
_FLOAT32_MAX = float(np.finfo(np.float32).max)

_DATE_TYPES = (
    datetime.date,
    datetime.time,
    datetime.timedelta,
    np.datetime64,
    np.timedelta64,
)


def _is_dataframe(X) -> bool:
    return hasattr(X, "columns") and hasattr(X, "iloc") and hasattr(X, "dtypes")


def _split_columns(X, estimator_name: str) -> tuple[list[np.ndarray], list | None]:
    """Return the columns of ``X`` as 1-D numpy arrays, keeping each dtype."""
    if sp.issparse(X):
        raise TypeError(
            f"{estimator_name} does not accept scipy sparse matrices: pass a dense "
            "field-indexed matrix with one column per field (an integer category "
            "code or a numeric value), e.g. X.toarray(), or encode raw columns "
            "with sklearn_deeplight.FieldEncoder."
        )
    if _is_dataframe(X):
        if X.ndim != 2:
            raise ValueError(f"Expected 2D input, got {X.ndim}D DataFrame.")
        names = [str(c) for c in X.columns]
        cols = [X.iloc[:, j].to_numpy() for j in range(X.shape[1])]
        n_samples = X.shape[0]
    else:
        if isinstance(X, str) or X is None:
            raise TypeError(
                f"{estimator_name} expects a 2-D array-like or DataFrame, got "
                f"{type(X).__name__}."
            )
        try:
            arr = np.asarray(X)
        except (ValueError, TypeError) as exc:  # ragged lists
            raise ValueError(f"Could not convert X to a 2-D array: {exc}") from exc
        if arr.ndim == 0 or arr.ndim == 1:
            raise ValueError(
                f"Expected 2D array, got {arr.ndim}D array instead:\narray={arr!r}.\n"
                "Reshape your data either using array.reshape(-1, 1) if your data "
                "has a single feature or array.reshape(1, -1) if it contains a "
                "single sample."
            )
        if arr.ndim > 2:
            raise ValueError(
                f"Found array with dim {arr.ndim}. {estimator_name} expected <= 2."
            )
        names = None
        cols = [arr[:, j] for j in range(arr.shape[1])]
        n_samples = arr.shape[0]
    if n_samples == 0:
        raise ValueError(
            f"Found array with 0 sample(s) (shape=({n_samples}, {len(cols)})) while "
            f"a minimum of 1 is required by {estimator_name}."
        )
    if len(cols) == 0:
        raise ValueError(
            f"Found array with 0 feature(s) (shape=({n_samples}, 0)) while a minimum "
            f"of 1 is required by {estimator_name}."
        )
    return cols, names


def _first_bad(col: np.ndarray, bad: np.ndarray):
    idx = int(np.flatnonzero(bad)[0])
    return idx, col[idx]


def _object_to_float(col: np.ndarray, label: str) -> np.ndarray:
    """Convert an object column (numbers, None, NaN, pd.NA) to float64."""
    out = np.empty(col.shape[0], dtype=np.float64)
    for i, v in enumerate(col):
        if v is None or (isinstance(v, float) and v != v):
            out[i] = np.nan
        elif isinstance(v, (bool, np.bool_)):
            out[i] = float(v)
        elif isinstance(v, numbers.Real):
            out[i] = float(v)
        elif type(v).__name__ in ("NAType", "NaTType"):
            out[i] = np.nan
        elif _is_date(v):
            raise _refuse_dates(label, f"the date or duration {v!r} at row {i}")
        elif isinstance(v, str | bytes):
            raise ValueError(
                f"{label} holds the non-numeric value {v!r} at row {i}: field-indexed "
                "input must be integer category codes or numeric values. Encode raw "
                "columns with sklearn_deeplight.FieldEncoder."
            )
        else:
            raise TypeError(
                f"{label} holds {v!r} of type {type(v).__name__} at row {i}: the "
                "argument must be a string or a real number, and field-indexed input "
                "must be integer category codes or numeric values."
            )
    return out


def _refuse_dates(label: str, what: str) -> TypeError:
    return TypeError(
        f"{label} holds {what}: field-indexed input must be integer category "
        "codes or numeric values, and dates and durations are neither. Convert "
        "the column (e.g. to the hour of day, or to seconds as a numeric field) "
        "or encode its values with sklearn_deeplight.FieldEncoder."
    )


def _is_date(v) -> bool:
    """A date, time or duration object (datetime, Timestamp, timedelta...)."""
    return isinstance(v, _DATE_TYPES) or type(v).__name__ == "Period"


def _numeric_view(col: np.ndarray, label: str) -> tuple[np.ndarray, bool]:
    """Return ``col`` as int64 (exact) or float64, and whether it is integer.

    Dates and durations (``datetime64``, ``timedelta64`` of any unit,
    timezone-aware and period columns, date objects) raise a TypeError naming
    the column: their integer representation is not a category code.
    """
    kind = getattr(col.dtype, "kind", "O")
    if kind in "mM":
        raise _refuse_dates(label, f"{col.dtype} values (dates or durations)")
    if not isinstance(col.dtype, np.dtype) and type(col.dtype).__name__ in (
        "DatetimeTZDtype",
        "PeriodDtype",
    ):
        raise _refuse_dates(label, f"{col.dtype} values (dates or durations)")
    if kind in "iu":
        if kind == "u" and col.size and col.max() > np.iinfo(np.int64).max:
            idx, v = _first_bad(col, col > np.iinfo(np.int64).max)
            raise ValueError(f"{label} holds the code {v} at row {idx}, above int64.")
        return col.astype(np.int64, copy=False), True
    if kind == "b":
        return col.astype(np.int64), True
    if kind == "f":
        return col.astype(np.float64, copy=False), False
    if kind == "c":
        raise ValueError("Complex data not supported: " + label + " is complex.")
    if kind in "USO":
        if kind in "US":
            idx, v = 0, col[0]
            raise ValueError(
                f"{label} holds the string {v!r} at row {idx}: field-indexed input "
                "must be integer category codes or numeric values. Encode raw "
                "columns with sklearn_deeplight.FieldEncoder."
            )
        return _object_to_float(col, label), False
    # pandas extension arrays (nullable Int64, Float64, categorical...)
    try:
        return _object_to_float(np.asarray(col, dtype=object), label), False
    except TypeError as exc:  # pragma: no cover - exotic dtypes
        raise TypeError(f"{label} has unsupported dtype {col.dtype}.") from exc


def _refuse_integer_codes_with_nan(col, names, j: int) -> None:
    """Under ``numeric_fields="auto"``, a float column of whole numbers with
    gaps is what pandas makes of integer codes with missing values: refuse
    the ambiguity rather than read the codes as numeric values."""
    values = np.asarray(col, dtype=np.float64)
    missing = np.isnan(values)
    if not missing.any() or missing.all():
        return
    present = values[~missing]
    if np.isfinite(present).all() and (np.floor(present) == present).all():
        label = f"column {j}" if names is None else f"column {j} ({names[j]!r})"
        raise ValueError(
            f"numeric_fields='auto': {label} is float, holds only whole numbers "
            "and has missing values, which is how pandas stores integer category "
            "codes with gaps. Cast it to the nullable 'Int64' dtype if it holds "
            "codes (missing values then use the field's out-of-vocabulary row), "
            "or list the numeric columns in numeric_fields (a numeric field "
            "cannot hold NaN: fill it, or use FieldEncoder)."
        )


def resolve_numeric_fields(numeric_fields, X, n_fields: int, names) -> np.ndarray:
    """Return a boolean mask over fields of which ones are numeric.

    Parameters
    ----------
    numeric_fields : "auto", None, or sequence of int or str
        See the estimators' docstring.
    X : array-like or DataFrame
        The input, used for ``"auto"`` on DataFrames.
    n_fields : int
        Number of columns.
    names : list of str or None
        Column names of a DataFrame.

    Returns
    -------
    mask : ndarray of bool of shape (n_fields,)
    """
    mask = np.zeros(n_fields, dtype=bool)
    if numeric_fields is None:
        return mask
    if isinstance(numeric_fields, str):
        if numeric_fields != "auto":
            raise ValueError(
                "numeric_fields must be 'auto', None or a list of column positions "
                f"or names, got {numeric_fields!r}."
            )
        if _is_dataframe(X):
            for j, dtype in enumerate(X.dtypes):
                mask[j] = getattr(dtype, "kind", "O") == "f"
                if mask[j]:
                    _refuse_integer_codes_with_nan(X.iloc[:, j], names, j)
        return mask
    if not isinstance(numeric_fields, Sequence | np.ndarray):
        raise TypeError(
            "numeric_fields must be 'auto', None or a list of column positions or "
            f"names, got {type(numeric_fields).__name__}."
        )
    for f in numeric_fields:
        if isinstance(f, numbers.Integral) and not isinstance(f, bool):
            if not -n_fields <= f < n_fields:
                raise ValueError(
                    f"numeric_fields names column position {f}, but X has {n_fields} "
                    "columns."
                )
            mask[f] = True
        elif isinstance(f, str):
            if names is None or f not in names:
                raise ValueError(
                    f"numeric_fields names the column {f!r}, which is not a column "
                    f"of X (columns: {names})."
                )
            mask[names.index(f)] = True
        else:
            raise TypeError(
                f"numeric_fields entries must be int positions or str names, got {f!r}."
            )
    return mask


def check_field_matrix(
    estimator,
    X,
    *,
    reset: bool,
    numeric_mask: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Validate a field-indexed matrix and split it into codes and values.

    On ``reset=True`` this sets ``n_features_in_``, ``feature_names_in_`` and
    ``numeric_fields_`` on ``estimator`` (resolved from its ``numeric_fields``
    parameter); otherwise it checks ``X`` against them.

    Parameters
    ----------
    estimator : estimator
        The estimator whose fitted attributes are set or checked.
    X : array-like or DataFrame of shape (n_samples, n_fields)
        The input.
    reset : bool
        Whether this is a call from ``fit``.
    numeric_mask : ndarray of bool, default=None
        Numeric fields to use on ``reset``; resolved from
        ``estimator.numeric_fields`` when None.

    Returns
    -------
    codes : ndarray of int64 of shape (n_samples, n_fields)
        Category codes of categorical fields. Missing values (NaN, None) are
        -1; at ``reset=False`` negative codes are kept (the caller maps them to
        the out-of-vocabulary row). Zero for numeric fields.
    values : ndarray of float64 of shape (n_samples, n_fields)
        Values of numeric fields, 1.0 for categorical fields.
    """
    name = type(estimator).__name__
    cols, names = _split_columns(X, name)
    n_fields = len(cols)
    _check_feature_names(
        estimator, X if names is not None else np.empty(0), reset=reset
    )
    _check_n_features(estimator, np.empty((1, n_fields)), reset=reset)
    if reset:
        if numeric_mask is None:
            numeric_mask = resolve_numeric_fields(
                getattr(estimator, "numeric_fields", None), X, n_fields, names
            )
        estimator.numeric_fields_ = np.flatnonzero(numeric_mask).astype(np.int64)
    else:
        numeric_mask = np.zeros(n_fields, dtype=bool)
        numeric_mask[estimator.numeric_fields_] = True
    n_samples = cols[0].shape[0]
    codes = np.zeros((n_samples, n_fields), dtype=np.int64)
    values = np.ones((n_samples, n_fields), dtype=np.float64)
    views = [_numeric_view(col, _column_label(names, j)) for j, col in enumerate(cols)]
    if reset:
        for j, (arr, _) in enumerate(views):
            neg = arr < 0  # NaN compares False
            if not numeric_mask[j] and neg.any():
                idx, v = _first_bad(arr, neg)
                raise ValueError(
                    f"Negative values in data passed to {name}: categorical field "
                    f"{_column_label(names, j)} holds {v} at row {idx}; category "
                    "codes are non-negative integers."
                )
    for j, (arr, is_int) in enumerate(views):
        label = _column_label(names, j)
        if numeric_mask[j]:
            arr = arr.astype(np.float64, copy=False)
            bad = ~np.isfinite(arr)
            if bad.any():
                idx, v = _first_bad(arr, bad)
                raise ValueError(
                    f"Numeric field {label} holds {v} at row {idx}: numeric fields "
                    "must be finite (impute missing values first, e.g. with "
                    "FieldEncoder or SimpleImputer)."
                )
            huge = np.abs(arr) > _FLOAT32_MAX
            if huge.any():
                idx, v = _first_bad(arr, huge)
                raise ValueError(
                    f"Numeric field {label} holds {v} at row {idx}, beyond the "
                    "float32 range the models compute in: rescale the field."
                )
            values[:, j] = arr
            continue
        if is_int:
            code = arr
        else:
            missing = np.isnan(arr)
            bad = ~missing & ((arr != np.floor(arr)) | ~np.isfinite(arr))
            if bad.any():
                idx, v = _first_bad(arr, bad)
                raise ValueError(
                    f"Categorical field {label} holds the non-integer value {v} at "
                    f"row {idx}: categorical fields hold integer category codes. "
                    "List numeric columns in numeric_fields."
                )
            huge = ~missing & (np.abs(arr) > 2.0**62)
            if huge.any():
                idx, v = _first_bad(arr, huge)
                raise ValueError(
                    f"Categorical field {label} holds the code {v} at row {idx}, "
                    f"above the largest code {MAX_CODE}."
                )
            code = np.where(missing, -1, arr).astype(np.int64)
        if reset:
            big = code > MAX_CODE
            if big.any():
                idx, v = _first_bad(code, big)
                raise ValueError(
                    f"Categorical field {label} holds the code {v} at row {idx}, "
                    f"above the largest code {MAX_CODE}: re-encode the field with "
                    "sklearn_deeplight.FieldEncoder."
                )
        codes[:, j] = code
    return codes, values


def count_distinct(codes: np.ndarray) -> int:
    """Distinct non-negative codes of one column (hashing, no sort)."""
    import pandas as pd

    return int(len(pd.unique(codes[codes >= 0])))


def check_code_range(
    max_codes: np.ndarray,
    numeric_mask: np.ndarray,
    distinct: Callable[[int], int],
    names=None,
) -> None:
    """Refuse a field whose code range is far above its distinct codes.

    Raises a ValueError naming the first categorical field whose largest
    code + 1 (the embedding rows it asks for) is above both
    :data:`CODE_RANGE_FLOOR` and :data:`CODE_RANGE_FACTOR` times its distinct
    codes, before anything is allocated.

    Parameters
    ----------
    max_codes : ndarray of int64 of shape (n_fields,)
        Largest code of each field.
    numeric_mask : ndarray of bool of shape (n_fields,)
        The numeric fields (not checked).
    distinct : callable
        ``distinct(j)``: distinct non-negative codes of field ``j``; called
        only for the fields whose range is above the floor.
    names : sequence of str, default=None
        Column names, for the message.
    """
    for j, top in enumerate(np.asarray(max_codes, dtype=np.int64).tolist()):
        rows = top + 1
        if numeric_mask[j] or rows <= CODE_RANGE_FLOOR:
            continue
        seen = distinct(j)
        if rows <= CODE_RANGE_FACTOR * seen:
            continue
        raise ValueError(
            f"Categorical field {_column_label(names, j)}: its largest code {top} "
            f"asks for an embedding table of {rows:,} rows, but the field holds "
            f"only {seen:,} distinct codes. Category codes are dense indices "
            "0 .. n-1: encode raw values (ids, hashes, counts) with "
            "sklearn_deeplight.FieldEncoder, or list a numeric column in "
            f"numeric_fields. (fit refuses a range above both {CODE_RANGE_FLOOR:,} "
            f"rows and {CODE_RANGE_FACTOR} times the distinct codes; raise "
            "sklearn_deeplight._validation.CODE_RANGE_FLOOR to allow it.)"
        )


def check_binary_target(
    estimator, y, n_samples: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Validate a binary target; return ``classes_`` and y as float32 in {0, 1}."""
    if y is None:
        raise ValueError(
            f"{type(estimator).__name__} requires y to be passed, but the target y "
            "is None."
        )
    y = column_or_1d(y, warn=True)
    if y.shape[0] == 0:
        raise ValueError(
            "Found array with 0 sample(s) in y while a minimum of 1 is required."
        )
    if n_samples is not None:
        check_consistent_length(np.empty(n_samples), y)
    if y.dtype.kind == "f" and not np.isfinite(y).all():
        raise ValueError("Input y contains NaN or infinity.")
    y_type = type_of_target(y, input_name="y", raise_unknown=True)
    if y_type != "binary" and not (y_type == "multiclass" and len(set(y)) < 2):
        raise ValueError(
            f"Only binary classification is supported. The type of the target is "
            f"{y_type}."
        )
    classes = np.unique(y)
    if classes.shape[0] < 2:
        raise ValueError(
            f"{type(estimator).__name__} needs samples of 2 classes, but the data "
            f"contains only one class: {classes[0]!r}."
        )
    if classes.shape[0] > 2:
        raise ValueError(
            "Only binary classification is supported. The target has "
            f"{classes.shape[0]} classes: {list(classes[:5])}."
        )
    return classes, (y == classes[1]).astype(np.float32)


def global_index(
    codes: np.ndarray, field_dims: np.ndarray, offsets: np.ndarray
) -> np.ndarray:
    """Map per-field codes to rows of the concatenated embedding table.

    Codes that are negative (missing) or not below ``field_dims`` (unseen at
    fit) go to the field's out-of-vocabulary row, ``offsets + field_dims``.
    Numeric fields hold code 0 and ``field_dims`` 1, so they map to their
    single row.

    Parameters
    ----------
    codes : ndarray of int64 of shape (n_samples, n_fields)
    field_dims : ndarray of int64 of shape (n_fields,)
    offsets : ndarray of int64 of shape (n_fields,)

    Returns
    -------
    index : ndarray of int64 of shape (n_samples, n_fields)
    """
    unknown = (codes < 0) | (codes >= field_dims)
    return np.where(unknown, field_dims, codes) + offsets
