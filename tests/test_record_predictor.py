"""RecordPredictor: the serving pipeline's answers on JSON records, loaded and
scored in a process without scikit-learn, pandas or torch (issue 13)."""

from __future__ import annotations

import io
import math
import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import make_pipeline

from sklearn_deeplight import (
    DeepFMClassifier,
    FieldEncoder,
    FwFMClassifier,
    LRClassifier,
    RecordPredictor,
    ServingPipeline,
    XDeepFMClassifier,
    load,
    save,
)
from sklearn_deeplight.datasets import make_ctr_classification

REPO = Path(__file__).resolve().parents[1]


def _raw(n: int = 400, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    X, y = make_ctr_classification(
        n,
        n_numeric=3,
        n_categorical=4,
        n_interactions=3,
        missing_rate=0.15,
        random_state=seed,
    )
    X = X.astype({c: "str" for c in X.columns if c.startswith("C")})
    X["C4"] = (np.arange(n) * 7919 % 23).astype(np.int64)  # an int field
    return X, y


def _pipeline(clf, **encoder) -> object:
    X, y = _raw()
    return make_pipeline(FieldEncoder(**encoder), clf).fit(X, y)


@pytest.fixture(scope="module")
def model():
    return _pipeline(
        FwFMClassifier(embedding_dim=4, max_epochs=1, random_state=0),
        numeric_transform="criteo",
        missing_values=("", "NA"),
    )


@pytest.fixture(scope="module")
def predictor(model):
    return RecordPredictor.from_pipeline(model)


@pytest.fixture(scope="module")
def plain():
    """Numeric values as they are (no transform): they can overflow."""
    model = _pipeline(
        FwFMClassifier(embedding_dim=4, max_epochs=1, random_state=0),
        missing_values=("", "NA"),
    )
    return RecordPredictor.from_pipeline(model)


def _records(n: int, seed: int) -> list[dict]:
    """Records as JSON would give them: unseen strings, missing values of
    every spelling, ints, int strings and floats in numeric fields."""
    X, _ = _raw(n, seed=seed)
    records = X.to_dict("records")
    rng = np.random.default_rng(seed)
    spellings = [None, math.nan, "", "NA"]
    for rec in records:
        k = int(rng.integers(8))
        if k == 0:
            rec["C1"] = f"unseen-{rng.integers(1000)}"
        elif k == 1:
            rec["C2"] = spellings[int(rng.integers(4))]
        elif k == 2:
            rec["I1"] = spellings[int(rng.integers(4))]
        elif k == 3:
            rec["I2"] = str(int(rng.integers(-50, 5000)))
        elif k == 4:
            rec["I3"] = int(rng.integers(-5, 10**6))
        elif k == 5:
            rec["C4"] = int(rng.integers(-3, 40))
        elif k == 6:
            rec["C3"] = 3.5  # a float in a string field: out of vocabulary
    return records


@pytest.mark.parametrize("n", [1, 3, 8, 41, 300])
def test_same_answers_as_the_serving_pipeline(model, predictor, n):
    server = ServingPipeline.from_pipeline(model)
    records = _records(n, seed=n)
    expected = server.predict_proba(records)
    got = predictor.predict_proba(records)
    assert got.dtype == np.float64 and got.shape == (n, 2)
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(predictor.predict(records), server.predict(records))
    if n == 1:
        np.testing.assert_array_equal(predictor.predict_proba(records[0]), expected)


@pytest.mark.parametrize(
    "clf",
    [
        LRClassifier(max_epochs=1, random_state=0),
        DeepFMClassifier(
            embedding_dim=4, hidden_units=(8,), max_epochs=1, random_state=0
        ),
        XDeepFMClassifier(
            embedding_dim=3,
            hidden_units=(6,),
            cin_layer_sizes=(4,),
            max_epochs=1,
            random_state=0,
        ),
    ],
    ids=["LR", "DeepFM", "xDeepFM"],
)
@pytest.mark.parametrize("transform", [None, "identity", "log1p"])
def test_models_and_numeric_transforms(clf, transform):
    model = _pipeline(clf, numeric_transform=transform, missing_values=("", "NA"))
    server = ServingPipeline.from_pipeline(model)
    predictor = RecordPredictor.from_pipeline(server)
    for n in (1, 9, 33):
        records = _records(n, seed=100 + n)
        np.testing.assert_array_equal(
            predictor.predict_proba(records), server.predict_proba(records)
        )


def test_attributes(model, predictor):
    assert list(predictor.feature_names_in_) == list(model[0].feature_names_in_)
    assert predictor.n_features_in_ == 7
    np.testing.assert_array_equal(predictor.classes_, model.classes_)
    assert predictor.threshold == 0.5
    assert "7 columns" in repr(predictor)


@pytest.mark.parametrize(
    "change, error, match",
    [
        (
            {"C1": [1]},
            ValueError,
            r"Record 0: field 'C1' takes str.*got \[1\] \(list\)",
        ),
        (
            {"C4": 2.5},
            ValueError,
            r"field 'C4' takes str, int or missing.*2.5 \(float\)",
        ),
        (
            {"I1": "1.5"},
            ValueError,
            r"Record 0: numeric field 'I1' takes a float.*'1.5'",
        ),
        ({"I1": math.inf}, ValueError, r"numeric field 'I1' takes a finite value"),
        (
            {"I1": 1e300},
            ValueError,
            r"numeric field 'I1' holds 1e\+300, beyond float32",
        ),
        ({"I1": 2**60}, ValueError, r"numeric field 'I1'.*2\*\*53"),
        ({"zz": 1}, ValueError, r"Record 0 holds columns not seen in fit \['zz'\]"),
    ],
)
def test_bad_values_name_the_record_and_field(plain, change, error, match):
    record = {**_records(1, seed=7)[0], **change}
    with pytest.raises(error, match=match):
        plain.predict_proba(record)


def test_overflowing_values_and_shapes_are_refused(plain):
    predictor = plain
    good = _records(2, seed=9)
    record = {**good[0], "I2": 1e30, "I1": 1e30, "I3": 1e30}
    with pytest.raises(ValueError, match="overflows on 1 row.*row 1"):
        predictor.predict_proba([good[1], record])
    missing = {k: v for k, v in good[0].items() if k != "C2"}
    with pytest.raises(ValueError, match=r"Record 1 lacks the columns \['C2'\]"):
        predictor.predict_proba([good[0], missing])
    with pytest.raises(ValueError, match="empty list"):
        predictor.predict_proba([])
    for X in (pd.DataFrame(good), np.zeros((1, 7)), "C1", [good[0], 3]):
        with pytest.raises(TypeError, match="a dict .* or a list of dicts"):
            predictor.predict_proba(X)


def test_mappings_other_than_dicts(predictor, model):
    """A defaultdict lacking a column is refused (and not filled in); other
    mappings are read like dicts."""
    from collections import OrderedDict, defaultdict
    from types import MappingProxyType

    record = _records(1, seed=14)[0]
    expected = ServingPipeline.from_pipeline(model).predict_proba(record)
    for wrapped in (OrderedDict(record), MappingProxyType(record)):
        np.testing.assert_array_equal(predictor.predict_proba(wrapped), expected)
    partial = defaultdict(lambda: "x", {k: v for k, v in record.items() if k != "C1"})
    partial["zz"] = 1  # as many keys as columns
    with pytest.raises(ValueError, match=r"lacks the columns \['C1'\]"):
        predictor.predict_proba(partial)
    assert "C1" not in partial


def test_the_scipy_engine_is_refused(model):
    server = ServingPipeline.from_pipeline(model, engine="scipy")
    with pytest.raises(ValueError, match="engine must be 'auto' or 'numba'"):
        RecordPredictor.from_pipeline(server)


def test_a_state_of_strided_arrays_scores_the_same(predictor):
    """The compiled kernels read contiguous arrays: a state whose arrays are
    views with strides (as joblib could give) is made contiguous."""
    state = predictor.__getstate__()

    def strided(a):
        if type(a) is not np.ndarray or a.ndim != 1:
            return a
        out = np.empty(2 * a.shape[0], dtype=a.dtype)[::2]
        out[:] = a
        return out

    pred = {k: strided(v) for k, v in state["predictor"].items()}
    enc = {k: strided(v) for k, v in state["encoder"].items()}
    assert not pred["offsets_"].flags.c_contiguous
    obj = RecordPredictor.__new__(RecordPredictor)
    obj.__setstate__({**state, "predictor": pred, "encoder": enc})
    assert obj._pred.offsets_.flags.c_contiguous
    records = _records(20, seed=15)
    np.testing.assert_array_equal(
        obj.predict_proba(records), predictor.predict_proba(records)
    )


def test_input_records_are_not_modified(predictor):
    records = _records(20, seed=11)
    copies = [dict(r) for r in records]
    predictor.predict_proba(records)
    assert records == copies or all(
        all(a[k] == b[k] or (a[k] != a[k] and b[k] != b[k]) for k in a)
        for a, b in zip(records, copies, strict=True)
    )


def test_from_pipeline_refuses_what_it_cannot_serve(model):
    X, y = _raw()
    clf = LRClassifier(max_epochs=1, random_state=0)
    unnamed = make_pipeline(FieldEncoder(), clf).fit(X.to_numpy(dtype=object), y)
    with pytest.raises(ValueError, match="fitted on a DataFrame"):
        RecordPredictor.from_pipeline(unnamed)
    custom = make_pipeline(FieldEncoder(numeric_transform=np.tanh), clf).fit(X, y)
    with pytest.raises(ValueError, match="numeric_transform is <ufunc 'tanh'>"):
        RecordPredictor.from_pipeline(custom)
    with pytest.raises(ValueError, match="no conversion parameters"):
        RecordPredictor.from_pipeline(ServingPipeline.from_pipeline(model), n_jobs=2)
    with pytest.raises(TypeError, match="from_pipeline takes a fitted Pipeline"):
        RecordPredictor.from_pipeline(model[-1])
    with pytest.raises(TypeError, match="RecordPredictor.from_pipeline"):
        RecordPredictor()


def test_save_load_and_joblib(predictor, tmp_path):
    records = _records(30, seed=12)
    expected = predictor.predict_proba(records)
    save(predictor, tmp_path / "rp.skdl")
    loaded = load(tmp_path / "rp.skdl")
    assert type(loaded) is RecordPredictor
    np.testing.assert_array_equal(loaded.predict_proba(records), expected)
    buf = io.BytesIO()
    joblib.dump(predictor, buf)
    buf.seek(0)
    np.testing.assert_array_equal(joblib.load(buf).predict_proba(records), expected)


def _altered(predictor, tmp_path, where: str, key: str, value) -> Path:
    state = predictor.__getstate__()
    altered = {**state, where: {**state[where], key: value}}
    obj = RecordPredictor.__new__(RecordPredictor)
    obj.__setstate__(state)
    obj.__getstate__ = lambda: altered  # an instance attribute: save calls it
    save(obj, tmp_path / "altered.skdl")
    return tmp_path / "altered.skdl"


def test_load_refuses_altered_states(predictor, tmp_path):
    enc = predictor.__getstate__()["encoder"]
    n_keys = enc["s_codes"].shape[0]
    assert n_keys > 10
    cases = [
        ("s_codes", np.full(n_keys, 10**6, dtype=np.int64), "codes below their dims"),
        ("s_off", enc["s_off"][::-1].copy(), "s_off must be increasing"),
        ("s_fields", np.zeros(n_keys, dtype=np.int64), "fields must be categorical"),
        ("s_data", enc["s_data"][:-1].copy(), "s_off must be increasing"),
        ("oov_codes", enc["oov_codes"] + 1, "oov_codes must be codes"),
        ("numeric_transform", "cube", "numeric_transform must be one of"),
        ("names", ["a"] * 7, "7 distinct column names"),
        ("n_missing_keys", n_keys + 1, "n_missing_keys in range"),
        ("str_ok", enc["str_ok"].astype(np.int64), "str_ok must be a 1-D bool"),
    ]
    for key, value, match in cases:
        path = _altered(predictor, tmp_path, "encoder", key, value)
        with pytest.raises(ValueError, match=match):
            load(path)
    pred = predictor.__getstate__()["predictor"]
    path = _altered(
        predictor, tmp_path, "predictor", "offsets_", pred["offsets_"] + 10**9
    )
    with pytest.raises(ValueError, match="offsets"):
        load(path)


_FRESH = """
import sys

class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("sklearn", "pandas", "pyarrow", "torch", "skorch"):
            raise ImportError(f"No module named {name!r} (blocked)")

sys.meta_path.insert(0, Block())
import json
import numpy as np
import sklearn_deeplight
predictor = sklearn_deeplight.load(sys.argv[1])
assert type(predictor).__name__ == "RecordPredictor"
records = json.load(open(sys.argv[2]))
np.testing.assert_array_equal(predictor.predict_proba(records), np.load(sys.argv[3]))
np.testing.assert_array_equal(
    predictor.predict_proba(records[0]), np.load(sys.argv[3])[:1]
)
print("ok")
"""


def test_a_fresh_process_loads_and_scores_without_sklearn_pandas_torch(
    predictor, tmp_path
):
    import json

    records = [
        {k: (None if v != v else v) for k, v in r.items()}  # JSON has no NaN
        for r in _records(12, seed=13)
    ]
    save(predictor, tmp_path / "rp.skdl")
    (tmp_path / "records.json").write_text(json.dumps(records))
    np.save(tmp_path / "ref.npy", predictor.predict_proba(records))
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            _FRESH,
            *(str(tmp_path / f) for f in ("rp.skdl", "records.json", "ref.npy")),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=180,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "ok"


@pytest.mark.realdata
@pytest.mark.parametrize(
    "name, transform",
    [("criteo/train_head9999.txt", "criteo"), ("avazu/train_head8999.csv", None)],
)
def test_real_rows(name, transform):
    """Real Criteo and Avazu rows (Avazu's integer fields included): the
    serving pipeline's bits on every held-out record."""
    from sklearn_deeplight.datasets import load_avazu, load_criteo

    from .conftest import SHARED_DATA

    path = SHARED_DATA / name
    if not path.is_file():
        pytest.skip(f"real data file {path} is absent (../shared/data not present)")
    X, y = (load_criteo if name.startswith("criteo") else load_avazu)(path)
    X = X.drop(columns=[c for c in ("id", "hour") if c in X.columns])
    model = make_pipeline(
        FieldEncoder(min_frequency=2, numeric_transform=transform),
        FwFMClassifier(embedding_dim=4, max_epochs=1, random_state=0),
    ).fit(X.iloc[:6000], y[:6000])
    server = ServingPipeline.from_pipeline(model)
    predictor = RecordPredictor.from_pipeline(server)
    records = X.iloc[6000:].to_dict("records")
    np.testing.assert_array_equal(
        predictor.predict_proba(records), server.predict_proba(records)
    )
    for record in records[:20]:
        np.testing.assert_array_equal(
            predictor.predict_proba(record), server.predict_proba(record)
        )
