"""Raw Criteo-format rows to click probabilities: encoder and serving latency.

Issue 13, items 1 and 2. A :class:`~sklearn_deeplight.FieldEncoder` is fitted
on generated Criteo-format rows whose vocabulary is the paper's (39 fields,
13 numeric, 26 categorical of 8-hex-digit strings, 1,326,055 embedding rows
split across the fields as in ``sparse_latency.py``), in front of the
paper-shape DeepFwFM of ``sparse_latency.py`` (k=10, DNN 400x3, D-99% R-95%
F-40%, random weights pruned by magnitude) as a
:class:`~sklearn_deeplight.SparseCTRPredictor` with the encoder's column
names. Requests: per categorical field Zipf(1.1) ranks through a random
permutation of its vocabulary, 3% unseen values and 5% missing (NaN); numeric
fields integer counts with 10% missing. The encoder's column-by-column
pandas path, ``FieldEncoder._transform_reference``, is what ``transform``
ran before the fast path (the "before" rows).

Timing: one thread (numba, BLAS, torch), all implementations interleaved in
one process in a shuffled order per round (``_common.time_rounds``: 2
warm-up calls then 5 repetitions of at least ``min_chunk_s`` of calls on
pooled inputs; the round's value is the median repetition). Reported: the
median over rounds of the wall time per call, and per implementation the
median over rounds of its ratio to the predictor alone on the encoded rows
(``predictor.predict_proba`` of the encoder's DataFrame), the issue's
reference (target: the serving object <= 2x at batch 1, <= 1.5x at 4096).
The load average is recorded before and after. Also: the serving pipeline
saved with ``sklearn_deeplight.save`` and loaded back in this process
(the file's size, the median of three ``load`` times, the same bits). The
serving pipeline's :class:`~sklearn_deeplight.RecordPredictor` is timed on
the same dicts (it encodes them value by value at every batch size).

Usage::

    python -m benchmarks.encode_latency            # paper's vocabulary, minutes
    python -m benchmarks.encode_latency --quick    # 1% of it, seconds

Writes ``benchmarks/results/encode_latency.json`` (``--quick``:
``encode_latency_quick.json.tmp``, git-ignored; ``--out`` to change).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import warnings

import numpy as np
import pandas as pd

from ._common import (
    RESULTS,
    command_line,
    machine_info,
    stamp_loadavg_end,
    time_rounds,
    write_json,
)

CRITEO_ROWS = 1_326_055
N_NUM, N_CAT = 13, 26
BATCHES = (1, 4096)
BASELINE = "predictor.predict_proba(encoded)"


def _hex(values: np.ndarray) -> np.ndarray:
    """8-hex-digit strings of uint32 values (object array)."""
    digits = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
    shifts = np.arange(28, -1, -4, dtype=np.uint64)
    nibbles = (values.astype(np.uint64)[:, None] >> shifts) & np.uint64(15)
    chars = digits[nibbles.astype(np.intp)]
    return chars.view("S8").ravel().astype(str).astype(object)


def make_vocabularies(sizes: np.ndarray, seed: int) -> list[np.ndarray]:
    """Per categorical field, ``size - 2`` distinct hex strings (the encoder
    then has ``size - 1`` codes, the table ``size`` rows with its OOV row)."""
    rng = np.random.default_rng(seed)
    vocabs = []
    for size in sizes[N_NUM:]:
        m = int(size) - 2
        values = np.unique(rng.integers(0, 2**32, size=2 * m + 16, dtype=np.uint64))
        vocabs.append(_hex(rng.permutation(values)[:m]))
    return vocabs


def fit_frame(vocabs: list[np.ndarray], seed: int) -> pd.DataFrame:
    """Rows that hold every vocabulary value (no missing categorical value,
    so that missing values share the OOV code and the codes fit the table)."""
    rng = np.random.default_rng(seed)
    n = max(len(v) for v in vocabs)
    cols = {}
    for i in range(N_NUM):
        counts = np.minimum(rng.zipf(1.3, n) - 1, 100_000).astype(np.float64)
        counts[rng.random(n) < 0.1] = np.nan
        cols[f"I{i + 1}"] = counts
    for j, vocab in enumerate(vocabs):
        cols[f"C{j + 1}"] = pd.Series(vocab[np.arange(n) % len(vocab)], dtype="str")
    return pd.DataFrame(cols)


def request_frame(vocabs, n: int, rng) -> pd.DataFrame:
    """Raw request rows as the Criteo reader gives them (float64, str)."""
    cols = {}
    for i in range(N_NUM):
        counts = np.minimum(rng.zipf(1.3, n) - 1, 100_000).astype(np.float64)
        counts[rng.random(n) < 0.1] = np.nan
        cols[f"I{i + 1}"] = counts
    for j, vocab in enumerate(vocabs):
        rank = (rng.zipf(1.1, n) - 1) % len(vocab)
        perm = np.random.default_rng(1000 + j).permutation(len(vocab))
        values = vocab[perm[rank]].copy()
        u = rng.random(n)
        values[u < 0.03] = "zz" + str(j)  # unseen
        values[(u >= 0.03) & (u < 0.08)] = np.nan  # missing
        cols[f"C{j + 1}"] = pd.Series(values, dtype="str")
    return pd.DataFrame(cols)


def rel_err(a, b) -> float:
    """Largest elementwise relative difference."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))


