"""The videos a torch head trains on, as arrays: padding into batches, the training frames' standardisation
statistics, and temporal augmentation.

Augmentation (training batches only, never validation or prediction) changes *when* frames are seen, not what
they show, the way clips of one action differ in length, speed and where they were cut:

* ``speed``: the video is resampled to ``T · f`` steps (nearest frames, evenly spaced), ``f`` drawn log-uniformly
  from ``[1/speed, speed]``; 1 leaves it alone;
* ``crop``: a random contiguous window of at least this share of the steps is kept; 1 keeps them all;
* ``drop``: each step is dropped with this probability (one is always kept); 0 keeps them all.

Draws come from the generator the caller seeds, so two CPU fits see the same augmented batches.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from framecache.heads.base import even_subsample


@dataclass(frozen=True)
class Augmentation:
    speed: float = 1.0
    crop: float = 1.0
    drop: float = 0.0

    @property
    def active(self) -> bool:
        return self.speed > 1.0 or self.crop < 1.0 or self.drop > 0.0

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One augmented copy of the ``(T, k)`` video ``x`` (at least one step)."""
        if self.speed > 1.0:
            factor = math.exp(rng.uniform(-math.log(self.speed), math.log(self.speed)))
            steps = max(1, round(len(x) * factor))
            x = x[np.round(np.linspace(0, len(x) - 1, steps)).astype(np.int64)]
        if self.crop < 1.0:
            keep = max(1, math.ceil(len(x) * rng.uniform(self.crop, 1.0)))
            start = int(rng.integers(0, len(x) - keep + 1))
            x = x[start : start + keep]
        if self.drop > 0.0:
            kept = rng.random(len(x)) >= self.drop
            if not kept.any():
                kept[int(rng.integers(len(x)))] = True
            x = x[kept]
        return x


def pad(X: Sequence[np.ndarray], mean: Any = None, scale: Any = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero-padded ``(N, T_max, k)`` float32 tensor and the ``(N,)`` int64 lengths; given ``mean`` and
    ``scale``, each video is standardised, ``(x - mean) / scale`` in float32, as it is copied in."""
    lengths = torch.tensor([len(x) for x in X], dtype=torch.int64)
    out = torch.zeros((len(X), int(lengths.max()), X[0].shape[1]), dtype=torch.float32)
    for i, x in enumerate(X):
        out[i, : len(x)] = torch.from_numpy(x if mean is None else (x - mean) / scale)
    return out, lengths


def frame_statistics(X: Sequence[np.ndarray], max_len: int | None) -> tuple[np.ndarray, np.ndarray]:
    """``(mean, scale)`` per feature over every frame of ``X`` (each video subsampled to ``max_len``), float32.

    One pass with float64 accumulators merged per video (Chan et al.), so no float64 copy of every training frame
    is ever held (at UCF101 scale that copy alone was 1.6 GB).
    """
    n, mean, m2 = 0, np.zeros(X[0].shape[1]), np.zeros(X[0].shape[1])
    for x in X:
        x = even_subsample(x, max_len)
        mean_x = x.mean(axis=0, dtype=np.float64)
        total, delta = n + len(x), mean_x - mean
        mean += delta * (len(x) / total)
        m2 += np.square(x - mean_x).sum(axis=0) + delta**2 * (n * len(x) / total)
        n = total
    return mean.astype(np.float32), np.maximum(np.sqrt(m2 / n), 1e-6).astype(np.float32)
