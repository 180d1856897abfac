"""``deeplight compile``: compile the serving kernels ahead of time.

Runs :func:`sklearn_deeplight.compile_kernels`: the extension module a
:class:`~sklearn_deeplight.RecordPredictor` scores with instead of numba, for
this machine's CPU and environment, written to ``--dir`` or
:func:`sklearn_deeplight.kernel_dir`. Prints the module's path on stdout.
"""

from __future__ import annotations

import argparse

from ._helpers import EXIT_OK, _Progress, _subparser


def add_parser(
    sub: argparse._SubParsersAction, common: argparse.ArgumentParser
) -> None:
    """Add ``compile`` to the subparsers ``sub``."""
    p = _subparser(
        sub,
        common,
        "compile",
        help="compile the serving kernels ahead of time (RecordPredictor)",
        description="Compile the kernels a RecordPredictor scores with into an "
        "extension module for this machine's CPU and this Python, numpy and "
        "numba (numba.pycc: needs setuptools, the 'aot' extra, and a C "
        "compiler), so that a serving process that loads a RecordPredictor "
        "imports neither numba nor its compiler. Run it once where the model "
        "is served (in a container image: at build time). A module already "
        "built for this configuration is kept. Prints the module's path.",
    )
    p.add_argument(
        "--dir",
        default=None,
        metavar="DIR",
        help="where to write the module (default: $DEEPLIGHT_KERNEL_DIR, else "
        "sklearn_deeplight/kernels in the user's cache folder), where a "
        "RecordPredictor looks for it",
    )
    p.set_defaults(func=_cmd_compile)


def _cmd_compile(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from .._aot import compile_kernels

    progress = _Progress()
    progress("compiling the serving kernels (numba.pycc)")
    path = compile_kernels(args.dir)
    progress(f"done: {path}")
    print(path)
    return EXIT_OK
