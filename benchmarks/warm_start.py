"""A fresh serving process: import, load, first and warm predictions.

Saves the serve benchmark's model (``benchmarks.serve_load.build_model``: a
FieldEncoder of 39 raw Criteo-format fields and a DeepFwFM 400x3 at D-99%
R-95% F-40%) with ``sklearn_deeplight.save``, twice: as the scikit-learn
pipeline and as its :class:`~sklearn_deeplight.RecordPredictor`. Then starts
fresh Python processes that import the package, ``load`` a file and score one
raw row twice, timing each step; medians over the runs:

- the pipeline, on a one-row DataFrame (the pandas import and the row's
  reading are outside the timing);
- the RecordPredictor on one JSON record (read before the timing), with the
  numba kernels (numba's on-disk cache warm: one untimed process first);
- the RecordPredictor with the kernels compiled ahead of time
  (``sklearn_deeplight.compile_kernels``, built here into a temporary folder
  and found through ``DEEPLIGHT_KERNEL_DIR``; skipped, with the reason
  recorded, where it cannot be built).

Each process reports which of scikit-learn, pandas, pyarrow, scipy.sparse,
numba, llvmlite and torch it imported; the probabilities of the three paths
are compared bit for bit. Also times ``import sklearn.base`` alone, the floor
any scikit-learn estimator pays, the import of each dependency a loaded
pipeline needs (numpy, scipy.sparse, numba, pandas, sklearn.base), each one's
increment over those before it, and the floor of any process that scores
with the numba kernels: ``import numpy``, ``import numba``, the kernels'
module and one (cached) call of the per-sample kernel. Writes
``benchmarks/results/warm_start.json``.

Run from the repository root: ``python -m benchmarks.warm_start [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ._common import RESULTS, command_line, machine_info, stamp_loadavg_end, write_json

_CHILD = """
import json, sys, time
t0 = time.perf_counter()
import sklearn_deeplight as sd
t1 = time.perf_counter()
model = sd.load(sys.argv[1])
t2 = time.perf_counter()
import pandas as pd
row = pd.read_pickle(sys.argv[2])
t3 = time.perf_counter()
model.predict_proba(row)
t4 = time.perf_counter()
model.predict_proba(row)
t5 = time.perf_counter()
out = dict(import_s=t1 - t0, load_s=t2 - t1, first_s=t4 - t3, warm_s=t5 - t4,
           torch_imported="torch" in sys.modules)
print(json.dumps(out))
"""

#: The dependencies a loaded model imports, in order: each one's increment
#: over those before it, in one fresh process.
_IMPORTS = """
import importlib, json, time
out = {}
for name in ("numpy", "scipy.sparse", "numba", "pandas", "sklearn.base"):
    t0 = time.perf_counter()
    importlib.import_module(name)
    out[name] = time.perf_counter() - t0
print(json.dumps(out))
"""

#: The numba floor: numpy, numba, the kernels' module and the first
#: (cached) call of the per-sample kernel, nothing else.
_FLOOR = """
import json, sys, time
t0 = time.perf_counter()
import numpy as np
t1 = time.perf_counter()
import numba
t2 = time.perf_counter()
from sklearn_deeplight import _kernels
t3 = time.perf_counter()
with np.load(sys.argv[1]) as d:
    args = [d[k] for k in ("table", "fp", "ip", "pp", "meta")]
    codes = d["codes"]
t4 = time.perf_counter()
_kernels.proba_small(codes, *args)
t5 = time.perf_counter()
print(json.dumps(dict(numpy_s=t1 - t0, numba_s=t2 - t1, kernels_module_s=t3 - t2,
                      arrays_s=t4 - t3, first_kernel_call_s=t5 - t4,
                      floor_s=(t2 - t0) + (t5 - t4),
                      scipy_imported="scipy" in sys.modules)))
