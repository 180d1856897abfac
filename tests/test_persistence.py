"""Tests of safe persistence: ``save`` / ``load`` (issue 8, part 1)."""

from __future__ import annotations

import copy
import hashlib
import io
import json
import os
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OrdinalEncoder

from sklearn_deeplight import (
    DCNv2Classifier,
    DeepFMClassifier,
    DeepFwFMClassifier,
    FieldEncoder,
    FMClassifier,
    FwFMClassifier,
    LRClassifier,
    NFMClassifier,
    SparseCTRPredictor,
    XDeepFMClassifier,
    __version__,
    _persistence,
)
from sklearn_deeplight._persistence import FORMAT_VERSION, TRUSTED_TYPES, load, save
from sklearn_deeplight._registry import MODELS as REGISTERED_MODELS

REPO = Path(__file__).resolve().parents[1]
_COMMON = dict(
    max_epochs=1, batch_size=64, random_state=0, validation_fraction=None, lr=1e-2
)
_DEEP = dict(_COMMON, embedding_dim=3, hidden_units=(6, 5))
MODELS = {
    "LR": lambda: LRClassifier(**_COMMON),
    "FM": lambda: FMClassifier(embedding_dim=3, **_COMMON),
    "FwFM": lambda: FwFMClassifier(embedding_dim=3, **_COMMON),
    "DeepFM": lambda: DeepFMClassifier(batch_norm=True, **_DEEP),
    "NFM": lambda: NFMClassifier(**_DEEP),
    "xDeepFM": lambda: XDeepFMClassifier(cin_layer_sizes=(4, 3), **_DEEP),
    "DeepFwFM": lambda: DeepFwFMClassifier(linear_term="field_vector", **_DEEP),
    "DCNv2": lambda: DCNv2Classifier(n_cross_layers=2, **_DEEP),
}


def test_the_table_covers_every_registered_model():
    assert list(MODELS) == [info.name for info in REGISTERED_MODELS]


CARD = (9, 5, 13)


def _frame(n: int, seed: int) -> pd.DataFrame:
    """Three categorical fields and one numeric field."""
    rng = np.random.RandomState(seed)
    cols = {f"c{j}": rng.randint(0, c, size=n) for j, c in enumerate(CARD)}
    cols["num"] = rng.randn(n)
    return pd.DataFrame(cols)


def _test_frame(seed: int = 1) -> pd.DataFrame:
    X = _frame(97, seed)
    X.loc[:5, "c0"] = 1000  # unseen
    X.loc[6:9, "c1"] = -2  # negative
    return X


@pytest.fixture(scope="module")
def fitted():
    torch.set_num_threads(1)
    X = _frame(120, 0)
    y = ((X["c0"] % 2 == 0) ^ (X["num"] > 0)).astype(int).to_numpy()
    return {name: make().fit(X, y) for name, make in MODELS.items()}


def _prune(est, rate: float, seed: int):
    """A copy of ``est`` with a random fraction ``rate`` of its weights zeroed."""
    est = copy.deepcopy(est)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in est.module_.named_parameters():
            if name.endswith("weight") or name in ("field_pairs", "field_linear"):
                p[torch.rand(p.shape, generator=gen) < rate] = 0.0
    return est


