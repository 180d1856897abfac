"""Load tests of the sparse predictor from many threads (issue 8, part 4).

A server calls one shared predictor from many threads at once. Eight threads
make 100,000 predictions together, in batches of 1 to 4,096 rows, starting at
the same instant on a predictor just loaded from disk (so that its lazily
built kernel state is raced for); every result must equal, bit for bit, the
single-threaded result. Throughput of both runs is printed (``-s``).
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.pipeline import make_pipeline

from sklearn_deeplight import DeepFwFMClassifier, FieldEncoder, XDeepFMClassifier
from sklearn_deeplight._persistence import load, save

N_THREADS = 8
N_PREDICTIONS = 100_000
BATCH_SIZES = (1, 2, 5, 8, 31, 64, 257, 1000, 4096)
CARD = (40, 12, 300, 7, 25)


def _codes(n: int, seed: int) -> np.ndarray:
    """Codes of five categorical fields (some unseen or negative) + a value."""
    rng = np.random.RandomState(seed)
    cols = [rng.randint(-2, c + 5, n) for c in CARD]
    return np.column_stack(cols + [rng.randn(n)])


def _batches(total: int, seed: int) -> list[np.ndarray]:
    """Batches of mixed sizes holding ``total`` rows in all."""
    sizes, left, i = [], total, 0
    while left > 0:
        size = min(BATCH_SIZES[i % len(BATCH_SIZES)], left)
        sizes.append(size)
        left -= size
        i += 1
    data = _codes(total, seed)
    codes = data[:, :5]  # a view
    codes[codes == -1] = np.nan  # some codes missing, others negative or unseen
    bounds = np.cumsum([0, *sizes])
    return [data[a:b] for a, b in zip(bounds[:-1], bounds[1:])]


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A pruned DeepFwFM and an xDeepFM, saved as sparse predictors."""
    torch.set_num_threads(1)
    X = _codes(400, 0)
    codes = X[:, :5]  # a view
    codes[codes < 0] = 0
    y = ((X[:, 0] % 3 == 0) ^ (X[:, 5] > 0)).astype(int)
    common = dict(
        embedding_dim=4,
        hidden_units=(16, 8),
        max_epochs=1,
        batch_size=128,
        random_state=0,
        validation_fraction=None,
        numeric_fields=[5],
    )
    folder = tmp_path_factory.mktemp("concurrency")
    paths = {}
    for name, est in (
        ("DeepFwFM", DeepFwFMClassifier(**common)),
        ("xDeepFM", XDeepFMClassifier(cin_layer_sizes=(4, 4), **common)),
    ):
        est.fit(X, y)
        with torch.no_grad():  # prune half of the DNN weights
            for pname, p in est.module_.named_parameters():
                if ".layers." in pname and pname.endswith("weight"):
                    p[p.abs() < p.abs().median()] = 0.0
        paths[name] = folder / f"{name}.skdl"
        save(est.to_sparse(), paths[name])
    return paths


def _run_threads(predict, batches, n_threads: int):
    """Results by batch index from ``n_threads`` threads started together."""
    results: list = [None] * len(batches)
    barrier = threading.Barrier(n_threads)
    errors: list[BaseException] = []

    def worker(t: int) -> None:
        try:
            barrier.wait()
            for i in range(t, len(batches), n_threads):  # interleaved sizes
                results[i] = predict(batches[i])
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(n_threads)]
    start = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=300)
    elapsed = time.perf_counter() - start
    assert not any(th.is_alive() for th in threads), "a thread hangs"
    assert not errors, errors
    return results, elapsed


def test_eight_threads_100k_predictions_equal_single_threaded(saved):
    batches = _batches(N_PREDICTIONS, seed=1)
    assert sum(len(b) for b in batches) == N_PREDICTIONS
    # compile the kernels first (numba caches them on disk): not timed
    warm = load(saved["DeepFwFM"])
    for b in batches[: len(BATCH_SIZES)]:
        warm.predict_proba(b)
    # single-threaded reference, on its own freshly loaded predictor
    serial_pred = load(saved["DeepFwFM"])
    start = time.perf_counter()
    serial = [serial_pred.predict_proba(b) for b in batches]
    serial_s = time.perf_counter() - start
    # eight threads race on the first call of another freshly loaded one
    shared = load(saved["DeepFwFM"])
    threaded, threaded_s = _run_threads(shared.predict_proba, batches, N_THREADS)
    for i, (a, b) in enumerate(zip(serial, threaded)):
        np.testing.assert_array_equal(b, a, err_msg=f"batch {i} ({len(a)} rows)")
    assert not np.isnan(np.concatenate(serial)).any()
    print(
        f"\nload test: {N_THREADS} threads, {N_PREDICTIONS:,} predictions in "
        f"{len(batches)} calls of 1..{max(BATCH_SIZES)} rows: "
        f"{threaded_s:.2f} s ({N_PREDICTIONS / threaded_s:,.0f}/s); single thread "
        f"{serial_s:.2f} s ({N_PREDICTIONS / serial_s:,.0f}/s); results identical"
    )


