"""Stage 1's CUDA paths, where a GPU is present: AMP (autocast features within the documented gap of fp32, and the
store recording the precision per video), the pinned host batches and the batches kept in flight (asynchronous
work delivered in order and equal to a synchronous forward pass). Each skips on a machine without a GPU, saying so;
the order in which batches are launched and collected is device-independent and is checked on every machine."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from framecache.backbones.build import build_backbone
from framecache.features import embed, precision
from framecache.features.batching import CUDA_IN_FLIGHT, Batcher, BatchRunner, batched_features
from framecache.features.store import FeatureStore

pytestmark = pytest.mark.usefixtures("one_torch_thread")
cuda = pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA GPU (torch.cuda.is_available() is False on this machine)"
)


def videos(counts: list[int], size: int = 32, seed: int = 0) -> list[tuple[int, torch.Tensor]]:
    rng = np.random.default_rng(seed)
    return [
        (i, torch.from_numpy(rng.integers(0, 255, (n, size, size, 3), dtype=np.uint8))) for i, n in enumerate(counts)
    ]


def traced(monkeypatch, backbone, batch_size: int, amp=None) -> tuple[BatchRunner, list[tuple[str, int]]]:
    """A runner whose launches and collections are logged in order, numbered by batch."""
    log: list[tuple[str, int]] = []
    real_launch, real_collect = BatchRunner.launch, BatchRunner.collect
    handles: dict[int, int] = {}

    def launch(self, rows, shape):
        feats, done = real_launch(self, rows, shape)
        handles[id(feats)] = len(handles)
        log.append(("launch", handles[id(feats)]))
        return feats, done

    def collect(self, feats, done):
        log.append(("collect", handles[id(feats)]))
        return real_collect(self, feats, done)

    monkeypatch.setattr(BatchRunner, "launch", launch)
    monkeypatch.setattr(BatchRunner, "collect", collect)
    return BatchRunner(backbone, batch_size, amp), log


def run_batcher(runner: BatchRunner, given, in_flight: int) -> list[tuple[int, np.ndarray]]:
    batcher, out = Batcher(runner, in_flight), []
    for key, frames in given:
        batcher.add(key, frames)
        out.extend(batcher.completed)
        batcher.completed.clear()
    batcher.drain()
    return out + list(batcher.completed)


def test_batches_stay_in_flight_while_the_next_are_filled(monkeypatch):
    """With CUDA_IN_FLIGHT batches allowed in flight, batch i is collected only after batch i + CUDA_IN_FLIGHT
    was launched (the device order is the same on every machine); videos complete in order and get exactly
    the features of a run that collects every batch at once."""
    backbone = build_backbone("efficientnet_lite0", image_size=32)
    given = videos([4, 3, 2])
    runner, log = traced(monkeypatch, backbone, 3)
    out = run_batcher(runner, given, CUDA_IN_FLIGHT)
    assert CUDA_IN_FLIGHT == 2 and [key for key, _ in out] == [0, 1, 2]
    assert log == [("launch", 0), ("launch", 1), ("launch", 2), ("collect", 0), ("collect", 1), ("collect", 2)]
    monkeypatch.undo()
    synchronous = dict(run_batcher(BatchRunner(backbone, 3, None), given, 0))
    for key, feats in out:
        assert np.array_equal(feats, synchronous[key])


@cuda
def test_pinned_batches_and_the_batches_in_flight_give_the_synchronous_features(monkeypatch):
    backbone = build_backbone("efficientnet_lite0", device=torch.device("cuda"), image_size=32)
    pinned = []
    real_empty = torch.empty

    def empty(*args, **kwargs):
        tensor = real_empty(*args, **kwargs)
        if kwargs.get("pin_memory"):
            pinned.append(tuple(tensor.shape))
        return tensor

    monkeypatch.setattr(torch, "empty", empty)
    runner, log = traced(monkeypatch, backbone, 4)
    given = videos([5, 6, 4])
    got = dict(batched_features(given, runner))
    assert any(shape[0] == 4 and len(shape) == 4 for shape in pinned)  # frames reach the GPU from pinned batches
    assert log.index(("launch", 1)) < log.index(("collect", 0))  # asynchronous: batches in flight
    monkeypatch.undo()
    with torch.inference_mode():
        for key, frames in given:
            want = backbone.model(backbone.normalize(frames.cuda())).float().cpu().numpy()
            np.testing.assert_allclose(got[key], want, rtol=1e-2, atol=1e-3)  # other batch company, TF32


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
