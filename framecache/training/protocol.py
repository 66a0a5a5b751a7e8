"""The honest training protocol for one configured head.

1. The store's videos are split by their ``split`` column. Only train and val reach :meth:`fit`: the weights
   (and any standardisation) are fitted on train, hyper-parameters and early stopping look at val only.
2. ``repeats`` heads are trained with seeds ``seed + repeat``. All of them are fitted before the test split
   is opened: it is held in a :class:`~framecache.training.inputs.SealedSplit` that raises if anything reads it
   earlier.
3. Test is then scored once per fitted head; metrics are reported as the mean over repeats with the spread
   (sample standard deviation; 0 for a single repeat).

With ``train.evaluation: group_kfold`` the same rules hold per fold (:mod:`framecache.training.crossval`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from framecache import heads
from framecache.compute import cpu_threads
from framecache.errors import FramecacheError
from framecache.evaluation.metrics import classification_metrics, spread_proba
from framecache.heads.base import count_truncated
from framecache.training.crossval import own_groups, run_cross_validation
from framecache.training.evaluation import resolve_evaluation
from framecache.training.inputs import SealedSplit, SplitData, split_data
from framecache.training.parallel import on_gpu, resolve_jobs
from framecache.training.results import RepeatResult, TrainingResult

log = logging.getLogger(__name__)


def full_proba(head: Any, X: Sequence[np.ndarray], n_classes: int) -> np.ndarray:
    """``predict_proba`` spread over all ``n_classes`` columns (a class never seen in train gets 0)."""
    return spread_proba(head.predict_proba(X), head.classes_, n_classes)


def run_protocol(
    make_head: Callable[[int], Any],
    data: dict[str, SplitData],
    n_classes: int,
    *,
    repeats: int = 1,
    seed: int = 0,
    threads: int | None = None,
) -> list[RepeatResult]:
    """Fit ``repeats`` heads (``make_head(random_state)``) on train with val for selection, then score test."""
    train, val = data["train"], data["val"]
    test = SealedSplit(data["test"])
    results: list[RepeatResult] = []
    with cpu_threads(threads):
        for r in range(repeats):
            head = make_head(seed + r)
            start = time.perf_counter()
            if len(val):
                head.fit(train.X, train.y, X_val=val.X, y_val=val.y)
            else:
                head.fit(train.X, train.y)
            res = RepeatResult(r, seed + r, head, time.perf_counter() - start)
            if len(val):
                res.proba["val"] = full_proba(head, val.X, n_classes)
                res.metrics["val"] = classification_metrics(val.y, res.proba["val"])
            log.info("repeat %d: fitted in %.1f s%s", r, res.fit_seconds,
                     f", val top-1 {res.metrics['val']['top1']:.3f}" if len(val) else "")  # fmt: skip
            results.append(res)

        # every head is fitted: only now is the test split opened, and each head scores it once
        test_data = test.unseal()
        for res in results:
            start = time.perf_counter()
            res.proba["test"] = full_proba(res.head, test_data.X, n_classes)
            res.inference_ms_per_video = 1000.0 * (time.perf_counter() - start) / len(test_data)
            res.metrics["test"] = classification_metrics(test_data.y, res.proba["test"])
    return results


def train_head(
    name: str,
    config: dict[str, Any],
    ids: Sequence[str],
    X: Sequence[np.ndarray],
    y: np.ndarray,
    split: Sequence[str],
    classes: Sequence[str],
    *,
    repeats: int = 1,
    seed: int = 0,
    device: str = "auto",
    threads: int | None = 1,
    evaluation: str = "holdout",
    folds: int = 5,
    groups: Sequence[str] | None = None,
    jobs: int | str = 1,
) -> TrainingResult:
    """Train and score the head configured as ``heads.<name>`` (``config``) on a store's sequences: on the
    store's splits (``evaluation="holdout"``) or out of fold over all its videos (``"group_kfold"``, by
    ``groups``; see :mod:`framecache.training.crossval`; its fits in ``jobs`` processes, ``"auto"`` or a number),
    or as ``"auto"`` picks between the two (:mod:`framecache.training.evaluation`)."""
    n_classes = len(classes)
    if len(y) and (int(np.min(y)) < 0 or int(np.max(y)) >= n_classes):
        raise FramecacheError(f"labels outside 0..{n_classes - 1}: the store's classes and labels disagree")
    if heads.uses_torch(config):
        import torch  # noqa: F401 - loaded before cpu_threads so its thread count is limited too

    def make(rs: int) -> Any:
        return heads.build_head(config, random_state=rs, device=device)

    truncated = count_truncated(X, getattr(heads.settings_of(config, name), "max_len", None))
    own = own_groups(ids, groups if groups is not None else [""] * len(ids))
    chosen = resolve_evaluation(evaluation, folds, np.asarray(y), split, own, classes)
    if chosen.method == "holdout":
        data = split_data(ids, X, y, split)
        results = run_protocol(make, data, n_classes, repeats=repeats, seed=seed, threads=threads)
        return TrainingResult(name, dict(config), list(classes), data, results, truncated, evaluation=chosen)
    if groups is None:
        raise FramecacheError("group k-fold needs each video's group")
    cv = run_cross_validation(
        make,
        SplitData(list(ids), list(X), np.asarray(y, dtype=np.int64)),
        groups,
        lambda head, X_part: full_proba(head, X_part, n_classes),
        n_classes,
        folds=chosen.folds,
        val_fraction=heads.settings_of(config, name).val_fraction,
        repeats=repeats,
        seed=seed,
        threads=threads,
        jobs=1
        if heads.uses_torch(config) and on_gpu(device)
        else resolve_jobs(jobs, threads, repeats * chosen.folds + 1),
    )
    return TrainingResult(
        name, dict(config), list(classes), cv.data, cv.repeats, truncated, chosen, cv.fold, cv.model,
        cv.fit_videos, len(set(own)),
    )  # fmt: skip
