"""The honest training protocol for one configured head, and the files the train stage writes.

1. The store's videos are split by their ``split`` column. Only train and val reach :meth:`fit`: the weights
   (and any standardisation) are fitted on train, hyper-parameters and early stopping look at val only.
2. ``repeats`` heads are trained with seeds ``seed + repeat``. All of them are fitted before the test split
   is opened: it is held in a :class:`SealedSplit` that raises if anything reads it earlier.
3. Test is then scored once per fitted head; metrics are reported as the mean over repeats with the spread
   (sample standard deviation; 0 for a single repeat).

Outputs (``write_outputs``) follow docs/ARCHITECTURE.md: ``model.pkl`` (repeat 0), ``predictions.csv``,
``metrics.json`` and ``curve.csv``, each written atomically.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from framecache import heads
from framecache.errors import FramecacheError
from framecache.evaluation.metrics import METRIC_NAMES, classification_metrics
from framecache.fileio import write_csv, write_json
from framecache.heads.base import count_truncated

log = logging.getLogger(__name__)

CURVE_COLUMNS = ("repeat", "step", "train_loss", "val_loss", "val_accuracy")


@dataclass
class SplitData:
    """The videos of one split."""

    ids: list[str]
    X: list[np.ndarray]
    y: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)


class SealedSplit:
    """The test split, unreadable until :meth:`unseal` is called after every head has been fitted."""

    def __init__(self, data: SplitData):
        self._data = data
        self.sealed = True

    def unseal(self) -> SplitData:
        self.sealed = False
        return self._data

    @property
    def data(self) -> SplitData:
        if self.sealed:
            raise RuntimeError("the test split was read before fitting finished")
        return self._data

    def __len__(self) -> int:
        return len(self._data)


def split_data(
    ids: Sequence[str], X: Sequence[np.ndarray], y: np.ndarray, split: Sequence[str]
) -> dict[str, SplitData]:
    """``{"train", "val", "test"}`` → the videos of that split (val may be empty; train and test may not)."""
    split = np.asarray(split).astype(str)
    unknown = sorted(set(split) - {"train", "val", "test"})
    if unknown:
        raise FramecacheError(f"feature store has videos in unknown split(s) {unknown}: expected train, val, test")
    out = {}
    for name in ("train", "val", "test"):
        idx = np.flatnonzero(split == name)
        out[name] = SplitData([ids[i] for i in idx], [X[i] for i in idx], np.asarray(y)[idx].astype(np.int64))
    for name in ("train", "test"):
        if not len(out[name]):
            raise FramecacheError(
                f"the feature store has no {name} videos: a head needs both train and test videos "
                "(check prepare.val_fraction / prepare.test_fraction and the dataset's split column)"
            )
    return out


@contextlib.contextmanager
def cpu_threads(n: int | None) -> Iterator[None]:
    """Limit BLAS/OpenMP and (when it is loaded) torch to ``n`` CPU threads inside the block; None: no limit.

    The heads' matrices are small: on a busy machine extra threads mostly spin and wait for each other.
    torch is not imported here, so a pooled head's stage does not pay for loading it.
    """
    if n is None:
        yield
        return
    from threadpoolctl import threadpool_limits

    torch = sys.modules.get("torch")
    previous = torch.get_num_threads() if torch is not None else None
    if torch is not None:
        torch.set_num_threads(n)
    try:
        with threadpool_limits(limits=n):
            yield
    finally:
        if torch is not None:
            torch.set_num_threads(previous)


@dataclass
class RepeatResult:
    repeat: int
    random_state: int
    head: Any
    fit_seconds: float
    proba: dict[str, np.ndarray] = field(default_factory=dict)  # split -> (N, n_classes) over all classes
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    inference_ms_per_video: float = float("nan")


@dataclass
class TrainingResult:
    name: str
    config: dict[str, Any]
    classes: list[str]
    data: dict[str, SplitData]
    repeats: list[RepeatResult]
    truncated_videos: int

    def summary(self) -> dict[str, Any]:
        """The metrics.json content: per-split metrics as mean and ``_std`` over repeats, plus costs."""
        out: dict[str, Any] = {}
        for split in ("test", "val"):
            if not self.repeats or split not in self.repeats[0].metrics:
                continue
            for name in METRIC_NAMES:
                values = [r.metrics[split][name] for r in self.repeats]
                out[f"{split}_{name}"], out[f"{split}_{name}_std"] = _mean_std(values)
            out[f"{split}_videos"] = len(self.data[split])
        fit = [r.fit_seconds for r in self.repeats]
        out["fit_seconds"], out["fit_seconds_std"] = _mean_std(fit)
        out["inference_ms_per_video"] = _mean_std([r.inference_ms_per_video for r in self.repeats])[0]
        first = self.repeats[0].head
        out["parameters"] = int(getattr(first, "n_parameters_", 0))
        out["repeats"] = len(self.repeats)
        out["truncated_videos"] = self.truncated_videos
        out["train_videos"] = len(self.data["train"])
        out["classes"] = len(self.classes)
        out["top5_trivial"] = len(self.classes) <= 5
        out["selected"] = selected_settings(first)
        return out


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    a = np.asarray(values, dtype=np.float64)
    std = float(np.std(a, ddof=1)) if len(a) > 1 else 0.0
    return float(np.mean(a)), std


def selected_settings(head: Any) -> dict[str, float]:
    """What validation chose for repeat 0: the grid point (pooled/SVM) or the restored epoch (torch heads)."""
    if hasattr(head, "best_params_"):
        return {k: float(v) for k, v in head.best_params_.items()}
    if hasattr(head, "best_epoch_"):
        return {"epoch": int(head.best_epoch_), "epochs_run": len(head.history_)}
    return {}


def full_proba(head: Any, X: Sequence[np.ndarray], n_classes: int) -> np.ndarray:
    """``predict_proba`` spread over all ``n_classes`` columns (a class never seen in train gets 0)."""
    p = head.predict_proba(X)
    out = np.zeros((len(X), n_classes), dtype=np.float64)
    out[:, np.asarray(head.classes_, dtype=np.int64)] = p
    return out


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
) -> TrainingResult:
    """Train and score the head configured as ``heads.<name>`` (``config``) on a store's sequences."""
    data = split_data(ids, X, y, split)
    n_classes = len(classes)
    if len(y) and (int(np.min(y)) < 0 or int(np.max(y)) >= n_classes):
        raise FramecacheError(f"labels outside 0..{n_classes - 1}: the store's classes and labels disagree")
    if config.get("type") in heads.TEMPORAL_TYPES:
        import torch  # noqa: F401 - loaded before cpu_threads so its thread count is limited too
    results = run_protocol(
        lambda rs: heads.build_head(config, random_state=rs, device=device),
        data,
        n_classes,
        repeats=repeats,
        seed=seed,
        threads=threads,
    )
    cap = getattr(results[0].head, "max_len", None)
    return TrainingResult(name, dict(config), list(classes), data, results, count_truncated(X, cap))


