"""Step 4 of extraction, assembling the store: every stored video copied, in manifest order, from the
previous store or the journal parts into a new store written to a temporary file and renamed over ``--out``;
then the failures CSV.

When the previous store already holds exactly what the new one would (the same videos in the same order, with
the same content hashes, labels, splits and groups, the same classes and file options, built with the same
provenance), it is kept as it is: its bytes do not change, so a re-run that changed only how features are
computed (``extract.batch_size``, ``num_workers``, ``processes``...) re-runs nothing downstream in DVC.

Nothing here writes into the previous store, so a store that DVC hard-links from its cache is never
modified; a kill, an exception or a full disk leaves the previous store (or none), never a truncated one.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from framecache import layout
from framecache.errors import FramecacheError
from framecache.features.inputs import ExtractInputs, with_manifest_row
from framecache.features.journal import Source, SourceReader, journal_dir, scan_sources
from framecache.features.store import DEFAULT_CHUNK_ROWS, FeatureStore, StoreWriter
from framecache.fileio import atomic_path, write_csv

log = logging.getLogger("framecache.extract")

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
    sources = scan_sources(out, inputs.expect)
    for source in sources:
        for i, sha in enumerate(source.shas):
            by_sha[sha] = (source, i)  # journal parts come last: the freshest wins
    if sources and sources[0].path == out:
        kept = _kept_as_is(inputs, shas, dict(failed), out, compression)
        if kept is not None:
            log.info("%s already holds exactly these videos and features: kept as it is", out)
            return kept
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


def _stored_positions(shas: list[str], failed: dict[int, str]) -> list[int]:
    """Manifest positions that get a stored video; ``failed`` gains the rows whose content failed elsewhere."""
    failed_shas = {shas[pos]: reason for pos, reason in failed.items() if shas[pos]}
    stored = []
    for pos, sha in enumerate(shas):
        if pos in failed:
            continue
        if sha in failed_shas:
            failed[pos] = failed_shas[sha]
            continue
        stored.append(pos)
    return stored


def _kept_as_is(
    inputs: ExtractInputs, shas: list[str], failed: dict[int, str], out: Path, compression: str
) -> Assembled | None:
    """What the previous store ``out`` holds, when it is exactly the store this run would write (its
    provenance was checked by the caller); else None."""
    stored = _stored_positions(shas, failed)
    m = inputs.manifest
    labels = [int(v) if str(v).strip() else -1 for v in m["label_index"].iloc[stored]]
    want = {
        "video_id": list(m["video_id"].iloc[stored]), "path": list(m["path"].iloc[stored]),
        "split": list(m["split"].iloc[stored]), "group": list(m["group"].iloc[stored]),
        "sha256": [shas[pos] for pos in stored],
    }  # fmt: skip
    with FeatureStore.open(out) as store:
        same = (
            len(store) == len(stored)
            and store.classes == list(inputs.classes)
            and store.attrs.get("compression") == compression
            and store.attrs.get("chunk_rows") == DEFAULT_CHUNK_ROWS
            and store.column("label").tolist() == labels
            and all(store.column(name).tolist() == values for name, values in want.items())
        )
        if not same:
            return None
        frames, usable, policy = store.column("frames"), store.column("frames_usable"), store.column("policy")
        names, counts = np.unique(policy.astype(str), return_counts=True)
        return Assembled(
            failed,
            frames=int(store.videos()["num_samples"].sum()) if len(store) else 0,
            policies={str(n): int(c) for n, c in zip(names, counts, strict=True)},
            truncated=int(np.sum(usable < frames)),
        )


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
    rows = list(inputs.manifest.itertuples())
    for pos in _stored_positions(shas, failed):  # duplicates of a failed video's content failed too
        row, sha = rows[pos], shas[pos]
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
