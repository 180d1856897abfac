"""Tests of the click-log readers.

Crafted files are made up here; no row of the real data is copied (their terms
forbid it). The real files in ../shared/data are read in place, when present.
"""

import gzip
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sklearn_deeplight.datasets import _readers, load_avazu, load_criteo, load_libffm


def shared_data_dir() -> Path:
    """``../shared/data`` beside the repository root."""
    return Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


def _real_file(rel: str) -> Path:
    path = shared_data_dir() / rel
    if not path.is_file():
        pytest.skip(f"real data file {path} is absent (../shared/data not present)")
    return path


# ------------------------------------------------------------ crafted files
def criteo_line(i: int, label: str | None = None) -> str:
    """A made-up Criteo-layout line; deterministic in i."""
    label = str(i % 2) if label is None else label
    ints = [str((i * 7 + k) % 50 - 3) if (i + k) % 5 else "" for k in range(13)]
    cats = [f"{(i * 31 + k * 17) % 9:08x}" if (i + k) % 6 else "" for k in range(26)]
    return "\t".join([label, *ints, *cats])


def write(tmp_path: Path, name: str, lines: list[str], end: str = "\n") -> Path:
    path = tmp_path / name
    path.write_bytes((end.join(lines) + end).encode())
    return path


def test_criteo_values_and_dtypes(tmp_path):
    lines = [criteo_line(i) for i in range(12)]
    X, y = load_criteo(write(tmp_path, "c.txt", lines))
    assert X.shape == (12, 39)
    assert list(X.columns) == [f"I{i}" for i in range(1, 14)] + [
        f"C{i}" for i in range(1, 27)
    ]
    assert (X.dtypes.iloc[:13] == np.float64).all()
    assert all(str(dt) == "str" for dt in X.dtypes.iloc[13:])
    assert y.dtype == np.int64
    np.testing.assert_array_equal(y, np.arange(12) % 2)
    for i, line in enumerate(lines):
        fields = line.split("\t")
        for k in range(13):
            v = X.iat[i, k]
            assert np.isnan(v) if fields[1 + k] == "" else v == int(fields[1 + k])
        for k in range(26):
            v = X.iat[i, 13 + k]
            assert pd.isna(v) if fields[14 + k] == "" else v == fields[14 + k]
    assert (X.iloc[:, :13] < 0).any().any()  # negative counts kept
    assert X.attrs["n_bad_lines"] == 0


def test_criteo_line_endings_blank_lines_and_gzip(tmp_path):
    lines = [criteo_line(i) for i in range(6)]
    X, y = load_criteo(write(tmp_path, "a.txt", lines))
    crlf, y2 = load_criteo(write(tmp_path, "b.txt", lines, end="\r\n"))
    pd.testing.assert_frame_equal(X, crlf)
    path = tmp_path / "c.txt"
    path.write_text("\n".join(lines[:3]) + "\n\n  \n" + "\n".join(lines[3:]))
    blank, y3 = load_criteo(path)  # no final newline, blank lines ignored
    pd.testing.assert_frame_equal(X, blank)
    gz = tmp_path / "d.txt.gz"
    gz.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    zipped, y4 = load_criteo(gz)
    pd.testing.assert_frame_equal(X, zipped)
    for other in (y2, y3, y4):
        np.testing.assert_array_equal(y, other)


def with_field(i: int, k: int, value: str) -> str:
    """criteo_line(i) with field k (0 = label) replaced."""
    fields = criteo_line(i).split("\t")
    fields[k] = value
    return "\t".join(fields)


BAD_CRITEO = [
    (
        "short",
        lambda i: criteo_line(i).rsplit("\t", 1)[0],
        "expected 40 fields, found 39",
    ),
    ("long", lambda i: criteo_line(i) + "\tff", "expected 40 fields, found 41"),
    ("label2", lambda i: with_field(i, 0, "2"), "label must be 0 or 1, got '2'"),
    ("labelx", lambda i: with_field(i, 0, "x"), "label must be 0 or 1, got 'x'"),
    ("nolabel", lambda i: with_field(i, 0, ""), "label must be 0 or 1, got ''"),
    (
        "int",
        lambda i: with_field(i, 1, "12x"),
        "column 'I1': not a finite number: '12x'",
    ),
    (
        "inf",
        lambda i: with_field(i, 5, "inf"),
        "column 'I5': not a finite number: 'inf'",
    ),
    (
        "nan",
        lambda i: with_field(i, 13, "nan"),
        "column 'I13': not a finite number: 'nan'",
    ),
]


