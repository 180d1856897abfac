"""The torch-free description of a fitted CTR model: field layout plus blocks.

A :class:`ModelSpec` is what a fitted model *is*, independently of torch: the
:class:`FieldLayout` (which rows of the one concatenated embedding table
belong to which field), the embedding table, the global bias and a tuple of
typed blocks whose logits add up: :class:`LinearTerm`, :class:`FM`,
:class:`FieldPairs` (FwFM's R), :class:`MLP` (the DNN, on the concatenated
embeddings or NFM's bi-interaction vector), :class:`CIN` (xDeepFM) and
:class:`Cross` (DCN-V2).

Data flows one way through it:

- the exporter (:mod:`sklearn_deeplight._export`, over each torch module's
  ``to_spec``) is its only producer, and fails when a weight of the module is
  left unconsumed;
- the sparse predictor stores a spec's :meth:`ModelSpec.attributes` as its
  fitted attributes (the saved state) and rebuilds the spec from them
  (:meth:`ModelSpec.from_attributes`) to run the scipy engine block by block;
- the numba kernels pack their arrays from the spec
  (:func:`sklearn_deeplight._kernels.pack`);
- :func:`sklearn_deeplight.load` accepts a predictor only when its spec
  passes :meth:`ModelSpec.validate`.

The field-layout arithmetic (rows per field, offsets, table size) lives here
and nowhere else. A new block type is one class here: its weights, its
checks, its attributes on the predictor and its numpy forward.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

__all__ = [
    "CIN",
    "Cross",
    "FM",
    "MLP",
    "Block",
    "FieldLayout",
    "FieldPairs",
    "LinearTerm",
    "ModelSpec",
    "table_offsets",
    "table_sizes",
]

#: Largest embedding table the layout accepts (rows): far beyond any memory,
#: small enough that no sum of sizes or offsets wraps around int64.
MAX_TABLE_ROWS = 1 << 48
#: Samples per block of the CIN's numpy forward (its products are h * m wide).
_CIN_BLOCK = 256


def _require(cond: bool, what: str) -> None:
    if not cond:
        raise ValueError(what)


# ----------------------------------------------------------------------------
# Field layout
# ----------------------------------------------------------------------------
def table_sizes(field_dims: np.ndarray, numeric_mask: np.ndarray) -> np.ndarray:
    """Rows of each field's block of the embedding table.

    A categorical field with ``d`` known codes gets ``d + 1`` rows, the last
    one its out-of-vocabulary row; a numeric field gets one row.
    """
    return np.where(numeric_mask, 1, np.asarray(field_dims, dtype=np.int64) + 1)


def table_offsets(sizes: np.ndarray) -> np.ndarray:
    """First table row of each field's block (int64)."""
    sizes = np.asarray(sizes, dtype=np.int64)
    return np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)


def _int_vector(a: Any, what: str, length: int | None = None) -> np.ndarray:
    _require(
        type(a) is np.ndarray and a.ndim == 1 and a.dtype.kind in "iu",
        f"{what} must be a 1-D integer array",
    )
    if length is not None:
        _require(a.shape[0] == length, f"{what} must have {length} entries")
    return a


