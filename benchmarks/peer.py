"""Our DeepFM, NFM and xDeepFM against DeepCTR-Torch's on the same data.

The models of our seven that DeepCTR-Torch also has (it has no FwFM, and
its LR/FM are not standalone models). Both libraries get exactly the same
encoded rows and split of :func:`benchmarks.paper_tables.load_real` (Criteo
time split, Avazu random 80/20), the same small network (embedding 10, DNN
128x3, dropout 0.5, CIN 32x32 with split-half and identity activation, Adam
lr 1e-3, batch 256, 3 epochs, L2 3e-7) and the same seeds. DeepCTR-Torch
gets each categorical field as a ``SparseFeat`` of the encoder's vocabulary
and each Criteo numeric field (after the Criteo transform) as a
``DenseFeat``: it feeds numeric values straight to the DNN and a linear
term, while our model scales one embedding per numeric field (the paper's
way). On Avazu (all categorical) the two models are the same architecture.

Measured in one process, one thread, interleaved per seed: test AUC and
logloss, fit seconds per epoch, predict time per sample at batch 1 and
throughput at batch 4096 through each library's public predict
(``predict_proba`` / ``model.predict``) and through the bare torch forward
of each model. Ratios are ours/theirs (for times: < 1 means we are faster).

Usage::

    python -m benchmarks peer [--quick]

Writes ``benchmarks/results/peer.json`` (``--quick``: ``peer_quick.json.tmp``):
``models[name][dataset]`` per model (``--models`` to choose).
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np

from ._common import (
    RESULTS,
    machine_info,
    stamp_loadavg_end,
    time_calls,
    write_json,
)
from .paper_tables import (
    SMALL,
    as_array,
    have_data,
    load_real,
    make_model,
    mean_std,
    scores,
)

CANNOT = {
    "scikit-learn estimator API (clone, Pipeline, GridSearchCV)": (True, False),
    "structural pruning during training (DeepLight)": (True, False),
    "torch-free sparse predictor": (True, False),
    "FwFM / DeepFwFM models": (True, False),
    "DeepFM, NFM, xDeepFM": (True, True),
}


#: Our class name -> DeepCTR-Torch's model class name.
PEER_MODELS = {"DeepFM": "DeepFM", "NFM": "NFM", "XDeepFM": "xDeepFM"}


def deepctr_model(ds: dict, seed: int, name: str = "DeepFM"):
    import deepctr_torch.models
    from deepctr_torch.inputs import DenseFeat, SparseFeat

    num = set(ds["numeric_fields"])
    feats = []
    for col, dim in zip(ds["Ztr"].columns, ds["field_dims"]):
        if col in num:
            feats.append(DenseFeat(str(col), 1))
        else:
            feats.append(
                SparseFeat(
                    str(col),
                    vocabulary_size=int(dim),
                    embedding_dim=SMALL["embedding_dim"],
                )
            )
    extra = {}
    if name == "XDeepFM":  # ours: split-half CIN with identity activation
        extra = dict(
            cin_layer_size=tuple(SMALL["cin_layer_sizes"]),
            cin_split_half=True,
            cin_activation="linear",
        )
    model = getattr(deepctr_torch.models, PEER_MODELS[name])(
        feats,
        feats,
        dnn_hidden_units=SMALL["hidden_units"],
        dnn_dropout=SMALL["dropout"],
        l2_reg_linear=SMALL["l2"],
        l2_reg_embedding=SMALL["l2"],
        seed=seed,
        device="cpu",
        **extra,
    )
    import torch

    model.compile(
        torch.optim.Adam(model.parameters(), lr=SMALL["lr"]), "binary_crossentropy"
    )
    return model


def as_dict(Z) -> dict:
    return {str(c): Z[c].to_numpy() for c in Z.columns}


def run_dataset(ds: dict, seeds, quick: bool, name: str = "DeepFM") -> dict:
    import torch

    Xtr, Xte, num = as_array(ds)
    dtr, dte = as_dict(ds["Ztr"]), as_dict(ds["Zte"])
    epochs = SMALL["max_epochs"]
    runs = {"ours": [], "deepctr": []}
    fitted = {}
    for seed in seeds:
        for who in ("ours", "deepctr") if seed % 2 == 0 else ("deepctr", "ours"):
            t0, c0 = time.perf_counter(), time.thread_time()
            if who == "ours":
                est = make_model(name, seed, numeric_fields=num)
                est.fit(Xtr, ds["ytr"])
                fit_s = time.perf_counter() - t0
                fit_c = time.thread_time() - c0
                p = est.predict_proba(Xte)[:, 1]
            else:
                est = deepctr_model(ds, seed, name)
                est.fit(
                    dtr,
                    ds["ytr"].astype(np.float32),
                    batch_size=SMALL["batch_size"],
                    epochs=epochs,
                    verbose=0,
                    shuffle=True,
                )
                fit_s = time.perf_counter() - t0
                fit_c = time.thread_time() - c0
                p = est.predict(dte, batch_size=4096).ravel()
            n_params = int(
                sum(
                    q.numel()
                    for q in (est.module_ if who == "ours" else est).parameters()
                )
            )
            runs[who].append(
                dict(
                    scores(ds["yte"], p),
                    fit_s_per_epoch=fit_s / epochs,
                    fit_cpu_s_per_epoch=fit_c / epochs,
                    seed=seed,
                )
            )
            fitted.setdefault(who, (est, n_params))
            print(
                f"[{ds['name']} {name}] {who} seed {seed}: {runs[who][-1]}",
                flush=True,
            )

    ours, _ = fitted["ours"]
    theirs, _ = fitted["deepctr"]
    theirs.eval()
    ours.module_.eval()
    idx = np.arange(4096) % len(Xte)
    min_s, reps = (0.02, 2) if quick else (0.3, 5)

    # Public predict APIs.
    rows1 = [Xte[i : i + 1] for i in range(64)]
    d1 = [{k: v[i : i + 1] for k, v in dte.items()} for i in range(64)]
    d4096 = [{k: v[idx] for k, v in dte.items()}]
    api = {
        "ours": (
            time_calls(ours.predict_proba, rows1, min_s, reps),
            time_calls(ours.predict_proba, [Xte[idx]], min_s, reps),
        ),
        "ours_sparse_predictor": (
            time_calls(ours.to_sparse().predict_proba, rows1, min_s, reps),
            time_calls(ours.to_sparse().predict_proba, [Xte[idx]], min_s, reps),
        ),
        "deepctr": (
            time_calls(lambda d: theirs.predict(d, batch_size=1), d1, min_s, reps),
            time_calls(
                lambda d: theirs.predict(d, batch_size=4096), d4096, min_s, reps
            ),
        ),
    }
    # Bare torch forwards on prepared tensors.
    ds_te = ours._to_dataset(Xte[idx], reset=False)
    o1 = [(ds_te.xi[i : i + 1], ds_te.xv[i : i + 1]) for i in range(64)]
    cols = [np.asarray(dte[f], np.float64)[idx, None] for f in theirs.feature_index]
    T = torch.from_numpy(np.concatenate(cols, axis=1)).float()
    t1 = [T[i : i + 1] for i in range(64)]

    def f_ours(a):
        with torch.inference_mode():
            return ours.module_(*a)

    def f_theirs(a):
        with torch.inference_mode():
            return theirs(a)

    fwd = {
        "ours": (
            time_calls(f_ours, o1, min_s, reps),
            time_calls(f_ours, [(ds_te.xi, ds_te.xv)], min_s, reps),
        ),
        "deepctr": (
            time_calls(f_theirs, t1, min_s, reps),
            time_calls(f_theirs, [T], min_s, reps),
        ),
    }

    def fmt(pair):
        b1, b4 = pair
        return {
            "batch1_latency_us": b1["wall_s"] * 1e6,
            "batch1_latency_cpu_us": b1["cpu_s"] * 1e6,
            "batch4096_rows_per_s": 4096 / b4["wall_s"],
            "batch4096_rows_per_s_cpu": 4096 / b4["cpu_s"],
        }

    out = {"data": ds["info"], "n_params": {}, "quality": {}}
    for who in ("ours", "deepctr"):
        out["n_params"][who] = fitted[who][1]
        out["quality"][who] = {
            k: mean_std(r[k] for r in runs[who])
            for k in ("auc", "logloss", "fit_s_per_epoch", "fit_cpu_s_per_epoch")
        }
        out["quality"][who]["runs"] = runs[who]
    out["predict_api"] = {k: fmt(v) for k, v in api.items()}
    out["torch_forward"] = {k: fmt(v) for k, v in fwd.items()}
    q, a, f = out["quality"], out["predict_api"], out["torch_forward"]
    out["ratios_ours_over_theirs"] = {
        "auc": q["ours"]["auc"]["mean"] / q["deepctr"]["auc"]["mean"],
        "fit_s_per_epoch": q["ours"]["fit_s_per_epoch"]["mean"]
        / q["deepctr"]["fit_s_per_epoch"]["mean"],
        "fit_cpu_s_per_epoch": q["ours"]["fit_cpu_s_per_epoch"]["mean"]
        / q["deepctr"]["fit_cpu_s_per_epoch"]["mean"],
        "api_batch1_latency_cpu": a["ours"]["batch1_latency_cpu_us"]
        / a["deepctr"]["batch1_latency_cpu_us"],
        "sparse_predictor_batch1_latency_cpu": a["ours_sparse_predictor"][
            "batch1_latency_cpu_us"
        ]
        / a["deepctr"]["batch1_latency_cpu_us"],
        "api_batch4096_time_cpu": a["deepctr"]["batch4096_rows_per_s_cpu"]
        / a["ours"]["batch4096_rows_per_s_cpu"],
        "sparse_predictor_batch4096_time_cpu": a["deepctr"]["batch4096_rows_per_s_cpu"]
        / a["ours_sparse_predictor"]["batch4096_rows_per_s_cpu"],
        "forward_batch1_latency_cpu": f["ours"]["batch1_latency_cpu_us"]
        / f["deepctr"]["batch1_latency_cpu_us"],
        "forward_batch4096_time_cpu": f["deepctr"]["batch4096_rows_per_s_cpu"]
        / f["ours"]["batch4096_rows_per_s_cpu"],
    }
    print(f"[{ds['name']} {name}] ratios ours/theirs: {out['ratios_ours_over_theirs']}")
    return out


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--out", default=None)
    parser.add_argument(
        "--models", nargs="+", choices=list(PEER_MODELS), default=list(PEER_MODELS)
    )
    args = parser.parse_args(argv)
    name = "peer_quick.json.tmp" if args.quick else "peer.json"
    out = Path(args.out) if args.out else RESULTS / name
    warnings.filterwarnings("ignore")
    if not have_data():
        print("no data: skipping peer", flush=True)
        return {}
    try:
        import deepctr_torch
    except ImportError:
        print("deepctr-torch not installed (pip install -e .[bench]): skipping peer")
        return {}
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    seeds = [0] if args.quick else list(range(args.seeds))
    t_all = time.perf_counter()
    report = {
        "benchmark": "peer",
        "quick": args.quick,
        "command": "python -m benchmarks peer" + (" --quick" if args.quick else ""),
        "peer": f"deepctr-torch {deepctr_torch.__version__}",
        "config": {k: list(v) if isinstance(v, tuple) else v for k, v in SMALL.items()},
        "seeds": seeds,
        "machine": machine_info(1),
        "capabilities": {k: {"ours": v[0], "deepctr": v[1]} for k, v in CANNOT.items()},
        "models": {},
    }
    with threadpool_limits(1):
        for dname in ("criteo", "avazu"):
            ds = load_real(dname, args.quick)
            for name in args.models:
                report["models"].setdefault(name, {})[dname] = run_dataset(
                    ds, seeds, args.quick, name
                )
    stamp_loadavg_end(report["machine"])
    report["total_seconds"] = round(time.perf_counter() - t_all, 1)
    write_json(out, report)
    print(f"wrote {out} in {report['total_seconds']}s", flush=True)
    return report


if __name__ == "__main__":
    main()
