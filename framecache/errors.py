"""The error types the library raises for problems a user can act on.

:class:`FramecacheError` is anything the user can fix (bad params, bad input, a stale cache): its message says
what is wrong and what to do; entry points print it as one line and exit 2. :class:`VideoError` is one file
that is not a usable video: it is recorded as a failure (path, reason), never a crash.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class FramecacheError(Exception):
    """An error the user can act on: the message says what is wrong and what to do."""


class VideoError(Exception):
    """A file that is not a usable video; ``reason`` is a short, user-readable cause."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def did_you_mean(name: object, known: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest known name, or an empty string when none is close."""
    close = difflib.get_close_matches(str(name), list(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""
