"""The seven public CTR classifiers: thin classes over the private base.

Generated layout, edited by hand: each class declares its parameters so that
``get_params`` and the documentation list them; all logic is in
:class:`~sklearn_deeplight._base._BaseFieldClassifier`.
"""

from __future__ import annotations

from ._base import _BaseFieldClassifier, _FieldPairMixin
from ._docs import compose_doc
from ._modules import (
    DeepFMModule,
    DeepFwFMModule,
    FMModule,
    FwFMModule,
    LRModule,
    NFMModule,
    XDeepFMModule,
)

__all__ = [
    "LRClassifier",
    "FMClassifier",
    "FwFMClassifier",
    "DeepFMClassifier",
    "NFMClassifier",
    "XDeepFMClassifier",
    "DeepFwFMClassifier",
]


class LRClassifier(_BaseFieldClassifier):
    __doc__ = compose_doc(
        "LRClassifier",
        """Logistic regression on field-indexed input.

    The logit is ``w0 + sum_f w[x_f] * v_f``: one weight per category (and per
    numeric field, scaled by its value). The paper's LR baseline.
""",
        """

""",
    )

    _module_cls = LRModule
    _module_params = ()

    def __init__(
        self,
        *,
        numeric_fields="auto",
        l2=3e-7,
        embedding_l2=0.0,
        lr=1e-3,
        batch_size=2048,
        max_epochs=10,
        validation_fraction=0.1,
        patience=None,
        lr_patience=None,
        random_state=None,
        verbose=0,
        callbacks=None,
        **kwargs,
    ):
        super().__init__(
            numeric_fields=numeric_fields,
            l2=l2,
            embedding_l2=embedding_l2,
            lr=lr,
            batch_size=batch_size,
            max_epochs=max_epochs,
            validation_fraction=validation_fraction,
            patience=patience,
            lr_patience=lr_patience,
            random_state=random_state,
            verbose=verbose,
            callbacks=callbacks,
            **kwargs,
        )


class FMClassifier(_BaseFieldClassifier):
    __doc__ = compose_doc(
        "FMClassifier",
        """Factorization machine (Rendle, 2010).

    Logistic regression plus ``sum_{i<j} <e_i, e_j>`` computed in O(nk) by the
    sum-of-squares identity.
""",
        """
    embedding_dim : int, default=10
        Size ``k`` of each feature's embedding vector (paper: 10 on Criteo, 20
        on Avazu).
""",
    )

    _module_cls = FMModule
    _module_params = ("embedding_dim",)

    def __init__(
        self,
        *,
        numeric_fields="auto",
        embedding_dim=10,
        l2=3e-7,
        embedding_l2=0.0,
        lr=1e-3,
        batch_size=2048,
        max_epochs=10,
        validation_fraction=0.1,
        patience=None,
        lr_patience=None,
        random_state=None,
        verbose=0,
        callbacks=None,
        **kwargs,
    ):
        self.embedding_dim = embedding_dim
        super().__init__(
            numeric_fields=numeric_fields,
            l2=l2,
            embedding_l2=embedding_l2,
            lr=lr,
            batch_size=batch_size,
            max_epochs=max_epochs,
            validation_fraction=validation_fraction,
            patience=patience,
            lr_patience=lr_patience,
            random_state=random_state,
            verbose=verbose,
            callbacks=callbacks,
            **kwargs,
        )


class FwFMClassifier(_FieldPairMixin, _BaseFieldClassifier):
    __doc__ = compose_doc(
        "FwFMClassifier",
        """Field-weighted factorization machine (the paper's equation 6).

    ``w0 + sum_i <e_i, v_F(i)> + sum_{i<j} <e_i, e_j> R_F(i),F(j)`` with R a
    symmetric field-pair matrix (its diagonal unused), stored as its upper
    triangle. ``field_pair_importance()`` returns the learnt R.
""",
        """
    embedding_dim : int, default=10
        Size ``k`` of each feature's embedding vector (paper: 10 on Criteo, 20
        on Avazu).
    linear_term : {"field_vector", "feature_vector", "scalar"}, default="field_vector"
        First-order term, in the FwFM paper's three forms: a vector per field
        ``<e_i, v_F(i)>`` (FiLV, the DeepLight paper's eq. 6), a vector per
        feature ``<e_i, w_i>`` (FeLV), or a scalar per feature ``w_i x_i``
        (LW). The choice can move AUC by several points.
""",
    )

    _module_cls = FwFMModule
    _module_params = ("embedding_dim", "linear_term")

    def __init__(
        self,
        *,
        numeric_fields="auto",
        embedding_dim=10,
        linear_term="field_vector",
        l2=3e-7,
        embedding_l2=0.0,
        lr=1e-3,
        batch_size=2048,
        max_epochs=10,
        validation_fraction=0.1,
        patience=None,
        lr_patience=None,
        random_state=None,
        verbose=0,
        callbacks=None,
        **kwargs,
    ):
        self.embedding_dim = embedding_dim
        self.linear_term = linear_term
        super().__init__(
            numeric_fields=numeric_fields,
            l2=l2,
            embedding_l2=embedding_l2,
            lr=lr,
            batch_size=batch_size,
            max_epochs=max_epochs,
            validation_fraction=validation_fraction,
            patience=patience,
            lr_patience=lr_patience,
            random_state=random_state,
            verbose=verbose,
            callbacks=callbacks,
            **kwargs,
        )


