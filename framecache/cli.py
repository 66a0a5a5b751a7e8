"""What every stage entry point shares: the user-facing error type, logging set-up and the exit protocol.

A stage's ``main()`` raises :class:`FramecacheError` (or :class:`framecache.config.params.ParamsError`) for anything the
user can fix — bad params, bad input, a stale cache. :func:`run` prints such errors as one clear message and
exits with status 2 instead of a traceback; real bugs still surface as tracebacks.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence

from framecache.errors import FramecacheError


def setup_logging() -> None:
    level = os.environ.get("FRAMECACHE_LOG", "INFO").upper()
    logging.basicConfig(level=level, format="%(asctime)s %(name)s %(levelname)s: %(message)s", datefmt="%H:%M:%S")


def parser(description: str | None) -> argparse.ArgumentParser:
    """An argparse parser with the ``--params`` option every stage takes."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--params", default="params.yaml", help="parameters file (default: params.yaml)")
    return p


def run(main: Callable[[Sequence[str] | None], int | None], argv: Sequence[str] | None = None) -> None:
    """Run a stage's ``main`` and turn user-facing errors into a message and exit status 2."""
    setup_logging()
    try:
        code = main(argv)
    except FramecacheError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    sys.exit(code or 0)
