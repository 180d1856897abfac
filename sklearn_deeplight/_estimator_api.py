"""scikit-learn's face of the skorch-based estimators.

skorch shows through a plain ``NeuralNetBinaryClassifier`` subclass: its
repr hides the user's parameters, its ``get_params`` leaks the private
``_params_to_validate`` and lists a user's callback parameters only after
fit, unknown parameters get a generic message, and ``history_`` exists before
fit. :class:`SklearnFaceMixin` (listed before skorch's class in the bases)
gives the estimators scikit-learn's behaviour in each of these, and
:func:`skorch_parameters` lists skorch's own constructor parameters so that
the generated signatures declare them with their defaults (which is what
lets scikit-learn's repr show only the parameters a user changed).
"""

from __future__ import annotations

import difflib
import inspect
from typing import Any

from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError

__all__ = ["SklearnFaceMixin", "skorch_parameters"]

#: Parameters of scikit-learn estimators that this library does not take,
#: with the way to get the same effect here.
_HINTS = {
    "class_weight": "there are no class weights: resample the rows",
    "n_jobs": "training uses torch's threads: torch.set_num_threads(n)",
    "n_estimators": "this is a neural model; see max_epochs",
    "max_iter": "the number of passes over the data is max_epochs",
    "learning_rate": "the learning rate is lr",
    "alpha": "the L2 penalty is l2 (and embedding_l2)",
    "early_stopping": "early stopping is patience (with validation_fraction)",
}


def skorch_parameters(defaults: dict[str, Any]) -> list[inspect.Parameter]:
    """skorch's constructor parameters, keyword-only, with ``defaults``
    replacing skorch's (this library's module, optimizer, train_split)."""
    from skorch import NeuralNet, NeuralNetBinaryClassifier

    out: dict[str, inspect.Parameter] = {}
    for cls in (NeuralNetBinaryClassifier, NeuralNet):
        for name, p in inspect.signature(cls.__init__).parameters.items():
            if name == "self" or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                continue
            if name not in out:
                default = defaults.get(name, p.default)
                out[name] = inspect.Parameter(name, p.KEYWORD_ONLY, default=default)
    return list(out.values())


class SklearnFaceMixin:
    """scikit-learn's repr, parameters, errors and fitted-state checks."""

    def __repr__(self) -> str:
        return BaseEstimator.__repr__(self)

    @classmethod
    def _declared_parameters(cls) -> set[str]:
        """Named parameters of every ``__init__`` in the class hierarchy (a
        user's subclass or mixin, e.g. skorch's AccelerateMixin, adds its
        own to the library class's)."""
        names: set[str] = set()
        for klass in cls.__mro__:
            init = klass.__dict__.get("__init__")
            if init is None or klass is object:
                continue
            for name, p in inspect.signature(init).parameters.items():
                if name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
                    names.add(name)
        return names

    def _get_param_names(self):
        # skorch: every attribute not ending in "_"; private ones are state.
        return (
            key
            for key in super()._get_param_names()  # type: ignore[misc]
            if not key.startswith("_")
        )

    def _get_params_callbacks(self, deep: bool = True) -> dict[str, Any]:
        """Callback parameters, the user's also before fit (for set_params
        and GridSearchCV: ``callbacks__prune__dnn``)."""
        params = super()._get_params_callbacks(deep=deep)  # type: ignore[misc]
        callbacks = self.callbacks
        if not deep or getattr(self, "callbacks_", None):
            return params
        if not isinstance(callbacks, (list, tuple)):
            return params  # checked (and refused) at fit
        for item in callbacks:
            if not (isinstance(item, tuple) and len(item) == 2):
                continue
            name, cb = item
            params.setdefault(f"callbacks__{name}", cb)
            if cb is None or not hasattr(cb, "get_params"):
                continue
            for key, value in cb.get_params().items():
                params.setdefault(f"callbacks__{name}__{key}", value)
        return params

    def _check_unknown_parameters(self) -> None:
        """Parameters that are neither declared nor routed (``module__x``)."""
        declared = set(self._declared_parameters())
        unknown = [
            key
            for key in self.get_params(deep=False)
            if key not in declared and "__" not in key
        ]
        if not unknown:
            return
        key = sorted(unknown)[0]
        name = type(self).__name__
        hint = _HINTS.get(key)
        if hint is None:
            close = difflib.get_close_matches(key, sorted(declared), n=1)
            hint = f"did you mean {close[0]!r}?" if close else None
        msg = f"{name} got an unknown parameter {key!r}"
        msg += f" ({hint})." if hint else "."
        raise ValueError(
            f"{msg} Valid parameters: {', '.join(sorted(declared))}, and the "
            "routed forms module__*, optimizer__*, iterator_train__*, "
            "iterator_valid__*, callbacks__*."
        )

    def _check_device_param(self) -> None:
        device = self.device
        if device is None:
            return
        import torch

        try:
            dev = torch.device(device)
        except (RuntimeError, TypeError) as exc:
            raise ValueError(
                f"device must be a torch device such as 'cpu' or 'cuda', got "
                f"{device!r} ({exc})."
            ) from None
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(
                f"device={device!r}, but torch has no CUDA device here "
                f"(torch {torch.__version__}); use device='cpu'."
            )
        if dev.type == "mps" and not torch.backends.mps.is_available():
            raise ValueError(f"device={device!r}, but MPS is not available here.")

    @property
    def history_(self):
        """Per-epoch metrics of the last fit (skorch ``History``).

        Raises ``NotFittedError`` before the first fit.
        """
        history = self.__dict__.get("_history_")
        if history is None:
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet: history_ "
                "is set by fit."
            )
        return history

    @history_.setter
    def history_(self, value) -> None:
        self.__dict__["_history_"] = value

    def initialize_history(self):
        """Start an empty history (skorch's, without reading ``history_``
        before it exists).

        Returns
        -------
        self : estimator
            The estimator, with an empty ``history_``.
        """
        from skorch.history import History

        history = self.__dict__.get("_history_")
        if history is None:
            self.history_ = History()
        else:
            history.clear()
        return self
