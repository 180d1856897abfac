"""``load`` on mutated and crafted files: refused, or the very same model.

Seed files are written by :func:`sklearn_deeplight.save`: an encoder +
xDeepFM sparse predictor list, a logistic regression predictor, a float16
DeepFwFM predictor with column names, a DCN-V2 predictor and a large FM
predictor (about 8 MB, a 400,000-row embedding table). From them:

- ``mutated``: one to four random edits of the bytes (a byte changed, bytes
  inserted or deleted, the file cut), at uniform positions or aimed at the
  zip headers, the manifest, the object tree or an array header;
- crafted files with valid checksums (the manifest re-signed), so that only
  the checks of the content can refuse them: ``tree`` (random nodes of the
  object tree replaced), ``arrays`` (an array replaced by a random one),
  ``layout`` (a predictor declaring up to 2**31 table rows with a tiny
  zlib mask), ``json`` (object trees of up to 10 MB: wide, deep, long
  strings, big object arrays), ``payload`` (arrays of up to 10 MB), ``entries``
  (thousands of extra entries the tree does not use: loaded, and charged),
  ``foreign`` (logs, pickles, gzip, random bytes).

Every file is loaded in a worker process under ``RLIMIT_AS`` (1 GiB above
its size after the imports, a safety net): the peak resident memory of each
``load`` above the resident memory before it (``VmHWM`` reset through
``/proc/self/clear_refs`` before each file, freed heap pages returned by
``malloc_trim`` and arrays kept in their own mappings, so that memory freed
by an earlier load is not reused unseen) is its extra memory. A loaded
object must predict exactly as its seed (``predict_proba`` on both engines,
or the encoder's ``transform``); anything else than such an object, a
``ValueError`` or a ``TypeError`` is a failure.

Usage::

    python -m benchmarks.load_fuzz            # about 2,400 files
    python -m benchmarks.load_fuzz --quick    # about 300 files, seconds

Writes ``benchmarks/results/load_fuzz.json`` (``--quick``:
``load_fuzz_quick.json.tmp``, git-ignored) and prints a table per kind of
file: files, outcomes, the largest file and the largest extra memory.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import io
import json
import subprocess
import sys
import tempfile
import time
import zipfile
import zlib
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from ._common import (
    RESULTS,
    ROOT,
    command_line,
    machine_info,
    stamp_loadavg_end,
    write_json,
)

#: The issue's bound: any file up to 10 MB loads within this, or is refused.
BOUND_MIB = 200
#: The worker's address-space margin above its size after the imports.
WORKER_LIMIT_MIB = 1024
#: Outcomes that pass: the seed's model, or a refusal. A crafted file (valid
#: checksums) may also hold another valid model, which must then predict or
#: refuse the seed's input with a ValueError or TypeError.
OUTCOMES_OK = ("equal", "ValueError", "TypeError")
OUTCOMES_OK_CRAFTED = (*OUTCOMES_OK, "loaded another model")
#: Files written by save, or mutated bytes of them (checksums not re-signed):
#: they must load as their seed's model or be refused.
EXACT_KINDS = ("seed", "mutated")


# ----------------------------------------------------------------------
# Seed models
# ----------------------------------------------------------------------
def _save_state(obj: Any, state: dict, path: Path) -> None:
    """Save ``obj`` as if its state were ``state`` (valid checksums)."""
    from sklearn_deeplight import save

    obj.__getstate__ = lambda: state
    try:
        save(obj, path)
    finally:
        del obj.__getstate__


def make_seeds(folder: Path, large: bool = True) -> dict[str, dict]:
    """Seed files and their inputs: name -> {"path", "X" (npy path)}."""
    import pandas as pd
    import torch

    from sklearn_deeplight import (
        DCNv2Classifier,
        DeepFwFMClassifier,
        FieldEncoder,
        FMClassifier,
        LRClassifier,
        XDeepFMClassifier,
        save,
    )

    torch.set_num_threads(1)
    rng = np.random.RandomState(0)
    seeds: dict[str, dict] = {}
    small = dict(max_epochs=1, random_state=0, validation_fraction=None)

    raw = pd.DataFrame(
        {
            "site": rng.choice(["a", "b", "c", "d"], 80),
            "app": rng.choice(["x", "y"], 80),
            "n": rng.rand(80),
        }
    )
    enc = FieldEncoder(numeric_transform="log1p").fit(raw)
    Xt = enc.transform(raw)
    y = np.arange(80) % 2
    xdeep = XDeepFMClassifier(
        embedding_dim=2, hidden_units=(3,), cin_layer_sizes=(2,), **small
    ).fit(Xt, y)
    save([enc, xdeep.to_sparse()], folder / "pipeline.skdl")
    raw.to_pickle(folder / "pipeline.X.pkl")
    seeds["pipeline"] = {"path": folder / "pipeline.skdl", "X": "pipeline.X.pkl"}

    X = rng.randint(0, 6, (60, 3))
    y = np.arange(60) % 2
    lr = LRClassifier(**small).fit(X, y)
    save(lr.to_sparse(), folder / "lr.skdl")
    np.save(folder / "lr.X.npy", X)
    seeds["lr"] = {"path": folder / "lr.skdl", "X": "lr.X.npy"}

    frame = pd.DataFrame(X, columns=["p", "q", "r"])
    deep = DeepFwFMClassifier(embedding_dim=3, hidden_units=(4,), **small)
    deep.fit(frame, y)
    save(deep.to_sparse(dtype="float16"), folder / "deepfwfm16.skdl")
    frame.to_pickle(folder / "deepfwfm16.X.pkl")
    seeds["deepfwfm16"] = {"path": folder / "deepfwfm16.skdl", "X": "deepfwfm16.X.pkl"}

    dcn = DCNv2Classifier(embedding_dim=2, hidden_units=(3,), **small).fit(X, y)
    save(dcn.to_sparse(), folder / "dcnv2.skdl")
    seeds["dcnv2"] = {"path": folder / "dcnv2.skdl", "X": "lr.X.npy"}

    if large:
        n = 250_000
        Xl = np.column_stack([rng.randint(0, 400_000, n), rng.randint(0, 50, n)])
        fm = FMClassifier(embedding_dim=4, batch_size=4096, **small)
        fm.fit(Xl, rng.randint(0, 2, n))
        save(fm.to_sparse(), folder / "large.skdl")
        np.save(folder / "large.X.npy", Xl[:2000])
        seeds["large"] = {"path": folder / "large.skdl", "X": "large.X.npy"}
    for seed in seeds.values():
        seed["X"] = str(folder / seed["X"])
        seed["path"] = str(seed["path"])
    return seeds


# ----------------------------------------------------------------------
# Mutated files
# ----------------------------------------------------------------------
def _regions(data: bytes) -> list[tuple[int, int]]:
    """Byte ranges worth aiming at: zip headers, manifest, tree, npy headers."""
    out = [(0, 64), (max(0, len(data) - 256), len(data))]
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            for info in zf.infolist():
                start = info.header_offset
                out.append((start, start + 30 + len(info.filename)))
                body = start + 30 + len(info.filename) + len(info.extra)
                span = 128 if info.filename.endswith(".npy") else info.file_size
                out.append((body, body + max(1, min(span, info.file_size))))
    except zipfile.BadZipFile:  # pragma: no cover - seeds are valid
        pass
    return out


def mutate(data: bytes, rng: np.random.RandomState) -> bytes:
    """One to four random edits, at uniform or aimed positions."""
    b = bytearray(data)
    regions = _regions(data)
    for _ in range(rng.randint(1, 5)):
        if rng.rand() < 0.5 or not b:
            pos = rng.randint(len(b) + 1)
        else:
            lo, hi = regions[rng.randint(len(regions))]
            pos = min(len(b), lo + rng.randint(max(1, hi - lo)))
        op = rng.randint(6)
        if op <= 1 and b:  # change a byte (xor: always a change)
            b[min(pos, len(b) - 1)] ^= rng.randint(1, 256)
        elif op == 2 and b:  # a byte set to a boundary value
            b[min(pos, len(b) - 1)] = (0, 255, 0x7F, 0x80)[rng.randint(4)]
        elif op == 3:  # insert bytes
            b[pos:pos] = rng.bytes(rng.randint(1, 9))
        elif op == 4:  # delete a run
            del b[pos : pos + rng.randint(1, 17)]
        else:  # cut the file
            del b[pos:]
    return bytes(b)


# ----------------------------------------------------------------------
# Crafted files (valid checksums)
# ----------------------------------------------------------------------
def _entries(path: str) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def signed_zip(entries: dict[str, bytes]) -> bytes:
    """The zip of ``entries`` with the manifest's checksums recomputed."""
    manifest = json.loads(entries["manifest.json"])
    payload = hashlib.sha256()
    listed = []
    for name, blob in entries.items():
        if name != "manifest.json":
            payload.update(blob)
            digest = hashlib.sha256(blob).hexdigest()
            listed.append({"name": name, "size": len(blob), "sha256": digest})
    manifest.update(entries=listed, payload_sha256=payload.hexdigest())
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr("manifest.json", json.dumps(manifest).encode())
        for name, blob in entries.items():
            if name != "manifest.json":
                zf.writestr(name, blob)
    return buf.getvalue()


