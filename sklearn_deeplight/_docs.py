"""Docstring pieces shared by the classifiers (parameters: ``_params``)."""

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

ATTRIBUTES = """\
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


def compose_doc(
    name: str, head: str, model_params: tuple[str, ...], table: dict | None = None
) -> str:
    """Assemble a classifier's numpydoc docstring.

    ``head`` is the class's own summary; the Parameters section is built from
    the declared parameters (:mod:`sklearn_deeplight._params`), the example
    from the model's small settings in the registry.
    """
    from ._estimator_api import skorch_parameters
    from ._params import OTHER_PARAMS_TEXT, PARAMS, parameters_doc
    from ._registry import get_model

    small = get_model(name).small
    params = "".join(f"{key}={value!r}, " for key, value in small.items())
    body = "\n\n".join([head.rstrip(), INPUT_CONTRACT])
    entries = parameters_doc(model_params, table or PARAMS)
    skorch_names = [p.name for p in skorch_parameters({}) if p.name not in PARAMS]
    other = (
        "    Other Parameters\n    ----------------\n    "
        + ", ".join(skorch_names)
        + " : object\n"
        + OTHER_PARAMS_TEXT
    )
    return (
        f"{body}\n\n    Parameters\n    ----------\n{entries}"
        f"\n\n{other}\n\n{ATTRIBUTES}\n\n"
        + EXAMPLE.format(name=name, params=params)
        + "    "
    )
