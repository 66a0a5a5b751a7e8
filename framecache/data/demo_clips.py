"""Synthetic but real demo videos: camera moves over real photographs that ship inside installed packages.

Two kinds of class, chosen so the demo can prove what temporal heads buy over frame pooling:

* **appearance classes** (``cat``, ``coffee``, ``astronaut``, ``rocket``): a slow random drift over one photo
  each. The photo decides the class; the motion is random, so any head — pooled or temporal — can win here.
* **order-only pairs** (``zoom_in``/``zoom_out``, ``rotate_cw``/``rotate_ccw``, ``fade_in``/``fade_out``):
  every clip of the second class is the *frame-for-frame reversal* of a clip of the first, drawn from a shared
  pool of photos. The two classes therefore hold the same multiset of frames, so an order-blind head (mean,
  max, min or max-min pooling, and any classifier on top) cannot do better than chance within a pair, while
  a head that reads frame order can. A clip and its reversal share a ``group``, so a group-aware split keeps
  them on the same side and never leaks one into the other's test set.

Every clip varies photo (for the pairs), start position, extent of the move, speed and length, drawn from a
generator seeded by ``(seed, class, clip)`` so the demo is identical for a seed and adding clips leaves the
earlier ones unchanged. Frames are encoded losslessly (H.264, qp 0), so a decoded reversed clip is exactly
the reversed decoded frames.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import av
import numpy as np
from PIL import Image

APPEARANCE_CLASSES: dict[str, str] = {
    "cat": "chelsea",
    "coffee": "coffee",
    "astronaut": "astronaut",
    "rocket": "rocket",
}
# (forward class, reversed class, motion)
ORDER_PAIRS: tuple[tuple[str, str, str], ...] = (
    ("zoom_in", "zoom_out", "zoom"),
    ("rotate_cw", "rotate_ccw", "rotate"),
    ("fade_in", "fade_out", "fade"),
)
# Photos the order pairs draw from: disjoint from the appearance photos so pairs cannot be told by content.
PAIR_PHOTOS: tuple[str, ...] = (
    "china", "flower", "hubble_deep_field", "retina", "immunohistochemistry", "camera",
    "coins", "moon", "brick", "grass", "gravel", "motorcycle", "clock",
)  # fmt: skip


def class_names() -> list[str]:
    """All demo classes, appearance classes first, each pair's forward class before its reversal."""
    names = list(APPEARANCE_CLASSES)
    for forward, backward, _ in ORDER_PAIRS:
        names += [forward, backward]
    return names


def class_pairs() -> list[list[str]]:
    """The order-only pairs as ``[forward, reversed]`` class names (the demo's class_pairs.csv)."""
    return [[forward, backward] for forward, backward, _ in ORDER_PAIRS]


@cache
def load_photo(name: str) -> Image.Image:
    """A packaged photograph as an RGB PIL image (scikit-image's and scikit-learn's bundled samples)."""
    if name in ("china", "flower"):
        from sklearn.datasets import load_sample_image

        array = load_sample_image(f"{name}.jpg")
    else:
        import skimage.data

        array = skimage.data.stereo_motorcycle()[0] if name == "motorcycle" else getattr(skimage.data, name)()
    array = np.asarray(array)
    if array.ndim == 2:
        array = np.stack([array] * 3, axis=-1)
    return Image.fromarray(np.ascontiguousarray(array[..., :3]).astype(np.uint8), mode="RGB")


@dataclass(frozen=True)
class ClipSpec:
    """One clip to render: which class, which photo, how many frames and the random draw behind the move."""

    label: str
    photo: str
    frames: int
    seed: tuple[int, ...]


def _view(photo: Image.Image, size: int, cx: float, cy: float, side: float) -> Image.Image:
    """The square window of the photo centred at (cx, cy) with the given side, resampled to size×size."""
    scale = side / size
    # PIL's affine maps output pixel (u, v) to input (a·u + b·v + c, d·u + e·v + f)
    coeffs = (scale, 0.0, cx - side / 2, 0.0, scale, cy - side / 2)
    return photo.transform((size, size), Image.Transform.AFFINE, coeffs, resample=Image.Resampling.BILINEAR)


def _progress(rng: np.random.Generator, n: int) -> np.ndarray:
    """Per-frame progress 0→1 over a random sub-interval of the clip, so speed varies from clip to clip."""
    start, end = rng.uniform(0.0, 0.2), rng.uniform(0.8, 1.0)
    t = np.linspace(0.0, 1.0, n)
    p = np.clip((t - start) / (end - start), 0.0, 1.0)
    return 0.5 - 0.5 * np.cos(math.pi * p)  # ease in and out, like a real camera move


def _window(rng: np.random.Generator, photo: Image.Image, side_range: tuple[float, float]):
    w, h = photo.size
    side = rng.uniform(*side_range) * min(w, h)
    cx = rng.uniform(side / 2, w - side / 2)
    cy = rng.uniform(side / 2, h - side / 2)
    return cx, cy, side


