"""Tests of ``deeplight serve`` (``sklearn_deeplight.cli._serve`` and the app
of ``sklearn_deeplight._serve_app``).

A DeepFwFM is trained by ``deeplight train`` on a generated Criteo-format log,
then served by a real ``python -m sklearn_deeplight serve MODEL --port 0`` in
a subprocess, and called over HTTP with httpx: its probabilities against
``load(MODEL).predict_proba``, bad requests (4xx naming the field, never 500),
one log line per request, torch never imported by the server.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sklearn_deeplight import load, save
from sklearn_deeplight.cli import main
from sklearn_deeplight.datasets import load_criteo

from .test_cli import TINY_DEEP, write_criteo

httpx = pytest.importorskip("httpx", reason="httpx is in the test extra")
pytest.importorskip("starlette", reason="starlette is in the serve extra")
pytest.importorskip("uvicorn", reason="uvicorn is in the serve extra")

REPO = Path(__file__).resolve().parents[1]
LOG_LINE = re.compile(r"INFO (GET|POST) (\S+) (\d{3}) rows=(\d+) ([\d.]+)ms$")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A trained model file, the rows of a test log, and the server on it."""
    folder = tmp_path_factory.mktemp("serve")
    train = write_criteo(folder / "train.txt", 600, seed=0)
    test = write_criteo(folder / "test.txt", 60, seed=1)
    model = folder / "model.skdl"
    code = main(
        ["train", str(train), "--out", str(model), *TINY_DEEP, "--epochs", "1"]
        + ["--dnn", "0.5", "--quiet"]
    )
    assert code == 0
    X, _ = load_criteo(test)
    server = Server(model, folder / "server.log", "--id", "rid", "--max-batch", "40")
    yield {"model": model, "X": X, "server": server, "folder": folder}
    server.stop()


