"""The HTTP app of ``deeplight serve``: raw JSON records to click probabilities.

Two pieces, usable on their own:

- :class:`RecordScorer` turns a parsed JSON request (``{"records": [...]}``
  or one object of raw fields) into the model's input, checks every value
  against the fields of the pipeline's :class:`~sklearn_deeplight.FieldEncoder`
  (a :class:`RequestError` names the record and the field otherwise) and
  returns the probabilities. A pipeline of a ``FieldEncoder`` and a
  :class:`~sklearn_deeplight.SparseCTRPredictor` scores the checked records
  as they are, a list of dicts, through
  :class:`~sklearn_deeplight.ServingPipeline` (the encoder's compiled
  lookups, no DataFrame); any other pipeline scores a DataFrame of them
  (:meth:`RecordScorer.frame`).
- :func:`create_app` wraps a scorer in a Starlette ASGI app: ``POST
  /predict``, ``GET /health``, one log line per request (logger
  ``sklearn_deeplight.serve``), JSON error bodies with a 4xx status for bad
  input, and a warm-up prediction at startup.

Torch-free: a pipeline of a ``FieldEncoder`` and a
:class:`~sklearn_deeplight.SparseCTRPredictor` is scored without importing
torch. Starlette is imported by :func:`create_app` only (the ``serve``
extra), so this module imports without it.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["RecordScorer", "RequestError", "create_app"]

#: Logger of the request lines and the startup lines.
logger = logging.getLogger("sklearn_deeplight.serve")

#: Default of ``--max-batch``: records per request.
MAX_BATCH = 1024

#: Bytes of request body allowed per record of ``max_batch`` (a record of
#: Criteo's 39 fields takes about 700 bytes of JSON).
BYTES_PER_RECORD = 64 * 1024

#: Request bodies of at most this many bytes (about ten records of Criteo's
#: 39 fields) are scored on the event loop by a ready scorer whose pipeline
#: is a ServingPipeline (its compiled path: tens of microseconds a record),
#: since the hand-off to a worker thread and back costs more than that.
INLINE_BYTES = 8 * 1024

#: Where a request's row count travels from the route to the log line.
_ROWS_KEY = "sklearn_deeplight.rows"

#: Marks the warm-up's requests through the app, which are not logged.
_WARM_KEY = "sklearn_deeplight.warm_up"

_MISSING = object()


class RequestError(Exception):
    """A bad request: the HTTP status, a message naming what is wrong.

    Parameters
    ----------
    status : int
        The HTTP status of the answer (400, 413 or 422).
    message : str
        What is wrong, naming the field and the record where there is one.
    field : str, default=None
        The field at fault.
    record : int, default=None
        The position of the record at fault in ``records``.
    """

    def __init__(
        self,
        status: int,
        message: str,
        field: str | None = None,
        record: int | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field
        self.record = record

    def body(self) -> dict:
        """The JSON body of the answer."""
        out: dict[str, Any] = {"error": self.message}
        if self.field is not None:
            out["field"] = self.field
        if self.record is not None:
            out["record"] = self.record
        return out


def _describe(value: Any) -> str:
    """A JSON value in a message: its kind and (shortened) text."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"a boolean ({json.dumps(value)})"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    text = json.dumps(value)
    if len(text) > 40:
        text = text[:37] + "..."
    kind = {str: "a string", int: "an integer", float: "a number"}.get(
        type(value), type(value).__name__
    )
    return f"{kind} {text}"


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


