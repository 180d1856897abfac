"""Torch dataset and batch iterator for field-indexed data.

skorch's default ``Dataset`` + ``DataLoader`` fetch samples one at a time and
collate them, which costs more than the forward pass of a small CTR model at
batch 2048. :class:`FieldDataset` keeps the whole input as two tensors and
:class:`BatchIterator` slices whole batches out of them.

The estimators ask the dataset for its batch iterator
(:meth:`FieldDataset.batch_iterator`) and its validation split
(:meth:`FieldDataset.split_validation`); the on-disk dataset
(:class:`~sklearn_deeplight._ondisk.OnDiskFieldDataset`) answers the same two
questions its own way.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.model_selection import train_test_split
from torch.utils.data import Dataset

__all__ = ["FieldDataset", "BatchIterator"]


class FieldDataset(Dataset):
    """Field-indexed samples as tensors.

    Parameters
    ----------
    xi : ndarray of int64 of shape (n_samples, n_fields)
        Rows of the concatenated embedding table.
    xv : ndarray of shape (n_samples, n_fields)
        Field values (1 for categorical fields).
    y : ndarray of float32 of shape (n_samples,), default=None
        Targets in {0, 1}.
    w : ndarray of shape (n_samples,), default=None
        Sample weights; batches then carry them as ``X["w"]`` (the estimator
        drops them before the module's forward and weighs the loss).
    """

    def __init__(
        self,
        xi: np.ndarray,
        xv: np.ndarray,
        y: np.ndarray | None = None,
        w: np.ndarray | None = None,
    ):
        self.xi = torch.as_tensor(np.ascontiguousarray(xi, dtype=np.int64))
        self.xv = torch.as_tensor(np.ascontiguousarray(xv, dtype=np.float32))
        self.y = None if y is None else torch.as_tensor(np.asarray(y, np.float32))
        self.w = None if w is None else torch.as_tensor(np.asarray(w, np.float32))

    def _inputs(self, index) -> dict:
        """The model input of the rows at ``index`` (weights when present)."""
        x = {"xi": self.xi[index], "xv": self.xv[index]}
        w = getattr(self, "w", None)
        if w is not None:
            x["w"] = w[index]
        return x

    def __len__(self) -> int:
        return self.xi.shape[0]

    def __getitem__(self, i):
        y = self.y[i] if self.y is not None else torch.zeros(())
        return self._inputs(i), y

    def take(self, index: torch.Tensor):
        """Return the batch at ``index`` as ``({"xi": ..., "xv": ...}, y)``."""
        y = self.y[index] if self.y is not None else torch.zeros(len(index))
        return self._inputs(index), y

    def subset(self, index: np.ndarray) -> FieldDataset:
        """A new dataset holding the rows at ``index``."""
        out = FieldDataset.__new__(FieldDataset)
        idx = torch.as_tensor(index, dtype=torch.int64)
        out.xi, out.xv = self.xi[idx], self.xv[idx]
        out.y = None if self.y is None else self.y[idx]
        w = getattr(self, "w", None)
        out.w = None if w is None else w[idx]
        return out

    def split_validation(
        self, n_valid: int, *, random_state: int
    ) -> tuple[FieldDataset, FieldDataset]:
        """The training and validation subsets, ``n_valid`` rows held out.

        Stratified by ``y`` when each class has at least two rows.

        Parameters
        ----------
        n_valid : int
            Rows to hold out, ``2 <= n_valid <= len(self) - 2``.
        random_state : int
            Seed of ``train_test_split``.

        Returns
        -------
        train, valid : FieldDataset
            The subsets (:meth:`subset`).
        """
        y = self.y.numpy()
        _, counts = np.unique(y, return_counts=True)
        stratify = y if counts.min() >= 2 else None
        idx_train, idx_valid = train_test_split(
            np.arange(len(self)),
            test_size=n_valid,
            stratify=stratify,
            random_state=random_state,
        )
        return self.subset(idx_train), self.subset(idx_valid)

    def batch_iterator(self, batch_size: int | None, shuffle: bool) -> BatchIterator:
        """The iterator of this dataset's batches.

        Parameters
        ----------
        batch_size : int or None
            Rows per batch; -1 or None for one batch.
        shuffle : bool
            A new permutation each pass (training) rather than the stored
            order.

        Returns
        -------
        iterator : BatchIterator
        """
        return BatchIterator(self, batch_size, shuffle=shuffle)


class BatchIterator:
    """Iterate over a :class:`FieldDataset` in whole batches.

    Parameters
    ----------
    dataset : FieldDataset
        The data.
    batch_size : int
        Samples per batch; -1 or None for one batch.
    shuffle : bool
        Draw a new permutation (from torch's global generator) each pass.
    """

    def __init__(self, dataset: FieldDataset, batch_size: int | None, shuffle: bool):
        self.dataset = dataset
        n = len(dataset)
        self.batch_size = n if batch_size in (None, -1) else int(batch_size)
        self.shuffle = shuffle

    def __len__(self) -> int:
        n = len(self.dataset)
        return max(1, -(-n // max(self.batch_size, 1)))

    def __iter__(self):
        n = len(self.dataset)
        bs = max(self.batch_size, 1)
        if self.shuffle:
            order = torch.randperm(n)
            for start in range(0, n, bs):
                yield self.dataset.take(order[start : start + bs])
        else:
            for start in range(0, n, bs):
                sl = slice(start, start + bs)
                ds = self.dataset
                y = ds.y[sl] if ds.y is not None else torch.zeros(len(ds.xi[sl]))
                yield ds._inputs(sl), y
