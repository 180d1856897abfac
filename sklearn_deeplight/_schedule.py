"""The DeepLight pruning schedule (paper Alg. 1), as pure functions.

The sparsity rate ``s_t = S (1 - D^(t/U))`` after ``t`` training iterations
(:func:`pruning_schedule`), the iteration at which it reaches 99% of the
target and the ramp ends (:func:`reach_iteration`), and the damping period
``U`` that ``damping_steps="auto"`` scales to a run (:func:`auto_damping_steps`),
with the constants of the paper's published Criteo run and the checks of the
schedule's parameters. :class:`~sklearn_deeplight._pruning.DeepLightPruning`
follows this schedule; this module imports neither torch nor skorch.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = [
    "PAPER_PRUNING_EPOCHS",
    "PAPER_RAMP_FRACTION",
    "auto_damping_steps",
    "pruning_schedule",
    "reach_iteration",
]

# The share of the target at which the ramp ends (1 - D^(t/U) = 0.99): from
# there on every component is pruned to its full target.
_AUTO_REACH = 0.99

# The paper's published Criteo run: 8 pruning epochs of ~20,100 iterations
# (45M rows, batch 2,048) with D = 0.99, U = 100 reach 99% of the targets after
# U ln(0.01) / ln(D) = 45,821 iterations, 28.5% of the 160,800. The default
# ramp_fraction, so that damping_steps="auto" gives back U = 100 on that run.
PAPER_RAMP_FRACTION = 0.285
# ... and its 8 pruning epochs: "auto" scales the ramp to at most that many
# pruning epochs (at most 2.3 epochs of ramp).
PAPER_PRUNING_EPOCHS = 8

# Fewest prune steps a ramp is split into: with a short run, pruning every
# ``prune_every`` iterations would leave the ramp only one or two steps.
_MIN_RAMP_STEPS = 10


def reach_iteration(damping: float = 0.99, damping_steps: float = 100.0) -> float:
    """Iterations after which the DeepLight schedule reaches 99% of its target.

    ``t = U ln(0.01) / ln(D)``; from there :class:`DeepLightPruning` prunes to
    the full target (the end of the ramp), and the rest of the run fine-tunes
    the final structure. With the paper's constants (0.99, 100): 45,821.

    Parameters
    ----------
    damping : float, default=0.99
        Damping ratio ``D`` in (0, 1).
    damping_steps : float, default=100.0
        Damping period ``U`` in iterations (> 0).

    Returns
    -------
    t : float
        Iterations since the warm-up.

    See Also
    --------
    pruning_schedule : The sparsity rate after ``t`` iterations.

    Examples
    --------
    >>> from sklearn_deeplight import reach_iteration
    >>> round(reach_iteration(0.99, 100))
    45821
    """
    _check_fraction("damping", damping, low_open=True, high_open=True)
    _check_positive("damping_steps", damping_steps)
    return float(damping_steps) * math.log(1 - _AUTO_REACH) / math.log(damping)


def auto_damping_steps(
    pruning_iterations: float,
    ramp_fraction: float = PAPER_RAMP_FRACTION,
    damping: float = 0.99,
) -> float:
    """The damping period ``U`` that ``damping_steps="auto"`` sets for a run.

    ``U = ramp_fraction * T * ln(D) / ln(0.01)`` for ``T`` pruning
    iterations, so that the schedule reaches 99% of the targets (and then the
    full targets) after ``ramp_fraction * T`` iterations.

    Parameters
    ----------
    pruning_iterations : float
        Training iterations after the warm-up, ``T`` (> 0).
    ramp_fraction : float, default=0.285
        Share of ``T`` that the ramp takes.
    damping : float, default=0.99
        Damping ratio ``D`` in (0, 1).

    Returns
    -------
    damping_steps : float
        The damping period ``U`` in iterations.

    See Also
    --------
    DeepLightPruning : The callback that uses it.

    Examples
    --------
    The paper's Criteo run (8 pruning epochs of 20,100 iterations) gives back
    the paper's ``U = 100``; a run of 9 iterations per epoch gets a short one:

    >>> from sklearn_deeplight import auto_damping_steps
    >>> round(auto_damping_steps(8 * 20_100), 1)
    100.0
    >>> round(auto_damping_steps(9 * 8), 3)
    0.045
    """
    _check_positive("pruning_iterations", pruning_iterations)
    _check_fraction("ramp_fraction", ramp_fraction, low_open=True, high_open=False)
    _check_fraction("damping", damping, low_open=True, high_open=True)
    ramp = ramp_fraction * float(pruning_iterations)
    return ramp * math.log(damping) / math.log(1 - _AUTO_REACH)


def pruning_schedule(
    t: float | np.ndarray,
    target: float,
    damping: float = 0.99,
    damping_steps: float = 100.0,
) -> float | np.ndarray:
    """Sparsity rate of the DeepLight schedule after ``t`` iterations.

    ``s_t = target * (1 - damping ** (t / damping_steps))``: the paper's
    Alg. 1 as the authors' code computes it (the printed ``D^k / U`` is a
    typo for ``D^(k/U)``), with ``t`` the number of training iterations
    (batches) since the warm-up ended, not the number of pruning steps. With
    the paper's constants (0.99, 100) the rate is half the target after 6,897
    iterations and 90% of it after 22,910.

    Parameters
    ----------
    t : float or ndarray
        Training iterations since the warm-up (non-negative).
    target : float
        Target sparsity ``S`` in [0, 1].
    damping : float, default=0.99
        Damping ratio ``D`` in (0, 1).
    damping_steps : float, default=100.0
        Damping period ``U`` in iterations (> 0).

    Returns
    -------
    rate : float or ndarray
        The sparsity rate ``s_t``, a float for scalar ``t``.

    See Also
    --------
    DeepLightPruning : The fit-time callback that follows this schedule.

    Examples
    --------
    >>> from sklearn_deeplight import pruning_schedule
    >>> round(pruning_schedule(0, 0.9), 6)
    0.0
    >>> round(pruning_schedule(6897, 0.9), 4)
    0.45
    >>> pruning_schedule([100, 1000], 1.0).round(4)
    array([0.01  , 0.0956])
    """
    _check_fraction("target", target, low_open=False, high_open=False)
    _check_fraction("damping", damping, low_open=True, high_open=True)
    _check_positive("damping_steps", damping_steps)
    t_arr = np.asarray(t, dtype=np.float64)
    if np.any(~np.isfinite(t_arr)) or np.any(t_arr < 0):
        raise ValueError(f"t must be non-negative and finite, got {t!r}.")
    rate = target * (1.0 - np.power(float(damping), t_arr / float(damping_steps)))
    return float(rate) if rate.ndim == 0 else rate


def _check_fraction(name, value, *, low_open, high_open):
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    ok = ok and math.isfinite(value)
    if ok:
        ok = (value > 0 if low_open else value >= 0) and (
            value < 1 if high_open else value <= 1
        )
    if not ok:
        lo, hi = "(" if low_open else "[", ")" if high_open else "]"
        raise ValueError(f"{name} must be a number in {lo}0, 1{hi}, got {value!r}.")


def _check_positive(name, value):
    if (
        not isinstance(value, numbers.Real)
        or isinstance(value, bool)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ValueError(f"{name} must be a positive number, got {value!r}.")


def _check_int(name, value, minimum):
    if (
        not isinstance(value, numbers.Integral)
        or isinstance(value, bool)
        or value < minimum
    ):
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}.")
