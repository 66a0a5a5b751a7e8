"""A dataset's own order-only class pairs (:data:`framecache.layout.CLASS_PAIRS`): classes that differ only in frame
order, such as the demo's zoom_in / zoom_out, which the report scores within pair.

They travel with the data, not with params.yaml: the demo stage writes the file beside its clips, prepare copies the
pairs whose classes it indexed into the prepared folder, and the report reads them from there. A user who points
``paths.dataset`` at another folder therefore gets no demo vocabulary, and can ship pairs of their own in the same
file (or list them under ``report.class_pairs``).
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Sequence
from pathlib import Path

from framecache.data.candidates import DatasetError
from framecache.fileio import write_csv
from framecache.layout import CLASS_PAIR_COLUMNS, CLASS_PAIRS

log = logging.getLogger(__name__)


def dataset_pairs_file(dataset: Path) -> Path:
    """Where a dataset keeps its pairs: in its folder, or beside the CSV manifest given as the dataset."""
    dataset = Path(dataset)
    return (dataset if dataset.is_dir() else dataset.parent) / CLASS_PAIRS


def read_class_pairs(path: Path) -> list[list[str]]:
    """The pairs a class-pairs file lists (none when the file is absent); a malformed file is an error naming it."""
    path = Path(path)
    if not path.is_file():
        return []
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in CLASS_PAIR_COLUMNS if c not in (reader.fieldnames or [])]
            rows = [] if missing else [[(row[c] or "").strip() for c in CLASS_PAIR_COLUMNS] for row in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(f"{path} cannot be read as CSV: {exc}") from None
    if missing:
        raise DatasetError(
            f"{path} lacks column(s) {', '.join(missing)}: expected {','.join(CLASS_PAIR_COLUMNS)}, one order-only "
            "pair of class names per line"
        )
    pairs = [[a, b] for a, b in rows]
    for i, (a, b) in enumerate(pairs, start=2):
        if not a or not b or a == b:
            raise DatasetError(f"{path} line {i}: {a!r}, {b!r} is not a pair of two different class names")
    return pairs


def write_class_pairs(path: Path, pairs: Sequence[Sequence[str]]) -> None:
    """Write ``pairs`` (a header alone when there are none)."""
    write_csv(path, (dict(zip(CLASS_PAIR_COLUMNS, p, strict=True)) for p in pairs), CLASS_PAIR_COLUMNS)


def prepared_pairs(dataset: Path, classes: Sequence[str]) -> list[list[str]]:
    """The dataset's pairs whose two classes were both indexed; the others are named in a warning."""
    source = dataset_pairs_file(dataset)
    pairs = read_class_pairs(source)
    kept = [p for p in pairs if p[0] in classes and p[1] in classes]
    left = [f"{a} / {b}" for a, b in pairs if [a, b] not in kept]
    if left:
        log.warning("%s: pair(s) naming classes without usable videos, left out: %s", source, "; ".join(left))
    return kept