@pytest.mark.parametrize(
    "kind, make_bad, problem", BAD_CRITEO, ids=[b[0] for b in BAD_CRITEO]
)
def test_criteo_malformed_line(tmp_path, kind, make_bad, problem):
    lines = [criteo_line(i) for i in range(10)]
    lines[6] = make_bad(6)
    path = write(tmp_path, "c.txt", lines)
    with pytest.raises(ValueError, match=re.escape(f"line 7: {problem}")):
        load_criteo(path)
    with pytest.raises(ValueError, match="line 7"):
        list(load_criteo(path, chunksize=4))
    good = [line for i, line in enumerate(lines) if i != 6]
    expected, y_exp = load_criteo(write(tmp_path, "good.txt", good))
    X, y = load_criteo(path, on_bad_lines="skip")
    pd.testing.assert_frame_equal(X, expected)
    np.testing.assert_array_equal(y, y_exp)
    assert X.attrs["n_bad_lines"] == 1
    with pytest.warns(UserWarning, match=r"skipped 1 malformed line \(first: line 7"):
        X, y = load_criteo(path, on_bad_lines="warn")
    pd.testing.assert_frame_equal(X, expected)


def test_first_bad_line_reported_and_counted(tmp_path):
    lines = [criteo_line(i) for i in range(20)]
    lines[4] = criteo_line(4, label="7")
    lines[2] = lines[2] + "\textra"
    lines[15] = "just one field"
    path = write(tmp_path, "c.txt", lines)
    with pytest.raises(ValueError, match="line 3: expected 40 fields, found 41"):
        load_criteo(path)
    with pytest.warns(UserWarning, match=r"skipped 3 malformed lines \(first: line 3"):
        X, y = load_criteo(path, on_bad_lines="warn")
    assert len(X) == 17 and X.attrs["n_bad_lines"] == 3


def test_nrows(tmp_path):
    lines = [criteo_line(i) for i in range(30)]
    lines[20] = "broken"
    path = write(tmp_path, "c.txt", lines)
    full, y_full = load_criteo(path, on_bad_lines="skip")
    X, y = load_criteo(path, nrows=20)  # stops before the bad line 21
    pd.testing.assert_frame_equal(X, full.iloc[:20])
    np.testing.assert_array_equal(y, y_full[:20])
    with pytest.raises(ValueError, match="line 21"):
        load_criteo(path, nrows=21)
    X, y = load_criteo(path, nrows=25, on_bad_lines="skip")
    pd.testing.assert_frame_equal(X, full.iloc[:25])
    assert X.attrs["n_bad_lines"] == 1
    X, y = load_criteo(path, nrows=0)
    assert X.shape == (0, 39) and y.shape == (0,) and y.dtype == np.int64
    assert (X.dtypes.iloc[:13] == np.float64).all()
    X, y = load_criteo(path, nrows=1000, on_bad_lines="skip")
    assert len(X) == 29
    chunks = list(load_criteo(path, nrows=25, chunksize=10, on_bad_lines="skip"))
    assert [len(c[0]) for c in chunks] == [10, 10, 5]


