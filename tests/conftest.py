"""Fixtures shared across the test suite: the real clips in ../shared and small generated videos."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_REAL = REPO.parent / "shared" / "data" / "real"

# Tests share 2 cores with each other's subprocesses; more torch threads only oversubscribe them.
os.environ.setdefault("OMP_NUM_THREADS", "2")


def _shared(name: str) -> Path:
    path = SHARED_REAL / name
    if not (path / "manifest.csv").is_file():
        pytest.skip(
            f"real clips not available: {path} is absent (it ships beside the repository as ../shared in the "
            "project's CI and developer machines, not in a user's clone)"
        )
    return path


@pytest.fixture
def weizmann64() -> Path:
    """72 real H.264 clips, 4 actions; mirrored twins share a group."""
    return _shared("weizmann64")


@pytest.fixture
def ud810() -> Path:
    """27 real MPEG-4 AVI clips, 3 actions x 3 persons (group = person)."""
    return _shared("ud810")


def write_video(path: Path, frames: int = 8, size: int = 32, fps: int = 25, codec: str = "libx264", seed: int = 0):
    """Encode a tiny clip of random-ish but deterministic frames; returns the frames written (RGB uint8)."""
    import av

    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, size=(size, size, 3), dtype=np.uint8)
    arrays = [np.roll(base, shift=i, axis=1) for i in range(frames)]
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = {".avi": "avi", ".mkv": "matroska"}.get(path.suffix.lower(), "mp4")
    with av.open(str(path), mode="w", format=fmt) as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width = stream.height = size
        stream.pix_fmt = "yuv420p"
        for array in arrays:
            for packet in stream.encode(av.VideoFrame.from_ndarray(array, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return arrays


@pytest.fixture
def make_video():
    """Factory fixture: ``make_video(path, frames=8, size=32, fps=25, codec='libx264', seed=0)``."""
    return write_video