class RecordScorer:
    """Score JSON records of raw fields with a fitted pipeline.

    Parameters
    ----------
    model : Pipeline or RecordPredictor
        A fitted pipeline whose first step is a
        :class:`~sklearn_deeplight.FieldEncoder` and whose last step has
        ``predict_proba`` (what ``deeplight train`` saves), or a
        :class:`~sklearn_deeplight.RecordPredictor` (a server that starts
        without scikit-learn and pandas).
    id_field : str, default=None
        A key of the records echoed back in ``ids`` (null where a record
        lacks it); it may also be one of the model's fields.
    max_batch : int, default=1024
        Most records in one request (413 beyond); a request body may hold
        64 KiB per record of it.

    Attributes
    ----------
    fields : list of str
        The raw fields, in the encoder's order (``x0``, ``x1``... when the
        encoder was fitted without column names).
    numeric_fields : list of str
        The fields that take numbers; the others take strings, integers
        (and numbers when the field's fitted categories hold floats).
    server : ServingPipeline, RecordPredictor or None
        The serving object that scores the checked records as dicts; None
        when the model is not a ``FieldEncoder`` and a ``SparseCTRPredictor``
        (a DataFrame is scored then).
    ready : bool
        Whether :meth:`warm_up` has run.
    warmup_s : float or None
        Seconds the warm-up took.
    """

    def __init__(
        self, model: Any, *, id_field: str | None = None, max_batch: int = MAX_BATCH
    ) -> None:
        if int(max_batch) < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        self.model = model
        self.id_field = id_field
        self.max_batch = int(max_batch)
        self.max_bytes = BYTES_PER_RECORD * self.max_batch
        self.ready = False
        self.warmup_s: float | None = None
        if _is_record_predictor(model):
            self._init_record_predictor(model)
            return
        steps = getattr(model, "steps", None)
        encoder = steps[0][1] if steps else None
        if encoder is None or not hasattr(encoder, "numeric_fields_"):
            raise ValueError(
                f"the model is a {type(model).__name__}, not a pipeline whose first "
                "step is a fitted FieldEncoder: serving scores raw fields, so save "
                "the encoder with the model (what 'deeplight train' does)"
            )
        if not hasattr(model, "predict_proba"):
            raise ValueError(f"the model {type(model).__name__} has no predict_proba")
        self.encoder = encoder
        n = int(encoder.n_features_in_)
        names = getattr(encoder, "feature_names_in_", None)
        self._named = names is not None
        if names is not None:
            self.fields = [str(v) for v in names]
        else:
            self.fields = [f"x{j}" for j in range(n)]
        self._numeric = frozenset(int(j) for j in encoder.numeric_fields_)
        self.numeric_fields = [self.fields[j] for j in sorted(self._numeric)]
        self._position = {name: j for j, name in enumerate(self.fields)}
        cats = getattr(encoder, "categories_", [None] * n)
        self._float_categories = frozenset(
            j
            for j in range(n)
            if j not in self._numeric
            and cats[j] is not None
            and any(isinstance(v, float | np.floating) and v == v for v in cats[j])
        )
        self._categories = cats
        # Records are dicts keyed by the fields' names: the serving object
        # scores them when the encoder has names.
        self.server = _serving_object(model) if self._named else None

    def _init_record_predictor(self, model: Any) -> None:
        """Serve a :class:`~sklearn_deeplight.RecordPredictor`: its fields,
        the numeric ones, and itself as the serving object. A float in a
        categorical field is refused by the checks of :meth:`rows` (the
        pipeline's serving takes one where the field's categories hold
        floats)."""
        self.encoder = None
        self._named = True
        self.fields = [str(v) for v in model.feature_names_in_]
        numeric = model._tables.numeric_list
        self._numeric = frozenset(j for j, num in enumerate(numeric) if num)
        self.numeric_fields = [self.fields[j] for j in sorted(self._numeric)]
        self._position = {name: j for j, name in enumerate(self.fields)}
        self._float_categories = frozenset()
        self._categories = [None] * len(self.fields)
        self.server = model

    # ------------------------------------------------------------- parsing
    def parse_body(self, body: bytes) -> Any:
        """The JSON of a request body; :class:`RequestError` (400) if malformed."""
        if not body.strip():
            raise RequestError(400, "malformed JSON: the request body is empty")
        try:
            return json.loads(body, parse_constant=_reject_constant)
        except RecursionError:
            raise RequestError(400, "malformed JSON: nested too deeply") from None
        except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, NaN
            raise RequestError(400, f"malformed JSON: {exc}") from None

    def records(self, payload: Any) -> tuple[list[Mapping], bool]:
        """The records of a request and whether it held a ``records`` list."""
        if isinstance(payload, dict) and isinstance(payload.get("records"), list):
            records = payload["records"]
            if len(payload) > 1:
                extra = next(k for k in payload if k != "records")
                raise RequestError(
                    422,
                    f"unexpected key {extra!r} beside 'records' (send "
                    '{"records": [...]} or one object of fields)',
                    field=extra,
                )
            if not records:
                raise RequestError(422, "'records' is empty: send at least one record")
            if len(records) > self.max_batch:
                raise RequestError(
                    413,
                    f"{len(records)} records exceed the limit of {self.max_batch} "
                    "per request (--max-batch)",
                )
            return records, True
        if isinstance(payload, dict):
            if "records" in payload and "records" not in self._position:
                raise RequestError(
                    422,
                    "'records' must be an array of objects, got "
                    + _describe(payload["records"]),
                    field="records",
                )
            return [payload], False
        raise RequestError(
            422,
            'the body must be a JSON object: {"records": [...]} or one object of '
            f"fields, got {_describe(payload)}",
        )

    def rows(self, records: list[Any], batch: bool) -> list[dict]:
        """The checked records, as dicts of the model's fields.

        :class:`RequestError` (422) names the record and the field of a
        missing, unknown or wrongly typed value. The values are kept as they
        are; the ``id_field`` is left out unless it is one of the fields.
        """
        n = len(self.fields)
        out: list[dict] = []
        position = self._position
        numeric = self._numeric
        id_field = self.id_field
        strip_id = id_field is not None and id_field not in position
        for i, rec in enumerate(records):
            where = f"records[{i}]" if batch else "the record"
            if not isinstance(rec, dict):
                raise RequestError(
                    422,
                    f"{where} must be an object of fields, got {_describe(rec)}",
                    record=i if batch else None,
                )
            seen = 0
            for key, value in rec.items():
                j = position.get(key)
                if j is None:
                    if key == id_field:
                        continue
                    raise RequestError(
                        422,
                        f"{where}: unknown field {key!r} (the model's fields: "
                        f"{_field_list(self.fields)})",
                        field=key,
                        record=i if batch else None,
                    )
                seen += 1
                t = type(value)
                if j in numeric:
                    if t is float:
                        ok = math.isfinite(value)
                    elif t is int:
                        try:
                            ok = math.isfinite(float(value))
                        except OverflowError:
                            ok = False
                    else:
                        ok = value is None
                    if not ok:
                        raise RequestError(
                            422,
                            f"{where}: field {key!r} is numeric: expected a finite "
                            f"number or null, got {_describe(rec[key])}",
                            field=key,
                            record=i if batch else None,
                        )
                elif not (
                    t is str
                    or t is int
                    or value is None
                    or (t is float and j in self._float_categories)
                ):
                    kinds = "a string, an integer"
                    if j in self._float_categories:
                        kinds += ", a number"
                    raise RequestError(
                        422,
                        f"{where}: field {key!r} is categorical: expected {kinds} "
                        f"or null, got {_describe(value)}",
                        field=key,
                        record=i if batch else None,
                    )
            if seen < n:
                missing = [f for f in self.fields if f not in rec]
                raise RequestError(
                    422,
                    f"{where}: missing field {missing[0]!r}"
                    + (
                        f" ({len(missing)} fields missing: {_field_list(missing)})"
                        if len(missing) > 1
                        else ""
                    )
                    + "; send null for a missing value",
                    field=missing[0],
                    record=i if batch else None,
                )
            if strip_id and id_field in rec:
                rec = {k: v for k, v in rec.items() if k != id_field}
            out.append(rec)
        return out

    def frame(self, rows: list[dict]) -> Any:
        """The pipeline's input from :meth:`rows`: a DataFrame in field order,
        float64 numeric columns (NaN where null) and object categorical ones
        (a 2-D object array when the encoder was fitted without names)."""
        import pandas as pd

        m = len(rows)
        arrays = []
        for j, name in enumerate(self.fields):
            if j in self._numeric:
                col = [row[name] for row in rows]
                arrays.append(
                    np.array([math.nan if v is None else v for v in col], np.float64)
                )
            else:
                a = np.empty(m, dtype=object)
                a[:] = [row[name] for row in rows]
                arrays.append(a)
        if not self._named:
            out = np.empty((m, len(self.fields)), dtype=object)
            for j, a in enumerate(arrays):
                out[:, j] = a
            return out
        return pd.DataFrame(dict(zip(self.fields, arrays)), columns=self.fields)

    # ------------------------------------------------------------- scoring
    def predict(self, rows: list[dict]) -> np.ndarray:
        """Probabilities of the positive class of the checked ``rows``."""
        try:
            if self.server is not None:
                proba = self.server.predict_proba(rows)
            else:
                proba = self.model.predict_proba(self.frame(rows))
        except (ValueError, TypeError) as exc:
            # The encoder's own checks (e.g. a numeric transform's result);
            # their messages name the field.
            raise RequestError(422, f"cannot score the records: {exc}") from None
        return np.asarray(proba, dtype=np.float64)[:, -1]

    def score(self, payload: Any) -> dict:
        """Answer a parsed request: ``{"probabilities": [...]}`` (and ``ids``)."""
        records, batch = self.records(payload)
        proba = self.predict(self.rows(records, batch))
        out: dict[str, Any] = {"probabilities": proba.tolist()}
        if self.id_field is not None:
            out["ids"] = [rec.get(self.id_field) for rec in records]
        return out

    def score_body(self, body: bytes) -> dict:
        """:meth:`score` of a raw request body."""
        return self.score(self.parse_body(body))

    def example_record(self) -> dict:
        """A record of the model's fields: a kept category of each
        categorical field (null where none), 1.0 for each numeric field."""
        rec: dict[str, Any] = {}
        for j, name in enumerate(self.fields):
            value: Any = None
            if j in self._numeric:
                value = 1.0
            else:
                cats = self._categories[j]
                for v in cats if cats is not None else ():
                    if isinstance(v, np.generic):
                        v = v.item()
                    if isinstance(v, str) or (
                        isinstance(v, int) and not isinstance(v, bool)
                    ):
                        value = v
                        break
            rec[name] = value
        return rec

    def warm_up(self) -> float:
        """Score :meth:`example_record` twice through the request path (the
        first call loads the compiled kernels); returns the seconds taken."""
        t0 = time.perf_counter()
        body = json.dumps({"records": [self.example_record()]}).encode()
        self.score_body(body)
        self.score_body(body)
        self.warmup_s = time.perf_counter() - t0
        self.ready = True
        return self.warmup_s

    def health(self) -> dict:
        """The body of ``GET /health``."""
        from . import __version__

        steps = getattr(self.model, "steps", [])
        last = steps[-1][1] if steps else self.model
        return {
            "ready": self.ready,
            "model_class": type(last).__name__,
            "pipeline": [type(step).__name__ for _, step in steps],
            "serving_object": (
                None if self.server is None else type(self.server).__name__
            ),
            "fields": self.fields,
            "numeric_fields": self.numeric_fields,
            "id_field": self.id_field,
            "max_batch": self.max_batch,
            "warmup_ms": None if self.warmup_s is None else 1e3 * self.warmup_s,
            "torch_imported": "torch" in sys.modules,
            # what the server process has imported of the heavy dependencies
            "imported": [m for m in _HEAVY if m in sys.modules],
            "pid": os.getpid(),
            "version": __version__,
        }


