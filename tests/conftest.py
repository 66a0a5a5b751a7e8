"""Fixtures shared across the test suite: the real clips in ../shared, small generated videos, params files
and feature stores (builders in tests/builders.py)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_REAL = REPO.parent / "shared" / "data" / "real"

# Tests share 2 cores with each other's subprocesses; more torch threads only oversubscribe them.
os.environ.setdefault("OMP_NUM_THREADS", "2")


def _shared(name: str) -> Path:
    path = SHARED_REAL / name
    if not (path / "manifest.csv").is_file():
        pytest.skip(
            f"real clips not available: {path} is absent (it ships beside the repository as ../shared in the "
            "project's CI and developer machines, not in a user's clone)"
        )
    return path


@pytest.fixture
def weizmann64() -> Path:
    """72 real H.264 clips, 4 actions; mirrored twins share a group."""
    return _shared("weizmann64")


@pytest.fixture
def ud810() -> Path:
    """27 real MPEG-4 AVI clips, 3 actions x 3 persons (group = person)."""
    return _shared("ud810")


def write_video(path: Path, frames: int = 8, size: int = 32, fps: int = 25, codec: str = "libx264", seed: int = 0):
    """Encode a tiny clip of random-ish but deterministic frames; returns the frames written (RGB uint8)."""
    import av

    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, size=(size, size, 3), dtype=np.uint8)
    arrays = [np.roll(base, shift=i, axis=1) for i in range(frames)]
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = {".avi": "avi", ".mkv": "matroska"}.get(path.suffix.lower(), "mp4")
    with av.open(str(path), mode="w", format=fmt) as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width = stream.height = size
        stream.pix_fmt = "yuv420p"
        for array in arrays:
            for packet in stream.encode(av.VideoFrame.from_ndarray(array, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return arrays


@pytest.fixture
def make_video():
    """Factory fixture: ``make_video(path, frames=8, size=32, fps=25, codec='libx264', seed=0)``."""
    return write_video


# ---- extract stage helpers (clips with chosen frames, manifests as the prepare stage writes them) ----


def write_frames(
    path: Path,
    frames: list[np.ndarray],
    fps: int = 25,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    rotation: int | None = None,
    hflip: bool = False,
    pts: list[int] | None = None,
    time_base: str | None = None,
    options: dict[str, str] | None = None,
) -> Path:
    """Encode exactly these RGB frames; optional display rotation/mirroring and explicit timestamps (VFR)."""
    from fractions import Fraction

    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = {".avi": "avi", ".mkv": "matroska"}.get(path.suffix.lower(), "mp4")
    h, w = frames[0].shape[:2]
    with av.open(str(path), mode="w", format=fmt, options=options or {}) as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, pix_fmt
        if time_base is not None:
            stream.codec_context.time_base = Fraction(time_base)
        if rotation is not None or hflip:
            stream.set_display_rotation(rotation or 0, hflip=hflip)
        for i, array in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(array, format="rgb24")
            if pts is not None:
                frame.pts = pts[i]
                frame.time_base = Fraction(time_base)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_manifest(folder: Path, videos: list[Path], labels: list[str] | None = None, splits=None):
    """manifest.csv + classes.txt in ``folder`` with the prepare stage's columns; unprobeable files get
    zero counts (extract must cope with files that went bad after prepare)."""
    import pandas as pd

    from framecache.errors import VideoError
    from framecache.fileio import file_sha256
    from framecache.video.probe import probe

    labels = labels or ["a" if i % 2 == 0 else "b" for i in range(len(videos))]
    classes = sorted(set(labels))
    rows = []
    for i, path in enumerate(videos):
        try:
            info = probe(path).as_dict()
        except VideoError:
            info = {"frames": 0, "fps": 0.0, "duration": 0.0, "width": 0, "height": 0, "codec": ""}
        try:
            sha = file_sha256(path)
        except OSError:
            sha = ""
        rows.append(
            {
                "video_id": path.name,
                "path": str(path),
                "label": labels[i],
                "label_index": classes.index(labels[i]),
                "split": (splits[i] if splits else "train"),
                "group": f"g{i}",
                **info,
                "sha256": sha,
            }
        )
    folder.mkdir(parents=True, exist_ok=True)
    columns = [
        "video_id",
        "path",
        "label",
        "label_index",
        "split",
        "group",
        "frames",
        "fps",
        "duration",
        "width",
        "height",
        "codec",
        "sha256",
    ]
    pd.DataFrame(rows, columns=columns).to_csv(folder / "manifest.csv", index=False)
    (folder / "classes.txt").write_text("".join(f"{c}\n" for c in classes), encoding="utf-8")
    return folder / "manifest.csv", folder / "classes.txt"


@pytest.fixture
def extract_clip():
    """Factory fixture: ``extract_clip(path, frames, fps=25, codec=..., rotation=..., pts=..., ...)``."""
    return write_frames


@pytest.fixture
def extract_manifest():
    """Factory fixture: ``extract_manifest(folder, video_paths, labels=None, splits=None)``."""
    return write_manifest


@pytest.fixture
def one_torch_thread():
    """One intra-op thread: on a shared 2-core machine two spinning OpenMP threads can be 100x slower."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture
