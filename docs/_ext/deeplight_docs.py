"""Sphinx directives of the sklearn-deeplight docs.

``.. benchmark-results::``
    Renders every ``benchmarks/results/*.json`` file present at build time as
    tables (the numbers are read from the files, never typed into the docs),
    with a download link to the file itself. Files of an unknown layout are
    listed with their keys; a file that cannot be parsed (e.g. being written)
    is reported as such. No file at all gives a note with the commands that
    write them.

``.. benchmark-result:: FILE.json``
    The tables of one result file, e.g. the measured AUC cost of pruning in
    the pruning guide.

``.. public-names-not-listed::``
    Placed at the end of ``api.rst``: documents (with autodoc) every name of
    ``sklearn_deeplight.__all__`` that ``api.rst`` does not list, so that a
    newly exported name is in the API reference even before someone files it
    into a section.
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import nested_parse_with_titles

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results"

COMMANDS = {
    "auto_sizes": "python -m benchmarks.auto_sizes [--quick]",
    "dense_threshold": "python -m benchmarks.dense_threshold [--quick]",
    "encode_latency": "python -m benchmarks.encode_latency [--quick]",
    "model_latency": "python -m benchmarks.model_latency [--quick]",
    "tile_width": "python -m benchmarks.tile_width [--quick]",
    "parity": "python -m benchmarks.parity [--quick]",
    "pruning_ramp": "python -m benchmarks.pruning_ramp [--quick]",
    "pruning_recovery": "python -m benchmarks.pruning_recovery [--quick]",
    "pruning_sweep": "python -m benchmarks.pruning_sweep [--quick]",
    "serve_load": "python -m benchmarks.serve_load [--quick]",
    "sparse_latency": "python -m benchmarks.sparse_latency [--quick]",
    "train_throughput": "python -m benchmarks.train_throughput [--quick]",
    "warm_start": "python -m benchmarks.warm_start [--quick]",
}


# ---------------------------------------------------------------------------
# sphinx-gallery
# ---------------------------------------------------------------------------
def reset_torch_threads(gallery_conf, fname):
    """Run every example with the docs build's torch thread count.

    ``DEEPLIGHT_DOCS_THREADS`` (default 1): the docs are built on shared CPU
    boxes, and the examples' networks are too small to gain from more.
    """
    import torch

    torch.set_num_threads(int(os.environ.get("DEEPLIGHT_DOCS_THREADS", "1")))


# ---------------------------------------------------------------------------
# Formatting helpers
# ---------------------------------------------------------------------------
def _seconds(s) -> str:
    if not isinstance(s, (int, float)) or not math.isfinite(s):
        return "n/a"
    if s < 1e-3:
        return f"{s * 1e6:.1f} us"
    if s < 1:
        return f"{s * 1e3:.2f} ms"
    return f"{s:.2f} s"


def _num(v, fmt: str = "{:,}") -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float) and not math.isfinite(v):
        return "n/a"
    try:
        return fmt.format(v)
    except (ValueError, TypeError):
        return str(v)


def _pct(v) -> str:
    return _num(v, "{:.1%}") if isinstance(v, (int, float)) else "n/a"


def _cell(text: str) -> str:
    return str(text).replace("|", "/").replace("\n", " ") or " "


def _list_table(title: str, header: list[str], rows: list[list[str]]) -> list[str]:
    if not rows:
        return []
    out = [f".. list-table:: {title}", "   :header-rows: 1", ""]
    for row in [header, *rows]:
        out.append(f"   * - {_cell(row[0])}")
        out.extend(f"     - {_cell(c)}" for c in row[1:])
    out.append("")
    return out


def _machine(machine: dict) -> str:
    if not isinstance(machine, dict):
        return ""
    keys = ("platform", "python", "torch", "numba", "cpu_count", "cpus")
    parts = [f"{k} {machine[k]}" for k in keys if k in machine]
    threads = machine.get("torch_threads", machine.get("threads"))
    if threads is not None:
        parts.append(f"{threads} thread(s)")
    return "Machine: " + ", ".join(parts) + "." if parts else ""


# ---------------------------------------------------------------------------
# Renderers, one per benchmark script
# ---------------------------------------------------------------------------
def _render_pruning_sweep(data: dict) -> list[str]:
    cfg = data.get("config", {})
    d = data.get("data", {})
    lines = [
        "DeepFwFM trained with DeepLightPruning on "
        f"``{d.get('generator', 'generated data')}`` "
        f"({_num(d.get('n_train'))} training / {_num(d.get('n_test'))} test rows, "
        f"{d.get('n_fields', '?')} fields); "
        f"{cfg.get('epochs', '?')} epochs of which {cfg.get('warm_up', '?')} "
        f"warm-up, batch {cfg.get('batch_size', '?')}, DNN "
        f"{'x'.join(str(h) for h in cfg.get('hidden', [])) or '?'}, "
        f"k = {cfg.get('embedding_dim', '?')}, damping_steps "
        f"{cfg.get('damping_steps', '?')}"
        + (f" (ramp_fraction {cfg['ramp_fraction']})" if "ramp_fraction" in cfg else "")
        + ".",
        "",
    ]
    results = data.get("results", [])
    header = [
        "structure",
        "test AUC",
        "test logloss",
        "DNN",
        "R",
        "embeddings",
        "nonzero params",
        "of",
        "fit time",
    ]
    rows = []
    for r in results:
        ach = r.get("achieved", {})
        rows.append(
            [
                r.get("structure", "?"),
                _num(r.get("auc"), "{:.4f}"),
                _num(r.get("logloss"), "{:.4f}"),
                _pct(ach.get("dnn")),
                _pct(ach.get("field_pairs")),
                _pct(ach.get("embeddings")),
                _num(r.get("nonzero_params")),
                _num(r.get("total_params")),
                _seconds(r.get("fit_seconds")),
            ]
        )
    lines += _list_table(
        "Achieved sparsity per component and test metrics", header, rows
    )
    experiments = data.get("experiments", {})
    if experiments:
        done = {r.get("structure") for r in results}
        missing = sorted({s for v in experiments.values() for s in v if s not in done})
        if missing:
            lines += [
                f"Structures planned but not in this file (run interrupted or "
                f"in progress): {', '.join(missing)}.",
                "",
            ]
    if "total_seconds" in data:
        lines += [f"Total run time: {_seconds(data['total_seconds'])}.", ""]
    return lines


def _render_sparse_latency(data: dict) -> list[str]:
    lines = [
        f"Median time per ``predict_proba``-equivalent call over "
        f"{data.get('rounds', '?')} rounds; in brackets the speed-up over the "
        "dense torch model (wall clock).",
        "",
    ]
    for name, conf in data.get("configs", {}).items():
        lines += [name, "~" * len(name), ""]
        batches = conf.get("batches", {})
        impls: list[str] = []
        for per_impl in batches.values():
            impls += [i for i in per_impl if i not in impls]
        if batches and impls:
            header = ["implementation"] + [f"batch {b}" for b in batches]
            rows = []
            for impl in impls:
                row = [impl]
                for per_impl in batches.values():
                    wall = per_impl.get(impl, {}).get("wall", {})
                    med = wall.get("median_s")
                    sp = wall.get("speedup_vs_torch")
                    row.append(
                        f"{_seconds(med)} ({_num(sp, '{:.1f}')}x)"
                        if med is not None
                        else "n/a"
                    )
                rows.append(row)
            lines += _list_table("Latency per call", header, rows)
        pm = conf.get("paper_measure", {}).get("wall")
        if pm:
            lines += [
                "Paper's measure (per sample at batch 1, the same per-sample "
                f"kernel on the dense and on the pruned weights): "
                f"{_num(pm.get('dense_as_csr_us'), '{:.1f}')} us dense vs "
                f"{_num(pm.get('sparse_us'), '{:.1f}')} us pruned, "
                f"{_num(pm.get('speedup'), '{:.1f}')}x.",
                "",
            ]
        size = conf.get("size")
        if size:
            lines += [
                "Saved size: dense ``state_dict`` "
                f"{_num(size.get('state_dict_bytes'))} bytes; sparse predictor "
                f"float32 {_num(size.get('predictor_float32_bytes'))} bytes "
                f"({_num(size.get('ratio_float32'), '{:.2f}')}x smaller), float16 "
                f"{_num(size.get('predictor_float16_bytes'))} bytes "
                f"({_num(size.get('ratio_float16'), '{:.2f}')}x smaller).",
                "",
            ]
            n_params = size.get("n_params")
            if isinstance(n_params, dict):
                lines += _list_table(
                    "Stored nonzero parameters per component",
                    list(n_params),
                    [[_num(v) for v in n_params.values()]],
                )
        checks = conf.get("checks")
        if checks:
            lines += [
                "Normwise relative error against torch: "
                + ", ".join(f"``{k}`` {_num(v, '{:.1e}')}" for k, v in checks.items())
                + ".",
                "",
            ]
        f16 = conf.get("float16_cost")
        if f16:
            lines += [
                "float16 storage against float32: "
                + ", ".join(f"``{k}`` {_num(v, '{:.1e}')}" for k, v in f16.items())
                + ".",
                "",
            ]
    return lines


def _render_train_throughput(data: dict) -> list[str]:
    shape = data.get("shape", {})
    lines = [
        f"One epoch of {_num(shape.get('batches_per_fit'))} batches of "
        f"{_num(shape.get('batch_size'))} rows ({shape.get('fields', '?')} fields, "
        f"{_num(shape.get('embedding_rows'))} embedding rows), median of "
        f"{shape.get('rounds', '?')} rounds.",
        "",
    ]
    rows = [
        [
            r.get("model", "?"),
            _num(r.get("parameters")),
            _seconds(r.get("seconds_per_fit")),
            _num(r.get("samples_per_second"), "{:,.0f}"),
        ]
        for r in data.get("results", [])
    ]
    lines += _list_table(
        "Training throughput",
        ["model", "parameters", "time per epoch", "samples / s"],
        rows,
    )
    return lines


def _render_pruning_recovery(data: dict) -> list[str]:
    """Mean test AUC per structure and pruning variant, against dense."""
    lines = []
    variants = data.get("variants", {})
    for name, entry in data.get("data", {}).items():
        cells = entry.get("cells", {})
        info = entry.get("info", {})
        seeds = entry.get("seeds", [])
        lines += [
            f"**{name}** ({_num(info.get('n_train'))} training / "
            f"{_num(info.get('n_test'))} test rows; seeds {seeds}; "
            f"``{entry.get('command', data.get('command', '?'))}``): mean test "
            "AUC of DeepFwFM, and its difference to the dense model of the same "
            "settings.",
            "",
        ]
        rows = []
        for key, cell in cells.items():
            bn = " | batch_norm" in key
            dense = cells.get("dense | batch_norm" if bn else "dense")
            diff = (
                f"{cell['auc_mean'] - dense['auc_mean']:+.4f}"
                if dense and not key.startswith("dense")
                else ""
            )
            epochs = [r.get("epochs") for r in cell.get("runs", [])]
            returned = [r.get("returned_epoch") for r in cell.get("runs", [])]
            rows.append(
                [
                    key,
                    f"{cell['auc_mean']:.4f} ± {cell['auc_std']:.4f}",
                    diff,
                    ", ".join(f"{r}/{e}" for r, e in zip(returned, epochs)),
                ]
            )
        lines += _list_table(
            f"{name}: test AUC (structure | variant)",
            ["fit", "test AUC", "vs dense", "epoch returned / run, per seed"],
            rows,
        )
    if variants:
        lines += ["Variants (estimator and ``DeepLightPruning`` overrides):", ""]
        for key, v in variants.items():
            lines.append(
                f"- ``{key}``: estimator {v.get('estimator') or '{}'}, pruning "
                f"{v.get('pruning') or '{} (the defaults)'}"
            )
        lines.append("")
    base = data.get("base_settings")
    if base:
        lines += [
            "Estimator settings (real rows): "
            + ", ".join(f"``{k}={v}``" for k, v in base.items())
            + "; generated rows: "
            + ", ".join(
                f"``{k}={v}``" for k, v in data.get("generated_settings", {}).items()
            )
            + ".",
            "",
        ]
    return lines


def _render_serve_load(data: dict) -> list[str]:
    """``deeplight serve`` under HTTP load, beside the in-process latency."""
    model = data.get("model", {})
    server = data.get("server", {})
    client = data.get("client", {})
    machine = data.get("machine", {})
    hidden = "x".join(str(h) for h in model.get("hidden", [])) or "?"

    def load(key: str) -> str:
        v = machine.get(key)
        return f"{v[0]:.2f}" if isinstance(v, list) and v else "n/a"

    lines = [
        f"``{server.get('command', 'deeplight serve MODEL')}`` "
        f"({server.get('workers', '?')} worker, {server.get('threads', '?')} "
        f"thread) serving {model.get('name', '?')} DNN {hidden}, "
        f"k={model.get('embedding_dim', '?')}, {model.get('structure', '?')} "
        f"({model.get('weights', '')}; {_num(model.get('embedding_rows'))} "
        f"embedding rows) behind a ``FieldEncoder`` of "
        f"{model.get('fields', '?')} raw fields ({model.get('numeric_fields', '?')} "
        "numeric), on generated Criteo-format rows. Client: "
        f"{client.get('library', '?')}, {client.get('mode', '?')}; per level "
        f"{_seconds(client.get('warmup_s'))} of warm-up, then "
        f"{_seconds(client.get('seconds'))} measured. Load average (1 min) "
        f"{load('loadavg_start')} at the start, {load('loadavg_end')} at the end"
        + (" (``--quick`` smoke run)" if data.get("quick") else "")
        + ".",
        "",
    ]
    rows = [
        [
            str(r.get("concurrency", "?")),
            str(r.get("records_per_request", "?")),
            _num(r.get("requests_per_s"), "{:,.1f}"),
            _num(r.get("rows_per_s"), "{:,.0f}"),
            _seconds(r.get("p50_s")),
            _seconds(r.get("p90_s")),
            _seconds(r.get("p99_s")),
            _num(r.get("errors")),
            _seconds(r.get("client_cpu_s_per_request")),
            _seconds(r.get("server_cpu_s_per_request")),
        ]
        for r in data.get("load", [])
    ]
    lines += _list_table(
        "deeplight serve over HTTP (latency seen by the client)",
        [
            "concurrent clients",
            "records / request",
            "requests / s",
            "rows / s",
            "p50",
            "p90",
            "p99",
            "errors",
            "client CPU / request",
            "server CPU / request",
        ],
        rows,
    )
    names = {
        "pipeline_predict_proba": "``pipeline.predict_proba`` on a one-row DataFrame",
        "serving_pipeline_one_dict": "``ServingPipeline.predict_proba`` on one dict",
        "request_path_without_http": "the server's request path without HTTP "
        "(JSON, checks, the serving object)",
        "predictor_on_encoded_row": "the sparse predictor alone on the encoded row",
    }
    rows = [
        [names.get(k, k), _seconds(v.get("wall_s")), _seconds(v.get("cpu_s"))]
        for k, v in data.get("in_process", {}).items()
    ]
    lines += _list_table(
        "In process, one record, one thread (median)",
        ["call", "wall", "thread CPU"],
        rows,
    )
    first = server.get("first_requests_s") or []
    warm = server.get("warmup_ms")
    lines += [
        "Fresh server: ready (first ``/health`` answer) "
        f"{_seconds(server.get('startup_s'))} after the process started, of "
        f"which the warm-up {_seconds(warm / 1e3 if warm is not None else None)}; "
        "its first two requests took "
        + " and ".join(_seconds(v) for v in first)
        + (
            "; torch not imported"
            if server.get("torch_imported") is False
            else "; torch imported"
        )
        + "; largest relative difference of its probabilities to "
        "``predict_proba`` in process "
        f"{_num(server.get('max_rel_err_vs_in_process'), '{:.1e}')}."
        + _stack_text(server.get("stack")),
        "",
    ]
    return lines


def _stack_text(stack: dict | None) -> str:
    """The server's stack, as the results file records it (newer files)."""
    if not stack:
        return ""
    parts = [f"{name} {ver}" for name, ver in stack.items() if ver]
    absent = [name for name, ver in stack.items() if not ver]
    if absent:
        parts.append(f"not installed: {', '.join(absent)}")
    return " Stack: " + "; ".join(parts) + "."


