"""Declared parameters of the classifiers: defaults, constraints, documentation.

Each parameter is described once (:data:`PARAMS`): its default, the check its
value must pass and its numpydoc entry. The base class declares the common
parameters, each classifier the model parameters it adds
(``_module_params``); the constructor signature, the parameter checks made at
``fit`` and the docstring's Parameters section are all built from here, in
the spirit of scikit-learn's ``_parameter_constraints`` and
imbalanced-learn's docstring substitution. A parameter only one model has is
declared by that classifier (``_own_params``, a dict of :class:`Param`).
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["PARAMS", "BASE_PARAMS", "Param", "positive_int"]


def _is_int(v: Any) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def positive_int(allow_none: bool = False) -> Callable[[str, Any], None]:
    """An int >= 1 (or None)."""

    def check(name: str, v: Any) -> None:
        if v is None and allow_none:
            return
        if not _is_int(v) or v < 1:
            raise ValueError(f"{name} must be a positive int, got {v!r}.")

    return check


def non_negative_int_or_none(name: str, v: Any) -> None:
    """None or an int >= 0."""
    if v is not None and (not _is_int(v) or v < 0):
        raise ValueError(f"{name} must be None or a non-negative int, got {v!r}.")


def finite_non_negative(name: str, v: Any) -> None:
    """A finite real >= 0 (not a bool)."""
    if (
        not isinstance(v, numbers.Real)
        or isinstance(v, bool)
        or not 0 <= v < float("inf")
    ):
        raise ValueError(f"{name} must be a finite non-negative number, got {v!r}.")


def open_unit_or_none(name: str, v: Any) -> None:
    """None or a real in (0, 1)."""
    if v is not None and (not isinstance(v, numbers.Real) or not 0 < v < 1):
        raise ValueError(f"{name} must be None or in (0, 1), got {v!r}.")


def unit_rate_or_none(name: str, v: Any) -> None:
    """None or a real in (0, 1]."""
    if v is not None and (
        not isinstance(v, numbers.Real) or isinstance(v, bool) or not 0 < v <= 1
    ):
        raise ValueError(f"{name} must be None or in (0, 1], got {v!r}.")


def auto_or(check: Callable[[str, Any], None]) -> Callable[[str, Any], None]:
    """``"auto"`` (sized from the training rows at fit) or what ``check``
    accepts."""

    def check_auto(name: str, v: Any) -> None:
        if isinstance(v, str) and v == "auto":
            return
        check(name, v)

    return check_auto


def dropout_rate(name: str, v: Any) -> None:
    """A real in [0, 1)."""
    if not isinstance(v, numbers.Real) or not 0 <= v < 1:
        raise ValueError(f"{name} must be in [0, 1), got {v!r}.")


def layer_sizes(name: str, v: Any) -> None:
    """A non-empty sequence of positive ints."""
    if not isinstance(v, Sequence) or isinstance(v, str):
        raise ValueError(f"{name} must be a sequence of ints, got {v!r}.")
    if len(v) == 0:
        raise ValueError(f"{name} must not be empty.")
    for h in v:
        if not _is_int(h) or h < 1:
            raise ValueError(f"{name} entries must be positive ints, got {v!r}.")


def one_of(*allowed: Any) -> Callable[[str, Any], None]:
    """One of the ``allowed`` values."""

    def check(name: str, v: Any) -> None:
        if v not in allowed:
            raise ValueError(f"{name} must be one of {allowed}, got {v!r}.")

    return check


def anything(name: str, v: Any) -> None:
    """Checked elsewhere (at fit, with the data) or passed on as is."""


@dataclass(frozen=True)
class Param:
    """One declared parameter: default, check, numpydoc entry."""

    default: Any
    check: Callable[[str, Any], None]
    doc: str


PARAMS: dict[str, Param] = {
    "numeric_fields": Param(
        "auto",
        anything,
        """\
    numeric_fields : "auto", None or list of int or str, default="auto"
        Columns that hold numeric values rather than category codes, as
        positions or DataFrame column names. ``"auto"`` takes the float columns
        of a DataFrame as numeric (what :class:`~sklearn_deeplight.FieldEncoder`
        outputs) and no column of an array; None means all fields are
        categorical.""",
    ),
    "embedding_dim": Param(
        10,
        positive_int(),
        """\
    embedding_dim : int, default=10
        Size ``k`` of each feature's embedding vector (paper: 10 on Criteo, 20
        on Avazu).""",
    ),
    "hidden_units": Param(
        "auto",
        auto_or(layer_sizes),
        """\
    hidden_units : tuple of int or "auto", default="auto"
        Widths of the DNN's hidden layers. ``"auto"`` sizes them from the
        training rows (fitted ``hidden_units_``): (64, 64) below 20,000
        rows, (128, 128) below 100,000, 256x3 below 1M, and the paper's
        400x3 from 1M rows (:func:`~sklearn_deeplight.auto_value`). The
        paper: 400x3 on Criteo, 300x3 on Avazu
        (:func:`~sklearn_deeplight.paper_params`).""",
    ),
    "dropout": Param(
        0.5,
        dropout_rate,
        """\
    dropout : float, default=0.5
        Dropout rate after each hidden layer of the DNN.""",
    ),
    "batch_norm": Param(
        False,
        anything,
        """\
    batch_norm : bool, default=False
        Batch normalisation in the DNN after each hidden Linear. Off in the
        paper; on in the BARS/FuxiCTR benchmark settings.""",
    ),
    "cin_layer_sizes": Param(
        (100, 100, 50),
        layer_sizes,
        """\
    cin_layer_sizes : tuple of int, default=(100, 100, 50)
        Feature maps of each CIN layer (xDeepFM paper's Criteo setting).""",
    ),
    "cin_split_half": Param(
        True,
        anything,
        """\
    cin_split_half : bool, default=True
        Send half of each non-final CIN layer's maps to the output and half
        to the next layer, as in xDeepFM.""",
    ),
    "linear_term": Param(
        "field_vector",
        one_of("scalar", "feature_vector", "field_vector"),
        """\
    linear_term : {"field_vector", "feature_vector", "scalar"}, default="field_vector"
        First-order term, in the FwFM paper's three forms: a vector per field
        ``<e_i, v_F(i)>`` (FiLV, the DeepLight paper's eq. 6), a vector per
        feature ``<e_i, w_i>`` (FeLV), or a scalar per feature ``w_i x_i``
        (LW). The choice can move AUC by several points.""",
    ),
    "l2": Param(
        3e-7,
        finite_non_negative,
        """\
    l2 : float, default=3e-7
        L2 penalty on all parameters, applied as Adam's (coupled) weight decay
        as in the paper and the authors' code.""",
    ),
    "embedding_l2": Param(
        0.0,
        finite_non_negative,
        """\
    embedding_l2 : float, default=0.0
        Embedding regulariser with FuxiCTR's meaning: ``(embedding_l2 / 2)``
        times the squared norm of the embedding tables, added to each training
        batch's loss. BARS/FuxiCTR settings use values around 1e-5 to 1e-1.""",
    ),
    "lr": Param(
        "auto",
        auto_or(finite_non_negative),
        """\
    lr : float or "auto", default="auto"
        Adam's learning rate. ``"auto"`` scales the paper's 1e-3 at batch
        2,048 by the square root of the batch size (fitted ``lr_``):
        ``1e-3 * sqrt(batch_size_ / 2048)``, 3.5e-4 at batch 256
        (:func:`~sklearn_deeplight.auto_lr`), so that the smaller batches of
        a small log, with more steps per epoch, take smaller steps.""",
    ),
    "batch_size": Param(
        "auto",
        auto_or(positive_int()),
        """\
    batch_size : int or "auto", default="auto"
        Samples per training batch (also the prediction batch size unless
        ``iterator_valid__batch_size`` is given). ``"auto"`` sizes it from
        the training rows (fitted ``batch_size_``): 256 below 50,000 rows,
        512 below 200,000, 1,024 below 1M, and the paper's 2,048 from 1M
        rows.""",
    ),
    "max_epochs": Param(
        10,
        positive_int(),
        """\
    max_epochs : int, default=10
        Passes over the training data.""",
    ),
    "validation_fraction": Param(
        0.1,
        open_unit_or_none,
        """\
    validation_fraction : float or None, default=0.1
        Fraction of the training data held out (stratified, drawn from
        ``random_state``) to compute ``valid_loss``, ``valid_auc`` and
        ``valid_logloss`` in ``history_`` each epoch. None trains on all data.""",
    ),
    "patience": Param(
        None,
        positive_int(allow_none=True),
        """\
    patience : int or None, default=None
        Early stopping: stop when ``valid_auc`` has not improved for
        ``patience`` epochs and restore the best epoch's weights. The count
        restarts at a learning-rate decay (``lr_patience``) that follows an
        improvement, so a decay gets ``patience`` epochs to act. With
        ``DeepLightPruning``, only epochs at the full sparsity targets count.
        None trains for ``max_epochs``.""",
    ),
    "lr_patience": Param(
        None,
        non_negative_int_or_none,
        """\
    lr_patience : int or None, default=None
        Divide the learning rate by 10 when ``valid_loss`` has not improved
        for more than ``lr_patience`` epochs (``ReduceLROnPlateau``; 0 decays
        after every epoch without improvement). The recommended pair, as in
        BARS/FuxiCTR, is ``lr_patience=1`` with ``patience=2``.""",
    ),
    "negative_sampling_rate": Param(
        None,
        unit_rate_or_none,
        """\
    negative_sampling_rate : float or None, default=None
        The share of negative rows kept when the training log was
        negative-downsampled (e.g. 0.1). Predictions are then recalibrated to
        the full population, ``q = p / (p + (1 - p) / rate)`` (He et al.,
        ADKDD'14), i.e. ``log(rate)`` added to the logit, in
        :meth:`predict_proba`, :meth:`decision_function` and the sparse
        predictor alike. Training and the validation scores use the sampled
        rows as they are. None (or 1) changes nothing.""",
    ),
    "random_state": Param(
        None,
        anything,
        """\
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, dropout, shuffling and the validation
        split. The same int gives identical predictions; the caller's global
        torch RNG is left untouched.""",
    ),
    "verbose": Param(
        0,
        anything,
        """\
    verbose : int, default=0
        0 is silent; 1 prints a table of the epoch metrics (plain text off a
        terminal) and, on a terminal, a progress bar. The epoch rows also go
        to the ``"sklearn_deeplight"`` logger at INFO, whatever ``verbose``.""",
    ),
    "callbacks": Param(
        None,
        anything,
        """\
    callbacks : list of (str, Callback) or None, default=None
        Extra skorch callbacks, e.g.
        ``[("prune", DeepLightPruning(dnn=0.9))]``. Their parameters are
        reachable as ``callbacks__<name>__<param>`` (GridSearchCV).""",
    ),
}

