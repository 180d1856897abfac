"""Smoke test of the benchmark scripts (``python -m benchmarks``).

The end-to-end ``all --quick`` run takes minutes on a loaded 2-core machine,
so by default this checks the report generator on synthetic JSON and the
entry point's argument parsing; set ``DEEPLIGHT_BENCH_E2E=1`` to also run
``python -m benchmarks all --quick`` in a subprocess (needs ../shared/data
and deepctr-torch for the real-data parts, which skip cleanly otherwise).
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
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


def test_quick_tables_small_slice():
    pytest.importorskip("matplotlib")
    sys.path.insert(0, str(ROOT))
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


@pytest.mark.skipif(
    os.environ.get("DEEPLIGHT_BENCH_E2E") != "1",
    reason="set DEEPLIGHT_BENCH_E2E=1 for the minutes-long end-to-end run",
)
def test_all_quick_end_to_end():
    r = subprocess.run(
        [sys.executable, "-m", "benchmarks", "all", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert (ROOT / "benchmarks/results/quick_report.tmp/benchmarks.md").exists()
