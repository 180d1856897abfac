"""The README's set-up commands are the ones CI runs."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
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
    """.ci/run reads the README's block and runs both lines, in its own venv."""
    script = CI.read_text(encoding="utf-8")
    assert "python3 -m venv" in script and 'source "$VENV/bin/activate"' in script
    # what .ci/run extracts from the README is exactly the README's two lines
    awk = re.search(r"awk '([^']*)' README\.md", script)
    assert awk, ".ci/run no longer reads the README's first code block"
    out = subprocess.run(
        ["awk", awk.group(1), str(README)], capture_output=True, text=True, check=True
    )
    expected = _first_code_block(README.read_text(encoding="utf-8"))
    assert out.stdout.splitlines() == expected
    assert 'bash -euo pipefail -c "$DEMO_COMMAND"' in script
    assert 'bash -euo pipefail -c "$TEST_COMMAND"' in script
    # nothing installs test packages behind the README's back before the tests
    before_tests = script.split('-c "$TEST_COMMAND"')[0]
    assert "pip install" not in before_tests
