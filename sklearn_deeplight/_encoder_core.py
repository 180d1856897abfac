"""The compiled core of :class:`~sklearn_deeplight.FieldEncoder`'s fast path,
free of pandas and scikit-learn.

All the categorical fields' vocabularies live in one open-addressing hash
table keyed by (field, UTF-8 bytes or int64), read by the numba lookups of
:mod:`sklearn_deeplight._encoder_kernels` (imported on first use).
:class:`KeyTables` holds it, with what each field's values may be looked up
as; :func:`encode_rows` encodes a few rows of plain Python values (a dict per
request) with it. The encoder builds its tables from its pandas vocabularies
(:mod:`sklearn_deeplight._encoder_tables`);
:class:`~sklearn_deeplight.RecordPredictor` rebuilds them from the key arrays
it saves, without pandas.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from itertools import accumulate
from typing import Any

import numpy as np


def criteo_numeric_transform(x: np.ndarray) -> np.ndarray:
    """Transform of the Criteo winners, used by the DeepLight reference code.

    ``x > 2`` becomes ``floor(log(x) ** 2)`` (natural logarithm); every other value
    (2, 1, 0 and negative values) is kept as it is.

    Parameters
    ----------
    x : ndarray of float64
        Values to transform (no missing values).

    Returns
    -------
    ndarray of float64
        Transformed values, same shape as `x`.

    See Also
    --------
    FieldEncoder : Applies a transform like this one to numeric fields.

    Examples
    --------
    >>> from sklearn_deeplight import criteo_numeric_transform
    >>> criteo_numeric_transform(np.array([-1.0, 0.0, 2.0, 3.0, 1382.0]))
    array([-1.,  0.,  2.,  1., 52.])
    """
    x = np.asarray(x, dtype=np.float64)
    out = x.copy()
    big = x > 2
    out[big] = np.floor(np.log(x[big]) ** 2)
    return out


def _log1p_transform(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.log1p(np.abs(x))


_NAMED_TRANSFORMS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "criteo": criteo_numeric_transform,
    "log1p": _log1p_transform,
}


#: Inputs of at most this many rows are encoded value by value (no column
#: objects); larger ones column by column.
_LEAN_ROWS = 16
#: Lists of dicts of at most this many rows are encoded value by value too:
#: building column objects costs about 1 ms, which only pays off above about
#: 256 rows (measured on generated Criteo rows: 64 dicts 0.8 ms value by value
#: against 1.6 ms column by column; 1,024 dicts 8.6 ms against 4.6 ms).
_LEAN_DICT_ROWS = 256
_NAN = float("nan")
#: Python ints below this magnitude convert to float64 exactly.
_EXACT_INT = 2**53
_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
_EMPTY_U8 = np.zeros(0, dtype=np.uint8)
#: Fields a table can hold (16 bits of a slot's ``meta`` word, see
#: :mod:`sklearn_deeplight._encoder_kernels`).
MAX_FIELDS = 1 << 16
#: The value of an empty slot's words (see
#: :func:`~sklearn_deeplight._encoder_kernels.build_table`).
EMPTY = np.uint64(0xFFFFFFFFFFFFFFFF)
#: Stands for pd.NA while pandas is not loaded (no value can be it then).
_NO_VALUE = object()

#: Vocabulary value types that never compare equal to a str or an int.
_NEUTRAL_TYPES = (bytes, np.bytes_, tuple, frozenset, type(None))
#: Vocabulary value types that may equal an int but never a str.
_NUMBER_TYPES = (float, bool, complex, np.floating, np.bool_, np.complexfloating)


def table_capacity(n_keys: int) -> int:
    """Slots for ``n_keys`` keys: a power of two, load at most 2/3."""
    cap = 16
    while 2 * cap < 3 * n_keys:
        cap *= 2
    return cap


def _dict_rows(X: Any) -> list | None:
    """``X`` as a list of rows when it is a dict or a list of dicts, else None."""
    if isinstance(X, Mapping):
        return [X]
    if (
        type(X) is list
        and X
        and all(type(row) is dict or isinstance(row, Mapping) for row in X)
    ):
        return X
    return None


def _is_int_literal(v: str) -> bool:
    """An ASCII decimal integer of at most 15 characters (exact in float64)."""
    digits = v[1:] if v[:1] == "-" else v
    return len(v) <= 15 and digits.isdigit() and digits.isascii()


def _utf8_of_strings(strings: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Offsets (int64, n + 1) and bytes (uint8) of the UTF-8 of strings
    (lone surrogates kept, so that the encoding is one to one)."""
    joined = "".join(strings)
    if joined.isascii():
        data = joined.encode("ascii")
        lengths = map(len, strings)
    else:
        parts = [s.encode("utf-8", "surrogatepass") for s in strings]
        data = b"".join(parts)
        lengths = map(len, parts)
    offsets = np.fromiter(
        accumulate(lengths, initial=0), dtype=np.int64, count=len(strings) + 1
    )
    return offsets, np.frombuffer(data, dtype=np.uint8)