@dataclass(frozen=True, eq=False)
class FieldLayout:
    """Which rows of the concatenated embedding table belong to which field.

    Parameters
    ----------
    field_dims : ndarray of int64 of shape (n_fields,)
        Known codes per categorical field (1 for a numeric field).
    numeric_fields : ndarray of int64
        Positions of the numeric fields.
    """

    field_dims: np.ndarray
    numeric_fields: np.ndarray
    numeric_mask: np.ndarray = field(init=False, repr=False)
    sizes: np.ndarray = field(init=False, repr=False)
    offsets: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        dims = _int_vector(self.field_dims, "field_dims_")
        n = dims.shape[0]
        numeric = _int_vector(self.numeric_fields, "numeric_fields_")
        _require(n >= 1, "the layout needs at least one field")
        _require((dims >= 1).all(), "field_dims_ must be positive")
        _require(
            ((numeric >= 0) & (numeric < n)).all()
            and len(set(numeric.tolist())) == len(numeric),
            "numeric_fields_ must be distinct field positions",
        )
        # Python ints: a crafted size cannot wrap around int64.
        total = sum(int(d) + 1 for d in dims.tolist())
        _require(
            total <= MAX_TABLE_ROWS,
            f"field_dims_ ask for {total} table rows, above {MAX_TABLE_ROWS}",
        )
        mask = np.zeros(n, dtype=bool)
        mask[numeric] = True
        sizes = table_sizes(dims, mask)
        object.__setattr__(self, "numeric_mask", mask)
        object.__setattr__(self, "sizes", sizes)
        object.__setattr__(self, "offsets", table_offsets(sizes))

    @classmethod
    def from_mask(cls, field_dims, numeric_mask) -> FieldLayout:
        """The layout of ``field_dims`` with numeric fields given as a mask."""
        return cls(
            np.asarray(field_dims, dtype=np.int64),
            np.flatnonzero(np.asarray(numeric_mask, dtype=bool)).astype(np.int64),
        )

    @property
    def n_fields(self) -> int:
        """Number of fields."""
        return int(self.field_dims.shape[0])

    @property
    def n_rows(self) -> int:
        """Rows of the embedding table."""
        return int(self.sizes.sum())

    def check_offsets(self, offsets: Any) -> None:
        """Raise ValueError unless ``offsets`` are this layout's offsets."""
        _int_vector(offsets, "offsets_", self.n_fields)
        _require(
            np.array_equal(offsets, self.offsets), "offsets_ do not match field_dims_"
        )


# ----------------------------------------------------------------------------
# Blocks
# ----------------------------------------------------------------------------
def csr(W: np.ndarray) -> sp.csr_array:
    """float32 CSR of a dense weight matrix, explicit zeros removed."""
    m = sp.csr_array(np.asarray(W, dtype=np.float32))
    m.eliminate_zeros()
    m.sort_indices()
    return m


def _nnz(a: Any) -> int:
    if a is None:
        return 0
    if sp.issparse(a):
        return int(a.count_nonzero())
    return int(np.count_nonzero(a))


def _float_vector(a: Any, what: str, length: int) -> np.ndarray:
    _require(
        type(a) is np.ndarray and a.shape == (length,) and a.dtype.kind == "f",
        f"{what} must hold {length} floats",
    )
    return a


def _check_layers(layers: Any, biases: Any, what: str) -> list:
    _require(type(layers) is list, f"{what}_layers_ must be a list")
    _require(
        type(biases) is list and len(biases) == len(layers),
        f"{what}_biases_ must be a list of one bias per layer",
    )
    for i, (W, b) in enumerate(zip(layers, biases)):
        _require(
            sp.issparse(W) and W.format == "csr" and W.ndim == 2,
            f"{what} layer {i} must be a CSR matrix",
        )
        W.check_format(full_check=True)
        _require(W.dtype.kind == "f", f"{what} layer {i} must hold floats")
        _float_vector(b, f"{what} layer {i}: the bias", W.shape[0])
    return layers


class _Inputs:
    """The field embeddings of a batch and what several blocks share."""

    def __init__(self, e: np.ndarray) -> None:
        self.e = e  # (n, n_fields, k) float32, e_f = xv_f * E[xi_f]
        self._bi: np.ndarray | None = None

    @property
    def bi(self) -> np.ndarray:
        """The bi-interaction vector 0.5 * ((sum e)^2 - sum e^2), (n, k)."""
        if self._bi is None:
            e = self.e
            s = e.sum(axis=1)
            self._bi = np.float32(0.5) * (s * s - (e * e).sum(axis=1))
        return self._bi


