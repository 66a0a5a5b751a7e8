"""The CPU proxy of issue 18's GPU goal: does stage 1 feed its model as fast as its decode workers can decode?

    uv run python -m benchmarks.gpu --cpu-proxy --json [--workers W]

On generated clips (UCF101-like: 10 s, 320x240, 30 fps, H.264 GOP 12), in one run:

- (a) the decoder's limit: ``load_sample`` alone in a Pool of W processes (each returns only its frame count);
- (b) the stage's own path — ``compute_share``: the decode workers, the batcher, the journal (HDF5 parts) — with
  W workers and the model replaced by a no-op (no normalisation, no forward pass: on a GPU host the main
  process does neither on its CPU).

Both are timed from starting their processes to the last result, so they pay the same start-up. ``ratio`` is
(b)'s frames/s over (a)'s; ``main_cpu_ms_per_video`` the main process's CPU time (all its threads) in (b) per
video. On a GPU host the main process must carry ~168 videos/s (the decoder's limit of 16 cores at 16
frames each), so it has ≤ 6 ms per video for everything it does, the GPU launches included.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from framecache.backbones.build import Backbone
from framecache.backbones.specs import get_spec, preprocessing_for
from framecache.video.decode import load_sample
from framecache.video.frames import Geometry
from framecache.video.sampling import Sampling

BACKBONE = "efficientnet_lite0"


class NoOpModel(torch.nn.Module):
    """Features of zeros, at no cost: what the main process pays for the model on a GPU host is a launch."""

    def __init__(self, k: int):
        super().__init__()
        self.k = k

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros((len(x), self.k))


@dataclass
class NoOpBackbone(Backbone):
    def normalize(self, frames: torch.Tensor) -> torch.Tensor:
        return frames  # on a GPU host the GPU converts the frames, not the main process's CPU


def noop_backbone(name: str = BACKBONE, device: Any = "cpu", image_size: int | None = None) -> Backbone:
    k = get_spec(name).k
    return NoOpBackbone(
        name=name,
        model=NoOpModel(k),
        head=torch.nn.Identity(),
        preprocessing=preprocessing_for(name, image_size),
        k=k,
        weights_sha256="noop",
        device=torch.device("cpu"),
    )


# -------------------------------------------------------------------------------------------- (a) the limit
_DECODE: tuple[Sampling, Geometry] | None = None


def _one_thread() -> None:
    torch.set_num_threads(1)  # as in the stage's workers: one core per process


def _load_count(path: str) -> int:
    return len(load_sample(path, *_DECODE).frames)  # type: ignore[misc]


def decode_limit(
    paths: list[str], workers: int, sampling: Sampling, extract: dict[str, Any] | None = None
) -> dict[str, float]:
    """frames/s of load_sample over ``paths`` in a Pool of ``workers`` forked processes (start to last result),
    at the preprocessing of ``extract``'s backbone and image size (the default backbone's without)."""
    global _DECODE
    extract = extract or {}
    _DECODE = (sampling, preprocessing_for(extract.get("backbone", BACKBONE), extract.get("image_size")).geometry())
    start = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(workers, _one_thread) as pool:
        frames = sum(pool.imap_unordered(_load_count, paths, chunksize=1))
    seconds = time.perf_counter() - start
    return {"frames": frames, "seconds": seconds, "fps": frames / seconds}


# -------------------------------------------------------------------------------------------- (b) the stage
def stage_path(paths: list[str], workers: int, extract: dict[str, Any], work: Path) -> dict[str, Any]:
    """The stage's compute step (``compute_share``) over ``paths`` with a no-op model; frames/s from the call's
    start to its end (workers started, every video through the batcher into journal parts, flushed) and the
    main process's CPU time."""
    import pandas as pd

    from framecache.features import runner
    from framecache.features.batching import VideoJob
    from framecache.features.distributed import SINGLE
    from framecache.features.inputs import ExtractInputs, expected_provenance
    from framecache.features.journal import Journal, clear_journal
    from framecache.features.plan import Plan

    extract = {**extract, "num_workers": workers, "device": "cpu", "cpu_threads": 1}
    n = len(paths)
    manifest = pd.DataFrame(
        {
            "video_id": [f"v{i:05d}" for i in range(n)],
            "path": paths,
            "label_index": ["0"] * n,
            "split": ["train"] * n,
            "group": [f"g{i}" for i in range(n)],
        }
    )
    inputs = ExtractInputs(manifest, ["c0"], expected_provenance(extract))
    jobs = [VideoJob(pos=i, path=p) for i, p in enumerate(paths)]
    plan = Plan(shas=[f"{i:064x}" for i in range(n)], to_compute=jobs, mine=jobs)
    settings = runner.resolve_compute(extract, SINGLE)
    out = work / "proxy.h5"
    clear_journal(out)
    journal = Journal(out, inputs.expect, inputs.classes, float(extract["checkpoint_seconds"]), {})
    real_build, runner.build_backbone = runner.build_backbone, noop_backbone
    try:
        cpu, start = time.process_time(), time.perf_counter()
        failed, stats = runner.compute_share(extract, inputs, plan, settings, journal, progress=True)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    finally:
        runner.build_backbone = real_build
        clear_journal(out)
    if failed:
        raise SystemExit(f"the proxy's clips failed to decode: {failed}")
    return {
        "frames": stats.frames,
        "seconds": seconds,
        "fps": stats.frames / seconds,
        "main_cpu_seconds": cpu,
        "main_cpu_ms_per_video": 1000 * cpu / n,
        "stage_counters": {k: round(v, 3) for k, v in vars(stats).items()},
    }


