"""``deeplight train``: fit a classifier on a click log and save it.

Fits a ``FieldEncoder`` + classifier pipeline (pruning targets as options)
and saves the encoder + the classifier's torch-free sparse predictor with
:func:`sklearn_deeplight.save`, or the torch classifier with joblib
(``--pickle``). A large log trains through an encoded copy on disk
(:mod:`sklearn_deeplight.datasets._ondisk_policy` decides).
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .._registry import COMPONENT_LABELS, COMPONENTS
from ..datasets._ondisk_policy import (
    COMPRESSED_RATIO,
    ON_DISK_BYTES,
    ON_DISK_ENV,
    _use_on_disk,
)
from ._helpers import (
    EXIT_OK,
    UsageError,
    _add_read_options,
    _atomic_write,
    _fraction,
    _human_bytes,
    _input_file,
    _int_list,
    _non_negative_float,
    _non_negative_int,
    _open_fraction,
    _output_file,
    _positive_float,
    _positive_int,
    _Progress,
    _read_options,
    _resolve_format,
    _structure,
    _subparser,
    _torch_threads,
)
from ._models import DEEP_MODELS, MODELS, PRUNABLE
from ._training import _default_warm_up, _fit_with_progress, _pruning_callback


def _option(comp: str) -> str:
    """The command-line option of a prunable component."""
    return "--" + comp.replace("_", "-")


def _build_estimator(args, parser: argparse.ArgumentParser):
    """The classifier of ``--model`` with the command line's settings."""
    import sklearn_deeplight

    model = args.model
    targets = {comp: getattr(args, comp) for comp in COMPONENTS}
    for comp, value in targets.items():
        if value and model not in PRUNABLE[comp]:
            option = _option(comp)
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
    if args.patience is not None and not (args.validation_fraction or args.valid):
        raise UsageError(
            "--patience needs a validation split (--validation-fraction or --valid)"
        )
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
        l2=args.l2,
        embedding_l2=args.embedding_l2,
        validation_fraction=None if args.valid else args.validation_fraction or None,
        patience=args.patience,
        random_state=args.seed,
        callbacks=_pruning_callback(
            {k: v for k, v in targets.items() if v}, warm_up, args.epochs
        ),
    )
    for name, value in (
        ("batch_size", args.batch_size),
        ("lr", args.lr),
        ("embedding_dim", args.embedding_dim),
        ("hidden_units", args.hidden),
        ("dropout", args.dropout),
    ):
        if value is not None:
            params[name] = value
    return cls(**params), targets, warm_up


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
    from .._ondisk import encode_to_memmap, fit_encoder
    from ..datasets._logs import _iter_log

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
    """Run ``deeplight train``; returns the exit code."""
    from sklearn.pipeline import make_pipeline

    from .. import FieldEncoder
    from ..datasets._logs import _read_log

    progress = _Progress(args.quiet)
    log = _input_file(args.log, "log file")
    valid = None if args.valid is None else _input_file(args.valid, "validation log")
    inputs = {"log file": log}
    if valid is not None:
        inputs["validation log"] = valid
    out = _output_file(args.out, inputs)
    _resolve_format(args, log, progress)
    if args.format == "csv" and not args.numeric:
        from ..datasets._logs import detect_numeric_columns

        args.numeric = detect_numeric_columns(
            log, args.label, on_bad_lines=args.on_bad_lines
        )
        if args.numeric:
            progress.detail(
                f"--numeric {','.join(args.numeric)} (columns of non-whole numbers "
                "in the first 10,000 rows)"
            )
    read = _read_options(args)
    workdir = out.parent if args.workdir is None else Path(args.workdir)
    if not workdir.is_dir():
        raise UsageError(f"--workdir: folder not found: {args.workdir}")
    est, targets, warm_up = _build_estimator(args, parser)
    try:
        on_disk, why = _use_on_disk(args.on_disk, log)
    except ValueError as exc:  # DEEPLIGHT_ON_DISK_BYTES is not a size
        raise UsageError(str(exc)) from None
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

    if valid is not None and on_disk:
        raise UsageError(
            f"--valid applies to in-memory training; this log trains on disk "
            f"({why}): pass --on-disk never, or drop --valid"
        )
    with contextlib.ExitStack() as stack:
        if on_disk:
            progress(f"training on disk ({why})")
            folder = stack.enter_context(_scratch_dir(workdir))
            data = _encode_on_disk(args, log, encoder, folder, progress)
            n_rows = data.n_samples

            def fit(e):
                from .._ondisk import fit_ondisk

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

            fit_kw = {}
            if valid is not None:
                progress(f"reading the validation log {valid}")
                X_val, y_val = _read_log(valid, args.format, **read)
                fit_kw = dict(X_val=encoder.transform(X_val), y_val=y_val)
                progress(f"validating on {len(y_val):,} rows of {valid}")

            def fit(e):
                return e.fit(Xt, y, **fit_kw)

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
        from .._persistence import save

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
    """``joblib.dump(obj, path)``, joblib imported when a model is saved."""
    import joblib

    joblib.dump(obj, path)


def add_parser(
    sub: argparse._SubParsersAction, common: argparse.ArgumentParser
) -> None:
    """Add ``train`` to the subparsers ``sub``."""
    p = _subparser(
        sub,
        common,
        "train",
        help="train a model on a click log and save it",
        description="Fit FieldEncoder + a classifier on a click log and save "
        "FieldEncoder "
        "+ the classifier's torch-free SparseCTRPredictor (the same "
        "predictions) with sklearn_deeplight.save, a format that runs no "
        "code when it is loaded (the torch classifier itself cannot be "
        "stored in it). The file is written to a temporary file, then "
        "renamed: an existing file survives a failure. Pruning targets "
        f"({', '.join(_option(c) for c in COMPONENTS)}) train with "
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
        "load_criteo).",
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
    for comp in COMPONENTS:
        name = COMPONENT_LABELS[comp]
        if len(PRUNABLE[comp]) == 1:
            name += f" ({PRUNABLE[comp][0]})"
        p.add_argument(
            _option(comp),
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
        "--batch-size",
        type=_positive_int,
        default=None,
        help="(default: sized from the training rows as the estimators' "
        "batch_size='auto': 256 below 50,000 rows ... 2048 from 1M)",
    )
    p.add_argument(
        "--lr",
        type=_positive_float,
        default=None,
        help="Adam's (default: 1e-3 * sqrt(batch size / 2048), the estimators' "
        "lr='auto')",
    )
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
        help="DNN widths, e.g. 400,400,400 or 400x3 (default: sized from the "
        "training rows as the estimators' hidden_units='auto')",
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
        "--valid",
        default=None,
        metavar="LOG",
        help="a validation log in the same format (e.g. the next day), encoded "
        "with the training log's vocabularies: the per-epoch validation "
        "scores, --patience and --lr-patience use it instead of a "
        "--validation-fraction split (in-memory training only)",
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
