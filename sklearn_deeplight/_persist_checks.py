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

from ._spec import FieldLayout, _require
from .datasets._ondisk_policy import _human_bytes as _human


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


#: The sparse predictor's saved state: its constructor parameters; once
#: fitted, these attributes, the model description's
#: (:meth:`~sklearn_deeplight._spec.ModelSpec.attribute_names`) and the
#: compact embedding stores; :data:`_OPTIONAL` may be absent.
_PREDICTOR_PARAMS = ("engine", "threshold", "n_jobs")
_PREDICTOR_FITTED = (
    "classes_",
    "n_features_in_",
    "value_dtype_",
    "n_params_",
    "nbytes_",
)
#: Attributes a state may lack: column names (fitted on an ndarray), the
#: scikit-learn version (written by BaseEstimator.__getstate__).
_OPTIONAL = ("feature_names_in_", "_sklearn_version")
_VALUE_DTYPES = ("float32", "float16")
#: Dtypes of the predictor's int64 layout arrays.
_INT64_ATTRIBUTES = ("numeric_fields_", "field_dims_", "offsets_", "field_pairs_")


def _check_names(state: dict, expected: set[str], what: str) -> None:
    """Exactly the ``expected`` attributes (those of :data:`_OPTIONAL` may
    be absent)."""
    missing = sorted(expected - set(state) - set(_OPTIONAL))
    extra = sorted(set(state) - expected - set(_OPTIONAL))
    _require(not extra, f"the state of the {what} holds unexpected attributes {extra}")
    _require(not missing, f"the state of the {what} lacks the attributes {missing}")


def _predictor_names(state: dict) -> set[str]:
    """The attributes a predictor's state must hold."""
    from ._spec import BLOCK_TYPES, ModelSpec

    expected = set(_PREDICTOR_PARAMS)
    if "classes_" not in state:  # unfitted
        return expected
    expected |= {*_PREDICTOR_FITTED, *ModelSpec.attribute_names(), "_compact_embedding"}
    if state.get("linear_term_") in ("scalar", "feature_vector"):
        expected |= {"_compact_linear"}
        expected -= {"linear_"}
    for block_type in BLOCK_TYPES:
        # A file written before a block type existed lacks all its attributes.
        if not any(key in state for key in block_type.empty):
            expected -= set(block_type.empty)
    return expected


def _check_labels(classes) -> None:
    _require(
        type(classes) is np.ndarray
        and classes.shape == (2,)
        and classes.dtype.kind in "biufUSO",
        "classes_ must be an array of two labels",
    )
    if classes.dtype == object:
        _require(
            all(type(c) in (str, int, float, bool) for c in classes),
            "classes_ must hold strings or numbers",
        )
    _require(bool(classes[0] != classes[1]), "classes_ must hold two distinct labels")


def _check_feature_names(names, n: int) -> None:
    _require(
        type(names) is np.ndarray
        and names.shape == (n,)
        and (
            names.dtype.kind == "U"
            or (names.dtype == object and all(type(v) is str for v in names))
        ),
        f"feature_names_in_ must be an array of {n} column names (str)",
    )


def _check_predictor_values(state: dict) -> None:
    """Types and ranges of a predictor's attributes that the model description
    does not check."""
    from ._runtime import check_params
    from ._spec import BLOCK_TYPES

    check_params(state["engine"], state["threshold"], state["n_jobs"])
    version = state.get("_sklearn_version")
    _require(version is None or type(version) is str, "_sklearn_version must be a str")
    if "classes_" not in state:
        return
    _check_labels(state["classes_"])
    n = state["n_features_in_"]
    _require(type(n) is int and n >= 1, "n_features_in_ must be a positive int")
    if "feature_names_in_" in state:
        _check_feature_names(state["feature_names_in_"], n)
    dtype = state["value_dtype_"]
    _require(dtype in _VALUE_DTYPES, f"value_dtype_ must be one of {_VALUE_DTYPES}")
    for key in ("_compact_embedding", "_compact_linear"):
        store = state.get(key)
        if type(store) is dict and type(store.get("values")) is np.ndarray:
            _require(
                store["values"].dtype == np.dtype(dtype),
                f"{key}.values must be {dtype} (value_dtype_)",
            )
    counts = state["n_params_"]
    components = {"embedding", "bias"} | {t.component for t in BLOCK_TYPES}
    _require(
        type(counts) is dict
        and all(
            k in components and type(v) is int and v >= 0 for k, v in counts.items()
        ),
        f"n_params_ must map components {sorted(components)} to counts",
    )
    nbytes = state["nbytes_"]
    _require(type(nbytes) is int and nbytes >= 0, "nbytes_ must be a non-negative int")
    for key in _INT64_ATTRIBUTES:
        value = state.get(key)
        _require(
            type(value) is np.ndarray and value.dtype == np.int64,
            f"{key} must be an int64 array",
        )


