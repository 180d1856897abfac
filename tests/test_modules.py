"""Every torch module against a plain numpy reference written with loops."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sklearn_deeplight._modules import (
    DeepFMModule,
    DeepFwFMModule,
    FMModule,
    FwFMModule,
    LRModule,
    NFMModule,
    XDeepFMModule,
)

FIELD_DIMS = (5, 1, 7, 1, 4, 3)  # fields 1 and 3 are numeric (one row)
NUMERIC = (1, 3)
K = 3
HIDDEN = (6, 5)


def _inputs(rng, n=9):
    offsets = np.concatenate([[0], np.cumsum(FIELD_DIMS)[:-1]])
    xi = np.stack([offsets[f] + rng.randint(0, d, n) for f, d in enumerate(FIELD_DIMS)])
    xv = np.ones_like(xi, dtype=np.float64)
    for f in NUMERIC:
        xv[f] = rng.uniform(-2, 3, n)
    return xi.T, xv.T


def _randomize(module, rng):
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.as_tensor(rng.normal(0, 0.5, p.shape)))
        for m in module.modules():
            if isinstance(m, torch.nn.BatchNorm1d):
                m.running_mean.copy_(
                    torch.as_tensor(rng.normal(0, 0.3, m.num_features))
                )
                m.running_var.copy_(
                    torch.as_tensor(rng.uniform(0.5, 2, m.num_features))
                )
    return module.eval()


def _params(module):
    return {k: v.detach().double().numpy() for k, v in module.state_dict().items()}


def _embed(P, xi_s, xv_s):
    return [P["embedding.weight"][xi_s[f]] * xv_s[f] for f in range(len(xi_s))]


def _linear(P, xi_s, xv_s, e, kind):
    total = 0.0
    for f in range(len(xi_s)):
        if kind == "scalar":
            total += P["linear.weight"][xi_s[f], 0] * xv_s[f]
        elif kind == "feature_vector":
            total += sum(P["linear.weight"][xi_s[f], d] * e[f][d] for d in range(K))
        else:
            total += sum(P["field_linear"][f, d] * e[f][d] for d in range(K))
    return total


def _fm(e):
    total = 0.0
    for i in range(len(e)):
        for j in range(i + 1, len(e)):
            total += sum(e[i][d] * e[j][d] for d in range(K))
    return total


def _fwfm(P, e):
    n = len(e)
    total, p = 0.0, 0
    for i in range(n):
        for j in range(i + 1, n):
            total += P["field_pairs"][p] * sum(e[i][d] * e[j][d] for d in range(K))
            p += 1
    return total


def _mlp(P, h, batch_norm=False):
    layer = 0
    while f"dnn.layers.{layer}.weight" in P:
        W = P[f"dnn.layers.{layer}.weight"]
        b = P[f"dnn.layers.{layer}.bias"]
        out = []
        for u in range(W.shape[0]):
            z = b[u] + sum(W[u, i] * h[i] for i in range(len(h)))
            if batch_norm:
                pre = f"dnn.norms.{layer}."
                z = (z - P[pre + "running_mean"][u]) / np.sqrt(
                    P[pre + "running_var"][u] + 1e-5
                ) * P[pre + "weight"][u] + P[pre + "bias"][u]
            out.append(max(z, 0.0))
        h = out
        layer += 1
    return sum(P["dnn.out.weight"][0, i] * h[i] for i in range(len(h)))


def _bi(e):
    return [
        sum(e[i][d] * e[j][d] for i in range(len(e)) for j in range(i + 1, len(e)))
        for d in range(K)
    ]


def _cin(P, e, sizes, split_half):
    m = len(e)
    h = e
    pooled = []
    for layer, size in enumerate(sizes):
        W = P[f"cin.layers.{layer}.weight"]
        b = P[f"cin.layers.{layer}.bias"]
        new = []
        for c in range(size):
            row = []
            for d in range(K):
                s = b[c]
                for a in range(len(h)):
                    for f in range(m):
                        s += W[c, a * m + f] * h[a][d] * e[f][d]
                row.append(s)
            new.append(row)
        last = layer == len(sizes) - 1
        n_next = size // 2 if split_half and not last else size
        kept = new[n_next:] if split_half and not last else new
        pooled.extend(sum(r) for r in kept)
        h = new[:n_next]
    return sum(P["cin.out.weight"][0, i] * pooled[i] for i in range(len(pooled)))


def _reference(name, P, xi, xv, linear="scalar", batch_norm=False, cin=None):
    out = []
    for s in range(xi.shape[0]):
        xi_s, xv_s = xi[s], xv[s]
        logit = float(P["bias"])
        if name == "lr":
            out.append(logit + _linear(P, xi_s, xv_s, None, "scalar"))
            continue
        e = _embed(P, xi_s, xv_s)
        logit += _linear(P, xi_s, xv_s, e, linear)
        if name in ("fm", "deepfm"):
            logit += _fm(e)
        if name in ("fwfm", "deepfwfm"):
            logit += _fwfm(P, e)
        if name in ("deepfm", "deepfwfm", "xdeepfm"):
            logit += _mlp(P, np.concatenate(e), batch_norm)
        if name == "nfm":
            logit += _mlp(P, _bi(e), batch_norm)
        if name == "xdeepfm":
            logit += _cin(P, e, *cin)
        out.append(logit)
    return np.array(out)


CASES = [
    ("lr", lambda: LRModule(FIELD_DIMS), {}),
    ("fm", lambda: FMModule(FIELD_DIMS, K), {}),
    *[
        ("fwfm", (lambda lt=lt: FwFMModule(FIELD_DIMS, K, lt)), {"linear": lt})
        for lt in ("scalar", "feature_vector", "field_vector")
    ],
    (
        "deepfm",
        lambda: DeepFMModule(FIELD_DIMS, K, HIDDEN, 0.5, True),
        {"batch_norm": True},
    ),
    ("nfm", lambda: NFMModule(FIELD_DIMS, K, HIDDEN, 0.5, False), {}),
    (
        "xdeepfm",
        lambda: XDeepFMModule(FIELD_DIMS, K, HIDDEN, 0.5, False, (4, 3, 2), True),
        {"cin": ((4, 3, 2), True)},
    ),
    (
        "xdeepfm",
        lambda: XDeepFMModule(FIELD_DIMS, K, HIDDEN, 0.5, False, (2, 3), False),
        {"cin": ((2, 3), False)},
    ),
    *[
        (
            "deepfwfm",
            (lambda lt=lt: DeepFwFMModule(FIELD_DIMS, K, HIDDEN, 0.5, True, lt)),
            {"linear": lt, "batch_norm": True},
        )
        for lt in ("scalar", "field_vector")
    ],
]


@pytest.mark.parametrize("name, make, kw", CASES)
def test_module_matches_numpy_reference(name, make, kw):
    rng = np.random.RandomState(0)
    torch.manual_seed(0)
    module = _randomize(make(), rng)
    xi, xv = _inputs(rng)
    with torch.inference_mode():
        got = module(torch.as_tensor(xi), torch.as_tensor(xv, dtype=torch.float32))
    want = _reference(name, _params(module), xi, xv, **kw)
    err = np.linalg.norm(got.double().numpy() - want) / np.linalg.norm(want)
    assert err <= 1e-5, err


def test_single_row_consistent_with_batch():
    rng = np.random.RandomState(1)
    module = _randomize(DeepFwFMModule(FIELD_DIMS, K, HIDDEN, 0.0, True), rng)
    xi, xv = _inputs(rng, n=17)
    xi, xv = torch.as_tensor(xi), torch.as_tensor(xv, dtype=torch.float32)
    with torch.inference_mode():
        full = module(xi, xv)
        single = torch.cat([module(xi[i : i + 1], xv[i : i + 1]) for i in range(17)])
    # Scoring one row must not take a different numerical path (GEMV) than a
    # batch; results agree to float32 rounding.
    np.testing.assert_allclose(single.numpy(), full.numpy(), rtol=1e-6, atol=1e-6)


def test_bad_linear_term():
    with pytest.raises(ValueError, match="linear_term"):
        FwFMModule(FIELD_DIMS, K, "bogus")
