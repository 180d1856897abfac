"""Export a fitted classifier to ONNX, for ONNX Runtime and other runtimes.

Needs the ``onnx`` extra: ``pip install "sklearn-deeplight[onnx]"`` (``onnx``
to write and check the file, ``onnxruntime`` to run it). The module imports
neither torch nor onnx: :func:`export_onnx` imports them when called and
raises an ``ImportError`` naming the extra when ``onnx`` is missing.

The exported graph
------------------
:func:`export_onnx` writes the estimator's torch module, in eval mode, with
its dense weights (a pruned weight is a stored zero: ONNX Runtime multiplies
by it; the sparse predictor is what skips it):

- inputs ``xi``, int64 of shape (batch, n_fields): the row of each field's
  feature in the concatenated embedding table, and ``xv``, float32 of shape
  (batch, n_fields): the field's value (1 for a categorical field);
- output ``probability``, float32 of shape (batch,): the probability of the
  positive class ``classes_[1]``, i.e. ``predict_proba(X)[:, 1]``. The graph
  computes it as ``1 / (1 + exp(-logit))`` rather than with ONNX's
  ``Sigmoid``, whose float32 kernel in ONNX Runtime has a fixed absolute
  error: click probabilities (often below 1%) would lose relative precision;
- the batch axis is dynamic, batch 1 included.

:func:`onnx_inputs` gives the two inputs of a field-indexed ``X`` (the
estimator's own validation: unseen, negative and missing codes go to the
field's out-of-vocabulary row). In a process without torch the fitted
predictor's ``est.to_sparse().index_input(X)`` gives the same arrays. Raw
columns go through the fitted :class:`~sklearn_deeplight.FieldEncoder` first.
Outside Python, ``xi`` is ``offsets[f] + code`` for a known code of a
categorical field ``f`` (``0 <= code < field_dims[f]``), ``offsets[f] +
field_dims[f]`` for any other code, and ``offsets[f]`` for a numeric field,
whose ``xv`` is the value; the file's metadata (``metadata_props``) holds
``field_dims``, ``offsets``, ``numeric_fields``, ``classes`` and the feature
names as JSON.

The exporter
------------
torch's TorchScript exporter (``torch.onnx.export(..., dynamo=False)``; it
needs no ``onnxscript``), traced on a batch of two rows so that
``_CTRModule``'s batch-1 path (which scores one row as two copies) is not in
the graph; ONNX Runtime then runs any batch size, 1 included. torch's newer
``torch.export``-based exporter (torch 2.13) writes the field-pair term of
FwFM and DeepFwFM as a Transpose feeding a MatMul by the 1-D pair vector,
which ONNX Runtime's Transpose-MatMul fusion (on at the default optimisation
level; seen with 1.19.2 and 1.32.0) computes wrongly; the TorchScript
exporter writes a Gather there. It is deprecated in torch 2.13 (the package
requires torch < 2.14).
"""

from __future__ import annotations

import inspect
import json
import numbers
import os
import warnings
from pathlib import Path

import numpy as np

__all__ = ["INPUT_NAMES", "OUTPUT_NAME", "export_onnx", "onnx_inputs"]

#: Names of the graph's inputs: table rows (int64) and field values (float32).
INPUT_NAMES = ("xi", "xv")
#: Name of the graph's output: the probability of ``classes_[1]``.
OUTPUT_NAME = "probability"
#: Lowest opset the models are exported and tested with.
MIN_OPSET = 13

_EXTRA = 'pip install "sklearn-deeplight[onnx]"'


def _import_onnx():
    try:
        import onnx
    except ImportError as exc:
        raise ImportError(
            f"sklearn_deeplight.onnx needs the onnx package: {_EXTRA} "
            "(onnxruntime, in the same extra, runs the exported file)."
        ) from exc
    return onnx


def _check_estimator(estimator, what: str):
    """The torch module of a fitted classifier of this library."""
    from sklearn.utils.validation import check_is_fitted

    from ._base import _BaseFieldClassifier

    if not isinstance(estimator, _BaseFieldClassifier):
        name = type(estimator).__name__
        if name == "SparseCTRPredictor":
            hint = (
                " A SparseCTRPredictor holds no torch module: export the classifier "
                "that est.to_sparse() was called on."
            )
        elif hasattr(estimator, "steps"):
            hint = (
                " Export the pipeline's classifier (pipeline[-1]); its other steps "
                "(e.g. a FieldEncoder) stay in Python or are reimplemented in the "
                "serving language."
            )
        else:
            hint = ""
        raise TypeError(
            f"{what} needs a fitted classifier of sklearn_deeplight (e.g. "
            f"DeepFwFMClassifier), got {name}.{hint}"
        )
    check_is_fitted(estimator)
    module = getattr(estimator, "module_", None)
    if module is None:
        raise ValueError(
            f"This {type(estimator).__name__} has no module_: fit it before {what}."
        )
    return module