@pytest.mark.parametrize("block", [3, 7, 10_000])
@pytest.mark.parametrize("chunksize", [1, 4, 9, 100])
def test_chunked_equals_at_once(tmp_path, monkeypatch, block, chunksize):
    monkeypatch.setattr(_readers, "_MIN_BLOCK_LINES", block)
    monkeypatch.setattr(_readers, "_DEFAULT_BLOCK_LINES", block)
    lines = [criteo_line(i) for i in range(23)]
    for i in (0, 5, 6, 17):
        lines[i] = criteo_line(i, label="yes")
    path = write(tmp_path, "c.txt", lines)
    X, y = load_criteo(path, on_bad_lines="skip")
    assert len(X) == 19 and X.attrs["n_bad_lines"] == 4
    chunks = list(load_criteo(path, chunksize=chunksize, on_bad_lines="skip"))
    assert all(len(c[0]) == chunksize for c in chunks[:-1])
    assert 1 <= len(chunks[-1][0]) <= chunksize
    pd.testing.assert_frame_equal(pd.concat([c[0] for c in chunks]), X)
    np.testing.assert_array_equal(np.concatenate([c[1] for c in chunks]), y)
    assert sum(c[0].attrs["n_bad_lines"] for c in chunks) == 4


def test_argument_errors(tmp_path):
    path = write(tmp_path, "c.txt", [criteo_line(0)])
    missing = tmp_path / "nope.txt"
    with pytest.raises(FileNotFoundError, match=re.escape(str(missing))):
        load_criteo(missing)
    with pytest.raises(FileNotFoundError):
        load_avazu(missing)
    with pytest.raises(ValueError, match="on_bad_lines"):
        load_criteo(path, on_bad_lines="ignore")
    with pytest.raises(ValueError, match="chunksize must be >= 1"):
        load_criteo(path, chunksize=0)
    with pytest.raises(ValueError, match="nrows must be >= 0"):
        load_criteo(path, nrows=-1)
    with pytest.raises(TypeError, match="nrows must be an int"):
        load_criteo(path, nrows=2.5)


# ------------------------------------------------------------------ Avazu
AVAZU_HEADER = (
    "id,click,hour,C1,banner_pos,site_id,site_domain,site_category,app_id,"
    "app_domain,app_category,device_id,device_ip,device_model,device_type,"
    "device_conn_type,C14,C15,C16,C17,C18,C19,C20,C21"
)


def avazu_line(i: int, click: str | None = None) -> str:
    """A made-up Avazu-layout line (the id is a 20-digit number)."""
    click = str(int(i % 3 == 0)) if click is None else click
    strs = [f"{(i * 13 + k) % 11:08x}" for k in range(9)]
    if i % 4 == 1:
        strs[3] = ""  # a missing app_id
    ints1 = [str(1000 + i % 3), str(i % 2)]
    c14_c19 = [str((i * 17 + k) % 300) for k in range(6)]
    c20 = "-1" if i % 3 == 2 else str(100084 + i)
    ints2 = [str(i % 5), str(i % 3), *c14_c19, c20, str(79 + i % 2)]
    return ",".join(
        [str(12345678901234567890 + i), click, "14102100", *ints1, *strs, *ints2]
    )


def test_avazu_values_and_dtypes(tmp_path):
    lines = [AVAZU_HEADER] + [avazu_line(i) for i in range(9)]
    path = write(tmp_path, "a.csv", lines)
    X, y = load_avazu(path)
    assert X.shape == (9, 21)
    assert "id" not in X and "hour" not in X and "click" not in X
    np.testing.assert_array_equal(y, [1, 0, 0, 1, 0, 0, 1, 0, 0])
    assert X["C1"].dtype == np.int64 and X["C20"].dtype == np.int64
    assert str(X["site_id"].dtype) == "str"
    assert X["app_id"].isna().sum() == 2
    assert (X["C20"] == -1).any()
    full, _ = load_avazu(path, drop=None)
    assert list(full.columns) == [c for c in AVAZU_HEADER.split(",") if c != "click"]
    assert full["id"].iloc[0] == "12345678901234567890"  # beyond int64, kept exact
    assert full["hour"].dtype == np.int64
    for chunksize in (2, 4):
        chunks = list(load_avazu(path, chunksize=chunksize))
        pd.testing.assert_frame_equal(pd.concat([c[0] for c in chunks]), X)


