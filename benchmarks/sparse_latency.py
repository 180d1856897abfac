"""Latency and size of the sparse predictor against the dense torch model.

Paper-shape DeepFwFM models are built from :mod:`sklearn_deeplight._modules`
with random weights pruned by magnitude (no training), wrapped in a real
``DeepFwFMClassifier`` (fitted attributes set by hand), and turned into
predictors with ``est.to_sparse()``.

Configurations (DeepLight, WSDM'21, Tables 5 and 6):

- Criteo: 39 fields (13 numeric, 26 categorical), 1,326,055 table rows,
  k=10, DNN 400x3, D-99% R-95% F-40% (the paper's 46x row);
- Avazu: 23 categorical fields, 1,544,392 table rows, k=20, DNN 300x3,
  D-98% R-90% F-0% (the paper's 27x row);
- Criteo D-90% R-90% F-90% (the "low memory" row), for the saved size only.

The per-field split of the vocabulary is synthetic (the totals are the
paper's). Inputs: per-field Zipf(1.1) ranks through a random permutation,
Criteo numeric fields uniform in [0, 3).

Timing: one thread everywhere (torch, numba, BLAS via threadpoolctl), all
implementations interleaved in one process in a shuffled order per round;
per implementation and round, 2 warm-up calls then 5 repetitions of at least
~2 ms of calls on pooled inputs; the round's value is the median repetition.
Tables report the median over rounds and the median of the per-round ratio
to the dense torch forward (the like-for-like baseline: both take the
indexed arrays ``xi``, ``xv`` and return numpy logits).

ONNX Runtime (``onnxruntime``, when installed: the ``onnx`` extra) runs the
file :func:`sklearn_deeplight.onnx.export_onnx` writes (dense weights with the
pruned zeros) on the same indexed arrays, one thread
(``intra_op_num_threads=1``, ``inter_op_num_threads=1``, sequential
execution, default graph optimisations); its output is the probability, so it
also computes a sigmoid over the batch. Each implementation's
``speedup_vs_onnxruntime`` is the median per-round ratio of ONNX Runtime's
time to its own ("predictor vs ORT" for ``sparse_numba``).

Usage::

    python -m benchmarks.sparse_latency            # full run, about a minute here
    python -m benchmarks.sparse_latency --quick    # smoke run, seconds

Writes ``benchmarks/results/sparse_latency.json`` (``--quick``:
``sparse_latency_quick.json.tmp``, git-ignored; ``--out`` to change).
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import tempfile
import time
import warnings

import joblib
import numpy as np
import torch
from threadpoolctl import threadpool_limits

from sklearn_deeplight import DeepFwFMClassifier
from sklearn_deeplight._validation import global_index

from ._common import (
    RESULTS,
    machine_info,
    stamp_loadavg_end,
    summarize_rounds,
    time_rounds,
    write_json,
)

#: The ONNX Runtime implementation's name in the results.
ORT = "onnxruntime"
CRITEO_ROWS = 1_326_055
AVAZU_ROWS = 1_544_392
BATCHES = (1, 32, 512, 4096)


def field_sizes(n_cat: int, n_num: int, total: int, seed: int) -> np.ndarray:
    """Table rows per field: numeric fields 1, categorical heavy-tailed."""
    rng = np.random.default_rng(seed)
    weights = 10.0 ** np.linspace(0.3, 5.3, n_cat)
    rng.shuffle(weights)
    cat = np.maximum(3, np.floor(weights / weights.sum() * (total - n_num)))
    cat = cat.astype(np.int64)
    cat[np.argmax(cat)] += total - n_num - cat.sum()
    return np.concatenate([np.ones(n_num, np.int64), cat])


def make_estimator(sizes, n_num, k, hidden, *, dnn, pairs, emb, seed):
    """A DeepFwFMClassifier holding a magnitude-pruned random DeepFwFM."""
    torch.manual_seed(seed)
    n_fields = len(sizes)
    est = DeepFwFMClassifier(
        embedding_dim=k,
        hidden_units=hidden,
        dropout=0.0,
        numeric_fields=None,
        batch_size=2048,
        lr=1e-3,
    )
    numeric = np.zeros(n_fields, bool)
    numeric[:n_num] = True
    est.numeric_fields_ = np.flatnonzero(numeric).astype(np.int64)
    est.field_dims_ = np.where(numeric, 1, sizes - 1).astype(np.int64)
    est._table_sizes_ = sizes
    est.offsets_ = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    est.n_features_in_ = n_fields
    est._classes_ = np.array([0, 1])
    est.initialize()
    module = est.module_
    module.eval()
    with torch.no_grad():
        module.embedding.weight.normal_(0.0, 0.3)
        module.field_linear.normal_(0.0, 0.3)
        w = module.embedding.weight
        if emb > 0:
            cut = torch.quantile(
                w.abs().flatten()[torch.randperm(w.numel())[:2_000_000]], emb
            )
            w[w.abs() <= cut] = 0.0
        r = module.field_pairs
        n_keep = max(1, round((1 - pairs) * r.numel()))
        order = r.abs().argsort(descending=True)
        r[order[n_keep:]] = 0.0
        for layer in module.dnn.layers:
            W = layer.weight
            n_keep = max(1, round((1 - dnn) * W.numel()))
            cut = W.abs().flatten().kthvalue(W.numel() - n_keep + 1).values
            W[W.abs() < cut] = 0.0
            layer.bias.normal_(0.0, 0.1)
        # LSUV-style: unit-variance pre-activations on a sample batch.
        xi, xv = sample_inputs(est, 2048, np.random.default_rng(seed))
        h = module.embed(torch.from_numpy(xi), torch.from_numpy(xv)).flatten(1)
        for layer in module.dnn.layers:
            z = layer(h)
            scale = float(z.std()) or 1.0
            layer.weight /= scale
            layer.bias /= scale
            h = torch.relu(layer(h))
        module.dnn.out.weight /= float((h @ module.dnn.out.weight.T).std()) or 1.0
    return est


def sample_inputs(est, n: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """Indexed inputs ``xi`` (int64 rows) and ``xv`` (float32 values)."""
    codes, values = sample_codes(est, n, rng)
    xi = global_index(codes, est.field_dims_, est.offsets_)
    return xi, values.astype(np.float32)


def sample_codes(est, n: int, rng) -> tuple[np.ndarray, np.ndarray]:
    dims = est.field_dims_
    numeric = np.zeros(len(dims), bool)
    numeric[est.numeric_fields_] = True
    # Per-field permutation of the Zipf ranks, kept on the model itself (an
    # id()-keyed cache could hand a later model a freed one's permutations).
    perms = getattr(est, "_bench_perms", None)
    if perms is None:
        prng = np.random.default_rng(1234)
        perms = [
            None if numeric[j] else prng.permutation(d) for j, d in enumerate(dims)
        ]
        est._bench_perms = perms
    codes = np.zeros((n, len(dims)), np.int64)
    values = np.ones((n, len(dims)), np.float64)
    for j, d in enumerate(dims):
        if numeric[j]:
            values[:, j] = rng.uniform(0, 3, n)
        else:
            rank = (rng.zipf(1.1, n) - 1) % d
            codes[:, j] = perms[j][rank]
    return codes, values


def raw_matrix(est, codes, values) -> np.ndarray:
    """The field-indexed matrix X (codes and numeric values) of the estimator."""
    X = codes.astype(np.float64)
    X[:, est.numeric_fields_] = values[:, est.numeric_fields_]
    return X


def lean_forward(module):
    """A lean dense DeepFwFM forward in torch, the notes' baseline.

    The same arithmetic as ``DeepFwFMModule.forward`` (field-vector linear
    term, FwFM by ``bmm``, ReLU MLP) without the module's generic code paths
    (dropout and identity-norm calls, attribute tests), for reference next to
    the module's own forward.
    """
    E = module.embedding.weight.detach()
    v = module.field_linear.detach()
    r = module.field_pairs.detach()
    pairs = module.pair_index
    layers = [(m.weight.detach(), m.bias.detach()) for m in module.dnn.layers]
    w_out = module.dnn.out.weight.detach()
    bias = module.bias.detach()

    def forward(xi, xv):
        with torch.inference_mode():
            xi_t, xv_t = torch.from_numpy(xi), torch.from_numpy(xv)
            e = torch.nn.functional.embedding(xi_t, E) * xv_t.unsqueeze(-1)
            logit = bias + (e * v).sum((1, 2))
            gram = torch.bmm(e, e.transpose(1, 2)).flatten(1)
            logit = logit + gram[:, pairs] @ r
            h = e.flatten(1)
            for W, b in layers:
                h = torch.relu(torch.nn.functional.linear(h, W, b))
            return (logit + torch.nn.functional.linear(h, w_out).squeeze(-1)).numpy()

    return forward


def state_dict_bytes(module) -> int:
    buf = io.BytesIO()
    torch.save(module.state_dict(), buf)
    return buf.getbuffer().nbytes


def saved_bytes(pred) -> int:
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "pred.joblib")
        joblib.dump(pred, path)
        return os.path.getsize(path)


def rel_err(a, b) -> float:
    return float(np.linalg.norm(np.asarray(a, np.float64) - b) / np.linalg.norm(b))


def ort_forward(est, folder):
    """ONNX Runtime on the exported estimator, one thread; None without it.

    Returns ``fn(xi, xv) -> probabilities`` (float32) of the file that
    :func:`~sklearn_deeplight.onnx.export_onnx` writes into ``folder``.
    """
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    from sklearn_deeplight.onnx import export_onnx

    path = export_onnx(est, os.path.join(folder, "model.onnx"))
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    session = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])

    def forward(xi, xv):
        return session.run(None, {"xi": xi, "xv": xv})[0]

    return forward


def add_ort_ratios(summary: dict, times: dict, base: str = ORT) -> None:
    """``speedup_vs_onnxruntime`` of every implementation: the median of the
    per-round ratios of ``base``'s time to its own (keys added only)."""
    if base not in times:
        return
    for name, clocks in times.items():
        for clock, vals in clocks.items():
            ratios = [b / v for b, v in zip(times[base][clock], vals)]
            summary[name][clock]["speedup_vs_onnxruntime"] = statistics.median(ratios)


