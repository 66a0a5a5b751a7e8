"""Step 4 of extraction, assembling the store: every stored video copied, in manifest order, from the
previous store or the journal parts into a new store written to a temporary file and renamed over ``--out``;
then the failures CSV.

Nothing here writes into the previous store, so a store that DVC hard-links from its cache is never
modified; a kill, an exception or a full disk leaves the previous store (or none), never a truncated one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from framecache import layout
from framecache.errors import FramecacheError
from framecache.features.inputs import ExtractInputs, with_manifest_row
from framecache.features.journal import Source, SourceReader, journal_dir, scan_sources
from framecache.features.store import StoreWriter
from framecache.fileio import atomic_path, write_csv

# extract's failures CSV (prepare's has no video_id: its failures never became videos)


@dataclass
class Assembled:
    """What went into the store. ``failed``: manifest position → reason, including rows whose content is
    the same as a video that failed."""

    failed: dict[int, str]
    frames: int = 0
    policies: dict[str, int] = field(default_factory=dict)
    truncated: int = 0


def assemble_store(
    inputs: ExtractInputs,
    shas: list[str],
    failed: Mapping[int, str],
    out: Path,
    compression: str,
    attrs: Mapping[str, Any],
) -> Assembled:
    by_sha: dict[str, tuple[Source, int]] = {}
    for source in scan_sources(out, inputs.expect):
        for i, sha in enumerate(source.shas):
            by_sha[sha] = (source, i)  # journal parts come last: the freshest wins
    try:
        with (
            SourceReader() as reader,
            atomic_path(out) as tmp,
            StoreWriter(tmp, inputs.expect, inputs.classes, compression=compression, extra_attrs=attrs) as writer,
        ):
            return _copy_videos(inputs, shas, dict(failed), by_sha, reader, writer, out)
    except OSError as exc:
        raise FramecacheError(
            f"could not write feature store {out}: {exc}. The previous store (if any) is untouched; free "
            "disk space and re-run `dvc repro extract` (computed features are kept in "
            f"{journal_dir(out)} and will be reused)"
        ) from exc


def _copy_videos(
    inputs: ExtractInputs,
    shas: list[str],
    failed: dict[int, str],
    by_sha: Mapping[str, tuple[Source, int]],
    reader: SourceReader,
    writer: StoreWriter,
    out: Path,
) -> Assembled:
    result = Assembled(failed)
    # duplicates of a failed video's content failed too
    failed_shas = {shas[pos]: reason for pos, reason in failed.items() if shas[pos]}
    for pos, row in enumerate(inputs.manifest.itertuples()):
        if pos in failed:
            continue
        sha = shas[pos]
        if sha in failed_shas:
            failed[pos] = failed_shas[sha]
            continue
        if sha not in by_sha:
            raise FramecacheError(
                f"video {row.video_id} has no features: neither the previous store nor the resume journal "
                f"{journal_dir(out)} holds them any more (a part deleted or unreadable while the "
                "stage ran?); re-run `dvc repro extract` to compute them again"
            )
        source, i = by_sha[sha]
        video = with_manifest_row(reader.record(source, i), inputs.manifest, pos, sha)
        writer.append(video)
        result.frames += len(video.features)
        result.policies[video.policy] = result.policies.get(video.policy, 0) + 1
        result.truncated += int(video.frames_usable < video.frames)
    return result


def write_failures(path: str | Path, manifest: Any, failed: Mapping[int, str]) -> None:
    rows = [
        {"video_id": manifest["video_id"].iat[pos], "path": manifest["path"].iat[pos], "reason": failed[pos]}
        for pos in sorted(failed)
    ]
    write_csv(path, rows, layout.EXTRACT_FAILURE_COLUMNS)
