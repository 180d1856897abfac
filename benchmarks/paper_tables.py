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

Generated Criteo-shaped rows (``make_ctr_classification``, 100k rows: 90k
train / 10k test; ``--quick``: 4k), parts ``gen-table2``, ``gen-table45``,
``gen-table6``:

- Table 2 again, the small networks at batch 2,048 with ``embedding_l2=1e-3``
  (as the pruning sweep), 3 epochs, seeds 0-2, plus the dense torch forward
  against the sparse predictor's kernel on indexed rows.
- Table 5: DeepFwFM with DNN 400x3 (N-400) at the paper's high-performance,
  low-memory and low-latency structures (seeds 0-2): AUC, parameter and byte
  savings, speed-ups at batch 1 and 4096 against the dense torch forwards and
  the paper-style ratio (``sparse_latency.paper_measure``).
- Table 4: D-90% / D-99% of N-400 against dense N-X with as many DNN
  parameters, F-40% / F-80% of k=10 against dense E-6 / E-2 (seeds 0-1).
- Latency against sparsity (Figs. 4-6): the seed-0 dense N-400 magnitude-
  pruned once to each structure of the pruning sweep.
- Table 6: sparse DeepFM, NFM (D-98% F-40%), xDeepFM (D-99% C-99% F-40%) and
  DeepLight (D-99% R-95% F-40%), small networks, seeds 0-1.

The full run took 4 min (real rows) + 43.5 min (generated rows) on a shared
2-core box, one thread.

Usage::

    python -m benchmarks table2 [--quick] [--parts real,gen-table2,...]

Writes ``benchmarks/results/paper_tables.json`` (``--quick``:
``paper_tables_quick.json.tmp``, git-ignored).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import warnings
from pathlib import Path

import numpy as np

from ._common import (
    RESULTS,
    ROOT,
    machine_info,
    read_json,
    stamp_loadavg_end,
    summarize_rounds,
    time_calls,
    time_rounds,
    write_json,
)

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
    keep.setdefault("validation_fraction", None)
    return cls(random_state=seed, **keep)


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


# Fig. 2 trains dense and pruned DeepFwFM to convergence, as the library
# recommends for pruning: early stopping and LR decay on a validation split
# (the estimators' patience counts epochs at full sparsity only).
FIG2_TRAINING = dict(max_epochs=15, validation_fraction=0.1, patience=2, lr_patience=1)


def fig2(ds: dict, seeds, quick: bool) -> dict:
    """R of DeepFwFM, dense and pruned (D-90% R-90%), with AUC over seeds."""
    from sklearn_deeplight import DeepLightPruning

    targets = {"dnn": 0.9, "field_pairs": 0.9}
    out = {
        "structure_pruned": structure_name(targets),
        # every parameter of the callback the run used (the library's
        # defaults but for the targets), for the report's caption
        "pruning_params": DeepLightPruning(**targets).get_params(),
        "estimator_params": {
            k: list(v) if isinstance(v, tuple) else v
            for k, v in dict(SMALL, **FIG2_TRAINING).items()
            if k != "cin_layer_sizes"
        },
    }
    for kind in ("dense", "pruned"):
        runs, R = [], None
        for seed in seeds:
            cb = []
            if kind == "pruned":
                cb = [("prune", DeepLightPruning(**targets))]
            est = make_model("DeepFwFM", seed, callbacks=cb, **FIG2_TRAINING)
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


