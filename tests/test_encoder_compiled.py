"""The compiled parts of FieldEncoder's fast transform: the named numeric
transforms written into the output matrix, the lookups of Arrow string
columns in one call, and the hash table built in frequency order. Each must
give exactly what the pandas path gives."""

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from sklearn_deeplight._encoder import FieldEncoder
from sklearn_deeplight._encoder_tables import _arrow_chunks, _arrow_segments

# Edge values of the numeric transforms: zeros of both signs, the Criteo
# transform's threshold (2) and its neighbours, e (log(e) ** 2 = 1), negative
# values, the smallest and largest doubles, NaN (missing).
_EDGES = [
    0.0,
    -0.0,
    1.0,
    2.0,
    np.nextafter(2.0, 3.0),
    np.nextafter(2.0, 1.0),
    3.0,
    np.e,
    np.exp(2.0),
    np.exp(np.sqrt(7.0)),
    -1.0,
    -2.5,
    -1e300,
    1e300,
    np.finfo(np.float64).max,
    -np.finfo(np.float64).max,
    5e-324,
    -5e-324,
    1e-300,
    np.nan,
    1382.0,
    0.5,
]


def _bits(frame: pd.DataFrame) -> np.ndarray:
    """The float64 bits of a frame's values (so that -0.0 differs from 0.0)."""
    return frame.to_numpy(dtype=np.float64).view(np.int64)


