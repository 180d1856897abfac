"""Safe persistence of sparse predictors, encoders and pipelines of them.

:func:`save` writes a model to a file that cannot run code when it is loaded,
and :func:`load` reads it back, refusing every type that is not on a short
allow-list (:data:`TRUSTED_TYPES`): this library's serving objects and a few
scikit-learn containers and transformers. Nothing is ever unpickled.

File format
-----------
A zip archive, every entry stored uncompressed:

- ``manifest.json``: the format name and version, the versions of this
  library, scikit-learn and numpy that wrote the file, the class of the saved
  object, and per payload entry its size and SHA-256, with one SHA-256 of the
  whole payload;
- ``tree.json``: the object tree. Every node is plain JSON data or a typed
  node (``{"$": "ndarray", ...}``, ``{"$": "object", "class":
  "sklearn_deeplight.SparseCTRPredictor", "state": ...}``); an object is
  rebuilt by ``cls.__new__(cls)`` and ``__setstate__(state)`` only when its
  class is trusted, and its state holds nothing but data;
- ``arrays/NNNNNN.npy``: numpy arrays written by ``np.save`` with
  ``allow_pickle=False`` (object arrays are spelt out in the tree instead).

:func:`load` reads the whole file, checks the zip structure, the entry list,
every SHA-256 and the payload SHA-256 before it decodes anything, then checks
the structure of every rebuilt object (for the sparse predictor: the field
layout, the shapes of all layers and the bounds of every sparse index, which
its compiled kernels rely on). A truncated, damaged or altered file raises a
``ValueError``; an untrusted type raises a ``TypeError`` naming it. Nothing is
half-loaded: the object is returned only when everything passed.

:func:`save` encodes the whole object first (an untrusted type raises a
``TypeError`` before the disk is touched), writes a temporary file next to the
target, flushes it to disk and renames it over the target, so that a crash
while saving leaves the previous file intact.

Pickle and joblib
-----------------
``joblib.dump`` / ``joblib.load`` keep working for every estimator of this
library, including the torch classifiers this format does not store. Loading
a pickle runs whatever code the file names: only ``joblib.load`` files that
you wrote yourself or that come from a source you trust, never files that
passed through untrusted hands. A checksum does not help there: whoever can
alter the file can recompute it.
"""

from __future__ import annotations

import hashlib
import importlib
import io
import json
import math
import os
import re
import warnings
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

__all__ = ["FORMAT_VERSION", "TRUSTED_TYPES", "load", "save"]

#: Name of the format in the manifest.
FORMAT = "sklearn-deeplight"
#: Version of the layout written by :func:`save`; :func:`load` reads it and
#: every older one.
FORMAT_VERSION = 1

_MANIFEST = "manifest.json"
_TREE = "tree.json"
_ENTRY_RE = re.compile(r"\A(?:tree\.json|arrays/[0-9]{6}\.npy)\Z")
_ATTR_RE = re.compile(r"\A[A-Za-z_][A-Za-z0-9_]*\Z")
_MAX_DEPTH = 64
_MAX_MANIFEST_BYTES = 1 << 20
#: dtype kinds of stored arrays and scalars (no objects, no raw bytes).
_ARRAY_KINDS = frozenset("biufcUS")
_DTYPE_KINDS = frozenset("biufcUSO")
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)

