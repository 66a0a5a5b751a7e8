"""Indexing a video dataset: where the videos are, their labels and groups, and a leak-free train/val/test split.

Three input layouts, tried in this order for a dataset folder:

1. ``manifest.csv`` in the folder (or a CSV file given directly): ``path,label[,split][,group]``, paths relative
   to the CSV's folder or absolute; extra columns are ignored.
2. UCF101-style split lists anywhere up to two levels down: ``trainlist0N.txt`` / ``testlist0N.txt`` (and
   ``classInd.txt`` for the class order), with videos laid out ``root/<class>/<video>``.
3. Plain folders: ``root/<class>/<video>`` (deeper nesting keeps the top folder as the class).

Every candidate is probed (decodable? frames, rate, size) and hashed. Files that fail are reported with the
reason, never dropped silently. Groups come from the manifest, else from ``group_regex`` on the file name
(UCF101's ``_g08_``), else each video is its own group; videos with identical bytes are merged into one group
because a copy on both sides of a split is a leak like any other. Splits come from the manifest or the split
lists when given; otherwise groups are dealt to train/val/test greedily by each class's remaining deficit,
which hits the requested fractions per class far closer than k-fold splitters can for arbitrary fractions.
A group found in two splits is an error.
"""

from __future__ import annotations

import os
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from framecache.errors import FramecacheError, VideoError
from framecache.fileio import file_sha256
from framecache.video.probe import VideoInfo, probe

SPLITS = ("train", "val", "test")
MANIFEST_NAME = "manifest.csv"
MANIFEST_COLUMNS = (
    "video_id", "path", "label", "label_index", "split", "group",
    "frames", "fps", "duration", "width", "height", "codec", "sha256",
)  # fmt: skip


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
    path: str
    reason: str


@dataclass
class Discovery:
    candidates: list[Candidate]
    source: str  # manifest | split_lists | folders
    classes: list[str] | None = None  # fixed class order (classInd.txt), else sorted labels
    failures: list[Failure] = field(default_factory=list)
    ignored_files: int = 0


# --------------------------------------------------------------------------------------------------------
# Discovery


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
    if (dataset / MANIFEST_NAME).is_file():
        return read_manifest(dataset / MANIFEST_NAME)
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
    entries = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        line = line.strip()
        if line:
            entries.append(line.split()[0].replace("\\", "/"))
    return entries


def read_split_lists(
    root: Path, lists: dict[tuple[str, int], Path], index: int, extensions: Sequence[str]
) -> Discovery:
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


# --------------------------------------------------------------------------------------------------------
# Probing


@dataclass
class Indexed:
    candidate: Candidate
    info: VideoInfo
    sha256: str


def probe_candidates(
    candidates: Sequence[Candidate], progress: Callable[[Iterable], Iterable] | None = None, workers: int | None = None
) -> tuple[list[Indexed], list[Failure]]:
    """Probe and hash every candidate (in threads: both mostly wait on I/O and FFmpeg)."""

    def work(cand: Candidate) -> Indexed | Failure:
        try:
            info = probe(cand.file)
            return Indexed(cand, info, file_sha256(cand.file))
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


# --------------------------------------------------------------------------------------------------------
# Groups and splits


def assign_groups(items: Sequence[Indexed], group_regex: str) -> list[str]:
    """Group of each video: manifest group, else regex capture on the file name, else the video itself;
    then videos with identical content are merged into one group."""
    pattern = re.compile(group_regex)
    groups = []
    for item in items:
        cand = item.candidate
        if cand.group:
            groups.append(cand.group)
            continue
        m = pattern.search(cand.file.name)
        groups.append(m.group(1) if m and m.groups() else m.group(0) if m else cand.video_id)
    # union-find over "same group" and "same bytes"
    parent = {g: g for g in groups}

    def find(g: str) -> str:
        while parent[g] != g:
            parent[g] = parent[parent[g]]
            g = parent[g]
        return g

    by_hash: dict[str, str] = {}
    for item, g in zip(items, groups, strict=True):
        first = by_hash.setdefault(item.sha256, g)
        a, b = find(first), find(g)
        if a != b:
            parent[max(a, b)] = min(a, b)  # deterministic representative
    return [find(g) for g in groups]


def check_no_straddle(groups: Sequence[str], splits: Sequence[str]) -> None:
    seen: dict[str, set[str]] = defaultdict(set)
    for g, s in zip(groups, splits, strict=True):
        seen[g].add(s)
    bad = {g: sorted(s) for g, s in seen.items() if len(s) > 1}
    if bad:
        shown = "; ".join(f"group {g!r} in {', '.join(s)}" for g, s in list(bad.items())[:5])
        raise DatasetError(
            f"{len(bad)} group(s) land in more than one split, which leaks between train and test: {shown}"
            f"{' …' if len(bad) > 5 else ''}. Fix the split/group columns (videos with identical content "
            "count as one group)."
        )


