"""When ``deeplight train`` trains through an encoded copy of the log on disk.

Torch-free. ``--on-disk auto`` compares the log's size (a compressed log
counted :data:`COMPRESSED_RATIO` times) with a threshold: the environment
variable :data:`ON_DISK_ENV` when set, else :data:`ON_DISK_BYTES` or a
tenth (:data:`ON_DISK_MEMORY_RATIO`) of the memory available to the
process (the control group's limit included), whichever is less. The
on-disk store itself is :mod:`sklearn_deeplight._ondisk`.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

#: ``deeplight train --on-disk auto`` trains through an encoded copy on disk
#: when the log is larger than this many bytes, or than a tenth of the
#: available memory (``ON_DISK_MEMORY_RATIO``) if that is less. The in-memory
#: path holds the raw columns and their encoding, about 10 times the log's
#: size at its peak (2.6 GB for a 245 MB Criteo-shaped log of 1M rows,
#: ``benchmarks/results/scale.json``). A compressed log counts
#: ``COMPRESSED_RATIO`` times its size. The environment variable
#: ``DEEPLIGHT_ON_DISK_BYTES`` replaces the threshold.
ON_DISK_BYTES = 1 << 30
ON_DISK_MEMORY_RATIO = 10
COMPRESSED_RATIO = 4
ON_DISK_ENV = "DEEPLIGHT_ON_DISK_BYTES"
COMPRESSED_SUFFIXES = (".gz", ".bz2", ".xz")
#: The layouts of a log: ``--format`` of the ``deeplight`` command (here, not
#: in the readers' module, so that the command's parser imports no pandas).
FORMATS = ("criteo", "avazu", "csv")


def _human_bytes(n: float) -> str:
    """``n`` bytes for a message: ``"512 B"``, ``"1.5 MiB"``, ``"2.0 GiB"``.

    Also the ``deeplight`` command's (``sklearn_deeplight.cli``) formatting of
    sizes, so that its messages and this module's say a size alike.
    """
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError  # pragma: no cover


def _parse_bytes(text: str) -> int:
    """``"1073741824"``, ``"512M"``, ``"1G"`` or ``"1GiB"`` as bytes."""
    value = text.strip().upper().removesuffix("IB").removesuffix("B")
    scale = 1
    if value[-1:] in ("K", "M", "G", "T"):
        scale = 1024 ** ("KMGT".index(value[-1]) + 1)
        value = value[:-1]
    number = float(value)  # ValueError on anything else
    if not math.isfinite(number) or number < 0:
        raise ValueError(text)
    return int(number * scale)


#: Memory limits of the process's control group (v2, then v1): inside a
#: container /proc/meminfo reports the host's memory, not the limit.
_CGROUP_LIMITS = (
    "/sys/fs/cgroup/memory.max",
    "/sys/fs/cgroup/memory/memory.limit_in_bytes",
)


def _available_memory() -> int | None:
    """Bytes of memory available to a new allocation (Linux), else None.

    ``MemAvailable`` of ``/proc/meminfo``, capped by the control group's
    memory limit when there is one.
    """
    available = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    available = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        pass
    for limit_file in _CGROUP_LIMITS:
        try:
            text = Path(limit_file).read_text().strip()
            limit = int(text)  # "max" (no limit) is a ValueError
        except (OSError, ValueError):
            continue
        if 0 < limit < (1 << 60):  # v1 writes a huge number for "no limit"
            available = limit if available is None else min(available, limit)
        break
    return available


def _on_disk_threshold() -> tuple[int, str]:
    """The log size above which ``--on-disk auto`` trains on disk, and why.

    Raises ValueError when the environment variable :data:`ON_DISK_ENV` is
    set to something that is not a size in bytes (the command reports it as
    a usage error, exit code 2).
    """
    env = os.environ.get(ON_DISK_ENV, "").strip()
    if env:
        try:
            return _parse_bytes(env), f"{ON_DISK_ENV}={env}"
        except (ValueError, IndexError):
            raise ValueError(
                f"the environment variable {ON_DISK_ENV}={env!r} is not a size in "
                "bytes (e.g. 1073741824, 512M or 1G)"
            ) from None
    available = _available_memory()
    if available is not None and available // ON_DISK_MEMORY_RATIO < ON_DISK_BYTES:
        return (
            available // ON_DISK_MEMORY_RATIO,
            f"a tenth of the {_human_bytes(available)} of available memory",
        )
    return ON_DISK_BYTES, "the default"


def _use_on_disk(mode: str, log: Path) -> tuple[bool, str]:
    """Whether ``train`` takes the on-disk path, with a line saying why.

    ``mode`` is ``--on-disk``: ``"always"``, ``"never"`` or ``"auto"`` (the
    size of ``log`` against :func:`_on_disk_threshold`, whose ValueError
    propagates).
    """
    if mode == "always":
        return True, "--on-disk always"
    if mode == "never":
        return False, "--on-disk never"
    size = log.stat().st_size
    counted = size
    what = _human_bytes(size)
    if log.suffix.lower() in COMPRESSED_SUFFIXES:
        counted = size * COMPRESSED_RATIO
        what += f" compressed, counted {COMPRESSED_RATIO}x"
    threshold, source = _on_disk_threshold()
    above = counted > threshold
    return above, (
        f"--on-disk auto: the log is {what}, "
        f"{'above' if above else 'within'} the threshold of "
        f"{_human_bytes(threshold)} ({source})"
    )
