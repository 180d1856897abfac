"""The random state a fit owns, swapped into torch's global generator.

A fit draws random numbers in three places: the module's initialisation, the
shuffling of the training rows and dropout in the training forward pass.
torch's default generator is one per process, and dropout cannot take another
one, so two fits in two threads that each seeded it interleaved their draws:
with fixed seeds, their models differed from the same fits run one after the
other.

A fit therefore owns its generator's state (:class:`FitGenerator`, seeded
from ``random_state`` as ``torch.manual_seed`` would seed the global one) and
swaps it into the global generator only for its draws (:meth:`FitGenerator.
draws`), under one process-wide lock: the initialisation, each step of the
training iterator, each training forward pass. A single fit draws exactly the
numbers it drew before; concurrent fits draw each from its own state (their
backward passes, optimiser steps and validation run in parallel; their
training forward passes take turns), and the global generator is left as the
caller had it. Code outside this library that draws from torch's global
generator in another thread during a fit is not guarded.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable, Iterator
from typing import Any

import torch

__all__: list[str] = []

#: Held while a fit's state is swapped into torch's global generator.
RNG_LOCK = threading.RLock()


class FitGenerator:
    """The state of one fit's random generator.

    Parameters
    ----------
    seed : int
        The fit's seed (``seed_``).
    device : str, torch.device or None, default=None
        The fit's device: on a CUDA device the state of that device's
        generator (dropout on the GPU) is owned and swapped in alike.
    """

    def __init__(self, seed: int, device: Any = None) -> None:
        self.state = torch.Generator().manual_seed(seed).get_state()
        self.cuda: tuple[int, torch.Tensor] | None = None
        self._active = False
        try:
            dev = torch.device(device) if device is not None else None
        except (RuntimeError, TypeError):  # skorch checks the device itself
            dev = None
        if dev is not None and dev.type == "cuda" and torch.cuda.is_available():
            index = dev.index if dev.index is not None else torch.cuda.current_device()
            with RNG_LOCK, torch.cuda.device(index):
                outer = torch.cuda.get_rng_state(index)
                torch.cuda.manual_seed(seed)
                self.cuda = (index, torch.cuda.get_rng_state(index))
                torch.cuda.set_rng_state(outer, index)

    @contextlib.contextmanager
    def draws(self) -> Iterator[None]:
        """Draw from this fit's state: swap it into the global generator under
        :data:`RNG_LOCK`, then save it and restore the caller's state."""
        if self._active:  # nested: already swapped in
            yield
            return
        with RNG_LOCK:
            outer = torch.get_rng_state()
            torch.set_rng_state(self.state)
            if self.cuda is not None:
                index, state = self.cuda
                outer_cuda = torch.cuda.get_rng_state(index)
                torch.cuda.set_rng_state(state, index)
            self._active = True
            try:
                yield
            finally:
                self._active = False
                self.state = torch.get_rng_state()
                torch.set_rng_state(outer)
                if self.cuda is not None:
                    self.cuda = (index, torch.cuda.get_rng_state(index))
                    torch.cuda.set_rng_state(outer_cuda, index)

    def iterate(self, iterable: Iterable) -> _DrawingIterable:
        """``iterable`` whose every step (e.g. a shuffle's permutation, drawn
        lazily) draws from this fit's state."""
        return _DrawingIterable(self, iterable)


class _DrawingIterable:
    """An iterable whose steps run inside :meth:`FitGenerator.draws`."""

    def __init__(self, rng: FitGenerator, iterable: Iterable) -> None:
        self.rng = rng
        self.iterable = iterable

    def __len__(self) -> int:
        return len(self.iterable)  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[Any]:
        with self.rng.draws():
            it = iter(self.iterable)
        while True:
            with self.rng.draws():
                try:
                    item = next(it)
                except StopIteration:
                    return
            yield item


def draws(estimator: Any) -> contextlib.AbstractContextManager:
    """The draws of ``estimator``'s running fit, or a no-op outside a fit."""
    rng = estimator.__dict__.get("_fit_rng")
    return contextlib.nullcontext() if rng is None else rng.draws()
