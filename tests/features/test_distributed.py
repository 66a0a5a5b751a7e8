"""Scale-out extraction (framecache.features.distributed, .launch and the torchrun path of .extraction): deterministic
balanced sharding, the rank environment, and — on CPU with gloo and 2 processes — the same store as one
process, a rank killed mid-run then a rerun that completes from its finished parts, and failures from every
rank in the one failures file.

The end-to-end tests start real ``torchrun`` jobs (``python -m torch.distributed.run --standalone``) on tiny
clips at a 32-48 px input; each rank runs with one torch thread (``extract.cpu_threads: 1``), as does the
single-process reference, because CPU features differ in their last bits with the thread count.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import yaml

from framecache.config.params import ParamsError, read_yaml, validate
from framecache.errors import FramecacheError
from framecache.features import distributed, extraction
from framecache.features.store import FeatureStore
from tests.builders import write_params

REPO = Path(__file__).resolve().parents[2]


# ---------------------------------------------------------------------------------------------- sharding


def _loads(shards: list[list[int]], weights: list[int]) -> list[int]:
    return [sum(max(1, weights[i]) for i in s) for s in shards]


@pytest.mark.parametrize("world", [1, 2, 3, 5, 8])
def test_shard_assigns_every_video_once_balanced_by_frames(world):
    rng = np.random.default_rng(world)
    n = 97
    keys = [f"{rng.integers(1 << 60):x}" for _ in range(n)]
    weights = [int(w) for w in rng.integers(0, 3000, size=n)]
    weights[:3] = [0, 0, 1]  # unprobed videos (frames 0) still count as work
    shards = distributed.shard(keys, weights, world)
    assert len(shards) == world
    flat = [i for s in shards for i in s]
    assert sorted(flat) == list(range(n))  # every video exactly once
    assert all(s == sorted(s) for s in shards)  # each rank works in manifest order
    loads = _loads(shards, weights)
    assert max(loads) - min(loads) <= max(weights)  # greedy LPT bound
    assert distributed.shard(keys, weights, world) == shards  # deterministic
    # balanced by frames, not by count: one huge video and many small ones
    heavy = distributed.shard(["big", *map(str, range(10))], [1000, *[10] * 10], 2)
    assert _loads(heavy, [1000, *[10] * 10]) == [1000, 100]


def test_shard_depends_on_the_videos_not_their_order():
    rng = np.random.default_rng(0)
    keys = [f"sha{i:03d}" for i in range(40)]
    weights = [int(w) for w in rng.integers(1, 50, size=40)]
    weights[5] = weights[6] = weights[7]  # ties are broken by the stable hash, not by position
    perm = rng.permutation(40)
    a = distributed.shard(keys, weights, 3)
    b = distributed.shard([keys[i] for i in perm], [weights[i] for i in perm], 3)
    assert [{keys[i] for i in s} for s in a] == [{keys[perm[i]] for i in s} for s in b]


def test_shard_is_the_same_in_every_process():
    """Another interpreter with another hash seed computes the same shards (no Python ``hash()``)."""
    keys = [f"video_{i}.mp4" for i in range(30)]
    weights = [7] * 30  # all ties: the order comes from the hash alone
    code = (
        "import json; from framecache.features.distributed import shard; "
        f"print(json.dumps(shard({keys!r}, {weights!r}, 4)))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, check=True)
    assert yaml.safe_load(out.stdout) == distributed.shard(keys, weights, 4)


def test_shard_rejects_bad_arguments():
    with pytest.raises(ValueError, match="world_size"):
        distributed.shard(["a"], [1], 0)
    with pytest.raises(ValueError, match="weights"):
        distributed.shard(["a", "b"], [1], 2)
    assert distributed.shard([], [], 3) == [[], [], []]  # more ranks than videos: idle ranks


# ---------------------------------------------------------------------------------------------- environment


def test_context_from_the_torchrun_environment():
    assert distributed.context_from_env({}) == distributed.SINGLE
    assert not distributed.SINGLE.distributed and distributed.SINGLE.part_prefix == "part-"
    env = {"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2"}
    ctx = distributed.context_from_env(env)
    assert (ctx.rank, ctx.world_size, ctx.local_rank, ctx.local_world_size) == (3, 4, 1, 2)
    assert ctx.distributed and not ctx.is_main
    assert ctx.part_prefix == "part-rank00003-"  # still matched by the journal's part-*.h5
    with pytest.raises(FramecacheError, match="inconsistent"):
        distributed.context_from_env({"RANK": "4", "WORLD_SIZE": "4"})
    with pytest.raises(FramecacheError, match="not a set of integers"):
        distributed.context_from_env({"RANK": "one", "WORLD_SIZE": "4"})
    # single-process collectives are identities
    assert distributed.SINGLE.broadcast(("x", [1])) == ("x", [1])
    assert distributed.SINGLE.gather({"a": 1}) == [{"a": 1}]


def test_torchrun_command_reruns_the_same_module():
    cmd = distributed.torchrun_command("stages.extract", ["--out", "x.h5"], 3)
    assert cmd[:3] == [sys.executable, "-m", "torch.distributed.run"]
    assert (
        "--standalone" in cmd and "--nproc-per-node=3" in cmd and cmd[-4:] == ["-m", "stages.extract", "--out", "x.h5"]
    )


def test_cpu_threads_split_the_cores_between_ranks():
    two = distributed.Context(rank=1, world_size=4, local_rank=1, local_world_size=2)
    cores = len(os.sched_getaffinity(0))
    assert distributed.cpu_threads(None, two) == max(1, cores // 2)
    assert distributed.cpu_threads(None, distributed.SINGLE) is None  # torch's own default
    assert distributed.cpu_threads(3, two) == distributed.cpu_threads(3, distributed.SINGLE) == 3


def test_params_for_processes_are_validated():
    data = read_yaml(REPO / "params.yaml")
    assert validate(data).extract.processes == "auto" and validate(data).extract.cpu_threads is None
    for key, value, allowed in [
        ("processes", 0, "'auto' or an integer >= 1"),
        ("cpu_threads", 0, "an integer >= 1 (or null)"),
        ("sync_timeout_minutes", 0, "a number > 0"),
    ]:
        bad = read_yaml(REPO / "params.yaml")
        bad["extract"][key] = value
        with pytest.raises(ParamsError, match=rf"extract\.{key} = 0 is not allowed: expected {re.escape(allowed)}"):
            validate(bad)


# ---------------------------------------------------------------------------------------------- torchrun jobs


def clip_frames(n: int, seed: int, size: int = 32) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, size=(size, size, 3), dtype=np.uint8)
    return [np.roll(base, shift=3 * i, axis=1) for i in range(n)]


def job_params(folder: Path, **extract) -> Path:
    # CPU jobs (gloo), compared bit for bit with one process: pinned to CPU on a CUDA host too
    small = {"image_size": 32, "num_frames": 4, "num_workers": 0, "batch_size": 4, "cpu_threads": 1, "device": "cpu"}
    return write_params(folder, extract={**small, **extract})


def stage_args(params: Path, manifest: Path, classes: Path, out: Path) -> list[str]:
    return [
        "--params", str(params), "--manifest", str(manifest), "--classes", str(classes), "--out", str(out / "s.h5"),
        "--failures", str(out / "failures.csv"), "--metrics", str(out / "metrics.json"),
    ]  # fmt: skip


def torchrun(args: list[str], processes: int = 2) -> list[str]:
    return distributed.torchrun_command("stages.extract", args, processes)


def run_reference(params: Path, manifest: Path, classes: Path, out: Path) -> dict:
    """The single-process run, in this process."""
    extract = validate(read_yaml(params)).extract
    return extraction.run_extract(
        extract, manifest, classes, out / "s.h5", out / "failures.csv", out / "metrics.json", progress=False
    )


def assert_same_store(a: Path, b: Path) -> None:
    with h5py.File(a) as ha, h5py.File(b) as hb:
        assert sorted(ha) == sorted(hb)
        for name in ha:
            assert ha[name].dtype == hb[name].dtype, name
            assert np.array_equal(ha[name][()], hb[name][()]), f"dataset {name} differs"
    with FeatureStore.open(a) as sa, FeatureStore.open(b) as sb:
        assert sa.provenance == sb.provenance and sa.classes == sb.classes


def job_env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "FRAMECACHE_LOG": "INFO"}


@pytest.mark.slow
def test_two_processes_write_the_single_process_store(tmp_path, extract_clip, extract_manifest):
    """The DVC path (extract.processes: 2 → torchrun --standalone): same store as one process, and a video
    that fails on rank 1 is in the one failures file."""
    clips = [extract_clip(tmp_path / "v" / f"c{i:02d}.mp4", clip_frames(4 + 3 * i, seed=i)) for i in range(10)]
    for attempt in range(50):  # a corrupt file that the sharding gives to rank 1, so its failure must travel
        bad = tmp_path / "v" / "corrupt.mp4"
        bad.write_bytes(b"not a video %d\n" % attempt)
        manifest, classes = extract_manifest(tmp_path / "prepared", [*clips, bad])
        df = pd.read_csv(manifest, dtype=str, keep_default_na=False)
        shards = distributed.shard(list(df["sha256"]), [int(f) for f in df["frames"]], 2)
        if len(clips) in shards[1]:
            break
    assert len(clips) in shards[1] and shards[0] and shards[1]
    params = job_params(tmp_path, processes=2, max_failure_rate=0.5)
    reference = run_reference(params, manifest, classes, tmp_path / "one")

    out = tmp_path / "two"
    cmd = [sys.executable, "-m", "stages.extract", *stage_args(params, manifest, classes, out)]
    proc = subprocess.run(cmd, cwd=REPO, env=job_env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "starting 2 processes" in proc.stderr

    assert_same_store(out / "s.h5", tmp_path / "one" / "s.h5")
    failures = pd.read_csv(out / "failures.csv")
    assert failures["video_id"].tolist() == ["corrupt.mp4"]
    assert "not a readable video" in failures["reason"].iat[0]
    assert failures.equals(pd.read_csv(tmp_path / "one" / "failures.csv"))

    metrics = pd.read_json(out / "metrics.json", typ="series")
    assert metrics["processes"] == 2 and metrics["videos_stored"] == 10 and metrics["failures"] == 1
    ranks = metrics["per_rank"]
    assert sorted(ranks) == ["rank0", "rank1"]
    assert [ranks[r]["videos_computed"] for r in ("rank0", "rank1")] == [len(shards[0]), len(shards[1])]
    assert (ranks["rank0"]["failures"], ranks["rank1"]["failures"]) == (0, 1)
    assert ranks["rank0"]["cpu_threads"] == ranks["rank1"]["cpu_threads"] == 1
    assert sum(ranks[r]["frames_computed"] for r in ranks) == metrics["frames_computed"] == reference["frames"]
    assert all(ranks[r]["frames_per_second"] > 0 for r in ranks) and metrics["frames_per_second"] > 0
    assert not (out / ".s.h5.journal").exists() and not list(out.glob(".s.h5.tmp-*"))


def _rank_pid(launcher: int, rank: int) -> int | None:
    """The pid of the worker process of ``rank`` that torchrun (pid ``launcher``) started (Linux /proc)."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            environ = (proc / "environ").read_bytes().split(b"\0") if ppid == launcher else []
        except (OSError, IndexError, ValueError):
            continue
        if f"RANK={rank}".encode() in environ:
            return int(proc.name)
    return None


