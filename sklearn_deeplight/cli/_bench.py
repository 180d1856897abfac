"""``deeplight bench``: time ``predict_proba`` of a saved model.

Times the whole pipeline (from raw rows) and its final step (on encoded
rows) at several batch sizes with
:func:`sklearn_deeplight._timing.time_interleaved`, on the rows of a log or
on rows drawn from the model's vocabulary. Torch-free unless the model
needs torch.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import numpy as np

from .._timing import time_interleaved
from ._helpers import (
    EXIT_OK,
    _add_read_options,
    _add_trust_pickle,
    _format_table,
    _input_file,
    _int_list,
    _num,
    _positive_float,
    _positive_int,
    _Progress,
    _read_options,
    _resolve_format,
    _subparser,
    _torch_threads,
)
from ._loading import _check_columns, _load_model


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
    """Run ``deeplight bench``; returns the exit code."""
    model_path = _input_file(args.model, "model file")
    log = None if args.log is None else _input_file(args.log, "log file")
    progress = _Progress(args.quiet)
    model = _load_model(model_path, args.trust_pickle)
    rng = np.random.default_rng(args.seed)
    sizes = args.batch_sizes
    if log is not None:
        _resolve_format(args, log, progress)
        progress(f"reading {log} ({args.format} format)")
        from ..datasets._logs import _read_log  # pandas: not at the import

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


def add_parser(
    sub: argparse._SubParsersAction, common: argparse.ArgumentParser
) -> None:
    """Add ``bench`` to the subparsers ``sub``."""
    p = _subparser(
        sub,
        common,
        "bench",
        help="time predict_proba of a saved model",
        description="Time predict_proba of a saved model or predictor at several batch "
        "sizes: median over rounds of the mean time per call, after two "
        "warm-up calls. Input: rows of --log, or rows drawn from the "
        "model's vocabulary. A pipeline is timed whole (from raw rows) and "
        "its final step alone (on encoded rows).\n\n"
        "MODEL is read with sklearn_deeplight.load, which runs no code from "
        "the file; a pickle or joblib file is refused unless --trust-pickle "
        "is given.",
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
