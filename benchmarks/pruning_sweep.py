"""DeepLight pruning sweeps: AUC and logloss against sparsity (paper §5.3).

Trains :class:`~sklearn_deeplight.DeepFwFMClassifier` with
:class:`~sklearn_deeplight._pruning.DeepLightPruning` on generated
Criteo-shaped click logs (:func:`sklearn_deeplight.datasets.make_ctr_classification`:
13 numeric and 26 categorical fields, Zipf-distributed values, planted
field-pair interactions) and measures test AUC and logloss for

- ``fig4``: DNN sparsity alone, D in {0, 50, 80, 90, 95, 98, 99}% (Fig. 4);
- ``fig5``: R sparsity with the DNN at 99%, R in {0, 50, 80, 90, 95, 98}%
  (Fig. 5, "given a 99% sparsity for the DNN component on Criteo");
- ``fig6``: embedding sparsity alone, F in {0, 20, 40, 60, 80, 90}% (Fig. 6);
- ``table5``: the dense model and the six structures of Table 5 (its Criteo
  and Avazu rows, all run on the Criteo-shaped data).

Identical targets are trained once and shared between experiments. Every run
uses the same data, split and seed. Each result records the targets, the
achieved sparsity per component (``sparsity_report()``), the nonzero
parameters over the whole model (Table 5's "# Parameters"), test AUC,
logloss and the fit time.

Data are preprocessed as the authors' Criteo script: missing numeric values
-> 0 and the winners' transform; categorical values seen fewer than 8 times
in the training rows share one code.

Training follows the paper's published run where the CPU allows: Adam, lr
1e-3, L2 3e-7, dropout 0.5, k = 10, DNN 400x3, batch 2,048, 10 epochs,
pruning under the library's defaults (``DeepLightPruning(**targets)``: one
warm-up epoch, ``damping_steps="auto"`` with the ramp ending after 28.5% of
the pruning iterations as in the paper's Criteo run, masks kept after the
ramp; ``--warm-up``, ``--damping-steps``, ``--ramp-fraction``, ``--regrow``
override them). One addition: an embedding penalty ``embedding_l2=1e-3``
(``--embedding-l2``). The generator's signal sits largely in rare values
(oracle test AUC 0.878, logistic regression 0.71), and without the penalty
the dense DeepFwFM overfits from the second epoch, which would make every
sparsity look like a regulariser.

Usage::

    python -m benchmarks.pruning_sweep --quick   # smoke run: 10k rows, seconds
    python -m benchmarks.pruning_sweep           # full run: 500k rows

Full-run cost, measured on a shared, busy 2-core CPU box (one torch
thread): about 0.6 s per iteration of the 400x3 model at batch 2,048, i.e.
about 2 min per epoch and 22 min per 10-epoch fit, about 8 hours for the 23
distinct fits; 200x3 costs about a third of that. Use ``--experiments`` to
run a subset, ``--hidden``, ``--epochs`` and ``--warm-up`` for a shorter
run.

Writes ``benchmarks/results/pruning_sweep.json`` (``--quick``:
``pruning_sweep_quick.json``; ``--out`` to change) after every fit, so an
interrupted run keeps what it finished, and prints a table. The figures are
drawn by the benchmark suite from this JSON.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import log_loss, roc_auc_score

from sklearn_deeplight import DeepFwFMClassifier
from sklearn_deeplight._pruning import DeepLightPruning
from sklearn_deeplight.datasets import make_ctr_classification

from ._common import RESULTS, machine_info, stamp_loadavg_end, write_json

FULL_SWEEPS = {
    "fig4": [dict(dnn=s) for s in (0.0, 0.5, 0.8, 0.9, 0.95, 0.98, 0.99)],
    "fig5": [dict(dnn=0.99, field_pairs=s) for s in (0.0, 0.5, 0.8, 0.9, 0.95, 0.98)],
    "fig6": [dict(embeddings=s) for s in (0.0, 0.2, 0.4, 0.6, 0.8, 0.9)],
    "table5": [
        dict(),
        # Criteo rows: high performance, low memory, low latency
        dict(dnn=0.9, field_pairs=0.9, embeddings=0.4),
        dict(dnn=0.9, field_pairs=0.9, embeddings=0.9),
        dict(dnn=0.99, field_pairs=0.95, embeddings=0.4),
        # Avazu rows
        dict(dnn=0.9, field_pairs=0.9, embeddings=0.2),
        dict(dnn=0.9, field_pairs=0.9, embeddings=0.6),
        dict(dnn=0.98, field_pairs=0.9, embeddings=0.0),
    ],
}
QUICK_SWEEPS = {
    "fig4": [dict(dnn=0.0), dict(dnn=0.9)],
    "fig5": [dict(dnn=0.99, field_pairs=0.9)],
    "fig6": [dict(embeddings=0.4)],
    "table5": [dict(), dict(dnn=0.9, field_pairs=0.9, embeddings=0.4)],
}
COMPONENTS = ("dnn", "field_pairs", "embeddings")


def structure_name(targets: dict) -> str:
    """The paper's label, e.g. ``D-90% & R-90% & F-40%``."""

    def pct(v):
        return f"{100 * v:g}%"

    return (
        f"D-{pct(targets.get('dnn', 0.0))} & R-{pct(targets.get('field_pairs', 0.0))}"
        f" & F-{pct(targets.get('embeddings', 0.0))}"
    )


