"""``load`` under hostile files (issue 15): bounded memory and complete state.

Item 1: what a file makes ``load`` allocate is derived from the sizes it
declares and refused past a ceiling; a file without the zip signature is
refused before it is read. Item 9: every rebuilt object's state is checked
whole (exactly the expected attributes, each with its type, dtype, shape and
range).

Files are crafted with valid checksums by saving an object whose
``__getstate__`` returns the altered state, so that only the checks of the
state (not the checksums) can refuse them. Allocation limits are tested in a
subprocess under ``resource.setrlimit(RLIMIT_AS)``, so that a regression is a
``MemoryError`` there instead of gigabytes taken from the machine.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sklearn_deeplight import LRClassifier
from sklearn_deeplight._persistence import (
    LOAD_MEMORY_FLOOR,
    LOAD_MEMORY_PER_FILE_BYTE,
    load,
    save,
)

REPO = Path(__file__).resolve().parents[1]


def _lr_predictor(n_fields: int = 1):
    rng = np.random.RandomState(0)
    X = rng.randint(0, 4, size=(40, n_fields))
    est = LRClassifier(max_epochs=1, random_state=0, validation_fraction=None)
    return est.fit(X, np.arange(40) % 2).to_sparse(engine="scipy")


def save_state(obj, state: dict, path: Path) -> Path:
    """Save ``obj`` as if its state were ``state`` (valid checksums)."""
    obj.__getstate__ = lambda: state  # an instance attribute: save calls it
    try:
        save(obj, path)
    finally:
        del obj.__getstate__
    return path


def _zeros_mask(n_entries: int) -> bytes:
    """A zlib mask of ``n_entries`` zero bits: tiny, expands 1000-fold."""
    d = zlib.compressobj(9)
    chunk = bytes(1 << 20)
    n_bytes = -(-n_entries // 8)
    parts = [d.compress(chunk) for _ in range(n_bytes >> 20)]
    parts.append(d.compress(bytes(n_bytes & ((1 << 20) - 1))))
    return b"".join(parts) + d.flush()


def huge_layout_file(path: Path, n_rows: int = 2**28) -> Path:
    """An LR predictor declaring ``n_rows`` table rows, all weights zero: a
    few hundred KiB with valid checksums (issue 15, item 1)."""
    pred = _lr_predictor()
    state = pred.__getstate__()
    state["field_dims_"] = np.array([n_rows - 1], dtype=np.int64)
    state["_compact_embedding"] = {
        "shape": (n_rows, 0),
        "mask": zlib.compress(b""),
        "values": np.zeros(0, np.float32),
    }
    state["_compact_linear"] = {
        "shape": (n_rows,),
        "mask": _zeros_mask(n_rows),
        "values": np.zeros(0, np.float32),
    }
    return save_state(pred, state, path)


def run_limited(code: str, extra_mib: int) -> subprocess.CompletedProcess:
    """Run ``code`` in a subprocess whose address space may grow by only
    ``extra_mib`` MiB after the imports (a MemoryError past it)."""
    prelude = textwrap.dedent(
        f"""
        import resource, sys, warnings
        import numpy, scipy.sparse, sklearn, pandas
        import sklearn_deeplight
        from sklearn_deeplight._persistence import load
        import sklearn_deeplight._sparse, sklearn_deeplight._encoder
        warnings.simplefilter("ignore")
        with open("/proc/self/status") as f:
            vm = [int(l.split()[1]) * 1024 for l in f if l.startswith("VmSize:")][0]
        limit = vm + {extra_mib} * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        """
    )
    return subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )


needs_rlimit = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="RLIMIT_AS and /proc are Linux's"
)


# ----------------------------------------------------------------------
# Item 1: memory ceiling, zip signature first
# ----------------------------------------------------------------------
def test_huge_declared_layout_is_refused_before_allocating(tmp_path):
    path = huge_layout_file(tmp_path / "huge.skdl")
    assert path.stat().st_size < 1 << 20  # under 1 MiB, asks for gigabytes
    with pytest.raises(ValueError, match=r"memory ceiling.*max_memory") as info:
        load(path)
    assert str(path) in str(info.value)
    assert "table rows" in str(info.value)


@needs_rlimit
def test_huge_declared_layout_stays_within_memory(tmp_path):
    """Refused within 200 MiB of extra address space (it used to ask ~3 GiB)."""
    path = huge_layout_file(tmp_path / "huge.skdl")
    result = run_limited(
        f"""
        try:
            load({str(path)!r})
        except ValueError as exc:
            print("refused:", exc)
        """,
        extra_mib=200,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "refused:" in result.stdout and "memory ceiling" in result.stdout


def test_the_ceiling_is_overridable(tmp_path, monkeypatch):
    path = huge_layout_file(tmp_path / "big.skdl", n_rows=2**20)  # ~14 MiB
    assert load(path).field_dims_.tolist() == [2**20 - 1]
    with pytest.raises(ValueError, match=r"ceiling of 8\.0 MiB \(max_memory="):
        load(path, max_memory=8 << 20)
    assert load(path, max_memory=1 << 30).field_dims_.tolist() == [2**20 - 1]
    monkeypatch.setenv("DEEPLIGHT_LOAD_MAX_MEMORY", "8M")
    with pytest.raises(ValueError, match="DEEPLIGHT_LOAD_MAX_MEMORY=8M"):
        load(path)
    assert load(path, max_memory=float("inf")).n_features_in_ == 1
    monkeypatch.setenv("DEEPLIGHT_LOAD_MAX_MEMORY", "lots")
    with pytest.raises(ValueError, match="DEEPLIGHT_LOAD_MAX_MEMORY"):
        load(path)


@pytest.mark.parametrize(
    "value, error, match",
    [
        (0, ValueError, "max_memory must be a positive"),
        (float("nan"), ValueError, "max_memory must be a positive"),
        ("1G", TypeError, "max_memory must be a number"),
        (True, TypeError, "max_memory must be a number"),
    ],
)
def test_max_memory_is_checked(tmp_path, value, error, match):
    path = tmp_path / "m.skdl"
    save(_lr_predictor(), path)
    with pytest.raises(error, match=match):
        load(path, max_memory=value)


def test_default_ceiling_is_documented():
    assert LOAD_MEMORY_FLOOR == 128 << 20 and LOAD_MEMORY_PER_FILE_BYTE == 16
    from sklearn_deeplight import _persistence

    assert "DEEPLIGHT_LOAD_MAX_MEMORY" in _persistence.__doc__
    assert "max_memory" in (load.__doc__ or "")


def test_a_small_ceiling_refuses_even_a_valid_file(tmp_path):
    path = tmp_path / "m.skdl"
    save(_lr_predictor(), path)
    with pytest.raises(ValueError, match="memory ceiling"):
        load(path, max_memory=100)
    assert load(path).n_features_in_ == 1


def test_store_shape_must_follow_the_declared_layout(tmp_path):
    pred = _lr_predictor()
    state = pred.__getstate__()
    store = dict(state["_compact_linear"])
    store["shape"] = (store["shape"][0] + 8,)
    state["_compact_linear"] = store
    path = save_state(pred, state, tmp_path / "m.skdl")
    with pytest.raises(ValueError, match=r"_compact_linear\.shape must be"):
        load(path)


@needs_rlimit
def test_a_large_log_is_refused_without_being_read(tmp_path):
    """A 2 GiB file without the zip signature (a log passed by mistake) is
    "not a model file" within 64 MiB: only its first bytes are read."""
    log = tmp_path / "train.txt"
    with open(log, "wb") as f:
        f.write(b"1\t3\t\t0badc0de\n")
        f.truncate(2 << 30)  # sparse: no disk used
    result = run_limited(
        f"""
        try:
            load({str(log)!r})
        except ValueError as exc:
            print("refused:", exc)
        """,
        extra_mib=64,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "not a sklearn_deeplight model file" in result.stdout


# ----------------------------------------------------------------------
# Item 9: complete state
# ----------------------------------------------------------------------
def _fwfm_predictor():
    from sklearn_deeplight import FwFMClassifier

    rng = np.random.RandomState(0)
    X = pd.DataFrame(rng.randint(0, 4, size=(40, 3)), columns=["a", "b", "c"])
    est = FwFMClassifier(
        embedding_dim=2, max_epochs=1, random_state=0, validation_fraction=None
    )
    return est.fit(X, np.arange(40) % 2).to_sparse(engine="scipy")


def _encoder():
    from sklearn_deeplight import FieldEncoder

    raw = pd.DataFrame({"site": ["a", "b", "a", "c"], "n": [1.0, 2.0, None, 4.0]})
    return FieldEncoder(numeric_transform="log1p").fit(raw)


def _changed(state: dict, **changes) -> dict:
    state = dict(state)
    for key, value in changes.items():
        if value is _DELETE:
            del state[key]
        else:
            state[key] = value
    return state


_DELETE = object()

PREDICTOR_STATES = [
    ("a method shadowed", {"predict_proba": 0}, r"hide the SparseCTRPredictor"),
    ("a property shadowed", {"embedding_": 0}, r"hide the SparseCTRPredictor"),
    ("an extra attribute", {"extra_": 1}, r"unexpected attributes \['extra_'\]"),
    (
        "a missing attribute",
        {"nbytes_": _DELETE},
        r"lacks the attributes \['nbytes_'\]",
    ),
    ("no classes_", {"classes_": _DELETE}, r"unexpected attributes"),
    ("value_dtype_ float64", {"value_dtype_": "float64"}, r"value_dtype_ must be"),
    ("value_dtype_ float16", {"value_dtype_": "float16"}, r"values must be float16"),
    ("engine bogus", {"engine": "bogus"}, r"engine must be one of"),
    ("threshold a string", {"threshold": "high"}, r"threshold must be a finite"),
    ("threshold NaN", {"threshold": float("nan")}, r"threshold must be a finite"),
    ("n_jobs 0", {"n_jobs": 0}, r"n_jobs must be None, -1"),
    ("n_jobs a float", {"n_jobs": 2.0}, r"n_jobs must be None, -1"),
    ("three classes", {"classes_": np.array([0, 1, 2])}, r"classes_ must be"),
    ("equal classes", {"classes_": np.array([1, 1])}, r"two distinct labels"),
    ("n_features_in_ 0", {"n_features_in_": 0}, r"n_features_in_ must be"),
    ("n_features_in_ bool", {"n_features_in_": True}, r"n_features_in_ must be"),
    (
        "feature names of another length",
        {"feature_names_in_": np.array(["a", "b"], dtype=object)},
        r"feature_names_in_ must be an array of 3",
    ),
    (
        "feature names not str",
        {"feature_names_in_": np.array([1, 2, 3], dtype=object)},
        r"feature_names_in_ must be",
    ),
    ("n_params_ a list", {"n_params_": [1]}, r"n_params_ must map"),
    ("n_params_ negative", {"n_params_": {"dnn": -1}}, r"n_params_ must map"),
    ("n_params_ unknown", {"n_params_": {"evil": 1}}, r"n_params_ must map"),
    ("nbytes_ negative", {"nbytes_": -1}, r"nbytes_ must be"),
    (
        "field_dims_ int32",
        {"field_dims_": np.array([4, 4, 4], dtype=np.int32)},
        r"field_dims_ must be an int64",
    ),
    (
        "field_dims_ wrapping int64",
        {
            "field_dims_": np.array([2**62, 2**62, 2**62], dtype=np.int64),
            "offsets_": np.array([0, 2**62 + 1, -(2**63) + 2], dtype=np.int64),
        },
        r"table rows, above",
    ),
    ("unknown linear term", {"linear_term_": "quadratic"}, r"linear_term_"),
    (
        "float64 pair weights",
        {"pair_weights_": np.zeros(3, np.float64)},
        r"float32",
    ),
    (
        "a DNN output without a DNN",
        {"dnn_out_": np.zeros(2, np.float32)},
        r"DNN layers without input",
    ),
    (
        "DNN biases without a DNN",
        {"dnn_biases_": [np.zeros(2, np.float32)]},
        r"dnn_biases_ must be \[\]: the model has no mlp",
    ),
    (
        "CIN biases without a CIN",
        {"cin_biases_": []},
        r"cin_biases_ must be None: the model has no cin",
    ),
    ("a sklearn version not str", {"_sklearn_version": 1}, r"_sklearn_version"),
]


@pytest.mark.parametrize(
    "changes, match",
    [pytest.param(c, m, id=name) for name, c, m in PREDICTOR_STATES],
)
def test_predictor_state_is_checked_whole(tmp_path, changes, match):
    pred = _fwfm_predictor()
    state = _changed(pred.__getstate__(), **changes)
    path = save_state(pred, state, tmp_path / "m.skdl")
    with pytest.raises(ValueError, match=match):
        load(path)


def test_unfitted_predictor_state_is_checked(tmp_path):
    from sklearn_deeplight import SparseCTRPredictor

    pred = SparseCTRPredictor(engine="scipy")
    path = tmp_path / "u.skdl"
    save(pred, path)
    assert load(path).get_params() == pred.get_params()
    for changes, match in [
        ({"threshold": "high"}, r"threshold must be a finite"),
        ({"predict": 1}, r"hide the SparseCTRPredictor"),
        ({"field_dims_": np.array([3])}, r"unexpected attributes \['field_dims_'\]"),
    ]:
        state = _changed(pred.__getstate__(), **changes)
        with pytest.raises(ValueError, match=match):
            load(save_state(pred, state, path))


def test_valid_states_still_load(tmp_path):
    """The strict checks accept what save writes: float16 values, feature
    names, every linear term."""
    from sklearn_deeplight import DeepFwFMClassifier

    X = pd.DataFrame(
        np.random.RandomState(1).randint(0, 5, (60, 3)), columns=list("xyz")
    )
    y = np.arange(60) % 2
    for linear in ("scalar", "feature_vector", "field_vector"):
        est = DeepFwFMClassifier(
            embedding_dim=2,
            hidden_units=(3,),
            linear_term=linear,
            max_epochs=1,
            random_state=0,
            validation_fraction=None,
        ).fit(X, y)
        for dtype in ("float32", "float16"):
            pred = est.to_sparse(engine="scipy", dtype=dtype)
            save(pred, tmp_path / "ok.skdl")
            loaded = load(tmp_path / "ok.skdl")
            np.testing.assert_array_equal(
                loaded.predict_proba(X), pred.predict_proba(X)
            )


ENCODER_STATES = [
    ("numeric_transform evil", {"numeric_transform": "evil"}, r"numeric_transform"),
    ("numeric_transform an int", {"numeric_transform": 3}, r"numeric_transform"),
    ("a method shadowed", {"transform": 0}, r"hide the FieldEncoder"),
    ("an extra attribute", {"extra_": 0}, r"unexpected attributes \['extra_'\]"),
    (
        "a missing attribute",
        {"_lookup": _DELETE},
        r"lacks the attributes \['_lookup'\]",
    ),
    ("handle_missing bogus", {"handle_missing": "drop"}, r"handle_missing"),
    ("min_frequency 0", {"min_frequency": 0}, r"min_frequency"),
    ("numeric_fields a number", {"numeric_fields": 3}, r"numeric_fields must be"),
    ("missing_values a str", {"missing_values": "NA"}, r"missing_values must be"),
    ("n_samples_seen_ negative", {"n_samples_seen_": -1}, r"n_samples_seen_"),
    (
        "field_dims_ int32",
        {"field_dims_": np.array([4, 1], dtype=np.int32)},
        r"field_dims_ must be a 1-D int64",
    ),
    (
        "numeric_fields_ out of range",
        {"numeric_fields_": np.array([5])},
        r"numeric_fields_ must be increasing positions",
    ),
    ("oov code off", {"oov_codes_": np.array([1, -1])}, r"out-of-vocabulary code 3"),
    ("_vocab not a list", {"_vocab": "ab"}, r"_vocab must have 2 items"),
    ("_vocab[0] a list", {"_vocab": [["a", "b", "c"], None]}, r"_vocab\[0\] must be"),
    (
        "_vocab[0] other values",
        {"_vocab": [pd.Index(["a", "b", "z"]), None]},
        r"_vocab\[0\] must hold the distinct values",
    ),
    (
        "_vocab[0] repeated values",
        {"_vocab": [pd.Index(["a", "a", "b"]), None]},
        r"_vocab\[0\] must hold the distinct values",
    ),
    (
        "_lookup[0] short",
        {"_lookup": [np.array([0, 1], dtype=np.int64), None]},
        r"_lookup\[0\] must have 4 entries",
    ),
    (
        "_lookup[0] beyond field_dims_",
        {"_lookup": [np.array([0, 1, 9, 3], dtype=np.int64), None]},
        r"codes of field 0 must be below",
    ),
    (
        "a numeric field with a vocabulary",
        {"_vocab": [pd.Index(["a", "b", "c"]), pd.Index([1.0])]},
        r"numeric field 1 has no vocabulary",
    ),
    (
        "categories_ of another length",
        {"categories_": [np.array(["a"], dtype=object), None]},
        r"categories_\[0\]",
    ),
]


@pytest.mark.parametrize(
    "changes, match",
    [pytest.param(c, m, id=name) for name, c, m in ENCODER_STATES],
)
def test_encoder_state_is_checked_whole(tmp_path, changes, match):
    enc = _encoder()
    state = _changed(enc.__getstate__(), **changes)
    path = save_state(enc, state, tmp_path / "e.skdl")
    with pytest.raises(ValueError, match=match):
        load(path)


def test_valid_encoders_still_load(tmp_path):
    from sklearn_deeplight import FieldEncoder, criteo_numeric_transform

    raw = pd.DataFrame({"site": ["a", "b", None, "a"], "n": [1.0, 2.0, None, 4.0]})
    for params in (
        {},
        {"numeric_transform": criteo_numeric_transform, "handle_missing": "oov"},
        {"numeric_transform": "criteo", "min_frequency": 2, "numeric_fields": None},
        {"numeric_fields": ["n"], "missing_values": ("", "-")},
    ):
        enc = FieldEncoder(**params).fit(raw)
        save(enc, tmp_path / "e.skdl")
        loaded = load(tmp_path / "e.skdl")
        pd.testing.assert_frame_equal(loaded.transform(raw), enc.transform(raw))
    save(FieldEncoder(), tmp_path / "u.skdl")
    assert load(tmp_path / "u.skdl").get_params() == FieldEncoder().get_params()


def test_pipeline_and_frozen_states_are_checked(tmp_path):
    from sklearn.frozen import FrozenEstimator
    from sklearn.pipeline import make_pipeline

    pipe = make_pipeline(_encoder())
    state = _changed(pipe.__getstate__(), predict_proba=0)
    with pytest.raises(ValueError, match=r"hide the Pipeline"):
        load(save_state(pipe, state, tmp_path / "p.skdl"))
    frozen = FrozenEstimator(_fwfm_predictor())
    state = _changed(frozen.__getstate__(), estimator=[1, 2])
    with pytest.raises(ValueError, match=r"FrozenEstimator must wrap"):
        load(save_state(frozen, state, tmp_path / "f.skdl"))
    save(frozen, tmp_path / "f.skdl")
    assert type(load(tmp_path / "f.skdl")) is FrozenEstimator


@pytest.mark.parametrize(
    "values, dtype, plain",
    [
        (["a", "b", "c"], object, True),
        ([1, 2, 3], np.int64, True),
        (["a", "b", 1j], object, False),  # not plain (nor saved: checked alone)
        (["a", "b", b"c"], object, False),
        (["a", "b", pd.NA], pd.StringDtype("python", na_value=pd.NA), False),
        (["a", "b", None], pd.StringDtype("python", na_value=np.nan), True),
    ],
)
def test_vocabulary_values_must_be_plain(tmp_path, values, dtype, plain):
    """The vocabulary's values are checked by type without iterating an
    Index whose dtype decides (a string dtype: its missing value)."""
    from sklearn_deeplight._persist_checks import _plain_values

    vocab = pd.Index(values, dtype=dtype)
    assert _plain_values(vocab) is plain
    if any(type(v) is complex for v in values):
        return
    enc = _encoder()
    state = enc.__getstate__()
    vocabs, counts = list(state["_vocab"]), list(state["_counts"])
    vocabs[0] = vocab
    counts[0] = pd.Series([2, 1, 1], index=vocab, dtype=np.int64)
    path = save_state(
        enc, _changed(state, _vocab=vocabs, _counts=counts), tmp_path / "e.skdl"
    )
    if plain:
        assert load(path)._vocab[0].equals(vocab)
    else:
        with pytest.raises(ValueError, match=r"_vocab\[0\] must hold the distinct"):
            load(path)


def test_object_arrays_are_decoded_within_the_depth_limit():
    """An object array of plain values is decoded whole, and refused where
    its items would lie past the nesting limit, as item by item."""
    from sklearn_deeplight._persist_tree import _MAX_DEPTH, _DamagedFile, _Decoder

    node = {"$": "objarray", "shape": [3], "items": ["a", None, 2.5]}
    decoder = _Decoder({})
    out = decoder.decode(node, "root", _MAX_DEPTH - 1)
    assert out.dtype == object and out.tolist() == ["a", None, 2.5]
    for items in (["a", None, 2.5], [{"$": "float", "value": "nan"}]):
        with pytest.raises(_DamagedFile, match=r"root\[0\] is nested more than"):
            decoder.decode(
                dict(node, items=items, shape=[len(items)]), "root", _MAX_DEPTH
            )
    empty = decoder.decode(
        {"$": "objarray", "shape": [0], "items": []}, "root", _MAX_DEPTH
    )
    assert empty.shape == (0,)