def test_avazu_malformed_lines(tmp_path):
    lines = [AVAZU_HEADER] + [avazu_line(i) for i in range(9)]
    lines[3] = avazu_line(2, click="1.0")
    lines[5] = avazu_line(4).replace(",14102100,", ",14102100,x1,", 1)
    fields = avazu_line(7).split(",")
    fields[17] = "3.5"  # C15
    lines[8] = ",".join(fields)
    fields = avazu_line(8).split(",")
    fields[16] = ""  # C14 empty: no integer
    lines[9] = ",".join(fields)
    path = write(tmp_path, "a.csv", lines)
    with pytest.raises(ValueError, match="line 4: label must be 0 or 1, got '1.0'"):
        load_avazu(path)
    X, y = load_avazu(path, on_bad_lines="skip")
    assert X.attrs["n_bad_lines"] == 4 and len(X) == 5
    assert len(load_avazu(path, nrows=2)[0]) == 2  # lines 2-3, before the bad ones
    lines[3] = avazu_line(2)
    path = write(tmp_path, "b.csv", lines)
    with pytest.raises(ValueError, match="line 6: expected 24 fields, found 25"):
        load_avazu(path)
    lines[5] = avazu_line(4)
    path = write(tmp_path, "b.csv", lines)
    with pytest.raises(ValueError, match="line 9: column 'C15': not an integer: '3.5'"):
        load_avazu(path)
    lines[8] = avazu_line(7)
    path = write(tmp_path, "c.csv", lines)
    with pytest.raises(ValueError, match="line 10: column 'C14': not an integer: ''"):
        load_avazu(path)


def test_avazu_byte_order_mark(tmp_path):
    lines = [AVAZU_HEADER] + [avazu_line(i) for i in range(3)]
    plain = write(tmp_path, "a.csv", lines)
    bom = tmp_path / "b.csv"
    bom.write_bytes(b"\xef\xbb\xbf" + plain.read_bytes())
    pd.testing.assert_frame_equal(load_avazu(bom)[0], load_avazu(plain)[0])


def test_avazu_header_errors(tmp_path):
    path = write(tmp_path, "a.csv", ["id,hour,C1", "1,2,3"])
    with pytest.raises(ValueError, match="no 'click' column"):
        load_avazu(path)
    path = write(tmp_path, "b.csv", [AVAZU_HEADER, avazu_line(0)])
    with pytest.raises(ValueError, match="drop: column 'idx' is not in the header"):
        load_avazu(path, drop=["idx"])
    with pytest.raises(ValueError, match="'click' is the label"):
        load_avazu(path, drop=["click"])
    X, y = load_avazu(write(tmp_path, "c.csv", [AVAZU_HEADER]))
    assert X.shape == (0, 21) and y.shape == (0,)


# ----------------------------------------------------------------- libffm
def test_libffm_values(tmp_path):
    lines = [
        "1 0:12:1 1:40:1 2:0:3.5",
        "0 0:13:1\t2:0:0.25",
        "-1 1:41:1 0:12:1",
        "+1",
    ]
    path = write(tmp_path, "a.ffm", lines)
    X, y = load_libffm(path, numeric_fields=[2])
    np.testing.assert_array_equal(y, [1, 0, 0, 1])
    assert list(X.columns) == ["f0", "f1", "f2"]
    assert X.dtypes.tolist() == [np.int64, np.int64, np.float64]
    np.testing.assert_array_equal(X["f0"], [12, 13, 12, -1])
    np.testing.assert_array_equal(X["f1"], [40, -1, 41, -1])
    np.testing.assert_array_equal(X["f2"], [3.5, 0.25, np.nan, np.nan])
    X4, _ = load_libffm(path, numeric_fields=[3])  # width covers numeric_fields
    assert list(X4.columns) == ["f0", "f1", "f2", "f3"] and X4["f3"].isna().all()
    X5, _ = load_libffm(path, n_fields=5)
    assert X5.shape == (4, 5) and (X5["f4"] == -1).all()
    np.testing.assert_array_equal(X5["f2"], [0, 0, -1, -1])


