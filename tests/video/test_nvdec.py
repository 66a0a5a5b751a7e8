"""NVDEC decoding (framecache.video.nvdec) and the choice of decoder (framecache.video.decoders).

Without a GPU, PyNvVideoCodec is faked at its boundary (tests/fake_nvdec.py: PyAV's frames through DLPack), so
everything framecache does with NVDEC's frames — the CPU index pass, the sampled indices, making frames
upright, resizing and cropping them — is checked against the CPU decoder. Where a GPU and PyNvVideoCodec are
present, the real NVDEC's frames are compared with the CPU's within the documented tolerance.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from framecache.errors import FramecacheError
from framecache.video import decoders, nvdec
from framecache.video.decode import load_sample
from framecache.video.frames import Geometry
from framecache.video.sampling import Sampling
from tests import fake_nvdec
from tests.conftest import write_frames

GEOMETRY = Geometry(resize=40, crop=32)
CPU, CUDA = torch.device("cpu"), torch.device("cuda")
# NVDEC against FFmpeg on the same clip: NVDEC converts to RGB with its own arithmetic and the GPU resamples
# in floating point, so pixels differ by a few levels of 255 (documented in README, "NVDEC decoding").
MEAN_ABS_LEVELS, P99_ABS_LEVELS = 3.0, 16


def frames(n: int, h: int = 48, w: int = 64, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, size=(h, w, 3), dtype=np.uint8)
    return [np.roll(base, shift=4 * i, axis=1) for i in range(n)]


@pytest.fixture
def fake(monkeypatch):
    return fake_nvdec.install(monkeypatch)


@pytest.mark.parametrize(("rotation", "hflip"), [(None, False), (90, False), (-90, True), (180, False)])
def test_nvdec_frames_are_the_cpu_decoders_through_the_same_geometry(tmp_path, fake, rotation, hflip):
    path = write_frames(tmp_path / "clip.mp4", frames(20), rotation=rotation, hflip=hflip)
    sampling = Sampling(num_frames=6)
    cpu = load_sample(path, sampling, GEOMETRY)
    gpu = nvdec.NvdecDecoder(sampling, GEOMETRY).load(path)
    assert gpu.frames.shape == cpu.frames.shape == (6, 32, 32, 3)
    for key in ("rows", "frame_index", "timestamp"):
        assert np.array_equal(getattr(gpu, key), getattr(cpu, key)), key
    assert (gpu.policy, gpu.frames_total, gpu.frames_usable) == (cpu.policy, cpu.frames_total, cpu.frames_usable)
    diff = np.abs(gpu.frames.numpy().astype(int) - cpu.frames.astype(int))
    assert diff.max() == 0  # the same pixels in (the fake is FFmpeg), the same geometry: the same pixels out


def test_short_videos_keep_the_cpu_decoders_policy(tmp_path, fake):
    path = write_frames(tmp_path / "short.mp4", frames(3))
    for short in ("keep", "repeat"):
        sampling = Sampling(num_frames=5, short_videos=short)
        cpu, gpu = load_sample(path, sampling, GEOMETRY), nvdec.NvdecDecoder(sampling, GEOMETRY).load(path)
        assert gpu.policy == cpu.policy and np.array_equal(gpu.rows, cpu.rows) and len(gpu.frames) == 3


def test_videos_nvdec_cannot_decode_are_refused_with_the_reason(tmp_path, monkeypatch):
    decoder = nvdec.NvdecDecoder(Sampling(num_frames=4), GEOMETRY)
    avi = write_frames(tmp_path / "clip.avi", frames(10), codec="mpeg4")
    fake_nvdec.install(monkeypatch)
    with pytest.raises(nvdec.NvdecRefused, match="NVDEC does not decode mpeg4"):
        decoder.load(avi)
    clip = write_frames(tmp_path / "clip.mp4", frames(10))
    fake_nvdec.install(monkeypatch, fail="clip")
    with pytest.raises(nvdec.NvdecRefused, match=r"NVDEC failed: FakeNvdecError: .*unsupported profile"):
        decoder.load(clip)
    fake_nvdec.install(monkeypatch, extra_frames=2)
    with pytest.raises(nvdec.NvdecRefused, match="NVDEC counts 12 frames where the container indexes 10"):
        decoder.load(clip)


def test_the_decoder_choice(monkeypatch):
    assert decoders.resolve_decoder("cpu", CUDA) == "cpu"
    assert decoders.resolve_decoder("auto", CPU) == "cpu"
    with pytest.raises(FramecacheError, match=r"extract\.decoder = 'nvdec' but the model runs on cpu"):
        decoders.resolve_decoder("nvdec", CPU)
    monkeypatch.setattr(nvdec, "unavailable", lambda: "PyNvVideoCodec is not installed (the optional extra")
    assert decoders.resolve_decoder("auto", CUDA) == "cpu"
    with pytest.raises(FramecacheError, match=r"PyNvVideoCodec is not installed.*Use 'auto'"):
        decoders.resolve_decoder("nvdec", CUDA)
    monkeypatch.setattr(nvdec, "unavailable", lambda: None)
    assert decoders.resolve_decoder("auto", CUDA) == "nvdec+cpu"  # both decode at once
    assert decoders.resolve_decoder("nvdec", CUDA) == "nvdec"
    with pytest.raises(FramecacheError, match="'gpu' is not one of"):
        decoders.resolve_decoder("gpu", CUDA)


def test_nvdec_is_unavailable_without_the_package_or_a_gpu(monkeypatch, fake):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert nvdec.unavailable() == "torch sees no CUDA GPU"
    monkeypatch.delitem(__import__("sys").modules, "PyNvVideoCodec")
    monkeypatch.setattr(nvdec, "MODULE", "PyNvVideoCodec_not_here")
    assert "is not installed" in nvdec.unavailable()


@pytest.mark.skipif(
    nvdec.unavailable() is not None,
    reason=f"needs NVDEC, which cannot run here: {nvdec.unavailable()}",
)
def test_real_nvdec_frames_are_within_the_stated_tolerance_of_the_cpus(tmp_path):
    from tests.conftest import write_video

    path = tmp_path / "clip.mp4"
    write_video(path, frames=60, size=128, seed=3)
    sampling, geometry = Sampling(num_frames=8), Geometry(resize=128, crop=112)
    cpu = load_sample(path, sampling, geometry)
    gpu = nvdec.NvdecDecoder(sampling, geometry).load(path)
    assert gpu.frames.is_cuda and np.array_equal(gpu.frame_index, cpu.frame_index)
    diff = np.abs(gpu.frames.cpu().numpy().astype(int) - cpu.frames.astype(int))
    assert diff.mean() <= MEAN_ABS_LEVELS and np.percentile(diff, 99) <= P99_ABS_LEVELS, (diff.mean(), diff.max())
