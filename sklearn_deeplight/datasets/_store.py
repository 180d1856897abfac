"""The on-disk store of an encoded click log, and the passes that write it.

Torch-free: the memory-mapped ``.npy`` files (:class:`OnDiskFieldData`), the
streaming encoder fit (:func:`fit_encoder`) and the streaming encoding
(:func:`encode_to_memmap`). Training from the files goes through the torch
dataset of :mod:`sklearn_deeplight._ondisk`, which also re-exports these
names.

The directory holds ``codes.npy`` (int32, the codes of the categorical
fields, -1 where missing), ``values.npy`` (float32, the numeric fields),
``labels.npy`` (uint8, the position of each row's label in ``meta.json``'s
``labels``) and ``meta.json`` (written last: a directory without it is an
interrupted encoding). The ``.npy`` files open with ``numpy.load(...,
mmap_mode="r")``.
"""

from __future__ import annotations

import contextlib
import json
import mmap
import os
import struct
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sklearn.utils.validation import check_is_fitted, column_or_1d

from .._validation import check_field_matrix, resolve_numeric_fields

if TYPE_CHECKING:  # pragma: no cover
    from .._ondisk import OnDiskFieldDataset

__all__ = ["OnDiskFieldData", "encode_to_memmap", "fit_encoder"]

_FORMAT = "sklearn-deeplight-ondisk"
_VERSION = 1
_HEADER_BYTES = 128  # fixed .npy header, rewritten in place once the shape is known
_FILES = {"codes": np.int32, "values": np.float32, "labels": np.uint8}
#: Rows read in order between two releases of the mapped pages
#: (see ``_Mapped.release``).
_RELEASE_ROWS = 1 << 16


# ----------------------------------------------------------------------
# .npy files written chunk by chunk
# ----------------------------------------------------------------------
def _npy_header(dtype: np.dtype, shape: tuple[int, ...]) -> bytes:
    descr = np.lib.format.dtype_to_descr(np.dtype(dtype))
    body = f"{{'descr': {descr!r}, 'fortran_order': False, 'shape': {shape!r}, }}"
    raw = body.encode("latin1")
    pad = _HEADER_BYTES - 10 - len(raw) - 1
    if pad < 0:  # pragma: no cover - shapes here are at most 2-D
        raise ValueError(f"shape {shape} does not fit the .npy header")
    head = b"\x93NUMPY\x01\x00" + struct.pack("<H", _HEADER_BYTES - 10)
    return head + raw + b" " * pad + b"\n"


class _NpyAppender:
    """Append rows to a ``.npy`` file whose row count is unknown in advance."""

    def __init__(self, path: Path, dtype: type, width: int | None) -> None:
        self.path = path
        self.dtype = np.dtype(dtype)
        self.width = width
        self.rows = 0
        self._file = open(path, "wb")  # noqa: SIM115 - closed in close()
        self._file.write(_npy_header(self.dtype, self._shape(2**62)))

    def _shape(self, rows: int) -> tuple[int, ...]:
        return (rows,) if self.width is None else (rows, self.width)

    def append(self, block: np.ndarray) -> None:
        block = np.ascontiguousarray(block, dtype=self.dtype)
        self._file.write(block.tobytes())
        self.rows += block.shape[0]

    def close(self) -> None:
        self._file.seek(0)
        self._file.write(_npy_header(self.dtype, self._shape(self.rows)))
        self._file.close()


def _pread(fd: int, size: int, offset: int) -> bytes:
    if hasattr(os, "pread"):
        data = os.pread(fd, size, offset)
    else:  # pragma: no cover - Windows
        os.lseek(fd, offset, os.SEEK_SET)
        data = os.read(fd, size)
    if len(data) != size:
        raise OSError(f"short read: {len(data)} of {size} bytes at offset {offset}")
    return data