@pytest.mark.parametrize(
    "bad, problem",
    [
        ("2 0:1:1", "label must be 1, 0 or -1, got '2'"),
        ("1 0:1", "'0:1' is not field:feature:value"),
        ("1 a:1:1", "field 'a' is not a non-negative integer"),
        ("1 -1:1:1", "field '-1' is not a non-negative integer"),
        ("1 0:x:1", "feature 'x' is not a non-negative integer"),
        ("1 0:1:y", "value 'y' is not a finite number"),
        ("1 0:1:1:2", "value '1:2' is not a finite number"),
        ("1 0:1:1 3:1:1", "field 3 out of range (n_fields=3)"),
        ("1 0:1:1 0:2:1", "field 0 appears twice"),
    ],
)
def test_libffm_malformed(tmp_path, bad, problem):
    lines = ["1 0:1:1 1:2:1", "0 2:5:1", bad, "1 1:3:1"]
    path = write(tmp_path, "a.ffm", lines)
    with pytest.raises(ValueError, match=re.escape(f"line 3: {problem}")):
        load_libffm(path, n_fields=3)
    X, y = load_libffm(path, n_fields=3, on_bad_lines="skip")
    assert len(X) == 3 and X.attrs["n_bad_lines"] == 1
    np.testing.assert_array_equal(y, [1, 0, 1])
    np.testing.assert_array_equal(X["f1"], [2, -1, 3])


def test_libffm_chunks_and_width(tmp_path, monkeypatch):
    monkeypatch.setattr(_readers, "_MIN_BLOCK_LINES", 2)
    monkeypatch.setattr(_readers, "_DEFAULT_BLOCK_LINES", 2)
    lines = ["1 0:1:1", "0 0:2:1", "1 0:1:1 4:9:2.5", "0 1:7:1"]
    path = write(tmp_path, "a.ffm", lines)
    X, y = load_libffm(path, numeric_fields=[4])  # blocks see widths 1 and 5
    assert list(X.columns) == ["f0", "f1", "f2", "f3", "f4"]
    np.testing.assert_array_equal(X["f0"], [1, 2, 1, -1])
    np.testing.assert_array_equal(X["f4"], [np.nan, np.nan, 2.5, np.nan])
    assert X["f1"].dtype == np.int64
    with pytest.raises(ValueError, match="n_fields is required with chunksize"):
        load_libffm(path, chunksize=2)
    chunks = list(load_libffm(path, n_fields=5, numeric_fields=[4], chunksize=3))
    pd.testing.assert_frame_equal(pd.concat([c[0] for c in chunks]), X)
    with pytest.raises(ValueError, match="out of range"):
        load_libffm(path, n_fields=3, numeric_fields=[4])


@pytest.mark.parametrize("field_id", [100_000_000_000, 2_000_000, 64])
def test_libffm_stray_field_id_is_refused_without_n_fields(tmp_path, field_id):
    """Without n_fields, a field id far above the distinct fields read is a
    ValueError naming it, before one column per id is allocated (a line
    ``1 0:3:1 100000000000:1:1`` was a MemoryError; 2,000,000 ran for minutes;
    issue 15, item 3)."""
    path = write(tmp_path, "a.ffm", ["0 1:5:1", f"1 0:3:1 {field_id}:1:1"])
    with pytest.raises(ValueError, match=rf"field id {field_id} is far above the 3 "):
        load_libffm(path)
    with pytest.raises(ValueError, match=r"pass n_fields"):
        load_libffm(path, on_bad_lines="skip")  # a file-level problem
    X, _ = load_libffm(path, n_fields=3, on_bad_lines="skip")  # the line is bad
    assert X.shape == (1, 3)


