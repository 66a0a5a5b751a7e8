"""NVDEC part of benchmarks/gpu.py, where PyNvVideoCodec is installed and a GPU is present: NVDEC alone (1 and
NVDEC_THREADS threads), the stage's decode pool with its CPU workers plus NVDEC threads against the CPU
decoder's limit with as many workers (goal ≥ 1.3x on the UCF101-like clips, ≥ 3x on 1080p clips), and the
stage with ``extract.decoder: auto`` against ``cpu``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any


def _decoders(extract: dict[str, Any]) -> tuple[Any, Any]:
    from framecache.backbones.specs import preprocessing_for
    from framecache.video.decoders import CpuDecoder
    from framecache.video.nvdec import NvdecDecoder
    from framecache.video.sampling import Sampling

    sampling = Sampling.from_params(extract)
    geometry = preprocessing_for(extract["backbone"], extract.get("image_size")).geometry()
    return CpuDecoder(sampling, geometry), NvdecDecoder(sampling, geometry)


def nvdec_alone(paths: list[str], decoder: Any, threads: int) -> dict[str, float]:
    """frames/s of NVDEC decoding ``paths`` from ``threads`` threads (videos it refuses count as failures)."""
    import torch

    def one(path: str) -> int:
        try:
            return len(decoder.load(path).frames)
        except Exception:
            return 0

    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        frames = sum(pool.map(one, paths))
    torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    return {"threads": threads, "videos": len(paths), "frames": frames, "fps": frames / seconds}


def pool_fps(paths: list[str], cpu: Any, gpu: Any, workers: int) -> dict[str, Any]:
    """frames/s of the stage's decode pool (no model): ``workers`` CPU workers plus NVDEC threads."""
    from framecache.features.batching import VideoJob
    from framecache.features.embed import decode_source

    jobs = [VideoJob(pos=i, path=p) for i, p in enumerate(paths)]
    start = time.perf_counter()
    source, release, stop = decode_source(jobs, cpu, workers, 0, gpu)
    frames = by_nvdec = failed = 0
    for item in source:
        if item.frames is None:
            failed += 1
        else:
            frames += len(item.frames)
            by_nvdec += bool(item.frames.is_cuda)
        release(item)
    stop()
    seconds = time.perf_counter() - start
    return {"workers": workers, "videos": len(paths), "by_nvdec": by_nvdec, "failed": failed, "fps": frames / seconds}


def nvdec_part(
    clips: dict[str, Any],
    extract: dict[str, Any],
    workers: int,
    hd: Callable[[], dict[str, Any]],
    stage: Callable[[str], list[dict[str, Any]]],
) -> dict[str, Any]:
    """Every NVDEC measurement; ``hd()`` makes the 1080p clip set, ``stage(decoder)`` runs the stage (only
    when NVDEC can run)."""
    from benchmarks.proxy import decode_limit
    from framecache.video.decoders import NVDEC_THREADS
    from framecache.video.nvdec import unavailable
    from framecache.video.sampling import Sampling

    why = unavailable()
    if why:
        return {"installed": False, "summary": f"not measured: {why}"}
    cpu, gpu = _decoders(extract)
    paths = clips["paths"]
    res: dict[str, Any] = {"installed": True}
    res["alone"] = [nvdec_alone(paths[:128], gpu, t) for t in (1, NVDEC_THREADS)]
    res["limit"] = decode_limit(paths, workers, Sampling.from_params(extract), extract)
    res["pool"] = pool_fps(paths, cpu, gpu, workers)
    hd_clips = hd()
    res["hd_limit"] = decode_limit(hd_clips["paths"], workers, Sampling.from_params(extract), extract)
    res["hd_pool"] = pool_fps(hd_clips["paths"], cpu, gpu, workers)
    res["stage"] = [{**run, "decoder": decoder} for decoder in ("auto", "cpu") for run in stage(decoder)]
    ratio, hd_ratio = res["pool"]["fps"] / res["limit"]["fps"], res["hd_pool"]["fps"] / res["hd_limit"]["fps"]
    alone = ", ".join(f"{r['threads']} thread(s) {r['fps']:,.0f}" for r in res["alone"])
    res["summary"] = (
        f"NVDEC alone {alone} frames/s; the decode pool with {workers} CPU workers plus NVDEC "
        f"{res['pool']['fps']:,.0f} frames/s = **{ratio:.2f}x** the CPU decoder's limit with as many processes "
        f"(goal ≥ 1.3x: **{'met' if ratio >= 1.3 else 'missed'}**); on 1080p clips {res['hd_pool']['fps']:,.0f} "
        f"against {res['hd_limit']['fps']:,.0f} = **{hd_ratio:.2f}x** (goal ≥ 3x: "
        f"**{'met' if hd_ratio >= 3 else 'missed'}**); the stage with `decoder: auto` "
        f"{res['stage'][0]['frames_per_second']:,.0f} frames/s, with `cpu` {res['stage'][1]['frames_per_second']:,.0f}"
    )
    return res
