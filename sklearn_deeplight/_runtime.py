"""The sparse predictor's compute state and kernel calls, free of scikit-learn.

What :class:`~sklearn_deeplight.SparseCTRPredictor` and
:class:`~sklearn_deeplight.Scorer` both run: the dense gather table and the
model description rebuilt from a predictor's fitted attributes, the packed
kernel arrays, and the calls of the fused numba kernels (per sample, or in
tiles on ``n_jobs`` threads, each thread with its own scratch). The functions
take the object that holds the state (``_spec``, ``_table``, ``_packed``,
``_unfused``), so that the estimator and the scorer share one implementation.

Neither this module nor anything it imports at module level imports
scikit-learn, pandas or torch (the numba kernels are imported on first use).
"""

from __future__ import annotations

import os
import threading
import zlib
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from ._spec import ModelSpec

#: The value dtypes of a predictor's compact stores.
VALUE_DTYPES = {"float32": np.float32, "float16": np.float16}
#: Fewest samples per thread when ``n_jobs`` > 1.
MIN_CHUNK = 512
#: In-memory state rebuilt from the fitted attributes, never saved.
RUNTIME = ("_spec", "_packed", "_unfused", "_numeric_mask")

_PACK_LOCK = threading.Lock()
_POOL_LOCK = threading.Lock()
_POOL: ThreadPoolExecutor | None = None
_kernels_module: Any = None
#: Why the kernels could not be imported (None until a failed import).
kernels_error: BaseException | None = None


def load_kernels():
    """The numba kernels module, or None when numba cannot be imported."""
    global _kernels_module, kernels_error
    if _kernels_module is None and kernels_error is None:
        try:
            from . import _kernels
        except ImportError as exc:  # pragma: no cover - numba is a dependency
            kernels_error = exc
        else:
            _kernels_module = _kernels
    return _kernels_module


def compact(table: np.ndarray, dtype: str) -> dict[str, Any]:
    """Bitmask (zlib level 1) plus packed nonzero values of a table."""
    flat = np.asarray(table).reshape(-1)
    mask = flat != 0
    return {
        "shape": tuple(int(s) for s in table.shape),
        "mask": zlib.compress(np.packbits(mask).tobytes(), 1),
        "values": flat[mask].astype(VALUE_DTYPES[dtype]),
    }


def expand(store: dict[str, Any]) -> np.ndarray:
    """Inverse of :func:`compact`: the dense float32 table."""
    shape = store["shape"]
    size = int(np.prod(shape, dtype=np.int64))
    bits = np.frombuffer(zlib.decompress(store["mask"]), dtype=np.uint8)
    mask = np.unpackbits(bits, count=size).view(bool)
    out = np.zeros(size, dtype=np.float32)
    out[mask] = store["values"]
    return out.reshape(shape)


def build_runtime(attrs: dict[str, Any], emb: np.ndarray) -> dict[str, Any]:
    """The runtime state of fitted predictor attributes ``attrs`` and their
    embedding table ``emb``: the model description (validated) and the
    gather table (embeddings + folded linear weight per row, read-only)."""
    spec = ModelSpec.from_attributes(attrs, emb).validate()
    k = emb.shape[1]
    table = np.empty((emb.shape[0], k + 1), dtype=np.float32)
    table[:, :k] = emb
    linear = spec.block("linear")
    table[:, k] = 0.0 if linear is None else linear.row_weights(emb, spec.layout)
    table.flags.writeable = False
    spec.embedding = table[:, :k]
    return {
        "_spec": spec,
        "_table": table,
        "_numeric_mask": spec.layout.numeric_mask,
        "_packed": None,
        "_unfused": (),
    }


def get_packed(obj: Any, kernels) -> tuple:
    """``obj``'s packed kernel arrays, packed (once, thread-safe) at first
    use, with the blocks the fused kernels do not compute (``_unfused``)."""
    packed = obj._packed
    if packed is None:
        with _PACK_LOCK:
            packed = obj._packed
            if packed is None:
                obj._unfused = tuple(
                    b for b in obj._spec.blocks if b.kind not in kernels.FUSED
                )
                obj._packed = packed = kernels.pack(obj._spec)
    return packed


