"""Tests of DeepLight pruning: schedule, callback, reports, search, pickling."""

from __future__ import annotations

import math
import warnings

import joblib
import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV
from skorch.callbacks import EarlyStopping

from sklearn_deeplight import (
    DeepFMClassifier,
    DeepFwFMClassifier,
    FMClassifier,
    FwFMClassifier,
    LRClassifier,
    NFMClassifier,
    XDeepFMClassifier,
)
from sklearn_deeplight._modules import DeepFwFMModule, FMModule
from sklearn_deeplight._pruning import (
    DeepLightPruning,
    _bottom_k,
    component_parameters,
    field_pair_matrix,
    pruning_schedule,
    sparsity_report,
)

SMALL = dict(embedding_dim=4, batch_size=64, validation_fraction=None, random_state=0)
DEEP = dict(SMALL, hidden_units=(16, 16))

# Model -> (estimator parameters, its prunable components).
MODELS = {
    FMClassifier: (SMALL, ("embeddings",)),
    FwFMClassifier: (SMALL, ("embeddings", "field_pairs")),
    DeepFMClassifier: (DEEP, ("embeddings", "dnn")),
    NFMClassifier: (DEEP, ("embeddings", "dnn")),
    XDeepFMClassifier: (
        dict(DEEP, cin_layer_sizes=(8, 6)),
        ("embeddings", "dnn", "cin"),
    ),
    DeepFwFMClassifier: (DEEP, ("embeddings", "dnn", "field_pairs")),
}
# Distinct targets, none a round share of the small tensors.
TARGETS = {"embeddings": 0.4, "dnn": 0.93, "field_pairs": 0.7, "cin": 0.85}


def make_data(n=640, n_fields=6, seed=0):
    """Field-indexed DataFrame: 5 categorical fields, 1 numeric, a signal."""
    rng = np.random.RandomState(seed)
    codes = rng.randint(0, 8, size=(n, n_fields - 1))
    num = rng.gamma(2.0, 1.0, size=n)
    logit = (codes[:, 0] % 3 == 0) * 1.5 - (codes[:, 1] > 4) + 0.3 * num - 0.8
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    X = pd.DataFrame({f"c{j}": codes[:, j] for j in range(n_fields - 1)})
    X["num"] = num  # a float column: a numeric field with one embedding row
    return X, y