def render_frames(spec: ClipSpec, size: int) -> list[np.ndarray]:
    """Render one clip as a list of (size, size, 3) uint8 RGB frames (forward order for pair classes)."""
    rng = np.random.default_rng(list(spec.seed))
    photo = load_photo(spec.photo)
    n = spec.frames
    motion = _motion_of(spec.label)
    if motion == "zoom":
        cx, cy, side0 = _window(rng, photo, (0.75, 1.0))
        side1 = side0 * rng.uniform(0.12, 0.25)
        p = _progress(rng, n)
        return [np.asarray(_view(photo, size, cx, cy, side0 + (side1 - side0) * q)) for q in p]
    if motion == "rotate":
        cx, cy, side = _window(rng, photo, (0.5, 0.8))
        base = _view(photo, size, cx, cy, side)
        angle = rng.uniform(40.0, 90.0)
        p = _progress(rng, n)
        # PIL rotates counter-clockwise for positive angles: clockwise is negative. Corners fill black, as a
        # rotating camera over a printed photo would show.
        return [np.asarray(base.rotate(-angle * q, resample=Image.Resampling.BILINEAR)) for q in p]
    if motion == "fade":
        cx, cy, side = _window(rng, photo, (0.5, 0.9))
        dx, dy = rng.normal(0.0, 0.05 * side, size=2)
        gain0 = rng.uniform(0.0, 0.15)
        p = _progress(rng, n)
        frames = []
        for q, t in zip(p, np.linspace(0.0, 1.0, n), strict=True):
            view = np.asarray(_view(photo, size, cx + dx * t, cy + dy * t, side), dtype=np.float32)
            frames.append(np.clip(view * (gain0 + (1.0 - gain0) * q), 0, 255).round().astype(np.uint8))
        return frames
    # appearance: slow drift and slight zoom in a random direction, so motion says nothing about the class
    cx, cy, side = _window(rng, photo, (0.45, 0.85))
    w, h = photo.size
    heading = rng.uniform(0.0, 2 * math.pi)
    travel = rng.uniform(0.0, 0.2) * side
    zoom = rng.uniform(0.9, 1.1)
    frames = []
    for t in np.linspace(0.0, 1.0, n):
        s = side * (1.0 + (zoom - 1.0) * t)
        x = float(np.clip(cx + math.cos(heading) * travel * t, s / 2, w - s / 2))
        y = float(np.clip(cy + math.sin(heading) * travel * t, s / 2, h - s / 2))
        frames.append(np.asarray(_view(photo, size, x, y, s)))
    return frames


def _motion_of(label: str) -> str:
    for forward, backward, motion in ORDER_PAIRS:
        if label in (forward, backward):
            return motion
    if label in APPEARANCE_CLASSES:
        return "appearance"
    raise ValueError(f"unknown demo class {label!r}; demo classes: {', '.join(class_names())}")


def encode_mp4(frames: list[np.ndarray], path: Path, fps: int) -> None:
    """Encode RGB frames as lossless H.264 (qp 0, yuv420p) so decoding returns exactly what was rendered."""
    with av.open(str(path), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = frames[0].shape[1], frames[0].shape[0]
        stream.pix_fmt = "yuv420p"
        # one thread: x264 output is then byte-identical from run to run
        stream.codec_context.options = {"qp": "0", "preset": "fast", "threads": "1"}
        for array in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(array, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


@dataclass(frozen=True)
class DemoClip:
    """One file of the demo and its manifest row."""

    relpath: str  # POSIX path relative to the demo folder
    label: str
    group: str
    frames: int
    reversed_from: str  # relpath of the forward clip this one reverses, or ""


def plan(seed: int, clips_per_class: int, min_frames: int, max_frames: int) -> list[tuple[ClipSpec, list[DemoClip]]]:
    """Every clip to render and the file(s) each rendering becomes (a pair's forward clip and its reversal)."""
    jobs: list[tuple[ClipSpec, list[DemoClip]]] = []
    for ci, (label, photo) in enumerate(APPEARANCE_CLASSES.items()):
        for k in range(clips_per_class):
            rng = np.random.default_rng([seed, ci, k, 0])
            n = int(rng.integers(min_frames, max_frames + 1))
            rel = f"videos/{label}/{label}_{k:03d}.mp4"
            jobs.append(
                (ClipSpec(label, photo, n, (seed, ci, k, 1)), [DemoClip(rel, label, f"{label}-{k:03d}", n, "")])
            )
    for pi, (forward, backward, motion) in enumerate(ORDER_PAIRS):
        ci = len(APPEARANCE_CLASSES) + pi
        for k in range(clips_per_class):
            rng = np.random.default_rng([seed, ci, k, 0])
            n = int(rng.integers(min_frames, max_frames + 1))
            photo = PAIR_PHOTOS[int(rng.integers(len(PAIR_PHOTOS)))]
            fwd = f"videos/{forward}/{forward}_{k:03d}.mp4"
            bwd = f"videos/{backward}/{backward}_{k:03d}.mp4"
            group = f"{motion}-{k:03d}"
            jobs.append(
                (
                    ClipSpec(forward, photo, n, (seed, ci, k, 1)),
                    [DemoClip(fwd, forward, group, n, ""), DemoClip(bwd, backward, group, n, fwd)],
                )
            )
    return jobs


def write_job(spec: ClipSpec, clips: list[DemoClip], out_dir: Path, size: int, fps: int) -> None:
    """Render one clip once and encode it as each of its files (a pair's reversal reverses the same frames)."""
    frames = render_frames(spec, size)
    for clip in clips:
        target = out_dir / clip.relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        encode_mp4(frames[::-1] if clip.reversed_from else frames, target, fps)


def generate(
    out_dir: Path,
    *,
    seed: int,
    clips_per_class: int,
    size: int,
    fps: int,
    min_frames: int,
    max_frames: int,
    progress: Callable[[int], None] | None = None,
) -> list[DemoClip]:
    """Render and encode every demo clip into ``out_dir``; returns the manifest rows."""
    rows: list[DemoClip] = []
    for spec, clips in plan(seed, clips_per_class, min_frames, max_frames):
        write_job(spec, clips, out_dir, size, fps)
        rows += clips
        if progress is not None:
            progress(len(clips))
    return rows
