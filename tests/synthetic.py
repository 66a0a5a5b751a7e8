"""Synthetic frame-feature sequences with a known answer, for tests and the head benchmark.

:func:`order_task` imitates the demo data set without running a CNN: "appearance" classes differ in what is
seen, while each "order pair" is a class and its exact frame-for-frame reversal (zoom in / zoom out). Each clip
is a smooth trajectory of a low-dimensional latent — the class's look, a random scene and, for an order pair,
a drift of norm ``drift`` along the pair's direction from the first frame to the last — lifted to
``k`` non-negative features by a fixed random projection and ReLU, like a CNN's pooled activations.

The reversed class holds the exact reversals of the forward class's clips, in the same split (as the demo's
pair-mates share a group). A static pooled descriptor (mean/max/min) of a clip and of its reversal are
identical, so any classifier on them scores exactly 50% within a pair; a head that reads the order can do
better.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class SyntheticSequences:
    X: list[np.ndarray]  # (T, k) float32 each
    y: np.ndarray  # int64 class index
    split: np.ndarray  # "train" | "val" | "test"
    classes: list[str]
    pairs: list[tuple[int, int]]  # (forward, reversed) class indices

    def part(self, name: str) -> tuple[list[np.ndarray], np.ndarray]:
        idx = np.flatnonzero(self.split == name)
        return [self.X[i] for i in idx], self.y[idx]


def order_task(
    clips_per_class: int = 24,
    frames: int | tuple[int, int] = 16,
    k: int = 1280,
    appearance_classes: int = 4,
    order_pairs: int = 3,
    latent: int = 16,
    noise: float = 0.3,
    drift: float = 3.0,
    fractions: tuple[float, float] = (0.2, 0.25),
    seed: int = 0,
) -> SyntheticSequences:
    """Sequences of ``appearance_classes + 2 * order_pairs`` classes, split train/val/test by ``fractions``
    (val, test) per class. ``frames`` is T, or a (min, max) range for mixed lengths."""
    rng = np.random.default_rng(seed)
    lift = rng.normal(size=(latent, k)).astype(np.float32) / np.sqrt(latent)
    bias = rng.normal(scale=0.5, size=k).astype(np.float32)
    looks = rng.normal(scale=1.5, size=(appearance_classes, latent))
    pair_looks = rng.normal(scale=1.5, size=(order_pairs, latent))
    drifts = rng.normal(size=(order_pairs, latent))
    drifts *= drift / np.linalg.norm(drifts, axis=1, keepdims=True)

    classes = [f"look_{i}" for i in range(appearance_classes)]
    pairs = []
    for p in range(order_pairs):
        pairs.append((len(classes), len(classes) + 1))
        classes += [f"pair{p}_forward", f"pair{p}_reversed"]

    X: list[np.ndarray] = []
    y: list[int] = []
    split: list[str] = []
    n_val = round(fractions[0] * clips_per_class)
    n_test = round(fractions[1] * clips_per_class)
    forward: dict[int, list[np.ndarray]] = {}
    for c in range(len(classes)):
        pair, reversed_class = divmod(c - appearance_classes, 2)
        for j in range(clips_per_class):
            if c >= appearance_classes and reversed_class:
                # the exact frame-for-frame reversal of the forward class's clip j, in the same split
                feats = forward[pair][j][::-1]
            else:
                T = frames if isinstance(frames, int) else int(rng.integers(frames[0], frames[1] + 1))
                s = np.linspace(0.0, 1.0, T)[:, None] if T > 1 else np.zeros((1, 1))
                scene = rng.normal(size=latent)
                if c < appearance_classes:
                    wobble = rng.normal(scale=0.3, size=latent) * np.sin(2 * np.pi * (s + rng.uniform()))
                    z = looks[c] + 0.5 * scene + wobble
                else:
                    speed = rng.uniform(0.7, 1.3)
                    z = pair_looks[pair] + 0.5 * scene + speed * (s - 0.5) * drifts[pair]
                feats = np.maximum(z.astype(np.float32) @ lift + bias, 0.0)
                feats += rng.normal(scale=noise, size=feats.shape).astype(np.float32)
                if c >= appearance_classes:
                    forward.setdefault(pair, []).append(feats)
            X.append(np.ascontiguousarray(feats, dtype=np.float32))
            y.append(c)
            split.append("test" if j < n_test else "val" if j < n_test + n_val else "train")
    return SyntheticSequences(X, np.asarray(y, dtype=np.int64), np.asarray(split), classes, pairs)


def pair_accuracy(y_true: np.ndarray, proba: np.ndarray, pair: tuple[int, int]) -> float:
    """Accuracy on the videos of one class pair, choosing only between the pair's two classes."""
    mask = np.isin(y_true, pair)
    if not mask.any():
        return float("nan")
    choice = np.where(proba[mask][:, pair[0]] >= proba[mask][:, pair[1]], pair[0], pair[1])
    return float(np.mean(choice == y_true[mask]))


def mixed_lengths(n_per_class=6, k=5, classes=3, lengths=(1, 7), seed=0, labels=None):
    """Tiny mixed-length sequences (the first of each class has T = lengths[0]) whose class shifts the mean."""
    rng = np.random.default_rng(seed)
    X, y = [], []
    for c in range(classes):
        for i in range(n_per_class):
            T = lengths[0] if i == 0 else int(rng.integers(lengths[0], lengths[1] + 1))
            X.append((rng.normal(size=(T, k)) + 2.0 * c).astype(np.float32))
            y.append(c if labels is None else labels[c])
    return X, np.asarray(y)


def order_pairs(n, T=8, k=6, seed=0):
    """Class 0: a random path along a fixed direction; class 1: the exact reversal of a class-0 path."""
    direction = np.random.default_rng(12345).normal(size=k)
    rng = np.random.default_rng(seed)
    X, y = [], []
    for _ in range(n):
        start = rng.normal(size=k)
        path = (start + np.linspace(-1, 1, T)[:, None] * direction + rng.normal(scale=0.2, size=(T, k))).astype(
            np.float32
        )
        X += [path, path[::-1].copy()]
        y += [0, 1]
    return X, np.asarray(y)
