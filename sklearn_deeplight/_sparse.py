"""Torch-free sparse predictor of a fitted (pruned) CTR model.

:class:`SparseCTRPredictor` is what ``est.to_sparse()`` returns: a fitted
scikit-learn classifier that computes the same ``predict_proba`` as the dense
estimator from the surviving weights only. Neither this module nor anything it
imports at module level imports torch: the predictor is loaded and served
where torch is not installed. Weights are read from the torch module once, in
:meth:`SparseCTRPredictor.from_estimator`, through the private converter
:mod:`sklearn_deeplight._export`.

Storage
-------
- DNN and CIN layers: ``scipy.sparse.csr_array`` (batch normalisation folded
  in); the field-pair matrix R: the list of surviving pairs and their weights
  (a pruned pair costs nothing at predict time).
- Embeddings: in memory a dense float32 gather table (the fastest layout to
  gather from); in the saved predictor (pickle / joblib) a bitmask of the
  nonzero entries (zlib-compressed) plus the packed nonzero values, so that the
  saved size shrinks with embedding sparsity. ``dtype="float16"`` stores the
  values in half precision (computation stays float32).

Engines
-------
``engine="numba"`` runs fused compiled kernels (:mod:`sklearn_deeplight._kernels`:
gather, linear, pairs, DNN and CIN in one pass); ``engine="scipy"`` is a
numpy/scipy implementation of the same arithmetic, the fallback when numba is
not installed; ``"auto"`` picks numba when it can be imported.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from . import _runtime
from ._runtime import RUNTIME as _RUNTIME
from ._runtime import SCRATCH as _SCRATCH  # noqa: F401 - the tests read it
from ._runtime import VALUE_DTYPES, _usual_n_jobs, check_params
from ._runtime import compact as _compact
from ._runtime import expand as _expand
from ._runtime import scratch as _scratch
from ._validation import check_field_matrix, check_logits_are_finite, global_index

__all__ = ["SparseCTRPredictor"]

_VALUE_DTYPES = VALUE_DTYPES
#: Samples per block of the scipy engine (bounds its temporaries).
_SCIPY_BLOCK = 2048
_FLOAT16_MAX = float(np.finfo(np.float16).max)
_FLOAT32_MAX = float(np.finfo(np.float32).max)

_kernels_module: Any = None
#: The kernels' MIN_TILED_BATCH once they are loaded (the fused path needs them).
_MIN_TILED_BATCH = 0


def _load_kernels():
    """The numba kernels module, or None when numba cannot be imported."""
    global _kernels_module, _MIN_TILED_BATCH
    if _kernels_module is None:
        kernels = _runtime.load_kernels()
        if kernels is not None:
            _MIN_TILED_BATCH = kernels.MIN_TILED_BATCH
            _kernels_module = kernels
    return _kernels_module


def _value_dtype(dtype) -> str:
    """Normalise the ``dtype`` argument of ``from_estimator`` to a name."""
    try:
        name = np.dtype(dtype).name
    except TypeError:
        name = None
    if name not in _VALUE_DTYPES:
        raise ValueError(
            f"dtype must be float32 or float16 (the stored embedding values), got "
            f"{dtype!r}."
        )
    return name


def _quantize(values: np.ndarray, dtype: str, what: str) -> np.ndarray:
    """float32 copy of ``values``, rounded through float16 when asked."""
    out = np.asarray(values, dtype=np.float32)
    if dtype == "float16":
        big = np.abs(out) > _FLOAT16_MAX
        if big.any():
            raise ValueError(
                f"{what} holds {out[big].flat[0]}, beyond the float16 range "
                f"(+-{_FLOAT16_MAX}): use dtype='float32'."
            )
        out = out.astype(np.float16).astype(np.float32)
    return out


#: dtypes the fast input path (the numba kernels' index_rows, the scipy
#: engine's _fast_codes) computes with; _normalise_dtype converts the others.
_FAST_DTYPES = (np.dtype(np.int64), np.dtype(np.float32), np.dtype(np.float64))
_INT64, _FLOAT32, _FLOAT64 = _FAST_DTYPES
#: dtypes of the fused predict_proba kernels' input matrix.
_FUSED_DTYPES = (_INT64, _FLOAT64)
_INT64_MAX = np.iinfo(np.int64).max


def _normalise_dtype(arr: np.ndarray) -> np.ndarray | None:
    """``arr`` as int64, float32 or float64 (a copy only when needed), or
    None for values only the general path handles (uint64 beyond int64)."""
    dtype = arr.dtype
    if dtype is _FLOAT64 or dtype is _INT64 or dtype in _FAST_DTYPES:
        return arr
    if dtype.kind in "iu":
        if dtype == np.uint64 and arr.size and arr.max() > _INT64_MAX:
            return None  # the general path names the code
        return arr.astype(np.int64)
    # float16, longdouble: read as float64, as check_field_matrix does
    with np.errstate(over="ignore"):
        return arr.astype(np.float64)


def _store_nbytes(store: dict[str, Any]) -> int:
    return len(store["mask"]) + store["values"].nbytes


def _csr_nbytes(m: sp.csr_array) -> int:
    return m.data.nbytes + m.indices.nbytes + m.indptr.nbytes


class SparseCTRPredictor(ClassifierMixin, BaseEstimator):
    """Torch-free predictor of a fitted, possibly pruned, field-aware CTR model.

    Made from a fitted estimator by ``est.to_sparse()`` or
    :meth:`from_estimator`, never trained: :meth:`fit` raises. It predicts
    what the estimator predicts (normwise relative error of ``predict_proba``
    below 1e-5) from the surviving weights only: pruned DNN weights, field
    pairs and embedding entries cost nothing. It validates input exactly as
    the estimator does (the same input contract, out-of-vocabulary rows for
    unseen, negative or missing codes, the same errors).

    Parameters
    ----------
    engine : {"auto", "numba", "scipy"}, default="auto"
        ``"numba"``: fused compiled kernels (compiled on first use and cached
        on disk; a per-sample kernel for batches under 8 samples, a tiled one
        above). ``"scipy"``: numpy/scipy arithmetic, slower, no compiler.
        ``"auto"``: numba when it can be imported, else scipy.
    threshold : float, default=0.5
        :meth:`predict` returns ``classes_[1]`` where its probability is above
        ``threshold``. ``from_estimator`` copies the estimator's.
    n_jobs : int or None, default=None
        Threads of the numba engine for large batches (at least 512 samples
        per thread). None or 1 computes in the calling thread; the kernels
        release the GIL, so concurrent calls from several Python threads also
        run in parallel. -1 uses one thread per CPU. The scipy engine ignores
        it.

    Attributes
    ----------
    classes_ : ndarray of shape (2,)
        The two labels, in the order of ``predict_proba``'s columns.
    n_features_in_ : int
        Number of fields (columns of ``X``).
    feature_names_in_ : ndarray of str
        Column names, when the estimator was fitted on a DataFrame.
    numeric_fields_, field_dims_, offsets_ : ndarray of int64
        The estimator's field layout (see the estimators).
    embedding_dim_ : int
        Embedding size ``k`` (0 for logistic regression).
    embedding_ : ndarray of float32 of shape (n_rows, embedding_dim_)
        The embedding table (read-only view of the gather table).
    linear_term_ : {"scalar", "feature_vector", "field_vector"} or None
        First-order term, with ``linear_`` its weights: shape (n_rows,),
        (n_rows, k) or (n_fields, k). At predict time it is folded into one
        weight per table row.
    interaction_ : {"fm", "fwfm"} or None
        Second-order term.
    field_pairs_ : ndarray of int64 of shape (n_pairs, 2)
        The field pairs (i < j) whose weight in R survived pruning.
    pair_weights_ : ndarray of float32 of shape (n_pairs,)
        Their weights ``R[i, j]``.
    dnn_input_ : {"concat", "bi"} or None
        Input of the DNN: concatenated field embeddings, or NFM's
        bi-interaction vector.
    dnn_layers_ : list of scipy.sparse.csr_array of float32
        Hidden layers (out, in), eval-mode batch normalisation folded in;
        ``dnn_biases_`` their biases; ``dnn_out_`` the output weights.
    cin_layers_ : list of scipy.sparse.csr_array or None
        xDeepFM's CIN layers (maps_out, maps_in * n_fields), with
        ``cin_biases_``, ``cin_keep_`` (maps sent to the output per layer) and
        ``cin_out_``.
    bias_ : float
        The global bias.
    value_dtype_ : {"float32", "float16"}
        Precision of the stored embedding values.
    n_params_ : dict of str to int
        Stored nonzero parameters per component (``embedding``, ``linear``,
        ``field_pairs``, ``dnn``, ``cin``, ``bias``), biases included.
    nbytes_ : int
        Bytes of the stored parameters as saved (compact embeddings, CSR
        layers, pairs, biases, the field layout arrays); the saved file adds
        the pickle's framing. In memory the embedding table is expanded to a
        dense float32 gather table of ``n_rows * (embedding_dim_ + 1) * 4``
        bytes.

    See Also
    --------
    sklearn.frozen.FrozenEstimator : Use the predictor where ``fit`` is
        called (``cross_val_score``, calibration).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_deeplight import DeepFwFMClassifier
    >>> rng = np.random.RandomState(0)
    >>> X = rng.randint(0, 20, size=(300, 5))
    >>> y = rng.randint(0, 2, size=300)
    >>> est = DeepFwFMClassifier(embedding_dim=4, hidden_units=(8, 8),
    ...                          max_epochs=1, random_state=0).fit(X, y)
    >>> pred = est.to_sparse(engine="scipy")
    >>> pred
    SparseCTRPredictor(engine='scipy')
    >>> bool(np.allclose(pred.predict_proba(X), est.predict_proba(X), atol=1e-6))
    True
    >>> sorted(pred.n_params_)
    ['bias', 'cin', 'dnn', 'embedding', 'field_pairs', 'linear']
    """

    def __init__(
        self, engine: str = "auto", threshold: float = 0.5, n_jobs: int | None = None
    ):
        self.engine = engine
        self.threshold = threshold
        self.n_jobs = n_jobs

    # ------------------------------------------------------------------
    # Construction
    # ------------------------------------------------------------------
    @classmethod
    def from_estimator(
        cls,
        estimator,
        *,
        engine: str = "auto",
        dtype="float32",
        threshold: float | None = None,
        n_jobs: int | None = None,
    ) -> SparseCTRPredictor:
        """Build the predictor from a fitted estimator of this library.

        Parameters
        ----------
        estimator : fitted classifier
            One of the seven classifiers (or any fitted estimator with the
            same fitted attributes and module parameter names).
        engine : {"auto", "numba", "scipy"}, default="auto"
            See the class parameters.
        dtype : {"float32", "float16"} or numpy dtype, default="float32"
            Precision of the stored embedding values (and of per-row linear
            weights). float16 halves the saved size of the values; arithmetic
            stays float32, so the predictions differ from the estimator's by
            the rounding of the weights (logits about 2e-4 relative at the
            paper's shapes, see ``benchmarks/sparse_latency.py``). Values
            beyond +-65504 raise ValueError.
        threshold : float or None, default=None
            Decision threshold of :meth:`predict`; None copies the
            estimator's ``threshold`` (0.5 when it has none).
        n_jobs : int or None, default=None
            See the class parameters.

        Returns
        -------
        predictor : SparseCTRPredictor
            The fitted predictor.

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn_deeplight import FwFMClassifier, SparseCTRPredictor
        >>> rng = np.random.RandomState(0)
        >>> X = rng.randint(0, 50, size=(400, 3))
        >>> y = rng.randint(0, 2, size=400)
        >>> est = FwFMClassifier(embedding_dim=8, max_epochs=1, random_state=0)
        >>> est = est.fit(X, y)
        >>> p32 = SparseCTRPredictor.from_estimator(est)
        >>> p16 = SparseCTRPredictor.from_estimator(est, dtype="float16")
        >>> bool(p16.nbytes_ < p32.nbytes_)
        True
        >>> err = np.abs(p16.predict_proba(X) - p32.predict_proba(X)).max()
        >>> bool(err < 1e-3)
        True
        """
        check_is_fitted(estimator)
        for attr in ("module_", "field_dims_", "offsets_", "classes_"):
            if not hasattr(estimator, attr):
                raise TypeError(
                    f"{type(estimator).__name__} has no {attr}: from_estimator "
                    "needs a fitted classifier of sklearn_deeplight."
                )
        if threshold is None:
            threshold = getattr(estimator, "threshold", 0.5)
        value_dtype = _value_dtype(dtype)
        self = cls(engine=engine, threshold=threshold, n_jobs=n_jobs)

        from ._export import export_spec

        spec = export_spec(estimator)
        self.classes_ = np.array(estimator.classes_, copy=True)
        self.n_features_in_ = int(estimator.n_features_in_)
        if hasattr(estimator, "feature_names_in_"):
            self.feature_names_in_ = np.array(estimator.feature_names_in_, copy=True)
        if spec.layout.n_fields != self.n_features_in_:
            raise ValueError(
                f"The module has {spec.layout.n_fields} fields but the estimator "
                f"was fitted on {self.n_features_in_} columns."
            )
        emb = (
            np.zeros((spec.layout.n_rows, 0), np.float32)
            if spec.k == 0
            else _quantize(spec.embedding, value_dtype, "embedding.weight")
        )
        spec.embedding = emb
        linear = spec.block("linear")
        if linear is not None:
            if linear.form == "field_vector":
                linear.weights_ = np.asarray(linear.weights_, dtype=np.float32)
            else:
                linear.weights_ = _quantize(
                    linear.weights_, value_dtype, "linear.weight"
                )
        self.value_dtype_ = value_dtype
        self.__dict__.update(spec.attributes())
        self._build_runtime(emb)
        self.n_params_ = self._spec.n_params()
        self.nbytes_ = self._saved_nbytes()
        return self

    def _build_runtime(self, emb: np.ndarray) -> None:
        """Rebuild the spec and the gather table (embeddings + folded linear
        weight per row) from the fitted attributes."""
        self.__dict__.update(_runtime.build_runtime(self.__dict__, emb))

    def _saved_nbytes(self) -> int:
        state = self._compact_state()
        total = 0
        for key, value in state.items():
            if key.startswith("_compact"):
                total += 0 if value is None else _store_nbytes(value)
            elif isinstance(value, np.ndarray) and key not in (
                "classes_",
                "feature_names_in_",
            ):
                total += value.nbytes
            elif isinstance(value, list):
                for item in value:
                    if sp.issparse(item):
                        total += _csr_nbytes(item)
                    elif isinstance(item, np.ndarray):
                        total += item.nbytes
        return int(total + 4)  # + the float32 bias

    def _warm_up(self) -> None:
        """Load (or compile) the numba kernels and pack the parameters now.

        :func:`sklearn_deeplight.load` calls it on every predictor it returns,
        so that the first prediction of a fresh serving process costs about
        what a warm one does: numba loads compiled kernels from its cache on
        their first call, per kernel. Scores one dummy row with the per-sample
        kernel and one tile with the tiled kernel, from indexed rows and from
        int64 and float64 field matrices (the fused paths of
        ``predict_proba``); a no-op for the scipy engine or without numba.
        """
        if self.engine == "scipy" or "_table" not in self.__dict__:
            return
        kernels = _load_kernels()
        if kernels is None:
            return
        n = self.n_features_in_
        for rows in (1, kernels.MIN_TILED_BATCH):
            xi = np.repeat(self.offsets_[None, :], rows, axis=0)  # each field's row 0
            xv = np.ones((rows, n), dtype=np.float32)
            self._logits_numba(kernels, self._table, xi, xv)
        packed = self._get_packed(kernels)
        layout = (self._numeric_mask, self.field_dims_, self.offsets_)
        for dtype in (np.int64, np.float64):  # the input dtypes the fast path sees
            codes = np.zeros((1, n), dtype=dtype)
            kernels.index_rows(codes, *layout)
            kernels.proba_small(codes, self._table, *packed)
            tile = np.repeat(codes, kernels.MIN_TILED_BATCH, 0)
            kernels.proba_tiled(
                tile, self._table, *packed, _scratch(kernels, packed[3])
            )

    # ------------------------------------------------------------------
    # Pickling: compact embeddings on disk, gather table in memory
    # ------------------------------------------------------------------
    def _compact_state(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        table = state.pop("_table")
        for key in _RUNTIME:
            state.pop(key, None)
        k = self.embedding_dim_
        state["_compact_embedding"] = _compact(table[:, :k], self.value_dtype_)
        if self.linear_term_ in ("scalar", "feature_vector"):
            state["_compact_linear"] = _compact(state.pop("linear_"), self.value_dtype_)
        return state

    def __getstate__(self):
        if "_table" not in self.__dict__:  # unfitted
            return super().__getstate__()
        state = self._compact_state()
        state["_sklearn_version"] = super().__getstate__().get("_sklearn_version")
        return state

    def __setstate__(self, state):
        state = dict(state)
        compact_emb = state.pop("_compact_embedding", None)
        compact_lin = state.pop("_compact_linear", None)
        if compact_lin is not None:
            state["linear_"] = _expand(compact_lin)
        super().__setstate__(state)
        if compact_emb is not None:
            self._build_runtime(_expand(compact_emb))

    # ------------------------------------------------------------------
    # scikit-learn protocol
    # ------------------------------------------------------------------
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.categorical = True
        tags.input_tags.allow_nan = True
        tags.classifier_tags.multi_class = False
        return tags

    @property
    def embedding_(self) -> np.ndarray:
        """The embedding table (n_rows, embedding_dim_), a read-only view."""
        try:
            table = self._table
        except AttributeError:
            raise AttributeError(
                f"This {type(self).__name__} instance is not fitted: build it with "
                "est.to_sparse() or SparseCTRPredictor.from_estimator(est)."
            ) from None
        return table[:, : self.embedding_dim_]

    def fit(self, X, y=None, **fit_params):
        """Not supported: the predictor is made from a fitted model.

        Parameters
        ----------
        X, y : ignored
            Not used.
        **fit_params : dict
            Not used.

        Raises
        ------
        TypeError
            Always: fit the dense estimator and call its ``to_sparse()``, or
            wrap this predictor in :class:`sklearn.frozen.FrozenEstimator`
            where ``fit`` is called (cross-validation, calibration).
        """
        raise TypeError(
            f"{type(self).__name__} is built from a fitted model and cannot be "
            "trained: fit the dense estimator (e.g. DeepFwFMClassifier) and call "
            "its to_sparse(), or wrap this predictor in "
            "sklearn.frozen.FrozenEstimator to score it where fit is called "
            "(cross_val_score, calibration)."
        )

    # ------------------------------------------------------------------
    # Prediction
    # ------------------------------------------------------------------
    def index_input(self, X) -> tuple[np.ndarray, np.ndarray]:
        """Validate ``X`` and map it to table rows and field values.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_fields)
            Field-indexed input (the estimator's input contract).

        Returns
        -------
        xi : ndarray of int64 of shape (n_samples, n_fields)
            Row of each field's embedding; unseen, negative or missing codes
            map to the field's out-of-vocabulary row.
        xv : ndarray of float32 of shape (n_samples, n_fields)
            Field values (1 for categorical fields).
        """
        if "_table" not in self.__dict__:
            check_is_fitted(self, "_table")
        arr = self._clean_matrix(X)
        if arr is not None:
            if self.engine != "scipy":
                kernels = _load_kernels()
                if kernels is not None:
                    xi, xv, ok = kernels.index_rows(
                        arr, self._numeric_mask, self.field_dims_, self.offsets_
                    )
                    if ok:
                        return xi, xv
            fast = self._fast_codes(arr)
            if fast is not None:
                codes, values = fast
                xi = global_index(codes, self.field_dims_, self.offsets_)
                return xi, values.astype(np.float32)
        codes, values = check_field_matrix(self, X, reset=False)
        xi = global_index(codes, self.field_dims_, self.offsets_)
        return xi, values.astype(np.float32)

    def _clean_matrix(self, X) -> np.ndarray | None:
        """``X`` as a 2-D int64, float32 or float64 ndarray when the fast path
        applies, else None.

        Applies to an ndarray (predictor fitted without feature names) or a
        DataFrame of numpy int/float columns named exactly as at fit: the
        cases where :func:`check_field_matrix` neither warns nor needs a
        per-column conversion. The one place where both engines' input dtypes
        are normalised (:func:`_normalise_dtype`): other integer widths become
        int64 and other float widths (float16, longdouble) float64, as
        :func:`check_field_matrix` reads them.
        """
        names = self.__dict__.get("feature_names_in_")
        if type(X) is np.ndarray:
            if names is not None:
                return None
            arr = X
        elif names is not None and hasattr(X, "columns") and hasattr(X, "to_numpy"):
            columns = X.columns
            if len(columns) != len(names) or any(
                type(c) is not str or c != n for c, n in zip(columns, names)
            ):
                return None
            if not all(isinstance(d, np.dtype) and d.kind in "iuf" for d in X.dtypes):
                return None  # extension dtypes (nullable ints...) take the long way
            arr = X.to_numpy()
        else:
            return None
        if (
            arr.ndim != 2
            or arr.shape[0] == 0
            or arr.shape[1] != self.n_features_in_
            or arr.dtype.kind not in "iuf"
        ):
            return None
        return _normalise_dtype(arr)

    def _fast_codes(self, arr: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """Vectorised :func:`check_field_matrix` of a clean matrix, else None.

        None for any value the general path would reject, so that it raises.
        """
        numeric = self._numeric_mask
        values = np.ones(arr.shape, dtype=np.float64)
        if arr.dtype.kind == "i":
            codes = arr.astype(np.int64)
            if numeric.any():
                values[:, numeric] = arr[:, numeric]
                codes[:, numeric] = 0
            return codes, values
        with np.errstate(invalid="ignore"):
            num = arr[:, numeric]
            if not (np.abs(num) <= _FLOAT32_MAX).all():  # also NaN and inf
                return None
            missing = np.isnan(arr)
            ok = missing | ((np.floor(arr) == arr) & (np.abs(arr) <= 2.0**62))
            ok[:, numeric] = True
            if not ok.all():
                return None
            filled = np.where(missing, -1.0, arr)
        filled[:, numeric] = 0.0
        values[:, numeric] = num
        return filled.astype(np.int64), values

    def decision_function_indexed(self, xi, xv) -> np.ndarray:
        """Logits from already indexed input (see :meth:`index_input`).

        The lean serving path: no column-wise validation, only shape, dtype
        and row-range checks, and no check of the logits (a numeric value so
        large that the float32 products overflow gives a NaN or infinite logit
        here, where :meth:`decision_function` raises a ValueError).

        Parameters
        ----------
        xi : array-like of int of shape (n_samples, n_fields)
            Rows of the embedding table, in ``[0, n_rows)``.
        xv : array-like of float of shape (n_samples, n_fields)
            Field values.

        Returns
        -------
        logits : ndarray of float32 of shape (n_samples,)
            Logit of ``classes_[1]``, in the kernels' precision.
        """
        table = self.__dict__.get("_table")
        if table is None:
            check_is_fitted(self, "classes_")
            table = self._table
        # every prediction path comes here: the one check of the parameters
        check_params(self.engine, self.threshold, self.n_jobs)
        if not (
            type(xi) is np.ndarray
            and xi.dtype == np.int64
            and xi.ndim == 2
            and xi.flags.c_contiguous
        ):
            xi = self._check_index(xi)
        if not (
            type(xv) is np.ndarray
            and xv.dtype == np.float32
            and xv.flags.c_contiguous
            and xv.shape == xi.shape
        ):
            xv = self._check_values(xv, xi.shape)
        if xi.shape[1] != self.n_features_in_:
            raise ValueError(
                f"xi has {xi.shape[1]} columns, but {type(self).__name__} expects "
                f"{self.n_features_in_} fields."
            )
        engine = self.engine
        if engine == "auto" or engine == "numba":
            kernels = _load_kernels()
            if kernels is not None:
                return self._logits_numba(kernels, table, xi, xv)
            if engine == "numba":
                raise ImportError(
                    "engine='numba' needs numba, which could not be imported "
                    f"({_runtime.kernels_error}); use engine='scipy' or 'auto'."
                )
        if xi.size and (xi.min() < 0 or xi.max() >= table.shape[0]):
            raise ValueError(self._bad_rows_message())
        return self._logits_scipy(table, xi, xv)

    def _check_index(self, xi) -> np.ndarray:
        arr = np.asarray(xi)
        if arr.ndim != 2:
            raise ValueError(f"xi must be 2-D (n_samples, n_fields), got {arr.ndim}D.")
        if arr.dtype.kind not in "iu":
            raise TypeError(f"xi must hold integer table rows, got dtype {arr.dtype}.")
        if arr.dtype.kind == "u" and arr.size and arr.max() > np.iinfo(np.int64).max:
            raise ValueError(self._bad_rows_message())
        return np.ascontiguousarray(arr, dtype=np.int64)

    @staticmethod
    def _check_values(xv, shape) -> np.ndarray:
        arr = np.asarray(xv)
        if arr.shape != shape:
            raise ValueError(f"xv has shape {arr.shape}, xi {shape}: they must match.")
        if arr.dtype.kind not in "iufb":
            raise TypeError(f"xv must hold numbers, got dtype {arr.dtype}.")
        return np.ascontiguousarray(arr, dtype=np.float32)

    def _bad_rows_message(self) -> str:
        return (
            f"xi holds rows outside [0, {self._table.shape[0]}), the rows of the "
            "embedding table: map codes with index_input(X)."
        )

    def _get_packed(self, kernels):
        return _runtime.get_packed(self, kernels)

    def _logits_numba(self, kernels, table, xi, xv) -> np.ndarray:
        # n_jobs: checked by decision_function_indexed
        out, bad = _runtime.logits(self, kernels, xi, xv, self.n_jobs)
        if bad:
            raise ValueError(self._bad_rows_message())
        return out

    def _logits_scipy(self, table, xi, xv) -> np.ndarray:
        n = xi.shape[0]
        if n <= _SCIPY_BLOCK:
            return self._spec.logits(table, xi, xv)
        out = np.empty(n, dtype=np.float32)
        for start in range(0, n, _SCIPY_BLOCK):
            stop = min(start + _SCIPY_BLOCK, n)
            out[start:stop] = self._spec.logits(table, xi[start:stop], xv[start:stop])
        return out

    def decision_function(self, X) -> np.ndarray:
        """Logit of the positive class ``classes_[1]``.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_fields)
            Field-indexed input.

        Returns
        -------
        logit : ndarray of float64 of shape (n_samples,)
        """
        xi, xv = self.index_input(X)
        logits = self.decision_function_indexed(xi, xv).astype(np.float64)
        check_logits_are_finite(
            logits, xv.__getitem__, self.__dict__.get("feature_names_in_")
        )
        return logits

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, columns in the order of ``classes_``.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_fields)
            Field-indexed input. Unseen, negative or missing codes of a
            categorical field use the field's out-of-vocabulary embedding.

        Returns
        -------
        proba : ndarray of float64 of shape (n_samples, 2)
        """
        state = self.__dict__
        packed = state.get("_packed")
        if packed is not None and type(X) is np.ndarray:
            # The small-batch serving case in the fewest Python steps: a
            # clean ndarray, packed kernels, parameters check_params accepts
            # (in their usual types; anything else takes the checked path).
            dtype = X.dtype
            shape = X.shape
            if (
                (dtype is _FLOAT64 or dtype is _INT64)
                and len(shape) == 2
                and 0 < shape[0] < _MIN_TILED_BATCH
                and shape[1] == state.get("n_features_in_")
                and X.flags.c_contiguous
                and not state.get("_unfused")
                and "feature_names_in_" not in state
                and type(engine := state.get("engine")) is str
                and (engine == "auto" or engine == "numba")
                and type(threshold := state.get("threshold")) is float
                and threshold - threshold == 0.0  # finite
                and ((n_jobs := state.get("n_jobs")) is None or _usual_n_jobs(n_jobs))
            ):
                proba, ok = _kernels_module.proba_small(X, state["_table"], *packed)
                if ok:
                    return proba
                proba = None  # a value the general path checks or rejects
            else:
                proba = self._proba_fused(X)
        else:
            proba = self._proba_fused(X)
        if proba is not None:
            return proba
        xi, xv = self.index_input(X)
        logit = self.decision_function_indexed(xi, xv)
        check_logits_are_finite(
            logit, xv.__getitem__, self.__dict__.get("feature_names_in_")
        )
        proba = np.empty((logit.shape[0], 2), dtype=np.float64)
        expit(logit, out=proba[:, 1], dtype=np.float64)
        np.subtract(1.0, proba[:, 1], out=proba[:, 0])
        return proba

    def _proba_fused(self, X) -> np.ndarray | None:
        """The probabilities of a clean matrix in one compiled call per
        chunk, else None: :func:`~sklearn_deeplight._kernels.proba_small`
        (one request: index, per-sample kernel and sigmoid) below the tiled
        kernel's batch, :func:`~sklearn_deeplight._kernels.proba_tiled`
        (indexed tile by tile, on ``n_jobs`` threads) above. Applies to the
        numba engine, an input :meth:`_clean_matrix` accepts and a model
        whose blocks the kernels all compute; anything else, or any value to
        check or reject (non-finite logits included), takes the general
        path."""
        state = self.__dict__
        if state.get("_table") is None or self.engine == "scipy":
            return None
        arr = self._clean_matrix(X)
        return None if arr is None else self._proba_clean(arr)

    def _proba_clean(self, arr: np.ndarray) -> np.ndarray | None:
        """:meth:`_proba_fused` of a matrix :meth:`_clean_matrix` returned
        (or of the same form: 2-D, int64 or float64, the fitted fields in
        order, as :class:`ServingPipeline` encodes raw rows)."""
        state = self.__dict__
        table = state.get("_table")
        engine = self.engine
        if table is None or engine == "scipy":
            return None
        kernels = _kernels_module if _kernels_module is not None else _load_kernels()
        dtype = arr.dtype
        if (
            kernels is None
            or arr.ndim != 2
            or not (dtype is _FLOAT64 or dtype is _INT64 or dtype in _FUSED_DTYPES)
        ):
            return None
        n, n_fields = arr.shape
        if n == 0 or n_fields != self.n_features_in_:
            return None
        if not arr.flags.c_contiguous:
            arr = np.ascontiguousarray(arr)
        check_params(engine, self.threshold, self.n_jobs)
        return _runtime.fused_proba(self, kernels, arr, self.n_jobs)

    def predict(self, X) -> np.ndarray:
        """Predicted labels: ``classes_[1]`` where its probability > threshold.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_fields)
            Field-indexed input.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        proba = self.predict_proba(X)
        return self.classes_[(proba[:, 1] > self.threshold).astype(np.intp)]