_REPLACEMENTS: list[Any] = [
    None,
    -1,
    0,
    1,
    2**31,
    2**62,
    -(2**63),
    10**30,
    1.5,
    -1e308,
    "x",
    "",
    "float64",
    [],
    [0, 1],
    {},
    {"$": "ndarray", "id": 0},
    {"$": "ndarray", "id": 10**6},
    {"$": "tuple", "items": [2**40, 2**40]},
    {"$": "tuple", "items": [10**9, 0]},
    {"$": "object", "class": "builtins.eval", "state": {}},
    {"$": "function", "name": "os.system"},
    {"$": "bytes", "id": 0},
    {"$": "scalar", "dtype": "<f8", "hex": "00"},
    {"$": "dtype", "v": "O"},
    {"$": "objarray", "shape": [10**6], "items": []},
    {"$": "pd.RangeIndex", "start": 0, "stop": 10**15, "step": 1, "name": None},
    {"$": "pd.Index", "dtype": {"numpy": "<i8"}, "values": [1], "name": None},
    {"$": "sparse", "format": "csr", "matrix": False, "shape": [10**9, 10**9]},
]


def _nodes(tree: Any):
    if isinstance(tree, dict):
        for k, v in tree.items():
            yield tree, k
            yield from _nodes(v)
    elif isinstance(tree, list):
        for i, v in enumerate(tree):
            yield tree, i
            yield from _nodes(v)


