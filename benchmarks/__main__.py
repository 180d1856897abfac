"""Benchmark entry point.

Usage::

    python -m benchmarks all [--quick]      # table2 + peer + report
    python -m benchmarks table2 [--quick]   # benchmarks/paper_tables.py
    python -m benchmarks peer [--quick]     # benchmarks/peer.py
    python -m benchmarks report [--quick]   # docs/benchmarks.{md,rst} + PNGs
    python -m benchmarks sparse-latency [--quick]
    python -m benchmarks pruning-sweep [--quick]
    python -m benchmarks serve-load [--quick]  # benchmarks/serve_load.py

``table2`` writes Table 2 on the real rows and on generated Criteo-shaped
rows, Tables 4-6 and latency against sparsity on the generated rows (see
``benchmarks/paper_tables.py``). ``all --quick`` runs on small slices of the
real rows and 4,000 generated rows with one seed and
writes git-ignored ``*.json.tmp`` files and a report under
``benchmarks/results/quick_report.tmp/`` (docs/ is left alone); ``all
--existing`` also runs the sparse-latency and pruning-sweep scripts.

Every script is a module of this package, run from the repository root:
``python -m benchmarks.<name> [--quick] ...`` (``paper_tables``, ``peer``,
``report``, ``sparse_latency``, ``pruning_sweep``, ``pruning_recovery``,
``cin_kernel``, ``scale``, ``train_throughput``, ``serve_load``,
``encode_latency``, ``warm_start``, ``auto_sizes``, ``load_fuzz``,
``dense_threshold``, ``model_latency``, ``tile_width``, ``parity``); what they share
is in ``benchmarks/_common.py``.
"""

from __future__ import annotations

import argparse
import time


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument(
        "what",
        choices=[
            "all",
            "table2",
            "peer",
            "report",
            "sparse-latency",
            "pruning-sweep",
            "serve-load",
        ],
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--existing",
        action="store_true",
        help="with 'all': also run sparse_latency.py and pruning_sweep.py",
    )
    parser.add_argument(
        "--parts",
        default=None,
        help="table2: comma-separated subset of real, gen-table2, gen-table45, "
        "gen-table6 (updates those keys of an existing paper_tables.json)",
    )
    args = parser.parse_args(argv)
    q = ["--quick"] if args.quick else []
    t0 = time.perf_counter()
    if args.what in ("all", "table2"):
        from . import paper_tables

        paper_tables.main(q + (["--parts", args.parts] if args.parts else []))
    if args.what in ("all", "peer"):
        from . import peer

        peer.main(q)
    if args.what == "sparse-latency" or (args.what == "all" and args.existing):
        from . import sparse_latency

        sparse_latency.main(q)
    if args.what == "pruning-sweep" or (args.what == "all" and args.existing):
        from . import pruning_sweep

        pruning_sweep.main(q)
    if args.what == "serve-load":
        from . import serve_load

        serve_load.main(q)
    if args.what in ("all", "report"):
        from . import report

        report.main(q)
    print(f"python -m benchmarks {args.what}: {time.perf_counter() - t0:.1f}s")


if __name__ == "__main__":
    main()