#: Classes :func:`load` rebuilds, by the name written in the file. Nothing
#: else is ever instantiated.
_CLASSES: dict[str, tuple[str, str]] = {
    "sklearn_deeplight.SparseCTRPredictor": (
        "sklearn_deeplight._sparse",
        "SparseCTRPredictor",
    ),
    "sklearn_deeplight.FieldEncoder": ("sklearn_deeplight._encoder", "FieldEncoder"),
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


def _read_npy(data: bytes, name: str) -> np.ndarray:
    """An array from ``.npy`` bytes, checked before anything is allocated."""
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
    buf.seek(0)
    arr = np.load(buf, allow_pickle=False)
    if not isinstance(arr, np.ndarray):  # pragma: no cover - checked above
        raise _damaged(f"{name} is not an array.")
    return arr


class _Decoder:
    """Rebuild the object tree; every node is checked, every class trusted."""

    def __init__(self, arrays: dict[int, bytes]) -> None:
        self.arrays = arrays

    def _array(self, node: dict, where: str) -> np.ndarray:
        i = node.get("id")
        if type(i) is not int or i not in self.arrays:
            raise _damaged(f"{where} refers to a missing array {i!r}.")
        return _read_npy(self.arrays[i], f"arrays/{i:06d}.npy ({where})")

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
        except (_DamagedFile, TypeError):
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
            if type(values) is not list or not all(
                v is None or type(v) is str for v in values
            ):
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
        check = _PRE_CHECKS.get(name)
        if check is not None:
            check(state)
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


# ----------------------------------------------------------------------------
# Structural checks of rebuilt objects
# ----------------------------------------------------------------------------
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
_PREDICTOR_RUNTIME = ("_table", "_spec", "_packed", "_pairs", "_numeric_mask")


def _check_predictor_state(state: dict) -> None:
    """No runtime state from the file; bounded check of the embedding masks."""
    supplied = [k for k in _PREDICTOR_RUNTIME if k in state]
    _require(not supplied, f"the state must not provide {supplied}")
    if "classes_" in state:
        _require(
            "_compact_embedding" in state, "a fitted predictor needs its embeddings"
        )
    for key, store in state.items():
        if not key.startswith("_compact") or store is None:
            continue
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


_PRE_CHECKS = {"sklearn_deeplight.SparseCTRPredictor": _check_predictor_state}
_POST_CHECKS = {
    "sklearn_deeplight.SparseCTRPredictor": _check_predictor,
    "sklearn_deeplight.FieldEncoder": _check_encoder,
    "sklearn.pipeline.Pipeline": _check_pipeline,
}


# ----------------------------------------------------------------------------
# Files
# ----------------------------------------------------------------------------
def _versions() -> dict[str, str]:
    import sklearn

    from . import __version__

    return {
        "library_version": __version__,
        "sklearn_version": sklearn.__version__,
        "numpy_version": np.__version__,
    }


def _check_path(path) -> Path:
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if not isinstance(path, str | os.PathLike):
        raise TypeError(
            f"path must be a str or path-like object, got {type(path).__name__}."
        )
    return Path(path)


def save(obj: Any, path) -> None:
    """Save a model to a file that cannot run code when it is loaded.

    Stores sparse predictors (``est.to_sparse()``), field encoders, and
    pipelines of them (also with :class:`~sklearn.frozen.FrozenEstimator`,
    :class:`~sklearn.preprocessing.OrdinalEncoder` and
    :class:`~sklearn.impute.SimpleImputer` steps), or lists, tuples and dicts
    of them. The torch classifiers are not stored: save their
    ``to_sparse()`` predictor, or pickle them with joblib (see Notes).

    The file is written to a temporary file in the same directory and renamed
    over `path` once it is complete and flushed to disk, so that a crash while
    saving leaves any previous file at `path` intact.

    Parameters
    ----------
    obj : object
        The model. Every object in it must be a trusted type
        (:data:`TRUSTED_TYPES`) or plain data.
    path : str or path-like
        The file to write (replaced if it exists).

    Raises
    ------
    TypeError
        If `obj` holds an object of another type (named in the message); the
        disk is not touched.

    See Also
    --------
    load : Load the model back.

    Notes
    -----
    The file is a zip archive of a JSON manifest (format version, the
    library's version, SHA-256 checksums), a JSON object tree and numpy arrays
    saved with ``allow_pickle=False``. ``joblib.dump`` still works for every
    estimator; but ``joblib.load`` unpickles, which runs any code the file
    names: use it only for files you trust.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import pandas as pd
    >>> from sklearn_deeplight import FieldEncoder, load, save
    >>> enc = FieldEncoder().fit(pd.DataFrame({"site": ["a", "b", "a"]}))
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = pathlib.Path(d) / "encoder.skdl"
    ...     save(enc, path)
    ...     loaded = load(path)
    >>> loaded.transform(pd.DataFrame({"site": ["b", "zzz"]}))["site"].tolist()
    [1, 2]
    """
    path = _check_path(path)
    encoder = _Encoder()
    tree = json.dumps(
        encoder.encode(obj), allow_nan=False, separators=(",", ":")
    ).encode("utf-8")
    entries: list[tuple[str, bytes]] = [(_TREE, tree)]
    entries += [(f"arrays/{i:06d}.npy", data) for i, data in enumerate(encoder.arrays)]
    payload = hashlib.sha256()
    listed = []
    for name, data in entries:
        payload.update(data)
        listed.append(
            {
                "name": name,
                "size": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
            }
        )
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        **_versions(),
        "object": _root_class(obj),
        "entries": listed,
        "payload_sha256": payload.hexdigest(),
    }
    manifest_bytes = json.dumps(manifest, indent=1).encode("utf-8")
    _atomic_write(path, [(_MANIFEST, manifest_bytes), *entries])


