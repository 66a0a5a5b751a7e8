"""Tests of group k-fold cross-validation: every video predicted exactly once per repeat, by a model that never
saw its group (neither in its training nor in its validation videos), test read only after every fit, and the
files train@<head> writes under it."""

from __future__ import annotations

import json
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest

from framecache import heads
from framecache.compute import cpu_threads
from framecache.errors import FramecacheError
from framecache.training import SplitData, full_proba, parallel, train_head, write_outputs
from framecache.training.crossval import assign_folds, carve_validation, run_cross_validation

CLASSES = ["a", "b", "c"]


@pytest.fixture(autouse=True)
def one_thread():
    with cpu_threads(1):
        yield


def grouped(n_groups_per_class=6, per_group=2, k=4, seed=0):
    """ids, X, y, split, groups: each group holds ``per_group`` videos of one class (a person, a mirrored twin)."""
    rng = np.random.default_rng(seed)
    ids, X, y, split, groups = [], [], [], [], []
    for c in range(len(CLASSES)):
        for g in range(n_groups_per_class):
            for i in range(per_group):
                ids.append(f"{CLASSES[c]}/g{g}_{i}.mp4")
                X.append((rng.normal(size=(int(rng.integers(1, 6)), k)) + 1.5 * c).astype(np.float32))
                y.append(c)
                split.append(("train", "val", "test")[g % 3])
                groups.append(f"{CLASSES[c]}{g}")
    return ids, X, np.asarray(y), np.asarray(split), np.asarray(groups)


def test_folds_keep_groups_whole_and_cover_every_video():
    _, _, y, _, groups = grouped()
    fold = assign_folds(y, groups, 4, seed=0)
    assert set(fold) == {0, 1, 2, 3}
    for g in set(groups):
        assert len(set(fold[groups == g])) == 1
    # stratified: every fold holds every class
    assert all(len(set(y[fold == f])) == 3 for f in range(4))
    np.testing.assert_array_equal(fold, assign_folds(y, groups, 4, seed=0))  # seeded: the same for every head


def test_validation_is_carved_out_by_group():
    _, _, y, _, groups = grouped()
    fit, val = carve_validation(y, groups, 0.25, seed=1)
    assert len(val) and not set(groups[fit]) & set(groups[val]) and len(fit) + len(val) == len(y)
    fit, val = carve_validation(y[:2], groups[:2], 0.25, seed=1)  # one group: nothing to hold out by group
    assert len(val) == 0 and len(fit) == 2


def test_too_few_groups_is_an_error():
    _, _, y, _, groups = grouped(n_groups_per_class=1)
    with pytest.raises(FramecacheError, match=r"at least 5 groups.*has 3"):
        assign_folds(y, groups, 5, seed=0)


class SpyHead:
    """Records the videos each fit saw and each prediction was asked for; predicts the class prior."""

    log: ClassVar[list] = []

    def __init__(self, random_state):
        self.random_state = random_state

    def fit(self, X, y, X_val=None, y_val=None):
        SpyHead.log.append(("fit", self, [id(x) for x in [*X, *(X_val or [])]]))
        self.classes_ = np.unique(y)
        return self

    def predict_proba(self, X):
        SpyHead.log.append(("predict", self, [id(x) for x in X]))
        return np.full((len(X), len(self.classes_)), 1.0 / len(self.classes_))


def test_every_video_is_predicted_once_by_a_model_that_never_saw_its_group():
    ids, X, y, _, groups = grouped()
    group_of = {id(x): g for x, g in zip(X, groups, strict=True)}
    SpyHead.log = []
    cv = run_cross_validation(
        SpyHead, SplitData(ids, X, y), groups, lambda h, part: full_proba(h, part, 3), 3,
        folds=4, val_fraction=0.25, repeats=2, seed=3,
    )  # fmt: skip
    fits = [e for e in SpyHead.log if e[0] == "fit"]
    assert len(fits) == 2 * 4 + 1  # folds per repeat, and the refit for predict
    seen = {e[1]: {group_of[i] for i in e[2]} for e in fits}
    test_ids = {id(x) for x in X}
    for repeat in range(2):
        fold_heads = cv.repeats[repeat].fold_heads
        predicted = [e for e in SpyHead.log if e[0] == "predict" and e[1] in fold_heads and set(e[2]) <= test_ids]
        out_of_fold = [e for e in predicted if not {group_of[i] for i in e[2]} & seen[e[1]]]
        counts = pd.Series([i for e in out_of_fold for i in e[2]]).value_counts()
        assert len(counts) == len(X) and set(counts) == {1}  # every video exactly once per repeat
    # nothing was predicted before the last fold's fit (the refit for predict comes after, on everything)
    first_predict = min(i for i, e in enumerate(SpyHead.log) if e[0] == "predict")
    assert first_predict > max(i for i, e in enumerate(SpyHead.log[:-1]) if e[0] == "fit" and e[1] is not cv.model)
    assert seen[cv.model] == set(groups)  # the refitted model saw every video
    assert len(cv.data["test"]) == len(X) and sorted(set(cv.fold["test"])) == [0, 1, 2, 3]