def assert_same(a, b, where: str = "obj") -> None:
    """Exact, type-preserving equality of two object trees."""
    assert type(a) is type(b), (where, type(a), type(b))
    if isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape, where
        if a.dtype == object:
            for i, (u, v) in enumerate(zip(a.ravel(), b.ravel())):
                assert_same(u, v, f"{where}[{i}]")
        else:
            np.testing.assert_array_equal(a, b, err_msg=where)
        assert a.flags.writeable == b.flags.writeable, where
    elif sp.issparse(a):
        assert a.format == b.format and a.shape == b.shape, where
        assert (a != b).nnz == 0, where
        for attr in ("data", "indices", "indptr"):
            assert_same(getattr(a, attr), getattr(b, attr), f"{where}.{attr}")
    elif isinstance(a, pd.Series):
        pd.testing.assert_series_equal(a, b, check_exact=True)
        assert_same(a.index, b.index, f"{where}.index")
    elif isinstance(a, pd.Index):
        pd.testing.assert_index_equal(a, b, exact=True, check_exact=True)
    elif isinstance(a, dict):
        assert sorted(a, key=repr) == sorted(b, key=repr), where
        for k in a:
            assert_same(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), where
        for i, (u, v) in enumerate(zip(a, b)):
            assert_same(u, v, f"{where}[{i}]")
    elif hasattr(a, "__getstate__") and hasattr(a, "get_params"):
        assert_same(a.__getstate__(), b.__getstate__(), where)
    elif isinstance(a, float) and a != a:
        assert b != b, where
    else:
        assert a == b or (a is b), (where, a, b)


def _round_trip(obj, tmp_path: Path, name: str = "model.skdl"):
    path = tmp_path / name
    save(obj, path)
    return load(path)


