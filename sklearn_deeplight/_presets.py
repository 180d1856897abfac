"""Settings sized from the data, and the paper's settings one call away.

``hidden_units="auto"`` and ``batch_size="auto"`` size the network and the
batches at fit from the number of training rows, by the tables below
(deterministic and documented): a 20,000-row log gets a small network in
small batches, a 45M-row log the paper's 400x3 network at batch 2,048. They
are options, not the defaults: on the README's 20,000 generated rows they fit
a better dense model faster, but the pruned model then loses AUC
(``benchmarks/auto_sizes.py``), so the defaults stay the paper's.
:func:`paper_params` returns the paper's settings for Criteo or Avazu.
"""

from __future__ import annotations

from typing import Any

__all__ = ["AUTO_BATCH_SIZE", "AUTO_HIDDEN_UNITS", "auto_value", "paper_params"]

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
    paper_params : The paper's settings.
    """
    table = {"hidden_units": AUTO_HIDDEN_UNITS, "batch_size": AUTO_BATCH_SIZE}.get(name)
    if table is None:
        raise ValueError(f"No 'auto' rule for {name!r}: hidden_units or batch_size.")
    for rows, value in table:
        if n_rows >= rows:
            return value
    raise ValueError(f"n_rows must be a non-negative int, got {n_rows!r}.")


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