def make_data(n_samples: int, seed: int, min_count: int = 8):
    """Criteo-shaped field codes, preprocessed as the authors' Criteo script.

    Numeric fields: missing -> 0, then the winners' transform
    ``floor(log(x)^2)`` for x > 2. Categorical fields: a value seen fewer than
    ``min_count`` times in the training rows (the authors' threshold 8) and
    every value unseen there share code 0; the others get codes 1..m. The
    last 10% of the rows are the test split (the rows are i.i.d.).
    """
    X, y = make_ctr_classification(
        n_samples, categorical_values="int", random_state=seed
    )
    n_test = n_samples // 10
    n_train = n_samples - n_test
    cols = {}
    for col in X.columns:
        if col.startswith("I"):
            v = X[col].fillna(0.0).to_numpy(np.float64, copy=True)
            big = v > 2
            v[big] = np.floor(np.log(v[big]) ** 2)
            cols[col] = v
        else:
            codes = X[col].to_numpy(np.int64)
            counts = np.bincount(codes[:n_train], minlength=codes.max() + 1)
            kept = counts >= min_count
            remap = np.where(kept, np.cumsum(kept), 0)
            cols[col] = remap[codes]
    X = pd.DataFrame(cols)
    return X.iloc[:n_train], y[:n_train], X.iloc[n_train:], y[n_train:]


def fit_one(targets: dict, data, args) -> dict:
    X_train, y_train, X_test, y_test = data
    targets = {c: float(targets.get(c, 0.0)) for c in COMPONENTS}
    callbacks = None
    if any(targets.values()):
        # the library's defaults, but for the options given on the command line
        over = {
            "warm_up_epochs": args.warm_up,
            "damping_steps": args.damping_steps,
            "ramp_fraction": args.ramp_fraction,
            "regrow": False if args.hard_masks else args.regrow,
        }
        prune = DeepLightPruning(
            **targets, **{k: v for k, v in over.items() if v is not None}
        )
        callbacks = [("prune", prune)]
    est = DeepFwFMClassifier(
        embedding_dim=args.embedding_dim,
        hidden_units=tuple(args.hidden),
        batch_size=args.batch_size,
        max_epochs=args.epochs,
        lr=1e-3,
        l2=3e-7,
        embedding_l2=args.embedding_l2,
        dropout=0.5,
        validation_fraction=args.validation_fraction,
        patience=args.patience,
        lr_patience=args.lr_patience,
        random_state=args.seed,
        callbacks=callbacks,
    )
    start = time.perf_counter()
    est.fit(X_train, y_train)
    seconds = time.perf_counter() - start
    proba = est.predict_proba(X_test)[:, 1]
    report = est.sparsity_report()
    nonzero_params = int(
        sum(int(torch.count_nonzero(p.detach())) for p in est.module_.parameters())
    )
    total_params = int(sum(p.numel() for p in est.module_.parameters()))
    history_sparsity = {
        c: [round(float(v), 6) for v in est.history[:, f"sparsity_{c}"]]
        for c in COMPONENTS
        if targets[c] > 0
    }
    return {
        "structure": structure_name(targets),
        "targets": targets,
        "achieved": {c: float(report.loc[c, "sparsity"]) for c in report.index},
        "nonzero": {c: int(report.loc[c, "nonzero"]) for c in report.index},
        "nonzero_params": nonzero_params,
        "total_params": total_params,
        "auc": float(roc_auc_score(y_test, proba)),
        "logloss": float(log_loss(y_test, proba, labels=[0, 1])),
        "fit_seconds": round(seconds, 2),
        "epochs_run": len(est.history),
        "returned_epoch": est.history[-1].get("returned_epoch", len(est.history)),
        "epoch_sparsity": history_sparsity,
        "damping_steps_used": (
            None
            if callbacks is None
            else float(dict(est.callbacks_)["prune"].damping_steps_ or 0.0)
        ),
    }


