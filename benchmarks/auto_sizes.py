"""Does ``hidden_units="auto"`` / ``batch_size="auto"`` suit a small log?

The README's pipeline (FieldEncoder + DeepFwFM, early stopping, DeepLight
pruning at D-90% R-90% F-40%) on generated rows, dense and pruned, under the
paper's sizes (400x3, batch 2,048) and under the ``"auto"`` sizes; test AUC
on held-out rows and fit time (one torch thread). Writes
``benchmarks/results/auto_sizes.json``.

Run from the repository root: ``python -m benchmarks.auto_sizes [--quick]``.
"""

from __future__ import annotations

import argparse
import time

from ._common import RESULTS, command_line, machine_info, stamp_loadavg_end, write_json

SETTINGS = (
    ("paper", (400, 400, 400), 2048),
    ("auto hidden_units", "auto", 2048),
    ("auto batch_size", (400, 400, 400), "auto"),
    ("auto both", "auto", "auto"),
)


def run(n_train: int, n_test: int, seed: int = 0) -> list[dict]:
    from sklearn.metrics import roc_auc_score
    from sklearn.pipeline import make_pipeline

    from sklearn_deeplight import DeepFwFMClassifier, DeepLightPruning, FieldEncoder
    from sklearn_deeplight.datasets import make_ctr_classification

    X, y = make_ctr_classification(n_samples=n_train + n_test, random_state=seed)
    X_tr, y_tr, X_te, y_te = X[:n_train], y[:n_train], X[n_train:], y[n_train:]
    rows = []
    for name, hidden, batch in SETTINGS:
        for pruned in (False, True):
            prune = DeepLightPruning(dnn=0.9, field_pairs=0.9, embeddings=0.4)
            est = DeepFwFMClassifier(
                hidden_units=hidden,
                batch_size=batch,
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
            rows.append(
                {
                    "setting": name,
                    "hidden_units": list(est.hidden_units_),
                    "batch_size": int(est.batch_size_),
                    "pruned": pruned,
                    "test_auc": float(auc),
                    "fit_seconds": seconds,
                    "epochs": len(est.history_),
                }
            )
            print(
                f"{name:18s} {'x'.join(map(str, est.hidden_units_)):>11s} "
                f"{est.batch_size_:5d} {'pruned' if pruned else 'dense':6s} "
                f"AUC {auc:.4f} {seconds:6.1f}s",
                flush=True,
            )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 rows (smoke)")
    parser.add_argument("--out", default=str(RESULTS / "auto_sizes.json"))
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    n_train, n_test = (2_000, 500) if args.quick else (20_000, 4_000)
    machine = machine_info(threads=1)
    rows = run(n_train, n_test)
    stamp_loadavg_end(machine)
    write_json(
        args.out,
        {
            "command": command_line("auto_sizes", argv),
            "machine": machine,
            "n_train": n_train,
            "n_test": n_test,
            "results": rows,
        },
    )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
