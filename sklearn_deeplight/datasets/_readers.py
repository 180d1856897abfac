"""Readers of click-log files: Criteo, Avazu and libffm text formats.

Every reader returns ``(X, y)``: a DataFrame of raw feature columns and an int64
label array, or with `chunksize` an iterator of such pairs so that a file larger
than memory can be streamed. Lines are validated first (column count, label,
numbers), so a malformed line is reported with its 1-based line number in the
file, or skipped and counted.
"""

from __future__ import annotations

import bz2
import csv
import errno
import gzip
import io
import lzma
import numbers
import os
import warnings
import zlib
from collections.abc import Callable, Iterator, Sequence
from itertools import islice
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd

__all__ = ["load_avazu", "load_criteo", "load_libffm"]

PathLike = str | os.PathLike

CRITEO_NUMERIC = [f"I{i}" for i in range(1, 14)]
CRITEO_CATEGORICAL = [f"C{i}" for i in range(1, 27)]

# Avazu columns holding integers; every other feature column is a string.
_AVAZU_INT_COLUMNS = frozenset(
    ["hour", "C1", "banner_pos", "device_type", "device_conn_type"]
    + [f"C{i}" for i in range(14, 22)]
)

# Lines parsed at a time (with `chunksize`: chunksize clipped to the bounds).
_DEFAULT_BLOCK_LINES = 100_000
_MIN_BLOCK_LINES = 10_000
_MAX_BLOCK_LINES = 1_000_000

# A parsed block: good rows (X, y), their line numbers, and the bad lines as
# (line numbers, reasons).
_Block = tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray, list[str]]
_BlockParser = Callable[[list[bytes], np.ndarray], _Block]


# --------------------------------------------------------------------- helpers
def _open(path: Path) -> IO[bytes]:
    suffix = path.suffix.lower()
    if suffix == ".gz":
        return gzip.open(path, "rb")
    if suffix == ".bz2":
        return bz2.open(path, "rb")
    if suffix == ".xz":
        return lzma.open(path, "rb")
    return open(path, "rb")


# What a damaged compressed file raises while it is read (an OSError without
# errno is bz2's "Invalid data stream"; gzip.BadGzipFile is an OSError too).
_DECOMPRESSION_ERRORS = (EOFError, zlib.error, lzma.LZMAError, OSError)


def _take(f: IO[bytes], n: int, path: Path) -> list[bytes]:
    """Up to `n` lines of `f`; a damaged compressed file is a ValueError."""
    try:
        return list(islice(f, n))
    except _DECOMPRESSION_ERRORS as exc:
        compressed = path.suffix.lower() in (".gz", ".bz2", ".xz")
        if not compressed or (isinstance(exc, OSError) and exc.errno is not None):
            raise  # a real I/O error (disk, permissions), not damaged data
        raise ValueError(
            f"{path}: damaged or not a {path.suffix.lower()[1:]} compressed file "
            f"({type(exc).__name__}: {exc})"
        ) from exc


def _split_undecodable(
    lines: list[bytes], linenos: np.ndarray
) -> tuple[list[bytes], np.ndarray, np.ndarray, list[str]]:
    """Lines that are valid UTF-8, and the line numbers and reasons of the others."""
    try:
        b"".join(lines).decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        return lines, linenos, linenos[:0], []
    good, bad, reasons = [], [], []
    for i, line in enumerate(lines):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError as exc:
            bad.append(i)
            byte = line[exc.start : exc.start + 1]
            reasons.append(f"not valid UTF-8 ({byte!r} at byte {exc.start + 1})")
        else:
            good.append(i)
    keep = np.asarray(good, dtype=np.int64)
    return (
        [lines[i] for i in good],
        linenos[keep],
        linenos[np.asarray(bad, dtype=np.int64)],
        reasons,
    )


def _check_path(path: PathLike) -> Path:
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), str(p))
    return p


def _check_common(nrows: int | None, chunksize: int | None, on_bad_lines: str) -> None:
    for name, value in (("nrows", nrows), ("chunksize", chunksize)):
        if value is None:
            continue
        if not isinstance(value, numbers.Integral) or isinstance(value, bool):
            raise TypeError(f"{name} must be an int or None, got {value!r}")
        if value < (0 if name == "nrows" else 1):
            raise ValueError(
                f"{name} must be {'>= 0' if name == 'nrows' else '>= 1'}, got {value!r}"
            )
    if on_bad_lines not in ("error", "warn", "skip"):
        raise ValueError(
            f"on_bad_lines must be 'error', 'warn' or 'skip', got {on_bad_lines!r}"
        )