class DeepFMClassifier(_BaseFieldClassifier):
    __doc__ = compose_doc(
        "DeepFMClassifier",
        """DeepFM (Guo et al., IJCAI'17).

    An FM plus a DNN on the concatenated embeddings, the two sharing the
    embeddings.
""",
        """
    embedding_dim : int, default=10
        Size ``k`` of each feature's embedding vector (paper: 10 on Criteo, 20
        on Avazu).
    hidden_units : tuple of int, default=(400, 400, 400)
        Widths of the DNN's hidden layers (paper: 400x3 on Criteo, 300x3 on
        Avazu).
    dropout : float, default=0.5
        Dropout rate after each hidden layer of the DNN.
    batch_norm : bool, default=False
        Batch normalisation in the DNN after each hidden Linear. Off in the
        paper; on in the BARS/FuxiCTR benchmark settings.
""",
    )

    _module_cls = DeepFMModule
    _module_params = ("embedding_dim", "hidden_units", "dropout", "batch_norm")

    def __init__(
        self,
        *,
        numeric_fields="auto",
        embedding_dim=10,
        hidden_units=(400, 400, 400),
        dropout=0.5,
        batch_norm=False,
        l2=3e-7,
        embedding_l2=0.0,
        lr=1e-3,
        batch_size=2048,
        max_epochs=10,
        validation_fraction=0.1,
        patience=None,
        lr_patience=None,
        random_state=None,
        verbose=0,
        callbacks=None,
        **kwargs,
    ):
        self.embedding_dim = embedding_dim
        self.hidden_units = hidden_units
        self.dropout = dropout
        self.batch_norm = batch_norm
        super().__init__(
            numeric_fields=numeric_fields,
            l2=l2,
            embedding_l2=embedding_l2,
            lr=lr,
            batch_size=batch_size,
            max_epochs=max_epochs,
            validation_fraction=validation_fraction,
            patience=patience,
            lr_patience=lr_patience,
            random_state=random_state,
            verbose=verbose,
            callbacks=callbacks,
            **kwargs,
        )


class NFMClassifier(_BaseFieldClassifier):
    __doc__ = compose_doc(
        "NFMClassifier",
        """Neural factorization machine (He and Chua, SIGIR'17).

    Linear term plus an MLP on the bi-interaction pooling vector
    ``0.5 * ((sum_i e_i)^2 - sum_i e_i^2)``. (The DeepLight authors' "NFM" is a
    different network; this is He and Chua's.)
""",
        """
    embedding_dim : int, default=10
        Size ``k`` of each feature's embedding vector (paper: 10 on Criteo, 20
        on Avazu).
    hidden_units : tuple of int, default=(400, 400, 400)
        Widths of the DNN's hidden layers (paper: 400x3 on Criteo, 300x3 on
        Avazu).
    dropout : float, default=0.5
        Dropout rate after each hidden layer of the DNN.
    batch_norm : bool, default=False
        Batch normalisation in the DNN after each hidden Linear. Off in the
        paper; on in the BARS/FuxiCTR benchmark settings.
""",
    )

    _module_cls = NFMModule
    _module_params = ("embedding_dim", "hidden_units", "dropout", "batch_norm")

    def __init__(
        self,
        *,
        numeric_fields="auto",
        embedding_dim=10,
        hidden_units=(400, 400, 400),
        dropout=0.5,
        batch_norm=False,
        l2=3e-7,
        embedding_l2=0.0,
        lr=1e-3,
        batch_size=2048,
        max_epochs=10,
        validation_fraction=0.1,
        patience=None,
        lr_patience=None,
        random_state=None,
        verbose=0,
        callbacks=None,
        **kwargs,
    ):
        self.embedding_dim = embedding_dim
        self.hidden_units = hidden_units
        self.dropout = dropout
        self.batch_norm = batch_norm
        super().__init__(
            numeric_fields=numeric_fields,
            l2=l2,
            embedding_l2=embedding_l2,
            lr=lr,
            batch_size=batch_size,
            max_epochs=max_epochs,
            validation_fraction=validation_fraction,
            patience=patience,
            lr_patience=lr_patience,
            random_state=random_state,
            verbose=verbose,
            callbacks=callbacks,
            **kwargs,
        )


