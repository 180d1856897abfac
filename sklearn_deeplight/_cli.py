"""The ``deeplight`` command: ``demo``, ``train``, ``predict`` and ``bench``.

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
  :data:`ON_DISK_BYTES` (or a tenth of the available memory) trains through
  an encoded copy on disk (``--on-disk``, see :mod:`sklearn_deeplight._ondisk`).
- ``deeplight predict MODEL LOG`` writes one click probability per line.
- ``deeplight bench MODEL`` times ``predict_proba`` of a saved model.

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
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import os
import shutil
import sys
import tempfile
import textwrap
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ._timing import time_interleaved

__all__ = ["main"]

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

FORMATS = ("criteo", "avazu", "csv")

#: ``--model`` names and their classifiers (attribute names of the package).
MODELS = {
    "lr": "LRClassifier",
    "fm": "FMClassifier",
    "fwfm": "FwFMClassifier",
    "deepfm": "DeepFMClassifier",
    "nfm": "NFMClassifier",
    "xdeepfm": "XDeepFMClassifier",
    "deepfwfm": "DeepFwFMClassifier",
}

#: The models that have each prunable component (see ``DeepLightPruning``).
PRUNABLE = {
    "dnn": ("deepfm", "nfm", "xdeepfm", "deepfwfm"),
    "field_pairs": ("fwfm", "deepfwfm"),
    "embeddings": ("fm", "fwfm", "deepfm", "nfm", "xdeepfm", "deepfwfm"),
    "cin": ("xdeepfm",),
}

#: The models with a DNN (``hidden_units``, ``dropout``).
DEEP_MODELS = ("deepfm", "nfm", "xdeepfm", "deepfwfm")

# The demo's generated data: the generator's Criteo-like spread of the 26
# categorical cardinalities, capped at this many values per field. With the
# generator's own cap (n_samples / 20) most values of 200,000 rows are seen a
# handful of times and a 3-epoch DeepFwFM reaches a test AUC of about 0.71;
# with 300 it learns the planted pairs to about 0.74 (the true probabilities
# give 0.87), which makes dense against pruned a comparison worth printing.
DEMO_CARDINALITY_CAP = 300

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

#: ``deeplight train --on-disk auto`` trains through an encoded copy on disk
#: when the log is larger than this many bytes, or than a tenth of the
#: available memory (``ON_DISK_MEMORY_RATIO``) if that is less. The in-memory
#: path holds the raw columns and their encoding, about 10 times the log's
#: size at its peak (2.6 GB for a 245 MB Criteo-shaped log of 1M rows,
#: ``benchmarks/results/scale.json``). A compressed log counts
#: ``COMPRESSED_RATIO`` times its size. The environment variable
#: ``DEEPLIGHT_ON_DISK_BYTES`` replaces the threshold.
ON_DISK_BYTES = 1 << 30
ON_DISK_MEMORY_RATIO = 10
COMPRESSED_RATIO = 4
ON_DISK_ENV = "DEEPLIGHT_ON_DISK_BYTES"
COMPRESSED_SUFFIXES = (".gz", ".bz2", ".xz")


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


def _output_file(path: str) -> Path:
    """Check, before any work, that ``path`` can be written."""
    p = Path(path)
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError(f"output folder not found: {parent} (for {path})")
    if p.is_dir():
        raise UsageError(f"output path is a folder: {path}")
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


def _human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError  # pragma: no cover


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
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {text}")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0 or not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _non_negative_float(text: str) -> float:
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


def _structure(dnn: float, field_pairs: float, embeddings: float, cin=0.0) -> str:
    """The paper's name of a pruned structure, e.g. ``D-90% R-90% F-40%``."""
    parts = []
    for letter, value in (("D", dnn), ("R", field_pairs), ("F", embeddings)):
        parts.append(f"{letter}-{100 * value:g}%")
    if cin:
        parts.append(f"C-{100 * cin:g}%")
    return " ".join(parts)


# ----------------------------------------------------------------------
# Reading logs
# ----------------------------------------------------------------------
def _iter_log(
    path: Path,
    fmt: str,
    *,
    nrows: int | None = None,
    label: str = "label",
    on_bad_lines: str = "error",
    require_label: bool = True,
    chunksize: int = 100_000,
    numeric: Sequence[str] = (),
) -> Iterator[tuple[Any, np.ndarray | None]]:
    """Read a click log in chunks of ``(X, y)``, ``y`` None for an unlabelled CSV.

    Raises ValueError naming the file (and the line, for a malformed one)
    when the log cannot be read or holds no row.
    """
    from .datasets import load_avazu, load_criteo

    n = 0
    if fmt == "criteo":
        chunks = load_criteo(
            path, nrows=nrows, chunksize=chunksize, on_bad_lines=on_bad_lines
        )
    elif fmt == "avazu":
        chunks = load_avazu(
            path, nrows=nrows, chunksize=chunksize, on_bad_lines=on_bad_lines
        )
    elif fmt == "csv":
        chunks = _iter_csv(path, nrows, chunksize, label, require_label, numeric)
    else:  # pragma: no cover - argparse restricts the choices
        raise UsageError(f"unknown format {fmt!r}")
    for X, y in chunks:
        if len(X):
            n += len(X)
            yield X, y
    if n == 0:
        raise ValueError(f"{path}: no rows to read")


def _iter_csv(
    path: Path,
    nrows: int | None,
    chunksize: int,
    label: str,
    require_label: bool,
    numeric: Sequence[str],
) -> Iterator[tuple[Any, np.ndarray | None]]:
    """Chunks of a CSV log with a header line; the ``label`` column is ``y``.

    Every column is read as text (an empty field is missing), so that a
    column's kind never depends on its values; the ``numeric`` columns are
    then converted to float64 (numeric fields), the label to integers when it
    holds only integers.
    """
    import pandas as pd

    try:
        reader = pd.read_csv(
            path,
            nrows=nrows,
            chunksize=chunksize,
            dtype=str,
            keep_default_na=False,
            na_values=[""],
        )
        for df in reader:
            missing = [c for c in numeric if c not in df.columns]
            if missing:
                raise ValueError(
                    f"--numeric: no column {missing[0]!r} in {path} (columns: "
                    f"{list(df.columns)[:10]})"
                )
            for c in numeric:
                values = pd.to_numeric(df[c], errors="coerce")
                bad = values.isna() & df[c].notna()
                if bad.any():
                    row = int(np.flatnonzero(bad.to_numpy())[0])
                    raise ValueError(
                        f"{path}: numeric column {c!r} holds "
                        f"{df[c].iloc[row]!r} (line {df.index[row] + 2})"
                    )
                df[c] = values.astype(np.float64)
            if label in df.columns:
                y = df.pop(label)
                if y.isna().any():
                    raise ValueError(f"{path}: the label column {label!r} has gaps")
                as_int = pd.to_numeric(y, errors="coerce")
                y = y.to_numpy() if as_int.isna().any() else as_int.to_numpy()
            elif require_label:
                raise ValueError(
                    f"{path}: no label column {label!r} among the columns "
                    f"{list(df.columns)[:10]}; name it with --label"
                )
            else:
                y = None
            yield df, y
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not a readable CSV file: {exc}") from None
    except pd.errors.EmptyDataError:
        raise ValueError(f"{path}: the file is empty") from None


def _read_log(path: Path, fmt: str, **kwargs) -> tuple[Any, np.ndarray | None]:
    """The whole log as one ``(X, y)`` (see :func:`_iter_log`)."""
    import pandas as pd

    chunks = list(_iter_log(path, fmt, **kwargs))
    if len(chunks) == 1:
        return chunks[0]
    X = pd.concat([X for X, _ in chunks], ignore_index=True)
    ys = [y for _, y in chunks]
    y = None if ys[0] is None else np.concatenate(ys)
    return X, y


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
    p.add_argument(
        "--format",
        choices=FORMATS,
        default="criteo",
        help="layout of the log: criteo (Kaggle train.txt: label, I1..I13, "
        "C1..C26, tab-separated, no header), avazu (train.csv with header, "
        "label 'click'; 'id' and 'hour' dropped) or csv (header line, a label "
        "column named by --label, the --numeric columns numeric, the others "
        "categorical); "
        ".gz/.bz2/.xz are read too (criteo, avazu) (default: criteo)",
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
        "every other column is categorical (default: none)",
    )
    p.add_argument(
        "--on-bad-lines",
        choices=("error", "warn", "skip"),
        default="error",
        help="a malformed line is an error naming its line number, or is skipped "
        "with a warning or silently (default: error)",
    )


