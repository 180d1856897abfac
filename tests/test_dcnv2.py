"""DCN-V2, the model added through the registry (issue 14's proof).

The common scikit-learn checks run on it from the registry's instance table
(``test_common.py``); here: the numpy reference of its module, DeepLight
pruning of its three components with exact targets, the sparse predictor on
both engines and safe persistence.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from sklearn_deeplight import DCNv2Classifier, DeepLightPruning, load, save
from sklearn_deeplight._modules import DCNv2Module
from sklearn_deeplight._registry import get_model

FIELD_DIMS = (5, 1, 7, 4)
K = 3


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    yield


def _data(n=600, seed=0):
    rng = np.random.RandomState(seed)
    X = pd.DataFrame(
        {f"c{j}": rng.randint(0, c, size=n) for j, c in enumerate((20, 9, 6))}
    )
    X["n0"] = rng.rand(n) * 3
    y = ((X["c0"] % 3 == 0) ^ (X["n0"] > 1.5)).astype(int).to_numpy()
    return X, y


def test_registered():
    info = get_model("dcnv2")
    assert info.classifier_class() is DCNv2Classifier
    assert info.components == ("dnn", "embeddings", "cross")


def test_module_matches_numpy_reference():
    """x_{l+1} = x0 * (W_l x_l + b_l) + x_l, in parallel with the DNN."""
    rng = np.random.RandomState(0)
    torch.manual_seed(0)
    module = DCNv2Module(FIELD_DIMS, K, (6, 5), 0.5, False, 2)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.as_tensor(rng.normal(0, 0.5, p.shape)))
    module.eval()
    offsets = np.concatenate([[0], np.cumsum(FIELD_DIMS)[:-1]])
    xi = np.stack(
        [offsets[f] + rng.randint(0, d, 9) for f, d in enumerate(FIELD_DIMS)]
    ).T
    xv = np.ones(xi.shape)
    xv[:, 1] = rng.uniform(-2, 3, 9)
    with torch.inference_mode():
        got = module(torch.as_tensor(xi), torch.as_tensor(xv, dtype=torch.float32))
    P = {k: v.double().numpy() for k, v in module.state_dict().items()}
    want = []
    for s in range(xi.shape[0]):
        x0 = np.concatenate(
            [P["embedding.weight"][xi[s, f]] * xv[s, f] for f in range(len(FIELD_DIMS))]
        )
        h = x0
        for i in range(2):
            W, b = P[f"dnn.layers.{i}.weight"], P[f"dnn.layers.{i}.bias"]
            h = np.maximum(W @ h + b, 0)
        dnn = float(P["dnn.out.weight"][0] @ h)
        x = x0
        for i in range(2):
            W, b = P[f"cross.layers.{i}.weight"], P[f"cross.layers.{i}.bias"]
            x = x0 * (W @ x + b) + x
        cross = float(P["cross.out.weight"][0] @ x)
        want.append(float(P["bias"]) + dnn + cross)
    want = np.array(want)
    err = np.linalg.norm(got.double().numpy() - want) / np.linalg.norm(want)
    assert err <= 1e-5, err


@pytest.fixture(scope="module")
def pruned():
    X, y = _data()
    prune = DeepLightPruning(dnn=0.8, embeddings=0.4, cross=0.9)
    est = DCNv2Classifier(
        embedding_dim=4,
        hidden_units=(16, 8),
        n_cross_layers=2,
        max_epochs=4,
        batch_size=64,
        lr=1e-2,
        validation_fraction=None,
        random_state=0,
        callbacks=[("prune", prune)],
    )
    return est.fit(X, y)


def test_pruning_reaches_exact_targets(pruned):
    report = pruned.sparsity_report()
    assert list(report.index) == ["embeddings", "dnn", "cross"]
    width = 4 * 4  # n_fields * embedding_dim
    for i in range(2):
        W = pruned.module_.cross.layers[i].weight.detach().numpy()
        assert W.shape == (width, width)
        # one threshold per layer, round half up of 0.9 * 256
        assert (W == 0).sum() == int(np.floor(0.9 * W.size + 0.5))
    assert report.loc["cross", "sparsity"] == pytest.approx(0.9, abs=1 / 256)
    assert report.loc["dnn", "sparsity"] == pytest.approx(0.8, abs=0.01)
    assert report.loc["embeddings", "sparsity"] == pytest.approx(0.4, abs=0.01)
    assert pruned.history_[-1]["pruned_to_target"]


@pytest.mark.parametrize("engine", ["numba", "scipy"])
def test_sparse_predictor_matches_estimator(pruned, engine):
    pred = pruned.to_sparse(engine=engine)
    X, _ = _data(300, seed=1)
    X.loc[:5, "c0"] = 10_000  # unseen codes
    ref = pruned.predict_proba(X)
    for n in (1, 5, 64, len(X)):  # per-sample kernel below 8, tiles above
        got = pred.predict_proba(X.iloc[:n])
        err = np.linalg.norm(got - ref[:n]) / np.linalg.norm(ref[:n])
        assert err <= 1e-5, (n, err)
    width = 16
    nnz = sum(W.nnz for W in pred.cross_layers_)
    assert nnz == 2 * (width * width - int(np.floor(0.9 * width * width + 0.5)))
    assert pred.n_params_["cross"] == nnz + sum(
        int(np.count_nonzero(b)) for b in pred.cross_biases_
    ) + int(np.count_nonzero(pred.cross_out_))


def test_save_and_load(pruned, tmp_path):
    pred = pruned.to_sparse()
    path = tmp_path / "dcn.skdl"
    save(pred, path)
    back = load(path)
    X, _ = _data(50, seed=2)
    np.testing.assert_array_equal(back.predict_proba(X), pred.predict_proba(X))


def test_load_refuses_a_cross_layer_of_the_wrong_width(pruned, tmp_path):
    import copy

    bad = copy.deepcopy(pruned.to_sparse())
    bad.cross_out_ = np.zeros(3, np.float32)
    path = tmp_path / "bad.skdl"
    try:
        save(bad, path)
    except ValueError:
        pytest.skip("the predictor cannot even be saved like this")
    with pytest.raises(ValueError, match="bad.skdl"):
        load(path)


# Accuracy on the real Criteo rows (time split, AUC >= 0.72): with the other
# models in tests/test_classifiers.py::test_learns_real_criteo_rows.
