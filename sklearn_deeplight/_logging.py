"""Training output that suits terminals and log files alike.

skorch's ``ProgressBar`` redraws itself with carriage returns and its
``PrintLog`` marks the best scores with ANSI colour codes: both turn a log
file into noise. Here the progress bar is drawn only on a terminal, the epoch
table is plain text unless it goes to a terminal, and every epoch row is also
sent to the library's :mod:`logging` logger ``"sklearn_deeplight"`` (at INFO,
whatever ``verbose``), so that an application's logging configuration
decides where training progress goes.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

from skorch.callbacks import PrintLog, ProgressBar

__all__ = ["LOGGER", "EpochLog", "progress_callbacks"]

#: The library's logger; silent unless the application configures logging.
LOGGER = logging.getLogger("sklearn_deeplight")

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _is_terminal(stream: Any) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


class EpochLog(PrintLog):
    """skorch's epoch table: colours only on a terminal, rows also logged.

    Parameters
    ----------
    **kwargs : dict
        skorch ``PrintLog`` parameters (``keys_ignored``, ``sink``,
        ``tablefmt``, ``floatfmt``, ``stralign``).
    """

    def format_row(self, row, key, color):
        text = super().format_row(row, key, color)
        if isinstance(text, str) and not self._colour():
            return _ANSI.sub("", text)
        return text

    def _colour(self) -> bool:
        return self.sink is print and _is_terminal(sys.stdout)

    def _sink(self, text, verbose):
        if LOGGER.isEnabledFor(logging.INFO):
            LOGGER.info(_ANSI.sub("", text))
        super()._sink(text, verbose)


def progress_callbacks(verbose: Any) -> list[tuple[str, Any]]:
    """The progress callbacks of an estimator with this ``verbose``.

    A progress bar only when ``verbose > 0`` and stdout is a terminal; the
    epoch table always (printed when ``verbose > 0``, logged at INFO).
    """
    callbacks: list[tuple[str, Any]] = []
    if isinstance(verbose, (int, float)) and verbose > 0 and _is_terminal(sys.stdout):
        callbacks.append(("progress_bar", ProgressBar()))
    callbacks.append(("print_log", EpochLog()))
    return callbacks
