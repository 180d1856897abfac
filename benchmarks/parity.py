"""Raw rows, encoded rows and the torch estimator: do they give the same probabilities?

Issue 13's last check: "results identical (<= 1e-6 relative) across the
raw-row path, the encoded path and the estimator". Fits
``Pipeline(FieldEncoder, DeepFwFMClassifier)`` at the paper's shape (k=10,
DNN 400x3 for Criteo, k=20 and 300x3 for Avazu) with
:class:`~sklearn_deeplight.DeepLightPruning` to the paper's structures
(Criteo D-99% R-95% F-40%, Avazu D-98% R-90% F-0%), then scores held-out
raw rows six ways:

- ``estimator``: the fitted torch pipeline's ``predict_proba`` (float32);
- ``encoded``: the predictor (``to_sparse()``) on the encoder's DataFrame;
- ``raw frame``: :class:`~sklearn_deeplight.ServingPipeline` on the raw
  DataFrame;
- ``raw dicts``: the same on a list of dict records;
- ``record predictor``: its :class:`~sklearn_deeplight.RecordPredictor` on
  the same records;
- ``one dict``: the ServingPipeline on one dict per request (the first rows).

Reported per pair, for both probability columns: the largest elementwise
relative difference ``max |a - b| / |b|`` (the issue's measure; ``b`` the
estimator's, or the encoded path's) and the normwise one ``max |a - b| /
max |b|``; the logits' range tells how far from 0.5 the model's
probabilities are (float32 rounding of a logit moves ``p`` by about
``p (1 - p)`` times the logit's rounding, so a model with logits of a few
units stays far below 1e-6).

Datasets: generated Criteo-format rows
(:func:`~sklearn_deeplight.datasets.make_ctr_classification`) always; the real
Criteo and Avazu rows of ``../shared/data`` when the folder is present
(Criteo: first 8,000 rows train, last 1,999 test; Avazu: ``id`` and ``hour``
dropped, a random 2,000 test).

Usage::

    python -m benchmarks.parity            # under a minute here (38 s)
    python -m benchmarks.parity --quick    # small networks, seconds

Writes ``benchmarks/results/parity.json`` (``--quick``:
``parity_quick.json.tmp``).
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np

from ._common import (
    RESULTS,
    ROOT,
    command_line,
    machine_info,
    stamp_loadavg_end,
    write_json,
)

SHARED = ROOT.parent / "shared" / "data"
TARGET = 1e-6
ONE_DICT_ROWS = 256

#: name: (pruning targets, embedding_dim, hidden_units)
STRUCTURES = {
    "criteo": (dict(dnn=0.99, field_pairs=0.95, embeddings=0.4), 10, (400,) * 3),
    "avazu": (dict(dnn=0.98, field_pairs=0.90, embeddings=0.0), 20, (300,) * 3),
}


def datasets(quick: bool) -> dict:
    """``name: (X_train, y_train, X_test, structure)``."""
    from sklearn_deeplight.datasets import make_ctr_classification

    out = {}
    n = 6_000 if quick else 60_000
    X, y = make_ctr_classification(n + 2_000, random_state=0)
    out["generated (Criteo format)"] = (X.iloc[:n], y[:n], X.iloc[n:], "criteo")
    criteo = SHARED / "criteo" / "train_head9999.txt"
    if criteo.exists():
        from sklearn_deeplight.datasets import load_criteo

        X, y = load_criteo(criteo)
        out["criteo (real rows)"] = (X.iloc[:8000], y[:8000], X.iloc[8000:], "criteo")
    avazu = SHARED / "avazu" / "train_head8999.csv"
    if avazu.exists():
        from sklearn_deeplight.datasets import load_avazu

        X, y = load_avazu(avazu)
        X = X.drop(columns=[c for c in ("id", "hour") if c in X.columns])
        order = np.random.default_rng(0).permutation(len(X))
        train, test = order[:-2000], order[-2000:]
        out["avazu (real rows)"] = (
            X.iloc[train].reset_index(drop=True),
            y[train],
            X.iloc[test].reset_index(drop=True),
            "avazu",
        )
    return out


def errors(a: np.ndarray, b: np.ndarray) -> dict:
    """Elementwise and normwise relative differences of probability pairs
    ``a`` against the reference ``b`` (both of shape (n, 2))."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    diff = np.abs(a - b)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(diff == 0, 0.0, diff / np.abs(b))
    return {
        "max_rel": float(rel.max()),
        "max_rel_p1": float(rel[:, 1].max()),
        "normwise": float(diff.max() / np.abs(b).max()),
        "max_abs": float(diff.max()),
    }


