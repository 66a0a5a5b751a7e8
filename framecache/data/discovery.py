"""Finding a dataset's videos: where they are, their labels, and any splits or groups the dataset gives.

Layouts, tried in this order for a dataset folder (``paths.dataset``):

1. ``manifest.csv`` in the folder (or a CSV file given directly): ``path,label[,split][,group]``, paths relative
   to the CSV's folder or absolute; extra columns are ignored. A CSV with Kinetics' columns
   (``label,youtube_id,time_start,time_end[,split]``) is read as 2.
2. Kinetics-style CSVs in the folder or one level down (:mod:`framecache.data.kinetics`).
3. UCF101 split lists ``trainlist0N.txt`` / ``testlist0N.txt`` (+ ``classInd.txt``) up to two levels down, e.g.
   ``UCF-101/`` and ``ucfTrainTestlist/`` unpacked side by side (:mod:`framecache.data.split_lists`).
4. HMDB51 split files ``<class>_test_splitN.txt`` up to two levels down (same module).
5. Plain folders: ``root/<class>/<video>`` (deeper nesting keeps the top folder as the class).

Nothing is opened here: the result is a list of candidate files (probing and hashing them is
:mod:`framecache.data.manifest`'s job) plus every file left out, with the reason, and for the list-driven
layouts how many list entries matched a file.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from framecache.data.candidates import (
    Candidate,
    DatasetError,
    Discovery,
    Failure,
    Matching,
    scan_folders,
    walk,
)
from framecache.data.candidates import video_id as _video_id
from framecache.data.kinetics import find_kinetics_csvs, is_kinetics, read_header, read_kinetics
from framecache.data.split_lists import find_hmdb_splits, find_split_lists, read_hmdb51, read_ucf101
from framecache.layout import MANIFEST, SPLITS

__all__ = ["Candidate", "DatasetError", "Discovery", "Failure", "Matching", "discover", "read_manifest"]

log = logging.getLogger("framecache.prepare")


def discover(dataset: Path, extensions: Sequence[str], split_list: int) -> Discovery:
    """Find the videos of a dataset folder (or manifest CSV), with labels and any given splits/groups."""
    dataset = Path(dataset)
    if not dataset.exists():
        raise DatasetError(f"dataset {str(dataset)!r} does not exist (params: paths.dataset)")
    if dataset.is_file():
        if dataset.suffix.lower() != ".csv":
            raise DatasetError(
                f"dataset {str(dataset)!r} is a file but not a .csv manifest (params: paths.dataset): give a "
                "folder of videos or a CSV with columns path,label[,split][,group]"
            )
        return _read_csv(dataset, None, extensions)
    if (dataset / MANIFEST).is_file():
        return _read_csv(dataset / MANIFEST, dataset, extensions)
    kinetics = find_kinetics_csvs(dataset)
    if kinetics:
        return read_kinetics(kinetics, dataset, extensions)
    lists = find_split_lists(dataset)
    if lists:
        return read_ucf101(dataset, lists, split_list, extensions)
    hmdb = find_hmdb_splits(dataset)
    if hmdb:
        return read_hmdb51(dataset, hmdb, split_list, extensions)
    _hint_lists_beside(dataset)
    return scan_folders(dataset, extensions)


def _read_csv(csv_path: Path, folder: Path | None, extensions: Sequence[str]) -> Discovery:
    """A manifest or Kinetics CSV; ``folder`` is the dataset folder holding it (None: a CSV given directly)."""
    if is_kinetics(read_header(csv_path)):
        return read_kinetics([csv_path], csv_path.parent, extensions)
    found = read_manifest(csv_path)
    _match_manifest(found, csv_path, folder, extensions)
    return found


def _match_manifest(found: Discovery, csv_path: Path, folder: Path | None, extensions: Sequence[str]) -> None:
    """How many listed files exist (and, for a dataset folder, which videos in it no row names); none is an error.

    Missing files stay candidates: probing records each as "file not found" in failures.csv.
    """
    missing = [c.video_id for c in found.candidates if not os.path.lexists(c.file)]
    unlisted: list[str] = []
    total = None
    if folder is not None:
        root = folder.resolve()
        scanned = walk(root, extensions)
        listed = {os.path.normcase(os.path.abspath(c.file)) for c in found.candidates}
        unlisted = [_video_id(f, root) for f in scanned.videos if os.path.normcase(str(f)) not in listed]
        total = len(scanned.videos)
        found.unreadable = scanned.unreadable
    n = len(found.candidates)
    found.matching = Matching(csv_path.name, "path", n, total, n - len(missing), missing, unlisted)
    if n and len(missing) == n:
        raise DatasetError(
            f"none of the files the manifest names exists: {found.matching.message(csv_path.parent)}. Paths in "
            f"{csv_path} are relative to its folder (or absolute)"
        )


def _hint_lists_beside(dataset: Path) -> None:
    """paths.dataset = UCF-101/ itself works as class folders; say where the official splits would come from."""
    parent = dataset.resolve().parent
    beside = sorted(parent.glob("*/trainlist0[1-3].txt"))
    if beside:
        log.warning(
            "%s holds no split lists, so splits are generated by group; official split lists sit beside it in "
            "%s: set paths.dataset to %s to use them",
            dataset,
            beside[0].parent,
            parent,
        )


def read_manifest(csv_path: Path) -> Discovery:
    """Candidates listed by a user's manifest CSV (``path,label[,split][,group]``); bad rows become failures."""
    try:
        table = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DatasetError(f"manifest {csv_path} cannot be read as CSV: {exc}") from None
    table.columns = [c.strip().lower() for c in table.columns]
    missing = [c for c in ("path", "label") if c not in table.columns]
    if missing:
        raise DatasetError(
            f"manifest {csv_path} lacks column(s) {', '.join(missing)}: expected path,label[,split][,group], "
            f"found {','.join(table.columns)}"
        )
    root = csv_path.parent.resolve()
    candidates: list[Candidate] = []
    failures: list[Failure] = []
    seen: dict[str, int] = {}
    for i, row in enumerate(table.itertuples(index=False), start=2):  # line 1 is the header
        raw_path, label = str(row.path).strip(), str(row.label).strip()
        if not raw_path or not label:
            failures.append(Failure(raw_path or f"{csv_path}:{i}", f"manifest line {i}: empty path or label"))
            continue
        file = Path(raw_path) if os.path.isabs(raw_path) else root / raw_path
        video_id = _video_id(file, root)
        if video_id in seen:
            raise DatasetError(f"manifest {csv_path} lists {raw_path!r} twice (lines {seen[video_id]} and {i})")
        seen[video_id] = i
        split = str(getattr(row, "split", "")).strip().lower()
        if split and split not in SPLITS:
            raise DatasetError(
                f"manifest {csv_path} line {i}: split = {split!r} is not allowed: expected one of "
                f"{', '.join(SPLITS)} (or empty)"
            )
        candidates.append(Candidate(video_id, file, label, split, str(getattr(row, "group", "")).strip()))
    return Discovery(candidates, "manifest", failures=failures)
