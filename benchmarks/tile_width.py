"""Samples per tile of the tiled kernel, per kind of model.

The tiled kernel scores a batch in tiles of ``T`` samples; the packing picks
``T`` from the layers (``TILE`` without DNN or cross layers,
``SPARSE_DNN_TILE_SIZE`` for sparse ones without a CIN, ``DENSE_TILE_SIZE``
when a DNN or cross layer is dense, ``CIN_DENSE_TILE_SIZE`` when a CIN layer
is dense, in :mod:`sklearn_deeplight._kernels`). This times the predictor's
``predict_proba`` at batch 4,096 for each case and each ``T`` in 32..256:

- the pruned DeepFwFMs of ``benchmarks/sparse_latency.py`` (Criteo D-99%
  R-95% F-40%, Avazu D-98% R-90% F-0%): sparse layers;
- LR, FM and FwFM at the Criteo shape of ``benchmarks/model_latency.py``:
  no DNN;
- the pruned DeepFM, NFM, DCNv2 and xDeepFM of that benchmark: sparse DNN
  layers, with a sparse cross network (DCNv2) or CIN (xDeepFM);
- DeepFM and xDeepFM at the Criteo shape of ``benchmarks/model_latency.py``,
  dense: a dense DNN, a dense CIN.

One thread (torch, numba, BLAS), the tile widths of a case interleaved in
one process (``time_rounds``), medians of thread CPU time. Writes
``benchmarks/results/tile_width.json``.

Run from the repository root: ``python -m benchmarks.tile_width [--quick]``.
"""

from __future__ import annotations

import argparse
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

WIDTHS = (32, 64, 128, 256)
_CONSTANTS = ("TILE", "SPARSE_DNN_TILE_SIZE", "DENSE_TILE_SIZE", "CIN_DENSE_TILE_SIZE")


def _cases(quick: bool):
    """(name, estimator) of each kind of model."""
    from sklearn_deeplight._registry import get_model

    from .model_latency import make_estimator as model_estimator
    from .model_latency import prune, structure
    from .sparse_latency import (
        AVAZU_ROWS,
        CRITEO_ROWS,
        field_sizes,
    )
    from .sparse_latency import make_estimator as deepfwfm

    scale = 50 if quick else 1
    yield (
        "Criteo DeepFwFM D-99% R-95% F-40% (sparse)",
        deepfwfm(field_sizes(26, 13, CRITEO_ROWS // scale, 0), 13, 10,
                 (400, 400, 400), dnn=0.99, pairs=0.95, emb=0.4, seed=0),
    )  # fmt: skip
    yield (
        "Avazu DeepFwFM D-98% R-90% F-0% (sparse)",
        deepfwfm(field_sizes(23, 0, AVAZU_ROWS // scale, 0), 0, 20,
                 (300, 300, 300), dnn=0.98, pairs=0.9, emb=0.0, seed=0),
    )  # fmt: skip
    for name in ("LR", "FM", "FwFM"):
        yield f"{name} (no DNN)", model_estimator(get_model(name), quick=quick)
    for name, kind in (
        ("DeepFM", "sparse DNN"),
        ("NFM", "sparse DNN"),
        ("DCNv2", "sparse DNN and cross"),
        ("xDeepFM", "sparse DNN and CIN"),
    ):
        info = get_model(name)
        est = model_estimator(info, quick=quick)
        prune(est, structure(info))
        yield f"{name} pruned ({kind})", est
    yield "DeepFM dense (dense DNN)", model_estimator(get_model("DeepFM"), quick=quick)
    yield (
        "xDeepFM dense (dense CIN)",
        model_estimator(get_model("xDeepFM"), quick=quick),
    )


def _predictor(est, width: int):
    """``est.to_sparse()`` packed with every tile constant set to ``width``."""
    from sklearn_deeplight import _kernels

    saved = {c: getattr(_kernels, c) for c in _CONSTANTS}
    try:
        for c in _CONSTANTS:
            setattr(_kernels, c, width)
        pred = est.to_sparse(engine="numba")
        pred._get_packed(_kernels)
    finally:
        for c, v in saved.items():
            setattr(_kernels, c, v)
    return pred


def run(quick: bool) -> list[dict]:
    from sklearn_deeplight import _kernels

    from .sparse_latency import raw_matrix, sample_codes

    rounds, min_chunk = (2, 0.002) if quick else (5, 0.02)
    batch = 512 if quick else 4096
    rows = []
    for name, est in _cases(quick):
        rng = np.random.default_rng(0)
        pool = [(raw_matrix(est, *sample_codes(est, batch, rng)),) for _ in range(3)]
        preds = {w: _predictor(est, w) for w in WIDTHS}
        in_use = int(est.to_sparse(engine="numba")._get_packed(_kernels)[3][
            _kernels.M_TILE
        ])  # fmt: skip
        ref = preds[WIDTHS[0]].predict_proba(pool[0][0])
        for pred in preds.values():
            np.testing.assert_allclose(pred.predict_proba(pool[0][0]), ref, rtol=1e-5)
        impls = {str(w): (p.predict_proba, "X") for w, p in preds.items()}
        times = time_rounds(impls, {"X": pool}, rounds, min_chunk)
        med = {w: statistics.median(t["cpu"]) * 1e3 for w, t in times.items()}
        rows.append({"case": name, "batch": batch, "ms_cpu": med, "in_use": in_use})
        cells = "  ".join(f"T={w}: {v:7.2f} ms" for w, v in med.items())
        print(f"{name:45s} {cells}  (in use: {in_use})", flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small models (smoke)")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    import scipy.linalg.cython_blas  # noqa: F401 - loaded before the BLAS limit
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    name = "tile_width_quick.json.tmp" if args.quick else "tile_width.json"
    out = args.out or str(RESULTS / name)
    machine = machine_info(threads=1)
    with threadpool_limits(1):
        rows = run(args.quick)
    stamp_loadavg_end(machine)
    write_json(
        out,
        {
            "command": command_line("tile_width", argv),
            "machine": machine,
            "quick": args.quick,
            "widths": list(WIDTHS),
            "rows": rows,
        },
    )
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
