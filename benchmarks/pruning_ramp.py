"""How long should the ``damping_steps="auto"`` pruning ramp be?

The README's pipeline (``FieldEncoder(numeric_transform="criteo",
min_frequency=5)`` + :class:`~sklearn_deeplight.DeepFwFMClassifier`, early
stopping at full sparsity with ``patience=2``, ``lr_patience=1``, DeepLight
pruning at D-90% R-90% F-40%, as ``benchmarks/auto_sizes.py`` fits it) on
generated rows (:func:`sklearn_deeplight.datasets.make_ctr_classification`)
of several sizes, dense and pruned under several ``ramp_fraction`` values
(the share of the ``T = min(max_epochs - warm_up_epochs, 8)`` pruning epochs'
iterations after which the schedule reaches 99% of its targets), for the
paper's settings (400x3, batch 2,048, lr 1e-3) and the estimators' defaults
(the ``"auto"`` sizes and learning rate). Each seed draws its own data set
and model; the pruned fits are paired with the dense fit of the same seed.

Per setting, size and model: mean and standard deviation of the test AUC
over the seeds, and of the paired difference pruned - dense. Each fit keeps
the validation AUC of every epoch, the epoch ``fit`` returned, the first
epoch at the full targets, the batches per epoch and the damping period
``U`` the ramp used. The file also records the ``U`` each ramp rule gives on
the paper's Criteo run (8 pruning epochs of 20,100 iterations), which this
machine cannot train. Writes ``benchmarks/results/pruning_ramp.json``.

Run from the repository root: ``python -m benchmarks.pruning_ramp [--quick]
[--rows 20000 100000] [--seeds 0 1 2] [--ramps 0.285 0.125] [--out FILE]``;
about 15 minutes on one core; ``--quick`` (2,000 rows, one seed, the paper
settings left out) seconds.
"""

from __future__ import annotations

import argparse
import statistics
import time

from ._common import RESULTS, command_line, machine_info, stamp_loadavg_end, write_json

#: (name, hidden_units, batch_size, lr)
SETTINGS = (
    ("paper", (400, 400, 400), 2048, 1e-3),
    ("auto (defaults)", "auto", "auto", "auto"),
)
MAX_EPOCHS = 10
#: the paper's Criteo run: 8 pruning epochs of ~20,100 iterations
CRITEO_EPOCHS, CRITEO_BATCHES = 8, 20_100


def criteo_scale(ramps: list[float]) -> dict:
    """The damping period ``U`` and ramp length that each ramp rule gives on
    the paper's Criteo run, and the rule "at most one pruning epoch"."""
    from sklearn_deeplight import auto_damping_steps, reach_iteration

    t = CRITEO_EPOCHS * CRITEO_BATCHES
    out = {}
    for r in ramps:
        u = auto_damping_steps(t, r)
        out[f"ramp_fraction {r}"] = {
            "damping_steps": u,
            "ramp_iterations": reach_iteration(0.99, u),
            "ramp_epochs": reach_iteration(0.99, u) / CRITEO_BATCHES,
        }
    # min(0.285 T, batches per epoch): one epoch of 20,100 < 45,821
    one = min(0.285 * t, CRITEO_BATCHES)
    u = auto_damping_steps(t, one / t)
    out["min(0.285 T, one epoch)"] = {
        "damping_steps": u,
        "ramp_iterations": one,
        "ramp_epochs": one / CRITEO_BATCHES,
    }
    out["paper (damping_steps=100)"] = {
        "damping_steps": 100.0,
        "ramp_iterations": reach_iteration(0.99, 100.0),
        "ramp_epochs": reach_iteration(0.99, 100.0) / CRITEO_BATCHES,
    }
    return out


def fit_one(setting, ramp, data, seed) -> dict:
    """One fit of the README pipeline (``ramp`` None: dense)."""
    from sklearn.metrics import roc_auc_score
    from sklearn.pipeline import make_pipeline

    from sklearn_deeplight import DeepFwFMClassifier, DeepLightPruning, FieldEncoder

    name, hidden, batch, lr = setting
    X_tr, y_tr, X_te, y_te = data
    callbacks = None
    if ramp is not None:
        prune = DeepLightPruning(
            dnn=0.9, field_pairs=0.9, embeddings=0.4, ramp_fraction=ramp
        )
        callbacks = [("prune", prune)]
    est = DeepFwFMClassifier(
        hidden_units=hidden,
        batch_size=batch,
        lr=lr,
        max_epochs=MAX_EPOCHS,
        patience=2,
        lr_patience=1,
        embedding_l2=1e-3,
        callbacks=callbacks,
        random_state=seed,
    )
    model = make_pipeline(
        FieldEncoder(numeric_transform="criteo", min_frequency=5), est
    )
    t0 = time.perf_counter()
    model.fit(X_tr, y_tr)
    seconds = time.perf_counter() - t0
    auc = roc_auc_score(y_te, model.predict_proba(X_te)[:, 1])
    history = est.history_
    at_target = [h["epoch"] for h in history if h.get("pruned_to_target")]
    u = None
    if ramp is not None:
        cb = dict(getattr(est, "callbacks_", []) or []).get("prune")
        u = getattr(cb, "damping_steps_", None)
    return {
        "setting": name,
        "seed": seed,
        "ramp_fraction": ramp,
        "hidden_units": list(est.hidden_units_),
        "batch_size": int(est.batch_size_),
        "lr": float(est.lr_),
        "test_auc": float(auc),
        "fit_seconds": seconds,
        "epochs": len(history),
        "batches_per_epoch": int(history[0]["train_batch_count"]),
        "damping_steps": None if u is None else float(u),
        "valid_auc": [float(h.get("last_valid_auc", h["valid_auc"])) for h in history],
        "returned_epoch": history[-1].get("returned_epoch", len(history)),
        "first_epoch_at_target": at_target[0] if at_target else None,
    }


