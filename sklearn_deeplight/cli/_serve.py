"""``deeplight serve``: score JSON records of raw fields over HTTP.

Reads MODEL with :func:`sklearn_deeplight.load` (a pickle only with
``--trust-pickle``), checks that it is a pipeline starting with a
``FieldEncoder``, warms it up (two one-row predictions, so that the first
request does not pay for loading the compiled kernels), binds the port, prints
the address on stdout and serves the Starlette app of
:mod:`sklearn_deeplight._serve_app` with uvicorn (the ``serve`` extra) until
interrupted. One log line per request on stderr. Torch-free unless the model
needs torch.

With ``--workers N`` (N > 1) uvicorn runs N processes, each loading and
warming up the model; the app is then built by :func:`_app_from_env` from the
options this process leaves in the environment.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
from pathlib import Path

from .._serve_app import MAX_BATCH
from ._helpers import (
    EXIT_OK,
    _add_trust_pickle,
    _input_file,
    _non_negative_int,
    _positive_int,
    _Progress,
    _subparser,
)
from ._loading import _load_model

#: The options a worker process reads (``--workers`` > 1).
_ENV = "SKLEARN_DEEPLIGHT_SERVE"


def _log_config() -> dict:
    """Logging of the server processes: the request lines of
    ``sklearn_deeplight.serve`` on stderr, uvicorn's warnings and errors."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "line": {"format": "%(asctime)s [%(process)d] %(levelname)s %(message)s"}
        },
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "line",
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {
            "sklearn_deeplight.serve": {
                "handlers": ["stderr"],
                "level": "INFO",
                "propagate": False,
            },
            "uvicorn": {"handlers": ["stderr"], "level": "WARNING", "propagate": False},
            "uvicorn.access": {"level": "WARNING"},
        },
    }


def _require_extra():
    """uvicorn, or ModuleNotFoundError naming the ``serve`` extra."""
    try:
        import starlette  # noqa: F401
        import uvicorn
    except ImportError as exc:
        raise ModuleNotFoundError(
            f"deeplight serve needs starlette and uvicorn ({exc}): "
            "pip install 'sklearn-deeplight[serve]'"
        ) from None
    return uvicorn


def _bind(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` (port 0: a free port) and listening;
    OSError naming the address otherwise."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise OSError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}"
        ) from None
    sock.set_inheritable(True)
    return sock


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _app_from_env():
    """The app of a worker process (``--workers`` > 1), from the options
    :func:`_cmd_serve` left in the environment; it warms up at startup."""
    from .._serve_app import create_app

    options = json.loads(os.environ[_ENV])
    model = _load_model(Path(options["model"]), options["trust_pickle"])
    return create_app(model, id_field=options["id"], max_batch=options["max_batch"])


def _cmd_serve(args, parser) -> int:
    """Run ``deeplight serve``; returns the exit code (when interrupted)."""
    model_path = _input_file(args.model, "model file")
    uvicorn = _require_extra()
    from .._serve_app import RecordScorer, create_app

    progress = _Progress(args.quiet)
    model = _load_model(model_path, args.trust_pickle)
    scorer = RecordScorer(model, id_field=args.id, max_batch=args.max_batch)
    health = scorer.health()
    progress(
        f"loaded {model_path}: {' + '.join(health['pipeline'])}, "
        f"{len(scorer.fields)} fields ({len(scorer.numeric_fields)} numeric)"
        + ("" if health["torch_imported"] else ", torch not imported")
    )
    log_config = _log_config()
    if args.workers == 1:
        seconds = scorer.warm_up()
        progress(f"warmed up in {1e3 * seconds:.0f} ms")
        sock = _bind(args.host, args.port)
        url = _url(args.host, sock.getsockname()[1])
        progress(f"listening on {url}: POST /predict, GET /health (Ctrl-C stops)")
        print(url, flush=True)
        config = uvicorn.Config(
            create_app(scorer), log_config=log_config, access_log=False
        )
        try:
            uvicorn.Server(config).run(sockets=[sock])
        finally:
            sock.close()
        return EXIT_OK
    # Several processes: uvicorn binds the port and starts the workers, each
    # building its app with _app_from_env. A free port for --port 0 is found
    # here (another process could take it before uvicorn binds it).
    sock = _bind(args.host, args.port)
    port = sock.getsockname()[1]
    sock.close()
    os.environ[_ENV] = json.dumps(
        {
            "model": str(model_path.resolve()),
            "trust_pickle": bool(args.trust_pickle),
            "id": args.id,
            "max_batch": args.max_batch,
        }
    )
    url = _url(args.host, port)
    progress(
        f"starting {args.workers} workers on {url}: POST /predict, GET /health "
        "(Ctrl-C stops)"
    )
    print(url, flush=True)
    sys.stderr.flush()
    uvicorn.run(
        f"{__name__}:_app_from_env",
        factory=True,
        host=args.host,
        port=port,
        workers=args.workers,
        log_config=log_config,
        access_log=False,
    )
    return EXIT_OK


def add_parser(
    sub: argparse._SubParsersAction, common: argparse.ArgumentParser
) -> None:
    """Add ``serve`` to the subparsers ``sub``."""
    p = _subparser(
        sub,
        common,
        "serve",
        help="score JSON records of raw fields over HTTP",
        description="Serve MODEL (a FieldEncoder + classifier pipeline saved by "
        "'train') "
        "over HTTP until interrupted. POST /predict takes "
        '{"records": [{field: value, ...}, ...]} or one object of fields '
        'and answers {"probabilities": [...]} in the same order (and "ids" '
        "with --id); GET /health describes the model. Categorical fields "
        "take strings, integers or null, numeric fields numbers or null; a "
        "bad request gets a 4xx status and a message naming the field. The "
        "model is warmed up before the port opens; the address is printed "
        "on stdout, one line per request is logged on stderr. Needs the "
        "serve extra: pip install 'sklearn-deeplight[serve]'.\n\n"
        "MODEL is read with sklearn_deeplight.load, which runs no code from "
        "the file; a pickle or joblib file is refused unless --trust-pickle "
        "is given.",
    )
    p.add_argument("model", metavar="MODEL", help="a model saved by 'train'")
    p.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)"
    )
    p.add_argument(
        "--port",
        type=_non_negative_int,
        default=8000,
        help="port to listen on; 0 picks a free one (default: 8000)",
    )
    p.add_argument(
        "--workers",
        type=_positive_int,
        default=1,
        help="server processes, each with its copy of the model (default: 1)",
    )
    p.add_argument(
        "--max-batch",
        type=_positive_int,
        default=MAX_BATCH,
        help=f"most records per request; more get 413 (default: {MAX_BATCH})",
    )
    p.add_argument(
        "--id",
        default=None,
        metavar="FIELD",
        help="a key of the records echoed back in 'ids' (default: none)",
    )
    _add_trust_pickle(p)
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.set_defaults(func=_cmd_serve)
