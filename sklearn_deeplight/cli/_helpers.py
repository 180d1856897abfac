"""Shared pieces of the ``deeplight`` command.

Exit codes, :class:`UsageError` and the error line, stage progress on
stderr, input and output files (an output written atomically), number and
table formatting, the argparse types and their short metavars, and the
options several commands share (reading a log, ``--trust-pickle``,
``--debug``). Torch-free.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..datasets._ondisk_policy import FORMATS

# Sizes in messages: the on-disk policy's formatting, re-exported for the
# commands so that all their messages say a size alike.
from ..datasets._ondisk_policy import _human_bytes as _human_bytes

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

_EPILOG = """\
exit codes:
  0    success
  1    the command ran and failed: malformed data (the message names the
       line), a file that holds no model, training diverged, a write error
  2    the command line is wrong: unknown or bad option, an input file or an
       output folder that does not exist
  130  interrupted (Ctrl-C)

Progress goes to stderr, results to stdout. --debug prints the traceback of
an error. Models are saved in sklearn_deeplight's safe format
(sklearn_deeplight.save/load), which runs no code when it is read. A pickle or
joblib model (train --pickle, or a file of an older version) is read only with
--trust-pickle: unpickling runs any code the file names, so pass it only for
files you trust.
"""


#: The subcommands' epilog: the full one is in ``deeplight --help`` only.
_SUB_EPILOG = "exit codes, stdout/stderr, --debug, --trust-pickle: see deeplight --help"


class UsageError(Exception):
    """A wrong command line found after parsing (exit code 2)."""


# ----------------------------------------------------------------------
# Small helpers: progress, files, tables
# ----------------------------------------------------------------------
class _Progress:
    """Stage lines with the elapsed time, on stderr (silent with ``quiet``)."""

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet
        self.start = time.perf_counter()
        self.cpu_start = time.process_time()

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def __call__(self, message: str) -> None:
        if not self.quiet:
            print(f"[{self.elapsed():7.1f}s] {message}", file=sys.stderr, flush=True)

    def cpu(self) -> float:
        """CPU seconds of this process since the start (all threads)."""
        return time.process_time() - self.cpu_start

    def detail(self, message: str) -> None:
        if not self.quiet:
            print(f"           {message}", file=sys.stderr, flush=True)


def _error(message: str) -> None:
    print(f"deeplight: error: {message}", file=sys.stderr, flush=True)


def _input_file(path: str, what: str = "file") -> Path:
    """``path`` as a Path; UsageError (exit 2) naming it when it is no file."""
    p = Path(path)
    if not p.exists():
        raise UsageError(f"{what} not found: {path}")
    if not p.is_file():
        raise UsageError(f"{what} is not a file: {path}")
    return p


def _same_file(a: Path, b: Path) -> bool:
    """Whether ``a`` and ``b`` name one file: the same resolved path, or
    (when both exist) the same file through a symbolic or hard link."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet)
        return False


def _output_file(path: str, inputs: dict[str, Path] | None = None) -> Path:
    """Check, before any work, that ``path`` can be written and is none of
    the command's ``inputs`` (what each is, e.g. ``"log file"``, to its path).

    Every command that writes a file passes all the files it reads, so that
    it never replaces its own input (``predict MODEL LOG --out LOG``).
    """
    p = Path(path)
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError(f"output folder not found: {parent} (for {path})")
    if p.is_dir():
        raise UsageError(f"output path is a folder: {path}")
    for what, source in (inputs or {}).items():
        if _same_file(p, source):
            raise UsageError(
                f"--out {path} is the {what} {source}: writing it would replace "
                "the command's own input; choose another output file"
            )
    if not os.access(parent, os.W_OK):
        raise OSError(f"output folder is not writable: {parent}")
    return p


