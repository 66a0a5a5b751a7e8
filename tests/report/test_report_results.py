"""Reading the train stages' outputs: predictions.csv is checked against classes.txt, labels may be names or
indices, missing files become visible problems, and the baseline candidates are what the head registry says."""

from __future__ import annotations

import pytest

from framecache import layout
from framecache.errors import FramecacheError
from framecache.report.results import (
    CURVE_PLACES,
    is_baseline_candidate,
    load_head_result,
    read_classes,
    read_predictions,
)
from tests.report.train_outputs import CLASSES, TWO, write_fixture


def test_predictions_with_wrong_classes_are_rejected(tmp_path):
    path = tmp_path / layout.PREDICTIONS
    path.write_text("video_id,split,repeat,label,predicted,p_cat,p_dog\na,test,0,cat,cat,0.9,0.1\n")
    with pytest.raises(FramecacheError, match=r"extra: \['dog'\]"):
        read_predictions(path, ["cat", "coffee"])
    path.write_text("video_id,split,label,p_cat\na,test,cat,1.0\n")
    with pytest.raises(FramecacheError, match="missing column"):
        read_predictions(path, ["cat"])


def test_predictions_are_reordered_to_the_classes(tmp_path):
    path = tmp_path / layout.PREDICTIONS
    path.write_text("video_id,split,repeat,label,predicted,p_dog,p_cat\na,test,0,1,0,0.2,0.8\n")
    df, classes = read_predictions(path, ["cat", "dog"])
    assert classes == ["cat", "dog"]
    assert list(df.columns) == ["video_id", "split", "repeat", "label_index", "p_cat", "p_dog"]
    assert df.loc[0, "p_cat"] == 0.8 and df.loc[0, "label_index"] == 1
    path.write_text("video_id,split,repeat,label,predicted,p_dog,p_cat\na,test,0,2,0,0.2,0.8\n")
    with pytest.raises(FramecacheError, match=r"label indices outside 0\.\.1"):
        read_predictions(path, ["cat", "dog"])


def test_missing_files_become_problems(tmp_path):
    dirs = write_fixture(tmp_path, heads=TWO)
    folder = layout.head_dir(dirs["models"], "lstm")
    (folder / layout.METRICS).unlink()
    curve = next(folder / p for p in CURVE_PLACES if (folder / p).is_file())  # where the train stage wrote it
    curve.write_text("epoch,loss\n0,1.0\n")
    res, classes = load_head_result(dirs["models"], "lstm", TWO["lstm"][0], None)
    assert res.usable and classes == CLASSES
    assert res.problems == ["metrics.json missing: cost columns empty", "curve.csv lacks repeat/step columns"]
    (folder / layout.PREDICTIONS).unlink()
    res, _ = load_head_result(dirs["models"], "lstm", TWO["lstm"][0], CLASSES)
    assert not res.usable and "head left out of the comparison" in res.problems[-1]


def test_classes_come_from_classes_txt(tmp_path):
    assert read_classes(tmp_path) is None
    dirs = write_fixture(tmp_path, heads=TWO)
    assert read_classes(dirs["prepared"]) == CLASSES


@pytest.mark.parametrize(
    ("config", "candidate"),
    [
        ({"type": "pooled", "pooling": "mean"}, True),
        ({"type": "pooled", "pooling": "maxmin"}, True),
        ({"type": "svm", "pooling": "max"}, True),
        ({"type": "pooled", "pooling": "delta"}, False),
        ({"type": "svm", "pooling": "maxmin_delta"}, False),
        ({"type": "attention", "positional": False}, False),  # order-blind, but a trained net
        ({"type": "lstm"}, False),
    ],
)
def test_baseline_candidates_are_order_blind_pooled_heads(config, candidate):
    assert is_baseline_candidate(config) is candidate
