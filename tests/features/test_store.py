"""The HDF5 feature store (framecache.features.store, .provenance): ragged round trips, per-video access, stale-store
refusal, and a store that never needs torch or the decoder."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from framecache.errors import FramecacheError
from framecache.features.store import (
    EXTRACTOR_VERSION,
    SCHEMA_VERSION,
    FeatureStore,
    StaleStoreError,
    StoreWriter,
    VideoFeatures,
    configured_provenance,
)

K = 5


def provenance(**over):
    base = {
        "schema_version": SCHEMA_VERSION,
        "extractor_version": EXTRACTOR_VERSION,
        "backbone": "efficientnet_lite0",
        "weights_sha256": "ab" * 32,
        "k": K,
        "dtype": "float32",
        "preprocessing": {"resize": 256, "crop": 224, "interpolation": "bicubic", "mean": [0.5] * 3, "std": [0.5] * 3},
        "sampling": {"policy": "uniform", "num_frames": 16, "short_videos": "keep"},
    }
    base.update(over)
    return base


def video(i: int, t: int, rng: np.random.Generator, k: int = K) -> VideoFeatures:
    return VideoFeatures(
        video_id=f"class {i % 3}/clip é{i}.mp4",
        features=rng.standard_normal((t, k)).astype(np.float32),
        frame_index=np.arange(t) * 3,
        timestamp=np.arange(t) * 0.12,
        label=i % 3,
        split=("train", "val", "test")[i % 3],
        group=f"g{i // 2}",
        path=f"videos/{i}.mp4",
        sha256=f"{i:064x}",
        frames=3 * t,
        frames_usable=3 * t,
        policy="full" if t > 1 else "keep",
    )


def write(path, videos, prov=None, classes=("a", "b", "c"), **kw):
    with StoreWriter(path, prov or provenance(), classes, **kw) as writer:
        for v in videos:
            writer.append(v)
    return path


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    lengths=st.lists(st.integers(1, 40), min_size=0, max_size=12),
    dtype=st.sampled_from(["float16", "float32"]),
    compression=st.sampled_from(["none", "lzf", "gzip"]),
    chunk_rows=st.sampled_from([1, 7, 256]),
)
def test_round_trip_with_ragged_lengths(tmp_path_factory, lengths, dtype, compression, chunk_rows):
    rng = np.random.default_rng(len(lengths))
    videos = [video(i, t, rng) for i, t in enumerate(lengths)]
    path = tmp_path_factory.mktemp("store") / "s.h5"
    write(path, videos, provenance(dtype=dtype), compression=compression, chunk_rows=chunk_rows)
    with FeatureStore.open(path, expect=provenance(dtype=dtype)) as store:
        assert len(store) == len(videos)
        assert store.classes == ["a", "b", "c"]
        seqs = store.load()
        assert seqs.ids == [v.video_id for v in videos]
        assert seqs.y.dtype == np.int64 and seqs.y.tolist() == [v.label for v in videos]
        assert seqs.split.tolist() == [v.split for v in videos]
        for v, x in zip(videos, seqs.X, strict=True):
            assert x.dtype == np.float32 and x.shape == v.features.shape
            assert np.array_equal(x, v.features.astype(dtype).astype(np.float32))
        assert store.verify(block_rows=5) is True  # the checksum of what was written, read back in blocks
        for i, v in enumerate(videos):
            assert np.array_equal(store.sequence(i), seqs.X[i])
            assert np.array_equal(store.sequence(v.video_id), seqs.X[i])
            info = store.frame_info(v.video_id)
            assert np.array_equal(info["frame_index"], v.frame_index)
            assert np.allclose(info["timestamp"], v.timestamp)
            rec = store.record(i)
            assert (rec.sha256, rec.policy, rec.frames, rec.group) == (v.sha256, v.policy, v.frames, v.group)


@pytest.mark.parametrize(("dataset", "row", "value"), [("features", (1, 2), 9.0), ("frame_index", 0, 7),
                                                      ("label", 2, 0), ("sha256", 1, "f" * 64)])  # fmt: skip
def test_a_changed_byte_fails_the_checksum(tmp_path, dataset, row, value):
    path = write(tmp_path / "s.h5", [video(i, 2, np.random.default_rng(i)) for i in range(3)])
    with h5py.File(path, "r+") as h:
        h[dataset][row] = value
    with FeatureStore.open(path) as store:
        assert store.verify() is False
        del store.attrs["data_sha256"]  # a store from before checksums: nothing to check against
        assert store.verify() is None


def test_load_one_split_and_metadata(tmp_path):
    rng = np.random.default_rng(0)
    videos = [video(i, 1 + i, rng) for i in range(6)]
    path = write(tmp_path / "s.h5", videos)
    with FeatureStore.open(path) as store:
        val = store.load("val")
        assert val.ids == [videos[1].video_id, videos[4].video_id]
        assert np.array_equal(val.X[1], videos[4].features)
        both = store.load(["train", "test"])
        assert len(both) == 4
        table = store.videos()
        assert table["num_samples"].tolist() == [1, 2, 3, 4, 5, 6]
        assert table["policy"].tolist()[0] == "keep"
        assert store.provenance == {**provenance(), "decoder": "cpu"}  # recorded since NVDEC; absent: the CPU
        with pytest.raises(KeyError, match="not in feature store"):
            store.sequence("nope.mp4")


def test_stale_store_is_refused_naming_the_differences(tmp_path):
    path = write(tmp_path / "s.h5", [video(0, 3, np.random.default_rng(0))])
    want = provenance(sampling={"policy": "uniform", "num_frames": 8, "short_videos": "keep"}, backbone="resnet18")
    with pytest.raises(StaleStoreError) as err:
        FeatureStore.open(path, expect=want)
    message = str(err.value)
    assert "sampling.num_frames: store has 16, params want 8" in message
    assert "backbone: store has 'efficientnet_lite0', params want 'resnet18'" in message
    assert "dvc repro extract" in message
    assert isinstance(err.value, FramecacheError)
    # an older schema is stale too
    with pytest.raises(StaleStoreError, match="schema_version"):
        FeatureStore.open(path, expect=provenance(schema_version=SCHEMA_VERSION + 1))
    with FeatureStore.open(path, expect=provenance()) as store:  # the matching one opens
        assert len(store) == 1


def test_params_only_check_compares_what_params_decide(tmp_path):
    path = write(tmp_path / "s.h5", [video(0, 3, np.random.default_rng(0))])
    extract = {"backbone": "efficientnet_lite0", "dtype": "float32", "sampling": "uniform", "num_frames": 16,
               "fps": 2.0, "max_frames": 64, "short_videos": "keep", "image_size": None}  # fmt: skip
    with FeatureStore.open(path, expect=configured_provenance(extract)) as store:  # weights, k not needed
        assert len(store) == 1
    with FeatureStore.open(path, expect=configured_provenance({**extract, "image_size": 224, "fps": 9.0})):
        pass  # fps does not matter to uniform sampling; the recorded crop is 224
    for change, field in [({"image_size": 160}, "preprocessing.crop"), ({"short_videos": "repeat"}, "sampling"),
                          ({"dtype": "float16"}, "dtype")]:  # fmt: skip
        with pytest.raises(StaleStoreError, match=field):
            FeatureStore.open(path, expect=configured_provenance({**extract, **change}))
    # a store written by older extraction code is stale even when every setting matches
    older = write(tmp_path / "older.h5", [video(0, 3, np.random.default_rng(0))],
                  prov=provenance(extractor_version=EXTRACTOR_VERSION - 1))  # fmt: skip
    with pytest.raises(StaleStoreError, match="extractor_version"):
        FeatureStore.open(older, expect=configured_provenance(extract))


def test_not_a_store(tmp_path):
    with pytest.raises(FramecacheError, match="not found"):
        FeatureStore.open(tmp_path / "missing.h5")
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"\x00" * 100)
    with pytest.raises(FramecacheError, match="not a readable HDF5"):
        FeatureStore.open(junk)
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as h:
        h["x"] = [1, 2]
    with pytest.raises(FramecacheError, match="not a framecache feature store"):
        FeatureStore.open(other)


def test_empty_store(tmp_path):
    path = write(tmp_path / "s.h5", [])
    with FeatureStore.open(path) as store:
        assert len(store) == 0
        seqs = store.load()
        assert seqs.ids == [] and seqs.X == [] and len(seqs.y) == 0


def test_writer_rejects_bad_rows(tmp_path):
    with StoreWriter(tmp_path / "s.h5", provenance(), ["a"]) as writer:
        bad = video(0, 3, np.random.default_rng(0), k=K + 1)
        with pytest.raises(ValueError, match="expected"):
            writer.append(bad)
        empty = video(0, 1, np.random.default_rng(0))
        empty.features = np.zeros((0, K), np.float32)
        with pytest.raises(ValueError):
            writer.append(empty)


def test_chunking_and_compression_are_recorded(tmp_path):
    path = write(tmp_path / "s.h5", [video(0, 9, np.random.default_rng(0))], compression="gzip", chunk_rows=4)
    with h5py.File(path) as h:
        assert h["features"].chunks == (4, K) and h["features"].compression == "gzip"
        assert h.attrs["compression"] == "gzip"


def test_the_store_needs_neither_torch_nor_the_decoder():
    """Train and report open stores; they must not pay for torch, and the format must not depend on PyAV."""
    import subprocess
    import sys

    code = (
        "import sys; import framecache.features.store, framecache.features.provenance; "
        "print(sorted(m for m in ('torch', 'av', 'framecache.video.decode') if m in sys.modules))"
    )
    repo = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
