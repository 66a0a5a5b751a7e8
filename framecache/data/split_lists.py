"""Official split files as the datasets ship them, matched against the videos found.

- **UCF101**: ``trainlist0N.txt`` / ``testlist0N.txt`` (lines ``<class>/<video> [n]``) and ``classInd.txt``,
  as in ``ucfTrainTestlist/`` beside ``UCF-101/<class>/<video>`` — the two archives unpacked side by side.
- **HMDB51**: ``<class>_test_splitN.txt`` (lines ``<video> <0|1|2>``: 1 train, 2 test, 0 unused in split N), as
  in ``testTrainMulti_7030_splits/`` beside ``<class>/<video>``.

The list files may sit anywhere up to two levels below the dataset folder, and so may the class folders:
entries are matched by ``<class folder>/<file name>`` (case-insensitive) wherever that file is. The label is the
class as the lists spell it. Every entry without a file and every file in no list is recorded (failures.csv),
and the :class:`~framecache.data.candidates.Matching` says how many matched; none matching is an error that
shows two examples of each side.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from framecache.data.candidates import Candidate, DatasetError, Discovery, Failure, Matching, video_id, walk

UCF_RE = re.compile(r"^(train|test)list(\d+)\.txt$", re.IGNORECASE)
HMDB_RE = re.compile(r"^(.+)_test_split(\d+)\.txt$", re.IGNORECASE)
HMDB_CODES = {"1": "train", "2": "test", "0": ""}  # "" = not used in this split
MATCH_KEY = "<class folder>/<file name>"


@dataclass
class Entry:
    """One video named by a split file."""

    cls: str  # class as the list spells it
    name: str  # file name
    split: str  # train | test | "" (unused in this split)
    origin: str  # "trainlist01.txt line 3", for messages


def _list_files(root: Path, pattern: re.Pattern) -> list[tuple[re.Match, Path]]:
    found = []
    for depth_glob in ("*", "*/*", "*/*/*"):
        for path in sorted(root.glob(depth_glob)):
            m = pattern.match(path.name)
            if m and path.is_file():
                found.append((m, path))
    return found


def find_split_lists(root: Path) -> dict[tuple[str, int], Path]:
    """UCF101-style ``trainlistNN.txt``/``testlistNN.txt`` files in the root or up to two levels below it."""
    found: dict[tuple[str, int], Path] = {}
    for m, path in _list_files(root, UCF_RE):
        found.setdefault((m.group(1).lower(), int(m.group(2))), path)
    return found


def find_hmdb_splits(root: Path) -> dict[int, list[Path]]:
    """HMDB51-style ``<class>_test_splitN.txt`` files per split number N."""
    found: dict[int, list[Path]] = {}
    for m, path in _list_files(root, HMDB_RE):
        found.setdefault(int(m.group(2)), []).append(path)
    return found


def _lines(path: Path) -> list[tuple[int, list[str]]]:
    text = path.read_text(encoding="utf-8", errors="replace")
    return [(i, line.split()) for i, line in enumerate(text.splitlines(), start=1) if line.strip()]


def read_ucf101(root: Path, lists: dict[tuple[str, int], Path], index: int, extensions: Sequence[str]) -> Discovery:
    """UCF101 split ``index``: train and test from its two lists, class order from classInd.txt."""
    if ("train", index) not in lists or ("test", index) not in lists:
        available = sorted({n for (_, n) in lists})
        raise DatasetError(
            f"split lists for prepare.split_list = {index} not found under {root}: need trainlist{index:02d}.txt "
            f"and testlist{index:02d}.txt; available split numbers: {', '.join(map(str, available)) or 'none'}"
        )
    entries = []
    for split in ("train", "test"):
        path = lists[(split, index)]
        for i, words in _lines(path):
            parts = words[0].replace("\\", "/").split("/")  # Windows-made lists use backslashes
            entries.append(Entry(parts[-2] if len(parts) > 1 else "", parts[-1], split, f"{path.name} line {i}"))
    class_ind = next(iter(sorted(lists[("train", index)].parent.glob("classInd.txt"))), None)
    classes = None
    if class_ind is not None:
        classes = [words[1] for _, words in _lines(class_ind) if len(words) >= 2]
    names = f"trainlist{index:02d}.txt + testlist{index:02d}.txt"
    return match_entries(root, entries, extensions, names, "split_lists", classes)


def read_hmdb51(root: Path, splits: dict[int, list[Path]], index: int, extensions: Sequence[str]) -> Discovery:
    """HMDB51 split ``index``: one ``<class>_test_split<index>.txt`` per class, ``<video> <0|1|2>`` per line."""
    if index not in splits:
        raise DatasetError(
            f"HMDB51 split files for prepare.split_list = {index} not found under {root}: need "
            f"<class>_test_split{index}.txt; available split numbers: {', '.join(map(str, sorted(splits)))}"
        )
    entries = []
    for path in splits[index]:
        cls = HMDB_RE.match(path.name).group(1)
        for i, words in _lines(path):
            if len(words) < 2 or words[1] not in HMDB_CODES:
                raise DatasetError(
                    f"{path} line {i}: expected '<video> <0|1|2>' (1 train, 2 test, 0 unused), found "
                    f"{' '.join(words)!r}: fix or remove the line"
                )
            entries.append(Entry(cls, words[0], HMDB_CODES[words[1]], f"{path.name} line {i}"))
    names = f"{len(splits[index])} <class>_test_split{index}.txt file(s)"
    return match_entries(root, entries, extensions, names, "hmdb51_splits", None)


def match_entries(
    root: Path,
    entries: Sequence[Entry],
    extensions: Sequence[str],
    names: str,
    source: str,
    classes: list[str] | None,
) -> Discovery:
    """Candidates for the entries that match a file by ``<class folder>/<file name>``; the rest recorded."""
    root_abs = root.resolve()
    found = walk(root_abs, extensions)
    by_key: dict[tuple[str, str], Path] = {}
    failures: list[Failure] = list(found.unreadable)
    for file in found.videos:
        first = by_key.setdefault((file.parent.name.lower(), file.name.lower()), file)
        if first != file:
            reason = f"same {MATCH_KEY} as {video_id(first, root_abs)}, which is the one matched"
            failures.append(Failure(str(file), reason))
    canonical = {c.lower(): c for c in classes or []}
    candidates: list[Candidate] = []
    used: dict[tuple[str, str], Entry] = {}
    missing: list[Entry] = []
    for entry in entries:
        key = (entry.cls.lower(), entry.name.lower())
        file = by_key.get(key)
        if file is None:
            missing.append(entry)
            continue
        if key in used:
            raise DatasetError(
                f"{entry.cls}/{entry.name} is listed twice ({used[key].origin} and {entry.origin}); a video in two "
                "splits leaks between them: remove one of the lines"
            )
        used[key] = entry
        if not entry.split:
            failures.append(Failure(str(file), f"marked 0 (not used in this split) in {entry.origin}"))
            continue
        label = canonical.get(entry.cls.lower(), entry.cls)
        candidates.append(Candidate(video_id(file, root_abs), file, label, entry.split))
    unlisted = [f for k, f in by_key.items() if k not in used]
    failures += [Failure(str(f), f"not listed in {names}") for f in unlisted]
    failures += [Failure(f"{e.cls}/{e.name}", f"listed in {e.origin}, but no such file under {root}") for e in missing]
    lost = _classes_without_files(entries, used, canonical, names, root)
    failures += lost.values()
    matching = Matching(
        names,
        MATCH_KEY,
        listed=len(entries),
        found=len(found.videos),
        matched=len(used),
        entries_without_file=[f"{e.cls}/{e.name}" for e in missing],
        files_not_listed=[video_id(f, root_abs) for f in unlisted],
    )
    if not used:
        raise DatasetError(
            f"no split-list entry matches a video: {matching.message(root)}. paths.dataset must be the folder "
            f"holding both the list files and the class folders (entries are matched as {MATCH_KEY}), e.g. the "
            "folder where UCF-101/ and ucfTrainTestlist/ were unpacked"
        )
    return Discovery(candidates, source, classes, failures, found.ignored, matching, found.unreadable, list(lost))


def _classes_without_files(
    entries: Sequence[Entry], used: dict[tuple[str, str], Entry], canonical: dict[str, str], names: str, root: Path
) -> dict[str, Failure]:
    """A class the lists name whose entries all lack a file (its folder absent or misnamed): a failures.csv row of
    its own, so the class does not vanish behind its entries' rows."""
    listed: dict[str, int] = {}
    for entry in entries:
        cls = canonical.get(entry.cls.lower(), entry.cls)
        listed[cls] = listed.get(cls, 0) + 1
    matched = {canonical.get(e.cls.lower(), e.cls) for e in used.values()}
    return {
        cls: Failure(
            f"{cls}/",
            f"class {cls!r}: {n} entries in {names}, but no video of it under {root} (no folder {cls}/, or one "
            "spelt otherwise): the class is left out; add its videos or remove it from the lists",
        )
        for cls, n in listed.items()
        if cls and cls not in matched
    }
