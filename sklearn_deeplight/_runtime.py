"""The sparse predictor's compute state and kernel calls, free of scikit-learn.

What :class:`~sklearn_deeplight.SparseCTRPredictor` and
:class:`~sklearn_deeplight.RecordPredictor` both run: the dense gather table
and the model description rebuilt from a predictor's fitted attributes, the
packed kernel arrays, and the calls of the fused numba kernels (per sample,
or in tiles on ``n_jobs`` threads, each thread with its own scratch). The
functions take the object that holds the state (``_spec``, ``_table``,
``_packed``, ``_unfused``), so that the estimator and the RecordPredictor
share one implementation.

Neither this module nor anything it imports at module level imports
scikit-learn, pandas or torch (the numba kernels are imported on first use).
"""

from __future__ import annotations

import math
import numbers
import os
import threading
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from . import _packing
from ._spec import ModelSpec

#: The predictor's engines.
ENGINES = ("auto", "numba", "scipy")
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


def _usual_n_jobs(n_jobs: Any) -> bool:
    """True for an ``n_jobs`` that :func:`check_params` accepts, in its usual
    types (None or an int): the quick test of the fast paths, which leave
    any other value to the full checks."""
    return n_jobs is None or (type(n_jobs) is int and (n_jobs > 0 or n_jobs == -1))


def check_params(engine: Any, threshold: Any, n_jobs: Any) -> None:
    """Raise ValueError naming the first invalid constructor parameter.

    The one check of :class:`SparseCTRPredictor`'s parameters, run where they
    are used (prediction) and on a loaded predictor's state.
    """
    if (
        type(engine) is str
        and engine in ENGINES
        and type(threshold) is float
        and math.isfinite(threshold)
        and _usual_n_jobs(n_jobs)
    ):
        return  # the usual values, without the abstract base class checks
    if not (isinstance(engine, str) and engine in ENGINES):
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}.")
    if (
        isinstance(threshold, bool)
        or not isinstance(threshold, numbers.Real)
        or not math.isfinite(threshold)
    ):
        raise ValueError(
            "threshold must be a finite number (predict returns classes_[1] where "
            f"its probability is above it), got {threshold!r}."
        )
    if n_jobs is not None and (
        not isinstance(n_jobs, numbers.Integral)
        or isinstance(n_jobs, bool)
        or n_jobs == 0
        or n_jobs < -1
    ):
        raise ValueError(f"n_jobs must be None, -1 or a positive int, got {n_jobs!r}.")


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


def restore(state: dict[str, Any]) -> dict[str, Any]:
    """The attributes of a fitted predictor's saved state (its compact
    stores expanded) with the runtime state (:func:`build_runtime`)."""
    attrs = dict(state)
    emb = attrs.pop("_compact_embedding")
    lin = attrs.pop("_compact_linear", None)
    if lin is not None:
        attrs["linear_"] = expand(lin)
    attrs.update(build_runtime(attrs, expand(emb)))
    return attrs


def get_packed(obj: Any, kernels) -> tuple:
    """``obj``'s packed kernel arrays, packed (once, thread-safe) at first
    use, with the blocks the fused kernels do not compute (``_unfused``)."""
    packed = obj._packed
    if packed is None:
        with _PACK_LOCK:
            packed = obj._packed
            if packed is None:
                obj._unfused = tuple(
                    b for b in obj._spec.blocks if b.kind not in _packing.FUSED
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


#: A field value above this magnitude is the suspect of a non-finite logit.
_OVERFLOW_SUSPECT = 1e15


def _column_label(names, j: int) -> str:
    if names is not None:
        return f"column {j} ({names[j]!r})"
    return f"column {j}"


def check_logits_are_finite(
    logits: np.ndarray,
    values_of: Callable[[np.ndarray], np.ndarray],
    names=None,
) -> None:
    """Refuse infinite or NaN logits computed from validated (finite) input.

    Validated input is finite and within float32, but a numeric field's value
    large enough (say 1e30) makes the model's float32 products overflow: the
    logit is then ``inf - inf = NaN``, or an infinite value whose sign is an
    accident of the arithmetic. A probability from it would be silent
    garbage. At batch 1 the check is a few float comparisons.

    Parameters
    ----------
    logits : ndarray of shape (n_samples,)
        The model's logits.
    values_of : callable
        ``values_of(rows)`` returns the field values of those rows, shape
        (len(rows), n_fields): 1 for a categorical field, the value for a
        numeric one. Called only when a logit is not finite.
    names : sequence of str, default=None
        Column names, for the message.

    Raises
    ------
    ValueError
        Naming the first such row and the column of its largest value, or
        saying that the model's parameters are not finite.
    """
    if logits.size <= 16:
        if all(map(math.isfinite, logits.tolist())):
            return
    elif math.isfinite(np.add.reduce(logits, dtype=np.float64)):
        return
    bad = ~np.isfinite(logits)
    if not bad.any():
        return
    rows = np.flatnonzero(bad)
    first = int(rows[0])
    values = np.asarray(values_of(rows[:1]), dtype=np.float64).reshape(-1)
    j = int(np.argmax(np.abs(values)))
    where = f"{len(rows)} row(s) (first: row {first})"
    if abs(values[j]) < _OVERFLOW_SUSPECT:
        raise ValueError(
            f"The model's logit is not finite on {where}, whose largest field "
            f"value is {values[j]:g} ({_column_label(names, j)}): the model's "
            "parameters are not finite (did training diverge? lower lr or raise "
            "l2)."
        )
    raise ValueError(
        f"The model's float32 arithmetic overflows on {where}: "
        f"{_column_label(names, j)}, a numeric field, holds {values[j]:g}, so "
        "large that products of the embeddings are infinite and the logit is "
        "not a number. Scale numeric fields down (for example "
        "FieldEncoder(numeric_transform='log1p'))."
    )
