"""Requests per second and latency of ``deeplight serve`` under load.

Model: DeepFwFM, DNN 400x3, k=10, D-99% R-95% F-40%, random weights pruned by
magnitude (:func:`benchmarks.sparse_latency.make_estimator`, no training)
behind a :class:`~sklearn_deeplight.FieldEncoder` (``numeric_transform=
"criteo"``) fitted on generated Criteo-format rows
(:func:`~sklearn_deeplight.datasets.make_ctr_classification`: 39 raw fields,
13 numeric, 26 categorical of 8-hex-digit strings); the pipeline of the
encoder and the sparse predictor is saved with :func:`sklearn_deeplight.save`.

Server: ``python -m sklearn_deeplight serve MODEL --port 0 --quiet`` in a
subprocess, one worker, numba and BLAS limited to one thread; its request log
goes to a scratch file. Recorded: the time from starting the process to the
first ``/health`` answer, the warm-up it reports, and the first and second
requests' latencies.

Client: Python's own ``http.client`` in this process, closed loop: ``C``
threads, each with one keep-alive connection, each sending one request (one
record of raw fields, drawn in turn from held-out generated rows) as soon as
the previous one is answered, for a warm-up and then a measured window; a last
level sends batches of 64 records per request. Per level: requests per second
(requests completed in the window / its length), rows per second, the p50, p90
and p99 latency of those requests seen by the client, and the CPU time per
request of the client and of the server (psutil). The client and the server
share the machine's cores. (httpx's clients cost 1 to 3 ms of CPU per
request here, more than the server: they measured the client.)

In-process, one thread, medians of chunks of calls
(:func:`benchmarks._common.time_calls`), on the same one-record rows: the
saved pipeline's ``predict_proba`` on a one-row DataFrame,
:class:`~sklearn_deeplight.ServingPipeline`'s on one dict, the server's
request path without HTTP
(:meth:`~sklearn_deeplight._serve_app.RecordScorer.score_body`: JSON parsing,
checks, the serving object on the checked dicts), and the predictor alone on
the encoded row.

Usage::

    python -m benchmarks.serve_load            # full run, about 2 minutes
    python -m benchmarks.serve_load --quick    # smoke run, seconds

Writes ``benchmarks/results/serve_load.json`` (``--quick``:
``serve_load_quick.json.tmp``, git-ignored; ``--out`` to change).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

from ._common import (
    RESULTS,
    ROOT,
    command_line,
    machine_info,
    stamp_loadavg_end,
    time_calls,
    write_json,
)

#: (concurrency, records per request) of the load levels: one record per
#: request (one bid request), then batches of 64 records.
LEVELS = ((1, 1), (8, 1), (32, 1), (8, 64))
STRUCTURE = {"dnn": 0.99, "pairs": 0.95, "emb": 0.4}
HIDDEN = (400, 400, 400)
EMBEDDING_DIM = 10
HEADERS = {"content-type": "application/json"}
ONE_THREAD = {
    "NUMBA_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}


def _stack() -> dict[str, str | None]:
    """The versions of the server's stack: uvicorn picks uvloop's event loop
    and httptools' parser where they are installed (its "auto" settings)."""
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str | None] = {}
    for name in ("starlette", "uvicorn", "uvloop", "httptools"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def build_model(n_rows: int, seed: int = 0):
    """The saved pipeline's parts: a fitted encoder and the sparse predictor,
    and held-out raw rows."""
    from sklearn.pipeline import make_pipeline

    from sklearn_deeplight import FieldEncoder
    from sklearn_deeplight.datasets import make_ctr_classification

    from .sparse_latency import make_estimator

    X, _ = make_ctr_classification(n_rows + 512, random_state=seed)
    X_fit, X_held = X.iloc[:n_rows], X.iloc[n_rows:]
    enc = FieldEncoder(numeric_transform="criteo").fit(X_fit)
    numeric = np.zeros(enc.n_features_in_, bool)
    numeric[enc.numeric_fields_] = True
    n_num = int(numeric.sum())
    assert numeric[:n_num].all(), "numeric fields first"
    # Table rows per field: 1 per numeric field; per categorical field the
    # encoder's codes (kept values and OOV) and the estimator's unseen row.
    sizes = np.where(numeric, 1, enc.field_dims_ + 1).astype(np.int64)
    est = make_estimator(sizes, n_num, EMBEDDING_DIM, HIDDEN, seed=seed, **STRUCTURE)
    est.feature_names_in_ = enc.get_feature_names_out()
    pipe = make_pipeline(enc, est.to_sparse(engine="numba"))
    # Check the pieces fit: the sparse pipeline against the torch estimator.
    ref = make_pipeline(enc, est).predict_proba(X_held.iloc[:64])[:, 1]
    got = pipe.predict_proba(X_held.iloc[:64])[:, 1]
    err = float(np.max(np.abs(got - ref) / np.maximum(np.abs(ref), 1e-12)))
    assert err < 1e-4, f"sparse pipeline differs from the estimator: {err:.2e}"
    return pipe, X_held, int(sizes.sum())


def json_records(X) -> list[dict]:
    """Rows as JSON records: null where missing, whole numbers as integers."""
    out = []
    for row in X.astype(object).itertuples(index=False):
        rec = {}
        for name, v in zip(X.columns, row):
            if v is None or (isinstance(v, float) and v != v):
                v = None
            elif isinstance(v, float) and v.is_integer():
                v = int(v)
            elif isinstance(v, np.generic):
                v = v.item()
            rec[name] = v
        out.append(rec)
    return out


class Server:
    """``deeplight serve MODEL --port 0`` in a subprocess, one thread."""

    def __init__(self, model: Path, log: Path) -> None:
        self.command = [sys.executable, "-m", "sklearn_deeplight", "serve"]
        self.command += [str(model), "--port", "0", "--quiet"]
        self.log = open(log, "w")
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(
            self.command,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            cwd=ROOT,
            env={**os.environ, **ONE_THREAD},
        )
        line: list[str] = []
        reader = threading.Thread(
            target=lambda: line.append(self.proc.stdout.readline()), daemon=True
        )
        reader.start()
        reader.join(120)
        if not line or not line[0].startswith("http://"):
            self.stop()
            raise RuntimeError(f"the server did not start: {log.read_text()}")
        self.url = line[0].strip()
        while True:
            try:
                status, body = request(self.url, "GET", "/health")
                if status == 200:
                    break
            except OSError:
                time.sleep(0.01)
        self.startup_s = time.perf_counter() - t0
        self.health = json.loads(body)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def request(url: str, method: str, path: str, body: bytes | None = None):
    """(status, body) of one request on a new connection."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
    try:
        conn.request(method, path, body=body, headers=HEADERS)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def first_requests(url: str, bodies: list[bytes]) -> list[float]:
    """Seconds of the first two requests of a fresh server (new connections)."""
    out = []
    for body in bodies[:2]:
        t0 = time.perf_counter()
        status, _ = request(url, "POST", "/predict", body)
        out.append(time.perf_counter() - t0)
        assert status == 200, status
    return out


def _load(
    url: str, bodies: list[bytes], concurrency: int, warmup_s: float, seconds: float
) -> list[tuple[float, float, int]]:
    """``concurrency`` closed-loop client threads, each with its own
    keep-alive connection; (start, end, status) per request."""
    parts = urlsplit(url)
    stop = time.perf_counter() + warmup_s + seconds
    done: list[tuple[float, float, int]] = []

    def worker(k: int) -> None:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
        try:
            i = k
            while time.perf_counter() < stop:
                body = bodies[i % len(bodies)]
                i += concurrency
                t0 = time.perf_counter()
                conn.request("POST", "/predict", body=body, headers=HEADERS)
                r = conn.getresponse()
                r.read()
                done.append((t0, time.perf_counter(), r.status))
        finally:
            conn.close()

    threads = [
        threading.Thread(target=worker, args=(k,), daemon=True)
        for k in range(concurrency)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return done


def load_level(
    url: str,
    bodies: list[bytes],
    concurrency: int,
    rows: int,
    warmup_s: float,
    seconds: float,
    server_pid: int | None = None,
) -> dict:
    """One closed-loop level: throughput and latency percentiles, and the CPU
    time per request of the client (this process) and of the server."""
    server_cpu = _cpu_seconds(server_pid)
    c0 = time.process_time()
    t_start = time.perf_counter()
    done = _load(url, bodies, concurrency, warmup_s, seconds)
    client_cpu = time.process_time() - c0
    server_after = _cpu_seconds(server_pid)
    if server_cpu is not None and server_after is not None:
        server_cpu = (server_after - server_cpu) / max(len(done), 1)
    else:
        server_cpu = None
    lo = t_start + warmup_s
    hi = lo + seconds
    # The requests completed inside the window: their count and latencies.
    inside = np.array([t1 - t0 for t0, t1, _ in done if lo <= t1 <= hi])
    errors = sum(1 for d in done if d[2] != 200)
    p50, p90, p99 = np.percentile(inside, [50, 90, 99]) if inside.size else [np.nan] * 3
    return {
        "concurrency": concurrency,
        "records_per_request": rows,
        "seconds": seconds,
        "requests": int(inside.size),
        "requests_per_s": inside.size / seconds,
        "rows_per_s": rows * inside.size / seconds,
        "p50_s": float(p50),
        "p90_s": float(p90),
        "p99_s": float(p99),
        "mean_s": float(inside.mean()) if inside.size else float("nan"),
        "errors": errors,
        # Warm-up and window together: CPU seconds per request sent.
        "client_cpu_s_per_request": client_cpu / max(len(done), 1),
        "server_cpu_s_per_request": server_cpu,
    }


def _cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU seconds of process ``pid`` so far (None without
    psutil or a pid)."""
    if pid is None:
        return None
    try:
        import psutil

        t = psutil.Process(pid).cpu_times()
    except Exception:  # noqa: BLE001 - psutil missing or the process gone
        return None
    return t.user + t.system


def in_process(pipe, X_held, records, min_s: float, reps: int) -> dict:
    """Medians of one-record calls in this process, one thread."""
    import numba
    from threadpoolctl import threadpool_limits

    from sklearn_deeplight import ServingPipeline
    from sklearn_deeplight._serve_app import RecordScorer

    scorer = RecordScorer(pipe)
    frames = [scorer.frame(scorer.rows([rec], False)) for rec in records[:64]]
    encoded = [pipe[0].transform(f) for f in frames]
    server = ServingPipeline.from_pipeline(pipe)
    bodies = [json.dumps(rec).encode() for rec in records[:64]]
    predictor = pipe[-1]
    numba.set_num_threads(1)
    with threadpool_limits(1):
        return {
            "pipeline_predict_proba": time_calls(
                pipe.predict_proba, frames, min_s, reps
            ),
            "serving_pipeline_one_dict": time_calls(
                server.predict_proba, records[:64], min_s, reps
            ),
            "request_path_without_http": time_calls(
                scorer.score_body, bodies, min_s, reps
            ),
            "predictor_on_encoded_row": time_calls(
                predictor.predict_proba, encoded, min_s, reps
            ),
        }


def library_version() -> dict:
    """The library's version and the git commit of the tree it runs from."""
    from sklearn_deeplight import __version__

    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout.strip()
    except OSError:
        commit, dirty = "", ""
    return {
        "version": __version__,
        "git_commit": commit or None,
        "uncommitted_changes": bool(dirty) if commit else None,
    }


def fmt_table(report: dict) -> str:
    ms = 1e3
    lines = [
        f"{'concurrency':>11s} {'rec/req':>7s} {'req/s':>8s} {'rows/s':>8s} "
        f"{'p50 ms':>8s} {'p90 ms':>8s} {'p99 ms':>8s} {'errors':>6s} "
        f"{'client cpu ms':>13s} {'server cpu ms':>13s}"
    ]
    for r in report["load"]:
        lines.append(
            f"{r['concurrency']:11d} {r['records_per_request']:7d} "
            f"{r['requests_per_s']:8.1f} {r['rows_per_s']:8.0f} {ms * r['p50_s']:8.2f} "
            f"{ms * r['p90_s']:8.2f} {ms * r['p99_s']:8.2f} {r['errors']:6d} "
            f"{ms * r['client_cpu_s_per_request']:13.3f} "
            f"{ms * (r['server_cpu_s_per_request'] or float('nan')):13.3f}"
        )
    lines.append("in process, one record (median wall ms):")
    for name, t in report["in_process"].items():
        lines.append(f"  {name:28s} {ms * t['wall_s']:8.3f}")
    s = report["server"]
    lines.append(
        f"server: ready {s['startup_s']:.2f} s after start (warm-up "
        f"{s['warmup_ms']:.0f} ms), first requests "
        f"{', '.join(f'{ms * v:.1f}' for v in s['first_requests_s'])} ms"
    )
    return "\n".join(lines)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="seconds-long smoke run")
    parser.add_argument(
        "--seconds", type=float, default=None, help="measured window per level"
    )
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.out is None:
        name = "serve_load_quick.json.tmp" if args.quick else "serve_load.json"
        args.out = RESULTS / name
    seconds = args.seconds or (1.5 if args.quick else 15.0)
    warmup_s = 0.5 if args.quick else 3.0
    n_rows = 20_000 if args.quick else 1_000_000

    import numba
    import starlette
    import uvicorn

    from sklearn_deeplight import save

    t_run = time.perf_counter()
    report: dict = {
        "benchmark": "serve_load",
        "command": command_line("serve_load", argv),
        "machine": machine_info(
            1,
            numba=numba.__version__,
            starlette=starlette.__version__,
            uvicorn=uvicorn.__version__,
        ),
        "quick": args.quick,
        "library": library_version(),
    }
    pipe, X_held, table_rows = build_model(n_rows)
    records = json_records(X_held)
    expected = pipe.predict_proba(X_held)[:, 1]
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "model.skdl"
        save(pipe, model)
        report["model"] = {
            "name": "DeepFwFM",
            "structure": "D-99% R-95% F-40%",
            "hidden": list(HIDDEN),
            "embedding_dim": EMBEDDING_DIM,
            "fields": int(pipe[0].n_features_in_),
            "numeric_fields": len(pipe[0].numeric_fields_),
            "embedding_rows": table_rows,
            "encoder_fit_rows": n_rows,
            "saved_bytes": model.stat().st_size,
            "weights": "random weights pruned by magnitude, no training",
        }
        server = Server(model, Path(tmp) / "server.log")
        try:
            bodies = [json.dumps(rec).encode() for rec in records]
            first = first_requests(server.url, bodies)
            # The server's answers against the pipeline in this process.
            batch = json.dumps({"records": records[:256]}).encode()
            status, got = request(server.url, "POST", "/predict", batch)
            assert status == 200, got
            got = np.asarray(json.loads(got)["probabilities"])
            rel = np.abs(got - expected[:256]) / np.abs(expected[:256])
            report["server"] = {
                "command": " ".join(["deeplight", *server.command[3:]]).replace(
                    str(model), "MODEL"
                ),
                "workers": 1,
                "threads": 1,
                "startup_s": server.startup_s,
                "warmup_ms": server.health["warmup_ms"],
                "torch_imported": server.health["torch_imported"],
                "first_requests_s": first,
                "max_rel_err_vs_in_process": float(rel.max()),
                "stack": _stack(),
            }
            report["client"] = {
                "library": f"Python {sys.version.split()[0]} http.client, "
                "one thread per client",
                "mode": "closed loop, one keep-alive connection per client, "
                "same machine as the server",
                "warmup_s": warmup_s,
                "seconds": seconds,
            }
            report["load"] = []
            for concurrency, rows in LEVELS:
                pool = bodies
                if rows > 1:
                    pool = [
                        json.dumps(
                            {
                                "records": [
                                    records[(i + j) % len(records)] for j in range(rows)
                                ]
                            }
                        ).encode()
                        for i in range(0, len(records), rows)
                    ]
                level = load_level(
                    server.url,
                    pool,
                    concurrency,
                    rows,
                    warmup_s,
                    seconds,
                    server.proc.pid,
                )
                report["load"].append(level)
                print(
                    f"concurrency {concurrency:2d} x {rows:2d} records: "
                    f"{level['requests_per_s']:7.1f} "
                    f"req/s, p50 {1e3 * level['p50_s']:.2f} ms, p99 "
                    f"{1e3 * level['p99_s']:.2f} ms",
                    flush=True,
                )
        finally:
            server.stop()
    report["in_process"] = in_process(
        pipe, X_held, records, 0.05 if args.quick else 0.3, 3 if args.quick else 7
    )
    stamp_loadavg_end(report["machine"])
    report["duration_s"] = time.perf_counter() - t_run
    print(fmt_table(report))
    print(
        "load average at start / end: "
        f"{report['machine']['loadavg_start']} / {report['machine']['loadavg_end']}"
    )
    write_json(args.out, report, indent=2)
    print(f"wrote {args.out}")
    return report


if __name__ == "__main__":
    main()
