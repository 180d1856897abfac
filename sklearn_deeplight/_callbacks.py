"""Early stopping and learning-rate decay that agree with pruning.

:class:`DeepLightPruning` records ``pruned_to_target`` in each epoch of the
history. The estimators' ``patience`` and ``lr_patience`` use the two
callbacks below, which ignore epochs where it is False (the warm-up and the
ramp of the pruning schedule): a model whose validation score falls while it
is being pruned is neither stopped nor has its learning rate decayed, and the
restored best epoch is one at full sparsity. Without a pruning callback every
epoch counts and they behave as skorch's own, but for one thing: early
stopping restarts its patience at a learning-rate decay that follows an
improvement, so that the decay gets ``patience`` epochs to act (with
``patience=2`` and ``lr_patience=1``, skorch's own would stop at the very
epoch of the first decay).
"""

from __future__ import annotations

from skorch.callbacks import EarlyStopping, LRScheduler

__all__: list[str] = []

_RESTORED_KEYS = ("valid_loss", "valid_auc", "valid_logloss")


def _lr(net) -> float | None:
    """The learning rate of the net's (first) optimizer, if it has one."""
    opt = getattr(net, "optimizer_", None)
    groups = getattr(opt, "param_groups", None)
    return float(groups[0]["lr"]) if groups else None


def _counts(net) -> bool:
    """Whether the last epoch is one at which early stopping/LR decay act."""
    return bool(net.history[-1].get("pruned_to_target", True))


class TargetAwareEarlyStopping(EarlyStopping):
    """skorch's ``EarlyStopping`` over the epochs at full pruning targets.

    Epochs with ``pruned_to_target=False`` neither count towards the patience
    nor can be the best epoch; the first epoch at the targets starts afresh.
    An epoch whose learning rate was decayed (by an LR scheduler notified
    before this callback) restarts the patience count, if the score improved
    since the previous decay (or this is the first): a decay gets
    ``patience`` epochs to act, but a plateau that decay after decay does not
    lift still stops the run.
    After a restore, the history's last record describes the returned model:
    ``returned_epoch`` names the restored epoch, its validation scores and
    ``sparsity_*`` replace the last epoch's, which are kept as ``last_<key>``.
    """

    def on_train_begin(self, net, **kwargs):
        super().on_train_begin(net, **kwargs)
        self.counting_ = False
        self.last_lr_ = _lr(net)
        self.improved_since_decay_ = True

    def on_epoch_end(self, net, **kwargs):
        lr = _lr(net)
        decayed = lr is not None and self.last_lr_ is not None and lr < self.last_lr_
        self.last_lr_ = lr
        if not _counts(net):
            return
        if decayed:
            if self.improved_since_decay_:
                # the decay gets `patience` epochs: this one does not count
                self.misses_ = -1
            self.improved_since_decay_ = False
        if not self.counting_:
            # the first epoch at full sparsity: earlier (denser) scores do
            # not compete with the pruned model's
            self.counting_ = True
            self.misses_ = 0
            self.dynamic_threshold_ = float("inf" if self.lower_is_better else "-inf")
            self.best_model_weights_ = None
        if self._is_score_improved(net.history[-1, self.monitor]):
            self.improved_since_decay_ = True
        super().on_epoch_end(net, **kwargs)

    def on_train_end(self, net, **kwargs):
        last = net.history[-1]
        restored = (
            self.load_best
            and self.best_model_weights_ is not None
            and self.best_epoch_ != last["epoch"]
        )
        super().on_train_end(net, **kwargs)
        if not restored:
            net.history.record("returned_epoch", last["epoch"])
            return
        best = next(r for r in net.history if r["epoch"] == self.best_epoch_)
        for key in [*_RESTORED_KEYS, *(k for k in best if k.startswith("sparsity_"))]:
            if key in best:
                if key in last:
                    net.history.record(f"last_{key}", last[key])
                net.history.record(key, best[key])
        net.history.record("returned_epoch", self.best_epoch_)


class TargetAwareLRScheduler(LRScheduler):
    """skorch's ``LRScheduler`` that steps only at full pruning targets.

    For ``ReduceLROnPlateau``: epochs with ``pruned_to_target=False`` do not
    step the scheduler, and the first epoch at the targets resets its state
    (best score, bad epochs), so the ramp's falling scores do not decay the
    learning rate the fine-tuning needs.
    """

    def on_train_begin(self, net, **kwargs):
        super().on_train_begin(net, **kwargs)
        self.counting_ = False

    def on_epoch_end(self, net, **kwargs):
        if not _counts(net):
            self._record_last_lr(net, kind="epoch")
            return
        if not self.counting_:
            self.counting_ = True
            reset = getattr(self.lr_scheduler_, "_reset", None)
            if callable(reset):
                reset()
        super().on_epoch_end(net, **kwargs)
