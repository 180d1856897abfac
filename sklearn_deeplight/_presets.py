"""Settings sized from the data, and the paper's settings one call away.

The defaults ``hidden_units="auto"``, ``batch_size="auto"`` and ``lr="auto"``
are sized at fit, deterministically, from the number of training rows:
the network and the batches by the tables below (a 20,000-row log gets a
128x128 DNN at batch 256, a log of 1M rows or more the paper's 400x3 DNN at
batch 2,048), and Adam's learning rate from the batch size by the
square-root rule, ``lr = 1e-3 * sqrt(batch_size / 2048)`` (:func:`auto_lr`),
anchored at the paper's 1e-3 at batch 2,048. From 1M rows on, the three are
the paper's settings.

Why the learning rate follows the batch: at the paper's 1e-3, batch 256
takes 8 times the Adam steps of batch 2,048 per epoch, so on a small log the
dense model peaks after two epochs, before the pruning ramp of
:class:`~sklearn_deeplight.DeepLightPruning` (one dense epoch, then 2.3
epochs of ramp) has ended: the first epoch at the full targets, the fourth,
is already overfitting, and early stopping at full sparsity can only return
a worse model (``benchmarks/auto_sizes.py``, 20,000 generated rows, 3 seeds:
0.023 AUC below the dense model). The square-root rule, the scaling rule for
Adam's learning rate with the batch size (Malladi et al., "On the SDEs and
Scaling Rules for Adaptive Gradient Algorithms", NeurIPS 2022), moves the
dense peak to the third or fourth epoch; the pruned model, fine-tuned at the
targets from the fourth, then keeps the dense model's AUC. At 100,000 rows
the dense model peaks in its first two epochs under the paper's settings as
well, and the pruned model loses AUC under both (``benchmarks/auto_sizes.py
--rows 100000``): there the pruning ramp, not the sizes, ends too late.

:func:`paper_params` returns the paper's settings for Criteo or Avazu, as
constructor parameters.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

__all__ = [
    "AUTO_BATCH_SIZE",
    "AUTO_HIDDEN_UNITS",
    "auto_lr",
    "auto_value",
    "paper_params",
]

#: The paper's Adam learning rate, and the batch size it was set for: the
#: anchor of :func:`auto_lr`.
PAPER_LR = 1e-3
PAPER_BATCH_SIZE = 2048

#: (fewest training rows, hidden_units), the first row that applies.
AUTO_HIDDEN_UNITS: tuple[tuple[int, tuple[int, ...]], ...] = (
    (1_000_000, (400, 400, 400)),
    (100_000, (256, 256, 256)),
    (20_000, (128, 128)),
    (0, (64, 64)),
)
#: (fewest training rows, batch_size), the first row that applies.
AUTO_BATCH_SIZE: tuple[tuple[int, int], ...] = (
    (1_000_000, 2048),
    (200_000, 1024),
    (50_000, 512),
    (0, 256),
)

_PAPER: dict[str, dict[str, Any]] = {
    # The paper's Section 5.1 and the authors' code: k=10 on Criteo, 20 on
    # Avazu; 400x3 and 300x3 DNNs; Adam at 1e-3, batch 2,048, L2 3e-7,
    # dropout 0.5, 10 epochs.
    "criteo": dict(
        embedding_dim=10,
        hidden_units=(400, 400, 400),
        dropout=0.5,
        lr=1e-3,
        batch_size=2048,
        l2=3e-7,
        max_epochs=10,
    ),
    "avazu": dict(
        embedding_dim=20,
        hidden_units=(300, 300, 300),
        dropout=0.5,
        lr=1e-3,
        batch_size=2048,
        l2=3e-7,
        max_epochs=10,
    ),
}


def auto_value(name: str, n_rows: int) -> Any:
    """The value ``"auto"`` takes for ``name`` with ``n_rows`` training rows.

    Parameters
    ----------
    name : {"hidden_units", "batch_size"}
        The parameter.
    n_rows : int
        Training rows.

    Returns
    -------
    value : tuple of int or int
        From :data:`AUTO_HIDDEN_UNITS` or :data:`AUTO_BATCH_SIZE`.

    Examples
    --------
    >>> from sklearn_deeplight import auto_value
    >>> auto_value("hidden_units", 20_000), auto_value("batch_size", 20_000)
    ((128, 128), 256)
    >>> auto_value("hidden_units", 45_000_000)
    (400, 400, 400)

    See Also
    --------
    auto_lr : The ``"auto"`` learning rate at a batch size.
    paper_params : The paper's settings.
    """
    table = {"hidden_units": AUTO_HIDDEN_UNITS, "batch_size": AUTO_BATCH_SIZE}.get(name)
    if table is None:
        raise ValueError(f"No 'auto' rule for {name!r}: hidden_units or batch_size.")
    for rows, value in table:
        if n_rows >= rows:
            return value
    raise ValueError(f"n_rows must be a non-negative int, got {n_rows!r}.")


def auto_lr(batch_size: int) -> float:
    """The learning rate ``lr="auto"`` takes at a batch size.

    ``1e-3 * sqrt(batch_size / 2048)``: the paper's Adam learning rate at
    its batch size of 2,048, scaled by the square root of the batch size
    (the square-root scaling rule for Adam), so that smaller batches, which
    take more steps per epoch, take smaller ones. Batch 256 gets 3.5e-4.

    Parameters
    ----------
    batch_size : int
        Training batch size (the fitted ``batch_size_``, explicit or
        ``"auto"``).

    Returns
    -------
    lr : float
        Adam's learning rate.

    Examples
    --------
    >>> from sklearn_deeplight import auto_lr
    >>> auto_lr(2048), round(auto_lr(256), 6)
    (0.001, 0.000354)

    See Also
    --------
    auto_value : The ``"auto"`` network and batch sizes.
    """
    if (
        isinstance(batch_size, bool)
        or not isinstance(batch_size, numbers.Real)
        or not batch_size > 0
    ):
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}.")
    return PAPER_LR * math.sqrt(batch_size / PAPER_BATCH_SIZE)


def paper_params(dataset: str, model: str = "DeepFwFM") -> dict[str, Any]:
    """The DeepLight paper's settings for a model on Criteo or Avazu.

    Parameters
    ----------
    dataset : {"criteo", "avazu"}
        Whose settings.
    model : str, default="DeepFwFM"
        A model of the registry (its name, command-line name or class name);
        the settings it has no parameter for are left out (no DNN for LR, FM
        and FwFM; no embeddings for LR).

    Returns
    -------
    params : dict
        Constructor parameters, e.g. ``DeepFwFMClassifier(**params)``.

    Examples
    --------
    >>> from sklearn_deeplight import DeepFwFMClassifier, paper_params
    >>> paper_params("avazu")["hidden_units"]
    (300, 300, 300)
    >>> est = DeepFwFMClassifier(**paper_params("criteo"))
    >>> est.batch_size, est.hidden_units
    (2048, (400, 400, 400))

    See Also
    --------
    auto_value : What ``"auto"`` sizes are at a given number of rows.
    """
    from ._params import BASE_PARAMS
    from ._registry import get_model

    key = str(dataset).lower()
    if key not in _PAPER:
        raise ValueError(f"dataset must be 'criteo' or 'avazu', got {dataset!r}.")
    info = get_model(model)
    from . import _classifiers

    cls = getattr(_classifiers, info.classifier)
    names = set(cls._module_params) | set(BASE_PARAMS)
    return {k: v for k, v in _PAPER[key].items() if k in names}
