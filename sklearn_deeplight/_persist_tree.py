"""The object tree of a model file: encoding, decoding, the trusted types.

:class:`_Encoder` turns an object into JSON data (plain values, and typed
nodes ``{"$": kind, ...}`` for tuples, dicts, non-finite floats, numpy
scalars, dtypes and object arrays, scipy sparse matrices, pandas indexes and
series, trusted functions and trusted objects) and a list of ``.npy``
payloads written with ``allow_pickle=False``; anything else raises a
``TypeError`` naming it. :class:`_Decoder` rebuilds the tree, checking every
node (:func:`_read_npy` reads an array's header before allocating anything),
and builds only the classes of :data:`TRUSTED_TYPES`, by ``cls.__new__`` and
``__setstate__``, with the structural checks of
:mod:`sklearn_deeplight._persist_checks` before and after. The file around
the tree (zip, manifest, checksums) is :mod:`sklearn_deeplight._persistence`.
"""

from __future__ import annotations

import importlib
import io
import math
import re
import warnings
import zlib
from typing import Any

import numpy as np
import scipy.sparse as sp

from ._persist_checks import (
    _POST_CHECKS,
    _PRE_CHECKS,
    _Budget,
    _check_no_shadowing,
    _MemoryCeiling,
)

__all__ = ["TRUSTED_TYPES"]

_ATTR_RE = re.compile(r"\A[A-Za-z_][A-Za-z0-9_]*\Z")
_MAX_DEPTH = 64
#: dtype kinds of stored arrays and scalars (no objects, no raw bytes).
_ARRAY_KINDS = frozenset("biufcUS")
_DTYPE_KINDS = frozenset("biufcUSO")

#: Classes :func:`load` rebuilds, by the name written in the file. Nothing
#: else is ever instantiated.
_CLASSES: dict[str, tuple[str, str]] = {
    "sklearn_deeplight.SparseCTRPredictor": (
        "sklearn_deeplight._sparse",
        "SparseCTRPredictor",
    ),
    "sklearn_deeplight.FieldEncoder": ("sklearn_deeplight._encoder", "FieldEncoder"),
    "sklearn_deeplight.ServingPipeline": (
        "sklearn_deeplight._serving",
        "ServingPipeline",
    ),
    "sklearn_deeplight.RecordPredictor": (
        "sklearn_deeplight._scorer",
        "RecordPredictor",
    ),
    "sklearn.pipeline.Pipeline": ("sklearn.pipeline", "Pipeline"),
    "sklearn.frozen.FrozenEstimator": ("sklearn.frozen", "FrozenEstimator"),
    "sklearn.preprocessing.OrdinalEncoder": ("sklearn.preprocessing", "OrdinalEncoder"),
    "sklearn.impute.SimpleImputer": ("sklearn.impute", "SimpleImputer"),
}
#: Functions :func:`load` resolves (the named numeric transform of the encoder).
_FUNCTIONS: dict[str, tuple[str, str]] = {
    "sklearn_deeplight.criteo_numeric_transform": (
        "sklearn_deeplight._encoder",
        "criteo_numeric_transform",
    ),
}

#: The types :func:`load` rebuilds (besides numbers, strings, lists, tuples,
#: dicts, numpy arrays and scalars, scipy sparse matrices and pandas indexes).
TRUSTED_TYPES: tuple[str, ...] = tuple(sorted(_CLASSES))


class _DamagedFile(ValueError):
    """The file is not a valid model file (raised as it is, never wrapped)."""


def _resolve(table: dict[str, tuple[str, str]], name: str):
    module, attr = table[name]
    return getattr(importlib.import_module(module), attr)


def _qualname(obj: Any) -> str:
    cls = obj if isinstance(obj, type) else type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


