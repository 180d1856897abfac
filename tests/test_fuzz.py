"""Fuzz and property tests (issue 8): readers and ``load`` on random and
mutated bytes, the sparse predictor against the estimator on random models,
and the encoder's transform on arbitrary values.

The fuzz loops are bounded by a count and a time budget each; every input is
derived from a fixed seed, so a failure is reproducible from its message.
"""

from __future__ import annotations

import copy
import datetime
import decimal
import gzip
import hashlib
import json
import signal
import sys
import time
import warnings
import zipfile
from collections import Counter
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sklearn_deeplight import (
    DeepFMClassifier,
    DeepFwFMClassifier,
    FieldEncoder,
    FMClassifier,
    FwFMClassifier,
    LRClassifier,
    NFMClassifier,
    SparseCTRPredictor,
    XDeepFMClassifier,
)
from sklearn_deeplight._persistence import load, save
from sklearn_deeplight.datasets import load_avazu, load_criteo, load_libffm

#: Inputs per fuzz target and seconds per target (whichever comes first).
FUZZ_CASES = 120
FUZZ_SECONDS = 3.0
CALL_TIMEOUT_S = 30

_CRITEO = "".join(
    f"{i % 2}\t"
    + "\t".join(str((i * 7 + j) % 50 - 2) if (i + j) % 5 else "" for j in range(13))
    + "\t"
    + "\t".join(f"{(i * 31 + j) % 97:08x}" if (i + j) % 7 else "" for j in range(26))
    + "\n"
    for i in range(12)
).encode()
_AVAZU = b"id,click,hour,C1,banner_pos,site_id,app_id\n" + b"".join(
    f"{i},{i % 2},14102100,{1005 + i % 3},{i % 2},s{i % 4},a{i % 3}\n".encode()
    for i in range(12)
)
_LIBFFM = b"".join(
    f"{1 if i % 2 else -1} 0:{i % 5}:1 1:{i % 3 + 7}:1 2:0:{i / 4}\n".encode()
    for i in range(12)
)
READERS: dict[str, tuple[Callable, bytes, str, dict]] = {
    "criteo": (load_criteo, _CRITEO, ".txt", {}),
    "avazu": (load_avazu, _AVAZU, ".csv", {}),
    "libffm": (load_libffm, _LIBFFM, ".ffm", {"numeric_fields": [2]}),
}
_SPECIAL = [
    b"\t",
    b"\n",
    b",",
    b":",
    b" ",
    b"\r\n",
    b"\r",
    b"\x00",
    b"-",
    b"1e400",
    b"nan",
]


class _Hang(BaseException):
    pass


def _alarm(signum, frame):
    raise _Hang


def _guarded(func: Callable, *args, **kwargs):
    """Call under an alarm: a hang fails the test instead of blocking it."""
    timed = hasattr(signal, "SIGALRM")  # POSIX; elsewhere runs without a limit
    if timed:
        old = signal.signal(signal.SIGALRM, _alarm)
        signal.alarm(CALL_TIMEOUT_S)
    try:
        return func(*args, **kwargs)
    except _Hang:
        pytest.fail(f"{getattr(func, '__name__', func)} hangs")
    finally:
        if timed:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, old)


def _mutate(data: bytes, rng: np.random.RandomState, ascii_only: bool) -> bytes:
    """One to four random edits: flips, inserts, deletes, cuts, line swaps."""
    b = bytearray(data)
    for _ in range(rng.randint(1, 5)):
        op = rng.randint(7)
        pos = rng.randint(len(b) + 1)
        if op == 0 and b:  # change a byte
            b[min(pos, len(b) - 1)] = rng.randint(32, 127 if ascii_only else 256)
        elif op == 1:  # insert a separator, a newline or a number
            b[pos:pos] = _SPECIAL[rng.randint(len(_SPECIAL))]
        elif op == 2:  # delete a run
            del b[pos : pos + rng.randint(1, 12)]
        elif op == 3:  # cut the file
            del b[pos:]
        elif op == 4:  # duplicate or drop a line
            lines = bytes(b).split(b"\n")
            i = rng.randint(len(lines))
            lines.insert(i, lines[i]) if rng.rand() < 0.5 else lines.pop(i)
            b = bytearray(b"\n".join(lines))
        elif op == 5:  # random bytes
            n = rng.randint(1, 20)
            hi = 127 if ascii_only else 256
            b[pos:pos] = bytes(rng.randint(32 if ascii_only else 0, hi, n).tolist())
        else:  # a huge number
            b[pos:pos] = str(rng.choice([2**63, 10**30, -(2**70)])).encode()
    return bytes(b)