def run_chunks(fn, n: int, tile: int, n_jobs: int | None) -> list:
    """``fn(start, stop)`` over ``n`` rows: once, or on tile-aligned chunks
    of at least :data:`MIN_CHUNK` rows, one per thread of ``n_jobs`` (the
    calling thread takes the first); the results in row order."""
    if n_jobs == -1:
        n_jobs = os.cpu_count() or 1
    n_chunks = 1 if n_jobs is None else min(n_jobs, max(1, n // MIN_CHUNK))
    if n_chunks <= 1:
        return [fn(0, n)]
    step = -(-n // (n_chunks * tile)) * tile
    bounds = list(range(0, n, step)) + [n]
    pool = _thread_pool()
    futures = [pool.submit(fn, a, b) for a, b in zip(bounds[1:-1], bounds[2:])]
    first = fn(0, bounds[1])
    return [first] + [f.result() for f in futures]


#: Each thread's float32 scratch for the tiled kernels (see
#: :func:`~sklearn_deeplight._kernels._buffers`): one array per thread, grown
#: to the largest model it scored, so that a call does not pay the page
#: faults of freshly mapped buffers. A kernel call uses its thread's array
#: alone, and a thread runs one call at a time.
SCRATCH = threading.local()


def scratch(kernels, meta: np.ndarray) -> np.ndarray:
    """This thread's scratch, of at least what the tiled kernels need for
    the model packed in ``meta``."""
    local = SCRATCH
    if getattr(local, "meta", None) is meta:  # the model of the last call
        return local.buf
    buf = getattr(local, "buf", None)
    size = kernels.scratch_size(meta)
    if buf is None or buf.shape[0] < size:
        buf = local.buf = aligned_zeros(size)
    local.meta = meta
    return buf


def aligned_zeros(size: int) -> np.ndarray:
    """float32 zeros starting on a 64-byte boundary: the tile rows' vector
    loads and stores then never straddle two cache lines (a scratch on
    numpy's 16-byte boundary made the tiled kernel up to 1.3x slower:
    scratch timing)."""
    raw = np.zeros(size + 16, dtype=np.float32)
    skip = (-raw.ctypes.data % 64) // 4
    return raw[skip : skip + size]


def _thread_pool() -> ThreadPoolExecutor:
    """The shared worker threads of ``n_jobs`` > 1 (created on first use)."""
    global _POOL
    if _POOL is None:
        with _POOL_LOCK:
            if _POOL is None:
                _POOL = ThreadPoolExecutor(
                    max_workers=max(1, (os.cpu_count() or 1) - 1),
                    thread_name_prefix="sparse-ctr",
                )
    return _POOL


def logits(obj: Any, kernels, xi: np.ndarray, xv: np.ndarray, n_jobs) -> tuple:
    """Logits (float32) of indexed rows by the numba kernels, and the count
    of rows outside the table (nonzero: the logits are not valid). ``xi``
    int64 and ``xv`` float32, C-contiguous, of the model's fields."""
    table = obj._table
    packed = obj._packed
    if packed is None:
        packed = get_packed(obj, kernels)
    if xi.shape[0] < kernels.MIN_TILED_BATCH:
        out, bad = kernels.forward_samples(table, xi, xv, *packed)
    else:
        parts = run_chunks(
            lambda a, b: kernels.forward_tiled(
                table, xi[a:b], xv[a:b], *packed, scratch(kernels, packed[3])
            ),
            xi.shape[0],
            int(packed[3][kernels.M_TILE]),
            n_jobs,
        )
        if len(parts) == 1:
            out, bad = parts[0]
        else:
            out = np.concatenate([p[0] for p in parts])
            bad = sum(p[1] for p in parts)
    if bad:
        return out, bad
    unfused = obj._unfused
    if unfused:  # blocks the fused kernels do not compute
        out += obj._spec.block_logits(table, xi, xv, unfused)
    return out, 0


def fused_proba(obj: Any, kernels, arr: np.ndarray, n_jobs) -> np.ndarray | None:
    """Probabilities (n, 2) of a clean field matrix in one compiled call per
    chunk (index, kernel and sigmoid), or None: a model with blocks the fused
    kernels do not compute, or a value to check or reject (a code outside
    the table, a non-finite logit), which the caller's general path handles.
    ``arr``: 2-D, C-contiguous, int64 or float64, ``n >= 1`` rows of the
    model's fields in order."""
    packed = obj._packed
    if packed is None:
        packed = get_packed(obj, kernels)
    if obj._unfused:
        return None
    table = obj._table
    if arr.shape[0] < kernels.MIN_TILED_BATCH:
        proba, ok = kernels.proba_small(arr, table, *packed)
        return proba if ok else None
    meta = packed[3]
    parts = run_chunks(
        lambda a, b: kernels.proba_tiled(
            arr[a:b], table, *packed, scratch(kernels, meta)
        ),
        arr.shape[0],
        int(meta[kernels.M_TILE]),
        n_jobs,
    )
    if len(parts) == 1:
        proba, ok = parts[0]
        return proba if ok else None
    if not all(ok for _, ok in parts):
        return None
    return np.concatenate([p for p, _ in parts])