# ----------------------------------------------------------------------------
# Encoding
# ----------------------------------------------------------------------------
class _Encoder:
    """Turn an object into a JSON tree and a list of ``.npy`` payloads."""

    def __init__(self) -> None:
        self.arrays: list[bytes] = []
        self._active: set[int] = set()
        self._classes = {_resolve(_CLASSES, n): n for n in _CLASSES}
        self._functions = {id(_resolve(_FUNCTIONS, n)): n for n in _FUNCTIONS}

    def _untrusted(self, obj: Any, where: str) -> TypeError:
        hint = ""
        if hasattr(obj, "to_sparse") and hasattr(obj, "module_"):
            hint = (
                " Save the torch-free predictor of a fitted classifier, "
                "save(est.to_sparse(), path), or pickle the classifier with "
                "joblib (only for files you trust)."
            )
        elif where.endswith("numeric_transform") and callable(obj):
            name = getattr(obj, "__name__", "")
            named = "'log1p'" if name == "log1p" else "'log1p' or 'criteo'"
            hint = (
                f" A function cannot be stored: the named transforms can, e.g. "
                f"FieldEncoder(numeric_transform={named})."
            )
        return TypeError(
            f"save cannot store {where} of type {_qualname(obj)}: it is not one "
            f"of the trusted types {list(TRUSTED_TYPES)} nor plain data (numbers, "
            "strings, lists, tuples, dicts, numpy arrays, scipy sparse matrices, "
            f"pandas indexes).{hint}"
        )

    def _array(self, arr: np.ndarray) -> int:
        buf = io.BytesIO()
        np.save(buf, arr, allow_pickle=False)
        self.arrays.append(buf.getvalue())
        return len(self.arrays) - 1

    def encode(self, obj: Any, where: str = "root", depth: int = 0) -> Any:
        if depth > _MAX_DEPTH:
            raise ValueError(f"save: {where} is nested more than {_MAX_DEPTH} deep.")
        if obj is None or type(obj) is bool:
            return obj
        if isinstance(obj, np.generic):
            return self._scalar(obj, where)
        if type(obj) is str:
            return obj
        if type(obj) is int:
            return obj
        if type(obj) is float:
            if math.isfinite(obj):
                return obj
            return {"$": "float", "v": repr(obj)}
        if type(obj) is bytes:
            return {"$": "bytes", "id": self._array(np.frombuffer(obj, np.uint8))}
        if isinstance(obj, type) and issubclass(obj, np.generic):
            dt = np.dtype(obj)
            if dt.kind not in _ARRAY_KINDS:
                raise self._untrusted(obj, where)
            return {"$": "scalar_type", "v": dt.str}
        if type(obj) is np.ndarray:
            return self._ndarray(obj, where, depth)
        if isinstance(obj, np.dtype):
            if obj.kind not in _DTYPE_KINDS or obj.fields is not None:
                raise self._untrusted(obj, where)
            return {"$": "dtype", "v": obj.str}
        if sp.issparse(obj):
            return self._sparse(obj, where, depth)
        if id(obj) in self._active:
            raise ValueError(f"save: {where} refers to itself (a cycle).")
        self._active.add(id(obj))
        try:
            return self._container(obj, where, depth)
        finally:
            self._active.discard(id(obj))

    def _scalar(self, obj: np.generic, where: str) -> dict[str, Any]:
        dt = obj.dtype
        if dt.kind not in _ARRAY_KINDS:
            raise self._untrusted(obj, where)
        return {"$": "scalar", "dtype": dt.str, "hex": obj.tobytes().hex()}

    def _ndarray(self, arr: np.ndarray, where: str, depth: int) -> dict[str, Any]:
        if arr.dtype == object:
            items = [
                self.encode(v, f"{where}[{i}]", depth + 1)
                for i, v in enumerate(arr.ravel(order="C"))
            ]
            return {"$": "objarray", "shape": list(arr.shape), "items": items}
        if arr.dtype.kind not in _ARRAY_KINDS or arr.dtype.fields is not None:
            raise TypeError(
                f"save cannot store {where}: arrays of dtype {arr.dtype} are not "
                "supported (numbers, booleans and strings are)."
            )
        node: dict[str, Any] = {"$": "ndarray", "id": self._array(arr)}
        if not arr.flags.writeable:
            node["readonly"] = True
        return node

    def _sparse(self, m, where: str, depth: int) -> dict[str, Any]:
        fmt = m.format
        if fmt not in ("csr", "csc", "coo"):
            raise TypeError(
                f"save cannot store {where}: scipy sparse format {fmt!r} is not "
                "supported (csr, csc and coo are)."
            )
        node: dict[str, Any] = {
            "$": "sparse",
            "format": fmt,
            "matrix": bool(isinstance(m, sp.spmatrix)),
            "shape": [int(s) for s in m.shape],
        }
        if fmt == "coo":
            parts = {"data": m.data, "row": m.coords[0], "col": m.coords[1]}
        else:
            parts = {"data": m.data, "indices": m.indices, "indptr": m.indptr}
        for key, value in parts.items():
            node[key] = self._ndarray(np.asarray(value), f"{where}.{key}", depth)
        return node

    def _container(self, obj: Any, where: str, depth: int) -> Any:
        d = depth + 1
        if type(obj) is list:
            return [self.encode(v, f"{where}[{i}]", d) for i, v in enumerate(obj)]
        if type(obj) is tuple:
            items = [self.encode(v, f"{where}[{i}]", d) for i, v in enumerate(obj)]
            return {"$": "tuple", "items": items}
        if type(obj) is dict:
            keys = [self.encode(k, f"{where} key {k!r}", d) for k in obj]
            values = [self.encode(v, f"{where}[{k!r}]", d) for k, v in obj.items()]
            return {"$": "dict", "keys": keys, "values": values}
        cls = type(obj)
        if cls in self._classes:
            state = obj.__getstate__()
            if type(state) is not dict or not all(
                type(k) is str and _ATTR_RE.match(k) for k in state
            ):
                raise TypeError(
                    f"save cannot store {where}: the state of {_qualname(obj)} is "
                    "not a dict of attribute names."
                )
            values = [self.encode(v, f"{where}.{k}", d) for k, v in state.items()]
            return {
                "$": "object",
                "class": self._classes[cls],
                "state": {"$": "dict", "keys": list(state), "values": values},
            }
        if callable(obj) and id(obj) in self._functions:
            return {"$": "function", "name": self._functions[id(obj)]}
        pandas = _pandas_node(self, obj, where, depth)
        if pandas is not None:
            return pandas
        raise self._untrusted(obj, where)


