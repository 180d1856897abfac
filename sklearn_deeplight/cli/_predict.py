"""``deeplight predict``: one click probability per row of a log.

Reads the model with :func:`sklearn_deeplight.load` (a pickle only with
``--trust-pickle``), predicts the log chunk by chunk and writes the
probabilities to ``--out`` (atomically) or stdout; AUC and logloss against
the log's labels go to stderr. Torch-free unless the model needs torch.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from ._helpers import (
    EXIT_OK,
    UsageError,
    _add_read_options,
    _add_trust_pickle,
    _atomic_write,
    _input_file,
    _metrics,
    _output_file,
    _positive_int,
    _Progress,
    _read_options,
    _resolve_format,
    _subparser,
    _torch_threads,
)
from ._loading import _check_columns, _load_model


def _check_numeric_option(numeric, model) -> None:
    """``--numeric`` at predict must name the model's numeric fields: the
    encoder fixed them at training, so another list would be ignored."""
    if not numeric:
        return
    encoder = model.steps[0][1] if hasattr(model, "steps") else None
    names = getattr(encoder, "feature_names_in_", None)
    fields = getattr(encoder, "numeric_fields_", None)
    if names is None or fields is None:
        raise UsageError(
            "--numeric: this model's first step is not a fitted FieldEncoder of "
            "named columns; its numeric fields were fixed at training"
        )
    trained = [str(names[j]) for j in fields]
    if sorted(numeric) != sorted(trained):
        raise UsageError(
            f"--numeric names {list(numeric)}, but the model reads {trained} as "
            "numeric (fixed at training); drop --numeric or pass those"
        )


def _csv_field(value: str) -> str:
    """``value`` as one CSV field (quoted when it holds a comma, quote or
    line break)."""
    if any(c in value for c in ',"\r\n'):
        return '"' + value.replace('"', '""') + '"'
    return value


def _cmd_predict(args, parser) -> int:
    """Run ``deeplight predict``; returns the exit code."""
    from ..datasets._logs import _iter_log  # pandas: not at the import

    model_path = _input_file(args.model, "model file")
    log = _input_file(args.log, "log file")
    inputs = {"model file": model_path, "log file": log}
    out = None if args.out in (None, "-") else _output_file(args.out, inputs)
    progress = _Progress(args.quiet)
    _resolve_format(args, log, progress)

    if args.id is not None and args.format != "csv":
        raise UsageError(
            f"--id needs a csv log with a header line (this one reads as "
            f"{args.format}); pass --format csv"
        )
    model = _load_model(model_path, args.trust_pickle)
    _check_numeric_option(args.numeric, model)
    classes = getattr(model, "classes_", None)
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
                ids = None
                if args.id is not None:
                    if args.id not in X.columns:
                        raise UsageError(
                            f"--id: no column {args.id!r} in {log} (columns: "
                            f"{list(X.columns)[:10]})"
                        )
                    ids = X.pop(args.id).astype(str).to_numpy()
                    if n == 0:
                        stream.write(f"{_csv_field(args.id)},probability\n")
                if n == 0:
                    _check_columns(model, X, log, args.format)
                if y is not None and classes is not None:
                    _check_labels(np.asarray(y), classes, log, n)
                proba = np.asarray(model.predict_proba(X))[:, 1]
                if ids is None:
                    stream.write("".join(f"{p:.9g}\n" for p in proba))
                else:
                    stream.write(
                        "".join(
                            f"{_csv_field(i)},{p:.9g}\n" for i, p in zip(ids, proba)
                        )
                    )
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
        positive = np.array([0, 1])[-1] if classes is None else classes[-1]
        y01 = (y == positive).astype(np.int64)
        p = np.clip(np.concatenate(probas), 1e-15, 1 - 1e-15)
        auc, ll = _metrics(y01, p)
        if np.isnan(auc):
            label = np.asarray(y[:1]).tolist()
            progress(
                f"on the labels of the log: logloss {ll:.4f}; AUC undefined (every "
                f"label is {label[0]!r}: the log holds one class)"
            )
        else:
            progress(f"on the labels of the log: AUC {auc:.4f}, logloss {ll:.4f}")
    return EXIT_OK


def _check_labels(y: np.ndarray, classes, log, start: int) -> None:
    """ValueError when a label of the log is not one of the model's classes
    (the log of another task, or its label column read wrongly): the AUC and
    logloss against such labels would mean nothing."""
    try:
        known = np.isin(y, np.asarray(classes))
    except TypeError:  # labels and classes that cannot be compared
        known = np.zeros(y.shape[0], dtype=bool)
    if known.all():
        return
    row = int(np.flatnonzero(~known)[0])
    raise ValueError(
        f"{log}: the label {np.asarray(y[row]).tolist()!r} of data row "
        f"{start + row + 1} is not one of the model's classes "
        f"{np.asarray(classes).tolist()}: the log does not belong to this model "
        "(or --label names another column)"
    )


def add_parser(
    sub: argparse._SubParsersAction, common: argparse.ArgumentParser
) -> None:
    """Add ``predict`` to the subparsers ``sub``."""
    p = _subparser(
        sub,
        common,
        "predict",
        help="write the click probability of each row of a log",
        description="Write one click probability per line (same order as the log's "
        "rows) to --out or stdout. Criteo and Avazu logs have a label "
        "column, which is ignored (AUC and logloss against it go to "
        "stderr); a csv log may lack it.\n\n"
        "MODEL is read with sklearn_deeplight.load, which runs no code from "
        "the file; a pickle or joblib file is refused unless --trust-pickle "
        "is given.",
    )
    p.add_argument("model", metavar="MODEL", help="a model saved by 'train'")
    p.add_argument("log", metavar="LOG", help="the click log to score")
    _add_trust_pickle(p)
    _add_read_options(p)
    p.add_argument("--out", "-o", default=None, metavar="FILE", help="default: stdout")
    p.add_argument(
        "--id",
        default=None,
        metavar="COL",
        help="csv: a column of row ids, left out of the features and written "
        "beside each probability ('COL,probability' lines under a header), so "
        "that the scores can be joined back (default: probabilities only)",
    )
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
