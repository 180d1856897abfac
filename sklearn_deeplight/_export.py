"""Read the weights of a fitted CTR module into plain numpy arrays.

This is the only place where the sparse predictor touches torch objects: it is
imported by :meth:`SparseCTRPredictor.from_estimator
<sklearn_deeplight._sparse.SparseCTRPredictor.from_estimator>` only, never by
the predictor's module at import or unpickling time. It reads the module's
``state_dict`` through the parameter-name contract of
:mod:`sklearn_deeplight._modules` and a few documented attributes
(``linear_term``, ``interaction``, ``dnn_input``, ``cin.keep``), so it needs
no torch import of its own.

Eval-mode batch normalisation is folded into the preceding Linear layer: with
``s = gamma / sqrt(running_var + eps)`` the layer becomes ``W' = diag(s) W``
and ``b' = s * (b - running_mean) + beta``, computed in float64. A pruned
(zero) weight stays exactly zero.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["export_module"]


def _numpy(tensor) -> np.ndarray:
    """A float64 numpy copy of a tensor (never a view of the module's memory)."""
    return np.array(tensor.detach().cpu().double().numpy(), dtype=np.float64)


def _fold_norm(module, prefix: str, i: int, W: np.ndarray, b: np.ndarray, sd):
    """Fold ``<prefix>.norms.<i>`` (eval-mode BatchNorm1d or Identity) into W, b."""
    key = f"{prefix}.norms.{i}.running_mean"
    if key not in sd:
        return W, b
    norm = module.get_submodule(f"{prefix}.norms.{i}")
    if not getattr(norm, "track_running_stats", True):
        raise ValueError(
            f"{prefix}.norms.{i} normalises with batch statistics at predict time "
            "(track_running_stats=False) and cannot be folded into a sparse layer."
        )
    mean = _numpy(sd[key])
    var = _numpy(sd[f"{prefix}.norms.{i}.running_var"])
    gamma_key, beta_key = f"{prefix}.norms.{i}.weight", f"{prefix}.norms.{i}.bias"
    gamma = _numpy(sd[gamma_key]) if gamma_key in sd else np.ones_like(mean)
    beta = _numpy(sd[beta_key]) if beta_key in sd else np.zeros_like(mean)
    scale = gamma / np.sqrt(var + float(norm.eps))
    return W * scale[:, None], scale * (b - mean) + beta


def export_module(module) -> dict[str, Any]:
    """Turn a CTR module of :mod:`sklearn_deeplight._modules` into numpy arrays.

    Parameters
    ----------
    module : torch.nn.Module
        One of the seven modules (or a module following the same parameter-name
        contract), in any mode; its weights are read, never modified.

    Returns
    -------
    params : dict
        float64 arrays and the model's structure:

        - ``bias``: float;
        - ``embedding``: (n_rows, k) or None;
        - ``linear_term``: "scalar", "feature_vector", "field_vector" or None,
          with ``linear`` the matching array ((n_rows,), (n_rows, k) or
          (n_fields, k));
        - ``interaction``: "fm", "fwfm" or None; ``field_pairs`` (the upper
          triangle of R in ``torch.triu_indices`` order) for "fwfm";
        - ``dnn_input``: "concat", "bi" or None; ``dnn_layers`` a list of
          (W, b) with batch normalisation folded in; ``dnn_out`` (h_last,);
        - ``cin_layers``: list of (W, b) or None; ``cin_keep``: maps sent to
          the output per layer; ``cin_out``: (sum of keep,).
        - ``n_fields``: int.
    """
    sd = module.state_dict()
    out: dict[str, Any] = {"bias": float(_numpy(sd["bias"]).reshape(()))}
    out["embedding"] = (
        _numpy(sd["embedding.weight"]) if "embedding.weight" in sd else None
    )
    n_fields = int(module.n_fields)
    out["n_fields"] = n_fields

    linear_term = getattr(module, "linear_term", None)
    out["linear_term"] = linear_term
    if linear_term == "scalar":
        out["linear"] = _numpy(sd["linear.weight"]).reshape(-1)
    elif linear_term == "feature_vector":
        out["linear"] = _numpy(sd["linear.weight"])
    elif linear_term == "field_vector":
        out["linear"] = _numpy(sd["field_linear"])
    elif linear_term is not None:
        raise ValueError(f"Unknown linear_term {linear_term!r} on the module.")
    else:
        out["linear"] = None

    interaction = getattr(module, "interaction", None)
    if interaction not in (None, "fm", "fwfm"):
        raise ValueError(f"Unknown interaction {interaction!r} on the module.")
    out["interaction"] = interaction
    out["field_pairs"] = _numpy(sd["field_pairs"]) if interaction == "fwfm" else None

    dnn_input = getattr(module, "dnn_input", None)
    if dnn_input not in (None, "concat", "bi"):
        raise ValueError(f"Unknown dnn_input {dnn_input!r} on the module.")
    out["dnn_input"] = dnn_input
    layers = []
    if dnn_input is not None:
        i = 0
        while f"dnn.layers.{i}.weight" in sd:
            W = _numpy(sd[f"dnn.layers.{i}.weight"])
            b = _numpy(sd[f"dnn.layers.{i}.bias"])
            layers.append(_fold_norm(module, "dnn", i, W, b, sd))
            i += 1
        out["dnn_out"] = _numpy(sd["dnn.out.weight"]).reshape(-1)
    else:
        out["dnn_out"] = None
    out["dnn_layers"] = layers

    if "cin.layers.0.weight" in sd:
        cin_layers = []
        i = 0
        while f"cin.layers.{i}.weight" in sd:
            cin_layers.append(
                (
                    _numpy(sd[f"cin.layers.{i}.weight"]),
                    _numpy(sd[f"cin.layers.{i}.bias"]),
                )
            )
            i += 1
        out["cin_layers"] = cin_layers
        out["cin_keep"] = [int(v) for v in module.cin.keep]
        out["cin_out"] = _numpy(sd["cin.out.weight"]).reshape(-1)
    else:
        out["cin_layers"] = None
        out["cin_keep"] = None
        out["cin_out"] = None
    return out
