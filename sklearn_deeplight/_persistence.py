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

:func:`load` checks the zip signature (the first four bytes: a log passed by
mistake is refused without being read), then the zip structure, the entry
list, every SHA-256 and the payload SHA-256 before it decodes anything, then
checks the structure of every rebuilt object (for the sparse predictor: the
field layout, the shapes of all layers and the bounds of every sparse index,
which its compiled kernels rely on). A truncated, damaged or altered file
raises a ``ValueError``; an untrusted type raises a ``TypeError`` naming it.
Nothing is half-loaded: the object is returned only when everything passed.

Memory
------
What a file makes :func:`load` allocate is derived from the sizes it
declares, each checked against its payload (an array's ``.npy`` header
against its bytes, the sparse predictor's compact embedding stores against
its field layout), and charged before anything is allocated. Past a ceiling
the file is refused with a ``ValueError``: by default
``max(LOAD_MEMORY_FLOOR, LOAD_MEMORY_PER_FILE_BYTE * file size)`` (128 MiB,
or 16 times the file's size), so that a small file cannot ask for gigabytes
(a 300 KiB file declaring an embedding table of 2**28 rows). A model whose
expanded tables are more than 16 times its file (a large, heavily pruned
embedding table) loads with ``load(path, max_memory=...)``, or with the
environment variable ``DEEPLIGHT_LOAD_MAX_MEMORY`` (bytes, or ``512M``,
``4G``), which also reaches the ``deeplight`` command.

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
import json
import os
import re
import sys
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from ._persist_checks import _Budget, _human, _MemoryCeiling
from ._persist_tree import (
    _CLASSES,
    TRUSTED_TYPES,
    _damaged,
    _DamagedFile,
    _Decoder,
    _Encoder,
    _resolve,
)

__all__ = [
    "FORMAT_VERSION",
    "LOAD_MEMORY_ENV",
    "LOAD_MEMORY_FLOOR",
    "LOAD_MEMORY_PER_FILE_BYTE",
    "TRUSTED_TYPES",
    "load",
    "save",
]

#: Name of the format in the manifest.
FORMAT = "sklearn-deeplight"
#: Version of the layout written by :func:`save`; :func:`load` reads it and
#: every older one.
FORMAT_VERSION = 1

_MANIFEST = "manifest.json"
_TREE = "tree.json"
_ENTRY_RE = re.compile(r"\A(?:tree\.json|arrays/[0-9]{6}\.npy)\Z")
_MAX_MANIFEST_BYTES = 1 << 20
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)
_ZIP_SIGNATURE = b"PK\x03\x04"

#: The least memory ceiling of :func:`load` (bytes), whatever the file's size.
LOAD_MEMORY_FLOOR = 128 << 20
#: :func:`load`'s default memory ceiling per byte of the file, when that is
#: above :data:`LOAD_MEMORY_FLOOR`.
LOAD_MEMORY_PER_FILE_BYTE = 16
#: Environment variable that replaces the default ceiling (bytes, ``512M``,
#: ``4G``); ``load(path, max_memory=...)`` replaces both.
LOAD_MEMORY_ENV = "DEEPLIGHT_LOAD_MAX_MEMORY"
#: Bytes a decoded JSON tree may hold per container, quote (two per string)
#: and comma (list item), charged from the tree's bytes: the parsed JSON and
#: the decoded copy of each container (measured: an empty list costs about
#: 130 bytes both ways, a string in a pandas string index about 150).
_JSON_CONTAINER_BYTES = 150
_JSON_STRING_BYTES = 64
_JSON_ITEM_BYTES = 48


# ----------------------------------------------------------------------------
# Files
# ----------------------------------------------------------------------------
def _versions() -> dict[str, str]:
    import sklearn

    return {
        "library_version": _library_version(),
        "sklearn_version": sklearn.__version__,
        "numpy_version": np.__version__,
    }


