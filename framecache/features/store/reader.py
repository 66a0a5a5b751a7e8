"""Reading a feature store: :class:`FeatureStore` opens one read-only, refuses a stale one (its provenance
differs from what the params expect) and gives per-video or whole-store access."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from framecache.errors import FramecacheError
from framecache.features.provenance import PROVENANCE_DEFAULTS, PROVENANCE_KEYS, provenance_diff
from framecache.features.store.schema import (
    CHECKSUM_ATTR,
    FORMAT,
    JSON_ATTRS,
    OPTIONAL_STR,
    ROW_DATASETS,
    VIDEO_INT,
    VIDEO_STR,
    Sequences,
    VideoFeatures,
    column_bytes,
    combined_digest,
)

READ_BLOCK_ROWS = 4096  # rows per read in load(): 20 MiB of float32 at k = 1280


class StaleStoreError(FramecacheError):
    """The store was built with a different extraction configuration than the current params ask for."""


class FeatureStore:
    """Read access to a feature store. Use as ``with FeatureStore.open(path, expect=...) as store:``."""

    def __init__(self, path: Path, handle: h5py.File):
        self.path = path
        self._h5 = handle
        attrs = handle.attrs
        self.attrs: dict[str, Any] = {}
        for key, value in attrs.items():
            value = value.decode() if isinstance(value, bytes) else value
            if key in JSON_ATTRS and isinstance(value, str):
                value = json.loads(value)
            elif isinstance(value, np.generic):
                value = value.item()
            self.attrs[key] = value
        self.classes: list[str] = list(self.attrs.get("classes", []))
        self.provenance: dict[str, Any] = {k: self.attrs[k] for k in PROVENANCE_KEYS if k in self.attrs}
        self.provenance |= {k: self.attrs.get(k, default) for k, default in PROVENANCE_DEFAULTS.items()}
        self._offsets = handle["offsets"][()].astype(np.int64)
        self._ids: list[str] = list(handle["video_id"].asstr()[()])
        self._pos = {vid: i for i, vid in enumerate(self._ids)}
        self._record_cache: tuple[dict[str, Any], dict[str, Any]] | None = None

    # -------------------------------------------------------------------------------------------- opening
    @classmethod
    def open(
        cls, path: str | Path, expect: Mapping[str, Any] | None = None, *, cache_bytes: int = 64 << 20
    ) -> FeatureStore:
        """Open a store read-only; with ``expect`` (:func:`configured_provenance`, or the full
        :func:`framecache.features.inputs.expected_provenance`) refuse
        one built with a different configuration by raising :class:`StaleStoreError`."""
        path = Path(path)
        if not path.is_file():
            raise FramecacheError(f"feature store {path} not found: run `dvc repro extract` to build it")
        try:
            handle = h5py.File(path, "r", rdcc_nbytes=cache_bytes)
        except OSError as exc:
            raise FramecacheError(
                f"feature store {path} is not a readable HDF5 file ({exc}); delete it and re-run `dvc repro extract`"
            ) from None
        try:
            fmt = handle.attrs.get("format")
            fmt = fmt.decode() if isinstance(fmt, bytes) else fmt
            if fmt != FORMAT or "offsets" not in handle or "features" not in handle:
                raise FramecacheError(
                    f"{path} is not a framecache feature store (format attribute {fmt!r}); re-run "
                    "`dvc repro extract` to build one"
                )
            store = cls(path, handle)
        except BaseException:
            handle.close()
            raise
        if expect is not None:
            try:
                store.check(expect)
            except BaseException:
                store.close()
                raise
        return store

    def check(self, expect: Mapping[str, Any]) -> None:
        diffs = provenance_diff(self.provenance, expect)
        if diffs:
            raise StaleStoreError(
                f"feature store {self.path} is stale — it was extracted with a different configuration than "
                f"the current params: {'; '.join(diffs)}. Re-run `dvc repro extract` to rebuild it."
            )

    def verify(self, block_rows: int = READ_BLOCK_ROWS) -> bool | None:
        """Whether the data still hash to the checksum the writer recorded (None: the file records none).

        Reads every dataset once, ``block_rows`` rows at a time: memory stays bounded at any store size.
        """
        recorded = self.attrs.get(CHECKSUM_ATTR)
        if recorded is None:
            return None
        digests = {}
        for name in ROW_DATASETS:
            ds, hasher = self._h5[name], hashlib.sha256()
            for start in range(0, len(ds), block_rows):
                hasher.update(np.ascontiguousarray(ds[start : start + block_rows]).tobytes())
            digests[name] = hasher.digest()
        digests["offsets"] = hashlib.sha256(column_bytes(self._offsets, np.int64)).digest()
        for name in (*VIDEO_STR, *VIDEO_INT):
            digests[name] = hashlib.sha256(column_bytes(list(self.column(name)), np.int64)).digest()
        return combined_digest(digests) == recorded

    def close(self) -> None:
        if self._h5.id.valid:
            self._h5.close()

    def __enter__(self) -> FeatureStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -------------------------------------------------------------------------------------------- reading
    def __len__(self) -> int:
        return len(self._ids)

    @property
    def ids(self) -> list[str]:
        return list(self._ids)

    @property
    def k(self) -> int:
        return int(self._h5["features"].shape[1])

    def index(self, i_or_id: int | str) -> int:
        if isinstance(i_or_id, str):
            try:
                return self._pos[i_or_id]
            except KeyError:
                raise KeyError(f"video {i_or_id!r} is not in feature store {self.path}") from None
        i = int(i_or_id)
        if not -len(self) <= i < len(self):
            raise IndexError(f"video index {i} out of range for {len(self)} videos")
        return i % len(self)

    def sequence(self, i_or_id: int | str) -> np.ndarray:
        """One video's (T, k) float32 features."""
        i = self.index(i_or_id)
        lo, hi = self._offsets[i], self._offsets[i + 1]
        return self._h5["features"][lo:hi].astype(np.float32)

    def frame_info(self, i_or_id: int | str) -> dict[str, np.ndarray]:
        """One video's stored frames: ``frame_index`` (decode order) and ``timestamp`` (s)."""
        i = self.index(i_or_id)
        lo, hi = self._offsets[i], self._offsets[i + 1]
        return {
            "frame_index": self._h5["frame_index"][lo:hi].astype(np.int64),
            "timestamp": self._h5["timestamp"][lo:hi].astype(np.float64),
        }

    def column(self, name: str) -> np.ndarray:
        """A per-video column (``label``, ``split``, ``sha256``, ``policy``, ...) as a numpy array."""
        if name in OPTIONAL_STR and name not in self._h5:
            return np.full(len(self), "", dtype=object)
        ds = self._h5[name]
        return np.asarray(ds.asstr()[()], dtype=object) if name in VIDEO_STR else ds[()].astype(np.int64)

    def videos(self) -> Any:
        """Per-video metadata as a pandas DataFrame (one row per video, in store order)."""
        import pandas as pd

        data = {name: self.column(name) for name in (*VIDEO_STR, *VIDEO_INT)}
        data["num_samples"] = np.diff(self._offsets)
        return pd.DataFrame(data)

    def load(self, split: str | Sequence[str] | None = None) -> Sequences:
        """All videos (or those of ``split``) at once. Only the selected videos' rows are read, a block of
        whole chunks at a time, straight into one float32 array: peak memory is the float32 size of what is
        returned plus one block, never the whole store (nor a float16 copy of it)."""
        labels = self.column("label")
        splits = self.column("split")
        groups = self.column("group")
        if split is None:
            keep = np.arange(len(self))
        else:
            wanted = {split} if isinstance(split, str) else set(split)
            keep = np.flatnonzero(np.isin(splits, list(wanted)))
        rows = self._read_rows(keep)
        starts = np.concatenate([[0], np.cumsum(self._offsets[keep + 1] - self._offsets[keep])])
        X = [rows[starts[j] : starts[j + 1]] for j in range(len(keep))]
        return Sequences(
            ids=[self._ids[i] for i in keep],
            X=X,
            y=labels[keep].astype(np.int64),
            split=splits[keep].astype(str),
            group=groups[keep].astype(str),
        )

    def _read_rows(self, keep: np.ndarray, block_rows: int = READ_BLOCK_ROWS) -> np.ndarray:
        """The rows of videos ``keep`` (in that order) as one (ΣT, k) float32 array. Consecutive videos are
        merged into runs and each run is read ``block_rows`` rows at a time, converted into its place."""
        lo, hi = self._offsets[keep], self._offsets[keep + 1]
        out = np.empty((int((hi - lo).sum()), self.k), dtype=np.float32)
        features, at, j = self._h5["features"], 0, 0
        while j < len(keep):
            end = j + 1  # extend the run while the next video's rows follow on
            while end < len(keep) and lo[end] == hi[end - 1]:
                end += 1
            for start in range(int(lo[j]), int(hi[end - 1]), block_rows):
                stop = min(start + block_rows, int(hi[end - 1]))
                # read_direct converts float16 to float32 into the destination: no whole-run temporary
                features.read_direct(out, np.s_[start:stop], np.s_[at : at + stop - start])
                at += stop - start
            j = end
        return out

    def record(self, i_or_id: int | str) -> VideoFeatures:
        """One video's full entry, features in the stored dtype (used to copy it into a new store)."""
        i = self.index(i_or_id)
        lo, hi = self._offsets[i], self._offsets[i + 1]
        rows, columns = self._record_sources()
        return VideoFeatures(
            video_id=self._ids[i],
            features=rows["features"][lo:hi],
            frame_index=rows["frame_index"][lo:hi],
            timestamp=rows["timestamp"][lo:hi],
            **{name: str(column[i]) for name, column in columns.items() if name in VIDEO_STR},
            **{name: int(column[i]) for name, column in columns.items() if name in VIDEO_INT},
        )

    def _record_sources(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """The per-frame datasets and the per-video columns :meth:`record` reads, looked up (and the columns
        read) once: copying a store reads every video, and each lookup costs more than the read itself."""
        if self._record_cache is None:
            h = self._h5
            rows = {name: h[name] for name in ("features", "frame_index", "timestamp")}
            columns = {name: h[name].asstr()[()] for name in VIDEO_STR if name != "video_id" and name in h}
            columns |= {name: h[name][()] for name in VIDEO_INT}
            self._record_cache = (rows, columns)
        return self._record_cache

    def __iter__(self) -> Iterator[str]:
        return iter(self.ids)
