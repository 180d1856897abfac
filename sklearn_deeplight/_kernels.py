"""Fused numba kernels of the sparse predictor (``engine="numba"``).

One pass per sample computes the whole logit of any of the library's models:
the embedding gather (``e_f = xv_f * E[xi_f]``), the linear term, the FM or
bi-interaction vector, the surviving FwFM field pairs, the DNN with ReLU, the
CIN of xDeepFM and the cross network of DCN-V2. Two drivers share the
arithmetic:

- :func:`forward_samples`, a scalar per-sample loop, for tiny batches (the
  lowest latency at batch 1);
- :func:`forward_tiled`, which processes tiles of samples (``meta[M_TILE]``:
  :data:`TILE`, :data:`SPARSE_DNN_TILE_SIZE`, ...) stored
  feature-major (``buf[feature, sample]``) so that the inner loop of every
  sparse row runs across samples and vectorises. For several threads the
  caller splits a batch into tile-aligned chunks and runs them on Python
  threads (the kernels release the GIL), which needs no second, ``prange``
  compilation and no thread-safe numba threading layer.

Each DNN, CIN and cross layer is packed, per driver, as CSR rows or as dense
weights by its density (:data:`DENSE_DENSITY`): a pruned layer costs its
nonzeros, a dense one a vectorised dot product per output (per sample) or
one BLAS ``sgemm`` per tile (tiled; numba's ``np.dot`` on scipy's BLAS, on
the threads of the process's BLAS setting).

:func:`index_rows` is the one-pass fast path of the input validation;
:func:`proba_small` and :func:`proba_tiled` go from a clean field matrix to
probabilities in one call (index, kernel, sigmoid).

Design rules (see the project notes on fast inference):

- indices are unsigned (rows read as ``uint64``, ``uint32`` CSR columns,
  ``uint64`` row pointers) so that numba does not emit a negative-index
  wraparound per access; a row at or above the table size (a negative one
  included) is counted as bad (the caller raises) and reads row 0 instead,
  so the kernels never read out of bounds;
- parameters arrive packed in four arrays (float32 values, uint32 indices,
  uint64 row pointers, int64 layout) to keep the dispatch cost low; the
  layout also carries the input layout (numeric mask, ``field_dims``,
  ``offsets``) that :func:`proba_small` and :func:`proba_tiled` index with;
- long reductions run in several partial sums (independent FMA chains
  instead of one): the DNN output layer in :data:`SLOTS` sums
  (:func:`_dot8`), the FwFM pair dot products and each CSR row of a DNN or
  cross layer in two; the tiled kernel sums them in the same order, so that
  these terms of a sample are the same to the bit in both kernels (its CSR
  rows in vectors of :data:`VLANES` samples held in registers, numba values
  of an LLVM vector type: :func:`_tile_layer`; the per-sample kernel's CSR
  DNN layers in slices of :data:`VLANES` rows sorted by length, one lane
  per row, the inputs read by one vector gather per step:
  :func:`_sell_layer`);
- embedding rows are requested ahead of use with software prefetches
  (``llvm.prefetch`` through a numba intrinsic): all rows of a sample in the
  per-sample kernel, the next field's rows of a tile in the tiled one (of
  the fields whose rows outgrow the caches), so that the cache misses of the
  random gathers overlap; the tiled kernel checks the rows of
  :data:`VLANES` samples as one vector and reads their linear term and each
  embedding column with one vector gather (``llvm.masked.gather``), and sums
  the FwFM pairs and the DNN output layer of :data:`VLANES` samples in
  vector registers;
- every buffer is allocated inside the call: no state is shared between
  calls, so concurrent calls from Python threads are safe (``nogil=True``;
  BLAS is called on buffers of the call only);
- compiled lazily on first use with ``cache=True`` (falls back to no caching
  where no cache directory is writable).

The packed layout (``meta``, int64) is written by :func:`pack` from the
model description (:mod:`sklearn_deeplight._spec`); the indices below name
its slots.
"""

from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, models, register_model

from . import _packing
from ._packing import (  # noqa: F401 - the kernels' layout, re-exported
    CIN_DENSE_TILE_SIZE,
    CIN_SLOTS,
    DENSE_DENSITY,
    DENSE_SAMPLE,
    DENSE_TILE,
    DENSE_TILE_SIZE,
    DNN_SLOTS,
    FUSED,
    M_BIAS,
    M_CIN_MAXH,
    M_CIN_MAXZ,
    M_CIN_NL,
    M_CIN_OUT,
    M_CROSS_NL,
    M_CROSS_OUT,
    M_DNN_LAST,
    M_DNN_MODE,
    M_DNN_NL,
    M_DNN_OUT,
    M_F,
    M_FM,
    M_INPUT,
    M_K,
    M_LAYERS,
    M_MAXW,
    M_NPAIRS,
    M_NROWS,
    M_PAIR_I,
    M_PAIR_W,
    M_TILE,
    M_ZERO,
    MIN_TILED_BATCH,
    SELL_SCATTER,
    SELL_SORTED,
    SLOTS,
    SPARSE_DNN_TILE_SIZE,
    TILE,
    VLANES,
    dense_uses,
    pack,
    scratch_size,
)

__all__ = [
    "SPARSE_DNN_TILE_SIZE",
    "TILE",
    "dense_uses",
    "forward_samples",
    "forward_tiled",
    "index_rows",
    "pack",
    "proba_small",
    "proba_tiled",
    "scratch_size",
]

_FASTMATH = {"contract", "nsz", "arcp"}
# Dense dot products may reassociate their sums (SIMD partial sums).
_REDUCE = _FASTMATH | {"reassoc"}


def _jit(**kwargs):
    """``numba.njit`` with ``cache=True``, or without cache if none is writable."""

    def decorate(func):
        try:
            return numba.njit(cache=True, **kwargs)(func)
        except RuntimeError:  # pragma: no cover - no writable cache location
            return numba.njit(cache=False, **kwargs)(func)

    return decorate


_I8P = ir.IntType(8).as_pointer()
# The overloaded intrinsic's name depends on LLVM's pointer model.
_PREFETCH = "llvm.prefetch.p0" if str(_I8P) == "ptr" else "llvm.prefetch.p0i8"


@intrinsic
def _prefetch(typingctx, table, row, col):
    """Prefetch ``table[row, col]`` into the caches (a hint, never a fault)."""
    sig = types.void(table, row, col)

    def codegen(context, builder, signature, args):
        aryty = signature.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        ptr = cgutils.get_item_pointer(
            context, builder, aryty, ary, [args[1], args[2]],
            wraparound=False, boundscheck=False,
        )  # fmt: skip
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [_I8P, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, _PREFETCH)
        # read, high temporal locality, data cache
        args = [builder.bitcast(ptr, _I8P), i32(0), i32(3), i32(1)]
        builder.call(fn, args)
        return context.get_dummy_value()

    return sig, codegen


#: The tiled kernel requests a field's table rows ahead of its gather when
#: they take more than this many bytes (a quarter of a typical L2 cache):
#: the rows of smaller fields stay in the caches from tile to tile, where
#: the requests cost instructions (scratch timing: Criteo's one-row numeric
#: fields and Avazu's small ones).
_PREFETCH_FIELD_BYTES = 1 << 18


@_jit(nogil=True)
def _prefetch_row(table, r, k):  # pragma: no cover - compiled
    """Prefetch every cache line of table row ``r`` (k + 1 float32 values)."""
    c = np.uint64(0)
    while c < k:
        _prefetch(table, r, c)
        c += np.uint64(16)
    _prefetch(table, r, k)


@_jit(nogil=True, fastmath=_REDUCE)
def _dense_sample_layer(fp, woff, boff, n_in, n_out, x, y, relu):  # pragma: no cover
    """``y = W x + b`` of one sample (ReLU with ``relu``), ``W`` dense
    row-major at ``fp[woff:]``: one vectorised dot product per output."""
    zero = np.float32(0.0)
    for o in range(n_out):
        row = woff + o * n_in
        a = zero
        for c in range(n_in):
            a += fp[row + c] * x[c]
        a += fp[boff + o]
        if relu and a < zero:
            a = zero
        y[o] = a


@_jit(nogil=True, fastmath=_FASTMATH)
def _dense_tile_layer(fp, woff, boff, n_in, n_out, x, y, ns, relu):  # pragma: no cover
    """``y = W x + b`` of a tile (ReLU with ``relu``) by one BLAS ``sgemm``
    over all the tile's columns (those past ``ns`` hold finite leftovers)."""
    zero = np.float32(0.0)
    W = fp[woff : woff + n_out * n_in].reshape((np.int64(n_out), np.int64(n_in)))
    yv = y[:n_out]
    np.dot(W, x[:n_in], yv)
    for o in range(n_out):
        bo = fp[boff + o]
        for s in range(ns):
            v = yv[o, s] + bo
            if relu and v < zero:
                v = zero
            yv[o, s] = v


@_jit(nogil=True, fastmath=_FASTMATH)
def _dot8(fp, off, x, n):  # pragma: no cover - compiled
    """``fp[off : off + n] @ x[:n]`` in :data:`SLOTS` partial sums, input
    ``o`` in sum ``o % 8``, added pairwise: eight independent chains instead
    of one (a chain of n dependent FMAs is the latency of n FMAs). The tiled
    kernel sums in the same order (the same result to the bit)."""
    zero = np.float32(0.0)
    a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = zero
    n8 = n - n % np.uint64(8)
    for o in range(np.uint64(0), n8, np.uint64(8)):
        b = off + o
        a0 += fp[b] * x[o]
        a1 += fp[b + np.uint64(1)] * x[o + np.uint64(1)]
        a2 += fp[b + np.uint64(2)] * x[o + np.uint64(2)]
        a3 += fp[b + np.uint64(3)] * x[o + np.uint64(3)]
        a4 += fp[b + np.uint64(4)] * x[o + np.uint64(4)]
        a5 += fp[b + np.uint64(5)] * x[o + np.uint64(5)]
        a6 += fp[b + np.uint64(6)] * x[o + np.uint64(6)]
        a7 += fp[b + np.uint64(7)] * x[o + np.uint64(7)]
    b = off + n8
    m = n - n8
    if m > 0:
        a0 += fp[b] * x[n8]
    if m > 1:
        a1 += fp[b + np.uint64(1)] * x[n8 + np.uint64(1)]
    if m > 2:
        a2 += fp[b + np.uint64(2)] * x[n8 + np.uint64(2)]
    if m > 3:
        a3 += fp[b + np.uint64(3)] * x[n8 + np.uint64(3)]
    if m > 4:
        a4 += fp[b + np.uint64(4)] * x[n8 + np.uint64(4)]
    if m > 5:
        a5 += fp[b + np.uint64(5)] * x[n8 + np.uint64(5)]
    if m > 6:
        a6 += fp[b + np.uint64(6)] * x[n8 + np.uint64(6)]
    return ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7))