def _mean_std(xs):
    return statistics.fmean(xs), (statistics.stdev(xs) if len(xs) > 1 else 0.0)


def summarize(rows: list[dict], settings, ramps) -> list[dict]:
    """Per rows, setting and model: mean and std over the seeds of the test
    AUC and (pruned) of the paired difference pruned - dense."""
    out = []
    for n in sorted({r["n_train"] for r in rows}):
        for name, *_ in settings:
            mine = [r for r in rows if r["setting"] == name and r["n_train"] == n]
            dense = {
                r["seed"]: r["test_auc"] for r in mine if r["ramp_fraction"] is None
            }
            for ramp in [None, *ramps]:
                rs = [r for r in mine if r["ramp_fraction"] == ramp]
                if not rs:
                    continue
                m, s = _mean_std([r["test_auc"] for r in rs])
                entry = {
                    "n_train": n,
                    "setting": name,
                    "model": "dense" if ramp is None else f"pruned, ramp {ramp}",
                    "ramp_fraction": ramp,
                    "seeds": len(rs),
                    "test_auc_mean": m,
                    "test_auc_std": s,
                    "fit_seconds_mean": statistics.fmean(r["fit_seconds"] for r in rs),
                    "returned_epochs": [r["returned_epoch"] for r in rs],
                    "first_epochs_at_target": [r["first_epoch_at_target"] for r in rs],
                }
                if ramp is not None:
                    d = [
                        r["test_auc"] - dense[r["seed"]]
                        for r in rs
                        if r["seed"] in dense
                    ]
                    dm, ds = _mean_std(d)
                    entry["pruned_minus_dense"] = d
                    entry["pruned_minus_dense_mean"] = dm
                    entry["pruned_minus_dense_std"] = ds
                    entry["damping_steps"] = [r["damping_steps"] for r in rs]
                out.append(entry)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="2,000 rows, one seed, the defaults only (smoke)",
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=None)
    parser.add_argument(
        "--rows",
        type=int,
        nargs="+",
        default=None,
        help="training row counts (default 20,000 100,000; held out: a fifth)",
    )
    parser.add_argument("--ramps", type=float, nargs="+", default=[0.285, 0.125])
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    from sklearn_deeplight.datasets import make_ctr_classification

    sizes = args.rows or ([2_000] if args.quick else [20_000, 100_000])
    seeds = args.seeds or ([0] if args.quick else [0, 1, 2])
    settings = SETTINGS[1:] if args.quick else SETTINGS
    out = args.out or str(
        RESULTS / ("pruning_ramp_quick.json.tmp" if args.quick else "pruning_ramp.json")
    )
    machine = machine_info(threads=1)
    t_start = time.perf_counter()
    rows = []
    for n_train in sizes:
        n_test = n_train // 5
        for seed in seeds:
            X, y = make_ctr_classification(
                n_samples=n_train + n_test, random_state=seed
            )
            data = X[:n_train], y[:n_train], X[n_train:], y[n_train:]
            for setting in settings:
                for ramp in [None, *args.ramps]:
                    r = fit_one(setting, ramp, data, seed)
                    r["n_train"], r["n_test"] = n_train, n_test
                    rows.append(r)
                    print(
                        f"{n_train:7d} rows seed {seed} {setting[0]:16s} "
                        f"{'dense' if ramp is None else f'ramp {ramp}':10s} "
                        f"AUC {r['test_auc']:.4f} {r['fit_seconds']:5.1f}s epoch "
                        f"{r['returned_epoch']} of {r['epochs']}, at target "
                        f"{r['first_epoch_at_target']}, U {r['damping_steps']}",
                        flush=True,
                    )
    stamp_loadavg_end(machine)
    summary = summarize(rows, settings, args.ramps)
    for s in summary:
        extra = ""
        if s["ramp_fraction"] is not None:
            extra = (
                f"  pruned - dense {s['pruned_minus_dense_mean']:+.4f} "
                f"+- {s['pruned_minus_dense_std']:.4f}"
            )
        print(
            f"{s['n_train']:7d} {s['setting']:16s} {s['model']:18s} "
            f"AUC {s['test_auc_mean']:.4f} +- {s['test_auc_std']:.4f}{extra}"
        )
    write_json(
        out,
        {
            "benchmark": "pruning_ramp",
            "command": command_line("pruning_ramp", argv),
            "machine": machine,
            "pipeline": (
                "FieldEncoder(numeric_transform='criteo', min_frequency=5) + "
                f"DeepFwFMClassifier(max_epochs={MAX_EPOCHS}, patience=2, "
                "lr_patience=1, embedding_l2=1e-3, ...) + "
                "DeepLightPruning(dnn=0.9, field_pairs=0.9, embeddings=0.4, "
                "ramp_fraction=...)"
            ),
            "sizes": sizes,
            "seeds": seeds,
            "ramps": args.ramps,
            "criteo_scale": criteo_scale(args.ramps),
            "seconds": round(time.perf_counter() - t_start, 1),
            "summary": summary,
            "results": rows,
        },
    )
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