def _kind(path: Path, data: dict) -> str:
    kind = data.get("benchmark") if isinstance(data, dict) else None
    if kind:
        return str(kind)
    for name in COMMANDS:
        if path.stem.startswith(name):
            return name
    return "unknown"


def _render_pruning_ramp(data: dict) -> list[str]:
    """Dense and pruned test AUC of the README pipeline per ramp_fraction and
    data size, with the paired pruned - dense difference."""
    lines = [
        f"Generated rows {data.get('sizes')} (held out: a fifth; each seed its "
        f"own data set and model), seeds {data.get('seeds')}, one torch "
        f"thread: {data.get('pipeline', '')}. Command "
        f"``{data.get('command', '?')}``.",
        "",
    ]
    rows = [
        [
            _num(r.get("n_train")),
            r.get("setting", "?"),
            r.get("model", "?"),
            f"{_num(r.get('test_auc_mean'), '{:.4f}')} ± "
            f"{_num(r.get('test_auc_std'), '{:.4f}')}",
            f"{_num(r.get('pruned_minus_dense_mean'), '{:+.4f}')} ± "
            f"{_num(r.get('pruned_minus_dense_std'), '{:.4f}')}"
            if r.get("ramp_fraction") is not None
            else "",
            " ".join(_num(e) for e in r.get("returned_epochs", [])),
            " ".join(_num(e) for e in r.get("first_epochs_at_target", []))
            if r.get("ramp_fraction") is not None
            else "",
        ]
        for r in data.get("summary", [])
    ]
    lines += _list_table(
        "Mean ± std over the seeds; pruned - dense paired by seed",
        [
            "rows",
            "setting",
            "model",
            "test AUC",
            "pruned - dense",
            "epoch returned",
            "first epoch at target",
        ],
        rows,
    )
    crit = data.get("criteo_scale") or {}
    if crit:
        lines += _list_table(
            "On the paper's Criteo run (8 pruning epochs of 20,100 iterations)",
            ["ramp", "U", "ramp iterations", "ramp epochs"],
            [
                [
                    k,
                    _num(v.get("damping_steps"), "{:.1f}"),
                    _num(v.get("ramp_iterations"), "{:,.0f}"),
                    _num(v.get("ramp_epochs"), "{:.2f}"),
                ]
                for k, v in crit.items()
            ],
        )
    return lines