class _Mapped:
    """A ``.npy`` file read through a memory map (ranges) or ``pread`` (rows).

    Pages read through a memory map count in the process's resident set until
    they are unmapped. :meth:`release` drops them from this process
    (``madvise(MADV_DONTNEED)``; they stay in the operating system's page
    cache), so that reading a file larger than memory range by range keeps
    the resident set flat. Rows gathered at random are read with ``pread``
    instead (:meth:`gather`): each page fault of a map can bring a whole
    large folio of neighbours into the resident set (on Linux 6.18, gathering
    4,096 random rows of a 397 MB map made 393 MB resident, with or without
    ``MADV_RANDOM``), while ``pread`` copies just the rows.
    """

    def __init__(self, path: Path) -> None:
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            if version != (1, 0):  # pragma: no cover - we write 1.0 only
                raise ValueError(f"{path}: unsupported .npy version {version}")
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
            offset = f.tell()
            size = int(np.prod(shape)) if shape else 1
            if fortran:  # pragma: no cover
                raise ValueError(f"{path}: Fortran-ordered arrays are not supported")
            self._mmap: mmap.mmap | None = None
            self._offset = offset
            self._dtype = dtype
            self._row_shape = tuple(shape[1:])
            self._row_bytes = dtype.itemsize * int(np.prod(self._row_shape))
            self._n = shape[0] if shape else 1
            self._fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
            if size == 0:
                self.array = np.empty(shape, dtype=dtype)
            else:
                self._mmap = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
                flat = np.frombuffer(self._mmap, dtype=dtype, count=size, offset=offset)
                self.array = flat.reshape(shape)

    def release(self) -> None:
        if self._mmap is not None and hasattr(mmap, "MADV_DONTNEED"):
            self._mmap.madvise(mmap.MADV_DONTNEED)

    def gather(self, idx: np.ndarray) -> np.ndarray:
        """The rows at ``idx`` (in that order), read with ``pread``."""
        idx = np.asarray(idx, dtype=np.int64)
        out_shape = (idx.shape[0], *self._row_shape)
        if idx.size and (idx.min() < 0 or idx.max() >= self._n):
            raise IndexError(f"row index out of range for {self._n} rows")
        if self._row_bytes == 0 or idx.size == 0:
            return np.empty(out_shape, dtype=self._dtype)
        order = np.argsort(idx, kind="stable")  # read the file forwards
        rb, fd = self._row_bytes, self._fd
        buf = b"".join(
            [_pread(fd, rb, self._offset + i * rb) for i in idx[order].tolist()]
        )
        rows = np.frombuffer(buf, dtype=self._dtype).reshape(out_shape)
        out = np.empty(out_shape, dtype=self._dtype)
        out[order] = rows
        return out

    def __del__(self) -> None:
        fd = getattr(self, "_fd", None)
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)