@pytest.mark.slow
def test_killed_rank_then_rerun_completes_from_finished_parts(tmp_path, extract_clip, extract_manifest):
    if not Path("/proc/self/stat").is_file():
        pytest.skip("finding torchrun's worker processes needs Linux /proc")
    clips = [extract_clip(tmp_path / "v" / f"k{i:02d}.mp4", clip_frames(6, seed=300 + i, size=48)) for i in range(40)]
    manifest, classes = extract_manifest(tmp_path / "prepared", clips)
    params = job_params(tmp_path, image_size=48, batch_size=1, checkpoint_seconds=0)
    out = tmp_path / "f"
    args = stage_args(params, manifest, classes, out)
    journal = out / ".s.h5.journal"

    proc = subprocess.Popen(
        torchrun(args), cwd=REPO, env=job_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 300
    killed = None
    while proc.poll() is None and time.monotonic() < deadline:
        if list(journal.glob("part-rank00001-*.h5")):
            killed = _rank_pid(proc.pid, 1)
            if killed is not None:
                os.kill(killed, signal.SIGKILL)  # as the OOM killer or a lost node would
                break
        time.sleep(0.005)
    _, stderr = proc.communicate(timeout=300)
    assert killed is not None, f"rank 1 finished before it could be killed: {stderr[-2000:]}"
    assert proc.returncode != 0, "torchrun must report the killed rank"
    assert "Signal 9 (SIGKILL)" in stderr or "exitcode  : -9" in stderr, stderr[-2000:]
    assert not (out / "s.h5").exists()  # no store from a job that lost a rank

    parts = sorted(journal.glob("part-*.h5"))
    assert any(p.name.startswith("part-rank00001-") for p in parts)
    in_parts = 0
    for part in parts:  # every part a rank left behind is complete
        with FeatureStore.open(part) as store:
            in_parts += len(store)
    assert 0 < in_parts < 40
    # what a write cut short leaves: a temporary file, and (were a write not atomic) a truncated part
    (journal / ".part-rank00001-000777.h5.tmp-cut").write_bytes(b"\x89HDF\r\n\x1a\n partial")
    (journal / "part-rank00001-000999.h5").write_bytes(b"\x89HDF\r\n\x1a\n truncated")

    rerun = subprocess.run(torchrun(args), cwd=REPO, env=job_env(), capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    metrics = pd.read_json(out / "metrics.json", typ="series")
    assert metrics["videos_stored"] == 40 and metrics["failures"] == 0
    assert metrics["videos_reused"] == in_parts  # the finished parts of both ranks, nothing else
    assert metrics["videos_computed"] == 40 - in_parts
    assert not journal.exists() and not list(out.glob(".s.h5.tmp-*"))

    run_reference(params, manifest, classes, tmp_path / "one")
    assert_same_store(out / "s.h5", tmp_path / "one" / "s.h5")
