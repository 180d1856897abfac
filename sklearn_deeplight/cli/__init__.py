"""The ``deeplight`` command: ``demo``, ``train``, ``predict``, ``bench``, ``serve``,
``compile``.

Installed as the ``deeplight`` console script and run as
``python -m sklearn_deeplight``. :func:`main` takes the argument list and
returns the exit code, so the command is also callable (and testable) from
Python.

- ``deeplight demo`` trains DeepFwFM dense and DeepLight-pruned on generated
  Criteo-shaped click logs (or on a real log with ``--data``), converts both to
  the torch-free :class:`~sklearn_deeplight.SparseCTRPredictor` and prints the
  shape of the paper's Table 5: test AUC and logloss, nonzero parameters,
  saved bytes, latency and speed-up, dense torch against the sparse predictor.
- ``deeplight train LOG --out MODEL`` fits a ``FieldEncoder`` + classifier
  pipeline on a click log (pruning targets as options) and saves the encoder
  + the classifier's torch-free sparse predictor with
  :func:`sklearn_deeplight.save`, a format that runs no code when it is
  loaded. ``--pickle`` saves the encoder + the torch classifier with joblib
  instead (a pickle: only for files you trust). A log larger than
  :data:`~sklearn_deeplight.datasets._ondisk_policy.ON_DISK_BYTES` (or a
  tenth of the available memory) trains through an encoded copy on disk
  (``--on-disk``, see :mod:`sklearn_deeplight._ondisk`).
- ``deeplight predict MODEL LOG`` writes one click probability per line.
- ``deeplight bench MODEL`` times ``predict_proba`` of a saved model.
- ``deeplight serve MODEL`` answers HTTP requests of raw records
  (:mod:`sklearn_deeplight._serve_app`, the ``serve`` extra).
- ``deeplight compile`` compiles the kernels of
  :class:`~sklearn_deeplight.RecordPredictor` ahead of time
  (:func:`sklearn_deeplight.compile_kernels`).

``predict`` and ``bench`` read MODEL with :func:`sklearn_deeplight.load`; a
pickle or joblib file is refused unless ``--trust-pickle`` is given, since
unpickling runs whatever code the file names.

Progress goes to stderr, results (tables, probabilities) to stdout. Nothing
here imports torch at module level: predicting with a saved sparse predictor
runs without it.

Exit codes: 0 success; 1 the command ran and failed (malformed data, a file
that holds no model, training diverged, a write error); 2 the command line is
wrong (unknown or bad option, an input file or output folder that does not
exist); 130 interrupted.

The package holds one module per command (``_demo``, ``_train``,
``_predict``, ``_bench``), each adding its subparser with ``add_parser`` and
running it with its ``_cmd_*`` function; the pieces they share are in
``_helpers`` (exit codes, errors, progress, files, argument types),
``_training`` (fitting with epoch lines, pruning), ``_loading`` (reading a
saved model) and ``_models`` (the model tables). The logs are read by
:mod:`sklearn_deeplight.datasets._logs`; the on-disk decision of ``train`` is
:mod:`sklearn_deeplight.datasets._ondisk_policy`.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import traceback

from . import _bench, _compile, _demo, _predict, _serve, _train
from ._helpers import (
    _EPILOG,
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    UsageError,
    _common,
    _error,
    _set_metavars,
)

__all__ = ["build_parser", "main"]


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The ``deeplight`` argument parser.

    Parameters
    ----------
    prog : str, default=None
        Program name in messages (default ``deeplight``).

    Returns
    -------
    parser : argparse.ArgumentParser
        The parser; each subcommand sets ``func``.
    """
    from .. import __version__

    fmt = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog=prog or "deeplight",
        description="DeepLight CTR models: demo, train, predict, bench, serve, "
        "compile.",
        epilog=_EPILOG,
        formatter_class=fmt,
        parents=[_common(False)],
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    common = _common(argparse.SUPPRESS)

    for module in (_demo, _train, _predict, _bench, _serve, _compile):
        module.add_parser(sub, common)
    for p in sub.choices.values():
        _set_metavars(p)
    return parser


def main(argv: list[str] | None = None, *, prog: str | None = None) -> int:
    """Run the ``deeplight`` command.

    Parameters
    ----------
    argv : list of str, default=None
        The arguments after the program name (default ``sys.argv[1:]``).
    prog : str, default=None
        Program name in messages (default ``deeplight``).

    Returns
    -------
    code : int
        The exit code: 0 success, 1 failure, 2 usage error, 130 interrupted.
    """
    parser = build_parser(prog)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help, --version, usage errors
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    debug = getattr(args, "debug", False)
    try:
        return args.func(args, parser)
    except UsageError as exc:
        if debug:
            traceback.print_exc()
        _error(str(exc))
        return EXIT_USAGE
    except KeyboardInterrupt:
        _error("interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # stdout closed early ("deeplight predict ... | head"): stop quietly,
        # and keep the interpreter's final flush from raising again.
        with contextlib.suppress(OSError, ValueError, AttributeError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return EXIT_FAILURE
    except Exception as exc:
        if debug:
            traceback.print_exc()
        message = str(exc) or type(exc).__name__
        if not isinstance(exc, (ValueError, OSError)):
            message = f"{type(exc).__name__}: {message}"
        _error(message + ("" if debug else " (--debug for the traceback)"))
        return EXIT_FAILURE
