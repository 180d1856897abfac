"""Regenerate ``docs/benchmarks.md`` and ``docs/img/bench_*.png`` from JSON.

Reads ``benchmarks/results/{paper_tables,peer,pruning_sweep,sparse_latency}
.json`` (whichever exist; ``--quick``: the ``*_quick.json.tmp`` files, and
writes under ``benchmarks/results/quick_report.tmp/`` instead of ``docs/``).
Every number in the page comes from those files.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ._common import RESULTS, ROOT, machine_fields, read_json


def _load(name: str, quick: bool):
    for p in (
        [RESULTS / f"{name}_quick.json.tmp", RESULTS / f"{name}_quick.json"]
        if quick
        else [RESULTS / f"{name}.json"]
    ):
        if p.exists():
            return read_json(p)
    return None


def _ms(d) -> str:
    return f"{d['mean']:.4f} ± {d['std']:.4f}"


def _machine(m) -> str:
    """A results file's ``machine`` dict (``_common.machine_info``'s shape, or
    an older file's key names) in words."""
    m = machine_fields(m)
    la = m.get("loadavg_start")
    load = f", load average {la[0]:.1f} at start" if la else ""
    return (
        f"{m.get('cpu_count')} cores, {m.get('threads', 1)} thread, "
        f"torch {m.get('torch')}{load}"
    )


def _us(x) -> str:
    return f"{x:,.0f} µs" if x >= 10 else f"{x:.1f} µs"


