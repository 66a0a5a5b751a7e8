"""NVDEC part of benchmarks/gpu.py: decoding on the GPU through PyNvVideoCodec, where it is installed."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any


def nvdec_part(clips: dict[str, Any], work: Path, extract: dict[str, Any], workers: int) -> dict[str, Any]:
    if importlib.util.find_spec("PyNvVideoCodec") is None:
        return {"installed": False, "summary": "PyNvVideoCodec is not installed here: not measured"}
    return {"installed": True, "summary": "PyNvVideoCodec is installed, but extract has no NVDEC decoder yet"}