def _numeric_frame(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = 3 * len(_EDGES)  # above the rows encoded value by value
    a = np.array(_EDGES * 3)
    b = rng.permutation(a)
    c = np.where(rng.random(n) < 0.3, np.nan, rng.integers(0, 10**6, n) * 1.0)
    d = rng.standard_normal(n) * 10.0 ** rng.integers(-5, 6, n)
    cats = pd.Series(rng.choice(["u", "v", "w", ""], n), dtype="str")
    return pd.DataFrame({"a": a, "s": cats, "b": b, "c": c, "d": d})


@pytest.mark.parametrize("transform", [None, "identity", "criteo", "log1p"])
@pytest.mark.parametrize("fill", [0.0, -1.5])
def test_named_transforms_are_bit_exact(transform, fill):
    X = _numeric_frame()
    enc = FieldEncoder(numeric_transform=transform, numeric_missing=fill).fit(X)
    assert enc._encode_matrix(X) is not None  # the fast path takes it
    got = enc.transform(X)
    ref = enc._transform_reference(X)
    pd.testing.assert_frame_equal(got, ref, check_exact=True)
    num = ["a", "b", "c", "d"]
    np.testing.assert_array_equal(_bits(got[num]), _bits(ref[num]))
    if transform in ("criteo", "log1p"):  # the public function, per column
        func = FieldEncoder._NAMED_TRANSFORMS[transform]
        for name in num:
            values = X[name].to_numpy()
            present = ~np.isnan(values)
            want = np.full(len(values), fill)
            want[present] = func(values[present])
            np.testing.assert_array_equal(
                got[name].to_numpy().view(np.int64), want.view(np.int64)
            )


def test_named_transforms_run_compiled(monkeypatch):
    """The named transforms do not take the numpy fallback on a frame."""
    X = _numeric_frame(1)
    for transform in (None, "criteo", "log1p"):
        enc = FieldEncoder(numeric_transform=transform).fit(X)
        ref = enc._transform_reference(X)

        def refuse(*args, **kwargs):
            raise AssertionError("numpy fallback taken")

        monkeypatch.setattr(enc, "_transform_values", refuse)
        pd.testing.assert_frame_equal(enc.transform(X), ref, check_exact=True)


def test_replaced_named_transform_takes_the_numpy_fallback():
    """A subclass's own named transform is not replaced by the compiled one."""

    def halve(x):
        return x / 2.0

    class Halving(FieldEncoder):
        _NAMED_TRANSFORMS = {**FieldEncoder._NAMED_TRANSFORMS, "criteo": halve}

    X = _numeric_frame(2)
    enc = Halving(numeric_transform="criteo", numeric_missing=-1.0).fit(X)
    got = enc.transform(X)
    values = X["c"].to_numpy()
    want = np.where(np.isnan(values), -1.0, values / 2.0)
    np.testing.assert_array_equal(got["c"].to_numpy(), want)


def test_callable_transform_on_frames():
    X = _numeric_frame(3)
    enc = FieldEncoder(numeric_transform=np.negative).fit(X)
    got = enc.transform(X)
    pd.testing.assert_frame_equal(got, enc._transform_reference(X), check_exact=True)


def _string_frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    words = np.array(["a", "bb", "12345678", "123456789", "é", "", "zz", "long" * 5])
    cols = {}
    for j in range(4):
        values = rng.choice(words, n).astype(object)
        values[rng.random(n) < 0.2] = None
        cols[f"s{j}"] = pd.Series(values, dtype="str")
    cols["o"] = pd.Series(rng.choice(["a", "x"], n), dtype=object)  # not Arrow
    cols["n"] = rng.integers(0, 50, n) * 1.0
    return pd.DataFrame(cols)


def test_arrow_columns_of_any_layout():
    """Chunked, sliced (chunk offsets, validity bits not at a byte start),
    all-null and mixed columns: the codes of the pandas path."""
    fit = _string_frame(300, 0)
    enc = FieldEncoder(numeric_transform="criteo").fit(fit)
    X = _string_frame(90, 1)
    chunked = pd.concat([X, _string_frame(50, 2), X.iloc[:7]], ignore_index=True)
    assert chunked["s0"].array._pa_array.num_chunks == 3
    all_null = X.assign(s1=pd.Series([None] * len(X), dtype="str"))
    for frame in (X, chunked, chunked.iloc[3:], chunked.iloc[13:131], all_null):
        assert enc._encode_matrix(frame) is not None
        ref = enc._transform_reference(frame)
        pd.testing.assert_frame_equal(enc.transform(frame), ref, check_exact=True)


def test_lookup_segments_reads_int32_and_int64_offsets():
    """The kernel reads Arrow string (int32 offsets) and large_string arrays
    (pandas makes large_string ones), sliced and chunked, as lookup_column."""
    fit = _string_frame(300, 0)
    enc = FieldEncoder().fit(fit)
    enc.transform(fit)
    tables = enc._fast_tables()
    values = _string_frame(70, 4)["s2"].array.__arrow_array__().to_pylist()
    for typ in (pa.string(), pa.large_string()):
        arr = pa.chunked_array(
            [pa.array(values[:30], typ), pa.array(values[30:], typ)[5:]]
        )
        segments, keep = [], []
        assert _arrow_segments(arr, 2, segments, keep)
        out = np.full((len(arr), 6), -7.0)
        tables.lookup_segments(np.array(segments, dtype=np.int64), out)
        want = np.concatenate(
            [tables.lookup_column(o, d, 2, b, s) for o, d, b, s in _arrow_chunks(arr)]
        )
        np.testing.assert_array_equal(out[:, 2], want)
        assert (np.delete(out, 2, axis=1) == -7.0).all()  # other columns kept
        ref = enc._encode(pd.Series(arr.to_pylist(), dtype=object), 2)
        np.testing.assert_array_equal(want, ref)
    assert not _arrow_segments(pa.chunked_array([pa.array([1, 2])]), 2, [], [])


def test_table_in_frequency_order_with_many_keys():
    """Thousands of keys of skewed frequencies in several fields (long
    probe chains), long strings and integers: the pandas path's codes."""
    rng = np.random.default_rng(5)
    n = 20_000
    ranks = rng.zipf(1.2, (n, 3)) % 5000
    fit = pd.DataFrame(
        {
            "h": pd.Series([f"{r:08x}" for r in ranks[:, 0]], dtype="str"),
            "l": pd.Series([f"value-{r}-long" for r in ranks[:, 1]], dtype="str"),
            "i": ranks[:, 2].astype(np.int64),
            "m": pd.Series([f"{r:x}" for r in ranks[:, 0]], dtype=object),
        }
    )
    enc = FieldEncoder(min_frequency=2).fit(fit)
    X = fit.sample(3000, random_state=0, replace=True)
    X = X.assign(h=pd.Series(rng.permutation(X["h"].to_numpy()), dtype="str"))
    ref = enc._transform_reference(X)
    pd.testing.assert_frame_equal(enc.transform(X), ref, check_exact=True)
    # a missing string equal to a vocabulary value wins (inserted first)
    enc.set_params(missing_values=("", X["h"].iloc[0]))
    pd.testing.assert_frame_equal(
        enc.transform(X), enc._transform_reference(X), check_exact=True
    )


@pytest.mark.parametrize("transform", [None, "criteo", "log1p", np.negative])
@pytest.mark.parametrize("bad", [np.inf, -np.inf])
def test_infinite_values_take_the_pandas_path_and_raise(transform, bad):
    X = _numeric_frame(4)
    enc = FieldEncoder(numeric_transform=transform).fit(X)
    values = X["c"].to_numpy().copy()
    values[7] = bad
    Xbad = X.assign(c=values)
    assert enc._encode_matrix(Xbad) is None
    with pytest.raises(ValueError, match="'c' holds an infinite value"):
        enc.transform(Xbad)


def _probe_lengths(tables) -> dict[int, float]:
    """Per field, the mean number of slots a lookup of one of its keys
    reads (1 + its distance from its home slot), over the keys of at most 8
    bytes and the integers, from the table's slots: the home slot is
    recomputed from the stored key as the kernels compute it."""
    from sklearn_deeplight import _encoder_kernels as ek

    slots = tables.slots
    cap = slots.shape[0]
    shift = np.uint64(64 - (cap.bit_length() - 1))
    full = slots[:, 1] != ek.EMPTY
    pos = np.flatnonzero(full).astype(np.uint64)
    w, meta = slots[full, 0], slots[full, 1]
    hi = meta >> np.uint64(32)
    short = (hi & np.uint64(15)) != np.uint64(ek.LONG)
    with np.errstate(over="ignore"):
        x = w ^ (hi * ek._GOLDEN)
        home = (x * ek._M1) >> shift
    dist = (pos - home) & np.uint64(cap - 1)
    field = (hi >> np.uint64(4)).astype(np.int64)
    return {
        int(f): 1.0 + float(dist[short & (field == f)].mean())
        for f in np.unique(field[short])
    }


def test_table_probes_stay_short():
    """Keys of regular forms (consecutive hex and decimal strings, strings
    differing only in their first or last byte, consecutive integers and
    multiples of 2**40) each sit near their home slot: linear probing at the
    table's load reads about 1.5-2 slots a key when the slot hash spreads
    them, thousands when it clusters them."""
    n = 3000
    i = np.arange(n)
    fit = pd.DataFrame(
        {
            "hex": pd.Series([f"{v:08x}" for v in i], dtype="str"),
            "dec": pd.Series([str(v) for v in i], dtype="str"),
            "last": pd.Series([f"abcdef{v:02d}"[:8] for v in i % 100], dtype="str"),
            "first": pd.Series([chr(33 + v % 90) + "bcdefgh" for v in i], dtype="str"),
            "int": i.astype(np.int64),
            "high": (i.astype(np.int64) << 40),
        }
    )
    enc = FieldEncoder().fit(fit)
    tables = enc._fast_tables()
    lengths = _probe_lengths(tables)
    assert sorted(lengths) == list(range(6)), lengths
    for field, mean in lengths.items():
        assert mean < 2.5, (fit.columns[field], mean)
    pd.testing.assert_frame_equal(
        enc.transform(fit), enc._transform_reference(fit), check_exact=True
    )
