"""``deeplight demo``: DeepFwFM dense against DeepLight-pruned, Table 5's shape.

Trains DeepFwFM dense and DeepLight-pruned on generated Criteo-shaped click
logs (or on a real log with ``--data``), converts both to the torch-free
:class:`~sklearn_deeplight.SparseCTRPredictor` and prints test AUC and
logloss, nonzero parameters, saved bytes, latency and speed-up, dense torch
against the sparse predictor.
"""

from __future__ import annotations

import argparse
import io
import os
import tempfile
import textwrap
import time
from dataclasses import dataclass, replace

import numpy as np

from .._timing import time_interleaved
from ._helpers import (
    EXIT_OK,
    UsageError,
    _add_read_options,
    _format_table,
    _fraction,
    _human_bytes,
    _input_file,
    _int_list,
    _metrics,
    _non_negative_float,
    _non_negative_int,
    _num,
    _positive_float,
    _positive_int,
    _Progress,
    _read_options,
    _resolve_format,
    _structure,
    _subparser,
    _torch_threads,
)
from ._training import _default_warm_up, _fit_with_progress, _pruning_callback

# The demo's generated data: the generator's Criteo-like spread of the 26
# categorical cardinalities, capped at this many values per field. With the
# generator's own cap (n_samples / 20) most values of 200,000 rows are seen a
# handful of times and a 3-epoch DeepFwFM reaches a test AUC of about 0.71;
# with 300 it learns the planted pairs to about 0.74 (the true probabilities
# give 0.87), which makes dense against pruned a comparison worth printing.
DEMO_CARDINALITY_CAP = 300


@dataclass(frozen=True)
class DemoConfig:
    """Sizes and training settings of one demo run."""

    n_samples: int = 200_000
    cardinality_cap: int = DEMO_CARDINALITY_CAP
    test_fraction: float = 0.2
    min_frequency: int = 2
    embedding_dim: int = 10
    hidden_units: tuple[int, ...] = (100, 100, 100)
    batch_size: int = 2048
    epochs: int = 10
    warm_up_epochs: int = 1
    # early stopping at full sparsity and LR decay on a 10% validation split
    # (None: a fixed number of epochs on all training rows)
    patience: int | None = 2
    lr_patience: int | None = 1
    lr: float = 3e-3
    embedding_l2: float = 0.0
    latency_batch: int = 4096
    rounds: int = 3
    min_seconds: float = 0.2


#: ``deeplight demo``: k=10, DNN 100x3, up to 10 epochs of 144,000 rows with
#: early stopping at full sparsity (about 3.5 s of CPU per epoch; 200x3 and
#: 400x3 cost about 1.6x and 2.2x that); the whole demo takes about 75 s on an
#: idle 2-core machine, several minutes on a shared one.
DEMO_FULL = DemoConfig()

#: ``deeplight demo --quick``: seconds (CI).
DEMO_QUICK = DemoConfig(
    n_samples=5_000,
    cardinality_cap=50,
    embedding_dim=4,
    hidden_units=(32, 32),
    batch_size=256,
    epochs=2,
    warm_up_epochs=1,
    patience=None,
    lr_patience=None,
    latency_batch=512,
    rounds=2,
    min_seconds=0.01,
)

#: ``deeplight demo --data`` with fewer than 100,000 training rows: the
#: settings of the library's real-data test on the Criteo head (8,000 rows).
DEMO_SMALL_LOG = DemoConfig(
    min_frequency=4,
    hidden_units=(64, 64),
    batch_size=512,
    epochs=15,
    warm_up_epochs=1,
    embedding_l2=3e-3,
)


def _demo_config(args, n_train: int | None) -> DemoConfig:
    """The profile of this run with the command line's overrides."""
    if args.quick:
        cfg = DEMO_QUICK
    elif n_train is not None and n_train < 100_000:
        cfg = DEMO_SMALL_LOG
    else:
        cfg = DEMO_FULL
    overrides = {
        "n_samples": args.rows,
        "embedding_dim": args.embedding_dim,
        "hidden_units": args.hidden,
        "batch_size": args.batch_size,
        "epochs": args.epochs,
        "warm_up_epochs": args.warm_up_epochs,
        "lr": args.lr,
        "embedding_l2": args.embedding_l2,
        "min_frequency": args.min_frequency,
        "latency_batch": args.latency_batch,
    }
    cfg = replace(cfg, **{k: v for k, v in overrides.items() if v is not None})
    if args.epochs is not None and args.warm_up_epochs is None:
        cfg = replace(cfg, warm_up_epochs=_default_warm_up(cfg.epochs))
    if cfg.warm_up_epochs >= cfg.epochs:
        raise UsageError(
            f"--warm-up-epochs {cfg.warm_up_epochs} leaves no pruning epoch in "
            f"{cfg.epochs} epochs: use fewer warm-up epochs or more epochs"
        )
    return cfg


