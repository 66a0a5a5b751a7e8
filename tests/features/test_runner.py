"""How a rank runs the backbone: ``extract.num_workers: auto`` resolves from the device and the model's threads
(on CPU, inline decoding beside single-thread models that fill the cores, one worker beside a multi-thread one,
a worker per core the model leaves; on CUDA, a worker per core but one, uncapped), a number is taken as given, the
cores the model leaves are split into FFmpeg threads for the last videos, and the stage records what it resolved
to."""

from __future__ import annotations

import pytest
import torch

from framecache.compute import torch_threads
from framecache.config.params import load_params
from framecache.features import runner
from framecache.features.distributed import SINGLE, Context
from tests.builders import write_params

CPU, CUDA = torch.device("cpu"), torch.device("cuda")


def ranks(n: int) -> Context:
    return Context(rank=0, world_size=n, local_rank=0, local_world_size=n)


@pytest.fixture
def cores(monkeypatch):
    def set_cores(n: int) -> None:
        monkeypatch.setattr(runner, "available_cores", lambda: n)

    return set_cores


@pytest.mark.parametrize("requested", [0, 1, 3])
def test_a_number_of_workers_is_taken_as_given(cores, requested):
    cores(4)
    for device, threads in ((CPU, 1), (CPU, 4), (CUDA, None)):
        assert runner.resolve_decoding(requested, device, threads, SINGLE)[0] == requested


def test_auto_on_cpu_decodes_inline_beside_single_thread_models_filling_the_cores(cores):
    cores(2)
    assert runner.resolve_decoding("auto", CPU, 1, ranks(2)) == (0, 0)  # processes: auto on 2 cores
    cores(8)
    assert runner.resolve_decoding("auto", CPU, 1, ranks(8)) == (0, 0)
    assert runner.resolve_decoding("auto", CPU, 2, ranks(4)) == (1, 0)  # a threaded model: one worker beside it
    assert runner.resolve_decoding("auto", CPU, 8, SINGLE) == (1, 0)
    # cores the model does not use get a worker each, and are left to decoding
    assert runner.resolve_decoding("auto", CPU, 2, SINGLE) == (6, 6)
    assert runner.resolve_decoding("auto", CPU, 1, ranks(2)) == (3, 3)
    assert runner.resolve_decoding(0, CPU, 1, ranks(2)) == (0, 3)
    # threads None is torch's own count
    cores(2)
    with torch_threads(2):
        assert runner.resolve_decoding("auto", CPU, None, SINGLE) == (1, 0)
    with torch_threads(1):
        assert runner.resolve_decoding("auto", CPU, None, SINGLE) == (1, 1)


@pytest.mark.parametrize(
    ("n", "local_ranks", "expected"),
    [
        (16, 1, (15, 15)),
        (64, 1, (63, 63)),
        (4, 1, (3, 3)),
        (2, 1, (1, 1)),
        (1, 1, (1, 1)),
        (16, 8, (1, 1)),
        (32, 4, (7, 7)),
    ],
)
def test_auto_on_cuda_gives_each_rank_a_worker_per_core_but_one(cores, n, local_ranks, expected):
    cores(n)
    assert runner.resolve_decoding("auto", CUDA, None, ranks(local_ranks)) == expected


def test_the_default_params_resolve_to_a_number_the_stage_can_record(tmp_path, cores):
    cores(4)  # the host's own count would make the expectation the rule itself (16 cores: the cap, not 15)
    params = load_params(write_params(tmp_path, extract={"device": "cpu", "cpu_threads": 1}))
    assert params["extract"]["num_workers"] == "auto"
    settings = runner.resolve_compute(params["extract"], SINGLE)
    assert settings.threads == 1 and settings.num_workers == settings.decode_cores == 3
    settings = runner.resolve_compute({**params["extract"], "num_workers": 2}, SINGLE)
    assert settings.num_workers == 2


def test_the_last_videos_get_the_decode_cores_as_ffmpeg_threads():
    from framecache.features.workers import MAX_DECODER_THREADS, decoder_threads

    def threads(videos: int, workers: int, decode_cores: int) -> list[int]:
        return [decoder_threads(videos - i, workers, decode_cores) for i in range(videos)]

    assert threads(6, 0, 0) == threads(6, 2, 0) == threads(6, 2, 1) == [1] * 6  # no core left: one thread
    assert threads(6, 2, 2) == [1, 1, 1, 1, 1, 2]  # two workers busy until the last video
    assert threads(6, 4, 4) == [1, 1, 1, 1, 2, 4]
    assert threads(2, 8, 15) == [MAX_DECODER_THREADS] * 2  # fewer videos than workers: capped
    assert threads(5, 8, 3) == [1, 1, 1, 1, 3]
    assert threads(3, 0, 3) == [3, 3, 3]  # decoded inline, one video at a time
