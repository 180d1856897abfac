"""Every model, dense and pruned, against its lean dense torch forward.

Issue 13's "never slower than dense": the sparse predictor's public
``predict_proba`` (on the float64 field-indexed matrix, validation included)
and its kernel alone (``decision_function_indexed`` on the indexed rows)
against the lean dense torch forward of the same weights
(:func:`benchmarks._lean_torch.lean_forward`: plain batched torch on dense
tensors, pruned weights as zeros, on the indexed rows), for every model of
the registry, dense and pruned, at batch 1 (the per-sample kernel), 8 (the
smallest batch of the tiled kernel), 32, 300 (more than a tile of 256) and
4,096: issue 13 asks for every batch from 1 to 4,096.

Models: the paper's Criteo shape (39 fields, 13 numeric, 1,326,055 table
rows, k=10), DNN 400x3, the default CIN (100, 100, 50) and 3 cross layers,
module initialisation with random weights (no training: the timings do not
depend on the values). Pruned: the paper's Table 6 structures (DeepFM and
NFM D-98% F-40%, xDeepFM D-99% C-99% F-40%, DeepFwFM D-99% R-95% F-40%);
the models Table 6 lacks take the same rate per component (FM F-40%, FwFM
R-95% F-40%, DCN-V2 D-98% X-98% F-40%); LR has nothing to prune. Magnitude
pruning per layer (DNN, CIN, cross) or over the tensor (R, embeddings).

Timing: one thread (torch, numba, BLAS), the three implementations of a
model interleaved in one process in a shuffled order per round (the
``time_rounds`` helper of ``benchmarks/_common.py``); medians over rounds of
thread CPU time, and the median of the per-round ratios torch / ours. The
load average is recorded before and after.

Run from the repository root: ``python -m benchmarks.model_latency
[--quick] [--models DeepFM,NFM]``. Writes
``benchmarks/results/model_latency.json``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from ._common import (
    RESULTS,
    command_line,
    machine_info,
    stamp_loadavg_end,
    summarize_rounds,
    time_rounds,
    write_json,
)

N_NUM, N_CAT, N_ROWS, K = 13, 26, 1_326_055, 10
HIDDEN = (400, 400, 400)
BATCHES = (1, 8, 32, 300, 4096)
#: The paper's Table 6 rates per component (the cross network as the DNN).
RATES = {
    "dnn": 0.98,
    "field_pairs": 0.95,
    "embeddings": 0.4,
    "cin": 0.99,
    "cross": 0.98,
}
#: Table 6's own structures where they differ from RATES.
TABLE6 = {
    "xDeepFM": {"dnn": 0.99, "cin": 0.99, "embeddings": 0.4},
    "DeepFwFM": {"dnn": 0.99, "field_pairs": 0.95, "embeddings": 0.4},
}


def structure(info) -> dict[str, float]:
    """The pruned structure of a registry model."""
    if info.name in TABLE6:
        return dict(TABLE6[info.name])
    return {c: RATES[c] for c in info.components}


def make_estimator(info, seed: int = 0, quick: bool = False):
    """A classifier of ``info`` at the Criteo shape with initialised weights."""
    import torch

    from .sparse_latency import field_sizes

    torch.manual_seed(seed)
    n_rows = 20_000 if quick else N_ROWS
    sizes = field_sizes(N_CAT, N_NUM, n_rows, seed)
    cls = info.classifier_class()
    names = cls().get_params()
    params = {"numeric_fields": None, "batch_size": 2048, "lr": 1e-3}
    if "embedding_dim" in names:
        params["embedding_dim"] = K
    if "hidden_units" in names:
        params["hidden_units"] = (64, 64) if quick else HIDDEN
        params["dropout"] = 0.0
    if "cin_layer_sizes" in names and quick:
        params["cin_layer_sizes"] = (16, 16)
    est = cls(**params)
    n_fields = len(sizes)
    numeric = np.zeros(n_fields, bool)
    numeric[:N_NUM] = True
    est.numeric_fields_ = np.flatnonzero(numeric).astype(np.int64)
    est.field_dims_ = np.where(numeric, 1, sizes - 1).astype(np.int64)
    est._table_sizes_ = sizes
    est.offsets_ = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    est.n_features_in_ = n_fields
    est._classes_ = np.array([0, 1])
    est.initialize()
    est.module_.eval()
    return est


def prune(est, targets: dict[str, float]) -> None:
    """Magnitude pruning of ``est``'s module to ``targets`` (in place)."""
    import torch

    from sklearn_deeplight._masks import _bottom_k, _n_to_prune, _parts

    parts = _parts(est.module_)
    with torch.no_grad():
        for comp, rate in targets.items():
            part = parts[comp]
            groups = (
                [[p] for _, p in part.params]
                if part.per_layer
                else [[p for _, p in part.params]]
            )
            for group in groups:
                flat = torch.cat([p.detach().abs().flatten() for p in group])
                mask = _bottom_k(flat, _n_to_prune(rate, flat.numel()))
                start = 0
                for p in group:
                    n = p.numel()
                    p.view(-1)[mask[start : start + n]] = 0.0
                    start += n