# ----------------------------------------------------------------------
# Round trips
# ----------------------------------------------------------------------
@pytest.mark.parametrize("name", list(MODELS))
def test_predictor_round_trip_is_exact(fitted, name, tmp_path):
    pred = _prune(fitted[name], 0.5, 0).to_sparse(threshold=0.3)
    loaded = _round_trip(pred, tmp_path)
    assert type(loaded) is SparseCTRPredictor
    assert_same(pred.__getstate__(), loaded.__getstate__())
    np.testing.assert_array_equal(loaded.embedding_, pred.embedding_)
    assert loaded.nbytes_ == pred.nbytes_ and loaded.n_params_ == pred.n_params_
    X = _test_frame()
    for engine in ("numba", "scipy"):
        pred.set_params(engine=engine)
        loaded.set_params(engine=engine)
        np.testing.assert_array_equal(loaded.predict_proba(X), pred.predict_proba(X))
        np.testing.assert_array_equal(loaded.predict(X), pred.predict(X))


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    name=st.sampled_from(list(MODELS)),
    rate=st.sampled_from([0.0, 0.3, 0.9, 1.0]),
    dtype=st.sampled_from(["float32", "float16"]),
    threshold=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**16),
    n=st.integers(1, 70),
)
def test_predictor_round_trip_property(
    fitted, tmp_path, name, rate, dtype, threshold, seed, n
):
    """save/load is exact on random pruned models, storage dtypes and inputs."""
    pred = _prune(fitted[name], rate, seed).to_sparse(dtype=dtype, threshold=threshold)
    loaded = _round_trip(pred, tmp_path, f"m{seed}.skdl")
    assert_same(pred.__getstate__(), loaded.__getstate__())
    X = _frame(n, seed)
    X.loc[: n // 3, "c2"] = seed  # mostly unseen codes
    np.testing.assert_array_equal(loaded.predict_proba(X), pred.predict_proba(X))
    np.testing.assert_array_equal(
        loaded.decision_function(X), pred.decision_function(X)
    )


_raw_values = st.one_of(
    st.text(max_size=3),
    st.integers(-3, 3),
    st.sampled_from([None, np.nan, 1.5, "", "a", True]),
)


@settings(max_examples=10, deadline=None)
@given(
    data=st.data(),
    n_rows=st.integers(1, 12),
    min_frequency=st.sampled_from([1, 2, 0.3]),
    handle_missing=st.sampled_from(["category", "oov"]),
    transform=st.sampled_from([None, "log1p", "criteo"]),
)
def test_encoder_round_trip_property(
    data, n_rows, min_frequency, handle_missing, transform
):
    """Encoders fitted on random raw columns load back exactly; partial_fit goes on."""
    cols = {
        "str": data.draw(
            st.lists(
                st.one_of(st.none(), st.text(max_size=2)),
                min_size=n_rows,
                max_size=n_rows,
            )
        ),
        "mixed": data.draw(st.lists(_raw_values, min_size=n_rows, max_size=n_rows)),
        "int": data.draw(
            st.lists(st.integers(-5, 5), min_size=n_rows, max_size=n_rows)
        ),
        "num": data.draw(
            st.lists(
                st.one_of(st.none(), st.floats(-1e6, 1e6)),
                min_size=n_rows,
                max_size=n_rows,
            )
        ),
    }
    X = pd.DataFrame(cols)
    X["str"] = X["str"].astype("str")
    X["num"] = X["num"].astype(float)
    enc = FieldEncoder(
        min_frequency=min_frequency,
        handle_missing=handle_missing,
        numeric_transform=transform,
    ).fit(X)
    buf = _persistence._Encoder()
    tree = buf.encode(enc)
    loaded = _persistence._Decoder(dict(enumerate(buf.arrays))).decode(
        json.loads(json.dumps(tree))
    )
    assert_same(enc.__getstate__(), loaded.__getstate__())
    pd.testing.assert_frame_equal(loaded.transform(X), enc.transform(X))
    more = X.iloc[::-1].reset_index(drop=True)
    pd.testing.assert_frame_equal(
        loaded.partial_fit(more).transform(X), enc.partial_fit(more).transform(X)
    )


def test_encoder_file_round_trip(tmp_path):
    X = pd.DataFrame(
        {
            "site": pd.Series(["a", "b", None, "a"], dtype="str"),
            "app": pd.Series(["x", "y", "x", pd.NA], dtype="string"),
            "obj": ["p", 3, 2.5, None],
            "hour": np.array([1, 2, 2, 3], dtype=np.int32),
            "flag": [True, False, True, True],
            "price": [1.0, np.nan, 3.0, 1e9],
        }
    )
    enc = FieldEncoder(min_frequency=1, numeric_transform="criteo").fit(X)
    loaded = _round_trip(enc, tmp_path)
    assert_same(enc.__getstate__(), loaded.__getstate__())
    pd.testing.assert_frame_equal(loaded.transform(X), enc.transform(X))
    unfitted = _round_trip(FieldEncoder(min_frequency=3), tmp_path, "u.skdl")
    assert unfitted.get_params() == FieldEncoder(min_frequency=3).get_params()


def test_pipelines_round_trip(fitted, tmp_path):
    raw = pd.DataFrame(
        {
            "c0": [f"s{i % 9}" for i in range(120)],
            "c1": [f"a{i % 5}" for i in range(120)],
            "c2": [f"d{i % 13}" for i in range(120)],
            "num": np.linspace(-1, 1, 120),
        }
    )
    enc = FieldEncoder().fit(raw)
    pred = fitted["DeepFwFM"].to_sparse()
    test = raw.copy()
    test.loc[:10, "c1"] = "never-seen"
    pipes = [
        make_pipeline(FrozenEstimator(enc), FrozenEstimator(pred)),
        make_pipeline(enc, pred),
    ]
    ordinal = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1)
    ordinal.set_output(transform="pandas")
    pipes.append(make_pipeline(ordinal.fit(raw), pred))
    for i, pipe in enumerate(pipes):
        loaded = _round_trip(pipe, tmp_path, f"pipe{i}.skdl")
        assert [type(s) for _, s in loaded.steps] == [type(s) for _, s in pipe.steps]
        np.testing.assert_array_equal(
            loaded.predict_proba(test), pipe.predict_proba(test)
        )
    # containers of models round trip too
    both = _round_trip({"encoder": enc, "models": (pred, None)}, tmp_path, "d.skdl")
    assert_same({"encoder": enc, "models": (pred, None)}, both)