def _load_encoder_kernels():
    try:
        from . import _encoder_kernels
    except ImportError:  # pragma: no cover - numba is a dependency
        return None
    return _encoder_kernels


class KeyTables:
    """The vocabularies of a fitted encoder as one hash table of keys.

    Keys are ``(field, value)`` pairs of all the categorical fields: strings
    (their UTF-8 bytes) in one table, integers in another; a key's code is
    the field code :meth:`FieldEncoder.transform` gives the value (the string
    values of ``missing_values`` the field's missing code). Per field, which
    queries the tables answer exactly as the pandas path does:

    - ``str_ok``: strings (every vocabulary value is a str, a number or of a
      type that never equals a str);
    - ``int_ok``: int64 integers (every vocabulary value is a str, an int64
      integer or of a type that never equals an int);
    - ``no_num``: floats, all out of vocabulary (no vocabulary value is a
      number).

    Other queries take the pandas path (or, in a
    :class:`~sklearn_deeplight.RecordPredictor`, are refused).

    Built in two steps: :meth:`_setup` (the field layout), then the keys
    (:meth:`_build` from per-field parts, or :meth:`_build_arrays` from the
    key arrays :attr:`keys` holds), then :meth:`_finish`.
    """

    #: The key arrays of the last build, kept where asked (see ``_build``):
    #: ``(s_off, s_data, s_fields, s_codes, n_missing_keys, i_keys, i_fields,
    #: i_codes)``.
    keys: tuple | None = None

    def _setup(
        self,
        names: list | None,
        numeric: np.ndarray,
        missing_codes: np.ndarray,
        oov_codes: np.ndarray,
        miss_str: Sequence[str],
        kernels: Any = None,
    ) -> None:
        """The field layout: ``numeric`` (bool per field), each field's
        missing and out-of-vocabulary code (float64, NaN for numeric
        fields), the missing strings; ``kernels``: the lookups' kernels
        (None: numba's, :mod:`sklearn_deeplight._encoder_kernels`)."""
        self.kernels = _load_encoder_kernels() if kernels is None else kernels
        n = self.n = int(numeric.shape[0])
        self.names = names
        self.numeric_list = numeric.tolist()
        self.num_pos = np.flatnonzero(numeric)
        self.miss_str = frozenset(miss_str)
        self.missing_codes = missing_codes
        self.oov_codes = oov_codes
        self.missing_list = missing_codes.tolist()
        self.oov_list = oov_codes.tolist()
        self.str_ok = [False] * n
        self.int_ok = [False] * n
        self.no_num = [False] * n

    def _finish(self) -> None:
        self.field_info = list(
            zip(
                range(self.n),
                self.numeric_list,
                self.missing_list,
                self.oov_list,
                self.str_ok,
                self.int_ok,
                self.no_num,
                strict=True,
            )
        )

    def _build(self, s_parts, i_parts, n_missing_keys: int, keep: bool = False) -> None:
        """Build the table of the queued keys (``s_parts``: strings, the
        first ``n_missing_keys`` of them the missing strings; ``i_parts``:
        integers).

        Keys are inserted by increasing code (the missing strings first,
        since a key seen twice keeps its first code): a code is a rank by
        decreasing frequency in fit, so the frequent values, which most
        queries look up, mostly sit in their first slot. (Linear probing's
        average probe count over all keys does not depend on the order; in
        field order, the fields inserted last took about 4 probes a lookup
        on the paper's Criteo vocabulary, ``python -m
        benchmarks.encode_latency``.) ``keep``: keep the key arrays in
        :attr:`keys`."""
        offsets_parts = [np.zeros(0, dtype=np.int64)]
        data_parts = [_EMPTY_U8]
        fields = [np.zeros(0, dtype=np.int64)]
        codes = [np.zeros(0, dtype=np.int64)]
        shift = 0
        for j, source, part_codes in s_parts:
            offsets, data = (
                _utf8_of_strings(source) if isinstance(source, list) else source
            )
            offsets_parts.append(offsets[:-1] + shift)
            data_parts.append(data)
            fields.append(np.full(len(offsets) - 1, j, dtype=np.int64))
            codes.append(np.asarray(part_codes, dtype=np.int64))
            shift += int(offsets[-1])
        offsets_parts.append(np.array([shift], dtype=np.int64))
        s_off = np.concatenate(offsets_parts)
        s_data = np.concatenate(data_parts)
        s_fields = np.concatenate(fields)
        s_codes = np.concatenate(codes)
        i_keys = np.concatenate([np.zeros(0, np.int64)] + [k for _, k, _ in i_parts])
        i_fields = np.concatenate(
            [np.zeros(0, np.int64)]
            + [np.full(len(k), j, dtype=np.int64) for j, k, _ in i_parts]
        )
        i_codes = np.concatenate(
            [np.zeros(0, np.int64)] + [np.asarray(c, np.int64) for _, _, c in i_parts]
        )
        keys = (s_off, s_data, s_fields, s_codes, n_missing_keys, i_keys, i_fields)
        self._build_arrays(*keys, i_codes)
        if keep:
            self.keys = (*keys, i_codes)

    def _build_arrays(
        self,
        s_off,
        s_data,
        s_fields,
        s_codes,
        n_missing_keys,
        i_keys,
        i_fields,
        i_codes,
    ) -> None:
        """Build the table of the key arrays (see :attr:`keys`; checked by
        the caller: offsets into ``s_data``, fields and codes in range)."""
        kernels = self.kernels
        cap = table_capacity(len(s_fields) + len(i_keys))
        s_rank = s_codes.copy()
        s_rank[:n_missing_keys] = -1
        self.slots, _ = kernels.build_table(
            s_off,
            s_data,
            s_fields,
            s_codes,
            np.argsort(s_rank, kind="stable"),
            i_keys,
            i_fields,
            i_codes,
            np.argsort(i_codes, kind="stable"),
            np.full((cap, 2), EMPTY, dtype=np.uint64),
        )
        if (s_off[1:] - s_off[:-1] > 8).any():  # long keys: keep their bytes
            self.s_off, self.s_data = s_off, s_data
            self.s_codes = s_codes.astype(np.float64)
        else:
            self.s_off = np.zeros(1, dtype=np.int64)
            self.s_data = _EMPTY_U8
            self.s_codes = np.zeros(0, dtype=np.float64)

    def warm_up(self) -> None:
        """Call the lookups of a few rows (a dict or a small frame: strings
        and integers) once, on one value of field 0, so that numba loads
        them from its cache now, not on the first request (~10 ms in a
        fresh process, ``benchmarks/warm_start.py``)."""
        if self.kernels is None:
            return
        field = np.zeros(1, dtype=np.int64)
        self.lookup_str(*_utf8_of_strings([""]), field)
        self.lookup_int(np.zeros(1, dtype=np.int64), field)

    # ------------------------------------------------------------- lookups
    def lookup_str(self, offsets, data, fields) -> np.ndarray:
        """Float64 codes of UTF-8 strings of fields ``fields`` (one each)."""
        return self.kernels.lookup_str(
            offsets,
            data,
            fields,
            self.slots,
            self.s_off,
            self.s_data,
            self.s_codes,
            self.oov_codes,
        )

    def lookup_column(self, offsets, data, j, bitmap=_EMPTY_U8, bit_offset=0):
        """Float64 codes of the UTF-8 strings of a column of field ``j``; a
        null of ``bitmap`` is missing."""
        return self.kernels.lookup_column(
            offsets,
            data,
            j,
            bitmap,
            bit_offset,
            self.slots,
            self.s_off,
            self.s_data,
            self.s_codes,
            self.oov_codes,
            self.missing_codes,
        )

    def lookup_segments(self, segments: np.ndarray, out: np.ndarray) -> None:
        """Write the codes of Arrow string chunks (rows of ``segments``, see
        :func:`~sklearn_deeplight._encoder_kernels.lookup_segments`) into
        the columns of ``out``."""
        self.kernels.lookup_segments(
            segments,
            out,
            self.slots,
            self.s_off,
            self.s_data,
            self.s_codes,
            self.oov_codes,
            self.missing_codes,
        )

    def lookup_int(self, values: np.ndarray, fields) -> np.ndarray:
        """Float64 codes of int64 values (``fields``: an int or one per value)."""
        if not isinstance(fields, np.ndarray):
            fields = np.array([fields], dtype=np.int64)
        return self.kernels.lookup_ints(values, fields, self.slots, self.oov_codes)


