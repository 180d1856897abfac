"""A lean dense torch forward of any model, from its model description.

The baseline of "never slower than dense": the arithmetic of every block of
:mod:`sklearn_deeplight._spec` written as plain batched torch operations on
dense tensors (pruned weights as zeros, the full field-pair matrix, no
dropout, BatchNorm already folded), with none of the modules' generic code
paths. It takes the indexed arrays ``xi`` (int64 table rows) and ``xv``
(float32 values) and returns numpy logits, so that it is timed on the same
inputs as the predictor's kernels.
"""

from __future__ import annotations

import numpy as np
import torch


def _dense(W) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(W.toarray(), dtype=np.float32))


def lean_forward(spec, table: np.ndarray):
    """``fn(xi, xv) -> logits``: the dense torch forward of ``spec``.

    Parameters
    ----------
    spec : ModelSpec
        The model description (a predictor's ``_spec``).
    table : ndarray of float32 of shape (n_rows, k + 1)
        The predictor's gather table: embeddings, then the folded linear
        weight of each row.
    """
    k = spec.k
    n_fields = spec.layout.n_fields
    E = torch.from_numpy(np.array(table[:, :k]))
    lin = torch.from_numpy(np.array(table[:, k]))
    bias = float(spec.bias)
    steps = []
    for block in spec.blocks:
        kind = block.kind
        if kind == "fm":
            steps.append(("fm", None))
        elif kind == "field_pairs":
            # The dense R: every pair, pruned ones as zeros.
            iu, ju = np.triu_indices(n_fields, 1)
            R = np.zeros((n_fields, n_fields), np.float32)
            R[block.pairs[:, 0], block.pairs[:, 1]] = block.pair_weights
            flat = torch.from_numpy(iu * n_fields + ju)
            steps.append(("pairs", (flat, torch.from_numpy(R[iu, ju]))))
        elif kind == "mlp":
            layers = [
                (_dense(W), torch.from_numpy(b))
                for W, b in zip(block.layers, block.biases)
            ]
            steps.append(("mlp", (block.input, layers, torch.from_numpy(block.out))))
        elif kind == "cin":
            layers = [
                (_dense(W), torch.from_numpy(b), kept)
                for W, b, kept in zip(block.layers, block.biases, block.keep)
            ]
            steps.append(("cin", (layers, torch.from_numpy(block.out))))
        elif kind == "cross":
            layers = [
                (_dense(W), torch.from_numpy(b))
                for W, b in zip(block.layers, block.biases)
            ]
            steps.append(("cross", (layers, torch.from_numpy(block.out))))
        elif kind != "linear":
            raise ValueError(f"no lean torch forward for block {kind!r}")

    def forward(xi: np.ndarray, xv: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            xi_t, xv_t = torch.from_numpy(xi), torch.from_numpy(xv)
            logit = bias + (lin[xi_t] * xv_t).sum(1)
            if k == 0:
                return logit.numpy()
            e = torch.nn.functional.embedding(xi_t, E) * xv_t.unsqueeze(-1)
            bi = None
            for kind, arg in steps:
                if kind in ("fm", "mlp") and bi is None:
                    s = e.sum(1)
                    bi = 0.5 * (s * s - (e * e).sum(1))
                if kind == "fm":
                    logit = logit + bi.sum(1)
                elif kind == "pairs":
                    flat, r = arg
                    gram = torch.bmm(e, e.transpose(1, 2)).flatten(1)
                    logit = logit + gram[:, flat] @ r
                elif kind == "mlp":
                    form, layers, out = arg
                    h = e.flatten(1) if form == "concat" else bi
                    for W, b in layers:
                        h = torch.relu(torch.nn.functional.linear(h, W, b))
                    logit = logit + h @ out
                elif kind == "cin":
                    layers, out = arg
                    x0 = e  # (n, m, k)
                    h = x0
                    pooled = []
                    for W, b, kept in layers:
                        n, hh, kk = h.shape
                        z = (h.unsqueeze(2) * x0.unsqueeze(1)).reshape(
                            n, hh * n_fields, kk
                        )
                        new = torch.matmul(W, z) + b[:, None]
                        pooled.append(new[:, new.shape[1] - kept :].sum(2))
                        h_next = new.shape[1] - kept
                        h = new[:, :h_next] if h_next > 0 else new
                    logit = logit + torch.cat(pooled, 1) @ out
                elif kind == "cross":
                    layers, out = arg
                    x0 = e.flatten(1)
                    h = x0
                    for W, b in layers:
                        h = x0 * torch.nn.functional.linear(h, W, b) + h
                    logit = logit + h @ out
            return logit.numpy()

    return forward
