"""Stage 1 (extract): run a backbone over the sampled frames of every video in the manifest into one
provenance-stamped HDF5 feature store — crash-safe, incremental, failure-tolerant. :func:`run_extract` is
what the command calls; it runs the stage as named steps, each in its own module:

1. read the inputs — manifest and classes, checked; the provenance the store must have (:mod:`.inputs`);
2. plan — which videos an earlier store already holds, which to compute, this rank's share (:mod:`.plan`);
3. compute this rank's share into resume-journal parts (:mod:`.runner`, :mod:`.embed`, :mod:`.batching`,
   :mod:`.journal`);
4. assemble the store from the previous store and the journal, in manifest order (:mod:`.assemble`);
5. write the failures CSV and the metrics.

Crash safety: the store is only ever written to a temporary file beside ``--out`` and renamed over it when
complete; computed features are checkpointed in the journal ``.<store name>.journal/``, so a killed run
loses at most one checkpoint interval. For the previous store to survive until the stage runs (and be
reused), **dvc.yaml must declare the store output with ``persist: true``** (DVC otherwise deletes outputs
before running a stage).

Scale-out: under ``torchrun`` every rank runs :func:`run_extract`: rank 0 plans, each rank computes its
shard (:mod:`framecache.features.distributed`) into journal parts of its own, and after the ranks meet, rank 0
assembles the store from the parts exactly as a single process does and writes every output.

Failures: a video that cannot be decoded is recorded (video_id, path, reason) in the failures CSV and the
stage continues; it exits non-zero (a FramecacheError, after writing every output) only when the share of
failed videos exceeds ``extract.max_failure_rate``.
"""

from __future__ import annotations

import dataclasses
import logging
import socket
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from framecache.errors import FramecacheError
from framecache.features import distributed
from framecache.features.assemble import Assembled, assemble_store, write_failures
from framecache.features.embed import ExtractStats
from framecache.features.inputs import read_inputs
from framecache.features.journal import Journal, clear_journal
from framecache.features.plan import Plan, plan_extraction
from framecache.features.runner import ComputeSettings, compute_share, resolve_compute
from framecache.fileio import write_json

log = logging.getLogger("framecache.extract")


def run_extract(
    extract: Mapping[str, Any],
    manifest: str | Path,
    classes: str | Path,
    out: str | Path,
    failures: str | Path,
    metrics: str | Path,
    *,
    progress: bool = True,
    dist: distributed.Context = distributed.SINGLE,
    started: float | None = None,
) -> dict[str, Any]:
    """The extract stage: manifest → feature store + failures CSV + metrics JSON. Returns the metrics.

    Raises FramecacheError (after writing every output) when the failure rate is above the threshold. In a
    torchrun job (``dist``, every rank calls this) only rank 0 writes the outputs and returns the stage's
    metrics; the other ranks return their own counts. ``started``: when the command started (seconds since
    the epoch; by default this call's start), from which the metrics count its start-up.
    """
    wall = time.perf_counter()
    clock = {"started": started or time.time(), "called": time.time()}
    out = Path(out)
    inputs = read_inputs(extract, manifest, classes)
    settings = resolve_compute(extract, dist)
    attrs = settings.store_attrs()
    plan = plan_extraction(inputs, out, dist)
    if dist.is_main:
        log.info(
            "%d videos: %d reused from earlier stores, %d to extract on %s (batch %d, %s; decoding: %s)",
            len(inputs), plan.reused, len(plan.to_compute), settings.device, settings.batch_size, settings.precision,
            settings.decoder,
        )  # fmt: skip
    every = float(extract["checkpoint_seconds"])
    journal = Journal(out, inputs.expect, inputs.classes, every, attrs, prefix=dist.part_prefix)
    clock["planned"] = time.time()
    failed, stats = compute_share(extract, inputs, plan, settings, journal, progress=progress and dist.is_main)
    clock["computed"] = time.time()

    # Every rank's parts are complete files once it gets here; rank 0 alone goes on to write the outputs.
    own = _rank_report(dist, settings, len(plan.mine), failed, stats)
    reports = dist.gather(own)
    if reports is None:
        return _rank_metrics(own)
    failed, stats = _merge_reports(reports)

    assembled = assemble_store(inputs, plan.shas, failed, out, extract["compression"], attrs)
    clock["assembled"] = time.time()
    write_failures(failures, inputs.manifest, assembled.failed)
    clear_journal(out)
    result = _stage_metrics(extract, plan, settings, assembled, stats, time.perf_counter() - wall)
    result |= _timings(clock, stats)
    result["processes"] = dist.world_size
    if dist.distributed:
        result["per_rank"] = {f"rank{r['rank']}": _rank_metrics(r) for r in reports}
    write_json(metrics, result)
    log.info(
        "stored %d videos (%d frames) in %s; %d computed at %.1f frames/s, %d reused, %d failed",
        result["videos_stored"], assembled.frames, out, len(plan.to_compute), result["frames_per_second"],
        plan.reused, result["failures"],
    )  # fmt: skip
    _check_failure_rate(result, float(extract["max_failure_rate"]), failures)
    return result