#: The dependencies ``/health`` says the server process imported.
_HEAVY = ("torch", "sklearn", "pandas", "pyarrow", "numba")


def _is_record_predictor(model: Any) -> bool:
    """Whether ``model`` is a RecordPredictor (without importing its module
    where nothing loaded it)."""
    module = sys.modules.get("sklearn_deeplight._scorer")
    return module is not None and isinstance(model, module.RecordPredictor)


def _serving_object(model: Any) -> Any:
    """The :class:`~sklearn_deeplight.ServingPipeline` of a pipeline of a
    ``FieldEncoder`` and a ``SparseCTRPredictor`` (the same steps); None for
    any other model (a torch classifier is not converted: its probabilities
    would move by the float32 rounding of the predictor)."""
    from ._sparse import SparseCTRPredictor

    try:
        from ._serving import ServingPipeline
    except ImportError:  # pragma: no cover - an older library
        return None
    if isinstance(model, ServingPipeline):
        return model
    steps = getattr(model, "steps", None)
    if not steps or len(steps) != 2:
        return None
    if not isinstance(steps[-1][1], SparseCTRPredictor):
        return None
    try:
        return ServingPipeline.from_pipeline(model)
    except (TypeError, ValueError):
        return None


def _field_list(names: list[str], most: int = 8) -> str:
    shown = ", ".join(repr(n) for n in names[:most])
    return shown + (f" ... ({len(names)} in all)" if len(names) > most else "")


