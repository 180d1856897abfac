"""Early stopping and learning-rate decay that agree with pruning.

:class:`DeepLightPruning` records ``pruned_to_target`` in each epoch of the
history. The estimators' ``patience`` and ``lr_patience`` use the two
callbacks below, which ignore epochs where it is False (the warm-up and the
ramp of the pruning schedule): a model whose validation score falls while it
is being pruned is neither stopped nor has its learning rate decayed, and the
restored best epoch is one at full sparsity. Without a pruning callback every
epoch counts and they behave as skorch's own.
"""

from __future__ import annotations

from skorch.callbacks import EarlyStopping, LRScheduler

__all__: list[str] = []

_RESTORED_KEYS = ("valid_loss", "valid_auc", "valid_logloss")


def _counts(net) -> bool:
    """Whether the last epoch is one at which early stopping/LR decay act."""
    return bool(net.history[-1].get("pruned_to_target", True))


class TargetAwareEarlyStopping(EarlyStopping):
    """skorch's ``EarlyStopping`` over the epochs at full pruning targets.

    Epochs with ``pruned_to_target=False`` neither count towards the patience
    nor can be the best epoch; the first epoch at the targets starts afresh.
    After a restore, the history's last record describes the returned model:
    ``returned_epoch`` names the restored epoch, its validation scores and
    ``sparsity_*`` replace the last epoch's, which are kept as ``last_<key>``.
    """

    def on_train_begin(self, net, **kwargs):
        super().on_train_begin(net, **kwargs)
        self.counting_ = False

    def on_epoch_end(self, net, **kwargs):
        if not _counts(net):
            return
        if not self.counting_:
            # the first epoch at full sparsity: earlier (denser) scores do
            # not compete with the pruned model's
            self.counting_ = True
            self.misses_ = 0
            self.dynamic_threshold_ = float("inf" if self.lower_is_better else "-inf")
            self.best_model_weights_ = None
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
