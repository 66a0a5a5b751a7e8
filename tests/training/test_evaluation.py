"""``train.evaluation: auto``: group k-fold when the prepared test (or validation) split is too small per class,
holdout otherwise; the choice and its reason reach metrics.json; a class that cannot be predicted out of fold is
an error naming it; holdout and group_kfold are used as set."""

from __future__ import annotations

import json

import numpy as np
import pytest

from framecache.errors import FramecacheError
from framecache.training import train_head, write_outputs
from framecache.training.evaluation import AUTO_MIN_TEST, AUTO_MIN_VAL, resolve_evaluation
from tests.training.test_crossval import CLASSES, grouped


def splits(test: int, val: int, train: int = 20, classes: int = 3) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Labels, splits and groups with ``test`` / ``val`` / ``train`` videos per class, one group per video."""
    y, split = [], []
    for c in range(classes):
        for name, n in (("train", train), ("val", val), ("test", test)):
            y += [c] * n
            split += [name] * n
    return np.asarray(y), split, np.asarray([f"g{i}" for i in range(len(y))])


def test_auto_chooses_holdout_when_test_and_validation_hold_enough_per_class():
    y, split, groups = splits(AUTO_MIN_TEST, AUTO_MIN_VAL)
    chosen = resolve_evaluation("auto", 5, y, split, groups, CLASSES)
    assert chosen.method == "holdout" and chosen.setting == "auto"
    assert f"median class has {AUTO_MIN_TEST} test and {AUTO_MIN_VAL} validation videos" in chosen.reason


@pytest.mark.parametrize(("test", "val"), [(AUTO_MIN_TEST - 1, 20), (20, AUTO_MIN_VAL - 1), (6, 5)])
def test_auto_chooses_group_kfold_on_small_splits_and_says_why(test, val):
    y, split, groups = splits(test, val)
    chosen = resolve_evaluation("auto", 5, y, split, groups, CLASSES)
    assert chosen.method == "group_kfold" and chosen.folds == 5
    assert chosen.reason.startswith("train.evaluation: auto chose group k-fold: the median class has")


def test_auto_uses_one_fold_per_group_when_there_are_fewer_groups_than_folds():
    y = np.repeat([0, 1, 2], 9)  # three actions by three persons, as ud810
    groups = np.tile(np.repeat(["p1", "p2", "p3"], 3), 3)
    split = np.tile(np.repeat(["train", "val", "test"], 3), 3)
    chosen = resolve_evaluation("auto", 5, y, split, groups, CLASSES)
    assert chosen.method == "group_kfold" and chosen.folds == 3 and "3 groups, so 3 folds" in chosen.reason


def test_auto_names_a_class_whose_videos_all_share_one_group():
    y, split, groups = splits(3, 3)
    groups[y == 1] = "one person"
    with pytest.raises(FramecacheError, match=r"class\(es\) 'b' have all their videos in one group"):
        resolve_evaluation("auto", 5, y, split, groups, CLASSES)


@pytest.mark.parametrize("setting", ["holdout", "group_kfold"])
def test_an_explicit_setting_is_used_as_set(setting):
    y, split, groups = splits(2, 2)
    chosen = resolve_evaluation(setting, 4, y, split, groups, CLASSES)
    assert (chosen.method, chosen.folds, chosen.setting) == (setting, 4, setting)


def test_train_head_under_auto_records_the_choice(tmp_path):
    ids, X, y, split, groups = grouped()  # 4 test videos per class
    config = {"type": "pooled", "C_grid": [0.1, 1.0]}
    result = train_head("h", config, ids, X, y, split, CLASSES, evaluation="auto", folds=4, groups=groups)
    write_outputs(result, tmp_path)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["evaluation"] == "group_kfold" and metrics["evaluation_setting"] == "auto"
    assert metrics["folds"] == 4 and "auto chose group k-fold" in metrics["evaluation_reason"]
