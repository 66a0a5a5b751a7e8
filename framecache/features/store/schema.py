"""The names inside a feature store file (format tag, per-video columns, JSON attributes) and the per-video
record that the reader returns and the writer takes."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

FORMAT = "framecache-features"
JSON_ATTRS = ("preprocessing", "sampling", "classes", "libraries", "compute")
VIDEO_STR = ("video_id", "path", "split", "group", "sha256", "policy", "note")
VIDEO_INT = ("label", "frames", "frames_usable")


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
