"""What recovers the dense AUC under DeepLight pruning (issue: pruning that
keeps the dense model's AUC under the defaults, at every data size).

Trains :class:`~sklearn_deeplight.DeepFwFMClassifier` dense and pruned on the
real Criteo rows (time split 8,000 / 1,999), the Avazu rows (random 80/20)
and generated Criteo-shaped rows, under a set of pruning *variants* (the
library's defaults, and one change each: warm-up length, ramp fraction (a
1-epoch ramp of the 8 pruning epochs, 2.3 epochs as the default, 4 epochs), the
paper's constant U = 100, persistent masks after the ramp or from the first
prune, BatchNorm in the DNN with and without masks after the ramp), for the
structures of the paper's Table 5 ("high performance" D-90% R-90% F-40%,
"low latency" D-99% R-95% F-40%) and D-99% alone. The
same model with its DNN removed (:class:`~sklearn_deeplight.FwFMClassifier`
on the same settings) is the floor a 99%-pruned DNN must not fall below.

Every fit uses the estimators' early stopping and learning-rate decay
(``patience=2``, ``lr_patience=1``, 10% validation split) and at most
``--epochs`` epochs; the dense model gets the same. For each fit the JSON
records the test AUC and logloss, the epochs run, the epoch returned, the
achieved sparsity and, for the DNN, the hidden units left without any input
weight.

Usage::

    python -m benchmarks.pruning_recovery --quick          # seconds
    python -m benchmarks.pruning_recovery                  # all data, 3 seeds
    python -m benchmarks.pruning_recovery --data criteo --variants default,masks

Writes ``benchmarks/results/pruning_recovery.json`` (``--quick``:
``pruning_recovery_quick.json.tmp``) after every fit and prints a table of
mean test AUC per variant and structure, with the difference to dense.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from pathlib import Path

import numpy as np

from ._common import (
    RESULTS,
    command_line,
    machine_info,
    merge_results,
    stamp_loadavg_end,
    write_json,
)
from .paper_tables import SMALL, have_data, load_real, scores

STRUCTURES = {
    "D-90% R-90% F-40%": {"dnn": 0.9, "field_pairs": 0.9, "embeddings": 0.4},
    "D-99% R-95% F-40%": {"dnn": 0.99, "field_pairs": 0.95, "embeddings": 0.4},
    "D-99%": {"dnn": 0.99},
}

#: name -> (estimator overrides, DeepLightPruning overrides). "default" is the
#: library's DeepLightPruning() with only the targets set.
VARIANTS = {
    "default": ({}, {}),
    "warm_up_2": ({}, {"warm_up_epochs": 2}),
    "ramp_0.125": ({}, {"ramp_fraction": 0.125}),
    "ramp_0.285": ({}, {"ramp_fraction": 0.285}),
    "ramp_0.5": ({}, {"ramp_fraction": 0.5}),
    "paper_U_100": ({}, {"damping_steps": 100}),
    "regrow_ramp": ({}, {"regrow": "ramp"}),
    "masks": ({}, {"regrow": False}),
    "batch_norm": ({"batch_norm": True}, {}),
    "batch_norm_regrow_ramp": ({"batch_norm": True}, {"regrow": "ramp"}),
}

# Estimator settings: the small networks of the real-data Table 2, with early
# stopping and LR decay on a 10% validation split, and more epochs for them
# to act on. Generated rows: the paper's batch and the embedding penalty the
# generator needs (see pruning_sweep.py).
BASE = dict(SMALL, max_epochs=15, validation_fraction=0.1, patience=2, lr_patience=1)
GENERATED = dict(BASE, batch_size=2048, embedding_l2=1e-3, max_epochs=10)
GEN_ROWS = 100_000


def load_generated(n: int) -> dict:
    from .pruning_sweep import make_data

    Xtr, ytr, Xte, yte = make_data(n, seed=0)
    return {
        "name": "generated",
        "Ztr": Xtr,
        "Zte": Xte,
        "ytr": np.asarray(ytr),
        "yte": np.asarray(yte),
        "numeric_fields": [c for c in Xtr.columns if str(c).startswith("I")],
        "info": {
            "generator": f"benchmarks.pruning_sweep.make_data({n}, seed=0)",
            "n_train": len(Xtr),
            "n_test": len(Xte),
        },
    }


def dead_units(est) -> list[int]:
    """Hidden units of each DNN layer with no surviving input weight."""
    dnn = getattr(est.module_, "dnn", None)
    if dnn is None:
        return []
    return [int((layer.weight.detach() == 0).all(dim=1).sum()) for layer in dnn.layers]


def fit_one(ds: dict, model: str, seed: int, est_over: dict, targets, prune_over):
    import sklearn_deeplight as sd
    from sklearn_deeplight import DeepLightPruning

    base = GENERATED if ds["name"] == "generated" else BASE
    params = dict(base, **est_over)
    cls = getattr(sd, f"{model}Classifier")
    keep = {k: v for k, v in params.items() if k in cls().get_params()}
    cb = None
    if targets:
        cb = [("prune", DeepLightPruning(**targets, **prune_over))]
    est = cls(
        random_state=seed,
        numeric_fields=list(ds["numeric_fields"]),
        callbacks=cb,
        **keep,
    )
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est.fit(ds["Ztr"], ds["ytr"])
    p = est.predict_proba(ds["Zte"])[:, 1]
    h = est.history_
    rec = dict(
        scores(ds["yte"], p),
        seed=seed,
        fit_s=round(time.perf_counter() - t0, 2),
        epochs=len(h),
        returned_epoch=h[-1].get("returned_epoch", len(h)),
        valid_auc=[round(float(r["valid_auc"]), 5) for r in h],
        one_shot_warning=any("one-shot" in str(w.message) for w in caught),
        dead_units=dead_units(est),
    )
    if targets:
        rep = est.sparsity_report()
        rec["achieved"] = {
            c: round(float(rep.loc[c, "sparsity"]), 5) for c in rep.index
        }
        rec["pruned_to_target"] = [bool(r.get("pruned_to_target")) for r in h]
    return rec


def summarize(runs: list[dict]) -> dict:
    aucs = [r["auc"] for r in runs]
    return {
        "auc_mean": statistics.mean(aucs),
        "auc_std": statistics.stdev(aucs) if len(aucs) > 1 else 0.0,
        "logloss_mean": statistics.mean(r["logloss"] for r in runs),
        "runs": runs,
    }


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="criteo,avazu,generated")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--structures", default=",".join(STRUCTURES))
    parser.add_argument("--rows", type=int, default=GEN_ROWS, help="generated rows")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    seeds = [int(s) for s in args.seeds.split(",")]
    variants = args.variants.split(",")
    structures = args.structures.split(",")
    datasets = args.data.split(",")
    rows = args.rows
    if args.quick:
        seeds, variants, rows = seeds[:1], variants[:1], 4000
        structures = structures[:1]
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        parser.error(f"unknown variants {sorted(unknown)}; known: {list(VARIANTS)}")
    out_path = (
        Path(args.out)
        if args.out
        else RESULTS
        / ("pruning_recovery_quick.json.tmp" if args.quick else "pruning_recovery.json")
    )
    # the cells of an earlier full run are kept; this run's replace theirs
    result = merge_results(
        out_path,
        dict(
            benchmark="pruning_recovery",
            command=command_line("pruning_recovery", argv),
            base_settings={
                k: list(v) if isinstance(v, tuple) else v for k, v in BASE.items()
            },
            generated_settings={
                k: list(v) if isinstance(v, tuple) else v for k, v in GENERATED.items()
            },
            variants={
                k: {"estimator": e, "pruning": p} for k, (e, p) in VARIANTS.items()
            },
            structures={k: v for k, v in STRUCTURES.items()},
            machine=machine_info(1),
        ),
        fresh=args.quick,
    )
    result.setdefault("data", {})
    t_start = time.perf_counter()

    def save():
        stamp_loadavg_end(result["machine"])
        write_json(out_path, result)

    for name in datasets:
        if name in ("criteo", "avazu"):
            if not have_data():
                print(f"[{name}] skipped: ../shared/data absent", flush=True)
                continue
            ds = load_real(name, quick=args.quick)
        else:
            ds = load_generated(rows)
        entry = result["data"].setdefault(name, {})
        entry["info"] = ds["info"]
        entry["command"] = result["command"]
        entry["seeds"] = seeds
        cells = entry.setdefault("cells", {})

        def run(key, model, est_over, targets, prune_over, ds=ds, cells=cells):
            runs = []
            for seed in seeds:
                rec = fit_one(ds, model, seed, est_over, targets, prune_over)
                runs.append(rec)
                print(
                    f"[{ds['name']}] {key} seed {seed}: AUC {rec['auc']:.4f} "
                    f"epochs {rec['epochs']} returned {rec['returned_epoch']} "
                    f"dead {rec['dead_units']} {rec['fit_s']:.1f}s",
                    flush=True,
                )
            cells[key] = summarize(runs)
            save()

        bn_variants = {VARIANTS[v][0].get("batch_norm", False) for v in variants}
        for bn in sorted(bn_variants):
            over = {"batch_norm": True} if bn else {}
            tag = " | batch_norm" if bn else ""
            run(f"dense{tag}", "DeepFwFM", over, None, {})
            if not args.quick:
                run(f"FwFM (DNN removed){tag}", "FwFM", {}, None, {})
        for v in variants:
            est_over, prune_over = VARIANTS[v]
            for s in structures:
                run(f"{s} | {v}", "DeepFwFM", est_over, STRUCTURES[s], prune_over)
    result["seconds"] = round(time.perf_counter() - t_start, 1)
    save()
    print_table(result)
    return result


def print_table(result: dict) -> None:
    for name, entry in result["data"].items():
        cells = entry["cells"]
        print(f"\n{name}: mean test AUC over seeds (difference to dense)")
        for key, c in cells.items():
            bn = " | batch_norm" in key
            dense = cells.get("dense | batch_norm" if bn else "dense")
            diff = c["auc_mean"] - dense["auc_mean"] if dense else float("nan")
            print(f"  {key:<48} {c['auc_mean']:.4f} ±{c['auc_std']:.4f}  {diff:+.4f}")


if __name__ == "__main__":
    main()
