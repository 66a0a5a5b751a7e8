"""The prepared manifest: each candidate probed and hashed, and the rows of ``manifest.csv`` built from them.

Probing (decodable? frames, rate, size, codec) and hashing run in threads: both mostly wait on I/O and FFmpeg.
A file that fails is reported with the reason, never dropped silently. The rows' columns are
:data:`framecache.layout.MANIFEST_COLUMNS`, the contract the extract stage reads.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from framecache.data.discovery import Candidate, Failure
from framecache.errors import VideoError
from framecache.fileio import file_sha256
from framecache.video.probe import VideoInfo, probe


@dataclass
class Indexed:
    """A candidate that opened as a video: what probing found and its content hash."""

    candidate: Candidate
    info: VideoInfo
    sha256: str
    stat: os.stat_result | None = None  # the file when it was hashed (size, mtime): extract re-hashes on change


def probe_candidates(
    candidates: Sequence[Candidate], progress: Callable[[Iterable], Iterable] | None = None, workers: int | None = None
) -> tuple[list[Indexed], list[Failure]]:
    """Probe and hash every candidate (in threads: both mostly wait on I/O and FFmpeg)."""

    def work(cand: Candidate) -> Indexed | Failure:
        try:
            info = probe(cand.file)
            stat = os.stat(cand.file)  # before hashing: a change while hashing then shows as a later mtime
            return Indexed(cand, info, file_sha256(cand.file), stat)
        except VideoError as exc:
            return Failure(str(cand.file), exc.reason)
        except OSError as exc:
            return Failure(str(cand.file), f"cannot read file: {exc.strerror or exc}")

    workers = workers or min(8, 2 * (os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = pool.map(work, candidates)
        if progress is not None:
            results = progress(results)
        indexed, failures = [], []
        for result in results:
            (failures if isinstance(result, Failure) else indexed).append(result)
    return indexed, failures


def class_order(labels: Iterable[str], given: Sequence[str] | None) -> list[str]:
    """Class names in label_index order: a given order (classInd.txt) for the classes present, then the rest
    sorted."""
    present = set(labels)
    order = [c for c in (given or []) if c in present]
    return order + sorted(present - set(order))


def manifest_rows(
    indexed: Sequence[Indexed], groups: Sequence[str], splits: Sequence[str], classes: Sequence[str]
) -> list[dict[str, Any]]:
    """One manifest.csv row per usable video (columns :data:`framecache.layout.MANIFEST_COLUMNS`), by video_id."""
    index = {c: i for i, c in enumerate(classes)}
    rows = []
    for item, group, split in zip(indexed, groups, splits, strict=True):
        info = item.info
        rows.append(
            {
                "video_id": item.candidate.video_id,
                "path": repo_path(item.candidate.file),
                "label": item.candidate.label,
                "label_index": index[item.candidate.label],
                "split": split,
                "group": group,
                "frames": info.frames,
                "fps": round(info.fps, 6),
                "duration": round(info.duration, 6),
                "width": info.width,
                "height": info.height,
                "codec": info.codec,
                "sha256": item.sha256,
                "size": item.stat.st_size if item.stat else "",
                "mtime_ns": item.stat.st_mtime_ns if item.stat else "",
            }
        )
    rows.sort(key=lambda r: r["video_id"])
    return rows


def repo_path(file: Path, cwd: Path | None = None) -> str:
    """How a stage run from the repository root opens the file: relative when inside it, else absolute."""
    # abspath, not resolve(): a symlinked dataset folder should stay addressed through the link
    cwd_abs = Path(os.path.abspath(cwd or Path.cwd()))
    file_abs = Path(os.path.abspath(file))
    try:
        return file_abs.relative_to(cwd_abs).as_posix()
    except ValueError:
        return file_abs.as_posix()
