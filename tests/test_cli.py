"""Tests of the ``deeplight`` command (``sklearn_deeplight.cli``).

The logs are generated here (``make_ctr_classification`` written in Criteo's
layout) in a temporary folder: no real data is read or copied.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

from sklearn_deeplight import (
    FieldEncoder,
    FMClassifier,
    SparseCTRPredictor,
    load,
)
from sklearn_deeplight.cli import _train, _training, main
from sklearn_deeplight.datasets import (
    _ondisk_policy,
    load_criteo,
    make_ctr_classification,
)

REPO = Path(__file__).resolve().parents[1]

# Small nets and short runs: every training call takes a second or two.
TINY = ["--embedding-dim", "4", "--batch-size", "128", "--min-frequency", "2"]
TINY_DEEP = [*TINY, "--hidden", "16,16"]


def write_criteo(path: Path, n: int, seed: int = 0) -> Path:
    """Generated rows in Criteo's ``train.txt`` layout.

    Tab-separated, no header: the label, I1..I13 as integers and C1..C26 as
    8-hex-digit strings, an empty field where a value is missing.
    """
    cards = [3, 5, 8, 12, 20, 30, 50, 80] * 3 + [4, 6]
    X, y = make_ctr_classification(n, cardinalities=cards, random_state=seed)
    cols = [pd.Series(y).astype(str)]
    for name in X.columns:
        col = X[name]
        if name.startswith("I"):
            text = col.map(lambda v: "" if pd.isna(v) else str(int(v)))
        else:
            text = col.astype(object).map(lambda v: "" if pd.isna(v) else str(v))
        cols.append(text.reset_index(drop=True))
    frame = pd.concat(cols, axis=1)
    lines = ["\t".join(row) for row in frame.itertuples(index=False)]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def logs(tmp_path_factory) -> dict[str, Path]:
    """A training and a test log in Criteo's layout (different seeds)."""
    folder = tmp_path_factory.mktemp("logs")
    return {
        "train": write_criteo(folder / "train.txt", 1200, seed=0),
        "test": write_criteo(folder / "test.txt", 300, seed=1),
    }


@pytest.fixture(scope="module")
def pruned_run(logs, tmp_path_factory) -> tuple[Path, str]:
    """A DeepFwFM trained and pruned by ``deeplight train``, and its stdout."""
    out = tmp_path_factory.mktemp("model") / "model.skdl"
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        code = main(
            [
                "train",
                str(logs["train"]),
                "--out",
                str(out),
                *TINY_DEEP,
                "--epochs",
                "3",
                "--dnn",
                "0.9",
                "--field-pairs",
                "0.5",
                "--embeddings",
                "0.4",
                "--quiet",
            ]
        )
    assert code == 0
    return out, stdout.getvalue()


@pytest.fixture(scope="module")
def pruned_model(pruned_run) -> Path:
    """The model file of :func:`pruned_run` (the safe format)."""
    return pruned_run[0]


