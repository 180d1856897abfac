"""Torch modules of the seven field-aware CTR models.

The modules hold no scikit-learn code. Every module takes two tensors of shape
(batch, n_fields): ``xi``, the row of each field's feature in one concatenated
embedding table (int64), and ``xv``, the field's value (1 for a categorical
field, the numeric value for a numeric field). The field embedding is
``e_f = xv_f * E[xi_f]`` as in the paper and the authors' code.

Parameter names are part of the library's contract (the pruning callback and
the sparse predictor read them):

- ``embedding.weight``: (n_features, k) second-order embeddings;
- ``linear.weight``: (n_features, 1) per-feature scalar, or (n_features, k)
  per-feature vector; ``field_linear``: (n_fields, k), the vector per field of
  paper eq. 6;
- ``field_pairs``: (n_fields * (n_fields - 1) / 2,) the upper triangle of the
  symmetric field-pair matrix R, pairs in ``torch.triu_indices`` order;
- ``dnn.layers.<i>`` Linear, ``dnn.norms.<i>`` BatchNorm1d, ``dnn.out`` the
  output Linear without bias;
- ``cin.layers.<i>`` Linear (a 1x1 convolution), ``cin.out`` Linear, no bias;
- ``bias``: the one global bias.

Each module writes its own torch-free description for the sparse predictor
(:meth:`_CTRModule.to_spec`, blocks of :mod:`sklearn_deeplight._spec`) through
the exporter's weight reader, which fails on any weight left unread.

Each module declares what DeepLight may prune (:meth:`_CTRModule.prunable_parts`):
the components, the parameters of each, and whether a component gets one
magnitude threshold per parameter tensor (per layer) or one across all of
them. The pruning callback reads that declaration and knows no attribute
names.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from . import _spec

__all__ = [
    "LRModule",
    "FMModule",
    "FwFMModule",
    "DeepFMModule",
    "NFMModule",
    "XDeepFMModule",
    "DeepFwFMModule",
    "DCNv2Module",
]

LINEAR_TERMS = ("scalar", "feature_vector", "field_vector")


@dataclass(frozen=True)
class PrunablePart:
    """One prunable component of a module, as the module declares it.

    Parameters
    ----------
    params : tuple of (str, torch.nn.Parameter)
        The parameters pruned, with their names in the module.
    per_layer : bool
        True: one magnitude threshold per parameter tensor (the DNN's and
        CIN's layers); False: one threshold across all of them.
    """

    params: tuple[tuple[str, nn.Parameter], ...]
    per_layer: bool


class _LayerStack(nn.Module):
    """Shared parts of the MLP, the CIN and the cross network: ``layers``
    (Linear, their weights pruned with one threshold per layer) and an
    ``out`` Linear without bias (never pruned)."""

    layers: nn.ModuleList
    out: nn.Linear

    def _init_weights(self) -> None:
        for layer in self.layers:
            nn.init.xavier_normal_(layer.weight)
            nn.init.zeros_(layer.bias)
        nn.init.xavier_normal_(self.out.weight)

    def prunable(self, prefix: str) -> PrunablePart:
        """The weight matrices of ``layers`` (not their biases, nor ``out``)."""
        params = tuple(
            (f"{prefix}.layers.{i}.weight", layer.weight)
            for i, layer in enumerate(self.layers)
        )
        return PrunablePart(params, per_layer=True)

    def _read_layers(self, read, prefix: str):
        """``[(W, b) per layer]`` and the output vector, through ``read``."""
        layers = [
            (
                read.array(f"{prefix}.layers.{i}.weight"),
                read.array(f"{prefix}.layers.{i}.bias"),
            )
            for i in range(len(self.layers))
        ]
        return layers, read.array(f"{prefix}.out.weight").reshape(-1)


class MLP(_LayerStack):
    """ReLU feed-forward network with one output logit and no output bias.

    Parameters
    ----------
    in_features : int
        Input width.
    hidden_units : sequence of int
        Width of each hidden layer.
    dropout : float
        Dropout rate after each hidden layer.
    batch_norm : bool
        Batch normalisation after each hidden Linear, before the ReLU.
    """

    def __init__(
        self,
        in_features: int,
        hidden_units: Sequence[int],
        dropout: float,
        batch_norm: bool,
    ):
        super().__init__()
        widths = [in_features, *hidden_units]
        self.layers = nn.ModuleList(
            nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:])
        )
        self.norms = nn.ModuleList(
            nn.BatchNorm1d(b) if batch_norm else nn.Identity() for b in widths[1:]
        )
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(widths[-1], 1, bias=False)
        self._init_weights()

    def to_spec(self, read, prefix: str, input: str) -> _spec.MLP:
        """The network as an :class:`~sklearn_deeplight._spec.MLP` block."""
        layers = [
            read.folded_linear(f"{prefix}.layers.{i}", f"{prefix}.norms.{i}")
            for i in range(len(self.layers))
        ]
        return _spec.MLP.from_dense(
            input, layers, read.array(f"{prefix}.out.weight").reshape(-1)
        )

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        for layer, norm in zip(self.layers, self.norms):
            h = self.dropout(torch.relu(norm(layer(h))))
        return self.out(h).squeeze(-1)


class CIN(_LayerStack):
    """Compressed Interaction Network of xDeepFM (Lian et al., KDD'18).

    Layer ``l`` forms every product of its ``H_{l-1}`` feature maps with the
    ``m`` field embeddings (a batched outer product over the embedding axis)
    and compresses the ``H_{l-1} * m`` maps to ``H_l`` with a 1x1 convolution
    (``layers[l]``, a Linear over the map axis). With ``split_half``, half of
    each non-final layer's maps go to the output and half to the next layer.
    The output sums every kept map over the embedding axis and projects the
    result to one logit (``out``). Activation is the identity, as in the
    xDeepFM paper.
    """

    def __init__(self, n_fields: int, layer_sizes: Sequence[int], split_half: bool):
        super().__init__()
        self.split_half = split_half
        self.layers = nn.ModuleList()
        self.keep = []
        prev = n_fields
        out_width = 0
        for i, size in enumerate(layer_sizes):
            self.layers.append(nn.Linear(prev * n_fields, size))
            last = i == len(layer_sizes) - 1
            if split_half and not last:
                nxt, kept = size // 2, size - size // 2
            else:
                nxt, kept = size, size
            self.keep.append(kept)
            out_width += kept
            prev = nxt
        self.out = nn.Linear(out_width, 1, bias=False)
        self._init_weights()

    def to_spec(self, read, prefix: str) -> _spec.CIN:
        """The network as a :class:`~sklearn_deeplight._spec.CIN` block."""
        layers, out = self._read_layers(read, prefix)
        return _spec.CIN.from_dense(layers, self.keep, out)

    def forward(self, x0: torch.Tensor) -> torch.Tensor:
        batch, m, k = x0.shape
        h = x0
        pooled = []
        for layer, kept in zip(self.layers, self.keep):
            z = (h.unsqueeze(2) * x0.unsqueeze(1)).reshape(batch, -1, k)
            # 1x1 convolution over the H*m maps: (B, k, H*m) @ W^T -> (B, H_l, k)
            h_new = layer(z.transpose(1, 2)).transpose(1, 2)
            out, h = h_new[:, -kept:], h_new[:, : h_new.shape[1] - kept]
            if h.shape[1] == 0:
                h = h_new
            pooled.append(out.sum(-1))
        return self.out(torch.cat(pooled, dim=1)).squeeze(-1)


class CrossNetwork(_LayerStack):
    """DCN-V2's cross network (Wang et al., WWW'21), full-rank.

    ``x_{l+1} = x_0 * (W_l x_l + b_l) + x_l`` on the concatenated field
    embeddings ``x_0``; ``out`` projects the last ``x_L`` to one logit.
    """

    def __init__(self, in_features: int, n_layers: int):
        super().__init__()
        self.layers = nn.ModuleList(
            nn.Linear(in_features, in_features) for _ in range(n_layers)
        )
        self.out = nn.Linear(in_features, 1, bias=False)
        self._init_weights()

    def to_spec(self, read, prefix: str) -> _spec.Cross:
        """The network as a :class:`~sklearn_deeplight._spec.Cross` block."""
        layers, out = self._read_layers(read, prefix)
        return _spec.Cross.from_dense(layers, out)

    def forward(self, x0: torch.Tensor) -> torch.Tensor:
        x = x0
        for layer in self.layers:
            x = x0 * layer(x) + x
        return self.out(x).squeeze(-1)


class _CTRModule(nn.Module):
    """Shared body of the seven models: embeddings, linear term, interactions.

    Parameters
    ----------
    field_dims : sequence of int
        Rows of each field's block of the concatenated embedding table.
    embedding_dim : int
        Embedding size ``k``.
    linear_term : {"scalar", "feature_vector", "field_vector"} or None
        First-order term: a scalar per feature (w * x), a vector per feature
        (<e_i, w_i>), or a vector per field (<e_i, v_F(i)>, paper eq. 6).
    interaction : {"fm", "fwfm"} or None
        Second-order term added to the logit.
    dnn_input : {"concat", "bi"} or None
        Input of the DNN: the concatenated embeddings, or the bi-interaction
        pooling vector of NFM.
    hidden_units, dropout, batch_norm
        DNN shape, see :class:`MLP`.
    cin_layer_sizes : sequence of int or None
        CIN layers of xDeepFM.
    cin_split_half : bool
        See :class:`CIN`.
    cross_layers : int or None
        Layers of DCN-V2's :class:`CrossNetwork` on the concatenated
        embeddings.
    """

    def __init__(
        self,
        field_dims: Sequence[int],
        *,
        embedding_dim: int = 10,
        linear_term: str | None = "scalar",
        interaction: str | None = None,
        dnn_input: str | None = None,
        hidden_units: Sequence[int] = (400, 400, 400),
        dropout: float = 0.5,
        batch_norm: bool = False,
        cin_layer_sizes: Sequence[int] | None = None,
        cin_split_half: bool = True,
        cross_layers: int | None = None,
        use_embedding: bool = True,
    ):
        super().__init__()
        n_fields = len(field_dims)
        n_features = int(sum(field_dims))
        k = embedding_dim
        self.n_fields = n_fields
        self.linear_term = linear_term
        self.interaction = interaction
        self.dnn_input = dnn_input
        self.bias = nn.Parameter(torch.zeros(()))
        if use_embedding:
            self.embedding = nn.Embedding(n_features, k)
            nn.init.normal_(self.embedding.weight, std=0.01)
        if linear_term == "scalar":
            self.linear = nn.Embedding(n_features, 1)
            nn.init.zeros_(self.linear.weight)
        elif linear_term == "feature_vector":
            self.linear = nn.Embedding(n_features, k)
            nn.init.normal_(self.linear.weight, std=0.01)
        elif linear_term == "field_vector":
            self.field_linear = nn.Parameter(torch.empty(n_fields, k))
            nn.init.normal_(self.field_linear, std=math.sqrt(2.0 / (n_fields + k)))
        elif linear_term is not None:
            raise ValueError(
                f"linear_term must be one of {LINEAR_TERMS}, got {linear_term!r}."
            )
        if interaction == "fwfm":
            rows, cols = torch.triu_indices(n_fields, n_fields, offset=1)
            self.register_buffer("pair_index", rows * n_fields + cols, persistent=False)
            self.field_pairs = nn.Parameter(
                torch.randn(rows.shape[0]) * math.sqrt(0.5 / n_fields)
            )
        if dnn_input == "concat":
            self.dnn = MLP(n_fields * k, hidden_units, dropout, batch_norm)
        elif dnn_input == "bi":
            self.dnn = MLP(k, hidden_units, dropout, batch_norm)
        if cin_layer_sizes is not None:
            self.cin = CIN(n_fields, cin_layer_sizes, cin_split_half)
        if cross_layers is not None:
            self.cross = CrossNetwork(n_fields * k, cross_layers)

    def embed(self, xi: torch.Tensor, xv: torch.Tensor) -> torch.Tensor:
        """Field embeddings ``e_f = xv_f * E[xi_f]``, shape (batch, n_fields, k)."""
        return self.embedding(xi) * xv.unsqueeze(-1)

    def forward(self, xi: torch.Tensor, xv: torch.Tensor) -> torch.Tensor:
        if xi.shape[0] == 1 and not self.training:
            # BLAS takes a GEMV path for one row whose rounding differs from
            # GEMM's; scoring two copies keeps a sample's logit independent
            # of the batch it is scored in.
            return self.forward(xi.expand(2, -1), xv.expand(2, -1))[:1]
        logit = self.bias.expand(xi.shape[0])
        e = self.embed(xi, xv) if hasattr(self, "embedding") else None
        if self.linear_term == "scalar":
            logit = logit + (self.linear(xi).squeeze(-1) * xv).sum(1)
        elif self.linear_term == "feature_vector":
            logit = logit + (self.linear(xi) * e).sum((1, 2))
        elif self.linear_term == "field_vector":
            logit = logit + (e * self.field_linear).sum((1, 2))
        if self.interaction == "fm" or self.dnn_input == "bi":
            s = e.sum(1)
            bi = 0.5 * (s * s - (e * e).sum(1))
        if self.interaction == "fm":
            logit = logit + bi.sum(1)
        elif self.interaction == "fwfm":
            gram = torch.bmm(e, e.transpose(1, 2)).flatten(1)
            logit = logit + gram[:, self.pair_index] @ self.field_pairs
        if self.dnn_input == "concat":
            logit = logit + self.dnn(e.flatten(1))
        elif self.dnn_input == "bi":
            logit = logit + self.dnn(bi)
        if hasattr(self, "cin"):
            logit = logit + self.cin(e)
        if hasattr(self, "cross"):
            logit = logit + self.cross(e.flatten(1))
        return logit

    def to_spec(self, read, layout: _spec.FieldLayout) -> _spec.ModelSpec:
        """This model's torch-free description.

        Parameters
        ----------
        read : sklearn_deeplight._export.WeightReader
            Hands out float64 copies of the weights and checks afterwards
            that every weight was read.
        layout : sklearn_deeplight._spec.FieldLayout
            The estimator's field layout.

        Returns
        -------
        spec : sklearn_deeplight._spec.ModelSpec
            Not yet validated (the exporter does it).
        """
        bias = float(read.array("bias").reshape(()))
        if hasattr(self, "embedding"):
            emb = read.array("embedding.weight")
        else:
            emb = np.zeros((layout.n_rows, 0), dtype=np.float64)
        blocks: list[_spec.Block] = []
        if self.linear_term == "scalar":
            weights = read.array("linear.weight").reshape(-1)
        elif self.linear_term == "feature_vector":
            weights = read.array("linear.weight")
        elif self.linear_term == "field_vector":
            weights = read.array("field_linear")
        if self.linear_term is not None:
            blocks.append(_spec.LinearTerm(self.linear_term, weights))
        if self.interaction == "fm":
            blocks.append(_spec.FM())
        elif self.interaction == "fwfm":
            r = read.array("field_pairs")
            blocks.append(_spec.FieldPairs.from_upper_triangle(r, self.n_fields))
        if self.dnn_input is not None:
            blocks.append(self.dnn.to_spec(read, "dnn", self.dnn_input))
        if hasattr(self, "cin"):
            blocks.append(self.cin.to_spec(read, "cin"))
        if hasattr(self, "cross"):
            blocks.append(self.cross.to_spec(read, "cross"))
        return _spec.ModelSpec(layout, emb, bias, tuple(blocks))

    def prunable_parts(self) -> dict[str, PrunablePart]:
        """The components DeepLight prunes in this module, in report order.

        ``embeddings``: the second-order table (numeric fields' rows
        included), one global threshold; ``dnn``: the DNN's hidden-layer
        weights, one threshold per layer; ``field_pairs``: R's pairs, one
        threshold; ``cin``: the CIN's filter matrices, one per layer.
        First-order terms, biases, BatchNorm and output layers are never
        pruned.

        Returns
        -------
        parts : dict of str to PrunablePart
            Only the components this module has.
        """
        parts = {}
        if hasattr(self, "embedding"):
            parts["embeddings"] = PrunablePart(
                (("embedding.weight", self.embedding.weight),), per_layer=False
            )
        if hasattr(self, "dnn"):
            parts["dnn"] = self.dnn.prunable("dnn")
        if hasattr(self, "field_pairs"):
            parts["field_pairs"] = PrunablePart(
                (("field_pairs", self.field_pairs),), per_layer=False
            )
        if hasattr(self, "cin"):
            parts["cin"] = self.cin.prunable("cin")
        if hasattr(self, "cross"):
            parts["cross"] = self.cross.prunable("cross")
        return parts

    def embedding_penalty(self) -> torch.Tensor:
        """Squared L2 norm of every embedding table (``nn.Embedding`` weights)."""
        total = self.bias.new_zeros(())
        for mod in self.modules():
            if isinstance(mod, nn.Embedding):
                total = total + mod.weight.pow(2).sum()
        return total


class LRModule(_CTRModule):
    """Logistic regression: w0 + sum of per-feature weights (times values)."""

    def __init__(self, field_dims: Sequence[int]):
        super().__init__(field_dims, linear_term="scalar", use_embedding=False)


class FMModule(_CTRModule):
    """Factorization machine (Rendle), the O(nk) sum-of-squares form."""

    def __init__(self, field_dims: Sequence[int], embedding_dim: int = 10):
        super().__init__(
            field_dims, embedding_dim=embedding_dim, linear_term="scalar",
            interaction="fm",
        )  # fmt: skip


class FwFMModule(_CTRModule):
    """Field-weighted FM, paper eq. 6 (linear term configurable)."""

    def __init__(
        self,
        field_dims: Sequence[int],
        embedding_dim: int = 10,
        linear_term: str = "field_vector",
    ):
        super().__init__(
            field_dims, embedding_dim=embedding_dim, linear_term=linear_term,
            interaction="fwfm",
        )  # fmt: skip


class DeepFMModule(_CTRModule):
    """DeepFM: FM plus a DNN on the concatenated (shared) embeddings."""

    def __init__(
        self,
        field_dims: Sequence[int],
        embedding_dim: int = 10,
        hidden_units: Sequence[int] = (400, 400, 400),
        dropout: float = 0.5,
        batch_norm: bool = False,
    ):
        super().__init__(
            field_dims, embedding_dim=embedding_dim, linear_term="scalar",
            interaction="fm", dnn_input="concat", hidden_units=hidden_units,
            dropout=dropout, batch_norm=batch_norm,
        )  # fmt: skip


class NFMModule(_CTRModule):
    """NFM (He and Chua, SIGIR'17): bi-interaction pooling, then the MLP."""

    def __init__(
        self,
        field_dims: Sequence[int],
        embedding_dim: int = 10,
        hidden_units: Sequence[int] = (400, 400, 400),
        dropout: float = 0.5,
        batch_norm: bool = False,
    ):
        super().__init__(
            field_dims, embedding_dim=embedding_dim, linear_term="scalar",
            dnn_input="bi", hidden_units=hidden_units, dropout=dropout,
            batch_norm=batch_norm,
        )  # fmt: skip


class XDeepFMModule(_CTRModule):
    """xDeepFM: linear term + CIN + DNN on shared embeddings."""

    def __init__(
        self,
        field_dims: Sequence[int],
        embedding_dim: int = 10,
        hidden_units: Sequence[int] = (400, 400, 400),
        dropout: float = 0.5,
        batch_norm: bool = False,
        cin_layer_sizes: Sequence[int] = (100, 100, 50),
        cin_split_half: bool = True,
    ):
        super().__init__(
            field_dims, embedding_dim=embedding_dim, linear_term="scalar",
            dnn_input="concat", hidden_units=hidden_units, dropout=dropout,
            batch_norm=batch_norm, cin_layer_sizes=cin_layer_sizes,
            cin_split_half=cin_split_half,
        )  # fmt: skip


class DeepFwFMModule(_CTRModule):
    """DeepFwFM, paper eq. 5: FwFM + DNN with one global bias."""

    def __init__(
        self,
        field_dims: Sequence[int],
        embedding_dim: int = 10,
        hidden_units: Sequence[int] = (400, 400, 400),
        dropout: float = 0.5,
        batch_norm: bool = False,
        linear_term: str = "field_vector",
    ):
        super().__init__(
            field_dims, embedding_dim=embedding_dim, linear_term=linear_term,
            interaction="fwfm", dnn_input="concat", hidden_units=hidden_units,
            dropout=dropout, batch_norm=batch_norm,
        )  # fmt: skip


class DCNv2Module(_CTRModule):
    """DCN-V2 (Wang et al., WWW'21): a cross network and a DNN in parallel on
    the concatenated embeddings, their outputs summed (the paper's final
    Linear over [x_L; h_L], split into one output vector per network)."""

    def __init__(
        self,
        field_dims: Sequence[int],
        embedding_dim: int = 10,
        hidden_units: Sequence[int] = (400, 400, 400),
        dropout: float = 0.5,
        batch_norm: bool = False,
        n_cross_layers: int = 3,
    ):
        super().__init__(
            field_dims, embedding_dim=embedding_dim, linear_term=None,
            dnn_input="concat", hidden_units=hidden_units, dropout=dropout,
            batch_norm=batch_norm, cross_layers=n_cross_layers,
        )  # fmt: skip