def _epochs_text(cfg: DemoConfig) -> str:
    if cfg.patience is None:
        return f"{cfg.epochs} epochs"
    return (
        f"up to {cfg.epochs} epochs (early stopping: patience {cfg.patience}, "
        f"lr_patience {cfg.lr_patience}, 10% validation split)"
    )


def _demo_data(args, progress: _Progress):
    """Raw train and test rows, the true test probabilities, descriptions."""
    from sklearn.model_selection import train_test_split

    ceiling = None
    if args.data is None:
        from ..datasets import make_ctr_classification
        from ..datasets._generator import _CRITEO_LIKE_CARDINALITIES

        cfg = _demo_config(args, None)
        cards = [min(c, cfg.cardinality_cap) for c in _CRITEO_LIKE_CARDINALITIES]
        progress(
            f"generating {cfg.n_samples:,} Criteo-shaped rows (13 numeric and 26 "
            f"categorical fields, Zipf values, at most {cfg.cardinality_cap} values "
            f"per field, planted field pairs; seed {args.seed})"
        )
        X, y, truth = make_ctr_classification(
            cfg.n_samples,
            cardinalities=cards,
            return_truth=True,
            random_state=args.seed,
        )
        n_test = max(1, int(round(cfg.test_fraction * len(y))))
        X_train, X_test = X.iloc[:-n_test], X.iloc[-n_test:]
        y_train, y_test = y[:-n_test], y[-n_test:]
        ceiling = truth.proba[-n_test:]
        source = f"{cfg.n_samples:,} generated Criteo-shaped rows"
        split = "i.i.d. rows, last 20% held out"
        fmt = "criteo"
    else:
        path = _input_file(args.data, "data file")
        _resolve_format(args, path, progress)
        progress(f"reading {path} ({args.format} format)")
        from ..datasets._logs import _read_log  # pandas: not at the import

        X, y = _read_log(
            path,
            args.format,
            **_read_options(args),
        )
        if len(y) < 50:
            raise ValueError(f"{path}: {len(y)} rows are too few for the demo")
        n_test = max(1, int(round(0.2 * len(y))))
        if args.format == "criteo":
            # Criteo's train.txt is chronological: train on the past.
            X_train, X_test = X.iloc[:-n_test], X.iloc[-n_test:]
            y_train, y_test = y[:-n_test], y[-n_test:]
            split = "time split, first 80% train, last 20% test"
        else:
            X_train, X_test, y_train, y_test = train_test_split(
                X, y, test_size=n_test, random_state=args.seed
            )
            split = f"random 80/20 split (seed {args.seed})"
        source = f"{len(y):,} rows of {path.name}"
        fmt = args.format
    return X_train, X_test, y_train, y_test, ceiling, source, split, fmt


def _nonzero_torch(module) -> tuple[int, int]:
    import torch

    total = nonzero = 0
    for p in module.parameters():
        total += p.numel()
        nonzero += int(torch.count_nonzero(p.detach()))
    return nonzero, total


def _state_dict_bytes(module) -> int:
    import torch

    buf = io.BytesIO()
    torch.save(module.state_dict(), buf)
    return buf.getbuffer().nbytes


def _saved_bytes(obj, folder: str, name: str) -> int:
    import joblib

    path = os.path.join(folder, name)
    joblib.dump(obj, path)
    return os.path.getsize(path)


