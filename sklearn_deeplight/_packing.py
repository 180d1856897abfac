"""The packed layout of the sparse predictor's kernels, free of numba.

:func:`pack` writes a model description (:mod:`sklearn_deeplight._spec`) into
the four arrays the compiled kernels of :mod:`sklearn_deeplight._kernels` read
(float32 values, uint32 indices, uint64 row pointers, int64 layout
``meta``); the constants below name the slots of ``meta`` and the packing's
choices (tile widths, dense thresholds). The kernels import them from here,
so that a process scoring with kernels compiled ahead of time packs a model
without importing numba.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

#: Samples per tile of the tiled kernel, chosen per kind of model from the
#: widths 32..256 timed by ``python -m benchmarks.tile_width``
#: (``benchmarks/results/tile_width.json``, batch 4,096, one thread). No DNN
#: or cross layer (LR, FM, FwFM): the per-tile costs favour wider tiles.
TILE = 128
#: When a DNN or cross layer is sparse (CSR) for the tiled kernel, none is
#: dense and the model has no CIN: a sparse layer's input rows, one per
#: nonzero, are read from the caches, and those of a 64-sample tile (256
#: bytes each) outlast those of wider ones; the fastest for the pruned
#: Criteo and Avazu DeepFwFMs and within 2% of the fastest for the pruned
#: DeepFM, NFM and DCNv2 (``tile_width``); the pruned xDeepFM is 4% slower
#: at 64 than at 128 (its sparse CIN), so a model with a CIN keeps
#: :data:`TILE`.
SPARSE_DNN_TILE_SIZE = 64
#: When a CIN layer is dense for the tiled kernel: its tile of outer
#: products (h_in * n_fields, k * T) outgrows the caches on wider tiles.
CIN_DENSE_TILE_SIZE = 64
#: When a DNN or cross layer is dense for the tiled kernel (and no CIN layer
#: is): its sgemm is more efficient on wider tiles.
DENSE_TILE_SIZE = 256
#: Batches below this size use the per-sample kernel.
MIN_TILED_BATCH = 8

# Slots of ``meta``.
M_F = 0  # number of fields
M_K = 1  # embedding size k (0 for LR); the table has k + 1 columns
M_NROWS = 2  # rows of the table
M_FM = 3  # 1 when the FM term sum_{i<j} <e_i, e_j> is added
M_NPAIRS = 4  # surviving FwFM field pairs
M_PAIR_W = 5  # fp offset of the pair weights
M_PAIR_I = 6  # ip offset of the pairs' first fields (second fields follow)
M_DNN_MODE = 7  # 0 no DNN, 1 concatenated embeddings, 2 bi-interaction vector
M_DNN_NL = 8  # hidden layers
M_DNN_OUT = 9  # fp offset of the output weights
M_CIN_NL = 10  # CIN layers (0 without CIN)
M_CIN_OUT = 11  # fp offset of the CIN output weights
M_MAXW = 12  # widest DNN layer
M_BIAS = 13  # fp offset of the global bias
M_CIN_MAXH = 14  # most feature maps of any CIN layer (and n_fields)
M_DNN_LAST = 15  # width of the DNN output layer's input
M_CROSS_NL = 16  # cross layers (0 without a cross network)
M_CROSS_OUT = 17  # fp offset of the cross network's output weights
M_CIN_MAXZ = 18  # widest h_in * n_fields of a CIN layer packed dense (or 0)
M_TILE = 19  # samples per tile of the tiled kernel (see TILE and below)
M_ZERO = 20  # 1 when the tiled kernel's buffers are zeroed (a layer calls sgemm)
M_INPUT = 21  # offset in meta of the input layout: numeric, field_dims, offsets
M_LAYERS = 22  # first layer descriptor: DNN layers, CIN layers, cross layers
#: Slots per DNN (and cross) layer: n_in, n_out, data, indices, indptr, bias
#: offsets, the fp offset of the layer's dense (row-major n_out x n_in)
#: weights, and which kernels read the dense weights instead of the CSR ones
#: (:data:`DENSE_SAMPLE`, :data:`DENSE_TILE`; 0 when none is packed); then
#: the per-sample kernel's sliced copy of a DNN layer's CSR rows (see
#: :func:`_sell_layer`; mode 0 when none): its mode (:data:`SELL_SORTED`,
#: :data:`SELL_SCATTER`), the fp offset of its weights, the ip offsets of its
#: columns and row lengths, the pp offset of its steps per slice, the fp
#: offset of its biases and the ip offset of its rows (sorted order).
DNN_SLOTS = 15
#: Sliced layer modes: outputs stored in the sorted order of the rows (the
#: next layer's columns are renumbered to it), or scattered to their rows.
SELL_SORTED = 1
SELL_SCATTER = 2
#: Slots per CIN layer: h_in, h_out, kept, h_next, data, indices, indptr,
#: bias, dense weights (row-major h_out x h_in * n_fields), dense use.
CIN_SLOTS = 10
#: Bits of a layer's dense-use slot: the per-sample kernel reads the dense
#: weights, the tiled kernel does.
DENSE_SAMPLE = 1
DENSE_TILE = 2
#: Per component, the densities (nonzeros over the layer's size) from which
#: a layer is computed from dense weights, by the per-sample kernel and by the
#: tiled kernel: a vectorised dot product per output (per sample), one BLAS
#: ``sgemm`` per tile of samples (tiled), instead of the CSR
#: rows whose cost falls with the density. Where the two costs cross on this
#: project's machine (an AVX-512 Xeon, one thread), measured by ``python -m
#: benchmarks.dense_threshold`` (``benchmarks/results/dense_threshold.json``),
#: each component on its own rows (the per-sample kernel packs a sparse DNN
#: layer in slices that the cross layers do not use, so the two cross at
#: different densities).
DENSE_DENSITY: dict[str, tuple[float, float]] = {
    "dnn": (0.4, 0.55),
    "cross": (0.2, 0.55),
    "cin": (0.15, 0.25),
}

#: Partial sums of the DNN output layer's dot product (see
#: :func:`~sklearn_deeplight._kernels._dot8`).
SLOTS = 8
#: float32 lanes of the vectors that hold the tiled kernel's CSR sums.
VLANES = 16


def _scratch_total(meta, T):
    """float32 values of the buffers :func:`_buffers` carves for tiles of
    ``T`` samples (in its order: t1, t2, et, bt, ha, hb, cur, new, xh, xz,
    z). Plain Python here; :mod:`sklearn_deeplight._kernels` compiles the
    same function for its buffers."""
    F = np.uint64(meta[M_F])
    k = np.uint64(meta[M_K])
    maxw = np.uint64(meta[M_MAXW])
    maxh = np.uint64(meta[M_CIN_MAXH])
    maxz = np.uint64(meta[M_CIN_MAXZ])
    wx = F * k if meta[M_CROSS_NL] > 0 else np.uint64(0)
    two = np.uint64(2)
    rows = two + F * k + k + two * maxw + two * maxh * k + two * wx + maxz * k
    return np.uint64(T) * rows


def scratch_size(meta: np.ndarray) -> int:
    """float32 values of the tiled kernel's large scratch buffers: the
    ``work`` that :func:`forward_tiled` and :func:`proba_tiled` take."""
    return int(_scratch_total(meta, meta[M_TILE]))


#: Block kinds of :mod:`sklearn_deeplight._spec` the fused kernels compute;
#: the predictor adds any other block's logits with its numpy forward.
FUSED = frozenset({"linear", "fm", "field_pairs", "mlp", "cin", "cross"})


def _dense_use(W, component: str, dense) -> int:
    """The dense-use bits of layer ``W`` of ``component`` by its density."""
    sample, tile = DENSE_DENSITY[component] if dense is None else dense[component]
    n_out, n_in = W.shape
    density = W.nnz / max(1, n_out * n_in)
    return DENSE_SAMPLE * int(density >= sample) + DENSE_TILE * int(density >= tile)


def pack(spec, dense: dict[str, tuple[float, float]] | None = None) -> tuple:
    """Pack a :class:`~sklearn_deeplight._spec.ModelSpec` into the kernels'
    four arrays (float32 values, uint32 indices, uint64 row pointers, int64
    ``meta`` layout); blocks outside :data:`FUSED` are left out.

    A DNN, CIN or cross layer whose density is at least its component's
    per-sample threshold in ``dense`` (default :data:`DENSE_DENSITY`) is
    computed from dense weights by the per-sample kernel, at least the tiled
    threshold by the tiled kernel; its CSR arrays are only packed when a
    kernel reads them. A threshold above 1 never picks dense weights, 0
    always does.
    """
    fp: list[np.ndarray] = []
    ip: list[np.ndarray] = []
    pp: list[np.ndarray] = []
    sizes = {"f": 0, "i": 0, "p": 0}

    def add(kind: str, arr, dtype) -> int:
        arr = np.asarray(arr, dtype=dtype).reshape(-1)
        store = {"f": fp, "i": ip, "p": pp}[kind]
        offset = sizes[kind]
        store.append(arr)
        sizes[kind] += arr.shape[0]
        return offset

    def add_layer(W, use: int) -> tuple[int, int, int, int]:
        """CSR arrays (empty when both kernels read dense), dense offset."""
        csr = W if use != DENSE_SAMPLE | DENSE_TILE else sp.csr_array(W.shape)
        return (
            add("f", csr.data, np.float32),
            add("i", csr.indices, np.uint32),
            add("p", csr.indptr, np.uint64),
            add("f", W.toarray(), np.float32) if use else 0,
        )

    def fused(kind: str):
        return spec.block(kind) if kind in FUSED else None

    mlp, cin_block, pairs_block = fused("mlp"), fused("cin"), fused("field_pairs")
    cross = fused("cross")
    dnn_layers = mlp.layers if mlp is not None else []
    cin = cin_block.layers if cin_block is not None else []
    cross_layers = cross.layers if cross is not None else []
    n_dnn, n_cin, n_cross = len(dnn_layers), len(cin), len(cross_layers)
    n_fields = spec.layout.n_fields
    n_layout = M_LAYERS + DNN_SLOTS * (n_dnn + n_cross) + CIN_SLOTS * n_cin
    meta = np.zeros(n_layout + 3 * n_fields, np.int64)
    layout = spec.layout
    meta[M_INPUT] = n_layout
    meta[n_layout:] = np.concatenate(
        [layout.numeric_mask, layout.field_dims, layout.offsets]
    )
    k = spec.k
    meta[M_F] = n_fields
    meta[M_K] = k
    meta[M_NROWS] = spec.layout.n_rows
    meta[M_FM] = int(fused("fm") is not None)
    meta[M_BIAS] = add("f", [spec.bias], np.float32)
    if pairs_block is not None:
        pairs, weights = pairs_block.pairs, pairs_block.pair_weights
    else:
        pairs, weights = np.zeros((0, 2), np.int64), np.zeros(0, np.float32)
    meta[M_NPAIRS] = pairs.shape[0]
    meta[M_PAIR_W] = add("f", weights, np.float32)
    meta[M_PAIR_I] = add("i", np.concatenate([pairs[:, 0], pairs[:, 1]]), np.uint32)
    meta[M_DNN_MODE] = {None: 0, "concat": 1, "bi": 2}[
        mlp.input if mlp is not None else None
    ]
    meta[M_DNN_NL] = n_dnn
    in_width = n_fields * k if mlp is not None and mlp.input == "concat" else k
    max_w = 1
    for i, (W, b) in enumerate(zip(dnn_layers, mlp.biases if mlp else [])):
        d = M_LAYERS + DNN_SLOTS * i
        use = _dense_use(W, "dnn", dense)
        meta[d : d + 2] = (W.shape[1], W.shape[0])
        meta[d + 2], meta[d + 3], meta[d + 4], meta[d + 6] = add_layer(W, use)
        meta[d + 5] = add("f", b, np.float32)
        meta[d + 7] = use
        max_w = max(max_w, W.shape[0])
        in_width = W.shape[0]
    if mlp is not None:
        meta[M_DNN_OUT] = add("f", mlp.out, np.float32)
        meta[M_DNN_LAST] = mlp.out.shape[0]
        if mlp.out.shape[0] != in_width:
            raise ValueError("dnn.out does not match the last DNN layer.")
    # The per-sample kernel's sliced copies of the CSR DNN layers.
    sliced = [
        not meta[M_LAYERS + DNN_SLOTS * i + 7] & DENSE_SAMPLE for i in range(n_dnn)
    ]
    rank = None  # position of each input in the previous layer's sorted order
    for i, (W, b) in enumerate(zip(dnn_layers, mlp.biases if mlp else [])):
        if not sliced[i]:
            rank = None
            continue
        d = M_LAYERS + DNN_SLOTS * i
        mode = SELL_SORTED if i + 1 < n_dnn and sliced[i + 1] else SELL_SCATTER
        rank = _pack_sliced(W, b, rank, mode, meta[d + 8 : d + 15], add)
    meta[M_MAXW] = max_w
    meta[M_CIN_NL] = n_cin
    max_h = n_fields
    max_z = 0
    if n_cin:
        meta[M_CIN_OUT] = add("f", cin_block.out, np.float32)
        h_in = n_fields
        for i, (W, b, kept) in enumerate(zip(cin, cin_block.biases, cin_block.keep)):
            if W.shape[1] != h_in * n_fields:
                raise ValueError(
                    f"cin.layers.{i} has {W.shape[1]} inputs, expected "
                    f"{h_in * n_fields}."
                )
            d = M_LAYERS + DNN_SLOTS * n_dnn + CIN_SLOTS * i
            h_out = W.shape[0]
            h_next = cin_block.next_width(h_out, kept)
            use = _dense_use(W, "cin", dense)
            meta[d : d + 4] = (h_in, h_out, kept, h_next)
            meta[d + 4], meta[d + 5], meta[d + 6], meta[d + 8] = add_layer(W, use)
            meta[d + 7] = add("f", b, np.float32)
            meta[d + 9] = use
            if use:
                max_z = max(max_z, h_in * n_fields)
            max_h = max(max_h, h_out)
            h_in = h_next
    meta[M_CIN_MAXH] = max_h
    meta[M_CIN_MAXZ] = max_z
    meta[M_CROSS_NL] = n_cross
    if n_cross:
        width = n_fields * k
        meta[M_CROSS_OUT] = add("f", cross.out, np.float32)
        base = M_LAYERS + DNN_SLOTS * n_dnn + CIN_SLOTS * n_cin
        for i, (W, b) in enumerate(zip(cross_layers, cross.biases)):
            if W.shape != (width, width):
                raise ValueError(f"cross.layers.{i} must be {width}x{width}.")
            d = base + DNN_SLOTS * i
            use = _dense_use(W, "cross", dense)
            meta[d : d + 2] = (width, width)
            meta[d + 2], meta[d + 3], meta[d + 4], meta[d + 6] = add_layer(W, use)
            meta[d + 5] = add("f", b, np.float32)
            meta[d + 7] = use

    # The tile: wider for dense DNN or cross layers, narrower for a dense CIN
    # (its tile of outer products grows with the tile) or sparse DNN or cross
    # layers without a CIN (see SPARSE_DNN_TILE_SIZE).
    uses = dense_uses(meta)
    dense_cin = any(u & DENSE_TILE for u in uses["cin"])
    dense_dnn = any(u & DENSE_TILE for u in uses["dnn"] + uses["cross"])
    sparse_dnn = any(not u & DENSE_TILE for u in uses["dnn"] + uses["cross"])
    if dense_cin:
        meta[M_TILE] = CIN_DENSE_TILE_SIZE
    elif dense_dnn:
        meta[M_TILE] = DENSE_TILE_SIZE
    elif sparse_dnn and not uses["cin"]:
        meta[M_TILE] = SPARSE_DNN_TILE_SIZE
    else:
        meta[M_TILE] = TILE
    meta[M_ZERO] = int(dense_cin or dense_dnn)

    def cat(parts, dtype):
        out = np.concatenate(parts).astype(dtype) if parts else np.zeros(1, dtype)
        if out.shape[0] == 0:
            out = np.zeros(1, dtype)
        out.flags.writeable = False
        return out

    meta.flags.writeable = False
    return (
        cat(fp, np.float32),
        cat(ip, np.uint32),
        cat(pp, np.uint64),
        meta,
    )


def _pack_sliced(W, b, rank, mode, slots, add):
    """Pack CSR layer ``W`` (biases ``b``) in slices of :data:`VLANES` rows
    for :func:`_sell_layer`, its columns renumbered by ``rank`` (None: as
    they are), and write its slots; returns the rank of each output row in
    the sorted order when ``mode`` is :data:`SELL_SORTED`, else None."""
    # W's stored order within each row (as add_layer packs it): the order of
    # the FMAs, so sorting the columns would change the bits.
    n_out = W.shape[0]
    lens = np.diff(W.indptr).astype(np.int64)
    order = np.argsort(-lens, kind="stable")
    n_sl = -(-n_out // VLANES)
    pad = n_sl * VLANES
    rows = np.zeros(pad, np.int64)
    rows[:n_out] = order
    slens = np.zeros(pad, np.int64)
    slens[:n_out] = lens[order]
    steps = (slens.reshape(n_sl, VLANES).max(axis=1) + 1) // 2
    start = np.concatenate([[0], np.cumsum(steps * 2 * VLANES)])
    data = np.zeros(start[-1], np.float32)
    cols = np.zeros(start[-1], np.uint32)
    indices = W.indices if rank is None else rank[W.indices]
    for q in range(n_out):
        r = order[q]
        lo, hi = W.indptr[r], W.indptr[r + 1]
        at = start[q // VLANES] + q % VLANES + VLANES * np.arange(hi - lo)
        data[at] = W.data[lo:hi]
        cols[at] = indices[lo:hi]
    bias = np.zeros(pad, np.float32)
    bias[:n_out] = np.asarray(b, np.float32)[order]
    slots[:] = (
        mode,
        add("f", data, np.float32),
        add("i", cols, np.uint32),
        add("i", slens, np.uint32),
        add("p", steps, np.uint64),
        add("f", bias, np.float32),
        add("i", rows, np.uint32),
    )
    if mode != SELL_SORTED:
        return None
    rank = np.empty(n_out, np.int64)
    rank[order] = np.arange(n_out)
    return rank


def dense_uses(meta: np.ndarray) -> dict[str, list[int]]:
    """Each DNN, CIN and cross layer's dense-use bits, by component."""
    n_dnn, n_cin = int(meta[M_DNN_NL]), int(meta[M_CIN_NL])
    n_cross = int(meta[M_CROSS_NL])
    cin0 = M_LAYERS + DNN_SLOTS * n_dnn
    cross0 = cin0 + CIN_SLOTS * n_cin
    return {
        "dnn": [int(meta[M_LAYERS + DNN_SLOTS * i + 7]) for i in range(n_dnn)],
        "cin": [int(meta[cin0 + CIN_SLOTS * i + 9]) for i in range(n_cin)],
        "cross": [int(meta[cross0 + DNN_SLOTS * i + 7]) for i in range(n_cross)],
    }