def _pandas_node(enc: _Encoder, obj: Any, where: str, depth: int) -> Any:
    """Typed node of a pandas Index, RangeIndex, Series, NA or NaT; else None."""
    import sys

    pd = sys.modules.get("pandas")
    if pd is None:
        return None
    if obj is pd.NA:
        return {"$": "pd.NA"}
    if obj is pd.NaT:
        return {"$": "pd.NaT"}
    if type(obj) is pd.RangeIndex:
        return {
            "$": "pd.RangeIndex",
            "start": int(obj.start),
            "stop": int(obj.stop),
            "step": int(obj.step),
            "name": enc.encode(obj.name, f"{where}.name", depth + 1),
        }
    if type(obj) is pd.Index:
        return {
            "$": "pd.Index",
            "name": enc.encode(obj.name, f"{where}.name", depth + 1),
            **_pandas_values(enc, obj, where, depth),
        }
    if type(obj) is pd.Series:
        return {
            "$": "pd.Series",
            "name": enc.encode(obj.name, f"{where}.name", depth + 1),
            "index": enc.encode(obj.index, f"{where}.index", depth + 1),
            **_pandas_values(enc, obj, where, depth),
        }
    return None


def _pandas_values(enc: _Encoder, obj, where: str, depth: int) -> dict[str, Any]:
    import pandas as pd

    dtype = obj.dtype
    if isinstance(dtype, pd.StringDtype):
        items = [v if isinstance(v, str) else None for v in obj.to_numpy(dtype=object)]
        return {
            "dtype": {
                "string": dtype.storage,
                "na_nan": dtype.na_value is not pd.NA,
            },
            "values": items,
        }
    if isinstance(dtype, np.dtype) and dtype.kind in _DTYPE_KINDS:
        values = enc._ndarray(obj.to_numpy(copy=True), f"{where}.values", depth)
        return {"dtype": {"numpy": dtype.str}, "values": values}
    raise TypeError(
        f"save cannot store {where}: pandas dtype {dtype} is not supported "
        "(numpy numbers, booleans, objects and strings are)."
    )


# ----------------------------------------------------------------------------
# Decoding
# ----------------------------------------------------------------------------
def _damaged(msg: str) -> _DamagedFile:
    return _DamagedFile(msg)