def _check_predictor_state(state: dict, budget: _Budget | None = None) -> None:
    """Exactly the expected attributes, with valid types and ranges; no
    runtime state from the file; the compact stores' shapes follow the
    declared layout, their expansion fits the ``budget``, and their masks are
    checked with bounded decompression."""
    budget = _Budget() if budget is None else budget
    supplied = [k for k in _PREDICTOR_RUNTIME if k in state]
    _require(not supplied, f"the state must not provide {supplied}")
    _check_names(state, _predictor_names(state), "SparseCTRPredictor")
    _check_predictor_values(state)
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
    _check_absent_blocks(runtime, spec)
    for block in spec.blocks:
        for w in block.weights():
            _require(w.dtype == np.float32, f"the {block.kind}'s weights: float32")


def _check_absent_blocks(attrs: dict, spec) -> None:
    """A block the model lacks holds its ``empty`` values (None, [] or empty
    arrays of the right dtype), so that no attribute is left unchecked."""
    from ._spec import BLOCK_TYPES

    present = {b.kind for b in spec.blocks}
    claimed = {k for b in spec.blocks for k in b.attributes()}
    for block_type in BLOCK_TYPES:
        if block_type.kind in present:
            continue
        for key, empty in block_type.empty.items():
            if key in claimed or key not in attrs:
                continue
            value = attrs[key]
            if isinstance(empty, np.ndarray):
                ok = (
                    type(value) is np.ndarray
                    and value.dtype == empty.dtype
                    and value.shape == empty.shape
                )
            else:
                ok = type(value) is type(empty) and value == empty
            _require(ok, f"{key} must be {empty!r}: the model has no {block_type.kind}")


#: A fitted FieldEncoder's attributes besides its constructor parameters
#: (those of :data:`_OPTIONAL` may be absent). The one list to update when
#: the encoder's fitted state changes.
_ENCODER_FITTED = (
    "n_features_in_",
    "numeric_fields_",
    "_counts",
    "_missing_counts",
    "n_samples_seen_",
    "_vocab",
    "_lookup",
    "_missing_code",
    "field_dims_",
    "oov_codes_",
    "categories_",
)
_PLAIN_SCALARS = (str, int, float, bool, type(None), np.generic)


def _plain_values(index) -> bool:
    """Whether every value of a pandas Index is one of :data:`_PLAIN_SCALARS`
    (as iterating it gives them), without iterating an Index whose dtype
    decides: numbers and booleans are; the strings of a string dtype are,
    and its missing value is where it is NaN (``pd.NA`` is not). Iterating
    the 1.3M-value vocabulary of the paper's Criteo model took ~1 s."""
    import pandas as pd

    dtype = index.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "biuf":
        return True
    if isinstance(dtype, pd.StringDtype):
        return dtype.na_value is not pd.NA or not index.hasnans
    values = np.asarray(index, dtype=object)
    return all(issubclass(t, _PLAIN_SCALARS) for t in set(map(type, values)))


def _int64_vector(a, what: str, length: int | None = None) -> np.ndarray:
    _require(
        type(a) is np.ndarray and a.ndim == 1 and a.dtype == np.int64,
        f"{what} must be a 1-D int64 array",
    )
    if length is not None:
        _require(a.shape[0] == length, f"{what} must have {length} entries")
    return a


