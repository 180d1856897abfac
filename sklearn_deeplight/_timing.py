"""One timing harness for the command's ``bench``/``demo`` and ``benchmarks/``.

Torch-free. Implementations are timed in turns (interleaved), so that a shared
machine's load falls on all of them alike, and the median over rounds is
reported.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["time_interleaved"]


def time_interleaved(
    impls: dict[str, Callable[..., Any]],
    pool: Sequence[tuple],
    *,
    rounds: int,
    min_seconds: float,
    seed: int = 0,
) -> dict[str, float]:
    """Median seconds per call of each implementation, timed in turns.

    Each round runs every implementation once, in a shuffled order: two
    warm-up calls, then calls on the inputs of ``pool`` in turn until
    ``min_seconds`` have passed (at least three calls); the round's value is
    the mean per call. Interleaving spreads a shared machine's load over all
    implementations alike. Returns the median over rounds.
    """
    times: dict[str, list[float]] = {name: [] for name in impls}
    names = list(impls)
    rng = random.Random(seed)
    i = 0
    for _ in range(rounds):
        rng.shuffle(names)
        for name in names:
            fn = impls[name]
            fn(*pool[i % len(pool)])
            fn(*pool[(i + 1) % len(pool)])
            calls = 0
            t0 = time.perf_counter()
            while True:
                fn(*pool[i % len(pool)])
                i += 1
                calls += 1
                elapsed = time.perf_counter() - t0
                if elapsed >= min_seconds and calls >= 3:
                    break
            times[name].append(elapsed / calls)
    return {name: statistics.median(v) for name, v in times.items()}
