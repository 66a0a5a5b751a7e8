"""How the extract command runs: ``extract.processes: auto`` resolves to one process per GPU, or one
single-thread process per core on CPU when the run is big enough to repay starting them, bounded by memory;
a number is taken as given; a rank of a torchrun job never re-launches."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from framecache.features import extraction, launch
from tests.builders import write_params

CPU = {"device": "cpu", "cpu_threads": None, "sampling": "uniform", "num_frames": 16, "max_frames": 64}


def manifest_of(tmp_path: Path, videos: int) -> Path:
    path = tmp_path / "manifest.csv"
    rows = "".join(f"v{i}.mp4,wave,train,g{i},{i:064x},10\n" for i in range(videos))
    path.write_text("path,label,split,group,sha256,frames\n" + rows, encoding="utf-8")
    return path


def test_listed_frames_count_the_manifest_rows_times_what_sampling_keeps(tmp_path):
    manifest = manifest_of(tmp_path, 7)
    assert launch.listed_frames(CPU, manifest) == 7 * 16
    assert launch.listed_frames({**CPU, "sampling": "fps"}, manifest) == 7 * 64
    assert launch.listed_frames({**CPU, "sampling": "all"}, manifest) == 7 * 64
    assert launch.listed_frames(CPU, tmp_path / "missing.csv") == 0  # the stage itself then names the file


@pytest.fixture
def four_cores(monkeypatch):
    monkeypatch.setattr(launch, "available_cores", lambda: 4)
    monkeypatch.setattr(launch, "_memory_bytes", lambda: 64 * 1024.0**3)


def test_auto_on_cpu_runs_one_single_thread_process_per_core_for_a_big_run(four_cores):
    processes, why = launch.auto_processes(CPU, launch.AUTO_MIN_FRAMES)
    assert processes == 4 and "4 cores" in why
    # cpu_threads set: each process takes that many cores
    assert launch.auto_processes({**CPU, "cpu_threads": 2}, launch.AUTO_MIN_FRAMES)[0] == 2
    assert launch.auto_processes({**CPU, "cpu_threads": 8}, launch.AUTO_MIN_FRAMES)[0] == 1


def test_auto_keeps_one_process_for_a_small_run(four_cores):
    processes, why = launch.auto_processes(CPU, launch.AUTO_MIN_FRAMES - 1)
    assert processes == 1 and f"{launch.AUTO_MIN_FRAMES - 1} frames listed" in why


def test_auto_starts_no_more_processes_than_memory_holds(four_cores, monkeypatch):
    monkeypatch.setattr(launch, "_memory_bytes", lambda: 2.2 * launch.PROCESS_MEMORY_BYTES)
    processes, why = launch.auto_processes(CPU, 10 * launch.AUTO_MIN_FRAMES)
    assert processes == 2 and "memory for 2" in why
    monkeypatch.setattr(launch, "_memory_bytes", lambda: 0.5 * launch.PROCESS_MEMORY_BYTES)
    assert launch.auto_processes(CPU, 10 * launch.AUTO_MIN_FRAMES)[0] == 1


def test_auto_on_cuda_runs_one_process_per_gpu(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 3)
    assert launch.auto_processes({**CPU, "device": "auto"}, 10)[0] == 3


def test_a_number_of_processes_is_taken_as_given(tmp_path, four_cores):
    manifest = manifest_of(tmp_path, 1)
    assert launch.resolve_processes({**CPU, "processes": 3}, manifest) == 3
    assert launch.resolve_processes({**CPU, "processes": "auto"}, manifest) == 1  # 16 frames: one process


@pytest.fixture
def recorded(monkeypatch):
    calls: dict[str, object] = {}

    def relaunch(module, argv, n, env=None):
        calls["relaunch"], calls["env"] = n, env
        return 0

    monkeypatch.setattr(launch.distributed, "relaunch", relaunch)
    monkeypatch.setattr(extraction, "run_extract", lambda *a, **k: calls.setdefault("in_process", True))
    return calls


def _paths(tmp_path: Path, manifest: Path) -> launch.ExtractPaths:
    return launch.ExtractPaths(
        manifest, tmp_path / "classes.txt", tmp_path / "s.h5", tmp_path / "f.csv", tmp_path / "m.json"
    )


def test_the_command_relaunches_under_torchrun_when_auto_picks_more_processes(tmp_path, four_cores, recorded):
    manifest = manifest_of(tmp_path, launch.AUTO_MIN_FRAMES // 16)
    extract = {**CPU, "processes": "auto", "sync_timeout_minutes": 1.0}
    assert launch.run_extract_command(extract, _paths(tmp_path, manifest), module="stages.extract", argv=[]) == 0
    assert recorded["relaunch"] == 4
    # the ranks count their start-up from the command's start, which is this process's
    started = float(recorded["env"][launch.STARTED_ENV])
    assert started == launch.process_started() and 0 < time.time() - started < 3600


def test_a_rank_counts_start_up_from_the_command_that_relaunched_it(monkeypatch):
    monkeypatch.setenv(launch.STARTED_ENV, "1234.5")
    assert launch.command_started() == 1234.5
    monkeypatch.delenv(launch.STARTED_ENV)
    assert launch.command_started() == launch.process_started() <= time.time()


def test_a_small_run_or_a_torchrun_rank_extracts_in_this_process(tmp_path, four_cores, recorded, monkeypatch):
    small = manifest_of(tmp_path, 3)
    extract = {**CPU, "processes": "auto", "sync_timeout_minutes": 1.0}
    launch.run_extract_command(extract, _paths(tmp_path, small), module="stages.extract", argv=[])
    assert recorded == {"in_process": True}
    # a rank started by torchrun never re-launches, whatever processes says (one rank of one: no group to join)
    recorded.clear()
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "1")
    launch.run_extract_command({**extract, "processes": 4}, _paths(tmp_path, small), module="m", argv=[])
    assert recorded == {"in_process": True}


def test_params_default_is_auto(tmp_path):
    from framecache.config.params import load_params

    assert load_params(write_params(tmp_path)).extract["processes"] == "auto"