def _cmd_demo(args) -> int:
    """Run ``deeplight demo``; returns the exit code."""
    import torch

    from .. import DeepFwFMClassifier, FieldEncoder

    progress = _Progress(args.quiet)
    t_start = time.perf_counter()
    targets = {
        "dnn": args.dnn,
        "field_pairs": args.field_pairs,
        "embeddings": args.embeddings,
    }
    if not any(targets.values()):
        raise UsageError("the pruned model needs a target above 0 (--dnn ...)")
    if args.data is None and args.nrows is not None:
        raise UsageError("--nrows applies to --data; use --rows for generated data")
    if args.data is not None and args.rows is not None:
        raise UsageError("--rows sizes the generated data; use --nrows with --data")
    if args.rows is not None and args.rows < 100:
        raise UsageError(f"--rows must be >= 100, got {args.rows}")

    X_train, X_test, y_train, y_test, ceiling, source, split, fmt = _demo_data(
        args, progress
    )
    cfg = _demo_config(args, None if args.data is None else len(y_train))
    if cfg.epochs < 2:
        raise UsageError("the demo needs --epochs >= 2 (warm-up and pruning)")

    encoder = FieldEncoder(
        numeric_transform="criteo" if fmt == "criteo" else None,
        min_frequency=cfg.min_frequency,
    )
    Xtr = encoder.fit_transform(X_train)
    Xte = encoder.transform(X_test)
    n_rows_table = int(encoder.field_dims_.sum())
    progress(
        f"encoded: {len(y_train):,} train / {len(y_test):,} test rows ({split}), "
        f"{Xtr.shape[1]} fields, {n_rows_table:,} embedding rows "
        f"(values seen < {cfg.min_frequency} times share a field's OOV row)"
    )

    hidden = "x".join(str(h) for h in cfg.hidden_units)
    settings = dict(
        embedding_dim=cfg.embedding_dim,
        hidden_units=cfg.hidden_units,
        batch_size=cfg.batch_size,
        max_epochs=cfg.epochs,
        lr=cfg.lr,
        embedding_l2=cfg.embedding_l2,
        validation_fraction=None if cfg.patience is None else 0.1,
        patience=cfg.patience,
        lr_patience=cfg.lr_patience,
        random_state=args.seed,
    )
    structure = _structure(**targets)
    with _torch_threads(args.threads):
        progress(
            f"training dense DeepFwFM: k={cfg.embedding_dim}, DNN {hidden}, "
            f"batch {cfg.batch_size}, {_epochs_text(cfg)}, lr {cfg.lr:g}, "
            f"torch threads {torch.get_num_threads()}"
        )
        t0 = time.perf_counter()
        dense = DeepFwFMClassifier(**settings)
        _fit_with_progress(dense, Xtr, y_train, progress)
        fit_dense = time.perf_counter() - t0
        progress(
            f"training pruned DeepFwFM {structure}: same settings, "
            f"{cfg.warm_up_epochs} dense warm-up epoch(s), then the DeepLight "
            f"schedule scaled to {cfg.epochs - cfg.warm_up_epochs} pruning "
            "epoch(s) (the full targets after a ramp of 28.5% of at most 8 of "
            "them, then fine-tuning)"
        )
        t0 = time.perf_counter()
        callbacks = _pruning_callback(targets, cfg.warm_up_epochs, cfg.epochs)
        pruned = DeepFwFMClassifier(callbacks=callbacks, **settings)
        _fit_with_progress(pruned, Xtr, y_train, progress)
        fit_pruned = time.perf_counter() - t0
    models = {"No pruning": dense, structure: pruned}

    progress(
        f"converting both to the sparse predictor (engine {args.engine}; "
        "numba compiles its kernels on first use, once per installation)"
    )
    predictors = {
        name: est.to_sparse(engine=args.engine) for name, est in models.items()
    }
    y01 = (np.asarray(y_test) == dense.classes_[1]).astype(np.int64)
    rows = []
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, est in models.items():
            p_torch = est.predict_proba(Xte)[:, 1]
            p_sparse = predictors[name].predict_proba(Xte)[:, 1]
            nz_t, total = _nonzero_torch(est.module_)
            results[name] = {
                "torch": {
                    "metrics": _metrics(y01, p_torch),
                    "params": nz_t,
                    "bytes": _state_dict_bytes(est.module_),
                },
                "sparse": {
                    "metrics": _metrics(y01, p_sparse),
                    "params": int(sum(predictors[name].n_params_.values())),
                    "bytes": _saved_bytes(predictors[name], tmp, "p.joblib"),
                },
                "total": total,
                "max_diff": float(np.max(np.abs(p_torch - p_sparse))),
            }

    # Latency, one thread, like-for-like: both sides take the indexed arrays
    # (xi, xv) and return logits.
    large = cfg.latency_batch
    progress(
        f"timing latency: batch 1 and batch {large:,}, one thread, "
        f"{cfg.rounds} interleaved rounds"
    )
    reference = predictors["No pruning"]
    xi_all, xv_all = reference.index_input(Xte)
    rng = np.random.default_rng(args.seed)
    n_test = xi_all.shape[0]
    one = [
        (xi_all[i : i + 1].copy(), xv_all[i : i + 1].copy())
        for i in rng.choice(n_test, size=min(256, n_test), replace=False)
    ]
    big = []
    for _ in range(2):
        idx = rng.choice(n_test, size=large, replace=large > n_test)
        big.append(
            (np.ascontiguousarray(xi_all[idx]), np.ascontiguousarray(xv_all[idx]))
        )

    def torch_forward(module):
        module.eval()

        def forward(xi, xv):
            with torch.inference_mode():
                return module(torch.from_numpy(xi), torch.from_numpy(xv)).numpy()

        return forward

    impls = {}
    for name, est in models.items():
        impls[(name, "torch")] = torch_forward(est.module_)
        impls[(name, "sparse")] = predictors[name].decision_function_indexed
    with _torch_threads(1):
        lat1 = time_interleaved(
            impls, one, rounds=cfg.rounds, min_seconds=cfg.min_seconds, seed=args.seed
        )
        latb = time_interleaved(
            impls, big, rounds=cfg.rounds, min_seconds=cfg.min_seconds, seed=args.seed
        )
    base1 = lat1[("No pruning", "torch")]
    baseb = latb[("No pruning", "torch")]

    engines = {"torch": "torch", "sparse": "sparse predictor"}
    for name in models:
        for kind in ("torch", "sparse"):
            r = results[name][kind]
            auc, ll = r["metrics"]
            rows.append(
                [
                    name,
                    engines[kind],
                    f"{auc:.4f}",
                    f"{ll:.4f}",
                    f"{r['params']:,}",
                    _human_bytes(r["bytes"]),
                    _num(lat1[(name, kind)] * 1e6),
                    f"{base1 / lat1[(name, kind)]:.1f}x",
                    _num(latb[(name, kind)] / large * 1e6),
                    f"{baseb / latb[(name, kind)]:.1f}x",
                ]
            )
    headers = [
        "structure",
        "engine",
        "AUC",
        "logloss",
        "nonzero params",
        "bytes",
        "us b=1",
        "speed-up",
        f"us/row b={large}",
        "speed-up",
    ]
    print()
    print(f"DeepLight demo: DeepFwFM (k={cfg.embedding_dim}, DNN {hidden}) on {source}")
    print(
        f"{len(y_train):,} train / {len(y_test):,} test rows ({split}); "
        f"{_epochs_text(cfg)}, batch {cfg.batch_size}; seed {args.seed}"
    )
    print()
    print(_format_table(headers, rows))
    print()
    report = pruned.sparsity_report()
    parts = [
        f"{comp} {report.loc[comp, 'sparsity']:.1%} of {report.loc[comp, 'total']:,}"
        for comp in report.index
    ]
    worst = max(r["max_diff"] for r in results.values())
    notes = [
        "Pruned weights: " + ", ".join(parts) + ".",
        "AUC and logloss on the held-out rows; the sparse predictor agrees with "
        f"torch to {worst:.1e} in probability.",
        "nonzero params: all parameters (torch) or those the sparse predictor "
        "stores. bytes: torch.save of the state_dict (dense tensors, pruned "
        "zeros included) or the predictor's joblib file; a layer kept dense "
        "costs more as a sparse matrix (values + column indices), so the "
        "predictor pays off with pruning.",
        "us b=1: microseconds per call of one row (the paper's latency); "
        f"us/row: per row of a batch of {large:,}. Both engines take the "
        "indexed input and return logits, on one thread; speed-up against the "
        "dense model in torch.",
    ]
    if ceiling is not None:
        auc_c, ll_c = _metrics(y01, ceiling)
        notes.append(
            "The generator's true click probabilities score the test rows at "
            f"AUC {auc_c:.4f}, logloss {ll_c:.4f} (the ceiling)."
        )
    total = time.perf_counter() - t_start
    notes.append(
        f"Fit {fit_dense:.0f}s dense, {fit_pruned:.0f}s pruned; demo {total:.0f}s "
        f"in all, {progress.cpu():.0f}s of CPU time (on a busy machine the "
        "difference is time spent waiting for a core, which inflates the "
        "latencies too; the interleaved timing keeps the speed-ups comparable)."
    )
    for note in notes:
        print(textwrap.fill(note, width=88, subsequent_indent="  "))
    return EXIT_OK