# ----------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------
def _epoch_progress(log: Callable[[str], None]):
    """A skorch callback printing one line per epoch (built lazily: skorch)."""
    from skorch.callbacks import Callback

    class EpochProgress(Callback):
        def on_epoch_end(self, net, **kwargs):
            h = net.history[-1]
            parts = [f"epoch {h['epoch']}/{net.max_epochs}"]
            if h.get("train_loss") is not None:
                parts.append(f"train loss {h['train_loss']:.4f}")
            if h.get("valid_auc") is not None and not math.isnan(h["valid_auc"]):
                parts.append(f"valid AUC {h['valid_auc']:.4f}")
            sparsity = [
                f"{comp} {h[f'sparsity_{comp}']:.0%}"
                for comp in ("dnn", "field_pairs", "embeddings", "cin")
                if f"sparsity_{comp}" in h
            ]
            if sparsity:
                parts.append("sparsity " + " ".join(sparsity))
            if h.get("dur") is not None:
                parts.append(f"{h['dur']:.1f}s")
            log(", ".join(parts))

    return EpochProgress()


def _strip_progress(est) -> None:
    """Remove the progress callback after fit so that the model pickles."""
    callbacks = [(n, c) for n, c in (est.callbacks or []) if n != "progress"]
    est.callbacks = callbacks or None
    if hasattr(est, "callbacks_"):
        est.callbacks_ = [(n, c) for n, c in est.callbacks_ if n != "progress"]


def _fit_with_progress(est, X, y, progress: _Progress, *, fit=None):
    """Fit ``est`` with an epoch line per epoch on stderr (skorch logs too).

    ``fit``, when given, is called with ``est`` instead of ``est.fit(X, y)``
    (the on-disk path: ``fit_ondisk``).
    """
    callbacks = list(est.callbacks or [])
    if not progress.quiet:
        callbacks.append(("progress", _epoch_progress(progress.detail)))
    est.callbacks = callbacks or None
    try:
        with contextlib.redirect_stdout(sys.stderr):
            if fit is None:
                est.fit(X, y)
            else:
                fit(est)
    finally:
        _strip_progress(est)
    if _interrupted(est):
        raise KeyboardInterrupt
    return est


def _interrupted(est) -> bool:
    """Whether Ctrl-C stopped ``est.fit`` (skorch returns as if it ended).

    skorch ends training quietly on KeyboardInterrupt, which is also how its
    early stopping stops: training was interrupted when it ended before
    ``max_epochs`` complete epochs without early stopping having stopped it.
    """
    history = est.history
    complete = len(history) == est.max_epochs and "dur" in history[-1]
    if complete:
        return False
    for name, cb in getattr(est, "callbacks_", []):
        if name == "early_stopping" and cb.misses_ >= cb.patience:
            return False
    return True


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


def _pruning_callback(
    targets: dict[str, float], warm_up_epochs: int, max_epochs: int
) -> list[tuple[str, Any]] | None:
    """``[("prune", DeepLightPruning(...))]`` under the library's defaults, or None.

    The schedule is scaled to the run (``damping_steps="auto"``): the ramp
    ends after 28.5% of the pruning iterations (of at most 8 epochs), the
    rest fine-tunes the pruned network (see ``DeepLightPruning``); only the
    warm-up is the command's.
    """
    if not any(targets.values()):
        return None
    from ._pruning import DeepLightPruning

    prune = DeepLightPruning(**targets, warm_up_epochs=min(warm_up_epochs, max_epochs))
    return [("prune", prune)]


def _default_warm_up(epochs: int) -> int:
    """Dense epochs before pruning: the library's one (none for one epoch)."""
    return 0 if epochs <= 1 else 1


# ----------------------------------------------------------------------
# Latency
# ----------------------------------------------------------------------
# ----------------------------------------------------------------------
# demo
# ----------------------------------------------------------------------
@dataclass(frozen=True)
class DemoConfig:
    """Sizes and training settings of one demo run."""

    n_samples: int = 200_000
    cardinality_cap: int = DEMO_CARDINALITY_CAP
    test_fraction: float = 0.2
    min_frequency: int = 2
    embedding_dim: int = 10
    hidden_units: tuple[int, ...] = (100, 100, 100)
    batch_size: int = 2048
    epochs: int = 10
    warm_up_epochs: int = 1
    # early stopping at full sparsity and LR decay on a 10% validation split
    # (None: a fixed number of epochs on all training rows)
    patience: int | None = 2
    lr_patience: int | None = 1
    lr: float = 3e-3
    embedding_l2: float = 0.0
    latency_batch: int = 4096
    rounds: int = 3
    min_seconds: float = 0.2


#: ``deeplight demo``: k=10, DNN 100x3, up to 10 epochs of 144,000 rows with
#: early stopping at full sparsity (about 3.5 s of CPU per epoch; 200x3 and
#: 400x3 cost about 1.6x and 2.2x that); the whole demo takes about 75 s on an
#: idle 2-core machine, several minutes on a shared one.
DEMO_FULL = DemoConfig()

#: ``deeplight demo --quick``: seconds (CI).
DEMO_QUICK = DemoConfig(
    n_samples=5_000,
    cardinality_cap=50,
    embedding_dim=4,
    hidden_units=(32, 32),
    batch_size=256,
    epochs=2,
    warm_up_epochs=1,
    patience=None,
    lr_patience=None,
    latency_batch=512,
    rounds=2,
    min_seconds=0.01,
)

#: ``deeplight demo --data`` with fewer than 100,000 training rows: the
#: settings of the library's real-data test on the Criteo head (8,000 rows).
DEMO_SMALL_LOG = DemoConfig(
    min_frequency=4,
    hidden_units=(64, 64),
    batch_size=512,
    epochs=15,
    warm_up_epochs=1,
    embedding_l2=3e-3,
)


def _demo_config(args, n_train: int | None) -> DemoConfig:
    """The profile of this run with the command line's overrides."""
    if args.quick:
        cfg = DEMO_QUICK
    elif n_train is not None and n_train < 100_000:
        cfg = DEMO_SMALL_LOG
    else:
        cfg = DEMO_FULL
    overrides = {
        "n_samples": args.rows,
        "embedding_dim": args.embedding_dim,
        "hidden_units": args.hidden,
        "batch_size": args.batch_size,
        "epochs": args.epochs,
        "warm_up_epochs": args.warm_up_epochs,
        "lr": args.lr,
        "embedding_l2": args.embedding_l2,
        "min_frequency": args.min_frequency,
        "latency_batch": args.latency_batch,
    }
    cfg = replace(cfg, **{k: v for k, v in overrides.items() if v is not None})
    if args.epochs is not None and args.warm_up_epochs is None:
        cfg = replace(cfg, warm_up_epochs=_default_warm_up(cfg.epochs))
    if cfg.warm_up_epochs >= cfg.epochs:
        raise UsageError(
            f"--warm-up-epochs {cfg.warm_up_epochs} leaves no pruning epoch in "
            f"{cfg.epochs} epochs: use fewer warm-up epochs or more epochs"
        )
    return cfg


def _epochs_text(cfg: DemoConfig) -> str:
    if cfg.patience is None:
        return f"{cfg.epochs} epochs"
    return (
        f"up to {cfg.epochs} epochs (early stopping: patience {cfg.patience}, "
        f"lr_patience {cfg.lr_patience}, 10% validation split)"
    )


