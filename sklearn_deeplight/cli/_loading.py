"""Reading a saved model for ``deeplight predict`` and ``deeplight bench``.

A file in the safe format is read with :func:`sklearn_deeplight.load`; a
pickle or joblib file only with ``--trust-pickle``. Torch-free.
"""

from __future__ import annotations

from pathlib import Path

#: How a pickle or joblib file starts: a pickle of protocol 2 or later, or
#: joblib's compressed files (zlib, gzip, bz2, xz, lzma, lz4).
_PICKLE_STARTS = (
    b"\x80",
    b"x\x01",
    b"x\x5e",
    b"x\x9c",
    b"x\xda",
    b"\x1f\x8b",
    b"BZh",
    b"\xfd7zXZ",
    b"\x5d\x00\x00",
    b"\x04\x22\x4d\x18",
)


def _load_model(path: Path, trust_pickle: bool = False):
    """A saved model (anything with ``predict_proba``); ValueError otherwise.

    A file in the safe format (:func:`sklearn_deeplight.save`) is read with
    :func:`sklearn_deeplight.load`, which runs no code from the file. Any
    other file is unpickled with ``joblib.load`` only when ``trust_pickle``
    is true, since unpickling runs whatever code the file names; without it
    the ValueError names the file and ``--trust-pickle``.
    """
    with open(path, "rb") as f:
        head = f.read(8)
    if head.startswith(b"PK\x03\x04"):
        from .._persistence import load

        try:
            model = load(path)
        except (ValueError, TypeError) as exc:
            why = str(exc).removeprefix(f"{path}: ")
            raise ValueError(
                f"{path}: cannot load a model from this file: {why}"
            ) from None
    elif not trust_pickle:
        if head.startswith(_PICKLE_STARTS):
            raise ValueError(
                f"{path}: cannot load a model from this file without --trust-pickle: "
                "it is a pickle (joblib) file, and loading one runs any code stored "
                "in it. Pass --trust-pickle only if you trust where the file came "
                "from; 'deeplight train' saves in the safe format, which needs no "
                "flag."
            )
        raise ValueError(
            f"{path}: cannot load a model from this file: it is not a model file "
            "of 'deeplight train' (sklearn_deeplight.save format); a pickle or "
            "joblib model needs --trust-pickle"
        )
    else:
        import joblib

        try:
            model = joblib.load(path)
        except Exception as exc:  # pickle raises many kinds on a foreign file
            raise ValueError(
                f"{path}: cannot load a model from this file ({type(exc).__name__}: "
                f"{exc})"
            ) from exc
    if not hasattr(model, "predict_proba"):
        raise ValueError(
            f"{path}: holds a {type(model).__name__}, not a model with "
            "predict_proba (save one with 'deeplight train')"
        )
    return model


def _check_columns(model, X, path: Path, fmt: str) -> None:
    """ValueError when the columns of ``X`` are not those ``model`` was fit on."""
    names = getattr(model, "feature_names_in_", None)
    if names is None:
        return
    names = [str(n) for n in names]
    got = [str(c) for c in X.columns]
    if got != names:
        missing = [n for n in names if n not in got][:5]
        extra = [c for c in got if c not in names][:5]
        raise ValueError(
            f"{path} read as {fmt} has columns that differ from those the model "
            f"was trained on (missing: {missing}, unexpected: {extra}); pass the "
            "--format (and --label) used for training"
        )