def _root_class(obj: Any) -> str:
    for name in _CLASSES:
        if type(obj) is _resolve(_CLASSES, name):
            return name
    return type(obj).__name__


def _write_zip(f, entries: list[tuple[str, bytes]]) -> None:
    with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_STORED
            info.external_attr = 0o644 << 16
            zf.writestr(info, data)


def _atomic_write(path: Path, entries: list[tuple[str, bytes]]) -> None:
    directory = path.parent
    tmp = directory / f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            _write_zip(f, entries)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    if hasattr(os, "O_DIRECTORY"):  # make the rename durable (POSIX)
        try:
            dfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:  # pragma: no cover - unusual file systems
            return
        try:
            os.fsync(dfd)
        except OSError:  # pragma: no cover
            pass
        finally:
            os.close(dfd)


def _describe_start(data: bytes) -> str:
    if data[:1] == b"\x80" or data[:2] == b"x\x9c" or data[:3] == b"\x1f\x8b\x08":
        return (
            " It looks like a pickle or joblib file: load it with joblib.load only "
            "if you trust its source, since unpickling runs code."
        )
    return ""


def _read_entries(data: bytes, where: str) -> tuple[dict, dict[str, bytes]]:
    """Manifest and checked payload entries of a file's bytes."""
    if data[:4] != b"PK\x03\x04":
        raise _damaged(
            f"{where} is not a sklearn_deeplight model file (no zip signature)."
            + _describe_start(data)
        )
    zf = zipfile.ZipFile(io.BytesIO(data))
    infos = zf.infolist()
    names = [i.filename for i in infos]
    if len(set(names)) != len(names):
        raise _damaged(f"{where} lists an entry twice.")
    if _MANIFEST not in names:
        raise _damaged(f"{where} has no {_MANIFEST}: it is not a model file.")
    total = 0
    for info in infos:
        if (
            info.compress_type != zipfile.ZIP_STORED
            or info.flag_bits & 0x1
            or info.file_size != info.compress_size
        ):
            raise _damaged(f"{where}: entry {info.filename!r} is not stored plainly.")
        total += info.file_size
    if total > len(data):
        raise _damaged(f"{where}: the entries are larger than the file.")
    if zf.getinfo(_MANIFEST).file_size > _MAX_MANIFEST_BYTES:
        raise _damaged(f"{where}: the manifest is too large.")
    manifest = _parse_json(zf.read(_MANIFEST), f"{where}: {_MANIFEST}")
    if type(manifest) is not dict or manifest.get("format") != FORMAT:
        raise _damaged(f"{where} is not a {FORMAT} model file.")
    version = manifest.get("format_version")
    if type(version) is not int or version < 1:
        raise _damaged(f"{where}: invalid format_version {version!r}.")
    if version > FORMAT_VERSION:
        raise _damaged(
            f"{where} was written in format version {version} by sklearn-deeplight "
            f"{manifest.get('library_version')!r}; this version reads up to "
            f"{FORMAT_VERSION}: upgrade sklearn-deeplight."
        )
    listed = manifest.get("entries")
    if type(listed) is not list or not all(
        type(e) is dict
        and type(e.get("name")) is str
        and _ENTRY_RE.match(e["name"])
        and type(e.get("size")) is int
        and type(e.get("sha256")) is str
        for e in listed
    ):
        raise _damaged(f"{where}: the manifest's entry list is invalid.")
    expected = [e["name"] for e in listed]
    if sorted(expected) != sorted(n for n in names if n != _MANIFEST) or len(
        set(expected)
    ) != len(expected):
        raise _damaged(
            f"{where}: the entries in the file do not match the manifest (entries "
            "were added or removed)."
        )
    payload = hashlib.sha256()
    out: dict[str, bytes] = {}
    for e in listed:
        blob = zf.read(e["name"])
        if len(blob) != e["size"] or hashlib.sha256(blob).hexdigest() != e["sha256"]:
            raise _damaged(
                f"{where}: checksum mismatch in {e['name']}: the file was altered "
                "or damaged."
            )
        payload.update(blob)
        out[e["name"]] = blob
    if payload.hexdigest() != manifest.get("payload_sha256"):
        raise _damaged(f"{where}: payload checksum mismatch: the file was altered.")
    return manifest, out