def _render_auto_sizes(data: dict) -> list[str]:
    """Test AUC and fit time of the README pipeline under each size setting:
    mean and standard deviation over the seeds, then each seed's fit."""
    seeds = data.get("seeds")
    lines = [
        f"{_num(data.get('n_train'))} training and {_num(data.get('n_test'))} "
        "held-out generated rows (each seed its own data set and model), the "
        "README's pipeline (early stopping at full sparsity, learning-rate "
        "decay; pruned: D-90% R-90% F-40%), one torch thread"
        + (f", seeds {seeds}" if seeds else "")
        + f". Command ``{data.get('command', '?')}``.",
        "",
    ]

    def sizes(r):
        return [
            "x".join(str(h) for h in r.get("hidden_units", [])),
            _num(r.get("batch_size")),
            _num(r.get("lr"), "{:.2g}"),
        ]

    summary = data.get("summary")
    if summary:
        rows = [
            [
                r.get("setting", "?"),
                *sizes(r),
                "pruned" if r.get("pruned") else "dense",
                f"{_num(r.get('test_auc_mean'), '{:.4f}')} ± "
                f"{_num(r.get('test_auc_std'), '{:.4f}')}",
                _num(r.get("pruned_minus_dense_mean"), "{:+.4f}")
                if r.get("pruned")
                else "",
                _seconds(r.get("fit_seconds_mean")),
            ]
            for r in summary
        ]
        lines += _list_table(
            "Sizes from the rows ('auto') against the paper's: mean ± std over "
            "the seeds",
            [
                "setting",
                "hidden_units",
                "batch_size",
                "lr",
                "model",
                "test AUC",
                "pruned - dense",
                "fit time",
            ],
            rows,
        )
    rows = [
        [
            r.get("setting", "?"),
            _num(r.get("seed")),
            "pruned" if r.get("pruned") else "dense",
            _num(r.get("test_auc"), "{:.4f}"),
            _num(r.get("batches_per_epoch")),
            f"{_num(r.get('returned_epoch'))} of {_num(r.get('epochs'))}",
            _num(r.get("first_epoch_at_target")) if r.get("pruned") else "",
            " ".join(f"{a:.3f}" for a in r.get("valid_auc", [])),
        ]
        if summary
        else [
            r.get("setting", "?"),
            *sizes(r)[:2],
            "pruned" if r.get("pruned") else "dense",
            _num(r.get("test_auc"), "{:.4f}"),
            _seconds(r.get("fit_seconds")),
        ]
        for r in data.get("results", [])
    ]
    header = (
        [
            "setting",
            "seed",
            "model",
            "test AUC",
            "batches per epoch",
            "epoch returned",
            "first epoch at target",
            "validation AUC by epoch",
        ]
        if summary
        else ["setting", "hidden_units", "batch_size", "model", "test AUC", "fit time"]
    )
    lines += _list_table(
        "Each fit" if summary else "Sizes from the rows ('auto') against the paper's",
        header,
        rows,
    )
    machine = _machine(data.get("machine", {}))
    if machine:
        lines += [machine, ""]
    return lines


