"""Structural checks of the objects a model file rebuilds.

:func:`~sklearn_deeplight._persistence.load` never trusts a rebuilt object's
attributes: the sparse predictor's saved state is checked before its
``__setstate__`` (no runtime state from the file, bounded decompression of
the embedding masks; :data:`_PRE_CHECKS`), and the rebuilt predictor, field
encoder and pipeline after it (the model description must validate, every
index must be in bounds; :data:`_POST_CHECKS`), since the compiled kernels
index with them. A failed check raises ``ValueError``.

What a file makes ``load`` allocate is charged to a :class:`_Budget` from the
sizes the file declares, before anything is allocated: the payload entries,
the JSON tree, every array (its ``.npy`` header, checked against its
payload), and the sparse predictor's expanded embedding table (its declared
field layout, checked against the shapes of its compact stores).
"""

from __future__ import annotations

import math
import zlib

import numpy as np

from ._spec import FieldLayout


def _human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError  # pragma: no cover


class _MemoryCeiling(ValueError):
    """A file would make load allocate more than its memory ceiling."""


class _Budget:
    """The bytes a :func:`~sklearn_deeplight.load` may still allocate.

    Every allocation whose size a file declares is charged (:meth:`charge`)
    before it is made; past ``limit`` (None: no limit) it raises a
    ``ValueError`` that names the ceiling, where it comes from (``source``)
    and how to raise it.
    """

    def __init__(self, limit: float | None = None, source: str = "") -> None:
        self.limit = limit
        self.source = source
        self.used = 0

    def charge(self, nbytes: int, what: str) -> None:
        """Count ``nbytes`` for ``what``; ValueError past the limit."""
        self.used += int(nbytes)
        if self.limit is not None and self.used > self.limit:
            raise _MemoryCeiling(
                f"{what} would make load allocate about {_human(self.used)}, above "
                f"its memory ceiling of {_human(self.limit)} ({self.source}): the "
                "file is damaged or crafted. If you trust it, raise the ceiling "
                "with load(path, max_memory=...) or the environment variable "
                "DEEPLIGHT_LOAD_MAX_MEMORY (e.g. 4G)."
            )


def _require(cond: bool, what: str) -> None:
    if not cond:
        raise ValueError(what)


def _int_vector(a, what: str, length: int | None = None) -> np.ndarray:
    _require(
        type(a) is np.ndarray and a.ndim == 1 and a.dtype.kind in "iu",
        f"{what} must be a 1-D integer array",
    )
    if length is not None:
        _require(a.shape[0] == length, f"{what} must have {length} entries")
    return a


#: In-memory state of the sparse predictor that its ``__setstate__`` rebuilds
#: from the saved attributes: a file must never provide it (the compiled
#: kernels index with it).
_PREDICTOR_RUNTIME = (
    "_table",
    "_spec",
    "_packed",
    "_unfused",
    "_pairs",
    "_numeric_mask",
)


#: Bytes ``__setstate__`` allocates per declared entry of a compact store
#: (the decompressed bits, the unpacked mask and the float32 table).
_STORE_BYTES_PER_ENTRY = 10
#: Extra float64 temporaries per embedding entry when the linear term is
#: folded into the gather table ("feature_vector": the table and the weights
#: in float64; "field_vector": one field's block).
_FOLD_BYTES_PER_ENTRY = {"feature_vector": 16, "field_vector": 8}


def _store_shapes(state: dict) -> tuple[dict[str, tuple[int, ...]], int]:
    """The compact stores' shapes the declared layout implies, and the bytes
    of the gather table (``n_rows * (embedding_dim_ + 1)`` float32)."""
    layout = FieldLayout(state["field_dims_"], state["numeric_fields_"])
    k = state["embedding_dim_"]
    _require(type(k) is int and k >= 0, "embedding_dim_ must be a non-negative int")
    n_rows = layout.n_rows
    shapes = {"_compact_embedding": (n_rows, k)}
    linear = state.get("linear_term_")
    if linear == "scalar":
        shapes["_compact_linear"] = (n_rows,)
    elif linear == "feature_vector":
        shapes["_compact_linear"] = (n_rows, k)
    return shapes, 4 * n_rows * (k + 1)


