"""The README's set-up commands are the ones CI runs."""

from __future__ import annotations

import re
import subprocess
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
CI = ROOT / ".ci" / "run"

pytestmark = pytest.mark.skipif(
    not (README.is_file() and CI.is_file()), reason="not a source checkout"
)


def _first_code_block(text: str) -> list[str]:
    match = re.search(r"^```bash\n(.*?)^```$", text, flags=re.S | re.M)
    assert match, "README.md has no bash code block"
    return [line for line in match.group(1).splitlines() if line.strip()]


def test_readme_starts_with_two_commands():
    commands = _first_code_block(README.read_text(encoding="utf-8"))
    assert len(commands) == 2, commands
    demo, tests = commands
    assert demo.endswith("deeplight demo"), demo
    assert tests.endswith("python -m pytest -q"), tests
    # the fresh-machine set-up: the CPU torch build first, then the package
    for command in commands:
        assert command.startswith("pip install torch==2.13.0 && pip install -e ")


def test_ci_runs_the_readme_commands_in_a_fresh_venv():
    """.ci/run runs the README's two lines as written, in its own venv."""
    script = CI.read_text(encoding="utf-8")
    lines = [line.strip() for line in script.splitlines()]
    assert "python3 -m venv" in script and 'source "$VENV/bin/activate"' in script
    demo, tests = _first_code_block(README.read_text(encoding="utf-8"))
    # each README line is a command line of .ci/run, verbatim, demo first
    assert demo in lines and tests in lines
    assert lines.index(demo) < lines.index(tests)
    # the guard that refuses a README that drifted holds the same two lines
    assert f"DEMO_COMMAND='{demo}'" in lines and f"TEST_COMMAND='{tests}'" in lines
    awk = re.search(r"awk '([^']*)' README\.md", script)
    assert awk, ".ci/run no longer checks the README's first code block"
    out = subprocess.run(
        ["awk", awk.group(1), str(README)], capture_output=True, text=True, check=True
    )
    assert out.stdout.splitlines() == [demo, tests]
    # nothing installs packages behind the README's back before the tests
    before = lines[: lines.index(tests)]
    installs = [line for line in before if line.startswith(("pip ", "python -m pip"))]
    assert installs == [demo]


def _python_block(text: str) -> str:
    match = re.search(r"^```python\n(.*?)^```$", text, flags=re.S | re.M)
    assert match, "README.md has no python code block"
    return match.group(1)


@pytest.mark.slow
def test_readme_example_prunes_without_losing_auc():
    """The README's example, pruned under the defaults, scores held-out rows of
    the same generator within 0.005 AUC of the same model trained dense."""
    from sklearn.base import clone
    from sklearn.metrics import roc_auc_score

    from sklearn_deeplight.datasets import make_ctr_classification

    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        namespace: dict = {}
        with warnings.catch_warnings():
            warnings.simplefilter("error", UserWarning)  # no one-shot prune
            exec(_python_block(README.read_text(encoding="utf-8")), namespace)
        model, X, y = namespace["model"], namespace["X"], namespace["y"]
        est = model[-1]
        assert est.history_[-1, "pruned_to_target"]
        report = est.sparsity_report()
        assert report.loc["dnn", "sparsity"] == pytest.approx(0.9, abs=1e-3)
        dense = clone(model).set_params(deepfwfmclassifier__callbacks=None).fit(X, y)
        # held-out rows of the same generator: the README's sample fixes the
        # cardinalities; with them explicit, a larger sample shares its truth
        _, _, truth = make_ctr_classification(
            n_samples=len(X), random_state=0, return_truth=True
        )
        X_all, y_all, truth_all = make_ctr_classification(
            n_samples=2 * len(X),
            cardinalities=truth.cardinalities,
            random_state=0,
            return_truth=True,
        )
        assert truth_all.interactions == truth.interactions
        X_test, y_test = X_all.iloc[len(X) :], y_all[len(X) :]
        pruned_auc = roc_auc_score(y_test, model.predict_proba(X_test)[:, 1])
        dense_auc = roc_auc_score(y_test, dense.predict_proba(X_test)[:, 1])
        print(f"\nREADME example: dense AUC {dense_auc:.4f}, pruned {pruned_auc:.4f}")
        assert pruned_auc >= dense_auc - 0.005
        assert dense_auc > 0.6  # both learnt something
    finally:
        torch.set_num_threads(threads)