def _render_encode_latency(data: dict) -> list[str]:
    """Per-call medians of the encoder and the serving object, by batch."""
    batches = data.get("batches", {})
    sizes = sorted(batches, key=int)
    names: list[str] = []
    for size in sizes:
        for name in batches[size].get("rows", {}):
            if name not in names:
                names.append(name)
    rows = []
    for name in names:
        row = [name]
        for size in sizes:
            r = batches[size].get("rows", {}).get(name)
            if not r:
                row.append("")
                continue
            ratio = r.get("x_predictor_on_encoded")
            row.append(
                f"{_seconds(r.get('median_s'))} ({ratio:.2f}x)"
                if ratio is not None
                else _seconds(r.get("median_s"))
            )
        rows.append(row)
    lines = [
        f"Command ``{data.get('command', '?')}``; in brackets the ratio to "
        "``predictor.predict_proba`` on the encoded rows.",
        "",
    ]
    lines += _list_table(
        "Raw rows to probabilities, per call",
        ["", *(f"{int(b):,} row(s)" for b in sizes)],
        rows,
    )
    first = data.get("first_calls_s", {})
    if first:
        lines += [
            "First calls in the benchmark's process: "
            + "; ".join(f"{k} {_seconds(v)}" for k, v in first.items())
            + ".",
            "",
        ]
    saved = data.get("persistence")
    if saved:
        lines += [
            f"Saved with ``sklearn_deeplight.save``: {saved['file_bytes'] / 2**20:.0f} "
            f"MiB in {_seconds(saved['save_s'])}; ``load`` in this process "
            f"(imports done, kernels compiled) {_seconds(saved['load_s'])}, the "
            f"median of {saved['loads']}"
            + (", the same bits after" if saved.get("same_bits_after_load") else "")
            + ".",
            "",
        ]
    loads = [v.get("loadavg_before_after", [[None]])[0][0] for v in batches.values()]
    if loads and loads[0] is not None:
        lines += [f"Load average {loads[0]:.2f} at the start.", ""]
    return lines


