"""From which density is a layer faster from dense weights than as CSR?

The sparse predictor's kernels compute a DNN, CIN or cross layer either from
its CSR rows (cost proportional to the nonzeros) or from dense weights (a
vectorised dot product per output in the per-sample kernel, one BLAS
``sgemm`` per tile in the tiled kernel; cost independent of the density). This
script times both on the same model at a range of densities and reports,
per kernel, the density from which the dense layer is at least as fast
(where the two costs cross, interpolated between the measured densities,
rounded up to a multiple of 0.05): the thresholds ``DENSE_DENSITY`` of
:mod:`sklearn_deeplight._kernels` are set from it (the cross network's from
its own rows). Near a crossing the two costs are within a few percent of
each other, so reruns move it by a step or so (0.05); a threshold one step
off costs that much.

Per component, a model at the paper's Criteo shape of that component (39
fields, k=10; DNN: DeepFM 400x3; CIN: xDeepFM (100, 100, 50); cross: DCN-V2,
3 layers), its other layers small and at 1% density, a small table (100
rows per field: the gather is the same for both paths), random weights, the
component's layers pruned at random to the density. Batch 1 (per-sample
kernel) and a tiled batch (4,096; 256 for the CIN, whose dense tiles cost
about 1 ms each), one thread (numba; BLAS held to one by threadpoolctl),
interleaved rounds, medians of thread CPU time; the two packings of the
same weights are timed in the same rounds.

Run from the repository root: ``python -m benchmarks.dense_threshold
[--quick]``. Writes ``benchmarks/results/dense_threshold.json``.
"""

from __future__ import annotations

import argparse
import math
import statistics

import numpy as np

from ._common import (
    RESULTS,
    command_line,
    machine_info,
    stamp_loadavg_end,
    time_rounds,
    write_json,
)

DENSITIES = (0.02, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.7, 1.0)
N_FIELDS, K, ROWS_PER_FIELD = 39, 10, 100
#: Per component: the model, its parameters (the component at the paper's
#: size, the rest small and pruned hard so that it costs little), the batch
#: of the tiled kernel.
SETUPS = {
    "dnn": ("DeepFM", {"hidden_units": (400, 400, 400)}, 4096),
    "cin": (
        "xDeepFM",
        {"hidden_units": (16,), "cin_layer_sizes": (100, 100, 50)},
        256,
    ),
    "cross": ("DCNv2", {"hidden_units": (16,), "n_cross_layers": 3}, 4096),
}


def make_predictor(component: str, density: float, seed: int = 0):
    """A sparse predictor whose ``component`` layers are at ``density``
    (random weights, random pruning); the other layers at 1% density."""
    import torch

    from sklearn_deeplight._masks import _parts
    from sklearn_deeplight._registry import get_model

    name, params, _ = SETUPS[component]
    rng = np.random.default_rng(seed)
    X = rng.integers(0, ROWS_PER_FIELD, size=(256, N_FIELDS))
    X[:ROWS_PER_FIELD, :] = np.arange(ROWS_PER_FIELD)[:, None]  # every code seen
    y = rng.integers(0, 2, size=256)
    est = (
        get_model(name)
        .classifier_class()(
            embedding_dim=K,
            max_epochs=1,
            batch_size=256,
            validation_fraction=None,
            numeric_fields=None,
            random_state=seed,
            **params,
        )
        .fit(X, y)
    )
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for comp, part in _parts(est.module_).items():
            if comp == "embeddings":
                continue
            keep_rate = density if comp == component else 0.01
            for _, W in part.params:
                W.mul_(torch.rand(W.shape, generator=gen) < keep_rate)
    return est.to_sparse()


