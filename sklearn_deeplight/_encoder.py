"""Raw click-log columns to the field-indexed matrix the estimators take."""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from ._encoder_core import _NAMED_TRANSFORMS, _log1p_transform, criteo_numeric_transform
from ._encoder_tables import (
    FastEncodeMixin,
    _dict_rows,
    _FastCache,
)

__all__ = ["FieldEncoder", "criteo_numeric_transform"]


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


class FieldEncoder(
    FastEncodeMixin, OneToOneFeatureMixin, TransformerMixin, BaseEstimator
):
    """Encode raw click-log columns as a field-indexed matrix.

    Each input column is one field. A categorical field becomes int64 codes
    ``0 .. m_f - 1`` for the ``m_f`` values kept in fit (ordered by decreasing
    frequency, ties in order of first appearance) and the code ``m_f`` for
    everything else: values seen fewer than `min_frequency` times, values never
    seen in fit, and missing values when ``handle_missing="oov"``. So every code is
    smaller than ``field_dims_[f] = m_f + 1``. A numeric field becomes a float64
    value (after `numeric_transform`, missing values filled with
    `numeric_missing`) that scales the field's single embedding vector.

    The transform is total: it never fails on an unseen or malformed categorical
    value of the right input width.

    Parameters
    ----------
    numeric_fields : "auto", None or list of str or int, default="auto"
        Which columns are numeric. ``"auto"``: for a DataFrame the columns with a
        floating dtype (integer, bool, string, object and category columns are
        categorical); for any other input, no column. ``None``: no column. A list
        holds column names (str, DataFrame input) or column positions (int; an int
        is always a position).
    min_frequency : int or float, default=1
        Categorical values seen fewer than `min_frequency` times in fit (an int
        count, or a float in (0, 1] taken as a fraction of the rows seen in fit)
        are not kept and share the out-of-vocabulary (OOV) code of their field.
        The DeepLight reference code uses 8 on Criteo.
    handle_missing : {"category", "oov"}, default="category"
        What a missing categorical value becomes. ``"category"``: a category of its
        own, kept or not by `min_frequency` like any other value (missingness is
        informative in click logs; the reference code treats Criteo's empty fields
        so). ``"oov"``: the OOV code.
    missing_values : tuple, default=("",)
        Values treated as missing in addition to None, NaN, ``pd.NA`` and NaT,
        which always are. The default makes the empty string missing.
    numeric_transform : {"criteo", "log1p", "identity"}, callable or None, \
default=None
        Transform of the non-missing numeric values. ``None`` or ``"identity"``:
        unchanged. ``"criteo"``: the Criteo winners' transform of the reference
        code, ``x > 2`` to ``floor(log(x) ** 2)``, other values unchanged (see
        :func:`criteo_numeric_transform`). ``"log1p"``: ``sign(x) * log1p(|x|)``.
        A callable gets a 1-D float64 array and returns one of the same shape.
    numeric_missing : float, default=0.0
        Output value of a missing numeric value (used as it is, not transformed).
        0.0, as in the reference code, makes a missing value contribute nothing.

    Attributes
    ----------
    field_dims_ : ndarray of int64 of shape (n_features_in_,)
        Per field, the number of codes including OOV (``m_f + 1``) for a
        categorical field, 1 for a numeric field.
    numeric_fields_ : ndarray of int64
        Positions of the numeric fields.
    categories_ : list of length n_features_in_
        Per categorical field an object ndarray of the kept values in code order
        (NaN stands for the missing category); None for a numeric field.
    oov_codes_ : ndarray of int64 of shape (n_features_in_,)
        Per categorical field its OOV code ``m_f``; -1 for a numeric field.
    n_samples_seen_ : int
        Rows seen by fit and partial_fit.
    n_features_in_ : int
        Number of columns seen in fit.
    feature_names_in_ : ndarray of str of shape (n_features_in_,)
        Column names seen in fit, only when they are all strings.

    See Also
    --------
    sklearn.preprocessing.OrdinalEncoder : Similar, with one shared unknown value
        for all columns rather than one OOV code per field.

    Notes
    -----
    ``transform`` always returns a pandas DataFrame, one column per field, int64
    for categorical fields and float64 for numeric ones, with the input's index
    and the input's column names. An estimator with ``numeric_fields="auto"``
    after it in a Pipeline therefore finds the numeric fields by their dtype.

    The encoder keeps the count of every value seen, so that `partial_fit` can go
    on where it stopped; on high-cardinality logs this makes it large.

    Examples
    --------
    >>> import pandas as pd
    >>> from sklearn_deeplight import FieldEncoder
    >>> X = pd.DataFrame({"site": ["a", "b", "a", None, "a"],
    ...                   "count": [3.0, None, 1.0, 12.0, 0.0]})
    >>> enc = FieldEncoder(min_frequency=2).fit(X)
    >>> enc.field_dims_
    array([2, 1])
    >>> enc.transform(pd.DataFrame({"site": ["a", "zzz"], "count": [5.0, None]}))
       site  count
    0     0    5.0
    1     1    0.0
    """

    #: The named numeric transforms (read by the fast path too).
    _NAMED_TRANSFORMS = _NAMED_TRANSFORMS
    #: The named transforms the fast path computes in compiled code, keyed
    #: by function: the names of their modes of
    #: ``_encoder_kernels.numeric_into`` (the kernels are imported at first
    #: use, so the modes are read from them then).
    _COMPILED_TRANSFORMS = {
        criteo_numeric_transform: "CRITEO",
        _log1p_transform: "LOG1P",
    }

    def __init__(
        self,
        numeric_fields: str | Sequence[str | int] | None = "auto",
        min_frequency: int | float = 1,
        handle_missing: str = "category",
        missing_values: tuple = ("",),
        numeric_transform: str | Callable[[np.ndarray], np.ndarray] | None = None,
        numeric_missing: float = 0.0,
    ) -> None:
        self.numeric_fields = numeric_fields
        self.min_frequency = min_frequency
        self.handle_missing = handle_missing
        self.missing_values = missing_values
        self.numeric_transform = numeric_transform
        self.numeric_missing = numeric_missing

    # ------------------------------------------------------------------ tags
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.categorical = True
        tags.input_tags.allow_nan = True
        tags.input_tags.string = False
        tags.transformer_tags.preserves_dtype = []
        return tags

    # ------------------------------------------------------------ validation
    def _check_params(self) -> None:
        mf = self.min_frequency
        msg = f"min_frequency must be an int >= 1 or a float in (0, 1], got {mf!r}"
        if _is_int(mf):
            if mf < 1:
                raise ValueError(msg)
        elif isinstance(mf, numbers.Real) and not isinstance(mf, bool):
            if not 0.0 < float(mf) <= 1.0:
                raise ValueError(msg)
        else:
            raise TypeError(
                f"min_frequency must be an int or a float, got {type(mf).__name__}"
            )
        if self.handle_missing not in ("category", "oov"):
            raise ValueError(
                "handle_missing must be 'category' or 'oov', "
                f"got {self.handle_missing!r}"
            )
        self._check_transform_params()

    def _check_transform_params(self) -> None:
        """Check the parameters that transform reads (it calls this too, so
        that a value set after fit raises a ValueError naming it)."""
        nt = self.numeric_transform
        if not (
            nt is None
            or callable(nt)
            or (isinstance(nt, str) and (nt == "identity" or nt in _NAMED_TRANSFORMS))
        ):
            raise ValueError(
                "numeric_transform must be None, 'identity', 'criteo', 'log1p' or a "
                f"callable, got {nt!r}"
            )
        nm = self.numeric_missing
        if not (isinstance(nm, numbers.Real) and np.isfinite(nm)):
            raise ValueError(f"numeric_missing must be a finite number, got {nm!r}")
        mv = self.missing_values
        if mv is not None and (isinstance(mv, str) or not isinstance(mv, Sequence)):
            raise TypeError(
                "missing_values must be a tuple or list of values (or None), "
                f"got {mv!r}"
            )

    def _validate_X(self, X: Any, *, reset: bool) -> Any:
        """Check shape and width; return a DataFrame or a 2-D ndarray (no copy)."""
        if isinstance(X, pd.Series):
            raise ValueError(
                "Expected a 2-D input (DataFrame or 2-D array), got a pandas Series. "
                "Use X.to_frame() for a single field."
            )
        if isinstance(X, pd.DataFrame):
            n_rows, n_cols = X.shape
            if n_cols == 0:
                raise ValueError(
                    f"Found array with 0 feature(s) (shape=({n_rows}, 0)) while a "
                    "minimum of 1 is required by FieldEncoder."
                )
            if n_rows == 0:
                raise ValueError(
                    f"Found array with 0 sample(s) (shape=(0, {n_cols})) while a "
                    "minimum of 1 is required by FieldEncoder."
                )
        else:
            X = check_array(
                X,
                dtype=None,
                accept_sparse=False,
                ensure_all_finite=False,
                ensure_2d=True,
                allow_nd=False,
                input_name="X",
                estimator=self,
            )
        validate_data(self, X, reset=reset, skip_check_array=True)
        return X

    def _resolve_numeric_fields(self, X: Any) -> np.ndarray:
        n = self.n_features_in_
        spec = self.numeric_fields
        if spec is None:
            return np.zeros(0, dtype=np.int64)
        if isinstance(spec, str):
            if spec != "auto":
                raise ValueError(
                    "numeric_fields must be 'auto', None or a list of column names or "
                    f"positions, got {spec!r}"
                )
            if not isinstance(X, pd.DataFrame):
                return np.zeros(0, dtype=np.int64)
            pos = [
                j for j, dt in enumerate(X.dtypes) if pd.api.types.is_float_dtype(dt)
            ]
            return np.asarray(pos, dtype=np.int64)
        names = getattr(self, "feature_names_in_", None)
        pos = []
        for item in spec:
            if _is_int(item) or isinstance(item, np.integer):
                j = int(item)
                if not 0 <= j < n:
                    raise ValueError(
                        f"numeric_fields: position {j} is out of range for X with "
                        f"{n} columns"
                    )
            elif isinstance(item, str):
                if names is None or item not in list(names):
                    raise ValueError(
                        f"numeric_fields: {item!r} is not a column name of X"
                        + ("" if names is not None else " (X has no column names)")
                    )
                j = int(list(names).index(item))
            else:
                raise TypeError(
                    "numeric_fields must hold column names (str) or positions (int), "
                    f"got {item!r}"
                )
            if j in pos:
                raise ValueError(f"numeric_fields: column {item!r} is listed twice")
            pos.append(j)
        return np.asarray(sorted(pos), dtype=np.int64)

    # ---------------------------------------------------------------- columns
    def _name(self, j: int) -> str:
        names = getattr(self, "feature_names_in_", None)
        return str(names[j]) if names is not None else f"x{j}"

    @staticmethod
    def _column(X: Any, j: int) -> pd.Series:
        if isinstance(X, pd.DataFrame):
            return X.iloc[:, j]
        return pd.Series(X[:, j], copy=False)

    def _missing_mask(self, col: pd.Series) -> np.ndarray:
        mask = col.isna().to_numpy(dtype=bool)
        extra = list(self.missing_values) if self.missing_values is not None else []
        if extra:
            mask = mask | col.isin(extra).to_numpy(dtype=bool)
        return mask

    def _numeric_values(self, col: pd.Series, j: int) -> np.ndarray:
        """Float64 values of a numeric column (NaN where missing), checked."""
        name = self._name(j)
        dt = col.dtype
        if (
            pd.api.types.is_bool_dtype(dt) or pd.api.types.is_numeric_dtype(dt)
        ) and not pd.api.types.is_complex_dtype(dt):
            values = col.to_numpy(dtype=np.float64, na_value=np.nan)
            if self.missing_values:
                values = values.copy()
                values[col.isin(list(self.missing_values)).to_numpy(dtype=bool)] = (
                    np.nan
                )
        else:
            mask = self._missing_mask(col)
            kept = col.to_numpy(dtype=object)[~mask]
            numeric = pd.to_numeric(pd.Series(kept, dtype=object), errors="coerce")
            numeric = numeric.to_numpy(dtype=np.float64, na_value=np.nan)
            bad = np.flatnonzero(np.isnan(numeric))
            if bad.size:
                row = int(np.flatnonzero(~mask)[bad[0]])
                raise ValueError(
                    f"Numeric field {name!r} holds the non-numeric value "
                    f"{kept[bad[0]]!r} (row {row})."
                )
            values = np.full(len(col), np.nan)
            values[~mask] = numeric
        if np.isinf(values).any():
            row = int(np.flatnonzero(np.isinf(values))[0])
            raise ValueError(
                f"Numeric field {name!r} holds an infinite value (row {row})."
            )
        return values

    @staticmethod
    def _factorize(col: pd.Series, name: str) -> tuple[np.ndarray, pd.Index]:
        try:
            codes, uniques = pd.factorize(col, use_na_sentinel=True)
            codes = np.array(codes, dtype=np.int64)
        except TypeError as exc:
            bad = next(
                (v for v in col.to_numpy(dtype=object) if not _hashable(v)), None
            )
            raise TypeError(
                "Categorical values must be hashable: each argument must be a string "
                f"or a number (or missing), but field {name!r} holds {bad!r} "
                f"({type(bad).__name__})."
            ) from exc
        if isinstance(uniques, pd.CategoricalIndex):
            uniques = pd.Index(np.asarray(uniques))
        elif not isinstance(uniques, pd.Index):
            uniques = pd.Index(uniques)
        return np.asarray(codes, dtype=np.int64), uniques

    # ------------------------------------------------------------------- fit
    def fit(self, X: Any, y: Any = None) -> FieldEncoder:
        """Count the values of every categorical field and keep the frequent ones.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_fields)
            Raw columns, one per field.
        y : None
            Ignored.

        Returns
        -------
        self : FieldEncoder
            The fitted encoder.
        """
        for attr in ("_counts", "n_features_in_", "feature_names_in_"):
            if hasattr(self, attr):
                delattr(self, attr)
        return self.partial_fit(X, y)

    def partial_fit(self, X: Any, y: Any = None) -> FieldEncoder:
        """Add one chunk of rows to the value counts.

        Calling it on consecutive chunks gives exactly the encoder that `fit` gives
        on their concatenation. The encoder can transform after every call. Which
        fields are numeric is decided on the first call.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_fields)
            A chunk of raw columns, one per field.
        y : None
            Ignored.

        Returns
        -------
        self : FieldEncoder
            The updated encoder.
        """
        self._check_params()
        first = not hasattr(self, "_counts")
        X = self._validate_X(X, reset=first)
        if first:
            self.numeric_fields_ = self._resolve_numeric_fields(X)
            self._counts: list[pd.Series | None] = [None] * self.n_features_in_
            self._missing_counts = np.zeros(self.n_features_in_, dtype=np.int64)
            self.n_samples_seen_ = 0
        numeric = set(self.numeric_fields_.tolist())
        for j in range(self.n_features_in_):
            col = self._column(X, j)
            if j in numeric:
                self._numeric_values(col, j)  # validates
                continue
            mask = self._missing_mask(col)
            codes, uniques = self._factorize(col, self._name(j))
            codes[mask] = -1
            counts = np.bincount(codes[codes >= 0], minlength=len(uniques))
            present = counts > 0  # extra missing values (e.g. "") drop out here
            new = pd.Series(counts[present], index=uniques[present], dtype=np.int64)
            self._missing_counts[j] += int(mask.sum())
            old = self._counts[j]
            if old is None:
                self._counts[j] = new
            else:
                pos = old.index.get_indexer(new.index)
                seen = pos >= 0
                values = old.to_numpy(copy=True)
                values[pos[seen]] += new.to_numpy()[seen]
                self._counts[j] = pd.Series(
                    np.concatenate([values, new.to_numpy()[~seen]]),
                    index=old.index.append(new.index[~seen]),
                    dtype=np.int64,
                )
        self.n_samples_seen_ += int(X.shape[0])
        self._finalize()
        return self

    def _finalize(self) -> None:
        """Derive the public vocabulary from the counts."""
        n = self.n_features_in_
        if _is_int(self.min_frequency):
            threshold = float(self.min_frequency)
        else:
            threshold = float(self.min_frequency) * self.n_samples_seen_
        numeric = set(self.numeric_fields_.tolist())
        field_dims = np.ones(n, dtype=np.int64)
        oov = np.full(n, -1, dtype=np.int64)
        categories: list[np.ndarray | None] = [None] * n
        self._vocab: list[pd.Index | None] = [None] * n
        self._lookup: list[np.ndarray | None] = [None] * n
        self._missing_code = np.full(n, -1, dtype=np.int64)
        for j in range(n):
            if j in numeric:
                continue
            counts = self._counts[j]
            values = counts.index
            cnt = counts.to_numpy()
            n_regular = len(cnt)
            missing_count = int(self._missing_counts[j])
            if self.handle_missing == "category" and missing_count > 0:
                # the missing category ranks after regular values of equal count
                cnt = np.append(cnt, missing_count)
            order = np.argsort(-cnt, kind="stable")
            order = order[cnt[order] >= threshold]
            m = len(order)
            code_of = np.full(len(cnt), m, dtype=np.int64)
            code_of[order] = np.arange(m, dtype=np.int64)
            # lookup[i] = code of regular value i; lookup[-1] (unknown) = OOV
            self._lookup[j] = np.append(code_of[:n_regular], m)
            self._vocab[j] = values
            self._missing_code[j] = code_of[n_regular] if len(cnt) > n_regular else m
            cats = np.empty(m, dtype=object)
            regular = order < n_regular
            cats[regular] = np.asarray(values, dtype=object)[order[regular]]
            cats[~regular] = np.nan
            categories[j] = cats
            field_dims[j] = m + 1
            oov[j] = m
        self.field_dims_ = field_dims
        self.oov_codes_ = oov
        self.categories_ = categories
        self._fast = _FastCache()  # tables of the fast transform, at first use

    # ------------------------------------------------------------- transform
    def transform(self, X: Any) -> pd.DataFrame:
        """Encode raw columns as field codes and values.

        Parameters
        ----------
        X : DataFrame, array-like of shape (n_samples, n_fields), dict or \
list of dict
            Raw columns with the same fields as in fit. A dict is one row and
            a list of dicts several, each mapping every column name seen in
            fit to its raw value (an encoder fitted on a DataFrame only).

        Returns
        -------
        Xt : DataFrame of shape (n_samples, n_fields)
            One column per field: int64 codes (categorical) or float64 values
            (numeric), with the column names of `get_feature_names_out` and the
            input's index.
        """
        check_is_fitted(self, "field_dims_")
        self._check_transform_params()
        fast = self._encode_matrix(X)
        if fast is not None:
            return self._frame(*fast)
        return self._transform_reference(self._as_frame(X))

    def _frame(self, M: np.ndarray, index: Any) -> pd.DataFrame:
        """The output DataFrame of a fast-path matrix (codes as float64)."""
        numeric = set(self.numeric_fields_.tolist())
        columns = {
            j: M[:, j].copy() if j in numeric else M[:, j].astype(np.int64)
            for j in range(self.n_features_in_)
        }
        out = pd.DataFrame(columns, index=index, copy=False)
        out.columns = self.get_feature_names_out()
        return out

    def _as_frame(self, X: Any) -> Any:
        """A dict (one row) or a list of dicts as an object DataFrame with the
        columns seen in fit; any other input as it is."""
        rows = _dict_rows(X)
        if rows is None:
            return X
        names = getattr(self, "feature_names_in_", None)
        if names is None:
            raise ValueError(
                f"{type(self).__name__} was fitted without column names, so it "
                "cannot encode dict rows: pass a 2-D array, or fit it on a DataFrame."
            )
        known = set(names.tolist())
        for i, row in enumerate(rows):
            absent = [name for name in names if name not in row]
            if absent:
                raise ValueError(
                    f"row {i} has no value for the field(s) {absent[:5]}"
                    + (" ..." if len(absent) > 5 else "")
                )
            unknown = [key for key in row if key not in known]
            if unknown:
                raise ValueError(
                    f"row {i} holds the unknown field(s) {unknown[:5]}: the fields "
                    f"seen in fit are {names.tolist()}"
                )
        return pd.DataFrame(
            {
                j: pd.Series([row[name] for row in rows], dtype=object)
                for j, name in enumerate(names)
            }
        ).set_axis(names, axis=1)

    def _transform_reference(self, X: Any) -> pd.DataFrame:
        """The column-by-column pandas transform (the fast path's reference,
        and its fallback for inputs it does not handle)."""
        X = self._validate_X(X, reset=False)
        numeric = set(self.numeric_fields_.tolist())
        columns: dict[int, np.ndarray] = {}
        for j in range(self.n_features_in_):
            col = self._column(X, j)
            if j in numeric:
                values = self._numeric_values(col, j)
                columns[j] = self._transform_numeric(values, j)
            else:
                columns[j] = self._encode(col, j)
        index = X.index if isinstance(X, pd.DataFrame) else None
        out = pd.DataFrame(columns, index=index, copy=False)
        out.columns = self.get_feature_names_out()
        return out

    # ------------------------------------------------------------- fast path
    def __getstate__(self):
        state = dict(super().__getstate__())
        state.pop("_fast", None)  # in-memory tables, rebuilt at first use
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        if "field_dims_" in self.__dict__:
            self._fast = _FastCache()

    def _encode(self, col: pd.Series, j: int) -> np.ndarray:
        mask = self._missing_mask(col)
        vocab = self._vocab[j]
        if isinstance(col.dtype, pd.CategoricalDtype):
            cat_pos = vocab.get_indexer(pd.Index(np.asarray(col.cat.categories)))
            cat_pos = np.append(cat_pos, -1)  # code -1 (NaN) -> unknown
            pos = cat_pos[col.cat.codes.to_numpy()]
        else:
            try:
                pos = vocab.get_indexer(col)
            except (TypeError, pd.errors.InvalidIndexError):
                # Unhashable values, or a vocabulary pandas cannot index
                # (e.g. a tuple beside an equal-looking scalar): a dict lookup.
                index = {v: i for i, v in enumerate(vocab)}
                pos = np.fromiter(
                    (index.get(v, -1) if _hashable(v) else -1 for v in col),
                    dtype=np.int64,
                    count=len(col),
                )
        codes = self._lookup[j][pos]
        codes[mask] = self._missing_code[j]
        return codes.astype(np.int64, copy=False)

    def _transform_numeric(self, values: np.ndarray, j: int) -> np.ndarray:
        nt = self.numeric_transform
        missing = np.isnan(values)
        out = np.full(values.shape, float(self.numeric_missing), dtype=np.float64)
        present = values[~missing]
        if nt is None or nt == "identity":
            done = present
        else:
            func = _NAMED_TRANSFORMS[nt] if isinstance(nt, str) else nt
            done = np.asarray(func(present.copy()), dtype=np.float64)
            if done.shape != present.shape:
                raise ValueError(
                    f"numeric_transform returned shape {done.shape} for an input of "
                    f"shape {present.shape} (field {self._name(j)!r})."
                )
            if not np.isfinite(done).all():
                raise ValueError(
                    "numeric_transform produced non-finite values in field "
                    f"{self._name(j)!r}."
                )
        out[~missing] = done
        return out


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True
