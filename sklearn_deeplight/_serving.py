"""One torch-free serving object: raw rows in, click probabilities out.

:class:`ServingPipeline` is a scikit-learn :class:`~sklearn.pipeline.Pipeline`
of a fitted :class:`~sklearn_deeplight.FieldEncoder` and a
:class:`~sklearn_deeplight.SparseCTRPredictor`, built from a fitted
``Pipeline(FieldEncoder, <classifier>)`` by
:meth:`ServingPipeline.from_pipeline`. It scores what a plain pipeline of the
two scores (same probabilities, same errors), plus a dict (one request) or a
list of dicts, on a lean path: the encoder's compiled lookups write the codes
into one float64 matrix, the predictor's kernels index and score it; no
DataFrame is built. Inputs that path does not take go through the plain
pipeline.

Neither this module nor anything it imports at module level imports torch.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import expit
from sklearn.pipeline import Pipeline

from ._encoder import FieldEncoder
from ._sparse import SparseCTRPredictor
from ._validation import check_logits_are_finite, global_index

__all__ = ["ServingPipeline"]

_FLOAT32_MAX = float(np.finfo(np.float32).max)
_index_kernels: Any = None


def _index_rows():
    """The predictor kernels' ``index_rows`` (None without numba)."""
    global _index_kernels
    if _index_kernels is None:
        try:
            from ._kernels import index_rows
        except ImportError:  # pragma: no cover - numba is a dependency
            index_rows = False
        _index_kernels = index_rows
    return _index_kernels or None