def _check_predictor_state(state: dict, budget: _Budget | None = None) -> None:
    """No runtime state from the file; the compact stores' shapes follow the
    declared layout, their expansion fits the ``budget``, and their masks are
    checked with bounded decompression."""
    budget = _Budget() if budget is None else budget
    supplied = [k for k in _PREDICTOR_RUNTIME if k in state]
    _require(not supplied, f"the state must not provide {supplied}")
    stores = [k for k in state if k.startswith("_compact") and state[k] is not None]
    if "classes_" in state:
        _require(
            "_compact_embedding" in state, "a fitted predictor needs its embeddings"
        )
        shapes, table_bytes = _store_shapes(state)
        _require(
            sorted(stores) == sorted(shapes),
            f"the compact stores must be {sorted(shapes)}, got {sorted(stores)}",
        )
        for key, shape in shapes.items():
            store = state[key]
            _require(
                type(store) is dict and store.get("shape") == shape,
                f"{key}.shape must be {shape}, the declared field layout's",
            )
        entries = {key: math.prod(shape) for key, shape in shapes.items()}
        fold = _FOLD_BYTES_PER_ENTRY.get(state.get("linear_term_"), 0)
        budget.charge(
            table_bytes
            + _STORE_BYTES_PER_ENTRY * sum(entries.values())
            + fold * entries["_compact_embedding"],
            f"the declared field layout ({shapes['_compact_embedding'][0]:,} table "
            f"rows of {shapes['_compact_embedding'][1]} + 1 values)",
        )
    else:
        _require(not stores, "an unfitted predictor has no compact stores")
    for key in stores:
        store = state[key]
        _require(type(store) is dict, f"{key} must be a dict")
        shape, mask, values = store.get("shape"), store.get("mask"), store.get("values")
        _require(
            type(shape) is tuple and all(type(s) is int and s >= 0 for s in shape),
            f"{key}.shape must be a tuple of ints",
        )
        _require(type(mask) is bytes, f"{key}.mask must be bytes")
        _require(
            type(values) is np.ndarray and values.ndim == 1,
            f"{key}.values must be a 1-D array",
        )
        n_bytes = -(-math.prod(shape) // 8)
        d = zlib.decompressobj()
        try:
            bits = d.decompress(mask, n_bytes + 1)
        except zlib.error as exc:
            raise ValueError(f"{key}.mask is not a zlib stream: {exc}") from None
        _require(
            len(bits) == n_bytes and d.eof and not d.unconsumed_tail,
            f"{key}.mask does not match the shape {shape}",
        )
        n_set = int(
            np.unpackbits(np.frombuffer(bits, np.uint8), count=math.prod(shape)).sum()
        )
        _require(n_set == values.shape[0], f"{key} has a wrong number of values")


def _check_predictor(pred) -> None:
    """The predictor's model description must validate, and its runtime
    state (rebuilt by ``__setstate__``) must follow it."""
    from ._spec import ModelSpec

    if not hasattr(pred, "classes_"):  # unfitted
        return
    n = pred.n_features_in_
    _require(type(n) is int and n >= 1, "n_features_in_ must be a positive int")
    _require(
        type(pred.classes_) is np.ndarray and pred.classes_.shape == (2,),
        "classes_ must hold two labels",
    )
    runtime = pred.__dict__
    table = runtime["_table"]  # the kernels' gather table
    k = pred.embedding_dim_
    spec = ModelSpec.from_attributes(runtime, table[:, :k]).validate()
    _require(spec.layout.n_fields == n, f"field_dims_ must have {n} entries")
    _require(
        table.dtype == np.float32 and table.shape == (spec.layout.n_rows, k + 1),
        f"the gather table must be float32 of shape ({spec.layout.n_rows}, {k + 1})",
    )
    _require(runtime.get("_packed") is None, "the packed kernel state must be rebuilt")
    _require(
        np.array_equal(runtime["_numeric_mask"], spec.layout.numeric_mask),
        "the numeric mask must follow numeric_fields_",
    )


def _check_encoder(enc) -> None:
    if not hasattr(enc, "field_dims_"):
        return
    n = enc.n_features_in_
    _require(type(n) is int and n >= 1, "n_features_in_ must be a positive int")
    dims = _int_vector(enc.field_dims_, "field_dims_", n)
    numeric = set(_int_vector(enc.numeric_fields_, "numeric_fields_").tolist())
    _require(all(0 <= j < n for j in numeric), "numeric_fields_ out of range")
    for attr in ("_counts", "_vocab", "_lookup", "categories_"):
        value = getattr(enc, attr)
        _require(type(value) is list and len(value) == n, f"{attr} must have {n} items")
    _int_vector(enc._missing_code, "_missing_code", n)
    for j in range(n):
        if j in numeric:
            continue
        lookup = _int_vector(enc._lookup[j], f"_lookup[{j}]")
        _require(
            len(enc._vocab[j]) + 1 == len(lookup),
            f"_lookup[{j}] must have one code per value and one for unknowns",
        )
        _require(
            ((lookup >= 0) & (lookup < dims[j])).all()
            and 0 <= enc._missing_code[j] < dims[j],
            f"codes of field {j} must be below field_dims_[{j}]",
        )


def _check_pipeline(pipe) -> None:
    steps = pipe.steps
    _require(type(steps) is list and steps, "steps must be a non-empty list")
    for step in steps:
        _require(
            type(step) is tuple and len(step) == 2 and type(step[0]) is str,
            "each step must be a (name, estimator) pair",
        )
        est = step[1]
        _require(
            est is None
            or est == "passthrough"
            or type(est).__module__.startswith(("sklearn", "sklearn_deeplight")),
            f"step {step[0]!r} is not an estimator",
        )


#: Checks of a state before ``__setstate__``: ``check(state, budget)``.
_PRE_CHECKS = {"sklearn_deeplight.SparseCTRPredictor": _check_predictor_state}
_POST_CHECKS = {
    "sklearn_deeplight.SparseCTRPredictor": _check_predictor,
    "sklearn_deeplight.FieldEncoder": _check_encoder,
    "sklearn.pipeline.Pipeline": _check_pipeline,
}
