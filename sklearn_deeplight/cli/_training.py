"""Training under the ``deeplight`` command: epoch lines, Ctrl-C, pruning.

Shared by ``demo`` and ``train``: a fit with one progress line per epoch
on stderr that turns skorch's quiet end on Ctrl-C into
``KeyboardInterrupt``, and the ``DeepLightPruning`` callback of the
command line's targets. skorch and torch are imported when used.
"""

from __future__ import annotations

import contextlib
import math
import sys
from collections.abc import Callable
from typing import Any

from .._registry import COMPONENTS
from ._helpers import _Progress


def _epoch_progress(log: Callable[[str], None]):
    """A skorch callback printing one line per epoch (built lazily: skorch)."""
    from skorch.callbacks import Callback

    class EpochProgress(Callback):
        def on_epoch_end(self, net, **kwargs):
            h = net.history[-1]
            parts = [f"epoch {h['epoch']}/{net.max_epochs}"]
            if h.get("train_loss") is not None:
                parts.append(f"train loss {h['train_loss']:.4f}")
            if h.get("valid_auc") is not None and not math.isnan(h["valid_auc"]):
                parts.append(f"valid AUC {h['valid_auc']:.4f}")
            sparsity = [
                f"{comp} {h[f'sparsity_{comp}']:.0%}"
                for comp in COMPONENTS
                if f"sparsity_{comp}" in h
            ]
            if sparsity:
                parts.append("sparsity " + " ".join(sparsity))
            if h.get("dur") is not None:
                parts.append(f"{h['dur']:.1f}s")
            log(", ".join(parts))

    return EpochProgress()


def _strip_progress(est) -> None:
    """Remove the progress callback after fit so that the model pickles."""
    callbacks = [(n, c) for n, c in (est.callbacks or []) if n != "progress"]
    est.callbacks = callbacks or None
    if hasattr(est, "callbacks_"):
        est.callbacks_ = [(n, c) for n, c in est.callbacks_ if n != "progress"]


def _fit_with_progress(est, X, y, progress: _Progress, *, fit=None):
    """Fit ``est`` with an epoch line per epoch on stderr (skorch logs too).

    ``fit``, when given, is called with ``est`` instead of ``est.fit(X, y)``
    (the on-disk path: ``fit_ondisk``).
    """
    callbacks = list(est.callbacks or [])
    if not progress.quiet:
        callbacks.append(("progress", _epoch_progress(progress.detail)))
    est.callbacks = callbacks or None
    try:
        with contextlib.redirect_stdout(sys.stderr):
            if fit is None:
                est.fit(X, y)
            else:
                fit(est)
    finally:
        _strip_progress(est)
    if _interrupted(est):
        raise KeyboardInterrupt
    return est


def _interrupted(est) -> bool:
    """Whether Ctrl-C stopped ``est.fit`` (skorch returns as if it ended).

    skorch ends training quietly on KeyboardInterrupt, which is also how its
    early stopping stops: training was interrupted when it ended before
    ``max_epochs`` complete epochs without early stopping having stopped it.
    """
    history = est.history
    complete = len(history) == est.max_epochs and "dur" in history[-1]
    if complete:
        return False
    for name, cb in getattr(est, "callbacks_", []):
        if name == "early_stopping" and cb.misses_ >= cb.patience:
            return False
    return True


def _pruning_callback(
    targets: dict[str, float], warm_up_epochs: int, max_epochs: int
) -> list[tuple[str, Any]] | None:
    """``[("prune", DeepLightPruning(...))]`` under the library's defaults, or None.

    The schedule is scaled to the run (``damping_steps="auto"``): the ramp
    ends after 28.5% of the pruning iterations (of at most 8 epochs), the
    rest fine-tunes the pruned network (see ``DeepLightPruning``); only the
    warm-up is the command's.
    """
    if not any(targets.values()):
        return None
    from .._pruning import DeepLightPruning

    prune = DeepLightPruning(**targets, warm_up_epochs=min(warm_up_epochs, max_epochs))
    return [("prune", prune)]


def _default_warm_up(epochs: int) -> int:
    """Dense epochs before pruning: the library's one (none for one epoch)."""
    return 0 if epochs <= 1 else 1