def _empty_frame(dtypes: dict[str, str]) -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series([], dtype=dt) for name, dt in dtypes.items()})


def _stream(
    path: Path,
    parse: _BlockParser,
    *,
    first_line: int,
    nrows: int | None,
    block_lines: int,
    on_bad_lines: str,
) -> Iterator[tuple[pd.DataFrame, np.ndarray, int, str | None]]:
    """Parse a file block by block: yield (X, y, n_bad, first bad description)."""
    emitted = 0
    with _open(path) as f:
        _take(f, first_line - 1, path)
        lineno = first_line
        while nrows is None or emitted < nrows:
            want = block_lines if nrows is None else min(block_lines, nrows - emitted)
            lines = _take(f, want, path)
            if not lines:
                return
            linenos = np.arange(lineno, lineno + len(lines), dtype=np.int64)
            lineno += len(lines)
            nonblank = np.fromiter(
                (bool(line.strip()) for line in lines), dtype=bool, count=len(lines)
            )
            if not nonblank.all():
                lines = [line for line, keep in zip(lines, nonblank) if keep]
                linenos = linenos[nonblank]
            if not lines:
                continue
            lines, linenos, utf_bad, utf_reasons = _split_undecodable(lines, linenos)
            if lines:
                X, y, good_linenos, bad_linenos, reasons = parse(lines, linenos)
            else:
                X, y, good_linenos = None, np.zeros(0, dtype=np.int64), linenos
                bad_linenos, reasons = linenos[:0], []
            if len(utf_bad):
                bad_linenos = np.concatenate([bad_linenos, utf_bad])
                reasons = reasons + utf_reasons
                order = np.argsort(bad_linenos, kind="stable")
                bad_linenos = bad_linenos[order]
                reasons = [reasons[i] for i in order]
            if nrows is not None and emitted + len(y) > nrows:
                keep = nrows - emitted
                cut = good_linenos[keep]  # first line past the last row wanted
                X, y = X.iloc[:keep], y[:keep]
                early = bad_linenos < cut
                bad_linenos = bad_linenos[early]
                reasons = [r for r, e in zip(reasons, early) if e]
            first_bad = None
            if len(bad_linenos):
                i = int(np.argmin(bad_linenos))
                first_bad = f"line {int(bad_linenos[i])}: {reasons[i]}"
                if on_bad_lines == "error":
                    raise ValueError(f"{path}: malformed {first_bad}")
            emitted += len(y)
            yield X, y, len(bad_linenos), first_bad


def _warn_bad(path: Path, n_bad: int, first_bad: str | None) -> None:
    warnings.warn(
        f"{path}: skipped {n_bad} malformed line{'s' if n_bad != 1 else ''} "
        f"(first: {first_bad})",
        UserWarning,
        stacklevel=3,
    )


def _collect(
    blocks: Iterator[tuple[pd.DataFrame, np.ndarray, int, str | None]],
    path: Path,
    empty: pd.DataFrame,
    on_bad_lines: str,
) -> tuple[pd.DataFrame, np.ndarray]:
    frames, labels, n_bad, first_bad = [], [], 0, None
    for X, y, nb, fb in blocks:
        if X is not None:
            frames.append(X)
            labels.append(y)
        n_bad += nb
        first_bad = first_bad or fb
    X = pd.concat(frames, ignore_index=True) if frames else empty
    y = np.concatenate(labels) if labels else np.zeros(0, dtype=np.int64)
    X.attrs["n_bad_lines"] = n_bad
    if n_bad and on_bad_lines == "warn":
        _warn_bad(path, n_bad, first_bad)
    return X, y.astype(np.int64, copy=False)