class _AccessLog:
    """ASGI middleware: one log line per request (method, path, status,
    rows, latency)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope.get(_WARM_KEY):
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        status = [500]

        async def send_status(message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            logger.info(
                "%s %s %d rows=%d %.2fms",
                scope.get("method", "-"),
                scope.get("path", "-"),
                status[0],
                scope.get(_ROWS_KEY, 0),
                1e3 * (time.perf_counter() - t0),
            )


async def _warm_app(app: Any, scorer: RecordScorer, times: int = 3) -> None:
    """Send ``POST /predict`` of :meth:`RecordScorer.example_record` through
    the ASGI ``app`` in process, ``times`` times (not logged); the second
    time padded with JSON whitespace past :data:`INLINE_BYTES`, so that the
    path of large requests, a worker thread, is warmed too."""
    body = json.dumps({"records": [scorer.example_record()]}).encode()
    padded = body + b" " * max(0, INLINE_BYTES + 1 - len(body))
    for i in range(times):
        await _asgi_post(app, "/predict", padded if i == 1 else body)


async def _asgi_post(app: Any, path: str, body: bytes) -> None:
    """One warm-up ``POST path`` through the ASGI ``app``; RuntimeError unless
    it answers 200."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 0),
        "server": ("127.0.0.1", 0),
        "state": {},
        _WARM_KEY: True,
    }
    sent = [False]

    async def receive() -> dict:
        if sent[0]:
            return {"type": "http.disconnect"}
        sent[0] = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict) -> None:
        if message["type"] == "http.response.start" and message["status"] != 200:
            raise RuntimeError(f"warm-up request answered {message['status']}")

    await app(scope, receive, send)


