"""DeepLight structural pruning (paper Alg. 1) as a skorch callback.

:class:`DeepLightPruning` prunes, while a model trains, the components the
DeepLight paper prunes: the hidden-layer weights of the DNN, the field-pair
matrix R of the FwFM part, the second-order embedding table, and (Table 6) the
filters of xDeepFM's CIN. It follows the authors' code (WayneDW/sDeepFwFM,
``DeepFMs.fit``) step for step, with the deviations listed in the class
docstring. The schedule it follows (:func:`pruning_schedule`,
:func:`reach_iteration`, :func:`auto_damping_steps`) is pure arithmetic, in
:mod:`sklearn_deeplight._schedule`, re-exported here. The components a module
declares and the exact magnitude selection of a threshold are in
:mod:`sklearn_deeplight._masks`, with :func:`sparsity_report` and
:func:`field_pair_matrix` that read a pruned module (re-exported here too);
the estimators expose them as ``sparsity_report()`` and
``field_pair_importance()``.

Which parameters form each component, and whether it gets one threshold or
one per layer, is what the module declares (``module.prunable_parts()``, see
:mod:`sklearn_deeplight._modules`); for the seven models:

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

import inspect
import math
import warnings

import numpy as np
import torch
from skorch.callbacks import Callback, EarlyStopping
from torch import nn

from ._masks import (
    COMPONENTS,
    _bottom_k,
    _n_to_prune,
    _parts,
    component_parameters,
    field_pair_matrix,
    sparsity_report,
)
from ._registry import COMPONENTS as _TARGETS
from ._registry import components_doc
from ._schedule import (
    _MIN_RAMP_STEPS,
    PAPER_PRUNING_EPOCHS,
    PAPER_RAMP_FRACTION,
    _check_fraction,
    _check_int,
    _check_positive,
    auto_damping_steps,
    pruning_schedule,
    reach_iteration,
)

__all__ = [
    "COMPONENTS",
    "PAPER_RAMP_FRACTION",
    "DeepLightPruning",
    "auto_damping_steps",
    "component_parameters",
    "field_pair_matrix",
    "pruning_schedule",
    "reach_iteration",
    "sparsity_report",
]

# A prune that raises a component's rate by more than this share of its
# weights at once, with no schedule step before it, is a one-shot prune.
_ONE_SHOT = 0.05

# Training batches of the BatchNorm recomputation at the end of each pruning
# epoch (the final one after training uses them all).
_BN_BATCHES = 100


class DeepLightPruning(Callback):
    """Gradual magnitude pruning of a CTR model while it trains (DeepLight).

    A skorch callback implementing the DeepLight paper's Alg. 1 as the
    authors' code runs it. After ``warm_up_epochs`` dense epochs, every
    ``prune_every`` training iterations and at the last batch of every epoch,
    each component ``X`` with a target ``S_X > 0`` has its bottom
    ``s_t = S_X (1 - damping ** (t / damping_steps))`` share of weights (by
    magnitude) set to zero, ``t`` counting training iterations since the
    warm-up (see :func:`pruning_schedule`). Once ``s_t`` reaches 99% of the
    target (the end of the ramp, :func:`reach_iteration`), every prune is at
    the full target, and the rest of the run fine-tunes the final structure.

    By default (``damping_steps="auto"``) the ramp is scaled to the run, so
    that it ends after 28.5% of the pruning iterations at every data size, as
    in the paper's Criteo run; ``damping_steps=100`` gives the paper's
    constant (made for ~20,000 iterations per epoch). Each epoch records
    ``pruned_to_target`` in the history; the estimators' early stopping
    (``patience``) and learning-rate decay (``lr_patience``) only consider
    epochs at the full targets, so ``fit`` returns the best model *at full
    sparsity*. When training ends (also when early stopping interrupts it) a
    final prune at the full targets is a safety net; if it has to remove more
    than 5% of a component at once (a one-shot prune, with no fine-tuning
    after it), a ``UserWarning`` names the component.

    Use it as ``callbacks=[("prune", DeepLightPruning(...))]``; the targets
    are then grid-searchable as ``callbacks__prune__dnn`` etc. All state is
    created in :meth:`initialize`, so the callback is clone-safe.

    Parameters
    ----------
    {components}
    warm_up_epochs : int, default=1
        Dense epochs before pruning starts, counted from the callback's
        initialisation, i.e. across ``partial_fit`` calls. The paper's
        published run used 2 of 10 (an epoch there is ~20,000 iterations);
        below that scale a second dense epoch lets the model start to overfit
        before the ramp, which then ends on a worse model
        (``benchmarks/pruning_recovery.py``).
    prune_every : int, default=10
        Prune every this many training iterations of an epoch (and at its
        last batch), as the authors' code. A ramp shorter than
        ``10 * prune_every`` iterations is pruned more often, so that it
        still takes at least 10 steps.
    damping : float, default=0.99
        Damping ratio ``D`` of the schedule.
    damping_steps : float or "auto", default="auto"
        Damping period ``U`` of the schedule, in iterations. ``"auto"``
        scales U to the run: with ``T = min(max_epochs - warm_up_epochs, 8)
        * batches per epoch`` pruning iterations (batches per epoch read at
        the first pruning epoch, ``max_epochs`` the net's; at most the
        paper's 8 pruning epochs, so that a generous ``max_epochs`` with
        early stopping does not push the ramp's end past the point where the
        model starts to overfit), the ramp ends after
        ``ramp_fraction * T`` iterations, i.e. ``U = ramp_fraction * T *
        ln(D) / ln(0.01)`` (:func:`auto_damping_steps`); the value used is
        ``damping_steps_``. A number fixes U: the paper's 100 suits Criteo
        (20,000 iterations per epoch at batch 2,048), but on a dataset of a
        few thousand iterations in all it never approaches the targets, and
        the final prune then does almost all of the pruning at once (a
        ``UserWarning`` says so).
    ramp_fraction : float, default=0.285
        With ``damping_steps="auto"``, the share of the pruning iterations
        after which the rate reaches 99% of the targets (then the full
        targets); the rest fine-tunes the final structure. 0.285 is where the
        paper's Criteo run reaches it (45,821 of its 8 x 20,100 pruning
        iterations), so ``"auto"`` gives back the paper's U = 100 there.
        Ignored otherwise.
    regrow : bool or "ramp", default=True
        True, the authors' scheme: pruned weights are only set to zero, so
        the optimizer (Adam's momentum) can make them grow back until the
        next prune, which re-selects the bottom ``s_t`` of all weights
        ("mistakenly pruned weights... become active again", paper §4.2);
        the structure keeps adapting through the fine-tuning. ``"ramp"``:
        regrowth during the ramp, persistent masks from its end on, so that
        the fine-tuning trains exactly the network it returns (an option for
        BatchNorm in the DNN, where regrowth trains a denser network than the
        one evaluated). False: persistent masks from the first prune; pruned
        entries get zero gradients (in ``on_grad_computed``), their optimizer
        state (Adam's moments) is zeroed when they are pruned, they are
        re-zeroed after every step, and a later prune keeps every earlier
        pruned entry pruned. ``benchmarks/pruning_recovery.py`` and
        ``benchmarks/pruning_sweep.py --regrow`` measure the three.

    Attributes
    ----------
    iteration_ : int
        Training iterations since the warm-up (``t`` of the schedule).
    epoch_ : int
        Epochs begun since :meth:`initialize`.
    damping_steps_ : float or None
        The damping period in use (None until pruning starts with "auto").
    reach_iteration_ : float or None
        The iteration at which the ramp ends and the full targets apply.
    prune_every_ : int or None
        The pruning interval in use (``prune_every``, or less for a short
        ramp).
    rates_ : dict
        The sparsity rate last applied per component.
    masks_ : dict
        With persistent masks (``regrow=False``, or ``"ramp"`` after the
        ramp): ``{parameter name: bool tensor}``, True where the weight is
        kept.

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
    recorded as ``sparsity_<component>`` (e.g. ``sparsity_dnn``), and
    ``pruned_to_target`` (True when every component was pruned at its full
    target), also in the epoch at which early stopping stops. Validation
    scores of that epoch are therefore those of the pruned model. If the
    final prune at the end of training changes the model, the last record's
    ``sparsity_<component>`` are updated.

    **BatchNorm.** A prune leaves eval-mode BatchNorm with the running
    statistics of the network before it (and, with regrowth, of a denser
    network), which a unit left with no or few inputs turns into noise
    amplified ~300x. At the end of each pruning epoch, before validation, the
    statistics are recomputed from up to 100 training batches, and after a
    final prune that changes the model from all of them: BatchNorm layers in
    train mode, dropout off as at prediction, no gradient steps.

    **The last epoch.** The last batch of the run's last epoch prunes at the
    full targets, so that the last recorded epoch describes the returned
    model (a UserWarning when this is a one-shot prune).

    **Warm-up.** A run whose epochs all fall in the warm-up
    (``warm_up_epochs >= max_epochs``) is pruned once, at the end, without
    fine-tuning; a ``UserWarning`` says so.

    **Early stopping.** The estimators' ``patience`` (early stopping with
    best-epoch restore) and ``lr_patience`` (``ReduceLROnPlateau``) ignore
    epochs whose ``pruned_to_target`` is False: neither counts, scores nor
    decays during the warm-up and the ramp, and both start afresh at the
    first epoch at full sparsity. The restored model is thus the best one at
    the full targets. A plain skorch ``EarlyStopping`` added by hand knows
    nothing of this: if it restores an epoch of the ramp, the final prune is
    a one-shot prune (and warns). One listed *after* this callback would
    restore unpruned weights and is refused with a ValueError.

    **Deviations from the authors' code.** (1) R's rate is measured over its
    off-diagonal pairs; the authors threshold all n^2 entries of
    ``(W + W^T) / 2`` including the (near zero) diagonal, so their "R-90%"
    keeps about 10% of the pairs (76 of the 741 pairs of Criteo's 39 fields
    at "R-90%": R's n^2 entries hold each pair twice, and its 39 diagonal
    entries are among the smallest). (2) The authors' name match ``"linear"``
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

    def __init__(self, *args, **kwargs):
        # The signature (one target per component of the model registry,
        # then the schedule's keyword-only parameters) is _SIGNATURE below.
        bound = _SIGNATURE.bind(self, *args, **kwargs)
        bound.apply_defaults()
        for name, value in bound.arguments.items():
            if name != "self":
                setattr(self, name, value)

    def __repr__(self) -> str:
        """scikit-learn's style: the parameters that differ from the defaults."""
        changed = [
            f"{name}={getattr(self, name)!r}"
            for name, p in _SIGNATURE.parameters.items()
            if name != "self" and repr(getattr(self, name)) != repr(p.default)
        ]
        return f"{type(self).__name__}({', '.join(changed)})"

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
        return {c: getattr(self, c) for c in _TARGETS}

    def _check_params(self) -> None:
        for comp in _TARGETS:
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
        if not (
            isinstance(self.regrow, (bool, np.bool_))
            or (isinstance(self.regrow, str) and self.regrow == "ramp")
        ):
            raise ValueError(
                f"regrow must be True, False or 'ramp', got {self.regrow!r}."
            )

    def initialize(self):
        """Validate the parameters and reset the pruning state."""
        self._check_params()
        self.iteration_ = 0
        self.epoch_ = 0
        self.batch_in_epoch_ = 0
        self.batches_per_epoch_ = None
        self.damping_steps_ = None
        self.reach_iteration_ = None
        self.prune_every_ = None
        self.run_end_epoch_ = None
        self.at_target_ = False
        self.per_layer_ = {}
        self.rates_ = {}
        self.masks_ = {}
        self.groups_ = None
        self._train_data_ = None
        return self

    def _resolve(self, net) -> dict[str, list[tuple[str, nn.Parameter]]]:
        """Targeted components of ``net``'s module; ValueError for missing ones."""
        module = net.module_
        parts = _parts(module)
        self.per_layer_ = {c: part.per_layer for c, part in parts.items()}
        groups = {c: list(part.params) for c, part in parts.items()}
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
        tensor_groups = [[p] for p in params] if self.per_layer_[comp] else [params]
        for group in tensor_groups:
            scores = []
            for name, p in group:
                score = p.detach().abs().flatten()
                if self._persistent() and name in self.masks_:
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
                if self._persistent():
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

    def _persistent(self) -> bool:
        """Whether pruned entries stay pruned (masks) at this point."""
        if isinstance(self.regrow, str):  # "ramp": masks once the ramp is over
            return self.at_target_
        return not self.regrow

    def _ramp_over(self) -> bool:
        return (
            self.reach_iteration_ is not None
            and self.iteration_ >= self.reach_iteration_
        )

    def _prune(self, net, final: bool) -> dict[str, float]:
        """Prune every component; returns the rate jump of each full-target snap.

        The rate follows the schedule during the ramp and is the full target
        after it; ``final`` forces the full targets (end of the run).
        """
        snap = final or self._ramp_over()
        if snap and not self.at_target_ and isinstance(self.regrow, str):
            # "ramp": this prune fixes the structure for the rest of the run
            self.at_target_ = True
        jumps = {}
        for comp in self.groups_:
            target = float(getattr(self, comp))
            if snap:
                rate = target
                jumps[comp] = target - self.rates_.get(comp, 0.0)
            else:
                rate = pruning_schedule(
                    self.iteration_, target, self.damping, self.damping_steps_
                )
            self._prune_component(net, comp, rate)
        self.at_target_ = snap
        return jumps

    def _warn_one_shot(self, jumps: dict[str, float], where: str) -> None:
        big = {c: j for c, j in jumps.items() if j > _ONE_SHOT}
        if not big:
            return
        what = ", ".join(f"{c} by {j:.0%} of its weights" for c, j in big.items())
        warnings.warn(
            f"DeepLightPruning: {where} pruned {what} at once, with no "
            "fine-tuning after it (a one-shot prune); the model may lose much of "
            "its accuracy. The schedule had not reached the targets: use "
            "damping_steps='auto' (the default), more epochs, fewer "
            "warm_up_epochs, or a larger patience.",
            UserWarning,
            stacklevel=3,
        )

    def _pruning(self) -> bool:
        return self.epoch_ > self.warm_up_epochs

    def _start_schedule(self, net) -> None:
        """Set U, the end of the ramp and the prune interval at the first
        pruning epoch."""
        epochs = max(
            1, int(self.run_end_epoch_ or net.max_epochs) - self.warm_up_epochs
        )
        # A longer run (a generous max_epochs with early stopping) keeps the
        # paper's ramp in epochs: its end must not wait for overfitting.
        epochs = min(epochs, PAPER_PRUNING_EPOCHS)
        if self.damping_steps == "auto":
            if self.batches_per_epoch_ is None:
                raise ValueError(
                    "damping_steps='auto' needs the number of batches per epoch, "
                    "but the training iterator has no len(); pass a number."
                )
            self.damping_steps_ = auto_damping_steps(
                epochs * self.batches_per_epoch_, self.ramp_fraction, self.damping
            )
        else:
            self.damping_steps_ = float(self.damping_steps)
        self.reach_iteration_ = reach_iteration(self.damping, self.damping_steps_)
        self.prune_every_ = int(
            min(
                self.prune_every,
                max(1, math.floor(self.reach_iteration_ / _MIN_RAMP_STEPS)),
            )
        )

    # ------------------------------------------------------------------
    # skorch hooks
    # ------------------------------------------------------------------
    def on_train_begin(self, net, X=None, y=None, **kwargs):
        self.groups_ = self._resolve(net)
        # epochs are counted across partial_fit calls: this run ends at
        self.run_end_epoch_ = self.epoch_ + int(net.max_epochs)
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
        self._train_data_ = dataset_train
        self.batch_in_epoch_ = 0
        try:
            self.batches_per_epoch_ = len(
                net.get_iterator(dataset_train, training=True)
            )
        except TypeError:
            self.batches_per_epoch_ = None
        if self._pruning() and self.damping_steps_ is None and self.groups_:
            self._start_schedule(net)

    def on_grad_computed(
        self, net, named_parameters, X=None, y=None, training=None, **kwargs
    ):
        if not self._persistent() or not self.masks_:
            return
        for comp in self.groups_ or {}:
            for name, p in self.groups_[comp]:
                mask = self.masks_.get(name)
                if mask is not None and p.grad is not None and not p.grad.is_sparse:
                    p.grad.mul_(mask)

    def on_batch_end(self, net, batch=None, training=None, **kwargs):
        if not training or not self.groups_:
            return
        if self._persistent() and self.masks_:
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
            last_of_run = last and self.epoch_ >= self.run_end_epoch_
            if last_of_run:
                # the last recorded epoch is the returned model: full targets
                self._warn_one_shot(
                    self._prune(net, final=True), "the last batch of the run"
                )
            elif i % self.prune_every_ == 0 or last:
                self._prune(net, final=False)
        if last:
            if self._pruning() and self._train_data_ is not None:
                # validation sees the pruned network with its own statistics
                _recalibrate_batchnorm(net, self._train_data_, _BN_BATCHES)
            # Recorded here rather than in on_epoch_end, which early stopping
            # (a default callback, so notified first) can interrupt.
            self._record(net)

    def _n_zeros(self) -> int:
        return sum(
            int(torch.count_nonzero(p.detach() == 0))
            for ps in self.groups_.values()
            for _, p in ps
        )

    def _record(self, net) -> None:
        for comp, params in self.groups_.items():
            total = sum(p.numel() for _, p in params)
            zeros = sum(int((p == 0).sum()) for _, p in params)
            net.history.record(f"sparsity_{comp}", zeros / total if total else 0.0)
        net.history.record("pruned_to_target", bool(self.at_target_))

    def on_epoch_end(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        if not self.groups_ or self.batches_per_epoch_ is not None:
            return
        # The training iterator has no len(): prune and record after the epoch.
        if self._pruning():
            self._prune(net, final=False)
        self._record(net)

    def on_train_end(self, net, X=None, y=None, **kwargs):
        if self.groups_:
            # a prune only zeroes entries: it changed the model iff it added zeros
            before = self._n_zeros()
            self._warn_one_shot(self._prune(net, final=True), "the final prune")
            if self._n_zeros() > before:
                if len(net.history):
                    self._record(net)
                if X is not None and _batchnorms(net.module_):
                    dataset_train, _ = net.get_split_datasets(X, y)
                    _recalibrate_batchnorm(net, dataset_train)
        # Drop the references to the module's parameters and the data (pickle
        # size); the next training run resolves them again.
        self.groups_ = None
        self._train_data_ = None


def _batchnorms(module: nn.Module) -> list[nn.Module]:
    return [
        m
        for m in module.modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats
    ]


@torch.no_grad()
def _recalibrate_batchnorm(net, dataset_train, max_batches: int | None = None) -> bool:
    """Recompute the BatchNorm running statistics of ``net``'s module.

    A pass over (at most ``max_batches`` batches of) ``dataset_train``
    without gradient steps, with each BatchNorm's statistics reset and
    accumulated as a cumulative average (``momentum=None``). Only the
    BatchNorm layers are in train mode; dropout is off, as at prediction, so
    the statistics are those of the activations the evaluated network sees
    (dropout's extra variance in train mode would otherwise shift them, most
    for the units a pruned layer leaves with one or two inputs). Returns
    whether the module has BatchNorm layers.
    """
    module = net.module_
    norms = _batchnorms(module)
    if not norms:
        return False
    momenta = [m.momentum for m in norms]
    was_training = module.training
    try:
        for m in norms:
            m.reset_running_stats()
            m.momentum = None
        module.eval()
        for m in norms:
            m.train()
        for i, (Xi, _) in enumerate(net.get_iterator(dataset_train, training=True)):
            if max_batches is not None and i >= max_batches:
                break
            first = next(iter(Xi.values())) if isinstance(Xi, dict) else Xi
            if len(first) > 1:  # train-mode BatchNorm needs two rows
                net.infer(Xi)
    finally:
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum
        module.train(was_training)
    return True


def _signature() -> inspect.Signature:
    """``DeepLightPruning(<one target per component>, *, <schedule>)``."""
    P = inspect.Parameter
    params = [P("self", P.POSITIONAL_OR_KEYWORD)]
    params += [P(c, P.POSITIONAL_OR_KEYWORD, default=0.0) for c in _TARGETS]
    params += [
        P(name, P.KEYWORD_ONLY, default=default)
        for name, default in (
            ("warm_up_epochs", 1),
            ("prune_every", 10),
            ("damping", 0.99),
            ("damping_steps", "auto"),
            ("ramp_fraction", PAPER_RAMP_FRACTION),
            ("regrow", True),
        )
    ]
    return inspect.Signature(params)


_SIGNATURE = _signature()
DeepLightPruning.__init__.__signature__ = _SIGNATURE
DeepLightPruning.__doc__ = DeepLightPruning.__doc__.replace(
    "    {components}", components_doc()
)