def test_file_is_deterministic_and_records_versions(fitted, tmp_path):
    pred = fitted["FwFM"].to_sparse()
    save(pred, tmp_path / "a.skdl")
    save(pred, tmp_path / "b.skdl")
    assert (tmp_path / "a.skdl").read_bytes() == (tmp_path / "b.skdl").read_bytes()
    with zipfile.ZipFile(tmp_path / "a.skdl") as zf:
        manifest = json.loads(zf.read("manifest.json"))
        assert all(i.compress_type == zipfile.ZIP_STORED for i in zf.infolist())
        for entry in manifest["entries"]:
            blob = zf.read(entry["name"])
            assert hashlib.sha256(blob).hexdigest() == entry["sha256"]
    assert manifest["format_version"] == FORMAT_VERSION
    assert manifest["library_version"] == __version__
    assert manifest["object"] == "sklearn_deeplight.SparseCTRPredictor"
    assert len(manifest["payload_sha256"]) == 64


# ----------------------------------------------------------------------
# Refusals at save time: nothing is written
# ----------------------------------------------------------------------
class _Sub(SparseCTRPredictor):
    pass


def test_save_refuses_untrusted_types_and_leaves_the_disk_alone(fitted, tmp_path):
    path = tmp_path / "model.skdl"
    save({"ok": 1}, path)
    before = path.read_bytes()
    cases = {
        "DeepFwFMClassifier": fitted["DeepFwFM"],
        "LogisticRegression": make_pipeline(LogisticRegression()),
        "function": FieldEncoder(numeric_transform=lambda x: x),
        "_Sub": _Sub(),
        "set": {1, 2},
        "Path": Path("x"),
        "float16 structured": np.zeros(2, dtype=[("a", "f4")]),
    }
    for expected, obj in cases.items():
        with pytest.raises(TypeError) as info:
            save(obj, path)
        assert expected.split()[0] in str(info.value) or "dtype" in str(info.value)
        assert path.read_bytes() == before
    with pytest.raises(TypeError, match="to_sparse"):
        save(fitted["LR"], path)
    with pytest.raises(TypeError, match="path"):
        save({"ok": 1}, 3.5)
    cycle: list = []
    cycle.append(cycle)
    with pytest.raises(ValueError, match="cycle"):
        save(cycle, path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.skdl"]


# ----------------------------------------------------------------------
# Atomic writes
# ----------------------------------------------------------------------
def test_crash_while_saving_keeps_the_previous_file(fitted, tmp_path, monkeypatch):
    path = tmp_path / "model.skdl"
    old = fitted["FM"].to_sparse()
    save(old, path)
    before = path.read_bytes()

    def crash(f, entries):
        f.write(b"PK\x03\x04 half of a file")
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(_persistence, "_write_zip", crash)
    with pytest.raises(OSError, match="simulated"):
        save(fitted["xDeepFM"].to_sparse(), path)
    monkeypatch.undo()

    def interrupted(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(_persistence.os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save(fitted["xDeepFM"].to_sparse(), path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.skdl"]  # no temp files
    assert_same(load(path).__getstate__(), old.__getstate__())
    save(fitted["xDeepFM"].to_sparse(), path)  # a complete save replaces it
    assert type(load(path)) is SparseCTRPredictor and path.read_bytes() != before


def test_save_keeps_umask_permissions(tmp_path):
    path = tmp_path / "m.skdl"
    save([1], path)
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask


# ----------------------------------------------------------------------
# Refusals at load time
# ----------------------------------------------------------------------
def _entries(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def _write(path: Path, entries: dict[str, bytes], *, resign: bool = True) -> None:
    """Write entries back, recomputing the manifest checksums when ``resign``."""
    entries = dict(entries)
    if resign:
        manifest = json.loads(entries["manifest.json"])
        payload = hashlib.sha256()
        listed = []
        for name, blob in entries.items():
            if name == "manifest.json":
                continue
            payload.update(blob)
            listed.append(
                {
                    "name": name,
                    "size": len(blob),
                    "sha256": hashlib.sha256(blob).hexdigest(),
                }
            )
        manifest["entries"] = listed
        manifest["payload_sha256"] = payload.hexdigest()
        entries["manifest.json"] = json.dumps(manifest).encode()
    with zipfile.ZipFile(path, "w") as zf:
        for name, blob in entries.items():
            zf.writestr(name, blob)


def _edit_tree(path: Path, edit) -> None:
    entries = _entries(path)
    tree = json.loads(entries["tree.json"])
    tree = edit(tree) or tree
    entries["tree.json"] = json.dumps(tree).encode()
    _write(path, entries)


class _Exploit:
    """Unpickling this creates a marker file: proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_load_refuses_untrusted_types(tmp_path):
    path = tmp_path / "m.skdl"
    for bad in (
        "os.system",
        "builtins.eval",
        "sklearn.linear_model.LogisticRegression",
    ):
        save(make_pipeline(FieldEncoder()), path)

        def edit(tree, bad=bad):
            tree["class"] = bad

        _edit_tree(path, edit)
        with pytest.raises(TypeError, match=f"refuses.*{bad}"):
            load(path)
    save({"f": None}, path)

    def function(tree):
        tree["values"][0] = {"$": "function", "name": "os.system"}

    _edit_tree(path, function)
    with pytest.raises(TypeError, match="os.system"):
        load(path)


def test_load_never_unpickles(tmp_path):
    marker = tmp_path / "pwned"
    exploit = _Exploit(marker)
    pickled = tmp_path / "model.joblib"
    joblib.dump(exploit, pickled)
    with pytest.raises(ValueError, match="joblib.load only if you trust"):
        load(pickled)
    # an object array smuggled in as .npy, with valid checksums
    path = tmp_path / "m.skdl"
    save({"a": np.arange(3)}, path)
    entries = _entries(path)
    buf = io.BytesIO()
    np.save(buf, np.array([exploit, 1], dtype=object), allow_pickle=True)
    entries["arrays/000000.npy"] = buf.getvalue()
    _write(path, entries)
    with pytest.raises(ValueError, match="refused"):
        load(path)
    # pickled bytes where bytes are expected, and a pickle as the tree
    save({"a": b"\x00\x01"}, path)
    entries = _entries(path)
    entries["arrays/000000.npy"] = pickle.dumps(exploit)
    _write(path, entries)
    with pytest.raises(ValueError):
        load(path)
    entries["tree.json"] = pickle.dumps(exploit)
    _write(path, entries)
    with pytest.raises(ValueError):
        load(path)
    assert not marker.exists()


def test_truncated_or_altered_files_are_refused(fitted, tmp_path):
    path = tmp_path / "m.skdl"
    save(fitted["DeepFwFM"].to_sparse(), path)
    data = path.read_bytes()
    bad = tmp_path / "bad.skdl"
    rng = np.random.RandomState(0)
    for cut in [0, 1, 4, 30, len(data) // 2, len(data) - 22, len(data) - 1]:
        bad.write_bytes(data[:cut])
        with pytest.raises(ValueError):
            load(bad)
    for pos in rng.randint(0, len(data), 40):
        altered = bytearray(data)
        altered[pos] ^= 0xFF
        bad.write_bytes(bytes(altered))
        try:
            obj = load(bad)
        except ValueError:
            continue
        # flips in zip metadata the format ignores (timestamps, attributes)
        # must give back the very same model
        assert_same(obj.__getstate__(), load(path).__getstate__())
    # an altered payload with a recomputed CRC but not the SHA-256
    entries = _entries(path)
    arr = np.load(io.BytesIO(entries["arrays/000001.npy"]))
    buf = io.BytesIO()
    np.save(buf, arr + 1)
    entries["arrays/000001.npy"] = buf.getvalue()
    _write(bad, entries, resign=False)
    with pytest.raises(ValueError, match="checksum mismatch"):
        load(bad)
    # entries added or removed
    extra = dict(_entries(path), **{"arrays/999999.npy": b"x"})
    _write(bad, extra, resign=False)
    with pytest.raises(ValueError, match="do not match the manifest"):
        load(bad)
    # an edited manifest
    entries = _entries(path)
    manifest = json.loads(entries["manifest.json"])
    manifest["payload_sha256"] = "0" * 64
    entries["manifest.json"] = json.dumps(manifest).encode()
    _write(bad, entries, resign=False)
    with pytest.raises(ValueError, match="payload checksum"):
        load(bad)
    bad.write_bytes(b"")
    with pytest.raises(ValueError, match="not a sklearn_deeplight model file"):
        load(bad)
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "missing.skdl")
    with pytest.raises(TypeError, match="path"):
        load(None)


def test_versions(tmp_path):
    path = tmp_path / "m.skdl"
    save([1, 2], path)
    entries = _entries(path)
    manifest = json.loads(entries["manifest.json"])
    manifest["format_version"] = FORMAT_VERSION + 1
    entries["manifest.json"] = json.dumps(manifest).encode()
    _write(path, entries)
    with pytest.raises(ValueError, match="upgrade sklearn-deeplight"):
        load(path)
    manifest["format_version"] = FORMAT_VERSION
    manifest["library_version"] = "0.0.1"
    entries["manifest.json"] = json.dumps(manifest).encode()
    _write(path, entries)
    with pytest.warns(UserWarning, match="0.0.1"):
        assert load(path) == [1, 2]


def _corrupt_predictor(pred: SparseCTRPredictor, how: str) -> SparseCTRPredictor:
    bad = copy.deepcopy(pred)
    if how == "csr index":
        W = bad.dnn_layers_[0]
        W.indices[0] = W.shape[1] + 5
    elif how == "layer width":
        bad.dnn_out_ = np.zeros(3, np.float32)
    elif how == "offsets":
        bad.offsets_ = bad.offsets_ + 1
    elif how == "field pair":
        bad.field_pairs_ = bad.field_pairs_.copy()
        bad.field_pairs_[0] = (0, bad.n_features_in_)
    elif how == "cin keep":
        bad.cin_keep_ = [99] * len(bad.cin_keep_)
    elif how == "field_dims":
        bad.field_dims_ = bad.field_dims_[:-1]
    return bad


@pytest.mark.parametrize(
    "how, model",
    [
        ("csr index", "DeepFwFM"),
        ("layer width", "DeepFwFM"),
        ("offsets", "FwFM"),
        ("field pair", "DeepFwFM"),
        ("cin keep", "xDeepFM"),
        ("field_dims", "LR"),
    ],
)
def test_inconsistent_predictor_is_refused(fitted, tmp_path, how, model):
    """A crafted file with valid checksums never reaches the compiled kernels."""
    pred = _corrupt_predictor(fitted[model].to_sparse(), how)
    path = tmp_path / "m.skdl"
    try:
        save(pred, path)
    except (ValueError, IndexError):  # the predictor's own pickling refused it
        pytest.skip("the predictor cannot even be saved like this")
    with pytest.raises(ValueError, match="m.skdl"):
        load(path)


def _set_state(tree: dict, key: str, value) -> None:
    state = tree["state"]
    state["values"][state["keys"].index(key)] = value


@pytest.mark.parametrize(
    "key, value",
    [
        ("embedding_dim_", 4),  # one more than the stored table
        ("n_features_in_", 5),
        ("interaction_", "ffm"),
        ("field_pairs_", [[0, 1]]),
        ("bias_", "1.0"),
        ("bias_", {"$": "float", "v": "nan"}),
        ("pair_weights_", {"$": "objarray", "shape": [1], "items": ["x"]}),
    ],
)
def test_crafted_state_is_refused(fitted, tmp_path, key, value):
    path = tmp_path / "m.skdl"
    save(fitted["FwFM"].to_sparse(), path)
    _edit_tree(path, lambda tree: _set_state(tree, key, value))
    with pytest.raises(ValueError, match="m.skdl"):
        load(path)


@pytest.mark.parametrize("key", ["_table", "_packed", "_numeric_mask"])
def test_runtime_state_from_the_file_is_refused(fitted, tmp_path, key):
    """The kernels' in-memory state is always rebuilt, never read from a file."""
    path = tmp_path / "m.skdl"
    save(fitted["DeepFwFM"].to_sparse(), path)

    def inject(tree):
        tree["state"]["keys"].append(key)
        tree["state"]["values"].append({"$": "tuple", "items": [0, 1, 2]})

    _edit_tree(path, inject)
    with pytest.raises(ValueError, match=key):
        load(path)


def test_zlib_bomb_in_mask_is_refused(fitted, tmp_path):
    path = tmp_path / "m.skdl"
    pred = fitted["FM"].to_sparse()
    save(pred, path)
    import zlib

    def edit(tree):
        keys = tree["state"]["keys"]
        values = tree["state"]["values"]
        store = values[keys.index("_compact_embedding")]
        store["values"][0] = {"$": "tuple", "items": [10**6, 10**3]}

    _edit_tree(path, edit)
    with pytest.raises(ValueError, match="mask"):
        load(path)
    assert zlib  # the mask is decompressed with a bound, never in full


def test_loading_does_not_need_torch(fitted, tmp_path):
    """A server without torch loads and serves the saved predictor."""
    path = tmp_path / "m.skdl"
    pred = fitted["xDeepFM"].to_sparse()
    save(pred, path)
    X = _test_frame()
    np.save(tmp_path / "X.npy", X.to_numpy())
    np.save(tmp_path / "ref.npy", pred.predict_proba(X))
    script = f"""
import sys

class BlockTorch:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "skorch"):
            raise ImportError(f"No module named {{name!r}} (blocked)")

sys.meta_path.insert(0, BlockTorch())
import numpy as np
import pandas as pd
from sklearn_deeplight._persistence import load
pred = load({str(path)!r})
X = pd.DataFrame(np.load({str(tmp_path / "X.npy")!r}), columns={list(X.columns)!r})
X = X.astype({{c: int for c in X.columns if c != "num"}})
ref = np.load({str(tmp_path / "ref.npy")!r})
np.testing.assert_array_equal(pred.predict_proba(X), ref)
assert not [m for m in sys.modules if m.split(".")[0] in ("torch", "skorch")]
print("ok")
"""
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "ok"


def test_trusted_types_are_listed():
    assert "sklearn_deeplight.SparseCTRPredictor" in TRUSTED_TYPES
    assert "sklearn.pipeline.Pipeline" in TRUSTED_TYPES
    assert not any("skorch" in t or "torch" in t for t in TRUSTED_TYPES)


def test_joblib_still_works_for_trusted_files(fitted, tmp_path):
    pred = fitted["NFM"].to_sparse()
    joblib.dump(pred, tmp_path / "m.joblib")
    X = _test_frame()
    np.testing.assert_array_equal(
        joblib.load(tmp_path / "m.joblib").predict_proba(X), pred.predict_proba(X)
    )
    assert "pickle" in (_persistence.__doc__ or "")


def test_load_warms_the_kernels(fitted, tmp_path):
    """load packs the predictor for its kernels and loads them (numba's cache)
    before returning, so that the first prediction is not the one that pays."""
    pred = fitted["DeepFwFM"].to_sparse(engine="numba")
    path = tmp_path / "m.skdl"
    save(pred, path)
    loaded = load(path)
    assert loaded.__dict__.get("_packed") is not None
    X = _test_frame()
    np.testing.assert_array_equal(loaded.predict_proba(X), pred.predict_proba(X))
    scipy_pred = fitted["DeepFwFM"].to_sparse(engine="scipy")
    save(scipy_pred, path)
    assert load(path).__dict__.get("_packed") is None  # nothing to warm


def test_load_of_an_object_named_like_a_pipeline_part(tmp_path):
    """The warm-up after load looks for pipelines by type, not by attributes."""
    path = tmp_path / "s.skdl"
    series = pd.Series([1, 2], index=["steps", "estimator"])
    save(series, path)
    pd.testing.assert_series_equal(load(path), series)
