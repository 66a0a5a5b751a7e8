"""What every dataset layout yields before a file is opened: candidate videos, files left out (with the reason),
the walk over a dataset folder, and how well a list (split lists, a CSV) matched the files found.

The walk also finds entries that cannot be read — broken symbolic links, files without read permission —
anywhere in the folder, videos or not: DVC hashes the whole dataset folder before ``prepare`` runs and stops
at such an entry, so prepare names them itself (see :mod:`framecache.data.prepare`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from framecache.errors import FramecacheError

EXAMPLES = 2  # unmatched entries/files shown on each side of a poor match


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
class Matching:
    """How the entries of a list (split lists, a CSV) matched the video files found: counts and examples."""

    what: str  # e.g. "trainlist01.txt + testlist01.txt"
    key: str  # how entries are matched, e.g. "<class>/<file>"
    listed: int
    found: int | None  # video files found under the folder; None: no folder was scanned (a CSV given directly)
    matched: int
    entries_without_file: list[str] = field(default_factory=list)  # every one (failures.csv lists them too)
    files_not_listed: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.entries_without_file and not self.files_not_listed

    def message(self, root: Path) -> str:
        """'N of M entries matched', plus two examples of each side that did not."""
        if self.found is None:
            text = f"{self.what} lists {self.listed} video(s); {self.matched} of them exist"
        else:
            text = (
                f"{self.what} list(s) {self.listed} video(s); {self.matched} of them match the {self.found} video "
                f"file(s) found under {root} (matched by {self.key})"
            )
        if self.entries_without_file:
            shown = ", ".join(repr(e) for e in self.entries_without_file[:EXAMPLES])
            text += f"; listed but not found ({len(self.entries_without_file)}), e.g. {shown}"
        if self.files_not_listed:
            shown = ", ".join(repr(f) for f in self.files_not_listed[:EXAMPLES])
            text += f"; found but not listed ({len(self.files_not_listed)}), e.g. {shown}"
        return text

    def as_dict(self) -> dict[str, Any]:
        return {
            "lists": self.what,
            "matched_by": self.key,
            "listed": self.listed,
            "found": self.found,
            "matched": self.matched,
            "listed_not_found": len(self.entries_without_file),
            "found_not_listed": len(self.files_not_listed),
            "examples_listed_not_found": self.entries_without_file[:EXAMPLES],
            "examples_found_not_listed": self.files_not_listed[:EXAMPLES],
        }


@dataclass
class Discovery:
    """What a dataset folder (or manifest) holds, before any file is opened."""

    candidates: list[Candidate]
    source: str  # manifest | kinetics_csv | split_lists | hmdb51_splits | folders
    classes: list[str] | None = None  # fixed class order (classInd.txt), else sorted labels
    failures: list[Failure] = field(default_factory=list)
    ignored_files: int = 0
    matching: Matching | None = None
    unreadable: list[Failure] = field(default_factory=list)  # also in failures; DVC cannot hash these
    # classes the split lists name although none of their entries has a file (each also a row of failures)
    unmatched_classes: list[str] = field(default_factory=list)


@dataclass
class Walk:
    """Every file under a dataset folder: the videos (by extension), the rest counted, the unreadable named."""

    videos: list[Path]
    ignored: int
    unreadable: list[Failure]


def normalise_extensions(extensions: Sequence[str]) -> set[str]:
    return {e.lower() if e.startswith(".") else f".{e.lower()}" for e in extensions}


def unreadable_reason(file: Path) -> str | None:
    """Why DVC (or anyone) cannot read this directory entry, or None when it reads."""
    if os.path.islink(file) and not os.path.exists(file):
        return "broken symbolic link"
    if not os.access(file, os.R_OK):
        return "cannot read file: permission denied"
    return None


def walk(root: Path, extensions: Sequence[str]) -> Walk:
    """Every non-hidden file under ``root`` (symlinked folders followed), sorted; hidden entries are skipped."""
    exts = normalise_extensions(extensions)
    videos: list[Path] = []
    unreadable: list[Failure] = []
    ignored = 0

    def unlistable(exc: OSError) -> None:  # a folder os.walk cannot list: DVC cannot hash it either
        unreadable.append(Failure(str(exc.filename), f"cannot list folder: {exc.strerror or exc}"))

    for dirpath, dirnames, filenames in os.walk(root, onerror=unlistable, followlinks=True):
        # symlinked folders are followed, except a link back up the tree, which would loop forever
        here = os.path.join(os.path.realpath(dirpath), "")
        real = {d: os.path.join(os.path.realpath(os.path.join(dirpath, d)), "") for d in dirnames}
        dirnames[:] = sorted(d for d, r in real.items() if not d.startswith(".") and not here.startswith(r))
        for name in sorted(filenames):
            file = Path(dirpath) / name
            if name.startswith("."):
                ignored += 1
                continue
            reason = unreadable_reason(file)
            if reason is not None:
                unreadable.append(Failure(str(file), reason))
            elif file.suffix.lower() in exts:
                videos.append(file)
            else:
                ignored += 1
    return Walk(videos, ignored, unreadable)


def scan_folders(root: Path, extensions: Sequence[str]) -> Discovery:
    """Every video under ``root/<class>/`` (hidden files and folders skipped, other extensions counted)."""
    root_abs = root.resolve()
    found = walk(root_abs, extensions)
    candidates: list[Candidate] = []
    failures: list[Failure] = list(found.unreadable)
    for file in found.videos:
        rel = file.relative_to(root_abs)
        if len(rel.parts) < 2:
            failures.append(Failure(str(file), "not inside a class folder (expected root/<class>/<video>)"))
            continue
        candidates.append(Candidate(rel.as_posix(), file, rel.parts[0]))
    return Discovery(candidates, "folders", failures=failures, ignored_files=found.ignored, unreadable=found.unreadable)


def video_id(file: Path, root: Path) -> str:
    """The POSIX path relative to the dataset root, or the path itself outside it."""
    try:
        return file.relative_to(root).as_posix()
    except ValueError:
        return file.as_posix()
