"""Tests of training from an encoded log on disk (sklearn_deeplight._ondisk)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone

from sklearn_deeplight import (
    DeepFwFMClassifier,
    DeepLightPruning,
    FieldEncoder,
    FwFMClassifier,
)
from sklearn_deeplight._data import FieldDataset
from sklearn_deeplight._ondisk import (
    OnDiskFieldData,
    OnDiskFieldDataset,
    encode_to_memmap,
    fit_encoder,
    fit_ondisk,
)
from sklearn_deeplight._spec import table_sizes
from sklearn_deeplight._validation import global_index
from sklearn_deeplight.datasets import load_criteo, make_ctr_classification
from tests.conftest import SHARED_DATA


@pytest.fixture(autouse=True)
def one_torch_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _chunks(X, y, size):
    return ((X.iloc[i : i + size], y[i : i + size]) for i in range(0, len(y), size))


@pytest.fixture(scope="module")
def generated():
    X, y = make_ctr_classification(
        2000, n_numeric=3, n_categorical=5, n_interactions=3, random_state=0
    )
    encoder = FieldEncoder(numeric_transform="log1p").fit(X)
    return X, y, encoder


def _state(est):
    return {k: v.clone() for k, v in est.module_.state_dict().items()}


def _assert_same_model(a, b):
    for name in ("field_dims_", "offsets_", "numeric_fields_", "classes_"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert a.n_features_in_ == b.n_features_in_
    np.testing.assert_array_equal(a.feature_names_in_, b.feature_names_in_)
    sa, sb = _state(a), _state(b)
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k


# ----------------------------------------------------------------------
# The real Criteo rows, streamed in chunks of 1,000
# ----------------------------------------------------------------------
def test_criteo_streaming_equals_in_memory(tmp_path):
    path = SHARED_DATA / "criteo" / "train_head9999.txt"
    if not path.exists():
        pytest.skip(f"real Criteo rows not found at {path}")
    params = dict(numeric_transform="criteo", min_frequency=4)
    X, y = load_criteo(path)

    # encoder: streaming fit == in-memory fit
    enc_mem = FieldEncoder(**params).fit(X)
    enc_stream = fit_encoder(FieldEncoder(**params), load_criteo(path, chunksize=1000))
    np.testing.assert_array_equal(enc_stream.field_dims_, enc_mem.field_dims_)
    assert enc_stream.n_samples_seen_ == len(y)
    for a, b in zip(enc_stream.categories_, enc_mem.categories_):
        if a is None:
            assert b is None
        else:
            assert pd.Series(a).equals(pd.Series(b))
    Xt = enc_mem.transform(X)
    pd.testing.assert_frame_equal(enc_stream.transform(X), Xt)

    # encoding: chunk by chunk to disk == in memory
    data = encode_to_memmap(
        load_criteo(path, chunksize=1000), tmp_path / "log", encoder=enc_stream
    )
    assert data.n_samples == len(y) and data.n_fields == 39
    np.testing.assert_array_equal(data.numeric_fields, np.arange(13))
    Xd, yd = data.read()
    as_stored = Xt.astype(dict.fromkeys(Xt.columns[:13], np.float32))
    pd.testing.assert_frame_equal(Xd, as_stored.astype(Xt.dtypes.to_dict()))
    np.testing.assert_array_equal(yd, y)

    # training: same seed, exact shuffle -> the same model
    est = DeepFwFMClassifier(
        embedding_dim=4,
        hidden_units=(16, 16),
        dropout=0.2,
        max_epochs=2,
        batch_size=512,
        validation_fraction=0.1,
        random_state=0,
        callbacks=[
            ("prune", DeepLightPruning(dnn=0.5, field_pairs=0.5, warm_up_epochs=1))
        ],
    )
    mem = clone(est).fit(Xt, y)
    disk = fit_ondisk(clone(est), data, shuffle="exact")
    _assert_same_model(mem, disk)
    assert mem.history[:, "valid_auc"] == disk.history[:, "valid_auc"]
    np.testing.assert_array_equal(disk.predict_proba(Xt), mem.predict_proba(Xt))
    np.testing.assert_array_equal(
        disk.predict_proba(data.to_dataset(disk)), mem.predict_proba(Xt)
    )


# ----------------------------------------------------------------------
# Files and dataset
# ----------------------------------------------------------------------
def test_files_are_plain_npy(tmp_path, generated):
    X, y, enc = generated
    data = encode_to_memmap(_chunks(X, y, 700), tmp_path, encoder=enc)
    codes = np.load(tmp_path / "codes.npy", mmap_mode="r")
    values = np.load(tmp_path / "values.npy", mmap_mode="r")
    labels = np.load(tmp_path / "labels.npy", mmap_mode="r")
    assert codes.shape == (2000, 5) and codes.dtype == np.int32
    assert values.shape == (2000, 3) and values.dtype == np.float32
    assert labels.shape == (2000,) and labels.dtype == np.uint8
    Xt = enc.transform(X)
    np.testing.assert_array_equal(codes, Xt.iloc[:, 3:].to_numpy())
    np.testing.assert_array_equal(values, Xt.iloc[:, :3].to_numpy(np.float32))
    meta = json.loads((tmp_path / "meta.json").read_text())
    assert meta["n_samples"] == 2000 and meta["feature_names"] == list(Xt.columns)
    reopened = OnDiskFieldData(tmp_path)
    assert len(reopened) == 2000 and reopened.nbytes == data.nbytes
    np.testing.assert_array_equal(reopened.max_codes[3:], Xt.iloc[:, 3:].max())


def test_dataset_reads_like_field_dataset(tmp_path, generated):
    X, y, enc = generated
    data = encode_to_memmap(_chunks(X, y, 512), tmp_path, encoder=enc)
    est = FwFMClassifier(embedding_dim=2, max_epochs=1, random_state=0)
    fit_ondisk(est, data)
    Xt = enc.transform(X)
    codes = Xt.to_numpy()
    codes[:, :3] = 0
    # a smaller vocabulary than the data's: codes above it read the OOV rows
    dims = np.maximum(est.field_dims_ - 1, 1)
    dims[:3] = 1
    sizes = table_sizes(dims, np.arange(8) < 3)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    xi = global_index(codes.astype(np.int64), dims, offsets)
    xv = np.ones_like(xi, dtype=np.float32)
    xv[:, :3] = Xt.iloc[:, :3].to_numpy(np.float32)
    ref = FieldDataset(xi, xv, (y == 1).astype(np.float32))
    ds = OnDiskFieldDataset(data, dims, offsets)
    idx = torch.as_tensor(np.random.default_rng(0).permutation(2000)[:300])
    for got, want in zip(ds.take(idx), ref.take(idx)):
        if isinstance(got, dict):
            for k in got:
                assert torch.equal(got[k], want[k])
        else:
            assert torch.equal(got, want)
    sub, ref_sub = ds.subset(idx.numpy()), ref.subset(idx.numpy())
    assert len(sub) == 300
    assert torch.equal(sub.xi[10:50], ref_sub.xi[10:50])
    assert torch.equal(sub.xv[-1], ref_sub.xv[-1])
    assert torch.equal(sub.subset(range(5, 9)).y[:], ref_sub.y[5:9])
    np.testing.assert_array_equal(ds.y.numpy(), ref.y.numpy())
    x0, y0 = ds[3]
    assert torch.equal(x0["xi"], ref.xi[3]) and y0 == ref.y[3]


def test_blocks_visit_every_row_once(tmp_path, generated):
    X, y, enc = generated
    data = encode_to_memmap(_chunks(X, y, 512), tmp_path, encoder=enc)
    est = FwFMClassifier(max_epochs=1, random_state=0)
    fit_ondisk(est, data)
    ds = data.to_dataset(est, shuffle="blocks", block_rows=96, window_blocks=3)
    it = ds.batch_iterator(128, shuffle=True)
    batches = list(it)
    assert len(batches) == len(it) == 16
    assert all(len(b[1]) == 128 for b in batches[:-1])
    xi = torch.cat([b[0]["xi"] for b in batches]).numpy()
    ref = ds.xi[:].numpy()
    assert not np.array_equal(xi, ref)  # shuffled
    key = np.lexsort(xi.T[::-1]), np.lexsort(ref.T[::-1])
    np.testing.assert_array_equal(xi[key[0]], ref[key[1]])
    # the seed fixes the order
    torch.manual_seed(1)
    a = next(iter(it))[1]
    torch.manual_seed(1)
    assert torch.equal(a, next(iter(it))[1])


def test_blocks_training_tail_validation(tmp_path, generated):
    X, y, enc = generated
    data = encode_to_memmap(_chunks(X, y, 512), tmp_path, encoder=enc)
    est = FwFMClassifier(
        embedding_dim=4,
        max_epochs=3,
        batch_size=128,
        validation_fraction=0.25,
        lr=0.01,
        random_state=0,
    )
    fit_ondisk(est, data, block_rows=64, window_blocks=4)
    # the last 500 rows are the validation split
    assert est.history[-1, "batches", -1, "valid_batch_size"] == 500 - 3 * 128
    assert (
        sum(
            b["train_batch_size"]
            for b in est.history[-1, "batches"]
            if "train_batch_size" in b
        )
        == 1500
    )
    # the dataset chose the iterator and the split: no method on the instance
    assert not {"get_iterator", "get_split_datasets"} & est.__dict__.keys()
    proba = est.predict_proba(enc.transform(X))[:, 1]
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(y, proba) > 0.6
    # reproducible
    again = fit_ondisk(clone(est), data, block_rows=64, window_blocks=4)
    np.testing.assert_array_equal(again.predict_proba(enc.transform(X))[:, 1], proba)


# ----------------------------------------------------------------------
# Labels, validation and errors
# ----------------------------------------------------------------------
def test_string_labels_first_seen_order(tmp_path):
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.integers(0, 5, 400), "b": rng.normal(size=400)})
    y = np.where(X["a"] > 1, "yes", "no").astype(object)
    y[:100] = "yes"  # "yes" first, though "no" sorts first
    data = encode_to_memmap(_chunks(X, y, 100), tmp_path)
    assert list(data.labels) == ["yes", "no"]
    est = FwFMClassifier(
        embedding_dim=2, max_epochs=1, random_state=0, validation_fraction=None
    )
    mem = clone(est).fit(X, y)
    disk = fit_ondisk(clone(est), data, shuffle="exact")
    assert list(disk.classes_) == ["no", "yes"]
    _assert_same_model(mem, disk)
    assert list(disk.predict(X[:3])) == list(mem.predict(X[:3]))


def test_errors(tmp_path, generated):
    X, y, enc = generated
    data = encode_to_memmap(_chunks(X, y, 1000), tmp_path / "d", encoder=enc)
    with pytest.raises(FileExistsError, match="overwrite"):
        encode_to_memmap(_chunks(X, y, 1000), tmp_path / "d", encoder=enc)
    encode_to_memmap(_chunks(X, y, 1000), tmp_path / "d", encoder=enc, overwrite=True)
    with pytest.raises(FileNotFoundError, match="meta.json"):
        OnDiskFieldData(tmp_path)
    with pytest.raises(ValueError, match="numeric fields"):
        fit_ondisk(FwFMClassifier(numeric_fields=None), data)
    with pytest.raises(ValueError, match="train_split"):
        fit_ondisk(FwFMClassifier(train_split=False), data)
    with pytest.raises(ValueError, match="Only binary"):
        y3 = y.copy()
        y3[1500] = 2
        encode_to_memmap(_chunks(X, y3, 1000), tmp_path / "e", encoder=enc)
    with pytest.raises(ValueError, match="categorical field"):
        Xt = enc.transform(X)
        Xt.iloc[5, 4] = -3
        encode_to_memmap(_chunks(Xt, y, 1000), tmp_path / "f")
    with pytest.raises(TypeError, match="labels"):
        encode_to_memmap(iter([X]), tmp_path / "g", encoder=enc)
    one = encode_to_memmap(
        _chunks(X, np.zeros_like(y), 1000), tmp_path / "h", encoder=enc
    )
    with pytest.raises(ValueError, match="2 classes"):
        fit_ondisk(FwFMClassifier(), one)
    with pytest.raises(ValueError, match="shuffle"):
        fit_ondisk(FwFMClassifier(), data, shuffle="random")


def test_warm_start_continues(tmp_path, generated):
    X, y, enc = generated
    data = encode_to_memmap(_chunks(X, y, 1000), tmp_path / "all", encoder=enc)
    est = FwFMClassifier(max_epochs=1, warm_start=True, random_state=0)
    fit_ondisk(est, data)
    dims = est.field_dims_.copy()
    # a later file with one class only and fewer codes keeps the layout
    ones = encode_to_memmap(
        _chunks(X[y == 1], y[y == 1], 1000), tmp_path / "ones", encoder=enc
    )
    fit_ondisk(est, ones)
    assert len(est.history) == 2
    np.testing.assert_array_equal(est.field_dims_, dims)
    other = encode_to_memmap(_chunks(X, y + 5, 1000), tmp_path / "x", encoder=enc)
    with pytest.raises(ValueError, match="classes seen in the first fit"):
        fit_ondisk(est, other)


def test_ondisk_stray_code_is_refused_before_allocating(tmp_path, monkeypatch):
    """The on-disk path applies the in-memory rule (issue 15, item 2): the
    distinct codes are counted from the stored codes, block by block."""
    from sklearn_deeplight import _ondisk

    monkeypatch.setattr(_ondisk, "_DISTINCT_BLOCK_ROWS", 3)
    rng = np.random.RandomState(0)
    X = pd.DataFrame({"v": rng.rand(12), "site": rng.randint(0, 4, 12)})
    X.loc[5, "site"] = 2**31 - 2
    chunks = [(X.iloc[i : i + 4], np.arange(4) % 2) for i in range(0, 12, 4)]
    data = encode_to_memmap(chunks, tmp_path / "enc")
    assert _ondisk._distinct_codes(data, 1) == X["site"].nunique()
    with pytest.raises(
        ValueError, match=r"column 1 \('site'\): its largest code 2147483646"
    ):
        fit_ondisk(FwFMClassifier(max_epochs=1), data)
    X.loc[5, "site"] = 3
    data = encode_to_memmap(chunks[:0] + [(X, np.arange(12) % 2)], tmp_path / "ok")
    fit_ondisk(FwFMClassifier(max_epochs=1, embedding_dim=2), data)