def normwise_err(a, b) -> float:
    """max |a - b| / max |b| (the notes' measure of the predictor)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def _save_and_load(server, X, loads: int = 3) -> dict:
    """The serving pipeline saved by ``sklearn_deeplight.save`` and read back
    by ``load`` ``loads`` times in this process (imports and compiled kernels
    already loaded: the file's decoding and checks, the encoder's tables and
    the warm-up): the file's size, the median load time and whether the
    loaded copy scores ``X`` to the same bits."""
    import tempfile
    from pathlib import Path

    from sklearn_deeplight import load, save

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "server.skdl"
        t0 = time.perf_counter()
        save(server, path)
        save_s = time.perf_counter() - t0
        times = []
        for _ in range(loads):
            t0 = time.perf_counter()
            loaded = load(path, max_memory=16 * 2**30)
            times.append(time.perf_counter() - t0)
        same = bool(np.array_equal(loaded.predict_proba(X), server.predict_proba(X)))
        return {
            "file_bytes": path.stat().st_size,
            "save_s": save_s,
            "load_s": statistics.median(times),
            "loads": loads,
            "same_bits_after_load": same,
        }


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="seconds-long smoke run")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--out", default=None, help="JSON path")
    args = parser.parse_args(argv)
    if args.out is None:  # the smoke run's output is git-ignored (*.tmp)
        name = "encode_latency_quick.json.tmp" if args.quick else "encode_latency.json"
        args.out = str(RESULTS / name)
    warnings.filterwarnings("ignore")
    scale = 0.01 if args.quick else 1.0
    rounds = 1 if args.quick else args.rounds
    reps = 2 if args.quick else 5
    min_chunk_s = 0.0005 if args.quick else 0.005

    import numba
    import torch
    from sklearn.pipeline import make_pipeline
    from threadpoolctl import threadpool_limits

    from sklearn_deeplight import FieldEncoder, RecordPredictor, ServingPipeline

    from .sparse_latency import field_sizes, make_estimator

    torch.set_num_threads(1)
    numba.set_num_threads(1)
    report = {
        "command": command_line("encode_latency", argv),
        "machine": machine_info(1, numba=numba.__version__, pandas=pd.__version__),
        "quick": args.quick,
        "rounds": rounds,
        "repetitions": reps,
        "min_chunk_s": min_chunk_s,
    }
    with threadpool_limits(1):
        t0 = time.perf_counter()
        sizes = field_sizes(N_CAT, N_NUM, int(CRITEO_ROWS * scale), seed=0)
        vocabs = make_vocabularies(sizes, seed=0)
        fit_X = fit_frame(vocabs, seed=1)
        enc = FieldEncoder(numeric_transform="criteo").fit(fit_X)
        assert (enc.field_dims_ == np.where(sizes == 1, 1, sizes - 1)).all()
        del fit_X
        t_fit = time.perf_counter() - t0
        est = make_estimator(
            sizes, N_NUM, 10, (400,) * 3, dnn=0.99, pairs=0.95, emb=0.40, seed=0
        )
        est.feature_names_in_ = enc.feature_names_in_.copy()
        est.set_params(batch_size=4096)  # never fitted: no 'auto' batch size
        pred = est.to_sparse(engine="numba")
        plain = make_pipeline(enc, pred)
        server = ServingPipeline.from_pipeline(plain)
        record = RecordPredictor.from_pipeline(server)
        record._warm_up()  # as load does
        report["setup"] = {
            "table_rows": int(sizes.sum()),
            "vocabulary": int(enc.field_dims_[N_NUM:].sum() - N_CAT),
            "encoder_fit_s": t_fit,
            "model_build_s": time.perf_counter() - t0 - t_fit,
        }
        print(f"setup {report['setup']}", flush=True)

        rng = np.random.default_rng(7)
        # First calls: tables built, kernels loaded (timed once, not pooled).
        probe = request_frame(vocabs, 1, rng)
        t1 = time.perf_counter()
        enc.transform(probe)
        first = time.perf_counter() - t1
        t1 = time.perf_counter()
        server.predict_proba(probe.iloc[0].to_dict())
        report["first_calls_s"] = {
            "encoder.transform (builds the tables)": first,
            "server.predict_proba(dict)": time.perf_counter() - t1,
        }

        # Equality: raw rows, encoded rows, the torch estimator.
        big = request_frame(vocabs, 4096, rng)
        records = big.to_dict("records")
        encoded = enc.transform(big)
        ref_encoded = pred.predict_proba(encoded)
        checks = {
            "transform == reference (4096 rows)": bool(
                encoded.equals(enc._transform_reference(big))
            ),
            "rel_err server(DataFrame) vs encoded": rel_err(
                server.predict_proba(big), ref_encoded
            ),
            "rel_err server(list of dicts) vs encoded": rel_err(
                server.predict_proba(records), ref_encoded
            ),
            "rel_err RecordPredictor(list of dicts) vs encoded": rel_err(
                record.predict_proba(records), ref_encoded
            ),
            "rel_err server vs torch estimator": rel_err(
                server.predict_proba(big), est.predict_proba(encoded)
            ),
            "normwise_err server vs torch estimator": normwise_err(
                server.predict_proba(big), est.predict_proba(encoded)
            ),
            "rel_err server(dict) vs encoded 1-row (64 rows)": max(
                rel_err(
                    server.predict_proba(records[i]),
                    pred.predict_proba(encoded.iloc[i : i + 1]),
                )
                for i in range(64)
            ),
        }
        report["checks"] = checks
        print(f"checks {checks}", flush=True)
        report["persistence"] = _save_and_load(server, big)
        print(f"persistence {report['persistence']}", flush=True)

        report["batches"] = {}
        for B in BATCHES:
            n_pool = 128 if B == 1 else 3
            frames = [request_frame(vocabs, B, rng) for _ in range(n_pool)]
            pools = {
                "frame": [(f,) for f in frames],
                "dicts": [
                    (f.iloc[0].to_dict() if B == 1 else f.to_dict("records"),)
                    for f in frames
                ],
                "encoded": [(enc.transform(f),) for f in frames],
                "indexed": [pred.index_input(enc.transform(f)) for f in frames],
            }
            impls = {
                # before: the pandas path, as transform and as the pipeline
                "encoder.transform before (pandas path)": (
                    enc._transform_reference,
                    "frame",
                ),
                "make_pipeline(enc, pred) before": (
                    lambda X: pred.predict_proba(enc._transform_reference(X)),
                    "frame",
                ),
                # after
                "encoder.transform": (enc.transform, "frame"),
                "encoder.transform(dicts)": (enc.transform, "dicts"),
                "make_pipeline(enc, pred)": (plain.predict_proba, "frame"),
                "server.predict_proba(DataFrame)": (server.predict_proba, "frame"),
                "server.predict_proba(dicts)": (server.predict_proba, "dicts"),
                "RecordPredictor.predict_proba(dicts)": (record.predict_proba, "dicts"),
                # the predictor alone
                BASELINE: (pred.predict_proba, "encoded"),
                "predictor.decision_function_indexed": (
                    pred.decision_function_indexed,
                    "indexed",
                ),
            }
            n_rounds = rounds if B == 1 else max(1, rounds // 2)
            load_before = os.getloadavg()
            times = time_rounds(impls, pools, n_rounds, min_chunk_s, reps)
            rows = {}
            for name, clocks in times.items():
                walls, base = clocks["wall"], times[BASELINE]["wall"]
                cpus, base_cpu = clocks["cpu"], times[BASELINE]["cpu"]
                rows[name] = {
                    "median_s": statistics.median(walls),
                    "p10_s": float(np.percentile(walls, 10)),
                    "p90_s": float(np.percentile(walls, 90)),
                    "cpu_median_s": statistics.median(cpus),
                    "x_predictor_on_encoded": statistics.median(
                        [w / b for w, b in zip(walls, base)]
                    ),
                    "x_predictor_on_encoded_cpu": statistics.median(
                        [w / b for w, b in zip(cpus, base_cpu)]
                    ),
                }
            report["batches"][str(B)] = {
                "rows": rows,
                "loadavg_before_after": [load_before, os.getloadavg()],
            }
            print(f"\nbatch {B} (load {load_before[0]:.2f})", flush=True)
            for name, r in rows.items():
                print(
                    f"  {name:45s} {r['median_s'] * 1e6:10.1f} us  "
                    f"x{r['x_predictor_on_encoded']:.2f} of the predictor "
                    f"(cpu x{r['x_predictor_on_encoded_cpu']:.2f})",
                    flush=True,
                )
    stamp_loadavg_end(report["machine"])
    out = write_json(args.out, report, indent=2)
    print(f"\nwrote {out}")
    return report


if __name__ == "__main__":
    main()
