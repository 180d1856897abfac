"""The serving kernels compiled ahead of time: a serving process without numba.

A :class:`~sklearn_deeplight.RecordPredictor` scores with a handful of the
library's numba kernels: the encoder's table build and lookups, and the
predictor's fused per-sample and tiled kernels on float64 rows. A process that
calls them through numba pays numba's import, its compiler's start and one
cache load per kernel: about 0.3 s of a fresh serving process
(``python -m benchmarks.warm_start``). :func:`compile_kernels` compiles the
same Python functions once, with ``numba.pycc``, into an extension module for
this machine; a RecordPredictor loaded in a process that finds it imports
that module instead of numba.

The module is specific to the kernels' source, the versions of Python, numpy
and numba, and the CPU (it is compiled for the host's instruction set): its
file name carries a hash of all of them (:func:`kernel_tag`), so that a stale
or foreign build is never imported. It lives in :func:`kernel_dir`
(``DEEPLIGHT_KERNEL_DIR``, else the user's cache folder). Without it (not
compiled, or compiled for another configuration) the RecordPredictor uses the
numba kernels, with the same results.

The exported functions trust their arguments' types (``numba.pycc`` does not
check them): only :class:`~sklearn_deeplight.RecordPredictor` calls them, on
arrays whose dtypes and layouts it sets itself. ``numba.pycc`` is deprecated
by numba (pending removal, with no replacement yet) and needs setuptools and a
C compiler; where it is missing or fails, :func:`compile_kernels` raises and
nothing changes.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import os
import subprocess
import sys
import sysconfig
import tempfile
import threading
from pathlib import Path
from typing import Any

__all__ = ["compile_kernels", "kernel_dir"]

#: Environment variable of the folder of compiled kernel modules.
KERNEL_DIR_ENV = "DEEPLIGHT_KERNEL_DIR"
_PREFIX = "_deeplight_kernels_"
#: The sources whose code the compiled module holds.
_SOURCES = ("_kernels.py", "_encoder_kernels.py", "_packing.py", "_encoder_core.py")

#: The fused kernels on float64 rows: (X, table, fp, ip, pp, meta[, work]).
_PROBA = (
    "Tuple((f8[:, :], b1))(f8[:, ::1], f4[:, ::1], f4[::1], u4[::1], u8[::1], i8[::1]"
)
#: The kernels on indexed rows: (table, xi, xv, fp, ip, pp, meta[, work]).
_FORWARD = (
    "Tuple((f4[::1], i8))(f4[:, ::1], i8[:, ::1], f4[:, ::1], f4[::1], u4[::1], "
    "u8[::1], i8[::1]"
)
#: What the module exports: name -> (kernel module, function, signature).
EXPORTS: dict[str, tuple[str, str, str]] = {
    "proba_small": ("_kernels", "proba_small", f"{_PROBA})"),
    "proba_tiled": ("_kernels", "proba_tiled", f"{_PROBA}, f4[::1])"),
    # the general path (a value to check: a logit that is not finite)
    "index_rows": (
        "_kernels",
        "index_rows",
        "Tuple((i8[:, ::1], f4[:, ::1], b1))(f8[:, ::1], b1[::1], i8[::1], i8[::1])",
    ),
    "forward_samples": ("_kernels", "forward_samples", f"{_FORWARD})"),
    "forward_tiled": ("_kernels", "forward_tiled", f"{_FORWARD}, f4[::1])"),
    "build_table": (
        "_encoder_kernels",
        "build_table",
        "Tuple((u8[:, ::1], i8))(i8[::1], u1[::1], i8[::1], i8[::1], i8[::1], "
        "i8[::1], i8[::1], i8[::1], i8[::1], u8[:, ::1])",
    ),
    "lookup_str": (
        "_encoder_kernels",
        "lookup_str",
        "f8[::1](i8[::1], u1[::1], i8[::1], u8[:, ::1], i8[::1], u1[::1], "
        "f8[::1], f8[::1])",
    ),
    "lookup_ints": (
        "_encoder_kernels",
        "lookup_ints",
        "f8[::1](i8[::1], i8[::1], u8[:, ::1], f8[::1])",
    ),
}

_LOCK = threading.Lock()
_loaded: dict[str, Any] = {}


def kernel_dir() -> Path:
    """The folder of compiled kernel modules: ``DEEPLIGHT_KERNEL_DIR`` when
    set, else ``sklearn_deeplight/kernels`` in the user's cache folder
    (``XDG_CACHE_HOME`` or ``~/.cache``; ``LOCALAPPDATA`` on Windows).

    The module there is native code that a RecordPredictor imports: keep the
    folder writable only by the user that serves.

    Returns
    -------
    path : pathlib.Path
        The folder (it need not exist).

    See Also
    --------
    compile_kernels : Writes the module there.

    Examples
    --------
    >>> from sklearn_deeplight import kernel_dir
    >>> kernel_dir().name
    'kernels'
    """
    env = os.environ.get(KERNEL_DIR_ENV)
    if env:
        return Path(env)
    if sys.platform == "win32":  # pragma: no cover - not tested here
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData/Local")
    else:
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "sklearn_deeplight" / "kernels"


def kernel_tag() -> str:
    """The hash that names this process's compiled kernel module.

    Of the kernels' source files, the export table and the build recipe,
    the versions of Python and numpy, numba's and llvmlite's installed files,
    the ``NUMBA_*`` environment variables, the platform and the host CPU's
    model and features (the module is compiled for them): another value of
    any of them needs another build.

    Returns
    -------
    tag : str
        16 hexadecimal digits.
    """
    import numpy as np

    h = hashlib.sha256()
    here = Path(__file__).resolve().parent
    for name in _SOURCES:
        h.update((here / name).read_bytes())
    parts = (
        repr(sorted(EXPORTS.items())),
        _BUILD,
        sys.version,
        sysconfig.get_config_var("EXT_SUFFIX") or "",
        np.__version__,
        _installed("numba"),
        _installed("llvmlite"),
        sorted((k, v) for k, v in os.environ.items() if k.startswith("NUMBA_")),
        sys.platform,
        _cpu_id(),
    )
    for part in parts:
        h.update(b"\0" + str(part).encode())
    return h.hexdigest()[:16]


def _installed(package: str) -> str:
    """A package's installed files, found on ``sys.path`` without the import
    system (its ``__init__.py``: path, size and modification time change
    with every install)."""
    for entry in sys.path:
        init = Path(entry or ".") / package / "__init__.py"
        try:
            st = init.stat()
        except OSError:
            continue
        return f"{init.resolve()} {st.st_size} {st.st_mtime_ns}"
    return f"no {package}"


def _cpu_id() -> str:
    """The host CPU: its model and instruction set flags from
    ``/proc/cpuinfo`` where there is one (a few milliseconds less than
    loading LLVM), else LLVM's host CPU name and features."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            first = f.read().split("\n\n", 1)[0]
    except OSError:
        first = ""
    keys = ("vendor_id", "cpu family", "model", "model name", "flags", "Features")
    lines = [ln for ln in first.splitlines() if ln.split(":")[0].strip() in keys]
    if lines:
        return "\n".join(lines)
    import llvmlite.binding as ll  # pragma: no cover - no /proc/cpuinfo

    return ll.get_host_cpu_name() + ll.get_host_cpu_features().flatten()