class Block:
    """One additive term of the logit.

    Subclasses declare ``kind`` (their name in the spec), ``component`` (their
    key in the predictor's ``n_params_``), ``empty`` (the predictor's
    attributes when the model lacks the block) and implement
    :meth:`validate`, :meth:`weights`, :meth:`attributes`,
    :meth:`from_attributes` and :meth:`logits`.
    """

    kind: ClassVar[str]
    component: ClassVar[str]
    empty: ClassVar[dict[str, Any]] = {}

    def validate(self, layout: FieldLayout, k: int) -> None:
        """Raise ValueError unless the block fits the layout and ``k``."""
        raise NotImplementedError

    def weights(self) -> list[np.ndarray]:
        """The weight arrays (checked finite by :meth:`ModelSpec.validate`)."""
        raise NotImplementedError

    def n_params(self) -> int:
        """Stored nonzero parameters, biases included."""
        return sum(_nnz(w) for w in self.weights())

    def attributes(self) -> dict[str, Any]:
        """The predictor's fitted attributes that hold this block."""
        raise NotImplementedError

    @classmethod
    def from_attributes(cls, attrs: dict[str, Any]) -> Block | None:
        """The block held in a predictor's attributes, or None when absent."""
        raise NotImplementedError

    def logits(self, x: _Inputs) -> np.ndarray | None:
        """The block's float32 logit per sample (None: adds nothing)."""
        raise NotImplementedError


@dataclass(eq=False)
class LinearTerm(Block):
    """First-order term, folded into one weight per table row at predict time.

    ``form`` "scalar": one weight per row, ``weights`` (n_rows,);
    "feature_vector": <e_i, w_i>, ``weights`` (n_rows, k); "field_vector":
    <e_i, v_F(i)> (paper eq. 6), ``weights`` (n_fields, k).
    """

    form: str
    weights_: np.ndarray

    kind: ClassVar[str] = "linear"
    component: ClassVar[str] = "linear"
    FORMS: ClassVar[tuple[str, ...]] = ("scalar", "feature_vector", "field_vector")
    empty: ClassVar[dict[str, Any]] = {"linear_term_": None, "linear_": None}

    def validate(self, layout: FieldLayout, k: int) -> None:
        _require(self.form in self.FORMS, "linear_term_ is not a known term")
        shape = {
            "scalar": (layout.n_rows,),
            "feature_vector": (layout.n_rows, k),
            "field_vector": (layout.n_fields, k),
        }[self.form]
        w = self.weights_
        _require(
            type(w) is np.ndarray and w.shape == shape and w.dtype.kind == "f",
            f"linear_ must be a float array of shape {shape}",
        )

    def weights(self) -> list[np.ndarray]:
        return [self.weights_]

    def attributes(self) -> dict[str, Any]:
        return {"linear_term_": self.form, "linear_": self.weights_}

    @classmethod
    def from_attributes(cls, attrs: dict[str, Any]) -> LinearTerm | None:
        form = attrs["linear_term_"]
        if form is None:
            return None
        _require(form in cls.FORMS, "linear_term_ is not a known term")
        return cls(form, attrs["linear_"])

    def row_weights(self, emb: np.ndarray, layout: FieldLayout) -> np.ndarray:
        """The term as one float32 weight per table row (computed in float64)."""
        n_rows = emb.shape[0]
        if self.form == "scalar":
            return np.asarray(self.weights_, dtype=np.float32).reshape(n_rows)
        if self.form == "feature_vector":
            vec = self.weights_.astype(np.float64)
            return np.einsum("ij,ij->i", emb.astype(np.float64), vec).astype(np.float32)
        out = np.empty(n_rows, dtype=np.float32)
        for f, (start, size) in enumerate(zip(layout.offsets, layout.sizes)):
            block = emb[start : start + size].astype(np.float64)
            out[start : start + size] = block @ self.weights_[f].astype(np.float64)
        return out

    def logits(self, x: _Inputs) -> None:
        return None  # folded into the table's last column


