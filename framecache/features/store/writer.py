"""Writing a feature store: videos are appended one by one to a new file (see :mod:`framecache.features.store`
for the layout); the caller writes to a temporary path and renames it when complete.

Chunks of 64 rows are the measured default (BENCHMARKS.md, extract → feature store): with LZF (the
params default) a random per-video read stays near 1.5 ms where 256-row chunks take 4.5 ms and 1024-row
chunks 20 ms, at the same file size; a whole-store load reads everything once either way.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from framecache.features.provenance import PROVENANCE_KEYS
from framecache.features.store.schema import FORMAT, JSON_ATTRS, VIDEO_INT, VIDEO_STR, VideoFeatures

DEFAULT_CHUNK_ROWS = 64
_STR = h5py.string_dtype("utf-8")


class StoreWriter:
    """Append videos to a new store file (the caller gives a temporary path and renames it when done).

    Rows are buffered and written a chunk at a time; per-video columns are written on :meth:`close`.
    """

    def __init__(
        self,
        path: str | Path,
        provenance: Mapping[str, Any],
        classes: Sequence[str],
        *,
        compression: str = "lzf",
        chunk_rows: int = DEFAULT_CHUNK_ROWS,
        extra_attrs: Mapping[str, Any] | None = None,
    ):
        missing = [k for k in PROVENANCE_KEYS if k not in provenance]
        if missing:
            raise ValueError(f"provenance lacks {missing}")
        self.k = int(provenance["k"])
        self.dtype = np.dtype(provenance["dtype"])
        self.path = Path(path)
        self._h5 = h5py.File(self.path, "w")
        comp = None if compression == "none" else compression
        opts = {"gzip": 4}.get(compression)
        self._features = self._h5.create_dataset(
            "features",
            shape=(0, self.k),
            maxshape=(None, self.k),
            dtype=self.dtype,
            chunks=(chunk_rows, self.k),
            compression=comp,
            compression_opts=opts,
            shuffle=compression == "gzip",
        )
        row_chunks = (max(chunk_rows, 1024),)
        self._frame_index = self._h5.create_dataset(
            "frame_index", shape=(0,), maxshape=(None,), dtype=np.int64, chunks=row_chunks
        )
        self._timestamp = self._h5.create_dataset(
            "timestamp", shape=(0,), maxshape=(None,), dtype=np.float64, chunks=row_chunks
        )
        attrs = self._h5.attrs
        attrs["format"] = FORMAT
        for key, value in {**provenance, "classes": list(classes), **(extra_attrs or {})}.items():
            attrs[key] = json.dumps(value, sort_keys=True) if key in JSON_ATTRS else value
        attrs["compression"] = compression
        attrs["chunk_rows"] = chunk_rows
        self._chunk_rows = chunk_rows
        self._buf: list[VideoFeatures] = []
        self._buf_rows = 0
        self._rows = 0
        self._offsets = [0]
        self._video: dict[str, list[Any]] = {name: [] for name in (*VIDEO_STR, *VIDEO_INT)}

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def append(self, video: VideoFeatures) -> None:
        feats = np.asarray(video.features)
        if feats.ndim != 2 or feats.shape[1] != self.k or feats.shape[0] < 1:
            raise ValueError(f"video {video.video_id}: features of shape {feats.shape}, expected (T>=1, {self.k})")
        if len(video.frame_index) != len(feats) or len(video.timestamp) != len(feats):
            raise ValueError(f"video {video.video_id}: frame_index/timestamp length differs from T={len(feats)}")
        self._buf.append(video)
        self._buf_rows += len(feats)
        self._offsets.append(self._offsets[-1] + len(feats))
        for name in VIDEO_STR:
            self._video[name].append(str(getattr(video, name)))
        for name in VIDEO_INT:
            self._video[name].append(int(getattr(video, name)))
        if self._buf_rows >= 4 * self._chunk_rows:
            self._flush()

    def _flush(self) -> None:
        if not self._buf:
            return
        feats = np.concatenate([np.asarray(v.features) for v in self._buf]).astype(self.dtype, copy=False)
        index = np.concatenate([np.asarray(v.frame_index, dtype=np.int64) for v in self._buf])
        stamps = np.concatenate([np.asarray(v.timestamp, dtype=np.float64) for v in self._buf])
        lo, hi = self._rows, self._rows + len(feats)
        for ds, data in ((self._features, feats), (self._frame_index, index), (self._timestamp, stamps)):
            ds.resize(hi, axis=0)
            ds[lo:hi] = data
        self._rows = hi
        self._buf, self._buf_rows = [], 0

    def close(self) -> None:
        """Write the per-video columns and close the file (flushing it to the OS)."""
        if not self._h5.id.valid:
            return
        self._flush()
        h = self._h5
        h.create_dataset("offsets", data=np.asarray(self._offsets, dtype=np.int64))
        for name in VIDEO_STR:
            h.create_dataset(name, data=np.asarray(self._video[name], dtype=object), dtype=_STR)
        for name in VIDEO_INT:
            h.create_dataset(name, data=np.asarray(self._video[name], dtype=np.int64))
        h.close()

    def abort(self) -> None:
        if self._h5.id.valid:
            self._h5.close()

    def __enter__(self) -> StoreWriter:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