class Server:
    """``deeplight serve MODEL --port 0 ...`` in a subprocess, stderr in a file."""

    def __init__(self, model: Path, log: Path, *options: str) -> None:
        self.log = log
        self.stderr = open(log, "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sklearn_deeplight", "serve", str(model)]
            + ["--port", "0", *options],
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
            cwd=REPO,
        )
        self.url = self._read_url()
        self.client = httpx.Client(base_url=self.url, timeout=30)
        deadline = time.monotonic() + 60
        while True:
            try:
                if self.client.get("/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, self.log.read_text()
            assert self.proc.poll() is None, self.log.read_text()
            time.sleep(0.1)

    def _read_url(self) -> str:
        line: list[str] = []
        reader = threading.Thread(
            target=lambda: line.append(self.proc.stdout.readline()), daemon=True
        )
        reader.start()
        reader.join(60)
        assert line and line[0].startswith("http://"), self.log.read_text()
        return line[0].strip()

    def log_lines(self) -> list[str]:
        return [ln for ln in self.log.read_text().splitlines() if LOG_LINE.search(ln)]

    def stop(self) -> int:
        self.client.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.stderr.close()
        return self.proc.returncode


def records_of(X: pd.DataFrame) -> list[dict]:
    """The rows of ``X`` as JSON records: null where missing, I-fields as
    integers where whole."""
    out = []
    for row in X.astype(object).itertuples(index=False):
        rec = {}
        for name, v in zip(X.columns, row):
            if v is None or (isinstance(v, float) and np.isnan(v)):
                v = None
            elif isinstance(v, float) and v.is_integer():
                v = int(v)
            rec[name] = v
        out.append(rec)
    return out


# ----------------------------------------------------------------------
# Health and scoring
# ----------------------------------------------------------------------
def test_health_reports_the_model_and_no_torch(served):
    r = served["server"].client.get("/health")
    assert r.status_code == 200
    health = r.json()
    assert health["ready"] is True
    assert health["model_class"] == "SparseCTRPredictor"
    assert health["pipeline"] == ["FieldEncoder", "SparseCTRPredictor"]
    assert health["serving_object"] == "ServingPipeline"
    assert health["fields"] == list(served["X"].columns)
    assert health["numeric_fields"] == [f"I{i}" for i in range(1, 14)]
    assert health["id_field"] == "rid" and health["max_batch"] == 40
    assert health["warmup_ms"] > 0
    # The server process never imported torch (this one has: it trained).
    assert health["torch_imported"] is False
    assert health["pid"] == served["server"].proc.pid


def test_probabilities_equal_load_predict_proba(served):
    X = served["X"].iloc[:40]
    expected = load(served["model"]).predict_proba(X)[:, 1]
    records = records_of(X)
    for i, rec in enumerate(records):
        rec["rid"] = f"row-{i}"
    client = served["server"].client
    r = client.post("/predict", json={"records": records})
    assert r.status_code == 200, r.text
    body = r.json()
    np.testing.assert_allclose(body["probabilities"], expected, rtol=1e-6, atol=0)
    assert body["ids"] == [f"row-{i}" for i in range(40)]
    # One object of fields, without the id: one probability, a null id.
    for i in (0, 7):
        r = client.post("/predict", json=records_of(X.iloc[[i]])[0])
        assert r.status_code == 200, r.text
        assert r.json()["ids"] == [None]
        np.testing.assert_allclose(r.json()["probabilities"], expected[[i]], rtol=1e-6)


def test_a_record_predictor_is_served(served):
    """``deeplight serve`` of a saved RecordPredictor: the serving
    pipeline's probabilities, 4xx naming the field."""
    from sklearn_deeplight import RecordPredictor, ServingPipeline

    folder = served["folder"]
    pipe = load(served["model"])
    save(RecordPredictor.from_pipeline(pipe), folder / "records.skdl")
    server = Server(folder / "records.skdl", folder / "records.log", "--id", "rid")
    try:
        health = server.client.get("/health").json()
        assert health["ready"] is True
        assert health["serving_object"] == "RecordPredictor"
        assert health["model_class"] == "RecordPredictor" and health["pipeline"] == []
        assert health["fields"] == list(served["X"].columns)
        assert health["numeric_fields"] == [f"I{i}" for i in range(1, 14)]
        # The command and the RecordPredictor import no scikit-learn or pandas.
        assert not {"torch", "sklearn", "pandas", "pyarrow"} & set(health["imported"])
        records = records_of(served["X"].iloc[:30])
        expected = ServingPipeline.from_pipeline(pipe).predict_proba(records)[:, 1]
        for i, rec in enumerate(records):
            rec["rid"] = i
        r = server.client.post("/predict", json={"records": records})
        assert r.status_code == 200, r.text
        assert r.json()["probabilities"] == expected.tolist()
        assert r.json()["ids"] == list(range(30))
        r = server.client.post("/predict", json={**records[0], "I1": "3"})
        assert r.status_code == 422 and r.json()["field"] == "I1"
        r = server.client.post("/predict", json={**records[0], "C1": 1.5})
        assert r.status_code == 422 and r.json()["field"] == "C1"
    finally:
        server.stop()


def test_values_outside_the_vocabulary_and_nulls_are_scored(served):
    X = served["X"].iloc[:2].copy()
    X["C1"] = ["never-seen", None]
    X["I2"] = [np.nan, 3.0]
    X["C2"] = X["C2"].astype(object)
    X.loc[X.index[0], "C2"] = 12345  # an integer category
    expected = load(served["model"]).predict_proba(X)[:, 1]
    r = served["server"].client.post("/predict", json={"records": records_of(X)})
    assert r.status_code == 200, r.text
    np.testing.assert_allclose(r.json()["probabilities"], expected, rtol=1e-6)


# ----------------------------------------------------------------------
# Bad requests: 4xx and a message naming the field, never 500
# ----------------------------------------------------------------------
def _bad_requests(record: dict) -> list[tuple[str, bytes, int, str | None, str]]:
    """(case, body, status, field, words of the message)."""

    def body(value) -> bytes:
        return json.dumps(value).encode()

    def literal(field: str, text: bytes) -> bytes:
        return body({**record, field: 424242}).replace(b"424242", text)

    missing = {k: v for k, v in record.items() if k != "C7"}
    return [
        ("missing field", body({"records": [record, missing]}), 422, "C7", "missing"),
        ("unknown field", body({**record, "colour": "red"}), 422, "colour", "unknown"),
        ("numeric as str", body({**record, "I3": "12"}), 422, "I3", "numeric"),
        ("numeric as bool", body({**record, "I4": True}), 422, "I4", "numeric"),
        ("categorical float", body({**record, "C2": 1.5}), 422, "C2", "categorical"),
        ("categorical list", body({**record, "C3": ["a"]}), 422, "C3", "categorical"),
        ("categorical obj", body({**record, "C4": {"a": 1}}), 422, "C4", "categor"),
        ("huge number", literal("I5", b"1e999"), 422, "I5", "finite"),
        ("NaN literal", literal("I1", b"NaN"), 400, None, "NaN"),
        ("malformed JSON", b'{"records": [', 400, None, "malformed JSON"),
        ("empty body", b"", 400, None, "empty"),
        ("not UTF-8", b'{"C1": "\xff"}', 400, None, "malformed JSON"),
        ("empty records", body({"records": []}), 422, None, "empty"),
        ("too many records", body({"records": [record] * 41}), 413, None, "41"),
        ("body too large", b" " * (40 * 65536 + 1), 413, None, "bytes"),
        ("records not a list", body({"records": "x"}), 422, "records", "array"),
        ("record not an object", body({"records": [record, 3]}), 422, None, "object"),
        ("body an array", body([record]), 422, None, "JSON object"),
        ("key beside records", body({"records": [record], "x": 1}), 422, "x", "'x'"),
    ]


def test_bad_requests_get_4xx_naming_the_field(served):
    client = served["server"].client
    record = records_of(served["X"].iloc[[0]])[0]
    for case, content, status, field, words in _bad_requests(record):
        r = client.post(
            "/predict", content=content, headers={"content-type": "application/json"}
        )
        assert r.status_code == status, (case, r.status_code, r.text)
        body = r.json()
        assert words in body["error"], (case, body)
        if field is not None:
            assert body["field"] == field, (case, body)
            assert repr(field) in body["error"], (case, body)
    # A body sent in chunks, without its length, is cut off at the limit too.
    r = client.post("/predict", content=iter([b" " * 65536] * 41))
    assert r.status_code == 413 and "bytes" in r.json()["error"]
    # The missing field is named in the second record.
    r = client.post("/predict", content=_bad_requests(record)[0][1])
    assert r.json()["record"] == 1 and r.json()["error"].startswith("records[1]")
    # Other routes and methods: 404 and 405, with a JSON message.
    assert client.get("/nowhere").status_code == 404
    r = client.get("/predict")
    assert r.status_code == 405 and "GET /predict" in r.json()["error"]
    # The server still scores after all of them.
    assert client.post("/predict", json=record).status_code == 200


def test_one_log_line_per_request(served):
    server = served["server"]
    record = records_of(served["X"].iloc[[0]])[0]
    before = len(server.log_lines())
    calls = [
        (lambda: server.client.post("/predict", json={"records": [record] * 3}), 3),
        (lambda: server.client.post("/predict", json={**record, "C1": 0.5}), 0),
        (lambda: server.client.get("/health"), 0),
    ]
    statuses = [call().status_code for call, _ in calls]
    assert statuses == [200, 422, 200]
    deadline = time.monotonic() + 5
    while len(server.log_lines()) < before + 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    lines = server.log_lines()[before:]
    assert len(lines) == 3, lines
    got = [LOG_LINE.search(ln).groups()[:4] for ln in lines]
    assert got == [
        ("POST", "/predict", "200", "3"),
        ("POST", "/predict", "422", "0"),
        ("GET", "/health", "200", "0"),
    ]
    # Startup lines come before the first request; no traceback anywhere.
    text = server.log.read_text()
    assert "warmed up in" in text and "torch not imported" in text
    assert "Traceback" not in text and " 500 " not in text


def test_concurrent_requests(served):
    from concurrent.futures import ThreadPoolExecutor

    X = served["X"].iloc[:16]
    expected = load(served["model"]).predict_proba(X)[:, 1]
    records = records_of(X)
    client = served["server"].client

    def one(i):
        return client.post("/predict", json=records[i]).json()["probabilities"][0]

    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(one, range(16)))
    np.testing.assert_allclose(got, expected, rtol=1e-6)


