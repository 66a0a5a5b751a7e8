"""Step 2 of extraction, the plan: which manifest videos can be copied from an earlier store (same content
hash, same provenance) and which must be computed, and this rank's share of the latter.

A video is copied instead of recomputed when the previous store at ``--out`` or a journal part holds a video
with the same content hash built with the same provenance. The content hash is the manifest's ``sha256``
unless the file changed since prepare hashed it — its size or modification time differ from the manifest's
``size`` and ``mtime_ns`` (a video replaced in place without prepare re-running) — or the manifest has none:
then the file is hashed here, so a changed video is computed again, never reused stale. Library versions and
the compute device are recorded but do not invalidate a store.
Two manifest rows with the same content are computed once. Rank 0 alone decides what is left and
broadcasts it, so other ranks' parts appearing meanwhile cannot make the shards disagree.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from framecache.features import distributed
from framecache.features.batching import VideoJob
from framecache.features.inputs import ExtractInputs
from framecache.features.journal import remove_stray_temps, scan_sources
from framecache.fileio import file_sha256

log = logging.getLogger("framecache.extract")


@dataclass
class Plan:
    """``shas[pos]``: content hash of manifest row ``pos`` ("" when unreadable); ``to_compute``: the videos no
    earlier store holds (every rank's); ``mine``: this rank's share of them."""

    shas: list[str]
    to_compute: list[VideoJob]
    mine: list[VideoJob]
    rehashed: int = 0  # videos whose file changed since prepare, hashed again

    @property
    def reused(self) -> int:
        return len(self.shas) - len(self.to_compute)


def plan_extraction(inputs: ExtractInputs, out: Path, dist: distributed.Context) -> Plan:
    shas: list[str] = []
    to_compute: list[VideoJob] = []
    rehashed = 0
    if dist.is_main:
        remove_stray_temps(out)
        # content hashes decide reuse; a row without one, or whose file changed since prepare, is hashed here
        changed = [_changed_since_prepare(row) for row in inputs.manifest.itertuples()]
        shas = [
            _safe_sha(row.path) if again or not row.sha256 else row.sha256
            for row, again in zip(inputs.manifest.itertuples(), changed, strict=True)
        ]
        rehashed = sum(changed)
        if rehashed:
            log.info("%d video(s) changed since prepare (size or modification time): hashed again", rehashed)
        to_compute = _left_to_compute(inputs.manifest, shas, _reusable_shas(out, inputs.expect))
    shas, to_compute, rehashed = dist.broadcast((shas, to_compute, rehashed))
    return Plan(shas, to_compute, _my_share(inputs, shas, to_compute, dist), rehashed)


def _changed_since_prepare(row: Any) -> bool:
    """Whether the file's size or mtime differ from what the manifest recorded (False when it recorded none,
    or the file cannot be read: decoding then records why)."""
    size, mtime = str(getattr(row, "size", "")).strip(), str(getattr(row, "mtime_ns", "")).strip()
    if not size and not mtime:
        return False
    try:
        stat = os.stat(row.path)
    except OSError:
        return False
    return (bool(size) and str(stat.st_size) != size) or (bool(mtime) and str(stat.st_mtime_ns) != mtime)


def _reusable_shas(out: Path, expect: Mapping[str, Any]) -> set[str]:
    """Content hashes of the videos that earlier stores valid for ``expect`` hold."""
    return {sha for source in scan_sources(out, expect) for sha in source.shas if sha}


def _left_to_compute(manifest: Any, shas: list[str], reusable: set[str]) -> list[VideoJob]:
    seen: set[str] = set()
    jobs = []
    for pos, sha in enumerate(shas):
        if sha and (sha in reusable or sha in seen):
            continue
        if sha:
            seen.add(sha)
        jobs.append(VideoJob(pos=pos, path=manifest["path"].iat[pos]))
    return jobs


def _my_share(
    inputs: ExtractInputs, shas: list[str], to_compute: list[VideoJob], dist: distributed.Context
) -> list[VideoJob]:
    """This rank's videos, balanced by source frame count (what decoding costs)."""
    if not dist.distributed:
        return to_compute
    df = inputs.manifest
    keys = [shas[job.pos] or df["video_id"].iat[job.pos] for job in to_compute]
    weights = [_frame_count(df["frames"].iat[job.pos]) for job in to_compute]
    mine = [to_compute[i] for i in distributed.shard(keys, weights, dist.world_size)[dist.rank]]
    log.info("rank %d of %d: %d of the %d videos to extract", dist.rank, dist.world_size, len(mine), len(to_compute))
    return mine


def _frame_count(value: Any) -> int:
    """The manifest's frame count, or 0 when it has none (a file prepare could not probe)."""
    try:
        return max(0, int(float(value)))
    except (TypeError, ValueError):
        return 0


def _safe_sha(path: str) -> str:
    try:
        return file_sha256(path)
    except OSError:
        return ""  # unreadable: decoding will record why
