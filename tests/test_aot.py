"""Kernels compiled ahead of time: a RecordPredictor scoring without numba.

``compile_kernels`` builds the extension module (numba.pycc, a C compiler)
once per test session, in a temporary folder; a fresh process that finds it
through ``DEEPLIGHT_KERNEL_DIR`` loads and scores a saved RecordPredictor with
numba, llvmlite, scikit-learn, pandas and torch blocked, to the bit of the
numba kernels' answers.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy as np
import pytest
from sklearn.pipeline import make_pipeline

from sklearn_deeplight import (
    DCNv2Classifier,
    DeepFMClassifier,
    DeepFwFMClassifier,
    FieldEncoder,
    LRClassifier,
    RecordPredictor,
    ServingPipeline,
    XDeepFMClassifier,
    _aot,
    compile_kernels,
    kernel_dir,
    save,
)
from sklearn_deeplight.cli import main
from sklearn_deeplight.datasets import make_ctr_classification

REPO = Path(__file__).resolve().parents[1]


def _can_build() -> bool:
    """numba.pycc, setuptools (the aot extra, in the test extra) and the C
    compiler Python was built with (setuptools' default): CI has them all."""
    cc = (sysconfig.get_config_var("CC") or "cc").split()[0]
    return bool(
        shutil.which(cc)
        and importlib.util.find_spec("numba.pycc")
        and importlib.util.find_spec("setuptools")
    )


pytestmark = pytest.mark.skipif(not _can_build(), reason="needs numba.pycc and cc")


def _data(n: int, seed: int):
    X, y = make_ctr_classification(
        n,
        n_numeric=3,
        n_categorical=5,
        n_interactions=4,
        missing_rate=0.1,
        random_state=seed,
    )
    return X.astype({c: "str" for c in X.columns if c.startswith("C")}), y


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The folder of the compiled module, and the module's path."""
    folder = tmp_path_factory.mktemp("kernels")
    return folder, compile_kernels(folder)


@pytest.fixture(scope="module")
def model():
    X, y = _data(500, 0)
    return make_pipeline(
        FieldEncoder(),
        DeepFwFMClassifier(
            embedding_dim=4, hidden_units=(8, 8), max_epochs=1, random_state=0
        ),
    ).fit(X, y)


@pytest.fixture
def no_compiled(monkeypatch, tmp_path):
    """A process state in which no compiled module is found (numba's)."""
    monkeypatch.setenv(_aot.KERNEL_DIR_ENV, str(tmp_path / "none"))
    monkeypatch.setattr(_aot, "_loaded", {})


def _records(n: int, seed: int) -> list[dict]:
    X, _ = _data(n, seed)
    return [
        {k: (None if v != v else v) for k, v in r.items()} for r in X.to_dict("records")
    ]


_FRESH = """
import json, sys

class Block:
    def find_spec(self, name, path=None, target=None):
        blocked = ("numba", "llvmlite", "sklearn", "pandas", "pyarrow", "torch")
        if name.split(".")[0] in blocked:
            raise ImportError(f"No module named {name!r} (blocked)")

sys.meta_path.insert(0, Block())
import numpy as np
import sklearn_deeplight
predictor = sklearn_deeplight.load(sys.argv[1])
assert predictor.compiled_, "the compiled kernels were not used"
batches = json.load(open(sys.argv[2]))
for records, ref in zip(batches, np.load(sys.argv[3], allow_pickle=False)):
    got = predictor.predict_proba(records)
    np.testing.assert_array_equal(got, ref[: len(records)])
try:
    predictor.predict_proba({**batches[0][0], "I1": 1e30, "I2": 1e30, "I3": 1e30})
except ValueError as exc:
    assert "overflows" in str(exc), exc
else:
    raise AssertionError("an overflowing record was scored")
print("ok")
"""


def test_a_process_without_numba_scores_with_the_compiled_kernels(
    built, model, tmp_path, no_compiled
):
    folder, _ = built
    predictor = RecordPredictor.from_pipeline(model)
    assert not predictor.compiled_  # the numba kernels give the reference
    sizes = (1, 5, 8, 40, 700)
    batches = [_records(n, seed=n) for n in sizes]
    ref = np.zeros((len(sizes), max(sizes), 2))
    for i, records in enumerate(batches):
        ref[i, : len(records)] = predictor.predict_proba(records)
        server = ServingPipeline.from_pipeline(model)
        np.testing.assert_array_equal(
            ref[i, : len(records)], server.predict_proba(records)
        )
    save(predictor, tmp_path / "rp.skdl")
    (tmp_path / "batches.json").write_text(json.dumps(batches))
    np.save(tmp_path / "ref.npy", ref)
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            _FRESH,
            *(str(tmp_path / f) for f in ("rp.skdl", "batches.json", "ref.npy")),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
        env={**os.environ, _aot.KERNEL_DIR_ENV: str(folder)},
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip() == "ok"


def test_the_module_is_named_by_the_configuration_and_kept(built, monkeypatch):
    folder, path = built
    assert path.parent == folder
    assert path.name.startswith(f"_deeplight_kernels_{_aot.kernel_tag()}.")
    stamp = path.stat().st_mtime_ns

    def no_build(*args, **kwargs):
        raise AssertionError("a second build")

    monkeypatch.setattr(_aot.subprocess, "run", no_build)
    assert compile_kernels(folder) == path  # kept: no second build
    assert path.stat().st_mtime_ns == stamp
    monkeypatch.setenv("NUMBA_OPT", "1")  # another configuration: another name
    assert _aot.kernel_tag() not in path.name


@pytest.mark.parametrize(
    "clf",
    [
        LRClassifier(max_epochs=1, random_state=0),
        DeepFMClassifier(
            embedding_dim=4, hidden_units=(16, 16), max_epochs=1, random_state=0
        ),
        XDeepFMClassifier(
            embedding_dim=3,
            hidden_units=(8,),
            cin_layer_sizes=(6, 4),
            max_epochs=1,
            random_state=0,
        ),
        DCNv2Classifier(
            embedding_dim=4,
            hidden_units=(8,),
            n_cross_layers=2,
            max_epochs=1,
            random_state=0,
        ),
    ],
    ids=["LR", "DeepFM", "xDeepFM", "DCNv2"],
)
def test_every_kind_of_model_on_the_compiled_kernels(built, clf, monkeypatch):
    """Every block (dense layers by sgemm, a CIN, a cross network), on the
    per-sample and tiled kernels and on the general path (an overflowing
    record makes it index and forward the rows), to the serving pipeline's
    bits."""
    folder, _ = built
    X, y = _data(400, 1)
    model = make_pipeline(FieldEncoder(), clf).fit(X, y)
    server = ServingPipeline.from_pipeline(model)
    monkeypatch.setenv(_aot.KERNEL_DIR_ENV, str(folder))
    monkeypatch.setattr(_aot, "_loaded", {})
    predictor = RecordPredictor.from_pipeline(server)
    assert predictor.compiled_
    for n in (1, 8, 40, 700):
        records = _records(n, seed=10 + n)
        np.testing.assert_array_equal(
            predictor.predict_proba(records), server.predict_proba(records)
        )
    if isinstance(clf, LRClassifier):
        return  # its float32 logit of 1e30 values is finite: no general path
    for n in (2, 12):  # the per-sample and the tiled general path
        records = _records(n, seed=30 + n)
        records[-1] = {**records[-1], "I1": 1e30, "I2": -1e30, "I3": 1e30}
        with pytest.raises(ValueError) as got:
            predictor.predict_proba(records)
        with pytest.raises(ValueError) as expected:
            server.predict_proba(records)
        assert str(got.value).split(" on ")[0] == str(expected.value).split(" on ")[0]


def test_only_this_configurations_module_is_imported(built, monkeypatch, tmp_path):
    _, path = built
    other = tmp_path / path.name.replace(_aot.kernel_tag(), "0" * 16)
    shutil.copy(path, other)
    monkeypatch.setenv(_aot.KERNEL_DIR_ENV, str(tmp_path))
    monkeypatch.setattr(_aot, "_loaded", {})
    assert _aot.load_compiled() is None
    shutil.copy(path, tmp_path / path.name)
    monkeypatch.setattr(_aot, "_loaded", {})
    module = _aot.load_compiled()
    assert module is not None and all(hasattr(module, n) for n in _aot.EXPORTS)


def test_n_jobs_above_one_uses_numba(built, model, monkeypatch):
    """The compiled kernels hold the GIL: a predictor that scores large
    batches on threads uses numba's; each answers what the serving pipeline
    of the same n_jobs answers."""
    folder, _ = built
    monkeypatch.setenv(_aot.KERNEL_DIR_ENV, str(folder))
    monkeypatch.setattr(_aot, "_loaded", {})
    records = _records(1200, seed=3)
    for n_jobs, compiled in ((None, True), (2, False)):
        server = ServingPipeline.from_pipeline(model, n_jobs=n_jobs)
        predictor = RecordPredictor.from_pipeline(server)
        assert predictor.compiled_ is compiled
        np.testing.assert_array_equal(
            predictor.predict_proba(records), server.predict_proba(records)
        )


def test_the_compile_command(built, capsys):
    folder, path = built
    assert main(["compile", "--dir", str(folder)]) == 0
    assert capsys.readouterr().out.strip() == str(path)


def test_a_failed_build_raises_and_writes_nothing(monkeypatch, tmp_path):
    monkeypatch.setattr(_aot, "_BUILD", "raise SystemExit('no C compiler here')")
    with pytest.raises(RuntimeError, match="no C compiler here"):
        compile_kernels(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_kernel_dir(monkeypatch, tmp_path):
    monkeypatch.setenv(_aot.KERNEL_DIR_ENV, str(tmp_path))
    assert kernel_dir() == tmp_path
    monkeypatch.delenv(_aot.KERNEL_DIR_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert kernel_dir() == tmp_path / "cache" / "sklearn_deeplight" / "kernels"