# ----------------------------------------------------------------------
# The command: options, errors, several workers
# ----------------------------------------------------------------------
def test_a_model_without_an_encoder_exits_1(served, tmp_path, capsys):
    bare = tmp_path / "bare.skdl"
    save(load(served["model"])[-1], bare)
    assert main(["serve", str(bare), "--port", "0"]) == 1
    _, err = capsys.readouterr()
    assert "FieldEncoder" in err and "Traceback" not in err


def test_a_port_in_use_exits_1(served, capsys):
    port = served["server"].url.rsplit(":", 1)[1]
    code = main(["serve", str(served["model"]), "--port", port, "--quiet"])
    assert code == 1
    _, err = capsys.readouterr()
    assert f"cannot listen on 127.0.0.1:{port}" in err


def test_serve_help_and_bad_options(capsys):
    assert main(["serve", "--help"]) == 0
    out, _ = capsys.readouterr()
    for word in ("--port", "--host", "--max-batch", "--workers", "--id", "/health"):
        assert word in out
    assert main(["serve", "m.skdl", "--max-batch", "0"]) == 2
    assert main(["serve", "missing.skdl"]) == 2
    assert "model file not found" in capsys.readouterr().err


@pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX signals")
def test_two_workers_and_interrupt(served):
    server = Server(served["model"], served["folder"] / "workers.log", "--workers", "2")
    try:
        record = records_of(served["X"].iloc[[3]])[0]
        expected = load(served["model"]).predict_proba(served["X"].iloc[[3]])[:, 1]
        pids = set()
        for _ in range(6):
            r = server.client.post("/predict", json=record)
            assert r.status_code == 200, r.text
            np.testing.assert_allclose(r.json()["probabilities"], expected, rtol=1e-6)
            pids.add(server.client.get("/health").json()["pid"])
        assert server.proc.pid not in pids
    finally:
        code = server.stop()
    # Ctrl-C: the command's exit code of an interrupt (or 0).
    assert code in (0, 130), server.log.read_text()


