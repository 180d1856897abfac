"""Training from click logs larger than memory, through a memory-mapped copy.

Three streaming passes, none of which holds the log in memory:

1. :func:`fit_encoder` learns the :class:`~sklearn_deeplight.FieldEncoder`
   vocabularies chunk by chunk (``partial_fit``; the same encoder as ``fit`` on
   the whole log);
2. :func:`encode_to_memmap` encodes the log chunk by chunk and appends the
   result to ``.npy`` files in a directory, returning an
   :class:`OnDiskFieldData`;
3. :func:`fit_ondisk` trains an estimator from those files through
   :class:`OnDiskFieldDataset`, a memory-mapped skorch dataset that reads one
   batch (or one shuffle window) at a time.

The directory holds ``codes.npy`` (int32, the codes of the categorical
fields, -1 where missing), ``values.npy`` (float32, the numeric fields),
``labels.npy`` (uint8, the position of each row's label in ``meta.json``'s
``labels``) and ``meta.json`` (written last: a directory without it is an
interrupted encoding). The ``.npy`` files open with ``numpy.load(...,
mmap_mode="r")``.

Examples
--------
>>> import tempfile
>>> from sklearn_deeplight import FieldEncoder, FwFMClassifier
>>> from sklearn_deeplight.datasets import make_ctr_classification
>>> from sklearn_deeplight._ondisk import encode_to_memmap, fit_encoder, fit_ondisk
>>> X, y = make_ctr_classification(300, n_numeric=2, n_categorical=3,
...                                n_interactions=1, random_state=0)
>>> def chunks():  # a reader's iterator, e.g. load_criteo(path, chunksize=...)
...     return ((X.iloc[i:i + 100], y[i:i + 100]) for i in range(0, 300, 100))
>>> encoder = fit_encoder(FieldEncoder(), chunks())
>>> with tempfile.TemporaryDirectory() as d:
...     data = encode_to_memmap(chunks(), d, encoder=encoder)
...     est = fit_ondisk(FwFMClassifier(max_epochs=1, random_state=0), data)
...     proba = est.predict_proba(encoder.transform(X))
>>> data.n_samples, proba.shape
(300, (300, 2))
"""

from __future__ import annotations

import contextlib
import json
import mmap
import numbers
import os
import struct
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.utils.validation import check_is_fitted, column_or_1d
from skorch import NeuralNet

from ._data import BatchIterator, FieldDataset
from ._validation import (
    check_binary_target,
    check_field_matrix,
    global_index,
    resolve_numeric_fields,
    table_sizes,
)