# ---------------------------------------------------------------------------
# Generated Criteo-shaped data: Table 2, Tables 4-6, latency against sparsity
# ---------------------------------------------------------------------------
GEN_ROWS = 100_000
GEN_ROWS_QUICK = 4_000
# Table 2 / Table 6 on generated rows: the small networks of SMALL at the
# paper's batch 2,048, with the pruning sweep's embedding penalty (the
# generator's signal sits in rare values; without it DeepFwFM overfits from
# the second epoch, see pruning_sweep.py).
GEN = dict(SMALL, batch_size=2048, embedding_l2=1e-3)
# Tables 4 and 5: DeepFwFM with the paper's DNN 400x3 (N-400), k = 10.
BIG_HIDDEN = 400
TABLE5 = {
    "high performance": {"dnn": 0.9, "field_pairs": 0.9, "embeddings": 0.4},
    "low memory": {"dnn": 0.9, "field_pairs": 0.9, "embeddings": 0.9},
    "low latency": {"dnn": 0.99, "field_pairs": 0.95, "embeddings": 0.4},
}
TABLE6 = {
    "DeepFM": {"dnn": 0.98, "embeddings": 0.4},
    "NFM": {"dnn": 0.98, "embeddings": 0.4},
    "XDeepFM": {"dnn": 0.99, "cin": 0.99, "embeddings": 0.4},
    "DeepFwFM": {"dnn": 0.99, "field_pairs": 0.95, "embeddings": 0.4},
}
# Latency against sparsity (Figs. 4-6): the structures of the pruning sweep.
SWEEP = {
    "fig4": [{"dnn": s} for s in (0.0, 0.5, 0.8, 0.9, 0.95, 0.98, 0.99)],
    "fig5": [{"dnn": 0.99, "field_pairs": s} for s in (0.0, 0.5, 0.8, 0.9, 0.95, 0.98)],
    "fig6": [{"embeddings": s} for s in (0.0, 0.2, 0.4, 0.6, 0.8, 0.9)],
}
SWEEP_QUICK = {
    "fig4": [{"dnn": 0.0}, {"dnn": 0.9}],
    "fig5": [{"dnn": 0.99, "field_pairs": 0.9}],
    "fig6": [{"embeddings": 0.4}],
}


def _pruning_defaults() -> dict:
    """The schedule parameters of ``DeepLightPruning(**targets)`` (defaults)."""
    from sklearn_deeplight import DeepLightPruning

    params = DeepLightPruning().get_params()
    return {
        k: v
        for k, v in params.items()
        if k not in ("dnn", "field_pairs", "embeddings", "cin")
    }


def structure_name(t: dict) -> str:
    """The paper's label, e.g. ``D-90% & R-90% & F-40%`` (C for the CIN)."""
    parts = [
        f"{letter}-{100 * t[c]:g}%"
        for c, letter in (
            ("dnn", "D"),
            ("field_pairs", "R"),
            ("cin", "C"),
            ("embeddings", "F"),
        )
        if c in t
    ]
    return " & ".join(parts) if parts else "dense"


def load_generated(quick: bool) -> dict:
    """Criteo-shaped rows of ``make_ctr_classification`` (13 numeric and 26
    categorical fields), preprocessed as the pruning sweep (and the authors'
    Criteo script): numeric log transform, rare categorical values (< 8 in
    the training rows) share one code; the last 10% of the rows are the test
    split. Returned as float64 arrays (the serving path, no pandas)."""
    from .pruning_sweep import make_data

    n = GEN_ROWS_QUICK if quick else GEN_ROWS
    t0 = time.perf_counter()
    Xtr, ytr, Xte, yte = make_data(n, seed=0)
    cols = list(Xtr.columns)
    num = [i for i, c in enumerate(cols) if c.startswith("I")]
    rows = len(num) + int(
        sum(int(Xtr[c].max()) + 2 for c in cols if not c.startswith("I"))
    )
    return {
        "Xtr": Xtr.to_numpy(np.float64),
        "ytr": np.asarray(ytr),
        "Xte": Xte.to_numpy(np.float64),
        "yte": np.asarray(yte),
        "num": num,
        "info": {
            "generator": "sklearn_deeplight.datasets.make_ctr_classification("
            f"{n}, categorical_values='int', random_state=0)",
            "preprocessing": "benchmarks.pruning_sweep.make_data (numeric "
            "floor(log(x)^2) for x > 2, categorical values seen < 8 times in "
            "the training rows share one code), last 10% of rows = test",
            "n_train": len(Xtr),
            "n_test": len(Xte),
            "n_fields": len(cols),
            "embedding_rows_approx": rows,
            "click_rate_test": float(np.mean(yte)),
            "seconds": round(time.perf_counter() - t0, 2),
        },
    }


