"""The test videos every head is scored on: those every usable head predicted (paired tests need the same
videos for every head), each head's (R, N, C) probabilities on them, and the heads left out with the reason.
"""

from __future__ import annotations

import numpy as np

from framecache.errors import FramecacheError
from framecache.report.results import TEST, HeadResult, aligned


def common_test_set(usable: list[HeadResult], problems: list[str]) -> list[str]:
    """The test videos every head predicted (heads without test rows are dropped from ``usable``): paired tests
    need every head scored on the same videos."""
    id_sets = []
    for h in list(usable):
        assert h.predictions is not None
        test = h.predictions[h.predictions["split"] == TEST]
        if not len(test):
            problems.append(f"{h.name}: predictions.csv has no test rows: head left out of the comparison")
            usable.remove(h)
            continue
        id_sets.append(set(test.loc[test["repeat"] == test["repeat"].min(), "video_id"]))
    if not usable:
        raise FramecacheError("no head has test predictions: check the predictions.csv files (split column)")
    common = sorted(set.intersection(*id_sets))
    for h, ids in zip(usable, id_sets, strict=True):
        if len(ids) != len(common):
            problems.append(
                f"{h.name}: {len(ids) - len(common)} test video(s) not predicted by every head are left out"
            )
    if not common:
        raise FramecacheError("the heads share no test video: check the predictions.csv files (split column)")
    return common


def align_test(
    usable: list[HeadResult], common: list[str], problems: list[str]
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Test labels and each head's (R, N, C) probabilities on ``common``; heads that disagree are dropped."""
    probas: dict[str, np.ndarray] = {}
    y_test = None
    for h in list(usable):
        try:
            _, y, proba = aligned(h, TEST, common)
        except FramecacheError as exc:
            problems.append(str(exc))
            usable.remove(h)
            continue
        if y_test is None:
            y_test = y
        elif not np.array_equal(y, y_test):
            problems.append(f"{h.name}: test labels disagree with {usable[0].name}: head left out")
            usable.remove(h)
            continue
        probas[h.name] = proba
    assert y_test is not None
    return y_test, probas