# ----------------------------------------------------------------------
# The app in process (Starlette's TestClient): other encoders
# ----------------------------------------------------------------------
def test_app_of_an_encoder_without_column_names():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from starlette.testclient import TestClient

    from sklearn_deeplight import FieldEncoder
    from sklearn_deeplight._serve_app import create_app

    rng = np.random.default_rng(0)
    X = np.empty((200, 3), dtype=object)
    X[:, 0] = rng.choice(["a", "b", "c"], 200)
    X[:, 1] = rng.uniform(0, 5, 200)
    X[:, 2] = rng.choice([0.5, 1.5, 2.0], 200)  # a categorical field of floats
    y = (X[:, 0] == "a") ^ (X[:, 1] > 2.5)
    model = make_pipeline(FieldEncoder(numeric_fields=[1]), LogisticRegression())
    model.fit(X, y)
    with TestClient(create_app(model)) as client:
        health = client.get("/health").json()
        assert health["ready"] and health["fields"] == ["x0", "x1", "x2"]
        assert health["numeric_fields"] == ["x1"]
        records = [
            {"x0": "a", "x1": 1, "x2": 1.5},
            {"x0": None, "x1": None, "x2": 7},
            {"x0": 3, "x1": 4.25, "x2": None},
        ]
        r = client.post("/predict", json={"records": records})
        assert r.status_code == 200, r.text
        rows = np.array([[v for v in rec.values()] for rec in records], dtype=object)
        rows[1, 1] = np.nan
        expected = model.predict_proba(rows)[:, 1]
        np.testing.assert_allclose(r.json()["probabilities"], expected, rtol=1e-6)
        assert "ids" not in r.json()
        # Floats are categories of x2, not of x0.
        r = client.post("/predict", json={"x0": 0.5, "x1": 1, "x2": 1.5})
        assert r.status_code == 422 and r.json()["field"] == "x0"
        assert "expected a string, an integer or null" in r.json()["error"]
        r = client.post("/predict", json={"x0": "b", "x1": 1, "x2": True})
        assert r.status_code == 422 and r.json()["field"] == "x2"
        assert "expected a string, an integer, a number or null" in r.json()["error"]