def _inputs(seed_data: bytes, rng, ascii_only: bool):
    """Random bytes, then mutations of a valid file, within the budget."""
    start = time.perf_counter()
    for i in range(FUZZ_CASES):
        if time.perf_counter() - start > FUZZ_SECONDS:
            return
        if i % 6 == 0:
            n = rng.randint(0, 300)
            lo, hi = (9, 127) if ascii_only else (0, 256)
            data = bytes(rng.randint(lo, hi, n).tolist())
        else:
            data = _mutate(seed_data, rng, ascii_only)
        yield data


def _check_result(result) -> None:
    X, y = result
    assert isinstance(X, pd.DataFrame) and isinstance(y, np.ndarray)
    assert y.dtype == np.int64 and len(X) == len(y)
    assert set(np.unique(y)) <= {0, 1}
    assert isinstance(X.attrs["n_bad_lines"], int)


@pytest.mark.parametrize("name", list(READERS))
def test_readers_fuzz(name, tmp_path):
    """Random and mutated files: a result or a ValueError, nothing else."""
    reader, seed_data, suffix, kwargs = READERS[name]
    rng = np.random.RandomState(8)
    outcomes: Counter = Counter()
    path = tmp_path / f"fuzz{suffix}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for data in _inputs(seed_data, rng, ascii_only=False):
            path.write_bytes(data)
            for on_bad_lines in ("error", "skip"):
                try:
                    result = _guarded(reader, path, on_bad_lines=on_bad_lines, **kwargs)
                except ValueError as exc:
                    outcomes[type(exc).__name__] += 1
                    assert str(exc), "an error without a message"
                    continue
                except Exception as exc:
                    pytest.fail(
                        f"{name} raised {type(exc).__name__}: {exc} on_bad_lines="
                        f"{on_bad_lines!r} on the bytes {data[:200]!r}"
                    )
                _check_result(result)
                outcomes["works"] += 1
    assert outcomes["works"] > 0
    print(f"\nfuzz {name}: {sum(outcomes.values())} reads, {dict(outcomes)}")


@pytest.mark.parametrize(
    "name",
    ["criteo", "libffm"],
)
def test_readers_skip_any_ascii_garbage(name, tmp_path):
    """With on_bad_lines='skip', malformed ASCII lines are skipped, never fatal."""
    reader, seed_data, suffix, kwargs = READERS[name]
    rng = np.random.RandomState(9)
    path = tmp_path / f"fuzz{suffix}"
    n = 0
    for data in _inputs(seed_data, rng, ascii_only=True):
        path.write_bytes(data)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                result = _guarded(reader, path, on_bad_lines="skip", **kwargs)
            except Exception as exc:
                pytest.fail(
                    f"{name} with on_bad_lines='skip' raised {type(exc).__name__}: "
                    f"{exc} on the bytes {data[:200]!r}"
                )
        _check_result(result)
        n += 1
    assert n > 10


@pytest.mark.parametrize("name", ["criteo", "avazu"])
def test_readers_lone_carriage_return(name, tmp_path):
    """A lone carriage return inside a string field is data, not a line end."""
    reader, seed_data, suffix, kwargs = READERS[name]
    sep = b"\t" if name == "criteo" else b","
    lines = seed_data.split(b"\n")
    fields = lines[2].split(sep)
    assert len(fields[-1]) >= 2  # a string field, given a "\r" inside
    fields[-1] = fields[-1][:1] + b"\r" + fields[-1][1:]
    lines[2] = sep.join(fields)
    path = tmp_path / f"cr{suffix}"
    path.write_bytes(b"\n".join(lines))
    X, y = _guarded(reader, path, **kwargs)
    n_rows = len([line for line in seed_data.split(b"\n") if line]) - (name == "avazu")
    assert len(X) == n_rows and X.attrs["n_bad_lines"] == 0
    row = 2 - (name == "avazu")  # avazu's line 1 is its header
    assert X.iloc[row, -1] == fields[-1].decode()