def exact_proba(est, X) -> np.ndarray:
    """The fitted model's probabilities computed in float64 (a copy of its
    module in double precision, same weights): the reference both float32
    forwards round away from."""
    import copy

    import torch

    double = copy.copy(est)
    double.module_ = copy.deepcopy(est.module_).double()
    assert all(p.dtype == torch.float64 for p in double.module_.parameters())
    logit = np.asarray(double.decision_function(X), dtype=np.float64)
    p = 1.0 / (1.0 + np.exp(-logit))
    return np.column_stack([1.0 - p, p])


def measure(name, X_train, y_train, X_test, structure, quick: bool) -> dict:
    import torch
    from sklearn.pipeline import make_pipeline

    from sklearn_deeplight import (
        DeepFwFMClassifier,
        DeepLightPruning,
        FieldEncoder,
        RecordPredictor,
        ServingPipeline,
    )

    targets, k, hidden = STRUCTURES[structure]
    if quick:
        hidden = (32, 32)
    torch.manual_seed(0)
    est = DeepFwFMClassifier(
        embedding_dim=k,
        hidden_units=hidden,
        max_epochs=3 if quick else 8,
        callbacks=[("prune", DeepLightPruning(**targets))],
        random_state=0,
    )
    numeric_transform = "criteo" if structure == "criteo" else None
    model = make_pipeline(FieldEncoder(numeric_transform=numeric_transform), est)
    t0 = time.perf_counter()
    model.fit(X_train, y_train)
    fit_s = time.perf_counter() - t0
    server = ServingPipeline.from_pipeline(model)
    enc, pred = server[0], server[-1]
    ref = model.predict_proba(X_test)
    encoded = enc.transform(X_test)
    logit = model[-1].decision_function(encoded)
    exact = exact_proba(model[-1], encoded)
    paths = {
        "encoded": pred.predict_proba(encoded),
        "raw frame": server.predict_proba(X_test),
        "raw dicts": server.predict_proba(X_test.to_dict("records")),
        "record predictor": RecordPredictor.from_pipeline(server).predict_proba(
            X_test.to_dict("records")
        ),
    }
    records = X_test.iloc[:ONE_DICT_ROWS].to_dict("records")
    one = np.vstack([server.predict_proba(r) for r in records])
    report = {
        "structure": structure,
        "targets": targets,
        "embedding_dim": k,
        "hidden_units": list(hidden),
        "train_rows": len(X_train),
        "test_rows": len(X_test),
        "fit_s": fit_s,
        "sparsity": {
            c: float(s) for c, s in model[-1].sparsity_report()["sparsity"].items()
        },
        "logit_range": [float(logit.min()), float(logit.max())],
        "vs_estimator": {p: errors(v, ref) for p, v in paths.items()},
        "vs_encoded": {
            p: errors(v, paths["encoded"]) for p, v in paths.items() if p != "encoded"
        },
    }
    report["vs_estimator"]["one dict"] = errors(one, ref[:ONE_DICT_ROWS])
    report["vs_exact"] = {"estimator": errors(ref, exact)} | {
        p: errors(v, exact) for p, v in paths.items()
    }
    report["vs_exact"]["one dict"] = errors(one, exact[:ONE_DICT_ROWS])
    report["vs_encoded"]["one dict"] = errors(one, paths["encoded"][:ONE_DICT_ROWS])
    worst = max(e["max_rel"] for e in report["vs_estimator"].values())
    report["worst_max_rel_vs_estimator"] = worst
    report["meets_target"] = worst <= TARGET
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small networks")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    if args.out is None:
        name = "parity_quick.json.tmp" if args.quick else "parity.json"
        args.out = str(RESULTS / name)
    warnings.filterwarnings("ignore")
    import torch

    torch.set_num_threads(1)
    report = {
        "command": command_line("parity", argv),
        "machine": machine_info(threads=1),
        "quick": args.quick,
        "target_max_rel": TARGET,
        "shared_data": str(Path("../shared/data")) if SHARED.exists() else None,
        "datasets": {},
    }
    for name, (X_train, y_train, X_test, structure) in datasets(args.quick).items():
        r = measure(name, X_train, y_train, X_test, structure, args.quick)
        report["datasets"][name] = r
        print(f"{name}: logits {r['logit_range'][0]:.2f}..{r['logit_range'][1]:.2f}")
        for side in ("vs_estimator", "vs_encoded", "vs_exact"):
            for path, e in r[side].items():
                print(
                    f"  {path:10s} {side:13s} max rel {e['max_rel']:.2e}"
                    f"  normwise {e['normwise']:.2e}"
                )
    stamp_loadavg_end(report["machine"])
    write_json(args.out, report)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