@_jit(nogil=True, fastmath=_FASTMATH, inline="always")
def _sample_layer(fp, ip, pp, meta, d, x, y, relu):  # pragma: no cover - compiled
    """One DNN or cross layer of one sample (descriptor at ``meta[d]``):
    ``y = W x + b``, ReLU with ``relu``, from the CSR rows or dense weights.
    Inlined into its callers (numba IR): 4-13% faster per-sample calls at
    the paper's DeepFwFM shapes than a call per layer."""
    one = np.uint64(1)
    two = np.uint64(2)
    zero = np.float32(0.0)
    n_in = np.uint64(meta[d])
    n_out = np.uint64(meta[d + 1])
    boff = np.uint64(meta[d + 5])
    if meta[d + 7] & DENSE_SAMPLE:
        woff = np.uint64(meta[d + 6])
        _dense_sample_layer(fp, woff, boff, n_in, n_out, x, y, relu)
        return
    if meta[d + 8] != 0:
        _sell_layer(fp, ip, pp, meta, d, x, y, relu)
        return
    doff = np.uint64(meta[d + 2])
    ioff = np.uint64(meta[d + 3])
    poff = np.uint64(meta[d + 4])
    for o in range(n_out):
        # Two accumulators: half the FMA latency chain.
        a = fp[boff + o]
        a2 = zero
        p = pp[poff + o]
        p_end = pp[poff + o + one]
        while p + one < p_end:
            a += fp[doff + p] * x[ip[ioff + p]]
            a2 += fp[doff + p + one] * x[ip[ioff + p + one]]
            p += two
        if p < p_end:
            a += fp[doff + p] * x[ip[ioff + p]]
        a += a2
        if relu and a < zero:
            a = zero
        y[o] = a


_VEC = ir.VectorType(ir.FloatType(), VLANES)


class _F32Vec(types.Type):
    """:data:`VLANES` float32 values of consecutive samples as one LLVM
    vector (``<16 x float>``, a zmm register or two ymm ones): numba values
    of this type are SSA values, which LLVM keeps in registers across the
    nonzeros of a CSR row, where a buffer that the arrays might alias (numba
    has no ``noalias`` arrays) is stored and reloaded per nonzero, and
    numba leaves LLVM's SLP vectoriser off, so scalar sums stay scalar."""

    def __init__(self):
        super().__init__(name="f32vec")


_f32vec = _F32Vec()
register_model(_F32Vec)(lambda dmm, fe_type: models.PrimitiveModel(dmm, fe_type, _VEC))


def _vec_ptr(context, builder, aryty, ary, row, col):
    """Pointer to the vector at ``ary[row, col : col + VLANES]``."""
    a = context.make_array(aryty)(context, builder, ary)
    ptr = cgutils.get_item_pointer(
        context, builder, aryty, a, [row, col], wraparound=False, boundscheck=False
    )
    return builder.bitcast(ptr, _VEC.as_pointer())


@intrinsic
def _vsplat(typingctx, v):
    """A vector of :data:`VLANES` copies of the float32 ``v``."""
    sig = _f32vec(types.float32)

    def codegen(context, builder, signature, args):
        lane0 = builder.insert_element(
            ir.Constant(_VEC, ir.Undefined), args[0], ir.IntType(32)(0)
        )
        mask = ir.Constant(ir.VectorType(ir.IntType(32), VLANES), [0] * VLANES)
        return builder.shuffle_vector(lane0, ir.Constant(_VEC, ir.Undefined), mask)

    return sig, codegen


@intrinsic
def _vfma(typingctx, acc, w, x, row, col):
    """``acc + w * x[row, col : col + VLANES]`` per lane, fused as the
    scalar ``a += w * x`` of :func:`_sample_layer` is (``contract``)."""
    sig = _f32vec(_f32vec, _f32vec, x, row, col)

    def codegen(context, builder, signature, args):
        acc, w, ary, row, col = args
        ptr = _vec_ptr(context, builder, signature.args[2], ary, row, col)
        v = builder.load(ptr, align=4)
        return builder.fadd(acc, builder.fmul(w, v, flags=("contract",)),
                            flags=("contract",))  # fmt: skip

    return sig, codegen


@intrinsic
def _vadd(typingctx, a, b):
    """``a + b`` per lane."""
    sig = _f32vec(_f32vec, _f32vec)

    def codegen(context, builder, signature, args):
        return builder.fadd(args[0], args[1])

    return sig, codegen


@intrinsic
def _vstore(typingctx, y, row, col, v, relu):
    """``y[row, col : col + VLANES] = v``, lanes below zero set to zero with
    ``relu`` (``a < 0``, as :func:`_sample_layer`: NaN and -0.0 pass)."""
    sig = types.void(y, row, col, _f32vec, types.boolean)

    def codegen(context, builder, signature, args):
        ary, row, col, v, relu = args
        ptr = _vec_ptr(context, builder, signature.args[0], ary, row, col)
        zero = ir.Constant(_VEC, [0.0] * VLANES)
        cut = builder.select(builder.fcmp_ordered("<", v, zero), zero, v)
        builder.store(builder.select(relu, cut, v), ptr, align=4)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def _vfma2(typingctx, acc, x, r1, r2, col):
    """``acc + x[r1, col : col + VLANES] * x[r2, col : col + VLANES]`` per
    lane, fused as the scalar ``d0 += e[i] * e[j]`` of :func:`_samples`."""
    sig = _f32vec(_f32vec, x, r1, r2, col)

    def codegen(context, builder, signature, args):
        acc, ary, r1, r2, col = args
        aryty = signature.args[1]
        a = builder.load(_vec_ptr(context, builder, aryty, ary, r1, col), align=4)
        b = builder.load(_vec_ptr(context, builder, aryty, ary, r2, col), align=4)
        return builder.fadd(acc, builder.fmul(a, b, flags=("contract",)),
                            flags=("contract",))  # fmt: skip

    return sig, codegen


@intrinsic
def _vstore1(typingctx, y, off, v):
    """``y[off : off + VLANES] = v`` (1-d ``y``)."""
    sig = types.void(y, off, _f32vec)

    def codegen(context, builder, signature, args):
        ary, off, v = args
        ptr = _vec1_ptr(context, builder, signature.args[0], ary, off, _VEC)
        builder.store(v, ptr, align=4)
        return context.get_dummy_value()

    return sig, codegen


_VEC_P = _VEC.as_pointer()
# The masked load and store's names depend on LLVM's pointer model.
_MASKED = ".p0" if str(_I8P) == "ptr" else ".p0v16f32"
_MASK = ir.VectorType(ir.IntType(1), VLANES)


def _lanes_below(builder, m):
    """The mask of the lanes ``j < m`` (``m`` an unsigned integer)."""
    lanes = ir.Constant(ir.VectorType(m.type, VLANES), list(range(VLANES)))
    splat = builder.shuffle_vector(
        builder.insert_element(
            ir.Constant(ir.VectorType(m.type, VLANES), ir.Undefined),
            m,
            ir.IntType(32)(0),
        ),
        ir.Constant(ir.VectorType(m.type, VLANES), ir.Undefined),
        ir.Constant(ir.VectorType(ir.IntType(32), VLANES), [0] * VLANES),
    )
    return builder.icmp_unsigned("<", lanes, splat)


@intrinsic
def _vfma_part(typingctx, acc, w, x, row, col, m):
    """:func:`_vfma` of the first ``m`` lanes (the others keep ``acc``):
    a masked load, which reads nothing past them."""
    sig = _f32vec(_f32vec, _f32vec, x, row, col, m)

    def codegen(context, builder, signature, args):
        acc, w, ary, row, col, m = args
        ptr = _vec_ptr(context, builder, signature.args[2], ary, row, col)
        fnty = ir.FunctionType(_VEC, [_VEC_P, ir.IntType(32), _MASK, _VEC])
        fn = cgutils.get_or_insert_function(
            builder.module, fnty, "llvm.masked.load.v16f32" + _MASKED
        )
        zero = ir.Constant(_VEC, [0.0] * VLANES)
        mask = _lanes_below(builder, m)
        v = builder.call(fn, [ptr, ir.IntType(32)(4), mask, zero])
        fma = builder.fadd(acc, builder.fmul(w, v, flags=("contract",)),
                           flags=("contract",))  # fmt: skip
        return builder.select(mask, fma, acc)

    return sig, codegen


@intrinsic
def _vfma2_part(typingctx, acc, x, r1, r2, col, m):
    """:func:`_vfma2` of the first ``m`` lanes (masked loads; the other
    lanes keep ``acc``)."""
    sig = _f32vec(_f32vec, x, r1, r2, col, m)

    def codegen(context, builder, signature, args):
        acc, ary, r1, r2, col, m = args
        aryty = signature.args[1]
        fnty = ir.FunctionType(_VEC, [_VEC_P, ir.IntType(32), _MASK, _VEC])
        fn = cgutils.get_or_insert_function(
            builder.module, fnty, "llvm.masked.load.v16f32" + _MASKED
        )
        zero = ir.Constant(_VEC, [0.0] * VLANES)
        mask = _lanes_below(builder, m)
        a, b = (
            builder.call(
                fn,
                [_vec_ptr(context, builder, aryty, ary, r, col), _I32(4), mask, zero],
            )
            for r in (r1, r2)
        )
        fma = builder.fadd(acc, builder.fmul(a, b, flags=("contract",)),
                           flags=("contract",))  # fmt: skip
        return builder.select(mask, fma, acc)

    return sig, codegen