@dataclass(eq=False)
class FM(Block):
    """Factorization machine term: sum over i < j of <e_i, e_j>."""

    kind: ClassVar[str] = "fm"
    component: ClassVar[str] = "fm"
    empty: ClassVar[dict[str, Any]] = {"interaction_": None}

    def validate(self, layout: FieldLayout, k: int) -> None:
        _require(k > 0, "the FM term needs embeddings")

    def weights(self) -> list[np.ndarray]:
        return []

    def attributes(self) -> dict[str, Any]:
        return {"interaction_": "fm"}

    @classmethod
    def from_attributes(cls, attrs: dict[str, Any]) -> FM | None:
        interaction = attrs["interaction_"]
        _require(
            interaction in (None, "fm", "fwfm"), "interaction_ is not a known term"
        )
        return cls() if interaction == "fm" else None

    def logits(self, x: _Inputs) -> np.ndarray:
        return x.bi.sum(axis=1)


@dataclass(eq=False)
class FieldPairs(Block):
    """FwFM's field-pair term: sum over surviving pairs of R_ij <e_i, e_j>.

    ``pairs`` (n_pairs, 2) int64 with i < j, ``pair_weights`` (n_pairs,)
    float32: only the pairs whose weight survived pruning.
    """

    pairs: np.ndarray
    pair_weights: np.ndarray

    kind: ClassVar[str] = "field_pairs"
    component: ClassVar[str] = "field_pairs"
    empty: ClassVar[dict[str, Any]] = {
        "interaction_": None,
        "field_pairs_": np.zeros((0, 2), dtype=np.int64),
        "pair_weights_": np.zeros(0, dtype=np.float32),
    }

    @classmethod
    def from_upper_triangle(cls, r: np.ndarray, n_fields: int) -> FieldPairs:
        """Keep the nonzero pairs of R's upper triangle (``triu_indices`` order)."""
        r = np.asarray(r, dtype=np.float32)
        rows, cols = np.triu_indices(n_fields, k=1)
        keep = r != 0
        pairs = np.stack([rows[keep], cols[keep]], axis=1).astype(np.int64)
        return cls(pairs, r[keep])

    def validate(self, layout: FieldLayout, k: int) -> None:
        pairs, weights = self.pairs, self.pair_weights
        _require(
            type(pairs) is np.ndarray
            and pairs.ndim == 2
            and pairs.shape[1] == 2
            and pairs.dtype.kind in "iu",
            "field_pairs_ must be an (n_pairs, 2) integer array",
        )
        _float_vector(weights, "pair_weights_", pairs.shape[0])
        if pairs.size:
            _require(
                (
                    (pairs[:, 0] >= 0)
                    & (pairs[:, 0] < pairs[:, 1])
                    & (pairs[:, 1] < layout.n_fields)
                ).all(),
                "field_pairs_ must hold field pairs i < j",
            )
            _require(k > 0, "field pairs need embeddings")

    def weights(self) -> list[np.ndarray]:
        return [self.pair_weights]

    def attributes(self) -> dict[str, Any]:
        return {
            "interaction_": "fwfm",
            "field_pairs_": self.pairs,
            "pair_weights_": self.pair_weights,
        }

    @classmethod
    def from_attributes(cls, attrs: dict[str, Any]) -> FieldPairs | None:
        if attrs["interaction_"] != "fwfm":
            return None
        return cls(attrs["field_pairs_"], attrs["pair_weights_"])

    def logits(self, x: _Inputs) -> np.ndarray | None:
        if not self.pair_weights.shape[0]:
            return None
        e = x.e
        pi = np.ascontiguousarray(self.pairs[:, 0])
        pj = np.ascontiguousarray(self.pairs[:, 1])
        dots = np.einsum("npk,npk->np", e[:, pi], e[:, pj])
        return dots @ self.pair_weights


