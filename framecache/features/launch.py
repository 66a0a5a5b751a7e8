"""How the extract command runs: in this process, as one rank of a torchrun job, or — with
``extract.processes`` > 1 and no torchrun around it (a DVC run) — re-launched under
``torchrun --standalone --nproc-per-node <processes>`` (:mod:`framecache.features.distributed`).

Nothing here imports torch at module level: a process that only re-launches itself never loads it, and
torchrun starts sooner.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from framecache.features import distributed


@dataclass(frozen=True)
class ExtractPaths:
    """The stage's files, as dvc.yaml passes them: inputs from prepare, outputs of extract."""

    manifest: Path
    classes: Path
    out: Path
    failures: Path
    metrics: Path


def run_extract_command(extract: Mapping[str, Any], paths: ExtractPaths, *, module: str, argv: Sequence[str]) -> int:
    """Run the stage; ``python -m module argv`` is how to start this same command again (for torchrun).
    Returns the exit status."""
    if distributed.should_relaunch(extract["processes"]):
        return distributed.relaunch(module, argv, extract["processes"])
    from framecache.features.extraction import run_extract  # loads torch: not needed by a process that only relaunches

    with distributed.process_group(extract["sync_timeout_minutes"]) as ctx:
        run_extract(extract, paths.manifest, paths.classes, paths.out, paths.failures, paths.metrics, dist=ctx)
        # every rank stays until rank 0 has written the store: the job ends when the store is there, and
        # torchrun on the other nodes does not give up waiting for rank 0's node in the meantime (if rank 0
        # fails instead, torchrun stops the job)
        ctx.barrier()
    return 0