def test_libffm_inferred_width_follows_the_fields_read(tmp_path, monkeypatch):
    """Legitimate gaps are kept: absent fields below the bound get a column of
    -1, fields present only in some blocks are aligned."""
    monkeypatch.setattr(_readers, "_MIN_BLOCK_LINES", 2)
    monkeypatch.setattr(_readers, "_DEFAULT_BLOCK_LINES", 2)
    lines = ["1 0:1:1 63:4:1", "0 5:2:1", "1 38:1:1"]
    X, _ = load_libffm(write(tmp_path, "a.ffm", lines))
    assert X.shape == (3, 64) and (X.dtypes == np.int64).all()
    np.testing.assert_array_equal(X["f63"], [4, -1, -1])
    np.testing.assert_array_equal(X["f38"], [-1, -1, 1])
    assert (X["f1"] == -1).all()
    assert _readers.INFERRED_FIELDS_FLOOR == 64
    assert _readers.INFERRED_FIELDS_FACTOR == 2
    # 40 distinct fields: ids up to 79 are inferred
    many = " ".join(f"{f}:1:1" for f in range(39)) + " 79:1:1"
    X, _ = load_libffm(write(tmp_path, "b.ffm", ["1 " + many]))
    assert X.shape == (1, 80)
    with pytest.raises(ValueError, match=r"field id 80 is far above the 40 "):
        load_libffm(write(tmp_path, "c.ffm", ["1 " + many.replace("79:", "80:")]))


# -------------------------------------------------------- property: chunks
@settings(max_examples=15, deadline=None)
@given(
    bad=st.lists(st.booleans(), min_size=1, max_size=30),
    chunksize=st.integers(1, 12),
    block=st.integers(1, 8),
    nrows=st.one_of(st.none(), st.integers(0, 30)),
)
def test_chunking_property(tmp_path_factory, bad, chunksize, block, nrows):
    tmp_path = tmp_path_factory.mktemp("prop")
    lines = [criteo_line(i, label="z" if b else None) for i, b in enumerate(bad)]
    path = write(tmp_path, "c.txt", lines)
    expected_idx = [i for i, b in enumerate(bad) if not b][:nrows]
    saved = (_readers._MIN_BLOCK_LINES, _readers._DEFAULT_BLOCK_LINES)
    _readers._MIN_BLOCK_LINES = _readers._DEFAULT_BLOCK_LINES = block
    try:
        X, y = load_criteo(path, nrows=nrows, on_bad_lines="skip")
        chunks = list(
            load_criteo(path, nrows=nrows, chunksize=chunksize, on_bad_lines="skip")
        )
    finally:
        _readers._MIN_BLOCK_LINES, _readers._DEFAULT_BLOCK_LINES = saved
    np.testing.assert_array_equal(y, np.array(expected_idx, dtype=np.int64) % 2)
    assert len(X) == len(expected_idx)
    if expected_idx:
        pd.testing.assert_frame_equal(pd.concat([c[0] for c in chunks]), X)
        np.testing.assert_array_equal(np.concatenate([c[1] for c in chunks]), y)
    else:
        assert chunks == []


# --------------------------------------------------------------- real data
@pytest.mark.realdata
def test_real_criteo_head():
    path = _real_file("criteo/train_head9999.txt")
    X, y = load_criteo(path)
    assert X.shape == (9999, 39) and X.attrs["n_bad_lines"] == 0
    assert round(y.mean(), 3) == 0.218  # positive rate of the head (README)
    assert (X["I2"].min() < 0) and X["I2"].notna().all()
    assert X.iloc[:, :13].isna().any().any() and X.iloc[:, 13:].isna().any().any()
    hexes = X["C1"].dropna()
    assert hexes.str.fullmatch(r"[0-9a-f]{8}").all()
    chunks = list(load_criteo(path, chunksize=4000))
    assert [len(c[0]) for c in chunks] == [4000, 4000, 1999]
    pd.testing.assert_frame_equal(pd.concat([c[0] for c in chunks]), X)
    X100, y100 = load_criteo(path, nrows=100)
    pd.testing.assert_frame_equal(X100, X.iloc[:100])


@pytest.mark.realdata
def test_real_criteo_sample():
    X, y = load_criteo(_real_file("criteo/dac_sample200.txt"))
    assert X.shape == (200, 39)
    assert round(y.mean(), 3) == 0.245


