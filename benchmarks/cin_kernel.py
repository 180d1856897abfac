"""xDeepFM's CIN in the sparse predictor: tile-wide kernel against per-sample.

The numba engine scores a large batch with ``forward_tiled``; until the
tile-wide CIN (``_cin_tile``) it computed the CIN inside each tile one sample
at a time, the arithmetic of ``forward_samples``. This times, interleaved in
one process with one thread (``_common.wall_rounds``: per round two warm-up
calls and at least three timed ones of each, in a shuffled order; medians over
rounds), on a batch of 4,096 rows:

- ``tiled``: ``forward_tiled`` (tile-wide CIN);
- ``per_sample``: ``forward_samples`` (the per-sample CIN, the old cost);
- ``torch``: the dense torch module's forward under ``inference_mode``;

for an xDeepFM of the peer benchmark's size (39 fields, 13 numeric, k=10,
CIN 32x32, DNN 128x3), dense and with CIN and DNN pruned to 90%, and checks
that the two kernels give the same logits.

Usage::

    python -m benchmarks.cin_kernel            # full run, about a minute
    python -m benchmarks.cin_kernel --quick    # smoke run

Writes ``benchmarks/results/cin_kernel.json`` (``--quick``:
``cin_kernel_quick.json.tmp``, git-ignored; ``--out`` to change).
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import numpy as np
import torch

from sklearn_deeplight import DeepLightPruning, XDeepFMClassifier, _kernels

from ._common import (
    RESULTS,
    command_line,
    machine_info,
    stamp_loadavg_end,
    wall_rounds,
    write_json,
)

N_FIELDS, N_NUMERIC = 39, 13


def _data(n: int, rng: np.random.RandomState) -> tuple[np.ndarray, np.ndarray]:
    X = rng.randint(0, 50, size=(n, N_FIELDS)).astype(np.float64)
    X[:, :N_NUMERIC] = rng.rand(n, N_NUMERIC) * 3
    y = ((X[:, 20] + X[:, 30]) % 3 == 0).astype(int)
    return X, y


def _model(prune: float | None, X, y, quick: bool):
    callbacks = None
    if prune:
        callbacks = [
            (
                "prune",
                DeepLightPruning(
                    cin=prune, dnn=prune, warm_up_epochs=0, damping_steps="auto"
                ),
            )
        ]
    return XDeepFMClassifier(
        embedding_dim=10,
        hidden_units=(32, 32) if quick else (128, 128, 128),
        cin_layer_sizes=(8, 8) if quick else (32, 32),
        numeric_fields=list(range(N_NUMERIC)),
        max_epochs=1,
        batch_size=512,
        random_state=0,
        validation_fraction=None,
        callbacks=callbacks,
    ).fit(X, y)


def _measure(est, Xb: np.ndarray, rounds: int) -> dict:
    """Interleaved timings of the two kernels and the torch forward on ``Xb``."""
    pred = est.to_sparse(engine="numba")
    xi, xv = pred.index_input(Xb)
    packed = pred._get_packed(_kernels)
    table = pred._table
    tiled, _ = _kernels.forward_tiled(table, xi, xv, *packed)
    samples, _ = _kernels.forward_samples(table, xi, xv, *packed)
    ds = est._to_dataset(Xb, reset=False)
    ref = est.decision_function(Xb)

    def torch_forward():
        with torch.inference_mode():
            return est.module_(ds.xi, ds.xv)

    fns = {
        "tiled": lambda: _kernels.forward_tiled(table, xi, xv, *packed),
        "per_sample": lambda: _kernels.forward_samples(table, xi, xv, *packed),
        "torch": torch_forward,
    }
    times = wall_rounds(fns, [()], rounds=rounds, min_seconds=0.0)
    med = {k: statistics.median(v) for k, v in times.items()}
    return {
        "median_ms": {k: v * 1e3 for k, v in med.items()},
        "all_ms": {k: [t * 1e3 for t in v] for k, v in times.items()},
        "speedup_tiled_over_per_sample": med["per_sample"] / med["tiled"],
        "speedup_tiled_over_torch": med["torch"] / med["tiled"],
        "max_abs_diff_tiled_vs_per_sample": float(np.abs(tiled - samples).max()),
        "rel_err_tiled_vs_torch": float(
            np.linalg.norm(tiled - ref) / np.linalg.norm(ref)
        ),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    rounds = args.rounds or (2 if args.quick else 7)
    batch = 256 if args.quick else 4096
    name = "cin_kernel_quick.json.tmp" if args.quick else "cin_kernel.json"
    out = args.out or RESULTS / name
    torch.set_num_threads(1)
    rng = np.random.RandomState(0)
    X, y = _data(2000 if args.quick else 6000, rng)
    Xb = X[np.arange(batch) % len(X)]
    report = {
        "benchmark": "cin_kernel",
        "command": command_line("cin_kernel", argv),
        "machine": machine_info(1),
        "batch": batch,
        "rounds": rounds,
        "results": {},
    }
    for label, prune in (("dense", None), ("CIN and DNN pruned 90%", 0.9)):
        est = _model(prune, X, y, args.quick)
        report["results"][label] = _measure(est, Xb, rounds)
    stamp_loadavg_end(report["machine"])
    print(f"xDeepFM, batch {batch}, one thread, medians of {rounds} rounds (ms)")
    print(f"{'model':24s} {'tiled':>9s} {'per-sample':>11s} {'torch':>9s} {'diff':>9s}")
    for label, r in report["results"].items():
        m = r["median_ms"]
        print(
            f"{label:24s} {m['tiled']:9.1f} {m['per_sample']:11.1f} {m['torch']:9.1f} "
            f"{r['max_abs_diff_tiled_vs_per_sample']:9.1e}"
        )
    write_json(out, report)
    print(f"wrote {out}")
    return report


if __name__ == "__main__":
    main()