def _merge_reports(reports: list[dict[str, Any]]) -> tuple[dict[int, str], ExtractStats]:
    """Every rank's failed videos and counters, as one."""
    failed = {pos: reason for report in reports for pos, reason in report["failed"].items()}
    stats = ExtractStats()
    for report in reports:
        stats.add(ExtractStats(**report["stats"]))
    return failed, stats


def _check_failure_rate(result: dict[str, Any], limit: float, failures: str | Path) -> None:
    """Fail the stage (its outputs already written) when more videos failed than ``extract.max_failure_rate``."""
    if result["videos"] and result["failure_rate"] > limit:
        raise FramecacheError(
            f"{result['failures']} of {result['videos']} videos ({result['failure_rate']:.1%}) could not be "
            f"decoded, more than extract.max_failure_rate = {limit}; see {failures} for each video and why"
        )


def _stage_metrics(
    extract: Mapping[str, Any],
    plan: Plan,
    settings: ComputeSettings,
    assembled: Assembled,
    stats: ExtractStats,
    wall_seconds: float,
) -> dict[str, Any]:
    """metrics.json of the stage (``dvc metrics``)."""
    n, failures, policies = len(plan.shas), len(assembled.failed), assembled.policies
    return {
        "videos": n,
        "videos_stored": n - failures,
        "videos_computed": len(plan.to_compute),
        "videos_reused": plan.reused,
        "videos_rehashed": plan.rehashed,
        "failures": failures,
        "failure_rate": failures / n if n else 0.0,
        "frames": assembled.frames,
        "frames_computed": stats.frames,
        "frames_per_second": stats.frames / stats.wall_seconds if stats.wall_seconds > 0 else 0.0,
        "decode_seconds": round(stats.decode_seconds, 3),
        "model_seconds": round(stats.model_seconds, 3),
        "loader_wait_seconds": round(stats.loader_wait_seconds, 3),
        "extract_seconds": round(stats.wall_seconds, 3),
        "wall_seconds": round(wall_seconds, 3),
        "device": settings.device.type,
        "precision": settings.precision,
        "batch_size": settings.batch_size,
        "num_workers": settings.num_workers,
        "decoder": settings.decoder,
        "backbone": extract["backbone"],
        "short_videos": policies.get("keep", 0) + policies.get("repeat", 0),
        "capped_videos": policies.get("capped", 0),
        "truncated_videos": assembled.truncated,
    }


def _timings(clock: Mapping[str, float], stats: ExtractStats) -> dict[str, Any]:
    """The command's time outside the extraction loop (which starts with the decode workers, so the model is
    built while they decode): ``startup_seconds`` from the command's start to the loop's (interpreter,
    imports, inputs and plan), ``teardown_seconds`` from the loop's end to the metrics (journal flush, workers
    stopped, the ranks met, the store assembled); ``phases_seconds`` splits the command. Without a loop
    (nothing to compute) the stage's compute step stands in for it."""
    now = time.time()
    loop_start = stats.loop_started or clock["planned"]
    loop_end = stats.loop_ended or clock["computed"]
    phases = {
        "interpreter_and_imports": clock["called"] - clock["started"],
        "inputs_and_plan": loop_start - clock["called"],
        "extraction_loop": loop_end - loop_start,
        "flush_and_stop_workers": clock["computed"] - loop_end,
        "gather_and_assemble": clock["assembled"] - clock["computed"],
        "outputs": now - clock["assembled"],
    }
    return {
        "startup_seconds": round(loop_start - clock["started"], 3),
        "teardown_seconds": round(now - loop_end, 3),
        "model_build_seconds": round(stats.build_seconds, 3),
        "phases_seconds": {k: round(v, 3) for k, v in phases.items()},
    }


def _rank_report(
    dist: distributed.Context,
    settings: ComputeSettings,
    videos: int,
    failed: dict[int, str],
    stats: ExtractStats,
) -> dict[str, Any]:
    return {
        "rank": dist.rank,
        "host": socket.gethostname(),
        "device": str(settings.device),
        "cpu_threads": settings.threads if settings.threads is not None else torch.get_num_threads(),
        "num_workers": settings.num_workers,
        "videos_computed": videos,
        "failures": len(failed),
        "frames_computed": stats.frames,
        "frames_per_second": stats.frames / stats.wall_seconds if stats.wall_seconds > 0 else 0.0,
        "extract_seconds": round(stats.wall_seconds, 3),
        "decode_seconds": round(stats.decode_seconds, 3),
        "model_seconds": round(stats.model_seconds, 3),
        "stats": dataclasses.asdict(stats),
        "failed": failed,
    }


def _rank_metrics(report: Mapping[str, Any]) -> dict[str, Any]:
    # what metrics.json shows per rank: the raw counters and failure reasons stay out (failures.csv has them)
    return {k: v for k, v in report.items() if k not in ("stats", "failed")}
