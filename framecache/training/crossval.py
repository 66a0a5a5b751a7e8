"""Group k-fold cross-validation (``train.evaluation: group_kfold``), for datasets too small for one test split.

Every video of the store (train, val and test alike) is assigned to one of ``train.folds`` folds, whole groups
at a time and stratified by class where the groups allow (scikit-learn's ``StratifiedGroupKFold``, seeded by
``seed``, so every head sees the same folds and the report can pair them). For each fold a head is fitted on the
other folds, with a validation part carved out of them by group (the head's ``val_fraction``) for selection and
early stopping, and it predicts its fold once, after every fit of the run: each video is predicted exactly once
per repeat, by a model that never saw its group. Those out-of-fold predictions are the "test" predictions.

The model written for predict is refitted on all videos (validation again carved out by group).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.model_selection import GroupKFold, StratifiedGroupKFold

from framecache.compute import cpu_threads
from framecache.errors import FramecacheError
from framecache.evaluation.metrics import classification_metrics
from framecache.training.inputs import SealedSplit, SplitData
from framecache.training.parallel import fit_all
from framecache.training.results import RepeatResult


def _splits(y: np.ndarray, groups: np.ndarray, n_splits: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(rest, part)`` index pairs of a group k-fold: stratified by class when possible, else plain by group."""
    idx = np.zeros(len(y))
    with warnings.catch_warnings():
        # "the least populated class has only n members": stratification is then as good as the groups allow
        warnings.simplefilter("ignore", UserWarning)
        try:
            return list(StratifiedGroupKFold(n_splits, shuffle=True, random_state=seed).split(idx, y, groups))
        except ValueError:
            return list(GroupKFold(n_splits, shuffle=True, random_state=seed).split(idx, y, groups))


def assign_folds(y: np.ndarray, groups: Sequence[str], folds: int, seed: int) -> np.ndarray:
    """Each video's fold, 0..folds-1: whole groups per fold, stratified by class where the groups allow."""
    groups = np.asarray(groups).astype(str)
    n_groups = len(np.unique(groups))
    if n_groups < folds:
        raise FramecacheError(
            f"train.evaluation = group_kfold with train.folds = {folds} needs at least {folds} groups of videos; "
            f"the store has {n_groups}: lower train.folds"
        )
    fold = np.full(len(y), -1, dtype=np.int64)
    for f, (_, part) in enumerate(_splits(np.asarray(y), groups, folds, seed)):
        fold[part] = f
    return fold


