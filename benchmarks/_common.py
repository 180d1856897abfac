"""What the benchmark scripts share: machine information, timing, result files.

The scripts are modules of the ``benchmarks`` package, run from the
repository root (``python -m benchmarks <name>`` or ``python -m
benchmarks.<name>``), and import this one as ``from ._common import ...``.

- Machine: :func:`machine_info` is the ``"machine"`` dict of every results
  file (one shape, with ``loadavg_start``), :func:`stamp_loadavg_end` adds
  ``loadavg_end``; :func:`machine_fields` reads older files' key names too.
- Timing, one thread of the calling process, on a shared machine:
  :func:`time_calls` (one function, wall and thread CPU time),
  :func:`time_rounds` and :func:`summarize_rounds` (implementations timed in
  turns, wall and thread CPU time per round, medians and per-round ratios),
  :func:`wall_rounds` (per-round wall times of
  :func:`sklearn_deeplight._timing.time_interleaved`, the command's harness).
- Results: :func:`read_json`, :func:`write_json` (atomic: a temporary file
  beside the target, then ``os.replace``), :func:`merge_results` (read,
  update, write) and :func:`command_line` (the command a file records).

Imports nothing heavy at module level (``scale.py`` measures the memory of
child processes that import it): torch and numpy inside the functions.
"""

from __future__ import annotations

import json
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from sklearn_deeplight._timing import time_interleaved

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"

__all__ = [
    "RESULTS",
    "ROOT",
    "command_line",
    "machine_fields",
    "machine_info",
    "merge_results",
    "read_json",
    "stamp_loadavg_end",
    "summarize_rounds",
    "time_calls",
    "time_interleaved",
    "time_rounds",
    "wall_rounds",
    "write_json",
]


# ---------------------------------------------------------------------------
# Machine
# ---------------------------------------------------------------------------
def machine_info(threads: int | None = None, **extra: Any) -> dict:
    """The ``"machine"`` dict of a results file, with the load average now.

    ``threads``: the threads the measurements use (default: torch's current
    number). ``extra``: more entries, e.g. ``numba=numba.__version__``.
    """
    import numpy as np
    import torch

    return {
        "platform": platform.platform(),
        "processor": platform.processor(),
        "cpu_count": os.cpu_count(),
        "threads": torch.get_num_threads() if threads is None else threads,
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "numpy": np.__version__,
        **extra,
        "loadavg_start": list(os.getloadavg()),
    }


def stamp_loadavg_end(machine: dict) -> dict:
    """Set ``machine["loadavg_end"]`` to the load average now; returns it."""
    machine["loadavg_end"] = list(os.getloadavg())
    return machine


#: Key names of older results files -> :func:`machine_info`'s.
_OLD_MACHINE_KEYS = {
    "cpus": "cpu_count",
    "torch_threads": "threads",
    "loadavg": "loadavg_start",
    "load_average": "loadavg_start",
}


def machine_fields(machine: Mapping) -> dict:
    """``machine`` with the older key names (``cpus``, ``torch_threads``,
    ``loadavg``, ``load_average``) also under :func:`machine_info`'s."""
    out = dict(machine)
    for old, new in _OLD_MACHINE_KEYS.items():
        if old in out:
            out.setdefault(new, out[old])
    return out


# ---------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------
def _chunks(
    fn: Callable, pool: Sequence[tuple], min_s: float, reps: int, i: int = 0
) -> tuple[list[float], list[float], int]:
    """``reps`` chunks of calls ``fn(*pool[i])`` (``i`` going round the pool),
    each of at least ``min_s``: wall and thread CPU seconds per call of each
    chunk, and the next ``i``."""
    walls, cpus = [], []
    for _ in range(reps):
        calls = 0
        c0, t0 = time.thread_time(), time.perf_counter()
        while True:
            fn(*pool[i % len(pool)])
            i += 1
            calls += 1
            elapsed = time.perf_counter() - t0
            if elapsed >= min_s:
                break
        walls.append(elapsed / calls)
        cpus.append((time.thread_time() - c0) / calls)
    return walls, cpus, i


def time_calls(
    fn: Callable, inputs: Sequence, min_s: float = 0.2, reps: int = 5
) -> dict:
    """Median seconds per call ``fn(x)`` over ``reps`` chunks of >= ``min_s``
    of calls on ``inputs`` in turn (after one warm-up call).

    Wall clock and the calling thread's CPU time (which leaves out waiting
    for a core on a shared machine).
    """
    fn(inputs[0])
    walls, cpus, _ = _chunks(fn, [(x,) for x in inputs], min_s, reps)
    return {"wall_s": statistics.median(walls), "cpu_s": statistics.median(cpus)}