def _rechunk(
    blocks: Iterator[tuple[pd.DataFrame, np.ndarray, int, str | None]],
    path: Path,
    chunksize: int,
    on_bad_lines: str,
) -> Iterator[tuple[pd.DataFrame, np.ndarray]]:
    frames: list[pd.DataFrame] = []
    labels: list[np.ndarray] = []
    buffered = 0
    start = 0
    n_bad, first_bad = 0, None

    def emit(n: int) -> tuple[pd.DataFrame, np.ndarray]:
        nonlocal frames, labels, buffered, start, n_bad, first_bad
        X = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
        y = np.concatenate(labels) if len(labels) > 1 else labels[0]
        rest_X, rest_y = X.iloc[n:], y[n:]
        X = X.iloc[:n].copy()
        X.index = pd.RangeIndex(start, start + n)
        X.attrs["n_bad_lines"] = n_bad
        if n_bad and on_bad_lines == "warn":
            _warn_bad(path, n_bad, first_bad)
        frames = [rest_X] if len(rest_y) else []
        labels = [rest_y] if len(rest_y) else []
        buffered -= n
        start += n
        n_bad, first_bad = 0, None
        return X, y[:n].astype(np.int64, copy=False)

    for X, y, nb, fb in blocks:
        n_bad += nb
        first_bad = first_bad or fb
        if len(y):
            frames.append(X)
            labels.append(y)
            buffered += len(y)
        while buffered >= chunksize:
            yield emit(chunksize)
    if buffered:
        yield emit(buffered)


def _read(
    path: Path,
    parse: _BlockParser,
    empty: pd.DataFrame,
    *,
    first_line: int,
    nrows: int | None,
    chunksize: int | None,
    on_bad_lines: str,
):
    if chunksize is None:
        block_lines = _DEFAULT_BLOCK_LINES
    else:
        block_lines = int(min(max(chunksize, _MIN_BLOCK_LINES), _MAX_BLOCK_LINES))
    blocks = _stream(
        path,
        parse,
        first_line=first_line,
        nrows=nrows,
        block_lines=block_lines,
        on_bad_lines=on_bad_lines,
    )
    if chunksize is None:
        return _collect(blocks, path, empty, on_bad_lines)
    return _rechunk(blocks, path, chunksize, on_bad_lines)


# ------------------------------------------------------- delimited text files
def _delimited_parser(
    *,
    sep: str,
    names: list[str],
    kinds: dict[str, str],
    label: str,
) -> _BlockParser:
    """Parser of a block of delimited lines.

    `names` are all the columns of a line; `kinds` maps each column to read to
    "label", "float", "int" or "str" (columns not in `kinds` are dropped). Whether
    a line is good depends on that line alone, never on its neighbours, so reading
    in chunks gives the rows read at once.
    """
    n_sep = len(names) - 1
    sep_b = sep.encode()
    usecols = [n for n in names if n in kinds]
    features = [n for n in usecols if n != label]

    def parse(lines: list[bytes], linenos: np.ndarray) -> _Block:
        counts = np.fromiter(
            (line.count(sep_b) for line in lines), dtype=np.int64, count=len(lines)
        )
        wrong = counts != n_sep
        bad_linenos = [linenos[wrong]]
        reasons = [f"expected {n_sep + 1} fields, found {c + 1}" for c in counts[wrong]]
        if wrong.any():
            lines = [line for line, w in zip(lines, wrong) if not w]
            linenos = linenos[~wrong]
        # one line per row: a lone "\r" inside a field is data, "\r\n" ends it
        data = b"".join(
            line[:-2] + b"\n"
            if line.endswith(b"\r\n")
            else line
            if line.endswith(b"\n")
            else line + b"\n"
            for line in lines
        )
        raw = pd.read_csv(
            io.BytesIO(data),
            sep=sep,
            header=None,
            names=names,
            usecols=usecols,
            dtype=str,
            quoting=csv.QUOTE_NONE,
            na_filter=False,
            skip_blank_lines=False,
            lineterminator="\n",
            engine="c",
        )
        df, row_reasons = _convert(raw, kinds, label)
        ok = np.array([r is None for r in row_reasons], dtype=bool)
        bad_linenos.append(linenos[~ok])
        reasons += [r for r in row_reasons if r is not None]
        df = df.loc[ok].reset_index(drop=True)
        y = df[label].to_numpy(dtype=np.int64)
        bad = np.concatenate(bad_linenos)
        order = np.argsort(bad, kind="stable")
        return df[features], y, linenos[ok], bad[order], [reasons[i] for i in order]

    return parse