def _reject_constant(name: str):
    raise ValueError(f"the JSON constant {name} is not allowed")


def _parse_json(blob: bytes, what: str) -> Any:
    try:
        return json.loads(blob.decode("utf-8"), parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise _damaged(f"{what} is not valid JSON: {exc}") from None


def load(path) -> Any:
    """Load a model saved by :func:`save`, never running code from the file.

    The file's structure and SHA-256 checksums are verified before anything
    is decoded; only trusted types (:data:`TRUSTED_TYPES`) are rebuilt, and
    each rebuilt object's structure is checked. The object is returned only
    when all of it loaded.

    Parameters
    ----------
    path : str or path-like
        A file written by :func:`save`.

    Returns
    -------
    obj : object
        The model.

    Raises
    ------
    ValueError
        If the file is not a model file, is truncated, damaged or altered
        (checksum mismatch), was written by a newer format version, or holds
        inconsistent data.
    TypeError
        If the file names a type that is not trusted (the message names it),
        or `path` is not a path.
    OSError
        If the file cannot be read (e.g. ``FileNotFoundError``).

    Warns
    -----
    UserWarning
        When the file was written by another version of sklearn-deeplight.

    See Also
    --------
    save : Write the file.

    Examples
    --------
    >>> import tempfile, pathlib, zipfile
    >>> from sklearn_deeplight import load, save
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = pathlib.Path(d) / "model.skdl"
    ...     save({"threshold": 0.25, "fields": ("site", "app")}, path)
    ...     print(load(path))
    ...     _ = path.write_bytes(path.read_bytes()[:-10])  # truncated
    ...     try:
    ...         load(path)
    ...     except ValueError as exc:
    ...         print("refused")
    {'threshold': 0.25, 'fields': ('site', 'app')}
    refused
    """
    path = _check_path(path)
    with open(path, "rb") as f:
        data = f.read()
    where = str(path)
    try:
        manifest, entries = _read_entries(data, where)
        tree = _parse_json(entries[_TREE], f"{where}: {_TREE}")
    except _DamagedFile as exc:
        raise ValueError(str(exc)) from None
    except Exception as exc:  # zipfile's many errors on damaged bytes
        raise ValueError(
            f"{where} is truncated or damaged ({type(exc).__name__}: {exc})."
        ) from None
    arrays = {int(name[7:13]): blob for name, blob in entries.items() if name != _TREE}
    written_by = manifest.get("library_version")
    if written_by != _versions()["library_version"]:
        warnings.warn(
            f"{where} was written by sklearn-deeplight {written_by!r}; this is "
            f"{_versions()['library_version']!r}. Check its predictions.",
            UserWarning,
            stacklevel=2,
        )
    try:
        obj = _Decoder(arrays).decode(tree)
    except _DamagedFile as exc:
        raise ValueError(f"{where}: {exc}") from None
    except RecursionError:
        raise ValueError(f"{where}: the object tree is nested too deep.") from None
    except TypeError as exc:
        if str(exc).startswith("load refuses"):
            raise TypeError(f"{where}: {exc}") from None
        raise ValueError(f"{where}: invalid content ({exc!r})") from None
    return obj
