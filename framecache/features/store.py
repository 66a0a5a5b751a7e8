"""The HDF5 feature store: one file per backbone holding every video's (T_i, k) feature sequence, written
once by the extract stage and read by training and predict.

Layout (``SCHEMA_VERSION`` 1)::

    /features      (ΣT, k) float16|float32, chunked ``(chunk_rows, k)``, compressed per params
    /offsets       (N+1,) int64    video i owns rows offsets[i]:offsets[i+1]
    /frame_index   (ΣT,) int64     decode-order index of each stored frame in its video
    /timestamp     (ΣT,) float64   presentation time (s from the video's first frame); NaN if unknown
    /video_id /path /split /group /sha256 /policy /note   (N,) utf-8 strings
    /label /frames /frames_usable                          (N,) int64

``policy`` is the sampling outcome per video (``full``, ``keep``, ``repeat``, ``capped``); ``frames`` the
demuxed frame count and ``frames_usable`` the frames sampling could draw from (fewer when the stream ends
early, explained in ``note``).

Root attributes: ``format``, ``schema_version``, ``extractor_version``, ``backbone``, ``weights_sha256``, ``k``,
``dtype`` and JSON ``preprocessing``, ``sampling`` — together the *provenance*, which decides whether a store
is stale — plus JSON ``classes``, ``libraries`` (versions), ``compute`` (device, precision, batch size) and
``created``, which are recorded but do not make a store stale.

Chunks of 64 rows are the measured default (BENCHMARKS.md, extract → feature store): with LZF (the
params default) a random per-video read stays near 1.5 ms where 256-row chunks take 4.5 ms and 1024-row
chunks 20 ms, at the same file size; a whole-store load reads everything once either way.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from framecache.errors import FramecacheError
from framecache.video.sampling import Sampling

SCHEMA_VERSION = 1
# Bump when a change to decoding, sampling or preprocessing code changes the features a configuration
# yields: stores (and journal parts) built by older code then count as stale instead of being reused.
EXTRACTOR_VERSION = 1
FORMAT = "framecache-features"
PROVENANCE_KEYS = (
    "schema_version",
    "extractor_version",
    "backbone",
    "weights_sha256",
    "k",
    "dtype",
    "preprocessing",
    "sampling",
)
_JSON_ATTRS = ("preprocessing", "sampling", "classes", "libraries", "compute")
_VIDEO_STR = ("video_id", "path", "split", "group", "sha256", "policy", "note")
_VIDEO_INT = ("label", "frames", "frames_usable")
DEFAULT_CHUNK_ROWS = 64
_STR = h5py.string_dtype("utf-8")


class StaleStoreError(FramecacheError):
    """The store was built with a different extraction configuration than the current params ask for."""


@dataclass
class VideoFeatures:
    """One video's entry: its features and what they came from."""

    video_id: str
    features: np.ndarray  # (T, k)
    frame_index: np.ndarray  # (T,)
    timestamp: np.ndarray  # (T,)
    label: int = -1
    split: str = ""
    group: str = ""
    path: str = ""
    sha256: str = ""
    frames: int = 0
    frames_usable: int = 0
    policy: str = "full"
    note: str = ""


@dataclass
class Sequences:
    """Everything stage 2 trains on: ``X[i]`` is video ``ids[i]``'s (T_i, k) float32 sequence."""

    ids: list[str]
    X: list[np.ndarray]
    y: np.ndarray  # int64
    split: np.ndarray  # str
    group: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=object))

    def __len__(self) -> int:
        return len(self.ids)


