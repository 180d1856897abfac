"""A fresh serving process: import, load, first and warm predictions.

Saves the serve benchmark's model (``benchmarks.serve_load.build_model``: a
FieldEncoder of 39 raw Criteo-format fields and a DeepFwFM 400x3 at D-99%
R-95% F-40%) with ``sklearn_deeplight.save``, then starts fresh Python
processes that import the package, ``load`` the file and score one raw row
twice (a one-row DataFrame, and one dict through ``ServingPipeline`` when
the package has it), timing each step; medians over the runs. Also times
``import sklearn.base`` alone, the floor any scikit-learn estimator pays,
and, in one more fresh process per run, the import of each dependency a
loaded model needs (numpy, scipy.sparse, numba, pandas, sklearn.base), each
one's increment over those before it. And the floor of any process that
scores with this library's numba kernels, in one more fresh process per run:
``import numpy``, ``import numba``, the kernels' module, and one call of the
per-sample kernel on the saved predictor's packed arrays (numba loads it
from its on-disk cache on that first call), with no scikit-learn, pandas or
file format involved. Then the same floor with that kernel compiled ahead of
time (``numba.pycc``, deprecated by numba and needing a C compiler) into an
extension module that a fresh process imports without numba: a prototype the
library does not ship, timed as evidence for how a serving process could
start, with its probabilities compared bit for bit with the
numba kernel's; skipped, with the reason recorded, where it cannot be built.
Writes ``benchmarks/results/warm_start.json``.

Run from the repository root: ``python -m benchmarks.warm_start [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from ._common import RESULTS, command_line, machine_info, stamp_loadavg_end, write_json

if TYPE_CHECKING:
    import numpy as np

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

#: Builds the ahead-of-time prototype: the per-sample kernel's fused
#: ``proba_small`` on int64 codes, for this machine's CPU.
_AOT_BUILD = """
import sys
from numba.pycc import CC
from sklearn_deeplight import _kernels
cc = CC("deeplight_aot_probe")
cc.output_dir = sys.argv[1]
cc.target_cpu = "host"
sig = ("Tuple((f8[:, :], b1))"
       "(i8[:, ::1], f4[:, ::1], f4[::1], u4[::1], u8[::1], i8[::1])")
@cc.export("proba_small", sig)
def proba_small(X, table, fp, ip, pp, meta):
    return _kernels.proba_small(X, table, fp, ip, pp, meta)
cc.compile()
"""

#: The ahead-of-time floor: numpy, the prototype's module, the first call.
_AOT = """
import json, sys, time
t0 = time.perf_counter()
import numpy as np
t1 = time.perf_counter()
sys.path.insert(0, sys.argv[1])
import deeplight_aot_probe
t2 = time.perf_counter()
with np.load(sys.argv[2]) as d:
    args = [d[k] for k in ("table", "fp", "ip", "pp", "meta")]
    codes = d["codes"]
t3 = time.perf_counter()
proba, ok = deeplight_aot_probe.proba_small(codes, *args)
t4 = time.perf_counter()
deeplight_aot_probe.proba_small(codes, *args)
t5 = time.perf_counter()
np.save(sys.argv[3], proba)
print(json.dumps(dict(numpy_s=t1 - t0, module_s=t2 - t1, arrays_s=t3 - t2,
                      first_call_s=t4 - t3, warm_call_s=t5 - t4,
                      floor_s=(t2 - t0) + (t4 - t3), ok=bool(ok),
                      numba_imported="numba" in sys.modules)))
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


def _aot_floor(tmp: Path, arrays: Path, runs: int, expected: np.ndarray) -> dict:
    """Medians of the ahead-of-time prototype's fresh processes (see the
    module's docstring), or ``{"error": ...}`` where it cannot be built,
    imported or called. ``expected``: the numba kernel's probabilities."""
    import numpy as np

    build = tmp / "aot"
    build.mkdir()
    t0 = time.perf_counter()
    try:
        done = subprocess.run(
            [sys.executable, "-c", _AOT_BUILD, str(build)],
            capture_output=True,
            text=True,
            timeout=600,
        )
    except subprocess.TimeoutExpired:
        return {"error": "the build ran past 600 s"}
    build_s = time.perf_counter() - t0
    if done.returncode != 0:
        return {"error": f"build: {_failure(done)}"}
    out = tmp / "aot_proba.npy"
    results = []
    for _ in range(runs):
        done = subprocess.run(
            [sys.executable, "-c", _AOT, str(build), str(arrays), str(out)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        if done.returncode != 0:
            return {"error": f"run: {_failure(done)}"}
        results.append(json.loads(done.stdout))
    med = {
        k: statistics.median(r[k] for r in results)
        for k in results[0]
        if k not in ("ok", "numba_imported")
    }
    med["build_s"] = build_s
    med["numba_imported"] = any(r["numba_imported"] for r in results)
    med["same_bits_as_numba"] = bool(
        all(r["ok"] for r in results) and np.array_equal(np.load(out), expected)
    )
    return med


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

    from sklearn_deeplight import _kernels, save

    from .serve_load import build_model

    runs = args.runs or (2 if args.quick else 7)
    n_rows = 20_000 if args.quick else 200_000
    machine = machine_info(threads=1)
    pipe, X_held, table_rows = build_model(n_rows)
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "model.skdl"
        row = Path(tmp) / "row.pkl"
        arrays = Path(tmp) / "kernel_args.npz"
        save(pipe, model)
        X_held.iloc[:1].to_pickle(row)
        encoder, predictor = pipe[0], pipe[-1]
        packed = predictor._get_packed(_kernels)
        codes = np.ascontiguousarray(encoder.transform(X_held.iloc[:1]), np.int64)
        np.savez(arrays, table=predictor._table, fp=packed[0], ip=packed[1],
                 pp=packed[2], meta=packed[3], codes=codes)  # fmt: skip
        results = [json.loads(_child(_CHILD, model, row)) for _ in range(runs)]
        sklearn_s = [float(_child(_SKLEARN)) for _ in range(runs)]
        imports = [json.loads(_child(_IMPORTS)) for _ in range(runs)]
        floors = [json.loads(_child(_FLOOR, arrays)) for _ in range(runs)]
        expected, ok = _kernels.proba_small(codes, predictor._table, *packed)
        assert ok, "the numba kernel declined the saved row"
        aot = _aot_floor(Path(tmp), arrays, runs, expected)
        size = model.stat().st_size
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
        "model": {"embedding_rows": table_rows, "file_bytes": size, "fit_rows": n_rows},
        "runs": runs,
        "median": med,
        "imports_s": imports_s,
        "numba_floor_s": floor,
        "aot_floor_s": aot,
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
    for key, value in aot.items():
        shown = f"{value:.4f}" if type(value) is float else value
        print(f"ahead-of-time floor {key:18s} {shown}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