class XDeepFMClassifier(_BaseFieldClassifier):
    __doc__ = compose_doc(
        "XDeepFMClassifier",
        """xDeepFM (Lian et al., KDD'18).

    Linear term plus a Compressed Interaction Network plus a DNN, all on
    shared embeddings.
""",
        """
    embedding_dim : int, default=10
        Size ``k`` of each feature's embedding vector (paper: 10 on Criteo, 20
        on Avazu).
    hidden_units : tuple of int, default=(400, 400, 400)
        Widths of the DNN's hidden layers (paper: 400x3 on Criteo, 300x3 on
        Avazu).
    dropout : float, default=0.5
        Dropout rate after each hidden layer of the DNN.
    batch_norm : bool, default=False
        Batch normalisation in the DNN after each hidden Linear. Off in the
        paper; on in the BARS/FuxiCTR benchmark settings.
    cin_layer_sizes : tuple of int, default=(100, 100, 50)
        Feature maps of each CIN layer (xDeepFM paper's Criteo setting).
    cin_split_half : bool, default=True
        Send half of each non-final CIN layer's maps to the output and half
        to the next layer, as in xDeepFM.
""",
    )

    _module_cls = XDeepFMModule
    _module_params = (
        "embedding_dim",
        "hidden_units",
        "dropout",
        "batch_norm",
        "cin_layer_sizes",
        "cin_split_half",
    )

    def __init__(
        self,
        *,
        numeric_fields="auto",
        embedding_dim=10,
        hidden_units=(400, 400, 400),
        dropout=0.5,
        batch_norm=False,
        cin_layer_sizes=(100, 100, 50),
        cin_split_half=True,
        l2=3e-7,
        embedding_l2=0.0,
        lr=1e-3,
        batch_size=2048,
        max_epochs=10,
        validation_fraction=0.1,
        patience=None,
        lr_patience=None,
        random_state=None,
        verbose=0,
        callbacks=None,
        **kwargs,
    ):
        self.embedding_dim = embedding_dim
        self.hidden_units = hidden_units
        self.dropout = dropout
        self.batch_norm = batch_norm
        self.cin_layer_sizes = cin_layer_sizes
        self.cin_split_half = cin_split_half
        super().__init__(
            numeric_fields=numeric_fields,
            l2=l2,
            embedding_l2=embedding_l2,
            lr=lr,
            batch_size=batch_size,
            max_epochs=max_epochs,
            validation_fraction=validation_fraction,
            patience=patience,
            lr_patience=lr_patience,
            random_state=random_state,
            verbose=verbose,
            callbacks=callbacks,
            **kwargs,
        )


class DeepFwFMClassifier(_FieldPairMixin, _BaseFieldClassifier):
    __doc__ = compose_doc(
        "DeepFwFMClassifier",
        """DeepFwFM, the DeepLight model (the paper's equation 5).

    A FwFM plus a DNN on the concatenated embeddings, with one global bias.
    Prune it while training with :class:`~sklearn_deeplight.DeepLightPruning`
    and serve it with :meth:`to_sparse`.
""",
        """
    embedding_dim : int, default=10
        Size ``k`` of each feature's embedding vector (paper: 10 on Criteo, 20
        on Avazu).
    hidden_units : tuple of int, default=(400, 400, 400)
        Widths of the DNN's hidden layers (paper: 400x3 on Criteo, 300x3 on
        Avazu).
    dropout : float, default=0.5
        Dropout rate after each hidden layer of the DNN.
    batch_norm : bool, default=False
        Batch normalisation in the DNN after each hidden Linear. Off in the
        paper; on in the BARS/FuxiCTR benchmark settings.
    linear_term : {"field_vector", "feature_vector", "scalar"}, default="field_vector"
        First-order term, in the FwFM paper's three forms: a vector per field
        ``<e_i, v_F(i)>`` (FiLV, the DeepLight paper's eq. 6), a vector per
        feature ``<e_i, w_i>`` (FeLV), or a scalar per feature ``w_i x_i``
        (LW). The choice can move AUC by several points.
""",
    )

    _module_cls = DeepFwFMModule
    _module_params = (
        "embedding_dim",
        "hidden_units",
        "dropout",
        "batch_norm",
        "linear_term",
    )

    def __init__(
        self,
        *,
        numeric_fields="auto",
        embedding_dim=10,
        hidden_units=(400, 400, 400),
        dropout=0.5,
        batch_norm=False,
        linear_term="field_vector",
        l2=3e-7,
        embedding_l2=0.0,
        lr=1e-3,
        batch_size=2048,
        max_epochs=10,
        validation_fraction=0.1,
        patience=None,
        lr_patience=None,
        random_state=None,
        verbose=0,
        callbacks=None,
        **kwargs,
    ):
        self.embedding_dim = embedding_dim
        self.hidden_units = hidden_units
        self.dropout = dropout
        self.batch_norm = batch_norm
        self.linear_term = linear_term
        super().__init__(
            numeric_fields=numeric_fields,
            l2=l2,
            embedding_l2=embedding_l2,
            lr=lr,
            batch_size=batch_size,
            max_epochs=max_epochs,
            validation_fraction=validation_fraction,
            patience=patience,
            lr_patience=lr_patience,
            random_state=random_state,
            verbose=verbose,
            callbacks=callbacks,
            **kwargs,
        )
