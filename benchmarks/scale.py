"""Peak memory and time of training from click logs through the on-disk path.

For each size, a Criteo-layout TSV log (label, I1..I13, C1..C26) is written
chunk by chunk, then three streaming phases run, each in a fresh Python
process whose peak resident set size (``VmHWM``) is reported:

1. ``encoder``: ``fit_encoder`` (``FieldEncoder.partial_fit`` over
   ``load_criteo(path, chunksize=...)``);
2. ``encode``: ``encode_to_memmap`` into ``.npy`` files;
3. ``train``: ``fit_ondisk`` of a small DeepFwFM for one epoch
   (``shuffle="blocks"``, no validation split), torch on one thread;
   with ``--exact-up-to N`` also with ``shuffle="exact"`` (``train_exact``)
   on the sizes up to N rows.

The logs are generated with ``make_ctr_classification``: a pool of rows (one
seed, so one ground truth and one vocabulary) formatted once, and each log
chunk drawn from the pool with replacement. The vocabulary, and so the model,
is then the same at every size: what grows is the number of rows.

``--baseline`` also runs the in-memory path (``load_criteo`` whole,
``FieldEncoder.fit_transform``, ``fit``) on the smallest size for contrast.

Usage::

    python -m benchmarks.scale                         # 1M, 4M, 16M rows
    python -m benchmarks.scale --sizes 1000000 4000000 --baseline
    python -m benchmarks.scale --quick                 # seconds

Writes ``benchmarks/results/scale.json`` (``--quick``: ``scale_quick.json.tmp``,
git-ignored) and prints a table. Logs and encoded files go to ``--workdir``
(default: a temporary directory) and are deleted after each size unless
``--keep``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ._common import RESULTS, command_line, machine_info, write_json

CHUNK_ROWS = 100_000
CARDINALITIES = (
    1460, 580, 20_000, 17_000, 300, 24, 12_000, 630, 3, 16_000, 5_200, 20_000,
    3_200, 28, 11_000, 19_000, 10, 4_600, 2_000, 4, 20_000, 18, 15, 8_000, 100, 50,
)  # fmt: skip


# ----------------------------------------------------------------------
# Phases (run in child processes)
# ----------------------------------------------------------------------
def _peak_rss_mb() -> float:
    """Peak resident set size of this process (``VmHWM``), in MiB.

    Not ``getrusage``'s ``ru_maxrss``: that one survives ``fork`` + ``exec``,
    so a child would report at least the driver's peak.
    """
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def _make_estimator(threads: int):
    import torch

    from sklearn_deeplight import DeepFwFMClassifier

    torch.set_num_threads(threads)
    # import torch._dynamo (pulled in by the first optimizer, ~100 MB and
    # seconds) before measuring: a fixed cost of any training process
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])
    return DeepFwFMClassifier(
        embedding_dim=8,
        hidden_units=(64, 64),
        dropout=0.0,
        max_epochs=1,
        batch_size=4096,
        validation_fraction=None,
        random_state=0,
    )


def phase_encoder(args) -> dict:
    import joblib

    from sklearn_deeplight import FieldEncoder
    from sklearn_deeplight._ondisk import fit_encoder
    from sklearn_deeplight.datasets import load_criteo

    rss0 = _rss_mb()
    t0, c0 = time.perf_counter(), time.process_time()
    enc = FieldEncoder(numeric_transform="criteo", min_frequency=args.min_frequency)
    fit_encoder(enc, load_criteo(args.log, chunksize=CHUNK_ROWS))
    seconds = time.perf_counter() - t0
    cpu_seconds = time.process_time() - c0
    joblib.dump(enc, args.encoder)
    return {
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "rss_start_mb": rss0,
        "peak_rss_mb": _peak_rss_mb(),
        "embedding_rows": int(enc.field_dims_.sum()),
    }


def phase_encode(args) -> dict:
    import joblib

    from sklearn_deeplight._ondisk import encode_to_memmap
    from sklearn_deeplight.datasets import load_criteo

    enc = joblib.load(args.encoder)
    rss0 = _rss_mb()
    t0, c0 = time.perf_counter(), time.process_time()
    data = encode_to_memmap(
        load_criteo(args.log, chunksize=CHUNK_ROWS),
        args.data,
        encoder=enc,
        overwrite=True,
    )
    seconds = time.perf_counter() - t0
    cpu_seconds = time.process_time() - c0
    return {
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "rss_start_mb": rss0,
        "peak_rss_mb": _peak_rss_mb(),
        "rows": data.n_samples,
        "file_mb": data.nbytes / 2**20,
    }


def phase_train(args) -> dict:
    from sklearn_deeplight._ondisk import OnDiskFieldData, fit_ondisk

    est = _make_estimator(args.threads)
    data = OnDiskFieldData(args.data)
    rss0 = _rss_mb()
    t0, c0 = time.perf_counter(), time.process_time()
    fit_ondisk(est, data, shuffle=args.shuffle)
    seconds = time.perf_counter() - t0
    cpu_seconds = time.process_time() - c0
    return {
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "rss_start_mb": rss0,
        "peak_rss_mb": _peak_rss_mb(),
        "rows_per_second": data.n_samples / seconds,
        "train_loss": float(est.history[-1, "train_loss"]),
        "embedding_rows": int(est._table_sizes_.sum()),
    }


def phase_in_memory(args) -> dict:
    from sklearn_deeplight import FieldEncoder
    from sklearn_deeplight.datasets import load_criteo

    est = _make_estimator(args.threads)
    rss0 = _rss_mb()
    t0, c0 = time.perf_counter(), time.process_time()
    X, y = load_criteo(args.log)
    enc = FieldEncoder(numeric_transform="criteo", min_frequency=args.min_frequency)
    Xt = enc.fit_transform(X)
    del X
    t1 = time.perf_counter()
    est.fit(Xt, y)
    t2 = time.perf_counter()
    return {
        "seconds": t2 - t0,
        "cpu_seconds": time.process_time() - c0,
        "read_encode_seconds": t1 - t0,
        "train_seconds": t2 - t1,
        "rss_start_mb": rss0,
        "peak_rss_mb": _peak_rss_mb(),
    }


PHASES = {
    "encoder": phase_encoder,
    "encode": phase_encode,
    "train": phase_train,
    "in_memory": phase_in_memory,
}


def run_phase(phase: str, args, shuffle: str = "blocks", **paths) -> dict:
    # this module again, as the driver runs (``-m``, from the same folder)
    cmd = [sys.executable, "-m", "benchmarks.scale", "--phase", phase]
    cmd += ["--threads", str(args.threads), "--min-frequency", str(args.min_frequency)]
    cmd += ["--shuffle", shuffle]
    for k, v in paths.items():
        cmd += [f"--{k}", str(v)]
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------
# Logs
# ----------------------------------------------------------------------
def make_pool(pool_rows: int, seed: int) -> np.ndarray:
    """Criteo-layout TSV lines (bytes) of generated rows."""
    import pandas as pd

    from sklearn_deeplight.datasets import make_ctr_classification

    X, y = make_ctr_classification(
        pool_rows,
        cardinalities=CARDINALITIES,
        n_interactions=10,
        random_state=seed,
    )
    cols = {"label": y}
    for name in X.columns[:13]:
        cols[name] = X[name].astype("Int64")
    for name in X.columns[13:]:
        cols[name] = X[name].astype(object)
    text = pd.DataFrame(cols).to_csv(sep="\t", header=False, index=False)
    lines = text.encode().splitlines(keepends=True)
    return np.asarray(lines, dtype=object)


def write_log(path: Path, pool: np.ndarray, n_rows: int, seed: int) -> float:
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    with open(path, "wb") as f:
        for start in range(0, n_rows, CHUNK_ROWS):
            idx = rng.integers(0, len(pool), min(CHUNK_ROWS, n_rows - start))
            f.write(b"".join(pool[idx]))
    return time.perf_counter() - t0


# ----------------------------------------------------------------------
# Driver
# ----------------------------------------------------------------------
def _table(results: list[dict]) -> str:
    head = (
        f"{'rows':>11} {'phase':>11} {'seconds':>9} {'s/M rows':>9} "
        f"{'CPU s/M':>8} {'peak RSS MB':>12} {'start MB':>9}"
    )
    lines = [head, "-" * len(head)]
    for r in results:
        for phase in ("encoder", "encode", "train", "train_exact", "in_memory"):
            p = r.get(phase)
            if p is None:
                continue
            lines.append(
                f"{r['rows']:>11,} {phase:>11} {p['seconds']:>9.1f} "
                f"{p['seconds'] / r['rows'] * 1e6:>9.1f} "
                f"{p.get('cpu_seconds', float('nan')) / r['rows'] * 1e6:>8.1f} "
                f"{p['peak_rss_mb']:>12.0f} "
                f"{p['rss_start_mb']:>9.0f}"
            )
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=None)
    parser.add_argument("--quick", action="store_true", help="smoke run, seconds")
    parser.add_argument("--baseline", action="store_true")
    parser.add_argument("--pool-rows", type=int, default=None)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--min-frequency", type=int, default=1)
    parser.add_argument(
        "--exact-up-to",
        type=int,
        default=0,
        help="also train with shuffle='exact' on the sizes up to this many rows",
    )
    parser.add_argument("--shuffle", default="blocks", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--out", type=Path, default=None)
    # child-process arguments
    parser.add_argument("--phase", choices=tuple(PHASES), help=argparse.SUPPRESS)
    for name in ("log", "encoder", "data"):
        parser.add_argument(f"--{name}", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.phase:
        print(json.dumps(PHASES[args.phase](args)))
        return 0

    sizes = args.sizes or (
        [20_000, 80_000] if args.quick else [10**6, 4 * 10**6, 16 * 10**6]
    )
    pool_rows = args.pool_rows or (20_000 if args.quick else 500_000)
    out = args.out or RESULTS / ("scale_quick.json.tmp" if args.quick else "scale.json")
    own_tmp = args.workdir is None
    workdir = (
        Path(tempfile.mkdtemp(prefix="deeplight-scale-")) if own_tmp else args.workdir
    )
    workdir.mkdir(parents=True, exist_ok=True)

    import sklearn_deeplight

    # this file's layout predates the "machine" dict of the other scripts:
    # the same information, at the top level
    machine = machine_info(args.threads)
    report = {
        "benchmark": "scale",
        "command": command_line("scale", argv),
        "python": machine["python"],
        "torch": machine["torch"],
        "sklearn_deeplight": sklearn_deeplight.__version__,
        "machine": platform.machine(),
        "cpus": machine["cpu_count"],
        "load_average": machine["loadavg_start"],
        "threads": machine["threads"],
        "chunk_rows": CHUNK_ROWS,
        "pool_rows": pool_rows,
        "model": "DeepFwFMClassifier(embedding_dim=8, hidden_units=(64, 64), "
        "batch_size=4096, max_epochs=1)",
        "results": [],
    }
    print(f"pool of {pool_rows:,} generated rows ...", file=sys.stderr, flush=True)
    pool = make_pool(pool_rows, args.seed)
    try:
        for i, n in enumerate(sizes):
            log = workdir / f"log_{n}.tsv"
            data = workdir / f"data_{n}"
            encoder = workdir / f"encoder_{n}.joblib"
            gen = write_log(log, pool, n, args.seed + 1 + i)
            row: dict = {
                "rows": n,
                "log_mb": log.stat().st_size / 2**20,
                "generate_seconds": gen,
            }
            print(
                f"{n:,} rows: log written ({row['log_mb']:.0f} MB, {gen:.0f}s)",
                file=sys.stderr,
                flush=True,
            )
            for phase, paths in (
                ("encoder", {"log": log, "encoder": encoder}),
                ("encode", {"log": log, "encoder": encoder, "data": data}),
                ("train", {"data": data}),
            ):
                row[phase] = run_phase(phase, args, **paths)
                print(f"  {phase}: {row[phase]}", file=sys.stderr, flush=True)
            if n <= args.exact_up_to:
                row["train_exact"] = run_phase("train", args, "exact", data=data)
                print(
                    f"  train_exact: {row['train_exact']}", file=sys.stderr, flush=True
                )
            if args.baseline and i == 0:
                row["in_memory"] = run_phase("in_memory", args, log=log)
                print(f"  in_memory: {row['in_memory']}", file=sys.stderr, flush=True)
            report["results"].append(row)
            write_json(out, report, newline=True)  # after each size
            if not args.keep:
                log.unlink()
                encoder.unlink()
                shutil.rmtree(data)
    finally:
        if own_tmp and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    print(_table(report["results"]))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
