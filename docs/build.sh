#!/usr/bin/env bash
# Build the HTML documentation with warnings as errors, executing every
# example of the gallery (examples/plot_*.py). Run from anywhere:
#
#     pip install -e ".[docs]"
#     bash docs/build.sh            # -> docs/_build/html/index.html
#
# then checks the built pages (docs/test_build.py).
# The build runs the examples in one process with one torch thread
# (DEEPLIGHT_DOCS_THREADS to change). Extra arguments go to sphinx-build,
# e.g. `bash docs/build.sh -q`. The environment is always rebuilt (-E), so
# that every warning of every page is reported.
set -euo pipefail
cd "$(dirname "$0")/.."

export DEEPLIGHT_DOCS_PLOT=True  # always execute the gallery here
export MPLBACKEND=Agg
start=$SECONDS
# Stale generated pages would hide a renamed or removed public name.
rm -rf docs/generated docs/auto_examples
sphinx-build -W --keep-going -E -b html "$@" docs docs/_build/html
echo "docs built in $((SECONDS - start)) s: docs/_build/html/index.html"
# Check what was built: every public name in the reference, every example of
# the gallery executed with its figure, the benchmarks page up to date.
python -m pytest -q -p no:cacheprovider docs/test_build.py
