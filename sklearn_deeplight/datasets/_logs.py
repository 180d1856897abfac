"""Click logs read in chunks for the ``deeplight`` command.

Torch-free. :data:`FORMATS` names the layouts: ``criteo`` and ``avazu``
(read by :func:`~sklearn_deeplight.datasets.load_criteo` and
:func:`~sklearn_deeplight.datasets.load_avazu`) and ``csv`` (a header
line, a label column, every column read as text, the numeric ones then
converted). :func:`_iter_log` yields ``(X, y)`` chunks, :func:`_read_log`
the whole log.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._ondisk_policy import FORMATS  # noqa: F401 - the docs name it here
from ._readers import load_avazu, load_criteo

_COMPRESSED = {".gz": "gzip", ".bz2": "bz2", ".xz": "xz"}


def _first_line(path: Path) -> str:
    """The log's first line (decompressed), at most 64 KiB of it."""
    import bz2
    import gzip
    import lzma

    opener = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}.get(
        path.suffix.lower(), open
    )
    try:
        with opener(path, "rt", encoding="utf-8", errors="replace") as f:
            return f.readline(1 << 16)
    except (OSError, EOFError, lzma.LZMAError):
        return ""


def detect_numeric_columns(
    path: Path, label: str = "label", nrows: int = 10_000, on_bad_lines: str = "error"
) -> tuple[str, ...]:
    """The columns of a csv log to read as numbers, judged on its first rows.

    A column is numeric when every non-empty value of the first ``nrows``
    rows parses as a number and at least one is not a whole number (12.5,
    1e-3): columns of whole numbers stay categorical, since ids and category
    codes are whole numbers too. The ``label`` column is left out.
    """
    try:
        df = pd.read_csv(
            path,
            nrows=nrows,
            dtype=str,
            keep_default_na=False,
            na_values=[""],
            on_bad_lines=on_bad_lines,
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: cannot read the csv log ({exc})") from None
    numeric = []
    for name in df.columns:
        if name == label:
            continue
        text = df[name].dropna()
        if text.empty:
            continue
        values = pd.to_numeric(text, errors="coerce")
        if values.isna().any():
            continue
        finite = values[np.isfinite(values)]
        if len(finite) and (np.floor(finite) != finite).any():
            numeric.append(str(name))
    return tuple(numeric)


def infer_format(path: Path) -> str:
    """The layout of a log, guessed from its first line (and name).

    - a header line with a ``click`` and an ``hour`` column: ``avazu``;
    - otherwise a comma-separated first line, or a ``.csv`` name: ``csv``;
    - otherwise (tab-separated lines without a header): ``criteo``.
    """
    line = _first_line(path)
    name = path.name.lower()
    for suffix in _COMPRESSED:
        name = name.removesuffix(suffix)
    if "," in line and "\t" not in line:
        header = [c.strip().strip('"').lower() for c in line.rstrip("\r\n").split(",")]
        if "click" in header and "hour" in header:
            return "avazu"
        return "csv"
    if name.endswith(".csv") and "\t" not in line:
        return "csv"
    return "criteo"


def _iter_log(
    path: Path,
    fmt: str,
    *,
    nrows: int | None = None,
    label: str = "label",
    on_bad_lines: str = "error",
    require_label: bool = True,
    chunksize: int = 100_000,
    numeric: Sequence[str] = (),
) -> Iterator[tuple[Any, np.ndarray | None]]:
    """Read a click log in chunks of ``(X, y)``, ``y`` None for an unlabelled CSV.

    Raises ValueError naming the file (and the line, for a malformed one)
    when the log cannot be read or holds no row.
    """
    n = 0
    if fmt == "criteo":
        chunks = load_criteo(
            path, nrows=nrows, chunksize=chunksize, on_bad_lines=on_bad_lines
        )
    elif fmt == "avazu":
        chunks = load_avazu(
            path, nrows=nrows, chunksize=chunksize, on_bad_lines=on_bad_lines
        )
    elif fmt == "csv":
        chunks = _iter_csv(
            path, nrows, chunksize, label, require_label, numeric, on_bad_lines
        )
    else:  # pragma: no cover - argparse restricts the choices
        raise ValueError(f"unknown format {fmt!r}")
    for X, y in chunks:
        if len(X):
            n += len(X)
            yield X, y
    if n == 0:
        raise ValueError(f"{path}: no rows to read")


def _iter_csv(
    path: Path,
    nrows: int | None,
    chunksize: int,
    label: str,
    require_label: bool,
    numeric: Sequence[str],
    on_bad_lines: str = "error",
) -> Iterator[tuple[Any, np.ndarray | None]]:
    """Chunks of a CSV log with a header line; the ``label`` column is ``y``.

    Every column is read as text (an empty field is missing), so that a
    column's kind never depends on its values; the ``numeric`` columns are
    then converted to float64 (numeric fields), the label to integers when it
    holds only integers.
    """
    try:
        reader = pd.read_csv(
            path,
            nrows=nrows,
            chunksize=chunksize,
            dtype=str,
            keep_default_na=False,
            na_values=[""],
            on_bad_lines=on_bad_lines,
        )
        for df in reader:
            missing = [c for c in numeric if c not in df.columns]
            if missing:
                raise ValueError(
                    f"--numeric: no column {missing[0]!r} in {path} (columns: "
                    f"{list(df.columns)[:10]})"
                )
            for c in numeric:
                values = pd.to_numeric(df[c], errors="coerce")
                bad = values.isna() & df[c].notna()
                if bad.any():
                    row = int(np.flatnonzero(bad.to_numpy())[0])
                    raise ValueError(
                        f"{path}: numeric column {c!r} holds "
                        f"{df[c].iloc[row]!r} (line {df.index[row] + 2})"
                    )
                df[c] = values.astype(np.float64)
            if label in df.columns:
                y = df.pop(label)
                if y.isna().any():
                    raise ValueError(f"{path}: the label column {label!r} has gaps")
                as_int = pd.to_numeric(y, errors="coerce")
                y = y.to_numpy() if as_int.isna().any() else as_int.to_numpy()
            elif require_label:
                raise ValueError(
                    f"{path}: no label column {label!r} among the columns "
                    f"{list(df.columns)[:10]}; name it with --label"
                )
            else:
                y = None
            yield df, y
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not a readable CSV file: {exc}") from None
    except pd.errors.EmptyDataError:
        raise ValueError(f"{path}: the file is empty") from None


def _read_log(path: Path, fmt: str, **kwargs) -> tuple[Any, np.ndarray | None]:
    """The whole log as one ``(X, y)`` (see :func:`_iter_log`)."""
    chunks = list(_iter_log(path, fmt, **kwargs))
    if len(chunks) == 1:
        return chunks[0]
    X = pd.concat([X for X, _ in chunks], ignore_index=True)
    ys = [y for _, y in chunks]
    y = None if ys[0] is None else np.concatenate(ys)
    return X, y
