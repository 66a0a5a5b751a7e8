"""A video replaced in place after prepare (its size or modification time differ from the manifest's) is hashed
again before reuse and computed again; an untouched one is reused on the manifest's hash alone."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pandas as pd
import pytest

from framecache.data.discovery import Candidate
from framecache.data.manifest import Indexed, manifest_rows
from framecache.features.store import FeatureStore
from framecache.layout import MANIFEST_COLUMNS
from tests.features.test_extraction import extract_clips, run_stage  # noqa: F401 - a fixture

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def with_stat(manifest):
    """The manifest with the size and mtime_ns prepare records."""
    df = pd.read_csv(manifest, dtype=str, keep_default_na=False)
    df["size"] = [str(os.stat(p).st_size) for p in df["path"]]
    df["mtime_ns"] = [str(os.stat(p).st_mtime_ns) for p in df["path"]]
    df.to_csv(manifest, index=False)
    return manifest


def test_prepare_records_size_and_mtime(tmp_path):
    video = tmp_path / "v.mp4"
    video.write_bytes(b"12345")
    stat = os.stat(video)
    info = type("Info", (), {"frames": 1, "fps": 1.0, "duration": 1.0, "width": 2, "height": 2, "codec": "h264"})
    (row,) = manifest_rows([Indexed(Candidate("v.mp4", video, "a"), info, "sha", stat)], ["g"], ["train"], ["a"])
    assert list(row) == list(MANIFEST_COLUMNS)
    assert (row["size"], row["mtime_ns"]) == (5, stat.st_mtime_ns)


def test_a_video_replaced_after_prepare_is_rehashed_and_recomputed(tmp_path, extract_manifest, extract_clips):  # noqa: F811
    folder = tmp_path / "videos"
    folder.mkdir()
    videos = [shutil.copy(p, folder / p.name) for p in extract_clips[:3]]
    manifest, classes = extract_manifest(tmp_path / "prepared", videos)
    with_stat(manifest)
    first = run_stage(tmp_path, manifest, classes)
    assert (first["videos_computed"], first["videos_rehashed"]) == (3, 0)

    # video 1 replaced by another clip's bytes; the manifest (its sha256, size, mtime) is not re-made
    shutil.copy(extract_clips[5], videos[1])
    second = run_stage(tmp_path, manifest, classes)
    assert (second["videos_rehashed"], second["videos_computed"], second["videos_reused"]) == (1, 1, 2)
    fresh = run_stage(tmp_path / "fresh", *extract_manifest(tmp_path / "fresh_prepared", [extract_clips[5]]))
    assert fresh["videos_computed"] == 1
    with (
        FeatureStore.open(tmp_path / "features" / "s.h5") as store,
        FeatureStore.open(tmp_path / "fresh" / "features" / "s.h5") as other,
    ):
        assert np.array_equal(store.record(1).features, other.record(0).features)  # the new content's features
        assert store.column("sha256")[1] == other.column("sha256")[0]

    # only the modification time changes (touched, same bytes): hashed again, then reused
    os.utime(videos[0], ns=(0, 10**18))
    third = run_stage(tmp_path, manifest, classes)
    assert (third["videos_rehashed"], third["videos_computed"], third["videos_reused"]) == (2, 0, 3)