def _render_dense_threshold(data: dict) -> list[str]:
    """Per component: CSR and dense time per density, both kernels, and the
    crossings against the thresholds in use."""
    lines = []
    for comp, r in data.get("components", {}).items():
        batch = r.get("tiled_batch", "?")
        title = (
            f"{comp}: {r.get('model', '?')} {r.get('params', {})}, thread CPU "
            f"time per call at batch 1 and {batch}"
        )
        rows = []
        for row in r.get("rows", []):
            us = row.get("us_per_call_cpu", {})
            rows.append(
                [
                    f"{row['density']:.2f}",
                    f"{us.get('sample_csr', float('nan')):.1f} us",
                    f"{us.get('sample_dense', float('nan')):.1f} us",
                    _seconds(us.get("tiled_csr", float("nan")) / 1e6),
                    _seconds(us.get("tiled_dense", float("nan")) / 1e6),
                ]
            )
        lines += _list_table(
            title,
            [
                "density",
                "batch 1 CSR",
                "batch 1 dense",
                f"{batch} CSR",
                f"{batch} dense",
            ],
            rows,
        )
        lines += [
            f"Dense at least as fast from density {r.get('crossing_sample')} "
            f"(batch 1) and {r.get('crossing_tiled')} (tiled), where the two "
            "costs cross (interpolated between the measured densities, "
            "rounded up to 0.05); thresholds in use "
            f"{tuple(r.get('in_use', ()))}.",
            "",
        ]
    return lines


