"""The fast path of :class:`~sklearn_deeplight.FieldEncoder`: hash tables
read by compiled lookups, and the input readers that feed them.

All the categorical fields' vocabularies live in one open-addressing hash
table keyed by (field, UTF-8 bytes or int64), built at the first transform
(or by :func:`sklearn_deeplight.load`) in a holder the saved state leaves
out, and read by the numba lookups of :mod:`sklearn_deeplight._encoder_kernels`.
The encoder's reference (pandas) path is in :mod:`sklearn_deeplight._encoder`.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from operator import itemgetter
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ._encoder_core import (
    _EMPTY_U8,
    _EXACT_INT,
    _INT64_MAX,
    _INT64_MIN,
    _LEAN_DICT_ROWS,
    _LEAN_ROWS,
    _NAN,
    _NEUTRAL_TYPES,
    _NUMBER_TYPES,
    KeyTables,
    _dict_rows,
    _utf8_of_strings,
    encode_rows,
)

if TYPE_CHECKING:  # pragma: no cover
    from ._encoder import FieldEncoder


def _is_object(dtype: Any) -> bool:
    return isinstance(dtype, np.dtype) and dtype.kind == "O"


def _as_series(col: Any) -> pd.Series:
    return col if isinstance(col, pd.Series) else pd.Series(col, copy=False)


def _object_series(col: np.ndarray) -> pd.Series:
    """An object column of dict rows with the dtype the pandas path gives it
    (:meth:`FieldEncoder._as_frame`: object; ``pd.Series(col)`` would infer
    pandas' string dtype from strings)."""
    return pd.Series(col, dtype=object, copy=False)


def _frame_columns(X: pd.DataFrame) -> list:
    """The columns of ``X`` as arrays (ndarray or pandas extension array)."""
    get = getattr(X, "_get_column_array", None)  # no Series per column
    if get is None:  # pragma: no cover - pandas without it
        return [X.iloc[:, j] for j in range(X.shape[1])]
    return [get(j) for j in range(X.shape[1])]


def _python_columns(cols: list) -> list | None:
    """Each column's values as Python objects (what a dict row holds), or
    None for a column type that would change meaning."""
    out = []
    for col in cols:
        dtype = col.dtype
        if isinstance(dtype, np.dtype):
            if dtype.kind not in "fiubO":
                return None  # datetime64.tolist() gives ints
            out.append(col.tolist())
        elif isinstance(dtype, pd.StringDtype):
            if dtype.storage == "pyarrow":
                out.append(col.__arrow_array__().to_pylist())
            else:
                out.append(list(col))
        elif isinstance(dtype, pd.CategoricalDtype):
            out.append(np.asarray(col, dtype=object).tolist())
        else:
            return None
    return out


def _numeric_column(col: Any) -> np.ndarray | None:
    """Float64 values (NaN where missing) of a numeric column of a numpy
    number or bool dtype without infinite values, else None."""
    dtype = col.dtype
    if not isinstance(dtype, np.dtype) or dtype.kind not in "fiubO":
        return None
    if dtype.kind == "O":
        # Python floats (NaN, None missing) or ints exact in float64
        kind = pd.api.types.infer_dtype(col, skipna=True)
        if kind not in ("floating", "integer", "mixed-integer-float"):
            return None
        try:
            values = np.asarray(col, dtype=np.float64)
        except (TypeError, ValueError, OverflowError):
            return None  # pd.NA, ints beyond float64
        if kind != "floating" and not (np.abs(values) < _EXACT_INT).all():
            return None  # NaN fails too: the reference path then
    else:
        values = np.asarray(col, dtype=np.float64)
    if dtype.kind in "fO" and np.isinf(values).any():
        return None
    return values


def _arrow_chunks(array: Any) -> list | None:
    """``(offsets, data, bitmap, bit_offset)`` per chunk of an Arrow-backed
    string array, or None for a layout the lookups do not read."""
    import pyarrow as pa

    if not isinstance(array, pa.Array | pa.ChunkedArray):
        array = array.__arrow_array__()
    chunks = array.chunks if isinstance(array, pa.ChunkedArray) else [array]
    out = []
    for chunk in chunks:
        n = len(chunk)
        if n == 0:
            continue
        if pa.types.is_large_string(chunk.type):
            odt = np.int64
        elif pa.types.is_string(chunk.type):
            odt = np.int32
        else:
            return None
        validity, offsets, data = chunk.buffers()
        start = chunk.offset
        offsets = np.frombuffer(offsets, dtype=odt, count=start + n + 1)[start:]
        data = _EMPTY_U8 if data is None else np.frombuffer(data, dtype=np.uint8)
        bitmap = (
            np.frombuffer(validity, dtype=np.uint8)
            if validity is not None and chunk.null_count
            else _EMPTY_U8
        )
        out.append((offsets, data, bitmap, start))
    return out


def _arrow_segments(array: Any, field: int, segments: list, keep: list) -> bool:
    """Append the rows of
    :func:`~sklearn_deeplight._encoder_kernels.lookup_segments` for the
    chunks of an Arrow-backed string array of field ``field``, keeping the
    buffers they address in ``keep``; False (nothing appended) for a layout
    the lookups do not read."""
    import pyarrow as pa

    if not isinstance(array, pa.Array | pa.ChunkedArray):
        array = array.__arrow_array__()
    chunks = array.chunks if isinstance(array, pa.ChunkedArray) else [array]
    rows = []
    row = 0
    for chunk in chunks:
        n = len(chunk)
        if n == 0:
            continue
        if pa.types.is_large_string(chunk.type):
            width = 8
        elif pa.types.is_string(chunk.type):
            width = 4
        else:
            return False
        validity, offsets, data = chunk.buffers()
        start = chunk.offset
        rows.append(
            (
                field,
                row,
                n,
                offsets.address + start * width,
                width == 8,
                0 if data is None else data.address,
                0 if data is None else data.size,
                validity.address if validity is not None and chunk.null_count else 0,
                start,
            )
        )
        row += n
    keep.append(array)
    segments.extend(rows)
    return True


class _FastCache:
    """Holder of an encoder's fast-path tables, filled at the first transform.

    Created with the fitted state (fit, partial_fit, unpickling) and never
    saved, so that the first transform fills it in place: the encoder's
    attributes and its saved state stay what they were.
    """

    __slots__ = ("lock", "tables")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.tables: _Tables | None = None


class _Tables(KeyTables):
    """The hash tables (:class:`~sklearn_deeplight._encoder_core.KeyTables`)
    of a fitted encoder's pandas vocabularies, and the lookups of pandas and
    Arrow columns."""

    def __init__(
        self, enc: FieldEncoder, missing: tuple | None, keep: bool = False
    ) -> None:
        """The tables of ``enc`` for its ``missing_values`` ``missing``;
        ``keep``: keep the key arrays (:attr:`keys`)."""
        self.vocab = enc._vocab
        self.key = missing
        n = int(enc.n_features_in_)
        names = getattr(enc, "feature_names_in_", None)
        numeric = np.zeros(n, dtype=bool)
        numeric[enc.numeric_fields_] = True
        miss_str = [v for v in (missing or ()) if isinstance(v, str)]
        oov = np.full(n, np.nan)
        for j in range(n):
            if not numeric[j]:
                oov[j] = float(enc._lookup[j][-1])
        self._setup(
            None if names is None else list(names),
            numeric,
            enc._missing_code.astype(np.float64),
            oov,
            miss_str,
        )
        if self.kernels is not None and (
            n >= self.kernels.MAX_FIELDS or int(enc.field_dims_.max()) >= 2**32
        ):
            self.kernels = None  # beyond the table's code and field bits
        if self.kernels is None:
            return
        # (field, strings or (offsets, utf-8 bytes), codes); the missing
        # strings first, since a key seen twice keeps its first code
        s_parts: list[tuple[int, Any, np.ndarray]] = []
        i_parts: list[tuple[int, np.ndarray, np.ndarray]] = []
        for j in range(n):
            if not numeric[j] and miss_str:
                codes = np.full(len(miss_str), enc._missing_code[j], dtype=np.int64)
                s_parts.append((j, miss_str, codes))
        n_missing_keys = len(s_parts) * len(miss_str)
        for j in range(n):
            if not numeric[j]:
                self._add_field(enc._vocab[j], enc._lookup[j], j, s_parts, i_parts)
        self._build(s_parts, i_parts, n_missing_keys, keep)
        self._finish()

    # ------------------------------------------------------------ building
    def _add_field(self, vocab: pd.Index, lookup: np.ndarray, j: int, s_parts, i_parts):
        """Classify field ``j``'s vocabulary and queue its keys."""
        codes = lookup[:-1]
        dtype = vocab.dtype
        if isinstance(dtype, pd.StringDtype):
            self.str_ok[j] = self.int_ok[j] = self.no_num[j] = True
            chunks = None
            if dtype.storage == "pyarrow" and len(vocab):
                chunks = _arrow_chunks(vocab.array)
            if chunks is not None and len(chunks) == 1 and not chunks[0][2].size:
                offsets, data, _, _ = chunks[0]
                offsets = offsets.astype(np.int64)
                source = (offsets - offsets[0], data[offsets[0] : offsets[-1]])
            else:
                source = [str(v) for v in vocab.tolist()]
            s_parts.append((j, source, codes))
            return
        if isinstance(dtype, np.dtype) and dtype.kind in "iu":
            self.str_ok[j] = True
            keys = vocab.to_numpy()
            if dtype.kind == "u" and keys.size and keys.max() > _INT64_MAX:
                return
            self.int_ok[j] = True
            i_parts.append((j, keys.astype(np.int64), codes))
            return
        if isinstance(dtype, np.dtype) and dtype.kind in "fbc":
            self.str_ok[j] = True
            return
        if not _is_object(dtype):
            return  # datetimes, intervals...: the pandas path
        str_ok = int_ok = no_num = True
        s_pos, strings, i_pos, ints = [], [], [], []
        for i, v in enumerate(vocab.tolist()):
            t = type(v)
            if t is str or t is np.str_:
                s_pos.append(i)
                strings.append(v)
            elif (t is int or isinstance(v, np.integer)) and t is not bool:
                no_num = False
                if _INT64_MIN <= v <= _INT64_MAX:
                    i_pos.append(i)
                    ints.append(int(v))
                else:
                    int_ok = False
            elif isinstance(v, _NEUTRAL_TYPES):
                pass
            elif isinstance(v, _NUMBER_TYPES):
                no_num = int_ok = False
            else:
                str_ok = int_ok = no_num = False
        self.str_ok[j], self.int_ok[j], self.no_num[j] = str_ok, int_ok, no_num
        if str_ok and strings:
            s_parts.append((j, strings, codes[np.asarray(s_pos, dtype=np.int64)]))
        if int_ok and ints:
            keys = np.array(ints, dtype=np.int64)
            i_parts.append((j, keys, codes[np.asarray(i_pos, dtype=np.int64)]))

    def lookup_arrow(self, array: Any, j: int) -> np.ndarray | None:
        """Codes of an Arrow-backed pandas string array of field ``j``."""
        chunks = _arrow_chunks(array)
        if chunks is None:
            return None
        parts = [
            self.lookup_column(offsets, data, j, bitmap, start)
            for offsets, data, bitmap, start in chunks
        ]
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def lookup_objects(self, values: np.ndarray, j: int) -> np.ndarray:
        """Codes of an object array of strings and missing values of field ``j``."""
        pa = sys.modules.get("pyarrow")  # used when pandas has loaded it
        if pa is not None:
            try:
                array = pa.array(values, type=pa.large_string(), from_pandas=True)
            except (pa.ArrowException, TypeError, ValueError):
                pass  # e.g. lone surrogates
            else:
                return self.lookup_arrow(array, j)
        missing = pd.isna(values)
        if not missing.any():
            return self.lookup_column(*_utf8_of_strings(values.tolist()), j)
        out = np.full(len(values), self.missing_list[j])
        present = ~missing
        out[present] = self.lookup_column(
            *_utf8_of_strings(values[present].tolist()), j
        )
        return out


class FastEncodeMixin:
    """:class:`~sklearn_deeplight.FieldEncoder`'s fast transform: the tables
    (built at first use) and the readers of frames, arrays and dict rows that
    feed the compiled lookups. Every method returns None where the fast path
    does not apply, so that the encoder's reference path answers (and raises
    its errors)."""

    def _fast_tables(self) -> _Tables | None:
        """The hash tables of the fast path (built at first use), or None when
        the fast path does not apply (numba missing, ``missing_values`` holding
        values other than strings, None and NaN)."""
        mv = self.missing_values
        missing = None if mv is None else tuple(mv)
        if missing is not None and not all(
            isinstance(v, str) or v is None or (type(v) is float and v != v)
            for v in missing
        ):
            return None
        cache = self.__dict__.get("_fast")
        if cache is None:
            cache = self._fast = _FastCache()
        tables = cache.tables
        if tables is None or tables.vocab is not self._vocab or tables.key != missing:
            with cache.lock:
                tables = cache.tables
                if (
                    tables is None
                    or tables.vocab is not self._vocab
                    or tables.key != missing
                ):
                    tables = cache.tables = _Tables(self, missing)
        return tables if tables.kernels is not None else None

    def _encode_matrix(self, X: Any) -> tuple[np.ndarray, Any] | None:
        """The fast transform: ``(M, index)`` or None where it does not apply.

        ``M`` is a float64 matrix of shape (n_samples, n_fields) holding the
        codes of the categorical fields and the values of the numeric ones,
        exactly as :meth:`transform` returns them; ``index`` the input's
        index (None but for a DataFrame). None: use the reference path, which
        also raises the errors (the fast path never raises for bad input).
        """
        tables = self._fast_tables()
        if tables is None:
            return None
        try:
            return self._encode_matrix_with(tables, X)
        except (ValueError, TypeError, OverflowError):
            # Bad input: the reference path raises its error.
            return None

    def _encode_matrix_with(self, tables: _Tables, X: Any):
        rows = _dict_rows(X)
        if rows is not None:
            names = tables.names
            if names is None or not rows:
                return None
            n = tables.n
            if any(len(row) != n for row in rows):
                return None
            try:
                get = itemgetter(*names)  # one name: the value, not a tuple
                seqs = [(get(row),) for row in rows] if n == 1 else list(map(get, rows))
            except KeyError:
                return None
            if len(rows) <= _LEAN_DICT_ROWS:
                M = self._encode_rows(tables, seqs)
            else:  # object columns: a Series (as the pandas path sees them)
                # only where a column falls back to that path (3 of 20 ms at
                # 4096 rows of 39 fields went to 39 Series, scratch timing)
                n_rows = len(rows)
                cols = [
                    np.fromiter(values, dtype=object, count=n_rows)
                    for values in zip(*seqs, strict=True)
                ]
                M = self._encode_columns(tables, cols, _object_series)
            return None if M is None else (M, None)
        if type(X) is pd.DataFrame:
            names = tables.names
            if names is None or X.shape[1] != tables.n or X.shape[0] == 0:
                return None
            if X.columns.tolist() != names:  # else the pandas path checks them
                return None
            cols = _frame_columns(X)
            M = None
            if X.shape[0] <= _LEAN_ROWS:
                values = _python_columns(cols)
                if values is not None:
                    M = self._encode_rows(tables, list(zip(*values)))
            else:
                M = self._encode_columns(tables, cols)
            return None if M is None else (M, X.index)
        if type(X) is np.ndarray:
            if (
                tables.names is not None
                or X.ndim != 2
                or X.shape[1] != tables.n
                or X.shape[0] == 0
                or X.dtype.kind not in "Oif"
            ):
                return None
            if X.dtype.kind == "O" and X.shape[0] <= _LEAN_ROWS:
                M = self._encode_rows(tables, X)
            else:
                M = self._encode_columns(tables, [X[:, j] for j in range(tables.n)])
            return None if M is None else (M, None)
        return None

    def _encode_rows(self, tables: _Tables, rows: Any) -> np.ndarray | None:
        """Fast transform of a few rows of Python values (a sequence of rows,
        each the values of the fields in order), value by value
        (:func:`~sklearn_deeplight._encoder_core.encode_rows`)."""
        nt = self.numeric_transform
        if callable(nt):
            M = encode_rows(tables, rows, None, _NAN, self._transform_values)
        else:
            named = (
                None if nt is None or nt == "identity" else self._NAMED_TRANSFORMS[nt]
            )
            M = encode_rows(tables, rows, named, float(self.numeric_missing))
        return None if type(M) is int else M

    def _encode_columns(
        self,
        tables: _Tables,
        cols: list,
        series: Callable[[Any], pd.Series] = _as_series,
    ) -> np.ndarray | None:
        """Fast transform column by column (a Series or a 1-D ndarray each);
        a column the fast lookups do not handle takes the reference path, as
        the Series ``series(col)``.

        The Arrow-backed string columns are looked up in one compiled call
        that writes their codes into the output matrix, and a named numeric
        transform is one compiled pass over the numeric columns (besides
        numpy's logarithm)."""
        n_rows = len(cols[0])
        M = np.empty((n_rows, tables.n), dtype=np.float64)
        num_pos = tables.num_pos
        V = np.empty((len(num_pos), n_rows), dtype=np.float64)  # numeric values
        segments: list[tuple] = []  # Arrow string chunks, as lookup_segments reads
        keep: list[Any] = []  # the Arrow arrays those address
        numeric_list = tables.numeric_list
        str_ok = tables.str_ok
        k = 0
        for j, col in enumerate(cols):
            if numeric_list[j]:
                if type(col) is np.ndarray and col.dtype == np.float64:
                    V[k] = col  # infinite values: _numeric_into declines
                else:
                    values = _numeric_column(col)
                    if values is None:
                        values = self._numeric_values(series(col), j)
                    V[k] = values
                k += 1
                continue
            dtype = col.dtype
            if (
                str_ok[j]
                and isinstance(dtype, pd.StringDtype)
                and dtype.storage == "pyarrow"
            ):
                array = col.array if isinstance(col, pd.Series) else col
                if _arrow_segments(array, j, segments, keep):
                    continue
            codes = self._fast_codes(tables, col, j)
            if codes is None:
                codes = self._encode(series(col), j)
            M[:, j] = codes
        if segments:
            tables.lookup_segments(np.array(segments, dtype=np.int64), M)
        if num_pos.size and not self._numeric_into(tables, V, M):
            return None
        return M

    def _numeric_into(self, tables: _Tables, V: np.ndarray, M: np.ndarray) -> bool:
        """Numeric transform of the rows of ``V`` (one per numeric field, NaN
        where missing) into the numeric columns of ``M``; False when the
        pandas path must run (it raises: an infinite value, a non-finite
        transformed value)."""
        nt = self.numeric_transform
        num_pos = tables.num_pos
        kernels = tables.kernels
        if nt is None or nt == "identity":
            mode = kernels.IDENTITY
        elif callable(nt):
            mode = None
        else:
            name = self._COMPILED_TRANSFORMS.get(self._NAMED_TRANSFORMS[nt])
            mode = None if name is None else getattr(kernels, name)
        if mode is None:  # a callable, or a named transform replaced
            if np.isinf(V).any():
                return False
            done = self._transform_values(V, num_pos)
            if done is None:
                return False
            M[:, num_pos] = done.T
            return True
        queue = np.empty(V.size if mode != kernels.IDENTITY else 0, dtype=np.float64)
        where = np.empty(queue.size, dtype=np.int64)
        fill = float(self.numeric_missing)
        c = kernels.numeric_into(V, num_pos, M, mode, fill, queue, where)
        if c <= 0:
            return c == 0  # -1: an infinite value
        logs = queue[:c]
        if mode == kernels.CRITEO:
            np.log(logs, out=logs)
        else:
            np.log1p(logs, out=logs)
        return bool(kernels.numeric_finish(M, mode, logs, where[:c]))

    def _transform_values(self, V: np.ndarray, fields: np.ndarray):
        """Numeric transform of the rows of ``V`` (one per numeric field, NaN
        where missing) as the pandas path transforms them, in place; None
        when the pandas path must run (it raises)."""
        nt = self.numeric_transform
        if callable(nt):
            for k, j in enumerate(fields.tolist()):
                V[k] = self._transform_numeric(V[k], j)
            return V
        missing = np.isnan(V)
        if not (nt is None or nt == "identity"):
            # The named transforms are elementwise and keep NaN: applied to
            # all values at once, they give the present values what the
            # pandas path's per-column call on those values gives them.
            V = self._NAMED_TRANSFORMS[nt](V)
            if not (np.isfinite(V) | missing).all():
                return None
        np.copyto(V, float(self.numeric_missing), where=missing)
        return V

    def _fast_codes(self, tables: _Tables, col: Any, j: int) -> np.ndarray | None:
        """Float64 codes of one categorical column, or None (reference path)."""
        dtype = col.dtype
        if isinstance(col, pd.Series):
            col = col.array
        if isinstance(dtype, pd.CategoricalDtype):
            cats = self._fast_codes(tables, col.categories.array, j)
            if cats is None:
                return None
            cats = np.append(cats, tables.missing_list[j])  # code -1: missing
            return cats[col.codes]
        if isinstance(dtype, np.dtype) and dtype.kind in "iu":
            if not tables.int_ok[j]:
                return None
            values = np.asarray(col)
            if dtype.kind == "u" and values.size and values.max() > _INT64_MAX:
                return None
            return tables.lookup_int(values.astype(np.int64, copy=False), j)
        if not tables.str_ok[j]:
            return None
        if isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow":
            return tables.lookup_arrow(col, j)
        if _is_object(dtype) or isinstance(dtype, pd.StringDtype):
            values = np.asarray(col, dtype=object)
            inferred = pd.api.types.infer_dtype(values, skipna=True)
            if inferred == "empty":  # every value missing
                return np.full(len(values), tables.missing_list[j])
            if inferred != "string":
                return None
            return tables.lookup_objects(values, j)
        return None