def create_app(
    model: Any,
    *,
    id_field: str | None = None,
    max_batch: int = MAX_BATCH,
    warm_up: bool = True,
    threads: int = 1,
) -> Any:
    """A Starlette app serving ``model`` over HTTP.

    Parameters
    ----------
    model : Pipeline or RecordScorer
        A fitted ``Pipeline(FieldEncoder, ...)`` (see :class:`RecordScorer`),
        or a scorer built from one.
    id_field : str, default=None
        Echo this key of each record back in ``ids`` (ignored when ``model``
        is a scorer).
    max_batch : int, default=1024
        Most records per request (ignored when ``model`` is a scorer).
    warm_up : bool, default=True
        Run :meth:`RecordScorer.warm_up` at startup (the ASGI lifespan),
        unless it has run, so that the first request does not pay for
        loading the compiled kernels.
    threads : int, default=1
        Requests scored at once, each in a worker thread (the event loop
        stays free for ``/health`` and I/O); the others wait their turn in
        arrival order. A request of at most :data:`INLINE_BYTES` to a
        pipeline that ends in a :class:`~sklearn_deeplight.ServingPipeline`
        is scored on the event loop instead, once the scorer is warm: its
        compiled path takes less than the hand-off to a thread. Encoding raw
        fields holds the GIL, so more threads in one process add contention,
        not throughput: run more processes (``deeplight serve --workers``)
        instead.

    Returns
    -------
    app : starlette.applications.Starlette
        ``POST /predict`` takes ``{"records": [{field: value, ...}, ...]}``
        or one object of fields and answers ``{"probabilities": [...]}``
        (plus ``"ids"`` with ``id_field``); ``GET /health`` describes the
        model. A bad request gets a 4xx status and ``{"error": message,
        "field": ..., "record": ...}``.
    """
    import anyio
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.middleware import Middleware
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    scorer = (
        model
        if isinstance(model, RecordScorer)
        else RecordScorer(model, id_field=id_field, max_batch=max_batch)
    )

    if int(threads) < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    limiter: list[Any] = []  # made in the server's event loop

    async def read_body(request: Request) -> bytes:
        """The request body; RequestError (413) past ``scorer.max_bytes``."""
        limit = scorer.max_bytes
        declared = request.headers.get("content-length", "")
        too_big = RequestError(
            413,
            f"the request body exceeds {limit:,} bytes (64 KiB per record of "
            "--max-batch)",
        )
        if declared.isdigit() and int(declared) > limit:
            raise too_big
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise too_big
            chunks.append(chunk)
        return b"".join(chunks)

    async def predict(request: Request) -> JSONResponse:
        try:
            body = await read_body(request)
        except RequestError as exc:
            return JSONResponse(exc.body(), status_code=exc.status)
        if not limiter:
            limiter.append(anyio.CapacityLimiter(int(threads)))
        try:
            if len(body) <= INLINE_BYTES and scorer.ready and scorer.server is not None:
                result = scorer.score_body(body)
            else:
                # Off the event loop, so that /health answers during a long
                # batch.
                result = await anyio.to_thread.run_sync(
                    scorer.score_body, body, limiter=limiter[0]
                )
        except RequestError as exc:
            return JSONResponse(exc.body(), status_code=exc.status)
        request.scope[_ROWS_KEY] = len(result["probabilities"])
        return JSONResponse(result)

    async def health(request: Request) -> JSONResponse:
        body = scorer.health()
        return JSONResponse(body, status_code=200 if scorer.ready else 503)

    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        message = f"{exc.detail}: {request.method} {request.url.path}"
        if exc.status_code == 404:
            message += " (the routes: POST /predict, GET /health)"
        return JSONResponse(
            {"error": message}, status_code=exc.status_code, headers=exc.headers
        )

    async def lifespan(app):
        if warm_up:
            if not scorer.ready:
                scorer.warm_up()
            # Then through the app itself (routing, the JSON answer, a body
            # scored on the event loop and one in a worker thread), whose
            # first calls cost tens of milliseconds.
            t0 = time.perf_counter()
            await _warm_app(app, scorer)
            app_s = time.perf_counter() - t0
            scorer.warmup_s = (scorer.warmup_s or 0.0) + app_s
            logger.info(
                "warmed up in %.0f ms (the app's requests %.0f ms)",
                1e3 * scorer.warmup_s,
                1e3 * app_s,
            )
        scorer.ready = True
        yield

    from contextlib import asynccontextmanager

    app = Starlette(
        routes=[
            Route("/predict", predict, methods=["POST"]),
            Route("/health", health, methods=["GET"]),
        ],
        middleware=[Middleware(_AccessLog)],
        exception_handlers={HTTPException: http_error},
        lifespan=asynccontextmanager(lifespan),
    )
    app.state.scorer = scorer
    return app
