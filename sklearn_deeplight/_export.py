"""Turn a fitted estimator's torch module into a :class:`~._spec.ModelSpec`.

This is the only producer of model descriptions and the only place where the
sparse predictor touches torch objects: it is imported by
:meth:`SparseCTRPredictor.from_estimator
<sklearn_deeplight._sparse.SparseCTRPredictor.from_estimator>` only, never
at import or unpickling time. Each module writes its own blocks
(``module.to_spec(reader, layout)``) through a :class:`WeightReader`, which
hands out float64 numpy copies of the module's ``state_dict`` entries and
records which were read: an entry left unread is an error, so that no weight
of a module can silently drop out of the served model.

Eval-mode batch normalisation is folded into the preceding Linear layer
(:meth:`WeightReader.folded_linear`): with ``s = gamma / sqrt(running_var +
eps)`` the layer becomes ``W' = diag(s) W`` and ``b' = s * (b - running_mean)
+ beta``, computed in float64. A pruned (zero) weight stays exactly zero.
"""

from __future__ import annotations

import numpy as np

from ._spec import FieldLayout, ModelSpec

__all__ = ["WeightReader", "export_spec"]


class WeightReader:
    """float64 copies of a module's weights, each entry read at most once.

    Parameters
    ----------
    module : torch.nn.Module
        Read, never modified.
    """

    def __init__(self, module) -> None:
        self.module = module
        self._state = module.state_dict()
        self._read: set[str] = set()

    def has(self, key: str) -> bool:
        """Whether the module has the ``state_dict`` entry ``key``."""
        return key in self._state

    def array(self, key: str) -> np.ndarray:
        """The entry as a float64 numpy copy (never a view of the module)."""
        if key not in self._state:
            raise ValueError(f"The module has no weight {key!r}.")
        self._read.add(key)
        tensor = self._state[key]
        return np.array(tensor.detach().cpu().double().numpy(), dtype=np.float64)

    def skip(self, key: str) -> None:
        """Mark an entry that does not enter the served model (a counter)."""
        if key in self._state:
            self._read.add(key)

    def folded_linear(self, layer: str, norm: str) -> tuple[np.ndarray, np.ndarray]:
        """``(W, b)`` of Linear ``layer`` with BatchNorm ``norm`` folded in.

        ``norm`` may be an Identity (no state): W and b are returned as is.
        """
        W = self.array(f"{layer}.weight")
        b = self.array(f"{layer}.bias")
        if f"{norm}.running_mean" not in self._state:
            return W, b
        bn = self.module.get_submodule(norm)
        if not getattr(bn, "track_running_stats", True):
            raise ValueError(
                f"{norm} normalises with batch statistics at predict time "
                "(track_running_stats=False) and cannot be folded into a sparse "
                "layer."
            )
        mean = self.array(f"{norm}.running_mean")
        var = self.array(f"{norm}.running_var")
        self.skip(f"{norm}.num_batches_tracked")
        gamma_key, beta_key = f"{norm}.weight", f"{norm}.bias"
        gamma = self.array(gamma_key) if self.has(gamma_key) else np.ones_like(mean)
        beta = self.array(beta_key) if self.has(beta_key) else np.zeros_like(mean)
        scale = gamma / np.sqrt(var + float(bn.eps))
        return W * scale[:, None], scale * (b - mean) + beta

    def finish(self) -> None:
        """Raise ValueError naming any entry that was never read."""
        left = sorted(set(self._state) - self._read)
        if left:
            raise ValueError(
                f"{type(self.module).__name__}.to_spec left weights unread: {left}. "
                "Every weight must enter the model description."
            )


def export_spec(estimator) -> ModelSpec:
    """The validated description of a fitted estimator of this library.

    Parameters
    ----------
    estimator : fitted classifier
        Its ``module_`` must implement ``to_spec(reader, layout)``; the field
        layout is read from ``field_dims_``, ``numeric_fields_`` and checked
        against ``offsets_``.

    Returns
    -------
    spec : ModelSpec
        float64 embeddings and linear weights, float32 CSR layers. An
        estimator's ``negative_sampling_rate`` is folded into the bias
        (``+ log(rate)``), as its ``decision_function`` adds it.
    """
    module = estimator.module_
    layout = FieldLayout(
        np.array(estimator.field_dims_, dtype=np.int64),
        np.array(estimator.numeric_fields_, dtype=np.int64),
    )
    layout.check_offsets(np.asarray(estimator.offsets_, dtype=np.int64))
    if int(module.n_fields) != layout.n_fields:
        raise ValueError(
            f"The module has {module.n_fields} fields but the estimator was fitted "
            f"on {layout.n_fields} columns."
        )
    to_spec = getattr(module, "to_spec", None)
    if to_spec is None:
        raise TypeError(
            f"{type(module).__name__} has no to_spec(reader, layout): it cannot be "
            "described for the sparse predictor."
        )
    reader = WeightReader(module)
    spec = to_spec(reader, layout)
    reader.finish()
    rate = getattr(estimator, "negative_sampling_rate", None)
    if rate is not None and rate != 1:
        # the estimators' recalibration to the full population (logit + log r)
        spec.bias = float(spec.bias) + float(np.log(rate))
    if spec.embedding.shape[0] != layout.n_rows:
        raise ValueError(
            f"embedding.weight has {spec.embedding.shape[0]} rows, the field layout "
            f"{layout.n_rows}."
        )
    return spec.validate()