def _module_path(directory: Path, tag: str) -> Path:
    suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
    return directory / f"{_PREFIX}{tag}{suffix}"


def load_compiled() -> Any:
    """The compiled kernel module of this configuration, or None when it has
    not been compiled (see :func:`compile_kernels`) or cannot be imported.
    Imported once per process."""
    with _LOCK:
        if "module" in _loaded:
            return _loaded["module"]
        module = None
        try:
            tag = kernel_tag()
            path = _module_path(kernel_dir(), tag)
            if path.is_file():
                name = f"{_PREFIX}{tag}"
                loader = importlib.machinery.ExtensionFileLoader(name, str(path))
                spec = importlib.util.spec_from_file_location(name, path, loader=loader)
                module = importlib.util.module_from_spec(spec)
                loader.exec_module(module)
                if not all(hasattr(module, name) for name in EXPORTS):
                    module = None
        except (ImportError, OSError):
            module = None
        _loaded["module"] = module
        return module


_BUILD = """
import inspect
import sys
import warnings

warnings.simplefilter("ignore")  # numba.pycc's pending deprecation
from numba.pycc import CC

from sklearn_deeplight import _aot, _encoder_kernels, _kernels

if _aot.kernel_tag() != sys.argv[3]:  # another copy of the library
    sys.exit(f"the build found sklearn_deeplight at {_aot.__file__}, not the "
             "copy that asked for it")

modules = {"_kernels": _kernels, "_encoder_kernels": _encoder_kernels}
cc = CC(sys.argv[1])
cc.output_dir = sys.argv[2]
cc.target_cpu = "host"
for name, (module, func, signature) in _aot.EXPORTS.items():
    # A wrapper that calls the numba kernel: the kernel is compiled with its
    # own options (fastmath flags), so that its results are numba's bits.
    kernel = getattr(modules[module], func)
    params = ", ".join(inspect.signature(kernel.py_func).parameters)
    namespace = {"kernel": kernel}
    exec(f"def {name}({params}):\\n    return kernel({params})\\n", namespace)
    cc.export(name, signature)(namespace[name])
cc.compile()
"""


