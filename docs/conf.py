"""Sphinx configuration of the sklearn-deeplight documentation.

Build with ``bash docs/build.sh`` (warnings are errors, the example gallery is
executed). ``DEEPLIGHT_DOCS_PLOT=0`` skips running the examples, e.g. while
editing prose; the build script always runs them.
"""

from __future__ import annotations

import os
import re
import sys
import warnings
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(DOCS / "_ext"))
# Import the package from this checkout even when it is not installed.
sys.path.insert(0, str(ROOT))

import sklearn_deeplight  # noqa: E402

# The examples train small networks in this process. The docs are built on
# shared CPU boxes: one torch thread unless told otherwise.
_THREADS = int(os.environ.get("DEEPLIGHT_DOCS_THREADS", "1"))
os.environ.setdefault("OMP_NUM_THREADS", str(_THREADS))
os.environ.setdefault("NUMBA_NUM_THREADS", str(max(_THREADS, 1)))

# -- Project -----------------------------------------------------------------
project = "sklearn-deeplight"
author = "sklearn-deeplight developers"
copyright = "sklearn-deeplight developers, BSD-3-Clause"  # noqa: A001
release = sklearn_deeplight.__version__
version = ".".join(release.split(".")[:2])

# -- General -----------------------------------------------------------------
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "deeplight_docs",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "**/README.rst"]
root_doc = "index"
default_role = "literal"
pygments_style = "sphinx"
# No intersphinx: CI builds offline, and an unreachable inventory is a
# warning, hence an error under -W.

# -- autodoc / autosummary / numpydoc ----------------------------------------
autosummary_generate = True
autosummary_imported_members = False
autodoc_default_options = {"member-order": "groupwise"}
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
numpydoc_xref_param_type = False

# Methods of skorch / scikit-learn base classes that the API pages leave out:
# the pages list what this library defines, except skorch extension points
# (documented by skorch) and get_params/set_params (documented by
# scikit-learn).
_HIDDEN_MEMBERS = {
    "get_params",
    "set_params",
    "initialize",
    "initialize_module",
    "get_loss",
    "get_split_datasets",
    "get_iterator",
    "get_params_for_optimizer",
}


def _skip_member(app, what, name, obj, skip, options):
    if name.startswith("_") or name in _HIDDEN_MEMBERS or name.endswith("_"):
        return True  # fitted attributes are in each class's Attributes section
    if what == "class" and name.startswith("on_"):
        return True  # skorch callback hooks
    if what == "class":
        func = getattr(obj, "__func__", obj)
        func = getattr(func, "fget", func)
        module = getattr(func, "__module__", None) or ""
        if not module.startswith("sklearn_deeplight"):
            return True  # inherited from skorch, scikit-learn or torch
    return skip


# -- sphinx-gallery ----------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "plot_gallery": os.environ.get("DEEPLIGHT_DOCS_PLOT", "True"),
    "abort_on_example_error": False,
    "only_warn_on_example_error": False,
    "doc_module": ("sklearn_deeplight",),
    "backreferences_dir": "generated/backreferences",
    "prefer_full_module": {r"sklearn_deeplight\..*"},
    "reset_modules": ("matplotlib", "deeplight_docs.reset_torch_threads"),
    "within_subsection_order": "FileNameSortKey",
    "remove_config_comments": True,
    "min_reported_time": 1,
    "show_memory": False,
    "write_computation_times": True,
}

# -- HTML --------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"sklearn-deeplight {release}"
html_static_path = ["_static"]
html_css_files = ["custom.css"]
html_show_sourcelink = False
html_theme_options = {
    "navbar_align": "left",
    "show_toc_level": 2,
    "navigation_with_keys": False,
    "header_links_before_dropdown": 7,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_sidebars = {"index": [], "changelog": [], "benchmarks": []}
html_context = {"default_mode": "light"}

# Third-party deprecations raised while importing the examples' dependencies
# are not documentation problems.
warnings.filterwarnings("ignore", category=DeprecationWarning, module="skorch.*")
warnings.filterwarnings("ignore", category=FutureWarning, module="skorch.*")


# A fitted attribute's name in running text, as in "ndarray of shape
# (n_features_in_,)", reads as a reST hyperlink reference (trailing
# underscore) and fails the build. scikit-learn's docstrings write
# (`n_features_in_`,); until this package's do, escape such underscores in
# plain text (not in inline markup, literal blocks, directives or doctests).
_INLINE = re.compile(
    r"(``.+?``|:[\w:.-]+:`[^`]*`|`[^`]+`_{0,2}|\*\*.+?\*\*|\*[^*\s][^*]*\*)"
)
_TRAILING_UNDERSCORE = re.compile(r"(?<![\w\\])([A-Za-z]\w*?)_(?!\w)")


def _escape_trailing_underscores(app, what, name, obj, options, lines):
    block_indent = None  # indentation of the line opening a literal block
    in_doctest = False
    for i, line in enumerate(lines):
        stripped = line.lstrip()
        indent = len(line) - len(stripped)
        if not stripped:
            in_doctest = False
            continue
        if block_indent is not None and indent > block_indent:
            continue
        block_indent = None
        if in_doctest or stripped.startswith(">>>"):
            in_doctest = True
            continue
        if stripped.startswith(".. ") or stripped.endswith("::"):
            block_indent = indent
            if stripped.startswith(".. "):
                continue
        parts = _INLINE.split(line)
        parts[::2] = [_TRAILING_UNDERSCORE.sub(r"\1\\_", p) for p in parts[::2]]
        lines[i] = "".join(parts)


def setup(app):
    app.connect("autodoc-skip-member", _skip_member)
    app.connect("autodoc-process-docstring", _escape_trailing_underscores)