class _LayerBlock(Block):
    """A block of weight ``layers`` (CSR), their ``biases`` and an ``out``
    vector: the MLP, the CIN and the cross network."""

    layers: list
    biases: list
    out: np.ndarray

    def weights(self) -> list[np.ndarray]:
        return [W.data for W in self.layers] + list(self.biases) + [self.out]


@dataclass(eq=False)
class MLP(_LayerBlock):
    """The DNN: ReLU layers (CSR, batch normalisation folded in), one output.

    ``input`` "concat": the concatenated field embeddings (n_fields * k wide);
    "bi": NFM's bi-interaction vector (k wide).
    """

    input: str
    layers: list
    biases: list
    out: np.ndarray

    kind: ClassVar[str] = "mlp"
    component: ClassVar[str] = "dnn"
    INPUTS: ClassVar[tuple[str, ...]] = ("concat", "bi")
    empty: ClassVar[dict[str, Any]] = {
        "dnn_input_": None,
        "dnn_layers_": [],
        "dnn_biases_": [],
        "dnn_out_": None,
    }

    @classmethod
    def from_dense(cls, input: str, layers, out: np.ndarray) -> MLP:
        """From dense float (W, b) pairs: CSR float32 layers, float32 vectors."""
        return cls(
            input,
            [csr(W) for W, _ in layers],
            [np.asarray(b, np.float32) for _, b in layers],
            np.asarray(out, np.float32),
        )

    def in_width(self, layout: FieldLayout, k: int) -> int:
        return layout.n_fields * k if self.input == "concat" else k

    def validate(self, layout: FieldLayout, k: int) -> None:
        _require(self.input in self.INPUTS, "dnn_input_ is not known")
        _require(k > 0, "a DNN needs embeddings")
        layers = _check_layers(self.layers, self.biases, "dnn")
        width = self.in_width(layout, k)
        for i, W in enumerate(layers):
            _require(W.shape[1] == width, f"dnn layer {i} must have {width} inputs")
            width = W.shape[0]
        _float_vector(self.out, "dnn_out_", width)

    def attributes(self) -> dict[str, Any]:
        return {
            "dnn_input_": self.input,
            "dnn_layers_": self.layers,
            "dnn_biases_": self.biases,
            "dnn_out_": self.out,
        }

    @classmethod
    def from_attributes(cls, attrs: dict[str, Any]) -> MLP | None:
        form = attrs["dnn_input_"]
        if form is None:
            layers = attrs["dnn_layers_"]
            _require(
                type(layers) is list and not layers and attrs["dnn_out_"] is None,
                "DNN layers without input",
            )
            return None
        _require(form in cls.INPUTS, "dnn_input_ is not known")
        return cls(form, attrs["dnn_layers_"], attrs["dnn_biases_"], attrs["dnn_out_"])

    def logits(self, x: _Inputs) -> np.ndarray:
        e = x.e
        h = (e.reshape(e.shape[0], -1) if self.input == "concat" else x.bi).T
        for W, b in zip(self.layers, self.biases):
            h = W @ h
            h += b[:, None]
            np.maximum(h, 0, out=h)
        return self.out @ h