def _atomic_write(path: Path, write: Callable[[str], None]) -> None:
    """Write through a temporary file in the same folder and ``os.replace``.

    A crash or an error while writing leaves an existing ``path`` as it was.
    """
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _num(value: float) -> str:
    """A timing for a table: 3 to 4 significant digits, thousands separated."""
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Plain-text table: first column left-aligned, the others right-aligned."""
    widths = [
        max(len(str(h)), *(len(str(r[i])) for r in rows)) if rows else len(str(h))
        for i, h in enumerate(headers)
    ]

    def line(cells: Sequence[str]) -> str:
        out = [
            str(c).ljust(w) if i == 0 else str(c).rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths))
        ]
        return "  ".join(out).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(r) for r in rows)])


def _structure(**targets: float) -> str:
    """The paper's name of a pruned structure, e.g. ``D-90% R-90% F-40%``.

    D, R and F always appear (the paper's Table 6 names); the other
    components' letters (the registry's ``COMPONENT_LETTERS``, e.g. ``C-``
    for the CIN) only when pruned.
    """
    from .._registry import COMPONENT_LETTERS

    parts = []
    for comp, letter in COMPONENT_LETTERS.items():
        value = targets.get(comp, 0.0)
        if value or comp in ("dnn", "field_pairs", "embeddings"):
            parts.append(f"{letter}-{100 * value:g}%")
    return " ".join(parts)


# ----------------------------------------------------------------------
# Argument types
# ----------------------------------------------------------------------
def _fraction(text: str) -> float:
    """argparse type of a sparsity target: a number in [0, 1]."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 <= value <= 1.0 or math.isnan(value):
        raise argparse.ArgumentTypeError(f"must be in [0, 1], got {text}")
    return value


def _open_fraction(text: str) -> float:
    """argparse type of a fraction in [0, 1): 0 disables."""
    value = _fraction(text)
    if value >= 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text}")
    return value


def _positive_int(text: str) -> int:
    """argparse type of a count: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {text}")
    return value


def _non_negative_int(text: str) -> int:
    """argparse type of an integer >= 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def _positive_float(text: str) -> float:
    """argparse type of a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0 or not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _non_negative_float(text: str) -> float:
    """argparse type of a finite number >= 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value >= 0 or not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def _int_list(text: str) -> tuple[int, ...]:
    """``"400,400,400"`` or ``"400x3"`` as a tuple of positive ints."""
    text = text.strip()
    try:
        if "x" in text:
            width, _, depth = text.partition("x")
            values = (int(width),) * int(depth)
        else:
            values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers (e.g. 400,400,400) or WIDTHxDEPTH "
            f"(e.g. 400x3), got {text!r}"
        ) from None
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(
            f"expected at least one integer, all >= 1, got {text!r}"
        )
    return values


def _name_list(text: str) -> tuple[str, ...]:
    """argparse type of ``"a,b,c"``: column names."""
    names = tuple(v.strip() for v in text.split(",") if v.strip())
    if not names:
        raise argparse.ArgumentTypeError(f"expected column names, got {text!r}")
    return names


_METAVARS: dict[Any, str] = {
    _positive_int: "N",
    _non_negative_int: "N",
    int: "N",
    _positive_float: "F",
    _non_negative_float: "F",
    _open_fraction: "F",
    _fraction: "S",
    _int_list: "INTS",
    _name_list: "COLS",
}


def _subparser(
    sub: argparse._SubParsersAction,
    common: argparse.ArgumentParser,
    name: str,
    help: str,
    description: str,
) -> argparse.ArgumentParser:
    """A subcommand's parser: the common options, the description wrapped,
    the one-line pointer to ``deeplight --help`` as its epilog."""
    return sub.add_parser(
        name,
        parents=[common],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        help=help,
        description=_wrap(description),
        epilog=_SUB_EPILOG,
    )


def _set_metavars(parser: argparse.ArgumentParser) -> None:
    """Short metavars by type (``--epochs N``) where none is given."""
    for action in parser._actions:
        if action.option_strings and action.metavar is None and action.nargs != 0:
            name = _METAVARS.get(action.type)
            if name is not None:
                action.metavar = name


# ----------------------------------------------------------------------
# Options several commands share
# ----------------------------------------------------------------------
def _resolve_format(args, path: Path, progress=None) -> str:
    """``--format``, or the layout guessed from the log's first line when it
    is not given (said on the progress line)."""
    if getattr(args, "format", None) is None:
        from ..datasets._logs import infer_format

        args.format = infer_format(path)
        if progress is not None:
            progress.detail(f"--format {args.format} (guessed from {path.name})")
    return args.format


