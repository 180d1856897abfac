"""Table 2 and Fig. 2 of DeepLight (WSDM'21) on the real Criteo and Avazu rows.

Data (never copied into the repository): ``../shared/data`` of the checkout,
or ``$DEEPLIGHT_DATA``.

- Criteo: ``criteo/train_head9999.txt``, time split (first 8,000 rows train,
  last 1,999 test); ``FieldEncoder(numeric_transform="criteo",
  min_frequency=8)`` fitted on the training rows only (the reference code
  counts frequencies over train+test; we do not look at the test rows).
- Avazu: ``avazu/train_head8999.csv`` without ``id`` and ``hour``, random
  80/20 split (seed 0); ``FieldEncoder(min_frequency=5)`` on the train rows.

Table 2: the seven models dense (LR, FM, FwFM, DeepFM, NFM, xDeepFM,
DeepFwFM), *small* networks (embedding 10, DNN 128x3, CIN 32x32, dropout
0.5, Adam lr 1e-3, batch 256, 3 epochs, no validation split), repeated over
seeds (mean and std of test AUC and logloss). Latency per sample at batch 1
and throughput at batch 4096 of ``predict_proba`` of the estimator (torch)
and of its sparse predictor ``est.to_sparse()``, one thread, seed 0 model,
on float64 numpy rows (fitted on the same arrays; no pandas in the timed
path).

Fig. 2: the learnt field-pair matrix R of DeepFwFM, dense and pruned with
``DeepLightPruning(dnn=0.9, field_pairs=0.9)``, with field names.

Usage::

    python -m benchmarks table2 [--quick]

Writes ``benchmarks/results/paper_tables.json`` (``--quick``:
``paper_tables_quick.json.tmp``, git-ignored).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
MODELS = ("LR", "FM", "FwFM", "DeepFM", "NFM", "XDeepFM", "DeepFwFM")
SMALL = {
    "embedding_dim": 10,
    "hidden_units": (128, 128, 128),
    "dropout": 0.5,
    "cin_layer_sizes": (32, 32),
    "lr": 1e-3,
    "l2": 3e-7,
    "batch_size": 256,
    "max_epochs": 3,
}


def data_dir() -> Path:
    env = os.environ.get("DEEPLIGHT_DATA")
    return Path(env) if env else ROOT.parent / "shared" / "data"


def have_data() -> bool:
    d = data_dir()
    return (d / "criteo" / "train_head9999.txt").exists() and (
        d / "avazu" / "train_head8999.csv"
    ).exists()


def load_real(name: str, quick: bool = False) -> dict:
    """Encoded train/test frames of one data set, as described above."""
    from sklearn.model_selection import train_test_split

    from sklearn_deeplight import FieldEncoder
    from sklearn_deeplight.datasets import load_avazu, load_criteo

    d = data_dir()
    if name == "criteo":
        X, y = load_criteo(d / "criteo" / "train_head9999.txt")
        n_train = 8000
        if quick:  # keep the time order, fewer rows
            X, y, n_train = X.iloc[-2500:], y[-2500:], 2000
        Xtr, Xte = X.iloc[:n_train], X.iloc[n_train:]
        ytr, yte = y[:n_train], y[n_train:]
        enc = FieldEncoder(numeric_transform="criteo", min_frequency=8)
        split = f"time split: first {n_train} rows train, last {len(X) - n_train} test"
    elif name == "avazu":
        X, y = load_avazu(d / "avazu" / "train_head8999.csv")
        if quick:
            X, y = X.iloc[:2500], y[:2500]
        Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.2, random_state=0)
        enc = FieldEncoder(min_frequency=5)
        split = "random 80/20 split, seed 0 (id and hour dropped)"
    else:
        raise ValueError(name)
    Ztr = enc.fit_transform(Xtr)
    Zte = enc.transform(Xte)
    return {
        "name": name,
        "Ztr": Ztr,
        "Zte": Zte,
        "ytr": np.asarray(ytr),
        "yte": np.asarray(yte),
        "field_dims": [int(v) for v in enc.field_dims_],
        "numeric_fields": [str(Ztr.columns[i]) for i in enc.numeric_fields_],
        "info": {
            "split": split,
            "encoder": repr(enc),
            "n_train": len(Ztr),
            "n_test": len(Zte),
            "n_fields": Ztr.shape[1],
            "embedding_rows": int(np.sum(enc.field_dims_)),
            "click_rate_test": float(np.mean(yte)),
        },
    }


def machine_info(threads: int = 1) -> dict:
    import torch

    return {
        "platform": platform.platform(),
        "processor": platform.processor(),
        "cpu_count": os.cpu_count(),
        "threads": threads,
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "numpy": np.__version__,
        "loadavg_start": list(os.getloadavg()),
    }


def time_calls(fn, inputs, min_s: float = 0.2, reps: int = 5) -> dict:
    """Median seconds per call over ``reps`` chunks of >= ``min_s`` of calls.

    Wall clock and the calling thread's CPU time (which leaves out waiting
    for a core on a shared machine).
    """
    fn(inputs[0])
    walls, cpus, i = [], [], 0
    for _ in range(reps):
        calls = 0
        c0, t0 = time.thread_time(), time.perf_counter()
        while True:
            fn(inputs[i % len(inputs)])
            i += 1
            calls += 1
            el = time.perf_counter() - t0
            if el >= min_s:
                break
        walls.append(el / calls)
        cpus.append((time.thread_time() - c0) / calls)
    return {"wall_s": statistics.median(walls), "cpu_s": statistics.median(cpus)}


def latency_pair(fn, Z, quick: bool) -> dict:
    """Per-sample latency at batch 1 and throughput at batch 4096."""
    n1 = min(len(Z), 64)
    rows = [Z[i : i + 1] for i in range(n1)]
    big = Z[np.arange(4096) % len(Z)]
    min_s, reps = (0.02, 2) if quick else (0.3, 5)
    b1 = time_calls(fn, rows, min_s, reps)
    b4096 = time_calls(fn, [big], min_s, reps)
    return {
        "batch1_latency_us": b1["wall_s"] * 1e6,
        "batch1_latency_cpu_us": b1["cpu_s"] * 1e6,
        "batch4096_rows_per_s": 4096 / b4096["wall_s"],
        "batch4096_rows_per_s_cpu": 4096 / b4096["cpu_s"],
    }


def make_model(name: str, seed: int, **over):
    import sklearn_deeplight as sd

    cls = getattr(sd, f"{name}Classifier")
    params = dict(SMALL, **over)
    keep = {k: v for k, v in params.items() if k in cls().get_params()}
    return cls(random_state=seed, validation_fraction=None, **keep)


def as_array(ds: dict):
    """The encoded frames as float64 arrays (the serving path: no pandas) and
    the positions of the numeric fields."""
    cols = list(ds["Ztr"].columns)
    num = [cols.index(c) for c in ds["numeric_fields"]] or None
    return (
        ds["Ztr"].to_numpy(np.float64),
        ds["Zte"].to_numpy(np.float64),
        num,
    )


def scores(y, p) -> dict:
    from sklearn.metrics import log_loss, roc_auc_score

    return {"auc": float(roc_auc_score(y, p)), "logloss": float(log_loss(y, p))}


def mean_std(vals) -> dict:
    vals = [float(v) for v in vals]
    sd = statistics.stdev(vals) if len(vals) > 1 else 0.0
    return {"mean": statistics.mean(vals), "std": sd, "values": vals}


def table2(ds: dict, seeds, quick: bool) -> dict:
    out = {}
    Xtr, Xte, num = as_array(ds)
    for name in MODELS:
        runs, fitted = [], None
        for seed in seeds:
            est = make_model(name, seed, numeric_fields=num)
            t0 = time.perf_counter()
            est.fit(Xtr, ds["ytr"])
            fit_s = time.perf_counter() - t0
            p = est.predict_proba(Xte)[:, 1]
            runs.append(dict(scores(ds["yte"], p), fit_s=fit_s, seed=seed))
            if fitted is None:
                fitted = est
        n_params = int(sum(p.numel() for p in fitted.module_.parameters()))
        pred = fitted.to_sparse()
        lat = {
            "estimator": latency_pair(fitted.predict_proba, Xte, quick),
            "sparse_predictor": latency_pair(pred.predict_proba, Xte, quick),
        }
        out[name] = {
            "auc": mean_std(r["auc"] for r in runs),
            "logloss": mean_std(r["logloss"] for r in runs),
            "fit_s": mean_std(r["fit_s"] for r in runs),
            "n_params": n_params,
            "latency": lat,
            "runs": runs,
        }
        a = out[name]["auc"]
        print(
            f"[{ds['name']}] {name}: AUC {a['mean']:.4f}±{a['std']:.4f} "
            f"params {n_params:,} b1 est "
            f"{lat['estimator']['batch1_latency_us']:.0f}us sparse "
            f"{lat['sparse_predictor']['batch1_latency_us']:.0f}us",
            flush=True,
        )
    return out


def fig2(ds: dict, seeds, quick: bool) -> dict:
    """R of DeepFwFM, dense and pruned (D-90% R-90%), with AUC over seeds."""
    from sklearn_deeplight import DeepLightPruning

    out = {"structure_pruned": "D-90% & R-90% & F-0%"}
    for kind in ("dense", "pruned"):
        runs, R = [], None
        for seed in seeds:
            cb = []
            if kind == "pruned":
                cb = [
                    (
                        "prune",
                        DeepLightPruning(
                            dnn=0.9,
                            field_pairs=0.9,
                            warm_up_epochs=1,
                            damping_steps="auto",
                        ),
                    )
                ]
            est = make_model("DeepFwFM", seed, callbacks=cb)
            est.fit(ds["Ztr"], ds["ytr"])
            p = est.predict_proba(ds["Zte"])[:, 1]
            runs.append(scores(ds["yte"], p))
            if R is None:
                R = est.field_pair_importance()
        out[kind] = {
            "auc": mean_std(r["auc"] for r in runs),
            "logloss": mean_std(r["logloss"] for r in runs),
            "fields": [str(c) for c in R.columns],
            "R": np.round(R.to_numpy(), 5).tolist(),
            "R_seed": int(seeds[0]),
        }
    return out


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    name = "paper_tables_quick.json.tmp" if args.quick else "paper_tables.json"
    out = Path(args.out) if args.out else RESULTS / name
    warnings.filterwarnings("ignore")
    if not have_data():
        print(f"no data under {data_dir()}: skipping paper_tables", flush=True)
        return {}
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    seeds = [0] if args.quick else list(range(args.seeds))
    t_all = time.perf_counter()
    report = {
        "benchmark": "paper_tables",
        "quick": args.quick,
        "command": "python -m benchmarks table2" + (" --quick" if args.quick else ""),
        "config": {k: list(v) if isinstance(v, tuple) else v for k, v in SMALL.items()},
        "seeds": seeds,
        "machine": machine_info(1),
        "datasets": {},
    }
    with threadpool_limits(1):
        for dname in ("criteo", "avazu"):
            ds = load_real(dname, args.quick)
            res = {"data": ds["info"], "numeric_fields": ds["numeric_fields"]}
            res["table2"] = table2(ds, seeds, args.quick)
            if dname == "criteo":
                res["fig2"] = fig2(ds, seeds, args.quick)
            report["datasets"][dname] = res
    report["machine"]["loadavg_end"] = list(os.getloadavg())
    report["total_seconds"] = round(time.perf_counter() - t_all, 1)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1))
    print(f"wrote {out} in {report['total_seconds']}s", flush=True)
    return report


if __name__ == "__main__":
    main()
