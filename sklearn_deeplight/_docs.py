"""Docstring pieces shared by the seven classifiers."""

from __future__ import annotations

__all__ = ["compose_doc"]

INPUT_CONTRACT = """\
    **Input.** ``X`` is a 2-D array-like or a pandas DataFrame of shape
    (n_samples, n_fields), one column per field. A categorical field holds
    non-negative integer category codes (kept as int64 end to end); a numeric
    field holds a real value that scales the field's single embedding vector
    (``x * e_field``, as in the paper). Which fields are numeric is
    ``numeric_fields``. Per-field cardinalities are learnt at fit
    (``field_dims_``). At predict time a code never seen in fit, a negative
    code, or a missing value (NaN / None) in a categorical field maps to that
    field's out-of-vocabulary embedding; at fit a missing value trains that
    embedding. NaN or inf in a numeric field, a non-integer or negative code
    at fit, a wrong number of columns, strings, empty input, or ``y`` with other
    than two classes raise ``ValueError`` naming the column and the value.
    Raw logs are turned into this matrix by
    :class:`~sklearn_deeplight.FieldEncoder`."""

COMMON_PARAMS = """\
    numeric_fields : "auto", None or list of int or str, default="auto"
        Columns that hold numeric values rather than category codes, as
        positions or DataFrame column names. ``"auto"`` takes the float columns
        of a DataFrame as numeric (what :class:`~sklearn_deeplight.FieldEncoder`
        outputs) and no column of an array; None means all fields are
        categorical."""

COMMON_TAIL = """\
    l2 : float, default=3e-7
        L2 penalty on all parameters, applied as Adam's (coupled) weight decay
        as in the paper and the authors' code.
    embedding_l2 : float, default=0.0
        Embedding regulariser with FuxiCTR's meaning: ``(embedding_l2 / 2)``
        times the squared norm of the embedding tables, added to each training
        batch's loss. BARS/FuxiCTR settings use values around 1e-5 to 1e-1.
    lr : float, default=1e-3
        Adam's learning rate.
    batch_size : int, default=2048
        Samples per training batch (also the prediction batch size unless
        ``iterator_valid__batch_size`` is given).
    max_epochs : int, default=10
        Passes over the training data.
    validation_fraction : float or None, default=0.1
        Fraction of the training data held out (stratified, drawn from
        ``random_state``) to compute ``valid_loss``, ``valid_auc`` and
        ``valid_logloss`` in ``history_`` each epoch. None trains on all data.
    patience : int or None, default=None
        Early stopping: stop when ``valid_auc`` has not improved for
        ``patience`` epochs and restore the best epoch's weights. The count
        restarts at a learning-rate decay (``lr_patience``) that follows an
        improvement, so a decay gets ``patience`` epochs to act. With
        ``DeepLightPruning``, only epochs at the full sparsity targets count.
        None trains for ``max_epochs``.
    lr_patience : int or None, default=None
        Divide the learning rate by 10 when ``valid_loss`` has not improved
        for more than ``lr_patience`` epochs (``ReduceLROnPlateau``; 0 decays
        after every epoch without improvement). The recommended pair, as in
        BARS/FuxiCTR, is ``lr_patience=1`` with ``patience=2``.
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, dropout, shuffling and the validation
        split. The same int gives identical predictions; the caller's global
        torch RNG is left untouched.
    verbose : int, default=0
        0 is silent; 1 prints a table of the epoch metrics and a progress bar.
    callbacks : list of (str, Callback) or None, default=None
        Extra skorch callbacks, e.g.
        ``[("prune", DeepLightPruning(dnn=0.9))]``. Their parameters are
        reachable as ``callbacks__<name>__<param>`` (GridSearchCV).
    **kwargs : dict
        Further skorch ``NeuralNetBinaryClassifier`` parameters (``module``,
        ``module__*``, ``optimizer``, ``optimizer__*``, ``threshold``,
        ``warm_start``, ``device``, ``train_split``...). ``train_split``, when
        given, replaces ``validation_fraction``.

    Attributes
    ----------
    classes_ : ndarray of shape (2,)
        The two labels, in the order of ``predict_proba``'s columns.
    field_dims_ : ndarray of int64 of shape (n_fields,)
        Cardinality of each field learnt at fit (largest code + 1; 1 for a
        numeric field). Each categorical field also has one
        out-of-vocabulary row.
    numeric_fields_ : ndarray of int64
        Positions of the numeric fields.
    offsets_ : ndarray of int64 of shape (n_fields,)
        First row of each field in the concatenated embedding table.
    n_features_in_ : int
        Number of fields.
    feature_names_in_ : ndarray of str
        Column names, when fitted on a DataFrame.
    module_ : torch.nn.Module
        The fitted network.
    history_ : skorch.history.History
        Per-epoch metrics (``train_loss``, ``valid_loss``, ``valid_auc``,
        ``valid_logloss``, ``dur``, and those of callbacks).

    See Also
    --------
    DeepFwFMClassifier : The DeepLight model.
    DeepLightPruning : Structural pruning while training.
    FieldEncoder : From raw click-log columns to field-indexed input."""

EXAMPLE = """\
    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_deeplight import {name}
    >>> rng = np.random.RandomState(0)
    >>> X = rng.randint(0, 5, size=(200, 4))
    >>> y = (X[:, 0] == X[:, 1]).astype(int)
    >>> clf = {name}({params}max_epochs=2, random_state=0).fit(X, y)
    >>> clf.predict_proba(X[:3]).shape
    (3, 2)
"""

_SMALL = {
    "LRClassifier": "",
    "FMClassifier": "embedding_dim=4, ",
    "FwFMClassifier": "embedding_dim=4, ",
}


def compose_doc(name: str, head: str, model_params: str) -> str:
    """Assemble a classifier's numpydoc docstring."""
    params = _SMALL.get(name, "embedding_dim=4, hidden_units=(8,), ")
    if name == "XDeepFMClassifier":
        params += "cin_layer_sizes=(4, 2), "
    body = "\n\n".join([head.rstrip(), INPUT_CONTRACT])
    parameters = "\n".join(
        p for p in (COMMON_PARAMS, model_params.strip("\n"), COMMON_TAIL) if p
    )
    return (
        f"{body}\n\n    Parameters\n    ----------\n{parameters}\n\n"
        + EXAMPLE.format(name=name, params=params)
        + "    "
    )