def bench_config(name, est, batches, rounds, min_chunk_s, reps):
    module = est.module_
    pred = est.to_sparse(engine="numba")
    pred_scipy = est.to_sparse(engine="scipy")
    rng = np.random.default_rng(7)
    onnx_dir = tempfile.TemporaryDirectory()
    ort_fn = ort_forward(est, onnx_dir.name)

    def torch_forward(xi, xv):
        with torch.inference_mode():
            return module(torch.from_numpy(xi), torch.from_numpy(xv)).numpy()

    torch_lean = lean_forward(module)

    # Correctness on a large batch, against the dense torch forward.
    xi, xv = sample_inputs(est, 4096, rng)
    ref = torch_forward(xi, xv)
    ref_p = 1 / (1 + np.exp(-ref.astype(np.float64)))
    checks = {
        "rel_err_logit_torch_lean": rel_err(torch_lean(xi, xv), ref),
        "rel_err_logit_numba": rel_err(pred.decision_function_indexed(xi, xv), ref),
        "rel_err_logit_scipy": rel_err(
            pred_scipy.decision_function_indexed(xi, xv), ref
        ),
        "rel_err_logit_numba_b1": rel_err(
            np.concatenate(
                [
                    pred.decision_function_indexed(xi[i : i + 1], xv[i : i + 1])
                    for i in range(256)
                ]
            ),
            ref[:256],
        ),
    }
    p32 = 1 / (1 + np.exp(-pred.decision_function_indexed(xi, xv).astype(np.float64)))
    checks["rel_err_proba_numba"] = rel_err(
        np.stack([1 - p32, p32], 1), np.stack([1 - ref_p, ref_p], 1)
    )
    if ort_fn is not None:
        p_ort = ort_fn(xi, xv).astype(np.float64)
        checks["rel_err_proba_onnxruntime"] = rel_err(p_ort, ref_p)
        checks["max_rel_err_proba_onnxruntime"] = float(
            np.max(np.abs(p_ort - ref_p) / ref_p)
        )

    results = {"checks": checks, "batches": {}}
    for B in batches:
        n_pool = 256 if B == 1 else max(2, min(16, 8192 // B))
        pool_idx, pool_raw = [], []
        for _ in range(n_pool):
            codes, values = sample_codes(est, B, rng)
            xi = global_index(codes, est.field_dims_, est.offsets_)
            pool_idx.append((xi, values.astype(np.float32)))
            pool_raw.append((raw_matrix(est, codes, values),))
        pools = {"idx": pool_idx, "raw": pool_raw}
        impls = {
            "torch_dense": (torch_forward, "idx"),
            "torch_lean": (torch_lean, "idx"),
            "sparse_numba": (pred.decision_function_indexed, "idx"),
            "sparse_scipy": (pred_scipy.decision_function_indexed, "idx"),
            "estimator.predict_proba": (est.predict_proba, "raw"),
            "predictor.predict_proba": (pred.predict_proba, "raw"),
        }
        if ort_fn is not None:
            impls[ORT] = (ort_fn, "idx")
        n_rounds = rounds if B < 4096 else max(1, rounds // 2)
        times = time_rounds(impls, pools, n_rounds, min_chunk_s, reps)
        results["batches"][str(B)] = summarize_rounds(
            times, "torch_dense", "torch_lean"
        )
        add_ort_ratios(results["batches"][str(B)], times)
        line = "  ".join(
            f"{k}={v['wall']['median_s'] * 1e6:.1f}us"
            f"({v['wall']['speedup_vs_torch']:.1f}x"
            f"/cpu {v['cpu']['speedup_vs_torch']:.1f}x)"
            for k, v in results["batches"][str(B)].items()
        )
        print(f"[{name}] B={B}: {line}", flush=True)
    onnx_dir.cleanup()
    return results


def paper_measure(est_dense, est_sparse, rounds, min_chunk_s, reps):
    """The paper's measure: per sample at batch 1, one scalar kernel both sides.

    The paper ran the dense model as CSR at density 1 through the same sparse
    code; here both go through the predictor's per-sample numba kernel.
    """
    dense = est_dense.to_sparse(engine="numba")
    sparse = est_sparse.to_sparse(engine="numba")
    rng = np.random.default_rng(3)
    pool = [sample_inputs(est_sparse, 1, rng) for _ in range(256)]
    impls = {
        "dense_as_csr": (dense.decision_function_indexed, "idx"),
        "sparse": (sparse.decision_function_indexed, "idx"),
    }
    times = time_rounds(impls, {"idx": pool}, rounds, min_chunk_s, reps)
    s = summarize_rounds(times, "dense_as_csr")
    return {
        clock: {
            "dense_as_csr_us": s["dense_as_csr"][clock]["median_s"] * 1e6,
            "sparse_us": s["sparse"][clock]["median_s"] * 1e6,
            "speedup": s["sparse"][clock]["speedup_vs_torch"],
        }
        for clock in ("wall", "cpu")
    }


def size_report(est) -> dict:
    out = {"state_dict_bytes": state_dict_bytes(est.module_)}
    for dtype in ("float32", "float16"):
        pred = est.to_sparse(dtype=dtype)
        out[f"predictor_{dtype}_bytes"] = saved_bytes(pred)
        out[f"predictor_{dtype}_nbytes_"] = int(pred.nbytes_)
        out[f"ratio_{dtype}"] = (
            out["state_dict_bytes"] / out[f"predictor_{dtype}_bytes"]
        )
    pred = est.to_sparse(engine="scipy")
    out["n_params"] = {k: int(v) for k, v in pred.n_params_.items()}
    # For comparison: the embedding as a scipy CSR matrix (float32 values,
    # int32 indices and row pointers) and as a dense float32 table.
    emb = pred.embedding_
    out["embedding_csr_bytes"] = int(
        pred.n_params_["embedding"] * 8 + (emb.shape[0] + 1) * 4
    )
    out["embedding_dense_bytes"] = int(emb.size * 4)
    out["dense_params"] = int(sum(p.numel() for p in est.module_.parameters()))
    return out


def float16_cost(est) -> dict:
    """Accuracy cost of float16 embedding storage, on 4096 samples."""
    p32 = est.to_sparse(engine="numba")
    p16 = est.to_sparse(engine="numba", dtype="float16")
    xi, xv = sample_inputs(est, 4096, np.random.default_rng(11))
    l32 = p32.decision_function_indexed(xi, xv).astype(np.float64)
    l16 = p16.decision_function_indexed(xi, xv).astype(np.float64)
    q32, q16 = 1 / (1 + np.exp(-l32)), 1 / (1 + np.exp(-l16))
    return {
        "rel_err_logit": rel_err(l16, l32),
        "max_abs_proba": float(np.abs(q16 - q32).max()),
        "rel_err_proba": rel_err(
            np.stack([1 - q16, q16], 1), np.stack([1 - q32, q32], 1)
        ),
    }


def _fmt_time(t: float) -> str:
    return f"{t * 1e6:.1f} us" if t < 1e-3 else f"{t * 1e3:.2f} ms"


def fmt_table(report: dict) -> str:
    lines = []
    for cfg, res in report["configs"].items():
        lines.append(f"\n### {cfg}")
        if "loadavg_before_after" in res:
            before, after = res["loadavg_before_after"]
            lines.append(
                f"Load average (1 min) before/after the timings: {before[0]:.1f} / "
                f"{after[0]:.1f} on {os.cpu_count()} CPUs."
            )
        if res["batches"]:
            batches = list(res["batches"])
            impls = list(res["batches"][batches[0]])
            lines.append(
                "Median time per call, wall clock (speed-up vs torch_dense: wall / "
                "thread CPU time, median of per-round ratios)."
            )
            lines.append("| impl | " + " | ".join(f"B={b}" for b in batches) + " |")
            lines.append("|---|" + "---|" * len(batches))
            for impl in impls:
                cells = []
                for b in batches:
                    v = res["batches"][b][impl]
                    w, c = v["wall"], v["cpu"]
                    cells.append(
                        f"{_fmt_time(w['median_s'])} ({w['speedup_vs_torch']:.1f}x / "
                        f"{c['speedup_vs_torch']:.1f}x)"
                    )
                lines.append(f"| {impl} | " + " | ".join(cells) + " |")
        if res["batches"] and "torch_lean" in res["batches"][batches[0]]:
            cells = []
            for b in batches:
                v = res["batches"][b]["sparse_numba"]
                cells.append(
                    f"B={b} {v['wall']['speedup_vs_torch_lean']:.1f}x / "
                    f"{v['cpu']['speedup_vs_torch_lean']:.1f}x"
                )
            lines.append(
                "sparse_numba vs torch_lean (wall / CPU): " + ", ".join(cells) + "."
            )
        if res["batches"] and ORT in res["batches"][batches[0]]:
            lines.append(
                "\nONNX Runtime (one thread) vs the predictor: ONNX Runtime's time "
                "over each implementation's (wall / CPU, median of per-round ratios)."
            )
            lines.append(
                "| B | onnxruntime | predictor vs ORT (sparse_numba) | "
                "predictor.predict_proba vs ORT | torch_lean vs ORT |"
            )
            lines.append("|---|---|---|---|---|")
            for b in batches:
                row = res["batches"][b]
                cells = [_fmt_time(row[ORT]["wall"]["median_s"])]
                for impl in ("sparse_numba", "predictor.predict_proba", "torch_lean"):
                    w, c = row[impl]["wall"], row[impl]["cpu"]
                    cells.append(
                        f"{w['speedup_vs_onnxruntime']:.1f}x / "
                        f"{c['speedup_vs_onnxruntime']:.1f}x"
                    )
                lines.append(f"| {b} | " + " | ".join(cells) + " |")
        if "paper_measure" in res:
            pm = res["paper_measure"]["wall"]
            pc = res["paper_measure"]["cpu"]
            lines.append(
                f"\nPaper measure (per sample at batch 1, the same per-sample kernel "
                f"for the dense model as CSR at density 1 and the pruned one): "
                f"{pm['dense_as_csr_us']:.1f} us vs {pm['sparse_us']:.1f} us = "
                f"{pm['speedup']:.1f}x wall ({pc['speedup']:.1f}x CPU)."
            )
        if "size" in res:
            s = res["size"]
            lines.append(
                f"Saved size: dense state_dict {s['state_dict_bytes'] / 1e6:.2f} MB; "
                f"predictor float32 {s['predictor_float32_bytes'] / 1e6:.2f} MB "
                f"({s['ratio_float32']:.2f}x smaller), float16 "
                f"{s['predictor_float16_bytes'] / 1e6:.2f} MB "
                f"({s['ratio_float16']:.2f}x). Parameters: dense "
                f"{s['dense_params']:,}, stored nonzero "
                f"{sum(s['n_params'].values()):,} "
                f"{s['n_params']}. Embedding alone: dense float32 "
                f"{s['embedding_dense_bytes'] / 1e6:.2f} MB, scipy CSR "
                f"{s['embedding_csr_bytes'] / 1e6:.2f} MB."
            )
        if "float16_cost" in res:
            c = res["float16_cost"]
            lines.append(
                "float16 values vs float32: logit rel. error "
                f"{c['rel_err_logit']:.2e}, "
                f"max |dp| {c['max_abs_proba']:.2e}, proba rel. error "
                f"{c['rel_err_proba']:.2e}."
            )
        lines.append(
            "Normwise relative error vs torch: "
            + ", ".join(f"{k}={v:.1e}" for k, v in res["checks"].items())
        )
    return "\n".join(lines)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="seconds-long smoke run")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--out", default=None, help="JSON path")
    args = parser.parse_args(argv)
    if args.out is None:  # the smoke run's output is git-ignored (*.tmp)
        name = "sparse_latency_quick.json.tmp" if args.quick else "sparse_latency.json"
        args.out = str(RESULTS / name)
    warnings.filterwarnings("ignore")
    scale = 0.01 if args.quick else 1.0
    rounds = 1 if args.quick else args.rounds
    reps = 2 if args.quick else 5
    min_chunk_s = 0.0005 if args.quick else 0.002

    import numba

    torch.set_num_threads(1)
    numba.set_num_threads(1)
    try:
        import onnxruntime

        versions = {"onnxruntime": onnxruntime.__version__}
    except ImportError:
        print("onnxruntime not installed (the onnx extra): no ONNX Runtime row")
        versions = {}
    report = {
        "machine": machine_info(1, numba=numba.__version__, **versions),
        "quick": args.quick,
        "rounds": rounds,
        "repetitions": reps,
        "min_chunk_s": min_chunk_s,
        "configs": {},
    }
    with threadpool_limits(1):
        crit = field_sizes(26, 13, int(CRITEO_ROWS * scale), seed=0)
        ava = field_sizes(23, 0, int(AVAZU_ROWS * scale), seed=1)
        configs = {
            "criteo D-99% R-95% F-40%": (crit, 13, 10, (400,) * 3, 0.99, 0.95, 0.40),
            "avazu D-98% R-90% F-0%": (ava, 0, 20, (300,) * 3, 0.98, 0.90, 0.0),
        }
        for name, (sizes, n_num, k, hidden, d, r, f) in configs.items():
            t0 = time.perf_counter()
            est = make_estimator(sizes, n_num, k, hidden, dnn=d, pairs=r, emb=f, seed=0)
            print(f"[{name}] built in {time.perf_counter() - t0:.1f}s", flush=True)
            load_before = os.getloadavg()
            res = bench_config(name, est, BATCHES, rounds, min_chunk_s, reps)
            res["loadavg_before_after"] = [load_before, os.getloadavg()]
            dense = make_estimator(
                sizes, n_num, k, hidden, dnn=0, pairs=0, emb=0, seed=0
            )
            res["paper_measure"] = paper_measure(dense, est, rounds, min_chunk_s, reps)
            del dense
            res["size"] = size_report(est)
            res["float16_cost"] = float16_cost(est)
            report["configs"][name] = res
            del est
        name = "criteo D-90% R-90% F-90% (size only)"
        est = make_estimator(
            crit, 13, 10, (400,) * 3, dnn=0.9, pairs=0.9, emb=0.9, seed=0
        )
        xi, xv = sample_inputs(est, 4096, np.random.default_rng(5))
        with torch.inference_mode():
            ref = est.module_(torch.from_numpy(xi), torch.from_numpy(xv)).numpy()
        report["configs"][name] = {
            "size": size_report(est),
            "float16_cost": float16_cost(est),
            "checks": {
                "rel_err_logit_numba": rel_err(
                    est.to_sparse().decision_function_indexed(xi, xv), ref
                )
            },
            "batches": {},
        }
    table = fmt_table(report)
    report["table_markdown"] = table
    print(table)
    stamp_loadavg_end(report["machine"])
    out = write_json(args.out, report, indent=2)
    print(f"\nwrote {out}")
    return report


if __name__ == "__main__":
    main()