def fit_gen(name: str, seed: int, data: dict, targets=None, **over):
    """Fit one model on the generated rows; with ``targets``, under
    ``DeepLightPruning(**targets)``, the library's defaults."""
    import torch

    from sklearn_deeplight import DeepLightPruning

    cb = None
    if targets:
        cb = [("prune", DeepLightPruning(**targets))]
    params = dict(GEN, **over)
    est = make_model(name, seed, numeric_fields=data["num"], callbacks=cb, **params)
    t0, c0 = time.perf_counter(), time.thread_time()
    est.fit(data["Xtr"], data["ytr"])
    fit_s, fit_cpu = time.perf_counter() - t0, time.thread_time() - c0
    p = est.predict_proba(data["Xte"])[:, 1]
    params_all = list(est.module_.parameters())
    rec = dict(
        scores(data["yte"], p),
        seed=seed,
        fit_s=round(fit_s, 2),
        fit_cpu_s=round(fit_cpu, 2),
        total_params=int(sum(q.numel() for q in params_all)),
        nonzero_params=int(sum(int(torch.count_nonzero(q)) for q in params_all)),
    )
    if targets:
        rep = est.sparsity_report()
        rec["achieved"] = {c: float(rep.loc[c, "sparsity"]) for c in rep.index}
    return est, rec


def summarize_runs(runs: list[dict]) -> dict:
    out = {
        k: mean_std(r[k] for r in runs)
        for k in ("auc", "logloss", "fit_s", "fit_cpu_s")
    }
    last = runs[0]
    out["total_params"] = last["total_params"]
    out["nonzero_params"] = last["nonzero_params"]
    if "achieved" in last:
        out["achieved"] = last["achieved"]
    out["runs"] = runs
    return out


def _timing_budget(quick: bool) -> dict:
    return (
        {"rounds": 1, "min_chunk_s": 0.01, "reps": 1}
        if quick
        else {"rounds": 5, "min_chunk_s": 0.1, "reps": 3}
    )


def indexed_latency(pred, Xte, quick: bool, dense=None, lean: bool = False) -> dict:
    """Interleaved per-round timing on already indexed rows, one thread.

    ``sparse``: ``pred.decision_function_indexed`` (numba kernels). With
    ``dense`` (a fitted estimator): its torch module's forward on the same
    indexed rows (``torch``), and for DeepFwFM with ``lean`` the lean dense
    torch forward of ``benchmarks/sparse_latency.py`` (``torch_lean``, the
    notes' baseline). Speed-ups are medians of per-round ratios; times per
    sample (batch 1) and rows/s (batch 4096), wall clock and thread CPU time.
    """
    import torch

    from .sparse_latency import lean_forward

    idx = np.arange(4096) % len(Xte)
    xi, xv = pred.index_input(Xte[idx])
    impls = {"sparse": (pred.decision_function_indexed, "x")}
    if dense is not None:
        module = dense.module_
        module.eval()

        def fwd(a, b):
            with torch.inference_mode():
                return module(torch.from_numpy(a), torch.from_numpy(b)).numpy()

        impls["torch"] = (fwd, "x")
        if lean:
            impls["torch_lean"] = (lean_forward(module), "x")
    tb = _timing_budget(quick)
    out = {}
    for label, pool in (
        ("batch1", [(xi[i : i + 1], xv[i : i + 1]) for i in range(256)]),
        ("batch4096", [(xi, xv)]),
    ):
        base = "torch" if "torch" in impls else "sparse"
        lean_name = "torch_lean" if "torch_lean" in impls else None
        times = time_rounds(
            impls, {"x": pool}, tb["rounds"], tb["min_chunk_s"], tb["reps"]
        )
        s = summarize_rounds(times, base, lean_name)
        n = 1 if label == "batch1" else 4096
        res = {}
        for name, clocks in s.items():
            r = {}
            for clock in ("wall", "cpu"):
                c = clocks[clock]
                if n == 1:
                    r[f"us_per_sample_{clock}"] = c["median_s"] * 1e6
                else:
                    r[f"rows_per_s_{clock}"] = n / c["median_s"]
                if name == "sparse" and dense is not None:
                    r[f"speedup_vs_torch_{clock}"] = c["speedup_vs_torch"]
                    if lean_name:
                        r[f"speedup_vs_torch_lean_{clock}"] = c["speedup_vs_torch_lean"]
            res[name] = r
        out[label] = res
    return out


