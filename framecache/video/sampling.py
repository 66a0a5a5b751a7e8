"""Frame sampling: which decoded frames a video contributes (uniform, fps or all, and the short-video policy).

Pure functions of the frame count (and, for ``fps``, the presentation timestamps), so the indices are known
before a single frame is decoded. No PyAV here: the feature store records a :class:`Sampling` without
needing the decoder.

When ``fps`` or ``all`` sampling yields more than ``max_frames`` samples, the kept ones are spread evenly over
the whole clip (segment centres of the candidates, as uniform sampling does), never the first ``max_frames``:
the recorded sampling says so (``cap: spread``). Stores written before that rule kept a prefix; their recorded
sampling has no ``cap`` key, reads back as ``cap: prefix`` and is reproduced exactly (``predict``), but never
matches what params configure now, so such a store counts as stale.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

SAMPLING_POLICIES = ("uniform", "fps", "all")
SHORT_VIDEO_POLICIES = ("keep", "repeat")
CAP_POLICIES = ("spread", "prefix")  # prefix: only to reproduce stores written before spreading


@dataclass(frozen=True)
class Sampling:
    """How frames are chosen; only the keys that matter for ``policy`` take part in :meth:`as_dict`."""

    policy: str = "uniform"
    num_frames: int = 16
    fps: float = 2.0
    max_frames: int = 64
    short_videos: str = "keep"
    cap: str = "spread"  # fps/all over max_frames: spread over the whole clip (prefix: legacy stores)

    def __post_init__(self) -> None:
        if self.policy not in SAMPLING_POLICIES:
            raise ValueError(f"sampling policy {self.policy!r} is not one of {SAMPLING_POLICIES}")
        if self.short_videos not in SHORT_VIDEO_POLICIES:
            raise ValueError(f"short video policy {self.short_videos!r} is not one of {SHORT_VIDEO_POLICIES}")
        if self.cap not in CAP_POLICIES:
            raise ValueError(f"cap policy {self.cap!r} is not one of {CAP_POLICIES}")

    def as_dict(self) -> dict[str, Any]:
        # A key that does not change which frames are kept must not make a cached store stale.
        if self.policy == "uniform":
            return {"policy": "uniform", "num_frames": self.num_frames, "short_videos": self.short_videos}
        if self.policy == "fps":
            return {"policy": "fps", "fps": self.fps, "max_frames": self.max_frames, "cap": self.cap}
        return {"policy": "all", "max_frames": self.max_frames, "cap": self.cap}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Sampling:
        """The sampling a store recorded; fps/all without ``cap`` predates spreading and kept a prefix."""
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        if known.get("policy") in ("fps", "all"):
            known.setdefault("cap", "prefix")
        return cls(**known)

    @classmethod
    def from_params(cls, extract: Mapping[str, Any]) -> Sampling:
        """The sampling configured by the (validated) ``extract`` params section."""
        return cls(
            policy=extract["sampling"],
            num_frames=int(extract["num_frames"]),
            fps=float(extract["fps"]),
            max_frames=int(extract["max_frames"]),
            short_videos=extract["short_videos"],
        )


def uniform_indices(length: int, count: int) -> np.ndarray:
    """TSN-style segment centres: ``count`` indices into ``length`` frames, duplicates when length < count.

    Sample i sits at x_i = (i + 0.5)·length/count − 0.5 and is rounded to the nearest frame; an exact tie
    goes to the frame nearer the clip centre (length − 1)/2. Both rules are mirror images of themselves, so a
    time-reversed video samples exactly the reversed frames — except in the one case where no rule can:
    ``count`` odd and ``length`` even put the middle sample on the centre itself, half-way between two
    frames, and it takes the earlier one.
    """
    if length < 1 or count < 1:
        raise ValueError(f"need length >= 1 and count >= 1, got {length}, {count}")
    i = np.arange(count, dtype=np.int64)
    # x_i = num / den exactly, in integers: no float rounding can break the mirror symmetry
    num = (2 * i + 1) * length - count
    den = 2 * count
    q, r = np.divmod(num, den)
    idx = q + (2 * r > den)
    tie = 2 * r == den  # x_i = q + 1/2
    # centre c = (length - 1)/2; q + 1/2 < c  <=>  2q + 1 < length - 1: the upper frame is nearer the centre
    idx = np.where(tie & (2 * q + 1 < length - 1), q + 1, idx)
    return np.clip(idx, 0, length - 1)


def fps_indices(timestamps: np.ndarray, fps: float, max_frames: int) -> np.ndarray:
    """One frame every 1/fps seconds of presentation time: for each target t_j = j/fps (up to the last
    frame's time) the first frame at or after it; a frame is never taken twice. At most ``max_frames``.

    Works on real timestamps, so variable-frame-rate video is sampled by time, not by frame count.
    """
    times = np.asarray(timestamps, dtype=np.float64)
    if len(times) == 0:
        return np.zeros(0, dtype=np.int64)
    if not np.all(np.isfinite(times)):
        raise ValueError("fps sampling needs finite timestamps")
    span = float(times[-1] - times[0])
    n_targets = math.floor(span * fps + 1e-9) + 1
    targets = times[0] + np.arange(n_targets, dtype=np.float64) / fps
    # a frame stamped a hair before its target (rounded time bases) still counts as "at" it
    idx = np.searchsorted(times, targets - 1e-6, side="left")
    idx = np.unique(idx[idx < len(times)])
    return idx[:max_frames].astype(np.int64)


def cap_indices(candidates: np.ndarray, max_frames: int, cap: str = "spread") -> np.ndarray:
    """At most ``max_frames`` of the increasing, distinct ``candidates``: spread evenly over all of them (the
    segment centres of :func:`uniform_indices`, so the whole clip is covered), or the first ones (``prefix``)."""
    candidates = np.asarray(candidates, dtype=np.int64)
    if len(candidates) <= max_frames:
        return candidates
    if cap == "prefix":
        return candidates[:max_frames]
    return candidates[uniform_indices(len(candidates), max_frames)]


def sample_indices(length: int, sampling: Sampling, timestamps: np.ndarray | None = None) -> tuple[np.ndarray, str]:
    """The frame indices a video of ``length`` decoded frames contributes, and the policy that applied:
    ``full`` (sampled as asked), ``keep``/``repeat`` (uniform on a video shorter than num_frames) or
    ``capped`` (fps/all had more than max_frames samples; the kept ones span the whole clip)."""
    if length < 1:
        raise ValueError("a video needs at least one frame")
    if sampling.policy == "uniform":
        t = sampling.num_frames
        if length >= t:
            return uniform_indices(length, t), "full"
        if sampling.short_videos == "keep":
            return np.arange(length, dtype=np.int64), "keep"
        return uniform_indices(length, t), "repeat"
    if sampling.policy == "all":
        candidates = np.arange(length, dtype=np.int64)
    else:
        if timestamps is None or len(timestamps) < length:
            raise ValueError("fps sampling needs one timestamp per frame")
        candidates = fps_indices(np.asarray(timestamps[:length], dtype=np.float64), sampling.fps, length)
    idx = cap_indices(candidates, sampling.max_frames, sampling.cap)
    return idx, ("capped" if len(candidates) > len(idx) else "full")