def test_readers_fuzz_gzip(tmp_path):
    rng = np.random.RandomState(10)
    packed = gzip.compress(_CRITEO, mtime=0)
    path = tmp_path / "fuzz.txt.gz"
    for data in list(_inputs(packed, rng, ascii_only=False))[:40]:
        path.write_bytes(data)
        try:
            _guarded(load_criteo, path, on_bad_lines="skip")
        except ValueError:
            pass


# ----------------------------------------------------------------------
# load() on random and mutated bytes
# ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    """A saved pipeline-like list: encoder and xDeepFM sparse predictor."""
    torch.set_num_threads(1)
    rng = np.random.RandomState(0)
    raw = pd.DataFrame(
        {
            "site": rng.choice(["a", "b", "c"], 60),
            "app": rng.choice(["x", "y"], 60),
            "n": rng.rand(60),
        }
    )
    enc = FieldEncoder().fit(raw)
    Xt = enc.transform(raw)
    est = XDeepFMClassifier(
        embedding_dim=2,
        hidden_units=(3,),
        cin_layer_sizes=(2,),
        max_epochs=1,
        random_state=0,
        validation_fraction=None,
    ).fit(Xt, np.arange(60) % 2)
    path = tmp_path_factory.mktemp("fuzz_load") / "model.skdl"
    save([enc, est.to_sparse()], path)
    return path, Xt


def _use(obj, Xt: pd.DataFrame) -> None:
    """Exercise whatever a mutated file loaded as (it must never crash)."""
    items = obj if isinstance(obj, list) else [obj]
    for item in items:
        if isinstance(item, SparseCTRPredictor):
            for engine in ("numba", "scipy"):
                item.set_params(engine=engine)
                item.predict_proba(Xt)


def test_load_fuzz(model_file, tmp_path):
    """Random and mutated bytes: a model, or a ValueError/TypeError."""
    path, Xt = model_file
    data = path.read_bytes()
    rng = np.random.RandomState(11)
    target = tmp_path / "fuzz.skdl"
    outcomes: Counter = Counter()
    for mutated in _inputs(data, rng, ascii_only=False):
        target.write_bytes(mutated)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                obj = _guarded(load, target)
        except (ValueError, TypeError) as exc:
            outcomes[type(exc).__name__] += 1
            assert str(target) in str(exc), exc
            continue
        except Exception as exc:
            pytest.fail(f"load raised {type(exc).__name__}: {exc}")
        outcomes["works"] += 1  # a flip in zip metadata the format ignores
        _use(obj, Xt)
    assert outcomes["ValueError"] > 0
    print(f"\nfuzz load (bytes): {sum(outcomes.values())} files, {dict(outcomes)}")


def _resign(entries: dict[str, bytes]) -> dict[str, bytes]:
    """Recompute the manifest's checksums: a crafted, well-formed file."""
    manifest = json.loads(entries["manifest.json"])
    payload = hashlib.sha256()
    listed = []
    for name, blob in entries.items():
        if name != "manifest.json":
            payload.update(blob)
            digest = hashlib.sha256(blob).hexdigest()
            listed.append({"name": name, "size": len(blob), "sha256": digest})
    manifest.update(entries=listed, payload_sha256=payload.hexdigest())
    return dict(entries, **{"manifest.json": json.dumps(manifest).encode()})


_REPLACEMENTS = [
    None,
    -1,
    0,
    1,
    2**31,
    -(2**63),
    10**30,
    1.5,
    -1e308,
    "x",
    "",
    [],
    [0, 1],
    {},
    {"$": "ndarray", "id": 0},
    {"$": "ndarray", "id": 10**6},
    {"$": "tuple", "items": [10**9, 10**9]},
    {"$": "object", "class": "builtins.eval", "state": {}},
    {"$": "function", "name": "os.system"},
    {"$": "bytes", "id": 0},
    {"$": "scalar", "dtype": "<f8", "hex": "00"},
    {"$": "dtype", "v": "O"},
    {"$": "pd.Index", "dtype": {"numpy": "<i8"}, "values": [1], "name": None},
    {"$": "sparse", "format": "csr", "matrix": False, "shape": [1, 1]},
]