@intrinsic
def _vstore_part(typingctx, y, row, col, v, relu, m):
    """:func:`_vstore` of the first ``m`` lanes (a masked store)."""
    sig = types.void(y, row, col, _f32vec, types.boolean, m)

    def codegen(context, builder, signature, args):
        ary, row, col, v, relu, m = args
        ptr = _vec_ptr(context, builder, signature.args[0], ary, row, col)
        zero = ir.Constant(_VEC, [0.0] * VLANES)
        cut = builder.select(builder.fcmp_ordered("<", v, zero), zero, v)
        fnty = ir.FunctionType(ir.VoidType(), [_VEC, _VEC_P, ir.IntType(32), _MASK])
        fn = cgutils.get_or_insert_function(
            builder.module, fnty, "llvm.masked.store.v16f32" + _MASKED
        )
        mask = _lanes_below(builder, m)
        builder.call(fn, [builder.select(relu, cut, v), ptr, ir.IntType(32)(4), mask])
        return context.get_dummy_value()

    return sig, codegen


_ROWS = ir.VectorType(ir.IntType(64), VLANES)
_PTRS = ir.VectorType(ir.FloatType().as_pointer(), VLANES)
# The masked gather's name depends on LLVM's pointer model.
_GATHER = "llvm.masked.gather.v16f32." + ("v16p0" if str(_I8P) == "ptr" else "v16p0f32")


class _I64Vec(types.Type):
    """:data:`VLANES` int64 values as one LLVM vector: the byte offsets of
    the table rows of consecutive samples, which :func:`_vgather` reads."""

    def __init__(self):
        super().__init__(name="i64vec")


_i64vec = _I64Vec()
register_model(_I64Vec)(lambda dmm, fe_type: models.PrimitiveModel(dmm, fe_type, _ROWS))


def _vec1_ptr(context, builder, aryty, ary, col, vecty):
    """Pointer to the vector at ``ary[col : col + VLANES]`` (1-d ``ary``)."""
    a = context.make_array(aryty)(context, builder, ary)
    ptr = cgutils.get_item_pointer(
        context, builder, aryty, a, [col], wraparound=False, boundscheck=False
    )
    return builder.bitcast(ptr, vecty.as_pointer())


@intrinsic
def _vload_rows(typingctx, ary, col):
    """``ary[col : col + VLANES]`` of an int64 array, as one vector."""
    sig = _i64vec(ary, col)

    def codegen(context, builder, signature, args):
        ptr = _vec1_ptr(context, builder, signature.args[0], *args, _ROWS)
        return builder.load(ptr, align=8)

    return sig, codegen


@intrinsic
def _vload(typingctx, ary, col):
    """``ary[col : col + VLANES]`` of a float32 array, as one vector."""
    sig = _f32vec(ary, col)

    def codegen(context, builder, signature, args):
        ptr = _vec1_ptr(context, builder, signature.args[0], *args, _VEC)
        return builder.load(ptr, align=4)

    return sig, codegen


def _gather(context, builder, aryty, ary, rows, col, mask, passthru):
    """The float32 at byte ``rows[j] + col`` of ``ary``'s data, lane by lane
    (``llvm.masked.gather``: lanes off ``mask`` read nothing)."""
    a = context.make_array(aryty)(context, builder, ary)
    base = builder.add(builder.ptrtoint(a.data, ir.IntType(64)), col)
    lane0 = builder.insert_element(
        ir.Constant(_ROWS, ir.Undefined), base, ir.IntType(32)(0)
    )
    splat = builder.shuffle_vector(
        lane0,
        ir.Constant(_ROWS, ir.Undefined),
        ir.Constant(ir.VectorType(ir.IntType(32), VLANES), [0] * VLANES),
    )
    ptrs = builder.inttoptr(builder.add(splat, rows), _PTRS)
    fnty = ir.FunctionType(_VEC, [_PTRS, ir.IntType(32), _MASK, _VEC])
    fn = cgutils.get_or_insert_function(builder.module, fnty, _GATHER)
    return builder.call(fn, [ptrs, ir.IntType(32)(4), mask, passthru])


@intrinsic
def _vgather(typingctx, table, rows, col, v):
    """``table[r_j, c] * v_j`` per lane, ``rows`` the byte offsets of the
    rows ``r_j``, ``col`` that of the column ``c`` (the scalar product of
    :func:`_samples`, one rounding)."""
    sig = _f32vec(table, _i64vec, col, _f32vec)

    def codegen(context, builder, signature, args):
        table, rows, col, v = args
        mask = ir.Constant(_MASK, [1] * VLANES)
        undef = ir.Constant(_VEC, ir.Undefined)
        g = _gather(context, builder, signature.args[0], table, rows, col, mask, undef)
        return builder.fmul(g, v)

    return sig, codegen


@intrinsic
def _vgather_part(typingctx, table, rows, col, v, m):
    """:func:`_vgather` of the first ``m`` lanes (the others read nothing)."""
    sig = _f32vec(table, _i64vec, col, _f32vec, m)

    def codegen(context, builder, signature, args):
        table, rows, col, v, m = args
        mask = _lanes_below(builder, m)
        zero = ir.Constant(_VEC, [0.0] * VLANES)
        g = _gather(context, builder, signature.args[0], table, rows, col, mask, zero)
        return builder.fmul(g, v)

    return sig, codegen


_I32 = ir.IntType(32)


def _splat(builder, vecty, v):
    """A vector of type ``vecty`` holding :data:`VLANES` copies of ``v``."""
    lane0 = builder.insert_element(ir.Constant(vecty, ir.Undefined), v, _I32(0))
    zeros = ir.Constant(ir.VectorType(_I32, VLANES), [0] * VLANES)
    return builder.shuffle_vector(lane0, ir.Constant(vecty, ir.Undefined), zeros)


def _field_lanes(context, builder, aryty, ary, row, col, m, elt):
    """``ary[row + j, col]`` for the lanes ``j < m`` of a 2-d array (a
    strided ``llvm.masked.gather``; the other lanes read nothing, zero)."""
    a = context.make_array(aryty)(context, builder, ary)
    ptr = cgutils.get_item_pointer(
        context, builder, aryty, a, [row, col], wraparound=False, boundscheck=False
    )
    i64 = ir.IntType(64)
    stride = cgutils.unpack_tuple(builder, a.strides, 2)[0]
    steps = builder.mul(
        ir.Constant(_ROWS, list(range(VLANES))), _splat(builder, _ROWS, stride)
    )
    base = _splat(builder, _ROWS, builder.ptrtoint(ptr, i64))
    vecty = ir.VectorType(elt, VLANES)
    ptrs = builder.inttoptr(
        builder.add(base, steps), ir.VectorType(elt.as_pointer(), VLANES)
    )
    if isinstance(elt, ir.FloatType):
        name = "f32"
    else:
        name = f"i{elt.width}"
    opaque = str(_I8P) == "ptr"
    fn = cgutils.get_or_insert_function(
        builder.module,
        ir.FunctionType(vecty, [ptrs.type, _I32, _MASK, vecty]),
        f"llvm.masked.gather.v16{name}." + ("v16p0" if opaque else f"v16p0{name}"),
    )
    zero = ir.Constant(vecty, [0] * VLANES)
    align = _I32(elt.width // 8 if not isinstance(elt, ir.FloatType) else 4)
    return builder.call(fn, [ptrs, align, _lanes_below(builder, m), zero])


@intrinsic
def _vfield_values(typingctx, xv, row, col, m):
    """The values ``xv[row + j, col]`` (float32) of the lanes ``j < m`` as
    one vector (zero in the others)."""
    if xv.dtype != types.float32:
        return None
    sig = _f32vec(xv, row, col, m)

    def codegen(context, builder, signature, args):
        return _field_lanes(context, builder, signature.args[0], *args, ir.FloatType())

    return sig, codegen


def _valid_rows(builder, rows, nrows):
    """The lanes of ``rows`` (unsigned) below ``nrows``."""
    return builder.icmp_unsigned("<", rows, _splat(builder, _ROWS, nrows))


@intrinsic
def _vbad_rows(typingctx, rows, nrows, m):
    """How many of the first ``m`` lanes of ``rows`` are at or above
    ``nrows`` (unsigned, as the scalar check)."""
    sig = types.int64(_i64vec, nrows, m)

    def codegen(context, builder, signature, args):
        rows, nrows, m = args
        bad = builder.and_(
            builder.not_(_valid_rows(builder, rows, nrows)), _lanes_below(builder, m)
        )
        i16 = ir.IntType(16)
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(i16, [i16]), "llvm.ctpop.i16"
        )
        n = builder.call(fn, [builder.bitcast(bad, i16)])
        return builder.zext(n, ir.IntType(64))

    return sig, codegen


@intrinsic
def _vrow_offsets(typingctx, rows, nrows, stride):
    """Byte offsets ``r_j * stride`` of the rows, row 0 for those at or
    above ``nrows`` (as the scalar kernel reads row 0 for a bad row)."""
    sig = _i64vec(_i64vec, nrows, stride)

    def codegen(context, builder, signature, args):
        rows, nrows, stride = args
        ok = builder.select(
            _valid_rows(builder, rows, nrows), rows, ir.Constant(_ROWS, [0] * VLANES)
        )
        return builder.mul(ok, _splat(builder, _ROWS, stride))

    return sig, codegen


@intrinsic
def _vlinear(typingctx, t, col0, table, rows, col, v, m):
    """``t[col0 + j] += table[r_j, c] * v_j`` for the lanes ``j < m`` (masked
    loads, gather and store: the others read and write nothing), fused as
    the scalar ``t2[s] += table[r, k] * v`` (``contract``): the linear terms."""
    sig = types.void(t, col0, table, _i64vec, col, _f32vec, m)

    def codegen(context, builder, signature, args):
        t, col0, table, rows, col, v, m = args
        ptr = _vec1_ptr(context, builder, signature.args[0], t, col0, _VEC)
        mask = _lanes_below(builder, m)
        zero = ir.Constant(_VEC, [0.0] * VLANES)
        load = cgutils.get_or_insert_function(
            builder.module,
            ir.FunctionType(_VEC, [_VEC_P, _I32, _MASK, _VEC]),
            "llvm.masked.load.v16f32" + _MASKED,
        )
        acc = builder.call(load, [ptr, _I32(4), mask, zero])
        g = _gather(context, builder, signature.args[2], table, rows, col, mask, zero)
        fma = builder.fadd(acc, builder.fmul(g, v, flags=("contract",)),
                           flags=("contract",))  # fmt: skip
        store = cgutils.get_or_insert_function(
            builder.module,
            ir.FunctionType(ir.VoidType(), [_VEC, _VEC_P, _I32, _MASK]),
            "llvm.masked.store.v16f32" + _MASKED,
        )
        builder.call(store, [fma, ptr, _I32(4), mask])
        return context.get_dummy_value()

    return sig, codegen