@pytest.fixture(autouse=True)
def one_thread():
    """One intra-op thread: on a shared 2-core box, 2 threads contend badly."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def data():
    return make_data()


def tensor_groups(module, comp):
    """The tensors that get one threshold each: per layer or one global."""
    params = [p for _, p in component_parameters(module)[comp]]
    if comp in ("dnn", "cin"):
        return [p.detach().flatten() for p in params]
    return [torch.cat([p.detach().flatten() for p in params])]


def assert_target_met(module, comp, target):
    for t in tensor_groups(module, comp):
        zeros = int((t == 0).sum())
        assert abs(zeros - target * t.numel()) <= 1, (comp, zeros, t.numel())


# ----------------------------------------------------------------------
# The schedule
# ----------------------------------------------------------------------
def test_schedule_values():
    # s_t = S (1 - D^(t/U)); the paper's constants D = 0.99, U = 100.
    assert pruning_schedule(0, 0.9) == 0.0
    assert pruning_schedule(100, 0.9) == pytest.approx(0.9 * 0.01)
    assert pruning_schedule(6897, 0.9) == pytest.approx(0.45, abs=1e-4)
    assert pruning_schedule(22910, 0.9) == pytest.approx(0.81, abs=1e-4)
    # t is iterations, not pruning steps: 1 epoch of Criteo at batch 2048.
    assert pruning_schedule(20_100, 0.9) == pytest.approx(
        0.9 * (1 - 0.99**201), rel=1e-12
    )
    assert pruning_schedule(50, 0.5, damping=0.5, damping_steps=25) == 0.375
    t = np.arange(0, 100_000, 997)
    s = pruning_schedule(t, 0.99)
    assert isinstance(s, np.ndarray) and np.all(np.diff(s) > 0)
    assert 0.99 - 1e-4 < s[-1] < 0.99  # 0.99 * (1 - 0.99**997)
    assert pruning_schedule(10**7, 0.99) == pytest.approx(0.99)
    assert pruning_schedule(123, 0.0) == 0.0


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(t=-1), "t"),
        (dict(target=1.5), "target"),
        (dict(target=-0.1), "target"),
        (dict(damping=1.0), "damping"),
        (dict(damping=0.0), "damping"),
        (dict(damping_steps=0), "damping_steps"),
    ],
)
def test_schedule_bad_arguments(kwargs, name):
    args = dict(t=10, target=0.5, damping=0.99, damping_steps=100) | kwargs
    with pytest.raises(ValueError, match=name):
        pruning_schedule(**args)


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(
        st.sampled_from([0.0, 0.5, -0.5, 1.0, 2.0, -3.0, 0.25]), min_size=1
    ),
    share=st.floats(0, 1),
)
def test_bottom_k_exact_with_ties(values, share):
    score = torch.tensor(values).abs()
    k = round(share * len(values))
    mask = _bottom_k(score, k)
    assert int(mask.sum()) == k
    if 0 < k < len(values):
        assert score[mask].max() <= score[~mask].min()
    # deterministic: ties are taken in index order
    assert torch.equal(mask, _bottom_k(score.clone(), k))


# ----------------------------------------------------------------------
# Each model and component
# ----------------------------------------------------------------------
@pytest.mark.parametrize("cls", list(MODELS), ids=lambda c: c.__name__)
def test_targets_met_for_every_model_and_component(cls, data):
    X, y = data
    params, comps = MODELS[cls]
    targets = {c: TARGETS[c] for c in comps}
    prune = DeepLightPruning(**targets, warm_up_epochs=1, damping_steps="auto")
    est = cls(max_epochs=3, callbacks=[("prune", prune)], **params).fit(X, y)
    module = est.module_
    assert list(component_parameters(module)) == list(comps)
    for comp, target in targets.items():
        assert_target_met(module, comp, target)
        assert f"sparsity_{comp}" in est.history[-1]
    report = est.sparsity_report()
    assert list(report.index) == list(comps)
    assert list(report.columns) == ["total", "nonzero", "sparsity", "bytes"]
    for comp, target in targets.items():
        row = report.loc[comp]
        assert abs(row["sparsity"] * row["total"] - target * row["total"]) <= len(
            tensor_groups(module, comp)
        )
        assert row["bytes"] == 4 * row["nonzero"]
    # the numeric field's embedding row is part of the global threshold
    emb = component_parameters(module)["embeddings"][0][1]
    assert emb.shape[0] == est.module_.embedding.num_embeddings
    assert est.predict_proba(X).shape == (len(X), 2)


def test_only_the_targeted_components_are_pruned(data):
    X, y = data
    prune = DeepLightPruning(dnn=0.9, warm_up_epochs=0, damping_steps="auto")
    est = DeepFwFMClassifier(max_epochs=2, callbacks=[("prune", prune)], **DEEP)
    est.fit(X, y)
    report = est.sparsity_report()
    assert report.loc["dnn", "sparsity"] == pytest.approx(0.9, abs=1e-2)
    assert report.loc["embeddings", "sparsity"] == 0.0
    assert report.loc["field_pairs", "sparsity"] == 0.0
    assert list(est.history[-1]).count("sparsity_dnn") == 1
    assert "sparsity_embeddings" not in est.history[-1]


@pytest.mark.parametrize(
    "cls, comp",
    [
        (LRClassifier, "embeddings"),
        (FMClassifier, "dnn"),
        (FwFMClassifier, "cin"),
        (DeepFMClassifier, "field_pairs"),
        (NFMClassifier, "field_pairs"),
        (XDeepFMClassifier, "field_pairs"),
        (DeepFwFMClassifier, "cin"),
    ],
)
def test_missing_component_is_a_value_error(cls, comp, data):
    X, y = data
    params = {k: v for k, v in MODELS.get(cls, (SMALL, ()))[0].items()}
    if cls is LRClassifier:
        params = {k: v for k, v in SMALL.items() if k != "embedding_dim"}
    est = cls(max_epochs=1, callbacks=[("prune", DeepLightPruning(**{comp: 0.5}))])
    est.set_params(**params)
    with pytest.raises(ValueError, match=rf"{cls.__name__}.*'{comp}'"):
        est.fit(X, y)


def test_pruning_never_touches_biases_or_unpruned_parameters(data):
    X, y = data
    prune = DeepLightPruning(
        dnn=0.99, field_pairs=0.9, embeddings=0.9, warm_up_epochs=0, prune_every=1
    )
    est = DeepFwFMClassifier(max_epochs=1, callbacks=[("prune", prune)], **DEEP)
    est.fit(X, y)
    prunable = {
        name
        for group in component_parameters(est.module_).values()
        for name, _ in group
    }
    # Make every other parameter smaller than any prunable weight, freeze the
    # optimizer (lr=0) and train again: the pruning steps and the final prune
    # run, and must leave them all as they are.
    others = {}
    with torch.no_grad():
        for name, p in est.module_.named_parameters():
            if name not in prunable:
                p.fill_(1e-12)
                others[name] = p.detach().clone()
    assert {"bias", "field_linear", "dnn.layers.0.bias", "dnn.out.weight"} <= set(
        others
    )
    est.set_params(lr=0.0)
    est.partial_fit(X, y)
    assert prune.iteration_ > 10  # pruning steps did run
    for name, p in est.module_.named_parameters():
        if name in others:
            assert torch.equal(p.detach(), others[name]), name
    assert_target_met(est.module_, "dnn", 0.99)


# ----------------------------------------------------------------------
# Schedule inside training: t counts iterations, prunes every prune_every
# ----------------------------------------------------------------------
class RecordingPruning(DeepLightPruning):
    """Records, at each pruning step, t and which pruned entries regrew."""

    def initialize(self):
        super().initialize()
        self.log_ = []
        self.zero_sets_ = {}
        return self

    def _prune(self, net, final):
        regrown = 0
        for comp in self.groups_:
            for name, p in self.groups_[comp]:
                before = self.zero_sets_.get(name)
                if before is not None:
                    regrown += int((p.detach()[before] != 0).sum())
        jumps = super()._prune(net, final)
        for comp in self.groups_:
            for name, p in self.groups_[comp]:
                self.zero_sets_[name] = p.detach() == 0
        self.log_.append((self.epoch_, self.iteration_, final, regrown))
        return jumps


def test_prune_every_and_last_batch_and_iteration_count(data):
    X, y = data  # 640 rows, batch 64: 10 batches per epoch
    prune = RecordingPruning(
        dnn=0.9, warm_up_epochs=1, prune_every=3, damping_steps=7.0
    )
    est = DeepFMClassifier(max_epochs=3, callbacks=[("prune", prune)], **DEEP)
    # U = 7 is far too slow for 20 pruning iterations: the run's last batch
    # prunes at the full target in one cut, and says so
    with pytest.warns(UserWarning, match="last batch of the run pruned dnn by"):
        est.fit(X, y)
    steps = [(e, t) for e, t, final, _ in prune.log_ if not final]
    # epoch 1 is warm-up; then batches 3, 6, 9 and the last (10) of each epoch,
    # t counting iterations since the warm-up
    assert steps == [(2, 3), (2, 6), (2, 9), (2, 10), (3, 13), (3, 16), (3, 19)]
    # the run's last batch prunes at the full target, and so does the end
    assert [x[:3] for x in prune.log_[-2:]] == [(3, 20, True), (3, 20, True)]
    # each epoch's history is the rate at the epoch's last batch
    layer = est.module_.dnn.layers[1].weight
    n = layer.numel()
    hist = est.history[:, "sparsity_dnn"]
    assert hist[0] == 0.0
    rate = pruning_schedule(10, 0.9, 0.99, 7.0)
    assert rate < 0.9 * 0.9  # far from the target: the schedule acts
    assert abs(hist[1] - rate) < 1.5 / n
    assert abs(hist[2] - 0.9) < 1.5 / n
    assert est.history[:, "pruned_to_target"] == [False, False, True]


def test_damping_steps_auto_reaches_target_at_ramp_fraction(data):
    X, y = data  # 10 batches per epoch
    prune = DeepLightPruning(
        field_pairs=0.9, warm_up_epochs=1, damping_steps="auto", ramp_fraction=0.5
    )
    est = FwFMClassifier(max_epochs=5, callbacks=[("prune", prune)], **SMALL)
    est.fit(X, y)
    total = (5 - 1) * 10
    assert prune.damping_steps_ == pytest.approx(
        0.5 * total * math.log(0.99) / math.log(0.01)
    )
    hist = est.history[:, "sparsity_field_pairs"]
    m = est.module_.field_pairs.numel()
    # after half of the 40 pruning iterations: 99% of the target
    assert hist[2] >= 0.99 * 0.9 - 1 / m
    assert hist[1] < hist[2]  # and it was still ramping before
    assert hist[0] == 0.0  # warm-up


def test_paper_constants_barely_prune_small_data_and_warn_one_shot(data):
    X, y = data
    prune = DeepLightPruning(dnn=0.9, warm_up_epochs=0, damping_steps=100)
    est = DeepFMClassifier(max_epochs=2, callbacks=[("prune", prune)], **DEEP)
    with pytest.warns(UserWarning, match=r"pruned dnn by (89|90)% of its weights"):
        est.fit(X, y)
    assert est.history[0, "sparsity_dnn"] < 0.9 * 0.01  # 20 iterations only
    assert_target_met(est.module_, "dnn", 0.9)


def test_only_warm_up_epochs_warns_and_prunes_once_at_the_end(data):
    X, y = data
    prune = DeepLightPruning(dnn=0.8, embeddings=0.3, warm_up_epochs=2)
    est = DeepFMClassifier(max_epochs=2, callbacks=[("prune", prune)], **DEEP)
    with pytest.warns(UserWarning, match="warm_up_epochs=2"):
        est.fit(X, y)
    assert prune.iteration_ == 0
    # the final prune changed the model: the last record describes it
    assert est.history[:, "sparsity_dnn"] == [0.0, pytest.approx(0.8, abs=1e-3)]
    assert_target_met(est.module_, "dnn", 0.8)
    assert_target_met(est.module_, "embeddings", 0.3)


def test_regrow_true_lets_pruned_weights_regrow(data):
    X, y = data
    prune = RecordingPruning(
        dnn=0.9, embeddings=0.5, warm_up_epochs=0, prune_every=5, damping_steps=5.0
    )
    est = DeepFwFMClassifier(max_epochs=2, callbacks=[("prune", prune)], **DEEP)
    est.fit(X, y)
    assert sum(r for *_, r in prune.log_) > 0  # the authors' behaviour


def test_hard_masks_never_regrow_and_zero_adam_state(data):
    X, y = data
    prune = RecordingPruning(
        dnn=0.9,
        embeddings=0.5,
        warm_up_epochs=0,
        prune_every=5,
        damping_steps=5.0,
        regrow=False,
    )
    est = DeepFwFMClassifier(max_epochs=2, callbacks=[("prune", prune)], **DEEP)
    est.fit(X, y)
    assert len(prune.log_) > 4
    assert sum(r for *_, r in prune.log_) == 0
    for name, p in est.module_.named_parameters():
        if name in prune.masks_:
            mask = prune.masks_[name]
            assert torch.equal(p.detach() != 0, mask)
            state = est.optimizer_.state[p]
            assert torch.all(state["exp_avg"][~mask] == 0)
            assert torch.all(state["exp_avg_sq"][~mask] == 0)
    assert_target_met(est.module_, "dnn", 0.9)
    assert_target_met(est.module_, "embeddings", 0.5)


# ----------------------------------------------------------------------
# Reports
# ----------------------------------------------------------------------
def test_field_pair_importance_is_labelled_symmetric_and_exactly_sparse(data):
    X, y = data
    prune = DeepLightPruning(field_pairs=0.6, warm_up_epochs=1, damping_steps="auto")
    est = FwFMClassifier(max_epochs=3, callbacks=[("prune", prune)], **SMALL)
    R = est.fit(X, y).field_pair_importance()
    assert isinstance(R, pd.DataFrame)
    assert list(R.index) == list(X.columns) == list(R.columns)
    values = R.to_numpy()
    np.testing.assert_array_equal(values, values.T)
    np.testing.assert_array_equal(np.diag(values), 0.0)
    n = len(X.columns)
    upper = values[np.triu_indices(n, 1)]
    assert int((upper == 0).sum()) == round(0.6 * n * (n - 1) / 2)
    np.testing.assert_array_equal(
        upper, est.module_.field_pairs.detach().numpy().astype(np.float64)
    )


def test_field_pair_matrix_and_report_on_modules():
    module = DeepFwFMModule([3, 1, 4, 2], embedding_dim=3, hidden_units=(5,))
    R = field_pair_matrix(module)
    pairs = module.field_pairs.detach().numpy()
    rows, cols = torch.triu_indices(4, 4, 1)
    np.testing.assert_allclose(R[rows.numpy(), cols.numpy()], pairs, rtol=1e-7)
    np.testing.assert_array_equal(R, R.T)
    with pytest.raises(ValueError, match="field_pairs"):
        field_pair_matrix(FMModule([3, 4]))
    report = sparsity_report(module)
    assert report.loc["embeddings", "total"] == 10 * 3
    assert report.loc["dnn", "total"] == 4 * 3 * 5  # the output layer excluded
    assert report.loc["field_pairs", "total"] == 6
    assert (report["sparsity"] == 0).all()


def test_lr_has_an_empty_sparsity_report(data):
    X, y = data
    est = LRClassifier(max_epochs=1, batch_size=64, validation_fraction=None)
    report = est.fit(X, y).sparsity_report()
    assert report.empty
    assert list(report.columns) == ["total", "nonzero", "sparsity", "bytes"]


# ----------------------------------------------------------------------
# Parameters, clone safety, search, early stopping, pickling
# ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(dnn=1.2), "dnn"),
        (dict(field_pairs=-0.1), "field_pairs"),
        (dict(embeddings="0.4"), "embeddings"),
        (dict(cin=float("nan")), "cin"),
        (dict(warm_up_epochs=-1), "warm_up_epochs"),
        (dict(warm_up_epochs=1.5), "warm_up_epochs"),
        (dict(prune_every=0), "prune_every"),
        (dict(damping=1.0), "damping"),
        (dict(damping_steps=0), "damping_steps"),
        (dict(damping_steps="fast"), "damping_steps"),
        (dict(ramp_fraction=0.0), "ramp_fraction"),
        (dict(regrow="yes"), "regrow"),
    ],
)
def test_bad_parameters_are_value_errors_naming_them(kwargs, name, data):
    X, y = data
    prune = DeepLightPruning(**kwargs)
    with pytest.raises(ValueError, match=name):
        prune.initialize()
    est = FwFMClassifier(max_epochs=1, callbacks=[("prune", prune)], **SMALL)
    with pytest.raises(ValueError, match=name):
        est.fit(X, y)


def test_clone_safe_and_refit_resets_state(data):
    X, y = data
    prune = DeepLightPruning(dnn=0.8, warm_up_epochs=1, damping_steps=3.0)
    est = DeepFMClassifier(max_epochs=2, callbacks=[("prune", prune)], **DEEP)
    cloned = clone(est)
    cloned_prune = dict(cloned.callbacks)["prune"]
    assert cloned_prune is not prune
    assert cloned_prune.get_params() == prune.get_params()
    est.fit(X, y)
    first = (prune.iteration_, est.predict_proba(X))
    assert first[0] == 10
    assert not hasattr(cloned_prune, "iteration_")  # untouched by est's fit
    est.fit(X, y)  # the state restarts: same count, same (deterministic) model
    assert prune.iteration_ == first[0]
    np.testing.assert_array_equal(est.predict_proba(X), first[1])
    np.testing.assert_array_equal(cloned.fit(X, y).predict_proba(X), first[1])


def test_grid_search_over_callback_targets(data):
    X, y = data
    prune = DeepLightPruning(warm_up_epochs=1, damping_steps="auto")
    est = DeepFwFMClassifier(max_epochs=2, callbacks=[("prune", prune)], **DEEP)
    grid = {"callbacks__prune__dnn": [0.5, 0.9], "callbacks__prune__field_pairs": [0.6]}
    search = GridSearchCV(
        est, grid, cv=2, scoring="roc_auc", n_jobs=2, error_score="raise"
    )
    search.fit(X, y)
    assert len(search.cv_results_["params"]) == 2
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
    best = search.best_estimator_
    report = best.sparsity_report()
    assert report.loc["dnn", "sparsity"] == pytest.approx(
        search.best_params_["callbacks__prune__dnn"], abs=0.01
    )
    assert report.loc["field_pairs", "sparsity"] == pytest.approx(0.6, abs=0.07)
    assert prune.dnn == 0.0 and not hasattr(prune, "iteration_")  # est untouched


def test_early_stopping_never_restores_an_epoch_below_target(data):
    X, y = make_data(n=640, seed=3)
    y = np.random.RandomState(1).permutation(y)  # no signal: AUC stalls
    prune = DeepLightPruning(
        dnn=0.95, embeddings=0.5, field_pairs=0.8, warm_up_epochs=1
    )
    est = DeepFwFMClassifier(
        max_epochs=30,
        patience=1,
        callbacks=[("prune", prune)],
        **(DEEP | dict(validation_fraction=0.25, batch_size=32)),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # no one-shot prune
        est.fit(X, y)
    names = [name for name, _ in est.callbacks_]
    assert names.index("early_stopping") < names.index("prune")
    es = dict(est.callbacks_)["early_stopping"]
    n_epochs = len(est.history)
    assert n_epochs < 30  # it did stop early
    at_target = est.history[:, "pruned_to_target"]
    # the ramp (28.5% of at most 8 pruning epochs of 15 batches: 34
    # iterations) ends in epoch 4
    assert at_target.index(True) == 3
    assert all(at_target[3:])
    # the patience only counts epochs at the targets: no stop during the ramp
    assert n_epochs >= 4 + 1
    # the best epoch is one at full sparsity, and it is what fit returns
    assert es.best_epoch_ >= 4
    best = est.history[es.best_epoch_ - 1]
    assert best["pruned_to_target"]
    assert best["sparsity_dnn"] == pytest.approx(0.95, abs=1e-3)
    last = est.history[-1]
    assert last["returned_epoch"] == es.best_epoch_
    if es.best_epoch_ != n_epochs:  # restored: the last record describes it
        assert last["valid_auc"] == best["valid_auc"]
        assert "last_valid_auc" in last
    # recorded in every epoch, the interrupted last one included
    assert len(est.history[:, "sparsity_dnn"]) == n_epochs
    for comp in ("dnn", "embeddings", "field_pairs"):
        assert_target_met(est.module_, comp, getattr(prune, comp))


def test_user_early_stopping_after_pruning_is_refused(data):
    X, y = data
    est = FwFMClassifier(
        max_epochs=2,
        callbacks=[
            ("prune", DeepLightPruning(field_pairs=0.5, warm_up_epochs=0)),
            ("es", EarlyStopping(load_best=True)),
        ],
        **(SMALL | dict(validation_fraction=0.2)),
    )
    with pytest.raises(ValueError, match="'es'.*'prune'"):
        est.fit(X, y)


def test_pruned_estimator_survives_joblib(data, tmp_path):
    X, y = data
    prune = DeepLightPruning(
        dnn=0.9, field_pairs=0.5, embeddings=0.4, warm_up_epochs=1,
        damping_steps="auto", regrow=False,
    )  # fmt: skip
    est = DeepFwFMClassifier(max_epochs=2, callbacks=[("prune", prune)], **DEEP)
    est.fit(X, y)
    path = tmp_path / "pruned.joblib"
    joblib.dump(est, path)
    loaded = joblib.load(path)
    np.testing.assert_array_equal(loaded.predict_proba(X), est.predict_proba(X))
    pd.testing.assert_frame_equal(loaded.sparsity_report(), est.sparsity_report())
    pd.testing.assert_frame_equal(
        loaded.field_pair_importance(), est.field_pair_importance()
    )
    assert loaded.sparsity_report().loc["dnn", "sparsity"] == pytest.approx(
        0.9, abs=0.01
    )
    # training goes on from the loaded model with its masks
    loaded.partial_fit(X, y)
    assert_target_met(loaded.module_, "dnn", 0.9)


# ----------------------------------------------------------------------
# Real data: DeepFwFM pruned under the defaults keeps the dense model's AUC
# ----------------------------------------------------------------------
# The settings of benchmarks/pruning_recovery.py on the real rows: the small
# networks of the real-data Table 2 with early stopping and LR decay.
REAL = dict(
    embedding_dim=10,
    hidden_units=(128, 128, 128),
    dropout=0.5,
    lr=1e-3,
    l2=3e-7,
    batch_size=256,
    max_epochs=15,
    validation_fraction=0.1,
    patience=2,
    lr_patience=1,
    random_state=0,
)


@pytest.mark.realdata
@pytest.mark.slow
def test_criteo_pruned_deepfwfm_keeps_dense_auc(criteo_split):
    # Paper Table 5's structures on the Criteo head (8,000 train / 1,999 test
    # rows, time split), pruning under the defaults. The 3-seed means are in
    # benchmarks/results/pruning_recovery.json; one seed's test AUC varies by
    # about 0.01 between seeds, the bound here.
    X_train, y_train, X_test, y_test = criteo_split

    def auc(est):
        est.fit(X_train, y_train)
        return roc_auc_score(y_test, est.predict_proba(X_test)[:, 1])

    auc_dense = auc(DeepFwFMClassifier(**REAL))
    # the same model with its DNN removed
    fwfm = {k: v for k, v in REAL.items() if k not in ("hidden_units", "dropout")}
    auc_fwfm = auc(FwFMClassifier(**fwfm))
    targets = {
        "D-90% R-90% F-40%": dict(dnn=0.9, field_pairs=0.9, embeddings=0.4),
        "D-99% R-95% F-40%": dict(dnn=0.99, field_pairs=0.95, embeddings=0.4),
    }
    aucs = {}
    for name, t in targets.items():
        est = DeepFwFMClassifier(callbacks=[("prune", DeepLightPruning(**t))], **REAL)
        aucs[name] = auc(est)
        report = est.sparsity_report()
        for comp, target in t.items():
            tol = 2e-3 if comp == "field_pairs" else 1e-3
            assert report.loc[comp, "sparsity"] == pytest.approx(target, abs=tol)
    assert auc_dense > 0.70  # a working dense model
    assert aucs["D-90% R-90% F-40%"] >= auc_dense - 0.01, (auc_dense, aucs)
    assert aucs["D-99% R-95% F-40%"] >= auc_dense - 0.01, (auc_dense, aucs)
    # a 99%-pruned DNN never scores below the same model without its DNN
    assert aucs["D-99% R-95% F-40%"] >= auc_fwfm, (auc_fwfm, aucs)


def test_modules_declare_their_prunable_parts():
    module = DeepFwFMModule([3, 4, 5], embedding_dim=2, hidden_units=(4, 3))
    parts = module.prunable_parts()
    assert list(parts) == ["embeddings", "dnn", "field_pairs"]
    assert parts["dnn"].per_layer and not parts["embeddings"].per_layer
    assert [n for n, _ in parts["dnn"].params] == [
        "dnn.layers.0.weight",
        "dnn.layers.1.weight",
    ]
    assert component_parameters(module) == {c: list(p.params) for c, p in parts.items()}


def test_a_module_declaring_an_unknown_component_is_refused():
    # (the example was "cross" until DCN-V2 registered that component)
    class Attention(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.ones(3))

        def prunable_parts(self):
            from sklearn_deeplight._modules import PrunablePart

            return {"attention": PrunablePart((("w", self.w),), per_layer=False)}

    with pytest.raises(ValueError, match=r"\['attention'\].*no target"):
        component_parameters(Attention())
    # a module that declares nothing has nothing to prune
    assert component_parameters(torch.nn.Linear(2, 1)) == {}
