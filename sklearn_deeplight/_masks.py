"""What DeepLight prunes, which entries a threshold removes, what a prune left.

The prunable components a module declares (``module.prunable_parts()``, in
the order of :data:`COMPONENTS`), the exact magnitude selection of one
threshold (``round(s * numel)`` entries, round half up, the bottom ones by
magnitude, ties broken by index order), and the readers of a pruned module:
:func:`sparsity_report` and :func:`field_pair_matrix`.
:class:`~sklearn_deeplight._pruning.DeepLightPruning` applies the selection
during training; :mod:`sklearn_deeplight._pruning` re-exports the public
names.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from ._registry import COMPONENTS as _REGISTRY_COMPONENTS

__all__ = [
    "COMPONENTS",
    "component_parameters",
    "field_pair_matrix",
    "sparsity_report",
]

#: The prunable components (the registry's), in report order: embeddings first.
COMPONENTS = ("embeddings", *(c for c in _REGISTRY_COMPONENTS if c != "embeddings"))


def component_parameters(
    module: nn.Module,
) -> dict[str, list[tuple[str, nn.Parameter]]]:
    """The prunable parameters of ``module``, grouped by component.

    Parameters
    ----------
    module : torch.nn.Module
        A module that declares its prunable parts (``prunable_parts()``, as
        the modules of :mod:`sklearn_deeplight._modules` do); any other
        module has none.

    Returns
    -------
    groups : dict
        ``{component: [(parameter name, parameter), ...]}`` for the
        components the module has, in the order of :data:`COMPONENTS`.
    """
    return {c: list(part.params) for c, part in _parts(module).items()}


def _parts(module: nn.Module) -> dict:
    """``module.prunable_parts()`` in the order of :data:`COMPONENTS`."""
    declare = getattr(module, "prunable_parts", None)
    parts = declare() if callable(declare) else {}
    unknown = set(parts) - set(COMPONENTS)
    if unknown:
        raise ValueError(
            f"{type(module).__name__}.prunable_parts() declares components "
            f"{sorted(unknown)} that DeepLightPruning has no target for; its "
            f"targets are {list(COMPONENTS)}."
        )
    return {c: parts[c] for c in COMPONENTS if c in parts}


def _n_to_prune(rate: float, numel: int) -> int:
    """Entries to zero for ``rate``: round half up of ``rate * numel``."""
    return min(numel, max(0, int(math.floor(rate * numel + 0.5))))


def _bottom_k(score: torch.Tensor, k: int) -> torch.Tensor:
    """Boolean mask of exactly ``k`` smallest entries of the 1-D ``score``.

    Entries tied at the k-th value are taken in index order, so the mask is
    deterministic and has exactly ``k`` True entries.
    """
    n = score.numel()
    mask = torch.zeros(n, dtype=torch.bool, device=score.device)
    if k <= 0:
        return mask
    if k >= n:
        mask[:] = True
        return mask
    kth = torch.kthvalue(score, k).values
    below = score < kth
    missing = k - int(below.sum())
    mask |= below
    if missing > 0:
        tied = torch.nonzero(score == kth).squeeze(1)[:missing]
        mask[tied] = True
    return mask


def sparsity_report(module: nn.Module):
    """Nonzero weights per prunable component of a module.

    Parameters
    ----------
    module : torch.nn.Module
        A module following the parameter names of
        :mod:`sklearn_deeplight._modules`.

    Returns
    -------
    report : pandas.DataFrame
        Indexed by ``component`` (those of ``embeddings``, ``dnn``,
        ``field_pairs``, ``cin`` the module has, as defined in
        :class:`DeepLightPruning`: DNN and CIN count their hidden/filter
        weights only), with columns ``total`` (elements), ``nonzero``,
        ``sparsity`` (``1 - nonzero / total``) and ``bytes`` (of the nonzero
        values at the parameters' dtype, e.g. 4 per float32).

    Examples
    --------
    >>> from sklearn_deeplight._modules import FwFMModule
    >>> from sklearn_deeplight._pruning import sparsity_report
    >>> module = FwFMModule([3, 4, 5], embedding_dim=2)
    >>> sparsity_report(module)  # doctest: +NORMALIZE_WHITESPACE
                 total  nonzero  sparsity  bytes
    component
    embeddings      24       24       0.0     96
    field_pairs      3        3       0.0     12
    """
    import pandas as pd

    rows = {}
    for comp, params in component_parameters(module).items():
        total = sum(p.numel() for _, p in params)
        counts = [(int(torch.count_nonzero(p.detach())), p) for _, p in params]
        nonzero = sum(c for c, _ in counts)
        nbytes = sum(c * p.element_size() for c, p in counts)
        rows[comp] = {
            "total": int(total),
            "nonzero": int(nonzero),
            "sparsity": 1.0 - nonzero / total if total else 0.0,
            "bytes": int(nbytes),
        }
    report = pd.DataFrame.from_dict(
        rows, orient="index", columns=["total", "nonzero", "sparsity", "bytes"]
    )
    report.index.name = "component"
    return report.astype(
        {"total": "int64", "nonzero": "int64", "sparsity": "float64", "bytes": "int64"}
    )


def field_pair_matrix(module: nn.Module) -> np.ndarray:
    """The symmetric field-pair matrix R of an FwFM module.

    Parameters
    ----------
    module : torch.nn.Module
        A module with a ``field_pairs`` parameter: R's upper triangle in
        ``torch.triu_indices(n, n, 1)`` order.

    Returns
    -------
    R : ndarray of shape (n_fields, n_fields)
        float64, symmetric, zero diagonal; pruned pairs are exactly zero.

    Examples
    --------
    >>> import torch
    >>> from sklearn_deeplight._modules import FwFMModule
    >>> from sklearn_deeplight._pruning import field_pair_matrix
    >>> module = FwFMModule([2, 2, 2])
    >>> with torch.no_grad():
    ...     _ = module.field_pairs.copy_(torch.tensor([1.0, 2.0, 3.0]))
    >>> field_pair_matrix(module)
    array([[0., 1., 2.],
           [1., 0., 3.],
           [2., 3., 0.]])
    """
    pairs = getattr(module, "field_pairs", None)
    if not isinstance(pairs, torch.Tensor):
        raise ValueError(
            f"{type(module).__name__} has no field-pair matrix R (no "
            "'field_pairs' parameter): only FwFM and DeepFwFM models have one."
        )
    m = pairs.numel()
    n = getattr(module, "n_fields", None)
    if n is None:
        n = int(round((1 + math.sqrt(1 + 8 * m)) / 2))
    if n * (n - 1) // 2 != m:
        raise ValueError(
            f"field_pairs holds {m} values, not the n(n-1)/2 pairs of {n} fields."
        )
    rows, cols = torch.triu_indices(n, n, offset=1)
    values = pairs.detach().cpu().to(torch.float64).numpy()
    R = np.zeros((n, n), dtype=np.float64)
    R[rows.numpy(), cols.numpy()] = values
    R[cols.numpy(), rows.numpy()] = values
    return R
