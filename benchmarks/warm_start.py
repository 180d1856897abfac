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
one's increment over those before it.
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small model, 2 runs")
    parser.add_argument("--runs", type=int, default=None)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    if args.out is None:
        name = "warm_start_quick.json.tmp" if args.quick else "warm_start.json"
        args.out = str(RESULTS / name)
    from sklearn_deeplight import save

    from .serve_load import build_model

    runs = args.runs or (2 if args.quick else 7)
    n_rows = 20_000 if args.quick else 200_000
    machine = machine_info(threads=1)
    pipe, X_held, table_rows = build_model(n_rows)
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "model.skdl"
        row = Path(tmp) / "row.pkl"
        save(pipe, model)
        X_held.iloc[:1].to_pickle(row)
        results = [json.loads(_child(_CHILD, model, row)) for _ in range(runs)]
        sklearn_s = [float(_child(_SKLEARN)) for _ in range(runs)]
        imports = [json.loads(_child(_IMPORTS)) for _ in range(runs)]
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
    stamp_loadavg_end(machine)
    report = {
        "command": command_line("warm_start", argv),
        "machine": machine,
        "model": {"embedding_rows": table_rows, "file_bytes": size, "fit_rows": n_rows},
        "runs": runs,
        "median": med,
        "imports_s": imports_s,
        "torch_imported": any(r["torch_imported"] for r in results),
        "all": results,
    }
    write_json(args.out, report)
    for key, value in med.items():
        print(f"{key:18s} {value:.4f}")
    for key, value in imports_s.items():
        print(f"import {key:12s} {value:.4f} (after the ones above)")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