def _demo_data(args, progress: _Progress):
    """Raw train and test rows, the true test probabilities, descriptions."""
    from sklearn.model_selection import train_test_split

    ceiling = None
    if args.data is None:
        from .datasets import make_ctr_classification
        from .datasets._generator import _CRITEO_LIKE_CARDINALITIES

        cfg = _demo_config(args, None)
        cards = [min(c, cfg.cardinality_cap) for c in _CRITEO_LIKE_CARDINALITIES]
        progress(
            f"generating {cfg.n_samples:,} Criteo-shaped rows (13 numeric and 26 "
            f"categorical fields, Zipf values, at most {cfg.cardinality_cap} values "
            f"per field, planted field pairs; seed {args.seed})"
        )
        X, y, truth = make_ctr_classification(
            cfg.n_samples,
            cardinalities=cards,
            return_truth=True,
            random_state=args.seed,
        )
        n_test = max(1, int(round(cfg.test_fraction * len(y))))
        X_train, X_test = X.iloc[:-n_test], X.iloc[-n_test:]
        y_train, y_test = y[:-n_test], y[-n_test:]
        ceiling = truth.proba[-n_test:]
        source = f"{cfg.n_samples:,} generated Criteo-shaped rows"
        split = "i.i.d. rows, last 20% held out"
        fmt = "criteo"
    else:
        path = _input_file(args.data, "data file")
        progress(f"reading {path} ({args.format} format)")
        X, y = _read_log(
            path,
            args.format,
            **_read_options(args),
        )
        if len(y) < 50:
            raise ValueError(f"{path}: {len(y)} rows are too few for the demo")
        n_test = max(1, int(round(0.2 * len(y))))
        if args.format == "criteo":
            # Criteo's train.txt is chronological: train on the past.
            X_train, X_test = X.iloc[:-n_test], X.iloc[-n_test:]
            y_train, y_test = y[:-n_test], y[-n_test:]
            split = "time split, first 80% train, last 20% test"
        else:
            X_train, X_test, y_train, y_test = train_test_split(
                X, y, test_size=n_test, random_state=args.seed
            )
            split = f"random 80/20 split (seed {args.seed})"
        source = f"{len(y):,} rows of {path.name}"
        fmt = args.format
    return X_train, X_test, y_train, y_test, ceiling, source, split, fmt


def _nonzero_torch(module) -> tuple[int, int]:
    import torch

    total = nonzero = 0
    for p in module.parameters():
        total += p.numel()
        nonzero += int(torch.count_nonzero(p.detach()))
    return nonzero, total


def _state_dict_bytes(module) -> int:
    import torch

    buf = io.BytesIO()
    torch.save(module.state_dict(), buf)
    return buf.getbuffer().nbytes


def _saved_bytes(obj, folder: str, name: str) -> int:
    import joblib

    path = os.path.join(folder, name)
    joblib.dump(obj, path)
    return os.path.getsize(path)


def _metrics(y, p) -> tuple[float, float]:
    from sklearn.metrics import log_loss, roc_auc_score

    auc = float("nan")
    if np.unique(y).shape[0] == 2:
        auc = float(roc_auc_score(y, p))
    return auc, float(log_loss(y, p, labels=[0, 1]))


def _cmd_demo(args) -> int:
    import torch

    from . import DeepFwFMClassifier, FieldEncoder

    progress = _Progress(args.quiet)
    t_start = time.perf_counter()
    targets = {
        "dnn": args.dnn,
        "field_pairs": args.field_pairs,
        "embeddings": args.embeddings,
    }
    if not any(targets.values()):
        raise UsageError("the pruned model needs a target above 0 (--dnn ...)")
    if args.data is None and args.nrows is not None:
        raise UsageError("--nrows applies to --data; use --rows for generated data")
    if args.data is not None and args.rows is not None:
        raise UsageError("--rows sizes the generated data; use --nrows with --data")
    if args.rows is not None and args.rows < 100:
        raise UsageError(f"--rows must be >= 100, got {args.rows}")

    X_train, X_test, y_train, y_test, ceiling, source, split, fmt = _demo_data(
        args, progress
    )
    cfg = _demo_config(args, None if args.data is None else len(y_train))
    if cfg.epochs < 2:
        raise UsageError("the demo needs --epochs >= 2 (warm-up and pruning)")

    encoder = FieldEncoder(
        numeric_transform="criteo" if fmt == "criteo" else None,
        min_frequency=cfg.min_frequency,
    )
    Xtr = encoder.fit_transform(X_train)
    Xte = encoder.transform(X_test)
    n_rows_table = int(encoder.field_dims_.sum())
    progress(
        f"encoded: {len(y_train):,} train / {len(y_test):,} test rows ({split}), "
        f"{Xtr.shape[1]} fields, {n_rows_table:,} embedding rows "
        f"(values seen < {cfg.min_frequency} times share a field's OOV row)"
    )

    hidden = "x".join(str(h) for h in cfg.hidden_units)
    settings = dict(
        embedding_dim=cfg.embedding_dim,
        hidden_units=cfg.hidden_units,
        batch_size=cfg.batch_size,
        max_epochs=cfg.epochs,
        lr=cfg.lr,
        embedding_l2=cfg.embedding_l2,
        validation_fraction=None if cfg.patience is None else 0.1,
        patience=cfg.patience,
        lr_patience=cfg.lr_patience,
        random_state=args.seed,
    )
    structure = _structure(**targets)
    with _torch_threads(args.threads):
        progress(
            f"training dense DeepFwFM: k={cfg.embedding_dim}, DNN {hidden}, "
            f"batch {cfg.batch_size}, {_epochs_text(cfg)}, lr {cfg.lr:g}, "
            f"torch threads {torch.get_num_threads()}"
        )
        t0 = time.perf_counter()
        dense = DeepFwFMClassifier(**settings)
        _fit_with_progress(dense, Xtr, y_train, progress)
        fit_dense = time.perf_counter() - t0
        progress(
            f"training pruned DeepFwFM {structure}: same settings, "
            f"{cfg.warm_up_epochs} dense warm-up epoch(s), then the DeepLight "
            f"schedule scaled to {cfg.epochs - cfg.warm_up_epochs} pruning "
            "epoch(s) (the full targets after a ramp of 28.5% of at most 8 of "
            "them, then fine-tuning)"
        )
        t0 = time.perf_counter()
        callbacks = _pruning_callback(targets, cfg.warm_up_epochs, cfg.epochs)
        pruned = DeepFwFMClassifier(callbacks=callbacks, **settings)
        _fit_with_progress(pruned, Xtr, y_train, progress)
        fit_pruned = time.perf_counter() - t0
    models = {"No pruning": dense, structure: pruned}

    progress(
        f"converting both to the sparse predictor (engine {args.engine}; "
        "numba compiles its kernels on first use, once per installation)"
    )
    predictors = {
        name: est.to_sparse(engine=args.engine) for name, est in models.items()
    }
    y01 = (np.asarray(y_test) == dense.classes_[1]).astype(np.int64)
    rows = []
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, est in models.items():
            p_torch = est.predict_proba(Xte)[:, 1]
            p_sparse = predictors[name].predict_proba(Xte)[:, 1]
            nz_t, total = _nonzero_torch(est.module_)
            results[name] = {
                "torch": {
                    "metrics": _metrics(y01, p_torch),
                    "params": nz_t,
                    "bytes": _state_dict_bytes(est.module_),
                },
                "sparse": {
                    "metrics": _metrics(y01, p_sparse),
                    "params": int(sum(predictors[name].n_params_.values())),
                    "bytes": _saved_bytes(predictors[name], tmp, "p.joblib"),
                },
                "total": total,
                "max_diff": float(np.max(np.abs(p_torch - p_sparse))),
            }

    # Latency, one thread, like-for-like: both sides take the indexed arrays
    # (xi, xv) and return logits.
    large = cfg.latency_batch
    progress(
        f"timing latency: batch 1 and batch {large:,}, one thread, "
        f"{cfg.rounds} interleaved rounds"
    )
    reference = predictors["No pruning"]
    xi_all, xv_all = reference.index_input(Xte)
    rng = np.random.default_rng(args.seed)
    n_test = xi_all.shape[0]
    one = [
        (xi_all[i : i + 1].copy(), xv_all[i : i + 1].copy())
        for i in rng.choice(n_test, size=min(256, n_test), replace=False)
    ]
    big = []
    for _ in range(2):
        idx = rng.choice(n_test, size=large, replace=large > n_test)
        big.append(
            (np.ascontiguousarray(xi_all[idx]), np.ascontiguousarray(xv_all[idx]))
        )

    def torch_forward(module):
        module.eval()

        def forward(xi, xv):
            with torch.inference_mode():
                return module(torch.from_numpy(xi), torch.from_numpy(xv)).numpy()

        return forward

    impls = {}
    for name, est in models.items():
        impls[(name, "torch")] = torch_forward(est.module_)
        impls[(name, "sparse")] = predictors[name].decision_function_indexed
    with _torch_threads(1):
        lat1 = time_interleaved(
            impls, one, rounds=cfg.rounds, min_seconds=cfg.min_seconds, seed=args.seed
        )
        latb = time_interleaved(
            impls, big, rounds=cfg.rounds, min_seconds=cfg.min_seconds, seed=args.seed
        )
    base1 = lat1[("No pruning", "torch")]
    baseb = latb[("No pruning", "torch")]

    engines = {"torch": "torch", "sparse": "sparse predictor"}
    for name in models:
        for kind in ("torch", "sparse"):
            r = results[name][kind]
            auc, ll = r["metrics"]
            rows.append(
                [
                    name,
                    engines[kind],
                    f"{auc:.4f}",
                    f"{ll:.4f}",
                    f"{r['params']:,}",
                    _human_bytes(r["bytes"]),
                    _num(lat1[(name, kind)] * 1e6),
                    f"{base1 / lat1[(name, kind)]:.1f}x",
                    _num(latb[(name, kind)] / large * 1e6),
                    f"{baseb / latb[(name, kind)]:.1f}x",
                ]
            )
    headers = [
        "structure",
        "engine",
        "AUC",
        "logloss",
        "nonzero params",
        "bytes",
        "us b=1",
        "speed-up",
        f"us/row b={large}",
        "speed-up",
    ]
    print()
    print(f"DeepLight demo: DeepFwFM (k={cfg.embedding_dim}, DNN {hidden}) on {source}")
    print(
        f"{len(y_train):,} train / {len(y_test):,} test rows ({split}); "
        f"{_epochs_text(cfg)}, batch {cfg.batch_size}; seed {args.seed}"
    )
    print()
    print(_format_table(headers, rows))
    print()
    report = pruned.sparsity_report()
    parts = [
        f"{comp} {report.loc[comp, 'sparsity']:.1%} of {report.loc[comp, 'total']:,}"
        for comp in report.index
    ]
    worst = max(r["max_diff"] for r in results.values())
    notes = [
        "Pruned weights: " + ", ".join(parts) + ".",
        "AUC and logloss on the held-out rows; the sparse predictor agrees with "
        f"torch to {worst:.1e} in probability.",
        "nonzero params: all parameters (torch) or those the sparse predictor "
        "stores. bytes: torch.save of the state_dict (dense tensors, pruned "
        "zeros included) or the predictor's joblib file; a layer kept dense "
        "costs more as a sparse matrix (values + column indices), so the "
        "predictor pays off with pruning.",
        "us b=1: microseconds per call of one row (the paper's latency); "
        f"us/row: per row of a batch of {large:,}. Both engines take the "
        "indexed input and return logits, on one thread; speed-up against the "
        "dense model in torch.",
    ]
    if ceiling is not None:
        auc_c, ll_c = _metrics(y01, ceiling)
        notes.append(
            "The generator's true click probabilities score the test rows at "
            f"AUC {auc_c:.4f}, logloss {ll_c:.4f} (the ceiling)."
        )
    total = time.perf_counter() - t_start
    notes.append(
        f"Fit {fit_dense:.0f}s dense, {fit_pruned:.0f}s pruned; demo {total:.0f}s "
        f"in all, {progress.cpu():.0f}s of CPU time (on a busy machine the "
        "difference is time spent waiting for a core, which inflates the "
        "latencies too; the interleaved timing keeps the speed-ups comparable)."
    )
    for note in notes:
        print(textwrap.fill(note, width=88, subsequent_indent="  "))
    return EXIT_OK