def encode_rows(
    tables: KeyTables,
    rows: Any,
    named: Callable[[np.ndarray], np.ndarray] | None,
    fill: float,
    per_column: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
) -> np.ndarray | int:
    """The encoded matrix (float64, one row per row) of a few rows of Python
    values (a sequence of rows, each the values of the fields in order),
    value by value; else the flat position (``row * n_fields + field``) of
    the first value the tables do not answer exactly as the pandas path
    does, or -1 for a row of another length or a transformed numeric value
    that is not finite.

    ``named``: the function of a named numeric transform (None: identity);
    ``fill``: the value of a missing numeric value (``numeric_missing``);
    ``per_column``: for a callable ``numeric_transform``, the encoder's call
    of it on the numeric columns (``per_column(V, fields)``, V one row per
    numeric field, NaN where missing), which then replaces ``named`` and
    ``fill``.
    """
    out: list[float] = []
    s_pos: list[int] = []  # strings to look up: position, value, field
    s_val: list[str] = []
    s_field: list[int] = []
    i_pos: list[int] = []  # ints to look up
    i_val: list[int] = []
    i_field: list[int] = []
    n_pos: list[int] = []  # numeric values present
    miss_str = tables.miss_str
    fields = tables.field_info
    # a callable gets NaN where missing (the reference's per-column call)
    nm = _NAN if per_column is not None else fill
    pd = sys.modules.get("pandas")  # a value can be pd.NA only once it is loaded
    na = _NO_VALUE if pd is None else pd.NA
    append = out.append
    p = 0
    for row in rows:
        if len(row) != tables.n:
            return -1
        for v, (j, numeric, miss, oov, str_ok, int_ok, no_num) in zip(row, fields):
            t = type(v)
            if numeric:
                if t is float:
                    if v != v:
                        append(nm)
                    elif v - v != 0.0:  # infinite: the reference raises
                        return p
                    else:
                        append(v)
                        n_pos.append(p)
                elif t is int and -_EXACT_INT < v < _EXACT_INT:
                    append(float(v))
                    n_pos.append(p)
                elif v is None or v is na or (t is str and v in miss_str):
                    append(nm)
                elif t is str and _is_int_literal(v):
                    append(float(int(v)))
                    n_pos.append(p)
                else:
                    return p
            elif t is str:
                if v in miss_str:
                    append(miss)
                elif str_ok:
                    append(oov)
                    s_pos.append(p)
                    s_val.append(v)
                    s_field.append(j)
                else:
                    return p
            elif (t is float and v != v) or v is None or v is na:
                append(miss)
            elif t is int and int_ok and _INT64_MIN <= v <= _INT64_MAX:
                append(oov)
                i_pos.append(p)
                i_val.append(v)
                i_field.append(j)
            elif t is float and no_num:
                append(oov)
            else:
                return p
            p += 1
    flat = np.array(out, dtype=np.float64)
    if s_pos:
        offsets, data = _utf8_of_strings(s_val)
        flat[s_pos] = tables.lookup_str(
            offsets, data, np.array(s_field, dtype=np.int64)
        )
    if i_pos:
        flat[i_pos] = tables.lookup_int(
            np.array(i_val, dtype=np.int64), np.array(i_field, dtype=np.int64)
        )
    M = flat.reshape(-1, tables.n)
    if per_column is not None:
        pos = tables.num_pos
        M[:, pos] = per_column(M[:, pos].T.copy(), pos).T
        return M
    if n_pos and named is not None:
        done = named(flat[n_pos])
        if not np.isfinite(done).all():
            return -1
        flat[n_pos] = done
    return M
