"""The public CTR classifiers: thin classes over the private base.

Each class gives its summary, its torch module and the model parameters it
adds (``_module_params``, declared once in :mod:`sklearn_deeplight._params`);
the base class builds its constructor signature, parameter checks and
docstring from them (:meth:`_BaseFieldClassifier.__init_subclass__`). All
logic is in :class:`~sklearn_deeplight._base._BaseFieldClassifier`; the
registry (:mod:`sklearn_deeplight._registry`) lists them.
"""

from __future__ import annotations

from ._base import _BaseFieldClassifier, _FieldPairMixin
from ._modules import (
    DCNv2Module,
    DeepFMModule,
    DeepFwFMModule,
    FMModule,
    FwFMModule,
    LRModule,
    NFMModule,
    XDeepFMModule,
)
from ._params import Param, positive_int

__all__ = [
    "LRClassifier",
    "FMClassifier",
    "FwFMClassifier",
    "DeepFMClassifier",
    "NFMClassifier",
    "XDeepFMClassifier",
    "DeepFwFMClassifier",
    "DCNv2Classifier",
]

_DNN = ("embedding_dim", "hidden_units", "dropout", "batch_norm")


class LRClassifier(_BaseFieldClassifier):
    """Logistic regression on field-indexed input.

    The logit is ``w0 + sum_f w[x_f] * v_f``: one weight per category (and per
    numeric field, scaled by its value). The paper's LR baseline.
    """

    _module_cls = LRModule
    _module_params = ()


class FMClassifier(_BaseFieldClassifier):
    """Factorization machine (Rendle, 2010).

    Logistic regression plus ``sum_{i<j} <e_i, e_j>`` computed in O(nk) by the
    sum-of-squares identity.
    """

    _module_cls = FMModule
    _module_params = ("embedding_dim",)


class FwFMClassifier(_FieldPairMixin, _BaseFieldClassifier):
    """Field-weighted factorization machine (the paper's equation 6).

    ``w0 + sum_i <e_i, v_F(i)> + sum_{i<j} <e_i, e_j> R_F(i),F(j)`` with R a
    symmetric field-pair matrix (its diagonal unused), stored as its upper
    triangle. ``field_pair_importance()`` returns the learnt R.
    """

    _module_cls = FwFMModule
    _module_params = ("embedding_dim", "linear_term")


class DeepFMClassifier(_BaseFieldClassifier):
    """DeepFM (Guo et al., IJCAI'17).

    An FM plus a DNN on the concatenated embeddings, the two sharing the
    embeddings.
    """

    _module_cls = DeepFMModule
    _module_params = _DNN


class NFMClassifier(_BaseFieldClassifier):
    """Neural factorization machine (He and Chua, SIGIR'17).

    Linear term plus an MLP on the bi-interaction pooling vector
    ``0.5 * ((sum_i e_i)^2 - sum_i e_i^2)``. (The DeepLight authors' "NFM" is a
    different network; this is He and Chua's.)
    """

    _module_cls = NFMModule
    _module_params = _DNN


class XDeepFMClassifier(_BaseFieldClassifier):
    """xDeepFM (Lian et al., KDD'18).

    Linear term plus a Compressed Interaction Network plus a DNN, all on
    shared embeddings.
    """

    _module_cls = XDeepFMModule
    _module_params = (*_DNN, "cin_layer_sizes", "cin_split_half")


class DeepFwFMClassifier(_FieldPairMixin, _BaseFieldClassifier):
    """DeepFwFM, the DeepLight model (the paper's equation 5).

    A FwFM plus a DNN on the concatenated embeddings, with one global bias.
    Prune it while training with :class:`~sklearn_deeplight.DeepLightPruning`
    and serve it with :meth:`to_sparse`.
    """

    _module_cls = DeepFwFMModule
    _module_params = (*_DNN, "linear_term")


class DCNv2Classifier(_BaseFieldClassifier):
    """DCN-V2 (Wang et al., WWW'21).

    A cross network ``x_{l+1} = x_0 * (W_l x_l + b_l) + x_l`` and a DNN in
    parallel on the concatenated embeddings, their outputs summed with one
    global bias. DeepLight prunes the cross weights W_l as the ``cross``
    component (``DeepLightPruning(cross=...)``), beside the DNN and the
    embeddings.
    """

    _module_cls = DCNv2Module
    _module_params = (*_DNN, "n_cross_layers")
    _own_params = {
        "n_cross_layers": Param(
            3,
            positive_int(),
            """\
    n_cross_layers : int, default=3
        Layers of the (full-rank) cross network, each a square matrix over
        the concatenated embeddings (n_fields * embedding_dim wide).""",
        )
    }