def _numeric_transforms() -> tuple[set[str], list]:
    """The numeric transforms a file may name: strings, trusted functions."""
    from . import _encoder
    from ._persist_tree import _FUNCTIONS, _resolve

    names = set(getattr(_encoder, "_NAMED_TRANSFORMS", ("criteo", "log1p")))
    return names | {"identity"}, [_resolve(_FUNCTIONS, f) for f in _FUNCTIONS]


def _check_encoder_params(enc) -> None:
    state = enc.__dict__
    nt = state["numeric_transform"]
    names, functions = _numeric_transforms()
    _require(
        nt is None
        or (type(nt) is str and nt in names)
        or any(nt is f for f in functions),
        f"numeric_transform must be None or one of {sorted(names)}, got {nt!r}",
    )
    nf = state["numeric_fields"]
    _require(
        nf is None
        or nf == "auto"
        or (
            type(nf) in (list, tuple)
            and all(type(v) in (str, int) or isinstance(v, np.integer) for v in nf)
        ),
        "numeric_fields must be 'auto', None or a list of names or positions",
    )
    mv = state["missing_values"]
    _require(
        mv is None
        or (
            type(mv) in (list, tuple) and all(isinstance(v, _PLAIN_SCALARS) for v in mv)
        ),
        "missing_values must be None or a tuple of plain values",
    )
    check = getattr(enc, "_check_params", None)
    if check is not None:
        check()  # min_frequency, handle_missing, numeric_missing...


def _check_encoder_state(state: dict, budget: _Budget | None = None) -> None:
    """Exactly a FieldEncoder's attributes in the file's state (the state
    ``__setstate__`` may add runtime caches to, which are not checked)."""
    from ._encoder import FieldEncoder

    params = set(FieldEncoder._get_param_names())
    fitted = "field_dims_" in state or "_counts" in state
    expected = params | (set(_ENCODER_FITTED) if fitted else set())
    _check_names(state, expected, "FieldEncoder")


def _check_encoder(enc) -> None:
    """A FieldEncoder's attributes, each with its type, dtype, shape and
    range: the codes :meth:`FieldEncoder.transform` returns index the
    embedding table of the model after it."""
    state = enc.__dict__
    fitted = "field_dims_" in state or "_counts" in state
    _check_encoder_params(enc)
    version = state.get("_sklearn_version")
    _require(version is None or type(version) is str, "_sklearn_version must be a str")
    if not fitted:
        return
    n = state["n_features_in_"]
    _require(type(n) is int and n >= 1, "n_features_in_ must be a positive int")
    if "feature_names_in_" in state:
        _check_feature_names(state["feature_names_in_"], n)
    seen = state["n_samples_seen_"]
    _require(type(seen) is int and seen >= 0, "n_samples_seen_ must be an int >= 0")
    numeric_fields = _int64_vector(state["numeric_fields_"], "numeric_fields_")
    _require(
        all(0 <= j < n for j in numeric_fields.tolist())
        and bool((np.diff(numeric_fields) > 0).all()),
        f"numeric_fields_ must be increasing positions in [0, {n})",
    )
    numeric = set(numeric_fields.tolist())
    dims = _int64_vector(state["field_dims_"], "field_dims_", n)
    oov = _int64_vector(state["oov_codes_"], "oov_codes_", n)
    missing = _int64_vector(state["_missing_code"], "_missing_code", n)
    missing_counts = _int64_vector(state["_missing_counts"], "_missing_counts", n)
    _require(bool((missing_counts >= 0).all()), "_missing_counts must be >= 0")
    _require(bool((dims >= 1).all()), "field_dims_ must be positive")
    for attr in ("_counts", "_vocab", "_lookup", "categories_"):
        value = state[attr]
        _require(type(value) is list and len(value) == n, f"{attr} must have {n} items")
    for j in range(n):
        if j in numeric:
            _require(
                dims[j] == 1 and oov[j] == -1 and missing[j] == -1,
                f"numeric field {j}: field_dims_ 1, oov_codes_ and _missing_code -1",
            )
            _require(
                all(state[a][j] is None for a in ("_counts", "_vocab", "_lookup"))
                and state["categories_"][j] is None,
                f"numeric field {j} has no vocabulary",
            )
            continue
        _check_encoder_field(state, j, int(dims[j]))


