"""Model files: a fitted head pickled with the format and library versions it was written with, and what it was
trained on: the feature store's provenance (backbone, weights checksum, feature-code version, preprocessing,
sampling) and path, so that predict can refuse features the head was not trained on."""

from __future__ import annotations

import pickle
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from framecache.errors import FramecacheError
from framecache.fileio import atomic_path

FORMAT = "framecache-head"
FORMAT_VERSION = 2  # 2: records trained_on


def save_head(head: Any, path: str | Path, trained_on: Mapping[str, Any] | None = None) -> None:
    """Pickle a fitted head atomically, tagged with the format and library versions it was written with and
    ``trained_on``: the provenance of the feature store it was fitted on, plus that store's path (``store``)."""
    import sklearn

    torch = sys.modules.get("torch")  # a pooled head never loads torch; do not load it just for its version
    payload = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "python": sys.version.split()[0],
        "sklearn": sklearn.__version__,
        "torch": torch.__version__ if torch is not None else None,
        "trained_on": dict(trained_on) if trained_on is not None else None,
        "head": head,
    }
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        pickle.dump(payload, fh, protocol=pickle.HIGHEST_PROTOCOL)


def load_head(path: str | Path) -> Any:
    """Load a head written by :func:`save_head` (only open model files you trust: this unpickles)."""
    return load_model(path)[0]


def load_model(path: str | Path) -> tuple[Any, dict[str, Any] | None]:
    """``(head, trained_on)`` of a model file written by :func:`save_head` (``trained_on`` None when it was
    saved without one). Only open model files you trust: this unpickles."""
    path = Path(path)
    if not path.is_file():
        raise FramecacheError(f"model file {str(path)!r} not found: run the train stage first")
    with open(path, "rb") as fh:
        try:
            payload = pickle.load(fh)  # our own model files (see the docstring)
        except Exception as exc:
            raise FramecacheError(f"model file {str(path)!r} cannot be read ({exc}); re-run the train stage") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise FramecacheError(f"{str(path)!r} is not a framecache model file; re-run the train stage")
    if payload.get("version") != FORMAT_VERSION:
        raise FramecacheError(
            f"model file {str(path)!r} has format version {payload.get('version')}, this code reads "
            f"{FORMAT_VERSION}; re-run the train stage"
        )
    return payload["head"], payload.get("trained_on")
