"""Which evaluation protocol a run uses: ``train.evaluation`` as set, or what ``auto`` picks for the store's splits.

``holdout`` scores the test split once; on a small dataset that split holds so few videos per class that its
interval is wide and one lucky head wins by chance, while validation is too small to choose well. ``auto`` therefore
picks ``group_kfold`` (every video predicted once, out of fold) when the median class has fewer than
:data:`AUTO_MIN_TEST` test videos or fewer than :data:`AUTO_MIN_VAL` validation videos in the prepared splits, and
``holdout`` otherwise. The choice reads only the store's labels, splits and groups, so every head of a run makes
the same one (the report pairs the heads on the same test videos), and it is said in words in ``metrics.json``
(``evaluation_reason``), which the report's method notes quote.

Under ``auto``, group k-fold uses ``train.folds`` folds, or one per group when there are fewer groups (one person
per fold for a dataset of three persons); a class whose videos all share one group cannot be predicted out of fold
and is an error naming it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from framecache.errors import FramecacheError

AUTO_MIN_TEST = 10  # test videos of the median class below which auto cross-validates
AUTO_MIN_VAL = 5  # validation videos of the median class below which auto cross-validates
EVALUATIONS = ("auto", "holdout", "group_kfold")


@dataclass(frozen=True)
class Evaluation:
    """The protocol a run uses, how many folds (group k-fold), and why, in words."""

    method: str  # "holdout" or "group_kfold"
    folds: int
    setting: str  # train.evaluation as written
    reason: str


def per_class_median(y: np.ndarray, split: Sequence[str], name: str, n_classes: int) -> float:
    """The median over classes of each class's videos in split ``name``."""
    counts = np.bincount(np.asarray(y)[np.asarray(split).astype(str) == name], minlength=n_classes)
    return float(np.median(counts))


def _single_group_classes(y: np.ndarray, groups: np.ndarray, classes: Sequence[str]) -> list[str]:
    return [classes[c] for c in np.unique(y) if len(np.unique(groups[y == c])) < 2]


def resolve_evaluation(
    setting: str, folds: int, y: np.ndarray, split: Sequence[str], groups: np.ndarray, classes: Sequence[str]
) -> Evaluation:
    """The evaluation for ``train.evaluation = setting`` on videos with labels ``y``, prepared ``split`` and
    ``groups`` (each video's, a video without one being its own)."""
    if setting not in EVALUATIONS:
        raise FramecacheError(f"train.evaluation = {setting!r}: expected one of {', '.join(EVALUATIONS)}")
    if setting != "auto":
        return Evaluation(setting, folds, setting, f"train.evaluation: {setting} (as set in params)")
    y = np.asarray(y)
    test = per_class_median(y, split, "test", len(classes))
    val = per_class_median(y, split, "val", len(classes))
    counts = f"the median class has {test:g} test and {val:g} validation videos in the prepared splits"
    if test >= AUTO_MIN_TEST and val >= AUTO_MIN_VAL:
        why = f"{counts} (at least {AUTO_MIN_TEST} and {AUTO_MIN_VAL})"
        return Evaluation("holdout", folds, setting, f"train.evaluation: auto chose holdout: {why}")
    lonely = _single_group_classes(y, np.asarray(groups), classes)
    if lonely:
        raise FramecacheError(
            f"train.evaluation = auto chose group k-fold ({counts}), but class(es) {', '.join(map(repr, lonely))} "
            "have all their videos in one group, so no fold could learn them from other groups: add videos of "
            "other groups (sources, persons) to each, or set train.evaluation: holdout"
        )
    n_groups = len(np.unique(groups))
    used = min(folds, n_groups)
    fewer = f"; {n_groups} groups, so {used} folds instead of train.folds = {folds}" if used < folds else ""
    why = f"{counts} (fewer than {AUTO_MIN_TEST} test or {AUTO_MIN_VAL} validation videos){fewer}"
    return Evaluation("group_kfold", used, setting, f"train.evaluation: auto chose group k-fold: {why}")
