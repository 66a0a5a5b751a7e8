"""Stage 1's CUDA paths, where a GPU is present: AMP (autocast features within the documented gap of fp32, and the
store recording the precision per video), the pinned staging buffers and the batch kept in flight (asynchronous
work delivered in order and equal to a synchronous forward pass). Each skips on a machine without a GPU, saying so;
the order in which batches are launched and collected is device-independent and is checked on every machine."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from framecache.backbones.build import build_backbone
from framecache.features import embed, precision
from framecache.features.batching import BatchRunner, batched_features
from framecache.features.store import FeatureStore

pytestmark = pytest.mark.usefixtures("one_torch_thread")
cuda = pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA GPU (torch.cuda.is_available() is False on this machine)"
)


def items(counts: list[int], size: int = 32, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    return [
        {"pos": i, "error": None, "frames": torch.from_numpy(rng.integers(0, 255, (n, size, size, 3), dtype=np.uint8))}
        for i, n in enumerate(counts)
    ]


def traced(monkeypatch, backbone, batch_size: int, amp=None) -> tuple[BatchRunner, list[tuple[str, int]]]:
    """A runner whose launches and collections are logged in order, numbered by batch."""
    log: list[tuple[str, int]] = []
    real_launch, real_collect = BatchRunner.launch, BatchRunner.collect
    handles: dict[int, int] = {}

    def launch(self, frames):
        handle = real_launch(self, frames)
        handles[id(handle)] = len(handles)
        log.append(("launch", handles[id(handle)]))
        return handle

    def collect(self, handle, n):
        log.append(("collect", handles[id(handle)]))
        return real_collect(self, handle, n)

    monkeypatch.setattr(BatchRunner, "launch", launch)
    monkeypatch.setattr(BatchRunner, "collect", collect)
    return BatchRunner(backbone, batch_size, amp), log


def test_one_batch_stays_in_flight_while_the_next_is_cut(monkeypatch):
    """Batch i+1 is launched before batch i is collected, and results come back in launch order."""
    backbone = build_backbone("efficientnet_lite0", image_size=32)
    runner, log = traced(monkeypatch, backbone, 3)
    out = list(batched_features(items([4, 3, 2]), runner))
    assert [item["pos"] for item, _ in out] == [0, 1, 2]
    assert log == [("launch", 0), ("launch", 1), ("collect", 0), ("launch", 2), ("collect", 1), ("collect", 2)]


@cuda
def test_pinned_staging_and_the_batch_in_flight_give_the_synchronous_features(monkeypatch):
    backbone = build_backbone("efficientnet_lite0", device=torch.device("cuda"), image_size=32)
    pinned = []
    real_pin = torch.Tensor.pin_memory

    def pin_memory(self, *args, **kwargs):
        pinned.append(tuple(self.shape))
        return real_pin(self, *args, **kwargs)

    monkeypatch.setattr(torch.Tensor, "pin_memory", pin_memory)
    runner, log = traced(monkeypatch, backbone, 4)
    batch = items([5, 6, 4])
    got = {item["pos"]: feats for item, feats in batched_features(batch, runner)}
    assert pinned and all(shape[0] == 4 for shape in pinned)  # frames reach the GPU through pinned buffers
    assert log.index(("launch", 1)) < log.index(("collect", 0))  # asynchronous: one batch in flight
    with torch.inference_mode():
        for item in batch:
            want = backbone.model(backbone.normalize(item["frames"].cuda())).float().cpu().numpy()
            np.testing.assert_allclose(got[item["pos"]], want, rtol=1e-2, atol=1e-3)  # other batch company, TF32


@cuda
def test_amp_features_lie_within_the_documented_gap_and_the_store_records_them(
    tmp_path, extract_clip, extract_manifest
):
    from tests.features.test_reuse import run_stage

    rng = np.random.default_rng(1)
    clips = [extract_clip(tmp_path / "c" / f"c{i}.mp4", [rng.integers(0, 255, (48, 48, 3), np.uint8)] * 5)
             for i in range(3)]  # fmt: skip
    manifest, classes = extract_manifest(tmp_path / "prepared", clips)
    gpu = run_stage(tmp_path / "gpu", manifest, classes, device="cuda", amp="auto", dtype="float32")
    run_stage(tmp_path / "cpu", manifest, classes, device="cpu", dtype="float32")
    amp = embed.resolve_amp("auto", torch.device("cuda"))
    assert gpu["device"] == "cuda" and gpu["precision"] == str(amp).removeprefix("torch.")
    with (
        FeatureStore.open(tmp_path / "gpu" / "features" / "s.h5") as a,
        FeatureStore.open(tmp_path / "cpu" / "features" / "s.h5") as b,
    ):
        assert set(a.column("compute")) == {precision.compute_label(torch.device("cuda"), amp)}
        for x, y in zip(a.load().X, b.load().X, strict=True):
            rel = np.linalg.norm(x - y, axis=1) / np.linalg.norm(y, axis=1)
            assert rel.max() <= precision.PRECISION_GAP[str(amp).removeprefix("torch.")], rel.max()