def _convert(
    raw: pd.DataFrame, kinds: dict[str, str], label: str
) -> tuple[pd.DataFrame, list[str | None]]:
    """Convert a block read as strings; find each bad row's first problem.

    A label must be the string "0" or "1"; an int field is read by Python's
    ``int`` and a float field by ``float`` (non-finite results are bad); the
    empty string is a missing value (bad in label and int fields). Rows with a
    problem hold placeholder values; the caller drops them.
    """
    n = len(raw)
    reason: list[str | None] = [None] * n
    out = {}
    for name, col in raw.items():
        kind = kinds[name]
        empty = (col == "").to_numpy()
        if kind == "str":
            out[name] = col.where(~empty, np.nan)
            continue
        if kind == "label":
            bad = ~col.isin(["0", "1"]).to_numpy()
            values = (col == "1").to_numpy().astype(np.int64)
            what = "label must be 0 or 1, got {!r}"
        else:
            strings = col.to_numpy(dtype=object)
            if kind == "int":
                values, bad = _cast(strings, np.int64, empty)
                what = f"column {name!r}: not an integer: {{!r}}"
            else:
                values, bad = _cast(strings, np.float64, empty)
                bad |= ~(np.isfinite(values) | empty)
                what = f"column {name!r}: not a finite number: {{!r}}"
        for i in np.flatnonzero(bad):
            if reason[i] is None:
                reason[i] = what.format(col.iloc[i])
        out[name] = values
    return pd.DataFrame(out, index=pd.RangeIndex(n)), reason


