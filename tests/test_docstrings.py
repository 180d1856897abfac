"""Every public name has a numpydoc docstring that documents its parameters.

"Public" is ``sklearn_deeplight.__all__`` (the functions of the
``datasets`` module it exports included) and the public methods those
classes define. Checked with numpydoc's parser:

- the docstring parses without numpydoc warnings (unknown sections...);
- every parameter of ``__init__`` (classes) or of the signature (functions,
  methods) is in the Parameters section, and nothing else is;
- classes have Attributes, functions Returns (unless they return None);
- classes and functions have an Examples section with at least one doctest
  that runs (``setup.cfg`` runs the package's doctests with the test suite,
  ``--doctest-modules``), importing from public paths only, and a See Also
  section.

Gaps found in modules this test does not own are ``xfail(strict=True)`` with
the reason, so that fixing one makes the test fail until the mark is removed.
"""

from __future__ import annotations

import doctest
import inspect
import re
import warnings

import pytest

import sklearn_deeplight

numpydoc_docscrape = pytest.importorskip(
    "numpydoc.docscrape", reason="numpydoc is in the test extra"
)

# Methods of the estimators that are skorch extension points or scikit-learn's
# get_params/set_params: documented by skorch and scikit-learn, left out of
# the API pages (docs/conf.py hides the same names).
HIDDEN_METHODS = {
    "get_params",
    "set_params",
    "initialize",
    "initialize_module",
    "get_loss",
    "get_split_datasets",
    "get_iterator",
    "get_params_for_optimizer",
}

# Known gaps in docstrings of modules owned elsewhere: (name, check) -> reason.
KNOWN_GAPS: dict[tuple[str, str], str] = {}


def _public_objects() -> dict[str, object]:
    """Name -> object for every public class and function.

    The names of ``__all__``, those of the submodules it exports, and those
    of :mod:`sklearn_deeplight.dask` (a public module outside ``__all__``,
    importable with the ``dask`` extra).
    """
    out = {}
    modules = {}
    for name in sklearn_deeplight.__all__:
        obj = getattr(sklearn_deeplight, name)
        if inspect.ismodule(obj):
            modules[name] = obj
        elif inspect.isclass(obj) or inspect.isfunction(obj):
            out[name] = obj
    try:
        from sklearn_deeplight import dask as dask_module
    except ImportError:
        pass
    else:
        modules["dask"] = dask_module
    for name, module in modules.items():
        for sub in module.__all__:
            out[f"{name}.{sub}"] = getattr(module, sub)
    return out


PUBLIC = _public_objects()
CLASSES = sorted(n for n, o in PUBLIC.items() if inspect.isclass(o))
FUNCTIONS = sorted(n for n, o in PUBLIC.items() if inspect.isfunction(o))


def _public_methods() -> dict[str, object]:
    """'Class.method' -> function, for the methods the API pages show."""
    out = {}
    for cls_name in CLASSES:
        cls = PUBLIC[cls_name]
        for name, attr in inspect.getmembers(cls):
            if name.startswith("_") or name.endswith("_") or name in HIDDEN_METHODS:
                continue
            if name.startswith("on_"):  # skorch callback hooks
                continue
            func = getattr(attr, "__func__", attr)
            if not inspect.isfunction(func):
                continue
            if not (func.__module__ or "").startswith("sklearn_deeplight"):
                continue  # inherited from skorch or scikit-learn
            out[f"{cls_name}.{name}"] = attr
    return out


METHODS = _public_methods()


def _params(names: list[str], check: str) -> list:
    """pytest params, xfail(strict) where KNOWN_GAPS lists a gap."""
    out = []
    for name in names:
        reason = KNOWN_GAPS.get((name, check))
        marks = [pytest.mark.xfail(reason=reason, strict=True)] if reason else []
        out.append(pytest.param(name, marks=marks, id=name))
    return out


def _doc(obj, name: str):
    """numpydoc's parse of ``obj``'s docstring; numpydoc warnings fail."""
    text = inspect.getdoc(obj)
    assert text, f"{name} has no docstring"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return numpydoc_docscrape.NumpyDocString(text)


def _documented(doc) -> list[str]:
    """Names in Parameters and Other Parameters ("X, y : ..." counts both)."""
    names = []
    for section in ("Parameters", "Other Parameters"):
        for param in doc[section]:
            names += [n.strip().lstrip("*") for n in param.name.split(",")]
    return [n for n in names if n]


def _signature_params(func, skip_first: bool) -> list[str]:
    params = list(inspect.signature(func).parameters.values())
    if skip_first:
        params = params[1:]
    return [p.name for p in params]


