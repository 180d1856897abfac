"""Tests of FieldEncoder."""

import pickle
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_deeplight._encoder import FieldEncoder, criteo_numeric_transform


def shared_data_dir() -> Path:
    """``../shared/data`` beside the repository root."""
    return Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


def _real_file(rel: str) -> Path:
    path = shared_data_dir() / rel
    if not path.is_file():
        pytest.skip(f"real data file {path} is absent (../shared/data not present)")
    return path


@parametrize_with_checks([FieldEncoder(), FieldEncoder(min_frequency=2)])
def test_sklearn_compatible(estimator, check):
    check(estimator)


def _frame():
    return pd.DataFrame(
        {
            "site": ["b", "a", "a", "c", None, "b", "a", "", np.nan, "d"],
            "dev": [7, 7, 3, 3, 3, 9, 7, 7, 3, 1],
            "count": [1.0, 5.0, np.nan, 0.0, 20.0, 3.0, -1.0, 2.0, np.nan, 1e3],
        }
    )


def test_codes_frequency_order_and_oov():
    X = _frame()
    enc = FieldEncoder().fit(X)
    # site: a x3, missing x3 (None, "", NaN), b x2, c x1, d x1
    cats = enc.categories_[0]
    assert cats[0] == "a"
    # missing (3) ties with "a" (3): regular values rank first on ties
    assert pd.isna(cats[1])
    assert list(cats[2:]) == ["b", "c", "d"]
    # dev: 7 x4, 3 x4 (7 appears first), 9, 1
    assert list(enc.categories_[1]) == [7, 3, 9, 1]
    assert enc.categories_[2] is None
    np.testing.assert_array_equal(enc.field_dims_, [6, 5, 1])
    np.testing.assert_array_equal(enc.oov_codes_, [5, 4, -1])
    np.testing.assert_array_equal(enc.numeric_fields_, [2])
    assert enc.n_features_in_ == 3
    np.testing.assert_array_equal(enc.feature_names_in_, ["site", "dev", "count"])
    Xt = enc.transform(X)
    assert list(Xt.columns) == ["site", "dev", "count"]
    assert Xt.dtypes.tolist() == [np.int64, np.int64, np.float64]
    np.testing.assert_array_equal(Xt["site"], [2, 0, 0, 3, 1, 2, 0, 1, 1, 4])
    np.testing.assert_array_equal(Xt["dev"], [0, 0, 1, 1, 1, 2, 0, 0, 1, 3])
    np.testing.assert_array_equal(
        Xt["count"], [1.0, 5.0, 0.0, 0.0, 20.0, 3.0, -1.0, 2.0, 0.0, 1e3]
    )


def test_unseen_and_missing_at_transform():
    enc = FieldEncoder(handle_missing="category").fit(_frame())
    new = pd.DataFrame(
        {
            "site": ["zzz", pd.NA, "a", 17, None],
            "dev": [100, 7, -5, 3, 0],
            "count": [1.0, 2.0, 3.0, np.nan, 4.0],
        }
    )
    Xt = enc.transform(new)
    np.testing.assert_array_equal(Xt["site"], [5, 1, 0, 5, 1])
    np.testing.assert_array_equal(Xt["dev"], [4, 0, 4, 1, 4])
    assert (Xt[["site", "dev"]].to_numpy() < enc.field_dims_[:2]).all()


def test_handle_missing_oov_and_missing_unseen_in_fit():
    X = _frame()
    enc = FieldEncoder(handle_missing="oov").fit(X)
    assert list(enc.categories_[0]) == ["a", "b", "c", "d"]
    Xt = enc.transform(X)
    np.testing.assert_array_equal(Xt["site"], [1, 0, 0, 2, 4, 1, 0, 4, 4, 3])
    # "category" mode, but no missing value in fit: missing goes to OOV
    enc = FieldEncoder().fit(pd.DataFrame({"a": ["x", "y"]}))
    np.testing.assert_array_equal(
        enc.transform(pd.DataFrame({"a": [None, "", "x"]}))["a"], [2, 2, 0]
    )


def test_missing_values_parameter():
    X = pd.DataFrame({"a": ["x", "", "-", "x"]})
    enc = FieldEncoder(missing_values=("-",)).fit(X)
    # "" is a regular value now, "-" is missing
    assert list(enc.categories_[0][:2]) == ["x", ""]
    assert pd.isna(enc.categories_[0][2])
    enc = FieldEncoder(missing_values=None).fit(X)
    assert len(enc.categories_[0]) == 3 and not pd.isna(enc.categories_[0]).any()


@pytest.mark.parametrize("min_frequency", [3, 0.3])
def test_min_frequency(min_frequency):
    X = pd.DataFrame({"a": list("aaabbbbccd")})
    enc = FieldEncoder(min_frequency=min_frequency).fit(X)
    assert list(enc.categories_[0]) == ["b", "a"]
    np.testing.assert_array_equal(enc.field_dims_, [3])
    Xt = enc.transform(pd.DataFrame({"a": list("abcdz")}))
    np.testing.assert_array_equal(Xt["a"], [1, 0, 2, 2, 2])