def params_file(tmp_path):
    """Factory fixture: ``params_file(overrides=None, path=tmp_path, **sections)`` writes a params.yaml derived
    from the repository's, with sections merged in, and returns its path."""
    from tests.builders import write_params

    def make(overrides=None, path=None, **sections):
        return write_params(path or tmp_path, overrides, **sections)

    return make


@pytest.fixture
def feature_store():
    """Factory fixture: ``feature_store(path, provenance, classes, videos)``; see tests/builders.write_store."""
    from tests.builders import write_store

    return write_store


@pytest.fixture
def repo_params():
    """The repository's params.yaml, loaded and validated as a stage loads it."""
    from framecache.config.params import load_params

    return load_params(REPO / "params.yaml")


class FullDisk:
    """Counts the files written through :func:`framecache.fileio.atomic_path` (each is fsynced once before its
    rename) and makes the n-th of them fail with ENOSPC, as a full disk does when the data reaches it."""

    def __init__(self, monkeypatch):
        self.monkeypatch, self.real, self.calls, self.fail_at = monkeypatch, os.fsync, 0, None
        monkeypatch.setattr(os, "fsync", self._fsync)

    def _fsync(self, fd):
        self.calls += 1
        if self.fail_at is not None and self.calls == self.fail_at + 1:
            import errno

            raise OSError(errno.ENOSPC, "No space left on device")
        return self.real(fd)

    def at(self, n: int | None) -> None:
        """Fail the n-th write from now (0 = the next one); None: let every write through, counting."""
        self.calls, self.fail_at = 0, n

    def fail_each_write(self, write, out: Path, match: str) -> int:
        """Run ``write()`` once, counting its files; then once per file, with that file's write failing. Each time
        ``write`` must raise FramecacheError matching ``match``, leave ``out`` as it was byte for byte, and leave
        nothing beside ``out``. Returns the number of files one run writes."""
        from framecache.errors import FramecacheError

        self.at(None)
        write()
        sites, before = self.calls, tree_bytes(out)
        for n in range(sites):
            self.at(n)
            with pytest.raises(FramecacheError, match=match):
                write()
            assert tree_bytes(out) == before, f"write {n} of {sites} failing changed the previous outputs"
            assert [p.name for p in out.parent.iterdir()] == [out.name], "a temporary folder was left behind"
        return sites


@pytest.fixture
def full_disk(monkeypatch):
    """``full_disk.at(n)`` makes the n-th atomic file write from then on fail with ENOSPC; ``full_disk.calls``
    counts the writes since the last ``at`` (``at(None)`` counts without failing)."""
    return FullDisk(monkeypatch)


def tree_bytes(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (relative POSIX path -> bytes); {} when it does not exist."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def hf_cache(tmp_path, monkeypatch):
    """An empty Hugging Face cache and torch hub folder under tmp_path; offline."""
    import huggingface_hub.constants

    cache = tmp_path / "hf" / "hub"
    cache.mkdir(parents=True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    return cache