def test_public_names_are_found():
    """The walk covers every name of __all__ but the version string."""
    covered = {n.split(".")[0] for n in PUBLIC} - {"dask"}
    assert covered == set(sklearn_deeplight.__all__) - {"__version__"}
    assert CLASSES and FUNCTIONS and METHODS


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_docstring_parses(name):
    doc = _doc(PUBLIC[name], name)
    assert " ".join(doc["Summary"]).strip(), f"{name}: no summary line"


@pytest.mark.parametrize("name", _params(CLASSES, "parameters"))
def test_class_parameters_documented(name):
    cls = PUBLIC[name]
    doc = _doc(cls, name)
    expected = _signature_params(cls.__init__, skip_first=True)
    documented = _documented(doc)
    assert [p for p in expected if p not in documented] == [], (
        f"{name}.__init__ parameters missing from the docstring"
    )
    assert [p for p in documented if p not in expected] == [], (
        f"{name} documents parameters that __init__ does not take"
    )


@pytest.mark.parametrize("name", _params(FUNCTIONS, "parameters"))
def test_function_parameters_documented(name):
    func = PUBLIC[name]
    doc = _doc(func, name)
    expected = _signature_params(func, skip_first=False)
    documented = _documented(doc)
    assert [p for p in expected if p not in documented] == [], (
        f"{name} parameters missing from the docstring"
    )
    assert [p for p in documented if p not in expected] == [], (
        f"{name} documents parameters it does not take"
    )


def _owner_and_attr(name: str) -> tuple[type, str]:
    """'dask.TorchThreads.setup' -> (TorchThreads, 'setup')."""
    owner, attr = name.rsplit(".", 1)
    return PUBLIC[owner], attr


@pytest.mark.parametrize("name", _params(sorted(METHODS), "parameters"))
def test_method_parameters_documented(name):
    method = METHODS[name]
    doc = _doc(method, name)
    func = getattr(method, "__func__", method)
    is_static = isinstance(
        inspect.getattr_static(*_owner_and_attr(name)),
        staticmethod,
    )
    expected = _signature_params(func, skip_first=not is_static)
    documented = _documented(doc)
    assert [p for p in expected if p not in documented] == [], (
        f"{name} parameters missing from the docstring"
    )
    assert [p for p in documented if p not in expected] == [], (
        f"{name} documents parameters it does not take"
    )


@pytest.mark.parametrize("name", _params(CLASSES, "attributes"))
def test_class_attributes_documented(name):
    doc = _doc(PUBLIC[name], name)
    assert doc["Attributes"], f"{name} has no Attributes section"


@pytest.mark.parametrize("name", _params(FUNCTIONS, "returns"))
def test_function_returns_documented(name):
    func = PUBLIC[name]
    doc = _doc(func, name)
    if inspect.signature(func).return_annotation in (None, "None"):
        return
    assert doc["Returns"] or doc["Yields"], f"{name} has no Returns section"


@pytest.mark.parametrize("name", _params(sorted(METHODS), "returns"))
def test_method_returns_documented(name):
    """Returns (or, for a method that always raises, Raises) is documented."""
    method = METHODS[name]
    doc = _doc(method, name)
    if inspect.signature(method).return_annotation in (None, "None"):
        return
    assert doc["Returns"] or doc["Yields"] or doc["Raises"], (
        f"{name} has no Returns section"
    )


@pytest.mark.parametrize("name", _params(sorted(PUBLIC), "examples"))
def test_examples_are_doctests(name):
    """An Examples section whose doctests run (not all skipped)."""
    obj = PUBLIC[name]
    doc = _doc(obj, name)
    assert doc["Examples"], f"{name} has no Examples section"
    tests = doctest.DocTestFinder(recurse=False).find(obj, name)
    examples = [ex for t in tests for ex in t.examples]
    assert examples, f"{name}: the Examples section holds no doctest"
    assert any(not ex.options.get(doctest.SKIP) for ex in examples), (
        f"{name}: every doctest example is skipped"
    )


@pytest.mark.parametrize("name", _params(sorted(PUBLIC), "see_also"))
def test_see_also(name):
    doc = _doc(PUBLIC[name], name)
    assert doc["See Also"], f"{name} has no See Also section"


@pytest.mark.parametrize("name", _params(sorted(PUBLIC), "public_import"))
def test_examples_import_public_paths(name):
    """Examples teach the public import path, never a private module."""
    doc = _doc(PUBLIC[name], name)
    private = [
        line.strip()
        for line in doc["Examples"]
        if re.search(r"\bsklearn_deeplight(\.\w+)*\._\w+", line)
    ]
    assert private == [], f"{name}: examples import private modules: {private}"
