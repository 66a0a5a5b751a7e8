"""Frame geometry: a decoded frame becomes an upright, resized, centre-cropped RGB array.

FFmpeg's swscale only converts YUV to RGB (at the native size, its fast path); resizing and cropping are
torchvision's own tensor transforms (antialiased, as its weights' transforms and timm's PIL pipeline do), so a
frame gets the same pixels the backbone's reference preprocessing would give it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # frames arrive decoded: Geometry users (the backbones) need not load PyAV
    import av


@dataclass(frozen=True)
class Geometry:
    """Resize the shorter side to ``resize``, centre-crop ``crop`` x ``crop``, with ``interpolation``."""

    resize: int
    crop: int
    interpolation: str = "bilinear"  # a torchvision InterpolationMode value: bilinear, bicubic, nearest, ...


def display_transform(frame: av.VideoFrame) -> tuple[bool, bool, bool]:
    """(transpose, flip_rows, flip_cols) that bring a frame upright per its display matrix (rotation and
    mirroring, as phones write them); identity when there is none or it is not a multiple of 90 degrees."""
    matrix = None
    for side in frame.side_data:
        if side.type.name == "DISPLAYMATRIX":
            raw = bytes(memoryview(side))
            if len(raw) >= 36:
                matrix = np.frombuffer(raw[:36], dtype="<i4").astype(np.float64) / 65536.0
            break
    if matrix is None:
        return False, False, False
    a, b, c, d = (round(v) for v in (matrix[0], matrix[1], matrix[3], matrix[4]))
    # The matrix maps a source pixel (x, y) to (a·x + c·y, b·x + d·y) in image coordinates (y down).
    if abs(a) == 1 and abs(d) == 1 and b == 0 and c == 0:
        return False, d < 0, a < 0
    if abs(b) == 1 and abs(c) == 1 and a == 0 and d == 0:
        # transposed: output row index is the source x (sign b), output column the source y (sign c)
        return True, b < 0, c < 0
    return False, False, False


def frame_to_rgb(frame: av.VideoFrame, geometry: Geometry, sample_aspect: float = 1.0) -> np.ndarray:
    """An upright ``(crop, crop, 3)`` uint8 RGB array: display matrix applied, shorter side of the displayed
    picture (sample aspect ratio included) resized to ``geometry.resize`` — torchvision's rule, the longer
    side truncated — then a centre crop (zero padding where the picture is smaller than the crop)."""
    transpose, flip_rows, flip_cols = display_transform(frame)
    rgb = frame.reformat(format="rgb24", threads=1).to_ndarray()
    if transpose:
        rgb = rgb.transpose(1, 0, 2)
    if flip_rows:
        rgb = rgb[::-1]
    if flip_cols:
        rgb = rgb[:, ::-1]
    out_h, out_w = resized_shape(*rgb.shape[:2], transpose, sample_aspect, geometry)
    return _resize_crop(rgb, out_h, out_w, geometry)


def resized_shape(
    height: int, width: int, transpose: bool, sample_aspect: float, geometry: Geometry
) -> tuple[int, int]:
    """(height, width) an upright ``height`` x ``width`` picture is resized to: its displayed shorter side (sample
    aspect ratio included) to ``geometry.resize``, the longer side truncated (torchvision's rule)."""
    aspect = sample_aspect if sample_aspect > 0 else 1.0
    # pixels are stretched along the stored picture's width, which is the displayed height once transposed
    disp_w, disp_h = (width, height * aspect) if transpose else (width * aspect, height)
    if disp_w <= disp_h:
        out_w, out_h = geometry.resize, max(1, int(geometry.resize * disp_h / disp_w))
    else:
        out_w, out_h = max(1, int(geometry.resize * disp_w / disp_h)), geometry.resize
    return out_h, out_w


def _resize_crop(rgb: np.ndarray, out_h: int, out_w: int, geometry: Geometry) -> np.ndarray:
    import torch
    from torchvision.transforms.v2 import InterpolationMode
    from torchvision.transforms.v2 import functional as tvf

    image = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)
    if (out_h, out_w) != tuple(image.shape[1:]):
        mode = InterpolationMode(geometry.interpolation)
        image = tvf.resize(image, [out_h, out_w], interpolation=mode, antialias=True)
    image = tvf.center_crop(image, [geometry.crop, geometry.crop])
    return np.ascontiguousarray(image.numpy().transpose(1, 2, 0))