def _check_opset(opset) -> int | None:
    if opset is None:
        return None
    if isinstance(opset, bool) or not isinstance(opset, numbers.Integral):
        raise TypeError(f"opset must be an int or None, got {opset!r}.")
    from torch.onnx import _constants

    top = getattr(_constants, "ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET", 17)
    if not MIN_OPSET <= int(opset) <= top:
        raise ValueError(
            f"opset must be between {MIN_OPSET} and {top} (torch "
            f"{_torch_version()}'s TorchScript exporter), got {opset}."
        )
    return int(opset)


def _torch_version() -> str:
    import torch

    return torch.__version__


def _check_path(path) -> Path:
    if not isinstance(path, str | os.PathLike):
        raise TypeError(
            f"path must be a str or os.PathLike, got {type(path).__name__}: the "
            "file is written to a temporary file beside it, then renamed over it."
        )
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a directory; give the file's path.")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"No such directory: {path.parent}")
    return path


def _export_bytes(
    module, n_fields: int, offsets, opset: int | None, shift: float = 0.0
) -> bytes:
    """The ONNX bytes of the probability ``1 / (1 + exp(-(module(xi, xv) +
    shift)))`` (torch's TorchScript exporter, dynamic batch axis); ``shift``
    is the estimator's ``log(negative_sampling_rate)``."""
    import io

    import torch

    class _Probability(torch.nn.Module):
        def __init__(self, module):
            super().__init__()
            self.module = module

        def forward(self, xi, xv):
            # Not torch.sigmoid: ONNX Runtime's float32 Sigmoid kernel has a
            # fixed absolute error, which small probabilities feel.
            logit = self.module(xi, xv)
            if shift:
                logit = logit + shift
            return 1.0 / (1.0 + torch.exp(-logit))

    param = next(module.parameters())
    # Two rows: a single row takes _CTRModule.forward's batch-1 branch.
    xi = torch.as_tensor(np.tile(np.asarray(offsets, np.int64), (2, 1)))
    xi = xi.to(param.device)
    xv = torch.ones((2, n_fields), dtype=param.dtype, device=param.device)
    modes = [(m, m.training) for m in module.modules()]
    kwargs = {}
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        kwargs["dynamo"] = False
    batch = {0: "batch"}
    buf = io.BytesIO()
    try:
        wrapper = _Probability(module).eval()
        with warnings.catch_warnings():
            # The TorchScript exporter is chosen on purpose (module docstring),
            # and the trace's Python booleans (the batch-1 test, layer widths)
            # are constants of the model at batch >= 2.
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
            with torch.no_grad():
                torch.onnx.export(
                    wrapper,
                    (xi, xv),
                    buf,
                    input_names=list(INPUT_NAMES),
                    output_names=[OUTPUT_NAME],
                    dynamic_axes={name: batch for name in (*INPUT_NAMES, OUTPUT_NAME)},
                    opset_version=opset,
                    do_constant_folding=True,
                    **kwargs,
                )
    finally:
        for m, training in modes:
            m.training = training
    return buf.getvalue()


def _metadata(estimator) -> dict[str, str]:
    from . import __version__

    meta = {
        "model": type(estimator).__name__,
        "version": __version__,
        "output": f"{OUTPUT_NAME}: P(y = classes[1]) of shape (batch,)",
        "classes": np.asarray(estimator.classes_).tolist(),
        "threshold": float(estimator.threshold),
        "field_dims": np.asarray(estimator.field_dims_).tolist(),
        "offsets": np.asarray(estimator.offsets_).tolist(),
        "numeric_fields": np.asarray(estimator.numeric_fields_).tolist(),
    }
    names = getattr(estimator, "feature_names_in_", None)
    if names is not None:
        meta["feature_names"] = [str(n) for n in names]
    return {
        f"sklearn_deeplight.{k}": v if isinstance(v, str) else json.dumps(v)
        for k, v in meta.items()
    }


