"""Frame pooling: one fixed-length descriptor per video from its ``(T, k)`` frame features.

Static poolings (mean, max, min, maxmin) are invariant to the order of the frames, so a video and its exact
reversal get identical descriptors — a classifier on them cannot tell "zoom in" from "zoom out". The dynamic
``delta`` pooling (max and min over t of ``x[t+d] − x[t]``) changes sign under reversal (the reversed video's
max is minus the original's min), so it can see the direction of change.

Delta with ``T <= d`` uses the largest step the video has (``T − 1``); a single-frame video has no change to
measure and gets zeros.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

POOLINGS = ("mean", "max", "min", "maxmin", "delta", "maxmin_delta")
# the poolings whose descriptor is the same for any frame order (the others see the direction of change)
_STATIC = ("mean", "max", "min", "maxmin")


def delta_pool(x: np.ndarray, step: int) -> np.ndarray:
    """``max_t (x[t+d] − x[t]) ‖ min_t (x[t+d] − x[t])`` with d = min(step, T − 1); zeros when T = 1."""
    d = min(step, len(x) - 1)
    if d < 1:
        return np.zeros(2 * x.shape[1], dtype=np.float32)
    diff = x[d:] - x[:-d]
    return np.concatenate([diff.max(axis=0), diff.min(axis=0)])


def pool_one(x: np.ndarray, pooling: str, delta_step: int = 1) -> np.ndarray:
    if pooling == "mean":
        # Summing in sorted order makes the mean bit-for-bit independent of frame order (a float sum is not).
        return np.sort(x, axis=0).mean(axis=0, dtype=np.float64).astype(np.float32)
    if pooling == "max":
        return x.max(axis=0)
    if pooling == "min":
        return x.min(axis=0)
    if pooling == "maxmin":
        return np.concatenate([x.max(axis=0), x.min(axis=0)])
    if pooling == "delta":
        return delta_pool(x, delta_step)
    if pooling == "maxmin_delta":
        return np.concatenate([x.max(axis=0), x.min(axis=0), delta_pool(x, delta_step)])
    raise ValueError(f"unknown pooling {pooling!r}; valid: {', '.join(POOLINGS)}")


def pool(X: Sequence[np.ndarray], pooling: str, delta_step: int = 1) -> np.ndarray:
    """``(N, D)`` float32 descriptors of a list of ``(T_i, k)`` sequences."""
    return np.stack([pool_one(x, pooling, delta_step) for x in X]).astype(np.float32, copy=False)


def is_order_invariant(pooling: str) -> bool:
    """True for the static poolings, whose descriptor ignores frame order."""
    return pooling in _STATIC