# ----------------------------------------------------------------------
# train
# ----------------------------------------------------------------------
def _build_estimator(args, parser: argparse.ArgumentParser):
    """The classifier of ``--model`` with the command line's settings."""
    import sklearn_deeplight

    model = args.model
    targets = {
        "dnn": args.dnn,
        "field_pairs": args.field_pairs,
        "embeddings": args.embeddings,
        "cin": args.cin,
    }
    for comp, value in targets.items():
        if value and model not in PRUNABLE[comp]:
            option = "--" + comp.replace("_", "-")
            has = ", ".join(m for m in PRUNABLE[comp])
            raise UsageError(
                f"{option}: {model} has no {comp.replace('_', ' ')} to prune "
                f"(models with one: {has})"
            )
    if model == "lr" and args.embedding_dim is not None:
        raise UsageError("--embedding-dim: lr has no embeddings")
    if model not in DEEP_MODELS:
        for option, value in (("--hidden", args.hidden), ("--dropout", args.dropout)):
            if value is not None:
                raise UsageError(
                    f"{option}: {model} has no DNN (models with one: "
                    f"{', '.join(DEEP_MODELS)})"
                )
    if args.patience is not None and not args.validation_fraction:
        raise UsageError("--patience needs a validation split (--validation-fraction)")
    warm_up = args.warm_up_epochs
    if warm_up is None:
        warm_up = _default_warm_up(args.epochs)
    if any(targets.values()) and warm_up >= args.epochs:
        raise UsageError(
            f"--warm-up-epochs {warm_up} leaves no pruning epoch in {args.epochs} "
            "epochs"
        )
    cls = getattr(sklearn_deeplight, MODELS[model])
    params: dict[str, Any] = dict(
        max_epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        l2=args.l2,
        embedding_l2=args.embedding_l2,
        validation_fraction=args.validation_fraction or None,
        patience=args.patience,
        random_state=args.seed,
        callbacks=_pruning_callback(
            {k: v for k, v in targets.items() if v}, warm_up, args.epochs
        ),
    )
    for name, value in (
        ("embedding_dim", args.embedding_dim),
        ("hidden_units", args.hidden),
        ("dropout", args.dropout),
    ):
        if value is not None:
            params[name] = value
    return cls(**params), targets, warm_up


def _parse_bytes(text: str) -> int:
    """``"1073741824"``, ``"512M"``, ``"1G"`` or ``"1GiB"`` as bytes."""
    value = text.strip().upper().removesuffix("IB").removesuffix("B")
    scale = 1
    if value[-1:] in ("K", "M", "G", "T"):
        scale = 1024 ** ("KMGT".index(value[-1]) + 1)
        value = value[:-1]
    number = float(value)  # ValueError on anything else
    if not math.isfinite(number) or number < 0:
        raise ValueError(text)
    return int(number * scale)


#: Memory limits of the process's control group (v2, then v1): inside a
#: container /proc/meminfo reports the host's memory, not the limit.
_CGROUP_LIMITS = (
    "/sys/fs/cgroup/memory.max",
    "/sys/fs/cgroup/memory/memory.limit_in_bytes",
)


def _available_memory() -> int | None:
    """Bytes of memory available to a new allocation (Linux), else None.

    ``MemAvailable`` of ``/proc/meminfo``, capped by the control group's
    memory limit when there is one.
    """
    available = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    available = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        pass
    for limit_file in _CGROUP_LIMITS:
        try:
            text = Path(limit_file).read_text().strip()
            limit = int(text)  # "max" (no limit) is a ValueError
        except (OSError, ValueError):
            continue
        if 0 < limit < (1 << 60):  # v1 writes a huge number for "no limit"
            available = limit if available is None else min(available, limit)
        break
    return available


