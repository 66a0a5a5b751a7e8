"""The prepare stage's work: index a dataset into the prepared folder the extract stage reads.

Steps: find the candidates (:mod:`framecache.data.discovery`), probe and hash them
(:mod:`framecache.data.manifest`), give each video a group and a leak-free split (:mod:`framecache.data.splits`),
then write ``manifest.csv``, ``classes.txt``, ``failures.csv`` (every file left out, with the reason) and
``summary.json`` (counts per class and split). The names are :mod:`framecache.layout`'s.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tqdm import tqdm

from framecache.data.discovery import DatasetError, Discovery, Failure, discover
from framecache.data.manifest import Indexed, class_order, manifest_rows, probe_candidates
from framecache.data.splits import assign_groups, check_no_straddle, check_split_coverage, resolve_splits
from framecache.fileio import write_csv, write_json, write_text
from framecache.layout import (
    CLASSES,
    FAILURE_COLUMNS,
    FAILURES,
    MANIFEST,
    MANIFEST_COLUMNS,
    SPLITS,
    SUMMARY,
    write_classes_text,
)


def prepare_dataset(dataset: Path, out: Path, params: Mapping[str, Any]) -> dict[str, Any]:
    """Index ``dataset`` into ``out`` as the ``prepare`` and ``seed`` params say; returns the summary."""
    dataset, out = Path(dataset), Path(out)
    prep = params["prepare"]
    found = discover(dataset, prep["extensions"], prep["split_list"])
    if not found.candidates and not found.failures:
        raise DatasetError(
            f"no videos found in {dataset} (looked for {', '.join(prep['extensions'])} under root/<class>/, "
            "a manifest.csv, or split lists)"
        )
    indexed, failures = _index(found, dataset, out)
    labels = [i.candidate.label for i in indexed]
    groups = assign_groups(indexed, prep["group_regex"])
    splits, split_source = resolve_splits(
        labels,
        groups,
        [i.candidate.split for i in indexed],
        val_fraction=prep["val_fraction"],
        test_fraction=prep["test_fraction"],
        seed=params["seed"],
    )
    check_no_straddle(groups, splits)
    check_split_coverage(labels, groups, splits)

    classes = class_order(labels, found.classes)
    rows = manifest_rows(indexed, groups, splits, classes)
    summary = _summary(found, rows, classes, groups, failures, split_source)
    write_csv(out / MANIFEST, rows, MANIFEST_COLUMNS)
    write_text(out / CLASSES, write_classes_text(classes))
    _write_failures(out, failures)
    write_json(out / SUMMARY, summary)
    return summary


def _index(found: Discovery, dataset: Path, out: Path) -> tuple[list[Indexed], list[Failure]]:
    """Probe and hash the candidates; every failure so far, and an error (after writing them) when none opens."""
    indexed, probe_failures = probe_candidates(
        found.candidates,
        progress=lambda it: tqdm(it, total=len(found.candidates), desc="probing videos", unit="video", leave=False),
    )
    failures = found.failures + probe_failures
    if not indexed:
        _write_failures(out, failures)
        raise DatasetError(
            f"none of the {len(found.candidates)} files in {dataset} is a decodable video; reasons are in "
            f"{out / FAILURES}"
        )
    return indexed, failures


def _summary(
    found: Discovery,
    rows: Sequence[dict[str, Any]],
    classes: Sequence[str],
    groups: Sequence[str],
    failures: Sequence[Failure],
    split_source: str,
) -> dict[str, Any]:
    """summary.json: where the videos and splits came from, counts per split and per class, what was lost."""
    per_class = {c: {s: 0 for s in SPLITS} for c in classes}
    for r in rows:
        per_class[r["label"]][r["split"]] += 1
    lost_classes = sorted({c.label for c in found.candidates} - set(classes))
    return {
        "source": found.source,
        "split_source": split_source,
        "videos": len(rows),
        "classes": len(classes),
        "groups": len(set(groups)),
        "failures": len(failures),
        "ignored_files": found.ignored_files,
        "per_split": dict(Counter(r["split"] for r in rows)),
        "per_class": per_class,
        "classes_without_usable_videos": lost_classes,
        "duplicate_content_videos": len(rows) - len({r["sha256"] for r in rows}),
    }


def _write_failures(out: Path, failures: Sequence[Failure]) -> None:
    write_csv(out / FAILURES, ({"path": f.path, "reason": f.reason} for f in failures), FAILURE_COLUMNS)