def _library_version() -> str:
    from . import __version__

    return __version__


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


def _json_bytes(blob: bytes) -> int:
    """Memory the decoded tree of a JSON text may take: its containers,
    strings (two quotes each) and list items, counted in its bytes."""
    containers = blob.count(b"[") + blob.count(b"{")
    return (
        len(blob)
        + _JSON_CONTAINER_BYTES * containers
        + _JSON_STRING_BYTES * blob.count(b'"')
        + _JSON_ITEM_BYTES * blob.count(b",")
    )


def _read_entries(
    f, file_size: int, where: str, budget: _Budget
) -> tuple[dict, dict[str, bytes]]:
    """Manifest and checked payload entries of an open model file."""
    zf = zipfile.ZipFile(f)
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
    if total > file_size:
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
    budget.charge(total, f"{where}: the payload ({len(listed)} entries)")
    payload = hashlib.sha256()
    out: dict[str, bytes] = {}
    for e in listed:
        if zf.getinfo(e["name"]).file_size != e["size"]:
            raise _damaged(
                f"{where}: checksum mismatch in {e['name']}: the file was altered "
                "or damaged."
            )
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


def _check_max_memory(max_memory: Any) -> None:
    if max_memory is None:
        return
    if isinstance(max_memory, bool) or not isinstance(max_memory, int | float):
        raise TypeError(
            f"max_memory must be a number of bytes or None, got "
            f"{type(max_memory).__name__}."
        )
    if not max_memory > 0:
        raise ValueError(f"max_memory must be a positive number, got {max_memory!r}.")


def _memory_ceiling(max_memory: float | None, file_size: int) -> tuple[float, str]:
    """The memory ceiling of a load and where it comes from."""
    if max_memory is not None:
        return max_memory, f"max_memory={max_memory!r}"
    env = os.environ.get(LOAD_MEMORY_ENV, "").strip()
    if env:
        from .datasets._ondisk_policy import _parse_bytes

        try:
            return _parse_bytes(env), f"{LOAD_MEMORY_ENV}={env}"
        except (ValueError, IndexError):
            raise ValueError(
                f"the environment variable {LOAD_MEMORY_ENV}={env!r} is not a size "
                "in bytes (e.g. 4294967296, 512M or 4G)"
            ) from None
    ceiling = max(LOAD_MEMORY_FLOOR, LOAD_MEMORY_PER_FILE_BYTE * file_size)
    return ceiling, (
        f"the default: {LOAD_MEMORY_PER_FILE_BYTE} times the file's "
        f"{_human(file_size)}, at least {_human(LOAD_MEMORY_FLOOR)}"
    )


def _reject_constant(name: str):
    raise ValueError(f"the JSON constant {name} is not allowed")