"""

#: A RecordPredictor: the record is read before the timing (the request).
_RECORD = """
import json, sys, time
record = json.load(open(sys.argv[2]))
t0 = time.perf_counter()
import sklearn_deeplight as sd
t1 = time.perf_counter()
model = sd.load(sys.argv[1])
t2 = time.perf_counter()
proba = model.predict_proba(record)
t3 = time.perf_counter()
model.predict_proba(record)
t4 = time.perf_counter()
names = ("sklearn", "pandas", "pyarrow", "scipy.sparse", "numba", "llvmlite", "torch")
out = dict(import_s=t1 - t0, load_s=t2 - t1, first_s=t3 - t2, warm_s=t4 - t3,
           compiled=model.compiled_, proba=proba.tolist(),
           modules=[m for m in names if m in sys.modules])
print(json.dumps(out))
"""

_SKLEARN = """
import time; t0 = time.perf_counter(); import sklearn.base
print(time.perf_counter() - t0)
"""


def _child(code: str, *args: Path) -> str:
    """The stdout of ``python -c code args...`` in a fresh process."""
    return subprocess.run(
        [sys.executable, "-c", code, *map(str, args)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def _failure(done: subprocess.CompletedProcess) -> str:
    """The last line a failed child wrote (stderr, else stdout), or its exit
    status."""
    lines = (done.stderr or done.stdout or "").strip().splitlines()
    return lines[-1][:300] if lines else f"exit status {done.returncode}"


def _record_child(model: Path, record: Path, kernel_dir: Path) -> dict:
    """One fresh RecordPredictor process that looks for compiled kernels in
    ``kernel_dir``; ``{"error": ...}`` where it fails."""
    done = subprocess.run(
        [sys.executable, "-c", _RECORD, str(model), str(record)],
        capture_output=True,
        text=True,
        env={**os.environ, "DEEPLIGHT_KERNEL_DIR": str(kernel_dir)},
        timeout=600,
    )
    if done.returncode != 0:
        return {"error": _failure(done)}
    return json.loads(done.stdout)


def _record_medians(results: list[dict]) -> dict:
    """Medians of RecordPredictor processes (see :func:`_record_child`)."""
    errors = [r["error"] for r in results if "error" in r]
    if errors:
        return {"error": errors[0]}
    med = {
        k: statistics.median(r[k] for r in results)
        for k in ("import_s", "load_s", "first_s", "warm_s")
    }
    med["total_s"] = med["import_s"] + med["load_s"] + med["first_s"]
    med["first_over_warm"] = med["first_s"] / med["warm_s"]
    med["compiled"] = all(r["compiled"] for r in results)
    med["modules"] = sorted({m for r in results for m in r["modules"]})
    med["all"] = [{k: r[k] for k in r if k != "proba"} for r in results]
    return med


def _build(folder: Path) -> tuple[float | None, str | None]:
    """Seconds to compile the kernels into ``folder``, or the error."""
    from sklearn_deeplight import compile_kernels

    t0 = time.perf_counter()
    try:
        compile_kernels(folder)
    except RuntimeError as exc:
        return None, str(exc).splitlines()[-1][:300]
    return time.perf_counter() - t0, None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small model, 2 runs")
    parser.add_argument("--runs", type=int, default=None)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    if args.out is None:
        name = "warm_start_quick.json.tmp" if args.quick else "warm_start.json"
        args.out = str(RESULTS / name)
    import numpy as np

    from sklearn_deeplight import RecordPredictor, _kernels, save

    from .serve_load import build_model

    runs = args.runs or (2 if args.quick else 7)
    n_rows = 20_000 if args.quick else 200_000
    machine = machine_info(threads=1)
    pipe, X_held, table_rows = build_model(n_rows)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        model, record_model = tmp / "model.skdl", tmp / "record_model.skdl"
        row, record = tmp / "row.pkl", tmp / "record.json"
        arrays = tmp / "kernel_args.npz"
        save(pipe, model)
        save(RecordPredictor.from_pipeline(pipe), record_model)
        X_held.iloc[:1].to_pickle(row)
        rec = {k: (None if v != v else v) for k, v in X_held.iloc[0].items()}
        record.write_text(json.dumps(rec))
        expected_proba = pipe.predict_proba(X_held.iloc[:1]).tolist()
        encoder, predictor = pipe[0], pipe[-1]
        packed = predictor._get_packed(_kernels)
        codes = np.ascontiguousarray(encoder.transform(X_held.iloc[:1]), np.int64)
        np.savez(arrays, table=predictor._table, fp=packed[0], ip=packed[1],
                 pp=packed[2], meta=packed[3], codes=codes)  # fmt: skip
        build_s, build_error = _build(tmp / "kernels")
        kinds = {"numba": tmp / "no-kernels", "compiled": tmp / "kernels"}
        # untimed: numba's on-disk cache (compiled on a miss), the OS's
        _child(_CHILD, model, row)
        _child(_FLOOR, arrays)
        for folder in kinds.values():
            _record_child(record_model, record, folder)
        results, by_kind = [], {kind: [] for kind in kinds}
        sklearn_s, imports, floors = [], [], []
        for _ in range(runs):  # the kinds of process interleaved
            results.append(json.loads(_child(_CHILD, model, row)))
            for kind, folder in kinds.items():
                by_kind[kind].append(_record_child(record_model, record, folder))
            sklearn_s.append(float(_child(_SKLEARN)))
            imports.append(json.loads(_child(_IMPORTS)))
            floors.append(json.loads(_child(_FLOOR, arrays)))
        size = model.stat().st_size
        record_size = record_model.stat().st_size
    record_predictor = {kind: _record_medians(r) for kind, r in by_kind.items()}
    if build_error is not None:
        record_predictor["compiled"] = {"error": build_error}
    else:
        record_predictor["compiled"]["build_s"] = build_s
    probas = [r.get("proba") for rs in by_kind.values() for r in rs]
    record_predictor["same_bits_as_pipeline"] = bool(
        build_error is None and all(p == expected_proba for p in probas)
    )
    med = {
        k: statistics.median(r[k] for r in results)
        for k in results[0]
        if k != "torch_imported"
    }
    med["total_s"] = med["import_s"] + med["load_s"] + med["first_s"]
    med["first_over_warm"] = med["first_s"] / med["warm_s"]
    med["sklearn_import_s"] = statistics.median(sklearn_s)
    imports_s = {k: statistics.median(r[k] for r in imports) for k in imports[0]}
    floor = {
        k: statistics.median(r[k] for r in floors)
        for k in floors[0]
        if k != "scipy_imported"
    }
    stamp_loadavg_end(machine)
    report = {
        "command": command_line("warm_start", argv),
        "machine": machine,
        "model": {
            "embedding_rows": table_rows,
            "file_bytes": size,
            "record_predictor_file_bytes": record_size,
            "fit_rows": n_rows,
        },
        "runs": runs,
        "median": med,
        "record_predictor": record_predictor,
        "imports_s": imports_s,
        "numba_floor_s": floor,
        "torch_imported": any(r["torch_imported"] for r in results),
        "all": results,
    }
    write_json(args.out, report)
    for key, value in med.items():
        print(f"{key:18s} {value:.4f}")
    for key, value in imports_s.items():
        print(f"import {key:12s} {value:.4f} (after the ones above)")
    for key, value in floor.items():
        print(f"numba floor {key:22s} {value:.4f}")
    for kind in ("numba", "compiled"):
        for key, value in record_predictor[kind].items():
            if key != "all":
                shown = f"{value:.4f}" if type(value) is float else value
                print(f"RecordPredictor ({kind}) {key:16s} {shown}")
    print(f"same bits as the pipeline: {record_predictor['same_bits_as_pipeline']}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