def _read_options(args) -> dict[str, Any]:
    """The reading options of the command line, for :func:`_iter_log`."""
    if args.numeric and args.format != "csv":
        raise UsageError("--numeric applies to --format csv")
    return dict(
        nrows=args.nrows,
        label=args.label,
        on_bad_lines=args.on_bad_lines,
        numeric=args.numeric,
    )


def _add_read_options(p: argparse.ArgumentParser, *, nrows_default=None) -> None:
    """Add the options that read a log (``--format``, ``--nrows``...) to ``p``."""
    p.add_argument(
        "--format",
        choices=FORMATS,
        default=None,
        help="layout of the log: criteo (Kaggle train.txt: label, I1..I13, "
        "C1..C26, tab-separated, no header), avazu (train.csv with header, "
        "label 'click'; 'id' and 'hour' dropped) or csv (header line, a label "
        "column named by --label, the --numeric columns numeric, the others "
        "categorical); "
        ".gz/.bz2/.xz are read too (criteo, avazu) (default: guessed from the "
        "first line: a header with 'click' and 'hour' is avazu, other "
        "comma-separated lines csv, tab-separated lines criteo)",
    )
    p.add_argument(
        "--nrows",
        type=_positive_int,
        default=nrows_default,
        metavar="N",
        help="read at most N rows"
        + (f" (default: {nrows_default})" if nrows_default else " (default: all)"),
    )
    p.add_argument(
        "--label",
        default="label",
        help="label column of a csv log (default: label)",
    )
    p.add_argument(
        "--numeric",
        type=_name_list,
        default=(),
        metavar="COLS",
        help="csv: comma-separated columns read as numbers (numeric fields); "
        "every other column is categorical (default at train: the columns "
        "whose values in the first 10,000 rows all parse as numbers, not all "
        "whole; whole-number columns, like ids and codes, stay categorical)",
    )
    p.add_argument(
        "--on-bad-lines",
        choices=("error", "warn", "skip"),
        default="error",
        help="a malformed line is an error naming its line number, or is skipped "
        "with a warning or silently (default: error)",
    )


def _add_trust_pickle(p: argparse.ArgumentParser) -> None:
    """Add ``--trust-pickle`` (read a pickle or joblib MODEL) to ``p``."""
    p.add_argument(
        "--trust-pickle",
        action="store_true",
        help="also read a MODEL that is a pickle or joblib file ('train "
        "--pickle', older versions): loading one runs any code stored in it, "
        "so only for files you trust",
    )


def _common(debug_default: Any) -> argparse.ArgumentParser:
    """The parent parser of ``--debug``, shared by the top level and commands."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument(
        "--debug",
        action="store_true",
        default=debug_default,
        help="print the traceback of an error",
    )
    return p


def _wrap(text: str) -> str:
    """Paragraphs (separated by blank lines) filled to 79 columns."""
    return "\n\n".join(textwrap.fill(p, 79) for p in text.split("\n\n"))


# ----------------------------------------------------------------------
# Running: threads and metrics
# ----------------------------------------------------------------------
@contextlib.contextmanager
def _torch_threads(n: int | None) -> Iterator[None]:
    """Torch intra-op threads (and BLAS threads) set to ``n`` for the block."""
    if n is None:
        yield
        return
    from threadpoolctl import threadpool_limits

    torch = sys.modules.get("torch")
    before = torch.get_num_threads() if torch is not None else None
    try:
        if torch is not None:
            torch.set_num_threads(n)
        with threadpool_limits(limits=n):
            yield
    finally:
        if torch is not None:
            torch.set_num_threads(before)


def _metrics(y, p) -> tuple[float, float]:
    """AUC (NaN with a single class) and logloss of probabilities ``p``."""
    from sklearn.metrics import log_loss, roc_auc_score

    auc = float("nan")
    if np.unique(y).shape[0] == 2:
        auc = float(roc_auc_score(y, p))
    return auc, float(log_loss(y, p, labels=[0, 1]))
