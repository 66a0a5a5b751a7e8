"""Builders the tests share: params files derived from the repository's params.yaml, and small feature stores
whose provenance matches what those params configure (so train/report/predict accept them as fresh).

Imported as ``from tests.builders import ...``; tests/conftest.py exposes them as fixtures too.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]


def read_rows(path: Path) -> list[dict[str, str]]:
    """A CSV file's rows as dicts of strings (what a stage wrote, read back the way a user would)."""
    import csv

    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def default_params() -> dict[str, Any]:
    """A fresh copy of the repository's params.yaml as plain data."""
    return copy.deepcopy(yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8")))


def merged(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``overrides`` merged in section by section (nested mappings merge, anything else replaces)."""
    out = copy.deepcopy(dict(base))
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merged(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def write_params(path: Path, overrides: Mapping[str, Any] | None = None, **sections: Any) -> Path:
    """Write params.yaml at ``path`` (a file, or a folder to put one in): the repository's params with
    ``overrides`` and keyword sections merged in, e.g. ``write_params(tmp_path, train={"repeats": 2})``."""
    path = Path(path)
    if path.suffix not in (".yaml", ".yml"):
        path = path / "params.yaml"
    data = merged(merged(default_params(), overrides or {}), sections)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def store_provenance(extract: Mapping[str, Any], k: int, **extra: Any) -> dict[str, Any]:
    """The provenance a store made with these ``extract`` params would carry (stand-in weights checksum)."""
    from framecache.features.store import configured_provenance

    return {**configured_provenance(extract), "weights_sha256": "0" * 64, "k": k,
            "preprocessing": {"resize": 256, "crop": 224}, **extra}  # fmt: skip


def write_store(
    path: Path,
    provenance: Mapping[str, Any],
    classes: list[str],
    videos: Iterable[tuple[str, np.ndarray, int, str]],
) -> Path:
    """A feature store holding ``videos`` given as ``(video_id, features (T, k), label, split)``."""
    from framecache.features.store import StoreWriter, VideoFeatures

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with StoreWriter(path, dict(provenance), classes) as writer:
        for video_id, feats, label, split in videos:
            T = len(feats)
            writer.append(VideoFeatures(video_id, np.asarray(feats), np.arange(T), np.arange(T) / 2.0,
                                        label=int(label), split=split))  # fmt: skip
    return path


def remux(src: Path, dst: Path, *, options: dict | None = None, metadata: dict | None = None) -> Path:
    """The same video packets in a new MP4 (``options``: muxer options such as movflags; ``metadata``: tags
    that change the file's bytes but not one decoded frame)."""
    import av

    with av.open(str(src)) as source, av.open(str(dst), "w", format="mp4", options=options or {}) as out:
        out.metadata.update(metadata or {})
        stream = out.add_stream_from_template(source.streams.video[0])
        for packet in source.demux(video=0):
            if packet.size:
                packet.stream = stream
                out.mux(packet)
    return dst