def time_rounds(
    impls: Mapping[str, tuple[Callable, str]],
    pools: Mapping[str, Sequence[tuple]],
    rounds: int,
    min_chunk_s: float,
    reps: int = 5,
) -> dict:
    """Implementations timed in turns, wall clock and thread CPU time.

    ``impls``: name -> ``(fn, pool name)``; ``fn`` is called on the argument
    tuples of ``pools[pool name]`` in turn. Each round runs every
    implementation once, in a shuffled order: two warm-up calls, then
    ``reps`` chunks of at least ``min_chunk_s`` of calls; the round's value
    is the median chunk. Returns, per implementation, the per-round seconds
    per call on the wall clock (``"wall"``) and as the calling thread's CPU
    time (``"cpu"``, which leaves out the time the process waits for a core
    on a shared machine; every implementation here computes in the calling
    thread).
    """
    times = {name: {"wall": [], "cpu": []} for name in impls}
    names = list(impls)
    rng = random.Random(0)
    for _ in range(rounds):
        rng.shuffle(names)
        for name in names:
            fn, kind = impls[name]
            pool = pools[kind]
            fn(*pool[0])
            fn(*pool[1 % len(pool)])
            walls, cpus, _ = _chunks(fn, pool, min_chunk_s, reps)
            times[name]["wall"].append(statistics.median(walls))
            times[name]["cpu"].append(statistics.median(cpus))
    return times


def summarize_rounds(times: dict, baseline: str, lean: str | None = None) -> dict:
    """Medians of :func:`time_rounds`' times and the medians of the per-round
    ratios to ``baseline`` (``speedup_vs_torch``) and to ``lean``."""
    import numpy as np

    out = {}
    for name, clocks in times.items():
        out[name] = {}
        for clock, vals in clocks.items():
            base = times[baseline][clock]
            ratios = [b / v for b, v in zip(base, vals)]
            out[name][clock] = {
                "median_s": statistics.median(vals),
                "p10_s": float(np.percentile(vals, 10)),
                "p90_s": float(np.percentile(vals, 90)),
                "speedup_vs_torch": statistics.median(ratios),
                "speedup_p10": float(np.percentile(ratios, 10)),
                "speedup_p90": float(np.percentile(ratios, 90)),
            }
            if lean is not None:
                lean_ratios = [b / v for b, v in zip(times[lean][clock], vals)]
                out[name][clock]["speedup_vs_torch_lean"] = statistics.median(
                    lean_ratios
                )
    return out


def wall_rounds(
    impls: Mapping[str, Callable],
    pool: Sequence[tuple],
    *,
    rounds: int,
    min_seconds: float,
) -> dict[str, list[float]]:
    """Per-round wall seconds per call of each implementation, timed in turns.

    Round ``r`` is one round of :func:`time_interleaved` (seed ``r``): every
    implementation in a shuffled order, two warm-up calls, then calls on
    ``pool`` until ``min_seconds`` have passed (at least three calls). The
    median of a list is :func:`time_interleaved`'s result over the rounds.
    """
    out: dict[str, list[float]] = {name: [] for name in impls}
    for r in range(rounds):
        one = time_interleaved(
            dict(impls), pool, rounds=1, min_seconds=min_seconds, seed=r
        )
        for name, seconds in one.items():
            out[name].append(seconds)
    return out


# ---------------------------------------------------------------------------
# Result files
# ---------------------------------------------------------------------------
def read_json(path: str | os.PathLike) -> dict:
    """The JSON object in ``path``; ``{}`` when there is no such file."""
    path = Path(path)
    return json.loads(path.read_text()) if path.exists() else {}


def write_json(
    path: str | os.PathLike, data: Any, *, indent: int = 1, newline: bool = False
) -> Path:
    """Write ``data`` as JSON to ``path`` atomically (creating its folder): a
    temporary file beside it, then ``os.replace``, so that a reader (the docs
    build) never sees half a file and an interrupted write leaves the old one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(data, indent=indent) + ("\n" if newline else ""))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


_UNSET = object()


def merge_results(
    path: str | os.PathLike,
    key_or_update: str | Mapping,
    value: Any = _UNSET,
    *,
    fresh: bool = False,
    indent: int = 1,
) -> dict:
    """Merge into the results file ``path`` and write it back atomically.

    ``merge_results(path, {"a": 1, ...})`` updates the file's top-level keys,
    ``merge_results(path, "a", 1)`` sets one; the file's other keys are kept
    (``fresh=True``: start from ``{}`` instead of the file). Returns the
    merged dict.
    """
    data = {} if fresh else read_json(path)
    if isinstance(key_or_update, str):
        if value is _UNSET:
            raise TypeError("merge_results(path, key, value): value missing")
        data[key_or_update] = value
    else:
        data.update(key_or_update)
    write_json(path, data, indent=indent)
    return data


def command_line(module: str, argv: Sequence[str] | None = None) -> str:
    """``python -m benchmarks.<module>`` and its arguments (default: the
    process's), the command a results file records."""
    args = sys.argv[1:] if argv is None else list(argv)
    return " ".join([f"python -m benchmarks.{module}", *args])