def test_min_frequency_just_below_threshold_is_rare():
    X = pd.DataFrame({"a": ["x"] * 8 + ["y"] * 7})
    enc = FieldEncoder(min_frequency=8).fit(X)
    assert list(enc.categories_[0]) == ["x"]


def test_numeric_fields_explicit_and_auto():
    X = _frame()
    enc = FieldEncoder(numeric_fields=None).fit(X)
    assert enc.numeric_fields_.size == 0
    assert (enc.field_dims_ > 1).all()
    assert (enc.transform(X).dtypes == np.int64).all()
    enc = FieldEncoder(numeric_fields=["dev", 2]).fit(X)
    np.testing.assert_array_equal(enc.numeric_fields_, [1, 2])
    Xt = enc.transform(X)
    assert Xt.dtypes.tolist() == [np.int64, np.float64, np.float64]
    np.testing.assert_array_equal(Xt["dev"], X["dev"].astype(float))
    # numpy input: "auto" means no numeric field; positions work
    A = X[["dev", "count"]].to_numpy()
    assert FieldEncoder().fit(A).numeric_fields_.size == 0
    enc = FieldEncoder(numeric_fields=[1]).fit(A)
    assert list(enc.transform(A).columns) == ["x0", "x1"]
    assert enc.transform(A).dtypes.tolist() == [np.int64, np.float64]


@pytest.mark.parametrize(
    "spec, err, match",
    [
        (["nope"], ValueError, "'nope' is not a column name"),
        ([3], ValueError, "position 3 is out of range"),
        ([1, "dev"], ValueError, "listed twice"),
        ([1.5], TypeError, "column names"),
        ("all", ValueError, "numeric_fields must be"),
    ],
)
def test_numeric_fields_errors(spec, err, match):
    with pytest.raises(err, match=match):
        FieldEncoder(numeric_fields=spec).fit(_frame())


def test_numeric_transforms():
    X = pd.DataFrame({"n": [-2.0, 0.0, 1.0, 2.0, 3.0, 1382.0, np.nan]})
    criteo = FieldEncoder(numeric_transform="criteo", numeric_missing=-7.0)
    got = criteo.fit_transform(X)["n"].to_numpy()
    # floor(log(3)^2) = floor(1.207) = 1; floor(log(1382)^2) = floor(52.3) = 52
    np.testing.assert_array_equal(got, [-2.0, 0.0, 1.0, 2.0, 1.0, 52.0, -7.0])
    got = FieldEncoder(numeric_transform="log1p").fit_transform(X)["n"].to_numpy()
    np.testing.assert_allclose(
        got, [-np.log(3), 0, np.log(2), np.log(3), np.log(4), np.log(1383), 0]
    )
    got = FieldEncoder(numeric_transform=lambda x: 2 * x).fit_transform(X)["n"]
    np.testing.assert_array_equal(got, [-4.0, 0.0, 2.0, 4.0, 6.0, 2764.0, 0.0])
    same = FieldEncoder(numeric_transform="identity").fit_transform(X)["n"]
    np.testing.assert_array_equal(same, X["n"].fillna(0.0))
    np.testing.assert_array_equal(
        criteo_numeric_transform(np.array([2.5, 7.0, 100.0])),
        np.floor(np.log([2.5, 7.0, 100.0]) ** 2),
    )


def test_numeric_transform_bad_outputs():
    X = pd.DataFrame({"n": [1.0, -1.0]})
    with pytest.raises(ValueError, match="non-finite values in field 'n'"):
        FieldEncoder(
            numeric_transform=lambda x: np.where(x > 0, x, np.nan)
        ).fit_transform(X)
    with pytest.raises(ValueError, match="returned shape"):
        FieldEncoder(numeric_transform=lambda x: x[:1]).fit_transform(X)


def test_numeric_strings_are_parsed_and_bad_ones_named():
    X = pd.DataFrame({"n": ["1", "", "2.5", None], "c": ["a", "b", "a", "b"]})
    enc = FieldEncoder(numeric_fields=["n"]).fit(X)
    np.testing.assert_array_equal(enc.transform(X)["n"], [1.0, 0.0, 2.5, 0.0])
    bad = X.assign(n=["1", "x7", "3", "4"])
    with pytest.raises(
        ValueError, match=r"'n' holds the non-numeric value 'x7' \(row 1\)"
    ):
        enc.transform(bad)
    with pytest.raises(ValueError, match="non-numeric value 'x7'"):
        FieldEncoder(numeric_fields=["n"]).fit(bad)
    with pytest.raises(ValueError, match="'n' holds an infinite value"):
        enc.transform(X.assign(n=[1.0, np.inf, 0.0, 0.0]))