def _cast(
    strings: np.ndarray, dtype: type, empty: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Cast strings as Python's int() or float() would; empty: NaN (float) or bad."""
    values = np.zeros(len(strings), dtype=dtype)
    if dtype is np.float64:
        values[empty] = np.nan
        bad = np.zeros(len(strings), dtype=bool)
    else:
        bad = empty.copy()
    todo = ~empty
    try:
        values[todo] = strings[todo].astype(dtype)
    except (ValueError, OverflowError, TypeError):
        py = int if dtype is np.int64 else float
        for i in np.flatnonzero(todo):
            try:
                values[i] = py(strings[i])
            except (ValueError, OverflowError, TypeError):
                bad[i] = True
    return values, bad


def load_criteo(
    path: PathLike,
    *,
    nrows: int | None = None,
    chunksize: int | None = None,
    on_bad_lines: str = "error",
) -> tuple[pd.DataFrame, np.ndarray] | Iterator[tuple[pd.DataFrame, np.ndarray]]:
    """Read click logs in the layout of Criteo's Kaggle ``train.txt``.

    Each line holds 40 tab-separated fields and no header: the label (0 or 1),
    the integer counts I1..I13 (possibly negative) and the hashed categoricals
    C1..C26 (8 hex digits). An empty field is a missing value. There is no quoting.
    Blank lines are ignored. Files ending in ``.gz``, ``.bz2`` or ``.xz`` are
    decompressed on the fly.

    Parameters
    ----------
    path : str or path-like
        The file.
    nrows : int, default=None
        Read at most this many rows (malformed lines skipped do not count).
    chunksize : int, default=None
        If given, return an iterator of ``(X, y)`` chunks of `chunksize` rows (the
        last may be shorter) instead of one pair; the chunks together are exactly
        the rows read at once, with a continuing index.
    on_bad_lines : {"error", "warn", "skip"}, default="error"
        A malformed line (wrong number of fields, label other than 0 or 1, an
        I-field that is not a number) raises a ValueError naming its 1-based line
        number (``"error"``), or is skipped with a UserWarning giving the count and
        the first one (``"warn"``), or skipped silently (``"skip"``). The number
        skipped is in ``X.attrs["n_bad_lines"]`` (per chunk with `chunksize`).

    Returns
    -------
    X : DataFrame of shape (n_rows, 39)
        Columns I1..I13 (float64, NaN where missing) and C1..C26 (pandas string
        dtype, NaN where missing).
    y : ndarray of int64 of shape (n_rows,)
        The labels.

    See Also
    --------
    load_avazu : The Avazu CSV layout.
    load_libffm : The libffm ``field:feature:value`` layout.
    sklearn_deeplight.FieldEncoder : Turns the frame into category codes.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from sklearn_deeplight.datasets import load_criteo
    >>> line = "1\\t" + "\\t".join(["3"] * 12 + [""]) + "\\t" + "\\t".join(
    ...     ["0badc0de"] * 25 + [""]) + "\\n"
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = pathlib.Path(d) / "train.txt"
    ...     _ = path.write_text(line * 3)
    ...     X, y = load_criteo(path)
    >>> X.shape, y.tolist()
    ((3, 39), [1, 1, 1])
    >>> X[["I1", "I13", "C1", "C26"]].head(1)
        I1  I13        C1  C26
    0  3.0  NaN  0badc0de  NaN
    """
    p = _check_path(path)
    _check_common(nrows, chunksize, on_bad_lines)
    names = ["label", *CRITEO_NUMERIC, *CRITEO_CATEGORICAL]
    kinds = {"label": "label"}
    kinds.update(dict.fromkeys(CRITEO_NUMERIC, "float"))
    kinds.update(dict.fromkeys(CRITEO_CATEGORICAL, "str"))
    parse = _delimited_parser(sep="\t", names=names, kinds=kinds, label="label")
    empty = _empty_frame(
        {
            **dict.fromkeys(CRITEO_NUMERIC, "float64"),
            **dict.fromkeys(CRITEO_CATEGORICAL, "str"),
        }
    )
    return _read(
        p,
        parse,
        empty,
        first_line=1,
        nrows=nrows,
        chunksize=chunksize,
        on_bad_lines=on_bad_lines,
    )


def load_avazu(
    path: PathLike,
    *,
    nrows: int | None = None,
    chunksize: int | None = None,
    on_bad_lines: str = "error",
    drop: Sequence[str] | None = ("id", "hour"),
) -> tuple[pd.DataFrame, np.ndarray] | Iterator[tuple[pd.DataFrame, np.ndarray]]:
    """Read click logs in the layout of Avazu's Kaggle ``train.csv``.

    Comma-separated with a header line naming the columns, among them ``click``
    (the label, 0 or 1). The integer columns of Avazu (``hour``, ``C1``,
    ``banner_pos``, ``device_type``, ``device_conn_type``, ``C14``..``C21``) are
    read as int64 and must hold an integer on every line; every other column is
    read as a string, an empty field being a missing value. There is no quoting.
    Blank lines are ignored; ``.gz``, ``.bz2`` and ``.xz`` files are decompressed.

    Parameters
    ----------
    path : str or path-like
        The file.
    nrows : int, default=None
        Read at most this many rows (malformed lines skipped do not count).
    chunksize : int, default=None
        If given, return an iterator of ``(X, y)`` chunks of `chunksize` rows,
        together exactly the rows read at once, with a continuing index.
    on_bad_lines : {"error", "warn", "skip"}, default="error"
        A malformed line (number of fields other than the header's, label other
        than 0 or 1, a non-integer in an integer column) raises a ValueError naming
        its 1-based line number in the file (the header is line 1), or is skipped
        with a UserWarning (``"warn"``) or silently (``"skip"``); the count is in
        ``X.attrs["n_bad_lines"]``.
    drop : sequence of str or None, default=("id", "hour")
        Columns left out of `X`. ``id`` is a row id and ``hour`` a timestamp; they
        are no features. Each must be in the header.

    Returns
    -------
    X : DataFrame of shape (n_rows, n_columns)
        The feature columns in file order: int64 or pandas string dtype.
    y : ndarray of int64 of shape (n_rows,)
        The ``click`` labels.

    See Also
    --------
    load_criteo : The Criteo tab-separated layout.
    load_libffm : The libffm ``field:feature:value`` layout.
    sklearn_deeplight.FieldEncoder : Turns the frame into category codes.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from sklearn_deeplight.datasets import load_avazu
    >>> text = ("id,click,hour,C1,site_id\\n"
    ...         "7,0,14102100,1005,1fbe01fe\\n8,1,14102100,1002,\\n")
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = pathlib.Path(d) / "train.csv"
    ...     _ = path.write_text(text)
    ...     X, y = load_avazu(path)
    >>> X
         C1   site_id
    0  1005  1fbe01fe
    1  1002       NaN
    >>> X.dtypes.astype(str).tolist(), y.tolist()
    (['int64', 'str'], [0, 1])
    """
    p = _check_path(path)
    _check_common(nrows, chunksize, on_bad_lines)
    with _open(p) as f:
        first = _take(f, 1, p)
    try:
        header = (first[0] if first else b"").decode("utf-8-sig").rstrip("\r\n")
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"{p}: the header line is not valid UTF-8 (byte {exc.start + 1}): "
            f"{first[0][:200]!r}"
        ) from exc
    names = header.split(",")
    if "click" not in names:
        raise ValueError(f"{p}: no 'click' column in the header line {header!r}")
    if len(set(names)) != len(names):
        raise ValueError(f"{p}: duplicated column names in the header {header!r}")
    drop = [] if drop is None else list(drop)
    for name in drop:
        if name not in names:
            raise ValueError(f"drop: column {name!r} is not in the header of {p}")
        if name == "click":
            raise ValueError("drop: 'click' is the label and cannot be dropped")
    kinds = {}
    for name in names:
        if name in drop:
            continue
        if name == "click":
            kinds[name] = "label"
        elif name in _AVAZU_INT_COLUMNS:
            kinds[name] = "int"
        else:
            kinds[name] = "str"
    parse = _delimited_parser(sep=",", names=names, kinds=kinds, label="click")
    empty = _empty_frame(
        {n: "int64" if k == "int" else "str" for n, k in kinds.items() if k != "label"}
    )
    return _read(
        p,
        parse,
        empty,
        first_line=2,
        nrows=nrows,
        chunksize=chunksize,
        on_bad_lines=on_bad_lines,
    )


