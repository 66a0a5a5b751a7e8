"""What a re-run of extract reuses, and what it keeps: a store whose videos and features did not change keeps
its bytes (so DVC re-runs nothing downstream), and a resume-journal part whose bytes changed on disk is refused
by its checksum and its videos computed again. The real stage at a tiny size, as in test_extraction."""

from __future__ import annotations

import logging
from pathlib import Path

import h5py
import numpy as np
import pytest

from framecache.config.params import validate
from framecache.errors import FramecacheError
from framecache.features import extraction
from framecache.features.store import FeatureStore, StoreWriter
from framecache.fileio import file_sha256
from tests.builders import default_params, merged
from tests.features.test_extraction import fail_the_final_store

pytestmark = pytest.mark.usefixtures("one_torch_thread")
SMALL = {"image_size": 32, "num_frames": 3, "num_workers": 0, "batch_size": 4, "device": "cpu"}


def run_stage(folder: Path, manifest: Path, classes: Path, **extract) -> dict:
    params = validate(merged(default_params(), {"extract": {**SMALL, **extract}})).extract
    out = folder / "features"
    return extraction.run_extract(
        params, manifest, classes, out / "s.h5", out / "failures.csv", out / "metrics.json", progress=False
    )


@pytest.fixture
def clips(tmp_path, extract_clip):
    rng = np.random.default_rng(5)
    return [
        extract_clip(tmp_path / "clips" / f"c{i}.mp4", [rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)] * (4 + i))
        for i in range(3)
    ]


def test_a_store_whose_features_did_not_change_keeps_its_bytes(tmp_path, clips, extract_manifest):
    manifest, classes = extract_manifest(tmp_path / "prepared", clips)
    store = tmp_path / "features" / "s.h5"
    run_stage(tmp_path, manifest, classes)
    before = file_sha256(store)
    again = run_stage(tmp_path, manifest, classes, batch_size=2, num_workers=1)
    assert (again["videos_computed"], again["videos_reused"]) == (0, 3)
    assert file_sha256(store) == before  # created, compute and every byte as they were
    assert again["frames"] == 3 * 3 and again["videos_stored"] == 3

    # what the store says about a video changed (its split): rewritten, the features copied
    manifest, classes = extract_manifest(tmp_path / "prepared", clips, splits=["train", "test", "train"])
    moved = run_stage(tmp_path, manifest, classes)
    assert moved["videos_computed"] == 0 and file_sha256(store) != before
    with FeatureStore.open(store) as fs:
        assert fs.column("split").tolist() == ["train", "test", "train"]


def test_a_journal_part_whose_bytes_changed_is_refused_and_recomputed(
    tmp_path, clips, extract_manifest, monkeypatch, caplog
):
    manifest, classes = extract_manifest(tmp_path / "prepared", clips)
    run_stage(tmp_path / "reference", manifest, classes)

    # a run that checkpoints every video and then dies writing the store: the parts stay for the next run
    real_close = fail_the_final_store(monkeypatch)
    with pytest.raises(FramecacheError, match="No space left on device"):
        run_stage(tmp_path, manifest, classes, checkpoint_seconds=0)
    monkeypatch.setattr(StoreWriter, "close", real_close)
    parts = sorted((tmp_path / "features" / ".s.h5.journal").glob("part-*.h5"))
    assert len(parts) == 3

    # overwrite feature bytes inside the second part's first chunk, the file's size intact
    with h5py.File(parts[1], "r") as h:
        chunk = h["features"].id.get_chunk_info(0)
        rows = h["features"].shape[0]
    size = parts[1].stat().st_size
    with open(parts[1], "r+b") as fh:
        fh.seek(chunk.byte_offset)
        fh.write(np.full(rows * 16, 7.0, dtype=np.float16).tobytes())
    assert parts[1].stat().st_size == size

    caplog.set_level(logging.WARNING, logger="framecache.extract")
    metrics = run_stage(tmp_path, manifest, classes, checkpoint_seconds=0)
    assert (metrics["videos_computed"], metrics["videos_reused"]) == (1, 2)
    assert f"not reusing resume journal part {parts[1]}" in caplog.text and "checksum" in caplog.text
    with (
        FeatureStore.open(tmp_path / "features" / "s.h5") as got,
        FeatureStore.open(tmp_path / "reference" / "features" / "s.h5") as want,
    ):
        assert got.ids == want.ids
        for i in range(len(want)):
            assert np.array_equal(got.record(i).features, want.record(i).features), got.ids[i]