@pytest.mark.parametrize(
    "params, match",
    [
        ({"min_frequency": 0}, "min_frequency"),
        ({"min_frequency": 1.5}, "min_frequency"),
        ({"min_frequency": 0.0}, "min_frequency"),
        ({"handle_missing": "drop"}, "handle_missing"),
        ({"numeric_transform": "log2"}, "numeric_transform"),
        ({"numeric_missing": np.nan}, "numeric_missing"),
    ],
)
def test_invalid_params(params, match):
    with pytest.raises(ValueError, match=match):
        FieldEncoder(**params).fit(_frame())


def test_invalid_param_types():
    with pytest.raises(TypeError, match="min_frequency"):
        FieldEncoder(min_frequency="5").fit(_frame())
    with pytest.raises(TypeError, match="missing_values"):
        FieldEncoder(missing_values="").fit(_frame())


def test_bad_inputs():
    enc = FieldEncoder().fit(_frame())
    with pytest.raises(ValueError, match="X has 2 features, but FieldEncoder is"):
        with pytest.warns(UserWarning, match="does not have valid feature names"):
            enc.transform(_frame().iloc[:, :2].to_numpy())
    with pytest.raises(ValueError, match="Expected 2D array, got 1D"):
        FieldEncoder().fit(np.array([1, 2, 3]))
    with pytest.raises(ValueError, match="Found array with dim 3"):
        FieldEncoder().fit(np.zeros((2, 2, 2)))
    with pytest.raises(TypeError, match="[Ss]parse"):
        FieldEncoder().fit(sp.csr_matrix(np.eye(3)))
    with pytest.raises(ValueError, match="0 sample"):
        FieldEncoder().fit(_frame().iloc[:0])
    with pytest.raises(ValueError, match="0 feature"):
        FieldEncoder().fit(_frame().iloc[:, :0])
    with pytest.raises(ValueError, match="pandas Series"):
        FieldEncoder().fit(_frame()["site"])
    with pytest.raises(ValueError, match="Feature names"):
        enc.transform(_frame().rename(columns={"dev": "device"}))
    X = pd.DataFrame({"a": ["x", {"k": 1}]})
    with pytest.raises(TypeError, match=r"field 'a' holds \{'k': 1\} \(dict\)"):
        FieldEncoder().fit(X)


def test_transform_is_total_on_odd_values():
    enc = FieldEncoder().fit(pd.DataFrame({"a": ["x", "y", "x"], "b": [1, 2, 3]}))
    odd = pd.DataFrame(
        {"a": [3.5, ("t",), {"k": 1}, b"x", "x"], "b": ["1", 1.0, None, 2**62, -1]}
    )
    Xt = enc.transform(odd)
    np.testing.assert_array_equal(Xt["a"], [2, 2, 2, 2, 0])
    np.testing.assert_array_equal(Xt["b"], [3, 0, 3, 3, 3])


def test_mixed_types_and_large_int_ids():
    X = pd.DataFrame({"a": np.array([1, "1", 2**40, 2**40, "1"], dtype=object)})
    enc = FieldEncoder().fit(X)
    assert list(enc.categories_[0]) == ["1", 2**40, 1]
    np.testing.assert_array_equal(enc.transform(X)["a"], [2, 0, 1, 1, 0])


def test_category_dtype_matches_strings():
    X = _frame()
    Xc = X.astype({"site": "category"})
    a = FieldEncoder().fit(X)
    b = FieldEncoder().fit(Xc)
    pd.testing.assert_frame_equal(a.transform(X), b.transform(Xc))
    pd.testing.assert_frame_equal(a.transform(Xc), b.transform(X))
    for ca, cb in zip(a.categories_[:2], b.categories_[:2]):
        np.testing.assert_array_equal(pd.isna(ca), pd.isna(cb))
        assert [v for v in ca if not pd.isna(v)] == [v for v in cb if not pd.isna(v)]


def test_index_kept_and_input_unchanged():
    X = _frame().set_index(pd.Index(range(100, 110)))
    copy = X.copy(deep=True)
    A = X.to_numpy(dtype=object)
    A_copy = A.copy()
    enc = FieldEncoder(numeric_transform="criteo").fit(X)
    Xt = enc.transform(X)
    assert Xt.index.equals(X.index)
    FieldEncoder(numeric_fields=[2], numeric_transform="criteo").fit_transform(A)
    pd.testing.assert_frame_equal(X, copy)
    pd.testing.assert_frame_equal(pd.DataFrame(A), pd.DataFrame(A_copy))