def _parse_json(blob: bytes, what: str) -> Any:
    try:
        return json.loads(blob.decode("utf-8"), parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise _damaged(f"{what} is not valid JSON: {exc}") from None


def load(path, *, max_memory: float | None = None) -> Any:
    """Load a model saved by :func:`save`, never running code from the file.

    The file's structure and SHA-256 checksums are verified before anything
    is decoded; only trusted types (:data:`TRUSTED_TYPES`) are rebuilt, and
    each rebuilt object's structure is checked. The object is returned only
    when all of it loaded.

    Parameters
    ----------
    path : str or path-like
        A file written by :func:`save`.
    max_memory : int, float or None, default=None
        Most bytes the file may make ``load`` allocate, counted from the
        sizes it declares before anything is allocated (``math.inf``: no
        ceiling). None: the environment variable ``DEEPLIGHT_LOAD_MAX_MEMORY``
        when set, else ``max(LOAD_MEMORY_FLOOR, LOAD_MEMORY_PER_FILE_BYTE *
        file size)``: 128 MiB, or 16 times the file's size.

    Returns
    -------
    obj : object
        The model.

    Raises
    ------
    ValueError
        If the file is not a model file, is truncated, damaged or altered
        (checksum mismatch), was written by a newer format version, holds
        inconsistent data, or would need more memory than `max_memory`.
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
    _check_max_memory(max_memory)
    where = str(path)
    with open(path, "rb") as f:
        head = f.read(len(_ZIP_SIGNATURE))
        if head != _ZIP_SIGNATURE:  # refused before the file is read
            raise ValueError(
                f"{where} is not a sklearn_deeplight model file (no zip signature)."
                + _describe_start(head)
            )
        file_size = os.fstat(f.fileno()).st_size
        limit, source = _memory_ceiling(max_memory, file_size)
        budget = _Budget(limit, source)
        f.seek(0)
        try:
            manifest, entries = _read_entries(f, file_size, where, budget)
            budget.charge(_json_bytes(entries[_TREE]), f"{where}: {_TREE}")
            tree = _parse_json(entries[_TREE], f"{where}: {_TREE}")
        except (_DamagedFile, _MemoryCeiling) as exc:
            raise ValueError(str(exc)) from None
        except Exception as exc:  # zipfile's many errors on damaged bytes
            raise ValueError(
                f"{where} is truncated or damaged ({type(exc).__name__}: {exc})."
            ) from None
    arrays = {int(name[7:13]): blob for name, blob in entries.items() if name != _TREE}
    written_by = manifest.get("library_version")
    if written_by != _library_version():
        warnings.warn(
            f"{where} was written by sklearn-deeplight {written_by!r}; this is "
            f"{_library_version()!r}. Check its predictions.",
            UserWarning,
            stacklevel=2,
        )
    try:
        obj = _Decoder(arrays, budget).decode(tree)
    except (_DamagedFile, _MemoryCeiling) as exc:
        raise ValueError(f"{where}: {exc}") from None
    except RecursionError:
        raise ValueError(f"{where}: the object tree is nested too deep.") from None
    except TypeError as exc:
        if str(exc).startswith("load refuses"):
            raise TypeError(f"{where}: {exc}") from None
        raise ValueError(f"{where}: invalid content ({exc!r})") from None
    # The file's bytes and tree are freed before the warm-up, not after it:
    # freeing them after it left a fresh process's first request up to
    # twice as slow (scratch timing).
    del entries, arrays, tree
    try:
        _warm_up(obj)
    except Exception as exc:  # the object passed its checks: never a crash here
        raise ValueError(
            f"{where}: the loaded model fails to predict ({exc!r})"
        ) from None
    return obj


def _warm_up(obj: Any) -> None:
    """Warm the sparse predictors and encoders of a loaded object (their
    numba kernels, the encoders' lookup tables), so that a fresh process's
    first prediction is not the one that loads them; pipelines and wrappers
    are searched. Only the classes whose modules are loaded are looked for:
    loading a RecordPredictor imports no scikit-learn."""
    modules = sys.modules
    scorer = modules.get("sklearn_deeplight._scorer")
    if scorer is not None and isinstance(obj, scorer.RecordPredictor):
        obj._warm_up()
        return
    sparse = modules.get("sklearn_deeplight._sparse")
    if sparse is not None and isinstance(obj, sparse.SparseCTRPredictor):
        obj._warm_up()
        return
    encoder = modules.get("sklearn_deeplight._encoder")
    if (
        encoder is not None
        and isinstance(obj, encoder.FieldEncoder)
        and "field_dims_" in obj.__dict__
    ):
        tables = obj._fast_tables()  # build its lookup tables now
        if tables is not None:
            tables.warm_up()
    pipeline = modules.get("sklearn.pipeline")
    frozen = modules.get("sklearn.frozen")
    if pipeline is not None and isinstance(obj, pipeline.Pipeline):
        for _, step in obj.steps:
            _warm_up(step)
    elif frozen is not None and isinstance(obj, frozen.FrozenEstimator):
        _warm_up(obj.estimator)