def paper_style(dense_est, sparse_est, quick: bool) -> dict:
    """The paper's measure (batch 1, one scalar per-sample kernel both sides,
    the dense model as CSR at density 1): ``sparse_latency.paper_measure``."""
    from .sparse_latency import paper_measure

    tb = _timing_budget(quick)
    return paper_measure(
        dense_est, sparse_est, tb["rounds"], tb["min_chunk_s"], tb["reps"]
    )


def sizes(est, pred) -> dict:
    """Bytes: the torch state_dict (dense storage) and the saved sparse
    predictor (float32 and float16 embeddings)."""
    from .sparse_latency import saved_bytes, state_dict_bytes

    sd_bytes = state_dict_bytes(est.module_)
    p32 = saved_bytes(pred)
    p16 = saved_bytes(est.to_sparse(dtype="float16"))
    return {
        "state_dict_bytes": sd_bytes,
        "predictor_float32_bytes": p32,
        "predictor_float16_bytes": p16,
        "saving_float32": sd_bytes / p32,
        "saving_float16": sd_bytes / p16,
        "predictor_n_params": {k: int(v) for k, v in pred.n_params_.items()},
    }


def gen_table2(data: dict, seeds, quick: bool, keep=()) -> tuple[dict, dict]:
    """The seven models dense on the generated rows (GEN config)."""
    out, kept = {}, {}
    for name in MODELS:
        runs, fitted = [], None
        for seed in seeds:
            est, rec = fit_gen(name, seed, data)
            runs.append(rec)
            fitted = fitted or est
        pred = fitted.to_sparse()
        r = summarize_runs(runs)
        r["latency_api"] = {
            "estimator": latency_pair(fitted.predict_proba, data["Xte"], quick),
            "sparse_predictor": latency_pair(pred.predict_proba, data["Xte"], quick),
        }
        r["latency_indexed"] = indexed_latency(
            pred, data["Xte"], quick, dense=fitted, lean=name == "DeepFwFM"
        )
        out[name] = r
        if name in keep:
            kept[name] = fitted
        print(
            f"[generated] {name}: AUC {r['auc']['mean']:.4f}±{r['auc']['std']:.4f} "
            f"fit {r['fit_s']['mean']:.0f}s",
            flush=True,
        )
    return out, kept


def n_x_width(nonzero_dnn: int, d_in: int) -> int:
    """Width X of a dense 3-layer DNN (d_in -> X -> X -> X -> 1, biases
    included) with about ``nonzero_dnn`` parameters (the paper's N-X)."""
    # 2 X^2 + (d_in + 4) X + 1 = nonzero_dnn
    b = d_in + 4
    return max(1, round((-b + (b * b + 8 * (nonzero_dnn - 1)) ** 0.5) / 4))