def measure(info, pruned: bool, quick: bool, rounds: int, min_chunk: float) -> dict:
    from sklearn_deeplight._validation import global_index

    from ._lean_torch import lean_forward
    from .sparse_latency import raw_matrix, sample_codes

    est = make_estimator(info, quick=quick)
    targets = structure(info) if pruned else {}
    prune(est, targets)
    pred = est.to_sparse()
    torch_fn = lean_forward(pred._spec, pred._table)
    rng = np.random.default_rng(0)
    pools, checks = {}, {}
    for b in BATCHES:
        raw, idx = [], []
        for _ in range(4):
            codes, values = sample_codes(est, b, rng)
            X = raw_matrix(est, codes, values)
            xi = global_index(codes, est.field_dims_, est.offsets_)
            raw.append((X,))
            idx.append((xi, values.astype(np.float32)))
        pools[f"raw{b}"], pools[f"idx{b}"] = raw, idx
        xi, xv = idx[0]
        ref = torch_fn(xi, xv).astype(np.float64)
        ours = pred.decision_function_indexed(xi, xv).astype(np.float64)
        checks[b] = float(np.linalg.norm(ours - ref) / max(np.linalg.norm(ref), 1e-30))
    row = {
        "model": info.name,
        "structure": _name(targets),
        "targets": targets,
        "nonzero_params": {c: int(v) for c, v in pred.n_params_.items()},
        "rel_err_logit_vs_torch": checks,
        "batches": {},
    }
    for b in BATCHES:
        impls = {
            "torch_lean": (torch_fn, f"idx{b}"),
            "kernel": (pred.decision_function_indexed, f"idx{b}"),
            "predict_proba": (pred.predict_proba, f"raw{b}"),
        }
        times = time_rounds(impls, pools, rounds, min_chunk)
        row["batches"][str(b)] = summarize_rounds(times, "torch_lean")
    return row


def _name(targets: dict[str, float]) -> str:
    from sklearn_deeplight._registry import COMPONENT_LETTERS

    if not targets:
        return "dense"
    return " ".join(
        f"{COMPONENT_LETTERS[c]}-{round(100 * r)}%" for c, r in targets.items()
    )


def table(rows: list[dict]) -> str:
    """Markdown: per model and structure, times and ratios torch / ours."""
    head = (
        "| model | structure | B | lean torch | kernel | predict_proba | "
        "torch / kernel | torch / predict_proba |\n|---|---|---|---|---|---|---|---|"
    )
    lines = [head]
    for r in rows:
        for b, s in r["batches"].items():
            t, kern, pp = (
                s["torch_lean"]["cpu"],
                s["kernel"]["cpu"],
                s["predict_proba"]["cpu"],
            )
            lines.append(
                f"| {r['model']} | {r['structure']} | {b} | {_t(t['median_s'])} | "
                f"{_t(kern['median_s'])} | {_t(pp['median_s'])} | "
                f"{kern['speedup_vs_torch']:.1f}x | {pp['speedup_vs_torch']:.1f}x |"
            )
    return "\n".join(lines)


def _t(seconds: float) -> str:
    return f"{seconds * 1e3:.2f} ms" if seconds >= 1e-3 else f"{seconds * 1e6:.1f} us"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small models (smoke)")
    parser.add_argument("--models", default=None, help="comma-separated names")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    import scipy.linalg.cython_blas  # noqa: F401 - loaded before the BLAS limit
    import torch
    from threadpoolctl import threadpool_limits

    from sklearn_deeplight._registry import MODELS

    torch.set_num_threads(1)
    wanted = None if args.models is None else set(args.models.split(","))
    models = [m for m in MODELS if wanted is None or m.name in wanted]
    out = args.out or str(
        RESULTS
        / ("model_latency_quick.json.tmp" if args.quick else "model_latency.json")
    )
    rounds, min_chunk = (3, 0.002) if args.quick else (7, 0.02)
    machine = machine_info(threads=1)
    rows = []
    t0 = time.perf_counter()
    with threadpool_limits(1):
        for info in models:
            for pruned in (False, True) if info.components else (False,):
                row = measure(info, pruned, args.quick, rounds, min_chunk)
                rows.append(row)
                print(table([row]).split("\n", 2)[2], flush=True)
    stamp_loadavg_end(machine)
    markdown = table(rows)
    print(markdown)
    write_json(
        out,
        {
            "command": command_line("model_latency", argv),
            "machine": machine,
            "quick": args.quick,
            "seconds": round(time.perf_counter() - t0, 1),
            "shape": {
                "n_fields": N_NUM + N_CAT,
                "n_numeric": N_NUM,
                "table_rows": N_ROWS,
                "k": K,
                "hidden_units": list(HIDDEN),
            },
            "rows": rows,
            "table_markdown": markdown,
        },
    )
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
