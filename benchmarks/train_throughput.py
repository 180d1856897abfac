"""Training throughput (samples per second of ``fit``) of the seven models.

Paper's Criteo shape: 39 fields (13 numeric, 26 categorical), about 1.33M
embedding rows, k=10, DNN 400x3, CIN 100-100-50 (xDeepFM), Adam with the
paper's defaults, batch 2048. The vocabulary's per-field split is synthetic
(the total is the paper's); codes are Zipf-like per field.

Each model trains ``--steps`` batches per measured fit (one epoch, no
validation split). Models are interleaved in a shuffled order in each of
``--rounds`` rounds in one process; the table reports the median time per
fit over rounds and samples per second. Torch uses the machine's threads
unless ``--threads`` says otherwise.

Usage::

    python -m benchmarks.train_throughput            # full run
    python -m benchmarks.train_throughput --quick    # smoke run, seconds

Writes ``benchmarks/results/train_throughput.json`` (``--out`` to change).
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from sklearn_deeplight._registry import MODELS

from ._common import (
    RESULTS,
    command_line,
    machine_info,
    stamp_loadavg_end,
    write_json,
)

N_NUMERIC, N_CATEGORICAL = 13, 26
CRITEO_ROWS = 1_326_042  # categorical vocabulary of the paper's Criteo


def criteo_shaped(n_samples: int, rng: np.random.RandomState, scale: float = 1.0):
    """Field-indexed Criteo-shaped input: 13 numeric, 26 Zipf categorical."""
    # a long-tailed split of the vocabulary over the 26 fields
    weights = np.sort(rng.pareto(0.8, N_CATEGORICAL) + 0.05)[::-1]
    dims = np.maximum(4, (weights / weights.sum() * CRITEO_ROWS * scale)).astype(int)
    numeric = np.floor(np.log1p(rng.exponential(20, (n_samples, N_NUMERIC))) ** 2)
    cat = np.column_stack(
        [np.minimum(rng.zipf(1.3, n_samples) - 1, d - 1) for d in dims]
    )
    # make sure every code up to the cardinality exists once, so that the
    # embedding tables have the full Criteo size
    cat[: len(dims), :] = 0
    cat[0, :] = dims - 1
    X = np.column_stack([numeric, cat.astype(np.float64)])
    y = (rng.uniform(size=n_samples) < 0.22).astype(np.int64)
    return X, y, int(dims.sum()) + N_NUMERIC


def models(quick: bool) -> dict:
    hidden = (32, 32) if quick else (400, 400, 400)
    k = 4 if quick else 10
    cin = (8, 8) if quick else (100, 100, 50)
    sizes = dict(embedding_dim=k, hidden_units=hidden, cin_layer_sizes=cin)
    # Every model of the registry, with the sizes its parameters name.
    return {
        info.name: info.classifier_class()(
            **{key: sizes[key] for key in info.small if key in sizes}
        )
        for info in MODELS
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny smoke run")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--steps", type=int, default=None, help="batches per fit")
    parser.add_argument("--batch-size", type=int, default=2048)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument(
        "--out",
        type=Path,
        default=RESULTS / "train_throughput.json",
    )
    args = parser.parse_args(argv)
    rounds = args.rounds or (1 if args.quick else 3)
    steps = args.steps or (2 if args.quick else 8)
    bs = 256 if args.quick else args.batch_size
    if args.threads:
        torch.set_num_threads(args.threads)
    machine = machine_info()
    rng = np.random.RandomState(0)
    n = bs * steps
    X, y, n_rows = criteo_shaped(n, rng, scale=0.001 if args.quick else 1.0)
    numeric = list(range(N_NUMERIC))
    ests = models(args.quick)
    times: dict[str, list[float]] = {name: [] for name in ests}
    order = list(ests)
    for r in range(rounds):
        random.Random(r).shuffle(order)
        for name in order:
            est = ests[name].set_params(
                numeric_fields=numeric,
                batch_size=bs,
                max_epochs=1,
                validation_fraction=None,
                random_state=r,
            )
            start = time.perf_counter()
            est.fit(X, y)
            times[name].append(time.perf_counter() - start)
            print(
                f"round {r + 1}/{rounds} {name:9s} {times[name][-1]:8.2f} s", flush=True
            )
    rows = []
    for name in ests:
        med = statistics.median(times[name])
        n_params = sum(p.numel() for p in ests[name].module_.parameters())
        rows.append(
            {
                "model": name,
                "seconds_per_fit": med,
                "samples_per_second": n / med,
                "parameters": int(n_params),
                "all_seconds": times[name],
            }
        )
    print()
    print(f"{'model':10s} {'params':>12s} {'s/fit':>8s} {'samples/s':>10s}")
    for row in rows:
        print(
            f"{row['model']:10s} {row['parameters']:12,d} "
            f"{row['seconds_per_fit']:8.2f} {row['samples_per_second']:10,.0f}"
        )
    result = {
        "benchmark": "train_throughput",
        "command": command_line("train_throughput", argv),
        "machine": stamp_loadavg_end(machine),
        "shape": {
            "fields": N_NUMERIC + N_CATEGORICAL,
            "numeric": N_NUMERIC,
            "embedding_rows": n_rows,
            "batch_size": bs,
            "batches_per_fit": steps,
            "rounds": rounds,
        },
        "results": rows,
    }
    write_json(args.out, result, indent=2)
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