# ----------------------------------------------------------------------
# The on-disk log
# ----------------------------------------------------------------------
class OnDiskFieldData:
    """An encoded click log stored as memory-mappable ``.npy`` files.

    Made by :func:`encode_to_memmap`; reopen a directory with
    ``OnDiskFieldData(path)``.

    Parameters
    ----------
    path : str or path-like
        The directory written by :func:`encode_to_memmap`.

    Attributes
    ----------
    path : Path
        The directory.
    n_samples : int
        Rows.
    n_fields : int
        Fields (columns of the encoded matrix).
    feature_names : list of str or None
        Column names of the encoded chunks, when they were DataFrames.
    numeric_fields : ndarray of int64
        Positions of the numeric fields.
    max_codes : ndarray of int64 of shape (n_fields,)
        Per categorical field the largest code seen (-1: only missing
        values); 0 for numeric fields.
    labels : ndarray
        The distinct labels, in order of first appearance.

    See Also
    --------
    encode_to_memmap : Writes the directory.
    sklearn_deeplight._ondisk.fit_ondisk : Trains an estimator from it.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from sklearn_deeplight.datasets._store import OnDiskFieldData, encode_to_memmap
    >>> with tempfile.TemporaryDirectory() as d:
    ...     _ = encode_to_memmap([(np.array([[0, 1], [2, 3]]), ["no", "yes"])], d)
    ...     data = OnDiskFieldData(d)  # reopened
    ...     X, y = data.read()
    >>> len(data), data.n_fields, data.labels.tolist()
    (2, 2, ['no', 'yes'])
    >>> X.to_numpy().tolist(), y.tolist()
    ([[0, 1], [2, 3]], ['no', 'yes'])
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        meta_path = self.path / "meta.json"
        if not meta_path.is_file():
            raise FileNotFoundError(
                f"{self.path} holds no meta.json: not a directory written by "
                "encode_to_memmap (or an interrupted one)."
            )
        meta = json.loads(meta_path.read_text())
        if meta.get("format") != _FORMAT or meta.get("version") != _VERSION:
            raise ValueError(
                f"{meta_path} is not version {_VERSION} of the {_FORMAT} format."
            )
        self._meta = meta
        self.n_samples = int(meta["n_samples"])
        self.n_fields = int(meta["n_fields"])
        self.feature_names = meta["feature_names"]
        self.numeric_fields = np.asarray(meta["numeric_fields"], dtype=np.int64)
        self.max_codes = np.asarray(meta["max_codes"], dtype=np.int64)
        self.labels = np.asarray(meta["labels"], dtype=np.dtype(meta["labels_dtype"]))

    def __len__(self) -> int:
        return self.n_samples

    def __repr__(self) -> str:
        return (
            f"OnDiskFieldData({str(self.path)!r}, n_samples={self.n_samples}, "
            f"n_fields={self.n_fields})"
        )

    @property
    def numeric_mask(self) -> np.ndarray:
        """Boolean mask over fields of the numeric ones."""
        mask = np.zeros(self.n_fields, dtype=bool)
        mask[self.numeric_fields] = True
        return mask

    @property
    def nbytes(self) -> int:
        """Bytes of the three ``.npy`` files."""
        return sum((self.path / f"{name}.npy").stat().st_size for name in _FILES)

    def read(self, start: int = 0, stop: int | None = None):
        """Rows ``start:stop`` as the encoded DataFrame and the labels.

        Parameters
        ----------
        start, stop : int
            Row range (``stop=None``: to the end).

        Returns
        -------
        X : DataFrame of shape (stop - start, n_fields)
            int64 codes (-1 where missing) and float64 values; the column names
            are ``feature_names`` (or ``0 .. n_fields - 1``).
        y : ndarray of shape (stop - start,)
            Labels.
        """
        codes = _Mapped(self.path / "codes.npy").array[start:stop]
        values = _Mapped(self.path / "values.npy").array[start:stop]
        labels = _Mapped(self.path / "labels.npy").array[start:stop]
        mask = self.numeric_mask
        cols: dict[Any, np.ndarray] = {}
        c = v = 0
        names = self.feature_names or list(range(self.n_fields))
        for j, name in enumerate(names):
            if mask[j]:
                cols[name] = values[:, v].astype(np.float64)
                v += 1
            else:
                cols[name] = codes[:, c].astype(np.int64)
                c += 1
        X = pd.DataFrame(cols, index=pd.RangeIndex(start, start + len(labels)))
        return X, self.labels[labels]

    def check_layout(self, estimator) -> None:
        """Raise a ValueError unless ``estimator`` was fitted on this layout.

        Parameters
        ----------
        estimator : fitted estimator
            One of the library's classifiers.
        """
        check_is_fitted(estimator)
        if estimator.n_features_in_ != self.n_fields:
            raise ValueError(
                f"{self.path} holds {self.n_fields} fields, but "
                f"{type(estimator).__name__} was fitted on "
                f"{estimator.n_features_in_}."
            )
        if not np.array_equal(estimator.numeric_fields_, self.numeric_fields):
            raise ValueError(
                f"{self.path} holds the numeric fields {self.numeric_fields.tolist()}"
                f", but {type(estimator).__name__} was fitted with "
                f"{estimator.numeric_fields_.tolist()}."
            )
        names = getattr(estimator, "feature_names_in_", None)
        if names is not None and self.feature_names is not None:
            if list(names) != list(self.feature_names):
                raise ValueError(
                    f"The field names of {self.path} differ from those "
                    f"{type(estimator).__name__} was fitted on."
                )

    def to_dataset(
        self,
        estimator,
        *,
        shuffle: str = "exact",
        block_rows: int = 8192,
        window_blocks: int = 8,
    ) -> OnDiskFieldDataset:
        """A dataset for a fitted estimator, e.g. to score the whole file.

        ``estimator.predict_proba(data.to_dataset(estimator))`` reads the file
        batch by batch.

        Parameters
        ----------
        estimator : fitted estimator
            Gives the field layout (``field_dims_``, ``offsets_``).
        shuffle, block_rows, window_blocks
            See :class:`~sklearn_deeplight._ondisk.OnDiskFieldDataset`.

        Returns
        -------
        dataset : OnDiskFieldDataset
        """
        from .._ondisk import OnDiskFieldDataset  # torch: imported on use

        self.check_layout(estimator)
        return OnDiskFieldDataset(
            self,
            estimator.field_dims_,
            estimator.offsets_,
            classes=estimator.classes_,
            shuffle=shuffle,
            block_rows=block_rows,
            window_blocks=window_blocks,
        )


class _Store:
    """The three maps of one directory, shared by a dataset and its subsets."""

    def __init__(self, data: OnDiskFieldData) -> None:
        self.codes = _Mapped(data.path / "codes.npy")
        self.values = _Mapped(data.path / "values.npy")
        self.labels = _Mapped(data.path / "labels.npy")
        self._since_release = 0

    def count(self, rows: int) -> None:
        self._since_release += rows
        if self._since_release >= _RELEASE_ROWS:
            self.release()

    def release(self) -> None:
        for m in (self.codes, self.values, self.labels):
            m.release()
        self._since_release = 0


# ----------------------------------------------------------------------
# Streaming passes
# ----------------------------------------------------------------------
def _chunk_X(item) -> Any:
    return item[0] if isinstance(item, tuple) else item


def fit_encoder(encoder, chunks: Iterable):
    """Fit an encoder chunk by chunk: ``fit`` on the first, ``partial_fit`` after.

    :class:`~sklearn_deeplight.FieldEncoder` gives exactly the encoder that
    ``fit`` gives on the concatenated chunks.

    Parameters
    ----------
    encoder : FieldEncoder
        The encoder (refitted from scratch).
    chunks : iterable of DataFrame or of (X, y) tuples
        The log, e.g. ``load_criteo(path, chunksize=100_000)``.

    Returns
    -------
    encoder : FieldEncoder
        The fitted encoder.

    See Also
    --------
    encode_to_memmap : The next pass: encode the chunks to files.
    sklearn_deeplight.FieldEncoder.partial_fit : What it calls per chunk.

    Examples
    --------
    >>> import pandas as pd
    >>> from sklearn_deeplight import FieldEncoder
    >>> from sklearn_deeplight.datasets._store import fit_encoder
    >>> X = pd.DataFrame({"site": ["a", "b", "a", "c"],
    ...                   "count": [1.0, 2.0, None, 4.0]})
    >>> enc = fit_encoder(FieldEncoder(), [X.iloc[:2], X.iloc[2:]])
    >>> enc.field_dims_, FieldEncoder().fit(X).field_dims_
    (array([4, 1]), array([4, 1]))
    """
    first = True
    for item in chunks:
        X = _chunk_X(item)
        if first:
            encoder.fit(X)
            first = False
        else:
            encoder.partial_fit(X)
    if first:
        raise ValueError("fit_encoder got no chunk: the log is empty.")
    return encoder


class _Probe:
    """Receives the attributes ``check_field_matrix`` sets on an estimator."""

    numeric_fields = None


def _prepare_dir(path: Path, overwrite: bool) -> None:
    if path.exists():
        if not path.is_dir():
            raise FileExistsError(f"{path} exists and is not a directory.")
        known = {"meta.json", *(f"{name}.npy" for name in _FILES)}
        entries = {p.name for p in path.iterdir()}
        if entries & known and not overwrite:
            raise FileExistsError(
                f"{path} already holds encoded data: pass overwrite=True or "
                "choose another directory."
            )
        if not entries <= known | {"meta.json.tmp"}:
            raise FileExistsError(
                f"{path} holds other files: encode into an empty or new directory."
            )
        for name in entries:
            (path / name).unlink()
    path.mkdir(parents=True, exist_ok=True)


def encode_to_memmap(
    chunks: Iterable,
    path: str | os.PathLike,
    *,
    encoder=None,
    numeric_fields: Any = "auto",
    overwrite: bool = False,
) -> OnDiskFieldData:
    """Encode a click log chunk by chunk into memory-mappable files.

    Each chunk is encoded (``encoder.transform``), validated as the
    estimators validate their input, and appended to the files; memory holds
    one chunk.

    Parameters
    ----------
    chunks : iterable of (X, y) tuples
        The log, e.g. ``load_criteo(path, chunksize=100_000)``: raw columns
        when `encoder` is given, else field-indexed matrices.
    path : str or path-like
        Directory to write (created; it must be empty or hold a previous
        encoding and ``overwrite=True``).
    encoder : fitted transformer, default=None
        Applied to each chunk's ``X``, e.g. a :class:`FieldEncoder` from
        :func:`fit_encoder`.
    numeric_fields : "auto", None or list of str or int, default="auto"
        The numeric fields of the encoded matrix, as the estimators'
        parameter (``"auto"``: the floating-point columns of a DataFrame);
        decided on the first chunk. The estimator trained on the files must
        resolve to the same fields.
    overwrite : bool, default=False
        Replace a previous encoding in `path`.

    Returns
    -------
    data : OnDiskFieldData
        The files.

    See Also
    --------
    fit_encoder : The pass before: learn the encoder from the chunks.
    sklearn_deeplight._ondisk.fit_ondisk : The pass after: train from the files.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from sklearn_deeplight.datasets._store import encode_to_memmap
    >>> X = np.array([[0, 1], [1, 0], [2, 1]])
    >>> chunks = [(X[:2], [0, 1]), (X[2:], [1])]  # e.g. a reader's chunks
    >>> with tempfile.TemporaryDirectory() as d:
    ...     data = encode_to_memmap(chunks, d)
    ...     codes = np.load(f"{d}/codes.npy", mmap_mode="r").tolist()
    >>> data.n_samples, codes
    (3, [[0, 1], [1, 0], [2, 1]])
    """
    path = Path(path)
    _prepare_dir(path, overwrite)
    writers: dict[str, _NpyAppender] = {}
    names: list[str] | None = None
    mask = max_codes = None
    labels: list = []
    n_fields = 0
    try:
        for item in chunks:
            if not isinstance(item, tuple) or len(item) != 2 or item[1] is None:
                raise TypeError(
                    "encode_to_memmap needs (X, y) chunks with labels, as the "
                    "readers yield with chunksize."
                )
            X, y = item
            Xt = encoder.transform(X) if encoder is not None else X
            chunk_names = (
                [str(c) for c in Xt.columns] if isinstance(Xt, pd.DataFrame) else None
            )
            probe = _Probe()
            if mask is None:
                n_fields = int(np.shape(Xt)[1]) if np.ndim(Xt) == 2 else 0
                mask = resolve_numeric_fields(numeric_fields, Xt, n_fields, chunk_names)
                names = chunk_names
                writers = {
                    "codes": _NpyAppender(
                        path / "codes.npy", np.int32, int((~mask).sum())
                    ),
                    "values": _NpyAppender(
                        path / "values.npy", np.float32, int(mask.sum())
                    ),
                    "labels": _NpyAppender(path / "labels.npy", np.uint8, None),
                }
                max_codes = np.full(n_fields, -1, dtype=np.int64)
            elif chunk_names != names:
                raise ValueError(
                    f"Chunk at row {writers['labels'].rows} has the columns "
                    f"{chunk_names}, the first chunk {names}."
                )
            codes, values = check_field_matrix(probe, Xt, reset=True, numeric_mask=mask)
            if codes.shape[1] != n_fields:
                raise ValueError(
                    f"Chunk at row {writers['labels'].rows} has {codes.shape[1]} "
                    f"fields, the first chunk {n_fields}."
                )
            y = column_or_1d(y, warn=True)
            if y.shape[0] != codes.shape[0]:
                raise ValueError(
                    f"A chunk has {codes.shape[0]} rows of X and {y.shape[0]} labels."
                )
            if y.dtype.kind == "f" and not np.isfinite(y).all():
                raise ValueError("Input y contains NaN or infinity.")
            for lab in np.unique(y):
                if not any(lab == seen for seen in labels):
                    labels.append(lab)
            if len(labels) > 2:
                raise ValueError(
                    "Only binary classification is supported. The target has more "
                    f"than 2 classes: {labels}."
                )
            pos = np.zeros(y.shape[0], dtype=np.uint8)
            if len(labels) == 2:
                pos[y == labels[1]] = 1
            if codes.shape[0]:
                max_codes = np.maximum(max_codes, codes.max(axis=0))
            writers["codes"].append(codes[:, ~mask])
            writers["values"].append(values[:, mask])
            writers["labels"].append(pos)
    finally:
        for w in writers.values():
            w.close()
    if mask is None or writers["labels"].rows == 0:
        raise ValueError("encode_to_memmap got no rows: the log is empty.")
    max_codes[mask] = 0
    label_arr = np.asarray(labels)
    meta = {
        "format": _FORMAT,
        "version": _VERSION,
        "n_samples": writers["labels"].rows,
        "n_fields": n_fields,
        "feature_names": names,
        "numeric_fields": np.flatnonzero(mask).tolist(),
        "max_codes": max_codes.tolist(),
        "labels": label_arr.tolist(),
        "labels_dtype": label_arr.dtype.str,
    }
    tmp = path / "meta.json.tmp"
    tmp.write_text(json.dumps(meta, indent=1))
    os.replace(tmp, path / "meta.json")
    return OnDiskFieldData(path)