def _render_model_latency(data: dict) -> list[str]:
    """Every model, dense and pruned: lean dense torch, the kernel and the
    public predict_proba, thread CPU time, ratios torch / ours."""
    rows = []
    for r in data.get("rows", []):
        for b, s in r.get("batches", {}).items():
            t, k, p = (s[i]["cpu"] for i in ("torch_lean", "kernel", "predict_proba"))
            rows.append(
                [
                    r["model"],
                    r["structure"],
                    b,
                    _seconds(t["median_s"]),
                    _seconds(k["median_s"]),
                    _seconds(p["median_s"]),
                    f"{k['speedup_vs_torch']:.1f}x",
                    f"{p['speedup_vs_torch']:.1f}x",
                ]
            )
    lines = _list_table(
        "Median thread CPU time per call; torch / ours is the median of the "
        "per-round ratios",
        [
            "model",
            "structure",
            "batch",
            "lean dense torch",
            "kernel",
            "predict_proba",
            "torch / kernel",
            "torch / predict_proba",
        ],
        rows,
    )
    worst = [
        (s["predict_proba"]["cpu"]["speedup_vs_torch"], r["model"], r["structure"], b)
        for r in data.get("rows", [])
        for b, s in r.get("batches", {}).items()
    ]
    if worst:
        w = min(worst)
        lines += [
            f"Lowest ratio of the public ``predict_proba``: {w[0]:.2f}x "
            f"({w[1]} {w[2]}, batch {w[3]}).",
            "",
        ]
    loads = data.get("machine", {}).get("loadavg_start")
    end = data.get("machine", {}).get("loadavg_end")
    if loads and end:
        lines += [
            f"Load average (1 min) {loads[0]:.2f} at the start, {end[0]:.2f} at "
            f"the end; {data.get('seconds', '?')} s in all.",
            "",
        ]
    return lines


def _render_tile_width(data: dict) -> list[str]:
    """Per kind of model, predict_proba's time at each tile width."""
    widths = [str(w) for w in data.get("widths", [])]
    rows = [
        [r["case"], str(r["in_use"])] + [f"{r['ms_cpu'][w]:.2f} ms" for w in widths]
        for r in data.get("rows", [])
    ]
    batch = data["rows"][0]["batch"] if data.get("rows") else "?"
    return _list_table(
        f"predict_proba at batch {batch}, median thread CPU time per tile width",
        ["model", "tile in use"] + [f"T={w}" for w in widths],
        rows,
    )


def _render_parity(data: dict) -> list[str]:
    """Per dataset and path: the largest elementwise relative difference of
    the probabilities against the torch estimator and the float64 forward."""
    rows = []
    for name, r in data.get("datasets", {}).items():
        est = r.get("vs_estimator", {})
        exact = r.get("vs_exact", {})
        lo, hi = r.get("logit_range", [math.nan, math.nan])
        for path in ["estimator", *est]:
            e = est.get(path, {}).get("max_rel")
            x = exact.get(path, {}).get("max_rel")
            rows.append(
                [
                    name,
                    f"{lo:.2f} .. {hi:.2f}",
                    path,
                    "(itself)" if path == "estimator" else _num(e, "{:.2e}"),
                    _num(x, "{:.2e}"),
                ]
            )
    target = data.get("target_max_rel")
    lines = [
        "Largest elementwise relative difference of the two probability "
        "columns (``max |a - b| / |b|``); the float64 forward is the fitted "
        "module in double precision, same weights"
        + (f"; the issue's target {target:.0e} against the estimator" if target else "")
        + ".",
        "",
    ]
    lines += _list_table(
        "The same rows, every path",
        ["data", "logits", "path", "vs torch estimator", "vs float64 forward"],
        rows,
    )
    return lines


def _labelled_seconds(
    values: dict, prefix: str, keys: list[tuple[str, str]]
) -> list[list[str]]:
    """Table rows ``[prefix: label (another process), seconds]`` of the
    ``keys`` present in ``values``."""
    return [
        [f"{prefix}: {label} (another process)", _seconds(values[k])]
        for k, label in keys
        if k in values
    ]


