"""The decoder choice through stage 1 (extract.decoder): NVDEC threads beside the CPU workers or alone feed the
same batches, a video NVDEC cannot decode is decoded on the CPU with the reason in its note, and the decoding
is part of a store's provenance — a store extracted by another decoder is stale, one from before NVDEC reads as
decoded on the CPU.

Runs on CPU: PyNvVideoCodec is faked at its boundary (tests/fake_nvdec.py, FFmpeg's own frames), so NVDEC's
path must give exactly the CPU decoder's features.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from framecache.backbones.build import build_backbone
from framecache.features import embed
from framecache.features.batching import VideoJob
from framecache.features.provenance import configured_provenance, provenance_diff
from framecache.features.store import FeatureStore, StaleStoreError
from framecache.video.sampling import Sampling
from tests import fake_nvdec
from tests.features.test_extraction import extract_clips  # noqa: F401 (a fixture)
from tests.features.test_store import provenance, video, write

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def features(paths, decoding, workers=1):
    bb = build_backbone("efficientnet_lite0", image_size=32)
    jobs = [VideoJob(pos=i, path=str(p)) for i, p in enumerate(paths)]
    out = {}
    for job, sample, feats, error in embed.extract_samples(
        jobs, lambda: bb, bb.preprocessing, Sampling(num_frames=4), batch_size=4, amp=None, num_workers=workers,
        decoding=decoding, device=torch.device("cpu"),
    ):  # fmt: skip
        assert error is None
        out[job.path] = (feats, sample.note)
    return out


def test_nvdec_beside_or_instead_of_the_cpu_gives_the_cpus_features(monkeypatch, extract_clips):  # noqa: F811
    paths = [str(p) for p in extract_clips[:6]]
    cpu = features(paths, "cpu")
    fake_nvdec.install(monkeypatch, fail=paths[1])  # NVDEC refuses one video (an "unsupported profile")
    for decoding in ("nvdec+cpu", "nvdec"):
        got = features(paths, decoding)
        assert got.keys() == cpu.keys()
        for p in paths:
            assert np.array_equal(got[p][0], cpu[p][0]), (decoding, p)
        assert all(note == "" for p, (_, note) in got.items() if p != paths[1])
    # alone, NVDEC takes every video, so the refused one is decoded on the CPU and says why
    note = features(paths, "nvdec")[paths[1]][1]
    assert note.startswith("decoded on the CPU: NVDEC failed: FakeNvdecError") and "unsupported profile" in note


def test_a_store_extracted_by_another_decoder_is_stale(tmp_path):
    nvdec_store = write(tmp_path / "nvdec.h5", [video(0, 3, np.random.default_rng(0))], provenance(decoder="nvdec+cpu"))
    with pytest.raises(StaleStoreError, match="decoder: store has 'nvdec\\+cpu', params want 'cpu'"):
        FeatureStore.open(nvdec_store, expect=provenance(decoder="cpu"))
    # a store from before NVDEC (no decoder recorded) was decoded on the CPU
    old = write(tmp_path / "old.h5", [video(0, 3, np.random.default_rng(0))])
    with FeatureStore.open(old, expect=provenance(decoder="cpu")) as store:
        assert store.provenance["decoder"] == "cpu"
    # params that name a decoder check it cheaply (train, report); `auto` depends on the host: extract checks
    extract = {"backbone": "efficientnet_lite0", "dtype": "float32", "sampling": "uniform", "num_frames": 16,
               "fps": 2.0, "max_frames": 64, "short_videos": "keep"}  # fmt: skip
    assert provenance_diff({"decoder": "nvdec"}, configured_provenance({**extract, "decoder": "cpu"}))
    assert "decoder" not in configured_provenance({**extract, "decoder": "auto"})