@dataclass(eq=False)
class CIN(_LayerBlock):
    """xDeepFM's Compressed Interaction Network (identity activation).

    Layer ``l`` is a CSR (h_out, h_in * n_fields) filter matrix with its bias;
    ``keep[l]`` of its maps go to the output (the last ones), the others to
    the next layer (all of them when none remain); ``out`` projects the
    pooled kept maps to one logit.
    """

    layers: list
    biases: list
    keep: list
    out: np.ndarray

    kind: ClassVar[str] = "cin"
    component: ClassVar[str] = "cin"
    empty: ClassVar[dict[str, Any]] = {
        "cin_layers_": None,
        "cin_biases_": None,
        "cin_keep_": None,
        "cin_out_": None,
    }

    @classmethod
    def from_dense(cls, layers, keep, out: np.ndarray) -> CIN:
        """From dense float (W, b) pairs: CSR float32 layers, float32 vectors."""
        return cls(
            [csr(W) for W, _ in layers],
            [np.asarray(b, np.float32) for _, b in layers],
            [int(v) for v in keep],
            np.asarray(out, np.float32),
        )

    @staticmethod
    def next_width(h_out: int, kept: int) -> int:
        """Maps passed to the next layer."""
        return h_out - kept if h_out - kept > 0 else h_out

    def validate(self, layout: FieldLayout, k: int) -> None:
        _require(k > 0, "a CIN needs embeddings")
        layers = _check_layers(self.layers, self.biases, "cin")
        keep = self.keep
        _require(
            type(keep) is list and len(keep) == len(layers),
            "cin_keep_ must hold one count per CIN layer",
        )
        n = layout.n_fields
        h_in = n
        for i, (W, kept) in enumerate(zip(layers, keep)):
            _require(
                W.shape[1] == h_in * n, f"cin layer {i} must have {h_in * n} inputs"
            )
            _require(
                type(kept) is int and 0 <= kept <= W.shape[0],
                f"cin_keep_[{i}] must be in [0, {W.shape[0]}]",
            )
            h_in = self.next_width(W.shape[0], kept)
        _float_vector(self.out, "cin_out_", sum(keep))

    def attributes(self) -> dict[str, Any]:
        return {
            "cin_layers_": self.layers,
            "cin_biases_": self.biases,
            "cin_keep_": self.keep,
            "cin_out_": self.out,
        }

    @classmethod
    def from_attributes(cls, attrs: dict[str, Any]) -> CIN | None:
        if attrs["cin_layers_"] is None:
            return None
        return cls(
            attrs["cin_layers_"],
            attrs["cin_biases_"],
            attrs["cin_keep_"],
            attrs["cin_out_"],
        )

    def _logits_block(self, e: np.ndarray) -> np.ndarray:
        n, m, k = e.shape
        x0 = np.ascontiguousarray(e.transpose(1, 0, 2))  # (m, n, k)
        h = x0
        total = np.zeros(n, dtype=np.float32)
        start = 0
        for W, b, kept in zip(self.layers, self.biases, self.keep):
            z = (h[:, None] * x0[None]).reshape(h.shape[0] * m, n * k)
            new = (W @ z).reshape(W.shape[0], n, k)
            new += b[:, None, None]
            pooled = new[new.shape[0] - kept :].sum(axis=2)  # (kept, n)
            total += self.out[start : start + kept] @ pooled
            start += kept
            h_next = new.shape[0] - kept
            h = new[:h_next] if h_next > 0 else new
        return total

    def logits(self, x: _Inputs) -> np.ndarray:
        e = x.e
        n = e.shape[0]
        out = np.empty(n, dtype=np.float32)
        for start in range(0, n, _CIN_BLOCK):
            stop = min(start + _CIN_BLOCK, n)
            out[start:stop] = self._logits_block(e[start:stop])
        return out