def test_app_of_a_pipeline_without_a_sparse_predictor():
    """Not a FieldEncoder + SparseCTRPredictor: the scorer builds a DataFrame."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from starlette.testclient import TestClient

    from sklearn_deeplight import FieldEncoder
    from sklearn_deeplight._serve_app import create_app

    rng = np.random.default_rng(1)
    X = pd.DataFrame(
        {
            "site": rng.choice(["a", "b", "c", None], 300),
            "count": np.where(rng.random(300) < 0.2, np.nan, rng.uniform(0, 9, 300)),
            "hour": rng.integers(0, 24, 300),  # an integer categorical field
        }
    )
    y = (X["site"] == "a") ^ (X["hour"] > 11)
    model = make_pipeline(FieldEncoder(), LogisticRegression()).fit(X, y)
    with TestClient(create_app(model, id_field="rid")) as client:
        health = client.get("/health").json()
        assert health["serving_object"] is None
        assert health["numeric_fields"] == ["count"]
        records = records_of(X.iloc[:20])
        for i, rec in enumerate(records):
            rec["rid"] = i
        r = client.post("/predict", json={"records": records})
        assert r.status_code == 200, r.text
        expected = model.predict_proba(X.iloc[:20])[:, 1]
        np.testing.assert_allclose(r.json()["probabilities"], expected, rtol=1e-6)
        assert r.json()["ids"] == list(range(20))


@pytest.mark.parametrize("sparse", [True, False])
def test_small_requests_are_scored_on_the_event_loop_large_ones_in_a_thread(sparse):
    """A ServingPipeline scores a body of at most INLINE_BYTES on the event
    loop's thread, a larger one in a worker thread while the loop answers
    ``/health``; any other pipeline scores every body in a worker thread."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from starlette.testclient import TestClient

    from sklearn_deeplight import FieldEncoder, LRClassifier
    from sklearn_deeplight._serve_app import INLINE_BYTES, RecordScorer, create_app

    rng = np.random.default_rng(2)
    X = pd.DataFrame({"site": rng.choice(["a", "b", "c"], 200), "n": rng.random(200)})
    y = (X["n"] > 0.5).astype(int)
    if sparse:
        enc = FieldEncoder().fit(X)
        clf = LRClassifier(max_epochs=1, random_state=0).fit(enc.transform(X), y)
        model = make_pipeline(enc, clf.to_sparse())
    else:
        model = make_pipeline(FieldEncoder(), LogisticRegression()).fit(X, y)
    scorer = RecordScorer(model, max_batch=2000)
    assert (scorer.server is not None) is sparse
    threads: list[tuple[int, int]] = []  # (body size, thread) per scored body
    started, release = threading.Event(), threading.Event()
    score_body = scorer.score_body

    def spy(body):
        threads.append((len(body), threading.get_ident()))
        if len(body) > INLINE_BYTES and not release.is_set():
            started.set()
            assert release.wait(30)  # held until /health has answered
        return score_body(body)

    scorer.score_body = spy
    records = records_of(X)
    small = {"records": records[:2]}
    large = {"records": records * 5}
    assert len(json.dumps(small)) <= INLINE_BYTES < len(json.dumps(large))
    release.set()  # the warm-up's large body goes through
    with TestClient(create_app(scorer)) as client:
        loop_thread = client.portal.call(threading.get_ident)
        warm = list(threads)
        threads.clear()
        release.clear()
        r = client.post("/predict", json=small)
        assert r.status_code == 200 and len(r.json()["probabilities"]) == 2
        answers = []
        poster = threading.Thread(
            target=lambda: answers.append(client.post("/predict", json=large))
        )
        poster.start()
        assert started.wait(30)
        assert client.get("/health").status_code == 200  # the loop is free
        release.set()
        poster.join(30)
        assert answers[0].status_code == 200
        assert len(answers[0].json()["probabilities"]) == 5 * len(records)
    # the warm-up through the app scored small bodies and one past INLINE_BYTES
    assert [size > INLINE_BYTES for size, _ in warm][-3:] == [False, True, False]
    (small_size, small_thread), (large_size, large_thread) = threads
    assert small_size <= INLINE_BYTES < large_size
    assert (small_thread == loop_thread) is sparse
    assert large_thread != loop_thread


# ----------------------------------------------------------------------
# The load benchmark (smoke run)
# ----------------------------------------------------------------------
@pytest.mark.skipif(
    not (REPO / "benchmarks" / "serve_load.py").exists(),
    reason="benchmarks/ not in this checkout",
)
def test_serve_load_benchmark_quick(tmp_path):
    from benchmarks import serve_load

    out = tmp_path / "serve_load.json"
    report = serve_load.main(["--quick", "--seconds", "0.5", "--out", str(out)])
    assert json.loads(out.read_text()) == json.loads(json.dumps(report))
    assert [(r["concurrency"], r["records_per_request"]) for r in report["load"]] == [
        *serve_load.LEVELS
    ]
    for level in report["load"]:
        assert level["errors"] == 0 and level["requests"] > 0
        assert level["p50_s"] <= level["p99_s"]
    assert report["server"]["torch_imported"] is False
    assert report["server"]["max_rel_err_vs_in_process"] <= 1e-6
    assert "loadavg_start" in report["machine"] and "loadavg_end" in report["machine"]
