"""Do the ``"auto"`` sizes suit a small log, dense and pruned?

The README's pipeline (FieldEncoder + DeepFwFM, early stopping at full
sparsity, learning-rate decay, DeepLight pruning at D-90% R-90% F-40%) on
generated rows, dense and pruned, under the paper's settings (400x3, batch
2,048, lr 1e-3), under the ``"auto"`` sizes with the paper's lr (the sizes
before the learning rate followed the batch), and under the ``"auto"``
settings, the defaults (``hidden_units``, ``batch_size`` and ``lr`` all
``"auto"``, :func:`sklearn_deeplight.auto_lr`). Each setting is fitted on
several seeds (each seed draws its own data set and model): test AUC on
held-out rows and fit time (one torch thread) per seed, and their mean and
standard deviation per setting. Each row also keeps what explains it: the
validation AUC of every epoch, the epoch fit returned, the first epoch at the
full pruning targets and the batches per epoch. Writes
``benchmarks/results/auto_sizes.json``.

Run from the repository root: ``python -m benchmarks.auto_sizes [--quick]
[--seeds 0 1 2] [--rows 20000] [--out FILE]``; about 4 minutes on one core,
``--quick`` (2,000 rows, one seed) seconds.
"""

from __future__ import annotations

import argparse
import statistics
import time

from ._common import RESULTS, command_line, machine_info, stamp_loadavg_end, write_json

#: (name, hidden_units, batch_size, lr)
SETTINGS = (
    ("paper", (400, 400, 400), 2048, 1e-3),
    ("auto hidden_units", "auto", 2048, "auto"),
    ("auto batch_size", (400, 400, 400), "auto", "auto"),
    ("auto sizes, lr 1e-3", "auto", "auto", 1e-3),
    ("auto (defaults)", "auto", "auto", "auto"),
)


def fit_one(name, hidden, batch, lr, pruned, data, seed) -> dict:
    """One fit of the README pipeline; its test AUC, time and history."""
    from sklearn.metrics import roc_auc_score
    from sklearn.pipeline import make_pipeline

    from sklearn_deeplight import DeepFwFMClassifier, DeepLightPruning, FieldEncoder

    X_tr, y_tr, X_te, y_te = data
    prune = DeepLightPruning(dnn=0.9, field_pairs=0.9, embeddings=0.4)
    est = DeepFwFMClassifier(
        hidden_units=hidden,
        batch_size=batch,
        lr=lr,
        max_epochs=10,
        patience=2,
        lr_patience=1,
        embedding_l2=1e-3,
        callbacks=[("prune", prune)] if pruned else None,
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
    return {
        "setting": name,
        "seed": seed,
        "hidden_units": list(est.hidden_units_),
        "batch_size": int(est.batch_size_),
        "lr": float(est.lr_),
        "pruned": pruned,
        "test_auc": float(auc),
        "fit_seconds": seconds,
        "epochs": len(history),
        "batches_per_epoch": int(history[0]["train_batch_count"]),
        # validation AUC of each epoch as trained (the last one before the
        # restore of the best epoch)
        "valid_auc": [float(h.get("last_valid_auc", h["valid_auc"])) for h in history],
        "returned_epoch": history[-1].get("returned_epoch", len(history)),
        "first_epoch_at_target": at_target[0] if at_target else None,
    }


def run(n_train: int, n_test: int, seeds: list[int]) -> list[dict]:
    from sklearn_deeplight.datasets import make_ctr_classification

    rows = []
    for seed in seeds:
        X, y = make_ctr_classification(n_samples=n_train + n_test, random_state=seed)
        data = X[:n_train], y[:n_train], X[n_train:], y[n_train:]
        for name, hidden, batch, lr in SETTINGS:
            for pruned in (False, True):
                r = fit_one(name, hidden, batch, lr, pruned, data, seed)
                rows.append(r)
                print(
                    f"seed {seed} {name:20s} "
                    f"{'x'.join(map(str, r['hidden_units'])):>11s} "
                    f"{r['batch_size']:5d} lr {r['lr']:.2g} "
                    f"{'pruned' if pruned else 'dense':6s} AUC {r['test_auc']:.4f} "
                    f"{r['fit_seconds']:5.1f}s epoch {r['returned_epoch']} of "
                    f"{r['epochs']}",
                    flush=True,
                )
    return rows


def summarize(rows: list[dict]) -> list[dict]:
    """Mean and standard deviation over the seeds, per setting and model,
    with the pruned-minus-dense AUC difference (paired by seed)."""
    out = []
    for name, *_ in SETTINGS:
        mine = [r for r in rows if r["setting"] == name]
        dense = {r["seed"]: r["test_auc"] for r in mine if not r["pruned"]}
        for pruned in (False, True):
            rs = [r for r in mine if r["pruned"] == pruned]
            if not rs:
                continue
            aucs = [r["test_auc"] for r in rs]
            secs = [r["fit_seconds"] for r in rs]
            entry = {
                "setting": name,
                "hidden_units": rs[0]["hidden_units"],
                "batch_size": rs[0]["batch_size"],
                "lr": rs[0]["lr"],
                "pruned": pruned,
                "seeds": len(rs),
                "test_auc_mean": statistics.fmean(aucs),
                "test_auc_std": statistics.stdev(aucs) if len(aucs) > 1 else 0.0,
                "fit_seconds_mean": statistics.fmean(secs),
            }
            if pruned:
                diffs = [r["test_auc"] - dense[r["seed"]] for r in rs]
                entry["pruned_minus_dense_mean"] = statistics.fmean(diffs)
            out.append(entry)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="2,000 rows, one seed (smoke)"
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=None)
    parser.add_argument(
        "--rows",
        type=int,
        default=None,
        help="training rows (default 20,000; the held-out rows are a fifth)",
    )
    parser.add_argument("--out", default=str(RESULTS / "auto_sizes.json"))
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    n_train, n_test = (2_000, 500) if args.quick else (20_000, 4_000)
    if args.rows:
        n_train, n_test = args.rows, args.rows // 5
    seeds = args.seeds or ([0] if args.quick else [0, 1, 2])
    machine = machine_info(threads=1)
    rows = run(n_train, n_test, seeds)
    stamp_loadavg_end(machine)
    summary = summarize(rows)
    for s in summary:
        extra = (
            f" (pruned - dense {s['pruned_minus_dense_mean']:+.4f})"
            if s["pruned"]
            else ""
        )
        print(
            f"{s['setting']:20s} {'pruned' if s['pruned'] else 'dense':6s} "
            f"AUC {s['test_auc_mean']:.4f} +- {s['test_auc_std']:.4f}{extra}"
        )
    write_json(
        args.out,
        {
            "command": command_line("auto_sizes", argv),
            "machine": machine,
            "n_train": n_train,
            "n_test": n_test,
            "seeds": seeds,
            "summary": summary,
            "results": rows,
        },
    )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