def _check_encoder_field(state: dict, j: int, dim: int) -> None:
    """One categorical field's counts, vocabulary, lookup and categories."""
    import pandas as pd

    counts, vocab = state["_counts"][j], state["_vocab"][j]
    _require(
        type(counts) is pd.Series
        and counts.dtype == np.int64
        and bool((counts.to_numpy() >= 0).all()),
        f"_counts[{j}] must be a Series of int64 counts",
    )
    _require(
        isinstance(vocab, pd.Index) and not isinstance(vocab, pd.MultiIndex),
        f"_vocab[{j}] must be a pandas Index",
    )
    try:
        unique = vocab.is_unique and vocab.equals(counts.index)
    except TypeError:  # unhashable values
        unique = False
    _require(
        unique and _plain_values(vocab),
        f"_vocab[{j}] must hold the distinct values counted in _counts[{j}]",
    )
    lookup = _int64_vector(state["_lookup"][j], f"_lookup[{j}]", len(vocab) + 1)
    _require(
        bool(((lookup >= 0) & (lookup < dim)).all())
        and 0 <= state["_missing_code"][j] < dim,
        f"codes of field {j} must be below field_dims_[{j}]",
    )
    _require(
        lookup[-1] == dim - 1 and state["oov_codes_"][j] == dim - 1,
        f"field {j}: unknown values must map to its out-of-vocabulary code {dim - 1}",
    )
    cats = state["categories_"][j]
    _require(
        type(cats) is np.ndarray and cats.dtype == object and cats.shape == (dim - 1,),
        f"categories_[{j}] must be an object array of {dim - 1} values",
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


def _check_serving_pipeline(pipe) -> None:
    """A pipeline of a fitted FieldEncoder and SparseCTRPredictor of as many
    fields (the serving path feeds the encoder's codes to the kernels)."""
    _check_pipeline(pipe)
    pipe._parts()


def _check_frozen(frozen) -> None:
    from ._persist_tree import _CLASSES, _resolve

    est = frozen.__dict__.get("estimator")
    trusted = tuple(_resolve(_CLASSES, name) for name in _CLASSES)
    _require(
        type(est) in trusted, "the FrozenEstimator must wrap one of the trusted types"
    )


def _check_no_shadowing(cls: type, state: dict) -> None:
    """No attribute of the state may hide one of the class (a method such as
    ``predict_proba``, a property): every trusted class's state."""
    shadowed = sorted(k for k in state if hasattr(cls, k))
    _require(
        not shadowed,
        f"the state sets {shadowed}, which would hide the {cls.__name__}'s own "
        "methods or properties",
    )


def _check_record_predictor_state(state: dict, budget: _Budget | None = None) -> None:
    from ._scorer import check_state

    check_state(state, budget)


#: Checks of a state before ``__setstate__``: ``check(state, budget)``.
_PRE_CHECKS = {
    "sklearn_deeplight.SparseCTRPredictor": _check_predictor_state,
    "sklearn_deeplight.FieldEncoder": _check_encoder_state,
    "sklearn_deeplight.RecordPredictor": _check_record_predictor_state,
}
_POST_CHECKS = {
    "sklearn_deeplight.SparseCTRPredictor": _check_predictor,
    "sklearn_deeplight.FieldEncoder": _check_encoder,
    "sklearn.pipeline.Pipeline": _check_pipeline,
    "sklearn.frozen.FrozenEstimator": _check_frozen,
    "sklearn_deeplight.ServingPipeline": _check_serving_pipeline,
    # RecordPredictor: its __setstate__ runs its checks (joblib too)
}
