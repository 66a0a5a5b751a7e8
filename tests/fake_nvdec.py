"""A stand-in for PyNvVideoCodec at its boundary, for tests on machines without a GPU: ``SimpleDecoder`` decodes
with PyAV (every frame, in display order, RGB24 as FFmpeg converts it) and hands out CPU tensors through
DLPack, as the real one hands out CUDA surfaces. So everything framecache does with NVDEC's frames runs on
CPU, and with frames bit for bit the CPU decoder's.

``install(monkeypatch, **faults)`` puts it in ``sys.modules``; faults: ``fail`` (a substring of the paths whose
decode raises), ``extra_frames`` (frames the fake counts beyond the real ones).
"""

from __future__ import annotations

import importlib.machinery
import sys
import types
from typing import Any

import numpy as np
import torch


class FakeNvdecError(RuntimeError):
    pass


def make_module(fail: str | None = None, extra_frames: int = 0) -> types.ModuleType:
    import av

    class SimpleDecoder:
        def __init__(self, path: str, gpu_id: int = 0, use_device_memory: bool = True, output_color_type: Any = None):
            if fail and fail in path:
                raise FakeNvdecError(f"cuvidCreateDecoder failed for {path}: unsupported profile")
            with av.open(path) as container:
                stream = container.streams.video[0]
                frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
            self.frames = [torch.from_numpy(np.ascontiguousarray(f)) for f in frames]
            self.count = len(self.frames) + extra_frames

        def __len__(self) -> int:
            return self.count

        def get_batch_frames_by_index(self, indices: list[int]) -> list[torch.Tensor]:
            return [self.frames[i] for i in indices]

    module = types.ModuleType("PyNvVideoCodec")
    module.__spec__ = importlib.machinery.ModuleSpec("PyNvVideoCodec", None)
    module.SimpleDecoder = SimpleDecoder  # type: ignore[attr-defined]
    module.OutputColorType = types.SimpleNamespace(RGB="RGB", NATIVE="NATIVE")  # type: ignore[attr-defined]
    return module


def install(monkeypatch: Any, **faults: Any) -> types.ModuleType:
    module = make_module(**faults)
    monkeypatch.setitem(sys.modules, "PyNvVideoCodec", module)
    return module