@dataclass(eq=False)
class Cross(_LayerBlock):
    """DCN-V2's cross network: ``x_{l+1} = x_0 * (W_l x_l + b_l) + x_l``.

    ``x_0`` is the concatenated field embeddings (n_fields * k wide); each
    W_l is a square CSR matrix; ``out`` projects ``x_L`` to one logit.
    """

    layers: list
    biases: list
    out: np.ndarray

    kind: ClassVar[str] = "cross"
    component: ClassVar[str] = "cross"
    empty: ClassVar[dict[str, Any]] = {
        "cross_layers_": None,
        "cross_biases_": None,
        "cross_out_": None,
    }

    @classmethod
    def from_dense(cls, layers, out: np.ndarray) -> Cross:
        """From dense float (W, b) pairs: CSR float32 layers, float32 vectors."""
        return cls(
            [csr(W) for W, _ in layers],
            [np.asarray(b, np.float32) for _, b in layers],
            np.asarray(out, np.float32),
        )

    def validate(self, layout: FieldLayout, k: int) -> None:
        _require(k > 0, "a cross network needs embeddings")
        width = layout.n_fields * k
        for i, W in enumerate(_check_layers(self.layers, self.biases, "cross")):
            _require(
                W.shape == (width, width), f"cross layer {i} must be {width}x{width}"
            )
        _float_vector(self.out, "cross_out_", width)

    def attributes(self) -> dict[str, Any]:
        return {
            "cross_layers_": self.layers,
            "cross_biases_": self.biases,
            "cross_out_": self.out,
        }

    @classmethod
    def from_attributes(cls, attrs: dict[str, Any]) -> Cross | None:
        if attrs.get("cross_layers_") is None:
            return None
        return cls(attrs["cross_layers_"], attrs["cross_biases_"], attrs["cross_out_"])

    def logits(self, x: _Inputs) -> np.ndarray:
        e = x.e
        x0 = np.ascontiguousarray(e.reshape(e.shape[0], -1).T)  # (width, n)
        h = x0
        for W, b in zip(self.layers, self.biases):
            z = W @ h
            z += b[:, None]
            h = x0 * z + h
        return self.out @ h


#: Every block type, in the order their logits are added. A new block type is
#: one class above and one entry here.
BLOCK_TYPES: tuple[type[Block], ...] = (LinearTerm, FM, FieldPairs, MLP, CIN, Cross)