def _read_npy(data: bytes, name: str, budget: _Budget | None = None) -> np.ndarray:
    """An array from ``.npy`` bytes, checked before anything is allocated.

    The header's shape and dtype must match the payload's size exactly; the
    array's bytes are charged to ``budget`` before it is read.
    """
    buf = io.BytesIO(data)
    fmt = np.lib.format
    try:
        version = fmt.read_magic(buf)
        if version == (1, 0):
            shape, fortran, dtype = fmt.read_array_header_1_0(buf)
        elif version == (2, 0):
            shape, fortran, dtype = fmt.read_array_header_2_0(buf)
        else:
            raise ValueError(f"unsupported .npy version {version}")
    except (ValueError, TypeError, SyntaxError, OverflowError) as exc:
        raise _damaged(f"{name} is not a valid .npy array: {exc}") from None
    if dtype.hasobject or dtype.kind not in _ARRAY_KINDS or dtype.fields:
        raise _damaged(f"{name} holds an array of dtype {dtype}, which is refused.")
    count = math.prod(shape)
    if len(data) - buf.tell() != count * dtype.itemsize:
        raise _damaged(
            f"{name} declares shape {shape} of {dtype} but holds "
            f"{len(data) - buf.tell()} bytes of data."
        )
    if budget is not None:
        budget.charge(count * dtype.itemsize, name)
    buf.seek(0)
    arr = np.load(buf, allow_pickle=False)
    if not isinstance(arr, np.ndarray):  # pragma: no cover - checked above
        raise _damaged(f"{name} is not an array.")
    return arr


#: The JSON values a node may hold that decode to themselves.
_JSON_SCALARS = frozenset({type(None), bool, int, float, str})
_STR_OR_NONE = frozenset({type(None), str})