def configured_provenance(extract: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a store's provenance that the ``extract`` params decide on their own.

    Checking a store against this needs neither the model nor its weights file, so the cheap stages
    (train, report) can refuse a stale store without loading torch models; the extract stage checks the
    full provenance (``framecache.features.extraction.expected_provenance``), weights checksum included.
    """
    expect: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "extractor_version": EXTRACTOR_VERSION,
        "backbone": extract["backbone"],
        "dtype": extract["dtype"],
        "sampling": Sampling.from_params(extract).as_dict(),
    }
    if extract.get("image_size"):
        expect["preprocessing"] = {"crop": int(extract["image_size"])}
    return expect


def provenance_diff(actual: Mapping[str, Any], expect: Mapping[str, Any]) -> list[str]:
    """Human-readable differences, one per (nested) field of ``expect`` that ``actual`` lacks or differs in.

    Fields ``expect`` does not name are not compared, so a partial ``expect`` checks just those fields.
    """
    out: list[str] = []

    def walk(a: Any, e: Any, key: str) -> None:
        if isinstance(e, Mapping) and isinstance(a, Mapping):
            for k in sorted(e):
                walk(a.get(k, "<absent>"), e.get(k, "<absent>"), f"{key}.{k}" if key else str(k))
        elif _norm(a) != _norm(e):
            out.append(f"{key}: store has {a!r}, params want {e!r}")

    for k in expect:
        walk(actual.get(k, "<absent>"), expect[k], k)
    return out


def _norm(v: Any) -> Any:
    # JSON round trips turn tuples into lists and ints into floats where they were floats; compare by value
    if isinstance(v, list | tuple):
        return [_norm(x) for x in v]
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, np.generic):
        return _norm(v.item())
    return v


class FeatureStore:
    """Read access to a feature store. Use as ``with FeatureStore.open(path, expect=...) as store:``."""

    def __init__(self, path: Path, handle: h5py.File):
        self.path = path
        self._h5 = handle
        attrs = handle.attrs
        self.attrs: dict[str, Any] = {}
        for key, value in attrs.items():
            value = value.decode() if isinstance(value, bytes) else value
            if key in _JSON_ATTRS and isinstance(value, str):
                value = json.loads(value)
            elif isinstance(value, np.generic):
                value = value.item()
            self.attrs[key] = value
        self.classes: list[str] = list(self.attrs.get("classes", []))
        self.provenance: dict[str, Any] = {k: self.attrs[k] for k in PROVENANCE_KEYS if k in self.attrs}
        self._offsets = handle["offsets"][()].astype(np.int64)
        self._ids: list[str] = list(handle["video_id"].asstr()[()])
        self._pos = {vid: i for i, vid in enumerate(self._ids)}

    # -------------------------------------------------------------------------------------------- opening
    @classmethod
    def open(
        cls, path: str | Path, expect: Mapping[str, Any] | None = None, *, cache_bytes: int = 64 << 20
    ) -> FeatureStore:
        """Open a store read-only; with ``expect`` (see ``framecache.features.extraction.expected_provenance``) refuse
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
        ds = self._h5[name]
        return np.asarray(ds.asstr()[()], dtype=object) if name in _VIDEO_STR else ds[()].astype(np.int64)

    def videos(self) -> Any:
        """Per-video metadata as a pandas DataFrame (one row per video, in store order)."""
        import pandas as pd

        data = {name: self.column(name) for name in (*_VIDEO_STR, *_VIDEO_INT)}
        data["num_samples"] = np.diff(self._offsets)
        return pd.DataFrame(data)

    def load(self, split: str | Sequence[str] | None = None) -> Sequences:
        """All videos (or those of ``split``) at once: the features are read in one pass."""
        labels = self.column("label")
        splits = self.column("split")
        groups = self.column("group")
        if split is None:
            keep = np.arange(len(self))
        else:
            wanted = {split} if isinstance(split, str) else set(split)
            keep = np.flatnonzero(np.isin(splits, list(wanted)))
        features = self._h5["features"][()].astype(np.float32) if len(keep) else np.zeros((0, self.k), np.float32)
        X = [features[self._offsets[i] : self._offsets[i + 1]] for i in keep]
        return Sequences(
            ids=[self._ids[i] for i in keep],
            X=X,
            y=labels[keep].astype(np.int64),
            split=splits[keep].astype(str),
            group=groups[keep].astype(str),
        )

    def record(self, i_or_id: int | str) -> VideoFeatures:
        """One video's full entry, features in the stored dtype (used to copy it into a new store)."""
        i = self.index(i_or_id)
        lo, hi = self._offsets[i], self._offsets[i + 1]
        h = self._h5
        return VideoFeatures(
            video_id=self._ids[i],
            features=h["features"][lo:hi],
            frame_index=h["frame_index"][lo:hi],
            timestamp=h["timestamp"][lo:hi],
            **{name: h[name].asstr()[i] for name in _VIDEO_STR if name != "video_id"},
            **{name: int(h[name][i]) for name in _VIDEO_INT},
        )

    def __iter__(self) -> Iterator[str]:
        return iter(self.ids)


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
            attrs[key] = json.dumps(value, sort_keys=True) if key in _JSON_ATTRS else value
        attrs["compression"] = compression
        attrs["chunk_rows"] = chunk_rows
        self._chunk_rows = chunk_rows
        self._buf: list[VideoFeatures] = []
        self._buf_rows = 0
        self._rows = 0
        self._offsets = [0]
        self._video: dict[str, list[Any]] = {name: [] for name in (*_VIDEO_STR, *_VIDEO_INT)}

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
        for name in _VIDEO_STR:
            self._video[name].append(str(getattr(video, name)))
        for name in _VIDEO_INT:
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
        for name in _VIDEO_STR:
            h.create_dataset(name, data=np.asarray(self._video[name], dtype=object), dtype=_STR)
        for name in _VIDEO_INT:
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