# ----------------------------------------------------------------- libffm
def _libffm_parser(n_fields: int | None, numeric: frozenset[int]) -> _BlockParser:
    def parse(lines: list[bytes], linenos: np.ndarray) -> _Block:
        texts = [line.decode() for line in lines]
        n = len(texts)
        n_tok = np.fromiter((len(t.split()) for t in texts), dtype=np.int64, count=n)
        tokens = np.asarray(" ".join(texts).split(), dtype=object)
        starts = np.cumsum(n_tok) - n_tok
        is_feat = np.ones(len(tokens), dtype=bool)
        is_feat[starts] = False
        labels = pd.Series(tokens[starts], dtype=object)
        # "str" dtype, so that the .str accessor works on a block without tokens
        feats = pd.Series(tokens[is_feat], dtype=str)
        tok_line = np.repeat(np.arange(n), n_tok - 1)
        reason: list[str | None] = [None] * n

        def flag(lines_: np.ndarray, items: np.ndarray, what: Callable) -> None:
            for line, k in zip(lines_, items):
                if reason[line] is None:
                    reason[line] = what(k)

        y_all = labels.map({"1": 1, "+1": 1, "0": 0, "-1": 0})
        bad = np.flatnonzero(y_all.isna().to_numpy())
        flag(bad, bad, lambda k: f"label must be 1, 0 or -1, got {labels.iloc[k]!r}")

        parts = feats.str.split(":", n=2, expand=True).reindex(columns=[0, 1, 2])
        shape_ok = parts.notna().all(axis=1).to_numpy()
        f_ok = _digits(parts[0]) & shape_ok
        j_ok = _digits(parts[1]) & shape_ok
        value = pd.to_numeric(parts[2], errors="coerce").to_numpy(
            dtype=np.float64, na_value=np.nan
        )
        v_ok = np.isfinite(value) & shape_ok
        field = np.zeros(len(feats), dtype=np.int64)
        field[f_ok] = parts[0][f_ok].astype(np.int64).to_numpy()
        feature = np.zeros(len(feats), dtype=np.int64)
        feature[j_ok] = parts[1][j_ok].astype(np.int64).to_numpy()
        checks = [
            (~shape_ok, lambda k: f"{feats.iloc[k]!r} is not field:feature:value"),
            (
                ~f_ok,
                lambda k: f"field {parts[0].iloc[k]!r} is not a non-negative integer",
            ),
            (
                ~j_ok,
                lambda k: f"feature {parts[1].iloc[k]!r} is not a non-negative integer",
            ),
            (~v_ok, lambda k: f"value {parts[2].iloc[k]!r} is not a finite number"),
        ]
        if n_fields is not None:
            checks.append(
                (
                    f_ok & (field >= n_fields),
                    lambda k: f"field {field[k]} out of range (n_fields={n_fields})",
                )
            )
        dup = pd.DataFrame({"line": tok_line, "field": field}).duplicated()
        checks.append(
            (dup.to_numpy() & f_ok, lambda k: f"field {field[k]} appears twice")
        )
        # the first problem of a line is that of its first bad token
        for mask, what in checks:
            k = np.flatnonzero(mask)
            flag(tok_line[k], k, what)

        ok = np.array([r is None for r in reason], dtype=bool)
        good = ok[tok_line]
        f_good, row = field[good], (np.cumsum(ok) - 1)[tok_line[good]]
        # Without n_fields, only the fields present get a column here (never
        # one per field id); load_libffm aligns the blocks and bounds the width.
        present = range(n_fields) if n_fields is not None else np.unique(f_good)
        n_good = int(ok.sum())
        cols = {}
        for f in present:
            f = int(f)
            sel = f_good == f
            if f in numeric:
                col = np.full(n_good, np.nan)
                col[row[sel]] = value[good][sel]
            else:
                col = np.full(n_good, -1, dtype=np.int64)
                col[row[sel]] = feature[good][sel]
            cols[f"f{f}"] = col
        X = pd.DataFrame(cols, index=pd.RangeIndex(n_good))
        y = y_all.to_numpy()[ok].astype(np.int64)
        bad_lines = np.flatnonzero(~ok)
        return X, y, linenos[ok], linenos[bad_lines], [reason[i] for i in bad_lines]

    return parse