# ----------------------------------------------------------------------------
# The model
# ----------------------------------------------------------------------------
@dataclass(eq=False)
class ModelSpec:
    """A fitted CTR model: field layout, embeddings, bias and blocks.

    Parameters
    ----------
    layout : FieldLayout
        Rows of each field in the embedding table.
    embedding : ndarray of float of shape (n_rows, k)
        The second-order embedding table (k = 0 for logistic regression).
    bias : float
        The global bias.
    blocks : tuple of Block
        The additive terms, at most one of each type, in
        :data:`BLOCK_TYPES` order.
    """

    layout: FieldLayout
    embedding: np.ndarray
    bias: float
    blocks: tuple[Block, ...]

    @property
    def k(self) -> int:
        """Embedding size."""
        return int(self.embedding.shape[1])

    def block(self, kind: str) -> Block | None:
        """The block of that ``kind``, or None."""
        for b in self.blocks:
            if b.kind == kind:
                return b
        return None

    def validate(self) -> ModelSpec:
        """Raise ValueError unless every part is consistent and finite.

        Everything the compiled kernels index with is checked: the layout,
        the table's shape, each block's shapes and index bounds.
        """
        layout = self.layout
        emb = self.embedding
        _require(
            type(emb) is np.ndarray
            and emb.ndim == 2
            and emb.shape[0] == layout.n_rows
            and emb.dtype.kind == "f",
            f"the embedding table must be a float array with {layout.n_rows} rows",
        )
        k = self.k
        kinds = [b.kind for b in self.blocks]
        order = [t.kind for t in BLOCK_TYPES]
        _require(
            all(kind in order for kind in kinds)
            and kinds == sorted(kinds, key=order.index)
            and len(set(kinds)) == len(kinds),
            f"blocks must be distinct, in the order {order}",
        )
        _require(
            not ("fm" in kinds and "field_pairs" in kinds),
            "a model has one second-order interaction",
        )
        _require(
            isinstance(self.bias, numbers.Real) and not isinstance(self.bias, bool),
            "bias_ must be a number",
        )
        for b in self.blocks:
            b.validate(layout, k)
        weights = [emb, np.asarray([self.bias], dtype=np.float64)]
        for b in self.blocks:
            weights += b.weights()
        _require(
            all(np.isfinite(w).all() for w in weights),
            "the weights hold NaN or infinity",
        )
        return self

    def n_params(self) -> dict[str, int]:
        """Stored nonzero parameters per component, biases included."""
        counts = {
            "embedding": _nnz(self.embedding),
            "linear": 0,
            "field_pairs": 0,
            "dnn": 0,
            "cin": 0,
        }
        for b in self.blocks:
            if b.component != "fm":
                counts[b.component] = counts.get(b.component, 0) + b.n_params()
        counts["bias"] = int(self.bias != 0)
        return counts

    @staticmethod
    def attribute_names() -> tuple[str, ...]:
        """Names of the predictor's attributes that :meth:`attributes` returns
        for any model: the layout's, then each block type's (:data:`BLOCK_TYPES`).

        The checks of a loaded predictor's state read it (exactly these
        attributes, with each absent block's ``empty`` values).
        """
        names = dict.fromkeys(
            ("numeric_fields_", "field_dims_", "offsets_", "embedding_dim_", "bias_")
        )
        for block_type in BLOCK_TYPES:
            names.update(dict.fromkeys(block_type.empty))
        return tuple(names)

    def attributes(self) -> dict[str, Any]:
        """The predictor's fitted attributes that hold this spec (all but
        the embedding table, which the predictor stores compactly)."""
        attrs: dict[str, Any] = {
            "numeric_fields_": self.layout.numeric_fields,
            "field_dims_": self.layout.field_dims,
            "offsets_": self.layout.offsets,
            "embedding_dim_": self.k,
            "bias_": float(np.float32(self.bias)),
        }
        for block_type in BLOCK_TYPES:
            for key, value in block_type.empty.items():
                attrs.setdefault(key, value)
        for b in self.blocks:
            attrs.update(b.attributes())
        return attrs

    @classmethod
    def from_attributes(cls, attrs: dict[str, Any], embedding: np.ndarray) -> ModelSpec:
        """The spec held in a predictor's fitted attributes (not validated)."""
        layout = FieldLayout(attrs["field_dims_"], attrs["numeric_fields_"])
        layout.check_offsets(attrs["offsets_"])
        k = attrs["embedding_dim_"]
        _require(type(k) is int and k >= 0, "embedding_dim_ must be a non-negative int")
        _require(
            type(embedding) is np.ndarray and embedding.shape == (layout.n_rows, k),
            f"the embedding table must have shape ({layout.n_rows}, {k})",
        )
        blocks = []
        for block_type in BLOCK_TYPES:
            block = block_type.from_attributes(attrs)
            if block is not None:
                blocks.append(block)
        return cls(layout, embedding, attrs["bias_"], tuple(blocks))

    def logits(self, table: np.ndarray, xi: np.ndarray, xv: np.ndarray) -> np.ndarray:
        """float32 logits from the gather table (embeddings + folded linear
        weight per row) of rows ``xi`` with values ``xv``: the numpy forward.

        The bias and the linear terms are summed in float32, then each
        block's float32 logit added in float64, rounded once (the compiled
        kernels add each block's terms in float64)."""
        k = self.k
        rows = table[xi]  # (n, n_fields, k + 1)
        linear = (rows[:, :, k] * xv).sum(axis=1, dtype=np.float32)
        linear += np.float32(self.bias)
        logit = linear.astype(np.float64)
        if k > 0:
            x = _Inputs(rows[:, :, :k] * xv[:, :, None])
            for b in self.blocks:
                part = b.logits(x)
                if part is not None:
                    logit += part
        return logit.astype(np.float32)

    def block_logits(
        self, table: np.ndarray, xi: np.ndarray, xv: np.ndarray, blocks
    ) -> np.ndarray:
        """float32 logits of some of the ``blocks`` only (the numpy forward of
        the blocks a fused kernel does not compute)."""
        k = self.k
        x = _Inputs(table[xi][:, :, :k] * xv[:, :, None])
        total = np.zeros(xi.shape[0], dtype=np.float32)
        for b in blocks:
            part = b.logits(x)
            if part is not None:
                total += part
        return total