def table2_md(pt, img, rel) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    L = ["## Table 2: the seven models, dense, on the real rows", ""]
    L.append(
        f"Command `{pt['command']}` ({pt['total_seconds']:.0f} s wall); machine: "
        f"{_machine(pt['machine'])}. Seeds {pt['seeds']} (mean ± std). Small "
        f"networks (not the paper's 400x3 / k=20): `{pt['config']}`. Latency: "
        "median per call of `predict_proba` on one float64 row (batch 1) and rows/s "
        "at batch 4096, wall clock / calling thread's CPU time (the machine is "
        "shared, the CPU time is the steadier number), seed-0 model."
    )
    fig, axes = plt.subplots(1, len(pt["datasets"]), figsize=(11, 3.6))
    for ax, (dname, res) in zip(np.atleast_1d(axes), pt["datasets"].items()):
        d = res["data"]
        L += [
            "",
            f"### {dname.capitalize()} ({d['split']}; {d['n_train']} train / "
            f"{d['n_test']} test rows, {d['n_fields']} fields, "
            f"{d['embedding_rows']:,} embedding rows; `{d['encoder']}`)",
            "",
            "| model | test AUC | logloss | params | fit s | est. b=1 (wall / CPU) "
            "| sparse b=1 (wall / CPU) | est. rows/s b=4096 (CPU) "
            "| sparse rows/s b=4096 (CPU) |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        names, means, stds = [], [], []
        for m, r in res["table2"].items():
            e, s = r["latency"]["estimator"], r["latency"]["sparse_predictor"]
            L.append(
                f"| {m} | {_ms(r['auc'])} | {_ms(r['logloss'])} | {r['n_params']:,} "
                f"| {r['fit_s']['mean']:.1f} "
                f"| {_us(e['batch1_latency_us'])} / {_us(e['batch1_latency_cpu_us'])} "
                f"| {_us(s['batch1_latency_us'])} / {_us(s['batch1_latency_cpu_us'])} "
                f"| {e['batch4096_rows_per_s_cpu']:,.0f} "
                f"| {s['batch4096_rows_per_s_cpu']:,.0f} |"
            )
            names.append(m)
            means.append(r["auc"]["mean"])
            stds.append(r["auc"]["std"])
        ax.bar(names, means, yerr=stds, capsize=3, color="tab:blue")
        lo = min(means) - 0.03
        ax.set_ylim(lo, max(means) + 0.02)
        ax.set_title(f"{dname}: test AUC (mean ± std, {len(pt['seeds'])} seeds)")
        ax.tick_params(axis="x", labelrotation=30)
    fig.suptitle(f"real rows, {_machine(pt['machine'])}; `{pt['command']}`", fontsize=8)
    fig.tight_layout()
    fig.savefig(img / "bench_table2_auc.png", dpi=110)
    plt.close(fig)
    L += ["", f"![Table 2 AUC]({rel}/bench_table2_auc.png)", ""]
    return L


def _pruning_call(res: dict) -> str:
    """The pruning callback as the run built it, from the JSON's own record."""
    params = res.get("pruning_params")
    if not params:
        return "a pruning callback whose parameters this file does not record"
    args = ", ".join(f"{k}={v!r}" for k, v in params.items())
    return f"`DeepLightPruning({args})`"


def _settings(params) -> str:
    if not params:
        return "the small network of Table 2"
    return "`" + ", ".join(f"{k}={v!r}" for k, v in params.items()) + "`"


def fig2_md(pt, img, rel) -> list[str]:
    import matplotlib.pyplot as plt

    res = pt["datasets"].get("criteo", {}).get("fig2")
    if not res:
        return []
    fig, axes = plt.subplots(1, 2, figsize=(14, 6.5))
    vmax = max(np.abs(np.array(res[k]["R"])).max() for k in ("dense", "pruned"))
    for ax, kind in zip(axes, ("dense", "pruned")):
        R = np.array(res[kind]["R"])
        im = ax.imshow(R, cmap="RdBu_r", vmin=-vmax, vmax=vmax)
        f = res[kind]["fields"]
        ax.set_xticks(range(len(f)), f, rotation=90, fontsize=6)
        ax.set_yticks(range(len(f)), f, fontsize=6)
        title = "dense" if kind == "dense" else res["structure_pruned"]
        ax.set_title(
            f"DeepFwFM R, {title} (AUC {res[kind]['auc']['mean']:.4f}), "
            f"seed {res[kind]['R_seed']}",
            fontsize=9,
        )
    fig.colorbar(im, ax=axes, shrink=0.7)
    fig.suptitle(
        f"Criteo rows (8,000 train); {_machine(pt['machine'])}; `{pt['command']}`",
        fontsize=8,
    )
    fig.savefig(img / "bench_fig2_R.png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return [
        "## Fig. 2: the learnt field-pair matrix R (Criteo rows)",
        "",
        f"DeepFwFM on the data of Table 2, trained with "
        f"{_settings(res.get('estimator_params'))}. Dense: test AUC "
        f"{_ms(res['dense']['auc'])}; pruned {res['structure_pruned']} with "
        f"{_pruning_call(res)}: "
        f"{_ms(res['pruned']['auc'])} (seeds {pt['seeds']}). Heatmaps of the "
        "seed-0 models.",
        "",
        f"![R heatmaps]({rel}/bench_fig2_R.png)",
        "",
    ]


def peer_md(pe) -> list[str]:
    models = pe.get("models") or {"DeepFM": pe["datasets"]}  # older files
    names = ", ".join(models)
    L = [
        f"## Peer: {pe['peer']} against our classifiers ({names})",
        "",
        f"Command `{pe['command']}` ({pe['total_seconds']:.0f} s wall); machine: "
        f"{_machine(pe['machine'])}. Same encoded rows and split as Table 2, same "
        f"small network `{pe['config']}`, seeds {pe['seeds']}, both measured in "
        "the same process. DeepCTR-Torch takes Criteo's numeric fields as dense "
        "inputs (to the DNN and a linear term); ours scales one embedding per "
        "numeric field, as the paper. Avazu is all categorical: same architecture. "
        "xDeepFM: both with a split-half CIN of identity activation (DeepCTR-Torch's "
        "default is ReLU). DeepCTR-Torch has no FwFM or DeepFwFM. "
        "Times are thread CPU time (the machine is shared; wall clock in the JSON). "
        "Ratios are ours / theirs: below 1 means ours is faster.",
        "",
    ]
    for model, dname, r in (
        (m, d, r) for m, per in models.items() for d, r in per.items()
    ):
        for who in ("ours", "deepctr"):  # older files: wall clock only
            r["quality"][who].setdefault(
                "fit_cpu_s_per_epoch", r["quality"][who]["fit_s_per_epoch"]
            )
        r["ratios_ours_over_theirs"].setdefault(
            "fit_cpu_s_per_epoch", r["ratios_ours_over_theirs"]["fit_s_per_epoch"]
        )
        q, a, f, x = (
            r["quality"],
            r["predict_api"],
            r["torch_forward"],
            r["ratios_ours_over_theirs"],
        )
        L += [
            f"### {model} on {dname.capitalize()}",
            "",
            "| | ours | DeepCTR-Torch | ours/theirs |",
            "|---|---|---|---|",
            f"| test AUC | {_ms(q['ours']['auc'])} | {_ms(q['deepctr']['auc'])} "
            f"| {x['auc']:.3f} |",
            f"| logloss | {_ms(q['ours']['logloss'])} | {_ms(q['deepctr']['logloss'])} "
            "| |",
            f"| parameters | {r['n_params']['ours']:,} | {r['n_params']['deepctr']:,} "
            "| |",
            f"| fit CPU s / epoch | {q['ours']['fit_cpu_s_per_epoch']['mean']:.2f} "
            f"| {q['deepctr']['fit_cpu_s_per_epoch']['mean']:.2f} "
            f"| {x['fit_cpu_s_per_epoch']:.2f} |",
            f"| predict API, batch 1 | {_us(a['ours']['batch1_latency_cpu_us'])} "
            f"| {_us(a['deepctr']['batch1_latency_cpu_us'])} "
            f"| {x['api_batch1_latency_cpu']:.2f} |",
            f"| sparse predictor (ours) vs their predict, batch 1 "
            f"| {_us(a['ours_sparse_predictor']['batch1_latency_cpu_us'])} "
            f"| {_us(a['deepctr']['batch1_latency_cpu_us'])} "
            f"| {x['sparse_predictor_batch1_latency_cpu']:.3f} |",
            f"| predict API, rows/s at 4096 "
            f"| {a['ours']['batch4096_rows_per_s_cpu']:,.0f} "
            f"| {a['deepctr']['batch4096_rows_per_s_cpu']:,.0f} "
            f"| time ratio {x['api_batch4096_time_cpu']:.2f} |",
            f"| sparse predictor, rows/s at 4096 "
            f"| {a['ours_sparse_predictor']['batch4096_rows_per_s_cpu']:,.0f} "
            f"| {a['deepctr']['batch4096_rows_per_s_cpu']:,.0f} "
            f"| time ratio {x['sparse_predictor_batch4096_time_cpu']:.2f} |",
            "| bare torch forward, batch 1 "
            f"| {_us(f['ours']['batch1_latency_cpu_us'])} "
            f"| {_us(f['deepctr']['batch1_latency_cpu_us'])} "
            f"| {x['forward_batch1_latency_cpu']:.2f} |",
            f"| bare torch forward, rows/s at 4096 "
            f"| {f['ours']['batch4096_rows_per_s_cpu']:,.0f} "
            f"| {f['deepctr']['batch4096_rows_per_s_cpu']:,.0f} "
            f"| time ratio {x['forward_batch4096_time_cpu']:.2f} |",
            "",
        ]
    L += [
        "What each library can do:",
        "",
        "| | ours | DeepCTR-Torch |",
        "|---|---|---|",
    ]
    for k, v in pe["capabilities"].items():
        L.append(
            f"| {k} | {'yes' if v['ours'] else 'no'} "
            f"| {'yes' if v['deepctr'] else 'no'} |"
        )
    return L + [""]


def pruning_md(ps, img, rel) -> list[str]:
    import matplotlib.pyplot as plt

    c = ps["config"]
    by = {r["structure"]: r for r in ps["results"]}
    figs_run = [k for k in ("fig4", "fig5", "fig6") if k in ps["experiments"]]
    what = "Table 5" + (
        " and " + ", ".join(k.replace("fig", "Fig. ") for k in figs_run)
        if figs_run
        else ""
    )
    stop = (
        f"up to {c['epochs']} epochs with early stopping (patience "
        f"{c.get('patience')}, lr_patience {c.get('lr_patience')}, validation "
        f"fraction {c.get('validation_fraction')})"
        if c.get("patience") is not None
        else f"{c['epochs']} epochs"
    )
    pruning = ", ".join(
        f"{k}={c[k]}"
        for k in ("warm_up", "damping_steps", "ramp_fraction", "regrow")
        if c.get(k) is not None
    )
    L = [
        f"## Pruning sweep: {what} AUC at {ps['data']['n_train']:,} rows (one seed)",
        "",
        f"From `benchmarks/results/pruning_sweep.json` (generated data "
        f"`{ps['data']['generator']}`, {ps['data']['n_train']:,} train / "
        f"{ps['data']['n_test']:,} test rows, {ps['data']['n_fields']} fields; "
        f"DeepFwFM DNN {c['hidden']}, k={c['embedding_dim']}, {stop}; pruning "
        f"under the library's defaults{' but ' + pruning if pruning else ''}; "
        f"{machine_fields(ps['machine']).get('cpu_count')} cores, "
        f"{c['threads']} thread; "
        f"{ps.get('total_seconds', 0) / 60:.0f} min). One seed: no spread.",
        "",
        "| structure | test AUC | vs dense | logloss | nonzero / total params "
        "| epoch returned / run |",
        "|---|---|---|---|---|---|",
    ]
    dense = by.get("D-0% & R-0% & F-0%")
    for s in ps["experiments"].get("table5", []):
        r = by.get(s)
        if r:
            diff = f"{r['auc'] - dense['auc']:+.4f}" if dense and r is not dense else ""
            ep = f"{r.get('returned_epoch', '?')} / {r.get('epochs_run', '?')}"
            L.append(
                f"| {s} | {r['auc']:.4f} | {diff} | {r['logloss']:.4f} "
                f"| {r['nonzero_params']:,} / {r['total_params']:,} | {ep} |"
            )
    figs = [k for k in ("fig4", "fig5", "fig6") if k in ps["experiments"]]
    if figs:
        fig, axes = plt.subplots(1, len(figs), figsize=(4 * len(figs), 3.2))
        comp = {"fig4": "dnn", "fig5": "field_pairs", "fig6": "embeddings"}
        for ax, k in zip(np.atleast_1d(axes), figs):
            rows = [by[s] for s in ps["experiments"][k] if s in by]
            xs = [100 * r["targets"][comp[k]] for r in rows]
            ax.plot(xs, [r["auc"] for r in rows], "o-")
            ax.set_xlabel(f"{comp[k]} sparsity (%)")
            ax.set_ylabel("test AUC")
            ax.set_title(k.replace("fig", "Fig. "))
        fig.suptitle(
            "generated Criteo-shaped data; "
            f"{machine_fields(ps['machine']).get('cpu_count')} cores, 1 thread; "
            "`python -m benchmarks.pruning_sweep`",
            fontsize=8,
        )
        fig.tight_layout()
        fig.savefig(img / "bench_pruning_sweep.png", dpi=110)
        plt.close(fig)
        L += ["", f"![pruning sweep]({rel}/bench_pruning_sweep.png)"]
    return L + [""]


def _x(v) -> str:
    return f"{v:.1f}x"


def _gen_header(g) -> str:
    d = g["data"]
    m = g["machine"]
    return (
        f"Generated data: `{d['generator']}`, {d['n_train']:,} train / "
        f"{d['n_test']:,} test rows, {d['n_fields']} fields (preprocessing: "
        f"{d['preprocessing']}). Command `{g['command']}`; machine: "
        f"{_machine(m)}"
        + (
            f", load average {m['loadavg_end'][0]:.1f} at end."
            if m.get("loadavg_end")
            else "."
        )
    )


def gen_table2_md(g, img, rel) -> list[str]:
    import matplotlib.pyplot as plt

    t2 = g.get("table2")
    if not t2:
        return []
    secs = g["seconds"].get("table2", 0)
    L = [
        "## Table 2 on generated Criteo-shaped data",
        "",
        _gen_header(g)
        + f" Config `{g['config']}` (the real-row networks at batch 2,048 with "
        f"an embedding penalty), seeds {g['seeds']} (mean ± std); all "
        f"{len(t2)} models x {len(g['seeds'])} seeds took {secs / 60:.1f} min "
        "(fit times per model below). Latency: seed-0 model; `predict_proba` of "
        "the estimator and of its sparse predictor on float64 rows (thread CPU "
        "time), and the bare compute on indexed rows: the dense torch module's "
        "forward against the sparse predictor's numba kernel "
        "(`decision_function_indexed`), interleaved rounds, median per-round "
        "ratio. These are *dense* models: the sparse predictor's gain here is "
        "lower overhead, not pruning.",
        "",
        "| model | test AUC | logloss | params | fit s | est. b=1 | sparse b=1 "
        "| est. rows/s b=4096 | sparse rows/s b=4096 | torch fwd b=1 "
        "| kernel b=1 | kernel/torch b=1 | kernel/torch b=4096 |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for m, r in t2.items():
        e, s = r["latency_api"]["estimator"], r["latency_api"]["sparse_predictor"]
        li = r["latency_indexed"]
        L.append(
            f"| {m} | {_ms(r['auc'])} | {_ms(r['logloss'])} "
            f"| {r['total_params']:,} | {r['fit_s']['mean']:.0f} "
            f"| {_us(e['batch1_latency_cpu_us'])} | {_us(s['batch1_latency_cpu_us'])} "
            f"| {e['batch4096_rows_per_s_cpu']:,.0f} "
            f"| {s['batch4096_rows_per_s_cpu']:,.0f} "
            f"| {_us(li['batch1']['torch']['us_per_sample_cpu'])} "
            f"| {_us(li['batch1']['sparse']['us_per_sample_cpu'])} "
            f"| {_x(li['batch1']['sparse']['speedup_vs_torch_cpu'])} "
            f"| {_x(li['batch4096']['sparse']['speedup_vs_torch_cpu'])} |"
        )
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    names = list(t2)
    axes[0].bar(
        names,
        [t2[m]["auc"]["mean"] for m in names],
        yerr=[t2[m]["auc"]["std"] for m in names],
        capsize=3,
    )
    lo = min(t2[m]["auc"]["mean"] for m in names)
    axes[0].set_ylim(lo - 0.03, max(t2[m]["auc"]["mean"] for m in names) + 0.02)
    axes[0].set_title(f"test AUC (mean ± std, {len(g['seeds'])} seeds)", fontsize=9)
    w = 0.4
    xs = np.arange(len(names))
    axes[1].bar(
        xs - w / 2,
        [
            t2[m]["latency_indexed"]["batch1"]["torch"]["us_per_sample_cpu"]
            for m in names
        ],
        w,
        label="dense torch forward",
    )
    axes[1].bar(
        xs + w / 2,
        [
            t2[m]["latency_indexed"]["batch1"]["sparse"]["us_per_sample_cpu"]
            for m in names
        ],
        w,
        label="sparse predictor kernel",
    )
    axes[1].set_xticks(xs, names)
    axes[1].set_yscale("log")
    axes[1].set_ylabel("µs per sample, batch 1 (CPU)")
    axes[1].legend(fontsize=7)
    axes[1].set_title("batch-1 latency, dense models, seed 0", fontsize=9)
    for ax in axes:
        ax.tick_params(axis="x", labelrotation=30)
    fig.suptitle(
        f"generated Criteo-shaped data, {g['data']['n_train']:,} train rows; "
        f"{_machine(g['machine'])}; `{g['command']}`",
        fontsize=8,
    )
    fig.tight_layout()
    fig.savefig(img / "bench_table2_generated.png", dpi=110)
    plt.close(fig)
    return L + ["", f"![Table 2 generated]({rel}/bench_table2_generated.png)", ""]


def _lat(r, batch, key="speedup_vs_torch_lean_cpu"):
    return r["latency_indexed"][batch]["sparse"].get(key)


def gen_table45_md(g) -> list[str]:
    t = g.get("table45")
    if not t:
        return []
    res = t["results"]
    c = t["config"]
    secs = g["seconds"].get("table45", 0)
    L = [
        "## Table 5 on generated data: DeepFwFM at the paper's three structures",
        "",
        _gen_header(g) + f" DeepFwFM with the paper's DNN {c['hidden_units']} (N-400), "
        f"k={c['embedding_dim']}, the rest as Table 2 above; pruning "
        f"`DeepLightPruning(..., {c['pruning']})`. Seeds {t['seeds_table5']}; "
        f"Tables 4 and 5 took {secs / 60:.1f} min together. Memory: the torch "
        "`state_dict` (dense storage) over the saved sparse predictor "
        "(float32 and float16 embeddings). Speed-ups of the seed-0 model's "
        "sparse predictor kernel over the dense N-400 model's torch forward on the "
        "same indexed rows (module forward / lean forward, thread CPU time), and "
        "the paper-style ratio (batch 1, the dense model as CSR at density 1 "
        "through the same per-sample kernel). The paper's memory measure is the "
        "parameter ratio (total / nonzero); the byte ratio is what a saved model "
        "takes (below 1 for the dense model: its CSR predictor is larger than the "
        "dense `state_dict`). Timings on a shared machine: the per-round paired "
        "ratios are steadier than the absolute µs, which vary between rows by up "
        "to 2x with the load.",
        "",
        "| structure | test AUC | logloss | nonzero / total params | memory saving "
        "f32 / f16 | b=1 vs torch (module / lean) | b=4096 vs torch (module / lean) "
        "| paper-style b=1 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    labels = ["dense N-400 / E-10"] + list(t["table5"].values())
    for lab in labels:
        r = res.get(lab)
        if not r:
            continue
        sz = r["size"]
        ps = r.get("paper_style_batch1")
        L.append(
            f"| {lab.replace('Table 5 ', '')} | {_ms(r['auc'])} | {_ms(r['logloss'])} "
            f"| {r['nonzero_params']:,} / {r['total_params']:,} "
            f"({_x(r['total_params'] / r['nonzero_params'])}) "
            f"| {_x(sz['saving_float32'])} / {_x(sz['saving_float16'])} "
            f"| {_x(_lat(r, 'batch1', 'speedup_vs_torch_cpu'))} / "
            f"{_x(_lat(r, 'batch1'))} "
            f"| {_x(_lat(r, 'batch4096', 'speedup_vs_torch_cpu'))} / "
            f"{_x(_lat(r, 'batch4096'))} "
            f"| {_x(ps['cpu']['speedup']) if ps else '1.0x'} |"
        )
    L += [
        "",
        "## Table 4 on generated data: pruned large against small dense",
        "",
        "The paper's N-X and E-X rows: DeepFwFM N-400 with its DNN pruned to D-X "
        "against a dense DNN of width X with about the same number of DNN "
        "parameters (hidden weights, biases and output layer, the paper's "
        "arithmetic), and k=10 embeddings pruned to F-X against dense embeddings "
        f"of size k(1-X) (E-k). Same data and training as Table 5; seeds "
        f"{t['seeds_table4']}. Latency: the seed-0 model's sparse predictor "
        "kernel per sample at batch 1 and the small dense model's own lean torch "
        "forward.",
        "",
        "| model | test AUC | logloss | nonzero params | sparse kernel b=1 "
        "| lean dense torch b=1 (N-400's for pruned rows, own for N-X / E-X) |",
        "|---|---|---|---|---|---|",
    ]
    base = res["dense N-400 / E-10"]
    bl = base["latency_indexed"]["batch1"]

    def row(lab):
        r = res[lab]
        li = r["latency_indexed"]["batch1"]
        own = r.get("latency_indexed_own_torch", r["latency_indexed"])["batch1"]
        return (
            f"| {lab} | {_ms(r['auc'])} | {_ms(r['logloss'])} "
            f"| {r['nonzero_params']:,} | {_us(li['sparse']['us_per_sample_cpu'])} "
            f"| {_us(own['torch_lean']['us_per_sample_cpu'])} |"
        )

    L.append(
        f"| dense N-400 / E-10 | {_ms(base['auc'])} | {_ms(base['logloss'])} "
        f"| {base['nonzero_params']:,} "
        f"| {_us(bl['sparse']['us_per_sample_cpu'])} "
        f"| {_us(bl['torch_lean']['us_per_sample_cpu'])} |"
    )
    for pair in t["table4_pairs"]:
        L += [row(pair["pruned"]), row(pair["small_dense"])]
    return L + [""]


def latency_sweep_md(g, ps, img, rel) -> list[str]:
    import matplotlib.pyplot as plt

    ls = g.get("latency_sweep")
    if not ls:
        return []
    comp = {"fig4": "dnn", "fig5": "field_pairs", "fig6": "embeddings"}
    titles = {
        "fig4": "Fig. 4: DNN sparsity",
        "fig5": "Fig. 5: R sparsity (DNN at 99%)",
        "fig6": "Fig. 6: embedding sparsity",
    }
    exps = [k for k in ("fig4", "fig5", "fig6") if k in ls["experiments"]]
    fig, axes = plt.subplots(2, len(exps), figsize=(4 * len(exps), 6), squeeze=False)
    by = {r["structure"]: r for r in (ps or {}).get("results", [])}
    L = [
        "## Figs. 4-6: AUC and latency against sparsity",
        "",
        "Top row: test AUC of trained pruned models from the pruning sweep "
        "(`benchmarks/results/pruning_sweep.json`, one seed; see below). Bottom "
        "row: speed-up of the sparse predictor's kernel over the dense torch "
        "forward (lean / module), thread CPU time, at batch 1 and 4096, for the "
        "seed-0 dense N-400 DeepFwFM of Table 5 magnitude-pruned once to each "
        "structure (no fine-tuning: latency depends on which weights are "
        f"nonzero, not on their training). {_gen_header(g)} Latency sweep: "
        f"{g['seconds'].get('latency_sweep', 0) / 60:.1f} min.",
        "",
        "| structure | sparse b=1 | x vs lean torch b=1 | x vs module b=1 "
        "| sparse rows/s b=4096 | x vs lean torch b=4096 | nonzero DNN weights |",
        "|---|---|---|---|---|---|---|",
    ]
    seen = set()
    for k in exps:
        for lab in ls["experiments"][k]:
            if lab in seen:
                continue
            seen.add(lab)
            r = ls["results"][lab]
            b1 = r["latency_indexed"]["batch1"]["sparse"]
            b4 = r["latency_indexed"]["batch4096"]["sparse"]
            L.append(
                f"| {lab} | {_us(b1['us_per_sample_cpu'])} "
                f"| {_x(b1['speedup_vs_torch_lean_cpu'])} "
                f"| {_x(b1['speedup_vs_torch_cpu'])} "
                f"| {b4['rows_per_s_cpu']:,.0f} "
                f"| {_x(b4['speedup_vs_torch_lean_cpu'])} "
                f"| {r['predictor_n_params']['dnn']:,} |"
            )
    for j, k in enumerate(exps):
        labs = ls["experiments"][k]
        xs = [100 * ls["results"][lab]["targets"][comp[k]] for lab in labs]
        ax = axes[0][j]
        rows = [by[s] for s in (ps or {}).get("experiments", {}).get(k, []) if s in by]
        if rows:
            ax.plot(
                [100 * r["targets"][comp[k]] for r in rows],
                [r["auc"] for r in rows],
                "o-",
            )
        ax.set_ylabel("test AUC (pruning sweep)")
        ax.set_title(titles[k], fontsize=9)
        ax = axes[1][j]
        for batch, style in (("batch1", "o-"), ("batch4096", "s--")):
            ax.plot(
                xs,
                [_lat(ls["results"][lab], batch) for lab in labs],
                style,
                label=f"{batch.replace('batch', 'batch ')}",
            )
        ax.axhline(1.0, color="grey", lw=0.8)
        ax.set_xlabel(f"{comp[k]} sparsity (%)")
        ax.set_ylabel("speed-up vs lean dense torch")
        ax.legend(fontsize=7)
    psd = (ps or {}).get("data", {})
    psc = (ps or {}).get("config", {})
    fig.suptitle(
        "AUC: benchmarks/results/pruning_sweep.json "
        f"({psd.get('n_train', 0):,} generated training rows, DNN "
        f"{'x'.join(str(h) for h in psc.get('hidden', []))}, one seed; "
        "`python -m benchmarks.pruning_sweep`)\nlatency: "
        f"N-400 DeepFwFM on {g['data']['n_train']:,} generated rows, "
        f"{_machine(g['machine'])}; `{g['command']}`",
        fontsize=8,
    )
    fig.tight_layout()
    fig.savefig(img / "bench_sparsity_latency.png", dpi=110)
    plt.close(fig)
    return L + [
        "",
        f"![AUC and latency vs sparsity]({rel}/bench_sparsity_latency.png)",
        "",
    ]


def gen_table6_md(g) -> list[str]:
    t6 = g.get("table6")
    if not t6:
        return []
    L = [
        "## Table 6 on generated data: sparse DeepFM, NFM, xDeepFM and DeepLight",
        "",
        _gen_header(g)
        + f" Small networks of Table 2 above (`{g['config']}`), each pruned to "
        f"the paper's Criteo structure of Table 6 (C: the CIN's filters); seeds "
        f"{g.get('seeds_table6')}; {g['seconds'].get('table6', 0) / 60:.1f} min. "
        "Latency: seed-0 model's sparse predictor kernel against the dense "
        "seed-0 model of the same type from Table 2 (its torch module's forward; "
        "for DeepFwFM also the lean dense forward; thread CPU time; at batch 1 "
        "these small dense forwards are mostly per-call overhead), and "
        "paper-style (both through the per-sample kernel, dense as CSR at "
        "density 1).",
        "",
        "| model | structure | test AUC | logloss | nonzero / total params "
        "| kernel b=1 | x vs dense torch b=1 | x vs dense torch b=4096 "
        "| paper-style b=1 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]

    def lean(b):
        v = b.get("speedup_vs_torch_lean_cpu")
        return f" (lean torch: {_x(v)})" if v else ""

    for m, r in t6.items():
        li = r["latency_indexed"]
        ps = r.get("paper_style_batch1")
        b1 = li["batch1"]["sparse"]
        b4 = li["batch4096"]["sparse"]
        L.append(
            f"| {'DeepLight' if m == 'DeepFwFM' else 'sparse ' + m} "
            f"| {r['structure']} | {_ms(r['auc'])} | {_ms(r['logloss'])} "
            f"| {r['nonzero_params']:,} / {r['total_params']:,} "
            f"| {_us(b1['us_per_sample_cpu'])} "
            f"| {_x(b1.get('speedup_vs_torch_cpu', float('nan')))}{lean(b1)} "
            f"| {_x(b4.get('speedup_vs_torch_cpu', float('nan')))}{lean(b4)} "
            f"| {_x(ps['cpu']['speedup']) if ps else 'n/a'} |"
        )
    return L + [""]


def honesty_md(sl, g=None) -> list[str]:
    L = [
        "## Honesty about the paper's speed-ups",
        "",
        "The paper's latencies (Table 5/6, e.g. the 46x of D-99% R-95% F-40% on "
        "Criteo) are per sample at batch 1 from the authors' single-threaded C++ "
        "loop built at **-O0**, where the dense baseline is the same scalar CSR code "
        "at density 1 (see the reference-code notes, §3). A ratio against such a "
        "baseline is not a ratio against a good dense implementation. We report "
        "both: the like-for-like ratio of our sparse predictor to a dense torch "
        "forward on the same indexed inputs, and the paper-style ratio (the same "
        "per-sample kernel for the dense model stored as CSR at density 1 and the "
        "pruned one).",
        "",
    ]
    t = (g or {}).get("table45")
    if t:
        for name, lab in t["table5"].items():
            r = t["results"].get(lab)
            if not r or "paper_style_batch1" not in r:
                continue
            ps = r["paper_style_batch1"]
            L.append(
                f"- Generated data, trained DeepFwFM N-400 at the {name} structure "
                f"({lab.split(': ')[-1]}): like-for-like vs the lean dense torch "
                f"forward {_x(_lat(r, 'batch1'))} at batch 1 and "
                f"{_x(_lat(r, 'batch4096'))} at batch 4096 (vs the module's "
                f"forward {_x(_lat(r, 'batch1', 'speedup_vs_torch_cpu'))} / "
                f"{_x(_lat(r, 'batch4096', 'speedup_vs_torch_cpu'))}); paper-style "
                f"{_x(ps['cpu']['speedup'])} (CPU time; wall "
                f"{_x(ps['wall']['speedup'])}); memory "
                f"{_x(r['size']['saving_float32'])} smaller saved (float32; "
                f"{_x(r['size']['saving_float16'])} with float16 embeddings)."
            )
        L.append("")
    if not sl:
        return L + [
            "`benchmarks/results/sparse_latency.json` was not present when this "
            "page was generated (run `python -m benchmarks sparse-latency`), so no "
            "numbers are shown here. The Table 2 rows above compare the sparse "
            "predictor of *dense* trained models to the estimator, which is not a "
            "pruning speed-up.",
            "",
        ]
    for cfg, r in sl["configs"].items():
        if "paper_measure" not in r or not r.get("batches"):
            continue
        b1 = r["batches"]["1"]["sparse_numba"]
        b4 = r["batches"].get("4096", {}).get("sparse_numba")
        pm = r["paper_measure"]

        def both(b, clock):
            lean = b[clock].get("speedup_vs_torch_lean")
            mod = b[clock]["speedup_vs_torch"]
            return f"{lean:.1f}x / {mod:.1f}x" if lean else f"{mod:.1f}x"

        L.append(
            f"- {cfg}, the paper's model size with random weights pruned by "
            "magnitude (`benchmarks/results/sparse_latency.json`): vs the dense "
            f"torch forward (lean / module) at batch 1 {both(b1, 'cpu')} CPU time "
            f"({both(b1, 'wall')} wall)"
            + (f", at batch 4096 {both(b4, 'cpu')} CPU time" if b4 else "")
            + "; paper-style (dense as CSR through the same kernel): "
            f"{pm['cpu']['speedup']:.1f}x CPU / {pm['wall']['speedup']:.1f}x wall."
        )
        if "speedup_vs_onnxruntime" in b1["cpu"]:

            def ort(b, clock):
                return _x(b[clock]["speedup_vs_onnxruntime"])

            L.append(
                f"- {cfg}, the sparse predictor on indexed rows (`sparse_numba`) vs "
                "ONNX Runtime (one thread, the graph of "
                "`sklearn_deeplight.onnx.export_onnx`: dense weights with the pruned "
                f"zeros, same indexed inputs): at batch 1 {ort(b1, 'cpu')} CPU time "
                f"({ort(b1, 'wall')} wall)"
                + (
                    f", at batch 4096 {ort(b4, 'cpu')} CPU time "
                    f"({ort(b4, 'wall')} wall)"
                    if b4
                    else ""
                )
                + "."
            )
    if sl:
        la = machine_fields(sl.get("machine", {})).get("loadavg_start")
        if la:
            L += [
                "",
                f"(sparse_latency.json was measured at load average {la[0]:.1f}.)",
            ]
    return L + [""]


def md_to_rst(lines: list[str]) -> str:
    """The page's markdown (headings, pipe tables, images, bullets, inline
    code) as reStructuredText for Sphinx."""
    import re

    def inline(t: str) -> str:
        return re.sub(r"(?<!`)`([^`]+)`(?!`)", r"``\1``", t)

    def cell(t: str) -> str:
        t = inline(t.strip())
        return t if t else "\u2014"

    out: list[str] = []
    i = 0
    chars = {1: "=", 2: "=", 3: "-", 4: "~"}
    while i < len(lines):
        line = lines[i]
        m = re.match(r"^(#+) (.*)$", line)
        if m:
            level, title = len(m.group(1)), inline(m.group(2))
            bar = chars[min(level, 4)] * max(len(title), 4)
            out += ([bar] if level == 1 else []) + [title, bar]
            i += 1
            continue
        if line.startswith("|"):
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                rows.append([c for c in lines[i].strip().strip("|").split("|")])
                i += 1
            rows = [r for r in rows if not all(set(c.strip()) <= {"-"} for c in r)]
            out += ["", ".. list-table::", "   :header-rows: 1", ""]
            for r in rows:
                for j, c in enumerate(r):
                    out.append(("   * - " if j == 0 else "     - ") + cell(c))
            out.append("")
            continue
        m = re.match(r"^!\[(.*)\]\((.*)\)$", line)
        if m:
            out += [f".. image:: {m.group(2)}", f"   :alt: {m.group(1)}", ""]
            i += 1
            continue
        out.append(inline(line))
        i += 1
    return "\n".join(out) + "\n"


RST_TAIL = """
All result files
================

The scripts in ``benchmarks/`` write their results as JSON to
``benchmarks/results/``; every file present when the documentation is built
is rendered below (each section links its file). ``python -m benchmarks all``
reruns ``paper_tables.py`` and ``peer.py`` and regenerates the sections above
(``report``); ``pruning_sweep.py``, ``sparse_latency.py``, ``scale.py`` and
``train_throughput.py`` are run on their own (``all --existing`` adds the
first two). Numbers from a shared two-core CPU box are noisy; the machine of
each file is given below its tables. Results of ``--quick`` runs are smoke
tests of the scripts, not measurements of the method.

.. benchmark-results::
"""


def main(argv=None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        out_dir = RESULTS / "quick_report.tmp"
        img, rel = out_dir / "img", "img"
        md = out_dir / "benchmarks.md"
    else:
        img, rel = ROOT / "docs" / "img", "img"
        md = ROOT / "docs" / "benchmarks.md"
    img.mkdir(parents=True, exist_ok=True)
    pt, pe = _load("paper_tables", args.quick), _load("peer", args.quick)
    ps, sl = _load("pruning_sweep", args.quick), _load("sparse_latency", args.quick)
    L = [
        "# Benchmarks",
        "",
        "Generated by `python -m benchmarks report` from the JSON files in "
        "`benchmarks/results/`; rerun everything with `python -m benchmarks all` "
        "(`--quick`: a smoke run on small slices, one seed, a few minutes). "
        "Real rows: the first 9,999 Criteo and 8,999 Avazu lines of the public "
        "logs - far too small to reproduce the paper's absolute AUCs; they compare "
        "models and libraries on the same data only.",
        "",
    ]
    g = (pt or {}).get("generated")
    parts = []
    if pt and pt.get("datasets"):
        parts.append(("Table 2 and Fig. 2 on the real rows", pt["total_seconds"]))
    if g:
        parts.append(("the generated-data tables", g.get("total_seconds", 0)))
    if pe:
        parts.append(("the peer comparison", pe["total_seconds"]))
    if parts:
        total = sum(t for _, t in parts)
        L += [
            "Duration of the run shown here (one thread on a shared 2-core box): "
            + ", ".join(f"{n} {t / 60:.1f} min" for n, t in parts)
            + f"; {total / 60:.0f} min in all.",
            "",
        ]
    if pt and pt.get("datasets"):
        L += table2_md(pt, img, rel)
    if g:
        L += gen_table2_md(g, img, rel)
    if pt and pt.get("datasets"):
        L += fig2_md(pt, img, rel)
    if pe:
        L += peer_md(pe)
    if g:
        L += gen_table45_md(g) + latency_sweep_md(g, ps, img, rel)
        L += gen_table6_md(g)
    if ps:
        L += pruning_md(ps, img, rel)
    L += honesty_md(sl, g)
    L += [
        "## Not done",
        "",
        "- The paper's sizes: 45M Criteo / 40M Avazu rows and 10 epochs. Here the "
        "real rows are the first 9,999 / 8,999 lines"
        + (
            f", the generated tables use {g['data']['n_train']:,} training rows and "
            f"{g['config']['max_epochs']} epochs"
            if g
            else ""
        )
        + ", so absolute AUCs are not the paper's.",
        "- Table 4 and Table 6 on generated data use the first two seeds only "
        "(time budget); Tables 2 and 5 use three.",
    ]
    compared = set((pe or {}).get("models") or {"DeepFM": None})
    missing = [m for m in ("DeepFM", "NFM", "XDeepFM") if m not in compared]
    if pe and missing:
        L.append(
            f"- Peer comparison of {', '.join(missing)} (DeepCTR-Torch has them): "
            f"only {', '.join(sorted(compared))} compared."
        )
    L += [
        "- DeepCTR-Torch has no FwFM or DeepFwFM: the peer comparison cannot "
        "cover DeepLight's own model.",
        "",
    ]
    md.parent.mkdir(parents=True, exist_ok=True)
    md.write_text("\n".join(L))
    rst = md.with_suffix(".rst")
    rst.write_text(
        ".. _benchmarks:\n\n" + md_to_rst(L) + (RST_TAIL if not args.quick else "")
    )
    print(f"wrote {md} and {rst}")
    return md


if __name__ == "__main__":
    main()