def _render_warm_start(data: dict) -> list[str]:
    """Fresh-process medians: import, load, first and warm call."""
    med = data.get("median", {})
    keys = [
        ("import_s", "import sklearn_deeplight"),
        ("load_s", "load(model)"),
        ("first_s", "first predict_proba (1 raw row)"),
        ("warm_s", "second predict_proba"),
        ("total_s", "import + load + first call"),
        ("sklearn_import_s", "import sklearn.base alone (separate process)"),
    ]
    rows = [[label, _seconds(med.get(k))] for k, label in keys if k in med]
    imports = data.get("imports_s", {})
    rows += [
        [f"import {m} (after the ones above; another process)", _seconds(v)]
        for m, v in imports.items()
    ]
    floor = data.get("numba_floor_s", {})
    rows += _labelled_seconds(
        floor,
        "numba floor",
        [
            ("numpy_s", "import numpy"),
            ("numba_s", "import numba"),
            ("kernels_module_s", "import the kernels' module (with scipy.sparse)"),
            ("first_kernel_call_s", "first call of the cached per-sample kernel"),
            ("floor_s", "numpy + numba + first kernel call"),
        ],
    )
    rec = data.get("record_predictor", {})
    for kind, label in (("numba", "numba kernels"), ("compiled", "compiled kernels")):
        rows += _labelled_seconds(
            rec.get(kind, {}),
            f"RecordPredictor, {label}",
            [
                ("build_s", "compile_kernels (once per machine)"),
                ("import_s", "import sklearn_deeplight"),
                ("load_s", "load(model)"),
                ("first_s", "first predict_proba (1 JSON record)"),
                ("warm_s", "second predict_proba"),
                ("total_s", "import + load + first call"),
            ],
        )
    lines = [
        f"Medians over {data.get('runs', '?')} fresh processes; torch imported: "
        f"{data.get('torch_imported')}.",
        "",
    ]
    lines += _list_table("A fresh serving process", ["step", "median"], rows)
    if "first_over_warm" in med:
        ratio = med["first_over_warm"]
        lines += [f"The pipeline: first call / warm call {ratio:.1f}x.", ""]
    for kind in ("numba", "compiled"):
        r = rec.get(kind, {})
        if "error" in r:
            lines += [f"RecordPredictor, {kind} kernels: not run ({r['error']}).", ""]
        elif "modules" in r:
            lines += [
                f"RecordPredictor, {kind} kernels: first call / warm call "
                f"{r['first_over_warm']:.1f}x; imported: "
                + (", ".join(r["modules"]) or "none")
                + " (of scikit-learn, pandas, pyarrow, scipy.sparse, numba, "
                "llvmlite, torch).",
                "",
            ]
    if "same_bits_as_pipeline" in rec:
        lines += [
            "Probabilities of the RecordPredictor processes bit for bit those of "
            f"the pipeline: {rec['same_bits_as_pipeline']}.",
            "",
        ]
    return lines


RENDERERS = {
    "parity": _render_parity,
    "warm_start": _render_warm_start,
    "auto_sizes": _render_auto_sizes,
    "dense_threshold": _render_dense_threshold,
    "model_latency": _render_model_latency,
    "tile_width": _render_tile_width,
    "encode_latency": _render_encode_latency,
    "pruning_ramp": _render_pruning_ramp,
    "pruning_recovery": _render_pruning_recovery,
    "pruning_sweep": _render_pruning_sweep,
    "serve_load": _render_serve_load,
    "sparse_latency": _render_sparse_latency,
    "train_throughput": _render_train_throughput,
}


class BenchmarkResult(SphinxDirective):
    """``.. benchmark-result:: FILE.json``: the tables of one result file."""

    has_content = False
    required_arguments = 1

    def run(self):
        f = RESULTS / self.arguments[0]
        self.env.note_dependency(str(f))
        src_dir = Path(self.env.doc2path(self.env.docname)).parent
        if not f.is_file():
            lines = [
                f"*No* ``benchmarks/results/{f.name}`` *when these docs were built.*",
                "",
            ]
            return _parse(self, lines, "benchmark-result")
        data = json.loads(f.read_text())
        renderer = RENDERERS[_kind(f, data)]
        lines = renderer(data)
        lines += [
            f"From ``{f.relative_to(ROOT)}``, written by "
            f"``{COMMANDS.get(_kind(f, data), '?')}``; "
            f":download:`the JSON file <{_download_path(src_dir, f)}>`.",
            "",
        ]
        machine = _machine(data.get("machine", {}))
        if machine:
            lines += [machine, ""]
        return _parse(self, lines, "benchmark-result")