def run(quick: bool, components) -> dict:
    from sklearn_deeplight import _kernels

    densities = (0.05, 0.2, 0.5, 1.0) if quick else DENSITIES
    rounds = 3 if quick else 7
    min_chunk = 0.002 if quick else 0.02
    out = {}
    for comp in components:
        rng = np.random.default_rng(1)
        batch = SETUPS[comp][2] if not quick else 256
        pools = {b: [tuple(_index(rng, b)) for _ in range(4)] for b in (1, batch)}
        rows = []
        for density in densities:
            pred = make_predictor(comp, density)
            table = pred._table
            fixed = {c: (2.0, 2.0) for c in _kernels.DENSE_DENSITY}
            csr = _kernels.pack(pred._spec, fixed)
            dense = _kernels.pack(pred._spec, {**fixed, comp: (0.0, 0.0)})
            impls = {
                "sample_csr": (_sample(table, csr), 1),
                "sample_dense": (_sample(table, dense), 1),
                "tiled_csr": (_tiled(table, csr), batch),
                "tiled_dense": (_tiled(table, dense), batch),
            }
            a = impls["tiled_csr"][0](*pools[batch][0])[0]
            b = impls["tiled_dense"][0](*pools[batch][0])[0]
            rel = float(np.linalg.norm(a - b) / max(np.linalg.norm(a), 1e-30))
            times = time_rounds(impls, pools, rounds, min_chunk)
            med = {n: statistics.median(t["cpu"]) * 1e6 for n, t in times.items()}
            rows.append(
                {
                    "density": density,
                    "us_per_call_cpu": med,
                    "dense_over_csr_sample": med["sample_dense"] / med["sample_csr"],
                    "dense_over_csr_tiled": med["tiled_dense"] / med["tiled_csr"],
                    "rel_err_dense_vs_csr": rel,
                }
            )
            print(
                f"{comp:5s} density {density:5.2f}  batch 1: csr "
                f"{med['sample_csr']:9.1f} us dense {med['sample_dense']:9.1f} us"
                f"  | batch {batch}: csr {med['tiled_csr'] / 1e3:8.2f} ms dense "
                f"{med['tiled_dense'] / 1e3:8.2f} ms  (rel. err {rel:.1e})",
                flush=True,
            )
        out[comp] = {
            "model": SETUPS[comp][0],
            "params": {
                k: list(v) if isinstance(v, tuple) else v
                for k, v in SETUPS[comp][1].items()
            },
            "tiled_batch": batch,
            "rows": rows,
            "crossing_sample": _crossing(rows, "dense_over_csr_sample"),
            "crossing_tiled": _crossing(rows, "dense_over_csr_tiled"),
            "in_use": list(_kernels.DENSE_DENSITY[comp]),
        }
    return out


def _sample(table, packed):
    """The per-sample kernel."""
    from sklearn_deeplight import _kernels

    return lambda xi, xv: _kernels.forward_samples(table, xi, xv, *packed)


def _tiled(table, packed):
    """The tiled kernel, on this thread's scratch as the predictor calls it
    (fresh buffers per call would add their allocation and page faults)."""
    from sklearn_deeplight import _kernels
    from sklearn_deeplight._sparse import _scratch

    return lambda xi, xv: _kernels.forward_tiled(
        table, xi, xv, *packed, _scratch(_kernels, packed[3])
    )


def _index(rng, n):
    xi = rng.integers(0, ROWS_PER_FIELD, size=(n, N_FIELDS))
    xi += (ROWS_PER_FIELD + 1) * np.arange(N_FIELDS)  # field offsets (+ OOV row)
    return xi.astype(np.int64), np.ones((n, N_FIELDS), np.float32)


def _crossing(rows: list[dict], key: str) -> float | None:
    """The density from which dense is at least as fast at every higher
    measured density: where the ratio ``key`` (dense over CSR) last crosses
    1 going down, interpolated linearly between the two measured densities
    around it and rounded up to a multiple of 0.05 (the grid is coarse above
    0.3, and the costs are nearly linear in the density); None if dense is
    slower at the highest density, the lowest density if it is never
    slower."""
    ordered = sorted(rows, key=lambda r: r["density"], reverse=True)
    if not ordered or ordered[0][key] > 1.0:
        return None
    above = ordered[0]
    for row in ordered[1:]:
        if row[key] > 1.0:
            d_lo, r_lo = row["density"], row[key]
            d_hi, r_hi = above["density"], above[key]
            cross = d_lo + (r_lo - 1.0) / (r_lo - r_hi) * (d_hi - d_lo)
            return round(math.ceil(cross / 0.05 - 1e-9) * 0.05, 2)
        above = row
    return above["density"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 densities (smoke)")
    parser.add_argument(
        "--components", default="dnn,cin,cross", help="comma-separated components"
    )
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    import scipy.linalg.cython_blas  # noqa: F401 - the BLAS numba calls, loaded
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    name = "dense_threshold_quick.json.tmp" if args.quick else "dense_threshold.json"
    out = args.out or str(RESULTS / name)
    machine = machine_info(threads=1)
    with threadpool_limits(1):  # BLAS on one thread, as numba and torch
        result = run(args.quick, args.components.split(","))
    stamp_loadavg_end(machine)
    for comp, r in result.items():
        print(
            f"{comp}: dense at least as fast from density {r['crossing_sample']} "
            f"(batch 1) and {r['crossing_tiled']} (tiled); in use {r['in_use']}"
        )
    write_json(
        out,
        {
            "command": command_line("dense_threshold", argv),
            "machine": machine,
            "quick": args.quick,
            "components": result,
        },
    )
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