def _digits(s: pd.Series) -> np.ndarray:
    """Which strings are non-negative integers of at most 18 digits."""
    if not s.notna().any():  # no strings at all (the .str accessor refuses)
        return np.zeros(len(s), dtype=bool)
    m = s.astype(str).str.fullmatch(r"\d{1,18}")
    return np.asarray(m.fillna(False), dtype=bool) & s.notna().to_numpy()


#: Without ``n_fields``, :func:`load_libffm` infers the columns from the
#: field ids read, and refuses a largest field id that would make more than
#: ``max(INFERRED_FIELDS_FLOOR, INFERRED_FIELDS_FACTOR * distinct fields)``
#: columns: a stray id (``100000000000:1:1``) would otherwise ask for one
#: column per id up to it. Pass ``n_fields`` to read sparse field ids.
INFERRED_FIELDS_FLOOR = 64
INFERRED_FIELDS_FACTOR = 2


def _check_inferred_width(path: Path, width: int, n_present: int) -> None:
    """ValueError when the largest field id read is far above the number of
    distinct fields read (see :data:`INFERRED_FIELDS_FLOOR`)."""
    bound = max(INFERRED_FIELDS_FLOOR, INFERRED_FIELDS_FACTOR * n_present)
    if width > bound:
        raise ValueError(
            f"{path}: field id {width - 1} is far above the {n_present} distinct "
            f"field ids read: without n_fields at most {bound} columns are "
            f"inferred (max({INFERRED_FIELDS_FLOOR}, {INFERRED_FIELDS_FACTOR} x "
            "the distinct fields)); pass n_fields if the ids are right, or fix "
            "the line that holds it"
        )