#: The parameters every classifier has: ``numeric_fields`` first, the model
#: parameters after it, then these.
BASE_PARAMS = (
    "l2",
    "embedding_l2",
    "lr",
    "batch_size",
    "max_epochs",
    "validation_fraction",
    "patience",
    "lr_patience",
    "negative_sampling_rate",
    "random_state",
    "verbose",
    "callbacks",
)

KWARGS_DOC = """\
    **kwargs : dict
        Routed skorch parameters: ``module__*`` (the torch module's),
        ``optimizer__*``, ``iterator_train__*``, ``iterator_valid__*``,
        ``criterion__*``. An unknown name raises a ValueError at fit that
        lists the valid ones."""

#: The description of skorch's own parameters (listed by name in the
#: docstring's Other Parameters section, from the signature).
OTHER_PARAMS_TEXT = """\
        skorch's ``NeuralNetBinaryClassifier`` parameters, with this
        library's defaults for ``module`` (the model's torch module),
        ``optimizer`` (``torch.optim.Adam``) and ``train_split`` (None:
        ``validation_fraction`` makes the split; a ``train_split`` given
        replaces it). ``threshold`` (default 0.5) is :meth:`predict`'s
        decision threshold; ``device`` is checked at fit (``"cuda"`` without
        a GPU raises a ValueError)."""


def signature_names(model_params: Sequence[str]) -> tuple[str, ...]:
    """Parameter names of a classifier, in constructor order."""
    return ("numeric_fields", *model_params, *BASE_PARAMS)


def check_params(
    est: Any, names: Sequence[str], table: dict[str, Param] = PARAMS
) -> None:
    """Check each declared parameter of ``est``; ValueError names the first
    parameter at fault. ``table``: the shared :data:`PARAMS` plus a class's
    own (``_own_params``)."""
    for name in names:
        table[name].check(name, getattr(est, name))


def parameters_doc(
    model_params: Sequence[str], table: dict[str, Param] = PARAMS
) -> str:
    """The numpydoc Parameters entries of a classifier."""
    entries = [table[name].doc for name in signature_names(model_params)]
    return "\n".join([*entries, KWARGS_DOC])
