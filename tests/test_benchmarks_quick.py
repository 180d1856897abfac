"""Smoke tests of the benchmark scripts (``python -m benchmarks``).

``test_all_quick_end_to_end`` runs ``python -m benchmarks all --quick`` in a
subprocess (small slices of the real rows, 4,000 generated rows, one seed;
about 2 minutes on an idle core) and checks that it writes the JSON, the page
and its figures (the subprocess timeouts only guard against a hang: no test
here depends on how fast the machine is). The real-data and
peer parts skip cleanly without ``../shared/data`` or deepctr-torch; the
generated-data parts always run. Set ``DEEPLIGHT_BENCH_E2E=0`` to skip it.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(
    not (ROOT / "benchmarks" / "__main__.py").exists(),
    reason="benchmarks/ not in this checkout",
)


def test_entry_point_help():
    r = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0
    assert "table2" in r.stdout and "peer" in r.stdout


def test_md_to_rst():
    from benchmarks.report import md_to_rst

    rst = md_to_rst(
        [
            "# Title",
            "",
            "Text with `code`.",
            "",
            "| a | b |",
            "|---|---|",
            "| 1 | |",
            "",
            "![alt text](img/x.png)",
        ]
    )
    assert "=====\nTitle\n=====" in rst
    assert "``code``" in rst
    assert ".. list-table::" in rst and "   * - a" in rst and "     - \u2014" in rst
    assert ".. image:: img/x.png" in rst


def test_quick_tables_small_slice():
    pytest.importorskip("matplotlib")
    from benchmarks import paper_tables

    if not paper_tables.have_data():
        pytest.skip("no ../shared/data")
    ds = paper_tables.load_real("avazu", quick=True)
    Xtr, Xte, num = paper_tables.as_array(ds)
    est = paper_tables.make_model("DeepFwFM", 0, numeric_fields=num, max_epochs=1)
    est.fit(Xtr, ds["ytr"])
    lat = paper_tables.latency_pair(est.to_sparse().predict_proba, Xte, quick=True)
    assert lat["batch1_latency_cpu_us"] > 0
    assert lat["batch4096_rows_per_s_cpu"] > 0


def test_n_x_width():
    from benchmarks.paper_tables import n_x_width

    # The paper's Criteo rows of Table 4: D-90% ~ N-87, D-99% ~ N-15 (DNN
    # 390 -> 400 x 3 -> 1: 476,000 hidden weights, 1,601 biases and output).
    assert n_x_width(47_600 + 1_601, 390) == 87
    assert n_x_width(4_760 + 1_601, 390) == 15


@pytest.mark.skipif(
    os.environ.get("DEEPLIGHT_BENCH_E2E") == "0",
    reason="DEEPLIGHT_BENCH_E2E=0",
)
def test_all_quick_end_to_end():
    pytest.importorskip("matplotlib")
    r = subprocess.run(
        [sys.executable, "-m", "benchmarks", "all", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    res = ROOT / "benchmarks" / "results"
    gen = json.loads((res / "paper_tables_quick.json.tmp").read_text())["generated"]
    assert {"table2", "table45", "latency_sweep", "table6"} <= set(gen)
    assert set(gen["table2"]) == {
        "LR",
        "FM",
        "FwFM",
        "DeepFM",
        "NFM",
        "XDeepFM",
        "DeepFwFM",
    }
    rep = res / "quick_report.tmp"
    assert (rep / "benchmarks.md").exists() and (rep / "benchmarks.rst").exists()
    for png in ("bench_table2_generated.png", "bench_sparsity_latency.png"):
        assert (rep / "img" / png).stat().st_size > 0


def test_cin_kernel_quick(tmp_path):
    out = tmp_path / "cin.json"
    r = subprocess.run(
        [sys.executable, "-m", "benchmarks.cin_kernel", "--quick", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(out.read_text())["results"]
    assert set(res) == {"dense", "CIN and DNN pruned 90%"}
    for r in res.values():
        assert r["max_abs_diff_tiled_vs_per_sample"] < 1e-4
        assert r["rel_err_tiled_vs_torch"] < 1e-5
        assert set(r["median_ms"]) == {"tiled", "per_sample", "torch"}


def test_parity_quick(tmp_path):
    """The parity script on small networks: the raw-row paths score exactly
    what the encoded rows score, and every path is within float32 rounding
    of the estimator and of the float64 forward."""
    out = tmp_path / "parity.json"
    r = subprocess.run(
        [sys.executable, "-m", "benchmarks.parity", "--quick", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    data = json.loads(out.read_text())["datasets"]
    assert "generated (Criteo format)" in data
    for res in data.values():
        assert res["vs_encoded"]["raw frame"]["max_rel"] == 0.0
        assert res["vs_encoded"]["raw dicts"]["max_rel"] == 0.0
        assert res["vs_encoded"]["record predictor"]["max_rel"] == 0.0
        assert set(res["vs_exact"]) == {
            "estimator",
            "encoded",
            "raw frame",
            "raw dicts",
            "record predictor",
            "one dict",
        }
        for path in ("encoded", "one dict"):
            assert res["vs_estimator"][path]["max_rel"] < 1e-5
            assert res["vs_exact"][path]["max_rel"] < 1e-5