_I32V = ir.VectorType(ir.IntType(32), VLANES)
_SCATTER = "llvm.masked.scatter.v16f32." + (
    "v16p0" if str(_I8P) == "ptr" else "v16p0f32"
)


def _splat_i32(builder, v):
    """A vector of :data:`VLANES` copies of the int32 ``v``."""
    lane0 = builder.insert_element(
        ir.Constant(_I32V, ir.Undefined), v, ir.IntType(32)(0)
    )
    zeros = ir.Constant(_I32V, [0] * VLANES)
    return builder.shuffle_vector(lane0, ir.Constant(_I32V, ir.Undefined), zeros)


def _elements(context, builder, aryty, ary, idx):
    """Pointers to ``ary[idx_j]`` of a 1-d float32 array, lane by lane: a
    vector getelementptr (llvmlite builds scalar ones only) of int32
    indices, which LLVM turns into one gather (scatter) with 32-bit indices
    (two of 64-bit pointers cost ~1.6x more in the sliced layer: scratch
    timing). The vector getelementptr is built through llvmlite's
    instruction class, not its public builder; an llvmlite whose class
    differs gets the same addresses by integer arithmetic (slower, same
    values)."""
    a = context.make_array(aryty)(context, builder, ary)
    try:
        gep = ir.instructions.GEPInstr(
            builder.block, a.data, [idx], True, "", source_etype=ir.FloatType()
        )
        gep.type = _PTRS
    except (AttributeError, TypeError):  # pragma: no cover - other llvmlite
        base = builder.ptrtoint(a.data, ir.IntType(64))
        lane0 = builder.insert_element(
            ir.Constant(_ROWS, ir.Undefined), base, ir.IntType(32)(0)
        )
        splat = builder.shuffle_vector(
            lane0,
            ir.Constant(_ROWS, ir.Undefined),
            ir.Constant(_I32V, [0] * VLANES),
        )
        offsets = builder.mul(
            builder.zext(idx, _ROWS), ir.Constant(_ROWS, [4] * VLANES)
        )
        return builder.inttoptr(builder.add(splat, offsets), _PTRS)
    builder._insert(gep)
    return gep


@intrinsic
def _sell_fma(typingctx, acc, fp, woff, ip, ioff, loff, x, t):
    """``acc + w * x[c]`` per lane (one fused rounding, as ``a += w * x`` of
    :func:`_sample_layer`), ``w`` and ``c`` the vectors at ``fp[woff:]`` and
    ``ip[ioff:]``, in the lanes whose row length ``ip[loff + j]`` exceeds
    ``t``; the other lanes keep ``acc`` and read nothing."""
    sig = _f32vec(_f32vec, fp, woff, ip, ioff, loff, x, t)

    def codegen(context, builder, signature, args):
        acc, fpa, woff, ipa, ioff, loff, xa, t = args
        fpty, ipty = signature.args[1], signature.args[3]
        w = builder.load(_vec1_ptr(context, builder, fpty, fpa, woff, _VEC), align=4)
        cols = builder.load(
            _vec1_ptr(context, builder, ipty, ipa, ioff, _I32V), align=4
        )
        lens = builder.load(
            _vec1_ptr(context, builder, ipty, ipa, loff, _I32V), align=4
        )
        mask = builder.icmp_unsigned(
            ">", lens, _splat_i32(builder, builder.trunc(t, ir.IntType(32)))
        )
        ptrs = _elements(context, builder, signature.args[6], xa, cols)
        fnty = ir.FunctionType(_VEC, [_PTRS, ir.IntType(32), _MASK, _VEC])
        fn = cgutils.get_or_insert_function(builder.module, fnty, _GATHER)
        zero = ir.Constant(_VEC, [0.0] * VLANES)
        g = builder.call(fn, [ptrs, ir.IntType(32)(4), mask, zero])
        fma = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(_VEC, [_VEC] * 3), "llvm.fma.v16f32"
        )
        return builder.select(mask, builder.call(fma, [w, g, acc]), acc)

    return sig, codegen


def _relu(builder, v, relu):
    """``v`` with lanes below zero set to zero with ``relu`` (NaN passes)."""
    zero = ir.Constant(_VEC, [0.0] * VLANES)
    cut = builder.select(builder.fcmp_ordered("<", v, zero), zero, v)
    return builder.select(relu, cut, v)


@intrinsic
def _vstore1_part(typingctx, y, off, v, relu, m):
    """``y[off : off + m] = v[:m]`` (1-d ``y``; ReLU as :func:`_vstore`)."""
    sig = types.void(y, off, _f32vec, types.boolean, m)

    def codegen(context, builder, signature, args):
        ary, off, v, relu, m = args
        ptr = _vec1_ptr(context, builder, signature.args[0], ary, off, _VEC)
        fnty = ir.FunctionType(ir.VoidType(), [_VEC, _VEC_P, ir.IntType(32), _MASK])
        fn = cgutils.get_or_insert_function(
            builder.module, fnty, "llvm.masked.store.v16f32" + _MASKED
        )
        mask = _lanes_below(builder, m)
        builder.call(fn, [_relu(builder, v, relu), ptr, ir.IntType(32)(4), mask])
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def _vscatter_part(typingctx, y, ip, roff, v, relu, m):
    """``y[ip[roff + j]] = v[j]`` for ``j < m`` (ReLU as :func:`_vstore`)."""
    sig = types.void(y, ip, roff, _f32vec, types.boolean, m)

    def codegen(context, builder, signature, args):
        ary, ipa, roff, v, relu, m = args
        ipty = signature.args[1]
        rows = builder.load(
            _vec1_ptr(context, builder, ipty, ipa, roff, _I32V), align=4
        )
        ptrs = _elements(context, builder, signature.args[0], ary, rows)
        fnty = ir.FunctionType(ir.VoidType(), [_VEC, _PTRS, ir.IntType(32), _MASK])
        fn = cgutils.get_or_insert_function(builder.module, fnty, _SCATTER)
        mask = _lanes_below(builder, m)
        builder.call(fn, [_relu(builder, v, relu), ptrs, ir.IntType(32)(4), mask])
        return context.get_dummy_value()

    return sig, codegen