class ServingPipeline(Pipeline):
    """A fitted encoder and sparse predictor that score raw rows, torch-free.

    A :class:`~sklearn.pipeline.Pipeline` of exactly two fitted steps, a
    :class:`FieldEncoder` and a :class:`SparseCTRPredictor`, usually made by
    :meth:`from_pipeline` from a fitted ``Pipeline(FieldEncoder,
    <classifier>)``. It predicts what that pair predicts as a plain pipeline,
    the encoder's ``transform`` then the predictor (the same probabilities,
    the same errors), and also takes a dict (one row, as a request holds it)
    or a list of dicts mapping each raw column name seen in fit to its value.
    A DataFrame, an array, a dict or a list of dicts of plain values (str,
    int, float, None) is scored on a lean path that builds no DataFrame;
    anything else goes through the plain pipeline.

    It is never trained (``fit`` raises): save it with
    :func:`sklearn_deeplight.save` (loaded by :func:`sklearn_deeplight.load`
    without torch) or joblib, and wrap it in
    :class:`sklearn.frozen.FrozenEstimator` where ``fit`` is called.

    Parameters
    ----------
    steps : list of (str, estimator) tuples
        ``[(name, FieldEncoder), (name, SparseCTRPredictor)]``, both fitted.
    transform_input : list of str, default=None
        See :class:`~sklearn.pipeline.Pipeline`.
    memory : str or object with the joblib.Memory interface, default=None
        See :class:`~sklearn.pipeline.Pipeline` (unused: nothing is fitted).
    verbose : bool, default=False
        See :class:`~sklearn.pipeline.Pipeline`.

    Attributes
    ----------
    named_steps : :class:`~sklearn.utils.Bunch`
        The steps by name.
    classes_ : ndarray of shape (2,)
        The predictor's labels.
    n_features_in_ : int
        Number of raw columns (the encoder's).
    feature_names_in_ : ndarray of str
        The raw column names, when the encoder was fitted on a DataFrame.

    See Also
    --------
    SparseCTRPredictor : The torch-free predictor of encoded rows.
    FieldEncoder : Raw columns to field codes.
    sklearn_deeplight.save : Persist it safely.

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn_deeplight import FieldEncoder, FwFMClassifier, ServingPipeline
    >>> from sklearn_deeplight.datasets import make_ctr_classification
    >>> X, y = make_ctr_classification(500, n_numeric=2, n_categorical=4,
    ...                                n_interactions=2, random_state=0)
    >>> model = make_pipeline(
    ...     FieldEncoder(), FwFMClassifier(embedding_dim=4, max_epochs=1,
    ...                                    random_state=0)).fit(X, y)
    >>> server = ServingPipeline.from_pipeline(model)
    >>> row = X.iloc[0].to_dict()
    >>> server.predict_proba(row).shape
    (1, 2)
    >>> bool(np.allclose(server.predict_proba(X), model.predict_proba(X),
    ...                  rtol=1e-5))
    True
    """

    @classmethod
    def from_pipeline(cls, pipeline: Pipeline, **kwargs) -> ServingPipeline:
        """The serving pipeline of a fitted ``Pipeline(FieldEncoder, est)``.

        Parameters
        ----------
        pipeline : Pipeline
            A fitted pipeline of two steps: a :class:`FieldEncoder`, then a
            fitted classifier of this library (converted with its
            ``to_sparse``) or a :class:`SparseCTRPredictor` (kept as it is),
            either possibly wrapped in
            :class:`~sklearn.frozen.FrozenEstimator`.
        **kwargs : dict
            Parameters of :meth:`SparseCTRPredictor.from_estimator` (``engine``,
            ``dtype``, ``threshold``, ``n_jobs``) for the conversion of a
            classifier.

        Returns
        -------
        server : ServingPipeline
            Its steps are the pipeline's encoder (the same object) and the
            predictor, under the pipeline's step names.

        Examples
        --------
        >>> from sklearn.pipeline import make_pipeline
        >>> from sklearn_deeplight import FieldEncoder, LRClassifier, ServingPipeline
        >>> from sklearn_deeplight.datasets import make_ctr_classification
        >>> X, y = make_ctr_classification(300, n_numeric=1, n_categorical=2,
        ...                                n_interactions=1, random_state=0)
        >>> model = make_pipeline(FieldEncoder(),
        ...                       LRClassifier(max_epochs=1)).fit(X, y)
        >>> server = ServingPipeline.from_pipeline(model, engine="scipy")
        >>> server[-1]
        SparseCTRPredictor(engine='scipy')
        """
        steps = getattr(pipeline, "steps", None)
        if not isinstance(pipeline, Pipeline) or len(steps) != 2:
            raise TypeError(
                "from_pipeline takes a fitted Pipeline of two steps, a FieldEncoder "
                f"and a classifier, got {type(pipeline).__name__}"
                + (f" of {len(steps)} steps" if isinstance(steps, list) else "")
            )
        (enc_name, enc), (est_name, est) = steps
        enc, est = _unfrozen(enc), _unfrozen(est)
        if isinstance(est, SparseCTRPredictor):
            if kwargs:
                raise ValueError(
                    "The pipeline's last step is already a SparseCTRPredictor: "
                    f"from_pipeline takes no conversion parameters ({sorted(kwargs)})."
                )
            pred = est
        elif hasattr(est, "to_sparse"):
            pred = est.to_sparse(**kwargs)
        else:
            raise TypeError(
                f"The pipeline's last step is a {type(est).__name__}: from_pipeline "
                "needs a fitted classifier of sklearn_deeplight (or its "
                "SparseCTRPredictor)."
            )
        server = cls([(enc_name, enc), (est_name, pred)], verbose=pipeline.verbose)
        server._parts()
        return server

    # ------------------------------------------------------------------
    # Structure
    # ------------------------------------------------------------------
    def _parts(self) -> tuple[FieldEncoder, SparseCTRPredictor]:
        """The fitted encoder and predictor; TypeError/ValueError otherwise."""
        steps = self.steps
        if type(steps) is not list or len(steps) != 2:
            raise ValueError(
                f"{type(self).__name__} has exactly two steps, a FieldEncoder and "
                "a SparseCTRPredictor."
            )
        enc, pred = steps[0][1], steps[1][1]
        if not isinstance(enc, FieldEncoder) or not isinstance(
            pred, SparseCTRPredictor
        ):
            raise TypeError(
                f"{type(self).__name__}'s steps must be a FieldEncoder and a "
                f"SparseCTRPredictor, got {type(enc).__name__} and "
                f"{type(pred).__name__}: build it with "
                f"{type(self).__name__}.from_pipeline(pipeline)."
            )
        for step, attr in ((enc, "field_dims_"), (pred, "classes_")):
            if attr not in step.__dict__:
                raise ValueError(
                    f"{type(self).__name__}'s {type(step).__name__} is not fitted."
                )
        n_enc, n_pred = enc.n_features_in_, pred.n_features_in_
        if n_enc != n_pred:
            raise ValueError(
                f"The encoder has {n_enc} fields but the predictor expects {n_pred}."
            )
        return enc, pred

    def __getitem__(self, ind):
        """A step (int or name), or a plain Pipeline of a slice of the steps.

        Parameters
        ----------
        ind : int, str or slice
            Position or name of a step, or a slice of the steps.

        Returns
        -------
        step : estimator or Pipeline
            The step, or a :class:`~sklearn.pipeline.Pipeline` of the slice
            (it need not hold both steps).
        """
        if isinstance(ind, slice):
            if ind.step not in (1, None):
                raise ValueError("Pipeline slicing only supports a step of 1")
            return Pipeline(self.steps[ind], memory=self.memory, verbose=self.verbose)
        return super().__getitem__(ind)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.dict = True
        return tags

    # ------------------------------------------------------------------
    # Training
    # ------------------------------------------------------------------
    def fit(self, X, y=None, **params):
        """Not supported: the serving pipeline is made from a fitted one.

        Parameters
        ----------
        X, y : ignored
            Not used.
        **params : dict
            Not used.

        Raises
        ------
        TypeError
            Always: fit the training pipeline and call :meth:`from_pipeline`,
            or wrap this one in :class:`sklearn.frozen.FrozenEstimator`
            where ``fit`` is called (cross-validation, calibration).
        """
        raise TypeError(
            f"{type(self).__name__} is built from a fitted pipeline and cannot be "
            "trained: fit Pipeline(FieldEncoder, <classifier>) and call "
            f"{type(self).__name__}.from_pipeline(pipeline), or wrap this one in "
            "sklearn.frozen.FrozenEstimator where fit is called."
        )

    # ------------------------------------------------------------------
    # Prediction
    # ------------------------------------------------------------------
    def _encoded(self, X) -> tuple[np.ndarray, SparseCTRPredictor] | None:
        """The encoded matrix of raw rows on the lean path, with the
        predictor; None where the plain pipeline must score."""
        enc, pred = self._parts()
        enc._check_transform_params()
        fast = enc._encode_matrix(X)
        if fast is None:
            return None
        M = fast[0]
        # The predictor sees what the encoder's DataFrame would show it.
        enc_names = enc.__dict__.get("feature_names_in_")
        pred_names = pred.__dict__.get("feature_names_in_")
        if pred_names is None or len(pred_names) != M.shape[1]:
            return None
        if enc_names is None:
            if any(name != f"x{j}" for j, name in enumerate(pred_names)):
                return None
        elif any(a != b for a, b in zip(pred_names, enc_names)):
            return None
        return M, pred

    def _lean(
        self, X, encoded=None
    ) -> tuple[np.ndarray, np.ndarray, SparseCTRPredictor] | None:
        """Logits (float32) and field values of raw rows on the lean path,
        with the predictor; None where the plain pipeline must score.
        ``encoded``: what :meth:`_encoded` returned for ``X``, if known."""
        if encoded is None:
            encoded = self._encoded(X)
        if encoded is None:
            return None
        M, pred = encoded
        numeric = np.zeros(M.shape[1], dtype=bool)
        numeric[pred.numeric_fields_] = True
        index_rows = _index_rows()
        if index_rows is not None:
            xi, xv, ok = index_rows(M, numeric, pred.field_dims_, pred.offsets_)
            if not ok:
                return None
        else:  # pragma: no cover - numba is a dependency
            indexed = _index_numpy(M, numeric, pred.field_dims_, pred.offsets_)
            if indexed is None:
                return None
            xi, xv = indexed
        return pred.decision_function_indexed(xi, xv), xv, pred

    def predict_proba(self, X, **params) -> np.ndarray:
        """Class probabilities of raw rows, columns in the order of ``classes_``.

        Parameters
        ----------
        X : DataFrame, array-like, dict or list of dict
            Raw rows: the encoder's input (see :meth:`FieldEncoder.transform`).
        **params : dict
            Metadata routed to the steps (see
            :meth:`sklearn.pipeline.Pipeline.predict_proba`); given any, the
            plain pipeline scores.

        Returns
        -------
        proba : ndarray of float64 of shape (n_samples, 2)
            What ``predictor.predict_proba(encoder.transform(X))`` returns.
        """
        if params:
            return super().predict_proba(X, **params)
        encoded = self._encoded(X)
        if encoded is None:
            return super().predict_proba(X)
        # The predictor's compiled path (index, kernel and sigmoid in one
        # call per chunk), else the lean one on the same encoded matrix.
        proba = encoded[1]._proba_clean(encoded[0])
        if proba is not None:
            return proba
        lean = self._lean(X, encoded)
        if lean is None:
            return super().predict_proba(X, **params)
        logit, xv, pred = lean
        check_logits_are_finite(
            logit, xv.__getitem__, pred.__dict__.get("feature_names_in_")
        )
        proba = np.empty((logit.shape[0], 2), dtype=np.float64)
        expit(logit, out=proba[:, 1], dtype=np.float64)
        np.subtract(1.0, proba[:, 1], out=proba[:, 0])
        return proba

    def decision_function(self, X, **params) -> np.ndarray:
        """Logit of the positive class ``classes_[1]`` for raw rows.

        Parameters
        ----------
        X : DataFrame, array-like, dict or list of dict
            Raw rows (see :meth:`predict_proba`).
        **params : dict
            Metadata routed to the steps; given any, the plain pipeline scores.

        Returns
        -------
        logit : ndarray of float64 of shape (n_samples,)
        """
        lean = None if params else self._lean(X)
        if lean is None:
            return super().decision_function(X, **params)
        logit, xv, pred = lean
        logits = logit.astype(np.float64)
        check_logits_are_finite(
            logits, xv.__getitem__, pred.__dict__.get("feature_names_in_")
        )
        return logits

    def predict(self, X, **params) -> np.ndarray:
        """Predicted labels of raw rows (``classes_[1]`` above the threshold).

        Parameters
        ----------
        X : DataFrame, array-like, dict or list of dict
            Raw rows (see :meth:`predict_proba`).
        **params : dict
            Metadata routed to the steps; given any, the plain pipeline scores.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        if params:
            return super().predict(X, **params)
        proba = self.predict_proba(X)
        pred = self.steps[-1][1]
        return pred.classes_[(proba[:, 1] > pred.threshold).astype(np.intp)]


def _unfrozen(est):
    """The estimator a FrozenEstimator wraps, else ``est``."""
    from sklearn.frozen import FrozenEstimator

    return est.estimator if isinstance(est, FrozenEstimator) else est


def _index_numpy(M, numeric, field_dims, offsets):  # pragma: no cover - no numba
    """Table rows and values of an encoded matrix (the predictor's numpy path)."""
    num = M[:, numeric]
    if not (np.abs(num) <= _FLOAT32_MAX).all():
        return None
    cat = M[:, ~numeric]
    if not ((np.floor(cat) == cat) & (np.abs(cat) <= 2.0**62)).all():
        return None
    codes = np.where(numeric, 0.0, M).astype(np.int64)
    values = np.where(numeric, M, 1.0).astype(np.float32)
    return global_index(codes, field_dims, offsets), values
