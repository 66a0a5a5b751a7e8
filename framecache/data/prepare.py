"""The prepare stage's work: index a dataset into the prepared folder the extract stage reads.

Steps: find the candidates (:mod:`framecache.data.discovery`), probe and hash them
(:mod:`framecache.data.manifest`), give each video a group and a leak-free split (:mod:`framecache.data.splits`),
then write ``manifest.csv``, ``classes.txt``, ``class_pairs.csv`` (the dataset's own order-only pairs,
:mod:`framecache.data.class_pairs`), ``failures.csv`` (every file left out, with the reason) and ``summary.json``
(counts per class and split, how split lists or a CSV matched the files, what was left out).
The names are :mod:`framecache.layout`'s.

Files whose bytes are identical but whose labels differ cannot both be right: every copy is left out and listed
in failures.csv. Entries that cannot be read (broken symbolic links, no read permission) are named in a warning
as well as in failures.csv, because ``dvc repro`` hashes the dataset folder before prepare runs and stops there.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tqdm import tqdm

from framecache.data.class_pairs import prepared_pairs, write_class_pairs
from framecache.data.discovery import DatasetError, Discovery, Failure, discover
from framecache.data.manifest import Indexed, class_order, manifest_rows, probe_candidates
from framecache.data.splits import assign_groups, check_no_straddle, check_split_coverage, resolve_splits
from framecache.fileio import write_csv, write_json, write_text
from framecache.layout import (
    CLASS_PAIRS,
    CLASSES,
    FAILURE_COLUMNS,
    FAILURES,
    MANIFEST,
    MANIFEST_COLUMNS,
    SPLITS,
    SUMMARY,
    write_classes_text,
)

log = logging.getLogger("framecache.prepare")
SHOWN = 5  # unreadable files named in the warning


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
    _report_matching(found, dataset)
    _report_unreadable(found, dataset)
    indexed, failures = _index(found, dataset, out)
    indexed, conflicts = drop_conflicting_labels(indexed)
    failures += conflicts
    if not indexed:
        _write_failures(out, failures)
        raise DatasetError(
            f"every decodable video in {dataset} has a byte-identical copy under another label ({conflicts[0].path}: "
            f"{conflicts[0].reason}); all {len(conflicts)} are listed in {out / FAILURES}"
        )
    labels = [i.candidate.label for i in indexed]
    groups = assign_groups(indexed, prep["group_regex"], prep["group_scope"])
    _refuse_train_only(found, [i.candidate.split for i in indexed])
    splits, split_source = resolve_splits(
        labels,
        groups,
        [i.candidate.split for i in indexed],
        val_fraction=prep["val_fraction"],
        test_fraction=prep["test_fraction"],
        seed=params["seed"],
    )
    check_no_straddle(groups, splits)
    check_split_coverage(labels, groups, splits, split_source)

    classes = class_order(labels, found.classes)
    rows = manifest_rows(indexed, groups, splits, classes)
    summary = _summary(found, rows, classes, groups, failures, split_source)
    write_csv(out / MANIFEST, rows, MANIFEST_COLUMNS)
    write_text(out / CLASSES, write_classes_text(classes))
    write_class_pairs(out / CLASS_PAIRS, prepared_pairs(dataset, classes))
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
    known = {f.path for f in failures}
    failures += [f for f in found.unreadable if f.path not in known]
    if not indexed:
        _write_failures(out, failures)
        reasons = Counter(f.reason for f in failures).most_common(2)
        n = len(found.candidates)
        raise DatasetError(
            f"no usable video in {dataset}: "
            + (f"none of the {n} video file(s) decodes; " if n else "")
            + f"{len(failures)} file(s) left out, most often because: "
            + "; ".join(f"{r} ({n})" for r, n in reasons)
            + f". Every file and reason is in {out / FAILURES}"
        )
    return indexed, failures


def _refuse_train_only(found: Discovery, given: Sequence[str]) -> None:
    """Given splits that put every video in train leave nothing to test on: say which file or value to add (the
    per-class message that would follow names every class instead)."""
    if not given or any(s != "train" for s in given):
        return
    what = found.matching.what if found.matching is not None else "the split lists"
    if found.source == "kinetics_csv":
        raise DatasetError(
            f"every row of {what} is in train (by its split column, or by the file name train.csv), so nothing is "
            "left to test on: add validate.csv (the same columns) beside it, whose rows become the test split as "
            "Kinetics reports results on its validate set (validation is then carved out of train by group); or "
            "give some rows split = val or test; or, to have train/val/test generated by group, rename the file "
            "(its name makes every row train) and leave the split column empty"
        )
    if found.source == "manifest":
        raise DatasetError(
            f"{what} gives split = train for every video, so nothing is left to test on: set split = test (and "
            "val, else validation is carved out of train) for some groups, or leave the split column empty (or "
            "drop it) to have train/val/test generated by group"
        )
    raise DatasetError(
        f"{what} put every video in train, so nothing is left to test on: list test videos (UCF101: "
        "testlist0N.txt; HMDB51: code 2 in <class>_test_splitN.txt)"
    )


def _report_matching(found: Discovery, dataset: Path) -> None:
    """Say how a list or CSV matched the files found: always the count; examples of each side when incomplete."""
    if found.matching is None:
        return
    if found.matching.complete:
        log.info("%s", found.matching.message(dataset))
    else:
        # a manifest may list a subset on purpose: its unlisted files are not failures, its missing files are
        where = "missing files are" if found.source == "manifest" else "each is"
        log.warning("%s (%s listed in failures.csv)", found.matching.message(dataset), where)


def _report_unreadable(found: Discovery, dataset: Path) -> None:
    if not found.unreadable:
        return
    shown = "; ".join(f"{f.path} ({f.reason})" for f in found.unreadable[:SHOWN])
    more = f" and {len(found.unreadable) - SHOWN} more" if len(found.unreadable) > SHOWN else ""
    log.warning(
        "%d unreadable entr(ies) in %s: %s%s. They are left out here, but `dvc repro` hashes the whole dataset "
        "folder before prepare runs and stops at them: delete them, restore their targets or fix their permissions "
        "(or, for a dataset inside the repository, list them in the repository's .dvcignore)",
        len(found.unreadable),
        dataset,
        shown,
        more,
    )


def drop_conflicting_labels(indexed: Sequence[Indexed]) -> tuple[list[Indexed], list[Failure]]:
    """Leave out every copy of content found under two or more labels, each recorded with the other copies."""
    by_hash: dict[str, list[Indexed]] = defaultdict(list)
    for item in indexed:
        by_hash[item.sha256].append(item)
    bad = {h for h, items in by_hash.items() if len({i.candidate.label for i in items}) > 1}
    kept, failures = [], []
    for item in indexed:
        if item.sha256 not in bad:
            kept.append(item)
            continue
        others = [f"{o.candidate.video_id} ({o.candidate.label})" for o in by_hash[item.sha256] if o is not item]
        failures.append(
            Failure(
                str(item.candidate.file),
                f"conflicting labels: labelled {item.candidate.label!r}, but the same bytes are "
                f"{', '.join(others)}; every copy is left out: delete or relabel the wrong one",
            )
        )
    return kept, failures


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
    lost_classes = sorted(({c.label for c in found.candidates} | set(found.unmatched_classes)) - set(classes))
    conflicts = sum(1 for f in failures if f.reason.startswith("conflicting labels"))
    m = found.matching
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
        # counts only: the files themselves, with the reason, are in failures.csv
        "conflicting_label_videos": conflicts,
        "unreadable_entries": len(found.unreadable),
        "list_matching": f"{m.matched} of {m.listed} listed videos found ({m.what})" if m else "",
        "matching": m.as_dict() if m else None,
    }


def _write_failures(out: Path, failures: Sequence[Failure]) -> None:
    write_csv(out / FAILURES, ({"path": f.path, "reason": f.reason} for f in failures), FAILURE_COLUMNS)