__all__ = [
    "OnDiskFieldData",
    "OnDiskFieldDataset",
    "encode_to_memmap",
    "fit_encoder",
    "fit_ondisk",
]

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
    fit_ondisk : Trains an estimator from it.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from sklearn_deeplight._ondisk import OnDiskFieldData, encode_to_memmap
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
            See :class:`OnDiskFieldDataset`.

        Returns
        -------
        dataset : OnDiskFieldDataset
        """
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


class _Column:
    """``dataset.xi`` / ``.xv`` / ``.y``: read rows on indexing, as tensors."""

    def __init__(self, dataset: OnDiskFieldDataset, part: str) -> None:
        self._ds = dataset
        self._part = part

    def __len__(self) -> int:
        return len(self._ds)

    def __getitem__(self, key) -> torch.Tensor:
        ds = self._ds
        if isinstance(key, slice):
            start, stop, step = key.indices(len(ds))
            sel = slice(start, stop) if step == 1 else np.arange(start, stop, step)
            return ds._tensors(ds._read(sel, (self._part,)))[self._part]
        if isinstance(key, numbers.Integral):
            i = int(key) + (len(ds) if key < 0 else 0)
            if not 0 <= i < len(ds):
                raise IndexError(f"index {key} is out of range for {len(ds)} rows")
            return ds._tensors(ds._read(np.array([i]), (self._part,)))[self._part][0]
        idx = key.numpy() if isinstance(key, torch.Tensor) else np.asarray(key)
        return ds._tensors(ds._read(idx.astype(np.int64), (self._part,)))[self._part]

    def numpy(self) -> np.ndarray:
        """The whole column (the labels: float32 in {0, 1})."""
        out = [
            self[start : start + _RELEASE_ROWS].numpy()
            for start in range(0, len(self._ds), _RELEASE_ROWS)
        ]
        return np.concatenate(out)


class OnDiskFieldDataset(FieldDataset):
    """A :class:`FieldDataset` that reads its rows from memory-mapped files.

    The estimators accept it wherever they accept a ``FieldDataset``: it
    builds each batch's ``xi`` (global embedding rows), ``xv`` and ``y`` from
    the stored codes, values and labels when the batch is read, and keeps no
    row in memory between batches.

    Parameters
    ----------
    data : OnDiskFieldData
        The files.
    field_dims, offsets : ndarray of int64 of shape (n_fields,)
        The estimator's field layout: codes at or above ``field_dims`` (and
        missing codes) read the field's out-of-vocabulary row.
    classes : ndarray of shape (2,), default=None
        The estimator's ``classes_``; ``y`` is 1 where the label is
        ``classes[1]``. None: the sorted labels of the file.
    shuffle : {"exact", "blocks"}, default="exact"
        Order of the training batches (see :meth:`batch_iterator`).
        ``"exact"``: a permutation of all rows drawn from torch's generator
        each epoch, as the in-memory :class:`BatchIterator` does, so that a
        model trained from disk equals the one trained in memory; it keeps an
        int64 permutation (8 bytes per row) in memory. ``"blocks"``: a
        shuffle window of `window_blocks` random blocks of `block_rows`
        consecutive rows at a time, shuffled; memory does not grow with the
        file and reads are sequential.
    block_rows : int, default=8192
        Rows per block with ``shuffle="blocks"``.
    window_blocks : int, default=8
        Blocks per shuffle window with ``shuffle="blocks"``.
    """

    def __init__(
        self,
        data: OnDiskFieldData,
        field_dims: np.ndarray,
        offsets: np.ndarray,
        *,
        classes: np.ndarray | None = None,
        shuffle: str = "exact",
        block_rows: int = 8192,
        window_blocks: int = 8,
    ) -> None:
        if shuffle not in ("exact", "blocks"):
            raise ValueError(f"shuffle must be 'exact' or 'blocks', got {shuffle!r}.")
        for name, value in (
            ("block_rows", block_rows),
            ("window_blocks", window_blocks),
        ):
            if not isinstance(value, numbers.Integral) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}.")
        self.data = data
        self.field_dims = np.asarray(field_dims, dtype=np.int64)
        self.offsets = np.asarray(offsets, dtype=np.int64)
        if classes is None:
            classes = np.unique(data.labels)
        classes = np.asarray(classes)
        # y = 1 for the stored label positions holding classes[1]
        self._positive = np.asarray(
            [len(classes) > 1 and lab == classes[1] for lab in data.labels] + [False]
        )
        self.shuffle = shuffle
        self.block_rows = int(block_rows)
        self.window_blocks = int(window_blocks)
        self._numeric = data.numeric_mask
        self._store = _Store(data)
        self._rows: slice | np.ndarray = slice(0, data.n_samples)
        self.xi = _Column(self, "xi")
        self.xv = _Column(self, "xv")
        self.y = _Column(self, "y")

    # -- rows ------------------------------------------------------------
    def __len__(self) -> int:
        rows = self._rows
        return rows.stop - rows.start if isinstance(rows, slice) else len(rows)

    def _file_rows(self, sel: slice | np.ndarray) -> slice | np.ndarray:
        rows = self._rows
        if isinstance(rows, slice):
            if isinstance(sel, slice):
                return slice(rows.start + sel.start, rows.start + sel.stop)
            return sel + rows.start
        return rows[sel]

    def _read(self, sel: slice | np.ndarray, parts=("xi", "xv", "y")) -> dict:
        """Numpy copies of the stored rows at dataset positions ``sel``."""
        rows = self._file_rows(sel)
        store = self._store
        maps = {"codes": store.codes, "values": store.values, "labels": store.labels}
        wanted = {"xi": "codes", "xv": "values", "y": "labels"}
        out = {}
        for part in parts:
            name = wanted[part]
            if isinstance(rows, slice):  # a range: through the map
                out[name] = np.array(maps[name].array[rows])
            else:  # rows at random: pread
                out[name] = maps[name].gather(rows)
        if isinstance(rows, slice):
            store.count(rows.stop - rows.start)
        return out

    def _tensors(self, raw: dict) -> dict:
        """Model inputs of raw rows: ``xi`` int64, ``xv`` float32, ``y``."""
        out = {}
        numeric = self._numeric
        if "codes" in raw:
            codes = raw["codes"]
            full = np.zeros((codes.shape[0], numeric.shape[0]), dtype=np.int64)
            full[:, ~numeric] = codes
            out["xi"] = torch.from_numpy(
                global_index(full, self.field_dims, self.offsets)
            )
        if "values" in raw:
            values = raw["values"]
            xv = np.ones((values.shape[0], numeric.shape[0]), dtype=np.float32)
            xv[:, numeric] = values
            out["xv"] = torch.from_numpy(xv)
        if "labels" in raw:
            y = self._positive[raw["labels"]].astype(np.float32)
            out["y"] = torch.from_numpy(y)
        return out

    def _batch(self, raw: dict):
        t = self._tensors(raw)
        return {"xi": t["xi"], "xv": t["xv"]}, t["y"]

    def take(self, index: torch.Tensor):
        """Return the batch at ``index`` as ``({"xi": ..., "xv": ...}, y)``."""
        idx = index.numpy() if isinstance(index, torch.Tensor) else np.asarray(index)
        return self._batch(self._read(idx.astype(np.int64, copy=False)))

    def subset(self, index) -> OnDiskFieldDataset:
        """A dataset of the rows at positions ``index`` (a view, no copy).

        Parameters
        ----------
        index : ndarray of int, range or slice
            Positions in this dataset.

        Returns
        -------
        subset : OnDiskFieldDataset
        """
        out = OnDiskFieldDataset.__new__(OnDiskFieldDataset)
        out.__dict__.update(self.__dict__)
        n = len(self)
        if isinstance(index, range | slice):
            start, stop, step = (
                index.indices(n)
                if isinstance(index, slice)
                else (index.start, index.stop, index.step)
            )
            sel = slice(start, stop) if step == 1 else np.arange(start, stop, step)
        else:
            sel = np.asarray(index, dtype=np.int64)
        rows = self._file_rows(sel)
        out._rows = rows
        out.xi, out.xv, out.y = (
            _Column(out, "xi"),
            _Column(out, "xv"),
            _Column(out, "y"),
        )
        return out

    @property
    def contiguous_validation(self) -> bool:
        """Whether the validation split is the last rows (``shuffle="blocks"``).

        A contiguous split needs no per-row index in memory.
        """
        return self.shuffle == "blocks"

    # -- iteration -------------------------------------------------------
    def batch_iterator(self, batch_size: int | None, shuffle: bool):
        """The iterator of this dataset's batches.

        Parameters
        ----------
        batch_size : int or None
            Rows per batch; -1 or None for one batch.
        shuffle : bool
            Training order (by the dataset's `shuffle` mode) rather than the
            stored order.

        Returns
        -------
        iterator : BatchIterator or _WindowBatchIterator
        """
        if self.shuffle == "exact" or not shuffle:
            return BatchIterator(self, batch_size, shuffle=shuffle)
        return _WindowBatchIterator(self, batch_size)

    def release(self) -> None:
        """Drop the mapped pages from this process's resident memory."""
        self._store.release()


class _WindowBatchIterator:
    """Training batches of an :class:`OnDiskFieldDataset` by shuffle windows.

    Each pass draws a permutation of the blocks of ``block_rows`` consecutive
    rows (from torch's generator); takes them ``window_blocks`` at a time,
    reads them (in file order), shuffles the window's rows together with the
    rows left over from the previous window and yields full batches. Every
    row is seen once per pass; memory holds one window.
    """

    def __init__(self, dataset: OnDiskFieldDataset, batch_size: int | None) -> None:
        self.dataset = dataset
        n = len(dataset)
        self.batch_size = n if batch_size in (None, -1) else max(int(batch_size), 1)

    def __len__(self) -> int:
        return max(1, -(-len(self.dataset) // self.batch_size))

    def __iter__(self) -> Iterator:
        ds = self.dataset
        n, bs, br = len(ds), self.batch_size, ds.block_rows
        n_blocks = -(-n // br)
        order = torch.randperm(n_blocks).numpy()
        carry: dict | None = None
        for w in range(0, n_blocks, ds.window_blocks):
            blocks = np.sort(order[w : w + ds.window_blocks])
            parts = [ds._read(slice(b * br, min(n, (b + 1) * br))) for b in blocks]
            if carry is not None:
                parts.insert(0, carry)
            window = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
            perm = torch.randperm(window["labels"].shape[0]).numpy()
            window = {k: v[perm] for k, v in window.items()}
            m = window["labels"].shape[0]
            last = w + ds.window_blocks >= n_blocks
            stop = m if last else m - m % bs
            for start in range(0, stop, bs):
                end = min(start + bs, stop)
                yield ds._batch({k: v[start:end] for k, v in window.items()})
            carry = None if last else {k: v[stop:] for k, v in window.items()}
            ds._store.release()


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
    >>> from sklearn_deeplight._ondisk import fit_encoder
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
    fit_ondisk : The pass after: train from the files.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from sklearn_deeplight._ondisk import encode_to_memmap
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


# ----------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------
def _probe_frame(data: OnDiskFieldData):
    """One all-zero row with the stored names and dtypes (for validation)."""
    mask = data.numeric_mask
    if data.feature_names is None:
        return np.zeros((1, data.n_fields))
    return pd.DataFrame(
        {
            name: np.zeros(1, dtype=np.float64 if mask[j] else np.int64)
            for j, name in enumerate(data.feature_names)
        }
    )


def _resolve_numeric(estimator, data: OnDiskFieldData) -> np.ndarray:
    spec = estimator.numeric_fields
    if isinstance(spec, str) and spec == "auto":
        # the stored split was resolved from the encoded chunks' dtypes
        return data.numeric_mask
    mask = resolve_numeric_fields(
        spec, _probe_frame(data), data.n_fields, data.feature_names
    )
    if not np.array_equal(mask, data.numeric_mask):
        raise ValueError(
            f"numeric_fields={spec!r} resolves to the fields "
            f"{np.flatnonzero(mask).tolist()}, but {data.path} was encoded with "
            f"the numeric fields {data.numeric_fields.tolist()}: pass "
            "numeric_fields='auto' or encode again with encode_to_memmap("
            "numeric_fields=...)."
        )
    return mask


def _set_layout(estimator, data: OnDiskFieldData, reset: bool) -> None:
    """The fitted attributes ``fit`` sets from in-memory data, from metadata."""
    probe = _probe_frame(data)
    if not reset:  # warm start: keep the layout, check the data against it
        check_field_matrix(estimator, probe, reset=False)
        unknown = [lab for lab in data.labels if lab not in set(estimator.classes_)]
        if unknown:
            raise ValueError(
                f"{data.path} holds the label {unknown[0]!r}, which is not one of "
                f"the classes seen in the first fit {list(estimator.classes_)}."
            )
        data.check_layout(estimator)
        return
    classes, _ = check_binary_target(estimator, data.labels)
    mask = _resolve_numeric(estimator, data)
    check_field_matrix(estimator, probe, reset=True, numeric_mask=mask)
    numeric = data.numeric_mask
    field_dims = np.where(numeric, 1, data.max_codes + 1)
    estimator.field_dims_ = np.maximum(field_dims, 1).astype(np.int64)
    sizes = table_sizes(estimator.field_dims_, numeric)
    estimator.offsets_ = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    estimator._table_sizes_ = sizes
    estimator._classes_ = classes


@contextlib.contextmanager
def _dataset_hooks(estimator) -> Iterator[None]:
    """Let the dataset choose its iterator and validation split during fit.

    The hook ``_base`` would carry (see the module notes): while active, the
    estimator asks an :class:`OnDiskFieldDataset` for its batch iterator and
    holds out the *last* ``validation_fraction`` of the rows (a contiguous
    range: no per-row index in memory).
    """
    cls = type(estimator)

    def get_iterator(dataset, training=False):
        make = getattr(dataset, "batch_iterator", None)
        if make is None:
            return cls.get_iterator(estimator, dataset, training=training)
        prefix = "iterator_train" if training else "iterator_valid"
        params = estimator.get_params_for(prefix)
        return make(params.get("batch_size", estimator.batch_size), shuffle=training)

    def get_split_datasets(X, y=None, **fit_params):
        if not isinstance(X, OnDiskFieldDataset) or estimator.train_split is not None:
            return cls.get_split_datasets(estimator, X, y, **fit_params)
        vf, n = estimator.validation_fraction, len(X)
        if vf is None:
            return X, None
        n_valid = int(np.ceil(vf * n))
        if n_valid < 2 or n - n_valid < 2:
            msg = (
                f"validation_fraction={vf} leaves no usable validation split of "
                f"{n} samples"
            )
            if estimator.patience is not None or estimator.lr_patience is not None:
                raise ValueError(msg + ": patience and lr_patience need one.")
            warnings.warn(msg + ": training without validation.", stacklevel=2)
            return X, None
        return X.subset(range(0, n - n_valid)), X.subset(range(n - n_valid, n))

    state = estimator.__dict__
    state["get_iterator"] = get_iterator
    state["get_split_datasets"] = get_split_datasets
    try:
        yield
    finally:
        state.pop("get_iterator", None)
        state.pop("get_split_datasets", None)


def fit_ondisk(
    estimator,
    data: OnDiskFieldData | str | os.PathLike,
    *,
    shuffle: str = "blocks",
    block_rows: int = 8192,
    window_blocks: int = 8,
    **fit_params,
):
    """Train an estimator from an encoded log on disk, batch by batch.

    Sets the fitted attributes that ``fit`` learns from in-memory data
    (``field_dims_``, ``offsets_``, ``classes_``, ``numeric_fields_``,
    ``n_features_in_``, ``feature_names_in_``) from the files' metadata, then
    trains through an :class:`OnDiskFieldDataset`. The model then predicts
    on in-memory encoded rows as if fitted by ``fit``.

    Parameters
    ----------
    estimator : classifier
        One of the library's classifiers (``train_split`` must be None, its
        default; ``validation_fraction`` sets the validation split).
    data : OnDiskFieldData or path
        The encoded log.
    shuffle : {"blocks", "exact"}, default="blocks"
        ``"blocks"``: shuffle windows of random blocks, and the last
        ``validation_fraction`` of the rows as the validation split; memory
        does not grow with the file, but for the validation scores (AUC and
        log loss are computed over the whole split: about 100 bytes per
        validation row). ``"exact"``: the in-memory estimator's permutation
        and stratified split, so that the model equals ``estimator.fit`` on
        the same rows with the same seed; it holds 8 bytes per row (the
        permutation), about 90 with a validation split (the stratified
        split's indices).
    block_rows, window_blocks : int, default=8192, 8
        The shuffle window with ``shuffle="blocks"`` (see
        :class:`OnDiskFieldDataset`).
    **fit_params : dict
        Passed to skorch's ``fit``.

    Returns
    -------
    estimator : classifier
        The fitted estimator.

    See Also
    --------
    encode_to_memmap : Writes the encoded log.
    OnDiskFieldDataset : The dataset it trains through.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from sklearn_deeplight import FwFMClassifier
    >>> from sklearn_deeplight._ondisk import encode_to_memmap, fit_ondisk
    >>> rng = np.random.default_rng(0)
    >>> X = rng.integers(0, 10, size=(600, 3))
    >>> y = (X[:, 0] > 4).astype(int)
    >>> chunks = [(X[i:i + 200], y[i:i + 200]) for i in range(0, 600, 200)]
    >>> est = FwFMClassifier(max_epochs=5, batch_size=64, lr=0.01, random_state=0)
    >>> with tempfile.TemporaryDirectory() as d:
    ...     est = fit_ondisk(est, encode_to_memmap(chunks, d))
    >>> bool((est.predict(X) == y).mean() > 0.9)
    True
    """
    from ._base import _reject_sample_weight

    if not isinstance(data, OnDiskFieldData):
        data = OnDiskFieldData(data)
    _reject_sample_weight(estimator, fit_params)
    if getattr(estimator, "train_split", None) is not None:
        raise ValueError(
            "fit_ondisk takes the validation split from validation_fraction: "
            "set train_split=None."
        )
    estimator._check_params()
    reset = not (
        estimator.warm_start and estimator.initialized_ and estimator._is_fitted()
    )
    _set_layout(estimator, data, reset)
    dataset = OnDiskFieldDataset(
        data,
        estimator.field_dims_,
        estimator.offsets_,
        classes=estimator.classes_,
        shuffle=shuffle,
        block_rows=block_rows,
        window_blocks=window_blocks,
    )
    hooks = (
        _dataset_hooks(estimator) if shuffle == "blocks" else contextlib.nullcontext()
    )
    try:
        with hooks:
            estimator._fit_dataset(dataset, NeuralNet.fit, **fit_params)
    finally:
        dataset.release()
    return estimator
