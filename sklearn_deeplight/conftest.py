"""pytest settings for the doctests of the package's modules.

The test suite and its fixtures live in the top-level ``tests/``; this file
only shapes ``--doctest-modules``' collection of the package.
"""

from __future__ import annotations

import importlib.util

# ``--doctest-modules`` imports every module: one whose optional dependency
# is absent is left out of the collection instead of failing it (the `test`
# extra installs them all, so the README's test command collects everything).
collect_ignore = [
    module
    for module, needs in [("dask.py", ("dask", "distributed"))]
    if any(importlib.util.find_spec(name) is None for name in needs)
]