def generate_splits(
    labels: Sequence[str],
    groups: Sequence[str],
    fractions: dict[str, float],
    seed: int,
    fixed: Sequence[str] | None = None,
) -> list[str]:
    """Deal whole groups to splits so every class approaches its target share in each split.

    ``fractions`` maps split name to its share; ``fixed`` (optional) gives splits already decided ("" = free):
    groups holding a fixed video stay where they are and only the free groups are dealt.
    """
    labels, groups = list(labels), list(groups)
    names = list(fractions)
    fixed = list(fixed) if fixed is not None else [""] * len(labels)
    classes = sorted(set(labels))
    ci = {c: i for i, c in enumerate(classes)}
    group_counts: dict[str, np.ndarray] = {}
    group_fixed: dict[str, str] = {}
    for label, g, f in zip(labels, groups, fixed, strict=True):
        group_counts.setdefault(g, np.zeros(len(classes)))[ci[label]] += 1
        if f:
            group_fixed[g] = f
    free = [g for g in group_counts if g not in group_fixed]
    totals = sum((group_counts[g] for g in free), np.zeros(len(classes)))
    target = np.array([[fractions[s] * t for t in totals] for s in names])
    current = np.zeros_like(target)
    rng = np.random.default_rng(seed)
    order = [free[i] for i in rng.permutation(len(free))]
    order.sort(key=lambda g: -group_counts[g].sum())  # stable: big groups first, ties in seeded order
    assignment: dict[str, str] = dict(group_fixed)
    denom = np.maximum(totals, 1.0)
    for g in order:
        counts = group_counts[g]
        score = ((target - current) / denom) @ counts
        best = int(np.argmax(score))
        assignment[g] = names[best]
        current[best] += counts
    _repair_missing(assignment, group_counts, free, names, classes)
    return [assignment[g] for g in groups]


def _repair_missing(assignment, group_counts, free, names, classes) -> None:
    """Give each class at least one group in every split when it has enough groups, by moving a group
    from the split where that class has the most groups — never the last group of another class there."""
    for c in range(len(classes)):
        for s in names:
            have = [g for g in free if group_counts[g][c] > 0 and assignment[g] == s]
            if have:
                continue
            donors = sorted(
                (g for g in free if group_counts[g][c] > 0),
                key=lambda g: (
                    -sum(1 for h in free if group_counts[h][c] > 0 and assignment[h] == assignment[g]),
                    group_counts[g].sum(),
                ),
            )
            for g in donors:
                src = assignment[g]
                others_ok = all(
                    any(h != g and assignment[h] == src and group_counts[h][o] > 0 for h in free)
                    for o in np.nonzero(group_counts[g])[0]
                )
                if others_ok:
                    assignment[g] = s
                    break


def resolve_splits(
    labels: Sequence[str],
    groups: Sequence[str],
    given: Sequence[str],
    *,
    val_fraction: float,
    test_fraction: float,
    seed: int,
) -> tuple[list[str], str]:
    """Final split of every video and where it came from: 'given' splits, partly given, or generated."""
    given = list(given)
    if all(given):
        if "val" not in given:
            # lists such as UCF101's define train/test only: carve validation out of train, by group
            train_share = 1.0 - test_fraction
            share = min(0.9, val_fraction / train_share) if train_share > 0 else val_fraction
            fractions = {"train": 1.0 - share, "val": share}
            idx = [i for i, s in enumerate(given) if s == "train"]
            carved = generate_splits([labels[i] for i in idx], [groups[i] for i in idx], fractions, seed)
            out = list(given)
            for i, s in zip(idx, carved, strict=True):
                out[i] = s
            return out, "given (val carved from train)"
        return given, "given"
    if any(given):
        missing = sum(1 for s in given if not s)
        raise DatasetError(
            f"the manifest gives a split for some videos but not for {missing} others: give every video a split "
            "(train, val or test) or drop the split column to have one generated"
        )
    fractions = {"train": 1.0 - val_fraction - test_fraction, "val": val_fraction, "test": test_fraction}
    return generate_splits(labels, groups, fractions, seed), "generated"


def check_split_coverage(labels: Sequence[str], groups: Sequence[str], splits: Sequence[str]) -> None:
    """Every class must have training, validation and test videos; say which class lacks what and why."""
    by_class: dict[str, Counter] = defaultdict(Counter)
    group_sets: dict[str, set[str]] = defaultdict(set)
    for label, g, s in zip(labels, groups, splits, strict=True):
        by_class[label][s] += 1
        group_sets[label].add(g)
    problems = []
    for label in sorted(by_class):
        lacking = [s for s in SPLITS if by_class[label][s] == 0]
        if lacking:
            n, k = sum(by_class[label].values()), len(group_sets[label])
            problems.append(
                f"class {label!r} has no {'/'.join(lacking)} videos ({n} videos in {k} group(s); a class needs "
                "videos in at least 3 groups to appear in train, val and test)"
            )
    if problems:
        raise DatasetError(
            "too few videos for the requested split: "
            + "; ".join(problems)
            + ". Add videos, merge or drop the class, or give splits in a manifest."
        )


def repo_path(file: Path, cwd: Path | None = None) -> str:
    """How a stage run from the repository root opens the file: relative when inside it, else absolute."""
    # abspath, not resolve(): a symlinked dataset folder should stay addressed through the link
    cwd_abs = Path(os.path.abspath(cwd or Path.cwd()))
    file_abs = Path(os.path.abspath(file))
    try:
        return file_abs.relative_to(cwd_abs).as_posix()
    except ValueError:
        return file_abs.as_posix()
