"""Private skorch base class of the seven CTR classifiers."""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable

import numpy as np
import torch
from scipy.special import expit
from sklearn.metrics import log_loss, roc_auc_score
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_consistent_length, check_is_fitted
from skorch import NeuralNet, NeuralNetBinaryClassifier
from skorch.callbacks import (
    EpochScoring,
    EpochTimer,
    PassthroughScoring,
)
from skorch.utils import to_numpy

from ._callbacks import TargetAwareEarlyStopping, TargetAwareLRScheduler
from ._data import FieldDataset
from ._docs import compose_doc
from ._estimator_api import SklearnFaceMixin, skorch_parameters
from ._logging import progress_callbacks
from ._params import BASE_PARAMS, PARAMS, check_params, signature_names
from ._presets import auto_lr, auto_value
from ._rng import FitGenerator, draws
from ._spec import FieldLayout
from ._validation import (
    check_binary_target,
    check_code_range,
    check_field_matrix,
    check_logits_are_finite,
    count_distinct,
    global_index,
)

__all__: list[str] = []


def _make_init(model_params: tuple[str, ...], table: dict, module_cls: type):
    """A constructor taking the declared parameters, keyword-only, with their
    defaults; its ``__signature__`` lists them for ``get_params``, ``clone``,
    ``help`` and scikit-learn's checks."""

    def __init__(self, **params):
        for name in model_params:
            setattr(self, name, params.pop(name, table[name].default))
        _BaseFieldClassifier.__init__(self, **params)

    kw = inspect.Parameter.KEYWORD_ONLY
    __init__.__signature__ = inspect.Signature(
        [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
        + [
            inspect.Parameter(name, kw, default=table[name].default)
            for name in signature_names(model_params)
        ]
        + [
            p
            for p in skorch_parameters(
                {
                    "module": module_cls,
                    "optimizer": torch.optim.Adam,
                    "train_split": None,
                }
            )
            if p.name not in table
        ]
        + [inspect.Parameter("kwargs", inspect.Parameter.VAR_KEYWORD)]
    )
    return __init__


def _valid_scores(net, X, y) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Labels, probabilities of the model as trained (before any
    ``negative_sampling_rate`` correction: the validation rows share the
    training rows' sampling) and the rows' weights, if any."""
    y = np.asarray(y).ravel()
    p = expit(net._raw_decision_function(X))
    w = getattr(X, "w", None)
    return y, p, None if w is None else w.numpy()


def _valid_auc(net, X, y) -> float:
    """(Weighted) ROC AUC of the positive class; NaN when ``y`` holds one class."""
    y, p, w = _valid_scores(net, X, y)
    if np.unique(y).shape[0] < 2:
        return float("nan")
    return float(roc_auc_score(y, p, sample_weight=w))


def _valid_logloss(net, X, y) -> float:
    """(Weighted) log loss of the positive-class probabilities."""
    y, p, w = _valid_scores(net, X, y)
    return float(log_loss(y, p, labels=[0.0, 1.0], sample_weight=w))


def _reject_sample_weight(est, fit_params: dict) -> None:
    if "sample_weight" in fit_params:
        raise TypeError(
            f"{type(est).__name__}: fit_ondisk does not support sample_weight yet; "
            "fit in memory with fit(X, y, sample_weight=w), or resample the rows."
        )


def _check_sample_weight(sample_weight, n_samples: int, what: str) -> np.ndarray:
    """Finite, non-negative float64 weights, one per row, not all zero."""
    try:
        w = np.asarray(sample_weight, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{what} must hold numbers.") from None
    if w.ndim == 0:
        w = np.full(n_samples, float(w))
    if w.ndim != 1 or w.shape[0] != n_samples:
        raise ValueError(
            f"{what} has shape {w.shape}, expected ({n_samples},): one weight per row."
        )
    bad = ~np.isfinite(w) | (w < 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{what} must be finite and non-negative; row {i} holds {float(w[i])!r}."
        )
    if not w.any():
        raise ValueError(f"{what} is zero for every row.")
    return w


class _BaseFieldClassifier(SklearnFaceMixin, NeuralNetBinaryClassifier):
    """Field-aware CTR classifier on skorch.

    Subclasses set ``_module_cls`` (the torch module) and ``_module_params``
    (the constructor parameters forwarded to the module) and declare their
    parameters in ``__init__``. See the public classes for the documentation.
    """

    _module_cls: type[torch.nn.Module]
    _module_params: tuple[str, ...] = ()
    #: Parameters only this model has (the shared ones are in ``_params``).
    _own_params: dict = {}

    def __init__(self, **params):
        own = ("numeric_fields", *BASE_PARAMS)
        value = {name: params.pop(name, PARAMS[name].default) for name in own}
        kwargs = params  # skorch's own parameters (module__*, threshold...)
        kwargs.setdefault("module", type(self)._module_cls)
        kwargs.setdefault("optimizer", torch.optim.Adam)
        kwargs.setdefault("train_split", None)
        super().__init__(
            lr=value["lr"],
            max_epochs=value["max_epochs"],
            batch_size=value["batch_size"],
            callbacks=value["callbacks"],
            verbose=value["verbose"],
            **kwargs,
        )
        skorch_owned = ("lr", "max_epochs", "batch_size", "callbacks", "verbose")
        for name in own:
            if name not in skorch_owned:
                setattr(self, name, value[name])

    def __init_subclass__(cls, **kwargs):
        """Build a concrete classifier's constructor and docstring from its
        declared model parameters (``_module_params``)."""
        super().__init_subclass__(**kwargs)
        if "_module_cls" not in cls.__dict__:
            return
        table = {**PARAMS, **cls._own_params}
        cls.__init__ = _make_init(cls._module_params, table, cls._module_cls)
        cls.__doc__ = compose_doc(
            cls.__name__, cls.__doc__ or "", cls._module_params, table
        )

    # ------------------------------------------------------------------
    # scikit-learn protocol
    # ------------------------------------------------------------------
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.categorical = True
        tags.input_tags.positive_only = True
        tags.input_tags.allow_nan = True
        tags.classifier_tags.multi_class = False
        return tags

    @property
    def classes_(self) -> np.ndarray:
        """The two class labels, in the order of ``predict_proba``'s columns."""
        try:
            return self._classes_
        except AttributeError:
            raise AttributeError(
                f"This {type(self).__name__} instance is not fitted yet: classes_ "
                "is set by fit."
            ) from None

    # ------------------------------------------------------------------
    # Validation
    # ------------------------------------------------------------------
    def _check_params(self, explicit_validation: bool = False) -> None:
        """Validate hyper-parameters; raises ValueError naming the parameter.

        ``explicit_validation``: ``fit`` got ``X_val``/``y_val``, so
        ``patience`` needs no ``validation_fraction``.
        """
        self._check_unknown_parameters()
        table = {**PARAMS, **self._own_params}
        check_params(self, signature_names(self._module_params), table)
        self._check_device_param()
        if (
            not explicit_validation
            and self.validation_fraction is None
            and (self.patience is not None or self.lr_patience is not None)
        ):
            raise ValueError(
                "patience and lr_patience monitor the validation split: set "
                "validation_fraction (e.g. 0.1)."
            )

    def _to_dataset(self, X, y=None, *, reset: bool) -> FieldDataset:
        """Validate ``X`` (and ``y``) and build the model's input."""
        if reset and y is not None:
            classes, y01 = check_binary_target(self, y)  # before X: clearer errors
        codes, values = check_field_matrix(self, X, reset=reset)
        if reset:
            numeric = np.zeros(codes.shape[1], dtype=bool)
            numeric[self.numeric_fields_] = True
            self._set_field_layout(
                codes.max(axis=0),
                numeric,
                lambda j: count_distinct(codes[:, j]),
                n_rows=codes.shape[0],
            )
        if y is not None:
            if reset:
                check_consistent_length(codes, y01)
                self._classes_, y = classes, y01
            else:
                y = self._encode_labels(y, codes.shape[0])
        xi = global_index(codes, self.field_dims_, self.offsets_)
        return FieldDataset(xi, values, y)

    def _set_field_layout(
        self,
        max_codes: np.ndarray,
        numeric: np.ndarray,
        distinct: Callable[[int], int],
        n_rows: int | None = None,
    ) -> None:
        """``field_dims_``, ``offsets_`` and the table sizes, from the data.

        ``max_codes`` holds each field's largest code (ignored for the
        ``numeric`` fields), ``distinct(j)`` counts field ``j``'s distinct
        codes; in-memory data and the on-disk metadata share it. A code range
        far above the distinct codes is refused before the table is sized
        (:func:`~sklearn_deeplight._validation.check_code_range`).
        """
        check_code_range(
            max_codes, numeric, distinct, getattr(self, "feature_names_in_", None)
        )
        dims = np.maximum(np.where(numeric, 1, max_codes + 1), 1).astype(np.int64)
        layout = FieldLayout.from_mask(dims, numeric)
        self.field_dims_ = layout.field_dims
        self.offsets_ = layout.offsets
        self._table_sizes_ = layout.sizes
        if n_rows is not None:
            self._resolve_auto(n_rows)

    def _resolve_auto(self, n_rows: int) -> None:
        """Size the ``"auto"`` parameters from the training rows: the fitted
        ``hidden_units_`` (deep models), ``batch_size_`` and ``lr_`` (from
        ``batch_size_``, :func:`~sklearn_deeplight.auto_lr`)."""
        self.n_train_rows_ = int(n_rows)
        for name in ("hidden_units", "batch_size", "lr"):
            if name == "hidden_units" and name not in self._module_params:
                continue
            value = getattr(self, name)
            if isinstance(value, str) and value == "auto":
                if name == "lr":
                    value = auto_lr(self.batch_size_)
                else:
                    value = auto_value(name, n_rows)
            setattr(self, name + "_", value)

    def _resolved(self, name: str):
        """A parameter's value, ``"auto"`` replaced by its fitted size."""
        value = getattr(self, name)
        if isinstance(value, str) and value == "auto":
            fitted = self.__dict__.get(name + "_")
            if fitted is None:
                raise RuntimeError(f"{name}='auto' is sized at fit: call fit first.")
            return fitted
        return value

    def _encode_labels(self, y, n_samples: int) -> np.ndarray:
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed.")
        y = np.asarray(y).ravel()
        if y.shape[0] != n_samples:
            raise ValueError(
                f"Found input variables with inconsistent numbers of samples: "
                f"[{n_samples}, {y.shape[0]}]"
            )
        unknown = ~np.isin(y, self.classes_)
        if unknown.any():
            raise ValueError(
                f"y holds the label {np.asarray(y[unknown][0]).tolist()!r}, which "
                f"is not one of the classes seen in the first fit "
                f"{np.asarray(self.classes_).tolist()}."
            )
        return (y == self.classes_[1]).astype(np.float32)

    # ------------------------------------------------------------------
    # Fit
    # ------------------------------------------------------------------
    def _draw_seed(self) -> int:
        return int(check_random_state(self.random_state).randint(0, 2**31 - 1))

    def fit(
        self,
        X,
        y,
        sample_weight=None,
        *,
        X_val=None,
        y_val=None,
        sample_weight_val=None,
        **fit_params,
    ):
        """Learn the model from a field-indexed matrix.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_fields)
            One column per field: integer category codes, or values for the
            fields in ``numeric_fields``.
        y : array-like of shape (n_samples,)
            Two class labels.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative row weights: the loss of each batch is the weighted
            mean log loss, and the validation scores drawn from these rows
            are weighted too. Weights equal to repetition counts train the
            model that repeating the rows trains (in expectation over the
            batches).
        X_val, y_val : array-like of shape (n_val, n_fields) and (n_val,), default=None
            An explicit validation set (e.g. the next day of a click log),
            used instead of the ``validation_fraction`` split for
            ``valid_loss``/``valid_auc``/``valid_logloss``, early stopping
            (``patience``) and learning-rate decay (``lr_patience``). Encoded
            with the field layout learnt from ``X``: unseen codes use the
            out-of-vocabulary rows.
        sample_weight_val : array-like of shape (n_val,), default=None
            Weights of the validation rows.
        **fit_params : dict
            Passed to skorch's ``fit``.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        if isinstance(X, FieldDataset):
            given = [
                name
                for name, value in (
                    ("sample_weight", sample_weight),
                    ("X_val", X_val),
                    ("y_val", y_val),
                    ("sample_weight_val", sample_weight_val),
                )
                if value is not None
            ]
            if given:
                raise TypeError(
                    f"fit on a dataset takes no {given[0]}: it applies to "
                    "field-indexed arrays and DataFrames."
                )
            return NeuralNet.fit(self, X, y, **fit_params)
        if y is None:
            check_binary_target(self, y)
        explicit = X_val is not None or y_val is not None
        self._check_params(explicit_validation=explicit)
        reset = not (self.warm_start and self.initialized_ and self._is_fitted())
        dataset = self._to_dataset(X, y, reset=reset)
        self._set_weights(dataset, sample_weight, "sample_weight")
        valid = self._validation_dataset(X_val, y_val, sample_weight_val)
        self.__dict__["_fixed_validation"] = valid
        try:
            return self._fit_dataset(dataset, NeuralNet.fit, **fit_params)
        finally:
            self.__dict__.pop("_fixed_validation", None)

    def _set_weights(self, dataset: FieldDataset, weights, what: str) -> None:
        if weights is not None:
            w = _check_sample_weight(weights, len(dataset), what)
            dataset.w = torch.as_tensor(w.astype(np.float32))

    def _validation_dataset(self, X_val, y_val, sample_weight_val):
        """The explicit validation set of ``fit``, or None."""
        if X_val is None and y_val is None:
            if sample_weight_val is not None:
                raise ValueError("sample_weight_val needs X_val and y_val.")
            return None
        if X_val is None or y_val is None:
            raise ValueError(
                "X_val and y_val go together: pass both (or neither, to use "
                "validation_fraction)."
            )
        valid = self._to_dataset(X_val, y_val, reset=False)
        self._set_weights(valid, sample_weight_val, "sample_weight_val")
        return valid

    def partial_fit(self, X, y=None, classes=None, sample_weight=None, **fit_params):
        """Continue training on a batch of data without re-initialising.

        The first call learns the field cardinalities and the classes (from
        ``classes`` when given, otherwise from ``y``); later calls map codes
        unseen in the first call to the out-of-vocabulary rows.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_fields)
            Field-indexed input.
        y : array-like of shape (n_samples,)
            Labels.
        classes : array-like of shape (2,), default=None
            Both labels, needed on the first call when ``y`` may hold one.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative row weights (see :meth:`fit`).
        **fit_params : dict
            Passed to skorch.

        Returns
        -------
        self : object
            The estimator.
        """
        if isinstance(X, FieldDataset):
            return NeuralNet.partial_fit(self, X, y, **fit_params)
        for key in ("X_val", "y_val", "sample_weight_val"):
            if key in fit_params:
                raise ValueError(
                    f"partial_fit takes no {key}: an explicit validation set goes "
                    "to fit; partial_fit validates on validation_fraction."
                )
        if y is None:
            check_binary_target(self, y)
        self._check_params()
        first = not (self.initialized_ and self._is_fitted())
        if first and classes is not None:
            self._classes_, _ = check_binary_target(self, np.asarray(classes), 2)
            dataset = self._to_dataset(X, None, reset=True)
            dataset.y = torch.as_tensor(self._encode_labels(y, len(dataset)))
        else:
            dataset = self._to_dataset(X, y, reset=first)
        self._set_weights(dataset, sample_weight, "sample_weight")
        return self._fit_dataset(
            dataset, NeuralNet.partial_fit, initialize=first, **fit_params
        )

    def _fit_dataset(
        self, dataset: FieldDataset, method, *, initialize: bool = False, **fit_params
    ):
        seed = self._draw_seed()
        self.seed_ = seed
        # The fit's own generator state, swapped into torch's global one only
        # for its draws (initialisation, shuffling, dropout; _rng): two fits
        # in two threads draw each its own numbers, and the caller's global
        # state is left as it was.
        self._fit_rng = FitGenerator(seed, getattr(self, "device", None))
        try:
            if initialize:  # partial_fit's first call: weights from the seed too
                self.initialize()
            method(self, dataset, None, **fit_params)
        finally:
            del self._fit_rng
        return self

    def _is_fitted(self) -> bool:
        return hasattr(self, "_table_sizes_")

    # ------------------------------------------------------------------
    # skorch extension points
    # ------------------------------------------------------------------
    @property
    def _default_callbacks(self):
        cbs = [
            ("epoch_timer", EpochTimer()),
            ("train_loss", PassthroughScoring(name="train_loss", on_train=True)),
            ("valid_loss", PassthroughScoring(name="valid_loss")),
            (
                "valid_auc",
                EpochScoring(_valid_auc, name="valid_auc", lower_is_better=False),
            ),
            ("valid_logloss", EpochScoring(_valid_logloss, name="valid_logloss")),
        ]
        if self.lr_patience is not None:
            cbs.append(
                (
                    "lr_plateau",
                    TargetAwareLRScheduler(
                        torch.optim.lr_scheduler.ReduceLROnPlateau,
                        monitor="valid_loss",
                        patience=self.lr_patience,
                        factor=0.1,
                    ),
                )
            )
        if self.patience is not None:
            cbs.append(
                (
                    "early_stopping",
                    TargetAwareEarlyStopping(
                        monitor="valid_auc",
                        lower_is_better=False,
                        patience=self.patience,
                        load_best=True,
                    ),
                )
            )
        cbs += progress_callbacks(self.verbose)
        return cbs

    def initialize_module(self):
        """Build the torch module from the fitted field layout."""
        if not self._is_fitted():
            raise RuntimeError(
                f"{type(self).__name__}.initialize() needs the field cardinalities "
                "learnt from the data: call fit (or partial_fit) instead."
            )
        kwargs = self.get_params_for("module")
        for name in self._module_params:
            kwargs.setdefault(name, self._resolved(name))
        kwargs.setdefault("field_dims", tuple(int(s) for s in self._table_sizes_))
        with draws(self):  # the initial weights, from the fit's generator
            self.module_ = self.initialized_instance(self.module, kwargs)
        return self

    def initialize(self):
        if not self._is_fitted():
            # Callbacks can be set up (for set_params) before the data is seen.
            self._initialize_virtual_params()
            self._initialize_callbacks()
            return self
        return super().initialize()

    def set_params(self, **kwargs):
        # skorch initialises callbacks as soon as ``callbacks`` is set; before
        # the net is initialised, store the value and let fit validate it.
        if "callbacks" in kwargs and not self.initialized_:
            self.callbacks = kwargs.pop("callbacks")
        lr = kwargs.get("lr")
        if "lr" in kwargs and "lr_" in self.__dict__:  # fitted: lr_ follows
            if isinstance(lr, str) and lr == "auto":
                # the optimizer takes the number, the parameter stays "auto"
                kwargs["lr"] = self.lr_ = auto_lr(self.batch_size_)
                super().set_params(**kwargs)
                self.lr = "auto"
                return self
            self.lr_ = lr
        return super().set_params(**kwargs)

    def get_params_for_optimizer(self, prefix, named_parameters):
        args, kwargs = super().get_params_for_optimizer(prefix, named_parameters)
        if prefix == "optimizer":
            kwargs.setdefault("weight_decay", self.l2)
        if isinstance(kwargs.get("lr"), str) and kwargs["lr"] == "auto":
            kwargs["lr"] = self._resolved("lr")
        return args, kwargs

    def get_split_datasets(self, X, y=None, **fit_params):
        fixed = self.__dict__.get("_fixed_validation")
        if fixed is not None:  # fit(..., X_val=, y_val=)
            return X, fixed
        if not isinstance(X, FieldDataset) or self.train_split is not None:
            return super().get_split_datasets(X, y, **fit_params)
        vf = self.validation_fraction
        n = len(X)
        if vf is None:
            return X, None
        n_valid = int(np.ceil(vf * n))
        if n_valid < 2 or n - n_valid < 2:
            msg = (
                f"validation_fraction={vf} leaves no usable validation split of "
                f"{n} samples"
            )
            if self.patience is not None or self.lr_patience is not None:
                raise ValueError(msg + ": patience and lr_patience need one.")
            warnings.warn(msg + ": training without validation.", stacklevel=2)
            return X, None
        # which rows: the dataset's choice (stratified in memory, the last
        # rows of an on-disk file shuffled by blocks)
        return X.split_validation(n_valid, random_state=self.seed_)

    def get_iterator(self, dataset, training=False):
        if not isinstance(dataset, FieldDataset):
            if isinstance(self.batch_size, str):  # "auto", sized at fit
                prefix = "iterator_train" if training else "iterator_valid"
                kwargs = self.get_params_for(prefix)
                kwargs.setdefault("batch_size", self._resolved("batch_size"))
                make = self.iterator_train if training else self.iterator_valid
                iterator = make(dataset, **kwargs)
            else:
                iterator = super().get_iterator(dataset, training=training)
        else:
            prefix = "iterator_train" if training else "iterator_valid"
            batch_size = self.get_params_for(prefix).get(
                "batch_size", self._resolved("batch_size")
            )
            iterator = dataset.batch_iterator(batch_size, shuffle=training)
        rng = self.__dict__.get("_fit_rng")
        if training and rng is not None:  # the shuffle, from the fit's generator
            return rng.iterate(iterator)
        return iterator

    def infer(self, x, **fit_params):
        """The module's forward on a batch, row weights left out.

        Parameters
        ----------
        x : dict or tensor
            The batch's input (``xi``, ``xv`` and, with ``sample_weight``,
            ``w``, which only the loss reads).
        **fit_params : dict
            Passed to skorch's ``infer``.

        Returns
        -------
        y_pred : torch.Tensor
            The logits.
        """
        if isinstance(x, dict) and "w" in x:  # row weights are for the loss
            x = {key: value for key, value in x.items() if key != "w"}
        if self.module_.training:
            # a training forward (dropout) draws from the fit's generator; in
            # infer rather than train_step_single, so that subclasses that
            # replace the step (skorch's AccelerateMixin) draw alike
            with draws(self):
                return super().infer(x, **fit_params)
        return super().infer(x, **fit_params)

    def get_loss(self, y_pred, y_true, X=None, training=False):
        w = X.get("w") if isinstance(X, dict) else None
        if w is None:
            loss = super().get_loss(y_pred, y_true, X=X, training=training)
        else:
            loss = self._weighted_loss(y_pred, y_true, w)
        if training and self.embedding_l2:
            penalty = self.module_.embedding_penalty()
            loss = loss + 0.5 * self.embedding_l2 * penalty
        if training and not torch.isfinite(loss):
            epoch = len(self.history)
            batch = len(self.history[-1]["batches"]) if epoch else 0
            raise FloatingPointError(
                f"Training diverged: the loss is {loss.item()} at epoch {epoch}, "
                f"batch {batch}. Lower the learning rate "
                f"(lr={self._resolved('lr'):g}) or raise the L2 penalty "
                f"(l2={self.l2})."
            )
        return loss

    def _weighted_loss(self, y_pred, y_true, w) -> torch.Tensor:
        """The weighted mean log loss of a batch (``criterion`` must be the
        default ``BCEWithLogitsLoss``)."""
        criterion = self.criterion_
        if not isinstance(criterion, torch.nn.BCEWithLogitsLoss):
            raise TypeError(
                f"sample_weight needs the default criterion (BCEWithLogitsLoss), "
                f"not {type(criterion).__name__}."
            )
        w = w.to(device=y_pred.device, dtype=y_pred.dtype)
        per_row = torch.nn.functional.binary_cross_entropy_with_logits(
            y_pred,
            y_true.to(device=y_pred.device, dtype=y_pred.dtype),
            pos_weight=criterion.pos_weight,
            reduction="none",
        )
        total = w.sum()
        return (per_row * w).sum() / torch.clamp(
            total, min=torch.finfo(total.dtype).tiny
        )

    # ------------------------------------------------------------------
    # Prediction
    # ------------------------------------------------------------------
    def _predict_dataset(self, X) -> FieldDataset:
        check_is_fitted(self)
        return self._to_dataset(X, reset=False)

    def decision_function(self, X) -> np.ndarray:
        """Logit of the positive class.

        With ``negative_sampling_rate`` set, ``log(rate)`` is added: the
        logit of the population the negatives were sampled from.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_fields)
            Field-indexed input.

        Returns
        -------
        logit : ndarray of shape (n_samples,)
        """
        logits = self._raw_decision_function(X)
        rate = self.negative_sampling_rate
        if rate is not None and rate != 1:
            logits = logits + np.log(rate)
        return logits

    def _raw_decision_function(self, X) -> np.ndarray:
        """Logits of the model as trained (no sampling-rate correction).

        ``X``: field-indexed input, a :class:`FieldDataset`, or another torch
        dataset of this estimator's samples (e.g. the subsets a user's
        ``train_split`` makes for validation).
        """
        if isinstance(X, FieldDataset):
            values = lambda rows: X.xv[torch.as_tensor(rows)].numpy()  # noqa: E731
        elif isinstance(X, torch.utils.data.Dataset):
            data = X
            values = lambda rows: np.stack(  # noqa: E731
                [to_numpy(data[int(i)][0]["xv"]) for i in rows]
            )
        else:
            X = self._predict_dataset(X)
            values = lambda rows: X.xv[torch.as_tensor(rows)].numpy()  # noqa: E731
        out = [to_numpy(y) for y in self.forward_iter(X, training=False)]
        logits = np.concatenate(out).astype(np.float64)
        check_logits_are_finite(
            logits, values, getattr(self, "feature_names_in_", None)
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
        proba : ndarray of shape (n_samples, 2)
        """
        p = expit(self.decision_function(X))
        return np.stack([1.0 - p, p], axis=1)

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

    # ------------------------------------------------------------------
    # DeepLight: reports and the sparse predictor
    # ------------------------------------------------------------------
    def sparsity_report(self):
        """Nonzero weights per prunable component of the fitted model.

        Returns
        -------
        report : pandas.DataFrame
            One row per component (``embeddings``, ``dnn``, ``field_pairs``,
            ``cin`` where the model has it) with columns ``total``,
            ``nonzero``, ``sparsity`` and ``bytes`` (of the nonzero float32
            values).
        """
        from ._pruning import sparsity_report

        check_is_fitted(self)
        return sparsity_report(self.module_)

    def to_sparse(self, **kwargs):
        """A torch-free predictor built from the fitted (pruned) weights.

        Parameters
        ----------
        **kwargs : dict
            Parameters of :class:`~sklearn_deeplight.SparseCTRPredictor`
            (e.g. ``engine``).

        Returns
        -------
        predictor : SparseCTRPredictor
            A fitted scikit-learn estimator with the same ``predict_proba``.
        """
        from ._sparse import SparseCTRPredictor

        check_is_fitted(self)
        return SparseCTRPredictor.from_estimator(self, **kwargs)


class _FieldPairMixin:
    """``field_pair_importance`` for the models with a field-pair matrix R."""

    def field_pair_importance(self):
        """The learnt symmetric field-pair matrix R as a labelled DataFrame.

        Returns
        -------
        R : pandas.DataFrame of shape (n_fields, n_fields)
            ``R[i, j]`` weighs the interaction of fields i and j; the diagonal
            is zero (unused) and pruned pairs are exactly zero. Rows and
            columns carry the field names when the model was fitted on a
            DataFrame.
        """
        from ._pruning import field_pair_matrix

        check_is_fitted(self)
        import pandas as pd

        names = getattr(self, "feature_names_in_", None)
        if names is None:
            names = [f"x{i}" for i in range(self.n_features_in_)]
        return pd.DataFrame(
            field_pair_matrix(self.module_), index=list(names), columns=list(names)
        )
