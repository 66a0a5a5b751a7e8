"""The names inside a feature store file (format tag, per-video columns, JSON attributes) and the per-video
record that the reader returns and the writer takes."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

FORMAT = "framecache-features"
JSON_ATTRS = ("preprocessing", "sampling", "classes", "libraries", "compute")
VIDEO_STR = ("video_id", "path", "split", "group", "sha256", "policy", "note", "compute")
# Columns a store written by older code may lack; read as "" there.
OPTIONAL_STR = ("compute",)
VIDEO_INT = ("label", "frames", "frames_usable")
ROW_DATASETS = ("features", "frame_index", "timestamp")  # one row per stored frame
# Root attribute: sha256 over every dataset's data as written (:func:`combined_digest`), so a file whose bytes
# changed afterwards (a bad disk, a hand edit) is told apart from the one written; not part of the provenance.
CHECKSUM_ATTR = "data_sha256"
CHECKSUMMED = (*ROW_DATASETS, "offsets", *VIDEO_STR, *VIDEO_INT)


def column_bytes(values: Sequence[Any], dtype: Any) -> bytes:
    """A per-video column as the checksum reads it: strings as UTF-8, each ended by a NUL; numbers as ``dtype``."""
    if len(values) and isinstance(values[0], str):
        return b"".join(v.encode() + b"\0" for v in values)
    return np.ascontiguousarray(values, dtype=dtype).tobytes()


def combined_digest(digests: Mapping[str, bytes]) -> str:
    """One hex sha256 over the per-dataset sha256 digests of :data:`CHECKSUMMED`, in that order."""
    total = hashlib.sha256()
    for name in CHECKSUMMED:
        total.update(name.encode() + b"\0" + digests[name])
    return total.hexdigest()


@dataclass
class VideoFeatures:
    """One video's entry: its features and what they came from."""

    video_id: str
    features: np.ndarray  # (T, k)
    frame_index: np.ndarray  # (T,)
    timestamp: np.ndarray  # (T,)
    label: int = -1
    split: str = ""
    group: str = ""
    path: str = ""
    sha256: str = ""
    frames: int = 0
    frames_usable: int = 0
    policy: str = "full"
    note: str = ""
    compute: str = ""  # the device type and autocast dtype that computed the features: "cpu/fp32", "cuda/bfloat16"


@dataclass
class Sequences:
    """Everything stage 2 trains on: ``X[i]`` is video ``ids[i]``'s (T_i, k) float32 sequence."""

    ids: list[str]
    X: list[np.ndarray]
    y: np.ndarray  # int64
    split: np.ndarray  # str
    group: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=object))

    def __len__(self) -> int:
        return len(self.ids)