def load_libffm(
    path: PathLike,
    *,
    n_fields: int | None = None,
    numeric_fields: Sequence[int] | None = None,
    nrows: int | None = None,
    chunksize: int | None = None,
    on_bad_lines: str = "error",
) -> tuple[pd.DataFrame, np.ndarray] | Iterator[tuple[pd.DataFrame, np.ndarray]]:
    """Read a libffm file into a field-indexed matrix.

    Each line is ``label field:feature:value field:feature:value ...``, separated
    by spaces or tabs: the label is 1 (or +1) for a click, 0 or -1 otherwise;
    `field` (0-based) and `feature` are non-negative integers and `value` a finite
    number. Each field may appear at most once on a line (one active feature per
    field, the layout of field-aware click logs). Blank lines are ignored.

    A categorical field's column holds the feature id of the line's active
    feature (int64; its value, usually 1, is ignored) and -1 where the field is
    absent. A numeric field's column holds the value (float64; the feature id is
    ignored) and NaN where absent. Feature ids are kept as in the file: libffm
    ids are usually global across fields, so pass X through
    :class:`~sklearn_deeplight.FieldEncoder` (with ``numeric_fields="auto"``) to
    get compact per-field codes; the estimators map the -1 of an absent field
    to their out-of-vocabulary row.

    Parameters
    ----------
    path : str or path-like
        The file.
    n_fields : int, default=None
        Number of fields; a field id outside ``0 .. n_fields - 1`` makes a line
        malformed. None: one more than the largest field id read (not allowed with
        `chunksize`, where every chunk must have the same width), refused with a
        ValueError when that is above ``max(64, 2 * the distinct field ids
        read)``: a stray id would ask for one column per id below it.
    numeric_fields : sequence of int, default=None
        Field ids whose values are kept (float64 columns); None: none.
    nrows : int, default=None
        Read at most this many rows (malformed lines skipped do not count).
    chunksize : int, default=None
        If given, return an iterator of ``(X, y)`` chunks of `chunksize` rows,
        together exactly the rows read at once.
    on_bad_lines : {"error", "warn", "skip"}, default="error"
        A malformed line raises a ValueError naming its 1-based line number and
        the problem, or is skipped with a UserWarning (``"warn"``) or silently
        (``"skip"``); the count is in ``X.attrs["n_bad_lines"]``.

    Returns
    -------
    X : DataFrame of shape (n_rows, n_fields)
        Columns ``f0 .. f{n_fields-1}``.
    y : ndarray of int64 of shape (n_rows,)
        The labels, 0 or 1.

    See Also
    --------
    load_criteo : The Criteo tab-separated layout.
    load_avazu : The Avazu CSV layout.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from sklearn_deeplight.datasets import load_libffm
    >>> text = "1 0:12:1 1:40:1 2:0:3.5\\n0 0:13:1 2:0:0.25\\n"
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = pathlib.Path(d) / "train.ffm"
    ...     _ = path.write_text(text)
    ...     X, y = load_libffm(path, numeric_fields=[2])
    >>> X
       f0  f1    f2
    0  12  40  3.50
    1  13  -1  0.25
    >>> y
    array([1, 0])
    """
    p = _check_path(path)
    _check_common(nrows, chunksize, on_bad_lines)
    if n_fields is not None:
        if not isinstance(n_fields, numbers.Integral) or n_fields < 1:
            raise ValueError(f"n_fields must be a positive int, got {n_fields!r}")
        n_fields = int(n_fields)
    elif chunksize is not None:
        raise ValueError("n_fields is required with chunksize")
    numeric = frozenset()
    if numeric_fields is not None:
        for f in numeric_fields:
            if not isinstance(f, numbers.Integral) or f < 0:
                raise ValueError(f"numeric_fields must hold field ids >= 0, got {f!r}")
            if n_fields is not None and f >= n_fields:
                raise ValueError(
                    f"numeric_fields: field {f} out of range (n_fields={n_fields})"
                )
        numeric = frozenset(int(f) for f in numeric_fields)
    parse = _libffm_parser(n_fields, numeric)
    empty = _empty_frame(
        {f"f{f}": "float64" if f in numeric else "int64" for f in range(n_fields or 0)}
    )
    result = _read(
        p,
        parse,
        empty,
        first_line=1,
        nrows=nrows,
        chunksize=chunksize,
        on_bad_lines=on_bad_lines,
    )
    if chunksize is None and n_fields is None:
        # blocks hold the fields present in them: align them
        X, y = result
        width = max((int(c[1:]) + 1 for c in X.columns), default=0)
        _check_inferred_width(p, width, len(X.columns))
        width = max(width, max(numeric, default=-1) + 1)
        cols = {}
        for f in range(width):
            name = f"f{f}"
            if name in X:
                col = X[name]
                if f not in numeric:
                    col = col.fillna(-1).astype(np.int64)
                cols[name] = col
            else:
                cols[name] = (
                    np.full(len(X), np.nan)
                    if f in numeric
                    else np.full(len(X), -1, dtype=np.int64)
                )
        aligned = pd.DataFrame(cols, index=X.index)
        aligned.attrs = X.attrs
        return aligned, y
    return result
