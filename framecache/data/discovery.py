"""Finding a dataset's videos: where they are, their labels, and any splits or groups the dataset gives.

Three input layouts, tried in this order for a dataset folder:

1. ``manifest.csv`` in the folder (or a CSV file given directly): ``path,label[,split][,group]``, paths relative
   to the CSV's folder or absolute; extra columns are ignored.
2. UCF101-style split lists anywhere up to two levels down: ``trainlist0N.txt`` / ``testlist0N.txt`` (and
   ``classInd.txt`` for the class order), with videos laid out ``root/<class>/<video>``.
3. Plain folders: ``root/<class>/<video>`` (deeper nesting keeps the top folder as the class).

Nothing is opened here: the result is a list of :class:`Candidate` files (probing and hashing them is
:mod:`framecache.data.manifest`'s job) plus every file left out, with the reason.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from framecache.errors import FramecacheError
from framecache.layout import MANIFEST, SPLITS


class DatasetError(FramecacheError):
    """The dataset cannot be indexed or split as asked; the message says why and what to change."""


@dataclass
class Candidate:
    """A file the dataset says is a video, before it has been opened."""

    video_id: str  # stable, unique: POSIX path relative to the dataset root (or as the manifest wrote it)
    file: Path  # absolute path
    label: str
    split: str = ""  # given by a manifest or split list; "" = to be generated
    group: str = ""  # given by a manifest; "" = from the regex or the video itself


@dataclass
class Failure:
    """A file left out of the dataset, and why (a row of failures.csv)."""

    path: str
    reason: str


@dataclass
class Discovery:
    """What a dataset folder (or manifest) holds, before any file is opened."""

    candidates: list[Candidate]
    source: str  # manifest | split_lists | folders
    classes: list[str] | None = None  # fixed class order (classInd.txt), else sorted labels
    failures: list[Failure] = field(default_factory=list)
    ignored_files: int = 0


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
        return read_manifest(dataset)
    if (dataset / MANIFEST).is_file():
        return read_manifest(dataset / MANIFEST)
    lists = find_split_lists(dataset)
    if lists:
        return read_split_lists(dataset, lists, split_list, extensions)
    return scan_folders(dataset, extensions)


def _video_id(file: Path, root: Path) -> str:
    try:
        return file.relative_to(root).as_posix()
    except ValueError:
        return file.as_posix()


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


_LIST_RE = re.compile(r"^(train|test)list(\d+)\.txt$", re.IGNORECASE)


def find_split_lists(root: Path) -> dict[tuple[str, int], Path]:
    """UCF101-style ``trainlistNN.txt``/``testlistNN.txt`` files in the root or up to two levels below it."""
    found: dict[tuple[str, int], Path] = {}
    for depth_glob in ("*", "*/*", "*/*/*"):
        for path in sorted(root.glob(depth_glob)):
            m = _LIST_RE.match(path.name)
            if m and path.is_file():
                found.setdefault((m.group(1).lower(), int(m.group(2))), path)
    return found


def _list_entries(path: Path) -> list[str]:
    # a UCF101 list line is "<class>/<video> [class number]"; Windows-made lists use backslashes
    entries = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        line = line.strip()
        if line:
            entries.append(line.split()[0].replace("\\", "/"))
    return entries


def read_split_lists(
    root: Path, lists: dict[tuple[str, int], Path], index: int, extensions: Sequence[str]
) -> Discovery:
    """The folder layout's videos, each given the split its list names; videos in neither list are left out."""
    if ("train", index) not in lists or ("test", index) not in lists:
        available = sorted({n for (_, n) in lists})
        raise DatasetError(
            f"split lists for prepare.split_list = {index} not found under {root}: need trainlist{index:02d}.txt "
            f"and testlist{index:02d}.txt; available split numbers: {', '.join(map(str, available)) or 'none'}"
        )
    listed: dict[str, str] = {}
    for split in ("train", "test"):
        for entry in _list_entries(lists[(split, index)]):
            listed[entry.lower()] = split
    class_ind = next(iter(sorted(lists[("train", index)].parent.glob("classInd.txt"))), None)
    classes = None
    if class_ind is not None:
        classes = [line.split()[1] for line in class_ind.read_text().splitlines() if len(line.split()) >= 2]
    scanned = scan_folders(root, extensions)
    candidates, failures = [], list(scanned.failures)
    for cand in scanned.candidates:
        split = listed.get(cand.video_id.lower())
        if split is None:
            failures.append(Failure(str(cand.file), f"not in trainlist{index:02d}.txt or testlist{index:02d}.txt"))
            continue
        cand.split = split
        candidates.append(cand)
    return Discovery(candidates, "split_lists", classes, failures, scanned.ignored_files)


def scan_folders(root: Path, extensions: Sequence[str]) -> Discovery:
    """Every video under ``root/<class>/`` (hidden files and folders skipped, other extensions counted)."""
    exts = {e.lower() if e.startswith(".") else f".{e.lower()}" for e in extensions}
    root_abs = root.resolve()
    candidates: list[Candidate] = []
    failures: list[Failure] = []
    ignored = 0
    for dirpath, dirnames, filenames in os.walk(root_abs, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            file = Path(dirpath) / name
            if name.startswith(".") or file.suffix.lower() not in exts:
                ignored += 1
                continue
            rel = file.relative_to(root_abs)
            if len(rel.parts) < 2:
                failures.append(Failure(str(file), "not inside a class folder (expected root/<class>/<video>)"))
                continue
            candidates.append(Candidate(rel.as_posix(), file, rel.parts[0]))
    return Discovery(candidates, "folders", failures=failures, ignored_files=ignored)
