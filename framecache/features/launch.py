"""How the extract command runs: in this process, as one rank of a torchrun job, or — with more than one
process asked for (``extract.processes``, or what ``auto`` resolves to) and no torchrun around it (a DVC run) —
re-launched under ``torchrun --standalone --nproc-per-node <processes>`` (:mod:`framecache.features.distributed`).

``processes: auto`` picks the arrangement measured fastest (BENCHMARKS.md, "Decoding" and "Scale-out"): one
process per GPU; on CPU, one single-thread process per core, because two single-thread copies of the model
outrun one copy with two threads (intra-op threading loses about a fifth, and the decode workers disturb a
multi-threaded forward pass more). Starting more processes costs seconds (an interpreter, torch and the model
per rank), so a run listing fewer than :data:`AUTO_MIN_FRAMES` sampled frames keeps one process with torch's
threads.

Nothing here imports torch at module level: with a number of processes set, a process that only re-launches
itself never loads it, and torchrun starts sooner.
"""

from __future__ import annotations

import contextlib
import csv
import logging
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from framecache.compute import available_cores, resolve_device
from framecache.features import distributed

log = logging.getLogger(__name__)

# Below this many sampled frames listed, ``auto`` keeps one process. Measured on 2 cores (BENCHMARKS.md,
# "Decoding"): on 120 s clips with a keyframe every 12 frames, two single-thread processes decoding inline
# extract 25-50 % more frames/s than one; torchrun, a second interpreter and the rank set-up added ~5 s to the
# command in one run (break-even near 1,400 frames) and nothing measurable in the next; with a keyframe every
# 250 frames decoding bounds the run and they gain nothing. About 3x that break-even, so a small run (a
# student's 70 clips) stays one plain process.
AUTO_MIN_FRAMES = 4096
# What one CPU extraction process and its decode workers hold (1.9 GB measured, BENCHMARKS.md "Extract"), with
# room: ``auto`` never starts more processes than the machine's memory holds.
PROCESS_MEMORY_BYTES = 2.5 * 1024**3
# The command's start (seconds since the epoch), passed to the ranks of a relaunch: their metrics count
# start-up from the command's start, torchrun's own included.
STARTED_ENV = "FRAMECACHE_COMMAND_STARTED"


@dataclass(frozen=True)
class ExtractPaths:
    """The stage's files, as dvc.yaml passes them: inputs from prepare, outputs of extract."""

    manifest: Path
    classes: Path
    out: Path
    failures: Path
    metrics: Path


def listed_frames(extract: Mapping[str, Any], manifest: Path) -> int:
    """At most how many frames the manifest's videos give: uniform sampling keeps ``num_frames`` per video,
    fps and all sampling up to ``max_frames``."""
    try:
        with open(manifest, newline="", encoding="utf-8") as f:
            videos = sum(1 for _ in csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error):
        return 0  # one process, which reports the unreadable manifest in the stage's own words
    per_video = extract["num_frames"] if extract["sampling"] == "uniform" else extract["max_frames"]
    return videos * int(per_video)


def _memory_bytes() -> float:
    try:
        return float(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):  # not on this platform: memory does not limit the count
        return float("inf")


def auto_processes(extract: Mapping[str, Any], frames: int) -> tuple[int, str]:
    """``(processes, why)`` for ``extract.processes: auto`` on this machine, for a run of ``frames`` frames."""
    device = resolve_device(extract["device"], "extract.device")
    if device.type == "cuda":
        import torch

        gpus = torch.cuda.device_count()
        return gpus, f"one per GPU ({gpus} visible)"
    cores, threads = available_cores(), int(extract.get("cpu_threads") or 1)
    fits = max(1, int(_memory_bytes() // PROCESS_MEMORY_BYTES))
    n = max(1, min(cores // threads, fits))
    if n > 1 and frames < AUTO_MIN_FRAMES:
        return 1, f"{frames} frames listed, under the {AUTO_MIN_FRAMES} that repay starting more processes"
    why = f"{cores} cores, {threads} thread(s) each" + (f", memory for {fits}" if fits < cores // threads else "")
    return n, why


def resolve_processes(extract: Mapping[str, Any], manifest: Path) -> int:
    """The number of extraction processes to run: ``extract.processes``, or what ``auto`` picks."""
    if extract["processes"] != "auto":
        return int(extract["processes"])
    processes, why = auto_processes(extract, listed_frames(extract, manifest))
    # one process is the plain run: said only at debug level, so a stage that then stops on an error prints
    # that error alone; more processes change how the run looks (torchrun's lines), so they are announced
    (log.info if processes > 1 else log.debug)("extract.processes: auto → %d process(es): %s", processes, why)
    return processes


def command_started() -> float:
    """When the command started (seconds since the epoch): this process's start, or, in a rank that torchrun
    started for the command, the start the command passed on (:data:`STARTED_ENV`)."""
    with contextlib.suppress(KeyError, ValueError):
        return float(os.environ[STARTED_ENV])
    return process_started()


def process_started() -> float:
    """This process's start time (seconds since the epoch) from /proc, to the kernel's clock tick; the present
    where /proc does not say (then start-up counts from the stage's own start)."""
    try:
        with open("/proc/self/stat", encoding="ascii") as f:
            ticks = int(f.read().rsplit(")", 1)[1].split()[19])  # field 22, starttime, after the command name
        with open("/proc/stat", encoding="ascii") as f:
            boot = next(int(line.split()[1]) for line in f if line.startswith("btime "))
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return time.time()


def run_extract_command(extract: Mapping[str, Any], paths: ExtractPaths, *, module: str, argv: Sequence[str]) -> int:
    """Run the stage; ``python -m module argv`` is how to start this same command again (for torchrun).
    Returns the exit status."""
    started = command_started()
    if not distributed.launched_by_torchrun():
        processes = resolve_processes(extract, paths.manifest)
        if processes > 1:
            return distributed.relaunch(module, argv, processes, env={STARTED_ENV: repr(started)})
    from framecache.features.extraction import run_extract  # loads torch: not needed by a process that only relaunches

    with distributed.process_group(extract["sync_timeout_minutes"]) as ctx:
        files = (paths.manifest, paths.classes, paths.out, paths.failures, paths.metrics)
        run_extract(extract, *files, dist=ctx, started=started)
        # every rank stays until rank 0 has written the store: the job ends when the store is there, and
        # torchrun on the other nodes does not give up waiting for rank 0's node in the meantime (if rank 0
        # fails instead, torchrun stops the job)
        ctx.barrier()
    return 0