@pytest.mark.realdata
def test_real_avazu():
    path = _real_file("avazu/train_head8999.csv")
    X, y = load_avazu(path)
    assert X.shape == (8999, 21) and X.attrs["n_bad_lines"] == 0
    assert round(y.mean(), 3) == 0.174
    assert X["C14"].dtype == np.int64 and str(X["device_ip"].dtype) == "str"
    full, _ = load_avazu(path, drop=None, nrows=10)
    assert (full["hour"] == 14102100).all()
    chunks = list(load_avazu(path, chunksize=5000))
    pd.testing.assert_frame_equal(pd.concat([c[0] for c in chunks]), X)


# ------------------------------------------- damaged bytes (issue 8's catalogue)
def test_lone_carriage_return_is_data_not_a_line_end(tmp_path):
    lines = [criteo_line(i) for i in range(4)]
    fields = lines[1].split("\t")
    fields[20] = "ab\rcd"  # a categorical field (C7) of line 2
    lines[1] = "\t".join(fields)
    X, y = load_criteo(write(tmp_path, "cr.txt", lines))
    assert len(X) == 4 and X.attrs["n_bad_lines"] == 0
    assert X.iat[1, 19] == "ab\rcd"
    # with CRLF line ends the "\r\n" ends the line and the lone "\r" stays
    X2, _ = load_criteo(write(tmp_path, "crlf.txt", lines, end="\r\n"))
    pd.testing.assert_frame_equal(X, X2)


@pytest.mark.parametrize("on_bad_lines", ["error", "skip", "warn"])
def test_invalid_utf8_is_a_malformed_line(tmp_path, on_bad_lines):
    good = [criteo_line(i).encode() for i in range(5)]
    data = b"\n".join(good[:3] + [good[3].replace(b"\t", b"\t\xc3\x28", 1)] + good[4:])
    path = tmp_path / "u.txt"
    path.write_bytes(data + b"\n")
    if on_bad_lines == "error":
        with pytest.raises(
            ValueError, match=r"u\.txt: malformed line 4: not valid UTF-8"
        ):
            load_criteo(path)
        return
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        X, y = load_criteo(path, on_bad_lines=on_bad_lines)
    assert len(X) == 4 and X.attrs["n_bad_lines"] == 1
    expected, _ = load_criteo(
        write(tmp_path, "ok.txt", [criteo_line(i) for i in (0, 1, 2, 4)])
    )
    pd.testing.assert_frame_equal(X, expected)
    assert len(caught) == (on_bad_lines == "warn")


def test_a_block_of_undecodable_lines_only(tmp_path):
    path = tmp_path / "all_bad.ffm"
    path.write_bytes(b"1 0:1:1\xff\n0 0:2:1\xfe\n")
    X, y = load_libffm(path, n_fields=2, on_bad_lines="skip")
    assert X.shape == (0, 2) and len(y) == 0 and X.attrs["n_bad_lines"] == 2


@pytest.mark.parametrize(
    "data",
    [
        b"",  # an empty .gz file
        b"plain text, not gzip",
        gzip.compress(b"1\t2\n" * 100)[:-12],  # truncated
        gzip.compress(b"1\t2\n" * 100)[:-8] + b"\0\0\0\0" + b"\x90\x01\0\0",  # CRC
    ],
    ids=["empty", "not-gzip", "truncated", "bad-crc"],
)
def test_damaged_gzip_is_a_value_error_naming_the_file(tmp_path, data):
    path = tmp_path / "log.txt.gz"
    path.write_bytes(data)
    if not data:  # an empty file is an empty (valid) stream for gzip
        X, y = load_criteo(path)
        assert len(X) == 0
        return
    with pytest.raises(ValueError, match=r"log\.txt\.gz: damaged or not a gz"):
        load_criteo(path)


def test_libffm_lines_with_a_label_only(tmp_path):
    path = tmp_path / "labels.ffm"
    path.write_bytes(b"1\n0\n-1 1:7:1\n")
    X, y = load_libffm(path, n_fields=2)
    np.testing.assert_array_equal(y, [1, 0, 0])
    np.testing.assert_array_equal(X.to_numpy(), [[-1, -1], [-1, -1], [-1, 7]])
    with pytest.raises(ValueError, match=r"line 1: 'x' is not field:feature:value"):
        load_libffm(write(tmp_path, "x.ffm", ["1 x"]))