@pytest.mark.parametrize(
    "engine, n_jobs, method",
    [
        ("numba", -1, "predict_proba"),  # threads inside threads
        ("scipy", None, "predict_proba"),
        ("numba", None, "decision_function"),
        ("numba", None, "predict"),
    ],
)
def test_other_engines_and_methods_from_threads(saved, engine, n_jobs, method):
    """xDeepFM (CIN) through every engine and method, 20,000 predictions."""
    batches = _batches(20_000, seed=2)
    pred = load(saved["xDeepFM"]).set_params(engine=engine, n_jobs=n_jobs)
    serial = [getattr(pred, method)(b) for b in batches]
    shared = load(saved["xDeepFM"]).set_params(engine=engine, n_jobs=n_jobs)
    threaded, _ = _run_threads(getattr(shared, method), batches, N_THREADS)
    for a, b in zip(serial, threaded):
        np.testing.assert_array_equal(b, a)


def test_indexed_path_from_threads(saved):
    """index_input + decision_function_indexed, the lean serving path."""
    pred = load(saved["DeepFwFM"])
    batches = _batches(20_000, seed=3)
    indexed = [pred.index_input(b) for b in batches]
    serial = [pred.decision_function_indexed(xi, xv) for xi, xv in indexed]
    copies = [(xi.copy(), xv.copy()) for xi, xv in indexed]
    with ThreadPoolExecutor(N_THREADS) as pool:
        threaded = list(pool.map(lambda a: pred.decision_function_indexed(*a), indexed))
    for a, b in zip(serial, threaded):
        np.testing.assert_array_equal(b, a)
    for (xi, xv), (ci, cv) in zip(indexed, copies):  # inputs untouched
        np.testing.assert_array_equal(xi, ci)
        np.testing.assert_array_equal(xv, cv)


def test_encoder_pipeline_from_threads(tmp_path):
    """Raw rows through a loaded FieldEncoder + predictor pipeline, 8 threads."""
    rng = np.random.RandomState(4)
    n = 600
    raw = pd.DataFrame(
        {
            "site": rng.choice([f"s{i}" for i in range(30)], n),
            "app": rng.choice([f"a{i}" for i in range(9)], n),
            "price": rng.rand(n) * 5,
        }
    )
    y = (raw["site"].isin(["s1", "s2", "s3"]) | (raw["price"] > 4)).astype(int)
    enc = FieldEncoder(min_frequency=2).fit(raw)
    est = DeepFwFMClassifier(
        embedding_dim=3,
        hidden_units=(8,),
        max_epochs=1,
        random_state=0,
        validation_fraction=None,
    ).fit(enc.transform(raw), y)
    save(make_pipeline(enc, est.to_sparse()), tmp_path / "pipe.skdl")
    pipe = load(tmp_path / "pipe.skdl")
    chunks = [raw.iloc[i : i + 37].copy() for i in range(0, n, 37)] * 4
    chunks[0].loc[chunks[0].index[0], "site"] = "never-seen"
    serial = [pipe.predict_proba(c) for c in chunks]
    threaded, _ = _run_threads(load(tmp_path / "pipe.skdl").predict_proba, chunks, 8)
    for a, b in zip(serial, threaded):
        np.testing.assert_array_equal(b, a)


# ----------------------------------------------------------------------
# Fits in threads (issue 15, item 6)
# ----------------------------------------------------------------------
def _fit_deep(seed: int):
    rng = np.random.RandomState(7)
    X = np.column_stack([rng.randint(0, 20, 400), rng.randint(0, 9, 400)])
    y = (X[:, 0] % 3 == 0).astype(int) ^ (rng.rand(400) < 0.2)
    est = DeepFwFMClassifier(
        embedding_dim=3,
        hidden_units=(8,),
        dropout=0.5,
        batch_size=16,
        max_epochs=2,
        random_state=seed,
        validation_fraction=None,
    )
    return est.fit(X, y).predict_proba(X)


def test_two_fits_in_two_threads_are_reproducible():
    """Each fit used to seed torch's global generator, so concurrent fits
    interleaved their draws (initialisation, shuffling, dropout): with fixed
    seeds their probabilities differed from sequential fits by about 0.02.
    Each fit now draws from its own generator's state."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(123)
        outer = torch.get_rng_state()
        sequential = [_fit_deep(0), _fit_deep(1)]
        assert torch.equal(torch.get_rng_state(), outer)  # the caller's state
        for _ in range(2):
            barrier = threading.Barrier(2)

            def run(seed, barrier=barrier):
                barrier.wait()
                return _fit_deep(seed)

            with ThreadPoolExecutor(2) as pool:
                threaded = list(pool.map(run, [0, 1]))
            for got, want in zip(threaded, sequential):
                np.testing.assert_array_equal(got, want)
        assert torch.equal(torch.get_rng_state(), outer)
    finally:
        torch.set_num_threads(n)