def gen_table45(data: dict, seeds5, seeds4, quick: bool) -> dict:
    """DeepFwFM N-400 (k = 10): Table 5's three structures; Table 4's pruned
    DNN (D-X) against dense N-X of the same DNN parameter count, and pruned
    embeddings (F-X) against dense E-X of the same embedding count."""
    n_fields = data["Xtr"].shape[1]
    H, k = BIG_HIDDEN, GEN["embedding_dim"]
    d_in = n_fields * k
    dnn_total = d_in * H + 2 * H * H + 3 * H + H + 1  # hidden W, biases, out
    hidden_w = d_in * H + 2 * H * H
    big = {"hidden_units": (H, H, H)}
    d_rates = [0.9] if quick else [0.9, 0.99]
    f_rates = [0.4] if quick else [0.4, 0.8]
    rows = {"dense N-400 / E-10": ({}, big)}
    for name, t in TABLE5.items():
        rows[f"Table 5 {name}: {structure_name(t)}"] = (t, big)
    t4 = []
    for d in d_rates:
        nz = round((1 - d) * hidden_w) + (dnn_total - hidden_w)
        x = n_x_width(nz, d_in)
        a, b = f"D-{100 * d:g}%", f"N-{x}"
        rows[a] = ({"dnn": d}, big)
        rows[b] = ({}, {"hidden_units": (x, x, x)})
        t4.append({"pruned": a, "small_dense": b, "dnn_params_pruned": nz})
    for f in f_rates:
        e = max(1, round((1 - f) * k))
        a, b = f"F-{100 * f:g}%", f"E-{e}"
        rows[a] = ({"embeddings": f}, big)
        rows[b] = ({}, dict(big, embedding_dim=e))
        t4.append({"pruned": a, "small_dense": b})
    t5_rows = {"dense N-400 / E-10"} | {r for r in rows if r.startswith("Table 5")}
    results, models = {}, {}
    for label, (targets, over) in rows.items():
        seeds = seeds5 if label in t5_rows else seeds4
        runs = []
        for seed in seeds:
            est, rec = fit_gen("DeepFwFM", seed, data, targets or None, **over)
            runs.append(rec)
            if seed == seeds[0]:
                models[label] = est
        results[label] = dict(
            summarize_runs(runs),
            targets=targets,
            hidden_units=list(over["hidden_units"]),
            embedding_dim=over.get("embedding_dim", k),
        )
        a = results[label]["auc"]
        print(
            f"[generated N-400] {label}: AUC {a['mean']:.4f}±{a['std']:.4f} "
            f"nonzero {results[label]['nonzero_params']:,}",
            flush=True,
        )
    dense = models["dense N-400 / E-10"]
    for label, est in models.items():
        pred = est.to_sparse()
        results[label]["latency_indexed"] = indexed_latency(
            pred, data["Xte"], quick, dense=dense, lean=True
        )
        # Against its own dense torch forward too (small N-X / E-X models).
        if est is not dense and not results[label]["targets"]:
            results[label]["latency_indexed_own_torch"] = indexed_latency(
                pred, data["Xte"], quick, dense=est, lean=True
            )
        results[label]["size"] = sizes(est, pred)
        if est is not dense and results[label]["targets"]:
            results[label]["paper_style_batch1"] = paper_style(dense, est, quick)
    return {
        "config": {
            "hidden_units": [H, H, H],
            "embedding_dim": k,
            "dnn_params_dense": dnn_total,
            "pruning": _pruning_defaults(),
        },
        "seeds_table5": list(seeds5),
        "seeds_table4": list(seeds4),
        "table4_pairs": t4,
        "table5": {
            name: f"Table 5 {name}: {structure_name(t)}" for name, t in TABLE5.items()
        },
        "results": results,
    }, dense


def one_shot_prune(est, targets: dict):
    """A copy of ``est`` magnitude-pruned once to ``targets`` (no training)."""
    import copy

    from sklearn_deeplight import DeepLightPruning

    est = copy.deepcopy(est)
    cb = DeepLightPruning(**targets).initialize()
    cb.groups_ = cb._resolve(est)
    cb._prune(est, final=True)
    return est


