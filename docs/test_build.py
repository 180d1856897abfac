"""The built documentation holds the API reference of every public name.

Part of the docs build, not of the test suite: ``bash docs/build.sh`` runs
this file right after ``sphinx-build`` (run it alone with
``python -m pytest -q docs/test_build.py`` once ``docs/_build/html`` exists;
it fails, not skips, when the HTML has not been built). Reads Sphinx's
inventory (``objects.inv``) for each public object, then opens the page the
inventory points to and finds the object's anchor in it, so a name that is
listed but whose page failed to render is caught too. Also checks that the
example gallery was executed and that the benchmarks page rendered the result
files present when it was built.
"""

from __future__ import annotations

import inspect
import re
import zlib
from pathlib import Path

import pytest

import sklearn_deeplight

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "docs" / "_build" / "html"
GALLERY = ROOT / "docs" / "auto_examples"
EXAMPLES = ROOT / "examples"
RESULTS = ROOT / "benchmarks" / "results"

STALE = "the built docs may be stale: rebuild them with bash docs/build.sh"


def test_docs_built():
    assert (HTML / "objects.inv").is_file(), (
        f"docs not built ({HTML} has no objects.inv): run bash docs/build.sh"
    )


def _inventory() -> dict[str, tuple[str, str]]:
    """Sphinx objects.inv (version 2) as {name: (domain:role, uri)}."""
    if not (HTML / "objects.inv").is_file():
        pytest.fail(f"{HTML} has no objects.inv: run bash docs/build.sh")
    data = (HTML / "objects.inv").read_bytes()
    lines = data.split(b"\n", 4)
    assert lines[0].startswith(b"# Sphinx inventory version 2"), lines[0]
    assert b"zlib" in lines[3]
    body = zlib.decompress(lines[4]).decode("utf-8")
    out = {}
    pattern = re.compile(r"(.+?)\s+(\S+:\S+)\s+(-?\d+)\s+(\S*)\s+(.*)")
    for line in body.splitlines():
        m = pattern.fullmatch(line.rstrip())
        if m:
            name, role, _, uri, _ = m.groups()
            if uri.endswith("$"):
                uri = uri[:-1] + name
            out[name] = (role, uri)
    return out


@pytest.fixture(scope="module")
def inventory():
    return _inventory()


def _expected_objects() -> list[tuple[str, str]]:
    """(fully qualified name, role) of every public object and its members."""
    out = []
    for name in sklearn_deeplight.__all__:
        full = f"sklearn_deeplight.{name}"
        if name == "__version__":
            out.append((full, "py:data"))
            continue
        obj = getattr(sklearn_deeplight, name)
        if inspect.ismodule(obj):
            out.append((full, "py:module"))
            out += [(f"{full}.{sub}", "py:function") for sub in obj.__all__]
        elif inspect.isclass(obj):
            out.append((full, "py:class"))
        else:
            out.append((full, "py:function"))
    return out


EXPECTED = _expected_objects()

# Methods that the seven classifiers' pages must show.
CLASSIFIER_METHODS = (
    "fit",
    "partial_fit",
    "predict_proba",
    "predict",
    "decision_function",
    "sparsity_report",
    "to_sparse",
)


def _find_anchor(uri: str, name: str) -> None:
    page, _, anchor = uri.partition("#")
    path = HTML / page
    assert path.is_file(), f"{name}: {page} is not in the built HTML; {STALE}"
    html = path.read_text(encoding="utf-8")
    assert f'id="{anchor}"' in html, f"{name}: no anchor {anchor!r} in {page}"


@pytest.mark.parametrize("name,role", EXPECTED, ids=[n for n, _ in EXPECTED])
def test_public_name_in_api_reference(inventory, name, role):
    assert name in inventory, f"{name} is not in the API reference; {STALE}"
    found_role, uri = inventory[name]
    assert found_role == role, f"{name} documented as {found_role}, not {role}"
    _find_anchor(uri, name)


def test_api_page_links_every_public_name():
    """api.html, the reference's entry page, links to every public name."""
    html = (HTML / "api.html").read_text(encoding="utf-8")
    for name, _ in EXPECTED:
        assert re.search(rf'href="[^"]*#{re.escape(name)}"', html) or (
            f'id="{name}"' in html or f'id="module-{name}"' in html
        ), f"api.html does not link {name}; {STALE}"


@pytest.mark.parametrize(
    "cls", [n for n in sklearn_deeplight.__all__ if n.endswith("Classifier")]
)
def test_classifier_methods_documented(inventory, cls):
    methods = list(CLASSIFIER_METHODS)
    if hasattr(getattr(sklearn_deeplight, cls), "field_pair_importance"):
        methods.append("field_pair_importance")
    for method in methods:
        name = f"sklearn_deeplight.{cls}.{method}"
        assert name in inventory, f"{name} is not documented; {STALE}"
        _find_anchor(inventory[name][1], name)


def _execution_record() -> dict[str, float]:
    """sphinx-gallery's record of this build: {script: seconds it ran}.

    ``sg_execution_times.rst`` lists every example with its running time, or
    ``N/A`` for one that was not run, whatever ``min_reported_time`` says (that
    option only hides the "Total running time" line of fast examples' pages, so
    that line is no evidence of execution on a fast machine).
    """
    record = GALLERY / "sg_execution_times.rst"
    assert record.is_file(), f"{record} missing; {STALE}"
    out = {}
    for m in re.finditer(
        r"\(``(plot_\w+\.py)``\)\s*\n\s*-\s*(\d+):(\d+\.\d+)",
        record.read_text(encoding="utf-8"),
    ):
        out[m.group(1)] = 60 * int(m.group(2)) + float(m.group(3))
    return out


@pytest.mark.parametrize("script", sorted(p.name for p in EXAMPLES.glob("plot_*.py")))
def test_gallery_example_executed(script):
    """Each example ran in this build, without error, and drew its figure."""
    page = HTML / "auto_examples" / script.replace(".py", ".html")
    assert page.is_file(), f"{page} missing; {STALE}"
    record = _execution_record()
    assert script in record, f"{script} has no execution time: it was not run"
    assert record[script] > 0, f"{script} was not run"
    html = page.read_text(encoding="utf-8")
    assert "Traceback (most recent call last)" not in html, f"{script} failed"
    images = list((HTML / "_images").glob(f"sphx_glr_{Path(script).stem}_*.png"))
    assert images, f"{script} produced no figure"


def test_benchmarks_page_renders_result_files():
    """Result files older than the page are rendered on it."""
    page = HTML / "benchmarks.html"
    html = page.read_text(encoding="utf-8")
    built = page.stat().st_mtime
    files = sorted(RESULTS.glob("*.json")) if RESULTS.is_dir() else []
    rendered = [f for f in files if f.stat().st_mtime < built]
    if not files:
        assert "No result files" in html
    for f in rendered:
        assert f.name in html, f"{f.name} is not on the benchmarks page; {STALE}"
