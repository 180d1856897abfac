"""``load`` under hostile files (issue 15): bounded memory and complete state.

Item 1: what a file makes ``load`` allocate is derived from the sizes it
declares and refused past a ceiling; a file without the zip signature is
refused before it is read. Item 9: every rebuilt object's state is checked
whole (exactly the expected attributes, each with its type, dtype, shape and
range).

Files are crafted with valid checksums by saving an object whose
``__getstate__`` returns the altered state, so that only the checks of the
state (not the checksums) can refuse them. Allocation limits are tested in a
subprocess under ``resource.setrlimit(RLIMIT_AS)``, so that a regression is a
``MemoryError`` there instead of gigabytes taken from the machine.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import numpy as np
import pytest

from sklearn_deeplight import LRClassifier
from sklearn_deeplight._persistence import (
    LOAD_MEMORY_FLOOR,
    LOAD_MEMORY_PER_FILE_BYTE,
    load,
    save,
)

REPO = Path(__file__).resolve().parents[1]


def _lr_predictor(n_fields: int = 1):
    rng = np.random.RandomState(0)
    X = rng.randint(0, 4, size=(40, n_fields))
    est = LRClassifier(max_epochs=1, random_state=0, validation_fraction=None)
    return est.fit(X, np.arange(40) % 2).to_sparse(engine="scipy")


def save_state(obj, state: dict, path: Path) -> Path:
    """Save ``obj`` as if its state were ``state`` (valid checksums)."""
    obj.__getstate__ = lambda: state  # an instance attribute: save calls it
    try:
        save(obj, path)
    finally:
        del obj.__getstate__
    return path


def _zeros_mask(n_entries: int) -> bytes:
    """A zlib mask of ``n_entries`` zero bits: tiny, expands 1000-fold."""
    d = zlib.compressobj(9)
    chunk = bytes(1 << 20)
    n_bytes = -(-n_entries // 8)
    parts = [d.compress(chunk) for _ in range(n_bytes >> 20)]
    parts.append(d.compress(bytes(n_bytes & ((1 << 20) - 1))))
    return b"".join(parts) + d.flush()


def huge_layout_file(path: Path, n_rows: int = 2**28) -> Path:
    """An LR predictor declaring ``n_rows`` table rows, all weights zero: a
    few hundred KiB with valid checksums (issue 15, item 1)."""
    pred = _lr_predictor()
    state = pred.__getstate__()
    state["field_dims_"] = np.array([n_rows - 1], dtype=np.int64)
    state["_compact_embedding"] = {
        "shape": (n_rows, 0),
        "mask": zlib.compress(b""),
        "values": np.zeros(0, np.float32),
    }
    state["_compact_linear"] = {
        "shape": (n_rows,),
        "mask": _zeros_mask(n_rows),
        "values": np.zeros(0, np.float32),
    }
    return save_state(pred, state, path)


def run_limited(code: str, extra_mib: int) -> subprocess.CompletedProcess:
    """Run ``code`` in a subprocess whose address space may grow by only
    ``extra_mib`` MiB after the imports (a MemoryError past it)."""
    prelude = textwrap.dedent(
        f"""
        import resource, sys, warnings
        import numpy, scipy.sparse, sklearn, pandas
        import sklearn_deeplight
        from sklearn_deeplight._persistence import load
        import sklearn_deeplight._sparse, sklearn_deeplight._encoder
        warnings.simplefilter("ignore")
        with open("/proc/self/status") as f:
            vm = [int(l.split()[1]) * 1024 for l in f if l.startswith("VmSize:")][0]
        limit = vm + {extra_mib} * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        """
    )
    return subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )


needs_rlimit = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="RLIMIT_AS and /proc are Linux's"
)


# ----------------------------------------------------------------------
# Item 1: memory ceiling, zip signature first
# ----------------------------------------------------------------------
def test_huge_declared_layout_is_refused_before_allocating(tmp_path):
    path = huge_layout_file(tmp_path / "huge.skdl")
    assert path.stat().st_size < 1 << 20  # under 1 MiB, asks for gigabytes
    with pytest.raises(ValueError, match=r"memory ceiling.*max_memory") as info:
        load(path)
    assert str(path) in str(info.value)
    assert "table rows" in str(info.value)


@needs_rlimit
def test_huge_declared_layout_stays_within_memory(tmp_path):
    """Refused within 200 MiB of extra address space (it used to ask ~3 GiB)."""
    path = huge_layout_file(tmp_path / "huge.skdl")
    result = run_limited(
        f"""
        try:
            load({str(path)!r})
        except ValueError as exc:
            print("refused:", exc)
        """,
        extra_mib=200,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "refused:" in result.stdout and "memory ceiling" in result.stdout


def test_the_ceiling_is_overridable(tmp_path, monkeypatch):
    path = huge_layout_file(tmp_path / "big.skdl", n_rows=2**20)  # ~14 MiB
    assert load(path).field_dims_.tolist() == [2**20 - 1]
    with pytest.raises(ValueError, match=r"ceiling of 8\.0 MiB \(max_memory="):
        load(path, max_memory=8 << 20)
    assert load(path, max_memory=1 << 30).field_dims_.tolist() == [2**20 - 1]
    monkeypatch.setenv("DEEPLIGHT_LOAD_MAX_MEMORY", "8M")
    with pytest.raises(ValueError, match="DEEPLIGHT_LOAD_MAX_MEMORY=8M"):
        load(path)
    assert load(path, max_memory=float("inf")).n_features_in_ == 1
    monkeypatch.setenv("DEEPLIGHT_LOAD_MAX_MEMORY", "lots")
    with pytest.raises(ValueError, match="DEEPLIGHT_LOAD_MAX_MEMORY"):
        load(path)


@pytest.mark.parametrize(
    "value, error, match",
    [
        (0, ValueError, "max_memory must be a positive"),
        (float("nan"), ValueError, "max_memory must be a positive"),
        ("1G", TypeError, "max_memory must be a number"),
        (True, TypeError, "max_memory must be a number"),
    ],
)
def test_max_memory_is_checked(tmp_path, value, error, match):
    path = tmp_path / "m.skdl"
    save(_lr_predictor(), path)
    with pytest.raises(error, match=match):
        load(path, max_memory=value)


def test_default_ceiling_is_documented():
    assert LOAD_MEMORY_FLOOR == 128 << 20 and LOAD_MEMORY_PER_FILE_BYTE == 16
    from sklearn_deeplight import _persistence

    assert "DEEPLIGHT_LOAD_MAX_MEMORY" in _persistence.__doc__
    assert "max_memory" in (load.__doc__ or "")


def test_a_small_ceiling_refuses_even_a_valid_file(tmp_path):
    path = tmp_path / "m.skdl"
    save(_lr_predictor(), path)
    with pytest.raises(ValueError, match="memory ceiling"):
        load(path, max_memory=100)
    assert load(path).n_features_in_ == 1


def test_store_shape_must_follow_the_declared_layout(tmp_path):
    pred = _lr_predictor()
    state = pred.__getstate__()
    store = dict(state["_compact_linear"])
    store["shape"] = (store["shape"][0] + 8,)
    state["_compact_linear"] = store
    path = save_state(pred, state, tmp_path / "m.skdl")
    with pytest.raises(ValueError, match=r"_compact_linear\.shape must be"):
        load(path)


@needs_rlimit
def test_a_large_log_is_refused_without_being_read(tmp_path):
    """A 2 GiB file without the zip signature (a log passed by mistake) is
    "not a model file" within 64 MiB: only its first bytes are read."""
    log = tmp_path / "train.txt"
    with open(log, "wb") as f:
        f.write(b"1\t3\t\t0badc0de\n")
        f.truncate(2 << 30)  # sparse: no disk used
    result = run_limited(
        f"""
        try:
            load({str(log)!r})
        except ValueError as exc:
            print("refused:", exc)
        """,
        extra_mib=64,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "not a sklearn_deeplight model file" in result.stdout