def carve_validation(y: np.ndarray, groups: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(fit, val)`` indices: about ``fraction`` of the videos, whole groups, held out for selection.

    With fewer than two groups nothing can be held out by group: ``val`` is empty and the head holds out part
    of its training videos itself.
    """
    n_groups = len(np.unique(groups))
    if n_groups < 2:
        return np.arange(len(y)), np.zeros(0, dtype=np.int64)
    n_splits = min(n_groups, max(2, round(1 / fraction)))
    rest, part = _splits(np.asarray(y), np.asarray(groups).astype(str), n_splits, seed)[0]
    return np.sort(rest), np.sort(part)


def own_groups(ids: Sequence[str], groups: Sequence[str]) -> np.ndarray:
    """The groups as strings, a video without one (empty) being its own group, as prepare does."""
    groups = np.asarray(groups).astype(str)
    return np.where(groups == "", np.asarray(ids, dtype=str), groups)


def subset(data: SplitData, idx: np.ndarray) -> SplitData:
    return SplitData([data.ids[i] for i in idx], [data.X[i] for i in idx], data.y[idx])


@dataclass
class CrossValidation:
    """What a group k-fold run produced: per repeat the out-of-fold results, and the refitted model."""

    repeats: list[RepeatResult]
    data: dict[str, SplitData]  # "test": every video (store order); "val": each fold's val videos, in fold order
    fold: dict[str, np.ndarray]  # split -> the fold of each row of data[split]
    model: Any  # refitted on all videos: what predict uses
    fit_videos: float  # mean number of videos a fold's model was fitted on


def _fit(make_head: Callable[[int], Any], rs: int, fit: SplitData, val: SplitData) -> tuple[Any, float]:
    head, start = make_head(rs), time.perf_counter()
    if len(val):
        head.fit(fit.X, fit.y, X_val=val.X, y_val=val.y)
    else:
        head.fit(fit.X, fit.y)
    return head, time.perf_counter() - start


def run_cross_validation(
    make_head: Callable[[int], Any],
    everything: SplitData,
    groups: Sequence[str],
    predict: Callable[[Any, Sequence[np.ndarray]], np.ndarray],
    n_classes: int,
    *,
    folds: int,
    val_fraction: float,
    repeats: int = 1,
    seed: int = 0,
    threads: int | None = None,
    jobs: int = 1,
) -> CrossValidation:
    """Fit ``folds`` heads per repeat (seeds ``seed + repeat``) and the refit, in ``jobs`` processes
    (:mod:`framecache.training.parallel`), then let each fold's head predict its fold once (``predict(head, X)``:
    probabilities over all ``n_classes``)."""
    groups = own_groups(everything.ids, groups)
    fold = assign_folds(everything.y, groups, folds, seed)
    plans = []  # per fold: (fit part, val part, sealed test part)
    for f in range(folds):
        rest = np.flatnonzero(fold != f)
        fit_i, val_i = carve_validation(everything.y[rest], groups[rest], val_fraction, seed + f)
        plans.append((subset(everything, rest[fit_i]), subset(everything, rest[val_i]), np.flatnonzero(fold == f)))
    test = SealedSplit(everything)
    fit_i, val_i = carve_validation(everything.y, groups, val_fraction, seed)
    tasks = [(make_head, seed + r, fit, val) for r in range(repeats) for fit, val, _ in plans]
    tasks.append((make_head, seed, subset(everything, fit_i), subset(everything, val_i)))  # the refit
    done = fit_all(_fit, tasks, jobs, threads)
    fitted, model = [done[r * folds : (r + 1) * folds] for r in range(repeats)], done[-1][0]
    results = []
    with cpu_threads(threads):
        data = test.unseal()  # every fold's model is fitted: only now is any video predicted out of fold
        for r, fits in enumerate(fitted):
            results.append(_score_repeat(r, seed + r, fits, plans, data, predict, n_classes))
    val_rows = np.concatenate([np.full(len(val), f, dtype=np.int64) for f, (_, val, _) in enumerate(plans)])
    val_all = SplitData(
        [v for _, val, _ in plans for v in val.ids],
        [x for _, val, _ in plans for x in val.X],
        np.concatenate([val.y for _, val, _ in plans]).astype(np.int64),
    )
    return CrossValidation(
        results, {"test": data, "val": val_all}, {"test": fold, "val": val_rows}, model,
        float(np.mean([len(fit) for fit, _, _ in plans])),
    )  # fmt: skip


def _score_repeat(
    r: int,
    rs: int,
    fits: list[tuple[Any, float]],
    plans: list[tuple[SplitData, SplitData, np.ndarray]],
    data: SplitData,
    predict: Callable[[Any, Sequence[np.ndarray]], np.ndarray],
    n_classes: int,
) -> RepeatResult:
    """One repeat's out-of-fold test probabilities (store order) and its pooled validation probabilities."""
    res = RepeatResult(r, rs, fits[0][0], float(np.mean([s for _, s in fits])))
    res.fold_heads = [h for h, _ in fits]
    oof = np.zeros((len(data), n_classes))
    start = time.perf_counter()
    for (head, _), (_, _, part) in zip(fits, plans, strict=True):
        oof[part] = predict(head, [data.X[i] for i in part])
    res.inference_ms_per_video = 1000.0 * (time.perf_counter() - start) / len(data)
    res.proba["test"] = oof
    res.metrics["test"] = classification_metrics(data.y, oof)
    val_proba = [predict(head, val.X) for (head, _), (_, val, _) in zip(fits, plans, strict=True) if len(val)]
    if val_proba:
        y_val = np.concatenate([val.y for _, val, _ in plans])
        res.proba["val"] = np.concatenate(val_proba)
        res.metrics["val"] = classification_metrics(y_val, res.proba["val"])
    return res