def _write_atomic(path: Path, data: bytes) -> None:
    """``data`` to a temporary file beside ``path``, flushed, then renamed
    over it: a failure leaves a previous file intact."""
    tmp = path.parent / f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def export_onnx(estimator, path, *, opset=None) -> Path:
    """Write a fitted classifier as an ONNX model that outputs probabilities.

    Parameters
    ----------
    estimator : fitted classifier of this library
        Any model of the package (``DeepFwFMClassifier``,
        ``DCNv2Classifier``, ...), pruned or not; read, not modified.
    path : str or os.PathLike
        The file to write (replaced if it exists). The model is written to a
        temporary file beside it and renamed over it, so a failed export
        leaves a previous file intact.
    opset : int, default=None
        ONNX opset of the graph, from ``MIN_OPSET`` (13) to the highest of
        torch's TorchScript exporter (20 for torch 2.13); None: torch's
        default (20 for torch 2.13). A lower opset runs on older runtimes.

    Returns
    -------
    path : pathlib.Path
        The written file.

    Raises
    ------
    ImportError
        When ``onnx`` is not installed (the ``onnx`` extra).
    TypeError
        When ``estimator`` is not a classifier of this library (a
        ``SparseCTRPredictor`` or a pipeline included), or ``path`` or
        ``opset`` has the wrong type.
    sklearn.exceptions.NotFittedError
        When ``estimator`` is not fitted (a ``ValueError``).

    See Also
    --------
    onnx_inputs : The ``xi`` and ``xv`` inputs of a field-indexed ``X``.
    sklearn_deeplight.SparseCTRPredictor : The torch-free sparse predictor.

    Notes
    -----
    The graph has two inputs, ``xi`` (int64, table rows) and ``xv``
    (float32, field values), both of shape (batch, n_fields), and one output,
    ``probability`` (float32, shape (batch,)), the probability of
    ``classes_[1]``; ``predict`` is ``classes_[1]`` where it exceeds the
    estimator's ``threshold``. The weights are the dense tensors, pruned
    zeros included (ONNX has no sparse layers that runtimes execute as
    such). Models whose serialised graph exceeds 2 GiB (protobuf's limit)
    cannot be exported this way.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> import onnxruntime as ort
    >>> from sklearn_deeplight import FwFMClassifier
    >>> from sklearn_deeplight.onnx import export_onnx, onnx_inputs
    >>> rng = np.random.default_rng(0)
    >>> X = rng.integers(0, 5, size=(200, 3))
    >>> y = (X[:, 0] > 2).astype(int)
    >>> est = FwFMClassifier(embedding_dim=4, max_epochs=2, verbose=0).fit(X, y)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = export_onnx(est, Path(tmp) / "fwfm.onnx")
    ...     session = ort.InferenceSession(str(path))
    >>> (proba,) = session.run(None, onnx_inputs(est, X[:4]))
    >>> bool(np.allclose(proba, est.predict_proba(X[:4])[:, 1], rtol=1e-5))
    True
    """
    onnx = _import_onnx()
    module = _check_estimator(estimator, "export_onnx")
    path = _check_path(path)
    opset = _check_opset(opset)
    rate = getattr(estimator, "negative_sampling_rate", None)
    shift = 0.0 if rate is None or rate == 1 else float(np.log(rate))
    data = _export_bytes(
        module, int(module.n_fields), np.asarray(estimator.offsets_), opset, shift
    )
    model = onnx.load_from_string(data)
    model.doc_string = (
        f"{type(estimator).__name__} exported by sklearn_deeplight.onnx.export_onnx. "
        f"Inputs: {INPUT_NAMES[0]} int64 (batch, n_fields) embedding-table rows, "
        f"{INPUT_NAMES[1]} float32 (batch, n_fields) field values. Output: "
        f"{OUTPUT_NAME} float32 (batch,), P(y = classes[1])."
    )
    onnx.helper.set_model_props(model, _metadata(estimator))
    onnx.checker.check_model(model)
    _write_atomic(path, model.SerializeToString())
    return path


def onnx_inputs(estimator, X) -> dict[str, np.ndarray]:
    """The inputs of an exported model for a field-indexed ``X``.

    Parameters
    ----------
    estimator : fitted classifier of this library, or SparseCTRPredictor
        The exported classifier, or the predictor ``est.to_sparse()`` made
        from it (torch-free; the same arrays).
    X : array-like or DataFrame of shape (n_samples, n_fields)
        Field-indexed input, validated as ``predict_proba`` does.

    Returns
    -------
    inputs : dict of str to ndarray
        ``{"xi": int64 (n_samples, n_fields), "xv": float32 (n_samples,
        n_fields)}``, for ``InferenceSession.run(None, inputs)``.

    See Also
    --------
    export_onnx : Write the model these inputs are for.
    sklearn_deeplight.SparseCTRPredictor.index_input : The same arrays,
        without torch.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_deeplight import LRClassifier
    >>> from sklearn_deeplight.onnx import onnx_inputs
    >>> X = np.array([[0, 1], [1, 0], [1, 1], [0, 0]])
    >>> est = LRClassifier(max_epochs=1, validation_fraction=None, verbose=0)
    >>> est = est.fit(X, [0, 1, 1, 0])
    >>> inputs = onnx_inputs(est, [[1, 7]])  # 7: unseen, the OOV row
    >>> inputs["xi"].tolist(), inputs["xv"].dtype.name
    ([[1, 5]], 'float32')
    """
    index_input = getattr(estimator, "index_input", None)
    if type(estimator).__name__ == "SparseCTRPredictor" and callable(index_input):
        xi, xv = index_input(X)
    else:
        _check_estimator(estimator, "onnx_inputs")
        dataset = estimator._predict_dataset(X)
        xi, xv = dataset.xi.numpy(), dataset.xv.numpy()
    return {
        INPUT_NAMES[0]: np.ascontiguousarray(xi, dtype=np.int64),
        INPUT_NAMES[1]: np.ascontiguousarray(xv, dtype=np.float32),
    }