def _on_disk_threshold() -> tuple[int, str]:
    """The log size above which ``--on-disk auto`` trains on disk, and why."""
    env = os.environ.get(ON_DISK_ENV, "").strip()
    if env:
        try:
            return _parse_bytes(env), f"{ON_DISK_ENV}={env}"
        except (ValueError, IndexError):
            raise UsageError(
                f"the environment variable {ON_DISK_ENV}={env!r} is not a size in "
                "bytes (e.g. 1073741824, 512M or 1G)"
            ) from None
    available = _available_memory()
    if available is not None and available // ON_DISK_MEMORY_RATIO < ON_DISK_BYTES:
        return (
            available // ON_DISK_MEMORY_RATIO,
            f"a tenth of the {_human_bytes(available)} of available memory",
        )
    return ON_DISK_BYTES, "the default"


def _use_on_disk(mode: str, log: Path) -> tuple[bool, str]:
    """Whether ``train`` takes the on-disk path, with a line saying why."""
    if mode == "always":
        return True, "--on-disk always"
    if mode == "never":
        return False, "--on-disk never"
    size = log.stat().st_size
    counted = size
    what = _human_bytes(size)
    if log.suffix.lower() in COMPRESSED_SUFFIXES:
        counted = size * COMPRESSED_RATIO
        what += f" compressed, counted {COMPRESSED_RATIO}x"
    threshold, source = _on_disk_threshold()
    above = counted > threshold
    return above, (
        f"--on-disk auto: the log is {what}, "
        f"{'above' if above else 'within'} the threshold of "
        f"{_human_bytes(threshold)} ({source})"
    )


@contextlib.contextmanager
def _scratch_dir(parent: Path) -> Iterator[Path]:
    """A new hidden folder in ``parent``, removed with its files afterwards."""
    path = Path(tempfile.mkdtemp(prefix=".deeplight-train-", dir=parent))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
        if path.exists():
            print(
                f"deeplight: warning: could not remove the folder of the encoded "
                f"log {path}; delete it by hand",
                file=sys.stderr,
            )


def _counted(chunks: Iterator, progress: _Progress, every: float = 10.0) -> Iterator:
    """The chunks, with a line of rows read every ``every`` seconds."""
    n = 0
    last = time.perf_counter()
    for chunk in chunks:
        n += len(chunk[0])
        yield chunk
        now = time.perf_counter()
        if now - last >= every:
            progress.detail(f"{n:,} rows")
            last = now


def _encode_on_disk(args, log: Path, encoder, folder: Path, progress: _Progress):
    """Passes 1 and 2 of the on-disk path: fit ``encoder``, encode to ``folder``."""
    from ._ondisk import encode_to_memmap, fit_encoder

    def chunks():
        return _counted(
            _iter_log(
                log, args.format, **_read_options(args), chunksize=args.chunk_rows
            ),
            progress,
        )

    progress(
        f"on-disk pass 1/3: learning the vocabularies of {log} ({args.format} "
        f"format, {args.chunk_rows:,} rows at a time)"
    )
    fit_encoder(encoder, chunks())
    progress(
        f"learnt {len(encoder.field_dims_)} fields, "
        f"{int(encoder.field_dims_.sum()):,} embedding rows"
    )
    progress(f"on-disk pass 2/3: encoding the log to {folder}")
    data = encode_to_memmap(chunks(), folder / "encoded", encoder=encoder)
    progress(
        f"encoded {data.n_samples:,} rows: {data.n_fields} fields, "
        f"{_human_bytes(data.nbytes)} on disk"
    )
    return data


def _cmd_train(args, parser) -> int:
    from sklearn.pipeline import make_pipeline

    from . import FieldEncoder

    progress = _Progress(args.quiet)
    log = _input_file(args.log, "log file")
    out = _output_file(args.out)
    read = _read_options(args)
    workdir = out.parent if args.workdir is None else Path(args.workdir)
    if not workdir.is_dir():
        raise UsageError(f"--workdir: folder not found: {args.workdir}")
    est, targets, warm_up = _build_estimator(args, parser)
    on_disk, why = _use_on_disk(args.on_disk, log)
    if args.on_disk == "never":
        for option, value in (("--workdir", args.workdir), ("--shuffle", args.shuffle)):
            if value is not None:
                raise UsageError(
                    f"{option} applies to on-disk training, not to --on-disk never"
                )
    shuffle = args.shuffle or "blocks"
    encoder = FieldEncoder(
        numeric_transform="criteo" if args.format == "criteo" else None,
        min_frequency=args.min_frequency,
    )
    pruning = ""
    if any(targets.values()):
        pruning = f", pruning {_structure(**targets)} after {warm_up} warm-up epoch(s)"

    with contextlib.ExitStack() as stack:
        if on_disk:
            progress(f"training on disk ({why})")
            folder = stack.enter_context(_scratch_dir(workdir))
            data = _encode_on_disk(args, log, encoder, folder, progress)
            n_rows = data.n_samples

            def fit(e):
                from ._ondisk import fit_ondisk

                return fit_ondisk(e, data, shuffle=shuffle)

            progress(
                f"on-disk pass 3/3: training {type(est).__name__}: {args.epochs} "
                f"epoch(s){pruning}, {shuffle} shuffle"
            )
        else:
            progress(f"reading {log} ({args.format} format; {why})")
            X, y = _read_log(log, args.format, **read, chunksize=args.chunk_rows)
            Xt = encoder.fit_transform(X)
            del X
            n_rows = len(y)
            progress(
                f"encoded {n_rows:,} rows: {Xt.shape[1]} fields, "
                f"{int(encoder.field_dims_.sum()):,} embedding rows"
            )

            def fit(e):
                return e.fit(Xt, y)

            progress(f"training {type(est).__name__}: {args.epochs} epoch(s){pruning}")
        t0 = time.perf_counter()
        with _torch_threads(args.threads):
            _fit_with_progress(est, None, None, progress, fit=fit)
        fit_seconds = time.perf_counter() - t0

    if args.pickle:
        model = make_pipeline(encoder, est)
        progress("saving FieldEncoder + the torch model with joblib (a pickle)")
        _atomic_write(out, lambda tmp: _joblib_dump(model, tmp))
        kind = f"FieldEncoder + {type(est).__name__}, a joblib pickle"
    else:
        from ._persistence import save

        model = make_pipeline(encoder, est.to_sparse(engine=args.engine))
        progress("saving FieldEncoder + SparseCTRPredictor (sklearn_deeplight.save)")
        _atomic_write(out, lambda tmp: save(model, tmp))
        kind = "FieldEncoder + SparseCTRPredictor, safe format"

    epochs = len(est.history)
    stopped = " (early stopping)" if epochs < est.max_epochs else ""
    print(
        f"model: {type(est).__name__} ({args.model}), {epochs} epoch(s){stopped} "
        f"in {fit_seconds:.1f}s"
    )
    where = f"on disk, {shuffle} shuffle" if on_disk else "in memory"
    print(f"rows: {n_rows:,} from {log} ({args.format}; trained {where})")
    report = est.sparsity_report()
    if len(report):
        print(
            "sparsity: "
            + ", ".join(
                f"{c} {report.loc[c, 'sparsity']:.1%} of {report.loc[c, 'total']:,}"
                for c in report.index
            )
        )
    print(f"saved: {out} ({_human_bytes(out.stat().st_size)}, pipeline {kind})")
    return EXIT_OK


def _joblib_dump(obj, path: str) -> None:
    import joblib

    joblib.dump(obj, path)