class _Decoder:
    """Rebuild the object tree; every node is checked, every class trusted."""

    def __init__(self, arrays: dict[int, bytes], budget: _Budget | None = None) -> None:
        self.arrays = arrays
        self.budget = _Budget() if budget is None else budget

    def _array(self, node: dict, where: str) -> np.ndarray:
        i = node.get("id")
        if type(i) is not int or i not in self.arrays:
            raise _damaged(f"{where} refers to a missing array {i!r}.")
        return _read_npy(self.arrays[i], f"arrays/{i:06d}.npy ({where})", self.budget)

    def decode(self, node: Any, where: str = "root", depth: int = 0) -> Any:
        if depth > _MAX_DEPTH:
            raise _damaged(f"{where} is nested more than {_MAX_DEPTH} deep.")
        if node is None or type(node) in (bool, int, float, str):
            return node
        d = depth + 1
        if type(node) is list:
            return [self.decode(v, f"{where}[{i}]", d) for i, v in enumerate(node)]
        if type(node) is not dict or type(node.get("$")) is not str:
            raise _damaged(f"{where} is not a valid node.")
        kind = node["$"]
        method = getattr(self, "_node_" + kind.replace(".", "_"), None)
        if method is None:
            raise _damaged(f"{where} has the unknown node type {kind!r}.")
        try:
            return method(node, where, d)
        except (_DamagedFile, _MemoryCeiling, TypeError):
            raise
        except (KeyError, ValueError, IndexError, AttributeError, OverflowError) as e:
            raise _damaged(f"{where} (a {kind} node) is invalid: {e!r}") from None

    # plain data --------------------------------------------------------------
    def _node_float(self, node, where, depth):
        v = node["v"]
        if v not in ("nan", "inf", "-inf"):
            raise ValueError(f"not a float constant: {v!r}")
        return float(v)

    def _node_tuple(self, node, where, depth):
        items = node["items"]
        if type(items) is not list:
            raise ValueError("items is not a list")
        return tuple(
            self.decode(v, f"{where}[{i}]", depth) for i, v in enumerate(items)
        )

    def _node_dict(self, node, where, depth):
        keys, values = node["keys"], node["values"]
        if type(keys) is not list or type(values) is not list:
            raise ValueError("keys and values must be lists")
        if len(keys) != len(values):
            raise ValueError("keys and values differ in length")
        out = {}
        for i, (k, v) in enumerate(zip(keys, values)):
            key = self.decode(k, f"{where} key {i}", depth)
            try:
                out[key] = self.decode(v, f"{where}[{key!r}]", depth)
            except TypeError as exc:
                if "unhashable" in str(exc):
                    raise ValueError(f"unhashable key {key!r}") from None
                raise
        return out

    def _node_bytes(self, node, where, depth):
        arr = self._array(node, where)
        if arr.dtype != np.uint8 or arr.ndim != 1:
            raise ValueError("bytes must be a 1-D uint8 array")
        return arr.tobytes()

    def _dtype(self, text, kinds) -> np.dtype:
        if type(text) is not str or not re.fullmatch(r"[<>|=]?[a-zA-Z][0-9]*", text):
            raise ValueError(f"bad dtype {text!r}")
        dt = np.dtype(text)
        if dt.kind not in kinds:
            raise ValueError(f"dtype {dt} is refused")
        return dt

    def _node_scalar(self, node, where, depth):
        dt = self._dtype(node["dtype"], _ARRAY_KINDS)
        raw = bytes.fromhex(node["hex"])
        if len(raw) != dt.itemsize:
            raise ValueError("scalar size mismatch")
        return np.frombuffer(raw, dtype=dt)[0]

    def _node_scalar_type(self, node, where, depth):
        return self._dtype(node["v"], _ARRAY_KINDS).type

    def _node_dtype(self, node, where, depth):
        return self._dtype(node["v"], _DTYPE_KINDS)

    def _node_ndarray(self, node, where, depth):
        arr = self._array(node, where)
        if node.get("readonly") is True:
            arr.flags.writeable = False
        return arr

    def _node_objarray(self, node, where, depth):
        shape, items = node["shape"], node["items"]
        if (
            type(shape) is not list
            or not all(type(s) is int and s >= 0 for s in shape)
            or type(items) is not list
            or math.prod(shape) != len(items)
        ):
            raise ValueError("shape does not match the items")
        out = np.empty(len(items), dtype=object)
        if set(map(type, items)) <= _JSON_SCALARS:  # decoded as they are
            if items and depth > _MAX_DEPTH:  # as decode refuses them
                raise _damaged(f"{where}[0] is nested more than {_MAX_DEPTH} deep.")
            out[:] = items
        else:
            for i, v in enumerate(items):
                out[i] = self.decode(v, f"{where}[{i}]", depth)
        return out.reshape(shape)

    def _node_sparse(self, node, where, depth):
        fmt, shape = node["format"], node["shape"]
        if type(shape) is not list or len(shape) != 2:
            raise ValueError("shape must be a pair")
        if not all(type(s) is int and s >= 0 for s in shape):
            raise ValueError("shape must hold non-negative ints")
        kinds = {
            "csr": (sp.csr_array, sp.csr_matrix),
            "csc": (sp.csc_array, sp.csc_matrix),
            "coo": (sp.coo_array, sp.coo_matrix),
        }
        if fmt not in kinds:
            raise ValueError(f"unknown sparse format {fmt!r}")
        cls = kinds[fmt][1 if node["matrix"] is True else 0]
        parts = ("row", "col") if fmt == "coo" else ("indices", "indptr")
        data = self._node_ndarray(node["data"], f"{where}.data", depth)
        a, b = (self._node_ndarray(node[p], f"{where}.{p}", depth) for p in parts)
        for p, arr in zip(parts, (a, b)):
            if arr.dtype.kind not in "iu" or arr.ndim != 1:
                raise ValueError(f"{p} must be a 1-D integer array")
        # scipy may copy the arrays (index dtypes) while it builds the matrix
        self.budget.charge(data.nbytes + a.nbytes + b.nbytes, f"{where} (sparse)")
        if data.ndim != 1:
            raise ValueError("data must be 1-D")
        if fmt == "coo":
            if not (len(a) == len(b) == len(data)):
                raise ValueError("row, col and data differ in length")
            if len(a) and (a.min() < 0 or a.max() >= shape[0]):
                raise ValueError("row index out of bounds")
            if len(b) and (b.min() < 0 or b.max() >= shape[1]):
                raise ValueError("col index out of bounds")
            return cls((data, (a, b)), shape=tuple(shape))
        m = cls((data, a, b), shape=tuple(shape))
        m.check_format(full_check=True)
        return m

    def _node_function(self, node, where, depth):
        name = node["name"]
        if type(name) is not str or name not in _FUNCTIONS:
            raise TypeError(
                f"load refuses the function {name!r} at {where}: only "
                f"{sorted(_FUNCTIONS)} are trusted."
            )
        return _resolve(_FUNCTIONS, name)

    # pandas ------------------------------------------------------------------
    def _node_pd_NA(self, node, where, depth):
        import pandas as pd

        return pd.NA

    def _node_pd_NaT(self, node, where, depth):
        import pandas as pd

        return pd.NaT

    def _node_pd_RangeIndex(self, node, where, depth):
        import pandas as pd

        start, stop, step = node["start"], node["stop"], node["step"]
        if not all(type(v) is int for v in (start, stop, step)) or step == 0:
            raise ValueError("start, stop and step must be ints, step nonzero")
        name = self.decode(node["name"], f"{where}.name", depth)
        return pd.RangeIndex(start, stop, step, name=name)

    def _pandas_values(self, node, where, depth):
        import pandas as pd

        dtype, values = node["dtype"], node["values"]
        if type(dtype) is not dict:
            raise ValueError("dtype must be a dict")
        if "string" in dtype:
            storage = dtype["string"]
            if storage not in ("python", "pyarrow"):
                raise ValueError(f"unknown string storage {storage!r}")
            if type(values) is not list or not set(map(type, values)) <= _STR_OR_NONE:
                raise ValueError("string values must be a list of str or null")
            na = np.nan if dtype["na_nan"] is True else pd.NA
            return values, pd.StringDtype(storage=storage, na_value=na)
        dt = self._dtype(dtype["numpy"], _DTYPE_KINDS)
        arr = self.decode(values, f"{where}.values", depth)
        if type(arr) is not np.ndarray or arr.ndim != 1 or arr.dtype != dt:
            raise ValueError(f"values must be a 1-D array of {dt}")
        return arr, dt

    def _node_pd_Index(self, node, where, depth):
        import pandas as pd

        values, dtype = self._pandas_values(node, where, depth)
        name = self.decode(node["name"], f"{where}.name", depth)
        return pd.Index(values, dtype=dtype, name=name, copy=False)

    def _node_pd_Series(self, node, where, depth):
        import pandas as pd

        values, dtype = self._pandas_values(node, where, depth)
        index = self.decode(node["index"], f"{where}.index", depth)
        if not isinstance(index, pd.Index) or len(index) != len(values):
            raise ValueError("index must be a pandas Index of the values' length")
        name = self.decode(node["name"], f"{where}.name", depth)
        return pd.Series(values, index=index, dtype=dtype, name=name, copy=False)

    # trusted objects ---------------------------------------------------------
    def _node_object(self, node, where, depth):
        name = node["class"]
        if type(name) is not str or name not in _CLASSES:
            raise TypeError(
                f"load refuses to build the type {name!r} at {where}: it is not "
                f"one of the trusted types {list(TRUSTED_TYPES)}. The file was not "
                "written by sklearn_deeplight.save, or was altered."
            )
        state = self.decode(node["state"], f"{where}.state", depth)
        if type(state) is not dict or not all(
            type(k) is str and _ATTR_RE.match(k) and not k.startswith("__")
            for k in state
        ):
            raise ValueError("the state must be a dict of attribute names")
        cls = _resolve(_CLASSES, name)
        _check_no_shadowing(cls, state)
        check = _PRE_CHECKS.get(name)
        if check is not None:
            check(state, self.budget)
        obj = cls.__new__(cls)
        try:
            with warnings.catch_warnings():
                # The library version is checked once, in the manifest.
                warnings.filterwarnings("ignore", message=".*version.*")
                obj.__setstate__(state)
        except (
            ValueError,
            TypeError,
            KeyError,
            IndexError,
            AttributeError,
            OverflowError,
            zlib.error,
        ) as exc:
            raise _damaged(
                f"{where}: the {name} could not be rebuilt from its state: {exc!r}"
            ) from None
        check = _POST_CHECKS.get(name)
        if check is not None:
            try:
                check(obj)
            except (KeyError, IndexError, AttributeError, TypeError) as exc:
                raise ValueError(f"inconsistent attributes ({exc!r})") from None
        return obj