def test_set_output_and_feature_names_out():
    X = _frame()
    enc = FieldEncoder().fit(X)
    np.testing.assert_array_equal(enc.get_feature_names_out(), X.columns)
    default = enc.transform(X)
    assert isinstance(default, pd.DataFrame)
    enc.set_output(transform="pandas")
    pd.testing.assert_frame_equal(enc.transform(X), default)
    pd.testing.assert_frame_equal(enc.fit_transform(X), default)
    pipe = Pipeline(
        [
            ("enc", FieldEncoder()),
            ("id", FunctionTransformer(feature_names_out="one-to-one")),
        ]
    ).set_output(transform="pandas")
    out = pipe.fit_transform(X)
    pd.testing.assert_frame_equal(out, default)
    arr = FieldEncoder().fit(X.to_numpy())
    np.testing.assert_array_equal(arr.get_feature_names_out(), ["x0", "x1", "x2"])


def test_pickle_roundtrip_and_partial_fit_after_unpickle():
    X = _frame()
    enc = FieldEncoder(min_frequency=2).fit(X.iloc[:5])
    enc2 = pickle.loads(pickle.dumps(enc))
    pd.testing.assert_frame_equal(enc.transform(X), enc2.transform(X))
    enc2.partial_fit(X.iloc[5:])
    full = FieldEncoder(min_frequency=2).fit(X)
    pd.testing.assert_frame_equal(enc2.transform(X), full.transform(X))


def test_fit_resets_partial_fit_state():
    X = _frame()
    enc = FieldEncoder().partial_fit(X).partial_fit(X)
    assert enc.n_samples_seen_ == 20
    enc.fit(X.iloc[:3])
    assert enc.n_samples_seen_ == 3
    assert list(enc.categories_[0]) == ["a", "b"]


_values = st.one_of(
    st.sampled_from(["a", "b", "c", "d", "", "e"]), st.none(), st.just(np.nan)
)


@settings(max_examples=40, deadline=None)
@given(
    col=st.lists(_values, min_size=2, max_size=40),
    nums=st.data(),
    min_frequency=st.one_of(st.integers(1, 4), st.floats(0.01, 1.0)),
    handle_missing=st.sampled_from(["category", "oov"]),
)
def test_partial_fit_in_chunks_equals_fit(col, nums, min_frequency, handle_missing):
    n = len(col)
    ints = nums.draw(st.lists(st.integers(-2, 3), min_size=n, max_size=n))
    cuts = sorted(nums.draw(st.lists(st.integers(1, n - 1), max_size=4)))
    X = pd.DataFrame(
        {"c": pd.Series(col, dtype=object), "i": ints, "f": np.arange(n) / 3.0}
    )
    params = dict(min_frequency=min_frequency, handle_missing=handle_missing)
    full = FieldEncoder(**params).fit(X)
    part = FieldEncoder(**params)
    for lo, hi in zip([0, *cuts], [*cuts, n]):
        if hi > lo:
            part.partial_fit(X.iloc[lo:hi])
    np.testing.assert_array_equal(full.field_dims_, part.field_dims_)
    for a, b in zip(full.categories_, part.categories_):
        if a is None:
            assert b is None
        else:
            assert len(a) == len(b)
            assert all((x == y) or (pd.isna(x) and pd.isna(y)) for x, y in zip(a, b))
    pd.testing.assert_frame_equal(full.transform(X), part.transform(X))
    codes = full.transform(X)[["c", "i"]].to_numpy()
    assert (codes >= 0).all() and (codes < full.field_dims_[:2]).all()


@pytest.mark.realdata
def test_real_criteo_rows():
    from sklearn_deeplight.datasets import load_criteo

    X, y = load_criteo(_real_file("criteo/train_head9999.txt"))
    train, test = X.iloc[:8000], X.iloc[8000:]
    enc = FieldEncoder(min_frequency=8, numeric_transform="criteo").fit(train)
    np.testing.assert_array_equal(enc.numeric_fields_, np.arange(13))
    Xt = enc.transform(test)
    assert Xt.shape == (1999, 39)
    assert (Xt.dtypes.iloc[:13] == np.float64).all()
    assert (Xt.dtypes.iloc[13:] == np.int64).all()
    codes = Xt.iloc[:, 13:].to_numpy()
    assert (codes >= 0).all() and (codes < enc.field_dims_[13:]).all()
    # unseen or rare test values exist in the high-cardinality fields
    assert (codes == enc.oov_codes_[13:]).any(axis=0).sum() >= 10
    assert np.isfinite(Xt.iloc[:, :13].to_numpy()).all()
    assert Xt.iloc[:, :13].to_numpy().max() < 200  # floor(log(x)^2) keeps it small


@pytest.mark.realdata
def test_real_avazu_rows():
    from sklearn_deeplight.datasets import load_avazu

    X, y = load_avazu(_real_file("avazu/train_head8999.csv"))
    enc = FieldEncoder(min_frequency=5).fit(X)
    assert enc.numeric_fields_.size == 0  # int and string columns: all categorical
    Xt = enc.transform(X)
    assert (Xt.dtypes == np.int64).all()
    assert Xt.shape == (8999, X.shape[1])
    codes = Xt.to_numpy()
    assert (codes < enc.field_dims_).all()
    # device_ip is nearly unique per row: most of its values are rare
    ip = list(X.columns).index("device_ip")
    assert (codes[:, ip] == enc.oov_codes_[ip]).mean() > 0.5