# ----------------------------------------------------------------------
# predict and bench
# ----------------------------------------------------------------------
#: How a pickle or joblib file starts: a pickle of protocol 2 or later, or
#: joblib's compressed files (zlib, gzip, bz2, xz, lzma, lz4).
_PICKLE_STARTS = (
    b"\x80",
    b"x\x01",
    b"x\x5e",
    b"x\x9c",
    b"x\xda",
    b"\x1f\x8b",
    b"BZh",
    b"\xfd7zXZ",
    b"\x5d\x00\x00",
    b"\x04\x22\x4d\x18",
)


def _load_model(path: Path, trust_pickle: bool = False):
    """A saved model (anything with ``predict_proba``); ValueError otherwise.

    A file in the safe format (:func:`sklearn_deeplight.save`) is read with
    :func:`sklearn_deeplight.load`, which runs no code from the file. Any
    other file is unpickled with ``joblib.load`` only when ``trust_pickle``
    is true, since unpickling runs whatever code the file names; without it
    the ValueError names the file and ``--trust-pickle``.
    """
    with open(path, "rb") as f:
        head = f.read(8)
    if head.startswith(b"PK\x03\x04"):
        from ._persistence import load

        try:
            model = load(path)
        except (ValueError, TypeError) as exc:
            why = str(exc).removeprefix(f"{path}: ")
            raise ValueError(
                f"{path}: cannot load a model from this file: {why}"
            ) from None
    elif not trust_pickle:
        if head.startswith(_PICKLE_STARTS):
            raise ValueError(
                f"{path}: cannot load a model from this file without --trust-pickle: "
                "it is a pickle (joblib) file, and loading one runs any code stored "
                "in it. Pass --trust-pickle only if you trust where the file came "
                "from; 'deeplight train' saves in the safe format, which needs no "
                "flag."
            )
        raise ValueError(
            f"{path}: cannot load a model from this file: it is not a model file "
            "of 'deeplight train' (sklearn_deeplight.save format); a pickle or "
            "joblib model needs --trust-pickle"
        )
    else:
        import joblib

        try:
            model = joblib.load(path)
        except Exception as exc:  # pickle raises many kinds on a foreign file
            raise ValueError(
                f"{path}: cannot load a model from this file ({type(exc).__name__}: "
                f"{exc})"
            ) from exc
    if not hasattr(model, "predict_proba"):
        raise ValueError(
            f"{path}: holds a {type(model).__name__}, not a model with "
            "predict_proba (save one with 'deeplight train')"
        )
    return model


def _check_columns(model, X, path: Path, fmt: str) -> None:
    names = getattr(model, "feature_names_in_", None)
    if names is None:
        return
    names = [str(n) for n in names]
    got = [str(c) for c in X.columns]
    if got != names:
        missing = [n for n in names if n not in got][:5]
        extra = [c for c in got if c not in names][:5]
        raise ValueError(
            f"{path} read as {fmt} has columns that differ from those the model "
            f"was trained on (missing: {missing}, unexpected: {extra}); pass the "
            "--format (and --label) used for training"
        )


def _cmd_predict(args, parser) -> int:
    model_path = _input_file(args.model, "model file")
    log = _input_file(args.log, "log file")
    out = None if args.out in (None, "-") else _output_file(args.out)
    progress = _Progress(args.quiet)

    model = _load_model(model_path, args.trust_pickle)
    progress(f"predicting the rows of {log} ({args.format} format)")
    labels: list[np.ndarray] = []
    probas: list[np.ndarray] = []

    def run(stream) -> int:
        n = 0
        chunks = _iter_log(
            log,
            args.format,
            **_read_options(args),
            require_label=False,
            chunksize=args.chunksize,
        )
        with _torch_threads(args.threads):
            for X, y in chunks:
                if n == 0:
                    _check_columns(model, X, log, args.format)
                proba = np.asarray(model.predict_proba(X))[:, 1]
                stream.write("".join(f"{p:.9g}\n" for p in proba))
                n += len(proba)
                if y is not None:
                    labels.append(np.asarray(y))
                    probas.append(proba)
                if n > len(proba):
                    progress(f"{n:,} rows")
        return n

    if out is None:
        n = run(sys.stdout)
        sys.stdout.flush()
    else:
        counted: list[int] = []

        def write(tmp: str) -> None:
            with open(tmp, "w") as f:
                counted.append(run(f))

        _atomic_write(out, write)
        n = counted[0]
        progress(f"wrote {n:,} probabilities to {out}")
    if labels and len(labels) == len(probas) and not args.quiet:
        y = np.concatenate(labels)
        classes = getattr(model, "classes_", np.array([0, 1]))
        y01 = (y == classes[-1]).astype(np.int64)
        p = np.clip(np.concatenate(probas), 1e-15, 1 - 1e-15)
        auc, ll = _metrics(y01, p)
        progress(f"on the labels of the log: AUC {auc:.4f}, logloss {ll:.4f}")
    return EXIT_OK


def _synthetic_rows(model, n: int, rng: np.random.Generator):
    """Raw rows a saved model accepts, drawn from what it learnt.

    A pipeline starting with a ``FieldEncoder``: per categorical field its
    kept values (``categories_``), per numeric field small counts. A bare
    estimator or predictor: codes below ``field_dims_``.
    """
    import pandas as pd

    first = model.steps[0][1] if hasattr(model, "steps") else model
    names = getattr(first, "feature_names_in_", None)
    if hasattr(first, "categories_"):  # FieldEncoder
        cols = {}
        for j, cats in enumerate(first.categories_):
            name = str(names[j]) if names is not None else j
            if cats is None:
                cols[name] = rng.integers(0, 100, n).astype(np.float64)
            elif len(cats) == 0:
                cols[name] = np.full(n, np.nan, dtype=object)
            else:
                cols[name] = pd.array(cats[rng.integers(0, len(cats), n)], dtype=object)
        return pd.DataFrame(cols)
    dims = getattr(first, "field_dims_", None)
    if dims is None:
        raise ValueError("cannot make input rows for this model: pass a log with --log")
    numeric = np.zeros(len(dims), dtype=bool)
    numeric[getattr(first, "numeric_fields_", [])] = True
    X = np.column_stack(
        [
            rng.uniform(0, 3, n) if numeric[j] else rng.integers(0, d, n)
            for j, d in enumerate(dims)
        ]
    ).astype(np.float64)
    if names is None:
        return X
    df = pd.DataFrame(X, columns=[str(c) for c in names])
    for j, c in enumerate(df.columns):
        if not numeric[j]:
            df[c] = df[c].astype(np.int64)
    return df


def _cmd_bench(args, parser) -> int:
    model_path = _input_file(args.model, "model file")
    log = None if args.log is None else _input_file(args.log, "log file")
    progress = _Progress(args.quiet)
    model = _load_model(model_path, args.trust_pickle)
    rng = np.random.default_rng(args.seed)
    sizes = args.batch_sizes
    if log is not None:
        progress(f"reading {log} ({args.format} format)")
        X, _ = _read_log(
            log,
            args.format,
            **_read_options(args),
            require_label=False,
        )
        _check_columns(model, X, log, args.format)
        source = f"rows of {log.name}"
    else:
        X = _synthetic_rows(model, max(4096, max(sizes)), rng)
        source = "rows drawn from the model's vocabulary"
    n = len(X)
    steps = getattr(model, "steps", None)
    final = steps[-1][1] if steps else model
    head = None
    if steps and len(steps) > 1:
        from sklearn.pipeline import Pipeline

        head = Pipeline(steps[:-1])

    def take(frame, idx):
        return frame.iloc[idx] if hasattr(frame, "iloc") else frame[idx]

    def full(x, _):
        return model.predict_proba(x)

    def model_only(_, xt):
        return final.predict_proba(xt)

    progress(
        f"timing {type(final).__name__}.predict_proba on {source}: batch sizes "
        f"{', '.join(map(str, sizes))}; {args.threads} thread(s), {args.rounds} "
        "interleaved rounds"
    )
    rows = []
    with _torch_threads(args.threads):
        Xt = head.transform(X) if head is not None else X
        for size in sizes:
            pool = []
            for _ in range(1 if size >= 512 else 16):
                idx = rng.choice(n, size=size, replace=size > n)
                pool.append((take(X, idx), take(Xt, idx)))
            impls: dict[str, Callable] = {"full": full}
            if head is not None:
                impls["model"] = model_only
            times = time_interleaved(
                impls,
                pool,
                rounds=args.rounds,
                min_seconds=args.min_time,
                seed=args.seed,
            )
            row = [
                f"{size:,}",
                _num(times["full"] * 1e3),
                _num(times["full"] / size * 1e6),
                f"{size / times['full']:,.0f}",
            ]
            if head is not None:
                row += [
                    _num(times["model"] * 1e3),
                    _num(times["model"] / size * 1e6),
                ]
            rows.append(row)
    headers = ["batch", "ms/call", "us/row", "rows/s"]
    if head is not None:
        headers += ["model ms/call", "model us/row"]
    print(f"{model_path}: {type(final).__name__}, {source}")
    print(f"median over {args.rounds} rounds after warm-up; {args.threads} thread(s)")
    print()
    print(_format_table(headers, rows))
    if head is not None:
        print()
        print(
            "ms/call, us/row, rows/s: the whole pipeline from raw rows (encoding "
            "included); model: the final step on encoded rows."
        )
    return EXIT_OK


