"""DeepLight structural pruning (paper Alg. 1) as a skorch callback.

:class:`DeepLightPruning` prunes, while a model trains, the components the
DeepLight paper prunes: the hidden-layer weights of the DNN, the field-pair
matrix R of the FwFM part, the second-order embedding table, and (Table 6) the
filters of xDeepFM's CIN. It follows the authors' code (WayneDW/sDeepFwFM,
``DeepFMs.fit``) step for step, with the deviations listed in the class
docstring. :func:`sparsity_report` and :func:`field_pair_matrix` read a pruned
module; the estimators expose them as ``sparsity_report()`` and
``field_pair_importance()``.

Which parameters form each component is fixed by the parameter names of
:mod:`sklearn_deeplight._modules`:

================  ==========================================  ===============
component         parameters                                  threshold
================  ==========================================  ===============
``embeddings``    ``embedding.weight`` (numeric fields' rows  one, global
                  included)
``dnn``           ``dnn.layers.<i>.weight``                   one per layer
``field_pairs``   ``field_pairs`` (R's n(n-1)/2 pairs)        one
``cin``           ``cin.layers.<i>.weight``                   one per layer
================  ==========================================  ===============

Never pruned: biases, BatchNorm parameters, the output layers ``dnn.out`` and
``cin.out``, the first-order terms ``linear`` / ``field_linear``, the global
``bias``.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Iterable

import numpy as np
import torch
from skorch.callbacks import Callback, EarlyStopping
from torch import nn

__all__ = [
    "COMPONENTS",
    "DeepLightPruning",
    "component_parameters",
    "field_pair_matrix",
    "pruning_schedule",
    "sparsity_report",
]

#: The prunable components, in report order.
COMPONENTS = ("embeddings", "dnn", "field_pairs", "cin")

# Components whose parameters share one magnitude threshold; the others get one
# threshold per parameter tensor (per layer).
_GLOBAL_THRESHOLD = {
    "embeddings": True,
    "dnn": False,
    "field_pairs": True,
    "cin": False,
}

# A 99% share of the target is what damping_steps="auto" reaches at the end of
# the ramp (1 - D^(T/U) = 0.99).
_AUTO_REACH = 0.99


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


def component_parameters(
    module: nn.Module,
) -> dict[str, list[tuple[str, nn.Parameter]]]:
    """The prunable parameters of ``module``, grouped by component.

    Parameters
    ----------
    module : torch.nn.Module
        A module following the parameter names of
        :mod:`sklearn_deeplight._modules`.

    Returns
    -------
    groups : dict
        ``{component: [(parameter name, parameter), ...]}`` for the
        components the module has, in the order of :data:`COMPONENTS`.
    """
    groups: dict[str, list[tuple[str, nn.Parameter]]] = {}
    emb = getattr(module, "embedding", None)
    if isinstance(emb, nn.Embedding):
        groups["embeddings"] = [("embedding.weight", emb.weight)]
    for comp, attr in (("dnn", "dnn"), ("field_pairs", None), ("cin", "cin")):
        if attr is None:
            fp = getattr(module, "field_pairs", None)
            if isinstance(fp, nn.Parameter):
                groups["field_pairs"] = [("field_pairs", fp)]
            continue
        sub = getattr(module, attr, None)
        layers = getattr(sub, "layers", None)
        if isinstance(layers, Iterable) and not isinstance(layers, torch.Tensor):
            params = [
                (f"{attr}.layers.{i}.weight", layer.weight)
                for i, layer in enumerate(layers)
                if isinstance(getattr(layer, "weight", None), nn.Parameter)
            ]
            if params:
                groups[comp] = params
    return {c: groups[c] for c in COMPONENTS if c in groups}


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


class DeepLightPruning(Callback):
    """Gradual magnitude pruning of a CTR model while it trains (DeepLight).

    A skorch callback implementing the DeepLight paper's Alg. 1 as the
    authors' code runs it. After ``warm_up_epochs`` dense epochs, every
    ``prune_every`` training iterations and at the last batch of every epoch,
    each component ``X`` with a target ``S_X > 0`` has its bottom
    ``s_t = S_X (1 - damping ** (t / damping_steps))`` share of weights (by
    magnitude) set to zero, ``t`` counting training iterations since the
    warm-up (see :func:`pruning_schedule`). When training ends (also when
    early stopping interrupts it) a final prune at the full targets makes the
    fitted model meet every target exactly.

    Use it as ``callbacks=[("prune", DeepLightPruning(...))]``; the targets
    are then grid-searchable as ``callbacks__prune__dnn`` etc. All state is
    created in :meth:`initialize`, so the callback is clone-safe.

    Parameters
    ----------
    dnn : float, default=0.0
        Target sparsity of the DNN's hidden-layer weights, applied to each
        layer with its own threshold (``dnn.layers.<i>.weight``). Biases,
        BatchNorm parameters and the output layer ``dnn.out`` are kept, as in
        the paper ("D-90%"). DeepFM, NFM, xDeepFM and DeepFwFM.
    field_pairs : float, default=0.0
        Target sparsity of the field-pair matrix R, over its
        ``n_fields * (n_fields - 1) / 2`` off-diagonal pairs ("R-90%").
        Pruning a pair zeroes both ``R[i, j]`` and ``R[j, i]``. FwFM and
        DeepFwFM.
    embeddings : float, default=0.0
        Target sparsity of the second-order embedding table
        ``embedding.weight``, with one global threshold across all fields'
        rows, numeric fields' included ("F-40%"). Every model but LR.
    cin : float, default=0.0
        Target sparsity of each CIN layer's filter matrix
        (``cin.layers.<i>.weight``, one threshold per layer; ``cin.out``
        kept) ("C-99%" of the paper's Table 6). xDeepFM.
    warm_up_epochs : int, default=2
        Dense epochs before pruning starts (the paper's published run: 2 of
        10). Counted from the callback's initialisation, i.e. across
        ``partial_fit`` calls.
    prune_every : int, default=10
        Prune every this many training iterations of an epoch (and at its
        last batch), as the authors' code.
    damping : float, default=0.99
        Damping ratio ``D`` of the schedule.
    damping_steps : float or "auto", default=100
        Damping period ``U`` of the schedule, in iterations. The paper's 100
        suits Criteo (20,000 iterations per epoch at batch 2,048); on a
        dataset of a few thousand iterations in all, the schedule never
        approaches the targets and the final prune would then do almost all
        of the pruning at once, without fine-tuning. ``"auto"`` scales U to
        the run: with ``T = (max_epochs - warm_up_epochs) * batches per
        epoch`` pruning iterations (batches per epoch read at the first
        pruning epoch, ``max_epochs`` the net's), U is set so that the rate
        reaches 99% of each target after ``ramp_fraction * T`` iterations,
        i.e. ``U = ramp_fraction * T * ln(D) / ln(0.01)``. The value used is
        ``damping_steps_``.
    ramp_fraction : float, default=0.5
        With ``damping_steps="auto"``, the share of the pruning iterations
        after which the rate reaches 99% of the targets; the rest fine-tunes
        the near-final structure (the paper's Criteo run reaches 99% after
        29% of its 8 pruning epochs). Ignored otherwise.
    regrow : bool, default=True
        True, the authors' scheme: pruned weights are only set to zero, so
        the optimizer (Adam's momentum) can make them grow back until the
        next prune, which re-selects the bottom ``s_t`` of all weights
        ("mistakenly pruned weights... become active again", paper §4.2).
        False: persistent masks; pruned entries get zero gradients (in
        ``on_grad_computed``), their optimizer state (Adam's moments) is
        zeroed when they are pruned, they are re-zeroed after every step,
        and a later prune keeps every earlier pruned entry pruned.

    Attributes
    ----------
    iteration_ : int
        Training iterations since the warm-up (``t`` of the schedule).
    epoch_ : int
        Epochs begun since :meth:`initialize`.
    damping_steps_ : float or None
        The damping period in use (None until pruning starts with "auto").
    rates_ : dict
        The sparsity rate last applied per component.
    masks_ : dict
        With ``regrow=False``: ``{parameter name: bool tensor}``, True where
        the weight is kept.

    Notes
    -----
    **Exactness.** Each threshold zeroes exactly ``round(s * numel)``
    entries (round half up) of its tensor, or of the concatenated tensors for
    a global threshold: the bottom entries by magnitude from
    ``torch.kthvalue``, ties at the threshold broken by index order. Pruning
    is deterministic. Weights that are exactly zero without being pruned
    count as nonzero for selection but as zero in reports.

    **History.** Every epoch, after its last training batch (and that
    batch's prune), the achieved sparsity of each targeted component is
    recorded as ``sparsity_<component>`` (e.g. ``sparsity_dnn``), also in
    the epoch at which early stopping stops. The final prune at the end of
    training comes after the last record: read its result from the
    estimator's ``sparsity_report()``.

    **Warm-up.** A run whose epochs all fall in the warm-up
    (``warm_up_epochs >= max_epochs``) is pruned once, at the end, without
    fine-tuning; a ``UserWarning`` says so.

    **Early stopping.** skorch runs default callbacks (the estimators'
    ``patience`` creates ``early_stopping`` with ``load_best=True``) before
    user callbacks, so a restored best epoch is pruned to the full targets
    afterwards. If that best epoch is early in the ramp, the final prune is
    mostly one-shot; give pruning runs a generous patience. An
    ``EarlyStopping(load_best=True)`` listed *after* this callback would
    restore unpruned weights and is refused with a ValueError.

    **Deviations from the authors' code.** (1) R's rate is measured over its
    off-diagonal pairs; the authors threshold all n^2 entries of
    ``(W + W^T) / 2`` including the (near zero) diagonal, so their "R-90%"
    keeps about 20% of the pairs. (2) The authors' name match ``"linear"``
    also prunes the first-order field vectors V (``fwfm_linear``); here
    first-order terms are never pruned (they are n_fields * k values and
    prune nothing that matters for latency or memory). (3) Exact k-th value
    selection instead of a bisection to 1e-4, and the final prune at the end
    of training (the authors' last prune is at the last batch of each epoch,
    skipped when the batch size divides the sample count). (4) The optional
    persistent masks (``regrow=False``).

    See Also
    --------
    pruning_schedule : The sparsity rate after ``t`` iterations.
    DeepFwFMClassifier.sparsity_report : The sparsity each component reached.
    DeepFwFMClassifier.to_sparse : The fast predictor that turns sparsity into
        speed.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_deeplight import DeepFwFMClassifier
    >>> from sklearn_deeplight import DeepLightPruning
    >>> rng = np.random.RandomState(0)
    >>> X = rng.randint(0, 10, size=(300, 5))
    >>> y = (X[:, 0] + X[:, 1] > 9).astype(int)
    >>> prune = DeepLightPruning(dnn=0.9, field_pairs=0.5, embeddings=0.4,
    ...                          warm_up_epochs=1, damping_steps="auto")
    >>> clf = DeepFwFMClassifier(
    ...     embedding_dim=4, hidden_units=(16, 16), batch_size=32, max_epochs=3,
    ...     validation_fraction=None, random_state=0,
    ...     callbacks=[("prune", prune)],
    ... ).fit(X, y)
    >>> clf.sparsity_report()  # doctest: +NORMALIZE_WHITESPACE
                 total  nonzero  sparsity  bytes
    component
    embeddings     220      132  0.400000    528
    dnn            576       58  0.899306    232
    field_pairs     10        5  0.500000     20
    >>> "sparsity_dnn" in clf.history[-1]
    True
    """

    def __init__(
        self,
        dnn: float = 0.0,
        field_pairs: float = 0.0,
        embeddings: float = 0.0,
        cin: float = 0.0,
        *,
        warm_up_epochs: int = 2,
        prune_every: int = 10,
        damping: float = 0.99,
        damping_steps: float | str = 100,
        ramp_fraction: float = 0.5,
        regrow: bool = True,
    ):
        self.dnn = dnn
        self.field_pairs = field_pairs
        self.embeddings = embeddings
        self.cin = cin
        self.warm_up_epochs = warm_up_epochs
        self.prune_every = prune_every
        self.damping = damping
        self.damping_steps = damping_steps
        self.ramp_fraction = ramp_fraction
        self.regrow = regrow

    # ------------------------------------------------------------------
    # Parameters and state
    # ------------------------------------------------------------------
    def targets(self) -> dict[str, float]:
        """The target sparsity of each component, in report order.

        Returns
        -------
        targets : dict of str to float
            Component name (``"dnn"``, ``"field_pairs"``, ``"embeddings"``,
            ``"cin"``) to its target sparsity.
        """
        return {c: getattr(self, c) for c in COMPONENTS}

    def _check_params(self) -> None:
        for comp in COMPONENTS:
            _check_fraction(comp, getattr(self, comp), low_open=False, high_open=False)
        _check_int("warm_up_epochs", self.warm_up_epochs, 0)
        _check_int("prune_every", self.prune_every, 1)
        _check_fraction("damping", self.damping, low_open=True, high_open=True)
        if not (isinstance(self.damping_steps, str) and self.damping_steps == "auto"):
            if isinstance(self.damping_steps, str):
                raise ValueError(
                    "damping_steps must be a positive number or 'auto', got "
                    f"{self.damping_steps!r}."
                )
            _check_positive("damping_steps", self.damping_steps)
        _check_fraction(
            "ramp_fraction", self.ramp_fraction, low_open=True, high_open=False
        )
        if not isinstance(self.regrow, (bool, np.bool_)):
            raise ValueError(f"regrow must be a bool, got {self.regrow!r}.")

    def initialize(self):
        """Validate the parameters and reset the pruning state."""
        self._check_params()
        self.iteration_ = 0
        self.epoch_ = 0
        self.batch_in_epoch_ = 0
        self.batches_per_epoch_ = None
        self.damping_steps_ = (
            None if self.damping_steps == "auto" else float(self.damping_steps)
        )
        self.rates_ = {}
        self.masks_ = {}
        self.groups_ = None
        return self

    def _resolve(self, net) -> dict[str, list[tuple[str, nn.Parameter]]]:
        """Targeted components of ``net``'s module; ValueError for missing ones."""
        module = net.module_
        groups = component_parameters(module)
        name = type(net).__name__
        for comp, target in self.targets().items():
            if target > 0 and comp not in groups:
                has = ", ".join(groups) or "none"
                raise ValueError(
                    f"DeepLightPruning({comp}={target}): {name} (module "
                    f"{type(module).__name__}) has no {comp!r} component to "
                    f"prune; its prunable components are: {has}."
                )
        return {c: p for c, p in groups.items() if getattr(self, c) > 0}

    # ------------------------------------------------------------------
    # Pruning
    # ------------------------------------------------------------------
    @torch.no_grad()
    def _prune_component(self, net, comp: str, rate: float) -> None:
        params = self.groups_[comp]
        tensor_groups = [params] if _GLOBAL_THRESHOLD[comp] else [[p] for p in params]
        for group in tensor_groups:
            scores = []
            for name, p in group:
                score = p.detach().abs().flatten()
                if not self.regrow and name in self.masks_:
                    # Persistent masks: earlier pruned entries are selected first.
                    score = torch.where(
                        self.masks_[name].flatten(), score, score.new_full((), -1.0)
                    )
                scores.append(score)
            flat = scores[0] if len(scores) == 1 else torch.cat(scores)
            prune = _bottom_k(flat, _n_to_prune(rate, flat.numel()))
            start = 0
            for name, p in group:
                n = p.numel()
                pmask = prune[start : start + n].view_as(p)
                start += n
                p.masked_fill_(pmask, 0.0)
                if not self.regrow:
                    self.masks_[name] = ~pmask
                    self._zero_optimizer_state(net, p, pmask)
        self.rates_[comp] = rate

    @staticmethod
    def _zero_optimizer_state(net, param, pmask) -> None:
        for opt_name in getattr(net, "_optimizers", ["optimizer"]):
            opt = getattr(net, opt_name + "_", None)
            state = getattr(opt, "state", {}).get(param) if opt is not None else None
            for value in (state or {}).values():
                if isinstance(value, torch.Tensor) and value.shape == param.shape:
                    value.masked_fill_(pmask, 0)

    def _prune(self, net, final: bool) -> None:
        for comp in self.groups_:
            target = getattr(self, comp)
            if final:
                rate = float(target)
            else:
                rate = pruning_schedule(
                    self.iteration_, target, self.damping, self.damping_steps_
                )
            self._prune_component(net, comp, rate)

    def _pruning(self) -> bool:
        return self.epoch_ > self.warm_up_epochs

    def _set_auto_damping_steps(self, net) -> None:
        if self.batches_per_epoch_ is None:
            raise ValueError(
                "damping_steps='auto' needs the number of batches per epoch, "
                "but the training iterator has no len(); pass a number."
            )
        epochs = max(1, int(net.max_epochs) - int(self.warm_up_epochs))
        total = epochs * self.batches_per_epoch_
        ramp = self.ramp_fraction * total
        self.damping_steps_ = ramp * math.log(self.damping) / math.log(1 - _AUTO_REACH)

    # ------------------------------------------------------------------
    # skorch hooks
    # ------------------------------------------------------------------
    def on_train_begin(self, net, X=None, y=None, **kwargs):
        self.groups_ = self._resolve(net)
        names = [name for name, _ in net.callbacks_]
        mine = next((i for i, (_, cb) in enumerate(net.callbacks_) if cb is self), None)
        if mine is not None:
            for name, cb in net.callbacks_[mine + 1 :]:
                if isinstance(cb, EarlyStopping) and cb.load_best:
                    raise ValueError(
                        f"Callback {name!r} (EarlyStopping with load_best=True) "
                        f"runs after the pruning callback {names[mine]!r} and "
                        "would restore unpruned weights after the final prune: "
                        "list it before the pruning callback."
                    )
        if self.groups_ and self.epoch_ + net.max_epochs <= self.warm_up_epochs:
            warnings.warn(
                f"warm_up_epochs={self.warm_up_epochs} leaves no pruning epoch in "
                f"this run of max_epochs={net.max_epochs}: the model is pruned "
                "once, at the end of training, without fine-tuning.",
                UserWarning,
                stacklevel=2,
            )

    def on_epoch_begin(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        self.epoch_ += 1
        self.batch_in_epoch_ = 0
        try:
            self.batches_per_epoch_ = len(
                net.get_iterator(dataset_train, training=True)
            )
        except TypeError:
            self.batches_per_epoch_ = None
        if self._pruning() and self.damping_steps_ is None and self.groups_:
            self._set_auto_damping_steps(net)

    def on_grad_computed(
        self, net, named_parameters, X=None, y=None, training=None, **kwargs
    ):
        if self.regrow or not self.masks_:
            return
        for comp in self.groups_ or {}:
            for name, p in self.groups_[comp]:
                mask = self.masks_.get(name)
                if mask is not None and p.grad is not None and not p.grad.is_sparse:
                    p.grad.mul_(mask)

    def on_batch_end(self, net, batch=None, training=None, **kwargs):
        if not training or not self.groups_:
            return
        if not self.regrow and self.masks_:
            with torch.no_grad():
                for comp in self.groups_:
                    for name, p in self.groups_[comp]:
                        if name in self.masks_:
                            p.mul_(self.masks_[name])
        self.batch_in_epoch_ += 1
        i = self.batch_in_epoch_
        last = i == self.batches_per_epoch_
        if self._pruning():
            self.iteration_ += 1
            if i % self.prune_every == 0 or last:
                self._prune(net, final=False)
        if last:
            # Recorded here rather than in on_epoch_end, which early stopping
            # (a default callback, so notified first) can interrupt.
            self._record(net)

    def _record(self, net) -> None:
        for comp, params in self.groups_.items():
            total = sum(p.numel() for _, p in params)
            zeros = sum(int((p == 0).sum()) for _, p in params)
            net.history.record(f"sparsity_{comp}", zeros / total if total else 0.0)

    def on_epoch_end(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        if not self.groups_ or self.batches_per_epoch_ is not None:
            return
        # The training iterator has no len(): prune and record after the epoch.
        if self._pruning():
            self._prune(net, final=False)
        self._record(net)

    def on_train_end(self, net, X=None, y=None, **kwargs):
        if self.groups_:
            self._prune(net, final=True)
        # Drop the references to the module's parameters (pickle size); the
        # next training run resolves them again.
        self.groups_ = None


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