def _nodes(tree, path=()):
    """Every (container, key) of the JSON tree."""
    if isinstance(tree, dict):
        for k, v in tree.items():
            yield tree, k
            yield from _nodes(v, path + (k,))
    elif isinstance(tree, list):
        for i, v in enumerate(tree):
            yield tree, i
            yield from _nodes(v, path + (i,))


def _random_array(rng) -> bytes:
    import io

    kind = rng.randint(4)
    if kind == 0:
        arr = rng.randint(-(2**40), 2**40, rng.randint(0, 6))
    elif kind == 1:
        arr = rng.randn(*rng.randint(0, 4, rng.randint(1, 3)))
    elif kind == 2:
        arr = np.array(["a", "bc"][: rng.randint(0, 3)])
    else:
        arr = rng.randint(0, 2, rng.randint(0, 9)).astype(np.uint8)
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


def test_load_fuzz_crafted_content(model_file, tmp_path):
    """Well-formed files (valid checksums) with random values in the tree or
    arrays: refused with ValueError/TypeError, or a model that predicts
    without crashing: what the compiled kernels index is always checked."""
    path, Xt = model_file
    with zipfile.ZipFile(path) as zf:
        entries = {n: zf.read(n) for n in zf.namelist()}
    tree = json.loads(entries["tree.json"])
    arrays = sorted(n for n in entries if n.startswith("arrays/"))
    rng = np.random.RandomState(12)
    target = tmp_path / "crafted.skdl"
    outcomes: Counter = Counter()
    start = time.perf_counter()
    for i in range(FUZZ_CASES):
        if time.perf_counter() - start > FUZZ_SECONDS:
            break
        new = dict(entries)
        if i % 10 == 0:  # an untrusted class where a trusted one was
            mutated = copy.deepcopy(tree)
            mutated[1]["class"] = ["builtins.eval", "os.system"][i % 20 // 10]
            new["tree.json"] = json.dumps(mutated).encode()
        elif i % 3:
            mutated = copy.deepcopy(tree)
            for _ in range(rng.randint(1, 3)):
                nodes = list(_nodes(mutated))
                parent, key = nodes[rng.randint(len(nodes))]
                choice = _REPLACEMENTS[rng.randint(len(_REPLACEMENTS))]
                parent[key] = copy.deepcopy(choice)
            new["tree.json"] = json.dumps(mutated).encode()
        else:
            new[arrays[rng.randint(len(arrays))]] = _random_array(rng)
        with zipfile.ZipFile(target, "w") as zf:
            for name, blob in _resign(new).items():
                zf.writestr(name, blob)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                obj = _guarded(load, target)
        except (ValueError, TypeError) as exc:
            outcomes[type(exc).__name__] += 1
            continue
        except Exception as exc:
            pytest.fail(f"load raised {type(exc).__name__}: {exc!r}")
        outcomes["loaded"] += 1
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                _use(obj, Xt)
        except (ValueError, TypeError, AttributeError) as exc:
            # A crafted but consistent model may be unusable (e.g. its
            # parameters are not valid); it must never read out of bounds.
            outcomes[f"loaded, predict {type(exc).__name__}"] += 1
    assert outcomes["ValueError"] > 0 and outcomes["TypeError"] > 0, outcomes
    print(f"\nfuzz load (crafted): {sum(outcomes.values())} files, {dict(outcomes)}")


# ----------------------------------------------------------------------
# Property: the sparse predictor equals the estimator on random models
# ----------------------------------------------------------------------
def _random_model(draw_name: str, k: int, hidden: tuple, linear: str, bn: bool):
    common = dict(max_epochs=1, batch_size=32, random_state=0, lr=0.05)
    common.update(validation_fraction=None, embedding_dim=k)
    deep = dict(common, hidden_units=hidden, dropout=0.0)
    return {
        "LR": lambda: LRClassifier(max_epochs=1, batch_size=32, random_state=0),
        "FM": lambda: FMClassifier(**common),
        "FwFM": lambda: FwFMClassifier(linear_term=linear, **common),
        "DeepFM": lambda: DeepFMClassifier(batch_norm=bn, **deep),
        "NFM": lambda: NFMClassifier(batch_norm=bn, **deep),
        "xDeepFM": lambda: XDeepFMClassifier(cin_layer_sizes=(3, 2), **deep),
        "DeepFwFM": lambda: DeepFwFMClassifier(
            linear_term=linear, batch_norm=bn, **deep
        ),
    }[draw_name]()


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    name=st.sampled_from(["LR", "FM", "FwFM", "DeepFM", "NFM", "xDeepFM", "DeepFwFM"]),
    cards=st.lists(st.integers(1, 12), min_size=1, max_size=4),
    n_numeric=st.integers(0, 2),
    k=st.integers(1, 4),
    hidden=st.lists(st.integers(1, 6), min_size=1, max_size=2).map(tuple),
    linear=st.sampled_from(["scalar", "feature_vector", "field_vector"]),
    bn=st.booleans(),
    prune=st.floats(0.0, 1.0),
    as_frame=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_sparse_equals_estimator_property(
    name, cards, n_numeric, k, hidden, linear, bn, prune, as_frame, seed
):
    """Trained random models, pruned at random, on inputs with unseen,
    negative and missing codes: the sparse predictor predicts what the
    estimator predicts (the documented 1e-5 normwise relative error)."""
    torch.set_num_threads(1)
    rng = np.random.RandomState(seed)
    n_fit = 64

    def make(n):
        cols = {
            f"c{j}": rng.randint(0, c, n).astype(float) for j, c in enumerate(cards)
        }
        cols.update({f"n{j}": rng.randn(n) * 2 for j in range(n_numeric)})
        return pd.DataFrame(cols)

    X = make(n_fit)
    numeric = [f"n{j}" for j in range(n_numeric)]
    X_fit = X if as_frame else X.to_numpy()
    est = _random_model(name, k, hidden, linear, bn)
    est.set_params(
        numeric_fields=numeric
        if as_frame
        else list(range(len(cards), len(cards) + n_numeric))
    )
    est.fit(X_fit, rng.randint(0, 2, n_fit) if n_fit > 2 else [0, 1])
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for pname, p in est.module_.named_parameters():
            if p.dim() >= 1 and pname != "bias":
                p.mul_((torch.rand(p.shape, generator=gen) >= prune).float())
    T = make(37)
    T.iloc[:5, 0] = 999  # unseen
    T.iloc[5:9, 0] = -4  # negative
    T.iloc[9:12, 0] = np.nan  # missing
    T_in = T if as_frame else T.to_numpy()
    ref = est.predict_proba(T_in)
    for engine in ("numba", "scipy"):
        pred = est.to_sparse(engine=engine)
        got = pred.predict_proba(T_in)
        assert got.shape == ref.shape and not np.isnan(got).any()
        err = np.linalg.norm(got - ref) / np.linalg.norm(ref)
        assert err <= 1e-5, (engine, err)
        np.testing.assert_array_equal(pred.classes_, est.classes_)


# ----------------------------------------------------------------------
# Property: the encoder's transform is total
# ----------------------------------------------------------------------
_ANY = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=4),
    st.binary(max_size=3),
    st.tuples(st.integers(0, 3)),
    st.lists(st.integers(0, 3), max_size=2),  # unhashable
    st.dictionaries(st.text(max_size=1), st.integers(0, 2), max_size=1),
    st.sampled_from(
        [
            pd.NA,
            pd.NaT,
            np.nan,
            np.int64(3),
            np.float32(2.5),
            decimal.Decimal("1.5"),
            datetime.date(2024, 1, 1),
            complex(1, 2),
            "",
        ]
    ),
)