def latency_sweep(dense, data: dict, quick: bool) -> dict:
    """Latency against sparsity: the seed-0 dense N-400 DeepFwFM, magnitude-
    pruned once (no fine-tuning) to each structure of Figs. 4-6, timed as
    ``indexed_latency`` against the dense torch forwards. Latency depends on
    the structure (which weights are nonzero), not on how well the weights
    were trained; the AUC of trained pruned models is in the pruning sweep
    and Tables 4-6."""
    sweeps = SWEEP_QUICK if quick else SWEEP
    out = {"experiments": {}, "results": {}}
    for exp, sweep in sweeps.items():
        out["experiments"][exp] = []
        for t in sweep:
            full = {
                c: float(t.get(c, 0.0)) for c in ("dnn", "field_pairs", "embeddings")
            }
            label = structure_name(full)
            out["experiments"][exp].append(label)
            if label in out["results"]:
                continue
            est = one_shot_prune(dense, {c: v for c, v in full.items() if v})
            pred = est.to_sparse()
            p = est.predict_proba(data["Xte"])[:, 1]
            out["results"][label] = {
                "targets": full,
                "auc_one_shot": scores(data["yte"], p)["auc"],
                "predictor_n_params": {k: int(v) for k, v in pred.n_params_.items()},
                "latency_indexed": indexed_latency(
                    pred, data["Xte"], quick, dense=dense, lean=True
                ),
            }
            b = out["results"][label]["latency_indexed"]
            print(
                f"[latency sweep] {label}: b1 "
                f"{b['batch1']['sparse']['us_per_sample_cpu']:.1f}us "
                f"x{b['batch1']['sparse']['speedup_vs_torch_lean_cpu']:.1f}",
                flush=True,
            )
    return out


def gen_table6(data: dict, seeds, quick: bool, dense_models: dict) -> dict:
    """Sparse DeepFM, NFM, xDeepFM and DeepLight at the paper's Table 6
    structures, GEN config (small networks), against their dense seed-0
    counterparts of the generated Table 2."""
    out = {}
    for name, t in TABLE6.items():
        runs, fitted = [], None
        for seed in seeds:
            est, rec = fit_gen(name, seed, data, t)
            runs.append(rec)
            fitted = fitted or est
        r = dict(summarize_runs(runs), structure=structure_name(t), targets=t)
        pred = fitted.to_sparse()
        dense = dense_models.get(name)
        r["latency_indexed"] = indexed_latency(
            pred, data["Xte"], quick, dense=dense, lean=name == "DeepFwFM"
        )
        r["size"] = sizes(fitted, pred)
        if dense is not None:
            r["paper_style_batch1"] = paper_style(dense, fitted, quick)
        out[name] = r
        print(
            f"[table6] {name} {r['structure']}: AUC "
            f"{r['auc']['mean']:.4f}±{r['auc']['std']:.4f}",
            flush=True,
        )
    return out


