"""FeatureStore.load reads per split and within a memory bound: only the selected videos' rows, converted from
float16 a block at a time into one float32 array, in the order and with the values a per-video read gives."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from framecache.features.store import FeatureStore, StoreWriter, VideoFeatures
from tests.features.test_store import provenance

K = 256


def _video(i: int, t: int, rng: np.random.Generator, split: str) -> VideoFeatures:
    return VideoFeatures(
        video_id=f"c{i % 4}/v{i:04d}.avi",
        features=rng.standard_normal((t, K)).astype(np.float16),
        frame_index=np.arange(t),
        timestamp=np.arange(t) * 0.5,
        label=i % 4,
        split=split,
        group=f"g{i // 3}",
        sha256=f"{i:064x}",
        frames=t,
        frames_usable=t,
    )


@pytest.fixture(scope="module")
def store_path(tmp_path_factory):
    """600 float16 videos of 10-22 frames, the splits interleaved as a real store's are (70/10/20)."""
    rng = np.random.default_rng(3)
    splits = rng.choice(["train", "val", "test"], 600, p=[0.7, 0.1, 0.2])
    path = tmp_path_factory.mktemp("reader") / "s.h5"
    with StoreWriter(path, provenance(k=K, dtype="float16"), ["a", "b", "c", "d"], chunk_rows=64) as writer:
        for i, split in enumerate(splits):
            writer.append(_video(i, int(rng.integers(10, 23)), rng, str(split)))
    return path


@pytest.mark.parametrize("split", [None, "train", "test", ("val", "test")])
def test_a_split_loads_exactly_its_videos_with_the_per_video_values(store_path, split, monkeypatch):
    monkeypatch.setattr("framecache.features.store.reader.READ_BLOCK_ROWS", 50)  # runs cross blocks
    with FeatureStore.open(store_path) as store:
        splits = store.column("split")
        seqs = store.load(split)
        wanted = [i for i, s in enumerate(splits) if split is None or s in ((split,) if isinstance(split, str)
                                                                             else split)]  # fmt: skip
        assert seqs.ids == [store.ids[i] for i in wanted]
        assert seqs.y.tolist() == [int(store.column("label")[i]) for i in wanted]
        assert len(seqs.X) == len(wanted) > 0
        for i, x in zip(wanted, seqs.X, strict=True):
            assert x.dtype == np.float32
            assert np.array_equal(x, store.sequence(i))


def test_small_block_reads_give_the_same_rows(store_path):
    with FeatureStore.open(store_path) as store:
        keep = np.flatnonzero(store.column("split") == "train")
        whole = store._read_rows(keep, block_rows=10**6)
        assert np.array_equal(store._read_rows(keep, block_rows=7), whole)
        assert whole.shape == (int(store.videos()["num_samples"].iloc[keep].sum()), K)


def test_empty_selection(store_path):
    with FeatureStore.open(store_path) as store:
        seqs = store.load("nonexistent")
        assert seqs.ids == [] and seqs.X == [] and seqs.y.shape == (0,)


def _peak_bytes(store: FeatureStore, split: str | None) -> tuple[int, int]:
    tracemalloc.start()
    try:
        seqs = store.load(split)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak, sum(x.nbytes for x in seqs.X)


def test_peak_memory_is_what_the_split_needs_not_the_whole_store(store_path):
    """A test split's load allocates its own float32 rows plus small change: not the store in float16 plus a
    float32 copy of it (what reading ``features[()]`` and converting did)."""
    with FeatureStore.open(store_path, cache_bytes=1 << 20) as store:
        whole_f32 = store._h5["features"].shape[0] * K * 4
        peak, size = _peak_bytes(store, "test")
        assert size < 0.35 * whole_f32  # the test split is a fifth of the store
        assert peak < size + 2 * 4096 * K * 4 + (1 << 20), (peak, size, whole_f32)
        peak_all, size_all = _peak_bytes(store, None)
        assert size_all == whole_f32
        assert peak_all < 1.1 * whole_f32 + (1 << 20), (peak_all, whole_f32)  # not 1.5x (float16 + float32)