class BenchmarkResults(SphinxDirective):
    has_content = False
    optional_arguments = 0

    def run(self):
        src_dir = Path(self.env.doc2path(self.env.docname)).parent
        files = sorted(RESULTS.glob("*.json")) if RESULTS.is_dir() else []
        for f in files:
            self.env.note_dependency(str(f))
        lines: list[str] = []
        if not files:
            lines += [
                ".. note::",
                "",
                "   No result files in ``benchmarks/results/`` when these docs "
                "were built. Each benchmark script writes one:",
                "",
            ]
            lines += [f"   - ``{cmd}``" for cmd in COMMANDS.values()]
            lines.append("")
        for f in files:
            title = f.name
            lines += [title, "-" * len(title), ""]
            try:
                data = json.loads(f.read_text())
            except (OSError, ValueError) as exc:
                logger.info(f"benchmark-results: cannot read {f}: {exc}")
                lines += [
                    f"*This file could not be read at build time* ({exc}); "
                    "it may have been being written.",
                    "",
                ]
                continue
            kind = _kind(f, data)
            dl = _download_path(src_dir, f)
            quick = " (``--quick`` smoke run)" if data.get("quick") else ""
            lines += [
                f"From ``{f.relative_to(ROOT)}``{quick}, "
                f"written by ``{COMMANDS.get(kind, 'an unknown script')}``; "
                f":download:`the JSON file <{dl}>`.",
                "",
            ]
            renderer = RENDERERS.get(kind)
            if renderer is None:
                keys = (
                    ", ".join(f"``{k}``" for k in data)
                    if isinstance(data, dict)
                    else "(not an object)"
                )
                lines += [f"Layout not known to the docs; top-level keys: {keys}.", ""]
            else:
                try:
                    lines += renderer(data)
                except Exception as exc:  # noqa: BLE001 - never fail the build
                    logger.info(f"benchmark-results: {f}: {exc!r}")
                    lines += [
                        f"*The layout of this file was not understood* ({exc!r}).",
                        "",
                    ]
            machine = _machine(data.get("machine", {}))
            if machine:
                lines += [machine, ""]
        return _parse(self, lines, "benchmark-results")


def _download_path(src_dir: Path, target: Path) -> str:
    return Path(os.path.relpath(target, src_dir)).as_posix()


def _parse(directive: SphinxDirective, lines: list[str], source: str):
    """Parse generated reST (section titles allowed) into nodes."""
    container = nodes.section()
    container.document = directive.state.document
    nested_parse_with_titles(
        directive.state, StringList(lines, source=source), container
    )
    return container.children


# ---------------------------------------------------------------------------
# API coverage
# ---------------------------------------------------------------------------
def public_names() -> list[str]:
    import sklearn_deeplight

    return [n for n in sklearn_deeplight.__all__]


def _listed_names(text: str) -> set[str]:
    """Names of sklearn_deeplight that api.rst documents."""
    found = set(
        re.findall(r"^\s+(?:sklearn_deeplight\.)?([A-Za-z_]\w*)\s*$", text, re.M)
    )
    found |= set(
        re.findall(
            r"\.\. (?:auto)?(?:class|function|data|module|py:data|py:module)"
            r"::\s+(?:sklearn_deeplight\.)?([\w.]+)",
            text,
        )
    )
    return found


class PublicNamesNotListed(SphinxDirective):
    has_content = False

    def run(self):
        import inspect

        import sklearn_deeplight

        text = Path(self.env.doc2path(self.env.docname)).read_text()
        listed = _listed_names(text)
        missing = [n for n in public_names() if n not in listed]
        if not missing:
            return []
        logger.info(
            "api.rst does not list %s: documented under 'Other public names'",
            ", ".join(missing),
        )
        lines = ["Other public names", "------------------", ""]
        for name in missing:
            obj = getattr(sklearn_deeplight, name)
            full = f"sklearn_deeplight.{name}"
            if inspect.ismodule(obj):
                lines += [f".. automodule:: {full}", "   :members:", ""]
            elif inspect.isclass(obj):
                lines += [f".. autoclass:: {full}", ""]
            elif callable(obj):
                lines += [f".. autofunction:: {full}", ""]
            else:
                lines += [f".. py:data:: {full}", "", f"   ``{obj!r}``", ""]
        return _parse(self, lines, "public-names-not-listed")


# ---------------------------------------------------------------------------
# Command-line help
# ---------------------------------------------------------------------------
class DeeplightHelp(SphinxDirective):
    """The ``--help`` text of ``deeplight`` or of one of its sub-commands."""

    has_content = False
    optional_arguments = 1

    def run(self):
        import argparse

        from sklearn_deeplight.cli import build_parser

        parser = build_parser(prog="deeplight")
        if self.arguments:
            name = self.arguments[0]
            subparsers = [
                a for a in parser._actions if isinstance(a, argparse._SubParsersAction)
            ]
            choices = subparsers[0].choices if subparsers else {}
            if name not in choices:
                raise self.error(
                    f"deeplight has no sub-command {name!r} (has: {sorted(choices)})"
                )
            parser = choices[name]
        text = _help_text(parser)
        node = nodes.literal_block(text, text)
        node["language"] = "text"
        return [node]


def _help_text(parser) -> str:
    """``format_help()`` at a fixed width, so the page does not depend on the
    terminal of whoever builds it."""
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "88"
    try:
        return parser.format_help()
    finally:
        if old is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = old


def setup(app):
    app.add_directive("deeplight-help", DeeplightHelp)
    app.add_directive("benchmark-results", BenchmarkResults)
    app.add_directive("benchmark-result", BenchmarkResult)
    app.add_directive("public-names-not-listed", PublicNamesNotListed)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