def print_table(results: list[dict], experiments: dict[str, list[dict]]) -> None:
    by_key = {json.dumps(r["targets"], sort_keys=True): r for r in results}
    header = (
        f"{'exp':<7} {'structure':<24} {'AUC':>7} {'logloss':>8} "
        f"{'D ach.':>7} {'R ach.':>7} {'F ach.':>7} {'# params':>10} {'fit s':>7}"
    )
    print(header)
    print("-" * len(header))
    for exp, sweep in experiments.items():
        for targets in sweep:
            full = {c: float(targets.get(c, 0.0)) for c in COMPONENTS}
            r = by_key.get(json.dumps(full, sort_keys=True))
            if r is None:
                continue
            ach = r["achieved"]
            print(
                f"{exp:<7} {r['structure']:<24} {r['auc']:>7.4f} {r['logloss']:>8.4f} "
                f"{ach.get('dnn', 0):>7.2%} {ach.get('field_pairs', 0):>7.2%} "
                f"{ach.get('embeddings', 0):>7.2%} {r['nonzero_params']:>10,} "
                f"{r['fit_seconds']:>7.1f}"
            )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run, seconds")
    parser.add_argument("--n-samples", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--warm-up", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--hidden", type=int, nargs="+", default=None)
    parser.add_argument("--embedding-dim", type=int, default=10)
    parser.add_argument("--embedding-l2", type=float, default=1e-3)
    parser.add_argument(
        "--damping-steps", default=None, help="default: the library's ('auto')"
    )
    parser.add_argument(
        "--ramp-fraction", type=float, default=None, help="default: the library's"
    )
    parser.add_argument(
        "--regrow",
        choices=["true", "false", "ramp"],
        default=None,
        help="default: the library's ('ramp')",
    )
    parser.add_argument(
        "--hard-masks", action="store_true", help="regrow=False (persistent masks)"
    )
    parser.add_argument("--experiments", default="fig4,fig5,fig6,table5")
    parser.add_argument(
        "--structures",
        default=None,
        help="only these structures of the experiments, e.g. "
        "'D-0%% & R-0%% & F-0%%;D-90%% & R-90%% & F-40%%' (';'-separated)",
    )
    parser.add_argument(
        "--patience",
        type=int,
        default=None,
        help="early stopping (at full sparsity) on a validation split",
    )
    parser.add_argument("--lr-patience", type=int, default=None)
    parser.add_argument(
        "--validation-fraction",
        type=float,
        default=None,
        help="default: 0.1 with --patience/--lr-patience, else none",
    )
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)

    quick = args.quick
    defaults = (
        dict(n_samples=10_000, epochs=2, batch_size=512, hidden=[16, 16])
        if quick
        else dict(n_samples=500_000, epochs=10, batch_size=2048, hidden=[400] * 3)
    )
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.validation_fraction is None and (
        args.patience is not None or args.lr_patience is not None
    ):
        args.validation_fraction = 0.1
    if args.damping_steps not in (None, "auto"):
        args.damping_steps = float(args.damping_steps)
    if args.regrow is not None:
        args.regrow = {"true": True, "false": False, "ramp": "ramp"}[args.regrow]
    if args.threads:
        torch.set_num_threads(args.threads)
    out = args.out or RESULTS / (
        "pruning_sweep_quick.json" if quick else "pruning_sweep.json"
    )
    sweeps = QUICK_SWEEPS if quick else FULL_SWEEPS
    names = [e.strip() for e in args.experiments.split(",") if e.strip()]
    unknown = set(names) - set(sweeps)
    if unknown:
        parser.error(
            f"unknown experiments {sorted(unknown)}; choose from {list(sweeps)}"
        )
    experiments = {e: sweeps[e] for e in names}
    if args.structures:
        keep = {s.strip() for s in args.structures.split(";")}
        experiments = {
            e: [t for t in sweep if structure_name(t) in keep]
            for e, sweep in experiments.items()
        }

    t0 = time.perf_counter()
    data = make_data(args.n_samples, args.seed)
    data_seconds = time.perf_counter() - t0
    X_train, y_train, X_test, y_test = data
    meta = {
        "benchmark": "pruning_sweep",
        "quick": quick,
        "config": {k: v for k, v in vars(args).items() if k not in ("out", "quick")},
        "data": {
            "generator": "sklearn_deeplight.datasets.make_ctr_classification",
            "n_train": len(X_train),
            "n_test": len(X_test),
            "n_fields": X_train.shape[1],
            "click_rate_train": float(np.mean(y_train)),
            "seconds": round(data_seconds, 2),
        },
        "machine": machine_info(),
        "experiments": {
            e: [structure_name(t) for t in sweep] for e, sweep in experiments.items()
        },
        "results": [],
    }
    print(
        f"data: {len(X_train):,} train / {len(X_test):,} test rows, "
        f"{X_train.shape[1]} fields ({data_seconds:.1f}s)",
        flush=True,
    )
    done = set()
    for exp, sweep in experiments.items():
        for targets in sweep:
            full = {c: float(targets.get(c, 0.0)) for c in COMPONENTS}
            key = json.dumps(full, sort_keys=True)
            if key in done:
                continue
            done.add(key)
            result = fit_one(full, data, args)
            meta["results"].append(result)
            meta["total_seconds"] = round(time.perf_counter() - t0, 1)
            stamp_loadavg_end(meta["machine"])
            write_json(out, meta, indent=2)
            print(
                f"[{exp}] {result['structure']}: AUC {result['auc']:.4f} "
                f"logloss {result['logloss']:.4f} ({result['fit_seconds']:.0f}s)",
                flush=True,
            )
    print()
    print_table(meta["results"], experiments)
    print(f"\nwrote {out} ({meta['total_seconds']:.0f}s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