class _Exploit:
    """Unpickling this creates a marker file: proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def _table_rows(text: str, first_cells: tuple[str, ...]) -> list[list[str]]:
    """Rows of a printed table starting with one of ``first_cells``."""
    rows = []
    for line in text.splitlines():
        if line.startswith(first_cells):
            rows.append(line.split("  "))
    return rows


# ----------------------------------------------------------------------
# demo
# ----------------------------------------------------------------------
def test_demo_quick_prints_table_5(capsys):
    assert main(["demo", "--quick"]) == 0
    out, err = capsys.readouterr()
    # Progress on stderr, with the epochs of both fits.
    assert "training dense DeepFwFM" in err
    assert "training pruned DeepFwFM D-90% R-90% F-40%" in err
    assert "epoch 2/2" in err
    # The table on stdout.
    for header in ("AUC", "logloss", "nonzero params", "bytes", "us b=1", "speed-up"):
        assert header in out
    lines = [ln for ln in out.splitlines() if ln.startswith(("No pruning", "D-90%"))]
    assert len(lines) == 4
    cells = {}
    for line in lines:
        structure = "dense" if line.startswith("No pruning") else "pruned"
        engine = "sparse" if "sparse predictor" in line else "torch"
        rest = line.split("predictor" if engine == "sparse" else "torch", 1)[1]
        fields = rest.split()
        cells[structure, engine] = {
            "auc": float(fields[0]),
            "logloss": float(fields[1]),
            "params": int(fields[2].replace(",", "")),
            "speedup_1": float(fields[6].rstrip("x")),
        }
    # The sparse predictor predicts what the torch model predicts.
    for structure in ("dense", "pruned"):
        t, s = cells[structure, "torch"], cells[structure, "sparse"]
        assert t["auc"] == s["auc"] and t["logloss"] == s["logloss"]
        assert t["params"] == s["params"]
        assert 0.5 < t["auc"] <= 1.0
    assert cells["dense", "torch"]["speedup_1"] == 1.0
    # Pruning removed parameters.
    assert cells["pruned", "sparse"]["params"] < 0.6 * cells["dense", "torch"]["params"]
    notes = " ".join(out.split())  # the notes are wrapped
    assert "Pruned weights: embeddings 40.0%" in notes
    assert "dnn 90.0%" in notes and "field_pairs 90.0%" in notes
    assert "(the ceiling)" in notes


def test_demo_on_a_criteo_log(logs, capsys):
    code = main(
        [
            "demo",
            "--quick",
            "--quiet",
            "--data",
            str(logs["train"]),
            "--format",
            "criteo",
            "--nrows",
            "1000",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    assert err == ""  # --quiet
    assert "1,000 rows of train.txt" in out
    assert "800 train / 200 test rows (time split" in out
    assert "(the ceiling)" not in out  # no true probabilities for a real log


# ----------------------------------------------------------------------
# train, predict, bench
# ----------------------------------------------------------------------
def test_train_saves_a_pruned_pipeline_in_the_safe_format(pruned_run, logs):
    path, stdout = pruned_run
    assert path.read_bytes()[:4] == b"PK\x03\x04"  # sklearn_deeplight.save's zip
    model = load(path)  # runs no code from the file
    assert isinstance(model, Pipeline)
    assert isinstance(model[0], FieldEncoder)
    assert isinstance(model[-1], SparseCTRPredictor)
    # The summary reports the pruned torch model the predictor was built from.
    sparsity = dict(re.findall(r"(\w+) ([\d.]+)% of", stdout))
    assert float(sparsity["dnn"]) == pytest.approx(90, abs=0.1)
    assert float(sparsity["field_pairs"]) == pytest.approx(50, abs=1)
    assert float(sparsity["embeddings"]) == pytest.approx(40, abs=0.1)
    assert "pipeline FieldEncoder + SparseCTRPredictor, safe format" in stdout
    X, _ = load_criteo(logs["test"])
    proba = model.predict_proba(X)
    assert proba.shape == (300, 2)


def test_train_prints_summary_and_progress(logs, tmp_path, capsys):
    out = tmp_path / "fm.joblib"
    code = main(
        ["train", str(logs["train"]), "-o", str(out), "--model", "fm", *TINY]
        + ["--epochs", "2", "--embeddings", "0.5"]
    )
    stdout, stderr = capsys.readouterr()
    assert code == 0, stderr
    assert "epoch 1/2" in stderr and "valid AUC" in stderr
    assert "model: FMClassifier (fm), 2 epoch(s) in" in stdout
    assert f"saved: {out}" in stdout
    assert "embeddings 50.0%" in stdout


def test_train_dcnv2_prunes_its_cross_weights(logs, tmp_path, capsys):
    """A model of the registry is a --model choice, its components options."""
    out = tmp_path / "dcn.skdl"
    code = main(
        ["train", str(logs["train"]), "-o", str(out), "--model", "dcnv2"]
        + [*TINY_DEEP, "--epochs", "2", "--cross", "0.8", "--dnn", "0.5"]
    )
    stdout, stderr = capsys.readouterr()
    assert code == 0, stderr
    assert "model: DCNv2Classifier (dcnv2), 2 epoch(s) in" in stdout
    assert "cross 80.0% of" in stdout and "D-50% R-0% F-0% X-80%" in stderr
    X, _ = load_criteo(logs["test"])
    assert load(out).predict_proba(X).shape == (300, 2)
    code = main(["train", str(logs["train"]), "-o", str(out), "--cross", "0.5"])
    assert code == 2
    assert "--cross: deepfwfm has no cross to prune" in capsys.readouterr().err


def test_predict_writes_one_probability_per_line(pruned_model, logs, tmp_path):
    out = tmp_path / "probs.csv"
    code = main(["predict", str(pruned_model), str(logs["test"]), "--out", str(out)])
    assert code == 0
    lines = out.read_text().splitlines()
    assert len(lines) == 300
    probs = np.array([float(v) for v in lines])
    assert np.all((probs > 0) & (probs < 1))
    X, _ = load_criteo(logs["test"])
    expected = load(pruned_model).predict_proba(X)[:, 1]
    np.testing.assert_allclose(probs, expected, rtol=1e-8, atol=1e-9)


def test_predict_to_stdout_reports_auc_on_stderr(pruned_model, logs, capsys):
    code = main(["predict", str(pruned_model), str(logs["test"]), "--nrows", "50"])
    out, err = capsys.readouterr()
    assert code == 0
    assert len(out.splitlines()) == 50
    assert "AUC" in err and "AUC" not in out


def test_bench_prints_a_table(pruned_model, logs, capsys):
    args = ["bench", str(pruned_model), "--batch-sizes", "1,64"]
    args += ["--rounds", "1", "--min-time", "0.01"]
    assert main(args) == 0
    out, _ = capsys.readouterr()
    assert "rows drawn from the model's vocabulary" in out
    rows = _table_rows(out, ("1 ", "64 "))
    assert [r[0].strip() for r in rows] == ["1", "64"]
    assert "model us/row" in out
    assert main([*args, "--log", str(logs["test"]), "--quiet"]) == 0
    out, _ = capsys.readouterr()
    assert "rows of test.txt" in out


def test_sparse_model_predicts_and_benches_without_torch(logs, tmp_path):
    model = tmp_path / "sparse.skdl"
    code = main(
        ["train", str(logs["train"]), "--out", str(model), *TINY_DEEP]
        + ["--epochs", "2", "--dnn", "0.9", "--quiet"]
    )
    assert code == 0
    pipe = load(model)
    assert isinstance(pipe[-1], SparseCTRPredictor)
    script = (
        "import sys\n"
        "from sklearn_deeplight.cli import main\n"
        f"code = main(['predict', {str(model)!r}, {str(logs['test'])!r}, "
        f"'--out', {str(tmp_path / 'p.txt')!r}, '--quiet'])\n"
        f"code += main(['bench', {str(model)!r}, '--batch-sizes', '1,8', "
        "'--rounds', '1', '--min-time', '0.01', '--quiet'])\n"
        "assert code == 0, code\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO
    )
    assert result.returncode == 0, result.stderr
    assert len((tmp_path / "p.txt").read_text().splitlines()) == 300


def test_csv_logs_with_and_without_labels(tmp_path, capsys):
    X, y = make_ctr_classification(
        600,
        n_numeric=2,
        n_categorical=4,
        cardinalities=[5, 7, 9, 11],
        n_interactions=2,
        random_state=0,
    )
    X = X.astype({c: str for c in X.columns if c.startswith("C")})
    X.assign(click=y).to_csv(tmp_path / "train.csv", index=False)
    X.iloc[:40].to_csv(tmp_path / "new.csv", index=False)  # no label column
    model = tmp_path / "m.skdl"
    args = ["train", str(tmp_path / "train.csv"), "--format", "csv"]
    args += ["--label", "click", "-o", str(model), "--model", "fwfm", *TINY]
    # --sparse: the default, still accepted.
    args += ["--numeric", "I1,I2", "--epochs", "1", "--sparse", "--quiet"]
    assert main(args) == 0
    capsys.readouterr()
    encoder = load(model)[0]
    assert encoder.numeric_fields_.tolist() == [0, 1]  # I1, I2; C1..C4 categorical
    code = main(["predict", str(model), str(tmp_path / "new.csv"), "--format", "csv"])
    out, _ = capsys.readouterr()
    assert code == 0
    assert len(out.splitlines()) == 40
    # Without --label click the label is read as a feature: the columns differ
    # from the model's, exit 1.
    code = main(["predict", str(model), str(tmp_path / "train.csv"), "--format", "csv"])
    _, err = capsys.readouterr()
    assert code == 1
    assert "differ from those the model was trained on" in err
    assert "unexpected: ['click']" in err
    # The wrong --format: the avazu reader finds no label column, exit 1.
    code = main(["predict", str(model), str(tmp_path / "new.csv"), "--format", "avazu"])
    _, err = capsys.readouterr()
    assert code == 1
    assert "no 'click' column" in err


# ----------------------------------------------------------------------
# Pickles: written only with --pickle, read only with --trust-pickle
# ----------------------------------------------------------------------
@pytest.mark.parametrize("command", ["predict", "bench"])
def test_pickle_that_runs_code_is_refused_without_trust_pickle(
    command, logs, tmp_path, capsys
):
    marker = tmp_path / "pwned"
    path = tmp_path / "exploit.joblib"
    joblib.dump(_Exploit(marker), path)
    out = tmp_path / "p.txt"
    argv = [command, str(path)]
    argv += [str(logs["test"]), "-o", str(out)] if command == "predict" else []
    assert main([*argv, "--quiet"]) == 1
    _, err = capsys.readouterr()
    assert not marker.exists(), "the model file ran code when it was loaded"
    assert str(path) in err and "--trust-pickle" in err
    assert "pickle" in err and "Traceback" not in err
    assert not out.exists()
    # With the flag the file is unpickled: that is what the flag is for.
    assert main([*argv, "--quiet", "--trust-pickle"]) == 1
    capsys.readouterr()
    assert marker.exists()


def test_pickled_torch_model_with_trust_pickle(logs, tmp_path, capsys):
    model = tmp_path / "fm.joblib"
    argv = ["train", str(logs["train"]), "-o", str(model), "--model", "fm"]
    argv += [*TINY, "--epochs", "2", "--embeddings", "0.5", "--pickle", "--quiet"]
    assert main(argv) == 0
    stdout, _ = capsys.readouterr()
    assert "pipeline FieldEncoder + FMClassifier, a joblib pickle" in stdout
    pipe = joblib.load(model)  # our own file: trusted
    assert isinstance(pipe[0], FieldEncoder) and isinstance(pipe[-1], FMClassifier)
    report = pipe[-1].sparsity_report()
    assert report.loc["embeddings", "sparsity"] == pytest.approx(0.5, abs=1e-3)
    # The progress callback is not saved; the pruning callback is.
    assert [name for name, _ in pipe[-1].callbacks] == ["prune"]

    out = tmp_path / "p.txt"
    argv = ["predict", str(model), str(logs["test"]), "-o", str(out), "--quiet"]
    assert main(argv) == 1
    _, err = capsys.readouterr()
    assert f"{model}: cannot load a model from this file without --trust-pickle" in err
    assert not out.exists()
    assert main([*argv, "--trust-pickle"]) == 0
    X, _ = load_criteo(logs["test"])
    probs = np.array([float(v) for v in out.read_text().splitlines()])
    np.testing.assert_allclose(probs, pipe.predict_proba(X)[:, 1], rtol=1e-8)
    bench = ["bench", str(model), "--batch-sizes", "8", "--rounds", "1"]
    bench += ["--min-time", "0.01", "--quiet"]
    assert main(bench) == 1
    assert main([*bench, "--trust-pickle"]) == 0


def test_trust_pickle_still_reads_the_safe_format(pruned_model, logs, capsys):
    # The flag allows pickles; a safe file is read with load() all the same.
    argv = ["predict", str(pruned_model), str(logs["test"]), "--nrows", "5"]
    assert main([*argv, "--quiet", "--trust-pickle"]) == 0
    out, _ = capsys.readouterr()
    assert len(out.splitlines()) == 5


def test_altered_safe_file_is_refused(pruned_model, logs, tmp_path, capsys):
    bad = tmp_path / "altered.skdl"
    data = bytearray(pruned_model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad.write_bytes(bytes(data))
    code = main(["predict", str(bad), str(logs["test"]), "--trust-pickle"])
    _, err = capsys.readouterr()
    assert code == 1
    assert f"{bad}: cannot load a model from this file" in err


# ----------------------------------------------------------------------
# On-disk training (--on-disk, --workdir, --chunk-rows, --shuffle)
# ----------------------------------------------------------------------
def test_on_disk_always_trains_a_model_that_predicts(logs, tmp_path, capsys):
    work = tmp_path / "work"
    work.mkdir()
    model = tmp_path / "disk.skdl"
    argv = ["train", str(logs["train"]), "-o", str(model), *TINY_DEEP]
    argv += ["--epochs", "2", "--dnn", "0.5", "--on-disk", "always"]
    argv += ["--chunk-rows", "250", "--workdir", str(work)]
    assert main(argv) == 0
    stdout, err = capsys.readouterr()
    for stage in ("on-disk pass 1/3", "on-disk pass 2/3", "on-disk pass 3/3"):
        assert stage in err
    assert f"encoding the log to {work}" in err
    assert "encoded 1,200 rows: 39 fields" in err
    assert "epoch 2/2" in err and "blocks shuffle" in err
    assert "trained on disk, blocks shuffle" in stdout
    # The encoded copy is gone: the work folder and the output folder are clean.
    assert list(work.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["disk.skdl", "work"]
    pipe = load(model)
    assert isinstance(pipe[0], FieldEncoder)
    assert isinstance(pipe[-1], SparseCTRPredictor)
    out = tmp_path / "p.txt"
    assert main(["predict", str(model), str(logs["test"]), "-o", str(out)]) == 0
    probs = np.array([float(v) for v in out.read_text().splitlines()])
    assert probs.shape == (300,) and np.all((probs > 0) & (probs < 1))


def test_on_disk_exact_shuffle_equals_in_memory(logs, tmp_path, capsys):
    # fit_encoder equals FieldEncoder.fit, and fit_ondisk(shuffle="exact")
    # equals estimator.fit with the same seed (test_ondisk.py): the saved
    # models predict the same, bit for bit.
    argv = ["train", str(logs["train"]), *TINY_DEEP, "--epochs", "2"]
    argv += ["--dnn", "0.5", "--threads", "1", "--seed", "3", "--quiet"]
    memory, disk = tmp_path / "memory.skdl", tmp_path / "disk.skdl"
    assert main([*argv, "-o", str(memory), "--on-disk", "never"]) == 0
    assert (
        main(
            [*argv, "-o", str(disk), "--on-disk", "always", "--shuffle", "exact"]
            + ["--chunk-rows", "100"]
        )
        == 0
    )
    stdout, _ = capsys.readouterr()
    assert "trained in memory" in stdout and "trained on disk, exact shuffle" in stdout
    a, b = load(memory), load(disk)
    np.testing.assert_array_equal(a[0].field_dims_, b[0].field_dims_)
    X, _ = load_criteo(logs["test"])
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))


def test_on_disk_auto_follows_the_threshold(logs, tmp_path, monkeypatch, capsys):
    size = logs["train"].stat().st_size
    argv = ["train", str(logs["train"]), "-o", str(tmp_path / "m.skdl")]
    argv += ["--model", "lr", "--epochs", "1", "--batch-size", "256"]
    monkeypatch.setenv(_ondisk_policy.ON_DISK_ENV, str(size - 1))
    assert main(argv) == 0
    stdout, err = capsys.readouterr()
    assert "training on disk (--on-disk auto: the log is" in err
    assert f"above the threshold of {_ondisk_policy._human_bytes(size - 1)}" in err
    assert f"{_ondisk_policy.ON_DISK_ENV}={size - 1}" in err
    assert "trained on disk" in stdout
    monkeypatch.setenv(_ondisk_policy.ON_DISK_ENV, "1G")
    assert main(argv) == 0
    stdout, err = capsys.readouterr()
    assert "within the threshold of 1.0 GiB" in err
    assert "trained in memory" in stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.skdl"]


def test_on_disk_threshold_without_the_variable(monkeypatch, tmp_path):
    monkeypatch.delenv(_ondisk_policy.ON_DISK_ENV, raising=False)
    small = tmp_path / "log.txt"
    small.write_bytes(b"x" * 1000)
    monkeypatch.setattr(_ondisk_policy, "_available_memory", lambda: 64 * 2**30)
    assert _ondisk_policy._on_disk_threshold() == (
        _ondisk_policy.ON_DISK_BYTES,
        "the default",
    )
    assert _ondisk_policy._use_on_disk("auto", small)[0] is False
    assert _ondisk_policy._use_on_disk("always", small)[0] is True
    # Little memory: a tenth of it.
    monkeypatch.setattr(_ondisk_policy, "_available_memory", lambda: 5000)
    assert _ondisk_policy._on_disk_threshold()[0] == 500
    assert _ondisk_policy._use_on_disk("auto", small)[0] is True
    assert _ondisk_policy._use_on_disk("never", small)[0] is False
    # A compressed log counts COMPRESSED_RATIO times its size.
    monkeypatch.setattr(_ondisk_policy, "_available_memory", lambda: None)
    monkeypatch.setenv(_ondisk_policy.ON_DISK_ENV, "3000")
    gz = tmp_path / "log.txt.gz"
    gz.write_bytes(b"x" * 1000)
    assert _ondisk_policy._use_on_disk("auto", small)[0] is False
    on, why = _ondisk_policy._use_on_disk("auto", gz)
    assert on is True and f"counted {_ondisk_policy.COMPRESSED_RATIO}x" in why


def test_available_memory_is_capped_by_the_cgroup_limit(monkeypatch, tmp_path):
    host = _ondisk_policy._available_memory()
    assert host is None or host > 2**20
    limit = tmp_path / "memory.max"
    limit.write_text("1048576\n")
    monkeypatch.setattr(_ondisk_policy, "_CGROUP_LIMITS", (str(limit),))
    assert _ondisk_policy._available_memory() == 2**20
    limit.write_text("max\n")  # cgroup v2 without a limit
    assert _ondisk_policy._available_memory() == host


def test_scratch_folder_left_behind_is_reported(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(_train.shutil, "rmtree", lambda *a, **k: None)
    with _train._scratch_dir(tmp_path) as folder:
        assert folder.parent == tmp_path
    assert folder.exists()
    assert f"could not remove the folder of the encoded log {folder}" in (
        capsys.readouterr().err
    )


@pytest.mark.parametrize("value", ["lots", "-5", "1X"])
def test_bad_threshold_variable_exits_2(value, logs, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(_ondisk_policy.ON_DISK_ENV, value)
    argv = ["train", str(logs["train"]), "-o", str(tmp_path / "m.skdl")]
    assert main(argv) == 2
    _, err = capsys.readouterr()
    assert f"{_ondisk_policy.ON_DISK_ENV}={value!r} is not a size in bytes" in err
    assert not (tmp_path / "m.skdl").exists()


# ----------------------------------------------------------------------
# Errors and exit codes
# ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "argv",
    [
        ["predict", "{tmp}/missing.joblib", "{train}"],
        ["predict", "{model}", "{tmp}/missing.txt"],
        ["train", "{tmp}/missing.txt", "--out", "{tmp}/m.joblib"],
        ["bench", "{tmp}/missing.joblib"],
        ["demo", "--quick", "--data", "{tmp}/missing.txt"],
        ["train", "{train}", "--out", "{tmp}/no/such/folder/m.joblib"],
    ],
)
def test_missing_file_exits_2_naming_it(argv, logs, pruned_model, tmp_path, capsys):
    fill = {"tmp": tmp_path, "train": logs["train"], "model": pruned_model}
    argv = [a.format(**fill) for a in argv]
    assert main(argv) == 2
    _, err = capsys.readouterr()
    missing = next(a for a in argv if "missing" in a or "no/such" in a)
    assert "not found" in err
    assert str(Path(missing).parent if "no/such" in missing else missing) in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["bogus"], "invalid choice"),
        ([], "COMMAND"),
        (["train", "{train}"], "--out"),
        (["train", "{train}", "-o", "{tmp}/m", "--dnn", "1.5"], "must be in [0, 1]"),
        (["train", "{train}", "-o", "{tmp}/m", "--epochs", "0"], "must be >= 1"),
        (["train", "{train}", "-o", "{tmp}/m", "--model", "gbdt"], "invalid choice"),
        (["train", "{train}", "-o", "{tmp}/m", "--format", "xls"], "invalid choice"),
        (["train", "{train}", "-o", "{tmp}/m", "--hidden", "a,b"], "WIDTHxDEPTH"),
        (["bench", "{train}", "--batch-sizes", "0"], "all >= 1"),
        (["demo", "--dnn", "-0.1"], "must be in [0, 1]"),
        # Accepted by argparse, refused before any work:
        (
            ["train", "{train}", "-o", "{tmp}/m", "--model", "fwfm", "--dnn", "0.9"],
            "fwfm has no dnn to prune",
        ),
        (
            ["train", "{train}", "-o", "{tmp}/m", "--model", "fm", "--hidden", "8"],
            "fm has no DNN",
        ),
        (
            ["train", "{train}", "-o", "{tmp}/m", "--epochs", "2", "--dnn", "0.9"]
            + ["--warm-up-epochs", "2"],
            "leaves no pruning epoch",
        ),
        (["demo", "--quick", "--nrows", "10"], "--nrows applies to --data"),
        (
            ["train", "{train}", "-o", "{tmp}/m", "--numeric", "I1"],
            "--numeric applies to --format csv",
        ),
        (["train", "{train}", "-o", "{tmp}/m", "--chunk-rows", "0"], "must be >= 1"),
        (
            ["train", "{train}", "-o", "{tmp}/m", "--chunk-rows", "1e5"],
            "--chunk-rows: not an integer: '1e5'",
        ),
        (
            ["train", "{train}", "-o", "{tmp}/m", "--on-disk", "sometimes"],
            "invalid choice",
        ),
        (
            ["train", "{train}", "-o", "{tmp}/m", "--workdir", "{tmp}/nowhere"],
            "--workdir: folder not found",
        ),
        (
            ["train", "{train}", "-o", "{tmp}/m", "--on-disk", "never"]
            + ["--shuffle", "exact"],
            "--shuffle applies to on-disk training",
        ),
        (
            ["train", "{train}", "-o", "{tmp}/m", "--sparse", "--pickle"],
            "not allowed with argument",
        ),
    ],
)
def test_bad_option_exits_2(argv, message, logs, tmp_path, capsys):
    fill = {"tmp": tmp_path, "train": logs["train"]}
    assert main([a.format(**fill) for a in argv]) == 2
    _, err = capsys.readouterr()
    assert message in err
    assert not (tmp_path / "m").exists()


def test_help_exits_0_and_documents_exit_codes(capsys):
    assert main(["--help"]) == 0
    out, _ = capsys.readouterr()
    for word in ("demo", "train", "predict", "bench", "exit codes", "130"):
        assert word in out
    assert main(["train", "--help"]) == 0
    out, _ = capsys.readouterr()
    assert "--field-pairs" in out and "exit codes" in out


def test_malformed_log_exits_1_with_the_line(logs, tmp_path, capsys):
    bad = tmp_path / "bad.txt"
    lines = logs["train"].read_text().splitlines()[:20]
    lines[6] = "1\t2\t3"  # line 7: 3 fields instead of 40
    bad.write_text("\n".join(lines) + "\n")
    out = tmp_path / "m.joblib"
    assert main(["train", str(bad), "-o", str(out), "--quiet"]) == 1
    _, err = capsys.readouterr()
    assert "line 7" in err and "expected 40 fields, found 3" in err
    assert "Traceback" not in err
    assert not out.exists()
    # --debug adds the traceback.
    assert main(["train", str(bad), "-o", str(out), "--quiet", "--debug"]) == 1
    _, err = capsys.readouterr()
    assert "Traceback" in err and "line 7" in err
    # A file that holds no model.
    code = main(["predict", str(logs["test"]), str(logs["test"])])
    _, err = capsys.readouterr()
    assert code == 1
    assert "cannot load a model" in err


@pytest.mark.parametrize("pickle", [False, True], ids=["safe-format", "pickle"])
def test_failed_save_keeps_the_existing_model(
    pickle, logs, tmp_path, monkeypatch, capsys
):
    import sklearn_deeplight._persistence as persistence

    out = tmp_path / "model.skdl"
    out.write_bytes(b"the previous model")

    def broken_save(value, filename, *args, **kwargs):
        Path(filename).write_bytes(b"half a model")
        raise OSError("No space left on device")

    # Whichever writer the command uses (save, or joblib.dump with --pickle)
    # writes half a model and fails.
    monkeypatch.setattr(persistence, "save", broken_save)
    monkeypatch.setattr(joblib, "dump", broken_save)
    argv = ["train", str(logs["train"]), "-o", str(out), "--model", "lr"]
    argv += ["--pickle"] if pickle else []
    code = main([*argv, "--epochs", "1", "--batch-size", "256", "--quiet"])
    _, err = capsys.readouterr()
    assert code == 1
    assert "No space left on device" in err
    assert out.read_bytes() == b"the previous model"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.skdl"]


def test_failed_write_inside_save_keeps_the_existing_model(
    logs, tmp_path, monkeypatch, capsys
):
    # The real sklearn_deeplight.save, failing while it writes the zip.
    import sklearn_deeplight._persistence as persistence

    out = tmp_path / "model.skdl"
    out.write_bytes(b"the previous model")

    def broken_zip(f, entries):
        f.write(b"PK\x03\x04 half a zip")
        raise OSError("No space left on device")

    monkeypatch.setattr(persistence, "_write_zip", broken_zip)
    argv = ["train", str(logs["train"]), "-o", str(out), "--model", "lr"]
    code = main([*argv, "--epochs", "1", "--batch-size", "256", "--quiet"])
    _, err = capsys.readouterr()
    assert code == 1
    assert "No space left on device" in err
    assert out.read_bytes() == b"the previous model"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.skdl"]


def test_interrupted_training_saves_nothing(logs, tmp_path, monkeypatch, capsys):
    # skorch ends fit quietly on Ctrl-C; the command must not save a model
    # trained for part of its epochs, and exits 130.
    from skorch.callbacks import Callback

    class CtrlC(Callback):
        def on_epoch_end(self, net, **kwargs):
            raise KeyboardInterrupt

    monkeypatch.setattr(_training, "_epoch_progress", lambda log: CtrlC())
    out = tmp_path / "m.joblib"
    argv = ["train", str(logs["train"]), "-o", str(out), "--model", "lr"]
    assert main([*argv, "--epochs", "3", "--batch-size", "256"]) == 130
    _, err = capsys.readouterr()
    assert "interrupted" in err
    assert not out.exists()


def test_python_dash_m_help():
    result = subprocess.run(
        [sys.executable, "-m", "sklearn_deeplight", "--help"],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: python -m sklearn_deeplight")
    assert "exit codes" in result.stdout
    result = subprocess.run(
        [sys.executable, "-m", "sklearn_deeplight", "predict"],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert result.returncode == 2
    assert "required" in result.stderr


def test_output_is_never_one_of_the_inputs(
    pruned_model, logs, tmp_path, monkeypatch, capsys
):
    """``--out`` naming the command's own input (also through a relative
    path, a symbolic or a hard link) exits 2 naming both, before any work,
    and leaves every file as it was (issue 15, item 4)."""
    log = tmp_path / "log.txt"
    log.write_bytes(logs["test"].read_bytes())
    model = tmp_path / "model.skdl"
    model.write_bytes(pruned_model.read_bytes())
    (tmp_path / "symlink.txt").symlink_to(log)
    os.link(log, tmp_path / "hardlink.txt")
    (tmp_path / "model-link.skdl").symlink_to(model)
    monkeypatch.chdir(tmp_path)
    predict = ["predict", str(model), str(log)]
    cases = [
        ([*predict, "--out", str(log)], "log file"),
        ([*predict, "--out", "log.txt"], "log file"),
        ([*predict, "-o", "./sub/../log.txt"], "log file"),
        ([*predict, "--out", str(model)], "model file"),
        ([*predict, "--out", "model-link.skdl"], "model file"),
        ([*predict, "--out", "symlink.txt"], "log file"),
        ([*predict, "--out", "hardlink.txt"], "log file"),
        (["train", "log.txt", "--out", "log.txt", "--epochs", "1"], "log file"),
        (["train", str(log), "--out", "hardlink.txt", "--epochs", "1"], "log file"),
    ]
    (tmp_path / "sub").mkdir()
    before = {p: p.read_bytes() for p in (log, model)}
    for argv, what in cases:
        code = main([*argv, "--quiet"])
        err = capsys.readouterr().err
        assert code == 2, (argv, err)
        out = argv[argv.index("--out") + 1] if "--out" in argv else argv[-1]
        assert f"--out {out} is the {what}" in err, (argv, err)
        assert "own input" in err
        assert {p: p.read_bytes() for p in before} == before, argv
    # another file in the same folder is fine
    assert main([*predict, "--out", "probabilities.txt", "--quiet"]) == 0
    assert len((tmp_path / "probabilities.txt").read_text().splitlines()) == 300


def test_predict_refuses_labels_that_are_not_the_models_classes(tmp_path, capsys):
    """A log whose labels are not the model's classes exits 1 naming the
    label and the classes, and writes nothing; a one-class log reports the
    AUC as undefined, never ``AUC nan`` (issue 15, item 11)."""
    X, y = make_ctr_classification(
        300,
        n_numeric=1,
        n_categorical=3,
        cardinalities=[4, 5, 6],
        n_interactions=2,
        random_state=0,
    )
    X = X.astype({c: str for c in X.columns if c.startswith("C")})
    X.assign(click=y).to_csv(tmp_path / "train.csv", index=False)
    model = tmp_path / "m.skdl"
    args = ["train", str(tmp_path / "train.csv"), "--format", "csv", "--label"]
    args += ["click", "-o", str(model), "--model", "lr", "--epochs", "1"]
    assert main([*args, "--numeric", "I1", "--quiet"]) == 0
    capsys.readouterr()
    csv = ["--format", "csv", "--label", "click"]
    X.assign(click=np.where(y == 1, "yes", "no")).to_csv(
        tmp_path / "words.csv", index=False
    )
    out = tmp_path / "p.txt"
    for quiet in ([], ["--quiet"]):
        code = main(
            ["predict", str(model), str(tmp_path / "words.csv"), *csv, "-o", str(out)]
            + quiet
        )
        err = capsys.readouterr().err
        assert code == 1, err
        assert "is not one of the model's classes [0, 1]" in err
        assert re.search(r"label '(yes|no)' of data row 1 ", err), err
        assert not out.exists()
    X.assign(click=0).to_csv(tmp_path / "zeros.csv", index=False)
    code = main(["predict", str(model), str(tmp_path / "zeros.csv"), *csv])
    captured = capsys.readouterr()
    assert code == 0
    assert len(captured.out.splitlines()) == 300
    assert "AUC undefined (every label is 0: the log holds one class)" in captured.err
    assert "nan" not in captured.err.lower()


def test_format_is_guessed_and_ids_pass_through(tmp_path, capsys):
    """A .csv log trains without --format; predict --id writes 'id,probability'."""
    X, y = make_ctr_classification(
        400,
        n_numeric=1,
        n_categorical=3,
        cardinalities=[5, 7, 9],
        n_interactions=2,
        random_state=0,
    )
    X = X.astype({c: str for c in X.columns if c.startswith("C")})
    X.assign(click=y).to_csv(tmp_path / "train.csv", index=False)
    new = X.iloc[:25].assign(
        row_id=[f"r,{i}" if i == 3 else f"r{i}" for i in range(25)]
    )
    new.to_csv(tmp_path / "new.csv", index=False)
    model = tmp_path / "m.skdl"
    args = ["train", str(tmp_path / "train.csv"), "--label", "click", "-o", str(model)]
    assert main([*args, "--model", "fm", *TINY, "--epochs", "1", "--quiet"]) == 0
    capsys.readouterr()
    code = main(["predict", str(model), str(tmp_path / "new.csv"), "--id", "row_id"])
    out, err = capsys.readouterr()
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "row_id,probability" and len(lines) == 26
    assert lines[1].startswith("r0,") and lines[4].startswith('"r,3",')
    X.iloc[:25].to_csv(tmp_path / "plain.csv", index=False)
    assert main(["predict", str(model), str(tmp_path / "plain.csv")]) == 0
    expected = [float(v) for v in capsys.readouterr().out.splitlines()]
    assert [float(line.rsplit(",", 1)[1]) for line in lines[1:]] == expected
    code = main(["predict", str(model), str(tmp_path / "new.csv"), "--id", "nope"])
    assert code == 2 and "--id: no column 'nope'" in capsys.readouterr().err
    criteo = tmp_path / "log.txt"
    criteo.write_text("0\t" + "\t".join(["1"] * 13 + ["a"] * 26) + "\n")
    code = main(["predict", str(model), str(criteo), "--id", "row_id"])
    assert code == 2 and "--id needs a csv log" in capsys.readouterr().err


def test_train_validates_on_another_log(logs, tmp_path, capsys):
    """--valid LOG: the per-epoch scores and early stopping use that log."""
    out = tmp_path / "m.skdl"
    args = ["train", str(logs["train"]), "-o", str(out), "--model", "fm", *TINY]
    args += ["--epochs", "3", "--valid", str(logs["test"]), "--patience", "2"]
    code = main(args)
    _, err = capsys.readouterr()
    assert code == 0, err
    assert f"validating on 300 rows of {logs['test']}" in err
    assert "valid AUC" in err
    code = main(["train", str(logs["train"]), "-o", str(logs["test"]), "--valid",
                 str(logs["test"])])  # fmt: skip
    assert code == 2 and "validation log" in capsys.readouterr().err


def test_predict_numeric_must_match_the_model_and_help_epilog_once(tmp_path, capsys):
    X, y = make_ctr_classification(
        300,
        n_numeric=1,
        n_categorical=3,
        cardinalities=[5, 7, 9],
        n_interactions=2,
        random_state=0,
    )
    X = X.astype({c: str for c in X.columns if c.startswith("C")})
    X.assign(click=y).to_csv(tmp_path / "train.csv", index=False)
    X.iloc[:20].to_csv(tmp_path / "new.csv", index=False)
    model = tmp_path / "m.skdl"
    args = ["train", str(tmp_path / "train.csv"), "--label", "click", "-o", str(model)]
    args += ["--numeric", "I1", "--model", "fm", *TINY, "--epochs", "1", "--quiet"]
    assert main(args) == 0
    capsys.readouterr()
    new = str(tmp_path / "new.csv")
    assert main(["predict", str(model), new, "--numeric", "I1"]) == 0
    capsys.readouterr()
    assert main(["predict", str(model), new, "--numeric", "C1"]) == 2
    assert "the model reads ['I1'] as numeric" in capsys.readouterr().err
    for command in ("train", "predict"):
        assert main([command, "--help"]) == 0
        out = capsys.readouterr().out
        assert "exit codes:" not in out and "see deeplight --help" in out
    assert main(["--help"]) == 0
    assert "exit codes:" in capsys.readouterr().out


def test_csv_numeric_columns_are_detected_at_train(tmp_path, capsys):
    """Columns of non-whole numbers are numeric; whole-number ones categorical."""
    from sklearn_deeplight.datasets._logs import detect_numeric_columns

    rng = np.random.RandomState(0)
    n = 300
    frame = pd.DataFrame(
        {
            "price": np.round(rng.rand(n) * 10, 2),
            "count": rng.randint(0, 50, n),
            "site": [f"s{i % 7}" for i in range(n)],
            "click": rng.randint(0, 2, n),
        }
    )
    frame.loc[5, "price"] = np.nan  # a gap does not change the reading
    frame.to_csv(tmp_path / "train.csv", index=False)
    assert detect_numeric_columns(tmp_path / "train.csv", "click") == ("price",)
    model = tmp_path / "m.skdl"
    args = ["train", str(tmp_path / "train.csv"), "--label", "click", "-o", str(model)]
    assert main([*args, "--model", "fm", *TINY, "--epochs", "1"]) == 0
    assert "--numeric price" in capsys.readouterr().err
    assert load(model)[0].numeric_fields_.tolist() == [0]


def test_numeric_detection_follows_on_bad_lines(tmp_path, capsys):
    lines = ["price,site,click"] + [f"{i + 0.5},s{i % 3},{i % 2}" for i in range(60)]
    lines[8] = "1.5,s1,0,extra,fields"
    (tmp_path / "log.csv").write_text("\n".join(lines) + "\n")
    out = tmp_path / "m.skdl"
    args = ["train", str(tmp_path / "log.csv"), "--label", "click", "-o", str(out)]
    assert (
        main([*args, "--model", "lr", "--epochs", "1", "--on-bad-lines", "skip"]) == 0
    )
    assert "--numeric price" in capsys.readouterr().err
    assert main([*args, "--model", "lr", "--epochs", "1"]) == 1
    assert "log.csv" in capsys.readouterr().err