def test_tuple_beside_an_equal_looking_scalar_is_encoded():
    """A vocabulary pandas cannot index (found by the fuzz test) still maps."""
    X = np.array([[(3,)], [np.int64(3)]], dtype=object)
    enc = FieldEncoder(min_frequency=1).fit(X)
    codes = np.asarray(
        enc.transform(np.array([[None], [(3,)], [3], ["x"]], dtype=object))
    )
    assert codes.shape == (4, 1)
    known = codes[1:3, 0]
    assert known[0] != known[1]  # two distinct categories
    assert codes[3, 0] not in known  # unseen


# ----------------------------------------------------------------------------
# The fast transform (issue 13, item 1): compiled lookups in hash tables and a
# lean path for a few rows, with exactly the pandas path's results and errors
# ----------------------------------------------------------------------------
def _outcome(fn):
    """The result of ``fn()``, or the type and message of what it raised."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a warning must match too
            return fn()
    except Exception as exc:  # noqa: BLE001 - compared below
        return (type(exc), str(exc))


def _assert_same_as_reference(enc, X):
    """``transform`` equals the pandas path (on dict rows: on the object
    DataFrame of the rows), errors and warnings included."""
    ref = _outcome(lambda: enc._transform_reference(enc._as_frame(X)))
    got = _outcome(lambda: enc.transform(X))
    if isinstance(ref, tuple) and ref[0] is UnicodeEncodeError:
        # pandas stores the strings of an array column as its str dtype,
        # which refuses lone surrogates; the fast path encodes them (where it
        # takes the input)
        assert isinstance(got, pd.DataFrame) or got == ref, got
    elif isinstance(ref, tuple) or isinstance(got, tuple):
        assert isinstance(got, tuple) and got == ref, (got, ref)
    else:
        pd.testing.assert_frame_equal(got, ref, check_exact=True)
    return got


_CAT_VALUES = st.one_of(
    st.sampled_from(["a", "b", "", "-", "é", "0123456789abcdef", "\ud800", "1"]),
    st.text(max_size=10),
    st.integers(-3, 3),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([None, pd.NA, np.nan, True, b"a", (1,), np.int64(2), np.str_("a")]),
)
_NUM_VALUES = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.integers(-(2**60), 2**60),
    st.sampled_from([None, pd.NA, "", "-", "12", "-3", "007", "1.5", " 4", "x", True]),
)
_HASHABLE = _CAT_VALUES.filter(lambda v: v is not pd.NA)


@st.composite
def _encoders_and_rows(draw):
    n_fit = draw(st.integers(1, 12))
    fit = pd.DataFrame(
        {
            "c": pd.Series(
                draw(st.lists(_HASHABLE, min_size=n_fit, max_size=n_fit)), dtype=object
            ),
            "s": pd.Series(
                draw(
                    st.lists(
                        st.sampled_from(["x", "y", "zz", None]),
                        min_size=n_fit,
                        max_size=n_fit,
                    )
                ),
                dtype="str",
            ),
            "i": draw(st.lists(st.integers(-2, 3), min_size=n_fit, max_size=n_fit)),
            "n": draw(st.lists(st.floats(-5, 1e4), min_size=n_fit, max_size=n_fit)),
        }
    )
    params = dict(
        handle_missing=draw(st.sampled_from(["category", "oov"])),
        min_frequency=draw(st.sampled_from([1, 2])),
        missing_values=draw(
            st.sampled_from([("",), ("", "-"), None, ("", None, np.nan)])
        ),
        numeric_transform=draw(
            st.sampled_from([None, "identity", "criteo", "log1p", _double])
        ),
        numeric_missing=draw(st.sampled_from([0.0, -1.5])),
    )
    enc = FieldEncoder(**params).fit(fit)
    n_rows = draw(st.sampled_from([1, 2, 16, 17, 40]))
    rows = [
        {
            "c": draw(_CAT_VALUES),
            "s": draw(st.one_of(st.sampled_from(["x", "zz", "new", ""]), _CAT_VALUES)),
            "i": draw(st.one_of(st.integers(-3, 4), _CAT_VALUES)),
            "n": draw(_NUM_VALUES),
        }
        for _ in range(n_rows)
    ]
    return enc, rows


def _double(x):
    return 2.0 * x


@settings(max_examples=60, deadline=None)
@given(case=_encoders_and_rows())
def test_fast_transform_equals_reference_on_fuzzed_rows(case):
    """Dict rows, a list of dicts, object and typed DataFrames, 1 row or many
    (the lean and the column paths), object arrays: the pandas path's codes,
    values, dtypes, index and errors."""
    enc, rows = case
    kept = repr(rows)
    _assert_same_as_reference(enc, rows)
    _assert_same_as_reference(enc, rows[0])
    frame = pd.DataFrame(rows, columns=["c", "s", "i", "n"], dtype=object)
    _assert_same_as_reference(enc, frame)
    _assert_same_as_reference(enc, frame.iloc[:1])
    _assert_same_as_reference(enc, frame.set_index(pd.Index(range(7, 7 + len(rows)))))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            typed = pd.DataFrame(rows).infer_objects()
            retyped = typed.astype({"s": "str", "c": "category"})
    except (TypeError, ValueError):  # values pandas cannot type (surrogates...)
        pass
    else:
        _assert_same_as_reference(enc, typed)
        _assert_same_as_reference(enc, retyped)
    assert repr(rows) == kept  # the caller's values are untouched


@settings(max_examples=30, deadline=None)
@given(case=_encoders_and_rows())
def test_fast_transform_equals_reference_on_arrays(case):
    """An encoder fitted without column names, on object and number arrays."""
    enc_named, rows = case
    fit = np.array([[v for v in row.values()] for row in rows], dtype=object)
    params = enc_named.get_params()
    try:
        enc = FieldEncoder(**{**params, "numeric_fields": [3]}).fit(fit)
    except (TypeError, ValueError):
        return  # values fit refuses (the reference raises the same)
    _assert_same_as_reference(enc, fit)
    _assert_same_as_reference(enc, fit[:1])
    ints = np.arange(-3, 3 * 4 - 3).reshape(-1, 4)
    _assert_same_as_reference(enc, ints)
    _assert_same_as_reference(enc, ints.astype(np.float64) + 0.5)


_PLAIN_NUM = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.integers(-(2**54), 2**54),
    st.sampled_from([None, 0, -0.0, 2**53 - 1, -(2**53), 2.0, 3]),
)
_PLAIN_CAT = st.one_of(
    st.sampled_from(["x", "y", "zz", "new", "", "-", "é", "a" * 9, "\ud800"]),
    st.sampled_from([None, np.nan]),
)


@settings(max_examples=60, deadline=None)
@given(
    n_rows=st.sampled_from([8, 9, 40, 256, 300]),
    seed=st.integers(0, 2**16),
    missing_values=st.sampled_from([("",), ("", "-"), None, ("zz",)]),
    numeric_transform=st.sampled_from([None, "criteo", "log1p", _double]),
    numeric_missing=st.sampled_from([0.0, -1.5]),
    data=st.data(),
)
def test_plain_columns_equal_reference(
    n_rows, seed, missing_values, numeric_transform, numeric_missing, data
):
    """8 to 300 dict rows (value by value up to 256, column by column
    above) whose columns hold plain values (numbers and None
    in the numeric field; strings, None and NaN in the categorical ones), as
    JSON requests hold them: the pandas path's codes, values and errors (an
    infinite value, an int beyond 2**53, a missing-value string, a float
    category)."""
    rng = np.random.default_rng(seed)
    fit = pd.DataFrame(
        {
            "s": pd.Series(rng.choice(["x", "y", "zz", "-"], 30), dtype="str"),
            "f": pd.Series(rng.choice([0.5, 1.5], 30), dtype=np.float64),
            "n": rng.uniform(-5, 1e4, 30),
        }
    )
    enc = FieldEncoder(
        numeric_fields=["n"],
        missing_values=missing_values,
        numeric_transform=numeric_transform,
        numeric_missing=numeric_missing,
    ).fit(fit)
    rows = [
        {
            "s": data.draw(_PLAIN_CAT),
            "f": data.draw(st.one_of(_PLAIN_CAT, st.sampled_from([0.5, 7.0]))),
            "n": data.draw(_PLAIN_NUM),
        }
        for _ in range(n_rows)
    ]
    _assert_same_as_reference(enc, rows)
    _assert_same_as_reference(enc, [dict(r, f=None) for r in rows])
    _assert_same_as_reference(
        enc, [dict(r, f=None, n=float(i)) for i, r in enumerate(rows)]
    )


@pytest.mark.parametrize(
    "value",
    [np.inf, -np.inf, 2**53, -(2**53), 2**53 - 1, 2**80, 1e300, -0.0, None, np.nan],
)
@pytest.mark.parametrize("transform", [None, "criteo", _double])
def test_plain_numeric_column_edges(value, transform):
    """Edge values among plain numbers in dict rows: the pandas path's
    values, or its error (an infinite value)."""
    enc = FieldEncoder(numeric_fields=["n"], numeric_transform=transform)
    enc.fit(pd.DataFrame({"s": ["a", "b", "a"], "n": [1.0, 2.0, 3.0]}))
    rows = [
        {"s": ["a", "b", None][i % 3], "n": [1, 2.5, None][i % 3]} for i in range(9)
    ]
    rows[4]["n"] = value
    _assert_same_as_reference(enc, rows)
    _assert_same_as_reference(enc, [dict(r, n=value) for r in rows])


def test_fast_path_is_taken_for_plain_inputs():
    """The common inputs never reach the pandas path."""
    enc = FieldEncoder(numeric_transform="criteo").fit(_frame())
    row = {"site": "a", "dev": 7, "count": 12.0}
    frame = _frame().astype({"site": "str"})
    big = pd.concat([frame] * 5, ignore_index=True)
    inputs = [
        row,
        [row, {"site": None, "dev": 3, "count": None}],
        frame.iloc[:1],
        frame,
        big,
        big.astype({"site": "category"}),
        big.astype({"site": object}),
    ]
    for X in inputs:
        assert enc._encode_matrix(X) is not None
        _assert_same_as_reference(enc, X)
    arr = FieldEncoder(numeric_fields=[2]).fit(_frame().to_numpy())
    for A in (_frame().to_numpy()[:1], _frame().to_numpy()):
        assert arr._encode_matrix(A) is not None
        _assert_same_as_reference(arr, A)


def test_long_non_ascii_and_surrogate_strings():
    values = [
        "a" * 9,
        "a" * 8,
        "a" * 17,
        "é" * 5,
        "日本語テキスト",
        "\ud800x",
        "",
        "a" * 64,
    ]
    X = pd.DataFrame({"v": pd.Series(values * 3, dtype=object)})
    enc = FieldEncoder(missing_values=None).fit(X)
    query = pd.DataFrame(
        {"v": pd.Series(values + ["a" * 10, "é" * 4, "\udfff"], dtype=object)}
    )
    got = _assert_same_as_reference(enc, query)
    assert len(set(got["v"][: len(values)])) == len(values)
    _assert_same_as_reference(enc, pd.concat([query] * 8, ignore_index=True))
    _assert_same_as_reference(enc, query.astype({"v": "str"}, errors="ignore").iloc[:3])


@pytest.mark.parametrize(
    "rows", [{"site": "a"}, [{"site": "a", "dev": 1, "count": 1.0, "x": 2}]]
)
def test_dict_rows_must_hold_the_fields(rows):
    enc = FieldEncoder().fit(_frame())
    with pytest.raises(ValueError, match=r"row 0 (has no value for|holds the unknown)"):
        enc.transform(rows)


def test_dict_rows_need_column_names_and_a_row():
    with pytest.raises(ValueError, match="fitted without column names"):
        FieldEncoder().fit(_frame().to_numpy()).transform({"x0": 1})
    with pytest.raises(ValueError, match="Expected 2D array"):  # check_array's
        FieldEncoder().fit(_frame()).transform([])


def test_dict_rows_keep_their_order_and_equal_the_frame():
    X = _frame()
    enc = FieldEncoder().fit(X)
    rows = X.to_dict("records")
    shuffled = [dict(reversed(list(r.items()))) for r in rows]
    expected = enc.transform(X)
    pd.testing.assert_frame_equal(enc.transform(shuffled), expected)
    pd.testing.assert_frame_equal(
        enc.transform(rows[3]), expected.iloc[3:4].reset_index(drop=True)
    )


def test_transform_checks_parameters_set_after_fit():
    """A bad parameter set after fit raises a ValueError naming it and the
    valid values (was a KeyError, issue 15, item 12)."""
    enc = FieldEncoder().fit(_frame())
    enc.set_params(numeric_transform="bogus")
    msg = (
        r"numeric_transform must be None, 'identity', 'criteo', 'log1p' or a "
        r"callable, got 'bogus'"
    )
    for X in (_frame(), _frame().iloc[:1], {"site": "a", "dev": 7, "count": 1.0}):
        with pytest.raises(ValueError, match=msg):
            enc.transform(X)
    with pytest.raises(ValueError, match="numeric_missing"):
        FieldEncoder().fit(_frame()).set_params(numeric_missing=np.inf).transform(
            _frame()
        )
    with pytest.raises(TypeError, match="missing_values"):
        FieldEncoder().fit(_frame()).set_params(missing_values="").transform(_frame())


def test_tables_follow_refit_partial_fit_and_missing_values():
    X = _frame()
    enc = FieldEncoder().fit(X.iloc[:4])
    enc.transform(X)
    enc.partial_fit(X.iloc[4:])
    pd.testing.assert_frame_equal(enc.transform(X), FieldEncoder().fit(X).transform(X))
    enc.fit(X.iloc[5:])
    pd.testing.assert_frame_equal(
        enc.transform(X), FieldEncoder().fit(X.iloc[5:]).transform(X)
    )
    enc.set_params(missing_values=("a",))
    _assert_same_as_reference(enc, X)
    assert (
        enc.transform({"site": "a", "dev": 7, "count": 1.0})["site"][0]
        == enc._missing_code[0]
    )


def test_fast_path_leaves_the_saved_state_unchanged(tmp_path):
    """The tables are built at the first transform, in a holder the state
    leaves out: pickle, save/load and the attributes are as before."""
    from sklearn_deeplight import load, save

    X = _frame()
    enc = FieldEncoder(numeric_transform="criteo").fit(X)
    state = enc.__getstate__()
    attrs = dict(enc.__dict__)
    expected = enc.transform(X)
    assert enc.__getstate__().keys() == state.keys()
    assert "_fast" not in state and enc.__dict__ == attrs
    for copy in (
        pickle.loads(pickle.dumps(enc)),
        load(save(enc, tmp_path / "enc.skdl") or tmp_path / "enc.skdl"),
    ):
        assert copy.__getstate__().keys() == state.keys()
        pd.testing.assert_frame_equal(copy.transform(X), expected)
        pd.testing.assert_frame_equal(copy.transform(X.iloc[:1]), expected.iloc[:1])


def test_first_transforms_from_several_threads():
    from concurrent.futures import ThreadPoolExecutor

    X = pd.concat([_frame()] * 10, ignore_index=True)
    enc = FieldEncoder().fit(X)
    expected = enc._transform_reference(X)
    with ThreadPoolExecutor(4) as pool:
        outs = list(pool.map(lambda _: enc.transform(X), range(8)))
    for out in outs:
        pd.testing.assert_frame_equal(out, expected)


@pytest.mark.realdata
def test_real_criteo_rows_fast_equals_reference():
    from sklearn_deeplight.datasets import load_criteo

    X, _ = load_criteo(_real_file("criteo/train_head9999.txt"))
    enc = FieldEncoder(min_frequency=8, numeric_transform="criteo").fit(X.iloc[:8000])
    test = X.iloc[8000:]
    expected = enc._transform_reference(test)
    assert enc._encode_matrix(test) is not None
    pd.testing.assert_frame_equal(enc.transform(test), expected)
    for i in (0, 1, 500):
        pd.testing.assert_frame_equal(
            enc.transform(test.iloc[i : i + 1]), expected.iloc[i : i + 1]
        )
    records = test.iloc[:64].to_dict("records")
    pd.testing.assert_frame_equal(
        enc.transform(records), expected.iloc[:64].reset_index(drop=True)
    )


@pytest.mark.parametrize("n_rows", [1, 3, 40])
def test_dict_rows_of_one_field(n_rows):
    enc = FieldEncoder().fit(pd.DataFrame({"site": ["ab", "cd", "ab"]}))
    rows = [{"site": v} for v in (["ab", "zz", None, "cd"] * 10)[:n_rows]]
    got = _assert_same_as_reference(enc, rows)
    np.testing.assert_array_equal(got["site"][:3], [0, 2, 2][:n_rows])


@pytest.mark.parametrize("n", [17, 256, 257, 600])
def test_lists_of_dicts_of_every_size_encode_as_the_frame(n):
    """Value by value up to 256 dicts, column by column above: both give the
    DataFrame's codes."""
    from sklearn_deeplight.datasets import make_ctr_classification

    X, _ = make_ctr_classification(
        1000,
        n_numeric=2,
        n_categorical=4,
        cardinalities=[5, 50, 200, 900],
        n_interactions=2,
        random_state=0,
    )
    enc = FieldEncoder(numeric_transform="criteo").fit(X)
    rows = X.iloc[:n]
    expected = enc.transform(rows)
    got = enc.transform(rows.to_dict("records"))
    np.testing.assert_array_equal(got.to_numpy(), expected.to_numpy())


@pytest.mark.parametrize("n_rows", [256, 300])
def test_many_dict_rows_with_columns_the_lookups_decline(n_rows):
    """Above 256 dict rows, the columns the compiled lookups decline (a
    categorical field of strings and ints, a numeric field holding an
    integer literal and None) take the pandas path as object columns: the
    reference's codes, row for row."""
    X = pd.DataFrame(
        {
            "site": ["b", "a", "a", "c", "b", "a", "d", "b"] * 5,
            "dev": [7, 7, 3, 3, 3, 9, 7, 1] * 5,
            "count": [1.0, 5.0, np.nan, 0.0, 20.0, 3.0, -1.0, 2.0] * 5,
        }
    )
    enc = FieldEncoder(numeric_transform="criteo").fit(X)
    sites = ["a", 7, None, "zz", "b", np.nan, "", 3]
    counts = [1.0, "12", None, 3, np.nan, 40.0, -2, 0.5]
    rows = [
        {"site": sites[i % 8], "dev": [7, 3, None, 11][i % 4], "count": counts[i % 7]}
        for i in range(n_rows)
    ]
    got = _assert_same_as_reference(enc, rows)
    assert got.shape == (n_rows, 3)