def generated(seeds, quick: bool, parts, save) -> dict:
    """All generated-data parts; ``save(gen)`` after each one."""
    t0 = time.perf_counter()
    data = load_generated(quick)
    gen = {
        "data": data["info"],
        "config": {k: list(v) if isinstance(v, tuple) else v for k, v in GEN.items()},
        "seeds": list(seeds),
        "machine": machine_info(1),
        "seconds": {},
    }
    dense6 = {}
    if "gen-table2" in parts:
        t = time.perf_counter()
        gen["table2"], dense6 = gen_table2(data, seeds, quick, keep=tuple(TABLE6))
        gen["seconds"]["table2"] = round(time.perf_counter() - t, 1)
        save(gen)
    if "gen-table45" in parts:
        t = time.perf_counter()
        seeds4 = seeds[:2]
        gen["table45"], dense400 = gen_table45(data, seeds, seeds4, quick)
        gen["seconds"]["table45"] = round(time.perf_counter() - t, 1)
        save(gen)
        t = time.perf_counter()
        gen["latency_sweep"] = latency_sweep(dense400, data, quick)
        gen["seconds"]["latency_sweep"] = round(time.perf_counter() - t, 1)
        save(gen)
        del dense400
    if "gen-table6" in parts:
        t = time.perf_counter()
        if not dense6:  # Table 2 not run now: fit the dense seed-0 baselines
            dense6 = {name: fit_gen(name, seeds[0], data)[0] for name in TABLE6}
        gen["table6"] = gen_table6(data, seeds[:2], quick, dense6)
        gen["seeds_table6"] = list(seeds[:2])
        gen["seconds"]["table6"] = round(time.perf_counter() - t, 1)
        save(gen)
    stamp_loadavg_end(gen["machine"])
    gen["total_seconds"] = round(time.perf_counter() - t0, 1)
    save(gen)
    return gen


PARTS = ("real", "gen-table2", "gen-table45", "gen-table6")


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument(
        "--parts",
        default=",".join(PARTS),
        help=f"comma-separated subset of {PARTS}; a subset updates those keys "
        "of an existing output file and keeps the others",
    )
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    if set(parts) - set(PARTS):
        parser.error(f"unknown parts {sorted(set(parts) - set(PARTS))}")
    name = "paper_tables_quick.json.tmp" if args.quick else "paper_tables.json"
    out = Path(args.out) if args.out else RESULTS / name
    warnings.filterwarnings("ignore")
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    seeds = [0] if args.quick else list(range(args.seeds))
    cmd = "python -m benchmarks table2" + (" --quick" if args.quick else "")
    # a subset of the parts updates those keys of an existing file
    report = read_json(out) if set(parts) != set(PARTS) else {}
    report.update({"benchmark": "paper_tables", "quick": args.quick})

    def save():
        write_json(out, report)

    with threadpool_limits(1):
        if "real" in parts and not have_data():
            print(f"no data under {data_dir()}: skipping the real rows", flush=True)
        elif "real" in parts:
            t_all = time.perf_counter()
            report.update(
                {
                    "command": cmd,
                    "config": {
                        k: list(v) if isinstance(v, tuple) else v
                        for k, v in SMALL.items()
                    },
                    "seeds": seeds,
                    "machine": machine_info(1),
                    "datasets": {},
                }
            )
            for dname in ("criteo", "avazu"):
                ds = load_real(dname, args.quick)
                res = {"data": ds["info"], "numeric_fields": ds["numeric_fields"]}
                res["table2"] = table2(ds, seeds, args.quick)
                if dname == "criteo":
                    res["fig2"] = fig2(ds, seeds, args.quick)
                report["datasets"][dname] = res
            stamp_loadavg_end(report["machine"])
            report["total_seconds"] = round(time.perf_counter() - t_all, 1)
            save()
        gen_parts = [p for p in parts if p.startswith("gen-")]
        if gen_parts:
            gen_cmd = cmd + (
                "" if set(parts) == set(PARTS) else f" --parts {','.join(parts)}"
            )

            previous = report.get("generated") or {}

            def save_gen(gen):
                # keep the parts of an earlier run that this one does not redo
                merged = dict(previous, **gen)
                merged["seconds"] = dict(previous.get("seconds", {}), **gen["seconds"])
                merged["commands"] = dict(
                    previous.get("commands", {}), **dict.fromkeys(gen_parts, gen_cmd)
                )
                merged["command"] = "; ".join(
                    dict.fromkeys(merged["commands"].values())
                )
                merged["total_seconds"] = round(sum(merged["seconds"].values()), 1)
                report["generated"] = merged
                save()

            generated(seeds, args.quick, gen_parts, save_gen)
    print(f"wrote {out}", flush=True)
    return report


if __name__ == "__main__":
    main()