def test_group_kfold_outputs(tmp_path):
    ids, X, y, split, groups = grouped()
    config = {"type": "pooled", "C_grid": [0.1, 1.0]}
    result = train_head("h", config, ids, X, y, split, CLASSES, repeats=2, seed=0, evaluation="group_kfold",
                        folds=4, groups=groups)  # fmt: skip
    write_outputs(result, tmp_path)
    pred = pd.read_csv(tmp_path / "predictions.csv")
    assert list(pred.columns[:6]) == ["video_id", "split", "repeat", "label", "predicted", "fold"]
    test = pred[pred["split"] == "test"]
    for _, part in test.groupby("repeat"):
        assert sorted(part["video_id"]) == sorted(ids)  # all of train, val and test, each once
        fold_of_group = part.assign(group=part["video_id"].map(dict(zip(ids, groups, strict=True))))
        assert (fold_of_group.groupby("group")["fold"].nunique() == 1).all()
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["evaluation"] == "group_kfold" and metrics["folds"] == 4 and metrics["groups"] == 18
    assert metrics["test_videos"] == len(ids) and "refitted on all 36 videos" in metrics["model"]
    assert len(metrics["selected_per_fold"]) == 4 and set(metrics["selected"]) == {"C"}
    per_repeat = [r.metrics["test"]["top1"] for r in result.repeats]
    assert metrics["test_top1"] == pytest.approx(np.mean(per_repeat))
    selection = pd.read_csv(tmp_path / "selection.csv")
    assert set(selection["fold"].astype(str)) == {"0", "1", "2", "3", "refit"}
    assert selection.groupby(["repeat", "fold"])["chosen"].sum().eq(1).all()
    assert (tmp_path / "plots" / "confusion.png").is_file() and not (tmp_path / "plots" / "curve.csv").exists()


@pytest.mark.parametrize("record", heads.REGISTRY.values(), ids=lambda r: r.name)
def test_fits_in_several_processes_give_the_heads_of_one_process(record):
    """train.jobs only changes the time: forked processes fit bit for bit the heads one process fits, for every
    registered head type (each seeds itself and runs one thread either way)."""
    ids, X, y, split, groups = grouped(n_groups_per_class=4)
    config = {"type": record.name, **record.tiny}
    runs = [
        train_head(
            "h",
            config,
            ids,
            X,
            y,
            split,
            CLASSES,
            evaluation="group_kfold",
            folds=3,
            groups=groups,
            device="cpu",
            jobs=jobs,
        )
        for jobs in (1, 2)
    ]
    one, two = (run.repeats[0].proba["test"] for run in runs)
    np.testing.assert_array_equal(one, two)
    np.testing.assert_array_equal(full_proba(runs[0].model, X, 3), full_proba(runs[1].model, X, 3))
    assert runs[0].repeats[0].metrics["val"] == runs[1].repeats[0].metrics["val"]


def test_jobs_auto_is_a_process_per_core_for_one_thread_fits_and_never_more_than_the_fits(monkeypatch):
    monkeypatch.setattr(parallel, "available_cores", lambda: 16)
    assert parallel.resolve_jobs("auto", 1, 6) == 6 and parallel.resolve_jobs("auto", 1, 20) == 16
    assert parallel.resolve_jobs("auto", 4, 6) == parallel.resolve_jobs(4, None, 6) == 1  # threaded fits: one at a time
    assert parallel.resolve_jobs(3, 1, 6) == 3 and parallel.resolve_jobs(8, 1, 2) == 2
    assert not parallel.on_gpu("cpu") and parallel.on_gpu("cuda")