@_jit(nogil=True, fastmath=_FASTMATH, inline="always")
def _sell_layer(fp, ip, pp, meta, d, x, y, relu):  # pragma: no cover - compiled
    """:func:`_sample_layer` of a layer packed in slices of :data:`VLANES`
    CSR rows (rows sorted by length, longest first), one lane per row: the
    ``t``-th nonzero of the slice's rows is one vector of weights, one of
    columns and one gather of ``x``, the even ones summed into ``a`` (from
    the bias), the odd ones into ``a2``, lanes past a row's length left
    alone; the same FMAs per row in the same order, so the same bits as the
    scalar rows, whose chains of dependent FMAs and loads per nonzero (three,
    where a slice's step costs ~1 per nonzero) bound them. Outputs in the
    sorted order (the next layer's columns are renumbered) or scattered to
    their rows (:data:`SELL_SCATTER`)."""
    zero = np.float32(0.0)
    sixteen = np.uint64(VLANES)
    n_out = np.uint64(meta[d + 1])
    scatter = meta[d + 8] == SELL_SCATTER
    w = np.uint64(meta[d + 9])
    c = np.uint64(meta[d + 10])
    lens = np.uint64(meta[d + 11])
    soff = np.uint64(meta[d + 12])
    boff = np.uint64(meta[d + 13])
    roff = np.uint64(meta[d + 14])
    z = _vsplat(zero)
    for s in range((n_out + sixteen - np.uint64(1)) // sixteen):
        o = s * sixteen
        a = _vload(fp, boff + o)
        a2 = z
        t = np.uint64(0)
        for _ in range(pp[soff + s]):
            a = _sell_fma(a, fp, w, ip, c, lens + o, x, t)
            w += sixteen
            c += sixteen
            a2 = _sell_fma(a2, fp, w, ip, c, lens + o, x, t + np.uint64(1))
            w += sixteen
            c += sixteen
            t += np.uint64(2)
        if scatter:
            _vscatter_part(y, ip, roff + o, _vadd(a, a2), relu, n_out - o)
        else:
            _vstore1_part(y, o, _vadd(a, a2), relu, n_out - o)


@_jit(nogil=True, fastmath=_FASTMATH)
def _tile_layer(fp, ip, pp, meta, d, x, y, ns, relu):  # pragma: no cover
    """One DNN or cross layer of a tile (feature-major ``x`` and ``y``).

    A CSR layer is summed in blocks of 4 * :data:`VLANES` samples, each
    output of a block in eight vectors (registers), then blocks of
    :data:`VLANES` in two, the last samples in masked vectors (a block's
    input rows are read once per nonzero: block after block, the outputs
    inside, they stay in the caches between outputs): a nonzero costs
    a vector load and FMA per vector, where a buffer of sums (which the
    arrays might alias) is also loaded and stored per nonzero. The nonzeros
    alternate between two sums, added at the end: the arithmetic of
    :func:`_sample_layer`, to the bit. The blocks are written out here, not
    in an inlined helper, whose array arguments numba reference-counts per
    call (calls that spill the vectors)."""
    one = np.uint64(1)
    two = np.uint64(2)
    zero = np.float32(0.0)
    n_in = np.uint64(meta[d])
    n_out = np.uint64(meta[d + 1])
    boff = np.uint64(meta[d + 5])
    if meta[d + 7] & DENSE_TILE:
        woff = np.uint64(meta[d + 6])
        _dense_tile_layer(fp, woff, boff, n_in, n_out, x, y, ns, relu)
        return
    doff = np.uint64(meta[d + 2])
    ioff = np.uint64(meta[d + 3])
    poff = np.uint64(meta[d + 4])
    v1 = np.uint64(VLANES)
    v4 = np.uint64(4 * VLANES)
    n4 = ns - ns % v4
    n1 = ns - ns % v1
    vzero = _vsplat(zero)
    for s0 in range(np.uint64(0), n4, v4):
        s1 = s0 + v1
        s2 = s1 + v1
        s3 = s2 + v1
        for o in range(n_out):
            vb = _vsplat(fp[boff + o])
            p = pp[poff + o]
            p_end = pp[poff + o + one]
            a0 = a1 = a2 = a3 = vb
            b0 = b1 = b2 = b3 = vzero
            while p + one < p_end:
                w = _vsplat(fp[doff + p])
                c = np.uint64(ip[ioff + p])
                a0 = _vfma(a0, w, x, c, s0)
                a1 = _vfma(a1, w, x, c, s1)
                a2 = _vfma(a2, w, x, c, s2)
                a3 = _vfma(a3, w, x, c, s3)
                w = _vsplat(fp[doff + p + one])
                c = np.uint64(ip[ioff + p + one])
                b0 = _vfma(b0, w, x, c, s0)
                b1 = _vfma(b1, w, x, c, s1)
                b2 = _vfma(b2, w, x, c, s2)
                b3 = _vfma(b3, w, x, c, s3)
                p += two
            if p < p_end:
                w = _vsplat(fp[doff + p])
                c = np.uint64(ip[ioff + p])
                a0 = _vfma(a0, w, x, c, s0)
                a1 = _vfma(a1, w, x, c, s1)
                a2 = _vfma(a2, w, x, c, s2)
                a3 = _vfma(a3, w, x, c, s3)
            _vstore(y, o, s0, _vadd(a0, b0), relu)
            _vstore(y, o, s1, _vadd(a1, b1), relu)
            _vstore(y, o, s2, _vadd(a2, b2), relu)
            _vstore(y, o, s3, _vadd(a3, b3), relu)
    for s0 in range(n4, n1, v1):
        for o in range(n_out):
            a0 = _vsplat(fp[boff + o])
            b0 = vzero
            p = pp[poff + o]
            p_end = pp[poff + o + one]
            while p + one < p_end:
                q = p + one
                a0 = _vfma(a0, _vsplat(fp[doff + p]), x, np.uint64(ip[ioff + p]), s0)
                b0 = _vfma(b0, _vsplat(fp[doff + q]), x, np.uint64(ip[ioff + q]), s0)
                p += two
            if p < p_end:
                a0 = _vfma(a0, _vsplat(fp[doff + p]), x, np.uint64(ip[ioff + p]), s0)
            _vstore(y, o, s0, _vadd(a0, b0), relu)
    if n1 < ns:
        m = ns - n1
        for o in range(n_out):
            a0 = _vsplat(fp[boff + o])
            b0 = vzero
            p = pp[poff + o]
            p_end = pp[poff + o + one]
            while p + one < p_end:
                w = _vsplat(fp[doff + p])
                a0 = _vfma_part(a0, w, x, np.uint64(ip[ioff + p]), n1, m)
                w = _vsplat(fp[doff + p + one])
                b0 = _vfma_part(b0, w, x, np.uint64(ip[ioff + p + one]), n1, m)
                p += two
            if p < p_end:
                w = _vsplat(fp[doff + p])
                a0 = _vfma_part(a0, w, x, np.uint64(ip[ioff + p]), n1, m)
            _vstore_part(y, o, n1, _vadd(a0, b0), relu, m)


@_jit(nogil=True, fastmath=_FASTMATH)
def _cin_dense_sample(
    x0, fp, woff, boff, h_in, h_out, F, k, cur, new, z
):  # pragma: no cover
    """A CIN layer of one sample from dense filters: the outer products
    ``z[h * F + m, kk] = cur[h, kk] x0[m, kk]`` as a (h_in * F, k) matrix,
    then one BLAS ``sgemm`` of the (h_out, h_in * F) filters with it."""
    C = h_in * F
    for h in range(h_in):
        for m in range(F):
            zb = (h * F + m) * k
            hb = h * k
            mb = m * k
            for kk in range(k):
                z[zb + kk] = cur[hb + kk] * x0[mb + kk]
    W = fp[woff : woff + h_out * C].reshape((np.int64(h_out), np.int64(C)))
    z2 = z[: C * k].reshape((np.int64(C), np.int64(k)))
    new2 = new[: h_out * k].reshape((np.int64(h_out), np.int64(k)))
    np.dot(W, z2, new2)
    for o in range(h_out):
        bo = fp[boff + o]
        for kk in range(k):
            new2[o, kk] += bo


@_jit(nogil=True, fastmath=_FASTMATH)
def _cin_dense_tile(
    et, fp, woff, boff, h_in, h_out, F, k, cur, new, z
):  # pragma: no cover
    """A CIN layer of a tile from dense filters: the outer products of the
    feature maps and the embeddings as a (h_in * F, k * T) matrix, then one
    BLAS ``sgemm`` (``cur``, ``new`` and ``et`` are feature-major, so row
    ``h`` of ``cur`` viewed (maps, k * T) is map ``h`` of every sample)."""
    kt = np.int64(k) * cur.shape[1]
    C = h_in * F
    cur2 = cur.reshape((cur.shape[0] // np.int64(k), kt))
    et2 = et.reshape((np.int64(F), kt))
    for h in range(h_in):
        for m in range(F):
            c = h * F + m
            for j in range(kt):
                z[c, j] = cur2[h, j] * et2[m, j]
    W = fp[woff : woff + h_out * C].reshape((np.int64(h_out), np.int64(C)))
    new2 = new.reshape((new.shape[0] // np.int64(k), kt))[:h_out]
    np.dot(W, z[:C], new2)
    for o in range(h_out):
        bo = fp[boff + o]
        for j in range(kt):
            new2[o, j] += bo


@_jit(nogil=True, fastmath=_FASTMATH)
def _cin_sample(x0, fp, ip, pp, meta, cur, new, zt, acc):  # pragma: no cover
    """``acc`` (a float64 logit) plus the CIN terms of one sample, one per
    kept feature map, added in the order :func:`_cin_tile` adds them; ``x0``
    holds its (n_fields * k) embeddings."""
    one = np.uint64(1)
    zero = np.float32(0.0)
    F = np.uint64(meta[M_F])
    k = np.uint64(meta[M_K])
    oo = np.uint64(meta[M_CIN_OUT])
    base = M_LAYERS + DNN_SLOTS * meta[M_DNN_NL]
    for j in range(F * k):
        cur[j] = x0[j]
    for li in range(meta[M_CIN_NL]):
        d = base + CIN_SLOTS * li
        h_in = np.uint64(meta[d])
        h_out = np.uint64(meta[d + 1])
        kept = np.uint64(meta[d + 2])
        doff = np.uint64(meta[d + 4])
        ioff = np.uint64(meta[d + 5])
        poff = np.uint64(meta[d + 6])
        boff = np.uint64(meta[d + 7])
        if meta[d + 9] & DENSE_SAMPLE:
            woff = np.uint64(meta[d + 8])
            _cin_dense_sample(x0, fp, woff, boff, h_in, h_out, F, k, cur, new, zt)
        else:
            for o in range(h_out):
                bo = fp[boff + o]
                ob = o * k
                for kk in range(k):
                    new[ob + kk] = bo
                for p in range(pp[poff + o], pp[poff + o + one]):
                    c = np.uint64(ip[ioff + p])
                    w = fp[doff + p]
                    h = c // F
                    hb = h * k
                    mb = (c - h * F) * k
                    for kk in range(k):
                        new[ob + kk] += w * (cur[hb + kk] * x0[mb + kk])
        first = h_out - kept
        for o in range(first, h_out):
            s = zero
            ob = o * k
            for kk in range(k):
                s += new[ob + kk]
            acc += fp[oo + (o - first)] * s
        oo += kept
        cur, new = new, cur
    return acc


@_jit(nogil=True, fastmath=_FASTMATH)
def _cin_tile(et, ns, fp, ip, pp, meta, cur, new, t1, acc, z):  # pragma: no cover
    """CIN logits of a tile's ``ns`` samples, added to ``acc``.

    The arithmetic of :func:`_cin_sample` with the sample index innermost:
    ``et`` holds the tile's embeddings (n_fields * k, T), ``cur`` and
    ``new`` are (max feature maps * k, T) feature maps, so each surviving
    filter weight updates k contiguous rows of ``ns`` samples (SIMD) instead
    of k scalars of one sample; a layer packed dense is one ``sgemm``.
    """
    one = np.uint64(1)
    zero = np.float32(0.0)
    F = np.uint64(meta[M_F])
    k = np.uint64(meta[M_K])
    oo = np.uint64(meta[M_CIN_OUT])
    base = M_LAYERS + DNN_SLOTS * meta[M_DNN_NL]
    for j in range(F * k):
        for s in range(ns):
            cur[j, s] = et[j, s]
    for li in range(meta[M_CIN_NL]):
        d = base + CIN_SLOTS * li
        h_in = np.uint64(meta[d])
        h_out = np.uint64(meta[d + 1])
        kept = np.uint64(meta[d + 2])
        doff = np.uint64(meta[d + 4])
        ioff = np.uint64(meta[d + 5])
        poff = np.uint64(meta[d + 6])
        boff = np.uint64(meta[d + 7])
        if meta[d + 9] & DENSE_TILE:
            woff = np.uint64(meta[d + 8])
            _cin_dense_tile(et, fp, woff, boff, h_in, h_out, F, k, cur, new, z)
        else:
            for o in range(h_out):
                bo = fp[boff + o]
                ob = o * k
                for kk in range(k):
                    for s in range(ns):
                        new[ob + kk, s] = bo
                for p in range(pp[poff + o], pp[poff + o + one]):
                    c = np.uint64(ip[ioff + p])
                    w = fp[doff + p]
                    h = c // F
                    hb = h * k
                    mb = (c - h * F) * k
                    for kk in range(k):
                        for s in range(ns):
                            new[ob + kk, s] += w * (cur[hb + kk, s] * et[mb + kk, s])
        first = h_out - kept
        for o in range(first, h_out):
            for s in range(ns):
                t1[s] = zero
            ob = o * k
            for kk in range(k):
                for s in range(ns):
                    t1[s] += new[ob + kk, s]
            wo = fp[oo + (o - first)]
            for s in range(ns):
                acc[s] += wo * t1[s]
        oo += kept
        cur, new = new, cur


@_jit(nogil=True, fastmath=_FASTMATH)
def _cross_sample(x0, fp, ip, pp, meta, h, z):  # pragma: no cover - compiled
    """Cross-network logit of one sample: ``h <- x0 * (W h + b) + h``."""
    width = np.uint64(meta[M_F]) * np.uint64(meta[M_K])
    base = M_LAYERS + DNN_SLOTS * meta[M_DNN_NL] + CIN_SLOTS * meta[M_CIN_NL]
    for j in range(width):
        h[j] = x0[j]
    for li in range(meta[M_CROSS_NL]):
        _sample_layer(fp, ip, pp, meta, base + DNN_SLOTS * li, h, z, False)
        for j in range(width):
            h[j] += x0[j] * z[j]
    oo = np.uint64(meta[M_CROSS_OUT])
    t = np.float32(0.0)
    for j in range(width):
        t += fp[oo + j] * h[j]
    return t


@_jit(nogil=True, fastmath=_FASTMATH)
def _cross_tile(et, ns, fp, ip, pp, meta, h, z, t1, acc):  # pragma: no cover
    """Cross-network logits of a tile's ``ns`` samples, added to ``acc``."""
    width = np.uint64(meta[M_F]) * np.uint64(meta[M_K])
    base = M_LAYERS + DNN_SLOTS * meta[M_DNN_NL] + CIN_SLOTS * meta[M_CIN_NL]
    for j in range(width):
        for s in range(ns):
            h[j, s] = et[j, s]
    for li in range(meta[M_CROSS_NL]):
        _tile_layer(fp, ip, pp, meta, base + DNN_SLOTS * li, h, z, ns, False)
        for j in range(width):
            for s in range(ns):
                h[j, s] += et[j, s] * z[j, s]
    oo = np.uint64(meta[M_CROSS_OUT])
    for s in range(ns):
        t1[s] = np.float32(0.0)
    for j in range(width):
        w = fp[oo + j]
        for s in range(ns):
            t1[s] += w * h[j, s]
    for s in range(ns):
        acc[s] += t1[s]


@_jit(nogil=True, fastmath=_FASTMATH)
def forward_samples(table, xi, xv, fp, ip, pp, meta):  # pragma: no cover - compiled
    """Logits of a small batch, one sample at a time.

    Parameters
    ----------
    table : ndarray of float32 of shape (n_rows, k + 1)
        Embeddings, the last column the (folded) linear weight of each row.
    xi : ndarray of int64 of shape (n_samples, n_fields)
        Table rows (read as unsigned: a negative row is out of range).
    xv : ndarray of float32 of shape (n_samples, n_fields)
        Field values.
    fp, ip, pp, meta : ndarray
        Packed parameters (float32 values, uint32 indices, uint64 row
        pointers, int64 layout).

    Returns
    -------
    logits : ndarray of float32 of shape (n_samples,)
    n_bad : int
        Row indices at or above ``n_rows`` (read as row 0).
    """
    n = xi.shape[0]
    out = np.empty(n, dtype=np.float32)
    scratch = np.empty(_scratch_size(meta), np.float32)
    return out, _samples(table, xi, xv, fp, ip, pp, meta, out, scratch)


@_jit(nogil=True)
def _scratch_size(meta):  # pragma: no cover - compiled
    """float32 values of the per-sample kernel's scratch buffer."""
    F = np.uint64(meta[M_F])
    k = np.uint64(meta[M_K])
    maxw = np.uint64(meta[M_MAXW])
    hk = np.uint64(meta[M_CIN_MAXH]) * k
    wx = F * k if meta[M_CROSS_NL] > 0 else np.uint64(0)
    return F * k + k + 2 * maxw + 2 * hk + 2 * wx + k * np.uint64(meta[M_CIN_MAXZ])


@_jit(nogil=True, fastmath=_FASTMATH, inline="always")
def _samples(table, xi, xv, fp, ip, pp, meta, out, scratch):  # pragma: no cover
    """:func:`forward_samples` into ``out``, with a scratch buffer of
    :func:`_scratch_size` values; returns the count of bad rows."""
    zero = np.float32(0.0)
    half = np.float32(0.5)
    n = np.uint64(xi.shape[0])
    F = np.uint64(meta[M_F])
    k = np.uint64(meta[M_K])
    nrows = np.uint64(meta[M_NROWS])
    fm = meta[M_FM] != 0
    npairs = np.uint64(meta[M_NPAIRS])
    pw = np.uint64(meta[M_PAIR_W])
    pi = np.uint64(meta[M_PAIR_I])
    pj = pi + npairs
    k2 = k - k % np.uint64(2)  # dimensions summed in pairs
    one = np.uint64(1)
    dnn_mode = meta[M_DNN_MODE]
    ndnn = meta[M_DNN_NL]
    dout = np.uint64(meta[M_DNN_OUT])
    ncin = meta[M_CIN_NL]
    ncross = meta[M_CROSS_NL]
    bias = fp[np.uint64(meta[M_BIAS])]
    maxw = np.uint64(meta[M_MAXW])
    maxh = np.uint64(meta[M_CIN_MAXH])

    fk = F * k
    hk = maxh * k
    wx = fk if ncross > 0 else np.uint64(0)
    e = scratch[:fk]
    o0 = fk
    bi = scratch[o0 : o0 + k]
    o0 += k
    ha = scratch[o0 : o0 + maxw]
    o0 += maxw
    hb = scratch[o0 : o0 + maxw]
    o0 += maxw
    cur = scratch[o0 : o0 + hk]
    o0 += hk
    new = scratch[o0 : o0 + hk]
    o0 += hk
    xh = scratch[o0 : o0 + wx]
    o0 += wx
    xz = scratch[o0 : o0 + wx]
    o0 += wx
    zt = scratch[o0:]
    n_last = np.uint64(meta[M_DNN_LAST])
    bad = 0
    for b in range(n):
        # The bias and the linear terms summed in float32 (as the tiled
        # kernel's gather loop sums them, where float64 made LR 1.4x slower),
        # then the other terms (float32 values, as torch's) in float64: the
        # float32 logit is the rounding of a nearly exact sum of the blocks'
        # terms, closer to the model's float64 forward than torch's float32
        # sum (benchmarks/parity.py).
        lin = bias
        for f in range(F):  # request every row first: the misses overlap
            r = np.uint64(xi[b, f])
            if r < nrows:
                _prefetch_row(table, r, k)
        for f in range(F):
            r = np.uint64(xi[b, f])
            if r >= nrows:
                bad += 1
                r = np.uint64(0)
            v = xv[b, f]
            lin += table[r, k] * v
            fb = f * k
            for kk in range(k):
                e[fb + kk] = table[r, kk] * v
        acc = np.float64(lin)
        if fm or dnn_mode == 2:
            for kk in range(k):
                s = zero
                q = zero
                for f in range(F):
                    v = e[f * k + kk]
                    s += v
                    q += v * v
                bi[kk] = half * (s * s - q)
            if fm:
                t = zero
                for kk in range(k):
                    t += bi[kk]
                acc += t
        for p in range(npairs):
            # Even and odd dimensions in two sums (as the tiled kernel).
            ib = np.uint64(ip[pi + p]) * k
            jb = np.uint64(ip[pj + p]) * k
            d0 = zero
            d1 = zero
            for kk in range(np.uint64(0), k2, np.uint64(2)):
                d0 += e[ib + kk] * e[jb + kk]
                d1 += e[ib + kk + one] * e[jb + kk + one]
            if k2 < k:
                d0 += e[ib + k2] * e[jb + k2]
            acc += fp[pw + p] * (d0 + d1)
        if dnn_mode != 0:
            x = e if dnn_mode == 1 else bi
            for li in range(ndnn):
                y = ha if li % 2 == 0 else hb
                _sample_layer(fp, ip, pp, meta, M_LAYERS + DNN_SLOTS * li, x, y, True)
                x = y
            acc += _dot8(fp, dout, x, n_last)
        if ncin > 0:
            acc = _cin_sample(e, fp, ip, pp, meta, cur, new, zt, acc)
        if ncross > 0:
            acc += _cross_sample(e, fp, ip, pp, meta, xh, xz)
        out[b] = np.float32(acc)
    return bad


@_jit(nogil=True, fastmath=_FASTMATH)
def _linear_tile(t0, ns, table, xi, xv, F, nrows, t2):  # pragma: no cover - compiled
    """Adds the linear terms of samples ``t0 .. t0 + ns`` to ``t2`` (LR: no
    embedding columns), one sample at a time, the rows of the next field
    requested while one is summed; returns the count of bad rows. A function
    of its own: inlined in :func:`_tile`, LLVM compiled it ~10% slower
    (scratch timing)."""
    one = np.uint64(1)
    k = np.uint64(0)
    bad = 0
    if F > 0:
        for s in range(ns):
            r = np.uint64(xi[t0 + s, 0])
            if r < nrows:
                _prefetch_row(table, r, k)
    for f in range(F):
        if f + one < F:
            for s in range(ns):
                r = np.uint64(xi[t0 + s, f + one])
                if r < nrows:
                    _prefetch(table, r, k)
        for s in range(ns):
            row = t0 + s
            r = np.uint64(xi[row, f])
            if r >= nrows:
                bad += 1
                r = np.uint64(0)
            t2[s] += table[r, k] * xv[row, f]
    return bad


@_jit(nogil=True, fastmath=_FASTMATH)
def _tile(t0, ns, table, xi, xv, fp, ip, pp, meta, out, et, bt, ha, hb, acc, t1, t2,
          cur, new, xh, xz, z, ri):  # fmt: skip  # pragma: no cover - compiled
    """Logits of samples ``t0 .. t0 + ns`` (ns <= meta[M_TILE]), feature-major
    buffers."""
    one = np.uint64(1)
    zero = np.float32(0.0)
    half = np.float32(0.5)
    F = np.uint64(meta[M_F])
    k = np.uint64(meta[M_K])
    nrows = np.uint64(meta[M_NROWS])
    fm = meta[M_FM] != 0
    npairs = np.uint64(meta[M_NPAIRS])
    pw = np.uint64(meta[M_PAIR_W])
    pi = np.uint64(meta[M_PAIR_I])
    pj = pi + npairs
    dnn_mode = meta[M_DNN_MODE]
    ndnn = meta[M_DNN_NL]
    dout = np.uint64(meta[M_DNN_OUT])
    ncin = meta[M_CIN_NL]
    bias = fp[np.uint64(meta[M_BIAS])]
    bad = 0
    for s in range(ns):
        t2[s] = bias  # bias and linear terms in float32 (see _samples)
    v1 = np.uint64(VLANES)
    n1 = ns - ns % v1
    if k == 0 and ns < np.uint64(4 * VLANES):
        # LR on a short tile: the scalar pass costs less than staging rows.
        bad += _linear_tile(t0, ns, table, xi, xv, F, nrows, t2)
    else:
        # Field-outer gather, 16 samples at a time: their rows (staged in
        # ``ri``) checked as one vector (bad ones counted, row 0 read), the
        # linear column and then each embedding column read by one vector
        # gather (llvm.masked.gather), the columns stored as vectors into
        # ``et`` (LR: the linear column alone): a scalar pass per field cost
        # as much as the gathers. Each field's rows are staged while the
        # previous field is gathered, and requested then if the field's rows
        # outgrow the caches (see _PREFETCH_FIELD_BYTES): the vector gathers
        # stall on the misses that scalar loads ran ahead of.
        rstride = np.uint64(table.strides[0])
        cstride = np.uint64(table.strides[1])
        nv = np.uint64(ri.shape[0]) // np.uint64(2)
        dims = np.uint64(meta[M_INPUT]) + F  # field_dims (see _input_layout)
        for f in range(F + one):
            if f < F:
                sb = (f & one) * nv
                if meta[dims + f] * np.int64(rstride) > _PREFETCH_FIELD_BYTES:
                    for s in range(ns):
                        r = np.uint64(xi[t0 + s, f])
                        ri[sb + s] = np.int64(r)
                        _prefetch_row(table, r if r < nrows else np.uint64(0), k)
                else:
                    for s in range(ns):
                        ri[sb + s] = xi[t0 + s, f]
            if f == 0:
                continue
            g = f - one
            fb = g * k
            cb = (g & one) * nv
            lc = k * cstride
            for s0 in range(np.uint64(0), n1, v1):
                rows = _vload_rows(ri, cb + s0)
                bad += _vbad_rows(rows, nrows, v1)
                offs = _vrow_offsets(rows, nrows, rstride)
                vv = _vfield_values(xv, t0 + s0, g, v1)
                _vlinear(t2, s0, table, offs, lc, vv, v1)
                for kk in range(k):
                    e = _vgather(table, offs, kk * cstride, vv)
                    _vstore(et, fb + kk, s0, e, False)
            if n1 < ns:
                m = ns - n1
                rows = _vload_rows(ri, cb + n1)
                bad += _vbad_rows(rows, nrows, m)
                offs = _vrow_offsets(rows, nrows, rstride)
                vv = _vfield_values(xv, t0 + n1, g, m)
                _vlinear(t2, n1, table, offs, lc, vv, m)
                for kk in range(k):
                    e = _vgather_part(table, offs, kk * cstride, vv, m)
                    _vstore_part(et, fb + kk, n1, e, False, m)
    for s in range(ns):
        acc[s] = t2[s]
    if fm or dnn_mode == 2:
        for kk in range(k):
            for s in range(ns):
                t1[s] = zero
                t2[s] = zero
            for f in range(F):
                c = f * k + kk
                for s in range(ns):
                    x = et[c, s]
                    t1[s] += x
                    t2[s] += x * x
            for s in range(ns):
                bt[kk, s] = half * (t1[s] * t1[s] - t2[s])
        if fm:
            for s in range(ns):
                t1[s] = zero
            for kk in range(k):
                for s in range(ns):
                    t1[s] += bt[kk, s]
            for s in range(ns):
                acc[s] += t1[s]
    k2 = k - k % np.uint64(2)
    two = np.uint64(2)
    vzero = _vsplat(zero)
    for p in range(npairs):
        # Even and odd dimensions in two sums (as the per-sample kernel), 16
        # samples at a time in registers, then their sum into t1.
        ib = np.uint64(ip[pi + p]) * k
        jb = np.uint64(ip[pj + p]) * k
        w = fp[pw + p]
        for s0 in range(np.uint64(0), n1, v1):
            d0 = vzero
            d1 = vzero
            for kk in range(np.uint64(0), k2, two):
                d0 = _vfma2(d0, et, ib + kk, jb + kk, s0)
                d1 = _vfma2(d1, et, ib + kk + one, jb + kk + one, s0)
            if k2 < k:
                d0 = _vfma2(d0, et, ib + k2, jb + k2, s0)
            _vstore1(t1, s0, _vadd(d0, d1))
        if n1 < ns:
            m = ns - n1
            d0 = vzero
            d1 = vzero
            for kk in range(np.uint64(0), k2, two):
                d0 = _vfma2_part(d0, et, ib + kk, jb + kk, n1, m)
                d1 = _vfma2_part(d1, et, ib + kk + one, jb + kk + one, n1, m)
            if k2 < k:
                d0 = _vfma2_part(d0, et, ib + k2, jb + k2, n1, m)
            _vstore1_part(t1, n1, _vadd(d0, d1), False, m)
        for s in range(ns):
            acc[s] += w * t1[s]
    if dnn_mode != 0:
        x = et if dnn_mode == 1 else bt
        for li in range(ndnn):
            y = ha if li % 2 == 0 else hb
            _tile_layer(fp, ip, pp, meta, M_LAYERS + DNN_SLOTS * li, x, y, ns, True)
            x = y
        # The output layer's dot product in the order of _dot8: input o in
        # sum o % 8, 16 samples at a time in registers.
        n_last = np.uint64(meta[M_DNN_LAST])
        n8 = n_last - n_last % np.uint64(SLOTS)
        for s0 in range(np.uint64(0), ns, v1):
            m = min(v1, ns - s0)
            q0 = q1 = q2 = q3 = q4 = q5 = q6 = q7 = vzero
            c = np.uint64(0)
            while c < n8:
                q0 = _vfma_part(q0, _vsplat(fp[dout + c]), x, c, s0, m)
                c += one
                q1 = _vfma_part(q1, _vsplat(fp[dout + c]), x, c, s0, m)
                c += one
                q2 = _vfma_part(q2, _vsplat(fp[dout + c]), x, c, s0, m)
                c += one
                q3 = _vfma_part(q3, _vsplat(fp[dout + c]), x, c, s0, m)
                c += one
                q4 = _vfma_part(q4, _vsplat(fp[dout + c]), x, c, s0, m)
                c += one
                q5 = _vfma_part(q5, _vsplat(fp[dout + c]), x, c, s0, m)
                c += one
                q6 = _vfma_part(q6, _vsplat(fp[dout + c]), x, c, s0, m)
                c += one
                q7 = _vfma_part(q7, _vsplat(fp[dout + c]), x, c, s0, m)
                c += one
            if c < n_last:
                q0 = _vfma_part(q0, _vsplat(fp[dout + c]), x, c, s0, m)
                c += one
            if c < n_last:
                q1 = _vfma_part(q1, _vsplat(fp[dout + c]), x, c, s0, m)
                c += one
            if c < n_last:
                q2 = _vfma_part(q2, _vsplat(fp[dout + c]), x, c, s0, m)
                c += one
            if c < n_last:
                q3 = _vfma_part(q3, _vsplat(fp[dout + c]), x, c, s0, m)
                c += one
            if c < n_last:
                q4 = _vfma_part(q4, _vsplat(fp[dout + c]), x, c, s0, m)
                c += one
            if c < n_last:
                q5 = _vfma_part(q5, _vsplat(fp[dout + c]), x, c, s0, m)
                c += one
            if c < n_last:
                q6 = _vfma_part(q6, _vsplat(fp[dout + c]), x, c, s0, m)
            q = _vadd(_vadd(_vadd(q0, q1), _vadd(q2, q3)),
                      _vadd(_vadd(q4, q5), _vadd(q6, q7)))  # fmt: skip
            _vstore1_part(t1, s0, q, False, m)
        for s in range(ns):
            acc[s] += t1[s]
    if ncin > 0:
        _cin_tile(et, ns, fp, ip, pp, meta, cur, new, t1, acc, z)
    if meta[M_CROSS_NL] > 0:
        _cross_tile(et, ns, fp, ip, pp, meta, xh, xz, t1, acc)
    for s in range(ns):
        out[t0 + s] = np.float32(acc[s])
    return bad


_scratch_total = _jit(nogil=True)(_packing._scratch_total)


#: A tile narrower than the packing's is a multiple of this many samples
#: (the vector code masks a last, partial vector of :data:`VLANES`).
_WIDTH_STEP = 8


@_jit(nogil=True)
def _tile_width(meta, n):  # pragma: no cover - compiled
    """Samples per tile for a batch of ``n`` (at least :data:`MIN_TILED_BATCH`):
    ``meta[M_TILE]``, or fewer where the batch's tiles would be partly empty,
    balanced and rounded up to a multiple of :data:`_WIDTH_STEP`.

    A layer computed from dense weights is one ``sgemm`` over all the tile's
    columns, empty ones included: with tiles of the full width, the dense
    DeepFM of ``model_latency`` took as long for 8 rows as for 256 (scratch
    timing), several times the lean torch forward's time; with tiles of 16
    (whole vectors) 0.92-0.98x that time at batch 8 for DeepFM, NFM and
    DCNv2; with tiles of 8, 1.2x (``python -m benchmarks.model_latency``,
    one thread)."""
    full = np.int64(meta[M_TILE])
    n_tiles = max(np.int64(1), (n + full - 1) // full)
    width = (n + n_tiles - 1) // n_tiles
    width = (width + _WIDTH_STEP - 1) // _WIDTH_STEP * _WIDTH_STEP
    return np.uint64(min(width, full))


@_jit(nogil=True)
def _buffers(meta, work, T):  # pragma: no cover - compiled
    """Scratch buffers of the tiled kernel for tiles of ``T`` samples (at
    most ``meta[M_TILE]``, see :func:`_tile_width`), carved from ``work``
    (float32, at least :func:`scratch_size` values; None or a smaller one:
    one block allocated here). A caller that hands each thread's calls the same
    64-byte-aligned ``work`` spares them the allocation and page faults of
    fresh buffers (half a megabyte and more, which the allocator may map and
    unmap at every call) and the cache-line splits of vectors on misaligned
    ones: the predictor's calls on the pruned Avazu DeepFwFM 1.1-1.2x faster
    from batch 8 to 4096, and up to 11x at batch 8 where the allocator maps
    fresh pages per call (scratch timing, one thread)."""
    F = np.uint64(meta[M_F])
    k = np.uint64(meta[M_K])
    maxw = np.uint64(meta[M_MAXW])
    maxh = np.uint64(meta[M_CIN_MAXH])
    wx = F * k if meta[M_CROSS_NL] > 0 else np.uint64(0)
    maxz = np.uint64(meta[M_CIN_MAXZ])
    two = np.uint64(2)
    total = _scratch_total(meta, T)
    if work is None:
        w = np.empty(total, dtype=np.float32)
    elif work.shape[0] >= total:
        w = work[:total]
    else:
        w = np.empty(total, dtype=np.float32)
    if meta[M_ZERO]:
        # A dense layer's sgemm reads all T columns, also those past a last,
        # partial tile: zeros there, never denormal or NaN garbage.
        w[: total - maxz * k * T] = 0.0
    t1 = w[:T]
    t2 = w[T : two * T]
    o = two * T
    et = w[o : o + F * k * T].reshape((F * k, T))
    o += F * k * T
    bt = w[o : o + k * T].reshape((k, T))
    o += k * T
    ha = w[o : o + maxw * T].reshape((maxw, T))
    o += maxw * T
    hb = w[o : o + maxw * T].reshape((maxw, T))
    o += maxw * T
    cur = w[o : o + maxh * k * T].reshape((maxh * k, T))
    o += maxh * k * T
    new = w[o : o + maxh * k * T].reshape((maxh * k, T))
    o += maxh * k * T
    xh = w[o : o + wx * T].reshape((wx, T))
    o += wx * T
    xz = w[o : o + wx * T].reshape((wx, T))
    o += wx * T
    z = w[o : o + maxz * k * T].reshape((maxz, k * T))
    acc = np.empty(T, dtype=np.float64)  # the logits' sums (see _samples)
    # The table rows of two fields (see _tile), read VLANES at a time: whole
    # vectors also for a last, partial block of the tile.
    nv = (T + np.uint64(VLANES - 1)) // np.uint64(VLANES) * np.uint64(VLANES)
    ri = np.zeros(two * nv, dtype=np.int64)
    return et, bt, ha, hb, acc, t1, t2, cur, new, xh, xz, z, ri


@_jit(nogil=True, fastmath=_FASTMATH)
def forward_tiled(table, xi, xv, fp, ip, pp, meta, work=None):  # pragma: no cover
    """Logits of a batch in tiles of at most ``meta[M_TILE]`` samples
    (:func:`_tile_width`), one thread.

    Same parameters and returns as :func:`forward_samples`; ``work``: this
    thread's float32 scratch (see :func:`_buffers`), or None.
    """
    n = xi.shape[0]
    out = np.empty(n, dtype=np.float32)
    Tu = _tile_width(meta, n)
    et, bt, ha, hb, acc, t1, t2, cur, new, xh, xz, z, ri = _buffers(meta, work, Tu)
    bad = 0
    T = np.int64(Tu)
    n_tiles = (n + T - 1) // T
    for t in range(n_tiles):
        t0 = np.uint64(t * T)
        ns = np.uint64(min(T, n - t * T))
        bad += _tile(t0, ns, table, xi, xv, fp, ip, pp, meta, out, et, bt, ha, hb,
                     acc, t1, t2, cur, new, xh, xz, z, ri)  # fmt: skip
    return out, bad


@_jit(nogil=True)
def index_rows(X, numeric, field_dims, offsets):  # pragma: no cover - compiled
    """Table rows and values of a clean field-indexed matrix, in one pass.

    The fast path of ``check_field_matrix`` + ``global_index`` for an int or
    float matrix. Numeric values must be finite and within the float32
    range; categorical codes must be integers (NaN is missing) of magnitude
    at most 2**62; codes that are missing, negative or not below
    ``field_dims`` map to the field's out-of-vocabulary row
    ``offsets + field_dims``.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_fields), int or float
    numeric : ndarray of bool of shape (n_fields,)
    field_dims, offsets : ndarray of int64 of shape (n_fields,)

    Returns
    -------
    xi : ndarray of int64 of shape (n_samples, n_fields)
    xv : ndarray of float32 of shape (n_samples, n_fields)
    ok : bool
        False when a value needs the general path (which raises for it).
    """
    n, F = X.shape
    xi = np.empty((n, F), dtype=np.int64)
    xv = np.empty((n, F), dtype=np.float32)
    ok = _index_block(X, 0, n, numeric, field_dims, offsets, xi, xv)
    return xi, xv, ok


@_jit(nogil=True)
def _index_block(X, r0, n, numeric, field_dims, offsets, xi, xv):  # pragma: no cover
    """Rows ``r0 .. r0 + n`` of ``X`` into ``xi[:n]``, ``xv[:n]`` (the
    arithmetic of :func:`index_rows`); False once a row holds a value that
    needs the general path (found when that row's scan ends)."""
    F = X.shape[1]
    limit = 2.0**62
    float32_max = np.float64(np.finfo(np.float32).max)
    one = np.float32(1.0)
    for i in range(n):
        b = r0 + i
        # Without a branch per value (the field loop vectorises): a row with
        # a value to check is refused after it.
        bad = False
        for f in range(F):
            x = X[b, f]
            v = np.float64(x)
            num = numeric[f] != 0
            missing = v != v  # NaN: the out-of-vocabulary row
            big = abs(v) > limit
            # numeric: finite, within float32; categorical: missing, or an
            # integer of magnitude at most 2**62
            num_bad = not abs(v) <= float32_max
            cat_bad = not missing and (big or np.floor(v) != v)
            bad |= num_bad if num else cat_bad
            code = np.int64(x if not (missing or big) else 0)
            dim = field_dims[f]
            if missing or code < 0 or code >= dim:
                code = dim
            xi[i, f] = offsets[f] if num else code + offsets[f]
            xv[i, f] = np.float32(v) if num else one
        if bad:
            return False
    return True


@_jit(nogil=True)
def _sigmoid_pairs(logits):  # pragma: no cover - compiled
    """(1 - p, p) in float64 of float32 logits, p = 1 / (1 + exp(-logit));
    ``ok`` False when a logit is not finite."""
    n = logits.shape[0]
    proba = np.empty((n, 2), dtype=np.float64)
    for i in range(n):
        x = np.float64(logits[i])
        if not np.isfinite(x):
            return proba, False
        p = 1.0 / (1.0 + np.exp(-x))
        proba[i, 1] = p
        proba[i, 0] = 1.0 - p
    return proba, True


@_jit(nogil=True)
def _input_layout(meta, F):  # pragma: no cover - compiled
    """The numeric mask (0 / 1), field_dims and offsets packed in ``meta``."""
    a = meta[M_INPUT]
    return meta[a : a + F], meta[a + F : a + 2 * F], meta[a + 2 * F : a + 3 * F]


@_jit(nogil=True, fastmath=_FASTMATH)
def proba_small(X, table, fp, ip, pp, meta):  # pragma: no cover - compiled
    """Probabilities of a small clean field matrix in one compiled call.

    :func:`index_rows`, then :func:`forward_samples`, then the sigmoid: the
    predictor's batch-1 path, without a Python step between them, on two
    buffers (rows; values, logits and scratch). The input layout (numeric
    fields, ``field_dims``, ``offsets``) is read from ``meta``. ``ok`` is
    False when a value needs the general path (which validates, or raises
    for it) or a logit is not finite (the general path names the field).

    Returns
    -------
    proba : ndarray of float64 of shape (n_samples, 2)
    ok : bool
    """
    n, F = X.shape
    numeric, field_dims, offsets = _input_layout(meta, F)
    xi = np.empty((n, F), dtype=np.int64)
    nf = n * F
    buf = np.empty(nf + n + _scratch_size(meta), dtype=np.float32)
    xv = buf[:nf].reshape((n, F))
    out = buf[nf : nf + n]
    if not _index_block(X, 0, n, numeric, field_dims, offsets, xi, xv):
        return np.empty((0, 2), dtype=np.float64), False
    if _samples(table, xi, xv, fp, ip, pp, meta, out, buf[nf + n :]):
        return np.empty((0, 2), dtype=np.float64), False
    return _sigmoid_pairs(out)


@_jit(nogil=True, fastmath=_FASTMATH)
def proba_tiled(X, table, fp, ip, pp, meta, work=None):  # pragma: no cover
    """Probabilities of a clean field matrix, indexed tile by tile.

    :func:`proba_small` for batches of the tiled kernel: each tile of at
    most ``meta[M_TILE]`` rows (:func:`_tile_width`) is indexed into small
    reused buffers and scored at once, so that the (n_samples, n_fields)
    rows and values are never materialised. Same parameters and returns as
    :func:`proba_small`; ``work`` as for :func:`forward_tiled`.
    """
    n, F = X.shape
    numeric, field_dims, offsets = _input_layout(meta, F)
    Tu = _tile_width(meta, n)
    T = np.int64(Tu)
    out = np.empty(n, dtype=np.float32)
    xi = np.empty((T, F), dtype=np.int64)
    xv = np.empty((T, F), dtype=np.float32)
    et, bt, ha, hb, acc, t1, t2, cur, new, xh, xz, z, ri = _buffers(meta, work, Tu)
    zero = np.uint64(0)
    n_tiles = (n + T - 1) // T
    for t in range(n_tiles):
        r0 = t * T
        ns = min(T, n - r0)
        if not _index_block(X, r0, ns, numeric, field_dims, offsets, xi, xv):
            return np.empty((0, 2), dtype=np.float64), False
        bad = _tile(zero, np.uint64(ns), table, xi, xv, fp, ip, pp, meta,
                    out[r0 : r0 + ns], et, bt, ha, hb, acc, t1, t2, cur, new, xh,
                    xz, z, ri)  # fmt: skip
        if bad:
            return np.empty((0, 2), dtype=np.float64), False
    return _sigmoid_pairs(out)
