"""Writing a feature store: videos are appended one by one to a new file (see :mod:`framecache.features.store`
for the layout); the caller writes to a temporary path and renames it when complete.

Chunks of 64 rows are the measured default (BENCHMARKS.md, extract → feature store): with LZF (the
params default) a random per-video read stays near 1.5 ms where 256-row chunks take 4.5 ms and 1024-row
chunks 20 ms, at the same file size; a whole-store load reads everything once either way.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from framecache.features.provenance import PROVENANCE_KEYS
from framecache.features.store.schema import (
    CHECKSUM_ATTR,
    FORMAT,
    JSON_ATTRS,
    ROW_DATASETS,
    VIDEO_INT,
    VIDEO_STR,
    VideoFeatures,
    column_bytes,
    combined_digest,
)

DEFAULT_CHUNK_ROWS = 64
_STR = h5py.string_dtype("utf-8")


def write_error(exc: BaseException) -> OSError:
    """An HDF5 write failure as the OSError it is, with the errno HDF5 reports (ENOSPC for a full disk)."""
    found = re.search(r"errno = (\d+)", str(exc))
    code = int(found.group(1)) if found else errno.EIO
    return OSError(code, f"{os.strerror(code)} ({exc})".replace("\n", " "))


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
        self._done = False  # closed or aborted
        # no chunk cache: a failed write leaves no dirty chunk behind for close (or exit) to retry
        self._h5 = h5py.File(self.path, "w", rdcc_nbytes=0)
        self._guarded(self._create, provenance, classes, compression, chunk_rows, extra_attrs)
        self._chunk_rows = chunk_rows
        self._pending: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._pending_rows = 0
        self._rows = 0
        self._offsets = [0]
        self._video: dict[str, list[Any]] = {name: [] for name in (*VIDEO_STR, *VIDEO_INT)}
        # the checksum of the data as appended (schema.combined_digest): a reader can tell a file whose bytes
        # changed afterwards (FeatureStore.verify)
        self._hashes = {name: hashlib.sha256() for name in ROW_DATASETS}

    def _create(
        self,
        provenance: Mapping[str, Any],
        classes: Sequence[str],
        compression: str,
        chunk_rows: int,
        extra_attrs: Mapping[str, Any] | None,
    ) -> None:
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

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def append(self, video: VideoFeatures) -> None:
        feats = np.asarray(video.features)
        if feats.ndim != 2 or feats.shape[1] != self.k or feats.shape[0] < 1:
            raise ValueError(f"video {video.video_id}: features of shape {feats.shape}, expected (T>=1, {self.k})")
        if len(video.frame_index) != len(feats) or len(video.timestamp) != len(feats):
            raise ValueError(f"video {video.video_id}: frame_index/timestamp length differs from T={len(feats)}")
        self._offsets.append(self._offsets[-1] + len(feats))
        for name in VIDEO_STR:
            self._video[name].append(str(getattr(video, name)))
        for name in VIDEO_INT:
            self._video[name].append(int(getattr(video, name)))
        rows = (
            np.ascontiguousarray(feats, dtype=self.dtype),
            np.ascontiguousarray(video.frame_index, dtype=np.int64),
            np.ascontiguousarray(video.timestamp, dtype=np.float64),
        )
        for name, data in zip(ROW_DATASETS, rows, strict=True):
            self._hashes[name].update(data.tobytes())
        self._pending.append(rows)
        self._pending_rows += len(feats)
        if self._pending_rows >= 4 * self._chunk_rows:
            self._guarded(self._flush, False)

    def _flush(self, final: bool) -> None:
        """Write the pending rows: whole chunks only (the rest waits), everything when ``final``."""
        if not self._pending:
            return
        feats, index, stamps = (np.concatenate(cols) for cols in zip(*self._pending, strict=True))
        n = len(feats) if final else len(feats) - len(feats) % self._chunk_rows
        lo, hi = self._rows, self._rows + n
        for ds, data in ((self._features, feats), (self._frame_index, index), (self._timestamp, stamps)):
            ds.resize(hi, axis=0)
            ds[lo:hi] = data[:n]
        self._rows = hi
        self._pending = [(feats[n:], index[n:], stamps[n:])] if n < len(feats) else []
        self._pending_rows = len(feats) - n

    def _guarded(self, write: Any, *args: Any) -> None:
        """Run one write; if it fails (a full disk), discard the file before the error propagates."""
        try:
            write(*args)
        except RuntimeError as exc:  # h5py reports some failed writes (a flush) as RuntimeError
            self.abort()
            raise write_error(exc) from exc
        except BaseException:
            self.abort()
            raise

    def close(self) -> None:
        """Write the per-video columns and close the file (flushing it to the OS)."""
        if self._done:
            return
        self._guarded(self._finish)
        self._done = True

    def _finish(self) -> None:
        self._flush(True)
        h = self._h5
        h.flush()  # the data's metadata first: little is left unwritten if the columns below do not fit
        self._ensure_space(self._columns_bytes())
        # the new datasets stay referenced until the flush: closing one writes its header, and a write
        # failing there would be a warning printed at garbage collection instead of an error raised here
        made = [h.create_dataset("offsets", data=np.asarray(self._offsets, dtype=np.int64))]
        for name in VIDEO_STR:
            made.append(h.create_dataset(name, data=np.asarray(self._video[name], dtype=object), dtype=_STR))
        for name in VIDEO_INT:
            made.append(h.create_dataset(name, data=np.asarray(self._video[name], dtype=np.int64)))
        digests = {name: hasher.digest() for name, hasher in self._hashes.items()}
        digests["offsets"] = hashlib.sha256(column_bytes(self._offsets, np.int64)).digest()
        for name in (*VIDEO_STR, *VIDEO_INT):
            digests[name] = hashlib.sha256(column_bytes(self._video[name], np.int64)).digest()
        h.attrs[CHECKSUM_ATTR] = combined_digest(digests)
        h.flush()  # everything written while the file is still open: a failure here can still be discarded
        del made
        h.close()

    def _columns_bytes(self) -> int:
        """A generous estimate of what the per-video columns take on disk: a string is its bytes plus a heap
        header and a reference (16 bytes each, rounded to 8), an integer 8 bytes; then a quarter and 64 KiB
        for the HDF5 structures around them."""
        strings = sum(len(v.encode()) + 40 for name in VIDEO_STR for v in self._video[name])
        numbers = 8 * len(self._offsets) * (1 + len(VIDEO_INT))
        return (strings + numbers) * 5 // 4 + (64 << 10)

    def _ensure_space(self, needed: int) -> None:
        """Raise ENOSPC *before* HDF5 starts on what cannot fit: its metadata waits in memory until the file
        is flushed, and a flush that fails leaves more behind than emptying the file can make room for."""
        free = shutil.disk_usage(self.path.parent).free
        if free < needed:
            raise OSError(
                errno.ENOSPC, f"{os.strerror(errno.ENOSPC)}: {needed >> 10} KiB needed, {free >> 10} KiB free"
            )

    def abort(self) -> None:
        """Discard the file: emptied first (a full disk gets its space back, so closing cannot fail for want
        of it), then closed. The caller removes it (``atomic_path`` does).

        Emptied even when h5py already let go of it: a close that failed half-way leaves the file open inside
        HDF5, which writes it once more when the interpreter exits — into the space given back here.
        """
        if self._done:
            return
        self._done = True
        with contextlib.suppress(OSError):
            os.truncate(self.path, 0)
        if self._h5.id.valid:
            with contextlib.suppress(Exception):
                self._h5.close()

    def __enter__(self) -> StoreWriter:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
