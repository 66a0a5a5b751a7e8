"""Kinetics-style CSVs (``label,youtube_id,time_start,time_end[,split]``) resolved to the files a downloader writes.

Downloaders name each clip ``<youtube_id>_<time_start:06d>_<time_end:06d>.<ext>`` (flat, or under
``<split>/`` or ``<split>/<label>/``); the file is looked up by that name anywhere under the dataset folder.
A row whose file is missing is recorded in failures.csv (``path`` is the expected file name); so is a file no
row names, and every extra copy of a clip (the same name under ``train/`` and ``val/``: the copy under the row's
split folder is used). The split comes from the ``split`` column (``train``, ``val``/``validate``, ``test``) or
else from the CSV's name (``train.csv``, ``validate.csv``, ``test.csv``); empty means a generated split. Clips cut
from the same YouTube video share a group, so they never straddle train and test.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from framecache.data.candidates import Candidate, DatasetError, Discovery, Failure, Matching, video_id, walk

COLUMNS = ("label", "youtube_id", "time_start", "time_end")
SPLIT_NAMES = {"train": "train", "training": "train", "val": "val", "valid": "val", "validate": "val",
               "validation": "val", "test": "test", "testing": "test"}  # fmt: skip
MATCH_KEY = "<youtube_id>_<time_start:06d>_<time_end:06d>.<ext>"


def read_header(csv_path: Path) -> list[str]:
    """The lower-cased column names of a CSV, or [] when it cannot be read as one."""
    try:
        return [str(c).strip().lower() for c in pd.read_csv(csv_path, nrows=0).columns]
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError):
        return []


def is_kinetics(columns: Sequence[str]) -> bool:
    return all(c in columns for c in COLUMNS)


def find_kinetics_csvs(root: Path) -> list[Path]:
    """Kinetics-style CSVs in the dataset folder or one level below it (e.g. ``annotations/train.csv``)."""
    found = [p for g in ("*.csv", "*/*.csv") for p in sorted(root.glob(g))]
    return [p for p in found if p.is_file() and is_kinetics(read_header(p))]


def clip_stem(youtube_id: str, start: str, end: str) -> str:
    """The file name (without extension) a Kinetics downloader gives the clip."""
    return f"{youtube_id}_{_seconds(start):06d}_{_seconds(end):06d}"


def _seconds(value: str) -> int:
    number = float(value)
    if not math.isfinite(number) or number < 0:
        raise ValueError(value)
    return int(number)


def _rows(csv_path: Path) -> pd.DataFrame:
    try:
        table = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DatasetError(f"Kinetics CSV {csv_path} cannot be read as CSV: {exc}") from None
    table.columns = [str(c).strip().lower() for c in table.columns]
    return table


def _split(raw: str, csv_path: Path, line: int) -> str:
    value = raw.strip().lower()
    if value and value not in SPLIT_NAMES:
        raise DatasetError(
            f"{csv_path} line {line}: split = {raw!r} is not understood: expected train, val (or validate) or test, "
            "or empty to have splits generated"
        )
    return SPLIT_NAMES.get(value, "")


def _pick_copy(files: list[Path], split: str, root: Path, where: str, failures: list[Failure]) -> Path | None:
    """The file of a row's clip: of several copies (the same clip under train/ and val/), the one under a folder
    named for the row's split, else the first; every other copy is recorded, so none is dropped silently."""
    if len(files) < 2:
        return files[0] if files else None
    in_split = [f for f in files if any(SPLIT_NAMES.get(p.lower()) == split for p in f.relative_to(root).parts[:-1])]
    chosen = (in_split or files)[0]
    for other in files:
        if other != chosen:
            failures.append(
                Failure(
                    str(other),
                    f"same clip as {video_id(chosen, root)}, which is the file used for {where} (split "
                    f"{split or 'generated'}): two copies of one clip; delete the one in the wrong folder",
                )
            )
    return chosen


def read_kinetics(csvs: Sequence[Path], root: Path, extensions: Sequence[str]) -> Discovery:
    """Candidates for every CSV row whose clip file exists under ``root``; the rest recorded."""
    root_abs = root.resolve()
    found = walk(root_abs, extensions)
    copies: dict[str, list[Path]] = {}
    for file in found.videos:
        copies.setdefault(file.stem, []).append(file)
    candidates: list[Candidate] = []
    failures: list[Failure] = list(found.unreadable)
    missing: list[str] = []
    used: dict[str, str] = {}
    listed = 0
    for csv_path in csvs:
        table = _rows(csv_path)
        default_split = SPLIT_NAMES.get(csv_path.stem.lower(), "")
        for line, row in enumerate(table.to_dict("records"), start=2):  # line 1 is the header
            listed += 1
            where = f"{csv_path.name} line {line}"
            label, yid = str(row["label"]).strip(), str(row["youtube_id"]).strip()
            try:
                stem = clip_stem(yid, row["time_start"], row["time_end"])
            except ValueError:
                failures.append(Failure(where, f"time_start/time_end are not seconds: {row['time_start']!r}"))
                continue
            if stem in used:
                raise DatasetError(f"{stem} is listed twice ({used[stem]} and {where}): remove one of the rows")
            used[stem] = where
            split = _split(str(row.get("split", "")), csv_path, line) or default_split
            file = _pick_copy(copies.get(stem, []), split, root_abs, where, failures)
            if file is None:
                missing.append(stem)
                failures.append(Failure(f"{stem}.mp4", f"{where} (label {label!r}): no {stem}.* under {root}"))
            elif not label or not yid:
                failures.append(Failure(str(file), f"{where}: empty label or youtube_id"))
            else:
                candidates.append(Candidate(video_id(file, root_abs), file, label, split, group=yid))
    unlisted = [f for s, files in copies.items() if s not in used for f in files]
    failures += [Failure(str(f), f"no row of {', '.join(p.name for p in csvs)} names it") for f in unlisted]
    names = " + ".join(p.name for p in csvs)
    files_not_listed = [video_id(f, root_abs) for f in unlisted]
    matched = len(used) - len(missing)
    matching = Matching(names, MATCH_KEY, listed, len(found.videos), matched, missing, files_not_listed)
    if not candidates:
        raise DatasetError(
            f"no row of the Kinetics CSV matches a video: {matching.message(root)}. Put the clips a downloader "
            f"wrote (named {MATCH_KEY}) anywhere under the dataset folder"
        )
    return Discovery(candidates, "kinetics_csv", None, failures, found.ignored, matching, found.unreadable)