def add_parser(
    sub: argparse._SubParsersAction, common: argparse.ArgumentParser
) -> None:
    """Add ``demo`` to the subparsers ``sub``."""
    p = _subparser(
        sub,
        common,
        "demo",
        help="train DeepFwFM dense and pruned, print the paper's Table 5 shape",
        description="Train DeepFwFM dense and DeepLight-pruned (D-90% R-90% F-40% by "
        "default) on generated Criteo-shaped click logs, or on a real log "
        "with --data, convert both to the sparse predictor and print test "
        "AUC, logloss, nonzero parameters, bytes and latency, dense torch "
        "against the sparse predictor.\n\n"
        f"Default size: {DEMO_FULL.n_samples:,} generated rows (80/20 "
        f"split), k={DEMO_FULL.embedding_dim}, DNN "
        f"{'x'.join(map(str, DEMO_FULL.hidden_units))}, batch "
        f"{DEMO_FULL.batch_size}, {DEMO_FULL.epochs} epochs (1 warm-up): "
        "about 70 s of CPU time, 1-2 minutes on 2 idle cores, 3-4 on a "
        "busy shared machine. --quick: "
        f"{DEMO_QUICK.n_samples:,} rows and a small net, seconds (for CI; "
        "numba compiles its kernels once per installation, about 20 s).\n\n"
        "With --data: criteo logs are split in time (first 80% train, "
        "last 20% test), others at random; a log of fewer than 100,000 "
        "training rows trains a smaller net (DNN 64x64, batch 512, 4 "
        "epochs of which 2 warm-up, embedding_l2 3e-3).",
    )
    p.add_argument("--quick", action="store_true", help="CI size: seconds")
    p.add_argument("--seed", type=int, default=0, help="seed of data and models")
    p.add_argument(
        "--rows",
        type=_positive_int,
        default=None,
        metavar="N",
        help=f"generated rows (default: {DEMO_FULL.n_samples:,}; --quick: "
        f"{DEMO_QUICK.n_samples:,})",
    )
    p.add_argument("--data", metavar="FILE", help="a real click log instead")
    _add_read_options(p)
    p.add_argument("--dnn", type=_fraction, default=0.9, help="DNN sparsity (0.9)")
    p.add_argument(
        "--field-pairs", type=_fraction, default=0.9, help="R sparsity (0.9)"
    )
    p.add_argument(
        "--embeddings", type=_fraction, default=0.4, help="embedding sparsity (0.4)"
    )
    p.add_argument("--epochs", type=_positive_int, default=None, help="training epochs")
    p.add_argument(
        "--warm-up-epochs",
        type=_non_negative_int,
        default=None,
        help="dense epochs before pruning (default: 1; 0 for one epoch)",
    )
    p.add_argument(
        "--embedding-dim", type=_positive_int, default=None, help="k (default: 10)"
    )
    p.add_argument(
        "--hidden", type=_int_list, default=None, help="e.g. 400,400,400 or 400x3"
    )
    p.add_argument("--batch-size", type=_positive_int, default=None)
    p.add_argument(
        "--lr", type=_positive_float, default=None, help="Adam's (default: 3e-3)"
    )
    p.add_argument("--embedding-l2", type=_non_negative_float, default=None)
    p.add_argument(
        "--min-frequency",
        type=_positive_int,
        default=None,
        help="values seen fewer times in the training rows share their field's "
        "OOV row (default: 2; 4 for a small log)",
    )
    p.add_argument(
        "--latency-batch",
        type=_positive_int,
        default=None,
        help=f"the large batch timed (default: {DEMO_FULL.latency_batch})",
    )
    p.add_argument(
        "--engine",
        choices=("auto", "numba", "scipy"),
        default="auto",
        help="sparse predictor engine (default: auto, numba when installed)",
    )
    p.add_argument(
        "--threads",
        type=_positive_int,
        default=1,
        help="torch threads for training (default: 1, the fastest on a busy "
        "shared machine); latency is always timed on one thread",
    )
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.set_defaults(func=lambda a, _p: _cmd_demo(a))
