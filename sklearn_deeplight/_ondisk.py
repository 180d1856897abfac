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

The files, their format and the first two passes are torch-free and live in
:mod:`sklearn_deeplight.datasets._store` (re-exported here); this module holds
the torch dataset and the training. The estimator asks the dataset for its
batch iterator (:meth:`OnDiskFieldDataset.batch_iterator`) and its
validation split (:meth:`OnDiskFieldDataset.split_validation`), as it asks
the in-memory :class:`~sklearn_deeplight._data.FieldDataset`.

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

import numbers
import os
from collections.abc import Iterator

import numpy as np
import pandas as pd
import torch
from skorch import NeuralNet

from ._data import FieldDataset
from ._validation import (
    check_binary_target,
    check_field_matrix,
    global_index,
    resolve_numeric_fields,
)
from .datasets._store import (
    _RELEASE_ROWS,
    OnDiskFieldData,
    _Store,
    encode_to_memmap,
    fit_encoder,
)

__all__ = [
    "OnDiskFieldData",
    "OnDiskFieldDataset",
    "encode_to_memmap",
    "fit_encoder",
    "fit_ondisk",
]


# ----------------------------------------------------------------------
# The torch dataset
# ----------------------------------------------------------------------
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

    # -- the estimator's protocol ----------------------------------------
    def split_validation(
        self, n_valid: int, *, random_state: int
    ) -> tuple[OnDiskFieldDataset, OnDiskFieldDataset]:
        """The training and validation subsets, ``n_valid`` rows held out.

        With ``shuffle="blocks"`` (:attr:`contiguous_validation`) the last
        ``n_valid`` rows, a range that needs no per-row index in memory;
        with ``shuffle="exact"`` the in-memory dataset's stratified split
        (:meth:`FieldDataset.split_validation`), so that a model trained
        from disk equals the one trained in memory.

        Parameters
        ----------
        n_valid : int
            Rows to hold out, ``2 <= n_valid <= len(self) - 2``.
        random_state : int
            Seed of the stratified split (unused by the contiguous one).

        Returns
        -------
        train, valid : OnDiskFieldDataset
            Views of this dataset's rows.
        """
        if not self.contiguous_validation:
            return super().split_validation(n_valid, random_state=random_state)
        n = len(self)
        return self.subset(range(0, n - n_valid)), self.subset(range(n - n_valid, n))

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
            return super().batch_iterator(batch_size, shuffle)
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


#: Rows of the codes file read at a time when counting distinct codes.
_DISTINCT_BLOCK_ROWS = 1 << 20


def _distinct_codes(data: OnDiskFieldData, j: int) -> int:
    """Distinct non-negative codes of field ``j`` in the stored codes, read
    block by block (memory grows with the distinct codes, not the rows)."""
    column = int(np.count_nonzero(~data.numeric_mask[:j]))  # among the codes
    codes = np.load(data.path / "codes.npy", mmap_mode="r")
    seen = np.zeros(0, dtype=np.int64)
    for start in range(0, codes.shape[0], _DISTINCT_BLOCK_ROWS):
        block = np.asarray(codes[start : start + _DISTINCT_BLOCK_ROWS, column])
        seen = np.union1d(seen, block[block >= 0])
    return int(seen.shape[0])


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
    estimator._set_field_layout(
        data.max_codes,
        data.numeric_mask,
        lambda j: _distinct_codes(data, j),
        n_rows=len(data),
    )
    estimator._classes_ = classes


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
    for key in ("X_val", "y_val", "sample_weight_val"):
        if key in fit_params:
            raise TypeError(
                f"fit_ondisk takes no {key} yet: it validates on the file's "
                "validation_fraction split; fit in memory for an explicit "
                "validation set."
            )
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
    try:
        estimator._fit_dataset(dataset, NeuralNet.fit, **fit_params)
    finally:
        dataset.release()
    return estimator