def _npy(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


def _random_array(rng: np.random.RandomState) -> bytes:
    kind = rng.randint(5)
    if kind == 0:
        arr = rng.randint(-(2**40), 2**40, rng.randint(0, 6))
    elif kind == 1:
        arr = rng.randn(*rng.randint(0, 4, rng.randint(1, 3)))
    elif kind == 2:
        arr = np.array(["a", "bc"][: rng.randint(0, 3)])
    elif kind == 3:
        arr = rng.randint(0, 2, rng.randint(0, 9)).astype(np.uint8)
    else:
        arr = np.full(rng.randint(0, 5), 2**62, dtype=np.int64)
    return _npy(arr)


def crafted_tree(entries, rng) -> bytes:
    tree = json.loads(entries["tree.json"])
    mutated = copy.deepcopy(tree)
    for _ in range(rng.randint(1, 4)):
        nodes = list(_nodes(mutated))
        parent, key = nodes[rng.randint(len(nodes))]
        parent[key] = copy.deepcopy(_REPLACEMENTS[rng.randint(len(_REPLACEMENTS))])
    return signed_zip(dict(entries, **{"tree.json": json.dumps(mutated).encode()}))


def crafted_arrays(entries, rng) -> bytes:
    names = sorted(n for n in entries if n.startswith("arrays/"))
    new = dict(entries)
    for _ in range(rng.randint(1, 3)):
        new[names[rng.randint(len(names))]] = _random_array(rng)
    return signed_zip(new)


def crafted_layout(seed_path: str, rng, out: Path) -> None:
    """A predictor declaring up to 2**31 table rows, its masks tiny."""
    from sklearn_deeplight import load

    pred = load(seed_path)
    state = pred.__getstate__()
    n_rows = int(2 ** rng.uniform(8, 31))
    k = int(state["embedding_dim_"])
    n_fields = state["field_dims_"].shape[0]
    dims = np.full(n_fields, 1, dtype=np.int64)
    dims[0] = n_rows - 1 - 2 * (n_fields - 1)
    state["field_dims_"] = np.maximum(dims, 1)
    state["numeric_fields_"] = np.zeros(0, dtype=np.int64)
    sizes = state["field_dims_"] + 1
    state["offsets_"] = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    total = int(sizes.sum())

    def zeros(shape):
        n_bytes = -(-int(np.prod(shape, dtype=np.float64)) // 8)
        d = zlib.compressobj(9)
        chunk = bytes(1 << 20)
        parts = [d.compress(chunk) for _ in range(n_bytes >> 20)]
        parts.append(d.compress(bytes(n_bytes & ((1 << 20) - 1))))
        return {
            "shape": shape,
            "mask": b"".join(parts) + d.flush(),
            "values": np.zeros(0, dtype=np.dtype(state["value_dtype_"])),
        }

    state["_compact_embedding"] = zeros((total, k))
    if "_compact_linear" in state:
        linear = state["linear_term_"]
        state["_compact_linear"] = zeros((total,) if linear == "scalar" else (total, k))
    _save_state(pred, state, out)


def crafted_json(entries, rng) -> bytes:
    """Object trees of up to 10 MB: wide, deep, long strings, big arrays."""
    size = int(10 ** rng.uniform(4, 7))  # up to 10 MB
    kind = rng.randint(6)
    if kind == 0:
        text = "[" + ",".join(["[]"] * (size // 3)) + "]"
    elif kind == 1:
        text = "[" * min(size, 100_000) + "]" * min(size, 100_000)
    elif kind == 2:
        text = json.dumps(["x" * size])
    elif kind == 3:
        items = ["0"] * (size // 2)
        body = ",".join(items)
        text = f'{{"$":"objarray","shape":[{len(items)}],"items":[{body}]}}'
    elif kind == 4:
        text = "[" + ",".join(['{"$":"float","v":"nan"}'] * (size // 24)) + "]"
    else:
        text = "[" + ",".join(['"a"'] * (size // 4)) + "]"
    return signed_zip(dict(entries, **{"tree.json": text.encode()}))


def crafted_payload(entries, rng) -> bytes:
    """An array of up to 10 MB in place of one of the file's arrays."""
    names = sorted(n for n in entries if n.startswith("arrays/"))
    n = int(10 ** rng.uniform(3, 6.1))
    arr = rng.randint(-3, 3, n).astype(np.float64 if rng.rand() < 0.5 else np.int64)
    return signed_zip(dict(entries, **{names[rng.randint(len(names))]: _npy(arr)}))


def crafted_entries(entries, rng) -> bytes:
    """Thousands of extra array entries the tree does not use."""
    new = dict(entries)
    start = sum(n.startswith("arrays/") for n in entries)
    for i in range(start, start + int(10 ** rng.uniform(2, 4))):
        new[f"arrays/{i:06d}.npy"] = _npy(np.zeros(rng.randint(0, 4)))
    return signed_zip(new)


def foreign(rng) -> bytes:
    kind = rng.randint(5)
    if kind == 0:
        return b"".join(b"1\t3\t\t7\t0badc0de\n" for _ in range(rng.randint(1, 5000)))
    if kind == 1:
        return b"\x80\x04\x95" + rng.bytes(rng.randint(0, 4000))
    if kind == 2:
        return b"\x1f\x8b\x08" + rng.bytes(rng.randint(0, 4000))
    if kind == 3:
        return b"PK\x03\x04" + rng.bytes(rng.randint(0, 4000))
    return rng.bytes(rng.randint(0, 4000))


# ----------------------------------------------------------------------
# The cases
# ----------------------------------------------------------------------
def make_cases(folder: Path, seeds: dict, n_mutated: int, n_crafted: int, seed=0):
    """Write the files; return the jobs (path, kind, seed name)."""
    rng = np.random.RandomState(seed)
    jobs: list[dict] = []
    names = sorted(seeds)
    data = {name: Path(seeds[name]["path"]).read_bytes() for name in names}
    entries = {name: _entries(seeds[name]["path"]) for name in names}
    predictors = [n for n in names if n != "pipeline"]

    def add(kind: str, blob: bytes | None, seed_name: str, path=None):
        path = path or folder / f"{len(jobs):05d}-{kind}.skdl"
        if blob is not None:
            path.write_bytes(blob)
        jobs.append({"path": str(path), "kind": kind, "seed": seed_name})

    for name in names:  # the seeds themselves
        add("seed", None, name, Path(seeds[name]["path"]))
    small = [n for n in names if n != "large"]
    for i in range(n_mutated):
        # the large seed's mutations are slower: one in ten
        name = "large" if "large" in names and i % 10 == 0 else small[i % len(small)]
        add("mutated", mutate(data[name], rng), name)
    makers = [
        ("tree", 0.30, lambda e, r: crafted_tree(e, r)),
        ("arrays", 0.20, lambda e, r: crafted_arrays(e, r)),
        ("json", 0.12, lambda e, r: crafted_json(e, r)),
        ("payload", 0.12, lambda e, r: crafted_payload(e, r)),
        ("entries", 0.04, lambda e, r: crafted_entries(e, r)),
    ]
    for kind, share, make in makers:
        for i in range(int(share * n_crafted)):
            name = small[i % len(small)]
            add(kind, make(entries[name], rng), name)
    for i in range(int(0.12 * n_crafted)):
        name = predictors[i % len(predictors)]
        if name == "large":
            name = "lr"
        path = folder / f"{len(jobs):05d}-layout.skdl"
        crafted_layout(seeds[name]["path"], rng, path)
        add("layout", None, name, path)
    for _ in range(int(0.10 * n_crafted)):
        add("foreign", foreign(rng), "none")
    return jobs


# ----------------------------------------------------------------------
# The worker: load each file, measure, compare
# ----------------------------------------------------------------------
def _status(key: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1]) * 1024
    raise KeyError(key)  # pragma: no cover


def _outputs(obj: Any, X: Any) -> list:
    """What a loaded model computes on ``X``: both engines' probabilities."""
    from sklearn_deeplight import FieldEncoder, SparseCTRPredictor

    items = obj if isinstance(obj, list) else [obj]
    out: list = []
    for item in items:
        if isinstance(item, FieldEncoder):
            X = item.transform(X)
            out.append(X.to_numpy())
        elif isinstance(item, SparseCTRPredictor):
            for engine in ("numba", "scipy"):
                item.set_params(engine=engine)
                out.append(item.predict_proba(X))
        else:
            out.append(("type", type(item).__name__))
    return out


def _same(a: list, b: list) -> bool:
    if len(a) != len(b):
        return False
    for u, v in zip(a, b):
        if isinstance(u, np.ndarray) and isinstance(v, np.ndarray):
            if u.shape != v.shape or u.dtype != v.dtype:
                return False
            if not np.array_equal(u, v, equal_nan=u.dtype.kind == "f"):
                return False
        elif u != v:
            return False
    return True


def _malloc_trim():
    """glibc's ``malloc_trim(0)`` (a no-op elsewhere), with a fixed mmap
    threshold (128 KiB), so that freed arrays leave the resident set and each
    load's peak is measured from what is live."""
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 128 * 1024)  # M_MMAP_THRESHOLD: no dynamic growth
        return lambda: libc.malloc_trim(0)
    except (OSError, AttributeError):  # pragma: no cover - not glibc
        return lambda: None


def worker(jobs_path: str, seeds_path: str, out_path: str, limit_mib: int) -> None:
    """Load every job's file in this process; write one record per file."""
    import resource
    import warnings

    import pandas as pd

    from sklearn_deeplight import load

    warnings.simplefilter("ignore")
    jobs = json.loads(Path(jobs_path).read_text())
    seeds = json.loads(Path(seeds_path).read_text())
    expected = {}
    for name, seed in seeds.items():
        X = seed["X"]
        X = pd.read_pickle(X) if X.endswith(".pkl") else np.load(X)
        expected[name] = (X, _outputs(load(seed["path"]), X))
    limit = _status("VmSize:") + limit_mib * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    trim = _malloc_trim()
    records = []
    for job in jobs:
        trim()  # freed heap pages back to the system: RSS before is what is live
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset VmHWM
        before = _status("VmRSS:")
        t0 = time.perf_counter()
        obj, outcome, message = None, "", ""
        try:
            obj = load(job["path"])
        except (ValueError, TypeError) as exc:
            outcome, message = type(exc).__name__, str(exc)[:200]
        except MemoryError as exc:
            outcome, message = "MemoryError", str(exc)[:200]
        except Exception as exc:  # recorded: anything else is a failure
            outcome, message = type(exc).__name__, str(exc)[:200]
        seconds = time.perf_counter() - t0
        extra = _status("VmHWM:") - before
        if obj is not None:
            X, want = expected.get(job["seed"], (None, None))
            try:
                got = _outputs(obj, X)
                error = None
            except (ValueError, TypeError) as exc:  # refuses the seed's input
                got, error = None, exc
            except Exception as exc:  # a loaded model that crashes: a failure
                got, error = None, exc
                outcome = f"loaded, predict raised {type(exc).__name__}"
            if got is not None and want is not None and _same(got, want):
                outcome = "equal"
            elif job["kind"] in EXACT_KINDS:
                outcome = "loaded but different"
            elif not outcome:
                outcome = "loaded another model"
            if error is not None:
                message = f"{type(error).__name__}: {error}"[:200]
        del obj
        records.append(
            {
                **job,
                "size": Path(job["path"]).stat().st_size,
                "outcome": outcome,
                "message": message,
                "extra_bytes": int(extra),
                "seconds": round(seconds, 4),
            }
        )
    Path(out_path).write_text(json.dumps(records))


def run_jobs(
    jobs: list[dict], seeds: dict, folder: Path, limit_mib: int = WORKER_LIMIT_MIB
) -> list[dict]:
    """Run the jobs in a worker process (``python -m benchmarks.load_fuzz
    --worker``); its records."""
    (folder / "jobs.json").write_text(json.dumps(jobs))
    (folder / "seeds.json").write_text(json.dumps(seeds))
    out = folder / "records.json"
    cmd = [sys.executable, "-m", "benchmarks.load_fuzz", "--worker"]
    cmd += [str(folder / "jobs.json"), str(folder / "seeds.json"), str(out)]
    cmd += ["--limit-mib", str(limit_mib)]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"the worker failed ({done.returncode}): {done.stderr}")
    return json.loads(out.read_text())


def summarize(records: list[dict]) -> dict:
    kinds: dict[str, dict] = {}
    for r in records:
        k = kinds.setdefault(
            r["kind"],
            {"files": 0, "outcomes": Counter(), "max_extra_mib": 0.0, "max_mib": 0.0},
        )
        k["files"] += 1
        k["outcomes"][r["outcome"]] += 1
        k["max_extra_mib"] = max(k["max_extra_mib"], r["extra_bytes"] / 2**20)
        k["max_mib"] = max(k["max_mib"], r["size"] / 2**20)
    for k in kinds.values():
        k["outcomes"] = dict(sorted(k["outcomes"].items()))
        k["max_extra_mib"] = round(k["max_extra_mib"], 2)
        k["max_mib"] = round(k["max_mib"], 3)
    failures = [
        r
        for r in records
        if r["outcome"]
        not in (OUTCOMES_OK if r["kind"] in EXACT_KINDS else OUTCOMES_OK_CRAFTED)
    ]
    over = [
        r
        for r in records
        if r["size"] <= 10 * 2**20
        and r["outcome"] == "equal"
        and r["extra_bytes"] > BOUND_MIB * 2**20
    ]
    biggest = max(records, key=lambda r: r["extra_bytes"])
    return {
        "files": len(records),
        "outcomes": dict(Counter(r["outcome"] for r in records)),
        "max_extra_mib": round(biggest["extra_bytes"] / 2**20, 2),
        "max_extra_file": {k: biggest[k] for k in ("kind", "seed", "size", "outcome")},
        "max_file_mib": round(max(r["size"] for r in records) / 2**20, 3),
        "bound_mib": BOUND_MIB,
        "within_bound": all(r["extra_bytes"] <= BOUND_MIB * 2**20 for r in records),
        "loaded_over_bound": len(over),
        "failures": failures[:20],
        "n_failures": len(failures),
        "by_kind": kinds,
    }


def table(summary: dict) -> str:
    lines = [
        f"{'kind':<9} {'files':>6}  {'max MiB':>8} {'max extra MiB':>14}  outcomes",
        "-" * 78,
    ]
    for kind, k in summary["by_kind"].items():
        outcomes = ", ".join(f"{o} {n}" for o, n in k["outcomes"].items())
        lines.append(
            f"{kind:<9} {k['files']:>6}  {k['max_mib']:>8.3f} "
            f"{k['max_extra_mib']:>14.1f}  {outcomes}"
        )
    lines.append("-" * 78)
    lines.append(
        f"{'all':<9} {summary['files']:>6}  {summary['max_file_mib']:>8.3f} "
        f"{summary['max_extra_mib']:>14.1f}  failures {summary['n_failures']}; "
        f"bound {summary['bound_mib']} MiB "
        f"{'held' if summary['within_bound'] else 'EXCEEDED'}"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="about 300 files")
    parser.add_argument("--mutated", type=int, default=None)
    parser.add_argument("--crafted", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--worker", nargs=3, metavar=("JOBS", "SEEDS", "OUT"))
    parser.add_argument("--limit-mib", type=int, default=WORKER_LIMIT_MIB)
    args = parser.parse_args(argv)
    if args.worker:
        worker(*args.worker, limit_mib=args.limit_mib)
        return {}
    n_mutated = args.mutated or (150 if args.quick else 1200)
    n_crafted = args.crafted or (150 if args.quick else 1200)
    machine = machine_info(threads=1)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as d:
        folder = Path(d)
        seeds = make_seeds(folder, large=not args.quick)
        jobs = make_cases(folder, seeds, n_mutated, n_crafted, seed=args.seed)
        records = run_jobs(jobs, seeds, folder, args.limit_mib)
    summary = summarize(records)
    result = {
        "command": command_line("load_fuzz", argv),
        "machine": stamp_loadavg_end(machine),
        "seconds": round(time.perf_counter() - t0, 1),
        "worker_limit_mib": args.limit_mib,
        **summary,
    }
    name = "load_fuzz_quick.json.tmp" if args.quick else "load_fuzz.json"
    write_json(RESULTS / name, result)
    print(table(summary))
    print(f"wrote {RESULTS / name}")
    return result


if __name__ == "__main__":
    main()