# ----------------------------------------------------------------------
# Parser and entry point
# ----------------------------------------------------------------------
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


def _set_metavars(parser: argparse.ArgumentParser) -> None:
    """Short metavars by type (``--epochs N``) where none is given."""
    for action in parser._actions:
        if action.option_strings and action.metavar is None and action.nargs != 0:
            name = _METAVARS.get(action.type)
            if name is not None:
                action.metavar = name


def _wrap(text: str) -> str:
    """Paragraphs (separated by blank lines) filled to 79 columns."""
    return "\n\n".join(textwrap.fill(p, 79) for p in text.split("\n\n"))


def _add_trust_pickle(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--trust-pickle",
        action="store_true",
        help="also read a MODEL that is a pickle or joblib file ('train "
        "--pickle', older versions): loading one runs any code stored in it, "
        "so only for files you trust",
    )


def _common(debug_default: Any) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument(
        "--debug",
        action="store_true",
        default=debug_default,
        help="print the traceback of an error",
    )
    return p


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
    from . import __version__

    fmt = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog=prog or "deeplight",
        description="DeepLight CTR models: demo, train, predict, bench.",
        epilog=_EPILOG,
        formatter_class=fmt,
        parents=[_common(False)],
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    common = _common(argparse.SUPPRESS)

    # demo ------------------------------------------------------------------
    p = sub.add_parser(
        "demo",
        parents=[common],
        formatter_class=fmt,
        help="train DeepFwFM dense and pruned, print the paper's Table 5 shape",
        description=_wrap(
            "Train DeepFwFM dense and DeepLight-pruned (D-90% R-90% F-40% by "
            "default) on generated Criteo-shaped click logs, or on a real log "
            "with --data, convert both to the sparse predictor and print test "
            "AUC, logloss, nonzero parameters, bytes and latency, dense torch "
            "against the sparse predictor.\n\n"
            f"Default size: {DEMO_FULL.n_samples:,} generated rows (80/20 "
            f"split), k={DEMO_FULL.embedding_dim}, DNN "
            f"{'x'.join(map(str, DEMO_FULL.hidden_units))}, batch "
            f"{DEMO_FULL.batch_size}, {DEMO_FULL.epochs} epochs (1 warm-up): "
            "about 70 s of CPU time, 1-2 minutes on 2 idle cores, 3-4 on a "
            "busy shared machine. --quick: "
            f"{DEMO_QUICK.n_samples:,} rows and a small net, seconds (for CI; "
            "numba compiles its kernels once per installation, about 20 s).\n\n"
            "With --data: criteo logs are split in time (first 80% train, "
            "last 20% test), others at random; a log of fewer than 100,000 "
            "training rows trains a smaller net (DNN 64x64, batch 512, 4 "
            "epochs of which 2 warm-up, embedding_l2 3e-3)."
        ),
        epilog=_EPILOG,
    )
    p.add_argument("--quick", action="store_true", help="CI size: seconds")
    p.add_argument("--seed", type=int, default=0, help="seed of data and models")
    p.add_argument(
        "--rows",
        type=_positive_int,
        default=None,
        metavar="N",
        help=f"generated rows (default: {DEMO_FULL.n_samples:,}; --quick: "
        f"{DEMO_QUICK.n_samples:,})",
    )
    p.add_argument("--data", metavar="FILE", help="a real click log instead")
    _add_read_options(p)
    p.add_argument("--dnn", type=_fraction, default=0.9, help="DNN sparsity (0.9)")
    p.add_argument(
        "--field-pairs", type=_fraction, default=0.9, help="R sparsity (0.9)"
    )
    p.add_argument(
        "--embeddings", type=_fraction, default=0.4, help="embedding sparsity (0.4)"
    )
    p.add_argument("--epochs", type=_positive_int, default=None, help="training epochs")
    p.add_argument(
        "--warm-up-epochs",
        type=_non_negative_int,
        default=None,
        help="dense epochs before pruning (default: 1; 0 for one epoch)",
    )
    p.add_argument(
        "--embedding-dim", type=_positive_int, default=None, help="k (default: 10)"
    )
    p.add_argument(
        "--hidden", type=_int_list, default=None, help="e.g. 400,400,400 or 400x3"
    )
    p.add_argument("--batch-size", type=_positive_int, default=None)
    p.add_argument(
        "--lr", type=_positive_float, default=None, help="Adam's (default: 3e-3)"
    )
    p.add_argument("--embedding-l2", type=_non_negative_float, default=None)
    p.add_argument(
        "--min-frequency",
        type=_positive_int,
        default=None,
        help="values seen fewer times in the training rows share their field's "
        "OOV row (default: 2; 4 for a small log)",
    )
    p.add_argument(
        "--latency-batch",
        type=_positive_int,
        default=None,
        help=f"the large batch timed (default: {DEMO_FULL.latency_batch})",
    )
    p.add_argument(
        "--engine",
        choices=("auto", "numba", "scipy"),
        default="auto",
        help="sparse predictor engine (default: auto, numba when installed)",
    )
    p.add_argument(
        "--threads",
        type=_positive_int,
        default=1,
        help="torch threads for training (default: 1, the fastest on a busy "
        "shared machine); latency is always timed on one thread",
    )
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.set_defaults(func=lambda a, _p: _cmd_demo(a))

    # train -----------------------------------------------------------------
    p = sub.add_parser(
        "train",
        parents=[common],
        formatter_class=fmt,
        help="train a model on a click log and save it",
        description=_wrap(
            "Fit FieldEncoder + a classifier on a click log and save FieldEncoder "
            "+ the classifier's torch-free SparseCTRPredictor (the same "
            "predictions) with sklearn_deeplight.save, a format that runs no "
            "code when it is loaded (the torch classifier itself cannot be "
            "stored in it). The file is written to a temporary file, then "
            "renamed: an existing file survives a failure. Pruning targets "
            "(--dnn, --field-pairs, --embeddings, --cin) train with "
            "DeepLightPruning, its schedule scaled to the run.\n\n"
            "--pickle saves FieldEncoder + the torch classifier with joblib "
            "instead (to train it further or inspect it in Python). That file "
            "is a pickle: reading it runs code stored in it, so 'predict' and "
            "'bench' read it only with --trust-pickle.\n\n"
            "Large logs: with --on-disk auto (the default) a log larger than "
            f"{_human_bytes(ON_DISK_BYTES)}, or than a tenth of the available "
            "memory if that is less, trains through an encoded copy on disk "
            "(about 160 bytes per Criteo row) in three streaming passes: learn "
            "the vocabularies, encode, train; memory then holds a chunk of "
            "--chunk-rows rows, not the log (the in-memory path peaks at about "
            "10 times the log's size). A compressed log (.gz, .bz2, .xz) counts "
            f"{COMPRESSED_RATIO} times its size. The environment variable "
            f"{ON_DISK_ENV} (bytes, or e.g. 512M, 2G) replaces the threshold. "
            "The saved model is the same pipeline either way; with --shuffle "
            "exact and the same --seed it is the model the in-memory path "
            "trains.\n\n"
            "Load it in Python with sklearn_deeplight.load(MODEL).predict_proba(X) "
            "on the raw columns of a reader (sklearn_deeplight.datasets."
            "load_criteo)."
        ),
        epilog=_EPILOG,
    )
    p.add_argument("log", metavar="LOG", help="the click log to train on")
    p.add_argument(
        "--out",
        "-o",
        required=True,
        metavar="MODEL",
        help="file to save to (e.g. model.skdl)",
    )
    _add_read_options(p)
    p.add_argument(
        "--model",
        choices=tuple(MODELS),
        default="deepfwfm",
        help="the classifier (default: deepfwfm)",
    )
    for comp, name in (
        ("dnn", "DNN hidden weights"),
        ("field-pairs", "field-pair matrix R"),
        ("embeddings", "embedding table"),
        ("cin", "CIN filters (xdeepfm)"),
    ):
        p.add_argument(
            f"--{comp}",
            type=_fraction,
            default=0.0,
            metavar="S",
            help=f"target sparsity of the {name} (default: 0, not pruned)",
        )
    p.add_argument(
        "--warm-up-epochs",
        type=_non_negative_int,
        default=None,
        help="dense epochs before pruning (default: 1; 0 for one epoch)",
    )
    p.add_argument("--epochs", type=_positive_int, default=5, help="(default: 5)")
    p.add_argument(
        "--batch-size", type=_positive_int, default=2048, help="(default: 2048)"
    )
    p.add_argument("--lr", type=_positive_float, default=1e-3, help="(default: 1e-3)")
    p.add_argument(
        "--l2", type=_non_negative_float, default=3e-7, help="(default: 3e-7)"
    )
    p.add_argument(
        "--embedding-l2", type=_non_negative_float, default=0.0, help="(default: 0)"
    )
    p.add_argument(
        "--embedding-dim",
        type=_positive_int,
        default=None,
        help="(default: the model's, 10)",
    )
    p.add_argument(
        "--hidden",
        type=_int_list,
        default=None,
        help="DNN widths, e.g. 400,400,400 or 400x3 (default: the model's)",
    )
    p.add_argument(
        "--dropout", type=_open_fraction, default=None, help="(default: the model's)"
    )
    p.add_argument(
        "--validation-fraction",
        type=_open_fraction,
        default=0.1,
        help="held out to report validation AUC per epoch; 0: none (default: 0.1)",
    )
    p.add_argument(
        "--patience",
        type=_positive_int,
        default=None,
        help="stop after this many epochs without a better validation AUC",
    )
    p.add_argument(
        "--min-frequency",
        type=_positive_int,
        default=8,
        help="categorical values seen fewer times share the field's OOV row "
        "(default: 8, as the DeepLight reference code on Criteo)",
    )
    p.add_argument("--seed", type=int, default=0, help="(default: 0)")
    saving = p.add_mutually_exclusive_group()
    saving.add_argument(
        "--sparse",
        action="store_true",
        help="save FieldEncoder + SparseCTRPredictor in the safe format: the "
        "default (kept for older command lines)",
    )
    saving.add_argument(
        "--pickle",
        action="store_true",
        help="save FieldEncoder + the torch classifier with joblib instead: a "
        "pickle, which runs code when it is loaded (predict and bench need "
        "--trust-pickle); only for files that stay in your hands",
    )
    p.add_argument(
        "--engine",
        choices=("auto", "numba", "scipy"),
        default="auto",
        help="engine of the saved sparse predictor (default: auto)",
    )
    p.add_argument(
        "--on-disk",
        choices=("auto", "always", "never"),
        default="auto",
        help="train through an encoded copy of the log on disk: auto (the "
        f"default) when the log is larger than {_human_bytes(ON_DISK_BYTES)} or "
        "a tenth of the available memory (see above)",
    )
    p.add_argument(
        "--workdir",
        metavar="DIR",
        default=None,
        help="on disk: an existing folder to hold the encoded copy, in a "
        "temporary subfolder removed afterwards (default: the folder of --out)",
    )
    p.add_argument(
        "--chunk-rows",
        type=_positive_int,
        default=100_000,
        metavar="N",
        help="rows read (and, on disk, encoded) at a time (default: 100000)",
    )
    p.add_argument(
        "--shuffle",
        choices=("blocks", "exact"),
        default=None,
        help="on disk: blocks (memory independent of the log's size; the last "
        "--validation-fraction of the rows validates) or exact (the in-memory "
        "shuffle and stratified split, the same model as in memory; 8 bytes "
        "per row, about 90 with a validation split) (default: blocks)",
    )
    p.add_argument(
        "--threads",
        type=_positive_int,
        default=None,
        help="torch threads (default: torch's, one per core; on a busy shared "
        "machine 1 is often faster)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.set_defaults(func=_cmd_train)

    # predict ---------------------------------------------------------------
    p = sub.add_parser(
        "predict",
        parents=[common],
        formatter_class=fmt,
        help="write the click probability of each row of a log",
        description=_wrap(
            "Write one click probability per line (same order as the log's "
            "rows) to --out or stdout. Criteo and Avazu logs have a label "
            "column, which is ignored (AUC and logloss against it go to "
            "stderr); a csv log may lack it.\n\n"
            "MODEL is read with sklearn_deeplight.load, which runs no code from "
            "the file; a pickle or joblib file is refused unless --trust-pickle "
            "is given."
        ),
        epilog=_EPILOG,
    )
    p.add_argument("model", metavar="MODEL", help="a model saved by 'train'")
    p.add_argument("log", metavar="LOG", help="the click log to score")
    _add_trust_pickle(p)
    _add_read_options(p)
    p.add_argument("--out", "-o", default=None, metavar="FILE", help="default: stdout")
    p.add_argument(
        "--chunksize",
        type=_positive_int,
        default=100_000,
        metavar="N",
        help="rows read and predicted at a time (default: 100000)",
    )
    p.add_argument(
        "--threads", type=_positive_int, default=None, help="torch/BLAS threads"
    )
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.set_defaults(func=_cmd_predict)

    # bench -----------------------------------------------------------------
    p = sub.add_parser(
        "bench",
        parents=[common],
        formatter_class=fmt,
        help="time predict_proba of a saved model",
        description=_wrap(
            "Time predict_proba of a saved model or predictor at several batch "
            "sizes: median over rounds of the mean time per call, after two "
            "warm-up calls. Input: rows of --log, or rows drawn from the "
            "model's vocabulary. A pipeline is timed whole (from raw rows) and "
            "its final step alone (on encoded rows).\n\n"
            "MODEL is read with sklearn_deeplight.load, which runs no code from "
            "the file; a pickle or joblib file is refused unless --trust-pickle "
            "is given."
        ),
        epilog=_EPILOG,
    )
    p.add_argument(
        "model",
        metavar="MODEL",
        help="a model saved by 'train' (or sklearn_deeplight.save)",
    )
    _add_trust_pickle(p)
    p.add_argument(
        "--batch-sizes",
        type=_int_list,
        default=(1, 32, 512, 4096),
        help="comma-separated (default: 1,32,512,4096)",
    )
    p.add_argument("--log", metavar="LOG", help="time on the rows of this log")
    _add_read_options(p, nrows_default=10_000)
    p.add_argument("--rounds", type=_positive_int, default=5, help="(default: 5)")
    p.add_argument(
        "--min-time",
        type=_positive_float,
        default=0.2,
        help="seconds of calls per round and batch size (default: 0.2)",
    )
    p.add_argument("--threads", type=_positive_int, default=1, help="(default: 1)")
    p.add_argument("--seed", type=int, default=0, help="(default: 0)")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.set_defaults(func=_cmd_bench)
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