@settings(max_examples=30, deadline=None)
@given(
    fit_rows=st.lists(
        st.tuples(
            _ANY.filter(lambda v: not isinstance(v, list | dict)),
            _ANY.filter(lambda v: not isinstance(v, list | dict)),
        ),
        min_size=1,
        max_size=8,
    ),
    rows=st.lists(st.tuples(_ANY, _ANY), min_size=1, max_size=8),
    handle_missing=st.sampled_from(["category", "oov"]),
    min_frequency=st.sampled_from([1, 2]),
    as_frame=st.booleans(),
)
def test_encoder_transform_is_total(
    fit_rows, rows, handle_missing, min_frequency, as_frame
):
    """Any values of the right width encode; unknown ones map to the OOV code."""
    fit_X = pd.DataFrame(fit_rows, columns=["a", "b"], dtype=object)
    enc = FieldEncoder(
        numeric_fields=None,
        handle_missing=handle_missing,
        min_frequency=min_frequency,
    ).fit(fit_X)
    X = pd.DataFrame(rows, columns=["a", "b"], dtype=object)
    kept = copy.deepcopy(rows)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = enc.transform(X if as_frame else X.to_numpy())
    assert out.shape == (len(rows), 2)
    for j, col in enumerate(["a", "b"]):
        codes = out[col].to_numpy()
        assert codes.dtype == np.int64
        assert ((codes >= 0) & (codes < enc.field_dims_[j])).all()
        fitted_codes = enc.transform(fit_X)[col].to_numpy()
        for i, value in enumerate(X[col]):
            if _missing(value):
                continue  # the missing category or OOV, by handle_missing
            same = [k for k, v in enumerate(fit_X[col]) if _identical(v, value)]
            equal = [k for k, v in enumerate(fit_X[col]) if _equal(v, value)]
            if same:
                assert codes[i] == fitted_codes[same[0]], value
            elif not equal:
                assert codes[i] == enc.oov_codes_[j], (value, codes[i])
    assert repr(rows) == repr(kept)  # the caller's values are untouched