def clips(folder: Path, distinct: int, seconds: float) -> list[Path]:
    """``distinct`` UCF101-like clips of ``seconds`` (320x240, 30 fps, H.264 GOP 12), made once."""
    from benchmarks.decode import make_clip

    shape = argparse.Namespace(width=320, height=240, fps=30, noise=7.0)
    return [make_clip(folder / f"{seconds:g}s-gop12-{k}.mp4", seconds, 12, shape, seed=k) for k in range(distinct)]


def run_proxy(workers: int, videos: int, out: Path, rounds: int = 3) -> dict[str, Any]:
    """The proxy: (a) then (b), ``rounds`` times; frames/s are medians, ``ratio`` the median of each round's
    (b) / (a)."""
    from framecache.config.params import load_params

    repo = Path(__file__).resolve().parents[1]
    extract = load_params(repo / "params.yaml").to_dict()["extract"]
    sampling = Sampling.from_params(extract)
    distinct = clips(out / "clips", 8, 10.0)
    paths = [str(distinct[i % len(distinct)]) for i in range(videos)]
    load = os.getloadavg()[0]
    limits, stages = [], []
    with tempfile.TemporaryDirectory(dir=out) as tmp:
        for _ in range(rounds):
            limits.append(decode_limit(paths, workers, sampling))
            stages.append(stage_path(paths, workers, extract, Path(tmp)))
    # each round's (b) over its own (a), run back to back: load from elsewhere hits both alike
    ratio = float(np.median([b["fps"] / a["fps"] for a, b in zip(limits, stages, strict=True)]))
    return {
        "workers": workers,
        "videos": videos,
        "frames_per_video": extract["num_frames"],
        "decode_limit_fps": round(float(np.median([r["fps"] for r in limits])), 1),
        "pipeline_fps": round(float(np.median([r["fps"] for r in stages])), 1),
        "ratio": round(ratio, 3),
        "main_cpu_ms_per_video": round(float(np.median([r["main_cpu_ms_per_video"] for r in stages])), 3),
        "rounds": rounds,
        "runs": {"decode_limit": limits, "pipeline": stages},
        "cpus": os.cpu_count(),
        "load_average": [round(load, 2), round(os.getloadavg()[0], 2)],
    }