def prediction_rows(result: TrainingResult) -> Iterator[dict[str, Any]]:
    classes = result.classes
    for res in result.repeats:
        for split in ("val", "test"):
            if split not in res.proba:
                continue
            part, proba = result.data[split], res.proba[split]
            predicted = np.argmax(proba, axis=1)
            for i, vid in enumerate(part.ids):
                row = {
                    "video_id": vid,
                    "split": split,
                    "repeat": res.repeat,
                    "label": classes[part.y[i]],
                    "predicted": classes[predicted[i]],
                }
                # 9 significant digits: enough to recompute log-loss, small enough to diff
                row.update({f"p_{c}": f"{proba[i, j]:.9g}" for j, c in enumerate(classes)})
                yield row


def curve_rows(result: TrainingResult) -> Iterator[dict[str, Any]]:
    for res in result.repeats:
        for entry in getattr(res.head, "history_", []):
            yield {"repeat": res.repeat, **{k: entry.get(k, "") for k in CURVE_COLUMNS[1:]}}


def write_outputs(result: TrainingResult, out: str | Path) -> None:
    """model.pkl, predictions.csv, metrics.json and curve.csv in ``out`` (each written atomically)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    heads.save_head(result.repeats[0].head, out / "model.pkl")
    columns = ["video_id", "split", "repeat", "label", "predicted", *(f"p_{c}" for c in result.classes)]
    write_csv(out / "predictions.csv", prediction_rows(result), columns)
    write_csv(out / "curve.csv", curve_rows(result), CURVE_COLUMNS)
    write_json(out / "metrics.json", result.summary())