def _missing(v) -> bool:
    if v is None or v is pd.NA or v is pd.NaT or v == "":
        return True
    return isinstance(v, float | np.floating) and v != v


def _equal(a, b) -> bool:
    """Whether a and b compare equal (the way a hash lookup could match them)."""
    if _missing(a):
        return False
    try:
        return bool(a == b)
    except Exception:  # e.g. ambiguous comparisons
        return True


def _identical(a, b) -> bool:
    """Same type and equal: the value seen in fit, without numeric coercion."""
    return type(a) is type(b) and _equal(a, b)


@settings(max_examples=20, deadline=None)
@given(values=st.lists(_ANY, min_size=1, max_size=6))
def test_encoder_numeric_field_is_checked(values):
    """A numeric field encodes numbers and raises ValueError for the rest."""
    enc = FieldEncoder(numeric_fields=[0]).fit(pd.DataFrame({"x": [1.0, 2.0]}))
    X = pd.DataFrame({"x": pd.Series(values, dtype=object)})
    try:
        out = enc.transform(X)
    except ValueError as exc:
        assert "'x'" in str(exc)
        return
    assert out["x"].dtype == np.float64 and np.isfinite(out["x"]).all()


def test_fuzz_budget_is_bounded():
    assert FUZZ_CASES * len(READERS) <= 500 and FUZZ_SECONDS <= 10


# ----------------------------------------------------------------------
# Property: a mutated file loads as its model or is refused, in bounded
# memory (issue 15)
# ----------------------------------------------------------------------
MUTATED_CASES = 200


@pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="RLIMIT_AS and /proc are Linux's"
)
def test_any_mutated_file_loads_as_its_model_or_is_refused(tmp_path):
    """Files ``save`` writes (an encoder + xDeepFM list, LR, float16 DeepFwFM
    with column names, DCN-V2), each mutated at random bytes (uniform or aimed
    at the zip headers, manifest, tree and array headers): every one loads to
    an object that predicts exactly as the original (both engines) or is
    refused with ValueError/TypeError, in a subprocess whose address space may
    grow by only 256 MiB (RLIMIT_AS), each load within 200 MiB of extra
    resident memory. ``python -m benchmarks.load_fuzz`` runs 2,400 mutated and
    crafted files the same way."""
    from benchmarks import load_fuzz

    seeds = load_fuzz.make_seeds(tmp_path, large=False)
    jobs = load_fuzz.make_cases(tmp_path, seeds, MUTATED_CASES, 0, seed=3)
    records = load_fuzz.run_jobs(jobs, seeds, tmp_path, limit_mib=256)
    assert len(records) == MUTATED_CASES + len(seeds)
    outcomes = Counter(r["outcome"] for r in records)
    bad = [r for r in records if r["outcome"] not in load_fuzz.OUTCOMES_OK]
    assert not bad, bad[:3]
    assert outcomes["ValueError"] > MUTATED_CASES // 2, outcomes
    assert all(r["outcome"] == "equal" for r in records if r["kind"] == "seed")
    worst = max(r["extra_bytes"] for r in records)
    assert worst < load_fuzz.BOUND_MIB * 2**20, worst
    print(f"\nmutated files: {dict(outcomes)}, max extra {worst / 2**20:.1f} MiB")