def compile_kernels(directory: str | os.PathLike | None = None) -> Path:
    """Compile the serving kernels of :class:`RecordPredictor` ahead of time.

    Builds, with ``numba.pycc`` (deprecated by numba; needs setuptools and a
    C compiler), the extension module a RecordPredictor imports instead of
    numba, for this machine's CPU and this environment (see
    :func:`kernel_tag`), in a subprocess (``build_s`` in
    ``benchmarks/results/warm_start.json``). Run it once where
    the model is served (in a container image: at build time, on the CPU
    type it runs on). A module already built for this configuration is kept.

    Parameters
    ----------
    directory : str or path-like, default=None
        Where to write the module; None: :func:`kernel_dir` (where a
        RecordPredictor looks for it).

    Returns
    -------
    path : pathlib.Path
        The compiled module's file.

    Raises
    ------
    RuntimeError
        If the build fails (no C compiler, numba without ``pycc``); the
        message ends with the build's last lines.

    See Also
    --------
    RecordPredictor : Uses the compiled module when it finds it.

    Examples
    --------
    >>> from sklearn_deeplight import compile_kernels, kernel_dir
    >>> path = compile_kernels()  # doctest: +SKIP
    >>> kernel_dir().name  # where it goes (DEEPLIGHT_KERNEL_DIR overrides it)
    'kernels'
    """
    directory = kernel_dir() if directory is None else Path(directory)
    tag = kernel_tag()
    target = _module_path(directory, tag)
    if target.is_file():
        return target
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=directory) as tmp:
        name = f"{_PREFIX}{tag}"
        # The child imports this copy of the library (this process's path,
        # not the working directory's) and checks the tag it computes.
        path = os.pathsep.join(p for p in sys.path if p)
        done = subprocess.run(
            [sys.executable, "-c", _BUILD, name, tmp, tag],
            capture_output=True,
            text=True,
            check=False,
            cwd=tmp,
            env={**os.environ, "PYTHONPATH": path},
        )
        built = _module_path(Path(tmp), tag)
        if done.returncode != 0 or not built.is_file():
            tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-8:])
            raise RuntimeError(
                "Compiling the kernels ahead of time failed (numba.pycc needs "
                f"setuptools and a C compiler):\n{tail}"
            )
        os.replace(built, target)  # whole, or not at all
    return target


class _Namespace:
    """Kernel functions by name: the compiled ones, then the rest of a
    module (numba's, imported on first use) and its constants."""

    def __init__(self, compiled: dict[str, Any], constants: Any, jit_module: str):
        self.__dict__.update(compiled)
        self._constants = constants
        self._jit_module = jit_module

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            return getattr(self._constants, name)
        except AttributeError:
            pass
        module = importlib.import_module(f"sklearn_deeplight.{self._jit_module}")
        return getattr(module, name)


def predictor_kernels(module: Any) -> _Namespace:
    """The predictor's kernels, compiled ones from ``module``, for
    :mod:`sklearn_deeplight._runtime`'s calls (the layout from
    :mod:`sklearn_deeplight._packing`; anything else from numba's)."""
    from . import _packing

    names = ("proba_small", "proba_tiled", "index_rows")
    names += ("forward_samples", "forward_tiled")
    return _Namespace({n: getattr(module, n) for n in names}, _packing, "_kernels")


def encoder_kernels(module: Any) -> _Namespace:
    """The encoder's kernels, compiled ones from ``module``, for
    :class:`~sklearn_deeplight._encoder_core.KeyTables`."""
    from . import _encoder_core

    return _Namespace(
        {
            "build_table": module.build_table,
            "lookup_str": module.lookup_str,
            "lookup_ints": module.lookup_ints,
        },
        _encoder_core,
        "_encoder_kernels",
    )
